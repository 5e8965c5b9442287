//! Fake RTP endpoints: the media side of a trunk's party, on the simulator's media network.
//!
//! An [`RtpEndpoint`] has its own address (the one its trunk's SDP declares), sends to a target (the
//! switch's address from the SDP its trunk received, set by the [`Sim`](crate::Sim)), and can:
//! - send G.711 audio: one 160-sample frame every 20 ms, cycling through the samples it was given
//!   ([`RtpEndpoint::start_audio`], [`RtpEndpoint::stop_audio`]);
//! - key a digit as RFC 4733 telephone-event packets ([`RtpEndpoint::send_digit`]): a start packet with the
//!   marker bit, updates every 20 ms, then three end packets, all with the event's start timestamp;
//! - keep everything it receives ([`RtpEndpoint::received`]), with helpers for the payloads of one payload type.
//!
//! Audio and events share one SSRC and one sequence-number space, as a real phone's stream does.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pn_media::{DtmfDigit, RtpHeader, RtpPacket, TelephoneEvent};

use crate::net::Datagram;

/// One frame of audio: 20 ms at 8 kHz.
pub const FRAME_SAMPLES: usize = 160;
/// The interval between frames.
pub const FRAME: Duration = Duration::from_millis(20);

/// Audio being sent.
#[derive(Debug, Clone)]
struct Audio {
    payload_type: u8,
    samples: Arc<[u8]>,
    position: usize,
    next: Instant,
}

/// A telephone-event packet waiting for its time.
#[derive(Debug, Clone, Copy)]
struct EventPacket {
    at: Instant,
    payload_type: u8,
    marker: bool,
    timestamp: u32,
    event: TelephoneEvent,
}

/// A datagram an endpoint received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// When it arrived.
    pub at: Instant,
    /// Its source.
    pub from: SocketAddr,
    /// The datagram.
    pub bytes: Vec<u8>,
}

/// A party's media: sends audio and digits to its target, keeps what it receives.
#[derive(Debug)]
pub struct RtpEndpoint {
    addr: SocketAddr,
    /// Where it sends (`None`: nowhere yet; nothing is sent).
    pub target: Option<SocketAddr>,
    /// The Sim sets [`Self::target`] from the SDP its trunk receives (default true).
    pub follow_sdp: bool,
    ssrc: u32,
    sequence: u16,
    /// The RTP timestamp at `origin`; the stream's clock runs with virtual time from there.
    timestamp: u32,
    origin: Option<Instant>,
    audio: Option<Audio>,
    events: Vec<EventPacket>,
    transmit: Vec<Datagram>,
    /// Everything received, in order of arrival.
    pub received: Vec<Received>,
    /// RTP packets sent (audio and events).
    pub sent: u64,
}

impl RtpEndpoint {
    /// An endpoint at `addr` whose stream has SSRC `ssrc`.
    #[must_use]
    pub fn new(addr: SocketAddr, ssrc: u32) -> Self {
        Self {
            addr,
            target: None,
            follow_sdp: true,
            ssrc,
            sequence: (ssrc >> 16) as u16,
            timestamp: ssrc.rotate_left(7),
            origin: None,
            audio: None,
            events: Vec::new(),
            transmit: Vec::new(),
            received: Vec::new(),
            sent: 0,
        }
    }

    /// This endpoint's address.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// This endpoint's SSRC.
    #[must_use]
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// Starts sending `samples` (G.711 bytes of `payload_type`, cycled) as one frame every 20 ms, the first
    /// at `now`.
    ///
    /// # Panics
    /// If `samples` is empty.
    pub fn start_audio(&mut self, now: Instant, payload_type: u8, samples: impl Into<Arc<[u8]>>) {
        let samples = samples.into();
        assert!(!samples.is_empty(), "audio needs samples");
        self.audio = Some(Audio {
            payload_type,
            samples,
            position: 0,
            next: now,
        });
    }

    /// Stops sending audio.
    pub fn stop_audio(&mut self) {
        self.audio = None;
    }

    /// Whether audio is being sent.
    #[must_use]
    pub fn sending_audio(&self) -> bool {
        self.audio.is_some()
    }

    /// Keys `digit` (`0`–`9`, `*`, `#`, `A`–`D`) from `now` as RFC 4733 events of `payload_type`: a start
    /// packet (marker set), updates every 20 ms for `length`, then three end packets 20 ms apart.
    ///
    /// # Panics
    /// If `digit` is not a DTMF key.
    pub fn send_digit(&mut self, now: Instant, digit: char, payload_type: u8, length: Duration) {
        let code = DtmfDigit::from_char(digit)
            .unwrap_or_else(|| panic!("{digit:?} is not a DTMF key"))
            .event();
        let updates = (length.as_millis() / FRAME.as_millis()).max(1);
        let updates = u32::try_from(updates).unwrap_or(u32::MAX);
        let start = self
            .events
            .iter()
            .map(|e| e.at + FRAME)
            .max()
            .unwrap_or(now)
            .max(now);
        let timestamp = self.timestamp_at(start);
        for i in 0..updates + 3 {
            let end = i >= updates;
            let duration = (i.min(updates - 1) + 1) * FRAME_SAMPLES as u32;
            self.events.push(EventPacket {
                at: start + FRAME * i,
                payload_type,
                marker: i == 0,
                timestamp,
                event: TelephoneEvent {
                    event: code,
                    end,
                    volume: 10,
                    duration: u16::try_from(duration).unwrap_or(u16::MAX),
                },
            });
        }
    }

