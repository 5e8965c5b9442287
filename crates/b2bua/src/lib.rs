//! pn-b2bua: the sans-IO call logic of pnswitch. A trunk sends `INVITE A -> X`; the B2BUA asks the
//! route decision ([`RouteLookup`]) and places a fresh `INVITE X -> B` on the egress trunk, bridges
//! the two dialogs until one side hangs up, and reports what happened as call facts (events + one CDR).
//!
//! # I/O contract
//!
//! Nothing here reads the clock, owns a socket, sleeps, spawns or draws randomness. The runtime:
//!
//! 1. parses bytes into a [`SipMessage`] and calls [`B2bua::handle_message`] with `now` (monotonic)
//!    and `wall` (UTC seconds, for call facts), the sending [`Peer`] and a [`RouteLookup`];
//! 2. calls [`B2bua::handle_timeout`] once the instant from [`B2bua::poll_timeout`] has passed
//!    (with the same [`RouteLookup`]: an AXE digit timeout decides a route);
//! 3. after every call drains [`B2bua::poll_output`] until `None`: [`Output::Send`] messages go to
//!    their peer, [`Output::Fact`]s go to the store's outbox, [`Output::Media`] commands (relay
//!    mode only) to the shard's media relay, whose reports (dead media, DTMF digits, prompts played)
//!    come back through [`B2bua::handle_media_event`]; [`Output::Callback`] records go to the store.
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
//! A call whose BYE was lost is found and released (module `probe`): answered calls probe both legs
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
pub mod media;
mod prack;
pub mod privacy;
pub mod prompts;
mod session_timer;
mod stats;
pub mod tables;
mod tones;
mod transactions;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;

pub use config::B2buaConfig;
pub use engine::{B2bua, Refusal};
pub use error::B2buaError;
pub use facts::{CallEvent, CallFact, Cdr, EventType, StatusInfo};
pub use media::{MediaAnchor, MediaCall, MediaCommand, MediaEvent, PromptRef};
pub use prompts::{AppPrompts, CallPrompts};
pub use stats::Stats;
pub use tables::{FailureMapping, RejectMapping, failure_status, reject_mapping, reject_status};

use pn_bindings::{AppId, BindingId, CallbackRecord, Connect, RouteDecision, UnixTime};
use pn_numbers::E164;
use pn_sip::SipMessage;

/// The transport a message came in on (and responses go back on).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// UDP datagrams (unreliable: transactions retransmit).
    Udp,
    /// TCP stream (reliable: no retransmissions).
    Tcp,
}

impl Transport {
    /// The Via transport token.
    pub const fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
        }
    }

    /// Whether the transport is reliable.
    pub const fn is_reliable(self) -> bool {
        matches!(self, Transport::Tcp)
    }
}

/// A remote SIP peer: address and transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Peer {
    /// Source (or destination) address.
    pub addr: SocketAddr,
    /// Transport.
    pub transport: Transport,
}

/// Which shard this core is, of how many.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shard {
    /// This shard's index (0-based).
    pub index: u16,
    /// The number of shards.
    pub count: u16,
}

/// The public handle and echo data of a binding, for call facts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Subscription {
    /// `subscriptionId`.
    pub subscription_id: String,
    /// `userData`.
    pub user_data: Option<String>,
}

/// Where a call to a privacy number goes: implemented by the runtime over the binding table.
pub trait RouteLookup {
    /// The route decision (see [`pn_bindings::decide()`]); `now` is wall-clock time.
    fn decide(
        &self,
        caller: Option<E164>,
        called: E164,
        extension: Option<&str>,
        now: UnixTime,
    ) -> RouteDecision;

    /// The `subscriptionId`/`userData` of a binding, echoed in call facts. The default knows none:
    /// facts then carry only [`facts::StatusInfo::binding`] / [`Cdr::binding`] for the outbox to resolve.
    fn subscription(&self, binding: BindingId) -> Option<Subscription> {
        let _ = binding;
        None
    }

