//! The media plane of one shard (`[media] mode = "relay"`): the sockets and the loop around the shard's
//! sans-IO [`MediaEngine`]. The shard's [`B2bua`](pn_b2bua::B2bua) emits [`MediaCommand`]s; this gives each call
//! the four UDP sockets of its two port pairs, resolves prompts to audio (an app's upload from the
//! [`PromptLibrary`] or a shipped default) and passes the command on to the engine, which owns all the per-call
//! media logic (relay, prompt queues and muting, RTP continuity, DTMF, recording). The engine's recording audio
//! goes to the writer thread ([`RecordingSink`]); its reports for the core (dead media, digits, prompts played)
//! are collected as [`MediaEvent`]s and the shard loop is woken to hand them to
//! [`pn_b2bua::B2bua::handle_media_event`]. The shard sleeps until the engine's next deadline
//! ([`Relays::poll_timeout`]). Everything for a call lives on the call's shard thread: no locks.
//!
//! **The park.** Sockets outlive calls: binding four sockets per call (socket, bind, epoll registration, the
//! sender dup, and the closes) cost more than the rest of the relay's per-call work, so a port, once bound, stays
//! bound in the shard's park with its receive task, and the next call given that pair (the
//! core's `PortAllocator` hands out warm pairs first) reuses them without a syscall. Each port has an owner cell,
//! `(call, leg, channel)` or none; [`MediaCommand::Open`] binds only the ports not parked (cold) and sets the
//! owners, [`MediaCommand::Close`] clears them and reports [`MediaEvent::Closed`] at once. A datagram on a port
//! with no owner (the call ended: a stray packet) is dropped and counted as dropped; the core lets a released
//! pair rest before handing it out again, so the ended call's last packets meet an ownerless port.
//!
//! **Receiving.** Each port's receive task runs on the shard's own single-threaded event loop (a `LocalSet`):
//! it waits until its socket is readable, then, with the relays borrowed (an `Rc<RefCell<…>>`, never across an
//! await), reads the waiting datagrams into the shard's receive buffers in one `recvmmsg` (no empty read after
//! it: [`RecvBatch`]), hands each to the engine under the port's current owner and sends what the engine emits
//! from the named socket at the end of the same wake-up ([`SendBatch`]: the datagrams of one read leave through
//! the other leg's port in one `sendmmsg` when there are several, by `sendto` when alone). A port found readable
//! without a wait [`FAIR_READS`] times in a row (a flood, or media that feeds itself) yields once: on a
//! current-thread loop its readiness would otherwise stay set and the shard's SIP reader never run. The relay
//! itself never sends to the switch's own ports (pn-media's `RelayConfig::own`), which is how such a loop
//! arose: a party's SDP naming one of them.
//!
//! **Cooling.** Warm pairs unused for the pool's idle time are taken from the core
//! ([`pn_b2bua::B2bua::take_idle_ports`], polled by the shard loop): [`Relays::cool`] removes them from the park
//! and aborts their receive tasks; each task owns its socket and an aborted task is only dropped when the
//! `LocalSet` next runs it, so the shard awaits the tasks (then the ports are really unbound) before it reports
//! the pairs cooled ([`pn_b2bua::B2bua::ports_cooled`]). When the shard stops, every task and socket goes with
//! its `LocalSet`.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pn_b2bua::{MediaCall, MediaCommand, MediaEvent, PromptRef};
use pn_media::{
    Channel, EngineConfig, Leg, MediaEngine, MediaEngineCommand, MediaEngineEvent, MediaEngineOutput,
    PortPair, PromptAudio, RelayConfig,
};
use pn_provision::PromptLibrary;
use tokio::net::UdpSocket;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::record::RecordingSink;
use super::recv_batch::{BATCH, Headers, RecvBatch};
use super::send_batch::{SendBatch, SendCounts};

/// Largest datagram relayed.
const MAX_DATAGRAM: usize = 2048;

/// Most datagrams one receive task reads per wake-up before it lets the other tasks run.
const READ_BATCH: usize = 32;

/// Reads in a row a port's receive task makes while its socket stays readable, before it yields to the shard's
/// other tasks (its SIP reader among them) and to the event loop's poll of the sockets.
const FAIR_READS: u32 = 16;

/// How often a recording's finalised audio is handed to the writer.
const RECORD_FLUSH: Duration = Duration::from_millis(100);

/// A datagram read on one of a call's sockets.
struct Packet<'b> {
    call: MediaCall,
    leg: Leg,
    channel: Channel,
    from: SocketAddr,
    bytes: &'b [u8],
}

/// What the shard's media plane needs besides sockets: prompt files and the recording writer.
#[derive(Clone)]
pub(crate) struct MediaServices {
    /// The apps' prompts (`None`: only the shipped defaults).
    pub(crate) prompts: Option<Arc<PromptLibrary>>,
    /// Where recordings go (`None`: record commands are refused, logged).
    pub(crate) recordings: Option<RecordingSink>,
    /// Also write one file per party.
    pub(crate) per_party: bool,
}

