//! The engine side of [`crate::session_timer`]: a refresh re-arms the timer, an expiry ends the call.

use pn_sip::Response;

use crate::call::Phase;
use crate::clock::Clock;
use crate::dialog::Side;
use crate::tables::reason_value;
use crate::transactions::Id;

use crate::engine::B2bua;
use crate::session_timer::{SESSION_TIMER_Q850, SessionTimer};

impl B2bua {
    /// A 2xx to an INVITE or UPDATE sent by `uac` passed through on an answered call: (re)arms
    /// or stops the session timer from its `Session-Expires`.
    pub(super) fn session_refreshed(&mut self, c: Clock, id: Id, uac: Side, r: &Response) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if call.ended || call.phase != Phase::Answered {
            return;
        }
        call.session = SessionTimer::negotiated(c.now, uac, r.headers());
        self.schedule_call(id);
    }

    /// The session interval passed without a refresh: BYE both legs, end the call.
    pub(super) fn session_expired(&mut self, c: Clock, id: Id) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let Some(session) = call.session.take() else {
            return;
        };
        if call.ended {
            return;
        }
        let code = session.expired_state_code();
        let reason = reason_value(SESSION_TIMER_Q850, code);
        self.stats.session_timer_expiries += 1;
        self.send_bye_because(c, id, Side::A, Some(&reason));
        self.send_bye_because(c, id, Side::B, Some(&reason));
        self.finish(c, id, code, 0, SESSION_TIMER_Q850);
    }
}
