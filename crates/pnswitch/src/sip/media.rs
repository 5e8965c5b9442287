//! The media plane of one shard (`[media] mode = "relay"`): the shard's [`B2bua`](pn_b2bua::B2bua) emits
//! [`MediaCommand`]s; this owns, per call, the four UDP sockets of the two port pairs, the sans-IO
//! [`RelaySession`], and the switch's own media on each leg: prompt players ([`PromptPlayer`], queued per
//! leg; while one plays to a party, what the other party sends it is dropped), DTMF detectors
//! ([`DigitDetector`]) and the call's [`Recorder`] (its finalised audio goes to the recording writer thread,
//! [`RecordingSink`]). Each socket has a receive task on the shard's own single-threaded event loop (a
//! `LocalSet`): it reads a datagram and hands it at once to the call's session (the relays are shared with
//! the shard loop through an `Rc<RefCell<…>>`, never borrowed across an await), which forwards it from the
//! other leg's socket in the same wake-up — no queue, no copy. Reports for the core (dead media, digits,
//! prompts played) are collected as [`MediaEvent`]s and the shard loop is woken to hand them to
//! [`pn_b2bua::B2bua::handle_media_event`]. Everything for a call lives on the call's shard thread: no locks.
//!
//! Closing a call's relay ([`MediaCommand::Close`]) aborts its receive tasks, but each task owns its socket
//! and an aborted task is only dropped when the `LocalSet` next runs it: until then the ports are still bound.
//! So the tasks are kept ([`Relays::take_closing`]) and the shard awaits them before it reports
//! [`MediaEvent::Closed`], which is what returns the call's port pairs to the core's pool.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pn_b2bua::{MediaCall, MediaCommand, MediaEvent, PromptRef};
use pn_media::{
    Channel, DigitDetector, G711Law, Leg, PortPair, PromptPlayer, RecordChunk, Recorder, RecorderConfig,
    RelayConfig, RelayEvent, RelayOutcome, RelaySession, RtpPacket,
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

/// Decoded prompt audio: its law and G.711 bytes.
type Audio = (G711Law, Arc<[u8]>);

/// A prompt waiting for its turn on a leg.
struct Queued {
    prompt: PromptRef,
    payload_type: u8,
    loops: u32,
    tag: u32,
}

/// The switch's own media towards one party.
struct LegMedia {
    queue: VecDeque<Queued>,
    playing: Option<(PromptPlayer, u32)>,
    /// The SSRC, next sequence number and timestamp of the switch's stream to this party.
    ssrc: u32,
    position: (u16, u32),
    detector: Option<DigitDetector>,
}

impl LegMedia {
    fn new(seed: u64) -> Self {
        let h = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        Self {
            queue: VecDeque::new(),
            playing: None,
            ssrc: (h >> 32) as u32 | 1,
            position: (h as u16, (h >> 16) as u32),
            detector: None,
        }
    }
}

/// A recording in progress.
struct Recording {
    recorder: Recorder,
    key: u64,
    next_flush: Instant,
}

/// One call's relay.
struct CallRelay {
    session: RelaySession,
    /// The call's sockets for sending (by leg, then channel): plain non-blocking sends, because tokio's
    /// `try_send_to` answers `WouldBlock` until the reactor has first seen a socket writable, which lost the
    /// first frames sent in the same turn as the call's relay was opened (a prompt before a rejection, AXE).
    senders: [[std::net::UdpSocket; 2]; 2],
    tasks: Vec<JoinHandle<()>>,
    /// The deadline this call has in [`Relays::deadlines`] (`None`: none pushed).
    scheduled: Option<Instant>,
    legs: [LegMedia; 2],
    recording: Option<Recording>,
}

impl Drop for CallRelay {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl CallRelay {
    /// The earliest instant this call has work: dead media, a prompt frame, a recording flush.
    fn poll_timeout(&self) -> Option<Instant> {
        let players = self
            .legs
            .iter()
            .filter_map(|l| l.playing.as_ref().and_then(|(p, _)| p.poll_timeout()));
        self.session
            .poll_timeout()
            .into_iter()
            .chain(players)
            .chain(self.recording.as_ref().map(|r| r.next_flush))
            .min()
    }
}

/// The relays of one shard.
pub(crate) struct Relays {
    bind_ip: IpAddr,
    config: RelayConfig,
    calls: HashMap<MediaCall, CallRelay>,
    /// Deadlines, earliest first. Lazy: an entry is current only while it equals its call's `scheduled`;
    /// RTP re-arming moves a call's deadline later without a push, so a packet costs O(1) here and the heap
    /// never grows per packet (a stale entry only causes one early wake-up).
    deadlines: BinaryHeap<Reverse<(Instant, MediaCall)>>,
    /// This object, for the receive tasks it spawns.
    me: Weak<RefCell<Relays>>,
    /// Wakes the shard loop: events are pending, or a deadline moved earlier.
    wake: Rc<Notify>,
    /// Events produced by received packets, for the shard loop.
    pending: Vec<MediaEvent>,
    services: MediaServices,
    /// Shipped prompts, decoded once.
    defaults: HashMap<String, Option<Audio>>,
    /// Makes recording keys unique across shards.
    shard: u16,
    /// Scratch buffer for prompt packets.
    frame: Vec<u8>,
    /// Relays closed by the core whose receive tasks (each owning a socket) are aborted but maybe not yet
    /// dropped: the shard awaits them, then reports [`MediaEvent::Closed`].
    closing: Vec<(MediaCall, Vec<JoinHandle<()>>)>,
    /// What happened so far.
    pub(crate) counts: MediaCounts,
    /// `pn_media_packets_total{outcome="busy"}`: datagrams a receive task found the relays borrowed for.
    busy: prometheus::IntCounter,
}

/// Pushes `relay`'s deadline when it is earlier than the one already scheduled; true when it did.
fn reschedule(
    deadlines: &mut BinaryHeap<Reverse<(Instant, MediaCall)>>,
    call: MediaCall,
    relay: &mut CallRelay,
) -> bool {
    if let Some(at) = relay.poll_timeout()
        && relay.scheduled.is_none_or(|s| at < s)
    {
        deadlines.push(Reverse((at, call)));
        relay.scheduled = Some(at);
        return true;
    }
    false
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
        Rc::new_cyclic(|me| {
            RefCell::new(Self {
                bind_ip,
                config: RelayConfig {
                    media_timeout: (!timeout.is_zero()).then_some(timeout),
                    ..RelayConfig::default()
                },
                calls: HashMap::new(),
                deadlines: BinaryHeap::new(),
                me: me.clone(),
                wake,
                pending: Vec::new(),
                services,
                defaults: HashMap::new(),
                shard,
                frame: Vec::with_capacity(256),
                closing: Vec::new(),
                counts: MediaCounts::default(),
                busy,
            })
        })
    }

    /// Moves the events received packets produced to `out`.
    pub(crate) fn take_events(&mut self, out: &mut Vec<MediaEvent>) {
        out.append(&mut self.pending);
    }

    /// Carries out one command of the core; reports (a prompt that cannot play) go to `events`.
    pub(crate) fn command(&mut self, now: Instant, command: MediaCommand, events: &mut Vec<MediaEvent>) {
        let call = command.call();
        match command {
            MediaCommand::Open { call, a, b } => match self.open(now, call, a, b) {
                Ok(relay) => {
                    self.calls.insert(call, relay);
                }
                Err((e, unbindable)) => {
                    tracing::error!(error = %e, ?a, ?b, "cannot bind the media ports of a call: releasing it (7508)");
                    self.counts.open_failed += 1;
                    events.push(MediaEvent::OpenFailed { call, unbindable });
                }
            },
            MediaCommand::Close { call, keep_recording } => {
                match self.calls.remove(&call) {
                    Some(mut relay) => {
                        self.stop_recording(now, &mut relay, keep_recording);
                        let tasks = std::mem::take(&mut relay.tasks);
                        for task in &tasks {
                            task.abort();
                        }
                        self.closing.push((call, tasks));
                    }
                    // No relay (its open failed): no socket of the call is open.
                    None => events.push(MediaEvent::Closed { call }),
                }
                return;
            }
            other => {
                let Some(mut relay) = self.calls.remove(&call) else {
                    if let MediaCommand::Play { call, leg, tag, .. } = other {
                        events.push(MediaEvent::PlayDone { call, leg, tag });
                    }
                    return;
                };
                self.apply(now, call, &mut relay, other, events);
                self.calls.insert(call, relay);
            }
        }
        self.service(now, call, events);
    }

    fn apply(
        &mut self,
        now: Instant,
        call: MediaCall,
        relay: &mut CallRelay,
        command: MediaCommand,
        events: &mut Vec<MediaEvent>,
    ) {
        match command {
            MediaCommand::Remote {
                leg,
                remote,
                direction,
                ..
            } => {
                if let Some(remote) = remote {
                    relay.session.set_remote(leg, remote);
                }
                relay.session.set_direction(now, leg, direction);
            }
            MediaCommand::Answered { .. } => relay.session.restart_timers(now),
            MediaCommand::Play {
                leg,
                prompt,
                payload_type,
                loops,
                tag,
                ..
            } => {
                relay.legs[leg_idx(leg)].queue.push_back(Queued {
                    prompt,
                    payload_type,
                    loops,
                    tag,
                });
            }
            MediaCommand::StopPlay { leg, .. } => {
                let state = &mut relay.legs[leg_idx(leg)];
                if let Some((player, tag)) = state.playing.take() {
                    state.position = player.position();
                    events.push(MediaEvent::PlayDone { call, leg, tag });
                }
                for q in state.queue.drain(..) {
                    events.push(MediaEvent::PlayDone {
                        call,
                        leg,
                        tag: q.tag,
                    });
                }
            }
            MediaCommand::Detect {
                leg,
                telephone_event,
                inband,
                ..
            } => relay.legs[leg_idx(leg)].detector = Some(DigitDetector::new(telephone_event, inband)),
            MediaCommand::StopDetect { leg, .. } => relay.legs[leg_idx(leg)].detector = None,
            MediaCommand::Record { app, object, .. } => match &self.services.recordings {
                Some(sink) if relay.recording.is_none() => {
                    self.counts.recordings += 1;
                    let key = (u64::from(self.shard) << 48) | (call.0 & ((1 << 48) - 1));
                    sink.open(key, app, object, self.services.per_party);
                    relay.recording = Some(Recording {
                        recorder: Recorder::new(
                            now,
                            RecorderConfig {
                                per_party: self.services.per_party,
                                ..RecorderConfig::default()
                            },
                        ),
                        key,
                        next_flush: now + RECORD_FLUSH,
                    });
                }
                Some(_) => {}
                None => tracing::warn!(%object, "recording requested but no recording store is configured"),
            },
            MediaCommand::Open { .. } | MediaCommand::Close { .. } => {}
        }
    }

    /// Binds the four sockets of a call and starts their receive tasks. On failure nothing stays bound, and the
    /// error comes with the pairs a port of which is in use outside the pool.
    fn open(
        &self,
        now: Instant,
        call: MediaCall,
        a: PortPair,
        b: PortPair,
    ) -> Result<CallRelay, (std::io::Error, [Option<PortPair>; 2])> {
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
        let seed = (u64::from(self.shard) << 48) ^ call.0 ^ u64::from(a.rtp) << 20;
        Ok(CallRelay {
            session: RelaySession::new(now, self.config, a, b),
            senders,
            tasks,
            scheduled: None,
            legs: [LegMedia::new(seed), LegMedia::new(seed ^ 0x5555)],
            recording: None,
        })
    }

    /// A datagram from a call's socket: forwarded unchanged (unless the switch plays to the receiving party),
    /// watched for DTMF and recorded; or dropped. True when the shard loop must run (events or an earlier
    /// deadline).
    fn packet(&mut self, now: Instant, packet: &Packet<'_>) -> bool {
        let Some(relay) = self.calls.get_mut(&packet.call) else {
            return false;
        };
        let events = &mut self.pending;
        let outcome = relay
            .session
            .handle_packet(now, packet.leg, packet.channel, packet.from, packet.bytes);
        if matches!(outcome, RelayOutcome::Dropped(_)) {
            self.counts.dropped += 1;
        }
        // What the session accepted from the party (even with nowhere to forward it yet) is watched.
        let latched = matches!(
            outcome,
            RelayOutcome::Forward(_) | RelayOutcome::Dropped(pn_media::DropReason::NoDestination)
        );
        if let RelayOutcome::Forward(f) = outcome {
            let muted = f.channel == Channel::Rtp && relay.legs[leg_idx(f.leg)].playing.is_some();
            if muted {
                self.counts.dropped += 1;
            } else {
                self.counts.forwarded += 1;
                let socket = &relay.senders[leg_idx(f.leg)][channel_idx(f.channel)];
                if let Err(e) = socket.send_to(f.bytes, f.to) {
                    tracing::trace!(to = %f.to, error = %e, "media send failed");
                }
            }
        }
        let source = &mut relay.legs[leg_idx(packet.leg)];
        let watch = source.detector.is_some() || relay.recording.is_some();
        if latched && watch && packet.channel == Channel::Rtp && !pn_media::is_rtcp(packet.bytes) {
            if let Ok(rtp) = RtpPacket::parse(packet.bytes) {
                if let Some(detector) = source.detector.as_mut() {
                    if let Some(digit) = detector.handle_rtp(&rtp) {
                        self.counts.digits += 1;
                        events.push(MediaEvent::Digit {
                            call: packet.call,
                            leg: packet.leg,
                            digit: digit.as_char(),
                        });
                    }
                    while let Some(digit) = detector.poll_digit() {
                        self.counts.digits += 1;
                        events.push(MediaEvent::Digit {
                            call: packet.call,
                            leg: packet.leg,
                            digit: digit.as_char(),
                        });
                    }
                }
                if let Some(rec) = relay.recording.as_mut() {
                    rec.recorder.handle_rtp(now, packet.leg, &rtp);
                }
            }
        }
        drain_events(packet.call, &mut relay.session, events);
        let earlier = reschedule(&mut self.deadlines, packet.call, relay);
        earlier || !self.pending.is_empty()
    }

    /// The earliest scheduled deadline (possibly a stale, earlier one: see `deadlines`).
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.deadlines.peek().map(|Reverse((at, _))| *at)
    }

    /// Runs due work: dead-media timers, prompt frames, recording flushes. Only the calls whose scheduled
    /// deadline has passed are visited.
    pub(crate) fn handle_timeout(&mut self, now: Instant, events: &mut Vec<MediaEvent>) {
        while let Some(&Reverse((at, call))) = self.deadlines.peek() {
            if at > now {
                break;
            }
            self.deadlines.pop();
            let Some(relay) = self.calls.get_mut(&call) else {
                continue;
            };
            if relay.scheduled != Some(at) {
                continue;
            }
            relay.scheduled = None;
            self.service(now, call, events);
        }
    }

    /// Does whatever `call` has due at `now`, then schedules its next deadline.
    fn service(&mut self, now: Instant, call: MediaCall, events: &mut Vec<MediaEvent>) {
        let Some(mut relay) = self.calls.remove(&call) else {
            return;
        };
        if relay.session.poll_timeout().is_some_and(|due| due <= now) {
            relay.session.handle_timeout(now);
        }
        for leg in [Leg::A, Leg::B] {
            self.play(now, call, &mut relay, leg, events);
        }
        if let Some(rec) = relay.recording.as_mut()
            && rec.next_flush <= now
        {
            rec.next_flush = now + RECORD_FLUSH;
            let mut chunk = RecordChunk::default();
            rec.recorder.take_ready(now, &mut chunk);
            if let Some(sink) = &self.services.recordings {
                sink.append(rec.key, chunk.mix, chunk.a, chunk.b);
            }
        }
        drain_events(call, &mut relay.session, events);
        relay.scheduled = None;
        reschedule(&mut self.deadlines, call, &mut relay);
        self.calls.insert(call, relay);
    }

    /// Sends the due frames of what plays to `leg`, moving on through its queue.
    fn play(
        &mut self,
        now: Instant,
        call: MediaCall,
        relay: &mut CallRelay,
        leg: Leg,
        events: &mut Vec<MediaEvent>,
    ) {
        loop {
            let state = &mut relay.legs[leg_idx(leg)];
            if state.playing.is_none() {
                let Some(next) = state.queue.pop_front() else {
                    return;
                };
                let (seq, ts) = state.position;
                let ssrc = state.ssrc;
                let player = self.load(&next.prompt).and_then(|(law, audio)| {
                    PromptPlayer::new(
                        now,
                        audio,
                        law,
                        next.payload_type,
                        ssrc,
                        seq,
                        ts,
                        next.loops.max(1),
                    )
                    .map_err(|e| tracing::warn!(prompt = %next.prompt.name, error = %e, "prompt cannot play"))
                    .ok()
                });
                let state = &mut relay.legs[leg_idx(leg)];
                let Some(player) = player else {
                    events.push(MediaEvent::PlayDone {
                        call,
                        leg,
                        tag: next.tag,
                    });
                    continue;
                };
                state.playing = Some((player, next.tag));
            }
            let destination = relay.session.rtp_destination(leg);
            let socket = &relay.senders[leg_idx(leg)][0];
            let state = &mut relay.legs[leg_idx(leg)];
            let Some((player, tag)) = state.playing.as_mut() else {
                return;
            };
            while player.poll_packet(now, &mut self.frame) {
                self.counts.played += 1;
                if let Some(to) = destination
                    && let Err(e) = socket.send_to(&self.frame, to)
                {
                    tracing::trace!(%to, error = %e, "prompt send failed");
                }
            }
            if !player.is_finished() {
                return;
            }
            let tag = *tag;
            state.position = player.position();
            state.playing = None;
            events.push(MediaEvent::PlayDone { call, leg, tag });
        }
    }

    /// The audio of a prompt: the app's upload or the shipped default of that name.
    fn load(&mut self, prompt: &PromptRef) -> Option<Audio> {
        if let (Some(library), Some(app)) = (&self.services.prompts, prompt.app) {
            let found = library.get(app, &prompt.name);
            if found.is_none() {
                tracing::warn!(prompt = %prompt.name, app = app.0, "prompt not found");
            }
            return found.map(|p| (p.law, Arc::clone(&p.samples)));
        }
        self.defaults
            .entry(prompt.name.clone())
            .or_insert_with(|| {
                let bytes = pn_media::prompts::default_prompt(&prompt.name)?;
                let audio = pn_media::parse_prompt(bytes).ok()?;
                Some((audio.law, Arc::from(audio.samples)))
            })
            .clone()
    }

    /// Ends a call's recording: the rest of its audio, then the file kept or discarded.
    fn stop_recording(&self, now: Instant, relay: &mut CallRelay, keep: bool) {
        let Some(mut rec) = relay.recording.take() else {
            return;
        };
        let mut chunk = RecordChunk::default();
        rec.recorder.finish(now, &mut chunk);
        if let Some(sink) = &self.services.recordings {
            sink.append(rec.key, chunk.mix, chunk.a, chunk.b);
            sink.close(rec.key, keep);
        }
    }

    /// Calls with a relay.
    pub(crate) fn len(&self) -> usize {
        self.calls.len()
    }

    /// The relays closed since the last call, each with its aborted receive tasks: once they have all ended,
    /// their sockets are closed.
    pub(crate) fn take_closing(&mut self) -> Vec<(MediaCall, Vec<JoinHandle<()>>)> {
        std::mem::take(&mut self.closing)
    }
}

fn drain_events(call: MediaCall, session: &mut RelaySession, events: &mut Vec<MediaEvent>) {
    while let Some(event) = session.poll_event() {
        match event {
            RelayEvent::MediaTimeout { leg } => events.push(MediaEvent::Timeout { call, leg }),
            RelayEvent::Latched { leg, channel, addr } => {
                tracing::debug!(?call, ?leg, ?channel, %addr, "media latched");
            }
            _ => {}
        }
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
}
