//! RTP/RTCP port-pair allocation over a configured range: a pure data structure that hands out numbers.
//!
//! The runtime binds the sockets; the pool only knows which pairs it may hand out, and which of them the
//! runtime keeps bound ("warm") between calls. Time is an argument (`now`): nothing here reads a clock.
//!
//! # A pair's life
//!
//! - **cold**: never handed out, or its sockets were closed. The runtime binds them when the pair is next used.
//! - **in use**: handed out by [`PortAllocator::allocate`] to a call.
//! - **resting**: the call ended ([`PortAllocator::release`]); the runtime keeps the pair's sockets bound
//!   ("parked", with no call to deliver to) and the pair waits for the *rest* time (default 1 s) so that stray
//!   packets of the ended call do not reach the next one.
//! - **rested**: the rest is over; still bound, the first choice of the next call.
//! - **cooling**: rested and unused for the *idle* time (default 10 s): handed to the runtime for closing
//!   ([`PortAllocator::take_idle`]), not allocatable; cold again once the runtime reports its sockets closed
//!   ([`PortAllocator::cooled`]).
//! - **set aside**: the runtime could not bind it although the pool thought it free (another process holds one
//!   of its ports, [`PortAllocator::set_aside`]).
//!
//! Resting and rested pairs are *warm*; warm and cold pairs are *free*. The `now` given to successive calls must
//! never go backwards (one shard's monotonic clock): the queues are kept in release order.
//!
//! The pool's idea of "warm" is a promise about order, not a record of the runtime's sockets: a warm pair the
//! runtime never bound (its call ended before the relay opened) is simply bound when next used, and has nothing
//! to close when it goes idle.
//!
//! # Allocation order
//!
//! 1. the rested pair released most recently (LIFO among the rested: the set of warm pairs stays as small as the
//!    load needs, and the others go idle and are closed);
//! 2. else a cold pair, the one waiting longest first (FIFO);
//! 3. else the resting pair released longest ago (the range is too small for the load: a short rest is better
//!    than a refusal);
//! 4. else the pair set aside longest ago (whatever held it may have let it go).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::MediaError;

/// How long a released pair rests before it is the first choice again ([`PortAllocator::with_timing`]).
pub const DEFAULT_PORT_REST: Duration = Duration::from_secs(1);

/// How long a rested pair may stay unused before its sockets are closed ([`PortAllocator::with_timing`]).
pub const DEFAULT_PORT_IDLE: Duration = Duration::from_secs(10);

/// An RTP port (even) and its RTCP port (RTP + 1), as allocated for one leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortPair {
    /// The even RTP port.
    pub rtp: u16,
    /// The odd RTCP port, `rtp + 1`.
    pub rtcp: u16,
}

/// Where a pair of the range is (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// Cold, resting or rested: in one of the free queues.
    Free,
    InUse,
    Aside,
    Cooling,
}

/// Hands out even/odd port pairs from a range, warm (still bound) pairs first; the runtime binds the sockets.
/// See the module docs for the states and the allocation order.
#[derive(Debug, Clone)]
pub struct PortAllocator {
    first: u16,
    rest: Duration,
    idle: Duration,
    slots: Vec<Slot>,
    /// Cold pairs, the one waiting longest first.
    cold: VecDeque<u16>,
    /// Pairs released less than `rest` ago, by release time (oldest first).
    resting: VecDeque<(Instant, u16)>,
    /// Pairs whose rest is over, by release time (oldest first): allocated from the back, closed from the front.
    rested: VecDeque<(Instant, u16)>,
    /// Pairs whose bind failed, oldest first: handed out only when nothing else is free.
    aside: VecDeque<u16>,
    /// Pairs handed to the runtime for closing.
    cooling: usize,
}

