//! SIP messages: parsing from bytes, printing to bytes, and access to start line, headers and body.
//!
//! Parsing is this crate's own (RFC 3261 §7 and §25 grammar, RFC 4475 robustness): rsipstack 0.7.14's
//! parser cannot represent extension methods, re-escapes URIs and drops reason phrases when printing,
//! splits `user;par@host` wrongly and ignores a Content-Length larger than the body, so it is not used
//! for the wire format (see the crate docs).

use crate::error::{Result, SipError};
use crate::header::{Header, Headers, is_token};
use crate::typed::{Method, parse_bounded};
use crate::uri::Uri;

/// A parsed SIP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SipMessage {
    /// A request.
    Request(Request),
    /// A response.
    Response(Response),
}

/// A SIP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub(crate) method: Method,
    pub(crate) uri: Uri,
    pub(crate) version: Version,
    pub(crate) headers: Headers,
    pub(crate) body: Vec<u8>,
}

/// A SIP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub(crate) status: u16,
    pub(crate) reason: String,
    pub(crate) version: Version,
    pub(crate) headers: Headers,
    pub(crate) body: Vec<u8>,
}

/// The SIP-Version of a start line (`SIP/2.0`); other versions parse so that a server can answer 505.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version {
    /// Major number.
    pub major: u16,
    /// Minor number.
    pub minor: u16,
}

impl Version {
    /// SIP/2.0.
    pub const SIP_2_0: Self = Self { major: 2, minor: 0 };

    fn parse(s: &str) -> Result<Self> {
        let bad = || SipError::StartLine(format!("bad SIP-Version {s:?}"));
        let rest = s
            .get(..4)
            .filter(|p| p.eq_ignore_ascii_case("SIP/"))
            .map(|_| &s[4..])
            .ok_or_else(bad)?;
        let (major, minor) = rest.split_once('.').ok_or_else(bad)?;
        let num = |n: &str| {
            parse_bounded(n, u16::MAX.into())
                .map(|v| v as u16)
                .ok_or_else(bad)
        };
        Ok(Self {
            major: num(major)?,
            minor: num(minor)?,
        })
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SIP/{}.{}", self.major, self.minor)
    }
}

/// The parsed header section of a message, before its body is attached (used by stream framing).
#[derive(Debug)]
pub(crate) struct Head {
    start: StartLine,
    pub(crate) headers: Headers,
    /// The Content-Length value, if present.
    pub(crate) content_length: Option<usize>,
}

#[derive(Debug)]
enum StartLine {
    Request(Method, Uri, Version),
    Response(Version, u16, String),
}

impl Head {
    pub(crate) fn into_message(self, body: Vec<u8>) -> SipMessage {
        let Self { start, headers, .. } = self;
        match start {
            StartLine::Request(method, uri, version) => SipMessage::Request(Request {
                method,
                uri,
                version,
                headers,
                body,
            }),
            StartLine::Response(version, status, reason) => SipMessage::Response(Response {
                status,
                reason,
                version,
                headers,
                body,
            }),
        }
    }
}

/// Finds the end of the header section: returns (offset of the empty line, offset of the body).
/// Lines may end in CRLF or a bare LF.
pub(crate) fn find_head_end(data: &[u8]) -> Option<(usize, usize)> {
    let mut line_start = 0;
    while let Some(nl) = data[line_start..].iter().position(|&b| b == b'\n') {
        let nl = line_start + nl;
        let line = &data[line_start..nl];
        if line.is_empty() || line == b"\r" {
            return Some((line_start, nl + 1));
        }
        line_start = nl + 1;
    }
    None
}

