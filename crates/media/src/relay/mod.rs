//! The per-call relay: two legs, symmetric RTP latching, RTP/RTCP forwarding and dead-media detection.
//!
//! Leg [`Leg::A`] faces the caller, [`Leg::B`] the callee. Each leg has a local [`PortPair`] (from
//! [`PortAllocator`]) that its party sends to. A datagram read on leg X's socket is handed to
//! [`RelaySession::handle_packet`], which answers with the *same bytes* and where to send them: from the other
//! leg's local port to the other party. Payloads, sequence numbers, timestamps and SSRCs are never touched.
//!
//! **Latching (symmetric RTP).** Until a leg's party has sent anything, packets for it go to the address from
//! its SDP ([`RelaySession::set_remote`]). A valid packet from an *eligible* source latches that source,
//! separately for RTP and RTCP; from then on packets for the party go to the latched address. Which sources
//! are eligible is a whitelist, [`RelayConfig::sources`]: by default ([`SourcePolicy::SdpHost`]) only the
//! host the party's SDP named, so a packet sprayed at the relay's ports from anywhere else is dropped
//! ([`DropReason::ForeignSource`]) and never learns where the other party's audio goes (the "RTP bleed"
//! attack); [`SourcePolicy::Any`] also admits other hosts, for parties behind NAT whose SDP names a private
//! address. Sources rank: the SDP's address exactly, then another port of the SDP's host, then another host.
//! A packet from another address than the latched one re-latches if (a) it ranks higher, (b) it carries the
//! SSRC of the latched stream (a NAT rebinding), or (c) it ranks the same and the latched source has been
//! silent for [`RelayConfig::relatch_after`]; otherwise it is dropped ([`DropReason::UnlatchedSource`]),
//! so a stray sender cannot hijack the call. A new SDP address for the leg (re-INVITE) clears that leg's
//! latches.
//!
//! **A reused port's previous call.** A port pair is reused by a later call once its call ended. A party of
//! the ended call that keeps sending (its BYE lost) must not be latched by the next one: the runtime hands
//! the new session the sources the previous call had latched on those ports ([`RelaySession::refuse_stale`],
//! [`RelaySession::latched_sources`]), and until their deadline a packet from such an address *with that
//! stream's SSRC* is dropped ([`DropReason::StaleSource`]), also once the new call latched that address. A new
//! stream from that address (RFC 3550 draws a fresh random SSRC per session) latches as usual, and so does
//! anything from the address the new party's SDP names: a device that offers that address to the new call
//! has taken it off the old one.
//!
//! **Dead media.** A stream from leg X's party is *expected* when X's direction sends and the other leg's
//! direction receives ([`RelaySession::set_direction`], from the SDP `a=sendrecv/sendonly/recvonly/inactive`);
//! hold therefore disarms the timer for the held direction. An expected stream with no RTP for
//! [`RelayConfig::media_timeout`] yields [`RelayEvent::MediaTimeout`] once; RTP arriving again re-arms it.
//! Drive it with [`RelaySession::handle_timeout`] at the deadline from [`RelaySession::poll_output`].

mod ports;

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

pub use ports::{DEFAULT_PORT_IDLE, DEFAULT_PORT_REST, PortAllocator, PortPair};

use crate::rtp::{self, RtpPacket};

/// How long a port pair refuses the streams its previous call had latched ([`RelayConfig::stale_for`]): a
/// SIP transaction's lifetime (64·T1), the time a party whose BYE is lost keeps retransmitting it.
pub const DEFAULT_STALE_FOR: Duration = Duration::from_secs(32);

/// One side of the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Leg {
    /// The caller's side.
    A,
    /// The callee's side.
    B,
}

impl Leg {
    /// The other side.
    #[must_use]
    pub fn other(self) -> Self {
        match self {
            Self::A => Self::B,
            Self::B => Self::A,
        }
    }

    pub(crate) fn idx(self) -> usize {
        match self {
            Self::A => 0,
            Self::B => 1,
        }
    }
}

