//! Pushes to plain `http://` receivers over pipelined HTTP/1.1 connections ([`crate::http1`]).
//!
//! Each app keeps its own connections to each receiver (so one app's slow receiver never holds another app's
//! pushes), at most `connections` of them. A connection works in rounds: it takes the pushes waiting for it
//! (up to `depth`), writes them in one `write`, then reads their responses in order; a 2xx delivers, any
//! other status fails that push. A new push goes to the connection with the fewest pushes outstanding, and a
//! new connection opens while every open one already holds `depth`.
//!
//! Failures: a refused or slow connect fails the round's pushes (`connect`); a round whose answers do not
//! arrive within the push timeout fails the unanswered ones (`timeout`) and drops the connection; a receiver
//! that closes (`Connection: close`) has the requests written after that response sent again on a new
//! connection, as RFC 9112 §9.3.2 allows (they were not served); a kept-alive connection the receiver had
//! closed while idle is retried once on a fresh one. At least once, like every push: the receiver
//! de-duplicates by `icid`/`sessionId`.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use pn_bindings::AppId;
use pn_notify::{PushId, PushKind, PushOutcome};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use crate::http1::{self, Parsed, Target};
use crate::sender::Sent;

/// A connection with nothing to send closes after this long.
const IDLE: Duration = Duration::from_secs(30);
/// Unparsed bytes held at most (a response's head plus [`http1::MAX_BODY`]).
const BUFFER_MAX: usize = 64 * 1024 + http1::MAX_BODY as usize;

/// One push for a connection.
pub(crate) struct Job {
    /// The core's id.
    pub id: PushId,
    /// Its kind (metrics).
    pub kind: PushKind,
    /// Its app's metric label (name or key).
    pub app_label: Option<String>,
    /// The whole request.
    pub request: Vec<u8>,
    /// When the driver started it.
    pub started: Instant,
    /// Already sent again once after a connection failed before any answer.
    resent: bool,
}

impl Job {
    /// A push not sent yet.
    pub(crate) fn new(id: PushId, kind: PushKind, app_label: Option<String>, request: Vec<u8>) -> Self {
        Self {
            id,
            kind,
            app_label,
            request,
            started: Instant::now(),
            resent: false,
        }
    }
}

/// A finished push, as the driver consumes it.
pub(crate) type Done = (PushId, PushKind, Option<String>, Sent);

/// The connections' limits.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// TCP connect timeout.
    pub connect_timeout: Duration,
    /// A round's answers must all arrive within this.
    pub timeout: Duration,
    /// Requests written per round at most (1: no pipelining).
    pub depth: usize,
    /// Connections per app and receiver at most.
    pub connections: usize,
}

struct Conn {
    jobs: mpsc::UnboundedSender<Job>,
    outstanding: Arc<AtomicUsize>,
}

/// The driver's side: where each push goes.
pub(crate) struct Pipelines {
    limits: Limits,
    conns: HashMap<(AppId, String, u16), Vec<Conn>>,
    done: mpsc::UnboundedSender<Done>,
}

impl Pipelines {
    /// Pipelines whose finished pushes arrive on the returned receiver.
    pub(crate) fn new(limits: Limits) -> (Self, mpsc::UnboundedReceiver<Done>) {
        let (done, finished) = mpsc::unbounded_channel();
        (
            Self {
                limits,
                conns: HashMap::new(),
                done,
            },
            finished,
        )
    }

    /// Hands a push that ended before any connection (a bad header value) to the driver like the others.
    pub(crate) fn report(&self, done: Done) {
        let _ = self.done.send(done);
    }

