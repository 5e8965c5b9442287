//! pn-sip: SIP for pnswitch — messages, framing, SDP and sans-IO transactions.
//!
//! # I/O contract
//!
//! This crate never reads the clock, owns a socket, sleeps or spawns. Everything comes in as
//! values and goes out as values:
//!
//! - [`SipMessage::parse`] / [`framing::parse_datagram`] take the bytes of one UDP datagram;
//!   [`framing::StreamDecoder`] takes stream bytes as they arrive (`push`) and yields whole
//!   messages (`poll`). Output is [`SipMessage::to_bytes`], which the runtime writes to its socket.
//! - [`validate::validate_request`] says which error response (400, 416, 420, 505, …) a server owes
//!   a request that parsed but is not acceptable, with the Q.850 cause for its `Reason` header;
//!   [`malformed::bad_request`] builds the 400 owed to a request that does not parse at all.
//! - Transactions ([`transaction`]) take `now: Instant` with every input, return what to send
//!   through `poll_output`, and their next deadline through `poll_timeout`.
//!
//! Parsing never panics on input (property-tested over mutated RFC 4475 messages and random bytes).
//!
//! # Why not rsipstack
//!
//! The design named `rsipstack` as the SIP message library. Measured against RFC 4475 its 0.7.14
//! parser handles compact forms, folding,
//! `Via :`, IPv6 and `tel:`, but cannot represent extension methods (`intmeth`, `esc02`,
//! `mismatch02`), re-escapes `%` when printing URIs (`esc01`, `escnull`), always prints the
//! standard reason phrase, mis-splits `sip:user;par=x@host` (`semiuri`), loses the tag after an
//! escaped quote in a display name (`wsinv`), and ignores a Content-Length larger than the body
//! (`clerr`) or negative (`ncl`) or repeated (`mcl01`). The wire format is therefore parsed and
//! printed here, and the standard reason phrases are a table of the IANA registry ([`default_reason`]):
//! rsipstack, even without its default features, pulls tokio, futures and socket2 into this sans-IO crate.

pub mod body;
pub mod builder;
mod error;
pub mod framing;
mod header;
pub mod malformed;
mod message;
mod reason;
pub mod sdp;
pub mod transaction;
mod typed;
mod uri;
pub mod validate;

pub use builder::{RequestBuilder, ResponseBuilder};
pub use error::{Result, SipError};
pub use header::{Header, Headers, canonical_name, is_token, split_list};
pub use message::{Request, Response, SipMessage, Version};
pub use reason::default_reason;
pub use typed::{CSeq, Method, ReasonHeader, Via};
pub use uri::{NameAddr, Param, Scheme, Uri, unescape};
