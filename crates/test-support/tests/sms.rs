//! SMS relay over SIP MESSAGE (reference §7.1) through the switch, with the real `decide_sms` over a binding
//! table: AXB both ways, AX `@B` and B→A with `[From<B>]`, refusals with their sendResult, the far end's
//! refusal and silence, the notification facts, and a leak probe of the sender's identity. SMS Block (AX
//! without `@B`, X mode): the ask, the app's `vNumberRoute` / `DiscardMessage` / bad replies, the timeout,
//! the bound on waiting SMS, and the leak probe on the Block path.

#![allow(clippy::unwrap_used, clippy::panic, clippy::too_many_lines)]

use std::time::Duration;

use pn_b2bua::sms::SmsNotice;
use pn_b2bua::{AppEcho, Peer};
use pn_bindings::{
    App, AppId, AppMedia, AppPush, AxBinding, AxbBinding, Binding, BindingId, BindingKind, BindingTable,
    CallControls, CallDirection, Mode, NumberStatus, RecordSettings, UnixTime, XNumber,
};
use pn_sip::{Method, Request, SipMessage};
use pn_test_support::FakeRouter;
use pn_test_support::script::*;

/// The AX privacy number (app 2); `X_NUM` is the AXB one (app 1); `SMS_OFF_X` belongs to app 3 without SMS;
/// `XMODE_X` to app 4 (X mode).
const AX_X: &str = "+8617000000009";
const SMS_OFF_X: &str = "+8617000000003";
const XMODE_X: &str = "+8617000000004";
/// A stranger (not bound anywhere).
const C_NUM: &str = "+8613700000007";

fn app(id: u32, mode: Mode, sms: bool) -> App {
    App {
        id: AppId(id),
        name: format!("app{id}"),
        mode,
        app_key: format!("key{id}"),
        app_secret: "secret".into(),
        call_status_url: None,
        cdr_url: None,
        sms_url: None,
        record_enabled: false,
        sms_enabled: sms,
        extension_digits: 3,
        collect_repeat: 2,
        enabled: true,
        created_at: UnixTime(0),
        media: AppMedia::default(),
        push: AppPush::default(),
        controls: pn_bindings::AppControls::default(),
        allow_national_numbers: false,
    }
}

fn binding(id: u64, app: u32, kind: BindingKind) -> Binding {
    Binding {
        id: BindingId(id),
        subscription_id: format!("s{id}"),
        app: AppId(app),
        created_at: UnixTime(0),
        updated_at: UnixTime(0),
        expires_at: None,
        duration_secs: None,
        record: RecordSettings::default(),
        user_data: None,
        kind,
    }
}

fn sms_controls() -> CallControls {
    CallControls {
        private_sms: true,
        ..CallControls::default()
    }
}

fn table() -> BindingTable {
    let t = BindingTable::new();
    for (id, mode, sms, x) in [
        (1, Mode::Axb, true, X_NUM),
        (2, Mode::Ax, true, AX_X),
        (3, Mode::Axb, false, SMS_OFF_X),
        (4, Mode::X, true, XMODE_X),
    ] {
        t.upsert_app(&app(id, mode, sms));
        t.upsert_number(&XNumber {
            number: e164(x),
            app: AppId(id),
            area_code: "0755".into(),
            province: None,
            status: NumberStatus::Normal,
        });
    }
    t.insert_binding(&binding(
        10,
        1,
        BindingKind::Axb(AxbBinding {
            x: e164(X_NUM),
            a: e164(A_NUM),
            b: e164(B_NUM),
            direction: CallDirection::Both,
            controls: sms_controls(),
        }),
    ));
    t.insert_binding(&binding(
        20,
        2,
        BindingKind::Ax(AxBinding {
            x: e164(AX_X),
            a: e164(A_NUM),
            direction: CallDirection::Both,
            turn_on: true,
            controls: sms_controls(),
        }),
    ));
    t.insert_binding(&binding(
        30,
        3,
        BindingKind::Axb(AxbBinding {
            x: e164(SMS_OFF_X),
            a: e164(A_NUM),
            b: e164(B_NUM),
            direction: CallDirection::Both,
            controls: sms_controls(),
        }),
    ));
    t
}

