//! The engine side of [`crate::prack`]: reliable provisionals relayed to A, PRACKs relayed to B.

use crate::Peer;
use crate::clock::Clock;
use crate::dialog::Side;
use crate::transactions::{ClientRole, Id};
use pn_sip::{Method, Request, Response};

use crate::engine::B2bua;
use crate::prack::{Rel, Reliable, TAG_100REL, parse_rack, reliable_rseq};

impl B2bua {
    /// A provisional response of B to the B-leg INVITE, relayed to A (see the module docs).
    pub(crate) fn relay_provisional(&mut self, c: Clock, id: Id, status: u16, r: &Response) {
        let b_rseq = reliable_rseq(r);
        let b_cseq = r.headers().cseq().map_or(1, |s| s.seq);
        let t1 = self.timers.t1;
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if let Some(rseq) = b_rseq {
            if call.b_rseq.is_some_and(|last| rseq <= last) {
                return; // B's retransmission
            }
            call.b_rseq = Some(rseq);
        }
        if call.a_answered {
            // A was answered by the switch already: B's provisionals stop here (reliable ones are PRACKed).
            if let Some(rseq) = b_rseq {
                self.prack_b(c, id, rseq, b_cseq);
            }
            return;
        }
        let busy = call.a_reliable.is_some();
        let reliable = !busy
            && match call.a_rel {
                Rel::Required => true,
                Rel::Supported => b_rseq.is_some(),
                Rel::No => false,
            };
        let drop = busy && call.a_rel == Rel::Required;
        if let Some(rseq) = b_rseq.filter(|_| !reliable) {
            self.prack_b(c, id, rseq, b_cseq);
        }
        if drop {
            return;
        }
        let Some(mut response) = self.a_response(id, status, Some(r)) else {
            return;
        };
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if reliable {
            call.a_rseq = call.a_rseq.saturating_add(1);
            let rseq = call.a_rseq;
            response.headers_mut().push("Require", TAG_100REL);
            response.headers_mut().push("RSeq", rseq.to_string());
            call.a_reliable = Some(Box::new(Reliable {
                response: response.clone(),
                rseq,
                b_rack: b_rseq.map(|s| (s, b_cseq)),
                next: c.now + t1,
                interval: t1,
                give_up: c.now + t1 * 64,
            }));
        }
        let a_tx = call.a_tx;
        self.respond(c, a_tx, response);
        self.schedule_call(id);
    }

    /// The retransmission timer of the reliable provisional sent to A is due.
    pub(crate) fn retransmit_reliable(&mut self, c: Clock, id: Id) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let Some(rel) = call.a_reliable.as_mut() else {
            return;
        };
        if c.now >= rel.give_up {
            call.a_reliable = None;
            if !call.ended {
                self.cancel_b(c, id);
                self.fail_forward(c, id, crate::tables::PRACK_TIMEOUT, 0, None);
            }
            return;
        }
        rel.interval *= 2;
        rel.next = (c.now + rel.interval).min(rel.give_up);
        let (peer, response) = (call.a.peer, rel.response.clone());
        self.stats.retransmissions_sent += 1;
        self.send(peer, pn_sip::SipMessage::Response(response));
    }

    /// pnswitch PRACKs B's reliable provisional itself.
    pub(crate) fn prack_b(&mut self, c: Clock, id: Id, rseq: u32, cseq: u32) {
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
        self.new_client_tx(c, peer, prack, Some((id, Side::B)), ClientRole::Local);
    }

    /// An in-dialog PRACK (see the module docs).
    pub(crate) fn on_prack(&mut self, c: Clock, from: Peer, r: Request, id: Id, side: Side) {
        let rack = r.headers().get("RAck").and_then(parse_rack);
        let matched = self.calls.get(&id).and_then(|call| {
            let rel = call.a_reliable.as_ref()?;
            let (rseq, cseq, method) = rack?;
            let invite_cseq = call.a_invite_cseq;
            (side == Side::A && rseq == rel.rseq && cseq == invite_cseq && method == "INVITE")
                .then_some(rel.b_rack)
        });
        let Some(b_rack) = matched else {
            self.stats.unmatched_requests += 1;
            let b = Response::for_request(&r, 481);
            self.reply(c, from, r, b);
            return;
        };
        if let Some(call) = self.calls.get_mut(&id) {
            call.a_reliable = None;
        }
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
