//! Admin API for an app's call controls: `GET`/`PUT /admin/v1/apps/{appKey}/controls`.
//!
//! The body is the [`AppControls`] JSON object (camelCase; unknown fields refused). `PUT` replaces the app's
//! controls whole, through the engine like every app change: stored in the app's row, then applied to the
//! routing table, so the next call sees them (no restart).

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use pn_bindings::AppControls;
use pn_provision::UpdateApp;

use crate::dto::ControlsBody;
use crate::extract::{Outcome, answer, body_bytes, read, respond, store_failure};
use crate::handlers::admin::check_admin;
use crate::result::{ApiFailure, ResultCode};
use crate::state::ApiState;
use crate::validate::param_error;

type Body = Result<Bytes, BytesRejection>;
type PathParam = Result<Path<String>, PathRejection>;

fn app_key(p: PathParam) -> Result<String, ApiFailure> {
    p.map(|Path(v)| v)
        .map_err(|_| param_error("path", "is malformed"))
}

fn body_of(controls: &AppControls) -> Outcome {
    let value = serde_json::to_value(controls).map_err(|e| {
        tracing::error!(error = %e, "controls not serialisable");
        ApiFailure::new(ResultCode::INTERNAL, "Internal system error")
    })?;
    answer(ControlsBody { controls: value })
}

/// GET /admin/v1/apps/{appKey}/controls: the app's call controls.
#[utoipa::path(
    get,
    path = "/admin/v1/apps/{appKey}/controls",
    tag = "admin",
    operation_id = "admin_get_controls",
    params(("appKey" = String, Path, description = "The app")),
    responses((status = 200, description = "resultcode 0 (or a refusal, see ApiResult)", body = crate::dto::Answer<crate::dto::ControlsBody>)),
    security(("admin" = [])),
    extensions(("x-resultcodes" = json!(["0", "1010040", "1020176", "1020001", "1016001"]))),
)]
pub(crate) async fn get_controls(State(s): State<ApiState>, headers: HeaderMap, key: PathParam) -> Response {
    respond(get_controls_inner(&s, &headers, key).await)
}

async fn get_controls_inner(s: &ApiState, headers: &HeaderMap, key: PathParam) -> Outcome {
    check_admin(s, headers)?;
    let key = app_key(key)?;
    let app = read(s, move |r| r.app_by_key(&key).map_err(store_failure)).await?;
    let app = app.ok_or_else(|| ApiFailure::new(ResultCode::QUERY_NOT_FOUND, "The record does not exist"))?;
    body_of(&app.controls)
}

/// PUT /admin/v1/apps/{appKey}/controls: replace the app's call controls (applied to the next call).
#[utoipa::path(
    put,
    path = "/admin/v1/apps/{appKey}/controls",
    tag = "admin",
    operation_id = "admin_put_controls",
    params(("appKey" = String, Path, description = "The app")),
    request_body(
        description = "The controls (docs/api.md, \"Call controls\"): callerBlacklist, calleeBlacklist, \
            callerAllowlist, restrictedPrefixes, internationalIn, internationalOut, timeWindow, limits",
        content = Object,
        content_type = "application/json"
    ),
    responses((status = 200, description = "resultcode 0 (or a refusal, see ApiResult)", body = crate::dto::Answer<crate::dto::ControlsBody>)),
    security(("admin" = [])),
    extensions(("x-resultcodes" = json!(["0", "1010002", "1010040", "1020176", "1020001", "1012007"]))),
)]
pub(crate) async fn put_controls(
    State(s): State<ApiState>,
    headers: HeaderMap,
    key: PathParam,
    body: Body,
) -> Response {
    respond(put_controls_inner(&s, &headers, key, body).await)
}

async fn put_controls_inner(s: &ApiState, headers: &HeaderMap, key: PathParam, body: Body) -> Outcome {
    check_admin(s, headers)?;
    let key = app_key(key)?;
    let bytes = body_bytes(body)?;
    let controls: AppControls =
        serde_json::from_slice(&bytes).map_err(|e| param_error("controls", &e.to_string()))?;
    controls
        .validate()
        .map_err(|e| param_error("controls", &e.to_string()))?;
    let op = UpdateApp {
        app_key: key,
        controls: Some(controls),
        ..UpdateApp::default()
    };
    let app = s.engine().update_app(op, s.now()).await?;
    body_of(&app.controls)
}
