//! The write side of [`BindingTable`]: turning a [`Binding`] into index entries and back. Callers hold the
//! table's write mutex, so nothing here races with another writer.

use pn_numbers::E164;

use super::{AxRoute, AxbRoute, AxeHit, AxeRoute, BindingTable, YbRoute, bump, ext_key};
use crate::model::{Binding, BindingId, BindingKind};

/// One key a binding occupies in a papaya map (AXB keys live in the AXB index).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Key {
    Ax(E164),
    Axyb(E164),
    Axe(E164, u64),
    AxeOfA(E164, E164),
    Xb(E164, E164),
    Ya(E164, E164),
}

fn axb_route(binding: &Binding) -> Option<AxbRoute> {
    let BindingKind::Axb(b) = &binding.kind else {
        return None;
    };
    Some(AxbRoute {
        id: binding.id,
        app: binding.app,
        x: b.x,
        a: b.a,
        b: b.b,
        direction: b.direction,
        record: binding.record.record,
        max_duration_min: b.controls.max_duration_min,
        expires_at: binding.expires_at,
    })
}

/// The papaya keys of a binding (empty for AXB, and for an AXE extension too long to index).
fn keys(binding: &Binding) -> Vec<Key> {
    match &binding.kind {
        BindingKind::Axb(_) => Vec::new(),
        BindingKind::Ax(b) => vec![Key::Ax(b.x)],
        BindingKind::Axyb(b) => vec![Key::Axyb(b.x)],
        BindingKind::Axe(b) => match ext_key(&b.extension) {
            Some(ext) => vec![Key::Axe(b.x, ext), Key::AxeOfA(b.x, b.a)],
            None => Vec::new(),
        },
        BindingKind::Yb(r) => vec![Key::Xb(r.x, r.b), Key::Ya(r.y, r.a)],
    }
}

impl BindingTable {
    /// Swaps an AXB pair for its new version in one step; false if they are not both AXB or `old` is not held.
    pub(super) fn swap_axb(&self, old: &Binding, new: &Binding) -> bool {
        match (axb_route(old), axb_route(new)) {
            (Some(o), Some(n)) if self.axb_held(&o).is_some() => {
                self.axb.replace(&o, &n);
                true
            }
            _ => false,
        }
    }

    /// The indexed version of AXB binding `route.id`, found through either of its keys.
    fn axb_held(&self, route: &AxbRoute) -> Option<AxbRoute> {
        let held = |party| self.axb.get(route.x, party).filter(|r| r.id == route.id);
        held(route.a).or_else(|| held(route.b))
    }

    /// Whether the binding's primary key is held by this binding id.
    pub(super) fn holds(&self, binding: &Binding) -> bool {
        if let Some(route) = axb_route(binding) {
            return self.axb_held(&route).is_some();
        }
        keys(binding)
            .first()
            .is_some_and(|key| self.key_holder(*key, binding.id))
    }

    /// Whether `key` currently routes to binding `id`.
    fn key_holder(&self, key: Key, id: BindingId) -> bool {
        match key {
            Key::Ax(x) => self.ax.pin().get(&x).is_some_and(|r| r.id == id),
            Key::Axyb(x) => self.axyb.pin().get(&x).is_some_and(|r| r.id == id),
            Key::Axe(x, e) => self.axe.pin().get(&(x, e)).is_some_and(|r| r.hit.id == id),
            Key::AxeOfA(x, a) => self
                .axe_of_a
                .pin()
                .get(&(x, a))
                .is_some_and(|v| v.iter().any(|r| r.hit.id == id)),
            Key::Xb(x, b) => self.yb_by_xb.pin().get(&(x, b)).is_some_and(|r| r.id == id),
            Key::Ya(y, a) => self.yb_by_ya.pin().get(&(y, a)).is_some_and(|r| r.id == id),
        }
    }

