//! A platform's push receiver for the tests: a small HTTP/1.1 server on loopback that verifies every push's
//! signature with the app's secret (`X-AKSK` HMAC-SHA256 or legacy `X-WSSE` SHA-256 of Nonce+Created(+secret)),
//! records it with the time it arrived, and answers as the test says: 200, another status, after a delay, or
//! not at all (the listener closed: connections are refused). Block requests (an X-mode call's
//! `statusInfo.notifyMode: "Block"`, an SMS Block's `smsEvent.notificationMode: "Block"`) to a path can get an
//! answer of their own, with a JSON body: the customer's decision ([`Receiver::answer_block`]).
//!
//! Hand-written on std (blocking, one thread per connection, keep-alive, `Content-Length` bodies only): the
//! e2e crate has no async runtime and the switch's pushes are plain POSTs.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

/// How the receiver answers pushes to one path.
#[derive(Clone, Debug)]
pub struct Answer {
    /// HTTP status (200 = accepted).
    pub status: u16,
    /// Wait this long before answering.
    pub delay: Duration,
}

impl Answer {
    /// 200 at once.
    pub fn ok() -> Answer {
        Answer {
            status: 200,
            delay: Duration::ZERO,
        }
    }
}

/// How the receiver answers Block requests (X-mode calls, SMS Block) to one path: the customer's reply.
#[derive(Clone, Debug)]
pub struct BlockAnswer {
    /// HTTP status.
    pub status: u16,
    /// Wait this long before answering (longer than the switch's decision timeout: no reply in time).
    pub delay: Duration,
    /// The reply body (`{"operation":…}` for a call, `{"actions":[…]}` for an SMS).
    pub body: String,
}

impl BlockAnswer {
    /// 200 at once with `body`.
    pub fn ok(body: &str) -> BlockAnswer {
        BlockAnswer {
            status: 200,
            delay: Duration::ZERO,
            body: body.to_owned(),
        }
    }
}

/// One push as received.
#[derive(Clone, Debug)]
pub struct Received {
    /// The request path.
    pub path: String,
    /// When its body had arrived.
    pub at: Instant,
    /// The same moment on the wall clock.
    pub wall: SystemTime,
    /// The status answered (or to be answered).
    pub status: u16,
    /// Whether the answer was written (the switch may still not have read it: a `kill -9` in between makes it
    /// push again). Pushes are listed in arrival order, answered or not.
    pub answered: bool,
    /// The `Username` of its signature.
    pub app_key: String,
    /// `aksk` or `wsse`.
    pub scheme: &'static str,
    /// Whether the signature verified with that app's secret.
    pub verified: bool,
    /// Why not, when it did not.
    pub problem: Option<String>,
    /// The JSON body.
    pub body: Value,
}

struct Shared {
    secrets: Mutex<HashMap<String, String>>,
    answers: Mutex<HashMap<String, Answer>>,
    blocks: Mutex<HashMap<String, BlockAnswer>>,
    received: Mutex<Vec<Received>>,
    /// Bumped when the receiver goes down: connections of an older generation are closed.
    generation: AtomicU64,
    down: AtomicBool,
}

/// The running receiver.
pub struct Receiver {
    addr: SocketAddr,
    shared: Arc<Shared>,
    listener: Mutex<Option<Arc<TcpListener>>>,
}

