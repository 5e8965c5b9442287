//! RFC 3262 (100rel/PRACK) and RFC 4028 (session timers) flows on the virtual clock, with the
//! privacy probes of `privacy.rs` on every message.
//!
//! Moved from pn-b2bua's unit tests (`crates/b2bua/src/tests/`) onto [`pn_test_support::script::Switch`]:
//! they use only pn-b2bua's public API.

#![allow(clippy::unwrap_used, clippy::panic, clippy::too_many_lines)]

use std::time::Duration;

use pn_b2bua::EventType::{Alerting, Answer, Callin, Callout, Disconnect};
use pn_b2bua::Peer;
use pn_sip::{Method, Request, Response, SipMessage};
use pn_test_support::script::*;

const A_DIGITS: &str = "13800000001";

const B_DIGITS: &str = "13900000002";

fn assert_clean(sent: &[(Peer, SipMessage)], to: Peer, digits: &str) {
    for (peer, m) in sent.iter().filter(|(p, _)| *p == to) {
        let text = String::from_utf8_lossy(&m.to_bytes()).into_owned();
        assert!(!text.contains(digits), "{digits} leaked to {peer:?}:\n{text}");
    }
}

fn assert_private(all: &[(Peer, SipMessage)]) {
    assert!(all.iter().any(|(p, _)| *p == a_peer()));
    assert!(all.iter().any(|(p, _)| *p == b_peer()));
    assert_clean(all, b_peer(), A_DIGITS);
    assert_clean(all, a_peer(), B_DIGITS);
}

/// A's INVITE with extra headers (and A's digits in a header that must not cross).
fn invite_with(call_id: &str, extra: &[(&str, &str)]) -> Request {
    let mut r = a_invite("z9hG4bKa1", call_id);
    for (name, value) in extra {
        r.headers_mut().push(name, *value);
    }
    r.headers_mut().push("X-Caller", A_DIGITS);
    r
}

/// B's response with B's digits where they must not cross, plus `extra` headers.
fn b_resp(request: &Request, status: u16, sdp: bool, extra: &[(&str, &str)]) -> Response {
    let mut r = b_response(request, status, sdp);
    r.headers_mut()
        .push("P-Asserted-Identity", format!("<sip:+86{B_DIGITS}@192.0.2.50>"));
    for (name, value) in extra {
        r.headers_mut().push(name, *value);
    }
    r
}

/// B's reliable provisional response.
fn b_reliable(request: &Request, status: u16, rseq: u32, sdp: bool) -> Response {
    let rseq = rseq.to_string();
    b_resp(request, status, sdp, &[("Require", "100rel"), ("RSeq", &rseq)])
}

/// A's PRACK for the reliable provisional `prov`.
fn a_prack(prov: &Response, cseq: u32, rack: &str, branch: &str) -> Request {
    let mut p = a_in_dialog(&Method::Prack, prov, cseq, branch);
    p.headers_mut().push("RAck", rack);
    p.headers_mut().push("User-Agent", format!("phone {A_DIGITS}"));
    p
}

fn rseq_of(r: &Response) -> u32 {
    r.headers().get("RSeq").unwrap().parse().unwrap()
}

