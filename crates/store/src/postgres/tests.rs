//! `PostgreSQL`-only tests: the schema's shape and version, the reader pool, a failed statement inside a
//! transaction, lost connections. The [`Store`] contract itself is the conformance suite's
//! (`crate::conformance`), run against this backend too.

use pn_bindings::{AppId, Mode};
use postgres::{Client, NoTls};

use super::{PgOptions, PgStore};
use crate::conformance::PgHarness;
use crate::conformance::fixtures::app;
use crate::sqlite::{SqliteOptions, SqliteStore};
use crate::{Store, StoreError};

mod cluster;

/// A plain connection to the harness's database, beside the store's.
fn raw(h: &PgHarness) -> Client {
    Client::connect(&h.url, NoTls).unwrap()
}

/// Columns only a shared database has (the cluster's node registry and outbox owners: `SQLite` serves one
/// node).
const PG_ONLY: &[(&str, &str)] = &[
    ("outbox", "owner"),
    ("pn_nodes", "api_url"),
    ("pn_nodes", "node"),
    ("pn_nodes", "seen_at"),
    // The outbox counts per writing session (migration 4: several nodes write at once).
    ("outbox_counts", "n"),
    ("outbox_counts", "slot"),
    ("outbox_counts", "state"),
];

/// Columns only the one-writer `SQLite` backend has: its outbox count rows, which the shared database keeps
/// per session instead (`outbox_counts`).
const SQLITE_ONLY: &[(&str, &str)] = &[
    ("outbox_count", "id"),
    ("outbox_count", "n"),
    ("outbox_state_count", "n"),
    ("outbox_state_count", "state"),
];

#[test]
fn the_schema_has_the_sqlite_backends_tables_and_columns() {
    let h = PgHarness::new();
    drop(PgStore::open(&h.options()).unwrap());
    let pg: Vec<(String, String)> = raw(&h)
        .query(
            "SELECT table_name::text, column_name::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name <> 'schema_version' \
             AND table_name NOT LIKE 'pn\\_%' ORDER BY 1, 2",
            &[],
        )
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .filter(|(table, column): &(String, String)| !PG_ONLY.contains(&(table.as_str(), column.as_str())))
        .collect();

    let dir = tempfile::TempDir::new().unwrap();
    let sqlite = SqliteStore::open(dir.path(), SqliteOptions::default()).unwrap();
    let conn = rusqlite::Connection::open(sqlite.path()).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT m.name, p.name FROM sqlite_schema m, pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' ORDER BY 1, 2",
        )
        .unwrap();
    let lite: Vec<(String, String)> = stmt
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .collect::<Result<Vec<(String, String)>, _>>()
        .unwrap()
        .into_iter()
        .filter(|(table, column)| !SQLITE_ONLY.contains(&(table.as_str(), column.as_str())))
        .collect();
    assert!(lite.len() > 30, "{lite:?}");
    assert_eq!(pg, lite);
}

#[test]
fn the_version_is_recorded_and_a_newer_schema_is_refused() {
    let h = PgHarness::new();
    drop(PgStore::open(&h.options()).unwrap());
    let mut raw = raw(&h);
    let version: i64 = raw
        .query_one("SELECT version FROM schema_version WHERE id = 1", &[])
        .unwrap()
        .get(0);
    assert_eq!(version, i64::from(PgStore::schema_version()));
    // Reopening at the same version migrates nothing (the tables exist: a second run would fail).
    drop(PgStore::open(&h.options()).unwrap());
    raw.execute("UPDATE schema_version SET version = 99", &[])
        .unwrap();
    let err = PgStore::open(&h.options()).unwrap_err();
    assert!(
        matches!(err, StoreError::SchemaTooNew { found: 99, supported } if supported == PgStore::schema_version()),
        "{err:?}"
    );
}

#[test]
fn the_reader_pool_keeps_at_most_read_connections() {
    let h = PgHarness::new();
    let store = PgStore::open(&PgOptions {
        read_connections: 2,
        ..h.options()
    })
    .unwrap();
    let readers: Vec<_> = (0..5).map(|_| store.reader().unwrap()).collect();
    drop(readers);
    assert_eq!(store.idle_readers(), 2);
}

