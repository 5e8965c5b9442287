//! The crate's one error type: why a transaction could not be started for a message. Errors never
//! leave [`crate::B2bua`]'s public methods: a message that cannot be handled is answered (4xx) or
//! dropped, and counted in [`crate::Stats`]; inside, the engine's transaction constructors return it.

/// What went wrong while handling one message or timer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum B2buaError {
    /// pn-sip refused something (a header did not parse, a transaction input was not allowed).
    #[error("sip: {0}")]
    Sip(#[from] pn_sip::SipError),
    /// A request to send has no Via branch (its client transaction could not be keyed).
    #[error("request without a Via branch")]
    NoBranch,
}
