//! RFC 3262 (100rel/PRACK) and RFC 4028 (session timers) flows on the virtual clock, with the
//! privacy probes of `privacy.rs` on every message.

use std::time::Duration;

use pn_sip::{Request, Response, SipMessage};

use super::*;
use crate::EventType::{Answer, Callin, Callout, Disconnect};

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

/// A→X→B answered with `Session-Expires: 90;refresher=uac`; returns the B-leg INVITE, the 200 A got
/// and everything sent.
fn answered_with_timer(call_id: &str) -> (Sim, Request, Response, Vec<(Peer, SipMessage)>) {
    let mut sim = Sim::new(FakeRouter::connect(0));
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
    assert!(sim.b2b.calls_empty() && sim.b2b.dialogs_empty());
    assert_eq!(sim.b2b.poll_timeout(), None);
    assert_private(&all);
}
