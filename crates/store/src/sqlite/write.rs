//! Writes, run on the write connection inside its open transaction.

use pn_bindings::{App, AppId, Binding, BindingId, CallbackRecord, TempCallee, UnixTime, XNumber};
use pn_numbers::E164;
use rusqlite::{Connection, params};

use super::codec::to_body;
use crate::codec::{
    binding_columns, id_from_sql, id_sql, num, outbox_kind_str, outbox_state_code, status_column,
};
use crate::{OutboxKind, OutboxPurge, OutboxState, StoreError};

/// Inserts or replaces an app.
pub(crate) fn put_app(conn: &Connection, app: &App) -> Result<(), StoreError> {
    let body = to_body(app)?;
    let mut stmt =
        conn.prepare_cached("INSERT OR REPLACE INTO apps (id, app_key, body) VALUES (?1, ?2, ?3)")?;
    stmt.execute(params![app.id.0, app.app_key, body])?;
    Ok(())
}

/// Inserts or replaces a pool number.
pub(crate) fn put_number(conn: &Connection, number: &XNumber) -> Result<(), StoreError> {
    let body = to_body(number)?;
    let mut stmt = conn.prepare_cached(
        "INSERT OR REPLACE INTO numbers (number, app_id, area_code, status, body) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    stmt.execute(params![
        num(number.number),
        number.app.0,
        number.area_code,
        status_column(number.status),
        body
    ])?;
    Ok(())
}

/// Removes a pool number.
pub(crate) fn delete_number(conn: &Connection, number: E164) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached("DELETE FROM numbers WHERE number = ?1")?;
    stmt.execute([num(number)])?;
    Ok(())
}

/// Inserts or replaces a binding by id.
///
/// `INSERT OR REPLACE` also replaces a *different* binding holding the same `subscription_id` (the column is
/// unique); pn-api never reuses a live subscription id.
pub(crate) fn put_binding(conn: &Connection, binding: &Binding) -> Result<(), StoreError> {
    let body = to_body(binding)?;
    let cols = binding_columns(binding);
    let mut stmt = conn.prepare_cached(
        "INSERT OR REPLACE INTO bindings \
         (id, subscription_id, app_id, mode, kind, x, a, b, y, extension, parent, expires_at, body) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )?;
    stmt.execute(params![
        id_sql(binding.id.0),
        binding.subscription_id,
        binding.app.0,
        binding.kind.mode().as_str(),
        cols.kind,
        cols.x,
        cols.a,
        cols.b,
        cols.y,
        cols.extension,
        cols.parent,
        binding.expires_at.map(|t| t.0),
        body
    ])?;
    Ok(())
}

/// Deletes a binding with its temp callee and callback records; for an AXYB A–X binding also its Y–B
/// relations (the bindings whose `parent` is `id`). Returns whether the binding itself existed; the
/// dependent rows are removed either way (no orphans survive).
pub(crate) fn delete_binding(conn: &Connection, id: BindingId) -> Result<bool, StoreError> {
    let existed = conn
        .prepare_cached("DELETE FROM bindings WHERE id = ?1")?
        .execute([id_sql(id.0)])?
        > 0;
    conn.prepare_cached("DELETE FROM bindings WHERE parent = ?1")?
        .execute([id_sql(id.0)])?;
    conn.prepare_cached("DELETE FROM temp_callees WHERE binding_id = ?1")?
        .execute([id_sql(id.0)])?;
    conn.prepare_cached("DELETE FROM callback_records WHERE binding_id = ?1")?
        .execute([id_sql(id.0)])?;
    Ok(existed)
}

/// Sets (replaces) the temporary callee of an AX binding.
pub(crate) fn put_temp_callee(conn: &Connection, callee: &TempCallee) -> Result<(), StoreError> {
    let body = to_body(callee)?;
    let mut stmt =
        conn.prepare_cached("INSERT OR REPLACE INTO temp_callees (binding_id, x, body) VALUES (?1, ?2, ?3)")?;
    stmt.execute(params![id_sql(callee.binding.0), num(callee.x), body])?;
    Ok(())
}

/// Inserts or replaces the callback record of (X, A).
pub(crate) fn put_callback_record(conn: &Connection, record: &CallbackRecord) -> Result<(), StoreError> {
    let body = to_body(record)?;
    let mut stmt = conn.prepare_cached(
        "INSERT OR REPLACE INTO callback_records (x, a, binding_id, expires_at, body) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    stmt.execute(params![
        num(record.x),
        num(record.a),
        id_sql(record.binding.0),
        record.expires_at.map(|t| t.0),
        body
    ])?;
    Ok(())
}

