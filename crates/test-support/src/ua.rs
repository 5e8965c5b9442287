//! The fake trunks: SIP user agents built on pn-sip's transactions, so they retransmit as real peers do.
//!
//! [`Caller`] is trunk A: it places calls to the privacy number, ACKs every 2xx it gets and hangs up after a
//! hold time. [`Callee`] is trunk B: it answers each INVITE the switch forwards with 180 then 200 (with SDP)
//! after a ring time, takes the ACK, and answers BYE, CANCEL and OPTIONS. Both answer in-dialog BYE and
//! OPTIONS from the switch with 200.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use pn_sip::transaction::{self, ClientTransaction, Input, ServerTransaction, TimerConfig, TransactionKey};
use pn_sip::{Method, NameAddr, Request, Response, SipMessage, Uri, Via};

/// SDP of trunk A's offers.
pub const SDP_A: &str = "v=0\r\no=alice 2890844526 2890844526 IN IP4 198.51.100.1\r\ns=call\r\n\
c=IN IP4 198.51.100.1\r\nt=0 0\r\nm=audio 49170 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n";

/// SDP of trunk B's answers.
pub const SDP_B: &str = "v=0\r\no=bob 1 1 IN IP4 203.0.113.5\r\ns=answer\r\n\
c=IN IP4 203.0.113.5\r\nt=0 0\r\nm=audio 30000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n";

/// What a transaction handed to its user.
enum TuEvent {
    /// (client) a response.
    Response(Response),
    /// (client) no final response in time (Timer B/F), for a request of this Call-ID.
    Timeout(String),
}

/// Transactions of one user agent and what it has to send.
#[derive(Debug)]
struct Endpoint {
    addr: SocketAddr,
    timers: TimerConfig,
    clients: HashMap<TransactionKey, ClientTransaction>,
    servers: HashMap<TransactionKey, ServerTransaction>,
    transmit: Vec<SipMessage>,
    branches: u64,
}

impl Endpoint {
    fn new(addr: SocketAddr, timers: TimerConfig) -> Self {
        Self {
            addr,
            timers,
            clients: HashMap::new(),
            servers: HashMap::new(),
            transmit: Vec::new(),
            branches: 0,
        }
    }

    fn via(&mut self) -> Via {
        self.branches += 1;
        let branch = format!(
            "{}-ua{}-{}",
            transaction::MAGIC_COOKIE,
            self.addr.port(),
            self.branches
        );
        Via::new(
            "UDP",
            &self.addr.ip().to_string(),
            Some(self.addr.port()),
            &branch,
        )
    }

    /// Starts a client transaction for `request`.
    fn request(&mut self, now: Instant, request: Request, events: &mut Vec<TuEvent>) {
        let key = TransactionKey::for_response(&Response::for_request(&request, 100).build())
            .expect("own request has a key");
        let tx = ClientTransaction::new(request, false, &self.timers, now).expect("a client transaction");
        self.clients.insert(key.clone(), tx);
        self.drain_client(&key, events);
    }

    /// A response from the network: to its client transaction (`None` when none matches).
    fn response(&mut self, now: Instant, response: Response, events: &mut Vec<TuEvent>) -> Option<Response> {
        let Ok(key) = TransactionKey::for_response(&response) else {
            return None;
        };
        let Some(tx) = self.clients.get_mut(&key) else {
            return Some(response);
        };
        tx.handle_input(now, Input::Received(SipMessage::Response(response)))
            .expect("a response input");
        self.drain_client(&key, events);
        None
    }

    /// A request from the network: to its server transaction. `Some` when it starts a new one (the UA
    /// answers it with [`Self::respond`]) or is an ACK no transaction took.
    fn incoming(&mut self, now: Instant, request: Request) -> Option<Request> {
        let key = TransactionKey::for_request(&request).ok()?;
        if let Some(tx) = self.servers.get_mut(&key) {
            tx.handle_input(now, Input::Received(SipMessage::Request(request)))
                .expect("a request input");
            self.drain_server(&key);
            return None;
        }
        if *request.method() == Method::Ack {
            return Some(request);
        }
        let tx =
            ServerTransaction::new(request.clone(), false, &self.timers, now).expect("a server transaction");
        self.servers.insert(key.clone(), tx);
        self.drain_server(&key);
        Some(request)
    }

