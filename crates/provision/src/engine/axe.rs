//! AXE writes: bind (with extension assignment), modify, unbind (reference §2.3).

use std::collections::HashSet;

use super::axb::{apply_record, set_or_clear};
use super::{Ctx, Fail, OpResult, XSelect, not_found};
use crate::ProvisionError;
use pn_bindings::{
    App, AxeBinding, AxeFallback, Binding, BindingKind, Mode, RecordSettings, TimeUnit, UnixTime,
};
use pn_numbers::E164;
use pn_store::BindingFilter;

/// AXE bind request, field-validated.
#[derive(Debug)]
pub struct AxeBind {
    /// The authenticated app.
    pub app: App,
    /// virtualNum or areaCode.
    pub x: XSelect,
    /// bindNum.
    pub a: E164,
    /// extendNum (already checked to have the app's digit count); None = assign the lowest free one.
    pub extension: Option<String>,
    /// recordFlag / recordHintTone.
    pub record: RecordSettings,
    /// callbackTone / callbackNum.
    pub fallback: AxeFallback,
    /// timeUnit.
    pub time_unit: TimeUnit,
    /// bindExpiredTime (0/None = permanent).
    pub expired_time: Option<u32>,
    /// callbackExpiredTime.
    pub callback_expired_time: Option<u32>,
    /// userData.
    pub user_data: Option<String>,
}

/// Which AXE binding a request names: subscriptionId wins over virtualNum+extendNum.
#[derive(Debug, Clone)]
pub enum AxeTarget {
    /// subscriptionId.
    Subscription(String),
    /// virtualNum + extendNum.
    Extension(E164, String),
}

/// A new AXE binding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AxeBound {
    /// Its `subscriptionId`.
    pub subscription_id: String,
    /// The privacy number X (named or allocated).
    pub x: E164,
    /// The extension assigned on X.
    pub extension: String,
    /// Party A (`bindNum`).
    pub a: E164,
}

/// AXE modify request: `None` = unchanged.
#[derive(Debug)]
pub struct AxeModify {
    /// The authenticated app.
    pub app: App,
    /// The binding.
    pub target: AxeTarget,
    /// bindNum.
    pub a: Option<E164>,
    /// recordFlag.
    pub record: Option<bool>,
    /// recordHintTone.
    pub record_hint_tone: Option<String>,
    /// callbackTone / callbackNum.
    pub fallback: Option<AxeFallback>,
    /// timeUnit of this request's times.
    pub time_unit: Option<TimeUnit>,
    /// bindExpiredTime (restarts the lifetime now; 0 = permanent).
    pub bind_expired_time: Option<u32>,
    /// callbackExpiredTime.
    pub callback_expired_time: Option<u32>,
    /// userData.
    pub user_data: Option<String>,
}

/// AXE unbind request.
#[derive(Debug)]
pub struct AxeUnbind {
    /// The authenticated app.
    pub app: App,
    /// The binding.
    pub target: AxeTarget,
}

fn ext_filter(x: E164, ext: &str) -> BindingFilter {
    BindingFilter {
        x: Some(x),
        extension: Some(ext.to_owned()),
        mode: Some(Mode::Axe),
        ..BindingFilter::default()
    }
}

/// The lowest free extension on `x` (1 … 10^digits − 1, zero-padded), if any.
fn lowest_free(ctx: &mut Ctx<'_, '_>, x: E164, digits: u8) -> Result<Option<String>, Fail> {
    let used: HashSet<String> = ctx
        .live_all(BindingFilter {
            x: Some(x),
            mode: Some(Mode::Axe),
            ..BindingFilter::default()
        })?
        .into_iter()
        .filter_map(|b| match b.kind {
            BindingKind::Axe(e) => Some(e.extension),
            _ => None,
        })
        .collect();
    let width = usize::from(digits);
    let max = 10u32.pow(u32::from(digits));
    for n in 1..max {
        let ext = format!("{n:0width$}");
        if !used.contains(&ext) {
            // An expired binding may still hold it until the sweep: clear it now.
            ctx.purge_expired(&ext_filter(x, &ext))?;
            return Ok(Some(ext));
        }
    }
    Ok(None)
}

/// Whether `ext` is free on `x` (expired holders are removed).
fn ext_free(ctx: &mut Ctx<'_, '_>, x: E164, ext: &str) -> Result<bool, Fail> {
    Ok(ctx.purge_expired(&ext_filter(x, ext))?.is_empty())
}

/// `now + t × unit`, or None for 0/None (permanent).
fn expiry(now: UnixTime, t: Option<u32>, unit: TimeUnit) -> Option<UnixTime> {
    t.filter(|t| *t > 0)
        .map(|t| now.plus_secs(i64::from(t).saturating_mul(unit.seconds())))
}

