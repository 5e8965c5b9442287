//! X mode and SMS Block: how a shard asks the customer. The B2BUA emits [`pn_b2bua::Output::Ask`]; the shard spawns the
//! [`CustomerAsk`] request on its own loop (never blocking it) and feeds the answer back into the core through
//! the shard's reply queue ([`pn_b2bua::B2bua::handle_customer_reply`]). The HTTP side lives outside the
//! runtime (pn-push implements the trait), so the runtime depends on no HTTP client.

use std::future::Future;
use std::pin::Pin;

use pn_b2bua::AskTarget;
use pn_bindings::AppId;

/// The answer to one ask: the body of a 2xx answer, or why there is none.
pub type AskFuture = Pin<Box<dyn Future<Output = Result<String, String>> + Send>>;

/// Sends a Block request to one of an app's URLs: an X-mode `callin` to its call-status URL, an SMS Block to
/// its SMS-control URL.
pub trait CustomerAsk: Send + Sync {
    /// POSTs `body` to `app`'s URL named by `target`; resolves to the 2xx body, or an error text (no URL, no
    /// connection, a non-2xx status, the request's own timeout).
    fn ask(&self, app: AppId, target: AskTarget, body: String) -> AskFuture;
}
