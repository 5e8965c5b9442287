//! The media of one shard's calls as one sans-IO engine: [`MediaEngine`].
//!
//! Per call it owns the two-leg [`RelaySession`](crate::RelaySession) (latching, dead media), and the switch's own media on each
//! leg: a queue of prompts played one after another by [`PromptPlayer`](crate::PromptPlayer)s (while the switch plays to a party,
//! the RTP the other party sends towards it is dropped: the party is *muted*), the SSRC, sequence number and
//! timestamp of the switch's stream to that party (kept across prompts, so the stream stays continuous while
//! the switch alternates between relaying and playing), a [`DigitDetector`](crate::DigitDetector) fed with what the party sends,
//! and the call's [`Recorder`](crate::Recorder), whose finalised audio is emitted every [`EngineConfig::record_flush`] and
//! at close.
//!
//! # I/O contract
//!
//! Inputs: [`MediaEngine::handle_command`] (what the call logic wants), [`MediaEngine::handle_packet`] (a
//! datagram one of a call's sockets received), [`MediaEngine::handle_timeout`] (the deadline passed). Each
//! takes `now`; nothing here reads the clock. After any input, drain [`MediaEngine::poll_output`] until it
//! answers [`Output::Timeout`], the instant of the next deadline: [`Output::Transmit`] is a datagram to send
//! from the named call's leg and channel socket; [`Output::Event`] a report ([`Event`]). Sockets, prompt
//! files and recording files stay with the caller: a prompt comes in as decoded audio ([`PromptAudio`]), a
//! recording leaves as [`Event::Recording`] chunks followed by [`Event::RecordingDone`].
//!
//! The call handle `C` is the caller's (the runtime uses pn-b2bua's `MediaCall`). A datagram to send is
//! copied once into the engine's output buffer (reused: emptied when the outputs are drained), so the
//! borrowed [`Transmit::bytes`] live until the next `poll_output`.

mod call;
mod stale;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::hash::Hash;
use std::net::SocketAddr;
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::dtmf::DtmfDigit;
use crate::error::MediaError;
use crate::g711::G711Law;
use crate::recorder::RecordChunk;
use crate::relay::{Channel, Leg, MediaDirection, PortPair, RelayConfig, RemoteMedia};

use call::CallMedia;
use stale::StalePorts;

/// Decoded prompt audio: G.711 bytes (one per sample, 8 kHz) in `law`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptAudio {
    /// The law of `samples`.
    pub law: G711Law,
    /// The audio.
    pub samples: Arc<[u8]>,
}

/// How a [`MediaEngine`] runs its calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineConfig {
    /// The relay sessions' settings (dead-media timeout, re-latching).
    pub relay: RelayConfig,
    /// How often a recording's finalised audio is emitted ([`Event::Recording`]); default 100 ms.
    pub record_flush: Duration,
    /// Recordings also keep one channel per party.
    pub per_party: bool,
    /// Mixed into the SSRC and first sequence number/timestamp of the switch's own streams (e.g. the shard).
    pub seed: u64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            relay: RelayConfig::default(),
            record_flush: Duration::from_millis(100),
            per_party: false,
            seed: 0,
        }
    }
}

