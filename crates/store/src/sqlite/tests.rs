//! `SQLite`-only tests: the database file, PRAGMAs, the reader pool, migrations from older schemas. The
//! backend-independent tests of the [`Store`](crate::Store) contract are the conformance suite
//! (`crate::conformance`), run against this backend too.

use pn_bindings::{AppId, Mode};
use tempfile::TempDir;

use super::{SqliteOptions, SqliteStore};
use crate::conformance::fixtures::app;
use crate::{Store, StoreError};

fn open(dir: &TempDir) -> SqliteStore {
    SqliteStore::open(dir.path(), SqliteOptions::default()).unwrap()
}

#[test]
fn migration_2_gives_old_apps_default_media() {
    // The JSON the migration writes is the model's default.
    let written: pn_bindings::AppMedia = serde_json::from_str(super::schema::MIGRATION_2_APP_MEDIA).unwrap();
    assert_eq!(written, pn_bindings::AppMedia::default());
    assert!(super::schema::MIGRATIONS[1].contains(super::schema::MIGRATION_2_APP_MEDIA));

    // A version-1 database whose app body has no `media`.
    let dir = TempDir::new().unwrap();
    let raw = rusqlite::Connection::open(dir.path().join(super::DB_FILE)).unwrap();
    raw.execute_batch(super::schema::MIGRATIONS[0]).unwrap();
    raw.pragma_update(None, "user_version", 1).unwrap();
    let mut old = serde_json::to_value(app(1, Mode::Axe)).unwrap();
    old.as_object_mut().unwrap().remove("media");
    raw.execute(
        "INSERT INTO apps (id, app_key, body) VALUES (1, 'key-1', ?1)",
        [old.to_string()],
    )
    .unwrap();
    drop(raw);

    let store = open(&dir);
    let mut r = store.reader().unwrap();
    assert_eq!(r.app(AppId(1)).unwrap(), Some(app(1, Mode::Axe)));
    drop(r);
    let raw = rusqlite::Connection::open(store.path()).unwrap();
    let body: String = raw
        .query_row("SELECT body FROM apps WHERE id = 1", [], |row| row.get(0))
        .unwrap();
    assert!(body.contains("\"media\""), "{body}");
    let version: u32 = raw
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .unwrap();
    assert_eq!(version, SqliteStore::schema_version());

    // A changed media setting round-trips.
    let mut custom = app(2, Mode::Axe);
    custom.media.digit_terminator = Some('*');
    custom.media.no_binding_prompt = Some("nb.wav".into());
    custom.media.inband_dtmf = true;
    let mut tx = store.begin().unwrap();
    tx.put_app(&custom).unwrap();
    tx.commit().unwrap();
    assert_eq!(store.reader().unwrap().app(AppId(2)).unwrap(), Some(custom));
}

#[test]
fn migration_6_gives_old_apps_default_controls_and_controls_round_trip() {
    let written: pn_bindings::AppControls =
        serde_json::from_str(super::schema::MIGRATION_6_APP_CONTROLS).unwrap();
    assert_eq!(written, pn_bindings::AppControls::default());
    assert!(super::schema::MIGRATIONS[5].contains(super::schema::MIGRATION_6_APP_CONTROLS));

    // A version-5 database whose app body has no `controls`.
    let dir = TempDir::new().unwrap();
    let raw = rusqlite::Connection::open(dir.path().join(super::DB_FILE)).unwrap();
    for m in &super::schema::MIGRATIONS[..5] {
        raw.execute_batch(m).unwrap();
    }
    raw.pragma_update(None, "user_version", 5).unwrap();
    let mut old = serde_json::to_value(app(1, Mode::Axb)).unwrap();
    old.as_object_mut().unwrap().remove("controls");
    raw.execute(
        "INSERT INTO apps (id, app_key, body) VALUES (1, 'key-1', ?1)",
        [old.to_string()],
    )
    .unwrap();
    drop(raw);

    let store = open(&dir);
    assert_eq!(
        store.reader().unwrap().app(AppId(1)).unwrap(),
        Some(app(1, Mode::Axb))
    );
    let raw = rusqlite::Connection::open(store.path()).unwrap();
    let body: String = raw
        .query_row("SELECT body FROM apps WHERE id = 1", [], |row| row.get(0))
        .unwrap();
    assert!(body.contains("\"controls\""), "{body}");

    let mut custom = app(2, Mode::Axb);
    custom.controls = serde_json::from_str(
        r#"{"callerBlacklist":{"numbers":["+8613800000001"],"prefixes":["+86136"]},
            "limits":[{"key":"caller","windowSecs":60,"max":3}],"internationalOut":false}"#,
    )
    .unwrap();
    let mut tx = store.begin().unwrap();
    tx.put_app(&custom).unwrap();
    tx.commit().unwrap();
    assert_eq!(store.reader().unwrap().app(AppId(2)).unwrap(), Some(custom));
}