    /// Queues `job` on one of `app`'s connections to `target` (opening one when all are full).
    pub(crate) fn send(&mut self, app: AppId, target: &Target, mut job: Job) {
        let limits = self.limits;
        let conns = self
            .conns
            .entry((app, target.host.clone(), target.port))
            .or_default();
        loop {
            conns.retain(|c| !c.jobs.is_closed());
            let least = conns
                .iter()
                .enumerate()
                .min_by_key(|(_, c)| c.outstanding.load(Ordering::Relaxed))
                .map(|(i, c)| (i, c.outstanding.load(Ordering::Relaxed)));
            let index = match least {
                Some((i, n)) if n < limits.depth || conns.len() >= limits.connections => i,
                _ => {
                    conns.push(open(target, limits, self.done.clone()));
                    conns.len() - 1
                }
            };
            let conn = &conns[index];
            conn.outstanding.fetch_add(1, Ordering::Relaxed);
            match conn.jobs.send(job) {
                Ok(()) => return,
                Err(mpsc::error::SendError(back)) => {
                    // The connection closed itself (idle) just now: use another.
                    conn.outstanding.fetch_sub(1, Ordering::Relaxed);
                    job = back;
                }
            }
        }
    }
}

fn open(target: &Target, limits: Limits, done: mpsc::UnboundedSender<Done>) -> Conn {
    let (jobs, queue) = mpsc::unbounded_channel();
    let outstanding = Arc::new(AtomicUsize::new(0));
    let connection = Connection {
        host: target.host.clone(),
        port: target.port,
        limits,
        queue,
        done,
        outstanding: Arc::clone(&outstanding),
        stream: None,
        buf: Vec::with_capacity(16 * 1024),
        out: Vec::with_capacity(16 * 1024),
        answered: Vec::new(),
    };
    tokio::spawn(connection.run());
    Conn { jobs, outstanding }
}

/// How a round ended after its answered pushes.
enum RoundEnd {
    /// Every push was answered; the connection stays open.
    Kept,
    /// The receiver closes after the last answer: the rest go again on a new connection.
    Closed,
    /// The rest fail with this label and reason; the connection is dropped. `quiet`: the connection
    /// ended before any byte came back (a kept-alive connection the receiver had closed).
    Failed {
        label: &'static str,
        reason: String,
        quiet: bool,
    },
}

struct Connection {
    host: String,
    port: u16,
    limits: Limits,
    queue: mpsc::UnboundedReceiver<Job>,
    done: mpsc::UnboundedSender<Done>,
    outstanding: Arc<AtomicUsize>,
    stream: Option<TcpStream>,
    /// Bytes read and not yet parsed.
    buf: Vec<u8>,
    /// The round's requests.
    out: Vec<u8>,
    /// The round's answers so far (kept when the round times out).
    answered: Vec<u16>,
}

impl Connection {
    async fn run(mut self) {
        let mut waiting: VecDeque<Job> = VecDeque::new();
        loop {
            if waiting.is_empty() {
                match tokio::time::timeout(IDLE, self.queue.recv()).await {
                    Ok(Some(job)) => waiting.push_back(job),
                    Ok(None) => return,
                    Err(_) => {
                        // Idle: refuse new jobs, then serve any that raced in.
                        self.queue.close();
                        match self.queue.try_recv() {
                            Ok(job) => waiting.push_back(job),
                            Err(_) => return,
                        }
                    }
                }
            }
            while waiting.len() < self.limits.depth {
                match self.queue.try_recv() {
                    Ok(job) => waiting.push_back(job),
                    Err(_) => break,
                }
            }
            let take = waiting.len().min(self.limits.depth);
            let round: Vec<Job> = waiting.drain(..take).collect();
            let left = self.round(round).await;
            for job in left.into_iter().rev() {
                waiting.push_front(job);
            }
        }
    }

