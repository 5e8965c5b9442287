//! Admin API (`Authorization: Bearer <admin_token>`): apps and the number pool. Disabled (403) when no token
//! is configured. Writes go through the engine like every other write.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::Response;
use pn_bindings::XNumber;
use pn_bindings::{Mode, NumberStatus, PushAuth};
use pn_numbers::E164;
use pn_provision::{
    AppMediaPatch, AppPushPatch, Change, CreateApp, ImportNumbers, NumberImport, RetireNumber, SetNumber,
    UNAVAILABLE_CAUSES, UpdateApp, status_name,
};
use serde_json::{Value, json};

use crate::dto::{
    AppBody, AppView, AppsBody, AskDecision, AskTrace, CollectDecision, CollectTrace, ConnectDecision,
    ConnectTrace, RejectDecision, RejectTrace,
};
use crate::extract::answer;
use crate::extract::{Outcome, body_fields, query_fields, read, respond, store_failure};
use crate::result::{ApiFailure, ResultCode};
use crate::state::ApiState;
use crate::validate::{Fields, param_error};
use pn_provision::media::prompt_name_ok;

type Body = Result<Bytes, BytesRejection>;
type QueryParams = Result<Query<HashMap<String, String>>, QueryRejection>;
type PathParam = Result<Path<String>, PathRejection>;

/// Most numbers one import may carry.
const MAX_IMPORT: usize = 10_000;

/// Checks the admin bearer token.
pub(crate) fn check_admin(s: &ApiState, headers: &HeaderMap) -> Result<(), ApiFailure> {
    let Some(expected) = s.config().admin_token.as_deref().filter(|t| !t.is_empty()) else {
        return Err(ApiFailure::new(
            ResultCode::ADMIN_DISABLED,
            "The admin API is disabled (no admin_token configured)",
        ));
    };
    let presented = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    if crate::auth::verify_admin_token(expected, presented) {
        Ok(())
    } else {
        Err(ApiFailure::new(
            ResultCode::ADMIN_UNAUTHORIZED,
            "Authentication failed: bad or missing admin bearer token",
        ))
    }
}

fn path(p: PathParam) -> Result<String, ApiFailure> {
    p.map(|Path(v)| v)
        .map_err(|_| param_error("path", "is malformed"))
}

fn mode(f: &Fields) -> Result<Option<Mode>, ApiFailure> {
    Ok(f.enum_str("mode", &["AXB", "AX", "AXE", "AXYB", "X"])?
        .map(|m| match m.as_str() {
            "X" => Mode::X,
            "AX" => Mode::Ax,
            "AXE" => Mode::Axe,
            "AXYB" => Mode::Axyb,
            _ => Mode::Axb,
        }))
}

fn app_key(f: &Fields) -> Result<Option<String>, ApiFailure> {
    let key = f.str_opt("appKey", 1, 64)?;
    if key.as_ref().is_some_and(|k| {
        !k.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
    }) {
        return Err(param_error("appKey", "must be letters, digits, - or _"));
    }
    Ok(key)
}

fn url(f: &Fields, name: &str) -> Result<Option<String>, ApiFailure> {
    let u = f.str_opt(name, 1, 1024)?;
    if u.as_ref()
        .is_some_and(|u| !(u.starts_with("http://") || u.starts_with("https://")))
    {
        return Err(param_error(name, "must be an http:// or https:// URL"));
    }
    Ok(u)
}

fn small(f: &Fields, name: &str, lo: i64, hi: i64) -> Result<Option<u8>, ApiFailure> {
    Ok(f.int_range(name, lo, hi)?.map(|v| v as u8))
}

/// A prompt-name field of the app settings: absent → keep, `""` → clear, a valid name → set.
fn prompt_field(f: &Fields, name: &str) -> Result<Change<String>, ApiFailure> {
    match f.str_opt(name, 0, 128)? {
        None => Ok(Change::Keep),
        Some(v) if v.is_empty() => Ok(Change::Clear),
        Some(v) if prompt_name_ok(&v) => Ok(Change::Set(v)),
        Some(_) => Err(param_error(
            name,
            "must be a prompt file name: 1-64 characters of A-Z a-z 0-9 _ . - followed by .wav",
        )),
    }
}

