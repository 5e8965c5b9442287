//! Fixed-capacity, lock-free frequency counters for the call controls' sliding windows.
//!
//! One array of `AtomicU64` slots, allocated once: its size is the whole memory the counters ever take, however
//! many distinct keys (callers, callees, X numbers) are counted. A slot packs a 16-bit key tag, the 16 low bits
//! of the window number it counts, and two 16-bit counts (the current and the previous fixed window), updated
//! with one compare-and-swap. The sliding-window estimate is the usual two-window approximation:
//! `previous × (window − elapsed) / window + current`.
//!
//! A key's slot is found in a bucket of two neighbouring slots (same cache line) picked by its hash. A slot
//! whose window is older than the previous one is free (counters expire by themselves, nothing sweeps). When both
//! slots of a bucket hold live counters of other keys, the one with the smaller count is replaced: under a flood
//! of distinct keys beyond the capacity, some keys restart from zero (never more memory). The counters are
//! shared by every shard (`Arc`, atomics): a limit is exact across shards, except that two shards admitting the
//! same key at the same instant may both pass its last free unit (at most one call over per racing shard).

use std::sync::atomic::{AtomicU64, Ordering};

use crate::model::UnixTime;
use crate::table::hash::hash_pair;

/// Slots allocated by [`ControlCounters::default`]: 2^21 (16 MiB), room for about 1M live counters at half load.
pub const DEFAULT_COUNTER_SLOTS: usize = 1 << 21;

/// The largest count a slot holds (a limit's `max` is at most this).
pub const MAX_COUNT: u32 = u16::MAX as u32;

/// The lock-free counters of every app's frequency limits (see the module docs).
pub struct ControlCounters {
    slots: Box<[AtomicU64]>,
    mask: usize,
}

impl std::fmt::Debug for ControlCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlCounters")
            .field("slots", &self.slots.len())
            .finish_non_exhaustive()
    }
}

impl Default for ControlCounters {
    fn default() -> Self {
        Self::with_slots(DEFAULT_COUNTER_SLOTS)
    }
}

/// One slot's fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Slot {
    tag: u16,
    epoch: u16,
    current: u16,
    previous: u16,
}

impl Slot {
    const fn unpack(word: u64) -> Self {
        Self {
            tag: (word >> 48) as u16,
            epoch: (word >> 32) as u16,
            current: (word >> 16) as u16,
            previous: word as u16,
        }
    }

    const fn pack(self) -> u64 {
        ((self.tag as u64) << 48)
            | ((self.epoch as u64) << 32)
            | ((self.current as u64) << 16)
            | self.previous as u64
    }

    /// The counts as of window `epoch` (`None`: the slot is empty or expired).
    fn live(self, epoch: u16) -> Option<(u16, u16)> {
        if self.tag == 0 {
            None
        } else if self.epoch == epoch {
            Some((self.current, self.previous))
        } else if self.epoch.wrapping_add(1) == epoch {
            Some((0, self.current))
        } else {
            None
        }
    }
}

/// A counted key: what it is and the window it is counted over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CounterKey {
    hash: u64,
    window_secs: u32,
}

impl CounterKey {
    /// The key of `subject` (already combined from app, kind and number(s)) over a window of `window_secs`.
    pub fn new(subject: u64, window_secs: u32) -> Self {
        Self {
            hash: hash_pair(subject, u64::from(window_secs)),
            window_secs: window_secs.max(1),
        }
    }

    fn tag(self) -> u16 {
        // Never 0: 0 marks an empty slot.
        ((self.hash >> 48) as u16).max(1)
    }

    /// The fixed window `now` falls in (low 16 bits) and the seconds elapsed in it.
    fn window(self, now: UnixTime) -> (u16, u32) {
        let w = i64::from(self.window_secs);
        let number = now.0.div_euclid(w);
        // `rem_euclid` of a positive u32 window fits in u32.
        (number as u16, u32::try_from(now.0.rem_euclid(w)).unwrap_or(0))
    }
}

