//! What a shard holds right now: counts of its tables ([`Load`]) and of its relay port pool ([`RelayPorts`]).
//!
//! Both are plain snapshots taken by [`crate::B2bua::load`] and [`crate::B2bua::relay_ports`]: a handful of
//! lengths, no allocation, cheap enough to read on every metrics scrape. An operator reads them to see that
//! a drained shard really holds nothing (every call, dialog and transaction gone) and how full the port
//! range is.

/// The state a shard holds: calls, dialogs and SIP transactions.
///
/// A call stays in the table after it ended until its last transaction is gone (Timer K/J and friends), so
/// [`Load::calls`] may exceed [`crate::B2bua::active_calls`] for up to 32 s after the last call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Load {
    /// Calls in the call table (in progress, or ended and waiting for their transactions to finish).
    pub calls: usize,
    /// Dialogs the shard routes in-dialog requests by (one per leg of each call).
    pub dialogs: usize,
    /// Server transactions (requests received and not yet finished).
    pub server_transactions: usize,
    /// Client transactions (requests sent and not yet finished).
    pub client_transactions: usize,
}

impl Load {
    /// Nothing is held: no call, no dialog, no transaction.
    #[must_use]
    pub fn is_idle(&self) -> bool {
        *self == Self::default()
    }
}

/// The relay port pool (relay mode), in RTP/RTCP pairs.
///
/// Every pair of the range is in exactly one of five states, so
/// `free + set_aside + closing + cooling + in_use == capacity`; `warm` counts the free pairs whose sockets the
/// runtime keeps bound between calls (see [`pn_media::PortAllocator`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RelayPorts {
    /// Pairs the configured range holds.
    pub capacity: usize,
    /// Pairs free to hand out: warm (sockets still bound, resting or rested since their last call) or cold.
    pub free: usize,
    /// Of the free pairs, those whose sockets the runtime keeps bound (parked) since their last call.
    pub warm: usize,
    /// Pairs set aside because their sockets could not be bound: handed out only when none is free.
    pub set_aside: usize,
    /// Pairs of ended calls the runtime has not yet reported closed (their relay is gone at once, so this is
    /// only between a `Close` and its `Closed`).
    pub closing: usize,
    /// Warm pairs unused for the idle time whose sockets the runtime is closing: cold again once it reports
    /// them cooled ([`crate::B2bua::ports_cooled`]).
    pub cooling: usize,
    /// Pairs held by calls in progress.
    pub in_use: usize,
}
