//! Batched, single-read UDP receives: one `recvmmsg(2)` per wake-up reads every datagram waiting on a socket
//! (up to the batch), and when it reads fewer than the batch the socket is known to be drained, so its tokio
//! readiness is cleared there and then. A plain `recv_from` loop needs one more read per wake-up, the one that
//! answers `EAGAIN`: on a media port carrying 50 packets/s, or a SIP socket between bursts, nearly every wake-up
//! finds one datagram, so that empty read was 2 of every 7 system calls of a relayed packet and 4.3 of the 9.3
//! reads per SIP call (docs/benchmarks.md, issue 14).
//!
//! Why clearing the readiness on a short batch is sound: `recvmmsg` with `MSG_DONTWAIT` returns fewer datagrams
//! than asked only when the queue was empty at that moment, exactly what an `EAGAIN` read says. tokio clears
//! a readiness only if its reactor has not seen a new edge since that readiness was reported (its tick), and a
//! datagram arriving after the read raises a new edge, so it is never missed: the same race as after any read
//! that answers `EAGAIN`.

use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::time::{Duration, SystemTime};

use nix::sys::socket::{self, ControlMessageOwned, MsgFlags, MultiHeaders, SockaddrStorage, sockopt};
use nix::sys::time::TimeSpec;
use tokio::io::Interest;
use tokio::net::UdpSocket;

/// Datagrams one `recvmmsg` reads at most.
pub(crate) const BATCH: usize = 8;

/// The `recvmmsg` headers of a read ([`RecvBatch::headers`]). They hold raw pointers, so they are not `Send`:
/// every reader runs on a shard's thread (the SIP receive loops and the media ports) and keeps its own.
pub(crate) type Headers = MultiHeaders<SockaddrStorage>;

/// The receive buffers of one reader (allocated once, reused for every read).
pub(crate) struct RecvBatch {
    /// `BATCH` buffers of `size` bytes, back to back.
    bufs: Vec<u8>,
    size: usize,
    /// The last read's datagrams: length (as the kernel reported it), source and, when asked for, the kernel's
    /// receive time.
    got: Vec<(usize, Option<SocketAddr>, Option<SystemTime>)>,
}

/// One datagram of the last read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Datagram<'b> {
    /// Its bytes (at most the buffer's size).
    pub(crate) bytes: &'b [u8],
    /// Its length as received: longer than the buffer when it was truncated.
    pub(crate) len: usize,
    /// Its source.
    pub(crate) from: SocketAddr,
    /// When the kernel queued it (`SO_TIMESTAMPNS`, the wall clock), on a socket [`stamp_arrivals`] was called
    /// for and with headers made with room for it.
    pub(crate) received: Option<SystemTime>,
}

/// Asks the kernel to stamp every datagram `socket` receives with its arrival time (`SO_TIMESTAMPNS`), for
/// [`Datagram::received`].
pub(crate) fn stamp_arrivals(socket: &UdpSocket) -> io::Result<()> {
    socket::setsockopt(socket, sockopt::ReceiveTimestampns, &true).map_err(io::Error::from)
}

/// What one read found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Read {
    /// Datagrams read (0: the socket had none; its readiness is cleared).
    pub(crate) count: usize,
    /// Whether the socket was drained (fewer than [`BATCH`] read): wait for readiness before reading again.
    pub(crate) drained: bool,
}

impl RecvBatch {
    /// Buffers for datagrams of up to `size` bytes (a longer one is truncated: its length says so, see
    /// [`RecvBatch::datagram`]).
    pub(crate) fn new(size: usize) -> Self {
        Self {
            bufs: vec![0; size.max(1) * BATCH],
            size: size.max(1),
            got: Vec::with_capacity(BATCH),
        }
    }

    /// Headers for [`RecvBatch::read`], with room for the arrival times when `stamped`.
    pub(crate) fn headers(stamped: bool) -> Headers {
        MultiHeaders::preallocate(BATCH, stamped.then(|| nix::cmsg_space!(TimeSpec)))
    }

    /// Reads what waits on `socket` (at most [`BATCH`] datagrams) in one system call, if tokio says it is
    /// readable; never waits. `Err` only for a receive error other than "nothing waiting".
    pub(crate) fn read(&mut self, socket: &UdpSocket, headers: &mut Headers) -> io::Result<Read> {
        self.got.clear();
        let fd = socket.as_raw_fd();
        let result = socket.try_io(Interest::READABLE, || {
            let count = self.recv(fd, headers)?;
            if count < BATCH {
                // Drained: the readiness is cleared as by an `EAGAIN` read (module docs).
                Err(io::ErrorKind::WouldBlock.into())
            } else {
                Ok(())
            }
        });
        match result {
            Ok(()) => Ok(Read {
                count: self.got.len(),
                drained: false,
            }),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(Read {
                count: self.got.len(),
                drained: true,
            }),
            Err(e) => Err(e),
        }
    }

