//! The change feed and the cluster-wide ids of a shared `PostgreSQL` store (schema version 2).
//!
//! **Recording.** Row triggers on `bindings`, `apps`, `numbers`, `temp_callees` and `callback_records` insert
//! each change (the row's `body` before and after) into `pn_changes` under the writing transaction's id.
//!
//! **Numbering.** Just before `COMMIT`, a transaction that changed such rows increments the single row of
//! `pn_feed_head` and inserts its number with its transaction id into `pn_commits`. The row lock on the head
//! is held until the `COMMIT` returns, so numbering and committing are one critical section across every
//! node: commit *n + 1* cannot take its number before commit *n* is visible. A reader that sees number *n*
//! therefore sees every number below it, and numbers have no gaps. This is why the feed does not use a
//! sequence filled in during the transaction: concurrent transactions take sequence values in one order and
//! commit in another, so a reader that advanced past 11 while 10 was still open would skip 10 for ever
//! (`tests.rs` shows it cannot happen here). The price: commits that change routing state are serialised
//! across the cluster for the time of one `COMMIT` (outbox-only and nonce-only commits are not numbered).
//!
//! **Wake-up.** A trigger on `pn_commits` runs `pg_notify('pn_feed', seq)`, delivered at commit; readers
//! `LISTEN` on a connection of their own ([`PgFeedWaiter`]) and also poll, so a lost notification only
//! delays them.

use std::time::Duration;

use pn_numbers::E164;
use postgres::Client;
use postgres::fallible_iterator::FallibleIterator;
use serde::de::DeserializeOwned;

use super::conn::{PgConn, off_runtime};
use crate::codec::num;
use crate::{Change, FeedCommit, FeedWaiter, IdBlock, StoreError};
use pn_bindings::XNumber;

/// Binding ids per reserved block (the `pn_binding_ids` sequence's increment).
pub(crate) const BINDING_ID_BLOCK: u64 = 256;

/// The notification channel.
const CHANNEL: &str = "pn_feed";

/// `pn_changes.tbl` codes, as the triggers write them.
const TBL_BINDING: i16 = 1;
const TBL_APP: i16 = 2;
const TBL_NUMBER: i16 = 3;
const TBL_TEMP_CALLEE: i16 = 4;
const TBL_CALLBACK: i16 = 5;

/// Numbers the open transaction in the feed; the head stays locked until the transaction ends.
pub(crate) fn number_commit(conn: &mut PgConn, now: i64) -> Result<u64, StoreError> {
    let row = conn.query_one(
        "WITH h AS (UPDATE pn_feed_head SET seq = seq + 1 WHERE id = 1 RETURNING seq) \
         INSERT INTO pn_commits (seq, xid, committed_at) SELECT seq, pg_current_xact_id(), $1 FROM h \
         RETURNING seq",
        &[&now],
    )?;
    seq_of(row.try_get(0)?)
}

fn seq_of(value: i64) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt(format!("feed sequence {value}")))
}

/// The head as the current snapshot sees it.
pub(crate) fn head(conn: &mut PgConn) -> Result<u64, StoreError> {
    let row = conn.query_one("SELECT seq FROM pn_feed_head WHERE id = 1", &[])?;
    seq_of(row.try_get(0)?)
}

/// Commits numbered above `after`, with their changes, in commit order.
pub(crate) fn after(conn: &mut PgConn, after: u64, limit: u32) -> Result<Vec<FeedCommit>, StoreError> {
    let after = i64::try_from(after).map_err(|_| StoreError::Corrupt(format!("feed position {after}")))?;
    let rows = conn.query(
        "SELECT k.seq, c.tbl, c.old_body, c.new_body \
         FROM (SELECT seq, xid FROM pn_commits WHERE seq > $1 ORDER BY seq LIMIT $2) k \
         LEFT JOIN pn_changes c ON c.xid = k.xid \
         ORDER BY k.seq, c.ord",
        &[&after, &i64::from(limit)],
    )?;
    let mut out: Vec<FeedCommit> = Vec::new();
    for row in rows {
        let seq = seq_of(row.try_get(0)?)?;
        if out.last().is_none_or(|c| c.seq != seq) {
            out.push(FeedCommit {
                seq,
                changes: Vec::new(),
            });
        }
        let tbl: Option<i16> = row.try_get(1)?;
        let Some(tbl) = tbl else { continue };
        let old: Option<String> = row.try_get(2)?;
        let new: Option<String> = row.try_get(3)?;
        let change = decode(tbl, old.as_deref(), new.as_deref())?;
        if let Some(commit) = out.last_mut() {
            commit.changes.push(change);
        }
    }
    Ok(out)
}