#[test]
fn reliable_180_relayed_with_rseq_retransmitted_until_prack_and_prack_relayed() {
    let mut sim = Switch::new(router(0));
    let mut all = Vec::new();
    let sent = sim.send_a(invite_with("c-rel", &[("Supported", "100rel")]));
    assert_eq!(summary(&sent), ["A<-100 INVITE", "B<-INVITE"]);
    let b_inv = request(&sent[1].1).clone();
    assert_eq!(b_inv.headers().get("Supported"), Some("100rel, timer"));
    assert_eq!(b_inv.headers().count("Supported"), 1);
    all.extend(sent);

    let sent = sim.send_b(b_reliable(&b_inv, 180, 7, true));
    assert_eq!(summary(&sent), ["A<-180 INVITE"]);
    let r180 = response(&sent[0].1).clone();
    assert_eq!(r180.headers().get("Require"), Some("100rel"));
    let a_rseq = rseq_of(&r180);
    assert!((1..0x7fff_ffff).contains(&a_rseq));
    let sdp = String::from_utf8_lossy(r180.body()).into_owned();
    assert!(sdp.starts_with("v=0\r\no=- ") && !sdp.contains("bob"), "{sdp}");
    all.extend(sent);
    // B retransmits its 180: absorbed (A's copy is retransmitted by pnswitch's own timer).
    assert!(sim.send_b(b_reliable(&b_inv, 180, 7, true)).is_empty());
    assert_eq!(sim.events(), [Callin, Callout, Alerting]);

    // Retransmitted to A after T1, then 2·T1, identical.
    let sent = sim.advance(Duration::from_millis(500));
    assert_eq!(summary(&sent), ["A<-180 INVITE"]);
    assert_eq!(response(&sent[0].1), &r180);
    assert!(sim.advance(Duration::from_millis(900)).is_empty());
    let sent = sim.advance(Duration::from_millis(100));
    assert_eq!(summary(&sent), ["A<-180 INVITE"]);
    all.extend(sent);

    // A PRACK with a wrong RAck: 481, the retransmissions go on.
    let sent = sim.send_a(a_prack(
        &r180,
        11,
        &format!("{} 10 INVITE", a_rseq + 1),
        "z9hG4bKa4",
    ));
    assert_eq!(summary(&sent), ["A<-481 PRACK"]);
    all.extend(sent);

    // A's PRACK goes to B as a fresh PRACK with B's RSeq in RAck.
    let sent = sim.send_a(a_prack(&r180, 12, &format!("{a_rseq} 10 INVITE"), "z9hG4bKa5"));
    assert_eq!(summary(&sent), ["B<-PRACK"]);
    let b_prack = request(&sent[0].1).clone();
    let h = b_prack.headers();
    assert_eq!(h.get("RAck"), Some("7 1 INVITE"));
    assert_eq!(h.cseq().unwrap().to_string(), "2 PRACK");
    assert_eq!(h.call_id().unwrap(), b_inv.headers().call_id().unwrap());
    assert_eq!(h.to().unwrap().tag(), Some("b-tag"));
    assert_eq!(b_prack.uri().to_string(), format!("sip:{B_NUM}@192.0.2.50:5060"));
    all.extend(sent);
    let sent = sim.send_b(b_resp(&b_prack, 200, false, &[]));
    assert_eq!(summary(&sent), ["A<-200 PRACK"]);
    assert_eq!(response(&sent[0].1).headers().cseq().unwrap().seq, 12);
    all.extend(sent);
    // PRACKed: no more retransmissions to A.
    assert!(sim.advance(Duration::from_secs(10)).is_empty());

    let sent = sim.send_b(b_resp(&b_inv, 200, true, &[]));
    assert_eq!(summary(&sent), ["A<-200 INVITE"]);
    let ok = response(&sent[0].1).clone();
    assert_eq!(ok.headers().get("RSeq"), None);
    all.extend(sent);
    let sent = sim.send_a(a_ack(&ok, "z9hG4bKa6"));
    assert_eq!(summary(&sent), ["B<-ACK"]);
    all.extend(sent);
    assert_eq!(sim.events(), [Callin, Callout, Alerting, Answer]);
    assert_eq!(sim.b2b.stats().retransmissions_sent, 2);
    assert_private(&all);
}

