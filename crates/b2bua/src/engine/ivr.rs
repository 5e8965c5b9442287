//! The engine side of [`crate::ivr`]: answers A itself, plays prompts, collects digits and routes.

use crate::call::{Phase, Placement, Record};
use crate::clock::Clock;
use crate::dialog::Side;
use crate::engine::ALLOW;
use crate::media::{MediaCall, MediaCommand, PromptRef};
use crate::privacy::party_sdp;
use crate::privacy::sdp::{SdpMedia, declared_media};
use crate::prompts::AppPrompts;
use crate::tables::reject_mapping;
use crate::transactions::Id;
use crate::{Peer, RouteLookup};
use pn_bindings::{Cause, RouteDecision};
use pn_sip::{Method, Request, Response};

use crate::engine::B2bua;
use crate::ivr::{AudioOffer, Ivr, IvrPlay, IvrStep, Purpose, local_sdp};

impl B2bua {
    /// Answers A with early media and starts `purpose`; `Err(record)` when the call cannot have media
    /// (bypass mode, no free port pair, no G.711 in A's offer).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn start_ivr(
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
        let Ok(Some(media)) = self.allocate_media(c.now) else {
            return Err(Box::new(record));
        };
        let Some(a) = self.new_a_leg(c, id, from, r, Some(media)) else {
            self.release_pairs(c.now, media);
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
        let inband = settings.inband_dtmf;
        let settings_answer_first = settings.answer_before_collect;
        if let Some(call) = self.calls.get_mut(&id) {
            call.codec = Some(offer.codec);
            call.ivr = Some(Box::new(Ivr::new(r.clone(), hops, purpose, settings, offer)));
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
        let first = self
            .calls
            .get_mut(&id)
            .and_then(|call| call.ivr.as_mut())
            .map(|ivr| ivr.start(c.now));
        if let Some(play) = first {
            self.ivr_play(id, play);
        }
        self.schedule_call(id);
        Ok(())
    }

    /// `183 Session Progress` to A with the switch's SDP (A hears what the switch plays).
    pub(super) fn early_media_to_a(&mut self, c: Clock, id: Id, offer: AudioOffer) {
        self.switch_answers_a(c, id, offer, 183);
    }

    /// AXE `answerBeforeCollect`: `200 OK` to A with the switch's SDP; A's ACK is absorbed, and the call
    /// continues in that dialog (see [`crate::call::Call::a_answered`]).
    pub(super) fn answer_a(&mut self, c: Clock, id: Id, offer: AudioOffer) {
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
    pub(super) fn switch_answers_a(&mut self, c: Clock, id: Id, offer: AudioOffer, status: u16) {
        let Some((transport, a_tx)) = self.calls.get(&id).map(|call| (call.a.peer.transport, call.a_tx))
        else {
            return;
        };
        let contact = self.contact(transport);
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let Some(a_invite) = self.txs.server(a_tx).and_then(|e| e.tx.request()) else {
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

    /// Plays an IVR prompt to A.
    fn ivr_play(&mut self, id: Id, play: IvrPlay) {
        let app = self.calls.get(&id).and_then(|call| call.record.app);
        self.media_command(MediaCommand::Play {
            call: MediaCall(id),
            leg: crate::media::Leg::A,
            prompt: PromptRef { app, name: play.name },
            payload_type: play.payload_type,
            loops: 1,
            tag: play.tag,
        });
    }

    /// Carries out what the IVR asks for next.
    fn ivr_step(&mut self, c: Clock, id: Id, step: IvrStep, router: &dyn RouteLookup) {
        match step {
            IvrStep::Wait => {}
            IvrStep::Play(play) => self.ivr_play(id, play),
            IvrStep::Complete => self.ivr_complete(c, id, router),
            IvrStep::Refuse(cause) => self.refuse_call(c, id, cause),
        }
        self.schedule_call(id);
    }

    /// Stops the prompt playing to A (barge-in, or a prompt that never reported its end).
    fn ivr_stop_prompt(&mut self, id: Id) {
        self.media_command(MediaCommand::StopPlay {
            call: MediaCall(id),
            leg: crate::media::Leg::A,
        });
    }

    /// A prompt ended (`tag`): the IVR's next step, or a connected call's tone bookkeeping.
    pub(super) fn play_done(&mut self, c: Clock, id: Id, side: Side, tag: u32, router: &dyn RouteLookup) {
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
        let step = ivr.play_done(c.now, tag);
        self.ivr_step(c, id, step, router);
    }

    /// A DTMF key from A (RFC 4733, in-band, or SIP INFO) while the switch collects the extension.
    pub(super) fn ivr_digit(&mut self, c: Clock, id: Id, side: Side, digit: char, router: &dyn RouteLookup) {
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
        let (barge_in, step) = ivr.digit(c.now, digit);
        if barge_in {
            self.ivr_stop_prompt(id);
        }
        self.ivr_step(c, id, step, router);
    }

    /// The IVR's timer: a digit timeout (collection ends with what was keyed) or a prompt that never
    /// reported its end.
    pub(super) fn ivr_timer(&mut self, c: Clock, id: Id, router: &dyn RouteLookup) {
        let Some(ivr) = self.calls.get_mut(&id).and_then(|call| call.ivr.as_mut()) else {
            return;
        };
        let (stop, step) = ivr.timer(c.now);
        if stop {
            self.ivr_stop_prompt(id);
        }
        self.ivr_step(c, id, step, router);
    }

    /// Collection ended (terminator, full length or timeout): report the digits and route.
    fn ivr_complete(&mut self, c: Clock, id: Id, router: &dyn RouteLookup) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let Some(done) = call.ivr.as_mut().and_then(|ivr| ivr.complete()) else {
            return;
        };
        call.record.digits = Some(done.digits.clone());
        let event = call.record.event(crate::EventType::CollectInfo, c.wall, None);
        self.fact(event);
        if done.digits.is_empty() {
            if done.retry {
                let play = self
                    .calls
                    .get_mut(&id)
                    .and_then(|call| call.ivr.as_mut())
                    .map(|ivr| ivr.prompt_again(c.now));
                if let Some(play) = play {
                    self.ivr_play(id, play);
                }
            } else {
                self.refuse_call(c, id, Cause::EMPTY_EXTENSION);
            }
            return;
        }
        let decision = router.decide(done.collect.caller, done.collect.x, Some(&done.digits), c.wall);
        let live = router.take_live_slot();
        match decision {
            RouteDecision::Connect(conn) => {
                if let Some(call) = self.calls.get_mut(&id) {
                    call.live = live;
                }
                if !self.trunks.any_up() {
                    self.refuse_call(c, id, Cause::ROUTING_FAILURE);
                    return;
                }
                self.media_command(MediaCommand::StopDetect {
                    call: MediaCall(id),
                    leg: crate::media::Leg::A,
                });
                let place = Placement {
                    prompts: None,
                    conn: &conn,
                    hops: done.hops,
                };
                self.place_b(c, id, &done.request, &place, Some(done.codec), router);
            }
            RouteDecision::Reject(rj) => {
                let play = self
                    .calls
                    .get_mut(&id)
                    .and_then(|call| call.ivr.as_mut())
                    .map(|ivr| ivr.invalid_extension(c.now, done.retry, rj.cause));
                if let Some(play) = play {
                    self.ivr_play(id, play);
                }
            }
            RouteDecision::CollectDigits(_) | RouteDecision::Ask(_) => {
                self.refuse_call(c, id, Cause::PLAY_AND_COLLECT_FAILED);
            }
        }
    }

    /// A request from A on the early dialog of an IVR call: INFO DTMF is collected, BYE abandons,
    /// offers are refused until the call is connected.
    pub(super) fn ivr_request(
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
    pub(super) fn refuse_call(&mut self, c: Clock, id: Id, cause: Cause) {
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
