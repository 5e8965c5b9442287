//! The answer to a new call the runtime cannot take: `503 Service Unavailable` with `Retry-After` and
//! `Reason: Q.850;cause=42;text="522 Switch overloaded"` (RFC 3261 §21.5.4), built statelessly from the
//! INVITE alone, without a transaction, a route decision or call facts. The runtime sends it when a shard's
//! queue is full; while a shard is merely behind, the shard itself refuses new INVITEs the same way
//! ([`crate::B2bua::refuse_new_calls`] with [`pn_bindings::Cause::OVERLOADED`]).

use pn_bindings::Cause;
use pn_sip::{Method, Request, Response};

use crate::tables::reason_header;

/// The bytes of the 503 answering `request` when it is a new INVITE (no To tag); `None` for anything
/// else (in-dialog requests, ACK, CANCEL… are never refused for overload). `tag` is the To tag to add.
pub fn overload_answer(request: &Request, tag: &str, retry_after_secs: u32) -> Option<Vec<u8>> {
    if request.method() != &Method::Invite || request.headers().to().ok()?.tag().is_some() {
        return None;
    }
    let (m, reason) = reason_header(Cause::OVERLOADED);
    let response: Response = Response::for_request(request, m.status)
        .to_tag(tag)
        .reason(m.reason)
        .header("Reason", &reason)
        .header("Retry-After", &retry_after_secs.max(1).to_string())
        .build();
    Some(response.to_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use pn_sip::SipMessage;

    fn request(text: &str) -> Request {
        match SipMessage::parse(text.as_bytes()).unwrap() {
            SipMessage::Request(r) => r,
            SipMessage::Response(_) => panic!("a request"),
        }
    }

    const INVITE: &str = "INVITE sip:+8617000000001@127.0.0.1 SIP/2.0\r\n\
        Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1\r\n\
        From: <sip:+8613800000001@127.0.0.1>;tag=a1\r\n\
        To: <sip:+8617000000001@127.0.0.1>\r\n\
        Call-ID: c1@127.0.0.1\r\n\
        CSeq: 1 INVITE\r\n\
        Max-Forwards: 70\r\n\
        Content-Length: 0\r\n\r\n";

    #[test]
    fn a_new_invite_gets_503_with_retry_after_and_the_cause() {
        let bytes = overload_answer(&request(INVITE), "t9", 3).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.starts_with("SIP/2.0 503 Service Unavailable\r\n"), "{text}");
        assert!(text.contains("\r\nRetry-After: 3\r\n"), "{text}");
        assert!(
            text.contains("Reason: Q.850;cause=42;text=\"522 Switch overloaded\""),
            "{text}"
        );
        assert!(text.contains(";tag=t9"), "{text}");
        assert!(text.contains("Call-ID: c1@127.0.0.1"), "{text}");
        assert!(text.contains("branch=z9hG4bK-1"), "{text}");
    }

    #[test]
    fn in_dialog_requests_and_other_methods_are_never_refused() {
        let in_dialog = INVITE.replace(
            "To: <sip:+8617000000001@127.0.0.1>",
            "To: <sip:+8617000000001@127.0.0.1>;tag=b2",
        );
        assert_eq!(overload_answer(&request(&in_dialog), "t", 1), None);
        let bye = INVITE
            .replace("INVITE sip", "BYE sip")
            .replace("1 INVITE", "1 BYE");
        assert_eq!(overload_answer(&request(&bye), "t", 1), None);
    }
}
