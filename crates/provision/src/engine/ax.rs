//! AX writes: bind, modify, unbind, temporary callee (reference §2.2).

use super::axb::ControlsPatch;
use super::ctx::not_bound;
use super::{Ctx, Effect, Fail, OpResult, XSelect, not_found};
use crate::ProvisionError;
use pn_bindings::{
    App, AxBinding, Binding, BindingKind, CallControls, CallDirection, Mode, RecordSettings, TempCallee,
};
use pn_numbers::E164;
use pn_store::BindingFilter;

/// AX bind request, field-validated.
#[derive(Debug)]
pub struct AxBind {
    /// The authenticated app.
    pub app: App,
    /// privateNum or areaCode.
    pub x: XSelect,
    /// origNum.
    pub a: E164,
    /// callDirection.
    pub direction: CallDirection,
    /// turnFlag.
    pub turn_on: bool,
    /// recordFlag / recordHintTone.
    pub record: RecordSettings,
    /// maxDuration, lastMinVoice, privateSms, preVoice.
    pub controls: CallControls,
    /// userData.
    pub user_data: Option<String>,
}

/// Which AX binding a request names: subscriptionId wins over privateNum.
#[derive(Debug, Clone)]
pub enum AxTarget {
    /// subscriptionId.
    Subscription(String),
    /// privateNum (optionally checked against origNum).
    Number(E164, Option<E164>),
}

/// A new AX binding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AxBound {
    /// Its `subscriptionId`.
    pub subscription_id: String,
    /// The privacy number X (named or allocated).
    pub x: E164,
    /// Party A (`origNum`).
    pub a: E164,
}

/// AX modify request: `None` = unchanged.
#[derive(Debug)]
pub struct AxModify {
    /// The authenticated app.
    pub app: App,
    /// The binding.
    pub target: AxTarget,
    /// origNum.
    pub a: Option<E164>,
    /// callDirection.
    pub direction: Option<CallDirection>,
    /// turnFlag.
    pub turn_on: Option<bool>,
    /// Recording, call controls, userData.
    pub patch: ControlsPatch,
}

/// AX unbind request.
#[derive(Debug)]
pub struct AxUnbind {
    /// The authenticated app.
    pub app: App,
    /// The binding.
    pub target: AxTarget,
}

/// AX temporary callee request.
#[derive(Debug)]
pub struct AxTempCallee {
    /// The authenticated app.
    pub app: App,
    /// The binding.
    pub target: AxTarget,
    /// calleeNum.
    pub callee: E164,
    /// duration in seconds (1–259200).
    pub duration: u32,
    /// userData.
    pub user_data: Option<String>,
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
    // Binds of one A on different X take different number locks: A's own lock orders them (shared store).
    ctx.tx.lock_party(a)?;
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
        return Err(ProvisionError::InsufficientResources(format!(
            "The number {a} has exceeded the upper limit of resources that can be applied for"
        ))
        .into());
    }
    Ok(())
}

/// The live AX binding a target names, if it is the app's.
fn find(ctx: &mut Ctx<'_, '_>, app: &App, target: &AxTarget) -> Result<Binding, Fail> {
    let found = match target {
        AxTarget::Subscription(sub) => ctx.by_subscription(app, sub)?,
        AxTarget::Number(x, a) => {
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
pub(crate) fn bind(ctx: &mut Ctx<'_, '_>, req: &AxBind) -> OpResult<AxBound> {
    let app = &req.app;
    let x = match &req.x {
        XSelect::Number(x) => {
            ctx.bindable_number(app, *x, "privateNum")?;
            if let Some(existing) = ctx.purge_expired(&ax_on(*x))?.into_iter().next() {
                let same_a = matches!(&existing.kind, BindingKind::Ax(ax) if ax.a == req.a);
                return Err(if same_a {
                    ProvisionError::RecordExists("The record already exists".into())
                } else {
                    ProvisionError::AlreadyAllocated
                }
                .into());
            }
            check_x_per_a(ctx, app, req.a)?;
            *x
        }
        XSelect::Area { code, widen } => {
            check_x_per_a(ctx, app, req.a)?;
            ctx.allocate(app, code, *widen, |ctx, n| {
                Ok(ctx.purge_expired(&ax_on(n.number))?.is_empty())
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
    let out = AxBound {
        subscription_id: binding.subscription_id.clone(),
        x,
        a: req.a,
    };
    ctx.insert(binding)?;
    Ok(out)
}

/// Modifies an AX binding.
pub(crate) fn modify(ctx: &mut Ctx<'_, '_>, req: &AxModify) -> OpResult<String> {
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
pub(crate) fn unbind(ctx: &mut Ctx<'_, '_>, req: &AxUnbind) -> OpResult<()> {
    let b = find(ctx, &req.app, &req.target)?;
    ctx.remove(&b)?;
    Ok(())
}

/// Sets (overwrites) the temporary callee of an AX binding.
pub(crate) fn temp_callee(ctx: &mut Ctx<'_, '_>, req: &AxTempCallee) -> OpResult<String> {
    let b = find(ctx, &req.app, &req.target)?;
    let BindingKind::Ax(ax) = &b.kind else {
        return Err(not_found());
    };
    if ax.a == req.callee {
        return Err(ProvisionError::invalid("calleeNum", "must differ from origNum").into());
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
    Ok(b.subscription_id)
}
