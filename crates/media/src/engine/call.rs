//! One call's media inside the [`MediaEngine`](super::MediaEngine): its relay session, the switch's own
//! stream to each party (prompt queue, player, RTP continuity, muting), DTMF detectors and recording.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;

use crate::detector::DigitDetector;
use crate::is_rtcp;
use crate::player::PromptPlayer;
use crate::recorder::{RecordChunk, Recorder, RecorderConfig};
use crate::relay::{Channel, DropReason, Leg, PortPair, RelayEvent, RelayOutcome, RelaySession};
use crate::rtp::RtpPacket;

use super::{Command, EngineConfig, Event, PromptAudio, Sink};

/// A prompt waiting for its turn on a leg.
struct Queued {
    audio: Option<PromptAudio>,
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
    next_flush: Instant,
}

/// One call's media.
pub(super) struct CallMedia {
    session: RelaySession,
    legs: [LegMedia; 2],
    recording: Option<Recording>,
    /// The deadline this call has in the engine's heap (`None`: none pushed).
    pub(super) scheduled: Option<Instant>,
    /// Scratch buffer for prompt packets.
    frame: Vec<u8>,
}

impl CallMedia {
    pub(super) fn new(now: Instant, config: &EngineConfig, a: PortPair, b: PortPair) -> Self {
        let seed = config.seed ^ (u64::from(a.rtp) << 20) ^ (u64::from(b.rtp) << 36);
        Self {
            session: RelaySession::new(now, config.relay, a, b),
            legs: [LegMedia::new(seed), LegMedia::new(seed ^ 0x5555)],
            recording: None,
            scheduled: None,
            frame: Vec::with_capacity(256),
        }
    }

    pub(super) fn session(&self) -> &RelaySession {
        &self.session
    }

    pub(super) fn session_mut(&mut self) -> &mut RelaySession {
        &mut self.session
    }

    pub(super) fn is_recording(&self) -> bool {
        self.recording.is_some()
    }

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

    /// Pushes this call's deadline when it is earlier than the one already scheduled.
    pub(super) fn reschedule<C: Ord>(&mut self, call: C, deadlines: &mut BinaryHeap<Reverse<(Instant, C)>>) {
        if let Some(at) = self.poll_timeout()
            && self.scheduled.is_none_or(|s| at < s)
        {
            deadlines.push(Reverse((at, call)));
            self.scheduled = Some(at);
        }
    }

    /// Carries out a command other than `Open`/`Close`.
    pub(super) fn apply<C: Copy>(
        &mut self,
        now: Instant,
        config: &EngineConfig,
        command: Command<C>,
        sink: &mut Sink<'_, C>,
    ) {
        match command {
            Command::Remote {
                leg,
                remote,
                direction,
                ..
            } => {
                if let Some(remote) = remote {
                    self.session.set_remote(leg, remote);
                }
                self.session.set_direction(now, leg, direction);
            }
            Command::Answered { .. } => self.session.restart_timers(now),
            Command::Play {
                leg,
                audio,
                payload_type,
                loops,
                tag,
                ..
            } => self.legs[leg.idx()].queue.push_back(Queued {
                audio,
                payload_type,
                loops,
                tag,
            }),
            Command::StopPlay { leg, .. } => {
                let state = &mut self.legs[leg.idx()];
                if let Some((player, tag)) = state.playing.take() {
                    state.position = player.position();
                    sink.event(Event::PlayDone {
                        call: sink.call,
                        leg,
                        tag,
                    });
                }
                for q in state.queue.drain(..) {
                    sink.event(Event::PlayDone {
                        call: sink.call,
                        leg,
                        tag: q.tag,
                    });
                }
            }
            Command::Detect {
                leg,
                telephone_event,
                inband,
                ..
            } => self.legs[leg.idx()].detector = Some(DigitDetector::new(telephone_event, inband)),
            Command::StopDetect { leg, .. } => self.legs[leg.idx()].detector = None,
            Command::Record { .. } => {
                if self.recording.is_none() {
                    let recorder = Recorder::new(
                        now,
                        RecorderConfig {
                            per_party: config.per_party,
                            ..RecorderConfig::default()
                        },
                    );
                    self.recording = Some(Recording {
                        recorder,
                        next_flush: now + config.record_flush,
                    });
                }
            }
            Command::Open { .. } | Command::Close { .. } => {}
        }
    }

