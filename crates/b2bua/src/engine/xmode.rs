//! X mode in the engine: a call to an X-mode number waits (A's INVITE answered with 100 Trying only, no B leg,
//! no media yet) while the runtime asks the customer ([`crate::Output::Ask`]); the reply
//! ([`B2bua::handle_customer_reply`]), the decision timer (`xmode_decision_timeout_ms`, then 8040) or the
//! caller's CANCEL (7516) ends the wait. `connect` then goes on exactly as a routed call (the callee shown X,
//! the reply's maxDuration, recording and prompts); `close`, a bad reply and no decision go on as a refused
//! call (with `closeHintTone`, or the app's prompt for the cause, where media allows).

use std::time::{Duration, Instant};

use pn_bindings::{Ask, BindingId, Cause, CdrDirection, Connect, Mode};
use pn_numbers::{E164, NumberKind, classify};
use pn_sip::Request;

use crate::call::{Placement, Record};
use crate::clock::Clock;
use crate::engine::B2bua;
use crate::facts::{CallFact, EventType};
use crate::transactions::{Id, Slot};
use crate::xmode::{ConnectInfo, CustomerReply, Decision, XAsk, XCall, parse_reply};
use crate::{CallPrompts, Output, Peer, RouteLookup};

/// Q.850 16: normal call clearing (the caller's CANCEL).
const NORMAL_CLEARING: u16 = 16;

/// A call waiting for the customer's decision.
#[derive(Debug)]
pub(crate) struct PendingAsk {
    from: Peer,
    a_tx: Id,
    invite: Request,
    record: Record,
    x: E164,
    record_allowed: bool,
    hops: u8,
    deadline: Instant,
    scheduled: Option<Instant>,
    /// The call's concurrent-call units, held while it waits and moved into the call when it connects.
    live: Option<pn_bindings::LiveSlot>,
}

impl B2bua {
    /// Handles the customer's answer to an [`crate::Output::Ask`] (or its failure) for `call`: an X-mode call
    /// or a blocked SMS (`engine::sms_block`). An answer for one that no longer waits (the caller hung up, the
    /// decision timer fired) is ignored.
    pub fn handle_customer_reply(
        &mut self,
        now: Instant,
        wall: pn_bindings::UnixTime,
        call: XCall,
        reply: CustomerReply,
        router: &dyn RouteLookup,
    ) {
        let c = Clock { now, wall };
        if self.is_sms_block(call.0) {
            return self.sms_block_reply(c, call.0, reply);
        }
        let Some(ask) = self.take_ask(call.0) else {
            return;
        };
        let decision = match reply {
            CustomerReply::Body(body) => parse_reply(&body, ask.x),
            CustomerReply::Failed(_) => {
                self.count_decision("failed");
                return self.refuse_asked(c, call.0, ask, Cause::NO_CUSTOMER_DECISION, None, router);
            }
        };
        match decision {
            Ok(Decision::Connect(info)) => {
                self.count_decision("connect");
                self.connect_asked(c, call.0, ask, info, router);
                self.pending_live = None;
            }
            Ok(Decision::Close(info)) => {
                self.count_decision("close");
                let mut ask = ask;
                ask.record.x_user_data = info.user_data;
                self.refuse_asked(
                    c,
                    call.0,
                    ask,
                    Cause::CUSTOMER_CLOSE,
                    info.close_hint_tone,
                    router,
                );
            }
            Err(cause) => {
                self.count_decision("invalid");
                self.refuse_asked(c, call.0, ask, cause, None, router);
            }
        }
    }

    /// A new call routed to an X-mode number: keep A waiting and ask the customer.
    #[allow(clippy::too_many_arguments)] // the new call's parts, as `connect` and `refuse_new` take them
    pub(super) fn start_ask(
        &mut self,
        c: Clock,
        id: Id,
        (from, a_tx): (Peer, Id),
        invite: Request,
        mut record: Record,
        ask: Ask,
        router: &dyn RouteLookup,
    ) {
        record.set_app(Some(ask.app), router);
        record.mode = Some(Mode::X);
        if self.asks.len() >= self.config.xmode_max_pending {
            // Memory stays bounded whatever the customers' servers do: the call is refused as overload.
            self.count_decision("full");
            self.fact(record.event(EventType::Callin, c.wall, None));
            return self.refuse_new(
                c,
                id,
                (from, a_tx),
                &invite,
                record,
                (Cause::OVERLOADED, None),
                router,
            );
        }
        let mut callin = record.event(EventType::Callin, c.wall, None);
        if let CallFact::Event(e) = &mut callin {
            e.status_info.notify_mode = Some("Block");
        }
        // Serialising plain strings and numbers cannot fail; an empty body would be answered as a bad reply.
        let body = serde_json::to_string(&callin).unwrap_or_default();
        let hops = invite
            .headers()
            .max_forwards()
            .ok()
            .flatten()
            .unwrap_or(70)
            .saturating_sub(1);
        let wait = Duration::from_millis(self.config.xmode_decision_timeout_ms);
        let deadline = c.now.checked_add(wait).unwrap_or(c.now);
        let mut pending = PendingAsk {
            from,
            a_tx,
            invite,
            record,
            x: ask.x,
            record_allowed: ask.record_allowed,
            hops,
            deadline,
            scheduled: None,
            live: self.pending_live.take(),
        };
        self.deadlines
            .update(Slot::Ask(id), &mut pending.scheduled, Some(deadline));
        self.asks.insert(id, Box::new(pending));
        self.push_output(Output::Ask(XAsk {
            call: XCall(id),
            app: ask.app,
            target: crate::AskTarget::CallStatus,
            body,
        }));
    }

