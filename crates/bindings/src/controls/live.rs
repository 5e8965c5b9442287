//! Concurrent-call caps: how many calls of an app, or through one X, are up at once.
//!
//! [`LiveCalls`] keeps one count per capped subject (an app, or an app's X) in a striped map: a subject is
//! present only while it has calls up, so the memory is bounded by the live calls, not by the numbers ever
//! seen. A call admitted under caps holds a [`LiveSlot`]; dropping it (the B2BUA does at the call's end, or
//! when the call is dropped for any reason) gives its units back. Unlike the frequency counters this needs
//! exact decrements, so it is a small locked map rather than a lossy atomic table: 64 stripes, each lock held
//! for one hash-map update, shared by the few shard threads (a cap is exact across shards).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, Mutex, PoisonError};

use serde::{Deserialize, Serialize};

use crate::cause::Cause;
use crate::model::AppId;
use crate::table::hash::hash_pair;

const STRIPES: usize = 64;

/// The hasher of the stripes' maps: a subject is already a well-mixed 64-bit hash, so it is its own hash
/// (hashing it again with the default `SipHash` would only cost time on the call path).
#[derive(Default)]
struct PreHashed(u64);

impl Hasher for PreHashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only u64 subjects are hashed here; fold anything else in anyway.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// One stripe: subject → calls up.
type Stripe = HashMap<u64, u32, BuildHasherDefault<PreHashed>>;

/// What a concurrent-call cap counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CapScope {
    /// Every call of the app (default cause 7002, the reference's "app frequency").
    App,
    /// The calls through each X of the app (default cause 7003, "display-number frequency").
    X,
}

impl CapScope {
    /// The cause a cap on this scope refuses with unless it names another.
    pub const fn default_cause(self) -> Cause {
        match self {
            CapScope::App => Cause::APP_FREQUENCY,
            CapScope::X => Cause::DISPLAY_NUMBER_FREQUENCY,
        }
    }
}

/// At most `max` calls up at once for each value of `scope`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ConcurrentCap {
    /// What is counted.
    pub scope: CapScope,
    /// Calls allowed up at once (1 to [`MAX_CONCURRENT`]).
    pub max: u32,
    /// The refusal cause (default: the scope's, see [`CapScope::default_cause`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<Cause>,
}

/// The largest `max` of a cap.
pub const MAX_CONCURRENT: u32 = 1_000_000;

impl ConcurrentCap {
    /// The cause this cap refuses with.
    pub fn cause(&self) -> Cause {
        self.cause.unwrap_or(self.scope.default_cause())
    }

    /// The subject this cap counts for a call of `app` through `x_digits`.
    pub(crate) fn subject(&self, app: AppId, x_digits: u64) -> u64 {
        match self.scope {
            CapScope::App => hash_pair(u64::from(app.0), 0xA77),
            CapScope::X => hash_pair(x_digits, (u64::from(app.0) << 8) | 0x58),
        }
    }
}

/// The live-call counts of every capped subject, shared by every shard (see the module docs).
#[derive(Debug)]
pub struct LiveCalls {
    stripes: Box<[Mutex<Stripe>]>,
}

impl Default for LiveCalls {
    fn default() -> Self {
        Self {
            stripes: (0..STRIPES).map(|_| Mutex::new(Stripe::default())).collect(),
        }
    }
}

impl LiveCalls {
    fn stripe(&self, subject: u64) -> std::sync::MutexGuard<'_, Stripe> {
        // The subject is already a hash: bits 32.. pick the stripe, leaving the low bits (the map's bucket
        // index) and the top 7 (its tag byte) varied within a stripe. A poisoned stripe is still consistent
        // (every update is one map operation).
        #[allow(clippy::cast_possible_truncation)]
        let i = ((subject >> 32) as usize) % STRIPES;
        self.stripes[i].lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Calls up for `subject` now.
    pub fn count(&self, subject: u64) -> u32 {
        self.stripe(subject).get(&subject).copied().unwrap_or(0)
    }

    /// Subjects with calls up (the memory in use is proportional to it).
    pub fn subjects(&self) -> usize {
        self.stripes
            .iter()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }

    /// Takes one unit of `subject` when fewer than `max` are taken.
    fn take(&self, subject: u64, max: u32) -> bool {
        let mut stripe = self.stripe(subject);
        let n = stripe.entry(subject).or_insert(0);
        if *n >= max {
            if *n == 0 {
                stripe.remove(&subject);
            }
            return false;
        }
        *n += 1;
        true
    }

