//! pn-store: pnswitch's durable state behind one trait.
//!
//! I/O contract: synchronous, blocking calls (run them on a dedicated thread or `spawn_blocking`). A
//! [`WriteTx`] is one atomic transaction: nothing it wrote is visible or durable until [`WriteTx::commit`]
//! returns `Ok`, and dropping it uncommitted rolls everything back. Savepoints let one transaction carry many
//! independent API writes (group commit) while a failed write leaves nothing half-applied.
//!
//! Backends: [`sqlite::SqliteStore`] (embedded default, WAL, in the data directory) and
//! [`postgres::PgStore`] (a `PostgreSQL` database; single node, no TLS yet). Both pass one conformance suite
//! (`conformance/`, run against each backend).

use pn_bindings::{App, AppId, Binding, BindingId, CallbackRecord, Mode, TempCallee, UnixTime, XNumber};
use pn_numbers::E164;

mod codec;
#[cfg(test)]
mod conformance;
pub mod postgres;
pub mod sqlite;

/// Errors of the durable store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The storage backend failed (its own error inside; the trait names no backend's types).
    #[error("{backend}: {source}")]
    Backend {
        /// Which backend (`"sqlite"` or `"postgres"`).
        backend: &'static str,
        /// The backend's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A stored row could not be decoded (corruption or a schema from a newer version).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The data directory or database file could not be used.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// Another writer holds what the statement needs (a deadlock broken by the server, a serialization
    /// failure): the write changed nothing and may be retried.
    #[error("contention: {0}")]
    Contention(Box<dyn std::error::Error + Send + Sync>),
    /// The database schema is newer than this binary understands.
    #[error("schema version {found} is newer than supported {supported}")]
    SchemaTooNew {
        /// Version found in the database.
        found: u32,
        /// Highest version this binary migrates to.
        supported: u32,
    },
}

impl StoreError {
    /// Whether the failed write may succeed when retried ([`StoreError::Contention`]).
    pub fn is_contention(&self) -> bool {
        matches!(self, StoreError::Contention(_))
    }
}

/// A 1-based page of query results.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Page {
    /// 1-based page index.
    pub index: u32,
    /// Rows per page.
    pub size: u32,
}

/// Which bindings a query returns. Every set field must match; `app` always restricts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BindingFilter {
    /// Only this app's bindings.
    pub app: Option<AppId>,
    /// Only bindings of this mode (AXYB includes its Y–B relations).
    pub mode: Option<Mode>,
    /// Exact `subscriptionId`.
    pub subscription_id: Option<String>,
    /// The privacy number X (for a Y–B relation: its parent's X).
    pub x: Option<E164>,
    /// The A number (AXB callerNum, AX/AXYB origNum, AXE bindNum).
    pub a: Option<E164>,
    /// The B number (AXB calleeNum, Y–B relation's B).
    pub b: Option<E164>,
    /// Either A or B equals this number.
    pub party: Option<E164>,
    /// With `party`: either A or B equals `party` or this number (alone: as `party`).
    pub other_party: Option<E164>,
    /// AXYB relation's Y.
    pub y: Option<E164>,
    /// AXE extension.
    pub extension: Option<String>,
    /// Y–B relations of this AXYB binding.
    pub parent: Option<BindingId>,
    /// Only bindings still live at this time (not expired).
    pub live_at: Option<UnixTime>,
}

/// What an outbox entry carries to pn-notify.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OutboxKind {
    /// A call event (`callin`, `callout`, `alerting`, `answer`, `disconnect`, `collectInfo`).
    CallEvent,
    /// A CDR (`fee`).
    Cdr,
    /// An SMS notification.
    Sms,
    /// An X-number status notification.
    NumberStatus,
}

impl OutboxKind {
    /// Where `app` wants its entries of this kind pushed (reference §0.2), if anywhere: call events to the
    /// call-status URL, CDRs to the CDR URL, SMS notifications to the SMS URL, number status (when the app
    /// asked for it) to its own URL or else the call-status URL. An empty URL is none.
    pub fn receiver_url(self, app: &App) -> Option<&str> {
        let url = match self {
            Self::CallEvent => app.call_status_url.as_deref(),
            Self::Cdr => app.cdr_url.as_deref(),
            Self::Sms => app.sms_url.as_deref(),
            Self::NumberStatus => {
                if !app.push.num_status {
                    return None;
                }
                app.push.status_url.as_deref().or(app.call_status_url.as_deref())
            }
        };
        url.filter(|u| !u.is_empty())
    }

