//! Prompts of a connected call (relay mode) and its recording, from the binding's [`CallPrompts`]:
//!
//! - `caller_hint` plays to A, looped, from the moment the B leg is placed until B answers (A gets
//!   `183` with the switch's SDP first, unless it already hears the switch);
//! - `callee_hint` plays to B once it answers;
//! - a recorded call plays `record_hint` to both parties after answer (B hears it after the callee
//!   hint) and starts recording once both have heard it — at answer when there is no notice;
//! - `last_min_voice` plays to both parties at maxDuration − 60 s.
//!
//! While the switch plays to a party, the relay drops what the other party sends to it.

use std::time::Instant;

use pn_sip::Request;

use crate::B2bua;
use crate::dialog::Side;
use crate::engine::Clock;
use crate::ivr::AudioOffer;
use crate::media::{Leg, MediaCall, MediaCommand, PromptRef};
use crate::transactions::Id;

/// `PlayDone` tag of the caller hint tone.
const TAG_CALLER_HINT: u32 = 1;
/// Tag of the callee hint tone.
const TAG_CALLEE_HINT: u32 = 2;
/// Tag of the recording notice.
const TAG_RECORD_HINT: u32 = 3;
/// Tag of the last-minute voice.
const TAG_LAST_MIN: u32 = 4;
/// Loops of the caller hint: it plays until B answers or the forward timeout.
const HINT_LOOPS: u32 = 1000;

/// A recording in progress.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Recording {
    /// When it started (monotonic): recordings under 3 s keep no file.
    pub started: Instant,
}

/// A file name for the recording of `session_id`: `[A-Za-z0-9_.-]` only, `.wav`.
pub(crate) fn object_name(session_id: &str) -> String {
    let mut name: String = session_id
        .chars()
        .map(|ch| {
            if ch.is_ascii_alphanumeric() || matches!(ch, '_' | '-' | '.') {
                ch
            } else {
                '_'
            }
        })
        .take(120)
        .collect();
    name.push_str(".wav");
    name
}

impl B2bua {
    fn play(&mut self, id: Id, leg: Leg, name: String, loops: u32, tag: u32) {
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

    fn start_recording(&mut self, c: Clock, id: Id) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_names_are_file_safe() {
        assert_eq!(
            object_name("0_12_20261123@pn switch/x"),
            "0_12_20261123_pn_switch_x.wav"
        );
    }
}
