//! pn-test-support: a virtual-clock simulator of whole calls, after quinn's `Pair` and str0m's `progress`.
//!
//! A [`Sim`] holds one [`pn_b2bua::B2bua`] shard, two fake trunks and the network between them:
//! - trunk A ([`ua::Caller`]) places calls to the privacy number and hangs up after a hold time;
//! - trunk B ([`ua::Callee`]) answers what the switch forwards (180, then 200 with SDP) and answers BYE;
//! - the [`net::Network`] delivers every message as bytes (printed by the sender, parsed by the receiver),
//!   after a latency, and drops each one with a loss probability drawn from a seeded generator, so a run is
//!   exactly repeatable.
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

pub mod net;
pub mod router;
pub mod sim;
pub mod ua;

pub use net::{Network, NetworkConfig};
pub use router::FakeRouter;
pub use sim::Sim;