    /// Whether digits are still being sent.
    #[must_use]
    pub fn sending_digits(&self) -> bool {
        !self.events.is_empty()
    }

    /// A datagram from the media network.
    pub fn handle_datagram(&mut self, now: Instant, datagram: &Datagram) {
        self.received.push(Received {
            at: now,
            from: datagram.from,
            bytes: datagram.bytes.clone(),
        });
    }

    /// Sends what is due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut due: Vec<EventPacket> = Vec::new();
        self.events.retain(|e| {
            if e.at <= now {
                due.push(*e);
                false
            } else {
                true
            }
        });
        for packet in due {
            let mut payload = Vec::with_capacity(4);
            packet.event.write(&mut payload);
            self.send(packet.payload_type, packet.marker, packet.timestamp, &payload);
        }
        while let Some(audio) = self.audio.as_mut().filter(|a| a.next <= now) {
            let mut frame = Vec::with_capacity(FRAME_SAMPLES);
            while frame.len() < FRAME_SAMPLES {
                frame.push(audio.samples[audio.position]);
                audio.position = (audio.position + 1) % audio.samples.len();
            }
            let at = audio.next;
            audio.next += FRAME;
            let payload_type = audio.payload_type;
            let timestamp = self.timestamp_at(at);
            self.send(payload_type, false, timestamp, &frame);
        }
    }

    /// When something is next due.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let events = self.events.iter().map(|e| e.at);
        self.audio
            .as_ref()
            .map(|a| a.next)
            .into_iter()
            .chain(events)
            .min()
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Datagram> {
        (!self.transmit.is_empty()).then(|| self.transmit.remove(0))
    }

    /// The RTP packets received with `payload_type`, in order of arrival (others and RTCP skipped).
    #[must_use]
    pub fn packets(&self, payload_type: u8) -> Vec<(SocketAddr, RtpPacket<'_>)> {
        self.received
            .iter()
            .filter(|r| !pn_media::is_rtcp(&r.bytes))
            .filter_map(|r| RtpPacket::parse(&r.bytes).ok().map(|p| (r.from, p)))
            .filter(|(_, p)| p.payload_type == payload_type)
            .collect()
    }

    /// The payloads of the packets received with `payload_type`, concatenated in order of arrival.
    #[must_use]
    pub fn payload(&self, payload_type: u8) -> Vec<u8> {
        self.packets(payload_type)
            .iter()
            .flat_map(|(_, p)| p.payload().iter().copied())
            .collect()
    }

    /// The RTP timestamp of the sample sent at `at` (8 kHz from the first packet's time).
    fn timestamp_at(&mut self, at: Instant) -> u32 {
        let origin = *self.origin.get_or_insert(at);
        let samples = at.saturating_duration_since(origin).as_micros() / 125;
        self.timestamp.wrapping_add(samples as u32)
    }

    fn send(&mut self, payload_type: u8, marker: bool, timestamp: u32, payload: &[u8]) {
        let Some(to) = self.target else {
            return;
        };
        let header = RtpHeader {
            marker,
            payload_type,
            sequence: self.sequence,
            timestamp,
            ssrc: self.ssrc,
        };
        self.sequence = self.sequence.wrapping_add(1);
        let mut bytes = Vec::with_capacity(12 + payload.len());
        header.write(payload, &mut bytes);
        self.sent += 1;
        self.transmit.push(Datagram {
            from: self.addr,
            to,
            bytes,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audio_is_one_frame_every_20_ms_and_digits_are_rfc_4733_events() {
        #[allow(clippy::disallowed_methods)]
        let t0 = Instant::now();
        let mut ep = RtpEndpoint::new("198.51.100.1:49170".parse().unwrap(), 0x1234_5678);
        ep.target = Some("192.0.2.10:40000".parse().unwrap());
        let samples: Vec<u8> = (0..=255).collect();
        ep.start_audio(t0, 8, samples.clone());
        ep.handle_timeout(t0 + Duration::from_millis(45));
        let mut sent = Vec::new();
        while let Some(d) = ep.poll_transmit() {
            sent.push(d);
        }
        assert_eq!(sent.len(), 3, "frames at 0, 20 and 40 ms");
        let p: Vec<_> = sent
            .iter()
            .map(|d| RtpPacket::parse(&d.bytes).unwrap().payload().to_vec())
            .collect();
        assert_eq!(p.concat(), [samples.clone(), samples[..224].to_vec()].concat());
        assert_eq!(ep.poll_timeout(), Some(t0 + Duration::from_millis(60)));
        ep.stop_audio();
        ep.send_digit(
            t0 + Duration::from_millis(60),
            '#',
            101,
            Duration::from_millis(40),
        );
        ep.handle_timeout(t0 + Duration::from_secs(1));
        let events: Vec<_> = std::iter::from_fn(|| ep.poll_transmit())
            .map(|d| {
                let rtp = RtpPacket::parse(&d.bytes).unwrap();
                let e = TelephoneEvent::parse(rtp.payload()).unwrap();
                (rtp.marker, rtp.payload_type, e.event, e.end, e.duration)
            })
            .collect();
        assert_eq!(
            events,
            [
                (true, 101, 11, false, 160),
                (false, 101, 11, false, 320),
                (false, 101, 11, true, 320),
                (false, 101, 11, true, 320),
                (false, 101, 11, true, 320),
            ]
        );
    }
}