/// The app media fields of a create or update body.
pub(crate) fn media_patch(f: &Fields) -> Result<AppMediaPatch, ApiFailure> {
    let terminator = match f.str_opt("digitTerminator", 0, 1)?.as_deref() {
        None => Change::Keep,
        Some("") => Change::Clear,
        Some("#") => Change::Set('#'),
        Some("*") => Change::Set('*'),
        Some(_) => {
            return Err(param_error(
                "digitTerminator",
                "must be \"#\", \"*\" or \"\" (none)",
            ));
        }
    };
    Ok(AppMediaPatch {
        no_binding_prompt: prompt_field(f, "noBindingPrompt")?,
        no_permission_prompt: prompt_field(f, "noPermissionPrompt")?,
        service_error_prompt: prompt_field(f, "serviceErrorPrompt")?,
        extension_prompt: prompt_field(f, "extensionPrompt")?,
        invalid_extension_prompt: prompt_field(f, "invalidExtensionPrompt")?,
        first_digit_timeout_ms: f
            .int_range("firstDigitTimeoutMs", 1000, 60_000)?
            .map(|v| v as u32),
        inter_digit_timeout_ms: f
            .int_range("interDigitTimeoutMs", 1000, 30_000)?
            .map(|v| v as u32),
        digit_terminator: terminator,
        inband_dtmf: f.flag("inbandDtmf")?,
        answer_before_collect: f.flag("answerBeforeCollect")?,
    })
}

/// A URL field that `""` clears: absent → keep, `""` → clear, an http(s) URL → set.
fn url_change(f: &Fields, name: &str) -> Result<Change<String>, ApiFailure> {
    if f.str_opt(name, 0, 1024)?.is_some_and(|u| u.is_empty()) {
        return Ok(Change::Clear);
    }
    Ok(url(f, name)?.map_or(Change::Keep, Change::Set))
}

/// The app push fields of a create or update body.
pub(crate) fn push_patch(f: &Fields) -> Result<AppPushPatch, ApiFailure> {
    Ok(AppPushPatch {
        num_status: f.flag("numStatusEnabled")?,
        status_url: url_change(f, "numStatusUrl")?,
        sms_control_url: url_change(f, "smsControlUrl")?,
        sms_content: f.flag("smsContentEnabled")?,
        auth: f.enum_str("pushAuth", &["aksk", "wsse"])?.map(|v| {
            if v == "wsse" {
                PushAuth::Wsse
            } else {
                PushAuth::Aksk
            }
        }),
    })
}

fn pool_number(field: &str, text: &str) -> Result<E164, ApiFailure> {
    pn_numbers::normalize(text).map_err(|_| param_error(field, "is not a valid number"))
}

/// POST /admin/v1/apps.
#[utoipa::path(
    post,
    path = "/admin/v1/apps",
    tag = "admin",
    operation_id = "admin_create_app",
    request_body = crate::dto::requests::CreateAppRequest,
    responses((status = 200, description = "resultcode 0 (or a refusal, see ApiResult)", body = crate::dto::Answer<crate::dto::AppBody>)),
    security(("admin" = [])),
    extensions(("x-resultcodes" = json!(["0", "1010040", "1020176", "1020001", "1012007", "1016001", "1016002", "1012010"]))),
)]
pub(crate) async fn create_app(State(s): State<ApiState>, headers: HeaderMap, body: Body) -> Response {
    respond(create_app_inner(&s, &headers, body).await)
}

async fn create_app_inner(s: &ApiState, headers: &HeaderMap, body: Body) -> Outcome {
    check_admin(s, headers)?;
    let f = body_fields(body)?;
    let op = CreateApp {
        name: f.str_req("name", 1, 128)?,
        mode: mode(&f)?.ok_or_else(|| param_error("mode", "is required"))?,
        app_key: app_key(&f)?,
        app_secret: f.str_opt("appSecret", 8, 128)?,
        call_status_url: url(&f, "callStatusUrl")?,
        cdr_url: url(&f, "cdrUrl")?,
        sms_url: url(&f, "smsUrl")?,
        record_enabled: f.flag("recordEnabled")?.unwrap_or(false),
        sms_enabled: f.flag("smsEnabled")?.unwrap_or(false),
        extension_digits: small(&f, "extensionDigits", 1, 4)?.unwrap_or(4),
        collect_repeat: small(&f, "collectRepeat", 1, 9)?.unwrap_or(3),
        media: media_patch(&f)?,
        push: push_patch(&f)?,
        allow_national_numbers: f.flag("allowNationalNumbers")?.unwrap_or(false),
    };
    let app = s.engine().create_app(op, s.now()).await?;
    Ok(json!({ "app": crate::dto::app_json(&app) }))
}

