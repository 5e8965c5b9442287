//! UDP: receive loops (one datagram = one message, RFC 3261 §18.3) and the send side used by the shards.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use pn_b2bua::{Peer, Transport};
use prometheus::IntCounter;
use tokio::net::UdpSocket;

use super::dispatch::Dispatch;
use super::malformed;

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

/// Receives datagrams on `socket` until the task is aborted: keepalives are ignored, messages go to their
/// shard, unparseable requests get a 400 when possible (else they are dropped), all parse failures counted.
pub(crate) async fn receive(
    socket: Arc<UdpSocket>,
    dispatch: Dispatch,
    max_bytes: usize,
    parse_errors: IntCounter,
) {
    let mut buf = vec![0u8; max_bytes.saturating_add(1).max(1501)];
    loop {
        let (n, from) = match socket.recv_from(&mut buf).await {
            Ok(r) => r,
            Err(e) => {
                // ICMP errors and the like: note and go on (pause briefly so a persistent error cannot spin).
                tracing::debug!(error = %e, "UDP receive error");
                tokio::time::sleep(Duration::from_millis(1)).await;
                continue;
            }
        };
        if n > max_bytes {
            parse_errors.inc();
            tracing::debug!(%from, n, "oversize UDP datagram dropped");
            continue;
        }
        let data = &buf[..n];
        match pn_sip::framing::parse_datagram(data) {
            Ok(None) => {}
            Ok(Some(message)) => {
                let peer = Peer {
                    addr: from,
                    transport: Transport::Udp,
                };
                if let Some(answer) = dispatch.dispatch(peer, message) {
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
}
