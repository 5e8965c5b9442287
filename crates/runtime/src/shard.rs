//! One call shard: a dedicated thread with its own current-thread tokio loop owning one [`B2bua`]. It feeds
//! received messages and expired deadlines in (with `Instant::now()` and the wall clock), drains the outputs
//! (SIP to the UDP sockets or the TCP hub, call facts to the outbox queue), counts what the core reports,
//! and sleeps until the next message or deadline. Nothing on this path takes a lock shared with another
//! shard.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::IpAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use pn_b2bua::MediaEvent;
use pn_b2bua::{
    B2bua, B2buaConfig, CallFact, Cdr, CustomerReply, Output, Shard, Stats, Transport, XAsk, XCall,
};
use pn_media::PortAllocator;
use pn_metrics::SipMetrics;
use pn_sip::SipMessage;
use prometheus::IntCounter;
use tokio::sync::{Notify, mpsc};

use super::dispatch::Inbound;
use super::mask::mask;
use super::media::{MediaCounts, MediaServices, Relays};
use super::outbox::FactSink;
use super::route::TableRouter;
use super::tcp::TcpHub;
use super::udp::UdpSockets;

/// Messages taken from the queue before outputs are flushed.
const BURST: usize = 64;

/// Relay mode: how often at most the loop closes the sockets of idle port pairs.
const COOL_EVERY: Duration = Duration::from_secs(1);

/// Everything a shard owns.
pub(crate) struct ShardParts {
    /// Which shard, of how many.
    pub(crate) shard: Shard,
    /// The B2BUA settings (with `local_host` resolved).
    pub(crate) config: B2buaConfig,
    /// The egress trunks, shared by every shard (and their health, written by the prober).
    pub(crate) trunks: std::sync::Arc<pn_b2bua::TrunkSet>,
    /// Route decisions over the binding table.
    pub(crate) router: TableRouter,
    /// UDP send side.
    pub(crate) udp: UdpSockets,
    /// TCP send side.
    pub(crate) tcp: TcpHub,
    /// Call facts to the outbox (and whether they can be stored).
    pub(crate) facts: FactSink,
    /// How new calls are refused while call facts cannot be stored.
    pub(crate) refusal: pn_b2bua::Refusal,
    /// How new calls are refused while the shard is behind (cause 522).
    pub(crate) overload: pn_b2bua::Refusal,
    /// A shared store: where the routing table is in the change feed (`None`: the store is this node's).
    pub(crate) feed: Option<std::sync::Arc<pn_provision::FeedState>>,
    /// How new calls (and OPTIONS probes) are refused while the table has not caught up (cause 7510).
    pub(crate) unsynced: pn_b2bua::Refusal,
    /// A new INVITE that waited longer than this in the queue is refused with `overload`, and the shard is
    /// behind (see `behind`) until a message waited less than a quarter of it.
    pub(crate) overload_delay: Duration,
    /// The shards' behind flags, this shard's set from its queue delay (the receive loops refuse new INVITEs
    /// for a shard that is behind).
    pub(crate) behind: crate::dispatch::Behind,
    /// Call-path metrics.
    pub(crate) metrics: SipMetrics,
    /// Relay mode (`None`: bypass).
    pub(crate) media: Option<MediaParts>,
    /// AXE callback records to the store (retried while it cannot take them).
    pub(crate) callbacks: crate::callbacks::CallbackSink,
    /// X mode: asks the customer (`None`: every ask fails).
    pub(crate) asker: Option<std::sync::Arc<dyn crate::CustomerAsk>>,
}

/// A shard's share of the media relay.
pub(crate) struct MediaParts {
    /// The `c=` address.
    pub(crate) public_ip: IpAddr,
    /// Where the relay sockets bind.
    pub(crate) bind_ip: IpAddr,
    /// This shard's slice of the port range.
    pub(crate) ports: PortAllocator,
    /// The relay sessions' settings (dead-media timeout, which sources latch).
    pub(crate) relay: pn_media::RelayConfig,
    /// Prompts and the recording writer.
    pub(crate) services: MediaServices,
}

/// A UDP socket whose receive loop ([`super::udp::receive`]) runs on a shard's thread, for every shard.
pub(crate) struct UdpReader {
    /// The socket, registered with that shard's event loop.
    pub(crate) socket: std::sync::Arc<tokio::net::UdpSocket>,
    /// Where its messages go.
    pub(crate) dispatch: super::dispatch::Dispatch,
    /// `sip.max_message_bytes`.
    pub(crate) max_bytes: usize,
    /// `pn_sip_parse_errors_total{transport="udp"}`.
    pub(crate) parse_errors: IntCounter,
}

