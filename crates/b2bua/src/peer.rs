//! [`Peer`]: a remote SIP party's address and [`Transport`].

use std::net::SocketAddr;

/// The transport a message came in on (and responses go back on).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// UDP datagrams (unreliable: transactions retransmit).
    Udp,
    /// TCP stream (reliable: no retransmissions).
    Tcp,
}

impl Transport {
    /// The Via transport token.
    pub const fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
        }
    }

    /// Whether the transport is reliable.
    pub const fn is_reliable(self) -> bool {
        matches!(self, Transport::Tcp)
    }
}

/// A remote SIP peer: address and transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Peer {
    /// Source (or destination) address.
    pub addr: SocketAddr,
    /// Transport.
    pub transport: Transport,
}