#[test]
fn reliable_183_without_100rel_at_a_is_pracked_by_pnswitch() {
    let mut sim = Switch::new(router(0));
    let mut all = Vec::new();
    let sent = sim.send_a(invite_with("c-183", &[]));
    let b_inv = request(&sent[1].1).clone();
    assert_eq!(b_inv.headers().get("Supported"), Some("timer"));
    all.extend(sent);

    let sent = sim.send_b(b_reliable(&b_inv, 183, 1, true));
    assert_eq!(summary(&sent), ["B<-PRACK", "A<-183 INVITE"]);
    let b_prack = request(&sent[0].1).clone();
    assert_eq!(b_prack.headers().get("RAck"), Some("1 1 INVITE"));
    assert_eq!(b_prack.headers().to().unwrap().tag(), Some("b-tag"));
    let r183 = response(&sent[1].1).clone();
    assert_eq!(r183.headers().get("RSeq"), None);
    assert_eq!(r183.headers().get("Require"), None);
    assert!(!r183.body().is_empty() && !String::from_utf8_lossy(r183.body()).contains("bob"));
    all.extend(sent);
    // B's retransmission: no second PRACK, nothing to A.
    assert!(sim.send_b(b_reliable(&b_inv, 183, 1, true)).is_empty());
    // B's 200 to our PRACK is absorbed; A's 183 is not retransmitted.
    assert!(sim.send_b(b_resp(&b_prack, 200, false, &[])).is_empty());
    assert!(sim.advance(Duration::from_secs(5)).is_empty());
    // A later reliable 180 (RSeq 2) is PRACKed too.
    let sent = sim.send_b(b_reliable(&b_inv, 180, 2, false));
    assert_eq!(summary(&sent), ["B<-PRACK", "A<-180 INVITE"]);
    assert_eq!(request(&sent[0].1).headers().get("RAck"), Some("2 1 INVITE"));
    all.extend(sent);

    let sent = sim.send_b(b_resp(&b_inv, 200, true, &[]));
    assert_eq!(summary(&sent), ["A<-200 INVITE"]);
    let ok = response(&sent[0].1).clone();
    all.extend(sent);
    let sent = sim.send_a(a_ack(&ok, "z9hG4bKa2"));
    assert_eq!(summary(&sent), ["B<-ACK"]);
    all.extend(sent);
    assert_private(&all);
}

#[test]
fn require_100rel_from_a_is_accepted_and_unreliable_180_made_reliable() {
    let mut sim = Switch::new(router(0));
    let sent = sim.send_a(invite_with("c-req", &[("Require", "100rel")]));
    assert_eq!(summary(&sent), ["A<-100 INVITE", "B<-INVITE"]);
    let b_inv = request(&sent[1].1).clone();
    assert_eq!(b_inv.headers().get("Supported"), Some("100rel, timer"));
    assert_eq!(b_inv.headers().get("Require"), None);
    let sent = sim.send_b(b_resp(&b_inv, 180, false, &[]));
    assert_eq!(summary(&sent), ["A<-180 INVITE"]);
    let r180 = response(&sent[0].1).clone();
    let rseq = rseq_of(&r180);
    // While it awaits its PRACK, a further unreliable provisional cannot reach A.
    assert!(sim.send_b(b_resp(&b_inv, 183, false, &[])).is_empty());
    // Answered by pnswitch: B knows nothing of it.
    let sent = sim.send_a(a_prack(&r180, 11, &format!("{rseq} 10 INVITE"), "z9hG4bKa3"));
    assert_eq!(summary(&sent), ["A<-200 PRACK"]);
    // The next provisional is reliable again, with the next RSeq.
    let sent = sim.send_b(b_resp(&b_inv, 183, true, &[]));
    assert_eq!(summary(&sent), ["A<-183 INVITE"]);
    assert_eq!(rseq_of(response(&sent[0].1)), rseq + 1);
    // Other option tags still get 420.
    let sent = sim.send_a(invite_with("c-foo", &[("Require", "foo")]));
    assert_eq!(summary(&sent), ["A<-420 INVITE"]);
    assert_eq!(response(&sent[0].1).headers().get("Unsupported"), Some("foo"));
}

