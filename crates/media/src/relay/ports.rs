//! RTP/RTCP port-pair allocation over a configured range: a pure data structure that hands out numbers.
//!
//! The runtime binds the sockets; the pool only knows which pairs it may hand out. Its user returns a pair
//! ([`PortAllocator::release`]) once the pair's sockets are closed, never before: a pair handed out while the
//! previous call's sockets are still open cannot be bound. A pair the runtime could not bind although the pool
//! thought it free (another process holds one of its ports) is set aside ([`PortAllocator::set_aside`]): it is
//! handed out again only when no other pair is free.

use std::collections::VecDeque;

use crate::MediaError;

/// An RTP port (even) and its RTCP port (RTP + 1), as allocated for one leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortPair {
    /// The even RTP port.
    pub rtp: u16,
    /// The odd RTCP port, `rtp + 1`.
    pub rtcp: u16,
}

/// Hands out even/odd port pairs from a range; the runtime binds the sockets.
///
/// Freed pairs go to the back of the queue, so a port is reused as late as possible and stray packets of an
/// ended call are unlikely to reach the next one. Pairs set aside (their bind failed) come last of all.
#[derive(Debug, Clone)]
pub struct PortAllocator {
    first: u16,
    free: VecDeque<u16>,
    /// Pairs whose bind failed, oldest first: handed out only when `free` is empty.
    aside: VecDeque<u16>,
    in_use: Vec<bool>,
}

impl PortAllocator {
    /// A pool over `first..=last`; an odd `first` is rounded up, and each pair needs both of its ports in range.
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
        let free = (0..pairs).map(|i| (start + 2 * i) as u16).collect();
        Ok(Self {
            first: start as u16,
            free,
            aside: VecDeque::new(),
            in_use: vec![false; pairs as usize],
        })
    }

    /// Takes the least recently used free pair; when none is free, the pair set aside longest ago (whatever held
    /// it may have let it go).
    pub fn allocate(&mut self) -> Result<PortPair, MediaError> {
        let rtp = self
            .free
            .pop_front()
            .or_else(|| self.aside.pop_front())
            .ok_or(MediaError::PortsExhausted)?;
        if let Some(slot) = self.slot(rtp) {
            self.in_use[slot] = true;
        }
        Ok(PortPair { rtp, rtcp: rtp + 1 })
    }

    /// Returns a pair to the pool; answers false (and changes nothing) for a pair not allocated here.
    pub fn release(&mut self, pair: PortPair) -> bool {
        match self.slot(pair.rtp) {
            Some(slot) if self.in_use[slot] && pair.rtcp.checked_sub(1) == Some(pair.rtp) => {
                self.in_use[slot] = false;
                self.free.push_back(pair.rtp);
                true
            }
            _ => false,
        }
    }

    /// Returns a pair whose sockets could not be bound (a port of it is held outside this pool): it is handed
    /// out again only when no other pair is free. Answers false (and changes nothing) for a pair not allocated
    /// here.
    pub fn set_aside(&mut self, pair: PortPair) -> bool {
        match self.slot(pair.rtp) {
            Some(slot) if self.in_use[slot] && pair.rtcp.checked_sub(1) == Some(pair.rtp) => {
                self.in_use[slot] = false;
                self.aside.push_back(pair.rtp);
                true
            }
            _ => false,
        }
    }

    /// How many pairs are free (not counting those set aside).
    pub fn available(&self) -> usize {
        self.free.len()
    }

    /// How many pairs are set aside.
    pub fn set_aside_count(&self) -> usize {
        self.aside.len()
    }

    /// How many pairs the range holds.
    pub fn capacity(&self) -> usize {
        self.in_use.len()
    }

    fn slot(&self, rtp: u16) -> Option<usize> {
        let offset = rtp.checked_sub(self.first)?;
        let slot = usize::from(offset / 2);
        (offset % 2 == 0 && slot < self.in_use.len()).then_some(slot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocates_even_pairs_in_order_and_reuses_last() {
        let mut pool = PortAllocator::new(30001, 30008).unwrap();
        assert_eq!(pool.capacity(), 3); // 30002, 30004, 30006 (30008 has no 30009)
        let a = pool.allocate().unwrap();
        assert_eq!(
            a,
            PortPair {
                rtp: 30002,
                rtcp: 30003
            }
        );
        let b = pool.allocate().unwrap();
        let c = pool.allocate().unwrap();
        assert_eq!((b.rtp, c.rtp), (30004, 30006));
        assert_eq!(pool.allocate(), Err(MediaError::PortsExhausted));
        assert!(pool.release(a));
        assert!(!pool.release(a), "double release is refused");
        assert!(!pool.release(PortPair {
            rtp: 30005,
            rtcp: 30006
        }));
        assert!(!pool.release(PortPair {
            rtp: 40000,
            rtcp: 40001
        }));
        assert!(pool.release(c));
        assert_eq!(pool.available(), 2);
        assert_eq!(
            pool.allocate().unwrap().rtp,
            30002,
            "FIFO: the oldest freed pair comes back first"
        );
        assert_eq!(pool.allocate().unwrap().rtp, 30006);
    }

    #[test]
    fn pairs_set_aside_come_back_only_when_nothing_else_is_free() {
        let mut pool = PortAllocator::new(40_000, 40_005).unwrap();
        let a = pool.allocate().unwrap();
        let b = pool.allocate().unwrap();
        assert!(pool.set_aside(a));
        assert!(!pool.set_aside(a), "a pair not in use cannot be set aside");
        assert!(!pool.release(a), "nor released");
        assert_eq!((pool.available(), pool.set_aside_count()), (1, 1));
        assert!(pool.release(b));
        // The free pairs first, in order, then the one set aside.
        assert_eq!(pool.allocate().unwrap().rtp, 40_004);
        assert_eq!(pool.allocate().unwrap(), b);
        assert_eq!(pool.allocate().unwrap(), a);
        assert_eq!(pool.set_aside_count(), 0);
        assert_eq!(pool.allocate(), Err(MediaError::PortsExhausted));
        assert!(pool.release(a));
        assert_eq!(pool.allocate().unwrap(), a);
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
