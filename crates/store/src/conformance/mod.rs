//! The store conformance suite: every backend-independent test of the [`Store`] contract, run against each
//! backend. A case is a function taking a [`Harness`] (which opens stores on one fresh database); the
//! `conformance!` macro turns each case into one `#[test]` per backend (`conformance::sqlite::<case>`,
//! `conformance::postgres::<case>`). Backend-specific tests (file modes, PRAGMAs, migrations from older
//! `SQLite` schemas, the `PostgreSQL` schema's shape) stay with their backend.
//!
//! The `PostgreSQL` cases run on the throwaway server of `postgres::throwaway` (one per test process, a
//! database per case); without the server binaries they fail, naming the package to install.

mod cases;
pub(crate) mod fixtures;
mod outbox;

use tempfile::TempDir;

use crate::Store;
use crate::postgres::{PgOptions, PgStore, throwaway};
use crate::sqlite::{SqliteOptions, SqliteStore};

/// Opens stores of one backend on one database that lives as long as the harness.
pub(crate) trait Harness {
    /// A new store on the harness's database (a second call is a reopen: a restart of the process).
    fn open(&self) -> Box<dyn Store>;
    /// The backend's name in [`crate::StoreError::Backend`].
    fn backend(&self) -> &'static str;
}

/// `SQLite` in a temp directory.
pub(crate) struct SqliteHarness {
    /// The data directory.
    dir: TempDir,
}

impl SqliteHarness {
    /// A fresh data directory.
    pub(crate) fn new() -> Self {
        Self {
            dir: TempDir::new().unwrap(),
        }
    }
}

impl Harness for SqliteHarness {
    fn open(&self) -> Box<dyn Store> {
        Box::new(SqliteStore::open(self.dir.path(), SqliteOptions::default()).unwrap())
    }
    fn backend(&self) -> &'static str {
        "sqlite"
    }
}

/// A fresh database on the throwaway `PostgreSQL` server.
pub(crate) struct PgHarness {
    /// The database's URL.
    pub(crate) url: String,
}

impl PgHarness {
    /// A new database (starts the server at the first call; panics, naming the package, without it).
    pub(crate) fn new() -> Self {
        let server = throwaway::server().unwrap_or_else(|e| panic!("throwaway PostgreSQL: {e}"));
        Self {
            url: server.create_database().unwrap(),
        }
    }

    /// Options for this database.
    pub(crate) fn options(&self) -> PgOptions {
        PgOptions {
            url: self.url.clone(),
            ..PgOptions::default()
        }
    }
}

impl Harness for PgHarness {
    fn open(&self) -> Box<dyn Store> {
        Box::new(PgStore::open(&self.options()).unwrap())
    }
    fn backend(&self) -> &'static str {
        "postgres"
    }
}

/// One `#[test]` per case per backend.
macro_rules! conformance {
    ($($module:ident :: $case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $case() {
                    super::$module::$case(&super::SqliteHarness::new());
                }
            )*
        }
        mod postgres {
            $(
                #[test]
                fn $case() {
                    super::$module::$case(&super::PgHarness::new());
                }
            )*
        }
    };
}

conformance!(
    cases::round_trips_every_model_kind,
    cases::put_replaces_and_delete_number_removes,
    cases::empty_store_reads,
    cases::query_paging_with_totals,
    cases::query_filters,
    cases::savepoint_rollback_keeps_the_rest,
    cases::commit_with_open_savepoint_keeps_its_writes,
    cases::dropped_transaction_leaves_nothing,
    cases::reopen_finds_committed_state,
    cases::reader_sees_a_consistent_snapshot_while_a_writer_commits,
    cases::many_readers_at_once,
    cases::second_writer_waits_for_the_first,
    cases::delete_binding_removes_dependents,
    cases::expired_bindings_oldest_first_with_limit,
    cases::nonces_are_durable_with_their_transaction_and_pruned_by_created,
    cases::check_writable_commits_and_frees_the_writer,
    cases::put_replaces_a_row_holding_the_same_unique_key,
    cases::for_each_binding_streams_every_binding_of_a_large_table_in_id_order,
    outbox::outbox_order_and_mark_delivered,
    outbox::purge_removes_expired_rows_oldest_first_and_stops_at_the_first_young_one,
    outbox::purge_enforces_the_row_cap_in_bounded_steps,
    outbox::pending_pages_by_after_id_and_skips_done_rows,
    outbox::a_row_appended_settled_is_never_pending_and_counts_in_its_state,
    outbox::dead_letters_replay_and_the_counts_stay_exact,
    outbox::purge_keeps_the_per_state_counts_exact,
    outbox::query_filters_by_state_kind_app_and_time_and_pages,
    outbox::marks_of_more_ids_than_one_statement_takes_change_every_row_once,
);