/// Appends an outbox entry in `state` (`done_at` = `now` unless pending); returns its id.
pub(crate) fn append_outbox(
    conn: &Connection,
    kind: OutboxKind,
    app: AppId,
    payload: &str,
    state: OutboxState,
    now: UnixTime,
) -> Result<u64, StoreError> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO outbox (kind, app_id, payload, created_at, attempts, state, done_at) \
         VALUES (?1, ?2, ?3, ?4, 0, ?5, ?6)",
    )?;
    let done_at = (state != OutboxState::Pending).then_some(now.0);
    stmt.execute(params![
        outbox_kind_str(kind),
        app.0,
        payload,
        now.0,
        outbox_state_code(state),
        done_at
    ])?;
    Ok(id_from_sql(conn.last_insert_rowid()))
}

/// Ids per `mark_outbox` statement at most.
const MARK_CHUNK: usize = 4096;

/// `ids` as a JSON array of their SQL values.
fn id_list(ids: &[u64]) -> String {
    let mut list = String::with_capacity(ids.len() * 8 + 2);
    list.push('[');
    for (i, &id) in ids.iter().enumerate() {
        if i > 0 {
            list.push(',');
        }
        list.push_str(&id_sql(id).to_string());
    }
    list.push(']');
    list
}

/// Moves outbox entries to `state` (see [`crate::WriteTx::mark_outbox`]); returns the rows changed.
pub(crate) fn mark_outbox(
    conn: &Connection,
    ids: &[u64],
    state: OutboxState,
    now: UnixTime,
) -> Result<u64, StoreError> {
    let code = outbox_state_code(state);
    let dead = outbox_state_code(OutboxState::Dead);
    let mut changed = 0u64;
    // One statement per chunk of ids (a JSON array read by `json_each`), not one per id: every statement on
    // `outbox` fires the count triggers and so opens and releases a statement journal, which cost the
    // writer more than the row changes themselves when the push driver marked entries one by one.
    for chunk in ids.chunks(MARK_CHUNK) {
        let list = id_list(chunk);
        changed += match state {
            OutboxState::Pending => conn
                .prepare_cached(
                    "UPDATE outbox SET state = ?2, done_at = NULL \
                     WHERE id IN (SELECT value FROM json_each(?1)) AND state = ?3",
                )?
                .execute(params![list, code, dead])?,
            OutboxState::Delivered | OutboxState::Dead | OutboxState::NoReceiver => {
                let attempt = i64::from(state != OutboxState::NoReceiver);
                conn.prepare_cached(
                    "UPDATE outbox SET state = ?2, done_at = ?3, attempts = attempts + ?4 \
                     WHERE id IN (SELECT value FROM json_each(?1)) AND state <> ?2",
                )?
                .execute(params![list, code, now.0, attempt])?
            }
        } as u64;
    }
    Ok(changed)
}

/// One retention step (see [`crate::WriteTx::purge_outbox`]): walks the oldest rows in id order, marking
/// each for removal when it is older than `created_before` or the cap still needs rows removed; stops at the
/// first row it keeps (or after `limit` rows) and deletes the marked prefix in one range delete.
pub(crate) fn purge_outbox(
    conn: &Connection,
    created_before: UnixTime,
    max_rows: u64,
    limit: u32,
) -> Result<OutboxPurge, StoreError> {
    let over_cap = super::read::outbox_count(conn)?.saturating_sub(max_rows);
    let mut purge = OutboxPurge::default();
    let mut last = None;
    {
        let mut stmt = conn.prepare_cached("SELECT id, created_at FROM outbox ORDER BY id LIMIT ?1")?;
        let mut rows = stmt.query([limit])?;
        while let Some(row) = rows.next()? {
            let (id, created_at): (i64, i64) = (row.get(0)?, row.get(1)?);
            if created_at < created_before.0 {
                purge.by_age += 1;
            } else if purge.total() < over_cap {
                purge.by_cap += 1;
            } else {
                break;
            }
            last = Some(id);
        }
    }
    if let Some(last) = last {
        conn.prepare_cached("DELETE FROM outbox WHERE id <= ?1")?
            .execute([last])?;
    }
    Ok(purge)
}

/// Changes the write-probe row (a real page write, committed like any other).
pub(crate) fn probe(conn: &Connection) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE write_probe SET writes = writes + 1 WHERE id = 1")?
        .execute([])?;
    Ok(())
}
