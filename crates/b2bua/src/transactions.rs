//! The transaction tables of one shard (server transactions keyed by RFC 3261 §17.2.3, client
//! transactions by the branch pnswitch made and the method) and the deadline index every timer
//! (transaction or call) is kept in, so that `poll_timeout` is O(log n).
//!
//! The tables are private: transactions are added and removed through [`Transactions`]'s methods,
//! found by id, and matched to what arrives with [`Transactions::match_request`],
//! [`Transactions::match_cancelled_invite`] and [`Transactions::match_response`].

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use pn_sip::transaction::{ClientTransaction, Input, Output, ServerTransaction, State, TransactionKey};
use pn_sip::{Method, Request, Response, SipMessage};

use crate::Peer;
use crate::dialog::Side;
use crate::tombs::{ServerDuty, Tombs};

/// Transaction and call ids (per shard, never reused).
pub(crate) type Id = u64;

/// Something with a deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Slot {
    Server(Id),
    Client(Id),
    Call(Id),
    /// X mode: a call's decision timer.
    Ask(Id),
    /// SMS Block: an SMS's decision timer.
    SmsBlock(Id),
    /// The trunk prober's next probe (shard 0).
    TrunkProbe,
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

/// An INVITE transaction in its RFC 6026 `Accepted` wait once nothing is left to send: it keeps no
/// message, only the end of the wait (Timer L for a server transaction whose 2xx was acknowledged,
/// Timer M for a client transaction that received a 2xx). A call spends most of that wait answered,
/// so the full transaction (request, last response, output queue) would otherwise stay per call.
#[derive(Debug)]
pub(crate) struct Waiting {
    /// When the wait ends (the transaction terminates).
    until: Instant,
    /// A 2xx retransmission received (client), for the transaction user (boxed: rare, and it would size
    /// every waiting transaction like a response).
    response: Option<Box<pn_sip::Response>>,
    /// The wait is over: `Terminated` is to be reported (`Some(false)`) or was (`Some(true)`).
    terminated: Option<bool>,
    /// A client INVITE's wait: a retransmitted 2xx goes to the transaction user (which re-sends its ACK).
    /// Otherwise every response is absorbed (a non-INVITE transaction's Timer K).
    pass_2xx: bool,
    /// The state the full transaction was in (reported until the wait ends).
    live_state: State,
}

impl Waiting {
    fn new(until: Instant) -> Self {
        Self {
            until,
            response: None,
            terminated: None,
            pass_2xx: true,
            live_state: State::Accepted,
        }
    }

    /// A wait that absorbs everything, for a transaction that was in `state` (a completed non-INVITE client
    /// transaction until Timer K, a confirmed INVITE server transaction until Timer I).
    fn absorbing(until: Instant, state: State) -> Self {
        Self {
            pass_2xx: false,
            live_state: state,
            ..Self::new(until)
        }
    }

    fn timeout(&mut self, now: Instant) {
        if self.terminated.is_none() && now >= self.until {
            self.terminated = Some(false);
        }
    }

    fn poll_output(&mut self) -> Option<Output> {
        if let Some(r) = self.response.take() {
            return Some(Output::Response(*r));
        }
        if self.terminated == Some(false) {
            self.terminated = Some(true);
            return Some(Output::Terminated);
        }
        None
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.terminated.is_none().then_some(self.until)
    }

    fn state(&self) -> State {
        if self.terminated.is_some() {
            State::Terminated
        } else {
            self.live_state
        }
    }
}

/// A non-INVITE server transaction in `Completed` (RFC 3261 §17.2.2), kept as its final response only: a
/// retransmitted request gets that response again until Timer J. A call's BYE spends 32 s there, so the full
/// transaction (request, parsed response, output queue) would otherwise stay per finished call and the memory
/// follow the call rate.
#[derive(Debug)]
pub(crate) struct Replaying {
    /// Timer J's wait, as a [`Waiting`] (it never holds a response).
    wait: Waiting,
    response: Replay,
    /// The response to send again, for a retransmission just received (boxed: rare, and it would size every
    /// server transaction like a message).
    resend: Option<Box<SipMessage>>,
}

