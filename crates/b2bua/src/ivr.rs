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
const PLAY_GUARD: Duration = Duration::from_secs(300);

/// Tags of IVR prompts start here (connected-call tones use smaller ones).
const IVR_TAG_BASE: u32 = 16;

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
enum Next {
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
    request: Request,
    hops: u8,
    purpose: Purpose,
    settings: AppPrompts,
    /// The G.711 payload type A hears.
    codec: u8,
    telephone_event: Option<u8>,
    /// Collection attempts finished.
    attempts: u8,
    digits: String,
    /// The tag of the prompt playing.
    playing: Option<u32>,
    next: Next,
    plays: u32,
    /// The digit timer, or the guard of a playing prompt.
    deadline: Option<Instant>,
}

/// A prompt the IVR plays to A.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IvrPlay {
    /// The prompt's name.
    pub name: String,
    /// The G.711 payload type A hears.
    pub payload_type: u8,
    /// Its `PlayDone` tag.
    pub tag: u32,
}

/// What the IVR does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum IvrStep {
    /// Nothing now (waiting for a digit, a timer or a prompt's end).
    Wait,
    /// Play this prompt to A.
    Play(IvrPlay),
    /// Collection ended: report the digits and route (see [`Ivr::complete`]).
    Complete,
    /// Refuse the call with this cause.
    Refuse(Cause),
}

/// Collection ended: what the engine routes with.
#[derive(Debug, Clone)]
pub(crate) struct Collected {
    /// What was collected for.
    pub collect: Collect,
    /// The digits keyed (possibly none).
    pub digits: String,
    /// Another attempt is allowed.
    pub retry: bool,
    /// A's INVITE, the B leg's template.
    pub request: Request,
    /// Max-Forwards for the B leg.
    pub hops: u8,
    /// The codec (and telephone-event) A hears: the B leg's offer is cut down to them.
    pub codec: (u8, Option<u8>),
}

impl Ivr {
    /// The state of a call the switch answers for `purpose`, A's `request` having offered `offer`.
    pub(crate) fn new(
        request: Request,
        hops: u8,
        purpose: Purpose,
        settings: AppPrompts,
        offer: AudioOffer,
    ) -> Self {
        Self {
            request,
            hops,
            purpose,
            settings,
            codec: offer.codec,
            telephone_event: offer.telephone_event,
            attempts: 0,
            digits: String::new(),
            playing: None,
            next: Next::Listen,
            plays: 0,
            deadline: None,
        }
    }

    /// The first prompt: the extension prompt (collection), or the announcement before a refusal.
    pub(crate) fn start(&mut self, now: Instant) -> IvrPlay {
        let (prompt, next) = match &self.purpose {
            Purpose::Collect(_) => (self.settings.extension.clone(), Next::Listen),
            Purpose::Announce { cause, prompt } => (prompt.clone(), Next::Refuse(*cause)),
        };
        self.play(now, prompt, next)
    }

    /// The digit timer, or the guard of a playing prompt.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Plays `prompt` to A from `now`; `next` runs when it ends.
    fn play(&mut self, now: Instant, prompt: String, next: Next) -> IvrPlay {
        self.plays += 1;
        let tag = IVR_TAG_BASE + self.plays;
        self.playing = Some(tag);
        self.next = next;
        self.deadline = now.checked_add(PLAY_GUARD);
        IvrPlay {
            name: prompt,
            payload_type: self.codec,
            tag,
        }
    }

    /// A prompt with `tag` ended at `now`: the step that follows it (`Wait` for a stopped prompt).
    pub(crate) fn play_done(&mut self, now: Instant, tag: u32) -> IvrStep {
        if self.playing != Some(tag) {
            return IvrStep::Wait; // a stopped prompt
        }
        self.playing = None;
        self.after_prompt(now)
    }

