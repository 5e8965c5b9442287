//! The AXB record arena: append-only buckets of seqlocked records, addressed by a 32-bit index.
//!
//! A record holds only what a call needs from an AXB binding, as seven `AtomicU64` words (56 bytes). Writers
//! (serialised by the caller) update a record under its sequence lock; readers copy it out and retry if the
//! sequence changed or was odd meanwhile, so they never observe a torn record. Records are never freed while
//! the arena lives; the index recycles them through a free list, and readers verify the key of what they read,
//! so reuse is safe. Buckets never move: bucket 0 is sized for the pre-sized capacity, later buckets double,
//! are allocated on demand and published through `OnceLock` (lock-free read). Buckets are zeroed fresh memory,
//! so only pages holding used records are resident.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering, fence};

use pn_numbers::E164;

use super::axb::AxbRoute;
use super::raw::zeroed_groups;
use crate::model::{AppId, BindingId, CallDirection, UnixTime};

/// Smallest growth bucket (records); growth bucket `k` holds `GROWTH_BASE << k` records.
const GROWTH_BASE_LOG2: u32 = 10;
/// Growth buckets: enough to address every `u32` record index past bucket 0.
const GROWTH_BUCKETS: usize = 23;

/// Words per record: seq, x, a, b, id, expires, meta.
const WORDS: usize = 7;
const SEQ: usize = 0;
const X: usize = 1;
const A: usize = 2;
const B: usize = 3;
const ID: usize = 4;
const EXPIRES: usize = 5;
const META: usize = 6;

/// One AXB binding's routing record: a view of its seven atomic words.
///
/// `seq` is the sequence lock (odd while a writer updates the record); `x` is 0 for a free record; `expires` is
/// `expires_at` seconds (`i64::MAX` for none); `meta` packs app (bits 0–31), direction code (32–33), record
/// flag (34) and max duration minutes (40–55).
#[derive(Clone, Copy)]
pub(crate) struct Record<'a>(&'a [AtomicU64; WORDS]);

/// The words of a record, as read or to be written.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
struct Words {
    x: u64,
    a: u64,
    b: u64,
    id: u64,
    expires: u64,
    meta: u64,
}

impl Words {
    fn of(route: &AxbRoute) -> Self {
        let meta = u64::from(route.app.0)
            | (u64::from(route.direction.code()) << 32)
            | (u64::from(route.record) << 34)
            | (u64::from(route.max_duration_min) << 40);
        Self {
            x: route.x.digits(),
            a: route.a.digits(),
            b: route.b.digits(),
            id: route.id.0,
            expires: route.expires_at.map_or(i64::MAX, |t| t.0) as u64,
            meta,
        }
    }

    fn route(self) -> Option<AxbRoute> {
        let expires = self.expires as i64;
        Some(AxbRoute {
            id: BindingId(self.id),
            app: AppId(self.meta as u32),
            x: E164::from_digits(self.x)?,
            a: E164::from_digits(self.a)?,
            b: E164::from_digits(self.b)?,
            direction: CallDirection::from_code(((self.meta >> 32) & 3) as i64)?,
            record: (self.meta >> 34) & 1 == 1,
            max_duration_min: (self.meta >> 40) as u16,
            expires_at: (expires != i64::MAX).then_some(UnixTime(expires)),
        })
    }
}

impl Record<'_> {
    /// A consistent copy of the record (`None` if it is free). Lock-free; retries while a writer is mid-update.
    #[inline]
    pub(crate) fn read(self) -> Option<AxbRoute> {
        let w = self.0;
        loop {
            let before = w[SEQ].load(Ordering::Acquire);
            if before & 1 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let words = Words {
                x: w[X].load(Ordering::Relaxed),
                a: w[A].load(Ordering::Relaxed),
                b: w[B].load(Ordering::Relaxed),
                id: w[ID].load(Ordering::Relaxed),
                expires: w[EXPIRES].load(Ordering::Relaxed),
                meta: w[META].load(Ordering::Relaxed),
            };
            fence(Ordering::Acquire);
            if w[SEQ].load(Ordering::Relaxed) == before {
                return if words.x == 0 { None } else { words.route() };
            }
        }
    }

    /// Overwrites the record (`None` frees it). Writers only, serialised by the caller.
    pub(crate) fn write(self, route: Option<&AxbRoute>) {
        let words = route.map(Words::of).unwrap_or_default();
        let w = self.0;
        let seq = w[SEQ].load(Ordering::Relaxed);
        w[SEQ].store(seq.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        w[X].store(words.x, Ordering::Relaxed);
        w[A].store(words.a, Ordering::Relaxed);
        w[B].store(words.b, Ordering::Relaxed);
        w[ID].store(words.id, Ordering::Relaxed);
        w[EXPIRES].store(words.expires, Ordering::Relaxed);
        w[META].store(words.meta, Ordering::Relaxed);
        w[SEQ].store(seq.wrapping_add(2), Ordering::Release);
    }
}

