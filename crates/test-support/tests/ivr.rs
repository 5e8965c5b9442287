//! Relay mode, the switch answering A itself: AXE extension collection (INFO and media digits, wrong
//! extension, timeouts, abandon), prompts before a rejection, and the tones and recording of a
//! connected call.
//!
//! Moved from pn-b2bua's unit tests (`crates/b2bua/src/tests/`) onto [`pn_test_support::script::Switch`]:
//! they use only pn-b2bua's public API.

#![allow(clippy::unwrap_used, clippy::panic, clippy::too_many_lines)]

use std::time::Duration;

use pn_b2bua::{CallFact, EventType, MediaCall, MediaCommand, MediaEvent, Peer, PromptRef};
use pn_bindings::{AppId, CollectDigits, RouteDecision};
use pn_media::{Leg, PortAllocator};
use pn_sip::{Method, Request, SipMessage};
use pn_test_support::FakeRouter;
use pn_test_support::script::*;

fn relay(router: FakeRouter) -> Switch {
    let mut sim = Switch::new(router);
    sim.b2b.enable_media_relay(
        "192.0.2.10".parse().unwrap(),
        PortAllocator::new(40_000, 40_099).unwrap(),
    );
    sim
}

fn axe_router() -> FakeRouter {
    let mut router = router(0);
    let connect = router.decision.clone();
    router.decision = RouteDecision::CollectDigits(CollectDigits {
        x: e164(X_NUM),
        app: AppId(1),
        digits: 4,
        repeat: 2,
    });
    router.extensions.push(("1234".into(), connect));
    router
}

fn call_of(sim: &Switch) -> MediaCall {
    match sim.media.first() {
        Some(MediaCommand::Open { call, .. }) => *call,
        other => panic!("{other:?}"),
    }
}

/// The `(prompt name, leg, tag)` of every Play command so far.
fn plays(sim: &Switch) -> Vec<(String, Leg, u32)> {
    sim.media
        .iter()
        .filter_map(|m| match m {
            MediaCommand::Play {
                prompt: PromptRef { name, .. },
                leg,
                tag,
                ..
            } => Some((name.clone(), *leg, *tag)),
            _ => None,
        })
        .collect()
}

fn last_tag(sim: &Switch) -> u32 {
    plays(sim).last().unwrap().2
}

fn done(sim: &mut Switch, leg: Leg, tag: u32) -> Vec<(Peer, SipMessage)> {
    let call = call_of(sim);
    sim.b2b.handle_media_event(
        sim.now,
        sim.wall,
        MediaEvent::PlayDone { call, leg, tag },
        &sim.router,
    );
    sim.drain()
}

fn digit(sim: &mut Switch, d: char) -> Vec<(Peer, SipMessage)> {
    let call = call_of(sim);
    sim.b2b.handle_media_event(
        sim.now,
        sim.wall,
        MediaEvent::Digit {
            call,
            leg: Leg::A,
            digit: d,
        },
        &sim.router,
    );
    sim.drain()
}

/// INFO from A on the early dialog the 183 created.
fn info(early: &pn_sip::Response, cseq: u32, body: &str) -> Request {
    let h = early.headers();
    Request::builder(Method::Info, h.contacts().unwrap()[0].uri().clone())
        .via(&pn_sip::Via::new(
            "UDP",
            "192.0.2.1",
            Some(5060),
            &format!("z9hG4bKinfo{cseq}"),
        ))
        .from(&h.from().unwrap())
        .to(&h.to().unwrap())
        .call_id(h.call_id().unwrap())
        .cseq(cseq)
        .body("application/dtmf-relay", body.as_bytes().to_vec())
        .build()
        .unwrap()
}

