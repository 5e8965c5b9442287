//! AXE: `/rest/caas/extendnumber/v1.0` (POST bind, PUT modify, DELETE unbind, GET query).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use pn_bindings::{App, AxeFallback, Mode, TimeUnit};
use pn_provision::{AxeBind, AxeModify, AxeTarget, AxeUnbind};
use pn_store::BindingFilter;
use serde_json::json;

use super::axb::subscriber_opt;
use super::{MediaUse, check_media, page, query_not_found, record_settings, visible, x_select};
use crate::dto::AxeListBody;
use crate::extract::answer;
use crate::extract::{Outcome, authenticate, body_fields, query_fields, read, respond, store_failure};
use crate::result::ApiFailure;
use crate::state::ApiState;
use crate::validate::{Fields, UserKind, invalid, param_error};

type Body = Result<Bytes, BytesRejection>;
type QueryParams = Result<Query<HashMap<String, String>>, QueryRejection>;

/// `extendNum`: exactly the app's digit count, digits only, not all zeros.
fn extension(f: &Fields, app: &App) -> Result<Option<String>, ApiFailure> {
    let Some(ext) = f.str_opt("extendNum", 0, 4)?.filter(|e| !e.is_empty()) else {
        return Ok(None);
    };
    let digits = usize::from(app.extension_digits.clamp(1, 4));
    if ext.len() != digits || !ext.bytes().all(|c| c.is_ascii_digit()) {
        return Err(param_error("extendNum", &format!("must be {digits} digits")));
    }
    if ext.bytes().all(|c| c == b'0') {
        return Err(param_error("extendNum", "must not be all zeros"));
    }
    Ok(Some(ext))
}

/// `displayNumMode`: only "0" (X) is allowed.
fn check_display(f: &Fields) -> Result<(), ApiFailure> {
    let Ok(mode) = f.enum_str("displayNumMode", &["0", "1"]) else {
        return Err(invalid("displayNumMode", "must be 0"));
    };
    if mode.as_deref() == Some("1") {
        return Err(invalid(
            "displayNumMode",
            "must be 0: the carrier requires X as the caller ID",
        ));
    }
    Ok(())
}

/// `timeUnit` "0" hours / "1" minutes (anything else is 1010002, as the reference says).
fn time_unit(f: &Fields) -> Result<Option<TimeUnit>, ApiFailure> {
    match f.enum_str("timeUnit", &["0", "1"]) {
        Ok(None) => Ok(None),
        Ok(Some(u)) => Ok(Some(if u == "1" {
            TimeUnit::Minutes
        } else {
            TimeUnit::Hours
        })),
        Err(_) => Err(invalid("timeUnit", "must be 0 (hours) or 1 (minutes)")),
    }
}

/// A non-negative expiry time in `timeUnit` units.
fn expiry_time(f: &Fields, name: &str) -> Result<Option<u32>, ApiFailure> {
    Ok(f.int_range(name, 0, i64::from(u32::MAX))?.map(|v| v as u32))
}

/// `callbackTone` xor `callbackNum`.
fn fallback(f: &Fields) -> Result<Option<AxeFallback>, ApiFailure> {
    let tone = f.tone("callbackTone")?;
    let num = f.str_opt("callbackNum", 1, 32)?;
    match (tone, num) {
        (Some(_), Some(_)) => Err(invalid("callbackTone", "and callbackNum are mutually exclusive")),
        (Some(t), None) => Ok(Some(AxeFallback::Tone(t))),
        (None, Some(n)) => Ok(Some(AxeFallback::Forward(f.user_number(
            "callbackNum",
            &n,
            UserKind::Subscriber,
        )?))),
        (None, None) => Ok(None),
    }
}

/// The prompt name of a `callbackTone` fallback.
fn callback_tone(f: Option<&AxeFallback>) -> Option<&String> {
    match f {
        Some(AxeFallback::Tone(t)) => Some(t),
        _ => None,
    }
}

/// subscriptionId (wins) or virtualNum+extendNum.
fn target(f: &Fields, app: &App) -> Result<AxeTarget, ApiFailure> {
    if let Some(sub) = f.str_opt("subscriptionId", 1, 64)? {
        return Ok(AxeTarget::Subscription(sub));
    }
    match (f.str_opt("virtualNum", 1, 32)?, extension(f, app)?) {
        (Some(x), Some(ext)) => Ok(AxeTarget::Extension(f.privacy_number("virtualNum", &x)?, ext)),
        _ => Err(param_error(
            "subscriptionId",
            "or virtualNum+extendNum is required",
        )),
    }
}

