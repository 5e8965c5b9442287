//! Admin writes: apps and the number pool. They go through the engine like every other write.

use pn_bindings::{
    App, AppMedia, Binding, DEFAULT_EXTENSION_PROMPT, DEFAULT_INVALID_EXTENSION_PROMPT, Mode, NumberStatus,
    XNumber,
};
use pn_numbers::E164;
use pn_store::BindingFilter;
use rand::Rng;
use rand::distr::Alphanumeric;
use serde_json::{Value, json};

use super::{Ctx, Effect, Fail, OpResult, status_name};
use crate::dto::app_json;
use crate::result::{ApiFailure, ResultCode};
use crate::validate::invalid;

/// Create an app.
#[derive(Debug)]
pub(crate) struct CreateApp {
    /// Human name.
    pub(crate) name: String,
    /// Mode.
    pub(crate) mode: Mode,
    /// appKey (generated when absent).
    pub(crate) app_key: Option<String>,
    /// appSecret (generated when absent).
    pub(crate) app_secret: Option<String>,
    /// callStatusUrl.
    pub(crate) call_status_url: Option<String>,
    /// cdrUrl.
    pub(crate) cdr_url: Option<String>,
    /// smsUrl.
    pub(crate) sms_url: Option<String>,
    /// recordEnabled.
    pub(crate) record_enabled: bool,
    /// smsEnabled.
    pub(crate) sms_enabled: bool,
    /// extensionDigits (AXE).
    pub(crate) extension_digits: u8,
    /// collectRepeat.
    pub(crate) collect_repeat: u8,
    /// Media settings given (the rest default).
    pub(crate) media: AppMediaPatch,
}

/// One field of a patch: leave it, clear it (for the AXE prompts: back to the shipped default), or set it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) enum Change<T> {
    /// Absent: unchanged.
    #[default]
    Keep,
    /// `""`: cleared.
    Clear,
    /// A new value.
    Set(T),
}

impl<T: Clone> Change<T> {
    /// Applies the change to an optional setting.
    fn apply(&self, slot: &mut Option<T>) {
        match self {
            Change::Keep => {}
            Change::Clear => *slot = None,
            Change::Set(v) => *slot = Some(v.clone()),
        }
    }
}

/// Changes to an app's media settings (on create: changes from the default).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct AppMediaPatch {
    /// noBindingPrompt.
    pub(crate) no_binding_prompt: Change<String>,
    /// noPermissionPrompt.
    pub(crate) no_permission_prompt: Change<String>,
    /// serviceErrorPrompt.
    pub(crate) service_error_prompt: Change<String>,
    /// extensionPrompt (cleared: the shipped default).
    pub(crate) extension_prompt: Change<String>,
    /// invalidExtensionPrompt (cleared: the shipped default).
    pub(crate) invalid_extension_prompt: Change<String>,
    /// firstDigitTimeoutMs.
    pub(crate) first_digit_timeout_ms: Option<u32>,
    /// interDigitTimeoutMs.
    pub(crate) inter_digit_timeout_ms: Option<u32>,
    /// digitTerminator (cleared: no terminator).
    pub(crate) digit_terminator: Change<char>,
    /// inbandDtmf.
    pub(crate) inband_dtmf: Option<bool>,
    /// answerBeforeCollect.
    pub(crate) answer_before_collect: Option<bool>,
}

impl AppMediaPatch {
    /// Applies the given changes to `media`.
    pub(crate) fn apply(&self, media: &mut AppMedia) {
        fn required(change: &Change<String>, slot: &mut String, default: &str) {
            match change {
                Change::Keep => {}
                Change::Clear => default.clone_into(slot),
                Change::Set(v) => slot.clone_from(v),
            }
        }
        self.no_binding_prompt.apply(&mut media.no_binding_prompt);
        self.no_permission_prompt.apply(&mut media.no_permission_prompt);
        self.service_error_prompt.apply(&mut media.service_error_prompt);
        required(
            &self.extension_prompt,
            &mut media.extension_prompt,
            DEFAULT_EXTENSION_PROMPT,
        );
        required(
            &self.invalid_extension_prompt,
            &mut media.invalid_extension_prompt,
            DEFAULT_INVALID_EXTENSION_PROMPT,
        );
        if let Some(v) = self.first_digit_timeout_ms {
            media.first_digit_timeout_ms = v;
        }
        if let Some(v) = self.inter_digit_timeout_ms {
            media.inter_digit_timeout_ms = v;
        }
        self.digit_terminator.apply(&mut media.digit_terminator);
        if let Some(v) = self.inband_dtmf {
            media.inband_dtmf = v;
        }
        if let Some(v) = self.answer_before_collect {
            media.answer_before_collect = v;
        }
    }
}

