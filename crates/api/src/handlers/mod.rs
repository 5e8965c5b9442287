//! HTTP handlers: one module per mode, the admin API, and the service endpoints.
//!
//! Each handler authenticates, checks the app's mode, validates the fields into a pn-provision request, and
//! then either calls the provisioning engine ([`pn_provision::EngineHandle`]) and shapes its domain result
//! into the reference's JSON fields, or reads through a store read transaction.

pub(crate) mod admin;
pub(crate) mod ax;
pub(crate) mod axb;
pub(crate) mod axe;
pub(crate) mod axyb;
pub(crate) mod calls;
pub(crate) mod controls;
pub(crate) mod media;
pub(crate) mod outbox;
pub(crate) mod service;

use pn_bindings::{App, Binding, CallControls, PreVoice, RecordSettings, UnixTime};
use pn_store::Page;

use crate::result::{ApiFailure, ResultCode};
use crate::state::ApiState;
use crate::validate::{Fields, invalid, param_error};
use pn_provision::XSelect;

/// `relationNum`-style X or `areaCode` (+`areaMatchMode`).
pub(crate) fn x_select(f: &Fields, num_field: &str) -> Result<XSelect, ApiFailure> {
    let widen = f
        .enum_str("areaMatchMode", &["0", "1"])?
        .is_some_and(|m| m == "1");
    if let Some(x) = f.str_opt(num_field, 1, 32)? {
        return Ok(XSelect::Number(f.privacy_number(num_field, &x)?));
    }
    let Some(code) = f.str_opt("areaCode", 1, 8)? else {
        return Err(param_error(num_field, "or areaCode is required"));
    };
    if !code.bytes().all(|c| c.is_ascii_digit()) {
        return Err(param_error("areaCode", "must be digits"));
    }
    let code = if code.starts_with('0') {
        code
    } else {
        format!("0{code}")
    };
    Ok(XSelect::Area { code, widen })
}

/// `recordFlag` + `recordHintTone` at bind time.
pub(crate) fn record_settings(f: &Fields, app: &App) -> Result<RecordSettings, ApiFailure> {
    let record = f.flag("recordFlag")?.unwrap_or(false);
    let hint_tone = f.tone("recordHintTone")?;
    if record && !app.record_enabled {
        return Err(invalid(
            "recordFlag",
            "is true but recording is not enabled for the app",
        ));
    }
    if hint_tone.is_some() && !record {
        return Err(invalid("recordHintTone", "needs recordFlag true"));
    }
    Ok(RecordSettings { record, hint_tone })
}

/// `maxDuration` (0–1440 min).
pub(crate) fn max_duration(f: &Fields) -> Result<Option<u16>, ApiFailure> {
    Ok(f.int_range("maxDuration", 0, 1440)?.map(|v| v as u16))
}

/// `preVoice` tones as given: (callerHintTone, calleeHintTone); `None` = unchanged.
pub(crate) fn pre_voice_changes(f: &Fields) -> Result<(Option<String>, Option<String>), ApiFailure> {
    let Some(pv) = f.object("preVoice")? else {
        return Ok((None, None));
    };
    Ok((
        pv.str_opt("callerHintTone", 0, 128)?,
        pv.str_opt("calleeHintTone", 0, 128)?,
    ))
}

/// maxDuration, lastMinVoice, privateSms, preVoice at bind time.
pub(crate) fn call_controls(f: &Fields) -> Result<CallControls, ApiFailure> {
    let max_duration_min = max_duration(f)?.unwrap_or(0);
    let last_min_voice = f.tone("lastMinVoice")?;
    if last_min_voice.is_some() && max_duration_min == 0 {
        return Err(invalid("lastMinVoice", "needs maxDuration other than 0"));
    }
    let private_sms = f.flag("privateSms")?.unwrap_or(true);
    let (a_dials, b_dials) = pre_voice_changes(f)?;
    Ok(CallControls {
        max_duration_min,
        last_min_voice,
        private_sms,
        pre_voice: PreVoice {
            caller_hint_tone: a_dials.filter(|s| !s.is_empty()),
            callee_hint_tone: b_dials.filter(|s| !s.is_empty()),
        },
    })
}

