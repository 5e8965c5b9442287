//! pn-numbers: every way a phone number arrives, normalised to E.164 and classified.
//!
//! I/O contract: pure functions, no clock, no I/O. [`normalize`] turns `+86…`, `86…`, `0086…`, national
//! `0755…`/`138…`, SIP/tel user parts and visually separated input into an [`E164`]; [`classify`] is the fast
//! call-path classifier; [`validate`] is the API-path validator backed by the `phonenumber` crate's metadata.

use std::fmt;

/// A number in E.164 form, stored as its digits (country code first, no `+`) in a `u64`.
///
/// E.164 numbers have at most 15 digits, so they always fit; the value is never 0.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct E164(u64);

impl E164 {
    /// Builds a number from its digits (country code first). Returns `None` for 0 or more than 15 digits.
    pub const fn from_digits(digits: u64) -> Option<Self> {
        if digits == 0 || digits >= 1_000_000_000_000_000 {
            None
        } else {
            Some(Self(digits))
        }
    }

    /// The digits as an integer (country code first).
    pub const fn digits(self) -> u64 {
        self.0
    }
}

impl fmt::Display for E164 {
    /// Prints the canonical `+<digits>` form used on the API and in CDRs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "+{}", self.0)
    }
}

impl fmt::Debug for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "+{}", self.0)
    }
}

impl serde::Serialize for E164 {
    /// Serialises as the canonical `+<digits>` string.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for E164 {
    /// Accepts the canonical `+<digits>` string (as written by `Serialize`).
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.strip_prefix('+')
            .and_then(|d| d.parse::<u64>().ok())
            .and_then(E164::from_digits)
            .ok_or_else(|| serde::de::Error::custom("expected an E.164 number like +8613800000000"))
    }
}
