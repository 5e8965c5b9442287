//! AX: `/rest/provision/caas/privatenumber/v1.0` (POST bind, PUT modify, DELETE unbind, GET query) and
//! `/rest/caas/privatenumber/calleenumber/v1.0` (PUT temporary callee).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use pn_bindings::{CallDirection, Mode};
use pn_provision::{AxBind, AxModify, AxTarget, AxTempCallee, AxUnbind};
use pn_store::BindingFilter;
use serde_json::json;

use super::axb::{controls_patch, patch_media, subscriber_opt};
use super::{
    call_controls, check_media, controls_media, pre_voice_changes, query_not_found, record_settings, visible,
    x_select,
};
use crate::extract::answer;
use crate::extract::{Outcome, authenticate, body_fields, query_fields, read, respond, store_failure};
use crate::result::ApiFailure;
use crate::state::ApiState;
use crate::validate::{Fields, UserKind, invalid, param_error};

type Body = Result<Bytes, BytesRejection>;
type QueryParams = Result<Query<HashMap<String, String>>, QueryRejection>;

/// `turnFlag` "on"/"off".
fn turn_flag(f: &Fields) -> Result<Option<bool>, ApiFailure> {
    Ok(f.enum_str("turnFlag", &["on", "off"])?.map(|t| t == "on"))
}

/// `calleeNumDisplay`: only "0" (X) is allowed.
fn check_display(f: &Fields) -> Result<(), ApiFailure> {
    match f.enum_str("calleeNumDisplay", &["0", "1"])?.as_deref() {
        Some("1") => Err(invalid(
            "calleeNumDisplay",
            "must be 0: the carrier requires X as the caller ID",
        )),
        _ => Ok(()),
    }
}

/// subscriptionId (wins) or privateNum (+origNum).
fn target(f: &Fields) -> Result<AxTarget, ApiFailure> {
    if let Some(sub) = f.str_opt("subscriptionId", 1, 64)? {
        return Ok(AxTarget::Subscription(sub));
    }
    let Some(x) = f.str_opt("privateNum", 1, 32)? else {
        return Err(param_error("subscriptionId", "or privateNum is required"));
    };
    let a = match f.str_opt("origNum", 1, 32)? {
        Some(a) => {
            let number =
                pn_numbers::normalize(&a).map_err(|_| param_error("origNum", "is not a valid number"))?;
            f.global_format("origNum", &a)?;
            Some(number)
        }
        None => None,
    };
    Ok(AxTarget::Number(f.privacy_number("privateNum", &x)?, a))
}

/// subscriptionId (wins) or privateNum, without an origNum check; neither → 1020001 `subscriptionId {missing}`.
fn x_target(f: &Fields, missing: &str) -> Result<AxTarget, ApiFailure> {
    match f.str_opt("subscriptionId", 1, 64)? {
        Some(sub) => Ok(AxTarget::Subscription(sub)),
        None => match f.str_opt("privateNum", 1, 32)? {
            Some(x) => Ok(AxTarget::Number(f.privacy_number("privateNum", &x)?, None)),
            None => Err(param_error("subscriptionId", missing)),
        },
    }
}

/// POST: bind A–X.
#[utoipa::path(
    post,
    path = "/rest/provision/caas/privatenumber/v1.0",
    tag = "AX",
    operation_id = "ax_bind",
    request_body = crate::dto::requests::AxBindRequest,
    responses((status = 200, description = "resultcode 0 (or a refusal, see ApiResult)", body = crate::dto::Answer<crate::dto::AxBindBody>)),
    security(("aksk" = []), ("wsse" = [])),
    extensions(("x-resultcodes" = json!(["0", "1010002", "1010040", "1011001", "1011002", "1011005", "1016002", "1012102", "1020001", "1010001", "1010003", "1010004", "1020176", "1010010", "1020166", "1023006", "1023007", "1023008", "1023009", "1023010", "1023011", "1023012", "1023033", "1023034", "1023035", "1023036", "1023037", "1023038"]))),
)]
pub(crate) async fn bind(State(s): State<ApiState>, headers: HeaderMap, body: Body) -> Response {
    respond(bind_inner(&s, &headers, body).await)
}

