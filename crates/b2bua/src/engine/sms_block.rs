//! SMS Block in the engine (reference §7.1): a MESSAGE whose route needs the app's decision
//! ([`pn_bindings::SmsDecision::NeedsBlock`]) is held (its server transaction gets no answer yet: RFC 3428
//! allows a delayed final response, and the sender's Timer F is 32 s) while the runtime POSTs the Block
//! notification to the app's SMS-control URL ([`crate::Output::Ask`] with [`AskTarget::SmsControl`]). The
//! reply ([`B2bua::handle_customer_reply`], read by [`parse_block_reply`]) or the decision timer
//! (`xmode_decision_timeout_ms`) ends the wait:
//!
//! - `vNumberRoute` → the text is relayed to `called` from X exactly as a routed SMS (`engine::sms`: the
//!   same whitelist builder, the far end's answer mapped back, a Notify with sendResult 0 or 10).
//! - `DiscardMessage` → `403`, sendResult 6 ("SP discarded").
//! - no reply in time → `503`, sendResult 7 ("SP review timeout").
//! - a bad reply (malformed, `calling` not X, `called` not a valid number or X), a failed request (no
//!   SMS-control URL, no connection, a non-2xx answer) → `503`, sendResult 5 ("internal error").
//!
//! Every refusal carries `Reason: Q.850;…;text="sendResult <n>"` and is followed by a Notify with its
//! sendResult. At most `sms_block_max_pending` SMS wait per shard; one more is refused at once (`503`,
//! sendResult 5), as is an SMS whose app has no key. The Block body is the SMS notification with
//! `notificationMode` `Block`, `called` X and no `sendResult`; the Notify that follows keeps its
//! `smsIdentifier`.

use std::time::{Duration, Instant};

use pn_bindings::{BindingId, Mode, SendResult, SmsBlock, SmsRefusal, SmsRelay};
use pn_numbers::{E164, normalize};
use pn_sip::Request;

use super::sms::{NoticeParts, refusal_reason, refusal_status};
use crate::clock::Clock;
use crate::engine::B2bua;
use crate::sms::SmsNotice;
use crate::sms_block::{AskTarget, BlockDecision, parse_block_reply};
use crate::transactions::{Id, Slot};
use crate::xmode::{CustomerReply, XAsk, XCall};
use crate::{Output, Peer, RouteLookup};

/// An SMS waiting for its app's Block decision.
#[derive(Debug)]
pub(crate) struct PendingBlock {
    /// The sender's held server transaction.
    server: Id,
    /// The privacy number texted.
    x: E164,
    /// The text as received.
    text: String,
    /// What the route decision said.
    block: SmsBlock,
    /// Max-Forwards of the relayed MESSAGE.
    hops: u8,
    /// The Block notification (its `smsIdentifier` is kept by the Notify that follows).
    notice: SmsNotice,
    deadline: Instant,
    scheduled: Option<Instant>,
}

impl B2bua {
    /// An SMS that needs the app's decision: hold it and ask (or refuse at once when the shard holds
    /// too many, or the app has no key).
    #[allow(clippy::too_many_arguments)] // the MESSAGE's parts, as `on_message` has them
    pub(super) fn start_sms_block(
        &mut self,
        c: Clock,
        from: Peer,
        r: Request,
        block: SmsBlock,
        (sender, x, text): (&str, &str, String),
        hops: u8,
        router: &dyn RouteLookup,
    ) {
        let refusal = SmsRefusal {
            result: SendResult::INTERNAL_ERROR,
            app: Some(block.app),
            binding: block.binding,
        };
        let Ok(x_num) = normalize(x) else {
            return self.refuse_sms(c, from, r, refusal, (sender, x, &text), router);
        };
        if self.sms_blocks.len() >= self.config.sms_block_max_pending {
            self.count_block("full");
            return self.refuse_sms(c, from, r, refusal, (sender, x, &text), router);
        }
        // AX: A texted (A→B); X mode: an outside party texted the customer's number, as X-mode calls (B→A).
        let direction = u8::from(block.mode != Mode::X);
        let parts = NoticeParts {
            sender,
            receiver: x,
            x,
            text: &text,
            app: block.app,
            binding: block.binding,
            direction,
        };
        let Some(mut notice) = self.notice(c, &parts, SendResult::OK, router) else {
            return self.refuse_sms(c, from, r, refusal, (sender, x, &text), router);
        };
        "Block".clone_into(&mut notice.sms_event.notification_mode);
        notice.sms_event.send_result = None;
        // Serialising plain strings and numbers cannot fail; an empty body would be answered as a bad reply.
        let body = serde_json::to_string(&notice).unwrap_or_default();
        let Ok(server) = self.new_server_tx(c, from, r, None, false) else {
            return;
        };
        let id = self.next_id();
        let wait = Duration::from_millis(self.config.xmode_decision_timeout_ms);
        let deadline = c.now.checked_add(wait).unwrap_or(c.now);
        let mut pending = PendingBlock {
            server,
            x: x_num,
            text,
            block,
            hops,
            notice,
            deadline,
            scheduled: None,
        };
        self.deadlines
            .update(Slot::SmsBlock(id), &mut pending.scheduled, Some(deadline));
        self.sms_blocks.insert(id, Box::new(pending));
        self.push_output(Output::Ask(XAsk {
            call: XCall(id),
            app: block.app,
            target: AskTarget::SmsControl,
            body,
        }));
    }