/// Parses a header section (start line + header lines, without the empty line).
pub(crate) fn parse_head(head: &[u8]) -> Result<Head> {
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let start = lines.next().ok_or_else(|| SipError::StartLine("empty".into()))?;
    let start = std::str::from_utf8(start).map_err(|_| SipError::StartLine("not UTF-8".into()))?;
    let start = parse_start_line(start)?;

    let mut headers = Headers::new();
    let mut pending: Option<Vec<u8>> = None;
    let mut content_lengths = Vec::new();
    let mut flush = |line: Vec<u8>, headers: &mut Headers| -> Result<()> {
        let header = parse_header_line(&line)?;
        if header.name() == "Content-Length" {
            content_lengths.push(header.value().to_owned());
        }
        headers.push_header(header);
        Ok(())
    };
    for line in lines {
        if line.is_empty() {
            continue; // trailing empty piece of the split
        }
        if matches!(line[0], b' ' | b'\t') {
            // Folded continuation (RFC 3261 §7.3.1): LWS, equivalent to a single space.
            let cont = pending
                .as_mut()
                .ok_or_else(|| SipError::HeaderLine("continuation without a header".into()))?;
            cont.push(b' ');
            cont.extend_from_slice(line.trim_ascii_start());
            continue;
        }
        if let Some(prev) = pending.replace(line.to_vec()) {
            flush(prev, &mut headers)?;
        }
    }
    if let Some(prev) = pending {
        flush(prev, &mut headers)?;
    }
    let content_length = match content_lengths.as_slice() {
        [] => None,
        [one] => Some(
            parse_bounded(one, u32::MAX.into())
                .map(|v| v as usize)
                .ok_or_else(|| SipError::ContentLength(one.clone()))?,
        ),
        _ => return Err(SipError::ContentLength("more than one Content-Length".into())),
    };
    Ok(Head {
        start,
        headers,
        content_length,
    })
}

fn parse_header_line(line: &[u8]) -> Result<Header> {
    let line = std::str::from_utf8(line).map_err(|_| SipError::HeaderLine("not UTF-8".into()))?;
    let (name, value) = line
        .split_once(':')
        .ok_or_else(|| SipError::HeaderLine(format!("no colon in {:?}", truncate(line))))?;
    // `Via :` — whitespace between name and colon is allowed (HCOLON = *( SP / HTAB ) ":" SWS).
    let name = name.trim_end_matches([' ', '\t']);
    if !is_token(name) {
        return Err(SipError::HeaderLine(format!(
            "bad header name {:?}",
            truncate(name)
        )));
    }
    Ok(Header::new(name, value.trim_matches([' ', '\t'])))
}

fn truncate(s: &str) -> &str {
    s.char_indices().nth(40).map_or(s, |(i, _)| &s[..i])
}

fn parse_start_line(line: &str) -> Result<StartLine> {
    if line.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("SIP/")) {
        let mut parts = line.splitn(3, ' ');
        let version = Version::parse(parts.next().unwrap_or_default())?;
        let code = parts.next().unwrap_or_default();
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(SipError::StartLine(format!(
                "bad status code {:?}",
                truncate(code)
            )));
        }
        let status = code
            .parse::<u16>()
            .map_err(|_| SipError::StartLine("bad status code".into()))?;
        if !(100..=699).contains(&status) {
            return Err(SipError::StartLine(format!("status code {status} out of range")));
        }
        let reason = parts.next().unwrap_or_default();
        if reason.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
            return Err(SipError::StartLine("control character in reason phrase".into()));
        }
        return Ok(StartLine::Response(version, status, reason.trim().to_owned()));
    }
    // Request-Line = Method SP Request-URI SP SIP-Version: exactly single spaces (RFC 4475 §3.1.2.9-10).
    let parts: Vec<&str> = line.split(' ').collect();
    let [method, uri, version] = parts.as_slice() else {
        return Err(SipError::StartLine(format!(
            "{:?} is not `Method SP URI SP Version`",
            truncate(line)
        )));
    };
    let method = Method::parse(method)?;
    let uri = Uri::parse(uri)?;
    let version = Version::parse(version)?;
    Ok(StartLine::Request(method, uri, version))
}

