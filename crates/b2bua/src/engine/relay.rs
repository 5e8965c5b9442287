//! In-dialog traffic: ACK for 2xx (relayed end-to-end as a new ACK on the other dialog), BYE from
//! either side (200 to the sender, a new BYE to the other), CANCEL, and the requests relayed as new
//! requests on the other leg (re-INVITE, UPDATE, INFO) with their responses relayed back.
//! In-dialog OPTIONS are answered locally; PRACK goes to the `prack` module (RFC 3262); other methods
//! get 405; unknown dialogs 481. A 2xx to a relayed re-INVITE or UPDATE refreshes the session timer.

use pn_sip::transaction::Input;
use pn_sip::{Headers, Method, Request, Response, SipMessage};

use crate::call::{PendingAck, Phase};
use crate::clock::Clock;
use crate::dialog::Side;
use crate::engine::B2bua;
use crate::engine::{ACCEPT, ALLOW};
use crate::privacy::{copy_whitelisted, rewrite_body_media};
use crate::transactions::{ClientRole, Id, RequestMatch};
use crate::{Peer, RouteLookup};

impl B2bua {
    /// The call and side an in-dialog request belongs to (Call-ID, then our tag in To).
    pub(super) fn dialog_of(&self, r: &Request) -> Option<(Id, Side)> {
        let call_id = r.headers().call_id().ok()?;
        let &(id, side) = self.dialogs.get(call_id)?;
        let to_tag = r.headers().to().ok()?.tag()?.to_owned();
        let call = self.calls.get(&id)?;
        (call.leg(side).local_tag == to_tag).then_some((id, side))
    }

    /// An ACK that matched no server transaction: the ACK for a 2xx.
    pub(super) fn on_ack(&mut self, c: Clock, r: &Request) {
        let Some((id, side)) = self.dialog_of(r) else {
            return; // stray ACK: dropped
        };
        let target = side.other();
        let Some(pending) = self
            .calls
            .get_mut(&id)
            .and_then(|call| call.pending_ack[target.index()].take())
        else {
            return; // retransmitted ACK
        };
        self.drive_server(c, pending.server, Input::Received(SipMessage::Request(r.clone())));
        // Acknowledged: the 2xx's transaction only waits out Timer L now, without its messages.
        if let Some(e) = self.txs.server_mut(pending.server) {
            e.tx.settle();
        }
        self.settled_server(pending.server);
        if self.calls.get(&id).is_some_and(|call| !call.b_placed) {
            return; // the switch's own 2xx (AXE answerBeforeCollect): nothing to relay
        }
        let Some(transport) = self.calls.get(&id).map(|call| call.leg(target).peer.transport) else {
            return;
        };
        let via = self.new_via(c, transport);
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let leg = call.leg_mut(target);
        let peer = leg.peer;
        let mut builder = leg.request(Method::Ack, &via, Some(pending.cseq));
        let (body, media) = rewrite_body_media(r.headers(), r.body(), &mut leg.sdp, false);
        if let Some((ct, body)) = body {
            builder = builder.body(&ct, body);
        }
        self.media_remote(id, side, media);
        let Ok(ack) = builder.build() else {
            return;
        };
        if let Some(e) = self.txs.client_mut(pending.client) {
            e.set_ack(&ack);
        }
        self.send(peer, SipMessage::Request(ack));
    }

    /// CANCEL: 200 to it; if it cancels A's pending INVITE, 487 to that INVITE and CANCEL to B.
    pub(super) fn on_cancel(&mut self, c: Clock, from: Peer, r: Request) {
        let invite = match self.txs.match_cancelled_invite(&r) {
            RequestMatch::Live(id) => Some(id),
            // The INVITE was answered and its call is gone: the CANCEL matched it, and has no effect.
            RequestMatch::Tomb(_) => {
                let b = Response::for_request(&r, 200);
                self.reply(c, from, r, b);
                return;
            }
            RequestMatch::New => None,
        };
        let Some(invite) = invite else {
            self.stats.unmatched_requests += 1;
            let b = self.response_to(c, &r, 481);
            self.reply(c, from, r, b);
            return;
        };
        let call = self.txs.server(invite).and_then(|e| e.call);
        let b = Response::for_request(&r, 200);
        self.reply(c, from, r, b);
        if let Some((id, Side::A)) = call {
            if self.calls.get(&id).is_some_and(|call| call.a_tx == invite) {
                self.abandon(c, id);
            }
        } else if call.is_none() {
            self.ask_cancelled(c, invite);
        }
    }