#[test]
fn axe_collects_the_extension_by_info_and_connects() {
    let mut sim = relay(axe_router());
    let sent = sim.send_a(a_invite("z9hG4bKx1", "call-x-1"));
    assert_eq!(summary(&sent), ["A<-100 INVITE", "A<-183 INVITE"]);
    let early = response(&sent[1].1).clone();
    let sdp = String::from_utf8(early.body().to_vec()).unwrap();
    assert!(
        sdp.contains("c=IN IP4 192.0.2.10") && sdp.contains("m=audio 40000 RTP/AVP 8\r\n"),
        "{sdp}"
    );
    assert!(matches!(
        sim.media[2],
        MediaCommand::Detect {
            leg: Leg::A,
            inband: false,
            ..
        }
    ));
    assert_eq!(plays(&sim)[0].0, "enter_extension.wav");
    // Digits by INFO: the first stops the prompt, the fourth completes the extension.
    for (i, d) in ["1", "2", "3", "4"].iter().enumerate() {
        let sent = sim.send_a(info(
            &early,
            11 + i as u32,
            &format!("Signal={d}\r\nDuration=160\r\n"),
        ));
        assert_eq!(summary(&sent)[0], "A<-200 INFO");
        if i == 3 {
            assert_eq!(summary(&sent)[1], "B<-INVITE");
            let invite = request(&sent[1].1);
            let offer = String::from_utf8(invite.body().to_vec()).unwrap();
            assert!(offer.contains("m=audio 40002 RTP/AVP 8\r\n"), "{offer}");
        }
    }
    assert!(
        sim.media
            .iter()
            .any(|m| matches!(m, MediaCommand::StopPlay { leg: Leg::A, .. }))
    );
    assert!(
        sim.media
            .iter()
            .any(|m| matches!(m, MediaCommand::StopDetect { leg: Leg::A, .. }))
    );
    assert_eq!(
        sim.events(),
        [EventType::Callin, EventType::CollectInfo, EventType::Callout]
    );
    let collect = sim.facts.iter().find_map(|f| match f {
        CallFact::Event(e) if e.event_type == EventType::CollectInfo => e.status_info.digit_info.clone(),
        _ => None,
    });
    assert_eq!(collect.as_deref(), Some("1234"));
}

#[test]
fn axe_media_digits_wrong_extension_then_timeouts_end_with_8033() {
    let mut router = axe_router();
    router.decision = RouteDecision::CollectDigits(CollectDigits {
        x: e164(X_NUM),
        app: AppId(1),
        digits: 4,
        repeat: 3,
    });
    let mut sim = relay(router);
    sim.send_a(a_invite("z9hG4bKx2", "call-x-2"));
    let first = last_tag(&sim);
    done(&mut sim, Leg::A, first);
    // 9 9 # : the terminator ends a wrong extension → invalid prompt, then the extension prompt again.
    digit(&mut sim, '9');
    digit(&mut sim, '9');
    digit(&mut sim, '#');
    assert_eq!(plays(&sim).last().unwrap().0, "invalid_extension.wav");
    let invalid = last_tag(&sim);
    done(&mut sim, Leg::A, invalid);
    assert_eq!(plays(&sim).last().unwrap().0, "enter_extension.wav");
    let again = last_tag(&sim);
    done(&mut sim, Leg::A, again);
    // No digit: the first-digit timeout (10 s) repeats the prompt once more, then 8033.
    let sent = sim.advance(Duration::from_secs(11));
    assert!(sent.is_empty());
    assert_eq!(plays(&sim).len(), 4);
    let last = last_tag(&sim);
    done(&mut sim, Leg::A, last);
    let sent = sim.advance(Duration::from_secs(11));
    // 8033 maps to 484 Address Incomplete (retransmitted until A's ACK).
    assert_eq!(summary(&sent)[0], "A<-484 INVITE");
    let reason = response(&sent[0].1).headers().get("Reason").unwrap().to_owned();
    assert!(reason.contains("8033"), "{reason}");
    assert_eq!(sim.disconnect_code(), Some(8033));
    assert!(matches!(sim.media.last(), Some(MediaCommand::Close { .. })));
    let digits: Vec<_> = sim
        .facts
        .iter()
        .filter_map(|f| match f {
            CallFact::Event(e) if e.event_type == EventType::CollectInfo => e.status_info.digit_info.clone(),
            _ => None,
        })
        .collect();
    assert_eq!(digits, ["99", "", ""]);
}