/// How a [`Replaying`] transaction keeps its final response.
#[derive(Debug)]
enum Replay {
    /// It was the plain response of this status to the request (`Response::for_request`, as a BYE's 200 is):
    /// built again from the retransmission, which is the same request.
    Plain(u16),
    /// Anything else, as printed.
    Bytes(Box<[u8]>),
}

impl Replaying {
    fn handle_input(&mut self, now: Instant, input: &Input) {
        match input {
            Input::Timeout => self.wait.timeout(now),
            Input::Received(SipMessage::Request(r)) if self.wait.terminated.is_none() => {
                self.resend = match &self.response {
                    Replay::Plain(status) => Some(Box::new(Response::for_request(r, *status).build().into())),
                    // The bytes were printed from a valid response: they parse back.
                    Replay::Bytes(bytes) => SipMessage::parse(bytes).ok().map(Box::new),
                };
            }
            _ => {}
        }
    }

    fn poll_output(&mut self) -> Option<Output> {
        if let Some(m) = self.resend.take() {
            return Some(Output::Transmit(*m));
        }
        self.wait.poll_output()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.wait.poll_timeout()
    }

    fn state(&self) -> State {
        match self.wait.state() {
            State::Terminated => State::Terminated,
            _ => State::Completed,
        }
    }
}

/// A server transaction, its acknowledged `Accepted` wait ([`Waiting`]): that absorbs INVITE
/// retransmissions (and sends nothing) until Timer L, as the full transaction would; or a completed
/// non-INVITE transaction replaying its final response ([`Replaying`]) until Timer J.
#[derive(Debug)]
pub(crate) enum ServerTx {
    Live(Box<ServerTransaction>),
    Waiting(Waiting),
    Replaying(Replaying),
}

impl ServerTx {
    pub(crate) fn handle_input(&mut self, now: Instant, input: Input) -> pn_sip::Result<()> {
        match self {
            ServerTx::Live(tx) => tx.handle_input(now, input),
            ServerTx::Waiting(w) => {
                match input {
                    Input::Timeout => w.timeout(now),
                    Input::Received(_) | Input::Respond(_) => {} // absorbed / nothing more to send
                }
                Ok(())
            }
            ServerTx::Replaying(r) => {
                r.handle_input(now, &input);
                Ok(())
            }
        }
    }

    pub(crate) fn poll_output(&mut self) -> Option<Output> {
        match self {
            ServerTx::Live(tx) => tx.poll_output(),
            ServerTx::Waiting(w) => w.poll_output(),
            ServerTx::Replaying(r) => r.poll_output(),
        }
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        match self {
            ServerTx::Live(tx) => tx.poll_timeout(),
            ServerTx::Waiting(w) => w.poll_timeout(),
            ServerTx::Replaying(r) => r.poll_timeout(),
        }
    }

    pub(crate) fn state(&self) -> State {
        match self {
            ServerTx::Live(tx) => tx.state(),
            ServerTx::Waiting(w) => w.state(),
            ServerTx::Replaying(r) => r.state(),
        }
    }

    /// The request that created the transaction (gone once it only waits or replays).
    pub(crate) fn request(&self) -> Option<&Request> {
        match self {
            ServerTx::Live(tx) => Some(tx.request()),
            ServerTx::Waiting(_) | ServerTx::Replaying(_) => None,
        }
    }