    /// Publishes the binding's routes (overwriting what its keys held). Returns whether it was not held before.
    pub(super) fn index(&self, binding: &Binding) -> bool {
        let created = !self.holds(binding);
        let id = binding.id;
        match &binding.kind {
            BindingKind::Axb(_) => {
                if let Some(route) = axb_route(binding) {
                    match self.axb_held(&route) {
                        Some(old) => self.axb.replace(&old, &route),
                        None => self.axb.insert(&route),
                    }
                }
            }
            BindingKind::Ax(b) => {
                self.ax.pin().insert(
                    b.x,
                    AxRoute {
                        id,
                        app: binding.app,
                        x: b.x,
                        a: b.a,
                        direction: b.direction,
                        turn_on: b.turn_on,
                        record: binding.record.record,
                        max_duration_min: b.controls.max_duration_min,
                        expires_at: binding.expires_at,
                    },
                );
            }
            BindingKind::Axyb(b) => {
                self.axyb.pin().insert(
                    b.x,
                    AxRoute {
                        id,
                        app: binding.app,
                        x: b.x,
                        a: b.a,
                        direction: b.direction,
                        turn_on: true,
                        record: binding.record.record,
                        max_duration_min: 0,
                        expires_at: binding.expires_at,
                    },
                );
            }
            BindingKind::Axe(b) => {
                let Some(ext) = ext_key(&b.extension) else {
                    return false;
                };
                let route = AxeRoute {
                    hit: AxeHit {
                        id,
                        app: binding.app,
                        x: b.x,
                        a: b.a,
                        record: binding.record.record,
                        callback_ttl_secs: b
                            .callback_expired_time
                            .filter(|t| *t > 0)
                            .map(|t| i64::from(t) * b.time_unit.seconds()),
                        expires_at: binding.expires_at,
                    },
                    fallback: b.fallback.clone(),
                };
                let of_a = self.axe_of_a.pin();
                let mut list: Vec<AxeRoute> = of_a
                    .get(&(b.x, b.a))
                    .map(|v| v.iter().filter(|r| r.hit.id != id).cloned().collect())
                    .unwrap_or_default();
                list.push(route.clone());
                self.axe.pin().insert((b.x, ext), route);
                of_a.insert((b.x, b.a), list);
            }
            BindingKind::Yb(r) => {
                let route = YbRoute {
                    id,
                    app: binding.app,
                    parent: r.parent,
                    x: r.x,
                    a: r.a,
                    y: r.y,
                    b: r.b,
                    record: binding.record.record,
                    expires_at: binding.expires_at,
                };
                self.yb_by_xb.pin().insert((r.x, r.b), route);
                self.yb_by_ya.pin().insert((r.y, r.a), route);
            }
        }
        created
    }

    /// Removes every route of the binding that still belongs to it.
    pub(super) fn unindex(&self, binding: &Binding) {
        if let Some(route) = axb_route(binding) {
            self.axb.remove(&route);
            return;
        }
        for key in keys(binding) {
            self.remove_key(key, binding.id);
        }
    }

    /// After `new` was indexed over `old`: removes the keys only `old` had (AXB: the index swaps in one step).
    pub(super) fn unindex_stale(&self, old: &Binding, new: &Binding) {
        if let Some(old_route) = axb_route(old) {
            // Both AXB with the old pair held go through `AxbIndex::replace` instead (see `replace_binding`).
            if axb_route(new).is_none() {
                self.axb.remove(&old_route);
            }
            return;
        }
        let new_keys = keys(new);
        for key in keys(old) {
            if !new_keys.contains(&key) || old.id != new.id {
                self.remove_key(key, old.id);
            }
        }
    }

    pub(super) fn remove_key(&self, key: Key, id: BindingId) {
        match key {
            Key::Ax(x) => {
                let ax = self.ax.pin();
                if ax.get(&x).is_some_and(|r| r.id == id) {
                    ax.remove(&x);
                    let temps = self.temp_callees.pin();
                    if temps.get(&x).is_some_and(|t| t.binding == id) {
                        temps.remove(&x);
                    }
                }
            }
            Key::Axyb(x) => {
                let axyb = self.axyb.pin();
                if axyb.get(&x).is_some_and(|r| r.id == id) {
                    axyb.remove(&x);
                }
            }
            Key::Axe(x, e) => {
                let axe = self.axe.pin();
                if axe.get(&(x, e)).is_some_and(|r| r.hit.id == id) {
                    axe.remove(&(x, e));
                }
            }
            Key::AxeOfA(x, a) => {
                let of_a = self.axe_of_a.pin();
                if let Some(list) = of_a.get(&(x, a)) {
                    let rest: Vec<AxeRoute> = list.iter().filter(|r| r.hit.id != id).cloned().collect();
                    if rest.is_empty() {
                        of_a.remove(&(x, a));
                    } else if rest.len() != list.len() {
                        of_a.insert((x, a), rest);
                    }
                }
                let callbacks = self.callbacks.pin();
                if callbacks.get(&(x, a)).is_some_and(|c| c.binding == id) {
                    callbacks.remove(&(x, a));
                }
            }
            Key::Xb(x, b) => {
                let map = self.yb_by_xb.pin();
                if map.get(&(x, b)).is_some_and(|r| r.id == id) {
                    map.remove(&(x, b));
                }
            }
            Key::Ya(y, a) => {
                let map = self.yb_by_ya.pin();
                if map.get(&(y, a)).is_some_and(|r| r.id == id) {
                    map.remove(&(y, a));
                }
            }
        }
    }

    /// Applies the binding's contribution to the capacity counters and `len` (`delta` is +1 or −1).
    pub(super) fn count(&self, binding: &Binding, delta: i32) {
        if delta > 0 {
            self.len.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        } else {
            let _ = self.len.fetch_update(
                std::sync::atomic::Ordering::Relaxed,
                std::sync::atomic::Ordering::Relaxed,
                |n| n.checked_sub(1),
            );
        }
        match &binding.kind {
            BindingKind::Axb(b) => bump(&self.pairs_on_x, b.x, delta),
            BindingKind::Ax(b) => bump(&self.x_count_of_a, b.a, delta),
            BindingKind::Axyb(b) => bump(&self.x_count_of_a, b.a, delta),
            BindingKind::Axe(b) => bump(&self.extensions_on_x, b.x, delta),
            BindingKind::Yb(r) => bump(&self.relations_on_y, r.y, delta),
        }
    }
}
