//! Exact message sequences of call flows.
//!
//! Moved from pn-b2bua's unit tests (`crates/b2bua/src/tests/`) onto [`pn_test_support::script::Switch`]:
//! they use only pn-b2bua's public API.

#![allow(clippy::unwrap_used, clippy::panic, clippy::too_many_lines)]

use std::time::Duration;

use pn_b2bua::EventType::{Alerting, Answer, Callin, Callout, Disconnect};
use pn_b2bua::{Peer, Transport};
use pn_sip::{Method, Request, Response, SipMessage};
use pn_test_support::script::*;

/// A→X→B up to the ACK relayed to B: returns the B-leg INVITE and the 200 A got.
fn answered(max_duration_secs: u32) -> (Switch, Request, Response) {
    let mut sim = Switch::new(router(max_duration_secs));
    let sent = sim.send_a(a_invite("z9hG4bKa1", "call-a-1"));
    assert_eq!(summary(&sent), ["A<-100 INVITE", "B<-INVITE"]);
    let b_inv = request(&sent[1].1).clone();
    assert_eq!(
        summary(&sim.send_b(b_response(&b_inv, 100, false))),
        Vec::<String>::new()
    );
    assert_eq!(
        summary(&sim.send_b(b_response(&b_inv, 180, false))),
        ["A<-180 INVITE"]
    );
    let sent = sim.send_b(b_response(&b_inv, 200, true));
    assert_eq!(summary(&sent), ["A<-200 INVITE"]);
    let ok = response(&sent[0].1).clone();
    assert_eq!(summary(&sim.send_a(a_ack(&ok, "z9hG4bKa2"))), ["B<-ACK"]);
    assert_eq!(sim.b2b.active_calls(), 1);
    (sim, b_inv, ok)
}

/// Timers K and J run out: afterwards the switch holds nothing of the call.
fn assert_all_gone(sim: &mut Switch) {
    sim.advance(Duration::from_secs(64));
    let load = sim.b2b.load();
    assert!(load.is_idle(), "calls, dialogs or transactions left: {load:?}");
    assert_eq!(sim.b2b.poll_timeout(), None);
    assert_eq!(sim.b2b.active_calls(), 0);
}

#[test]
fn no_response_from_b_is_timer_b() {
    let mut sim = Switch::new(router(0));
    sim.send_a(a_invite("z9hG4bKa1", "c-silent"));
    let sent = sim.advance(Duration::from_millis(500));
    assert_eq!(summary(&sent), ["B<-INVITE"]);
    assert_eq!(sim.b2b.stats().retransmissions_sent, 1);
    let sent = sim.advance(Duration::from_secs(32));
    assert_eq!(summary(&sent).last().unwrap(), "A<-480 INVITE");
    assert_eq!(sim.disconnect_code(), Some(8101));
}

fn cancel_for(invite: &Request) -> Request {
    let mut cancel = invite.cancel();
    cancel
        .headers_mut()
        .set("Via", "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKa1");
    cancel
}

#[test]
fn cancel_before_any_provisional_waits_for_one() {
    let mut sim = Switch::new(router(0));
    let inv = a_invite("z9hG4bKa1", "c-cancel0");
    let sent = sim.send_a(inv.clone());
    let b_inv = request(&sent[1].1).clone();
    let sent = sim.send_a(cancel_for(&inv));
    assert_eq!(summary(&sent), ["A<-200 CANCEL", "A<-487 INVITE"]);
    assert_eq!(
        summary(&sim.send_b(b_response(&b_inv, 100, false))),
        ["B<-CANCEL"]
    );
    assert_eq!(sim.disconnect_code(), Some(7501));
}

