//! AXB: `/rest/caas/relationnumber/partners/v1.0` (POST bind, PUT modify, DELETE unbind, GET query).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use pn_bindings::{App, CallDirection, Mode};
use pn_numbers::E164;
use pn_provision::{AxbBind, AxbBound, AxbModify, AxbUnbind, AxbUnbindBy, ControlsPatch};
use pn_store::BindingFilter;
use serde_json::{Value, json};

use super::{
    MediaUse, call_controls, check_media, controls_media, max_duration, page, pre_voice_changes,
    query_not_found, record_settings, visible, x_select,
};
use crate::dto::AxbQueryBody;
use crate::extract::answer;
use crate::extract::{Outcome, authenticate, body_fields, query_fields, read, respond, store_failure};
use crate::result::ApiFailure;
use crate::state::ApiState;
use crate::validate::{Fields, UserKind, invalid, param_error};

type Body = Result<Bytes, BytesRejection>;
type QueryParams = Result<Query<HashMap<String, String>>, QueryRejection>;

/// An optional subscriber number (`callerNum`, `origNum`, `bindNum`, …) of a modify.
pub(super) fn subscriber_opt(f: &Fields, name: &str) -> Result<Option<E164>, ApiFailure> {
    f.str_opt(name, 1, 32)?
        .map(|t| f.user_number(name, &t, UserKind::Subscriber))
        .transpose()
}

/// The modify fields AX and AXB share, read after the mode's own; `pre_voice` ([`pre_voice_changes`]) is read
/// before them, so a bad `preVoice` is reported first.
pub(super) fn controls_patch(
    f: &Fields,
    pre_voice: (Option<String>, Option<String>),
) -> Result<ControlsPatch, ApiFailure> {
    Ok(ControlsPatch {
        record: f.flag("recordFlag")?,
        record_hint_tone: f.str_opt("recordHintTone", 0, 128)?,
        max_duration: max_duration(f)?,
        last_min_voice: f.str_opt("lastMinVoice", 0, 128)?,
        private_sms: f.flag("privateSms")?,
        caller_hint_tone: pre_voice.0,
        callee_hint_tone: pre_voice.1,
        user_data: f.user_data("userData")?,
    })
}

/// The media use of a modify's shared fields (recordFlag set true, prompt names given).
pub(super) fn patch_media(p: &ControlsPatch) -> MediaUse<'_> {
    MediaUse {
        record: p.record == Some(true),
        ..MediaUse::default()
    }
    .prompt("recordHintTone", p.record_hint_tone.as_ref())
    .prompt("lastMinVoice", p.last_min_voice.as_ref())
    .prompt("preVoice.callerHintTone", p.caller_hint_tone.as_ref())
    .prompt("preVoice.calleeHintTone", p.callee_hint_tone.as_ref())
}

/// POST: bind A–X–B.
#[utoipa::path(
    post,
    path = "/rest/caas/relationnumber/partners/v1.0",
    tag = "AXB",
    operation_id = "axb_bind",
    request_body = crate::dto::requests::AxbBindRequest,
    responses((status = 200, description = "resultcode 0 (or a refusal, see ApiResult)", body = crate::dto::Answer<crate::dto::AxbBindBody>)),
    security(("aksk" = []), ("wsse" = [])),
    extensions(("x-resultcodes" = json!(["0", "1010002", "1010040", "1011001", "1011002", "1012010", "1012102", "1020001", "1010001", "1010003", "1010004", "1020176", "1010010", "1020166", "1023006", "1023007", "1023008", "1023009", "1023010", "1023011", "1023012", "1023033", "1023034", "1023035", "1023036", "1023037", "1023038"]))),
)]
pub(crate) async fn bind(State(s): State<ApiState>, headers: HeaderMap, body: Body) -> Response {
    respond(bind_inner(&s, &headers, body).await)
}

