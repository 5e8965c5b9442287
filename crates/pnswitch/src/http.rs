//! The HTTP server: pnswitch's own accept loop around hyper's HTTP/1 connection, because `axum::serve` has
//! no limits (a slowloris or idle client held a connection, and one of the process's file descriptors, for
//! ever).
//!
//! - **Connection cap** (`http.max_connections`): each connection holds a semaphore permit. A connection
//!   beyond the cap is still accepted (so it never waits in the kernel's backlog) and closed at once, after
//!   a best-effort `503` with resultcode 1010010 (flow control); `pn_http_connections_refused_total` counts it.
//! - **Header read timeout** (`http.header_read_timeout_ms`): from the first byte of a request to its
//!   complete head. A client trickling its headers is cut off there, however steadily it trickles.
//! - **Idle timeout** (`http.idle_timeout_ms`): while no request is in progress (a new connection, or one
//!   kept alive after a response), a connection on which no byte moves in either direction for this long is
//!   closed. Response bytes count as movement, so a long download is not cut, but a client that stops
//!   reading is.
//! - **Request timeout** (`http.request_timeout_ms`): from a request's complete head to the end of its
//!   body. Slower: `408` with resultcode 1023002 and `Connection: close`. Only the client's part is timed:
//!   a handler cannot act on a request whose body never arrived, so a 408 always means "not done, resend".
//!   The switch's own time (a durable commit) is not cut: an answer given while a write may still commit
//!   would tell the client to resend a write that may have been applied.
//!
//! Each connection's phase (waiting, reading a head, serving) is kept by [`Activity`], fed by the socket
//! wrapper [`Tracked`] (bytes moved) and the service (request start and end); a watchdog in the connection's
//! task closes it when the phase's deadline passes. hyper's own `header_read_timeout` is not used: hyper
//! arms it as soon as it waits for a head, idle keep-alive time included, so it cannot tell a slow head from
//! an idle connection. HTTP/1.1 only (the reference API is HTTP/1.1; HTTP/2 would need its own limits).
//!
//! Graceful shutdown: the listener closes, idle connections close at once, a request in progress gets its
//! response (within the timeouts above), then its connection closes; `serve` returns when all are gone.

use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Request, Response, header};
use axum::response::IntoResponse;
use hyper::body::{Body as HttpBody, Bytes, Frame, Incoming, SizeHint};
use hyper_util::rt::TokioIo;
use pn_api::{ApiFailure, ResultCode};
use pn_metrics::Metrics;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tower::Service;

use crate::config::HttpConfig;

/// The limits of [`serve`], from `[http]`.
#[derive(Clone, Copy, Debug)]
pub struct HttpLimits {
    /// Most open connections.
    pub max_connections: usize,
    /// First byte of a request → its complete head.
    pub header_read: Duration,
    /// No byte moving while no request is in progress.
    pub idle: Duration,
    /// Complete head → end of the body.
    pub request: Duration,
}

impl From<&HttpConfig> for HttpLimits {
    fn from(c: &HttpConfig) -> Self {
        Self {
            max_connections: c
                .max_connections
                .clamp(1, Semaphore::MAX_PERMITS.min(u32::MAX as usize)),
            header_read: Duration::from_millis(c.header_read_timeout_ms.max(1)),
            idle: Duration::from_millis(c.idle_timeout_ms.max(1)),
            request: Duration::from_millis(c.request_timeout_ms.max(1)),
        }
    }
}

/// Serves `router` on `listener` under `limits` until `shutdown` resolves, then drains the open
/// connections (see the module docs).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: HttpLimits,
    metrics: Metrics,
    shutdown: impl Future<Output = ()>,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let (stop, stopping) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                // Out of file descriptors and the like: do not spin; the connections in the backlog wait.
                tracing::warn!(error = %e, "accepting an HTTP connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            metrics.http.refused.inc();
            refuse(&stream);
            continue;
        };
        // Small JSON answers: do not let Nagle hold them back.
        let _ = stream.set_nodelay(true);
        let connection = Connection {
            router: router.clone(),
            limits,
            metrics: metrics.clone(),
            _permit: permit,
        };
        tokio::spawn(connection.run(stream, stopping.clone()));
    }
    drop(listener);
    let _ = stop.send(true);
    // Every connection ends within the timeouts; wait for all their permits to come back.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let drain = limits.header_read + limits.request + limits.idle;
    if tokio::time::timeout(drain, permits.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!("HTTP connections still open after the drain time; stopping anyway");
    }
}

/// Errors of one incoming connection (not of the listener): go on accepting at once.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}

/// Answers a connection over the cap with `503` (1010010) if its send buffer takes it now, and closes it.
fn refuse(stream: &TcpStream) {
    let body = serde_json::json!({
        "resultcode": ResultCode::TOO_MANY_CONNECTIONS.code,
        "resultdesc": "Flow-control limit reached: too many HTTP connections, retry later",
    })
    .to_string();
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json;charset=UTF-8\r\n\
         Content-Length: {}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.try_write(answer.as_bytes());
    // Read what already arrived, so closing is less likely to reset the connection before the 503 is read.
    let _ = stream.try_read(&mut [0u8; 4096]);
}

