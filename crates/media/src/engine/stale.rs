//! What the relays of closed calls had latched, per port pair, so that the pair's next call refuses those
//! streams for [`RelayConfig::stale_for`](crate::RelayConfig::stale_for) (the relay module docs, "A reused
//! port's previous call").

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use crate::relay::{Channel, Leg, RelaySession, StaleSource};

/// The latched streams of closed calls, by the RTP port of their leg's pair. The map is bounded by the
/// shard's port range (one entry per pair, dropped when the pair is reused or its streams' deadlines pass);
/// the expiry queue by the closes of the last [`RelayConfig::stale_for`](crate::RelayConfig::stale_for)
/// (two per call at most, popped as their deadlines pass).
#[derive(Debug, Default)]
pub(super) struct StalePorts {
    by_port: HashMap<u16, [Option<StaleSource>; 2]>,
    /// (deadline, port) in the order calls closed: the entries to look at when they may have expired.
    expiry: VecDeque<(Instant, u16)>,
}

impl StalePorts {
    /// `session`'s call closed at `now`: remember what each leg latched, refused for `stale_for`. A channel
    /// that latched nothing keeps what an earlier call left (with its own deadline).
    pub(super) fn remember(&mut self, now: Instant, stale_for: Duration, session: &RelaySession) {
        self.expire(now);
        let until = now + stale_for;
        for leg in [Leg::A, Leg::B] {
            let sources = session.latched_sources(leg);
            if sources.iter().all(Option::is_none) {
                continue;
            }
            let port = session.ports(leg).rtp;
            let entry = self.by_port.entry(port).or_default();
            for (slot, source) in entry.iter_mut().zip(sources) {
                if let Some((addr, ssrc)) = source {
                    *slot = Some(StaleSource { addr, ssrc, until });
                }
            }
            self.expiry.push_back((until, port));
        }
    }

    /// A new call got `session`'s ports at `now`: hand it the streams still refused on them.
    pub(super) fn hand_over(&mut self, now: Instant, session: &mut RelaySession) {
        for leg in [Leg::A, Leg::B] {
            let Some(entry) = self.by_port.remove(&session.ports(leg).rtp) else {
                continue;
            };
            for (channel, stale) in [Channel::Rtp, Channel::Rtcp].into_iter().zip(entry) {
                if let Some(stale) = stale.filter(|s| s.until > now) {
                    session.refuse_stale(leg, channel, stale);
                }
            }
        }
    }

    /// Pairs remembered (for tests and memory accounting).
    pub(super) fn len(&self) -> usize {
        self.by_port.len()
    }

    /// Forgets the entries whose every stream's deadline has passed.
    fn expire(&mut self, now: Instant) {
        while let Some(&(until, port)) = self.expiry.front() {
            if until > now {
                return;
            }
            self.expiry.pop_front();
            let live = self
                .by_port
                .get(&port)
                .is_some_and(|e| e.iter().flatten().any(|s| s.until > now));
            if !live {
                self.by_port.remove(&port);
            }
        }
    }
}
