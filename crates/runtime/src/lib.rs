//! pn-runtime, the SIP runtime: binds UDP sockets and TCP listeners, parses what arrives, hands each message to its
//! call shard (by Call-ID, [`pn_b2bua::shard_for`]), and runs the shards: one thread each, one
//! [`pn_b2bua::B2bua`] each, no lock shared on the call path. Call facts go to the store's outbox through the
//! provisioning engine's single writer.
//!
//! ```text
//! UDP socket i ── recvmmsg, parse, shard_for ─┐  (on shard i mod n's thread; its own messages stay there)
//! TCP conn tasks ── parse, shard_for ─────────┤
//!                    (bounded queues)         ├─ shard 0 thread: B2bua ─┬─ SIP → UDP socket / TCP hub
//!                                             ├─ shard 1 thread: B2bua ─┤
//!                                             └─ …                      └─ facts → outbox task → engine
//! ```
//!
//! Each UDP socket's receive loop runs on a shard's thread (`udp::receive`, spawned on that shard's `LocalSet`):
//! a message for that shard is handled without a thread hand-off, and a message's queue delay starts at the
//! kernel's receive time. The TCP loops run on the runtime's workers. With `sip.pin_shards` each shard thread
//! runs only on its CPU (`pin`: shard *i* on the *i*-th CPU of the process's affinity mask).
//!
//! While call facts cannot be stored (the outbox task's commits fail), the shards refuse new calls (503,
//! cause 7102, `Retry-After`) through [`pn_b2bua::B2bua::refuse_new_calls`]; see `outbox`. With a shared
//! store, while the routing table has not caught up with the change feed (the node is starting, or resyncing
//! after it fell behind: [`pn_provision::EngineHandle::feed_caught_up`]), they refuse new calls with 503, cause
//! 7510, `Retry-After` = `sip.overload_retry_after_secs`, and answer OPTIONS probes 503.
//!
//! Responses go back to the real source address of the request (RFC 3581 `rport`): the [`pn_b2bua::Peer`]
//! handed to the core is the datagram's or connection's source; the core does the Via handling.

mod ask;
mod callbacks;
pub mod config;
mod control;
mod dispatch;
mod malformed;
pub mod mask;
mod media;
mod outbox;
mod pin;
mod record;
mod recv_batch;
mod route;
mod send_batch;
mod shard;
mod tcp;
mod udp;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use pn_b2bua::{B2buaConfig, Shard};
use pn_bindings::{BindingTable, SharedRoutePolicy};
use pn_metrics::Metrics;
use pn_provision::EngineHandle;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::config::{MediaMode, OutboxConfig, SipConfig};
use dispatch::{Dispatch, Inbound};

pub use ask::{AskFuture, CustomerAsk};
pub use pn_b2bua::AskTarget;

/// The wall clock as Unix seconds (the runtime owns the clock; the cores take it as input).
pub fn unix_now() -> pn_bindings::UnixTime {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    pn_bindings::UnixTime(i64::try_from(secs).unwrap_or(i64::MAX))
}

/// How often a drain looks whether the calls are over.
const DRAIN_POLL: Duration = Duration::from_millis(100);
/// After the drain time: how long the released calls' BYEs and CANCELs have to be answered.
const RELEASE_GRACE: Duration = Duration::from_millis(1500);

/// What the SIP runtime needs from the rest of the binary.
pub struct SipDeps {
    /// The routing table (shared with the provisioning engine, lock-free reads).
    pub table: Arc<BindingTable>,
    /// Call-path policy.
    pub policy: SharedRoutePolicy,
    /// The single writer, for call facts.
    pub engine: EngineHandle,
    /// The metrics registry.
    pub metrics: Metrics,
    /// The apps' prompts (relay mode plays them; `None`: shipped defaults only).
    pub prompts: Option<Arc<pn_provision::PromptLibrary>>,
    /// Where recordings are written and how their download URLs are made (`None`: no recording).
    pub recordings: Option<Arc<pn_provision::RecordingStore>>,
    /// The retry buffer and the refusal while call facts cannot be stored.
    pub outbox: OutboxConfig,
    /// X mode: asks the customer (`None`: every X-mode call ends with 8040, as if the request failed).
    pub customer_ask: Option<Arc<dyn CustomerAsk>>,
}

/// The running SIP side; [`SipRuntime::shutdown`] stops it and flushes call facts.
pub struct SipRuntime {
    tasks: Vec<JoinHandle<()>>,
    threads: Vec<std::thread::JoinHandle<()>>,
    dispatch: Dispatch,
    outbox: JoinHandle<()>,
    callbacks: JoinHandle<()>,
    /// Calls in progress over every shard (`pn_sip_active_calls`).
    active: prometheus::IntGauge,
}

