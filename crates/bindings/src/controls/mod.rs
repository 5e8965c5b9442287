//! Per-app call controls (reference §6.1 "Control" causes): number lists, call-prefix restrictions,
//! international switches, time windows and frequency limits, checked on every call an app would connect.
//!
//! Sans-IO: the time is an argument ([`UnixTime`]); nothing reads the clock. [`AppControls`] is the policy as
//! stored and served (JSON, camelCase); [`ControlCounters`] (module [`counters`]) holds the sliding-window counts
//! in a fixed amount of memory, shared lock-free by every shard. [`admit`] checks a call and, when it passes,
//! counts it; [`probe`] checks without counting (the admin route trace).
//!
//! Order of checks (the first failing one refuses): caller allow-list, caller blacklist (7005), callee blacklist
//! (7004), call-prefix restriction on the callee (7500), international in (8042) and out (8043), time window
//! (8050), then each frequency limit in the order given (8047 caller, 8048 callee, 8049 X, the caller–X pair
//! 8047 unless its `cause` says otherwise), then each concurrent-call cap (module [`live`]: 7002 per app, 7003 per
//! X unless its `cause` says otherwise). Only admitted calls are counted; an admitted call holds a [`LiveSlot`]
//! in its caps until it ends.

#![allow(clippy::similar_names)]

use std::fmt;

use pn_numbers::{E164, classify};
use serde::{Deserialize, Serialize};

use crate::cause::Cause;
use crate::model::{AppId, UnixTime};

pub mod api;
pub mod counters;
pub mod live;

pub use api::ApiLimits;
pub use counters::{ControlCounters, CounterKey, DEFAULT_COUNTER_SLOTS, MAX_COUNT};
pub use live::{CapScope, ConcurrentCap, LiveCalls, LiveSlot, MAX_CONCURRENT};

/// Numbers and prefixes (E.164, `+` optional: `+86138` and `86138` match the same numbers).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct NumberList {
    /// Exact numbers.
    pub numbers: Vec<E164>,
    /// Leading digits (country code first).
    pub prefixes: Vec<String>,
}

impl NumberList {
    /// Whether the list names nothing.
    pub fn is_empty(&self) -> bool {
        self.numbers.is_empty() && self.prefixes.is_empty()
    }

    /// Whether `n` is listed (exactly or by a prefix).
    pub fn matches(&self, n: E164) -> bool {
        self.numbers.contains(&n) || self.prefixes.iter().any(|p| prefix_matches(p, n))
    }

    /// The first malformed prefix, if any (a prefix is 1–15 digits after an optional `+`).
    pub fn bad_prefix(&self) -> Option<&str> {
        self.prefixes.iter().find(|p| !prefix_ok(p)).map(String::as_str)
    }
}

fn prefix_ok(p: &str) -> bool {
    let d = p.strip_prefix('+').unwrap_or(p);
    (1..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit())
}

/// Whether the digits of `n` start with `prefix` (integer arithmetic: no formatting on the call path).
fn prefix_matches(prefix: &str, n: E164) -> bool {
    let d = prefix.strip_prefix('+').unwrap_or(prefix);
    let Ok(p) = d.parse::<u64>() else {
        return false;
    };
    let digits = n.digits();
    let n_len = digits.checked_ilog10().unwrap_or(0) + 1;
    let Ok(p_len) = u32::try_from(d.len()) else {
        return false;
    };
    // A prefix with leading zeros never matches (E.164 digits never start with 0).
    if p_len > n_len || d.starts_with('0') {
        return false;
    }
    digits / 10u64.pow(n_len - p_len) == p
}

/// When calls are allowed, in the app's time zone given as a fixed offset from UTC (no daylight saving rules).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TimeWindow {
    /// The app's offset from UTC in minutes (China: 480).
    #[serde(default)]
    pub utc_offset_minutes: i16,
    /// Allowed days, 1 = Monday … 7 = Sunday (empty: every day).
    #[serde(default)]
    pub days: Vec<u8>,
    /// Start of the allowed hours, minutes after local midnight (inclusive).
    pub from_minute: u16,
    /// End of the allowed hours, minutes after local midnight (exclusive; below `from_minute`: the window
    /// crosses midnight, e.g. 22:00–06:00).
    pub to_minute: u16,
}

