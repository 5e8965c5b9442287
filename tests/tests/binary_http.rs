//! The binary as an operator and an integration see it: `--help`, `config`, the admin CLI, the HTTP surface
//! (/healthz, /openapi.json, /metrics) and a signed AXB bind/query/unbind round trip.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test: failing loudly is the point

use std::process::Command;

use pn_e2e::{Switch, mobile, pnswitch_bin};
use reqwest::Method;
use serde_json::{Value, json};

const AXB: &str = "/rest/caas/relationnumber/partners/v1.0";

#[test]
fn help_documents_every_command() {
    let out = Command::new(pnswitch_bin()).arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for word in [
        "serve",
        "admin",
        "config",
        "--data-dir",
        "--http-listen",
        "--config",
    ] {
        assert!(text.contains(word), "--help lacks {word}:\n{text}");
    }
    let out = Command::new(pnswitch_bin())
        .args(["admin", "--help"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("app") && text.contains("numbers"), "{text}");
}

#[test]
fn config_merges_file_env_and_flags() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.toml");
    std::fs::write(
        &file,
        "[http]\nlisten = \"127.0.0.1:7000\"\n[api.auth]\nmax_skew_secs = 60\n",
    )
    .unwrap();
    let out = Command::new(pnswitch_bin())
        .args(["--config"])
        .arg(&file)
        .args(["--data-dir", "/tmp/pn-flag", "config"])
        .env("PNSWITCH__API__AUTH__MAX_SKEW_SECS", "90")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("127.0.0.1:7000"), "{text}");
    assert!(text.contains("max_skew_secs = 90"), "{text}");
    // What it prints is TOML `--config` reads back.
    assert!(text.parse::<toml::Table>().is_ok(), "{text}");
    assert!(text.contains("/tmp/pn-flag"), "{text}");
    // An unknown key is an error, not silently ignored.
    let out = Command::new(pnswitch_bin())
        .arg("config")
        .env("PNSWITCH__HTTP__LISTNE", "x")
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn http_surface_and_signed_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let switch = Switch::start(dir.path());
    let client = switch.client();

    let health = client.get(format!("{}/healthz", switch.base)).send().unwrap();
    assert_eq!(health.status().as_u16(), 200);
    let openapi: Value = client
        .get(format!("{}/openapi.json", switch.base))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(openapi["paths"][AXB].is_object(), "openapi lacks the AXB path");

    // The admin CLI drives the running instance.
    let cli = |args: &[&str]| {
        let out = Command::new(pnswitch_bin())
            .args(["admin", "--url", &switch.base, "--token", &switch.admin_token])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "admin {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let created = cli(&["app", "create", "--name", "cli-app", "--mode", "AXB"]);
    let app_json = created.get("app").unwrap_or(&created);
    let app = (
        app_json["appKey"].as_str().unwrap().to_owned(),
        app_json["appSecret"].as_str().unwrap().to_owned(),
    );
    cli(&[
        "numbers",
        "import",
        "--app-key",
        &app.0,
        "--area-code",
        "0755",
        "+8617000000001",
    ]);
    let listed = cli(&["numbers", "list", "--app-key", &app.0]);
    assert!(listed.to_string().contains("+8617000000001"), "{listed}");
    // A wrong token is refused.
    let out = Command::new(pnswitch_bin())
        .args(["admin", "--url", &switch.base, "--token", "wrong", "app", "list"])
        .output()
        .unwrap();
    assert!(!out.status.success());

    // Signed bind → query → unbind, with the reference's example-shaped payload.
    let (a, b) = (mobile(38, 1), mobile(39, 1));
    let body = json!({"relationNum": "+8617000000001", "callerNum": a, "calleeNum": b, "callDirection": 0,
                      "duration": 86400, "recordFlag": "false", "maxDuration": 60, "userData": "ab12"});
    let (status, v) = switch.signed(Method::POST, AXB, &app, Some(&body));
    assert_eq!((status, v["resultcode"].as_str()), (200, Some("0")), "{v}");
    let sub = v["subscriptionId"].as_str().unwrap().to_owned();
    let (_, v) = switch.signed(Method::GET, &format!("{AXB}?subscriptionId={sub}"), &app, None);
    assert_eq!(v["resultcode"], "0", "{v}");
    assert!(v.to_string().contains(&a), "query shows callerNum: {v}");
    let (_, v) = switch.signed(Method::DELETE, &format!("{AXB}?subscriptionId={sub}"), &app, None);
    assert_eq!(v["resultcode"], "0", "{v}");
    let (_, v) = switch.signed(Method::GET, &format!("{AXB}?subscriptionId={sub}"), &app, None);
    assert_eq!(v["resultcode"], "1016001", "{v}");

    // Unsigned and malformed requests get the reference's codes, never a 500.
    let resp = client
        .post(format!("{}{AXB}", switch.base))
        .json(&body)
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let v: Value = resp.json().unwrap();
    assert_eq!(v["resultcode"], "1023006", "{v}");
    let mut req = client
        .post(format!("{}{AXB}", switch.base))
        .header("content-type", "application/json");
    for (k, val) in pn_e2e::aksk_headers(&app.0, &app.1) {
        req = req.header(k, val);
    }
    let resp = req.body("{not json").send().unwrap();
    let status = resp.status().as_u16();
    let v: Value = resp.json().unwrap();
    assert!(status < 500, "{status} {v}");
    assert_eq!(v["resultcode"], "1020001", "{v}");

    // The requests above are counted in /metrics.
    let metrics = client
        .get(format!("{}/metrics", switch.base))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(metrics.contains("pn_api_requests_total"), "{metrics}");
    assert!(metrics.contains("pn_store_commit_duration_seconds"), "{metrics}");
}

