//! Reads, shared by read transactions and the write transaction (which sees its own writes). The same
//! queries as the `SQLite` backend's, with `$n` parameters.

use pn_bindings::{App, AppId, Binding, BindingId, CallbackRecord, TempCallee, UnixTime, XNumber};
use pn_numbers::E164;
use postgres::Row;
use postgres::types::ToSql;
use serde::de::DeserializeOwned;

use super::conn::PgConn;
use crate::codec::{
    id_from_sql, id_sql, num, outbox_kind_from, outbox_kind_str, outbox_state_code, outbox_state_from,
};
use crate::{
    BindingFilter, OutboxCounts, OutboxEntry, OutboxFilter, OutboxState, Page, SeenNonce, StoreError,
};

/// A boxed query parameter (dynamic `WHERE` clauses).
type Param = Box<dyn ToSql + Sync + Send>;

/// Borrows boxed parameters as the client wants them.
fn refs(params: &[Param]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p.as_ref() as &(dyn ToSql + Sync)).collect()
}

/// Decodes the `body` in column 0 of `row` (`table` names the source in the error).
pub(crate) fn from_body<T: DeserializeOwned>(row: &Row, table: &str) -> Result<T, StoreError> {
    let text: &str = row
        .try_get(0)
        .map_err(|e| StoreError::Corrupt(format!("{table}: body is not text: {e}")))?;
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{table}: {e}")))
}

/// Runs a query whose only column is a `body` and decodes every row.
fn bodies<T: DeserializeOwned>(
    conn: &mut PgConn,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
    table: &str,
) -> Result<Vec<T>, StoreError> {
    conn.query(sql, params)?
        .iter()
        .map(|row| from_body(row, table))
        .collect()
}

/// Runs a query for at most one `body` and decodes it.
fn body<T: DeserializeOwned>(
    conn: &mut PgConn,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
    table: &str,
) -> Result<Option<T>, StoreError> {
    conn.query_opt(sql, params)?
        .map(|row| from_body(&row, table))
        .transpose()
}

/// A non-negative count or id read as `u64`.
fn count(n: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(n).map_err(|_| StoreError::Corrupt(format!("negative {what} {n}")))
}

/// All apps, by id.
pub(crate) fn apps(conn: &mut PgConn) -> Result<Vec<App>, StoreError> {
    bodies(conn, "SELECT body FROM apps ORDER BY id", &[], "apps")
}

/// One app by id.
pub(crate) fn app(conn: &mut PgConn, id: AppId) -> Result<Option<App>, StoreError> {
    body(
        conn,
        "SELECT body FROM apps WHERE id = $1",
        &[&i64::from(id.0)],
        "apps",
    )
}

/// One app by key.
pub(crate) fn app_by_key(conn: &mut PgConn, app_key: &str) -> Result<Option<App>, StoreError> {
    body(
        conn,
        "SELECT body FROM apps WHERE app_key = $1",
        &[&app_key],
        "apps",
    )
}

/// Highest app id (0 when none).
pub(crate) fn max_app_id(conn: &mut PgConn) -> Result<u32, StoreError> {
    let n: i64 = conn
        .query_one("SELECT COALESCE(MAX(id), 0)::BIGINT FROM apps", &[])?
        .try_get(0)?;
    u32::try_from(n).map_err(|_| StoreError::Corrupt(format!("app id {n}")))
}

/// Pool numbers, all or one app's, by number.
pub(crate) fn numbers(conn: &mut PgConn, app: Option<AppId>) -> Result<Vec<XNumber>, StoreError> {
    match app {
        Some(app) => bodies(
            conn,
            "SELECT body FROM numbers WHERE app_id = $1 ORDER BY number",
            &[&i64::from(app.0)],
            "numbers",
        ),
        None => bodies(conn, "SELECT body FROM numbers ORDER BY number", &[], "numbers"),
    }
}

/// One pool number.
pub(crate) fn number(conn: &mut PgConn, number: E164) -> Result<Option<XNumber>, StoreError> {
    body(
        conn,
        "SELECT body FROM numbers WHERE number = $1",
        &[&num(number)],
        "numbers",
    )
}

/// One pool number, its row locked until the transaction ends (`SELECT … FOR UPDATE`).
pub(crate) fn number_for_update(conn: &mut PgConn, number: E164) -> Result<Option<XNumber>, StoreError> {
    body(
        conn,
        "SELECT body FROM numbers WHERE number = $1 FOR UPDATE",
        &[&num(number)],
        "numbers",
    )
}

/// One binding by id.
pub(crate) fn binding(conn: &mut PgConn, id: BindingId) -> Result<Option<Binding>, StoreError> {
    body(
        conn,
        "SELECT body FROM bindings WHERE id = $1",
        &[&id_sql(id.0)],
        "bindings",
    )
}

/// One binding by `subscriptionId`.
pub(crate) fn binding_by_subscription(
    conn: &mut PgConn,
    subscription_id: &str,
) -> Result<Option<Binding>, StoreError> {
    body(
        conn,
        "SELECT body FROM bindings WHERE subscription_id = $1",
        &[&subscription_id],
        "bindings",
    )
}