    /// The `kind` label of the push metrics (`event`, `cdr`, `sms`, `numstatus`).
    pub fn push_label(self) -> &'static str {
        match self {
            Self::CallEvent => "event",
            Self::Cdr => "cdr",
            Self::Sms => "sms",
            Self::NumberStatus => "numstatus",
        }
    }
}

/// Where an outbox entry is in its life.
///
/// Stored as an INTEGER (`Pending` 0, `Delivered` 1, `Dead` 2, `NoReceiver` 3). Every state but `Pending`
/// is final until an operator replays a dead letter (`Dead` → `Pending`); rows of every state stay until the
/// retention purge removes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OutboxState {
    /// Waiting for delivery (or for its next retry).
    Pending,
    /// Its receiver acknowledged it (an HTTP 2xx); kept for the retention window, listable.
    Delivered,
    /// Delivery gave up after the last retry: a dead letter, listable and replayable.
    Dead,
    /// Never pushed: the app has no URL for this kind, or the row has no app. Kept for the record.
    NoReceiver,
}

impl OutboxState {
    /// Every state, in stored-code order.
    pub const ALL: [OutboxState; 4] = [
        OutboxState::Pending,
        OutboxState::Delivered,
        OutboxState::Dead,
        OutboxState::NoReceiver,
    ];

    /// The state's name: `pending`, `delivered`, `dead`, `no_receiver`.
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxState::Pending => "pending",
            OutboxState::Delivered => "delivered",
            OutboxState::Dead => "dead",
            OutboxState::NoReceiver => "no_receiver",
        }
    }

    /// Parses a name of [`OutboxState::as_str`].
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// One outbox entry, in whatever state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxEntry {
    /// Monotonic id (delivery order).
    pub id: u64,
    /// Kind of payload.
    pub kind: OutboxKind,
    /// App to deliver to.
    pub app: AppId,
    /// JSON payload as it will be pushed.
    pub payload: String,
    /// When it was written.
    pub created_at: UnixTime,
    /// Delivery attempts so far (one per delivered or dead mark).
    pub attempts: u32,
    /// Where the entry is in its life.
    pub state: OutboxState,
    /// When it was delivered, declared dead or marked no-receiver (`None` while pending).
    pub done_at: Option<UnixTime>,
}

/// Exact outbox row counts (O(1), kept by the store).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutboxCounts {
    /// Rows in every state.
    pub total: u64,
    /// Rows waiting for delivery ([`OutboxState::Pending`]).
    pub pending: u64,
    /// Dead letters ([`OutboxState::Dead`]).
    pub dead: u64,
}

/// Which outbox entries [`ReadTx::outbox_query`] returns: every set field must match.
#[derive(Clone, Debug, Default)]
pub struct OutboxFilter {
    /// Only entries in this state.
    pub state: Option<OutboxState>,
    /// Only entries of this kind.
    pub kind: Option<OutboxKind>,
    /// Only this app's entries.
    pub app: Option<AppId>,
    /// Only entries created at or after this time.
    pub created_from: Option<UnixTime>,
    /// Only entries created at or before this time (inclusive).
    pub created_to: Option<UnixTime>,
    /// Only entries with an id above this (paging: the last id of the previous page; 0 = from the start).
    pub after_id: u64,
}

/// A signed API request's `(app_key, Nonce)` accepted with its `Created` second: the durable half of replay
/// protection (a nonce committed before its request is acknowledged is refused again after a restart).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeenNonce {
    /// The request's `Username` (app key).
    pub app_key: String,
    /// The request's `Nonce` (1–128 of `[0-9A-Za-z]`).
    pub nonce: String,
    /// The request's `Created`, Unix seconds.
    pub created: i64,
}

/// What one [`WriteTx::purge_outbox`] step removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutboxPurge {
    /// Rows older than the retention cut.
    pub by_age: u64,
    /// Rows within their retention removed only because the table held more than the row cap.
    pub by_cap: u64,
}

impl OutboxPurge {
    /// Rows removed in all.
    pub fn total(&self) -> u64 {
        self.by_age + self.by_cap
    }
}

