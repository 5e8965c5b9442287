//! The push driver's metrics (`pn_push_*`): filled by pn-push.

use prometheus::{HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry};

use crate::MetricsError;

/// Delivery lag buckets, seconds: from a few milliseconds (a local receiver) to the reference's last retry.
const LAG_BUCKETS: [f64; 16] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 600.0, 3600.0, 18_000.0,
];

/// Pushes to the apps' URLs (call events, CDRs, SMS and number-status notifications).
#[derive(Clone)]
pub struct PushMetrics {
    /// `pn_push_requests_total{kind,app,outcome}`: HTTP pushes by kind, app (its name, or its key: `AppLabel`) and outcome (`delivered`,
    /// `http_status`, `timeout`, `connect`, `error`).
    pub requests: IntCounterVec,
    /// `pn_push_request_duration_seconds{kind}`: one push, from its start to the receiver's answer or failure.
    pub request_duration: HistogramVec,
    /// `pn_push_delivery_lag_seconds{kind}`: an outbox entry, from the driver first reading it to the 2xx
    /// that delivered it (retries included).
    pub lag: HistogramVec,
    /// `pn_push_dead_lettered_total{kind,app}`: entries whose last retry failed (listed and replayed through
    /// the admin API).
    pub dead_lettered: IntCounterVec,
    /// `pn_push_no_receiver_total{kind}`: entries kept without a push because their app has no URL for them.
    pub no_receiver: IntCounterVec,
    /// `pn_push_in_flight`: pushes awaiting their receiver's answer.
    pub in_flight: IntGauge,
    /// `pn_push_held`: entries the driver holds in memory (queued, waiting for their turn, or in flight).
    pub held: IntGauge,
    /// `pn_push_mark_failures_total`: failed commits of delivery states (the entries are pushed again after a
    /// restart if it never succeeds).
    pub mark_failures: IntCounter,
    /// How the `app` labels name apps.
    pub app_label: crate::AppLabel,
}

impl PushMetrics {
    pub(crate) fn new(registry: &Registry) -> Result<Self, MetricsError> {
        let requests = IntCounterVec::new(
            Opts::new(
                "pn_push_requests_total",
                "Pushes to the apps' URLs by kind, app and outcome",
            ),
            &["kind", "app", "outcome"],
        )?;
        let request_duration = HistogramVec::new(
            HistogramOpts::new("pn_push_request_duration_seconds", "Duration of one push request")
                .buckets(LAG_BUCKETS.to_vec()),
            &["kind"],
        )?;
        let lag = HistogramVec::new(
            HistogramOpts::new(
                "pn_push_delivery_lag_seconds",
                "From reading an outbox entry to its delivery (retries included)",
            )
            .buckets(LAG_BUCKETS.to_vec()),
            &["kind"],
        )?;
        let dead_lettered = IntCounterVec::new(
            Opts::new(
                "pn_push_dead_lettered_total",
                "Push entries dead-lettered after their last retry",
            ),
            &["kind", "app"],
        )?;
        let no_receiver = IntCounterVec::new(
            Opts::new(
                "pn_push_no_receiver_total",
                "Outbox entries whose app has no URL for their kind",
            ),
            &["kind"],
        )?;
        let in_flight = IntGauge::with_opts(Opts::new("pn_push_in_flight", "Pushes awaiting an answer"))?;
        let held = IntGauge::with_opts(Opts::new("pn_push_held", "Push entries held in memory"))?;
        let mark_failures = IntCounter::with_opts(Opts::new(
            "pn_push_mark_failures_total",
            "Failed commits of delivery states (retried)",
        ))?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(request_duration.clone()))?;
        registry.register(Box::new(lag.clone()))?;
        registry.register(Box::new(dead_lettered.clone()))?;
        registry.register(Box::new(no_receiver.clone()))?;
        registry.register(Box::new(in_flight.clone()))?;
        registry.register(Box::new(held.clone()))?;
        registry.register(Box::new(mark_failures.clone()))?;
        Ok(Self {
            requests,
            request_duration,
            lag,
            dead_lettered,
            no_receiver,
            in_flight,
            held,
            mark_failures,
            app_label: crate::AppLabel::Name,
        })
    }
}
