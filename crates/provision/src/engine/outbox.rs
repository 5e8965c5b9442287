//! The outbox through the single writer: appends (call facts, in the same group commit as provisioning
//! writes), state marks (delivered, dead, no receiver) and replays of dead letters, the retention rule
//! (bounded purge steps, see [`spawn_outbox_purger`]) and the [`OutboxSignal`] that wakes the push driver.
//!
//! Every command that changes the outbox reads the table's exact counts (O(1), kept by the store) inside its
//! transaction; once the batch commits, `pn_store_outbox_pending`, `pn_store_outbox_rows` and
//! `pn_push_dead_letters` are set to them and the rows a purge removed are added to
//! `pn_store_outbox_purged_total{reason}`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use pn_bindings::{AppId, UnixTime};
use pn_store::{OutboxKind, OutboxPurge, OutboxState};
use tokio::sync::Notify;

use super::ctx::{Ctx, Effect, OpResult};
use super::{EngineHandle, Op, Reply};
use crate::ProvisionError;

/// One outbox row to append.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxRow {
    /// What it carries.
    pub kind: OutboxKind,
    /// Its app (`AppId(0)`: none).
    pub app: AppId,
    /// The JSON payload.
    pub payload: String,
    /// Its state from the start: `Pending` for the push driver, or `NoReceiver` when its app has no URL
    /// for it (then it is written once and never read back by the driver).
    pub state: OutboxState,
}

impl OutboxRow {
    /// A row waiting for the push driver.
    pub fn pending(kind: OutboxKind, app: AppId, payload: String) -> Self {
        Self {
            kind,
            app,
            payload,
            state: OutboxState::Pending,
        }
    }
}

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

/// Wakes the push driver when the outbox has new work: after every commit that appended rows or replayed
/// dead letters. Shared between the engine (which wakes it) and the driver (which waits on it).
///
/// A wake is never lost: it is kept until the next [`OutboxSignal::notified`] when nobody waits yet
/// (`tokio::sync::Notify::notify_one`); several wakes before a wait collapse into one.
#[derive(Debug, Default)]
pub struct OutboxSignal {
    /// The wake.
    notify: Notify,
    /// Set by a replay, cleared by [`OutboxSignal::take_rescan`].
    rescan: AtomicBool,
}

impl OutboxSignal {
    /// Resolves at the next wake (at once if one came since the last wait).
    pub fn notified(&self) -> impl Future<Output = ()> + Send + '_ {
        self.notify.notified()
    }

    /// `true` once after a replay made older rows pending again (a driver that scans the pending rows by
    /// increasing id must start again from the beginning); `false` until the next replay.
    pub fn take_rescan(&self) -> bool {
        self.rescan.swap(false, Ordering::AcqRel)
    }

    /// Wakes the waiter (or the next one); a replay also raises the rescan flag first.
    pub(crate) fn wake(&self, rescan: bool) {
        if rescan {
            self.rescan.store(true, Ordering::Release);
        }
        self.notify.notify_one();
    }
}

/// Sets `pn_store_outbox_pending`, `pn_store_outbox_rows` and `pn_push_dead_letters` to `counts`.
pub(crate) fn set_gauges(metrics: &pn_metrics::Metrics, counts: pn_store::OutboxCounts) {
    let gauge = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    metrics.outbox_pending.set(gauge(counts.pending));
    metrics.outbox_rows.set(gauge(counts.total));
    metrics.push_dead_letters.set(gauge(counts.dead));
}

/// The outbox's counts after the command's writes, as an effect.
fn effect(ctx: &mut Ctx<'_, '_>, purged: OutboxPurge, wake: bool, rescan: bool) -> OpResult<()> {
    let counts = ctx.tx.outbox_counts()?;
    ctx.effects.push(Effect::Outbox {
        counts,
        purged,
        wake,
        rescan,
    });
    Ok(())
}

/// Appends `rows`, all or nothing; wakes the push driver only when one of them is pending.
pub(crate) fn append(ctx: &mut Ctx<'_, '_>, rows: &[OutboxRow]) -> OpResult<()> {
    for row in rows {
        ctx.tx
            .append_outbox_in(row.kind, row.app, &row.payload, row.state, ctx.now)?;
    }
    let wake = rows.iter().any(|r| r.state == OutboxState::Pending);
    effect(ctx, OutboxPurge::default(), wake, false)
}

/// Moves `ids` to `state` at the command's time (see [`pn_store::WriteTx::mark_outbox`]); returns the rows
/// changed. Marking `Pending` is a replay: when it changed rows, the signal is woken with a rescan.
pub(crate) fn mark(ctx: &mut Ctx<'_, '_>, ids: &[u64], state: OutboxState) -> OpResult<u64> {
    let changed = ctx.tx.mark_outbox(ids, state, ctx.now)?;
    let replayed = state == OutboxState::Pending && changed > 0;
    effect(ctx, OutboxPurge::default(), replayed, replayed)?;
    Ok(changed)
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
    effect(ctx, purged, false, false)?;
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

    /// Moves the outbox entries `ids` to `state` (the push driver's delivered / dead / no-receiver marks; see
    /// [`pn_store::WriteTx::mark_outbox`]) in the same group-commit path as every write; resolves once
    /// committed, with how many rows changed. Queued at the call, like [`EngineHandle::append_outbox`].
    pub fn mark_outbox(
        &self,
        ids: Arc<[u64]>,
        state: OutboxState,
    ) -> impl Future<Output = Result<u64, ProvisionError>> + Send + 'static {
        let reply = self.enqueue_reply(Op::MarkOutbox { ids, state });
        async move {
            match reply.await? {
                Reply::Marked(n) => Ok(n),
                _ => Err(ProvisionError::Internal),
            }
        }
    }

    /// Replays dead letters: the entries of `ids` that are dead become pending again (their `done_at`
    /// cleared, their attempts kept); the others are left alone. Returns how many changed; when any did,
    /// the [`OutboxSignal`] is woken with its rescan flag raised.
    pub async fn replay_outbox(&self, ids: Vec<u64>) -> Result<u64, ProvisionError> {
        self.mark_outbox(ids.into(), OutboxState::Pending).await
    }

    /// The signal the engine wakes after every commit that appended or replayed outbox rows.
    pub fn outbox_signal(&self) -> Arc<OutboxSignal> {
        self.outbox_signal.clone()
    }

    /// Runs one purge step of `rule` (see [`pn_store::WriteTx::purge_outbox`]); returns what it removed.
    pub async fn purge_outbox(&self, rule: OutboxRetention) -> Result<OutboxPurge, ProvisionError> {
        match self.submit(Op::PurgeOutbox(rule), crate::system_now()).await? {
            Reply::Purged(purged) => Ok(purged),
            _ => Err(ProvisionError::Internal),
        }
    }
}

/// Applies `rule` every `every` on the tokio runtime (also once at start), on the ticks where this node leads
/// the cluster ([`EngineHandle::try_lead`]; a store of one node always leads), until the engine stops: purge
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
            if !handle.is_running() {
                return;
            }
            if !handle.try_lead().await {
                continue;
            }
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
