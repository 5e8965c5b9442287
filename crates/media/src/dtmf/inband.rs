//! In-band DTMF detection in 8 kHz audio with the Goertzel algorithm.
//!
//! The detector analyses 12.75 ms windows (102 samples) every 6.4 ms (50% overlap) at the eight DTMF frequencies.
//! A window holds a key when: the strongest row and column tones each reach [`InbandConfig::min_level_dbm0`];
//! their ratio is within the normal/reverse twist; each beats the other tones of its group by
//! [`InbandConfig::relative_peak_db`]; and together they carry [`InbandConfig::min_tone_fraction`] of the
//! window's energy (this rejects speech, noise, and windows only partly filled by a tone). A key is reported
//! once, after enough consecutive windows to cover [`InbandConfig::min_duration_ms`]; the same key again needs
//! three windows (about 20 ms) without it in between (shorter dropouts inside a long tone are bridged).

use std::collections::VecDeque;

use super::{COL_HZ, DtmfDigit, KEYPAD, ROW_HZ};
use crate::G711Law;

const SAMPLE_RATE: f32 = 8000.0;
/// 102 samples (12.75 ms): the bin width (78 Hz) puts each row neighbour near a zero of the filter response,
/// and keeps a ±1.5% frequency error within about 1.5 dB.
const WINDOW: usize = 102;
const HOP: usize = 51;
/// Mean power of a 0 dBm0 sine in 16-bit linear G.711 (full-scale sine ≈ +3.17 dBm0, peak 32768).
const DBM0_REF_POWER: f32 = 22_706.0 * 22_706.0 / 2.0;
/// Windows without the key needed before the same key counts again.
const GAP_WINDOWS: u32 = 3;

/// Thresholds of the in-band detector (defaults after ITU-T Q.24 practice).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InbandConfig {
    /// Shortest tone reported, in milliseconds.
    pub min_duration_ms: u32,
    /// Weakest accepted level of each of the two tones, in dBm0.
    pub min_level_dbm0: f32,
    /// How much stronger the high (column) tone may be than the low (row) tone, in dB.
    pub normal_twist_db: f32,
    /// How much stronger the low (row) tone may be than the high (column) tone, in dB.
    pub reverse_twist_db: f32,
    /// How much each detected tone must exceed the other tones of its group, in dB.
    pub relative_peak_db: f32,
    /// The share of the window's energy the two tones must carry (0–1).
    pub min_tone_fraction: f32,
}

impl Default for InbandConfig {
    fn default() -> Self {
        Self {
            min_duration_ms: 40,
            min_level_dbm0: -30.0,
            normal_twist_db: 8.0,
            reverse_twist_db: 4.0,
            relative_peak_db: 8.0,
            min_tone_fraction: 0.7,
        }
    }
}

/// Finds DTMF keys in a stream of 8 kHz samples; feed it, then drain [`InbandDetector::poll_digit`].
#[derive(Debug, Clone)]
pub struct InbandDetector {
    min_power: f32,
    normal_twist: f32,
    reverse_twist: f32,
    relative_peak: f32,
    min_fraction: f32,
    min_windows: u32,
    row_coeff: [f32; 4],
    col_coeff: [f32; 4],
    window: [f32; WINDOW],
    filled: usize,
    candidate: Option<DtmfDigit>,
    run: u32,
    reported: Option<DtmfDigit>,
    misses: u32,
    digits: VecDeque<DtmfDigit>,
}

impl InbandDetector {
    /// A detector with `config`'s thresholds.
    pub fn new(config: InbandConfig) -> Self {
        let ratio = |db: f32| 10f32.powf(db / 10.0);
        let span = (config.min_duration_ms as usize * 8).saturating_sub(WINDOW);
        let min_windows = (span / HOP + 1) as u32;
        let coeff = |f: f32| 2.0 * (2.0 * std::f32::consts::PI * f / SAMPLE_RATE).cos();
        Self {
            min_power: DBM0_REF_POWER * ratio(config.min_level_dbm0),
            normal_twist: ratio(config.normal_twist_db),
            reverse_twist: ratio(config.reverse_twist_db),
            relative_peak: ratio(config.relative_peak_db),
            min_fraction: config.min_tone_fraction,
            min_windows,
            row_coeff: ROW_HZ.map(coeff),
            col_coeff: COL_HZ.map(coeff),
            window: [0.0; WINDOW],
            filled: 0,
            candidate: None,
            run: 0,
            reported: None,
            misses: GAP_WINDOWS,
            digits: VecDeque::new(),
        }
    }

    /// Feeds G.711 payload bytes.
    pub fn handle_g711(&mut self, law: G711Law, payload: &[u8]) {
        for &b in payload {
            self.push(f32::from(law.decode(b)));
        }
    }

    /// Feeds 16-bit linear samples.
    pub fn handle_samples(&mut self, samples: &[i16]) {
        for &s in samples {
            self.push(f32::from(s));
        }
    }

    /// The next detected key, if any.
    pub fn poll_digit(&mut self) -> Option<DtmfDigit> {
        self.digits.pop_front()
    }

    fn push(&mut self, sample: f32) {
        self.window[self.filled] = sample;
        self.filled += 1;
        if self.filled == WINDOW {
            let found = self.analyse();
            self.track(found);
            self.window.copy_within(HOP.., 0);
            self.filled = WINDOW - HOP;
        }
    }

    fn track(&mut self, found: Option<DtmfDigit>) {
        if found == self.candidate {
            self.run = self.run.saturating_add(1);
        } else {
            self.candidate = found;
            self.run = 1;
        }
        if let Some(digit) = found {
            self.misses = 0;
            if self.run >= self.min_windows && self.reported != Some(digit) {
                self.reported = Some(digit);
                self.digits.push_back(digit);
            }
        } else {
            self.misses = self.misses.saturating_add(1);
            if self.misses >= GAP_WINDOWS {
                self.reported = None;
            }
        }
    }

    fn analyse(&self) -> Option<DtmfDigit> {
        let n = WINDOW as f32;
        let energy = self.window.iter().map(|x| x * x).sum::<f32>() / n;
        if energy <= 0.0 {
            return None;
        }
        let rows = self.row_coeff.map(|c| goertzel(&self.window, c));
        let cols = self.col_coeff.map(|c| goertzel(&self.window, c));
        let (r, rp) = strongest(&rows);
        let (c, cp) = strongest(&cols);
        let ok = rp >= self.min_power
            && cp >= self.min_power
            && cp <= rp * self.normal_twist
            && rp <= cp * self.reverse_twist
            && rows
                .iter()
                .enumerate()
                .all(|(i, p)| i == r || p * self.relative_peak <= rp)
            && cols
                .iter()
                .enumerate()
                .all(|(i, p)| i == c || p * self.relative_peak <= cp)
            && rp + cp >= self.min_fraction * energy;
        if ok {
            DtmfDigit::from_char(KEYPAD[r][c])
        } else {
            None
        }
    }
}

/// Mean power of the component at the filter's frequency (a sine of amplitude A gives about A²/2).
fn goertzel(samples: &[f32], coeff: f32) -> f32 {
    let (mut s1, mut s2) = (0.0f32, 0.0f32);
    for &x in samples {
        let s = x + coeff * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    let n = samples.len() as f32;
    (s1 * s1 + s2 * s2 - coeff * s1 * s2) * 2.0 / (n * n)
}

fn strongest(powers: &[f32; 4]) -> (usize, f32) {
    powers.iter().copied().enumerate().fold(
        (0, f32::MIN),
        |best, (i, p)| if p > best.1 { (i, p) } else { best },
    )
}

#[cfg(test)]
mod tests;