/// The `WHERE` clause (empty or starting with ` WHERE`) and its parameters for a filter
/// ([`crate::codec::where_clause`], `$N` placeholders).
fn filter_clause(filter: &BindingFilter) -> (String, Vec<Param>) {
    let (clause, values) = crate::codec::where_clause(filter, |n| format!("${n}"));
    let params = values
        .into_iter()
        .map(|v| -> Param {
            match v {
                crate::codec::SqlValue::Int(i) => Box::new(i),
                crate::codec::SqlValue::Text(t) => Box::new(t),
            }
        })
        .collect();
    (clause, params)
}

/// Bindings matching `filter`, one page by id, and the total count of matches.
pub(crate) fn query_bindings(
    conn: &mut PgConn,
    filter: &BindingFilter,
    page: Page,
) -> Result<(u64, Vec<Binding>), StoreError> {
    let (clause, mut params) = filter_clause(filter);
    let total: i64 = conn
        .query_one(&format!("SELECT COUNT(*) FROM bindings{clause}"), &refs(&params))?
        .try_get(0)?;
    let total_u = count(total, "count")?;
    let size = i64::from(page.size);
    let offset = i64::from(page.index.saturating_sub(1)) * size;
    if size == 0 || offset >= total {
        return Ok((total_u, Vec::new()));
    }
    let n = params.len();
    let sql = format!(
        "SELECT body FROM bindings{clause} ORDER BY id LIMIT ${} OFFSET ${}",
        n + 1,
        n + 2
    );
    params.push(Box::new(size));
    params.push(Box::new(offset));
    let list = bodies(conn, &sql, &refs(&params), "bindings")?;
    Ok((total_u, list))
}

/// Highest binding id (0 when none).
pub(crate) fn max_binding_id(conn: &mut PgConn) -> Result<u64, StoreError> {
    let n: i64 = conn
        .query_one("SELECT COALESCE(MAX(id), 0)::BIGINT FROM bindings", &[])?
        .try_get(0)?;
    Ok(id_from_sql(n))
}

/// Rows per `FETCH` of [`for_each_binding`]'s cursor.
const FETCH_ROWS: u32 = 4096;

/// Streams every binding in id order through a server-side cursor, [`FETCH_ROWS`] rows at a time (the
/// start-up load never holds the whole table in memory twice).
pub(crate) fn for_each_binding(conn: &mut PgConn, f: &mut dyn FnMut(Binding)) -> Result<(), StoreError> {
    conn.batch("DECLARE pn_all_bindings NO SCROLL CURSOR FOR SELECT body FROM bindings ORDER BY id")?;
    let streamed = (|| loop {
        let rows = conn.query(&format!("FETCH {FETCH_ROWS} FROM pn_all_bindings"), &[])?;
        for row in &rows {
            f(from_body(row, "bindings")?);
        }
        if rows.len() < FETCH_ROWS as usize {
            return Ok(());
        }
    })();
    // Closed on a decoding error too, so the transaction can declare it again.
    let closed = conn.batch("CLOSE pn_all_bindings");
    streamed.and(closed)
}

/// The temporary callee of an AX binding.
pub(crate) fn temp_callee(conn: &mut PgConn, binding: BindingId) -> Result<Option<TempCallee>, StoreError> {
    body(
        conn,
        "SELECT body FROM temp_callees WHERE binding_id = $1",
        &[&id_sql(binding.0)],
        "temp_callees",
    )
}

/// All temporary callees, by binding id.
pub(crate) fn temp_callees(conn: &mut PgConn) -> Result<Vec<TempCallee>, StoreError> {
    bodies(
        conn,
        "SELECT body FROM temp_callees ORDER BY binding_id",
        &[],
        "temp_callees",
    )
}

/// All callback records, by (X, A).
pub(crate) fn callback_records(conn: &mut PgConn) -> Result<Vec<CallbackRecord>, StoreError> {
    bodies(
        conn,
        "SELECT body FROM callback_records ORDER BY x, a",
        &[],
        "callback_records",
    )
}

/// Bindings expired at `now` (`expires_at <= now`), oldest expiry first, at most `limit`.
pub(crate) fn expired_bindings(
    conn: &mut PgConn,
    now: UnixTime,
    limit: u32,
) -> Result<Vec<Binding>, StoreError> {
    bodies(
        conn,
        "SELECT body FROM bindings WHERE expires_at IS NOT NULL AND expires_at <= $1 \
         ORDER BY expires_at, id LIMIT $2",
        &[&now.0, &i64::from(limit)],
        "bindings",
    )
}

/// The columns every outbox read selects, in [`outbox_row`]'s order.
const OUTBOX_COLUMNS: &str = "id, kind, app_id, payload, created_at, attempts, state, done_at";

