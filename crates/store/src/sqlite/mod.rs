//! `SQLite` backend: one database file `pnswitch.db` in the data directory, in WAL mode.
//!
//! - **Writer**: one connection behind a mutex. [`Store::begin`] locks it and runs `BEGIN IMMEDIATE`; the
//!   returned [`WriteTx`] holds the lock until it is committed or dropped (dropping rolls back). Savepoints
//!   nest (`sp1`, `sp2`, …). Every write checks that the transaction is still open, so a write after `SQLite`
//!   rolled the transaction back on its own (I/O error, disk full) fails instead of silently autocommitting.
//! - **Readers**: a small pool of `query_only` connections. [`Store::reader`] takes one (or opens a new one
//!   when the pool is empty), runs `BEGIN` and touches the database so the snapshot is pinned from that
//!   moment; the snapshot ends and the connection returns to the pool when the [`ReadTx`] is dropped.
//! - **Durability**: `synchronous=FULL` by default, so a committed transaction survives `kill -9` and power
//!   loss; [`SqliteOptions::synchronous_full`] `= false` selects `NORMAL` (survives process crashes only).
//! - **Schema**: migrated at [`SqliteStore::open`] via `PRAGMA user_version`; a newer database is refused
//!   with [`StoreError::SchemaTooNew`].

mod codec;
mod nonces;
mod read;
mod schema;
mod write;

#[cfg(test)]
mod outbox_tests;
#[cfg(test)]
mod tests;

use std::fmt;
use std::path::{Path, PathBuf};

use parking_lot::{Mutex, MutexGuard};
use pn_bindings::{App, AppId, Binding, BindingId, CallbackRecord, TempCallee, UnixTime, XNumber};
use pn_numbers::E164;
use rusqlite::Connection;

use crate::{
    BindingFilter, OutboxCounts, OutboxEntry, OutboxFilter, OutboxKind, OutboxPurge, OutboxState, Page,
    ReadTx, SeenNonce, Store, StoreError, WriteTx,
};

/// File name of the database inside the data directory.
pub const DB_FILE: &str = "pnswitch.db";

/// Options of [`SqliteStore::open`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SqliteOptions {
    /// `true` (default): `PRAGMA synchronous=FULL`, every commit is fsynced and survives `kill -9` and power
    /// loss. `false`: `NORMAL`, commits survive a process crash but the last ones may be lost on power loss.
    pub synchronous_full: bool,
    /// Idle read connections kept in the pool (default 4). More readers may be open at once; the extra
    /// connections are closed when their [`ReadTx`] ends.
    pub read_connections: usize,
    /// The write connection's page cache in KiB (default 16384). It holds the pages inserts touch (the
    /// right-hand edges of the outbox and its indexes, the bindings' index pages); it is filled as pages are
    /// read and kept, so it counts in the process's resident memory once the database is larger.
    pub writer_cache_kib: u32,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            synchronous_full: true,
            read_connections: 4,
            writer_cache_kib: 16 * 1024,
        }
    }
}

/// The embedded `SQLite` store (see the [module docs](self)).
pub struct SqliteStore {
    /// Path of the database file.
    path: PathBuf,
    /// The one write connection.
    writer: Mutex<Connection>,
    /// Idle read connections.
    readers: Mutex<Vec<Connection>>,
    /// Pool size bound.
    read_connections: usize,
    /// Dropping this stops the checkpointer thread.
    _checkpointer: std::sync::mpsc::Sender<()>,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .field("read_connections", &self.read_connections)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating when missing) the directory `dir` and the database [`DB_FILE`] in it, applies the
    /// connection settings and migrates the schema.
    pub fn open(dir: &Path, options: SqliteOptions) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(DB_FILE);
        let writer = schema::open_writer(&path, options.synchronous_full, options.writer_cache_kib)?;
        schema::migrate(&writer)?;
        let checkpointer = spawn_checkpointer(schema::open_checkpointer(&path)?)?;
        Ok(Self {
            path,
            writer: Mutex::new(writer),
            readers: Mutex::new(Vec::new()),
            read_connections: options.read_connections,
            _checkpointer: checkpointer,
        })
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version this binary migrates databases to.
    pub fn schema_version() -> u32 {
        schema::supported_version()
    }

    /// Locks the write connection and opens its transaction.
    fn begin_tx(&self) -> Result<SqliteWriteTx<'_>, StoreError> {
        let conn = self.writer.lock();
        if !conn.is_autocommit() {
            // A previous transaction could not be rolled back on drop; finish it now.
            conn.prepare_cached("ROLLBACK")?.execute([])?;
        }
        conn.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
        Ok(SqliteWriteTx { conn, depth: 0 })
    }

    /// Takes an idle read connection or opens a new one.
    fn take_reader(&self) -> Result<Connection, StoreError> {
        if let Some(conn) = self.readers.lock().pop() {
            return Ok(conn);
        }
        schema::open_reader(&self.path)
    }

    /// Returns a read connection to the pool (or closes it when the pool is full).
    fn return_reader(&self, conn: Connection) {
        let mut pool = self.readers.lock();
        if pool.len() < self.read_connections {
            pool.push(conn);
        }
    }
}

