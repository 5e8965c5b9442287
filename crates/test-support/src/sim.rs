//! The simulator: the switch, trunk A, trunk B and the network between them on one virtual clock.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use pn_b2bua::{
    B2bua, B2buaConfig, CallFact, Cdr, EventType, MediaCommand, MediaEvent, Output, Peer, RouteLookup, Shard,
    Transport,
};
use pn_bindings::{CallbackRecord, UnixTime};
use pn_sip::SipMessage;
use pn_sip::transaction::TimerConfig;

use crate::net::{Datagram, Network, NetworkConfig};
use crate::ua::{Callee, Caller};

/// Trunk A's address (a trusted peer of the switch).
pub const A_ADDR: &str = "192.0.2.1:5060";
/// The switch's address.
pub const SWITCH_ADDR: &str = "192.0.2.10:5060";
/// Trunk B's address (the switch's egress).
pub const B_ADDR: &str = "192.0.2.50:5060";
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
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            net: NetworkConfig::default(),
            b2b: B2buaConfig::default(),
            trunk_timers: TimerConfig::default(),
            hold: Some(Duration::from_secs(5)),
            ring: Duration::from_millis(500),
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
    /// AXE callback records the switch emitted.
    pub callbacks: Vec<CallbackRecord>,
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
            trusted_peers: vec![a_addr.ip()],
            ..config.b2b
        };
        #[allow(clippy::disallowed_methods)] // the one real Instant: the origin of the virtual clock
        let start = Instant::now();
        Self {
            now: start,
            start,
            b2b: B2bua::new(b2b_config, Shard { index: 0, count: 1 }),
            router,
            net: Network::new(config.net),
            a: Caller::new(a_addr, switch, config.trunk_timers.clone(), config.hold),
            b: Callee::new(b_addr, switch, config.trunk_timers, config.ring),
            switch,
            facts: Vec::new(),
            media: Vec::new(),
            callbacks: Vec::new(),
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

    /// Runs for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) {
        self.run_until(d, |_| false);
    }

    /// Delivers what has arrived and fires what is due, at `now`.
    fn step(&mut self) {
        while let Some(datagram) = self.net.poll_delivery(self.now) {
            self.deliver(&datagram);
            self.flush();
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

    /// Moves everything the switch and the trunks want sent into the network, and takes the switch's other
    /// outputs (facts, media commands, callback records).
    fn flush(&mut self) {
        loop {
            let mut closed = Vec::new();
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
                        if let MediaCommand::Close { call, .. } = &command {
                            closed.push(*call);
                        }
                        self.media.push(command);
                    }
                    Output::Callback(record) => self.callbacks.push(record),
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
            if closed.is_empty() {
                return;
            }
            // The relay's sockets close at once here: report it, as the runtime does.
            let wall = self.wall();
            for call in closed {
                self.b2b
                    .handle_media_event(self.now, wall, MediaEvent::Closed { call }, &self.router);
            }
        }
    }

    /// The CDRs written so far.
    #[must_use]
    pub fn cdrs(&self) -> Vec<&Cdr> {
        self.facts
            .iter()
            .filter_map(|f| match f {
                CallFact::Cdr(c) => Some(c),
                CallFact::Event(_) => None,
            })
            .collect()
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