impl PortAllocator {
    /// A pool over `first..=last`, every pair cold, with the default rest and idle times; an odd `first` is
    /// rounded up, and each pair needs both of its ports in range.
    pub fn new(first: u16, last: u16) -> Result<Self, MediaError> {
        let start = u32::from(first) + u32::from(first % 2);
        let pairs = if u32::from(last) > start {
            (u32::from(last) - start).div_ceil(2)
        } else {
            0
        };
        if pairs == 0 || start == 0 {
            return Err(MediaError::BadPortRange { first, last });
        }
        let cold = (0..pairs).map(|i| (start + 2 * i) as u16).collect();
        Ok(Self {
            first: start as u16,
            rest: DEFAULT_PORT_REST,
            idle: DEFAULT_PORT_IDLE,
            slots: vec![Slot::Free; pairs as usize],
            cold,
            resting: VecDeque::new(),
            rested: VecDeque::new(),
            aside: VecDeque::new(),
            cooling: 0,
        })
    }

    /// The same pool with released pairs resting for `rest` and closed after `idle` more unused.
    #[must_use]
    pub fn with_timing(mut self, rest: Duration, idle: Duration) -> Self {
        self.rest = rest;
        self.idle = idle;
        self
    }

    /// Takes a pair, in the order of the module docs.
    pub fn allocate(&mut self, now: Instant) -> Result<PortPair, MediaError> {
        self.settle(now);
        let rtp = self
            .rested
            .pop_back()
            .map(|(_, rtp)| rtp)
            .or_else(|| self.cold.pop_front())
            .or_else(|| self.resting.pop_front().map(|(_, rtp)| rtp))
            .or_else(|| self.aside.pop_front())
            .ok_or(MediaError::PortsExhausted)?;
        if let Some(slot) = self.slot(rtp) {
            self.slots[slot] = Slot::InUse;
        }
        Ok(PortPair { rtp, rtcp: rtp + 1 })
    }

    /// Returns a pair whose call ended at `now`: it rests (its sockets stay bound in the runtime). Answers false
    /// (and changes nothing) for a pair not allocated here.
    pub fn release(&mut self, pair: PortPair, now: Instant) -> bool {
        if !self.take_in_use(pair) {
            return false;
        }
        self.settle(now);
        self.resting.push_back((now, pair.rtp));
        true
    }

    /// Returns a pair whose sockets could not be bound (a port of it is held outside this pool): it is handed
    /// out again only when no other pair is free. Answers false (and changes nothing) for a pair not allocated
    /// here.
    pub fn set_aside(&mut self, pair: PortPair) -> bool {
        if !self.take_in_use(pair) {
            return false;
        }
        if let Some(slot) = self.slot(pair.rtp) {
            self.slots[slot] = Slot::Aside;
        }
        self.aside.push_back(pair.rtp);
        true
    }

    /// The rested pairs unused for the idle time at `now`, oldest first: they are no longer allocatable
    /// (cooling) until [`Self::cooled`]. The runtime closes their sockets, then reports each cooled.
    pub fn take_idle(&mut self, now: Instant) -> Vec<PortPair> {
        self.settle(now);
        let mut idle = Vec::new();
        while let Some(&(released, rtp)) = self.rested.front() {
            if released + self.rest + self.idle > now {
                break;
            }
            self.rested.pop_front();
            if let Some(slot) = self.slot(rtp) {
                self.slots[slot] = Slot::Cooling;
            }
            self.cooling += 1;
            idle.push(PortPair { rtp, rtcp: rtp + 1 });
        }
        idle
    }

    /// The sockets of a pair from [`Self::take_idle`] are closed: it is cold again, last in line. Answers false
    /// (and changes nothing) for a pair not cooling.
    pub fn cooled(&mut self, pair: PortPair) -> bool {
        match self.slot(pair.rtp) {
            Some(slot) if self.slots[slot] == Slot::Cooling && pair.rtcp.checked_sub(1) == Some(pair.rtp) => {
                self.slots[slot] = Slot::Free;
                self.cooling -= 1;
                self.cold.push_back(pair.rtp);
                true
            }
            _ => false,
        }
    }