#[test]
fn reinvite_relayed_both_ways() {
    let (mut sim, b_inv, ok) = answered(0);
    let sent = sim.send_a(a_in_dialog(&Method::Invite, &ok, 11, "z9hG4bKa4"));
    assert_eq!(summary(&sent), ["A<-100 INVITE", "B<-INVITE"]);
    let b_re = request(&sent[1].1).clone();
    assert_eq!(b_re.headers().cseq().unwrap().to_string(), "2 INVITE");
    assert_eq!(
        b_re.headers().call_id().unwrap(),
        b_inv.headers().call_id().unwrap()
    );
    assert_eq!(b_re.headers().to().unwrap().tag(), Some("b-tag"));
    let sdp = String::from_utf8(b_re.body().to_vec()).unwrap();
    assert!(sdp.contains(" 2 IN IP4 192.0.2.10"), "version increments: {sdp}");
    let sent = sim.send_b(b_response(&b_re, 200, true));
    assert_eq!(summary(&sent), ["A<-200 INVITE"]);
    let ok2 = response(&sent[0].1).clone();
    let sent = sim.send_a(a_ack(&ok2, "z9hG4bKa5"));
    assert_eq!(summary(&sent), ["B<-ACK"]);
    assert_eq!(request(&sent[0].1).headers().cseq().unwrap().to_string(), "2 ACK");
    // B puts A on hold: re-INVITE from B.
    let mut hold = b_in_dialog(Method::Invite, &b_inv, 2, "z9hG4bKb5");
    hold.set_body(
        Some("application/sdp"),
        SDP_B.replace("a=rtpmap", "a=sendonly\r\na=rtpmap").into_bytes(),
    );
    let sent = sim.send_b(hold.clone());
    assert_eq!(summary(&sent), ["B<-100 INVITE", "A<-INVITE"]);
    let a_re = request(&sent[1].1).clone();
    assert_eq!(a_re.headers().call_id().unwrap(), "call-a-1");
    assert!(String::from_utf8_lossy(a_re.body()).contains("a=sendonly"));
    let sent = sim.send_a(a_response(&a_re, 200));
    assert_eq!(summary(&sent), ["B<-200 INVITE"]);
    let ok3 = response(&sent[0].1).clone();
    let mut ack = b_in_dialog(Method::Ack, &b_inv, 2, "z9hG4bKb6");
    ack.headers_mut().set("To", ok3.headers().get("To").unwrap());
    assert_eq!(summary(&sim.send_b(ack)), ["A<-ACK"]);
    // UPDATE and INFO are relayed too.
    let sent = sim.send_a(a_in_dialog(&Method::Info, &ok, 12, "z9hG4bKa6"));
    assert_eq!(summary(&sent), ["B<-INFO"]);
    let sent = sim.send_b(b_response(request(&sent[0].1), 200, false));
    assert_eq!(summary(&sent), ["A<-200 INFO"]);
    assert_eq!(sim.events(), [Callin, Callout, Alerting, Answer]);
}

#[test]
fn options_answered_locally() {
    let mut sim = Switch::new(router(0));
    let raw = "OPTIONS sip:192.0.2.10:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKo1\r\n\
From: <sip:ping@192.0.2.1>;tag=1\r\nTo: <sip:192.0.2.10>\r\nCall-ID: ka-1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";
    let sent = sim.send_a(Request::parse(raw.as_bytes()).unwrap());
    assert_eq!(summary(&sent), ["A<-200 OPTIONS"]);
    assert!(
        response(&sent[0].1)
            .headers()
            .get("Allow")
            .unwrap()
            .contains("INVITE")
    );
    assert!(sim.facts.is_empty());
}

#[test]
fn untrusted_source_gets_403_and_nothing_is_routed() {
    let mut sim = Switch::new(router(0));
    let stranger = Peer {
        addr: "198.51.100.99:5060".parse().unwrap(),
        transport: Transport::Udp,
    };
    let sent = sim.input(stranger, SipMessage::Request(a_invite("z9hG4bKa1", "c-acl")));
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, stranger);
    let r = response(&sent[0].1);
    assert_eq!(r.status(), 403);
    assert!(r.headers().get("Reason").unwrap().starts_with("Q.850;cause=21"));
    assert!(sim.router.asked.borrow().is_empty());
    assert!(sim.facts.is_empty());
    assert_eq!(sim.b2b.stats().acl_rejects, 1);
    assert_eq!(sim.b2b.active_calls(), 0);
}

#[test]
fn every_reject_cause_maps_to_its_status_and_reason() {
    for (cause, status) in [
        (8023, 403),
        (8014, 404),
        (8016, 403),
        (8013, 480),
        (8019, 404),
        (8022, 404),
        (8025, 404),
        (8030, 404),
        (8032, 403),
        (8042, 403),
        (8043, 403),
        (8055, 480),
        (8104, 480),
        (7102, 503),
        (8031, 500),
    ] {
        let mut sim = Switch::new(reject(cause));
        let sent = sim.send_a(a_invite("z9hG4bKa1", "c-rej"));
        assert_eq!(
            summary(&sent),
            ["A<-100 INVITE".to_owned(), format!("A<-{status} INVITE")],
            "{cause}"
        );
        let r = response(&sent[1].1);
        let reason = r.headers().get("Reason").unwrap();
        let m = pn_b2bua::reject_mapping(pn_bindings::Cause(cause));
        assert_eq!(
            reason,
            format!("Q.850;cause={};text=\"{cause} {}\"", m.q850, m.text)
        );
        assert_eq!(sim.events(), [Callin, Disconnect], "{cause}");
        assert_eq!(sim.disconnect_code(), Some(cause));
        let cdr = sim.cdrs()[0].clone();
        assert_eq!(
            (cdr.direction, cdr.ul_fail_reason, cdr.sip_status_code),
            (2, cause, status)
        );
        assert_eq!(
            sim.router.asked.borrow().as_slice(),
            [(Some(e164(A_NUM)), e164(X_NUM))]
        );
    }
}

