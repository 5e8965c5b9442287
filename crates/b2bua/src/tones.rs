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

/// `PlayDone` tag of the caller hint tone.
pub(crate) const TAG_CALLER_HINT: u32 = 1;
/// Tag of the callee hint tone.
pub(crate) const TAG_CALLEE_HINT: u32 = 2;
/// Tag of the recording notice.
pub(crate) const TAG_RECORD_HINT: u32 = 3;
/// Tag of the last-minute voice.
pub(crate) const TAG_LAST_MIN: u32 = 4;
/// Loops of the caller hint: it plays until B answers or the forward timeout.
pub(crate) const HINT_LOOPS: u32 = 1000;

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