    /// Sends one round; returns the pushes to send again.
    async fn round(&mut self, round: Vec<Job>) -> Vec<Job> {
        let reused = self.stream.is_some();
        if self.stream.is_none() {
            match self.connect().await {
                Ok(stream) => self.stream = Some(stream),
                Err((label, reason)) => {
                    for job in round {
                        self.finish(job, failed(label, &reason));
                    }
                    return Vec::new();
                }
            }
        }
        let deadline = tokio::time::Instant::now() + self.limits.timeout;
        self.out.clear();
        for job in &round {
            self.out.extend_from_slice(&job.request);
        }
        self.answered.clear();
        let mut jobs = round.into_iter();
        let end = match tokio::time::timeout_at(deadline, self.exchange(jobs.len())).await {
            Ok(end) => end,
            Err(_) => RoundEnd::Failed {
                label: "timeout",
                reason: format!("no answer within {} ms", self.limits.timeout.as_millis()),
                quiet: false,
            },
        };
        let answered = std::mem::take(&mut self.answered);
        // `exchange` reads at most one answer per request written.
        for (&status, job) in answered.iter().zip(jobs.by_ref()) {
            let outcome = if (200..300).contains(&status) {
                (PushOutcome::Delivered, "delivered")
            } else {
                failed("http_status", &format!("HTTP {status}"))
            };
            self.finish(job, outcome);
        }
        self.answered = answered;
        let rest: Vec<Job> = jobs.collect();
        match end {
            RoundEnd::Kept => Vec::new(),
            RoundEnd::Closed => {
                self.stream = None;
                self.buf.clear();
                rest
            }
            RoundEnd::Failed { label, reason, quiet } => {
                self.stream = None;
                self.buf.clear();
                let mut again = Vec::new();
                for mut job in rest {
                    if quiet && reused && !job.resent {
                        job.resent = true;
                        again.push(job);
                    } else {
                        self.finish(job, failed(label, &reason));
                    }
                }
                again
            }
        }
    }

    /// Writes the round's requests (`out`) and reads `count` answers' statuses into `answered`.
    async fn exchange(&mut self, count: usize) -> RoundEnd {
        let Some(stream) = self.stream.as_mut() else {
            return RoundEnd::Failed {
                label: "error",
                reason: "not connected".into(),
                quiet: false,
            };
        };
        if let Err(e) = stream.write_all(&self.out).await {
            return RoundEnd::Failed {
                label: "error",
                reason: format!("write: {e}"),
                quiet: true,
            };
        }
        let mut got_bytes = false;
        loop {
            while self.answered.len() < count {
                match http1::parse_response(&self.buf) {
                    Ok(Parsed::Complete(response, n)) => {
                        self.buf.drain(..n);
                        self.answered.push(response.status);
                        if response.closes {
                            return RoundEnd::Closed;
                        }
                    }
                    Ok(Parsed::UntilClose(_) | Parsed::Partial) => break,
                    Err(reason) => {
                        return RoundEnd::Failed {
                            label: "error",
                            reason,
                            quiet: false,
                        };
                    }
                }
            }
            if self.answered.len() == count {
                if self.buf.is_empty() {
                    return RoundEnd::Kept;
                }
                // More bytes than answers: the connection cannot be trusted any more.
                self.buf.clear();
                return RoundEnd::Closed;
            }
            if self.buf.len() > BUFFER_MAX {
                return RoundEnd::Failed {
                    label: "error",
                    reason: format!("a response over {BUFFER_MAX} bytes"),
                    quiet: false,
                };
            }
            let quiet = !got_bytes && self.answered.is_empty();
            // Acknowledge at once: a receiver with Nagle on (hyper's default) holds its next pipelined
            // answer until the previous one is acknowledged, and a delayed ACK would cost 40 ms a round.
            // Linux leaves quick-ACK mode by itself, so it is set before every read.
            let _ = socket2::SockRef::from(&*stream).set_tcp_quickack(true);
            match stream.read_buf(&mut self.buf).await {
                Ok(0) => {
                    // The receiver closed: a body delimited by the close ends here.
                    if let Ok(Parsed::UntilClose(response)) = http1::parse_response(&self.buf) {
                        self.buf.clear();
                        self.answered.push(response.status);
                        return RoundEnd::Closed;
                    }
                    return RoundEnd::Failed {
                        label: "error",
                        reason: "the receiver closed the connection before answering".into(),
                        quiet,
                    };
                }
                Ok(_) => got_bytes = true,
                Err(e) => {
                    return RoundEnd::Failed {
                        label: "error",
                        reason: format!("read: {e}"),
                        quiet,
                    };
                }
            }
        }
    }

