//! The engine side of [`crate::tones`]: prompts of a connected call and its recording.

use pn_sip::Request;

use crate::clock::Clock;
use crate::dialog::Side;
use crate::ivr::AudioOffer;
use crate::media::{Leg, MediaCall, MediaCommand, PromptRef};
use crate::transactions::Id;

use crate::engine::B2bua;
use crate::tones::{Tone, object_name};

impl B2bua {
    /// Plays `tone` on a call (as the G.711 codec it negotiated, PCMA by default).
    pub(super) fn play(&mut self, id: Id, tone: Tone) {
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        let payload_type = call.codec.unwrap_or(8);
        let app = call.record.app;
        self.media_command(MediaCommand::Play {
            call: MediaCall(id),
            leg: tone.leg,
            prompt: PromptRef { app, name: tone.name },
            payload_type,
            loops: tone.loops,
            tag: tone.tag,
        });
    }

    /// The B leg was just placed: A hears the caller hint tone, if the binding has one.
    pub(super) fn caller_hint(&mut self, c: Clock, id: Id, r: &Request, from_ivr: bool) {
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        if call.tones.caller_hint().is_none() || call.media.is_none() {
            return;
        }
        if !from_ivr {
            let Some(offer) = AudioOffer::of(r.headers(), r.body()) else {
                return; // no offer to answer: A hears ordinary ringback
            };
            if let Some(call) = self.calls.get_mut(&id) {
                call.codec = Some(offer.codec);
            }
            self.early_media_to_a(c, id, offer);
        }
        let Some(tone) = self
            .calls
            .get_mut(&id)
            .and_then(|call| call.tones.start_caller_hint())
        else {
            return;
        };
        self.play(id, tone);
    }

    /// B answered: stop the caller hint, play the callee hint and the recording notice, or start
    /// recording.
    pub(super) fn answered_tones(&mut self, c: Clock, id: Id) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if call.media.is_none() {
            return;
        }
        let answered = call.tones.answered();
        if answered.stop_caller_hint {
            self.media_command(MediaCommand::StopPlay {
                call: MediaCall(id),
                leg: Leg::A,
            });
        }
        for tone in answered.plays {
            self.play(id, tone);
        }
        if answered.start_recording {
            self.start_recording(c, id);
        }
    }

    /// A connected call's prompt ended.
    pub(super) fn tone_done(&mut self, c: Clock, id: Id, _side: Side, tag: u32) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if call.tones.done(tag) {
            self.start_recording(c, id);
        }
    }

    pub(super) fn start_recording(&mut self, c: Clock, id: Id) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if call.ended || call.media.is_none() {
            return;
        }
        let Some(app) = call.record.app else {
            return;
        };
        if !call.tones.start_recording(c.now) {
            return;
        }
        let object = object_name(&call.record.session_id);
        call.record.recording = Some((c.wall, object.clone()));
        self.media_command(MediaCommand::Record {
            call: MediaCall(id),
            app,
            object,
        });
    }

    /// The last-minute hook (T−60 s before the max duration): both parties hear `lastMinVoice`.
    pub(super) fn last_minute(&mut self, id: Id) {
        self.stats.last_minute_hooks += 1;
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        if call.media.is_none() {
            return;
        }
        for tone in call.tones.last_minute() {
            self.play(id, tone);
        }
    }
}
