//! The per-command view of a batch: reads and writes through the batch's write transaction (so a command
//! sees every earlier successful command of the same batch), and the effects to apply to the routing table
//! once the batch is committed.

use pn_bindings::{
    App, AppId, Binding, BindingId, BindingKind, BindingTable, CallbackRecord, Mode, NumberStatus,
    RecordSettings, TempCallee, UnixTime, XNumber,
};
use pn_numbers::E164;
use pn_store::{BindingFilter, Page, StoreError, WriteTx};
use std::fmt::Write as _;

use rand::Rng;

use super::EngineConfig;
use super::overlay::BatchOverlay;
use crate::ProvisionError;

/// Why a command failed: the client's mistake (rolled back alone) or the store's (1010001).
#[derive(Debug)]
pub(crate) enum Fail {
    /// A refusal with its reference code.
    Refused(ProvisionError),
    /// The store failed during the command.
    Store(StoreError),
}

impl From<ProvisionError> for Fail {
    fn from(e: ProvisionError) -> Self {
        Fail::Refused(e)
    }
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        Fail::Store(e)
    }
}

/// A command's outcome: its domain result or why it failed.
pub(crate) type OpResult<T> = Result<T, Fail>;

/// A change to apply to the routing table after the commit.
#[derive(Clone, Debug)]
pub(crate) enum Effect {
    /// A new binding.
    Insert(Binding),
    /// A modified binding (old, new).
    Replace(Box<(Binding, Binding)>),
    /// A removed binding.
    Remove(Binding),
    /// A new or replaced AX temporary callee.
    TempCallee(TempCallee),
    /// A new or replaced AXE callback record.
    Callback(CallbackRecord),
    /// A new or changed app.
    App(Box<App>),
    /// A new or changed pool number.
    Number(XNumber),
    /// A retired pool number.
    RemoveNumber(E164),
    /// The outbox changed: its counts after the command, what a retention step removed, and whether the
    /// push driver must be woken.
    Outbox {
        /// Rows in all, pending and dead, after the command.
        counts: pn_store::OutboxCounts,
        /// Rows the command purged.
        purged: pn_store::OutboxPurge,
        /// Wake the [`super::OutboxSignal`]: rows were appended or replayed.
        wake: bool,
        /// Also raise its rescan flag: a replay made rows pending again behind the driver's scan position.
        rescan: bool,
    },
}

impl Effect {
    /// Whether the table applies this effect from the effect alone: a new binding, or an upsert by key. A
    /// replaced or removed binding carries the row as this command read it, which another node may have
    /// changed before this commit: only the feed's row before is exact for those.
    pub(crate) fn needs_no_prior_row(&self) -> bool {
        !matches!(self, Effect::Replace(_) | Effect::Remove(_))
    }
}

/// Id counters owned by the engine thread.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ids {
    /// Next binding id.
    pub(crate) next_binding: u64,
    /// One past the last binding id this engine may hand out: `u64::MAX` when it owns the store alone; the
    /// end of the block the shared store reserved for it otherwise ([`Ids::refill`]).
    pub(crate) binding_end: u64,
    /// Next app id (a shared store hands out its own: [`Ctx::new_app_id`]).
    pub(crate) next_app: u32,
}

/// Binding ids a command may need at most (an AXYB bind with its first relation takes two).
const IDS_PER_COMMAND: u64 = 16;

impl Ids {
    /// Counters for a store this engine writes alone: after the highest ids stored.
    pub(crate) fn after(max_binding: u64, max_app: u32) -> Self {
        Self {
            next_binding: max_binding + 1,
            binding_end: u64::MAX,
            next_app: max_app + 1,
        }
    }

    /// Counters for a shared store: empty, filled from the store's blocks before the first command.
    pub(crate) fn shared() -> Self {
        Self {
            next_binding: 0,
            binding_end: 0,
            next_app: 0,
        }
    }

    /// Makes sure the next command finds enough binding ids: reserves a new block from a shared store when
    /// fewer than [`IDS_PER_COMMAND`] are left (the rest of the old block is never used).
    pub(crate) fn refill(&mut self, tx: &mut dyn WriteTx) -> Result<(), StoreError> {
        if self.binding_end.saturating_sub(self.next_binding) >= IDS_PER_COMMAND {
            return Ok(());
        }
        if let Some(block) = tx.reserve_binding_ids()? {
            self.next_binding = block.start;
            self.binding_end = block.end;
        }
        Ok(())
    }
}

