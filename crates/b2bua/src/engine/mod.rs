//! [`B2bua`]: one shard's engine — input dispatch, transaction driving, timers, outputs. The call
//! flows live in the submodules: `setup` (a new INVITE, the route decision, the B-leg INVITE),
//! `outcome` (B's responses, call timers, the end of a call), `relay` (in-dialog requests) and
//! `probe` (dead-dialog probes), `xmode` (calls waiting for the customer's decision), `sms` and `sms_block` (SMS relay, SMS waiting
//! for the app's Block decision); `ivr`, `tones`, `prack`, `session` and `media` drive the parts of a
//! call (the state structs of [`crate::ivr`], [`crate::tones`], [`crate::prack`],
//! [`crate::session_timer`], [`crate::media`]) and carry out what they return. The parts never use
//! the engine or the call.

mod ivr;
mod media;
mod outcome;
mod prack;
mod probe;
mod relay;
mod session;
mod setup;
mod sms;
mod sms_block;
mod stop;
mod tombs;
mod tones;
mod trunk;
mod trunk_probe;
mod xmode;

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use pn_bindings::UnixTime;
use pn_sip::transaction::{self, ClientTransaction, Input, ServerTransaction, TimerConfig, TransactionKey};
use pn_sip::validate::{ValidationPolicy, validate_request, validate_response};
use pn_sip::{Method, NameAddr, Request, Response, ResponseBuilder, SipMessage, Uri, Via};

use crate::call::{Call, WaitingTx};
use crate::clock::Clock;
use crate::dialog::Side;
use crate::shard::{BRANCH_PREFIX, CALL_ID_PREFIX};
use crate::tables::reason_value;
use crate::tombs::ServerDuty;
use crate::transactions::{
    ClientEntry, ClientRole, ClientTx, Deadlines, Id, RequestMatch, ServerEntry, ServerTx, Slot, Transactions,
};
use crate::{B2buaConfig, B2buaError, Output, Peer, RouteLookup, Shard, Stats, Transport};
pub use stop::StopResult;

/// The methods pnswitch handles (its `Allow`).
pub(crate) const ALLOW: &str = "INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE, INFO, MESSAGE";
/// The `Accept` of OPTIONS answers: exactly the body types taken ([`crate::privacy::ACCEPTED_BODIES`]).
pub(crate) const ACCEPT: &str = "application/sdp, multipart/mixed";

/// New calls refused by the runtime, whatever their route (see [`B2bua::refuse_new_calls`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    /// The cause: its row of the rejection table ([`crate::reject_mapping`]) gives the status, the Q.850
    /// cause and the text of the `Reason` header.
    pub cause: pn_bindings::Cause,
    /// The `Retry-After` header's seconds (RFC 3261 §21.5.4, with a 503: when to try this switch again);
    /// 0 sends none.
    pub retry_after_secs: u32,
}

/// One shard of the B2BUA: every call whose messages [`crate::shard_for`] maps here.
#[derive(Debug)]
pub struct B2bua {
    config: B2buaConfig,
    shard: Shard,
    timers: TimerConfig,
    quiet_timers: TimerConfig,
    policy: ValidationPolicy,
    local_host: String,
    local_port: Option<u16>,
    /// The egress trunks (shared with the other shards and the runtime's prober).
    trunks: std::sync::Arc<crate::trunks::TrunkSet>,
    /// Shard 0: the trunks' OPTIONS probes (see `trunk_probe`).
    trunk_probes: Option<Box<trunk_probe::TrunkProbes>>,
    txs: Transactions,
    calls: HashMap<Id, Box<Call>>,
    dialogs: HashMap<String, (Id, Side)>,
    deadlines: Deadlines,
    outputs: VecDeque<Output>,
    stats: Stats,
    next_id: u64,
    active: usize,
    /// Relay mode (`None`: bypass).
    media: Option<crate::media::MediaPlane>,
    /// New calls are refused while set.
    refusal: Option<Refusal>,
    /// The concurrent-call units of the call being set up (from [`RouteLookup::take_live_slot`] or a
    /// waiting X-mode call), moved into the call when it is inserted; cleared after each message.
    pending_live: Option<pn_bindings::LiveSlot>,
    /// Relayed SMS waiting for the far end's answer, by their client transaction (see `sms`).
    sms: HashMap<Id, sms::PendingSms>,
    /// X mode: calls waiting for the customer's decision.
    asks: HashMap<Id, Box<xmode::PendingAsk>>,
    /// SMS Block: SMS waiting for their app's decision (see `sms_block`).
    sms_blocks: HashMap<Id, Box<sms_block::PendingBlock>>,
}