#[test]
fn axe_inter_digit_timeout_submits_what_was_keyed() {
    let mut sim = relay(axe_router());
    sim.send_a(a_invite("z9hG4bKx3", "call-x-3"));
    digit(&mut sim, '1');
    digit(&mut sim, '2');
    let sent = sim.advance(Duration::from_secs(6));
    assert!(sent.is_empty(), "{:?}", summary(&sent));
    assert_eq!(plays(&sim).last().unwrap().0, "invalid_extension.wav");
    assert_eq!(sim.router.asked.borrow().len(), 2);
}

#[test]
fn caller_leaving_during_collection_is_7516() {
    let mut sim = relay(axe_router());
    let invite = a_invite("z9hG4bKx4", "call-x-4");
    sim.send_a(invite.clone());
    let sent = sim.send_a(invite.cancel());
    assert_eq!(summary(&sent), ["A<-200 CANCEL", "A<-487 INVITE"]);
    assert_eq!(sim.disconnect_code(), Some(7516));
}

#[test]
fn axe_without_media_plane_is_refused_with_8008() {
    let mut sim = Switch::new(axe_router());
    let sent = sim.send_a(a_invite("z9hG4bKx5", "call-x-5"));
    assert_eq!(summary(&sent), ["A<-100 INVITE", "A<-500 INVITE"]);
    assert_eq!(sim.disconnect_code(), Some(8008));
}

#[test]
fn prompt_before_rejection_keeps_the_cause() {
    let mut router = reject(8014);
    router.app.no_binding = Some("no_binding.wav".into());
    let mut sim = relay(router);
    let sent = sim.send_a(a_invite("z9hG4bKx6", "call-x-6"));
    assert_eq!(summary(&sent), ["A<-100 INVITE", "A<-183 INVITE"]);
    assert_eq!(
        plays(&sim),
        [("no_binding.wav".to_owned(), Leg::A, plays(&sim)[0].2)]
    );
    // Digits do not matter here.
    digit(&mut sim, '5');
    let tag = last_tag(&sim);
    let sent = done(&mut sim, Leg::A, tag);
    assert_eq!(summary(&sent), ["A<-404 INVITE"]);
    assert!(
        response(&sent[0].1)
            .headers()
            .get("Reason")
            .unwrap()
            .contains("8014")
    );
    assert_eq!(sim.disconnect_code(), Some(8014));
    // Without a prompt for the category, the rejection is immediate.
    let mut sim = relay(reject(8014));
    let sent = sim.send_a(a_invite("z9hG4bKx7", "call-x-7"));
    assert_eq!(summary(&sent), ["A<-100 INVITE", "A<-404 INVITE"]);
}

fn answered(sim: &mut Switch, call_id: &str) -> (Request, pn_sip::Response) {
    let sent = sim.send_a(a_invite(&format!("z9hG4bK{call_id}"), call_id));
    let invite = sent
        .iter()
        .find(|(to, _)| *to == b_peer())
        .map(|(_, m)| request(m).clone())
        .unwrap();
    let sent = sim.send_b(b_response(&invite, 200, true));
    let ok = sent
        .iter()
        .find(|(to, m)| *to == a_peer() && m.as_response().is_some_and(|r| r.status() == 200))
        .map(|(_, m)| response(m).clone())
        .unwrap();
    sim.send_a(a_ack(&ok, "z9hG4bKack"));
    (invite, ok)
}