    /// A request with a To tag.
    pub(super) fn on_in_dialog(&mut self, c: Clock, from: Peer, r: Request, router: &dyn RouteLookup) {
        let Some((id, side)) = self.dialog_of(&r) else {
            self.stats.unmatched_requests += 1;
            let b = self.response_to(c, &r, 481);
            self.reply(c, from, r, b);
            return;
        };
        let ivr = self
            .calls
            .get(&id)
            .is_some_and(|call| call.phase == Phase::Ivr && !call.ended);
        if ivr && *r.method() != Method::Bye {
            self.ivr_request(c, from, r, id, side, router);
            return;
        }
        match r.method() {
            Method::Bye => self.on_bye(c, from, &r, id, side),
            Method::Invite | Method::Update | Method::Info => self.relay_request(c, from, &r, id, side),
            Method::Options => {
                let b = Response::for_request(&r, 200)
                    .header("Allow", ALLOW)
                    .header("Accept", ACCEPT);
                self.reply(c, from, r, b);
            }
            Method::Prack => self.on_prack(c, from, r, id, side),
            _ => {
                let b = Response::for_request(&r, 405).header("Allow", ALLOW);
                self.reply(c, from, r, b);
            }
        }
    }

    /// BYE: 200 to the sender; the other leg gets a BYE (answered call) or the call fails.
    pub(super) fn on_bye(&mut self, c: Clock, from: Peer, r: &Request, id: Id, side: Side) {
        let Ok(stx) = self.new_server_tx(c, from, r.clone(), Some((id, side)), false) else {
            return;
        };
        self.respond(c, stx, Response::for_request(r, 200).build());
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        call.bye_done[side.index()] = true;
        if call.ended {
            return;
        }
        call.record
            .rel_direction
            .get_or_insert(if side == Side::A { 1 } else { 2 });
        match (call.phase, side) {
            (Phase::Answered, _) => {
                self.bye_before_ack(c, id, side);
                self.send_bye(c, id, side.other());
                self.finish(c, id, 0, 0, 16);
            }
            (_, Side::A) => self.abandon(c, id),
            (_, Side::B) => {
                // B released an early dialog: its INVITE transaction ends on its own.
                let m = crate::tables::failure_status(480);
                self.fail_forward(c, id, m, 0, None);
            }
        }
    }

    /// A BYE from `side` before its ACK of the 2xx the switch relayed to it (the two were sent back to back
    /// and the BYE arrived first: UDP, or two receive loops): the other party's 2xx is acknowledged now, ahead
    /// of its BYE, and the 2xx to `side` is not retransmitted any more. The late ACK then finds nothing to do.
    fn bye_before_ack(&mut self, c: Clock, id: Id, side: Side) {
        let target = side.other();
        let Some(pending) = self
            .calls
            .get_mut(&id)
            .and_then(|call| call.pending_ack[target.index()].take())
        else {
            return;
        };
        if let Some(e) = self.txs.server_mut(pending.server) {
            e.tx.dialog_ended();
        }
        self.flush_server(c, pending.server, false);
        self.ack_directly(c, id, target, pending.client, pending.cseq);
    }

    /// re-INVITE, UPDATE, INFO: a new request on the other leg; the response comes back.
    pub(super) fn relay_request(&mut self, c: Clock, from: Peer, r: &Request, id: Id, side: Side) {
        self.relay_request_with(c, from, r, id, side, &[]);
    }