    /// Once its outputs are drained: a non-INVITE transaction in `Completed` keeps only its final
    /// response's bytes and its Timer J ([`Replaying`]); an INVITE transaction whose non-2xx final answer was
    /// acknowledged (`Confirmed`) only absorbs ACK retransmissions until Timer I, without its request and
    /// response (every INVITE refused under overload passes through it).
    pub(crate) fn settle_completed(&mut self) {
        let ServerTx::Live(tx) = self else {
            return;
        };
        if !tx.is_invite()
            && tx.state() == State::Completed
            && let (Some(until), Some(last)) = (tx.poll_timeout(), tx.last_response())
        {
            let status = last.status();
            let response = if Response::for_request(tx.request(), status).build() == *last {
                Replay::Plain(status)
            } else {
                Replay::Bytes(last.to_bytes().into_boxed_slice())
            };
            *self = ServerTx::Replaying(Replaying {
                wait: Waiting::new(until),
                response,
                resend: None,
            });
        } else if tx.is_invite()
            && tx.state() == State::Confirmed
            && let Some(until) = tx.poll_timeout()
        {
            *self = ServerTx::Waiting(Waiting::absorbing(until, State::Confirmed));
        }
    }

    /// What it still does once its call is gone, and until when: a wait with nothing pending
    /// ([`crate::tombs`]); `None` for a live transaction, one whose wait ended, or one replaying a response
    /// that is not plain.
    pub(crate) fn tomb(&self) -> Option<(ServerDuty, Instant)> {
        match self {
            ServerTx::Waiting(w) if w.terminated.is_none() => {
                let duty = if w.live_state == State::Confirmed {
                    ServerDuty::Confirmed
                } else {
                    ServerDuty::Accepted
                };
                Some((duty, w.until))
            }
            ServerTx::Replaying(Replaying {
                wait,
                response: Replay::Plain(status),
                resend: None,
            }) if wait.terminated.is_none() => Some((ServerDuty::Replay(*status), wait.until)),
            _ => None,
        }
    }

    /// The dialog of its 2xx ended before the ACK came (see [`ServerTransaction::dialog_ended`]): no more
    /// 2xx retransmissions; it then only waits out Timer L ([`ServerTx::settle`]).
    pub(crate) fn dialog_ended(&mut self) {
        if let ServerTx::Live(tx) = self {
            tx.dialog_ended();
        }
        self.settle();
    }

    /// After the ACK for its 2xx: an INVITE transaction in `Accepted` with nothing queued keeps only
    /// its Timer L.
    pub(crate) fn settle(&mut self) {
        if let ServerTx::Live(tx) = self {
            if tx.state() == State::Accepted {
                if let Some(until) = tx.poll_timeout() {
                    *self = ServerTx::Waiting(Waiting::new(until));
                }
            }
        }
    }
}

/// A client transaction, or its `Accepted` wait ([`Waiting`]): 2xx retransmissions go to the
/// transaction user (which re-sends its ACK), anything else is absorbed, until Timer M.
#[derive(Debug)]
pub(crate) enum ClientTx {
    Live(Box<ClientTransaction>),
    Waiting(Waiting),
}

impl ClientTx {
    pub(crate) fn handle_input(&mut self, now: Instant, input: Input) -> pn_sip::Result<()> {
        match self {
            ClientTx::Live(tx) => tx.handle_input(now, input),
            ClientTx::Waiting(w) => {
                match input {
                    Input::Timeout => w.timeout(now),
                    Input::Received(SipMessage::Response(r))
                        if w.pass_2xx && w.terminated.is_none() && (200..300).contains(&r.status()) =>
                    {
                        w.response = Some(Box::new(r));
                    }
                    Input::Received(_) | Input::Respond(_) => {}
                }
                Ok(())
            }
        }
    }

    pub(crate) fn poll_output(&mut self) -> Option<Output> {
        match self {
            ClientTx::Live(tx) => tx.poll_output(),
            ClientTx::Waiting(w) => w.poll_output(),
        }
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        match self {
            ClientTx::Live(tx) => tx.poll_timeout(),
            ClientTx::Waiting(w) => w.poll_timeout(),
        }
    }

    /// The request this transaction sends (gone once it only waits).
    pub(crate) fn request(&self) -> Option<&Request> {
        match self {
            ClientTx::Live(tx) => Some(tx.request()),
            ClientTx::Waiting(_) => None,
        }
    }

