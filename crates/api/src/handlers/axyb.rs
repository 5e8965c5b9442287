//! AXYB: `/rest/omp/xyrelationnumber/v1.0` (POST bind / add relation, DELETE unbind, GET query).
//! `?app_key=` may be present on every call; when it is, it must name the authenticated app (else 1010003).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use pn_bindings::{App, Binding, BindingKind, CallDirection, Mode};
use pn_numbers::E164;
use pn_provision::{AxybBind, AxybBound, AxybRelation, AxybUnbind};
use pn_store::{BindingFilter, Page};
use serde_json::{Value, json};

use super::{MediaUse, check_media, query_not_found, record_settings, visible, x_select};
use crate::dto::{AxybEntry, AxybQueryBody};
use crate::extract::answer;
use crate::extract::{Outcome, authenticate, body_fields, query_fields, read, respond, store_failure};
use crate::result::{ApiFailure, ResultCode};
use crate::state::ApiState;
use crate::validate::{Fields, UserKind, invalid, param_error};

type Body = Result<Bytes, BytesRejection>;
type QueryParams = Result<Query<HashMap<String, String>>, QueryRejection>;

/// Most entries one query returns.
const MAX_ENTRIES: u32 = 1000;

/// Authenticates and checks `?app_key=` against the authenticated app.
fn auth(s: &ApiState, headers: &HeaderMap, q: &Fields) -> Result<App, ApiFailure> {
    let app = authenticate(s, headers, Mode::Axyb)?;
    match q.str_opt("app_key", 1, 128)? {
        Some(k) if k != app.app_key => Err(ApiFailure::new(ResultCode::INVALID_APP_KEY, "Invalid app_key")),
        _ => Ok(app),
    }
}

/// POST: first step (A–X, optional first B) or, with subscriptionId, a Y–B relation.
#[utoipa::path(
    post,
    path = "/rest/omp/xyrelationnumber/v1.0",
    tag = "AXYB",
    operation_id = "axyb_bind",
    params(crate::dto::requests::AxybKeyParams),
    request_body = crate::dto::requests::AxybBindRequest,
    responses((status = 200, description = "resultcode 0 (or a refusal, see ApiResult)", body = crate::dto::Answer<crate::dto::AxybBindBody>)),
    security(("aksk" = []), ("wsse" = [])),
    extensions(("x-resultcodes" = json!(["0", "1010002", "1010003", "1010040", "1011001", "1011002", "1011005", "1012007", "1012010", "1012102", "1020001", "1010001", "1010003", "1010004", "1020176", "1010010", "1020166", "1023006", "1023007", "1023008", "1023009", "1023010", "1023011", "1023012", "1023033", "1023034", "1023035", "1023036", "1023037", "1023038"]))),
)]
pub(crate) async fn bind(
    State(s): State<ApiState>,
    headers: HeaderMap,
    query: QueryParams,
    body: Body,
) -> Response {
    respond(bind_inner(&s, &headers, query, body).await)
}

