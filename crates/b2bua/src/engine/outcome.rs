//! How a forwarded call progresses and ends: B's responses to the INVITE relayed to A, the call
//! timers, caller abandonment (CANCEL, including the CANCEL/2xx race) and the end of the call.

use pn_sip::{Headers, Method, Request, Response, SipMessage};

use crate::RouteLookup;
use crate::call::{PendingAck, Phase};
use crate::clock::Clock;
use crate::dialog::Side;
use crate::engine::B2bua;
use crate::facts::EventType;
use crate::privacy::{copy_whitelisted, rewrite_body_media};
use crate::tables::reason_value;
use crate::tables::{FORWARD_TIMEOUT, FailureMapping, failure_status};
use crate::transactions::{ClientRole, Id};

/// Q.850 16: normal call clearing.
const NORMAL_CLEARING: u16 = 16;

impl B2bua {
    /// Builds the response A's INVITE gets, relaying status, whitelisted headers and SDP of `from_b`.
    pub(super) fn a_response(&mut self, id: Id, status: u16, from_b: Option<&Response>) -> Option<Response> {
        let (transport, a_tx) = self
            .calls
            .get(&id)
            .map(|call| (call.a.peer.transport, call.a_tx))?;
        let contact = self.contact(transport);
        let call = self.calls.get_mut(&id)?;
        let a_invite = self.txs.server(a_tx)?.tx.request()?;
        let mut b = Response::for_request(a_invite, status).to_tag(&call.a.local_tag);
        if (101..300).contains(&status) {
            b = b.contact(&contact);
        }
        if let Some(r) = from_b {
            let mut extra = Headers::new();
            copy_whitelisted(r.headers(), &mut extra);
            for h in &extra {
                b = b.header(h.name(), h.value());
            }
            let (body, media) = rewrite_body_media(r.headers(), r.body(), &mut call.a.sdp, false);
            if let Some((ct, body)) = body {
                b = b.body(&ct, body);
            }
            let response = b.build();
            self.media_remote(id, Side::B, media);
            return Some(response);
        }
        Some(b.build())
    }

    /// A response from B to the B-leg INVITE.
    pub(super) fn on_b_invite_response(&mut self, c: Clock, tx: Id, call: Option<(Id, Side)>, r: &Response) {
        let status = r.status();
        if (200..300).contains(&status) {
            if let Some(e) = self.txs.client_mut(tx) {
                if e.answered {
                    // A retransmitted 2xx: re-send our ACK, if A has acknowledged already.
                    if let Some(ack) = e.ack() {
                        let peer = e.peer;
                        self.send(peer, ack);
                    }
                    return;
                }
                e.answered = true;
            }
        }
        let Some((id, _)) = call else {
            return;
        };
        if self.calls.get(&id).is_some_and(|state| state.b_tx != tx) {
            // An INVITE given up on for the next trunk.
            self.stale_b_response(c, id, tx, r);
            return;
        }
        let Some(state) = self.calls.get_mut(&id) else {
            return;
        };
        state.b.learn_from_response(r.headers());
        if status < 200 {
            state.b_provisional = true;
        }
        if let Some(t) = state.trunk.as_mut() {
            // Any answer stops the failover timer: a final one decides here.
            t.deadline = None;
        }
        if state.ended {
            if status < 200 && state.cancel_b {
                self.cancel_b(c, id);
            } else if (200..300).contains(&status) {
                // The CANCEL/2xx race (or a timeout): B answered a call A no longer wants.
                self.ack_b_directly(c, id, tx);
                self.send_bye(c, id, Side::B);
            }
            return;
        }
        match status {
            100 => {}
            101..=199 => self.b_provisional_response(c, id, status, r),
            200..=299 => self.b_answered(c, id, tx, r),
            _ => {
                if super::trunk::fails_over(status) && self.failover(c, id, status) {
                    return;
                }
                let m = failure_status(status);
                self.fail_forward(c, id, m, status, Some(r));
            }
        }
    }