fn switch() -> Switch {
    let mut router = FakeRouter::reject(8014);
    router.sms_table = Some(table());
    router.app_echo = Some(AppEcho {
        app_key: "key".into(),
        mode: Mode::Axb,
    });
    Switch::new(router)
}

/// A MESSAGE from `from` to `x` with a text/plain `body` and `extra` header lines.
fn message(from: &str, x: &str, body: &str, extra: &str) -> Request {
    let raw = format!(
        "MESSAGE sip:{x}@192.0.2.10:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKsms{n}\r\n\
Max-Forwards: 70\r\n\
From: <sip:{from}@192.0.2.1>;tag=sms-a\r\n\
To: <sip:{x}@192.0.2.10>\r\n\
Call-ID: sms-{n}@192.0.2.1\r\n\
CSeq: 1 MESSAGE\r\n\
{extra}Content-Type: text/plain;charset=UTF-8\r\n\
Content-Length: {}\r\n\r\n{body}",
        body.len(),
        n = body.len() + from.len() * 7 + x.len() * 13,
    );
    Request::parse(raw.as_bytes()).unwrap()
}

/// The one MESSAGE sent to B, and that nothing went to A yet.
fn relayed(sent: &[(Peer, SipMessage)]) -> Request {
    assert_eq!(sent.len(), 1, "{:?}", summary(sent));
    assert_eq!(sent[0].0, b_peer());
    let r = request(&sent[0].1).clone();
    assert_eq!(*r.method(), Method::Message);
    r
}

fn status_to_a(sent: &[(Peer, SipMessage)]) -> u16 {
    assert_eq!(sent.len(), 1, "{:?}", summary(sent));
    assert_eq!(sent[0].0, a_peer());
    response(&sent[0].1).status()
}

fn user(uri: &pn_sip::Uri) -> String {
    uri.user_unescaped().unwrap()
}

/// Checks the relayed MESSAGE: to `to`, from X, text `body`, and only whitelisted headers.
fn check_relay(m: &Request, to: &str, x: &str, body: &str) {
    let h = m.headers();
    assert_eq!(user(m.uri()), to);
    assert_eq!(user(h.to().unwrap().uri()), to);
    let from = h.from().unwrap();
    assert_eq!(user(from.uri()), x);
    assert!(from.display_name().is_none_or(str::is_empty), "{from:?}");
    assert_eq!(h.get("Content-Type"), Some("text/plain;charset=UTF-8"));
    assert_eq!(String::from_utf8_lossy(m.body()), body);
    let names: Vec<String> = h.iter().map(|h| h.name().to_ascii_lowercase()).collect();
    for name in &names {
        assert!(
            [
                "via",
                "max-forwards",
                "from",
                "to",
                "call-id",
                "cseq",
                "content-type",
                "content-length"
            ]
            .contains(&name.as_str()),
            "header {name} crossed"
        );
    }
    assert_eq!(h.get("Max-Forwards"), Some("69"));
}

fn notice(s: &Switch) -> SmsNotice {
    let notices = s.sms_notices();
    assert_eq!(notices.len(), 1, "{notices:?}");
    notices[0].clone()
}

fn direction(n: &SmsNotice) -> &str {
    &n.sms_event.ext_info.ext_paras[1].value
}

#[test]
fn axb_a_to_b_and_b_to_a_go_to_the_other_party_from_x() {
    for (from, to, dir) in [(A_NUM, B_NUM, "1"), (B_NUM, A_NUM, "0")] {
        let mut s = switch();
        let sent = s.send_a(message(from, X_NUM, "see you at 8", ""));
        let m = relayed(&sent);
        check_relay(&m, to, X_NUM, "see you at 8");
        assert!(s.sms_notices().is_empty(), "the notice waits for the far end");
        let sent = s.send_b(b_response(&m, 200, false));
        assert_eq!(status_to_a(&sent), 200);
        let n = notice(&s);
        assert_eq!(n.sms_event.send_result, Some(0));
        assert_eq!(
            (n.sms_event.calling.as_str(), n.sms_event.called.as_str()),
            (from, to)
        );
        assert_eq!(n.sms_event.virtual_number, X_NUM);
        assert_eq!(n.sms_event.subscription_id.as_deref(), Some("sub-10"));
        assert_eq!(direction(&n), dir);
        assert_eq!(n.sms_event.sms_content, None);
        assert_eq!(n.app, Some(AppId(1)));
        assert_eq!(s.b2b.stats().sms_relayed, 1);
    }
}

