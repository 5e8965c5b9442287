//! AX: bind, rules, modify, query priority, temporary callee, unbind.

use reqwest::Method;
use serde_json::json;

use crate::harness::{Server, assert_code, assert_ok};
use pn_provision::EngineConfig;

const AX: &str = "/rest/provision/caas/privatenumber/v1.0";
const CALLEE: &str = "/rest/caas/privatenumber/calleenumber/v1.0";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ax_lifecycle_and_rules() {
    let s = Server::start_with(EngineConfig {
        max_x_per_a: 2,
        ..EngineConfig::default()
    })
    .await;
    let app = s.app("AX", json!({})).await;
    s.numbers(
        &app,
        &[
            ("+8617010000001", "0755"),
            ("+8617010000002", "0755"),
            ("+8617010000003", "0755"),
        ],
    )
    .await;

    let r = s
        .call(
            &app,
            Method::POST,
            AX,
            Some(
                json!({"origNum": "+8613800000001", "privateNum": "+8617010000001",
        "calleeNumDisplay": "0", "maxDuration": 30, "lastMinVoice": "last_minute.wav", "turnFlag": "on"}),
            ),
        )
        .await;
    assert_ok(&r);
    assert_eq!(r.1["origNum"], "+8613800000001");
    assert_eq!(r.1["privateNum"], "+8617010000001");
    let sub = r.1["subscriptionId"].as_str().unwrap().to_owned();

    // X taken by another A → 1011005; by the same A → 1016002.
    let again = |a: &str| json!({"origNum": a, "privateNum": "+8617010000001"});
    assert_code(
        &s.call(&app, Method::POST, AX, Some(again("+8613800000002")))
            .await,
        "1011005",
        "allocated",
    );
    assert_code(
        &s.call(&app, Method::POST, AX, Some(again("+8613800000001")))
            .await,
        "1016002",
        "exists",
    );
    // calleeNumDisplay=1 refused.
    let r = s
        .call(
            &app,
            Method::POST,
            AX,
            Some(
                json!({"origNum": "+8613800000002", "privateNum": "+8617010000002", "calleeNumDisplay": "1"}),
            ),
        )
        .await;
    assert_code(&r, "1010002", "calleeNumDisplay");
    let r = s
        .call(
            &app,
            Method::POST,
            AX,
            Some(json!({"origNum": "+8613800000002", "privateNum": "+8617010000002", "turnFlag": "maybe"})),
        )
        .await;
    assert_code(&r, "1020001", "turnFlag");
    // One A at most max_x_per_a (test: 2) X, with areaCode allocation for the second.
    let r = s
        .call(
            &app,
            Method::POST,
            AX,
            Some(
                json!({"origNum": "+8613800000001", "areaCode": "0755", "privateNumType": "mobile-virtual"}),
            ),
        )
        .await;
    assert_ok(&r);
    assert_eq!(r.1["privateNum"], "+8617010000002");
    let r = s
        .call(
            &app,
            Method::POST,
            AX,
            Some(json!({"origNum": "+8613800000001", "privateNum": "+8617010000003"})),
        )
        .await;
    assert_code(&r, "1011002", "upper limit");

    // Query priority: subscriptionId > origNum > privateNum.
    let q = s
        .call(&app, Method::GET, &format!("{AX}?origNum=%2B8613800000001"), None)
        .await;
    assert_ok(&q);
    assert_eq!(q.1["privateNumList"].as_array().unwrap().len(), 2);
    let q = s
        .call(
            &app,
            Method::GET,
            &format!("{AX}?subscriptionId={sub}&origNum=%2B8613800000001"),
            None,
        )
        .await;
    assert_eq!(q.1["privateNumList"].as_array().unwrap().len(), 1);
    assert_eq!(q.1["privateNumList"][0]["maxDuration"], 30);
    assert_eq!(q.1["privateNumList"][0]["lastMinVoice"], "last_minute.wav");
    let q = s
        .call(
            &app,
            Method::GET,
            &format!("{AX}?privateNum=%2B8617010000002"),
            None,
        )
        .await;
    assert_eq!(q.1["privateNumList"][0]["privateNum"], "+8617010000002");

    // Modify: turnFlag off, direction 1, new A that is under the limit.
    let r = s.call(&app, Method::PUT, AX, Some(json!({"subscriptionId": sub, "turnFlag": "off", "callDirection": 1, "origNum": "+8613800000009"}))).await;
    assert_ok(&r);
    let q = s
        .call(&app, Method::GET, &format!("{AX}?subscriptionId={sub}"), None)
        .await;
    assert_eq!(q.1["privateNumList"][0]["turnFlag"], "off");
    assert_eq!(q.1["privateNumList"][0]["origNum"], "+8613800000009");
    assert_eq!(q.1["privateNumList"][0]["callDirection"], 1);

    // Temporary callee.
    let r = s
        .call(
            &app,
            Method::PUT,
            CALLEE,
            Some(json!({"subscriptionId": sub, "calleeNum": "+8613900000001", "duration": 120})),
        )
        .await;
    assert_ok(&r);
    let r = s
        .call(
            &app,
            Method::PUT,
            CALLEE,
            Some(json!({"privateNum": "+8617010000001", "calleeNum": "+864008001234"})),
        )
        .await;
    assert_ok(&r);
    let r = s
        .call(
            &app,
            Method::PUT,
            CALLEE,
            Some(json!({"subscriptionId": sub, "calleeNum": "+8613800000009"})),
        )
        .await;
    assert_code(&r, "1010002", "calleeNum");
    let r = s
        .call(
            &app,
            Method::PUT,
            CALLEE,
            Some(json!({"subscriptionId": sub, "calleeNum": "+8613900000001", "duration": 0})),
        )
        .await;
    assert_code(&r, "1020001", "duration");
    let r = s
        .call(
            &app,
            Method::PUT,
            CALLEE,
            Some(json!({"subscriptionId": sub, "calleeNum": "+8613900000001", "duration": 259_201})),
        )
        .await;
    assert_code(&r, "1020001", "duration");
    let r = s
        .call(
            &app,
            Method::PUT,
            CALLEE,
            Some(json!({"subscriptionId": "unknown", "calleeNum": "+8613900000001"})),
        )
        .await;
    assert_code(&r, "1012007", "record");
    let r = s
        .call(
            &app,
            Method::PUT,
            CALLEE,
            Some(json!({"privateNum": "+8617010000003", "calleeNum": "+8613900000001"})),
        )
        .await;
    assert_code(&r, "1011004", "+8617010000003");

    // Unbind: by privateNum (with a mismatching origNum → 1012007), then by subscriptionId.
    let r = s
        .call(
            &app,
            Method::DELETE,
            &format!("{AX}?privateNum=%2B8617010000002&origNum=%2B8613800000005"),
            None,
        )
        .await;
    assert_code(&r, "1012007", "record");
    assert_ok(
        &s.call(
            &app,
            Method::DELETE,
            &format!("{AX}?privateNum=%2B8617010000002&origNum=%2B8613800000001"),
            None,
        )
        .await,
    );
    assert_ok(
        &s.call(&app, Method::DELETE, &format!("{AX}?subscriptionId={sub}"), None)
            .await,
    );
    assert_code(
        &s.call(&app, Method::GET, &format!("{AX}?subscriptionId={sub}"), None)
            .await,
        "1016001",
        "record",
    );
    assert_code(
        &s.call(
            &app,
            Method::DELETE,
            &format!("{AX}?privateNum=%2B8617010000001"),
            None,
        )
        .await,
        "1011004",
        "+8617010000001",
    );
    assert_eq!(s.table.len(), 0);
}
