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

use pn_sip::Headers;

use crate::dialog::Side;
use crate::privacy::parse_session_expires;

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

impl SessionTimer {
    /// The timer a 2xx to an INVITE or UPDATE sent by `uac` sets at `now` (its headers `h`): from its
    /// `Session-Expires` (`refresher=uas`: the other side; absent or `uac`: `uac`). `None`: no
    /// `Session-Expires`, no session timer.
    pub(crate) fn negotiated(now: Instant, uac: Side, h: &Headers) -> Option<Self> {
        let (delta, refresher) = h
            .get_list("Session-Expires")
            .next()
            .and_then(parse_session_expires)?;
        let interval = Duration::from_secs(delta.into());
        Some(Self {
            interval,
            refresher: if refresher == Some("uas") {
                uac.other()
            } else {
                uac
            },
            deadline: now.checked_add(interval)?,
        })
    }

    /// The stateCode of this session expiring: 7505 when A was the refresher, 7506 when B was.
    pub(crate) const fn expired_state_code(&self) -> u16 {
        match self.refresher {
            Side::A => 7505,
            Side::B => 7506,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(clippy::disallowed_methods)] // one real Instant to start a virtual clock
    fn t0() -> Instant {
        Instant::now()
    }

    fn headers(se: &str) -> Headers {
        let mut h = Headers::new();
        if !se.is_empty() {
            h.push("Session-Expires", se);
        }
        h
    }

    #[test]
    fn the_2xx_sets_interval_and_refresher() {
        let now = t0();
        let s = SessionTimer::negotiated(now, Side::A, &headers("1800;refresher=uas")).unwrap();
        assert_eq!((s.interval, s.refresher), (Duration::from_secs(1800), Side::B));
        assert_eq!(s.deadline, now + Duration::from_secs(1800));
        assert_eq!(s.expired_state_code(), 7506);
        let s = SessionTimer::negotiated(now, Side::B, &headers("90;refresher=uac")).unwrap();
        assert_eq!(s.refresher, Side::B);
        let s = SessionTimer::negotiated(now, Side::A, &headers("90")).unwrap();
        assert_eq!((s.refresher, s.expired_state_code()), (Side::A, 7505));
        assert_eq!(SessionTimer::negotiated(now, Side::A, &headers("")), None);
        assert_eq!(SessionTimer::negotiated(now, Side::A, &headers("soon")), None);
    }
}
