//! One `PostgreSQL` connection: the sync `postgres` client, its prepared-statement cache and the state of
//! its transaction, with every round trip kept off any tokio runtime.
//!
//! The sync client drives its connection on a small tokio runtime of its own, which panics when entered
//! from a thread already inside a runtime. The store's contract asks callers to use a blocking thread, but
//! a few start-up paths of the binary read it from an async function; [`off_runtime`] steps such a call out
//! of the runtime (`block_in_place`, or a short-lived scoped thread), so the store never panics whoever
//! calls it.

use std::collections::HashMap;

use postgres::types::ToSql;
use postgres::{Client, NoTls, Row, Statement};

use crate::StoreError;

/// Prepared statements kept per connection; the cache is emptied when it grows past this (the dynamic
/// `query_bindings` / `outbox_query` shapes are bounded, but not small).
const STATEMENT_CACHE: usize = 256;

/// Runs `f` where the client may block on its own runtime (see the module docs): here outside any tokio
/// runtime and on a blocking-pool thread of a multi-thread runtime (`block_in_place` then just runs `f`);
/// on a multi-thread runtime's worker through `block_in_place` (which steps out of the runtime); with a
/// current-thread runtime's handle, where `block_in_place` would panic on the runtime's own thread, on a
/// scoped thread.
pub(crate) fn off_runtime<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Err(_) => f(),
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        Ok(_) => std::thread::scope(|s| match s.spawn(f).join() {
            Ok(r) => r,
            Err(panic) => std::panic::resume_unwind(panic),
        }),
    }
}

/// Where and how to connect: the parsed URL and, when `[store] tls` is on, the TLS client (rustls,
/// verifying the server's certificate against the configured CA file or the Mozilla roots).
#[derive(Clone)]
pub(crate) struct Target {
    /// The parsed connection settings.
    pub(crate) config: postgres::Config,
    /// The TLS connector; `None`: plain TCP (or a unix socket).
    tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
}

impl Target {
    /// `config` as given, plain (no TLS).
    pub(crate) fn plain(config: postgres::Config) -> Self {
        Self { config, tls: None }
    }

