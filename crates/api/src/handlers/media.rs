//! Media endpoints: the admin prompt library (`/admin/v1/apps/{appKey}/prompts[/{name}]`), the reference's
//! recording download (`GET /rest/provision/voice/record/v1.0`, answered with a 301 to a signed URL), and the
//! signed file URL itself (`GET /rest/provision/voice/record/v1.0/file/{app}/{object}`).

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use axum::body::{Body, Bytes};
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use pn_bindings::{App, AppId, UnixTime};
use pn_media::G711Law;
use serde_json::json;

use super::admin::check_admin;
use crate::dto::{DeletedPromptBody, PromptBody, PromptView, PromptsBody};
use crate::extract::answer;
use crate::extract::{Outcome, authenticate_any, body_bytes, failure, query_fields, respond, tagged_ok};
use crate::peers::{self, Search};
use crate::proxy::{self, SignedRecording};
use crate::result::{ApiFailure, ResultCode};
use crate::state::ApiState;
use crate::validate::param_error;
use pn_provision::{PromptInfo, PromptLibrary, ProvisionError, RecordingStore};

type RawBody = Result<Bytes, BytesRejection>;
type QueryParams = Result<Query<HashMap<String, String>>, QueryRejection>;
type KeyPath = Result<Path<String>, PathRejection>;
type PairPath = Result<Path<(String, String)>, PathRejection>;

/// Largest prompt upload body: the 2 MB prompt rule plus room for a file just over it to be answered with a
/// clear 1010002 instead of a bare 413.
pub(crate) const PROMPT_BODY_LIMIT: usize = pn_media::wav::PROMPT_MAX_BYTES + 64 * 1024;

fn internal(e: &ProvisionError) -> ApiFailure {
    tracing::error!(error = %e, "media file operation failed");
    ApiFailure::new(ResultCode::INTERNAL, "Internal system error")
}

/// A library failure: a refused file is 1010002 (HTTP 400) saying why, anything else 1010001.
fn lib_failure(e: &ProvisionError) -> ApiFailure {
    match e {
        ProvisionError::InvalidFile(why) => {
            ApiFailure::new(ResultCode::INVALID_FILE, format!("Invalid request. {why}"))
        }
        other => internal(other),
    }
}

fn law_name(law: G711Law) -> &'static str {
    match law {
        G711Law::ALaw => "alaw",
        G711Law::MuLaw => "ulaw",
    }
}

fn prompt_view(p: &PromptInfo) -> PromptView {
    PromptView {
        name: p.name.clone(),
        bytes: p.bytes,
        duration_ms: p.duration_ms,
        law: law_name(p.law),
        shipped: p.shipped,
    }
}

fn library(s: &ApiState) -> Result<std::sync::Arc<PromptLibrary>, ApiFailure> {
    s.prompts().cloned().ok_or_else(|| {
        ApiFailure::new(
            ResultCode::INTERNAL,
            "Internal system error: no prompt library is configured",
        )
    })
}

/// The admin app named by `{appKey}` (committed apps). Unknown: 1016001 for reads, 1012007 for writes.
fn admin_app(s: &ApiState, headers: &HeaderMap, key: &str, write: bool) -> Result<App, ApiFailure> {
    check_admin(s, headers)?;
    s.app_by_key(key).ok_or_else(|| {
        let code = if write {
            ResultCode::RECORD_NOT_FOUND
        } else {
            ResultCode::QUERY_NOT_FOUND
        };
        ApiFailure::new(code, format!("The record does not exist: app {key}"))
    })
}

fn pair(p: PairPath) -> Result<(String, String), ApiFailure> {
    p.map(|Path(v)| v)
        .map_err(|_| param_error("path", "is malformed"))
}

/// Runs blocking file work off the async runtime.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiFailure> + Send + 'static,
) -> Result<T, ApiFailure> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|_| Err(ApiFailure::new(ResultCode::INTERNAL, "Internal system error")))
}

/// PUT /admin/v1/apps/{appKey}/prompts/{name}: upload (or replace) a prompt; the body is the WAV file.
#[utoipa::path(
    put,
    path = "/admin/v1/apps/{appKey}/prompts/{name}",
    tag = "admin",
    operation_id = "admin_put_prompt",
    params(("appKey" = String, Path, description = "The app"), ("name" = String, Path, description = "Prompt file name, [A-Za-z0-9_.-]{1,64}.wav")),
    request_body(
        description = "The WAV file: 8 kHz mono A-law or µ-law, ≤ 2 MB",
        content = crate::dto::WavFile,
        content_type = "audio/wav"
    ),
    responses((status = 200, description = "resultcode 0 (or a refusal, see ApiResult)", body = crate::dto::Answer<crate::dto::PromptBody>)),
    security(("admin" = [])),
    extensions(("x-resultcodes" = json!(["0", "1010002", "1010040", "1020176", "1020001", "1012007", "1016001"]))),
)]
pub(crate) async fn put_prompt(
    State(s): State<ApiState>,
    headers: HeaderMap,
    path: PairPath,
    body: RawBody,
) -> Response {
    respond(put_prompt_inner(&s, &headers, path, body).await)
}

