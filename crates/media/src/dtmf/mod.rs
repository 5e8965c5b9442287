//! DTMF from the three places it arrives: RFC 4733 telephone-events in RTP, SIP INFO bodies, and in-band
//! tones in G.711 audio (Goertzel).
//!
//! All three yield [`DtmfDigit`] values. The detectors are sans-IO: [`Rfc4733Detector`] takes parsed RTP packets,
//! [`InbandDetector`] takes G.711 payload bytes or linear samples; SIP INFO bodies are parsed by
//! [`parse_info_body`].

mod inband;
mod info;
mod rfc4733;

pub use inband::{InbandConfig, InbandDetector};
pub use info::{InfoDtmf, parse_dtmf, parse_dtmf_relay, parse_info_body};
pub use rfc4733::{Rfc4733Detector, TelephoneEvent};

use crate::MediaError;

/// One DTMF key: RFC 4733 events 0–15 (`0`–`9`, `*`, `#`, `A`–`D`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DtmfDigit(u8);

impl DtmfDigit {
    /// The digit for an RFC 4733 event code (0–15).
    pub fn from_event(event: u8) -> Option<Self> {
        (event <= 15).then_some(Self(event))
    }

    /// The digit for a key character (`0`–`9`, `*`, `#`, `A`–`D`, case-insensitive).
    pub fn from_char(c: char) -> Option<Self> {
        let event = match c.to_ascii_uppercase() {
            d @ '0'..='9' => d as u8 - b'0',
            '*' => 10,
            '#' => 11,
            l @ 'A'..='D' => l as u8 - b'A' + 12,
            _ => return None,
        };
        Some(Self(event))
    }

    /// The RFC 4733 event code.
    pub fn event(self) -> u8 {
        self.0
    }

    /// The key character.
    pub fn as_char(self) -> char {
        char::from(b"0123456789*#ABCD"[usize::from(self.0 & 0x0f)])
    }

    /// The (row, column) frequencies in Hz of the key's tone pair.
    pub fn frequencies(self) -> (f32, f32) {
        let (row, col) = KEYPAD
            .iter()
            .enumerate()
            .find_map(|(r, keys)| keys.iter().position(|k| *k == self.as_char()).map(|c| (r, c)))
            .unwrap_or((0, 0));
        (ROW_HZ[row], COL_HZ[col])
    }
}

impl std::fmt::Display for DtmfDigit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.as_char())
    }
}

impl TryFrom<char> for DtmfDigit {
    type Error = MediaError;

    fn try_from(c: char) -> Result<Self, MediaError> {
        Self::from_char(c).ok_or(MediaError::BadDtmf("not a DTMF key"))
    }
}

/// Row (low group) frequencies in Hz.
pub const ROW_HZ: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
/// Column (high group) frequencies in Hz.
pub const COL_HZ: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
/// The keypad, `KEYPAD[row][column]`.
pub const KEYPAD: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_map_both_ways() {
        for (i, c) in "0123456789*#ABCD".chars().enumerate() {
            let d = DtmfDigit::from_char(c).unwrap();
            assert_eq!(d.event() as usize, i);
            assert_eq!(d.as_char(), c);
            assert_eq!(DtmfDigit::from_event(i as u8), Some(d));
            assert_eq!(d.to_string(), c.to_string());
        }
        assert_eq!(DtmfDigit::from_char('b').map(DtmfDigit::as_char), Some('B'));
        assert_eq!(DtmfDigit::from_event(16), None);
        assert!(DtmfDigit::try_from('x').is_err());
        assert_eq!(DtmfDigit::from_char('5').unwrap().frequencies(), (770.0, 1336.0));
        assert_eq!(DtmfDigit::from_char('#').unwrap().frequencies(), (941.0, 1477.0));
    }
}