impl SipMessage {
    /// Parses one message with datagram semantics (RFC 3261 §18.3): the body is Content-Length
    /// bytes (bytes beyond it are ignored), or the rest of the input when Content-Length is absent;
    /// a Content-Length larger than the bytes present is an error. Leading CRLFs are skipped.
    pub fn parse(data: &[u8]) -> Result<Self> {
        let skip = data.iter().take_while(|&&b| b == b'\r' || b == b'\n').count();
        let data = &data[skip..];
        let (head_end, body_start) = find_head_end(data).ok_or(SipError::Incomplete)?;
        let head = parse_head(&data[..head_end])?;
        let available = data.len() - body_start;
        let body = match head.content_length {
            Some(declared) if declared > available => {
                return Err(SipError::Truncated { declared, available });
            }
            Some(declared) => data[body_start..body_start + declared].to_vec(),
            None => data[body_start..].to_vec(),
        };
        Ok(head.into_message(body))
    }

    /// Prints the message: start line, headers (canonical names) in order, empty line, body.
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Self::Request(r) => r.to_bytes(),
            Self::Response(r) => r.to_bytes(),
        }
    }

    /// The headers.
    pub fn headers(&self) -> &Headers {
        match self {
            Self::Request(r) => &r.headers,
            Self::Response(r) => &r.headers,
        }
    }

    /// The headers, mutably.
    pub fn headers_mut(&mut self) -> &mut Headers {
        match self {
            Self::Request(r) => &mut r.headers,
            Self::Response(r) => &mut r.headers,
        }
    }

    /// The body bytes.
    pub fn body(&self) -> &[u8] {
        match self {
            Self::Request(r) => &r.body,
            Self::Response(r) => &r.body,
        }
    }

    /// The request, if this is one.
    pub fn as_request(&self) -> Option<&Request> {
        match self {
            Self::Request(r) => Some(r),
            Self::Response(_) => None,
        }
    }

    /// The response, if this is one.
    pub fn as_response(&self) -> Option<&Response> {
        match self {
            Self::Response(r) => Some(r),
            Self::Request(_) => None,
        }
    }
}

