//! The media relay of one shard (`[media] mode = "relay"`): the shard's [`B2bua`](pn_b2bua::B2bua)
//! emits [`MediaCommand`]s; this owns, per call, the four UDP sockets of the two port pairs and the
//! sans-IO [`RelaySession`]. Receive tasks (on the shard's own event loop) hand datagrams to the shard
//! loop through a bounded queue (full: the datagram is dropped); the loop feeds them to the call's
//! session and sends what it forwards from the other leg's socket. Dead-media timeouts come back as
//! `(call, leg)` pairs for [`pn_b2bua::B2bua::handle_media_timeout`]. Everything for a call lives on the
//! call's shard thread: no locks.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pn_b2bua::{MediaCall, MediaCommand};
use pn_media::{Channel, Leg, PortPair, RelayConfig, RelayEvent, RelayOutcome, RelaySession};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Datagrams waiting for the shard loop before new ones are dropped.
pub(crate) const MEDIA_QUEUE: usize = 8192;

/// Largest datagram relayed.
const MAX_DATAGRAM: usize = 2048;

/// A datagram read on one of a call's sockets.
pub(crate) struct Packet {
    call: MediaCall,
    leg: Leg,
    channel: Channel,
    from: SocketAddr,
    bytes: Vec<u8>,
}

/// One call's relay.
struct CallRelay {
    session: RelaySession,
    /// By leg (A, B), then channel (RTP, RTCP).
    sockets: [[Arc<UdpSocket>; 2]; 2],
    tasks: Vec<JoinHandle<()>>,
    /// The deadline this call has in [`Relays::deadlines`] (`None`: none pushed).
    scheduled: Option<Instant>,
}

impl Drop for CallRelay {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// The relays of one shard.
pub(crate) struct Relays {
    bind_ip: IpAddr,
    config: RelayConfig,
    calls: HashMap<MediaCall, CallRelay>,
    /// Dead-media deadlines, earliest first. Lazy: an entry is current only while it equals its call's
    /// `scheduled`; RTP re-arming moves a call's deadline later without a push, so a packet costs O(1) here
    /// and the heap never grows per packet (a stale entry only causes one early wake-up).
    deadlines: BinaryHeap<Reverse<(Instant, MediaCall)>>,
    tx: mpsc::Sender<Packet>,
}

/// Pushes `relay`'s deadline when it is earlier than the one already scheduled.
fn reschedule(
    deadlines: &mut BinaryHeap<Reverse<(Instant, MediaCall)>>,
    call: MediaCall,
    relay: &mut CallRelay,
) {
    if let Some(at) = relay.session.poll_timeout()
        && relay.scheduled.is_none_or(|s| at < s)
    {
        deadlines.push(Reverse((at, call)));
        relay.scheduled = Some(at);
    }
}

fn leg_idx(leg: Leg) -> usize {
    match leg {
        Leg::A => 0,
        Leg::B => 1,
    }
}

fn channel_idx(channel: Channel) -> usize {
    match channel {
        Channel::Rtp => 0,
        Channel::Rtcp => 1,
    }
}

impl Relays {
    /// Relays binding on `bind_ip`, with dead-media timeout `timeout` (zero: off).
    pub(crate) fn new(bind_ip: IpAddr, timeout: Duration, tx: mpsc::Sender<Packet>) -> Self {
        Self {
            bind_ip,
            config: RelayConfig {
                media_timeout: (!timeout.is_zero()).then_some(timeout),
                ..RelayConfig::default()
            },
            calls: HashMap::new(),
            deadlines: BinaryHeap::new(),
            tx,
        }
    }

    /// Carries out one command of the core.
    pub(crate) fn command(&mut self, now: Instant, command: MediaCommand) {
        match command {
            MediaCommand::Open { call, a, b } => match self.open(now, call, a, b) {
                Ok(mut relay) => {
                    reschedule(&mut self.deadlines, call, &mut relay);
                    self.calls.insert(call, relay);
                }
                Err(e) => {
                    tracing::error!(error = %e, ?a, ?b, "cannot bind the media ports of a call: no media relay for it");
                }
            },
            MediaCommand::Remote {
                call,
                leg,
                remote,
                direction,
            } => {
                if let Some(relay) = self.calls.get_mut(&call) {
                    if let Some(remote) = remote {
                        relay.session.set_remote(leg, remote);
                    }
                    relay.session.set_direction(now, leg, direction);
                    reschedule(&mut self.deadlines, call, relay);
                }
            }
            MediaCommand::Answered { call } => {
                if let Some(relay) = self.calls.get_mut(&call) {
                    relay.session.restart_timers(now);
                    reschedule(&mut self.deadlines, call, relay);
                }
            }
            MediaCommand::Close { call } => {
                self.calls.remove(&call);
            }
        }
    }

