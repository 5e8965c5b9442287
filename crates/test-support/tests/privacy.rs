//! Leak probes: one party's digits injected into every header and SDP field must never reach the
//! other party.
//!
//! Moved from pn-b2bua's unit tests (`crates/b2bua/src/tests/`) onto [`pn_test_support::script::Switch`]:
//! they use only pn-b2bua's public API.

#![allow(clippy::unwrap_used, clippy::panic, clippy::too_many_lines)]

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

/// Media address and port of each party's SDP (distinct, to probe media privacy in relay mode).
fn media_of(d: &str) -> (&'static str, u16) {
    if d == A_DIGITS {
        ("198.51.100.1", 49170)
    } else {
        ("203.0.113.5", 35_000)
    }
}

fn leaky_sdp(d: &str) -> String {
    let (ip, port) = media_of(d);
    let rtcp = port + 1;
    format!(
        "v=0\r\no={d} {d} {d} IN IP4 {ip}\r\ns={d}\r\ni={d}\r\nu=http://example.com/{d}\r\n\
e={d}@example.com\r\np=+86{d}\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 8\r\ni={d}\r\n\
a=rtpmap:8 PCMA/8000\r\na=rtcp:{rtcp} IN IP4 {ip}\r\na=candidate:1 1 UDP 2130706431 {ip} {port} typ host\r\n\
m=video {rtcp}0 RTP/AVP 96\r\nc=IN IP4 {ip}\r\n"
    )
}