/// What the shard's relays counted (cumulative; the shard exports the deltas as metrics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct MediaCounts {
    /// Datagrams relayed to the other party.
    pub(crate) forwarded: u64,
    /// Datagrams not relayed (malformed, no destination yet, the receiver hears a prompt, a parked port).
    pub(crate) dropped: u64,
    /// Datagrams from a source the latching whitelist refused.
    pub(crate) refused: u64,
    /// Prompt frames the switch sent.
    pub(crate) played: u64,
    /// DTMF digits detected in RTP.
    pub(crate) digits: u64,
    /// Relays whose sockets could not be bound.
    pub(crate) open_failed: u64,
    /// How the datagrams left: `sendto`s, `sendmmsg`s, datagrams the kernel refused.
    pub(crate) sends: SendCounts,
    /// Recordings started.
    pub(crate) recordings: u64,
}

/// Who a port's datagrams go to now: `(call, leg, channel)`, or `None` while the port is parked.
type Owner = Rc<Cell<Option<(MediaCall, Leg, Channel)>>>;

/// One bound port of the park: its socket (shared with its receive task), the owner cell and the task.
struct Port {
    /// The socket, also for sending: sends go straight to the kernel ([`SendBatch`]), because tokio's
    /// `try_send_to` answers `WouldBlock` until the reactor has first seen a socket writable, which lost the
    /// first frames sent in the same turn as the call's relay was opened (a prompt before a rejection, AXE).
    /// No dup of the socket: a parked port costs one file descriptor.
    socket: Rc<UdpSocket>,
    /// Shared with the receive task.
    owner: Owner,
    /// The receive task, holding the socket too (it closes once both are dropped).
    task: JoinHandle<()>,
}

/// A call's ports: its pairs (A's, B's) and their senders (by leg, then channel).
struct CallPorts {
    pairs: [PortPair; 2],
    senders: [[Rc<UdpSocket>; 2]; 2],
}

/// The relays of one shard: the sockets around the shard's [`MediaEngine`].
pub(crate) struct Relays {
    bind_ip: IpAddr,
    engine: MediaEngine<MediaCall>,
    /// The calls with a relay, and their ports.
    calls: HashMap<MediaCall, CallPorts>,
    /// Every bound pair, by RTP port: owned by a call, or parked between calls.
    park: HashMap<u16, [Port; 2]>,
    /// The receive buffers every task of the shard reads into (never held across an await; taken while a
    /// read hands its datagrams to the engine).
    batch: Option<RecvBatch>,
    /// Their `recvmmsg` headers (kept: this runs on the shard's thread only).
    headers: Headers,
    /// The datagrams of this wake-up waiting to be sent, run by run of one socket.
    sends: SendBatch,
    /// Datagrams read on a parked port (dropped).
    parked_drops: u64,
    /// Ports bound so far.
    binds: u64,
    /// This object, for the receive tasks it spawns.
    me: Weak<RefCell<Relays>>,
    /// Wakes the shard loop: events are pending, or a deadline moved earlier.
    wake: Rc<Notify>,
    /// Events for the shard loop.
    pending: Vec<MediaEvent>,
    services: MediaServices,
    /// Shipped prompts, decoded once.
    defaults: HashMap<String, Option<PromptAudio>>,
    /// Makes recording keys unique across shards.
    shard: u16,
    /// Relays that could not be bound, recordings started.
    opened: (u64, u64),
    /// `pn_media_packets_total{outcome="busy"}`: wake-ups a receive task found the relays borrowed (it reads its
    /// datagrams on the next).
    busy: prometheus::IntCounter,
}

impl Relays {
    /// Relays binding on `bind_ip`, their sessions set up by `relay`; `wake` is notified when
    /// received packets produced events (or moved a deadline earlier). Must be used inside the shard's
    /// `LocalSet` (receive tasks are spawned locally).
    pub(crate) fn shared(
        bind_ip: IpAddr,
        relay: RelayConfig,
        wake: Rc<Notify>,
        services: MediaServices,
        shard: u16,
        busy: prometheus::IntCounter,
    ) -> Rc<RefCell<Self>> {
        let config = EngineConfig {
            relay,
            record_flush: RECORD_FLUSH,
            per_party: services.per_party,
            seed: u64::from(shard) << 48,
        };
        Rc::new_cyclic(|me| {
            RefCell::new(Self {
                bind_ip,
                engine: MediaEngine::new(config),
                calls: HashMap::new(),
                park: HashMap::new(),
                batch: Some(RecvBatch::new(MAX_DATAGRAM)),
                headers: RecvBatch::headers(false),
                sends: SendBatch::new(),
                parked_drops: 0,
                binds: 0,
                me: me.clone(),
                wake,
                pending: Vec::new(),
                services,
                defaults: HashMap::new(),
                shard,
                opened: (0, 0),
                busy,
            })
        })
    }

    /// Moves the events received packets produced to `out`.
    pub(crate) fn take_events(&mut self, out: &mut Vec<MediaEvent>) {
        out.append(&mut self.pending);
    }

    /// What the relays counted so far.
    pub(crate) fn counts(&self) -> MediaCounts {
        let engine = self.engine.counts();
        MediaCounts {
            forwarded: engine.forwarded,
            dropped: engine.dropped + self.parked_drops,
            refused: engine.refused,
            played: engine.played,
            digits: engine.digits,
            open_failed: self.opened.0,
            sends: self.sends.counts(),
            recordings: self.opened.1,
        }
    }

