//! The shared store's metrics (`pn_store_feed_*`, `pn_store_contention_retries_total`, `pn_store_feed_resyncs_total`): filled by
//! pn-provision's engine when the store is shared (`PostgreSQL`).

use prometheus::{IntCounter, IntGauge, Opts, Registry};

use crate::MetricsError;

/// The change feed and the several-writers rules.
#[derive(Clone)]
pub struct FeedMetrics {
    /// `pn_store_feed_applied`: the last commit of the change feed applied to this node's routing table.
    pub applied: IntGauge,
    /// `pn_store_feed_head`: the feed's head as this node last read it (`head - applied` is the lag).
    pub head: IntGauge,
    /// `pn_store_feed_caught_up`: 1 while the routing table has caught up with the feed (0 at start, or when
    /// the feed no longer holds the commits this node needs).
    pub caught_up: IntGauge,
    /// `pn_store_contention_retries_total`: provisioning writes retried after another node held what they
    /// needed (a deadlock the database broke).
    pub contention_retries: IntCounter,
    /// `pn_store_feed_resyncs_total`: times this node's routing table was brought to a fresh snapshot of the
    /// store in place, because the feed no longer held the commits it needed.
    pub resyncs: IntCounter,
}

impl FeedMetrics {
    pub(crate) fn new(registry: &Registry) -> Result<Self, MetricsError> {
        let applied = IntGauge::with_opts(Opts::new(
            "pn_store_feed_applied",
            "Last change-feed commit applied to the routing table",
        ))?;
        let head = IntGauge::with_opts(Opts::new(
            "pn_store_feed_head",
            "The change feed's head as last read",
        ))?;
        let caught_up = IntGauge::with_opts(Opts::new(
            "pn_store_feed_caught_up",
            "1 while the routing table has caught up with the change feed",
        ))?;
        let contention_retries = IntCounter::with_opts(Opts::new(
            "pn_store_contention_retries_total",
            "Provisioning writes retried because another node held what they needed",
        ))?;
        let resyncs = IntCounter::with_opts(Opts::new(
            "pn_store_feed_resyncs_total",
            "Routing table brought to a fresh store snapshot in place after falling behind the change feed",
        ))?;
        registry.register(Box::new(applied.clone()))?;
        registry.register(Box::new(resyncs.clone()))?;
        registry.register(Box::new(head.clone()))?;
        registry.register(Box::new(caught_up.clone()))?;
        registry.register(Box::new(contention_retries.clone()))?;
        Ok(Self {
            applied,
            head,
            caught_up,
            contention_retries,
            resyncs,
        })
    }
}
