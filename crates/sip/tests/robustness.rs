//! Never panic on input: mutated fixtures and random bytes through every parser, with a fixed-seed
//! generator so that failures reproduce. Whatever parses must print to bytes that parse back equal.

// Test helpers outside `#[test]` functions may unwrap and panic too.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::PathBuf;

use pn_sip::framing::{StreamDecoder, parse_datagram};
use pn_sip::sdp::SessionDescription;
use pn_sip::validate::{ValidationPolicy, validate_request, validate_response};
use pn_sip::{NameAddr, SipMessage, Uri, Via};

/// xorshift64*: small, deterministic, good enough to drive mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn fixtures() -> Vec<Vec<u8>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../sip-fixtures");
    let mut out = Vec::new();
    for sub in ["rfc4475", "carrier"] {
        let Ok(entries) = std::fs::read_dir(root.join(sub)) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "dat" || x == "sip") {
                out.push(std::fs::read(p).unwrap());
            }
        }
    }
    assert!(out.len() >= 50);
    out
}

const TOKENS: &[&[u8]] = &[
    b"\r\n",
    b"\r\n ",
    b":",
    b";",
    b",",
    b"\"",
    b"<",
    b">",
    b"@",
    b"[",
    b"]",
    b"%",
    b"\\",
    b"=",
    b" ",
    b"\t",
    b"\0",
    b"\xff",
    b"Content-Length: 99999999999999999999\r\n",
    b"l: 5\r\n",
    b"SIP/2.0",
    b"\r\n\r\n",
    b"sip:",
    b"tel:",
    b"[::1]",
    b"v=0\r\n",
    b"m=audio 0 RTP/AVP 0\r\n",
];

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(v.len() + 1);
        match rng.below(6) {
            0 if !v.is_empty() => {
                let i = at.min(v.len() - 1);
                v[i] ^= 1 << rng.below(8);
            }
            1 => v.insert(at, rng.next() as u8),
            2 if at < v.len() => {
                let end = (at + rng.below(16)).min(v.len());
                v.drain(at..end);
            }
            3 => v.truncate(at),
            4 => {
                let t = TOKENS[rng.below(TOKENS.len())];
                v.splice(at..at, t.iter().copied());
            }
            _ => {
                let from = rng.below(v.len() + 1);
                let end = (from + rng.below(40)).min(v.len());
                let chunk = v[from..end].to_vec();
                v.splice(at..at, chunk);
            }
        }
    }
    v
}

fn exercise(bytes: &[u8], rng: &mut Rng) {
    let policy = ValidationPolicy::default();
    if let Ok(msg) = SipMessage::parse(bytes) {
        let printed = msg.to_bytes();
        let again = SipMessage::parse(&printed)
            .unwrap_or_else(|e| panic!("re-print of {:?} fails: {e}", String::from_utf8_lossy(bytes)));
        assert_eq!(
            again,
            msg,
            "re-print differs for {:?}",
            String::from_utf8_lossy(bytes)
        );
        let h = msg.headers();
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
        match &msg {
            SipMessage::Request(r) => {
                let _ = validate_request(r, &policy);
                let _ = r.cancel();
                let _ = r.uri().user_unescaped();
            }
            SipMessage::Response(r) => {
                let _ = validate_response(r);
            }
        }
        if let Ok(sdp) = SessionDescription::parse(msg.body()) {
            let again = SessionDescription::parse(&sdp.to_bytes()).unwrap();
            assert_eq!(again, sdp);
        }
    }
    let _ = parse_datagram(bytes);
    let _ = SessionDescription::parse(bytes);
    if let Ok(text) = std::str::from_utf8(bytes) {
        let _ = (Uri::parse(text), NameAddr::parse(text, "To"), Via::parse(text));
    }
    let mut d = StreamDecoder::new(4096);
    let mut rest = bytes;
    while !rest.is_empty() {
        let n = 1 + rng.below(rest.len());
        d.push(&rest[..n]);
        rest = &rest[n..];
        while d.poll().is_some() {}
    }
}

#[test]
fn mutated_fixtures_never_panic() {
    let fixtures = fixtures();
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    for _ in 0..20_000 {
        let base = &fixtures[rng.below(fixtures.len())];
        let input = mutate(&mut rng, base);
        exercise(&input, &mut rng);
    }
}

const ALPHABET: &[u8] = b"SIP/2.0 :;<>@\r\n\"\\ abc=1,%[]";

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(0x0DDB_A11C_0FFE_E000);
    for _ in 0..5_000 {
        let len = rng.below(300);
        let alphabet = rng.below(3);
        let bytes: Vec<u8> = (0..len)
            .map(|_| match alphabet {
                0 => rng.next() as u8,
                1 => ALPHABET[rng.below(ALPHABET.len())],
                _ => TOKENS[rng.below(TOKENS.len())][0],
            })
            .collect();
        exercise(&bytes, &mut rng);
    }
}

#[test]
fn every_fixture_fed_as_one_stream_with_content_length() {
    // Messages that parse as datagrams and carry Content-Length frame identically on a stream.
    let mut rng = Rng(7);
    let mut stream = Vec::new();
    let mut expected = Vec::new();
    for f in fixtures() {
        if let Ok(m) = SipMessage::parse(&f) {
            if m.headers().content_length().ok().flatten().is_some() {
                stream.extend_from_slice(&m.to_bytes());
                expected.push(m);
            }
        }
    }
    let mut d = StreamDecoder::new(1 << 20);
    let mut got = Vec::new();
    let mut rest = stream.as_slice();
    while !rest.is_empty() {
        let n = 1 + rng.below(rest.len().min(700));
        d.push(&rest[..n]);
        rest = &rest[n..];
        while let Some(m) = d.poll() {
            got.push(m.unwrap());
        }
    }
    assert_eq!(got, expected);
}
