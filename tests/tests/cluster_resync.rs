//! A node on a shared store (issue 13) whose routing table has not caught up with the change feed refuses
//! new calls and the front's probes, and takes calls once it has: a throwaway PostgreSQL, node 1 provisioned
//! (app, number, binding), node 2 started while a session of the test holds `LOCK TABLE bindings` (a real
//! condition: node 2's engine loads its table from a snapshot and that read waits on the lock; the test
//! sees the wait in `pg_locks` before it sends anything). Meanwhile node 2 answers an INVITE 503 with
//! `Retry-After` and cause 7510, an OPTIONS 503, `/readyz` 503, and calls through the Kamailio front
//! (`deploy/kamailio/pnswitch-front.cfg`) all complete on node 1. The lock goes: node 2 loads, is ready,
//! its probes answer 200, and the front gives it calls again, which complete.
//!
//! And a node that fell behind: node 2 is stalled (`SIGSTOP`) while bindings change through node 1 and the
//! leader (node 1) prunes the feed past node 2's position (a 1 s retention; the test waits until
//! `pn_commits` no longer holds node 2's next commit). Resumed, node 2 resyncs in place
//! (`pn_store_feed_resyncs_total` 1, no restart): the unbound X is refused, the rebound X reaches the new B.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test: failing loudly is the point

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::time::Duration;

use pn_e2e::front::{Front, answered, eventually, tail};
use pn_e2e::sipp::{AXB_PATH, SipSwitch, Sipp, free_udp_port, reason};
use serde_json::json;

const A: &str = "+8613800000001";
const B: &str = "+8613900000002";
const X: &str = "+8617000000001";

fn node(data: &Path, name: &str, egress: SocketAddr, url: &str) -> SipSwitch {
    // The leader's sweep reads `bindings`: it would wait on the test's lock too, and hold node 1's writer
    // (and with it its call facts) meanwhile.
    node_with(
        data,
        name,
        egress,
        url,
        &[("PNSWITCH__ROUTING__SWEEP_INTERVAL_SECS", "3600")],
    )
}

fn node_with(data: &Path, name: &str, egress: SocketAddr, url: &str, extra: &[(&str, &str)]) -> SipSwitch {
    std::fs::create_dir_all(data).expect("data dir");
    let mut env = vec![
        ("PNSWITCH__MEDIA__MODE", "bypass"),
        ("PNSWITCH__STORE__BACKEND", "postgres"),
        ("PNSWITCH__STORE__URL", url),
        ("PNSWITCH__CLUSTER__NODE", name),
    ];
    env.extend_from_slice(extra);
    SipSwitch::start_on(data, "127.0.0.1:0", egress, &env)
}

/// Seconds between the front's OPTIONS probes of each node.
const PROBE_SECS: u32 = 1;

/// Ten calls A → X through the front, B answering: every one must complete.
fn calls_through(front: &Front, dir: &Path, uas_port: u16, why: &str) {
    let b = Sipp::uas(dir, "uas_answer", uas_port)
        .calls(10)
        .timeout_secs(30)
        .spawn();
    let a = Sipp::uac(dir, "uac_basic", front.addr)
        .calls(10)
        .rate(10.0)
        .pause_ms(100)
        .timeout_secs(30)
        .inject(&[&[A, X]])
        .run();
    assert_eq!(
        a.stats().map(|s| (s.successful, s.failed)),
        Some((10, 0)),
        "{why}\n{}\n== kamailio log (tail)\n{}",
        a.diagnostics(),
        tail(&front.log_text())
    );
    b.finish_ok(Duration::from_secs(10));
}

fn readyz(node: &SipSwitch) -> Option<u16> {
    node.switch
        .client()
        .get(format!("{}/readyz", node.switch.base))
        .timeout(Duration::from_secs(2))
        .send()
        .ok()
        .map(|r| r.status().as_u16())
}

