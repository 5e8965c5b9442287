//! Replay protection across restarts through the real binary (issue 8 item 5): a captured signed request
//! sent again, byte for byte, after the switch restarted on the same data directory and still inside the
//! clock-skew window is refused with the reference's 1020176, and a replayed bind does not re-create its
//! binding. After `kill -9` and after a graceful stop (SIGTERM), for a write and for a query.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test: failing loudly is the point

use std::time::Duration;

use pn_e2e::sipp::{AXB_PATH, ok};
use pn_e2e::{Switch, aksk_headers};
use reqwest::Method;
use serde_json::{Value, json};

const X: &str = "+8617000000201";
const A: &str = "+8613800000201";
const B: &str = "+8613900000201";

/// Asserts a refusal as a replay: HTTP 400, resultcode 1020176, "nonce replayed".
fn assert_replay_refused(r: &(u16, Value)) {
    assert_eq!(
        (r.0, r.1["resultcode"].as_str()),
        (400, Some("1020176")),
        "{}",
        r.1
    );
    assert!(
        r.1["resultdesc"]
            .as_str()
            .unwrap_or_default()
            .contains("replayed"),
        "{}",
        r.1
    );
}

/// Starts a switch with an AXB app owning X; returns it with the app's credentials.
fn switch_with_app(dir: &std::path::Path) -> (Switch, (String, String)) {
    let switch = Switch::start(dir);
    let app = switch.create_app("replay", "AXB");
    switch.import_numbers(&app.0, "0755", &[X.to_owned()]);
    (switch, app)
}

/// Binds A–X–B with `headers` (a captured signed request), then unbinds it with fresh ones; also sends a
/// signed query with `query_headers`. Returns the bind body.
fn bind_unbind_and_query(
    switch: &Switch,
    app: &(String, String),
    headers: &[(&str, String)],
    query: &str,
    query_headers: &[(&str, String)],
) -> Value {
    let body = json!({"relationNum": X, "callerNum": A, "calleeNum": B});
    let r = switch.send_with(Method::POST, AXB_PATH, headers, Some(&body));
    let sub = ok(&r)["subscriptionId"].as_str().unwrap().to_owned();
    ok(&switch.signed(
        Method::DELETE,
        &format!("{AXB_PATH}?subscriptionId={sub}"),
        app,
        None,
    ));
    let r = switch.send_with(Method::GET, query, query_headers, None);
    assert_eq!(r.1["resultcode"], "1016001", "{}", r.1);
    body
}

/// After the restart: both captured requests are replays, and A–X–B is still unbound.
fn assert_replays_refused(
    switch: &Switch,
    app: &(String, String),
    headers: &[(&str, String)],
    body: &Value,
    query: &str,
    query_headers: &[(&str, String)],
) {
    assert_replay_refused(&switch.send_with(Method::POST, AXB_PATH, headers, Some(body)));
    assert_replay_refused(&switch.send_with(Method::GET, query, query_headers, None));
    let r = switch.signed(Method::GET, query, app, None);
    assert_eq!(r.1["resultcode"], "1016001", "re-created by the replay: {}", r.1);
    assert_eq!(switch.route(A, X)["stateCode"], 8014);
    // A fresh signature still works.
    let r = switch.signed(
        Method::POST,
        AXB_PATH,
        app,
        Some(&json!({"relationNum": X, "callerNum": A, "calleeNum": B})),
    );
    ok(&r);
}

#[test]
fn replays_are_refused_after_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let (mut switch, app) = switch_with_app(dir.path());
    let query = format!("{AXB_PATH}?relationNum={}", X.replace('+', "%2B"));
    let headers = aksk_headers(&app.0, &app.1);
    let query_headers = aksk_headers(&app.0, &app.1);
    let body = bind_unbind_and_query(&switch, &app, &headers, &query, &query_headers);
    // The write's nonce was durable when it was acknowledged; the query's is committed within a second.
    std::thread::sleep(Duration::from_millis(1500));
    switch.kill9();
    drop(switch);
    let switch = Switch::start(dir.path());
    assert_replays_refused(&switch, &app, &headers, &body, &query, &query_headers);
}

#[test]
fn replays_are_refused_after_a_graceful_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (mut switch, app) = switch_with_app(dir.path());
    let query = format!("{AXB_PATH}?relationNum={}", X.replace('+', "%2B"));
    let headers = aksk_headers(&app.0, &app.1);
    let query_headers = aksk_headers(&app.0, &app.1);
    let body = bind_unbind_and_query(&switch, &app, &headers, &query, &query_headers);
    // Stopped at once: the query's nonce is committed on the way out.
    assert!(
        switch.stop(Duration::from_secs(20)),
        "pnswitch exited with an error"
    );
    drop(switch);
    let switch = Switch::start(dir.path());
    assert_replays_refused(&switch, &app, &headers, &body, &query, &query_headers);
}