#[test]
fn no_prack_from_a_fails_the_call_after_64_t1() {
    let mut sim = Switch::new(router(0));
    let sent = sim.send_a(invite_with("c-noprack", &[("Supported", "100rel")]));
    let b_inv = request(&sent[1].1).clone();
    assert_eq!(
        summary(&sim.send_b(b_reliable(&b_inv, 180, 1, false))),
        ["A<-180 INVITE"]
    );
    // T1·(1+2+4+8+16) = 15.5 s: five retransmissions.
    let sent = sim.advance(Duration::from_millis(15_500));
    assert_eq!(summary(&sent), ["A<-180 INVITE"; 5]);
    // The sixth at 31.5 s, then the call fails at 32 s.
    let sent = sim.advance(Duration::from_millis(16_499));
    assert_eq!(summary(&sent), ["A<-180 INVITE"]);
    let sent = sim.advance(Duration::from_millis(1));
    assert_eq!(summary(&sent), ["B<-CANCEL", "A<-504 INVITE"]);
    assert!(
        response(&sent[1].1)
            .headers()
            .get("Reason")
            .unwrap()
            .starts_with("Q.850;cause=41;text=\"7505 ")
    );
    assert_eq!(sim.disconnect_code(), Some(7505));
    assert_eq!(sim.cdrs().len(), 1);
}

/// A→X→B answered with `Session-Expires: 90;refresher=uac`; returns the B-leg INVITE, the 200 A got
/// and everything sent.
fn answered_with_timer(call_id: &str) -> (Switch, Request, Response, Vec<(Peer, SipMessage)>) {
    let mut sim = Switch::new(router(0));
    let mut all = Vec::new();
    let sent = sim.send_a(invite_with(call_id, &[("Min-SE", "90")]));
    let b_inv = request(&sent[1].1).clone();
    assert_eq!(b_inv.headers().get("Session-Expires"), Some("1800;refresher=uac"));
    assert_eq!(b_inv.headers().get("Min-SE"), Some("90"));
    all.extend(sent);
    let se = [("Require", "timer"), ("Session-Expires", "90;refresher=uac")];
    let sent = sim.send_b(b_resp(&b_inv, 200, true, &se));
    assert_eq!(summary(&sent), ["A<-200 INVITE"]);
    let ok = response(&sent[0].1).clone();
    assert_eq!(ok.headers().get("Session-Expires"), Some("90;refresher=uac"));
    assert_eq!(ok.headers().get("Require"), Some("timer"));
    all.extend(sent);
    let sent = sim.send_a(a_ack(&ok, "z9hG4bKa2"));
    assert_eq!(summary(&sent), ["B<-ACK"]);
    all.extend(sent);
    (sim, b_inv, ok, all)
}