/// GET /admin/v1/apps.
#[utoipa::path(
    get,
    path = "/admin/v1/apps",
    tag = "admin",
    operation_id = "admin_list_apps",
    responses((status = 200, description = "resultcode 0 (or a refusal, see ApiResult)", body = crate::dto::Answer<crate::dto::AppsBody>)),
    security(("admin" = [])),
    extensions(("x-resultcodes" = json!(["0", "1010040", "1020176", "1020001", "1012007", "1016001", "1016002", "1012010"]))),
)]
pub(crate) async fn list_apps(State(s): State<ApiState>, headers: HeaderMap) -> Response {
    respond(list_apps_inner(&s, &headers).await)
}

async fn list_apps_inner(s: &ApiState, headers: &HeaderMap) -> Outcome {
    check_admin(s, headers)?;
    let apps = read(s, |r| r.apps().map_err(store_failure)).await?;
    answer(AppsBody {
        apps: apps.iter().map(AppView::of).collect(),
    })
}

/// GET /admin/v1/apps/{appKey}.
#[utoipa::path(
    get,
    path = "/admin/v1/apps/{appKey}",
    tag = "admin",
    operation_id = "admin_get_app",
    params(("appKey" = String, Path, description = "The app")),
    responses((status = 200, description = "resultcode 0 (or a refusal, see ApiResult)", body = crate::dto::Answer<crate::dto::AppBody>)),
    security(("admin" = [])),
    extensions(("x-resultcodes" = json!(["0", "1010040", "1020176", "1020001", "1012007", "1016001", "1016002", "1012010"]))),
)]
pub(crate) async fn get_app(State(s): State<ApiState>, headers: HeaderMap, key: PathParam) -> Response {
    respond(get_app_inner(&s, &headers, key).await)
}

async fn get_app_inner(s: &ApiState, headers: &HeaderMap, key: PathParam) -> Outcome {
    check_admin(s, headers)?;
    let key = path(key)?;
    let app = read(s, move |r| r.app_by_key(&key).map_err(store_failure)).await?;
    let app = app.ok_or_else(|| ApiFailure::new(ResultCode::QUERY_NOT_FOUND, "The record does not exist"))?;
    answer(AppBody {
        app: AppView::of(&app),
    })
}

/// PUT /admin/v1/apps/{appKey}.
#[utoipa::path(
    put,
    path = "/admin/v1/apps/{appKey}",
    tag = "admin",
    operation_id = "admin_update_app",
    params(("appKey" = String, Path, description = "The app")),
    request_body = crate::dto::requests::UpdateAppRequest,
    responses((status = 200, description = "resultcode 0 (or a refusal, see ApiResult)", body = crate::dto::Answer<crate::dto::AppBody>)),
    security(("admin" = [])),
    extensions(("x-resultcodes" = json!(["0", "1010040", "1020176", "1020001", "1012007", "1016001", "1016002", "1012010"]))),
)]
pub(crate) async fn update_app(
    State(s): State<ApiState>,
    headers: HeaderMap,
    key: PathParam,
    body: Body,
) -> Response {
    respond(update_app_inner(&s, &headers, key, body).await)
}

