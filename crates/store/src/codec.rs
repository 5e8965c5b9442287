//! Mapping between model values and rows, shared by the backends: the query columns derived from a binding
//! and the stored codes of numbers, ids and outbox kinds and states.

use pn_bindings::{Binding, BindingKind, NumberStatus};
use pn_numbers::E164;

use crate::{BindingFilter, OutboxKind, OutboxState, StoreError};

/// The query columns of a `bindings` row, derived from the binding.
pub(crate) struct BindingColumns<'a> {
    /// `kind` column: the kind's name (`AXYB` for the A–X part, `YB` for a Y–B relation).
    pub kind: &'static str,
    /// `x`.
    pub x: i64,
    /// `a`.
    pub a: Option<i64>,
    /// `b`.
    pub b: Option<i64>,
    /// `y`.
    pub y: Option<i64>,
    /// `extension`.
    pub extension: Option<&'a str>,
    /// `parent`.
    pub parent: Option<i64>,
}

/// A number as stored: its digits (at most 15, so always a positive `i64`).
pub(crate) const fn num(n: E164) -> i64 {
    n.digits() as i64
}

/// A binding id as stored. The `u64` ↔ `i64` cast is a bijection, so every id round-trips ([`id_from_sql`]);
/// ids are allocated sequentially from 1, so they stay positive and `ORDER BY id` is id order.
pub(crate) const fn id_sql(id: u64) -> i64 {
    id as i64
}

/// A binding id (or other `u64` counter) read back from its stored `i64`.
pub(crate) const fn id_from_sql(value: i64) -> u64 {
    value as u64
}

/// Derives the query columns: Axb → a, b; Ax → a; Axe → a, extension; Axyb → a; Yb → a, b, y, parent.
pub(crate) fn binding_columns(binding: &Binding) -> BindingColumns<'_> {
    let mut cols = BindingColumns {
        kind: "",
        x: num(binding.kind.x()),
        a: None,
        b: None,
        y: None,
        extension: None,
        parent: None,
    };
    match &binding.kind {
        BindingKind::Axb(k) => {
            cols.kind = "AXB";
            cols.a = Some(num(k.a));
            cols.b = Some(num(k.b));
        }
        BindingKind::Ax(k) => {
            cols.kind = "AX";
            cols.a = Some(num(k.a));
        }
        BindingKind::Axe(k) => {
            cols.kind = "AXE";
            cols.a = Some(num(k.a));
            cols.extension = Some(&k.extension);
        }
        BindingKind::Axyb(k) => {
            cols.kind = "AXYB";
            cols.a = Some(num(k.a));
        }
        BindingKind::Yb(k) => {
            cols.kind = "YB";
            cols.a = Some(num(k.a));
            cols.b = Some(num(k.b));
            cols.y = Some(num(k.y));
            cols.parent = Some(id_sql(k.parent.0));
        }
    }
    cols
}

/// The `numbers.status` column: the reference's status code as text (`"5"`, `"9"`, `"10"`, `"11"`).
pub(crate) fn status_column(status: NumberStatus) -> String {
    status.code().to_string()
}

/// The `outbox.kind` column.
pub(crate) const fn outbox_kind_str(kind: OutboxKind) -> &'static str {
    match kind {
        OutboxKind::CallEvent => "call_event",
        OutboxKind::Cdr => "cdr",
        OutboxKind::Sms => "sms",
        OutboxKind::NumberStatus => "number_status",
    }
}

/// Parses the `outbox.kind` column.
pub(crate) fn outbox_kind_from(text: &str) -> Result<OutboxKind, StoreError> {
    match text {
        "call_event" => Ok(OutboxKind::CallEvent),
        "cdr" => Ok(OutboxKind::Cdr),
        "sms" => Ok(OutboxKind::Sms),
        "number_status" => Ok(OutboxKind::NumberStatus),
        other => Err(StoreError::Corrupt(format!("unknown outbox kind {other:?}"))),
    }
}