    /// Sends `response` on the server transaction of `request`.
    fn respond(&mut self, now: Instant, request: &Request, response: Response) {
        let key = TransactionKey::for_request(request).expect("a key");
        if let Some(tx) = self.servers.get_mut(&key) {
            tx.handle_input(now, Input::Respond(response))
                .expect("a response to send");
            self.drain_server(&key);
        }
    }

    /// Gives an ACK for a 2xx to the INVITE server transaction of the same dialog (stops 2xx retransmission).
    fn ack_2xx(&mut self, now: Instant, ack: Request) {
        let call_id = ack.headers().call_id().unwrap_or_default().to_owned();
        let key = self.servers.iter().find_map(|(key, tx)| {
            (*tx.request().method() == Method::Invite
                && tx.request().headers().call_id().ok() == Some(call_id.as_str()))
            .then(|| key.clone())
        });
        if let Some(key) = key {
            if let Some(tx) = self.servers.get_mut(&key) {
                tx.handle_input(now, Input::Received(SipMessage::Request(ack)))
                    .expect("an ACK input");
            }
            self.drain_server(&key);
        }
    }

    fn handle_timeout(&mut self, now: Instant, events: &mut Vec<TuEvent>) {
        let due: Vec<TransactionKey> = self
            .clients
            .iter()
            .filter(|(_, tx)| tx.poll_timeout().is_some_and(|t| t <= now))
            .map(|(k, _)| k.clone())
            .collect();
        for key in due {
            if let Some(tx) = self.clients.get_mut(&key) {
                tx.handle_input(now, Input::Timeout).expect("a timeout");
            }
            self.drain_client(&key, events);
        }
        let due: Vec<TransactionKey> = self
            .servers
            .iter()
            .filter(|(_, tx)| tx.poll_timeout().is_some_and(|t| t <= now))
            .map(|(k, _)| k.clone())
            .collect();
        for key in due {
            if let Some(tx) = self.servers.get_mut(&key) {
                tx.handle_input(now, Input::Timeout).expect("a timeout");
            }
            self.drain_server(&key);
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let clients = self.clients.values().filter_map(ClientTransaction::poll_timeout);
        let servers = self.servers.values().filter_map(ServerTransaction::poll_timeout);
        clients.chain(servers).min()
    }

    fn drain_client(&mut self, key: &TransactionKey, events: &mut Vec<TuEvent>) {
        let Some(tx) = self.clients.get_mut(key) else {
            return;
        };
        let mut done = false;
        while let Some(output) = tx.poll_output() {
            match output {
                transaction::Output::Transmit(m) => self.transmit.push(m),
                transaction::Output::Response(r) => events.push(TuEvent::Response(r)),
                transaction::Output::Timeout => {
                    let r = tx.request();
                    let call_id = r.headers().call_id().unwrap_or_default().to_owned();
                    events.push(TuEvent::Timeout(call_id));
                }
                transaction::Output::Terminated => done = true,
                transaction::Output::Ack(_) => {}
            }
        }
        if done {
            self.clients.remove(key);
        }
    }

    fn drain_server(&mut self, key: &TransactionKey) {
        let Some(tx) = self.servers.get_mut(key) else {
            return;
        };
        let mut done = false;
        while let Some(output) = tx.poll_output() {
            match output {
                transaction::Output::Transmit(m) => self.transmit.push(m),
                transaction::Output::Terminated => done = true,
                _ => {}
            }
        }
        if done {
            self.servers.remove(key);
        }
    }
}

/// How a call ended, as the trunk saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Still up (or never got anywhere).
    Open,
    /// This side hung up and its BYE was answered 200.
    HungUp,
    /// The other side (through the switch) sent BYE; it was answered 200.
    ByeReceived,
    /// The INVITE got a final failure response (status).
    Failed(u16),
    /// A transaction of the call timed out (Timer B or F).
    TimedOut,
}

/// One call as trunk A sees it.
#[derive(Debug, Clone)]
pub struct OutgoingCall {
    /// The call's Call-ID.
    pub call_id: String,
    /// The INVITE sent.
    pub invite: Request,
    /// Statuses of the responses received for the INVITE, in order (retransmissions included).
    pub statuses: Vec<u16>,
    /// The first 2xx.
    pub answer: Option<Response>,
    /// When the first 2xx arrived.
    pub answered_at: Option<Instant>,
    /// ACKs sent (one per 2xx received).
    pub acks_sent: u32,
    /// The last SDP the switch sent in a response to the INVITE (183 or 2xx).
    pub sdp: Option<Vec<u8>>,
    /// When A hangs up (from the answer).
    bye_at: Option<Instant>,
    /// How the call ended.
    pub ending: Ending,
}

