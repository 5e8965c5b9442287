//! Message bodies: which bytes of a body are the session description, and the parts of a
//! `multipart/mixed` body (RFC 2046 §5.1.1; RFC 5621 for SIP). SIP-I trunks (ITU-T Q.1912.5) send an
//! INVITE whose body is `multipart/mixed` with the SDP and an ISUP IAM (`application/isup`) side by side.
//!
//! Hand-written: the grammar is a dozen lines, the parts are borrowed from the message without a copy,
//! and the MIME crates on crates.io are either HTTP-form parsers or whole e-mail parsers.

use crate::error::{Result, SipError};
use crate::header::Headers;

/// The media type of a session description.
pub const APPLICATION_SDP: &str = "application/sdp";
/// The media type of a multipart body whose parts are independent (RFC 2046 §5.1.3).
pub const MULTIPART_MIXED: &str = "multipart/mixed";

/// Most parts read from one multipart body (a SIP-I INVITE has two).
const MAX_PARTS: usize = 16;

/// One part of a multipart body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyPart<'a> {
    /// The part's media type, lower case, without parameters (`text/plain` when the part names none).
    pub content_type: String,
    /// The part's content.
    pub body: &'a [u8],
}

fn body_err(msg: &'static str) -> SipError {
    SipError::Body(msg)
}

/// The value of parameter `name` of a header value (`multipart/mixed;boundary="b 1"` → `b 1`).
fn parameter<'v>(value: &'v str, name: &str) -> Option<&'v str> {
    value.split(';').skip(1).find_map(|p| {
        let (n, v) = p.split_once('=')?;
        n.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().trim_matches('"'))
    })
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|at| at + from)
}

/// Where the delimiter line `--boundary` at or after `from` starts (at the body's start or after a line
/// end) and where the line after it starts; `None` when there is none.
fn next_delimiter(body: &[u8], dash_boundary: &[u8], from: usize) -> Option<(usize, usize, bool)> {
    let mut at = from;
    loop {
        let start = find(body, dash_boundary, at)?;
        let at_line_start = start == 0 || body[start - 1] == b'\n';
        let after = start + dash_boundary.len();
        // `--boundary` is a delimiter only when the boundary ends there (`--b` is not `--bx`).
        let ends = body
            .get(after)
            .is_none_or(|b| matches!(b, b'-' | b' ' | b'\t' | b'\r' | b'\n'));
        if at_line_start && ends {
            let close = body.get(after..after + 2) == Some(&b"--"[..]);
            // Transport padding (spaces) may follow the delimiter before its line end.
            let line_end = find(body, b"\n", after).map_or(body.len(), |e| e + 1);
            return Some((start, line_end, close));
        }
        at = after;
    }
}

/// The parts of a `multipart/*` body; `content_type` is the full Content-Type value (with `boundary`).
pub fn multipart_parts<'a>(content_type: &str, body: &'a [u8]) -> Result<Vec<BodyPart<'a>>> {
    let boundary = parameter(content_type, "boundary").ok_or(body_err("multipart body without boundary"))?;
    if boundary.is_empty() || boundary.len() > 70 {
        return Err(body_err("multipart boundary must be 1 to 70 characters"));
    }
    let dash_boundary = format!("--{boundary}");
    let dash_boundary = dash_boundary.as_bytes();
    let (_, mut part_start, mut closed) =
        next_delimiter(body, dash_boundary, 0).ok_or(body_err("multipart body without a delimiter"))?;
    let mut parts = Vec::new();
    while !closed {
        let (next, next_start, close) =
            next_delimiter(body, dash_boundary, part_start).ok_or(body_err("multipart body not closed"))?;
        // The line end before the delimiter belongs to the delimiter.
        let mut end = next;
        if end > part_start && body[end - 1] == b'\n' {
            end -= 1;
            if end > part_start && body[end - 1] == b'\r' {
                end -= 1;
            }
        }
        parts.push(part(&body[part_start..end])?);
        if parts.len() > MAX_PARTS {
            return Err(body_err("too many body parts"));
        }
        part_start = next_start;
        closed = close;
    }
    Ok(parts)
}