/// A bind or modify that needs the media plane, refused in bypass mode.
fn needs_relay(what: &str) -> ApiFailure {
    ApiFailure::new(
        ResultCode::INVALID_REQUEST,
        format!("Invalid request. {what} needs the media relay ([media] mode = \"relay\")"),
    )
}

/// What a bind or modify asks of the media plane: the prompt names it sets and whether it turns recording on.
#[derive(Default)]
pub(crate) struct MediaUse<'a> {
    /// `(field, prompt name)` of every prompt-name field given (an empty name, which clears, is skipped).
    pub(crate) prompts: Vec<(&'static str, &'a str)>,
    /// `recordFlag` is (set) true.
    pub(crate) record: bool,
    /// The whole request needs media whatever its fields (AXE bind: digit collection), named like this.
    pub(crate) always: Option<&'static str>,
}

impl<'a> MediaUse<'a> {
    /// Adds a prompt-name field if given and not empty.
    pub(crate) fn prompt(mut self, field: &'static str, name: Option<&'a String>) -> Self {
        if let Some(n) = name.filter(|n| !n.is_empty()) {
            self.prompts.push((field, n.as_str()));
        }
        self
    }
}

/// Bind/modify-time media checks: in bypass mode anything that needs media is refused (1010002 naming the
/// field); otherwise every prompt name must exist for the app (its upload or a shipped default), else
/// 1010002 `Invalid request.<name> does not exist.` as the reference words it.
pub(crate) fn check_media(s: &ApiState, app: &App, uses: &MediaUse<'_>) -> Result<(), ApiFailure> {
    if !s.media_relay() {
        if let Some(what) = uses.always {
            return Err(needs_relay(what));
        }
        if uses.record {
            return Err(needs_relay("recordFlag"));
        }
        if let Some((field, _)) = uses.prompts.first() {
            return Err(needs_relay(field));
        }
        return Ok(());
    }
    for (_, name) in &uses.prompts {
        if !s.prompt_exists(app.id, name) {
            return Err(crate::validate::invalid(name, "does not exist."));
        }
    }
    Ok(())
}

/// The media use of AXB/AX bind fields.
pub(crate) fn controls_media<'a>(record: &'a RecordSettings, controls: &'a CallControls) -> MediaUse<'a> {
    MediaUse {
        record: record.record,
        ..MediaUse::default()
    }
    .prompt("recordHintTone", record.hint_tone.as_ref())
    .prompt("lastMinVoice", controls.last_min_voice.as_ref())
    .prompt(
        "preVoice.callerHintTone",
        controls.pre_voice.caller_hint_tone.as_ref(),
    )
    .prompt(
        "preVoice.calleeHintTone",
        controls.pre_voice.callee_hint_tone.as_ref(),
    )
}

/// `pageIndex` (≥ 1, default 1) and `pageSize` (10–100; absent or out of range → 50, as the reference does).
pub(crate) fn page(f: &Fields) -> Result<Page, ApiFailure> {
    let index = match f.int_opt("pageIndex")? {
        None => 1,
        Some(i) if (1..=i64::from(u32::MAX)).contains(&i) => i as u32,
        Some(_) => return Err(param_error("pageIndex", "must be 1 or more")),
    };
    let size = match f.int_opt("pageSize")? {
        Some(s) if (10..=100).contains(&s) => s as u32,
        _ => 50,
    };
    Ok(Page { index, size })
}

/// The query miss (1016001).
pub(crate) fn query_not_found() -> ApiFailure {
    ApiFailure::new(ResultCode::QUERY_NOT_FOUND, "The record does not exist")
}

/// Whether a stored binding is visible to `app` at `now` (its own, its mode, live).
pub(crate) fn visible(b: &Binding, app: &App, now: UnixTime) -> bool {
    b.app == app.id && b.kind.mode() == app.mode && !b.is_expired(now)
}

/// The fields of a modify answer: the binding's `subscriptionId`.
pub(super) fn subscription_json(subscription_id: &str) -> serde_json::Value {
    serde_json::json!({ "subscriptionId": subscription_id })
}
