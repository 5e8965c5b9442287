//! pn-provision: the provisioning core of pnswitch, shared by the HTTP API (pn-api), the SIP runtime and any
//! future writer or reader of provisioned state (a push sender, a change feed). It knows no HTTP and no JSON.
//!
//! I/O contract: domain requests in ([`AxbBind`], [`AxBind`], [`CreateApp`], …), domain results out
//! ([`AxbBound`], [`App`](pn_bindings::App), …) or a [`ProvisionError`] carrying the reference `resultcode`.
//! Every write goes through one engine thread ([`Provisioner`]) that validates it against the store's write
//! transaction, commits a whole group of writes at once, and only after the commit succeeds applies the
//! effects to the in-memory [`pn_bindings::BindingTable`] and answers the callers (acknowledged = committed).
//! [`load_table`] fills the table from the store at start; [`spawn_sweeper`] deletes expired bindings,
//! [`spawn_outbox_purger`] applies the outbox retention and [`spawn_nonce_flusher`] commits the API nonces
//! of requests that wrote nothing (tokio tasks around the engine handle). With several nodes on one shared
//! store the sweeper and the purger work only on the cluster's leader, and [`spawn_cluster_jobs`] sends the
//! node's heartbeats and takes over the pending outbox entries of dead nodes (`engine/cluster.rs`).
//!
//! The prompt library and the recordings store ([`media`]) live here too rather than in a crate of their own:
//! they are provisioned state of an app with exactly the same two users as the engine (the API writes and
//! serves them, the SIP runtime plays and records into them), the same dependencies (pn-bindings, pn-media)
//! and the same error values; a separate crate would add a second error enum and a crate boundary without
//! removing a single dependency from either user.
//!
//! The binary builds it like this:
//!
//! ```text
//! let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir, SqliteOptions::default())?);
//! let table = Arc::new(BindingTable::new());
//! pn_provision::load_table(&*store, &table, &metrics, now)?;
//! let engine = Provisioner::start(store.clone(), table.clone(), metrics.clone(), config.engine.clone())?;
//! pn_provision::spawn_sweeper(engine.clone(), Duration::from_secs(1));
//! pn_provision::spawn_nonce_flusher(engine.clone(), Duration::from_secs(1));
//! let prompts = Arc::new(PromptLibrary::open(data_dir.join("prompts"))?);
//! let recordings = Arc::new(RecordingStore::open(data_dir.join("recordings"), &key_file, base, keep, ttl)?);
//! pn_provision::media::spawn_purger(recordings.clone(), Duration::from_secs(3600));
//! ```

pub mod calls;
pub mod engine;
mod error;
pub mod media;
pub mod nonces;

use std::time::{SystemTime, UNIX_EPOCH};

use pn_bindings::UnixTime;

pub use calls::{CallControl, StopFuture, StopOutcome};
pub use engine::admin::{
    AppMediaPatch, AppPushPatch, Change, CreateApp, ImportNumbers, ImportReport, NumberImport, RetireNumber,
    Retired, SetNumber, UNAVAILABLE_CAUSES, UpdateApp, num_status_body,
};
pub use engine::ax::{AxBind, AxBound, AxModify, AxTarget, AxTempCallee, AxUnbind};
pub use engine::axb::{AxbBind, AxbBound, AxbModify, AxbUnbind, AxbUnbindBy, ControlsPatch};
pub use engine::axe::{AxeBind, AxeBound, AxeModify, AxeTarget, AxeUnbind};
pub use engine::axyb::{AxybBind, AxybBound, AxybRelation, AxybUnbind, YbBound};
pub use engine::{
    ClusterJobs, EngineConfig, EngineHandle, FEED_POLL, FeedState, LoadStats, OutboxRetention, OutboxRow,
    OutboxSignal, Provisioner, XSelect, load_table, require_mode, spawn_cluster_jobs, spawn_feed_follower,
    spawn_nonce_flusher, spawn_outbox_purger, spawn_sweeper, status_name,
};
pub use error::ProvisionError;
pub use media::{Prompt, PromptInfo, PromptLibrary, RecordingStore};
pub use nonces::NonceJournal;

/// The system clock in whole seconds (0 if the clock is before 1970): the time of writes the runtime and the
/// background tasks submit.
pub fn system_now() -> UnixTime {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    UnixTime(i64::try_from(secs).unwrap_or(i64::MAX))
}
