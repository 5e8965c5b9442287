//! Dead-dialog detection: a call whose BYE was lost would otherwise stay up for ever, with no CDR. Every
//! `dialog_probe_secs` ([`crate::B2buaConfig`]) an answered call sends an in-dialog OPTIONS on each leg
//! (one at a time per leg). A leg whose probe gets `481 Call/Transaction Does Not Exist` or `408`, or no
//! final response before Timer F, has lost its dialog: the call is released like dead media — BYE to both
//! legs (the dead one too) with `Reason: Q.850;cause=102;text="<stateCode> …"`, stateCode 7505 when A's
//! dialog is gone, 7506 when B's is, the disconnect event and the CDR. Any other final response (200, 405,
//! 501, …) means the dialog is alive.
//!
//! The other backstops stay: RFC 4028 session expiry (`session_timer`, both media modes), dead media
//! (relay mode, `media`) and the maximum call duration (the binding's `maxDuration`, else
//! `max_call_secs`).

use std::time::Duration;

use pn_sip::Method;

use crate::call::Phase;
use crate::clock::Clock;
use crate::dialog::Side;
use crate::engine::B2bua;
use crate::media::MEDIA_TIMEOUT_Q850;
use crate::tables::reason_value;
use crate::transactions::{ClientRole, Id};

/// The stateCode of a call released because `side`'s dialog is gone.
pub(crate) const fn dead_dialog_state_code(side: Side) -> u16 {
    match side {
        Side::A => 7505,
        Side::B => 7506,
    }
}

impl B2bua {
    /// The probe timer of an answered call fired: an OPTIONS to each leg that has none pending, and the
    /// next probe armed.
    pub(super) fn probe_dialogs(&mut self, c: Clock, id: Id) {
        let interval = Duration::from_secs(self.config.dialog_probe_secs);
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if call.ended || call.phase != Phase::Answered || interval.is_zero() {
            call.probe_at = None;
            return;
        }
        call.probe_at = c.now.checked_add(interval);
        for side in [Side::A, Side::B] {
            self.send_probe(c, id, side);
        }
    }

    /// Sends an in-dialog OPTIONS to `side`, unless one is pending there or the leg got a BYE.
    pub(super) fn send_probe(&mut self, c: Clock, id: Id, side: Side) {
        let Some(transport) = self.calls.get(&id).map(|call| call.leg(side).peer.transport) else {
            return;
        };
        let via = self.new_via(c, transport);
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let i = side.index();
        if call.probing[i] || call.bye_done[i] {
            return;
        }
        let leg = call.leg_mut(side);
        let peer = leg.peer;
        let Ok(options) = leg.request(Method::Options, &via, None).build() else {
            return;
        };
        call.probing[i] = true;
        self.stats.dialog_probes += 1;
        // A request that cannot start a transaction is not sent (nothing else to do).
        let _ = self.new_client_tx(c, peer, options, Some((id, side)), ClientRole::Probe);
    }

    /// The probe sent to `side` ended with `status` (408 for a transaction timeout).
    pub(super) fn probe_answered(&mut self, c: Clock, id: Id, side: Side, status: u16) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        call.probing[side.index()] = false;
        let dead = matches!(status, 408 | 481);
        if !dead || call.ended || call.phase != Phase::Answered {
            return;
        }
        let code = dead_dialog_state_code(side);
        let reason = reason_value(MEDIA_TIMEOUT_Q850, code);
        self.stats.dead_dialogs += 1;
        self.send_bye_because(c, id, Side::A, Some(&reason));
        self.send_bye_because(c, id, Side::B, Some(&reason));
        self.finish(c, id, code, 0, MEDIA_TIMEOUT_Q850);
    }
}
