//! ITU-T G.711 A-law and µ-law companding: 256-entry decode tables and 13/14-bit encode tables, all computed
//! at compile time from the reference algorithm.

/// Which G.711 law a stream or file uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum G711Law {
    /// A-law (PCMA, RTP payload type 8, WAV format 6).
    ALaw,
    /// µ-law (PCMU, RTP payload type 0, WAV format 7).
    MuLaw,
}

impl G711Law {
    /// The law of a static RTP payload type (0 → µ-law, 8 → A-law).
    pub fn from_payload_type(pt: u8) -> Option<Self> {
        match pt {
            0 => Some(Self::MuLaw),
            8 => Some(Self::ALaw),
            _ => None,
        }
    }

    /// The static RTP payload type.
    pub fn payload_type(self) -> u8 {
        match self {
            Self::MuLaw => 0,
            Self::ALaw => 8,
        }
    }

    /// The byte that encodes silence (0xD5 for A-law, 0xFF for µ-law).
    pub fn silence(self) -> u8 {
        match self {
            Self::ALaw => 0xD5,
            Self::MuLaw => 0xFF,
        }
    }

    /// Decodes one byte to 16-bit linear PCM.
    pub fn decode(self, byte: u8) -> i16 {
        match self {
            Self::ALaw => alaw_to_linear(byte),
            Self::MuLaw => ulaw_to_linear(byte),
        }
    }

    /// Encodes one 16-bit linear PCM sample.
    pub fn encode(self, sample: i16) -> u8 {
        match self {
            Self::ALaw => linear_to_alaw(sample),
            Self::MuLaw => linear_to_ulaw(sample),
        }
    }

    /// Decodes `bytes` into `out` (appending).
    pub fn decode_into(self, bytes: &[u8], out: &mut Vec<i16>) {
        out.extend(bytes.iter().map(|&b| self.decode(b)));
    }

    /// Encodes `samples` into `out` (appending).
    pub fn encode_into(self, samples: &[i16], out: &mut Vec<u8>) {
        out.extend(samples.iter().map(|&s| self.encode(s)));
    }
}

/// Decodes an A-law byte.
pub fn alaw_to_linear(byte: u8) -> i16 {
    ALAW_DECODE[usize::from(byte)]
}

/// Decodes a µ-law byte.
pub fn ulaw_to_linear(byte: u8) -> i16 {
    ULAW_DECODE[usize::from(byte)]
}

/// Encodes a sample as A-law (13-bit resolution).
pub fn linear_to_alaw(sample: i16) -> u8 {
    ALAW_ENCODE[((i32::from(sample) >> 3) + 4096) as usize]
}

/// Encodes a sample as µ-law (14-bit resolution).
pub fn linear_to_ulaw(sample: i16) -> u8 {
    ULAW_ENCODE[((i32::from(sample) >> 2) + 8192) as usize]
}

static ALAW_DECODE: [i16; 256] = build_alaw_decode();
static ULAW_DECODE: [i16; 256] = build_ulaw_decode();
static ALAW_ENCODE: [u8; 8192] = build_alaw_encode();
static ULAW_ENCODE: [u8; 16384] = build_ulaw_encode();

const fn alaw_decode_one(byte: u8) -> i16 {
    let a = byte ^ 0x55;
    let mut t = ((a & 0x0f) as i32) << 4;
    let seg = ((a & 0x70) >> 4) as i32;
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => {
            t += 0x108;
            t <<= seg - 1;
        }
    }
    if a & 0x80 != 0 { t as i16 } else { -t as i16 }
}

const fn ulaw_decode_one(byte: u8) -> i16 {
    let u = !byte;
    let mut t = (((u & 0x0f) as i32) << 3) + 0x84;
    t <<= (u & 0x70) >> 4;
    if u & 0x80 != 0 {
        (0x84 - t) as i16
    } else {
        (t - 0x84) as i16
    }
}

/// `value` is the 13-bit (A-law) magnitude-coded input, i.e. `sample >> 3`.
const fn alaw_encode_one(value: i32) -> u8 {
    const SEG_END: [i32; 8] = [0x1f, 0x3f, 0x7f, 0xff, 0x1ff, 0x3ff, 0x7ff, 0xfff];
    let (mask, pcm) = if value >= 0 {
        (0xd5u8, value)
    } else {
        (0x55u8, -value - 1)
    };
    let mut seg = 0;
    while seg < 8 && pcm > SEG_END[seg] {
        seg += 1;
    }
    if seg >= 8 {
        return 0x7f ^ mask;
    }
    let shift = if seg < 2 { 1 } else { seg as i32 };
    let aval = ((seg as i32) << 4) | ((pcm >> shift) & 0x0f);
    (aval as u8) ^ mask
}