    /// Relays `r` as a new request on the other leg, with `own` headers added (built here, e.g. a
    /// PRACK's mapped `RAck`).
    pub(super) fn relay_request_with(
        &mut self,
        c: Clock,
        from: Peer,
        r: &Request,
        id: Id,
        side: Side,
        own: &[(&str, &str)],
    ) {
        let invite = *r.method() == Method::Invite;
        let Ok(stx) = self.new_server_tx(c, from, r.clone(), Some((id, side)), invite) else {
            return;
        };
        let target = side.other();
        let usable = self
            .calls
            .get(&id)
            .is_some_and(|call| !call.ended && call.leg(target).remote_tag.is_some());
        if !usable {
            self.respond(c, stx, Response::for_request(r, 481).build());
            return;
        }
        let Some(transport) = self.calls.get(&id).map(|call| call.leg(target).peer.transport) else {
            return;
        };
        let via = self.new_via(c, transport);
        let contact = self.contact(transport);
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let leg = call.leg_mut(target);
        let peer = leg.peer;
        let mut builder = leg.request(r.method().clone(), &via, None);
        if invite || *r.method() == Method::Update {
            builder = builder.contact(&contact);
        }
        for (name, value) in own {
            builder = builder.header(name, value);
        }
        let mut extra = Headers::new();
        copy_whitelisted(r.headers(), &mut extra);
        for h in &extra {
            builder = builder.header(h.name(), h.value());
        }
        let dtmf = *r.method() == Method::Info;
        let (body, media) = rewrite_body_media(r.headers(), r.body(), &mut leg.sdp, dtmf);
        if let Some((ct, body)) = body {
            builder = builder.body(&ct, body);
        }
        self.media_remote(id, side, media);
        let Ok(request) = builder.build() else {
            self.respond(c, stx, Response::for_request(r, 500).build());
            return;
        };
        // A request that cannot start a transaction is not sent (nothing else to do).
        let _ = self.new_client_tx(
            c,
            peer,
            request,
            Some((id, target)),
            ClientRole::Relay { server: stx },
        );
    }

    /// A response to a relayed request: relayed back (status, whitelisted headers, SDP).
    pub(super) fn relay_response(
        &mut self,
        c: Clock,
        tx: Id,
        call: Option<(Id, Side)>,
        server: Id,
        r: &Response,
    ) {
        let status = r.status();
        if status == 100 {
            return;
        }
        let Some((id, target)) = call else {
            return;
        };
        let Some(cseq) = r.headers().cseq().ok() else {
            return;
        };
        let invite_2xx = cseq.method == Method::Invite && (200..300).contains(&status);
        if invite_2xx {
            if let Some(e) = self.txs.client_mut(tx) {
                if e.answered {
                    if let Some(ack) = e.ack() {
                        let peer = e.peer;
                        self.send(peer, ack);
                    }
                    return;
                }
                e.answered = true;
            }
        }
        let Some(request) = self.txs.server(server).and_then(|e| e.tx.request().cloned()) else {
            return;
        };
        let origin = target.other();
        let Some(transport) = self.calls.get(&id).map(|call| call.leg(origin).peer.transport) else {
            return;
        };
        let contact = self.contact(transport);
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if invite_2xx {
            if let Some(target_uri) = r.headers().contacts().ok().and_then(|v| v.into_iter().next()) {
                call.leg_mut(target).remote_target = target_uri.uri().clone();
            }
            call.pending_ack[target.index()] = Some(PendingAck {
                cseq: cseq.seq,
                client: tx,
                server,
            });
        }
        let mut b = Response::for_request(&request, status);
        if (101..300).contains(&status) && matches!(cseq.method, Method::Invite | Method::Update) {
            b = b.contact(&contact);
        }
        let mut extra = Headers::new();
        copy_whitelisted(r.headers(), &mut extra);
        for h in &extra {
            b = b.header(h.name(), h.value());
        }
        let (body, media) = rewrite_body_media(r.headers(), r.body(), &mut call.leg_mut(origin).sdp, false);
        if let Some((ct, body)) = body {
            b = b.body(&ct, body);
        }
        self.media_remote(id, target, media);
        self.respond(c, server, b.build());
        let refresh = matches!(cseq.method, Method::Invite | Method::Update) && (200..300).contains(&status);
        if refresh {
            self.session_refreshed(c, id, origin, r);
        }
    }
}