type Bucket = Box<[[AtomicU64; WORDS]]>;

/// A bucket of `len` free records (zeroed memory: pages cost nothing until a record on them is used).
fn bucket(len: usize) -> Bucket {
    zeroed_groups::<WORDS>(len)
}

/// Append-only storage of [`Record`]s.
pub(crate) struct Arena {
    first: Bucket,
    growth: [OnceLock<Bucket>; GROWTH_BUCKETS],
}

impl Arena {
    /// An arena whose first bucket holds `capacity` records (at least 1024).
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Self {
            first: bucket(capacity.max(1 << GROWTH_BASE_LOG2)),
            growth: std::array::from_fn(|_| OnceLock::new()),
        }
    }

    /// Bucket and offset of record `index` past the first bucket.
    #[inline]
    fn locate(&self, index: usize) -> (usize, usize) {
        let j = index - self.first.len() + (1 << GROWTH_BASE_LOG2);
        let k = (j.ilog2() - GROWTH_BASE_LOG2) as usize;
        (k, j - (1 << (k as u32 + GROWTH_BASE_LOG2)))
    }

    /// The record at `index`, if its bucket exists. Lock-free.
    #[inline]
    pub(crate) fn get(&self, index: u32) -> Option<Record<'_>> {
        let index = index as usize;
        if let Some(record) = self.first.get(index) {
            return Some(Record(record));
        }
        let (k, offset) = self.locate(index);
        self.growth.get(k)?.get()?.get(offset).map(Record)
    }

    /// The record at `index`, allocating its bucket if needed (writers only). `None` past the addressable range.
    pub(crate) fn get_or_grow(&self, index: u32) -> Option<Record<'_>> {
        let i = index as usize;
        if let Some(record) = self.first.get(i) {
            return Some(Record(record));
        }
        let (k, offset) = self.locate(i);
        self.growth
            .get(k)?
            .get_or_init(|| bucket(1 << (k as u32 + GROWTH_BASE_LOG2)))
            .get(offset)
            .map(Record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_map_to_distinct_records_across_buckets() {
        let arena = Arena::with_capacity(1500);
        let mut seen = std::collections::HashSet::new();
        for i in 0..20_000u32 {
            let r = arena.get_or_grow(i).unwrap();
            assert!(
                seen.insert(std::ptr::from_ref(r.0) as usize),
                "index {i} aliases another"
            );
            assert!(std::ptr::eq(arena.get(i).unwrap().0, r.0));
        }
        assert!(arena.get(1_000_000).is_none());
    }

    #[test]
    fn records_round_trip_and_free() {
        let arena = Arena::with_capacity(0);
        let route = AxbRoute {
            id: BindingId(u64::MAX - 1),
            app: AppId(u32::MAX),
            x: E164::from_digits(8_617_000_000_001).unwrap(),
            a: E164::from_digits(999_999_999_999_999).unwrap(),
            b: E164::from_digits(1).unwrap(),
            direction: CallDirection::BToA,
            record: true,
            max_duration_min: 1440,
            expires_at: Some(UnixTime(-5)),
        };
        let r = arena.get(0).unwrap();
        assert_eq!(r.read(), None);
        r.write(Some(&route));
        assert_eq!(r.read(), Some(route));
        let permanent = AxbRoute {
            expires_at: None,
            record: false,
            direction: CallDirection::Both,
            ..route
        };
        r.write(Some(&permanent));
        assert_eq!(r.read(), Some(permanent));
        r.write(None);
        assert_eq!(r.read(), None);
    }
}