async fn update_app_inner(s: &ApiState, headers: &HeaderMap, key: PathParam, body: Body) -> Outcome {
    check_admin(s, headers)?;
    let key = path(key)?;
    let f = body_fields(body)?;
    // An empty URL clears it.
    let clearable = |name: &str| -> Result<Option<String>, ApiFailure> {
        if f.str_opt(name, 0, 1024)?.is_some_and(|u| u.is_empty()) {
            return Ok(Some(String::new()));
        }
        url(&f, name)
    };
    let op = UpdateApp {
        app_key: key,
        name: f.str_opt("name", 1, 128)?,
        app_secret: f.str_opt("appSecret", 8, 128)?,
        call_status_url: clearable("callStatusUrl")?,
        cdr_url: clearable("cdrUrl")?,
        sms_url: clearable("smsUrl")?,
        record_enabled: f.flag("recordEnabled")?,
        sms_enabled: f.flag("smsEnabled")?,
        collect_repeat: small(&f, "collectRepeat", 1, 9)?,
        enabled: f.flag("enabled")?,
        mode: mode(&f)?,
        extension_digits: small(&f, "extensionDigits", 1, 4)?,
        media: media_patch(&f)?,
        push: push_patch(&f)?,
        controls: None,
        allow_national_numbers: f.flag("allowNationalNumbers")?,
    };
    let app = s.engine().update_app(op, s.now()).await?;
    Ok(json!({ "app": crate::dto::app_json(&app) }))
}

/// POST /admin/v1/numbers: import numbers into an app's pool (per-number results).
#[utoipa::path(
    post,
    path = "/admin/v1/numbers",
    tag = "admin",
    operation_id = "admin_import_numbers",
    request_body = crate::dto::requests::ImportNumbersRequest,
    responses((status = 200, description = "resultcode 0 (or a refusal, see ApiResult)", body = crate::dto::Answer<crate::dto::ImportBody>)),
    security(("admin" = [])),
    extensions(("x-resultcodes" = json!(["0", "1010040", "1020176", "1020001", "1012007", "1016001", "1016002", "1012010"]))),
)]
pub(crate) async fn import_numbers(State(s): State<ApiState>, headers: HeaderMap, body: Body) -> Response {
    respond(import_numbers_inner(&s, &headers, body).await)
}

async fn import_numbers_inner(s: &ApiState, headers: &HeaderMap, body: Body) -> Outcome {
    check_admin(s, headers)?;
    let f = body_fields(body)?;
    let app_key = f.str_req("appKey", 1, 64)?;
    let items = f.objects("numbers")?;
    if items.is_empty() || items.len() > MAX_IMPORT {
        return Err(param_error(
            "numbers",
            &format!("must hold 1-{MAX_IMPORT} entries"),
        ));
    }
    // Per entry: the number as given and, if it does not parse, its refusal (answered in place); the
    // numbers that parse go to the pool in one write.
    let mut slots: Vec<(String, Option<ApiFailure>)> = Vec::with_capacity(items.len());
    let mut entries = Vec::with_capacity(items.len());
    for item in &items {
        let given = item.str_req("number", 1, 32)?;
        let area_code = item.str_req("areaCode", 1, 8)?;
        if !area_code.bytes().all(|c| c.is_ascii_digit()) {
            return Err(param_error("areaCode", "must be digits"));
        }
        let area_code = if area_code.starts_with('0') {
            area_code
        } else {
            format!("0{area_code}")
        };
        let province = item.str_opt("province", 1, 64)?;
        match pool_number("number", &given) {
            Ok(number) => {
                entries.push(NumberImport {
                    number,
                    area_code,
                    province,
                });
                slots.push((given, None));
            }
            Err(f) => slots.push((given, Some(f))),
        }
    }
    let report = s
        .engine()
        .import_numbers(ImportNumbers { app_key, entries }, s.now())
        .await?;
    let mut stored = report.results.into_iter();
    let mut results = Vec::with_capacity(slots.len());
    for (given, refusal) in slots {
        let outcome = match refusal {
            Some(f) => Err(f),
            None => stored
                .next()
                .unwrap_or(Err(pn_provision::ProvisionError::Internal))
                .map_err(ApiFailure::from),
        };
        results.push(match outcome {
            Ok(n) => json!({ "number": n.to_string(), "resultcode": "0", "resultdesc": "Success" }),
            Err(f) => json!({ "number": given, "resultcode": f.code.code, "resultdesc": f.desc }),
        });
    }
    Ok(json!({ "imported": report.imported, "results": results }))
}

