//! A `400 Bad Request` for a request that does not parse, or (on TCP) cannot be framed, e.g. no Content-Length (RFC 3261 §8.2.2, §18.3, §21.4.1).
//!
//! The message cannot be parsed into a [`crate::Request`], so the answer is built from the raw lines: the status
//! line plus `Via`, `From`, `To` (with the tag given), `Call-ID` and `CSeq` copied as they came, and the
//! `Reason` header the caller gives (the cause). Without a recognisable request line and all five headers
//! nothing is answered (the caller drops and counts the datagram), and an ACK is never answered.
//!
//! Sans-IO like the rest of the crate: the runtime passes the bytes it read and the To tag to use, and sends
//! what comes back.

/// The bytes of a `400 Bad Request` answering `datagram`, when it is a request that can be answered.
///
/// `to_tag` is added to the `To` header when it has none; `reason`, when given, is sent as the `Reason`
/// header's value (e.g. `Q.850;cause=95;text="…"`).
#[must_use]
pub fn bad_request(datagram: &[u8], to_tag: &str, reason: Option<&str>) -> Option<Vec<u8>> {
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
        out.push_str(";tag=");
        out.push_str(to_tag);
    }
    out.push_str("\r\nCall-ID: ");
    out.push_str(call_id);
    out.push_str("\r\nCSeq: ");
    out.push_str(cseq);
    if let Some(reason) = reason {
        out.push_str("\r\nReason: ");
        out.push_str(reason);
    }
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
        let reason = "Q.850;cause=95;text=\"7505 caller-side network error\"";
        let text = String::from_utf8(bad_request(broken, "pn400-7", Some(reason)).unwrap()).unwrap();
        assert!(
            text.starts_with("SIP/2.0 400 Bad Request\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n")
        );
        assert!(text.contains("To: <sip:x@y>;tag=pn400-7\r\n"), "{text}");
        assert!(text.contains(
            "Call-ID: c1\r\nCSeq: 1 INVITE\r\nReason: Q.850;cause=95;text=\"7505 caller-side network error\"\r\nContent-Length: 0\r\n\r\n"
        ));
        let parsed = crate::SipMessage::parse(text.as_bytes()).expect("the 400 parses");
        let crate::SipMessage::Response(parsed) = parsed else {
            panic!("{text}")
        };
        assert_eq!(parsed.status(), 400);
        assert_eq!(parsed.headers().reason().unwrap().unwrap().cause, Some(95));
        // A To that has a tag keeps it; no Reason when none is given.
        let tagged =
            b"OPTIONS sip:x@y SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKq\r\nFrom: <sip:a@b>;tag=1\r\n\
To: <sip:x@y>;tag=abc\r\nCall-ID: c2\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: x\r\n\r\n";
        let text = String::from_utf8(bad_request(tagged, "unused", None).unwrap()).unwrap();
        assert!(
            text.contains("To: <sip:x@y>;tag=abc\r\n") && !text.contains("unused"),
            "{text}"
        );
        assert!(!text.contains("Reason:"), "{text}");
        assert!(bad_request(b"SIP/2.0 200 OK\r\n\r\n", "t", None).is_none());
        assert!(
            bad_request(
                b"ACK sip:x@y SIP/2.0\r\nVia: v\r\nFrom: f\r\nTo: t\r\nCall-ID: c\r\nCSeq: 1 ACK\r\n\r\n",
                "t",
                None
            )
            .is_none()
        );
        assert!(bad_request(b"\x00\x01garbage", "t", None).is_none());
        assert!(bad_request(b"INVITE sip:x@y SIP/2.0\r\nFrom: f\r\n\r\n", "t", None).is_none());
    }
}
