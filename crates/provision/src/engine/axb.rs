//! AXB writes: bind, modify, unbind (reference §2.1).

use super::{Ctx, Fail, OpResult, XSelect, not_found};
use crate::ProvisionError;
use pn_bindings::{App, AxbBinding, Binding, BindingKind, CallControls, CallDirection, RecordSettings};
use pn_numbers::E164;
use pn_store::BindingFilter;

/// AXB bind request, field-validated.
#[derive(Debug)]
pub struct AxbBind {
    /// The authenticated app.
    pub app: App,
    /// relationNum or areaCode.
    pub x: XSelect,
    /// callerNum.
    pub a: E164,
    /// calleeNum.
    pub b: E164,
    /// callDirection.
    pub direction: CallDirection,
    /// duration (0/None = permanent).
    pub duration: Option<u32>,
    /// recordFlag / recordHintTone.
    pub record: RecordSettings,
    /// maxDuration, lastMinVoice, privateSms, preVoice.
    pub controls: CallControls,
    /// userData.
    pub user_data: Option<String>,
}

/// A new AXB binding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AxbBound {
    /// Its `subscriptionId`.
    pub subscription_id: String,
    /// The privacy number X (named or allocated).
    pub x: E164,
    /// Party A.
    pub a: E164,
    /// Party B.
    pub b: E164,
}

/// AXB modify request: `None` = unchanged.
#[derive(Debug)]
pub struct AxbModify {
    /// The authenticated app.
    pub app: App,
    /// subscriptionId.
    pub subscription_id: String,
    /// callerNum.
    pub a: Option<E164>,
    /// calleeNum.
    pub b: Option<E164>,
    /// callDirection.
    pub direction: Option<CallDirection>,
    /// duration (restarts the lifetime now).
    pub duration: Option<u32>,
    /// Recording, call controls, userData.
    pub patch: ControlsPatch,
}

/// The modify-time changes AX and AXB share (`None` = unchanged, an empty string clears).
#[derive(Debug, Default)]
pub struct ControlsPatch {
    /// recordFlag.
    pub record: Option<bool>,
    /// recordHintTone.
    pub record_hint_tone: Option<String>,
    /// maxDuration.
    pub max_duration: Option<u16>,
    /// lastMinVoice.
    pub last_min_voice: Option<String>,
    /// privateSms.
    pub private_sms: Option<bool>,
    /// preVoice.callerHintTone.
    pub caller_hint_tone: Option<String>,
    /// preVoice.calleeHintTone.
    pub callee_hint_tone: Option<String>,
    /// userData.
    pub user_data: Option<String>,
}

impl ControlsPatch {
    /// Patches the mode's `controls` and the binding's recording and `userData`, checking the result against
    /// the app.
    pub(crate) fn apply(
        &self,
        app: &App,
        binding: &mut Binding,
        controls: &mut CallControls,
    ) -> Result<(), Fail> {
        if let Some(m) = self.max_duration {
            controls.max_duration_min = m;
        }
        set_or_clear(&mut controls.last_min_voice, self.last_min_voice.as_ref());
        if let Some(s) = self.private_sms {
            controls.private_sms = s;
        }
        set_or_clear(
            &mut controls.pre_voice.caller_hint_tone,
            self.caller_hint_tone.as_ref(),
        );
        set_or_clear(
            &mut controls.pre_voice.callee_hint_tone,
            self.callee_hint_tone.as_ref(),
        );
        if controls.last_min_voice.is_some() && controls.max_duration_min == 0 {
            return Err(ProvisionError::invalid("lastMinVoice", "needs maxDuration other than 0").into());
        }
        apply_record(
            &mut binding.record,
            app,
            self.record,
            self.record_hint_tone.as_ref(),
        )?;
        set_or_clear(&mut binding.user_data, self.user_data.as_ref());
        Ok(())
    }
}