async fn put_prompt_inner(s: &ApiState, headers: &HeaderMap, path: PairPath, body: RawBody) -> Outcome {
    let (key, name) = pair(path)?;
    let app = admin_app(s, headers, &key, true)?;
    let lib = library(s)?;
    let bytes = body_bytes(body)?;
    let info = blocking(move || lib.put(app.id, &name, &bytes).map_err(|e| lib_failure(&e))).await?;
    answer(PromptBody {
        prompt: prompt_view(&info),
    })
}

/// GET /admin/v1/apps/{appKey}/prompts: the app's uploads, then the shipped defaults (`shipped: true`).
#[utoipa::path(
    get,
    path = "/admin/v1/apps/{appKey}/prompts",
    tag = "admin",
    operation_id = "admin_list_prompts",
    params(("appKey" = String, Path, description = "The app")),
    responses((status = 200, description = "resultcode 0 (or a refusal, see ApiResult)", body = crate::dto::Answer<crate::dto::PromptsBody>)),
    security(("admin" = [])),
    extensions(("x-resultcodes" = json!(["0", "1010002", "1010040", "1020176", "1020001", "1012007", "1016001"]))),
)]
pub(crate) async fn list_prompts(State(s): State<ApiState>, headers: HeaderMap, key: KeyPath) -> Response {
    respond(list_prompts_inner(&s, &headers, key))
}

fn list_prompts_inner(s: &ApiState, headers: &HeaderMap, key: KeyPath) -> Outcome {
    let key = key
        .map(|Path(k)| k)
        .map_err(|_| param_error("path", "is malformed"))?;
    let app = admin_app(s, headers, &key, false)?;
    answer(PromptsBody {
        prompts: library(s)?.list(app.id).iter().map(prompt_view).collect(),
    })
}

/// GET /admin/v1/apps/{appKey}/prompts/{name}: the WAV file (the app's upload, else the shipped default).
#[utoipa::path(
    get,
    path = "/admin/v1/apps/{appKey}/prompts/{name}",
    tag = "admin",
    operation_id = "admin_get_prompt",
    params(("appKey" = String, Path, description = "The app"), ("name" = String, Path, description = "Prompt file name, [A-Za-z0-9_.-]{1,64}.wav")),
    responses((status = 200, description = "The WAV file", content_type = "audio/wav", body = crate::dto::WavFile)),
    security(("admin" = [])),
    extensions(("x-resultcodes" = json!(["0", "1010002", "1010040", "1020176", "1020001", "1012007", "1016001"]))),
)]
pub(crate) async fn get_prompt(State(s): State<ApiState>, headers: HeaderMap, path: PairPath) -> Response {
    match get_prompt_inner(&s, &headers, path).await {
        Ok(bytes) => tagged_ok(([(header::CONTENT_TYPE, "audio/wav")], bytes).into_response()),
        Err(f) => failure(f),
    }
}

async fn get_prompt_inner(s: &ApiState, headers: &HeaderMap, path: PairPath) -> Result<Vec<u8>, ApiFailure> {
    let (key, name) = pair(path)?;
    let app = admin_app(s, headers, &key, false)?;
    let lib = library(s)?;
    blocking(move || lib.file(app.id, &name).map_err(|e| internal(&e)))
        .await?
        .ok_or_else(|| ApiFailure::new(ResultCode::FILE_NOT_FOUND, "The record does not exist."))
}

/// DELETE /admin/v1/apps/{appKey}/prompts/{name}: delete the app's upload (a shipped default of the same
/// name applies again; shipped prompts themselves cannot be deleted).
#[utoipa::path(
    delete,
    path = "/admin/v1/apps/{appKey}/prompts/{name}",
    tag = "admin",
    operation_id = "admin_delete_prompt",
    params(("appKey" = String, Path, description = "The app"), ("name" = String, Path, description = "Prompt file name, [A-Za-z0-9_.-]{1,64}.wav")),
    responses((status = 200, description = "resultcode 0 (or a refusal, see ApiResult)", body = crate::dto::Answer<crate::dto::DeletedPromptBody>)),
    security(("admin" = [])),
    extensions(("x-resultcodes" = json!(["0", "1010002", "1010040", "1020176", "1020001", "1012007", "1016001"]))),
)]
pub(crate) async fn delete_prompt(State(s): State<ApiState>, headers: HeaderMap, path: PairPath) -> Response {
    respond(delete_prompt_inner(&s, &headers, path).await)
}

