//! pn-metrics: every metric pnswitch exports, defined once, in one Prometheus registry.
//!
//! I/O contract: no I/O. Sans-IO crates never touch this; the runtime and the API count the facts they return.
//! [`Metrics::encode`] renders the text exposition format served at `/metrics`.

mod feed;
mod process;
mod push;

pub use feed::FeedMetrics;
pub use push::PushMetrics;

/// How metrics name an app in their `app` label. `/metrics` is unauthenticated, and an app key is half of
/// the app's credentials, so the default is the app's name (`http.metrics_app_keys = true` shows keys).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AppLabel {
    /// The app's name (what the operator called it).
    #[default]
    Name,
    /// The app key.
    Key,
}

impl AppLabel {
    /// The label value of the app called `name` with key `key`.
    pub fn of<'a>(self, name: &'a str, key: &'a str) -> &'a str {
        match self {
            Self::Name => name,
            Self::Key => key,
        }
    }
}

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
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
    /// `pn_route_lookups_total{outcome}`: route decisions by outcome (connect, collect, ask (X mode), reject cause).
    pub lookups: IntCounterVec,
    /// `pn_store_commit_duration_seconds`: time of one durable commit (a group of writes).
    pub store_commit_latency: Histogram,
    /// `pn_store_commit_batch_size`: writes acknowledged by one commit.
    pub store_batch_size: Histogram,
    /// `pn_store_memory_releases_total`: times the single writer, idle for `api.engine.idle_release_ms`, gave
    /// back the store's page caches (SQLite).
    pub store_memory_releases: IntCounter,
    /// `pn_store_outbox_pending`: outbox entries waiting for delivery (state pending), after the last commit
    /// that changed the outbox (and at start).
    pub outbox_pending: IntGauge,
    /// `pn_store_outbox_rows`: outbox rows in every state (pending, delivered, dead, no receiver): what the
    /// retention rule bounds.
    pub outbox_rows: IntGauge,
    /// `pn_push_dead_letters`: outbox entries whose delivery gave up (state dead), waiting for a replay or
    /// the retention purge.
    pub push_dead_letters: IntGauge,
    /// `pn_store_outbox_purged_total{reason}`: outbox rows removed by the retention rule: `age` (older than
    /// `outbox.retention_secs`) or `cap` (younger, removed because the outbox held more than
    /// `outbox.max_rows`).
    pub outbox_purged: IntCounterVec,
    /// `pn_cluster_leader`: 1 while this node leads the cluster-wide jobs (expiry sweep, outbox retention,
    /// outbox takeover), 0 otherwise (a node on `SQLite` always leads).
    pub cluster_leader: IntGauge,
    /// `pn_outbox_taken_over_total`: pending outbox entries this node took over from nodes whose heartbeat
    /// lease ended (delivered from here from then on).
    pub outbox_taken_over: IntCounter,
    /// `pn_cluster_recording_searches_total{outcome}`: recordings asked for by name that were not on this
    /// node, searched for on the other live nodes: `held` (a node holds it: 301 naming it), `nowhere` (every
    /// live node said no: 1012007), `unknown` (a node did not answer in time and none held it: 1010001).
    pub recording_searches: IntCounterVec,
    /// SIP call-path metrics (`pn_sip_*`, `pn_outbox_*`).
    pub sip: SipMetrics,
    /// HTTP server metrics (`pn_http_*`).
    pub http: HttpMetrics,
    /// Push driver metrics (`pn_push_*`).
    pub push: PushMetrics,
    /// The shared store's change feed and contention (`pn_store_feed_*`).
    pub feed: FeedMetrics,
    /// How the `app` labels name apps (set once at start, before the metrics are shared).
    pub app_label: AppLabel,
}

/// The HTTP server's connection metrics: filled by pnswitch's accept loop.
#[derive(Clone)]
pub struct HttpMetrics {
    /// `pn_http_connections`: open HTTP connections (at most `http.max_connections`).
    pub connections: IntGauge,
    /// `pn_http_connections_refused_total`: connections closed at once because `http.max_connections` were
    /// open.
    pub refused: IntCounter,
    /// `pn_http_timeouts_total{kind}`: connections closed or requests answered 408 by a timeout: `header`
    /// (request head too slow), `idle` (nothing moved between requests), `request` (body too slow: 408).
    pub timeouts: IntCounterVec,
}

