//! The engine side of [`crate::prack`]: reliable provisionals relayed to A, PRACKs relayed to B.

use crate::Peer;
use crate::clock::Clock;
use crate::dialog::Side;
use crate::transactions::{ClientRole, Id};
use pn_sip::{Method, Request, Response};

use crate::engine::B2bua;
use crate::prack::{Retransmit, reliable_rseq};

impl B2bua {
    /// A provisional response of B to the B-leg INVITE, relayed to A (see [`crate::prack`]).
    pub(super) fn relay_provisional(&mut self, c: Clock, id: Id, status: u16, r: &Response) {
        let b_rseq = reliable_rseq(r);
        let b_cseq = r.headers().cseq().map_or(1, |s| s.seq);
        let t1 = self.timers.t1;
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let a_answered = call.a_answered;
        let Some(plan) = call.prack.b_provisional(b_rseq, a_answered) else {
            return; // B's retransmission
        };
        if let Some(rseq) = plan.prack_b {
            self.prack_b(c, id, rseq, b_cseq);
        }
        let Some(reliable) = plan.to_a else {
            return;
        };
        let Some(mut response) = self.a_response(id, status, Some(r)) else {
            return;
        };
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if reliable {
            let b_rack = b_rseq.map(|s| (s, b_cseq));
            call.prack.send_reliable(&mut response, b_rack, c.now, t1);
        }
        let a_tx = call.a_tx;
        self.respond(c, a_tx, response);
        self.schedule_call(id);
    }

    /// The retransmission timer of the reliable provisional sent to A is due.
    pub(super) fn retransmit_reliable(&mut self, c: Clock, id: Id) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        match call.prack.retransmit(c.now) {
            Retransmit::Nothing => {}
            Retransmit::GiveUp => {
                if !call.ended {
                    self.cancel_b(c, id);
                    self.fail_forward(c, id, crate::tables::PRACK_TIMEOUT, 0, None);
                }
            }
            Retransmit::Send(response) => {
                let peer = call.a.peer;
                self.stats.retransmissions_sent += 1;
                self.send(peer, pn_sip::SipMessage::Response(response));
            }
        }
    }

    /// pnswitch PRACKs B's reliable provisional itself.
    pub(super) fn prack_b(&mut self, c: Clock, id: Id, rseq: u32, cseq: u32) {
        let Some(transport) = self.calls.get(&id).map(|call| call.b.peer.transport) else {
            return;
        };
        let via = self.new_via(c, transport);
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let peer = call.b.peer;
        let Ok(prack) = call
            .b
            .request(Method::Prack, &via, None)
            .header("RAck", &format!("{rseq} {cseq} INVITE"))
            .build()
        else {
            return;
        };
        // A request that cannot start a transaction is not sent (nothing else to do).
        let _ = self.new_client_tx(c, peer, prack, Some((id, Side::B)), ClientRole::Local);
    }

    /// An in-dialog PRACK (see the module docs).
    pub(super) fn on_prack(&mut self, c: Clock, from: Peer, r: Request, id: Id, side: Side) {
        let rack = r.headers().get("RAck");
        let matched = self
            .calls
            .get_mut(&id)
            .and_then(|call| call.prack.prack(side, rack, call.a_invite_cseq));
        let Some(b_rack) = matched else {
            self.stats.unmatched_requests += 1;
            let b = Response::for_request(&r, 481);
            self.reply(c, from, r, b);
            return;
        };
        self.schedule_call(id);
        if let Some((rseq, cseq)) = b_rack {
            let rack = format!("{rseq} {cseq} INVITE");
            self.relay_request_with(c, from, &r, id, side, &[("RAck", &rack)]);
        } else {
            let b = Response::for_request(&r, 200);
            self.reply(c, from, r, b);
        }
    }
}
