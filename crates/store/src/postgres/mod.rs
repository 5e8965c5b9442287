//! `PostgreSQL` backend: the same tables as the `SQLite` backend in a `PostgreSQL` database, through the
//! sync `postgres` client, shared by every node of a cluster (each node's single writer writes it; the
//! database decides the capacity rules through row and advisory locks, hands out ids, and numbers every
//! commit that changes routing state in a change feed the nodes follow: `feed.rs`). Connections are plain
//! TCP or a unix socket, no TLS yet (`NoTls`; TLS is a later step).
//!
//! - **Writer**: one connection behind a mutex. [`Store::begin`] locks it and runs `BEGIN`; the returned
//!   [`WriteTx`] holds the lock until it is committed or dropped (dropping rolls back). Savepoints nest
//!   (`sp1`, `sp2`, …) and map to `SAVEPOINT` / `ROLLBACK TO` / `RELEASE`. A failed statement aborts a
//!   `PostgreSQL` transaction until it is rolled back to a savepoint; a commit after such a failure is
//!   refused (and rolls back) instead of turning silently into a rollback.
//! - **Readers**: a small pool of connections. [`Store::reader`] takes one (or connects a new one when the
//!   pool is empty) and opens a `REPEATABLE READ, READ ONLY` transaction whose snapshot is pinned at once;
//!   the connection returns to the pool when the [`ReadTx`] is dropped.
//! - **Lost connections** (server restart, network) are replaced: the writer reconnects at the next
//!   [`Store::begin`], a broken reader is not pooled again.
//! - **Durability**: a commit returns once `PostgreSQL` reports it durable (its `synchronous_commit`).
//! - **Schema**: migrated at [`PgStore::open`] (a `schema_version` table); a newer database is refused with
//!   [`StoreError::SchemaTooNew`].
//! - **Cluster jobs** (`cluster.rs`): with a node name ([`PgOptions::node`]) the outbox entries this store
//!   appends carry it as their owner and [`ReadTx::outbox_pending`] returns only this node's (and owner-less)
//!   entries; [`Store::heartbeat`], [`Store::try_lead`] (a session advisory lock) and
//!   [`Store::take_over_outbox`] run on a connection of their own, connected at first use.
//! - **Threads**: every call blocks; called on a tokio runtime's thread it steps off the runtime
//!   (`block_in_place`, or a scoped thread) rather than panicking (see `conn.rs`).

mod cluster;
mod conn;
mod feed;
#[cfg(test)]
mod feed_tests;
mod read;
mod schema;
#[cfg(test)]
mod tests;
#[cfg(any(test, feature = "throwaway-pg"))]
pub mod throwaway;
mod write;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use parking_lot::{Mutex, MutexGuard};
use pn_bindings::{
    App, AppId, Binding, BindingId, BindingKind, CallbackRecord, TempCallee, UnixTime, XNumber,
};
use pn_numbers::E164;

use self::conn::{PgConn, misuse};
use crate::{
    BindingFilter, OutboxCounts, OutboxEntry, OutboxFilter, OutboxKind, OutboxPurge, OutboxState, Page,
    ReadTx, SeenNonce, Store, StoreError, WriteTx,
};

/// How long a connection attempt waits when the URL sets no `connect_timeout`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How a read transaction begins: one snapshot for its whole life, and no writes.
const READ_SNAPSHOT: &str = "ISOLATION LEVEL REPEATABLE READ, READ ONLY";

/// Options of [`PgStore::open`].
#[derive(Clone, PartialEq, Eq)]
pub struct PgOptions {
    /// The connection URL, `postgres://user:password@host:port/database` (or the key=value form of libpq);
    /// `host=/path` selects a unix socket directory.
    pub url: String,
    /// Idle read connections kept in the pool (default 4). More readers may be open at once; the extra
    /// connections are closed when their [`ReadTx`] ends.
    pub read_connections: usize,
    /// This node's name, unique among the nodes sharing the database (`[cluster] node`): the owner of the
    /// outbox entries it appends, its row in `pn_nodes`. Empty: no name (entries without an owner).
    pub node: String,
    /// The `statement_timeout` of the cluster jobs' connection (`[cluster] statement_timeout_ms`): a stuck
    /// statement there (heartbeat, leader lock, takeover, node lookups) fails after this long instead of
    /// wedging the jobs and the requests that look nodes up. `None`: the server's setting.
    pub jobs_statement_timeout: Option<Duration>,
    /// Connect over TLS (`[store] tls`), required whatever the URL's `sslmode` says, the server's
    /// certificate verified.
    pub tls: bool,
    /// The PEM file of the CA certificates the server's certificate is verified against (`[store]
    /// tls_ca_file`); `None`: the Mozilla roots.
    pub tls_ca_file: Option<std::path::PathBuf>,
}