#[test]
fn recorded_call_plays_the_notice_then_records_and_keeps_a_long_recording() {
    let mut router = router(0);
    if let RouteDecision::Connect(c) = &mut router.decision {
        c.record = true;
    }
    router.prompts.record_hint = Some("record_notice.wav".into());
    let mut sim = relay(router);
    let (_, ok) = answered(&mut sim, "call-r-1");
    let p = plays(&sim);
    assert_eq!(p.len(), 2);
    assert!(p.iter().all(|(n, _, _)| n == "record_notice.wav"));
    assert!(!sim.media.iter().any(|m| matches!(m, MediaCommand::Record { .. })));
    done(&mut sim, Leg::A, p[0].2);
    done(&mut sim, Leg::B, p[1].2);
    let object = sim
        .media
        .iter()
        .find_map(|m| match m {
            MediaCommand::Record { object, .. } => Some(object.clone()),
            _ => None,
        })
        .unwrap();
    sim.advance(Duration::from_secs(5));
    sim.send_a(a_in_dialog(&Method::Bye, &ok, 11, "z9hG4bKbye"));
    assert!(matches!(
        sim.media.last(),
        Some(MediaCommand::Close {
            keep_recording: true,
            ..
        })
    ));
    let cdr = sim.cdrs()[0].clone();
    assert_eq!(cdr.record_flag, 1);
    assert_eq!(cdr.record_object_name.as_deref(), Some(object.as_str()));
    assert!(cdr.record_start_time.is_some());
}

#[test]
fn short_recording_keeps_no_file() {
    let mut router = router(0);
    if let RouteDecision::Connect(c) = &mut router.decision {
        c.record = true;
    }
    let mut sim = relay(router);
    let (_, ok) = answered(&mut sim, "call-r-2");
    assert!(sim.media.iter().any(|m| matches!(m, MediaCommand::Record { .. })));
    sim.advance(Duration::from_secs(2));
    sim.send_a(a_in_dialog(&Method::Bye, &ok, 11, "z9hG4bKbye2"));
    assert!(matches!(
        sim.media.last(),
        Some(MediaCommand::Close {
            keep_recording: false,
            ..
        })
    ));
    let cdr = sim.cdrs()[0].clone();
    assert_eq!((cdr.record_flag, cdr.record_object_name), (0, None));
}

#[test]
fn last_minute_voice_plays_to_both_and_caller_hint_until_answer() {
    let mut router = router(120);
    router.prompts.last_min_voice = Some("last_minute.wav".into());
    router.prompts.caller_hint = Some("please_wait.wav".into());
    let mut sim = relay(router);
    let sent = sim.send_a(a_invite("z9hG4bKl1", "call-l-1"));
    assert_eq!(summary(&sent), ["A<-100 INVITE", "B<-INVITE", "A<-183 INVITE"]);
    assert_eq!(plays(&sim)[0].0, "please_wait.wav");
    let invite = request(&sent[1].1).clone();
    let sent = sim.send_b(b_response(&invite, 200, true));
    let ok = sent
        .iter()
        .find_map(|(to, m)| (*to == a_peer()).then(|| response(m).clone()))
        .unwrap();
    sim.send_a(a_ack(&ok, "z9hG4bKackl"));
    assert!(
        sim.media
            .iter()
            .any(|m| matches!(m, MediaCommand::StopPlay { leg: Leg::A, .. }))
    );
    sim.advance(Duration::from_secs(61));
    let p = plays(&sim);
    assert_eq!(p.len(), 3, "{p:?}");
    assert_eq!((p[1].0.as_str(), p[1].1), ("last_minute.wav", Leg::A));
    assert_eq!((p[2].0.as_str(), p[2].1), ("last_minute.wav", Leg::B));
}

