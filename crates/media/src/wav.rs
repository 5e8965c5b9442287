//! Minimal WAV (RIFF/WAVE) for 8 kHz mono 8-bit G.711: the format of prompts and recordings.
//!
//! [`parse_wav`] validates a file and borrows its audio; [`parse_prompt`] adds the reference's prompt rule
//! (≤ 2 MB). [`write_wav`] writes a file with an 18-byte `fmt ` chunk (format 6 A-law / 7 µ-law) and a `fact`
//! chunk, as non-PCM WAV requires; [`wav_header`] gives the same header alone so a recorder can stream audio
//! and rewrite the header when it stops.

use crate::{G711Law, MediaError};

/// `WAVE_FORMAT_ALAW`.
pub const WAVE_FORMAT_ALAW: u16 = 6;
/// `WAVE_FORMAT_MULAW`.
pub const WAVE_FORMAT_MULAW: u16 = 7;
/// The only sample rate accepted.
pub const SAMPLE_RATE: u32 = 8000;
/// The largest prompt file accepted (the reference's 2 MB rule).
pub const PROMPT_MAX_BYTES: usize = 2 * 1024 * 1024;
/// Length of the header [`wav_header`] and [`write_wav`] produce.
pub const HEADER_LEN: usize = 58;

/// Validated audio borrowed from a WAV file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WavAudio<'a> {
    /// The companding law.
    pub law: G711Law,
    /// The G.711 bytes, one per sample at 8 kHz.
    pub samples: &'a [u8],
}

impl WavAudio<'_> {
    /// Playing time in milliseconds.
    pub fn duration_ms(&self) -> u64 {
        self.samples.len() as u64 * 1000 / u64::from(SAMPLE_RATE)
    }
}

/// Parses a prompt file: [`parse_wav`] with the [`PROMPT_MAX_BYTES`] limit.
pub fn parse_prompt(bytes: &[u8]) -> Result<WavAudio<'_>, MediaError> {
    parse_wav(bytes, PROMPT_MAX_BYTES)
}

/// Parses and validates a WAV file of at most `max_bytes`: RIFF/WAVE, a `fmt ` chunk saying A-law or µ-law,
/// mono, 8000 Hz, 8 bits, block align 1, and a non-empty `data` chunk. Other chunks are skipped.
pub fn parse_wav(bytes: &[u8], max_bytes: usize) -> Result<WavAudio<'_>, MediaError> {
    if bytes.len() > max_bytes {
        return Err(MediaError::WavTooLarge {
            len: bytes.len(),
            limit: max_bytes,
        });
    }
    if bytes.len() < 12 {
        return Err(MediaError::Truncated {
            what: "WAV header",
            need: 12,
            have: bytes.len(),
        });
    }
    if &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err(MediaError::BadWav("not a RIFF/WAVE file"));
    }
    // The RIFF size is not trusted (streaming writers that died leave it 0); chunks are walked to the end.
    let riff_end = bytes.len();
    let mut law = None;
    let mut pos = 12;
    while pos + 8 <= riff_end {
        let id = &bytes[pos..pos + 4];
        let len = le32(bytes, pos + 4) as usize;
        let body_start = pos + 8;
        let Some(body) = body_start
            .checked_add(len)
            .and_then(|end| bytes.get(body_start..end))
        else {
            return Err(MediaError::Truncated {
                what: "WAV chunk",
                need: body_start.saturating_add(len),
                have: bytes.len(),
            });
        };
        match id {
            b"fmt " => law = Some(parse_fmt(body)?),
            b"data" => {
                let law = law.ok_or(MediaError::BadWav("data chunk before fmt chunk"))?;
                if body.is_empty() {
                    return Err(MediaError::BadWav("empty data chunk"));
                }
                return Ok(WavAudio { law, samples: body });
            }
            _ => {}
        }
        pos = body_start + len + (len & 1);
    }
    Err(MediaError::BadWav(if law.is_some() {
        "no data chunk"
    } else {
        "no fmt chunk"
    }))
}

