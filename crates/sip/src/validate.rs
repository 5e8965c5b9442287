//! Semantic checks a server applies to a request that parsed, before handing it to the
//! transaction user: each failure names the error response owed (RFC 3261 §8.2, §16.3, RFC 4475 §3.3).

use crate::error::SipError;
use crate::header::Headers;
use crate::message::{Request, Response, Version};
use crate::typed::{Method, parse_bounded};
use crate::uri::Scheme;

/// What this server accepts beyond the base grammar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationPolicy {
    /// Option tags a `Require` may name (anything else gets 420 Bad Extension).
    pub supported_extensions: Vec<String>,
    /// Body types accepted in INVITE/ACK/PRACK/UPDATE (others get 415) and offered in answers
    /// (an INVITE whose `Accept` admits none of them gets 406).
    pub accepted_content_types: Vec<String>,
    /// Whether a request without Max-Forwards is rejected (RFC 2543 peers omit it).
    pub require_max_forwards: bool,
}

impl Default for ValidationPolicy {
    fn default() -> Self {
        Self {
            supported_extensions: Vec::new(),
            accepted_content_types: vec!["application/sdp".to_owned()],
            require_max_forwards: false,
        }
    }
}

/// Why a request is refused: the status and reason phrase of the error response to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Status code (400, 406, 415, 416, 420, 505).
    pub status: u16,
    /// Reason phrase for the status line.
    pub reason: &'static str,
    /// Human-readable detail (for a Warning header or logs).
    pub detail: String,
    /// For 420: the option tags to list in `Unsupported`.
    pub unsupported: Vec<String>,
}

impl Rejection {
    fn new(status: u16, reason: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            reason,
            detail: detail.into(),
            unsupported: Vec::new(),
        }
    }

    fn bad(detail: impl Into<String>) -> Self {
        Self::new(400, "Bad Request", detail)
    }
}

impl Rejection {
    /// The Q.850 cause for the rejection's `Reason` header (RFC 3326): 95 "invalid message" for a
    /// malformed request (400), 79 "service or option not implemented" for an unsupported extension,
    /// body type or URI scheme (415, 416, 420), 88 "incompatible destination" for 406 and 505.
    #[must_use]
    pub fn q850_cause(&self) -> u16 {
        match self.status {
            415 | 416 | 420 => 79,
            406 | 505 => 88,
            _ => 95,
        }
    }
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.reason, self.detail)
    }
}

const SINGLE_VALUED: [&str; 6] = ["From", "To", "Call-ID", "CSeq", "Max-Forwards", "Content-Type"];

/// Checks a request against RFC 3261 and `policy`; `Err` carries the response to send.
pub fn validate_request(request: &Request, policy: &ValidationPolicy) -> Result<(), Rejection> {
    if request.version() != Version::SIP_2_0 {
        return Err(Rejection::new(
            505,
            "Version Not Supported",
            request.version().to_string(),
        ));
    }
    let h = request.headers();
    check_common(h).map_err(|e| Rejection::bad(e.to_string()))?;
    if policy.require_max_forwards && !h.contains("Max-Forwards") {
        return Err(Rejection::bad("missing Max-Forwards"));
    }
    let cseq = h.cseq().map_err(|e| Rejection::bad(e.to_string()))?;
    if cseq.method != *request.method() {
        return Err(Rejection::bad(format!(
            "CSeq method {} differs from {}",
            cseq.method,
            request.method()
        )));
    }
    for name in ["From", "To"] {
        let value = if name == "From" { h.from() } else { h.to() };
        let value = value.map_err(|e| Rejection::bad(e.to_string()))?;
        if matches!(value.uri().scheme(), Scheme::Other(_)) {
            return Err(Rejection::bad(format!(
                "{name} URI scheme {} is not sip, sips or tel",
                value.uri().scheme()
            )));
        }
    }
    if h.get("Contact").is_some_and(|c| c.trim() != "*") {
        h.contacts().map_err(|e| Rejection::bad(e.to_string()))?;
    }
    if let Some(expires) = h.get("Expires") {
        parse_bounded(expires, u32::MAX.into())
            .ok_or_else(|| Rejection::bad(format!("bad Expires {expires:?}")))?;
    }
    if let Some(date) = h.get("Date") {
        if !date.trim_end().ends_with("GMT") {
            return Err(Rejection::bad(format!("Date {date:?} is not in GMT")));
        }
    }
    let uri = request.uri();
    if matches!(uri.scheme(), Scheme::Other(_)) {
        return Err(Rejection::new(
            416,
            "Unsupported URI Scheme",
            uri.scheme().to_string(),
        ));
    }
    if uri.headers().is_some() {
        return Err(Rejection::bad("Request-URI carries headers"));
    }
    if !matches!(request.method(), Method::Ack | Method::Cancel) {
        let unsupported: Vec<String> = h
            .option_tags("Require")
            .filter(|t| {
                !policy
                    .supported_extensions
                    .iter()
                    .any(|s| s.eq_ignore_ascii_case(t))
            })
            .map(str::to_owned)
            .collect();
        if !unsupported.is_empty() {
            let mut r = Rejection::new(420, "Bad Extension", unsupported.join(", "));
            r.unsupported = unsupported;
            return Err(r);
        }
    }
    let carries_session = matches!(
        request.method(),
        Method::Invite | Method::Ack | Method::Prack | Method::Update
    );
    if carries_session && !request.body().is_empty() {
        let ct = h.content_type().unwrap_or_default();
        if !policy
            .accepted_content_types
            .iter()
            .any(|a| a.eq_ignore_ascii_case(&ct))
        {
            return Err(Rejection::new(415, "Unsupported Media Type", ct));
        }
    }
    if *request.method() == Method::Invite && h.contains("Accept") {
        let accepts = |t: &str| {
            let t = t
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase();
            policy.accepted_content_types.iter().any(|a| {
                let a = a.to_ascii_lowercase();
                t == a || t == "*/*" || (t.ends_with("/*") && a.starts_with(&t[..t.len() - 1]))
            })
        };
        let listed: Vec<&str> = h.get_list("Accept").filter(|t| !t.is_empty()).collect();
        if !listed.is_empty() && !listed.iter().any(|t| accepts(t)) {
            return Err(Rejection::new(406, "Not Acceptable", listed.join(", ")));
        }
    }
    Ok(())
}