#[test]
fn a_failed_statement_is_undone_by_its_savepoint_or_refuses_the_commit() {
    let h = PgHarness::new();
    let store = PgStore::open(&h.options()).unwrap();
    // A constraint the model does not know about makes one write fail inside the transaction.
    raw(&h)
        .batch_execute("ALTER TABLE apps ADD CONSTRAINT small_ids CHECK (id < 100)")
        .unwrap();

    // Rolled back to its savepoint: the rest of the transaction commits.
    let mut tx = store.begin().unwrap();
    tx.put_app(&app(1, Mode::Axb)).unwrap();
    tx.savepoint().unwrap();
    assert!(tx.put_app(&app(200, Mode::Axb)).is_err());
    tx.rollback_savepoint().unwrap();
    tx.put_app(&app(2, Mode::Axb)).unwrap();
    tx.commit().unwrap();
    let ids: Vec<AppId> = store
        .reader()
        .unwrap()
        .apps()
        .unwrap()
        .iter()
        .map(|a| a.id)
        .collect();
    assert_eq!(ids, vec![AppId(1), AppId(2)]);

    // Not rolled back: the commit is refused and nothing of the transaction stays.
    let mut tx = store.begin().unwrap();
    tx.put_app(&app(3, Mode::Axb)).unwrap();
    assert!(tx.put_app(&app(300, Mode::Axb)).is_err());
    assert!(matches!(
        tx.commit(),
        Err(StoreError::Backend {
            backend: "postgres",
            ..
        })
    ));
    assert_eq!(store.reader().unwrap().apps().unwrap().len(), 2);
    // The writer works again.
    let mut tx = store.begin().unwrap();
    tx.put_app(&app(4, Mode::Axb)).unwrap();
    tx.commit().unwrap();
    assert_eq!(store.reader().unwrap().apps().unwrap().len(), 3);
}

#[test]
fn connections_the_server_closed_are_replaced() {
    let h = PgHarness::new();
    let store = PgStore::open(&h.options()).unwrap();
    drop(store.reader().unwrap());
    let killed = raw(&h)
        .query(
            "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity \
             WHERE datname = current_database() AND application_name = 'pnswitch'",
            &[],
        )
        .unwrap()
        .len();
    assert_eq!(killed, 2, "the writer and the pooled reader");
    // Both are replaced at their next use.
    let mut tx = store.begin().unwrap();
    tx.put_app(&app(1, Mode::Ax)).unwrap();
    tx.commit().unwrap();
    assert_eq!(store.reader().unwrap().max_app_id().unwrap(), 1);
}

/// Opens a store on `h`, writes app `id`, reads it back and drops the store.
fn use_store(h: &PgHarness, id: u32) {
    let store = PgStore::open(&h.options()).unwrap();
    let mut tx = store.begin().unwrap();
    tx.put_app(&app(id, Mode::Ax)).unwrap();
    tx.commit().unwrap();
    assert_eq!(store.reader().unwrap().max_app_id().unwrap(), id);
    drop(store);
}

#[test]
fn a_store_called_from_inside_a_tokio_runtime_works() {
    // On the runtimes' own threads the sync client would panic; on blocking-pool threads it may block.
    let h = PgHarness::new();
    let current = tokio::runtime::Builder::new_current_thread().build().unwrap();
    current.block_on(async { use_store(&h, 1) });
    let url = h.url.clone();
    current
        .block_on(async move { tokio::task::spawn_blocking(move || use_store(&PgHarness { url }, 2)).await })
        .unwrap();
    let multi = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    multi.block_on(async { use_store(&h, 3) });
    let url = h.url.clone();
    multi
        .block_on(async move { tokio::spawn(async move { use_store(&PgHarness { url }, 4) }).await })
        .unwrap();
    let url = h.url.clone();
    multi
        .block_on(async move { tokio::task::spawn_blocking(move || use_store(&PgHarness { url }, 5)).await })
        .unwrap();
}