impl TimeWindow {
    /// Whether a call at `now` falls in the window (the day is the local day of the call).
    pub fn allows(&self, now: UnixTime) -> bool {
        let local = now.0 + i64::from(self.utc_offset_minutes) * 60;
        let day = local.div_euclid(86_400);
        // 1970-01-01 was a Thursday (4).
        let weekday = u8::try_from((day + 3).rem_euclid(7) + 1).unwrap_or(1);
        let minute = u16::try_from(local.rem_euclid(86_400) / 60).unwrap_or(0);
        let day_ok = self.days.is_empty() || self.days.contains(&weekday);
        let hour_ok = if self.from_minute <= self.to_minute {
            (self.from_minute..self.to_minute).contains(&minute)
        } else {
            minute >= self.from_minute || minute < self.to_minute
        };
        day_ok && hour_ok
    }
}

/// Whose calls a frequency limit counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum LimitKey {
    /// The caller (default cause 8047).
    Caller,
    /// The callee (default cause 8048; calls whose callee is not known yet, X mode, are not counted).
    Callee,
    /// The X called (default cause 8049).
    X,
    /// The caller and X together (default cause 8047).
    CallerX,
}

impl LimitKey {
    /// The cause a limit on this key refuses with unless it names another.
    pub const fn default_cause(self) -> Cause {
        match self {
            LimitKey::Caller | LimitKey::CallerX => Cause::CALLER_FREQUENCY,
            LimitKey::Callee => Cause::CALLEE_FREQUENCY,
            LimitKey::X => Cause::X_FREQUENCY,
        }
    }

    const fn code(self) -> u64 {
        match self {
            LimitKey::Caller => 1,
            LimitKey::Callee => 2,
            LimitKey::X => 3,
            LimitKey::CallerX => 4,
        }
    }
}

/// At most `max` calls per `window_secs` (a sliding window) for each value of `key`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FrequencyLimit {
    /// What is counted.
    pub key: LimitKey,
    /// The window in seconds (60 a minute, 3600 an hour, 86400 a day; any from 1 to 604800).
    pub window_secs: u32,
    /// Calls allowed in the window (1 to [`MAX_COUNT`]).
    pub max: u32,
    /// The refusal cause (default: the key's, see [`LimitKey::default_cause`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<Cause>,
}

impl FrequencyLimit {
    /// The cause this limit refuses with.
    pub fn cause(&self) -> Cause {
        self.cause.unwrap_or(self.key.default_cause())
    }
}

/// One app's call controls (all optional; the default controls nothing).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct AppControls {
    /// Callers refused with 7005.
    pub caller_blacklist: NumberList,
    /// Callees refused with 7004.
    pub callee_blacklist: NumberList,
    /// When set, only these callers may call (others: 7005).
    pub caller_allowlist: Option<NumberList>,
    /// Callee prefixes refused with 7500.
    pub restricted_prefixes: Vec<String>,
    /// International callers allowed (false: 8042). The operator's `[routing]` policy applies first.
    pub international_in: bool,
    /// International callees allowed (false: 8043). The operator's `[routing]` policy applies first.
    pub international_out: bool,
    /// When calls are allowed (outside: 8050).
    pub time_window: Option<TimeWindow>,
    /// Frequency limits, several at once.
    pub limits: Vec<FrequencyLimit>,
    /// Concurrent-call caps (per app, per X), several at once.
    pub concurrent: Vec<ConcurrentCap>,
    /// The provisioning API's flow control and source-IP allow-list for this app.
    pub api: ApiLimits,
}

impl Default for AppControls {
    fn default() -> Self {
        Self {
            caller_blacklist: NumberList::default(),
            callee_blacklist: NumberList::default(),
            caller_allowlist: None,
            restricted_prefixes: Vec::new(),
            international_in: true,
            international_out: true,
            time_window: None,
            limits: Vec::new(),
            concurrent: Vec::new(),
            api: ApiLimits::default(),
        }
    }
}