    async fn connect(&self) -> Result<TcpStream, (&'static str, String)> {
        let address = (self.host.as_str(), self.port);
        match tokio::time::timeout(self.limits.connect_timeout, TcpStream::connect(address)).await {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                Ok(stream)
            }
            Ok(Err(e)) => Err(("connect", format!("connect {}:{}: {e}", self.host, self.port))),
            Err(_) => Err((
                "timeout",
                format!(
                    "connect {}:{}: no answer within {} ms",
                    self.host,
                    self.port,
                    self.limits.connect_timeout.as_millis()
                ),
            )),
        }
    }

    fn finish(&self, job: Job, (outcome, label): (PushOutcome, &'static str)) {
        self.outstanding.fetch_sub(1, Ordering::Relaxed);
        let sent = Sent {
            outcome,
            label,
            took: job.started.elapsed(),
        };
        let _ = self.done.send((job.id, job.kind, job.app_label, sent));
    }
}

fn failed(label: &'static str, reason: &str) -> (PushOutcome, &'static str) {
    (
        PushOutcome::Failed {
            reason: reason.to_owned(),
        },
        label,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;
    use tokio::net::TcpListener;

    /// How the test receiver answers the n-th request (counted over all connections) on a connection:
    /// the bytes to write back (empty: write nothing and close).
    type Answer = fn(u64) -> &'static [u8];

    /// A receiver that parses pipelined requests and answers each with `answer`; returns its address and the
    /// count of connections it accepted.
    async fn receiver(answer: Answer) -> (String, Arc<AtomicU64>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/cb", listener.local_addr().unwrap());
        let accepted = Arc::new(AtomicU64::new(0));
        let requests = Arc::new(AtomicU64::new(0));
        let count = Arc::clone(&accepted);
        tokio::spawn(async move {
            loop {
                let (mut socket, _) = listener.accept().await.unwrap();
                count.fetch_add(1, Ordering::SeqCst);
                let requests = Arc::clone(&requests);
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    loop {
                        let mut headers = [httparse::EMPTY_HEADER; 16];
                        let mut request = httparse::Request::new(&mut headers);
                        if let Ok(httparse::Status::Complete(head)) = request.parse(&buf) {
                            let length: usize = request
                                .headers
                                .iter()
                                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                                .map(|h| std::str::from_utf8(h.value).unwrap().parse().unwrap())
                                .unwrap();
                            if buf.len() >= head + length {
                                buf.drain(..head + length);
                                let n = requests.fetch_add(1, Ordering::SeqCst);
                                let bytes = answer(n);
                                if bytes.is_empty() {
                                    return;
                                }
                                if socket.write_all(bytes).await.is_err() {
                                    return;
                                }
                                continue;
                            }
                        }
                        if socket.read_buf(&mut buf).await.unwrap_or(0) == 0 {
                            return;
                        }
                    }
                });
            }
        });
        (url, accepted)
    }

    fn limits(depth: usize) -> Limits {
        Limits {
            connect_timeout: Duration::from_millis(500),
            timeout: Duration::from_millis(500),
            depth,
            connections: 2,
        }
    }

    async fn push_all(
        pipes: &mut Pipelines,
        done: &mut mpsc::UnboundedReceiver<Done>,
        url: &str,
        n: u64,
    ) -> Vec<(u64, &'static str)> {
        let target = Target::parse(url).unwrap();
        for i in 0..n {
            let request = http1::encode_post(&target, &[], "{}").unwrap();
            pipes.send(
                AppId(1),
                &target,
                Job::new(PushId(i), PushKind::CallEvent, None, request),
            );
        }
        let mut out = Vec::new();
        for _ in 0..n {
            let (id, _, _, sent) = tokio::time::timeout(Duration::from_secs(5), done.recv())
                .await
                .expect("every push ends")
                .unwrap();
            out.push((id.0, sent.label));
        }
        out.sort_unstable();
        out
    }

    const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

    #[tokio::test]
    async fn a_round_of_pushes_shares_one_connection_and_each_gets_its_answer() {
        let (url, accepted) = receiver(|n| {
            if n == 2 {
                b"HTTP/1.1 503 Busy\r\nContent-Length: 4\r\n\r\nbusy"
            } else {
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"
            }
        })
        .await;
        let (mut pipes, mut done) = Pipelines::new(limits(8));
        let results = push_all(&mut pipes, &mut done, &url, 6).await;
        let labels: Vec<&str> = results.iter().map(|r| r.1).collect();
        assert_eq!(
            labels.iter().filter(|l| **l == "delivered").count(),
            5,
            "{results:?}"
        );
        assert_eq!(
            labels.iter().filter(|l| **l == "http_status").count(),
            1,
            "{results:?}"
        );
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            1,
            "6 pushes, depth 8: one connection"
        );
        // The connection is kept: another round reuses it.
        let again = push_all(&mut pipes, &mut done, &url, 3).await;
        assert!(again.iter().all(|r| r.1 == "delivered"), "{again:?}");
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn after_connection_close_the_unserved_requests_go_again_on_a_new_connection() {
        let (url, accepted) =
            receiver(|_| b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n").await;
        let (mut pipes, mut done) = Pipelines::new(limits(8));
        let results = push_all(&mut pipes, &mut done, &url, 4).await;
        assert!(results.iter().all(|r| r.1 == "delivered"), "{results:?}");
        assert!(accepted.load(Ordering::SeqCst) >= 4, "one answer per connection");
    }

    #[tokio::test]
    async fn a_receiver_that_hangs_up_before_answering_is_retried_once_then_fails() {
        // Every connection's first request is dropped with the connection.
        let (url, _) = receiver(|_| b"").await;
        let (mut pipes, mut done) = Pipelines::new(limits(8));
        let first = push_all(&mut pipes, &mut done, &url, 2).await;
        assert!(first.iter().all(|r| r.1 == "error"), "{first:?}");
    }

    #[tokio::test]
    async fn a_silent_receiver_times_out_and_a_closed_port_fails_to_connect() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let silent = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let mut held = Vec::new();
            loop {
                let (socket, _) = listener.accept().await.unwrap();
                held.push(socket);
            }
        });
        let (mut pipes, mut done) = Pipelines::new(limits(4));
        let started = Instant::now();
        let results = push_all(&mut pipes, &mut done, &silent, 3).await;
        assert!(results.iter().all(|r| r.1 == "timeout"), "{results:?}");
        assert!(started.elapsed() >= Duration::from_millis(450));
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            format!("http://{}/", l.local_addr().unwrap())
        };
        let results = push_all(&mut pipes, &mut done, &closed, 2).await;
        assert!(results.iter().all(|r| r.1 == "connect"), "{results:?}");
    }

    #[tokio::test]
    async fn a_kept_alive_connection_the_receiver_closed_is_replaced_transparently() {
        // The receiver answers one request per connection, then closes without saying so.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move {
            loop {
                let (mut socket, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = socket.read(&mut buf).await;
                    let _ = socket.write_all(OK).await;
                    // Closed once the client has read the answer.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                });
            }
        });
        let (mut pipes, mut done) = Pipelines::new(limits(1));
        for round in 0..3 {
            let results = push_all(&mut pipes, &mut done, &url, 1).await;
            assert_eq!(results[0].1, "delivered", "round {round}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    #[tokio::test]
    async fn more_pushes_than_the_depth_open_more_connections_up_to_the_cap() {
        let (url, accepted) = receiver(|_| OK).await;
        let (mut pipes, mut done) = Pipelines::new(limits(2));
        let results = push_all(&mut pipes, &mut done, &url, 10).await;
        assert!(results.iter().all(|r| r.1 == "delivered"), "{results:?}");
        assert_eq!(accepted.load(Ordering::SeqCst), 2, "depth 2, cap 2 connections");
    }
}
