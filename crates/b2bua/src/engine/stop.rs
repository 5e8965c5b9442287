//! Releases the switch decides: the call-stop API's (reference §2.5: the app that owns a call ends it on
//! both legs, with stateCode 8070, [`pn_bindings::Cause::STOPPED_BY_API`]) and the end of a drain (every
//! call still up when a stopping switch's drain time ran out, [`pn_bindings::Cause::SHUTTING_DOWN`]). The
//! disconnect event and the CDR follow as for any release.

use pn_bindings::{AppId, Cause, UnixTime};
use std::time::Instant;

use crate::call::Phase;
use crate::clock::Clock;
use crate::dialog::Side;
use crate::engine::B2bua;
use crate::tables::reason_value;
use crate::transactions::Id;

/// Q.850 16: normal call clearing (the `Reason` of a stopped call).
const NORMAL_CLEARING: u16 = 16;
/// What A's INVITE gets when a call is stopped before B answered.
const TERMINATED: u16 = 487;

/// What [`B2bua::stop_call`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StopResult {
    /// The call was up and is being released (BYE/CANCEL sent, facts emitted).
    Stopped,
    /// No call in progress has this `sessionId` on this shard (unknown, malformed or already ended).
    NotFound,
    /// The call belongs to another app (nothing was done).
    OtherApp,
}

impl B2bua {
    /// Stops the call whose `sessionId` (of its call events and CDR) is `session_id`, if it belongs to `app`:
    /// answered → BYE to both legs; B not answered yet → CANCEL to B and a 487 to A (a BYE when the switch
    /// had answered A itself); the switch collecting AXE digits (no B leg) → A released the same way. Each
    /// carries `Reason: Q.850;cause=16;text="8070 …"`, and the call ends with stateCode 8070.
    pub fn stop_call(&mut self, now: Instant, wall: UnixTime, app: AppId, session_id: &str) -> StopResult {
        let c = Clock { now, wall };
        let Some((_, id)) = crate::shard::session_parts(session_id) else {
            return StopResult::NotFound;
        };
        let Some(call) = self
            .calls
            .get(&id)
            .filter(|call| !call.ended && call.record.session_id == session_id)
        else {
            return StopResult::NotFound;
        };
        if call.record.app != Some(app) {
            return StopResult::OtherApp;
        }
        self.release(c, id, Cause::STOPPED_BY_API);
        StopResult::Stopped
    }

    /// Releases every call in progress on both legs the way [`B2bua::stop_call`] does, with stateCode
    /// `cause` (a stopping switch whose drain time ran out: [`Cause::SHUTTING_DOWN`]); returns how many.
    pub fn release_all(&mut self, now: Instant, wall: UnixTime, cause: Cause) -> usize {
        let c = Clock { now, wall };
        let live: Vec<Id> = self
            .calls
            .iter()
            .filter(|(_, call)| !call.ended)
            .map(|(id, _)| *id)
            .collect();
        for &id in &live {
            self.release(c, id, cause);
        }
        // X-mode calls still waiting for their app's decision end too, with the same cause.
        let asked = self.release_asks(c, cause);
        live.len() + asked
    }

    /// Ends call `id` on both legs with stateCode `cause`: answered → BYE to both; B not answered → CANCEL
    /// to B and 487 (or a BYE) to A.
    fn release(&mut self, c: Clock, id: Id, cause: Cause) {
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        let (phase, a_answered, b_placed) = (call.phase, call.a_answered, call.b_placed);
        let state_code = cause.0;
        let reason = reason_value(NORMAL_CLEARING, state_code);
        if phase == Phase::Answered {
            self.send_bye_because(c, id, Side::A, Some(&reason));
            self.send_bye_because(c, id, Side::B, Some(&reason));
            self.finish(c, id, state_code, 0, NORMAL_CLEARING);
            return;
        }
        if b_placed {
            self.cancel_b(c, id);
        }
        self.release_a_unanswered(c, id, a_answered, &reason);
        self.finish(c, id, state_code, TERMINATED, NORMAL_CLEARING);
    }

    /// Ends A's side of a call B has not answered: a BYE if the switch answered A itself, else 487.
    fn release_a_unanswered(&mut self, c: Clock, id: Id, a_answered: bool, reason: &str) {
        if a_answered {
            self.send_bye_because(c, id, Side::A, Some(reason));
            return;
        }
        let a_tx = self.calls.get(&id).map_or(0, |call| call.a_tx);
        if let Some(mut response) = self.a_response(id, TERMINATED, None) {
            response.headers_mut().push("Reason", reason.to_owned());
            self.respond(c, a_tx, response);
        }
    }
}
