//! The media plane of one shard (`[media] mode = "relay"`): the sockets and the loop around the shard's
//! sans-IO [`MediaEngine`]. The shard's [`B2bua`](pn_b2bua::B2bua) emits [`MediaCommand`]s; this binds,
//! per call, the four UDP sockets of the two port pairs, resolves prompts to audio (an app's upload from
//! the [`PromptLibrary`] or a shipped default) and passes the command on to the engine, which owns all the
//! per-call media logic (relay, prompt queues and muting, RTP continuity, DTMF, recording). Each socket has
//! a receive task on the shard's own single-threaded event loop (a `LocalSet`): it reads a datagram and
//! hands it at once to the engine (the relays are shared with the shard loop through an `Rc<RefCell<…>>`,
//! never borrowed across an await), then sends what the engine emits from the named socket in the same
//! wake-up. The engine's recording audio goes to the writer thread ([`RecordingSink`]); its reports for the
//! core (dead media, digits, prompts played) are collected as [`MediaEvent`]s and the shard loop is woken
//! to hand them to [`pn_b2bua::B2bua::handle_media_event`]. The shard sleeps until the engine's next
//! deadline ([`Relays::poll_timeout`]). Everything for a call lives on the call's shard thread: no locks.
//!
//! Closing a call's relay ([`MediaCommand::Close`]) aborts its receive tasks, but each task owns its socket
//! and an aborted task is only dropped when the `LocalSet` next runs it: until then the ports are still bound.
//! So the tasks are kept ([`Relays::take_closing`]) and the shard awaits them before it reports
//! [`MediaEvent::Closed`], which is what returns the call's port pairs to the core's pool.

use std::cell::RefCell;
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

/// Largest datagram relayed.
const MAX_DATAGRAM: usize = 2048;

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
    /// Datagrams not relayed (malformed, no destination yet, wrong source, the receiver hears a prompt).
    pub(crate) dropped: u64,
    /// Prompt frames the switch sent.
    pub(crate) played: u64,
    /// DTMF digits detected in RTP.
    pub(crate) digits: u64,
    /// Relays whose sockets could not be bound.
    pub(crate) open_failed: u64,
    /// Recordings started.
    pub(crate) recordings: u64,
}