/// Trunk A: places calls to the switch and hangs up after `hold`.
#[derive(Debug)]
pub struct Caller {
    ep: Endpoint,
    switch: SocketAddr,
    /// How long an answered call lasts before A hangs up (`None`: A never hangs up).
    pub hold: Option<Duration>,
    /// Every call placed, in order.
    pub calls: Vec<OutgoingCall>,
    /// The `CSeq` of the last in-dialog request sent (counts up from 10 over all calls).
    cseq: u32,
}

impl Caller {
    /// Trunk A at `addr`, sending to the switch at `switch`.
    #[must_use]
    pub fn new(addr: SocketAddr, switch: SocketAddr, timers: TimerConfig, hold: Option<Duration>) -> Self {
        Self {
            ep: Endpoint::new(addr, timers),
            switch,
            hold,
            calls: Vec::new(),
            cseq: 10,
        }
    }

    /// Places a call from `from` (E.164) to `to` (the privacy number) at `now`; returns its index.
    pub fn place(&mut self, now: Instant, from: &str, to: &str) -> usize {
        let index = self.calls.len();
        let addr = self.ep.addr;
        let call_id = format!("sim-a-{index}@{}", addr.ip());
        let uri: Uri = format!("sip:{to}@{}", self.switch).parse().expect("a URI");
        let from_addr = NameAddr::parse(&format!("<sip:{from}@{}>", addr.ip()), "test").expect("a name-addr");
        let to_addr =
            NameAddr::parse(&format!("<sip:{to}@{}>", self.switch.ip()), "test").expect("a name-addr");
        let contact = NameAddr::parse(&format!("<sip:{from}@{addr}>"), "test").expect("a name-addr");
        let via = self.ep.via();
        let invite = Request::builder(Method::Invite, uri)
            .via(&via)
            .from(&from_addr.with_tag(&format!("a{index}")))
            .to(&to_addr)
            .call_id(&call_id)
            .cseq(1)
            .contact(&contact)
            .body("application/sdp", SDP_A.as_bytes().to_vec())
            .build()
            .expect("an INVITE");
        self.calls.push(OutgoingCall {
            call_id,
            invite: invite.clone(),
            statuses: Vec::new(),
            answer: None,
            answered_at: None,
            acks_sent: 0,
            sdp: None,
            bye_at: None,
            ending: Ending::Open,
        });
        let mut events = Vec::new();
        self.ep.request(now, invite, &mut events);
        self.on_events(now, events);
        index
    }

    /// A message from the switch.
    pub fn handle_message(&mut self, now: Instant, message: SipMessage) {
        let mut events = Vec::new();
        match message {
            SipMessage::Response(r) => {
                // A 2xx retransmission after the transaction is gone still gets its ACK (the UA core's job).
                if let Some(stray) = self.ep.response(now, r, &mut events) {
                    if stray.status() / 100 == 2
                        && stray.headers().cseq().is_ok_and(|c| c.method == Method::Invite)
                    {
                        events.push(TuEvent::Response(stray));
                    }
                }
            }
            SipMessage::Request(r) => {
                if let Some(new) = self.ep.incoming(now, r) {
                    if *new.method() != Method::Ack {
                        let call_id = new.headers().call_id().unwrap_or_default().to_owned();
                        if *new.method() == Method::Bye {
                            if let Some(call) = self.calls.iter_mut().find(|c| c.call_id == call_id) {
                                if call.ending == Ending::Open {
                                    call.ending = Ending::ByeReceived;
                                }
                                call.bye_at = None;
                            }
                        }
                        let ok = Response::for_request(&new, 200).build();
                        self.ep.respond(now, &new, ok);
                    }
                }
            }
        }
        self.on_events(now, events);
    }

    fn on_events(&mut self, now: Instant, events: Vec<TuEvent>) {
        for event in events {
            match event {
                TuEvent::Response(r) => self.on_response(now, &r),
                TuEvent::Timeout(call_id) => {
                    if let Some(call) = self.calls.iter_mut().find(|c| c.call_id == call_id) {
                        if call.ending == Ending::Open {
                            call.ending = Ending::TimedOut;
                        }
                    }
                }
            }
        }
    }

