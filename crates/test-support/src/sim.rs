//! The simulator: the switch, trunk A, trunk B and the network between them on one virtual clock.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use pn_b2bua::{
    B2bua, B2buaConfig, CallFact, Cdr, EventType, MediaCommand, MediaEvent, Output, Peer, RouteLookup, Shard,
    Transport,
};
use pn_bindings::{CallbackRecord, UnixTime};
use pn_media::PortAllocator;
use pn_sip::SipMessage;
use pn_sip::sdp::SessionDescription;
use pn_sip::transaction::TimerConfig;

use crate::media::{MediaConfig, Relay};
use crate::net::{Datagram, Network, NetworkConfig};
use crate::rtp_ua::RtpEndpoint;
use crate::ua::{Callee, Caller};

/// Trunk A's address (a trusted peer of the switch).
pub const A_ADDR: &str = "192.0.2.1:5060";
/// The switch's address.
pub const SWITCH_ADDR: &str = "192.0.2.10:5060";
/// Trunk B's address (the switch's egress).
pub const B_ADDR: &str = "192.0.2.50:5060";
/// The RTP address of A's party (what trunk A's SDP declares).
pub const RTP_A_ADDR: &str = "198.51.100.1:49170";
/// The RTP address of B's party (what trunk B's SDP declares).
pub const RTP_B_ADDR: &str = "203.0.113.5:30000";
/// The wall-clock time at the start of every simulation.
pub const WALL_START: UnixTime = UnixTime(1_700_000_000);

/// How a simulation is set up.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The network between the switch and both trunks.
    pub net: NetworkConfig,
    /// The switch's settings (addresses are filled in by [`Sim::new`]).
    pub b2b: B2buaConfig,
    /// The trunks' transaction timers.
    pub trunk_timers: TimerConfig,
    /// How long A keeps an answered call (`None`: never hangs up).
    pub hold: Option<Duration>,
    /// B's time from INVITE to 200.
    pub ring: Duration,
    /// Relay mode: the switch anchors media, run by a pn-media engine on the media network (`None`: bypass,
    /// no media commands are carried out).
    pub media: Option<MediaConfig>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            net: NetworkConfig::default(),
            b2b: B2buaConfig::default(),
            trunk_timers: TimerConfig::default(),
            hold: Some(Duration::from_secs(5)),
            ring: Duration::from_millis(500),
            media: None,
        }
    }
}

/// The switch, its trunks and the network, on a virtual clock.
pub struct Sim<R: RouteLookup> {
    /// The virtual time.
    pub now: Instant,
    /// When the simulation started.
    pub start: Instant,
    /// The switch (one shard).
    pub b2b: B2bua,
    /// What the switch asks for routes.
    pub router: R,
    /// The network.
    pub net: Network,
    /// Trunk A.
    pub a: Caller,
    /// Trunk B.
    pub b: Callee,
    /// The switch's address.
    pub switch: SocketAddr,
    /// Call facts the switch emitted.
    pub facts: Vec<CallFact>,
    /// Media commands the switch emitted (relay mode).
    pub media: Vec<MediaCommand>,
    /// The switch's media engine (relay mode).
    pub relay: Option<Relay>,
    /// The network RTP travels on (relay mode).
    pub media_net: Network,
    /// A's party's media.
    pub rtp_a: RtpEndpoint,
    /// B's party's media.
    pub rtp_b: RtpEndpoint,
    /// AXE callback records the switch emitted.
    pub callbacks: Vec<CallbackRecord>,
    /// X-mode asks the switch emitted (answer with [`B2bua::handle_customer_reply`]).
    pub asks: Vec<pn_b2bua::XAsk>,
    /// The last [`RECENT`] messages the switch sent, oldest first, with their destination.
    pub recent: VecDeque<(SocketAddr, SipMessage)>,
}

/// How many of the switch's messages [`Sim::recent`] keeps.
pub const RECENT: usize = 16;

