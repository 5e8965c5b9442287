//! Finished transactions reduced to their last duty once their call is gone ("tombs").
//!
//! After a call ends, its transactions still wait out RFC 3261/6026's timers: Timer L for A's INVITE (absorbing
//! INVITE retransmissions), Timer M for the B leg's INVITE (absorbing 2xx retransmissions), Timer J for a BYE
//! received (answering its retransmissions again), Timer K for a BYE sent (absorbing retransmitted answers), 32 s
//! or 5 s each. At a call rate r that is r × 32 s calls' worth of transactions, which is what a switch's memory
//! at its capacity rate is made of (issue 14: RSS ≤ 64 MB + live calls × 8 KiB). As table entries (keys as
//! strings, peer, timer slot, the ACK and the BYE's 200 as bytes) a finished call's four transactions held
//! 3.5 kB; as tombs, each a 64-bit hash of the transaction key, what it still does and its deadline in a heap,
//! 340 B (`tests/memory.rs`).
//!
//! The hash is keyed per shard (std's `RandomState`: `SipHash` with random keys), so a peer cannot aim a request
//! at a tomb it did not make; two distinct keys meeting by chance among the ~10⁵ tombs of a shard has odds of
//! about 10⁻¹⁴ per request.
//!
//! A 2xx retransmitted after the call ended is absorbed without sending the ACK again: by then the B leg's
//! dialog was ended by a BYE, so its UAS has no dialog left to confirm (RFC 3261 §15.1.2: it answered the BYE,
//! and stops retransmitting the 2xx of a dialog that ended, as pnswitch's own server transactions do,
//! `ServerTransaction::dialog_ended`).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::{BuildHasher, RandomState};
use std::time::Instant;

use pn_sip::Method;
use pn_sip::transaction::TransactionKey;

/// What a finished server transaction still does until its timer ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ServerDuty {
    /// An INVITE transaction in RFC 6026 `Accepted` (Timer L): absorbs INVITE retransmissions; an ACK is not
    /// its own (the ACK of a 2xx is a transaction of its own).
    Accepted,
    /// An INVITE transaction in `Confirmed` (Timer I): absorbs retransmissions, ACKs included.
    Confirmed,
    /// A non-INVITE transaction in `Completed` (Timer J) whose final response was the plain response of its
    /// status (`Response::for_request`): a retransmission is answered with that response again, built from it.
    Replay(u16),
}

/// What is kept per tomb.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Duty {
    Server(ServerDuty),
    /// A client transaction (Timer M or K): absorbs the responses that still arrive.
    Client,
}

/// The tombs of one shard: duties by hashed key, deadlines in a heap.
#[derive(Debug, Default)]
pub(crate) struct Tombs {
    keys: RandomState,
    duties: HashMap<u64, Duty>,
    ends: BinaryHeap<Reverse<(Instant, u64)>>,
    servers: usize,
}

/// A hashed key: servers' even, clients' odd, so both live in one map.
fn tag(hash: u64, client: bool) -> u64 {
    (hash & !1) | u64::from(client)
}

impl Tombs {
    fn server_hash(&self, key: &TransactionKey) -> u64 {
        tag(self.keys.hash_one(key), false)
    }

    fn client_hash(&self, branch: &str, method: &Method) -> u64 {
        tag(self.keys.hash_one((branch, method)), true)
    }

    /// Keeps a finished server transaction's duty under `key` until `until`.
    pub(crate) fn bury_server(&mut self, key: &TransactionKey, duty: ServerDuty, until: Instant) {
        let hash = self.server_hash(key);
        if self.duties.insert(hash, Duty::Server(duty)).is_none() {
            self.servers += 1;
        }
        self.ends.push(Reverse((until, hash)));
    }

    /// Keeps a finished client transaction (`branch`, `method`) absorbing responses until `until`.
    pub(crate) fn bury_client(&mut self, branch: &str, method: &Method, until: Instant) {
        let hash = self.client_hash(branch, method);
        self.duties.insert(hash, Duty::Client);
        self.ends.push(Reverse((until, hash)));
    }

