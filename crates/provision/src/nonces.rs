//! The nonce journal: nonces the HTTP API's authenticator (pn-api) accepted, waiting for the
//! provisioning writer to commit them, so that replay protection survives a restart.
//!
//! The authenticator appends every accepted `(app_key, Nonce, Created)` here before its request goes on. The
//! engine thread takes the whole journal into every batch's write transaction, just before the commit (the
//! group commit: no extra fsync), and prunes the stored nonces that fell out of the replay window. A write
//! queues its nonce before it submits its command, so the nonce is committed by the same or an earlier
//! batch: **acknowledged implies nonce durable**. Requests that write nothing (queries, refusals) do not wait:
//! their nonces ride with the next batch, which the nonce flusher
//! ([`spawn_nonce_flusher`](crate::engine::spawn_nonce_flusher)) forces within a second when nothing else
//! commits. At start the engine loads the stored nonces and the authenticator puts them back into its replay
//! cache.

use std::sync::atomic::{AtomicI64, Ordering};

use parking_lot::Mutex;
use pn_store::SeenNonce;

/// Accepted nonces not yet committed, the replay window's floor, and the nonces restored at start.
#[derive(Debug)]
pub struct NonceJournal {
    /// Accepted, not yet taken by a batch.
    pending: Mutex<Vec<SeenNonce>>,
    /// The replay cache's floor: a `Created` below it is refused, so stored nonces below it may go.
    floor: AtomicI64,
    /// Loaded from the store at start, until the authenticator takes them.
    restored: Mutex<Vec<SeenNonce>>,
}

impl NonceJournal {
    /// An empty journal holding the nonces `restored` from the store.
    pub fn new(restored: Vec<SeenNonce>) -> Self {
        Self {
            pending: Mutex::new(Vec::new()),
            floor: AtomicI64::new(i64::MIN),
            restored: Mutex::new(restored),
        }
    }

    /// Queues an accepted nonce; `floor` is the replay window's floor at the time.
    pub fn record(&self, nonce: SeenNonce, floor: i64) {
        self.floor.fetch_max(floor, Ordering::AcqRel);
        self.pending.lock().push(nonce);
    }

    /// Takes every queued nonce and the floor below which stored nonces may be pruned.
    pub fn take(&self) -> (Vec<SeenNonce>, i64) {
        let taken = std::mem::take(&mut *self.pending.lock());
        (taken, self.floor.load(Ordering::Acquire))
    }

    /// Queues nonces again whose batch failed to commit, except those already out of the window (so the
    /// queue stays bounded while the store keeps failing).
    pub fn put_back(&self, mut nonces: Vec<SeenNonce>) {
        let floor = self.floor.load(Ordering::Acquire);
        nonces.retain(|n| n.created >= floor);
        if nonces.is_empty() {
            return;
        }
        let mut pending = self.pending.lock();
        nonces.append(&mut pending);
        *pending = nonces;
    }

    /// Whether no nonce waits for a commit.
    pub fn is_empty(&self) -> bool {
        self.pending.lock().is_empty()
    }

    /// The nonces loaded at start (once; later calls get none).
    pub fn take_restored(&self) -> Vec<SeenNonce> {
        std::mem::take(&mut *self.restored.lock())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(nonce: &str, created: i64) -> SeenNonce {
        SeenNonce {
            app_key: "k".into(),
            nonce: nonce.into(),
            created,
        }
    }

    #[test]
    fn take_drains_and_put_back_keeps_order() {
        let j = NonceJournal::new(vec![n("old", 1)]);
        assert!(j.is_empty());
        j.record(n("a", 10), 5);
        j.record(n("b", 11), 3);
        let (taken, floor) = j.take();
        assert_eq!(taken, vec![n("a", 10), n("b", 11)]);
        // The floor never goes back.
        assert_eq!(floor, 5);
        assert!(j.is_empty());
        j.record(n("c", 12), 6);
        j.put_back(taken);
        assert_eq!(j.take().0, vec![n("a", 10), n("b", 11), n("c", 12)]);
        // Nonces that left the window meanwhile are not queued again.
        j.record(n("d", 13), 11);
        j.put_back(vec![n("a", 10), n("e", 11)]);
        assert_eq!(j.take().0, vec![n("e", 11), n("d", 13)]);
        assert_eq!(j.take_restored(), vec![n("old", 1)]);
        assert!(j.take_restored().is_empty());
    }
}
