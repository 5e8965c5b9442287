//! Result codes of the provisioning API (reference §6.4, §0.1) and the failure value every handler returns.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use pn_provision::ProvisionError;
use serde_json::json;

/// A reference `resultcode` with the HTTP status pnswitch answers it with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResultCode {
    /// The `resultcode` string.
    pub code: &'static str,
    /// The HTTP status it travels with.
    pub http: StatusCode,
}

macro_rules! codes {
    ($($(#[$doc:meta])* $name:ident = $code:literal, $status:ident;)*) => {
        impl ResultCode {
            $($(#[$doc])* pub const $name: ResultCode = ResultCode { code: $code, http: StatusCode::$status };)*
        }
    };
}

codes! {
    /// 0: success.
    SUCCESS = "0", OK;
    /// 1010001: internal system error (never for a client mistake).
    INTERNAL = "1010001", INTERNAL_SERVER_ERROR;
    /// 1010002: invalid request (bad format, non-global number, conflicting fields, bad timeUnit…).
    INVALID_REQUEST = "1010002", FORBIDDEN;
    /// 1010003: invalid `app_key`.
    INVALID_APP_KEY = "1010003", FORBIDDEN;
    /// 1010004: `app_key` status unavailable (app disabled).
    APP_KEY_UNAVAILABLE = "1010004", FORBIDDEN;
    /// 1010040: the `app_key` is not allowed to invoke this API (wrong mode).
    WRONG_MODE = "1010040", FORBIDDEN;
    /// 1011001: the number does not exist or is not owned by this app.
    NUMBER_NOT_OWNED = "1011001", OK;
    /// 1011002: insufficient number resources (X full, no idle X in the area, A has too many X).
    INSUFFICIENT_RESOURCES = "1011002", OK;
    /// 1011004: the number is not applied for binding (unbind of an unbound number).
    NUMBER_NOT_BOUND = "1011004", OK;
    /// 1011005: resources have been allocated (AX X already bound to another A).
    ALREADY_ALLOCATED = "1011005", OK;
    /// 1012007: the record does not exist (bind/modify/unbind/record).
    RECORD_NOT_FOUND = "1012007", OK;
    /// 1012010: the number has been bound (a user number at most once per X).
    NUMBER_ALREADY_BOUND = "1012010", OK;
    /// 1012102: the number status is abnormal (X paused/unavailable/frozen).
    NUMBER_STATUS_ABNORMAL = "1012102", OK;
    /// 1016001: the record does not exist (query).
    QUERY_NOT_FOUND = "1016001", OK;
    /// 1016002: the record already exists.
    RECORD_EXISTS = "1016002", OK;
    /// 1020001: parameter error (missing, ill-typed or out-of-range field).
    PARAMETER_ERROR = "1020001", BAD_REQUEST;
    /// 1020152: invalid `sessionId` (call stop: no call of this app in progress with it).
    INVALID_SESSION_ID = "1020152", OK;
    /// 1020167: no idle extension number (AXE).
    NO_IDLE_EXTENSION = "1020167", OK;
    /// 1020176: authentication failed (digest, clock skew, replayed nonce).
    AUTH_FAILED = "1020176", BAD_REQUEST;
    /// 1023006: no Authorization header.
    NO_AUTHORIZATION = "1023006", BAD_REQUEST;
    /// 1023007: Authorization has no realm.
    NO_REALM = "1023007", BAD_REQUEST;
    /// 1023008: Authorization has no profile.
    NO_PROFILE = "1023008", BAD_REQUEST;
    /// 1023009: realm is not SDP.
    BAD_REALM = "1023009", BAD_REQUEST;
    /// 1023010: profile is not `UsernameToken`.
    BAD_PROFILE = "1023010", BAD_REQUEST;
    /// 1023011: type is not Appkey.
    BAD_TYPE = "1023011", BAD_REQUEST;
    /// 1023012: Authorization has no type.
    NO_TYPE = "1023012", BAD_REQUEST;
    /// 1023033: no X-AKSK (or X-WSSE) header.
    NO_X_AKSK = "1023033", BAD_REQUEST;
    /// 1023034: no Username in X-AKSK.
    NO_USERNAME = "1023034", BAD_REQUEST;
    /// 1023035: no Nonce in X-AKSK.
    NO_NONCE = "1023035", BAD_REQUEST;
    /// 1023036: no Created in X-AKSK.
    NO_CREATED = "1023036", BAD_REQUEST;
    /// 1023037: no `PasswordDigest` in X-AKSK.
    NO_DIGEST = "1023037", BAD_REQUEST;
    /// 1023038: X-AKSK is not a `UsernameToken`.
    NO_USERNAME_TOKEN = "1023038", BAD_REQUEST;
    /// 1020001 with 404: no such API path (pnswitch's choice; the reference is silent).
    ROUTE_NOT_FOUND = "1020001", NOT_FOUND;
    /// 1020001 with 405: the path exists but not with this method.
    METHOD_NOT_ALLOWED = "1020001", METHOD_NOT_ALLOWED;
    /// 1010040 with 403: the admin API is disabled (no admin token configured).
    ADMIN_DISABLED = "1010040", FORBIDDEN;
    /// 1020176 with 401: missing or wrong admin bearer token.
    ADMIN_UNAUTHORIZED = "1020176", UNAUTHORIZED;
    /// 1010002 with 400: an uploaded prompt file or its name is refused (format, size, name).
    INVALID_FILE = "1010002", BAD_REQUEST;
    /// 1020176 with 403: a recording download URL whose signature is wrong or whose time has passed.
    URL_DENIED = "1020176", FORBIDDEN;
    /// 1012007 with 404: the file behind a download URL (or a prompt) does not exist (never was, or purged).
    FILE_NOT_FOUND = "1012007", NOT_FOUND;
    /// 1023002 with 408: the request's body did not arrive within the HTTP request timeout; nothing was
    /// done, resend it.
    REQUEST_TIMEOUT = "1023002", REQUEST_TIMEOUT;
    /// 1010010 with 503: flow control, the HTTP connection cap is reached; retry later.
    TOO_MANY_CONNECTIONS = "1010010", SERVICE_UNAVAILABLE;
    /// 1010010 with 429: flow control, the app's `controls.api.requestsPerSec` is exceeded (`Retry-After`).
    FLOW_CONTROL = "1010010", TOO_MANY_REQUESTS;
    /// 1020166 with 403: the request's source address is not in the app's `controls.api.allowedSources`.
    IP_NOT_ALLOWED = "1020166", FORBIDDEN;
}

/// A failed API call: the code, and a `resultdesc` that says what was wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiFailure {
    /// The reference result code.
    pub code: ResultCode,
    /// Human-readable `resultdesc` naming the offending field or rule.
    pub desc: String,
    /// Seconds for a `Retry-After` header (flow control), if any.
    pub retry_after_secs: Option<u64>,
}

impl ApiFailure {
    /// A failure with this code and description.
    pub fn new(code: ResultCode, desc: impl Into<String>) -> Self {
        Self {
            code,
            desc: desc.into(),
            retry_after_secs: None,
        }
    }

    /// The same failure answered with `Retry-After: secs`.
    #[must_use]
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after_secs = Some(secs);
        self
    }
}

impl From<ProvisionError> for ApiFailure {
    /// The refusal's reference code and text, unchanged; a failure of the machinery is logged and answered
    /// 1010001 "Internal system error" (its details stay in the log).
    fn from(e: ProvisionError) -> Self {
        let code = match &e {
            ProvisionError::InvalidRequest(_) => ResultCode::INVALID_REQUEST,
            ProvisionError::InvalidFile(_) => ResultCode::INVALID_FILE,
            ProvisionError::WrongMode => ResultCode::WRONG_MODE,
            ProvisionError::NumberNotOwned(_) => ResultCode::NUMBER_NOT_OWNED,
            ProvisionError::InsufficientResources(_) => ResultCode::INSUFFICIENT_RESOURCES,
            ProvisionError::NumberNotBound(_) => ResultCode::NUMBER_NOT_BOUND,
            ProvisionError::AlreadyAllocated => ResultCode::ALREADY_ALLOCATED,
            ProvisionError::NotFound(_) => ResultCode::RECORD_NOT_FOUND,
            ProvisionError::AlreadyBound(_) => ResultCode::NUMBER_ALREADY_BOUND,
            ProvisionError::NumberStatusAbnormal(_) => ResultCode::NUMBER_STATUS_ABNORMAL,
            ProvisionError::RecordExists(_) => ResultCode::RECORD_EXISTS,
            ProvisionError::NoIdleExtension(_) => ResultCode::NO_IDLE_EXTENSION,
            ProvisionError::Internal | ProvisionError::Stopped => ResultCode::INTERNAL,
            other => {
                tracing::error!(error = %other, "provisioning failed");
                return Self::new(ResultCode::INTERNAL, "Internal system error");
            }
        };
        Self::new(code, e.to_string())
    }
}

impl IntoResponse for ApiFailure {
    /// `{"resultcode": "...", "resultdesc": "..."}` with the code's HTTP status.
    fn into_response(self) -> Response {
        let mut response = (
            self.code.http,
            Json(json!({"resultcode": self.code.code, "resultdesc": self.desc})),
        )
            .into_response();
        if let Some(secs) = self.retry_after_secs {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(secs),
            );
        }
        response
    }
}