impl Default for PgOptions {
    fn default() -> Self {
        Self {
            url: String::new(),
            read_connections: 4,
            node: String::new(),
            jobs_statement_timeout: None,
            tls: false,
            tls_ca_file: None,
        }
    }
}

impl fmt::Debug for PgOptions {
    /// The URL is left out: it may carry a password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgOptions")
            .field("read_connections", &self.read_connections)
            .field("node", &self.node)
            .field("jobs_statement_timeout", &self.jobs_statement_timeout)
            .field("tls", &self.tls)
            .field("tls_ca_file", &self.tls_ca_file)
            .finish_non_exhaustive()
    }
}

/// The `PostgreSQL` store (see the [module docs](self)).
pub struct PgStore {
    /// Parsed connection settings (for new and replacement connections).
    config: conn::Target,
    /// The one write connection (`None` after it was found broken, until the next `begin` reconnects).
    writer: Mutex<Option<PgConn>>,
    /// Idle read connections.
    readers: Mutex<Vec<PgConn>>,
    /// Pool size bound.
    read_connections: usize,
    /// This node's name (empty: none).
    node: String,
    /// The cluster jobs' own connection (heartbeats, the leader lock, takeovers), connected at first use.
    jobs: Mutex<cluster::Jobs>,
    /// The settings of the jobs connection: `config` with its `statement_timeout`.
    jobs_config: conn::Target,
}

impl fmt::Debug for PgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgStore")
            .field("hosts", &self.config.config.get_hosts())
            .field("dbname", &self.config.config.get_dbname())
            .field("tls", &self.config.uses_tls())
            .field("read_connections", &self.read_connections)
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connects the writer to the database of `options.url` and migrates its schema.
    pub fn open(options: &PgOptions) -> Result<Self, StoreError> {
        let mut config = postgres::Config::from_str(&options.url)?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("pnswitch");
        }
        let config = if options.tls {
            conn::Target::tls(config, options.tls_ca_file.as_deref())?
        } else {
            conn::Target::plain(config)
        };
        let mut writer = PgConn::connect(&config)?;
        schema::migrate(&mut writer)?;
        let jobs_config = cluster::jobs_config(&config, options.jobs_statement_timeout);
        Ok(Self {
            config,
            jobs_config,
            writer: Mutex::new(Some(writer)),
            readers: Mutex::new(Vec::new()),
            read_connections: options.read_connections,
            node: options.node.clone(),
            jobs: Mutex::new(cluster::Jobs::default()),
        })
    }

    /// The schema version this binary migrates databases to.
    pub fn schema_version() -> u32 {
        schema::supported_version()
    }

    /// Locks the write connection (reconnecting a broken one) and opens its transaction.
    fn begin_tx(&self) -> Result<PgWriteTx<'_>, StoreError> {
        let mut guard = self.writer.lock();
        if guard.as_ref().is_none_or(PgConn::is_closed) {
            *guard = None;
            *guard = Some(PgConn::connect(&self.config)?);
        }
        let conn = guard.as_mut().ok_or_else(|| misuse("no write connection"))?;
        if let Err(e) = conn.begin("", "") {
            if !conn.is_closed() {
                return Err(e);
            }
            // The server closed the connection since the last transaction (restart, idle kill): one new
            // connection, one more try.
            *guard = None;
            let mut fresh = PgConn::connect(&self.config)?;
            fresh.begin("", "")?;
            *guard = Some(fresh);
        }
        Ok(PgWriteTx {
            conn: guard,
            depth: 0,
            release_pending: false,
            locked_numbers: std::collections::HashMap::new(),
            changed: false,
            node: &self.node,
        })
    }

    /// Takes an idle read connection or connects a new one.
    fn take_reader(&self) -> Result<PgConn, StoreError> {
        if let Some(conn) = self.readers.lock().pop() {
            if !conn.is_closed() {
                return Ok(conn);
            }
        }
        PgConn::connect(&self.config)
    }

    /// Returns a read connection to the pool (or closes it when the pool is full or it is broken).
    fn return_reader(&self, conn: PgConn) {
        if conn.is_closed() {
            return;
        }
        let mut pool = self.readers.lock();
        if pool.len() < self.read_connections {
            pool.push(conn);
        }
    }

    /// Idle read connections in the pool (tests).
    #[cfg(test)]
    pub(crate) fn idle_readers(&self) -> usize {
        self.readers.lock().len()
    }
}

