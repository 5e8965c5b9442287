//! Calls in progress: `POST /rest/httpsessions/callStop/v2.0` (reference §2.5). Signed like the mode APIs;
//! an app may stop only its own calls. The SIP runtime does the release through
//! [`pn_provision::CallControl`] (see [`crate::ApiState::with_call_control`]).

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::HeaderMap;
use axum::response::Response;
use pn_provision::StopOutcome;
use serde_json::json;

use crate::extract::{Outcome, authenticate_any, body_fields, respond};
use crate::result::{ApiFailure, ResultCode};
use crate::state::ApiState;
use crate::validate::param_error;

type Body = Result<Bytes, BytesRejection>;

/// The only `signal` the reference defines.
const CALL_STOP: &str = "call_stop";

/// POST: stop a call of the signing app.
#[utoipa::path(
    post,
    path = "/rest/httpsessions/callStop/v2.0",
    tag = "calls",
    operation_id = "call_stop",
    request_body = crate::dto::requests::CallStopRequest,
    responses((status = 200, description = "resultcode 0 (the call is being released on both legs, stateCode 8070), or a refusal: 1020152 no call of this app with that sessionId", body = crate::dto::ApiResult)),
    security(("aksk" = []), ("wsse" = [])),
    extensions(("x-resultcodes" = json!(["0", "1020152", "1020001", "1010001", "1010003", "1010004", "1020176", "1010010", "1020166", "1023006", "1023007", "1023008", "1023009", "1023010", "1023011", "1023012", "1023033", "1023034", "1023035", "1023036", "1023037", "1023038"]))),
)]
pub(crate) async fn call_stop(State(s): State<ApiState>, headers: HeaderMap, body: Body) -> Response {
    respond(call_stop_inner(&s, &headers, body).await)
}

async fn call_stop_inner(s: &ApiState, headers: &HeaderMap, body: Body) -> Outcome {
    let app = authenticate_any(s, headers)?;
    let f = body_fields(body)?;
    let session_id = f.str_req("sessionid", 1, 256)?;
    let signal = f.str_req("signal", 1, 32)?;
    if signal != CALL_STOP {
        return Err(param_error("signal", "must be call_stop"));
    }
    let not_found = || ApiFailure::new(ResultCode::INVALID_SESSION_ID, "Invalid sessionId");
    let Some(control) = s.call_control() else {
        return Err(not_found());
    };
    match control.stop_call(app.id, &session_id).await {
        StopOutcome::Stopped => Ok(json!({})),
        // Another app's call is answered as unknown: its existence does not leak.
        StopOutcome::NotFound | StopOutcome::OtherApp => Err(not_found()),
        _ => Err(ApiFailure::new(ResultCode::INTERNAL, "Internal system error")),
    }
}