/// One recorded change as a typed [`Change`].
fn decode(tbl: i16, old: Option<&str>, new: Option<&str>) -> Result<Change, StoreError> {
    Ok(match tbl {
        TBL_BINDING => Change::Binding {
            old: body(old)?,
            new: body(new)?,
        },
        TBL_APP => Change::App {
            old: body(old)?,
            new: body(new)?,
        },
        TBL_NUMBER => Change::Number {
            old: body(old)?,
            new: body(new)?,
        },
        TBL_TEMP_CALLEE => Change::TempCallee {
            old: body(old)?,
            new: body(new)?,
        },
        TBL_CALLBACK => Change::Callback {
            old: body(old)?,
            new: body(new)?,
        },
        other => return Err(StoreError::Corrupt(format!("pn_changes.tbl {other}"))),
    })
}

fn body<T: DeserializeOwned>(text: Option<&str>) -> Result<Option<T>, StoreError> {
    text.map(|t| serde_json::from_str(t).map_err(|e| StoreError::Corrupt(format!("pn_changes body: {e}"))))
        .transpose()
}

/// Deletes at most `limit` of the oldest numbered commits made before `before` (the head's own excepted),
/// with their changes; answers how many commits.
pub(crate) fn prune(conn: &mut PgConn, before: i64, limit: u32) -> Result<u64, StoreError> {
    let row = conn.query_one(
        "WITH gone AS (              DELETE FROM pn_commits WHERE seq IN (                  SELECT seq FROM pn_commits                  WHERE committed_at < $1 AND seq < (SELECT seq FROM pn_feed_head WHERE id = 1)                  ORDER BY seq LIMIT $2)              RETURNING xid),          changes AS (DELETE FROM pn_changes c USING gone WHERE c.xid = gone.xid RETURNING 1)          SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM changes)",
        &[&before, &i64::from(limit)],
    )?;
    let commits: i64 = row.try_get(0)?;
    Ok(u64::try_from(commits).unwrap_or(0))
}

/// Locks the pool number's row until the transaction ends (a missing number locks nothing: the rules refuse
/// it anyway).
pub(crate) fn lock_number(conn: &mut PgConn, number: E164) -> Result<(), StoreError> {
    conn.query(
        "SELECT 1 FROM numbers WHERE number = $1 FOR UPDATE",
        &[&num(number)],
    )?;
    Ok(())
}

/// Locks the rows of these pool numbers in ascending order; answers them as read under the lock, each with
/// its AXB pairs, and the feed's head as committed once the locks were held.
pub(crate) fn lock_numbers(
    conn: &mut PgConn,
    numbers: &[E164],
) -> Result<(Vec<(XNumber, u64)>, u64), StoreError> {
    let keys: Vec<i64> = numbers.iter().map(|n| num(*n)).collect();
    let locked: Vec<XNumber> = conn
        .query(
            "SELECT body FROM numbers WHERE number = ANY($1) ORDER BY number FOR UPDATE",
            &[&keys],
        )?
        .iter()
        .map(|row| super::read::from_body(row, "numbers"))
        .collect::<Result<_, _>>()?;
    // The counts in a statement of their own, after the locks: a statement that waited for a lock sees the
    // locked rows as the holder committed them, but every other row as it was when the statement began (a
    // count joined into the locking query missed the pairs of the binds that held X before it). The feed's
    // head rides along (the row whose `x` is NULL), read from the same snapshot taken after the locks.
    let mut pairs: std::collections::HashMap<i64, u64> = std::collections::HashMap::new();
    let mut head = None;
    for row in conn.query(
        "SELECT x, n FROM pn_x_pairs WHERE x = ANY($1) UNION ALL SELECT NULL, seq FROM pn_feed_head WHERE id = 1",
        &[&keys],
    )? {
        match row.try_get::<_, Option<i64>>(0)? {
            Some(x) => {
                pairs.insert(x, count_of(row.try_get(1)?)?);
            }
            None => head = Some(u64::try_from(row.try_get::<_, i64>(1)?).unwrap_or(0)),
        }
    }
    let head = head.ok_or_else(|| StoreError::Corrupt("pn_feed_head: no row".into()))?;
    let locked = locked
        .into_iter()
        .map(|n| {
            let p = pairs.get(&num(n.number)).copied().unwrap_or(0);
            (n, p)
        })
        .collect();
    Ok((locked, head))
}

