//! The SIP runtime end to end: the real binary with `--sip-listen 127.0.0.1:0`, an AXB binding provisioned
//! over the admin and signed APIs, and UDP sockets owned by the test playing the caller A (ingress trunk) and
//! the callee B (egress trunk). Checks the B leg (From = X), the answer relayed to A, ACK and BYE across, the
//! CDR in the outbox, OPTIONS answered locally, an untrusted source refused with 403, and a garbage request
//! answered with 400. With `PNSWITCH__MEDIA__MODE=relay`, RTP and RTCP flow through the switch's ports
//! unchanged and dead media releases the call.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test: failing loudly is the point
#![allow(clippy::similar_names)] // rtp/rtcp of each party

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

const X: &str = "+8617000000001";
const A: &str = "+8613800000001";
const B: &str = "+8613900000002";
const AXB: &str = "/rest/caas/relationnumber/partners/v1.0";

struct Switch {
    child: Child,
    http: SocketAddr,
    /// The first UDP address.
    sip: SocketAddr,
    /// Every `(transport, address)` printed.
    listening: Vec<(String, SocketAddr)>,
    token: String,
}

impl Switch {
    fn bound(&self, transport: &str, v6: bool) -> SocketAddr {
        self.listening
            .iter()
            .find(|(t, a)| t == transport && a.is_ipv6() == v6)
            .map_or_else(
                || panic!("no {transport} listener (v6: {v6}) in {:?}", self.listening),
                |(_, a)| *a,
            )
    }
}

impl Drop for Switch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(dir: &std::path::Path, egress: SocketAddr, listen: &str) -> Switch {
    start_with(dir, egress, listen, &[])
}

/// A relay port range of its own (100 ports) for each switch this test binary starts: its tests run in parallel,
/// and two switches on one range take the same pairs (the second bind fails: 503 / 7508). 61000–65499: above
/// the kernel's ephemeral ports (32768–60999), which any client socket may take.
fn media_range() -> (u32, u32) {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 45;
    let min = 61_000 + n * 100;
    (min, min + 99)
}

/// [`start`] with extra `PNSWITCH__…` environment overrides (a relay port range of its own unless they set one).
fn start_with(dir: &std::path::Path, egress: SocketAddr, listen: &str, env: &[(&str, String)]) -> Switch {
    let config = dir.join("pnswitch.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\nsynchronous_full = false\n[sip]\nshards = 2\n[sip.b2bua]\negress = [\"{egress}\"]\n\
             trusted_peers = [\"127.0.0.0/31\", \"::1\"]\nt1_ms = 100\n"
        ),
    )
    .unwrap();
    let (media_lo, media_hi) = media_range();
    let mut child = Command::new(env!("CARGO_BIN_EXE_pnswitch"))
        .args([
            "serve",
            "--http-listen",
            "127.0.0.1:0",
            "--sip-listen",
            listen,
            "--config",
        ])
        .arg(&config)
        .arg("--data-dir")
        .arg(dir)
        .env("RUST_LOG", "warn")
        .env("PNSWITCH__MEDIA__PORT_MIN", media_lo.to_string())
        .env("PNSWITCH__MEDIA__PORT_MAX", media_hi.to_string())
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut http = None;
    let mut listening = Vec::new();
    // The SIP lines come first: SIP is up before the HTTP listener.
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(a) = line.strip_prefix("pnswitch: http listening on ") {
            http = Some(a.parse().unwrap());
            break;
        } else if let Some(rest) = line.strip_prefix("pnswitch: sip listening on ") {
            let (transport, addr) = rest.split_once(' ').unwrap();
            let addr: SocketAddr = addr.parse().unwrap();
            assert_ne!(addr.port(), 0, "the real port is printed: {line}");
            listening.push((transport.to_owned(), addr));
        }
    }
    std::thread::spawn(move || for _ in lines {});
    let sip = listening
        .iter()
        .find(|(t, _)| t == "udp")
        .map(|(_, a)| *a)
        .expect("sip udp line");
    let token = std::fs::read_to_string(dir.join("admin.token"))
        .unwrap()
        .trim()
        .to_owned();
    Switch {
        child,
        http: http.expect("http line"),
        sip,
        listening,
        token,
    }
}

/// A minimal HTTP/1.1 client (one request per connection).
fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: Option<&Value>,
) -> (u16, Value) {
    let mut s = TcpStream::connect(addr).unwrap();
    let body = body.map(Value::to_string).unwrap_or_default();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        let _ = write!(req, "{k}: {v}\r\n");
    }
    req.push_str("\r\n");
    req.push_str(&body);
    s.write_all(req.as_bytes()).unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let status = resp[9..12].parse().unwrap();
    let (_, body) = resp.split_once("\r\n\r\n").unwrap();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// Provisions app, X and an AXB binding A–X–B; returns its `subscriptionId`.