fn parse_fmt(body: &[u8]) -> Result<G711Law, MediaError> {
    if body.len() < 16 {
        return Err(MediaError::BadWav("fmt chunk shorter than 16 bytes"));
    }
    let law = match le16(body, 0) {
        WAVE_FORMAT_ALAW => G711Law::ALaw,
        WAVE_FORMAT_MULAW => G711Law::MuLaw,
        _ => return Err(MediaError::BadWav("format is not A-law (6) or µ-law (7)")),
    };
    if le16(body, 2) != 1 {
        return Err(MediaError::BadWav("not mono"));
    }
    if le32(body, 4) != SAMPLE_RATE {
        return Err(MediaError::BadWav("sample rate is not 8000 Hz"));
    }
    if le32(body, 8) != SAMPLE_RATE || le16(body, 12) != 1 || le16(body, 14) != 8 {
        return Err(MediaError::BadWav("not 8 bits per sample at 64 kbit/s"));
    }
    Ok(law)
}

/// The 58-byte header for `data_len` bytes of audio; fails if the file would not fit RIFF's 32-bit sizes.
pub fn wav_header(law: G711Law, data_len: usize) -> Result<[u8; HEADER_LEN], MediaError> {
    let limit = u32::MAX as usize - HEADER_LEN;
    if data_len > limit {
        return Err(MediaError::WavTooLarge { len: data_len, limit });
    }
    let data = data_len as u32;
    let format = match law {
        G711Law::ALaw => WAVE_FORMAT_ALAW,
        G711Law::MuLaw => WAVE_FORMAT_MULAW,
    };
    let mut h = [0u8; HEADER_LEN];
    let mut w = Writer { buf: &mut h, pos: 0 };
    w.bytes(b"RIFF");
    w.u32(HEADER_LEN as u32 - 8 + data + (data & 1));
    w.bytes(b"WAVE");
    w.bytes(b"fmt ");
    w.u32(18);
    w.u16(format);
    w.u16(1);
    w.u32(SAMPLE_RATE);
    w.u32(SAMPLE_RATE);
    w.u16(1);
    w.u16(8);
    w.u16(0);
    w.bytes(b"fact");
    w.u32(4);
    w.u32(data);
    w.bytes(b"data");
    w.u32(data);
    Ok(h)
}

/// Writes a complete WAV file (header, audio, pad byte if odd) into `out`.
pub fn write_wav(law: G711Law, samples: &[u8], out: &mut Vec<u8>) -> Result<(), MediaError> {
    out.extend_from_slice(&wav_header(law, samples.len())?);
    out.extend_from_slice(samples);
    if samples.len() % 2 == 1 {
        out.push(0);
    }
    Ok(())
}

struct Writer<'a> {
    buf: &'a mut [u8; HEADER_LEN],
    pos: usize,
}