impl B2bua {
    /// A shard with `config`.
    pub fn new(config: B2buaConfig, shard: Shard) -> Self {
        let timers = config.timers();
        let quiet_timers = TimerConfig {
            auto_trying: false,
            ..timers.clone()
        };
        let (local_host, local_port) = config.local_host_port();
        let trunks = std::sync::Arc::new(crate::trunks::TrunkSet::from_config(&[], &config.egress));
        Self {
            config,
            shard,
            timers,
            quiet_timers,
            policy: ValidationPolicy {
                supported_extensions: crate::privacy::ACCEPTED_REQUIRE
                    .iter()
                    .map(|s| (*s).to_owned())
                    .collect(),
                accepted_content_types: crate::privacy::ACCEPTED_BODIES
                    .iter()
                    .map(|s| (*s).to_owned())
                    .collect(),
                ..ValidationPolicy::default()
            },
            local_host,
            local_port,
            trunks,
            trunk_probes: None,
            txs: Transactions::default(),
            calls: HashMap::new(),
            dialogs: HashMap::new(),
            deadlines: Deadlines::default(),
            outputs: VecDeque::new(),
            stats: Stats::default(),
            next_id: 1,
            active: 0,
            media: None,
            refusal: None,
            pending_live: None,
            sms: HashMap::new(),
            asks: HashMap::new(),
            sms_blocks: HashMap::new(),
        }
    }

    /// While `Some`, every new INVITE (from a trusted trunk, past validation) is answered at once with the
    /// refusal's cause and `Retry-After`, before any route decision: no B leg, no call facts (counted in
    /// [`Stats::calls_refused`]). Calls already in progress, in-dialog requests and CANCEL are not affected;
    /// OPTIONS are answered with the refusal (503) when its cause is [`pn_bindings::Cause::SHUTTING_DOWN`] or
    /// [`pn_bindings::Cause::TABLE_NOT_CAUGHT_UP`], so a front's probes take the node out. `None` accepts new calls again. The runtime calls this when its state changes (the outbox
    /// cannot store call facts, or can again); the core reads no clock and no flag of its own.
    pub fn refuse_new_calls(&mut self, refusal: Option<Refusal>) {
        self.refusal = refusal;
    }

    /// Replaces the trunks (at start and on SIGHUP): new B legs go to `trunks` (in the order of
    /// [`crate::TrunkSet::plan`]), requests are taken from `trusted_peers` and the trunks' addresses. Calls in
    /// progress keep the trunk set they were placed with. The runtime gives every shard the same `Arc`: the
    /// health it writes there is what the shards read.
    pub fn set_trunks(
        &mut self,
        trunks: std::sync::Arc<crate::trunks::TrunkSet>,
        trusted_peers: Vec<ipnet::IpNet>,
    ) {
        self.config.egress = trunks.trunks().iter().map(|t| t.address).collect();
        self.trunks = trunks;
        self.config.trusted_peers = trusted_peers;
    }

    /// The trunks new calls use.
    pub fn trunks(&self) -> &std::sync::Arc<crate::trunks::TrunkSet> {
        &self.trunks
    }

    /// Where out-of-dialog requests without a call (SMS) go: the first trunk by priority that is up.
    fn egress(&self) -> Option<Peer> {
        self.trunks
            .first(0)
            .and_then(|i| self.trunks.get(i))
            .map(crate::trunks::TrunkConfig::peer)
    }

    /// The refusal in force, if any.
    pub fn refusal(&self) -> Option<Refusal> {
        self.refusal
    }

    /// Handles one received message (`from`: its source; responses to requests go back there).
    pub fn handle_message(
        &mut self,
        now: Instant,
        wall: UnixTime,
        from: Peer,
        message: SipMessage,
        router: &dyn RouteLookup,
    ) {
        let c = Clock { now, wall };
        match message {
            SipMessage::Request(r) => self.on_request(c, from, r, router),
            SipMessage::Response(r) => self.on_response(c, r),
        }
    }