/// Sets a SIP UDP socket's kernel receive buffer to `kib` KiB (0: the system default), warning when the
/// kernel grants less (it caps the size at `net.core.rmem_max`; Linux reports twice the size asked, its
/// bookkeeping included).
fn set_recv_buffer(socket: &std::net::UdpSocket, local: SocketAddr, kib: usize) {
    if kib == 0 {
        return;
    }
    let asked = kib.saturating_mul(1024);
    let sock = socket2::SockRef::from(socket);
    if let Err(e) = sock.set_recv_buffer_size(asked) {
        tracing::warn!(%local, error = %e, "sip udp: could not set the receive buffer (sip.udp_recv_buffer_kib)");
        return;
    }
    match sock.recv_buffer_size() {
        Ok(got) if got < asked => tracing::warn!(
            %local,
            asked_kib = kib,
            got_kib = got / 1024,
            "sip udp: the kernel granted a smaller receive buffer than sip.udp_recv_buffer_kib; raise \
             net.core.rmem_max"
        ),
        Ok(got) => tracing::debug!(%local, kib = got / 1024, "sip udp receive buffer"),
        Err(_) => {}
    }
}

/// Binds every configured address (UDP and TCP), prints `pnswitch: sip listening on udp|tcp ADDR` for each,
/// starts the shards, the outbox writer and the receive loops. Must run inside the tokio runtime.
#[allow(clippy::too_many_lines)] // the start-up sequence, in order
pub async fn start(config: &SipConfig, deps: SipDeps) -> std::io::Result<SipRuntime> {
    // Before the listeners are bound (and announced): whoever reads the announcement has seen the warning.
    warn_if_ephemeral(&config.media);
    let mut sockets = Vec::new();
    let mut listeners = Vec::new();
    for addr in &config.listen {
        // Registered with its reading shard's event loop below, not with this runtime.
        let socket = std::net::UdpSocket::bind(addr)?;
        socket.set_nonblocking(true)?;
        let udp_local = socket.local_addr()?;
        set_recv_buffer(&socket, udp_local, config.udp_recv_buffer_kib);
        // Port 0: take the same free port for TCP when it is free too.
        let listener = if addr.port() == 0 {
            match TcpListener::bind(udp_local).await {
                Ok(l) => l,
                Err(_) => TcpListener::bind(addr).await?,
            }
        } else {
            TcpListener::bind(addr).await?
        };
        let tcp_local = listener.local_addr()?;
        // Tests and operators read these lines to learn the bound ports.
        println!("pnswitch: sip listening on udp {udp_local}");
        println!("pnswitch: sip listening on tcp {tcp_local}");
        sockets.push(socket);
        listeners.push(listener);
    }
    let mut b2bua = config.b2bua.clone();
    if let Some(first) = sockets.first().and_then(|s| s.local_addr().ok()) {
        resolve_local_host(&mut b2bua, first);
    }
    let trunks = Arc::new(pn_b2bua::TrunkSet::from_config(&config.trunks, &b2bua.egress));
    let names: Vec<&str> = trunks.trunks().iter().map(|t| t.name.as_str()).collect();
    tracing::info!(local_host = %b2bua.local_host, trunks = ?names, trusted = ?b2bua.trusted_peers, "sip");
    warn_if_unrouted(&b2bua, &trunks);

    let metrics = deps.metrics.sip.clone();
    metrics.preset_trunks(&names);
    let count = config.shard_count();
    let shard_count = u16::try_from(count).unwrap_or(u16::MAX);
    let (facts, outbox) = outbox::start(outbox::OutboxDeps {
        engine: deps.engine.clone(),
        recordings: deps.recordings.clone(),
        receives: {
            let table = Arc::clone(&deps.table);
            Arc::new(move |app, kind: pn_store::OutboxKind| {
                table.app(app).is_some_and(|a| kind.receiver_url(&a).is_some())
            })
        },
        queue: config.outbox_queue,
        buffer: deps.outbox.buffer_facts,
        metrics: outbox::OutboxMetrics {
            dropped: metrics.outbox_dropped.clone(),
            buffered: metrics.outbox_buffered.clone(),
            failures: metrics.outbox_write_failures.clone(),
            no_receiver: deps.metrics.push.no_receiver.clone(),
        },
        degraded: metrics.outbox_degraded.clone(),
    });
    let refusal = pn_b2bua::Refusal {
        cause: pn_bindings::Cause::CALL_FACTS_UNSTORABLE,
        retry_after_secs: deps.outbox.retry_after_secs,
    };
    let mut senders = Vec::with_capacity(count);
    let mut receivers = Vec::with_capacity(count);
    for _ in 0..shard_count {
        let (tx, rx) = mpsc::channel(config.shard_queue.max(16));
        senders.push(tx);
        receivers.push(rx);
    }
    let behind = dispatch::Behind::new(count);
    let dispatch = Dispatch::new(
        senders,
        (
            behind.clone(),
            metrics.overload_refusals.with_label_values(&["behind"]),
        ),
        metrics.overload_drops.clone(),
        metrics.overload_refusals.with_label_values(&["queue_full"]),
        config.overload_retry_after_secs,
    );
    let overload = pn_b2bua::Refusal {
        cause: pn_bindings::Cause::OVERLOADED,
        retry_after_secs: config.overload_retry_after_secs.max(1),
    };
    let unsynced = pn_b2bua::Refusal {
        cause: pn_bindings::Cause::TABLE_NOT_CAUGHT_UP,
        retry_after_secs: config.overload_retry_after_secs.max(1),
    };
    let udp_errors = metrics.parse_errors.with_label_values(&["udp"]);
    let tcp_errors = metrics.parse_errors.with_label_values(&["tcp"]);
    let (hub, hub_task) = tcp::start_hub(dispatch.clone(), config.max_message_bytes, tcp_errors.clone());
    // Each shard's event loop, built here so that the UDP sockets can be registered with their readers' loops
    // before any shard sends through them.
    let runtimes = (0..count)
        .map(|_| shard::ShardLoop::new())
        .collect::<std::io::Result<Vec<_>>>()?;
    let mut udp_sockets = udp::UdpSockets::default();
    let mut readers: Vec<Vec<shard::UdpReader>> = (0..count).map(|_| Vec::new()).collect();
    // Socket i is read by shard i mod count, on that shard's thread: a message for that shard is handled
    // without a thread hand-off, one for another shard goes to its queue. No receive task on this runtime's
    // workers, so no worker wakes per datagram only to hand it over (docs/benchmarks.md, issue 14).
    for (i, socket) in sockets.into_iter().enumerate() {
        let reader = i % count.max(1);
        let socket = {
            let _context = runtimes[reader].enter();
            Arc::new(UdpSocket::from_std(socket)?)
        };
        udp_sockets.push(Arc::clone(&socket))?;
        readers[reader].push(shard::UdpReader {
            socket,
            dispatch: dispatch.clone(),
            max_bytes: config.max_message_bytes,
            parse_errors: udp_errors.clone(),
        });
    }

    let media_bind = udp_sockets.first_local().map(|a| a.ip());
    let media_bind = media_bind.unwrap_or(std::net::IpAddr::from([127, 0, 0, 1]));
    let services = media::MediaServices {
        prompts: deps.prompts.clone(),
        recordings: match (&deps.recordings, config.media.mode) {
            (Some(store), MediaMode::Relay) => Some(record::RecordingSink::start(Arc::clone(store))?),
            _ => None,
        },
        per_party: config.media.record_per_party,
    };
    let (callback_sink, callbacks) = callbacks::start(deps.engine.clone(), config.outbox_queue);
    let mut threads = Vec::with_capacity(count);
    let cpus = if config.pin_shards {
        pin::allowed_cpus()
    } else {
        Vec::new()
    };
    for ((index, rx), (runtime, readers)) in (0..shard_count)
        .zip(receivers)
        .zip(runtimes.into_iter().zip(readers))
    {
        let media = media_parts(config, media_bind, index, shard_count, &services)?;
        let parts = shard::ShardParts {
            shard: Shard {
                index,
                count: shard_count,
            },
            config: b2bua.clone(),
            trunks: Arc::clone(&trunks),
            router: route::TableRouter::new(
                Arc::clone(&deps.table),
                deps.policy.clone(),
                deps.metrics.clone(),
            ),
            udp: udp_sockets.clone(),
            tcp: hub.clone(),
            facts: facts.clone(),
            refusal,
            overload,
            feed: deps.engine.feed_state().cloned(),
            unsynced,
            overload_delay: Duration::from_millis(config.overload_queue_delay_ms),
            behind: behind.clone(),
            metrics: metrics.clone(),
            media,
            callbacks: callback_sink.clone(),
            asker: deps.customer_ask.clone(),
        };
        let cpu = pin::cpu_for_shard(&cpus, usize::from(index));
        threads.push(shard::spawn(parts, rx, runtime, readers, cpu)?);
    }
    drop(facts);
    drop(callback_sink);

    let mut tasks = vec![hub_task];
    for listener in listeners {
        tasks.push(tokio::spawn(tcp::accept(
            listener,
            hub.clone(),
            dispatch.clone(),
            config.max_message_bytes,
            tcp_errors.clone(),
        )));
    }
    tracing::info!(shards = count, "sip runtime started");
    Ok(SipRuntime {
        tasks,
        threads,
        dispatch,
        outbox,
        callbacks,
        active: deps.metrics.sip.active_calls.clone(),
    })
}

