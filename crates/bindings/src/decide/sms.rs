//! The SMS route decision (reference §7.1): where a text sent to a privacy number goes, and what it says.
//!
//! [`decide_sms`] is pure like [`crate::decide()`]: it reads the [`BindingTable`], the [`RoutePolicy`] and the
//! time it is given. Modes:
//! - AXB: A or B texts X → the other party, sender X, body unchanged.
//! - AX: A texts X with a trailing `@<B>` (half-width `@`; B national or E.164, normalised) → B, sender X, the
//!   suffix stripped. Anyone else (B) texts X → A, sender X, with `[From<B>]` appended, B written in the
//!   canonical E.164 form the API and notifications use (`[From+8613900000001]`). A's text without a valid `@`
//!   part → [`SmsDecision::NeedsBlock`] (the reference asks the app's SMS-control URL).
//! - X mode: every SMS needs Block ([`SmsDecision::NeedsBlock`] without a binding: X apps have none).
//! - The modes without SMS (AXE, AXYB) are refused with sendResult 11.
//!
//! Refusals carry the reference's `sendResult` ([`SendResult`]): 2 no binding (X not in the pool, or the sender
//! is not a party), 3 X suspended (number status paused/unavailable), 1 app disabled ("account frozen"), 5 app
//! record missing, 11 SMS not enabled (the app's SMS option off, the mode without SMS, or the binding's
//! `privateSms` "false": the reference has no own code for the last, so pnswitch uses 11, "X lacks SMS"),
//! 10 an international sender or receiver the [`RoutePolicy`] does not allow ("all failed"). The binding's
//! `callDirection` governs calls only and is not applied to SMS (the reference does not say it restricts SMS).

use pn_numbers::{E164, NumberKind, classify, normalize};

use super::{CdrDirection, RoutePolicy};
use crate::model::{AppId, BindingId, Mode, UnixTime};
use crate::table::{BindingTable, expired};

/// The reference's SMS `sendResult` (§7.1): 0 is success.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SendResult(pub u8);

impl SendResult {
    /// 0: relayed.
    pub const OK: SendResult = SendResult(0);
    /// 1: account frozen (pnswitch: the app is disabled).
    pub const ACCOUNT_FROZEN: SendResult = SendResult(1);
    /// 2: no binding.
    pub const NO_BINDING: SendResult = SendResult(2);
    /// 3: X suspended (number status paused or unavailable).
    pub const X_SUSPENDED: SendResult = SendResult(3);
    /// 5: internal error (pnswitch: the X's app record is missing, or the relay could not be sent).
    pub const INTERNAL_ERROR: SendResult = SendResult(5);
    /// 6: SP discarded (the app's Block reply was `DiscardMessage`).
    pub const SP_DISCARDED: SendResult = SendResult(6);
    /// 7: SP review timeout (the app's Block reply did not come in time).
    pub const SP_REVIEW_TIMEOUT: SendResult = SendResult(7);
    /// 10: all failed (pnswitch: the far end refused the relay, or an international party the policy forbids).
    pub const ALL_FAILED: SendResult = SendResult(10);
    /// 11: X lacks SMS (the app's SMS option off, a mode without SMS, or the binding's `privateSms` "false").
    pub const NO_SMS: SendResult = SendResult(11);

    /// Whether the SMS was relayed.
    pub const fn is_ok(self) -> bool {
        self.0 == 0
    }
}

/// Relay the text: send `body` to `to`, from `x`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmsRelay {
    /// The receiver.
    pub to: E164,
    /// The privacy number presented as the sender.
    pub x: E164,
    /// The text to deliver (the `@<B>` suffix stripped, or `[From<B>]` appended).
    pub body: String,
    /// The binding that routed it.
    pub binding: BindingId,
    /// Its app.
    pub app: AppId,
    /// The app's mode.
    pub mode: Mode,
    /// A→B (1) or B→A (0), as the CDR `callDirection`; the notification's `direction`.
    pub direction: CdrDirection,
}

/// The text needs the app's Block decision (AX: A's text without a valid `@<B>` part; every X-mode text).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SmsBlock {
    /// The binding on X (AX; none in X mode).
    pub binding: Option<BindingId>,
    /// Its app.
    pub app: AppId,
    /// The app's mode.
    pub mode: Mode,
}

/// Refuse the text with a `sendResult`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SmsRefusal {
    /// Why.
    pub result: SendResult,
    /// The app of X, when X is in the pool.
    pub app: Option<AppId>,
    /// The binding involved, when one was found.
    pub binding: Option<BindingId>,
}

/// Where an SMS to a privacy number goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SmsDecision {
    /// Relay it.
    Relay(SmsRelay),
    /// Ask the app (Block).
    NeedsBlock(SmsBlock),
    /// Refuse it.
    Refuse(SmsRefusal),
}

