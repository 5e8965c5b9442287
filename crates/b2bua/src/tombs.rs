//! Finished transactions reduced to their last duty once their call is gone ("tombs").
//!
//! After a call ends, its transactions still wait out RFC 3261/6026's timers: Timer L for A's INVITE (absorbing
//! INVITE retransmissions), Timer M for the B leg's INVITE (absorbing 2xx retransmissions), Timer J for a BYE
//! received (answering its retransmissions again), Timer K for a BYE sent (absorbing retransmitted answers), 32 s
//! or 5 s each. At a call rate r that is r × 32 s calls' worth of transactions, which is what a switch's memory
//! at its capacity rate is made of (issue 14: RSS ≤ 64 MB + live calls × 8 KiB). As table entries (keys as
//! strings, peer, timer slot, the ACK and the BYE's 200 as bytes) a finished call's four transactions held
//! 3.5 kB; as tombs, each a 64-bit hash of the transaction key in a set per duty, with its deadline in a queue
//! in burial order (deadlines in 20 ms runs), 155 B (`tests/memory.rs`; 341 B with a map of duties and a heap
//! of deadlines).
//!
//! The hash is keyed per shard (std's `RandomState`: `SipHash` with random keys), so a peer cannot aim a request
//! at a tomb it did not make; two distinct keys meeting by chance among the ~10⁵ tombs of a shard has odds of
//! about 10⁻¹⁴ per request.
//!
//! A 2xx retransmitted after the call ended is absorbed without sending the ACK again: by then the B leg's
//! dialog was ended by a BYE, so its UAS has no dialog left to confirm (RFC 3261 §15.1.2: it answered the BYE,
//! and stops retransmitting the 2xx of a dialog that ended, as pnswitch's own server transactions do,
//! `ServerTransaction::dialog_ended`).

use std::collections::VecDeque;
use std::hash::{BuildHasher, RandomState};
use std::time::{Duration, Instant};

use hashbrown::HashTable;
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

/// Tombs buried within this long of the first of a run share one deadline record: the later ones leave at
/// most this late (a tomb that absorbs a little longer), never early.
const RUN_GRAIN: Duration = Duration::from_millis(20);

/// Lanes per duty: one per timer length in use (Timer M and K share the clients' duty), a few to spare.
const MAX_LANES: usize = 4;

/// Tombs in the order they were buried, their deadlines as runs: what a binary heap of `(Instant, u64)` did at
/// 24–48 B a tomb, at 8 B, because tombs of one timer length are buried in the order they end.
#[derive(Debug, Default)]
struct Lane {
    hashes: VecDeque<u64>,
    runs: VecDeque<Run>,
}

/// `count` consecutive tombs of a lane, all gone at `until` (the latest deadline among them).
#[derive(Debug, Clone, Copy)]
struct Run {
    opened: Instant,
    until: Instant,
    count: u32,
}

impl Lane {
    fn last_until(&self) -> Option<Instant> {
        self.runs.back().map(|run| run.until)
    }

    /// Appends a tomb ending at `until`: into the last run if it opened within [`RUN_GRAIN`] of `until` (or if
    /// `until` is before the lane's end, the fallback of [`Graves::lane_for`]), else into a new run.
    fn push(&mut self, hash: u64, until: Instant) {
        self.hashes.push_back(hash);
        match self.runs.back_mut() {
            Some(run) if until <= run.until && run.count < u32::MAX => run.count += 1,
            Some(run) if until <= run.opened + RUN_GRAIN && run.count < u32::MAX => {
                run.until = until;
                run.count += 1;
            }
            _ => self.runs.push_back(Run {
                opened: until,
                until,
                count: 1,
            }),
        }
    }
}

/// The tombs of one duty: their hashes in a set (keyed by the hash itself, 8 B each: the hashes are keyed
/// `SipHash`, uniform already) and their deadlines in lanes.
#[derive(Debug, Default)]
struct Graves {
    hashes: HashTable<u64>,
    lanes: Vec<Lane>,
}

