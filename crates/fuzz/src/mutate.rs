//! The mutation engine of the bounded runs: a fixed-seed generator, so a failure reproduces, and mutations
//! that keep inputs near the grammar (bit flips, inserted and removed bytes, truncation, SIP/SDP tokens,
//! chunks of the input itself).

/// xorshift64*: small, deterministic, good enough to drive mutations.
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

/// Fragments spliced into inputs: separators, escapes, line ends, lengths and starts of lines the
/// grammars care about.
pub const TOKENS: &[&[u8]] = &[
    b"\r\n",
    b"\r\n ",
    b":",
    b";",
    b",",
    b"\"",
    b"<",
    b">",
    b"@",
    b"[",
    b"]",
    b"%",
    b"\\",
    b"=",
    b" ",
    b"\t",
    b"\0",
    b"\xff",
    b"Content-Length: 99999999999999999999\r\n",
    b"l: 5\r\n",
    b"SIP/2.0",
    b"\r\n\r\n",
    b"sip:",
    b"tel:",
    b"[::1]",
    b"v=0\r\n",
    b"m=audio 0 RTP/AVP 0\r\n",
    b"a=rtpmap:96 x/8000\r\n",
    b"a=fmtp:101 0-15\r\n",
    b"c=IN IP4 0.0.0.0\r\n",
    b"--b\r\n",
    b"\x80\x00",
    b"\xff\xff\xff\xff",
];

/// `input` with up to five random mutations.
pub fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(v.len() + 1);
        match rng.below(6) {
            0 if !v.is_empty() => {
                let i = at.min(v.len() - 1);
                v[i] ^= 1 << rng.below(8);
            }
            1 => v.insert(at, rng.next_u64() as u8),
            2 if at < v.len() => {
                let end = (at + rng.below(16)).min(v.len());
                v.drain(at..end);
            }
            3 => v.truncate(at),
            4 => {
                let t = TOKENS[rng.below(TOKENS.len())];
                v.splice(at..at, t.iter().copied());
            }
            _ => {
                let from = rng.below(v.len() + 1);
                let end = (from + rng.below(40)).min(v.len());
                let chunk = v[from..end].to_vec();
                v.splice(at..at, chunk);
            }
        }
    }
    v
}

/// Up to `max_len` random bytes: uniform, from a SIP-ish alphabet, or from the first bytes of [`TOKENS`].
pub fn random_bytes(rng: &mut Rng, max_len: usize) -> Vec<u8> {
    const ALPHABET: &[u8] = b"SIP/2.0 :;<>@\r\n\"\\ abc=1,%[]";
    let len = rng.below(max_len);
    let alphabet = rng.below(3);
    (0..len)
        .map(|_| match alphabet {
            0 => rng.next_u64() as u8,
            1 => ALPHABET[rng.below(ALPHABET.len())],
            _ => TOKENS[rng.below(TOKENS.len())][0],
        })
        .collect()
}
