//! The writer's idle release: once a burst of writes is over and no command came for
//! [`EngineConfig::idle_release_ms`](super::EngineConfig::idle_release_ms), the engine gives back what the store's
//! caches hold ([`Store::release_memory`](pn_store::Store::release_memory): SQLite's page caches, filled by the
//! burst's call facts and bindings, up to `store.writer_cache_mib` and the readers' caches), so a switch's
//! memory falls back near its start once the load stops (issue 14), instead of keeping the caches full
//! forever. Once per quiet period: a release waits for the next write. Housekeeping (the expiry sweep every
//! second, the outbox purge, nonce flushes, feed polls) neither is such a write nor delays the release.

use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::Command;

/// Waits for the engine's next command, releasing once per quiet period.
pub(super) struct IdleRelease {
    /// How long a quiet period lasts before the release (`None`: never release).
    after: Option<Duration>,
    /// A timer for that wait (a current-thread runtime of the engine's thread, only for the timeout).
    timer: Option<tokio::runtime::Runtime>,
    /// When the last batch with a write ran, if one ran since the last release.
    worked: Option<Instant>,
}

impl IdleRelease {
    /// Releases after `after_ms` of quiet (0: never).
    pub(super) fn new(after_ms: u64) -> Self {
        let after = (after_ms > 0).then(|| Duration::from_millis(after_ms));
        let timer = after.and_then(|_| {
            tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .inspect_err(
                    |e| tracing::warn!(error = %e, "no idle release of the store's caches: no timer"),
                )
                .ok()
        });
        Self {
            after,
            timer,
            worked: None,
        }
    }

    /// A batch with a write ran: the quiet period starts again, and ends in a release.
    pub(super) fn worked(&mut self) {
        self.worked = Some(Instant::now());
    }

    /// The next command (`None` once every sender is gone). After a batch with a write, waits at most what is
    /// left of the quiet period for it; when the quiet period passes first, runs `release` and then waits
    /// without a limit.
    pub(super) fn next(
        &mut self,
        rx: &mut mpsc::UnboundedReceiver<Command>,
        release: impl FnOnce(),
    ) -> Option<Command> {
        if let (Some(since), Some(after), Some(timer)) = (self.worked, self.after, &self.timer) {
            let left = after.saturating_sub(since.elapsed());
            // The timeout is made inside the runtime: its timer needs the runtime's time driver.
            match timer.block_on(async { tokio::time::timeout(left, rx.recv()).await }) {
                Ok(command) => return command,
                Err(_quiet) => {
                    self.worked = None;
                    release();
                }
            }
        }
        rx.blocking_recv()
    }
}