impl Graves {
    fn contains(&self, hash: u64) -> bool {
        self.hashes.find(hash, |&h| h == hash).is_some()
    }

    fn len(&self) -> usize {
        self.hashes.len()
    }

    /// Keeps `hash` until `until`. Buried twice, it leaves at the first of its deadlines (as a transaction
    /// key is only buried once, this is the old map-and-heap behaviour, kept).
    fn bury(&mut self, hash: u64, until: Instant) {
        if !self.contains(hash) {
            self.hashes.insert_unique(hash, hash, |&h| h);
        }
        let lane = self.lane_for(until);
        if let Some(lane) = self.lanes.get_mut(lane) {
            lane.push(hash, until);
        }
    }

    /// The lane a tomb ending at `until` goes to: the one whose last deadline is the latest not after `until`
    /// (so each lane stays in deadline order); else a new lane; else, with [`MAX_LANES`] in use, the lane
    /// ending first, where the tomb leaves with the lane's last run, late rather than early.
    fn lane_for(&mut self, until: Instant) -> usize {
        let fitting = self
            .lanes
            .iter()
            .enumerate()
            .filter_map(|(i, lane)| lane.last_until().filter(|&end| end <= until).map(|end| (end, i)))
            .max();
        if let Some((_, i)) = fitting {
            return i;
        }
        if let Some(i) = self.lanes.iter().position(|lane| lane.runs.is_empty()) {
            return i;
        }
        if self.lanes.len() < MAX_LANES {
            self.lanes.push(Lane::default());
            return self.lanes.len() - 1;
        }
        self.lanes
            .iter()
            .enumerate()
            .min_by_key(|(_, lane)| lane.last_until())
            .map_or(0, |(i, _)| i)
    }

    fn first(&self) -> Option<Instant> {
        self.lanes
            .iter()
            .filter_map(|lane| lane.runs.front().map(|run| run.until))
            .min()
    }

    fn expire(&mut self, now: Instant) {
        for lane in &mut self.lanes {
            while let Some(run) = lane.runs.front().copied() {
                if run.until > now {
                    break;
                }
                lane.runs.pop_front();
                let count = (run.count as usize).min(lane.hashes.len());
                for hash in lane.hashes.drain(..count) {
                    if let Ok(entry) = self.hashes.find_entry(hash, |&h| h == hash) {
                        entry.remove();
                    }
                }
            }
        }
    }

    fn shrink(&mut self) {
        let oversized = |len: usize, capacity: usize| capacity > 1024 && len * 4 < capacity;
        if oversized(self.hashes.len(), self.hashes.capacity()) {
            self.hashes.shrink_to(self.hashes.len() * 2, |&h| h);
        }
        for lane in &mut self.lanes {
            if oversized(lane.hashes.len(), lane.hashes.capacity()) {
                lane.hashes.shrink_to(lane.hashes.len() * 2);
            }
            if oversized(lane.runs.len(), lane.runs.capacity()) {
                lane.runs.shrink_to(lane.runs.len() * 2);
            }
        }
    }
}

/// The tombs of one shard: a set of hashed keys per duty (the replaying ones per status), with their
/// deadlines. About 40 B a tomb, where a map of hash → duty and a heap of deadlines took about 85
/// (`tests/memory.rs`: 155 B and 341 B for a finished call's four).
#[derive(Debug, Default)]
pub(crate) struct Tombs {
    keys: RandomState,
    accepted: Graves,
    confirmed: Graves,
    /// By the status they answer with: a handful (the 200 of a BYE, mostly).
    replays: Vec<(u16, Graves)>,
    clients: Graves,
}

impl Tombs {
    fn server_hash(&self, key: &TransactionKey) -> u64 {
        self.keys.hash_one(key)
    }

    fn client_hash(&self, branch: &str, method: &Method) -> u64 {
        self.keys.hash_one((branch, method))
    }

