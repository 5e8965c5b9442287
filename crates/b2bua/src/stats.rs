//! Counters the runtime exports as metrics (pn-metrics defines them; this crate only counts).

use std::collections::BTreeMap;
use std::time::Duration;

/// Cumulative counters of one shard.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Calls that ended, by stateCode (0 = answered and released normally).
    pub calls_by_cause: BTreeMap<u16, u64>,
    /// Calls that were answered.
    pub calls_answered: u64,
    /// Calls refused by the route decision.
    pub calls_rejected: u64,
    /// New calls refused because the runtime refuses new calls ([`crate::B2bua::refuse_new_calls`]); they
    /// write no call facts.
    pub calls_refused: u64,
    /// X mode: customer decisions by outcome (`connect`, `close`, `invalid`, `timeout`, `failed`).
    pub xmode_decisions: BTreeMap<&'static str, u64>,
    /// SMS Block: the apps' decisions by outcome (`route`, `discard`, `invalid`, `timeout`, `failed`, and
    /// `full`: refused at once, too many waiting).
    pub sms_block_decisions: BTreeMap<&'static str, u64>,
    /// B legs moved to the next trunk (408, 5xx, timeout, no provisional answer in time).
    pub trunk_failovers: u64,
    /// Calls forwarded but not answered (busy, no answer, cancelled, timeout…).
    pub calls_failed: u64,
    /// Server transactions created.
    pub server_transactions: u64,
    /// Client transactions created.
    pub client_transactions: u64,
    /// Messages retransmitted by timers (requests and responses).
    pub retransmissions_sent: u64,
    /// Retransmitted requests absorbed by an existing server transaction.
    pub retransmissions_received: u64,
    /// Requests from untrusted sources refused with 403.
    pub acl_rejects: u64,
    /// Requests refused because they failed validation (400, 416, 420, 483, 505…).
    pub validation_rejects: u64,
    /// Responses that matched no transaction (dropped).
    pub stray_responses: u64,
    /// In-dialog requests that matched no dialog (481).
    pub unmatched_requests: u64,
    /// Calls ended because their RFC 4028 session timer expired without a refresh.
    pub session_timer_expiries: u64,
    /// Calls ended because the relay saw no RTP from a party (relay mode only).
    pub media_timeouts: u64,
    /// Calls released because their relay's sockets could not be bound (relay mode only).
    pub media_open_failures: u64,
    /// In-dialog OPTIONS probes sent to the legs of answered calls.
    pub dialog_probes: u64,
    /// Calls released because a leg's probe got 481 or 408, or no answer (its dialog is gone).
    pub dead_dialogs: u64,
    /// Last-minute hooks fired (T−60 s before the max duration).
    pub last_minute_hooks: u64,
    /// SMS (out-of-dialog MESSAGE) relayed and answered 2xx by the far end.
    pub sms_relayed: u64,
    /// SMS refused by the route decision (or unreadable), answered at once.
    pub sms_refused: u64,
    /// SMS relayed that the far end refused or never answered.
    pub sms_failed: u64,
    /// Setup latency samples (A's INVITE in → B's first ringing or answer relayed to A), drained by
    /// [`crate::B2bua::drain_setup_latencies`]; capped at [`Stats::MAX_LATENCY_SAMPLES`].
    pub setup_latencies: Vec<Duration>,
}

impl Stats {
    /// The most setup-latency samples kept between drains.
    pub const MAX_LATENCY_SAMPLES: usize = 4096;

    pub(crate) fn ended(&mut self, cause: u16) {
        *self.calls_by_cause.entry(cause).or_default() += 1;
    }

    pub(crate) fn latency(&mut self, d: Duration) {
        if self.setup_latencies.len() < Self::MAX_LATENCY_SAMPLES {
            self.setup_latencies.push(d);
        }
    }
}