#[test]
fn max_duration_releases_both_legs() {
    let (mut sim, _b_inv, _ok) = answered(120);
    assert!(sim.advance(Duration::from_secs(60)).is_empty());
    assert_eq!(sim.b2b.stats().last_minute_hooks, 1);
    let sent = sim.advance(Duration::from_secs(60));
    assert_eq!(summary(&sent), ["A<-BYE", "B<-BYE"]);
    for (_, bye) in &sent {
        let reason = bye.headers().get("Reason").unwrap_or_default();
        assert!(reason.starts_with("Q.850;cause=16;text=\"8010 "), "{reason}");
    }
    assert_eq!(sim.disconnect_code(), Some(8010));
    let cdr = sim.cdrs()[0].clone();
    assert_eq!(cdr.ul_fail_reason, 8010);
    assert!(cdr.fwd_answer_time.is_some());
    assert_eq!(sim.b2b.active_calls(), 0);
}

#[test]
fn retransmitted_invite_is_absorbed() {
    let mut sim = Switch::new(router(0));
    let inv = a_invite("z9hG4bKa1", "c-rtx");
    let sent = sim.send_a(inv.clone());
    let b_inv = request(&sent[1].1).clone();
    assert_eq!(summary(&sim.send_a(inv.clone())), ["A<-100 INVITE"]);
    sim.send_b(b_response(&b_inv, 180, false));
    assert_eq!(summary(&sim.send_a(inv)), ["A<-180 INVITE"]);
    assert_eq!(sim.router.asked.borrow().len(), 1);
    assert_eq!(sim.b2b.stats().retransmissions_received, 2);
    assert_eq!(sim.facts.len(), 3); // callin, callout, alerting
}

#[test]
fn odd_input() {
    let mut sim = Switch::new(router(0));
    // Missing Call-ID → 400.
    let raw = format!(
        "INVITE sip:{X_NUM}@192.0.2.10 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKq\r\n\
From: <sip:{A_NUM}@a>;tag=1\r\nTo: <sip:{X_NUM}@b>\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
    );
    let sent = sim.send_a(Request::parse(raw.as_bytes()).unwrap());
    assert_eq!(response(&sent[0].1).status(), 400);
    // A BYE for no dialog → 481.
    let raw = format!(
        "BYE sip:{X_NUM}@192.0.2.10 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKr\r\n\
From: <sip:{A_NUM}@a>;tag=1\r\nTo: <sip:{X_NUM}@b>;tag=zz\r\nCall-ID: nope\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
    );
    assert_eq!(
        summary(&sim.send_a(Request::parse(raw.as_bytes()).unwrap())),
        ["A<-481 BYE"]
    );
    // A stray response is dropped.
    let stray = Response::parse(
        b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-pn3-x\r\nFrom: <sip:a@b>;tag=1\r\n\
To: <sip:c@d>;tag=2\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
    )
    .unwrap();
    assert!(sim.send_b(stray).is_empty());
    // Unroutable R-URI user → 8014 → 404.
    let mut inv = a_invite("z9hG4bKa9", "c-bad");
    inv.set_uri(pn_sip::Uri::parse("sip:nobody@192.0.2.10").unwrap());
    let sent = sim.send_a(inv);
    assert_eq!(summary(&sent), ["A<-100 INVITE", "A<-404 INVITE"]);
    let s = sim.b2b.stats();
    assert_eq!(
        (s.validation_rejects, s.unmatched_requests, s.stray_responses),
        (1, 1, 1)
    );
    assert!(sim.router.asked.borrow().is_empty());
}

