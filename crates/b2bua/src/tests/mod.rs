//! Scenario tests on a virtual clock: a fake trunk A, a fake callee trunk B, a fake route lookup.
//!
//! Only the tests that look into the engine's private state (calls, dialogs and transactions all gone after
//! a call) stay here; every scenario that uses only the public API lives in pn-test-support
//! (`crates/test-support/tests/`: `flows`, `extensions`, `ivr`, `privacy`, `relay_sdp`) on `script::Switch`, the same
//! harness made public.

mod extensions;
mod media;
mod probe;
mod scenarios;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use pn_bindings::{AppId, BindingId, CdrDirection, Connect, Mode, RouteDecision, UnixTime};
use pn_numbers::E164;
use pn_sip::{Method, Request, Response, SipMessage};

use crate::{
    B2bua, B2buaConfig, CallFact, EventType, Output, Peer, RouteLookup, Shard, Subscription, Transport,
};

pub(crate) const A_NUM: &str = "+8613800000001";
pub(crate) const X_NUM: &str = "+8617000000000";
pub(crate) const B_NUM: &str = "+8613900000002";

pub(crate) fn a_peer() -> Peer {
    Peer {
        addr: "192.0.2.1:5060".parse().unwrap(),
        transport: Transport::Udp,
    }
}

pub(crate) fn b_addr() -> SocketAddr {
    "192.0.2.50:5060".parse().unwrap()
}

pub(crate) fn b_peer() -> Peer {
    Peer {
        addr: b_addr(),
        transport: Transport::Udp,
    }
}

pub(crate) fn e164(s: &str) -> E164 {
    pn_numbers::normalize(s).unwrap()
}

/// Returns one fixed decision.
pub(crate) struct FakeRouter {
    pub decision: RouteDecision,
}

impl FakeRouter {
    pub(crate) fn connect(max_duration_secs: u32) -> Self {
        Self {
            decision: RouteDecision::Connect(Connect {
                callee: e164(B_NUM),
                display: e164(X_NUM),
                max_duration_secs,
                record: false,
                binding: BindingId(7),
                app: AppId(1),
                mode: Mode::Axb,
                direction: CdrDirection::AToB,
                callback: None,
            }),
        }
    }
}

impl RouteLookup for FakeRouter {
    fn decide(
        &self,
        _caller: Option<E164>,
        _called: E164,
        _ext: Option<&str>,
        _now: UnixTime,
    ) -> RouteDecision {
        self.decision.clone()
    }

    fn call_prompts(&self, _connect: &Connect) -> crate::CallPrompts {
        crate::CallPrompts::default()
    }

    fn app_prompts(&self, _app: AppId) -> crate::AppPrompts {
        crate::AppPrompts::default()
    }

    fn app_echo(&self, _app: AppId) -> Option<crate::AppEcho> {
        Some(crate::AppEcho {
            app_key: "key-1".into(),
            mode: Mode::Axb,
        })
    }

    fn subscription(&self, binding: BindingId) -> Option<Subscription> {
        Some(Subscription {
            subscription_id: format!("sub-{}", binding.0),
            user_data: Some("ud".into()),
        })
    }
}

pub(crate) fn config() -> B2buaConfig {
    B2buaConfig {
        local_host: "192.0.2.10:5060".into(),
        egress: vec![b_addr()],
        trusted_peers: vec!["192.0.2.1".parse().unwrap()],
        host_name: "pn.test".into(),
        // Scenarios that need them turn these on: the other flows stay exactly as they are.
        dialog_probe_secs: 0,
        max_call_secs: 0,
        ..B2buaConfig::default()
    }
}

/// The switch on a virtual clock, with everything it sent.
pub(crate) struct Sim {
    pub b2b: B2bua,
    pub router: FakeRouter,
    pub now: Instant,
    pub wall: UnixTime,
    pub facts: Vec<CallFact>,
    /// Media commands (relay mode).
    pub media: Vec<crate::MediaCommand>,
    /// Answer every [`crate::MediaCommand::Close`] with [`crate::MediaEvent::Closed`] at once, as the
    /// runtime does once the sockets are closed (default true).
    pub close_relays: bool,
}

impl Sim {
    pub(crate) fn new(router: FakeRouter) -> Self {
        Self::with_config(router, config())
    }

