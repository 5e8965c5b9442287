//! The crate's one error type. Errors never leave [`crate::B2bua`]'s public methods: a message that
//! cannot be handled is answered (4xx) or dropped, and counted in [`crate::Stats`].

/// What went wrong while handling one message or timer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum B2buaError {
    /// pn-sip refused something (a header did not parse, a transaction input was not allowed).
    #[error("sip: {0}")]
    Sip(#[from] pn_sip::SipError),
    /// No egress trunk is configured.
    #[error("no egress trunk configured")]
    NoEgress,
}
