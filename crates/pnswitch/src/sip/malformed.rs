//! A `400 Bad Request` for a request that does not parse, or (on TCP) cannot be framed, e.g. no Content-Length (RFC 3261 §8.2.2, §18.3, §21.4.1).
//!
//! Built from the raw lines: the status line plus `Via`, `From`, `To` (with a tag), `Call-ID` and `CSeq` copied
//! as they came. Without a recognisable request line and all five headers nothing is answered
//! (the datagram is dropped and counted), and an ACK is never answered.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// The bytes of a 400 answering `datagram`, when it is a request we can answer.
pub(crate) fn bad_request(datagram: &[u8]) -> Option<Vec<u8>> {
    let head_end = find(datagram, b"\r\n\r\n").unwrap_or(datagram.len());
    let head = String::from_utf8_lossy(&datagram[..head_end]);
    let mut lines = head.split('\n').map(|l| l.trim_end_matches('\r'));
    let request_line = lines.next()?;
    let mut parts = request_line.split(' ');
    let method = parts.next()?;
    let version = request_line.rsplit(' ').next()?;
    if method.is_empty()
        || !method
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b))
        || !version.eq_ignore_ascii_case("SIP/2.0")
        || method.eq_ignore_ascii_case("ACK")
    {
        return None;
    }
    let mut vias = Vec::new();
    let (mut from, mut to, mut call_id, mut cseq) = (None, None, None, None);
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "via" | "v" => vias.push(value),
            "from" | "f" => from = from.or(Some(value)),
            "to" | "t" => to = to.or(Some(value)),
            "call-id" | "i" => call_id = call_id.or(Some(value)),
            "cseq" => cseq = cseq.or(Some(value)),
            _ => {}
        }
    }
    let (from, to, call_id, cseq) = (from?, to?, call_id?, cseq?);
    if vias.is_empty() {
        return None;
    }
    let mut out = String::from("SIP/2.0 400 Bad Request\r\n");
    for via in vias {
        out.push_str("Via: ");
        out.push_str(via);
        out.push_str("\r\n");
    }
    out.push_str("From: ");
    out.push_str(from);
    out.push_str("\r\nTo: ");
    out.push_str(to);
    if !to.to_ascii_lowercase().contains(";tag=") {
        static TAGS: AtomicU64 = AtomicU64::new(1);
        let _ = write!(out, ";tag=pn400-{}", TAGS.fetch_add(1, Ordering::Relaxed));
    }
    out.push_str("\r\nCall-ID: ");
    out.push_str(call_id);
    out.push_str("\r\nCSeq: ");
    out.push_str(cseq);
    out.push_str("\r\nContent-Length: 0\r\n\r\n");
    Some(out.into_bytes())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_a_broken_request_and_ignores_the_rest() {
        let broken = b"INVITE sip:x@y SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n\
From: <sip:a@b>;tag=1\r\nTo: <sip:x@y>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\nContent-Length: nope\r\n\r\n";
        let text = String::from_utf8(bad_request(broken).unwrap()).unwrap();
        assert!(
            text.starts_with("SIP/2.0 400 Bad Request\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n")
        );
        assert!(text.contains("To: <sip:x@y>;tag=pn400-"), "{text}");
        assert!(text.contains("Call-ID: c1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"));
        assert!(pn_sip::SipMessage::parse(text.as_bytes()).is_ok(), "{text}");
        assert!(bad_request(b"SIP/2.0 200 OK\r\n\r\n").is_none());
        assert!(
            bad_request(
                b"ACK sip:x@y SIP/2.0\r\nVia: v\r\nFrom: f\r\nTo: t\r\nCall-ID: c\r\nCSeq: 1 ACK\r\n\r\n"
            )
            .is_none()
        );
        assert!(bad_request(b"\x00\x01garbage").is_none());
        assert!(bad_request(b"INVITE sip:x@y SIP/2.0\r\nFrom: f\r\n\r\n").is_none());
    }
}