    /// When [`Self::take_idle`] will next have a pair to give (`None`: no pair is warm).
    pub fn next_idle(&self) -> Option<Instant> {
        let oldest = self.rested.front().or_else(|| self.resting.front())?;
        Some(oldest.0 + self.rest + self.idle)
    }

    /// How many pairs are free: warm or cold (not counting those set aside or cooling).
    pub fn available(&self) -> usize {
        self.cold.len() + self.warm()
    }

    /// How many free pairs are warm (resting or rested: the runtime keeps their sockets bound).
    pub fn warm(&self) -> usize {
        self.resting.len() + self.rested.len()
    }

    /// How many pairs are set aside.
    pub fn set_aside_count(&self) -> usize {
        self.aside.len()
    }

    /// How many pairs the runtime is closing ([`Self::take_idle`], not yet [`Self::cooled`]).
    pub fn cooling(&self) -> usize {
        self.cooling
    }

    /// How many pairs the range holds.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Moves the pairs whose rest is over at `now` from resting to rested.
    fn settle(&mut self, now: Instant) {
        while let Some(&(released, rtp)) = self.resting.front() {
            if released + self.rest > now {
                break;
            }
            self.resting.pop_front();
            self.rested.push_back((released, rtp));
        }
    }

    /// Marks an allocated pair not in use; false when it is not in use.
    fn take_in_use(&mut self, pair: PortPair) -> bool {
        match self.slot(pair.rtp) {
            Some(slot) if self.slots[slot] == Slot::InUse && pair.rtcp.checked_sub(1) == Some(pair.rtp) => {
                self.slots[slot] = Slot::Free;
                true
            }
            _ => false,
        }
    }