async fn bind_inner(s: &ApiState, headers: &HeaderMap, query: QueryParams, body: Body) -> Outcome {
    let q = query_fields(query)?;
    let app = auth(s, headers, &q)?;
    let f = body_fields(body)?.numbers_for(&app);
    let party_b = match f.str_opt("calleeNum", 1, 32)?.or(f.str_opt("numB", 1, 32)?) {
        Some(t) => Some(f.user_number("calleeNum", &t, UserKind::Subscriber)?),
        None => None,
    };
    if let Some(sub) = f.str_opt("subscriptionId", 1, 64)? {
        // Second step: B is `calleeNum`/`numB`, or `origNum` as the reference service names it. With both,
        // `origNum` must be the binding's A or that same B (checked by the engine).
        let orig = match f.str_opt("origNum", 1, 32)? {
            Some(t) => Some(f.user_number("origNum", &t, UserKind::Subscriber)?),
            None => None,
        };
        let (b, orig) = match (party_b, orig) {
            (Some(b), orig) => (b, orig),
            (None, Some(b)) => (b, None),
            (None, None) => {
                return Err(param_error(
                    "calleeNum",
                    "(or origNum) is required with subscriptionId",
                ));
            }
        };
        let bound = s
            .engine()
            .axyb_relation(
                AxybRelation {
                    app,
                    subscription_id: sub,
                    b,
                    orig,
                },
                s.now(),
            )
            .await?;
        return Ok(bound_json(&bound));
    }
    let party_a = f.user_number("origNum", &f.str_req("origNum", 1, 32)?, UserKind::Subscriber)?;
    if party_b == Some(party_a) {
        return Err(invalid("calleeNum", "must differ from origNum"));
    }
    let duration = f.duration_secs("duration")?;
    let yb_duration = f.duration_secs("ybDuration")?;
    if let (Some(d), Some(yb)) = (duration.filter(|d| *d > 0), yb_duration) {
        if yb > d {
            return Err(invalid("ybDuration", "must not exceed duration"));
        }
    }
    let op = AxybBind {
        x: x_select(&f, "relationNum")?,
        a: party_a,
        direction: f.call_direction("callDirection")?.unwrap_or(CallDirection::Both),
        duration,
        yb_duration,
        record: record_settings(&f, &app)?,
        pre_voice_x: f.tone("preVoiceX")?,
        pre_voice_y: f.tone("preVoiceY")?,
        user_data: f.user_data("userData")?,
        b: party_b,
        app,
    };
    let uses = MediaUse {
        record: op.record.record,
        ..MediaUse::default()
    }
    .prompt("recordHintTone", op.record.hint_tone.as_ref())
    .prompt("preVoiceX", op.pre_voice_x.as_ref())
    .prompt("preVoiceY", op.pre_voice_y.as_ref());
    check_media(s, &op.app, &uses)?;
    let bound = s.engine().axyb_bind(op, s.now()).await?;
    Ok(bound_json(&bound))
}

/// The fields of a bind or relation answer: the binding, and the relation it made if any.
fn bound_json(bound: &AxybBound) -> Value {
    let mut out = json!({
        "subscriptionId": bound.subscription_id,
        "relationNumber": bound.x.to_string(),
    });
    if let (Some(o), Some(rel)) = (out.as_object_mut(), &bound.relation) {
        o.insert("bindId".into(), rel.bind_id.clone().into());
        o.insert("numY".into(), rel.y.to_string().into());
        o.insert("numB".into(), rel.b.to_string().into());
    }
    out
}

/// DELETE: subscriptionId (A–X part with its relations, or one relation) or relationNum; with `bNum`/`numB`
/// and/or `yNum`/`numY` (or an `origNum` that names a B) only the matching Y–B relation is released.
#[utoipa::path(
    delete,
    path = "/rest/omp/xyrelationnumber/v1.0",
    tag = "AXYB",
    operation_id = "axyb_unbind",
    params(crate::dto::requests::AxybUnbindParams),
    responses((status = 200, description = "resultcode 0, or a refusal", body = crate::dto::ApiResult)),
    security(("aksk" = []), ("wsse" = [])),
    extensions(("x-resultcodes" = json!(["0", "1010003", "1010040", "1011001", "1011004", "1012007", "1020001", "1010001", "1010003", "1010004", "1020176", "1010010", "1020166", "1023006", "1023007", "1023008", "1023009", "1023010", "1023011", "1023012", "1023033", "1023034", "1023035", "1023036", "1023037", "1023038"]))),
)]
pub(crate) async fn unbind(State(s): State<ApiState>, headers: HeaderMap, query: QueryParams) -> Response {
    respond(unbind_inner(&s, &headers, query).await)
}

/// The first of `names` present in the query, as a number (any accepted format; unparsable → 1020001).
fn first_number(q: &Fields, names: &[&str]) -> Result<Option<E164>, ApiFailure> {
    for name in names {
        if let Some(n) = q.query_number(name)? {
            return Ok(Some(n));
        }
    }
    Ok(None)
}

async fn unbind_inner(s: &ApiState, headers: &HeaderMap, query: QueryParams) -> Outcome {
    let q = query_fields(query)?;
    let app = auth(s, headers, &q)?;
    let q = q.numbers_for(&app);
    let subscription_id = q.str_opt("subscriptionId", 1, 64)?;
    let x = match (&subscription_id, q.str_opt("relationNum", 1, 32)?) {
        (None, Some(x)) => Some(q.privacy_number("relationNum", &x)?),
        (None, None) => return Err(param_error("subscriptionId", "or relationNum is required")),
        _ => None,
    };
    s.engine()
        .axyb_unbind(
            AxybUnbind {
                app,
                subscription_id,
                x,
                b: first_number(&q, &["bNum", "numB", "calleeNum"])?,
                y: first_number(&q, &["yNum", "numY"])?,
                orig: q.query_number("origNum")?,
            },
            s.now(),
        )
        .await?;
    Ok(json!({}))
}