/// `pnswitch admin outbox list | replay` and `pnswitch admin cdrs` against the running binary, on outbox rows
/// seeded straight into its database (as a push driver would have left them: one delivered CDR, one dead
/// CDR, one pending event).
#[test]
fn admin_cli_lists_the_outbox_and_replays_dead_letters() {
    let dir = tempfile::tempdir().unwrap();
    let switch = Switch::start(dir.path());
    let run = |args: &[&str]| {
        Command::new(pnswitch_bin())
            .args(["admin", "--url", &switch.base, "--token", &switch.admin_token])
            .args(args)
            .output()
            .unwrap()
    };
    let cli = |args: &[&str]| {
        let out = run(args);
        assert!(
            out.status.success(),
            "admin {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let created = cli(&["app", "create", "--name", "outbox-app", "--mode", "AXB"]);
    let key = created["app"]["appKey"].as_str().unwrap().to_owned();

    let db = rusqlite::Connection::open(switch.data_dir.join("pnswitch.db")).unwrap();
    db.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
    let app: i64 = db
        .query_row("SELECT id FROM apps WHERE app_key = ?1", [&key], |r| r.get(0))
        .unwrap();
    let mut ids = Vec::new();
    for (kind, created_at, state, n) in [
        ("cdr", 1_700_000_000, 1, 0),
        ("cdr", 1_700_000_100, 2, 1),
        ("call_event", 1_700_000_200, 0, 2),
    ] {
        db.execute(
            "INSERT INTO outbox (kind, app_id, payload, created_at, attempts, state, done_at) \
             VALUES (?1, ?2, ?3, ?4, 0, ?5, CASE WHEN ?5 = 0 THEN NULL ELSE ?4 + 5 END)",
            rusqlite::params![kind, app, format!("{{\"n\":{n}}}"), created_at, state],
        )
        .unwrap();
        ids.push(db.last_insert_rowid());
    }
    drop(db);
    let ns = |v: &Value| -> Vec<i64> {
        v["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["payload"]["n"].as_i64().unwrap())
            .collect()
    };

    let dead = cli(&["outbox", "list", "--state", "dead"]);
    assert_eq!(ns(&dead), [1], "{dead}");
    assert_eq!(dead["entries"][0]["appKey"], key.as_str());
    assert_eq!(dead["entries"][0]["doneAt"], "2023-11-14 22:15:05");
    let cdrs = cli(&[
        "cdrs",
        "--app-key",
        &key,
        "--from",
        "2023-11-14 22:13:20",
        "--to",
        "1700000100",
    ]);
    assert_eq!(ns(&cdrs), [0, 1], "{cdrs}");
    let page = cli(&["outbox", "list", "--app-key", &key, "--limit", "1"]);
    assert_eq!((ns(&page), page["next"].as_i64()), (vec![0], Some(ids[0])));
    let rest = cli(&["outbox", "list", "--after", &ids[0].to_string()]);
    assert_eq!(ns(&rest), [1, 2]);

    let id = ids[1].to_string();
    let replayed = cli(&["outbox", "replay", "--id", &id, "--id", &ids[0].to_string()]);
    assert_eq!(replayed["replayed"], 1, "only the dead letter: {replayed}");
    assert_eq!(
        ns(&cli(&["outbox", "list", "--state", "dead"])),
        Vec::<i64>::new()
    );
    let again = cli(&["outbox", "replay", "--app-key", &key]);
    assert_eq!(again["replayed"], 0, "{again}");

    // Refusals: the API's 400 makes the command fail; clap refuses a replay without a target.
    assert!(!run(&["outbox", "list", "--state", "lost"]).status.success());
    assert!(!run(&["outbox", "replay"]).status.success());
}

#[test]
fn api_flow_control_and_the_source_allow_list_through_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let switch = Switch::start(&dir.path().join("data"));
    let app = switch.create_app("limited", "AXB");
    let query = format!("{AXB}?relationNum=%2B8617010000001");
    let controls = format!("/admin/v1/apps/{}/controls", app.0);
    // Only 10.0.0.0/8 may call: the test's 127.0.0.1 is refused, and naming another source in the header
    // the server uses for the peer changes nothing.
    let (status, v) = switch.admin(
        Method::PUT,
        &controls,
        Some(&json!({"api": {"allowedSources": ["10.0.0.0/8"]}})),
    );
    assert_eq!(status, 200, "{v}");
    let mut headers = pn_e2e::aksk_headers(&app.0, &app.1).to_vec();
    headers.push(("x-pnswitch-peer", "10.1.1.1".to_owned()));
    let (status, v) = switch.send_with(Method::GET, &query, &headers, None);
    assert_eq!((status, v["resultcode"].as_str()), (403, Some("1020166")), "{v}");
    // Only 127.0.0.1: a client bound to 127.0.0.2 is refused, one on 127.0.0.1 is served.
    let (status, v) = switch.admin(
        Method::PUT,
        &controls,
        Some(&json!({"api": {"allowedSources": ["127.0.0.1/32"]}})),
    );
    assert_eq!(status, 200, "{v}");
    for (source, allowed) in [("127.0.0.2", false), ("127.0.0.1", true)] {
        let client = reqwest::blocking::Client::builder()
            .local_address(source.parse::<std::net::IpAddr>().unwrap())
            .build()
            .unwrap();
        let mut req = client.get(format!("{}{query}", switch.base));
        for (name, value) in pn_e2e::aksk_headers(&app.0, &app.1) {
            req = req.header(name, value);
        }
        let resp = req.send().unwrap();
        let status = resp.status().as_u16();
        let body: Value = resp.json().unwrap();
        if allowed {
            // Served: past the allow-list, the query itself answers (no such binding: 1016001).
            assert_eq!(status, 200, "from {source}: {body}");
            assert_eq!(body["resultcode"], "1016001", "from {source}: {body}");
        } else {
            assert_eq!(
                (status, body["resultcode"].as_str()),
                (403, Some("1020166")),
                "from {source}: {body}"
            );
        }
    }
    // From loopback, at most 1 request/s with a burst of 2: of 6 at once, the later ones get 1010010 (429)
    // with Retry-After.
    let (status, v) = switch.admin(
        Method::PUT,
        &controls,
        Some(&json!({"api": {"allowedSources": ["127.0.0.0/8"], "requestsPerSec": 1, "burst": 2}})),
    );
    assert_eq!(status, 200, "{v}");
    let mut limited = 0;
    for _ in 0..6 {
        let mut req = switch.client().get(format!("{}{query}", switch.base));
        for (name, value) in pn_e2e::aksk_headers(&app.0, &app.1) {
            req = req.header(name, value);
        }
        let resp = req.send().unwrap();
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let body: Value = resp.json().unwrap();
        if body["resultcode"] == "1010010" {
            assert_eq!(status, 429, "{body}");
            assert!(
                retry_after.is_some_and(|s| s >= 1),
                "Retry-After: {retry_after:?}"
            );
            limited += 1;
        } else {
            assert_ne!(body["resultcode"], "1020166", "{body}");
        }
    }
    assert!(
        (3..=4).contains(&limited),
        "{limited} of 6 requests refused by flow control"
    );
}
