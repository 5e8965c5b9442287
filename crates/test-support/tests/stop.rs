//! The call-stop API's release (`B2bua::stop_call`, reference §2.5): an answered call gets a BYE on both
//! legs; a ringing one a CANCEL to B and 487 to A; a call collecting AXE digits releases A; another app's
//! call and an unknown or finished `sessionId` are left alone. Every stop ends with stateCode 8070 in the
//! disconnect event and the CDR.

#![allow(clippy::unwrap_used, clippy::panic, clippy::too_many_lines)]

use std::time::Duration;

use pn_b2bua::{CallFact, EventType, StopResult};
use pn_bindings::{AppId, CollectDigits, RouteDecision};
use pn_media::PortAllocator;
use pn_sip::{Method, Request, SipMessage};
use pn_test_support::script::*;

const STOPPED: u16 = 8070;
const APP: AppId = AppId(1);

/// The `sessionId` of the call's events.
fn session_id(sim: &Switch) -> String {
    sim.facts
        .iter()
        .find_map(|f| match f {
            CallFact::Event(e) => Some(e.status_info.session_id.clone()),
            CallFact::Cdr(_) | CallFact::Sms(_) => None,
        })
        .unwrap()
}

fn stop(sim: &mut Switch, app: AppId, session_id: &str) -> (StopResult, Vec<(pn_b2bua::Peer, SipMessage)>) {
    let result = sim.b2b.stop_call(sim.now, sim.wall, app, session_id);
    (result, sim.drain())
}

fn reason(m: &SipMessage) -> String {
    m.headers().get("Reason").unwrap_or_default().to_owned()
}

/// The disconnect event's stateCode and the CDR's `ulFailReason`, `sipStatusCode`.
fn outcome(sim: &Switch) -> (Option<u16>, u16, u16) {
    let cdrs = sim.cdrs();
    assert_eq!(cdrs.len(), 1, "one CDR");
    (
        sim.disconnect_code(),
        cdrs[0].ul_fail_reason,
        cdrs[0].sip_status_code,
    )
}

/// A→X→B answered and acknowledged: the B-leg INVITE and the 200 A got.
fn answered(sim: &mut Switch) -> (Request, pn_sip::Response) {
    let sent = sim.send_a(a_invite("z9hG4bKs1", "call-s-1"));
    let b_inv = request(&sent[1].1).clone();
    sim.send_b(b_response(&b_inv, 180, false));
    let sent = sim.send_b(b_response(&b_inv, 200, true));
    let ok = response(&sent[0].1).clone();
    sim.send_a(a_ack(&ok, "z9hG4bKs2"));
    (b_inv, ok)
}

#[test]
fn answered_call_gets_bye_on_both_legs() {
    let mut sim = Switch::new(router(0));
    answered(&mut sim);
    let sid = session_id(&sim);
    let (result, sent) = stop(&mut sim, APP, &sid);
    assert_eq!(result, StopResult::Stopped);
    assert_eq!(summary(&sent), ["A<-BYE", "B<-BYE"]);
    for (_, m) in &sent {
        assert_eq!(
            reason(m),
            "Q.850;cause=16;text=\"8070 The call was stopped by the platform API\""
        );
    }
    assert_eq!(
        sim.events(),
        [
            EventType::Callin,
            EventType::Callout,
            EventType::Alerting,
            EventType::Answer,
            EventType::Disconnect
        ]
    );
    assert_eq!(outcome(&sim), (Some(STOPPED), STOPPED, 0));
    assert!(sim.cdrs()[0].fwd_answer_time.is_some());
    assert_eq!(sim.b2b.active_calls(), 0);
    // Both legs answer their BYE; a second stop finds nothing.
    sim.send_a(a_response(request(&sent[0].1), 200));
    sim.send_b(b_response(request(&sent[1].1), 200, false));
    assert_eq!(stop(&mut sim, APP, &sid).0, StopResult::NotFound);
    sim.advance(Duration::from_secs(64));
    assert!(sim.b2b.load().is_idle(), "{:?}", sim.b2b.load());
}

#[test]
fn ringing_call_cancels_b_and_answers_a_487() {
    let mut sim = Switch::new(router(0));
    let sent = sim.send_a(a_invite("z9hG4bKs3", "call-s-3"));
    let b_inv = request(&sent[1].1).clone();
    assert_eq!(
        summary(&sim.send_b(b_response(&b_inv, 180, false))),
        ["A<-180 INVITE"]
    );
    let sid = session_id(&sim);
    let (result, sent) = stop(&mut sim, APP, &sid);
    assert_eq!(result, StopResult::Stopped);
    assert_eq!(summary(&sent), ["B<-CANCEL", "A<-487 INVITE"]);
    assert!(reason(&sent[1].1).contains("8070"), "{}", reason(&sent[1].1));
    assert_eq!(outcome(&sim), (Some(STOPPED), STOPPED, 487));
    // B confirms: 200 to the CANCEL, 487 to its INVITE (ACKed by the switch); nothing reaches A.
    let cancel = request(&sent[0].1).clone();
    assert!(sim.send_b(b_response(&cancel, 200, false)).is_empty());
    let sent = sim.send_b(b_response(&b_inv, 487, false));
    assert_eq!(summary(&sent), ["B<-ACK"]);
    assert_eq!(sim.b2b.active_calls(), 0);
}