    /// The decision timer of a waiting call fired: no decision in time (8040).
    pub(super) fn ask_timeout(&mut self, c: Clock, id: Id, router: &dyn RouteLookup) {
        if self.asks.get(&id).is_none_or(|a| a.deadline > c.now) {
            return;
        }
        if let Some(ask) = self.take_ask(id) {
            self.count_decision("timeout");
            self.refuse_asked(c, id, ask, Cause::NO_CUSTOMER_DECISION, None, router);
        }
    }

    /// A's CANCEL matched the INVITE server transaction `a_tx`: when a call waits on it, it ends (487, 7516).
    /// Returns whether one did.
    pub(super) fn ask_cancelled(&mut self, c: Clock, a_tx: Id) -> bool {
        let Some(id) = self.asks.iter().find(|(_, a)| a.a_tx == a_tx).map(|(id, _)| *id) else {
            return false;
        };
        let Some(mut ask) = self.take_ask(id) else {
            return false;
        };
        let response = self.response_to(c, &ask.invite, 487).build();
        self.respond(c, ask.a_tx, response);
        let cause = Cause::CALLER_LEFT_BEFORE_FORWARD.0;
        ask.record.rel_direction = Some(1);
        self.stats.calls_failed += 1;
        self.stats.ended(cause);
        self.fact(ask.record.event(EventType::Disconnect, c.wall, Some(cause)));
        let icid = self.new_icid(c.wall);
        let cdr = ask
            .record
            .cdr(&self.config, icid, c.wall, cause, 487, NORMAL_CLEARING);
        self.fact(cdr);
        true
    }

    /// Calls waiting for a decision.
    pub(super) fn asks_waiting(&self) -> usize {
        self.asks.len()
    }

    /// Refuses every call still waiting for its app's decision with `cause` (the drain ran out); how many.
    pub(super) fn release_asks(&mut self, c: Clock, cause: Cause) -> usize {
        let ids: Vec<Id> = self.asks.keys().copied().collect();
        let mut released = 0;
        for id in ids {
            if let Some(ask) = self.take_ask(id) {
                // No prompt: the switch is stopping (the refusal, its event and its CDR as for any call).
                self.reject(c, ask.a_tx, &ask.invite, &ask.record, cause);
                released += 1;
            }
        }
        released
    }

    fn take_ask(&mut self, id: Id) -> Option<PendingAsk> {
        let mut ask = self.asks.remove(&id)?;
        self.deadlines.update(Slot::Ask(id), &mut ask.scheduled, None);
        Some(*ask)
    }

    fn count_decision(&mut self, outcome: &'static str) {
        *self.stats.xmode_decisions.entry(outcome).or_default() += 1;
    }

    fn refuse_asked(
        &mut self,
        c: Clock,
        id: Id,
        ask: PendingAsk,
        cause: Cause,
        prompt: Option<String>,
        router: &dyn RouteLookup,
    ) {
        let PendingAsk {
            from,
            a_tx,
            invite,
            record,
            ..
        } = ask;
        self.refuse_new(c, id, (from, a_tx), &invite, record, (cause, prompt), router);
    }

    /// `connect`: the B leg to `calleeNum`, showing X, as a routed call.
    fn connect_asked(
        &mut self,
        c: Clock,
        id: Id,
        ask: PendingAsk,
        info: ConnectInfo,
        router: &dyn RouteLookup,
    ) {
        if classify(info.callee) == NumberKind::International {
            // The route policy is not at hand here: a customer-chosen international callee is refused.
            return self.refuse_asked(c, id, ask, Cause::INTERNATIONAL_OUT, None, router);
        }
        let Some(app) = ask.record.app else {
            return self.refuse_asked(c, id, ask, Cause::APP_NOT_FOUND, None, router);
        };
        let conn = Connect {
            callee: info.callee,
            display: ask.x,
            max_duration_secs: u32::from(info.max_duration_min) * 60,
            // The app's recording switch and the reply's `recordFlag` (reference §5).
            record: info.record && ask.record_allowed,
            // X mode keeps no bindings: the id is never looked up (see `place_b`).
            binding: BindingId(0),
            app,
            mode: Mode::X,
            direction: CdrDirection::BToA,
            callback: None,
        };
        let prompts = CallPrompts {
            caller_hint: info.wait_voice,
            callee_hint: None,
            record_hint: info.record_hint_tone,
            last_min_voice: info.last_min_voice,
        };
        let PendingAsk {
            from,
            a_tx,
            invite,
            mut record,
            hops,
            live,
            ..
        } = ask;
        record.x_user_data = info.user_data;
        // Moved into the call by `insert_call`, or given back at the end of the reply's handling.
        self.pending_live = live;
        match (self.trunks.any_up(), self.allocate_media(c.now)) {
            (true, Ok(media)) => {
                let place = Placement {
                    conn: &conn,
                    hops,
                    prompts: Some(&prompts),
                };
                self.connect(c, id, (from, a_tx), &invite, record, media, &place, router);
            }
            (false, media) => {
                if let Ok(Some(pairs)) = media {
                    self.release_pairs(c.now, pairs);
                }
                let cause = (Cause::ROUTING_FAILURE, None);
                self.refuse_new(c, id, (from, a_tx), &invite, record, cause, router);
            }
            (true, Err(())) => {
                let cause = (Cause::ROUTING_FAILURE, None);
                self.refuse_new(c, id, (from, a_tx), &invite, record, cause, router);
            }
        }
    }
}
