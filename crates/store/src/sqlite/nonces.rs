//! The `api_nonces` table: accepted API nonces, written in the provisioning writer's transactions, read back
//! at start.

use rusqlite::{Connection, params};

use crate::{SeenNonce, StoreError};

/// Remembers `list` (a row already there is kept once).
pub(crate) fn put(conn: &Connection, list: &[SeenNonce]) -> Result<(), StoreError> {
    let mut stmt = conn
        .prepare_cached("INSERT OR IGNORE INTO api_nonces (created, app_key, nonce) VALUES (?1, ?2, ?3)")?;
    for n in list {
        stmt.execute(params![n.created, n.app_key, n.nonce])?;
    }
    Ok(())
}

/// Forgets the nonces created before `before`.
pub(crate) fn prune(conn: &Connection, before: i64) -> Result<u64, StoreError> {
    let deleted = conn
        .prepare_cached("DELETE FROM api_nonces WHERE created < ?1")?
        .execute([before])?;
    Ok(deleted as u64)
}

/// The nonces created at or after `since`, oldest first.
pub(crate) fn since(conn: &Connection, since: i64) -> Result<Vec<SeenNonce>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT created, app_key, nonce FROM api_nonces WHERE created >= ?1 ORDER BY created",
    )?;
    let mut rows = stmt.query([since])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(SeenNonce {
            created: row.get(0)?,
            app_key: row.get(1)?,
            nonce: row.get(2)?,
        });
    }
    Ok(out)
}