impl<R: RouteLookup> Sim<R> {
    /// A simulation with `router` and `config`.
    #[must_use]
    pub fn new(router: R, config: SimConfig) -> Self {
        let a_addr: SocketAddr = A_ADDR.parse().expect("an address");
        let switch: SocketAddr = SWITCH_ADDR.parse().expect("an address");
        let b_addr: SocketAddr = B_ADDR.parse().expect("an address");
        let b2b_config = B2buaConfig {
            local_host: SWITCH_ADDR.to_owned(),
            egress: vec![b_addr],
            trusted_peers: vec![a_addr.ip().into()],
            ..config.b2b
        };
        #[allow(clippy::disallowed_methods)] // the one real Instant: the origin of the virtual clock
        let start = Instant::now();
        let mut b2b = B2bua::new(b2b_config, Shard { index: 0, count: 1 });
        let relay = config.media.as_ref().map(|media| {
            let relay = Relay::new(media);
            let ports = PortAllocator::new(media.ports.0, media.ports.1).expect("a port range");
            b2b.enable_media_relay(relay.ip(), ports);
            relay
        });
        let media_net = config.media.map_or(NetworkConfig::default(), |m| m.net);
        Self {
            now: start,
            start,
            b2b,
            router,
            net: Network::new(config.net),
            a: Caller::new(a_addr, switch, config.trunk_timers.clone(), config.hold),
            b: Callee::new(b_addr, switch, config.trunk_timers, config.ring),
            switch,
            facts: Vec::new(),
            media: Vec::new(),
            relay,
            media_net: Network::new(media_net),
            rtp_a: RtpEndpoint::new(RTP_A_ADDR.parse().expect("an address"), 0x0A0A_0001),
            rtp_b: RtpEndpoint::new(RTP_B_ADDR.parse().expect("an address"), 0x0B0B_0002),
            callbacks: Vec::new(),
            asks: Vec::new(),
            recent: VecDeque::new(),
        }
    }

    /// Delivers `bytes` to the switch now, as sent by `from` (outside the network: no loss, no latency).
    /// Bytes that do not parse are dropped, as the runtime does before the B2BUA (it answers 400 itself);
    /// returns whether they parsed.
    pub fn inject(&mut self, from: SocketAddr, bytes: &[u8]) -> bool {
        let Ok(message) = SipMessage::parse(bytes) else {
            return false;
        };
        let peer = Peer {
            addr: from,
            transport: Transport::Udp,
        };
        let wall = self.wall();
        self.b2b
            .handle_message(self.now, wall, peer, message, &self.router);
        self.flush();
        true
    }

    /// The wall-clock time the switch is told now.
    #[must_use]
    pub fn wall(&self) -> UnixTime {
        let elapsed = i64::try_from((self.now - self.start).as_secs()).unwrap_or(i64::MAX);
        UnixTime(WALL_START.0.saturating_add(elapsed))
    }

    /// Trunk A places a call from `from` to `to` now; returns its index in `a.calls`.
    pub fn place_call(&mut self, from: &str, to: &str) -> usize {
        let index = self.a.place(self.now, from, to);
        self.flush();
        index
    }

