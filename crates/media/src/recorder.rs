//! Call recording: both parties' RTP placed on one 8 kHz timeline, mixed, and handed out as A-law.
//!
//! **Timeline.** Sample 0 of the recording is the `start` instant given to [`Recorder::new`]. Each party's
//! stream is placed by its RTP timestamps: the first packet of a stream (per leg, per SSRC) is anchored at its
//! arrival time, `position = (arrival − start) × 8000`; later packets go to `anchor + (ts − first_ts)` (wrapping
//! arithmetic, so out-of-order packets land before later ones). The stream is re-anchored at the arrival
//! position on an SSRC change, or when a packet's computed position is more than 1 s away from its arrival
//! position (a timestamp jump).
//!
//! **Window.** A sample position stays open for [`RecorderConfig::jitter`] after its time, so late and
//! reordered packets still land; [`Recorder::take_ready`] makes every older position final and hands it out.
//! Samples that land on final positions are dropped; positions nobody filled are silence. Only the open window
//! is buffered: at most `jitter + 3 s` of positions (samples beyond that are dropped, which only happens when
//! [`Recorder::take_ready`] is not called for seconds). Nothing at or beyond [`RecorderConfig::max_duration`]
//! is kept.
//!
//! **Output.** The mix is the saturating sum of both parties' decoded samples; every channel is A-law.
//! Payload types 0 (PCMU) and 8 (PCMA) are decoded; anything else (telephone-event, comfort noise, …) is
//! ignored.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::relay::Leg;
use crate::{G711Law, RtpPacket};

/// Samples per second of the recording.
pub const RECORD_RATE: u64 = 8000;
/// How far (in samples) a packet's timestamp position may stray from its arrival position before the stream is
/// re-anchored: 1 s.
const MAX_SKEW: u64 = RECORD_RATE;
/// Positions kept open beyond the jitter window: the 1 s skew plus 2 s between [`Recorder::take_ready`] calls.
const SLACK: u64 = 3 * RECORD_RATE;
/// The law of every output channel.
const OUT_LAW: G711Law = G711Law::ALaw;

/// How a [`Recorder`] records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecorderConfig {
    /// Also produce one channel per party ([`RecordChunk::a`], [`RecordChunk::b`]).
    pub per_party: bool,
    /// How long a sample position stays open for late packets (default 200 ms).
    pub jitter: Duration,
    /// Nothing beyond this length is kept (default 4 h).
    pub max_duration: Duration,
}

impl Default for RecorderConfig {
    fn default() -> Self {
        Self {
            per_party: false,
            jitter: Duration::from_millis(200),
            max_duration: Duration::from_secs(4 * 3600),
        }
    }
}

/// Final recorded audio handed out by [`Recorder::take_ready`] and [`Recorder::finish`]: A-law bytes, 8 kHz.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordChunk {
    /// Both parties mixed.
    pub mix: Vec<u8>,
    /// Party A alone (empty unless [`RecorderConfig::per_party`]).
    pub a: Vec<u8>,
    /// Party B alone (empty unless [`RecorderConfig::per_party`]).
    pub b: Vec<u8>,
}

impl RecordChunk {
    /// Empties every channel (keeping the allocations).
    pub fn clear(&mut self) {
        self.mix.clear();
        self.a.clear();
        self.b.clear();
    }
}

/// Where one party's stream sits on the timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Anchor {
    ssrc: u32,
    /// Timeline position of the sample with RTP timestamp `ts`.
    position: i64,
    ts: u32,
}

/// Records a two-party call (see the [module docs](self)).
#[derive(Debug, Clone)]
pub struct Recorder {
    start: Instant,
    per_party: bool,
    /// Jitter window, in samples.
    jitter: u64,
    /// First position not kept.
    limit: u64,
    /// Most positions open at once.
    capacity: u64,
    /// Positions before this are final (handed out).
    flushed: u64,
    /// `window[i]` holds position `flushed + i`: (party A, party B) linear samples, 0 where nobody wrote.
    window: VecDeque<[i16; 2]>,
    anchors: [Option<Anchor>; 2],
    finished: bool,
}

impl Recorder {
    /// A recorder whose sample 0 is `start`.
    pub fn new(start: Instant, config: RecorderConfig) -> Self {
        let jitter = samples_in(config.jitter);
        Self {
            start,
            per_party: config.per_party,
            jitter,
            limit: samples_in(config.max_duration),
            capacity: jitter.saturating_add(SLACK),
            flushed: 0,
            window: VecDeque::new(),
            anchors: [None; 2],
            finished: false,
        }
    }