async fn bind_inner(s: &ApiState, headers: &HeaderMap, body: Body) -> Outcome {
    let app = authenticate(s, headers, Mode::Ax)?;
    let f = body_fields(body)?.numbers_for(&app);
    check_display(&f)?;
    f.str_opt("privateNumType", 0, 32)?;
    let op = AxBind {
        x: x_select(&f, "privateNum")?,
        a: f.user_number("origNum", &f.str_req("origNum", 1, 32)?, UserKind::Subscriber)?,
        direction: f.call_direction("callDirection")?.unwrap_or(CallDirection::Both),
        turn_on: turn_flag(&f)?.unwrap_or(true),
        record: record_settings(&f, &app)?,
        controls: call_controls(&f)?,
        user_data: f.user_data("userData")?,
        app,
    };
    check_media(s, &op.app, &controls_media(&op.record, &op.controls))?;
    let bound = s.engine().ax_bind(op, s.now()).await?;
    Ok(json!({
        "origNum": bound.a.to_string(),
        "privateNum": bound.x.to_string(),
        "subscriptionId": bound.subscription_id,
    }))
}

/// PUT: modify an AX binding.
#[utoipa::path(
    put,
    path = "/rest/provision/caas/privatenumber/v1.0",
    tag = "AX",
    operation_id = "ax_modify",
    request_body = crate::dto::requests::AxModifyRequest,
    responses((status = 200, description = "resultcode 0 (or a refusal, see ApiResult)", body = crate::dto::Answer<crate::dto::SubscriptionBody>)),
    security(("aksk" = []), ("wsse" = [])),
    extensions(("x-resultcodes" = json!(["0", "1010002", "1010040", "1011002", "1012007", "1020001", "1010001", "1010003", "1010004", "1020176", "1010010", "1020166", "1023006", "1023007", "1023008", "1023009", "1023010", "1023011", "1023012", "1023033", "1023034", "1023035", "1023036", "1023037", "1023038"]))),
)]
pub(crate) async fn modify(State(s): State<ApiState>, headers: HeaderMap, body: Body) -> Response {
    respond(modify_inner(&s, &headers, body).await)
}

async fn modify_inner(s: &ApiState, headers: &HeaderMap, body: Body) -> Outcome {
    let app = authenticate(s, headers, Mode::Ax)?;
    let f = body_fields(body)?.numbers_for(&app);
    check_display(&f)?;
    // origNum identifies the new A here, not the binding: the binding is subscriptionId or privateNum.
    let target = x_target(&f, "is required")?;
    let pre_voice = pre_voice_changes(&f)?;
    let op = AxModify {
        target,
        a: subscriber_opt(&f, "origNum")?,
        direction: f.call_direction("callDirection")?,
        turn_on: turn_flag(&f)?,
        patch: controls_patch(&f, pre_voice)?,
        app,
    };
    check_media(s, &op.app, &patch_media(&op.patch))?;
    let sub = s.engine().ax_modify(op, s.now()).await?;
    Ok(super::subscription_json(&sub))
}

/// DELETE: unbind by subscriptionId, privateNum, or origNum+privateNum.
#[utoipa::path(
    delete,
    path = "/rest/provision/caas/privatenumber/v1.0",
    tag = "AX",
    operation_id = "ax_unbind",
    params(crate::dto::requests::AxTargetParams),
    responses((status = 200, description = "resultcode 0, or a refusal", body = crate::dto::ApiResult)),
    security(("aksk" = []), ("wsse" = [])),
    extensions(("x-resultcodes" = json!(["0", "1010040", "1012007", "1011001", "1011004", "1020001", "1010001", "1010003", "1010004", "1020176", "1010010", "1020166", "1023006", "1023007", "1023008", "1023009", "1023010", "1023011", "1023012", "1023033", "1023034", "1023035", "1023036", "1023037", "1023038"]))),
)]
pub(crate) async fn unbind(State(s): State<ApiState>, headers: HeaderMap, query: QueryParams) -> Response {
    respond(unbind_inner(&s, &headers, query).await)
}

async fn unbind_inner(s: &ApiState, headers: &HeaderMap, query: QueryParams) -> Outcome {
    let app = authenticate(s, headers, Mode::Ax)?;
    let f = query_fields(query)?.numbers_for(&app);
    let target = target(&f)?;
    s.engine().ax_unbind(AxUnbind { app, target }, s.now()).await?;
    Ok(json!({}))
}