async fn bind_inner(s: &ApiState, headers: &HeaderMap, body: Body) -> Outcome {
    let app = authenticate(s, headers, Mode::Axb)?;
    let f = body_fields(body)?.numbers_for(&app);
    let op = parse_bind(&f, app)?;
    check_media(s, &op.app, &controls_media(&op.record, &op.controls))?;
    let bound = s.engine().axb_bind(op, s.now()).await?;
    Ok(bound_json(&bound))
}

/// The fields of a bind answer.
fn bound_json(b: &AxbBound) -> Value {
    json!({
        "subscriptionId": b.subscription_id,
        "relationNum": b.x.to_string(),
        "callerNum": b.a.to_string(),
        "calleeNum": b.b.to_string(),
    })
}

fn parse_bind(f: &Fields, app: App) -> Result<AxbBind, ApiFailure> {
    let x = x_select(f, "relationNum")?;
    let a = f.user_number("callerNum", &f.str_req("callerNum", 1, 32)?, UserKind::Subscriber)?;
    let b = f.user_number("calleeNum", &f.str_req("calleeNum", 1, 32)?, UserKind::Subscriber)?;
    if a == b {
        return Err(invalid("calleeNum", "must differ from callerNum"));
    }
    Ok(AxbBind {
        x,
        a,
        b,
        direction: f.call_direction("callDirection")?.unwrap_or(CallDirection::Both),
        duration: f.duration_secs("duration")?,
        record: record_settings(f, &app)?,
        controls: call_controls(f)?,
        user_data: f.user_data("userData")?,
        app,
    })
}

/// PUT: modify a binding.
#[utoipa::path(
    put,
    path = "/rest/caas/relationnumber/partners/v1.0",
    tag = "AXB",
    operation_id = "axb_modify",
    request_body = crate::dto::requests::AxbModifyRequest,
    responses((status = 200, description = "resultcode 0 (or a refusal, see ApiResult)", body = crate::dto::Answer<crate::dto::SubscriptionBody>)),
    security(("aksk" = []), ("wsse" = [])),
    extensions(("x-resultcodes" = json!(["0", "1010002", "1010040", "1012007", "1012010", "1020001", "1010001", "1010003", "1010004", "1020176", "1010010", "1020166", "1023006", "1023007", "1023008", "1023009", "1023010", "1023011", "1023012", "1023033", "1023034", "1023035", "1023036", "1023037", "1023038"]))),
)]
pub(crate) async fn modify(State(s): State<ApiState>, headers: HeaderMap, body: Body) -> Response {
    respond(modify_inner(&s, &headers, body).await)
}

async fn modify_inner(s: &ApiState, headers: &HeaderMap, body: Body) -> Outcome {
    let app = authenticate(s, headers, Mode::Axb)?;
    let f = body_fields(body)?.numbers_for(&app);
    let pre_voice = pre_voice_changes(&f)?;
    let duration = f.int_range("duration", 0, 7_776_000)?.map(|d| d as u32);
    let op = AxbModify {
        subscription_id: f.str_req("subscriptionId", 1, 64)?,
        a: subscriber_opt(&f, "callerNum")?,
        b: subscriber_opt(&f, "calleeNum")?,
        direction: f.call_direction("callDirection")?,
        duration,
        patch: controls_patch(&f, pre_voice)?,
        app,
    };
    check_media(s, &op.app, &patch_media(&op.patch))?;
    let sub = s.engine().axb_modify(op, s.now()).await?;
    Ok(super::subscription_json(&sub))
}

/// DELETE: unbind by subscriptionId or relationNum (query string).
#[utoipa::path(
    delete,
    path = "/rest/caas/relationnumber/partners/v1.0",
    tag = "AXB",
    operation_id = "axb_unbind",
    params(crate::dto::requests::AxbUnbindParams),
    responses((status = 200, description = "resultcode 0, or a refusal", body = crate::dto::ApiResult)),
    security(("aksk" = []), ("wsse" = [])),
    extensions(("x-resultcodes" = json!(["0", "1010040", "1012007", "1011001", "1011004", "1020001", "1010001", "1010003", "1010004", "1020176", "1010010", "1020166", "1023006", "1023007", "1023008", "1023009", "1023010", "1023011", "1023012", "1023033", "1023034", "1023035", "1023036", "1023037", "1023038"]))),
)]
pub(crate) async fn unbind(State(s): State<ApiState>, headers: HeaderMap, query: QueryParams) -> Response {
    respond(unbind_inner(&s, &headers, query).await)
}

