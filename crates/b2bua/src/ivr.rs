//! Calls the switch answers itself before (or instead of) reaching a callee, in relay mode: AXE
//! extension collection and prompts played before a rejection.
//!
//! # AXE
//!
//! A call to an AXE X without an extension ([`pn_bindings::CollectDigits`]) gets early media: `183`
//! with the switch's own SDP (one G.711 codec picked from A's offer, plus telephone-event when offered),
//! then the app's extension prompt ([`AppPrompts::extension`]). Digits come from RFC 4733 / in-band
//! detection in the relay ([`crate::MediaEvent::Digit`]) or from SIP INFO on the early dialog; a digit
//! stops the prompt (barge-in). The first-digit timer starts when the prompt ends, the inter-digit timer
//! after each digit; the terminator key (`#`) or the app's extension length ends collection. The
//! `collectInfo` event carries the digits, then the route is decided again with the extension:
//!
//! - Connect: the B leg is placed with A's offer restricted to the codec A already hears, and the
//!   callback record (A ↔ this caller) is handed to the runtime ([`crate::Output::Callback`]).
//! - no digits: the prompt is repeated while the app's repeat count allows, then 8033;
//! - an extension that routes nowhere: the invalid-extension prompt, then the extension prompt again
//!   while the repeat count allows, then the decision's cause (8022);
//! - the caller hangs up first: 7516.
//!
//! # Prompts before a rejection
//!
//! A refused call whose app has a prompt for the cause's category ([`AppPrompts::for_rejection`]), or
//! whose decision names one (AXE `callbackTone`), gets `183`, hears the prompt once, then the final
//! response of the rejection table: the call still ends with its cause.
//!
//! Without a media plane, a free port pair or a G.711 offer, none of this is possible: AXE calls are
//! refused with 8008 and rejections go out without their prompt.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use pn_bindings::Cause;
use pn_numbers::E164;
use pn_sip::sdp::SessionDescription;
use pn_sip::{Headers, Request};

use crate::privacy::{SdpOrigin, party_sdp};
use crate::prompts::AppPrompts;

/// Longest a prompt may play before the switch gives up waiting for its end.
pub(crate) const PLAY_GUARD: Duration = Duration::from_secs(300);

/// Tags of IVR prompts start here (connected-call tones use smaller ones).
pub(crate) const IVR_TAG_BASE: u32 = 16;

/// AXE: what to collect.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Collect {
    /// The X called.
    pub x: E164,
    /// The caller, when a valid number.
    pub caller: Option<E164>,
    /// Extension length (1–4).
    pub digits: u8,
    /// How many collection attempts the app allows.
    pub repeat: u8,
}

/// Why the switch answers A itself.
#[derive(Debug, Clone)]
pub(crate) enum Purpose {
    /// Collect the AXE extension.
    Collect(Collect),
    /// Play `prompt`, then refuse with `cause`.
    Announce {
        /// The rejection.
        cause: Cause,
        /// What A hears first.
        prompt: String,
    },
}

/// What happens when the playing prompt ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Start the digit timer.
    Listen,
    /// Play the extension prompt again (a new attempt).
    Prompt,
    /// Refuse the call.
    Refuse(Cause),
}

/// The state of a call the switch answers itself.
#[derive(Debug)]
pub(crate) struct Ivr {
    /// A's INVITE (the B leg is built from it once the extension is known).
    pub request: Request,
    pub hops: u8,
    pub purpose: Purpose,
    pub settings: AppPrompts,
    /// The G.711 payload type A hears.
    pub codec: u8,
    pub telephone_event: Option<u8>,
    /// Collection attempts finished.
    pub attempts: u8,
    pub digits: String,
    /// The tag of the prompt playing.
    pub playing: Option<u32>,
    pub next: Next,
    pub plays: u32,
    /// The digit timer, or the guard of a playing prompt.
    pub deadline: Option<Instant>,
}

impl Ivr {
    /// The stateCode when A hangs up now.
    pub(crate) fn abandon_cause(&self) -> u16 {
        match &self.purpose {
            Purpose::Collect(_) => match self.next {
                Next::Refuse(cause) => cause.0,
                _ => Cause::CALLER_LEFT_BEFORE_FORWARD.0,
            },
            Purpose::Announce { cause, .. } => cause.0,
        }
    }
}

/// The audio A offered, as far as the switch can play to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AudioOffer {
    /// The first G.711 payload type offered (0 or 8).
    pub codec: u8,
    /// The telephone-event payload type, when offered.
    pub telephone_event: Option<u8>,
}

impl AudioOffer {
    /// Reads the first active audio stream of an SDP body (`None`: no SDP, or no G.711 in it).
    pub(crate) fn of(headers: &Headers, body: &[u8]) -> Option<Self> {
        let sdp = party_sdp(headers, body)?;
        let m = sdp
            .media()
            .iter()
            .find(|m| m.media_line().is_ok_and(|l| l.media == "audio" && l.port != 0))?;
        let line = m.media_line().ok()?;
        let codec = line.formats.iter().find_map(|f| match f.as_str() {
            "0" => Some(0),
            "8" => Some(8),
            _ => None,
        })?;
        let telephone_event = m
            .attributes()
            .filter(|(n, _)| *n == "rtpmap")
            .filter_map(|(_, v)| v)
            .find_map(|v| {
                let (pt, enc) = v.split_once(' ')?;
                enc.trim()
                    .to_ascii_lowercase()
                    .starts_with("telephone-event/8000")
                    .then(|| pt.parse().ok())
                    .flatten()
            })
            .filter(|pt| line.formats.iter().any(|f| f.parse::<u8>().ok() == Some(*pt)));
        Some(Self {
            codec,
            telephone_event,
        })
    }
}

