//! Realistic trunk messages in `sip-fixtures/carrier/`: every one parses, re-prints to an equal
//! message, and (for requests) passes `validate_request`; specific fields are checked.

// Test helpers outside `#[test]` functions may unwrap and panic too.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::PathBuf;

use pn_sip::sdp::SessionDescription;
use pn_sip::validate::{ValidationPolicy, validate_request, validate_response};
use pn_sip::{Scheme, SipMessage};

fn load(name: &str) -> SipMessage {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../sip-fixtures/carrier")
        .join(name);
    SipMessage::parse(&std::fs::read(path).unwrap()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn all_carrier_messages_parse_validate_and_round_trip() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../sip-fixtures/carrier");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "sip") {
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let msg = load(&name);
        match &msg {
            SipMessage::Request(r) => validate_request(r, &ValidationPolicy::default()).unwrap(),
            SipMessage::Response(r) => validate_response(r).unwrap(),
        }
        assert_eq!(SipMessage::parse(&msg.to_bytes()).unwrap(), msg, "{name}");
        if !msg.body().is_empty() {
            SessionDescription::parse(msg.body()).unwrap();
        }
        n += 1;
    }
    assert_eq!(n, 7);
}

#[test]
fn compact_folded_invite() {
    let m = load("invite-compact-folded.sip");
    let h = m.headers();
    let via = h.top_via().unwrap();
    assert_eq!(
        (via.host(), via.port(), via.branch(), via.has_rport()),
        ("203.0.113.20", Some(5060), Some("z9hG4bK-trunk-7731"), true)
    );
    let from = h.from().unwrap();
    assert_eq!(from.display_name(), Some("+49 151 12345678"));
    assert_eq!(from.uri().user(), Some("+4915112345678"));
    assert_eq!(from.uri().param("user"), Some("phone"));
    assert_eq!(from.tag(), Some("as6f1a2b3c"));
    assert_eq!(
        h.call_id().unwrap(),
        "5a3b1c9e-1dd2-11b2-a7c3-0242ac120002@203.0.113.20"
    );
    let pai = h.asserted_identities().unwrap();
    assert_eq!(pai.len(), 2);
    assert_eq!(*pai[1].uri().scheme(), Scheme::Tel);
    assert_eq!(pai[1].uri().user(), Some("+4915112345678"));
    assert_eq!(
        h.option_tags("Supported").collect::<Vec<_>>(),
        ["100rel", "timer", "replaces"]
    );
    assert_eq!(h.content_type().as_deref(), Some("application/sdp"));
    assert_eq!(h.content_length().unwrap(), Some(m.body().len()));
    let printed = String::from_utf8(m.to_bytes()).unwrap();
    assert!(printed.contains("\r\nVia: SIP/2.0/UDP 203.0.113.20:5060 ;branch=z9hG4bK-trunk-7731;rport\r\n"));
    assert!(printed.contains("\r\nCall-ID: 5a3b"));
}

#[test]
fn ipv6_and_tel() {
    let m = load("invite-ipv6.sip");
    let r = m.as_request().unwrap();
    assert_eq!((r.uri().host(), r.uri().port()), ("[2001:db8:1::1]", Some(5060)));
    assert_eq!(m.headers().top_via().unwrap().host(), "[2001:db8:10::20]");
    assert_eq!(
        m.headers().contacts().unwrap()[0].uri().host(),
        "[2001:db8:10::20]"
    );
    let sdp = SessionDescription::parse(m.body()).unwrap();
    assert_eq!(sdp.connection().unwrap().unwrap().addr_type, "IP6");

    let m = load("invite-tel-uri.sip");
    let r = m.as_request().unwrap();
    assert_eq!(
        (r.uri().scheme(), r.uri().user()),
        (&Scheme::Tel, Some("+4930123456"))
    );
    assert_eq!(m.headers().to().unwrap().uri().user(), Some("+4930123456"));
    let pai = &m.headers().asserted_identities().unwrap()[0];
    assert_eq!(pai.uri().param("verstat"), Some("TN-Validation-Passed"));
    assert_eq!(m.headers().get("privacy"), Some("id"));
}

#[test]
fn responses_and_reason() {
    let m = load("180-ringing-record-route.sip");
    let r = m.as_response().unwrap();
    assert_eq!((r.status(), r.reason()), (180, "Ringing"));
    let via = m.headers().top_via().unwrap();
    assert_eq!((via.received(), via.rport()), (Some("192.0.2.10"), Some(5060)));
    assert_eq!(m.headers().record_routes().unwrap().len(), 2);
    assert_eq!(m.headers().to().unwrap().tag(), Some("trk-99"));

    let m = load("bye-reason.sip");
    let reason = m.headers().reason().unwrap().unwrap();
    assert_eq!((reason.protocol.as_str(), reason.cause), ("Q.850", Some(16)));
    assert_eq!(reason.text.as_deref(), Some("Normal call clearing"));
}