#[test]
fn ax_a_with_at_b_reaches_b_without_the_suffix_and_b_reaches_a_with_from_b() {
    let mut s = switch();
    s.router.sms_content = true;
    let m = relayed(&s.send_a(message(A_NUM, AX_X, "order ready@13900000002", "")));
    check_relay(&m, B_NUM, AX_X, "order ready");
    assert_eq!(status_to_a(&s.send_b(b_response(&m, 202, false))), 200);
    let n = notice(&s);
    assert_eq!(n.sms_event.called, B_NUM);
    assert_eq!(
        n.sms_event.sms_content.as_deref(),
        Some("order ready@13900000002")
    );

    let mut s = switch();
    let m = relayed(&s.send_a(message(C_NUM, AX_X, "hello", "")));
    check_relay(&m, A_NUM, AX_X, "hello[From+8613700000007]");
    assert_eq!(status_to_a(&s.send_b(b_response(&m, 200, false))), 200);
    let n = notice(&s);
    assert_eq!(
        (n.sms_event.calling.as_str(), n.sms_event.called.as_str()),
        (C_NUM, A_NUM)
    );
    assert_eq!(direction(&n), "0");
}

#[test]
fn refusals_answer_at_once_with_reason_and_notice() {
    // (sender, X, text, status, sendResult, notice expected)
    for (from, x, text, status, result, noticed) in [
        (C_NUM, X_NUM, "hi", 404, 2, true),
        (A_NUM, SMS_OFF_X, "hi", 403, 11, true),
        (A_NUM, "+8617000000055", "hi", 404, 2, false),
    ] {
        let mut s = switch();
        let sent = s.send_a(message(from, x, text, ""));
        assert_eq!(status_to_a(&sent), status, "{from} → {x}: {text}");
        let reason = response(&sent[0].1).headers().get("Reason").unwrap().to_owned();
        assert!(reason.contains(&format!("sendResult {result}")), "{reason}");
        let notices = s.sms_notices();
        if noticed {
            assert_eq!(notices.len(), 1);
            assert_eq!(notices[0].sms_event.send_result, Some(result));
            assert_eq!(notices[0].sms_event.called, x);
            assert_eq!(direction(notices[0]), "2");
        } else {
            assert!(notices.is_empty());
        }
        assert_eq!(s.b2b.stats().sms_refused, 1);
    }
}

#[test]
fn far_end_refusal_and_silence_map_back_to_the_sender() {
    let mut s = switch();
    let m = relayed(&s.send_a(message(A_NUM, X_NUM, "hi", "")));
    assert_eq!(status_to_a(&s.send_b(b_response(&m, 486, false))), 486);
    assert_eq!(notice(&s).sms_event.send_result, Some(10));

    let mut s = switch();
    let m = relayed(&s.send_a(message(A_NUM, X_NUM, "hi", "")));
    let sent = s.advance(Duration::from_secs(40));
    let to_a: Vec<_> = sent.iter().filter(|(p, _)| *p == a_peer()).cloned().collect();
    assert_eq!(status_to_a(&to_a), 408);
    // Only retransmissions of the same MESSAGE went to B.
    for (peer, msg) in sent.iter().filter(|(p, _)| *p != a_peer()) {
        assert_eq!(*peer, b_peer());
        assert_eq!(
            request(msg).headers().call_id().unwrap(),
            m.headers().call_id().unwrap()
        );
    }
    assert_eq!(notice(&s).sms_event.send_result, Some(10));
    assert_eq!(s.b2b.stats().sms_failed, 1);
}

#[test]
fn unsupported_bodies_get_415_without_a_decision() {
    let mut s = switch();
    let raw = String::from_utf8(message(A_NUM, X_NUM, "<b>hi</b>", "").to_bytes())
        .unwrap()
        .replace("text/plain;charset=UTF-8", "text/html");
    let sent = s.send_a(Request::parse(raw.as_bytes()).unwrap());
    assert_eq!(status_to_a(&sent), 415);
    assert!(s.sms_notices().is_empty());
}

