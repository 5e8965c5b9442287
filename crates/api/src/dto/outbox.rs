//! The admin outbox API's answers and parameters: listed entries, the replay's count.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

/// One outbox entry as the admin API lists it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OutboxEntryView {
    /// The entry's id (delivery order; `after` of the next page).
    pub(crate) id: u64,
    /// `event` (call event), `cdr`, `sms` or `numstatus` (X-number status).
    pub(crate) kind: &'static str,
    /// The app it is pushed to (`null`: a row with no app).
    pub(crate) app_key: Option<String>,
    /// `pending`, `delivered`, `dead` or `no_receiver`.
    pub(crate) state: &'static str,
    /// When it was written, `yyyy-MM-dd HH:mm:ss` (UTC).
    pub(crate) created_at: String,
    /// When it was delivered, declared dead or marked no-receiver, `yyyy-MM-dd HH:mm:ss` (UTC); `null`
    /// while pending.
    pub(crate) done_at: Option<String>,
    /// Delivery attempts that ended it (delivered or dead marks).
    pub(crate) attempts: u32,
    /// The JSON payload as it is pushed.
    #[schema(value_type = Object)]
    pub(crate) payload: Value,
}

/// `GET /admin/v1/outbox` and `GET /admin/v1/cdrs`: one page of entries.
#[derive(Serialize, ToSchema)]
pub(crate) struct OutboxBody {
    /// The entries, in id order.
    pub(crate) entries: Vec<OutboxEntryView>,
    /// `after` for the next page (the last entry's id) when this page is full; `null` at the end.
    pub(crate) next: Option<u64>,
}

/// `POST /admin/v1/outbox/replay`: how many dead letters became pending again.
#[derive(Serialize, ToSchema)]
pub(crate) struct ReplayBody {
    /// Entries replayed (ids that were not dead letters are left alone and not counted).
    pub(crate) replayed: u64,
}

/// Outbox listing filters.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
#[expect(
    dead_code,
    reason = "schema only: the handler reads the fields through `Fields`"
)]
pub(crate) struct OutboxListParams {
    /// `pending`, `delivered`, `dead` or `no_receiver`.
    state: Option<String>,
    /// `event`, `cdr`, `sms` or `numstatus`.
    kind: Option<String>,
    /// Only this app's entries.
    app_key: Option<String>,
    /// Created at or after: `yyyy-MM-dd HH:mm:ss` (UTC) or Unix seconds.
    from: Option<String>,
    /// Created at or before (inclusive): `yyyy-MM-dd HH:mm:ss` (UTC) or Unix seconds.
    to: Option<String>,
    /// Only ids above this (the previous page's `next`).
    after: Option<u64>,
    /// Entries per page, 1–1000 (default 100).
    limit: Option<u32>,
}

/// CDR listing filters.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
#[expect(
    dead_code,
    reason = "schema only: the handler reads the fields through `Fields`"
)]
pub(crate) struct CdrListParams {
    /// Only this app's CDRs.
    app_key: Option<String>,
    /// Created at or after: `yyyy-MM-dd HH:mm:ss` (UTC) or Unix seconds.
    from: Option<String>,
    /// Created at or before (inclusive): `yyyy-MM-dd HH:mm:ss` (UTC) or Unix seconds.
    to: Option<String>,
    /// Only ids above this (the previous page's `next`).
    after: Option<u64>,
    /// Entries per page, 1–1000 (default 100).
    limit: Option<u32>,
}

/// Replay dead letters: by id, or all of one app's (at most 10,000 per call). Exactly one of the two.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[expect(
    dead_code,
    reason = "schema only: the handler reads the fields through `Fields`"
)]
pub(crate) struct ReplayOutboxRequest {
    /// Entry ids (1–10,000); those that are not dead letters are left alone.
    ids: Option<Vec<u64>>,
    /// Every dead letter of this app (the oldest 10,000).
    app_key: Option<String>,
}
