//! Builders for requests and responses made from scratch (the B2BUA builds every far-leg message
//! fresh), plus the derived requests RFC 3261 defines: ACK for a non-2xx final response and CANCEL.

use crate::error::{Result, SipError};
use crate::header::Headers;
use crate::message::{Request, Response, Version};
use crate::typed::{CSeq, Method, Via};
use crate::uri::{NameAddr, Uri};

/// Builds a request; [`RequestBuilder::build`] checks the mandatory headers (RFC 3261 §8.1.1).
#[derive(Debug, Clone)]
#[must_use]
pub struct RequestBuilder {
    method: Method,
    uri: Uri,
    vias: Vec<String>,
    from: Option<String>,
    to: Option<String>,
    call_id: Option<String>,
    cseq: Option<u32>,
    max_forwards: u8,
    extra: Headers,
    content_type: Option<String>,
    body: Vec<u8>,
}

impl RequestBuilder {
    /// Appends a Via (the first one added is the top one).
    pub fn via(mut self, via: &Via) -> Self {
        self.vias.push(via.to_string());
        self
    }

    /// Sets From.
    pub fn from(mut self, from: &NameAddr) -> Self {
        self.from = Some(from.to_string());
        self
    }

    /// Sets To.
    pub fn to(mut self, to: &NameAddr) -> Self {
        self.to = Some(to.to_string());
        self
    }

    /// Sets Call-ID.
    pub fn call_id(mut self, call_id: &str) -> Self {
        self.call_id = Some(call_id.to_owned());
        self
    }

    /// Sets the CSeq number (the method is the request's).
    pub fn cseq(mut self, seq: u32) -> Self {
        self.cseq = Some(seq);
        self
    }

    /// Sets Max-Forwards (default 70).
    pub fn max_forwards(mut self, hops: u8) -> Self {
        self.max_forwards = hops;
        self
    }

    /// Adds a Contact.
    pub fn contact(self, contact: &NameAddr) -> Self {
        self.header("Contact", &contact.to_string())
    }

    /// Adds a Route (in order).
    pub fn route(self, route: &NameAddr) -> Self {
        self.header("Route", &route.to_string())
    }

    /// Adds any other header (appended after the mandatory ones, in call order).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.extra.push(name, value);
        self
    }

    /// Sets the body and its Content-Type.
    pub fn body(mut self, content_type: &str, body: Vec<u8>) -> Self {
        self.content_type = Some(content_type.to_owned());
        self.body = body;
        self
    }

    /// Builds the request; Content-Length is always written.
    pub fn build(self) -> Result<Request> {
        if self.vias.is_empty() {
            return Err(SipError::MissingHeader("Via"));
        }
        let mut headers = Headers::new();
        for via in &self.vias {
            headers.push("Via", via.as_str());
        }
        headers.push("Max-Forwards", self.max_forwards.to_string());
        headers.push("From", self.from.ok_or(SipError::MissingHeader("From"))?);
        headers.push("To", self.to.ok_or(SipError::MissingHeader("To"))?);
        headers.push("Call-ID", self.call_id.ok_or(SipError::MissingHeader("Call-ID"))?);
        let seq = self.cseq.ok_or(SipError::MissingHeader("CSeq"))?;
        headers.push(
            "CSeq",
            CSeq {
                seq,
                method: self.method.clone(),
            }
            .to_string(),
        );
        for h in &self.extra {
            headers.push(h.name(), h.value());
        }
        let mut request = Request {
            method: self.method,
            uri: self.uri,
            version: Version::SIP_2_0,
            headers,
            body: Vec::new(),
        };
        request.set_body(self.content_type.as_deref(), self.body);
        Ok(request)
    }
}

/// Builds a response, usually from [`Response::for_request`].
#[derive(Debug, Clone)]
#[must_use]
pub struct ResponseBuilder {
    status: u16,
    reason: Option<String>,
    headers: Headers,
    content_type: Option<String>,
    body: Vec<u8>,
}

impl ResponseBuilder {
    /// Sets the reason phrase (default: the standard one).
    pub fn reason(mut self, reason: &str) -> Self {
        self.reason = Some(reason.to_owned());
        self
    }

    /// Adds a To tag unless the To header already has one (RFC 3261 §8.2.6.2).
    pub fn to_tag(mut self, tag: &str) -> Self {
        if let Ok(mut to) = self.headers.to() {
            if to.tag().is_none() {
                to.set_param("tag", Some(tag));
                self.headers.set("To", to.to_string());
            }
        }
        self
    }

    /// Adds a Contact.
    pub fn contact(self, contact: &NameAddr) -> Self {
        self.header("Contact", &contact.to_string())
    }

    /// Adds any header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push(name, value);
        self
    }

    /// Sets the body and its Content-Type.
    pub fn body(mut self, content_type: &str, body: Vec<u8>) -> Self {
        self.content_type = Some(content_type.to_owned());
        self.body = body;
        self
    }

    /// Builds the response; Content-Length is always written.
    pub fn build(self) -> Response {
        let reason = self
            .reason
            .unwrap_or_else(|| crate::default_reason(self.status).to_owned());
        let mut response = Response {
            status: self.status,
            reason,
            version: Version::SIP_2_0,
            headers: self.headers,
            body: Vec::new(),
        };
        response.set_body(self.content_type.as_deref(), self.body);
        response
    }
}

