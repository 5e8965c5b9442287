//! Request authentication (reference §0.1): `Authorization: AKSK realm="SDP",profile="UsernameToken",type="Appkey"`
//! plus `X-AKSK: UsernameToken Username=…,PasswordDigest=…,Nonce=…,Created=…`, the legacy `WSSE`/`X-WSSE`
//! scheme, replay protection, the header builders used for outgoing pushes, and the admin bearer token.
//!
//! Every check answers the reference's specific result code (§0.1, §6.4). Nothing here panics on any header
//! input; failure descriptions never echo raw header content except an already validated `Created`.
//!
//! Choices where the reference is silent:
//! - An `Authorization` header with another scheme (e.g. `Bearer`), or `WSSE` while [`AuthConfig::allow_wsse`]
//!   is off, or a syntactically broken parameter list, answers 1020176 (authentication failed).
//! - Parameter names and the schemes are case-insensitive; values are compared exactly. Values are normally
//!   double-quoted (no escapes; a value ends at the next `"`), bare token values are also accepted. A repeated
//!   parameter is refused (1020176) rather than guessing which copy counts. An empty value counts as missing.
//! - Only the first `Authorization` and `X-AKSK`/`X-WSSE` header is read.
//! - A nonce may be used once per `app_key` while its `Created` is inside the window, whatever `Created` the
//!   second use carries. See the `replay` module for the bounded replay memory and its "replay cache full" refusal,
//!   and [`pn_provision::nonces`] for how accepted nonces are made durable so a replay is refused after a restart too.

mod created;
mod replay;

use axum::http::HeaderMap;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use pn_bindings::{App, UnixTime};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use created::{format_created, parse_created};

use crate::result::{ApiFailure, ResultCode};
use pn_provision::NonceJournal;
use replay::{ReplayCache, ReplayError};

/// The only `Authorization` value pnswitch sends for the AKSK scheme.
const AKSK_AUTHORIZATION: &str = r#"AKSK realm="SDP",profile="UsernameToken",type="Appkey""#;
/// The only `Authorization` value pnswitch sends for the legacy WSSE scheme.
const WSSE_AUTHORIZATION: &str = r#"WSSE realm="SDP",profile="UsernameToken",type="Appkey""#;
/// Most parameters accepted in one header (the reference uses 3 and 4).
const MAX_PARAMS: usize = 16;
/// Longest accepted nonce.
const MAX_NONCE_LEN: usize = 128;

/// Authentication settings (`[auth]` in the server config).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Largest accepted difference, in seconds, between `Created` and the server clock, both ways
    /// (default 300). It is also how long a nonce is remembered. Negative values act as 0.
    pub max_skew_secs: i64,
    /// Whether the legacy `WSSE` / `X-WSSE` scheme is accepted (default true).
    pub allow_wsse: bool,
    /// Most nonces remembered for replay protection (default 2,000,000, roughly 40–80 MB at the worst).
    /// Once that many are inside the window, new requests are refused with 1020176 "replay cache full"
    /// instead of forgetting nonces. Size it to at least peak requests/s × (`max_skew_secs` + 1).
    pub replay_window_cap: usize,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            max_skew_secs: 300,
            allow_wsse: true,
            replay_window_cap: 2_000_000,
        }
    }
}

/// The two signing schemes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scheme {
    /// `AKSK` + `X-AKSK`, HMAC-SHA256.
    Aksk,
    /// Legacy `WSSE` + `X-WSSE`, SHA-256 over nonce, created and secret.
    Wsse,
}

impl Scheme {
    const fn token_header(self) -> &'static str {
        match self {
            Scheme::Aksk => "x-aksk",
            Scheme::Wsse => "x-wsse",
        }
    }

    const fn token_header_name(self) -> &'static str {
        match self {
            Scheme::Aksk => "X-AKSK",
            Scheme::Wsse => "X-WSSE",
        }
    }
}

/// Verifies API requests: header syntax, clock skew, app, digest and nonce replay. `Send + Sync`; share one.
pub struct Authenticator {
    config: AuthConfig,
    replay: ReplayCache,
    /// Where accepted nonces go to be committed (none: replay protection lasts as long as the process).
    journal: Option<std::sync::Arc<NonceJournal>>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn fail(code: ResultCode, desc: impl Into<String>) -> ApiFailure {
    ApiFailure::new(code, desc)
}

impl Authenticator {
    /// An authenticator with an empty replay memory that lives only as long as the process.
    pub fn new(config: AuthConfig) -> Self {
        let replay = ReplayCache::new(config.max_skew_secs, config.replay_window_cap);
        Self {
            config,
            replay,
            journal: None,
        }
    }