impl HttpMetrics {
    fn new(registry: &Registry) -> Result<Self, MetricsError> {
        let connections = IntGauge::with_opts(Opts::new("pn_http_connections", "Open HTTP connections"))?;
        let refused = IntCounter::with_opts(Opts::new(
            "pn_http_connections_refused_total",
            "HTTP connections refused because the connection cap was reached",
        ))?;
        let timeouts = IntCounterVec::new(
            Opts::new(
                "pn_http_timeouts_total",
                "HTTP connections closed (header, idle) or requests answered 408 (request) by a timeout",
            ),
            &["kind"],
        )?;
        registry.register(Box::new(connections.clone()))?;
        registry.register(Box::new(refused.clone()))?;
        registry.register(Box::new(timeouts.clone()))?;
        preset(&timeouts, &["header", "idle", "request"]);
        Ok(Self {
            connections,
            refused,
            timeouts,
        })
    }
}

/// The SIP runtime's metrics: filled by pnswitch from the B2BUA's facts and statistics.
#[derive(Clone)]
pub struct SipMetrics {
    /// `pn_sip_calls_total{outcome,cause}`: finished calls by outcome (answered, rejected, failed,
    /// cancelled…) and stateCode cause.
    pub calls: IntCounterVec,
    /// `pn_sip_active_calls`: calls in progress (all shards).
    pub active_calls: IntGauge,
    /// `pn_sip_setup_seconds`: from the caller's INVITE to the callee's first answer (ringing or answer).
    pub setup_latency: Histogram,
    /// `pn_sip_queue_delay_seconds`: how long each received message waited in its shard's queue (the
    /// overload signal).
    pub queue_delay: Histogram,
    /// `pn_sip_queue_depth{shard}`: messages waiting in each shard's queue, after its last burst.
    pub queue_depth: prometheus::IntGaugeVec,
    /// `pn_sip_held{shard,kind}`: what each shard holds: `calls` (up, or ended and waiting for their B leg's
    /// final answer), `dialogs`, `server_transactions`, `client_transactions` (the memory that follows the call
    /// rate: finished transactions wait out their RFC 3261 timers).
    pub held: prometheus::IntGaugeVec,
    /// `pn_sip_transactions_total`: SIP transactions created (client and server).
    pub transactions: IntCounter,
    /// `pn_sip_retransmissions_total`: SIP messages retransmitted on timers.
    pub retransmissions: IntCounter,
    /// `pn_sip_parse_errors_total{transport}`: received bytes that were not a SIP message.
    pub parse_errors: IntCounterVec,
    /// `pn_sip_acl_rejects_total`: INVITEs refused with 403 because the source is not a trusted peer.
    pub acl_rejects: IntCounter,
    /// `pn_outbox_dropped_total`: call facts that could not be kept for the outbox (its queue or its retry
    /// buffer was full, or the switch stopped while they were buffered); each is logged at error level with
    /// its JSON (target `pnswitch::lost_fact`).
    pub outbox_dropped: IntCounter,
    /// `pn_outbox_degraded`: 1 while call facts cannot be stored (a commit failed and facts wait in the retry
    /// buffer, or the queue overflowed): new calls are refused with 503 / 7102. 0 when healthy.
    pub outbox_degraded: IntGauge,
    /// `pn_outbox_buffered`: call facts waiting in memory for their commit (retried until it succeeds).
    pub outbox_buffered: IntGauge,
    /// `pn_outbox_write_failures_total`: outbox commits that failed (each is retried with backoff).
    pub outbox_write_failures: IntCounter,
    /// `pn_sip_overload_drops_total`: received messages dropped because their shard's queue was full.
    pub overload_drops: IntCounter,
    /// `pn_sip_overload_refusals_total{at}`: new INVITEs answered 503 (cause 522, `Retry-After`) because the
    /// switch is behind: `shard` (it waited longer than `sip.overload_queue_delay_ms` in its shard's queue),
    /// `behind` (its shard was behind: answered by the receive loop without being queued), `queue_full` (its
    /// shard's queue was full: answered by the receive loop).
    pub overload_refusals: IntCounterVec,
    /// `pn_media_relays`: calls with an open media relay (relay mode, all shards).
    pub media_relays: IntGauge,
    /// `pn_media_ports_bound`: UDP ports the relays hold bound (relay mode, all shards): the ports of the calls
    /// with a relay and the parked ones, kept for reuse after their call (`media.port_rest_ms`,
    /// `media.port_idle_secs`). One file descriptor each.
    pub media_ports_bound: IntGauge,
    /// `pn_media_packets_total{outcome}`: RTP/RTCP datagrams the relays handled: `forwarded`, `dropped`
    /// (malformed, no destination yet, the party hears a prompt, or a parked port: the call ended),
    /// `refused` (a source the latching whitelist refused: another host than the party's SDP names, another
    /// source while the latched one talks, a stream of the port's previous call), `played` (prompt frames
    /// the switch sent), `busy` (a receive task found the relays in use: should stay 0).
    pub media_packets: IntCounterVec,
    /// `pn_media_events_total{kind}`: `digit` (DTMF detected in RTP), `timeout` (dead media), `open_failed`
    /// (a call's ports could not be bound), `recording` (recordings started).
    pub media_events: IntCounterVec,
    /// `pn_media_sends_total{kind}`: how the relays' datagrams left: `sendto` (system calls sending one
    /// datagram), `sendmmsg` (system calls sending a run of datagrams through one port at once), `failed`
    /// (datagrams the kernel refused to send: dropped).
    pub media_sends: IntCounterVec,
    /// `pn_sip_dialog_events_total{event}`: what the B2BUA did to keep dialogs honest: `probe` (in-dialog
    /// OPTIONS sent to a leg of an answered call), `dead_dialog` (a call released because a leg's probe got
    /// 481/408 or no answer), `session_timer` (a call released because its RFC 4028 session expired),
    /// `validation_reject` (requests refused by validation: 400, 416, 420, 483, 505…), `unmatched_request`
    /// (in-dialog requests that matched no dialog: 481), `stray_response` (responses that matched no transaction).
    pub dialog_events: IntCounterVec,
    /// `pn_xmode_decisions_total{outcome}`: X-mode customer decisions: `connect`, `close`, `invalid` (an
    /// unparseable or out-of-range reply: 8014, or a display number other than X: 8024), `timeout` (no reply
    /// within `xmode_decision_timeout_ms`: 8040), `failed` (the request failed: 8040), `full` (not asked: the
    /// shard already held `sip.b2bua.xmode_max_pending` calls waiting; 522).
    pub xmode_decisions: IntCounterVec,
    /// `pn_sms_total{outcome}`: SIP MESSAGEs to X (SMS, reference §7.1): `relayed` (the far end answered 2xx),
    /// `refused` (no binding, SMS not enabled, discarded or undecided by the app's Block reply…: answered with
    /// the sendResult), `failed` (relayed, but the far end answered an error or not at all).
    pub sms: IntCounterVec,
    /// `pn_sms_block_total{outcome}`: the apps' SMS Block decisions: `route` (`vNumberRoute`, relayed),
    /// `discard` (`DiscardMessage`: sendResult 6), `invalid` (a bad reply: 5), `timeout` (no reply within
    /// `xmode_decision_timeout_ms`: 7), `failed` (the request failed, or the shard stopped: 5), `full` (too
    /// many SMS waiting on the shard: refused at once, 5).
    pub sms_block: IntCounterVec,
    /// `pn_sip_trunk_up{trunk}`: 1 while an egress trunk is up (no probes, or its OPTIONS probes answer), 0 while
    /// its probes fail (its calls go to the other trunks). Preset for the configured trunks ([`SipMetrics::preset_trunks`]).
    pub trunk_up: IntGaugeVec,
    /// `pn_sip_trunk_failovers_total{trunk}`: B legs moved away from this trunk to the next (it answered 408 or
    /// 5xx, timed out, or gave no provisional answer within its `failover_timeout_ms`).
    pub trunk_failovers: IntCounterVec,
}