#[test]
fn migration_7_gives_old_apps_allow_national_numbers_false_and_it_round_trips() {
    // A version-6 database whose app body has no `allow_national_numbers`.
    let dir = TempDir::new().unwrap();
    let raw = rusqlite::Connection::open(dir.path().join(super::DB_FILE)).unwrap();
    for m in &super::schema::MIGRATIONS[..6] {
        raw.execute_batch(m).unwrap();
    }
    raw.pragma_update(None, "user_version", 6).unwrap();
    let mut old = serde_json::to_value(app(1, Mode::Axb)).unwrap();
    old.as_object_mut().unwrap().remove("allow_national_numbers");
    raw.execute(
        "INSERT INTO apps (id, app_key, body) VALUES (1, 'key-1', ?1)",
        [old.to_string()],
    )
    .unwrap();
    drop(raw);

    let store = open(&dir);
    assert_eq!(
        store.reader().unwrap().app(AppId(1)).unwrap(),
        Some(app(1, Mode::Axb))
    );
    let raw = rusqlite::Connection::open(store.path()).unwrap();
    let body: String = raw
        .query_row("SELECT body FROM apps WHERE id = 1", [], |row| row.get(0))
        .unwrap();
    assert!(body.contains("\"allow_national_numbers\":false"), "{body}");

    let mut national = app(2, Mode::Axb);
    national.allow_national_numbers = true;
    let mut tx = store.begin().unwrap();
    tx.put_app(&national).unwrap();
    tx.commit().unwrap();
    drop(store);
    // Reopening (migrations already applied) keeps the stored value.
    let store = open(&dir);
    assert_eq!(store.reader().unwrap().app(AppId(2)).unwrap(), Some(national));
}

#[test]
fn newer_schema_is_refused() {
    let dir = TempDir::new().unwrap();
    drop(open(&dir));
    let raw = rusqlite::Connection::open(dir.path().join(super::DB_FILE)).unwrap();
    raw.pragma_update(None, "user_version", 99).unwrap();
    drop(raw);
    let err = SqliteStore::open(dir.path(), SqliteOptions::default()).unwrap_err();
    assert!(
        matches!(err, StoreError::SchemaTooNew { found: 99, supported } if supported == SqliteStore::schema_version()),
        "{err:?}"
    );
}

#[test]
fn opening_creates_the_database_file_in_wal_mode_at_the_current_version() {
    let dir = TempDir::new().unwrap();
    for _ in 0..2 {
        let store = SqliteStore::open(
            dir.path(),
            SqliteOptions {
                synchronous_full: false,
                read_connections: 1,
                ..SqliteOptions::default()
            },
        )
        .unwrap();
        assert!(dir.path().join(super::DB_FILE).exists());
        let raw = rusqlite::Connection::open(store.path()).unwrap();
        let version: u32 = raw
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .unwrap();
        assert_eq!(version, SqliteStore::schema_version());
        let mode: String = raw
            .query_row("PRAGMA journal_mode", [], |row| row.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }
}

#[test]
fn the_reader_pool_keeps_at_most_read_connections() {
    let dir = TempDir::new().unwrap();
    let store = SqliteStore::open(
        dir.path(),
        SqliteOptions {
            synchronous_full: true,
            read_connections: 2,
            ..SqliteOptions::default()
        },
    )
    .unwrap();
    let readers: Vec<_> = (0..5).map(|_| store.reader().unwrap()).collect();
    drop(readers);
    assert_eq!(store.readers.lock().len(), 2);
}

#[test]
fn check_writable_commits_a_real_write() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    for _ in 0..2 {
        store.check_writable().unwrap();
    }
    let raw = rusqlite::Connection::open(store.path()).unwrap();
    let writes: i64 = raw
        .query_row("SELECT writes FROM write_probe WHERE id = 1", [], |row| {
            row.get(0)
        })
        .unwrap();
    assert_eq!(writes, 2);
}

/// Releasing the caches (the writer's and the pooled readers') leaves the store as it was: what was committed
/// reads back, and writing goes on.
#[test]
fn released_caches_leave_the_store_working() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let mut tx = store.begin().unwrap();
    tx.put_app(&app(1, Mode::Axb)).unwrap();
    tx.commit().unwrap();
    drop(store.reader().unwrap().apps().unwrap()); // a pooled reader with a warm cache
    assert!(store.release_memory().unwrap(), "SQLite releases");
    assert_eq!(store.reader().unwrap().apps().unwrap().len(), 1);
    let mut tx = store.begin().unwrap();
    tx.put_app(&app(2, Mode::Axb)).unwrap();
    tx.commit().unwrap();
    assert_eq!(store.reader().unwrap().apps().unwrap().len(), 2);
}