fn provision(sw: &Switch) -> String {
    let admin = [("Authorization", format!("Bearer {}", sw.token))];
    let (status, body) = http(
        sw.http,
        "POST",
        "/admin/v1/apps",
        &admin,
        Some(&json!({"name": "sip", "mode": "AXB"})),
    );
    assert_eq!(status, 200, "{body}");
    let app = body.get("app").unwrap_or(&body);
    let key = app["appKey"].as_str().unwrap().to_owned();
    let secret = app["appSecret"].as_str().unwrap().to_owned();
    let (status, body) = http(
        sw.http,
        "POST",
        "/admin/v1/numbers",
        &admin,
        Some(&json!({"appKey": key, "numbers": [{"number": X, "areaCode": "0755"}]})),
    );
    assert_eq!(status, 200, "{body}");
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let created = pn_api::auth::format_created(pn_bindings::UnixTime(now as i64));
    let signed: Vec<(&str, String)> = pn_api::auth::aksk_headers(&key, &secret, &format!("n{now}"), &created)
        .into_iter()
        .collect();
    let (status, body) = http(
        sw.http,
        "POST",
        AXB,
        &signed,
        Some(
            &json!({"relationNum": X, "callerNum": A, "calleeNum": B, "callDirection": 0, "userData": "u-42"}),
        ),
    );
    assert_eq!((status, body["resultcode"].as_str()), (200, Some("0")), "{body}");
    body["subscriptionId"].as_str().unwrap().to_owned()
}

fn socket(ip: &str) -> UdpSocket {
    let s = UdpSocket::bind(format!("{ip}:0")).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    s
}

/// The next SIP message on `s` (skipping `100 Trying`), within 5 s.
fn recv(s: &UdpSocket) -> (String, SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut buf = vec![0u8; 65_536];
    while Instant::now() < deadline {
        if let Ok((n, from)) = s.recv_from(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            if !text.starts_with("SIP/2.0 100 ") {
                return (text, from);
            }
        }
    }
    panic!("no SIP message on {:?} within 5 s", s.local_addr());
}

fn header<'a>(msg: &'a str, name: &str) -> Vec<&'a str> {
    let head = msg.split("\r\n\r\n").next().unwrap_or_default();
    head.lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .filter(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
        .collect()
}

fn first(msg: &str, name: &str) -> String {
    header(msg, name)
        .first()
        .copied()
        .unwrap_or_else(|| panic!("no {name} in\n{msg}"))
        .to_owned()
}

/// A response to `request` (Via, From, To with `tag`, `Call-ID`, `CSeq` copied), with optional SDP.
fn response(request: &str, status: &str, tag: &str, contact: SocketAddr, sdp: Option<&str>) -> String {
    let mut r = format!("SIP/2.0 {status}\r\n");
    for via in header(request, "Via") {
        let _ = write!(r, "Via: {via}\r\n");
    }
    let to = first(request, "To");
    let to = if to.contains("tag=") {
        to
    } else {
        format!("{to};tag={tag}")
    };
    let _ = write!(
        r,
        "From: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {}\r\nContact: <sip:b@{contact}>\r\n",
        first(request, "From"),
        first(request, "Call-ID"),
        first(request, "CSeq")
    );
    match sdp {
        Some(body) => {
            let _ = write!(
                r,
                "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
        }
        None => r.push_str("Content-Length: 0\r\n\r\n"),
    }
    r
}

fn sdp(user: &str, ip: &str) -> String {
    format!(
        "v=0\r\no={user} 1 1 IN IP4 {ip}\r\ns=call\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
    )
}

fn request(
    method: &str,
    to_switch: SocketAddr,
    me: SocketAddr,
    call_id: &str,
    cseq: u32,
    to_tag: Option<&str>,
    body: Option<&str>,
) -> String {
    let to_tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
    let mut r = format!(
        "{method} sip:{X}@{to_switch};user=phone SIP/2.0\r\nVia: SIP/2.0/UDP {me};rport;branch=z9hG4bK-{call_id}-{cseq}-{method}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:{A}@{me};user=phone>;tag=a-tag\r\nTo: <sip:{X}@{to_switch};user=phone>{to_tag}\r\n\
         Call-ID: {call_id}\r\nCSeq: {cseq} {method}\r\nContact: <sip:a@{me}>\r\n"
    );
    match body {
        Some(b) => {
            let _ = write!(
                r,
                "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{b}",
                b.len()
            );
        }
        None => r.push_str("Content-Length: 0\r\n\r\n"),
    }
    r
}

fn outbox_rows(dir: &std::path::Path) -> Vec<(String, String)> {
    let db = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "db"))
        .expect("a database file in the data directory");
    let conn =
        rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let mut stmt = conn
        .prepare("SELECT kind, payload FROM outbox ORDER BY id")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// The A side of a call: over UDP or TCP.