fn print(start: &str, headers: &Headers, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(start.len() + 32 * headers.len() + body.len() + 4);
    out.extend_from_slice(start.as_bytes());
    out.extend_from_slice(b"\r\n");
    for h in headers {
        out.extend_from_slice(h.name().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(h.value().as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

impl Request {
    /// Parses bytes that must hold a request (see [`SipMessage::parse`]).
    pub fn parse(data: &[u8]) -> Result<Self> {
        match SipMessage::parse(data)? {
            SipMessage::Request(r) => Ok(r),
            SipMessage::Response(_) => Err(SipError::StartLine("expected a request, got a response".into())),
        }
    }

    /// The method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The Request-URI.
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    /// Replaces the Request-URI.
    pub fn set_uri(&mut self, uri: Uri) {
        self.uri = uri;
    }

    /// The SIP-Version of the request line.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The headers.
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// The headers, mutably.
    pub fn headers_mut(&mut self) -> &mut Headers {
        &mut self.headers
    }

    /// The body bytes.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// Replaces the body, setting Content-Type (or removing it for an empty body) and Content-Length.
    pub fn set_body(&mut self, content_type: Option<&str>, body: Vec<u8>) {
        set_body(&mut self.headers, &mut self.body, content_type, body);
    }

    /// Prints the request.
    pub fn to_bytes(&self) -> Vec<u8> {
        print(
            &format!("{} {} {}", self.method, self.uri, self.version),
            &self.headers,
            &self.body,
        )
    }
}

impl Response {
    /// Parses bytes that must hold a response (see [`SipMessage::parse`]).
    pub fn parse(data: &[u8]) -> Result<Self> {
        match SipMessage::parse(data)? {
            SipMessage::Response(r) => Ok(r),
            SipMessage::Request(_) => Err(SipError::StartLine("expected a response, got a request".into())),
        }
    }

    /// The status code (100..=699).
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The reason phrase as received (possibly empty, UTF-8).
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The SIP-Version of the status line.
    pub fn version(&self) -> Version {
        self.version
    }

    /// Whether this is a provisional (1xx) response.
    pub fn is_provisional(&self) -> bool {
        self.status < 200
    }

    /// The headers.
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// The headers, mutably.
    pub fn headers_mut(&mut self) -> &mut Headers {
        &mut self.headers
    }

    /// The body bytes.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// Replaces the body, setting Content-Type (or removing it for an empty body) and Content-Length.
    pub fn set_body(&mut self, content_type: Option<&str>, body: Vec<u8>) {
        set_body(&mut self.headers, &mut self.body, content_type, body);
    }

    /// Prints the response.
    pub fn to_bytes(&self) -> Vec<u8> {
        let start = if self.reason.is_empty() {
            format!("{} {} ", self.version, self.status)
        } else {
            format!("{} {} {}", self.version, self.status, self.reason)
        };
        print(&start, &self.headers, &self.body)
    }
}

fn set_body(headers: &mut Headers, slot: &mut Vec<u8>, content_type: Option<&str>, body: Vec<u8>) {
    match content_type {
        Some(ct) if !body.is_empty() => headers.set("Content-Type", ct),
        _ => {
            headers.remove("Content-Type");
        }
    }
    headers.set("Content-Length", body.len().to_string());
    *slot = body;
}

impl From<Request> for SipMessage {
    fn from(r: Request) -> Self {
        Self::Request(r)
    }
}

impl From<Response> for SipMessage {
    fn from(r: Response) -> Self {
        Self::Response(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &[u8] = b"INVITE sip:+4930123@trunk.example.net;user=phone SIP/2.0\r\n\
v: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1\r\nf: <sip:+4930999@a.example>;tag=1\r\n\
t: <sip:+4930123@trunk.example.net>\r\ni: c1@a\r\nCSeq: 1 INVITE\r\nl: 4\r\n\r\nabcdEXTRA";

    #[test]
    fn datagram_parse_honours_content_length() {
        let m = SipMessage::parse(INVITE).unwrap();
        assert_eq!(m.body(), b"abcd");
        assert_eq!(m.headers().call_id().unwrap(), "c1@a");
        let printed = m.to_bytes();
        assert!(printed.starts_with(b"INVITE sip:+4930123@trunk.example.net;user=phone SIP/2.0\r\nVia: "));
        assert_eq!(SipMessage::parse(&printed).unwrap(), m);
        let short = &INVITE[..INVITE.len() - 7];
        assert_eq!(
            SipMessage::parse(short),
            Err(SipError::Truncated {
                declared: 4,
                available: 2
            })
        );
    }

    #[test]
    fn reason_phrases_survive_printing() {
        let r = Response::parse(b"SIP/2.0 486 Busy Here Now\r\nContent-Length: 0\r\n\r\n").unwrap();
        assert_eq!((r.status(), r.reason()), (486, "Busy Here Now"));
        assert!(r.to_bytes().starts_with(b"SIP/2.0 486 Busy Here Now\r\n"));
        let r = Response::parse(b"SIP/2.0 100 \r\nContent-Length: 0\r\n\r\n").unwrap();
        assert_eq!(r.reason(), "");
        assert_eq!(Response::parse(&r.to_bytes()).unwrap(), r);
    }

    #[test]
    fn malformed_heads_are_errors() {
        for bad in [
            &b"INVITE  sip:a@b SIP/2.0\r\n\r\n"[..],
            b"INVITE sip:a@b SIP/2.0 \r\n\r\n",
            b"INVITE <sip:a@b> SIP/2.0\r\n\r\n",
            b"SIP/2.0 4294967301 x\r\n\r\n",
            b"INVITE sip:a@b SIP/2.0\r\nNo colon here\r\n\r\n",
            b"INVITE sip:a@b SIP/2.0\r\n continuation\r\n\r\n",
            b"INVITE sip:a@b SIP/2.0\r\nl: -1\r\n\r\n",
            b"INVITE sip:a@b SIP/2.0\r\nl: 0\r\nContent-Length: 0\r\n\r\n",
            b"INVITE sip:a@b SIP/2.0\r\nX: \xff\r\n\r\n",
            b"INVITE sip:a@b SIP/2.0\r\n",
        ] {
            assert!(
                SipMessage::parse(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