    /// Fires every timer due at `now` (`router`: an AXE digit timeout ends collection and routes).
    pub fn handle_timeout(&mut self, now: Instant, wall: UnixTime, router: &dyn RouteLookup) {
        let c = Clock { now, wall };
        while let Some(slot) = self.deadlines.pop_due(now) {
            match slot {
                Slot::Server(id) => {
                    if let Some(e) = self.txs.server_mut(id) {
                        e.scheduled = None;
                    }
                    self.drive_server(c, id, Input::Timeout);
                }
                Slot::Client(id) => {
                    if let Some(e) = self.txs.client_mut(id) {
                        e.scheduled = None;
                    }
                    self.drive_client(c, id, Input::Timeout);
                }
                Slot::Call(id) => {
                    if let Some(call) = self.calls.get_mut(&id) {
                        call.scheduled = None;
                    }
                    self.on_call_timer(c, id, router);
                }
                Slot::Ask(id) => self.ask_timeout(c, id, router),
                Slot::SmsBlock(id) => self.sms_block_timeout(c, id),
                Slot::TrunkProbe => self.trunk_probe_timer(c),
            }
        }
        self.txs.tombs.expire(now);
        // Timers end most transactions and calls: the tables give back what a past burst made them grow to.
        self.txs.shrink();
        crate::transactions::shrink_map(&mut self.calls);
        crate::transactions::shrink_map(&mut self.dialogs);
    }

    /// The next output, until `None`.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When [`B2bua::handle_timeout`] is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.deadlines.first(), self.txs.tombs.first()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Calls in progress (not yet ended).
    pub fn active_calls(&self) -> usize {
        self.active + self.asks_waiting()
    }

    /// What the shard holds right now: calls, dialogs, server and client transactions (counts only).
    ///
    /// Once every call ended and its transactions timed out, the load is [idle](crate::Load::is_idle).
    pub fn load(&self) -> crate::load::Load {
        crate::load::Load {
            calls: self.calls.len() + self.asks_waiting(),
            dialogs: self.dialogs.len(),
            server_transactions: self.txs.server_count(),
            client_transactions: self.txs.client_count(),
        }
    }

    /// The shard's counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Takes the setup-latency samples collected since the last drain.
    pub fn drain_setup_latencies(&mut self) -> Vec<Duration> {
        std::mem::take(&mut self.stats.setup_latencies)
    }

    // ---- ids, Via, Contact -------------------------------------------------------------------

    fn next_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn new_tag(&mut self, c: Clock) -> String {
        let id = self.next_id();
        format!("pn{:x}{:x}", c.wall.0, id)
    }

    fn new_call_id(&mut self, c: Clock) -> String {
        let id = self.next_id();
        format!(
            "{CALL_ID_PREFIX}{}-{:x}-{:x}@{}",
            self.shard.index, c.wall.0, id, self.local_host
        )
    }

    fn new_via(&mut self, c: Clock, transport: Transport) -> Via {
        let id = self.next_id();
        let branch = format!("{BRANCH_PREFIX}{}-{:x}.{:x}", self.shard.index, c.wall.0, id);
        let mut via = Via::new(transport.as_str(), &self.local_host, self.local_port, &branch);
        via.set_param("rport", None);
        via
    }

    /// pnswitch's Contact on a leg of `transport`.
    fn contact(&self, transport: Transport) -> NameAddr {
        let mut uri = Uri::sip(None, &self.local_host, self.local_port);
        if transport == Transport::Tcp {
            uri.set_param("transport", Some("tcp"));
        }
        NameAddr::new(uri)
    }

    fn push_output(&mut self, output: Output) {
        self.outputs.push_back(output);
    }

    fn send(&mut self, to: Peer, message: SipMessage) {
        self.outputs.push_back(Output::Send { to, message });
    }

    fn fact(&mut self, fact: crate::CallFact) {
        self.outputs.push_back(Output::Fact(fact));
    }