/// How a bind picks its privacy number.
#[derive(Clone, Debug)]
pub enum XSelect {
    /// This number of the app's pool (the API's `relationNum`, `privateNum`, `virtualNum`).
    Number(E164),
    /// Any free number of the app in this area (`areaCode`); widened: the same province, then any
    /// (`areaMatchMode` 1).
    Area {
        /// Area code with its leading 0.
        code: String,
        /// Widen to the province, then to any area.
        widen: bool,
    },
}

/// Rows fetched per page when a command needs every matching binding.
const SCAN_PAGE: u32 = 1000;

/// One command's view of the batch.
pub(crate) struct Ctx<'a, 't> {
    /// The batch's write transaction.
    pub(crate) tx: &'a mut (dyn WriteTx + 't),
    /// Limits.
    pub(crate) config: &'a EngineConfig,
    /// Id counters.
    pub(crate) ids: &'a mut Ids,
    /// The committed routing table (read-only here: effects apply after the commit).
    pub(crate) table: &'a BindingTable,
    /// This batch's AXB effects not yet in the table.
    pub(crate) overlay: &'a BatchOverlay,
    /// The command's time.
    pub(crate) now: UnixTime,
    /// Table effects of this command (applied only if the batch commits).
    pub(crate) effects: Vec<Effect>,
}

impl Ctx<'_, '_> {
    /// The live-bindings version of a filter.
    fn live(&self, mut filter: BindingFilter) -> BindingFilter {
        filter.live_at = Some(self.now);
        filter
    }

    /// How many live bindings match.
    pub(crate) fn count(&mut self, filter: BindingFilter) -> Result<u64, Fail> {
        let f = self.live(filter);
        Ok(self.tx.query_bindings(&f, Page { index: 1, size: 0 })?.0)
    }

    /// Every binding matching the filter as given (callers set `live_at` or not).
    pub(crate) fn scan(&mut self, filter: &BindingFilter) -> Result<Vec<Binding>, Fail> {
        let mut out = Vec::new();
        let mut index = 1;
        loop {
            let (total, page) = self.tx.query_bindings(
                filter,
                Page {
                    index,
                    size: SCAN_PAGE,
                },
            )?;
            let done = page.is_empty() || out.len() + page.len() >= total as usize;
            out.extend(page);
            if done {
                return Ok(out);
            }
            index += 1;
        }
    }

    /// Every live binding matching.
    pub(crate) fn live_all(&mut self, filter: BindingFilter) -> Result<Vec<Binding>, Fail> {
        let f = self.live(filter);
        self.scan(&f)
    }

    /// The first live binding matching.
    pub(crate) fn live_one(&mut self, filter: BindingFilter) -> Result<Option<Binding>, Fail> {
        let f = self.live(filter);
        Ok(self
            .tx
            .query_bindings(&f, Page { index: 1, size: 1 })?
            .1
            .into_iter()
            .next())
    }

    /// Removes the expired bindings matching `filter`, so a new binding never shadows a stale one; answers
    /// the live ones (what [`Ctx::live_all`] would answer next, without asking the store again).
    pub(crate) fn purge_expired(&mut self, filter: &BindingFilter) -> Result<Vec<Binding>, Fail> {
        let mut live = Vec::new();
        for b in self.scan(filter)? {
            if b.is_expired(self.now) {
                self.remove(&b)?;
            } else {
                live.push(b);
            }
        }
        Ok(live)
    }

    /// The live binding with this `subscriptionId`, if it belongs to `app` and `mode` (never leaks others).
    pub(crate) fn by_subscription(&mut self, app: &App, sub: &str) -> Result<Option<Binding>, Fail> {
        Ok(self
            .tx
            .binding_by_subscription(sub)?
            .filter(|b| b.app == app.id && b.kind.mode() == app.mode && !b.is_expired(self.now)))
    }