fn refuse(result: SendResult, app: Option<AppId>, binding: Option<BindingId>) -> SmsDecision {
    SmsDecision::Refuse(SmsRefusal { result, app, binding })
}

fn international(n: E164) -> bool {
    matches!(classify(n), NumberKind::International)
}

/// Decides where an SMS from `sender` to privacy number `x` with text `body` goes at `now`.
pub fn decide_sms(
    table: &BindingTable,
    policy: &RoutePolicy,
    sender: E164,
    x: E164,
    body: &str,
    now: UnixTime,
) -> SmsDecision {
    let Some((app, status)) = table.pool_route(x) else {
        return refuse(SendResult::NO_BINDING, None, None);
    };
    if !status.accepts_calls() {
        return refuse(SendResult::X_SUSPENDED, Some(app), None);
    }
    let Some(settings) = table.app(app) else {
        return refuse(SendResult::INTERNAL_ERROR, Some(app), None);
    };
    if !settings.enabled {
        return refuse(SendResult::ACCOUNT_FROZEN, Some(app), None);
    }
    if !settings.sms_enabled {
        return refuse(SendResult::NO_SMS, Some(app), None);
    }
    if !policy.allow_international_in && international(sender) {
        return refuse(SendResult::ALL_FAILED, Some(app), None);
    }
    let decision = match settings.mode {
        Mode::Axb => axb(table, sender, x, body, now),
        Mode::Ax => ax(table, sender, x, body, now),
        Mode::X => SmsDecision::NeedsBlock(SmsBlock {
            binding: None,
            app,
            mode: Mode::X,
        }),
        Mode::Axe | Mode::Axyb => return refuse(SendResult::NO_SMS, Some(app), None),
    };
    match decision {
        SmsDecision::Relay(r) if !table.sms_allowed(r.binding) => {
            refuse(SendResult::NO_SMS, Some(r.app), Some(r.binding))
        }
        SmsDecision::NeedsBlock(SmsBlock {
            binding: Some(binding),
            app,
            ..
        }) if !table.sms_allowed(binding) => refuse(SendResult::NO_SMS, Some(app), Some(binding)),
        SmsDecision::Relay(r) if !policy.allow_international_out && international(r.to) => {
            refuse(SendResult::ALL_FAILED, Some(r.app), Some(r.binding))
        }
        SmsDecision::Refuse(r) => SmsDecision::Refuse(SmsRefusal { app: Some(app), ..r }),
        other => other,
    }
}

fn axb(table: &BindingTable, sender: E164, x: E164, body: &str, now: UnixTime) -> SmsDecision {
    let Some(pair) = table.axb_route(x, sender).filter(|r| !expired(r.expires_at, now)) else {
        return refuse(SendResult::NO_BINDING, None, None);
    };
    let (to, direction) = if sender == pair.a {
        (pair.b, CdrDirection::AToB)
    } else {
        (pair.a, CdrDirection::BToA)
    };
    SmsDecision::Relay(SmsRelay {
        to,
        x: pair.x,
        body: body.to_owned(),
        binding: pair.id,
        app: pair.app,
        mode: Mode::Axb,
        direction,
    })
}

fn ax(table: &BindingTable, sender: E164, x: E164, body: &str, now: UnixTime) -> SmsDecision {
    let Some(bound) = table.ax_route(x).filter(|r| !expired(r.expires_at, now)) else {
        return refuse(SendResult::NO_BINDING, None, None);
    };
    let relay = |to, body, direction| {
        SmsDecision::Relay(SmsRelay {
            to,
            x: bound.x,
            body,
            binding: bound.id,
            app: bound.app,
            mode: Mode::Ax,
            direction,
        })
    };
    if sender == bound.a {
        return match split_at_suffix(body) {
            Some((text, b)) if b != bound.a && b != bound.x => relay(b, text.to_owned(), CdrDirection::AToB),
            _ => SmsDecision::NeedsBlock(SmsBlock {
                binding: Some(bound.id),
                app: bound.app,
                mode: Mode::Ax,
            }),
        };
    }
    relay(bound.a, format!("{body}[From{sender}]"), CdrDirection::BToA)
}

/// Splits A's AX text at its trailing `@<B>`: the text before the last half-width `@` and B, when what follows
/// is a number (digits with an optional leading `+`, surrounding whitespace ignored) that is valid in the
/// numbering plan. Anything else (no `@`, letters, a full-width `＠`, an invalid number) is `None`.
pub fn split_at_suffix(body: &str) -> Option<(&str, E164)> {
    let at = body.rfind('@')?;
    let (text, suffix) = (&body[..at], body[at + 1..].trim());
    let digits = suffix.strip_prefix('+').unwrap_or(suffix);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let b = normalize(suffix).ok()?;
    if matches!(classify(b), NumberKind::Invalid) {
        return None;
    }
    Some((text, b))
}

#[cfg(test)]
#[path = "sms_tests.rs"]
mod tests;