impl Writer<'_> {
    fn bytes(&mut self, b: &[u8]) {
        self.buf[self.pos..self.pos + b.len()].copy_from_slice(b);
        self.pos += b.len();
    }
    fn u16(&mut self, v: u16) {
        self.bytes(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.bytes(&v.to_le_bytes());
    }
}

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pcm16_header_file() -> Vec<u8> {
        // A classic 44-byte PCM header: 8 kHz mono 16-bit.
        let mut b = Vec::new();
        b.extend_from_slice(b"RIFF");
        b.extend_from_slice(&40u32.to_le_bytes());
        b.extend_from_slice(b"WAVEfmt ");
        b.extend_from_slice(&16u32.to_le_bytes());
        for v in [1u16, 1] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(&8000u32.to_le_bytes());
        b.extend_from_slice(&16000u32.to_le_bytes());
        for v in [2u16, 16] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(b"data");
        b.extend_from_slice(&4u32.to_le_bytes());
        b.extend_from_slice(&[0, 0, 0, 0]);
        b
    }

    #[test]
    fn round_trips_both_laws() {
        for law in [G711Law::ALaw, G711Law::MuLaw] {
            let audio: Vec<u8> = (0..8001u32).map(|i| (i * 7) as u8).collect();
            let mut file = Vec::new();
            write_wav(law, &audio, &mut file).unwrap();
            assert_eq!(file.len(), HEADER_LEN + 8002, "odd data is padded");
            assert_eq!(le32(&file, 4) as usize, file.len() - 8);
            let parsed = parse_prompt(&file).unwrap();
            assert_eq!(parsed.law, law);
            assert_eq!(parsed.samples, &audio[..]);
            assert_eq!(parsed.duration_ms(), 1000);
        }
    }

    #[test]
    fn header_fields_are_exact() {
        let h = wav_header(G711Law::ALaw, 16000).unwrap();
        assert_eq!(&h[0..4], b"RIFF");
        assert_eq!(le32(&h, 4), 50 + 16000);
        assert_eq!(&h[8..16], b"WAVEfmt ");
        assert_eq!((le32(&h, 16), le16(&h, 20), le16(&h, 22)), (18, 6, 1));
        assert_eq!(
            (le32(&h, 24), le32(&h, 28), le16(&h, 32), le16(&h, 34)),
            (8000, 8000, 1, 8)
        );
        assert_eq!(&h[38..42], b"fact");
        assert_eq!(le32(&h, 46), 16000);
        assert_eq!(&h[50..54], b"data");
        assert_eq!(le32(&h, 54), 16000);
        assert_eq!(le16(&wav_header(G711Law::MuLaw, 2).unwrap(), 20), 7);
    }

    #[test]
    fn skips_unknown_chunks_and_accepts_16_byte_fmt() {
        let mut b = Vec::new();
        b.extend_from_slice(b"RIFF\0\0\0\0WAVE");
        b.extend_from_slice(b"LIST");
        b.extend_from_slice(&3u32.to_le_bytes());
        b.extend_from_slice(b"abc\0"); // odd chunk + pad
        b.extend_from_slice(b"fmt ");
        b.extend_from_slice(&16u32.to_le_bytes());
        for v in [6u16, 1] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(&8000u32.to_le_bytes());
        b.extend_from_slice(&8000u32.to_le_bytes());
        for v in [1u16, 8] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(b"data");
        b.extend_from_slice(&2u32.to_le_bytes());
        b.extend_from_slice(&[0xD5, 0xD5]);
        let size = (b.len() - 8) as u32;
        b[4..8].copy_from_slice(&size.to_le_bytes());
        let audio = parse_prompt(&b).unwrap();
        assert_eq!((audio.law, audio.samples), (G711Law::ALaw, &[0xD5, 0xD5][..]));
    }

    #[test]
    fn rejects_bad_headers() {
        let mut good = Vec::new();
        write_wav(G711Law::ALaw, &[0xD5; 100], &mut good).unwrap();
        let patch = |at: usize, v: &[u8]| {
            let mut b = good.clone();
            b[at..at + v.len()].copy_from_slice(v);
            b
        };
        let bad_wav = |b: &[u8]| matches!(parse_prompt(b), Err(MediaError::BadWav(_)));
        assert!(bad_wav(&patch(0, b"RIFX")));
        assert!(bad_wav(&patch(8, b"AVI ")));
        assert!(bad_wav(&patch(22, &2u16.to_le_bytes())), "stereo");
        assert!(bad_wav(&patch(24, &16000u32.to_le_bytes())), "16 kHz");
        assert!(bad_wav(&patch(34, &16u16.to_le_bytes())), "16-bit");
        assert!(bad_wav(&patch(20, &1u16.to_le_bytes())), "PCM");
        assert!(bad_wav(&pcm16_header_file()));
        assert!(bad_wav(&patch(54, &0u32.to_le_bytes())), "empty data");
        assert!(matches!(
            parse_prompt(&patch(54, &1000u32.to_le_bytes())),
            Err(MediaError::Truncated { .. })
        ));
        assert!(matches!(
            parse_prompt(&patch(54, &u32::MAX.to_le_bytes())),
            Err(MediaError::Truncated { .. })
        ));
        assert!(matches!(
            parse_prompt(&good[..10]),
            Err(MediaError::Truncated { .. })
        ));
        assert!(bad_wav(&good[..HEADER_LEN - 8]), "no data chunk");
        assert!(bad_wav(&patch(12, b"junk")), "no fmt chunk before data");
    }

    #[test]
    fn enforces_the_prompt_size_limit() {
        let mut big = Vec::new();
        write_wav(G711Law::ALaw, &vec![0xD5; PROMPT_MAX_BYTES], &mut big).unwrap();
        assert_eq!(
            parse_prompt(&big),
            Err(MediaError::WavTooLarge {
                len: PROMPT_MAX_BYTES + HEADER_LEN,
                limit: PROMPT_MAX_BYTES
            })
        );
        assert!(parse_wav(&big, usize::MAX).is_ok(), "recordings may be longer");
        let mut fits = Vec::new();
        write_wav(
            G711Law::ALaw,
            &vec![0xD5; PROMPT_MAX_BYTES - HEADER_LEN],
            &mut fits,
        )
        .unwrap();
        assert!(parse_prompt(&fits).is_ok());
    }

    #[test]
    fn never_panics_on_truncations() {
        let mut good = Vec::new();
        write_wav(G711Law::MuLaw, &[0xFF; 33], &mut good).unwrap();
        for len in 0..good.len() {
            let _ = parse_prompt(&good[..len]);
        }
    }
}