    /// One `recvmmsg`: the datagrams go to `self.got`; `WouldBlock` when there was none.
    fn recv(&mut self, fd: std::os::fd::RawFd, headers: &mut Headers) -> io::Result<usize> {
        let mut chunks = self.bufs.chunks_exact_mut(self.size);
        let mut iovs: [[IoSliceMut<'_>; 1]; BATCH] =
            std::array::from_fn(|_| [IoSliceMut::new(chunks.next().unwrap_or_default())]);
        let results = socket::recvmmsg(fd, headers, iovs.iter_mut(), MsgFlags::MSG_DONTWAIT, None)
            .map_err(io::Error::from)?;
        for message in results {
            let from = message.address.as_ref().and_then(to_socket_addr);
            let received = message.cmsgs().ok().and_then(|mut cmsgs| {
                cmsgs.find_map(|cmsg| match cmsg {
                    ControlMessageOwned::ScmTimestampns(at) => wall_time(at),
                    _ => None,
                })
            });
            self.got.push((message.bytes, from, received));
        }
        Ok(self.got.len())
    }

    /// Datagram `index` of the last read (`None` past the last, or for a source that is not an IP address,
    /// which a UDP socket never reports).
    pub(crate) fn datagram(&self, index: usize) -> Option<Datagram<'_>> {
        let &(len, from, received) = self.got.get(index)?;
        let start = index * self.size;
        let bytes = self.bufs.get(start..start + len.min(self.size))?;
        Some(Datagram {
            bytes,
            len,
            from: from?,
            received,
        })
    }
}

/// A kernel timestamp as a wall-clock time.
fn wall_time(at: TimeSpec) -> Option<SystemTime> {
    let secs = u64::try_from(at.tv_sec()).ok()?;
    let nanos = u32::try_from(at.tv_nsec()).ok()?;
    SystemTime::UNIX_EPOCH.checked_add(Duration::new(secs, nanos))
}

/// The socket address in `storage`, if it holds an IPv4 or IPv6 one.
fn to_socket_addr(storage: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = storage.as_sockaddr_in() {
        return Some(SocketAddr::from(*v4));
    }
    storage.as_sockaddr_in6().map(|v6| SocketAddr::from(*v6))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_of(count: usize, drained: bool) -> Read {
        Read { count, drained }
    }

    async fn pair() -> (UdpSocket, std::net::UdpSocket, SocketAddr) {
        let receiver = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let to = receiver.local_addr().unwrap();
        let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        (receiver, sender, to)
    }

    #[tokio::test]
    async fn one_read_takes_every_waiting_datagram_and_a_short_batch_clears_the_readiness() {
        let (receiver, sender, to) = pair().await;
        let from = sender.local_addr().unwrap();
        for i in 0..3u8 {
            sender.send_to(&[i; 10], to).unwrap();
        }
        let mut batch = RecvBatch::new(64);
        let mut headers = RecvBatch::headers(false);
        receiver.readable().await.unwrap();
        let read = batch.read(&receiver, &mut headers).unwrap();
        assert_eq!(read, read_of(3, true));
        for i in 0..3u8 {
            let d = batch.datagram(usize::from(i)).unwrap();
            assert_eq!(
                (d.bytes, d.len, d.from, d.received),
                (&[i; 10][..], 10, from, None)
            );
        }
        assert_eq!(batch.datagram(3), None);
        // Drained: tokio no longer calls it readable, and a read makes no system call and finds nothing.
        assert_eq!(batch.read(&receiver, &mut headers).unwrap(), read_of(0, true));
        // A datagram sent after the short batch raises the readiness again: nothing is missed.
        sender.send_to(b"late", to).unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(5), receiver.readable())
            .await
            .expect("readable again")
            .unwrap();
        assert_eq!(batch.read(&receiver, &mut headers).unwrap().count, 1);
        assert_eq!(batch.datagram(0).map(|d| d.bytes), Some(&b"late"[..]));
    }

    #[tokio::test]
    async fn a_full_batch_keeps_the_readiness_and_a_long_datagram_reports_its_truncation() {
        let (receiver, sender, to) = pair().await;
        for _ in 0..=BATCH {
            sender.send_to(&[7; 100], to).unwrap();
        }
        let mut batch = RecvBatch::new(64);
        let mut headers = RecvBatch::headers(false);
        receiver.readable().await.unwrap();
        let read = batch.read(&receiver, &mut headers).unwrap();
        assert_eq!(read, read_of(BATCH, false));
        let d = batch.datagram(0).unwrap();
        assert_eq!(d.bytes.len(), 64, "the buffer's size");
        assert!(d.len >= 64, "the caller sees it did not fit: {}", d.len);
        // Still readable: the last datagram is read without waiting for a new edge.
        let read = batch.read(&receiver, &mut headers).unwrap();
        assert_eq!(read, read_of(1, true));
    }

    #[tokio::test]
    async fn a_stamped_socket_reports_when_each_datagram_arrived() {
        let (receiver, sender, to) = pair().await;
        stamp_arrivals(&receiver).unwrap();
        // Linux turns its receive stamps on a moment later (a deferred work item): until then a datagram is
        // stamped when it is read.
        std::thread::sleep(Duration::from_millis(50));
        let before = SystemTime::now();
        sender.send_to(b"one", to).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        sender.send_to(b"two", to).unwrap();
        let mut batch = RecvBatch::new(64);
        let mut headers = RecvBatch::headers(true);
        receiver.readable().await.unwrap();
        assert_eq!(batch.read(&receiver, &mut headers).unwrap().count, 2);
        let first = batch.datagram(0).unwrap().received.expect("stamped");
        let second = batch.datagram(1).unwrap().received.expect("stamped");
        let after = SystemTime::now();
        assert!(
            before <= first && first <= second && second <= after,
            "{before:?} {first:?} {second:?} {after:?}"
        );
        let gap = second.duration_since(first).unwrap();
        assert!(
            gap >= Duration::from_millis(15),
            "the kernel's times, not the read's: {gap:?}"
        );
    }
}
