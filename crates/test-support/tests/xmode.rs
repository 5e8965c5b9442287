//! X mode (reference §1 X row, §3): the switch holds A's INVITE, asks the customer with a Block `callin`, and
//! connects, closes (8017), refuses a bad reply (8014 / 8024) or gives up (8040) by what comes back, on the
//! virtual clock.

#![allow(clippy::unwrap_used, clippy::panic)]

use std::time::Duration;

use pn_b2bua::{AppEcho, CallFact, CustomerReply, EventType, XCall};
use pn_bindings::{AppId, Ask, Mode, RouteDecision};
use pn_sip::{Method, SipMessage};
use pn_test_support::router::FakeRouter;
use pn_test_support::script::*;
use serde_json::Value;

fn x_router() -> FakeRouter {
    let mut router = FakeRouter::new(RouteDecision::Ask(Ask {
        x: e164(X_NUM),
        app: AppId(1),
        record_allowed: true,
        caller: Some(e164(A_NUM)),
    }));
    router.app_echo = Some(AppEcho {
        app_key: "key-x".into(),
        mode: Mode::X,
    });
    router
}

/// A calls X: only 100 Trying, one Block ask, no fact yet. Returns the switch, A's INVITE and the ask's key.
fn asked(call_id: &str) -> (Switch, pn_sip::Request, XCall) {
    let mut sim = Switch::new(x_router());
    let invite = a_invite(&format!("z9hG4bK{call_id}"), call_id);
    let sent = sim.send_a(invite.clone());
    assert_eq!(summary(&sent), ["A<-100 INVITE"]);
    assert!(sim.facts.is_empty(), "the Block callin is not an outbox fact");
    assert_eq!(sim.asks.len(), 1);
    let ask = &sim.asks[0];
    assert_eq!(ask.app, AppId(1));
    let body: Value = serde_json::from_str(&ask.body).unwrap();
    assert_eq!(body["eventType"], "callin");
    assert_eq!(body["statusInfo"]["notifyMode"], "Block");
    assert_eq!(body["statusInfo"]["caller"], A_NUM);
    assert_eq!(body["statusInfo"]["called"], X_NUM);
    assert_eq!(body["statusInfo"]["origCalleeNum"], X_NUM);
    assert!(
        body["statusInfo"]["sessionId"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );
    let call = ask.call;
    (sim, invite, call)
}

fn reply(body: &str) -> CustomerReply {
    CustomerReply::Body(body.to_owned())
}

/// The `Reason` header of the final response A got.
fn final_to_a(sent: &[(pn_b2bua::Peer, SipMessage)]) -> (u16, String) {
    let (_, m) = sent
        .iter()
        .find(|(to, m)| *to == a_peer() && m.as_response().is_some_and(|r| r.status() >= 200))
        .unwrap();
    let r = response(m);
    (
        r.status(),
        r.headers().get("Reason").unwrap_or_default().to_owned(),
    )
}

fn events_json(sim: &Switch) -> Vec<Value> {
    sim.facts
        .iter()
        .filter(|f| matches!(f, CallFact::Event(_)))
        .map(|f| serde_json::to_value(f).unwrap())
        .collect()
}

#[test]
fn connect_places_the_b_leg_showing_x_with_the_replys_max_duration_and_user_data() {
    let (mut sim, _, call) = asked("x-connect");
    let sent = sim.customer_reply(
        call,
        reply(
            r#"{"operation":"connect","connectInfo":{"displayCalleeNum":"+8617000000000","calleeNum":"+8613900000002","maxDuration":2,"userData":"order-42"}}"#,
        ),
    );
    let b_inv = sent
        .iter()
        .find(|(to, m)| *to == b_peer() && m.as_request().is_some_and(|r| *r.method() == Method::Invite))
        .map(|(_, m)| request(m).clone())
        .unwrap();
    assert_eq!(b_inv.uri().user().unwrap(), B_NUM);
    assert_eq!(b_inv.headers().from().unwrap().uri().user().unwrap(), X_NUM);
    let sent = sim.send_b(b_response(&b_inv, 200, true));
    let ok = response(&sent[0].1).clone();
    assert_eq!(ok.status(), 200);
    sim.send_a(a_ack(&ok, "z9hG4bKx-connect-ack"));
    // maxDuration 2 minutes: released at 120 s with 8010, not before.
    assert!(sim.advance(Duration::from_secs(119)).is_empty());
    let sent = sim.advance(Duration::from_secs(1));
    // (then their retransmissions: nobody answers them here)
    assert_eq!(summary(&sent[..2]), ["A<-BYE", "B<-BYE"]);
    assert_eq!(sim.disconnect_code(), Some(8010));
    assert_eq!(
        sim.events(),
        [EventType::Callout, EventType::Answer, EventType::Disconnect]
    );
    for e in events_json(&sim) {
        assert_eq!(e["statusInfo"]["notifyMode"], "Notify", "{e}");
        assert_eq!(e["statusInfo"]["userData"], "order-42", "{e}");
        assert!(e["statusInfo"].get("subscriptionId").is_none(), "{e}");
    }
    let cdr = serde_json::to_value(sim.cdrs()[0]).unwrap();
    assert_eq!(cdr["serviceType"], "007");
    assert_eq!(cdr["appKey"], "key-x");
    assert_eq!(cdr["fwdDisplayNum"], X_NUM);
    assert_eq!(cdr["fwdDstNum"], B_NUM);
    assert_eq!(cdr["userData"], "order-42");
    assert_eq!(cdr["ulFailReason"], 8010);
    assert_eq!(sim.b2b.stats().xmode_decisions.get("connect"), Some(&1));
}

#[test]
fn a_callee_hang_up_is_call_rel_direction_2() {
    let (mut sim, _, call) = asked("x-rel");
    let sent = sim.customer_reply(
        call,
        reply(r#"{"operation":"connect","connectInfo":{"calleeNum":"13900000002"}}"#),
    );
    let b_inv = request(&sent.iter().find(|(to, _)| *to == b_peer()).unwrap().1).clone();
    let sent = sim.send_b(b_response(&b_inv, 200, true));
    let ok = response(&sent[0].1).clone();
    sim.send_a(a_ack(&ok, "z9hG4bKx-rel-ack"));
    sim.send_b(b_in_dialog(Method::Bye, &b_inv, 2, "z9hG4bKx-rel-bye"));
    assert_eq!(sim.disconnect_code(), Some(0));
    let disconnect = events_json(&sim)
        .into_iter()
        .find(|e| e["eventType"] == "disconnect")
        .unwrap();
    assert_eq!(disconnect["statusInfo"]["callRelDirection"], 2);
}

#[test]
fn close_ends_the_call_with_8017() {
    let (mut sim, _, call) = asked("x-close");
    let sent = sim.customer_reply(
        call,
        reply(r#"{"operation":"close","closeInfo":{"userData":"no"}}"#),
    );
    assert_eq!(summary(&sent), ["A<-603 INVITE"]);
    let (_, reason) = final_to_a(&sent);
    assert!(reason.contains("8017"), "{reason}");
    assert_eq!(sim.disconnect_code(), Some(8017));
    let cdr = serde_json::to_value(sim.cdrs()[0]).unwrap();
    assert_eq!(cdr["ulFailReason"], 8017);
    assert_eq!(cdr["serviceType"], "007");
    assert_eq!(cdr["userData"], "no");
    assert_eq!(sim.b2b.stats().xmode_decisions.get("close"), Some(&1));
    assert_eq!(sim.b2b.active_calls(), 0);
}

#[test]
fn a_bad_reply_ends_the_call_with_8014() {
    for body in [
        r#"{"operation":"connect","connectInfo":{"calleeNum":"+8613900000002","maxDuration":7200}}"#,
        r#"{"operation":"connect","connectInfo":{"maxDuration":10}}"#,
        "<html>oops</html>",
    ] {
        let (mut sim, _, call) = asked("x-bad");
        let sent = sim.customer_reply(call, reply(body));
        assert_eq!(summary(&sent), ["A<-404 INVITE"], "{body}");
        assert!(final_to_a(&sent).1.contains("8014"), "{body}");
        assert_eq!(sim.disconnect_code(), Some(8014));
        assert_eq!(sim.b2b.stats().xmode_decisions.get("invalid"), Some(&1));
    }
}

#[test]
fn a_display_number_other_than_x_is_8024() {
    let (mut sim, _, call) = asked("x-display");
    let sent = sim.customer_reply(
        call,
        reply(
            r#"{"operation":"connect","connectInfo":{"displayCalleeNum":"+8613800000001","calleeNum":"+8613900000002"}}"#,
        ),
    );
    assert_eq!(summary(&sent), ["A<-403 INVITE"]);
    assert_eq!(sim.disconnect_code(), Some(8024));
}

#[test]
fn no_reply_in_time_ends_the_call_with_8040_and_a_late_reply_is_ignored() {
    let (mut sim, _, call) = asked("x-timeout");
    // The default decision timeout is 3 s.
    assert!(sim.advance(Duration::from_millis(2_999)).is_empty());
    let sent = sim.advance(Duration::from_millis(1));
    assert_eq!(summary(&sent), ["A<-500 INVITE"]);
    assert!(final_to_a(&sent).1.contains("8040"));
    assert_eq!(sim.disconnect_code(), Some(8040));
    let facts = sim.facts.len();
    let sent = sim.customer_reply(
        call,
        reply(r#"{"operation":"connect","connectInfo":{"calleeNum":"+8613900000002"}}"#),
    );
    assert!(sent.is_empty());
    assert_eq!(sim.facts.len(), facts);
    assert_eq!(sim.b2b.stats().xmode_decisions.get("timeout"), Some(&1));
}

#[test]
fn a_failed_request_ends_the_call_with_8040() {
    let (mut sim, _, call) = asked("x-failed");
    let sent = sim.customer_reply(call, CustomerReply::Failed("HTTP 500".into()));
    assert_eq!(summary(&sent), ["A<-500 INVITE"]);
    assert_eq!(sim.disconnect_code(), Some(8040));
    assert_eq!(sim.b2b.stats().xmode_decisions.get("failed"), Some(&1));
    // The decision timer was disarmed with the ask.
    assert!(
        sim.advance(Duration::from_secs(5))
            .iter()
            .all(|(_, m)| m.as_request().is_none())
    );
    assert_eq!(sim.cdrs().len(), 1);
}

#[test]
fn a_reply_after_the_caller_hung_up_is_ignored() {
    let (mut sim, invite, call) = asked("x-cancel");
    let sent = sim.send_a(invite.cancel());
    assert_eq!(summary(&sent), ["A<-200 CANCEL", "A<-487 INVITE"]);
    assert_eq!(sim.disconnect_code(), Some(7516));
    let disconnect = events_json(&sim)
        .into_iter()
        .find(|e| e["eventType"] == "disconnect")
        .unwrap();
    assert_eq!(disconnect["statusInfo"]["callRelDirection"], 1);
    let facts = sim.facts.len();
    let sent = sim.customer_reply(
        call,
        reply(r#"{"operation":"connect","connectInfo":{"calleeNum":"+8613900000002"}}"#),
    );
    assert!(sent.is_empty(), "no B leg after the caller left");
    assert_eq!(sim.facts.len(), facts);
    assert!(sim.b2b.stats().xmode_decisions.is_empty());
    assert_eq!(sim.b2b.active_calls(), 0);
}

#[test]
fn waiting_calls_are_bounded_and_released_by_a_drain() {
    let mut config = config();
    config.xmode_max_pending = 1;
    let mut sim = Switch::with_config(x_router(), config);
    let first = a_invite("z9hG4bKxb1", "x-bound-1");
    assert_eq!(summary(&sim.send_a(first)), ["A<-100 INVITE"]);
    assert_eq!(sim.asks.len(), 1);
    // A second caller while the first waits: refused at once as overload (522), nothing asked.
    let sent = sim.send_a(a_invite("z9hG4bKxb2", "x-bound-2"));
    let (status, reason) = final_to_a(&sent);
    assert_eq!(status, 503, "{reason}");
    assert!(reason.contains("522"), "{reason}");
    assert_eq!(sim.asks.len(), 1, "no second ask");
    assert_eq!(sim.disconnect_code(), Some(522));
    // The switch stops before the customer answered: the waiting call ends with 7509, its CDR written.
    let (now, wall) = (sim.now, sim.wall);
    assert_eq!(
        sim.b2b.release_all(now, wall, pn_bindings::Cause::SHUTTING_DOWN),
        1
    );
    let sent = sim.drain();
    let (status, reason) = final_to_a(&sent);
    assert_eq!(status, 503, "{reason}");
    assert!(reason.contains("7509"), "{reason}");
    assert_eq!(sim.cdrs().len(), 2);
    // The customer's late answer finds nothing waiting.
    let call = sim.asks[0].call;
    let sent = sim.customer_reply(call, reply(r#"{"operation":"close"}"#));
    assert!(sent.is_empty(), "{:?}", summary(&sent));
}
