//! The switch alone on a virtual clock, driven message by message: for tests that assert the exact message
//! sequence of a call flow (what pn-b2bua's scenario tests did inside the crate).
//!
//! A [`Switch`] holds one [`B2bua`] shard (shard 3 of 4, so its Call-IDs and branches carry the shard) and a
//! [`FakeRouter`]. The test plays both trunks itself: [`Switch::send_a`] / [`Switch::send_b`] hand the switch
//! one message from A (`192.0.2.1:5060`) or B (`192.0.2.50:5060`) and return everything the switch sent in
//! answer; [`Switch::advance`] moves the clock, firing due timers, and returns what they sent. Every message
//! the switch sends must parse back to itself. Facts, media commands and callback records are kept. The
//! helpers build the trunks' messages ([`a_invite`], [`b_response`], [`a_in_dialog`], …) and summarise what
//! was sent ([`summary`]: `A<-180 INVITE`, `B<-BYE`, …). Unlike [`crate::Sim`], there is no network and no
//! media engine: media events are handed in by the test.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use pn_b2bua::{B2bua, B2buaConfig, CallFact, EventType, Output, Peer, Shard, Transport};
use pn_bindings::UnixTime;
use pn_numbers::E164;
use pn_sip::{Method, Request, Response, SipMessage};

use crate::FakeRouter;

/// A's number (the caller).
pub const A_NUM: &str = "+8613800000001";
/// The privacy number A dials.
pub const X_NUM: &str = "+8617000000000";
/// B's number (the callee of the binding).
pub const B_NUM: &str = "+8613900000002";

/// Trunk A, a trusted peer.
pub fn a_peer() -> Peer {
    Peer {
        addr: "192.0.2.1:5060".parse().unwrap(),
        transport: Transport::Udp,
    }
}

/// Trunk B's address (the egress).
pub fn b_addr() -> SocketAddr {
    "192.0.2.50:5060".parse().unwrap()
}

/// Trunk B.
pub fn b_peer() -> Peer {
    Peer {
        addr: b_addr(),
        transport: Transport::Udp,
    }
}

/// `s` normalised.
///
/// # Panics
/// If `s` is not a number.
pub fn e164(s: &str) -> E164 {
    pn_numbers::normalize(s).unwrap()
}

/// The switch's settings in these tests: A trusted, B the egress, no probes, no default call limit.
pub fn config() -> B2buaConfig {
    B2buaConfig {
        local_host: "192.0.2.10:5060".into(),
        egress: vec![b_addr()],
        trusted_peers: vec!["192.0.2.1/32".parse().unwrap()],
        host_name: "pn.test".into(),
        // Scenarios that need them turn these on: the other flows stay exactly as they are.
        dialog_probe_secs: 0,
        max_call_secs: 0,
        ..B2buaConfig::default()
    }
}

/// The switch on a virtual clock, with everything it sent.
pub struct Switch {
    /// The switch.
    pub b2b: B2bua,
    /// What it asks for routes.
    pub router: FakeRouter,
    /// The virtual time.
    pub now: Instant,
    /// The wall-clock time the switch is told.
    pub wall: UnixTime,
    /// Call facts the switch emitted.
    pub facts: Vec<CallFact>,
    /// Media commands (relay mode).
    pub media: Vec<pn_b2bua::MediaCommand>,
    /// AXE callback records handed out.
    pub callbacks: Vec<pn_bindings::CallbackRecord>,
    /// X-mode asks (Block `callin`s) handed out; answer with [`Switch::customer_reply`].
    pub asks: Vec<pn_b2bua::XAsk>,
    /// Answer every [`pn_b2bua::MediaCommand::Close`] with [`pn_b2bua::MediaEvent::Closed`] at once, as the
    /// runtime does once the sockets are closed (default true).
    pub close_relays: bool,
    /// The trunks B legs were placed on, in order.
    pub trunk_uses: Vec<pn_b2bua::TrunkUse>,
}