/// The `outbox.state` column.
pub(crate) const fn outbox_state_code(state: OutboxState) -> i64 {
    match state {
        OutboxState::Pending => 0,
        OutboxState::Delivered => 1,
        OutboxState::Dead => 2,
        OutboxState::NoReceiver => 3,
    }
}

/// Parses the `outbox.state` column.
pub(crate) fn outbox_state_from(code: i64) -> Result<OutboxState, StoreError> {
    OutboxState::ALL
        .into_iter()
        .find(|s| outbox_state_code(*s) == code)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown outbox state {code}")))
}

/// A value a query binds, in the two SQL types the stores use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum SqlValue {
    /// An integer column (numbers, ids, times).
    Int(i64),
    /// A text column.
    Text(String),
}

/// The conditions of a [`BindingFilter`], each with its values: `{0}` (and `{1}`) mark where they go, each
/// as often as the condition needs it (the `party` condition binds one parameter for both columns). Each
/// backend spells the placeholders (`?N`, `$N`) and binds the values its way ([`where_clause`]).
pub(crate) fn filter_conditions(filter: &BindingFilter) -> Vec<(&'static str, Vec<SqlValue>)> {
    let mut conds = Vec::new();
    let int = SqlValue::Int;
    if let Some(app) = filter.app {
        conds.push(("app_id = {0}", vec![int(i64::from(app.0))]));
    }
    if let Some(mode) = filter.mode {
        conds.push(("mode = {0}", vec![SqlValue::Text(mode.as_str().to_owned())]));
    }
    if let Some(sub) = &filter.subscription_id {
        conds.push(("subscription_id = {0}", vec![SqlValue::Text(sub.clone())]));
    }
    if let Some(x) = filter.x {
        conds.push(("x = {0}", vec![int(num(x))]));
    }
    if let Some(a) = filter.a {
        conds.push(("a = {0}", vec![int(num(a))]));
    }
    if let Some(b) = filter.b {
        conds.push(("b = {0}", vec![int(num(b))]));
    }
    match (filter.party, filter.other_party) {
        (Some(party), Some(other)) => conds.push((
            "(a = {0} OR b = {0} OR a = {1} OR b = {1})",
            vec![int(num(party)), int(num(other))],
        )),
        (Some(party), None) | (None, Some(party)) => {
            conds.push(("(a = {0} OR b = {0})", vec![int(num(party))]));
        }
        (None, None) => {}
    }
    if let Some(y) = filter.y {
        conds.push(("y = {0}", vec![int(num(y))]));
    }
    if let Some(ext) = &filter.extension {
        conds.push(("extension = {0}", vec![SqlValue::Text(ext.clone())]));
    }
    if let Some(parent) = filter.parent {
        conds.push(("parent = {0}", vec![int(id_sql(parent.0))]));
    }
    if let Some(t) = filter.live_at {
        conds.push(("(expires_at IS NULL OR expires_at > {0})", vec![int(t.0)]));
    }
    conds
}

/// The `WHERE` clause (empty or starting with ` WHERE`) of a filter and its values in parameter order, the
/// n-th parameter written by `placeholder(n)` (1-based).
pub(crate) fn where_clause(
    filter: &BindingFilter,
    placeholder: impl Fn(usize) -> String,
) -> (String, Vec<SqlValue>) {
    let mut conds = Vec::new();
    let mut values = Vec::new();
    for (cond, own) in filter_conditions(filter) {
        let mut cond = cond.to_owned();
        for (i, value) in own.into_iter().enumerate() {
            values.push(value);
            cond = cond.replace(&format!("{{{i}}}"), &placeholder(values.len()));
        }
        conds.push(cond);
    }
    if conds.is_empty() {
        (String::new(), values)
    } else {
        (format!(" WHERE {}", conds.join(" AND ")), values)
    }
}