#[test]
fn missing_ack_from_a_releases_both_legs() {
    let mut sim = Switch::new(router(0));
    let sent = sim.send_a(a_invite("z9hG4bKa1", "c-noack"));
    let b_inv = request(&sent[1].1).clone();
    let sent = sim.send_b(b_response(&b_inv, 200, true));
    assert_eq!(summary(&sent), ["A<-200 INVITE"]);
    let sent = summary(&sim.advance(Duration::from_secs(33)));
    assert!(
        sent.iter().filter(|s| *s == "A<-200 INVITE").count() >= 5,
        "{sent:?}"
    );
    // Timer L (64·T1) fires at 32 s: ACK B's 2xx, then BYE both legs (retransmitted after that).
    let at = sent.iter().position(|s| s == "B<-ACK").unwrap();
    assert_eq!(sent[at..at + 3], ["B<-ACK", "A<-BYE", "B<-BYE"]);
    assert_eq!(sim.disconnect_code(), Some(7505));
    assert_eq!(sim.cdrs().len(), 1);
}

#[test]
fn refused_new_calls_get_503_with_retry_after_while_calls_up_continue() {
    let (mut sim, _b_inv, ok) = answered(0);
    let refusal = pn_b2bua::Refusal {
        cause: pn_bindings::Cause::CALL_FACTS_UNSTORABLE,
        retry_after_secs: 30,
    };
    sim.b2b.refuse_new_calls(Some(refusal));
    assert_eq!(sim.b2b.refusal(), Some(refusal));
    let facts_before = sim.facts.len();

    // A new call: refused at once, no 100 Trying, no B leg, no route decision, no facts.
    let inv = a_invite("z9hG4bKn1", "c-refused");
    let sent = sim.send_a(inv.clone());
    assert_eq!(summary(&sent), ["A<-503 INVITE"]);
    let r = response(&sent[0].1);
    assert_eq!(r.reason(), "Service Unavailable");
    assert_eq!(
        r.headers().get("Reason"),
        Some("Q.850;cause=41;text=\"7102 Call records cannot be stored\"")
    );
    assert_eq!(r.headers().get("Retry-After"), Some("30"));
    assert!(r.headers().to().unwrap().tag().is_some());
    // A retransmitted INVITE gets the same answer from the transaction, not a second refusal.
    assert_eq!(summary(&sim.send_a(inv)), ["A<-503 INVITE"]);
    assert_eq!(
        sim.router.asked.borrow().len(),
        1,
        "only the first call was routed"
    );
    assert_eq!(sim.facts.len(), facts_before);
    assert_eq!(sim.b2b.stats().calls_refused, 1);
    assert_eq!(sim.b2b.active_calls(), 1);

    // The call already up goes on and reports its end.
    let sent = sim.send_a(a_in_dialog(&Method::Bye, &ok, 11, "z9hG4bKa3"));
    assert_eq!(summary(&sent), ["A<-200 BYE", "B<-BYE"]);
    assert!(sim.send_b(b_response(request(&sent[1].1), 200, false)).is_empty());
    assert_eq!(sim.events(), [Callin, Callout, Alerting, Answer, Disconnect]);
    assert_eq!(sim.cdrs().len(), 1);

    // Without Retry-After when 0; accepted again once lifted.
    sim.b2b.refuse_new_calls(Some(pn_b2bua::Refusal {
        retry_after_secs: 0,
        ..refusal
    }));
    let sent = sim.send_a(a_invite("z9hG4bKn2", "c-refused-2"));
    assert_eq!(response(&sent[0].1).headers().get("Retry-After"), None);
    sim.b2b.refuse_new_calls(None);
    let sent = sim.send_a(a_invite("z9hG4bKn3", "c-accepted"));
    assert_eq!(summary(&sent), ["A<-100 INVITE", "B<-INVITE"]);
    assert_eq!(sim.b2b.stats().calls_refused, 2);
}

