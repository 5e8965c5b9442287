//! The HTTP server's limits through the real binary with raw TCP clients (issue 8 item 11): slowloris
//! connections (a partial head, trickled) are closed after the header read timeout, idle connections (new,
//! or kept alive after a response) after the idle timeout, a slow body gets 408 after the request timeout,
//! the connection cap holds (a connection beyond it gets 503 and is closed at once, never held), a signed
//! request succeeds during and after the attack, the counters show it all, and SIGTERM still stops the
//! switch with idle connections open. Bounded: about 40 connections, about 15 s.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test: failing loudly is the point

use std::fmt::Write as _;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use pn_e2e::sipp::AXB_PATH;
use pn_e2e::{Switch, aksk_headers, mobile};
use serde_json::{Value, json};

const HEADER_MS: u64 = 2000;
const IDLE_MS: u64 = 3000;
const REQUEST_MS: u64 = 1500;
const CAP: usize = 25;
const SLOWLORIS: usize = 10;
const IDLE: usize = 10;
const KEPT_ALIVE: usize = 2;
/// Scheduling slack allowed past a timeout on a shared 2-core machine.
const SLACK: Duration = Duration::from_millis(1500);
const X: &str = "+8617000000301";

/// How a connection ended, and when (since the instant its timeout started counting).
#[derive(Debug)]
enum End {
    /// The server closed it (EOF or reset) after this long.
    Closed(Duration),
    /// Still open when the watch gave up.
    Held,
}

/// Reads from `s` until the server closes it or `limit` passes; returns every byte read and how it ended
/// (measured from `since`). `trickle`: write one more header byte every 100 ms meanwhile (slowloris).
fn watch(mut s: TcpStream, since: Instant, limit: Duration, trickle: bool) -> (Vec<u8>, End) {
    s.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while since.elapsed() < limit {
        if trickle && s.write_all(b"a").is_err() {
            return (got, End::Closed(since.elapsed()));
        }
        match s.read(&mut buf) {
            Ok(0) => return (got, End::Closed(since.elapsed())),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return (got, End::Closed(since.elapsed())),
        }
    }
    (got, End::Held)
}

fn connect(addr: SocketAddr) -> TcpStream {
    TcpStream::connect_timeout(&addr, Duration::from_secs(2)).expect("connect")
}

/// A client that opens a fresh connection per request and closes it after.
fn fresh_client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// A signed AXB bind of pair `i` on X through a fresh connection: must succeed.
fn signed_bind(switch: &Switch, app: &(String, String), i: u64) {
    let mut req = fresh_client().post(format!("{}{AXB_PATH}", switch.base));
    for (k, v) in aksk_headers(&app.0, &app.1) {
        req = req.header(k, v);
    }
    let body = json!({"relationNum": X, "callerNum": mobile(38, i), "calleeNum": mobile(39, i)});
    let resp = req.json(&body).send().expect("signed bind");
    let status = resp.status().as_u16();
    let v: Value = resp.json().unwrap();
    assert_eq!((status, v["resultcode"].as_str()), (200, Some("0")), "{v}");
}

/// The value of the integer metric line `name` in `/metrics` (0 when absent).
fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
        .unwrap_or(0)
}

