//! The switch's media plane in the simulator: a pn-media [`MediaEngine`] wired to the B2BUA the way the
//! runtime wires it (`crates/runtime/src/media.rs`), with the sockets replaced by the media network.
//!
//! [`Relay::handle_command`] takes each [`MediaCommand`] of the B2BUA: `Open` maps the call's port pairs
//! (on [`MEDIA_IP`]) to the call, `Play` resolves the prompt to audio (what the test supplied with
//! [`Relay::set_prompt`], else a shipped default for a prompt without an app, as the runtime's prompt lookup
//! does; not found: the engine reports `PlayDone` at its turn), `Close` closes the engine's call and, the
//! "sockets" being closed at once, reports [`MediaEvent::Closed`]. Datagrams to the switch's media ports go
//! to [`Relay::handle_datagram`]. The engine's transmits leave through [`Relay::poll_transmit`] (from the
//! switch's address of that leg and channel), its reports for the core through [`Relay::poll_event`]
//! (dead media, digits, prompts played), and its recording audio is kept per call in
//! [`Relay::recordings`] (what the runtime's writer thread would append to the file).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pn_b2bua::{MediaCall, MediaCommand, MediaEvent, PromptRef};
use pn_media::{
    Channel, EngineConfig, EngineCounts, Leg, MediaEngine, MediaEngineCommand, MediaEngineEvent,
    MediaEngineOutput, PortPair, PromptAudio, RecordChunk, RelayConfig,
};

use crate::net::{Datagram, NetworkConfig};

/// The switch's media address (its SIP host's IP).
pub const MEDIA_IP: &str = "192.0.2.10";

/// How the simulated media plane runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MediaConfig {
    /// The network the RTP travels on (between the switch and both endpoints).
    pub net: NetworkConfig,
    /// The engine's settings (dead-media timeout, recording flushes, per-party channels).
    pub engine: EngineConfig,
    /// The switch's port range (first and last port; pairs of an even RTP port and the next).
    pub ports: (u16, u16),
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            net: NetworkConfig {
                seed: 2,
                ..NetworkConfig::default()
            },
            engine: EngineConfig {
                relay: RelayConfig {
                    media_timeout: Some(Duration::from_secs(20)),
                    ..RelayConfig::default()
                },
                per_party: true,
                ..EngineConfig::default()
            },
            ports: (40_000, 40_099),
        }
    }
}

/// A call's recording as the writer would have stored it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recording {
    /// The engine's chunks, in order.
    pub chunks: Vec<RecordChunk>,
    /// `Some(keep)` once the engine reported the recording done.
    pub done: Option<bool>,
}

impl Recording {
    /// Both parties mixed, all chunks.
    #[must_use]
    pub fn mix(&self) -> Vec<u8> {
        self.chunks.iter().flat_map(|c| c.mix.iter().copied()).collect()
    }

    /// Party `leg` alone, all chunks (empty unless the engine keeps one channel per party).
    #[must_use]
    pub fn party(&self, leg: Leg) -> Vec<u8> {
        self.chunks
            .iter()
            .flat_map(|c| match leg {
                Leg::A => c.a.iter().copied(),
                Leg::B => c.b.iter().copied(),
            })
            .collect()
    }
}

/// The media engine of the simulated switch and its wiring (see the module docs).
pub struct Relay {
    ip: IpAddr,
    engine: MediaEngine<MediaCall>,
    /// The switch's media ports in use: which call, leg and channel each belongs to.
    ports: HashMap<u16, (MediaCall, Leg, Channel)>,
    pairs: HashMap<MediaCall, [PortPair; 2]>,
    prompts: HashMap<String, PromptAudio>,
    /// Recordings by call.
    pub recordings: BTreeMap<MediaCall, Recording>,
    /// Every digit the engine detected: call, leg, key.
    pub digits: Vec<(MediaCall, Leg, char)>,
    /// Every prompt the engine reported done: call, leg, tag.
    pub played: Vec<(MediaCall, Leg, u32)>,
    transmit: VecDeque<Datagram>,
    events: VecDeque<MediaEvent>,
}