/// Says at start what an operator would otherwise learn from every call failing.
fn warn_if_unrouted(b2bua: &B2buaConfig, trunks: &pn_b2bua::TrunkSet) {
    let no_trunk = trunks.trunks().is_empty();
    if b2bua.trusted_peers.is_empty() && no_trunk {
        tracing::warn!(
            "no trusted peer and no egress trunk (sip.b2bua.trusted_peers, sip.trunks, sip.b2bua.egress): every INVITE is answered 403"
        );
    } else if no_trunk {
        tracing::warn!(
            "no egress trunk (sip.trunks, sip.b2bua.egress): calls cannot be forwarded to the callee and fail (503)"
        );
    }
}

/// Relay mode: warns when the relay port range overlaps the kernel's ephemeral ports (and is not reserved).
fn warn_if_ephemeral(m: &config::MediaConfig) {
    if m.mode != MediaMode::Relay {
        return;
    }
    let ephemeral = std::fs::read_to_string(media::EPHEMERAL_PORTS_FILE)
        .ok()
        .and_then(|text| media::parse_port_range(&text));
    let reserved = std::fs::read_to_string(media::RESERVED_PORTS_FILE).unwrap_or_default();
    if let Some((lo, hi)) = ephemeral
        .and_then(|e| media::overlap((m.port_min, m.port_max), e))
        .filter(|&shared| !media::reserved_covers(&reserved, shared))
    {
        // Any program's outgoing socket (and the kernel's pick for port 0) may take a relay port; a call
        // whose pair is taken is refused with 503 / 7508.
        tracing::warn!(
            overlap = format!("{lo}-{hi}"),
            ephemeral = ?ephemeral,
            "[media] port range overlaps the kernel's ephemeral ports: calls fail with 503 (7508) when another \
             socket holds a relay port; move the range or reserve it (sysctl net.ipv4.ip_local_reserved_ports)"
        );
    }
}

