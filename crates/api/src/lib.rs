//! pn-api: the provisioning HTTP API, wire-compatible with the `PrivateNumber` reference (AXB, AX, AXE, AXYB),
//! plus pnswitch's admin API, `/openapi.json`, `/metrics` and `/healthz`.
//!
//! I/O contract: HTTP in (axum), durable state out. Every write goes through one engine thread
//! ([`engine::Provisioner`]) that validates it against the store's write transaction, commits a whole group
//! of writes at once, and only after the commit succeeds applies the effects to the in-memory
//! [`pn_bindings::BindingTable`] and answers the callers (acknowledged = committed). Reads (queries) use
//! store read transactions. The API reads the wall clock through one injectable function
//! ([`ApiState::with_clock`]). A client mistake is always a JSON `{"resultcode","resultdesc"}` answer, never a
//! 500 or a panic.
//!
//! The binary builds it like this:
//!
//! ```text
//! let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir, SqliteOptions::default())?);
//! let table = Arc::new(BindingTable::new());
//! pn_api::engine::load_table(&*store, &table, &metrics, now)?;
//! let engine = Provisioner::start(store.clone(), table.clone(), metrics.clone(), config.engine.clone())?;
//! pn_api::engine::spawn_sweeper(engine.clone(), Duration::from_secs(1));
//! pn_api::engine::spawn_nonce_flusher(engine.clone(), Duration::from_secs(1));
//! let prompts = Arc::new(PromptLibrary::open(data_dir.join("prompts"))?);
//! let recordings = Arc::new(RecordingStore::open(data_dir.join("recordings"), &key_file, base, keep, ttl)?);
//! pn_api::media::spawn_purger(recordings.clone(), Duration::from_secs(3600));
//! let state = ApiState::new(config, store, table, metrics, engine)
//!     .with_prompts(prompts)
//!     .with_recordings(recordings)
//!     .with_media_relay(relay);
//! let app = pn_api::router(state);
//! axum::serve(listener, app).await?;   // pnswitch serves it with limits instead (its `http` module)
//! ```

pub mod auth;
mod dto;
pub mod engine;
mod extract;
mod handlers;
pub mod media;
pub mod openapi;
pub mod result;
mod router;
mod state;
mod time;
mod validate;

use serde::Deserialize;

pub use engine::{EngineConfig, EngineHandle, LoadStats, Provisioner};
pub use media::{Prompt, PromptInfo, PromptLibrary, RecordingStore};
pub use result::{ApiFailure, ResultCode};
pub use router::router;
pub use state::{ApiState, Clock};

/// Configuration of the provisioning API (the `[api]` section of the binary's config).
#[derive(Clone, Debug, Deserialize)]
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

/// Errors of pn-api outside a request (startup, loading, the engine's life).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The durable store failed.
    #[error("store: {0}")]
    Store(#[from] pn_store::StoreError),
    /// The engine thread could not be started.
    #[error("engine thread: {0}")]
    Spawn(#[from] std::io::Error),
    /// The engine thread has stopped; no more writes are possible.
    #[error("the provisioning engine has stopped")]
    EngineStopped,
    /// A media file or name was refused (prompt upload, recording name, key file); the text says why.
    #[error("{0}")]
    Invalid(String),
    /// A media file could not be read or written.
    #[error("{}: {source}", path.display())]
    File {
        /// The file or directory.
        path: std::path::PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
}
