//! The crate's error type.

/// Why a number was rejected by [`crate::normalize`] or [`crate::validate`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NumberError {
    /// The input is empty or only whitespace.
    #[error("empty number")]
    Empty,
    /// A character that is neither a digit nor an accepted separator (letters, `*`, `#`, a misplaced `+`, …).
    #[error("invalid character {ch:?} at byte {at}")]
    InvalidCharacter {
        /// The offending character.
        ch: char,
        /// Its byte offset in the input.
        at: usize,
    },
    /// No digits at all (e.g. a lone `+` or `tel:`).
    #[error("no digits")]
    NoDigits,
    /// More digits than an E.164 number can have (15).
    #[error("too many digits")]
    TooLong,
    /// Fewer digits than the shortest accepted number (`+86110`, 5 digits).
    #[error("too few digits")]
    TooShort,
    /// A national number that matches no known China format, or an international number starting with 0.
    #[error("unknown number format")]
    UnknownFormat,
    /// Well-formed, but not a valid number according to the numbering-plan metadata.
    #[error("not a valid number")]
    Invalid,
}