impl Request {
    /// Starts a request from scratch.
    pub fn builder(method: Method, uri: Uri) -> RequestBuilder {
        RequestBuilder {
            method,
            uri,
            vias: Vec::new(),
            from: None,
            to: None,
            call_id: None,
            cseq: None,
            max_forwards: 70,
            extra: Headers::new(),
            content_type: None,
            body: Vec::new(),
        }
    }

    /// The ACK for a non-2xx final `response` to this INVITE (RFC 3261 §17.1.1.3): same
    /// Request-URI, top Via, From, Call-ID, CSeq number and Route; To from the response.
    #[must_use]
    pub fn ack_for(&self, response: &Response) -> Request {
        self.derived(Method::Ack, &response.headers)
    }

    /// The CANCEL for this request (RFC 3261 §9.1): same Request-URI, top Via, From, To, Call-ID,
    /// CSeq number and Route.
    #[must_use]
    pub fn cancel(&self) -> Request {
        self.derived(Method::Cancel, &self.headers)
    }

    fn derived(&self, method: Method, to_source: &Headers) -> Request {
        let mut headers = Headers::new();
        if let Some(via) = self.headers.get_list("Via").next() {
            headers.push("Via", via);
        }
        headers.push("Max-Forwards", "70");
        copy(&self.headers, &mut headers, "From");
        copy(to_source, &mut headers, "To");
        copy(&self.headers, &mut headers, "Call-ID");
        let seq = self.headers.cseq().map_or(0, |c| c.seq);
        headers.push(
            "CSeq",
            CSeq {
                seq,
                method: method.clone(),
            }
            .to_string(),
        );
        copy(&self.headers, &mut headers, "Route");
        headers.push("Content-Length", "0");
        Request {
            method,
            uri: self.uri.clone(),
            version: Version::SIP_2_0,
            headers,
            body: Vec::new(),
        }
    }
}

fn copy(from: &Headers, to: &mut Headers, name: &str) {
    for v in from.get_all(name) {
        to.push(name, v);
    }
}

impl Response {
    /// Starts a response from scratch (no headers).
    pub fn builder(status: u16) -> ResponseBuilder {
        ResponseBuilder {
            status,
            reason: None,
            headers: Headers::new(),
            content_type: None,
            body: Vec::new(),
        }
    }

    /// Starts a response to `request` (RFC 3261 §8.2.6.2): Via, From, To, Call-ID and CSeq copied;
    /// Record-Route copied too for 101..=299 (dialog-establishing responses, §12.1.1).
    pub fn for_request(request: &Request, status: u16) -> ResponseBuilder {
        let mut builder = Self::builder(status);
        for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
            copy(&request.headers, &mut builder.headers, name);
        }
        if (101..300).contains(&status) {
            copy(&request.headers, &mut builder.headers, "Record-Route");
        }
        builder
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::SipMessage;

    fn invite() -> Request {
        Request::builder(
            Method::Invite,
            Uri::parse("sip:+4930123@trunk.example.net;user=phone").unwrap(),
        )
        .via(&Via::new("udp", "192.0.2.10", Some(5060), "z9hG4bK-b1"))
        .from(&NameAddr::new(Uri::parse("sip:+4930999@pn.example").unwrap()).with_tag("f1"))
        .to(&NameAddr::new(
            Uri::parse("sip:+4930123@trunk.example.net").unwrap(),
        ))
        .call_id("b-leg-1")
        .cseq(1)
        .contact(&NameAddr::new(Uri::sip(None, "192.0.2.10", Some(5060))))
        .route(&NameAddr::new(Uri::parse("sip:proxy.example.net;lr").unwrap()))
        .body("application/sdp", b"v=0\r\n".to_vec())
        .build()
        .unwrap()
    }

    #[test]
    fn built_request_parses_back() {
        let req = invite();
        let bytes = req.to_bytes();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(
            text.starts_with("INVITE sip:+4930123@trunk.example.net;user=phone SIP/2.0\r\nVia: SIP/2.0/UDP")
        );
        assert!(text.contains("\r\nContent-Type: application/sdp\r\nContent-Length: 5\r\n\r\nv=0\r\n"));
        assert_eq!(SipMessage::parse(&bytes).unwrap(), SipMessage::Request(req));
        assert_eq!(
            Request::builder(Method::Bye, Uri::tel("+1")).build(),
            Err(SipError::MissingHeader("Via"))
        );
    }

    #[test]
    fn response_copies_and_tags() {
        let req = invite();
        let resp = Response::for_request(&req, 180).to_tag("t1").build();
        assert_eq!((resp.status(), resp.reason()), (180, "Ringing"));
        assert_eq!(resp.headers().to().unwrap().tag(), Some("t1"));
        assert_eq!(resp.headers().top_via().unwrap().branch(), Some("z9hG4bK-b1"));
        assert_eq!(resp.headers().get("Content-Length"), Some("0"));
        let resp = Response::for_request(&req, 486).reason("Busy Here Now").build();
        let ack = req.ack_for(&resp);
        assert_eq!(ack.headers().cseq().unwrap().to_string(), "1 ACK");
        assert_eq!(ack.headers().get("Route"), Some("<sip:proxy.example.net;lr>"));
        let cancel = req.cancel();
        assert_eq!(cancel.headers().cseq().unwrap().to_string(), "1 CANCEL");
        assert_eq!(cancel.headers().top_via().unwrap().branch(), Some("z9hG4bK-b1"));
        assert_eq!(crate::default_reason(499), "Unknown");
    }
}
