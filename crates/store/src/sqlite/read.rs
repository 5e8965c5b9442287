//! Reads, shared by read transactions and the write transaction (which sees its own writes).

use pn_bindings::{App, AppId, Binding, BindingId, CallbackRecord, TempCallee, UnixTime, XNumber};
use pn_numbers::E164;
use rusqlite::types::Value;
use rusqlite::{Connection, params, params_from_iter};
use serde::de::DeserializeOwned;

use super::codec::from_body;
use crate::codec::{
    id_from_sql, id_sql, num, outbox_kind_from, outbox_kind_str, outbox_state_code, outbox_state_from,
};
use crate::{BindingFilter, OutboxCounts, OutboxEntry, OutboxFilter, OutboxState, Page, StoreError};

/// Runs a cached query whose only column is a `body` and decodes every row.
fn bodies<T: DeserializeOwned>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    table: &str,
) -> Result<Vec<T>, StoreError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(params)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(from_body(row.get_ref(0)?, table)?);
    }
    Ok(out)
}

/// Runs a cached query for at most one `body` and decodes it.
fn body<T: DeserializeOwned>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    table: &str,
) -> Result<Option<T>, StoreError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(params)?;
    match rows.next()? {
        Some(row) => Ok(Some(from_body(row.get_ref(0)?, table)?)),
        None => Ok(None),
    }
}

/// All apps, by id.
pub(crate) fn apps(conn: &Connection) -> Result<Vec<App>, StoreError> {
    bodies(conn, "SELECT body FROM apps ORDER BY id", [], "apps")
}

/// One app by id.
pub(crate) fn app(conn: &Connection, id: AppId) -> Result<Option<App>, StoreError> {
    body(conn, "SELECT body FROM apps WHERE id = ?1", [id.0], "apps")
}

/// One app by key.
pub(crate) fn app_by_key(conn: &Connection, app_key: &str) -> Result<Option<App>, StoreError> {
    body(
        conn,
        "SELECT body FROM apps WHERE app_key = ?1",
        [app_key],
        "apps",
    )
}

/// Highest app id (0 when none).
pub(crate) fn max_app_id(conn: &Connection) -> Result<u32, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT COALESCE(MAX(id), 0) FROM apps")?;
    Ok(stmt.query_row([], |row| row.get(0))?)
}

/// Pool numbers, all or one app's, by number.
pub(crate) fn numbers(conn: &Connection, app: Option<AppId>) -> Result<Vec<XNumber>, StoreError> {
    match app {
        Some(app) => bodies(
            conn,
            "SELECT body FROM numbers WHERE app_id = ?1 ORDER BY number",
            [app.0],
            "numbers",
        ),
        None => bodies(conn, "SELECT body FROM numbers ORDER BY number", [], "numbers"),
    }
}

/// One pool number.
pub(crate) fn number(conn: &Connection, number: E164) -> Result<Option<XNumber>, StoreError> {
    body(
        conn,
        "SELECT body FROM numbers WHERE number = ?1",
        [num(number)],
        "numbers",
    )
}

/// One binding by id.
pub(crate) fn binding(conn: &Connection, id: BindingId) -> Result<Option<Binding>, StoreError> {
    body(
        conn,
        "SELECT body FROM bindings WHERE id = ?1",
        [id_sql(id.0)],
        "bindings",
    )
}

/// One binding by `subscriptionId`.
pub(crate) fn binding_by_subscription(
    conn: &Connection,
    subscription_id: &str,
) -> Result<Option<Binding>, StoreError> {
    body(
        conn,
        "SELECT body FROM bindings WHERE subscription_id = ?1",
        [subscription_id],
        "bindings",
    )
}

/// The `WHERE` clause (empty or starting with ` WHERE`) and its parameters for a filter
/// ([`crate::codec::where_clause`], `?N` placeholders).
fn filter_clause(filter: &BindingFilter) -> (String, Vec<Value>) {
    let (clause, values) = crate::codec::where_clause(filter, |n| format!("?{n}"));
    let params = values
        .into_iter()
        .map(|v| match v {
            crate::codec::SqlValue::Int(i) => Value::Integer(i),
            crate::codec::SqlValue::Text(t) => Value::Text(t),
        })
        .collect();
    (clause, params)
}

