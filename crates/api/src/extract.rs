//! Request plumbing shared by every handler: bodies, query strings, authentication, reads, responses.
//!
//! Nothing here lets axum's plain-text rejections through: a bad body, an oversized body or a malformed query
//! string becomes a JSON 1020001 answer.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::Query;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use pn_bindings::{App, Mode};
use pn_provision::require_mode;
use pn_store::ReadTx;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::dto::Answer;

use crate::result::{ApiFailure, ResultCode};
use crate::state::ApiState;
use crate::validate::Fields;

/// The `resultcode` of a response, for the request counter.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ResultTag(pub(crate) &'static str);

/// A handler's outcome: extra success fields, or a failure.
pub(crate) type Outcome = Result<Value, ApiFailure>;

/// Turns an outcome into the reference's JSON answer, tagged with its resultcode.
pub(crate) fn respond(outcome: Outcome) -> Response {
    match outcome {
        Ok(extra) => {
            let answer = Answer {
                resultcode: ResultCode::SUCCESS.code,
                resultdesc: "Success",
                body: match extra {
                    Value::Object(fields) => fields,
                    _ => Map::new(),
                },
            };
            // Through a `Value`: its keys are sorted, so the bytes do not depend on field order.
            let json = serde_json::to_value(answer).unwrap_or(Value::Null);
            let mut resp = (StatusCode::OK, Json(json)).into_response();
            resp.extensions_mut().insert(ResultTag(ResultCode::SUCCESS.code));
            resp
        }
        Err(f) => failure(f),
    }
}

/// A failure answer, tagged.
pub(crate) fn failure(f: ApiFailure) -> Response {
    let code = f.code.code;
    let mut resp = f.into_response();
    resp.extensions_mut().insert(ResultTag(code));
    resp
}

/// A success answer's fields, from its typed body.
pub(crate) fn answer<T: Serialize>(fields: T) -> Outcome {
    serde_json::to_value(fields).map_err(|e| {
        tracing::error!(error = %e, "answer not serialisable");
        ApiFailure::new(ResultCode::INTERNAL, "Internal system error")
    })
}

/// The raw bytes of a request body (an oversized or unreadable body is 1020001 with 413/400).
pub(crate) fn body_bytes(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiFailure> {
    body.map_err(|rejection| {
        let status = rejection.status();
        let desc = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "Parameter error: the request body is too large"
        } else {
            "Parameter error: the request body could not be read"
        };
        ApiFailure::new(
            ResultCode {
                code: ResultCode::PARAMETER_ERROR.code,
                http: status,
            },
            desc,
        )
    })
}

/// The JSON fields of a request body.
pub(crate) fn body_fields(body: Result<Bytes, BytesRejection>) -> Result<Fields, ApiFailure> {
    Fields::from_json(&body_bytes(body)?)
}

/// The fields of a query string.
pub(crate) fn query_fields(
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Fields, ApiFailure> {
    match query {
        Ok(Query(map)) => Ok(Fields::from_query(map)),
        Err(_) => Err(ApiFailure::new(
            ResultCode::PARAMETER_ERROR,
            "Parameter error: malformed query string",
        )),
    }
}

/// Authenticates the request and checks that the app is enabled and serves `mode`.
pub(crate) fn authenticate(state: &ApiState, headers: &HeaderMap, mode: Mode) -> Result<App, ApiFailure> {
    let app = authenticate_any(state, headers)?;
    require_mode(&app, mode)?;
    Ok(app)
}

/// Authenticates the request and checks that the app is enabled (APIs every mode may call).
pub(crate) fn authenticate_any(state: &ApiState, headers: &HeaderMap) -> Result<App, ApiFailure> {
    let app = state
        .authenticator()
        .authenticate(headers, state.now(), |key| state.app_by_key(key))?;
    if !app.enabled {
        return Err(ApiFailure::new(
            ResultCode::APP_KEY_UNAVAILABLE,
            "Status of app_key is unavailable",
        ));
    }
    state.limiters().admit(&app, headers)?;
    Ok(app)
}

/// Tags a non-JSON (or non-200) success response with resultcode 0 for the request counter.
pub(crate) fn tagged_ok(mut resp: Response) -> Response {
    resp.extensions_mut().insert(ResultTag(ResultCode::SUCCESS.code));
    resp
}

/// Runs a read on a store read transaction, off the async runtime.
pub(crate) async fn read<T, F>(state: &ApiState, f: F) -> Result<T, ApiFailure>
where
    T: Send + 'static,
    F: FnOnce(&mut dyn ReadTx) -> Result<T, ApiFailure> + Send + 'static,
{
    let store = state.store().clone();
    let joined = tokio::task::spawn_blocking(move || {
        let mut r = store.reader().map_err(store_failure)?;
        f(&mut *r)
    })
    .await;
    joined.unwrap_or_else(|_| Err(ApiFailure::new(ResultCode::INTERNAL, "Internal system error")))
}

/// A store failure during a read: 1010001 (logged).
#[expect(
    clippy::needless_pass_by_value,
    reason = "shaped for `map_err(store_failure)`"
)]
pub(crate) fn store_failure(e: pn_store::StoreError) -> ApiFailure {
    tracing::error!(error = %e, "store read failed");
    ApiFailure::new(ResultCode::INTERNAL, "Internal system error")
}
