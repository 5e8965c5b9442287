//! pn-fuzz: the fuzz targets of pnswitch's parsers and of its SDP whitelist. Each target takes arbitrary bytes,
//! must never panic on its own, and checks an invariant of what it parsed (print → parse gives the same value;
//! what the whitelist builds holds only whitelisted lines). A broken invariant panics: that is how a target
//! reports a bug, to libFuzzer and to the tests alike.
//!
//! The same functions run two ways: as cargo-fuzz targets (`fuzz/`, nightly, coverage-guided, outside the
//! workspace) and as bounded randomized tests on stable (`tests/bounded.rs`: fixture seeds mutated by a
//! fixed-seed generator, a few seconds each), so CI exercises every target.
//!
//! I/O contract: pure functions over a byte slice; no clock, no I/O.

// A fuzz target reports a broken invariant by panicking.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

pub mod mutate;
mod stateful;

pub use stateful::b2bua;

use pn_b2bua::MediaAnchor;
use pn_b2bua::media::PortPair;
use pn_b2bua::privacy::SdpOrigin;
use pn_media::{RtcpCompound, RtpPacket, TelephoneEvent};
use pn_sip::framing::{StreamDecoder, parse_datagram};
use pn_sip::sdp::SessionDescription;
use pn_sip::validate::{ValidationPolicy, validate_request, validate_response};
use pn_sip::{NameAddr, SipMessage, Uri, Via};

/// A fuzz target: arbitrary bytes in, a panic when an invariant breaks.
pub type Target = fn(&[u8]);

/// Every target, by name (as `fuzz/fuzz_targets/<name>.rs` names it).
pub const TARGETS: [(&str, Target); 11] = [
    ("sip_message", sip_message),
    ("sip_stream", sip_stream),
    ("uri", uri),
    ("sdp", sdp),
    ("sdp_whitelist", sdp_whitelist),
    ("multipart", multipart),
    ("rtp", rtp),
    ("rtcp", rtcp),
    ("telephone_event", telephone_event),
    ("wav", wav),
    ("b2bua", b2bua),
];

/// A SIP datagram: whatever parses prints to bytes that parse back equal (and print the same again);
/// validation answers without panicking.
pub fn sip_message(data: &[u8]) {
    let Ok(Some(message)) = parse_datagram(data) else {
        return;
    };
    let printed = message.to_bytes();
    let again = SipMessage::parse(&printed).unwrap_or_else(|e| {
        panic!(
            "printed message does not parse ({e}):\n{}",
            String::from_utf8_lossy(&printed)
        )
    });
    assert_eq!(again, message, "print → parse changed the message");
    assert_eq!(again.to_bytes(), printed, "printing is not stable");
    let h = message.headers();
    let _ = (
        h.vias(),
        h.from(),
        h.to(),
        h.contacts(),
        h.cseq(),
        h.max_forwards(),
        h.content_length(),
    );
    let _ = (
        h.reason(),
        h.routes(),
        h.record_routes(),
        h.asserted_identities(),
        h.content_type(),
    );
    match &message {
        SipMessage::Request(r) => {
            let _ = validate_request(r, &ValidationPolicy::default());
            let _ = pn_sip::transaction::TransactionKey::for_request(r);
            let _ = r.cancel();
            let _ = r.uri().user_unescaped();
        }
        SipMessage::Response(r) => {
            let _ = validate_response(r);
        }
    }
    let _ = pn_sip::body::session_description(message.headers(), message.body());
}

/// The same bytes as a TCP stream, cut in two at a point the data chooses: the decoder never panics, never
/// loops, and every message it yields prints and parses back.
pub fn sip_stream(data: &[u8]) {
    let cut = data.first().map_or(0, |b| usize::from(*b)).min(data.len());
    let mut decoder = StreamDecoder::new(4096);
    for chunk in [&data[..cut], &data[cut..]] {
        decoder.push(chunk);
        for _ in 0..=data.len() {
            match decoder.poll() {
                None => break,
                Some(Ok(message)) => {
                    let printed = message.to_bytes();
                    assert!(
                        SipMessage::parse(&printed).is_ok(),
                        "a framed message does not re-parse"
                    );
                }
                Some(Err(_)) => {
                    let _ = decoder.take_rejected_head();
                }
            }
        }
    }
}

/// A URI and a name-addr: whatever parses prints to text that parses back equal.
pub fn uri(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(u) = Uri::parse(text) {
        let printed = u.to_string();
        let again = Uri::parse(&printed).unwrap_or_else(|e| panic!("{printed:?} does not parse: {e}"));
        assert_eq!(again, u, "{text:?} → {printed:?}");
    }
    let _ = Via::parse(text);
    if let Ok(n) = NameAddr::parse(text, "From") {
        let printed = n.to_string();
        let again =
            NameAddr::parse(&printed, "From").unwrap_or_else(|e| panic!("{printed:?} does not parse: {e}"));
        assert_eq!(again, n, "{text:?} → {printed:?}");
    }
}

/// An SDP body: whatever parses prints to bytes that parse back equal.
pub fn sdp(data: &[u8]) {
    let Ok(sdp) = SessionDescription::parse(data) else {
        return;
    };
    let printed = sdp.to_bytes();
    let again =
        SessionDescription::parse(&printed).unwrap_or_else(|e| panic!("printed SDP does not parse: {e}"));
    assert_eq!(again, sdp);
}

