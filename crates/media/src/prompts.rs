//! The prompts pnswitch ships: spoken English, 8 kHz A-law mono WAV, embedded in the binary.
//!
//! Apps may upload their own files (admin API); a binding or app setting names a file, and a name that the
//! app has not uploaded falls back to the shipped default of that name. The files are produced by
//! `crates/media/prompts/generate.py` (espeak-ng) and committed; the build does not run it.

/// The shipped prompts: `(file name, WAV bytes)`.
pub const DEFAULT_PROMPTS: &[(&str, &[u8])] = &[
    (
        "enter_extension.wav",
        include_bytes!("../prompts/enter_extension.wav"),
    ),
    (
        "invalid_extension.wav",
        include_bytes!("../prompts/invalid_extension.wav"),
    ),
    ("no_binding.wav", include_bytes!("../prompts/no_binding.wav")),
    (
        "no_permission.wav",
        include_bytes!("../prompts/no_permission.wav"),
    ),
    (
        "service_error.wav",
        include_bytes!("../prompts/service_error.wav"),
    ),
    ("please_wait.wav", include_bytes!("../prompts/please_wait.wav")),
    (
        "record_notice.wav",
        include_bytes!("../prompts/record_notice.wav"),
    ),
    ("last_minute.wav", include_bytes!("../prompts/last_minute.wav")),
    ("no_callback.wav", include_bytes!("../prompts/no_callback.wav")),
];

/// AXE: "please enter the extension number, followed by the hash key".
pub const ENTER_EXTENSION: &str = "enter_extension.wav";
/// AXE: "the extension number is invalid, please try again".
pub const INVALID_EXTENSION: &str = "invalid_extension.wav";
/// "Please call using your bound number" (no binding).
pub const NO_BINDING: &str = "no_binding.wav";
/// "Your number has no permission…" (no call permission).
pub const NO_PERMISSION: &str = "no_permission.wav";
/// "Service error, the call will end…".
pub const SERVICE_ERROR: &str = "service_error.wav";
/// "Connecting your call, please wait" (a pre-connect hint tone).
pub const PLEASE_WAIT: &str = "please_wait.wav";
/// "This call will be recorded" (recordHintTone).
pub const RECORD_NOTICE: &str = "record_notice.wav";
/// "Your call will end in one minute" (lastMinVoice).
pub const LAST_MINUTE: &str = "last_minute.wav";
/// "There is no recent caller to call back" (AXE callbackTone).
pub const NO_CALLBACK: &str = "no_callback.wav";

/// The shipped file called `name`, if any.
pub fn default_prompt(name: &str) -> Option<&'static [u8]> {
    DEFAULT_PROMPTS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, bytes)| *bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{G711Law, parse_prompt};

    #[test]
    fn every_shipped_prompt_is_a_valid_alaw_prompt() {
        for (name, bytes) in DEFAULT_PROMPTS {
            let audio = parse_prompt(bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(audio.law, G711Law::ALaw, "{name}");
            assert!(audio.duration_ms() > 1000 && audio.duration_ms() < 8000, "{name}");
            assert!(
                audio.samples.iter().any(|&s| s != G711Law::ALaw.silence()),
                "{name} is silent"
            );
        }
        for name in [
            ENTER_EXTENSION,
            INVALID_EXTENSION,
            NO_BINDING,
            NO_PERMISSION,
            SERVICE_ERROR,
            PLEASE_WAIT,
            RECORD_NOTICE,
            LAST_MINUTE,
            NO_CALLBACK,
        ] {
            assert!(default_prompt(name).is_some(), "{name}");
        }
        assert!(default_prompt("nope.wav").is_none());
    }
}