trait Leg {
    /// Sends one message to the switch.
    fn send(&mut self, msg: &str);
    /// The next message from the switch other than `100 Trying` (within 5 s).
    fn recv(&mut self) -> String;
    /// This side's address.
    fn me(&self) -> SocketAddr;
    /// Rewrites a UDP request for this transport.
    fn adapt(&self, msg: String) -> String {
        msg
    }
}

struct UdpLeg {
    socket: UdpSocket,
    switch: SocketAddr,
}

impl Leg for UdpLeg {
    fn send(&mut self, msg: &str) {
        self.socket.send_to(msg.as_bytes(), self.switch).unwrap();
    }
    fn recv(&mut self) -> String {
        let (msg, from) = recv(&self.socket);
        assert_eq!(from, self.switch, "answered from the address the request went to");
        msg
    }
    fn me(&self) -> SocketAddr {
        self.socket.local_addr().unwrap()
    }
}

struct TcpLeg {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Leg for TcpLeg {
    fn send(&mut self, msg: &str) {
        self.stream.write_all(msg.as_bytes()).unwrap();
    }
    fn recv(&mut self) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            while self.buf.starts_with(b"\r\n") {
                self.buf.drain(..2);
            }
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buf[..end]).into_owned();
                let len: usize = header(&format!("{head}\r\n\r\n"), "Content-Length")
                    .first()
                    .map_or(0, |v| v.parse().unwrap());
                if self.buf.len() >= end + 4 + len {
                    let msg: Vec<u8> = self.buf.drain(..end + 4 + len).collect();
                    let msg = String::from_utf8_lossy(&msg).into_owned();
                    if msg.starts_with("SIP/2.0 100 ") {
                        continue;
                    }
                    return msg;
                }
            }
            assert!(Instant::now() < deadline, "no SIP message over TCP within 5 s");
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => panic!("the switch closed the TCP connection"),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(_) => {}
            }
        }
    }
    fn me(&self) -> SocketAddr {
        self.stream.local_addr().unwrap()
    }
    fn adapt(&self, msg: String) -> String {
        msg.replacen("SIP/2.0/UDP", "SIP/2.0/TCP", 1)
    }
}

/// A whole AXB call A → X → B: B sees From = X and nothing of A; A gets 180 and 200 and nothing of B;
/// ACK and BYE go across.
fn call(switch: SocketAddr, a: &mut dyn Leg, b: &UdpSocket, call_id: &str) {
    let b_addr = b.local_addr().unwrap();
    let me = a.me();
    let a_sdp = sdp("alice", "127.0.0.1");
    let invite = a.adapt(request("INVITE", switch, me, call_id, 1, None, Some(&a_sdp)));
    a.send(&invite);
    let (invite, _) = recv(b);
    assert!(invite.starts_with("INVITE "), "{invite}");
    let from_b = first(&invite, "From");
    assert!(from_b.contains(&X[1..]), "B sees X as the caller: {from_b}");
    assert!(!invite.contains(&A[3..]), "A's number leaked to B:\n{invite}");
    assert!(!invite.contains(call_id), "A's Call-ID leaked to B:\n{invite}");
    assert!(first(&invite, "To").contains(&B[1..]), "{invite}");

    // B rings and answers.
    b.send_to(
        response(&invite, "180 Ringing", "b-tag", b_addr, None).as_bytes(),
        switch,
    )
    .unwrap();
    let ringing = a.recv();
    assert!(ringing.starts_with("SIP/2.0 180 "), "{ringing}");
    let b_sdp = sdp("bob", "127.0.0.1");
    b.send_to(
        response(&invite, "200 OK", "b-tag", b_addr, Some(&b_sdp)).as_bytes(),
        switch,
    )
    .unwrap();
    let ok = a.recv();
    assert!(ok.starts_with("SIP/2.0 200 "), "{ok}");
    assert!(!ok.contains(&B[3..]), "B's number leaked to A:\n{ok}");
    let to_tag = first(&ok, "To");
    let to_tag = to_tag
        .split("tag=")
        .nth(1)
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();

    // ACK and BYE from A reach B.
    let ack = a.adapt(request("ACK", switch, me, call_id, 1, Some(&to_tag), None));
    a.send(&ack);
    let (ack, _) = recv(b);
    assert!(ack.starts_with("ACK "), "{ack}");
    let bye = a.adapt(request("BYE", switch, me, call_id, 2, Some(&to_tag), None));
    a.send(&bye);
    let (bye, _) = recv(b);
    assert!(bye.starts_with("BYE "), "{bye}");
    b.send_to(response(&bye, "200 OK", "b-tag", b_addr, None).as_bytes(), switch)
        .unwrap();
    let bye_ok = a.recv();
    assert!(
        bye_ok.starts_with("SIP/2.0 200 ") && bye_ok.contains("BYE"),
        "{bye_ok}"
    );
}

