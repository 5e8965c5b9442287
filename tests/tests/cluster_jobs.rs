//! Cluster-wide jobs through two real `pnswitch` binaries on one throwaway PostgreSQL database (nodes `n1`,
//! `n2`, the same `record-url.key` in both data directories): exactly one node leads (`pn_cluster_leader`),
//! the other leads once the leader is killed; a recording on `n1`'s disk downloads through `n2` with the
//! URL `n1` signs (holder named under the signature), an invalid URL is refused by `n2` itself, and with
//! `n1` dead the proxied download fails instead of answering from anywhere else. The authenticated download
//! by name through `n2` finds the recording on `n1` (301 to a URL naming `n1`, then the bytes through `n2`),
//! another app's key gets 1012007 on both, and with `n1` hung (SIGSTOP) the search and the download answer
//! 1010001 within their timeouts. A pending push written by `n1` (which pushes nothing: `push.enabled =
//! false`) is taken over by `n2` once `n1` is dead and its lease ended, and delivered from there, once.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test: failing loudly is the point

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use pn_e2e::aksk_headers;
use pn_e2e::receiver::Receiver;
use pn_e2e::sipp::SipSwitch;
use pn_store::postgres::{PgOptions, PgStore};
use pn_store::{OutboxFilter, OutboxKind, OutboxState, Store};
use reqwest::Method;
use serde_json::json;
use sha2::Sha256;

/// The signing key both nodes share.
const KEY: [u8; 32] = [7; 32];
/// The signed file path.
const FILE_PATH: &str = "/rest/provision/voice/record/v1.0/file";

/// A node named `name` on the database `url`, data in `dir` (with the shared key); `extra` adds settings.
fn start_with(dir: &Path, name: &str, url: &str, extra: &[(&str, &str)]) -> SipSwitch {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("record-url.key"), KEY).unwrap();
    let egress = SocketAddr::from(([127, 0, 0, 1], 9));
    let mut env = vec![
        ("PNSWITCH__STORE__BACKEND", "postgres"),
        ("PNSWITCH__STORE__URL", url),
        ("PNSWITCH__CLUSTER__NODE", name),
        ("PNSWITCH__CLUSTER__HEARTBEAT_MS", "100"),
        ("PNSWITCH__CLUSTER__LEASE_SECS", "1"),
    ];
    env.extend_from_slice(extra);
    SipSwitch::start_on(dir, "127.0.0.1:0", egress, &env)
}

/// A node named `name` on the database `url`, data in `dir` (with the shared key).
fn start(dir: &Path, name: &str, url: &str) -> SipSwitch {
    start_with(dir, name, url, &[])
}

/// The path and query of a URL signed as the documented format says: `HMAC-SHA256(key,
/// "{app}/{object}/{expires}/{node}")`, hex.
fn signed(app: u32, object: &str, expires: i64, node: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&KEY).unwrap();
    mac.update(format!("{app}/{object}/{expires}/{node}").as_bytes());
    let sig = mac
        .finalize()
        .into_bytes()
        .iter()
        .fold(String::new(), |mut hex, b| {
            use std::fmt::Write;
            let _ = write!(hex, "{b:02x}");
            hex
        });
    format!("{FILE_PATH}/{app}/{object}?expires={expires}&node={node}&signature={sig}")
}

/// GET `path` on `node`: status and body.
fn get(node: &SipSwitch, path: &str) -> (u16, Vec<u8>) {
    let resp = node.client().get(format!("{}{path}", node.base)).send().unwrap();
    (resp.status().as_u16(), resp.bytes().unwrap().to_vec())
}