#[test]
fn call_before_any_provisional_cancels_b_once_it_rings() {
    let mut sim = Switch::new(router(0));
    let sent = sim.send_a(a_invite("z9hG4bKs4", "call-s-4"));
    let b_inv = request(&sent[1].1).clone();
    let sid = session_id(&sim);
    let (result, sent) = stop(&mut sim, APP, &sid);
    assert_eq!(result, StopResult::Stopped);
    assert_eq!(summary(&sent), ["A<-487 INVITE"]);
    assert_eq!(
        summary(&sim.send_b(b_response(&b_inv, 100, false))),
        ["B<-CANCEL"]
    );
    assert_eq!(outcome(&sim), (Some(STOPPED), STOPPED, 487));
}

fn axe_switch(answer_before_collect: bool) -> Switch {
    let mut router = router(0);
    router.app.answer_before_collect = answer_before_collect;
    let connect = router.decision.clone();
    router.decision = RouteDecision::CollectDigits(CollectDigits {
        x: e164(X_NUM),
        app: APP,
        digits: 4,
        repeat: 2,
    });
    router.extensions.push(("1234".into(), connect));
    let mut sim = Switch::new(router);
    sim.b2b.enable_media_relay(
        "192.0.2.10".parse().unwrap(),
        PortAllocator::new(40_000, 40_099).unwrap(),
    );
    sim
}

#[test]
fn axe_collection_releases_a_with_487() {
    let mut sim = axe_switch(false);
    let sent = sim.send_a(a_invite("z9hG4bKs5", "call-s-5"));
    assert_eq!(summary(&sent), ["A<-100 INVITE", "A<-183 INVITE"]);
    let sid = session_id(&sim);
    let (result, sent) = stop(&mut sim, APP, &sid);
    assert_eq!(result, StopResult::Stopped);
    assert_eq!(summary(&sent), ["A<-487 INVITE"]);
    assert!(reason(&sent[0].1).contains("8070"));
    assert_eq!(sim.events(), [EventType::Callin, EventType::Disconnect]);
    assert_eq!(outcome(&sim), (Some(STOPPED), STOPPED, 487));
    // The relay is closed.
    assert!(
        sim.media
            .iter()
            .any(|m| matches!(m, pn_b2bua::MediaCommand::Close { .. }))
    );
}

#[test]
fn axe_collection_answered_by_the_switch_releases_a_with_bye() {
    let mut sim = axe_switch(true);
    let sent = sim.send_a(a_invite("z9hG4bKs6", "call-s-6"));
    assert_eq!(summary(&sent), ["A<-100 INVITE", "A<-200 INVITE"]);
    let ok = response(&sent[1].1).clone();
    sim.send_a(a_ack(&ok, "z9hG4bKs6ack"));
    let sid = session_id(&sim);
    let (result, sent) = stop(&mut sim, APP, &sid);
    assert_eq!(result, StopResult::Stopped);
    assert_eq!(summary(&sent), ["A<-BYE"]);
    assert!(reason(&sent[0].1).contains("8070"));
    assert_eq!(request(&sent[0].1).method(), &Method::Bye);
    assert_eq!(sim.disconnect_code(), Some(STOPPED));
}

#[test]
fn another_apps_call_is_left_alone() {
    let mut sim = Switch::new(router(0));
    answered(&mut sim);
    let sid = session_id(&sim);
    let (result, sent) = stop(&mut sim, AppId(2), &sid);
    assert_eq!(result, StopResult::OtherApp);
    assert!(sent.is_empty());
    assert_eq!(sim.b2b.active_calls(), 1);
    assert_eq!(sim.disconnect_code(), None);
}

#[test]
fn unknown_or_malformed_session_ids_find_nothing() {
    let mut sim = Switch::new(router(0));
    answered(&mut sim);
    let sid = session_id(&sim);
    // Same call id, another time or host: not this call.
    let (shard_and_id, _) = sid.rsplit_once('_').unwrap();
    for other in [
        format!("{shard_and_id}_19990101000000@pn.test"),
        sid.replace("@pn.test", "@other"),
        "3_999_20231114221320@pn.test".to_owned(),
        "garbage".to_owned(),
        String::new(),
    ] {
        let (result, sent) = stop(&mut sim, APP, &other);
        assert_eq!(result, StopResult::NotFound, "{other}");
        assert!(sent.is_empty());
    }
    assert_eq!(sim.b2b.active_calls(), 1);
    // A call that ended is not found either.
    let (result, _) = stop(&mut sim, APP, &sid);
    assert_eq!(result, StopResult::Stopped);
    assert_eq!(stop(&mut sim, APP, &sid).0, StopResult::NotFound);
}