    /// `config` over TLS, required (`sslmode=require` whatever the URL said: a server that refuses TLS is
    /// refused, never used in the clear), the server's certificate verified against the PEM certificates
    /// of `ca_file`, or the Mozilla roots (webpki-roots) without one; its name or IP address must match
    /// the host connected to.
    pub(crate) fn tls(
        mut config: postgres::Config,
        ca_file: Option<&std::path::Path>,
    ) -> Result<Self, StoreError> {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject as _;
        let mut roots = rustls::RootCertStore::empty();
        match ca_file {
            Some(path) => {
                let named =
                    |e: &dyn std::fmt::Display| misuse(&format!("store.tls_ca_file {}: {e}", path.display()));
                let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                    .map_err(|e| named(&e))?
                    .collect::<Result<_, _>>()
                    .map_err(|e| named(&e))?;
                if certs.is_empty() {
                    return Err(named(&"no PEM certificate in the file"));
                }
                for cert in certs {
                    roots.add(cert).map_err(|e| named(&e))?;
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let client = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| misuse(&format!("TLS client: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.ssl_mode(postgres::config::SslMode::Require);
        Ok(Self {
            config,
            tls: Some(tokio_postgres_rustls::MakeRustlsConnect::new(client)),
        })
    }

    /// Whether connections use TLS.
    pub(crate) fn uses_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Opens a client (blocking; call it through [`off_runtime`]).
    pub(crate) fn connect(&self) -> Result<Client, postgres::Error> {
        match &self.tls {
            None => self.config.connect(NoTls),
            Some(tls) => self.config.connect(tls.clone()),
        }
    }
}

/// A backend error of this backend built from a message (API misuse or a broken invariant it detected).
pub(crate) fn misuse(message: &str) -> StoreError {
    StoreError::Backend {
        backend: "postgres",
        source: message.into(),
    }
}

/// `PostgreSQL`'s errors become [`StoreError::Backend`] (the backend-neutral error names no `postgres` type),
/// and a deadlock the server broke (`40P01`) or a serialization failure (`40001`) become
/// [`StoreError::Contention`]: the statement changed nothing and may be retried.
impl From<postgres::Error> for StoreError {
    fn from(e: postgres::Error) -> Self {
        let contention = e.as_db_error().is_some_and(|db| {
            let code = db.code().code();
            code == "40P01" || code == "40001"
        });
        if contention {
            return StoreError::Contention(Box::new(e));
        }
        StoreError::Backend {
            backend: "postgres",
            source: Box::new(e),
        }
    }
}

/// Whether `e` ended the session: the connection closed, a `FATAL` error (e.g. `pg_terminate_backend`, a
/// server shutdown) or a connection exception (SQLSTATE class 08).
fn session_ended(e: &postgres::Error) -> bool {
    e.is_closed()
        || e.as_db_error().is_some_and(|db| {
            db.severity() == "FATAL" || db.severity() == "PANIC" || db.code().code().starts_with("08")
        })
}

/// A connection with its statement cache and transaction state.
pub(crate) struct PgConn {
    /// The client (`None` only while it is being dropped).
    client: Option<Client>,
    /// Prepared statements by SQL text.
    statements: HashMap<String, Statement>,
    /// Inside `BEGIN` … `COMMIT`/`ROLLBACK`.
    pub(crate) in_tx: bool,
    /// A statement failed inside the transaction: `PostgreSQL` refuses everything but a rollback (to a
    /// savepoint) until then, and would turn a `COMMIT` into a silent rollback.
    pub(crate) failed: bool,
    /// A statement failed in a way that ended the session (the client may not have noticed the close yet).
    lost: bool,
}

impl PgConn {
    /// Connects to `target` (over TLS when it says so).
    pub(crate) fn connect(target: &Target) -> Result<Self, StoreError> {
        let client = off_runtime(|| target.connect())?;
        Ok(Self {
            client: Some(client),
            statements: HashMap::new(),
            in_tx: false,
            failed: false,
            lost: false,
        })
    }

    /// Whether the connection is gone (server restart, network, a terminated backend): it must be replaced.
    pub(crate) fn is_closed(&self) -> bool {
        self.lost || self.client.as_ref().is_none_or(Client::is_closed)
    }

    /// The client.
    fn client(&mut self) -> Result<&mut Client, StoreError> {
        self.client.as_mut().ok_or_else(|| misuse("connection closed"))
    }

    /// Notes a failed statement: inside a transaction, and whether it ended the session.
    fn note<T>(&mut self, result: Result<T, postgres::Error>) -> Result<T, StoreError> {
        if let Err(e) = &result {
            if self.in_tx {
                self.failed = true;
            }
            if session_ended(e) {
                self.lost = true;
            }
        }
        result.map_err(StoreError::from)
    }

    /// The cached prepared statement of `sql`.
    fn statement(&mut self, sql: &str) -> Result<Statement, StoreError> {
        if let Some(stmt) = self.statements.get(sql) {
            return Ok(stmt.clone());
        }
        let client = self.client()?;
        let prepared = off_runtime(|| client.prepare(sql));
        let stmt = self.note(prepared)?;
        if self.statements.len() >= STATEMENT_CACHE {
            self.statements.clear();
        }
        self.statements.insert(sql.to_owned(), stmt.clone());
        Ok(stmt)
    }

    /// Runs a query, all rows.
    pub(crate) fn query(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, StoreError> {
        let stmt = self.statement(sql)?;
        let client = self.client()?;
        let rows = off_runtime(|| client.query(&stmt, params));
        self.note(rows)
    }

    /// Runs a query, at most one row.
    pub(crate) fn query_opt(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, StoreError> {
        let stmt = self.statement(sql)?;
        let client = self.client()?;
        let row = off_runtime(|| client.query_opt(&stmt, params));
        self.note(row)
    }

    /// Runs a query, exactly one row.
    pub(crate) fn query_one(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Row, StoreError> {
        let stmt = self.statement(sql)?;
        let client = self.client()?;
        let row = off_runtime(|| client.query_one(&stmt, params));
        self.note(row)
    }

    /// Runs a statement; returns the rows it changed.
    pub(crate) fn execute(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, StoreError> {
        let stmt = self.statement(sql)?;
        let client = self.client()?;
        let n = off_runtime(|| client.execute(&stmt, params));
        self.note(n)
    }

    /// Runs statements without parameters (simple query protocol, not cached).
    pub(crate) fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        let client = self.client()?;
        let done = off_runtime(|| client.batch_execute(sql));
        self.note(done)
    }

    /// `BEGIN` with `mode` (e.g. `ISOLATION LEVEL REPEATABLE READ, READ ONLY`), then `then` in the same
    /// round trip (a reader's `SELECT 1` pins its snapshot now).
    pub(crate) fn begin(&mut self, mode: &str, then: &str) -> Result<(), StoreError> {
        if self.in_tx {
            // A previous transaction could not be rolled back when it ended; finish it now.
            self.rollback()?;
        }
        if then.is_empty() {
            self.batch(&format!("BEGIN {mode}"))?;
        } else {
            self.batch(&format!("BEGIN {mode}; {then}"))?;
        }
        self.in_tx = true;
        self.failed = false;
        Ok(())
    }

    /// `ROLLBACK` of the whole transaction.
    pub(crate) fn rollback(&mut self) -> Result<(), StoreError> {
        self.batch("ROLLBACK")?;
        self.in_tx = false;
        self.failed = false;
        Ok(())
    }

    /// `COMMIT`; refused (and rolled back) when a statement of the transaction failed, since `PostgreSQL`
    /// would answer the `COMMIT` of an aborted transaction with a rollback and no error.
    pub(crate) fn commit(&mut self) -> Result<(), StoreError> {
        if self.failed {
            self.rollback()?;
            return Err(misuse(
                "a statement of the transaction failed and was not rolled back to a savepoint: rolled back",
            ));
        }
        self.batch("COMMIT")?;
        self.in_tx = false;
        Ok(())
    }
}

impl Drop for PgConn {
    fn drop(&mut self) {
        // Closing the client blocks on its runtime: keep that off a tokio runtime too.
        if let Some(client) = self.client.take() {
            off_runtime(move || drop(client));
        }
    }
}
