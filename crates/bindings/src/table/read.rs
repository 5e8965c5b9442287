//! The read side of [`BindingTable`] used by [`crate::decide()`]: small copies out of the lock-free maps.

use pn_numbers::E164;

use super::{AppRoute, AxRoute, AxbRoute, AxeHit, BindingTable, TempRoute, YbRoute, expired, ext_key};
use crate::model::{AppId, AxeFallback, CallbackRecord, NumberStatus, UnixTime};

impl BindingTable {
    /// The owning app and status of a pool number.
    pub(crate) fn pool_route(&self, number: E164) -> Option<(AppId, NumberStatus)> {
        self.numbers.pin().get(&number).map(|n| (n.app, n.status))
    }

    /// The routing settings of an app.
    pub(crate) fn app_route(&self, id: AppId) -> Option<AppRoute> {
        self.apps.pin().get(&id).map(|a| AppRoute {
            mode: a.mode,
            enabled: a.enabled,
            extension_digits: a.extension_digits,
            collect_repeat: a.collect_repeat,
            record_enabled: a.record_enabled,
        })
    }

    /// Starts fetching the AXB index slot of (X, party): the caller overlaps that memory read with other work.
    #[inline]
    pub(crate) fn prefetch_axb(&self, x: E164, party: E164) {
        self.axb.prefetch(x, party);
    }

    /// The AXB pair on X that `party` belongs to (live or not).
    pub(crate) fn axb_route(&self, x: E164, party: E164) -> Option<AxbRoute> {
        self.axb.get(x, party)
    }

    /// The AX binding on X (live or not).
    pub(crate) fn ax_route(&self, x: E164) -> Option<AxRoute> {
        self.ax.pin().get(&x).copied()
    }

    /// The A–X part of the AXYB binding on X (live or not).
    pub(crate) fn axyb_route(&self, x: E164) -> Option<AxRoute> {
        self.axyb.pin().get(&x).copied()
    }

    /// The temporary callee of X (live or not).
    pub(crate) fn temp_callee(&self, x: E164) -> Option<TempRoute> {
        self.temp_callees.pin().get(&x).cloned()
    }

    /// The AXE binding behind (X, extension) (live or not).
    pub(crate) fn axe_route(&self, x: E164, ext: &str) -> Option<AxeHit> {
        let key = ext_key(ext)?;
        self.axe.pin().get(&(x, key)).map(|r| r.hit)
    }

    /// A live AXE binding of A on X (the most recently indexed one) and its callback fallback.
    pub(crate) fn axe_of_a(&self, x: E164, a: E164, now: UnixTime) -> Option<(AxeHit, AxeFallback)> {
        let of_a = self.axe_of_a.pin();
        let list = of_a.get(&(x, a))?;
        list.iter()
            .rev()
            .find(|r| !expired(r.hit.expires_at, now))
            .map(|r| (r.hit, r.fallback.clone()))
    }

    /// The AXE callback record of (X, A) (live or not).
    pub(crate) fn callback(&self, x: E164, a: E164) -> Option<CallbackRecord> {
        self.callbacks.pin().get(&(x, a)).cloned()
    }

    /// The Y–B relation in which B dials X.
    pub(crate) fn yb_by_xb(&self, x: E164, b: E164) -> Option<YbRoute> {
        self.yb_by_xb.pin().get(&(x, b)).copied()
    }

    /// The Y–B relation in which A dials Y.
    pub(crate) fn yb_by_ya(&self, y: E164, a: E164) -> Option<YbRoute> {
        self.yb_by_ya.pin().get(&(y, a)).copied()
    }
}