    /// Carries out one command of the core; reports go to `events`.
    pub(crate) fn command(&mut self, now: Instant, command: MediaCommand, events: &mut Vec<MediaEvent>) {
        let command = match command {
            MediaCommand::Open { call, a, b } => match self.open(call, a, b) {
                Ok(ports) => {
                    self.calls.insert(call, ports);
                    MediaEngineCommand::Open { call, a, b }
                }
                Err((e, unbindable)) => {
                    tracing::error!(error = %e, ?a, ?b, "cannot bind the media ports of a call: releasing it (7508)");
                    self.opened.0 += 1;
                    events.push(MediaEvent::OpenFailed { call, unbindable });
                    return;
                }
            },
            MediaCommand::Close { call, keep_recording } => {
                self.engine
                    .handle_command(now, MediaEngineCommand::Close { call, keep_recording });
                // The ports stay bound, parked: from now on their datagrams are dropped.
                if let Some(ports) = self.calls.remove(&call) {
                    for pair in ports.pairs {
                        for port in self.park.get(&pair.rtp).into_iter().flatten() {
                            port.owner.set(None);
                        }
                    }
                }
                self.pending.push(MediaEvent::Closed { call });
                self.drain_and_send();
                events.append(&mut self.pending);
                return;
            }
            MediaCommand::Play {
                call,
                leg,
                prompt,
                payload_type,
                loops,
                tag,
            } => MediaEngineCommand::Play {
                call,
                leg,
                audio: self.engine.contains(call).then(|| self.load(&prompt)).flatten(),
                payload_type,
                loops,
                tag,
            },
            MediaCommand::Record { call, app, object } => {
                match &self.services.recordings {
                    Some(sink) if self.engine.can_record(call) => {
                        self.opened.1 += 1;
                        sink.open(self.recording_key(call), app, object, self.services.per_party);
                    }
                    None if self.engine.contains(call) => {
                        tracing::warn!(%object, "recording requested but no recording store is configured");
                    }
                    _ => {}
                }
                MediaEngineCommand::Record { call }
            }
            passed => {
                let Some(command) = passed.passed_on() else {
                    return;
                };
                command
            }
        };
        self.engine.handle_command(now, command);
        self.drain_and_send();
        events.append(&mut self.pending);
    }

    /// Gives a call its two pairs: parked ones as they are, cold ones bound (and their receive tasks started).
    /// On failure no port delivers to the call, a pair that did bind stays parked, nothing of a pair that failed
    /// stays bound, and the error comes with the pairs a port of which is in use outside the pool.
    fn open(
        &mut self,
        call: MediaCall,
        a: PortPair,
        b: PortPair,
    ) -> Result<CallPorts, (std::io::Error, [Option<PortPair>; 2])> {
        let (ra, rb) = (self.park_pair(a), self.park_pair(b));
        let in_use = |r: &std::io::Result<()>, p: PortPair| {
            matches!(r, Err(e) if e.kind() == std::io::ErrorKind::AddrInUse).then_some(p)
        };
        let unbindable = [in_use(&ra, a), in_use(&rb, b)];
        if let (Err(e), _) | (_, Err(e)) = (ra, rb) {
            return Err((e, unbindable));
        }
        for (leg, pair) in [(Leg::A, a), (Leg::B, b)] {
            for (channel, port) in [Channel::Rtp, Channel::Rtcp]
                .into_iter()
                .zip(self.park.get(&pair.rtp).into_iter().flatten())
            {
                port.owner.set(Some((call, leg, channel)));
            }
        }
        let senders = |pair: PortPair| {
            let ports = self.park.get(&pair.rtp)?;
            Some(ports.each_ref().map(|port| Rc::clone(&port.socket)))
        };
        let (Some(sa), Some(sb)) = (senders(a), senders(b)) else {
            return Err((std::io::Error::other("a pair just parked is gone"), [None; 2]));
        };
        Ok(CallPorts {
            pairs: [a, b],
            senders: [sa, sb],
        })
    }

    /// Makes sure `pair` is in the park: nothing to do when it is (no syscall), else binds both its ports and
    /// starts their receive tasks, with no owner yet. On failure nothing of the pair stays bound.
    fn park_pair(&mut self, pair: PortPair) -> std::io::Result<()> {
        if self.park.contains_key(&pair.rtp) {
            return Ok(());
        }
        let bind = |port: u16| -> std::io::Result<Rc<UdpSocket>> {
            let socket = std::net::UdpSocket::bind(SocketAddr::new(self.bind_ip, port))?;
            socket.set_nonblocking(true)?;
            Ok(Rc::new(UdpSocket::from_std(socket)?))
        };
        // Both bound before any task owns a socket: a failed pair closes at once.
        let bound = [bind(pair.rtp)?, bind(pair.rtcp)?];
        self.binds += 2;
        let ports = bound.map(|socket| {
            let owner: Owner = Rc::new(Cell::new(None));
            let task = tokio::task::spawn_local(receive(
                Rc::clone(&socket),
                Rc::clone(&owner),
                self.me.clone(),
                Rc::clone(&self.wake),
                self.busy.clone(),
            ));
            Port { socket, owner, task }
        });
        self.park.insert(pair.rtp, ports);
        Ok(())
    }