    /// The duty of the server transaction `key` belongs to, if it is a tomb.
    pub(crate) fn server(&self, key: &TransactionKey) -> Option<ServerDuty> {
        if self.servers == 0 {
            return None;
        }
        match self.duties.get(&self.server_hash(key)) {
            Some(Duty::Server(duty)) => Some(*duty),
            _ => None,
        }
    }

    /// Whether a response with top Via `branch` and CSeq `method` belongs to a client tomb.
    pub(crate) fn has_client(&self, branch: &str, method: &Method) -> bool {
        self.duties.len() > self.servers && self.duties.contains_key(&self.client_hash(branch, method))
    }

    /// The earliest deadline.
    pub(crate) fn first(&self) -> Option<Instant> {
        self.ends.peek().map(|Reverse((at, _))| *at)
    }

    /// Removes the tombs whose timer ended at `now`.
    pub(crate) fn expire(&mut self, now: Instant) {
        while let Some(Reverse((at, hash))) = self.ends.peek().copied() {
            if at > now {
                break;
            }
            self.ends.pop();
            if let Some(Duty::Server(_)) = self.duties.remove(&hash) {
                self.servers -= 1;
            }
        }
    }

    /// Gives back the memory of a past burst once under a quarter full (as the transaction tables do).
    pub(crate) fn shrink(&mut self) {
        let oversized = |len: usize, capacity: usize| capacity > 1024 && len * 4 < capacity;
        if oversized(self.duties.len(), self.duties.capacity()) {
            self.duties.shrink_to(self.duties.len() * 2);
        }
        if oversized(self.ends.len(), self.ends.capacity()) {
            self.ends.shrink_to(self.ends.len() * 2);
        }
    }

    /// Server tombs held.
    pub(crate) fn server_count(&self) -> usize {
        self.servers
    }

    /// Client tombs held.
    pub(crate) fn client_count(&self) -> usize {
        self.duties.len() - self.servers
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn key(branch: &str, method: Method) -> TransactionKey {
        TransactionKey {
            branch: branch.into(),
            sent_by: "127.0.0.1:5061".into(),
            method,
        }
    }

    #[test]
    fn a_tomb_answers_until_its_timer_ends() {
        #[allow(clippy::disallowed_methods)] // one real Instant to start from
        let t0 = Instant::now();
        let mut tombs = Tombs::default();
        tombs.bury_server(
            &key("z9hG4bK1", Method::Bye),
            ServerDuty::Replay(200),
            t0 + Duration::from_secs(32),
        );
        tombs.bury_server(
            &key("z9hG4bK2", Method::Invite),
            ServerDuty::Accepted,
            t0 + Duration::from_secs(5),
        );
        tombs.bury_client("z9hG4bK3", &Method::Invite, t0 + Duration::from_secs(32));
        assert_eq!((tombs.server_count(), tombs.client_count()), (2, 1));
        assert_eq!(
            tombs.server(&key("z9hG4bK1", Method::Bye)),
            Some(ServerDuty::Replay(200))
        );
        assert_eq!(
            tombs.server(&key("z9hG4bK1", Method::Invite)),
            None,
            "another method"
        );
        assert_eq!(
            tombs.server(&key("z9hG4bK3", Method::Invite)),
            None,
            "a client's branch"
        );
        assert!(tombs.has_client("z9hG4bK3", &Method::Invite));
        assert!(!tombs.has_client("z9hG4bK3", &Method::Bye));
        assert_eq!(tombs.first(), Some(t0 + Duration::from_secs(5)));
        tombs.expire(t0 + Duration::from_secs(5));
        assert_eq!(tombs.server(&key("z9hG4bK2", Method::Invite)), None);
        assert_eq!(
            tombs.server(&key("z9hG4bK1", Method::Bye)),
            Some(ServerDuty::Replay(200))
        );
        tombs.expire(t0 + Duration::from_secs(32));
        assert_eq!(
            (tombs.server_count(), tombs.client_count(), tombs.first()),
            (0, 0, None)
        );
    }
}