/// What the call logic asks of a call's media.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command<C> {
    /// The caller bound the call's sockets: start its relay.
    Open {
        /// The call.
        call: C,
        /// The pair facing A.
        a: PortPair,
        /// The pair facing B.
        b: PortPair,
    },
    /// `leg`'s party declared this media address (`None`: none usable) and direction.
    Remote {
        /// The call.
        call: C,
        /// The party's leg.
        leg: Leg,
        /// Where it wants media.
        remote: Option<RemoteMedia>,
        /// Its direction attribute.
        direction: MediaDirection,
    },
    /// The call was answered: the dead-media timers restart.
    Answered {
        /// The call.
        call: C,
    },
    /// Play `audio` to `leg`'s party after what is already queued for it; [`Event::PlayDone`] with `tag`
    /// when done. `None` (the prompt was not found) reports `PlayDone` at its turn without playing.
    Play {
        /// The call.
        call: C,
        /// Who hears it.
        leg: Leg,
        /// The audio.
        audio: Option<PromptAudio>,
        /// The RTP payload type to send: 0 (PCMU) or 8 (PCMA).
        payload_type: u8,
        /// How many times to play it back to back (0 counts as 1).
        loops: u32,
        /// Echoed in [`Event::PlayDone`].
        tag: u32,
    },
    /// Stop what plays to `leg` and drop its queue (each stopped prompt reports [`Event::PlayDone`]).
    StopPlay {
        /// The call.
        call: C,
        /// The leg.
        leg: Leg,
    },
    /// Detect DTMF in what `leg`'s party sends ([`Event::Digit`]).
    Detect {
        /// The call.
        call: C,
        /// The leg.
        leg: Leg,
        /// The RFC 4733 telephone-event payload type (`None`: none negotiated).
        telephone_event: Option<u8>,
        /// Also detect in-band tones.
        inband: bool,
    },
    /// Stop detecting DTMF on `leg`.
    StopDetect {
        /// The call.
        call: C,
        /// The leg.
        leg: Leg,
    },
    /// Start recording both parties (ignored when the call has no relay or already records: see
    /// [`MediaEngine::can_record`]).
    Record {
        /// The call.
        call: C,
    },
    /// The call ended: its relay is dropped; a recording emits its last audio, then
    /// [`Event::RecordingDone`].
    Close {
        /// The call.
        call: C,
        /// The recording is kept (rather than discarded).
        keep_recording: bool,
    },
}

impl<C: Copy> Command<C> {
    /// The call the command is about.
    pub fn call(&self) -> C {
        match self {
            Command::Open { call, .. }
            | Command::Remote { call, .. }
            | Command::Answered { call }
            | Command::Play { call, .. }
            | Command::StopPlay { call, .. }
            | Command::Detect { call, .. }
            | Command::StopDetect { call, .. }
            | Command::Record { call }
            | Command::Close { call, .. } => *call,
        }
    }
}

/// A report of the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event<C> {
    /// No RTP from `leg`'s party for the configured time.
    MediaTimeout {
        /// The call.
        call: C,
        /// The silent party.
        leg: Leg,
    },
    /// A DTMF digit in `leg`'s RTP, once per key press.
    Digit {
        /// The call.
        call: C,
        /// Its leg.
        leg: Leg,
        /// The digit.
        digit: DtmfDigit,
    },
    /// A prompt played to its end, was stopped, or could not play.
    PlayDone {
        /// The call.
        call: C,
        /// Who heard it.
        leg: Leg,
        /// The tag of [`Command::Play`].
        tag: u32,
    },
    /// A prompt could not play (bad payload type, empty audio); its [`Event::PlayDone`] follows.
    PlayFailed {
        /// The call.
        call: C,
        /// The leg.
        leg: Leg,
        /// Why.
        error: MediaError,
    },
    /// The relay latched a party's source address.
    Latched {
        /// The call.
        call: C,
        /// The party's leg.
        leg: Leg,
        /// Which socket.
        channel: Channel,
        /// The source.
        addr: SocketAddr,
    },
    /// Finalised recording audio to append to the call's recording (never empty).
    Recording {
        /// The call.
        call: C,
        /// The audio.
        chunk: RecordChunk,
    },
    /// The call's recording ended (after its last [`Event::Recording`]): keep or discard it.
    RecordingDone {
        /// The call.
        call: C,
        /// Keep the file.
        keep: bool,
    },
}

/// A datagram to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit<'a, C> {
    /// The call whose socket sends it.
    pub call: C,
    /// The leg of that socket.
    pub leg: Leg,
    /// RTP or RTCP socket.
    pub channel: Channel,
    /// Destination.
    pub to: SocketAddr,
    /// The datagram.
    pub bytes: &'a [u8],
}

/// What [`MediaEngine::poll_output`] hands out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output<'a, C> {
    /// Send this.
    Transmit(Transmit<'a, C>),
    /// A report.
    Event(Event<C>),
    /// Nothing more for now; call [`MediaEngine::handle_timeout`] at this instant (`None`: no deadline).
    Timeout(Option<Instant>),
}

