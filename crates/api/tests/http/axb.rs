//! AXB: bind, modify, query, unbind, rules, capacity, bad fields, the batch overlay, restart, expiry.

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{Server, TestApp, assert_code, assert_ok};
use pn_provision::EngineConfig;

pub const AXB: &str = "/rest/caas/relationnumber/partners/v1.0";

async fn axb_server(engine: EngineConfig) -> (Server, TestApp) {
    let s = Server::start_with(engine).await;
    let app = s.app("AXB", json!({"recordEnabled": true})).await;
    s.numbers(
        &app,
        &[
            ("+8617010000001", "0755"),
            ("+8617010000002", "0755"),
            ("+8617010000003", "020"),
        ],
    )
    .await;
    (s, app)
}

fn example() -> Value {
    json!({"relationNum":"+8617010000001","callerNum":"+8613800000001","calleeNum":"+8613800000002",
           "callDirection":0,"duration":86400,"recordFlag":"false","maxDuration":60,"userData":"ab12"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reference_example_lifecycle() {
    let (s, app) = axb_server(EngineConfig::default()).await;
    let bound = s.call(&app, Method::POST, AXB, Some(example())).await;
    assert_ok(&bound);
    let sub = bound.1["subscriptionId"].as_str().unwrap().to_owned();
    assert_eq!(sub.len(), 32);
    assert!(sub.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(bound.1["relationNum"], "+8617010000001");
    assert_eq!(s.table.len(), 1);

    let q = s
        .call(&app, Method::GET, &format!("{AXB}?subscriptionId={sub}"), None)
        .await;
    assert_ok(&q);
    let e = &q.1["relationNumList"][0];
    assert_eq!(e["callerNum"], "+8613800000001");
    assert_eq!(e["calleeNum"], "+8613800000002");
    assert_eq!(e["duration"], 86400);
    assert_eq!(e["maxDuration"], 60);
    assert_eq!(e["recordFlag"], "false");
    assert_eq!(e["userData"], "ab12");
    assert_eq!(e["callDirection"], 0);

    // Numbers in other formats are accepted and answered in +86 form; query by X with %2B.
    let q = s
        .call(
            &app,
            Method::GET,
            &format!("{AXB}?relationNum=%2B8617010000001&pageSize=10"),
            None,
        )
        .await;
    assert_ok(&q);
    assert_eq!(q.1["totalCount"], 1);
    assert_eq!(q.1["pageSize"], 10);
    let q = s
        .call(
            &app,
            Method::GET,
            &format!("{AXB}?relationNum=%2B8617010000001&callerNum=%2B8613800000001"),
            None,
        )
        .await;
    assert_eq!(q.1["relationNumList"][0]["subscriptionId"], sub.as_str());

    // Modify: new B, duration restarts now, preVoice.
    s.advance(100);
    let m = s
        .call(
            &app,
            Method::PUT,
            AXB,
            Some(
                json!({"subscriptionId": sub, "calleeNum": "+8613800000003", "duration": 600,
            "preVoice": {"callerHintTone": "please_wait.wav"}, "recordFlag": "true", "recordHintTone": "record_notice.wav"}),
            ),
        )
        .await;
    assert_ok(&m);
    let q = s
        .call(&app, Method::GET, &format!("{AXB}?subscriptionId={sub}"), None)
        .await;
    let e = &q.1["relationNumList"][0];
    assert_eq!(e["calleeNum"], "+8613800000003");
    assert_eq!(e["duration"], 600);
    assert_eq!(e["preVoice"]["callerHintTone"], "please_wait.wav");
    assert_eq!(e["recordFlag"], "true");
    assert_eq!(e["recordHintTone"], "record_notice.wav");
    assert_eq!(e["expireTime"], pn_time(s.now() + 600));

    // Unbind; then everything is gone.
    assert_ok(
        &s.call(&app, Method::DELETE, &format!("{AXB}?subscriptionId={sub}"), None)
            .await,
    );
    assert_eq!(s.table.len(), 0);
    assert_code(
        &s.call(&app, Method::GET, &format!("{AXB}?subscriptionId={sub}"), None)
            .await,
        "1016001",
        "record",
    );
    assert_code(
        &s.call(&app, Method::DELETE, &format!("{AXB}?subscriptionId={sub}"), None)
            .await,
        "1012007",
        "record",
    );
    assert_code(
        &s.call(
            &app,
            Method::DELETE,
            &format!("{AXB}?relationNum=%2B8617010000001"),
            None,
        )
        .await,
        "1011004",
        "+8617010000001",
    );
}

fn pn_time(t: i64) -> String {
    let created = pn_api::auth::format_created(pn_bindings::UnixTime(t));
    created.replace('T', " ").trim_end_matches('Z').to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unbind_by_relation_num_removes_every_pair_on_x() {
    let (s, app) = axb_server(EngineConfig::default()).await;
    for (a, b) in [
        ("+8613800000001", "+8613800000002"),
        ("+8613800000003", "+8613800000004"),
    ] {
        let body = json!({"relationNum": "+8617010000001", "callerNum": a, "calleeNum": b});
        assert_ok(&s.call(&app, Method::POST, AXB, Some(body)).await);
    }
    assert_ok(
        &s.call(
            &app,
            Method::DELETE,
            &format!("{AXB}?relationNum=%2B8617010000001"),
            None,
        )
        .await,
    );
    assert_code(
        &s.call(
            &app,
            Method::GET,
            &format!("{AXB}?relationNum=%2B8617010000001"),
            None,
        )
        .await,
        "1016001",
        "record",
    );
    assert_eq!(s.table.len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binding_rules() {
    let (s, app) = axb_server(EngineConfig {
        max_pairs_per_x: 2,
        ..EngineConfig::default()
    })
    .await;
    let bind = |x: &str, a: &str, b: &str| json!({"relationNum": x, "callerNum": a, "calleeNum": b});
    let x1 = "+8617010000001";
    assert_code(
        &s.call(
            &app,
            Method::POST,
            AXB,
            Some(bind(x1, "+8613800000001", "+8613800000001")),
        )
        .await,
        "1010002",
        "calleeNum",
    );
    assert_ok(
        &s.call(
            &app,
            Method::POST,
            AXB,
            Some(bind(x1, "+8613800000001", "+8613800000002")),
        )
        .await,
    );
    // A again on the same X, or A as someone's B (AXB + BXC): 1012010.
    assert_code(
        &s.call(
            &app,
            Method::POST,
            AXB,
            Some(bind(x1, "+8613800000001", "+8613800000009")),
        )
        .await,
        "1012010",
        "+8613800000001",
    );
    assert_code(
        &s.call(
            &app,
            Method::POST,
            AXB,
            Some(bind(x1, "+8613800000002", "+8613800000009")),
        )
        .await,
        "1012010",
        "+8613800000002",
    );
    // A fixed-line party is allowed (it just cannot call out: that is the call path's business).
    assert_ok(
        &s.call(
            &app,
            Method::POST,
            AXB,
            Some(bind(x1, "+8613800000003", "+8675582880001")),
        )
        .await,
    );
    // X full (test cap 2).
    assert_code(
        &s.call(
            &app,
            Method::POST,
            AXB,
            Some(bind(x1, "+8613800000005", "+8613800000006")),
        )
        .await,
        "1011002",
        "resources",
    );
    // Not a bindable user number.
    assert_code(
        &s.call(
            &app,
            Method::POST,
            AXB,
            Some(bind("+8617010000002", "+864008001234", "+8613800000006")),
        )
        .await,
        "1010002",
        "callerNum",
    );
    assert_code(
        &s.call(
            &app,
            Method::POST,
            AXB,
            Some(bind("+8617010000002", "+8613800000005", "12")),
        )
        .await,
        "1010002",
        "calleeNum",
    );
    // X not in the pool / malformed X.
    assert_code(
        &s.call(
            &app,
            Method::POST,
            AXB,
            Some(bind("+8617099999999", "+8613800000005", "+8613800000006")),
        )
        .await,
        "1011001",
        "relationNum",
    );
    assert_code(
        &s.call(
            &app,
            Method::POST,
            AXB,
            Some(bind("x", "+8613800000005", "+8613800000006")),
        )
        .await,
        "1011001",
        "relationNum",
    );
    // areaCode allocation: 0755 has X1 (full) and X2; 020 has X3; 0999 has none.
    let by_area = |area: &str, mode: &str| json!({"areaCode": area, "areaMatchMode": mode, "callerNum": "+8613900000001", "calleeNum": "+8613900000002"});
    let r = s.call(&app, Method::POST, AXB, Some(by_area("0755", "0"))).await;
    assert_ok(&r);
    assert_eq!(r.1["relationNum"], "+8617010000002");
    let r = s.call(&app, Method::POST, AXB, Some(by_area("0755", "0"))).await;
    assert_code(&r, "1011002", "areaCode 0755");
    let r = s.call(&app, Method::POST, AXB, Some(by_area("755", "1"))).await;
    assert_ok(&r);
    assert_eq!(r.1["relationNum"], "+8617010000003");
    assert_code(
        &s.call(&app, Method::POST, AXB, Some(by_area("0999", "0"))).await,
        "1011002",
        "0999",
    );
    // X paused → 1012102.
    let (st, v) = s
        .admin(
            Method::PUT,
            "/admin/v1/numbers/+8617010000003",
            Some(json!({"status": "paused"})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_code(
        &s.call(
            &app,
            Method::POST,
            AXB,
            Some(bind("+8617010000003", "+8613700000001", "+8613700000002")),
        )
        .await,
        "1012102",
        "abnormal",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modify_rechecks_once_per_x() {
    let (s, app) = axb_server(EngineConfig::default()).await;
    let x = "+8617010000001";
    let first = s
        .call(
            &app,
            Method::POST,
            AXB,
            Some(json!({"relationNum": x, "callerNum": "+8613800000001", "calleeNum": "+8613800000002"})),
        )
        .await;
    assert_ok(
        &s.call(
            &app,
            Method::POST,
            AXB,
            Some(json!({"relationNum": x, "callerNum": "+8613800000003", "calleeNum": "+8613800000004"})),
        )
        .await,
    );
    let sub = first.1["subscriptionId"].as_str().unwrap();
    let r = s
        .call(
            &app,
            Method::PUT,
            AXB,
            Some(json!({"subscriptionId": sub, "callerNum": "+8613800000003"})),
        )
        .await;
    assert_code(&r, "1012010", "+8613800000003");
    let r = s
        .call(
            &app,
            Method::PUT,
            AXB,
            Some(json!({"subscriptionId": sub, "callerNum": "+8613800000002"})),
        )
        .await;
    assert_code(&r, "1010002", "calleeNum");
    // Swapping A and B of the same binding is fine.
    let r = s
        .call(
            &app,
            Method::PUT,
            AXB,
            Some(
                json!({"subscriptionId": sub, "callerNum": "+8613800000002", "calleeNum": "+8613800000001"}),
            ),
        )
        .await;
    assert_ok(&r);
    let r = s
        .call(
            &app,
            Method::PUT,
            AXB,
            Some(json!({"subscriptionId": "nope", "callDirection": 1})),
        )
        .await;
    assert_code(&r, "1012007", "record");
    let r = s
        .call(
            &app,
            Method::PUT,
            AXB,
            Some(json!({"subscriptionId": sub, "lastMinVoice": "last_minute.wav"})),
        )
        .await;
    assert_code(&r, "1010002", "lastMinVoice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_fields_name_the_field_and_never_500() {
    let (s, app) = axb_server(EngineConfig::default()).await;
    let base = example();
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    let without = |k: &str| {
        let mut b = base.clone();
        b.as_object_mut().unwrap().remove(k);
        b
    };
    let cases: Vec<(Value, &str, &str)> = vec![
        (with("duration", json!("abc")), "1020001", "duration"),
        (with("duration", json!(30)), "1020001", "duration"),
        (with("duration", json!(7_776_001)), "1020001", "duration"),
        (with("duration", json!(1.5)), "1020001", "duration"),
        (with("maxDuration", json!(1441)), "1020001", "maxDuration"),
        (with("callDirection", json!(3)), "1020001", "callDirection"),
        (with("callDirection", json!("x")), "1020001", "callDirection"),
        (with("recordFlag", json!("yes")), "1020001", "recordFlag"),
        (with("privateSms", json!(5)), "1020001", "privateSms"),
        (with("userData", json!("a{b}")), "1020001", "userData"),
        (with("userData", json!("中文")), "1020001", "userData"),
        (with("userData", json!("u".repeat(257))), "1020001", "userData"),
        (
            with("callerNum", json!(13_800_000_001_u64)),
            "1020001",
            "callerNum",
        ),
        (with("callerNum", json!("1".repeat(33))), "1020001", "callerNum"),
        (with("preVoice", json!("x")), "1020001", "preVoice"),
        (
            with("preVoice", json!({"callerHintTone": 1})),
            "1020001",
            "callerHintTone",
        ),
        (with("areaMatchMode", json!("2")), "1020001", "areaMatchMode"),
        (without("callerNum"), "1020001", "callerNum"),
        (without("calleeNum"), "1020001", "calleeNum"),
        (without("relationNum"), "1020001", "relationNum"),
        (
            with("recordHintTone", json!("record_notice.wav")),
            "1010002",
            "recordHintTone",
        ),
        (
            with("lastMinVoice", json!("last_minute.wav"))
                .as_object()
                .map(|o| {
                    let mut o = o.clone();
                    o.insert("maxDuration".into(), json!(0));
                    Value::Object(o)
                })
                .unwrap(),
            "1010002",
            "lastMinVoice",
        ),
    ];
    for (body, code, field) in cases {
        let r = s.call(&app, Method::POST, AXB, Some(body.clone())).await;
        assert_code(&r, code, field);
        assert_eq!(r.0, if code == "1020001" { 400 } else { 403 }, "{body} → {r:?}");
    }
    // Malformed bodies.
    for raw in ["not json", "[]", "", "{\"relationNum\":", "null"] {
        let headers = s.sign(&app);
        let r = s.raw(Method::POST, AXB, &headers, Some(raw.to_owned())).await;
        assert_eq!(
            (r.0, r.1["resultcode"].as_str()),
            (400, Some("1020001")),
            "{raw:?} → {r:?}"
        );
    }
    // No content type at all is still parsed as JSON.
    let headers = s.sign(&app);
    let resp = s
        .client
        .post(format!("{}{AXB}", s.base))
        .header(headers[0].0, &headers[0].1)
        .header(headers[1].0, &headers[1].1)
        .body(example().to_string())
        .send()
        .await
        .unwrap();
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["resultcode"], "0", "{v}");
    // Too large.
    let headers = s.sign(&app);
    let big = json!({"userData": "x".repeat(100 * 1024)}).to_string();
    let r = s.raw(Method::POST, AXB, &headers, Some(big)).await;
    assert_eq!((r.0, r.1["resultcode"].as_str()), (413, Some("1020001")), "{r:?}");
    // Query parameter errors.
    let r = s
        .call(
            &app,
            Method::GET,
            &format!("{AXB}?relationNum=%2B8617010000001&pageIndex=abc"),
            None,
        )
        .await;
    assert_code(&r, "1020001", "pageIndex");
    let r = s.call(&app, Method::GET, AXB, None).await;
    assert_code(&r, "1020001", "relationNum");
    // Out-of-range pageSize falls back to 50, as the reference documents.
    let r = s
        .call(
            &app,
            Method::GET,
            &format!("{AXB}?relationNum=%2B8617010000001&pageSize=5"),
            None,
        )
        .await;
    assert_eq!(r.1["pageSize"], 50, "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_binds_of_one_a_on_one_x_admit_exactly_one() {
    let (s, app) = axb_server(EngineConfig::default()).await;
    let s = std::sync::Arc::new(s);
    let mut tasks = Vec::new();
    for i in 0..50 {
        let s = s.clone();
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            let body = json!({"relationNum": "+8617010000001", "callerNum": "+8613800000001", "calleeNum": format!("+86139{i:08}")});
            s.call(&app, Method::POST, AXB, Some(body)).await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        let r = t.await.unwrap();
        match r.1["resultcode"].as_str() {
            Some("0") => ok += 1,
            Some("1012010") => {}
            other => panic!("unexpected {other:?}: {r:?}"),
        }
    }
    assert_eq!(ok, 1);
    assert_eq!(s.table.len(), 1);
    let q = s
        .call(
            &app,
            Method::GET,
            &format!("{AXB}?relationNum=%2B8617010000001"),
            None,
        )
        .await;
    assert_eq!(q.1["totalCount"], 1);
    assert!(
        s.metrics
            .encode()
            .unwrap()
            .contains("pn_store_commit_batch_size_count")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_hides_sweeps_and_frees_the_party() {
    let (s, app) = axb_server(EngineConfig::default()).await;
    let body = json!({"relationNum": "+8617010000001", "callerNum": "+8613800000001", "calleeNum": "+8613800000002", "duration": 60});
    let r = s.call(&app, Method::POST, AXB, Some(body.clone())).await;
    assert_ok(&r);
    let sub = r.1["subscriptionId"].as_str().unwrap().to_owned();
    s.advance(59);
    assert_ok(
        &s.call(&app, Method::GET, &format!("{AXB}?subscriptionId={sub}"), None)
            .await,
    );
    s.advance(1);
    assert_code(
        &s.call(&app, Method::GET, &format!("{AXB}?subscriptionId={sub}"), None)
            .await,
        "1016001",
        "record",
    );
    // The same A can be bound again at once (the expired binding is purged in the same write).
    assert_ok(&s.call(&app, Method::POST, AXB, Some(body.clone())).await);
    assert_eq!(s.table.len(), 1);
    s.advance(60);
    let removed = s.engine.sweep(pn_bindings::UnixTime(s.now())).await.unwrap();
    assert_eq!(removed, 1);
    assert_eq!(s.table.len(), 0);
    assert!(
        s.metrics
            .encode()
            .unwrap()
            .contains("pn_bindings{app=\"AXB app\",mode=\"AXB\"} 0")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_reloads_everything() {
    let (s, app) = axb_server(EngineConfig::default()).await;
    let mut subs = Vec::new();
    for i in 0..5 {
        let body = json!({"relationNum": "+8617010000001", "callerNum": format!("+861380000001{i}"), "calleeNum": format!("+861390000001{i}")});
        let r = s.call(&app, Method::POST, AXB, Some(body)).await;
        assert_ok(&r);
        subs.push(r.1["subscriptionId"].as_str().unwrap().to_owned());
    }
    let s = s.restart().await;
    assert_eq!(s.loaded.bindings, 5);
    assert_eq!(s.loaded.apps, 1);
    assert_eq!(s.loaded.numbers, 3);
    assert_eq!(s.table.len(), 5);
    for sub in &subs {
        assert_ok(
            &s.call(&app, Method::GET, &format!("{AXB}?subscriptionId={sub}"), None)
                .await,
        );
    }
    // The once-per-X rule still holds after the restart, and new ids do not collide.
    let dup = json!({"relationNum": "+8617010000001", "callerNum": "+8613800000010", "calleeNum": "+8613700000000"});
    assert_code(
        &s.call(&app, Method::POST, AXB, Some(dup)).await,
        "1012010",
        "+8613800000010",
    );
    let fresh = json!({"relationNum": "+8617010000001", "callerNum": "+8613700000001", "calleeNum": "+8613700000002"});
    assert_ok(&s.call(&app, Method::POST, AXB, Some(fresh)).await);
    assert_eq!(s.table.len(), 6);
    assert!(
        s.metrics
            .encode()
            .unwrap()
            .contains("pn_bindings{app=\"AXB app\",mode=\"AXB\"} 6")
    );
}
