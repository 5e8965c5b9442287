//! Batched UDP sends for the relay: the datagrams one wake-up emits from the same socket leave in one
//! `sendmmsg(2)` instead of one `sendto(2)` each. The datagrams a port's `recvmmsg` read in one go (a burst that
//! waited while the shard was busy) all go out through the same socket, the other leg's port, so a relay
//! that falls behind catches up with one send per burst, not one per packet; a lone datagram still goes out
//! by `sendto`, with no copy kept longer than the wake-up.
//!
//! Hand-written over nix's `sendmmsg` because the relay's hot path is where no library fits: tokio's sockets
//! send one datagram per call, and quinn-udp's batching is built for one connected peer (GSO of equal-sized
//! segments), not for a port relaying to whichever source it latched.
//!
//! Loss semantics are those of a single send: a datagram the kernel refuses (full buffer, unreachable
//! address) is dropped and the rest of the batch is still sent.

use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::rc::Rc;

use nix::sys::socket::{self, MsgFlags, MultiHeaders, SockaddrStorage};
use tokio::net::UdpSocket;

/// Datagrams one `sendmmsg` sends at most (a longer run is sent in several).
pub(crate) const SEND_BATCH: usize = 32;

/// The datagrams waiting to leave one socket: the run of consecutive sends through it.
pub(crate) struct SendBatch {
    /// The socket of the run (`None`: nothing waits).
    socket: Option<Rc<UdpSocket>>,
    /// The datagrams' bytes, back to back.
    bytes: Vec<u8>,
    /// Each datagram: its end in `bytes` and its destination.
    ends: Vec<(usize, SocketAddr)>,
    /// The `sendmmsg` headers, kept between runs (they hold raw pointers: this lives on one shard thread).
    headers: MultiHeaders<SockaddrStorage>,
    /// What the runs cost, for tests and the syscall counts in docs/benchmarks.md.
    counts: SendCounts,
}

/// System calls and datagrams sent (cumulative).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct SendCounts {
    /// `sendto` calls (runs of one datagram).
    pub(crate) single: u64,
    /// `sendmmsg` calls.
    pub(crate) batched: u64,
    /// Datagrams the kernel refused (dropped, as a refused single send is).
    pub(crate) failed: u64,
}

impl SendBatch {
    /// An empty batch.
    pub(crate) fn new() -> Self {
        Self {
            socket: None,
            bytes: Vec::with_capacity(SEND_BATCH * 256),
            ends: Vec::with_capacity(SEND_BATCH),
            headers: MultiHeaders::preallocate(SEND_BATCH, None),
            counts: SendCounts::default(),
        }
    }

    /// Queues `bytes` for `to` from `socket`; a run through another socket, or a full one, is sent first.
    pub(crate) fn push(&mut self, socket: &Rc<UdpSocket>, bytes: &[u8], to: SocketAddr) {
        let same = self.socket.as_ref().is_some_and(|s| Rc::ptr_eq(s, socket));
        if !same || self.ends.len() == SEND_BATCH {
            self.flush();
            self.socket = Some(Rc::clone(socket));
        }
        self.bytes.extend_from_slice(bytes);
        self.ends.push((self.bytes.len(), to));
    }

    /// Sends the waiting run: `sendto` for one datagram, `sendmmsg` for more.
    pub(crate) fn flush(&mut self) {
        let Some(socket) = self.socket.take() else {
            return;
        };
        match self.ends.as_slice() {
            [] => {}
            [(end, to)] => {
                self.counts.single += 1;
                let sent = socket2::SockRef::from(&*socket).send_to(&self.bytes[..*end], &(*to).into());
                if let Err(e) = sent {
                    self.counts.failed += 1;
                    tracing::trace!(error = %e, "media send failed");
                }
            }
            _ => self.send_many(socket.as_raw_fd()),
        }
        self.bytes.clear();
        self.ends.clear();
    }

    /// What the batch has sent so far.
    pub(crate) fn counts(&self) -> SendCounts {
        self.counts
    }