/// An out-of-dialog OPTIONS (what the front's dispatcher probes with); answers the status line.
fn probe(node: &SipSwitch, n: u32) -> String {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let me = socket.local_addr().unwrap();
    let options = format!(
        "OPTIONS sip:{sw} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK-probe-{n}\r\n\
         From: <sip:probe@{me}>;tag=p{n}\r\nTo: <sip:{sw}>\r\nCall-ID: probe-{n}@127.0.0.1\r\n\
         CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        sw = node.sip,
    );
    socket.send_to(options.as_bytes(), node.sip).unwrap();
    let mut buf = [0u8; 4096];
    let len = socket.recv(&mut buf).expect("an answer to OPTIONS");
    String::from_utf8_lossy(&buf[..len])
        .lines()
        .next()
        .unwrap_or("")
        .to_owned()
}

/// Whether some session waits for a lock on the `bindings` table.
fn load_waits(watcher: &mut postgres::Client) -> bool {
    let row = watcher
        .query_one(
            "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'bindings'::regclass",
            &[],
        )
        .unwrap();
    row.get::<_, i64>(0) > 0
}

#[test]
fn a_node_not_caught_up_refuses_invites_and_probes_with_503_then_takes_calls() {
    let pg = pn_store::postgres::throwaway::server()
        .unwrap_or_else(|e| panic!("throwaway PostgreSQL for the resync test: {e}"));
    let url = pg.create_database().unwrap();
    let dir = tempfile::tempdir().expect("tempdir");
    let uas_port = free_udp_port();
    let egress = SocketAddr::from(([127, 0, 0, 1], uas_port));
    let first = node(&dir.path().join("node1"), "n1", egress, &url);
    let app = first.app_with_numbers("AXB", &[X]);
    first.bind_axb(&app, X, A, B, &json!({}));

    // Node 2 starts while its snapshot load must wait.
    let mut holder = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let mut lock = holder.transaction().unwrap();
    lock.batch_execute("LOCK TABLE bindings IN ACCESS EXCLUSIVE MODE")
        .unwrap();
    let second = node(&dir.path().join("node2"), "n2", egress, &url);
    let mut watcher = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    assert!(
        eventually(Duration::from_secs(10), || load_waits(&mut watcher)),
        "node 2's snapshot load never waited on the lock"
    );
    assert_eq!(readyz(&second), Some(503), "/readyz while not caught up");
    assert!(
        probe(&second, 1).starts_with("SIP/2.0 503 "),
        "OPTIONS while not caught up"
    );
    let refused = Sipp::uac(dir.path(), "uac_expect_reject", second.sip)
        .inject(&[&[A, X]])
        .timeout_secs(20)
        .run_ok();
    let fin = refused.final_invite_response();
    assert_eq!(fin.status(), Some(503), "{}", fin.text);
    assert!(
        reason(&fin).contains("Q.850;cause=41;text=\"7510 Routing table not caught up\""),
        "{}",
        fin.text
    );
    assert_eq!(fin.header("Retry-After").as_deref(), Some("2"), "{}", fin.text);
    assert!(
        load_waits(&mut watcher),
        "the load stopped waiting before the checks ended"
    );

    // Through the front: every call completes on node 1 (node 2's probes and INVITEs answer 503).
    let front = Front::start(dir.path(), &[first.sip, second.sip], PROBE_SECS);
    calls_through(&front, dir.path(), uas_port, "while node 2 is not caught up");
    assert_eq!(answered(&second), 0, "node 2 answered a call before it caught up");
    assert!(
        load_waits(&mut watcher),
        "the load stopped waiting before the checks ended"
    );

    // The lock goes: node 2 loads its table, is ready, and takes calls through the front again.
    lock.rollback().unwrap();
    assert!(
        eventually(Duration::from_secs(10), || readyz(&second) == Some(200)),
        "node 2 never became ready"
    );
    assert!(
        probe(&second, 2).starts_with("SIP/2.0 200 "),
        "OPTIONS once caught up"
    );
    for _ in 0..4 {
        calls_through(&front, dir.path(), uas_port, "after node 2 caught up");
        if answered(&second) > 0 {
            break;
        }
    }
    assert!(
        answered(&second) > 0,
        "node 2 took no call after it caught up\n== kamailio log (tail)\n{}",
        tail(&front.log_text())
    );
    assert_eq!(second.metric("pn_store_feed_caught_up"), Some(1.0));
    assert_eq!(second.metric("pn_store_feed_resyncs_total"), Some(0.0));
}

