//! Admin API (`Authorization: Bearer <admin_token>`): the outbox. Every push entry (call events, CDRs, SMS
//! and X-number status notifications) stays listable with its delivery state until the retention purge;
//! `/admin/v1/cdrs` is the CDR view of the same rows; dead letters are replayed through the engine, which
//! wakes the push driver.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use pn_bindings::UnixTime;
use pn_store::{OutboxEntry, OutboxFilter, OutboxKind, OutboxState};
use serde_json::Value;

use crate::dto::outbox::{OutboxBody, OutboxEntryView, ReplayBody};
use crate::extract::{Outcome, answer, body_fields, query_fields, read, respond, store_failure};
use crate::handlers::admin::check_admin;
use crate::result::{ApiFailure, ResultCode};
use crate::state::ApiState;
use crate::time::{format_datetime, parse_datetime};
use crate::validate::{Fields, param_error};

type Body = Result<Bytes, BytesRejection>;
type QueryParams = Result<Query<HashMap<String, String>>, QueryRejection>;

/// Entries per page when `limit` is absent.
const DEFAULT_LIMIT: i64 = 100;
/// Most entries per page.
const MAX_LIMIT: i64 = 1000;
/// Most dead letters one replay call changes.
const MAX_REPLAY: usize = 10_000;

/// The API's kind names, in the order of [`OutboxKind`].
const KINDS: [(&str, OutboxKind); 4] = [
    ("event", OutboxKind::CallEvent),
    ("cdr", OutboxKind::Cdr),
    ("sms", OutboxKind::Sms),
    ("numstatus", OutboxKind::NumberStatus),
];

fn kind_name(kind: OutboxKind) -> &'static str {
    KINDS.iter().find(|(_, k)| *k == kind).map_or("event", |(n, _)| n)
}

/// A time parameter: `yyyy-MM-dd HH:mm:ss` (UTC) or Unix seconds.
fn time_param(q: &Fields, name: &str) -> Result<Option<UnixTime>, ApiFailure> {
    let Some(text) = q.str_opt(name, 1, 32)? else {
        return Ok(None);
    };
    let unix = text
        .strip_prefix('-')
        .unwrap_or(&text)
        .bytes()
        .all(|c| c.is_ascii_digit());
    let parsed = if unix {
        text.parse::<i64>().ok().map(UnixTime)
    } else {
        parse_datetime(&text)
    };
    parsed
        .map(Some)
        .ok_or_else(|| param_error(name, "must be yyyy-MM-dd HH:mm:ss (UTC) or Unix seconds"))
}

/// The `appKey` parameter (validated like the app admin API's).
fn app_key_param(f: &Fields) -> Result<Option<String>, ApiFailure> {
    let key = f.str_opt("appKey", 1, 64)?;
    if key.as_ref().is_some_and(|k| {
        !k.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
    }) {
        return Err(param_error("appKey", "must be letters, digits, - or _"));
    }
    Ok(key)
}

fn not_found() -> ApiFailure {
    ApiFailure::new(ResultCode::QUERY_NOT_FOUND, "The record does not exist")
}

/// GET /admin/v1/outbox: entries of every kind and state, filtered, in id order, one page.
#[utoipa::path(
    get,
    path = "/admin/v1/outbox",
    tag = "admin",
    operation_id = "admin_list_outbox",
    params(crate::dto::outbox::OutboxListParams),
    responses((status = 200, description = "resultcode 0 (or a refusal, see ApiResult)", body = crate::dto::Answer<crate::dto::outbox::OutboxBody>)),
    security(("admin" = [])),
    extensions(("x-resultcodes" = json!(["0", "1010040", "1020176", "1020001", "1016001", "1010001"]))),
)]
pub(crate) async fn list_outbox(
    State(s): State<ApiState>,
    headers: HeaderMap,
    query: QueryParams,
) -> Response {
    respond(list_inner(&s, &headers, query, false).await)
}

/// GET /admin/v1/cdrs: the CDRs (any state: delivered ones are kept for the retention window), one page.
#[utoipa::path(
    get,
    path = "/admin/v1/cdrs",
    tag = "admin",
    operation_id = "admin_list_cdrs",
    params(crate::dto::outbox::CdrListParams),
    responses((status = 200, description = "resultcode 0 (or a refusal, see ApiResult)", body = crate::dto::Answer<crate::dto::outbox::OutboxBody>)),
    security(("admin" = [])),
    extensions(("x-resultcodes" = json!(["0", "1010040", "1020176", "1020001", "1016001", "1010001"]))),
)]
pub(crate) async fn list_cdrs(State(s): State<ApiState>, headers: HeaderMap, query: QueryParams) -> Response {
    respond(list_inner(&s, &headers, query, true).await)
}