    fn slot(&self, rtp: u16) -> Option<usize> {
        let offset = rtp.checked_sub(self.first)?;
        let slot = usize::from(offset / 2);
        (offset % 2 == 0 && slot < self.slots.len()).then_some(slot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tests' origin of time (only the differences matter).
    #[allow(clippy::disallowed_methods)] // a test's fixed starting point, not the core reading a clock
    fn origin() -> Instant {
        Instant::now()
    }

    const REST: Duration = Duration::from_secs(2);
    const IDLE: Duration = Duration::from_secs(10);

    fn pair(rtp: u16) -> PortPair {
        PortPair { rtp, rtcp: rtp + 1 }
    }

    /// Four pairs: 40000, 40002, 40004, 40006, resting `REST` and cooling after `IDLE`.
    fn pool() -> PortAllocator {
        PortAllocator::new(40_000, 40_007)
            .unwrap()
            .with_timing(REST, IDLE)
    }

    fn secs(t0: Instant, s: f64) -> Instant {
        t0 + Duration::from_secs_f64(s)
    }

    #[test]
    fn allocates_even_pairs_in_order_and_refuses_bad_releases() {
        let t0 = origin();
        let mut pool = PortAllocator::new(30001, 30008).unwrap();
        assert_eq!(pool.capacity(), 3); // 30002, 30004, 30006 (30008 has no 30009)
        let a = pool.allocate(t0).unwrap();
        assert_eq!(a, pair(30002));
        let b = pool.allocate(t0).unwrap();
        let c = pool.allocate(t0).unwrap();
        assert_eq!((b.rtp, c.rtp), (30004, 30006));
        assert_eq!(pool.allocate(t0), Err(MediaError::PortsExhausted));
        assert!(pool.release(a, t0));
        assert!(!pool.release(a, t0), "double release is refused");
        assert!(!pool.release(
            PortPair {
                rtp: 30005,
                rtcp: 30006
            },
            t0
        ));
        assert!(!pool.release(pair(40000), t0));
        assert!(!pool.cooled(b), "a pair in use is not cooling");
        assert_eq!((pool.available(), pool.warm()), (1, 1));
    }

    #[test]
    fn defaults_are_one_and_ten_seconds() {
        let t0 = origin();
        let mut pool = PortAllocator::new(40_000, 40_007).unwrap();
        let a = pool.allocate(t0).unwrap();
        pool.release(a, t0);
        assert_eq!(pool.next_idle(), Some(t0 + DEFAULT_PORT_REST + DEFAULT_PORT_IDLE));
        assert_eq!(
            (DEFAULT_PORT_REST, DEFAULT_PORT_IDLE),
            (Duration::from_secs(1), Duration::from_secs(10))
        );
    }

    #[test]
    fn cold_pairs_come_before_resting_ones_fifo() {
        let t0 = origin();
        let mut pool = pool();
        let a = pool.allocate(t0).unwrap();
        assert_eq!(a, pair(40_000));
        pool.release(a, t0);
        // `a` rests: the cold pairs come first, in order.
        assert_eq!(pool.allocate(secs(t0, 1.0)).unwrap(), pair(40_002));
        assert_eq!(pool.allocate(secs(t0, 1.0)).unwrap(), pair(40_004));
    }

    #[test]
    fn a_rested_pair_comes_first_the_most_recently_released() {
        let t0 = origin();
        let mut pool = pool();
        let [a, b, c] = [(); 3].map(|()| pool.allocate(t0).unwrap());
        pool.release(a, t0);
        pool.release(b, secs(t0, 0.5));
        pool.release(c, secs(t0, 1.0));
        // At 2.6 s the rest of `a` and `b` is over, not that of `c`: `b` (released last of the rested), then `a`,
        // both before the cold 40006.
        let at = secs(t0, 2.6);
        assert_eq!(pool.allocate(at).unwrap(), b);
        assert_eq!(pool.allocate(at).unwrap(), a);
        assert_eq!(pool.allocate(at).unwrap(), pair(40_006), "then the cold pair");
        assert_eq!(pool.allocate(at).unwrap(), c, "then the resting one");
        assert_eq!(pool.allocate(at), Err(MediaError::PortsExhausted));
    }

    #[test]
    fn without_rested_or_cold_pairs_the_longest_resting_comes_first() {
        let t0 = origin();
        let mut pool = pool();
        let pairs = [(); 4].map(|()| pool.allocate(t0).unwrap());
        for (i, p) in pairs.iter().enumerate().rev() {
            // Released 40006 first, 40000 last.
            pool.release(*p, secs(t0, 0.1 * (4 - i) as f64));
        }
        let at = secs(t0, 1.0);
        assert_eq!(pool.allocate(at).unwrap(), pairs[3]);
        assert_eq!(pool.allocate(at).unwrap(), pairs[2]);
    }

    #[test]
    fn pairs_set_aside_come_back_only_when_nothing_else_is_free() {
        let t0 = origin();
        let mut pool = PortAllocator::new(40_000, 40_005).unwrap();
        let a = pool.allocate(t0).unwrap();
        let b = pool.allocate(t0).unwrap();
        assert!(pool.set_aside(a));
        assert!(!pool.set_aside(a), "a pair not in use cannot be set aside");
        assert!(!pool.release(a, t0), "nor released");
        assert_eq!((pool.available(), pool.set_aside_count()), (1, 1));
        assert!(pool.release(b, t0));
        // The cold pair, then the resting one, then the one set aside.
        assert_eq!(pool.allocate(t0).unwrap().rtp, 40_004);
        assert_eq!(pool.allocate(t0).unwrap(), b);
        assert_eq!(pool.allocate(t0).unwrap(), a);
        assert_eq!(pool.set_aside_count(), 0);
        assert_eq!(pool.allocate(t0), Err(MediaError::PortsExhausted));
        assert!(pool.release(a, t0));
        assert_eq!(pool.allocate(t0).unwrap(), a);
    }

    #[test]
    fn idle_pairs_cool_then_come_back_cold_last_in_line() {
        let t0 = origin();
        let mut pool = pool();
        assert_eq!(pool.next_idle(), None, "nothing warm");
        let [a, b] = [(); 2].map(|()| pool.allocate(t0).unwrap());
        pool.release(a, t0);
        pool.release(b, secs(t0, 1.0));
        assert_eq!(pool.next_idle(), Some(t0 + REST + IDLE));
        assert!(pool.take_idle(secs(t0, 11.9)).is_empty(), "rested 9.9 s only");
        assert_eq!(pool.take_idle(secs(t0, 12.0)), [a]);
        assert_eq!(pool.next_idle(), Some(secs(t0, 13.0)));
        assert_eq!(
            (pool.available(), pool.warm(), pool.cooling()),
            (3, 1, 1),
            "a cooling pair is not free"
        );
        // While `a` cools it is never handed out, even with nothing else free.
        let rest: Vec<PortPair> = std::iter::from_fn(|| pool.allocate(secs(t0, 12.5)).ok()).collect();
        assert_eq!(rest, [b, pair(40_004), pair(40_006)]);
        assert!(pool.cooled(a));
        assert!(!pool.cooled(a), "cooled once");
        assert_eq!((pool.available(), pool.cooling()), (1, 0));
        assert_eq!(pool.allocate(secs(t0, 13.0)).unwrap(), a);
        // A cooled pair waits behind the cold ones.
        let mut pool = self::pool();
        let a = pool.allocate(t0).unwrap();
        pool.release(a, t0);
        assert_eq!(pool.take_idle(secs(t0, 12.0)), [a]);
        pool.cooled(a);
        let order: Vec<u16> =
            std::iter::from_fn(|| pool.allocate(secs(t0, 13.0)).ok().map(|p| p.rtp)).collect();
        assert_eq!(order, [40_002, 40_004, 40_006, 40_000]);
    }

    #[test]
    fn a_reused_pair_does_not_go_idle_and_timing_is_configurable() {
        let t0 = origin();
        let mut pool = pool().with_timing(Duration::from_millis(100), Duration::from_secs(1));
        let a = pool.allocate(t0).unwrap();
        pool.release(a, t0);
        // Reused after its rest, released again: its idle time counts from the last release.
        assert_eq!(pool.allocate(secs(t0, 0.2)).unwrap(), a);
        pool.release(a, secs(t0, 0.5));
        assert!(pool.take_idle(secs(t0, 1.5)).is_empty());
        assert_eq!(pool.take_idle(secs(t0, 1.6)), [a]);
    }

    #[test]
    fn counts_add_up() {
        let t0 = origin();
        let mut pool = pool();
        let [a, b, c] = [(); 3].map(|()| pool.allocate(t0).unwrap());
        pool.release(a, t0);
        pool.set_aside(b);
        pool.release(c, secs(t0, 5.0));
        pool.take_idle(secs(t0, 12.0));
        let in_use = 0;
        assert_eq!(
            (
                pool.available(),
                pool.warm(),
                pool.set_aside_count(),
                pool.cooling()
            ),
            (2, 1, 1, 1)
        );
        assert_eq!(
            pool.available() + pool.set_aside_count() + pool.cooling() + in_use,
            pool.capacity()
        );
    }

    #[test]
    fn rejects_empty_ranges() {
        assert!(PortPair { rtp: 2, rtcp: 3 }.rtcp > 2);
        assert_eq!(
            PortAllocator::new(10, 10).unwrap_err(),
            MediaError::BadPortRange { first: 10, last: 10 }
        );
        assert!(PortAllocator::new(11, 11).is_err());
        assert!(PortAllocator::new(20, 10).is_err());
        assert!(PortAllocator::new(0, 1).is_err());
        let full = PortAllocator::new(65534, 65535).unwrap();
        assert_eq!(full.capacity(), 1);
        assert!(PortAllocator::new(65535, 65535).is_err());
    }
}
