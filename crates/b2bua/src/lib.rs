//! pn-b2bua: the sans-IO call logic of pnswitch. A trunk sends `INVITE A -> X`; the B2BUA asks the
//! route decision ([`RouteLookup`]) and places a fresh `INVITE X -> B` on the egress trunk, bridges
//! the two dialogs until one side hangs up, and reports what happened as call facts (events + one CDR).
//!
//! # I/O contract
//!
//! Nothing here reads the clock, owns a socket, sleeps, spawns or draws randomness. The runtime:
//!
//! 1. parses bytes into a [`SipMessage`](pn_sip::SipMessage) and calls [`B2bua::handle_message`] with `now` (monotonic)
//!    and `wall` (UTC seconds, for call facts), the sending [`Peer`] and a [`RouteLookup`];
//! 2. calls [`B2bua::handle_timeout`] once the instant from [`B2bua::poll_timeout`] has passed
//!    (with the same [`RouteLookup`]: an AXE digit timeout decides a route);
//! 3. after every call drains [`B2bua::poll_output`] until `None`: [`Output::Send`] messages go to
//!    their peer, [`Output::Fact`]s go to the store's outbox, [`Output::Media`] commands (relay
//!    mode only) to the shard's media relay, whose reports (dead media, DTMF digits, prompts played)
//!    come back through [`B2bua::handle_media_event`]; [`Output::Callback`] records go to the store;
//!    [`Output::Ask`] (X mode, [`xmode`]; SMS Block, [`sms_block`]) is `POSTed` to the customer, whose answer (or failure) comes back
//!    through [`B2bua::handle_customer_reply`].
//!
//! One `B2bua` is one shard: single-threaded, no locks. [`shard_for`] tells the runtime which shard
//! a received message belongs to (B-leg Call-IDs and every Via branch this crate creates embed the
//! shard index; A-leg messages hash their Call-ID).
//!
//! # Privacy
//!
//! Every message sent to one leg is built from scratch from that leg's own dialog state. Only the
//! whitelisted headers of [`privacy`] are copied across, SDP bodies are re-printed with o=, s=, i=,
//! u=, e= and p= regenerated, and reason phrases are the standard ones. See [`privacy`]. In relay
//! mode ([`media`]) the SDP's `c=`/`m=` are also rewritten to the switch's port pair of the leg, so
//! neither party learns the other's media address.
//!
//! # SMS
//!
//! An out-of-dialog MESSAGE to a privacy number is an SMS (module [`sms`], flow in `engine::sms`): routed by
//! [`RouteLookup::decide_sms`], relayed as a fresh MESSAGE from X built from a whitelist (the text only), and
//! reported as one [`CallFact::Sms`] notification. A text that needs the app's decision (AX without `@B`, X
//! mode) is held while the runtime asks the app's SMS-control URL ([`Output::Ask`] with
//! [`AskTarget::SmsControl`], module [`sms_block`]); the answer comes back through
//! [`B2bua::handle_customer_reply`] like an X-mode call's.
//!
//! # Tables
//!
//! Route rejections map to SIP through [`reject_status`]; failures of the B leg map to the status
//! sent to A through [`failure_status`] (both in [`tables`]).
//!
//! # Extensions
//!
//! RFC 3262 reliable provisional responses are relayed with a per-leg `RSeq` mapping (module
//! `prack`); RFC 4028 session timers are relayed and watched, not originated (module
//! `session_timer`): a session that is not refreshed in time is released on both legs.
//!
//! # Calls that would never end
//!
//! A call whose BYE was lost is found and released (module `engine::probe`): answered calls probe both legs
//! with an in-dialog OPTIONS every `dialog_probe_secs`, and a 481, 408 or no answer releases the call
//! (7505 / 7506); a call whose binding sets no `maxDuration` ends after `max_call_secs` (8010).
//!
//! # Hooks
//!
//! The last-minute tone (reference §7: a prompt at T−60 s before the max duration) is an internal
//! event: at T−60 s the call's `last_minute` step runs, counted in [`Stats::last_minute_hooks`]. The
//! media issue turns that step into a media command.

// `caller`/`called`/`callee` are the telephony terms; `c`/`r`/`h` are the clock, request and headers.
#![allow(clippy::similar_names, clippy::many_single_char_names)]

mod call;
mod clock;
mod config;
mod dialog;
mod engine;
mod error;
pub mod facts;
mod ivr;
mod load;
pub mod media;
mod output;
mod overload;
mod peer;
mod prack;
pub mod privacy;
pub mod prompts;
mod route;
mod session_timer;
mod shard;
pub mod sms;
pub mod sms_block;
mod stats;
pub mod tables;
mod tombs;
mod tones;
mod transactions;
pub mod trunks;
pub mod xmode;

pub use config::B2buaConfig;
pub use engine::{B2bua, Refusal, StopResult};
pub use error::B2buaError;
pub use facts::{CallEvent, CallFact, Cdr, EventType, StatusInfo};
pub use load::{Load, RelayPorts};
pub use media::{MediaAnchor, MediaCall, MediaCommand, MediaEvent, PromptRef};
pub use prompts::{AppPrompts, CallPrompts};
pub use stats::Stats;
pub use tables::{FailureMapping, RejectMapping, failure_status, reject_mapping, reject_status};

/// The `Reason` header value of a `400 Bad Request` the runtime sends for a request that does not parse
/// ([`pn_sip::malformed::bad_request`]): Q.850 95 "invalid message", stateCode 7505 (caller-side network error).
#[must_use]
pub fn malformed_request_reason() -> String {
    tables::reason_value(95, 7505)
}

pub use output::Output;
pub use overload::overload_answer;
pub use peer::{Peer, Transport};
pub use route::{AppEcho, RouteLookup, Subscription};
pub use shard::{Shard, session_shard, shard_for};
pub use sms_block::AskTarget;
pub use trunks::{NumberFormat, ProbeHealth, TrunkConfig, TrunkSet, TrunkTransport, TrunkUse};
pub use xmode::{CustomerReply, XAsk, XCall};
