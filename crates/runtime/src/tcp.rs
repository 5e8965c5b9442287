//! TCP: listeners, one task pair (reader, writer) per connection, and the hub that maps a peer address to
//! its connection's writer so shards can send to it (connecting on demand for B legs to a TCP target).
//!
//! The hub is one task owning the map; shards and connections talk to it through a channel, so nothing is
//! locked. A message for a peer whose connection is gone is dropped: over TCP the transaction layer does
//! not retransmit, and its timeout ends the call.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use pn_b2bua::{Peer, Transport};
use pn_sip::framing::StreamDecoder;
use prometheus::IntCounter;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use super::dispatch::Dispatch;

/// Bytes queued for one connection's writer before further messages to it are dropped.
const WRITE_QUEUE: usize = 1024;
/// How long an outbound connect may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Connection ids, unique across listeners and outbound connections.
static NEXT_CONN_ID: AtomicU64 = AtomicU64::new(1);

fn next_conn_id() -> u64 {
    NEXT_CONN_ID.fetch_add(1, Ordering::Relaxed)
}

/// A request to the hub.
enum HubCommand {
    /// Write these bytes to the connection with `to` (connecting if there is none).
    Send { to: SocketAddr, bytes: Vec<u8> },
    /// A connection is up (`id` tells it apart from a later one with the same peer).
    Register {
        peer: SocketAddr,
        id: u64,
        writer: mpsc::Sender<Vec<u8>>,
    },
    /// A connection is gone.
    Closed { peer: SocketAddr, id: u64 },
}

/// The shards' handle on the TCP side (clone freely).
#[derive(Clone)]
pub(crate) struct TcpHub {
    tx: mpsc::UnboundedSender<HubCommand>,
}

impl TcpHub {
    /// Queues `bytes` for the connection with `to`.
    pub(crate) fn send(&self, to: SocketAddr, bytes: Vec<u8>) {
        let _ = self.tx.send(HubCommand::Send { to, bytes });
    }
}

/// What every connection task needs.
#[derive(Clone)]
struct ConnContext {
    hub: mpsc::UnboundedSender<HubCommand>,
    dispatch: Dispatch,
    max_bytes: usize,
    parse_errors: IntCounter,
}

/// Starts the hub task; returns its handle and the task.
pub(crate) fn start_hub(
    dispatch: Dispatch,
    max_bytes: usize,
    parse_errors: IntCounter,
) -> (TcpHub, tokio::task::JoinHandle<()>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let ctx = ConnContext {
        hub: tx.clone(),
        dispatch,
        max_bytes,
        parse_errors,
    };
    let task = tokio::spawn(run_hub(rx, ctx));
    (TcpHub { tx }, task)
}

async fn run_hub(mut rx: mpsc::UnboundedReceiver<HubCommand>, ctx: ConnContext) {
    let mut conns: HashMap<SocketAddr, (u64, mpsc::Sender<Vec<u8>>)> = HashMap::new();
    while let Some(cmd) = rx.recv().await {
        match cmd {
            HubCommand::Send { to, bytes } => {
                if let Some((_, writer)) = conns.get(&to) {
                    match writer.try_send(bytes) {
                        Ok(()) => {}
                        Err(mpsc::error::TrySendError::Full(_)) => {
                            tracing::warn!(%to, "TCP write queue full; message dropped");
                        }
                        Err(mpsc::error::TrySendError::Closed(b)) => {
                            let id = next_conn_id();
                            conns.insert(to, (id, connect(to, id, b, ctx.clone())));
                        }
                    }
                } else {
                    let id = next_conn_id();
                    conns.insert(to, (id, connect(to, id, bytes, ctx.clone())));
                }
            }
            HubCommand::Register { peer, id, writer } => {
                conns.insert(peer, (id, writer));
            }
            HubCommand::Closed { peer, id } => {
                if conns.get(&peer).is_some_and(|(current, _)| *current == id) {
                    conns.remove(&peer);
                }
            }
        }
    }
}

