//! AX writes: bind, modify, unbind, temporary callee (reference §2.2).

use pn_bindings::{
    App, AxBinding, Binding, BindingKind, CallControls, CallDirection, Mode, RecordSettings, TempCallee,
};
use pn_numbers::E164;
use pn_store::BindingFilter;
use serde_json::json;

use super::axb::ControlsPatch;
use super::ctx::not_bound;
use super::{Ctx, Effect, Fail, OpResult, XSelect, not_found};
use crate::result::{ApiFailure, ResultCode};
use crate::validate::invalid;

/// AX bind request, field-validated.
#[derive(Debug)]
pub(crate) struct Bind {
    /// The authenticated app.
    pub(crate) app: App,
    /// privateNum or areaCode.
    pub(crate) x: XSelect,
    /// origNum.
    pub(crate) a: E164,
    /// callDirection.
    pub(crate) direction: CallDirection,
    /// turnFlag.
    pub(crate) turn_on: bool,
    /// recordFlag / recordHintTone.
    pub(crate) record: RecordSettings,
    /// maxDuration, lastMinVoice, privateSms, preVoice.
    pub(crate) controls: CallControls,
    /// userData.
    pub(crate) user_data: Option<String>,
}

/// Which AX binding a request names: subscriptionId wins over privateNum.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    /// subscriptionId.
    Subscription(String),
    /// privateNum (optionally checked against origNum).
    Number(E164, Option<E164>),
}

/// AX modify request: `None` = unchanged.
#[derive(Debug)]
pub(crate) struct Modify {
    /// The authenticated app.
    pub(crate) app: App,
    /// The binding.
    pub(crate) target: Target,
    /// origNum.
    pub(crate) a: Option<E164>,
    /// callDirection.
    pub(crate) direction: Option<CallDirection>,
    /// turnFlag.
    pub(crate) turn_on: Option<bool>,
    /// Recording, call controls, userData.
    pub(crate) patch: ControlsPatch,
}

/// AX unbind request.
#[derive(Debug)]
pub(crate) struct Unbind {
    /// The authenticated app.
    pub(crate) app: App,
    /// The binding.
    pub(crate) target: Target,
}

/// AX temporary callee request.
#[derive(Debug)]
pub(crate) struct TempCalleeSet {
    /// The authenticated app.
    pub(crate) app: App,
    /// The binding.
    pub(crate) target: Target,
    /// calleeNum.
    pub(crate) callee: E164,
    /// duration in seconds (1–259200).
    pub(crate) duration: u32,
    /// userData.
    pub(crate) user_data: Option<String>,
}

fn ax_on(x: E164) -> BindingFilter {
    BindingFilter {
        x: Some(x),
        mode: Some(Mode::Ax),
        ..BindingFilter::default()
    }
}

/// Checks the "one A at most `max_x_per_a` X" rule.
pub(crate) fn check_x_per_a(ctx: &mut Ctx<'_, '_>, app: &App, a: E164) -> Result<(), Fail> {
    // AXYB relations carry A too: count only the A–X parts.
    let held = ctx
        .live_all(BindingFilter {
            a: Some(a),
            ..Ctx::app_filter(app)
        })?
        .iter()
        .filter(|b| !matches!(b.kind, BindingKind::Yb(_)))
        .count();
    if held >= ctx.config.max_x_per_a as usize {
        return Err(ApiFailure::new(
            ResultCode::INSUFFICIENT_RESOURCES,
            format!("The number {a} has exceeded the upper limit of resources that can be applied for"),
        )
        .into());
    }
    Ok(())
}

/// The live AX binding a target names, if it is the app's.
fn find(ctx: &mut Ctx<'_, '_>, app: &App, target: &Target) -> Result<Binding, Fail> {
    let found = match target {
        Target::Subscription(sub) => ctx.by_subscription(app, sub)?,
        Target::Number(x, a) => {
            ctx.owned_number(app, *x, "privateNum")?;
            let b = ctx.live_one(BindingFilter {
                x: Some(*x),
                ..Ctx::app_filter(app)
            })?;
            match (b, a) {
                (None, None) => return Err(not_bound(*x)),
                (Some(b), Some(a)) if matches!(&b.kind, BindingKind::Ax(ax) if ax.a != *a) => None,
                (b, _) => b,
            }
        }
    };
    found.ok_or_else(not_found)
}

