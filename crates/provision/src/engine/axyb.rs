//! AXYB writes: the A–X binding, Y–B relations (with Y allocation), unbind (reference §2.4).

use super::ax::check_x_per_a;
use super::{Ctx, Fail, OpResult, XSelect, not_found};
use crate::ProvisionError;
use pn_bindings::{
    App, AxybBinding, Binding, BindingKind, CallDirection, Mode, RecordSettings, XNumber, YbRelation,
};
use pn_numbers::E164;
use pn_store::BindingFilter;

/// AXYB first step, field-validated.
#[derive(Debug)]
pub struct AxybBind {
    /// The authenticated app.
    pub app: App,
    /// relationNum or areaCode.
    pub x: XSelect,
    /// origNum.
    pub a: E164,
    /// callDirection.
    pub direction: CallDirection,
    /// duration (0/None = permanent).
    pub duration: Option<u32>,
    /// ybDuration (0/None = as long as the A–X part).
    pub yb_duration: Option<u32>,
    /// recordFlag / recordHintTone.
    pub record: RecordSettings,
    /// preVoiceX.
    pub pre_voice_x: Option<String>,
    /// preVoiceY.
    pub pre_voice_y: Option<String>,
    /// userData.
    pub user_data: Option<String>,
    /// calleeNum/numB: also create a first Y–B relation.
    pub b: Option<E164>,
}

/// A new AXYB binding (or the binding a relation was added to), with the relation made with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AxybBound {
    /// The A–X binding's `subscriptionId`.
    pub subscription_id: String,
    /// The privacy number X (`relationNumber`).
    pub x: E164,
    /// The Y–B relation made by this request, if it made one.
    pub relation: Option<YbBound>,
}

/// A new Y–B relation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct YbBound {
    /// The relation's own `subscriptionId` (`bindId`).
    pub bind_id: String,
    /// The number Y allocated for B.
    pub y: E164,
    /// Party B.
    pub b: E164,
}

/// AXYB second step: a Y–B relation under an existing binding.
#[derive(Debug)]
pub struct AxybRelation {
    /// The authenticated app.
    pub app: App,
    /// The A–X binding's subscriptionId.
    pub subscription_id: String,
    /// B.
    pub b: E164,
    /// `origNum` sent besides `calleeNum`: must be the binding's A or `b` (1010002 otherwise).
    pub orig: Option<E164>,
}

/// AXYB unbind request.
#[derive(Debug)]
pub struct AxybUnbind {
    /// The authenticated app.
    pub app: App,
    /// subscriptionId (of the A–X part or of one relation); wins over `x`.
    pub subscription_id: Option<String>,
    /// relationNum: every AXYB binding of the app on this X.
    pub x: Option<E164>,
    /// `bNum`: release only the Y–B relation of this B.
    pub b: Option<E164>,
    /// `yNum`: release only the Y–B relation on this Y.
    pub y: Option<E164>,
    /// `origNum`: the binding's A (no effect), or a B (as `b`).
    pub orig: Option<E164>,
}

fn axyb_on(x: E164) -> BindingFilter {
    BindingFilter {
        x: Some(x),
        mode: Some(Mode::Axyb),
        ..BindingFilter::default()
    }
}

/// Whether `n` serves as the X of an A–X binding or as some relation's Y (live).
fn x_in_use(ctx: &mut Ctx<'_, '_>, n: E164) -> Result<bool, Fail> {
    let as_x = ctx
        .purge_expired(&axyb_on(n))?
        .iter()
        .any(|b| matches!(b.kind, BindingKind::Axyb(_)));
    Ok(as_x
        || ctx.count(BindingFilter {
            y: Some(n),
            ..BindingFilter::default()
        })? > 0)
}