async fn delete_prompt_inner(s: &ApiState, headers: &HeaderMap, path: PairPath) -> Outcome {
    let (key, name) = pair(path)?;
    let app = admin_app(s, headers, &key, true)?;
    let lib = library(s)?;
    let shown = name.clone();
    if blocking(move || lib.delete(app.id, &name).map_err(|e| internal(&e))).await? {
        answer(DeletedPromptBody { name: shown })
    } else {
        Err(ApiFailure::new(
            ResultCode::RECORD_NOT_FOUND,
            format!("The record does not exist: the app has no uploaded prompt {shown}"),
        ))
    }
}

/// The state clock as a `SystemTime` (retention is judged on the same clock as URL expiry).
fn system_time(now: UnixTime) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(now.0).unwrap_or(0))
}

fn no_record() -> ApiFailure {
    ApiFailure::new(ResultCode::RECORD_NOT_FOUND, "The record does not exist.")
}

/// GET /rest/provision/voice/record/v1.0?fileName=&recordDomain=: 301 to a signed download URL of the
/// authenticated app's recording (reference §5); another app's, a missing or a purged file is 1012007. In a
/// cluster a recording not on this node is searched for on the other live nodes (`peers.rs`): found, the
/// URL names its holder; a node that did not answer in time makes it 1010001 (HTTP 500), not 1012007.
#[utoipa::path(
    get,
    path = "/rest/provision/voice/record/v1.0",
    tag = "recording",
    operation_id = "record_download",
    params(crate::dto::requests::RecordUrlParams),
    responses((status = 301, description = "resultcode 0: the signed download URL is in Location", body = crate::dto::ApiResult, headers(("Location" = String, description = "The signed file URL (GET it without authentication)"))), (status = 200, description = "A refusal (1012007: no such recording)", body = crate::dto::ApiResult)),
    security(("aksk" = []), ("wsse" = [])),
    extensions(("x-resultcodes" = json!(["0", "1012007", "1020001", "1010001", "1010003", "1010004", "1020176", "1010010", "1020166", "1023006", "1023007", "1023008", "1023009", "1023010", "1023011", "1023012", "1023033", "1023034", "1023035", "1023036", "1023037", "1023038"]))),
)]
pub(crate) async fn record_url(
    State(s): State<ApiState>,
    headers: HeaderMap,
    query: QueryParams,
) -> Response {
    match record_url_inner(&s, &headers, query).await {
        Ok(url) => {
            let mut resp = (
                StatusCode::MOVED_PERMANENTLY,
                axum::Json(json!({"resultcode": ResultCode::SUCCESS.code, "resultdesc": "Success"})),
            )
                .into_response();
            match HeaderValue::from_str(&url) {
                Ok(v) => {
                    resp.headers_mut().insert(header::LOCATION, v);
                    tagged_ok(resp)
                }
                Err(_) => failure(ApiFailure::new(ResultCode::INTERNAL, "Internal system error")),
            }
        }
        Err(f) => failure(f),
    }
}

async fn record_url_inner(
    s: &ApiState,
    headers: &HeaderMap,
    query: QueryParams,
) -> Result<String, ApiFailure> {
    let q = query_fields(query)?;
    let app = authenticate_any(s, headers)?;
    let object = q.str_req("fileName", 1, 128)?;
    // Accepted as the reference sends it; not compared (a changed public_url must not orphan older CDRs).
    q.str_opt("recordDomain", 0, 128)?;
    let store = s.recordings().cloned().ok_or_else(no_record)?;
    let now = s.now();
    let found = blocking({
        let store = store.clone();
        let object = object.clone();
        move || Ok(store.find(app.id, &object, system_time(now)).is_some())
    })
    .await?;
    if found {
        return Ok(store.download_url(app.id, &object, now));
    }
    // Not here: in a cluster, another live node may hold it (`peers.rs`); the URL then names that node and
    // downloads through any node (`proxy.rs`).
    let Some(proxy) = s.recording_proxy() else {
        return Err(no_record());
    };
    if !pn_provision::media::recordings::recording_name_ok(&object) {
        return Err(no_record());
    }
    let found = peers::search(s, proxy, &store, app.id, &object).await;
    let outcome = match &found {
        Search::Held(_) => "held",
        Search::Nowhere => "nowhere",
        Search::Unknown => "unknown",
    };
    s.metrics().recording_searches.with_label_values(&[outcome]).inc();
    match found {
        Search::Held(holder) => Ok(format!(
            "{}{}",
            store.public_base(),
            store.signed_path(app.id, &object, now, Some(&holder))
        )),
        Search::Nowhere => Err(no_record()),
        Search::Unknown => Err(ApiFailure::new(
            ResultCode::INTERNAL,
            "Internal system error: a node that may hold the recording did not answer",
        )),
    }
}