/// A's SDP offer (`sdp`) with its first audio stream cut down to `codec` (+ `telephone_event`), so the
/// callee answers with the codec the switch already plays to A.
pub(crate) fn restrict_offer(sdp: &mut SessionDescription, codec: u8, telephone_event: Option<u8>) {
    let keep: Vec<String> = std::iter::once(codec)
        .chain(telephone_event)
        .map(|pt| pt.to_string())
        .collect();
    let Some(m) = sdp
        .media_mut()
        .iter_mut()
        .find(|m| m.media_line().is_ok_and(|l| l.media == "audio" && l.port != 0))
    else {
        return;
    };
    let Ok(mut line) = m.media_line() else {
        return;
    };
    line.formats.retain(|f| keep.contains(f));
    m.set_media_line(&line);
}

/// The switch's own SDP on a leg: its anchor address and port, `codec` and telephone-event.
pub(crate) fn local_sdp(origin: &mut SdpOrigin, codec: u8, telephone_event: Option<u8>) -> Option<Vec<u8>> {
    let anchor = origin.anchor.as_ref()?;
    origin.version += 1;
    let family = |a: &str| if a.contains(':') { "IP6" } else { "IP4" };
    let mut s = String::with_capacity(256);
    let _ = write!(
        s,
        "v=0\r\no=pnswitch {} {} IN {} {}\r\ns=pnswitch\r\nc=IN {} {}\r\nt=0 0\r\nm=audio {} RTP/AVP {codec}",
        origin.session_id,
        origin.version,
        family(&origin.address),
        origin.address,
        family(&anchor.address),
        anchor.address,
        anchor.ports.rtp,
    );
    if let Some(te) = telephone_event {
        let _ = write!(s, " {te}");
    }
    let name = if codec == 0 { "PCMU" } else { "PCMA" };
    let _ = write!(s, "\r\na=rtpmap:{codec} {name}/8000\r\n");
    if let Some(te) = telephone_event {
        let _ = write!(s, "a=rtpmap:{te} telephone-event/8000\r\na=fmtp:{te} 0-15\r\n");
    }
    s.push_str("a=ptime:20\r\na=sendrecv\r\n");
    Some(s.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sdp_headers() -> Headers {
        let mut h = Headers::new();
        h.push("Content-Type", "application/sdp");
        h
    }

    const OFFER: &str = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n\
m=audio 4000 RTP/AVP 18 0 8 101\r\na=rtpmap:18 G729/8000\r\na=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=fmtp:18 annexb=no\r\n";

    #[test]
    fn reads_the_first_g711_codec_and_telephone_event() {
        let offer = AudioOffer::of(&sdp_headers(), OFFER.as_bytes()).unwrap();
        assert_eq!(
            offer,
            AudioOffer {
                codec: 0,
                telephone_event: Some(101)
            }
        );
        let g729 = OFFER.replace(" 0 8 101", "").replace(" 0 8", "");
        assert_eq!(AudioOffer::of(&sdp_headers(), g729.as_bytes()), None);
        assert_eq!(AudioOffer::of(&Headers::new(), OFFER.as_bytes()), None);
    }

    #[test]
    fn restricted_offer_keeps_one_codec_and_telephone_event() {
        let mut sdp = SessionDescription::parse(OFFER.as_bytes()).unwrap();
        restrict_offer(&mut sdp, 8, Some(101));
        let mut origin = SdpOrigin {
            address: "198.51.100.1".into(),
            session_id: 42,
            version: 0,
            anchor: None,
        };
        let ((_, body), _) = crate::privacy::rewrite_sdp(&sdp, &mut origin);
        let text = String::from_utf8(body).unwrap();
        assert!(text.contains("m=audio 4000 RTP/AVP 8 101\r\n"), "{text}");
        assert!(text.contains("a=rtpmap:8 PCMA/8000"));
        assert!(text.contains("a=fmtp:101 0-15"));
        assert!(
            !text.contains("G729") && !text.contains("PCMU") && !text.contains("annexb"),
            "{text}"
        );
    }

    #[test]
    fn local_sdp_names_the_anchor() {
        let mut origin = SdpOrigin {
            address: "198.51.100.1".into(),
            session_id: 42,
            version: 0,
            anchor: Some(crate::media::MediaAnchor {
                address: "198.51.100.1".into(),
                ports: crate::media::PortPair {
                    rtp: 30000,
                    rtcp: 30001,
                },
            }),
        };
        let text = String::from_utf8(local_sdp(&mut origin, 8, Some(101)).unwrap()).unwrap();
        assert!(text.contains("o=pnswitch 42 1 IN IP4 198.51.100.1\r\n"), "{text}");
        assert!(
            text.contains("c=IN IP4 198.51.100.1\r\nt=0 0\r\nm=audio 30000 RTP/AVP 8 101\r\n"),
            "{text}"
        );
        assert!(SessionDescription::parse(text.as_bytes()).is_ok());
    }
}