impl Store for PgStore {
    /// Several nodes may write one database: it is always treated as shared (a single node is a cluster of
    /// one).
    fn is_shared(&self) -> bool {
        true
    }

    fn feed_waiter(&self) -> Result<Option<Box<dyn crate::FeedWaiter>>, StoreError> {
        Ok(Some(Box::new(feed::PgFeedWaiter::connect(&self.config)?)))
    }

    fn begin(&self) -> Result<Box<dyn WriteTx + '_>, StoreError> {
        Ok(Box::new(self.begin_tx()?))
    }

    /// Runs `BEGIN`, increments the `write_probe` row and commits.
    fn check_writable(&self) -> Result<(), StoreError> {
        let mut tx = self.begin_tx()?;
        write::probe(tx.active()?)?;
        Box::new(tx).commit()
    }

    /// Upserts this node's `pn_nodes` row (its API URL, the database's time) on the jobs connection.
    fn heartbeat(&self, api_url: &str) -> Result<(), StoreError> {
        self.jobs.lock().heartbeat(&self.jobs_config, &self.node, api_url)
    }

    /// Holds (or tries to take) a session advisory lock on the jobs connection; a broken connection loses
    /// it and is replaced at once (see `cluster.rs`).
    fn try_lead(&self) -> Result<bool, StoreError> {
        self.jobs.lock().try_lead(&self.jobs_config)
    }

    fn take_over_outbox(&self, lease_secs: u64, limit: u32) -> Result<u64, StoreError> {
        if self.node.is_empty() {
            return Ok(0);
        }
        self.jobs
            .lock()
            .take_over(&self.jobs_config, &self.node, lease_secs, limit)
    }

    fn node(&self) -> Option<&str> {
        (!self.node.is_empty()).then_some(self.node.as_str())
    }

    fn node_api_url(&self, node: &str) -> Result<Option<String>, StoreError> {
        self.jobs.lock().api_url(&self.jobs_config, node)
    }

    fn live_nodes(&self, lease_secs: u64) -> Result<Vec<crate::LiveNode>, StoreError> {
        self.jobs
            .lock()
            .live_nodes(&self.jobs_config, &self.node, lease_secs)
    }

    fn reader(&self) -> Result<Box<dyn ReadTx + '_>, StoreError> {
        let mut conn = self.take_reader()?;
        // On error the connection is closed here rather than pooled in an unknown state; a pooled one the
        // server closed meanwhile is replaced once.
        if let Err(e) = conn.begin(READ_SNAPSHOT, "SELECT 1") {
            if !conn.is_closed() {
                return Err(e);
            }
            conn = PgConn::connect(&self.config)?;
            conn.begin(READ_SNAPSHOT, "SELECT 1")?;
        }
        Ok(Box::new(PgReadTx {
            store: self,
            conn: Some(conn),
        }))
    }
}

/// A read snapshot on a pooled read connection.
struct PgReadTx<'a> {
    /// Where the connection goes back to.
    store: &'a PgStore,
    /// The connection (taken out on drop).
    conn: Option<PgConn>,
}

impl PgReadTx<'_> {
    /// This node's name.
    fn node(&self) -> &str {
        &self.store.node
    }

    /// The connection.
    fn conn(&mut self) -> Result<&mut PgConn, StoreError> {
        self.conn
            .as_mut()
            .ok_or_else(|| misuse("read transaction already closed"))
    }
}

impl Drop for PgReadTx<'_> {
    fn drop(&mut self) {
        if let Some(mut conn) = self.conn.take() {
            if conn.rollback().is_ok() {
                self.store.return_reader(conn);
            }
        }
    }
}

