//! What a call may play and how AXE collects digits: the settings the runtime's [`crate::RouteLookup`]
//! hands the core from the binding ([`CallPrompts`]) and the app ([`AppPrompts`]). Names are prompt
//! file names; the runtime resolves a name to the app's upload or to the shipped default of that name.

use std::time::Duration;

use pn_bindings::{AppMedia, BindingMedia, CdrDirection};

/// AXE `extension prompt` default (a shipped prompt).
pub const DEFAULT_EXTENSION_PROMPT: &str = "enter_extension.wav";
/// AXE `invalid extension` default (a shipped prompt).
pub const DEFAULT_INVALID_EXTENSION_PROMPT: &str = "invalid_extension.wav";
/// "No permission" default (a shipped prompt; the reference's platform default).
pub const DEFAULT_NO_PERMISSION_PROMPT: &str = "no_permission.wav";

/// The prompts of one connected call, chosen from the binding and the call's direction
/// ([`CallPrompts::for_call`]).
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
    /// Played before refusing a caller without permission (8016, 8023, 8042, 8043) or by a call control (7001–7005,
    /// 7500, 8047–8050).
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

impl CallPrompts {
    /// The prompts a connected call plays, from its binding's settings: the caller hint is chosen by
    /// who calls (`direction`): the bound A calling (`AToB`) hears `caller_hint_from_a`, anyone else
    /// (`BToA`, `Abnormal`) `caller_hint_to_a`; the other prompts are the binding's.
    pub fn for_call(media: &BindingMedia, direction: CdrDirection) -> Self {
        let caller_hint = match direction {
            CdrDirection::AToB => media.caller_hint_from_a.clone(),
            CdrDirection::BToA | CdrDirection::Abnormal => media.caller_hint_to_a.clone(),
        };
        Self {
            caller_hint,
            callee_hint: media.callee_hint.clone(),
            record_hint: media.record_hint.clone(),
            last_min_voice: media.last_min_voice.clone(),
        }
    }
}

impl AppPrompts {
    /// An app's rejection prompts and AXE collection settings, from its media settings.
    pub fn of_app(media: &AppMedia) -> Self {
        Self {
            no_binding: media.no_binding_prompt.clone(),
            no_permission: media.no_permission_prompt.clone(),
            service_error: media.service_error_prompt.clone(),
            extension: media.extension_prompt.clone(),
            invalid_extension: media.invalid_extension_prompt.clone(),
            first_digit_timeout: Duration::from_millis(media.first_digit_timeout_ms.into()),
            inter_digit_timeout: Duration::from_millis(media.inter_digit_timeout_ms.into()),
            terminator: media.digit_terminator,
            inband_dtmf: media.inband_dtmf,
            answer_before_collect: media.answer_before_collect,
        }
    }

    /// The prompt played before refusing with `cause`, if the app has one for its category.
    pub fn for_rejection(&self, cause: u16) -> Option<&str> {
        match cause {
            8013 | 8014 | 8030 => self.no_binding.as_deref(),
            8016 | 8023 | 7001..=7005 | 7500 | 8042..=8044 | 8046..=8050 | 8056 | 8057 => {
                self.no_permission.as_deref()
            }
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

    #[test]
    fn the_caller_hint_depends_on_who_calls() {
        let media = BindingMedia {
            caller_hint_from_a: Some("from_a.wav".into()),
            caller_hint_to_a: Some("to_a.wav".into()),
            callee_hint: Some("callee.wav".into()),
            record_hint: None,
            last_min_voice: Some("minute.wav".into()),
        };
        let a_calls = CallPrompts::for_call(&media, CdrDirection::AToB);
        assert_eq!(a_calls.caller_hint.as_deref(), Some("from_a.wav"));
        assert_eq!(a_calls.callee_hint.as_deref(), Some("callee.wav"));
        assert_eq!(a_calls.last_min_voice.as_deref(), Some("minute.wav"));
        assert_eq!(a_calls.record_hint, None);
        for other in [CdrDirection::BToA, CdrDirection::Abnormal] {
            let p = CallPrompts::for_call(&media, other);
            assert_eq!(p.caller_hint.as_deref(), Some("to_a.wav"), "{other:?}");
        }
    }

    #[test]
    fn app_settings_become_prompts_and_timeouts() {
        let media = AppMedia {
            service_error_prompt: Some("se.wav".into()),
            first_digit_timeout_ms: 7_000,
            inter_digit_timeout_ms: 2_500,
            digit_terminator: Some('*'),
            answer_before_collect: true,
            ..AppMedia::default()
        };
        let p = AppPrompts::of_app(&media);
        assert_eq!(p.for_rejection(8104), Some("se.wav"));
        assert_eq!(p.first_digit_timeout, Duration::from_secs(7));
        assert_eq!(p.inter_digit_timeout, Duration::from_millis(2_500));
        assert_eq!((p.terminator, p.answer_before_collect), (Some('*'), true));
        assert_eq!(p.extension, media.extension_prompt);
        assert_eq!(AppPrompts::of_app(&AppMedia::default()), AppPrompts::default());
    }
}
