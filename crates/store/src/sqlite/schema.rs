//! Connection setup and schema migrations.
//!
//! The schema version is `PRAGMA user_version`: the number of entries of [`MIGRATIONS`] applied. Opening
//! applies the missing ones, in order, in one `BEGIN IMMEDIATE` transaction (so two processes opening the
//! same directory cannot both migrate), and refuses a database whose version is newer than this binary's.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::StoreError;

/// How long a connection waits on another process's lock before failing with `SQLITE_BUSY`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Prepared statements kept per connection (the dynamic `query_bindings` shapes need more than the default 16).
const STATEMENT_CACHE: usize = 64;

/// Schema migrations; entry `i` moves the schema from version `i` to `i + 1`. Append only, never edit.
///
/// Index choices (every index costs a random page write per insert, and the commit writes each dirty page):
/// `b` is always queried together with `x` or `parent`, so it has no index of its own; `y` and `parent` are
/// set only on AXYB rows, so their indexes are partial.
///
/// Every table keeps the full model value as `body` (`serde_json`); the other columns are derived from it
/// for querying. Numbers are stored as their E.164 digits.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: initial schema.
    "
    CREATE TABLE apps (
        id      INTEGER PRIMARY KEY,
        app_key TEXT UNIQUE NOT NULL,
        body    TEXT NOT NULL
    );
    CREATE TABLE numbers (
        number    INTEGER PRIMARY KEY,
        app_id    INTEGER NOT NULL,
        area_code TEXT,
        status    TEXT,
        body      TEXT NOT NULL
    );
    CREATE INDEX numbers_app ON numbers(app_id);
    CREATE TABLE bindings (
        id              INTEGER PRIMARY KEY,
        subscription_id TEXT UNIQUE NOT NULL,
        app_id          INTEGER NOT NULL,
        mode            TEXT NOT NULL,
        kind            TEXT NOT NULL,
        x               INTEGER NOT NULL,
        a               INTEGER,
        b               INTEGER,
        y               INTEGER,
        extension       TEXT,
        parent          INTEGER,
        expires_at      INTEGER,
        body            TEXT NOT NULL
    );
    CREATE INDEX bindings_x ON bindings(x);
    CREATE INDEX bindings_a ON bindings(a);
    CREATE INDEX bindings_y ON bindings(y) WHERE y IS NOT NULL;
    CREATE INDEX bindings_parent ON bindings(parent) WHERE parent IS NOT NULL;
    CREATE INDEX bindings_expires_at ON bindings(expires_at) WHERE expires_at IS NOT NULL;
    CREATE INDEX bindings_app ON bindings(app_id, id);
    CREATE TABLE temp_callees (
        binding_id INTEGER PRIMARY KEY,
        x          INTEGER,
        body       TEXT
    );
    CREATE TABLE callback_records (
        x          INTEGER,
        a          INTEGER,
        binding_id INTEGER,
        expires_at INTEGER,
        body       TEXT,
        PRIMARY KEY (x, a)
    );
    CREATE INDEX callback_records_binding ON callback_records(binding_id);
    CREATE TABLE outbox (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        kind       TEXT,
        app_id     INTEGER,
        payload    TEXT,
        created_at INTEGER,
        attempts   INTEGER DEFAULT 0
    );
    ",
    // 2: apps gain `media` (prompts, AXE digit collection); existing apps get `AppMedia::default()` written
    // into their body (the {"no_binding_prompt":null,"no_permission_prompt":"no_permission.wav","service_error_prompt":null,"extension_prompt":"enter_extension.wav","invalid_extension_prompt":"invalid_extension.wav","first_digit_timeout_ms":10000,"inter_digit_timeout_ms":5000,"digit_terminator":"#","inband_dtmf":false,"answer_before_collect":false} is checked against the model's default by a test).
    r##"
    UPDATE apps SET body = json_set(body, '$.media', json('{"no_binding_prompt":null,"no_permission_prompt":"no_permission.wav","service_error_prompt":null,"extension_prompt":"enter_extension.wav","invalid_extension_prompt":"invalid_extension.wav","first_digit_timeout_ms":10000,"inter_digit_timeout_ms":5000,"digit_terminator":"#","inband_dtmf":false,"answer_before_collect":false}'))
    WHERE json_type(body, '$.media') IS NULL;
    "##,
    // 3: accepted API nonces (replay protection across restarts). Keyed by `created` first: inserts append
    // at the end of the tree and pruning deletes a range at its start; uniqueness of (app_key, nonce) is the
    // in-memory replay cache's job, this table only has to bring it back after a restart.
    "
    CREATE TABLE api_nonces (
        created INTEGER NOT NULL,
        app_key TEXT NOT NULL,
        nonce   TEXT NOT NULL,
        PRIMARY KEY (created, app_key, nonce)
    ) WITHOUT ROWID;
    ",
    // 4: the outbox's row count, kept exact by triggers, so the retention purge and the outbox gauge read it
    // in O(1) (COUNT(*) walks the whole table: gigabytes at the default cap); and the row the start-up write
    // probe changes (`Store::check_writable`).
    "
    CREATE TABLE write_probe (
        id     INTEGER PRIMARY KEY CHECK (id = 1),
        writes INTEGER NOT NULL
    );
    INSERT INTO write_probe (id, writes) VALUES (1, 0);
    CREATE TABLE outbox_count (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        n  INTEGER NOT NULL
    );
    INSERT INTO outbox_count (id, n) SELECT 1, COUNT(*) FROM outbox;
    CREATE TRIGGER outbox_count_insert AFTER INSERT ON outbox
    BEGIN
        UPDATE outbox_count SET n = n + 1 WHERE id = 1;
    END;
    CREATE TRIGGER outbox_count_delete AFTER DELETE ON outbox
    BEGIN
        UPDATE outbox_count SET n = n - 1 WHERE id = 1;
    END;
    ",
    // 5: outbox states (0 pending, 1 delivered, 2 dead, 3 no receiver) and `done_at`; existing rows become
    // pending. Delivered rows are kept (the purge removes them with the rest), so the pending scan needs
    // `(state, id)`: without it the push driver would walk every delivered row of the retention window.
    // `(app_id, kind, id)` serves the per-app listings (`/admin/v1/cdrs?appKey=`, an app's dead letters) in
    // id order with a LIMIT and no sort; a `created_at`-leading index would have to sort the whole time range
    // for every page, and `created_at` follows the id closely anyway, so the time range is a residual filter.
    // Per-state row counts, kept exact by triggers like migration 4's total, feed the gauges in O(1).
    "
    ALTER TABLE outbox ADD COLUMN state INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE outbox ADD COLUMN done_at INTEGER;
    CREATE INDEX outbox_state ON outbox(state, id);
    CREATE INDEX outbox_app ON outbox(app_id, kind, id);
    CREATE TABLE outbox_state_count (
        state INTEGER PRIMARY KEY,
        n     INTEGER NOT NULL
    );
    INSERT INTO outbox_state_count (state, n) VALUES ((0), (SELECT COUNT(*) FROM outbox)), (1, 0), (2, 0), (3, 0);
    CREATE TRIGGER outbox_state_insert AFTER INSERT ON outbox
    BEGIN
        UPDATE outbox_state_count SET n = n + 1 WHERE state = NEW.state;
    END;
    CREATE TRIGGER outbox_state_delete AFTER DELETE ON outbox
    BEGIN
        UPDATE outbox_state_count SET n = n - 1 WHERE state = OLD.state;
    END;
    CREATE TRIGGER outbox_state_update AFTER UPDATE OF state ON outbox WHEN OLD.state <> NEW.state
    BEGIN
        UPDATE outbox_state_count SET n = n - 1 WHERE state = OLD.state;
        UPDATE outbox_state_count SET n = n + 1 WHERE state = NEW.state;
    END;
    ",
    // 6: apps gain `controls` (call controls: lists, time window, frequency limits; a JSON column of the app's
    // body, changed through `PUT /admin/v1/apps/{appKey}/controls`); existing apps get `AppControls::default()`
    // (controls nothing; checked against the model's default by a test).
    r#"
    UPDATE apps SET body = json_set(body, '$.controls', json('{"callerBlacklist":{"numbers":[],"prefixes":[]},"calleeBlacklist":{"numbers":[],"prefixes":[]},"callerAllowlist":null,"restrictedPrefixes":[],"internationalIn":true,"internationalOut":true,"timeWindow":null,"limits":[]}'))
    WHERE json_type(body, '$.controls') IS NULL;
    "#,
    // 7: apps gain `allow_national_numbers` (whether the provisioning API accepts national numbers such as
    // `138…` in the app's number fields); existing apps get false: only the global format `+86…`, as the
    // reference requires.
    "
    UPDATE apps SET body = json_set(body, '$.allow_national_numbers', json('false'))
    WHERE json_type(body, '$.allow_national_numbers') IS NULL;
    ",
];