    fn on_response(&mut self, now: Instant, r: &Response) {
        let Ok(call_id) = r.headers().call_id() else {
            return;
        };
        let Some(index) = self.calls.iter().position(|c| c.call_id == call_id) else {
            return;
        };
        let Ok(cseq) = r.headers().cseq() else {
            return;
        };
        let status = r.status();
        if cseq.method == Method::Bye {
            let call = &mut self.calls[index];
            if status / 100 == 2 && call.ending == Ending::Open {
                call.ending = Ending::HungUp;
            }
            return;
        }
        if cseq.method != Method::Invite {
            return;
        }
        let hold = self.hold;
        let call = &mut self.calls[index];
        call.statuses.push(status);
        if status < 300 && !r.body().is_empty() {
            call.sdp = Some(r.body().to_vec());
        }
        if status >= 300 && call.ending == Ending::Open {
            call.ending = Ending::Failed(status);
        }
        if status / 100 != 2 {
            return;
        }
        if call.answer.is_none() {
            call.answer = Some(r.clone());
            call.answered_at = Some(now);
            call.bye_at = hold.map(|h| now + h);
        }
        call.acks_sent += 1;
        let via = self.ep.via();
        let ack = in_dialog(Method::Ack, &call.invite, r, &via, 1);
        self.ep.transmit.push(SipMessage::Request(ack));
    }

    /// Sends `method` (BYE, INFO, OPTIONS, UPDATE, INVITE: a re-INVITE with A's SDP) on the dialog of answered
    /// call `index`, or CANCEL for its INVITE; whether there was something to send it on.
    pub fn send(&mut self, now: Instant, index: usize, method: &Method) -> bool {
        let Some(call) = self.calls.get(index) else {
            return false;
        };
        let request = if *method == Method::Cancel {
            call.invite.cancel()
        } else {
            let Some(answer) = call.answer.clone() else {
                return false;
            };
            let invite = call.invite.clone();
            let via = self.ep.via();
            self.cseq += 1;
            let mut request = in_dialog(method.clone(), &invite, &answer, &via, self.cseq);
            if *method == Method::Invite {
                request.set_body(Some("application/sdp"), SDP_A.as_bytes().to_vec());
            }
            request
        };
        let mut events = Vec::new();
        self.ep.request(now, request, &mut events);
        self.on_events(now, events);
        true
    }

    /// Fires what is due at `now`: retransmissions, transaction timeouts, hang-ups.
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut events = Vec::new();
        self.ep.handle_timeout(now, &mut events);
        self.on_events(now, events);
        let due: Vec<usize> = (0..self.calls.len())
            .filter(|&i| self.calls[i].bye_at.is_some_and(|t| t <= now))
            .collect();
        for index in due {
            let call = &mut self.calls[index];
            call.bye_at = None;
            let (Some(answer), Ending::Open) = (call.answer.clone(), call.ending) else {
                continue;
            };
            let invite = call.invite.clone();
            let via = self.ep.via();
            self.cseq += 1;
            let bye = in_dialog(Method::Bye, &invite, &answer, &via, self.cseq);
            let mut events = Vec::new();
            self.ep.request(now, bye, &mut events);
            self.on_events(now, events);
        }
    }

    /// The next instant something is due.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let byes = self.calls.iter().filter_map(|c| c.bye_at);
        self.ep.poll_timeout().into_iter().chain(byes).min()
    }

    /// The next message to send to the switch.
    pub fn poll_transmit(&mut self) -> Option<(SocketAddr, SipMessage)> {
        (!self.ep.transmit.is_empty()).then(|| (self.switch, self.ep.transmit.remove(0)))
    }

    /// This trunk's address.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.ep.addr
    }
}

/// An ACK or BYE from the caller on the dialog `answer` established for `invite`.
fn in_dialog(method: Method, invite: &Request, answer: &Response, via: &Via, cseq: u32) -> Request {
    let h = answer.headers();
    let target = h
        .contacts()
        .ok()
        .and_then(|c| c.first().map(|c| c.uri().clone()))
        .unwrap_or_else(|| invite.uri().clone());
    Request::builder(method, target)
        .via(via)
        .from(&invite.headers().from().expect("From"))
        .to(&h.to().expect("To"))
        .call_id(h.call_id().expect("Call-ID"))
        .cseq(cseq)
        .build()
        .expect("an in-dialog request")
}

/// One call as trunk B sees it.
#[derive(Debug, Clone)]
pub struct IncomingCall {
    /// The first INVITE received.
    pub invite: Request,
    /// INVITEs received for it (1 plus retransmissions).
    pub invites: u32,
    /// When B answers 200 (`None`: not yet due, or done).
    answer_at: Option<Instant>,
    /// The 200 sent.
    pub answered: bool,
    /// ACKs received for the 200.
    pub acks: u32,
    /// How the call ended.
    pub ending: Ending,
}

