//! Bringing a table that missed changes to a snapshot of the store in place (a node that fell behind a shared
//! store's change feed): no new table, no window in which calls see an empty one.
//!
//! The caller (pn-provision's engine) reads the snapshot's bindings twice in one read transaction. First it
//! hands [`BindingTable::retain_bindings`] the [`RouteKeys`] of each: every indexed route whose binding is
//! not in the snapshot, or is there under other keys (a modify that changed its numbers), is removed with its
//! counts (and its echo and prompt names when the binding is gone). Then it inserts every snapshot binding
//! again ([`BindingTable::insert_binding`] updates a held binding in place and indexes a missing one). Apps,
//! numbers, temporary callees and callback records are few: they are listed
//! ([`BindingTable::app_ids`], [`BindingTable::numbers`], [`BindingTable::temp_callee_xs`],
//! [`BindingTable::callback_keys`]), the ones the snapshot lacks removed, the others upserted.

use std::collections::HashMap;

use pn_numbers::E164;

use super::write::Key;
use super::{BindingTable, bump, ext_key};
use crate::model::{AppId, Binding, BindingId, BindingKind};

/// The keys a binding's routes and capacity counts occupy: two versions of a binding with equal
/// `RouteKeys` are indexed and counted under the same keys, so one replaces the other in place.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RouteKeys {
    /// An AXB pair: (X, A) and (X, B), counted on X.
    Axb {
        /// X.
        x: E164,
        /// A.
        a: E164,
        /// B.
        b: E164,
    },
    /// An AX binding: X, counted on A.
    Ax {
        /// X.
        x: E164,
        /// A.
        a: E164,
    },
    /// The A–X part of an AXYB binding: X, counted on A.
    Axyb {
        /// X.
        x: E164,
        /// A.
        a: E164,
    },
    /// An AXE binding: (X, extension) and (X, A), counted on X (`ext`: the extension's key, `None` when it
    /// is too long to index).
    Axe {
        /// X.
        x: E164,
        /// The extension as indexed.
        ext: Option<u64>,
        /// A.
        a: E164,
    },
    /// A Y–B relation: (X, B) and (Y, A), counted on Y.
    Yb {
        /// X.
        x: E164,
        /// B.
        b: E164,
        /// Y.
        y: E164,
        /// A.
        a: E164,
    },
}

impl RouteKeys {
    /// The keys of `binding`.
    pub fn of(binding: &Binding) -> Self {
        match &binding.kind {
            BindingKind::Axb(b) => Self::Axb {
                x: b.x,
                a: b.a,
                b: b.b,
            },
            BindingKind::Ax(b) => Self::Ax { x: b.x, a: b.a },
            BindingKind::Axyb(b) => Self::Axyb { x: b.x, a: b.a },
            BindingKind::Axe(b) => Self::Axe {
                x: b.x,
                ext: ext_key(&b.extension),
                a: b.a,
            },
            BindingKind::Yb(r) => Self::Yb {
                x: r.x,
                b: r.b,
                y: r.y,
                a: r.a,
            },
        }
    }
}