/// Which socket of a leg: the RTP port or the RTCP port (with rtcp-mux, RTCP rides the RTP port).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// The even RTP port.
    Rtp,
    /// The odd RTCP port.
    Rtcp,
}

impl Channel {
    pub(crate) fn idx(self) -> usize {
        match self {
            Self::Rtp => 0,
            Self::Rtcp => 1,
        }
    }
}

/// SDP media direction, from the point of view of the party that declared it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MediaDirection {
    /// `a=sendrecv` (the SDP default).
    #[default]
    SendRecv,
    /// `a=sendonly`.
    SendOnly,
    /// `a=recvonly`.
    RecvOnly,
    /// `a=inactive`.
    Inactive,
}

impl MediaDirection {
    /// Maps an SDP attribute name (`sendrecv`, `sendonly`, `recvonly`, `inactive`).
    pub fn from_sdp_attribute(attr: &str) -> Option<Self> {
        match attr.trim() {
            "sendrecv" => Some(Self::SendRecv),
            "sendonly" => Some(Self::SendOnly),
            "recvonly" => Some(Self::RecvOnly),
            "inactive" => Some(Self::Inactive),
            _ => None,
        }
    }

    /// Whether the party sends media.
    pub fn sends(self) -> bool {
        matches!(self, Self::SendRecv | Self::SendOnly)
    }

    /// Whether the party receives media.
    pub fn receives(self) -> bool {
        matches!(self, Self::SendRecv | Self::RecvOnly)
    }
}

/// Where a party said (in SDP) it wants its media.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoteMedia {
    /// The `c=`/`m=` RTP address.
    pub rtp: SocketAddr,
    /// The RTCP address (`a=rtcp`, else RTP port + 1).
    pub rtcp: SocketAddr,
    /// `a=rtcp-mux`: RTCP shares the RTP address and port.
    pub rtcp_mux: bool,
}

impl RemoteMedia {
    /// RTP at `rtp`, RTCP on the next port (RFC 3550 §11).
    pub fn from_sdp(rtp: SocketAddr) -> Self {
        let mut next_port = rtp;
        next_port.set_port(rtp.port().saturating_add(1));
        Self {
            rtp,
            rtcp: next_port,
            rtcp_mux: false,
        }
    }

    /// RTP and RTCP on one address (RFC 5761).
    pub fn muxed(rtp: SocketAddr) -> Self {
        Self {
            rtp,
            rtcp: rtp,
            rtcp_mux: true,
        }
    }
}

/// Relay settings (plain data; the binary maps its config onto it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayConfig {
    /// No RTP for this long on an expected stream raises [`RelayEvent::MediaTimeout`]; `None` disables it.
    pub media_timeout: Option<Duration>,
    /// A latched source silent for this long may be replaced by a new source address of the same rank.
    pub relatch_after: Duration,
    /// Which source addresses may be latched.
    pub sources: SourcePolicy,
    /// How long after a call ended its ports refuse the streams it had latched ([`DEFAULT_STALE_FOR`]).
    pub stale_for: Duration,
    /// The switch's own relay addresses (`None`: not known, no check). Media is never sent to one, and a
    /// datagram from one is refused ([`DropReason::OwnAddress`]): a party's SDP naming the relay's own port
    /// would otherwise make the relay send to itself, a loop that never ends and takes its thread.
    pub own: Option<OwnPorts>,
}

/// The addresses the switch's relay ports answer on ([`RelayConfig::own`]): its bind and public IPs (and, for a
/// relay bound to every address, the loopback ones) with a port of the relay's whole range. An unspecified
/// address (`0.0.0.0`, `::`: RFC 2543 hold) is never a destination either: Linux delivers what is sent there to
/// the host itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OwnPorts {
    /// The address the relay's sockets are bound to.
    pub bind_ip: IpAddr,
    /// The address the switch's SDP offers (another one behind NAT).
    pub public_ip: IpAddr,
    /// The first port of the relay's range (every shard's).
    pub first: u16,
    /// The last port of the relay's range.
    pub last: u16,
}

