//! The in-memory routing table: everything a call needs to find where it goes, readable without locks.
//!
//! [`BindingTable`] is filled from the durable model (pn-store is the truth; the table is rebuilt from it at
//! start and updated after each committed write). Readers ([`crate::decide()`], on every call, from any thread)
//! never take a lock. Writers serialise among themselves on one mutex.
//!
//! Layout:
//! - AXB pairs, the one structure that reaches ten million entries, live in `axb::AxbIndex`: a hand-written
//!   open-addressing index of `AtomicU64` slots over a seqlocked record arena (see that module).
//! - Apps, the number pool, AX/AXE/AXYB bindings, Y–B relations, temporary callees, callback records and the
//!   capacity counters live in `papaya` lock-free hash maps: they are at most pool-sized or per-X-bounded.
//! - Media: each app's [`AppMedia`] and, for the bindings that name at least one prompt, their
//!   [`BindingMedia`] (both behind `Arc`, so a call takes a cheap clone) live in `papaya` maps too; the
//!   provisioning engine keeps the binding entries in step with every write ([`BindingTable::set_binding_media`]).
//! - Echo: each binding's `subscriptionId` and `userData` ([`BindingEcho`], module `echo`: why a side map, and its
//!   memory), kept in step by [`BindingTable::insert_binding`], [`BindingTable::replace_binding`] and
//!   [`BindingTable::remove_binding`] themselves; an AX temporary callee keeps its own `userData`.
//!
//! Only what routing needs is indexed (numbers, ids, flags, expiry); full binding records stay in pn-store.
//! Expiry is lazy: entries are kept until the provisioning engine removes them, and [`crate::decide()`] ignores an
//! entry whose `expires_at <= now`. Capacity questions count live and not-yet-swept entries alike.

mod arena;
mod axb;
mod echo;
pub(crate) mod hash;
mod raw;
mod read;
mod resync;
mod write;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use pn_numbers::E164;

use crate::controls::{AppControls, ControlCounters};
use crate::model::{
    App, AppId, AppMedia, AxeFallback, Binding, BindingId, BindingMedia, CallDirection, CallbackRecord, Mode,
    TempCallee, UnixTime, XNumber,
};
use axb::AxbIndex;
pub(crate) use axb::AxbRoute;
pub use echo::BindingEcho;
use hash::FoldHash;
pub use resync::RouteKeys;

type Map<K, V> = papaya::HashMap<K, V, FoldHash>;

/// Routing-relevant app settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct AppRoute {
    pub mode: Mode,
    pub enabled: bool,
    pub extension_digits: u8,
    pub collect_repeat: u8,
    pub record_enabled: bool,
}

/// What a call needs from an AX binding, or from the A–X part of an AXYB binding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct AxRoute {
    pub id: BindingId,
    pub app: AppId,
    pub x: E164,
    pub a: E164,
    pub direction: CallDirection,
    pub turn_on: bool,
    pub record: bool,
    pub max_duration_min: u16,
    pub expires_at: Option<UnixTime>,
}

/// What a call through an extension needs from an AXE binding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct AxeHit {
    pub id: BindingId,
    pub app: AppId,
    pub x: E164,
    pub a: E164,
    pub record: bool,
    /// Lifetime of a callback record created by a call through this binding (None = never expires).
    pub callback_ttl_secs: Option<i64>,
    pub expires_at: Option<UnixTime>,
}

/// An indexed AXE binding: the call-path part and A's callback fallback.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AxeRoute {
    pub hit: AxeHit,
    pub fallback: AxeFallback,
}

/// What a call needs from a Y–B relation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct YbRoute {
    pub id: BindingId,
    pub app: AppId,
    pub parent: BindingId,
    pub x: E164,
    pub a: E164,
    pub y: E164,
    pub b: E164,
    pub record: bool,
    pub expires_at: Option<UnixTime>,
}

/// A live temporary callee.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TempRoute {
    pub binding: BindingId,
    pub callee: E164,
    pub expires_at: UnixTime,
    /// Its own `userData` (echoed instead of the binding's by calls to it).
    pub user_data: Option<Arc<str>>,
}

