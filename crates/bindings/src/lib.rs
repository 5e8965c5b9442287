//! pn-bindings: who is bound to which privacy number, and where a call to X goes.
//!
//! I/O contract: sans-IO. Time enters as [`UnixTime`] arguments; nothing here reads the clock, owns a socket,
//! sleeps or spawns. The [`model`] types are the durable truth (stored by pn-store, served by pn-api); the
//! routing table ([`BindingTable`], lock-free for readers) is the in-memory index built from them; [`decide()`]
//! is the one pure function a call asks. The table is `Send + Sync` and meant to be shared as
//! `Arc<BindingTable>`: the provisioning engine writes it after each committed store write; calls read it.

pub mod cause;
pub mod controls;
pub mod decide;
pub mod model;
pub mod table;

pub use cause::Cause;
pub use controls::{AppControls, ControlCounters, LiveSlot};
pub use decide::{
    Ask, CdrDirection, CollectDigits, Connect, Controlled, Counting, Reject, RouteDecision, RoutePolicy,
    SendResult, SharedRoutePolicy, SmsBlock, SmsDecision, SmsRefusal, SmsRelay, decide, decide_controlled,
    decide_sms,
};
pub use model::*;
pub use table::{BindingEcho, BindingTable, RouteKeys};