impl OwnPorts {
    /// Whether sending to `addr` would reach the relay itself.
    #[must_use]
    pub fn contains(&self, addr: SocketAddr) -> bool {
        let ip = addr.ip().to_canonical();
        if ip.is_unspecified() {
            return true;
        }
        if !(self.first..=self.last).contains(&addr.port()) {
            return false;
        }
        let bind = self.bind_ip.to_canonical();
        ip == bind || ip == self.public_ip.to_canonical() || (bind.is_unspecified() && ip.is_loopback())
    }
}

/// Which source addresses a party's media may be latched from (module docs, "Latching").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SourcePolicy {
    /// Only the host the party's SDP named: its address exactly, or another port of the same IP.
    #[default]
    SdpHost,
    /// Any host; a source on the SDP's host still outranks the others. For parties behind NAT.
    Any,
}

/// A stream a port's previous call had latched: refused on that port until `until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StaleSource {
    /// Its source address.
    pub addr: SocketAddr,
    /// Its SSRC.
    pub ssrc: u32,
    /// Refused until this instant.
    pub until: Instant,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            media_timeout: Some(Duration::from_secs(60)),
            relatch_after: Duration::from_secs(2),
            sources: SourcePolicy::SdpHost,
            stale_for: DEFAULT_STALE_FOR,
            own: None,
        }
    }
}

/// A datagram to send: the bytes handed in, unchanged, from `local_port` of leg `leg` to `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forward<'b> {
    /// The leg whose socket sends it.
    pub leg: Leg,
    /// Which of that leg's sockets.
    pub channel: Channel,
    /// The local port of that socket.
    pub local_port: u16,
    /// Destination.
    pub to: SocketAddr,
    /// The packet, byte for byte as received.
    pub bytes: &'b [u8],
}

/// Why a datagram was not forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DropReason {
    /// Not a valid RTP/RTCP packet.
    Malformed,
    /// The other party has neither sent anything nor been given an SDP address yet.
    NoDestination,
    /// It came from an address other than the latched source, and re-latching is not allowed.
    UnlatchedSource,
    /// It came from a host the party's SDP did not name ([`SourcePolicy::SdpHost`]), or before its SDP.
    ForeignSource,
    /// It belongs to a stream the previous call on this port had latched ([`RelaySession::refuse_stale`]).
    StaleSource,
    /// It came from one of the relay's own ports ([`RelayConfig::own`]): a media loop.
    OwnAddress,
}

/// What [`RelaySession::handle_packet`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayOutcome<'b> {
    /// Send this.
    Forward(Forward<'b>),
    /// Discard the datagram.
    Dropped(DropReason),
}

/// Something the B2BUA or the runtime should know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RelayEvent {
    /// Leg `leg`'s party was latched (or re-latched) at `addr` on `channel`.
    Latched {
        /// The leg.
        leg: Leg,
        /// RTP or RTCP.
        channel: Channel,
        /// The source address now used as destination.
        addr: SocketAddr,
    },
    /// No RTP from leg `leg`'s party for the configured time while it was expected (BYE with a cause).
    MediaTimeout {
        /// The silent leg.
        leg: Leg,
    },
}

/// One output of [`RelaySession::poll_output`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayOutput {
    /// An event to act on.
    Event(RelayEvent),
    /// Nothing more now; call [`RelaySession::handle_timeout`] at this instant (`None`: no timer armed).
    Timeout(Option<Instant>),
}

/// Packet and byte counts of the stream *from* one leg's party (towards the other leg).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StreamCounters {
    /// RTP packets forwarded.
    pub rtp_packets: u64,
    /// RTP bytes forwarded.
    pub rtp_bytes: u64,
    /// RTCP packets forwarded.
    pub rtcp_packets: u64,
    /// RTCP bytes forwarded.
    pub rtcp_bytes: u64,
    /// Datagrams dropped.
    pub dropped: u64,
}

/// How well a source matches the party's SDP; a higher rank replaces a lower one at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Rank {
    /// Another host (or no SDP yet).
    Foreign,
    /// The SDP's IP, another port.
    SameHost,
    /// The SDP's RTP or RTCP address.
    Exact,
}