/// Waits until `node`'s `pn_cluster_leader` is `want`; panics after 10 s.
fn await_leader(node: &SipSwitch, want: f64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while node.metric("pn_cluster_leader") != Some(want) {
        assert!(Instant::now() < deadline, "pn_cluster_leader never became {want}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn one_leader_and_a_recording_downloads_through_the_node_that_does_not_hold_it() {
    let pg = pn_store::postgres::throwaway::server()
        .unwrap_or_else(|e| panic!("throwaway PostgreSQL for the e2e test: {e}"));
    let url = pg.create_database().unwrap();
    let tmp = tempfile::TempDir::new().unwrap();
    let mut n1 = start(&tmp.path().join("n1"), "n1", &url);
    // n1 starts first and leads once its first heartbeat tick ran; n2 then never does while n1 lives.
    await_leader(&n1, 1.0);
    let n2 = start(&tmp.path().join("n2"), "n2", &url);
    await_leader(&n2, 0.0);

    let audio: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
    let held = n1.data_dir.join("recordings").join("1");
    std::fs::create_dir_all(&held).unwrap();
    std::fs::write(held.join("call-1.wav"), &audio).unwrap();
    let expires = jiff::Timestamp::now().as_second() + 600;
    let path = signed(1, "call-1.wav", expires, "n1");

    let (status, body) = get(&n1, &path);
    assert_eq!(status, 200);
    assert_eq!(body, audio);
    // n2 learns n1's URL from its heartbeats (every 100 ms): fetched from n1, the same bytes.
    let (status, body) = get(&n2, &path);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(body, audio);
    // Tampered or expired: refused by n2 itself.
    let tampered = path.replace("expires=", "expires=1");
    assert_eq!(get(&n2, &tampered).0, 403);
    assert_eq!(get(&n2, &signed(1, "call-1.wav", 1000, "n1")).0, 403);

    // n1 dies: n2 takes the lead, and the recording held only by n1 is no longer there to fetch.
    n1.switch.kill9();
    await_leader(&n2, 1.0);
    let (status, body) = get(&n2, &path);
    assert_eq!(status, 500, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("1010001"));
}

/// The authenticated download by name of `object` as `app` through `node`, redirects not followed: status,
/// Location, resultcode, and how long the answer took.
fn by_name(node: &SipSwitch, app: &(String, String), object: &str) -> (u16, String, String, Duration) {
    let client = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let mut req = client.get(format!(
        "{}/rest/provision/voice/record/v1.0?fileName={object}&recordDomain=any",
        node.base
    ));
    for (k, v) in aksk_headers(&app.0, &app.1) {
        req = req.header(k, v);
    }
    let started = Instant::now();
    let resp = req.send().unwrap();
    let status = resp.status().as_u16();
    let location = resp
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body: serde_json::Value = resp.json().unwrap();
    let code = body["resultcode"].as_str().unwrap_or_default().to_owned();
    (status, location, code, started.elapsed())
}

#[test]
fn a_recording_is_found_by_name_through_another_node_and_a_hung_holder_is_bounded() {
    let pg = pn_store::postgres::throwaway::server()
        .unwrap_or_else(|e| panic!("throwaway PostgreSQL for the e2e test: {e}"));
    let url = pg.create_database().unwrap();
    let tmp = tempfile::TempDir::new().unwrap();
    // A long lease: a hung n1 stays live (asked), so only the timeouts bound the answers.
    let extra = [
        ("PNSWITCH__CLUSTER__LEASE_SECS", "60"),
        ("PNSWITCH__CLUSTER__LOOKUP_TIMEOUT_MS", "1000"),
        ("PNSWITCH__CLUSTER__PROXY_READ_TIMEOUT_MS", "3000"),
    ];
    let mut n1 = start_with(&tmp.path().join("n1"), "n1", &url, &extra);
    let owner = n1.create_app("owner", "AXB");
    let other = n1.create_app("other", "AXB");
    // n2 starts after the apps exist and after n1's first heartbeat (its table catches up at start).
    let n2 = start_with(&tmp.path().join("n2"), "n2", &url, &extra);
    let probe = PgStore::open(&PgOptions {
        url: url.clone(),
        ..PgOptions::default()
    })
    .unwrap();
    let id = probe
        .reader()
        .unwrap()
        .app_by_key(&owner.0)
        .unwrap()
        .unwrap()
        .id
        .0;
    let audio: Vec<u8> = (0..150_000u32).map(|i| (i % 239) as u8).collect();
    let held = n1.data_dir.join("recordings").join(id.to_string());
    std::fs::create_dir_all(&held).unwrap();
    std::fs::write(held.join("call-1.wav"), &audio).unwrap();

    // Through n2: 301 to a URL on n2 naming n1; following it through n2 gives n1's bytes.
    let (status, location, code, _) = by_name(&n2, &owner, "call-1.wav");
    assert_eq!((status, code.as_str()), (301, "0"), "{location}");
    let prefix = format!("{}{FILE_PATH}/{id}/call-1.wav?expires=", n2.base);
    assert!(location.starts_with(&prefix), "{location}");
    assert!(location.contains("&node=n1&"), "{location}");
    let path = location[n2.base.len()..].to_owned();
    let (status, body) = get(&n2, &path);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(body, audio);
    // Another app's key: 1012007 on both nodes; so is a name no node holds.
    for node in [&n1, &n2] {
        let (status, _, code, _) = by_name(node, &other, "call-1.wav");
        assert_eq!((status, code.as_str()), (200, "1012007"));
        let (status, _, code, _) = by_name(node, &owner, "call-2.wav");
        assert_eq!((status, code.as_str()), (200, "1012007"));
    }

    // n1 hangs: live by its lease, reachable by TCP, silent. The search answers 1010001 (the recording may
    // be there) once its timeout (1 s) ran out, before the read timeout (3 s); the download once the read
    // timeout did; neither hangs.
    n1.pause();
    let (status, _, code, took) = by_name(&n2, &owner, "call-1.wav");
    assert_eq!((status, code.as_str()), (500, "1010001"));
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_millis(2500),
        "{took:?}"
    );
    let started = Instant::now();
    let (status, body) = get(&n2, &path);
    assert_eq!(status, 500, "{}", String::from_utf8_lossy(&body));
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(3) && took < Duration::from_secs(8),
        "{took:?}"
    );
    n1.resume();
    n1.switch.kill9();
}