    /// Until when it still absorbs responses once its call is gone, if it only waits with nothing pending
    /// ([`crate::tombs`]).
    pub(crate) fn tomb(&self) -> Option<Instant> {
        match self {
            ClientTx::Waiting(w) if w.terminated.is_none() && w.response.is_none() => Some(w.until),
            _ => None,
        }
    }

    /// Whether it still waits for a final response.
    pub(crate) fn unanswered(&self) -> bool {
        match self {
            ClientTx::Live(tx) => matches!(tx.state(), State::Calling | State::Proceeding | State::Trying),
            ClientTx::Waiting(_) => false,
        }
    }

    /// Once its outputs are drained: an INVITE transaction in `Accepted` keeps only its Timer M; a completed
    /// non-INVITE one (its final response handled) only absorbs retransmissions of that response until
    /// Timer K, without its request and response (a call's BYE leaves one per finished call).
    pub(crate) fn settle(&mut self) {
        if let ClientTx::Live(tx) = self {
            let completed_non_invite =
                tx.state() == State::Completed && *tx.request().method() != Method::Invite;
            if tx.state() == State::Accepted {
                if let Some(until) = tx.poll_timeout() {
                    *self = ClientTx::Waiting(Waiting::new(until));
                }
            } else if completed_non_invite && let Some(until) = tx.poll_timeout() {
                *self = ClientTx::Waiting(Waiting::absorbing(until, State::Completed));
            }
        }
    }
}

/// A server transaction and what it belongs to.
#[derive(Debug)]
pub(crate) struct ServerEntry {
    pub tx: ServerTx,
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
    /// An in-dialog OPTIONS probing whether the leg's dialog is still there (see `probe`).
    Probe,
    /// A relayed SMS (out-of-dialog MESSAGE); its final response answers the sender (see `engine::sms`).
    Sms,
    /// An OPTIONS health probe of egress trunk `trunk` (see `engine::trunk_probe`).
    TrunkProbe { trunk: usize },
}

/// A client transaction and what it belongs to.
#[derive(Debug)]
pub(crate) struct ClientEntry {
    pub tx: ClientTx,
    pub key: (String, Method),
    pub peer: Peer,
    pub call: Option<(Id, Side)>,
    pub role: ClientRole,
    /// For INVITEs: the ACK sent for the 2xx, as bytes (re-sent when the 2xx is retransmitted, which is rare;
    /// kept for Timer M's 32 s after every answered call, so a parsed request would be most of what a finished
    /// call leaves).
    ack: Option<Box<[u8]>>,
    /// For INVITEs: a 2xx was received.
    pub answered: bool,
    pub scheduled: Option<Instant>,
}

impl ClientEntry {
    /// A new entry (no ACK sent, not answered, no deadline).
    pub(crate) fn new(
        tx: ClientTx,
        key: (String, Method),
        peer: Peer,
        call: Option<(Id, Side)>,
        role: ClientRole,
    ) -> Self {
        Self {
            tx,
            key,
            peer,
            call,
            role,
            ack: None,
            answered: false,
            scheduled: None,
        }
    }

    /// Remembers the ACK sent for this INVITE's 2xx.
    pub(crate) fn set_ack(&mut self, ack: &Request) {
        self.ack = Some(ack.to_bytes().into_boxed_slice());
    }

    /// The ACK to send again for a retransmitted 2xx, if one was sent.
    pub(crate) fn ack(&self) -> Option<SipMessage> {
        // The bytes were printed from a valid request: they parse back.
        self.ack.as_deref().and_then(|b| SipMessage::parse(b).ok())
    }
}

/// All transactions of a shard.
#[derive(Debug, Default)]
pub(crate) struct Transactions {
    servers: HashMap<Id, ServerEntry>,
    server_keys: HashMap<TransactionKey, Id>,
    clients: HashMap<Id, ClientEntry>,
    client_keys: HashMap<(String, Method), Id>,
    /// Finished transactions whose call is gone, reduced to their last duty.
    pub(crate) tombs: Tombs,
}