/// Why controls cannot be stored as given.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ControlsError {
    /// A prefix is not 1–15 digits (after an optional `+`).
    #[error("bad number prefix {0:?}")]
    BadPrefix(String),
    /// A day of week outside 1–7, or a minute past 1440.
    #[error("bad time window: {0}")]
    BadTimeWindow(&'static str),
    /// A limit's window or maximum out of range.
    #[error("bad frequency limit: {0}")]
    BadLimit(&'static str),
}

impl AppControls {
    /// Whether these controls refuse nothing (the default).
    pub fn is_inert(&self) -> bool {
        *self == AppControls::default()
    }

    /// Checks the ranges a call-path check relies on.
    ///
    /// # Errors
    /// The first [`ControlsError`] found.
    pub fn validate(&self) -> Result<(), ControlsError> {
        let lists = [&self.caller_blacklist, &self.callee_blacklist]
            .into_iter()
            .chain(self.caller_allowlist.as_ref());
        for list in lists {
            if let Some(p) = list.bad_prefix() {
                return Err(ControlsError::BadPrefix(p.to_owned()));
            }
        }
        if let Some(p) = self.restricted_prefixes.iter().find(|p| !prefix_ok(p)) {
            return Err(ControlsError::BadPrefix(p.clone()));
        }
        if let Some(w) = &self.time_window {
            if w.days.iter().any(|d| !(1..=7).contains(d)) {
                return Err(ControlsError::BadTimeWindow("days are 1 (Monday) to 7 (Sunday)"));
            }
            if w.from_minute > 1440 || w.to_minute > 1440 {
                return Err(ControlsError::BadTimeWindow("minutes are 0 to 1440"));
            }
            if !(-840..=840).contains(&w.utc_offset_minutes) {
                return Err(ControlsError::BadTimeWindow("utcOffsetMinutes is -840 to 840"));
            }
        }
        let causes = self
            .limits
            .iter()
            .filter_map(|l| l.cause)
            .chain(self.concurrent.iter().filter_map(|c| c.cause));
        if causes.into_iter().any(|c| !is_control_cause(c)) {
            return Err(ControlsError::BadLimit(
                "a limit's cause is a control cause: 7001-7005, 7500, 8042-8044, 8046-8050, 8056, 8057",
            ));
        }
        for l in &self.limits {
            if !(1..=604_800).contains(&l.window_secs) {
                return Err(ControlsError::BadLimit("windowSecs is 1 to 604800"));
            }
            if !(1..=MAX_COUNT).contains(&l.max) {
                return Err(ControlsError::BadLimit("max is 1 to 65535"));
            }
        }
        if self
            .concurrent
            .iter()
            .any(|c| !(1..=MAX_CONCURRENT).contains(&c.max))
        {
            return Err(ControlsError::BadLimit("a concurrent cap's max is 1 to 1000000"));
        }
        Ok(())
    }
}

/// Whether `cause` is one of the reference's call-control causes (§6.1), which a limit or cap may refuse
/// with instead of its default: developer / app / display-number frequency (7001-7003), callee / caller
/// blacklist (7004, 7005), prefix restriction (7500), international in / out (8042, 8043), abnormal call
/// time (8044), abnormal connect rate (8046), caller / callee / service-number frequency (8047-8049), time
/// window (8050), dial-test control (8056), call-direction control (8057).
pub fn is_control_cause(cause: Cause) -> bool {
    matches!(cause.0, 7001..=7005 | 7500 | 8042..=8044 | 8046..=8050 | 8056 | 8057)
}

/// The call a control looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ControlledCall {
    /// The app of the X called.
    pub app: AppId,
    /// The caller, when present and a valid number.
    pub caller: Option<E164>,
    /// The callee, when the route is known (not in X mode before the customer's answer).
    pub callee: Option<E164>,
    /// The X called.
    pub x: E164,
}