async fn unbind_inner(s: &ApiState, headers: &HeaderMap, query: QueryParams) -> Outcome {
    let app = authenticate(s, headers, Mode::Axb)?;
    let f = query_fields(query)?.numbers_for(&app);
    let by = if let Some(sub) = f.str_opt("subscriptionId", 1, 64)? {
        AxbUnbindBy::Subscription(sub)
    } else if let Some(x) = f.str_opt("relationNum", 1, 32)? {
        AxbUnbindBy::Number(f.privacy_number("relationNum", &x)?)
    } else {
        return Err(param_error("subscriptionId", "or relationNum is required"));
    };
    s.engine().axb_unbind(AxbUnbind { app, by }, s.now()).await?;
    Ok(json!({}))
}

/// GET: query by subscriptionId, or relationNum (+callerNum/calleeNum), with paging.
#[utoipa::path(
    get,
    path = "/rest/caas/relationnumber/partners/v1.0",
    tag = "AXB",
    operation_id = "axb_query",
    params(crate::dto::requests::AxbQueryParams),
    responses((status = 200, description = "resultcode 0 (or a refusal, see ApiResult)", body = crate::dto::Answer<crate::dto::AxbQueryBody>)),
    security(("aksk" = []), ("wsse" = [])),
    extensions(("x-resultcodes" = json!(["0", "1010040", "1016001", "1020001", "1010001", "1010003", "1010004", "1020176", "1010010", "1020166", "1023006", "1023007", "1023008", "1023009", "1023010", "1023011", "1023012", "1023033", "1023034", "1023035", "1023036", "1023037", "1023038"]))),
)]
pub(crate) async fn query(State(s): State<ApiState>, headers: HeaderMap, query: QueryParams) -> Response {
    respond(query_inner(&s, &headers, query).await)
}

async fn query_inner(s: &ApiState, headers: &HeaderMap, query: QueryParams) -> Outcome {
    let app = authenticate(s, headers, Mode::Axb)?;
    let f = query_fields(query)?.numbers_for(&app);
    let now = s.now();
    let pg = page(&f)?;
    if let Some(sub) = f.str_opt("subscriptionId", 1, 64)? {
        let found = read(s, move |r| r.binding_by_subscription(&sub).map_err(store_failure)).await?;
        let b = found
            .filter(|b| visible(b, &app, now))
            .ok_or_else(query_not_found)?;
        return answer(AxbQueryBody {
            total_count: 1,
            page_index: 1,
            page_size: pg.size,
            relation_num_list: crate::dto::axb_entry(&b).into_iter().collect(),
        });
    }
    let relation = f.query_number("relationNum")?;
    let party_a = f.query_number("callerNum")?;
    let party_b = f.query_number("calleeNum")?;
    if relation.is_none() && party_a.is_none() && party_b.is_none() {
        return Err(param_error("subscriptionId", "or relationNum is required"));
    }
    let filter = BindingFilter {
        app: Some(app.id),
        mode: Some(Mode::Axb),
        x: relation,
        a: party_a,
        b: party_b,
        live_at: Some(now),
        ..BindingFilter::default()
    };
    let (total, list) = read(s, move |r| r.query_bindings(&filter, pg).map_err(store_failure)).await?;
    if total == 0 {
        return Err(query_not_found());
    }
    answer(AxbQueryBody {
        total_count: total,
        page_index: pg.index,
        page_size: pg.size,
        relation_num_list: list.iter().filter_map(crate::dto::axb_entry).collect(),
    })
}