/// Checks a response's transaction-matching headers; a failing response is to be dropped.
pub fn validate_response(response: &Response) -> Result<(), SipError> {
    check_common(response.headers())?;
    response.headers().cseq().map(|_| ())
}

fn check_common(h: &Headers) -> Result<(), SipError> {
    for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
        if !h.contains(name) {
            return Err(SipError::MissingHeader(name));
        }
    }
    for name in SINGLE_VALUED {
        if h.count(name) > 1 {
            return Err(SipError::InvalidHeader {
                name,
                reason: "appears more than once".into(),
            });
        }
    }
    h.vias()?;
    h.from()?;
    h.to()?;
    h.cseq()?;
    h.max_forwards()?;
    if h.call_id()?.is_empty() {
        return Err(SipError::InvalidHeader {
            name: "Call-ID",
            reason: "empty".into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(extra: &str, method: &str, uri: &str) -> Request {
        let raw = format!(
            "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP a.example;branch=z9hG4bK1\r\nFrom: <sip:a@a.example>;tag=1\r\n\
             To: <sip:b@b.example>\r\nCall-ID: c\r\nCSeq: 1 {method}\r\nMax-Forwards: 70\r\n{extra}Content-Length: 0\r\n\r\n"
        );
        Request::parse(raw.as_bytes()).unwrap()
    }

    #[test]
    fn statuses() {
        let p = ValidationPolicy::default();
        assert_eq!(
            validate_request(&req("", "INVITE", "sip:b@b.example"), &p),
            Ok(())
        );
        assert_eq!(validate_request(&req("", "INVITE", "tel:+4930"), &p), Ok(()));
        let status = |r: &Request| validate_request(r, &p).unwrap_err().status;
        assert_eq!(status(&req("", "INVITE", "urn:x:y")), 416);
        assert_eq!(status(&req("Require: foo\r\n", "INVITE", "sip:b@b.example")), 420);
        assert_eq!(
            status(&req("Accept: text/plain\r\n", "INVITE", "sip:b@b.example")),
            406
        );
        assert_eq!(
            validate_request(&req("Accept: application/*\r\n", "INVITE", "sip:b@b.example"), &p),
            Ok(())
        );
        assert_eq!(
            status(&req("Max-Forwards: 3\r\n", "INVITE", "sip:b@b.example")),
            400
        );
        assert_eq!(
            status(&req(
                "Date: Fri, 01 Jan 2010 16:00:00 EST\r\n",
                "BYE",
                "sip:b@b.example"
            )),
            400
        );
        let mut r = req("", "INVITE", "sip:b@b.example");
        r.set_body(Some("application/unknown"), b"x".to_vec());
        assert_eq!(status(&r), 415);
        let with_420 = validate_request(&req("Require: a, b\r\n", "BYE", "sip:b@b.example"), &p).unwrap_err();
        assert_eq!(with_420.unsupported, ["a", "b"]);
    }

    #[test]
    fn each_rejection_names_its_q850_cause() {
        let p = ValidationPolicy::default();
        let cause = |r: &Request| validate_request(r, &p).unwrap_err().q850_cause();
        assert_eq!(
            cause(&req("Max-Forwards: 3\r\n", "INVITE", "sip:b@b.example")),
            95
        );
        assert_eq!(cause(&req("Require: foo\r\n", "INVITE", "sip:b@b.example")), 79);
        assert_eq!(cause(&req("", "INVITE", "urn:x:y")), 79);
        assert_eq!(
            cause(&req("Accept: text/plain\r\n", "INVITE", "sip:b@b.example")),
            88
        );
    }
}