/// Sets an optional text to `value` (an empty string clears it); `None` leaves it unchanged.
pub(crate) fn set_or_clear(slot: &mut Option<String>, value: Option<&String>) {
    if let Some(v) = value {
        *slot = Some(v.clone()).filter(|s| !s.is_empty());
    }
}

/// AXB unbind request.
#[derive(Debug)]
pub struct AxbUnbind {
    /// The authenticated app.
    pub app: App,
    /// subscriptionId (wins) or relationNum.
    pub by: AxbUnbindBy,
}

/// What an unbind names.
#[derive(Debug)]
pub enum AxbUnbindBy {
    /// One binding.
    Subscription(String),
    /// Every binding of the app on this X.
    Number(E164),
}

fn party_filter(x: E164, n: E164) -> BindingFilter {
    BindingFilter {
        x: Some(x),
        party: Some(n),
        mode: Some(pn_bindings::Mode::Axb),
        ..BindingFilter::default()
    }
}

fn pairs_filter(x: E164) -> BindingFilter {
    BindingFilter {
        x: Some(x),
        mode: Some(pn_bindings::Mode::Axb),
        ..BindingFilter::default()
    }
}

/// Whether X carries `cap` live pairs or more: an upper bound first (the table's, or a shared store's count
/// kept under the X lock this command holds), a count only when the bound reaches the cap.
fn pairs_at_cap(ctx: &mut Ctx<'_, '_>, x: E164, cap: u64) -> Result<bool, Fail> {
    if ctx.overlay.max_pairs(ctx.table, x) < cap {
        return Ok(false);
    }
    if ctx.tx.axb_pairs_upper_bound(x)?.is_some_and(|bound| bound < cap) {
        return Ok(false);
    }
    Ok(ctx.count(pairs_filter(x))? >= cap)
}

fn already_bound(n: E164, x: E164) -> Fail {
    ProvisionError::AlreadyBound(format!("The number {n} has been bound on {x}")).into()
}

/// Checks that none of `parties` (one or two numbers) is yet a party of a live AXB binding on `x` (other
/// than `except`): one scan for all of them, which also purges the expired ones it meets. The first party
/// found bound (in the order given) is the one the refusal names.
fn check_parties_free(
    ctx: &mut Ctx<'_, '_>,
    x: E164,
    parties: &[E164],
    except: Option<pn_bindings::BindingId>,
) -> Result<(), Fail> {
    let maybe: Vec<E164> = parties
        .iter()
        .copied()
        .filter(|&n| ctx.overlay.maybe_party(ctx.table, x, n))
        .collect();
    let Some(&first) = maybe.first() else {
        return Ok(());
    };
    let filter = BindingFilter {
        other_party: maybe.get(1).copied(),
        ..party_filter(x, first)
    };
    let live = ctx.purge_expired(&filter)?;
    let has_party = |b: &Binding, n: E164| {
        Some(b.id) != except && matches!(&b.kind, BindingKind::Axb(k) if k.a == n || k.b == n)
    };
    match maybe.into_iter().find(|&n| live.iter().any(|b| has_party(b, n))) {
        Some(n) => Err(already_bound(n, x)),
        None => Ok(()),
    }
}

/// Binds A–X–B.
pub(crate) fn bind(ctx: &mut Ctx<'_, '_>, req: &AxbBind) -> OpResult<AxbBound> {
    let app = &req.app;
    let cap = u64::from(ctx.config.max_pairs_per_x);
    let x = match &req.x {
        XSelect::Number(x) => {
            ctx.bindable_number(app, *x, "relationNum")?;
            check_parties_free(ctx, *x, &[req.a, req.b], None)?;
            if pairs_at_cap(ctx, *x, cap)? {
                let pairs = ctx.count(pairs_filter(*x))?;
                return Err(ProvisionError::InsufficientResources(format!(
                    "Insufficient number of resources: {x} already carries {pairs} pairs"
                ))
                .into());
            }
            *x
        }
        XSelect::Area { code, widen } => {
            let (a, b) = (req.a, req.b);
            ctx.allocate(app, code, *widen, |ctx, n| {
                let x = n.number;
                for party in [a, b] {
                    if !ctx.overlay.maybe_party(ctx.table, x, party) {
                        continue;
                    }
                    if !ctx.purge_expired(&party_filter(x, party))?.is_empty() {
                        return Ok(false);
                    }
                }
                Ok(!pairs_at_cap(ctx, x, cap)?)
            })?
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
            BindingKind::Axb(AxbBinding {
                x,
                a: req.a,
                b: req.b,
                direction: req.direction,
                controls: req.controls.clone(),
            }),
        )
    };
    let out = AxbBound {
        subscription_id: binding.subscription_id.clone(),
        x,
        a: req.a,
        b: req.b,
    };
    ctx.insert(binding)?;
    Ok(out)
}