/// POST: bind A to X+E.
#[utoipa::path(
    post,
    path = "/rest/caas/extendnumber/v1.0",
    tag = "AXE",
    operation_id = "axe_bind",
    request_body = crate::dto::requests::AxeBindRequest,
    responses((status = 200, description = "resultcode 0 (or a refusal, see ApiResult)", body = crate::dto::Answer<crate::dto::AxeBindBody>)),
    security(("aksk" = []), ("wsse" = [])),
    extensions(("x-resultcodes" = json!(["0", "1010002", "1010040", "1011001", "1011002", "1012010", "1012102", "1020001", "1020167", "1010001", "1010003", "1010004", "1020176", "1010010", "1020166", "1023006", "1023007", "1023008", "1023009", "1023010", "1023011", "1023012", "1023033", "1023034", "1023035", "1023036", "1023037", "1023038"]))),
)]
pub(crate) async fn bind(State(s): State<ApiState>, headers: HeaderMap, body: Body) -> Response {
    respond(bind_inner(&s, &headers, body).await)
}

async fn bind_inner(s: &ApiState, headers: &HeaderMap, body: Body) -> Outcome {
    let app = authenticate(s, headers, Mode::Axe)?;
    let f = body_fields(body)?.numbers_for(&app);
    check_display(&f)?;
    let op = AxeBind {
        x: x_select(&f, "virtualNum")?,
        a: f.user_number("bindNum", &f.str_req("bindNum", 1, 32)?, UserKind::Subscriber)?,
        extension: extension(&f, &app)?,
        record: record_settings(&f, &app)?,
        fallback: fallback(&f)?.unwrap_or_default(),
        time_unit: time_unit(&f)?.unwrap_or_default(),
        expired_time: expiry_time(&f, "bindExpiredTime")?,
        callback_expired_time: expiry_time(&f, "callbackExpiredTime")?,
        user_data: f.user_data("userData")?,
        app,
    };
    let uses = MediaUse {
        record: op.record.record,
        always: Some("AXE"),
        ..MediaUse::default()
    }
    .prompt("recordHintTone", op.record.hint_tone.as_ref())
    .prompt("callbackTone", callback_tone(Some(&op.fallback)));
    check_media(s, &op.app, &uses)?;
    let bound = s.engine().axe_bind(op, s.now()).await?;
    Ok(json!({
        "subscriptionId": bound.subscription_id,
        "virtualNum": bound.x.to_string(),
        "extendNum": bound.extension,
        "bindNum": bound.a.to_string(),
    }))
}

/// PUT: modify an AXE binding.
#[utoipa::path(
    put,
    path = "/rest/caas/extendnumber/v1.0",
    tag = "AXE",
    operation_id = "axe_modify",
    request_body = crate::dto::requests::AxeModifyRequest,
    responses((status = 200, description = "resultcode 0 (or a refusal, see ApiResult)", body = crate::dto::Answer<crate::dto::SubscriptionBody>)),
    security(("aksk" = []), ("wsse" = [])),
    extensions(("x-resultcodes" = json!(["0", "1010002", "1010040", "1011001", "1012007", "1020001", "1010001", "1010003", "1010004", "1020176", "1010010", "1020166", "1023006", "1023007", "1023008", "1023009", "1023010", "1023011", "1023012", "1023033", "1023034", "1023035", "1023036", "1023037", "1023038"]))),
)]
pub(crate) async fn modify(State(s): State<ApiState>, headers: HeaderMap, body: Body) -> Response {
    respond(modify_inner(&s, &headers, body).await)
}

async fn modify_inner(s: &ApiState, headers: &HeaderMap, body: Body) -> Outcome {
    let app = authenticate(s, headers, Mode::Axe)?;
    let f = body_fields(body)?.numbers_for(&app);
    check_display(&f)?;
    let op = AxeModify {
        target: target(&f, &app)?,
        a: subscriber_opt(&f, "bindNum")?,
        record: f.flag("recordFlag")?,
        record_hint_tone: f.str_opt("recordHintTone", 0, 128)?,
        fallback: fallback(&f)?,
        time_unit: time_unit(&f)?,
        bind_expired_time: expiry_time(&f, "bindExpiredTime")?,
        callback_expired_time: expiry_time(&f, "callbackExpiredTime")?,
        user_data: f.user_data("userData")?,
        app,
    };
    let uses = MediaUse {
        record: op.record == Some(true),
        ..MediaUse::default()
    }
    .prompt("recordHintTone", op.record_hint_tone.as_ref())
    .prompt("callbackTone", callback_tone(op.fallback.as_ref()));
    check_media(s, &op.app, &uses)?;
    let sub = s.engine().axe_modify(op, s.now()).await?;
    Ok(super::subscription_json(&sub))
}