fn metrics(sw: &Switch) -> String {
    let mut s = TcpStream::connect(sw.http).unwrap();
    s.write_all(
        format!(
            "GET /metrics HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            sw.http
        )
        .as_bytes(),
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    text
}

#[test]
fn axb_call_through_the_switch() {
    let dir = tempfile::tempdir().unwrap();
    let b = socket("127.0.0.1");
    let sw = start(dir.path(), b.local_addr().unwrap(), "127.0.0.1:0");
    let subscription = provision(&sw);
    let mut a = UdpLeg {
        socket: socket("127.0.0.1"),
        switch: sw.sip,
    };

    // OPTIONS keepalive from a trunk: answered locally.
    let options = request("OPTIONS", sw.sip, a.me(), "opt-1", 1, None, None);
    a.send(&options);
    let resp = a.recv();
    assert!(resp.starts_with("SIP/2.0 200 "), "{resp}");

    call(sw.sip, &mut a, &b, "call-1");

    // The CDR (and the call events) are durable in the outbox.
    let deadline = Instant::now() + Duration::from_secs(5);
    let rows = loop {
        let rows = outbox_rows(dir.path());
        if rows.iter().any(|(k, _)| k == "cdr") || Instant::now() > deadline {
            break rows;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let cdr = rows
        .iter()
        .find(|(k, _)| k == "cdr")
        .map(|(_, p)| p)
        .expect("a CDR row");
    let cdr: Value = serde_json::from_str(cdr).unwrap();
    assert_eq!(
        cdr["bindNum"].as_str().map(|s| s.contains(&X[1..])),
        Some(true),
        "{cdr}"
    );
    assert!(cdr["fwdAnswerTime"].is_string(), "{cdr}");
    assert_eq!(cdr["subscriptionId"], subscription.as_str(), "{cdr}");
    assert_eq!(cdr["userData"], "u-42", "{cdr}");
    assert!(rows.iter().any(|(k, _)| k == "call_event"), "{rows:?}");

    // Metrics saw the call.
    let metrics = metrics(&sw);
    assert!(
        metrics.contains("pn_sip_calls_total{cause=\"0\",outcome=\"answered\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("pn_route_lookups_total{outcome=\"connect\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("pn_sip_active_calls 0"), "{metrics}");
    assert!(metrics.contains("pn_sip_setup_seconds_count 1"), "{metrics}");
}

#[test]
fn tcp_and_ipv6_listeners() {
    let dir = tempfile::tempdir().unwrap();
    let b = socket("127.0.0.1");
    let sw = start(dir.path(), b.local_addr().unwrap(), "127.0.0.1:0,[::1]:0");
    provision(&sw);

    // A call whose A leg is TCP (B leg: the UDP egress trunk).
    let tcp = sw.bound("tcp", false);
    let stream = TcpStream::connect(tcp).unwrap();
    stream.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let mut a = TcpLeg {
        stream,
        buf: Vec::new(),
    };
    call(tcp, &mut a, &b, "tcp-call-1");

    // IPv6: UDP and TCP.
    let udp6 = sw.bound("udp", true);
    let socket6 = UdpSocket::bind("[::1]:0").unwrap();
    socket6
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut a6 = UdpLeg {
        socket: socket6,
        switch: udp6,
    };
    let options = request("OPTIONS", udp6, a6.me(), "opt-6", 1, None, None);
    a6.send(&options);
    let resp = a6.recv();
    assert!(resp.starts_with("SIP/2.0 200 "), "{resp}");
    let tcp6 = sw.bound("tcp", true);
    let stream = TcpStream::connect(tcp6).unwrap();
    stream.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let mut a6 = TcpLeg {
        stream,
        buf: Vec::new(),
    };
    let options = a6.adapt(request("OPTIONS", tcp6, a6.me(), "opt-6t", 1, None, None));
    a6.send(&options);
    let resp = a6.recv();
    assert!(resp.starts_with("SIP/2.0 200 "), "{resp}");
}

#[test]
fn untrusted_sources_and_garbage_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let b = socket("127.0.0.1");
    let sw = start(dir.path(), b.local_addr().unwrap(), "127.0.0.1:0");
    // 127.0.0.2 is loopback too, but outside the trusted range 127.0.0.0/31.
    let stranger = socket("127.0.0.2");
    let me = stranger.local_addr().unwrap();
    let body = sdp("eve", "127.0.0.2");
    stranger
        .send_to(
            request("INVITE", sw.sip, me, "call-x", 1, None, Some(&body)).as_bytes(),
            sw.sip,
        )
        .unwrap();
    let (resp, from) = recv(&stranger);
    assert!(resp.starts_with("SIP/2.0 403 "), "{resp}");
    assert_eq!(from, sw.sip, "answered from the switch's address");
    // Nothing reached the egress trunk.
    let mut buf = [0u8; 2048];
    assert!(b.recv_from(&mut buf).is_err(), "an untrusted INVITE was routed");

    // A request that does not parse gets a 400 when its headers can be found.
    let a = socket("127.0.0.1");
    let me = a.local_addr().unwrap();
    let broken = format!(
        "INVITE sip:{X}@{} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK-bad\r\nFrom: <sip:{A}@{me}>;tag=1\r\n\
         To: <sip:{X}@{}>\r\nCall-ID: bad-1\r\nCSeq: 1 INVITE\r\nContent-Length: 99999\r\n\r\n",
        sw.sip, sw.sip
    );
    a.send_to(broken.as_bytes(), sw.sip).unwrap();
    let (resp, _) = recv(&a);
    assert!(resp.starts_with("SIP/2.0 400 "), "{resp}");
    assert!(resp.contains("Call-ID: bad-1"), "{resp}");
    // With the cause: Q.850 95 (invalid message), stateCode 7505.
    assert!(resp.contains("\r\nReason: Q.850;cause=95;text=\"7505 "), "{resp}");

    // A request that parses but is refused by validation (an unsupported Require) names its cause too.
    let refused = format!(
        "OPTIONS sip:{X}@{} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK-req\r\nFrom: <sip:{A}@{me}>;tag=1\r\n\
         To: <sip:{X}@{}>\r\nCall-ID: bad-2\r\nCSeq: 1 OPTIONS\r\nRequire: x-no-such-extension\r\n\
         Content-Length: 0\r\n\r\n",
        sw.sip, sw.sip
    );
    a.send_to(refused.as_bytes(), sw.sip).unwrap();
    let (resp, _) = recv(&a);
    assert!(resp.starts_with("SIP/2.0 420 "), "{resp}");
    assert!(resp.contains("\r\nReason: Q.850;cause=79;text=\"7505 "), "{resp}");
}

/// `(address, RTP port)` of an SDP body's `c=` and first `m=`.
fn sdp_media(msg: &str) -> SocketAddr {
    let body = msg.split_once("\r\n\r\n").unwrap().1;
    let ip = body
        .lines()
        .find_map(|l| l.strip_prefix("c=IN IP4 "))
        .unwrap_or_else(|| panic!("no c= in\n{msg}"));
    let port = body
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|m| m.split(' ').next())
        .unwrap_or_else(|| panic!("no m= in\n{msg}"));
    format!("{}:{port}", ip.trim()).parse().unwrap()
}

fn media_sdp(user: &str, rtp: SocketAddr, rtcp: SocketAddr) -> String {
    format!(
        "v=0\r\no={user} 1 1 IN IP4 127.0.0.1\r\ns=call\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {} RTP/AVP 0\r\na=rtcp:{} IN IP4 127.0.0.1\r\na=sendrecv\r\n",
        rtp.port(),
        rtcp.port()
    )
}

fn rtp_packet(seq: u16, ts: u32, ssrc: u32, fill: u8) -> Vec<u8> {
    let mut p = vec![0x80, 0x00];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend((0..160u8).map(|i| i.wrapping_mul(fill)));
    p
}

fn rtcp_sr(ssrc: u32) -> Vec<u8> {
    let mut p = vec![0x80, 200, 0x00, 0x06];
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(&[7u8; 20]);
    p
}

/// Sends `bytes` from `from` to `to` and expects them, byte for byte, at `at` from `via`.
fn relayed(from: &UdpSocket, to: SocketAddr, at: &UdpSocket, via: SocketAddr, bytes: &[u8]) {
    from.send_to(bytes, to).unwrap();
    let mut buf = [0u8; 2048];
    let (n, src) = at
        .recv_from(&mut buf)
        .unwrap_or_else(|e| panic!("nothing relayed from {to} to {:?}: {e}", at.local_addr()));
    assert_eq!(&buf[..n], bytes, "relayed unchanged");
    assert_eq!(src, via, "sent from the switch's port of that leg");
}

#[test]
fn relay_mode_anchors_rtp_and_rtcp_and_releases_dead_media() {
    let dir = tempfile::tempdir().unwrap();
    let b = socket("127.0.0.1");
    let (base, _) = media_range();
    let env = [
        ("PNSWITCH__MEDIA__MODE", "relay".to_owned()),
        ("PNSWITCH__MEDIA__PORT_MIN", base.to_string()),
        ("PNSWITCH__MEDIA__PORT_MAX", (base + 39).to_string()),
        ("PNSWITCH__MEDIA__TIMEOUT_SECS", "2".to_owned()),
    ];
    let sw = start_with(dir.path(), b.local_addr().unwrap(), "127.0.0.1:0", &env);
    provision(&sw);
    let mut a = UdpLeg {
        socket: socket("127.0.0.1"),
        switch: sw.sip,
    };
    let (a_rtp, a_rtcp, b_rtp, b_rtcp) = (
        socket("127.0.0.1"),
        socket("127.0.0.1"),
        socket("127.0.0.1"),
        socket("127.0.0.1"),
    );
    for s in [&a_rtp, &a_rtcp, &b_rtp, &b_rtcp] {
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    }
    let addr = |s: &UdpSocket| s.local_addr().unwrap();

    let a_sdp = media_sdp("alice", addr(&a_rtp), addr(&a_rtcp));
    let me = a.me();
    a.send(&request("INVITE", sw.sip, me, "media-1", 1, None, Some(&a_sdp)));
    let (invite, _) = recv(&b);
    let switch_b = sdp_media(&invite);
    assert_ne!(switch_b.port(), addr(&a_rtp).port(), "{invite}");
    assert!(
        !invite.contains("a=rtcp:"),
        "A's RTCP address leaked to B:\n{invite}"
    );
    let b_addr = b.local_addr().unwrap();
    let b_sdp = media_sdp("bob", addr(&b_rtp), addr(&b_rtcp));
    b.send_to(
        response(&invite, "200 OK", "b-tag", b_addr, Some(&b_sdp)).as_bytes(),
        sw.sip,
    )
    .unwrap();
    let ok = a.recv();
    assert!(ok.starts_with("SIP/2.0 200 "), "{ok}");
    let switch_a = sdp_media(&ok);
    assert_ne!(switch_a.port(), addr(&b_rtp).port(), "{ok}");
    assert!(!ok.contains("a=rtcp:"), "B's RTCP address leaked to A:\n{ok}");
    let to_tag = first(&ok, "To").split("tag=").nth(1).unwrap().to_owned();
    a.send(&request("ACK", sw.sip, me, "media-1", 1, Some(&to_tag), None));
    let (ack, _) = recv(&b);
    assert!(ack.starts_with("ACK "), "{ack}");

    let rtcp_of = |mut s: SocketAddr| {
        s.set_port(s.port() + 1);
        s
    };
    // A -> B and B -> A: RTP, then RTCP, byte for byte.
    for i in 0..3u16 {
        let p = rtp_packet(1000 + i, 8000 + u32::from(i) * 160, 0x1122_3344, 3);
        relayed(&a_rtp, switch_a, &b_rtp, switch_b, &p);
        let p = rtp_packet(5000 + i, 16_000 + u32::from(i) * 160, 0x5566_7788, 5);
        relayed(&b_rtp, switch_b, &a_rtp, switch_a, &p);
    }
    relayed(
        &a_rtcp,
        rtcp_of(switch_a),
        &b_rtcp,
        rtcp_of(switch_b),
        &rtcp_sr(0x1122_3344),
    );
    relayed(
        &b_rtcp,
        rtcp_of(switch_b),
        &a_rtcp,
        rtcp_of(switch_a),
        &rtcp_sr(0x5566_7788),
    );

    // Silence: after 2 s without RTP both legs get a BYE with Q.850 cause 102.
    let (bye_b, _) = recv(&b);
    assert!(bye_b.starts_with("BYE "), "{bye_b}");
    assert!(first(&bye_b, "Reason").contains("cause=102"), "{bye_b}");
    b.send_to(
        response(&bye_b, "200 OK", "b-tag", b_addr, None).as_bytes(),
        sw.sip,
    )
    .unwrap();
    let bye_a = a.recv();
    assert!(bye_a.starts_with("BYE "), "{bye_a}");
    assert!(first(&bye_a, "Reason").contains("cause=102"), "{bye_a}");
}

/// A party's SDP with a codec and a direction attribute.
fn media_sdp_with(user: &str, rtp: SocketAddr, payload: u8, direction: &str) -> String {
    format!(
        "v=0\r\no={user} 1 2 IN IP4 127.0.0.1\r\ns=call\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {} RTP/AVP {payload}\r\na={direction}\r\n",
        rtp.port()
    )
}

/// re-INVITEs through the relay: A moves to a new port and codec (the switch's anchors stay, B's media
/// follows A to the new port, RTP relayed unchanged), then A holds (`a=sendonly`, B `recvonly`): B's silence
/// is not dead media.
#[test]
#[allow(clippy::too_many_lines)] // one call through three offers, step by step
fn reinvite_moves_media_changes_codec_and_holds() {
    let dir = tempfile::tempdir().unwrap();
    let b = socket("127.0.0.1");
    let (base, _) = media_range();
    let env = [
        ("PNSWITCH__MEDIA__PORT_MIN", base.to_string()),
        ("PNSWITCH__MEDIA__PORT_MAX", (base + 39).to_string()),
        ("PNSWITCH__MEDIA__TIMEOUT_SECS", "2".to_owned()),
    ];
    let sw = start_with(dir.path(), b.local_addr().unwrap(), "127.0.0.1:0", &env);
    provision(&sw);
    let mut a = UdpLeg {
        socket: socket("127.0.0.1"),
        switch: sw.sip,
    };
    let (a_rtp, a_rtp2, b_rtp) = (socket("127.0.0.1"), socket("127.0.0.1"), socket("127.0.0.1"));
    for s in [&a_rtp, &a_rtp2, &b_rtp] {
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    }
    let addr = |s: &UdpSocket| s.local_addr().unwrap();
    let me = a.me();
    let b_addr = b.local_addr().unwrap();
    let a_sdp = media_sdp_with("alice", addr(&a_rtp), 0, "sendrecv");
    a.send(&request("INVITE", sw.sip, me, "reinv-1", 1, None, Some(&a_sdp)));
    let (invite, _) = recv(&b);
    let switch_b = sdp_media(&invite);
    let b_sdp = media_sdp_with("bob", addr(&b_rtp), 0, "sendrecv");
    b.send_to(
        response(&invite, "200 OK", "b-tag", b_addr, Some(&b_sdp)).as_bytes(),
        sw.sip,
    )
    .unwrap();
    let ok = a.recv();
    let switch_a = sdp_media(&ok);
    let to_tag = first(&ok, "To").split("tag=").nth(1).unwrap().to_owned();
    a.send(&request("ACK", sw.sip, me, "reinv-1", 1, Some(&to_tag), None));
    assert!(recv(&b).0.starts_with("ACK "));
    relayed(&a_rtp, switch_a, &b_rtp, switch_b, &rtp_packet(1, 160, 0xA1, 3));
    relayed(&b_rtp, switch_b, &a_rtp, switch_a, &rtp_packet(1, 160, 0xB1, 5));

    // A moves to a new port and switches to PCMA.
    let moved = media_sdp_with("alice", addr(&a_rtp2), 8, "sendrecv");
    a.send(&request(
        "INVITE",
        sw.sip,
        me,
        "reinv-1",
        2,
        Some(&to_tag),
        Some(&moved),
    ));
    let (reinvite, _) = recv(&b);
    assert!(reinvite.starts_with("INVITE "), "{reinvite}");
    assert_eq!(
        sdp_media(&reinvite),
        switch_b,
        "the anchor facing B stays:\n{reinvite}"
    );
    assert!(reinvite.contains("RTP/AVP 8"), "{reinvite}");
    assert!(
        !reinvite.contains(&addr(&a_rtp2).port().to_string()),
        "A's new port leaked:\n{reinvite}"
    );
    let b_sdp8 = media_sdp_with("bob", addr(&b_rtp), 8, "sendrecv");
    b.send_to(
        response(&reinvite, "200 OK", "b-tag", b_addr, Some(&b_sdp8)).as_bytes(),
        sw.sip,
    )
    .unwrap();
    let ok2 = a.recv();
    assert!(ok2.starts_with("SIP/2.0 200 "), "{ok2}");
    assert_eq!(sdp_media(&ok2), switch_a, "the anchor facing A stays:\n{ok2}");
    a.send(&request("ACK", sw.sip, me, "reinv-1", 2, Some(&to_tag), None));
    assert!(recv(&b).0.starts_with("ACK "));
    // B's media now reaches A's new port; A's media from there reaches B, unchanged.
    let mut p = rtp_packet(2, 320, 0xB1, 7);
    p[1] = 8;
    relayed(&b_rtp, switch_b, &a_rtp2, switch_a, &p);
    let mut p = rtp_packet(2, 320, 0xA1, 9);
    p[1] = 8;
    relayed(&a_rtp2, switch_a, &b_rtp, switch_b, &p);

    // A holds B: A sendonly, B recvonly. A keeps sending; B's silence for longer than the 2 s dead-media
    // timeout releases nothing.
    let hold = media_sdp_with("alice", addr(&a_rtp2), 8, "sendonly");
    a.send(&request(
        "INVITE",
        sw.sip,
        me,
        "reinv-1",
        3,
        Some(&to_tag),
        Some(&hold),
    ));
    let (reinvite, _) = recv(&b);
    assert!(reinvite.contains("a=sendonly"), "{reinvite}");
    let b_recvonly = media_sdp_with("bob", addr(&b_rtp), 8, "recvonly");
    b.send_to(
        response(&reinvite, "200 OK", "b-tag", b_addr, Some(&b_recvonly)).as_bytes(),
        sw.sip,
    )
    .unwrap();
    assert!(a.recv().starts_with("SIP/2.0 200 "));
    a.send(&request("ACK", sw.sip, me, "reinv-1", 3, Some(&to_tag), None));
    assert!(recv(&b).0.starts_with("ACK "));
    b.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    for i in 0..20u16 {
        let mut p = rtp_packet(10 + i, 1600 + u32::from(i) * 160, 0xA1, 1);
        p[1] = 8;
        relayed(&a_rtp2, switch_a, &b_rtp, switch_b, &p);
        let mut buf = [0u8; 4096];
        if let Ok((n, _)) = b.recv_from(&mut buf) {
            let msg = String::from_utf8_lossy(&buf[..n]);
            panic!("B got SIP while on hold (no dead-media release expected):\n{msg}");
        }
    }
    // 4 s on hold without a BYE: hang up normally.
    a.send(&request("BYE", sw.sip, me, "reinv-1", 4, Some(&to_tag), None));
    b.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let (bye, _) = recv(&b);
    assert!(bye.starts_with("BYE "), "{bye}");
    assert!(
        !bye.contains("cause=102"),
        "a normal BYE, not a dead-media release:\n{bye}"
    );
    // The relay's work shows in the metrics.
    let text = metrics(&sw);
    let forwarded = text
        .lines()
        .find_map(|l| l.strip_prefix("pn_media_packets_total{outcome=\"forwarded\"} "))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no forwarded packets metric:\n{text}"));
    assert!(forwarded >= 24, "forwarded {forwarded}");
}

/// A fixture of `sip-fixtures/rfc4475/`, as sent on the wire.
fn rfc4475(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../../sip-fixtures/rfc4475/{name}.dat"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The ACK RFC 3261 §17.1.1.3 (and RFC 2543) builds for a non-2xx `final_response` to `invite`: the INVITE's
/// Request-URI, top `Via`, `From`, `Call-ID` and `CSeq` number, the response's `To`.
fn ack_for_failure(invite: &str, final_response: &str) -> String {
    let ruri = invite.lines().next().unwrap().split(' ').nth(1).unwrap();
    let via = first(invite, "Via");
    let from = header(invite, "From")
        .first()
        .or(header(invite, "f").first())
        .copied()
        .unwrap();
    let cseq = first(invite, "CSeq");
    let seq = cseq.split_whitespace().next().unwrap();
    format!(
        "ACK {ruri} SIP/2.0\r\nVia: {via}\r\nFrom: {from}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {seq} ACK\r\n\
         Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        first(final_response, "To"),
        first(final_response, "Call-ID"),
    )
}

#[test]
fn rfc2543_requests_without_a_branch_are_answered_and_matched() {
    let dir = tempfile::tempdir().unwrap();
    let b = socket("127.0.0.1");
    let sw = start(dir.path(), b.local_addr().unwrap(), "127.0.0.1:0");
    for name in ["inv2543", "longreq"] {
        let invite = rfc4475(name);
        let text = String::from_utf8_lossy(&invite).into_owned();
        assert!(
            !first(&text, "Via").contains("branch"),
            "{name}: the top Via has no branch"
        );

        // UDP: a final answer; a retransmitted INVITE gets the same answer (the same transaction).
        let a = socket("127.0.0.1");
        a.send_to(&invite, sw.sip).unwrap();
        let (answer, _) = recv(&a);
        let status: u16 = answer[8..11].parse().unwrap();
        assert!(status >= 300, "{name} over UDP: {answer}");
        assert!(answer.contains(&first(&text, "Call-ID")), "{answer}");
        a.send_to(&invite, sw.sip).unwrap();
        let (again, _) = recv(&a);
        assert_eq!(
            first(&again, "To"),
            first(&answer, "To"),
            "{name}: a retransmission is a new transaction"
        );
        // The ACK matches the transaction the RFC 2543 way: the final response is not retransmitted after it
        // (with T1 = 100 ms it would be at 100, 300, 700 ms…).
        a.send_to(ack_for_failure(&text, &answer).as_bytes(), sw.sip)
            .unwrap();
        std::thread::sleep(Duration::from_millis(150));
        let mut buf = vec![0u8; 65_536];
        while a.recv_from(&mut buf).is_ok() {} // what was in flight before the ACK arrived
        a.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
        if let Ok((n, _)) = a.recv_from(&mut buf) {
            panic!(
                "{name}: answer retransmitted after the ACK:\n{}",
                String::from_utf8_lossy(&buf[..n])
            );
        }

        // TCP (another Call-ID: the same fields would name the UDP transaction): answered on the connection,
        // even inv2543, which has no Content-Length (a 400, RFC 3261 §18.3).
        let call_id = first(&text, "Call-ID");
        let over_tcp = text.replacen(&call_id, &format!("{call_id}.tcp"), 1);
        let mut tcp = TcpLeg {
            stream: TcpStream::connect(sw.bound("tcp", false)).unwrap(),
            buf: Vec::new(),
        };
        tcp.stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        tcp.stream.write_all(over_tcp.as_bytes()).unwrap();
        let answer = tcp.recv();
        let status: u16 = answer[8..11].parse().unwrap();
        assert!(status >= 300, "{name} over TCP: {answer}");
    }
    // Nothing was routed to the egress trunk (neither names a bound privacy number).
    let mut buf = [0u8; 2048];
    b.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    assert!(b.recv_from(&mut buf).is_err());
}