#[test]
fn slowloris_idle_and_slow_bodies_are_cut_and_the_cap_holds() {
    let dir = tempfile::tempdir().unwrap();
    let mut switch = Switch::start_with(
        dir.path(),
        &[
            ("PNSWITCH__HTTP__MAX_CONNECTIONS", &CAP.to_string()),
            ("PNSWITCH__HTTP__HEADER_READ_TIMEOUT_MS", &HEADER_MS.to_string()),
            ("PNSWITCH__HTTP__IDLE_TIMEOUT_MS", &IDLE_MS.to_string()),
            ("PNSWITCH__HTTP__REQUEST_TIMEOUT_MS", &REQUEST_MS.to_string()),
        ],
    );
    let app = switch.create_app("limits", "AXB");
    switch.import_numbers(&app.0, "0755", &[X.to_owned()]);
    let addr: SocketAddr = switch.base.trim_start_matches("http://").parse().unwrap();
    // The setup client's kept-alive connection is closed by the idle timeout: then nothing is open.
    thread::sleep(Duration::from_millis(IDLE_MS + 500));

    attack_and_cap(&switch, &app, addr);
    slow_body(&app, addr);
    // 408 means not acted on: the slow body's pair was not bound.
    let mut req = fresh_client().get(format!(
        "{}{AXB_PATH}?callerNum={}",
        switch.base,
        mobile(38, 2).replace('+', "%2B")
    ));
    for (k, v) in aksk_headers(&app.0, &app.1) {
        req = req.header(k, v);
    }
    let v: Value = req.send().unwrap().json().unwrap();
    assert_eq!(v["resultcode"], "1016001", "{v}");

    // After the attack: served, and the counters tell the operator what happened.
    signed_bind(&switch, &app, 3);
    // Its connection (closed by the client) is gone from the server too.
    thread::sleep(Duration::from_millis(300));
    let text = fresh_client()
        .get(format!("{}/metrics", switch.base))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(metric(&text, "pn_http_connections_refused_total"), 3, "{text}");
    assert!(
        metric(&text, "pn_http_timeouts_total{kind=\"header\"}") >= SLOWLORIS as u64,
        "{text}"
    );
    assert!(
        metric(&text, "pn_http_timeouts_total{kind=\"idle\"}") >= (IDLE + KEPT_ALIVE) as u64,
        "{text}"
    );
    assert_eq!(
        metric(&text, "pn_http_timeouts_total{kind=\"request\"}"),
        1,
        "{text}"
    );
    // The /metrics request's own connection is the one open now.
    assert_eq!(metric(&text, "pn_http_connections"), 1, "{text}");

    // Graceful stop with an idle connection open: it is closed and the process exits promptly.
    let s = connect(addr);
    let since = Instant::now();
    let watcher = thread::spawn(move || watch(s, since, Duration::from_secs(10), false));
    thread::sleep(Duration::from_millis(200));
    assert!(
        switch.stop(Duration::from_secs(5)),
        "pnswitch exited with an error"
    );
    match watcher.join().unwrap().1 {
        End::Closed(after) => assert!(after < Duration::from_secs(5), "{after:?}"),
        End::Held => panic!("idle connection held after SIGTERM"),
    }
}

/// Asserts the connection ended by the server between 0.9 × `timeout` and `timeout` + [`SLACK`].
fn closed_after(end: &End, timeout: Duration, what: &str) {
    match end {
        End::Closed(after) => assert!(
            *after >= timeout.mul_f64(0.9) && *after <= timeout + SLACK,
            "{what} closed after {after:?}, timeout {timeout:?}"
        ),
        End::Held => panic!("{what} held past {:?}", timeout + SLACK),
    }
}

