//! Writes, run on the write connection inside its open transaction. Each keeps the `SQLite` backend's
//! meaning: "insert or replace" replaces the row with the same key and, like `SQLite`'s `INSERT OR REPLACE`,
//! removes a different row holding the same unique `app_key` / `subscription_id`.

use pn_bindings::{App, AppId, Binding, BindingId, CallbackRecord, TempCallee, UnixTime, XNumber};
use pn_numbers::E164;
use serde::Serialize;

use super::conn::PgConn;
use crate::codec::{
    binding_columns, id_from_sql, id_sql, num, outbox_kind_str, outbox_state_code, status_column,
};
use crate::{OutboxKind, OutboxPurge, OutboxState, SeenNonce, StoreError};

/// Serialises a model value as its `body`.
fn to_body<T: Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Backend {
        backend: "postgres",
        source: Box::new(e),
    })
}

/// Inserts or replaces an app.
pub(crate) fn put_app(conn: &mut PgConn, app: &App) -> Result<(), StoreError> {
    let body = to_body(app)?;
    let id = i64::from(app.id.0);
    conn.execute(
        "DELETE FROM apps WHERE app_key = $1 AND id <> $2",
        &[&app.app_key, &id],
    )?;
    conn.execute(
        "INSERT INTO apps (id, app_key, body) VALUES ($1, $2, $3) \
         ON CONFLICT (id) DO UPDATE SET app_key = EXCLUDED.app_key, body = EXCLUDED.body",
        &[&id, &app.app_key, &body],
    )?;
    Ok(())
}

/// Inserts or replaces a pool number.
pub(crate) fn put_number(conn: &mut PgConn, number: &XNumber) -> Result<(), StoreError> {
    let body = to_body(number)?;
    conn.execute(
        "INSERT INTO numbers (number, app_id, area_code, status, body) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (number) DO UPDATE SET app_id = EXCLUDED.app_id, area_code = EXCLUDED.area_code, \
         status = EXCLUDED.status, body = EXCLUDED.body",
        &[
            &num(number.number),
            &i64::from(number.app.0),
            &number.area_code,
            &status_column(number.status),
            &body,
        ],
    )?;
    Ok(())
}

/// Removes a pool number.
pub(crate) fn delete_number(conn: &mut PgConn, number: E164) -> Result<(), StoreError> {
    conn.execute("DELETE FROM numbers WHERE number = $1", &[&num(number)])?;
    Ok(())
}

/// Inserts or replaces a binding by id (a different binding holding the same `subscription_id` is
/// replaced too, as in the `SQLite` backend; pn-api never reuses a live subscription id).
pub(crate) fn put_binding(conn: &mut PgConn, binding: &Binding) -> Result<(), StoreError> {
    let body = to_body(binding)?;
    let cols = binding_columns(binding);
    let id = id_sql(binding.id.0);
    // One round trip: the main query reads the count of the delete's rows, so the delete runs to the end
    // before the insert checks `subscription_id`'s uniqueness (an unreferenced data-modifying `WITH` would
    // run after it).
    conn.execute(
        "WITH gone AS (DELETE FROM bindings WHERE subscription_id = $2 AND id <> $1 RETURNING 1) \
         INSERT INTO bindings \
         (id, subscription_id, app_id, mode, kind, x, a, b, y, extension, parent, expires_at, body) \
         SELECT $1::bigint, $2::text, $3::bigint, $4::text, $5::text, $6::bigint, $7::bigint, $8::bigint, \
         $9::bigint, $10::text, $11::bigint, $12::bigint, $13::text FROM (SELECT COUNT(*) FROM gone) g \
         ON CONFLICT (id) DO UPDATE SET subscription_id = EXCLUDED.subscription_id, \
         app_id = EXCLUDED.app_id, mode = EXCLUDED.mode, kind = EXCLUDED.kind, x = EXCLUDED.x, \
         a = EXCLUDED.a, b = EXCLUDED.b, y = EXCLUDED.y, extension = EXCLUDED.extension, \
         parent = EXCLUDED.parent, expires_at = EXCLUDED.expires_at, body = EXCLUDED.body",
        &[
            &id,
            &binding.subscription_id,
            &i64::from(binding.app.0),
            &binding.kind.mode().as_str(),
            &cols.kind,
            &cols.x,
            &cols.a,
            &cols.b,
            &cols.y,
            &cols.extension,
            &cols.parent,
            &binding.expires_at.map(|t| t.0),
            &body,
        ],
    )?;
    Ok(())
}

/// Deletes a binding with its temp callee and callback records; for an AXYB A–X binding also its Y–B
/// relations. Returns whether the binding itself existed; the dependent rows are removed either way.
pub(crate) fn delete_binding(conn: &mut PgConn, id: BindingId) -> Result<bool, StoreError> {
    let id = id_sql(id.0);
    let existed = conn.execute("DELETE FROM bindings WHERE id = $1", &[&id])? > 0;
    conn.execute("DELETE FROM bindings WHERE parent = $1", &[&id])?;
    conn.execute("DELETE FROM temp_callees WHERE binding_id = $1", &[&id])?;
    conn.execute("DELETE FROM callback_records WHERE binding_id = $1", &[&id])?;
    Ok(existed)
}

/// Sets (replaces) the temporary callee of an AX binding.
pub(crate) fn put_temp_callee(conn: &mut PgConn, callee: &TempCallee) -> Result<(), StoreError> {
    let body = to_body(callee)?;
    conn.execute(
        "INSERT INTO temp_callees (binding_id, x, body) VALUES ($1, $2, $3) \
         ON CONFLICT (binding_id) DO UPDATE SET x = EXCLUDED.x, body = EXCLUDED.body",
        &[&id_sql(callee.binding.0), &num(callee.x), &body],
    )?;
    Ok(())
}

