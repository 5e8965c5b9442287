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
    assert!(text.contains("max_skew_secs: 90"), "{text}");
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