    /// Keeps a finished server transaction's duty under `key` until `until`.
    pub(crate) fn bury_server(&mut self, key: &TransactionKey, duty: ServerDuty, until: Instant) {
        let hash = self.server_hash(key);
        let graves = match duty {
            ServerDuty::Accepted => &mut self.accepted,
            ServerDuty::Confirmed => &mut self.confirmed,
            ServerDuty::Replay(status) => {
                let at = self
                    .replays
                    .iter()
                    .position(|(s, _)| *s == status)
                    .unwrap_or_else(|| {
                        self.replays.push((status, Graves::default()));
                        self.replays.len() - 1
                    });
                &mut self.replays[at].1
            }
        };
        graves.bury(hash, until);
    }

    /// Keeps a finished client transaction (`branch`, `method`) absorbing responses until `until`.
    pub(crate) fn bury_client(&mut self, branch: &str, method: &Method, until: Instant) {
        let hash = self.client_hash(branch, method);
        self.clients.bury(hash, until);
    }

    /// The duty of the server transaction `key` belongs to, if it is a tomb.
    pub(crate) fn server(&self, key: &TransactionKey) -> Option<ServerDuty> {
        if self.server_count() == 0 {
            return None;
        }
        let hash = self.server_hash(key);
        if self.accepted.contains(hash) {
            return Some(ServerDuty::Accepted);
        }
        if self.confirmed.contains(hash) {
            return Some(ServerDuty::Confirmed);
        }
        self.replays
            .iter()
            .find(|(_, graves)| graves.contains(hash))
            .map(|(status, _)| ServerDuty::Replay(*status))
    }

    /// Whether a response with top Via `branch` and CSeq `method` belongs to a client tomb.
    pub(crate) fn has_client(&self, branch: &str, method: &Method) -> bool {
        self.clients.len() > 0 && self.clients.contains(self.client_hash(branch, method))
    }

    /// The server duties' graves.
    fn servers(&self) -> impl Iterator<Item = &Graves> {
        [&self.accepted, &self.confirmed]
            .into_iter()
            .chain(self.replays.iter().map(|(_, graves)| graves))
    }

    fn all_mut(&mut self) -> impl Iterator<Item = &mut Graves> {
        [&mut self.accepted, &mut self.confirmed, &mut self.clients]
            .into_iter()
            .chain(self.replays.iter_mut().map(|(_, graves)| graves))
    }

    /// The earliest deadline.
    pub(crate) fn first(&self) -> Option<Instant> {
        self.servers()
            .chain([&self.clients])
            .filter_map(Graves::first)
            .min()
    }

    /// Removes the tombs whose timer ended at `now`.
    pub(crate) fn expire(&mut self, now: Instant) {
        for graves in self.all_mut() {
            graves.expire(now);
        }
    }

    /// Gives back the memory of a past burst once under a quarter full (as the transaction tables do), and
    /// the duties of statuses no longer replayed.
    pub(crate) fn shrink(&mut self) {
        self.replays
            .retain(|(_, graves)| graves.len() > 0 || graves.lanes.iter().any(|lane| !lane.runs.is_empty()));
        for graves in self.all_mut() {
            graves.shrink();
        }
    }

    /// Server tombs held.
    pub(crate) fn server_count(&self) -> usize {
        self.servers().map(Graves::len).sum()
    }