impl Relay {
    /// A media plane on [`MEDIA_IP`] with `config`'s engine settings.
    #[must_use]
    pub fn new(config: &MediaConfig) -> Self {
        Self {
            ip: MEDIA_IP.parse().expect("an IP"),
            engine: MediaEngine::new(config.engine),
            ports: HashMap::new(),
            pairs: HashMap::new(),
            prompts: HashMap::new(),
            recordings: BTreeMap::new(),
            digits: Vec::new(),
            played: Vec::new(),
            transmit: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// The switch's media IP.
    #[must_use]
    pub fn ip(&self) -> IpAddr {
        self.ip
    }

    /// Plays `audio` whenever the switch asks for the prompt file `name` (of any app).
    pub fn set_prompt(&mut self, name: &str, audio: PromptAudio) {
        self.prompts.insert(name.to_owned(), audio);
    }

    /// The switch's RTP address facing `leg` of `call` (while its relay is open).
    #[must_use]
    pub fn addr(&self, call: MediaCall, leg: Leg) -> Option<SocketAddr> {
        let pair = self.pairs.get(&call)?[leg_idx(leg)];
        Some(SocketAddr::new(self.ip, pair.rtp))
    }

    /// Whether `addr` is one of the switch's media sockets in use.
    #[must_use]
    pub fn owns(&self, addr: SocketAddr) -> bool {
        addr.ip() == self.ip && self.ports.contains_key(&addr.port())
    }

    /// Calls with an open relay.
    #[must_use]
    pub fn open_calls(&self) -> usize {
        self.pairs.len()
    }

    /// What the engine counted.
    #[must_use]
    pub fn counts(&self) -> EngineCounts {
        self.engine.counts()
    }

    /// Carries out one media command of the B2BUA.
    pub fn handle_command(&mut self, now: Instant, command: MediaCommand) {
        let command = match command {
            MediaCommand::Open { call, a, b } => {
                for (leg, pair) in [(Leg::A, a), (Leg::B, b)] {
                    self.ports.insert(pair.rtp, (call, leg, Channel::Rtp));
                    self.ports.insert(pair.rtcp, (call, leg, Channel::Rtcp));
                }
                self.pairs.insert(call, [a, b]);
                MediaEngineCommand::Open { call, a, b }
            }
            MediaCommand::Close { call, keep_recording } => {
                self.engine
                    .handle_command(now, MediaEngineCommand::Close { call, keep_recording });
                if let Some(pairs) = self.pairs.remove(&call) {
                    for pair in pairs {
                        self.ports.remove(&pair.rtp);
                        self.ports.remove(&pair.rtcp);
                    }
                }
                self.drain();
                // No socket to wait for: closed at once.
                self.events.push_back(MediaEvent::Closed { call });
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
                audio: self.load(&prompt),
                payload_type,
                loops,
                tag,
            },
            MediaCommand::Record { call, .. } => {
                if self.engine.can_record(call) {
                    self.recordings.entry(call).or_default();
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
    }

    /// A datagram from the media network; false when it is not for one of the switch's media sockets.
    pub fn handle_datagram(&mut self, now: Instant, datagram: &Datagram) -> bool {
        if datagram.to.ip() != self.ip {
            return false;
        }
        let Some(&(call, leg, channel)) = self.ports.get(&datagram.to.port()) else {
            return false;
        };
        self.engine
            .handle_packet(now, call, leg, channel, datagram.from, &datagram.bytes);
        self.drain();
        true
    }

    /// Runs the engine's due work (dead media, prompt frames, recording flushes).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.engine.handle_timeout(now);
        self.drain();
    }

    /// The engine's next deadline.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.engine.poll_timeout()
    }

    /// The next datagram the switch sends.
    pub fn poll_transmit(&mut self) -> Option<Datagram> {
        self.transmit.pop_front()
    }

    /// The next report for the B2BUA.
    pub fn poll_event(&mut self) -> Option<MediaEvent> {
        self.events.pop_front()
    }

    /// Takes the engine's outputs: datagrams to send, reports for the core, recording audio.
    fn drain(&mut self) {
        loop {
            let event = match self.engine.poll_output() {
                MediaEngineOutput::Timeout(_) => return,
                MediaEngineOutput::Transmit(t) => {
                    if let Some(pairs) = self.pairs.get(&t.call) {
                        let pair = pairs[leg_idx(t.leg)];
                        let port = match t.channel {
                            Channel::Rtp => pair.rtp,
                            Channel::Rtcp => pair.rtcp,
                        };
                        self.transmit.push_back(Datagram {
                            from: SocketAddr::new(self.ip, port),
                            to: t.to,
                            bytes: t.bytes.to_vec(),
                        });
                    }
                    continue;
                }
                MediaEngineOutput::Event(event) => event,
            };
            match event {
                MediaEngineEvent::MediaTimeout { call, leg } => {
                    self.events.push_back(MediaEvent::Timeout { call, leg });
                }
                MediaEngineEvent::Digit { call, leg, digit } => {
                    self.digits.push((call, leg, digit.as_char()));
                    self.events.push_back(MediaEvent::Digit {
                        call,
                        leg,
                        digit: digit.as_char(),
                    });
                }
                MediaEngineEvent::PlayDone { call, leg, tag } => {
                    self.played.push((call, leg, tag));
                    self.events.push_back(MediaEvent::PlayDone { call, leg, tag });
                }
                MediaEngineEvent::PlayFailed { .. } | MediaEngineEvent::Latched { .. } => {}
                MediaEngineEvent::Recording { call, chunk } => {
                    self.recordings.entry(call).or_default().chunks.push(chunk);
                }
                MediaEngineEvent::RecordingDone { call, keep } => {
                    self.recordings.entry(call).or_default().done = Some(keep);
                }
            }
        }
    }

    /// The audio of a prompt: the test's, else (for a prompt without an app) the shipped default.
    fn load(&self, prompt: &PromptRef) -> Option<PromptAudio> {
        if let Some(audio) = self.prompts.get(&prompt.name) {
            return Some(audio.clone());
        }
        if prompt.app.is_some() {
            return None;
        }
        let bytes = pn_media::prompts::default_prompt(&prompt.name)?;
        let audio = pn_media::parse_prompt(bytes).ok()?;
        Some(PromptAudio {
            law: audio.law,
            samples: Arc::from(audio.samples),
        })
    }
}

fn leg_idx(leg: Leg) -> usize {
    match leg {
        Leg::A => 0,
        Leg::B => 1,
    }
}