    /// An authenticator whose replay memory survives restarts: it starts with the nonces the engine loaded
    /// from the store and queues every nonce it accepts in `journal` for the engine to commit.
    pub(crate) fn with_journal(config: AuthConfig, journal: std::sync::Arc<NonceJournal>) -> Self {
        let mut authenticator = Self::new(config);
        for n in journal.take_restored() {
            authenticator.replay.restore(&n.app_key, &n.nonce, n.created);
        }
        authenticator.journal = Some(journal);
        authenticator
    }

    /// The settings this authenticator was built with.
    pub fn config(&self) -> &AuthConfig {
        &self.config
    }

    /// Verifies `Authorization` + `X-AKSK` (or legacy `X-WSSE`) and returns the app. `lookup` finds an app
    /// by `app_key`.
    ///
    /// Checks, in order: the `Authorization` header (1023006; realm 1023007/1023009, profile 1023008/1023010,
    /// type 1023012/1023011), the token header (1023033, 1023038, then Username 1023034, Nonce 1023035,
    /// Created 1023036, `PasswordDigest` 1023037), the nonce's form and the clock skew (1020176), the app
    /// (1010003 unknown, 1010004 disabled), the digest (1020176) and finally the replay memory (1020176).
    /// The nonce is remembered only once the digest has verified.
    pub fn authenticate(
        &self,
        headers: &HeaderMap,
        now: UnixTime,
        lookup: impl FnOnce(&str) -> Option<App>,
    ) -> Result<App, ApiFailure> {
        let scheme = self.check_authorization(headers)?;
        let token = Token::from_headers(headers, scheme)?;

        if !valid_nonce(token.nonce) {
            return Err(fail(
                ResultCode::AUTH_FAILED,
                "Nonce must be 1-128 characters of [0-9A-Za-z]",
            ));
        }
        let Some(created) = parse_created(token.created) else {
            return Err(fail(
                ResultCode::AUTH_FAILED,
                "Created must be UTC yyyy-MM-ddTHH:mm:ssZ",
            ));
        };
        let skew = self.config.max_skew_secs.max(0).unsigned_abs();
        if created.0.abs_diff(now.0) > skew {
            return Err(self.skew_failure(token.created));
        }

        let Some(app) = lookup(token.username) else {
            return Err(fail(ResultCode::INVALID_APP_KEY, "Invalid app_key"));
        };
        if !app.enabled {
            return Err(fail(
                ResultCode::APP_KEY_UNAVAILABLE,
                "Status of app_key is unavailable",
            ));
        }

        let expected = match scheme {
            Scheme::Aksk => aksk_digest(&app.app_secret, token.nonce, token.created),
            Scheme::Wsse => wsse_digest(&app.app_secret, token.nonce, token.created),
        };
        if expected.is_empty() || !ct_eq(expected.as_bytes(), token.digest.as_bytes()) {
            return Err(fail(
                ResultCode::AUTH_FAILED,
                "Authentication failed: PasswordDigest does not match",
            ));
        }

        match self
            .replay
            .check_and_record(token.username, token.nonce, created.0, now.0)
        {
            Ok(()) => {
                if let Some(journal) = &self.journal {
                    let seen = pn_store::SeenNonce {
                        app_key: token.username.to_owned(),
                        nonce: token.nonce.to_owned(),
                        created: created.0,
                    };
                    journal.record(seen, self.replay.floor());
                }
                Ok(app)
            }
            Err(ReplayError::Replayed) => Err(fail(
                ResultCode::AUTH_FAILED,
                "Authentication failed: nonce replayed",
            )),
            Err(ReplayError::Stale) => Err(self.skew_failure(token.created)),
            Err(ReplayError::Full) => Err(fail(
                ResultCode::AUTH_FAILED,
                "Authentication failed: replay cache full, retry later",
            )),
        }
    }

    fn skew_failure(&self, created: &str) -> ApiFailure {
        fail(
            ResultCode::AUTH_FAILED,
            format!(
                "Authentication failed: Created {created} is outside the allowed clock skew of {}s",
                self.config.max_skew_secs.max(0)
            ),
        )
    }