/// Hands the C allocator's free pages back to the kernel. SQLite allocates through the C library's `malloc`
/// (glibc here: the switch's own heap is jemalloc's, under prefixed names), and glibc keeps the small chunks a
/// released page cache freed inside its arenas, resident, until `malloc_trim` returns their whole free pages.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn trim_c_heap() {
    // SAFETY: `malloc_trim` has no preconditions: it only returns free memory of glibc's arenas to the kernel
    // (taking each arena's lock), whatever other threads allocate meanwhile.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Elsewhere the C allocator's own policy applies.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim_c_heap() {}

/// How often the checkpointer copies committed WAL frames into the database file.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

/// Runs `PRAGMA wal_checkpoint(PASSIVE)` every [`CHECKPOINT_EVERY`] on its own thread until the returned
/// sender is dropped. PASSIVE never blocks the writer or readers; durability does not depend on it (a
/// committed transaction is already fsynced in the WAL), it only bounds the WAL's size. A failing checkpoint
/// (full disk) is logged when it starts failing and when it works again, not four times a second.
fn spawn_checkpointer(conn: Connection) -> Result<std::sync::mpsc::Sender<()>, StoreError> {
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    std::thread::Builder::new()
        .name("pn-sqlite-ckpt".into())
        .spawn(move || {
            let mut failing = false;
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(CHECKPOINT_EVERY)
            {
                let ok = conn
                    .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                    .map_err(|e| {
                        if !failing {
                            tracing::warn!(
                                error = %e,
                                "WAL checkpoint failed (retried every 250 ms; logged again once it works)"
                            );
                        }
                    })
                    .is_ok();
                if ok && failing {
                    tracing::info!("WAL checkpoint works again");
                }
                failing = !ok;
            }
        })?;
    Ok(stop)
}

impl Store for SqliteStore {
    fn begin(&self) -> Result<Box<dyn WriteTx + '_>, StoreError> {
        Ok(Box::new(self.begin_tx()?))
    }

    /// Runs `BEGIN IMMEDIATE`, increments the `write_probe` row and commits (fsynced like any commit).
    fn check_writable(&self) -> Result<(), StoreError> {
        let tx = self.begin_tx()?;
        write::probe(tx.active()?)?;
        Box::new(tx).commit()
    }

    fn release_memory(&self) -> Result<bool, StoreError> {
        self.writer.lock().release_memory()?;
        for conn in self.readers.lock().iter() {
            conn.release_memory()?;
        }
        trim_c_heap();
        Ok(true)
    }

    fn reader(&self) -> Result<Box<dyn ReadTx + '_>, StoreError> {
        let conn = self.take_reader()?;
        // On error the connection is closed here rather than pooled in an unknown state.
        start_snapshot(&conn)?;
        Ok(Box::new(SqliteReadTx {
            store: self,
            conn: Some(conn),
        }))
    }
}

/// Opens a deferred transaction and reads the schema so the snapshot is taken now, not at the first query.
fn start_snapshot(conn: &Connection) -> Result<(), StoreError> {
    if !conn.is_autocommit() {
        conn.prepare_cached("ROLLBACK")?.execute([])?;
    }
    conn.prepare_cached("BEGIN")?.execute([])?;
    let mut stmt = conn.prepare_cached("SELECT 1 FROM sqlite_schema LIMIT 1")?;
    let mut rows = stmt.query([])?;
    rows.next()?;
    Ok(())
}

/// A `SQLITE_MISUSE` error with a message (API misuse detected by this backend).
fn misuse(message: &str) -> StoreError {
    rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_MISUSE),
        Some(message.to_owned()),
    )
    .into()
}

/// `SQLite`'s errors become [`StoreError::Backend`]: the backend-neutral error names no `rusqlite` type.
impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Backend {
            backend: "sqlite",
            source: Box::new(e),
        }
    }
}

/// A read snapshot on a pooled read connection.
struct SqliteReadTx<'a> {
    /// Where the connection goes back to.
    store: &'a SqliteStore,
    /// The connection (taken out on drop).
    conn: Option<Connection>,
}

impl SqliteReadTx<'_> {
    /// The connection.
    fn conn(&self) -> Result<&Connection, StoreError> {
        self.conn
            .as_ref()
            .ok_or_else(|| misuse("read transaction already closed"))
    }
}