#[derive(Debug, Clone, Copy)]
struct Latch {
    addr: SocketAddr,
    ssrc: u32,
    rank: Rank,
    last_seen: Instant,
}

#[derive(Debug, Clone)]
struct LegState {
    ports: PortPair,
    remote: Option<RemoteMedia>,
    latch: [Option<Latch>; 2],
    /// Per channel, the stream the previous call on these ports had latched.
    stale: [Option<StaleSource>; 2],
    direction: MediaDirection,
    last_rtp: Instant,
    timed_out: bool,
    counters: StreamCounters,
}

impl LegState {
    fn new(now: Instant, ports: PortPair) -> Self {
        Self {
            ports,
            remote: None,
            latch: [None, None],
            stale: [None, None],
            direction: MediaDirection::SendRecv,
            last_rtp: now,
            timed_out: false,
            counters: StreamCounters::default(),
        }
    }
}

/// The sans-IO relay of one call.
#[derive(Debug, Clone)]
pub struct RelaySession {
    config: RelayConfig,
    legs: [LegState; 2],
    events: VecDeque<RelayEvent>,
}

impl RelaySession {
    /// A relay between local ports `a` (facing the caller) and `b` (facing the callee); timers start at `now`.
    pub fn new(now: Instant, config: RelayConfig, a: PortPair, b: PortPair) -> Self {
        Self {
            config,
            legs: [LegState::new(now, a), LegState::new(now, b)],
            events: VecDeque::new(),
        }
    }

    /// The local ports of `leg` (what the rewritten SDP towards that party advertises).
    pub fn ports(&self, leg: Leg) -> PortPair {
        self.legs[leg.idx()].ports
    }

    /// Sets the address `leg`'s party gave in SDP; a changed address clears that leg's latches.
    pub fn set_remote(&mut self, leg: Leg, remote: RemoteMedia) {
        let state = &mut self.legs[leg.idx()];
        if state.remote != Some(remote) {
            state.latch = [None, None];
        }
        state.remote = Some(remote);
    }

    /// Sets the direction `leg`'s party declared in SDP; a stream that becomes expected starts its timer at `now`.
    pub fn set_direction(&mut self, now: Instant, leg: Leg, direction: MediaDirection) {
        let before = [self.expected(Leg::A), self.expected(Leg::B)];
        self.legs[leg.idx()].direction = direction;
        for l in [Leg::A, Leg::B] {
            if !before[l.idx()] && self.expected(l) {
                let state = &mut self.legs[l.idx()];
                state.last_rtp = now;
                state.timed_out = false;
            }
        }
    }

    /// Restarts the dead-media timers of both legs from `now` (e.g. when the call is answered: ringing without
    /// early media is not dead media).
    pub fn restart_timers(&mut self, now: Instant) {
        for state in &mut self.legs {
            state.last_rtp = now;
            state.timed_out = false;
        }
    }

    /// The direction last set for `leg`.
    pub fn direction(&self, leg: Leg) -> MediaDirection {
        self.legs[leg.idx()].direction
    }

    /// The latched source of `leg`'s party on `channel`, if any.
    pub fn latched(&self, leg: Leg, channel: Channel) -> Option<SocketAddr> {
        self.legs[leg.idx()].latch[channel.idx()].map(|l| l.addr)
    }

    /// The source address and SSRC latched for `leg`'s party, per channel (RTP, RTCP): what the next call on
    /// these ports should refuse ([`Self::refuse_stale`]).
    pub fn latched_sources(&self, leg: Leg) -> [Option<(SocketAddr, u32)>; 2] {
        self.legs[leg.idx()].latch.map(|l| l.map(|l| (l.addr, l.ssrc)))
    }

    /// Refuses `stale` (a stream the previous call on `leg`'s ports had latched) on `channel` until its deadline.
    pub fn refuse_stale(&mut self, leg: Leg, channel: Channel, stale: StaleSource) {
        self.legs[leg.idx()].stale[channel.idx()] = Some(stale);
    }