/// One encapsulation: header lines, an empty line, the content.
fn part(bytes: &[u8]) -> Result<BodyPart<'_>> {
    let (head, content) = match find(bytes, b"\r\n\r\n", 0) {
        Some(at) => (&bytes[..at], &bytes[at + 4..]),
        None if bytes.starts_with(b"\r\n") => (&bytes[..0], &bytes[2..]),
        None => match find(bytes, b"\n\n", 0) {
            Some(at) => (&bytes[..at], &bytes[at + 2..]),
            None => return Err(body_err("body part without an empty line after its headers")),
        },
    };
    let head = std::str::from_utf8(head).map_err(|_| body_err("body part headers are not UTF-8"))?;
    let content_type = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("Content-Type"))
        .map_or_else(
            || "text/plain".to_owned(),
            |(_, v)| {
                v.split(';')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_ascii_lowercase()
            },
        );
    Ok(BodyPart {
        content_type,
        body: content,
    })
}

/// The session description a message carries: the whole body when it is `application/sdp`, the first
/// `application/sdp` part of a `multipart/mixed` body; `None` for any other body (or a broken multipart).
pub fn session_description<'a>(headers: &Headers, body: &'a [u8]) -> Option<&'a [u8]> {
    if body.is_empty() {
        return None;
    }
    match headers.content_type()?.as_str() {
        APPLICATION_SDP => Some(body),
        MULTIPART_MIXED => multipart_parts(headers.get("Content-Type")?, body)
            .ok()?
            .into_iter()
            .find(|p| p.content_type == APPLICATION_SDP)
            .map(|p| p.body),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIP_I: &[u8] = b"--unique-boundary-1\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n\
o=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\n\r\n--unique-boundary-1\r\nContent-Type: application/isup;version=itu-t92+\r\n\
Content-Disposition: signal;handling=optional\r\n\r\n\x01\x10\x48\x00\x0a\x03\x02\x0a\x08\x83\x90\x31\x08\x00\
\x00\x00\x01\r\n--unique-boundary-1--\r\n";

    #[test]
    fn sip_i_parts() {
        let parts = multipart_parts("multipart/mixed;boundary=unique-boundary-1", SIP_I).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].content_type, "application/sdp");
        assert_eq!(parts[0].body, b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\n");
        assert_eq!(parts[1].content_type, "application/isup");
        assert!(parts[1].body.starts_with(b"\x01\x10\x48"));
        assert!(parts[1].body.ends_with(b"\x01"));
        let mut h = Headers::new();
        h.push("Content-Type", "multipart/mixed; boundary=\"unique-boundary-1\"");
        assert_eq!(session_description(&h, SIP_I), Some(parts[0].body));
    }

    #[test]
    fn preamble_padding_and_lf_only() {
        let body =
            b"preamble\n--b  \nContent-Type: text/plain\n\nhello --b not a delimiter\n--bx\n--b--\nepilogue";
        let parts = multipart_parts("multipart/mixed; boundary=b", body).unwrap();
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].body, b"hello --b not a delimiter\n--bx");
        let no_headers = b"--b\r\n\r\nplain\r\n--b--";
        let parts = multipart_parts("multipart/mixed;boundary=b", no_headers).unwrap();
        assert_eq!(
            (parts[0].content_type.as_str(), parts[0].body),
            ("text/plain", &b"plain"[..])
        );
    }

    #[test]
    fn broken_bodies_are_errors_not_panics() {
        for (ct, body) in [
            ("multipart/mixed", &b"--b\r\n\r\nx\r\n--b--"[..]),
            ("multipart/mixed;boundary=b", b"no delimiter"),
            ("multipart/mixed;boundary=b", b"--b\r\n\r\nnever closed"),
            (
                "multipart/mixed;boundary=b",
                b"--b\r\nContent-Type: a/b\r\nno blank line\r\n--b--",
            ),
            ("multipart/mixed;boundary=b", b"--b"),
            ("multipart/mixed;boundary=", b"----"),
        ] {
            assert!(multipart_parts(ct, body).is_err(), "{ct} {body:?}");
        }
        let mut h = Headers::new();
        h.push("Content-Type", "multipart/mixed;boundary=b");
        assert_eq!(
            session_description(&h, b"--b\r\nContent-Type: application/isup\r\n\r\n1\r\n--b--"),
            None
        );
        let mut h = Headers::new();
        h.push("Content-Type", "text/plain");
        assert_eq!(session_description(&h, b"v=0"), None);
    }
}
