//! The apps' push options in the admin API, and the X-number status pushes (`numStatus`, reference §7.2) that
//! admin changes to a pool number append to the outbox.

use pn_store::{OutboxEntry, OutboxKind};
use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{Server, assert_code, assert_ok};

/// The undelivered `numStatus` rows, parsed.
fn status_rows(s: &Server) -> Vec<(OutboxEntry, Value)> {
    let mut r = s.store.reader().unwrap();
    r.outbox_pending(0, 1000)
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == OutboxKind::NumberStatus)
        .map(|e| {
            let v: Value = serde_json::from_str(&e.payload).unwrap();
            (e, v)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_options_on_create_update_and_view() {
    let s = Server::start().await;
    // Defaults.
    let r = s
        .admin(
            Method::POST,
            "/admin/v1/apps",
            Some(json!({"name": "plain", "mode": "AXB"})),
        )
        .await;
    assert_ok(&r);
    let app = &r.1["app"];
    assert_eq!(app["numStatusEnabled"], false);
    assert_eq!(app["numStatusUrl"], Value::Null);
    assert_eq!(app["smsControlUrl"], Value::Null);
    assert_eq!(app["smsContentEnabled"], false);
    assert_eq!(app["pushAuth"], "aksk");

    // Given on create.
    let r = s
        .admin(
            Method::POST,
            "/admin/v1/apps",
            Some(json!({
                "name": "pushy", "mode": "AX", "appKey": "pushy",
                "numStatusEnabled": true, "numStatusUrl": "https://example.com/status",
                "smsControlUrl": "http://10.0.0.1:8080/block", "smsContentEnabled": true, "pushAuth": "wsse",
            })),
        )
        .await;
    assert_ok(&r);
    let r = s.admin(Method::GET, "/admin/v1/apps/pushy", None).await;
    let app = &r.1["app"];
    assert_eq!(app["numStatusEnabled"], true);
    assert_eq!(app["numStatusUrl"], "https://example.com/status");
    assert_eq!(app["smsControlUrl"], "http://10.0.0.1:8080/block");
    assert_eq!(app["smsContentEnabled"], true);
    assert_eq!(app["pushAuth"], "wsse");

    // Update: change some, clear a URL, keep the rest.
    let r = s
        .admin(
            Method::PUT,
            "/admin/v1/apps/pushy",
            Some(json!({"numStatusUrl": "", "pushAuth": "aksk", "smsContentEnabled": false})),
        )
        .await;
    assert_ok(&r);
    let r = s.admin(Method::GET, "/admin/v1/apps", None).await;
    let app = r.1["apps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["appKey"] == "pushy")
        .unwrap()
        .clone();
    assert_eq!(app["numStatusEnabled"], true);
    assert_eq!(app["numStatusUrl"], Value::Null);
    assert_eq!(app["smsControlUrl"], "http://10.0.0.1:8080/block");
    assert_eq!(app["smsContentEnabled"], false);
    assert_eq!(app["pushAuth"], "aksk");

    // Refusals.
    let r = s
        .admin(
            Method::PUT,
            "/admin/v1/apps/pushy",
            Some(json!({"pushAuth": "basic"})),
        )
        .await;
    assert_code(&r, "1020001", "pushAuth");
    let r = s
        .admin(
            Method::PUT,
            "/admin/v1/apps/pushy",
            Some(json!({"smsControlUrl": "ftp://example.com"})),
        )
        .await;
    assert_code(&r, "1020001", "smsControlUrl");
    let r = s
        .admin(
            Method::PUT,
            "/admin/v1/apps/pushy",
            Some(json!({"numStatusEnabled": "yes"})),
        )
        .await;
    assert_code(&r, "1020001", "numStatusEnabled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn number_status_changes_reach_the_outbox() {
    let s = Server::start().await;
    let on = s.app("AXB", json!({"numStatusEnabled": true})).await;
    let off = s.app("AXB", json!({})).await;
    s.numbers(&on, &[("+8617010000001", "0755"), ("+8617010000002", "0755")])
        .await;
    s.numbers(&off, &[("+8617010000009", "0755")]).await;
    let put = |n: &'static str, body: Value| {
        let s = &s;
        async move {
            s.admin(Method::PUT, &format!("/admin/v1/numbers/{n}"), Some(body))
                .await
        }
    };

    assert_ok(&put("%2B8617010000001", json!({"status": "paused"})).await);
    // Unchanged status (and an area change): no row.
    assert_ok(
        &put(
            "%2B8617010000001",
            json!({"status": "paused", "areaCode": "0756"}),
        )
        .await,
    );
    assert_ok(&put("%2B8617010000001", json!({"status": "unavailable", "cause": 3})).await);
    assert_ok(&put("%2B8617010000001", json!({"status": "frozen"})).await);
    assert_ok(&put("%2B8617010000001", json!({"status": "normal"})).await);
    // The app without status pushes: no row.
    assert_ok(&put("%2B8617010000009", json!({"status": "paused"})).await);
    // A cause needs status unavailable and must be one of §7.2's.
    assert_code(
        &put("%2B8617010000002", json!({"status": "paused", "cause": 3})).await,
        "1020001",
        "cause",
    );
    assert_code(
        &put("%2B8617010000002", json!({"status": "unavailable", "cause": 4})).await,
        "1020001",
        "cause",
    );
    // Retiring: status 10, cause 1 (deleted).
    let r = s
        .admin(Method::DELETE, "/admin/v1/numbers/%2B8617010000002", None)
        .await;
    assert_ok(&r);
    let r = s
        .admin(Method::DELETE, "/admin/v1/numbers/%2B8617010000009", None)
        .await;
    assert_ok(&r);

    let rows = status_rows(&s);
    let bodies: Vec<Value> = rows.iter().map(|(_, v)| v.clone()).collect();
    let info = |number: &str, status: &str, cause: Option<&str>| {
        let mut e = json!({"number": number, "status": status});
        if let Some(c) = cause {
            e["cause"] = c.into();
        }
        json!({"eventType": "numStatus", "numInfo": [e]})
    };
    assert_eq!(
        bodies,
        vec![
            info("+8617010000001", "9", None),
            info("+8617010000001", "10", Some("3")),
            info("+8617010000001", "11", None),
            info("+8617010000001", "5", None),
            info("+8617010000002", "10", Some("1")),
        ]
    );
    let on_id = rows[0].0.app;
    assert!(rows.iter().all(|(e, _)| e.app == on_id));
    let r = s.admin(Method::GET, "/admin/v1/apps", None).await;
    assert!(
        r.1["apps"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["appKey"] == on.key.as_str())
    );
}