    pub(super) fn b_provisional_response(&mut self, c: Clock, id: Id, status: u16, r: &Response) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        call.phase = Phase::Early;
        let alerting = (status == 180 || status == 183) && call.record.fwd_alerting.is_none();
        if alerting {
            call.record.fwd_alerting = Some(c.wall);
        }
        let event = alerting.then(|| call.record.event(EventType::Alerting, c.wall, None));
        self.record_latency(c, id);
        if let Some(event) = event {
            self.fact(event);
        }
        self.relay_provisional(c, id, status, r);
    }

    pub(super) fn b_answered(&mut self, c: Clock, id: Id, tx: Id, r: &Response) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        call.phase = Phase::Answered;
        call.record.fwd_answer = Some(c.wall);
        call.forward_deadline = None;
        // The final response ends the retransmissions of an unacknowledged reliable provisional.
        call.prack.final_sent();
        if !call.max_duration.is_zero() {
            call.max_deadline = c.now.checked_add(call.max_duration);
            call.last_minute = call
                .max_duration
                .checked_sub(std::time::Duration::from_secs(60))
                .filter(|d| !d.is_zero())
                .and_then(|d| c.now.checked_add(d));
        } else if self.config.max_call_secs > 0 {
            // No maxDuration from the binding: the configured default bounds the call (no last-minute voice).
            call.max_deadline = c
                .now
                .checked_add(std::time::Duration::from_secs(self.config.max_call_secs));
        }
        if self.config.dialog_probe_secs > 0 {
            call.probe_at = c
                .now
                .checked_add(std::time::Duration::from_secs(self.config.dialog_probe_secs));
        }
        let a_tx = call.a_tx;
        let b_cseq = r.headers().cseq().map_or(1, |s| s.seq);
        call.pending_ack[Side::B.index()] = Some(PendingAck {
            cseq: b_cseq,
            client: tx,
            server: a_tx,
        });
        let a_answered = call.a_answered;
        if a_answered {
            // A's INVITE was answered by the switch: the switch acknowledges B, learns B's media, and A
            // hears B from now on.
            call.pending_ack[Side::B.index()] = None;
            let mut scratch = call.a.sdp.clone();
            let (_, media) = rewrite_body_media(r.headers(), r.body(), &mut scratch, false);
            self.media_remote(id, Side::B, media);
            self.ack_b_directly(c, id, tx);
        }
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let event = call.record.event(EventType::Answer, c.wall, None);
        self.stats.calls_answered += 1;
        self.record_latency(c, id);
        self.fact(event);
        self.media_answered(id);
        if !a_answered && let Some(response) = self.a_response(id, 200, Some(r)) {
            self.respond(c, a_tx, response);
        }
        self.answered_tones(c, id);
        self.session_refreshed(c, id, Side::A, r);
        self.schedule_call(id);
    }

    pub(super) fn record_latency(&mut self, c: Clock, id: Id) {
        if let Some(call) = self.calls.get_mut(&id) {
            if !call.latency_recorded {
                call.latency_recorded = true;
                let d = c.now.saturating_duration_since(call.started);
                self.stats.latency(d);
            }
        }
    }

    /// The B leg failed before answer: A gets the mapped status with a Q.850 Reason.
    pub(super) fn fail_forward(
        &mut self,
        c: Clock,
        id: Id,
        m: FailureMapping,
        b_status: u16,
        r: Option<&Response>,
    ) {
        if self.calls.get(&id).is_some_and(|call| call.a_answered) {
            // A's INVITE was answered by the switch: its dialog ends with a BYE carrying the cause.
            let reason = reason_value(m.q850, m.state_code);
            self.send_bye_because(c, id, Side::A, Some(&reason));
            self.stats.calls_failed += 1;
            self.finish(c, id, m.state_code, b_status, m.q850);
            return;
        }
        let Some(mut response) = self.a_response(id, m.status, None) else {
            return;
        };
        response
            .headers_mut()
            .push("Reason", reason_value(m.q850, m.state_code));
        if let Some(min_se) = r
            .and_then(|r| r.headers().get("Min-SE"))
            .filter(|_| m.status == 422)
        {
            let mut h = Headers::new();
            h.push("Min-SE", min_se);
            let mut clean = Headers::new();
            copy_whitelisted(&h, &mut clean);
            if let Some(v) = clean.get("Min-SE") {
                response.headers_mut().push("Min-SE", v);
            }
        }
        let a_tx = self.calls.get(&id).map_or(0, |call| call.a_tx);
        self.respond(c, a_tx, response);
        self.stats.calls_failed += 1;
        self.finish(c, id, m.state_code, b_status, m.q850);
    }

    /// A gave up before answer (CANCEL, or a BYE on an unanswered call): 487 to A's INVITE, CANCEL B.
    pub(super) fn abandon(&mut self, c: Clock, id: Id) {
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        if call.ended || call.phase == Phase::Answered {
            return;
        }
        let cause = if let Some(ivr) = call.ivr.as_ref() {
            ivr.abandon_cause()
        } else if call.record.fwd_alerting.is_some() {
            7502
        } else {
            7501
        };
        let (a_tx, a_answered) = (call.a_tx, call.a_answered);
        if let Some(call) = self.calls.get_mut(&id) {
            call.record.rel_direction.get_or_insert(1);
        }
        if !a_answered && let Some(response) = self.a_response(id, 487, None) {
            self.respond(c, a_tx, response);
        }
        self.cancel_b(c, id);
        self.stats.calls_failed += 1;
        self.finish(c, id, cause, 487, NORMAL_CLEARING);
    }

    /// Cancels B's INVITE (at once if B sent a provisional response, else as soon as it does).
    pub(super) fn cancel_b(&mut self, c: Clock, id: Id) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if !call.b_provisional {
            call.cancel_b = true;
            return;
        }
        call.cancel_b = false;
        let (b_tx, peer) = (call.b_tx, call.b.peer);
        let Some(cancel) = self
            .txs
            .client(b_tx)
            .and_then(|e| e.tx.request().map(Request::cancel))
        else {
            return;
        };
        // A request that cannot start a transaction is not sent (nothing else to do).
        let _ = self.new_client_tx(c, peer, cancel, Some((id, Side::B)), ClientRole::Local);
    }

    /// ACKs B's 2xx ourselves (nobody on A's side will).
    pub(super) fn ack_b_directly(&mut self, c: Clock, id: Id, tx: Id) {
        self.ack_directly(c, id, Side::B, tx, 1);
    }

    /// Acknowledges the 2xx `side`'s party sent to the switch's INVITE `tx` (CSeq `cseq`) without waiting
    /// for the other party's ACK (which will not come, or not in time).
    pub(super) fn ack_directly(&mut self, c: Clock, id: Id, side: Side, tx: Id, cseq: u32) {
        let Some(transport) = self.calls.get(&id).map(|call| call.leg(side).peer.transport) else {
            return;
        };
        let via = self.new_via(c, transport);
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let leg = call.leg_mut(side);
        let peer = leg.peer;
        let Ok(ack) = leg.request(Method::Ack, &via, Some(cseq)).build() else {
            return;
        };
        if let Some(e) = self.txs.client_mut(tx) {
            e.set_ack(&ack);
        }
        self.send(peer, SipMessage::Request(ack));
    }

    /// Sends a BYE on `side` (once).
    pub(super) fn send_bye(&mut self, c: Clock, id: Id, side: Side) {
        self.send_bye_because(c, id, side, None);
    }

    /// Sends a BYE to `side` carrying `reason` (a `Reason` header value) when the switch itself ends the call.
    pub(super) fn send_bye_because(&mut self, c: Clock, id: Id, side: Side, reason: Option<&str>) {
        let Some(transport) = self.calls.get(&id).map(|call| call.leg(side).peer.transport) else {
            return;
        };
        let via = self.new_via(c, transport);
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if call.bye_done[side.index()] {
            return;
        }
        call.bye_done[side.index()] = true;
        let leg = call.leg_mut(side);
        let peer = leg.peer;
        let Ok(mut bye) = leg.request(Method::Bye, &via, None).build() else {
            return;
        };
        if let Some(reason) = reason {
            bye.headers_mut().push("Reason", reason.to_owned());
        }
        // A request that cannot start a transaction is not sent (nothing else to do).
        let _ = self.new_client_tx(c, peer, bye, Some((id, side)), ClientRole::Local);
    }

    /// A call timer is due.
    pub(super) fn on_call_timer(&mut self, c: Clock, id: Id, router: &dyn RouteLookup) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let due = |t: Option<std::time::Instant>| t.is_some_and(|t| t <= c.now);
        if due(call.ivr.as_ref().and_then(|ivr| ivr.deadline())) {
            if !call.ended {
                self.ivr_timer(c, id, router);
            }
        } else if due(call.forward_deadline) {
            call.forward_deadline = None;
            if call.phase != Phase::Answered && !call.ended {
                self.cancel_b(c, id);
                self.fail_forward(c, id, FORWARD_TIMEOUT, 0, None);
            }
        } else if due(call.trunk.as_ref().and_then(|t| t.deadline)) {
            if let Some(t) = call.trunk.as_mut() {
                t.deadline = None;
            }
            if call.phase == Phase::Calling && !call.ended {
                self.failover(c, id, 0);
            }
        } else if due(call.max_deadline) {
            call.max_deadline = None;
            call.last_minute = None;
            let reason = reason_value(NORMAL_CLEARING, 8010);
            self.send_bye_because(c, id, Side::A, Some(&reason));
            self.send_bye_because(c, id, Side::B, Some(&reason));
            self.finish(c, id, 8010, 0, NORMAL_CLEARING);
        } else if due(call.last_minute) {
            call.last_minute = None;
            self.last_minute(id);
        } else if due(call.prack.deadline()) {
            self.retransmit_reliable(c, id);
        } else if due(call.session.map(|s| s.deadline)) {
            self.session_expired(c, id);
        } else if due(call.probe_at) {
            self.probe_dialogs(c, id);
        }
        self.schedule_call(id);
    }

    /// A client transaction timed out.
    pub(super) fn on_client_timeout(&mut self, c: Clock, tx: Id, call: Option<(Id, Side)>, role: ClientRole) {
        if matches!(role, ClientRole::Sms) {
            self.sms_answered(c, tx, 408);
            return;
        }
        if let ClientRole::TrunkProbe { trunk } = role {
            self.trunk_probed(tx, trunk, None);
            return;
        }
        let Some((id, _)) = call else {
            return;
        };
        match role {
            ClientRole::Invite => {
                if self.stale_b_timeout(id, tx) || self.calls.get(&id).is_some_and(|call| call.b_tx != tx) {
                    return;
                }
                let unanswered = self
                    .calls
                    .get(&id)
                    .is_some_and(|call| !call.ended && call.phase != Phase::Answered);
                if unanswered && !self.failover(c, id, 408) {
                    self.fail_forward(c, id, failure_status(408), 408, None);
                }
            }
            ClientRole::Relay { server } => {
                let response = self
                    .txs
                    .server(server)
                    .and_then(|e| e.tx.request())
                    .map(|request| Response::for_request(request, 408).build());
                if let Some(response) = response {
                    self.respond(c, server, response);
                }
            }
            ClientRole::Probe => {
                if let Some((id, side)) = call {
                    self.probe_answered(c, id, side, 408);
                }
            }
            ClientRole::Local | ClientRole::Sms | ClientRole::TrunkProbe { .. } => {}
        }
    }

    /// A server transaction timed out: A never acknowledged our 2xx → release both legs.
    pub(super) fn on_server_timeout(&mut self, c: Clock, tx: Id, call: Option<(Id, Side)>) {
        let Some((id, _)) = call else {
            return;
        };
        let unacked = self.calls.get(&id).is_some_and(|call| {
            call.a_tx == tx && !call.ended && call.pending_ack[Side::B.index()].is_some()
        });
        if unacked {
            if let Some(call) = self.calls.get_mut(&id) {
                call.pending_ack[Side::B.index()] = None;
            }
            let (b_tx, b_placed) = self
                .calls
                .get(&id)
                .map_or((0, false), |call| (call.b_tx, call.b_placed));
            if b_placed {
                self.ack_b_directly(c, id, b_tx);
            }
            let reason = reason_value(41, 7505);
            self.send_bye_because(c, id, Side::A, Some(&reason));
            self.send_bye_because(c, id, Side::B, Some(&reason));
            self.finish(c, id, 7505, 0, 41);
        }
    }

    /// A new CDR `icid` ([`crate::facts::icid`]) from this shard, made at `wall`.
    pub(super) fn new_icid(&mut self, wall: pn_bindings::UnixTime) -> String {
        let counter = self.next_id();
        crate::facts::icid(&self.config.host_name, self.shard.index, wall, counter)
    }

    /// Ends a call: disconnect event and the CDR, exactly once.
    pub(super) fn finish(&mut self, c: Clock, id: Id, state_code: u16, sip_status: u16, q850: u16) {
        if self.calls.get(&id).is_none_or(|call| call.ended) {
            return;
        }
        let icid = self.new_icid(c.wall);
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        call.ended = true;
        // The call's concurrent-call units go back now (the call itself may wait for its transactions).
        call.live = None;
        call.record.recording_kept = call.tones.recording_kept(c.now);
        let event = call.record.event(EventType::Disconnect, c.wall, Some(state_code));
        let cdr = call
            .record
            .cdr(&self.config, icid, c.wall, state_code, sip_status, q850);
        self.active = self.active.saturating_sub(1);
        self.stats.ended(state_code);
        self.fact(event);
        self.fact(cdr);
        self.media_close(c.now, id);
        self.schedule_call(id);
        self.maybe_remove_call(id);
    }

    /// Dispatches a response from a client transaction.
    pub(super) fn on_client_response(
        &mut self,
        c: Clock,
        tx: Id,
        call: Option<(Id, Side)>,
        role: ClientRole,
        r: &Response,
    ) {
        match role {
            ClientRole::Invite => self.on_b_invite_response(c, tx, call, r),
            ClientRole::Relay { server } => self.relay_response(c, tx, call, server, r),
            ClientRole::Probe => {
                if let Some((id, side)) = call.filter(|_| r.status() >= 200) {
                    self.probe_answered(c, id, side, r.status());
                }
            }
            ClientRole::Sms => self.sms_answered(c, tx, r.status()),
            ClientRole::TrunkProbe { trunk } => {
                if r.status() >= 200 {
                    self.trunk_probed(tx, trunk, Some(r.status()));
                }
            }
            ClientRole::Local => {}
        }
    }
}
