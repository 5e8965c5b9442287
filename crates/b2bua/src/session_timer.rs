//! RFC 4028 session timers, B2BUA style: pnswitch does not refresh sessions itself, it relays the
//! negotiation (`Session-Expires`, `Min-SE`, `Supported`/`Require: timer` are whitelisted, 422 is
//! relayed) and *watches* the session:
//!
//! - the 2xx of B to the B-leg INVITE sets the interval and the refresher from its
//!   `Session-Expires` (`refresher=uac`: A, who sent the INVITE; `uas`: B; absent: the UAC). No
//!   `Session-Expires` in the 2xx: no session timer.
//! - every 2xx to an in-dialog re-INVITE or UPDATE relayed across (either direction) refreshes the
//!   session: its `Session-Expires` sets the new interval and refresher (the UAC being the side that
//!   sent the request); a 2xx without one turns the timer off (RFC 4028 §7.4/§9).
//! - once the full interval passes without a refresh, both legs get a BYE with
//!   `Reason: Q.850;cause=102;text="<stateCode> <description>"` (cause 102: recovery on timer
//!   expiry) and the call ends with stateCode 7505 (caller-side network error) when A was the
//!   refresher, 7506 (callee-side network error) when B was (see [`crate::tables`]).
//!
//! The whole interval is waited (not `interval − min(32, interval/3)` as a non-refreshing UA
//! would): the refresher refreshes at half the interval, so a live session is never cut.

use std::time::{Duration, Instant};

use crate::dialog::Side;

/// Q.850 102: recovery on timer expiry.
pub(crate) const SESSION_TIMER_Q850: u16 = 102;

/// A negotiated session timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SessionTimer {
    /// The negotiated session interval.
    pub interval: Duration,
    /// The side that refreshes.
    pub refresher: Side,
    /// When the session expires without a refresh.
    pub deadline: Instant,
}

/// The stateCode of a session that expired, by refresher.
pub(crate) const fn expired_state_code(refresher: Side) -> u16 {
    match refresher {
        Side::A => 7505,
        Side::B => 7506,
    }
}