    /// The pool number `x` if the app owns it (1011001 otherwise). Its row stays locked until the batch ends,
    /// so writers on other nodes checking rules on `x` wait for this one (a shared store).
    pub(crate) fn owned_number(&mut self, app: &App, x: E164, field: &str) -> Result<XNumber, Fail> {
        match self.tx.lock_and_read_number(x)? {
            Some(n) if n.app == app.id => Ok(n),
            _ => Err(ProvisionError::NumberNotOwned(format!(
                "{field} {x} does not exist in the app's number pool"
            ))
            .into()),
        }
    }

    /// The pool number `x` if the app owns it and it accepts new bindings.
    pub(crate) fn bindable_number(&mut self, app: &App, x: E164, field: &str) -> Result<XNumber, Fail> {
        let n = self.owned_number(app, x, field)?;
        if n.status.accepts_binds() {
            Ok(n)
        } else {
            Err(ProvisionError::NumberStatusAbnormal(format!(
                "The number status is abnormal: {x} is {}",
                status_name(n.status)
            ))
            .into())
        }
    }

    /// The app's live bindings on its pool number `x` that `keep` accepts; none → 1011004.
    pub(crate) fn bound_on(
        &mut self,
        app: &App,
        x: E164,
        field: &str,
        keep: impl Fn(&Binding) -> bool,
    ) -> Result<Vec<Binding>, Fail> {
        self.owned_number(app, x, field)?;
        let list: Vec<Binding> = self
            .live_all(BindingFilter {
                x: Some(x),
                ..Self::app_filter(app)
            })?
            .into_iter()
            .filter(|b| keep(b))
            .collect();
        if list.is_empty() {
            return Err(not_bound(x));
        }
        Ok(list)
    }

    /// Picks the first of the app's bindable numbers in the area (and, widened, the province, then any) that
    /// `fits`. None fits → 1011002.
    pub(crate) fn allocate(
        &mut self,
        app: &App,
        code: &str,
        widen: bool,
        mut fits: impl FnMut(&mut Self, &XNumber) -> Result<bool, Fail>,
    ) -> Result<XNumber, Fail> {
        let pool: Vec<XNumber> = self
            .tx
            .numbers(Some(app.id))?
            .into_iter()
            .filter(|n| n.status.accepts_binds())
            .collect();
        let province = pool
            .iter()
            .find(|n| n.area_code == code)
            .and_then(|n| n.province.clone());
        let mut tiers: Vec<Vec<&XNumber>> = vec![pool.iter().filter(|n| n.area_code == code).collect()];
        if widen {
            if let Some(p) = &province {
                tiers.push(
                    pool.iter()
                        .filter(|n| n.area_code != code && n.province.as_deref() == Some(p.as_str()))
                        .collect(),
                );
            }
            tiers.push(
                pool.iter()
                    .filter(|n| n.area_code != code && (province.is_none() || n.province != province))
                    .collect(),
            );
        }
        // A number another node's batch holds right now is tried last (waiting for it then), so that
        // concurrent allocations on several nodes spread over the pool instead of queueing on one number.
        let mut held_elsewhere = Vec::new();
        for tier in &tiers {
            for n in tier {
                if !self.tx.try_lock_number(n.number)? {
                    held_elsewhere.push(*n);
                    continue;
                }
                if fits(self, n)? {
                    return Ok((*n).clone());
                }
            }
        }
        for n in held_elsewhere {
            self.tx.lock_number(n.number)?;
            if fits(self, n)? {
                return Ok(n.clone());
            }
        }
        Err(ProvisionError::InsufficientResources(format!(
            "Insufficient number of resources: no idle number in areaCode {code}"
        ))
        .into())
    }

    /// A fresh binding id.
    pub(crate) fn new_binding_id(&mut self) -> BindingId {
        debug_assert!(
            self.ids.next_binding < self.ids.binding_end,
            "binding id block used up"
        );
        let id = BindingId(self.ids.next_binding);
        self.ids.next_binding += 1;
        id
    }

    /// `now + secs`, or None for 0/None (permanent).
    pub(crate) fn expiry_after(&self, secs: Option<u32>) -> Option<UnixTime> {
        secs.filter(|d| *d > 0).map(|d| self.now.plus_secs(i64::from(d)))
    }

