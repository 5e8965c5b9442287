//! The AXB routing index: (X, A) and (X, B) → the pair's route, for ten million pairs, read without locks.
//!
//! Two structures:
//! - an [`Arena`] of seqlocked 56-byte records, one per binding, recycled through a free list;
//! - an open-addressing, linear-probing array of `AtomicU64` slots, two per binding, each
//!   `tag (31 bits) | role (1 bit: the key is the record's A or its B) | record index + 1 (32 bits)`;
//!   0 is empty and `u64::MAX` a tombstone. The array is published through [`Published`] (epoch-protected)
//!   and replaced wholesale when it must grow or shed tombstones.
//!
//! Readers hash `(X, party)`, probe slots with a matching tag, copy the record out under its seqlock and
//! accept it only if the record's X and its A or B (by the slot's role) are the key: so a lookup returns a
//! consistent record of the key's binding, old or new, never a torn one and never another key's. Writers are
//! serialised by a mutex; they write a record fully before a slot points at it, swap slots in one store
//! (replace), tombstone before freeing, and clear a record (x = 0) before it goes back on the free list.
//! Invariant: every non-empty, non-tombstone slot points to a live record whose key by role is the slot's key.

use std::sync::Mutex;
use std::sync::atomic::Ordering;

use pn_numbers::E164;

use super::arena::{Arena, Record};
use super::hash::hash_pair;
use super::raw::{Published, SlotArray};
use crate::model::{AppId, BindingId, CallDirection, UnixTime};

/// What a call needs from an AXB binding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct AxbRoute {
    pub id: BindingId,
    pub app: AppId,
    pub x: E164,
    pub a: E164,
    pub b: E164,
    pub direction: CallDirection,
    pub record: bool,
    pub max_duration_min: u16,
    pub expires_at: Option<UnixTime>,
}

const EMPTY: u64 = 0;
const TOMB: u64 = u64::MAX;
const TAG_MASK: u64 = !((1 << 33) - 1);
const ROLE_B: u64 = 1 << 32;
/// Highest usable record index (`index + 1` must stay below `u32::MAX` so no slot equals [`TOMB`]).
const MAX_RECORD: u32 = u32::MAX - 2;

/// Which party of the record a slot's key is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    A,
    B,
}

#[inline]
fn slot_value(hash: u64, role: Role, record: u32) -> u64 {
    (hash & TAG_MASK) | if role == Role::B { ROLE_B } else { 0 } | u64::from(record + 1)
}

#[inline]
fn slot_record(slot: u64) -> u32 {
    (slot as u32).wrapping_sub(1)
}

#[inline]
fn slot_role(slot: u64) -> Role {
    if slot & ROLE_B == 0 { Role::A } else { Role::B }
}

#[inline]
fn party(route: &AxbRoute, role: Role) -> E164 {
    match role {
        Role::A => route.a,
        Role::B => route.b,
    }
}

#[inline]
fn key_hash(x: E164, party: E164) -> u64 {
    hash_pair(x.digits(), party.digits())
}

/// The keys a route occupies (one if A == B).
fn roles(route: &AxbRoute) -> &'static [Role] {
    if route.a == route.b {
        &[Role::A]
    } else {
        &[Role::A, Role::B]
    }
}

/// A slot found by a probe.
struct Found {
    pos: usize,
    record: u32,
    route: AxbRoute,
}

/// Writer-side bookkeeping (behind the mutex).
struct Writer {
    /// Next never-used record index.
    next: u32,
    /// Freed record indexes.
    free: Vec<u32>,
    /// Slots pointing at each record (0–2).
    refs: Vec<u8>,
    /// Non-empty slots (live + tombstones) of the current array.
    used: usize,
    /// Live slots of the current array.
    live: usize,
}

/// (X, party) → AXB route. See the module doc.
pub(crate) struct AxbIndex {
    slots: Published,
    arena: Arena,
    writer: Mutex<Writer>,
}

/// Slots needed for `bindings` pairs at a load factor of at most 3/4.
fn slots_for(bindings: usize) -> usize {
    bindings.saturating_mul(2).saturating_mul(4) / 3 + 1
}

impl AxbIndex {
    /// An index pre-sized for `bindings` pairs.
    pub(crate) fn with_capacity(bindings: usize) -> Self {
        Self {
            slots: Published::new(SlotArray::new(slots_for(bindings))),
            arena: Arena::with_capacity(bindings),
            writer: Mutex::new(Writer {
                next: 0,
                free: Vec::new(),
                refs: Vec::new(),
                used: 0,
                live: 0,
            }),
        }
    }

