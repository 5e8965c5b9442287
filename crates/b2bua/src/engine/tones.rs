//! The engine side of [`crate::tones`]: prompts of a connected call and its recording.

use pn_sip::Request;

use crate::clock::Clock;
use crate::dialog::Side;
use crate::ivr::AudioOffer;
use crate::media::{Leg, MediaCall, MediaCommand, PromptRef};
use crate::transactions::Id;

use crate::engine::B2bua;
use crate::tones::{
    HINT_LOOPS, Recording, TAG_CALLEE_HINT, TAG_CALLER_HINT, TAG_LAST_MIN, TAG_RECORD_HINT, object_name,
};

impl B2bua {
    pub(crate) fn play(&mut self, id: Id, leg: Leg, name: String, loops: u32, tag: u32) {
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        let payload_type = call.codec.unwrap_or(8);
        let app = call.record.app;
        self.media_command(MediaCommand::Play {
            call: MediaCall(id),
            leg,
            prompt: PromptRef { app, name },
            payload_type,
            loops,
            tag,
        });
    }

    /// The B leg was just placed: A hears the caller hint tone, if the binding has one.
    pub(crate) fn caller_hint(&mut self, c: Clock, id: Id, r: &Request, from_ivr: bool) {
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        let Some(hint) = call.prompts.as_ref().and_then(|p| p.caller_hint.clone()) else {
            return;
        };
        if call.media.is_none() {
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
        if let Some(call) = self.calls.get_mut(&id) {
            call.caller_hint_playing = true;
        }
        self.play(id, Leg::A, hint, HINT_LOOPS, TAG_CALLER_HINT);
    }

    /// B answered: stop the caller hint, play the callee hint and the recording notice, or start
    /// recording.
    pub(crate) fn answered_tones(&mut self, c: Clock, id: Id) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if call.media.is_none() {
            return;
        }
        if std::mem::take(&mut call.caller_hint_playing) {
            self.media_command(MediaCommand::StopPlay {
                call: MediaCall(id),
                leg: Leg::A,
            });
        }
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let prompts = call.prompts.as_deref().cloned().unwrap_or_default();
        let record = call.record_pending;
        if let Some(hint) = prompts.callee_hint {
            self.play(id, Leg::B, hint, 1, TAG_CALLEE_HINT);
        }
        if !record {
            return;
        }
        match prompts.record_hint {
            Some(notice) => {
                if let Some(call) = self.calls.get_mut(&id) {
                    call.record_hints_playing = 2;
                }
                self.play(id, Leg::A, notice.clone(), 1, TAG_RECORD_HINT);
                self.play(id, Leg::B, notice, 1, TAG_RECORD_HINT);
            }
            None => self.start_recording(c, id),
        }
    }

    /// A connected call's prompt ended.
    pub(crate) fn tone_done(&mut self, c: Clock, id: Id, _side: Side, tag: u32) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        match tag {
            TAG_RECORD_HINT if call.record_hints_playing > 0 => {
                call.record_hints_playing -= 1;
                if call.record_hints_playing == 0 {
                    self.start_recording(c, id);
                }
            }
            TAG_CALLER_HINT => call.caller_hint_playing = false,
            _ => {}
        }
    }

    pub(crate) fn start_recording(&mut self, c: Clock, id: Id) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if !call.record_pending || call.ended || call.media.is_none() {
            return;
        }
        let Some(app) = call.record.app else {
            return;
        };
        call.record_pending = false;
        let object = object_name(&call.record.session_id);
        call.record.recording = Some((c.wall, object.clone()));
        call.recording = Some(Recording { started: c.now });
        self.media_command(MediaCommand::Record {
            call: MediaCall(id),
            app,
            object,
        });
    }

    /// The last-minute hook (T−60 s before the max duration): both parties hear `lastMinVoice`.
    pub(crate) fn last_minute(&mut self, id: Id) {
        self.stats.last_minute_hooks += 1;
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        if call.media.is_none() {
            return;
        }
        let Some(voice) = call.prompts.as_ref().and_then(|p| p.last_min_voice.clone()) else {
            return;
        };
        self.play(id, Leg::A, voice.clone(), 1, TAG_LAST_MIN);
        self.play(id, Leg::B, voice, 1, TAG_LAST_MIN);
    }
}