/// Relay mode: shard `index`'s slice of the media ports and the relay settings (`None` in bypass mode).
fn media_parts(
    config: &SipConfig,
    bind_ip: std::net::IpAddr,
    index: u16,
    count: u16,
    services: &media::MediaServices,
) -> std::io::Result<Option<shard::MediaParts>> {
    let m = &config.media;
    if m.mode != MediaMode::Relay {
        return Ok(None);
    }
    let public_ip = m.public_ip.unwrap_or(bind_ip);
    if index == 0 {
        if public_ip.is_unspecified() {
            tracing::warn!(%public_ip, "media relay on an unspecified address: set [media] public_ip");
        }
        tracing::info!(%public_ip, port_min = m.port_min, port_max = m.port_max, "media relay");
    }
    let invalid = |what: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, what);
    let (first, last) = media::shard_ports(m.port_min, m.port_max, index, count)
        .ok_or_else(|| invalid("[media] port range too small for the shards".to_owned()))?;
    Ok(Some(shard::MediaParts {
        public_ip,
        bind_ip,
        ports: pn_media::PortAllocator::new(first, last)
            .map_err(|e| invalid(e.to_string()))?
            .with_timing(
                Duration::from_millis(m.port_rest_ms),
                Duration::from_secs(m.port_idle_secs),
            ),
        relay: pn_media::RelayConfig {
            media_timeout: (m.timeout_secs > 0).then(|| Duration::from_secs(m.timeout_secs)),
            sources: m.latch_sources.into(),
            // Never relay to, nor latch, the relay's own ports (every shard's): a loop.
            own: Some(pn_media::OwnPorts {
                bind_ip,
                public_ip,
                first: m.port_min,
                last: m.port_max,
            }),
            ..pn_media::RelayConfig::default()
        },
        services: services.clone(),
    }))
}