/// The line prefixes the SDP whitelist may produce (docs/sip.md).
const WHITELIST: [&str; 15] = [
    "v=0",
    "o=- ",
    "s=-",
    "c=IN ",
    "t=0 0",
    "m=",
    "a=rtpmap:",
    "a=fmtp:",
    "a=ptime:",
    "a=maxptime:",
    "a=rtcp-mux",
    "a=sendrecv",
    "a=sendonly",
    "a=recvonly",
    "a=inactive",
];

/// The privacy invariant: for any SDP a party sends, the SDP built for the other leg (relay and bypass) parses,
/// holds only whitelisted lines, and no line but `o=` (the switch's own ids) holds more than 6 digits in a row.
pub fn sdp_whitelist(data: &[u8]) {
    let Ok(party) = SessionDescription::parse(data) else {
        return;
    };
    for relay in [true, false] {
        let origin = SdpOrigin {
            address: "203.0.113.1".into(),
            session_id: 1_099_511_627_780,
            version: 3,
            anchor: relay.then(|| MediaAnchor {
                address: "203.0.113.9".into(),
                ports: PortPair {
                    rtp: 30000,
                    rtcp: 30001,
                },
            }),
        };
        let built = pn_b2bua::privacy::sdp::rebuild(&party, &origin).to_string();
        assert!(
            SessionDescription::parse(built.as_bytes()).is_ok(),
            "built SDP does not parse:\n{built}"
        );
        for line in built.lines() {
            assert!(
                WHITELIST.iter().any(|p| line.starts_with(p)),
                "line {line:?} is not whitelisted (relay: {relay}) in\n{built}\nbuilt from\n{}",
                String::from_utf8_lossy(data)
            );
            if !line.starts_with("o=") {
                let mut run = 0;
                for b in line.bytes() {
                    run = if b.is_ascii_digit() { run + 1 } else { 0 };
                    assert!(run <= 6, "line {line:?} carries a long number (relay: {relay})");
                }
            }
        }
    }
}

/// A multipart body (the first byte picks the boundary): parts are found without panicking and lie within the
/// body.
pub fn multipart(data: &[u8]) {
    let boundary = match data.first() {
        Some(b) if b % 2 == 0 => "b",
        _ => "unique-boundary-1",
    };
    let content_type = format!("multipart/mixed;boundary={boundary}");
    if let Ok(parts) = pn_sip::body::multipart_parts(&content_type, data) {
        let range = data.as_ptr_range();
        for part in parts {
            let inner = part.body.as_ptr_range();
            assert!(
                part.body.is_empty() || (range.start <= inner.start && inner.end <= range.end),
                "a part lies outside the body"
            );
        }
    }
}

/// An RTP packet: whatever parses prints (from its fields) to a packet that parses to the same fields.
pub fn rtp(data: &[u8]) {
    let Ok(packet) = RtpPacket::parse(data) else {
        return;
    };
    let mut printed = Vec::new();
    packet.write(&mut printed);
    let again = RtpPacket::parse(&printed).unwrap_or_else(|e| panic!("printed RTP does not parse: {e}"));
    assert_eq!(
        (
            again.marker,
            again.payload_type,
            again.sequence,
            again.timestamp,
            again.ssrc
        ),
        (
            packet.marker,
            packet.payload_type,
            packet.sequence,
            packet.timestamp,
            packet.ssrc
        )
    );
    assert_eq!(again.payload(), packet.payload());
    assert_eq!(
        again.csrcs().collect::<Vec<_>>(),
        packet.csrcs().collect::<Vec<_>>()
    );
    assert_eq!(again.extension(), packet.extension());
    assert_eq!(again.padding_len(), packet.padding_len());
    let _ = pn_media::is_rtcp(data);
}

/// An RTCP compound packet: whatever validates can be walked with every accessor without panicking.
pub fn rtcp(data: &[u8]) {
    let Ok(compound) = RtcpCompound::parse(data) else {
        return;
    };
    let mut total = 0;
    for packet in compound.packets() {
        total += packet.as_bytes().len();
        let _ = (
            packet.ssrc(),
            packet.sender_info(),
            packet.app_name(),
            packet.cname(),
            packet.body(),
        );
        let _ = packet.bye_sources().count();
    }
    assert_eq!(total, data.len(), "the packets of a compound do not add up to it");
}

/// A telephone-event payload: whatever parses prints to a payload that parses equal.
pub fn telephone_event(data: &[u8]) {
    let Ok(event) = TelephoneEvent::parse(data) else {
        return;
    };
    let mut printed = Vec::new();
    event.write(&mut printed);
    assert_eq!(TelephoneEvent::parse(&printed).ok(), Some(event));
    let _ = event.digit();
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = pn_media::parse_info_body("application/dtmf-relay", text);
        let _ = pn_media::parse_info_body("application/dtmf", text);
    }
}

/// A WAV file: whatever parses rewrites to a file that parses to the same audio.
pub fn wav(data: &[u8]) {
    let Ok(audio) = pn_media::parse_wav(data, 1 << 20) else {
        return;
    };
    let _ = audio.duration_ms();
    let mut printed = Vec::new();
    pn_media::write_wav(audio.law, audio.samples, &mut printed).unwrap_or_else(|e| panic!("write_wav: {e}"));
    assert_eq!(pn_media::parse_wav(&printed, 1 << 21).ok(), Some(audio));
}