const SETUP_BUCKETS: &[f64] = &[
    0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

impl SipMetrics {
    #[allow(clippy::too_many_lines)] // one definition and registration per metric, in order
    fn new(registry: &Registry) -> Result<Self, MetricsError> {
        let calls = IntCounterVec::new(
            Opts::new("pn_sip_calls_total", "Finished calls by outcome and cause"),
            &["outcome", "cause"],
        )?;
        let active_calls = IntGauge::with_opts(Opts::new("pn_sip_active_calls", "Calls in progress"))?;
        let setup_latency = Histogram::with_opts(
            HistogramOpts::new(
                "pn_sip_setup_seconds",
                "Call setup latency: caller INVITE to the callee's first ringing or answer",
            )
            .buckets(SETUP_BUCKETS.to_vec()),
        )?;
        let queue_delay = Histogram::with_opts(
            HistogramOpts::new(
                "pn_sip_queue_delay_seconds",
                "How long received SIP messages waited in their shard's queue",
            )
            .buckets(vec![
                0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0,
            ]),
        )?;
        registry.register(Box::new(queue_delay.clone()))?;
        let queue_depth = prometheus::IntGaugeVec::new(
            Opts::new("pn_sip_queue_depth", "Messages waiting in each shard's queue"),
            &["shard"],
        )?;
        registry.register(Box::new(queue_depth.clone()))?;
        let held = prometheus::IntGaugeVec::new(
            Opts::new(
                "pn_sip_held",
                "Calls, dialogs and SIP transactions each shard holds",
            ),
            &["shard", "kind"],
        )?;
        registry.register(Box::new(held.clone()))?;
        let transactions =
            IntCounter::with_opts(Opts::new("pn_sip_transactions_total", "SIP transactions created"))?;
        let retransmissions = IntCounter::with_opts(Opts::new(
            "pn_sip_retransmissions_total",
            "SIP messages retransmitted",
        ))?;
        let parse_errors = IntCounterVec::new(
            Opts::new(
                "pn_sip_parse_errors_total",
                "Received SIP bytes that did not parse",
            ),
            &["transport"],
        )?;
        let acl_rejects = IntCounter::with_opts(Opts::new(
            "pn_sip_acl_rejects_total",
            "INVITEs refused because the source is not a trusted peer",
        ))?;
        let outbox_dropped = IntCounter::with_opts(Opts::new(
            "pn_outbox_dropped_total",
            "Call facts that could not be kept for the outbox (logged at error level with their content)",
        ))?;
        let outbox_degraded = IntGauge::with_opts(Opts::new(
            "pn_outbox_degraded",
            "1 while call facts cannot be stored and new calls are refused",
        ))?;
        let outbox_buffered = IntGauge::with_opts(Opts::new(
            "pn_outbox_buffered",
            "Call facts waiting in memory for their outbox commit",
        ))?;
        let outbox_write_failures = IntCounter::with_opts(Opts::new(
            "pn_outbox_write_failures_total",
            "Outbox commits that failed (retried)",
        ))?;
        registry.register(Box::new(calls.clone()))?;
        registry.register(Box::new(active_calls.clone()))?;
        registry.register(Box::new(setup_latency.clone()))?;
        registry.register(Box::new(transactions.clone()))?;
        registry.register(Box::new(retransmissions.clone()))?;
        registry.register(Box::new(parse_errors.clone()))?;
        registry.register(Box::new(acl_rejects.clone()))?;
        let overload_drops = IntCounter::with_opts(Opts::new(
            "pn_sip_overload_drops_total",
            "Received SIP messages dropped because their shard's queue was full",
        ))?;
        registry.register(Box::new(outbox_dropped.clone()))?;
        registry.register(Box::new(outbox_degraded.clone()))?;
        registry.register(Box::new(outbox_buffered.clone()))?;
        registry.register(Box::new(outbox_write_failures.clone()))?;
        registry.register(Box::new(overload_drops.clone()))?;
        let overload_refusals = registered_vec(
            registry,
            "pn_sip_overload_refusals_total",
            "New INVITEs answered 503 (cause 522) because the switch is behind: shard (queued too long), behind (its shard is behind), queue_full",
            "at",
        )?;
        preset(&overload_refusals, &["shard", "behind", "queue_full"]);
        let media_relays =
            IntGauge::with_opts(Opts::new("pn_media_relays", "Calls with an open media relay"))?;
        let media_ports_bound = IntGauge::with_opts(Opts::new(
            "pn_media_ports_bound",
            "UDP ports the media relays hold bound: their calls' and the parked ones (one file descriptor each)",
        ))?;
        let media_packets = registered_vec(
            registry,
            "pn_media_packets_total",
            "RTP/RTCP datagrams handled by the media relays",
            "outcome",
        )?;
        let media_events = registered_vec(
            registry,
            "pn_media_events_total",
            "Media plane events: digits, dead media, bind failures, recordings",
            "kind",
        )?;
        let media_sends = registered_vec(
            registry,
            "pn_media_sends_total",
            "How the media relays sent their datagrams: sendto and sendmmsg system calls, datagrams the kernel refused",
            "kind",
        )?;
        registry.register(Box::new(media_relays.clone()))?;
        registry.register(Box::new(media_ports_bound.clone()))?;
        let dialog_events = registered_vec(
            registry,
            "pn_sip_dialog_events_total",
            "Dialog probes, dead dialogs, session-timer expiries, refused, unmatched and stray SIP messages",
            "event",
        )?;
        preset(
            &dialog_events,
            &[
                "probe",
                "dead_dialog",
                "session_timer",
                "validation_reject",
                "unmatched_request",
                "stray_response",
            ],
        );
        let xmode_decisions = registered_vec(
            registry,
            "pn_xmode_decisions_total",
            "X-mode customer decisions by outcome (connect, close, invalid, timeout, failed, full)",
            "outcome",
        )?;
        let trunk_up = IntGaugeVec::new(
            Opts::new(
                "pn_sip_trunk_up",
                "1 while an egress trunk is up (its OPTIONS probes answer), else 0",
            ),
            &["trunk"],
        )?;
        registry.register(Box::new(trunk_up.clone()))?;
        let trunk_failovers = registered_vec(
            registry,
            "pn_sip_trunk_failovers_total",
            "B legs moved from this trunk to the next (408, 5xx, timeout, no provisional answer in time)",
            "trunk",
        )?;
        Ok(Self {
            trunk_up,
            trunk_failovers,
            calls,
            active_calls,
            setup_latency,
            queue_delay,
            queue_depth,
            held,
            transactions,
            retransmissions,
            parse_errors,
            acl_rejects,
            outbox_dropped,
            outbox_degraded,
            outbox_buffered,
            outbox_write_failures,
            overload_drops,
            overload_refusals,
            media_relays,
            media_ports_bound,
            media_packets,
            media_sends,
            media_events,
            dialog_events,
            xmode_decisions,
            sms: sms_counter(registry)?,
            sms_block: sms_block_counter(registry)?,
        })
    }
}

impl SipMetrics {
    /// Presets the trunk metrics of `names` (failovers at 0, up at 1) and drops those of trunks no longer
    /// configured (a reload).
    pub fn preset_trunks(&self, names: &[&str]) {
        self.trunk_up.reset();
        for name in names {
            self.trunk_up.with_label_values(&[name]).set(1);
            self.trunk_failovers.with_label_values(&[name]);
        }
    }
}

/// A counter with one label, registered in `registry`.
fn registered_vec(
    registry: &Registry,
    name: &str,
    help: &str,
    label: &str,
) -> Result<IntCounterVec, MetricsError> {
    let counter = IntCounterVec::new(Opts::new(name, help), &[label])?;
    registry.register(Box::new(counter.clone()))?;
    Ok(counter)
}

/// `pn_sms_total{outcome}`, every outcome at 0 from the start.
fn sms_counter(registry: &Registry) -> Result<IntCounterVec, MetricsError> {
    let counter = registered_vec(
        registry,
        "pn_sms_total",
        "SMS (SIP MESSAGE to X) by outcome",
        "outcome",
    )?;
    preset(&counter, &["relayed", "refused", "failed"]);
    Ok(counter)
}

/// `pn_sms_block_total{outcome}`, every outcome at 0 from the start.
fn sms_block_counter(registry: &Registry) -> Result<IntCounterVec, MetricsError> {
    let counter = registered_vec(
        registry,
        "pn_sms_block_total",
        "SMS Block decisions of the apps by outcome (route, discard, invalid, timeout, failed, full)",
        "outcome",
    )?;
    preset(
        &counter,
        &["route", "discard", "invalid", "timeout", "failed", "full"],
    );
    Ok(counter)
}

/// Creates `counter`'s series for each of `labels` at 0, so alerts on the first event can fire (a rate over
/// a series that does not exist yet is empty, not 0).
fn preset(counter: &IntCounterVec, labels: &[&str]) {
    for label in labels {
        counter.with_label_values(&[label]);
    }
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

/// `pn_cluster_leader`, `pn_outbox_taken_over_total` and `pn_cluster_recording_searches_total`, registered
/// in `registry`.
fn cluster_metrics(registry: &Registry) -> Result<(IntGauge, IntCounter, IntCounterVec), MetricsError> {
    let leader = IntGauge::with_opts(Opts::new(
        "pn_cluster_leader",
        "1 while this node leads the cluster-wide jobs, 0 otherwise",
    ))?;
    let taken_over = IntCounter::with_opts(Opts::new(
        "pn_outbox_taken_over_total",
        "Pending outbox entries taken over from nodes whose heartbeat lease ended",
    ))?;
    let searches = IntCounterVec::new(
        Opts::new(
            "pn_cluster_recording_searches_total",
            "Recordings asked for by name, not held here, searched for on the other nodes, by outcome",
        ),
        &["outcome"],
    )?;
    preset(&searches, &["held", "nowhere", "unknown"]);
    registry.register(Box::new(leader.clone()))?;
    registry.register(Box::new(taken_over.clone()))?;
    registry.register(Box::new(searches.clone()))?;
    Ok((leader, taken_over, searches))
}

/// The single writer's store metrics: commit latency, commit batch size, idle memory releases (registered).
fn store_metrics(registry: &Registry) -> Result<(Histogram, Histogram, IntCounter), MetricsError> {
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
    let store_memory_releases = IntCounter::with_opts(Opts::new(
        "pn_store_memory_releases_total",
        "Times the idle single writer gave back the store's page caches",
    ))?;
    registry.register(Box::new(store_commit_latency.clone()))?;
    registry.register(Box::new(store_batch_size.clone()))?;
    registry.register(Box::new(store_memory_releases.clone()))?;
    Ok((store_commit_latency, store_batch_size, store_memory_releases))
}

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
        let (store_commit_latency, store_batch_size, store_memory_releases) = store_metrics(&registry)?;
        let outbox_pending = IntGauge::with_opts(Opts::new(
            "pn_store_outbox_pending",
            "Outbox entries waiting for delivery",
        ))?;
        let outbox_rows = IntGauge::with_opts(Opts::new(
            "pn_store_outbox_rows",
            "Outbox rows in every state (pending, delivered, dead, no receiver)",
        ))?;
        let push_dead_letters = IntGauge::with_opts(Opts::new(
            "pn_push_dead_letters",
            "Outbox entries whose delivery gave up (dead letters), until replayed or purged",
        ))?;
        let outbox_purged = IntCounterVec::new(
            Opts::new(
                "pn_store_outbox_purged_total",
                "Outbox rows removed by the retention rule (age or row cap)",
            ),
            &["reason"],
        )?;
        preset(&outbox_purged, &["age", "cap"]);
        let (cluster_leader, outbox_taken_over, recording_searches) = cluster_metrics(&registry)?;
        registry.register(Box::new(api_requests.clone()))?;
        registry.register(Box::new(api_latency.clone()))?;
        registry.register(Box::new(bindings.clone()))?;
        registry.register(Box::new(lookups.clone()))?;
        registry.register(Box::new(outbox_pending.clone()))?;
        registry.register(Box::new(outbox_rows.clone()))?;
        registry.register(Box::new(push_dead_letters.clone()))?;
        registry.register(Box::new(outbox_purged.clone()))?;
        let sip = SipMetrics::new(&registry)?;
        preset(
            &sip.media_events,
            &["digit", "timeout", "open_failed", "recording"],
        );
        preset(&sip.media_packets, &["forwarded", "dropped", "refused", "played"]);
        preset(&sip.media_sends, &["sendto", "sendmmsg", "failed"]);
        let http = HttpMetrics::new(&registry)?;
        let push = PushMetrics::new(&registry)?;
        let feed = FeedMetrics::new(&registry)?;
        Ok(Self {
            registry,
            api_requests,
            api_latency,
            bindings,
            lookups,
            store_commit_latency,
            store_batch_size,
            store_memory_releases,
            outbox_pending,
            outbox_rows,
            push_dead_letters,
            outbox_purged,
            cluster_leader,
            outbox_taken_over,
            recording_searches,
            sip,
            http,
            push,
            feed,
            app_label: AppLabel::Name,
        })
    }

    /// Names apps in `app` labels by `label` (here and in the push metrics).
    pub fn set_app_label(&mut self, label: AppLabel) {
        self.app_label = label;
        self.push.app_label = label;
    }

    /// Adds `pn_build_info{version, commit}` and the `process_*` metrics (called once by `serve`; tests and
    /// tools that build a `Metrics` of their own go without them).
    pub fn register_process(&self, version: &str, commit: &str) -> Result<(), MetricsError> {
        process::register(&self.registry, version, commit)
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

    #[test]
    fn build_info_and_process_metrics() {
        let m = Metrics::new().unwrap();
        assert!(!m.encode().unwrap().contains("pn_build_info"));
        m.register_process("1.2.3", "abc123").unwrap();
        let text = m.encode().unwrap();
        assert!(
            text.contains("pn_build_info{commit=\"abc123\",version=\"1.2.3\"} 1"),
            "{text}"
        );
        assert!(text.contains("process_resident_memory_bytes "), "{text}");
        assert!(text.contains("process_cpu_seconds_total "), "{text}");
        assert!(m.register_process("1.2.3", "abc123").is_err(), "registered once");
    }

    #[test]
    fn sip_metrics_are_registered() {
        let m = Metrics::new().unwrap();
        m.sip.calls.with_label_values(&["answered", "0"]).inc();
        m.sip.acl_rejects.inc();
        m.sip.setup_latency.observe(0.01);
        let text = m.encode().unwrap();
        assert!(
            text.contains("pn_sip_calls_total{cause=\"0\",outcome=\"answered\"} 1"),
            "{text}"
        );
        assert!(text.contains("pn_sip_acl_rejects_total 1"));
        assert!(text.contains("pn_sip_setup_seconds_count 1"));
        assert!(text.contains("pn_outbox_dropped_total 0"));
        assert!(text.contains("pn_outbox_degraded 0"));
        assert!(text.contains("pn_outbox_buffered 0"));
        assert!(text.contains("pn_outbox_write_failures_total 0"));
        // Alerts watch these from the first event on: they exist at 0 from the start.
        for kind in ["digit", "timeout", "open_failed", "recording"] {
            assert!(
                text.contains(&format!("pn_media_events_total{{kind=\"{kind}\"}} 0")),
                "{kind}: {text}"
            );
        }
        for outcome in ["forwarded", "dropped", "refused", "played"] {
            assert!(
                text.contains(&format!("pn_media_packets_total{{outcome=\"{outcome}\"}} 0")),
                "{outcome}: {text}"
            );
        }
        for kind in ["sendto", "sendmmsg", "failed"] {
            assert!(
                text.contains(&format!("pn_media_sends_total{{kind=\"{kind}\"}} 0")),
                "{kind}: {text}"
            );
        }
    }

    #[test]
    fn outbox_store_metrics_are_registered() {
        let m = Metrics::new().unwrap();
        m.outbox_pending.set(7);
        m.outbox_rows.set(11);
        m.push_dead_letters.set(2);
        m.outbox_purged.with_label_values(&["cap"]).inc_by(3);
        let text = m.encode().unwrap();
        assert!(text.contains("pn_store_outbox_pending 7"), "{text}");
        assert!(text.contains("pn_store_outbox_rows 11"), "{text}");
        assert!(text.contains("pn_push_dead_letters 2"), "{text}");
        assert!(
            text.contains("pn_store_outbox_purged_total{reason=\"cap\"} 3"),
            "{text}"
        );
    }

    #[test]
    fn http_metrics_are_registered() {
        let m = Metrics::new().unwrap();
        m.http.connections.inc();
        m.http.refused.inc();
        m.http.timeouts.with_label_values(&["idle"]).inc();
        let text = m.encode().unwrap();
        assert!(text.contains("pn_http_connections 1"), "{text}");
        assert!(text.contains("pn_http_connections_refused_total 1"), "{text}");
        assert!(text.contains("pn_http_timeouts_total{kind=\"idle\"} 1"), "{text}");
    }
}
