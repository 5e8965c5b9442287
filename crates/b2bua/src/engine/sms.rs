//! SMS relay (RFC 3428 MESSAGE, reference §7.1): an out-of-dialog MESSAGE from a trusted peer to a privacy
//! number is routed by [`crate::RouteLookup::decide_sms`].
//!
//! - Refused: answered at once, sendResult 2 → `404 Not Found`, 5 → `503 Service Unavailable`, 7 → `503`,
//!   any other → `403 Forbidden`, each with `Reason: Q.850;cause=<1|41|102|21>;text="sendResult <n>"`.
//! - Blocked: a text that needs the app's Block decision (AX without a valid `@<B>` part, every X-mode text)
//!   waits for it (`engine::sms_block`), then is relayed like a routed one or refused.
//! - Routed: a fresh MESSAGE goes to the egress trunk, built from a whitelist only: Request-URI and To the
//!   receiver, From X (no display name) with a new tag, a new Call-ID, Via branch and CSeq 1, Max-Forwards one
//!   less than received, `Content-Type: text/plain;charset=UTF-8` and the (rewritten) text. Nothing else of the
//!   sender's MESSAGE crosses. The far end's final response answers the sender with a response built fresh:
//!   2xx → 200, 4xx/5xx → the same status, 3xx/6xx → 502, no answer (Timer F) → 408.
//! - Every SMS whose app is known produces one [`crate::sms::SmsNotice`] fact: at once when refused, with the
//!   far end's answer when relayed (sendResult 0 for a 2xx, else 10 "all failed").
//!
//! The sender's MESSAGE body must be `text/plain` UTF-8, or a `multipart/mixed` with a `text/plain` part (only
//! that part is read); anything else gets `415` with `Accept: text/plain` (no decision, no fact).

use pn_bindings::{AppId, BindingId, SendResult, SmsDecision, SmsRefusal, SmsRelay};
use pn_numbers::normalize;
use pn_sip::{Method, NameAddr, Request, Response, Uri};

use crate::clock::Clock;
use crate::engine::B2bua;
use crate::sms::{ExtInfo, RELAYED_CONTENT_TYPE, SmsEvent, SmsNotice, TEXT_PLAIN, message_text, sms_time};
use crate::transactions::{ClientRole, Id};
use crate::{Peer, RouteLookup};

/// A relayed SMS waiting for the far end's final response.
#[derive(Debug)]
pub(crate) struct PendingSms {
    /// The sender's server transaction.
    server: Id,
    /// The notification to write once the far end answered (its `sendResult` set then).
    notice: Option<SmsNotice>,
}

/// The status, Q.850 cause of a refusal with `result`.
pub(super) const fn refusal_status(result: SendResult) -> (u16, u16) {
    match result.0 {
        2 => (404, 1),
        5 => (503, 41),
        // SP review timeout: Q.850 102, recovery on timer expiry.
        7 => (503, 102),
        _ => (403, 21),
    }
}

/// The `Reason` header of a refusal with `result`.
pub(super) fn refusal_reason(result: SendResult) -> String {
    let (_, q850) = refusal_status(result);
    format!("Q.850;cause={q850};text=\"sendResult {}\"", result.0)
}

/// The status the sender gets for the far end's final `status`.
const fn sender_status(status: u16) -> u16 {
    match status {
        200..=299 => 200,
        400..=599 => status,
        _ => 502,
    }
}

/// What an SMS's notification is built from.
pub(super) struct NoticeParts<'a> {
    pub(super) sender: &'a str,
    pub(super) receiver: &'a str,
    pub(super) x: &'a str,
    pub(super) text: &'a str,
    pub(super) app: AppId,
    pub(super) binding: Option<BindingId>,
    pub(super) direction: u8,
}

