//! The simulated network: latency and loss between the switch and the trunks, on the virtual clock.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// How the network behaves (the same in both directions).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NetworkConfig {
    /// Probability (0.0–1.0) that a message is dropped.
    pub loss: f64,
    /// One-way delay of every message.
    pub latency: Duration,
    /// Up to this much extra delay, drawn per message (messages may overtake each other).
    pub jitter: Duration,
    /// Seed of the loss and jitter draws.
    pub seed: u64,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        Self {
            loss: 0.0,
            latency: Duration::from_millis(10),
            jitter: Duration::ZERO,
            seed: 1,
        }
    }
}

/// A message on its way: the bytes as the sender printed them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    /// Sender's address.
    pub from: SocketAddr,
    /// Receiver's address.
    pub to: SocketAddr,
    /// What was sent.
    pub bytes: Vec<u8>,
}

/// Messages in flight, delivered in order of arrival time.
#[derive(Debug)]
pub struct Network {
    config: NetworkConfig,
    rng: u64,
    seq: u64,
    in_flight: BinaryHeap<Reverse<(Instant, u64, usize)>>,
    slots: Vec<Option<Datagram>>,
    /// Messages sent.
    pub sent: u64,
    /// Messages dropped.
    pub dropped: u64,
}

impl Network {
    /// A network with `config`.
    #[must_use]
    pub fn new(config: NetworkConfig) -> Self {
        Self {
            config,
            // xorshift64* must not start at 0.
            rng: config.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
            seq: 0,
            in_flight: BinaryHeap::new(),
            slots: Vec::new(),
            sent: 0,
            dropped: 0,
        }
    }

    /// Changes loss, latency and jitter from now on (the generator keeps its state).
    pub fn set_config(&mut self, config: NetworkConfig) {
        self.config = config;
    }

    /// The current settings.
    #[must_use]
    pub fn config(&self) -> NetworkConfig {
        self.config
    }

    /// Sends `datagram` at `now`: dropped, or delivered after the latency (plus jitter).
    pub fn send(&mut self, now: Instant, datagram: Datagram) {
        self.sent += 1;
        if self.next_unit() < self.config.loss {
            self.dropped += 1;
            return;
        }
        let jitter = self.config.jitter.mul_f64(self.next_unit());
        let at = now + self.config.latency + jitter;
        self.seq += 1;
        let slot = if let Some(i) = self.slots.iter().position(Option::is_none) {
            self.slots[i] = Some(datagram);
            i
        } else {
            self.slots.push(Some(datagram));
            self.slots.len() - 1
        };
        self.in_flight.push(Reverse((at, self.seq, slot)));
    }

    /// When the next message arrives.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.in_flight.peek().map(|Reverse((at, _, _))| *at)
    }

    /// The next message that has arrived by `now`.
    pub fn poll_delivery(&mut self, now: Instant) -> Option<Datagram> {
        let Reverse((at, _, slot)) = *self.in_flight.peek()?;
        if at > now {
            return None;
        }
        self.in_flight.pop();
        self.slots[slot].take()
    }

    /// Messages still in flight.
    #[must_use]
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// A uniform draw in [0, 1) (xorshift64*: deterministic, good enough for loss patterns).
    fn next_unit(&mut self) -> f64 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        #[allow(clippy::cast_precision_loss)]
        let unit = (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64;
        unit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn datagram(n: u8) -> Datagram {
        Datagram {
            from: "192.0.2.1:5060".parse().unwrap(),
            to: "192.0.2.10:5060".parse().unwrap(),
            bytes: vec![n],
        }
    }

    #[test]
    fn delivers_after_the_latency_in_order() {
        #[allow(clippy::disallowed_methods)]
        let t0 = Instant::now();
        let mut net = Network::new(NetworkConfig::default());
        net.send(t0, datagram(1));
        net.send(t0 + Duration::from_millis(1), datagram(2));
        assert_eq!(net.poll_timeout(), Some(t0 + Duration::from_millis(10)));
        assert_eq!(net.poll_delivery(t0 + Duration::from_millis(9)), None);
        let at = t0 + Duration::from_millis(11);
        assert_eq!(net.poll_delivery(at).unwrap().bytes, [1]);
        assert_eq!(net.poll_delivery(at).unwrap().bytes, [2]);
        assert_eq!(net.poll_delivery(at), None);
        assert_eq!(net.in_flight(), 0);
    }

    #[test]
    fn loss_drops_about_the_configured_share_and_repeats_with_the_seed() {
        #[allow(clippy::disallowed_methods)]
        let t0 = Instant::now();
        let run = |seed| {
            let mut net = Network::new(NetworkConfig {
                loss: 0.05,
                seed,
                ..NetworkConfig::default()
            });
            for _ in 0..10_000 {
                net.send(t0, datagram(0));
            }
            net.dropped
        };
        let dropped = run(7);
        assert!((400..600).contains(&dropped), "{dropped} of 10000 dropped at 5 %");
        assert_eq!(run(7), dropped, "the same seed drops the same messages");
        assert_ne!(run(8), dropped, "another seed, another pattern");
    }
}