/// What the engine counted (cumulative).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EngineCounts {
    /// Datagrams relayed to the other party.
    pub forwarded: u64,
    /// Datagrams not relayed (malformed, no destination yet, the receiver hears a prompt).
    pub dropped: u64,
    /// Datagrams from a source the latching whitelist refused: another host than the party's SDP names,
    /// another source while the latched one talks, or a stream of the port's previous call.
    pub refused: u64,
    /// Prompt frames the switch sent.
    pub played: u64,
    /// DTMF digits detected in RTP.
    pub digits: u64,
}

/// An output waiting in the queue; a datagram's bytes are a range of the arena.
#[derive(Debug)]
enum Pending<C> {
    Transmit {
        call: C,
        leg: Leg,
        channel: Channel,
        to: SocketAddr,
        bytes: Range<usize>,
    },
    Event(Event<C>),
}

/// Where a call's work queues its outputs.
struct Sink<'e, C> {
    call: C,
    queue: &'e mut VecDeque<Pending<C>>,
    arena: &'e mut Vec<u8>,
    counts: &'e mut EngineCounts,
}

impl<C: Copy> Sink<'_, C> {
    fn transmit(&mut self, leg: Leg, channel: Channel, to: SocketAddr, bytes: &[u8]) {
        let start = self.arena.len();
        self.arena.extend_from_slice(bytes);
        self.queue.push_back(Pending::Transmit {
            call: self.call,
            leg,
            channel,
            to,
            bytes: start..self.arena.len(),
        });
    }

    fn event(&mut self, event: Event<C>) {
        self.queue.push_back(Pending::Event(event));
    }
}

/// The media of one shard's calls (see the module docs).
pub struct MediaEngine<C> {
    config: EngineConfig,
    calls: HashMap<C, CallMedia>,
    /// Deadlines, earliest first. Lazy: an entry is current only while it equals its call's `scheduled`;
    /// RTP re-arming moves a call's deadline later without a push, so a packet costs O(1) here and the heap
    /// never grows per packet (a stale entry only causes one early wake-up).
    deadlines: BinaryHeap<Reverse<(Instant, C)>>,
    queue: VecDeque<Pending<C>>,
    /// The bytes of queued datagrams; emptied once the queue is drained.
    arena: Vec<u8>,
    counts: EngineCounts,
    /// What closed calls had latched on their ports, refused by the ports' next calls for a while.
    stale: StalePorts,
}

impl<C: Copy + Eq + Hash + Ord> MediaEngine<C> {
    /// An engine without calls.
    pub fn new(config: EngineConfig) -> Self {
        Self {
            config,
            calls: HashMap::new(),
            deadlines: BinaryHeap::new(),
            queue: VecDeque::new(),
            arena: Vec::with_capacity(4096),
            counts: EngineCounts::default(),
            stale: StalePorts::default(),
        }
    }

    /// Calls with a relay.
    pub fn len(&self) -> usize {
        self.calls.len()
    }

    /// Whether no call has a relay.
    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// Whether `call` has a relay.
    pub fn contains(&self, call: C) -> bool {
        self.calls.contains_key(&call)
    }

    /// Whether [`Command::Record`] would start a recording for `call` (it has a relay and records nothing).
    pub fn can_record(&self, call: C) -> bool {
        self.calls.get(&call).is_some_and(|c| !c.is_recording())
    }

    /// Port pairs whose previous call's latched streams are still remembered (bounded by the port range).
    pub fn stale_ports(&self) -> usize {
        self.stale.len()
    }

    /// What was counted so far.
    pub fn counts(&self) -> EngineCounts {
        self.counts
    }