impl B2bua {
    /// An out-of-dialog MESSAGE from a trusted peer.
    pub(super) fn on_message(&mut self, c: Clock, from: Peer, r: Request, router: &dyn RouteLookup) {
        let h = r.headers();
        let hops = h.max_forwards().ok().flatten().unwrap_or(70);
        if hops == 0 {
            self.stats.validation_rejects += 1;
            let b = self.response_to(c, &r, 483);
            self.reply(c, from, r, b);
            return;
        }
        if let Some(refusal) = self.refusal {
            self.refuse_at_once(c, from, r, refusal);
            return;
        }
        let Ok(text) = message_text(h, r.body()) else {
            self.stats.sms_refused += 1;
            let b = self.response_to(c, &r, 415).header("Accept", TEXT_PLAIN);
            self.reply(c, from, r, b);
            return;
        };
        let x_raw = r.uri().user_unescaped().unwrap_or_default();
        let sender_raw = h
            .asserted_identities()
            .ok()
            .and_then(|ids| ids.first().and_then(|n| n.uri().user_unescaped()))
            .or_else(|| h.from().ok().and_then(|f| f.uri().user_unescaped()))
            .unwrap_or_default();
        let decision = match (normalize(&sender_raw), normalize(&x_raw)) {
            (Ok(sender), Ok(x)) => router.decide_sms(sender, x, &text, c.wall),
            // An unreadable sender is no party of any binding, an unreadable X no pool number.
            _ => SmsDecision::Refuse(SmsRefusal {
                result: SendResult::NO_BINDING,
                app: None,
                binding: None,
            }),
        };
        let sender = normalize(&sender_raw).map_or(sender_raw, |n| n.to_string());
        let x = normalize(&x_raw).map_or(x_raw, |n| n.to_string());
        let relay = match decision {
            SmsDecision::Relay(relay) => relay,
            SmsDecision::NeedsBlock(block) => {
                let hops = hops.saturating_sub(1);
                self.start_sms_block(c, from, r, block, (&sender, &x, text), hops, router);
                return;
            }
            SmsDecision::Refuse(refusal) => {
                self.refuse_sms(c, from, r, refusal, (&sender, &x, &text), router);
                return;
            }
        };
        let Some(egress) = self.egress() else {
            let refusal = SmsRefusal {
                result: SendResult::INTERNAL_ERROR,
                app: Some(relay.app),
                binding: Some(relay.binding),
            };
            self.refuse_sms(c, from, r, refusal, (&sender, &x, &text), router);
            return;
        };
        let Ok(server) = self.new_server_tx(c, from, r, None, false) else {
            return;
        };
        let notice = self.notice(
            c,
            &NoticeParts {
                sender: &sender,
                receiver: &relay.to.to_string(),
                x: &relay.x.to_string(),
                text: &text,
                app: relay.app,
                binding: Some(relay.binding),
                direction: relay.direction.code(),
            },
            SendResult::OK,
            router,
        );
        let hops = hops.saturating_sub(1);
        self.send_relay(c, server, egress, &relay, hops, notice);
    }

    /// Sends the relayed MESSAGE for the sender's held server transaction `server`; the far end's answer
    /// answers it (`sms_answered`) and completes `notice`.
    pub(super) fn send_relay(
        &mut self,
        c: Clock,
        server: Id,
        egress: Peer,
        relay: &SmsRelay,
        hops: u8,
        notice: Option<SmsNotice>,
    ) {
        let Some(message) = self.relayed_message(c, egress, relay, hops) else {
            self.answer_sms(c, server, 503, notice.map(|n| (n, SendResult::INTERNAL_ERROR)));
            return;
        };
        match self.new_client_tx(c, egress, message, None, ClientRole::Sms) {
            Ok(tx) => {
                self.sms.insert(tx, PendingSms { server, notice });
            }
            Err(_) => self.answer_sms(c, server, 503, notice.map(|n| (n, SendResult::INTERNAL_ERROR))),
        }
    }

    /// The fresh MESSAGE to the receiver, from X.
    fn relayed_message(&mut self, c: Clock, egress: Peer, relay: &SmsRelay, hops: u8) -> Option<Request> {
        let host = match egress.addr {
            std::net::SocketAddr::V4(a) => a.ip().to_string(),
            std::net::SocketAddr::V6(a) => format!("[{}]", a.ip()),
        };
        let ruri = Uri::sip(Some(&relay.to.to_string()), &host, Some(egress.addr.port()));
        let tag = self.new_tag(c);
        let from = NameAddr::new(Uri::sip(
            Some(&relay.x.to_string()),
            &self.local_host,
            self.local_port,
        ))
        .with_tag(&tag);
        let to = NameAddr::new(ruri.clone());
        let call_id = self.new_call_id(c);
        let via = self.new_via(c, egress.transport);
        Request::builder(Method::Message, ruri)
            .via(&via)
            .from(&from)
            .to(&to)
            .call_id(&call_id)
            .cseq(1)
            .max_forwards(hops)
            .body(RELAYED_CONTENT_TYPE, relay.body.clone().into_bytes())
            .build()
            .ok()
    }

