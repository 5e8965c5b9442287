//! pn-numbers: every way a phone number arrives, normalised to E.164 and classified.
//!
//! I/O contract: pure functions, no clock, no I/O, no global mutable state of our own; every function
//! returns an error or a value for any input and never panics.
//!
//! - [`normalize`] turns `+86…`, `86…`, `0086…`, national `0755…`/`138…`, special-service numbers
//!   (`95588`, `4001234567`), international `+1…`/`001…`, SIP/tel URIs and user parts
//!   (`sip:+8613800138000@host;user=phone`, `tel:13800138000;phone-context=+86`) and visually
//!   separated input (`0755-1234 5678`) into an [`E164`]. The default country is China (+86).
//! - [`classify`] is the fast call-path classifier: integer arithmetic over a prefix/length table of
//!   the China numbering plan, no allocation, no regular expressions.
//! - [`validate`] is the API-path validator: [`normalize`], then the `phonenumber` crate's metadata
//!   decides validity and type. It is much slower than [`classify`] (regex matching, allocation) and
//!   agrees with it on the kind of every number (checked by `tests/agreement.rs`).

mod classify;
mod error;
mod normalize;
mod plan;
mod validate;

pub use classify::{NumberKind, area_code_string, classify};
pub use error::NumberError;
pub use normalize::normalize;
pub use validate::{Number, validate, validate_with_metadata};

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