#[test]
fn a_node_whose_table_is_not_caught_up_refuses_invites_and_probes_but_keeps_its_calls() {
    let (mut sim, _b_inv, ok) = answered(0);
    let refusal = pn_b2bua::Refusal {
        cause: pn_bindings::Cause::TABLE_NOT_CAUGHT_UP,
        retry_after_secs: 2,
    };
    sim.b2b.refuse_new_calls(Some(refusal));
    let sent = sim.send_a(a_invite("z9hG4bKu1", "c-unsynced"));
    assert_eq!(summary(&sent), ["A<-503 INVITE"]);
    let r = response(&sent[0].1);
    assert_eq!(
        r.headers().get("Reason"),
        Some("Q.850;cause=41;text=\"7510 Routing table not caught up\"")
    );
    assert_eq!(r.headers().get("Retry-After"), Some("2"));
    // The front's probe takes the node out.
    let raw = "OPTIONS sip:192.0.2.10:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKo7\r\n\
From: <sip:ping@192.0.2.1>;tag=1\r\nTo: <sip:192.0.2.10>\r\nCall-ID: ka-7\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";
    let sent = sim.send_a(Request::parse(raw.as_bytes()).unwrap());
    assert_eq!(summary(&sent), ["A<-503 OPTIONS"]);
    assert_eq!(response(&sent[0].1).headers().get("Retry-After"), Some("2"));
    // The call already up goes on.
    let sent = sim.send_a(a_in_dialog(&Method::Bye, &ok, 11, "z9hG4bKa3"));
    assert_eq!(summary(&sent), ["A<-200 BYE", "B<-BYE"]);
    // Caught up: probes and calls are taken again.
    sim.b2b.refuse_new_calls(None);
    let raw = raw.replace("z9hG4bKo7", "z9hG4bKo8").replace("ka-7", "ka-8");
    assert_eq!(
        summary(&sim.send_a(Request::parse(raw.as_bytes()).unwrap())),
        ["A<-200 OPTIONS"]
    );
    let sent = sim.send_a(a_invite("z9hG4bKu2", "c-synced"));
    assert_eq!(summary(&sent), ["A<-100 INVITE", "B<-INVITE"]);
}

#[test]
fn axb_answered_then_bye_from_a() {
    let (mut sim, b_inv, ok) = answered(0);
    // The B-leg INVITE is built from scratch.
    assert_eq!(b_inv.uri().to_string(), format!("sip:{B_NUM}@192.0.2.50:5060"));
    let h = b_inv.headers();
    assert_eq!(
        h.from().unwrap().uri().to_string(),
        format!("sip:{X_NUM}@192.0.2.10:5060")
    );
    assert!(h.from().unwrap().tag().is_some());
    assert_eq!(
        h.to().unwrap().to_string(),
        format!("<sip:{B_NUM}@192.0.2.50:5060>")
    );
    assert!(h.call_id().unwrap().starts_with("pnb3-"));
    assert_eq!(h.cseq().unwrap().to_string(), "1 INVITE");
    assert_eq!(h.max_forwards().unwrap(), Some(69));
    assert_eq!(h.get("Contact"), Some("<sip:192.0.2.10:5060>"));
    assert_eq!(h.get("Session-Expires"), Some("1800;refresher=uac"));
    assert!(h.top_via().unwrap().branch().unwrap().starts_with("z9hG4bK-pn3-"));
    let sdp = String::from_utf8(b_inv.body().to_vec()).unwrap();
    assert!(sdp.starts_with("v=0\r\no=- "), "{sdp}");
    assert!(sdp.contains("s=-\r\n") && !sdp.contains("alice"));
    assert_eq!(pn_b2bua::shard_for(&SipMessage::Request(b_inv.clone()), 4), 3);
    // The 200 to A is A's dialog, our Contact, B's SDP regenerated.
    let oh = ok.headers();
    assert_eq!(oh.call_id().unwrap(), "call-a-1");
    assert_eq!(oh.from().unwrap().tag(), Some("a-tag"));
    assert_eq!(oh.get("Contact"), Some("<sip:192.0.2.10:5060>"));
    assert!(!String::from_utf8_lossy(ok.body()).contains("bob"));

    let bye = a_in_dialog(&Method::Bye, &ok, 11, "z9hG4bKa3");
    let sent = sim.send_a(bye);
    assert_eq!(summary(&sent), ["A<-200 BYE", "B<-BYE"]);
    let b_bye = request(&sent[1].1).clone();
    assert_eq!(b_bye.headers().cseq().unwrap().to_string(), "2 BYE");
    assert_eq!(b_bye.headers().to().unwrap().tag(), Some("b-tag"));
    assert_eq!(b_bye.uri().to_string(), format!("sip:{B_NUM}@192.0.2.50:5060"));
    assert!(sim.send_b(b_response(&b_bye, 200, false)).is_empty());
    assert_eq!(sim.events(), [Callin, Callout, Alerting, Answer, Disconnect]);
    assert_eq!(sim.disconnect_code(), Some(0));
    let cdrs = sim.cdrs();
    assert_eq!(cdrs.len(), 1);
    let json = serde_json::to_value(cdrs[0]).unwrap();
    assert_eq!(json["direction"], 1);
    assert_eq!(json["bindNum"], X_NUM);
    assert_eq!(json["callerNum"], A_NUM);
    assert_eq!(json["fwdDstNum"], B_NUM);
    assert_eq!(json["fwdDisplayNum"], X_NUM);
    assert_eq!(json["subscriptionId"], "sub-7");
    assert_eq!(json["ulFailReason"], 0);
    assert_eq!(json["hostName"], "pn.test");
    assert_eq!(json["callInTime"], "2023-11-14 22:13:20");
    assert!(json["fwdAnswerTime"].is_string() && json.get("failTime").is_none());
    assert_eq!(sim.b2b.stats().calls_answered, 1);
    assert_eq!(sim.b2b.drain_setup_latencies().len(), 1);
    assert_all_gone(&mut sim);
}

