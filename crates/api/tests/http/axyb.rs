//! AXYB: the A–X binding, Y–B relations with Y allocation, query, unbind of a relation and of the whole.

use reqwest::Method;
use serde_json::json;

use crate::harness::{Server, assert_code, assert_ok};

const AXYB: &str = "/rest/omp/xyrelationnumber/v1.0";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axyb_lifecycle() {
    let s = Server::start().await;
    let app = s.app("AXYB", json!({})).await;
    s.numbers(
        &app,
        &[
            ("+8617010000001", "0755"),
            ("+8617010000002", "0755"),
            ("+8617010000003", "0755"),
        ],
    )
    .await;
    let path = format!("{AXYB}?app_key={}", app.key);

    let r = s.call(&app, Method::POST, &path, Some(json!({"origNum": "+8613800000001", "relationNum": "+8617010000001",
        "duration": 3600, "ybDuration": 600, "callDirection": 0, "preVoiceX": "please_wait.wav", "calleeNum": "+8613900000001"}))).await;
    assert_ok(&r);
    assert_eq!(r.1["relationNumber"], "+8617010000001");
    let sub = r.1["subscriptionId"].as_str().unwrap().to_owned();
    let bind1 = r.1["bindId"].as_str().unwrap().to_owned();
    assert_eq!(r.1["numY"], "+8617010000002");

    // Second step: another B gets a Y not yet used for this A.
    let r = s
        .call(
            &app,
            Method::POST,
            &path,
            Some(json!({"subscriptionId": sub, "calleeNum": "+8613900000002"})),
        )
        .await;
    assert_ok(&r);
    assert_eq!(r.1["numY"], "+8617010000003");
    assert_eq!(r.1["subscriptionId"], sub.as_str());
    // No Y left for this A.
    let r = s
        .call(
            &app,
            Method::POST,
            &path,
            Some(json!({"subscriptionId": sub, "calleeNum": "+8613900000003"})),
        )
        .await;
    assert_code(&r, "1011002", "Y");
    let r = s
        .call(
            &app,
            Method::POST,
            &path,
            Some(json!({"subscriptionId": sub, "calleeNum": "+8613900000001"})),
        )
        .await;
    assert_code(&r, "1012010", "+8613900000001");
    let r = s
        .call(
            &app,
            Method::POST,
            &path,
            Some(json!({"subscriptionId": "nope", "calleeNum": "+8613900000004"})),
        )
        .await;
    assert_code(&r, "1012007", "record");

    // Rules.
    let r = s
        .call(
            &app,
            Method::POST,
            &path,
            Some(json!({"origNum": "+8613800000002", "relationNum": "+8617010000001"})),
        )
        .await;
    assert_code(&r, "1011005", "allocated");
    let r = s.call(&app, Method::POST, &path, Some(json!({"origNum": "+8613800000002", "relationNum": "+8617010000002", "duration": 600, "ybDuration": 700}))).await;
    assert_code(&r, "1010002", "ybDuration");
    let r = s
        .call(
            &app,
            Method::POST,
            &path,
            Some(json!({"origNum": "+8613800000002", "relationNum": "+8617010000002", "duration": 59})),
        )
        .await;
    assert_code(&r, "1020001", "duration");
    let r = s
        .call(
            &app,
            Method::POST,
            &format!("{AXYB}?app_key=someoneelse"),
            Some(json!({"origNum": "+8613800000002", "areaCode": "0755"})),
        )
        .await;
    assert_code(&r, "1010003", "app_key");

    // Query by X and by subscriptionId.
    let q = s
        .call(
            &app,
            Method::GET,
            &format!("{path}&relationNum=%2B8617010000001"),
            None,
        )
        .await;
    assert_ok(&q);
    let list = q.1["xyRelationNumList"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    let first = &list[0];
    assert_eq!(first["bindId"], bind1.as_str());
    assert_eq!(first["numA"], "+8613800000001");
    assert_eq!(first["numX"], "+8617010000001");
    assert_eq!(first["numY"], "+8617010000002");
    assert_eq!(first["numB"], "+8613900000001");
    assert_eq!(first["duration"], "3600");
    assert_eq!(first["ybDuration"], "600");
    assert_eq!(first["preVoiceX"], "please_wait.wav");
    assert_eq!(first["recordFlag"], "false");
    assert_eq!(first["subscribeTime"], "2023-11-14 22:13:20");
    let q = s
        .call(&app, Method::GET, &format!("{AXYB}?subscriptionId={bind1}"), None)
        .await;
    assert_eq!(q.1["xyRelationNumList"].as_array().unwrap().len(), 1);

    // Relations expire after ybDuration, the A–X part stays.
    s.advance(601);
    let q = s
        .call(&app, Method::GET, &format!("{AXYB}?subscriptionId={sub}"), None)
        .await;
    assert_ok(&q);
    assert_eq!(q.1["xyRelationNumList"].as_array().unwrap().len(), 1);
    assert!(q.1["xyRelationNumList"][0].get("numY").is_none());
    let r = s
        .call(
            &app,
            Method::POST,
            &path,
            Some(json!({"subscriptionId": sub, "calleeNum": "+8613900000005"})),
        )
        .await;
    assert_ok(&r);
    let rel = r.1["bindId"].as_str().unwrap().to_owned();

    // Unbind one relation, then the whole binding.
    assert_ok(
        &s.call(
            &app,
            Method::DELETE,
            &format!("{path}&subscriptionId={rel}"),
            None,
        )
        .await,
    );
    assert_ok(
        &s.call(&app, Method::GET, &format!("{AXYB}?subscriptionId={sub}"), None)
            .await,
    );
    let r = s
        .call(
            &app,
            Method::POST,
            &path,
            Some(json!({"subscriptionId": sub, "calleeNum": "+8613900000006"})),
        )
        .await;
    assert_ok(&r);
    assert_ok(
        &s.call(
            &app,
            Method::DELETE,
            &format!("{AXYB}?relationNum=%2B8617010000001"),
            None,
        )
        .await,
    );
    assert_code(
        &s.call(&app, Method::GET, &format!("{AXYB}?subscriptionId={sub}"), None)
            .await,
        "1016001",
        "record",
    );
    assert_code(
        &s.call(
            &app,
            Method::DELETE,
            &format!("{AXYB}?subscriptionId={sub}"),
            None,
        )
        .await,
        "1012007",
        "record",
    );
    assert_code(
        &s.call(
            &app,
            Method::DELETE,
            &format!("{AXYB}?relationNum=%2B8617010000001"),
            None,
        )
        .await,
        "1011004",
        "+8617010000001",
    );
    // The sweep clears the expired relations left in the store; the table ends empty.
    s.engine.sweep(pn_bindings::UnixTime(s.now())).await.unwrap();
    assert_eq!(s.table.len(), 0);
}

/// The number of live Y–B relations `GET ?subscriptionId=` lists under the A–X binding `sub`.
async fn relation_count(s: &Server, app: &crate::harness::TestApp, sub: &str) -> usize {
    let q = s
        .call(app, Method::GET, &format!("{AXYB}?subscriptionId={sub}"), None)
        .await;
    assert_ok(&q);
    q.1["xyRelationNumList"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e.get("numB").is_some())
        .count()
}

/// Y–B unbind (issue 8 item 4): `bNum`/`numB`, `yNum`/`numY` or an `origNum` naming a B release only that
/// relation; the A–X part stays; a selector that matches nothing is 1012007 and removes nothing; the second
/// step takes B as `origNum`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axyb_unbind_one_relation() {
    let s = Server::start().await;
    let app = s.app("AXYB", json!({})).await;
    let pool: Vec<(String, &str)> = (1..=5).map(|i| (format!("+86170100000{i:02}"), "0755")).collect();
    let pool: Vec<(&str, &str)> = pool.iter().map(|(n, a)| (n.as_str(), *a)).collect();
    s.numbers(&app, &pool).await;
    let path = format!("{AXYB}?app_key={}", app.key);
    let a = "+8613800000001";
    let r = s
        .call(
            &app,
            Method::POST,
            &path,
            Some(json!({"origNum": a, "relationNum": "+8617010000001"})),
        )
        .await;
    assert_ok(&r);
    let sub = r.1["subscriptionId"].as_str().unwrap().to_owned();
    // Second step with B as origNum, as calleeNum, and with both (origNum = A is consistent).
    let mut ys = Vec::new();
    for body in [
        json!({"subscriptionId": sub, "origNum": "+8613900000001"}),
        json!({"subscriptionId": sub, "calleeNum": "+8613900000002"}),
        json!({"subscriptionId": sub, "origNum": a, "calleeNum": "+8613900000003"}),
        json!({"subscriptionId": sub, "origNum": "+8613900000004", "numB": "+8613900000004"}),
    ] {
        let r = s.call(&app, Method::POST, &path, Some(body)).await;
        assert_ok(&r);
        ys.push(r.1["numY"].as_str().unwrap().to_owned());
    }
    // origNum naming neither A nor the B is refused, nothing is created.
    let r = s
        .call(
            &app,
            Method::POST,
            &path,
            Some(json!({"subscriptionId": sub, "origNum": "+8613700000009", "calleeNum": "+8613900000005"})),
        )
        .await;
    assert_code(&r, "1010002", "origNum");
    // Neither B form: 1020001.
    let r = s
        .call(&app, Method::POST, &path, Some(json!({"subscriptionId": sub})))
        .await;
    assert_code(&r, "1020001", "calleeNum");
    assert_eq!(relation_count(&s, &app, &sub).await, 4);

    let del = |q: String| {
        let s = &s;
        let app = &app;
        let path = &path;
        async move { s.call(app, Method::DELETE, &format!("{path}&{q}"), None).await }
    };
    // Selectors that match nothing: 1012007, nothing removed.
    for q in [
        format!("subscriptionId={sub}&bNum=%2B8613900000009"),
        format!("subscriptionId={sub}&yNum=%2B8617010000001"),
        // B and Y of two different relations.
        format!(
            "subscriptionId={sub}&bNum=%2B8613900000001&yNum={}",
            ys[1].replace('+', "%2B")
        ),
        // origNum (a B) disagreeing with bNum.
        format!("subscriptionId={sub}&bNum=%2B8613900000001&origNum=%2B8613900000002"),
    ] {
        assert_code(&del(q).await, "1012007", "record");
    }
    assert_eq!(relation_count(&s, &app, &sub).await, 4);
    // Unparsable numbers are parameter errors.
    assert_code(
        &del(format!("subscriptionId={sub}&bNum=abc")).await,
        "1020001",
        "bNum",
    );

    // bNum, then numY, then origNum naming a B, then relationNum + numB: one relation each time.
    assert_ok(&del(format!("subscriptionId={sub}&bNum=%2B8613900000001")).await);
    assert_eq!(relation_count(&s, &app, &sub).await, 3);
    assert_ok(&del(format!("subscriptionId={sub}&numY={}", ys[1].replace('+', "%2B"))).await);
    assert_eq!(relation_count(&s, &app, &sub).await, 2);
    assert_ok(&del(format!("subscriptionId={sub}&origNum=%2B8613900000003")).await);
    assert_eq!(relation_count(&s, &app, &sub).await, 1);
    assert_ok(&del("relationNum=%2B8617010000001&numB=%2B8613900000004".to_owned()).await);
    assert_eq!(relation_count(&s, &app, &sub).await, 0);
    // The A–X part is still bound; the Ys are free again for this A.
    let r = s
        .call(
            &app,
            Method::POST,
            &path,
            Some(json!({"subscriptionId": sub, "calleeNum": "+8613900000001"})),
        )
        .await;
    assert_ok(&r);
    assert_eq!(r.1["numY"].as_str(), Some(ys[0].as_str()));
    let rel = r.1["bindId"].as_str().unwrap().to_owned();
    // A relation's own subscriptionId with a bNum of another B: 1012007; with its own B: released.
    assert_code(
        &del(format!("subscriptionId={rel}&bNum=%2B8613900000002")).await,
        "1012007",
        "record",
    );
    assert_ok(&del(format!("subscriptionId={rel}&bNum=%2B8613900000001")).await);
    // origNum = A with subscriptionId: the whole binding, as without it.
    assert_ok(&del(format!("subscriptionId={sub}&origNum=%2B8613800000001")).await);
    assert_code(
        &s.call(&app, Method::GET, &format!("{AXYB}?subscriptionId={sub}"), None)
            .await,
        "1016001",
        "record",
    );
    assert_eq!(s.table.len(), 0);
}