    /// The step that follows a prompt.
    fn after_prompt(&mut self, now: Instant) -> IvrStep {
        match self.next {
            Next::Listen => {
                let wait = if self.digits.is_empty() {
                    self.settings.first_digit_timeout
                } else {
                    self.settings.inter_digit_timeout
                };
                self.deadline = now.checked_add(wait);
                IvrStep::Wait
            }
            Next::Prompt => {
                let prompt = self.settings.extension.clone();
                IvrStep::Play(self.play(now, prompt, Next::Listen))
            }
            Next::Refuse(cause) => IvrStep::Refuse(cause),
        }
    }

    /// A DTMF key from A at `now`. `.0`: the playing prompt is to be stopped (barge-in).
    pub(crate) fn digit(&mut self, now: Instant, digit: char) -> (bool, IvrStep) {
        let Purpose::Collect(collect) = self.purpose else {
            return (false, IvrStep::Wait);
        };
        if matches!(self.next, Next::Refuse(_)) {
            return (false, IvrStep::Wait); // the final prompt before a refusal plays
        }
        let barge_in = self.playing.take().is_some();
        if barge_in {
            // The key stops the prompt (its PlayDone is ignored).
            self.next = Next::Listen;
        }
        if Some(digit) == self.settings.terminator {
            return (barge_in, IvrStep::Complete);
        }
        self.digits.push(digit);
        if self.digits.len() >= usize::from(collect.digits.max(1)) {
            return (barge_in, IvrStep::Complete);
        }
        self.deadline = now.checked_add(self.settings.inter_digit_timeout);
        (barge_in, IvrStep::Wait)
    }

    /// The IVR's timer at `now`: a prompt that never reported its end (`.0`: stop it; then the
    /// step after it) or a digit timeout (collection ends with what was keyed).
    pub(crate) fn timer(&mut self, now: Instant) -> (bool, IvrStep) {
        self.deadline = None;
        if self.playing.take().is_some() {
            return (true, self.after_prompt(now));
        }
        (false, IvrStep::Complete)
    }

    /// Collection ended (terminator, full length or timeout): the digits and what to route with;
    /// `None` when the IVR does not collect.
    pub(crate) fn complete(&mut self) -> Option<Collected> {
        let Purpose::Collect(collect) = self.purpose else {
            return None;
        };
        self.deadline = None;
        self.attempts += 1;
        Some(Collected {
            collect,
            digits: std::mem::take(&mut self.digits),
            retry: self.attempts < collect.repeat.max(1),
            request: self.request.clone(),
            hops: self.hops,
            codec: (self.codec, self.telephone_event),
        })
    }

    /// No digits were keyed and another attempt is allowed: the extension prompt again.
    pub(crate) fn prompt_again(&mut self, now: Instant) -> IvrPlay {
        let prompt = self.settings.extension.clone();
        self.play(now, prompt, Next::Listen)
    }

    /// The extension routes nowhere: the invalid-extension prompt, then the extension prompt again
    /// (`retry`) or the refusal with `cause`.
    pub(crate) fn invalid_extension(&mut self, now: Instant, retry: bool, cause: Cause) -> IvrPlay {
        let next = if retry { Next::Prompt } else { Next::Refuse(cause) };
        let prompt = self.settings.invalid_extension.clone();
        self.play(now, prompt, next)
    }

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

    #[allow(clippy::disallowed_methods)] // one real Instant to start a virtual clock
    fn t0() -> Instant {
        Instant::now()
    }

    fn collecting(digits: u8, repeat: u8) -> Ivr {
        let invite = match pn_sip::SipMessage::parse(
            b"INVITE sip:x@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKa\r\nFrom: <sip:a@b>;tag=1\r\n\
To: <sip:x@h>\r\nCall-ID: x@h\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
        )
        .unwrap()
        {
            pn_sip::SipMessage::Request(r) => r,
            pn_sip::SipMessage::Response(_) => unreachable!(),
        };
        let collect = Collect {
            x: pn_numbers::normalize("13800138000").unwrap(),
            caller: None,
            digits,
            repeat,
        };
        let offer = AudioOffer {
            codec: 8,
            telephone_event: Some(101),
        };
        Ivr::new(
            invite,
            69,
            Purpose::Collect(collect),
            AppPrompts::default(),
            offer,
        )
    }