/// GET: query by subscriptionId > origNum > privateNum.
#[utoipa::path(
    get,
    path = "/rest/provision/caas/privatenumber/v1.0",
    tag = "AX",
    operation_id = "ax_query",
    params(crate::dto::requests::AxTargetParams),
    responses((status = 200, description = "resultcode 0 (or a refusal, see ApiResult)", body = crate::dto::Answer<crate::dto::AxQueryBody>)),
    security(("aksk" = []), ("wsse" = [])),
    extensions(("x-resultcodes" = json!(["0", "1010040", "1016001", "1020001", "1010001", "1010003", "1010004", "1020176", "1010010", "1020166", "1023006", "1023007", "1023008", "1023009", "1023010", "1023011", "1023012", "1023033", "1023034", "1023035", "1023036", "1023037", "1023038"]))),
)]
pub(crate) async fn query(State(s): State<ApiState>, headers: HeaderMap, query: QueryParams) -> Response {
    respond(query_inner(&s, &headers, query).await)
}

async fn query_inner(s: &ApiState, headers: &HeaderMap, query: QueryParams) -> Outcome {
    let app = authenticate(s, headers, Mode::Ax)?;
    let f = query_fields(query)?.numbers_for(&app);
    let now = s.now();
    let list = if let Some(sub) = f.str_opt("subscriptionId", 1, 64)? {
        let found = read(s, move |r| r.binding_by_subscription(&sub).map_err(store_failure)).await?;
        found.filter(|b| visible(b, &app, now)).into_iter().collect()
    } else {
        let mut filter = BindingFilter {
            app: Some(app.id),
            mode: Some(Mode::Ax),
            live_at: Some(now),
            ..BindingFilter::default()
        };
        if let Some(a) = f.query_number("origNum")? {
            filter.a = Some(a);
        } else if let Some(x) = f.query_number("privateNum")? {
            filter.x = Some(x);
        } else {
            return Err(param_error(
                "subscriptionId",
                "or origNum or privateNum is required",
            ));
        }
        let page = pn_store::Page { index: 1, size: 100 };
        read(s, move |r| r.query_bindings(&filter, page).map_err(store_failure))
            .await?
            .1
    };
    if list.is_empty() {
        return Err(query_not_found());
    }
    answer(crate::dto::AxQueryBody {
        private_num_list: list.iter().filter_map(crate::dto::ax_entry).collect(),
    })
}

/// PUT calleenumber: set the temporary callee.
#[utoipa::path(
    put,
    path = "/rest/caas/privatenumber/calleenumber/v1.0",
    tag = "AX",
    operation_id = "ax_temp_callee",
    request_body = crate::dto::requests::AxTempCalleeRequest,
    responses((status = 200, description = "resultcode 0 (or a refusal, see ApiResult)", body = crate::dto::Answer<crate::dto::SubscriptionBody>)),
    security(("aksk" = []), ("wsse" = [])),
    extensions(("x-resultcodes" = json!(["0", "1010002", "1010040", "1011001", "1011004", "1012007", "1020001", "1010001", "1010003", "1010004", "1020176", "1010010", "1020166", "1023006", "1023007", "1023008", "1023009", "1023010", "1023011", "1023012", "1023033", "1023034", "1023035", "1023036", "1023037", "1023038"]))),
)]
pub(crate) async fn temp_callee(State(s): State<ApiState>, headers: HeaderMap, body: Body) -> Response {
    respond(temp_callee_inner(&s, &headers, body).await)
}

async fn temp_callee_inner(s: &ApiState, headers: &HeaderMap, body: Body) -> Outcome {
    let app = authenticate(s, headers, Mode::Ax)?;
    let f = body_fields(body)?.numbers_for(&app);
    let target = x_target(&f, "or privateNum is required")?;
    let callee = f.user_number(
        "calleeNum",
        &f.str_req("calleeNum", 1, 32)?,
        UserKind::AnyDomestic,
    )?;
    let duration = f.int_range("duration", 1, 259_200)?.unwrap_or(60) as u32;
    let op = AxTempCallee {
        target,
        callee,
        duration,
        user_data: f.user_data("userData")?,
        app,
    };
    let sub = s.engine().ax_temp_callee(op, s.now()).await?;
    Ok(super::subscription_json(&sub))
}