fn url_denied() -> ApiFailure {
    ApiFailure::new(
        ResultCode::URL_DENIED,
        "Authentication failed: the download URL is invalid or has expired",
    )
}

/// GET /rest/provision/voice/record/v1.0/file/{app}/{object}?expires=&signature=: the recording, streamed
/// (`audio/wav`). The signature is the credential: wrong or expired → 403 1020176; gone → 404 1012007.
#[utoipa::path(
    get,
    path = "/rest/provision/voice/record/v1.0/file/{app}/{object}",
    tag = "recording",
    operation_id = "record_file",
    params(("app" = String, Path, description = "From the signed URL"), ("object" = String, Path, description = "The recording file name"), crate::dto::requests::RecordFileParams),
    responses((status = 200, description = "The recording", content_type = "audio/wav", body = crate::dto::WavFile)),
    extensions(("x-resultcodes" = json!(["0", "1020176", "1012007"]))),
)]
pub(crate) async fn record_file(
    State(s): State<ApiState>,
    headers: HeaderMap,
    path: PairPath,
    query: QueryParams,
) -> Response {
    match record_file_inner(&s, &headers, path, query).await {
        Ok(resp) => tagged_ok(resp),
        Err(f) => failure(f),
    }
}

fn signed_target(
    store: &RecordingStore,
    path: PairPath,
    query: QueryParams,
    now: UnixTime,
) -> Result<SignedRecording, ApiFailure> {
    let (app, object) = pair(path).map_err(|_| url_denied())?;
    let q = query_fields(query).map_err(|_| url_denied())?;
    let app = app.parse::<u32>().map(AppId).map_err(|_| url_denied())?;
    let expires = q
        .str_opt("expires", 1, 20)
        .ok()
        .flatten()
        .and_then(|e| e.parse::<i64>().ok())
        .ok_or_else(url_denied)?;
    let signature = q
        .str_opt("signature", 1, 128)
        .ok()
        .flatten()
        .ok_or_else(url_denied)?;
    let node = match q.str_opt("node", 1, 64).ok().flatten() {
        Some(node) if proxy::node_name_ok(&node) => Some(node),
        Some(_) => return Err(url_denied()),
        None => None,
    };
    if store.verify(app, &object, expires, node.as_deref(), &signature, now) {
        Ok(SignedRecording {
            app,
            object,
            expires,
            signature,
            node,
        })
    } else {
        Err(url_denied())
    }
}

/// The signature is checked first: only a valid, unexpired URL is answered from disk or, when the file is
/// not here and the URL names another node as its holder, fetched from that node (`proxy.rs`).
async fn record_file_inner(
    s: &ApiState,
    headers: &HeaderMap,
    path: PairPath,
    query: QueryParams,
) -> Result<Response, ApiFailure> {
    let store = s.recordings().cloned().ok_or_else(url_denied)?;
    let now = s.now();
    let target = signed_target(&store, path, query, now)?;
    let gone = || ApiFailure::new(ResultCode::FILE_NOT_FOUND, "The record does not exist.");
    let (app, object) = (target.app, target.object.clone());
    let found = blocking(move || Ok(store.find(app, &object, system_time(now)))).await?;
    let file_path = match found {
        Some(path) => path,
        None if pn_provision::media::recordings::recording_name_ok(&target.object)
            && proxy::should_proxy(s, headers, &target) =>
        {
            return proxy::fetch(s, &target).await;
        }
        None => return Err(gone()),
    };
    let file = tokio::fs::File::open(&file_path).await.map_err(|_| gone())?;
    let len = file.metadata().await.map_err(|_| gone())?.len();
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(file));
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("audio/wav")),
            (header::CONTENT_LENGTH, HeaderValue::from(len)),
        ],
        body,
    )
        .into_response())
}