/// Modifies an AXB binding.
pub(crate) fn modify(ctx: &mut Ctx<'_, '_>, req: &AxbModify) -> OpResult<String> {
    let app = &req.app;
    let Some(old) = ctx.by_subscription(app, &req.subscription_id)? else {
        return Err(not_found());
    };
    let BindingKind::Axb(axb) = &old.kind else {
        return Err(not_found());
    };
    let mut new_axb = axb.clone();
    let mut new = old.clone();
    if let Some(a) = req.a {
        new_axb.a = a;
    }
    if let Some(b) = req.b {
        new_axb.b = b;
    }
    if new_axb.a == new_axb.b {
        return Err(ProvisionError::invalid("calleeNum", "must differ from callerNum").into());
    }
    if new_axb.a != axb.a || new_axb.b != axb.b {
        // A new party is checked against X's other bindings: X's row is held like a bind holds it.
        ctx.tx.lock_number(axb.x)?;
    }
    let new_parties: Vec<E164> = [
        (new_axb.a != axb.a && new_axb.a != axb.b).then_some(new_axb.a),
        (new_axb.b != axb.b && new_axb.b != axb.a).then_some(new_axb.b),
    ]
    .into_iter()
    .flatten()
    .collect();
    check_parties_free(ctx, axb.x, &new_parties, Some(old.id))?;
    if let Some(d) = req.direction {
        new_axb.direction = d;
    }
    req.patch.apply(app, &mut new, &mut new_axb.controls)?;
    if let Some(d) = req.duration {
        new.duration_secs = Some(d);
        new.expires_at = ctx.expiry_after(Some(d));
    }
    new.kind = BindingKind::Axb(new_axb);
    ctx.save_modified(old, new)
}

/// Applies `recordFlag`/`recordHintTone` changes and checks the result against the app.
pub(crate) fn apply_record(
    record: &mut RecordSettings,
    app: &App,
    flag: Option<bool>,
    hint: Option<&String>,
) -> Result<(), Fail> {
    if let Some(f) = flag {
        record.record = f;
        if !f {
            record.hint_tone = None;
        }
    }
    set_or_clear(&mut record.hint_tone, hint);
    if record.record && !app.record_enabled {
        return Err(ProvisionError::invalid(
            "recordFlag",
            "is true but recording is not enabled for the app",
        )
        .into());
    }
    if record.hint_tone.is_some() && !record.record {
        return Err(ProvisionError::invalid("recordHintTone", "needs recordFlag true").into());
    }
    Ok(())
}

/// Unbinds one AXB binding or every binding of the app on an X.
pub(crate) fn unbind(ctx: &mut Ctx<'_, '_>, req: &AxbUnbind) -> OpResult<()> {
    let app = &req.app;
    let victims = match &req.by {
        AxbUnbindBy::Subscription(sub) => vec![ctx.by_subscription(app, sub)?.ok_or_else(not_found)?],
        AxbUnbindBy::Number(x) => ctx.bound_on(app, *x, "relationNum", |_| true)?,
    };
    for b in &victims {
        ctx.remove(b)?;
    }
    Ok(())
}