/// Binds A to X with an extension.
pub(crate) fn bind(ctx: &mut Ctx<'_, '_>, req: &AxeBind) -> OpResult<AxeBound> {
    let app = &req.app;
    let digits = app.extension_digits.clamp(1, 4);
    let (x, ext) = match &req.x {
        XSelect::Number(x) => {
            ctx.bindable_number(app, *x, "virtualNum")?;
            let ext = match &req.extension {
                Some(ext) => {
                    if !ext_free(ctx, *x, ext)? {
                        return Err(ProvisionError::AlreadyBound(format!(
                            "The number {x} extension {ext} has been bound"
                        ))
                        .into());
                    }
                    ext.clone()
                }
                None => lowest_free(ctx, *x, digits)?.ok_or_else(|| {
                    Fail::Refused(ProvisionError::NoIdleExtension(format!(
                        "No idle extend number on {x}"
                    )))
                })?,
            };
            (*x, ext)
        }
        XSelect::Area { code, widen } => {
            let mut chosen = None;
            let wanted = req.extension.clone();
            let n = ctx.allocate(app, code, *widen, |ctx, n| {
                chosen = match &wanted {
                    Some(ext) => ext_free(ctx, n.number, ext)?.then(|| ext.clone()),
                    None => lowest_free(ctx, n.number, digits)?,
                };
                Ok(chosen.is_some())
            })?;
            (n.number, chosen.unwrap_or_default())
        }
    };
    let binding = Binding {
        expires_at: expiry(ctx.now, req.expired_time, req.time_unit),
        record: req.record.clone(),
        user_data: req.user_data.clone(),
        ..ctx.new_binding(
            app,
            BindingKind::Axe(AxeBinding {
                x,
                extension: ext.clone(),
                a: req.a,
                fallback: req.fallback.clone(),
                time_unit: req.time_unit,
                bind_expired_time: req.expired_time,
                callback_expired_time: req.callback_expired_time,
            }),
        )
    };
    let out = AxeBound {
        subscription_id: binding.subscription_id.clone(),
        x,
        extension: ext,
        a: req.a,
    };
    ctx.insert(binding)?;
    Ok(out)
}

fn find(ctx: &mut Ctx<'_, '_>, app: &App, target: &AxeTarget) -> Result<Binding, Fail> {
    match target {
        AxeTarget::Subscription(sub) => ctx.by_subscription(app, sub)?.ok_or_else(not_found),
        AxeTarget::Extension(x, ext) => {
            ctx.owned_number(app, *x, "virtualNum")?;
            ctx.live_one(BindingFilter {
                x: Some(*x),
                extension: Some(ext.clone()),
                ..Ctx::app_filter(app)
            })?
            .ok_or_else(not_found)
        }
    }
}

/// Converts a time given in `from` units to the binding's `to` units (minutes → hours rounds up).
fn convert(t: u32, from: TimeUnit, to: TimeUnit) -> u32 {
    match (from, to) {
        (TimeUnit::Minutes, TimeUnit::Hours) => t.div_ceil(60),
        (TimeUnit::Hours, TimeUnit::Minutes) => t.saturating_mul(60),
        _ => t,
    }
}

/// Modifies an AXE binding. The stored `timeUnit`/`bindExpiredTime` stay the bind-time values (the query
/// shows those); the effective expiry restarts now.
pub(crate) fn modify(ctx: &mut Ctx<'_, '_>, req: &AxeModify) -> OpResult<String> {
    let app = &req.app;
    let old = find(ctx, app, &req.target)?;
    let BindingKind::Axe(axe) = &old.kind else {
        return Err(not_found());
    };
    let mut new_axe = axe.clone();
    let mut new = old.clone();
    let unit = req.time_unit.unwrap_or(axe.time_unit);
    if let Some(a) = req.a {
        new_axe.a = a;
    }
    if let Some(f) = &req.fallback {
        new_axe.fallback = f.clone();
    }
    if let Some(t) = req.bind_expired_time {
        new.expires_at = expiry(ctx.now, Some(t), unit);
    }
    if let Some(t) = req.callback_expired_time {
        new_axe.callback_expired_time = Some(convert(t, unit, axe.time_unit)).filter(|t| *t > 0);
    }
    apply_record(&mut new.record, app, req.record, req.record_hint_tone.as_ref())?;
    set_or_clear(&mut new.user_data, req.user_data.as_ref());
    new.kind = BindingKind::Axe(new_axe);
    ctx.save_modified(old, new)
}

/// Unbinds an AXE binding.
pub(crate) fn unbind(ctx: &mut Ctx<'_, '_>, req: &AxeUnbind) -> OpResult<()> {
    let b = find(ctx, &req.app, &req.target)?;
    ctx.remove(&b)?;
    Ok(())
}
