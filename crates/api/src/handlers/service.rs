//! Service endpoints: `/healthz`, `/readyz`, `/metrics`, `/openapi.json`, and the JSON 404/405 fallbacks.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::extract::failure;
use crate::result::{ApiFailure, ResultCode};
use crate::state::ApiState;

/// GET /healthz: the process is up and its engine thread is alive.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "service",
    operation_id = "healthz",
    responses((status = 200, description = "The process and its write engine are up", body = crate::dto::Health), (status = 500, description = "1010001: the write engine has stopped", body = crate::dto::ApiResult)),
)]
pub(crate) async fn healthz(State(s): State<ApiState>) -> Response {
    if s.engine().is_running() {
        (StatusCode::OK, Json(crate::dto::Health { status: "ok" })).into_response()
    } else {
        failure(ApiFailure::new(
            ResultCode::INTERNAL,
            "the provisioning engine has stopped",
        ))
    }
}

/// GET /readyz: whether the switch takes new calls and requests: 503 while it drains before stopping (and
/// when its write engine stopped), so a load balancer or the SIP front sends new work elsewhere.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "service",
    operation_id = "readyz",
    responses((status = 200, description = "Ready for new work", body = crate::dto::Health), (status = 503, description = "Not ready (draining before a stop)", body = crate::dto::Health)),
)]
pub(crate) async fn readyz(State(s): State<ApiState>) -> Response {
    if s.is_ready() {
        (StatusCode::OK, Json(crate::dto::Health { status: "ready" })).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(crate::dto::Health { status: "not ready" }),
        )
            .into_response()
    }
}

/// GET /metrics: Prometheus text exposition.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "service",
    operation_id = "metrics",
    responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain", body = String)),
)]
pub(crate) async fn metrics(State(s): State<ApiState>) -> Response {
    match s.metrics().encode() {
        Ok(text) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response(),
        Err(e) => failure(ApiFailure::new(ResultCode::INTERNAL, format!("metrics: {e}"))),
    }
}

/// GET /openapi.json.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "service",
    operation_id = "openapi",
    responses((status = 200, description = "This document (OpenAPI 3.1)", body = Object)),
)]
pub(crate) async fn openapi() -> Response {
    Json(crate::openapi::document()).into_response()
}

/// Any unknown path: 404 with resultcode 1020001.
pub(crate) async fn not_found() -> Response {
    failure(ApiFailure::new(
        ResultCode::ROUTE_NOT_FOUND,
        "Parameter error: no such API",
    ))
}

/// A known path with a method it does not serve: 405 with resultcode 1020001.
pub(crate) async fn method_not_allowed() -> Response {
    failure(ApiFailure::new(
        ResultCode::METHOD_NOT_ALLOWED,
        "Parameter error: method not allowed for this API",
    ))
}