/// The `AppControls` JSON migration 6 writes into existing apps (kept equal to the model's default by a test).
#[cfg(test)]
pub(crate) const MIGRATION_6_APP_CONTROLS: &str = r#"{"callerBlacklist":{"numbers":[],"prefixes":[]},"calleeBlacklist":{"numbers":[],"prefixes":[]},"callerAllowlist":null,"restrictedPrefixes":[],"internationalIn":true,"internationalOut":true,"timeWindow":null,"limits":[]}"#;

/// The `AppMedia` JSON migration 2 writes into existing apps (kept equal to the model's default by a test).
#[cfg(test)]
pub(crate) const MIGRATION_2_APP_MEDIA: &str = r##"{"no_binding_prompt":null,"no_permission_prompt":"no_permission.wav","service_error_prompt":null,"extension_prompt":"enter_extension.wav","invalid_extension_prompt":"invalid_extension.wav","first_digit_timeout_ms":10000,"inter_digit_timeout_ms":5000,"digit_terminator":"#","inband_dtmf":false,"answer_before_collect":false}"##;

/// The schema version this binary migrates to.
pub(crate) fn supported_version() -> u32 {
    MIGRATIONS.len() as u32
}

/// Opens the write connection: WAL, the requested `synchronous` level, foreign keys, busy timeout.
pub(crate) fn open_writer(
    path: &Path,
    synchronous_full: bool,
    cache_kib: u32,
) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Corrupt(format!(
            "could not enable WAL (journal_mode is {mode})"
        )));
    }
    conn.pragma_update(
        None,
        "synchronous",
        if synchronous_full { "FULL" } else { "NORMAL" },
    )?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    // The page cache keeps the index pages that inserts touch in memory (negative = KiB).
    conn.pragma_update(None, "cache_size", -i64::from(cache_kib.max(1024)))?;
    // Checkpoints run on the store's checkpointer thread, not inside a commit on the write path.
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    Ok(conn)
}

/// Opens the checkpointer's connection (it only ever runs `wal_checkpoint`).
pub(crate) fn open_checkpointer(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    Ok(conn)
}

/// Opens a read connection (`query_only`, so a reader can never write).
pub(crate) fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "query_only", "ON")?;
    Ok(conn)
}

/// Brings the schema to [`supported_version`] in one transaction.
pub(crate) fn migrate(conn: &Connection) -> Result<(), StoreError> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    match apply_missing(conn) {
        Ok(()) => {
            conn.execute_batch("COMMIT")?;
            Ok(())
        }
        Err(e) => {
            // The original error matters more than a failed rollback.
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

/// Applies the migrations after the stored version (inside the caller's transaction).
fn apply_missing(conn: &Connection) -> Result<(), StoreError> {
    let found: u32 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    let supported = supported_version();
    if found > supported {
        return Err(StoreError::SchemaTooNew { found, supported });
    }
    for sql in &MIGRATIONS[found as usize..] {
        conn.execute_batch(sql)?;
    }
    if found < supported {
        conn.pragma_update(None, "user_version", supported)?;
    }
    Ok(())
}
