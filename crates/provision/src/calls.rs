//! Call control: what the provisioning API asks of the SIP runtime (stop a call, reference §2.5), as a trait
//! both sides see without depending on each other. pn-api holds an `Arc<dyn CallControl>`; pn-runtime
//! implements it by routing the request to the call's shard.

use std::future::Future;
use std::pin::Pin;

use pn_bindings::AppId;

/// What a call-stop request found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StopOutcome {
    /// The call was in progress and is being released on both legs (stateCode 8070).
    Stopped,
    /// No call in progress has this `sessionId` (unknown, malformed or already ended).
    NotFound,
    /// The call belongs to another app; nothing was done.
    OtherApp,
    /// The SIP runtime cannot take the request (stopping or gone).
    Unavailable,
}

/// The future [`CallControl::stop_call`] returns.
pub type StopFuture<'a> = Pin<Box<dyn Future<Output = StopOutcome> + Send + 'a>>;

/// Controls calls in progress on behalf of the API.
pub trait CallControl: Send + Sync {
    /// Stops the call whose `sessionId` (from its call events and CDR) is `session_id`, if `app` owns it.
    fn stop_call<'a>(&'a self, app: AppId, session_id: &'a str) -> StopFuture<'a>;
}