/// GET /admin/v1/numbers?appKey=.
#[utoipa::path(
    get,
    path = "/admin/v1/numbers",
    tag = "admin",
    operation_id = "admin_list_numbers",
    params(crate::dto::requests::ListNumbersParams),
    responses((status = 200, description = "resultcode 0 (or a refusal, see ApiResult)", body = crate::dto::Answer<crate::dto::NumbersBody>)),
    security(("admin" = [])),
    extensions(("x-resultcodes" = json!(["0", "1010040", "1020176", "1020001", "1012007", "1016001", "1016002", "1012010"]))),
)]
pub(crate) async fn list_numbers(
    State(s): State<ApiState>,
    headers: HeaderMap,
    query: QueryParams,
) -> Response {
    respond(list_numbers_inner(&s, &headers, query).await)
}

async fn list_numbers_inner(s: &ApiState, headers: &HeaderMap, query: QueryParams) -> Outcome {
    check_admin(s, headers)?;
    let q = query_fields(query)?;
    let key = q.str_opt("appKey", 1, 64)?;
    read(s, move |r| {
        let apps = r.apps().map_err(store_failure)?;
        let filter = match &key {
            Some(k) => Some(
                apps.iter()
                    .find(|a| &a.app_key == k)
                    .map(|a| a.id)
                    .ok_or_else(|| {
                        ApiFailure::new(ResultCode::QUERY_NOT_FOUND, "The record does not exist")
                    })?,
            ),
            None => None,
        };
        let numbers = r.numbers(filter).map_err(store_failure)?;
        let list: Vec<Value> = numbers
            .iter()
            .map(|n| {
                let mut v = number_json(n);
                if let (Some(o), Some(a)) = (v.as_object_mut(), apps.iter().find(|a| a.id == n.app)) {
                    o.insert("appKey".into(), a.app_key.clone().into());
                }
                v
            })
            .collect();
        Ok(json!({ "numbers": list }))
    })
    .await
}

/// PUT /admin/v1/numbers/{number}: status (normal/paused/unavailable/frozen), areaCode, province.
#[utoipa::path(
    put,
    path = "/admin/v1/numbers/{number}",
    tag = "admin",
    operation_id = "admin_set_number",
    params(("number" = String, Path, description = "The pool number (E.164 or national)")),
    request_body = crate::dto::requests::SetNumberRequest,
    responses((status = 200, description = "resultcode 0 (or a refusal, see ApiResult)", body = crate::dto::Answer<crate::dto::NumberView>)),
    security(("admin" = [])),
    extensions(("x-resultcodes" = json!(["0", "1010040", "1020176", "1020001", "1012007", "1016001", "1016002", "1012010"]))),
)]
pub(crate) async fn set_number(
    State(s): State<ApiState>,
    headers: HeaderMap,
    number: PathParam,
    body: Body,
) -> Response {
    respond(set_number_inner(&s, &headers, number, body).await)
}

async fn set_number_inner(s: &ApiState, headers: &HeaderMap, number: PathParam, body: Body) -> Outcome {
    check_admin(s, headers)?;
    let number = pool_number("number", &path(number)?)?;
    let f = body_fields(body)?;
    let status = f
        .enum_str("status", &["normal", "paused", "unavailable", "frozen"])?
        .map(|v| match v.as_str() {
            "paused" => NumberStatus::Paused,
            "unavailable" => NumberStatus::Unavailable,
            "frozen" => NumberStatus::FrozenForNewBinds,
            _ => NumberStatus::Normal,
        });
    let cause = match f.int_range("cause", 1, 9)? {
        Some(c) if !UNAVAILABLE_CAUSES.iter().any(|&k| i64::from(k) == c) => {
            return Err(param_error("cause", "must be 1, 2, 3, 5, 6, 7, 8 or 9"));
        }
        Some(_) if status != Some(NumberStatus::Unavailable) => {
            return Err(param_error("cause", "is allowed with status unavailable only"));
        }
        c => c.map(|c| c as u8),
    };
    let area_code = f.str_opt("areaCode", 1, 8)?;
    let province = f.str_opt("province", 0, 64)?;
    let n = s
        .engine()
        .set_number(
            SetNumber {
                number,
                status,
                cause,
                area_code,
                province,
            },
            s.now(),
        )
        .await?;
    Ok(number_json(&n))
}