impl ControlCounters {
    /// Counters in `slots` slots (rounded up to a power of two, at least 2).
    pub fn with_slots(slots: usize) -> Self {
        let n = slots.max(2).next_power_of_two();
        Self {
            slots: std::iter::repeat_with(|| AtomicU64::new(0)).take(n).collect(),
            mask: n - 1,
        }
    }

    /// How many slots (the fixed capacity).
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Bytes held by the slots (all the memory the counters take, fixed at creation).
    pub fn bytes(&self) -> usize {
        std::mem::size_of_val(&*self.slots)
    }

    /// Slots holding a counter still live at `now` for a window of `window_secs` (a diagnostic, O(capacity)).
    pub fn live_entries(&self, now: UnixTime, window_secs: u32) -> usize {
        let (epoch, _) = CounterKey::new(0, window_secs).window(now);
        self.slots
            .iter()
            .filter(|s| Slot::unpack(s.load(Ordering::Relaxed)).live(epoch).is_some())
            .count()
    }

    fn bucket(&self, key: CounterKey) -> [&AtomicU64; 2] {
        // `mask` < slots.len() ≤ usize::MAX: the truncation keeps the low bits, which is the point.
        let i = (key.hash as usize) & self.mask & !1;
        [&self.slots[i], &self.slots[i + 1]]
    }

    /// The sliding-window estimate of `key` at `now`, scaled by the window (`estimate × window_secs`).
    pub fn scaled_estimate(&self, key: CounterKey, now: UnixTime) -> u64 {
        let [a, b] = self.bucket(key);
        scaled_in(&[a.load(Ordering::Acquire), b.load(Ordering::Acquire)], key, now)
    }

    /// Whether one more event of `key` at `now` keeps its sliding-window estimate within `max`.
    pub fn has_room(&self, key: CounterKey, max: u32, now: UnixTime) -> bool {
        self.scaled_estimate(key, now) < u64::from(max) * u64::from(key.window_secs)
    }

    /// [`Self::has_room`] for each `(key, max)` of `checks`, in order: the index of the first without room.
    ///
    /// Each key's bucket is a random place in a table far larger than the caches, so each check is a cache
    /// miss. The buckets are all read first, one independent load each, which the CPU overlaps: the misses cost
    /// about one memory latency together instead of one each (the point of this method over a loop of
    /// [`Self::has_room`]). At most [`ROOM_BATCH`] keys at a time; longer lists are taken in batches.
    pub fn first_without_room(&self, checks: &[(CounterKey, u32)], now: UnixTime) -> Option<usize> {
        for (batch, chunk) in checks.chunks(ROOM_BATCH).enumerate() {
            let mut words = [[0u64; 2]; ROOM_BATCH];
            for (w, (key, _)) in words.iter_mut().zip(chunk) {
                let [a, b] = self.bucket(*key);
                *w = [a.load(Ordering::Acquire), b.load(Ordering::Acquire)];
            }
            for (i, (w, &(key, max))) in words.iter().zip(chunk).enumerate() {
                if scaled_in(w, key, now) >= u64::from(max) * u64::from(key.window_secs) {
                    return Some(batch * ROOM_BATCH + i);
                }
            }
        }
        None
    }

    /// Counts one event of `key` at `now` (saturating at [`MAX_COUNT`]).
    pub fn add(&self, key: CounterKey, now: UnixTime) {
        let (epoch, _) = key.window(now);
        let tag = key.tag();
        let bucket = self.bucket(key);
        loop {
            let words = [
                bucket[0].load(Ordering::Acquire),
                bucket[1].load(Ordering::Acquire),
            ];
            let slots = words.map(Slot::unpack);
            let pick = slots
                .iter()
                .position(|s| s.tag == tag && s.live(epoch).is_some())
                .or_else(|| slots.iter().position(|s| s.live(epoch).is_none()))
                .unwrap_or_else(|| {
                    // Both hold live counters of other keys: replace the smaller.
                    let weight = |s: &Slot| s.live(epoch).map_or(0, |(c, p)| u32::from(c) + u32::from(p));
                    usize::from(weight(&slots[1]) < weight(&slots[0]))
                });
            let (current, previous) = match slots[pick] {
                s if s.tag == tag => s.live(epoch).unwrap_or((0, 0)),
                _ => (0, 0),
            };
            let next = Slot {
                tag,
                epoch,
                current: current.saturating_add(1),
                previous,
            };
            if bucket[pick]
                .compare_exchange_weak(words[pick], next.pack(), Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                return;
            }
        }
    }
}