    /// Client tombs held.
    pub(crate) fn client_count(&self) -> usize {
        self.clients.len()
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

#[cfg(test)]
mod lane_tests {
    use super::*;

    fn key(branch: &str) -> TransactionKey {
        TransactionKey {
            branch: branch.into(),
            sent_by: "127.0.0.1:5061".into(),
            method: Method::Bye,
        }
    }

    fn start() -> Instant {
        #[allow(clippy::disallowed_methods)] // one real Instant to start from
        Instant::now()
    }

    /// Timer K (5 s) and Timer M (32 s) tombs buried interleaved, as a call's BYE and INVITE clients are: each
    /// is still there 1 ms before its deadline and gone a run's grain after it, the clock only going forward.
    #[test]
    fn interleaved_timer_lengths_each_leave_on_time() {
        let t0 = start();
        let mut tombs = Tombs::default();
        let ms = Duration::from_millis;
        let mut checks = Vec::new();
        for i in 0..1000u64 {
            let at = t0 + ms(i * 7);
            for (branch, method, length) in [
                (format!("i{i}"), Method::Invite, 32_000),
                (format!("b{i}"), Method::Bye, 5_000),
            ] {
                let until = at + ms(length);
                tombs.bury_client(&branch, &method, until);
                checks.push((
                    until.checked_sub(ms(1)).unwrap(),
                    true,
                    branch.clone(),
                    method.clone(),
                ));
                checks.push((until + RUN_GRAIN, false, branch, method));
            }
        }
        assert!(
            tombs.clients.lanes.len() <= 2,
            "{} lanes",
            tombs.clients.lanes.len()
        );
        checks.sort_by_key(|check| check.0);
        for (now, present, branch, method) in checks {
            tombs.expire(now);
            assert_eq!(
                tombs.has_client(&branch, &method),
                present,
                "{branch} {}",
                if present { "left early" } else { "left late" }
            );
        }
        assert_eq!((tombs.client_count(), tombs.first()), (0, None));
    }

    /// More timer lengths than lanes: the extra ones leave late (with the run they joined), never early.
    #[test]
    fn more_timer_lengths_than_lanes_leave_late_not_early() {
        let t0 = start();
        let mut tombs = Tombs::default();
        let lengths = [40u64, 30, 20, 10, 5, 1];
        let mut ascending: Vec<_> = lengths.iter().enumerate().collect();
        ascending.sort_by_key(|(_, secs)| **secs);
        for (i, secs) in lengths.iter().enumerate() {
            tombs.bury_server(
                &key(&format!("k{i}")),
                ServerDuty::Replay(200),
                t0 + Duration::from_secs(*secs),
            );
        }
        assert_eq!(tombs.server_count(), lengths.len());
        assert!(tombs.replays[0].1.lanes.len() <= MAX_LANES);
        for (i, secs) in ascending {
            tombs.expire(
                (t0 + Duration::from_secs(*secs))
                    .checked_sub(Duration::from_millis(1))
                    .unwrap(),
            );
            assert_eq!(
                tombs.server(&key(&format!("k{i}"))),
                Some(ServerDuty::Replay(200)),
                "the {secs} s tomb left early"
            );
        }
        tombs.expire(t0 + Duration::from_secs(40));
        assert_eq!((tombs.server_count(), tombs.first()), (0, None));
    }

    /// Duties per status: each answers with its own, and a status no longer replayed gives its set back.
    #[test]
    fn replays_keep_their_status_and_go_when_empty() {
        let t0 = start();
        let mut tombs = Tombs::default();
        let until = t0 + Duration::from_secs(32);
        tombs.bury_server(&key("a"), ServerDuty::Replay(200), until);
        tombs.bury_server(&key("b"), ServerDuty::Replay(481), until);
        tombs.bury_server(&key("c"), ServerDuty::Accepted, until);
        tombs.bury_server(&key("c"), ServerDuty::Accepted, until);
        assert_eq!(tombs.server_count(), 3, "a key buried twice counts once");
        assert_eq!(tombs.server(&key("a")), Some(ServerDuty::Replay(200)));
        assert_eq!(tombs.server(&key("b")), Some(ServerDuty::Replay(481)));
        assert_eq!(tombs.server(&key("c")), Some(ServerDuty::Accepted));
        assert_eq!(tombs.server(&key("d")), None);
        tombs.expire(until);
        tombs.shrink();
        assert!(tombs.replays.is_empty());
        assert_eq!((tombs.server_count(), tombs.first()), (0, None));
    }
}