/// Binds A–X (and, with B, a first relation).
pub(crate) fn bind(ctx: &mut Ctx<'_, '_>, req: &AxybBind) -> OpResult<AxybBound> {
    let app = &req.app;
    let x = match &req.x {
        XSelect::Number(x) => {
            ctx.bindable_number(app, *x, "relationNum")?;
            if x_in_use(ctx, *x)? {
                return Err(ProvisionError::AlreadyAllocated.into());
            }
            check_x_per_a(ctx, app, req.a)?;
            *x
        }
        XSelect::Area { code, widen } => {
            check_x_per_a(ctx, app, req.a)?;
            ctx.allocate(app, code, *widen, |ctx, n| Ok(!x_in_use(ctx, n.number)?))?
                .number
        }
    };
    let binding = Binding {
        expires_at: ctx.expiry_after(req.duration),
        duration_secs: req.duration,
        record: req.record.clone(),
        user_data: req.user_data.clone(),
        ..ctx.new_binding(
            app,
            BindingKind::Axyb(AxybBinding {
                x,
                a: req.a,
                direction: req.direction,
                yb_duration_secs: req.yb_duration.filter(|d| *d > 0),
                pre_voice_x: req.pre_voice_x.clone(),
                pre_voice_y: req.pre_voice_y.clone(),
            }),
        )
    };
    let mut out = AxybBound {
        subscription_id: binding.subscription_id.clone(),
        x,
        relation: None,
    };
    let parent = binding.clone();
    ctx.insert(binding)?;
    if let Some(b) = req.b {
        out.relation = Some(add_relation(ctx, app, &parent, b)?);
    }
    Ok(out)
}

/// Adds a Y–B relation under an existing A–X binding.
pub(crate) fn relation(ctx: &mut Ctx<'_, '_>, req: &AxybRelation) -> OpResult<AxybBound> {
    let parent = ctx
        .by_subscription(&req.app, &req.subscription_id)?
        .ok_or_else(not_found)?;
    let BindingKind::Axyb(axyb) = &parent.kind else {
        return Err(not_found());
    };
    if req.orig.is_some_and(|o| o != axyb.a && o != req.b) {
        return Err(
            ProvisionError::invalid("origNum", "must be the binding's origNum or the calleeNum").into(),
        );
    }
    let mut out = AxybBound {
        subscription_id: parent.subscription_id.clone(),
        x: axyb.x,
        relation: None,
    };
    out.relation = Some(add_relation(ctx, &req.app, &parent, req.b)?);
    Ok(out)
}

fn add_relation(ctx: &mut Ctx<'_, '_>, app: &App, parent: &Binding, b: E164) -> OpResult<YbBound> {
    let BindingKind::Axyb(axyb) = &parent.kind else {
        return Err(not_found());
    };
    if b == axyb.a {
        return Err(ProvisionError::invalid("calleeNum", "must differ from origNum").into());
    }
    let existing = ctx.live_all(BindingFilter {
        parent: Some(parent.id),
        b: Some(b),
        ..BindingFilter::default()
    })?;
    if !existing.is_empty() {
        return Err(ProvisionError::AlreadyBound(format!(
            "The number {b} has been bound under this subscriptionId"
        ))
        .into());
    }
    let y = allocate_y(ctx, app, axyb.x, axyb.a)?;
    let expires_at = match (axyb.yb_duration_secs, parent.expires_at) {
        (Some(d), Some(p)) => Some(ctx.now.plus_secs(i64::from(d)).min(p)),
        (Some(d), None) => Some(ctx.now.plus_secs(i64::from(d))),
        (None, p) => p,
    };
    let rel = Binding {
        expires_at,
        duration_secs: axyb.yb_duration_secs,
        record: parent.record.clone(),
        user_data: parent.user_data.clone(),
        ..ctx.new_binding(
            app,
            BindingKind::Yb(YbRelation {
                parent: parent.id,
                x: axyb.x,
                a: axyb.a,
                y: y.number,
                b,
            }),
        )
    };
    let out = YbBound {
        bind_id: rel.subscription_id.clone(),
        y: y.number,
        b,
    };
    ctx.insert(rel)?;
    Ok(out)
}