/// Bindings matching `filter`, one page by id, and the total count of matches.
pub(crate) fn query_bindings(
    conn: &Connection,
    filter: &BindingFilter,
    page: Page,
) -> Result<(u64, Vec<Binding>), StoreError> {
    let (clause, params) = filter_clause(filter);
    let total: i64 = {
        let mut stmt = conn.prepare_cached(&format!("SELECT COUNT(*) FROM bindings{clause}"))?;
        stmt.query_row(params_from_iter(params.iter()), |row| row.get(0))?
    };
    let total_u = id_from_sql(total);
    let size = i64::from(page.size);
    let offset = i64::from(page.index.saturating_sub(1)) * size;
    if size == 0 || offset >= total {
        return Ok((total_u, Vec::new()));
    }
    let n = params.len();
    let sql = format!(
        "SELECT body FROM bindings{clause} ORDER BY id LIMIT ?{} OFFSET ?{}",
        n + 1,
        n + 2
    );
    let mut all = params;
    all.push(Value::Integer(size));
    all.push(Value::Integer(offset));
    let list = bodies(conn, &sql, params_from_iter(all.iter()), "bindings")?;
    Ok((total_u, list))
}

/// Highest binding id (0 when none).
pub(crate) fn max_binding_id(conn: &Connection) -> Result<u64, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT COALESCE(MAX(id), 0) FROM bindings")?;
    Ok(id_from_sql(stmt.query_row([], |row| row.get(0))?))
}

/// Streams every binding in id order (one `SELECT body`, rows decoded one at a time).
pub(crate) fn for_each_binding(conn: &Connection, f: &mut dyn FnMut(Binding)) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached("SELECT body FROM bindings ORDER BY id")?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        f(from_body(row.get_ref(0)?, "bindings")?);
    }
    Ok(())
}

/// The temporary callee of an AX binding.
pub(crate) fn temp_callee(conn: &Connection, binding: BindingId) -> Result<Option<TempCallee>, StoreError> {
    body(
        conn,
        "SELECT body FROM temp_callees WHERE binding_id = ?1",
        [id_sql(binding.0)],
        "temp_callees",
    )
}

/// All temporary callees, by binding id.
pub(crate) fn temp_callees(conn: &Connection) -> Result<Vec<TempCallee>, StoreError> {
    bodies(
        conn,
        "SELECT body FROM temp_callees ORDER BY binding_id",
        [],
        "temp_callees",
    )
}

/// All callback records, by (X, A).
pub(crate) fn callback_records(conn: &Connection) -> Result<Vec<CallbackRecord>, StoreError> {
    bodies(
        conn,
        "SELECT body FROM callback_records ORDER BY x, a",
        [],
        "callback_records",
    )
}

/// Bindings expired at `now` (`expires_at <= now`), oldest expiry first, at most `limit`.
pub(crate) fn expired_bindings(
    conn: &Connection,
    now: UnixTime,
    limit: u32,
) -> Result<Vec<Binding>, StoreError> {
    bodies(
        conn,
        "SELECT body FROM bindings WHERE expires_at IS NOT NULL AND expires_at <= ?1 \
         ORDER BY expires_at, id LIMIT ?2",
        params![now.0, limit],
        "bindings",
    )
}

/// The columns every outbox read selects, in [`outbox_row`]'s order.
const OUTBOX_COLUMNS: &str = "id, kind, app_id, payload, created_at, attempts, state, done_at";

/// Decodes one outbox row selected with [`OUTBOX_COLUMNS`].
fn outbox_row(row: &rusqlite::Row<'_>) -> Result<OutboxEntry, StoreError> {
    let kind: String = row.get(1)?;
    Ok(OutboxEntry {
        id: id_from_sql(row.get(0)?),
        kind: outbox_kind_from(&kind)?,
        app: AppId(row.get(2)?),
        payload: row.get(3)?,
        created_at: UnixTime(row.get(4)?),
        attempts: row.get(5)?,
        state: outbox_state_from(row.get(6)?)?,
        done_at: row.get::<_, Option<i64>>(7)?.map(UnixTime),
    })
}