/// Inserts or replaces the callback record of (X, A).
pub(crate) fn put_callback_record(conn: &mut PgConn, record: &CallbackRecord) -> Result<(), StoreError> {
    let body = to_body(record)?;
    conn.execute(
        "INSERT INTO callback_records (x, a, binding_id, expires_at, body) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (x, a) DO UPDATE SET binding_id = EXCLUDED.binding_id, \
         expires_at = EXCLUDED.expires_at, body = EXCLUDED.body",
        &[
            &num(record.x),
            &num(record.a),
            &id_sql(record.binding.0),
            &record.expires_at.map(|t| t.0),
            &body,
        ],
    )?;
    Ok(())
}

/// Appends an outbox entry (`kind`, `app`, `payload`) in `state` (`done_at` = `now` unless pending); returns
/// its id (from the identity sequence: never reused).
pub(crate) fn append_outbox(
    conn: &mut PgConn,
    node: &str,
    (kind, app, payload, state): (OutboxKind, AppId, &str, OutboxState),
    now: UnixTime,
) -> Result<u64, StoreError> {
    let done_at = (state != OutboxState::Pending).then_some(now.0);
    let row = conn.query_one(
        "INSERT INTO outbox (kind, app_id, payload, created_at, attempts, owner, state, done_at) \
         VALUES ($1, $2, $3, $4, 0, NULLIF($5, ''), $6, $7) RETURNING id",
        &[
            &outbox_kind_str(kind),
            &i64::from(app.0),
            &payload,
            &now.0,
            &node,
            &outbox_state_code(state),
            &done_at,
        ],
    )?;
    Ok(id_from_sql(row.try_get(0)?))
}

/// Moves outbox entries to `state` (see [`crate::WriteTx::mark_outbox`]); returns the rows changed. One
/// statement for all the ids (an array parameter), so the count triggers run once.
pub(crate) fn mark_outbox(
    conn: &mut PgConn,
    ids: &[u64],
    state: OutboxState,
    now: UnixTime,
) -> Result<u64, StoreError> {
    let ids: Vec<i64> = ids.iter().map(|&id| id_sql(id)).collect();
    let code = outbox_state_code(state);
    match state {
        OutboxState::Pending => conn.execute(
            "UPDATE outbox SET state = $2, done_at = NULL WHERE id = ANY($1) AND state = $3",
            &[&ids, &code, &outbox_state_code(OutboxState::Dead)],
        ),
        OutboxState::Delivered | OutboxState::Dead | OutboxState::NoReceiver => {
            let attempt = i64::from(state != OutboxState::NoReceiver);
            conn.execute(
                "UPDATE outbox SET state = $2, done_at = $3, attempts = attempts + $4 \
                 WHERE id = ANY($1) AND state <> $2",
                &[&ids, &code, &now.0, &attempt],
            )
        }
    }
}

/// One retention step (see [`crate::WriteTx::purge_outbox`]): walks the oldest rows in id order, marking
/// each for removal when it is older than `created_before` or the cap still needs rows removed; stops at the
/// first row it keeps (or after `limit` rows) and deletes the marked prefix in one range delete.
pub(crate) fn purge_outbox(
    conn: &mut PgConn,
    created_before: UnixTime,
    max_rows: u64,
    limit: u32,
) -> Result<OutboxPurge, StoreError> {
    conn.execute(super::schema::FOLD_OUTBOX_COUNTS, &[])?;
    conn.execute(super::schema::PRUNE_WRITE_PROBES, &[])?;
    let over_cap = super::read::outbox_count(conn)?.saturating_sub(max_rows);
    let mut purge = OutboxPurge::default();
    let mut last = None;
    for row in conn.query(
        "SELECT id, created_at FROM outbox ORDER BY id LIMIT $1",
        &[&i64::from(limit)],
    )? {
        let (id, created_at): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
        if created_at < created_before.0 {
            purge.by_age += 1;
        } else if purge.total() < over_cap {
            purge.by_cap += 1;
        } else {
            break;
        }
        last = Some(id);
    }
    if let Some(last) = last {
        conn.execute("DELETE FROM outbox WHERE id <= $1", &[&last])?;
    }
    Ok(purge)
}

/// Remembers `list` (a row already there is kept once).
pub(crate) fn put_nonces(conn: &mut PgConn, list: &[SeenNonce]) -> Result<(), StoreError> {
    if list.is_empty() {
        return Ok(());
    }
    // One statement for the batch's nonces (one per signed request), not one round trip each.
    let created: Vec<i64> = list.iter().map(|n| n.created).collect();
    let keys: Vec<&str> = list.iter().map(|n| n.app_key.as_str()).collect();
    let nonces: Vec<&str> = list.iter().map(|n| n.nonce.as_str()).collect();
    conn.execute(
        "INSERT INTO api_nonces (created, app_key, nonce) \
         SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[]) ON CONFLICT DO NOTHING",
        &[&created, &keys, &nonces],
    )?;
    Ok(())
}

/// Forgets the nonces created before `before`.
pub(crate) fn prune_nonces(conn: &mut PgConn, before: i64) -> Result<u64, StoreError> {
    conn.execute("DELETE FROM api_nonces WHERE created < $1", &[&before])
}

/// Changes this session's write-probe row (a real write, committed like any other; one row per session,
/// so the nodes' probes never queue on each other).
pub(crate) fn probe(conn: &mut PgConn) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO write_probe (id, writes) VALUES (pg_backend_pid(), 1) \
         ON CONFLICT (id) DO UPDATE SET writes = write_probe.writes + 1",
        &[],
    )?;
    Ok(())
}