impl Switch {
    /// A switch with [`config`].
    #[must_use]
    pub fn new(router: FakeRouter) -> Self {
        Self::with_config(router, config())
    }

    /// A switch with settings of its own (start from [`config`]).
    #[must_use]
    pub fn with_config(router: FakeRouter, config: B2buaConfig) -> Self {
        #[allow(clippy::disallowed_methods)] // tests need one real Instant to start the virtual clock
        let now = Instant::now();
        Self {
            b2b: B2bua::new(config, Shard { index: 3, count: 4 }),
            router,
            now,
            wall: UnixTime(1_700_000_000),
            facts: Vec::new(),
            media: Vec::new(),
            callbacks: Vec::new(),
            asks: Vec::new(),
            close_relays: true,
            trunk_uses: Vec::new(),
        }
    }

    /// Feeds a message and returns what was sent.
    pub fn input(&mut self, from: Peer, message: SipMessage) -> Vec<(Peer, SipMessage)> {
        let router = &self.router;
        self.b2b
            .handle_message(self.now, self.wall, from, message, router);
        self.drain()
    }

    /// Feeds a message from A; returns what was sent.
    pub fn send_a(&mut self, message: impl Into<SipMessage>) -> Vec<(Peer, SipMessage)> {
        self.input(a_peer(), message.into())
    }

    /// Feeds a message from B; returns what was sent.
    pub fn send_b(&mut self, message: impl Into<SipMessage>) -> Vec<(Peer, SipMessage)> {
        self.input(b_peer(), message.into())
    }

    /// Moves the clock forward by `d`, firing timers on the way.
    pub fn advance(&mut self, d: Duration) -> Vec<(Peer, SipMessage)> {
        let target = self.now + d;
        let mut sent = Vec::new();
        while let Some(t) = self.b2b.poll_timeout().filter(|t| *t <= target) {
            let t = t.max(self.now);
            self.wall = UnixTime(self.wall.0 + (t - self.now).as_secs() as i64);
            self.now = t;
            self.b2b.handle_timeout(self.now, self.wall, &self.router);
            sent.extend(self.drain());
        }
        self.wall = UnixTime(self.wall.0 + (target - self.now).as_secs() as i64);
        self.now = target;
        sent
    }

    /// Takes the switch's outputs: returns what it sent, keeps the rest (and answers each `Close` with
    /// `Closed` while [`Self::close_relays`]).
    ///
    /// # Panics
    /// If a message sent does not parse back to itself.
    pub fn drain(&mut self) -> Vec<(Peer, SipMessage)> {
        let mut sent = Vec::new();
        loop {
            let mut closed = Vec::new();
            while let Some(o) = self.b2b.poll_output() {
                match o {
                    Output::Send { to, message } => {
                        // Everything sent must parse back.
                        let reparsed = SipMessage::parse(&message.to_bytes()).unwrap();
                        assert_eq!(reparsed, message);
                        sent.push((to, message));
                    }
                    Output::Fact(f) => self.facts.push(f),
                    Output::Media(m) => {
                        if let pn_b2bua::MediaCommand::Close { call, .. } = m {
                            closed.push(call);
                        }
                        self.media.push(m);
                    }
                    Output::Callback(r) => self.callbacks.push(r),
                    Output::Ask(a) => self.asks.push(a),
                    Output::Trunk(t) => self.trunk_uses.push(t),
                }
            }
            if closed.is_empty() || !self.close_relays {
                return sent;
            }
            for call in closed {
                self.closed(call);
            }
        }
    }

    /// Hands the customer's answer to an X-mode ask to the switch; returns what was sent.
    pub fn customer_reply(
        &mut self,
        call: pn_b2bua::XCall,
        reply: pn_b2bua::CustomerReply,
    ) -> Vec<(Peer, SipMessage)> {
        let router = &self.router;
        self.b2b
            .handle_customer_reply(self.now, self.wall, call, reply, router);
        self.drain()
    }