/// Change an app: `None` = unchanged; an empty URL clears it.
#[derive(Debug, Default)]
pub(crate) struct UpdateApp {
    /// Which app.
    pub(crate) app_key: String,
    /// name.
    pub(crate) name: Option<String>,
    /// appSecret (rotation).
    pub(crate) app_secret: Option<String>,
    /// callStatusUrl.
    pub(crate) call_status_url: Option<String>,
    /// cdrUrl.
    pub(crate) cdr_url: Option<String>,
    /// smsUrl.
    pub(crate) sms_url: Option<String>,
    /// recordEnabled.
    pub(crate) record_enabled: Option<bool>,
    /// smsEnabled.
    pub(crate) sms_enabled: Option<bool>,
    /// collectRepeat.
    pub(crate) collect_repeat: Option<u8>,
    /// enabled.
    pub(crate) enabled: Option<bool>,
    /// mode, if given (must equal the app's).
    pub(crate) mode: Option<Mode>,
    /// extensionDigits, if given (must equal the app's).
    pub(crate) extension_digits: Option<u8>,
    /// Media settings.
    pub(crate) media: AppMediaPatch,
}

/// One number to import.
#[derive(Debug)]
pub(crate) struct ImportEntry {
    /// The number as given.
    pub(crate) given: String,
    /// The parsed number, or why it is unusable.
    pub(crate) number: Result<E164, ApiFailure>,
    /// areaCode.
    pub(crate) area_code: String,
    /// province.
    pub(crate) province: Option<String>,
}

/// Import numbers into an app's pool.
#[derive(Debug)]
pub(crate) struct ImportNumbers {
    /// The owning app.
    pub(crate) app_key: String,
    /// The numbers.
    pub(crate) entries: Vec<ImportEntry>,
}

/// Change a number.
#[derive(Debug)]
pub(crate) struct SetNumber {
    /// The number.
    pub(crate) number: E164,
    /// New status.
    pub(crate) status: Option<NumberStatus>,
    /// New area code.
    pub(crate) area_code: Option<String>,
    /// New province.
    pub(crate) province: Option<String>,
}

/// Retire a number.
#[derive(Debug)]
pub(crate) struct RetireNumber {
    /// The number.
    pub(crate) number: E164,
    /// Also unbind the live bindings that use it.
    pub(crate) force: bool,
}

/// 32 random alphanumerics (generated keys and secrets).
pub(crate) fn random_token() -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(32)
        .map(char::from)
        .collect()
}

fn no_app(key: &str) -> Fail {
    ApiFailure::new(
        ResultCode::RECORD_NOT_FOUND,
        format!("The record does not exist: app {key}"),
    )
    .into()
}

fn no_number(n: E164) -> Fail {
    ApiFailure::new(
        ResultCode::RECORD_NOT_FOUND,
        format!("The record does not exist: number {n}"),
    )
    .into()
}

/// Creates an app.
pub(crate) fn create_app(ctx: &mut Ctx<'_, '_>, req: &CreateApp) -> OpResult {
    let app_key = req.app_key.clone().unwrap_or_else(random_token);
    if ctx.tx.app_by_key(&app_key)?.is_some() {
        return Err(ApiFailure::new(
            ResultCode::RECORD_EXISTS,
            format!("The record already exists: app {app_key}"),
        )
        .into());
    }
    let app = App {
        id: ctx.new_app_id(),
        name: req.name.clone(),
        mode: req.mode,
        app_key,
        app_secret: req.app_secret.clone().unwrap_or_else(random_token),
        call_status_url: req.call_status_url.clone(),
        cdr_url: req.cdr_url.clone(),
        sms_url: req.sms_url.clone(),
        record_enabled: req.record_enabled,
        sms_enabled: req.sms_enabled,
        extension_digits: req.extension_digits,
        collect_repeat: req.collect_repeat,
        enabled: true,
        created_at: ctx.now,
        media: {
            let mut media = AppMedia::default();
            req.media.apply(&mut media);
            media
        },
    };
    ctx.tx.put_app(&app)?;
    let out = json!({ "app": app_json(&app) });
    ctx.effects.push(Effect::App(app));
    Ok(out)
}