    /// Checks `Authorization` and answers which scheme the request uses.
    fn check_authorization(&self, headers: &HeaderMap) -> Result<Scheme, ApiFailure> {
        let value = match header_text(headers, "authorization") {
            None => {
                return Err(fail(
                    ResultCode::NO_AUTHORIZATION,
                    "Authorization header is missing",
                ));
            }
            Some(Err(())) => {
                return Err(fail(
                    ResultCode::AUTH_FAILED,
                    "Authorization header is not valid text",
                ));
            }
            Some(Ok(v)) => v,
        };
        let (scheme_name, rest) = split_first_word(value);
        let scheme = if scheme_name.eq_ignore_ascii_case("AKSK") {
            Scheme::Aksk
        } else if scheme_name.eq_ignore_ascii_case("WSSE") {
            if !self.config.allow_wsse {
                return Err(fail(
                    ResultCode::AUTH_FAILED,
                    "The legacy WSSE authentication scheme is disabled",
                ));
            }
            Scheme::Wsse
        } else {
            return Err(fail(ResultCode::AUTH_FAILED, "Authorization scheme must be AKSK"));
        };
        let params = parse_params(rest).map_err(|why| {
            fail(
                ResultCode::AUTH_FAILED,
                format!("Authorization header is malformed: {why}"),
            )
        })?;
        let realm = param(&params, "realm")
            .ok_or_else(|| fail(ResultCode::NO_REALM, "Authorization has no realm"))?;
        let profile = param(&params, "profile")
            .ok_or_else(|| fail(ResultCode::NO_PROFILE, "Authorization has no profile"))?;
        let kind =
            param(&params, "type").ok_or_else(|| fail(ResultCode::NO_TYPE, "Authorization has no type"))?;
        if realm != "SDP" {
            return Err(fail(ResultCode::BAD_REALM, "Authorization realm must be SDP"));
        }
        if profile != "UsernameToken" {
            return Err(fail(
                ResultCode::BAD_PROFILE,
                "Authorization profile must be UsernameToken",
            ));
        }
        if kind != "Appkey" {
            return Err(fail(ResultCode::BAD_TYPE, "Authorization type must be Appkey"));
        }
        Ok(scheme)
    }
}

/// The four fields of an `X-AKSK`/`X-WSSE` `UsernameToken`, borrowed from the header.
struct Token<'a> {
    username: &'a str,
    nonce: &'a str,
    created: &'a str,
    digest: &'a str,
}

impl<'a> Token<'a> {
    fn from_headers(headers: &'a HeaderMap, scheme: Scheme) -> Result<Self, ApiFailure> {
        let name = scheme.token_header_name();
        let value = match header_text(headers, scheme.token_header()) {
            None => return Err(fail(ResultCode::NO_X_AKSK, format!("{name} header is missing"))),
            Some(Err(())) => {
                return Err(fail(
                    ResultCode::AUTH_FAILED,
                    format!("{name} header is not valid text"),
                ));
            }
            Some(Ok(v)) => v,
        };
        let (kind, rest) = split_first_word(value);
        if !kind.eq_ignore_ascii_case("UsernameToken") || rest.is_empty() {
            return Err(fail(
                ResultCode::NO_USERNAME_TOKEN,
                format!("{name} is not a UsernameToken"),
            ));
        }
        let params = parse_params(rest).map_err(|why| {
            fail(
                ResultCode::AUTH_FAILED,
                format!("{name} header is malformed: {why}"),
            )
        })?;
        let username = param(&params, "username")
            .ok_or_else(|| fail(ResultCode::NO_USERNAME, format!("{name} has no Username")))?;
        let nonce = param(&params, "nonce")
            .ok_or_else(|| fail(ResultCode::NO_NONCE, format!("{name} has no Nonce")))?;
        let created = param(&params, "created")
            .ok_or_else(|| fail(ResultCode::NO_CREATED, format!("{name} has no Created")))?;
        let digest = param(&params, "passworddigest")
            .ok_or_else(|| fail(ResultCode::NO_DIGEST, format!("{name} has no PasswordDigest")))?;
        Ok(Self {
            username,
            nonce,
            created,
            digest,
        })
    }
}

/// The first header `name` as trimmed text: `None` if absent or blank, `Some(Err)` if not UTF-8.
fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<Result<&'a str, ()>> {
    let value = headers.get(name)?;
    match std::str::from_utf8(value.as_bytes()) {
        Ok(text) => {
            let text = text.trim_matches(is_ws);
            (!text.is_empty()).then_some(Ok(text))
        }
        Err(_) => Some(Err(())),
    }
}