/// Whether an optional expiry has passed (`expires_at <= now` does not route).
#[inline]
pub(crate) fn expired(expires_at: Option<UnixTime>, now: UnixTime) -> bool {
    expires_at.is_some_and(|t| now >= t)
}

/// An AXE extension as a fixed-size key: up to 7 bytes plus the length (so `"07"` ≠ `"7"`).
fn ext_key(ext: &str) -> Option<u64> {
    let bytes = ext.as_bytes();
    if bytes.len() > 7 {
        return None;
    }
    let mut word = [0u8; 8];
    word[..bytes.len()].copy_from_slice(bytes);
    word[7] = bytes.len() as u8;
    Some(u64::from_le_bytes(word))
}

/// The lock-free routing table shared by the call path and the provisioning engine (`Arc<BindingTable>`).
pub struct BindingTable {
    /// Serialises writers; readers never touch it.
    write: Mutex<()>,
    apps: Map<AppId, App>,
    /// Each app's media settings (set with the app).
    app_media: Map<AppId, Arc<AppMedia>>,
    /// Each app's call controls, only for apps whose controls refuse something (set with the app).
    app_controls: Map<AppId, Arc<AppControls>>,
    /// The frequency counters of every app's limits, allocated at the first call an app with limits counts.
    counters: OnceLock<ControlCounters>,
    /// The live-call counts of every app's concurrent-call caps, allocated at the first capped call.
    live_calls: OnceLock<Arc<crate::controls::LiveCalls>>,
    numbers: Map<E164, XNumber>,
    axb: AxbIndex,
    ax: Map<E164, AxRoute>,
    axyb: Map<E164, AxRoute>,
    axe: Map<(E164, u64), AxeRoute>,
    /// AXE bindings of one A on one X (an A may hold several extensions).
    axe_of_a: Map<(E164, E164), Vec<AxeRoute>>,
    /// Y–B relations by (X, B): B dials X.
    yb_by_xb: Map<(E164, E164), YbRoute>,
    /// Y–B relations by (Y, A): A dials Y.
    yb_by_ya: Map<(E164, E164), YbRoute>,
    temp_callees: Map<E164, TempRoute>,
    callbacks: Map<(E164, E164), CallbackRecord>,
    /// Prompt names per binding, only for bindings that name at least one (kept by the provisioning engine).
    media: Map<BindingId, Arc<BindingMedia>>,
    /// `subscriptionId` and `userData` per binding (every binding in the table; see module `echo`).
    echo: Map<BindingId, BindingEcho>,
    /// AXB/AX bindings whose `privateSms` is false (SMS relay refused; kept with the echo).
    sms_off: Map<BindingId, ()>,
    pairs_on_x: Map<E164, u32>,
    x_count_of_a: Map<E164, u32>,
    extensions_on_x: Map<E164, u32>,
    relations_on_y: Map<E164, u32>,
    len: AtomicUsize,
}

impl Default for BindingTable {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for BindingTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BindingTable")
            .field("bindings", &self.len())
            .field("numbers", &self.numbers.len())
            .field("apps", &self.apps.len())
            .finish_non_exhaustive()
    }
}

fn map<K, V>() -> Map<K, V> {
    papaya::HashMap::with_hasher(FoldHash)
}

/// Adds `delta` to a counter (writers only; they are serialised).
fn bump(counters: &Map<E164, u32>, key: E164, delta: i32) {
    let counters = counters.pin();
    let old = counters.get(&key).copied().unwrap_or(0);
    let new = old.saturating_add_signed(delta);
    if new == 0 {
        counters.remove(&key);
    } else {
        counters.insert(key, new);
    }
}