    fn give_back(&self, subject: u64) {
        let mut stripe = self.stripe(subject);
        if let Some(n) = stripe.get_mut(&subject) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                stripe.remove(&subject);
            }
        }
    }

    /// Takes a unit of every `(subject, max)` in order, or none: on the first that is full, the units taken
    /// are given back and its index returned.
    ///
    /// # Errors
    /// The index in `caps` of the first full subject.
    pub fn acquire(self: &Arc<Self>, caps: &[(u64, u32)]) -> Result<LiveSlot, usize> {
        for (i, &(subject, max)) in caps.iter().enumerate() {
            if !self.take(subject, max) {
                for &(taken, _) in &caps[..i] {
                    self.give_back(taken);
                }
                return Err(i);
            }
        }
        let subjects = if caps.len() <= INLINE_CAPS {
            let mut inline = [0u64; INLINE_CAPS];
            for (slot, &(subject, _)) in inline.iter_mut().zip(caps) {
                *slot = subject;
            }
            // At most INLINE_CAPS (4): fits u8.
            #[allow(clippy::cast_possible_truncation)]
            Subjects::Inline(inline, caps.len() as u8)
        } else {
            Subjects::Heap(caps.iter().map(|&(s, _)| s).collect())
        };
        Ok(LiveSlot {
            live: Arc::clone(self),
            subjects,
        })
    }
}

/// Caps a [`LiveSlot`] keeps without allocating (an app has one per scope, so usually one or two).
pub const INLINE_CAPS: usize = 4;

/// The subjects a slot holds units of: inline for the usual few, on the heap beyond [`INLINE_CAPS`].
#[derive(Debug)]
enum Subjects {
    Inline([u64; INLINE_CAPS], u8),
    Heap(Box<[u64]>),
}

impl Subjects {
    fn as_slice(&self) -> &[u64] {
        match self {
            Subjects::Inline(s, n) => &s[..usize::from(*n)],
            Subjects::Heap(s) => s,
        }
    }
}

/// One admitted call's units in the caps it is counted in; dropping it gives them back.
#[derive(Debug)]
pub struct LiveSlot {
    live: Arc<LiveCalls>,
    subjects: Subjects,
}

impl Drop for LiveSlot {
    fn drop(&mut self) {
        for &s in self.subjects.as_slice() {
            self.live.give_back(s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cap_refuses_past_max_and_frees_on_drop() {
        let live = Arc::new(LiveCalls::default());
        let held: Vec<LiveSlot> = (0..3).map(|_| live.acquire(&[(7, 3)]).unwrap()).collect();
        assert_eq!(live.count(7), 3);
        assert_eq!(live.acquire(&[(7, 3)]).unwrap_err(), 0);
        drop(held);
        assert_eq!(live.count(7), 0);
        assert_eq!(live.subjects(), 0, "a subject with no call up takes no memory");
        assert!(live.acquire(&[(7, 3)]).is_ok());
    }

    #[test]
    fn more_caps_than_inline_are_all_held_and_given_back() {
        let live = Arc::new(LiveCalls::default());
        let caps: Vec<(u64, u32)> = (1..=6).map(|s| (s, 1)).collect();
        let slot = live.acquire(&caps).unwrap();
        assert_eq!(live.subjects(), 6);
        assert_eq!(
            live.acquire(&[(6, 1)]).unwrap_err(),
            0,
            "the sixth cap is held too"
        );
        drop(slot);
        assert_eq!(live.subjects(), 0);
    }

    #[test]
    fn all_or_nothing_across_caps() {
        let live = Arc::new(LiveCalls::default());
        let _x = live.acquire(&[(2, 1)]).unwrap();
        // The first cap has room, the second is full: the first unit is given back.
        assert_eq!(live.acquire(&[(1, 5), (2, 1)]).unwrap_err(), 1);
        assert_eq!(live.count(1), 0);
        assert_eq!(live.subjects(), 1);
    }

    #[test]
    fn counts_are_exact_across_threads() {
        let live = Arc::new(LiveCalls::default());
        let admitted = std::sync::atomic::AtomicU32::new(0);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    for i in 0..10_000u32 {
                        if let Ok(slot) = live.acquire(&[(42, 50)]) {
                            admitted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            mine.push(slot);
                        }
                        if i % 3 == 0 {
                            mine.pop();
                        }
                        // The cap holds at every instant, whatever the other threads do.
                        assert!(live.count(42) <= 50);
                        assert!(mine.len() <= 50);
                    }
                });
            }
        });
        assert!(admitted.into_inner() > 50);
        assert_eq!(live.count(42), 0, "every slot was dropped with its thread");
        assert_eq!(live.subjects(), 0);
    }
}
