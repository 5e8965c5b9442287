//! The outbox through the single writer: appends (call facts, in the same group commit as provisioning
//! writes) and the retention rule (bounded purge steps, see [`spawn_outbox_purger`]).
//!
//! Every command that changes the outbox reads the table's exact row count (O(1), kept by the store) inside
//! its transaction; once the batch commits, `pn_store_outbox_pending` is set to it and the rows a purge
//! removed are added to `pn_store_outbox_purged_total{reason}`.

use std::sync::Arc;
use std::time::Duration;

use pn_bindings::{AppId, UnixTime};
use pn_store::{OutboxKind, OutboxPurge};

use super::ctx::{Ctx, Effect, OpResult};
use super::{EngineHandle, Op, Reply};
use crate::ProvisionError;

/// One outbox row to append: kind, app, JSON payload.
pub type OutboxRow = (OutboxKind, AppId, String);

/// The outbox retention rule: what one purge step may remove.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutboxRetention {
    /// Rows older than this many seconds are removed; 0 keeps rows whatever their age.
    pub retention_secs: u64,
    /// The outbox keeps at most this many rows (the oldest go first, whatever their age); 0 = no cap.
    pub max_rows: u64,
    /// Most rows one step removes (one transaction).
    pub chunk: u32,
}

/// Appends `rows`, all or nothing.
pub(crate) fn append(ctx: &mut Ctx<'_, '_>, rows: &[OutboxRow]) -> OpResult<()> {
    for (kind, app, payload) in rows {
        ctx.tx.append_outbox(*kind, *app, payload, ctx.now)?;
    }
    let count = ctx.tx.outbox_count()?;
    ctx.effects.push(Effect::Outbox {
        rows: count,
        purged: OutboxPurge::default(),
    });
    Ok(())
}

/// One purge step of `rule` at the command's time.
pub(crate) fn purge(ctx: &mut Ctx<'_, '_>, rule: OutboxRetention) -> OpResult<OutboxPurge> {
    let created_before = if rule.retention_secs == 0 {
        UnixTime(i64::MIN)
    } else {
        let age = i64::try_from(rule.retention_secs).unwrap_or(i64::MAX);
        UnixTime(ctx.now.0.saturating_sub(age))
    };
    let max_rows = if rule.max_rows == 0 {
        u64::MAX
    } else {
        rule.max_rows
    };
    let purged = ctx.tx.purge_outbox(created_before, max_rows, rule.chunk.max(1))?;
    let count = ctx.tx.outbox_count()?;
    ctx.effects.push(Effect::Outbox { rows: count, purged });
    Ok(purged)
}

impl EngineHandle {
    /// Appends `rows` (`(kind, app, JSON payload)`) to the store's outbox in the same group-commit path as
    /// provisioning writes; resolves once they are committed (durable) or refused. All or nothing. The rows
    /// are shared, not copied: a caller that must retry a refused append keeps its own reference.
    pub fn append_outbox(
        &self,
        rows: Arc<[OutboxRow]>,
    ) -> impl Future<Output = Result<(), ProvisionError>> + Send + 'static {
        self.enqueue(Op::AppendOutbox(rows))
    }

    /// Runs one purge step of `rule` (see [`pn_store::WriteTx::purge_outbox`]); returns what it removed.
    pub async fn purge_outbox(&self, rule: OutboxRetention) -> Result<OutboxPurge, ProvisionError> {
        match self.submit(Op::PurgeOutbox(rule), crate::system_now()).await? {
            Reply::Purged(purged) => Ok(purged),
            _ => Err(ProvisionError::Internal),
        }
    }
}

/// Applies `rule` every `every` on the tokio runtime (also once at start), until the engine stops: purge
/// steps of at most `rule.chunk` rows, each its own transaction, repeated at once while a step removes a full
/// chunk (so a large backlog drains in bounded transactions without waiting for the next tick). A failed
/// step (full disk…) is logged and retried at the next tick.
pub fn spawn_outbox_purger(
    handle: EngineHandle,
    rule: OutboxRetention,
    every: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            loop {
                match handle.purge_outbox(rule).await {
                    Ok(step) if step.total() >= u64::from(rule.chunk.max(1)) => {
                        tokio::task::yield_now().await;
                    }
                    Ok(_) => break,
                    Err(e) if e.is_internal() && !handle.is_running() => return,
                    Err(e) => {
                        tracing::warn!(error = %e, "outbox retention step failed");
                        break;
                    }
                }
            }
        }
    })
}