    /// Reads the datagrams waiting on `socket` (at most [`READ_BATCH`], one `recvmmsg` per [`BATCH`] and no
    /// empty read after a short one: [`RecvBatch`]) and hands each to the engine under the port's owner (none:
    /// dropped). `Ok(true)` when the shard loop must run.
    fn read(
        &mut self,
        socket: &UdpSocket,
        owner: &Cell<Option<(MediaCall, Leg, Channel)>>,
    ) -> std::io::Result<bool> {
        let Some(mut batch) = self.batch.take() else {
            return Ok(false);
        };
        let mut wake = Ok(false);
        for _ in 0..READ_BATCH / BATCH {
            let read = match batch.read(socket, &mut self.headers) {
                Ok(read) => read,
                Err(e) => {
                    wake = wake.and(Err(e));
                    break;
                }
            };
            for index in 0..read.count {
                let Some(datagram) = batch.datagram(index) else {
                    continue;
                };
                let Some((call, leg, channel)) = owner.get() else {
                    self.parked_drops += 1;
                    continue;
                };
                let packet = Packet {
                    call,
                    leg,
                    channel,
                    from: datagram.from,
                    bytes: datagram.bytes,
                };
                if self.packet(Instant::now(), &packet) {
                    wake = Ok(true);
                }
            }
            if read.drained {
                break;
            }
        }
        self.batch = Some(batch);
        // The datagrams relayed from this port leave through the other leg's port: one system call.
        self.sends.flush();
        wake
    }

    /// A datagram from a call's socket, handed to the engine. True when the shard loop must run (events or
    /// an earlier deadline).
    fn packet(&mut self, now: Instant, packet: &Packet<'_>) -> bool {
        let before = self.engine.poll_timeout();
        self.engine.handle_packet(
            now,
            packet.call,
            packet.leg,
            packet.channel,
            packet.from,
            packet.bytes,
        );
        let after = self.drain();
        let earlier = after.is_some_and(|at| before.is_none_or(|b| at < b));
        earlier || !self.pending.is_empty()
    }

    /// The engine's next deadline.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.engine.poll_timeout()
    }

    /// Runs due work: dead-media timers, prompt frames, recording flushes.
    pub(crate) fn handle_timeout(&mut self, now: Instant, events: &mut Vec<MediaEvent>) {
        self.engine.handle_timeout(now);
        self.drain_and_send();
        events.append(&mut self.pending);
    }

    /// [`Relays::drain`], then sends the datagrams at once.
    fn drain_and_send(&mut self) {
        self.drain();
        self.sends.flush();
    }

    /// Queues the engine's datagrams for sending ([`SendBatch`]: the caller flushes), hands recordings to the
    /// writer, queues its reports for the core; answers the next deadline.
    fn drain(&mut self) -> Option<Instant> {
        loop {
            let event = match self.engine.poll_output() {
                MediaEngineOutput::Timeout(at) => return at,
                MediaEngineOutput::Transmit(t) => {
                    if let Some(ports) = self.calls.get(&t.call) {
                        let socket = &ports.senders[leg_idx(t.leg)][channel_idx(t.channel)];
                        self.sends.push(socket, t.bytes, t.to);
                    }
                    continue;
                }
                MediaEngineOutput::Event(event) => event,
            };
            match event {
                MediaEngineEvent::MediaTimeout { call, leg } => {
                    self.pending.push(MediaEvent::Timeout { call, leg });
                }
                MediaEngineEvent::Digit { call, leg, digit } => self.pending.push(MediaEvent::Digit {
                    call,
                    leg,
                    digit: digit.as_char(),
                }),
                MediaEngineEvent::PlayDone { call, leg, tag } => {
                    self.pending.push(MediaEvent::PlayDone { call, leg, tag });
                }
                MediaEngineEvent::PlayFailed { call, leg, error } => {
                    tracing::warn!(?call, ?leg, %error, "prompt cannot play");
                }
                MediaEngineEvent::Latched {
                    call,
                    leg,
                    channel,
                    addr,
                } => tracing::debug!(?call, ?leg, ?channel, %addr, "media latched"),
                MediaEngineEvent::Recording { call, chunk } => {
                    if let Some(sink) = &self.services.recordings {
                        sink.append(self.recording_key(call), chunk.mix, chunk.a, chunk.b);
                    }
                }
                MediaEngineEvent::RecordingDone { call, keep } => {
                    if let Some(sink) = &self.services.recordings {
                        sink.close(self.recording_key(call), keep);
                    }
                }
            }
        }
    }

    /// The writer's key of `call`'s recording, unique across shards.
    fn recording_key(&self, call: MediaCall) -> u64 {
        (u64::from(self.shard) << 48) | (call.0 & ((1 << 48) - 1))
    }

    /// The audio of a prompt: the app's upload or the shipped default of that name.
    fn load(&mut self, prompt: &PromptRef) -> Option<PromptAudio> {
        if let (Some(library), Some(app)) = (&self.services.prompts, prompt.app) {
            let found = library.get(app, &prompt.name);
            if found.is_none() {
                tracing::warn!(prompt = %prompt.name, app = app.0, "prompt not found");
            }
            return found.map(|p| PromptAudio {
                law: p.law,
                samples: Arc::clone(&p.samples),
            });
        }
        self.defaults
            .entry(prompt.name.clone())
            .or_insert_with(|| {
                let bytes = pn_media::prompts::default_prompt(&prompt.name)?;
                let audio = pn_media::parse_prompt(bytes).ok()?;
                Some(PromptAudio {
                    law: audio.law,
                    samples: Arc::from(audio.samples),
                })
            })
            .clone()
    }

    /// Calls with a relay.
    pub(crate) fn len(&self) -> usize {
        self.calls.len()
    }

    /// Pairs bound (owned by a call or parked).
    pub(crate) fn bound_pairs(&self) -> usize {
        self.park.len()
    }

    /// Ports bound so far.
    #[cfg(test)]
    fn binds(&self) -> u64 {
        self.binds
    }

    /// Closes the parked pairs the core found idle: they leave the park and their receive tasks are aborted.
    /// Each task owns its socket and is only dropped when the `LocalSet` next runs it: the ports are unbound
    /// once every returned task has ended. A pair not in the park (its bind failed) has nothing to close; a pair
    /// a call still owns (the core would not name one) is left alone.
    pub(crate) fn cool(&mut self, pairs: &[PortPair]) -> Vec<JoinHandle<()>> {
        let mut tasks = Vec::with_capacity(pairs.len() * 2);
        for pair in pairs {
            let owned = self
                .park
                .get(&pair.rtp)
                .is_some_and(|ports| ports.iter().any(|port| port.owner.get().is_some()));
            if owned {
                tracing::warn!(?pair, "an idle pair is owned by a call: kept");
                continue;
            }
            for port in self.park.remove(&pair.rtp).into_iter().flatten() {
                port.task.abort();
                tasks.push(port.task);
            }
        }
        tasks
    }
}

