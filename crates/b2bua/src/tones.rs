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

use crate::media::{Leg, MIN_RECORDING};
use crate::prompts::CallPrompts;

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

/// A prompt to play to one party.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tone {
    /// Who hears it.
    pub leg: Leg,
    /// The prompt's name.
    pub name: String,
    /// How many times it plays.
    pub loops: u32,
    /// Its `PlayDone` tag.
    pub tag: u32,
}

/// What B's answer asks for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct AnsweredTones {
    /// Stop the caller hint playing to A.
    pub stop_caller_hint: bool,
    /// Prompts to play now.
    pub plays: Vec<Tone>,
    /// Start recording now (a recorded call without a notice).
    pub start_recording: bool,
}

/// A connected call's prompts and recording (relay mode; see the module docs).
#[derive(Debug, Clone, Default)]
pub(crate) struct Tones {
    /// The binding's prompts (`None`: none set).
    prompts: Option<Box<CallPrompts>>,
    /// The call is to be recorded once the recording notice has played.
    record_pending: bool,
    /// Recording notices still playing (recording starts when none is).
    record_hints_playing: u8,
    /// The caller hint tone plays to A (stopped when B answers).
    caller_hint_playing: bool,
    /// A recording in progress.
    recording: Option<Recording>,
}

impl Tones {
    /// The B leg is placed with the binding's `prompts`; `record`: the call is recorded.
    pub(crate) fn placed(&mut self, prompts: CallPrompts, record: bool) {
        self.record_pending = record;
        self.prompts = (prompts != CallPrompts::default()).then(|| Box::new(prompts));
    }

    /// The caller hint tone, if the binding has one.
    pub(crate) fn caller_hint(&self) -> Option<&str> {
        self.prompts.as_ref()?.caller_hint.as_deref()
    }

    /// Starts the caller hint: A hears it, looped, until B answers.
    pub(crate) fn start_caller_hint(&mut self) -> Option<Tone> {
        let name = self.caller_hint()?.to_owned();
        self.caller_hint_playing = true;
        Some(Tone {
            leg: Leg::A,
            name,
            loops: HINT_LOOPS,
            tag: TAG_CALLER_HINT,
        })
    }

    /// B answered: the caller hint stops, B hears the callee hint, both hear the recording notice
    /// (recording starts once both have), or recording starts at once without a notice.
    pub(crate) fn answered(&mut self) -> AnsweredTones {
        let mut out = AnsweredTones {
            stop_caller_hint: std::mem::take(&mut self.caller_hint_playing),
            ..AnsweredTones::default()
        };
        let prompts = self.prompts.as_deref().cloned().unwrap_or_default();
        if let Some(hint) = prompts.callee_hint {
            out.plays.push(Tone {
                leg: Leg::B,
                name: hint,
                loops: 1,
                tag: TAG_CALLEE_HINT,
            });
        }
        if !self.record_pending {
            return out;
        }
        match prompts.record_hint {
            Some(notice) => {
                self.record_hints_playing = 2;
                for leg in [Leg::A, Leg::B] {
                    out.plays.push(Tone {
                        leg,
                        name: notice.clone(),
                        loops: 1,
                        tag: TAG_RECORD_HINT,
                    });
                }
            }
            None => out.start_recording = true,
        }
        out
    }

    /// A prompt with `tag` ended: `true` when recording starts now (the last notice ended).
    pub(crate) fn done(&mut self, tag: u32) -> bool {
        match tag {
            TAG_RECORD_HINT if self.record_hints_playing > 0 => {
                self.record_hints_playing -= 1;
                self.record_hints_playing == 0
            }
            TAG_CALLER_HINT => {
                self.caller_hint_playing = false;
                false
            }
            _ => false,
        }
    }

    /// Recording starts at `now` if the call is to be recorded and is not yet: `true` then.
    pub(crate) fn start_recording(&mut self, now: Instant) -> bool {
        if !std::mem::take(&mut self.record_pending) {
            return false;
        }
        self.recording = Some(Recording { started: now });
        true
    }

    /// The call ends at `now`: whether its recording (if any) lasted long enough to keep.
    pub(crate) fn recording_kept(&self, now: Instant) -> bool {
        self.recording
            .is_some_and(|r| now.saturating_duration_since(r.started) >= MIN_RECORDING)
    }

    /// The last-minute voice, to both parties.
    pub(crate) fn last_minute(&self) -> Vec<Tone> {
        let Some(voice) = self.prompts.as_ref().and_then(|p| p.last_min_voice.clone()) else {
            return Vec::new();
        };
        [Leg::A, Leg::B]
            .into_iter()
            .map(|leg| Tone {
                leg,
                name: voice.clone(),
                loops: 1,
                tag: TAG_LAST_MIN,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn object_names_are_file_safe() {
        assert_eq!(
            object_name("0_12_20261123@pn switch/x"),
            "0_12_20261123_pn_switch_x.wav"
        );
    }

    #[allow(clippy::disallowed_methods)] // one real Instant to start a virtual clock
    fn t0() -> Instant {
        Instant::now()
    }

    fn prompts() -> CallPrompts {
        CallPrompts {
            caller_hint: Some("ring".into()),
            callee_hint: Some("callee".into()),
            record_hint: Some("notice".into()),
            last_min_voice: Some("minute".into()),
        }
    }

    #[test]
    fn a_recorded_call_records_once_both_notices_played() {
        let mut tones = Tones::default();
        tones.placed(prompts(), true);
        let hint = tones.start_caller_hint().unwrap();
        assert_eq!(
            (hint.leg, hint.name.as_str(), hint.loops),
            (Leg::A, "ring", HINT_LOOPS)
        );
        let answered = tones.answered();
        assert!(answered.stop_caller_hint && !answered.start_recording);
        let heard: Vec<_> = answered.plays.iter().map(|t| (t.leg, t.name.as_str())).collect();
        assert_eq!(
            heard,
            [(Leg::B, "callee"), (Leg::A, "notice"), (Leg::B, "notice")]
        );
        assert!(!tones.done(TAG_CALLEE_HINT));
        assert!(!tones.done(TAG_RECORD_HINT), "one notice still plays");
        assert!(tones.done(TAG_RECORD_HINT));
        let start = t0();
        assert!(tones.start_recording(start));
        assert!(!tones.start_recording(start), "started already");
        assert!(!tones.recording_kept(start + Duration::from_secs(2)));
        assert!(tones.recording_kept(start + MIN_RECORDING));
        assert_eq!(tones.last_minute().len(), 2);
    }

    #[test]
    fn without_a_notice_recording_starts_at_answer_and_without_prompts_nothing_plays() {
        let mut tones = Tones::default();
        tones.placed(
            CallPrompts {
                record_hint: None,
                ..prompts()
            },
            true,
        );
        assert!(tones.answered().start_recording);
        let mut quiet = Tones::default();
        quiet.placed(CallPrompts::default(), false);
        assert_eq!(quiet.start_caller_hint(), None);
        assert_eq!(quiet.answered(), AnsweredTones::default());
        assert!(!quiet.start_recording(t0()));
        assert!(quiet.last_minute().is_empty());
    }
}
