//! Bounded, concurrent memory of accepted `(app_key, Nonce)` pairs, so a captured request cannot be replayed
//! while its `Created` is still inside the clock-skew window.
//!
//! Design (cheap at 10,000+ requests/s from many threads):
//!
//! - A pair is reduced to a 64-bit `SipHash` keyed with a per-process random key ([`RandomState`]), so an
//!   attacker cannot aim collisions at someone else's nonces. A chance collision (≈ n²/2⁶⁵ for n remembered
//!   nonces, about 10⁻⁷ at 2 million) only makes one honest request fail as "replayed"; it never admits one.
//! - The hashes live in [`SHARDS`] shards, each a `Mutex` over a map `hash → Created second` plus an expiry
//!   index `Created second → hashes`. A request locks one shard only.
//! - The *floor* is the largest `now − max_skew` any request has seen (monotonic even if callers pass
//!   slightly different clocks). A `Created` below the floor is refused as outside the window, so an entry
//!   below the floor can never be needed again: each shard drops those when it is next locked, and when the
//!   cache is full every shard is swept (at most once per floor second).
//! - The pair is unique across `Created` values: reusing a nonce with a different `Created` inside the window
//!   is also a replay.
//! - When `cap` nonces are remembered and none have expired, new requests are **refused** ("replay cache
//!   full") rather than forgetting nonces that are still inside the window: forgetting would reopen the replay
//!   hole exactly when someone floods the service.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

use parking_lot::Mutex;

/// Number of independently locked shards.
const SHARDS: usize = 64;

/// Why a nonce was not recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReplayError {
    /// The pair was already accepted and is still inside the window.
    Replayed,
    /// `Created` is older than the window (another request has already seen a later clock).
    Stale,
    /// The cache holds `cap` live nonces.
    Full,
}

/// The values are already uniform keyed hashes: use them as the table hash directly.
#[derive(Default)]
struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type Seen = HashMap<u64, i64, BuildHasherDefault<IdentityHasher>>;

#[derive(Default)]
struct Shard {
    /// Keyed hash of `(app_key, nonce)` → the `Created` second it was accepted with.
    seen: Seen,
    /// `Created` second → hashes accepted with it, to drop them once below the floor.
    expiry: BTreeMap<i64, Vec<u64>>,
}

/// The replay memory of one [`Authenticator`](super::Authenticator).
pub(crate) struct ReplayCache {
    key: RandomState,
    max_skew: i64,
    cap: usize,
    /// Largest `now − max_skew` seen so far.
    floor: AtomicI64,
    /// Floor at the last full sweep.
    swept_floor: AtomicI64,
    /// Remembered nonces over all shards (live or not yet dropped).
    len: AtomicUsize,
    shards: Box<[Mutex<Shard>]>,
}

impl ReplayCache {
    /// An empty cache for a window of `±max_skew` seconds holding at most `cap` nonces.
    pub(crate) fn new(max_skew: i64, cap: usize) -> Self {
        Self {
            key: RandomState::new(),
            max_skew: max_skew.max(0),
            cap,
            floor: AtomicI64::new(i64::MIN),
            swept_floor: AtomicI64::new(i64::MIN),
            len: AtomicUsize::new(0),
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
        }
    }

    /// Records `(app_key, nonce)` accepted with `created` at `now` (both Unix seconds), or says why not.
    ///
    /// The caller has already checked `|created − now| ≤ max_skew` and verified the digest.
    pub(crate) fn check_and_record(
        &self,
        app_key: &str,
        nonce: &str,
        created: i64,
        now: i64,
    ) -> Result<(), ReplayError> {
        let mine = now.saturating_sub(self.max_skew);
        let floor = self.floor.fetch_max(mine, Ordering::AcqRel).max(mine);
        if created < floor {
            return Err(ReplayError::Stale);
        }
        let hash = self.key.hash_one((app_key, nonce));
        // hashbrown indexes by the low bits and tags with the top 7: take the shard from the middle.
        let shard = &self.shards[(hash >> 32) as usize % SHARDS];
        match self.try_insert(shard, hash, created, floor) {
            Err(ReplayError::Full) => {
                if self.swept_floor.fetch_max(floor, Ordering::AcqRel) < floor {
                    for other in &self.shards {
                        self.drop_expired(&mut other.lock(), floor);
                    }
                }
                self.try_insert(shard, hash, created, floor)
            }
            other => other,
        }
    }

    /// Puts back a nonce accepted before a restart (from the store). Never refused: the cap does not apply,
    /// so a restored nonce is never forgotten early; one already below the floor is dropped with the others.
    pub(crate) fn restore(&self, app_key: &str, nonce: &str, created: i64) {
        let hash = self.key.hash_one((app_key, nonce));
        let mut guard = self.shards[(hash >> 32) as usize % SHARDS].lock();
        match guard.seen.insert(hash, created) {
            Some(previous) if previous > created => {
                guard.seen.insert(hash, previous);
                return;
            }
            Some(_) => {}
            None => {
                self.len.fetch_add(1, Ordering::AcqRel);
            }
        }
        guard.expiry.entry(created).or_default().push(hash);
    }

    /// The window's floor: a `Created` below it is refused as stale (`i64::MIN` before the first request).
    pub(crate) fn floor(&self) -> i64 {
        self.floor.load(Ordering::Acquire)
    }

    fn try_insert(
        &self,
        shard: &Mutex<Shard>,
        hash: u64,
        created: i64,
        floor: i64,
    ) -> Result<(), ReplayError> {
        let mut guard = shard.lock();
        self.drop_expired(&mut guard, floor);
        if guard.seen.get(&hash).is_some_and(|&c| c >= floor) {
            return Err(ReplayError::Replayed);
        }
        if self.len.fetch_add(1, Ordering::AcqRel) >= self.cap {
            self.len.fetch_sub(1, Ordering::AcqRel);
            return Err(ReplayError::Full);
        }
        if guard.seen.insert(hash, created).is_some() {
            // Overwrote an expired entry that had not been dropped yet: the count is unchanged.
            self.len.fetch_sub(1, Ordering::AcqRel);
        }
        guard.expiry.entry(created).or_default().push(hash);
        Ok(())
    }