/// What a received request belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequestMatch {
    /// A server transaction in the table.
    Live(Id),
    /// A finished transaction whose call is gone.
    Tomb(ServerDuty),
    /// No transaction: a new request (or the ACK of a 2xx).
    New,
}

/// Gives a map's memory back once it holds less than a quarter of its capacity: a hash map keeps the
/// capacity of its busiest moment, and a burst of calls leaves tables sized for it (tens of MiB) otherwise.
pub(crate) fn shrink_map<K: std::hash::Hash + Eq, V>(m: &mut HashMap<K, V>) {
    if m.capacity() > 1024 && m.len() * 4 < m.capacity() {
        m.shrink_to(m.len() * 2);
    }
}

impl Transactions {
    /// Shrinks the tables that hold far fewer entries than their capacity (see [`shrink_map`]).
    pub(crate) fn shrink(&mut self) {
        shrink_map(&mut self.servers);
        shrink_map(&mut self.server_keys);
        shrink_map(&mut self.clients);
        shrink_map(&mut self.client_keys);
        self.tombs.shrink();
    }

    /// How many server transactions are held (tombs included).
    pub(crate) fn server_count(&self) -> usize {
        self.servers.len() + self.tombs.server_count()
    }

    /// How many client transactions are held (tombs included).
    pub(crate) fn client_count(&self) -> usize {
        self.clients.len() + self.tombs.client_count()
    }

    /// The server transaction `id`.
    pub(crate) fn server(&self, id: Id) -> Option<&ServerEntry> {
        self.servers.get(&id)
    }

    /// The server transaction `id`, to drive.
    pub(crate) fn server_mut(&mut self, id: Id) -> Option<&mut ServerEntry> {
        self.servers.get_mut(&id)
    }

    /// The client transaction `id`.
    pub(crate) fn client(&self, id: Id) -> Option<&ClientEntry> {
        self.clients.get(&id)
    }

    /// The client transaction `id`, to drive.
    pub(crate) fn client_mut(&mut self, id: Id) -> Option<&mut ClientEntry> {
        self.clients.get_mut(&id)
    }

    /// The server transaction a received request belongs to (RFC 3261 §17.2.3): a retransmission, or
    /// the ACK of a non-2xx final response.
    pub(crate) fn match_request(&self, request: &Request) -> RequestMatch {
        TransactionKey::for_request(request).map_or(RequestMatch::New, |key| self.match_key(&key))
    }

    /// The INVITE server transaction a CANCEL cancels (same key, method INVITE).
    pub(crate) fn match_cancelled_invite(&self, cancel: &Request) -> RequestMatch {
        TransactionKey::for_request(cancel).map_or(RequestMatch::New, |mut key| {
            key.method = Method::Invite;
            self.match_key(&key)
        })
    }

    /// The server transaction or tomb `key` names.
    fn match_key(&self, key: &TransactionKey) -> RequestMatch {
        match self.server_keys.get(key) {
            Some(id) => RequestMatch::Live(*id),
            None => self
                .tombs
                .server(key)
                .map_or(RequestMatch::New, RequestMatch::Tomb),
        }
    }

    /// The client transaction a received response belongs to: the top Via's branch (made here) and
    /// the CSeq method (RFC 3261 §17.1.3).
    pub(crate) fn match_response(&self, response: &Response) -> Option<Id> {
        let h = response.headers();
        let (via, cseq) = (h.top_via().ok()?, h.cseq().ok()?);
        let branch = via.branch()?;
        self.client_keys.get(&(branch.to_owned(), cseq.method)).copied()
    }

    /// Whether a response no live transaction took belongs to a client tomb (it is then absorbed).
    pub(crate) fn absorbed_by_tomb(&self, response: &Response) -> bool {
        let h = response.headers();
        let (Ok(via), Ok(cseq)) = (h.top_via(), h.cseq()) else {
            return false;
        };
        via.branch()
            .is_some_and(|branch| self.tombs.has_client(branch, &cseq.method))
    }

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