async fn list_inner(s: &ApiState, headers: &HeaderMap, query: QueryParams, cdrs: bool) -> Outcome {
    check_admin(s, headers)?;
    let q = query_fields(query)?;
    let (state, kind) = if cdrs {
        (None, Some(OutboxKind::Cdr))
    } else {
        let names: Vec<&str> = OutboxState::ALL.iter().map(|s| s.as_str()).collect();
        let state = q.enum_str("state", &names)?.and_then(|n| OutboxState::parse(&n));
        let kind = q
            .enum_str("kind", &KINDS.map(|(n, _)| n))?
            .and_then(|n| KINDS.iter().find(|(k, _)| *k == n).map(|(_, k)| *k));
        (state, kind)
    };
    let key = app_key_param(&q)?;
    let created_from = time_param(&q, "from")?;
    let created_to = time_param(&q, "to")?;
    if let (Some(from), Some(to)) = (created_from, created_to) {
        if from > to {
            return Err(param_error("from", "must not be after to"));
        }
    }
    let after_id = q.int_range("after", 0, i64::MAX)?.unwrap_or(0).unsigned_abs();
    let limit = q.int_range("limit", 1, MAX_LIMIT)?.unwrap_or(DEFAULT_LIMIT);
    let limit = u32::try_from(limit).unwrap_or(100);
    read(s, move |r| {
        let apps = r.apps().map_err(store_failure)?;
        let app = match &key {
            Some(k) => Some(
                apps.iter()
                    .find(|a| &a.app_key == k)
                    .map(|a| a.id)
                    .ok_or_else(not_found)?,
            ),
            None => None,
        };
        let filter = OutboxFilter {
            state,
            kind,
            app,
            created_from,
            created_to,
            after_id,
        };
        let list = r.outbox_query(&filter, limit).map_err(store_failure)?;
        let next = (list.len() == limit as usize)
            .then(|| list.last().map(|e| e.id))
            .flatten();
        let key_of = |e: &OutboxEntry| apps.iter().find(|a| a.id == e.app).map(|a| a.app_key.clone());
        answer(OutboxBody {
            entries: list.iter().map(|e| view(e, key_of(e))).collect(),
            next,
        })
    })
    .await
}

/// The admin view of one entry.
fn view(e: &OutboxEntry, app_key: Option<String>) -> OutboxEntryView {
    OutboxEntryView {
        id: e.id,
        kind: kind_name(e.kind),
        app_key,
        state: e.state.as_str(),
        created_at: format_datetime(e.created_at),
        done_at: e.done_at.map(format_datetime),
        attempts: e.attempts,
        // Stored payloads are the JSON that is pushed; a row that is not is shown as its text.
        payload: serde_json::from_str(&e.payload).unwrap_or_else(|_| Value::String(e.payload.clone())),
    }
}

/// POST /admin/v1/outbox/replay: dead letters become pending again (by id, or all of one app's).
#[utoipa::path(
    post,
    path = "/admin/v1/outbox/replay",
    tag = "admin",
    operation_id = "admin_replay_outbox",
    request_body = crate::dto::outbox::ReplayOutboxRequest,
    responses((status = 200, description = "resultcode 0 (or a refusal, see ApiResult)", body = crate::dto::Answer<crate::dto::outbox::ReplayBody>)),
    security(("admin" = [])),
    extensions(("x-resultcodes" = json!(["0", "1010040", "1020176", "1020001", "1016001", "1010001"]))),
)]
pub(crate) async fn replay_outbox(State(s): State<ApiState>, headers: HeaderMap, body: Body) -> Response {
    respond(replay_inner(&s, &headers, body).await)
}

async fn replay_inner(s: &ApiState, headers: &HeaderMap, body: Body) -> Outcome {
    check_admin(s, headers)?;
    let f = body_fields(body)?;
    let ids = f.int_list("ids", MAX_REPLAY)?;
    let key = app_key_param(&f)?;
    let ids = match (ids, key) {
        (Some(ids), None) => ids,
        (None, Some(key)) => {
            read(s, move |r| {
                let app = r.app_by_key(&key).map_err(store_failure)?.ok_or_else(not_found)?;
                let filter = OutboxFilter {
                    state: Some(OutboxState::Dead),
                    app: Some(app.id),
                    ..OutboxFilter::default()
                };
                let dead = r
                    .outbox_query(&filter, MAX_REPLAY as u32)
                    .map_err(store_failure)?;
                Ok(dead.iter().map(|e| e.id).collect::<Vec<u64>>())
            })
            .await?
        }
        (Some(_), Some(_)) => return Err(param_error("ids", "and appKey cannot both be given")),
        (None, None) => return Err(param_error("ids", "or appKey is required")),
    };
    let replayed = if ids.is_empty() {
        0
    } else {
        s.engine().replay_outbox(ids).await?
    };
    answer(ReplayBody { replayed })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_names_are_distinct_and_cover_every_kind() {
        let mut names: Vec<&str> = KINDS.iter().map(|(n, _)| *n).collect();
        names.dedup();
        assert_eq!(names.len(), 4);
        for (name, kind) in KINDS {
            assert_eq!(kind_name(kind), name);
        }
    }

    #[test]
    fn time_parameters_take_dates_and_unix_seconds() {
        let parse = |text: &str| {
            let q = Fields::from_query(HashMap::from([("from".to_owned(), text.to_owned())]));
            time_param(&q, "from")
        };
        let t = UnixTime(1_700_000_000);
        assert_eq!(parse("2023-11-14 22:13:20").unwrap(), Some(t));
        assert_eq!(parse("1700000000").unwrap(), Some(t));
        assert_eq!(parse("-1").unwrap(), Some(UnixTime(-1)));
        assert!(parse("2023-11-14").is_err());
        assert!(parse("12x").is_err());
        assert_eq!(parse("").unwrap(), None);
    }
}