impl BindingTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::with_capacity(0)
    }

    /// An empty table whose AXB index and echo map are pre-sized for `bindings` bindings (no growth below that).
    pub fn with_capacity(bindings: usize) -> Self {
        Self {
            write: Mutex::new(()),
            apps: map(),
            app_media: map(),
            app_controls: map(),
            counters: OnceLock::new(),
            live_calls: OnceLock::new(),
            numbers: map(),
            axb: AxbIndex::with_capacity(bindings),
            ax: map(),
            axyb: map(),
            axe: map(),
            axe_of_a: map(),
            yb_by_xb: map(),
            yb_by_ya: map(),
            temp_callees: map(),
            callbacks: map(),
            media: map(),
            // Every binding has an echo: pre-sized like the AXB index, so loading does not leave retired tables.
            echo: papaya::HashMap::with_capacity_and_hasher(bindings, FoldHash),
            sms_off: map(),
            pairs_on_x: map(),
            x_count_of_a: map(),
            extensions_on_x: map(),
            relations_on_y: map(),
            len: AtomicUsize::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.write
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds or updates an app (routing reads its mode, extension digits, repeat and enabled flag) and its media
    /// settings ([`BindingTable::app_media`]).
    pub fn upsert_app(&self, app: &App) {
        let _w = self.lock();
        self.app_media.pin().insert(app.id, Arc::new(app.media.clone()));
        if app.controls.is_inert() {
            self.app_controls.pin().remove(&app.id);
        } else {
            self.app_controls
                .pin()
                .insert(app.id, Arc::new(app.controls.clone()));
        }
        self.apps.pin().insert(app.id, app.clone());
    }

    /// The app's call controls, as last upserted with the app (`None`: the app's controls refuse nothing).
    pub fn app_controls(&self, app: AppId) -> Option<Arc<AppControls>> {
        self.app_controls.pin().get(&app).cloned()
    }

    /// The frequency counters shared by every shard (a fixed [`crate::controls::DEFAULT_COUNTER_SLOTS`] slots,
    /// allocated on first use).
    pub fn control_counters(&self) -> &ControlCounters {
        self.counters.get_or_init(ControlCounters::default)
    }

    /// The live-call counts of the concurrent-call caps, shared by every shard (a subject takes memory only
    /// while it has calls up).
    pub fn live_calls(&self) -> &Arc<crate::controls::LiveCalls> {
        self.live_calls.get_or_init(Arc::default)
    }

    /// The app's media settings (prompts, digit collection), as last upserted with the app.
    pub fn app_media(&self, app: AppId) -> Option<Arc<AppMedia>> {
        self.app_media.pin().get(&app).cloned()
    }

    /// Sets the prompt names of binding `id` (`None` or an empty [`BindingMedia`] removes the entry). The
    /// provisioning engine calls it on every bind, modify, unbind and expiry removal, and at startup load.
    pub fn set_binding_media(&self, id: BindingId, media: Option<BindingMedia>) {
        let _w = self.lock();
        match media.filter(|m| !m.is_empty()) {
            Some(m) => {
                self.media.pin().insert(id, Arc::new(m));
            }
            None => {
                self.media.pin().remove(&id);
            }
        }
    }

    /// The prompt names of binding (or Y–B relation) `id`; None when it names none (or is unknown).
    pub fn binding_media(&self, id: BindingId) -> Option<Arc<BindingMedia>> {
        self.media.pin().get(&id).cloned()
    }

    /// How many bindings name at least one prompt.
    pub fn media_entries(&self) -> usize {
        self.media.len()
    }

    /// The app as last upserted.
    pub fn app(&self, id: AppId) -> Option<App> {
        self.apps.pin().get(&id).cloned()
    }

    /// The app's `app_key` and mode (what call facts carry), without copying the rest of the app.
    pub fn app_key_and_mode(&self, id: AppId) -> Option<(String, Mode)> {
        self.apps.pin().get(&id).map(|a| (a.app_key.clone(), a.mode))
    }

    /// Adds or updates a pool number (X or Y) with its app, area and status.
    pub fn upsert_number(&self, number: &XNumber) {
        let _w = self.lock();
        self.numbers.pin().insert(number.number, number.clone());
    }

    /// Removes a number from the pool; calls to it then fail with 8025.
    pub fn remove_number(&self, number: E164) {
        let _w = self.lock();
        self.numbers.pin().remove(&number);
    }

    /// The pool entry of a number.
    pub fn number(&self, number: E164) -> Option<XNumber> {
        self.numbers.pin().get(&number).cloned()
    }

    /// A snapshot of the whole pool (unordered).
    pub fn numbers(&self) -> Vec<XNumber> {
        self.numbers.pin().values().cloned().collect()
    }

    /// Makes a binding's routes and echo ([`BindingTable::binding_echo`]) visible to calls.
    ///
    /// Inserting a binding whose primary key is already held by the same binding id updates it in place.
    pub fn insert_binding(&self, binding: &Binding) {
        let _w = self.lock();
        // The echo first: a call routed through the new entry finds it.
        self.set_echo(binding);
        if self.index(binding) {
            self.count(binding, 1);
        }
    }

    /// Swaps a binding's routes for new ones (a modify): for a key both versions share, readers see either the
    /// old or the new route, never neither; keys only the new version has appear before keys only the old
    /// version had disappear.
    ///
    /// The echo follows: the new version's is set before its routes change.
    pub fn replace_binding(&self, old: &Binding, new: &Binding) {
        let _w = self.lock();
        self.set_echo(new);
        let old_present = self.holds(old);
        let created = if self.swap_axb(old, new) {
            false
        } else {
            let created = self.index(new);
            self.unindex_stale(old, new);
            created
        };
        if old_present {
            self.count(old, -1);
            self.count(new, 1);
        } else if created {
            self.count(new, 1);
        }
        if old.id != new.id {
            self.drop_echo(old.id);
        }
    }

    /// Removes a binding's routes and echo (calls through it then fail as if it never existed; calls routed
    /// before keep the echo they captured).
    pub fn remove_binding(&self, binding: &Binding) {
        let _w = self.lock();
        if self.holds(binding) {
            self.unindex(binding);
            self.count(binding, -1);
        }
        self.drop_echo(binding.id);
    }

    /// Sets (overwrites) the AX temporary callee of X.
    pub fn set_temp_callee(&self, callee: &TempCallee) {
        let _w = self.lock();
        self.temp_callees.pin().insert(
            callee.x,
            TempRoute {
                binding: callee.binding,
                callee: callee.callee,
                expires_at: callee.expires_at,
                user_data: callee.user_data.as_deref().map(Arc::from),
            },
        );
    }

    /// Clears the AX temporary callee of X.
    pub fn clear_temp_callee(&self, x: E164) {
        let _w = self.lock();
        self.temp_callees.pin().remove(&x);
    }

    /// Stores (overwrites) the AXE callback record of (X, A).
    pub fn set_callback_record(&self, record: &CallbackRecord) {
        let _w = self.lock();
        self.callbacks.pin().insert((record.x, record.a), record.clone());
    }

    /// AXB bindings on X (rule: ≤ 5000 per X).
    pub fn pairs_on_x(&self, x: E164) -> u32 {
        self.pairs_on_x.pin().get(&x).copied().unwrap_or(0)
    }

    /// Whether `n` is the A or the B of an AXB binding on X (rule: a user number once per X).
    pub fn is_party_on_x(&self, x: E164, n: E164) -> bool {
        self.axb.get(x, n).is_some()
    }

    /// The AX binding, or the A–X part of an AXYB binding, holding X (one X ↔ one A).
    pub fn ax_binding_on_x(&self, x: E164) -> Option<BindingId> {
        if let Some(route) = self.ax.pin().get(&x) {
            return Some(route.id);
        }
        self.axyb.pin().get(&x).map(|r| r.id)
    }

    /// AX and AXYB bindings held by A (rule: ≤ 5).
    pub fn x_count_of_a(&self, a: E164) -> u32 {
        self.x_count_of_a.pin().get(&a).copied().unwrap_or(0)
    }

    /// The AXE binding behind extension `ext` on X.
    pub fn extension_binding(&self, x: E164, ext: &str) -> Option<BindingId> {
        let key = ext_key(ext)?;
        self.axe.pin().get(&(x, key)).map(|r| r.hit.id)
    }

    /// AXE extensions bound on X.
    pub fn extensions_on_x(&self, x: E164) -> u32 {
        self.extensions_on_x.pin().get(&x).copied().unwrap_or(0)
    }

    /// AXYB Y–B relations using Y (rule: ≤ 1000 per Y).
    pub fn relations_on_y(&self, y: E164) -> u32 {
        self.relations_on_y.pin().get(&y).copied().unwrap_or(0)
    }

    /// The Y–B relation through which A already uses Y, if any.
    pub fn y_relation(&self, y: E164, a: E164) -> Option<BindingId> {
        self.yb_by_ya.pin().get(&(y, a)).map(|r| r.id)
    }

    /// Bindings indexed (all modes, Y–B relations included; expired but not yet removed ones too).
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    /// Whether no binding is indexed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests;
