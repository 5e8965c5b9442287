//! Several nodes on one PostgreSQL database behind the Kamailio front (issue 13): a throwaway PostgreSQL
//! (Debian's binaries, a cluster in a temp directory), three pnswitch nodes on 127.0.0.2–4 with
//! `[store] backend = "postgres"` on that one database, `deploy/kamailio/pnswitch-front.cfg` on 127.0.0.1,
//! `SIPp` as A through the front and as B.
//!
//! - Provisioned through node 1's API only, the bindings route calls on every node (each node's table follows
//!   the change feed): calls spread over the three nodes all complete.
//! - `kill -9` of one node under load through the front: only the calls that node held fail; the others and
//!   the calls placed after all complete; every bind acknowledged meanwhile (through another node's API) is
//!   there after the kill; the node restarts on the same database, catches up with the feed (`/readyz`), and
//!   takes calls again.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test: failing loudly is the point

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use pn_e2e::front::{Front, answered, eventually, tail};
use pn_e2e::sipp::{AXB_PATH, SipSwitch, Sipp, SippRun, free_udp_port, ok};
use reqwest::Method;
use serde_json::json;

const A: &str = "+8613800000001";
const B: &str = "+8613900000002";
const X: &str = "+8617000000001";

/// Seconds between the front's OPTIONS probes of each node.
const PROBE_SECS: u32 = 1;

/// The load of the kill test: calls per second through the front (the figure), overridable for a
/// slow machine with `PN_E2E_CLUSTER_RATE`.
fn load_rate() -> f64 {
    std::env::var("PN_E2E_CLUSTER_RATE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300.0)
}

/// Three nodes on one database, B's `SIPp` port, the front, the app made on node 1.
struct Cluster {
    dir: tempfile::TempDir,
    url: String,
    nodes: Vec<SipSwitch>,
    uas_port: u16,
    front: Front,
    app: (String, String),
}

fn node(data: &Path, listen: &str, egress: SocketAddr, url: &str, extra: &[(&str, &str)]) -> SipSwitch {
    std::fs::create_dir_all(data).expect("data dir");
    let mut env = vec![
        ("PNSWITCH__MEDIA__MODE", "bypass"),
        ("PNSWITCH__STORE__BACKEND", "postgres"),
        ("PNSWITCH__STORE__URL", url),
    ];
    env.extend_from_slice(extra);
    let node = SipSwitch::start_on(data, listen, egress, &env);
    assert!(
        node.wait_ready(Duration::from_secs(10)),
        "a node never caught up with the change feed"
    );
    node
}

impl Cluster {
    fn start() -> Cluster {
        Self::start_with(&[])
    }

    /// With extra environment for every node.
    fn start_with(extra: &[(&str, &str)]) -> Cluster {
        let pg = pn_store::postgres::throwaway::server()
            .unwrap_or_else(|e| panic!("throwaway PostgreSQL for the cluster test: {e}"));
        let url = pg.create_database().unwrap();
        let dir = tempfile::tempdir().expect("tempdir");
        let uas_port = free_udp_port();
        let egress = SocketAddr::from(([127, 0, 0, 1], uas_port));
        let nodes: Vec<SipSwitch> = (2..=4)
            .map(|i| {
                node(
                    &dir.path().join(format!("node{i}")),
                    &format!("127.0.0.{i}:0"),
                    egress,
                    &url,
                    extra,
                )
            })
            .collect();
        // Provisioned on node 1 only: the other nodes learn the app, the number and the binding from the feed.
        let app = nodes[0].app_with_numbers("AXB", &[X]);
        nodes[0].bind_axb(&app, X, A, B, &json!({}));
        let addrs: Vec<SocketAddr> = nodes.iter().map(|n| n.sip).collect();
        let front = Front::start(dir.path(), &addrs, PROBE_SECS);
        Cluster {
            dir,
            url,
            nodes,
            uas_port,
            front,
            app,
        }
    }

    fn egress(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.uas_port))
    }

    /// A: `calls` calls A → X at `rate` per second through the front, each up `hold_ms`.
    fn uac(&self, calls: u32, rate: f64, hold_ms: u64) -> Sipp {
        Sipp::uac(self.dir.path(), "uac_basic", self.front.addr)
            .tolerate_reordered_responses()
            .calls(calls)
            .rate(rate)
            .pause_ms(hold_ms)
            .timeout_secs(90)
            .inject(&[&[A, X]])
    }

    /// `calls` calls through the front, B answering: every one must complete.
    fn batch(&self, calls: u32, rate: f64, hold_ms: u64, why: &str) -> SippRun {
        let b = Sipp::uas(self.dir.path(), "uas_answer", self.uas_port)
            .calls(calls)
            .timeout_secs(90)
            .spawn();
        let a = self.uac(calls, rate, hold_ms).run();
        assert_eq!(
            a.stats().map(|s| (s.successful, s.failed)),
            Some((u64::from(calls), 0)),
            "{why}\n{}\n== kamailio log (tail)\n{}",
            a.diagnostics(),
            tail(&self.front.log_text())
        );
        b.finish_ok(Duration::from_secs(20))
    }

    fn answered(&self) -> Vec<u64> {
        self.nodes.iter().map(answered).collect()
    }
}