    /// Reports that the sockets of `call` are closed, as the runtime does after a `Close`.
    pub fn closed(&mut self, call: pn_b2bua::MediaCall) {
        let event = pn_b2bua::MediaEvent::Closed { call };
        self.b2b
            .handle_media_event(self.now, self.wall, event, &self.router);
    }

    /// The names of the trunks B legs were placed on, in order.
    #[must_use]
    pub fn used_trunks(&self) -> Vec<&str> {
        self.trunk_uses.iter().map(|u| u.trunk.as_str()).collect()
    }

    /// The types of the call events so far.
    #[must_use]
    pub fn events(&self) -> Vec<EventType> {
        self.facts
            .iter()
            .filter_map(|f| match f {
                CallFact::Event(e) => Some(e.event_type),
                CallFact::Cdr(_) | CallFact::Sms(_) => None,
            })
            .collect()
    }

    /// The CDRs so far.
    #[must_use]
    pub fn cdrs(&self) -> Vec<&pn_b2bua::Cdr> {
        self.facts
            .iter()
            .filter_map(|f| match f {
                CallFact::Cdr(c) => Some(&**c),
                CallFact::Event(_) | CallFact::Sms(_) => None,
            })
            .collect()
    }

    /// The SMS notifications so far.
    #[must_use]
    pub fn sms_notices(&self) -> Vec<&pn_b2bua::sms::SmsNotice> {
        self.facts
            .iter()
            .filter_map(|f| match f {
                CallFact::Sms(n) => Some(&**n),
                CallFact::Event(_) | CallFact::Cdr(_) => None,
            })
            .collect()
    }

    /// The stateCode of the first disconnect event.
    #[must_use]
    pub fn disconnect_code(&self) -> Option<u16> {
        self.facts.iter().find_map(|f| match f {
            CallFact::Event(e) if e.event_type == EventType::Disconnect => e.status_info.state_code,
            _ => None,
        })
    }
}

/// `A<-180`, `B<-INVITE`, …
///
/// # Panics
/// If a response has no `CSeq`.
#[must_use]
pub fn summary(sent: &[(Peer, SipMessage)]) -> Vec<String> {
    sent.iter()
        .map(|(to, m)| {
            let side = if *to == a_peer() {
                "A"
            } else if *to == b_peer() {
                "B"
            } else {
                "?"
            };
            match m {
                SipMessage::Request(r) => format!("{side}<-{}", r.method()),
                SipMessage::Response(r) => {
                    format!("{side}<-{} {}", r.status(), r.headers().cseq().unwrap().method)
                }
            }
        })
        .collect()
}

/// SDP of A's offers (PCMA only).
pub const SDP_A: &str = "v=0\r\no=alice 2890844526 2890844526 IN IP4 198.51.100.1\r\ns=call\r\n\
c=IN IP4 198.51.100.1\r\nt=0 0\r\nm=audio 49170 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\n";

/// SDP of B's answers (PCMA only).
pub const SDP_B: &str = "v=0\r\no=bob 1 1 IN IP4 203.0.113.5\r\ns=answer\r\n\
c=IN IP4 203.0.113.5\r\nt=0 0\r\nm=audio 30000 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n";

/// A's INVITE to X.
#[must_use]
pub fn a_invite(branch: &str, call_id: &str) -> Request {
    let raw = format!(
        "INVITE sip:{X_NUM}@192.0.2.10:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.1:5060;branch={branch}\r\n\
Max-Forwards: 70\r\n\
From: <sip:{A_NUM}@192.0.2.1>;tag=a-tag\r\n\
To: <sip:{X_NUM}@192.0.2.10>\r\n\
Call-ID: {call_id}\r\n\
CSeq: 10 INVITE\r\n\
Contact: <sip:{A_NUM}@192.0.2.1:5060>\r\n\
Allow: INVITE, ACK, BYE, CANCEL, OPTIONS\r\n\
Supported: timer\r\n\
Session-Expires: 1800;refresher=uac\r\n\
Content-Type: application/sdp\r\n\
Content-Length: {}\r\n\r\n{SDP_A}",
        SDP_A.len()
    );
    Request::parse(raw.as_bytes()).unwrap()
}

