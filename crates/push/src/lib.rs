//! pn-push: the thin HTTP driver of pnswitch's pushes (reference §3, §4, §7.1, §7.2).
//!
//! It runs pn-notify's sans-IO delivery core ([`pn_notify::Notifier`]) on tokio: it reads pending outbox rows
//! from the store, hands them to the core, POSTs the core's pushes to the apps' URLs (plain `http://` over
//! pipelined HTTP/1.1 connections of its own, `pipeline.rs`; `https://` with reqwest and rustls; connect and
//! whole-request timeouts) signed with the app's secret (`Authorization: AKSK …` + `X-AKSK`, or the legacy
//! `X-WSSE` per app), reports each answer back (a 2xx delivers), and commits the entries' new
//! states (delivered, dead letter, no receiver) through the provisioning engine's single writer.
//!
//! ```text
//! outbox rows ──read (after a cursor; woken by the writer)──▶ Notifier ──Push──▶ connection rounds
//!      ▲                                                        │  ▲                    │
//!      └──── mark delivered / dead / no receiver (engine) ◀─────┘  └──── 2xx or failure ┘
//! ```
//!
//! Delivery is at least once: an entry leaves the pending state only after its receiver's 2xx was committed as
//! `delivered`; a stop or a `kill -9` before that leaves it pending and it is pushed again after the restart.
//! Each CDR carries its `icid` and each event its `sessionId` and `eventType` for the receiver to de-duplicate.
//!
//! X mode's Block `callin` is not a push: [`HttpCustomerAsk`] sends it for the SIP runtime at once, unstored.

mod ask;
mod config;
mod driver;
mod http1;
mod pipeline;
mod sender;
pub mod sign;

use std::time::Duration;

pub use ask::HttpCustomerAsk;
pub use config::PushConfig;
pub use driver::PushDeps;
use tokio::sync::watch;

/// Why the driver could not start.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// A `[push]` value out of range.
    #[error("{0}")]
    Config(String),
    /// The HTTP client could not be built (TLS roots…).
    #[error("push HTTP client: {0}")]
    Http(String),
}

/// The running push driver: one thread of its own (`pn-push`) with a single-threaded tokio runtime, so
/// pushes never take the SIP runtime's workers (the UDP receive tasks) and their CPU is bounded to one
/// thread.
pub struct Pusher {
    stop: watch::Sender<bool>,
    thread: std::thread::JoinHandle<()>,
}

impl Pusher {
    /// Starts the driver on its own thread.
    pub fn start(deps: PushDeps) -> Result<Self, PushError> {
        let poll_every = Duration::from_millis(deps.config.poll_interval_ms);
        let driver = driver::Driver::new(deps)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .thread_name("pn-push")
            .build()
            .map_err(|e| PushError::Http(format!("push runtime: {e}")))?;
        let (stop, stopped) = watch::channel(false);
        let thread = std::thread::Builder::new()
            .name("pn-push".into())
            .spawn(move || runtime.block_on(driver.run(stopped, poll_every)))
            .map_err(|e| PushError::Http(format!("push thread: {e}")))?;
        Ok(Self { stop, thread })
    }

    /// Stops it: pushes in flight are abandoned (they stay pending and go again after a restart); the
    /// delivery states already known are committed first (bounded wait).
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let thread = self.thread;
        let _ = tokio::task::spawn_blocking(move || thread.join()).await;
    }
}
