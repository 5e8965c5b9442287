//! pn-api: the provisioning HTTP API, wire-compatible with the `PrivateNumber` reference (AXB, AX, AXE, AXYB),
//! plus pnswitch's admin API, `/openapi.json`, `/metrics` and `/healthz`.
//!
//! I/O contract: HTTP in (axum), HTTP out; nothing else. A handler extracts the request, authenticates it,
//! validates its fields, calls the provisioning core ([`pn_provision`]: writes through its single writer
//! [`pn_provision::EngineHandle`], reads through store read transactions) and shapes the reply: a domain result
//! becomes the reference's JSON fields, a [`pn_provision::ProvisionError`] becomes
//! `{"resultcode","resultdesc"}` with its reference code and text ([`ApiFailure`]). The API reads the wall
//! clock through one injectable function ([`ApiState::with_clock`]). A client mistake is always a JSON answer,
//! never a 500 or a panic.
//!
//! The binary builds the provisioning core (see [`pn_provision`]) and then the API over it:
//!
//! ```text
//! let engine = Provisioner::start(store.clone(), table.clone(), metrics.clone(), config.api.engine.clone())?;
//! let state = ApiState::new(config, store, table, metrics, engine)
//!     .with_prompts(prompts)
//!     .with_recordings(recordings)
//!     .with_media_relay(relay);
//! let app = pn_api::router(state);
//! axum::serve(listener, app).await?;   // pnswitch serves it with limits instead (its `http` module)
//! ```

pub mod auth;
mod dto;
mod extract;
mod handlers;
pub mod limits;
pub mod openapi;
mod peers;
mod proxy;
pub mod result;
mod router;
mod state;
mod time;
mod validate;

use pn_provision::EngineConfig;
use serde::{Deserialize, Serialize};

pub use peers::PeerLookup;
pub use proxy::RecordingProxy;
pub use result::{ApiFailure, ResultCode};
pub use router::router;
pub use state::{ApiState, Clock};

/// Configuration of the provisioning API (the `[api]` section of the binary's config).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    /// Request authentication (`X-AKSK` / `X-WSSE`).
    pub auth: auth::AuthConfig,
    /// Bearer token of the admin API; `None` disables the admin API (403).
    pub admin_token: Option<String>,
    /// Largest accepted request body in bytes (larger bodies get 413 with resultcode 1020001).
    pub max_body_bytes: usize,
    /// The write engine.
    pub engine: EngineConfig,
    /// Base URL clients reach this server at, for recording download URLs and the CDR's `recordDomain`
    /// (e.g. `https://pn.example.com`); `None`: `http://<the HTTP listen address>`.
    pub public_url: Option<String>,
    /// Days a call recording is kept (file age), after which downloads answer 1012007 (default 7, as the
    /// reference).
    pub record_retention_days: u32,
    /// Seconds a recording download URL stays valid (default 259200 = 3 days, as the reference).
    pub record_url_ttl_secs: u64,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            auth: auth::AuthConfig::default(),
            admin_token: None,
            max_body_bytes: 64 * 1024,
            engine: EngineConfig::default(),
            public_url: None,
            record_retention_days: 7,
            record_url_ttl_secs: 259_200,
        }
    }
}
