//! Call controls through the admin API: PUT/GET `/admin/v1/apps/{appKey}/controls`, validation, the route trace
//! naming the refusing control, the table updated without a restart and the controls kept across one.

use reqwest::Method;
use serde_json::{Value, json};

use crate::axb::AXB;
use crate::harness::{Server, TestApp, assert_code, assert_ok};

const X: &str = "+8617010000001";
const A: &str = "+8613800000001";
const B: &str = "+8613800000002";

fn controls_path(app: &TestApp) -> String {
    format!("/admin/v1/apps/{}/controls", app.key)
}

async fn trace(s: &Server, caller: &str) -> Value {
    let path = format!(
        "/admin/v1/route?caller={}&called={}",
        caller.replace('+', "%2B"),
        X.replace('+', "%2B")
    );
    let r = s.admin(Method::GET, &path, None).await;
    assert_eq!(r.0, 200, "{r:?}");
    r.1
}

/// A call through the table as a shard makes it (counted).
fn call(s: &Server, caller: &str) -> pn_bindings::RouteDecision {
    let n = |t: &str| pn_numbers::normalize(t).unwrap();
    pn_bindings::decide_controlled(
        &s.table,
        &pn_bindings::RoutePolicy::default(),
        Some(n(caller)),
        n(X),
        None,
        pn_bindings::UnixTime(s.now()),
        pn_bindings::Counting::Count,
    )
    .decision
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controls_are_stored_applied_traced_and_kept_across_a_restart() {
    let s = Server::start().await;
    let app = s.app("AXB", json!({})).await;
    s.numbers(&app, &[(X, "0755")]).await;
    let bound = s
        .call(
            &app,
            Method::POST,
            AXB,
            Some(json!({"relationNum": X, "callerNum": A, "calleeNum": B})),
        )
        .await;
    assert_ok(&bound);

    // Defaults: nothing controlled, every field present.
    let r = s.admin(Method::GET, &controls_path(&app), None).await;
    assert_ok(&r);
    assert_eq!(r.1["controls"]["limits"], json!([]));
    assert_eq!(r.1["controls"]["internationalIn"], true);
    assert_eq!(trace(&s, B).await["decision"], "connect");

    // Bad documents are refused and change nothing.
    for bad in [
        json!({"bogus": 1}),
        json!({"restrictedPrefixes": ["+86x"]}),
        json!({"limits": [{"key": "caller", "windowSecs": 60, "max": 0}]}),
        json!({"timeWindow": {"days": [8], "fromMinute": 0, "toMinute": 60}}),
    ] {
        let r = s
            .admin(Method::PUT, &controls_path(&app), Some(bad.clone()))
            .await;
        assert_code(&r, "1020001", "controls");
    }
    let r = s
        .admin(Method::PUT, "/admin/v1/apps/nope/controls", Some(json!({})))
        .await;
    assert_ne!(r.1["resultcode"], "0", "{r:?}");

    // B blacklisted, A limited to 2 calls a minute.
    let doc = json!({
        "callerBlacklist": {"numbers": [B], "prefixes": []},
        "limits": [{"key": "caller", "windowSecs": 60, "max": 2}]
    });
    let r = s.admin(Method::PUT, &controls_path(&app), Some(doc)).await;
    assert_ok(&r);
    assert_eq!(r.1["controls"]["callerBlacklist"]["numbers"], json!([B]));
    let t = trace(&s, B).await;
    assert_eq!(
        (t["decision"].as_str(), t["stateCode"].as_u64()),
        (Some("reject"), Some(7005)),
        "{t}"
    );
    assert_eq!(t["control"], "caller blacklisted", "{t}");

    // The trace probes without counting; two real calls use A's minute up.
    for _ in 0..3 {
        assert_eq!(trace(&s, A).await["decision"], "connect");
    }
    assert!(matches!(call(&s, A), pn_bindings::RouteDecision::Connect(_)));
    assert!(matches!(call(&s, A), pn_bindings::RouteDecision::Connect(_)));
    let t = trace(&s, A).await;
    assert_eq!(t["stateCode"], 8047, "{t}");
    assert!(
        t["control"]
            .as_str()
            .unwrap()
            .contains("frequency limit 2 per 60 s"),
        "{t}"
    );
    // Two minutes later A calls again.
    s.advance(120);
    assert_eq!(trace(&s, A).await["decision"], "connect");

    // Kept across a restart (loaded into the table from the store).
    let s = s.restart().await;
    let r = s.admin(Method::GET, &controls_path(&app), None).await;
    assert_eq!(r.1["controls"]["callerBlacklist"]["numbers"], json!([B]), "{r:?}");
    assert_eq!(trace(&s, B).await["stateCode"], 7005);

    // Cleared: B calls again.
    let r = s.admin(Method::PUT, &controls_path(&app), Some(json!({}))).await;
    assert_ok(&r);
    assert_eq!(trace(&s, B).await["decision"], "connect");
}

/// A signed AXB query by `app`, from `peer` when given (as the binary's HTTP server says it).
async fn query_from(s: &Server, app: &TestApp, peer: Option<&str>) -> (u16, Value) {
    let mut headers = s.sign(app);
    if let Some(peer) = peer {
        headers.push((pn_api::limits::PEER_HEADER, peer.to_owned()));
    }
    let path = format!("{AXB}?relationNum={}", X.replace('+', "%2B"));
    s.raw(Method::GET, &path, &headers, None).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_flow_control_and_source_allow_list_apply_per_app() {
    let s = Server::start().await;
    let app = s.app("AXB", json!({})).await;
    let other = s.app("AXB", json!({"name": "other AXB app"})).await;
    s.numbers(&app, &[(X, "0755")]).await;
    // 1 request/s, burst 3: three at once pass, the fourth is refused with 1010010 (429).
    let r = s
        .admin(
            Method::PUT,
            &controls_path(&app),
            Some(json!({"api": {"requestsPerSec": 1, "burst": 3}})),
        )
        .await;
    assert_eq!(r.0, 200, "{r:?}");
    for i in 0..3 {
        let r = query_from(&s, &app, None).await;
        assert_ne!(r.1["resultcode"], "1010010", "request {i}: {r:?}");
    }
    let refused = query_from(&s, &app, None).await;
    assert_eq!(refused.0, 429, "{refused:?}");
    assert_code(&refused, "1010010", "requests per second");
    // Another app's requests are not counted against it.
    let r = query_from(&s, &other, None).await;
    assert_ne!(r.1["resultcode"], "1010010", "{r:?}");

    // Only 10.0.0.0/8: a request from 127.0.0.1 (or from an unknown source) gets 1020166 (403).
    let r = s
        .admin(
            Method::PUT,
            &controls_path(&app),
            Some(json!({"api": {"allowedSources": ["10.0.0.0/8", "192.0.2.7"]}})),
        )
        .await;
    assert_eq!(r.0, 200, "{r:?}");
    for peer in [Some("127.0.0.1"), Some("192.0.2.8"), None] {
        let r = query_from(&s, &app, peer).await;
        assert_eq!(r.0, 403, "{peer:?}: {r:?}");
        assert_code(&r, "1020166", "whitelist");
    }
    for peer in ["10.20.30.40", "192.0.2.7"] {
        let r = query_from(&s, &app, Some(peer)).await;
        assert_ne!(r.1["resultcode"], "1020166", "{peer}: {r:?}");
    }
    // A bad range is refused when the controls are set.
    let r = s
        .admin(
            Method::PUT,
            &controls_path(&app),
            Some(json!({"api": {"allowedSources": ["10.0.0.0/33"]}})),
        )
        .await;
    assert_eq!(r.0, 400, "{r:?}");
}