    /// The prompts of a connected call (relay mode): the binding's, chosen for the decision's
    /// direction. The default has none.
    fn call_prompts(&self, connect: &Connect) -> CallPrompts {
        let _ = connect;
        CallPrompts::default()
    }

    /// An app's rejection prompts and AXE collection settings. The default is [`AppPrompts::default`].
    fn app_prompts(&self, app: AppId) -> AppPrompts {
        let _ = app;
        AppPrompts::default()
    }
}

/// What the B2BUA wants done.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Send this message to `to`.
    Send {
        /// Destination.
        to: Peer,
        /// The message.
        message: SipMessage,
    },
    /// A call fact for the outbox.
    Fact(CallFact),
    /// Relay mode only: a command for the call's media relay (see [`media`]).
    Media(MediaCommand),
    /// AXE: a call through an extension was forwarded; A dialing X calls this caller back until the
    /// record expires. The runtime stores it (durably) and puts it in the routing table.
    Callback(CallbackRecord),
}

/// Prefix of Via branches made here: `z9hG4bK` + `-pn<shard>-`.
pub(crate) const BRANCH_PREFIX: &str = "z9hG4bK-pn";
/// Prefix of B-leg Call-IDs made here: `pnb<shard>-`.
pub(crate) const CALL_ID_PREFIX: &str = "pnb";

/// The shard a received message belongs to: responses whose top Via branch was made here and
/// requests whose Call-ID was made here go to the shard embedded in them; everything else (A-leg
/// traffic) to a hash of the Call-ID. Returns 0 when `count` is 0 or the message has no Call-ID.
pub fn shard_for(message: &SipMessage, count: u16) -> u16 {
    if count <= 1 {
        return 0;
    }
    let embedded = match message {
        SipMessage::Response(r) => r
            .headers()
            .get_list("Via")
            .next()
            .and_then(branch_of)
            .and_then(|b| embedded_shard(b, BRANCH_PREFIX)),
        SipMessage::Request(r) => r
            .headers()
            .get("Call-ID")
            .and_then(|c| embedded_shard(c.trim(), CALL_ID_PREFIX)),
    };
    if let Some(shard) = embedded.filter(|s| *s < count) {
        return shard;
    }
    let call_id = message.headers().get("Call-ID").unwrap_or_default().trim();
    (fnv1a(call_id.as_bytes()) % u64::from(count)) as u16
}

fn branch_of(via: &str) -> Option<&str> {
    via.split(';').skip(1).find_map(|p| {
        let (name, value) = p.split_once('=')?;
        name.trim().eq_ignore_ascii_case("branch").then(|| value.trim())
    })
}

/// Parses `<prefix><decimal shard>-…`.
fn embedded_shard(value: &str, prefix: &str) -> Option<u16> {
    let rest = value.strip_prefix(prefix)?;
    let (digits, _) = rest.split_once('-')?;
    digits.parse().ok()
}

/// FNV-1a, 64 bit.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod shard_tests {
    use super::*;

    #[test]
    fn shard_for_reads_embedded_shards_and_hashes_the_rest() {
        let req = |call_id: &str| {
            SipMessage::parse(
                format!(
                    "BYE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\nFrom: <sip:a@b>;tag=1\r\n\
To: <sip:c@d>;tag=2\r\nCall-ID: {call_id}\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
                )
                .as_bytes(),
            )
            .unwrap()
        };
        assert_eq!(shard_for(&req("pnb2-65-1@h"), 4), 2);
        assert_eq!(
            shard_for(&req("pnb9-65-1@h"), 4),
            shard_for(&req("pnb9-65-1@h"), 4)
        );
        let a = shard_for(&req("abc@trunk"), 4);
        assert!(a < 4);
        assert_eq!(shard_for(&req("abc@trunk"), 1), 0);
        let resp = SipMessage::parse(
            b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK-pn1-65.3;rport\r\nFrom: <sip:a@b>;tag=1\r\n\
To: <sip:c@d>;tag=2\r\nCall-ID: abc@trunk\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(shard_for(&resp, 4), 1);
    }
}