/// A shard's event loop (a current-thread tokio runtime), built before its thread starts so that sockets can be
/// registered with it. Dropped, it shuts down in the background: it may be dropped on the async start-up path (a
/// later start-up step failed, or the thread could not be spawned), where a plain drop of a runtime panics.
pub(crate) struct ShardLoop(Option<tokio::runtime::Runtime>);

impl ShardLoop {
    /// A new event loop.
    pub(crate) fn new() -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(Self(Some(runtime)))
    }

    /// Enters its context (to register a socket with its reactor) while the guard lives.
    pub(crate) fn enter(&self) -> Option<tokio::runtime::EnterGuard<'_>> {
        self.0.as_ref().map(tokio::runtime::Runtime::enter)
    }
}

impl Drop for ShardLoop {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// Starts the shard's thread on `event_loop`, which runs until it receives [`Inbound::Stop`] or its queue
/// closes; the receive loops of `readers` run on it too, until then. With a `cpu` (`sip.pin_shards`) the
/// thread runs only there; a failed pin is logged and the shard runs unpinned.
pub(crate) fn spawn(
    parts: ShardParts,
    rx: mpsc::Receiver<Inbound>,
    event_loop: ShardLoop,
    readers: Vec<UdpReader>,
    cpu: Option<usize>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("pn-shard-{}", parts.shard.index))
        .spawn(move || {
            if let Some(cpu) = cpu {
                let shard = parts.shard.index;
                match super::pin::pin_current_thread(cpu) {
                    Ok(()) => tracing::info!(shard, cpu, "shard pinned"),
                    Err(e) => {
                        tracing::warn!(shard, cpu, error = %e, "cannot pin the shard: it runs unpinned");
                    }
                }
            }
            let mut runner = Runner::new(parts);
            // A LocalSet: the media receive tasks share the shard's relays (`Rc<RefCell<…>>`).
            let local = tokio::task::LocalSet::new();
            for reader in readers {
                local.spawn_local(super::udp::receive(
                    reader.socket,
                    reader.dispatch,
                    reader.max_bytes,
                    reader.parse_errors,
                ));
            }
            if let Some(runtime) = &event_loop.0 {
                local.block_on(runtime, runner.run(rx));
            }
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
    /// Relay mode: the calls' media relays (shared with their receive tasks).
    relays: Option<Rc<RefCell<Relays>>>,
    /// Notified by receive tasks when the relays have events for the core.
    media_wake: Rc<Notify>,
    /// Relay mode: where relay sockets bind, the dead-media timeout, prompts and recordings.
    media: Option<(IpAddr, pn_media::RelayConfig, MediaServices)>,
    /// Media reports (dead media, digits, prompts played) waiting for the core.
    media_events: Vec<MediaEvent>,
    /// When the loop last looked for idle port pairs to close.
    cooled_at: Instant,
    /// Media counts already exported, and the relays already in the gauge.
    media_seen: (MediaCounts, i64, i64),
    /// The refusal of new calls in force in the core (set per message: outbox degraded, or the shard behind).
    refusing: Option<pn_b2bua::Refusal>,
    /// New calls refused at once since the last export, by cause.
    refused: HashMap<u16, u64>,
    /// This shard's `pn_sip_held` series (calls, dialogs, server and client transactions), resolved once:
    /// they are set on every flush.
    held: [prometheus::IntGauge; 4],
    /// The switch is stopping: new calls are refused with this (cause 7509) until the shard stops.
    draining: Option<pn_b2bua::Refusal>,
    /// Shard 0: the trunks' up/down state last published (`pn_sip_trunk_up`).
    trunks_seen: Vec<bool>,
    /// X mode: where the spawned asks put the customer's answers (drained by the loop).
    replies: mpsc::UnboundedSender<(XCall, CustomerReply)>,
    /// Its receiving end, taken by [`Runner::run`].
    replies_rx: Option<mpsc::UnboundedReceiver<(XCall, CustomerReply)>>,
}

/// What woke the loop.
#[allow(clippy::large_enum_variant)] // one per loop turn, moved once: boxing the message would cost more
enum Wake {
    Sip(Option<Inbound>),
    Media,
    Timer,
    /// X mode: a customer's answer.
    Reply(Option<(XCall, CustomerReply)>),
}

impl Runner {
    fn new(mut parts: ShardParts) -> Self {
        let mut b2bua = B2bua::new(parts.config.clone(), parts.shard);
        b2bua.set_trunks(
            std::sync::Arc::clone(&parts.trunks),
            parts.config.trusted_peers.clone(),
        );
        // Shard 0 probes the trunks (the others do nothing here).
        b2bua.start_trunk_probes(Instant::now());
        let media = parts.media.take().map(|media| {
            b2bua.enable_media_relay(media.public_ip, media.ports);
            (media.bind_ip, media.relay, media.services)
        });
        let (replies, replies_rx) = mpsc::unbounded_channel();
        let shard = parts.shard.index.to_string();
        let held = ["calls", "dialogs", "server_transactions", "client_transactions"]
            .map(|kind| parts.metrics.held.with_label_values(&[&shard, kind]));
        Self {
            held,
            replies,
            replies_rx: Some(replies_rx),
            b2bua,
            parts,
            seen: Stats::default(),
            active: 0,
            calls: HashMap::new(),
            relays: None,
            media_wake: Rc::new(Notify::new()),
            media,
            media_events: Vec::new(),
            cooled_at: Instant::now(),
            media_seen: (MediaCounts::default(), 0, 0),
            refusing: None,
            refused: HashMap::new(),
            draining: None,
            trunks_seen: Vec::new(),
        }
    }

    /// Exports what the core holds (`pn_sip_held`).
    fn sync_held(&self) {
        let load = self.b2bua.load();
        let counts = [
            load.calls,
            load.dialogs,
            load.server_transactions,
            load.client_transactions,
        ];
        for (gauge, n) in self.held.iter().zip(counts) {
            gauge.set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }

    /// After a burst of messages: exports the queue's depth; an empty queue is not behind (without this, a
    /// shard whose last message waited long, and that then gets only new INVITEs, all refused by the receive
    /// loop while it is behind, would stay behind).
    fn after_burst(&self, depth: &prometheus::IntGauge, queued: usize) {
        depth.set(i64::try_from(queued).unwrap_or(i64::MAX));
        if queued == 0 {
            self.parts.behind.set(self.parts.shard.index.into(), false);
        }
    }

    /// This shard's `pn_sip_queue_depth` series.
    fn queue_depth_gauge(&self) -> prometheus::IntGauge {
        let shard = self.parts.shard.index.to_string();
        self.parts.metrics.queue_depth.with_label_values(&[&shard])
    }

    async fn run(&mut self, mut rx: mpsc::Receiver<Inbound>) {
        if let Some((bind_ip, relay, services)) = self.media.take() {
            let shard = self.parts.shard.index;
            let busy = self.parts.metrics.media_packets.with_label_values(&["busy"]);
            self.relays = Some(Relays::shared(
                bind_ip,
                relay,
                Rc::clone(&self.media_wake),
                services,
                shard,
                busy,
            ));
        }
        let wake = Rc::clone(&self.media_wake);
        let Some(mut replies) = self.replies_rx.take() else {
            return;
        };
        let depth = self.queue_depth_gauge();
        loop {
            self.fire_timers().await;
            let deadline = self.next_deadline();
            let media_on = self.relays.is_some();
            let wake = tokio::select! {
                m = rx.recv() => Wake::Sip(m),
                () = wake.notified(), if media_on => Wake::Media,
                () = sleep_until(deadline), if deadline.is_some() => Wake::Timer,
                r = replies.recv() => Wake::Reply(r),
            };
            match wake {
                Wake::Timer | Wake::Reply(None) => {}
                Wake::Reply(Some((call, reply))) => self.b2bua.handle_customer_reply(
                    Instant::now(),
                    super::unix_now(),
                    call,
                    reply,
                    &self.parts.router,
                ),
                Wake::Media => {
                    if let Some(relays) = &self.relays {
                        relays.borrow_mut().take_events(&mut self.media_events);
                    }
                    self.deliver_media_events();
                }
                Wake::Sip(None | Some(Inbound::Stop)) => break,
                Wake::Sip(Some(
                    control @ (Inbound::StopCall { .. }
                    | Inbound::Drain { .. }
                    | Inbound::ReleaseAll
                    | Inbound::Trunks { .. }),
                )) => self.control(control),
                Wake::Sip(Some(Inbound::Message {
                    from,
                    message,
                    queued_at,
                })) => {
                    self.handle(from, message, queued_at);
                    let mut stop = false;
                    for _ in 1..BURST {
                        match rx.try_recv() {
                            Ok(Inbound::Message {
                                from,
                                message,
                                queued_at,
                            }) => self.handle(from, message, queued_at),
                            Ok(
                                control @ (Inbound::StopCall { .. }
                                | Inbound::Drain { .. }
                                | Inbound::ReleaseAll
                                | Inbound::Trunks { .. }),
                            ) => self.control(control),
                            Ok(Inbound::Stop) => {
                                stop = true;
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    self.after_burst(&depth, rx.len());
                    if stop {
                        self.flush().await;
                        break;
                    }
                }
            }
            self.flush().await;
        }
        // SMS still waiting for their app's Block decision get their final answer (503) and Notify.
        if self.b2bua.sms_blocks_waiting() > 0 {
            self.b2bua.drop_sms_blocks(Instant::now(), super::unix_now());
            self.flush().await;
        }
        self.sync_stats();
        self.parts.metrics.active_calls.sub(self.active);
        self.parts.metrics.media_relays.sub(self.media_seen.1);
        self.parts.metrics.media_ports_bound.sub(self.media_seen.2);
    }

    /// Fires the core's and the relays' due timers.
    async fn fire_timers(&mut self) {
        let now = Instant::now();
        if self.b2bua.poll_timeout().is_some_and(|at| at <= now) {
            self.b2bua
                .handle_timeout(now, super::unix_now(), &self.parts.router);
            self.flush().await;
        }
        let due = self
            .relays
            .as_ref()
            .is_some_and(|r| r.borrow().poll_timeout().is_some_and(|at| at <= now));
        if let Some(relays) = self.relays.as_ref().filter(|_| due) {
            relays.borrow_mut().handle_timeout(now, &mut self.media_events);
            self.deliver_media_events();
            self.flush().await;
        }
        if self.cool_at().is_some_and(|at| at <= now) {
            self.cool_idle_ports(now).await;
        }
    }

    /// Hands the relay's reports to the core.
    fn deliver_media_events(&mut self) {
        for event in std::mem::take(&mut self.media_events) {
            match event {
                MediaEvent::Timeout { call, leg } => {
                    tracing::info!(?call, ?leg, "dead media: releasing the call");
                    self.parts
                        .metrics
                        .media_events
                        .with_label_values(&["timeout"])
                        .inc();
                }
                MediaEvent::Digit { call, leg, .. } => tracing::debug!(?call, ?leg, "DTMF digit"),
                MediaEvent::PlayDone { .. } | MediaEvent::OpenFailed { .. } | MediaEvent::Closed { .. } => {}
            }
            self.b2bua
                .handle_media_event(Instant::now(), super::unix_now(), event, &self.parts.router);
        }
    }

    /// A request from the rest of the switch (not a SIP message).
    fn control(&mut self, inbound: Inbound) {
        match inbound {
            Inbound::StopCall {
                app,
                session_id,
                reply,
            } => self.stop_call(app, &session_id, reply),
            Inbound::Drain { retry_after_secs } => {
                self.draining = Some(pn_b2bua::Refusal {
                    cause: pn_bindings::Cause::SHUTTING_DOWN,
                    retry_after_secs: retry_after_secs.max(1),
                });
                self.refusing = self.draining;
                self.b2bua.refuse_new_calls(self.draining);
                tracing::info!(shard = self.parts.shard.index, calls = self.active, "draining");
            }
            Inbound::ReleaseAll => {
                let released = self.b2bua.release_all(
                    Instant::now(),
                    super::unix_now(),
                    pn_bindings::Cause::SHUTTING_DOWN,
                );
                tracing::warn!(
                    shard = self.parts.shard.index,
                    released,
                    "drain time over: calls released (7509)"
                );
            }
            Inbound::Trunks {
                trunks,
                trusted_peers,
            } => {
                let names: Vec<&str> = trunks.trunks().iter().map(|t| t.name.as_str()).collect();
                tracing::info!(shard = self.parts.shard.index, trunks = ?names, trusted = ?trusted_peers, "trunks reloaded");
                if self.parts.shard.index == 0 {
                    self.parts.metrics.preset_trunks(&names);
                    self.trunks_seen.clear();
                }
                self.b2bua.set_trunks(trunks, trusted_peers);
                self.b2bua.start_trunk_probes(Instant::now());
            }
            Inbound::Message { .. } | Inbound::Stop => {}
        }
    }

    /// The call-stop API's request: the core releases the call (its BYE/CANCEL and facts go out with the
    /// next flush); the outcome goes back to the API at once.
    fn stop_call(
        &mut self,
        app: pn_bindings::AppId,
        session_id: &str,
        reply: tokio::sync::oneshot::Sender<pn_b2bua::StopResult>,
    ) {
        let result = self
            .b2bua
            .stop_call(Instant::now(), super::unix_now(), app, session_id);
        tracing::info!(
            shard = self.parts.shard.index,
            session_id,
            ?app,
            ?result,
            "call stop"
        );
        // The API may have given up waiting: nothing to do then.
        let _ = reply.send(result);
    }

    /// Handles one message that waited in the queue since `queued_at`: while the routing table has not caught
    /// up with a shared store's change feed, while call facts cannot be stored, or when it waited longer than
    /// the overload delay (the shard is behind), new INVITEs are refused at once.
    fn handle(&mut self, from: pn_b2bua::Peer, message: SipMessage, queued_at: Instant) {
        let span = tracing::debug_span!(
            "sip",
            shard = self.parts.shard.index,
            call_id = message.headers().get("Call-ID").unwrap_or_default(),
        );
        let _entered = span.enter();
        if tracing::enabled!(tracing::Level::DEBUG) {
            log_message(&from, &message);
        }
        let now = Instant::now();
        let waited = now.saturating_duration_since(queued_at);
        self.parts.metrics.queue_delay.observe(waited.as_secs_f64());
        let late = waited > self.parts.overload_delay;
        if late {
            self.parts.behind.set(self.parts.shard.index.into(), true);
        } else if waited < self.parts.overload_delay / 4 {
            self.parts.behind.set(self.parts.shard.index.into(), false);
        }
        let refusal = if self.draining.is_some() {
            self.draining
        } else if self.parts.feed.as_ref().is_some_and(|f| !f.caught_up()) {
            Some(self.parts.unsynced)
        } else if self.parts.facts.degraded() {
            Some(self.parts.refusal)
        } else if late {
            Some(self.parts.overload)
        } else {
            None
        };
        if refusal != self.refusing {
            self.refusing = refusal;
            self.b2bua.refuse_new_calls(refusal);
        }
        let before = self.b2bua.stats().calls_refused;
        self.b2bua
            .handle_message(now, super::unix_now(), from, message, &self.parts.router);
        let refused = self.b2bua.stats().calls_refused - before;
        if let Some(refusal) = refusal.filter(|_| refused > 0) {
            *self.refused.entry(refusal.cause.0).or_default() += refused;
        }
    }

    /// Sends every pending output, then exports the core's counters. They are exported first too: the receive
    /// tasks count relayed packets without waking the loop, and a scrape prompted by this turn's messages (a
    /// BYE) must already see them.
    async fn flush(&mut self) {
        self.sync_stats();
        loop {
            self.flush_outputs().await;
            if self.media_events.is_empty() {
                break;
            }
            self.deliver_media_events();
        }
        self.sync_stats();
    }

    /// The earliest of the core's, the relays' and the port cooling's deadlines.
    fn next_deadline(&self) -> Option<Instant> {
        [
            self.b2bua.poll_timeout(),
            self.relays.as_ref().and_then(|r| r.borrow().poll_timeout()),
            self.cool_at(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// When the loop next looks for idle port pairs to close: when the core's first warm pair goes idle, at
    /// most once every [`COOL_EVERY`] (`None`: no warm pair, or bypass mode).
    fn cool_at(&self) -> Option<Instant> {
        self.relays.as_ref()?;
        let idle = self.b2bua.next_idle_ports_at()?;
        Some(idle.max(self.cooled_at + COOL_EVERY))
    }

    /// Closes the sockets of the port pairs the core found idle, then gives them back to it as cold: the
    /// relays drop them from the park and abort their receive tasks, and the loop awaits the tasks (an aborted
    /// task, and the socket it owns, is dropped when the `LocalSet` next runs it), so a cooled pair's ports are
    /// really unbound.
    async fn cool_idle_ports(&mut self, now: Instant) {
        self.cooled_at = now;
        let Some(relays) = &self.relays else {
            return;
        };
        let pairs = self.b2bua.take_idle_ports(now);
        if pairs.is_empty() {
            return;
        }
        let tasks = relays.borrow_mut().cool(&pairs);
        for task in tasks {
            // Err(cancelled) is the expected outcome: the task was aborted.
            let _ = task.await;
        }
        self.b2bua.ports_cooled(&pairs);
        tracing::debug!(pairs = pairs.len(), "idle media ports closed");
        // The loop may sleep long now: `pn_media_ports_bound` shows the closed ports gone at once.
        self.sync_stats();
    }

    /// Shard 0: publishes the trunks' up/down state when the probes changed it (`pn_sip_trunk_up`).
    fn publish_trunks(&mut self) {
        if self.parts.shard.index != 0 {
            return;
        }
        let set = std::sync::Arc::clone(self.b2bua.trunks());
        for (i, trunk) in set.trunks().iter().enumerate() {
            let up = set.is_up(i);
            let known = self.trunks_seen.get(i).copied();
            if known == Some(up) {
                continue;
            }
            if self.trunks_seen.len() <= i {
                self.trunks_seen.resize(i + 1, up);
            }
            self.trunks_seen[i] = up;
            self.parts
                .metrics
                .trunk_up
                .with_label_values(&[&trunk.name])
                .set(i64::from(up));
            if !up {
                tracing::warn!(trunk = %trunk.name, address = %trunk.address, "trunk down: its OPTIONS probes fail");
            } else if known.is_some() {
                tracing::info!(trunk = %trunk.name, address = %trunk.address, "trunk up again: its OPTIONS probes answer");
            }
        }
    }

    /// Sends every pending output of the core.
    async fn flush_outputs(&mut self) {
        self.publish_trunks();
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
                Output::Media(command) => {
                    if let Some(relays) = &self.relays {
                        let mut relays = relays.borrow_mut();
                        relays.command(Instant::now(), command, &mut self.media_events);
                        tracing::trace!(
                            relays = relays.len(),
                            bound_pairs = relays.bound_pairs(),
                            "media command"
                        );
                    }
                }
                Output::Callback(record) => self.parts.callbacks.push(record),
                Output::Ask(ask) => self.ask(ask),
                Output::Trunk(used) => {
                    if let Some((from, status)) = used.failed_over_from {
                        self.parts
                            .metrics
                            .trunk_failovers
                            .with_label_values(&[&from])
                            .inc();
                        tracing::info!(
                            session = %used.session_id,
                            trunk = %used.trunk,
                            from = %from,
                            status,
                            "B leg failed over to the next trunk"
                        );
                    } else {
                        tracing::debug!(session = %used.session_id, trunk = %used.trunk, "B leg placed");
                    }
                }
            }
        }
    }

    /// X mode and SMS Block: asks the customer on the shard's loop; the answer comes back through `replies`.
    fn ask(&self, ask: XAsk) {
        let replies = self.replies.clone();
        let XAsk {
            call,
            app,
            target,
            body,
        } = ask;
        let Some(asker) = &self.parts.asker else {
            // The receiver lives as long as the runner.
            let _ = replies.send((call, CustomerReply::Failed("no customer-ask driver".to_owned())));
            return;
        };
        let answer = asker.ask(app, target, body);
        tokio::task::spawn_local(async move {
            let reply = match answer.await {
                Ok(body) => CustomerReply::Body(body),
                Err(why) => {
                    tracing::info!(app = app.0, ?target, %why, "block: no customer decision");
                    CustomerReply::Failed(why)
                }
            };
            // A stopped shard has no call to answer.
            let _ = replies.send((call, reply));
        });
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
        self.sync_decisions_and_sms();
        self.sync_held();
        self.sync_media_stats();
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
        for (event, new, old) in [
            ("probe", s.dialog_probes, seen.dialog_probes),
            ("dead_dialog", s.dead_dialogs, seen.dead_dialogs),
            (
                "session_timer",
                s.session_timer_expiries,
                seen.session_timer_expiries,
            ),
            ("validation_reject", s.validation_rejects, seen.validation_rejects),
            ("unmatched_request", s.unmatched_requests, seen.unmatched_requests),
            ("stray_response", s.stray_responses, seen.stray_responses),
        ] {
            if new > old {
                m.dialog_events.with_label_values(&[event]).inc_by(new - old);
            }
        }
        // Refused at once (table not caught up, facts cannot be stored, or the shard is behind): no CDR, so
        // counted here.
        for (cause, n) in self.refused.drain() {
            self.calls
                .entry(("rejected", cause))
                .or_insert_with(|| {
                    m.calls
                        .with_label_values(&["rejected", cause.to_string().as_str()])
                })
                .inc_by(n);
            if cause == pn_bindings::Cause::OVERLOADED.0 {
                m.overload_refusals.with_label_values(&["shard"]).inc_by(n);
            }
        }
        seen.server_transactions = s.server_transactions;
        seen.client_transactions = s.client_transactions;
        seen.retransmissions_sent = s.retransmissions_sent;
        seen.acl_rejects = s.acl_rejects;
        seen.calls_refused = s.calls_refused;
        seen.dialog_probes = s.dialog_probes;
        seen.dead_dialogs = s.dead_dialogs;
        seen.session_timer_expiries = s.session_timer_expiries;
        seen.validation_rejects = s.validation_rejects;
        seen.unmatched_requests = s.unmatched_requests;
        seen.stray_responses = s.stray_responses;
    }

    /// Exports what the relays counted since the last export (relay mode).
    fn sync_media_stats(&mut self) {
        let m = &self.parts.metrics;
        if let Some(relays) = &self.relays {
            let relays = relays.borrow();
            let (counts, relays_seen, ports_seen) = &mut self.media_seen;
            let now = relays.counts();
            let packets = &m.media_packets;
            let events = &m.media_events;
            for (label, new, old) in [
                ("forwarded", now.forwarded, counts.forwarded),
                ("dropped", now.dropped, counts.dropped),
                ("refused", now.refused, counts.refused),
                ("played", now.played, counts.played),
            ] {
                if new > old {
                    packets.with_label_values(&[label]).inc_by(new - old);
                }
            }
            for (label, new, old) in [
                ("digit", now.digits, counts.digits),
                ("open_failed", now.open_failed, counts.open_failed),
                ("recording", now.recordings, counts.recordings),
            ] {
                if new > old {
                    events.with_label_values(&[label]).inc_by(new - old);
                }
            }
            for (label, new, old) in [
                ("sendto", now.sends.single, counts.sends.single),
                ("sendmmsg", now.sends.batched, counts.sends.batched),
                ("failed", now.sends.failed, counts.sends.failed),
            ] {
                if new > old {
                    m.media_sends.with_label_values(&[label]).inc_by(new - old);
                }
            }
            *counts = now;
            let open = i64::try_from(relays.len()).unwrap_or(i64::MAX);
            m.media_relays.add(open - *relays_seen);
            *relays_seen = open;
            let bound = i64::try_from(relays.bound_pairs() * 2).unwrap_or(i64::MAX);
            m.media_ports_bound.add(bound - *ports_seen);
            *ports_seen = bound;
        }
    }

    /// Adds the X-mode decisions and SMS outcomes counted since the last call to the metrics.
    fn sync_decisions_and_sms(&mut self) {
        let m = &self.parts.metrics;
        let s = self.b2bua.stats();
        let seen = &mut self.seen;
        for (outcome, n) in &s.xmode_decisions {
            let old = seen.xmode_decisions.get(outcome).copied().unwrap_or(0);
            if *n > old {
                m.xmode_decisions.with_label_values(&[outcome]).inc_by(n - old);
            }
        }
        seen.xmode_decisions.clone_from(&s.xmode_decisions);
        for (outcome, n) in &s.sms_block_decisions {
            let old = seen.sms_block_decisions.get(outcome).copied().unwrap_or(0);
            if *n > old {
                m.sms_block.with_label_values(&[outcome]).inc_by(n - old);
            }
        }
        seen.sms_block_decisions.clone_from(&s.sms_block_decisions);
        for (outcome, new, old) in [
            ("relayed", s.sms_relayed, seen.sms_relayed),
            ("refused", s.sms_refused, seen.sms_refused),
            ("failed", s.sms_failed, seen.sms_failed),
        ] {
            m.sms
                .with_label_values(&[outcome])
                .inc_by(new.saturating_sub(old));
        }
        (seen.sms_relayed, seen.sms_refused, seen.sms_failed) = (s.sms_relayed, s.sms_refused, s.sms_failed);
    }
}

/// Sleeps until `at` (forever when `None`; the branch is disabled then).
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
        None => std::future::pending().await,
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
