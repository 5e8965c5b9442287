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

use pn_bindings::{Cause, RouteDecision};
use pn_numbers::E164;
use pn_sip::sdp::SessionDescription;
use pn_sip::{Headers, Method, Request, Response};

use crate::call::{Phase, Placement, Record};
use crate::dialog::Side;
use crate::engine::{ALLOW, Clock};
use crate::media::{MediaCall, MediaCommand, PromptRef, SdpMedia, declared_media};
use crate::privacy::{SdpOrigin, party_sdp};
use crate::prompts::AppPrompts;
use crate::tables::reject_mapping;
use crate::transactions::Id;
use crate::{B2bua, Peer, RouteLookup};

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

impl B2bua {
    /// Answers A with early media and starts `purpose`; `Err(record)` when the call cannot have media
    /// (bypass mode, no free port pair, no G.711 in A's offer).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn start_ivr(
        &mut self,
        c: Clock,
        id: Id,
        (from, a_tx): (Peer, Id),
        r: &Request,
        record: Record,
        purpose: Purpose,
        settings: AppPrompts,
        hops: u8,
    ) -> Result<(), Box<Record>> {
        let Some(offer) = AudioOffer::of(r.headers(), r.body()) else {
            return Err(Box::new(record));
        };
        let Ok(Some(media)) = self.allocate_media() else {
            return Err(Box::new(record));
        };
        let Some(a) = self.new_a_leg(c, id, from, r, Some(media)) else {
            self.release_pairs(media);
            return Err(Box::new(record));
        };
        let remote = a
            .sdp
            .anchor
            .as_ref()
            .and_then(|_| Some(declared_media(&party_sdp(r.headers(), r.body())?)));
        self.insert_call(c, id, a_tx, r, a, record, Some(media), Phase::Ivr);
        self.media_remote(
            id,
            Side::A,
            remote.map(|m: SdpMedia| SdpMedia {
                codec: Some(offer.codec),
                ..m
            }),
        );
        let collect = matches!(purpose, Purpose::Collect(_));
        let first = match &purpose {
            Purpose::Collect(_) => (settings.extension.clone(), Next::Listen),
            Purpose::Announce { cause, prompt } => (prompt.clone(), Next::Refuse(*cause)),
        };
        let inband = settings.inband_dtmf;
        let settings_answer_first = settings.answer_before_collect;
        if let Some(call) = self.calls.get_mut(&id) {
            call.codec = Some(offer.codec);
            call.ivr = Some(Box::new(Ivr {
                request: r.clone(),
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
            }));
        }
        if collect && settings_answer_first {
            self.answer_a(c, id, offer);
        } else {
            self.early_media_to_a(c, id, offer);
        }
        if collect {
            self.media_command(MediaCommand::Detect {
                call: MediaCall(id),
                leg: crate::media::Leg::A,
                telephone_event: offer.telephone_event,
                inband,
            });
        }
        self.ivr_play(c, id, first.0, first.1);
        self.schedule_call(id);
        Ok(())
    }

    /// `183 Session Progress` to A with the switch's SDP (A hears what the switch plays).
    pub(crate) fn early_media_to_a(&mut self, c: Clock, id: Id, offer: AudioOffer) {
        self.switch_answers_a(c, id, offer, 183);
    }

    /// AXE `answerBeforeCollect`: `200 OK` to A with the switch's SDP; A's ACK is absorbed, and the call
    /// continues in that dialog (see [`crate::call::Call::a_answered`]).
    fn answer_a(&mut self, c: Clock, id: Id, offer: AudioOffer) {
        if let Some(call) = self.calls.get_mut(&id) {
            call.a_answered = true;
            call.pending_ack[Side::B.index()] = Some(crate::call::PendingAck {
                cseq: call.a_invite_cseq,
                client: 0,
                server: call.a_tx,
            });
        }
        self.switch_answers_a(c, id, offer, 200);
    }

    /// A response to A's INVITE with the switch's own SDP.
    fn switch_answers_a(&mut self, c: Clock, id: Id, offer: AudioOffer, status: u16) {
        let Some((transport, a_tx)) = self.calls.get(&id).map(|call| (call.a.peer.transport, call.a_tx))
        else {
            return;
        };
        let contact = self.contact(transport);
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let Some(a_invite) = self.txs.servers.get(&a_tx).and_then(|e| e.tx.request()) else {
            return;
        };
        let Some(body) = local_sdp(&mut call.a.sdp, offer.codec, offer.telephone_event) else {
            return;
        };
        let response = Response::for_request(a_invite, status)
            .to_tag(&call.a.local_tag)
            .contact(&contact)
            .body("application/sdp", body)
            .build();
        self.respond(c, a_tx, response);
    }

    /// Plays `prompt` to A; `next` runs when it ends.
    fn ivr_play(&mut self, c: Clock, id: Id, prompt: String, next: Next) {
        let app = self.calls.get(&id).and_then(|call| call.record.app);
        let Some(ivr) = self.calls.get_mut(&id).and_then(|call| call.ivr.as_mut()) else {
            return;
        };
        ivr.plays += 1;
        let tag = IVR_TAG_BASE + ivr.plays;
        ivr.playing = Some(tag);
        ivr.next = next;
        ivr.deadline = c.now.checked_add(PLAY_GUARD);
        let payload_type = ivr.codec;
        self.media_command(MediaCommand::Play {
            call: MediaCall(id),
            leg: crate::media::Leg::A,
            prompt: PromptRef { app, name: prompt },
            payload_type,
            loops: 1,
            tag,
        });
        self.schedule_call(id);
    }

    /// A prompt ended (`tag`): the IVR's next step, or a connected call's tone bookkeeping.
    pub(crate) fn play_done(&mut self, c: Clock, id: Id, side: Side, tag: u32) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if call.ended {
            return;
        }
        let Some(ivr) = call.ivr.as_mut() else {
            self.tone_done(c, id, side, tag);
            return;
        };
        if ivr.playing != Some(tag) {
            return; // a stopped prompt
        }
        ivr.playing = None;
        self.ivr_next(c, id);
    }

    /// Runs the step that follows a prompt.
    fn ivr_next(&mut self, c: Clock, id: Id) {
        let Some(ivr) = self.calls.get_mut(&id).and_then(|call| call.ivr.as_mut()) else {
            return;
        };
        match ivr.next {
            Next::Listen => {
                let wait = if ivr.digits.is_empty() {
                    ivr.settings.first_digit_timeout
                } else {
                    ivr.settings.inter_digit_timeout
                };
                ivr.deadline = c.now.checked_add(wait);
                self.schedule_call(id);
            }
            Next::Prompt => {
                let prompt = ivr.settings.extension.clone();
                self.ivr_play(c, id, prompt, Next::Listen);
            }
            Next::Refuse(cause) => self.refuse_call(c, id, cause),
        }
    }

    /// A DTMF key from A (RFC 4733, in-band, or SIP INFO) while the switch collects the extension.
    pub(crate) fn ivr_digit(&mut self, c: Clock, id: Id, side: Side, digit: char, router: &dyn RouteLookup) {
        if side != Side::A {
            return;
        }
        let Some(ivr) = self
            .calls
            .get_mut(&id)
            .filter(|call| !call.ended)
            .and_then(|call| call.ivr.as_mut())
        else {
            return;
        };
        let Purpose::Collect(collect) = ivr.purpose else {
            return;
        };
        if matches!(ivr.next, Next::Refuse(_)) {
            return; // the final prompt before a refusal plays
        }
        if ivr.playing.take().is_some() {
            // Barge-in: the key stops the prompt (its PlayDone is ignored).
            ivr.next = Next::Listen;
            self.media_command(MediaCommand::StopPlay {
                call: MediaCall(id),
                leg: crate::media::Leg::A,
            });
        }
        let Some(ivr) = self.calls.get_mut(&id).and_then(|call| call.ivr.as_mut()) else {
            return;
        };
        if Some(digit) == ivr.settings.terminator {
            self.ivr_complete(c, id, router);
            return;
        }
        ivr.digits.push(digit);
        if ivr.digits.len() >= usize::from(collect.digits.max(1)) {
            self.ivr_complete(c, id, router);
            return;
        }
        ivr.deadline = c.now.checked_add(ivr.settings.inter_digit_timeout);
        self.schedule_call(id);
    }

    /// The IVR's timer: a digit timeout (collection ends with what was keyed) or a prompt that never
    /// reported its end.
    pub(crate) fn ivr_timer(&mut self, c: Clock, id: Id, router: &dyn RouteLookup) {
        let Some(ivr) = self.calls.get_mut(&id).and_then(|call| call.ivr.as_mut()) else {
            return;
        };
        ivr.deadline = None;
        if ivr.playing.take().is_some() {
            self.media_command(MediaCommand::StopPlay {
                call: MediaCall(id),
                leg: crate::media::Leg::A,
            });
            self.ivr_next(c, id);
            return;
        }
        self.ivr_complete(c, id, router);
    }

    /// Collection ended (terminator, full length or timeout): report the digits and route.
    fn ivr_complete(&mut self, c: Clock, id: Id, router: &dyn RouteLookup) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let Some(ivr) = call.ivr.as_mut() else {
            return;
        };
        let Purpose::Collect(collect) = ivr.purpose else {
            return;
        };
        ivr.deadline = None;
        ivr.attempts += 1;
        let digits = std::mem::take(&mut ivr.digits);
        let retry = ivr.attempts < collect.repeat.max(1);
        let (extension, invalid) = (
            ivr.settings.extension.clone(),
            ivr.settings.invalid_extension.clone(),
        );
        let (request, hops, codec, te) = (ivr.request.clone(), ivr.hops, ivr.codec, ivr.telephone_event);
        call.record.digits = Some(digits.clone());
        let event = call.record.event(crate::EventType::CollectInfo, c.wall, None);
        self.fact(event);
        if digits.is_empty() {
            if retry {
                self.ivr_play(c, id, extension, Next::Listen);
            } else {
                self.refuse_call(c, id, Cause::EMPTY_EXTENSION);
            }
            return;
        }
        match router.decide(collect.caller, collect.x, Some(&digits), c.wall) {
            RouteDecision::Connect(conn) => {
                let Some(egress) = self.egress else {
                    self.refuse_call(c, id, Cause(7508));
                    return;
                };
                self.media_command(MediaCommand::StopDetect {
                    call: MediaCall(id),
                    leg: crate::media::Leg::A,
                });
                let place = Placement {
                    conn: &conn,
                    egress,
                    hops,
                };
                self.place_b(c, id, &request, &place, Some((codec, te)), router);
            }
            RouteDecision::Reject(rj) => {
                let next = if retry {
                    Next::Prompt
                } else {
                    Next::Refuse(rj.cause)
                };
                self.ivr_play(c, id, invalid, next);
            }
            RouteDecision::CollectDigits(_) => self.refuse_call(c, id, Cause(8008)),
        }
    }

    /// A request from A on the early dialog of an IVR call: INFO DTMF is collected, BYE abandons,
    /// offers are refused until the call is connected.
    pub(crate) fn ivr_request(
        &mut self,
        c: Clock,
        from: Peer,
        r: Request,
        id: Id,
        side: Side,
        router: &dyn RouteLookup,
    ) {
        match r.method() {
            Method::Info => {
                let digit = r.headers().content_type().and_then(|ct| {
                    let body = std::str::from_utf8(r.body()).ok()?;
                    pn_media::parse_info_body(&ct, body)?.ok()
                });
                let status = if digit.is_some() || r.body().is_empty() {
                    200
                } else {
                    415
                };
                let b = Response::for_request(&r, status);
                self.reply(c, from, r, b);
                if let Some(info) = digit {
                    self.ivr_digit(c, id, side, info.digit.as_char(), router);
                }
            }
            Method::Options => {
                let b = Response::for_request(&r, 200).header("Allow", ALLOW);
                self.reply(c, from, r, b);
            }
            Method::Invite | Method::Update => {
                let b = Response::for_request(&r, 491);
                self.reply(c, from, r, b);
            }
            _ => {
                let b = Response::for_request(&r, 481);
                self.reply(c, from, r, b);
            }
        }
    }

    /// Refuses a registered call that has no B leg yet (the final response to A's INVITE, with the
    /// rejection table's status and Reason) and ends it with `cause`.
    pub(crate) fn refuse_call(&mut self, c: Clock, id: Id, cause: Cause) {
        let m = reject_mapping(cause);
        if self.calls.get(&id).is_some_and(|call| call.a_answered) {
            // A's INVITE was answered already: its dialog ends with a BYE carrying the cause.
            let reason = format!("Q.850;cause={};text=\"{} {}\"", m.q850, cause.0, m.text);
            self.send_bye_because(c, id, Side::A, Some(&reason));
            self.stats.calls_rejected += 1;
            self.finish(c, id, cause.0, m.status, m.q850);
            return;
        }
        let a_tx = self.calls.get(&id).map_or(0, |call| call.a_tx);
        if let Some(mut response) = self.a_response(id, m.status, None) {
            response.headers_mut().push(
                "Reason",
                format!("Q.850;cause={};text=\"{} {}\"", m.q850, cause.0, m.text),
            );
            self.respond(c, a_tx, response);
        }
        self.stats.calls_rejected += 1;
        self.finish(c, id, cause.0, m.status, m.q850);
    }
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