/// `local_host` when not configured (empty or the embedded default): the first bound address. An
/// unspecified address (`0.0.0.0`, `::`) cannot be reached by peers, so it is kept but warned about.
fn resolve_local_host(config: &mut B2buaConfig, first: SocketAddr) {
    let configured = config.local_host.trim();
    if !configured.is_empty() && configured != B2buaConfig::default().local_host {
        return;
    }
    if first.ip().is_unspecified() {
        tracing::warn!(%first, "listening on an unspecified address: set [sip.b2bua] local_host to the address peers reach");
    }
    config.local_host = first.to_string();
}

impl SipRuntime {
    /// Call control over the shards (the call-stop API): hand it to pn-api's `ApiState::with_call_control`.
    pub fn call_control(&self) -> Arc<dyn pn_provision::CallControl> {
        Arc::new(control::ShardCalls {
            dispatch: self.dispatch.clone(),
        })
    }

    /// Gives every shard new trunks (SIGHUP): calls placed from now on use them, calls in progress keep theirs.
    /// `trunks` are `[[sip.trunks]]`, `egress` the `sip.b2bua.egress` addresses (UDP trunks after them).
    pub async fn set_trunks(
        &self,
        trunks: &[pn_b2bua::TrunkConfig],
        egress: &[SocketAddr],
        trusted_peers: Vec<ipnet::IpNet>,
    ) {
        let set = Arc::new(pn_b2bua::TrunkSet::from_config(trunks, egress));
        self.dispatch
            .broadcast(|| Inbound::Trunks {
                trunks: Arc::clone(&set),
                trusted_peers: trusted_peers.clone(),
            })
            .await;
    }

    /// Drains before a stop: every shard refuses new calls (503, cause 7509, `Retry-After`) and answers
    /// OPTIONS probes 503 while the calls in progress go on, for up to `limit`; the calls still up then are
    /// released on both legs (BYE, or CANCEL and 487) with cause 7509 and their disconnect events and CDRs
    /// written. Returns how many calls were released.
    pub async fn drain(&self, limit: Duration, retry_after_secs: u32) -> i64 {
        self.dispatch
            .broadcast(|| Inbound::Drain { retry_after_secs })
            .await;
        let started = tokio::time::Instant::now();
        tracing::info!(
            calls = self.active.get(),
            limit_secs = limit.as_secs(),
            "draining: new calls refused"
        );
        while self.active.get() > 0 && started.elapsed() < limit {
            tokio::time::sleep(DRAIN_POLL).await;
        }
        let left = self.active.get();
        if left > 0 {
            self.dispatch.broadcast(|| Inbound::ReleaseAll).await;
            // The BYEs and CANCELs just sent get their answers before the shards stop.
            tokio::time::sleep(RELEASE_GRACE).await;
        }
        tracing::info!(
            released = left,
            elapsed_ms = started.elapsed().as_millis(),
            "drained"
        );
        left
    }

    /// Stops receiving (TCP here; each UDP receive loop ends with the shard that runs it), lets every shard
    /// finish its queue, and waits (up to 5 s) until the call facts
    /// produced so far are committed to the outbox. Calls still up are abandoned.
    pub async fn shutdown(self) {
        for task in &self.tasks {
            task.abort();
        }
        self.dispatch.stop().await;
        drop(self.dispatch);
        let threads = self.threads;
        let _ = tokio::task::spawn_blocking(move || {
            for t in threads {
                let _ = t.join();
            }
        })
        .await;
        if tokio::time::timeout(Duration::from_secs(5), self.outbox)
            .await
            .is_err()
        {
            tracing::warn!("call facts still queued at shutdown were not all written");
        }
        // Its last attempts answer within the engine's commit time; what waits for a retry is logged as lost.
        if tokio::time::timeout(Duration::from_secs(5), self.callbacks)
            .await
            .is_err()
        {
            tracing::warn!("AXE callback records still queued at shutdown were not all written");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_host_defaults_to_the_first_listen_address() {
        let mut c = B2buaConfig::default();
        resolve_local_host(&mut c, "127.0.0.1:40000".parse().unwrap());
        assert_eq!(c.local_host, "127.0.0.1:40000");
        let mut c = B2buaConfig {
            local_host: String::new(),
            ..B2buaConfig::default()
        };
        resolve_local_host(&mut c, "[::1]:5070".parse().unwrap());
        assert_eq!(c.local_host, "[::1]:5070");
        let mut c = B2buaConfig {
            local_host: "sbc.example:5060".into(),
            ..B2buaConfig::default()
        };
        resolve_local_host(&mut c, "127.0.0.1:40000".parse().unwrap());
        assert_eq!(c.local_host, "sbc.example:5060");
    }
}