/// Binds A–X.
pub(crate) fn bind(ctx: &mut Ctx<'_, '_>, req: &Bind) -> OpResult {
    let app = &req.app;
    let x = match &req.x {
        XSelect::Number(x) => {
            ctx.bindable_number(app, *x, "privateNum")?;
            ctx.purge_expired(&ax_on(*x))?;
            if let Some(existing) = ctx.live_one(ax_on(*x))? {
                let same_a = matches!(&existing.kind, BindingKind::Ax(ax) if ax.a == req.a);
                return Err(if same_a {
                    ApiFailure::new(ResultCode::RECORD_EXISTS, "The record already exists")
                } else {
                    ApiFailure::new(ResultCode::ALREADY_ALLOCATED, "Resources have been allocated")
                }
                .into());
            }
            check_x_per_a(ctx, app, req.a)?;
            *x
        }
        XSelect::Area { code, widen } => {
            check_x_per_a(ctx, app, req.a)?;
            ctx.allocate(app, code, *widen, |ctx, n| {
                ctx.purge_expired(&ax_on(n.number))?;
                Ok(ctx.count(ax_on(n.number))? == 0)
            })?
            .number
        }
    };
    let binding = Binding {
        record: req.record.clone(),
        user_data: req.user_data.clone(),
        ..ctx.new_binding(
            app,
            BindingKind::Ax(AxBinding {
                x,
                a: req.a,
                direction: req.direction,
                turn_on: req.turn_on,
                controls: req.controls.clone(),
            }),
        )
    };
    let out = json!({
        "origNum": req.a.to_string(),
        "privateNum": x.to_string(),
        "subscriptionId": binding.subscription_id,
    });
    ctx.insert(binding)?;
    Ok(out)
}

/// Modifies an AX binding.
pub(crate) fn modify(ctx: &mut Ctx<'_, '_>, req: &Modify) -> OpResult {
    let app = &req.app;
    let old = find(ctx, app, &req.target)?;
    let BindingKind::Ax(ax) = &old.kind else {
        return Err(not_found());
    };
    let mut new_ax = ax.clone();
    let mut new = old.clone();
    if let Some(a) = req.a.filter(|a| *a != ax.a) {
        check_x_per_a(ctx, app, a)?;
        new_ax.a = a;
    }
    if let Some(d) = req.direction {
        new_ax.direction = d;
    }
    if let Some(t) = req.turn_on {
        new_ax.turn_on = t;
    }
    req.patch.apply(app, &mut new, &mut new_ax.controls)?;
    new.kind = BindingKind::Ax(new_ax);
    ctx.save_modified(old, new)
}

/// Unbinds an AX binding.
pub(crate) fn unbind(ctx: &mut Ctx<'_, '_>, req: &Unbind) -> OpResult {
    let b = find(ctx, &req.app, &req.target)?;
    ctx.remove(&b)?;
    Ok(json!({}))
}

/// Sets (overwrites) the temporary callee of an AX binding.
pub(crate) fn temp_callee(ctx: &mut Ctx<'_, '_>, req: &TempCalleeSet) -> OpResult {
    let b = find(ctx, &req.app, &req.target)?;
    let BindingKind::Ax(ax) = &b.kind else {
        return Err(not_found());
    };
    if ax.a == req.callee {
        return Err(invalid("calleeNum", "must differ from origNum").into());
    }
    let t = TempCallee {
        binding: b.id,
        x: ax.x,
        callee: req.callee,
        expires_at: ctx.now.plus_secs(i64::from(req.duration)),
        user_data: req.user_data.clone(),
    };
    ctx.tx.put_temp_callee(&t)?;
    ctx.effects.push(Effect::TempCallee(t));
    Ok(json!({ "subscriptionId": b.subscription_id }))
}