/// A Y for A: a bindable number of the app other than X, not an A–X binding's X, with fewer than
/// `max_relations_per_y` relations, and not yet used for this A.
fn allocate_y(ctx: &mut Ctx<'_, '_>, app: &App, x: E164, a: E164) -> Result<XNumber, Fail> {
    let cap = u64::from(ctx.config.max_relations_per_y);
    let pool: Vec<XNumber> = ctx.tx.numbers(Some(app.id))?;
    for n in pool
        .into_iter()
        .filter(|n| n.number != x && n.status.accepts_binds())
    {
        let y = n.number;
        ctx.tx.lock_number(y)?;
        let as_x = ctx
            .live_all(axyb_on(y))?
            .iter()
            .any(|b| matches!(b.kind, BindingKind::Axyb(_)));
        if as_x {
            continue;
        }
        let relations = ctx.purge_expired(&BindingFilter {
            y: Some(y),
            a: Some(a),
            ..BindingFilter::default()
        })?;
        if !relations.is_empty() {
            continue;
        }
        if ctx.count(BindingFilter {
            y: Some(y),
            ..BindingFilter::default()
        })? < cap
        {
            return Ok(n);
        }
    }
    Err(
        ProvisionError::InsufficientResources("Insufficient number of resources: no idle Y number".into())
            .into(),
    )
}

/// Unbinds an A–X binding with its relations, one relation, or every AXYB binding on an X. With a B
/// (`bNum`, or an `origNum` other than the binding's A) and/or a Y, only the matching Y–B relations are
/// released: the A–X part stays bound and the Y returns to the pool. Nothing matches → 1012007.
pub(crate) fn unbind(ctx: &mut Ctx<'_, '_>, req: &AxybUnbind) -> OpResult<()> {
    let app = &req.app;
    let mut victims = Vec::new();
    if let Some(sub) = &req.subscription_id {
        let found = ctx.by_subscription(app, sub)?.ok_or_else(not_found)?;
        match &found.kind {
            BindingKind::Axyb(parent) => match relation_selector(req, parent.a)? {
                None => victims.push(found),
                Some((b, y)) => victims.extend(relations_of(ctx, &found, b, y)?),
            },
            BindingKind::Yb(r) => {
                let names_other = relation_selector(req, r.a)?
                    .is_some_and(|(b, y)| b.is_some_and(|b| b != r.b) || y.is_some_and(|y| y != r.y));
                if !names_other {
                    victims.push(found);
                }
            }
            _ => {}
        }
    } else if let Some(x) = req.x {
        let parents = ctx.bound_on(app, x, "relationNum", |b| matches!(b.kind, BindingKind::Axyb(_)))?;
        for parent in parents {
            let BindingKind::Axyb(k) = &parent.kind else {
                continue;
            };
            match relation_selector(req, k.a)? {
                None => victims.push(parent),
                Some((b, y)) => victims.extend(relations_of(ctx, &parent, b, y)?),
            }
        }
    }
    if victims.is_empty() {
        return Err(not_found());
    }
    for b in &victims {
        ctx.remove(b)?;
    }
    Ok(())
}

/// The B and/or Y of the Y–B relation an unbind names.
type RelationSelector = (Option<E164>, Option<E164>);

/// The (B, Y) an unbind names besides its binding, `None` when it names neither (the whole binding). An
/// `origNum` equal to the binding's A names nothing more; any other `origNum` is a B (and must agree with
/// `bNum` when both are given: otherwise nothing matches, 1012007).
fn relation_selector(req: &AxybUnbind, a: E164) -> Result<Option<RelationSelector>, Fail> {
    let mut b = req.b;
    if let Some(o) = req.orig.filter(|o| *o != a) {
        if b.is_some_and(|b| b != o) {
            return Err(not_found());
        }
        b = Some(o);
    }
    Ok((b.is_some() || req.y.is_some()).then_some((b, req.y)))
}

/// The live Y–B relations under `parent` with this B and/or Y.
fn relations_of(
    ctx: &mut Ctx<'_, '_>,
    parent: &Binding,
    b: Option<E164>,
    y: Option<E164>,
) -> Result<Vec<Binding>, Fail> {
    ctx.live_all(BindingFilter {
        parent: Some(parent.id),
        b,
        y,
        ..BindingFilter::default()
    })
}