    /// An RTP packet received from `leg`'s party at `now`. PCMU and PCMA are decoded onto the timeline; other
    /// payload types are ignored, and so is everything after [`Recorder::finish`].
    pub fn handle_rtp(&mut self, now: Instant, leg: Leg, packet: &RtpPacket<'_>) {
        let Some(law) = G711Law::from_payload_type(packet.payload_type) else {
            return;
        };
        let payload = packet.payload();
        if self.finished || payload.is_empty() {
            return;
        }
        let party = party(leg);
        let arrival = to_i64(self.position_at(now));
        let position = self.place(party, packet.ssrc, packet.timestamp, arrival);
        let end = position.saturating_add(payload.len() as i64);
        let open_end = self.flushed.saturating_add(self.capacity).min(self.limit);
        let lo = position.max(to_i64(self.flushed));
        let hi = end.min(to_i64(open_end));
        if lo >= hi {
            return;
        }
        let needed = (hi - to_i64(self.flushed)) as usize;
        if self.window.len() < needed {
            self.window.resize(needed, [0; 2]);
        }
        let skip = (lo - position) as usize;
        let first = (lo - to_i64(self.flushed)) as usize;
        for (slot, &byte) in self
            .window
            .range_mut(first..needed)
            .zip(payload.iter().skip(skip))
        {
            slot[party] = law.decode(byte);
        }
    }

    /// Appends to `out` every position older than `now − jitter`, mixed and encoded; those positions are final.
    /// Call it periodically (every ~100 ms; at least every 2 s or the newest samples are dropped).
    pub fn take_ready(&mut self, now: Instant, out: &mut RecordChunk) {
        if self.finished {
            return;
        }
        let end = self.position_at(now).saturating_sub(self.jitter);
        self.flush_to(end, out);
    }

    /// Appends everything still buffered, and silence up to `now`, to `out` (the end of the call). Later
    /// packets are ignored.
    pub fn finish(&mut self, now: Instant, out: &mut RecordChunk) {
        if self.finished {
            return;
        }
        let buffered = self.flushed.saturating_add(self.window.len() as u64);
        let end = self.position_at(now).max(buffered);
        self.flush_to(end, out);
        self.finished = true;
        self.window = VecDeque::new();
    }

    /// The length of the audio produced so far (samples handed out ÷ 8000).
    pub fn duration(&self) -> Duration {
        Duration::from_micros(self.flushed.saturating_mul(1_000_000 / RECORD_RATE))
    }

    /// Sample positions currently buffered (the open window): bounded by `jitter + 3 s`.
    pub fn buffered_samples(&self) -> usize {
        self.window.len()
    }

    /// The timeline position of `now` (0 before `start`).
    fn position_at(&self, now: Instant) -> u64 {
        samples_in(now.saturating_duration_since(self.start))
    }

    /// The timeline position of a packet's first sample, (re-)anchoring its stream when needed.
    fn place(&mut self, party: usize, ssrc: u32, ts: u32, arrival: i64) -> i64 {
        if let Some(anchor) = self.anchors[party].as_mut().filter(|a| a.ssrc == ssrc) {
            let delta = i64::from(ts.wrapping_sub(anchor.ts) as i32);
            let position = anchor.position.saturating_add(delta);
            if position.abs_diff(arrival) <= MAX_SKEW {
                if delta > 0 {
                    // Follow the stream forward so the 32-bit difference never wraps on a long call.
                    anchor.position = position;
                    anchor.ts = ts;
                }
                return position;
            }
        }
        self.anchors[party] = Some(Anchor {
            ssrc,
            position: arrival,
            ts,
        });
        arrival
    }

    /// Hands out positions `flushed..end` (capped at the limit) and drops them from the window.
    fn flush_to(&mut self, end: u64, out: &mut RecordChunk) {
        let end = end.min(self.limit);
        if end <= self.flushed {
            return;
        }
        let count = end - self.flushed;
        let from_window = count.min(self.window.len() as u64) as usize;
        let silent = (count - from_window as u64) as usize;
        out.mix.reserve(from_window + silent);
        for [a, b] in self.window.drain(..from_window) {
            out.mix.push(OUT_LAW.encode(a.saturating_add(b)));
            if self.per_party {
                out.a.push(OUT_LAW.encode(a));
                out.b.push(OUT_LAW.encode(b));
            }
        }
        let silence = OUT_LAW.encode(0);
        out.mix.resize(out.mix.len() + silent, silence);
        if self.per_party {
            out.a.resize(out.a.len() + silent, silence);
            out.b.resize(out.b.len() + silent, silence);
        }
        self.flushed = end;
    }
}

fn party(leg: Leg) -> usize {
    match leg {
        Leg::A => 0,
        Leg::B => 1,
    }
}

/// Whole samples in `d` at 8 kHz (saturating).
fn samples_in(d: Duration) -> u64 {
    u64::try_from(d.as_nanos() * u128::from(RECORD_RATE) / 1_000_000_000).unwrap_or(u64::MAX)
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests;
