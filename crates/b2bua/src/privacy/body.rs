//! Bodies for the other leg. Nothing of a body is copied: the session description is rebuilt from the
//! SDP whitelist ([`super::sdp`]), an INFO's DTMF body is written anew from the digit and duration parsed
//! out of it, and every other body (or body part) is dropped.

use std::fmt::Write as _;

use pn_media::InfoDtmf;
use pn_sip::Headers;
use pn_sip::sdp::SessionDescription;

use super::SdpOrigin;
use super::sdp::{SdpMedia, declared_media};

/// The longest DTMF duration written (ms); a longer one is clamped.
const MAX_DTMF_MS: u32 = 60_000;

/// Rewrites a body for the other leg (`origin` is that leg's SDP identity): the session description
/// becomes a fresh `application/sdp` body, an INFO's DTMF body (`info`) a fresh DTMF body; anything else is
/// dropped. Returns `(content type, body)` and, when `origin` has a relay anchor and the body carried SDP,
/// the media address and direction the sending party declared.
pub(crate) fn rewrite_body_media(
    headers: &Headers,
    body: &[u8],
    origin: &mut SdpOrigin,
    info: bool,
) -> (Option<(String, Vec<u8>)>, Option<SdpMedia>) {
    if let Some(party) = party_sdp(headers, body) {
        let (body, media) = rewrite_sdp(&party, origin);
        return (Some(body), media);
    }
    if info {
        return (dtmf_body(headers, body), None);
    }
    (None, None)
}

/// The session description a message carries (alone or in a multipart body), parsed.
pub(crate) fn party_sdp(headers: &Headers, body: &[u8]) -> Option<SessionDescription> {
    SessionDescription::parse(pn_sip::body::session_description(headers, body)?).ok()
}

/// The `application/sdp` body built for `origin`'s leg from the party's SDP, and (relay mode) the media the
/// party declared.
pub(crate) fn rewrite_sdp(
    party: &SessionDescription,
    origin: &mut SdpOrigin,
) -> ((String, Vec<u8>), Option<SdpMedia>) {
    origin.version += 1;
    let media = origin.anchor.as_ref().map(|_| declared_media(party));
    let sdp = super::sdp::rebuild(party, origin);
    ((pn_sip::body::APPLICATION_SDP.to_owned(), sdp.to_bytes()), media)
}

/// A fresh DTMF body of the same type for an INFO's `application/dtmf-relay` or `application/dtmf` body:
/// `Signal=<key>\r\nDuration=<ms>\r\n`, or the key alone. `None` when the body is no such DTMF.
fn dtmf_body(headers: &Headers, body: &[u8]) -> Option<(String, Vec<u8>)> {
    let ct = headers.content_type()?;
    let text = std::str::from_utf8(body).ok()?;
    let InfoDtmf { digit, duration_ms } = pn_media::parse_info_body(&ct, text)?.ok()?;
    let mut out = String::with_capacity(32);
    if ct == "application/dtmf" {
        out.push(digit.as_char());
    } else {
        let _ = write!(out, "Signal={}\r\n", digit.as_char());
        if let Some(ms) = duration_ms {
            let _ = write!(out, "Duration={}\r\n", ms.min(MAX_DTMF_MS));
        }
    }
    Some((ct, out.into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(ct: &str) -> Headers {
        let mut h = Headers::new();
        h.push("Content-Type", ct);
        h
    }

    fn origin() -> SdpOrigin {
        SdpOrigin {
            address: "203.0.113.1".into(),
            session_id: 7,
            version: 0,
            anchor: None,
        }
    }

    #[test]
    fn dtmf_bodies_are_written_anew() {
        let (body, _) = rewrite_body_media(
            &headers("application/dtmf-relay"),
            b"Signal=5\r\nDuration=160\r\nX-Caller=13800000001\r\n",
            &mut origin(),
            true,
        );
        assert_eq!(
            body,
            Some((
                "application/dtmf-relay".into(),
                b"Signal=5\r\nDuration=160\r\n".to_vec()
            ))
        );
        let (body, _) = rewrite_body_media(
            &headers("application/dtmf; x=13800000001"),
            b"#\r\n",
            &mut origin(),
            true,
        );
        assert_eq!(body, Some(("application/dtmf".into(), b"#".to_vec())));
        for (ct, bad) in [
            ("application/dtmf-relay", &b"Signal=13800000001\r\n"[..]),
            ("application/dtmf-relay", b"Duration=100\r\n"),
            ("application/dtmf", b"13800000001"),
            ("text/plain", b"Signal=5"),
        ] {
            assert_eq!(
                rewrite_body_media(&headers(ct), bad, &mut origin(), true).0,
                None,
                "{bad:?}"
            );
        }
        // Outside INFO, a DTMF body is not relayed at all.
        let (body, _) = rewrite_body_media(
            &headers("application/dtmf-relay"),
            b"Signal=5\r\n",
            &mut origin(),
            false,
        );
        assert_eq!(body, None);
    }

    #[test]
    fn multipart_gives_only_its_sdp() {
        let body =
            b"--b1\r\nContent-Type: application/sdp\r\n\r\nv=0\r\no=13800000001 1 1 IN IP4 198.51.100.7\r\n\
s=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8\r\n\r\n--b1\r\n\
Content-Type: application/isup;version=itu-t92+\r\n\r\nIAM 13800000001\r\n--b1--\r\n";
        let mut o = origin();
        let (out, _) = rewrite_body_media(&headers("multipart/mixed;boundary=b1"), body, &mut o, false);
        let (ct, sdp) = out.unwrap();
        assert_eq!(ct, "application/sdp");
        assert_eq!(
            String::from_utf8(sdp).unwrap(),
            "v=0\r\no=- 7 1 IN IP4 203.0.113.1\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8\r\n"
        );
        assert_eq!(o.version, 1);
        // A multipart body without SDP (the ISUP alone) gives nothing.
        let isup_only = b"--b1\r\nContent-Type: application/isup\r\n\r\nIAM 13800000001\r\n--b1--\r\n";
        let (out, _) = rewrite_body_media(&headers("multipart/mixed;boundary=b1"), isup_only, &mut o, true);
        assert_eq!(out, None);
    }
}
