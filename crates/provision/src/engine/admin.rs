//! Admin writes: apps and the number pool. They go through the engine like every other write.

use pn_bindings::{
    App, AppMedia, AppPush, Binding, DEFAULT_EXTENSION_PROMPT, DEFAULT_INVALID_EXTENSION_PROMPT, Mode,
    NumberStatus, PushAuth, XNumber,
};
use pn_numbers::E164;
use pn_store::{BindingFilter, OutboxKind};
use rand::Rng;
use rand::distr::Alphanumeric;

use super::{Ctx, Effect, Fail, OpResult};
use crate::ProvisionError;

/// Create an app.
#[derive(Debug)]
pub struct CreateApp {
    /// Human name.
    pub name: String,
    /// Mode.
    pub mode: Mode,
    /// appKey (generated when absent).
    pub app_key: Option<String>,
    /// appSecret (generated when absent).
    pub app_secret: Option<String>,
    /// callStatusUrl.
    pub call_status_url: Option<String>,
    /// cdrUrl.
    pub cdr_url: Option<String>,
    /// smsUrl.
    pub sms_url: Option<String>,
    /// recordEnabled.
    pub record_enabled: bool,
    /// smsEnabled.
    pub sms_enabled: bool,
    /// extensionDigits (AXE).
    pub extension_digits: u8,
    /// collectRepeat.
    pub collect_repeat: u8,
    /// Media settings given (the rest default).
    pub media: AppMediaPatch,
    /// Push options given (the rest default).
    pub push: AppPushPatch,
    /// allowNationalNumbers: the API accepts national numbers for this app (default false: global only).
    pub allow_national_numbers: bool,
}

/// One field of a patch: leave it, clear it (for the AXE prompts: back to the shipped default), or set it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub enum Change<T> {
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
pub struct AppMediaPatch {
    /// noBindingPrompt.
    pub no_binding_prompt: Change<String>,
    /// noPermissionPrompt.
    pub no_permission_prompt: Change<String>,
    /// serviceErrorPrompt.
    pub service_error_prompt: Change<String>,
    /// extensionPrompt (cleared: the shipped default).
    pub extension_prompt: Change<String>,
    /// invalidExtensionPrompt (cleared: the shipped default).
    pub invalid_extension_prompt: Change<String>,
    /// firstDigitTimeoutMs.
    pub first_digit_timeout_ms: Option<u32>,
    /// interDigitTimeoutMs.
    pub inter_digit_timeout_ms: Option<u32>,
    /// digitTerminator (cleared: no terminator).
    pub digit_terminator: Change<char>,
    /// inbandDtmf.
    pub inband_dtmf: Option<bool>,
    /// answerBeforeCollect.
    pub answer_before_collect: Option<bool>,
}