#[test]
fn relay_that_cannot_open_releases_the_call_with_7508() {
    let mut sim = relay(router(0));
    let sent = sim.send_a(a_invite("z9hG4bKo1", "call-o-1"));
    let invite = request(&sent[1].1).clone();
    let call = call_of(&sim);
    sim.b2b.handle_media_event(
        sim.now,
        sim.wall,
        MediaEvent::OpenFailed {
            call,
            unbindable: [None, None],
        },
        &sim.router,
    );
    let sent = sim.drain();
    assert_eq!(summary(&sent), ["A<-503 INVITE"]);
    assert!(
        response(&sent[0].1)
            .headers()
            .get("Reason")
            .unwrap()
            .contains("7508")
    );
    // B is cancelled as soon as it rings.
    let sent = sim.send_b(b_response(&invite, 180, false));
    assert_eq!(summary(&sent), ["B<-CANCEL"]);
    assert_eq!(sim.disconnect_code(), Some(7508));
    assert!(matches!(sim.media.last(), Some(MediaCommand::Close { .. })));
    // An AXE call the switch answers itself is refused the same way.
    let mut sim = relay(axe_router());
    sim.send_a(a_invite("z9hG4bKo2", "call-o-2"));
    let call = call_of(&sim);
    sim.b2b.handle_media_event(
        sim.now,
        sim.wall,
        MediaEvent::OpenFailed {
            call,
            unbindable: [None, None],
        },
        &sim.router,
    );
    assert_eq!(summary(&sim.drain()), ["A<-503 INVITE"]);
}

#[test]
fn answer_before_collect_answers_a_then_bridges_without_relaying_b_responses() {
    let mut router = axe_router();
    router.app.answer_before_collect = true;
    let mut sim = relay(router);
    let sent = sim.send_a(a_invite("z9hG4bKf1", "call-f-1"));
    assert_eq!(summary(&sent), ["A<-100 INVITE", "A<-200 INVITE"]);
    let ok = response(&sent[1].1).clone();
    assert!(String::from_utf8_lossy(ok.body()).contains("m=audio 40000 RTP/AVP 8"));
    // A's ACK is absorbed: nothing goes anywhere.
    assert!(sim.send_a(a_ack(&ok, "z9hG4bKf1ack")).is_empty());
    for d in ['1', '2', '3'] {
        digit(&mut sim, d);
    }
    // The fourth digit completes the extension and places the B leg.
    let sent = digit(&mut sim, '4');
    let invite = sent
        .iter()
        .find(|(to, _)| *to == b_peer())
        .map(|(_, m)| request(m).clone())
        .expect("the B-leg INVITE");
    // B rings and answers: A hears nothing of it in SIP; the switch ACKs B itself.
    assert!(sim.send_b(b_response(&invite, 180, false)).is_empty());
    let sent = sim.send_b(b_response(&invite, 200, true));
    assert_eq!(summary(&sent), ["B<-ACK"]);
    assert_eq!(
        sim.events(),
        [
            EventType::Callin,
            EventType::CollectInfo,
            EventType::Callout,
            EventType::Alerting,
            EventType::Answer
        ]
    );
    // A hangs up: B gets the BYE, the call ends normally.
    let sent = sim.send_a(a_in_dialog(&Method::Bye, &ok, 11, "z9hG4bKf1bye"));
    assert_eq!(summary(&sent), ["A<-200 BYE", "B<-BYE"]);
}

#[test]
fn answer_before_collect_refusal_is_a_bye() {
    let mut router = axe_router();
    router.app.answer_before_collect = true;
    router.decision = RouteDecision::CollectDigits(CollectDigits {
        x: e164(X_NUM),
        app: AppId(1),
        digits: 4,
        repeat: 1,
    });
    let mut sim = relay(router);
    let sent = sim.send_a(a_invite("z9hG4bKf2", "call-f-2"));
    let ok = response(&sent[1].1).clone();
    sim.send_a(a_ack(&ok, "z9hG4bKf2ack"));
    let tag = last_tag(&sim);
    done(&mut sim, Leg::A, tag);
    let sent = sim.advance(Duration::from_secs(11));
    // The BYE (retransmitted until A answers it) carries the cause.
    assert_eq!(summary(&sent)[0], "A<-BYE");
    assert!(
        request(&sent[0].1)
            .headers()
            .get("Reason")
            .unwrap()
            .contains("8033")
    );
    assert_eq!(sim.disconnect_code(), Some(8033));
}
