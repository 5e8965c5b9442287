//! RFC 4733 telephone-events (the former RFC 2833) carried in RTP.

use super::DtmfDigit;
use crate::MediaError;
use crate::rtp::RtpPacket;

/// One telephone-event payload (RFC 4733 §2.3): event, end bit, volume, duration in timestamp units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// Event code (0–15 are DTMF keys).
    pub event: u8,
    /// The E bit: this packet ends the event.
    pub end: bool,
    /// Volume in −dBm0 (6 bits).
    pub volume: u8,
    /// Duration so far, in RTP timestamp units.
    pub duration: u16,
}

impl TelephoneEvent {
    /// Parses the first event block of an RTP payload.
    pub fn parse(payload: &[u8]) -> Result<Self, MediaError> {
        let b = payload.get(..4).ok_or(MediaError::Truncated {
            what: "telephone-event",
            need: 4,
            have: payload.len(),
        })?;
        Ok(Self {
            event: b[0],
            end: b[1] & 0x80 != 0,
            volume: b[1] & 0x3f,
            duration: u16::from_be_bytes([b[2], b[3]]),
        })
    }

    /// Appends the 4-byte payload to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.push(self.event);
        out.push(u8::from(self.end) << 7 | (self.volume & 0x3f));
        out.extend_from_slice(&self.duration.to_be_bytes());
    }

    /// The DTMF key, if the event is one.
    pub fn digit(&self) -> Option<DtmfDigit> {
        DtmfDigit::from_event(self.event)
    }
}

/// How many recent events are remembered for de-duplication (late retransmissions of an earlier event).
const RECENT: usize = 4;

/// Turns a stream of telephone-event packets into one digit per event.
///
/// An event is identified by (SSRC, RTP timestamp): every packet of one key press — the in-progress updates and
/// the three end retransmissions — shares the timestamp of its start. The digit is emitted at the first packet
/// seen for a new identity (start or end), so a lost start or lost end packets still yield exactly one digit.
/// Packets of other payload types, and non-DTMF events, are ignored.
#[derive(Debug, Clone)]
pub struct Rfc4733Detector {
    payload_type: u8,
    recent: [Option<(u32, u32)>; RECENT],
    next: usize,
}

impl Rfc4733Detector {
    /// A detector for the telephone-event payload type negotiated in SDP (`a=rtpmap:<pt> telephone-event/8000`).
    pub fn new(payload_type: u8) -> Self {
        Self {
            payload_type,
            recent: [None; RECENT],
            next: 0,
        }
    }

    /// The payload type listened for.
    pub fn payload_type(&self) -> u8 {
        self.payload_type
    }

    /// Follows a renegotiated payload type (re-INVITE).
    pub fn set_payload_type(&mut self, payload_type: u8) {
        self.payload_type = payload_type;
    }