/// `value` is the 14-bit input, i.e. `sample >> 2`.
const fn ulaw_encode_one(value: i32) -> u8 {
    const SEG_END: [i32; 8] = [0x3f, 0x7f, 0xff, 0x1ff, 0x3ff, 0x7ff, 0xfff, 0x1fff];
    const CLIP: i32 = 8159;
    let (mask, mut pcm) = if value < 0 {
        (0x7fu8, -value)
    } else {
        (0xffu8, value)
    };
    if pcm > CLIP {
        pcm = CLIP;
    }
    pcm += 0x84 >> 2;
    let mut seg = 0;
    while seg < 8 && pcm > SEG_END[seg] {
        seg += 1;
    }
    if seg >= 8 {
        return 0x7f ^ mask;
    }
    let uval = ((seg as i32) << 4) | ((pcm >> (seg as i32 + 1)) & 0x0f);
    (uval as u8) ^ mask
}

const fn build_alaw_decode() -> [i16; 256] {
    let mut table = [0; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = alaw_decode_one(i as u8);
        i += 1;
    }
    table
}

const fn build_ulaw_decode() -> [i16; 256] {
    let mut table = [0; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = ulaw_decode_one(i as u8);
        i += 1;
    }
    table
}

const fn build_alaw_encode() -> [u8; 8192] {
    let mut table = [0; 8192];
    let mut i = 0;
    while i < 8192 {
        table[i] = alaw_encode_one(i as i32 - 4096);
        i += 1;
    }
    table
}

const fn build_ulaw_encode() -> [u8; 16384] {
    let mut table = [0; 16384];
    let mut i = 0;
    while i < 16384 {
        table[i] = ulaw_encode_one(i as i32 - 8192);
        i += 1;
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        assert_eq!(linear_to_alaw(0), 0xD5);
        assert_eq!(linear_to_alaw(-1), 0x55);
        assert_eq!(alaw_to_linear(0xD5), 8);
        assert_eq!(alaw_to_linear(0x55), -8);
        assert_eq!(alaw_to_linear(0xAA), 32256);
        assert_eq!(alaw_to_linear(0x2A), -32256);
        assert_eq!(linear_to_alaw(i16::MAX), 0xAA);
        assert_eq!(linear_to_alaw(i16::MIN), 0x2A);
        assert_eq!(linear_to_ulaw(0), 0xFF);
        assert_eq!(ulaw_to_linear(0xFF), 0);
        assert_eq!(ulaw_to_linear(0x7F), 0);
        assert_eq!(ulaw_to_linear(0x80), 32124);
        assert_eq!(ulaw_to_linear(0x00), -32124);
        assert_eq!(linear_to_ulaw(i16::MAX), 0x80);
        assert_eq!(linear_to_ulaw(i16::MIN), 0x00);
        assert_eq!(G711Law::ALaw.silence(), 0xD5);
        assert_eq!(G711Law::MuLaw.silence(), 0xFF);
        assert_eq!(G711Law::from_payload_type(8), Some(G711Law::ALaw));
        assert_eq!(G711Law::from_payload_type(0).map(G711Law::payload_type), Some(0));
        assert_eq!(G711Law::from_payload_type(18), None);
    }

    #[test]
    fn every_code_round_trips() {
        for b in 0..=255u8 {
            assert_eq!(linear_to_alaw(alaw_to_linear(b)), b, "A-law {b:#04x}");
            if b != 0x7F {
                // µ-law has two zeros (0xFF and 0x7F); the encoder picks +0.
                assert_eq!(linear_to_ulaw(ulaw_to_linear(b)), b, "µ-law {b:#04x}");
            }
        }
    }

    #[test]
    fn decode_is_monotonic_and_error_is_bounded() {
        for law in [G711Law::ALaw, G711Law::MuLaw] {
            let mut prev = i32::MIN;
            let mut levels: Vec<i16> = (0..=255).map(|b| law.decode(b)).collect();
            levels.sort_unstable();
            for l in &levels {
                assert!(i32::from(*l) >= prev);
                prev = i32::from(*l);
            }
            for s in (-32768..=32767).step_by(7) {
                let s = s as i16;
                let back = i32::from(law.decode(law.encode(s)));
                let err = (back - i32::from(s)).abs();
                // Quantisation error stays within half a step of the largest segment (1024 for A-law, 1024 for µ-law).
                assert!(err <= 1100, "{law:?} {s} -> {back}");
                if i32::from(s).abs() < 64 {
                    assert!(err <= 16, "{law:?} fine steps near zero: {s} -> {back}");
                }
            }
        }
    }

    #[test]
    fn slice_helpers_append() {
        let mut bytes = Vec::new();
        G711Law::ALaw.encode_into(&[0, 1000, -1000], &mut bytes);
        let mut pcm = Vec::new();
        G711Law::ALaw.decode_into(&bytes, &mut pcm);
        assert_eq!(pcm.len(), 3);
        assert!((i32::from(pcm[1]) - 1000).abs() < 40);
        assert!((i32::from(pcm[2]) + 1000).abs() < 40);
    }
}
