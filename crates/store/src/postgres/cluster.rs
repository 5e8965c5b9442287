//! Cluster-wide jobs on the shared database: the node registry (heartbeats), leadership (a session
//! advisory lock on a dedicated connection) and the takeover of a dead node's pending outbox rows.
//!
//! Times come from the database's clock (`clock_timestamp()`), never a node's: a node whose clock is off
//! neither looks dead nor keeps a dead node alive.

use std::time::Duration;

use super::conn::{PgConn, Target};
use crate::{LiveNode, StoreError};

/// The advisory lock key of the cluster's leader (`pnswlead` in ASCII). Advisory locks are per database:
/// clusters on other databases of one server do not contend.
pub(crate) const LEADER_KEY: i64 = 0x706e_7377_6c65_6164;

/// The database's clock in Unix seconds, as SQL.
const DB_NOW: &str = "EXTRACT(EPOCH FROM clock_timestamp())::BIGINT";

/// The settings of the jobs connection: `config`, with `statement_timeout` set (milliseconds, at least 1)
/// in the startup options when `timeout` is given (kept over reconnects; options of the URL kept too).
pub(crate) fn jobs_config(config: &Target, timeout: Option<Duration>) -> Target {
    let mut jobs = config.clone();
    if let Some(timeout) = timeout {
        let ms = timeout.as_millis().clamp(1, i32::MAX as u128);
        let options = match config.config.get_options() {
            Some(given) if !given.trim().is_empty() => format!("{given} -c statement_timeout={ms}"),
            _ => format!("-c statement_timeout={ms}"),
        };
        jobs.config.options(&options);
    }
    jobs
}

/// The dedicated connection of the cluster jobs and whether its session holds the leader lock.
#[derive(Default)]
pub(crate) struct Jobs {
    /// Connected at the first job (`None` until then, and after it was found broken).
    conn: Option<PgConn>,
    /// The session of `conn` holds [`LEADER_KEY`].
    leading: bool,
}

impl Jobs {
    /// The connection, reconnected when missing or broken (a broken one loses the lock with its session).
    fn conn(&mut self, config: &Target) -> Result<&mut PgConn, StoreError> {
        if self.conn.as_ref().is_none_or(PgConn::is_closed) {
            self.conn = None;
            self.leading = false;
            self.conn = Some(PgConn::connect(config)?);
        }
        self.conn
            .as_mut()
            .ok_or_else(|| super::conn::misuse("no jobs connection"))
    }

    /// Runs `f` on the connection; when it fails because the session ended, forgets the connection (and
    /// the leadership), so the next call reconnects.
    fn with<T>(
        &mut self,
        config: &Target,
        f: impl FnOnce(&mut PgConn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let conn = self.conn(config)?;
        let result = f(conn);
        if result.is_err() && conn.is_closed() {
            self.conn = None;
            self.leading = false;
        }
        result
    }

    /// Upserts `node`'s row with `api_url` and the database's time.
    pub(crate) fn heartbeat(&mut self, config: &Target, node: &str, api_url: &str) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO pn_nodes (node, api_url, seen_at) VALUES ($1, $2, {DB_NOW}) \
             ON CONFLICT (node) DO UPDATE SET api_url = EXCLUDED.api_url, seen_at = EXCLUDED.seen_at"
        );
        self.with(config, |conn| conn.execute(&sql, &[&node, &api_url]).map(drop))
    }

    /// Whether this session leads: proves a held lock's session is still alive (one round trip), or tries
    /// to take the lock. A connection found broken loses the leadership with its session; a new one is
    /// connected at once and tries to take the lock again.
    pub(crate) fn try_lead(&mut self, config: &Target) -> Result<bool, StoreError> {
        match self.lead_once(config) {
            // The session ended (and the lock with it): one new connection, one more try.
            Err(_) if self.conn.is_none() => self.lead_once(config),
            other => other,
        }
    }

    /// One try of [`Jobs::try_lead`] on the current connection.
    fn lead_once(&mut self, config: &Target) -> Result<bool, StoreError> {
        let leading = self.leading;
        let held = self.with(config, |conn| {
            if leading {
                // The lock lives as long as the session: a statement that succeeds proves both.
                conn.query_one("SELECT 1", &[]).map(|_| true)
            } else {
                conn.query_one("SELECT pg_try_advisory_lock($1)", &[&LEADER_KEY])?
                    .try_get::<_, bool>(0)
                    .map_err(StoreError::from)
            }
        })?;
        self.leading = held;
        Ok(held)
    }

    /// Moves at most `limit` pending outbox rows of the nodes not seen for `lease_secs` to `node` (rows
    /// locked by a concurrent taker are skipped; a row it moved is no longer a stale node's); returns how
    /// many moved.
    pub(crate) fn take_over(
        &mut self,
        config: &Target,
        node: &str,
        lease_secs: u64,
        limit: u32,
    ) -> Result<u64, StoreError> {
        let sql = format!(
            "UPDATE outbox SET owner = $1 WHERE id IN ( \
                 SELECT id FROM outbox WHERE state = 0 AND owner = ANY( \
                     SELECT node FROM pn_nodes WHERE node <> $1 AND seen_at < {DB_NOW} - $2) \
                 ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED)"
        );
        let lease = i64::try_from(lease_secs).unwrap_or(i64::MAX);
        self.with(config, |conn| {
            conn.execute(&sql, &[&node, &lease, &i64::from(limit)])
        })
    }

    /// The API URL `node` last announced (`None`: unknown node, or none announced).
    pub(crate) fn api_url(&mut self, config: &Target, node: &str) -> Result<Option<String>, StoreError> {
        self.with(config, |conn| {
            let row = conn.query_opt("SELECT api_url FROM pn_nodes WHERE node = $1", &[&node])?;
            Ok(row.and_then(|r| r.get::<_, Option<String>>(0)))
        })
    }

    /// The nodes other than `me` whose last heartbeat is at most `lease_secs` old and that announced an API
    /// URL, by name.
    pub(crate) fn live_nodes(
        &mut self,
        config: &Target,
        me: &str,
        lease_secs: u64,
    ) -> Result<Vec<LiveNode>, StoreError> {
        let sql = format!(
            "SELECT node, api_url FROM pn_nodes WHERE node <> $1 AND api_url IS NOT NULL \
             AND seen_at >= {DB_NOW} - $2 ORDER BY node"
        );
        let lease = i64::try_from(lease_secs).unwrap_or(i64::MAX);
        self.with(config, |conn| {
            let rows = conn.query(&sql, &[&me, &lease])?;
            rows.iter()
                .map(|r| {
                    Ok(LiveNode {
                        node: r.try_get(0)?,
                        api_url: r.try_get(1)?,
                    })
                })
                .collect()
        })
    }
}