/// Which control refused a call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rule {
    /// The caller is not on the allow-list.
    CallerNotAllowed,
    /// The caller is blacklisted.
    CallerBlacklisted,
    /// The callee is blacklisted.
    CalleeBlacklisted,
    /// The callee starts with a restricted prefix.
    RestrictedPrefix(String),
    /// An international caller, and the app refuses them.
    InternationalIn,
    /// An international callee, and the app refuses them.
    InternationalOut,
    /// Outside the app's time window.
    OutsideTimeWindow,
    /// A frequency limit is reached (`estimate`: the sliding-window count, rounded down).
    Frequency {
        /// What is counted.
        key: LimitKey,
        /// The window in seconds.
        window_secs: u32,
        /// The limit.
        max: u32,
        /// The current estimate.
        estimate: u64,
    },
    /// A concurrent-call cap is reached.
    Concurrent {
        /// What is counted.
        scope: CapScope,
        /// The cap.
        max: u32,
    },
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::CallerNotAllowed => f.write_str("caller not on the allow-list"),
            Rule::CallerBlacklisted => f.write_str("caller blacklisted"),
            Rule::CalleeBlacklisted => f.write_str("callee blacklisted"),
            Rule::RestrictedPrefix(p) => write!(f, "callee prefix {p} restricted"),
            Rule::InternationalIn => f.write_str("international caller refused by the app"),
            Rule::InternationalOut => f.write_str("international callee refused by the app"),
            Rule::OutsideTimeWindow => f.write_str("outside the app's call time window"),
            Rule::Frequency {
                key,
                window_secs,
                max,
                estimate,
            } => write!(
                f,
                "{key:?} frequency limit {max} per {window_secs} s reached ({estimate} in the window)"
            ),
            Rule::Concurrent { scope, max } => write!(f, "{scope:?} concurrent-call cap {max} reached"),
        }
    }
}

/// A call refused by a control: the cause and the rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The stateCode the call ends with.
    pub cause: Cause,
    /// Which control refused it.
    pub rule: Rule,
}

fn refuse(cause: Cause, rule: Rule) -> Result<(), Refusal> {
    Err(Refusal { cause, rule })
}

/// The checks that need no counter: lists, prefixes, international switches, time window.
///
/// # Errors
/// The [`Refusal`] of the first control that refuses the call.
pub fn check_rules(controls: &AppControls, call: &ControlledCall, now: UnixTime) -> Result<(), Refusal> {
    if let Some(allow) = &controls.caller_allowlist
        && !call.caller.is_some_and(|n| allow.matches(n))
    {
        return refuse(Cause::CALLER_BLACKLIST, Rule::CallerNotAllowed);
    }
    if let Some(caller) = call.caller
        && controls.caller_blacklist.matches(caller)
    {
        return refuse(Cause::CALLER_BLACKLIST, Rule::CallerBlacklisted);
    }
    if let Some(callee) = call.callee {
        if controls.callee_blacklist.matches(callee) {
            return refuse(Cause::CALLEE_BLACKLIST, Rule::CalleeBlacklisted);
        }
        if let Some(p) = controls
            .restricted_prefixes
            .iter()
            .find(|p| prefix_matches(p, callee))
        {
            return refuse(Cause::PREFIX_RESTRICTED, Rule::RestrictedPrefix(p.clone()));
        }
    }
    // International: what pn-numbers classifies so (a country code other than +86).
    if !controls.international_in && call.caller.is_some_and(|n| classify(n).is_international()) {
        return refuse(Cause::INTERNATIONAL_IN, Rule::InternationalIn);
    }
    if !controls.international_out && call.callee.is_some_and(|n| classify(n).is_international()) {
        return refuse(Cause::INTERNATIONAL_OUT, Rule::InternationalOut);
    }
    if let Some(w) = &controls.time_window
        && !w.allows(now)
    {
        return refuse(Cause::TIME_WINDOW, Rule::OutsideTimeWindow);
    }
    Ok(())
}

/// The counter subject of `limit` for `call` (`None`: the call has no such party, e.g. no callee yet).
fn subject(limit: &FrequencyLimit, call: &ControlledCall) -> Option<u64> {
    let party = match limit.key {
        LimitKey::Caller => call.caller?.digits(),
        LimitKey::Callee => call.callee?.digits(),
        LimitKey::X => call.x.digits(),
        // Two 15-digit numbers do not fit one word: mix them.
        LimitKey::CallerX => crate::table::hash::hash_pair(call.caller?.digits(), call.x.digits()),
    };
    Some(crate::table::hash::hash_pair(
        party,
        (u64::from(call.app.0) << 8) | limit.key.code(),
    ))
}