/// Starts an outbound connection to `to` with `first` queued; returns its writer queue.
fn connect(to: SocketAddr, id: u64, first: Vec<u8>, ctx: ConnContext) -> mpsc::Sender<Vec<u8>> {
    let (writer, rx) = mpsc::channel(WRITE_QUEUE);
    let _ = writer.try_send(first);
    let own = writer.clone();
    tokio::spawn(async move {
        match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(to)).await {
            Ok(Ok(stream)) => run_connection(stream, to, id, own, rx, ctx).await,
            Ok(Err(e)) => {
                tracing::warn!(%to, error = %e, "TCP connect failed");
                let _ = ctx.hub.send(HubCommand::Closed { peer: to, id });
            }
            Err(_) => {
                tracing::warn!(%to, "TCP connect timed out");
                let _ = ctx.hub.send(HubCommand::Closed { peer: to, id });
            }
        }
    });
    writer
}

/// Accepts connections on `listener` until the task is aborted.
pub(crate) async fn accept(
    listener: TcpListener,
    hub: TcpHub,
    dispatch: Dispatch,
    max_bytes: usize,
    parse_errors: IntCounter,
) {
    let ctx = ConnContext {
        hub: hub.tx,
        dispatch,
        max_bytes,
        parse_errors,
    };
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "TCP accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let id = next_conn_id();
        let (writer, rx) = mpsc::channel(WRITE_QUEUE);
        let _ = ctx.hub.send(HubCommand::Register {
            peer,
            id,
            writer: writer.clone(),
        });
        tokio::spawn(run_connection(stream, peer, id, writer, rx, ctx.clone()));
    }
}

/// Runs one connection: a writer task draining `rx`, and the reader here (framing, keepalive pongs,
/// dispatch). Tells the hub when the connection ends.
async fn run_connection(
    stream: TcpStream,
    peer: SocketAddr,
    id: u64,
    writer: mpsc::Sender<Vec<u8>>,
    mut rx: mpsc::Receiver<Vec<u8>>,
    ctx: ConnContext,
) {
    let _ = stream.set_nodelay(true);
    let (mut read, mut write) = stream.into_split();
    let write_task = tokio::spawn(async move {
        while let Some(bytes) = rx.recv().await {
            if let Err(e) = write.write_all(&bytes).await {
                tracing::debug!(%peer, error = %e, "TCP write failed");
                break;
            }
        }
    });
    let mut decoder = StreamDecoder::new(ctx.max_bytes);
    let mut buf = vec![0u8; 16 * 1024];
    let from = Peer {
        addr: peer,
        transport: Transport::Tcp,
    };
    loop {
        let n = match read.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => {
                tracing::debug!(%peer, error = %e, "TCP read failed");
                break;
            }
        };
        decoder.push(&buf[..n]);
        while let Some(result) = decoder.poll() {
            match result {
                Ok(message) => {
                    if let Some(answer) = ctx.dispatch.dispatch(from, message) {
                        let _ = writer.try_send(answer);
                    }
                }
                Err(e) => {
                    ctx.parse_errors.inc();
                    tracing::debug!(%peer, error = %e, "unparseable SIP message on TCP");
                    // Answered when its header section names the transaction (e.g. an RFC 2543 peer's
                    // INVITE without Content-Length): never silence.
                    if let Some(answer) = decoder
                        .take_rejected_head()
                        .and_then(|head| super::malformed::bad_request(&head))
                    {
                        let _ = writer.try_send(answer);
                    }
                }
            }
        }
        for _ in 0..decoder.take_pings() {
            // RFC 5626 §3.5.1: answer a double-CRLF ping with one CRLF.
            let _ = writer.try_send(b"\r\n".to_vec());
        }
    }
    drop(writer);
    let _ = ctx.hub.send(HubCommand::Closed { peer, id });
    // The writer ends once the hub has dropped its sender too.
    let _ = write_task.await;
}