    /// Where RTP for `leg`'s party goes: its latched source, else the address its SDP declared (the
    /// destination of prompts the switch plays to it).
    pub fn rtp_destination(&self, leg: Leg) -> Option<SocketAddr> {
        let state = &self.legs[leg.idx()];
        state.latch[0]
            .map(|l| l.addr)
            .or_else(|| self.declared(state.remote.map(|r| r.rtp)))
    }

    /// An address a party's SDP declared, unless it is the relay's own (a latched source never is).
    fn declared(&self, addr: Option<SocketAddr>) -> Option<SocketAddr> {
        addr.filter(|&a| !self.config.own.is_some_and(|own| own.contains(a)))
    }

    /// Counters of the stream from `leg`'s party.
    pub fn counters(&self, leg: Leg) -> StreamCounters {
        self.legs[leg.idx()].counters
    }

    /// A datagram arrived on `leg`'s `channel` socket from `from`: decide where the same bytes go.
    ///
    /// RTCP is recognised by the channel, or on the RTP port by the RFC 5761 rule.
    pub fn handle_packet<'b>(
        &mut self,
        now: Instant,
        leg: Leg,
        channel: Channel,
        from: SocketAddr,
        bytes: &'b [u8],
    ) -> RelayOutcome<'b> {
        let kind = if channel == Channel::Rtcp || rtp::is_rtcp(bytes) {
            Channel::Rtcp
        } else {
            Channel::Rtp
        };
        let ssrc = match kind {
            Channel::Rtp => RtpPacket::parse(bytes).ok().map(|p| p.ssrc),
            Channel::Rtcp => (bytes.len() >= 8 && bytes[0] >> 6 == rtp::RTP_VERSION)
                .then(|| u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]])),
        };
        let Some(ssrc) = ssrc else {
            return self.drop(leg, DropReason::Malformed);
        };
        if let Err(reason) = self.latch(now, leg, kind, from, ssrc) {
            return self.drop(leg, reason);
        }
        let Some(forward) = self.destination(leg.other(), kind, bytes) else {
            return self.drop(leg, DropReason::NoDestination);
        };
        let state = &mut self.legs[leg.idx()];
        let len = bytes.len() as u64;
        match kind {
            Channel::Rtp => {
                state.counters.rtp_packets += 1;
                state.counters.rtp_bytes += len;
            }
            Channel::Rtcp => {
                state.counters.rtcp_packets += 1;
                state.counters.rtcp_bytes += len;
            }
        }
        RelayOutcome::Forward(forward)
    }

    /// Fires due timers (dead-media detection).
    pub fn handle_timeout(&mut self, now: Instant) {
        for leg in [Leg::A, Leg::B] {
            if self.deadline(leg).is_some_and(|deadline| now >= deadline) {
                self.legs[leg.idx()].timed_out = true;
                self.events.push_back(RelayEvent::MediaTimeout { leg });
            }
        }
    }

    /// The next instant [`Self::handle_timeout`] has work, if any.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [self.deadline(Leg::A), self.deadline(Leg::B)]
            .into_iter()
            .flatten()
            .min()
    }

    /// The next pending event, if any.
    pub fn poll_event(&mut self) -> Option<RelayEvent> {
        self.events.pop_front()
    }

    /// Drains events, then answers the next deadline.
    pub fn poll_output(&mut self) -> RelayOutput {
        match self.events.pop_front() {
            Some(event) => RelayOutput::Event(event),
            None => RelayOutput::Timeout(self.poll_timeout()),
        }
    }

    fn expected(&self, leg: Leg) -> bool {
        self.legs[leg.idx()].direction.sends() && self.legs[leg.other().idx()].direction.receives()
    }

    fn deadline(&self, leg: Leg) -> Option<Instant> {
        let timeout = self.config.media_timeout?;
        let state = &self.legs[leg.idx()];
        (self.expected(leg) && !state.timed_out).then(|| state.last_rtp + timeout)
    }

    fn latch(
        &mut self,
        now: Instant,
        leg: Leg,
        kind: Channel,
        from: SocketAddr,
        ssrc: u32,
    ) -> Result<(), DropReason> {
        let config = self.config;
        let state = &mut self.legs[leg.idx()];
        // Set only on a reused port for a while after its previous call: one branch per packet otherwise.
        // The address the party's SDP names is exempt: a device that gives it to the new call has moved it
        // off the old one (and may well keep its SSRC, as a pcap replay does).
        let previous = state.stale[kind.idx()];
        if previous.is_some_and(|p| p.addr == from && p.ssrc == ssrc && now < p.until)
            && rank(state.remote, from) != Rank::Exact
        {
            return Err(DropReason::StaleSource);
        }
        match &mut state.latch[kind.idx()] {
            // The hot path: the latched source again.
            Some(latch) if latch.addr == from => {
                latch.last_seen = now;
                latch.ssrc = ssrc;
            }
            slot => {
                // Off the hot path: a latched source is never the relay's own.
                if config.own.is_some_and(|own| own.contains(from)) {
                    return Err(DropReason::OwnAddress);
                }
                let rank = rank(state.remote, from);
                if rank == Rank::Foreign && config.sources == SourcePolicy::SdpHost {
                    return Err(DropReason::ForeignSource);
                }
                if let Some(latch) = slot {
                    let silent = now.saturating_duration_since(latch.last_seen) >= config.relatch_after;
                    let replaces = rank > latch.rank || ssrc == latch.ssrc || (rank == latch.rank && silent);
                    if !replaces {
                        return Err(DropReason::UnlatchedSource);
                    }
                }
                *slot = Some(Latch {
                    addr: from,
                    ssrc,
                    rank,
                    last_seen: now,
                });
                self.events.push_back(RelayEvent::Latched {
                    leg,
                    channel: kind,
                    addr: from,
                });
            }
        }
        if kind == Channel::Rtp {
            state.last_rtp = now;
            state.timed_out = false;
        }
        Ok(())
    }

    fn destination<'b>(&self, out: Leg, kind: Channel, bytes: &'b [u8]) -> Option<Forward<'b>> {
        let state = &self.legs[out.idx()];
        let mux = state.remote.is_some_and(|r| r.rtcp_mux);
        let to = match kind {
            Channel::Rtp => state.latch[0]
                .map(|l| l.addr)
                .or_else(|| self.declared(state.remote.map(|r| r.rtp))),
            Channel::Rtcp => state.latch[1].map(|l| l.addr).or_else(|| {
                if mux {
                    state.latch[0]
                        .map(|l| l.addr)
                        .or_else(|| self.declared(state.remote.map(|r| r.rtp)))
                } else {
                    self.declared(state.remote.map(|r| r.rtcp))
                }
            }),
        }?;
        let channel = if mux { Channel::Rtp } else { kind };
        let local_port = match channel {
            Channel::Rtp => state.ports.rtp,
            Channel::Rtcp => state.ports.rtcp,
        };
        Some(Forward {
            leg: out,
            channel,
            local_port,
            to,
            bytes,
        })
    }

    fn drop<'b>(&mut self, leg: Leg, reason: DropReason) -> RelayOutcome<'b> {
        self.legs[leg.idx()].counters.dropped += 1;
        RelayOutcome::Dropped(reason)
    }
}

/// How `from` matches the SDP of its party (`remote`).
fn rank(remote: Option<RemoteMedia>, from: SocketAddr) -> Rank {
    let Some(remote) = remote else {
        return Rank::Foreign;
    };
    let same = |a: SocketAddr| a.ip().to_canonical() == from.ip().to_canonical();
    if (same(remote.rtp) && remote.rtp.port() == from.port())
        || (same(remote.rtcp) && remote.rtcp.port() == from.port())
    {
        Rank::Exact
    } else if same(remote.rtp) || same(remote.rtcp) {
        Rank::SameHost
    } else {
        Rank::Foreign
    }
}

#[cfg(test)]
mod tests;
