//! AXE: extension assignment, rules, modify (bind-time values in the query), unbind.

use reqwest::Method;
use serde_json::json;

use crate::harness::{Server, assert_code, assert_ok};

const AXE: &str = "/rest/caas/extendnumber/v1.0";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axe_lifecycle_and_rules() {
    let s = Server::start().await;
    let app = s.app("AXE", json!({"extensionDigits": 2})).await;
    s.numbers(&app, &[("+8617010000001", "0755")]).await;
    let bind = |a: &str| json!({"bindNum": a, "virtualNum": "+8617010000001"});

    let r = s
        .call(&app, Method::POST, AXE, Some(bind("+8613800000001")))
        .await;
    assert_ok(&r);
    assert_eq!(r.1["extendNum"], "01");
    assert_eq!(r.1["virtualNum"], "+8617010000001");
    assert_eq!(r.1["bindNum"], "+8613800000001");
    let sub = r.1["subscriptionId"].as_str().unwrap().to_owned();
    let r = s
        .call(&app, Method::POST, AXE, Some(bind("+8613800000002")))
        .await;
    assert_eq!(r.1["extendNum"], "02");
    let mut explicit = bind("+8613800000003");
    explicit["extendNum"] = json!("05");
    explicit["timeUnit"] = json!("1");
    explicit["bindExpiredTime"] = json!(30);
    explicit["callbackTone"] = json!("no_callback.wav");
    explicit["callbackExpiredTime"] = json!(10);
    assert_ok(&s.call(&app, Method::POST, AXE, Some(explicit.clone())).await);
    explicit["bindNum"] = json!("+8613800000004");
    assert_code(
        &s.call(&app, Method::POST, AXE, Some(explicit.clone())).await,
        "1012010",
        "05",
    );
    let r = s
        .call(&app, Method::POST, AXE, Some(bind("+8613800000004")))
        .await;
    assert_eq!(r.1["extendNum"], "03");

    let mut b = bind("+8613800000005");
    b["extendNum"] = json!("123");
    assert_code(
        &s.call(&app, Method::POST, AXE, Some(b)).await,
        "1020001",
        "extendNum",
    );
    let mut b = bind("+8613800000005");
    b["callbackTone"] = json!("no_callback.wav");
    b["callbackNum"] = json!("+8613900000001");
    assert_code(
        &s.call(&app, Method::POST, AXE, Some(b)).await,
        "1010002",
        "callbackNum",
    );
    let mut b = bind("+8613800000005");
    b["timeUnit"] = json!("2");
    assert_code(
        &s.call(&app, Method::POST, AXE, Some(b)).await,
        "1010002",
        "timeUnit",
    );
    let mut b = bind("+8613800000005");
    b["displayNumMode"] = json!("1");
    assert_code(
        &s.call(&app, Method::POST, AXE, Some(b)).await,
        "1010002",
        "displayNumMode",
    );
    let mut b = bind("+8613800000005");
    b["bindExpiredTime"] = json!(-1);
    assert_code(
        &s.call(&app, Method::POST, AXE, Some(b)).await,
        "1020001",
        "bindExpiredTime",
    );

    // Query one binding: flat fields, with the bind-time timeUnit/bindExpiredTime.
    let q = s
        .call(
            &app,
            Method::GET,
            &format!("{AXE}?virtualNum=%2B8617010000001&extendNum=05"),
            None,
        )
        .await;
    assert_ok(&q);
    assert_eq!(q.1["bindNum"], "+8613800000003");
    assert_eq!(q.1["timeUnit"], "1");
    assert_eq!(q.1["bindExpiredTime"], 30);
    assert_eq!(q.1["callbackTone"], "no_callback.wav");
    assert_eq!(q.1["displayNumMode"], "0");
    let sub05 = q.1["subscriptionId"].as_str().unwrap().to_owned();
    let r = s.call(&app, Method::PUT, AXE, Some(json!({"subscriptionId": sub05, "timeUnit": "0", "bindExpiredTime": 2, "callbackNum": "+8613900000001"}))).await;
    assert_ok(&r);
    let q = s
        .call(&app, Method::GET, &format!("{AXE}?subscriptionId={sub05}"), None)
        .await;
    assert_eq!(q.1["timeUnit"], "1");
    assert_eq!(q.1["bindExpiredTime"], 30);
    assert_eq!(q.1["callbackNum"], "+8613900000001");
    assert!(q.1.get("callbackTone").is_none());
    assert_eq!(q.1["expireTime"], pn_api_time(s.now() + 2 * 3600));
    // The new lifetime (2 hours) applies, not the bind-time 30 minutes.
    s.advance(31 * 60);
    assert_ok(
        &s.call(&app, Method::GET, &format!("{AXE}?subscriptionId={sub05}"), None)
            .await,
    );

    // virtualNum alone lists its extensions.
    let q = s
        .call(
            &app,
            Method::GET,
            &format!("{AXE}?virtualNum=%2B8617010000001"),
            None,
        )
        .await;
    assert_ok(&q);
    assert_eq!(q.1["totalCount"], 4);
    assert_eq!(q.1["extendNumList"].as_array().unwrap().len(), 4);

    // Modify and unbind by virtualNum+extendNum.
    let r = s
        .call(
            &app,
            Method::PUT,
            AXE,
            Some(json!({"virtualNum": "+8617010000001", "extendNum": "01", "recordFlag": "true"})),
        )
        .await;
    assert_code(&r, "1010002", "recordFlag");
    let r = s
        .call(
            &app,
            Method::PUT,
            AXE,
            Some(json!({"virtualNum": "+8617010000001", "extendNum": "01", "userData": "u1"})),
        )
        .await;
    assert_ok(&r);
    assert_ok(
        &s.call(
            &app,
            Method::DELETE,
            &format!("{AXE}?virtualNum=%2B8617010000001&extendNum=01"),
            None,
        )
        .await,
    );
    assert_code(
        &s.call(&app, Method::GET, &format!("{AXE}?subscriptionId={sub}"), None)
            .await,
        "1016001",
        "record",
    );
    assert_code(
        &s.call(&app, Method::DELETE, &format!("{AXE}?subscriptionId={sub}"), None)
            .await,
        "1012007",
        "record",
    );
    // The freed extension is the lowest again.
    let r = s
        .call(&app, Method::POST, AXE, Some(bind("+8613800000006")))
        .await;
    assert_eq!(r.1["extendNum"], "01");
}

fn pn_api_time(t: i64) -> String {
    pn_api::auth::format_created(pn_bindings::UnixTime(t))
        .replace('T', " ")
        .trim_end_matches('Z')
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_idle_extension() {
    let s = Server::start().await;
    let app = s.app("AXE", json!({"extensionDigits": 1})).await;
    s.numbers(&app, &[("+8617010000001", "0755")]).await;
    for i in 1..=9 {
        let r = s
            .call(
                &app,
                Method::POST,
                AXE,
                Some(json!({"bindNum": format!("+861380000000{i}"), "virtualNum": "+8617010000001"})),
            )
            .await;
        assert_eq!(r.1["extendNum"], i.to_string(), "{r:?}");
    }
    let r = s
        .call(
            &app,
            Method::POST,
            AXE,
            Some(json!({"bindNum": "+8613900000000", "virtualNum": "+8617010000001"})),
        )
        .await;
    assert_code(&r, "1020167", "extend");
    let r = s
        .call(
            &app,
            Method::POST,
            AXE,
            Some(json!({"bindNum": "+8613900000000", "areaCode": "0755"})),
        )
        .await;
    assert_code(&r, "1011002", "0755");
}