/// One committed write transaction of a shared store, as its change feed gives it to every node: its place in
/// the commit order and what it changed, in the order it changed it.
#[derive(Clone, Debug, PartialEq)]
pub struct FeedCommit {
    /// Position in the commit order: 1, 2, 3, … without gaps (commits are numbered while they hold the feed's
    /// head, so a commit with a higher number always became visible after every lower one).
    pub seq: u64,
    /// The rows it changed.
    pub changes: Vec<Change>,
}

/// One row change of a [`FeedCommit`]: the row before and after (`None`: it did not exist / was deleted).
// Built once by the feed's reader and moved once into the routing table: boxing bindings would only add two
// allocations per change.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    /// A binding.
    Binding {
        /// Before.
        old: Option<Binding>,
        /// After.
        new: Option<Binding>,
    },
    /// An app (boxed: an app is much larger than the other rows).
    App {
        /// Before.
        old: Option<Box<App>>,
        /// After.
        new: Option<Box<App>>,
    },
    /// A pool number.
    Number {
        /// Before.
        old: Option<XNumber>,
        /// After.
        new: Option<XNumber>,
    },
    /// An AX temporary callee.
    TempCallee {
        /// Before.
        old: Option<TempCallee>,
        /// After.
        new: Option<TempCallee>,
    },
    /// An AXE callback record.
    Callback {
        /// Before.
        old: Option<CallbackRecord>,
        /// After.
        new: Option<CallbackRecord>,
    },
}

/// Blocks until a shared store's change feed may have moved (a notification from another writer) or a
/// timeout passes.
pub trait FeedWaiter: Send {
    /// Waits at most `timeout`; `true` when woken by a notification, `false` on the timeout.
    fn wait(&mut self, timeout: std::time::Duration) -> Result<bool, StoreError>;
}

/// A block of binding ids a shared store reserved for one node: `start..end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdBlock {
    /// First id of the block.
    pub start: u64,
    /// One past the last id.
    pub end: u64,
}

/// A durable store: one writer at a time, many readers.
pub trait Store: Send + Sync + 'static {
    /// Whether several nodes write this store at once (`PostgreSQL`): the database, not a node's own table,
    /// decides the capacity rules; ids come from the database; every node follows the change feed
    /// ([`ReadTx::feed_after`]). `false` (the default) for a store only this process writes.
    fn is_shared(&self) -> bool {
        false
    }
    /// A waiter woken by other writers' commits (`None`: the store has no change feed).
    fn feed_waiter(&self) -> Result<Option<Box<dyn FeedWaiter>>, StoreError> {
        Ok(None)
    }
    /// Starts the (single) write transaction; blocks while another writer holds it.
    fn begin(&self) -> Result<Box<dyn WriteTx + '_>, StoreError>;
    /// A read view (a snapshot while it lives); many may be open at once, alongside the writer.
    fn reader(&self) -> Result<Box<dyn ReadTx + '_>, StoreError>;
    /// Proves the store can durably write right now: commits a write transaction that changes no data
    /// (through the same path and fsync as every commit). `Err` on a read-only or full disk, a database
    /// opened read-only, or a lock held by another process beyond the busy timeout.
    fn check_writable(&self) -> Result<(), StoreError>;

    /// Gives back what the store's caches hold while it is idle: `Ok(true)` when something was released
    /// (SQLite: the page caches of the write connection and of the pooled read connections, then the free
    /// pages of the C allocator they were taken from); `Ok(false)` for a store that keeps nothing worth it in
    /// this process (the default; PostgreSQL caches in the server). The next statements read their pages
    /// again, from the operating system's file cache.
    fn release_memory(&self) -> Result<bool, StoreError> {
        Ok(false)
    }

    /// Cluster: records that this node is alive now, and `api_url`, the base URL the other nodes reach its
    /// HTTP API at. A store shared by several nodes keeps one row per node; the default (a store of one
    /// node) does nothing.
    fn heartbeat(&self, api_url: &str) -> Result<(), StoreError> {
        let _ = api_url;
        Ok(())
    }

    /// Cluster: whether this node leads the cluster-wide jobs (expiry sweep, outbox retention, outbox
    /// takeover) right now. At most one node of a shared store leads at a time; when it dies another takes
    /// over at its next try. The default (a store of one node) always leads.
    fn try_lead(&self) -> Result<bool, StoreError> {
        Ok(true)
    }

    /// Cluster: moves at most `limit` pending outbox entries of the nodes whose last heartbeat is older than
    /// `lease_secs` to this node, so [`ReadTx::outbox_pending`] returns them here; returns how many moved.
    /// Concurrent takers never move one entry twice. The default (a store of one node) moves nothing.
    fn take_over_outbox(&self, lease_secs: u64, limit: u32) -> Result<u64, StoreError> {
        let _ = (lease_secs, limit);
        Ok(0)
    }

    /// Cluster: this node's name (`None` for a store of one node).
    fn node(&self) -> Option<&str> {
        None
    }

    /// Cluster: the API base URL `node` announced with its heartbeats (`None`: unknown, or a store of one
    /// node).
    fn node_api_url(&self, node: &str) -> Result<Option<String>, StoreError> {
        let _ = node;
        Ok(None)
    }

    /// Cluster: the other nodes whose last heartbeat (the database's clock) is at most `lease_secs` old,
    /// with the API base URL each announced, by name. The default (a store of one node) has none.
    fn live_nodes(&self, lease_secs: u64) -> Result<Vec<LiveNode>, StoreError> {
        let _ = lease_secs;
        Ok(Vec::new())
    }
}