    /// Refuses an SMS at once and writes its notification (when its app is known).
    pub(super) fn refuse_sms(
        &mut self,
        c: Clock,
        from: Peer,
        r: Request,
        refusal: SmsRefusal,
        (sender, x, text): (&str, &str, &str),
        router: &dyn RouteLookup,
    ) {
        self.stats.sms_refused += 1;
        let (status, _) = refusal_status(refusal.result);
        let b = self
            .response_to(c, &r, status)
            .header("Reason", &refusal_reason(refusal.result));
        self.reply(c, from, r, b);
        if let Some(app) = refusal.app {
            let parts = NoticeParts {
                sender,
                receiver: x,
                x,
                text,
                app,
                binding: refusal.binding,
                direction: 2,
            };
            if let Some(notice) = self.notice(c, &parts, refusal.result, router) {
                self.fact(crate::CallFact::Sms(Box::new(notice)));
            }
        }
    }

    /// The notification of an SMS (None when the app's key is unknown).
    pub(super) fn notice(
        &mut self,
        c: Clock,
        parts: &NoticeParts<'_>,
        result: SendResult,
        router: &dyn RouteLookup,
    ) -> Option<SmsNotice> {
        let echo = router.app_echo(parts.app)?;
        let subscription = parts.binding.and_then(|b| router.subscription(b));
        let (subscription_id, user_data) =
            subscription.map_or((None, None), |s| (Some(s.subscription_id), s.user_data));
        Some(SmsNotice {
            app_key: echo.app_key,
            sms_event: SmsEvent {
                sms_identifier: self.new_icid(c.wall),
                notification_mode: "Notify".to_owned(),
                calling: parts.sender.to_owned(),
                called: parts.receiver.to_owned(),
                virtual_number: parts.x.to_owned(),
                event: "Text SMS".to_owned(),
                time_stamp: sms_time(c.wall),
                subscription_id,
                sms_content: router.sms_content(parts.app).then(|| parts.text.to_owned()),
                ext_info: ExtInfo::for_direction(parts.direction),
                send_result: Some(result.0),
                user_data,
            },
            app: Some(parts.app),
            binding: parts.binding,
        })
    }

    /// Answers the sender's MESSAGE with `status` and writes the notification with its final `sendResult`.
    pub(super) fn answer_sms(
        &mut self,
        c: Clock,
        server: Id,
        status: u16,
        notice: Option<(SmsNotice, SendResult)>,
    ) {
        if (200..300).contains(&status) {
            self.stats.sms_relayed += 1;
        } else {
            self.stats.sms_failed += 1;
        }
        let tag = self.new_tag(c);
        let response = self
            .txs
            .server(server)
            .and_then(|e| e.tx.request())
            .map(|request| Response::for_request(request, status).to_tag(&tag).build());
        if let Some(response) = response {
            self.respond(c, server, response);
        }
        if let Some((mut notice, result)) = notice {
            notice.sms_event.send_result = Some(result.0);
            self.fact(crate::CallFact::Sms(Box::new(notice)));
        }
    }

    /// The far end's response to a relayed MESSAGE (`status` 408 when it never answered).
    pub(super) fn sms_answered(&mut self, c: Clock, tx: Id, status: u16) {
        if status < 200 {
            return;
        }
        let Some(pending) = self.sms.remove(&tx) else {
            return;
        };
        let result = if (200..300).contains(&status) {
            SendResult::OK
        } else {
            SendResult::ALL_FAILED
        };
        let to_sender = if status == 408 { 408 } else { sender_status(status) };
        self.answer_sms(c, pending.server, to_sender, pending.notice.map(|n| (n, result)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(refusal_status(SendResult::NO_BINDING), (404, 1));
        assert_eq!(refusal_status(SendResult::NO_SMS), (403, 21));
        assert_eq!(refusal_status(SendResult::INTERNAL_ERROR), (503, 41));
        assert_eq!(refusal_status(SendResult(7)), (503, 102));
        assert_eq!(refusal_status(SendResult::SP_DISCARDED), (403, 21));
        assert_eq!(
            refusal_reason(SendResult(7)),
            "Q.850;cause=102;text=\"sendResult 7\""
        );
        assert_eq!(sender_status(202), 200);
        assert_eq!(sender_status(486), 486);
        assert_eq!(sender_status(503), 503);
        assert_eq!(sender_status(302), 502);
        assert_eq!(sender_status(603), 502);
    }
}
