//! The route decision: where a call to a privacy number goes (reference §1, causes §6.1).
//!
//! [`decide`] is pure: it reads the [`BindingTable`] (lock-free), the [`RoutePolicy`] and the time it is given,
//! and returns a [`RouteDecision`]. Expiry is lazy: a binding, relation, temporary callee or callback record whose
//! `expires_at <= now` does not route, whether or not it has been swept yet.
//!
//! Order of checks: called number in the pool (8025), its status and app (8055; 7100 if the app is unknown),
//! international caller (8042), then the app's mode; the chosen callee is checked last (8043). An anonymous or
//! invalid caller is refused (8014) except in AX (anyone may reach A), in AXE digit collection (anyone may
//! key E; such a call leaves no callback record) and in X mode (every caller is asked about: [`Ask`]). A fixed-line *bound party* calling through X (AXB A or B, AX
//! A, AXE A calling back, AXYB A or B) is refused with 8023 when [`RoutePolicy::reject_fixed_line_caller`].

// `caller`/`called` and `caller`/`callee` are the telephony terms; renaming them would only obscure.
#![allow(clippy::similar_names)]

use pn_numbers::{E164, NumberKind, classify};
use serde::Deserialize;

use crate::cause::Cause;
use crate::model::{AppId, AxeFallback, BindingId, CallDirection, CallbackRecord, Mode, UnixTime};
use crate::table::{BindingTable, expired};

pub mod controlled;
pub mod sms;
pub use controlled::{Controlled, Counting, decide_controlled};
pub use sms::{SendResult, SmsBlock, SmsDecision, SmsRefusal, SmsRelay, decide_sms};

/// Operator policy applied to every call (config section; all fields optional).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoutePolicy {
    /// Accept calls from international callers (otherwise 8042).
    pub allow_international_in: bool,
    /// Allow connecting to international callees (otherwise 8043).
    pub allow_international_out: bool,
    /// Refuse a fixed-line bound party as the caller through X (8023), as the carrier requires.
    pub reject_fixed_line_caller: bool,
}

impl Default for RoutePolicy {
    fn default() -> Self {
        Self {
            allow_international_in: false,
            allow_international_out: false,
            reject_fixed_line_caller: true,
        }
    }
}

impl RoutePolicy {
    fn to_bits(self) -> u8 {
        u8::from(self.allow_international_in)
            | u8::from(self.allow_international_out) << 1
            | u8::from(self.reject_fixed_line_caller) << 2
    }

    fn from_bits(bits: u8) -> Self {
        Self {
            allow_international_in: bits & 1 != 0,
            allow_international_out: bits & 2 != 0,
            reject_fixed_line_caller: bits & 4 != 0,
        }
    }
}

/// The operator's [`RoutePolicy`] as every shard and the API read it, replaceable while calls run (a SIGHUP
/// reload): clones share one value, read with one atomic load per decision.
#[derive(Clone, Debug)]
pub struct SharedRoutePolicy(std::sync::Arc<std::sync::atomic::AtomicU8>);

impl SharedRoutePolicy {
    /// A shared cell holding `policy`.
    #[must_use]
    pub fn new(policy: RoutePolicy) -> Self {
        Self(std::sync::Arc::new(std::sync::atomic::AtomicU8::new(
            policy.to_bits(),
        )))
    }

    /// The policy now.
    #[must_use]
    pub fn get(&self) -> RoutePolicy {
        RoutePolicy::from_bits(self.0.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// Replaces the policy for the decisions made from now on.
    pub fn set(&self, policy: RoutePolicy) {
        self.0
            .store(policy.to_bits(), std::sync::atomic::Ordering::Relaxed);
    }
}

impl Default for SharedRoutePolicy {
    fn default() -> Self {
        Self::new(RoutePolicy::default())
    }
}

/// The CDR `callDirection` of a connected call (reference §4): who called whom through X.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CdrDirection {
    /// 0: B (or any other user) called A.
    BToA,
    /// 1: A called B (or the temporary callee / callback target).
    AToB,
    /// 2: abnormal.
    Abnormal,
}

impl CdrDirection {
    /// The reference's integer code.
    pub const fn code(self) -> u8 {
        match self {
            CdrDirection::BToA => 0,
            CdrDirection::AToB => 1,
            CdrDirection::Abnormal => 2,
        }
    }
}

/// Connect the caller to `callee`, presenting `display`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connect {
    /// Who to call on the B leg.
    pub callee: E164,
    /// Caller ID presented to the callee (X, or Y in AXYB B→A).
    pub display: E164,
    /// Maximum talk time after answer in seconds (0 = none).
    pub max_duration_secs: u32,
    /// Whether to record the call.
    pub record: bool,
    /// The binding (or relation) that routed the call.
    pub binding: BindingId,
    /// The binding's app.
    pub app: AppId,
    /// The app's mode.
    pub mode: Mode,
    /// CDR direction.
    pub direction: CdrDirection,
    /// AXE: the callback record to store once this call connects.
    pub callback: Option<CallbackRecord>,
}

