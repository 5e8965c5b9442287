//! Resync in place: a node whose table fell behind the change feed (the feed was pruned past its position)
//! brings the table to a fresh snapshot of the store, then follows the feed from that snapshot's head.
//!
//! The snapshot is read as a starting node reads it ([`super::load_table`]): one read transaction, whose
//! feed head is the position the table is at afterwards. The table is changed in place, never emptied:
//! routes of bindings the snapshot lacks (or holds under other numbers) are removed first
//! ([`BindingTable::retain_bindings`](pn_bindings::BindingTable::retain_bindings)), then every snapshot
//! binding is inserted again (a held one updated in place); apps, pool numbers, temporary callees and callback
//! records the snapshot lacks are removed, the others upserted. The node refuses new calls while it is not
//! caught up, so no call routes on the table between the two steps.

use std::collections::HashMap;

use pn_bindings::{App, BindingId, RouteKeys, UnixTime};
use pn_store::{ReadTx, StoreError};

use super::{Engine, load};

/// What a resync changed.
#[derive(Debug, Default)]
pub(super) struct Resynced {
    /// The snapshot's feed head: where the table is now.
    pub(super) head: u64,
    /// Live bindings in the snapshot.
    pub(super) bindings: usize,
    /// Routes removed (bindings gone or moved to other numbers).
    pub(super) routes_removed: usize,
    /// Apps, numbers, temporary callees and callback records removed.
    pub(super) others_removed: usize,
}

impl Engine {
    /// Brings the table to a fresh snapshot of the store (see the module doc).
    pub(super) fn resync(&self) -> Result<Resynced, StoreError> {
        let now = crate::system_now();
        let mut r = self.store.reader()?;
        let mut done = Resynced {
            head: r.feed_head()?.unwrap_or(0),
            ..Resynced::default()
        };
        let apps = r.apps()?;
        done.others_removed += self.resync_apps(&apps);
        done.others_removed += self.resync_numbers(&mut *r)?;
        let mut keys: HashMap<BindingId, RouteKeys> = HashMap::new();
        r.for_each_binding(&mut |b| {
            if !b.is_expired(now) {
                keys.insert(b.id, RouteKeys::of(&b));
            }
        })?;
        done.bindings = keys.len();
        done.routes_removed = self.table.retain_bindings(&keys);
        drop(keys);
        self.metrics.bindings.reset();
        let mut counts: HashMap<(&'static str, String), i64> = HashMap::new();
        // The same read transaction: the same rows as the first pass.
        r.for_each_binding(&mut |b| {
            if b.is_expired(now) {
                return;
            }
            self.table.insert_binding(&b);
            super::set_media(&self.table, &b);
            let app = apps.iter().find(|a| a.id == b.app).map_or_else(
                || b.app.0.to_string(),
                |a| self.metrics.app_label.of(&a.name, &a.app_key).to_owned(),
            );
            *counts.entry((load::kind_label(&b.kind), app)).or_default() += 1;
        })?;
        for ((mode, app), n) in counts {
            self.metrics
                .bindings
                .with_label_values(&[mode, app.as_str()])
                .set(n);
        }
        done.others_removed += self.resync_temps_and_callbacks(&mut *r, now)?;
        Ok(done)
    }

    /// Apps: the table and the authenticator's directory become the snapshot's.
    fn resync_apps(&self, apps: &[App]) -> usize {
        let mut removed = 0;
        for id in self.table.app_ids() {
            if !apps.iter().any(|a| a.id == id) {
                self.table.remove_app(id);
                removed += 1;
            }
        }
        for app in apps {
            self.table.upsert_app(app);
        }
        let mut directory = self.apps.write();
        directory.clear();
        directory.extend(apps.iter().map(|a| (a.app_key.clone(), a.clone())));
        removed
    }

    fn resync_numbers(&self, r: &mut dyn ReadTx) -> Result<usize, StoreError> {
        let numbers = r.numbers(None)?;
        let kept: std::collections::HashSet<_> = numbers.iter().map(|n| n.number).collect();
        let mut removed = 0;
        for n in self.table.numbers() {
            if !kept.contains(&n.number) {
                self.table.remove_number(n.number);
                removed += 1;
            }
        }
        for n in &numbers {
            self.table.upsert_number(n);
        }
        Ok(removed)
    }

    fn resync_temps_and_callbacks(&self, r: &mut dyn ReadTx, now: UnixTime) -> Result<usize, StoreError> {
        let temps: Vec<_> = r
            .temp_callees()?
            .into_iter()
            .filter(|t| t.expires_at > now)
            .collect();
        let live: std::collections::HashSet<_> = temps.iter().map(|t| t.x).collect();
        let mut removed = 0;
        for x in self.table.temp_callee_xs() {
            if !live.contains(&x) {
                self.table.clear_temp_callee(x);
                removed += 1;
            }
        }
        for t in &temps {
            self.table.set_temp_callee(t);
        }
        let records: Vec<_> = r
            .callback_records()?
            .into_iter()
            .filter(|c| c.expires_at.is_none_or(|t| t > now))
            .collect();
        let kept: std::collections::HashSet<_> = records.iter().map(|c| (c.x, c.a)).collect();
        for (x, a) in self.table.callback_keys() {
            if !kept.contains(&(x, a)) {
                self.table.clear_callback_record(x, a);
                removed += 1;
            }
        }
        for c in &records {
            self.table.set_callback_record(c);
        }
        Ok(removed)
    }
}
