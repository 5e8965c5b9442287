//! pn-test-support: a virtual-clock simulator of whole calls, after quinn's `Pair` and str0m's `progress`.
//!
//! A [`Sim`] holds one [`pn_b2bua::B2bua`] shard, two fake trunks and the network between them:
//! - trunk A ([`ua::Caller`]) places calls to the privacy number and hangs up after a hold time;
//! - trunk B ([`ua::Callee`]) answers what the switch forwards (180, then 200 with SDP) and answers BYE;
//! - the [`net::Network`] delivers every message as bytes (printed by the sender, parsed by the receiver),
//!   after a latency, and drops each one with a loss probability drawn from a seeded generator, so a run is
//!   exactly repeatable.
//!
//! In relay mode ([`sim::SimConfig::media`]) the Sim also drives the switch's media plane: a pn-media
//! `MediaEngine` wired to the B2BUA as the runtime wires it ([`media::Relay`]: every `MediaCommand` to the
//! engine, the engine's digits, prompt ends, dead-media timeouts and closes back to the B2BUA, prompts
//! supplied by the test as decoded audio, recording chunks kept per call), on its own lossy
//! [`net::Network`], and one RTP endpoint per party ([`rtp_ua::RtpEndpoint`]: G.711 frames every 20 ms,
//! RFC 4733 digits, everything received kept), each sending where its trunk's SDP from the switch says.
//! All deadlines (SIP transactions, call timers, the engine's, the endpoints') join one virtual clock.
//!
//! For exact message sequences, [`script::Switch`] drives the switch alone, message by message, the test
//! playing both trunks.
//!
//! Both trunks are built on pn-sip's own transactions ([`pn_sip::transaction`]), so they retransmit as
//! RFC 3261 peers do (Timers A/E, 2xx retransmission until ACK): with loss, a call completes through
//! retransmissions, and what the switch does with retransmitted and missing messages is tested in virtual
//! time (a 32 s Timer B takes microseconds).
//!
//! I/O contract: none. The clock is virtual (`Sim::now` moves only in [`Sim::run_until`]); nothing reads the
//! system clock except [`Sim::new`], once, for the origin `Instant`.

// Test support: a broken expectation panics with the context.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

pub mod media;
pub mod net;
pub mod router;
pub mod rtp_ua;
pub mod script;
pub mod sim;
pub mod ua;

pub use media::{MediaConfig, Relay};
pub use net::{Network, NetworkConfig};
pub use router::FakeRouter;
pub use sim::Sim;
