//! One call shard: a dedicated thread with its own current-thread tokio loop owning one [`B2bua`]. It feeds
//! received messages and expired deadlines in (with `Instant::now()` and the wall clock), drains the outputs
//! (SIP to the UDP sockets or the TCP hub, call facts to the outbox queue), counts what the core reports,
//! and sleeps until the next message or deadline. Nothing on this path takes a lock shared with another
//! shard.

use std::collections::HashMap;
use std::time::Instant;

use pn_b2bua::{B2bua, B2buaConfig, CallFact, Cdr, Output, Shard, Stats, Transport};
use pn_metrics::SipMetrics;
use pn_sip::SipMessage;
use prometheus::IntCounter;
use tokio::sync::mpsc;

use super::dispatch::Inbound;
use super::mask::mask;
use super::outbox::FactSink;
use super::route::TableRouter;
use super::tcp::TcpHub;
use super::udp::UdpSockets;

/// Messages taken from the queue before outputs are flushed.
const BURST: usize = 64;

/// Everything a shard owns.
pub(crate) struct ShardParts {
    /// Which shard, of how many.
    pub(crate) shard: Shard,
    /// The B2BUA settings (with `local_host` resolved).
    pub(crate) config: B2buaConfig,
    /// Route decisions over the binding table.
    pub(crate) router: TableRouter,
    /// UDP send side.
    pub(crate) udp: UdpSockets,
    /// TCP send side.
    pub(crate) tcp: TcpHub,
    /// Call facts to the outbox.
    pub(crate) facts: FactSink,
    /// Call-path metrics.
    pub(crate) metrics: SipMetrics,
}

/// Starts the shard's thread, which runs until it receives [`Inbound::Stop`] or its queue closes.
pub(crate) fn spawn(
    parts: ShardParts,
    rx: mpsc::Receiver<Inbound>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("pn-shard-{}", parts.shard.index))
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => {
                    tracing::error!(error = %e, shard = parts.shard.index, "cannot start the shard's event loop");
                    return;
                }
            };
            let mut runner = Runner::new(parts);
            runtime.block_on(runner.run(rx));
        })
}

/// The shard's state while running.
struct Runner {
    b2bua: B2bua,
    parts: ShardParts,
    /// Stats already exported (the core's counters are cumulative).
    seen: Stats,
    /// Active calls already added to the gauge.
    active: i64,
    /// `pn_sip_calls_total` children, resolved once per (outcome, cause).
    calls: HashMap<(&'static str, u16), IntCounter>,
}

impl Runner {
    fn new(parts: ShardParts) -> Self {
        Self {
            b2bua: B2bua::new(parts.config.clone(), parts.shard),
            parts,
            seen: Stats::default(),
            active: 0,
            calls: HashMap::new(),
        }
    }