    /// Drops every entry of `shard` whose `Created` is below `floor`.
    fn drop_expired(&self, shard: &mut Shard, floor: i64) {
        let mut dropped = 0;
        while shard
            .expiry
            .first_key_value()
            .is_some_and(|(&second, _)| second < floor)
        {
            let Some((second, hashes)) = shard.expiry.pop_first() else {
                break;
            };
            for hash in hashes {
                if shard.seen.get(&hash) == Some(&second) {
                    shard.seen.remove(&hash);
                    dropped += 1;
                }
            }
        }
        if dropped > 0 {
            self.len.fetch_sub(dropped, Ordering::AcqRel);
        }
    }

    /// Nonces currently remembered (live or awaiting their drop).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_once() {
        let cache = ReplayCache::new(300, 100);
        assert_eq!(cache.check_and_record("k", "n1", 1000, 1000), Ok(()));
        assert_eq!(
            cache.check_and_record("k", "n1", 1000, 1000),
            Err(ReplayError::Replayed)
        );
        // Same nonce under another app is a different pair.
        assert_eq!(cache.check_and_record("k2", "n1", 1000, 1000), Ok(()));
        // Same nonce with another Created inside the window is still a replay.
        assert_eq!(
            cache.check_and_record("k", "n1", 1001, 1001),
            Err(ReplayError::Replayed)
        );
        // The pair is not confused by where the key/nonce boundary lies.
        assert_eq!(cache.check_and_record("kn", "1", 1000, 1000), Ok(()));
        assert_eq!(cache.len(), 3);
    }

    #[test]
    fn forgets_after_the_window_and_refuses_stale() {
        let cache = ReplayCache::new(10, 100);
        assert_eq!(cache.check_and_record("k", "n", 1000, 1000), Ok(()));
        // Still inside the window at now = 1010.
        assert_eq!(
            cache.check_and_record("k", "n", 1000, 1010),
            Err(ReplayError::Replayed)
        );
        // Once the floor passes 1000 the old Created is refused outright…
        assert_eq!(
            cache.check_and_record("k", "n", 1000, 1011),
            Err(ReplayError::Stale)
        );
        // …and a fresh use of the nonce with a current Created is accepted; the old entry is dropped.
        assert_eq!(cache.check_and_record("k", "n", 1011, 1011), Ok(()));
        assert_eq!(cache.len(), 1);
        // A caller with an older clock cannot pull the floor back.
        assert_eq!(
            cache.check_and_record("k", "m", 1000, 1005),
            Err(ReplayError::Stale)
        );
    }

    #[test]
    fn full_cache_refuses_until_entries_expire() {
        let cache = ReplayCache::new(5, 3);
        for n in ["a", "b", "c"] {
            assert_eq!(cache.check_and_record("k", n, 100, 100), Ok(()));
        }
        assert_eq!(cache.check_and_record("k", "d", 100, 100), Err(ReplayError::Full));
        // Remembered nonces are not forgotten to make room.
        assert_eq!(
            cache.check_and_record("k", "a", 100, 105),
            Err(ReplayError::Replayed)
        );
        assert_eq!(cache.check_and_record("k", "d", 105, 105), Err(ReplayError::Full));
        // At now = 106 the Created-100 entries fall out of the window; the sweep frees them.
        // (Which shard each nonce lands in is random: the expired ones go either with their shard or in
        // the full sweep.)
        for n in ["d", "e", "f"] {
            assert_eq!(cache.check_and_record("k", n, 106, 106), Ok(()));
        }
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.check_and_record("k", "g", 106, 106), Err(ReplayError::Full));
    }

    #[test]
    fn restored_nonces_are_replays_until_they_expire() {
        let cache = ReplayCache::new(10, 1);
        cache.restore("k", "a", 100);
        cache.restore("k", "b", 95);
        // Restoring ignores the cap and keeps the later Created of a duplicate.
        cache.restore("k", "b", 90);
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.floor(), i64::MIN);
        assert_eq!(
            cache.check_and_record("k", "a", 100, 100),
            Err(ReplayError::Replayed)
        );
        assert_eq!(cache.floor(), 90);
        assert_eq!(
            cache.check_and_record("k", "b", 100, 104),
            Err(ReplayError::Replayed)
        );
        // Once the floor passes them they are dropped (the full cache sweeps) and "b" is accepted again; then
        // the cap (1) applies as usual.
        assert_eq!(cache.check_and_record("k", "b", 111, 111), Ok(()));
        assert_eq!(cache.check_and_record("k", "a", 111, 111), Err(ReplayError::Full));
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn zero_cap_refuses_everything() {
        let cache = ReplayCache::new(5, 0);
        assert_eq!(cache.check_and_record("k", "a", 100, 100), Err(ReplayError::Full));
    }

    #[test]
    fn extreme_times_do_not_panic() {
        let cache = ReplayCache::new(i64::MAX, 10);
        assert_eq!(cache.check_and_record("k", "a", i64::MIN, i64::MIN), Ok(()));
        assert_eq!(cache.check_and_record("k", "b", i64::MAX, i64::MAX), Ok(()));
        let cache = ReplayCache::new(-5, 10);
        assert_eq!(cache.check_and_record("k", "a", 7, 7), Ok(()));
        assert_eq!(cache.check_and_record("k", "a", 7, 7), Err(ReplayError::Replayed));
    }
}