/// AXE: play the extension prompt and collect DTMF digits, then decide again with the extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CollectDigits {
    /// The X called.
    pub x: E164,
    /// Its app.
    pub app: AppId,
    /// Extension length to collect.
    pub digits: u8,
    /// How many times collection may be repeated.
    pub repeat: u8,
}

/// X mode: ask the customer (a Block `callin`) whether and where to connect the call (reference §1, §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ask {
    /// The X called (shown to the callee if the customer connects).
    pub x: E164,
    /// Its app, whose call-status URL is asked.
    pub app: AppId,
    /// The caller, when present and a valid number.
    pub caller: Option<E164>,
    /// The app may record calls: the reply's `recordFlag` is followed only then.
    pub record_allowed: bool,
}

/// Refuse the call with a reference cause.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reject {
    /// The stateCode.
    pub cause: Cause,
    /// The app of the called number, when it is in the pool.
    pub app: Option<AppId>,
    /// The binding involved, when one was found.
    pub binding: Option<BindingId>,
    /// A prompt to play before releasing (AXE `callbackTone`).
    pub prompt: Option<String>,
}

/// Where a call goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RouteDecision {
    /// Place the B leg.
    Connect(Connect),
    /// AXE: collect the extension first.
    CollectDigits(CollectDigits),
    /// X mode: the customer decides.
    Ask(Ask),
    /// Refuse.
    Reject(Reject),
}

/// The caller's number class, as far as routing cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CallerClass {
    Mobile,
    FixedLine,
    /// Special-service numbers (400, 95xxx) may call X but are not bound parties.
    Other,
    International,
    Invalid,
}

/// Classifies a number for routing.
fn class_of(n: E164) -> CallerClass {
    match classify(n) {
        NumberKind::Mobile => CallerClass::Mobile,
        NumberKind::FixedLine { .. } => CallerClass::FixedLine,
        NumberKind::SpecialService => CallerClass::Other,
        NumberKind::International => CallerClass::International,
        NumberKind::Invalid => CallerClass::Invalid,
    }
}

fn reject(cause: Cause, app: Option<AppId>, binding: Option<BindingId>) -> RouteDecision {
    RouteDecision::Reject(Reject {
        cause,
        app,
        binding,
        prompt: None,
    })
}

/// Everything the mode handlers share about one call.
struct Call<'a> {
    table: &'a BindingTable,
    policy: &'a RoutePolicy,
    /// The caller, when present and a valid number.
    caller: Option<(E164, CallerClass)>,
    called: E164,
    app: AppId,
    now: UnixTime,
}

impl Call<'_> {
    /// A bound party calling through X: fixed-line callers are refused when the policy says so.
    fn fixed_line_refused(&self) -> bool {
        self.policy.reject_fixed_line_caller && matches!(self.caller, Some((_, CallerClass::FixedLine)))
    }

    /// Final check on the chosen callee, then connect.
    fn connect(&self, connect: Connect) -> RouteDecision {
        if !self.policy.allow_international_out && class_of(connect.callee) == CallerClass::International {
            return reject(Cause::INTERNATIONAL_OUT, Some(connect.app), Some(connect.binding));
        }
        RouteDecision::Connect(connect)
    }

    fn reject(&self, cause: Cause, binding: Option<BindingId>) -> RouteDecision {
        reject(cause, Some(self.app), binding)
    }
}