    /// Whether `id` is an SMS waiting for its Block decision.
    pub(super) fn is_sms_block(&self, id: Id) -> bool {
        self.sms_blocks.contains_key(&id)
    }

    /// The app's answer to the Block request of the SMS `id` (ignored when it no longer waits).
    pub(super) fn sms_block_reply(&mut self, c: Clock, id: Id, reply: CustomerReply) {
        let Some(pending) = self.take_block(id) else {
            return;
        };
        let decision = match reply {
            CustomerReply::Body(body) => parse_block_reply(&body, pending.x),
            CustomerReply::Failed(_) => {
                self.count_block("failed");
                return self.refuse_block(c, *pending, SendResult::INTERNAL_ERROR);
            }
        };
        match decision {
            Ok(BlockDecision::Route { called }) => {
                self.count_block("route");
                self.relay_blocked(c, *pending, called);
            }
            Ok(BlockDecision::Discard) => {
                self.count_block("discard");
                self.refuse_block(c, *pending, SendResult::SP_DISCARDED);
            }
            Err(_) => {
                self.count_block("invalid");
                self.refuse_block(c, *pending, SendResult::INTERNAL_ERROR);
            }
        }
    }

    /// The decision timer of the SMS `id` fired: sendResult 7.
    pub(super) fn sms_block_timeout(&mut self, c: Clock, id: Id) {
        if self.sms_blocks.get(&id).is_none_or(|p| p.deadline > c.now) {
            return;
        }
        if let Some(pending) = self.take_block(id) {
            self.count_block("timeout");
            self.refuse_block(c, *pending, SendResult::SP_REVIEW_TIMEOUT);
        }
    }

    /// SMS waiting for their Block decision.
    pub fn sms_blocks_waiting(&self) -> usize {
        self.sms_blocks.len()
    }

    /// Refuses every SMS still waiting for its Block decision (`503`, sendResult 5, with its Notify): the
    /// runtime calls it when the shard stops, so no sender is left without an answer.
    pub fn drop_sms_blocks(&mut self, now: Instant, wall: pn_bindings::UnixTime) {
        let c = Clock { now, wall };
        let mut ids: Vec<Id> = self.sms_blocks.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            if let Some(pending) = self.take_block(id) {
                self.count_block("failed");
                self.refuse_block(c, *pending, SendResult::INTERNAL_ERROR);
            }
        }
    }

    fn take_block(&mut self, id: Id) -> Option<Box<PendingBlock>> {
        let mut pending = self.sms_blocks.remove(&id)?;
        self.deadlines
            .update(Slot::SmsBlock(id), &mut pending.scheduled, None);
        Some(pending)
    }

    fn count_block(&mut self, outcome: &'static str) {
        *self.stats.sms_block_decisions.entry(outcome).or_default() += 1;
    }

    /// `vNumberRoute`: relay the held text to `called`, from X.
    fn relay_blocked(&mut self, c: Clock, pending: PendingBlock, called: E164) {
        let Some(egress) = self.egress() else {
            return self.refuse_block(c, pending, SendResult::INTERNAL_ERROR);
        };
        let PendingBlock {
            server,
            x,
            text,
            block,
            hops,
            mut notice,
            ..
        } = pending;
        "Notify".clone_into(&mut notice.sms_event.notification_mode);
        notice.sms_event.called = called.to_string();
        let relay = SmsRelay {
            to: called,
            x,
            body: text,
            // X mode keeps no bindings: the id is never looked up (the notice carries the binding's echo).
            binding: block.binding.unwrap_or(BindingId(0)),
            app: block.app,
            mode: block.mode,
            direction: if block.mode == Mode::X {
                pn_bindings::CdrDirection::BToA
            } else {
                pn_bindings::CdrDirection::AToB
            },
        };
        self.send_relay(c, server, egress, &relay, hops, Some(notice));
    }

    /// Answers the held MESSAGE with the refusal of `result` and writes the Notify.
    fn refuse_block(&mut self, c: Clock, pending: PendingBlock, result: SendResult) {
        self.stats.sms_refused += 1;
        let (status, _) = refusal_status(result);
        let tag = self.new_tag(c);
        let response = self
            .txs
            .server(pending.server)
            .and_then(|e| e.tx.request())
            .map(|request| {
                pn_sip::Response::for_request(request, status)
                    .to_tag(&tag)
                    .header("Reason", &refusal_reason(result))
                    .build()
            });
        if let Some(response) = response {
            self.respond(c, pending.server, response);
        }
        let mut notice = pending.notice;
        "Notify".clone_into(&mut notice.sms_event.notification_mode);
        notice.sms_event.send_result = Some(result.0);
        self.fact(crate::CallFact::Sms(Box::new(notice)));
    }
}
