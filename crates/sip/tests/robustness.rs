//! Stream framing over the fixtures. (Mutated fixtures and random bytes through every parser are the fuzz
//! targets of pn-fuzz, run as bounded tests too: `crates/fuzz`.)

// Test helpers outside `#[test]` functions may unwrap and panic too.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::PathBuf;

use pn_sip::SipMessage;
use pn_sip::framing::StreamDecoder;

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

#[test]
fn every_fixture_fed_as_one_stream_with_content_length() {
    // Messages that parse as datagrams and carry Content-Length frame identically on a stream.
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
    // Chunks of every size from 1 to 700 bytes, in a scrambled order.
    let mut step = 0usize;
    while !rest.is_empty() {
        step += 1;
        let n = 1 + (step * 389) % rest.len().min(700);
        d.push(&rest[..n]);
        rest = &rest[n..];
        while let Some(m) = d.poll() {
            got.push(m.unwrap());
        }
    }
    assert_eq!(got, expected);
}