/// Migration 5 counts the AXB pairs already stored on each number, migration 4 carries the outbox counts
/// over, migration 6 replaces two indexes: a database left at version 3 with bindings and outbox rows opens
/// with exact figures.
#[test]
fn migrations_from_version_3_carry_the_outbox_counts_and_count_the_stored_pairs() {
    use crate::conformance::fixtures::{axb, binding, n};
    let h = PgHarness::new();
    let store = PgStore::open(&h.options()).unwrap();
    let mut tx = store.begin().unwrap();
    for x in [8_613_800_000_001, 8_613_800_000_002] {
        tx.put_number(&pn_bindings::XNumber {
            number: n(x),
            app: AppId(1),
            area_code: "0755".into(),
            province: None,
            status: pn_bindings::NumberStatus::Normal,
        })
        .unwrap();
    }
    for id in 1..=3 {
        tx.put_binding(&binding(
            id,
            1,
            None,
            axb(8_613_800_000_001, 8_613_900_000_000 + id, 8_613_910_000_000 + id),
        ))
        .unwrap();
    }
    tx.commit().unwrap();
    drop(store);
    // Back to version 3: the single count rows of migration 1 (its triggers stand-ins), no pairs table.
    raw(&h)
        .batch_execute(
            "DROP TRIGGER bindings_axb_pairs ON bindings; DROP FUNCTION pn_axb_pairs();
             DROP TABLE pn_x_pairs;
             DROP TRIGGER outbox_counts_insert ON outbox; DROP TRIGGER outbox_counts_delete ON outbox;
             DROP TRIGGER outbox_counts_update ON outbox; DROP FUNCTION outbox_counts_insert();
             DROP FUNCTION outbox_counts_delete(); DROP FUNCTION outbox_counts_update();
             DROP TABLE outbox_counts;
             CREATE TABLE outbox_count (id BIGINT PRIMARY KEY CHECK (id = 1), n BIGINT NOT NULL);
             INSERT INTO outbox_count VALUES (1, 5);
             CREATE TABLE outbox_state_count (state BIGINT PRIMARY KEY, n BIGINT NOT NULL);
             INSERT INTO outbox_state_count VALUES (0, 2), (1, 1), (2, 2), (3, 0);
             CREATE FUNCTION outbox_counts_insert() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
             CREATE FUNCTION outbox_counts_delete() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
             CREATE FUNCTION outbox_counts_update() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
             CREATE TRIGGER outbox_counts_insert AFTER INSERT ON outbox
                 FOR EACH STATEMENT EXECUTE FUNCTION outbox_counts_insert();
             CREATE TRIGGER outbox_counts_delete AFTER DELETE ON outbox
                 FOR EACH STATEMENT EXECUTE FUNCTION outbox_counts_delete();
             CREATE TRIGGER outbox_counts_update AFTER UPDATE ON outbox
                 FOR EACH STATEMENT EXECUTE FUNCTION outbox_counts_update();
             ALTER TABLE write_probe ADD CONSTRAINT write_probe_id_check CHECK (id = 1);
             DROP INDEX bindings_x_a; DROP INDEX bindings_b_x;
             CREATE INDEX bindings_x ON bindings(x); CREATE INDEX bindings_b ON bindings(b) WHERE b IS NOT NULL;
             UPDATE schema_version SET version = 3",
        )
        .unwrap();
    let store = PgStore::open(&h.options()).unwrap();
    let counts = store.reader().unwrap().outbox_counts().unwrap();
    assert_eq!((counts.total, counts.pending, counts.dead), (5, 2, 2));
    let mut tx = store.begin().unwrap();
    assert_eq!(tx.axb_pairs_upper_bound(n(8_613_800_000_001)).unwrap(), Some(3));
    assert_eq!(tx.axb_pairs_upper_bound(n(8_613_800_000_002)).unwrap(), Some(0));
}

/// The throwaway server's CA file (its TLS is part of what these tests check: no `openssl` fails them).
fn throwaway_ca() -> std::path::PathBuf {
    super::throwaway::server()
        .unwrap()
        .ca_file()
        .unwrap_or_else(|e| panic!("the throwaway server has no TLS: {e}"))
        .to_owned()
}

#[test]
fn with_tls_every_connection_of_the_store_is_encrypted_and_verified() {
    let h = PgHarness::new();
    let store = PgStore::open(&PgOptions {
        tls: true,
        tls_ca_file: Some(throwaway_ca()),
        ..h.options()
    })
    .unwrap();
    // The writer, a reader and the feed's listener are open: a write, a read, a waiter.
    let mut tx = store.begin().unwrap();
    tx.put_app(&app(1, Mode::Axb)).unwrap();
    tx.commit().unwrap();
    assert_eq!(store.reader().unwrap().apps().unwrap().len(), 1);
    let _waiter = store.feed_waiter().unwrap().expect("a shared store has a feed");
    let row = raw(&h)
        .query_one(
            "SELECT count(*), count(*) FILTER (WHERE s.ssl) FROM pg_stat_activity a \
             JOIN pg_stat_ssl s USING (pid) WHERE a.datname = current_database() AND a.application_name = 'pnswitch'",
            &[],
        )
        .unwrap();
    let (all, encrypted): (i64, i64) = (row.get(0), row.get(1));
    assert!(all >= 3, "writer, reader and listener connected: {all}");
    assert_eq!(encrypted, all, "every connection of the store uses TLS");
}

#[test]
fn with_tls_a_server_certificate_not_signed_by_the_configured_ca_is_refused() {
    let h = PgHarness::new();
    let ca = throwaway_ca();
    // The server's own certificate is not a CA: nothing it signed is trusted, the server's included.
    let wrong = ca.with_file_name("server.pem");
    for (what, ca_file) in [("another CA file", Some(wrong)), ("the Mozilla roots", None)] {
        let err = PgStore::open(&PgOptions {
            tls: true,
            tls_ca_file: ca_file,
            ..h.options()
        })
        .unwrap_err();
        assert!(
            format!("{err:?}").to_lowercase().contains("certificate"),
            "{what}: {err:?}"
        );
    }
    let missing = PgStore::open(&PgOptions {
        tls: true,
        tls_ca_file: Some(ca.with_file_name("absent.pem")),
        ..h.options()
    })
    .unwrap_err();
    assert!(missing.to_string().contains("store.tls_ca_file"), "{missing}");
}