/// DELETE: unbind by subscriptionId or virtualNum+extendNum.
#[utoipa::path(
    delete,
    path = "/rest/caas/extendnumber/v1.0",
    tag = "AXE",
    operation_id = "axe_unbind",
    params(crate::dto::requests::AxeTargetParams),
    responses((status = 200, description = "resultcode 0, or a refusal", body = crate::dto::ApiResult)),
    security(("aksk" = []), ("wsse" = [])),
    extensions(("x-resultcodes" = json!(["0", "1010040", "1012007", "1011001", "1011004", "1020001", "1010001", "1010003", "1010004", "1020176", "1010010", "1020166", "1023006", "1023007", "1023008", "1023009", "1023010", "1023011", "1023012", "1023033", "1023034", "1023035", "1023036", "1023037", "1023038"]))),
)]
pub(crate) async fn unbind(State(s): State<ApiState>, headers: HeaderMap, query: QueryParams) -> Response {
    respond(unbind_inner(&s, &headers, query).await)
}

async fn unbind_inner(s: &ApiState, headers: &HeaderMap, query: QueryParams) -> Outcome {
    let app = authenticate(s, headers, Mode::Axe)?;
    let f = query_fields(query)?.numbers_for(&app);
    let target = target(&f, &app)?;
    s.engine().axe_unbind(AxeUnbind { app, target }, s.now()).await?;
    Ok(json!({}))
}

/// GET: one binding (subscriptionId or virtualNum+extendNum, flat fields) or every extension of a
/// virtualNum (paged `extendNumList`).
#[utoipa::path(
    get,
    path = "/rest/caas/extendnumber/v1.0",
    tag = "AXE",
    operation_id = "axe_query",
    params(crate::dto::requests::AxeTargetParams),
    responses((status = 200, description = "resultcode 0 (or a refusal, see ApiResult)", body = crate::dto::AxeQueryAnswer)),
    security(("aksk" = []), ("wsse" = [])),
    extensions(("x-resultcodes" = json!(["0", "1010040", "1016001", "1020001", "1010001", "1010003", "1010004", "1020176", "1010010", "1020166", "1023006", "1023007", "1023008", "1023009", "1023010", "1023011", "1023012", "1023033", "1023034", "1023035", "1023036", "1023037", "1023038"]))),
)]
pub(crate) async fn query(State(s): State<ApiState>, headers: HeaderMap, query: QueryParams) -> Response {
    respond(query_inner(&s, &headers, query).await)
}

async fn query_inner(s: &ApiState, headers: &HeaderMap, query: QueryParams) -> Outcome {
    let app = authenticate(s, headers, Mode::Axe)?;
    let f = query_fields(query)?.numbers_for(&app);
    let now = s.now();
    if let Some(sub) = f.str_opt("subscriptionId", 1, 64)? {
        let found = read(s, move |r| r.binding_by_subscription(&sub).map_err(store_failure)).await?;
        let b = found
            .filter(|b| visible(b, &app, now))
            .ok_or_else(query_not_found)?;
        return answer(crate::dto::axe_entry(&b).ok_or_else(query_not_found)?);
    }
    let Some(x) = f.str_opt("virtualNum", 1, 32)? else {
        return Err(param_error("subscriptionId", "or virtualNum is required"));
    };
    let number = pn_numbers::normalize(&x).map_err(|_| query_not_found())?;
    f.global_format("virtualNum", &x)?;
    let x = number;
    let ext = extension(&f, &app)?;
    let pg = page(&f)?;
    let single = ext.is_some();
    let filter = BindingFilter {
        app: Some(app.id),
        mode: Some(Mode::Axe),
        x: Some(x),
        extension: ext,
        live_at: Some(now),
        ..BindingFilter::default()
    };
    let (total, list) = read(s, move |r| r.query_bindings(&filter, pg).map_err(store_failure)).await?;
    if total == 0 {
        return Err(query_not_found());
    }
    if single {
        let one = list.first().and_then(crate::dto::axe_entry);
        return answer(one.ok_or_else(query_not_found)?);
    }
    answer(AxeListBody {
        total_count: total,
        page_index: pg.index,
        page_size: pg.size,
        extend_num_list: list.iter().filter_map(crate::dto::axe_entry).collect(),
    })
}
