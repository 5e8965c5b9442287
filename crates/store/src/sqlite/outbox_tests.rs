//! `SQLite`-only outbox tests: migrations 3 and 5 from older databases (the outbox contract itself is the
//! conformance suite's, `crate::conformance`).

use pn_bindings::{AppId, UnixTime};
use tempfile::TempDir;

use super::{SqliteOptions, SqliteStore};
use crate::{OutboxCounts, OutboxFilter, OutboxKind, OutboxState, Store};

fn open(dir: &TempDir) -> SqliteStore {
    SqliteStore::open(dir.path(), SqliteOptions::default()).unwrap()
}

/// `(total, pending, dead)` as a reader sees them; also checks them against a full count of the rows.
fn counts(store: &SqliteStore) -> (u64, u64, u64) {
    let mut r = store.reader().unwrap();
    let OutboxCounts { total, pending, dead } = r.outbox_counts().unwrap();
    assert_eq!(r.outbox_count().unwrap(), total);
    let all = r.outbox_query(&OutboxFilter::default(), u32::MAX).unwrap();
    let of = |s: OutboxState| all.iter().filter(|e| e.state == s).count() as u64;
    assert_eq!(
        (all.len() as u64, of(OutboxState::Pending), of(OutboxState::Dead)),
        (total, pending, dead),
        "the trigger-kept counts match the rows"
    );
    (total, pending, dead)
}

/// Marks `ids` in one committed transaction; returns the rows changed.
fn mark(store: &SqliteStore, ids: &[u64], state: OutboxState, now: i64) -> u64 {
    let mut tx = store.begin().unwrap();
    let n = tx.mark_outbox(ids, state, UnixTime(now)).unwrap();
    tx.commit().unwrap();
    n
}

fn entry(store: &SqliteStore, id: u64) -> crate::OutboxEntry {
    let mut list = store.reader().unwrap().outbox_entries(&[id]).unwrap();
    assert_eq!(list.len(), 1, "entry {id}");
    list.remove(0)
}

/// `n` outbox rows created at `created_at[i]`, committed in one transaction; returns their ids.
fn append_rows(store: &SqliteStore, created_at: &[i64]) -> Vec<u64> {
    let mut tx = store.begin().unwrap();
    let ids = created_at
        .iter()
        .map(|&t| {
            tx.append_outbox(OutboxKind::Cdr, AppId(1), "{}", UnixTime(t))
                .unwrap()
        })
        .collect();
    tx.commit().unwrap();
    ids
}

fn pending_ids(store: &SqliteStore) -> Vec<u64> {
    let mut r = store.reader().unwrap();
    r.outbox_pending(0, 1000).unwrap().iter().map(|e| e.id).collect()
}

#[test]
fn migration_3_counts_existing_outbox_rows_and_keeps_the_count_exact() {
    // A version-2 database with three outbox rows.
    let dir = TempDir::new().unwrap();
    let raw = rusqlite::Connection::open(dir.path().join(super::DB_FILE)).unwrap();
    raw.execute_batch(super::schema::MIGRATIONS[0]).unwrap();
    raw.execute_batch(super::schema::MIGRATIONS[1]).unwrap();
    raw.pragma_update(None, "user_version", 2).unwrap();
    for i in 0..3 {
        raw.execute(
            "INSERT INTO outbox (kind, app_id, payload, created_at) VALUES ('cdr', 1, '{}', ?1)",
            [i],
        )
        .unwrap();
    }
    drop(raw);

    let store = open(&dir);
    assert_eq!(store.reader().unwrap().outbox_count().unwrap(), 3);
    append_rows(&store, &[10, 11]);
    assert_eq!(store.reader().unwrap().outbox_count().unwrap(), 5);
    let mut tx = store.begin().unwrap();
    // The first migrated row (created at 0) is the only one older than 1.
    assert_eq!(tx.purge_outbox(UnixTime(1), u64::MAX, 100).unwrap().total(), 1);
    // The writer sees its own uncommitted count.
    assert_eq!(tx.outbox_count().unwrap(), 4);
    drop(tx);
    // Rolled back: the count too.
    assert_eq!(store.reader().unwrap().outbox_count().unwrap(), 5);
    let mut tx = store.begin().unwrap();
    assert_eq!(tx.purge_outbox(UnixTime(1), u64::MAX, 100).unwrap().total(), 1);
    tx.commit().unwrap();
    assert_eq!(store.reader().unwrap().outbox_count().unwrap(), 4);
    assert_eq!(pending_ids(&store).len(), 4);
}

#[test]
fn state_names_round_trip() {
    for s in OutboxState::ALL {
        assert_eq!(OutboxState::parse(s.as_str()), Some(s));
    }
    assert_eq!(OutboxState::NoReceiver.as_str(), "no_receiver");
    assert_eq!(OutboxState::parse("Dead"), None);
}

#[test]
fn migration_5_makes_existing_rows_pending_and_counts_them() {
    // A version-4 database with three outbox rows.
    let dir = TempDir::new().unwrap();
    let raw = rusqlite::Connection::open(dir.path().join(super::DB_FILE)).unwrap();
    for sql in &super::schema::MIGRATIONS[..4] {
        raw.execute_batch(sql).unwrap();
    }
    raw.pragma_update(None, "user_version", 4).unwrap();
    for i in 0..3 {
        raw.execute(
            "INSERT INTO outbox (kind, app_id, payload, created_at, attempts) VALUES ('sms', 2, '{}', ?1, 3)",
            [i],
        )
        .unwrap();
    }
    drop(raw);

    let store = open(&dir);
    assert_eq!(counts(&store), (3, 3, 0));
    let old = store.reader().unwrap().outbox_pending(0, 10).unwrap();
    assert_eq!(old.len(), 3);
    for e in &old {
        assert_eq!(
            (e.kind, e.app, e.attempts, e.state, e.done_at),
            (OutboxKind::Sms, AppId(2), 3, OutboxState::Pending, None)
        );
    }
    // The triggers work on the migrated rows and new ones alike.
    let new = append_rows(&store, &[10]);
    assert_eq!(mark(&store, &[old[0].id, new[0]], OutboxState::Dead, 20), 2);
    assert_eq!(counts(&store), (4, 2, 2));
    assert_eq!(entry(&store, old[0].id).attempts, 4);
    // Both indexes exist.
    let raw = rusqlite::Connection::open(store.path()).unwrap();
    let indexes: Vec<String> = raw
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'outbox' ORDER BY name")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(indexes, ["outbox_app", "outbox_state"]);
}