/// One accepted connection, holding its permit until it ends.
struct Connection {
    router: Router,
    limits: HttpLimits,
    metrics: Metrics,
    _permit: OwnedSemaphorePermit,
}

impl Connection {
    async fn run(self, stream: TcpStream, mut stopping: watch::Receiver<bool>) {
        let http = self.metrics.http.clone();
        http.connections.inc();
        let peer = stream.peer_addr().ok().map(|a| a.ip());
        let activity = Arc::new(Activity::new());
        let io = TokioIo::new(Tracked {
            inner: stream,
            activity: Arc::clone(&activity),
        });
        let service = RequestService {
            peer,
            router: self.router,
            activity: Arc::clone(&activity),
            request_timeout: self.limits.request,
            metrics: self.metrics,
        };
        let conn = hyper::server::conn::http1::Builder::new()
            .keep_alive(true)
            // Not hyper's: it would also cut idle keep-alive connections (module docs).
            .header_read_timeout(None)
            .serve_connection(io, hyper::service::service_fn(move |req| service.call(req)));
        tokio::pin!(conn);
        let mut draining = *stopping.borrow();
        if draining {
            conn.as_mut().graceful_shutdown();
        }
        loop {
            let deadline = activity.deadline(&self.limits);
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(error = %e, "HTTP connection ended with an error");
                    }
                    break;
                }
                () = sleep_until(deadline) => {
                    if let Some(kind) = activity.expired(&self.limits) {
                        http.timeouts.with_label_values(&[kind]).inc();
                        break;
                    }
                }
                () = activity.changed.notified() => {}
                changed = stopping.changed(), if !draining => {
                    draining = true;
                    if changed.is_ok() {
                        conn.as_mut().graceful_shutdown();
                    }
                }
            }
        }
        http.connections.dec();
    }
}

/// Sleeps until `deadline`, for ever without one.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// The per-request service: marks the request's start and end on the connection and gives its body a
/// deadline.
#[derive(Clone)]
struct RequestService {
    router: Router,
    activity: Arc<Activity>,
    request_timeout: Duration,
    metrics: Metrics,
    /// The connection's peer, given to the API as [`pn_api::limits::PEER_HEADER`] (the source allow-list).
    peer: Option<std::net::IpAddr>,
}

impl RequestService {
    fn call(
        &self,
        req: Request<Incoming>,
    ) -> impl Future<Output = Result<Response<Body>, Infallible>> + use<> {
        let this = self.clone();
        async move {
            this.activity.begin_request();
            let mut req = req;
            // The peer as the API sees it: whatever a client sent under this name is replaced.
            req.headers_mut().remove(pn_api::limits::PEER_HEADER);
            if let Some(ip) = this.peer {
                if let Ok(value) = hyper::header::HeaderValue::from_str(&ip.to_string()) {
                    req.headers_mut().insert(pn_api::limits::PEER_HEADER, value);
                }
            }
            let late = Arc::new(AtomicBool::new(false));
            let req = req.map(|inner| {
                Body::new(DeadlineBody {
                    inner,
                    deadline: Box::pin(tokio::time::sleep(this.request_timeout)),
                    late: Arc::clone(&late),
                })
            });
            let mut router = this.router;
            let response = match router.call(req).await {
                Ok(response) => response,
                Err(never) => match never {},
            };
            // The handler saw its body fail (and refused the request): the client was too slow, say so.
            let response = if late.load(Ordering::Acquire) {
                this.metrics.http.timeouts.with_label_values(&["request"]).inc();
                request_timeout()
            } else {
                response
            };
            this.activity.end_request();
            Ok(response)
        }
    }
}

/// A request body that fails once its deadline passes before it ends (and flags `late`).
struct DeadlineBody {
    inner: Incoming,
    deadline: Pin<Box<tokio::time::Sleep>>,
    late: Arc<AtomicBool>,
}

impl HttpBody for DeadlineBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            self.late.store(true, Ordering::Release);
            return Poll::Ready(Some(Err("the request body did not arrive in time".into())));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// `408` with resultcode 1023002; the connection closes after it (its request body was not all read).
