//! What a call may play and how AXE collects digits: the settings the runtime's [`crate::RouteLookup`]
//! hands the core from the binding ([`CallPrompts`]) and the app ([`AppPrompts`]). Names are prompt
//! file names; the runtime resolves a name to the app's upload or to the shipped default of that name.

use std::time::Duration;

/// AXE `extension prompt` default (a shipped prompt).
pub const DEFAULT_EXTENSION_PROMPT: &str = "enter_extension.wav";
/// AXE `invalid extension` default (a shipped prompt).
pub const DEFAULT_INVALID_EXTENSION_PROMPT: &str = "invalid_extension.wav";
/// "No permission" default (a shipped prompt; the reference's platform default).
pub const DEFAULT_NO_PERMISSION_PROMPT: &str = "no_permission.wav";

/// The prompts of one connected call, chosen by the router from the binding and the call's direction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallPrompts {
    /// Played to the caller, looped, while the callee is reached (`callerHintTone`, `preVoiceX`/`preVoiceY`).
    pub caller_hint: Option<String>,
    /// Played to the callee once it answers (`calleeHintTone`).
    pub callee_hint: Option<String>,
    /// Played to both parties before recording starts (`recordHintTone`).
    pub record_hint: Option<String>,
    /// Played to both parties at maxDuration − 60 s (`lastMinVoice`).
    pub last_min_voice: Option<String>,
}

/// App-level prompts and AXE digit collection settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppPrompts {
    /// Played before refusing a call that has no binding (8013, 8014, 8030); `None`: release at once.
    pub no_binding: Option<String>,
    /// Played before refusing a caller without permission (8016, 8023, 8042, 8043).
    pub no_permission: Option<String>,
    /// Played before refusing on a service error (7508, 8008, 8055, 8104).
    pub service_error: Option<String>,
    /// AXE: "please enter the extension".
    pub extension: String,
    /// AXE: "the extension is invalid".
    pub invalid_extension: String,
    /// AXE: time for the first digit, counted from the end of the prompt.
    pub first_digit_timeout: Duration,
    /// AXE: time between digits.
    pub inter_digit_timeout: Duration,
    /// AXE: the key that ends the extension early (`#` by default).
    pub terminator: Option<char>,
    /// Detect in-band (Goertzel) DTMF as well as RFC 4733 and SIP INFO.
    pub inband_dtmf: bool,
    /// AXE: answer the caller (200) before collecting instead of early media (183).
    pub answer_before_collect: bool,
}

impl Default for AppPrompts {
    fn default() -> Self {
        Self {
            no_binding: None,
            no_permission: Some(DEFAULT_NO_PERMISSION_PROMPT.to_owned()),
            service_error: None,
            extension: DEFAULT_EXTENSION_PROMPT.to_owned(),
            invalid_extension: DEFAULT_INVALID_EXTENSION_PROMPT.to_owned(),
            first_digit_timeout: Duration::from_secs(10),
            inter_digit_timeout: Duration::from_secs(5),
            terminator: Some('#'),
            inband_dtmf: false,
            answer_before_collect: false,
        }
    }
}

impl AppPrompts {
    /// The prompt played before refusing with `cause`, if the app has one for its category.
    pub fn for_rejection(&self, cause: u16) -> Option<&str> {
        match cause {
            8013 | 8014 | 8030 => self.no_binding.as_deref(),
            8016 | 8023 | 8042 | 8043 => self.no_permission.as_deref(),
            7508 | 8008 | 8055 | 8104 => self.service_error.as_deref(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejection_categories() {
        let p = AppPrompts {
            no_binding: Some("nb.wav".into()),
            service_error: Some("se.wav".into()),
            ..AppPrompts::default()
        };
        assert_eq!(p.for_rejection(8014), Some("nb.wav"));
        assert_eq!(p.for_rejection(8016), Some(DEFAULT_NO_PERMISSION_PROMPT));
        assert_eq!(p.for_rejection(8104), Some("se.wav"));
        assert_eq!(p.for_rejection(8025), None);
        assert_eq!(AppPrompts::default().for_rejection(8014), None);
    }
}