    /// A datagram from one of the call's sockets.
    pub(super) fn handle_packet<C: Copy>(
        &mut self,
        now: Instant,
        leg: Leg,
        channel: Channel,
        from: SocketAddr,
        bytes: &[u8],
        sink: &mut Sink<'_, C>,
    ) {
        let outcome = self.session.handle_packet(now, leg, channel, from, bytes);
        match outcome {
            RelayOutcome::Dropped(
                DropReason::ForeignSource
                | DropReason::StaleSource
                | DropReason::UnlatchedSource
                | DropReason::OwnAddress,
            ) => sink.counts.refused += 1,
            RelayOutcome::Dropped(_) => sink.counts.dropped += 1,
            RelayOutcome::Forward(_) => {}
        }
        // What the session accepted from the party (even with nowhere to forward it yet) is watched.
        let accepted = matches!(
            outcome,
            RelayOutcome::Forward(_) | RelayOutcome::Dropped(DropReason::NoDestination)
        );
        if let RelayOutcome::Forward(f) = outcome {
            // Muting: the receiving party hears a prompt, not the other party.
            let muted = f.channel == Channel::Rtp && self.legs[f.leg.idx()].playing.is_some();
            if muted {
                sink.counts.dropped += 1;
            } else {
                sink.counts.forwarded += 1;
                sink.transmit(f.leg, f.channel, f.to, f.bytes);
            }
        }
        let source = &mut self.legs[leg.idx()];
        let watch = source.detector.is_some() || self.recording.is_some();
        if accepted
            && watch
            && channel == Channel::Rtp
            && !is_rtcp(bytes)
            && let Ok(rtp) = RtpPacket::parse(bytes)
        {
            if let Some(detector) = source.detector.as_mut() {
                let first = detector.handle_rtp(&rtp);
                for digit in first
                    .into_iter()
                    .chain(std::iter::from_fn(|| detector.poll_digit()))
                {
                    sink.counts.digits += 1;
                    sink.event(Event::Digit {
                        call: sink.call,
                        leg,
                        digit,
                    });
                }
            }
            if let Some(rec) = self.recording.as_mut() {
                rec.recorder.handle_rtp(now, leg, &rtp);
            }
        }
        self.drain_session(sink);
    }

    /// Does whatever is due at `now`.
    pub(super) fn service<C: Copy>(&mut self, now: Instant, config: &EngineConfig, sink: &mut Sink<'_, C>) {
        if self.session.poll_timeout().is_some_and(|due| due <= now) {
            self.session.handle_timeout(now);
        }
        for leg in [Leg::A, Leg::B] {
            self.play(now, leg, sink);
        }
        if let Some(rec) = self.recording.as_mut()
            && rec.next_flush <= now
        {
            rec.next_flush = now + config.record_flush;
            let mut chunk = RecordChunk::default();
            rec.recorder.take_ready(now, &mut chunk);
            if !chunk.mix.is_empty() {
                sink.event(Event::Recording {
                    call: sink.call,
                    chunk,
                });
            }
        }
        self.drain_session(sink);
    }

    /// Ends the recording: the rest of its audio, then whether to keep it.
    pub(super) fn stop_recording<C: Copy>(&mut self, now: Instant, keep: bool, sink: &mut Sink<'_, C>) {
        let Some(mut rec) = self.recording.take() else {
            return;
        };
        let mut chunk = RecordChunk::default();
        rec.recorder.finish(now, &mut chunk);
        if !chunk.mix.is_empty() {
            sink.event(Event::Recording {
                call: sink.call,
                chunk,
            });
        }
        sink.event(Event::RecordingDone {
            call: sink.call,
            keep,
        });
    }

    /// Sends the due frames of what plays to `leg`, moving on through its queue.
    fn play<C: Copy>(&mut self, now: Instant, leg: Leg, sink: &mut Sink<'_, C>) {
        let destination = self.session.rtp_destination(leg);
        let state = &mut self.legs[leg.idx()];
        loop {
            if state.playing.is_none() {
                let Some(next) = state.queue.pop_front() else {
                    return;
                };
                let (seq, ts) = state.position;
                let player = next.audio.map(|audio| {
                    PromptPlayer::new(
                        now,
                        audio.samples,
                        audio.law,
                        next.payload_type,
                        state.ssrc,
                        seq,
                        ts,
                        next.loops.max(1),
                    )
                });
                match player {
                    Some(Ok(player)) => state.playing = Some((player, next.tag)),
                    failed => {
                        if let Some(Err(error)) = failed {
                            sink.event(Event::PlayFailed {
                                call: sink.call,
                                leg,
                                error,
                            });
                        }
                        sink.event(Event::PlayDone {
                            call: sink.call,
                            leg,
                            tag: next.tag,
                        });
                        continue;
                    }
                }
            }
            let Some((player, tag)) = state.playing.as_mut() else {
                return;
            };
            while player.poll_packet(now, &mut self.frame) {
                sink.counts.played += 1;
                if let Some(to) = destination {
                    sink.transmit(leg, Channel::Rtp, to, &self.frame);
                }
            }
            if !player.is_finished() {
                return;
            }
            let tag = *tag;
            state.position = player.position();
            state.playing = None;
            sink.event(Event::PlayDone {
                call: sink.call,
                leg,
                tag,
            });
        }
    }

    fn drain_session<C: Copy>(&mut self, sink: &mut Sink<'_, C>) {
        while let Some(event) = self.session.poll_event() {
            match event {
                RelayEvent::MediaTimeout { leg } => sink.event(Event::MediaTimeout { call: sink.call, leg }),
                RelayEvent::Latched { leg, channel, addr } => sink.event(Event::Latched {
                    call: sink.call,
                    leg,
                    channel,
                    addr,
                }),
            }
        }
    }
}