/// One call's sockets.
struct CallSockets {
    /// For sending (by leg, then channel): plain non-blocking sends, because tokio's `try_send_to` answers
    /// `WouldBlock` until the reactor has first seen a socket writable, which lost the first frames sent in
    /// the same turn as the call's relay was opened (a prompt before a rejection, AXE).
    senders: [[std::net::UdpSocket; 2]; 2],
    /// The receive tasks, each owning a socket.
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for CallSockets {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// The relays of one shard: the sockets around the shard's [`MediaEngine`].
pub(crate) struct Relays {
    bind_ip: IpAddr,
    engine: MediaEngine<MediaCall>,
    sockets: HashMap<MediaCall, CallSockets>,
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
    /// Relays closed by the core whose receive tasks (each owning a socket) are aborted but maybe not yet
    /// dropped: the shard awaits them, then reports [`MediaEvent::Closed`].
    closing: Vec<(MediaCall, Vec<JoinHandle<()>>)>,
    /// Relays that could not be bound, recordings started.
    opened: (u64, u64),
    /// `pn_media_packets_total{outcome="busy"}`: datagrams a receive task found the relays borrowed for.
    busy: prometheus::IntCounter,
}

impl Relays {
    /// Relays binding on `bind_ip`, with dead-media timeout `timeout` (zero: off); `wake` is notified when
    /// received packets produced events (or moved a deadline earlier). Must be used inside the shard's
    /// `LocalSet` (receive tasks are spawned locally).
    pub(crate) fn shared(
        bind_ip: IpAddr,
        timeout: Duration,
        wake: Rc<Notify>,
        services: MediaServices,
        shard: u16,
        busy: prometheus::IntCounter,
    ) -> Rc<RefCell<Self>> {
        let config = EngineConfig {
            relay: RelayConfig {
                media_timeout: (!timeout.is_zero()).then_some(timeout),
                ..RelayConfig::default()
            },
            record_flush: RECORD_FLUSH,
            per_party: services.per_party,
            seed: u64::from(shard) << 48,
        };
        Rc::new_cyclic(|me| {
            RefCell::new(Self {
                bind_ip,
                engine: MediaEngine::new(config),
                sockets: HashMap::new(),
                me: me.clone(),
                wake,
                pending: Vec::new(),
                services,
                defaults: HashMap::new(),
                shard,
                closing: Vec::new(),
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
            dropped: engine.dropped,
            played: engine.played,
            digits: engine.digits,
            open_failed: self.opened.0,
            recordings: self.opened.1,
        }
    }

    /// Carries out one command of the core; reports go to `events`.
    pub(crate) fn command(&mut self, now: Instant, command: MediaCommand, events: &mut Vec<MediaEvent>) {
        let command = match command {
            MediaCommand::Open { call, a, b } => match self.open(call, a, b) {
                Ok(sockets) => {
                    self.sockets.insert(call, sockets);
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
                match self.sockets.remove(&call) {
                    Some(mut sockets) => {
                        let tasks = std::mem::take(&mut sockets.tasks);
                        for task in &tasks {
                            task.abort();
                        }
                        self.closing.push((call, tasks));
                    }
                    // No relay (its open failed): no socket of the call is open.
                    None => self.pending.push(MediaEvent::Closed { call }),
                }
                self.drain();
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
        self.drain();
        events.append(&mut self.pending);
    }

    /// Binds the four sockets of a call and starts their receive tasks. On failure nothing stays bound, and the
    /// error comes with the pairs a port of which is in use outside the pool.
    fn open(
        &self,
        call: MediaCall,
        a: PortPair,
        b: PortPair,
    ) -> Result<CallSockets, (std::io::Error, [Option<PortPair>; 2])> {
        type Bound = (Arc<UdpSocket>, std::net::UdpSocket);
        let bind = |port: u16| -> std::io::Result<Bound> {
            let socket = std::net::UdpSocket::bind(SocketAddr::new(self.bind_ip, port))?;
            socket.set_nonblocking(true)?;
            let sender = socket.try_clone()?;
            Ok((Arc::new(UdpSocket::from_std(socket)?), sender))
        };
        let pair = |p: PortPair| -> std::io::Result<[Bound; 2]> { Ok([bind(p.rtp)?, bind(p.rtcp)?]) };
        let (pa, pb) = (pair(a), pair(b));
        let in_use = |r: &std::io::Result<[Bound; 2]>, p: PortPair| {
            matches!(r, Err(e) if e.kind() == std::io::ErrorKind::AddrInUse).then_some(p)
        };
        let unbindable = [in_use(&pa, a), in_use(&pb, b)];
        let [[ar, ac], [br, bc]] = match (pa, pb) {
            (Ok(pa), Ok(pb)) => [pa, pb],
            (Err(e), _) | (_, Err(e)) => return Err((e, unbindable)),
        };
        let sockets = [[ar.0, ac.0], [br.0, bc.0]];
        let senders = [[ar.1, ac.1], [br.1, bc.1]];
        let mut tasks = Vec::with_capacity(4);
        for (leg, pair) in [(Leg::A, &sockets[0]), (Leg::B, &sockets[1])] {
            for (channel, socket) in [(Channel::Rtp, &pair[0]), (Channel::Rtcp, &pair[1])] {
                tasks.push(tokio::task::spawn_local(receive(
                    Arc::clone(socket),
                    (call, leg, channel),
                    self.me.clone(),
                    Rc::clone(&self.wake),
                    self.busy.clone(),
                )));
            }
        }
        Ok(CallSockets { senders, tasks })
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
        self.drain();
        events.append(&mut self.pending);
    }

    /// Sends the engine's datagrams, hands recordings to the writer, queues its reports for the core;
    /// answers the next deadline.
    fn drain(&mut self) -> Option<Instant> {
        loop {
            let event = match self.engine.poll_output() {
                MediaEngineOutput::Timeout(at) => return at,
                MediaEngineOutput::Transmit(t) => {
                    if let Some(sockets) = self.sockets.get(&t.call) {
                        let socket = &sockets.senders[leg_idx(t.leg)][channel_idx(t.channel)];
                        if let Err(e) = socket.send_to(t.bytes, t.to) {
                            tracing::trace!(to = %t.to, error = %e, "media send failed");
                        }
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
        self.sockets.len()
    }

    /// The relays closed since the last call, each with its aborted receive tasks: once they have all ended,
    /// their sockets are closed.
    pub(crate) fn take_closing(&mut self) -> Vec<(MediaCall, Vec<JoinHandle<()>>)> {
        std::mem::take(&mut self.closing)
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

/// Reads datagrams of one socket and relays each at once, until aborted (or the relays are gone).
async fn receive(
    socket: Arc<UdpSocket>,
    (call, leg, channel): (MediaCall, Leg, Channel),
    relays: Weak<RefCell<Relays>>,
    wake: Rc<Notify>,
    busy: prometheus::IntCounter,
) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        match socket.recv_from(&mut buf).await {
            Ok((n, from)) => {
                let Some(relays) = relays.upgrade() else {
                    return;
                };
                let packet = Packet {
                    call,
                    leg,
                    channel,
                    from,
                    bytes: &buf[..n],
                };
                // Never borrowed across an await, on one thread: a failed borrow cannot happen; counted if it did.
                let Ok(mut relays) = relays.try_borrow_mut() else {
                    busy.inc();
                    continue;
                };
                if relays.packet(std::time::Instant::now(), &packet) {
                    wake.notify_one();
                }
            }
            Err(e) => {
                tracing::trace!(error = %e, "media receive error");
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    }
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

    #[test]
    fn closed_is_reported_only_once_the_sockets_are_closed() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        tokio::task::LocalSet::new().block_on(&runtime, async {
            let services = MediaServices {
                prompts: None,
                recordings: None,
                per_party: false,
            };
            let busy = prometheus::IntCounter::new("busy", "busy").unwrap();
            let relays = Relays::shared(
                "127.0.0.1".parse().unwrap(),
                Duration::ZERO,
                Rc::new(Notify::new()),
                services,
                0,
                busy,
            );
            let a = free_pair();
            let b = std::iter::repeat_with(free_pair).find(|b| *b != a).unwrap();
            let call = MediaCall(7);
            let now = Instant::now();
            let mut events = Vec::new();
            relays
                .borrow_mut()
                .command(now, MediaCommand::Open { call, a, b }, &mut events);
            assert!(events.is_empty(), "{events:?}");
            tokio::task::yield_now().await; // the receive tasks start and own their sockets
            assert!(!bindable(a) && !bindable(b));
            let close = MediaCommand::Close {
                call,
                keep_recording: false,
            };
            relays.borrow_mut().command(now, close, &mut events);
            // Closing aborted the receive tasks, but their sockets stay open until the tasks are dropped: no
            // `Closed` yet, the tasks are handed over to be awaited.
            assert!(events.is_empty(), "{events:?}");
            assert!(!bindable(a), "the ports are still bound right after the close");
            let closing = relays.borrow_mut().take_closing();
            assert_eq!(closing.len(), 1);
            for (closed, tasks) in closing {
                assert_eq!(closed, call);
                assert_eq!(tasks.len(), 4);
                for task in tasks {
                    assert!(task.await.is_err_and(|e| e.is_cancelled()));
                }
            }
            assert!(
                bindable(a) && bindable(b),
                "the sockets are closed once the tasks ended"
            );
            // A relay that never opened is reported closed at once.
            let other = MediaCall(8);
            let close = MediaCommand::Close {
                call: other,
                keep_recording: false,
            };
            relays.borrow_mut().command(now, close, &mut events);
            assert_eq!(events, [MediaEvent::Closed { call: other }]);
            assert!(relays.borrow_mut().take_closing().is_empty());
        });
    }

    #[test]
    fn a_pair_held_elsewhere_is_reported_unbindable() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        tokio::task::LocalSet::new().block_on(&runtime, async {
            let services = MediaServices {
                prompts: None,
                recordings: None,
                per_party: false,
            };
            let busy = prometheus::IntCounter::new("busy", "busy").unwrap();
            let relays = Relays::shared(
                "127.0.0.1".parse().unwrap(),
                Duration::ZERO,
                Rc::new(Notify::new()),
                services,
                0,
                busy,
            );
            let a = free_pair();
            let b = std::iter::repeat_with(free_pair).find(|b| *b != a).unwrap();
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
            assert!(bindable(a), "nothing of a failed open stays bound");
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
