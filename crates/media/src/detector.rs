//! One leg's DTMF from its RTP: RFC 4733 telephone-events and in-band tones in G.711 audio, combined.
//!
//! [`DigitDetector`] routes each packet: the negotiated telephone-event payload type goes to
//! [`Rfc4733Detector`] (one digit per event; updates, duplicates and the three end retransmissions share the
//! event's timestamp and are de-duplicated there); PCMU/PCMA audio goes to [`InbandDetector`] when in-band
//! detection is on. A phone that sends both must not produce every key twice, so once a telephone-event packet
//! has been seen on the stream, in-band detection is switched off for it.

use crate::dtmf::{DtmfDigit, InbandConfig, InbandDetector, Rfc4733Detector};
use crate::{G711Law, RtpPacket};

/// DTMF detection for the RTP one party sends (see the [module docs](self)).
#[derive(Debug, Clone)]
pub struct DigitDetector {
    rfc4733: Option<Rfc4733Detector>,
    /// In-band detection was asked for.
    inband_enabled: bool,
    /// The in-band detector while it runs: `None` when disabled, or once a telephone-event has been seen.
    inband: Option<InbandDetector>,
}

impl DigitDetector {
    /// A detector for a stream whose SDP negotiated `telephone_event_pt` (`None`: RFC 4733 off); `inband` runs
    /// the Goertzel detector (default thresholds) on PCMA/PCMU audio.
    pub fn new(telephone_event_pt: Option<u8>, inband: bool) -> Self {
        Self {
            rfc4733: telephone_event_pt.map(Rfc4733Detector::new),
            inband_enabled: inband,
            inband: inband.then(new_inband),
        }
    }

    /// Follows a renegotiated telephone-event payload type (re-INVITE/UPDATE). Dropping telephone-event
    /// (`None`) turns in-band detection (if enabled) back on, since the phone now has no other way to signal.
    pub fn set_telephone_event_pt(&mut self, pt: Option<u8>) {
        match (pt, &mut self.rfc4733) {
            (None, _) => {
                self.rfc4733 = None;
                if self.inband_enabled && self.inband.is_none() {
                    self.inband = Some(new_inband());
                }
            }
            (Some(pt), Some(det)) => det.set_payload_type(pt),
            (Some(pt), None) => self.rfc4733 = Some(Rfc4733Detector::new(pt)),
        }
    }

    /// The telephone-event payload type listened for.
    pub fn telephone_event_pt(&self) -> Option<u8> {
        self.rfc4733.as_ref().map(Rfc4733Detector::payload_type)
    }

    /// Whether in-band detection currently runs (enabled, and no telephone-event seen on the stream).
    pub fn inband_active(&self) -> bool {
        self.inband.is_some()
    }

    /// Feeds one RTP packet from the party; answers the digit it completes, if any. RFC 4733 gives each key
    /// once, at the first packet of its event. (If one packet ever completes several in-band digits, the others
    /// come from [`DigitDetector::poll_digit`] or the following calls.)
    pub fn handle_rtp(&mut self, packet: &RtpPacket<'_>) -> Option<DtmfDigit> {
        if let Some(det) = self
            .rfc4733
            .as_mut()
            .filter(|d| d.payload_type() == packet.payload_type)
        {
            self.inband = None;
            return det.handle_rtp(packet);
        }
        let inband = self.inband.as_mut()?;
        if let Some(law) = G711Law::from_payload_type(packet.payload_type) {
            inband.handle_g711(law, packet.payload());
        }
        inband.poll_digit()
    }

    /// A digit still queued from in-band detection (only when one packet completed more than one).
    pub fn poll_digit(&mut self) -> Option<DtmfDigit> {
        self.inband.as_mut()?.poll_digit()
    }
}

fn new_inband() -> InbandDetector {
    InbandDetector::new(InbandConfig::default())
}

#[cfg(test)]
mod tests;
