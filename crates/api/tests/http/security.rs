//! Authentication failures, cross-app isolation and the mode check.

use pn_api::auth::{aksk_headers, format_created};
use pn_bindings::UnixTime;
use reqwest::Method;
use serde_json::json;

use crate::axb::AXB;
use crate::harness::{Server, TestApp, assert_code, assert_ok};

async fn two_apps() -> (Server, TestApp, TestApp) {
    let s = Server::start().await;
    let one = s.app("AXB", json!({})).await;
    let two = s.app("AXB", json!({})).await;
    s.numbers(&one, &[("+8617010000001", "0755")]).await;
    s.numbers(&two, &[("+8617010000002", "0755")]).await;
    (s, one, two)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authentication_failures() {
    let (s, app, _) = two_apps().await;
    let body = Some(
        json!({"relationNum": "+8617010000001", "callerNum": "+8613800000001", "calleeNum": "+8613800000002"})
            .to_string(),
    );
    let created = format_created(UnixTime(s.now()));
    let good = aksk_headers(&app.key, &app.secret, "abc123", &created);

    let r = s.raw(Method::POST, AXB, &[], body.clone()).await;
    assert_eq!((r.0, r.1["resultcode"].as_str()), (400, Some("1023006")), "{r:?}");
    let r = s
        .raw(
            Method::POST,
            AXB,
            &[("Authorization", good[0].1.clone())],
            body.clone(),
        )
        .await;
    assert_eq!(r.1["resultcode"], "1023033", "{r:?}");
    let r = s
        .raw(
            Method::POST,
            AXB,
            &[
                (
                    "Authorization",
                    "AKSK profile=\"UsernameToken\",type=\"Appkey\"".into(),
                ),
                ("X-AKSK", good[1].1.clone()),
            ],
            body.clone(),
        )
        .await;
    assert_eq!(r.1["resultcode"], "1023007", "{r:?}");

    // Wrong secret → bad digest.
    let bad = aksk_headers(&app.key, "wrong-secret", "abc124", &created);
    let r = s.raw(Method::POST, AXB, &bad, body.clone()).await;
    assert_eq!(r.1["resultcode"], "1020176", "{r:?}");
    // Clock skew.
    let old = aksk_headers(
        &app.key,
        &app.secret,
        "abc125",
        &format_created(UnixTime(s.now() - 3600)),
    );
    let r = s.raw(Method::POST, AXB, &old, body.clone()).await;
    assert_eq!(r.1["resultcode"], "1020176", "{r:?}");
    // Unknown app.
    let unknown = aksk_headers("nosuchapp", "x", "abc126", &created);
    let r = s.raw(Method::POST, AXB, &unknown, body.clone()).await;
    assert_eq!(r.1["resultcode"], "1010003", "{r:?}");
    // Replay: the same signed headers twice.
    let r = s.raw(Method::POST, AXB, &good, body.clone()).await;
    assert_ok(&r);
    let r = s.raw(Method::POST, AXB, &good, body.clone()).await;
    assert_eq!(r.1["resultcode"], "1020176", "{r:?}");
    // Disabled app → 1010004.
    let (st, v) = s
        .admin(
            Method::PUT,
            &format!("/admin/v1/apps/{}", app.key),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let r = s
        .call(
            &app,
            Method::GET,
            &format!("{AXB}?relationNum=%2B8617010000001"),
            None,
        )
        .await;
    assert_eq!(r.1["resultcode"], "1010004", "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apps_never_see_each_others_bindings() {
    let (s, one, two) = two_apps().await;
    let r = s.call(&one, Method::POST, AXB, Some(json!({"relationNum": "+8617010000001", "callerNum": "+8613800000001", "calleeNum": "+8613800000002"}))).await;
    assert_ok(&r);
    let sub = r.1["subscriptionId"].as_str().unwrap().to_owned();
    // App 2 cannot query, modify or unbind app 1's binding, and gets the same answer as for a missing one.
    let q = s
        .call(&two, Method::GET, &format!("{AXB}?subscriptionId={sub}"), None)
        .await;
    assert_code(&q, "1016001", "record");
    let q2 = s
        .call(
            &two,
            Method::GET,
            &format!("{AXB}?subscriptionId=doesnotexist"),
            None,
        )
        .await;
    assert_eq!(q.1, q2.1);
    assert_code(
        &s.call(
            &two,
            Method::GET,
            &format!("{AXB}?relationNum=%2B8617010000001"),
            None,
        )
        .await,
        "1016001",
        "record",
    );
    assert_code(
        &s.call(
            &two,
            Method::PUT,
            AXB,
            Some(json!({"subscriptionId": sub, "callDirection": 1})),
        )
        .await,
        "1012007",
        "record",
    );
    assert_code(
        &s.call(&two, Method::DELETE, &format!("{AXB}?subscriptionId={sub}"), None)
            .await,
        "1012007",
        "record",
    );
    assert_code(
        &s.call(
            &two,
            Method::DELETE,
            &format!("{AXB}?relationNum=%2B8617010000001"),
            None,
        )
        .await,
        "1011001",
        "relationNum",
    );
    // App 2 cannot bind on app 1's X.
    let r = s.call(&two, Method::POST, AXB, Some(json!({"relationNum": "+8617010000001", "callerNum": "+8613800000005", "calleeNum": "+8613800000006"}))).await;
    assert_code(&r, "1011001", "relationNum");
    // App 1's binding is untouched.
    let q = s
        .call(&one, Method::GET, &format!("{AXB}?subscriptionId={sub}"), None)
        .await;
    assert_ok(&q);
    assert_eq!(q.1["relationNumList"][0]["callDirection"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_mode_is_1010040() {
    let s = Server::start().await;
    let ax = s.app("AX", json!({})).await;
    let axb = s.app("AXB", json!({})).await;
    for (method, path) in [
        (Method::POST, AXB),
        (Method::GET, "/rest/caas/extendnumber/v1.0?subscriptionId=x"),
        (Method::DELETE, "/rest/omp/xyrelationnumber/v1.0?subscriptionId=x"),
    ] {
        let r = s.call(&ax, method, path, Some(json!({}))).await;
        assert_eq!(
            (r.0, r.1["resultcode"].as_str()),
            (403, Some("1010040")),
            "{path}: {r:?}"
        );
    }
    let r = s
        .call(
            &axb,
            Method::PUT,
            "/rest/caas/privatenumber/calleenumber/v1.0",
            Some(json!({})),
        )
        .await;
    assert_eq!(r.1["resultcode"], "1010040", "{r:?}");
}

/// X mode (issue 10): the admin API creates X apps and imports their numbers; every binding API refuses an X
/// app's key as a wrong mode, and the route trace says the customer is asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn x_apps_are_created_and_refused_by_the_binding_apis() {
    let s = Server::start().await;
    let x = s.app("X", json!({})).await;
    s.numbers(&x, &[("+8617010000009", "0755")]).await;
    let (_, apps) = s.admin(Method::GET, "/admin/v1/apps", None).await;
    assert!(
        apps["apps"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["appKey"] == x.key.as_str() && a["mode"] == "X"),
        "{apps}"
    );
    for (method, path) in [
        (Method::POST, AXB),
        (Method::POST, "/rest/provision/caas/privatenumber/v1.0"),
        (Method::GET, "/rest/caas/extendnumber/v1.0?subscriptionId=x"),
        (Method::DELETE, "/rest/omp/xyrelationnumber/v1.0?subscriptionId=x"),
        (Method::PUT, "/rest/caas/privatenumber/calleenumber/v1.0"),
    ] {
        let r = s.call(&x, method, path, Some(json!({}))).await;
        assert_eq!(r.1["resultcode"].as_str(), Some("1010040"), "{path}: {r:?}");
    }
    let (status, trace) = s
        .admin(
            Method::GET,
            "/admin/v1/route?caller=%2B8613800000001&called=%2B8617010000009",
            None,
        )
        .await;
    assert_eq!(status, 200, "{trace}");
    assert_eq!(trace["decision"], "ask", "{trace}");
}

/// Replay protection survives a restart (issue 8 item 5): a captured signed bind (and a signed query) sent
/// again after the server reopened its data directory, still inside the skew window, is refused and the
/// binding is not re-created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replays_are_refused_after_a_restart() {
    let (s, app, _) = two_apps().await;
    let body = Some(
        json!({"relationNum": "+8617010000001", "callerNum": "+8613800000001", "calleeNum": "+8613800000002"})
            .to_string(),
    );
    let bind_headers = s.sign(&app);
    let r = s.raw(Method::POST, AXB, &bind_headers, body.clone()).await;
    assert_ok(&r);
    let sub = r.1["subscriptionId"].as_str().unwrap().to_owned();
    assert_ok(
        &s.call(&app, Method::DELETE, &format!("{AXB}?subscriptionId={sub}"), None)
            .await,
    );
    // A signed query: its nonce is committed by the next batch (the flusher's job in the binary).
    let query = format!("{AXB}?relationNum=%2B8617010000001");
    let query_headers = s.sign(&app);
    let r = s.raw(Method::GET, &query, &query_headers, None).await;
    assert_code(&r, "1016001", "record");
    s.engine.flush_nonces().await.unwrap();

    let s = s.restart().await;
    let r = s.raw(Method::POST, AXB, &bind_headers, body.clone()).await;
    assert_code(&r, "1020176", "replayed");
    let r = s.raw(Method::GET, &query, &query_headers, None).await;
    assert_code(&r, "1020176", "replayed");
    // Still unbound.
    assert_code(
        &s.call(&app, Method::GET, &query, None).await,
        "1016001",
        "record",
    );
    assert_eq!(s.table.len(), 0);
    // Past the window the old Created is refused as skewed, never accepted.
    s.advance(301);
    let r = s.raw(Method::POST, AXB, &bind_headers, body).await;
    assert_code(&r, "1020176", "skew");
}