#[test]
fn a_node_stalled_past_the_feed_retention_resyncs_in_place_and_routes_the_new_bindings() {
    const X2: &str = "+8617000000002";
    const B2: &str = "+8613900000003";
    let pg = pn_store::postgres::throwaway::server()
        .unwrap_or_else(|e| panic!("throwaway PostgreSQL for the resync test: {e}"));
    let url = pg.create_database().unwrap();
    let dir = tempfile::tempdir().expect("tempdir");
    let uas_port = free_udp_port();
    let egress = SocketAddr::from(([127, 0, 0, 1], uas_port));
    let short = [
        ("PNSWITCH__ROUTING__SWEEP_INTERVAL_SECS", "1"),
        ("PNSWITCH__API__ENGINE__FEED_RETENTION_SECS", "1"),
    ];
    let first = node_with(&dir.path().join("node1"), "n1", egress, &url, &short);
    assert!(
        eventually(Duration::from_secs(10), || first.metric("pn_cluster_leader")
            == Some(1.0)),
        "node 1 never led the cluster (its sweep prunes the feed)"
    );
    let second = node_with(&dir.path().join("node2"), "n2", egress, &url, &short);
    assert!(
        second.wait_ready(Duration::from_secs(10)),
        "node 2 never became ready"
    );
    let app = first.app_with_numbers("AXB", &[X, X2]);
    first.bind_axb(&app, X, A, B, &json!({}));
    first.bind_axb(&app, X2, A, B, &json!({}));
    let head = |node: &SipSwitch| node.metric("pn_store_feed_applied").unwrap_or(0.0);
    assert!(
        eventually(Duration::from_secs(10), || head(&second) >= head(&first)
            && head(&first) > 0.0),
        "node 2 never followed node 1's writes"
    );
    let position = head(&second) as i64;

    // Node 2 stalls; X is unbound and X2 rebound to B2 through node 1; the feed is pruned past node 2.
    second.pause();
    for x in [X, X2] {
        let (status, body) = first.signed(
            reqwest::Method::DELETE,
            &format!("{AXB_PATH}?relationNum={}", x.replace('+', "%2B")),
            &app,
            None,
        );
        assert_eq!(status, 200, "{body}");
    }
    first.bind_axb(&app, X2, A, B2, &json!({}));
    let mut watcher = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let pruned = eventually(Duration::from_secs(15), || {
        let row = watcher
            .query_one("SELECT coalesce(min(seq), 0) FROM pn_commits", &[])
            .unwrap();
        row.get::<_, i64>(0) > position + 1
    });
    assert!(
        pruned,
        "the feed was never pruned past node 2's position {position}"
    );
    second.resume();

    assert!(
        eventually(Duration::from_secs(10), || {
            second.metric("pn_store_feed_resyncs_total") == Some(1.0) && readyz(&second) == Some(200)
        }),
        "node 2 did not resync in place"
    );
    // A → X: unbound, refused; A → X2: the new B.
    let refused = Sipp::uac(dir.path(), "uac_expect_reject", second.sip)
        .inject(&[&[A, X]])
        .timeout_secs(20)
        .run_ok();
    let fin = refused.final_invite_response();
    assert_eq!(fin.status(), Some(404), "{}", fin.text);
    let b = Sipp::uas(dir.path(), "uas_answer", uas_port)
        .calls(1)
        .timeout_secs(20)
        .spawn();
    let a = Sipp::uac(dir.path(), "uac_basic", second.sip)
        .calls(1)
        .pause_ms(100)
        .timeout_secs(20)
        .inject(&[&[A, X2]])
        .run_ok();
    assert_eq!(a.final_invite_response().status(), Some(200));
    let b = b.finish_ok(Duration::from_secs(10));
    let invite = b.first_request("INVITE");
    assert!(
        invite.start_line().contains(&B2[3..]),
        "the call went to {}, not the new B",
        invite.start_line()
    );
    assert_eq!(second.metric("pn_store_feed_resyncs_total"), Some(1.0));
}