    async fn run(&mut self, mut rx: mpsc::Receiver<Inbound>) {
        loop {
            if self.b2bua.poll_timeout().is_some_and(|at| at <= Instant::now()) {
                self.b2bua.handle_timeout(Instant::now(), super::unix_now());
                self.flush().await;
            }
            let next = match self.b2bua.poll_timeout() {
                Some(at) => {
                    tokio::select! {
                        m = rx.recv() => Some(m),
                        () = tokio::time::sleep_until(tokio::time::Instant::from_std(at)) => None,
                    }
                }
                None => Some(rx.recv().await),
            };
            match next {
                None => self.b2bua.handle_timeout(Instant::now(), super::unix_now()),
                Some(None | Some(Inbound::Stop)) => break,
                Some(Some(Inbound::Message { from, message })) => {
                    self.handle(from, message);
                    let mut stop = false;
                    for _ in 1..BURST {
                        match rx.try_recv() {
                            Ok(Inbound::Message { from, message }) => self.handle(from, message),
                            Ok(Inbound::Stop) => {
                                stop = true;
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    if stop {
                        self.flush().await;
                        break;
                    }
                }
            }
            self.flush().await;
        }
        self.sync_stats();
        self.parts.metrics.active_calls.sub(self.active);
    }

    fn handle(&mut self, from: pn_b2bua::Peer, message: SipMessage) {
        let span = tracing::debug_span!(
            "sip",
            shard = self.parts.shard.index,
            call_id = message.headers().get("Call-ID").unwrap_or_default(),
        );
        let _entered = span.enter();
        if tracing::enabled!(tracing::Level::DEBUG) {
            log_message(&from, &message);
        }
        self.b2bua.handle_message(
            Instant::now(),
            super::unix_now(),
            from,
            message,
            &self.parts.router,
        );
    }

    /// Sends every pending output, then exports the core's counters.
    async fn flush(&mut self) {
        while let Some(output) = self.b2bua.poll_output() {
            match output {
                Output::Send { to, message } => {
                    let bytes = message.to_bytes();
                    match to.transport {
                        Transport::Udp => self.parts.udp.send(to.addr, &bytes).await,
                        Transport::Tcp => self.parts.tcp.send(to.addr, bytes),
                    }
                }
                Output::Fact(fact) => {
                    if let CallFact::Cdr(cdr) = &fact {
                        self.count_call(cdr);
                    }
                    self.parts.facts.push(fact);
                }
            }
        }
        self.sync_stats();
    }

    /// One finished call: `pn_sip_calls_total{outcome,cause}` and its log line (numbers masked).
    fn count_call(&mut self, cdr: &Cdr) {
        let outcome = outcome_of(cdr);
        let cause = cdr.ul_fail_reason;
        self.calls
            .entry((outcome, cause))
            .or_insert_with(|| {
                self.parts
                    .metrics
                    .calls
                    .with_label_values(&[outcome, cause.to_string().as_str()])
            })
            .inc();
        tracing::info!(
            session = %cdr.session_id,
            outcome,
            cause,
            sip_status = cdr.sip_status_code,
            caller = %mask(&cdr.caller_num),
            x = %mask(&cdr.bind_num),
            callee = %cdr.fwd_dst_num.as_deref().map(mask).unwrap_or_default(),
            "call ended"
        );
    }

    /// Adds what the core counted since the last call to the metrics.
    fn sync_stats(&mut self) {
        let m = &self.parts.metrics;
        let active = i64::try_from(self.b2bua.active_calls()).unwrap_or(i64::MAX);
        if active != self.active {
            m.active_calls.add(active - self.active);
            self.active = active;
        }
        for d in self.b2bua.drain_setup_latencies() {
            m.setup_latency.observe(d.as_secs_f64());
        }
        let s = self.b2bua.stats();
        let seen = &mut self.seen;
        let tx = s.server_transactions + s.client_transactions;
        let seen_tx = seen.server_transactions + seen.client_transactions;
        m.transactions.inc_by(tx.saturating_sub(seen_tx));
        m.retransmissions
            .inc_by(s.retransmissions_sent.saturating_sub(seen.retransmissions_sent));
        m.acl_rejects
            .inc_by(s.acl_rejects.saturating_sub(seen.acl_rejects));
        seen.server_transactions = s.server_transactions;
        seen.client_transactions = s.client_transactions;
        seen.retransmissions_sent = s.retransmissions_sent;
        seen.acl_rejects = s.acl_rejects;
    }
}

/// `answered`, `rejected` (refused before any forwarding) or `failed` (forwarded, never answered).
fn outcome_of(cdr: &Cdr) -> &'static str {
    if cdr.fwd_answer_time.is_some() {
        "answered"
    } else if cdr.fwd_start_time.is_none() {
        "rejected"
    } else {
        "failed"
    }
}

/// A debug line per received message, numbers masked.
fn log_message(from: &pn_b2bua::Peer, message: &SipMessage) {
    let user = |name: &str| {
        message
            .headers()
            .get(name)
            .and_then(|v| pn_sip::NameAddr::parse(v, "header").ok())
            .and_then(|n| n.uri().user().map(mask))
            .unwrap_or_default()
    };
    match message {
        SipMessage::Request(r) => tracing::debug!(
            src = %from.addr,
            method = r.method().as_str(),
            from = %user("From"),
            to = %user("To"),
            "request in"
        ),
        SipMessage::Response(r) => tracing::debug!(src = %from.addr, status = r.status(), "response in"),
    }
}