/// Decodes one outbox row selected with [`OUTBOX_COLUMNS`].
fn outbox_row(row: &Row) -> Result<OutboxEntry, StoreError> {
    let kind: &str = row.try_get(1)?;
    let app: i64 = row.try_get(2)?;
    let attempts: i64 = row.try_get(5)?;
    Ok(OutboxEntry {
        id: id_from_sql(row.try_get(0)?),
        kind: outbox_kind_from(kind)?,
        app: AppId(u32::try_from(app).map_err(|_| StoreError::Corrupt(format!("outbox app id {app}")))?),
        payload: row.try_get(3)?,
        created_at: UnixTime(row.try_get(4)?),
        attempts: u32::try_from(attempts)
            .map_err(|_| StoreError::Corrupt(format!("outbox attempts {attempts}")))?,
        state: outbox_state_from(row.try_get(6)?)?,
        done_at: row.try_get::<_, Option<i64>>(7)?.map(UnixTime),
    })
}

/// Runs an outbox `SELECT` of [`OUTBOX_COLUMNS`] and decodes every row.
fn outbox_rows(
    conn: &mut PgConn,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<OutboxEntry>, StoreError> {
    conn.query(sql, params)?.iter().map(outbox_row).collect()
}

/// Pending outbox entries after `after_id`, in id order, at most `limit` (the `(state, id)` index).
pub(crate) fn outbox_pending(
    conn: &mut PgConn,
    node: &str,
    after_id: u64,
    limit: u32,
) -> Result<Vec<OutboxEntry>, StoreError> {
    outbox_rows(
        conn,
        &format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE state = 0 AND id > $1 \
             AND (owner IS NULL OR owner = $3) ORDER BY id LIMIT $2"
        ),
        &[&id_sql(after_id), &i64::from(limit), &node],
    )
}

/// Outbox entries matching `filter`, in id order, at most `limit`.
pub(crate) fn outbox_query(
    conn: &mut PgConn,
    filter: &OutboxFilter,
    limit: u32,
) -> Result<Vec<OutboxEntry>, StoreError> {
    let mut conds = vec!["id > $1".to_owned()];
    let mut params: Vec<Param> = vec![Box::new(id_sql(filter.after_id))];
    let mut push = |cond: &str, value: Param| {
        params.push(value);
        conds.push(cond.replace('?', &format!("${}", params.len())));
    };
    if let Some(state) = filter.state {
        push("state = ?", Box::new(outbox_state_code(state)));
    }
    if let Some(kind) = filter.kind {
        push("kind = ?", Box::new(outbox_kind_str(kind)));
    }
    if let Some(app) = filter.app {
        push("app_id = ?", Box::new(i64::from(app.0)));
    }
    if let Some(t) = filter.created_from {
        push("created_at >= ?", Box::new(t.0));
    }
    if let Some(t) = filter.created_to {
        push("created_at <= ?", Box::new(t.0));
    }
    params.push(Box::new(i64::from(limit)));
    let sql = format!(
        "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE {} ORDER BY id LIMIT ${}",
        conds.join(" AND "),
        params.len()
    );
    outbox_rows(conn, &sql, &refs(&params))
}

/// The outbox entries with these ids, in id order, each once.
pub(crate) fn outbox_entries(conn: &mut PgConn, ids: &[u64]) -> Result<Vec<OutboxEntry>, StoreError> {
    let ids: Vec<i64> = ids.iter().map(|&id| id_sql(id)).collect();
    outbox_rows(
        conn,
        &format!("SELECT {OUTBOX_COLUMNS} FROM outbox WHERE id = ANY($1) ORDER BY id"),
        &[&ids],
    )
}

/// Exact counts: the total and the pending and dead rows (sums of the trigger-kept count slots).
pub(crate) fn outbox_counts(conn: &mut PgConn) -> Result<OutboxCounts, StoreError> {
    let mut counts = OutboxCounts::default();
    for row in conn.query(
        "SELECT state, SUM(n)::bigint FROM outbox_counts GROUP BY state",
        &[],
    )? {
        let (state, n): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
        let n = count(n, "outbox count")?;
        counts.total += n;
        match outbox_state_from(state)? {
            OutboxState::Pending => counts.pending = n,
            OutboxState::Dead => counts.dead = n,
            OutboxState::Delivered | OutboxState::NoReceiver => {}
        }
    }
    Ok(counts)
}

/// Rows in the outbox (the sum of the trigger-kept count slots).
pub(crate) fn outbox_count(conn: &mut PgConn) -> Result<u64, StoreError> {
    let n: i64 = conn
        .query_one("SELECT COALESCE(SUM(n), 0)::bigint FROM outbox_counts", &[])?
        .try_get(0)?;
    count(n, "outbox count")
}

/// The nonces created at or after `since`, oldest first.
pub(crate) fn nonces_since(conn: &mut PgConn, since: i64) -> Result<Vec<SeenNonce>, StoreError> {
    conn.query(
        "SELECT created, app_key, nonce FROM api_nonces WHERE created >= $1 \
         ORDER BY created, app_key COLLATE \"C\", nonce COLLATE \"C\"",
        &[&since],
    )?
    .iter()
    .map(|row| {
        Ok(SeenNonce {
            created: row.try_get(0)?,
            app_key: row.try_get(1)?,
            nonce: row.try_get(2)?,
        })
    })
    .collect()
}