    fn open(&self, now: Instant, call: MediaCall, a: PortPair, b: PortPair) -> std::io::Result<CallRelay> {
        let bind = |port: u16| -> std::io::Result<Arc<UdpSocket>> {
            let socket = std::net::UdpSocket::bind(SocketAddr::new(self.bind_ip, port))?;
            socket.set_nonblocking(true)?;
            Ok(Arc::new(UdpSocket::from_std(socket)?))
        };
        let sockets = [[bind(a.rtp)?, bind(a.rtcp)?], [bind(b.rtp)?, bind(b.rtcp)?]];
        let mut tasks = Vec::with_capacity(4);
        for (leg, pair) in [(Leg::A, &sockets[0]), (Leg::B, &sockets[1])] {
            for (channel, socket) in [(Channel::Rtp, &pair[0]), (Channel::Rtcp, &pair[1])] {
                tasks.push(tokio::spawn(receive(
                    Arc::clone(socket),
                    call,
                    leg,
                    channel,
                    self.tx.clone(),
                )));
            }
        }
        Ok(CallRelay {
            session: RelaySession::new(now, self.config, a, b),
            sockets,
            tasks,
            scheduled: None,
        })
    }

    /// A datagram from a call's socket: forwarded unchanged, or dropped.
    pub(crate) fn packet(&mut self, now: Instant, packet: &Packet, timeouts: &mut Vec<(MediaCall, Leg)>) {
        let Some(relay) = self.calls.get_mut(&packet.call) else {
            return;
        };
        let outcome =
            relay
                .session
                .handle_packet(now, packet.leg, packet.channel, packet.from, &packet.bytes);
        if let RelayOutcome::Forward(f) = outcome {
            let socket = &relay.sockets[leg_idx(f.leg)][channel_idx(f.channel)];
            if let Err(e) = socket.try_send_to(f.bytes, f.to) {
                tracing::trace!(to = %f.to, error = %e, "media send failed");
            }
        }
        drain_events(packet.call, &mut relay.session, timeouts);
        reschedule(&mut self.deadlines, packet.call, relay);
    }

    /// The earliest scheduled dead-media deadline (possibly a stale, earlier one: see `deadlines`).
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.deadlines.peek().map(|Reverse((at, _))| *at)
    }

    /// Fires due dead-media timers; the calls whose media died are pushed to `timeouts`. Only the calls whose
    /// scheduled deadline has passed are visited.
    pub(crate) fn handle_timeout(&mut self, now: Instant, timeouts: &mut Vec<(MediaCall, Leg)>) {
        while let Some(&Reverse((at, call))) = self.deadlines.peek() {
            if at > now {
                break;
            }
            self.deadlines.pop();
            let Some(relay) = self.calls.get_mut(&call) else {
                continue;
            };
            if relay.scheduled != Some(at) {
                continue;
            }
            relay.scheduled = None;
            if relay.session.poll_timeout().is_some_and(|due| due <= now) {
                relay.session.handle_timeout(now);
            }
            drain_events(call, &mut relay.session, timeouts);
            reschedule(&mut self.deadlines, call, relay);
        }
    }

    /// Calls with a relay.
    pub(crate) fn len(&self) -> usize {
        self.calls.len()
    }
}

fn drain_events(call: MediaCall, session: &mut RelaySession, timeouts: &mut Vec<(MediaCall, Leg)>) {
    while let Some(event) = session.poll_event() {
        match event {
            RelayEvent::MediaTimeout { leg } => timeouts.push((call, leg)),
            RelayEvent::Latched { leg, channel, addr } => {
                tracing::debug!(?call, ?leg, ?channel, %addr, "media latched");
            }
            _ => {}
        }
    }
}

/// Reads datagrams of one socket into the shard's queue until aborted.
async fn receive(
    socket: Arc<UdpSocket>,
    call: MediaCall,
    leg: Leg,
    channel: Channel,
    tx: mpsc::Sender<Packet>,
) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        match socket.recv_from(&mut buf).await {
            Ok((n, from)) => {
                let packet = Packet {
                    call,
                    leg,
                    channel,
                    from,
                    bytes: buf[..n].to_vec(),
                };
                match tx.try_send(packet) {
                    Ok(()) | Err(mpsc::error::TrySendError::Full(_)) => {}
                    Err(mpsc::error::TrySendError::Closed(_)) => return,
                }
            }
            Err(e) => {
                tracing::trace!(error = %e, "media receive error");
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    }
}

/// The `[first, last]` port slice of shard `index` of `count`: the range split in equal runs of whole pairs.
pub(crate) fn shard_ports(first: u16, last: u16, index: u16, count: u16) -> Option<(u16, u16)> {
    let start = u32::from(first) + u32::from(first % 2);
    let pairs = (u32::from(last) + 1).saturating_sub(start) / 2;
    let per = pairs / u32::from(count.max(1));
    if per == 0 {
        return None;
    }
    let lo = start + u32::from(index) * per * 2;
    let hi = lo + per * 2 - 1;
    Some((u16::try_from(lo).ok()?, u16::try_from(hi).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_range_is_split_per_shard() {
        assert_eq!(shard_ports(30000, 39999, 0, 1), Some((30000, 39999)));
        assert_eq!(shard_ports(30000, 39999, 0, 2), Some((30000, 34999)));
        assert_eq!(shard_ports(30000, 39999, 1, 2), Some((35000, 39999)));
        assert_eq!(shard_ports(30001, 30004, 0, 1), Some((30002, 30003)));
        assert_eq!(shard_ports(30000, 30001, 0, 2), None);
    }
}