#[test]
fn bye_from_a_overtaking_its_ack() {
    let mut sim = Switch::new(router(0));
    let sent = sim.send_a(a_invite("z9hG4bKa1", "call-a-1"));
    let b_inv = request(&sent[1].1).clone();
    sim.send_b(b_response(&b_inv, 180, false));
    let sent = sim.send_b(b_response(&b_inv, 200, true));
    let ok = response(&sent[0].1).clone();
    // A's ACK and BYE left back to back, and the BYE arrives first (UDP, or two receive loops): B's 2xx is
    // acknowledged before B gets the BYE, and the 2xx to A is not retransmitted any more.
    let sent = sim.send_a(a_in_dialog(&Method::Bye, &ok, 11, "z9hG4bKa3"));
    assert_eq!(summary(&sent), ["A<-200 BYE", "B<-ACK", "B<-BYE"]);
    let b_ack = request(&sent[1].1).clone();
    assert_eq!(b_ack.headers().cseq().unwrap().to_string(), "1 ACK");
    let b_bye = request(&sent[2].1).clone();
    // The late ACK is absorbed.
    assert!(sim.send_a(a_ack(&ok, "z9hG4bKa2")).is_empty());
    assert!(sim.send_b(b_response(&b_bye, 200, false)).is_empty());
    let later = summary(&sim.advance(Duration::from_secs(40)));
    assert!(later.is_empty(), "{later:?}");
    assert_eq!(sim.cdrs().len(), 1);
    assert_eq!(sim.disconnect_code(), Some(0));
    assert_all_gone(&mut sim);
}

#[test]
fn bye_from_b() {
    let (mut sim, b_inv, _ok) = answered(0);
    let sent = sim.send_b(b_in_dialog(Method::Bye, &b_inv, 1, "z9hG4bKb9"));
    assert_eq!(summary(&sent), ["B<-200 BYE", "A<-BYE"]);
    let a_bye = request(&sent[1].1).clone();
    assert_eq!(a_bye.uri().to_string(), format!("sip:{A_NUM}@192.0.2.1:5060"));
    assert_eq!(a_bye.headers().call_id().unwrap(), "call-a-1");
    assert_eq!(a_bye.headers().to().unwrap().tag(), Some("a-tag"));
    assert_eq!(a_bye.headers().cseq().unwrap().to_string(), "1 BYE");
    assert!(sim.send_a(a_response(&a_bye, 200)).is_empty());
    assert_eq!(sim.disconnect_code(), Some(0));
    assert_eq!(sim.cdrs().len(), 1);
    assert_all_gone(&mut sim);
}

#[test]
fn callee_busy() {
    let mut sim = Switch::new(router(0));
    let sent = sim.send_a(a_invite("z9hG4bKa1", "c-busy"));
    let b_inv = request(&sent[1].1).clone();
    let sent = sim.send_b(b_response(&b_inv, 486, false));
    assert_eq!(summary(&sent), ["B<-ACK", "A<-486 INVITE"]);
    let busy = response(&sent[1].1);
    assert_eq!(busy.reason(), "Busy Here");
    assert!(
        busy.headers()
            .get("Reason")
            .unwrap()
            .starts_with("Q.850;cause=17;text=\"8102 ")
    );
    // A's ACK for the 486 is absorbed by the transaction.
    let ack = Request::parse(
        format!(
            "ACK sip:{X_NUM}@192.0.2.10:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKa1\r\n\
From: <sip:{A_NUM}@192.0.2.1>;tag=a-tag\r\nTo: {}\r\nCall-ID: c-busy\r\nCSeq: 10 ACK\r\nContent-Length: 0\r\n\r\n",
            busy.headers().get("To").unwrap()
        )
        .as_bytes(),
    )
    .unwrap();
    assert!(sim.send_a(ack).is_empty());
    assert_eq!(sim.events(), [Callin, Callout, Disconnect]);
    assert_eq!(sim.disconnect_code(), Some(8102));
    let cdr = sim.cdrs()[0].clone();
    assert_eq!(
        (cdr.sip_status_code, cdr.fwd_unasw_rsn, cdr.ul_fail_reason),
        (486, 17, 8102)
    );
    assert!(cdr.fail_time.is_some());
    assert_all_gone(&mut sim);
}