#[test]
fn a_dead_nodes_pending_push_is_taken_over_and_delivered_by_another_node() {
    const X: &str = "+8617000000001";
    let pg = pn_store::postgres::throwaway::server()
        .unwrap_or_else(|e| panic!("throwaway PostgreSQL for the e2e test: {e}"));
    let url = pg.create_database().unwrap();
    let tmp = tempfile::TempDir::new().unwrap();
    let receiver = Receiver::start(&[]);
    // n1 writes pushes but never sends one: what it appends stays pending, owned by n1.
    let mut n1 = start_with(
        &tmp.path().join("n1"),
        "n1",
        &url,
        &[("PNSWITCH__PUSH__ENABLED", "false")],
    );
    await_leader(&n1, 1.0);
    let app = n1.app_with_numbers("AXB", &[X]);
    receiver.add_app(&app.0, &app.1);
    let (status, answer) = n1.admin(
        Method::PUT,
        &format!("/admin/v1/apps/{}", app.0),
        Some(&json!({"numStatusEnabled": true, "numStatusUrl": receiver.url("/status")})),
    );
    assert_eq!(status, 200, "{answer}");
    // n2 starts after the app exists (its routing table, and so its push targets, are loaded at start).
    let n2 = start(&tmp.path().join("n2"), "n2", &url);
    let (status, answer) = n1.admin(
        Method::PUT,
        &format!("/admin/v1/numbers/{}", X.replace('+', "%2B")),
        Some(&json!({"status": "unavailable", "cause": 3})),
    );
    assert_eq!(status, 200, "{answer}");
    let probe = PgStore::open(&PgOptions {
        url: url.clone(),
        ..PgOptions::default()
    })
    .unwrap();
    let status_rows = OutboxFilter {
        kind: Some(OutboxKind::NumberStatus),
        ..OutboxFilter::default()
    };
    let rows = probe.reader().unwrap().outbox_query(&status_rows, 10).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].state, OutboxState::Pending);

    n1.switch.kill9();
    await_leader(&n2, 1.0);
    let got = receiver.wait_for(
        "the number-status push, from n2",
        Duration::from_secs(20),
        |got| got.iter().any(|r| r.path == "/status"),
    );
    let pushes: Vec<_> = got.iter().filter(|r| r.path == "/status").collect();
    assert_eq!(pushes.len(), 1, "pushed once");
    assert!(pushes[0].verified);
    // It was still n1's, pending, when n2 took it over: n2 had not pushed it before.
    assert_eq!(n2.metric("pn_outbox_taken_over_total"), Some(1.0));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let rows = probe.reader().unwrap().outbox_query(&status_rows, 10).unwrap();
        if rows[0].state == OutboxState::Delivered {
            break;
        }
        assert!(Instant::now() < deadline, "never marked delivered: {rows:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