/// DELETE /admin/v1/numbers/{number}[?force=true]: retire a number.
#[utoipa::path(
    delete,
    path = "/admin/v1/numbers/{number}",
    tag = "admin",
    operation_id = "admin_retire_number",
    params(("number" = String, Path, description = "The pool number (E.164 or national)"), crate::dto::requests::RetireNumberParams),
    responses((status = 200, description = "resultcode 0 (or a refusal, see ApiResult)", body = crate::dto::Answer<crate::dto::RetireBody>)),
    security(("admin" = [])),
    extensions(("x-resultcodes" = json!(["0", "1010040", "1020176", "1020001", "1012007", "1016001", "1016002", "1012010"]))),
)]
pub(crate) async fn retire_number(
    State(s): State<ApiState>,
    headers: HeaderMap,
    number: PathParam,
    query: QueryParams,
) -> Response {
    respond(retire_number_inner(&s, &headers, number, query).await)
}

async fn retire_number_inner(
    s: &ApiState,
    headers: &HeaderMap,
    number: PathParam,
    query: QueryParams,
) -> Outcome {
    check_admin(s, headers)?;
    let number = pool_number("number", &path(number)?)?;
    let force = query_fields(query)?.flag("force")?.unwrap_or(false);
    let retired = s
        .engine()
        .retire_number(RetireNumber { number, force }, s.now())
        .await?;
    Ok(json!({ "number": retired.number.to_string(), "unbound": retired.unbound }))
}

/// GET /admin/v1/route?caller=&called=&extension=: the route decision a call would get right now.
#[utoipa::path(
    get,
    path = "/admin/v1/route",
    tag = "admin",
    operation_id = "admin_route_trace",
    params(crate::dto::requests::RouteTraceParams),
    responses((status = 200, description = "resultcode 0 (or a refusal, see ApiResult)", body = crate::dto::RouteTraceAnswer)),
    security(("admin" = [])),
    extensions(("x-resultcodes" = json!(["0", "1010040", "1020176", "1020001", "1012007", "1016001", "1016002", "1012010"]))),
)]
pub(crate) async fn route_trace(
    State(s): State<ApiState>,
    headers: HeaderMap,
    query: QueryParams,
) -> Response {
    respond(route_trace_inner(&s, &headers, query))
}

fn route_trace_inner(s: &ApiState, headers: &HeaderMap, query: QueryParams) -> Outcome {
    use pn_bindings::RouteDecision;
    check_admin(s, headers)?;
    let q = query_fields(query)?;
    let dialled = pool_number("called", &q.str_req("called", 1, 64)?)?;
    let calling = match q.str_opt("caller", 1, 64)? {
        Some(text) => Some(pool_number("caller", &text)?),
        None => None,
    };
    let extension = q.str_opt("extension", 0, 8)?;
    // With the app's call controls, probed: the trace counts nothing.
    let pn_bindings::Controlled {
        decision, refusal, ..
    } = pn_bindings::decide_controlled(
        s.table(),
        &s.route_policy(),
        calling,
        dialled,
        extension.as_deref(),
        s.now(),
        pn_bindings::Counting::Probe,
    );
    match decision {
        RouteDecision::Connect(c) => answer(ConnectTrace {
            decision: ConnectDecision::Connect,
            callee: c.callee.to_string(),
            display: c.display.to_string(),
            max_duration_secs: c.max_duration_secs,
            record: c.record,
            binding_id: c.binding.0,
            mode: c.mode.as_str(),
            direction: c.direction.code(),
        }),
        RouteDecision::CollectDigits(d) => answer(CollectTrace {
            decision: CollectDecision::CollectDigits,
            digits: d.digits,
            repeat: d.repeat,
        }),
        RouteDecision::Ask(x) => answer(AskTrace {
            decision: AskDecision::Ask,
            display: x.x.to_string(),
        }),
        RouteDecision::Reject(r) => answer(RejectTrace {
            decision: RejectDecision::Reject,
            state_code: r.cause.0,
            binding_id: r.binding.map(|b| b.0),
            prompt: r.prompt,
            control: refusal.map(|r| r.rule.to_string()),
        }),
    }
}

/// The admin API's view of a pool number.
fn number_json(n: &XNumber) -> Value {
    json!({
        "number": n.number.to_string(),
        "areaCode": n.area_code,
        "province": n.province,
        "status": status_name(n.status),
        "statusCode": n.status.code().to_string(),
    })
}