    /// Carries out one command of the call logic.
    pub fn handle_command(&mut self, now: Instant, command: Command<C>) {
        let call = command.call();
        match command {
            Command::Open { call, a, b } => {
                let mut media = CallMedia::new(now, &self.config, a, b);
                self.stale.hand_over(now, media.session_mut());
                self.calls.insert(call, media);
            }
            Command::Close { call, keep_recording } => {
                if let Some(mut media) = self.calls.remove(&call) {
                    let stale_for = self.config.relay.stale_for;
                    self.stale.remember(now, stale_for, media.session());
                    let mut sink = self.sink(call);
                    media.stop_recording(now, keep_recording, &mut sink);
                }
                return;
            }
            other => {
                let Some(mut media) = self.calls.remove(&call) else {
                    if let Command::Play { call, leg, tag, .. } = other {
                        self.queue
                            .push_back(Pending::Event(Event::PlayDone { call, leg, tag }));
                    }
                    return;
                };
                let config = self.config;
                media.apply(now, &config, other, &mut self.sink(call));
                self.calls.insert(call, media);
            }
        }
        self.service(now, call);
    }

    /// A datagram `call`'s `leg`/`channel` socket received from `from`: relayed (unless the switch plays to
    /// the receiving party), watched for DTMF and recorded; or dropped. Unknown calls are ignored.
    pub fn handle_packet(
        &mut self,
        now: Instant,
        call: C,
        leg: Leg,
        channel: Channel,
        from: SocketAddr,
        bytes: &[u8],
    ) {
        let Some(media) = self.calls.get_mut(&call) else {
            return;
        };
        let mut sink = Sink {
            call,
            queue: &mut self.queue,
            arena: &mut self.arena,
            counts: &mut self.counts,
        };
        media.handle_packet(now, leg, channel, from, bytes, &mut sink);
        media.reschedule(call, &mut self.deadlines);
    }

    /// Runs due work: dead-media timers, prompt frames, recording flushes. Only the calls whose deadline
    /// has passed are visited.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&Reverse((at, call))) = self.deadlines.peek() {
            if at > now {
                break;
            }
            self.deadlines.pop();
            let Some(media) = self.calls.get_mut(&call) else {
                continue;
            };
            if media.scheduled != Some(at) {
                continue;
            }
            media.scheduled = None;
            self.service(now, call);
        }
    }

    /// The next output; [`Output::Timeout`] once there is nothing more to do until then.
    pub fn poll_output(&mut self) -> Output<'_, C> {
        match self.queue.pop_front() {
            Some(Pending::Transmit {
                call,
                leg,
                channel,
                to,
                bytes,
            }) => Output::Transmit(Transmit {
                call,
                leg,
                channel,
                to,
                bytes: &self.arena[bytes],
            }),
            Some(Pending::Event(event)) => Output::Event(event),
            None => {
                self.arena.clear();
                self.prune();
                Output::Timeout(self.poll_timeout())
            }
        }
    }

    /// The earliest deadline (possibly a stale, earlier one: one early [`Self::handle_timeout`] does no harm;
    /// draining [`Self::poll_output`] drops stale ones at the top).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadlines.peek().map(|Reverse((at, _))| *at)
    }

    /// Drops stale deadlines from the top of the heap (of closed calls, or superseded), so the next
    /// [`Output::Timeout`] is a real one unless a later entry went stale.
    fn prune(&mut self) {
        while let Some(&Reverse((at, call))) = self.deadlines.peek() {
            if self.calls.get(&call).is_some_and(|c| c.scheduled == Some(at)) {
                return;
            }
            self.deadlines.pop();
        }
    }

    fn sink(&mut self, call: C) -> Sink<'_, C> {
        Sink {
            call,
            queue: &mut self.queue,
            arena: &mut self.arena,
            counts: &mut self.counts,
        }
    }

    /// Does whatever `call` has due at `now`, then schedules its next deadline.
    fn service(&mut self, now: Instant, call: C) {
        let Some(media) = self.calls.get_mut(&call) else {
            return;
        };
        let mut sink = Sink {
            call,
            queue: &mut self.queue,
            arena: &mut self.arena,
            counts: &mut self.counts,
        };
        media.service(now, &self.config, &mut sink);
        media.scheduled = None;
        media.reschedule(call, &mut self.deadlines);
    }
}

#[cfg(test)]
mod tests;