/// B's response to the B-leg INVITE (or any request B received).
#[must_use]
pub fn b_response(request: &Request, status: u16, sdp: bool) -> Response {
    let mut b = Response::for_request(request, status).to_tag("b-tag");
    if (101..300).contains(&status) {
        b = b.header("Contact", &format!("<sip:{B_NUM}@192.0.2.50:5060>"));
    }
    if sdp {
        b = b.body("application/sdp", SDP_B.as_bytes().to_vec());
    }
    b.build()
}

/// A's response to a request pnswitch sent A.
#[must_use]
pub fn a_response(request: &Request, status: u16) -> Response {
    Response::for_request(request, status).build()
}

/// An in-dialog request from A on the dialog the 200 `ok` established.
#[must_use]
pub fn a_in_dialog(method: &Method, ok: &Response, cseq: u32, branch: &str) -> Request {
    let h = ok.headers();
    let mut b = Request::builder(method.clone(), h.contacts().unwrap()[0].uri().clone())
        .via(&pn_sip::Via::new("UDP", "192.0.2.1", Some(5060), branch))
        .from(&h.from().unwrap())
        .to(&h.to().unwrap())
        .call_id(h.call_id().unwrap())
        .cseq(cseq);
    if *method == Method::Invite {
        b = b.body("application/sdp", SDP_A.as_bytes().to_vec());
    }
    b.build().unwrap()
}

/// An in-dialog request from B on the B-leg dialog (`invite`: the B-leg INVITE B received).
#[must_use]
pub fn b_in_dialog(method: Method, invite: &Request, cseq: u32, branch: &str) -> Request {
    let h = invite.headers();
    let to = h.from().unwrap();
    let from = h.to().unwrap().with_tag("b-tag");
    Request::builder(method, h.contacts().unwrap()[0].uri().clone())
        .via(&pn_sip::Via::new("UDP", "192.0.2.50", Some(5060), branch))
        .from(&from)
        .to(&to)
        .call_id(h.call_id().unwrap())
        .cseq(cseq)
        .build()
        .unwrap()
}

/// The ACK A sends for the 2xx `ok`.
#[must_use]
pub fn a_ack(ok: &Response, branch: &str) -> Request {
    let h = ok.headers();
    Request::builder(Method::Ack, h.contacts().unwrap()[0].uri().clone())
        .via(&pn_sip::Via::new("UDP", "192.0.2.1", Some(5060), branch))
        .from(&h.from().unwrap())
        .to(&h.to().unwrap())
        .call_id(h.call_id().unwrap())
        .cseq(h.cseq().unwrap().seq)
        .build()
        .unwrap()
}

/// `m` as a request.
///
/// # Panics
/// If it is a response.
#[must_use]
pub fn request(m: &SipMessage) -> &Request {
    m.as_request().unwrap()
}

/// `m` as a response.
///
/// # Panics
/// If it is a request.
#[must_use]
pub fn response(m: &SipMessage) -> &Response {
    m.as_response().unwrap()
}

/// A router connecting every call to B showing X (an AXB binding, id 7, app 1), with `max_duration_secs`;
/// its subscription carries user data `ud`.
#[must_use]
pub fn router(max_duration_secs: u32) -> FakeRouter {
    let mut router = FakeRouter::connect(e164(B_NUM), e164(X_NUM), max_duration_secs);
    router.user_data = Some("ud".into());
    router
}

/// A router refusing every call with `cause`; its subscription carries user data `ud`.
#[must_use]
pub fn reject(cause: u16) -> FakeRouter {
    let mut router = FakeRouter::reject(cause);
    router.user_data = Some("ud".into());
    router
}