const fn is_ws(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// Splits `"Scheme rest"` at the first whitespace; `rest` is trimmed.
fn split_first_word(s: &str) -> (&str, &str) {
    match s.find(is_ws) {
        Some(at) => (&s[..at], s[at..].trim_matches(is_ws)),
        None => (s, ""),
    }
}

/// Parses `name="value", name = "value", name=token` into pairs (names as written).
fn parse_params(s: &str) -> Result<Vec<(&str, &str)>, &'static str> {
    let mut params: Vec<(&str, &str)> = Vec::new();
    let mut rest = s;
    loop {
        rest = rest.trim_start_matches(|c| is_ws(c) || c == ',');
        if rest.is_empty() {
            return Ok(params);
        }
        let end = rest
            .find(|c| c == '=' || c == ',' || c == '"' || is_ws(c))
            .unwrap_or(rest.len());
        let name = &rest[..end];
        if name.is_empty() {
            return Err("parameter without a name");
        }
        rest = rest[end..].trim_start_matches(is_ws);
        rest = rest
            .strip_prefix('=')
            .ok_or("parameter without '='")?
            .trim_start_matches(is_ws);
        let value;
        if let Some(quoted) = rest.strip_prefix('"') {
            let close = quoted.find('"').ok_or("unterminated quoted value")?;
            value = &quoted[..close];
            rest = &quoted[close + 1..];
        } else {
            let end = rest
                .find(|c| c == ',' || c == '"' || is_ws(c))
                .unwrap_or(rest.len());
            value = &rest[..end];
            rest = &rest[end..];
        }
        if params.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)) {
            return Err("repeated parameter");
        }
        if params.len() == MAX_PARAMS {
            return Err("too many parameters");
        }
        params.push((name, value));
        rest = rest.trim_start_matches(is_ws);
        if !rest.is_empty() && !rest.starts_with(',') {
            return Err("expected ',' between parameters");
        }
    }
}

/// The non-empty value of parameter `lower_name` (compared case-insensitively).
fn param<'a>(params: &[(&str, &'a str)], lower_name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(lower_name))
        .map(|&(_, v)| v)
        .filter(|v| !v.is_empty())
}

fn valid_nonce(nonce: &str) -> bool {
    (1..=MAX_NONCE_LEN).contains(&nonce.len()) && nonce.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Compares in time that depends only on the lengths.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// `Base64(HMAC-SHA256(key = app_secret, msg = nonce + created))`: the AKSK `PasswordDigest`.
///
/// HMAC accepts keys of any length, so this cannot fail; were the library ever to refuse a key, the result
/// would be the empty string, which [`Authenticator::authenticate`] never accepts.
pub fn aksk_digest(app_secret: &str, nonce: &str, created: &str) -> String {
    match Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()) {
        Ok(mut mac) => {
            mac.update(nonce.as_bytes());
            mac.update(created.as_bytes());
            BASE64.encode(mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    }
}

/// `Base64(SHA256(nonce + created + app_secret))`: the legacy WSSE `PasswordDigest`.
pub fn wsse_digest(app_secret: &str, nonce: &str, created: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(nonce.as_bytes());
    hash.update(created.as_bytes());
    hash.update(app_secret.as_bytes());
    BASE64.encode(hash.finalize())
}

fn token_value(app_key: &str, digest: &str, nonce: &str, created: &str) -> String {
    format!(
        r#"UsernameToken Username="{app_key}",PasswordDigest="{digest}",Nonce="{nonce}",Created="{created}""#
    )
}

/// The `Authorization` and `X-AKSK` headers signing a request or push for `app_key`.
///
/// `nonce` should be fresh per request (1–128 of `[0-9A-Za-z]`) and `created` a [`format_created`] value.
pub fn aksk_headers(
    app_key: &str,
    app_secret: &str,
    nonce: &str,
    created: &str,
) -> [(&'static str, String); 2] {
    let digest = aksk_digest(app_secret, nonce, created);
    [
        ("Authorization", AKSK_AUTHORIZATION.to_owned()),
        ("X-AKSK", token_value(app_key, &digest, nonce, created)),
    ]
}

/// The legacy `Authorization: WSSE …` and `X-WSSE` headers, as [`aksk_headers`] with the WSSE digest.
pub fn wsse_headers(
    app_key: &str,
    app_secret: &str,
    nonce: &str,
    created: &str,
) -> [(&'static str, String); 2] {
    let digest = wsse_digest(app_secret, nonce, created);
    [
        ("Authorization", WSSE_AUTHORIZATION.to_owned()),
        ("X-WSSE", token_value(app_key, &digest, nonce, created)),
    ]
}

/// Whether `presented_authorization` is `Bearer <expected>` (scheme case-insensitive, surrounding
/// whitespace ignored). The comparison is constant-time in the token (SHA-256 of both sides are compared),
/// so neither its content nor its length leaks. An empty `expected` token never matches.
pub fn verify_admin_token(expected: &str, presented_authorization: Option<&str>) -> bool {
    let Some(presented) = presented_authorization else {
        return false;
    };
    let (scheme, token) = split_first_word(presented.trim_matches(is_ws));
    if expected.is_empty() || !scheme.eq_ignore_ascii_case("Bearer") || token.is_empty() {
        return false;
    }
    ct_eq(
        &Sha256::digest(expected.as_bytes()),
        &Sha256::digest(token.as_bytes()),
    )
}

#[cfg(test)]
mod tests;
