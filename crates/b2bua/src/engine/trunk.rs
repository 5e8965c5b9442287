//! Trunk failover: a B leg that gets 408 or a 5xx, that times out, or that has no provisional answer within
//! its trunk's `failover_timeout_ms` is given up on (cancelled once it can be) and a fresh INVITE goes to the
//! next trunk of the call's plan that is up. Answers to a given-up INVITE are wound down here: a provisional
//! one gets its CANCEL, a 2xx is acknowledged and ended with a BYE. A 4xx/6xx other than 408 is the callee's
//! answer and never fails over.

use std::time::Duration;

use pn_sip::{Method, Request, Response, SipMessage};

use crate::call::Phase;
use crate::clock::Clock;
use crate::dialog::Side;
use crate::engine::B2bua;
use crate::transactions::{ClientRole, Id};

/// Whether a B leg's final status moves the call to the next trunk.
pub(crate) fn fails_over(status: u16) -> bool {
    status == 408 || (500..600).contains(&status)
}

impl B2bua {
    /// Sets the call's failover timer when its B leg has a next trunk to go to (none: the call waits for
    /// its trunk as a single-trunk switch does).
    pub(super) fn arm_failover(&mut self, c: Clock, id: Id) {
        let Some(t) = self.calls.get_mut(&id).and_then(|call| call.trunk.as_mut()) else {
            return;
        };
        t.deadline = match (t.current(), t.next()) {
            (Some(trunk), Some(_)) if trunk.failover_timeout_ms > 0 => c
                .now
                .checked_add(Duration::from_millis(trunk.failover_timeout_ms)),
            _ => None,
        };
    }

    /// Moves call `id`'s B leg to the next trunk (`status`: what the current one answered, 0 for no answer).
    /// Returns false when there is none (the caller then fails the call as before).
    pub(super) fn failover(&mut self, c: Clock, id: Id, status: u16) -> bool {
        let Some(call) = self.calls.get(&id) else {
            return false;
        };
        if call.ended || call.phase == Phase::Answered {
            return false;
        }
        let Some(t) = call.trunk.as_ref() else {
            return false;
        };
        let Some(next) = t.next() else {
            return false;
        };
        let (set, conn, hops, restrict) = (std::sync::Arc::clone(&t.set), t.conn.clone(), t.hops, t.restrict);
        let Some(trunk) = set.get(t.plan[next]).cloned() else {
            return false;
        };
        let from = t.current().map(|t| t.name.clone()).unwrap_or_default();
        let current = t.plan.get(t.at).copied();
        let Some(a_invite) = self.txs.server(call.a_tx).and_then(|e| e.tx.request()).cloned() else {
            return false;
        };
        let Some((b, invite, _)) = self.b_invite(c, id, &a_invite, &conn, &trunk, hops, restrict) else {
            return false;
        };
        if let Some(index) = current {
            set.count_failover(index);
        }
        self.stats.trunk_failovers += 1;
        // The given-up INVITE: CANCEL it now if B sent a provisional answer (and has not answered finally),
        // else when it does (see `stale_b_response`).
        let (old_tx, provisional) = self
            .calls
            .get(&id)
            .map_or((0, false), |call| (call.b_tx, call.b_provisional));
        let cancel_now = provisional && status == 0;
        if cancel_now {
            self.cancel_tx(c, id, old_tx);
        }
        let Some(call) = self.calls.get_mut(&id) else {
            return false;
        };
        let old = std::mem::replace(&mut call.b, b);
        let b_call_id = call.b.call_id.clone();
        let session_id = call.record.session_id.clone();
        call.b_provisional = false;
        call.cancel_b = false;
        call.phase = Phase::Calling;
        if let Some(t) = call.trunk.as_mut() {
            t.at = next;
            // Only an INVITE without a final answer (no provisional one in time) may still be answered and
            // need winding down; one that failed (408, 5xx, Timer B) has nothing left to keep the call for.
            if status == 0 {
                t.abandoned.push((old_tx, old.clone(), cancel_now));
            }
        }
        if self.dialogs.get(&old.call_id).is_some_and(|(c, _)| *c == id) {
            self.dialogs.remove(&old.call_id);
        }
        self.dialogs.insert(b_call_id, (id, Side::B));
        self.push_output(crate::Output::Trunk(crate::trunks::TrunkUse {
            session_id,
            trunk: trunk.name.clone(),
            failed_over_from: Some((from, status)),
        }));
        let b_tx = self.new_client_tx(c, trunk.peer(), invite, Some((id, Side::B)), ClientRole::Invite);
        if let Some(call) = self.calls.get_mut(&id) {
            call.b_tx = b_tx.unwrap_or(0);
        }
        self.arm_failover(c, id);
        self.schedule_call(id);
        true
    }

    /// CANCELs the INVITE of client transaction `tx` (call `id`'s B side).
    fn cancel_tx(&mut self, c: Clock, id: Id, tx: Id) {
        let Some((peer, cancel)) = self
            .txs
            .client(tx)
            .and_then(|e| e.tx.request().map(|r| (e.peer, Request::cancel(r))))
        else {
            return;
        };
        // A request that cannot start a transaction is not sent (nothing else to do).
        let _ = self.new_client_tx(c, peer, cancel, Some((id, Side::B)), ClientRole::Local);
    }

    /// A response to a B-leg INVITE the call gave up on (`tx` is not its current one). Returns false when
    /// `tx` is the call's current INVITE.
    pub(super) fn stale_b_response(&mut self, c: Clock, id: Id, tx: Id, r: &Response) -> bool {
        let Some(t) = self.calls.get_mut(&id).and_then(|call| call.trunk.as_mut()) else {
            return false;
        };
        let Some(pos) = t.abandoned.iter().position(|(old, _, _)| *old == tx) else {
            return false;
        };
        let status = r.status();
        if status < 200 {
            if status > 100 && !t.abandoned[pos].2 {
                t.abandoned[pos].2 = true;
                self.cancel_tx(c, id, tx);
            }
            return true;
        }
        let (_, mut leg, _) = t.abandoned.swap_remove(pos);
        if (200..300).contains(&status) {
            // Answered after all (CANCEL/2xx race): acknowledged and ended at once.
            leg.learn_from_response(r.headers());
            let via = self.new_via(c, leg.peer.transport);
            if let Ok(ack) = leg.request(Method::Ack, &via, Some(1)).build() {
                if let Some(e) = self.txs.client_mut(tx) {
                    e.set_ack(&ack);
                }
                self.send(leg.peer, SipMessage::Request(ack));
            }
            let via = self.new_via(c, leg.peer.transport);
            if let Ok(bye) = leg.request(Method::Bye, &via, None).build() {
                let _ = self.new_client_tx(c, leg.peer, bye, Some((id, Side::B)), ClientRole::Local);
            }
        }
        true
    }

    /// A client INVITE timed out: whether it was a given-up one (nothing more to do).
    pub(super) fn stale_b_timeout(&mut self, id: Id, tx: Id) -> bool {
        let Some(t) = self.calls.get_mut(&id).and_then(|call| call.trunk.as_mut()) else {
            return false;
        };
        let before = t.abandoned.len();
        t.abandoned.retain(|(old, _, _)| *old != tx);
        t.abandoned.len() != before
    }
}