/// How many keys [`ControlCounters::first_without_room`] reads at once.
pub const ROOM_BATCH: usize = 8;

/// The scaled estimate of `key` at `now` from its bucket's two words (see
/// [`ControlCounters::scaled_estimate`]).
fn scaled_in(words: &[u64; 2], key: CounterKey, now: UnixTime) -> u64 {
    let (epoch, elapsed) = key.window(now);
    let tag = key.tag();
    words
        .iter()
        .map(|&w| Slot::unpack(w))
        .find_map(|s| (s.tag == tag).then(|| s.live(epoch)).flatten())
        .map_or(0, |(current, previous)| {
            scaled(current, previous, key.window_secs, elapsed)
        })
}

/// `(previous × (window − elapsed) + current × window)`: the estimate times the window, in integers.
fn scaled(current: u16, previous: u16, window: u32, elapsed: u32) -> u64 {
    u64::from(previous) * u64::from(window.saturating_sub(elapsed)) + u64::from(current) * u64::from(window)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_round_trip() {
        let s = Slot {
            tag: 0xBEEF,
            epoch: 7,
            current: 65535,
            previous: 3,
        };
        assert_eq!(Slot::unpack(s.pack()), s);
    }

    #[test]
    fn counts_expire_after_two_windows() {
        let c = ControlCounters::with_slots(64);
        let k = CounterKey::new(42, 60);
        for _ in 0..3 {
            c.add(k, UnixTime(600));
        }
        assert_eq!(c.scaled_estimate(k, UnixTime(600)), 3 * 60);
        // Next window, 30 s in: half of the previous window still counts.
        assert_eq!(c.scaled_estimate(k, UnixTime(690)), 3 * 30);
        // Two windows later: gone.
        assert_eq!(c.scaled_estimate(k, UnixTime(720)), 0);
        assert_eq!(c.live_entries(UnixTime(720), 60), 0);
    }

    #[test]
    fn distinct_keys_do_not_share_counts() {
        let c = ControlCounters::with_slots(1024);
        let (a, b) = (CounterKey::new(1, 60), CounterKey::new(2, 60));
        c.add(a, UnixTime(0));
        c.add(a, UnixTime(1));
        c.add(b, UnixTime(1));
        assert_eq!(c.scaled_estimate(a, UnixTime(1)), 2 * 60);
        assert_eq!(c.scaled_estimate(b, UnixTime(1)), 60);
    }

    #[test]
    fn first_without_room_agrees_with_has_room_across_batches() {
        let c = ControlCounters::with_slots(1 << 12);
        let now = UnixTime(6_000);
        // 20 keys (three batches), key k counted k times; each allows at most 10.
        let keys: Vec<(CounterKey, u32)> = (0..20u32)
            .map(|k| (CounterKey::new(u64::from(k) + 100, 60), 10))
            .collect();
        for (k, (key, _)) in keys.iter().enumerate() {
            for _ in 0..k {
                c.add(*key, now);
            }
        }
        let expected = keys.iter().position(|&(key, max)| !c.has_room(key, max, now));
        assert_eq!(expected, Some(10));
        assert_eq!(c.first_without_room(&keys, now), expected);
        // Only the keys with room: none refuses.
        assert_eq!(c.first_without_room(&keys[..10], now), None);
        // The first full key in a later batch is found at its index.
        assert_eq!(c.first_without_room(&keys[12..], now), Some(0));
        assert_eq!(c.first_without_room(&[], now), None);
    }
}