/// Changes an app (mode and extension digits are immutable).
pub(crate) fn update_app(ctx: &mut Ctx<'_, '_>, req: &UpdateApp) -> OpResult {
    let mut app = ctx
        .tx
        .app_by_key(&req.app_key)?
        .ok_or_else(|| no_app(&req.app_key))?;
    if req.mode.is_some_and(|m| m != app.mode) {
        return Err(invalid("mode", "cannot be changed").into());
    }
    if req.extension_digits.is_some_and(|d| d != app.extension_digits) {
        return Err(invalid("extensionDigits", "cannot be changed").into());
    }
    if let Some(v) = &req.name {
        app.name.clone_from(v);
    }
    if let Some(v) = &req.app_secret {
        app.app_secret.clone_from(v);
    }
    if let Some(v) = &req.call_status_url {
        app.call_status_url = Some(v.clone()).filter(|u| !u.is_empty());
    }
    if let Some(v) = &req.cdr_url {
        app.cdr_url = Some(v.clone()).filter(|u| !u.is_empty());
    }
    if let Some(v) = &req.sms_url {
        app.sms_url = Some(v.clone()).filter(|u| !u.is_empty());
    }
    if let Some(v) = req.record_enabled {
        app.record_enabled = v;
    }
    if let Some(v) = req.sms_enabled {
        app.sms_enabled = v;
    }
    if let Some(v) = req.collect_repeat {
        app.collect_repeat = v;
    }
    if let Some(v) = req.enabled {
        app.enabled = v;
    }
    req.media.apply(&mut app.media);
    ctx.tx.put_app(&app)?;
    let out = json!({ "app": app_json(&app) });
    ctx.effects.push(Effect::App(app));
    Ok(out)
}

/// Imports numbers; each number gets its own result (one owned by another app is refused alone).
pub(crate) fn import_numbers(ctx: &mut Ctx<'_, '_>, req: &ImportNumbers) -> OpResult {
    let app = ctx
        .tx
        .app_by_key(&req.app_key)?
        .ok_or_else(|| no_app(&req.app_key))?;
    let mut results = Vec::with_capacity(req.entries.len());
    let mut imported = 0u32;
    for e in &req.entries {
        let outcome = match &e.number {
            Err(f) => Err(f.clone()),
            Ok(n) => match ctx.tx.number(*n)? {
                Some(existing) if existing.app != app.id => Err(ApiFailure::new(
                    ResultCode::NUMBER_ALREADY_BOUND,
                    format!("The number {n} belongs to another app"),
                )),
                existing => {
                    let x = XNumber {
                        number: *n,
                        app: app.id,
                        area_code: e.area_code.clone(),
                        province: e.province.clone(),
                        status: existing.map_or(NumberStatus::Normal, |x| x.status),
                    };
                    ctx.tx.put_number(&x)?;
                    ctx.effects.push(Effect::Number(x));
                    imported += 1;
                    Ok(*n)
                }
            },
        };
        results.push(match outcome {
            Ok(n) => json!({ "number": n.to_string(), "resultcode": "0", "resultdesc": "Success" }),
            Err(f) => json!({ "number": e.given, "resultcode": f.code.code, "resultdesc": f.desc }),
        });
    }
    Ok(json!({ "imported": imported, "results": results }))
}

/// Changes a number's status / area / province.
pub(crate) fn set_number(ctx: &mut Ctx<'_, '_>, req: &SetNumber) -> OpResult {
    let mut n = ctx.tx.number(req.number)?.ok_or_else(|| no_number(req.number))?;
    if let Some(s) = req.status {
        n.status = s;
    }
    if let Some(a) = &req.area_code {
        n.area_code.clone_from(a);
    }
    if let Some(p) = &req.province {
        n.province = Some(p.clone()).filter(|p| !p.is_empty());
    }
    ctx.tx.put_number(&n)?;
    let out = number_json(&n);
    ctx.effects.push(Effect::Number(n));
    Ok(out)
}

/// Retires a number; refused while live bindings use it unless `force` (which unbinds them).
pub(crate) fn retire_number(ctx: &mut Ctx<'_, '_>, req: &RetireNumber) -> OpResult {
    let n = req.number;
    ctx.tx.number(n)?.ok_or_else(|| no_number(n))?;
    let mut users: Vec<Binding> = ctx.scan(&BindingFilter {
        x: Some(n),
        ..BindingFilter::default()
    })?;
    users.extend(ctx.scan(&BindingFilter {
        y: Some(n),
        ..BindingFilter::default()
    })?);
    let live = users.iter().filter(|b| !b.is_expired(ctx.now)).count();
    if live > 0 && !req.force {
        return Err(ApiFailure::new(
            ResultCode::NUMBER_ALREADY_BOUND,
            format!(
                "The number {n} has been bound ({live} live bindings); retire with force=true to unbind them"
            ),
        )
        .into());
    }
    let mut unbound = 0u32;
    for b in &users {
        if ctx.tx.binding(b.id)?.is_some() {
            ctx.remove(b)?;
            unbound += 1;
        }
    }
    ctx.tx.delete_number(n)?;
    ctx.effects.push(Effect::RemoveNumber(n));
    Ok(json!({ "number": n.to_string(), "unbound": unbound }))
}

/// The admin JSON of a pool number.
pub(crate) fn number_json(n: &XNumber) -> Value {
    json!({
        "number": n.number.to_string(),
        "areaCode": n.area_code,
        "province": n.province,
        "status": status_name(n.status),
        "statusCode": n.status.code().to_string(),
    })
}