    /// Runs until `done` holds or `limit` of virtual time has passed; whether `done` held.
    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&Self) -> bool) -> bool {
        let end = self.now + limit;
        loop {
            self.flush();
            if done(self) {
                return true;
            }
            let next = [
                self.net.poll_timeout(),
                self.b2b.poll_timeout(),
                self.a.poll_timeout(),
                self.b.poll_timeout(),
                self.media_net.poll_timeout(),
                self.relay.as_ref().and_then(Relay::poll_timeout),
                self.rtp_a.poll_timeout(),
                self.rtp_b.poll_timeout(),
            ]
            .into_iter()
            .flatten()
            .min();
            match next {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    self.step();
                }
                _ => {
                    self.now = end;
                    return done(self);
                }
            }
        }
    }

    /// Hands the customer's answer to an X-mode ask to the switch now (see [`Sim::asks`]).
    pub fn customer_reply(&mut self, call: pn_b2bua::XCall, reply: pn_b2bua::CustomerReply) {
        let wall = self.wall();
        self.b2b
            .handle_customer_reply(self.now, wall, call, reply, &self.router);
        self.flush();
    }

    /// Runs for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) {
        self.run_until(d, |_| false);
    }

    /// Delivers what has arrived and fires what is due, at `now`.
    fn step(&mut self) {
        while let Some(datagram) = self.net.poll_delivery(self.now) {
            self.deliver(&datagram);
            self.follow_sdp();
            self.flush();
        }
        while let Some(datagram) = self.media_net.poll_delivery(self.now) {
            self.deliver_media(&datagram);
            self.flush();
        }
        if let Some(relay) = self.relay.as_mut()
            && relay.poll_timeout().is_some_and(|t| t <= self.now)
        {
            relay.handle_timeout(self.now);
            self.flush();
        }
        if self.rtp_a.poll_timeout().is_some_and(|t| t <= self.now) {
            self.rtp_a.handle_timeout(self.now);
        }
        if self.rtp_b.poll_timeout().is_some_and(|t| t <= self.now) {
            self.rtp_b.handle_timeout(self.now);
        }
        if self.b2b.poll_timeout().is_some_and(|t| t <= self.now) {
            let wall = self.wall();
            self.b2b.handle_timeout(self.now, wall, &self.router);
        }
        if self.a.poll_timeout().is_some_and(|t| t <= self.now) {
            self.a.handle_timeout(self.now);
        }
        if self.b.poll_timeout().is_some_and(|t| t <= self.now) {
            self.b.handle_timeout(self.now);
        }
    }

    fn deliver(&mut self, datagram: &Datagram) {
        let message = SipMessage::parse(&datagram.bytes).unwrap_or_else(|e| {
            panic!(
                "{} sent {} what does not parse ({e}):\n{}",
                datagram.from,
                datagram.to,
                String::from_utf8_lossy(&datagram.bytes)
            )
        });
        if datagram.to == self.switch {
            let from = Peer {
                addr: datagram.from,
                transport: Transport::Udp,
            };
            let wall = self.wall();
            self.b2b
                .handle_message(self.now, wall, from, message, &self.router);
        } else if datagram.to == self.a.addr() {
            self.a.handle_message(self.now, message);
        } else if datagram.to == self.b.addr() {
            self.b.handle_message(self.now, message);
        }
    }

    /// A datagram of the media network: to the switch's media engine or to a party's endpoint.
    fn deliver_media(&mut self, datagram: &Datagram) {
        if let Some(relay) = self.relay.as_mut()
            && relay.handle_datagram(self.now, datagram)
        {
            return;
        }
        if datagram.to == self.rtp_a.addr() {
            self.rtp_a.handle_datagram(self.now, datagram);
        } else if datagram.to == self.rtp_b.addr() {
            self.rtp_b.handle_datagram(self.now, datagram);
        }
    }

    /// Points each endpoint (that follows SDP) at the media address of the SDP its trunk last received from
    /// the switch: A's from the last call's 183/2xx, B's from the last INVITE.
    fn follow_sdp(&mut self) {
        if self.rtp_a.follow_sdp
            && let Some(addr) = self
                .a
                .calls
                .last()
                .and_then(|c| c.sdp.as_deref())
                .and_then(sdp_addr)
        {
            self.rtp_a.target = Some(addr);
        }
        if self.rtp_b.follow_sdp
            && let Some(addr) = self.b.calls.last().and_then(|c| sdp_addr(c.invite.body()))
        {
            self.rtp_b.target = Some(addr);
        }
    }

    /// Moves everything the switch, the trunks and the endpoints want sent into the networks, carries out the
    /// switch's media commands (relay mode) and hands the engine's reports back, and takes the switch's other
    /// outputs (facts, media commands, callback records).
    fn flush(&mut self) {
        loop {
            // The media plane's reports for the switch.
            let mut reports = Vec::new();
            while let Some(output) = self.b2b.poll_output() {
                match output {
                    Output::Send { to, message } => {
                        self.net.send(
                            self.now,
                            Datagram {
                                from: self.switch,
                                to: to.addr,
                                bytes: message.to_bytes(),
                            },
                        );
                        if self.recent.len() == RECENT {
                            self.recent.pop_front();
                        }
                        self.recent.push_back((to.addr, message));
                    }
                    Output::Fact(fact) => self.facts.push(fact),
                    Output::Media(command) => {
                        self.media.push(command.clone());
                        if let Some(relay) = self.relay.as_mut() {
                            relay.handle_command(self.now, command);
                        } else if let MediaCommand::Close { call, .. } = &command {
                            // No relay: no sockets to close, report it at once as the runtime does.
                            reports.push(MediaEvent::Closed { call: *call });
                        }
                    }
                    Output::Callback(record) => self.callbacks.push(record),
                    Output::Ask(ask) => self.asks.push(ask),
                    Output::Trunk(_) => {}
                }
            }
            while let Some((to, message)) = self.a.poll_transmit() {
                let from = self.a.addr();
                self.net.send(
                    self.now,
                    Datagram {
                        from,
                        to,
                        bytes: message.to_bytes(),
                    },
                );
            }
            while let Some((to, message)) = self.b.poll_transmit() {
                let from = self.b.addr();
                self.net.send(
                    self.now,
                    Datagram {
                        from,
                        to,
                        bytes: message.to_bytes(),
                    },
                );
            }
            if let Some(relay) = self.relay.as_mut() {
                while let Some(datagram) = relay.poll_transmit() {
                    self.media_net.send(self.now, datagram);
                }
                while let Some(event) = relay.poll_event() {
                    reports.push(event);
                }
            }
            for endpoint in [&mut self.rtp_a, &mut self.rtp_b] {
                while let Some(datagram) = endpoint.poll_transmit() {
                    self.media_net.send(self.now, datagram);
                }
            }
            if reports.is_empty() {
                return;
            }
            let wall = self.wall();
            for event in reports {
                self.b2b.handle_media_event(self.now, wall, event, &self.router);
            }
        }
    }

    /// The CDRs written so far.
    #[must_use]
    pub fn cdrs(&self) -> Vec<&Cdr> {
        self.facts
            .iter()
            .filter_map(|f| match f {
                CallFact::Cdr(c) => Some(&**c),
                CallFact::Event(_) | CallFact::Sms(_) => None,
            })
            .collect()
    }

    /// The media call of the last relay the switch opened.
    #[must_use]
    pub fn last_media_call(&self) -> Option<pn_b2bua::MediaCall> {
        self.media.iter().rev().find_map(|m| match m {
            MediaCommand::Open { call, .. } => Some(*call),
            _ => None,
        })
    }

    /// The stateCodes of the disconnect events written so far.
    #[must_use]
    pub fn disconnect_codes(&self) -> Vec<Option<u16>> {
        self.facts
            .iter()
            .filter_map(|f| match f {
                CallFact::Event(e) if e.event_type == EventType::Disconnect => Some(e.status_info.state_code),
                _ => None,
            })
            .collect()
    }
}

/// The RTP address the first audio section of an SDP body names (`None`: no SDP, or no usable address).
#[must_use]
pub fn sdp_addr(body: &[u8]) -> Option<SocketAddr> {
    let sdp = SessionDescription::parse(body).ok()?;
    let media = sdp.media().first()?;
    let port = media.media_line().ok()?.port;
    let connection = media.connection().or_else(|| sdp.connection())?.ok()?;
    let ip = connection.address.split('/').next()?.parse().ok()?;
    Some(SocketAddr::new(ip, port))
}