impl Drop for SqliteReadTx<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            let ended = conn.is_autocommit() || conn.execute_batch("ROLLBACK").is_ok();
            if ended {
                self.store.return_reader(conn);
            }
        }
    }
}

/// The write transaction: holds the writer lock for its whole life.
struct SqliteWriteTx<'a> {
    /// The locked write connection, inside `BEGIN IMMEDIATE`.
    conn: MutexGuard<'a, Connection>,
    /// Open savepoints (`sp1` … `sp{depth}`).
    depth: u32,
}

impl SqliteWriteTx<'_> {
    /// The connection.
    #[expect(
        clippy::unnecessary_wraps,
        reason = "same shape as the reader's, for the shared `ReadTx` impl"
    )]
    fn conn(&self) -> Result<&Connection, StoreError> {
        Ok(&self.conn)
    }

    /// The connection, checked to still be inside the transaction.
    fn active(&self) -> Result<&Connection, StoreError> {
        if self.conn.is_autocommit() {
            Err(misuse(
                "write transaction is no longer active (rolled back by SQLite)",
            ))
        } else {
            Ok(&self.conn)
        }
    }
}

impl Drop for SqliteWriteTx<'_> {
    fn drop(&mut self) {
        if !self.conn.is_autocommit() {
            // Nothing to report to; `begin` retries the rollback if this fails.
            let _ = self.conn.execute_batch("ROLLBACK");
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
                read::outbox_pending(self.conn()?, after_id, limit)
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
                nonces::since(self.conn()?, since)
            }
            fn outbox_count(&mut self) -> Result<u64, StoreError> {
                read::outbox_count(self.conn()?)
            }
        }
    };
}

impl_read_tx!(SqliteReadTx<'_>);
impl_read_tx!(SqliteWriteTx<'_>);

impl WriteTx for SqliteWriteTx<'_> {
    fn savepoint(&mut self) -> Result<(), StoreError> {
        let depth = self.depth + 1;
        self.active()?
            .prepare_cached(&format!("SAVEPOINT sp{depth}"))?
            .execute([])?;
        self.depth = depth;
        Ok(())
    }

    fn rollback_savepoint(&mut self) -> Result<(), StoreError> {
        let depth = self.depth;
        if depth == 0 {
            return Err(misuse("no open savepoint to roll back"));
        }
        let conn = self.active()?;
        conn.prepare_cached(&format!("ROLLBACK TO sp{depth}"))?
            .execute([])?;
        conn.prepare_cached(&format!("RELEASE sp{depth}"))?.execute([])?;
        self.depth = depth - 1;
        Ok(())
    }

    fn release_savepoint(&mut self) -> Result<(), StoreError> {
        let depth = self.depth;
        if depth == 0 {
            return Err(misuse("no open savepoint to release"));
        }
        self.active()?
            .prepare_cached(&format!("RELEASE sp{depth}"))?
            .execute([])?;
        self.depth = depth - 1;
        Ok(())
    }

    fn put_app(&mut self, app: &App) -> Result<(), StoreError> {
        write::put_app(self.active()?, app)
    }

    fn put_number(&mut self, number: &XNumber) -> Result<(), StoreError> {
        write::put_number(self.active()?, number)
    }

    fn delete_number(&mut self, number: E164) -> Result<(), StoreError> {
        write::delete_number(self.active()?, number)
    }

    fn put_binding(&mut self, binding: &Binding) -> Result<(), StoreError> {
        write::put_binding(self.active()?, binding)
    }

    /// Also deletes the Y–B relations of an AXYB A–X binding (rows whose `parent` is `id`).
    fn delete_binding(&mut self, id: BindingId) -> Result<bool, StoreError> {
        write::delete_binding(self.active()?, id)
    }

    fn put_temp_callee(&mut self, callee: &TempCallee) -> Result<(), StoreError> {
        write::put_temp_callee(self.active()?, callee)
    }

    fn put_callback_record(&mut self, record: &CallbackRecord) -> Result<(), StoreError> {
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
        write::append_outbox(self.active()?, kind, app, payload, state, now)
    }

    fn mark_outbox(&mut self, ids: &[u64], state: OutboxState, now: UnixTime) -> Result<u64, StoreError> {
        write::mark_outbox(self.active()?, ids, state, now)
    }

    fn put_nonces(&mut self, list: &[SeenNonce]) -> Result<(), StoreError> {
        nonces::put(self.active()?, list)
    }

    fn prune_nonces(&mut self, before: i64) -> Result<u64, StoreError> {
        nonces::prune(self.active()?, before)
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
        // Commits open savepoints too. On failure `Drop` rolls back whatever is still open.
        self.active()?.prepare_cached("COMMIT")?.execute([])?;
        Ok(())
    }
}