/// Checks every frequency limit without counting (their counters read together, see
/// [`ControlCounters::first_without_room`]).
fn check_limits(
    controls: &AppControls,
    counters: &ControlCounters,
    call: &ControlledCall,
    now: UnixTime,
) -> Result<(), Refusal> {
    for limits in controls.limits.chunks(counters::ROOM_BATCH) {
        let mut checks = [(CounterKey::new(0, 1), 0u32); counters::ROOM_BATCH];
        let mut which = [0usize; counters::ROOM_BATCH];
        let mut n = 0;
        for (i, limit) in limits.iter().enumerate() {
            if let Some(subject) = subject(limit, call) {
                checks[n] = (CounterKey::new(subject, limit.window_secs), limit.max);
                which[n] = i;
                n += 1;
            }
        }
        if let Some(full) = counters.first_without_room(&checks[..n], now) {
            let limit = &limits[which[full]];
            let key = checks[full].0;
            return refuse(
                limit.cause(),
                Rule::Frequency {
                    key: limit.key,
                    window_secs: limit.window_secs,
                    max: limit.max,
                    estimate: counters.scaled_estimate(key, now) / u64::from(limit.window_secs.max(1)),
                },
            );
        }
    }
    Ok(())
}

/// Checks `call` against `controls` and, when every control passes, counts it in each frequency limit.
///
/// # Errors
/// The [`Refusal`] of the first control that refuses the call (nothing is counted then).
pub fn admit(
    controls: &AppControls,
    counters: &ControlCounters,
    call: &ControlledCall,
    now: UnixTime,
) -> Result<(), Refusal> {
    probe(controls, counters, call, now)?;
    count(controls, counters, call, now);
    Ok(())
}

/// Counts an admitted `call` in each of its frequency limits (what [`admit`] does once every check passed).
pub fn count(controls: &AppControls, counters: &ControlCounters, call: &ControlledCall, now: UnixTime) {
    for limit in &controls.limits {
        if let Some(subject) = subject(limit, call) {
            counters.add(CounterKey::new(subject, limit.window_secs), now);
        }
    }
}

fn cap_refusal(cap: &ConcurrentCap) -> Refusal {
    Refusal {
        cause: cap.cause(),
        rule: Rule::Concurrent {
            scope: cap.scope,
            max: cap.max,
        },
    }
}

/// Takes a unit of each of the app's concurrent-call caps for `call` (`None` when it has none), held until
/// the returned [`LiveSlot`] is dropped.
///
/// # Errors
/// The [`Refusal`] of the first full cap (no unit is taken then).
pub fn acquire_caps(
    controls: &AppControls,
    live: &std::sync::Arc<LiveCalls>,
    call: &ControlledCall,
) -> Result<Option<LiveSlot>, Refusal> {
    if controls.concurrent.is_empty() {
        return Ok(None);
    }
    let subject = |c: &ConcurrentCap| (c.subject(call.app, call.x.digits()), c.max);
    let taken = if controls.concurrent.len() <= live::INLINE_CAPS {
        // The usual case, without a heap allocation on the call path.
        let mut caps = [(0u64, 0u32); live::INLINE_CAPS];
        for (slot, cap) in caps.iter_mut().zip(&controls.concurrent) {
            *slot = subject(cap);
        }
        live.acquire(&caps[..controls.concurrent.len()])
    } else {
        live.acquire(&controls.concurrent.iter().map(subject).collect::<Vec<_>>())
    };
    taken.map(Some).map_err(|i| cap_refusal(&controls.concurrent[i]))
}

/// Checks the app's concurrent-call caps for `call` without taking a unit (the route trace).
///
/// # Errors
/// The [`Refusal`] of the first full cap.
pub fn check_caps(controls: &AppControls, live: &LiveCalls, call: &ControlledCall) -> Result<(), Refusal> {
    match controls
        .concurrent
        .iter()
        .find(|c| live.count(c.subject(call.app, call.x.digits())) >= c.max)
    {
        Some(cap) => Err(cap_refusal(cap)),
        None => Ok(()),
    }
}

/// Checks `call` against `controls` without counting it (what [`admit`] would answer).
///
/// # Errors
/// The [`Refusal`] of the first control that refuses the call.
pub fn probe(
    controls: &AppControls,
    counters: &ControlCounters,
    call: &ControlledCall,
    now: UnixTime,
) -> Result<(), Refusal> {
    check_rules(controls, call, now)?;
    check_limits(controls, counters, call, now)
}

#[cfg(test)]
mod tests;