    /// `sendmmsg` until every datagram of the run was sent or refused: a refused one is skipped.
    fn send_many(&mut self, fd: std::os::fd::RawFd) {
        let mut first = 0;
        while first < self.ends.len() {
            let starts = std::iter::once(0).chain(self.ends.iter().map(|&(end, _)| end));
            let slices: Vec<[IoSlice<'_>; 1]> = starts
                .zip(&self.ends)
                .skip(first)
                .map(|(start, &(end, _))| [IoSlice::new(&self.bytes[start..end])])
                .collect();
            let addrs: Vec<Option<SockaddrStorage>> = self.ends[first..]
                .iter()
                .map(|&(_, to)| Some(SockaddrStorage::from(to)))
                .collect();
            self.counts.batched += 1;
            let sent = socket::sendmmsg(fd, &mut self.headers, &slices, &addrs, [], MsgFlags::MSG_DONTWAIT)
                .map(Iterator::count);
            match sent {
                // The kernel stops at the first datagram it refuses: drop that one, send the rest.
                Ok(n) if first + n < self.ends.len() => {
                    first += n + 1;
                    self.counts.failed += 1;
                }
                Ok(_) => break,
                Err(e) => {
                    tracing::trace!(error = %io::Error::from(e), "media send failed");
                    first += 1;
                    self.counts.failed += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    async fn socket() -> Rc<UdpSocket> {
        Rc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap())
    }

    fn receiver() -> (std::net::UdpSocket, SocketAddr) {
        let r = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        r.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let addr = r.local_addr().unwrap();
        (r, addr)
    }

    fn recv(r: &std::net::UdpSocket) -> (Vec<u8>, SocketAddr) {
        let mut buf = [0u8; 512];
        let (n, from) = r.recv_from(&mut buf).unwrap();
        (buf[..n].to_vec(), from)
    }

    #[tokio::test]
    async fn a_run_through_one_socket_leaves_in_one_sendmmsg_in_order_and_a_lone_datagram_by_sendto() {
        let (one, two) = (socket().await, socket().await);
        let (r1, to1) = receiver();
        let (r2, to2) = receiver();
        let mut batch = SendBatch::new();
        batch.push(&one, b"a1", to1);
        batch.push(&one, b"a22", to2);
        batch.push(&one, b"a333", to1);
        // Another socket: the first run leaves, in one system call.
        batch.push(&two, b"b1", to2);
        assert_eq!(
            batch.counts(),
            SendCounts {
                single: 0,
                batched: 1,
                failed: 0
            }
        );
        batch.flush();
        assert_eq!(
            batch.counts(),
            SendCounts {
                single: 1,
                batched: 1,
                failed: 0
            }
        );
        let from_one = one.local_addr().unwrap();
        let from_two = two.local_addr().unwrap();
        assert_eq!(recv(&r1), (b"a1".to_vec(), from_one));
        assert_eq!(recv(&r1), (b"a333".to_vec(), from_one));
        assert_eq!(recv(&r2), (b"a22".to_vec(), from_one));
        assert_eq!(recv(&r2), (b"b1".to_vec(), from_two));
        // Flushing an empty batch sends nothing.
        batch.flush();
        assert_eq!(batch.counts().single + batch.counts().batched, 2);
    }

    #[tokio::test]
    async fn a_long_run_is_split_and_a_refused_datagram_does_not_stop_the_rest() {
        let one = socket().await;
        let (r, to) = receiver();
        let mut batch = SendBatch::new();
        for i in 0..=SEND_BATCH {
            batch.push(&one, &[u8::try_from(i).unwrap(); 3], to);
        }
        batch.flush();
        assert_eq!(
            batch.counts(),
            SendCounts {
                single: 1,
                batched: 1,
                failed: 0
            }
        );
        for i in 0..=SEND_BATCH {
            assert_eq!(recv(&r).0, vec![u8::try_from(i).unwrap(); 3]);
        }
        // An IPv6 destination from an IPv4 socket is refused by the kernel (EAFNOSUPPORT-like): skipped.
        let bad = SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, to.port()));
        batch.push(&one, b"x", to);
        batch.push(&one, b"refused", bad);
        batch.push(&one, b"y", to);
        batch.flush();
        assert_eq!(batch.counts().failed, 1, "{:?}", batch.counts());
        assert_eq!(recv(&r).0, b"x".to_vec());
        assert_eq!(recv(&r).0, b"y".to_vec());
    }
}