/// The write transaction: holds the writer lock for its whole life.
struct PgWriteTx<'a> {
    /// The locked write connection, inside `BEGIN`.
    conn: MutexGuard<'a, Option<PgConn>>,
    /// Open savepoints (`sp1` … `sp{depth}`).
    depth: u32,
    /// The outermost savepoint `sp1` was released by the caller but not yet on the server: the release goes
    /// out with the next `SAVEPOINT` in one round trip (one command after another in a batch), or `COMMIT`
    /// takes it along.
    release_pending: bool,
    /// Pool number rows [`WriteTx::lock_numbers`] locked, as read under that lock; a later
    /// [`WriteTx::lock_and_read_number`] of one of them answers from here instead of a round trip. A write
    /// of the row forgets it, and so does rolling back the savepoint the lock was taken in (the lock goes
    /// with it).
    locked_numbers: std::collections::HashMap<E164, LockedNumber>,
    /// A write touched a table the change feed carries: the commit is numbered in the feed.
    changed: bool,
    /// This node's name (the owner of appended outbox entries; empty: none).
    node: &'a str,
}

/// A pool number row this transaction holds locked (see `PgWriteTx::locked_numbers`).
#[derive(Debug)]
struct LockedNumber {
    /// The row as read under the lock.
    number: XNumber,
    /// Its AXB pairs as read, plus every AXB binding this transaction wrote on it since (an upper bound: a
    /// rolled-back one stays counted).
    pairs: u64,
    /// The savepoint depth the lock belongs to (0: the transaction itself).
    depth: u32,
}

impl PgWriteTx<'_> {
    /// This node's name.
    fn node(&self) -> &str {
        self.node
    }

    /// The connection.
    fn conn(&mut self) -> Result<&mut PgConn, StoreError> {
        self.conn.as_mut().ok_or_else(|| misuse("no write connection"))
    }

    /// The connection, checked to still be inside the transaction.
    fn active(&mut self) -> Result<&mut PgConn, StoreError> {
        let conn = self.conn()?;
        if conn.in_tx {
            Ok(conn)
        } else {
            Err(misuse("write transaction is no longer active"))
        }
    }
}

impl Drop for PgWriteTx<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.as_mut() {
            if conn.in_tx && conn.rollback().is_err() && conn.is_closed() {
                // Replaced at the next `begin`.
                *self.conn = None;
            }
        }
    }
}

/// Implements [`ReadTx`] by delegating to [`read`] on `self.conn()`.
macro_rules! impl_read_tx {
    ($ty:ty) => {
        impl ReadTx for $ty {
            fn apps(&mut self) -> Result<Vec<App>, StoreError> {
                read::apps(self.conn()?)
            }
            fn app(&mut self, id: AppId) -> Result<Option<App>, StoreError> {
                read::app(self.conn()?, id)
            }
            fn app_by_key(&mut self, app_key: &str) -> Result<Option<App>, StoreError> {
                read::app_by_key(self.conn()?, app_key)
            }
            fn max_app_id(&mut self) -> Result<u32, StoreError> {
                read::max_app_id(self.conn()?)
            }
            fn numbers(&mut self, app: Option<AppId>) -> Result<Vec<XNumber>, StoreError> {
                read::numbers(self.conn()?, app)
            }
            fn number(&mut self, number: E164) -> Result<Option<XNumber>, StoreError> {
                read::number(self.conn()?, number)
            }
            fn binding(&mut self, id: BindingId) -> Result<Option<Binding>, StoreError> {
                read::binding(self.conn()?, id)
            }
            fn binding_by_subscription(
                &mut self,
                subscription_id: &str,
            ) -> Result<Option<Binding>, StoreError> {
                read::binding_by_subscription(self.conn()?, subscription_id)
            }
            fn query_bindings(
                &mut self,
                filter: &BindingFilter,
                page: Page,
            ) -> Result<(u64, Vec<Binding>), StoreError> {
                read::query_bindings(self.conn()?, filter, page)
            }
            fn max_binding_id(&mut self) -> Result<u64, StoreError> {
                read::max_binding_id(self.conn()?)
            }
            fn for_each_binding(&mut self, f: &mut dyn FnMut(Binding)) -> Result<(), StoreError> {
                read::for_each_binding(self.conn()?, f)
            }
            fn temp_callee(&mut self, binding: BindingId) -> Result<Option<TempCallee>, StoreError> {
                read::temp_callee(self.conn()?, binding)
            }
            fn temp_callees(&mut self) -> Result<Vec<TempCallee>, StoreError> {
                read::temp_callees(self.conn()?)
            }
            fn callback_records(&mut self) -> Result<Vec<CallbackRecord>, StoreError> {
                read::callback_records(self.conn()?)
            }
            fn expired_bindings(&mut self, now: UnixTime, limit: u32) -> Result<Vec<Binding>, StoreError> {
                read::expired_bindings(self.conn()?, now, limit)
            }
            fn outbox_pending(&mut self, after_id: u64, limit: u32) -> Result<Vec<OutboxEntry>, StoreError> {
                let node = self.node().to_owned();
                read::outbox_pending(self.conn()?, &node, after_id, limit)
            }
            fn outbox_query(
                &mut self,
                filter: &OutboxFilter,
                limit: u32,
            ) -> Result<Vec<OutboxEntry>, StoreError> {
                read::outbox_query(self.conn()?, filter, limit)
            }
            fn outbox_entries(&mut self, ids: &[u64]) -> Result<Vec<OutboxEntry>, StoreError> {
                read::outbox_entries(self.conn()?, ids)
            }
            fn outbox_counts(&mut self) -> Result<OutboxCounts, StoreError> {
                read::outbox_counts(self.conn()?)
            }
            fn nonces_since(&mut self, since: i64) -> Result<Vec<SeenNonce>, StoreError> {
                read::nonces_since(self.conn()?, since)
            }
            fn outbox_count(&mut self) -> Result<u64, StoreError> {
                read::outbox_count(self.conn()?)
            }
            fn feed_head(&mut self) -> Result<Option<u64>, StoreError> {
                feed::head(self.conn()?).map(Some)
            }
            fn feed_after(&mut self, after: u64, limit: u32) -> Result<Vec<crate::FeedCommit>, StoreError> {
                feed::after(self.conn()?, after, limit)
            }
        }
    };
}