/// The AXB pairs on `x` (the trigger-kept count; `None`: not a pool number).
pub(crate) fn axb_pairs(conn: &mut PgConn, x: E164) -> Result<Option<u64>, StoreError> {
    conn.query_opt(
        "SELECT COALESCE(p.n, 0) FROM numbers n LEFT JOIN pn_x_pairs p ON p.x = n.number \
         WHERE n.number = $1",
        &[&num(x)],
    )?
    .map(|row| count_of(row.try_get(0)?))
    .transpose()
}

fn count_of(n: i64) -> Result<u64, StoreError> {
    u64::try_from(n).map_err(|_| StoreError::Corrupt(format!("pn_x_pairs: negative count {n}")))
}

/// Locks the row of a pool number unless another transaction holds it: whether it is now held.
pub(crate) fn try_lock_number(conn: &mut PgConn, number: E164) -> Result<bool, StoreError> {
    let rows = conn.query(
        "SELECT 1 FROM numbers WHERE number = $1 FOR UPDATE SKIP LOCKED",
        &[&num(number)],
    )?;
    if !rows.is_empty() {
        return Ok(true);
    }
    // No row: either it is locked elsewhere, or the number does not exist (nothing to hold: the rules
    // refuse it).
    let exists = conn.query("SELECT 1 FROM numbers WHERE number = $1", &[&num(number)])?;
    Ok(exists.is_empty())
}

/// Takes the advisory locks of these user numbers in ascending order (volatile output expressions are
/// evaluated after the sort).
pub(crate) fn lock_parties(conn: &mut PgConn, numbers: &[E164]) -> Result<(), StoreError> {
    let (high, low): (Vec<i32>, Vec<i32>) = numbers.iter().map(|n| halves(*n)).unzip();
    conn.query(
        "SELECT pg_advisory_xact_lock(h, l) FROM unnest($1::int4[], $2::int4[]) AS t(h, l) ORDER BY h, l",
        &[&high, &low],
    )?;
    Ok(())
}

/// A user number's advisory-lock key in the two-key space: its high and low 32 bits.
fn halves(number: E164) -> (i32, i32) {
    let n = num(number);
    // The casts split the number into its two 32-bit halves on purpose.
    #[allow(clippy::cast_possible_truncation)]
    let halves = ((n >> 32) as i32, n as i32);
    halves
}

/// Takes the transaction-scoped advisory lock of a user number, in the two-key space (`classid` = the high
/// 32 bits, `objid` = the low 32 bits), which never meets a single-key advisory lock.
pub(crate) fn lock_party(conn: &mut PgConn, number: E164) -> Result<(), StoreError> {
    let (high, low) = halves(number);
    conn.execute("SELECT pg_advisory_xact_lock($1, $2)", &[&high, &low])?;
    Ok(())
}

/// Reserves the next block of binding ids.
pub(crate) fn reserve_binding_ids(conn: &mut PgConn) -> Result<IdBlock, StoreError> {
    let row = conn.query_one("SELECT nextval('pn_binding_ids')", &[])?;
    let start = seq_of(row.try_get(0)?)?;
    Ok(IdBlock {
        start,
        end: start + BINDING_ID_BLOCK,
    })
}

/// The next app id.
pub(crate) fn next_app_id(conn: &mut PgConn) -> Result<u32, StoreError> {
    let row = conn.query_one("SELECT nextval('pn_app_ids')", &[])?;
    let id: i64 = row.try_get(0)?;
    u32::try_from(id).map_err(|_| StoreError::Corrupt(format!("app id {id}")))
}

/// A connection of its own that `LISTEN`s on the feed's channel.
pub(crate) struct PgFeedWaiter {
    client: Client,
}

impl PgFeedWaiter {
    /// Connects and starts listening.
    pub(crate) fn connect(target: &super::conn::Target) -> Result<Self, StoreError> {
        let mut client = off_runtime(|| target.connect())?;
        off_runtime(|| client.batch_execute(&format!("LISTEN {CHANNEL}")))?;
        Ok(Self { client })
    }
}

impl FeedWaiter for PgFeedWaiter {
    fn wait(&mut self, timeout: Duration) -> Result<bool, StoreError> {
        let client = &mut self.client;
        off_runtime(|| {
            let mut notifications = client.notifications();
            if notifications.timeout_iter(timeout).next()?.is_none() {
                return Ok(false);
            }
            // Several commits may have notified: one wake-up covers them all.
            while notifications.iter().next()?.is_some() {}
            Ok(true)
        })
    }
}