#[test]
fn bindings_made_through_one_node_route_calls_on_every_node() {
    let cluster = Cluster::start();
    cluster.batch(
        60,
        30.0,
        200,
        "every call completes, whichever node the front picks (each follows the feed)",
    );
    let per_node = cluster.answered();
    assert_eq!(per_node.iter().sum::<u64>(), 60, "{per_node:?}");
    assert!(
        per_node.iter().all(|&n| n > 0),
        "a node took no call: {per_node:?}"
    );
    // A change made through node 3 reaches the others too: node 3 unbinds, nobody routes A → X any more.
    let (status, body) = cluster.nodes[2].signed(
        Method::DELETE,
        &format!("{AXB_PATH}?relationNum={}", X.replace('+', "%2B")),
        &cluster.app,
        None,
    );
    assert_eq!(status, 200, "{body}");
    ok(&(status, body));
    for node in &cluster.nodes {
        assert!(
            eventually(Duration::from_secs(5), || {
                let (_, got) = node.signed(
                    Method::GET,
                    &format!("{AXB_PATH}?relationNum={}", X.replace('+', "%2B")),
                    &cluster.app,
                    None,
                );
                !got.to_string().contains(A)
            }),
            "a node still lists the binding"
        );
    }
}

/// Binds distinct A/B pairs on X through `node` until `stop`; answers the acknowledged `subscriptionId`s.
fn bind_until(
    stop: &Arc<AtomicBool>,
    node: &SipSwitch,
    app: &(String, String),
) -> std::thread::JoinHandle<Vec<String>> {
    let stop = Arc::clone(stop);
    let client = node.switch.client().clone();
    let base = node.switch.base.clone();
    let app = app.clone();
    std::thread::spawn(move || {
        let mut acked = Vec::new();
        let mut i = 0u32;
        while !stop.load(Ordering::Acquire) {
            i += 1;
            let body = json!({
                "relationNum": X,
                "callerNum": format!("+861370{i:07}"),
                "calleeNum": format!("+861360{i:07}"),
            });
            let mut req = client.post(format!("{base}{AXB_PATH}")).json(&body);
            for (name, value) in pn_e2e::aksk_headers(&app.0, &app.1) {
                req = req.header(name, value);
            }
            let Ok(resp) = req.send() else { continue };
            let code = resp.status().as_u16();
            let got: serde_json::Value = resp.json().unwrap_or_default();
            if code == 200 && got["resultcode"] == "0" {
                acked.push(got["subscriptionId"].as_str().unwrap().to_owned());
            }
        }
        acked
    })
}

/// Whether `node` finds the binding `sub` through the API.
fn finds(node: &SipSwitch, app: &(String, String), sub: &str) -> bool {
    let (code, got) = node.signed(
        Method::GET,
        &format!("{AXB_PATH}?subscriptionId={sub}"),
        app,
        None,
    );
    code == 200 && got.to_string().contains(sub)
}

#[test]
fn a_node_killed_under_load_fails_only_its_calls_and_loses_no_acknowledged_bind() {
    let rate = load_rate();
    let load = (rate * 10.0) as u32;
    let mut cluster = Cluster::start();
    let b = Sipp::uas(cluster.dir.path(), "uas_answer", cluster.uas_port)
        .calls(load)
        .timeout_secs(120)
        .arg("-recv_timeout")
        .arg("8000")
        .spawn();
    let a = cluster
        .uac(load, rate, 1000)
        .arg("-recv_timeout")
        .arg("5000")
        .spawn();
    // Binds acknowledged through node 1 while the load runs and node 2 dies.
    let stop = Arc::new(AtomicBool::new(false));
    let binder = bind_until(&stop, &cluster.nodes[0], &cluster.app);
    std::thread::sleep(Duration::from_secs(4));
    let held = cluster.nodes[1].metric("pn_sip_active_calls").unwrap_or(0.0) as u64;
    cluster.nodes[1].switch.kill9();
    let mut a = a;
    let a = a.wait_for(Duration::from_secs(120));
    let mut b = b;
    let _ = b.wait_for(Duration::from_secs(20));
    stop.store(true, Ordering::Release);
    let acked = binder.join().unwrap();
    let calls = a.stats().expect("SIPp stats");
    eprintln!(
        "kill -9 at {rate} calls/s: the node held {held} calls; {} of {load} failed, {} completed; {} binds \
         acknowledged during the run",
        calls.failed,
        calls.successful,
        acked.len()
    );
    assert_eq!(
        calls.successful + calls.failed,
        u64::from(load),
        "{}",
        a.diagnostics()
    );
    assert!(
        held >= 10,
        "the killed node held only {held} calls: the load did not reach it"
    );
    // Between the gauge read and the kill a call or two may start on it, and a call or two may end (the
    // node takes a third of the load, its calls end at the rate they start): the count moves either way.
    let slack = (rate / 50.0).ceil() as u64 + 3;
    assert!(
        (held.saturating_sub(slack)..=held + slack).contains(&calls.failed),
        "{} calls failed, the killed node held {held}\n{}\n== kamailio log (tail)\n{}",
        calls.failed,
        a.diagnostics(),
        tail(&cluster.front.log_text())
    );
    // Every acknowledged bind is in the database: node 3 (never killed) finds each one.
    assert!(acked.len() >= 10, "only {} binds were acknowledged", acked.len());
    for sub in &acked {
        assert!(
            finds(&cluster.nodes[2], &cluster.app, sub),
            "acknowledged bind {sub} lost"
        );
    }
    restart_and_call(&mut cluster, acked.last().unwrap());
}

