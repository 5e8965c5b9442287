//! Cluster-wide jobs of nodes sharing one store: heartbeats, leadership and the takeover of a dead node's
//! pending outbox entries (see `docs/scale.md`).
//!
//! The leader (the store's [`Store::try_lead`]: a session advisory lock on `PostgreSQL`, always this node on
//! `SQLite`) runs the expiry sweep and the outbox retention ([`super::spawn_sweeper`],
//! [`super::spawn_outbox_purger`] skip every tick on which this node does not lead) and, on every heartbeat
//! tick of [`spawn_cluster_jobs`], moves the pending outbox entries of the nodes whose lease ended to itself
//! and wakes its push driver with a rescan. These calls block on the store: they run on tokio's blocking
//! pool.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use pn_metrics::Metrics;
use pn_store::{Store, StoreError};

use super::EngineHandle;
use crate::ProvisionError;

/// The store and metrics of the cluster jobs, shared by every clone of an [`EngineHandle`].
pub(crate) struct Cluster {
    /// The engine's store.
    pub(crate) store: Arc<dyn Store>,
    /// `pn_cluster_leader`, `pn_outbox_taken_over_total`.
    pub(crate) metrics: Metrics,
    /// The answer of the last [`EngineHandle::try_lead`] (to log changes only).
    leading: AtomicBool,
}

impl Cluster {
    /// The cluster jobs of `store`.
    pub(crate) fn new(store: Arc<dyn Store>, metrics: Metrics) -> Self {
        Self {
            store,
            metrics,
            leading: AtomicBool::new(false),
        }
    }
}

/// Timing of [`spawn_cluster_jobs`] (`[cluster]` config).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterJobs {
    /// How often the node sends its heartbeat, tries to lead and (leading) takes over stale outboxes.
    pub heartbeat: Duration,
    /// A node whose last heartbeat is older than this many seconds is dead: its pending outbox entries are
    /// taken over by the leader.
    pub lease_secs: u64,
    /// Most outbox entries one takeover step moves (one statement); steps repeat while they move this many.
    pub takeover_chunk: u32,
    /// The base URL the other nodes reach this node's HTTP API at, announced with every heartbeat.
    pub api_url: String,
}

/// Runs `f` on the store on tokio's blocking pool.
async fn blocking<T: Send + 'static>(
    cluster: &Arc<Cluster>,
    f: impl FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, ProvisionError> {
    let cluster = Arc::clone(cluster);
    tokio::task::spawn_blocking(move || f(&*cluster.store))
        .await
        .map_err(|_| ProvisionError::Internal)?
        .map_err(ProvisionError::from)
}

impl EngineHandle {
    /// Whether this node leads the cluster-wide jobs now (see [`Store::try_lead`]); a store error counts as
    /// not leading. Sets `pn_cluster_leader` and logs each change.
    pub async fn try_lead(&self) -> bool {
        let leads = match blocking(&self.cluster, Store::try_lead).await {
            Ok(leads) => leads,
            Err(e) => {
                tracing::warn!(error = %e, "cluster leadership: the store failed; not leading");
                false
            }
        };
        self.cluster.metrics.cluster_leader.set(i64::from(leads));
        if self.cluster.leading.swap(leads, Ordering::AcqRel) != leads {
            tracing::info!(leads, "cluster leadership changed");
        }
        leads
    }

    /// The expiry sweep on the leader only: `None` when this node does not lead, else how many bindings
    /// [`EngineHandle::sweep`] deleted.
    pub async fn sweep_as_leader(&self, now: pn_bindings::UnixTime) -> Result<Option<u64>, ProvisionError> {
        if !self.try_lead().await {
            return Ok(None);
        }
        self.sweep(now).await.map(Some)
    }

    /// Moves the pending outbox entries of nodes not seen for `lease_secs` to this node, in steps of at
    /// most `chunk` ([`Store::take_over_outbox`]); returns how many moved. When any did, counts them in
    /// `pn_outbox_taken_over_total` and wakes the push driver with a rescan (their ids may be below its
    /// cursor). Call it on the leader only.
    pub async fn take_over_outbox(&self, lease_secs: u64, chunk: u32) -> Result<u64, ProvisionError> {
        let chunk = chunk.max(1);
        let mut moved = 0;
        loop {
            let step = blocking(&self.cluster, move |s| s.take_over_outbox(lease_secs, chunk)).await?;
            moved += step;
            if step > 0 {
                self.cluster.metrics.outbox_taken_over.inc_by(step);
                self.outbox_signal.wake(true);
            }
            if step < u64::from(chunk) {
                break;
            }
        }
        if moved > 0 {
            tracing::info!(
                moved,
                "took over the pending outbox entries of nodes whose lease ended"
            );
        }
        Ok(moved)
    }
}

/// Every `jobs.heartbeat`, until the engine stops: records this node's heartbeat, tries to lead, and
/// leading, takes over the pending outbox entries of nodes whose lease ended. A failed step is logged and
/// retried at the next tick.
pub fn spawn_cluster_jobs(handle: EngineHandle, jobs: ClusterJobs) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(jobs.heartbeat.max(Duration::from_millis(10)));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            if !handle.is_running() {
                return;
            }
            let api_url = jobs.api_url.clone();
            if let Err(e) = blocking(&handle.cluster, move |s| s.heartbeat(&api_url)).await {
                tracing::warn!(error = %e, "cluster heartbeat failed");
            }
            if handle.try_lead().await {
                if let Err(e) = handle
                    .take_over_outbox(jobs.lease_secs, jobs.takeover_chunk)
                    .await
                {
                    tracing::warn!(error = %e, "outbox takeover failed");
                }
            }
        }
    })
}
