//! The crate's one error type.

/// Everything that can go wrong in pn-sip: parsing, framing, building, SDP and transactions.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SipError {
    /// The header section is not (yet) terminated by an empty line.
    #[error("incomplete message: no empty line after the header section")]
    Incomplete,
    /// The request or status line is malformed.
    #[error("malformed start line: {0}")]
    StartLine(String),
    /// A header line is malformed (no colon, bad name, not UTF-8, stray continuation).
    #[error("malformed header line: {0}")]
    HeaderLine(String),
    /// Content-Length is not a single non-negative integer.
    #[error("invalid Content-Length: {0}")]
    ContentLength(String),
    /// Content-Length announces more body bytes than the datagram carries.
    #[error("Content-Length {declared} exceeds the {available} body bytes present")]
    Truncated {
        /// The value of Content-Length.
        declared: usize,
        /// The bytes actually present after the header section.
        available: usize,
    },
    /// A stream message arrived without the Content-Length RFC 3261 §18.3 requires on streams.
    #[error("Content-Length is mandatory on stream transports")]
    MissingContentLength,
    /// A message exceeded the configured maximum size.
    #[error("message of {size} bytes exceeds the limit of {limit}")]
    TooLarge {
        /// Size seen so far (or announced).
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// A URI is malformed.
    #[error("invalid URI {uri:?}: {reason}")]
    Uri {
        /// The offending text.
        uri: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A mandatory header is missing.
    #[error("missing {0} header")]
    MissingHeader(&'static str),
    /// A header value does not match its grammar.
    #[error("invalid {name} header: {reason}")]
    InvalidHeader {
        /// Canonical header name.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// An SDP body is malformed.
    #[error("invalid SDP: {0}")]
    Sdp(String),
    /// A multipart body is malformed.
    #[error("invalid body: {0}")]
    Body(&'static str),
    /// A transaction was fed something it cannot accept.
    #[error("transaction: {0}")]
    Transaction(&'static str),
}

/// Shorthand for results carrying [`SipError`].
pub type Result<T, E = SipError> = core::result::Result<T, E>;