    /// A new binding of `app` made now with a fresh id and subscriptionId: permanent, not recorded, without
    /// userData (callers override those with struct update syntax).
    pub(crate) fn new_binding(&mut self, app: &App, kind: BindingKind) -> Binding {
        Binding {
            id: self.new_binding_id(),
            subscription_id: new_subscription_id(),
            app: app.id,
            created_at: self.now,
            updated_at: self.now,
            expires_at: None,
            duration_secs: None,
            record: RecordSettings::default(),
            user_data: None,
            kind,
        }
    }

    /// A fresh app id: the shared store's, else the engine's own counter.
    pub(crate) fn new_app_id(&mut self) -> Result<AppId, Fail> {
        if let Some(id) = self.tx.next_app_id()? {
            return Ok(AppId(id));
        }
        let id = AppId(self.ids.next_app);
        self.ids.next_app += 1;
        Ok(id)
    }

    /// Stores a new binding.
    pub(crate) fn insert(&mut self, b: Binding) -> Result<(), Fail> {
        self.tx.put_binding(&b)?;
        self.effects.push(Effect::Insert(b));
        Ok(())
    }

    /// Stores a modified binding.
    pub(crate) fn replace(&mut self, old: Binding, new: Binding) -> Result<(), Fail> {
        self.tx.put_binding(&new)?;
        self.effects.push(Effect::Replace(Box::new((old, new))));
        Ok(())
    }

    /// Stores a modified binding stamped now; answers its `subscriptionId`.
    pub(crate) fn save_modified(&mut self, old: Binding, mut new: Binding) -> OpResult<String> {
        new.updated_at = self.now;
        let out = new.subscription_id.clone();
        self.replace(old, new)?;
        Ok(out)
    }

    /// Deletes a binding (an AXYB binding with its Y–B relations).
    pub(crate) fn remove(&mut self, b: &Binding) -> Result<(), Fail> {
        if matches!(b.kind, BindingKind::Axyb(_)) {
            let children = self.scan(&BindingFilter {
                parent: Some(b.id),
                ..BindingFilter::default()
            })?;
            for child in children {
                self.tx.delete_binding(child.id)?;
                self.effects.push(Effect::Remove(child));
            }
        }
        self.tx.delete_binding(b.id)?;
        self.effects.push(Effect::Remove(b.clone()));
        Ok(())
    }

    /// A filter on one app's bindings of its mode.
    pub(crate) fn app_filter(app: &App) -> BindingFilter {
        BindingFilter {
            app: Some(app.id),
            mode: Some(app.mode),
            ..BindingFilter::default()
        }
    }
}

/// A new random `subscriptionId`: 32 lowercase hex characters.
///
/// Laid out like a `UUIDv7`: 48 bits of milliseconds since the epoch, then 80 random bits. Ids made later sort
/// later, so the store's unique index on `subscription_id` grows at its end instead of dirtying a random page
/// per bind; the random part keeps ids unguessable.
fn new_subscription_id() -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let mut bytes: [u8; 16] = rand::rng().random();
    bytes[..6].copy_from_slice(&(millis as u64).to_be_bytes()[2..]);
    bytes.iter().fold(String::with_capacity(32), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The admin API's name of a number status (also in refusal texts).
pub const fn status_name(s: NumberStatus) -> &'static str {
    match s {
        NumberStatus::Normal => "normal",
        NumberStatus::Paused => "paused",
        NumberStatus::Unavailable => "unavailable",
        NumberStatus::FrozenForNewBinds => "frozen",
    }
}

/// A not-found failure for modify/unbind (1012007).
pub(crate) fn not_found() -> Fail {
    ProvisionError::not_found().into()
}

/// X carries no binding of the app (1011004).
pub(crate) fn not_bound(x: E164) -> Fail {
    ProvisionError::NumberNotBound(format!("The number {x} is not applied for binding")).into()
}

/// The mode check every mode API starts with (1010040).
pub fn require_mode(app: &App, mode: Mode) -> Result<(), ProvisionError> {
    if app.mode == mode {
        Ok(())
    } else {
        Err(ProvisionError::WrongMode)
    }
}