    /// Looks at one RTP packet; answers the digit when it starts a new event.
    pub fn handle_rtp(&mut self, packet: &RtpPacket<'_>) -> Option<DtmfDigit> {
        if packet.payload_type != self.payload_type {
            return None;
        }
        let digit = TelephoneEvent::parse(packet.payload()).ok()?.digit()?;
        let key = (packet.ssrc, packet.timestamp);
        if self.recent.contains(&Some(key)) {
            return None;
        }
        self.recent[self.next] = Some(key);
        self.next = (self.next + 1) % RECENT;
        Some(digit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp::RtpHeader;

    const PT: u8 = 101;

    fn packet(pt: u8, seq: u16, ts: u32, ev: TelephoneEvent) -> Vec<u8> {
        let mut payload = Vec::new();
        ev.write(&mut payload);
        let mut out = Vec::new();
        RtpHeader {
            marker: false,
            payload_type: pt,
            sequence: seq,
            timestamp: ts,
            ssrc: 0x55AA,
        }
        .write(&payload, &mut out);
        out
    }

    /// The packets one key press produces: start (marker), updates every 50 ms, three end packets.
    fn key_press(event: u8, ts: u32, seq: &mut u16) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for (i, duration) in [160u16, 560, 960, 1280].into_iter().enumerate() {
            let end = i == 3;
            let repeats = if end { 3 } else { 1 };
            for _ in 0..repeats {
                out.push(packet(
                    PT,
                    *seq,
                    ts,
                    TelephoneEvent {
                        event,
                        end,
                        volume: 10,
                        duration,
                    },
                ));
                *seq = seq.wrapping_add(1);
            }
        }
        out
    }

    fn feed(det: &mut Rfc4733Detector, packets: &[Vec<u8>]) -> String {
        packets
            .iter()
            .filter_map(|p| det.handle_rtp(&RtpPacket::parse(p).unwrap()))
            .map(DtmfDigit::as_char)
            .collect()
    }

    #[test]
    fn parses_and_prints_the_payload() {
        let ev = TelephoneEvent::parse(&[5, 0x8A, 0x03, 0x20]).unwrap();
        assert_eq!(
            ev,
            TelephoneEvent {
                event: 5,
                end: true,
                volume: 10,
                duration: 800
            }
        );
        assert_eq!(ev.digit().map(DtmfDigit::as_char), Some('5'));
        let mut out = Vec::new();
        ev.write(&mut out);
        assert_eq!(out, [5, 0x8A, 0x03, 0x20]);
        assert!(TelephoneEvent::parse(&[5, 0x8A, 0x03]).is_err());
        assert_eq!(
            TelephoneEvent::parse(&[16, 0, 0, 0]).unwrap().digit(),
            None,
            "flash is not a key"
        );
    }

    #[test]
    fn one_digit_per_event_despite_updates_and_end_retransmissions() {
        let mut det = Rfc4733Detector::new(PT);
        let mut seq = 1;
        let mut packets = Vec::new();
        for (i, ev) in [1u8, 2, 3, 4, 11].into_iter().enumerate() {
            packets.extend(key_press(ev, 1000 + 4000 * i as u32, &mut seq));
        }
        assert_eq!(packets.len(), 30);
        assert_eq!(feed(&mut det, &packets), "1234#");
    }

    #[test]
    fn same_key_twice_is_two_digits() {
        let mut det = Rfc4733Detector::new(PT);
        let mut seq = 1;
        let mut packets = key_press(5, 8000, &mut seq);
        packets.extend(key_press(5, 16000, &mut seq));
        assert_eq!(feed(&mut det, &packets), "55");
    }

    #[test]
    fn lost_start_or_late_retransmission_still_one_digit() {
        let mut det = Rfc4733Detector::new(PT);
        let mut seq = 1;
        let first = key_press(7, 100, &mut seq);
        let second = key_press(8, 5000, &mut seq);
        // Start packets of 7 lost; an end retransmission of 7 arrives after 8 began.
        let mut stream: Vec<_> = first[2..5].to_vec();
        stream.extend_from_slice(&second[..2]);
        stream.push(first[5].clone());
        stream.extend_from_slice(&second[2..]);
        assert_eq!(feed(&mut det, &stream), "78");
    }

    #[test]
    fn honours_the_negotiated_payload_type() {
        let mut det = Rfc4733Detector::new(96);
        let mut seq = 1;
        let packets = key_press(9, 100, &mut seq);
        assert_eq!(feed(&mut det, &packets), "", "PT 101 is not telephone-event here");
        det.set_payload_type(PT);
        assert_eq!(det.payload_type(), PT);
        assert_eq!(feed(&mut det, &packets), "9");
        let short = packet(
            PT,
            1,
            99_999,
            TelephoneEvent {
                event: 1,
                end: false,
                volume: 0,
                duration: 0,
            },
        );
        let truncated = &short[..14];
        assert_eq!(det.handle_rtp(&RtpPacket::parse(truncated).unwrap()), None);
    }
}