/// GET: `xyRelationNumList` by subscriptionId or relationNum.
#[utoipa::path(
    get,
    path = "/rest/omp/xyrelationnumber/v1.0",
    tag = "AXYB",
    operation_id = "axyb_query",
    params(crate::dto::requests::AxybQueryParams),
    responses((status = 200, description = "resultcode 0 (or a refusal, see ApiResult)", body = crate::dto::Answer<crate::dto::AxybQueryBody>)),
    security(("aksk" = []), ("wsse" = [])),
    extensions(("x-resultcodes" = json!(["0", "1010003", "1010040", "1016001", "1020001", "1010001", "1010003", "1010004", "1020176", "1010010", "1020166", "1023006", "1023007", "1023008", "1023009", "1023010", "1023011", "1023012", "1023033", "1023034", "1023035", "1023036", "1023037", "1023038"]))),
)]
pub(crate) async fn query(State(s): State<ApiState>, headers: HeaderMap, query: QueryParams) -> Response {
    respond(query_inner(&s, &headers, query).await)
}

/// Entries of A–X parts and their relations: one per relation, or one for a part without relations.
fn entries(parents: &[Binding], relations: &[Binding]) -> Vec<AxybEntry> {
    let mut out = Vec::new();
    for p in parents {
        let mine: Vec<&Binding> = relations
            .iter()
            .filter(|r| matches!(&r.kind, BindingKind::Yb(y) if y.parent == p.id))
            .collect();
        if mine.is_empty() {
            out.extend(crate::dto::axyb_entry(p, None));
        } else {
            out.extend(
                mine.into_iter()
                    .filter_map(|r| crate::dto::axyb_entry(p, Some(r))),
            );
        }
    }
    out
}

async fn query_inner(s: &ApiState, headers: &HeaderMap, query: QueryParams) -> Outcome {
    let q = query_fields(query)?;
    let app = auth(s, headers, &q)?;
    let q = q.numbers_for(&app);
    let now = s.now();
    let page = Page {
        index: 1,
        size: MAX_ENTRIES,
    };
    let list = if let Some(sub) = q.str_opt("subscriptionId", 1, 64)? {
        let app2 = app.clone();
        read(s, move |r| {
            let Some(b) = r
                .binding_by_subscription(&sub)
                .map_err(store_failure)?
                .filter(|b| visible(b, &app2, now))
            else {
                return Ok(Vec::new());
            };
            if let BindingKind::Yb(y) = &b.kind {
                let parent = r.binding(y.parent).map_err(store_failure)?;
                Ok(parent
                    .and_then(|p| crate::dto::axyb_entry(&p, Some(&b)))
                    .into_iter()
                    .collect())
            } else {
                let f = BindingFilter {
                    parent: Some(b.id),
                    live_at: Some(now),
                    ..BindingFilter::default()
                };
                let rels = r.query_bindings(&f, page).map_err(store_failure)?.1;
                Ok(entries(std::slice::from_ref(&b), &rels))
            }
        })
        .await?
    } else if let Some(x) = q.query_number("relationNum")? {
        let f = BindingFilter {
            app: Some(app.id),
            mode: Some(Mode::Axyb),
            x: Some(x),
            live_at: Some(now),
            ..BindingFilter::default()
        };
        let all = read(s, move |r| r.query_bindings(&f, page).map_err(store_failure))
            .await?
            .1;
        let (parents, rels): (Vec<Binding>, Vec<Binding>) = all
            .into_iter()
            .partition(|b| matches!(b.kind, BindingKind::Axyb(_)));
        entries(&parents, &rels)
    } else {
        return Err(param_error("subscriptionId", "or relationNum is required"));
    };
    if list.is_empty() {
        return Err(query_not_found());
    }
    answer(AxybQueryBody {
        xy_relation_num_list: list,
    })
}