fn request_timeout() -> Response<Body> {
    let mut response = ApiFailure::new(
        ResultCode::REQUEST_TIMEOUT,
        "Request timeout: the request was not received in time, resend it",
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// Waiting for a request: nothing of its head has arrived.
const WAITING: u8 = 0;
/// Bytes of a request head have arrived; the head is not complete.
const HEAD: u8 = 1;
/// A request is being served (head complete, response not yet produced): its body has the request
/// timeout; the switch's own processing time is not cut.
const SERVING: u8 = 2;

/// A connection's phase and the times the watchdog needs, shared by the socket wrapper, the service and the
/// watchdog. Times are milliseconds since the connection was accepted.
struct Activity {
    start: Instant,
    phase: AtomicU8,
    /// When the current phase began.
    since: AtomicU64,
    /// When a byte last moved (either direction).
    last_io: AtomicU64,
    /// Wakes the watchdog on a phase change (its deadline changes).
    changed: Notify,
}

impl Activity {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            phase: AtomicU8::new(WAITING),
            since: AtomicU64::new(0),
            last_io: AtomicU64::new(0),
            changed: Notify::new(),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn enter(&self, phase: u8) {
        self.since.store(self.now_ms(), Ordering::Release);
        self.phase.store(phase, Ordering::Release);
        self.changed.notify_one();
    }

    /// `n` bytes were read: the first ones of a request start its head.
    fn on_read(&self, n: usize) {
        if n == 0 {
            return;
        }
        self.last_io.store(self.now_ms(), Ordering::Release);
        if self.phase.load(Ordering::Acquire) == WAITING {
            self.enter(HEAD);
        }
    }

    /// `n` bytes were written.
    fn on_write(&self, n: usize) {
        if n > 0 {
            self.last_io.store(self.now_ms(), Ordering::Release);
        }
    }

    fn begin_request(&self) {
        self.enter(SERVING);
    }

    fn end_request(&self) {
        self.enter(WAITING);
    }

    /// When the current phase times out, and as what: waiting → idle after the last byte moved; head →
    /// header read timeout after its first byte; serving → none (the request timeout answers it).
    fn deadline_ms(&self, limits: &HttpLimits) -> Option<(u64, &'static str)> {
        let phase = self.phase.load(Ordering::Acquire);
        let since = self.since.load(Ordering::Acquire);
        match phase {
            WAITING => {
                let quiet_since = since.max(self.last_io.load(Ordering::Acquire));
                Some((quiet_since.saturating_add(millis(limits.idle)), "idle"))
            }
            HEAD => Some((since.saturating_add(millis(limits.header_read)), "header")),
            _ => None,
        }
    }

    fn deadline(&self, limits: &HttpLimits) -> Option<Instant> {
        self.deadline_ms(limits)
            .map(|(ms, _)| self.start + Duration::from_millis(ms))
    }

    /// The kind of timeout that has passed now, if any.
    fn expired(&self, limits: &HttpLimits) -> Option<&'static str> {
        let (at, kind) = self.deadline_ms(limits)?;
        (self.now_ms() >= at).then_some(kind)
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The connection's socket, reporting every byte moved to its [`Activity`].
struct Tracked {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            self.activity.on_read(buf.filled().len() - before);
        }
        polled
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, data);
        if let Poll::Ready(Ok(n)) = polled {
            self.activity.on_write(n);
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = polled {
            self.activity.on_write(n);
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> HttpLimits {
        HttpLimits {
            max_connections: 1,
            header_read: Duration::from_millis(100),
            idle: Duration::from_secs(1),
            request: Duration::from_millis(500),
        }
    }

    #[test]
    fn phases_pick_their_deadline() {
        let a = Activity::new();
        let l = limits();
        // New connection: idle from the accept.
        assert_eq!(a.deadline_ms(&l), Some((1000, "idle")));
        // Bytes of a head: the header deadline runs from the first of them and more bytes do not extend it.
        a.since.store(50, Ordering::Release);
        a.phase.store(HEAD, Ordering::Release);
        a.last_io.store(140, Ordering::Release);
        assert_eq!(a.deadline_ms(&l), Some((150, "header")));
        // Serving: no connection deadline (the request timeout answers).
        a.phase.store(SERVING, Ordering::Release);
        assert_eq!(a.deadline_ms(&l), None);
        // After the response: idle from the last byte moved (response bytes count).
        a.since.store(200, Ordering::Release);
        a.last_io.store(700, Ordering::Release);
        a.phase.store(WAITING, Ordering::Release);
        assert_eq!(a.deadline_ms(&l), Some((1700, "idle")));
    }

    #[test]
    fn reads_start_a_head_only_when_waiting() {
        let a = Activity::new();
        a.on_read(0);
        assert_eq!(a.phase.load(Ordering::Acquire), WAITING);
        a.on_read(3);
        assert_eq!(a.phase.load(Ordering::Acquire), HEAD);
        a.begin_request();
        a.on_read(10);
        assert_eq!(a.phase.load(Ordering::Acquire), SERVING);
        a.end_request();
        assert_eq!(a.phase.load(Ordering::Acquire), WAITING);
        assert_eq!(a.expired(&limits()), None);
    }

    #[test]
    fn limits_from_config_are_never_zero() {
        let l = HttpLimits::from(&HttpConfig {
            max_connections: 0,
            header_read_timeout_ms: 0,
            idle_timeout_ms: 0,
            request_timeout_ms: 0,
            ..HttpConfig::default()
        });
        assert_eq!(l.max_connections, 1);
        assert_eq!(l.header_read, Duration::from_millis(1));
    }
}
