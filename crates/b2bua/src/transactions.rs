//! The transaction tables of one shard (server transactions keyed by RFC 3261 §17.2.3, client
//! transactions by the branch pnswitch made and the method) and the deadline index every timer
//! (transaction or call) is kept in, so that `poll_timeout` is O(log n).

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use pn_sip::transaction::{ClientTransaction, ServerTransaction, TransactionKey};
use pn_sip::{Method, Request};

use crate::Peer;
use crate::dialog::Side;

/// Transaction and call ids (per shard, never reused).
pub(crate) type Id = u64;

/// Something with a deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Slot {
    Server(Id),
    Client(Id),
    Call(Id),
}

/// Every armed deadline, earliest first.
#[derive(Debug, Default)]
pub(crate) struct Deadlines(BTreeSet<(Instant, Slot)>);

impl Deadlines {
    /// Moves `slot` from its old deadline (`scheduled`) to `next`.
    pub(crate) fn update(&mut self, slot: Slot, scheduled: &mut Option<Instant>, next: Option<Instant>) {
        if *scheduled == next {
            return;
        }
        if let Some(old) = scheduled.take() {
            self.0.remove(&(old, slot));
        }
        if let Some(at) = next {
            self.0.insert((at, slot));
        }
        *scheduled = next;
    }

    pub(crate) fn first(&self) -> Option<Instant> {
        self.0.first().map(|(t, _)| *t)
    }

    /// Pops one slot due at `now` (its `scheduled` must then be cleared by the caller).
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<Slot> {
        let &(at, slot) = self.0.first()?;
        if at > now {
            return None;
        }
        self.0.remove(&(at, slot));
        Some(slot)
    }
}

/// A server transaction and what it belongs to.
#[derive(Debug)]
pub(crate) struct ServerEntry {
    pub tx: ServerTransaction,
    pub key: TransactionKey,
    pub peer: Peer,
    /// The call (and leg) it belongs to; `None` for requests answered locally.
    pub call: Option<(Id, Side)>,
    pub scheduled: Option<Instant>,
}

/// Why a client transaction was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientRole {
    /// The B leg's initial INVITE.
    Invite,
    /// A request relayed from the other leg's server transaction (re-INVITE, UPDATE, INFO).
    Relay { server: Id },
    /// A BYE or CANCEL pnswitch sends on its own; its response is not relayed.
    Local,
}

/// A client transaction and what it belongs to.
#[derive(Debug)]
pub(crate) struct ClientEntry {
    pub tx: ClientTransaction,
    pub key: (String, Method),
    pub peer: Peer,
    pub call: Option<(Id, Side)>,
    pub role: ClientRole,
    /// For INVITEs: the ACK sent for the 2xx, re-sent when the 2xx is retransmitted.
    pub ack: Option<Request>,
    /// For INVITEs: a 2xx was received.
    pub answered: bool,
    pub scheduled: Option<Instant>,
}

/// All transactions of a shard.
#[derive(Debug, Default)]
pub(crate) struct Transactions {
    pub servers: HashMap<Id, ServerEntry>,
    pub server_keys: HashMap<TransactionKey, Id>,
    pub clients: HashMap<Id, ClientEntry>,
    pub client_keys: HashMap<(String, Method), Id>,
}

impl Transactions {
    pub(crate) fn insert_server(&mut self, id: Id, entry: ServerEntry) {
        self.server_keys.insert(entry.key.clone(), id);
        self.servers.insert(id, entry);
    }

    pub(crate) fn insert_client(&mut self, id: Id, entry: ClientEntry) {
        self.client_keys.insert(entry.key.clone(), id);
        self.clients.insert(id, entry);
    }

    pub(crate) fn remove_server(&mut self, id: Id) -> Option<ServerEntry> {
        let entry = self.servers.remove(&id)?;
        if self.server_keys.get(&entry.key) == Some(&id) {
            self.server_keys.remove(&entry.key);
        }
        Some(entry)
    }

    pub(crate) fn remove_client(&mut self, id: Id) -> Option<ClientEntry> {
        let entry = self.clients.remove(&id)?;
        if self.client_keys.get(&entry.key) == Some(&id) {
            self.client_keys.remove(&entry.key);
        }
        Some(entry)
    }
}