    #[test]
    fn collection_listens_after_the_prompt_and_completes_at_full_length() {
        let now = t0();
        let s = AppPrompts::default();
        let mut ivr = collecting(2, 1);
        let first = ivr.start(now);
        assert_eq!(
            (first.name.as_str(), first.payload_type),
            (s.extension.as_str(), 8)
        );
        assert_eq!(ivr.deadline(), Some(now + PLAY_GUARD));
        assert_eq!(
            ivr.play_done(now, first.tag + 1),
            IvrStep::Wait,
            "not the playing prompt"
        );
        assert_eq!(ivr.deadline(), Some(now + PLAY_GUARD));
        assert_eq!(ivr.play_done(now, first.tag), IvrStep::Wait);
        assert_eq!(ivr.deadline(), Some(now + s.first_digit_timeout));
        assert_eq!(ivr.digit(now, '4'), (false, IvrStep::Wait));
        assert_eq!(ivr.deadline(), Some(now + s.inter_digit_timeout));
        assert_eq!(ivr.digit(now, '2'), (false, IvrStep::Complete));
        let done = ivr.complete().unwrap();
        assert_eq!((done.digits.as_str(), done.retry, done.hops), ("42", false, 69));
        assert_eq!(done.codec, (8, Some(101)));
        assert_eq!(ivr.abandon_cause(), Cause::CALLER_LEFT_BEFORE_FORWARD.0);
    }

    #[test]
    fn a_key_barges_in_and_the_terminator_ends_collection() {
        let now = t0();
        let mut ivr = collecting(4, 2);
        let first = ivr.start(now);
        assert_eq!(ivr.digit(now, '7'), (true, IvrStep::Wait), "the prompt stops");
        assert_eq!(ivr.play_done(now, first.tag), IvrStep::Wait, "its end is ignored");
        assert_eq!(ivr.digit(now, '#'), (false, IvrStep::Complete));
        let done = ivr.complete().unwrap();
        assert_eq!((done.digits.as_str(), done.retry), ("7", true));
    }

    #[test]
    fn timeouts_and_invalid_extensions_lead_to_the_refusal() {
        let now = t0();
        let mut ivr = collecting(4, 2);
        ivr.start(now);
        // A prompt that never reports its end is stopped; listening follows.
        assert_eq!(ivr.timer(now), (true, IvrStep::Wait));
        assert_eq!(ivr.timer(now), (false, IvrStep::Complete), "digit timeout");
        let done = ivr.complete().unwrap();
        assert!(done.digits.is_empty() && done.retry);
        let again = ivr.prompt_again(now);
        assert_eq!(ivr.play_done(now, again.tag), IvrStep::Wait);
        ivr.digit(now, '9');
        assert_eq!(ivr.timer(now), (false, IvrStep::Complete));
        let done = ivr.complete().unwrap();
        assert_eq!((done.digits.as_str(), done.retry), ("9", false));
        let invalid = ivr.invalid_extension(now, false, Cause::AXE_BINDING_EXPIRED);
        assert_eq!(invalid.name, AppPrompts::default().invalid_extension);
        assert_eq!(
            ivr.digit(now, '1'),
            (false, IvrStep::Wait),
            "no keys during the final prompt"
        );
        assert_eq!(ivr.abandon_cause(), Cause::AXE_BINDING_EXPIRED.0);
        assert_eq!(
            ivr.play_done(now, invalid.tag),
            IvrStep::Refuse(Cause::AXE_BINDING_EXPIRED)
        );
    }

    #[test]
    fn an_invalid_extension_with_attempts_left_prompts_again() {
        let now = t0();
        let mut ivr = collecting(1, 3);
        ivr.start(now);
        let invalid = ivr.invalid_extension(now, true, Cause::AXE_BINDING_EXPIRED);
        match ivr.play_done(now, invalid.tag) {
            IvrStep::Play(p) => assert_eq!(p.name, AppPrompts::default().extension),
            other => panic!("{other:?}"),
        }
    }
}