/// Decides where a call from `caller` to `called` goes (`extension`: AXE digits collected so far, if any).
pub fn decide(
    table: &BindingTable,
    policy: &RoutePolicy,
    caller: Option<E164>,
    called: E164,
    extension: Option<&str>,
    now: UnixTime,
) -> RouteDecision {
    if let Some(caller) = caller {
        // Most calls are AXB: start the index's memory read now, overlapping the pool and app look-ups.
        table.prefetch_axb(called, caller);
    }
    let Some((app, status)) = table.pool_route(called) else {
        return reject(Cause::UNKNOWN_X, None, None);
    };
    if !status.accepts_calls() {
        return reject(Cause::X_UNAVAILABLE, Some(app), None);
    }
    let Some(settings) = table.app_route(app) else {
        return reject(Cause::APP_NOT_FOUND, Some(app), None);
    };
    if !settings.enabled {
        return reject(Cause::X_UNAVAILABLE, Some(app), None);
    }
    let caller = caller
        .map(|n| (n, class_of(n)))
        .filter(|(_, class)| *class != CallerClass::Invalid);
    if !policy.allow_international_in && matches!(caller, Some((_, CallerClass::International))) {
        return reject(Cause::INTERNATIONAL_IN, Some(app), None);
    }
    let call = Call {
        table,
        policy,
        caller,
        called,
        app,
        now,
    };
    match settings.mode {
        Mode::Axb => axb(&call),
        Mode::Ax => ax(&call),
        Mode::Axe => axe(
            &call,
            extension,
            settings.extension_digits,
            settings.collect_repeat,
        ),
        Mode::Axyb => axyb(&call),
        Mode::X => RouteDecision::Ask(Ask {
            x: called,
            app,
            caller: call.caller.map(|(n, _)| n),
            record_allowed: settings.record_enabled,
        }),
    }
}

fn minutes(min: u16) -> u32 {
    u32::from(min) * 60
}

fn axb(call: &Call<'_>) -> RouteDecision {
    let Some((caller, _)) = call.caller else {
        return call.reject(Cause::NO_BINDING, None);
    };
    let Some(pair) = call
        .table
        .axb_route(call.called, caller)
        .filter(|r| !expired(r.expires_at, call.now))
    else {
        return call.reject(Cause::NO_BINDING, None);
    };
    if call.fixed_line_refused() {
        return call.reject(Cause::FIXED_LINE_CALLER, Some(pair.id));
    }
    let (callee, direction, refused) = if caller == pair.a {
        (pair.b, CdrDirection::AToB, pair.direction == CallDirection::BToA)
    } else {
        (pair.a, CdrDirection::BToA, pair.direction == CallDirection::AToB)
    };
    if refused {
        return call.reject(Cause::DIRECTION_NOT_ALLOWED, Some(pair.id));
    }
    call.connect(Connect {
        callee,
        display: pair.x,
        max_duration_secs: minutes(pair.max_duration_min),
        record: pair.record,
        binding: pair.id,
        app: pair.app,
        mode: Mode::Axb,
        direction,
        callback: None,
    })
}

fn ax(call: &Call<'_>) -> RouteDecision {
    let Some(bound) = call
        .table
        .ax_route(call.called)
        .filter(|r| !expired(r.expires_at, call.now))
    else {
        return call.reject(Cause::NO_BINDING, None);
    };
    let connect = |callee, direction| Connect {
        callee,
        display: bound.x,
        max_duration_secs: minutes(bound.max_duration_min),
        record: bound.record,
        binding: bound.id,
        app: bound.app,
        mode: Mode::Ax,
        direction,
        callback: None,
    };
    if call.caller.is_some_and(|(n, _)| n == bound.a) {
        if call.fixed_line_refused() {
            return call.reject(Cause::FIXED_LINE_CALLER, Some(bound.id));
        }
        if bound.direction == CallDirection::BToA {
            return call.reject(Cause::DIRECTION_NOT_ALLOWED, Some(bound.id));
        }
        return match call.table.temp_callee(bound.x) {
            Some(temp) if temp.binding == bound.id && !expired(Some(temp.expires_at), call.now) => {
                call.connect(connect(temp.callee, CdrDirection::AToB))
            }
            _ => call.reject(Cause::NO_TEMP_CALLEE, Some(bound.id)),
        };
    }
    if bound.direction == CallDirection::AToB {
        return call.reject(Cause::DIRECTION_NOT_ALLOWED, Some(bound.id));
    }
    if !bound.turn_on {
        return call.reject(Cause::CALLEE_UNREACHABLE, Some(bound.id));
    }
    call.connect(connect(bound.a, CdrDirection::BToA))
}