/// The sender's digits in every header it may send, and in a multipart body's other part, never reach B.
#[test]
fn the_senders_identity_does_not_reach_the_receiver() {
    let d = "13800000001";
    let extra = format!(
        "Contact: \"{d}\" <sip:+86{d}@192.0.2.1:5060>\r\n\
P-Asserted-Identity: \"{d}\" <sip:+86{d}@192.0.2.1>\r\n\
Remote-Party-ID: \"{d}\" <sip:{d}@192.0.2.1>;party=calling\r\n\
Subject: from {d}\r\n\
X-Original-Caller: {d}\r\n\
Call-Info: <http://example.com/{d}.png>;purpose=icon\r\n\
Reply-To: <sip:{d}@192.0.2.1>\r\n\
User-Agent: phone-{d}\r\n\
Organization: {d}\r\n"
    );
    let body = format!(
        "--b{d}\r\nContent-Type: application/x-card\r\n\r\ntel:{d}\r\n--b{d}\r\n\
Content-Type: text/plain\r\n\r\nmeet at 8\r\n--b{d}--\r\n"
    );
    let raw = format!(
        "MESSAGE sip:{X_NUM}@192.0.2.10:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK{d}\r\n\
Max-Forwards: 70\r\n\
From: \"{d}\" <sip:+86{d}@192.0.2.1>;tag={d}\r\n\
To: \"{d}\" <sip:{X_NUM}@192.0.2.10>\r\n\
Call-ID: {d}@192.0.2.1\r\n\
CSeq: 1 MESSAGE\r\n\
{extra}Content-Type: multipart/mixed;boundary=b{d}\r\n\
Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut s = switch();
    let sent = s.send_a(Request::parse(raw.as_bytes()).unwrap());
    let m = relayed(&sent);
    check_relay(&m, B_NUM, X_NUM, "meet at 8");
    let text = String::from_utf8_lossy(&m.to_bytes()).into_owned();
    assert!(!text.contains(d), "{d} leaked to B:\n{text}");
    // And B's answer carries none of B's identity back to A.
    let b = "13900000002";
    let answer = pn_sip::Response::for_request(&m, 200)
        .to_tag(b)
        .header("Contact", &format!("\"{b}\" <sip:{b}@192.0.2.50>"))
        .header("P-Asserted-Identity", &format!("<sip:{b}@192.0.2.50>"))
        .header("Server", &format!("phone-{b}"))
        .build();
    let sent = s.send_b(answer);
    assert_eq!(status_to_a(&sent), 200);
    let text = String::from_utf8_lossy(&sent[0].1.to_bytes()).into_owned();
    assert!(!text.contains(b), "{b} leaked to A:\n{text}");
}

// ---- SMS Block ------------------------------------------------------------------------------------------

fn route_reply(called: &str, calling: &str) -> pn_b2bua::CustomerReply {
    pn_b2bua::CustomerReply::Body(format!(
        r#"{{"actions":[{{"operation":"vNumberRoute","message":{{"called":"{called}","calling":"{calling}"}}}}]}}"#
    ))
}

fn discard_reply() -> pn_b2bua::CustomerReply {
    pn_b2bua::CustomerReply::Body(r#"{"actions":[{"operation":"DiscardMessage"}]}"#.to_owned())
}

/// The one ask the switch emitted: to app `app`'s SMS-control URL; its body as JSON.
fn block_ask(s: &mut Switch, app: u32) -> (pn_b2bua::XCall, serde_json::Value) {
    assert_eq!(s.asks.len(), 1, "{:?}", s.asks);
    let ask = s.asks.remove(0);
    assert_eq!(ask.target, pn_b2bua::AskTarget::SmsControl);
    assert_eq!(ask.app, AppId(app));
    (ask.call, serde_json::from_str(&ask.body).unwrap())
}

fn reason(sent: &[(Peer, SipMessage)]) -> String {
    response(&sent[0].1).headers().get("Reason").unwrap().to_owned()
}

#[test]
fn ax_without_at_b_asks_the_app_and_vnumberroute_relays_from_x() {
    let mut s = switch();
    s.router.sms_content = true;
    let sent = s.send_a(message(A_NUM, AX_X, "call me", ""));
    assert!(sent.is_empty(), "held, no answer yet: {:?}", summary(&sent));
    let (call, body) = block_ask(&mut s, 2);
    let ev = &body["smsEvent"];
    assert_eq!(body["appKey"], "key");
    assert_eq!(ev["notificationMode"], "Block");
    assert_eq!(ev["calling"], A_NUM);
    assert_eq!(ev["called"], AX_X);
    assert_eq!(ev["virtualNumber"], AX_X);
    assert_eq!(ev["event"], "Text SMS");
    assert_eq!(ev["smsContent"], "call me");
    assert_eq!(ev["subscriptionId"], "sub-20");
    assert_eq!(ev["extInfo"]["extParas"][1]["value"], "1");
    assert!(ev.get("sendResult").is_none(), "{ev}");
    assert!(s.sms_notices().is_empty());

    // A retransmission of the held MESSAGE is absorbed: no answer, no second ask.
    let sent = s.send_a(message(A_NUM, AX_X, "call me", ""));
    assert!(sent.is_empty(), "{:?}", summary(&sent));
    assert!(s.asks.is_empty());

    let m = relayed(&s.customer_reply(call, route_reply("13900000002", AX_X)));
    check_relay(&m, B_NUM, AX_X, "call me");
    assert!(s.sms_notices().is_empty(), "the notice waits for the far end");
    assert_eq!(status_to_a(&s.send_b(b_response(&m, 200, false))), 200);
    let n = notice(&s);
    assert_eq!(n.sms_event.notification_mode, "Notify");
    assert_eq!(n.sms_event.send_result, Some(0));
    assert_eq!(
        (n.sms_event.calling.as_str(), n.sms_event.called.as_str()),
        (A_NUM, B_NUM)
    );
    assert_eq!(n.sms_event.sms_identifier, ev["smsIdentifier"]);
    assert_eq!(n.app, Some(AppId(2)));
    assert_eq!(s.b2b.stats().sms_relayed, 1);
    assert_eq!(s.b2b.stats().sms_block_decisions.get("route"), Some(&1));
    // A late second reply is ignored.
    assert!(s.customer_reply(call, discard_reply()).is_empty());
}

#[test]
fn x_mode_sms_goes_through_block() {
    let mut s = switch();
    assert!(s.send_a(message(C_NUM, XMODE_X, "hello", "")).is_empty());
    let (call, body) = block_ask(&mut s, 4);
    assert_eq!(body["smsEvent"]["calling"], C_NUM);
    assert_eq!(body["smsEvent"]["called"], XMODE_X);
    assert!(
        body["smsEvent"].get("smsContent").is_none(),
        "smsContent only when enabled"
    );
    assert!(
        body["smsEvent"].get("subscriptionId").is_none(),
        "X mode has no binding"
    );
    assert_eq!(body["smsEvent"]["extInfo"]["extParas"][1]["value"], "0");
    let m = relayed(&s.customer_reply(call, route_reply(B_NUM, XMODE_X)));
    check_relay(&m, B_NUM, XMODE_X, "hello");
    assert_eq!(status_to_a(&s.send_b(b_response(&m, 200, false))), 200);
    let n = notice(&s);
    assert_eq!(n.sms_event.send_result, Some(0));
    assert_eq!(n.sms_event.called, B_NUM);
    assert_eq!(n.app, Some(AppId(4)));
}

#[test]
fn discard_is_refused_403_with_send_result_6() {
    let mut s = switch();
    assert!(s.send_a(message(A_NUM, AX_X, "no suffix", "")).is_empty());
    let (call, _) = block_ask(&mut s, 2);
    let sent = s.customer_reply(call, discard_reply());
    assert_eq!(status_to_a(&sent), 403);
    assert!(reason(&sent).contains("sendResult 6"), "{}", reason(&sent));
    let n = notice(&s);
    assert_eq!(n.sms_event.notification_mode, "Notify");
    assert_eq!(n.sms_event.send_result, Some(6));
    assert_eq!(n.sms_event.called, AX_X);
    assert_eq!(s.b2b.stats().sms_refused, 1);
    assert_eq!(s.b2b.sms_blocks_waiting(), 0);
}

#[test]
fn no_reply_in_time_is_refused_503_with_send_result_7() {
    let mut s = switch();
    assert!(s.send_a(message(A_NUM, AX_X, "anyone?", "")).is_empty());
    let (call, _) = block_ask(&mut s, 2);
    assert!(s.advance(Duration::from_millis(2900)).is_empty());
    assert!(s.sms_notices().is_empty());
    let sent = s.advance(Duration::from_millis(100));
    assert_eq!(status_to_a(&sent), 503);
    assert!(reason(&sent).contains("sendResult 7"), "{}", reason(&sent));
    assert_eq!(notice(&s).sms_event.send_result, Some(7));
    assert_eq!(s.b2b.stats().sms_block_decisions.get("timeout"), Some(&1));
    // The reply that comes too late is ignored: nothing is relayed.
    assert!(s.customer_reply(call, route_reply(B_NUM, AX_X)).is_empty());
    assert_eq!(s.sms_notices().len(), 1);
}

#[test]
fn bad_replies_and_failed_requests_are_refused_503_with_send_result_5() {
    for reply in [
        // Another number shown as the sender: the privacy rule.
        route_reply(B_NUM, A_NUM),
        route_reply(B_NUM, "+8617000000001"),
        // The receiver is X itself, or no number.
        route_reply(AX_X, AX_X),
        route_reply("not a number", AX_X),
        pn_b2bua::CustomerReply::Body("{}".to_owned()),
        pn_b2bua::CustomerReply::Failed("HTTP 500".to_owned()),
    ] {
        let mut s = switch();
        assert!(s.send_a(message(A_NUM, AX_X, "hi there", "")).is_empty());
        let (call, _) = block_ask(&mut s, 2);
        let sent = s.customer_reply(call, reply.clone());
        assert_eq!(status_to_a(&sent), 503, "{reply:?}");
        assert!(reason(&sent).contains("sendResult 5"), "{}", reason(&sent));
        assert_eq!(notice(&s).sms_event.send_result, Some(5), "{reply:?}");
    }
}

#[test]
fn waiting_sms_are_bounded_and_answered_when_the_shard_stops() {
    let mut router = FakeRouter::reject(8014);
    router.sms_table = Some(table());
    router.app_echo = Some(AppEcho {
        app_key: "key".into(),
        mode: Mode::Ax,
    });
    let config = pn_b2bua::B2buaConfig {
        sms_block_max_pending: 1,
        ..config()
    };
    let mut s = Switch::with_config(router, config);
    assert!(s.send_a(message(A_NUM, AX_X, "first", "")).is_empty());
    let sent = s.send_a(message(A_NUM, AX_X, "the second", ""));
    assert_eq!(status_to_a(&sent), 503);
    assert!(reason(&sent).contains("sendResult 5"));
    assert_eq!(s.asks.len(), 1, "the second was not asked");
    assert_eq!(s.b2b.stats().sms_block_decisions.get("full"), Some(&1));
    assert_eq!(s.sms_notices().len(), 1);

    s.b2b.drop_sms_blocks(s.now, s.wall);
    let sent = s.drain();
    assert_eq!(status_to_a(&sent), 503);
    assert_eq!(s.b2b.sms_blocks_waiting(), 0);
    let notices = s.sms_notices();
    assert_eq!(notices.len(), 2);
    assert_eq!(notices[1].sms_event.send_result, Some(5));
    // The timer of the dropped SMS fires on nothing.
    assert!(s.advance(Duration::from_secs(5)).is_empty());
}

/// The Block path relays only the text: the sender's digits in its headers and other body parts never reach
/// the receiver.
#[test]
fn the_senders_identity_does_not_reach_the_receiver_on_the_block_path() {
    let d = "13800000001";
    let extra = format!(
        "Contact: \"{d}\" <sip:+86{d}@192.0.2.1:5060>\r\n\
P-Asserted-Identity: \"{d}\" <sip:+86{d}@192.0.2.1>\r\n\
Subject: from {d}\r\n\
X-Original-Caller: {d}\r\n\
User-Agent: phone-{d}\r\n"
    );
    let mut s = switch();
    assert!(s.send_a(message(A_NUM, AX_X, "meet at 8", &extra)).is_empty());
    let (call, _) = block_ask(&mut s, 2);
    let m = relayed(&s.customer_reply(call, route_reply(B_NUM, AX_X)));
    check_relay(&m, B_NUM, AX_X, "meet at 8");
    let text = String::from_utf8_lossy(&m.to_bytes()).into_owned();
    assert!(!text.contains(d), "{d} leaked to B:\n{text}");
}
