//! pn-metrics: every metric pnswitch exports, defined once, in one Prometheus registry.
//!
//! I/O contract: no I/O. Sans-IO crates never touch this; the runtime and the API count the facts they return.
//! [`Metrics::encode`] renders the text exposition format served at `/metrics`.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

/// All pnswitch metrics and the registry that holds them.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// `pn_api_requests_total{path,method,resultcode}`: provisioning API requests by outcome.
    pub api_requests: IntCounterVec,
    /// `pn_api_request_duration_seconds{path,method}`: API latency, from request to response.
    pub api_latency: HistogramVec,
    /// `pn_bindings{mode,app}`: live bindings by mode and app.
    pub bindings: IntGaugeVec,
    /// `pn_route_lookups_total{outcome}`: route decisions by outcome (connect, collect, reject cause).
    pub lookups: IntCounterVec,
    /// `pn_store_commit_duration_seconds`: time of one durable commit (a group of writes).
    pub store_commit_latency: Histogram,
    /// `pn_store_commit_batch_size`: writes acknowledged by one commit.
    pub store_batch_size: Histogram,
    /// `pn_store_outbox_pending`: outbox entries not yet delivered.
    pub outbox_pending: IntGauge,
}

/// Errors while building or encoding metrics.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MetricsError {
    /// The prometheus crate refused a definition or failed to encode.
    #[error("prometheus: {0}")]
    Prometheus(#[from] prometheus::Error),
    /// The encoder produced bytes that are not UTF-8.
    #[error("metrics text is not UTF-8")]
    NotUtf8,
}

const LATENCY_BUCKETS: &[f64] = &[
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

impl Metrics {
    /// Creates the registry with every metric registered.
    pub fn new() -> Result<Self, MetricsError> {
        let registry = Registry::new();
        let api_requests = IntCounterVec::new(
            Opts::new(
                "pn_api_requests_total",
                "Provisioning API requests by path, method and resultcode",
            ),
            &["path", "method", "resultcode"],
        )?;
        let api_latency = HistogramVec::new(
            HistogramOpts::new(
                "pn_api_request_duration_seconds",
                "Provisioning API request latency",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["path", "method"],
        )?;
        let bindings = IntGaugeVec::new(
            Opts::new("pn_bindings", "Live bindings by mode and app"),
            &["mode", "app"],
        )?;
        let lookups = IntCounterVec::new(
            Opts::new("pn_route_lookups_total", "Route decisions by outcome"),
            &["outcome"],
        )?;
        let store_commit_latency = Histogram::with_opts(
            HistogramOpts::new(
                "pn_store_commit_duration_seconds",
                "Duration of one durable store commit",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
        )?;
        let store_batch_size = Histogram::with_opts(
            HistogramOpts::new(
                "pn_store_commit_batch_size",
                "Writes acknowledged by one store commit",
            )
            .buckets(vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0]),
        )?;
        let outbox_pending = IntGauge::with_opts(Opts::new(
            "pn_store_outbox_pending",
            "Outbox entries not yet delivered",
        ))?;
        registry.register(Box::new(api_requests.clone()))?;
        registry.register(Box::new(api_latency.clone()))?;
        registry.register(Box::new(bindings.clone()))?;
        registry.register(Box::new(lookups.clone()))?;
        registry.register(Box::new(store_commit_latency.clone()))?;
        registry.register(Box::new(store_batch_size.clone()))?;
        registry.register(Box::new(outbox_pending.clone()))?;
        Ok(Self {
            registry,
            api_requests,
            api_latency,
            bindings,
            lookups,
            store_commit_latency,
            store_batch_size,
            outbox_pending,
        })
    }

    /// Renders every metric in the Prometheus text exposition format.
    pub fn encode(&self) -> Result<String, MetricsError> {
        let mut buf = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buf)?;
        String::from_utf8(buf).map_err(|_| MetricsError::NotUtf8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_registered_metrics() {
        let m = Metrics::new().unwrap();
        m.api_requests.with_label_values(&["/x", "POST", "0"]).inc();
        m.store_commit_latency.observe(0.001);
        let text = m.encode().unwrap();
        assert!(text.contains("pn_api_requests_total{method=\"POST\",path=\"/x\",resultcode=\"0\"} 1"));
        assert!(text.contains("pn_store_commit_duration_seconds_count 1"));
    }
}