impl_read_tx!(PgReadTx<'_>);
impl_read_tx!(PgWriteTx<'_>);

impl WriteTx for PgWriteTx<'_> {
    fn savepoint(&mut self) -> Result<(), StoreError> {
        let depth = self.depth + 1;
        let release = if std::mem::take(&mut self.release_pending) {
            "RELEASE SAVEPOINT sp1; "
        } else {
            ""
        };
        self.active()?.batch(&format!("{release}SAVEPOINT sp{depth}"))?;
        self.depth = depth;
        Ok(())
    }

    fn rollback_savepoint(&mut self) -> Result<(), StoreError> {
        let depth = self.depth;
        if depth == 0 {
            return Err(misuse("no open savepoint to roll back"));
        }
        let conn = self.active()?;
        conn.batch(&format!(
            "ROLLBACK TO SAVEPOINT sp{depth}; RELEASE SAVEPOINT sp{depth}"
        ))?;
        // Whatever failed after the savepoint is undone: the transaction is usable again.
        conn.failed = false;
        self.locked_numbers.retain(|_, held| held.depth < depth);
        self.depth = depth - 1;
        Ok(())
    }

    fn release_savepoint(&mut self) -> Result<(), StoreError> {
        let depth = self.depth;
        if depth == 0 {
            return Err(misuse("no open savepoint to release"));
        }
        if depth == 1 {
            // Statements until the next savepoint run inside `sp1` still: nothing rolls back to it.
            self.release_pending = true;
        } else {
            self.active()?.batch(&format!("RELEASE SAVEPOINT sp{depth}"))?;
        }
        for held in self.locked_numbers.values_mut() {
            held.depth = held.depth.min(depth - 1);
        }
        self.depth = depth - 1;
        Ok(())
    }

    fn put_app(&mut self, app: &App) -> Result<(), StoreError> {
        self.changed = true;
        write::put_app(self.active()?, app)
    }

    fn put_number(&mut self, number: &XNumber) -> Result<(), StoreError> {
        self.changed = true;
        self.locked_numbers.remove(&number.number);
        write::put_number(self.active()?, number)
    }

    fn delete_number(&mut self, number: E164) -> Result<(), StoreError> {
        self.changed = true;
        self.locked_numbers.remove(&number);
        write::delete_number(self.active()?, number)
    }

    fn put_binding(&mut self, binding: &Binding) -> Result<(), StoreError> {
        self.changed = true;
        if let BindingKind::Axb(axb) = &binding.kind
            && let Some(held) = self.locked_numbers.get_mut(&axb.x)
        {
            held.pairs += 1;
        }
        write::put_binding(self.active()?, binding)
    }

    /// Also deletes the Y–B relations of an AXYB A–X binding (rows whose `parent` is `id`).
    fn delete_binding(&mut self, id: BindingId) -> Result<bool, StoreError> {
        self.changed = true;
        write::delete_binding(self.active()?, id)
    }

    fn put_temp_callee(&mut self, callee: &TempCallee) -> Result<(), StoreError> {
        self.changed = true;
        write::put_temp_callee(self.active()?, callee)
    }

    fn put_callback_record(&mut self, record: &CallbackRecord) -> Result<(), StoreError> {
        self.changed = true;
        write::put_callback_record(self.active()?, record)
    }

    fn append_outbox_in(
        &mut self,
        kind: OutboxKind,
        app: AppId,
        payload: &str,
        state: OutboxState,
        now: UnixTime,
    ) -> Result<u64, StoreError> {
        let node = self.node;
        write::append_outbox(self.active()?, node, (kind, app, payload, state), now)
    }

    fn mark_outbox(&mut self, ids: &[u64], state: OutboxState, now: UnixTime) -> Result<u64, StoreError> {
        write::mark_outbox(self.active()?, ids, state, now)
    }

    fn put_nonces(&mut self, list: &[SeenNonce]) -> Result<(), StoreError> {
        write::put_nonces(self.active()?, list)
    }

    fn prune_nonces(&mut self, before: i64) -> Result<u64, StoreError> {
        write::prune_nonces(self.active()?, before)
    }

    fn purge_outbox(
        &mut self,
        created_before: UnixTime,
        max_rows: u64,
        limit: u32,
    ) -> Result<OutboxPurge, StoreError> {
        write::purge_outbox(self.active()?, created_before, max_rows, limit)
    }

    fn commit(self: Box<Self>) -> Result<(), StoreError> {
        self.commit_numbered().map(drop)
    }

    /// Numbers the transaction in the change feed when it changed routing state (see `feed.rs`), then
    /// commits (open savepoints too). On failure `Drop` rolls back whatever is still open.
    fn commit_numbered(mut self: Box<Self>) -> Result<Option<u64>, StoreError> {
        let changed = self.changed;
        let conn = self.active()?;
        let seq = if changed {
            Some(feed::number_commit(conn, unix_now())?)
        } else {
            None
        };
        conn.commit()?;
        Ok(seq)
    }

    fn lock_number(&mut self, number: E164) -> Result<(), StoreError> {
        feed::lock_number(self.active()?, number)
    }

    fn lock_numbers(&mut self, numbers: &[E164]) -> Result<Option<u64>, StoreError> {
        let (rows, head) = feed::lock_numbers(self.active()?, numbers)?;
        let depth = self.depth;
        for (number, pairs) in rows {
            // Already held from an outer level: that lock outlives this one.
            self.locked_numbers
                .entry(number.number)
                .or_insert(LockedNumber { number, pairs, depth });
        }
        Ok(Some(head))
    }

    fn lock_parties(&mut self, numbers: &[E164]) -> Result<(), StoreError> {
        feed::lock_parties(self.active()?, numbers)
    }

    fn try_lock_number(&mut self, number: E164) -> Result<bool, StoreError> {
        feed::try_lock_number(self.active()?, number)
    }

    fn lock_and_read_number(&mut self, number: E164) -> Result<Option<XNumber>, StoreError> {
        if let Some(held) = self.locked_numbers.get(&number) {
            return Ok(Some(held.number.clone()));
        }
        read::number_for_update(self.active()?, number)
    }

    fn axb_pairs_upper_bound(&mut self, x: E164) -> Result<Option<u64>, StoreError> {
        if let Some(held) = self.locked_numbers.get(&x) {
            return Ok(Some(held.pairs));
        }
        feed::axb_pairs(self.active()?, x)
    }

    fn lock_party(&mut self, number: E164) -> Result<(), StoreError> {
        feed::lock_party(self.active()?, number)
    }

    fn reserve_binding_ids(&mut self) -> Result<Option<crate::IdBlock>, StoreError> {
        feed::reserve_binding_ids(self.active()?).map(Some)
    }

    fn next_app_id(&mut self) -> Result<Option<u32>, StoreError> {
        feed::next_app_id(self.active()?).map(Some)
    }

    fn prune_feed(&mut self, before: UnixTime, limit: u32) -> Result<u64, StoreError> {
        feed::prune(self.active()?, before.0, limit)
    }
}

/// Seconds since the Unix epoch (the feed's `committed_at`).
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