#[test]
fn no_answer_forward_timeout() {
    let mut sim = Switch::new(router(0));
    let sent = sim.send_a(a_invite("z9hG4bKa1", "c-noans"));
    let b_inv = request(&sent[1].1).clone();
    sim.send_b(b_response(&b_inv, 180, false));
    assert!(sim.advance(Duration::from_secs(89)).is_empty());
    let sent = sim.advance(Duration::from_secs(1));
    assert_eq!(summary(&sent), ["B<-CANCEL", "A<-480 INVITE"]);
    assert!(
        response(&sent[1].1)
            .headers()
            .get("Reason")
            .unwrap()
            .starts_with("Q.850;cause=19;text=\"8035 ")
    );
    let cancel = request(&sent[0].1).clone();
    assert!(sim.send_b(b_response(&cancel, 200, false)).is_empty());
    assert_eq!(summary(&sim.send_b(b_response(&b_inv, 487, false))), ["B<-ACK"]);
    assert_eq!(sim.disconnect_code(), Some(8035));
    assert_eq!(sim.cdrs().len(), 1);
    assert_all_gone(&mut sim);
}

#[test]
fn cancel_before_answer() {
    let mut sim = Switch::new(router(0));
    let inv = a_invite("z9hG4bKa1", "c-cancel");
    let sent = sim.send_a(inv.clone());
    let b_inv = request(&sent[1].1).clone();
    sim.send_b(b_response(&b_inv, 180, false));
    let sent = sim.send_a(cancel_for(&inv));
    assert_eq!(summary(&sent), ["A<-200 CANCEL", "A<-487 INVITE", "B<-CANCEL"]);
    let cancel = request(&sent[2].1).clone();
    assert_eq!(
        cancel.headers().top_via().unwrap().branch(),
        b_inv.headers().top_via().unwrap().branch()
    );
    assert!(sim.send_b(b_response(&cancel, 200, false)).is_empty());
    assert_eq!(summary(&sim.send_b(b_response(&b_inv, 487, false))), ["B<-ACK"]);
    assert_eq!(sim.events(), [Callin, Callout, Alerting, Disconnect]);
    assert_eq!(sim.disconnect_code(), Some(7502));
    assert_eq!(sim.cdrs().len(), 1);
    assert_all_gone(&mut sim);
}

#[test]
fn cancel_and_200_race() {
    let mut sim = Switch::new(router(0));
    let inv = a_invite("z9hG4bKa1", "c-race");
    let sent = sim.send_a(inv.clone());
    let b_inv = request(&sent[1].1).clone();
    sim.send_b(b_response(&b_inv, 180, false));
    let sent = sim.send_a(cancel_for(&inv));
    assert_eq!(summary(&sent), ["A<-200 CANCEL", "A<-487 INVITE", "B<-CANCEL"]);
    let cancel = request(&sent[2].1).clone();
    // B answered before it saw the CANCEL.
    let ok = b_response(&b_inv, 200, true);
    let sent = sim.send_b(ok.clone());
    assert_eq!(summary(&sent), ["B<-ACK", "B<-BYE"]);
    let bye = request(&sent[1].1).clone();
    // B's 200 retransmitted: ACKed again, nothing to A.
    assert_eq!(summary(&sim.send_b(ok)), ["B<-ACK"]);
    assert!(sim.send_b(b_response(&cancel, 481, false)).is_empty());
    assert!(sim.send_b(b_response(&bye, 200, false)).is_empty());
    assert_eq!(sim.cdrs().len(), 1);
    assert_eq!(sim.disconnect_code(), Some(7502));
    assert_all_gone(&mut sim);
}