impl BindingTable {
    /// Removes every indexed route whose binding is not in `snapshot` under the same [`RouteKeys`], with its
    /// capacity counts; drops the echo and prompt names of bindings not in `snapshot` at all. Answers how
    /// many routes were removed. See the module doc for the rest of a resync.
    pub fn retain_bindings(&self, snapshot: &HashMap<BindingId, RouteKeys>) -> usize {
        let _w = self.lock();
        let keeps = |id: BindingId, keys: RouteKeys| snapshot.get(&id) == Some(&keys);
        let mut removed = 0;
        for route in self.axb.routes() {
            let keys = RouteKeys::Axb {
                x: route.x,
                a: route.a,
                b: route.b,
            };
            if !keeps(route.id, keys) && self.axb.remove(&route) {
                self.uncount(&self.pairs_on_x, route.x);
                removed += 1;
            }
        }
        let ax: Vec<_> = self.ax.pin().values().copied().collect();
        for r in ax {
            if !keeps(r.id, RouteKeys::Ax { x: r.x, a: r.a }) {
                self.remove_key(Key::Ax(r.x), r.id);
                self.uncount(&self.x_count_of_a, r.a);
                removed += 1;
            }
        }
        let axyb: Vec<_> = self.axyb.pin().values().copied().collect();
        for r in axyb {
            if !keeps(r.id, RouteKeys::Axyb { x: r.x, a: r.a }) {
                self.remove_key(Key::Axyb(r.x), r.id);
                self.uncount(&self.x_count_of_a, r.a);
                removed += 1;
            }
        }
        removed += self.retain_axe(&keeps) + self.retain_yb(&keeps);
        let gone: Vec<BindingId> = self
            .echo
            .pin()
            .keys()
            .chain(self.media.pin().keys())
            .filter(|id| !snapshot.contains_key(id))
            .copied()
            .collect();
        for id in gone {
            self.drop_echo(id);
            self.media.pin().remove(&id);
        }
        removed
    }

    fn retain_axe(&self, keeps: &impl Fn(BindingId, RouteKeys) -> bool) -> usize {
        let axe: Vec<_> = self
            .axe
            .pin()
            .iter()
            .map(|(&(x, ext), r)| (x, ext, r.hit.id, r.hit.a))
            .collect();
        let mut removed = 0;
        for (x, ext, id, a) in axe {
            if !keeps(id, RouteKeys::Axe { x, ext: Some(ext), a }) {
                self.remove_key(Key::Axe(x, ext), id);
                self.remove_key(Key::AxeOfA(x, a), id);
                self.uncount(&self.extensions_on_x, x);
                removed += 1;
            }
        }
        removed
    }

    fn retain_yb(&self, keeps: &impl Fn(BindingId, RouteKeys) -> bool) -> usize {
        let yb: Vec<_> = self.yb_by_xb.pin().values().copied().collect();
        let mut removed = 0;
        for r in yb {
            let keys = RouteKeys::Yb {
                x: r.x,
                b: r.b,
                y: r.y,
                a: r.a,
            };
            if !keeps(r.id, keys) {
                self.remove_key(Key::Xb(r.x, r.b), r.id);
                self.remove_key(Key::Ya(r.y, r.a), r.id);
                self.uncount(&self.relations_on_y, r.y);
                removed += 1;
            }
        }
        removed
    }

    /// One binding fewer: `len` and the counter of `key` (writers only).
    fn uncount(&self, counters: &super::Map<E164, u32>, key: E164) {
        bump(counters, key, -1);
        let _ = self.len.fetch_update(
            std::sync::atomic::Ordering::Relaxed,
            std::sync::atomic::Ordering::Relaxed,
            |n| n.checked_sub(1),
        );
    }

    /// The ids of every app in the table.
    pub fn app_ids(&self) -> Vec<AppId> {
        self.apps.pin().keys().copied().collect()
    }

    /// Forgets an app (its routing settings, media and controls): a resync to a snapshot without it.
    pub fn remove_app(&self, id: AppId) {
        let _w = self.lock();
        self.apps.pin().remove(&id);
        self.app_media.pin().remove(&id);
        self.app_controls.pin().remove(&id);
    }

    /// The X of every AX temporary callee in the table.
    pub fn temp_callee_xs(&self) -> Vec<E164> {
        self.temp_callees.pin().keys().copied().collect()
    }

    /// The (X, A) of every AXE callback record in the table.
    pub fn callback_keys(&self) -> Vec<(E164, E164)> {
        self.callbacks.pin().keys().copied().collect()
    }

    /// Forgets the AXE callback record of (X, A).
    pub fn clear_callback_record(&self, x: E164, a: E164) {
        let _w = self.lock();
        self.callbacks.pin().remove(&(x, a));
    }
}