/// Another live node of a shared store ([`Store::live_nodes`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveNode {
    /// Its name (`[cluster] node`).
    pub node: String,
    /// The base URL of its HTTP API, as announced with its heartbeats.
    pub api_url: String,
}

/// Reads of the durable state.
pub trait ReadTx {
    /// All apps.
    fn apps(&mut self) -> Result<Vec<App>, StoreError>;
    /// The app with this id.
    fn app(&mut self, id: AppId) -> Result<Option<App>, StoreError>;
    /// The app with this `app_key`.
    fn app_by_key(&mut self, app_key: &str) -> Result<Option<App>, StoreError>;
    /// Highest app id in use (0 when none).
    fn max_app_id(&mut self) -> Result<u32, StoreError>;
    /// Pool numbers, all or one app's.
    fn numbers(&mut self, app: Option<AppId>) -> Result<Vec<XNumber>, StoreError>;
    /// One pool number.
    fn number(&mut self, number: E164) -> Result<Option<XNumber>, StoreError>;
    /// A binding by internal id.
    fn binding(&mut self, id: BindingId) -> Result<Option<Binding>, StoreError>;
    /// A binding by `subscriptionId`.
    fn binding_by_subscription(&mut self, subscription_id: &str) -> Result<Option<Binding>, StoreError>;
    /// Bindings matching `filter`, ordered by id, one page; also the total count of matches.
    fn query_bindings(
        &mut self,
        filter: &BindingFilter,
        page: Page,
    ) -> Result<(u64, Vec<Binding>), StoreError>;
    /// Highest binding id in use (0 when none).
    fn max_binding_id(&mut self) -> Result<u64, StoreError>;
    /// Calls `f` for every stored binding (startup load of the routing table), in id order.
    fn for_each_binding(&mut self, f: &mut dyn FnMut(Binding)) -> Result<(), StoreError>;
    /// The temporary callee of an AX binding.
    fn temp_callee(&mut self, binding: BindingId) -> Result<Option<TempCallee>, StoreError>;
    /// All temporary callees (startup load).
    fn temp_callees(&mut self) -> Result<Vec<TempCallee>, StoreError>;
    /// All callback records (startup load).
    fn callback_records(&mut self) -> Result<Vec<CallbackRecord>, StoreError>;
    /// Bindings whose `expires_at` is at or before `now`, oldest first, at most `limit`.
    fn expired_bindings(&mut self, now: UnixTime, limit: u32) -> Result<Vec<Binding>, StoreError>;
    /// Pending outbox entries ([`OutboxState::Pending`]) with an id above `after_id`, in id order, at most
    /// `limit`. A store shared by several nodes returns only this node's entries and those without an owner
    /// (written before ownership existed).
    fn outbox_pending(&mut self, after_id: u64, limit: u32) -> Result<Vec<OutboxEntry>, StoreError>;
    /// Outbox entries matching `filter` (ids above `filter.after_id`), in id order, at most `limit`.
    fn outbox_query(&mut self, filter: &OutboxFilter, limit: u32) -> Result<Vec<OutboxEntry>, StoreError>;
    /// The outbox entries with these ids that exist, in id order (each once).
    fn outbox_entries(&mut self, ids: &[u64]) -> Result<Vec<OutboxEntry>, StoreError>;
    /// Exact row counts: in all, pending and dead (O(1)).
    fn outbox_counts(&mut self) -> Result<OutboxCounts, StoreError>;
    /// Every remembered API nonce whose `Created` is at or after `since` (startup load of the replay cache).
    fn nonces_since(&mut self, since: i64) -> Result<Vec<SeenNonce>, StoreError>;
    /// How many rows the outbox holds, in every state (exact, O(1)).
    fn outbox_count(&mut self) -> Result<u64, StoreError>;
    /// The change feed's head in this read's snapshot: every commit numbered up to it is visible here, none
    /// after it (`None`: the store has no change feed).
    fn feed_head(&mut self) -> Result<Option<u64>, StoreError> {
        Ok(None)
    }
    /// Commits numbered above `after`, in commit order, at most `limit` of them (empty: none yet, or no feed).
    fn feed_after(&mut self, after: u64, limit: u32) -> Result<Vec<FeedCommit>, StoreError> {
        let _ = (after, limit);
        Ok(Vec::new())
    }
}