/// Slowloris, silent and kept-alive connections below the cap; a signed request during them; then the cap
/// (probes beyond it refused at once with 503); then every attack connection closed by its timeout.
fn attack_and_cap(switch: &Switch, app: &(String, String), addr: SocketAddr) {
    let header = Duration::from_millis(HEADER_MS);
    let idle = Duration::from_millis(IDLE_MS);
    thread::scope(|scope| {
        // The attack: slowloris connections, silent ones, and kept-alive ones after a real request.
        let mut slow = Vec::new();
        for _ in 0..SLOWLORIS {
            let mut s = connect(addr);
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: pnswitch\r\nX-Slow: ")
                .unwrap();
            let since = Instant::now();
            slow.push(scope.spawn(move || watch(s, since, header + SLACK + SLACK, true)));
        }
        let mut silent = Vec::new();
        for _ in 0..IDLE {
            let s = connect(addr);
            let since = Instant::now();
            silent.push(scope.spawn(move || watch(s, since, idle + SLACK + SLACK, false)));
        }
        let mut kept = Vec::new();
        for _ in 0..KEPT_ALIVE {
            let mut s = connect(addr);
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: pnswitch\r\n\r\n")
                .unwrap();
            s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            let mut buf = [0u8; 1024];
            let n = s.read(&mut buf).unwrap();
            assert!(
                buf[..n].starts_with(b"HTTP/1.1 200"),
                "{}",
                String::from_utf8_lossy(&buf[..n])
            );
            let since = Instant::now();
            kept.push(scope.spawn(move || watch(s, since, idle + SLACK + SLACK, false)));
        }
        let attack = SLOWLORIS + IDLE + KEPT_ALIVE;

        // During the attack a signed request (on a connection of its own, closed after) is served.
        signed_bind(switch, app, 1);
        thread::sleep(Duration::from_millis(300));

        // The cap: the server holds exactly CAP − attack more connections; every one beyond gets 503 and
        // is closed at once. All probes connect at once and are watched together, well inside the attack's
        // timeouts.
        let probes: Vec<_> = (0..(CAP - attack + 3))
            .map(|_| {
                let s = connect(addr);
                let since = Instant::now();
                let watched = s.try_clone().unwrap();
                let h = scope.spawn(move || watch(watched, since, Duration::from_millis(400), false));
                (s, since, h)
            })
            .collect();
        let mut held = Vec::new();
        let mut refused = 0;
        let mut saw_503 = false;
        for (s, since, h) in probes {
            let (bytes, end) = h.join().unwrap();
            match end {
                End::Held => held.push((s, since)),
                End::Closed(after) => {
                    assert!(after < Duration::from_millis(300), "refusal took {after:?}");
                    refused += 1;
                    if !bytes.is_empty() {
                        let text = String::from_utf8_lossy(&bytes);
                        assert!(text.starts_with("HTTP/1.1 503"), "{text}");
                        assert!(text.contains("\"resultcode\":\"1010010\""), "{text}");
                        saw_503 = true;
                    }
                }
            }
        }
        assert_eq!(held.len(), CAP - attack, "connections held beside the attack");
        assert_eq!(refused, 3);
        assert!(saw_503, "no refused connection received the 503 answer");
        let held: Vec<_> = held
            .into_iter()
            .map(|(s, since)| scope.spawn(move || watch(s, since, idle + SLACK + SLACK, false)))
            .collect();

        // Slowloris: closed after the header timeout, however steadily it trickles.
        for h in slow {
            closed_after(&h.join().unwrap().1, header, "slowloris connection");
        }
        // Idle (new, kept alive, or held by the cap test): closed after the idle timeout.
        for h in silent.into_iter().chain(kept).chain(held) {
            closed_after(&h.join().unwrap().1, idle, "idle connection");
        }
    });
}

/// A slow body: the head arrives, the body never completes → 408 (1023002) and the connection closes.
fn slow_body(app: &(String, String), addr: SocketAddr) {
    let mut s = connect(addr);
    let body = json!({"relationNum": X, "callerNum": mobile(38, 2), "calleeNum": mobile(39, 2)}).to_string();
    let mut head =
        format!("POST {AXB_PATH} HTTP/1.1\r\nHost: pnswitch\r\nContent-Type: application/json\r\n");
    for (k, v) in aksk_headers(&app.0, &app.1) {
        let _ = write!(head, "{k}: {v}\r\n");
    }
    let _ = write!(head, "Content-Length: {}\r\n\r\n", body.len());
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(&body.as_bytes()[..10]).unwrap();
    let since = Instant::now();
    let request = Duration::from_millis(REQUEST_MS);
    let (bytes, end) = watch(s, since, request + SLACK + SLACK, false);
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("\"resultcode\":\"1023002\""), "{text}");
    closed_after(&end, request, "slow-body connection");
}