fn axe(call: &Call<'_>, extension: Option<&str>, digits: u8, repeat: u8) -> RouteDecision {
    let x = call.called;
    let Some(ext) = extension else {
        if let Some((caller, _)) = call.caller
            && let Some((own, fallback)) = call.table.axe_of_a(x, caller, call.now)
        {
            return axe_callback(call, caller, &own, fallback);
        }
        return RouteDecision::CollectDigits(CollectDigits {
            x,
            app: call.app,
            digits,
            repeat,
        });
    };
    if ext.is_empty() {
        return call.reject(Cause::EMPTY_EXTENSION, None);
    }
    let Some(hit) = call
        .table
        .axe_route(x, ext)
        .filter(|r| !expired(r.expires_at, call.now))
    else {
        return call.reject(Cause::AXE_BINDING_EXPIRED, None);
    };
    let callback = call.caller.map(|(caller, _)| CallbackRecord {
        binding: hit.id,
        x,
        a: hit.a,
        last_caller: caller,
        expires_at: hit.callback_ttl_secs.map(|ttl| call.now.plus_secs(ttl)),
    });
    call.connect(Connect {
        callee: hit.a,
        display: x,
        max_duration_secs: 0,
        record: hit.record,
        binding: hit.id,
        app: hit.app,
        mode: Mode::Axe,
        direction: CdrDirection::BToA,
        callback,
    })
}

/// A dials its AXE X without an extension: call back the last caller, or apply the binding's fallback.
fn axe_callback(
    call: &Call<'_>,
    a: E164,
    own: &crate::table::AxeHit,
    fallback: AxeFallback,
) -> RouteDecision {
    if call.fixed_line_refused() {
        return call.reject(Cause::FIXED_LINE_CALLER, Some(own.id));
    }
    let connect = |callee, binding| Connect {
        callee,
        display: own.x,
        max_duration_secs: 0,
        record: own.record,
        binding,
        app: own.app,
        mode: Mode::Axe,
        direction: CdrDirection::AToB,
        callback: None,
    };
    if let Some(record) = call
        .table
        .callback(own.x, a)
        .filter(|r| !expired(r.expires_at, call.now))
    {
        return call.connect(connect(record.last_caller, record.binding));
    }
    match fallback {
        AxeFallback::Forward(n) => call.connect(connect(n, own.id)),
        AxeFallback::Tone(tone) => RouteDecision::Reject(Reject {
            cause: Cause::NO_CALLBACK_RECORD,
            app: Some(call.app),
            binding: Some(own.id),
            prompt: Some(tone),
        }),
        AxeFallback::Release => call.reject(Cause::NO_CALLBACK_RECORD, Some(own.id)),
    }
}

fn axyb(call: &Call<'_>) -> RouteDecision {
    let Some((caller, _)) = call.caller else {
        return call.reject(Cause::NO_BINDING, None);
    };
    let found = call
        .table
        .yb_by_xb(call.called, caller)
        .map(|r| (r, true))
        .or_else(|| call.table.yb_by_ya(call.called, caller).map(|r| (r, false)));
    let Some((relation, b_calls_a)) = found else {
        let own = call
            .table
            .axyb_route(call.called)
            .filter(|p| p.a == caller && !expired(p.expires_at, call.now));
        return match own {
            Some(p) => call.reject(Cause::AXYB_OWN_NUMBER, Some(p.id)),
            None => call.reject(Cause::AXYB_NO_BINDING, None),
        };
    };
    let parent = call
        .table
        .axyb_route(relation.x)
        .filter(|p| p.id == relation.parent && !expired(p.expires_at, call.now));
    let Some(parent) = parent.filter(|_| !expired(relation.expires_at, call.now)) else {
        return call.reject(Cause::AXYB_NO_BINDING, Some(relation.id));
    };
    if call.fixed_line_refused() {
        return call.reject(Cause::FIXED_LINE_CALLER, Some(relation.id));
    }
    let (callee, display, direction, refused) = if b_calls_a {
        (
            relation.a,
            relation.y,
            CdrDirection::BToA,
            parent.direction == CallDirection::AToB,
        )
    } else {
        (
            relation.b,
            relation.x,
            CdrDirection::AToB,
            parent.direction == CallDirection::BToA,
        )
    };
    if refused {
        return call.reject(Cause::DIRECTION_NOT_ALLOWED, Some(relation.id));
    }
    call.connect(Connect {
        callee,
        display,
        max_duration_secs: 0,
        record: relation.record,
        binding: relation.id,
        app: relation.app,
        mode: Mode::Axyb,
        direction,
        callback: None,
    })
}

#[cfg(test)]
mod tests;