    /// The route of the pair on X that `party` belongs to. Lock-free.
    #[inline]
    pub(crate) fn get(&self, x: E164, party: E164) -> Option<AxbRoute> {
        let hash = key_hash(x, party);
        self.slots
            .lookup(|array| self.probe(array, hash, x, party).map(|f| f.route))
    }

    /// Starts loading the home slot of (x, party) into cache, so a `get` issued shortly after finds it there.
    #[inline]
    pub(crate) fn prefetch(&self, x: E164, party: E164) {
        let hash = key_hash(x, party);
        self.slots.with(|array| array.prefetch(array.home(hash)));
    }

    /// Finds the slot of key (x, party) in `array`.
    ///
    /// When a slot's record does not match, the slot is read again: a writer may have swapped the slot to a new
    /// record and freed the old one after we loaded it (the seqlock's acquire makes the new slot visible then).
    #[inline]
    fn probe(&self, array: &SlotArray, hash: u64, x: E164, party_number: E164) -> Option<Found> {
        let tag = hash & TAG_MASK;
        let mut pos = array.home(hash);
        let mut slot = array.slot(pos).load(Ordering::Acquire);
        for _ in 0..array.capacity() {
            if slot == EMPTY {
                return None;
            }
            if slot != TOMB && slot & TAG_MASK == tag {
                let record = slot_record(slot);
                if let Some(route) = self.arena.get(record).and_then(Record::read)
                    && route.x == x
                    && party(&route, slot_role(slot)) == party_number
                {
                    return Some(Found { pos, record, route });
                }
                let again = array.slot(pos).load(Ordering::Acquire);
                if again != slot {
                    slot = again;
                    continue;
                }
            }
            pos = array.next(pos);
            slot = array.slot(pos).load(Ordering::Acquire);
        }
        None
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Writer> {
        self.writer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Indexes a new pair (keys already held by another pair are taken over).
    pub(crate) fn insert(&self, route: &AxbRoute) {
        let mut w = self.lock();
        let Some(record) = self.alloc(&mut w, route) else {
            return;
        };
        for &role in roles(route) {
            self.place(&mut w, route, role, record);
        }
        self.release_if_unused(&mut w, record);
    }

    /// Swaps the pair `old` (by its (X, A) key and id) for `new`. Same numbers: the record is rewritten in
    /// place. Otherwise `new` gets a fresh record, its keys are pointed at it (a shared key switches in one
    /// store), then keys only `old` had are tombstoned.
    pub(crate) fn replace(&self, old: &AxbRoute, new: &AxbRoute) {
        let mut w = self.lock();
        let Some(old_record) = self.find_binding(old) else {
            drop(w);
            return self.insert(new);
        };
        if (old.x, old.a, old.b) == (new.x, new.a, new.b) {
            if let Some(record) = self.arena.get(old_record) {
                record.write(Some(new));
            }
            return;
        }
        let Some(record) = self.alloc(&mut w, new) else {
            return;
        };
        for &role in roles(new) {
            self.place(&mut w, new, role, record);
        }
        for &role in roles(old) {
            let key = (old.x, party(old, role));
            if key != (new.x, new.a) && key != (new.x, new.b) {
                self.tombstone(&mut w, old, role, old_record);
            }
        }
        self.release_if_unused(&mut w, record);
    }

    /// Removes the pair's keys (those still pointing at its record). Returns whether any was removed.
    pub(crate) fn remove(&self, route: &AxbRoute) -> bool {
        let mut w = self.lock();
        let Some(record) = self.find_binding(route) else {
            return false;
        };
        let mut removed = false;
        for &role in roles(route) {
            removed |= self.tombstone(&mut w, route, role, record);
        }
        removed
    }

    /// The record of binding `route.id`, found through either of its keys.
    fn find_binding(&self, route: &AxbRoute) -> Option<u32> {
        roles(route).iter().find_map(|&role| {
            let p = party(route, role);
            let hash = key_hash(route.x, p);
            self.slots
                .with(|array| self.probe(array, hash, route.x, p))
                .filter(|f| f.route.id == route.id)
                .map(|f| f.record)
        })
    }

    /// Takes a record (free list first) and writes `route` into it.
    fn alloc(&self, w: &mut Writer, route: &AxbRoute) -> Option<u32> {
        let index = match w.free.pop() {
            Some(i) => i,
            None if w.next <= MAX_RECORD => {
                w.next += 1;
                w.next - 1
            }
            None => return None,
        };
        let record = self.arena.get_or_grow(index)?;
        record.write(Some(route));
        let slot = index as usize;
        if w.refs.len() <= slot {
            w.refs.resize(slot + 1, 0);
        }
        w.refs[slot] = 0;
        Some(index)
    }

    /// Points key (route.x, party by role) at `record`, taking it over if another record held it.
    fn place(&self, w: &mut Writer, route: &AxbRoute, role: Role, record: u32) {
        self.make_room(w);
        let hash = key_hash(route.x, party(route, role));
        let value = slot_value(hash, role, record);
        let displaced = self.slots.with(|array| {
            if let Some(found) = self.probe(array, hash, route.x, party(route, role)) {
                array.slot(found.pos).store(value, Ordering::Release);
                return Some(found.record);
            }
            let mut pos = array.home(hash);
            loop {
                let slot = array.slot(pos).load(Ordering::Relaxed);
                if slot == EMPTY || slot == TOMB {
                    if slot == EMPTY {
                        w.used += 1;
                    }
                    w.live += 1;
                    array.slot(pos).store(value, Ordering::Release);
                    return None;
                }
                pos = array.next(pos);
            }
        });
        w.refs[record as usize] += 1;
        if let Some(old) = displaced {
            self.unref(w, old);
        }
    }

    /// Tombstones key (route.x, party by role) if it points at `record`.
    fn tombstone(&self, w: &mut Writer, route: &AxbRoute, role: Role, record: u32) -> bool {
        let p = party(route, role);
        let hash = key_hash(route.x, p);
        let hit = self
            .slots
            .with(|array| match self.probe(array, hash, route.x, p) {
                Some(found) if found.record == record => {
                    array.slot(found.pos).store(TOMB, Ordering::Release);
                    true
                }
                _ => false,
            });
        if hit {
            w.live -= 1;
            self.unref(w, record);
        }
        hit
    }

    fn unref(&self, w: &mut Writer, record: u32) {
        let refs = &mut w.refs[record as usize];
        *refs = refs.saturating_sub(1);
        if *refs == 0 {
            self.release_if_unused(w, record);
        }
    }

    /// Clears and frees `record` if no slot points at it.
    fn release_if_unused(&self, w: &mut Writer, record: u32) {
        if w.refs[record as usize] == 0 {
            if let Some(r) = self.arena.get(record) {
                r.write(None);
            }
            w.free.push(record);
        }
    }

    /// Grows or cleans the slot array so one more slot can be used at a load factor of at most 3/4.
    fn make_room(&self, w: &mut Writer) {
        let capacity = self.slots.with(SlotArray::capacity);
        if (w.used + 1) * 4 <= capacity * 3 {
            return;
        }
        // Double when live slots alone fill more than 5/8; otherwise rebuild at the same size to shed tombstones.
        let target = if (w.live + 1) * 8 > capacity * 5 {
            capacity * 2
        } else {
            capacity
        };
        let next = SlotArray::new(target);
        let mut live = 0;
        self.slots.with(|array| {
            for pos in 0..array.capacity() {
                let slot = array.slot(pos).load(Ordering::Relaxed);
                if slot == EMPTY || slot == TOMB {
                    continue;
                }
                let role = slot_role(slot);
                let Some(route) = self.arena.get(slot_record(slot)).and_then(Record::read) else {
                    continue;
                };
                let hash = key_hash(route.x, party(&route, role));
                let mut at = next.home(hash);
                while next.slot(at).load(Ordering::Relaxed) != EMPTY {
                    at = next.next(at);
                }
                next.slot(at)
                    .store(slot_value(hash, role, slot_record(slot)), Ordering::Relaxed);
                live += 1;
            }
        });
        self.slots.replace(next);
        w.used = live;
        w.live = live;
    }

    /// Every indexed pair, once each (writers only: a resync walks them).
    pub(crate) fn routes(&self) -> Vec<AxbRoute> {
        let _w = self.lock();
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        self.slots.with(|array| {
            for pos in 0..array.capacity() {
                let slot = array.slot(pos).load(Ordering::Acquire);
                if slot == EMPTY || slot == TOMB || !seen.insert(slot_record(slot)) {
                    continue;
                }
                if let Some(route) = self.arena.get(slot_record(slot)).and_then(Record::read) {
                    out.push(route);
                }
            }
        });
        out
    }

    /// Slot-array statistics: (capacity, live slots, tombstones).
    #[cfg(test)]
    pub(crate) fn stats(&self) -> (usize, usize, usize) {
        let w = self.lock();
        (self.slots.with(SlotArray::capacity), w.live, w.used - w.live)
    }
}