/// Restarts the killed node (index 1) on its address and the same database, with a fresh data directory
/// (nothing local survives): it loads a snapshot, catches up with the feed (`last`, bound while it was dead,
/// included), becomes ready, and takes calls through the front again.
fn restart_and_call(cluster: &mut Cluster, last: &str) {
    let listen = cluster.nodes[1].sip.to_string();
    let data = cluster.dir.path().join("node3-restarted");
    cluster.nodes[1] = node(&data, &listen, cluster.egress(), &cluster.url, &[]);
    // `node` waited until it was ready: its table loaded from a snapshot and caught up with the feed.
    assert!(
        finds(&cluster.nodes[1], &cluster.app, last),
        "{last} missing after the restart"
    );
    std::thread::sleep(Duration::from_secs(u64::from(PROBE_SECS) * 3));
    let before = cluster.answered();
    cluster.batch(30, 15.0, 100, "every call completes after the restart");
    let after = cluster.answered();
    assert!(
        after[1] > before[1],
        "the restarted node takes calls again: {before:?} -> {after:?}"
    );
}

/// The CDRs of the calls a node ended, still pending when it is killed (the receiver refused them until
/// then), are taken over by the cluster's leader once the dead node's lease ends and delivered: the receiver
/// gets a CDR for every call, the dead node's included.
#[test]
fn a_killed_nodes_pending_cdrs_are_delivered_by_the_others() {
    use pn_e2e::receiver::{Answer, Receiver, delivered_cdrs, icids, point_app_at};
    const CALLS: u32 = 60;
    let receiver = Receiver::start(&[]);
    let refuse = Answer {
        status: 503,
        delay: Duration::ZERO,
    };
    receiver.answer("/cdr", refuse);
    let cluster = Cluster::start_with(&[
        ("PNSWITCH__CLUSTER__LEASE_SECS", "2"),
        (
            "PNSWITCH__PUSH__RETRY_SCHEDULE_MS",
            "[500, 1000, 2000, 4000, 8000, 15000, 30000, 60000]",
        ),
    ]);
    receiver.add_app(&cluster.app.0, &cluster.app.1);
    point_app_at(
        &cluster.nodes[0].switch,
        &cluster.app.0,
        &receiver,
        None,
        Some("/cdr"),
    );
    // The app's new CDR URL reaches the other nodes through the feed.
    std::thread::sleep(Duration::from_millis(500));
    cluster.batch(CALLS, 30.0, 100, "every call completes");
    let per_node = cluster.answered();
    receiver.wait_for(
        "refused CDR pushes from every node",
        Duration::from_secs(20),
        |got| got.iter().filter(|r| r.path == "/cdr").count() >= 3,
    );
    let victim = (0..3).max_by_key(|&i| per_node[i]).unwrap();
    assert!(per_node[victim] > 0, "{per_node:?}");
    let mut cluster = cluster;
    cluster.nodes[victim].switch.kill9();
    receiver.answer("/cdr", Answer::ok());
    let got = receiver.wait_for(
        "a CDR for every call, the killed node's included",
        Duration::from_secs(60),
        |got| icids(&delivered_cdrs(got, "/cdr")).len() >= CALLS as usize,
    );
    let delivered = icids(&delivered_cdrs(&got, "/cdr")).len();
    eprintln!(
        "calls per node {per_node:?}; node {victim} killed with its CDRs pending; {delivered} distinct CDRs \
         delivered"
    );
    assert_eq!(delivered, CALLS as usize);
}