#[test]
fn load_counts_what_a_call_holds_until_it_is_gone() {
    let mut sim = Switch::new(router(0));
    assert!(sim.b2b.load().is_idle());
    let sent = sim.send_a(a_invite("z9hG4bKa1", "c-load"));
    let b_inv = request(&sent[1].1).clone();
    // One call, A's INVITE being served, the B-leg INVITE being sent; a dialog for each leg's Call-ID.
    let load = sim.b2b.load();
    assert_eq!(
        (
            load.calls,
            load.dialogs,
            load.server_transactions,
            load.client_transactions
        ),
        (1, 2, 1, 1),
        "{load:?}"
    );
    assert!(!load.is_idle());
    sim.send_b(b_response(&b_inv, 486, false));
    // The call ended but its transactions linger (Timer K/J): the table is not empty yet.
    assert_eq!(sim.b2b.active_calls(), 0);
    assert!(!sim.b2b.load().is_idle(), "{:?}", sim.b2b.load());
    assert_all_gone(&mut sim);
}

#[test]
fn a_retransmitted_bye_gets_the_same_200_until_timer_j() {
    let (mut sim, _b_inv, ok) = answered(0);
    let bye = a_in_dialog(&Method::Bye, &ok, 11, "z9hG4bKa-rb");
    let sent = sim.send_a(bye.clone());
    let first = sent
        .iter()
        .find(|(to, m)| *to == a_peer() && m.as_response().is_some())
        .map(|(_, m)| String::from_utf8(m.to_bytes()).unwrap())
        .unwrap();
    assert!(first.starts_with("SIP/2.0 200 "), "{first}");
    sim.advance(Duration::from_secs(2));
    // The 200 was lost: A sends the BYE again and gets the same answer, nothing goes to B.
    let again = sim.send_a(bye.clone());
    assert_eq!(summary(&again), ["A<-200 BYE"]);
    assert_eq!(
        String::from_utf8(again[0].1.to_bytes()).unwrap(),
        first,
        "the very same response"
    );
    assert_all_gone(&mut sim);
}

/// Once a call is gone, what its transactions still owe the network is done by their tombs: a retransmitted
/// BYE gets the very same 200 again (Timer J), a retransmitted INVITE is absorbed (Timer L), B's retransmitted
/// 2xx and its 200 to the BYE are absorbed, not counted as strays (Timers M and K), a late CANCEL of the answered
/// INVITE gets 200 (it matched a transaction, RFC 3261 §9.2); nothing reaches the other leg. Afterwards, nothing.
#[test]
fn a_finished_calls_transactions_still_answer_their_retransmissions() {
    let (mut sim, b_inv, ok) = answered(0);
    let bye = a_in_dialog(&Method::Bye, &ok, 11, "z9hG4bKa-tomb");
    let sent = sim.send_a(bye.clone());
    assert_eq!(summary(&sent), ["A<-200 BYE", "B<-BYE"]);
    let first = sent[0].1.to_bytes();
    let b_bye = request(&sent[1].1).clone();
    assert!(sim.send_b(b_response(&b_bye, 200, false)).is_empty());
    let load = sim.b2b.load();
    assert_eq!((load.calls, load.dialogs), (0, 0), "the call is gone: {load:?}");
    assert_eq!(
        (load.server_transactions, load.client_transactions),
        (2, 2),
        "A's INVITE and BYE, the B-leg INVITE and BYE wait out their timers: {load:?}"
    );
    sim.advance(Duration::from_secs(1));
    let again = sim.send_a(bye.clone());
    assert_eq!(summary(&again), ["A<-200 BYE"]);
    assert_eq!(again[0].1.to_bytes(), first, "the very same response");
    assert!(
        sim.send_a(a_invite("z9hG4bKa1", "call-a-1")).is_empty(),
        "INVITE absorbed"
    );
    assert!(
        sim.send_b(b_response(&b_inv, 200, true)).is_empty(),
        "2xx absorbed"
    );
    assert!(
        sim.send_b(b_response(&b_bye, 200, false)).is_empty(),
        "BYE's 200 absorbed"
    );
    assert_eq!(sim.b2b.stats().stray_responses, 0);
    assert_eq!(
        summary(&sim.send_a(cancel_for(&a_invite("z9hG4bKa1", "call-a-1")))),
        ["A<-200 CANCEL"]
    );
    assert_eq!(sim.b2b.stats().retransmissions_received, 2);
    // Timer J (32 s) ends: the BYE is a new request for no dialog.
    sim.advance(Duration::from_secs(32));
    assert_eq!(summary(&sim.send_a(bye)), ["A<-481 BYE"]);
    assert_all_gone(&mut sim);
}
