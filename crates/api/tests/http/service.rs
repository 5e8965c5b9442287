//! `/openapi.json`, `/metrics`, `/healthz`, and the JSON 404/405 fallbacks.

use reqwest::Method;
use serde_json::json;

use crate::axb::AXB;
use crate::harness::{Server, assert_ok};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_route_is_served() {
    let s = Server::start().await;
    let (status, doc) = s.raw(Method::GET, "/openapi.json", &[], None).await;
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 9);
    let mut checked = 0;
    for (path, ops) in paths {
        let concrete = path
            .replace("{appKey}", "k")
            .replace("{number}", "+8617010000001")
            .replace("{name}", "p.wav")
            .replace("{app}", "1")
            .replace("{object}", "r.wav");
        for method in ops.as_object().unwrap().keys() {
            let m = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
            let resp = s
                .client
                .request(m, format!("{}{concrete}", s.base))
                .send()
                .await
                .unwrap();
            assert_ne!(resp.status().as_u16(), 404, "{method} {path} not routed");
            assert_ne!(resp.status().as_u16(), 405, "{method} {path} not routed");
            checked += 1;
        }
    }
    assert!(checked >= 33, "{checked}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fallbacks_metrics_and_health() {
    let s = Server::start().await;
    let r = s.raw(Method::GET, "/no/such/api", &[], None).await;
    assert_eq!((r.0, r.1["resultcode"].as_str()), (404, Some("1020001")), "{r:?}");
    for (method, path) in [
        (Method::PATCH, AXB),
        // A path served by several `routes!` groups (the upload has its own body limit).
        (Method::POST, "/admin/v1/apps/k/prompts/p.wav"),
        (Method::POST, "/rest/caas/privatenumber/calleenumber/v1.0"),
        (Method::PUT, "/healthz"),
    ] {
        let r = s.raw(method.clone(), path, &[], None).await;
        assert_eq!(
            (r.0, r.1["resultcode"].as_str()),
            (405, Some("1020001")),
            "{method} {path}: {r:?}"
        );
    }
    let r = s.raw(Method::GET, "/healthz", &[], None).await;
    assert_eq!((r.0, r.1["status"].as_str()), (200, Some("ok")));

    let app = s.app("AXB", json!({})).await;
    s.numbers(&app, &[("+8617010000001", "0755")]).await;
    let body = json!({"relationNum": "+8617010000001", "callerNum": "+8613800000001", "calleeNum": "+8613800000002"});
    assert_ok(&s.call(&app, Method::POST, AXB, Some(body.clone())).await);
    assert_eq!(
        s.call(&app, Method::POST, AXB, Some(body)).await.1["resultcode"],
        "1012010"
    );
    let text = s
        .client
        .get(format!("{}/metrics", s.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line = format!("pn_api_requests_total{{method=\"POST\",path=\"{AXB}\",resultcode=\"0\"}} 1");
    assert!(text.contains(&line), "{text}");
    assert!(
        text.contains(&format!(
            "pn_api_requests_total{{method=\"POST\",path=\"{AXB}\",resultcode=\"1012010\"}} 1"
        )),
        "{text}"
    );
    assert!(
        text.contains("pn_api_requests_total{method=\"GET\",path=\"unmatched\",resultcode=\"1020001\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("pn_bindings{app=\"AXB app\",mode=\"AXB\"} 1"),
        "{text}"
    );
    // Apps are labelled by name: the unauthenticated /metrics shows no app key.
    assert!(!text.contains(&app.key), "{text}");
    assert!(
        text.contains("pn_api_request_duration_seconds_count{method=\"POST\",path=\"/admin/v1/apps\"} 1"),
        "{text}"
    );
}