impl AppMediaPatch {
    /// Applies the given changes to `media`.
    pub fn apply(&self, media: &mut AppMedia) {
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

/// Changes to an app's push options (on create: changes from the default).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct AppPushPatch {
    /// numStatusEnabled.
    pub num_status: Option<bool>,
    /// numStatusUrl (cleared: the call-status URL).
    pub status_url: Change<String>,
    /// smsControlUrl.
    pub sms_control_url: Change<String>,
    /// smsContentEnabled.
    pub sms_content: Option<bool>,
    /// pushAuth.
    pub auth: Option<PushAuth>,
}

impl AppPushPatch {
    /// Applies the given changes to `push`.
    pub fn apply(&self, push: &mut AppPush) {
        if let Some(v) = self.num_status {
            push.num_status = v;
        }
        self.status_url.apply(&mut push.status_url);
        self.sms_control_url.apply(&mut push.sms_control_url);
        if let Some(v) = self.sms_content {
            push.sms_content = v;
        }
        if let Some(v) = self.auth {
            push.auth = v;
        }
    }
}

/// Change an app: `None` = unchanged; an empty URL clears it.
#[derive(Debug, Default)]
pub struct UpdateApp {
    /// Which app.
    pub app_key: String,
    /// name.
    pub name: Option<String>,
    /// appSecret (rotation).
    pub app_secret: Option<String>,
    /// callStatusUrl.
    pub call_status_url: Option<String>,
    /// cdrUrl.
    pub cdr_url: Option<String>,
    /// smsUrl.
    pub sms_url: Option<String>,
    /// recordEnabled.
    pub record_enabled: Option<bool>,
    /// smsEnabled.
    pub sms_enabled: Option<bool>,
    /// collectRepeat.
    pub collect_repeat: Option<u8>,
    /// enabled.
    pub enabled: Option<bool>,
    /// mode, if given (must equal the app's).
    pub mode: Option<Mode>,
    /// extensionDigits, if given (must equal the app's).
    pub extension_digits: Option<u8>,
    /// Media settings.
    pub media: AppMediaPatch,
    /// Push options.
    pub push: AppPushPatch,
    /// Call controls, replaced whole when given (checked with [`pn_bindings::AppControls::validate`]).
    pub controls: Option<pn_bindings::AppControls>,
    /// allowNationalNumbers.
    pub allow_national_numbers: Option<bool>,
}

/// One number to import into an app's pool.
#[derive(Debug)]
pub struct NumberImport {
    /// The number.
    pub number: E164,
    /// Its area code, with the leading 0.
    pub area_code: String,
    /// Its province, if known.
    pub province: Option<String>,
}

/// Import numbers into an app's pool.
#[derive(Debug)]
pub struct ImportNumbers {
    /// The owning app.
    pub app_key: String,
    /// The numbers.
    pub entries: Vec<NumberImport>,
}

/// Change a number.
#[derive(Debug)]
pub struct SetNumber {
    /// The number.
    pub number: E164,
    /// New status.
    pub status: Option<NumberStatus>,
    /// Why the number is unavailable (reference §7.2: 1, 2, 3, 5, 6, 7, 8, 9), with status unavailable only;
    /// carried by the `numStatus` push, not stored.
    pub cause: Option<u8>,
    /// New area code.
    pub area_code: Option<String>,
    /// New province.
    pub province: Option<String>,
}

/// Retire a number.
#[derive(Debug)]
pub struct RetireNumber {
    /// The number.
    pub number: E164,
    /// Also unbind the live bindings that use it.
    pub force: bool,
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
    ProvisionError::NotFound(format!("The record does not exist: app {key}")).into()
}

fn no_number(n: E164) -> Fail {
    ProvisionError::NotFound(format!("The record does not exist: number {n}")).into()
}

/// Creates an app.
pub(crate) fn create_app(ctx: &mut Ctx<'_, '_>, req: &CreateApp) -> OpResult<App> {
    let app_key = req.app_key.clone().unwrap_or_else(random_token);
    if ctx.tx.app_by_key(&app_key)?.is_some() {
        return Err(ProvisionError::RecordExists(format!("The record already exists: app {app_key}")).into());
    }
    let app = App {
        id: ctx.new_app_id()?,
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
        push: {
            let mut push = AppPush::default();
            req.push.apply(&mut push);
            push
        },
        controls: pn_bindings::AppControls::default(),
        allow_national_numbers: req.allow_national_numbers,
    };
    ctx.tx.put_app(&app)?;
    ctx.effects.push(Effect::App(Box::new(app.clone())));
    Ok(app)
}

/// Changes an app (mode and extension digits are immutable).
pub(crate) fn update_app(ctx: &mut Ctx<'_, '_>, req: &UpdateApp) -> OpResult<App> {
    let mut app = ctx
        .tx
        .app_by_key(&req.app_key)?
        .ok_or_else(|| no_app(&req.app_key))?;
    if req.mode.is_some_and(|m| m != app.mode) {
        return Err(ProvisionError::invalid("mode", "cannot be changed").into());
    }
    if req.extension_digits.is_some_and(|d| d != app.extension_digits) {
        return Err(ProvisionError::invalid("extensionDigits", "cannot be changed").into());
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
    if let Some(v) = req.allow_national_numbers {
        app.allow_national_numbers = v;
    }
    req.media.apply(&mut app.media);
    req.push.apply(&mut app.push);
    if let Some(controls) = &req.controls {
        controls
            .validate()
            .map_err(|e| ProvisionError::invalid("controls", &e.to_string()))?;
        app.controls = controls.clone();
    }
    ctx.tx.put_app(&app)?;
    ctx.effects.push(Effect::App(Box::new(app.clone())));
    Ok(app)
}

/// Imports numbers; each number gets its own result (one owned by another app is refused alone).
pub(crate) fn import_numbers(ctx: &mut Ctx<'_, '_>, req: &ImportNumbers) -> OpResult<ImportReport> {
    let app = ctx
        .tx
        .app_by_key(&req.app_key)?
        .ok_or_else(|| no_app(&req.app_key))?;
    let mut results = Vec::with_capacity(req.entries.len());
    let mut imported = 0u32;
    for e in &req.entries {
        let n = e.number;
        results.push(match ctx.tx.number(n)? {
            Some(existing) if existing.app != app.id => Err(ProvisionError::AlreadyBound(format!(
                "The number {n} belongs to another app"
            ))),
            existing => {
                let x = XNumber {
                    number: n,
                    app: app.id,
                    area_code: e.area_code.clone(),
                    province: e.province.clone(),
                    status: existing.map_or(NumberStatus::Normal, |x| x.status),
                };
                ctx.tx.put_number(&x)?;
                ctx.effects.push(Effect::Number(x));
                imported += 1;
                Ok(n)
            }
        });
    }
    Ok(ImportReport { imported, results })
}

/// The §7.2 causes of status 10 (unavailable).
pub const UNAVAILABLE_CAUSES: [u8; 8] = [1, 2, 3, 5, 6, 7, 8, 9];

/// §7.2 cause 1: the number was deleted (retired).
const CAUSE_DELETED: u8 = 1;

/// The `numStatus` push body of one number (reference §7.2); `cause` only with status 10.
#[must_use]
pub fn num_status_body(number: E164, status: NumberStatus, cause: Option<u8>) -> String {
    // Digits and `+` only: nothing to escape.
    let cause = match (status, cause) {
        (NumberStatus::Unavailable, Some(c)) => format!(",\"cause\":\"{c}\""),
        _ => String::new(),
    };
    format!(
        "{{\"eventType\":\"numStatus\",\"numInfo\":[{{\"number\":\"{number}\",\"status\":\"{}\"{cause}}}]}}",
        status.code()
    )
}

/// Appends a `numStatus` outbox row for the number's app, in the command's transaction, if the app enabled
/// status pushes.
fn push_num_status(ctx: &mut Ctx<'_, '_>, n: &XNumber, cause: Option<u8>) -> OpResult<()> {
    let wants = ctx.tx.app(n.app)?.is_some_and(|a| a.push.num_status);
    if wants {
        let row = super::outbox::OutboxRow::pending(
            OutboxKind::NumberStatus,
            n.app,
            num_status_body(n.number, n.status, cause),
        );
        super::outbox::append(ctx, &[row])?;
    }
    Ok(())
}

/// Changes a number's status / area / province; a status change is pushed to the owning app (§7.2).
pub(crate) fn set_number(ctx: &mut Ctx<'_, '_>, req: &SetNumber) -> OpResult<XNumber> {
    let mut n = ctx.tx.number(req.number)?.ok_or_else(|| no_number(req.number))?;
    if req.cause.is_some() && req.status != Some(NumberStatus::Unavailable) {
        return Err(ProvisionError::invalid("cause", "is allowed with status unavailable only").into());
    }
    if req.cause.is_some_and(|c| !UNAVAILABLE_CAUSES.contains(&c)) {
        return Err(ProvisionError::invalid("cause", "must be 1, 2, 3, 5, 6, 7, 8 or 9").into());
    }
    let before = n.status;
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
    if n.status != before {
        push_num_status(ctx, &n, req.cause)?;
    }
    ctx.effects.push(Effect::Number(n.clone()));
    Ok(n)
}

/// Retires a number; refused while live bindings use it unless `force` (which unbinds them).
pub(crate) fn retire_number(ctx: &mut Ctx<'_, '_>, req: &RetireNumber) -> OpResult<Retired> {
    let n = req.number;
    let mut number = ctx.tx.number(n)?.ok_or_else(|| no_number(n))?;
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
        return Err(ProvisionError::AlreadyBound(format!(
            "The number {n} has been bound ({live} live bindings); retire with force=true to unbind them"
        ))
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
    number.status = NumberStatus::Unavailable;
    push_num_status(ctx, &number, Some(CAUSE_DELETED))?;
    ctx.effects.push(Effect::RemoveNumber(n));
    Ok(Retired { number: n, unbound })
}

/// What an import did: how many numbers it stored, and each number's outcome in request order.
#[derive(Debug)]
pub struct ImportReport {
    /// Numbers stored (new or updated).
    pub imported: u32,
    /// Per number: stored, or why not (1012010 when another app owns it).
    pub results: Vec<Result<E164, ProvisionError>>,
}

/// A retired number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Retired {
    /// The number, gone from the pool.
    pub number: E164,
    /// Bindings (and relations) removed with it.
    pub unbound: u32,
}
