//! Prompt playback: G.711 audio sent as an RTP stream of 20 ms packets, paced by the caller's clock.
//!
//! [`PromptPlayer`] owns no timer. The runtime sleeps until [`PromptPlayer::poll_timeout`], then drains
//! [`PromptPlayer::poll_packet`] until it answers `false`. Frame `k` is due at `start + k × 20 ms`, so pacing
//! never drifts however late each wake-up is. A runtime that woke late gets the overdue frames back to back, at
//! most [`MAX_CATCH_UP`] of them: older frames are skipped, but their sequence numbers and timestamps are still
//! consumed so the receiver's timeline (and its jitter buffer) stays right.
//!
//! The audio is played `loops` times back to back as one continuous sample stream; only the very last frame is
//! padded with the law's silence to 160 samples. When the leg's codec differs from the audio's law, every
//! sample is transcoded through 16-bit linear.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::{G711Law, MediaError, RtpHeader};

/// Samples (and G.711 bytes) per frame: 20 ms at 8 kHz.
pub const FRAME_SAMPLES: usize = 160;
/// The time one frame covers.
pub const FRAME_DURATION: Duration = Duration::from_millis(20);
/// The most overdue frames one late wake-up still sends; older ones are skipped.
pub const MAX_CATCH_UP: u64 = 5;

const FRAME_NANOS: u128 = 20_000_000;

/// Plays G.711 audio into one RTP stream (see the [module docs](self)).
#[derive(Debug, Clone)]
pub struct PromptPlayer {
    audio: Arc<[u8]>,
    source: G711Law,
    target: G711Law,
    ssrc: u32,
    /// Sequence number of frame `next`.
    seq: u16,
    /// RTP timestamp of frame `next`.
    timestamp: u32,
    /// When frame 0 is due.
    start: Instant,
    /// Index of the next frame to send (or skip).
    next: u64,
    /// Frames in the whole playback.
    frames: u64,
    /// Audio samples in the whole playback (`audio.len() × loops`).
    samples: u64,
    /// The next packet sent is the first of the stream and carries the marker bit.
    marker: bool,
}

impl PromptPlayer {
    /// A player of `audio` (G.711 bytes in `law`, 8 kHz, one byte per sample) for a leg whose negotiated codec is
    /// `payload_type`: 0 (PCMU) or 8 (PCMA), anything else is [`MediaError::UnsupportedPayloadType`]. The audio
    /// is transcoded when the law differs. `loops` (≥ 1) is how many times the audio plays back to back; empty
    /// audio or zero loops is [`MediaError::BadPlayback`]. `ssrc`, `seq` and `timestamp` are those of the first
    /// packet, which carries the marker bit. The first frame is due at `now`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        now: Instant,
        audio: Arc<[u8]>,
        law: G711Law,
        payload_type: u8,
        ssrc: u32,
        seq: u16,
        timestamp: u32,
        loops: u32,
    ) -> Result<Self, MediaError> {
        let target = G711Law::from_payload_type(payload_type)
            .ok_or(MediaError::UnsupportedPayloadType(payload_type))?;
        if audio.is_empty() {
            return Err(MediaError::BadPlayback("empty audio"));
        }
        if loops == 0 {
            return Err(MediaError::BadPlayback("zero loops"));
        }
        let samples = audio.len() as u64 * u64::from(loops);
        Ok(Self {
            audio,
            source: law,
            target,
            ssrc,
            seq,
            timestamp,
            start: now,
            next: 0,
            frames: samples.div_ceil(FRAME_SAMPLES as u64),
            samples,
            marker: true,
        })
    }

    /// When the next frame is due (`None` once finished).
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.is_finished() {
            return None;
        }
        let offset = Duration::from_nanos(self.next.saturating_mul(FRAME_NANOS as u64));
        self.start.checked_add(offset)
    }

    /// If a frame is due at `now`, clears `out`, writes one complete RTP packet into it and answers `true`;
    /// otherwise leaves `out` alone and answers `false`. Call it repeatedly until it answers `false`.
    ///
    /// More than [`MAX_CATCH_UP`] overdue frames: the older ones are skipped (their sequence numbers and
    /// timestamps are consumed), the most recent [`MAX_CATCH_UP`] are sent back to back.
    pub fn poll_packet(&mut self, now: Instant, out: &mut Vec<u8>) -> bool {
        let Some(elapsed) = now.checked_duration_since(self.start) else {
            return false;
        };
        let due = u64::try_from(elapsed.as_nanos() / FRAME_NANOS)
            .unwrap_or(u64::MAX)
            .saturating_add(1)
            .min(self.frames);
        if self.next >= due {
            return false;
        }
        let behind = due - self.next;
        if behind > MAX_CATCH_UP {
            self.advance(behind - MAX_CATCH_UP);
        }
        let mut payload = [self.target.silence(); FRAME_SAMPLES];
        self.fill(&mut payload);
        out.clear();
        RtpHeader {
            marker: self.marker,
            payload_type: self.target.payload_type(),
            sequence: self.seq,
            timestamp: self.timestamp,
            ssrc: self.ssrc,
        }
        .write(&payload, out);
        self.marker = false;
        self.advance(1);
        true
    }

    /// Whether every frame has been sent (or skipped).
    pub fn is_finished(&self) -> bool {
        self.next >= self.frames
    }

    /// `(next sequence number, next timestamp)`: where a following player on the same stream continues.
    pub fn position(&self) -> (u16, u32) {
        (self.seq, self.timestamp)
    }

    /// Writes frame `next` into `payload` (pre-filled with silence, which stays past the end of the audio).
    fn fill(&self, payload: &mut [u8; FRAME_SAMPLES]) {
        let len = self.audio.len() as u64;
        let first = self.next.saturating_mul(FRAME_SAMPLES as u64);
        let count = self.samples.saturating_sub(first).min(FRAME_SAMPLES as u64) as usize;
        let mut at = (first % len) as usize;
        for slot in &mut payload[..count] {
            let byte = self.audio.get(at).copied().unwrap_or(self.source.silence());
            *slot = if self.source == self.target {
                byte
            } else {
                self.target.encode(self.source.decode(byte))
            };
            at += 1;
            if at == self.audio.len() {
                at = 0;
            }
        }
    }

    /// Consumes `frames` frames: their index, sequence numbers and timestamps.
    fn advance(&mut self, frames: u64) {
        self.next = self.next.saturating_add(frames);
        self.seq = self.seq.wrapping_add(frames as u16);
        self.timestamp = self
            .timestamp
            .wrapping_add((frames as u32).wrapping_mul(FRAME_SAMPLES as u32));
    }
}

#[cfg(test)]
mod tests;