impl Drop for Relays {
    fn drop(&mut self) {
        for port in self.park.values().flatten() {
            port.task.abort();
        }
    }
}

fn leg_idx(leg: Leg) -> usize {
    match leg {
        Leg::A => 0,
        Leg::B => 1,
    }
}

fn channel_idx(channel: Channel) -> usize {
    match channel {
        Channel::Rtp => 0,
        Channel::Rtcp => 1,
    }
}

/// Waits until the port's socket is readable, then reads and relays what waits there
/// ([`Relays::read`]), until aborted (or the relays are gone).
async fn receive(
    socket: Rc<UdpSocket>,
    owner: Owner,
    relays: Weak<RefCell<Relays>>,
    wake: Rc<Notify>,
    busy: prometheus::IntCounter,
) {
    // Reads in a row that found the socket readable without waiting.
    let mut streak = 0u32;
    loop {
        let (readable, waited) = readable_now_or_later(&socket).await;
        if let Err(e) = readable {
            tracing::trace!(error = %e, "media receive error");
            tokio::time::sleep(Duration::from_millis(1)).await;
            continue;
        }
        // A port that stays readable (a flood, or a media loop) must not starve the shard's SIP: every
        // `FAIR_READS` reads without a wait it lets the event loop poll the sockets and run the other tasks.
        streak = if waited { 0 } else { streak + 1 };
        if streak >= FAIR_READS {
            streak = 0;
            tokio::task::yield_now().await;
        }
        // Never borrowed across an await, on one thread: a failed borrow cannot happen; counted if it did.
        let read = match relays.upgrade() {
            None => return,
            Some(relays) => relays
                .try_borrow_mut()
                .map(|mut borrowed| borrowed.read(&socket, &owner))
                .ok(),
        };
        match read {
            None => {
                busy.inc();
                tokio::task::yield_now().await;
            }
            Some(Ok(true)) => wake.notify_one(),
            Some(Ok(false)) => {}
            Some(Err(e)) => {
                tracing::trace!(error = %e, "media receive error");
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    }
}

/// Waits until `socket` is readable; also answers whether that took a wait (false: it was readable at once).
async fn readable_now_or_later(socket: &UdpSocket) -> (std::io::Result<()>, bool) {
    let mut ready = std::pin::pin!(socket.readable());
    let mut waited = false;
    let readable = std::future::poll_fn(|cx| {
        let poll = ready.as_mut().poll(cx);
        waited |= poll.is_pending();
        poll
    })
    .await;
    (readable, waited)
}

/// Where Linux says which ports it picks for sockets bound to port 0 (`"32768\t60999"` by default).
pub(crate) const EPHEMERAL_PORTS_FILE: &str = "/proc/sys/net/ipv4/ip_local_port_range";

/// The two ports of `ip_local_port_range`'s text, low first.
pub(crate) fn parse_port_range(text: &str) -> Option<(u16, u16)> {
    let mut ports = text.split_whitespace().map(str::parse::<u16>);
    let (Some(Ok(lo)), Some(Ok(hi)), None) = (ports.next(), ports.next(), ports.next()) else {
        return None;
    };
    Some((lo.min(hi), lo.max(hi)))
}

/// Ports Linux never picks for port 0 although they are in the ephemeral range (`"30000-39999,40000"`; empty
/// by default).
pub(crate) const RESERVED_PORTS_FILE: &str = "/proc/sys/net/ipv4/ip_local_reserved_ports";

/// Whether every port of `range` is in `ip_local_reserved_ports`'s list (`"LO-HI,PORT,…"`).
pub(crate) fn reserved_covers(reserved: &str, range: (u16, u16)) -> bool {
    let mut spans: Vec<(u16, u16)> = reserved
        .trim()
        .split(',')
        .filter_map(|item| {
            let (lo, hi) = item.split_once('-').unwrap_or((item, item));
            Some((lo.trim().parse().ok()?, hi.trim().parse().ok()?))
        })
        .collect();
    spans.sort_unstable();
    let mut next = u32::from(range.0);
    for (lo, hi) in spans {
        if u32::from(lo) <= next && next <= u32::from(hi) {
            next = u32::from(hi) + 1;
        }
    }
    next > u32::from(range.1)
}

/// The ports two inclusive ranges share, if any.
pub(crate) fn overlap(a: (u16, u16), b: (u16, u16)) -> Option<(u16, u16)> {
    let (lo, hi) = (a.0.max(b.0), a.1.min(b.1));
    (lo <= hi).then_some((lo, hi))
}

/// The `[first, last]` port slice of shard `index` of `count`: the range split in equal runs of whole pairs.
pub(crate) fn shard_ports(first: u16, last: u16, index: u16, count: u16) -> Option<(u16, u16)> {
    let start = u32::from(first) + u32::from(first % 2);
    let pairs = (u32::from(last) + 1).saturating_sub(start) / 2;
    let per = pairs / u32::from(count.max(1));
    if per == 0 {
        return None;
    }
    let lo = start + u32::from(index) * per * 2;
    let hi = lo + per * 2 - 1;
    Some((u16::try_from(lo).ok()?, u16::try_from(hi).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A free loopback port pair (even RTP port), found by binding.
    fn free_pair() -> PortPair {
        loop {
            let probe = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            let port = probe.local_addr().unwrap().port() & !1;
            drop(probe);
            let free = |p: u16| std::net::UdpSocket::bind(("127.0.0.1", p)).is_ok();
            if port > 1024 && port < u16::MAX - 1 && free(port) && free(port + 1) {
                return PortPair {
                    rtp: port,
                    rtcp: port + 1,
                };
            }
        }
    }

    fn bindable(pair: PortPair) -> bool {
        [pair.rtp, pair.rtcp]
            .iter()
            .all(|&p| std::net::UdpSocket::bind(("127.0.0.1", p)).is_ok())
    }

    /// A shard's relays on loopback, for a test inside a `LocalSet`.
    fn relays() -> Rc<RefCell<Relays>> {
        let services = MediaServices {
            prompts: None,
            recordings: None,
            per_party: false,
        };
        let busy = prometheus::IntCounter::new("busy", "busy").unwrap();
        Relays::shared(
            "127.0.0.1".parse().unwrap(),
            RelayConfig {
                media_timeout: None,
                ..RelayConfig::default()
            },
            Rc::new(Notify::new()),
            services,
            0,
            busy,
        )
    }

    /// Runs `test` on a current-thread runtime inside a `LocalSet`, as a shard does.
    fn on_a_shard<F: std::future::Future<Output = ()>>(test: impl FnOnce() -> F) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        tokio::task::LocalSet::new().block_on(&runtime, test());
    }

    /// Two distinct free pairs.
    fn two_pairs() -> (PortPair, PortPair) {
        let a = free_pair();
        let b = std::iter::repeat_with(free_pair)
            .find(|b| b.rtp.abs_diff(a.rtp) > 1)
            .unwrap();
        (a, b)
    }

    fn close(call: MediaCall) -> MediaCommand {
        MediaCommand::Close {
            call,
            keep_recording: false,
        }
    }

    /// A 20 ms PCMU RTP packet of stream `ssrc`.
    fn rtp(ssrc: u32, seq: u16) -> Vec<u8> {
        let mut p = vec![0x80, 0x00];
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
        p.extend_from_slice(&ssrc.to_be_bytes());
        p.extend_from_slice(&[0xff; 160]);
        p
    }

    /// How many of this process's file descriptors refer to the UDP socket bound to 127.0.0.1:`port`.
    fn descriptors_of(port: u16) -> usize {
        let table = std::fs::read_to_string("/proc/net/udp").unwrap();
        let local = format!("0100007F:{port:04X}");
        let inode = table
            .lines()
            .skip(1)
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .find(|f| f.get(1) == Some(&local.as_str()))
            .and_then(|f| f.get(9).map(|i| (*i).to_owned()))
            .unwrap_or_else(|| panic!("port {port} is not bound"));
        let target = format!("socket:[{inode}]");
        std::fs::read_dir("/proc/self/fd")
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| std::fs::read_link(e.path()).is_ok_and(|l| l.to_string_lossy() == target))
            .count()
    }

    /// Lets the receive tasks run until `done` holds (at most a second).
    async fn until(mut done: impl FnMut() -> bool) {
        for _ in 0..1000 {
            if done() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        panic!("timed out");
    }

    #[test]
    fn a_closed_relay_parks_its_sockets_and_a_reused_pair_is_not_bound_again() {
        on_a_shard(|| async {
            let relays = relays();
            let (a, b) = two_pairs();
            let call = MediaCall(7);
            let now = Instant::now();
            let mut events = Vec::new();
            relays
                .borrow_mut()
                .command(now, MediaCommand::Open { call, a, b }, &mut events);
            assert!(events.is_empty(), "{events:?}");
            tokio::task::yield_now().await; // the receive tasks start and own their sockets
            assert!(!bindable(a) && !bindable(b));
            assert_eq!((relays.borrow().binds(), relays.borrow().len()), (4, 1));
            // One file descriptor per port (no dup for sending): a switch parking thousands of pairs at a high
            // call rate ran out of descriptors with two.
            for port in [a.rtp, a.rtcp, b.rtp, b.rtcp] {
                assert_eq!(descriptors_of(port), 1, "port {port}");
            }
            // Closed at once; the sockets stay bound, parked.
            relays.borrow_mut().command(now, close(call), &mut events);
            assert_eq!(events, [MediaEvent::Closed { call }]);
            events.clear();
            tokio::task::yield_now().await;
            assert!(!bindable(a) && !bindable(b), "parked ports stay bound");
            assert_eq!((relays.borrow().len(), relays.borrow().bound_pairs()), (0, 2));
            // The next call given these pairs reuses the parked sockets: no bind.
            let next = MediaCall(8);
            relays.borrow_mut().command(
                now,
                MediaCommand::Open {
                    call: next,
                    a: b,
                    b: a,
                },
                &mut events,
            );
            assert!(events.is_empty(), "{events:?}");
            assert_eq!((relays.borrow().binds(), relays.borrow().len()), (4, 1));
            // A call with one parked pair and one cold pair binds only the cold one.
            relays.borrow_mut().command(now, close(next), &mut events);
            let (c, _) = std::iter::repeat_with(two_pairs)
                .find(|(c, _)| ![a.rtp, b.rtp].contains(&c.rtp))
                .unwrap();
            let third = MediaCall(9);
            relays
                .borrow_mut()
                .command(now, MediaCommand::Open { call: third, a, b: c }, &mut events);
            assert_eq!(relays.borrow().binds(), 6);
            // A relay that never opened is reported closed at once too.
            events.clear();
            relays
                .borrow_mut()
                .command(now, close(MediaCall(10)), &mut events);
            assert_eq!(events, [MediaEvent::Closed { call: MediaCall(10) }]);
        });
    }

    #[test]
    fn a_datagram_to_a_parked_port_is_dropped_not_delivered_to_the_next_call() {
        on_a_shard(|| async {
            let relays = relays();
            let (a, b) = two_pairs();
            let party_a = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            let party_b = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            party_b.set_nonblocking(true).unwrap();
            let now = Instant::now();
            let mut events = Vec::new();
            let open = |call| MediaCommand::Open { call, a, b };
            let remote = |call, leg, party: &std::net::UdpSocket| MediaCommand::Remote {
                call,
                leg,
                remote: Some(pn_media::RemoteMedia::from_sdp(party.local_addr().unwrap())),
                direction: pn_media::MediaDirection::SendRecv,
            };
            let first = MediaCall(1);
            relays.borrow_mut().command(now, open(first), &mut events);
            relays.borrow_mut().command(now, close(first), &mut events);
            // A stray packet of the ended call reaches the parked port: dropped.
            let dropped = relays.borrow().counts().dropped;
            party_a.send_to(&rtp(1, 1), ("127.0.0.1", a.rtp)).unwrap();
            until(|| relays.borrow().counts().dropped > dropped).await;
            // The next call of the pair gets only its own packets.
            let second = MediaCall(2);
            relays.borrow_mut().command(now, open(second), &mut events);
            for (leg, party) in [(Leg::A, &party_a), (Leg::B, &party_b)] {
                relays
                    .borrow_mut()
                    .command(now, remote(second, leg, party), &mut events);
            }
            party_a.send_to(&rtp(2, 1), ("127.0.0.1", a.rtp)).unwrap();
            until(|| relays.borrow().counts().forwarded == 1).await;
            let mut buf = [0u8; 2048];
            let (n, from) = party_b.recv_from(&mut buf).unwrap();
            assert_eq!(from.port(), b.rtp, "relayed from B's side");
            assert_eq!(
                &buf[..n],
                rtp(2, 1).as_slice(),
                "the new call's packet, not the stray one"
            );
            assert!(party_b.recv_from(&mut buf).is_err(), "nothing else arrived");
            assert_eq!(relays.borrow().counts().forwarded, 1);
        });
    }

    /// A relay that feeds itself (here a loop with no own-address check: B's SDP names A's own port, so each
    /// packet comes back for ever, always readable without the event loop polling) must leave the shard's
    /// other tasks their turn: a task waiting on another socket, as the shard's SIP reader does, still
    /// receives within a second. Before the receive tasks yielded after a run of reads it never ran.
    #[test]
    fn a_self_feeding_relay_leaves_the_shards_other_tasks_their_turn() {
        // On a thread of its own, watched: a starved shard never gets back to this test's own future.
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            self_feeding_relay();
            let _ = done.send(());
        });
        assert!(
            finished.recv_timeout(Duration::from_secs(20)).is_ok(),
            "the shard's event loop starved behind the looping relay"
        );
    }

    fn self_feeding_relay() {
        on_a_shard(|| async {
            let relays = relays();
            let (a, b) = two_pairs();
            let party_a = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            let call = MediaCall(5);
            let now = Instant::now();
            let mut events = Vec::new();
            relays
                .borrow_mut()
                .command(now, MediaCommand::Open { call, a, b }, &mut events);
            for (leg, to) in [
                (Leg::A, party_a.local_addr().unwrap()),
                (Leg::B, SocketAddr::from(([127, 0, 0, 1], a.rtp))),
            ] {
                let remote = MediaCommand::Remote {
                    call,
                    leg,
                    remote: Some(pn_media::RemoteMedia::from_sdp(to)),
                    direction: pn_media::MediaDirection::SendRecv,
                };
                relays.borrow_mut().command(now, remote, &mut events);
            }
            // The "SIP" socket of the shard and its reader task.
            let sip = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let sip_addr = sip.local_addr().unwrap();
            let got = Rc::new(Cell::new(false));
            let reader = {
                let got = Rc::clone(&got);
                tokio::task::spawn_local(async move {
                    let mut buf = [0u8; 64];
                    if sip.recv_from(&mut buf).await.is_ok() {
                        got.set(true);
                    }
                })
            };
            for seq in 0..300 {
                party_a.send_to(&rtp(9, seq), ("127.0.0.1", a.rtp)).unwrap();
            }
            until(|| relays.borrow().counts().forwarded > 1000).await;
            let sent_at = Instant::now();
            std::net::UdpSocket::bind("127.0.0.1:0")
                .unwrap()
                .send_to(b"OPTIONS", sip_addr)
                .unwrap();
            while !got.get() && sent_at.elapsed() < Duration::from_secs(1) {
                tokio::task::yield_now().await;
            }
            let looped = relays.borrow().counts().forwarded;
            assert!(got.get(), "the other task starved ({looped} datagrams looped)");
            reader.abort();
            relays.borrow_mut().command(now, close(call), &mut events);
        });
    }

    #[test]
    fn cooled_pairs_are_unbound_and_bound_anew_when_used_again() {
        on_a_shard(|| async {
            let relays = relays();
            let (a, b) = two_pairs();
            let call = MediaCall(3);
            let now = Instant::now();
            let mut events = Vec::new();
            relays
                .borrow_mut()
                .command(now, MediaCommand::Open { call, a, b }, &mut events);
            // A pair owned by a call is never closed.
            assert!(relays.borrow_mut().cool(&[a]).is_empty());
            relays.borrow_mut().command(now, close(call), &mut events);
            tokio::task::yield_now().await;
            let tasks = relays.borrow_mut().cool(&[a, b]);
            assert_eq!(tasks.len(), 4);
            // The tasks own the sockets: the ports are unbound once they ended.
            for task in tasks {
                assert!(task.await.is_err_and(|e| e.is_cancelled()));
            }
            assert!(
                bindable(a) && bindable(b),
                "the sockets are closed once the tasks ended"
            );
            assert_eq!(relays.borrow().bound_pairs(), 0);
            assert!(relays.borrow_mut().cool(&[a]).is_empty(), "nothing left to close");
            relays.borrow_mut().command(
                now,
                MediaCommand::Open {
                    call: MediaCall(4),
                    a,
                    b,
                },
                &mut events,
            );
            assert_eq!(relays.borrow().binds(), 8, "bound anew");
            assert!(
                events.iter().all(|e| matches!(e, MediaEvent::Closed { .. })),
                "{events:?}"
            );
        });
    }

    #[test]
    fn a_pair_held_elsewhere_is_reported_unbindable_and_the_other_parked() {
        on_a_shard(|| async {
            let relays = relays();
            let (a, b) = two_pairs();
            let _held = std::net::UdpSocket::bind(("127.0.0.1", b.rtcp)).unwrap();
            let call = MediaCall(9);
            let mut events = Vec::new();
            relays
                .borrow_mut()
                .command(Instant::now(), MediaCommand::Open { call, a, b }, &mut events);
            assert_eq!(
                events,
                [MediaEvent::OpenFailed {
                    call,
                    unbindable: [None, Some(b)]
                }]
            );
            assert_eq!(relays.borrow().len(), 0);
            assert!(
                std::net::UdpSocket::bind(("127.0.0.1", b.rtp)).is_ok(),
                "nothing of the failed pair stays bound"
            );
            tokio::task::yield_now().await;
            assert!(!bindable(a), "the pair that bound is parked");
            assert_eq!((relays.borrow().bound_pairs(), relays.borrow().binds()), (1, 2));
        });
    }

    #[test]
    fn port_range_is_split_per_shard() {
        assert_eq!(shard_ports(30000, 39999, 0, 1), Some((30000, 39999)));
        assert_eq!(shard_ports(30000, 39999, 0, 2), Some((30000, 34999)));
        assert_eq!(shard_ports(30000, 39999, 1, 2), Some((35000, 39999)));
        assert_eq!(shard_ports(30001, 30004, 0, 1), Some((30002, 30003)));
        assert_eq!(shard_ports(30000, 30001, 0, 2), None);
    }

    #[test]
    fn ephemeral_overlap() {
        assert_eq!(parse_port_range("32768\t60999\n"), Some((32768, 60999)));
        assert_eq!(parse_port_range("1024 65535"), Some((1024, 65535)));
        assert_eq!(parse_port_range("60999 32768"), Some((32768, 60999)));
        assert_eq!(parse_port_range("32768"), None);
        assert_eq!(parse_port_range("a b"), None);
        assert_eq!(parse_port_range("1 2 3"), None);
        let ephemeral = (32768, 60999);
        assert_eq!(overlap((16384, 32767), ephemeral), None);
        assert_eq!(overlap((30000, 39999), ephemeral), Some((32768, 39999)));
        assert_eq!(overlap((60000, 64999), ephemeral), Some((60000, 60999)));
        assert_eq!(overlap((40000, 40099), ephemeral), Some((40000, 40099)));
        assert_eq!(overlap((61000, 65535), ephemeral), None);
        assert_eq!(overlap((32767, 32768), ephemeral), Some((32768, 32768)));
        assert!(reserved_covers("30000-39999\n", (32768, 39999)));
        assert!(reserved_covers("32768-35000,35001-39999", (32768, 39999)));
        assert!(reserved_covers("35001-39999,32768-35000", (32768, 39999)));
        assert!(!reserved_covers("32768-35000,35002-39999", (32768, 39999)));
        assert!(!reserved_covers("\n", (32768, 39999)));
        assert!(reserved_covers("40000", (40000, 40000)));
        assert!(!reserved_covers("30000-39998", (32768, 39999)));
    }
}