fn leaky_invite() -> Request {
    let d = A_DIGITS;
    let sdp = leaky_sdp(d);
    let raw = format!(
        "INVITE sip:{X_NUM}@192.0.2.10:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK{d}\r\n\
Record-Route: <sip:{d}@192.0.2.1;lr>\r\n\
Max-Forwards: 70\r\n\
From: \"{d}\" <sip:+86{d}@192.0.2.1>;tag={d}\r\n\
To: \"{d}\" <sip:{X_NUM}@192.0.2.10>\r\n\
Call-ID: {d}@192.0.2.1\r\n\
CSeq: 10 INVITE\r\n\
Contact: \"{d}\" <sip:+86{d}@192.0.2.1:5060>\r\n\
P-Asserted-Identity: \"{d}\" <sip:+86{d}@192.0.2.1>\r\n\
P-Preferred-Identity: <sip:+86{d}@192.0.2.1>\r\n\
Remote-Party-ID: \"{d}\" <sip:{d}@192.0.2.1>;party=calling\r\n\
Diversion: <sip:{d}@192.0.2.1>;reason=unconditional\r\n\
History-Info: <sip:{d}@192.0.2.1>;index=1\r\n\
Privacy: id;{d}\r\n\
Referred-By: <sip:{d}@192.0.2.1>\r\n\
User-Agent: phone {d}\r\n\
Subject: call from {d}\r\n\
Organization: {d} corp\r\n\
Call-Info: <http://example.com/{d}>;purpose=info\r\n\
Warning: 399 host \"{d}\"\r\n\
X-Caller: {d}\r\n\
X-{d}: 1\r\n\
Allow: INVITE, ACK, BYE, X{d}\r\n\
Supported: timer, x{d}\r\n\
Session-Expires: {d}\r\n\
Min-SE: {d}\r\n\
Accept: application/sdp, text/x{d}\r\n\
Content-Disposition: session;{d}\r\n\
Content-Type: application/sdp\r\n\
Content-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    );
    Request::parse(raw.as_bytes()).unwrap()
}

/// B's response with B's digits everywhere it can put them.
fn leaky_response(request: &Request, status: u16) -> Response {
    let d = B_DIGITS;
    let mut b = Response::for_request(request, status)
        .to_tag(d)
        .reason(&format!("OK {d}"))
        .header("Contact", &format!("\"{d}\" <sip:+86{d}@192.0.2.50:5060>"))
        .header("Record-Route", &format!("<sip:{d}@192.0.2.50;lr>"))
        .header("P-Asserted-Identity", &format!("<sip:+86{d}@192.0.2.50>"))
        .header("Remote-Party-ID", &format!("<sip:{d}@192.0.2.50>"))
        .header("Server", &format!("pbx {d}"))
        .header("User-Agent", &format!("ua {d}"))
        .header("Warning", &format!("399 h \"{d}\""))
        .header("X-Callee", d)
        .header("Allow", &format!("INVITE, X{d}"))
        .header("Supported", &format!("timer, x{d}"))
        .header("Session-Expires", d);
    if status < 300 && status > 100 {
        b = b.body("application/sdp", leaky_sdp(d).into_bytes());
    }
    b.build()
}

#[test]
fn caller_digits_never_reach_b_and_callee_digits_never_reach_a() {
    let mut sim = Switch::new(router(0));
    privacy_flow(&mut sim);
    assert!(sim.media.is_empty(), "bypass mode emits no media commands");
}

/// Relay mode: on top of the digits, neither party's media address or ports reach the other.
#[test]
fn relay_mode_hides_media_addresses_both_ways() {
    let mut sim = Switch::new(router(0));
    sim.b2b.enable_media_relay(
        "192.0.2.10".parse().unwrap(),
        pn_media::PortAllocator::new(40_000, 40_099).unwrap(),
    );
    let all = privacy_flow(&mut sim);
    for (to, d) in [(b_peer(), A_DIGITS), (a_peer(), B_DIGITS)] {
        let (ip, port) = media_of(d);
        for probe in [ip.to_owned(), port.to_string(), (port + 1).to_string()] {
            assert_clean(&all, to, &probe);
        }
    }
    assert!(matches!(
        sim.media.last(),
        Some(pn_b2bua::MediaCommand::Close { .. })
    ));
}

/// The leak-probe call (INVITE, 183, 200, ACK with SDP, re-INVITE, BYE from B); answers all it sent.
fn privacy_flow(sim: &mut Switch) -> Vec<(Peer, SipMessage)> {
    let mut all = Vec::new();
    let sent = sim.send_a(leaky_invite());
    // The caller was taken from P-Asserted-Identity.
    assert_eq!(
        sim.router.asked.borrow()[0].0,
        Some(e164(&format!("+86{A_DIGITS}")))
    );
    let b_inv = request(&sent[1].1).clone();
    all.extend(sent);
    all.extend(sim.send_b(leaky_response(&b_inv, 183)));
    let sent = sim.send_b(leaky_response(&b_inv, 200));
    let ok = response(&sent[0].1).clone();
    all.extend(sent);
    let mut ack = a_ack(&ok, &format!("z9hG4bK{A_DIGITS}x"));
    ack.headers_mut().push("User-Agent", A_DIGITS);
    ack.set_body(Some("application/sdp"), leaky_sdp(A_DIGITS).into_bytes());
    all.extend(sim.send_a(ack));
    // re-INVITE from A with its digits, answered by B with its digits.
    let mut re = a_in_dialog(&Method::Invite, &ok, 11, &format!("z9hG4bK{A_DIGITS}r"));
    re.headers_mut().push("X-Caller", A_DIGITS);
    re.headers_mut()
        .push("P-Asserted-Identity", format!("<sip:{A_DIGITS}@a>"));
    re.set_body(Some("application/sdp"), leaky_sdp(A_DIGITS).into_bytes());
    let sent = sim.send_a(re);
    let b_re = request(&sent[1].1).clone();
    all.extend(sent);
    all.extend(sim.send_b(leaky_response(&b_re, 200)));
    // B hangs up with its digits in the BYE.
    let mut bye = b_in_dialog(Method::Bye, &b_inv, 1, &format!("z9hG4bK{B_DIGITS}"));
    bye.headers_mut().push("User-Agent", B_DIGITS);
    bye.headers_mut()
        .push("Reason", format!("SIP;text=\"{B_DIGITS}\""));
    let sent = sim.send_b(bye);
    let a_bye = request(&sent[1].1).clone();
    all.extend(sent);
    all.extend(sim.send_a(a_response(&a_bye, 200)));

    assert!(all.iter().filter(|(p, _)| *p == b_peer()).count() >= 4);
    assert!(all.iter().filter(|(p, _)| *p == a_peer()).count() >= 5);
    assert_clean(&all, b_peer(), A_DIGITS);
    assert_clean(&all, a_peer(), B_DIGITS);
    assert_eq!(sim.disconnect_code(), Some(0));
    all
}

#[test]
fn failure_responses_do_not_leak_either() {
    let mut sim = Switch::new(router(0));
    let sent = sim.send_a(leaky_invite());
    let b_inv = request(&sent[1].1).clone();
    let mut all = sent;
    all.extend(sim.send_b(leaky_response(&b_inv, 486)));
    assert_eq!(summary(&all).last().unwrap(), "A<-486 INVITE");
    assert_clean(&all, a_peer(), B_DIGITS);
    assert_clean(&all, b_peer(), A_DIGITS);
}