/// One atomic write transaction. Dropping it without [`WriteTx::commit`] rolls it back.
pub trait WriteTx: ReadTx {
    /// Opens a savepoint; writes after it can be undone alone with [`WriteTx::rollback_savepoint`].
    fn savepoint(&mut self) -> Result<(), StoreError>;
    /// Undoes every write since the last open savepoint and closes it.
    fn rollback_savepoint(&mut self) -> Result<(), StoreError>;
    /// Keeps the writes since the last open savepoint and closes it.
    fn release_savepoint(&mut self) -> Result<(), StoreError>;
    /// Inserts or replaces an app.
    fn put_app(&mut self, app: &App) -> Result<(), StoreError>;
    /// Inserts or replaces a pool number.
    fn put_number(&mut self, number: &XNumber) -> Result<(), StoreError>;
    /// Removes a pool number.
    fn delete_number(&mut self, number: E164) -> Result<(), StoreError>;
    /// Inserts or replaces a binding (by id).
    fn put_binding(&mut self, binding: &Binding) -> Result<(), StoreError>;
    /// Deletes a binding, its temp callee and its callback records. Returns whether it existed.
    fn delete_binding(&mut self, id: BindingId) -> Result<bool, StoreError>;
    /// Sets (replaces) the temporary callee of an AX binding.
    fn put_temp_callee(&mut self, callee: &TempCallee) -> Result<(), StoreError>;
    /// Inserts or replaces the callback record of (X, A).
    fn put_callback_record(&mut self, record: &CallbackRecord) -> Result<(), StoreError>;
    /// Appends a pending outbox entry; returns its id. A store shared by several nodes records this node as
    /// its owner (see [`ReadTx::outbox_pending`], [`Store::take_over_outbox`]).
    fn append_outbox(
        &mut self,
        kind: OutboxKind,
        app: AppId,
        payload: &str,
        now: UnixTime,
    ) -> Result<u64, StoreError> {
        self.append_outbox_in(kind, app, payload, OutboxState::Pending, now)
    }
    /// Appends an outbox entry already in `state` (a row nobody receives is written
    /// [`OutboxState::NoReceiver`] at once, instead of pending and then marked); a state other than `Pending`
    /// sets `done_at` to `now`, with no attempt counted. Returns its id.
    fn append_outbox_in(
        &mut self,
        kind: OutboxKind,
        app: AppId,
        payload: &str,
        state: OutboxState,
        now: UnixTime,
    ) -> Result<u64, StoreError>;
    /// Moves outbox entries to `state`; returns how many rows changed (missing ids are skipped).
    ///
    /// `Delivered`, `Dead` and `NoReceiver` change the rows not already in that state and set `done_at` to
    /// `now`; `Delivered` and `Dead` also count one more attempt. `Pending` is a replay: it changes only
    /// rows that are currently `Dead`, and clears their `done_at`.
    fn mark_outbox(&mut self, ids: &[u64], state: OutboxState, now: UnixTime) -> Result<u64, StoreError>;
    /// Remembers accepted API nonces (a nonce already remembered with the same `Created` is kept once).
    fn put_nonces(&mut self, nonces: &[SeenNonce]) -> Result<(), StoreError>;
    /// Forgets the API nonces whose `Created` is before `before`; returns how many.
    fn prune_nonces(&mut self, before: i64) -> Result<u64, StoreError>;
    /// One bounded step of the outbox retention: removes the oldest entries, whatever their state (in id
    /// order, at most `limit`), while they were created before `created_before` or the outbox holds more
    /// than `max_rows`; the per-state counts stay exact. Only a prefix of the id order is removed, so one
    /// step reads at most `limit` rows and stops at the first entry it keeps; call it again while it removes
    /// `limit` rows.
    fn purge_outbox(
        &mut self,
        created_before: UnixTime,
        max_rows: u64,
        limit: u32,
    ) -> Result<OutboxPurge, StoreError>;
    /// Makes every write of this transaction durable (fsync per the backend's policy) and visible.
    fn commit(self: Box<Self>) -> Result<(), StoreError>;
    /// [`WriteTx::commit`], answering the commit's number in the change feed (`None`: no feed, or the
    /// transaction changed nothing the feed carries).
    fn commit_numbered(self: Box<Self>) -> Result<Option<u64>, StoreError> {
        self.commit().map(|()| None)
    }
    /// Holds the pool number's row until the transaction ends, so writers on other nodes checking rules on
    /// the same number wait for this one (no-op for a store only this process writes).
    fn lock_number(&mut self, number: E164) -> Result<(), StoreError> {
        let _ = number;
        Ok(())
    }
    /// [`WriteTx::lock_number`] for several numbers at once, taken in ascending order (every node takes a
    /// batch's locks in the same order, so two batches never wait on each other in a cycle). Answers the
    /// change feed's head as committed once the locks were held (`None`: the store has no feed): every
    /// commit that changed these numbers' AXB parties held one of these locks, so it is numbered at or
    /// below that head, and a table that has applied the feed up to it shows them all.
    fn lock_numbers(&mut self, numbers: &[E164]) -> Result<Option<u64>, StoreError> {
        let _ = numbers;
        Ok(None)
    }
    /// [`WriteTx::lock_party`] for several numbers at once, in ascending order.
    fn lock_parties(&mut self, numbers: &[E164]) -> Result<(), StoreError> {
        let _ = numbers;
        Ok(())
    }
    /// [`WriteTx::lock_number`] without waiting: `false` when another writer holds the row now (an allocator
    /// then tries another number first).
    fn try_lock_number(&mut self, number: E164) -> Result<bool, StoreError> {
        let _ = number;
        Ok(true)
    }
    /// [`WriteTx::lock_number`] then [`ReadTx::number`] (one statement where the backend can).
    fn lock_and_read_number(&mut self, number: E164) -> Result<Option<XNumber>, StoreError> {
        self.lock_number(number)?;
        self.number(number)
    }
    /// An upper bound of the AXB pairs on `x` (expired ones not yet swept included) that the store keeps
    /// without counting them, exact as of the lock on `x` this transaction holds ([`WriteTx::lock_number`]
    /// and friends; pairs this transaction added since may be counted twice). `None`: the store keeps none,
    /// count them.
    fn axb_pairs_upper_bound(&mut self, x: E164) -> Result<Option<u64>, StoreError> {
        let _ = x;
        Ok(None)
    }
    /// Holds a lock named by a user number until the transaction ends (rules counting one A's bindings over
    /// several X); no-op for a store only this process writes.
    fn lock_party(&mut self, number: E164) -> Result<(), StoreError> {
        let _ = number;
        Ok(())
    }
    /// Reserves a block of binding ids unique across every node (`None`: the store leaves ids to the writer's
    /// own counter).
    fn reserve_binding_ids(&mut self) -> Result<Option<IdBlock>, StoreError> {
        Ok(None)
    }
    /// A fresh app id unique across every node (`None`: the writer's own counter).
    fn next_app_id(&mut self) -> Result<Option<u32>, StoreError> {
        Ok(None)
    }
    /// Forgets at most `limit` of the change feed's oldest commits made before `before` (never the head's
    /// own); answers how many. A node whose position is older than what is kept can no longer follow the
    /// feed and must load a fresh snapshot. No-op without a feed.
    fn prune_feed(&mut self, before: UnixTime, limit: u32) -> Result<u64, StoreError> {
        let _ = (before, limit);
        Ok(0)
    }
}