/// Runs an outbox `SELECT` of [`OUTBOX_COLUMNS`] and decodes every row.
fn outbox_rows(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<OutboxEntry>, StoreError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(params)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(outbox_row(row)?);
    }
    Ok(out)
}

/// Pending outbox entries after `after_id`, in id order, at most `limit` (the `(state, id)` index).
pub(crate) fn outbox_pending(
    conn: &Connection,
    after_id: u64,
    limit: u32,
) -> Result<Vec<OutboxEntry>, StoreError> {
    outbox_rows(
        conn,
        &format!("SELECT {OUTBOX_COLUMNS} FROM outbox WHERE state = 0 AND id > ?1 ORDER BY id LIMIT ?2"),
        params![id_sql(after_id), limit],
    )
}

/// Outbox entries matching `filter`, in id order, at most `limit`.
pub(crate) fn outbox_query(
    conn: &Connection,
    filter: &OutboxFilter,
    limit: u32,
) -> Result<Vec<OutboxEntry>, StoreError> {
    let mut conds = vec!["id > ?1".to_owned()];
    let mut params = vec![Value::Integer(id_sql(filter.after_id))];
    let mut push = |cond: &str, value: Value| {
        params.push(value);
        conds.push(cond.replace('?', &format!("?{}", params.len())));
    };
    if let Some(state) = filter.state {
        push("state = ?", Value::Integer(outbox_state_code(state)));
    }
    if let Some(kind) = filter.kind {
        push("kind = ?", Value::Text(outbox_kind_str(kind).to_owned()));
    }
    if let Some(app) = filter.app {
        push("app_id = ?", Value::Integer(i64::from(app.0)));
    }
    if let Some(t) = filter.created_from {
        push("created_at >= ?", Value::Integer(t.0));
    }
    if let Some(t) = filter.created_to {
        push("created_at <= ?", Value::Integer(t.0));
    }
    params.push(Value::Integer(i64::from(limit)));
    let sql = format!(
        "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE {} ORDER BY id LIMIT ?{}",
        conds.join(" AND "),
        params.len()
    );
    outbox_rows(conn, &sql, params_from_iter(params.iter()))
}

/// The outbox entries with these ids, in id order, each once.
pub(crate) fn outbox_entries(conn: &Connection, ids: &[u64]) -> Result<Vec<OutboxEntry>, StoreError> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let sql = format!("SELECT {OUTBOX_COLUMNS} FROM outbox WHERE id = ?1");
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        out.extend(outbox_rows(conn, &sql, [id_sql(id)])?);
    }
    Ok(out)
}

/// Exact counts: the total (migration 4's row) and the pending and dead rows (migration 5's per-state rows).
pub(crate) fn outbox_counts(conn: &Connection) -> Result<OutboxCounts, StoreError> {
    let mut counts = OutboxCounts {
        total: outbox_count(conn)?,
        ..OutboxCounts::default()
    };
    let mut stmt = conn.prepare_cached("SELECT state, n FROM outbox_state_count")?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let (state, n): (i64, i64) = (row.get(0)?, row.get(1)?);
        let n = u64::try_from(n).map_err(|_| StoreError::Corrupt(format!("negative outbox count {n}")))?;
        match outbox_state_from(state)? {
            OutboxState::Pending => counts.pending = n,
            OutboxState::Dead => counts.dead = n,
            OutboxState::Delivered | OutboxState::NoReceiver => {}
        }
    }
    Ok(counts)
}

/// Rows in the outbox (the trigger-maintained count of migration 3).
pub(crate) fn outbox_count(conn: &Connection) -> Result<u64, StoreError> {
    let n: i64 = conn
        .prepare_cached("SELECT n FROM outbox_count WHERE id = 1")?
        .query_row([], |row| row.get(0))?;
    u64::try_from(n).map_err(|_| StoreError::Corrupt(format!("negative outbox count {n}")))
}
