//! The crate's one error type.

/// Everything that can be wrong with media input or configuration handed to this crate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MediaError {
    /// A packet or file is shorter than its fixed header or than its own length fields claim.
    #[error("{what}: truncated (need {need} bytes, have {have})")]
    Truncated {
        /// What was being parsed.
        what: &'static str,
        /// Bytes needed.
        need: usize,
        /// Bytes available.
        have: usize,
    },
    /// The RTP/RTCP version field is not 2.
    #[error("unsupported RTP/RTCP version {0}")]
    BadVersion(u8),
    /// The padding count is zero or larger than the packet allows.
    #[error("invalid padding length {0}")]
    BadPadding(u8),
    /// An RTCP compound packet breaks RFC 3550 A.2 validity rules.
    #[error("invalid RTCP compound packet: {0}")]
    BadRtcp(&'static str),
    /// The telephone-event payload or SIP INFO body does not carry a DTMF digit.
    #[error("invalid DTMF: {0}")]
    BadDtmf(&'static str),
    /// The port range cannot hold a single even/odd RTP/RTCP pair.
    #[error("invalid port range {first}..={last}")]
    BadPortRange {
        /// First port of the range.
        first: u16,
        /// Last port of the range.
        last: u16,
    },
    /// Every port pair in the range is in use.
    #[error("no free RTP port pair")]
    PortsExhausted,
    /// A WAV file is malformed or not 8 kHz mono 8-bit A-law/µ-law.
    #[error("invalid WAV: {0}")]
    BadWav(&'static str),
    /// A WAV file or its audio exceeds the allowed size.
    #[error("WAV too large: {len} bytes (limit {limit})")]
    WavTooLarge {
        /// Actual size.
        len: usize,
        /// Allowed size.
        limit: usize,
    },
    /// A payload type the operation cannot produce (the prompt player speaks PCMU 0 and PCMA 8 only).
    #[error("unsupported payload type {0}")]
    UnsupportedPayloadType(u8),
    /// Playback parameters that cannot make a stream (empty audio, zero loops).
    #[error("invalid playback: {0}")]
    BadPlayback(&'static str),
}
