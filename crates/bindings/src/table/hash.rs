//! A small, fast, non-cryptographic hasher for the table's integer keys.
//!
//! Keys are phone numbers and ids the provisioning API has already validated; the index is not exposed to
//! attacker-chosen key sets at a scale where flooding matters, and the routing path cannot afford `SipHash`.

use std::hash::{BuildHasher, Hasher};

/// Multiplier from the 64-bit golden ratio.
const K: u64 = 0x9E37_79B9_7F4A_7C15;

/// Folded 64×64→128 multiply: mixes every input bit into both halves.
#[inline]
pub(crate) const fn fold_mul(a: u64, b: u64) -> u64 {
    let full = (a as u128).wrapping_mul(b as u128);
    (full as u64) ^ ((full >> 64) as u64)
}

/// Hash of a pair of 64-bit words (used by the AXB index for `(X, party)`).
#[inline]
pub(crate) const fn hash_pair(x: u64, y: u64) -> u64 {
    fold_mul(
        fold_mul(x ^ 0x243F_6A88_85A3_08D3, K) ^ y,
        0x1319_8A2E_0370_7344 | 1,
    )
}

/// [`Hasher`] state for [`FoldHash`].
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct FoldHasher(u64);

impl Hasher for FoldHasher {
    #[inline]
    fn finish(&self) -> u64 {
        fold_mul(self.0, 0x1319_8A2E_0370_7344 | 1)
    }

    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.0 = fold_mul(self.0 ^ i, K);
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.write_u64(u64::from(i));
    }

    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.write_u64(u64::from(i));
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.write_u64(u64::from(i));
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64);
    }
}

/// [`BuildHasher`] for the table's maps.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct FoldHash;

impl BuildHasher for FoldHash {
    type Hasher = FoldHasher;

    #[inline]
    fn build_hasher(&self) -> FoldHasher {
        FoldHasher(0x4528_21E6_38D0_1377)
    }
}