impl Receiver {
    /// Starts on a free loopback port; verifies pushes of `apps` (`app_key` → `app_secret`).
    pub fn start(apps: &[(&str, &str)]) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind receiver");
        let addr = listener.local_addr().expect("receiver address");
        let shared = Arc::new(Shared {
            secrets: Mutex::new(
                apps.iter()
                    .map(|(k, s)| ((*k).to_owned(), (*s).to_owned()))
                    .collect(),
            ),
            answers: Mutex::new(HashMap::new()),
            blocks: Mutex::new(HashMap::new()),
            received: Mutex::new(Vec::new()),
            generation: AtomicU64::new(0),
            down: AtomicBool::new(false),
        });
        let receiver = Receiver {
            addr,
            shared,
            listener: Mutex::new(None),
        };
        receiver.serve(listener);
        receiver
    }

    fn serve(&self, listener: TcpListener) {
        let listener = Arc::new(listener);
        *self.listener.lock().unwrap() = Some(Arc::clone(&listener));
        let shared = Arc::clone(&self.shared);
        let generation = shared.generation.load(Ordering::SeqCst);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if shared.generation.load(Ordering::SeqCst) != generation {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let shared = Arc::clone(&shared);
                std::thread::spawn(move || connection(stream, &shared, generation));
            }
        });
    }

    /// Answers Block requests to `path` with `answer` (`None`: as any other push to that path).
    pub fn answer_block(&self, path: &str, answer: Option<BlockAnswer>) {
        let mut blocks = self.shared.blocks.lock().unwrap();
        match answer {
            Some(a) => blocks.insert(path.to_owned(), a),
            None => blocks.remove(path),
        };
    }

    /// Also verifies pushes of this app.
    pub fn add_app(&self, app_key: &str, app_secret: &str) {
        self.shared
            .secrets
            .lock()
            .unwrap()
            .insert(app_key.to_owned(), app_secret.to_owned());
    }

    /// `http://127.0.0.1:PORT<path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// How pushes to `path` are answered from now on (default: 200 at once).
    pub fn answer(&self, path: &str, answer: Answer) {
        self.shared
            .answers
            .lock()
            .unwrap()
            .insert(path.to_owned(), answer);
    }

    /// Closes the listener and every open connection: pushes are refused until [`Receiver::up`].
    pub fn down(&self) {
        self.shared.down.store(true, Ordering::SeqCst);
        self.shared.generation.fetch_add(1, Ordering::SeqCst);
        if let Some(listener) = self.listener.lock().unwrap().take() {
            // Wake the accept loop so it sees the new generation and drops the socket.
            drop(TcpStream::connect(self.addr));
            drop(listener);
        }
        // Give the accept thread a moment to drop its handle of the socket.
        let deadline = Instant::now() + Duration::from_secs(5);
        while TcpStream::connect_timeout(&self.addr, Duration::from_millis(100)).is_ok() {
            assert!(
                Instant::now() < deadline,
                "the receiver's port still accepts connections"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Listens again on the same port.
    pub fn up(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let listener = loop {
            match TcpListener::bind(self.addr) {
                Ok(l) => break l,
                Err(e) => {
                    assert!(Instant::now() < deadline, "rebind {}: {e}", self.addr);
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        };
        self.shared.down.store(false, Ordering::SeqCst);
        self.serve(listener);
    }

    /// Every push received so far.
    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    /// Waits until `done` holds for what was received, up to `limit`; panics with a summary if it never does.
    pub fn wait_for(&self, what: &str, limit: Duration, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let deadline = Instant::now() + limit;
        loop {
            let got = self.received();
            if done(&got) {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "receiver: {what} not within {limit:?}; {} pushes received:\n{}",
                got.len(),
                summary(&got)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// One line per push (for failure messages), at most 40.
pub fn summary(got: &[Received]) -> String {
    got.iter()
        .take(40)
        .map(|r| {
            let mut body = r.body.to_string();
            body.truncate(200);
            format!(
                "{} {} answered={} {} verified={} {body}",
                r.path, r.status, r.answered, r.app_key, r.verified
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Serves one connection until it closes or the receiver goes down.
fn connection(stream: TcpStream, shared: &Shared, generation: u64) {
    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    loop {
        let Some((path, headers, body)) = read_request(&mut reader, shared, generation) else {
            return;
        };
        let block = serde_json::from_slice::<Value>(&body).ok().is_some_and(|v| {
            v["statusInfo"]["notifyMode"] == "Block" || v["smsEvent"]["notificationMode"] == "Block"
        });
        let block_answer = block
            .then(|| shared.blocks.lock().unwrap().get(&path).cloned())
            .flatten();
        let answer = block_answer.as_ref().map_or_else(
            || {
                shared
                    .answers
                    .lock()
                    .unwrap()
                    .get(&path)
                    .cloned()
                    .unwrap_or_else(Answer::ok)
            },
            |b| Answer {
                status: b.status,
                delay: b.delay,
            },
        );
        let reply = block_answer.map(|b| b.body).unwrap_or_default();
        // Listed at arrival: the list's order is the order pushes reached the receiver.
        let index = {
            let mut list = shared.received.lock().unwrap();
            list.push(record(&path, &headers, &body, answer.status, shared));
            list.len() - 1
        };
        std::thread::sleep(answer.delay);
        if shared.generation.load(Ordering::SeqCst) != generation {
            return;
        }
        let content_type = if reply.is_empty() {
            ""
        } else {
            "Content-Type: application/json\r\n"
        };
        let response = format!(
            "HTTP/1.1 {} X\r\n{content_type}Content-Length: {}\r\nConnection: keep-alive\r\n\r\n{reply}",
            answer.status,
            reply.len()
        );
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
        shared.received.lock().unwrap()[index].answered = true;
    }
}

type Request = (String, HashMap<String, String>, Vec<u8>);

/// Reads one request (head, then a `Content-Length` body); `None` when the connection ends or the receiver
/// went down.
fn read_request(reader: &mut BufReader<TcpStream>, shared: &Shared, generation: u64) -> Option<Request> {
    let mut line = String::new();
    loop {
        if shared.generation.load(Ordering::SeqCst) != generation {
            return None;
        }
        match reader.read_line(&mut line) {
            Ok(0) => return None,
            Ok(_) => break,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return None,
        }
    }
    let path = line.split_whitespace().nth(1)?.to_owned();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (name, value) = h.split_once(':')?;
        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut read = 0;
    while read < len {
        match reader.read(&mut body[read..]) {
            Ok(0) => return None,
            Ok(n) => read += n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if Instant::now() > deadline {
                    return None;
                }
            }
            Err(_) => return None,
        }
    }
    Some((path, headers, body))
}

fn record(
    path: &str,
    headers: &HashMap<String, String>,
    body: &[u8],
    status: u16,
    shared: &Shared,
) -> Received {
    let (app_key, scheme, problem) = verify(headers, &shared.secrets.lock().unwrap());
    Received {
        path: path.to_owned(),
        at: Instant::now(),
        wall: SystemTime::now(),
        status,
        answered: false,
        app_key,
        scheme,
        verified: problem.is_none(),
        problem,
        body: serde_json::from_slice(body).unwrap_or(Value::Null),
    }
}

/// Checks the signature headers: `(Username, scheme, problem)`.
fn verify(
    headers: &HashMap<String, String>,
    secrets: &HashMap<String, String>,
) -> (String, &'static str, Option<String>) {
    let authorization = headers.get("authorization").cloned().unwrap_or_default();
    let (scheme, token) = if let Some(t) = headers.get("x-aksk") {
        ("aksk", t.clone())
    } else if let Some(t) = headers.get("x-wsse") {
        ("wsse", t.clone())
    } else {
        return (String::new(), "none", Some("no X-AKSK or X-WSSE header".into()));
    };
    let expected_auth = if scheme == "aksk" {
        r#"AKSK realm="SDP",profile="UsernameToken",type="Appkey""#
    } else {
        r#"WSSE realm="SDP",profile="UsernameToken",type="Appkey""#
    };
    let field = |name: &str| -> String {
        let key = format!("{name}=\"");
        token
            .find(&key)
            .and_then(|i| token[i + key.len()..].split('"').next())
            .unwrap_or_default()
            .to_owned()
    };
    let (user, digest, nonce, created) = (
        field("Username"),
        field("PasswordDigest"),
        field("Nonce"),
        field("Created"),
    );
    if authorization != expected_auth {
        return (user, scheme, Some(format!("Authorization {authorization:?}")));
    }
    let Some(secret) = secrets.get(&user) else {
        return (user, scheme, Some("unknown app key".into()));
    };
    if nonce.is_empty() || !nonce.chars().all(|c| c.is_ascii_alphanumeric()) || created.len() != 20 {
        return (
            user,
            scheme,
            Some(format!("Nonce {nonce:?} / Created {created:?}")),
        );
    }
    let want = if scheme == "aksk" {
        crate::aksk_digest(secret, &nonce, &created)
    } else {
        crate::wsse_digest(secret, &nonce, &created)
    };
    let problem = (want != digest).then(|| format!("PasswordDigest {digest} != {want}"));
    (user, scheme, problem)
}

/// Points `app_key`'s call-status and CDR URLs at `events_path` and `cdr_path` of `receiver` (admin API).
pub fn point_app_at(
    switch: &crate::Switch,
    app_key: &str,
    receiver: &Receiver,
    events_path: Option<&str>,
    cdr_path: Option<&str>,
) {
    let body = serde_json::json!({
        "callStatusUrl": events_path.map_or_else(String::new, |p| receiver.url(p)),
        "cdrUrl": cdr_path.map_or_else(String::new, |p| receiver.url(p)),
    });
    let (status, answer) = switch.admin(
        reqwest::Method::PUT,
        &format!("/admin/v1/apps/{app_key}"),
        Some(&body),
    );
    assert_eq!(status, 200, "point the app's URLs at the receiver: {answer}");
}

/// Every CDR (`feeLst` element) in the 2xx-answered pushes of `got` to paths starting with `prefix`, in
/// arrival order.
pub fn delivered_cdrs(got: &[Received], prefix: &str) -> Vec<Value> {
    got.iter()
        .filter(|r| r.answered && r.status / 100 == 2 && r.path.starts_with(prefix))
        .flat_map(|r| r.body["feeLst"].as_array().cloned().unwrap_or_default())
        .collect()
}

/// The 2xx-answered call events of `got` to paths starting with `prefix`, in arrival order.
pub fn delivered_events(got: &[Received], prefix: &str) -> Vec<Value> {
    got.iter()
        .filter(|r| r.answered && r.status / 100 == 2 && r.path.starts_with(prefix))
        .map(|r| r.body.clone())
        .collect()
}

/// The distinct `icid`s of `cdrs`.
pub fn icids(cdrs: &[Value]) -> std::collections::BTreeSet<String> {
    cdrs.iter()
        .filter_map(|c| c["icid"].as_str().map(str::to_owned))
        .collect()
}