    /// A switch with settings of its own (start from [`config`]).
    pub(crate) fn with_config(router: FakeRouter, config: B2buaConfig) -> Self {
        #[allow(clippy::disallowed_methods)] // tests need one real Instant to start the virtual clock
        let now = Instant::now();
        Self {
            b2b: B2bua::new(config, Shard { index: 3, count: 4 }),
            router,
            now,
            wall: UnixTime(1_700_000_000),
            facts: Vec::new(),
            media: Vec::new(),
            close_relays: true,
        }
    }

    /// Feeds a message and returns what was sent.
    pub(crate) fn input(&mut self, from: Peer, message: SipMessage) -> Vec<(Peer, SipMessage)> {
        let router = &self.router;
        self.b2b
            .handle_message(self.now, self.wall, from, message, router);
        self.drain()
    }

    pub(crate) fn send_a(&mut self, message: impl Into<SipMessage>) -> Vec<(Peer, SipMessage)> {
        self.input(a_peer(), message.into())
    }

    pub(crate) fn send_b(&mut self, message: impl Into<SipMessage>) -> Vec<(Peer, SipMessage)> {
        self.input(b_peer(), message.into())
    }

    /// Moves the clock forward by `d`, firing timers on the way.
    pub(crate) fn advance(&mut self, d: Duration) -> Vec<(Peer, SipMessage)> {
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

    pub(crate) fn drain(&mut self) -> Vec<(Peer, SipMessage)> {
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
                        if let crate::MediaCommand::Close { call, .. } = m {
                            closed.push(call);
                        }
                        self.media.push(m);
                    }
                    Output::Callback(_) => {}
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

    /// Reports that the sockets of `call` are closed, as the runtime does after a `Close`.
    pub(crate) fn closed(&mut self, call: crate::MediaCall) {
        let event = crate::MediaEvent::Closed { call };
        self.b2b
            .handle_media_event(self.now, self.wall, event, &self.router);
    }

    pub(crate) fn events(&self) -> Vec<EventType> {
        self.facts
            .iter()
            .filter_map(|f| match f {
                CallFact::Event(e) => Some(e.event_type),
                CallFact::Cdr(_) => None,
            })
            .collect()
    }

    pub(crate) fn cdrs(&self) -> Vec<&crate::Cdr> {
        self.facts
            .iter()
            .filter_map(|f| match f {
                CallFact::Cdr(c) => Some(&**c),
                CallFact::Event(_) => None,
            })
            .collect()
    }

    pub(crate) fn disconnect_code(&self) -> Option<u16> {
        self.facts.iter().find_map(|f| match f {
            CallFact::Event(e) if e.event_type == EventType::Disconnect => e.status_info.state_code,
            _ => None,
        })
    }
}

/// `A<-180`, `B<-INVITE`, …
pub(crate) fn summary(sent: &[(Peer, SipMessage)]) -> Vec<String> {
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

pub(crate) const SDP_A: &str = "v=0\r\no=alice 2890844526 2890844526 IN IP4 198.51.100.1\r\ns=call\r\n\
c=IN IP4 198.51.100.1\r\nt=0 0\r\nm=audio 49170 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\n";

pub(crate) const SDP_B: &str = "v=0\r\no=bob 1 1 IN IP4 203.0.113.5\r\ns=answer\r\n\
c=IN IP4 203.0.113.5\r\nt=0 0\r\nm=audio 30000 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n";

/// A's INVITE to X.
pub(crate) fn a_invite(branch: &str, call_id: &str) -> Request {
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
pub(crate) fn b_response(request: &Request, status: u16, sdp: bool) -> Response {
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
pub(crate) fn a_response(request: &Request, status: u16) -> Response {
    Response::for_request(request, status).build()
}

/// An in-dialog request from A on the dialog the 200 `ok` established.
pub(crate) fn a_in_dialog(method: &Method, ok: &Response, cseq: u32, branch: &str) -> Request {
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
pub(crate) fn b_in_dialog(method: Method, invite: &Request, cseq: u32, branch: &str) -> Request {
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
pub(crate) fn a_ack(ok: &Response, branch: &str) -> Request {
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

pub(crate) fn request(m: &SipMessage) -> &Request {
    m.as_request().unwrap()
}

pub(crate) fn response(m: &SipMessage) -> &Response {
    m.as_response().unwrap()
}