/// Trunk B: answers what the switch forwards, 180 at once and 200 after `ring`.
#[derive(Debug)]
pub struct Callee {
    ep: Endpoint,
    switch: SocketAddr,
    /// Time from the INVITE to the 200.
    pub ring: Duration,
    /// Every call received, in order.
    pub calls: Vec<IncomingCall>,
}

impl Callee {
    /// Trunk B at `addr`; the switch sends from `switch`.
    #[must_use]
    pub fn new(addr: SocketAddr, switch: SocketAddr, timers: TimerConfig, ring: Duration) -> Self {
        Self {
            ep: Endpoint::new(addr, timers),
            switch,
            ring,
            calls: Vec::new(),
        }
    }

    /// A message from the switch.
    pub fn handle_message(&mut self, now: Instant, message: SipMessage) {
        let SipMessage::Request(r) = message else {
            let mut events = Vec::new();
            let _ = self.ep.response(
                now,
                message.as_response().cloned().expect("a response"),
                &mut events,
            );
            return;
        };
        let call_id = r.headers().call_id().unwrap_or_default().to_owned();
        let method = r.method().clone();
        let Some(new) = self.ep.incoming(now, r.clone()) else {
            if method == Method::Invite {
                if let Some(call) = self
                    .calls
                    .iter_mut()
                    .find(|c| c.invite.headers().call_id().ok() == Some(call_id.as_str()))
                {
                    call.invites += 1;
                }
            }
            return;
        };
        let index = self
            .calls
            .iter()
            .position(|c| c.invite.headers().call_id().ok() == Some(call_id.as_str()));
        match (method, index) {
            (Method::Invite, None) => {
                let ringing = Response::for_request(&new, 180).to_tag("b-tag").build();
                self.ep.respond(now, &new, ringing);
                self.calls.push(IncomingCall {
                    invite: new,
                    invites: 1,
                    answer_at: Some(now + self.ring),
                    answered: false,
                    acks: 0,
                    ending: Ending::Open,
                });
            }
            (Method::Ack, Some(i)) => {
                self.calls[i].acks += 1;
                self.ep.ack_2xx(now, new);
            }
            (Method::Bye, Some(i)) => {
                if self.calls[i].ending == Ending::Open {
                    self.calls[i].ending = Ending::ByeReceived;
                }
                self.calls[i].answer_at = None;
                let ok = Response::for_request(&new, 200).build();
                self.ep.respond(now, &new, ok);
            }
            (Method::Cancel, Some(i)) => {
                let ok = Response::for_request(&new, 200).build();
                self.ep.respond(now, &new, ok);
                let call = &mut self.calls[i];
                if !call.answered {
                    call.answer_at = None;
                    call.ending = Ending::Failed(487);
                    let invite = call.invite.clone();
                    let terminated = Response::for_request(&invite, 487).to_tag("b-tag").build();
                    self.ep.respond(now, &invite, terminated);
                }
            }
            (Method::Ack, None) => {}
            (_, _) => {
                let ok = Response::for_request(&new, 200).build();
                self.ep.respond(now, &new, ok);
            }
        }
    }

    /// Fires what is due at `now`: retransmissions, answers.
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut events = Vec::new();
        self.ep.handle_timeout(now, &mut events);
        let contact = NameAddr::parse(&format!("<sip:b@{}>", self.ep.addr), "test").expect("a name-addr");
        for i in 0..self.calls.len() {
            if self.calls[i].answer_at.is_some_and(|t| t <= now) {
                self.calls[i].answer_at = None;
                self.calls[i].answered = true;
                let invite = self.calls[i].invite.clone();
                let ok = Response::for_request(&invite, 200)
                    .to_tag("b-tag")
                    .contact(&contact)
                    .body("application/sdp", SDP_B.as_bytes().to_vec())
                    .build();
                self.ep.respond(now, &invite, ok);
            }
        }
    }

    /// The next instant something is due.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let answers = self.calls.iter().filter_map(|c| c.answer_at);
        self.ep.poll_timeout().into_iter().chain(answers).min()
    }

    /// The next message to send to the switch.
    pub fn poll_transmit(&mut self) -> Option<(SocketAddr, SipMessage)> {
        (!self.ep.transmit.is_empty()).then(|| (self.switch, self.ep.transmit.remove(0)))
    }

    /// This trunk's address.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.ep.addr
    }
}
