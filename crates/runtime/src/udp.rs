//! UDP: receive loops (one datagram = one message, RFC 3261 §18.3) and the send side used by the shards.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use pn_b2bua::{Peer, Transport};
use prometheus::IntCounter;
use tokio::net::UdpSocket;

use super::dispatch::Dispatch;
use super::malformed;
use super::recv_batch::{Datagram, RecvBatch, stamp_arrivals};

/// The bound UDP sockets; shards send through the first one of the destination's address family.
#[derive(Clone, Default)]
pub(crate) struct UdpSockets {
    /// Each socket with whether it is IPv4.
    sockets: Vec<(bool, Arc<UdpSocket>)>,
}

impl UdpSockets {
    /// Adds a bound socket.
    pub(crate) fn push(&mut self, socket: Arc<UdpSocket>) -> std::io::Result<()> {
        let v4 = socket.local_addr()?.is_ipv4();
        self.sockets.push((v4, socket));
        Ok(())
    }

    /// The address the first socket is bound to.
    pub(crate) fn first_local(&self) -> Option<std::net::SocketAddr> {
        self.sockets.first().and_then(|(_, s)| s.local_addr().ok())
    }

    /// The socket to send to `to` from.
    fn for_dest(&self, to: SocketAddr) -> Option<&Arc<UdpSocket>> {
        self.sockets
            .iter()
            .find(|(v4, _)| *v4 == to.is_ipv4())
            .map(|(_, s)| s)
    }

    /// Sends one datagram (waits only if the socket buffer is full); failures are logged, never fatal.
    pub(crate) async fn send(&self, to: SocketAddr, bytes: &[u8]) {
        let Some(socket) = self.for_dest(to) else {
            tracing::warn!(%to, "no UDP socket of this address family to send from");
            return;
        };
        let result = match socket.try_send_to(bytes, to) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => socket.send_to(bytes, to).await,
            other => other,
        };
        if let Err(e) = result {
            tracing::debug!(%to, error = %e, "UDP send failed");
        }
    }
}

/// Receives datagrams on `socket` until its shard stops (it runs on a shard's thread, whose `LocalSet` drops it):
/// keepalives are ignored, messages go to their shard, unparseable requests get a 400 when possible (else they
/// are dropped), all parse failures counted. Each wake-up reads what waits in one `recvmmsg` ([`RecvBatch`]),
/// with no empty read after it. A message's queue time starts when the kernel received it (`SO_TIMESTAMPNS`),
/// so what waits in the socket's buffer while the reading shard is busy counts toward the overload delay
/// (`sip.overload_queue_delay_ms`) like what waits in a shard's queue.
pub(crate) async fn receive(
    socket: Arc<UdpSocket>,
    dispatch: Dispatch,
    max_bytes: usize,
    parse_errors: IntCounter,
) {
    let stamped = match stamp_arrivals(&socket) {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %e, "sip udp: no kernel receive times (SO_TIMESTAMPNS): queue delays start at the read");
            false
        }
    };
    let mut batch = RecvBatch::new(max_bytes.saturating_add(1).max(1501));
    let mut headers = RecvBatch::headers(stamped);
    loop {
        if let Err(e) = socket.readable().await {
            tracing::debug!(error = %e, "UDP receive error");
            tokio::time::sleep(Duration::from_millis(1)).await;
            continue;
        }
        loop {
            let read = match batch.read(&socket, &mut headers) {
                Ok(read) => read,
                Err(e) => {
                    // ICMP errors and the like: note and go on (pause briefly so a persistent error cannot spin).
                    tracing::debug!(error = %e, "UDP receive error");
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    break;
                }
            };
            let clocks = (Instant::now(), SystemTime::now());
            for index in 0..read.count {
                if let Some(datagram) = batch.datagram(index) {
                    let received_at = arrival(datagram.received, clocks);
                    handle_datagram(
                        &socket,
                        &dispatch,
                        max_bytes,
                        &parse_errors,
                        datagram,
                        received_at,
                    );
                }
            }
            if read.drained {
                break;
            }
            // A full batch: let the shard's other tasks run before reading on.
            tokio::task::yield_now().await;
        }
    }
}

/// Longest a datagram is taken to have waited in the socket's buffer: a kernel time further back than this is a
/// wall clock that stepped, not a wait (the buffer holds a few MiB, read within milliseconds to seconds).
const MAX_KERNEL_WAIT: Duration = Duration::from_secs(10);

/// When a datagram the kernel stamped `received` (wall clock) arrived, on the monotonic clock, given both clocks
/// read now; now when it carries no time or the wall clock stepped back.
fn arrival(received: Option<SystemTime>, (now, wall): (Instant, SystemTime)) -> Instant {
    received
        .and_then(|at| wall.duration_since(at).ok())
        .map(|waited| waited.min(MAX_KERNEL_WAIT))
        .and_then(|waited| now.checked_sub(waited))
        .unwrap_or(now)
}

/// One received datagram: parsed and handed to its shard with the time it arrived.
fn handle_datagram(
    socket: &UdpSocket,
    dispatch: &Dispatch,
    max_bytes: usize,
    parse_errors: &IntCounter,
    datagram: Datagram<'_>,
    received_at: Instant,
) {
    let Datagram {
        bytes: data,
        len: n,
        from,
        ..
    } = datagram;
    if n > max_bytes {
        parse_errors.inc();
        tracing::debug!(%from, n, "oversize UDP datagram dropped");
        return;
    }
    match pn_sip::framing::parse_datagram(data) {
        Ok(None) => {}
        Ok(Some(message)) => {
            let peer = Peer {
                addr: from,
                transport: Transport::Udp,
            };
            if let Some(answer) = dispatch.dispatch_received(peer, message, received_at) {
                let _ = socket.try_send_to(&answer, from);
            }
        }
        Err(e) => {
            parse_errors.inc();
            tracing::debug!(%from, error = %e, "unparseable UDP datagram");
            if let Some(answer) = malformed::bad_request(data) {
                let _ = socket.try_send_to(&answer, from);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_datagram_s_arrival_is_its_kernel_time_on_the_monotonic_clock_within_bounds() {
        let now = Instant::now();
        let wall = SystemTime::now();
        let ms = Duration::from_millis;
        assert_eq!(arrival(None, (now, wall)), now, "no kernel time: now");
        assert_eq!(
            arrival(Some(wall - ms(300)), (now, wall)),
            now.checked_sub(ms(300)).unwrap()
        );
        assert_eq!(
            arrival(Some(wall + ms(5)), (now, wall)),
            now,
            "the wall clock stepped back"
        );
        assert_eq!(
            arrival(Some(wall - Duration::from_secs(3600)), (now, wall)),
            now.checked_sub(MAX_KERNEL_WAIT).unwrap(),
            "the wall clock stepped forward: a bounded wait"
        );
    }
}