    fn trusted(&self, addr: SocketAddr) -> bool {
        let ip: IpAddr = addr.ip();
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 @ IpAddr::V4(_) => v4,
        };
        self.config.is_trusted(ip)
    }

    // ---- transactions ------------------------------------------------------------------------

    /// Starts a server transaction for `request` (`trying`: INVITEs get `100 Trying` at once).
    fn new_server_tx(
        &mut self,
        c: Clock,
        peer: Peer,
        request: Request,
        call: Option<(Id, Side)>,
        trying: bool,
    ) -> Result<Id, B2buaError> {
        let key = TransactionKey::for_request(&request)?;
        let config = if trying { &self.timers } else { &self.quiet_timers };
        let tx = ServerTransaction::new(request, peer.transport.is_reliable(), config, c.now)?;
        let id = self.next_id();
        self.stats.server_transactions += 1;
        if let Some((call, _)) = call {
            if let Some(call) = self.calls.get_mut(&call) {
                call.live_tx += 1;
            }
        }
        self.txs.insert_server(
            id,
            ServerEntry {
                tx: ServerTx::Live(Box::new(tx)),
                key,
                peer,
                call,
                scheduled: None,
            },
        );
        self.flush_server(c, id, false);
        Ok(id)
    }

    /// Sends a response through a server transaction.
    fn respond(&mut self, c: Clock, id: Id, response: Response) {
        self.drive_server(c, id, Input::Respond(response));
    }

    /// Answers `request` at once with `builder`'s response in a fresh server transaction.
    fn reply(&mut self, c: Clock, peer: Peer, request: Request, builder: ResponseBuilder) {
        let response = builder.build();
        if let Ok(id) = self.new_server_tx(c, peer, request, None, false) {
            self.respond(c, id, response);
        }
    }

    /// Builds the response to `request` with status `status` and a To tag.
    fn response_to(&mut self, c: Clock, request: &Request, status: u16) -> ResponseBuilder {
        let tag = self.new_tag(c);
        Response::for_request(request, status).to_tag(&tag)
    }

    fn drive_server(&mut self, c: Clock, id: Id, input: Input) {
        let retransmitting = matches!(input, Input::Timeout | Input::Received(_));
        let Some(e) = self.txs.server_mut(id) else {
            return;
        };
        // An input the state does not allow (a second final response after a CANCEL race) sends nothing.
        let _ = e.tx.handle_input(c.now, input);
        self.flush_server(c, id, retransmitting);
    }

    fn flush_server(&mut self, c: Clock, id: Id, retransmitting: bool) {
        let Some(e) = self.txs.server_mut(id) else {
            return;
        };
        let mut outputs = Vec::new();
        while let Some(o) = e.tx.poll_output() {
            outputs.push(o);
        }
        let peer = e.peer;
        let call = e.call;
        let next = e.tx.poll_timeout();
        self.deadlines.update(Slot::Server(id), &mut e.scheduled, next);
        for o in outputs {
            match o {
                transaction::Output::Transmit(m) => {
                    if retransmitting {
                        self.stats.retransmissions_sent += 1;
                    }
                    self.send(peer, m);
                }
                transaction::Output::Timeout => self.on_server_timeout(c, id, call),
                transaction::Output::Terminated => drop(self.remove_server(id)),
                transaction::Output::Response(_) | transaction::Output::Ack(_) => {}
            }
        }
        // A completed non-INVITE transaction only replays its final response until Timer J.
        if let Some(e) = self.txs.server_mut(id) {
            e.tx.settle_completed();
        }
        self.settled_server(id);
    }

    fn remove_server(&mut self, id: Id) -> Option<ServerEntry> {
        let mut e = self.txs.remove_server(id)?;
        self.deadlines.update(Slot::Server(id), &mut e.scheduled, None);
        if let Some((call, _)) = e.call {
            self.release_tx(call);
        }
        Some(e)
    }

    /// Starts a client transaction sending `request` to `peer`.
    fn new_client_tx(
        &mut self,
        c: Clock,
        peer: Peer,
        request: Request,
        call: Option<(Id, Side)>,
        role: ClientRole,
    ) -> Result<Id, B2buaError> {
        let branch = request
            .headers()
            .top_via()?
            .branch()
            .ok_or(B2buaError::NoBranch)?
            .to_owned();
        let key = (branch, request.method().clone());
        let tx = ClientTransaction::new(request, peer.transport.is_reliable(), &self.timers, c.now)?;
        let id = self.next_id();
        self.stats.client_transactions += 1;
        if let Some((call, _)) = call {
            if let Some(call) = self.calls.get_mut(&call) {
                call.live_tx += 1;
            }
        }
        self.txs.insert_client(
            id,
            ClientEntry::new(ClientTx::Live(Box::new(tx)), key, peer, call, role),
        );
        self.drive_client_outputs(c, id, false);
        Ok(id)
    }

    fn drive_client(&mut self, c: Clock, id: Id, input: Input) {
        let timer = matches!(input, Input::Timeout);
        let Some(e) = self.txs.client_mut(id) else {
            return;
        };
        let _ = e.tx.handle_input(c.now, input);
        self.drive_client_outputs(c, id, timer);
    }

    fn drive_client_outputs(&mut self, c: Clock, id: Id, timer: bool) {
        let Some(e) = self.txs.client_mut(id) else {
            return;
        };
        let mut outputs = Vec::new();
        while let Some(o) = e.tx.poll_output() {
            outputs.push(o);
        }
        let (peer, call, role) = (e.peer, e.call, e.role);
        let next = e.tx.poll_timeout();
        self.deadlines.update(Slot::Client(id), &mut e.scheduled, next);
        for o in outputs {
            match o {
                transaction::Output::Transmit(m) => {
                    if timer {
                        self.stats.retransmissions_sent += 1;
                    }
                    self.send(peer, m);
                }
                transaction::Output::Response(r) => self.on_client_response(c, id, call, role, &r),
                transaction::Output::Timeout => self.on_client_timeout(c, id, call, role),
                transaction::Output::Terminated => drop(self.remove_client(id)),
                transaction::Output::Ack(_) => {}
            }
        }
        // An INVITE that got its 2xx only waits for retransmissions of it (Timer M): drop the request.
        if let Some(e) = self.txs.client_mut(id) {
            e.tx.settle();
        }
        self.settled_client(id);
    }

    fn remove_client(&mut self, id: Id) -> Option<ClientEntry> {
        let mut e = self.txs.remove_client(id)?;
        self.deadlines.update(Slot::Client(id), &mut e.scheduled, None);
        if let Some((call, _)) = e.call {
            self.release_tx(call);
        }
        Some(e)
    }

    /// A transaction of `call` is gone: an ended call without transactions is dropped.
    fn release_tx(&mut self, call: Id) {
        if let Some(state) = self.calls.get_mut(&call) {
            state.live_tx = state.live_tx.saturating_sub(1);
        }
        self.maybe_remove_call(call);
    }

    // ---- dispatch ----------------------------------------------------------------------------

    fn on_response(&mut self, c: Clock, r: Response) {
        if validate_response(&r).is_err() {
            self.stats.stray_responses += 1;
            return;
        }
        match self.txs.match_response(&r) {
            Some(id) => self.drive_client(c, id, Input::Received(SipMessage::Response(r))),
            None if self.txs.absorbed_by_tomb(&r) => {}
            None => self.stats.stray_responses += 1,
        }
    }

    fn on_request(&mut self, c: Clock, from: Peer, r: Request, router: &dyn RouteLookup) {
        let is_ack = *r.method() == Method::Ack;
        if let Err(rejection) = validate_request(&r, &self.policy) {
            self.stats.validation_rejects += 1;
            if !is_ack {
                let mut b = self
                    .response_to(c, &r, rejection.status)
                    .reason(rejection.reason)
                    .header("Reason", &reason_value(rejection.q850_cause(), 7505));
                if !rejection.unsupported.is_empty() {
                    b = b.header("Unsupported", &rejection.unsupported.join(", "));
                }
                self.reply(c, from, r, b);
            }
            return;
        }
        // Retransmissions and non-2xx ACKs belong to an existing server transaction.
        match self.txs.match_request(&r) {
            RequestMatch::Live(id) => {
                let absorbed = !is_ack
                    || self
                        .txs
                        .server(id)
                        .is_some_and(|e| e.tx.state() == transaction::State::Completed);
                if absorbed {
                    if !is_ack {
                        self.stats.retransmissions_received += 1;
                    }
                    self.drive_server(c, id, Input::Received(SipMessage::Request(r)));
                    return;
                }
            }
            RequestMatch::Tomb(duty) if !(is_ack && duty == ServerDuty::Accepted) => {
                self.tomb_request(from, &r, duty);
                return;
            }
            RequestMatch::Tomb(_) | RequestMatch::New => {}
        }
        if is_ack {
            self.on_ack(c, &r);
            return;
        }
        if !self.trusted(from.addr) {
            self.stats.acl_rejects += 1;
            let b = self
                .response_to(c, &r, 403)
                .header("Reason", "Q.850;cause=21;text=\"source not trusted\"");
            self.reply(c, from, r, b);
            return;
        }
        let in_dialog = r.headers().to().ok().is_some_and(|t| t.tag().is_some());
        match r.method() {
            Method::Cancel => self.on_cancel(c, from, r),
            _ if in_dialog => self.on_in_dialog(c, from, r, router),
            Method::Invite => {
                self.on_new_invite(c, from, r, router);
                // Units of a call that was not inserted (refused after the decision) are given back now.
                self.pending_live = None;
            }
            Method::Message => self.on_message(c, from, r, router),
            Method::Options => {
                // A draining switch, or a node whose table has not caught up with the store, tells the
                // front's probes to send new calls elsewhere.
                if let Some(refusal) = self.refusal.filter(|r| {
                    r.cause == pn_bindings::Cause::SHUTTING_DOWN
                        || r.cause == pn_bindings::Cause::TABLE_NOT_CAUGHT_UP
                }) {
                    let (m, reason) = crate::tables::reason_header(refusal.cause);
                    let b = self
                        .response_to(c, &r, m.status)
                        .reason(m.reason)
                        .header("Reason", &reason)
                        .header("Retry-After", &refusal.retry_after_secs.max(1).to_string());
                    self.reply(c, from, r, b);
                    return;
                }
                let b = self
                    .response_to(c, &r, 200)
                    .header("Allow", ALLOW)
                    .header("Accept", ACCEPT)
                    .header("Supported", "100rel, timer");
                self.reply(c, from, r, b);
            }
            Method::Bye | Method::Update | Method::Info | Method::Prack => {
                self.stats.unmatched_requests += 1;
                let b = self.response_to(c, &r, 481);
                self.reply(c, from, r, b);
            }
            _ => {
                let b = self.response_to(c, &r, 405).header("Allow", ALLOW);
                self.reply(c, from, r, b);
            }
        }
    }

    /// Reschedules a call's timer slot.
    fn schedule_call(&mut self, id: Id) {
        if let Some(call) = self.calls.get_mut(&id) {
            let next = call.next_deadline();
            self.deadlines.update(Slot::Call(id), &mut call.scheduled, next);
        }
    }

    /// Drops an ended call once nothing it sent waits for an answer that needs it: its B-leg INVITE, or one it
    /// gave up on for another trunk (a CANCEL or the ACK and BYE of a late 2xx depend on the call). The transactions still running (BYE answers, the
    /// 2xx waits of Timers L and M, retransmissions they absorb) go on without it; they used to keep the whole
    /// call for up to 32 s (Timer J), which made the memory grow with the call rate.
    fn maybe_remove_call(&mut self, id: Id) {
        let done = self.calls.get(&id).is_some_and(|c| {
            let b_unanswered = c.b_placed && self.txs.client(c.b_tx).is_some_and(|e| e.tx.unanswered());
            // A given-up INVITE (trunk failover) still waiting: its late 1xx or 2xx is wound down from the call.
            let given_up = c.trunk.as_ref().is_some_and(|t| !t.abandoned.is_empty());
            c.ended && (c.live_tx == 0 || !(b_unanswered || given_up))
        });
        if !done {
            return;
        }
        if let Some(mut call) = self.calls.remove(&id) {
            self.deadlines.update(Slot::Call(id), &mut call.scheduled, None);
            for call_id in [&call.a.call_id, &call.b.call_id] {
                if self.dialogs.get(call_id).is_some_and(|(c, _)| *c == id) {
                    self.dialogs.remove(call_id);
                }
            }
            // What its transactions still owe the network no longer needs the call.
            for waiting in call.waiting {
                match waiting {
                    WaitingTx::Server(tx) => self.entomb_server(tx),
                    WaitingTx::Client(tx) => self.entomb_client(tx),
                }
            }
        }
    }
}
