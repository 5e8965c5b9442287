//! End-to-end tests of the provisioning API through a real HTTP client against the router served on
//! 127.0.0.1 with a temp-dir `SQLite` store.

// The harness is test code outside `#[test]` functions: it may unwrap and panic like the tests do, and the
// scenario tests read best as one long story each.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::too_many_lines
)]

mod admin;
mod ax;
mod axb;
mod axe;
mod axyb;
mod calls;
mod cluster;
mod controls;
mod harness;
mod media;
mod numbers;
mod outbox;
mod push;
mod security;
mod service;