#[test]
fn reinvite_and_update_refresh_the_session() {
    let (mut sim, b_inv, ok, mut all) = answered_with_timer("c-refresh");
    // A refreshes at 60 s with a re-INVITE.
    assert!(sim.advance(Duration::from_secs(60)).is_empty());
    let mut re = a_in_dialog(&Method::Invite, &ok, 11, "z9hG4bKa4");
    re.headers_mut().push("Session-Expires", "90;refresher=uac");
    re.headers_mut().push("X-Caller", A_DIGITS);
    let sent = sim.send_a(re);
    assert_eq!(summary(&sent), ["A<-100 INVITE", "B<-INVITE"]);
    let b_re = request(&sent[1].1).clone();
    assert_eq!(b_re.headers().get("Session-Expires"), Some("90;refresher=uac"));
    all.extend(sent);
    let sent = sim.send_b(b_resp(
        &b_re,
        200,
        true,
        &[("Session-Expires", "90;refresher=uac")],
    ));
    assert_eq!(summary(&sent), ["A<-200 INVITE"]);
    let ok2 = response(&sent[0].1).clone();
    all.extend(sent);
    assert_eq!(summary(&sim.send_a(a_ack(&ok2, "z9hG4bKa5"))), ["B<-ACK"]);
    // Past the first deadline (90 s): still up.
    assert!(sim.advance(Duration::from_secs(80)).is_empty());
    // B refreshes at 140 s with an UPDATE; A's 2xx makes B (the UAC) the refresher for 120 s.
    let mut up = b_in_dialog(Method::Update, &b_inv, 2, "z9hG4bKb7");
    up.headers_mut().push("Session-Expires", "120");
    up.headers_mut().push("User-Agent", B_DIGITS);
    let sent = sim.send_b(up);
    assert_eq!(summary(&sent), ["A<-UPDATE"]);
    let a_up = request(&sent[0].1).clone();
    all.extend(sent);
    let mut a_ok = a_response(&a_up, 200);
    a_ok.headers_mut().push("Session-Expires", "120;refresher=uac");
    let sent = sim.send_a(a_ok);
    assert_eq!(summary(&sent), ["B<-200 UPDATE"]);
    assert_eq!(
        response(&sent[0].1).headers().get("Session-Expires"),
        Some("120;refresher=uac")
    );
    all.extend(sent);
    assert!(sim.advance(Duration::from_secs(119)).is_empty());
    let sent = sim.advance(Duration::from_secs(1));
    assert_eq!(summary(&sent), ["A<-BYE", "B<-BYE"]);
    assert_eq!(
        request(&sent[1].1).headers().get("Reason"),
        Some("Q.850;cause=102;text=\"7506 Callee-side network error\"")
    );
    all.extend(sent);
    assert_eq!(sim.disconnect_code(), Some(7506));
    assert_private(&all);
}

#[test]
fn a_2xx_without_session_expires_means_no_timer() {
    let mut sim = Switch::new(router(0));
    let sent = sim.send_a(invite_with("c-nose", &[]));
    let b_inv = request(&sent[1].1).clone();
    let sent = sim.send_b(b_resp(&b_inv, 200, true, &[]));
    let ok = response(&sent[0].1).clone();
    sim.send_a(a_ack(&ok, "z9hG4bKa2"));
    assert!(sim.advance(Duration::from_secs(3600)).is_empty());
    assert_eq!(sim.b2b.active_calls(), 1);
}

#[test]
fn session_expires_without_refresh_byes_both_legs() {
    let (mut sim, _b_inv, _ok, mut all) = answered_with_timer("c-se");
    assert!(sim.advance(Duration::from_secs(89)).is_empty());
    let sent = sim.advance(Duration::from_secs(1));
    assert_eq!(summary(&sent), ["A<-BYE", "B<-BYE"]);
    for (_, m) in &sent {
        assert_eq!(
            request(m).headers().get("Reason"),
            Some("Q.850;cause=102;text=\"7505 Caller-side network error\"")
        );
    }
    let (a_bye, b_bye) = (request(&sent[0].1).clone(), request(&sent[1].1).clone());
    all.extend(sent);
    assert!(sim.send_a(a_response(&a_bye, 200)).is_empty());
    assert!(sim.send_b(b_resp(&b_bye, 200, false, &[])).is_empty());
    assert_eq!(sim.events(), [Callin, Callout, Answer, Disconnect]);
    assert_eq!(sim.disconnect_code(), Some(7505));
    let cdr = sim.cdrs()[0].clone();
    assert_eq!((cdr.ul_fail_reason, cdr.fwd_unasw_rsn), (7505, 0));
    assert_eq!(sim.b2b.stats().session_timer_expiries, 1);
    assert_eq!(sim.b2b.active_calls(), 0);
    sim.advance(Duration::from_secs(64));
    let load = sim.b2b.load();
    assert_eq!((load.calls, load.dialogs), (0, 0), "{load:?}");
    assert_eq!(sim.b2b.poll_timeout(), None);
    assert_private(&all);
}
