//! Number format: every number field of the PrivateNumber API (bodies and query strings, all four modes)
//! refuses a number that is not in global format (`+` and the country code) with 1010002 naming the field,
//! unless the app allows national numbers (`allowNationalNumbers`, admin API); then `138…`/`86138…` are
//! accepted and stored as `+86…`.

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{Server, TestApp, assert_code, assert_ok};

const AXB: &str = "/rest/caas/relationnumber/partners/v1.0";
const AX: &str = "/rest/provision/caas/privatenumber/v1.0";
const CALLEE: &str = "/rest/caas/privatenumber/calleenumber/v1.0";
const AXE: &str = "/rest/caas/extendnumber/v1.0";
const AXYB: &str = "/rest/omp/xyrelationnumber/v1.0";

/// Asserts a refusal for a number not in global format: 1010002, HTTP 403 (the reference's status for
/// 1010002), and the description names `field`.
#[track_caller]
fn assert_not_global(resp: &(u16, Value), field: &str) {
    assert_code(resp, "1010002", field);
    assert_eq!(resp.0, 403, "{resp:?}");
    assert!(
        resp.1["resultdesc"].as_str().unwrap().contains("global format"),
        "{resp:?}"
    );
}

/// Sends each `(method, path, body, field)` request as `app` and asserts it is refused for `field`.
async fn refused_each(s: &Server, app: &TestApp, cases: Vec<(Method, String, Option<Value>, &str)>) {
    for (method, path, body, field) in cases {
        let r = s.call(app, method.clone(), &path, body.clone()).await;
        assert!(
            r.1["resultcode"] == "1010002",
            "{method} {path} {body:?} should be refused for {field}: {r:?}"
        );
        assert_not_global(&r, field);
    }
}

/// Sets the app's `allowNationalNumbers` through the admin API and checks the answer shows it.
async fn allow_national(s: &Server, app: &TestApp, on: bool) {
    let r = s
        .admin(
            Method::PUT,
            &format!("/admin/v1/apps/{}", app.key),
            Some(json!({"allowNationalNumbers": on})),
        )
        .await;
    assert_ok(&r);
    assert_eq!(r.1["app"]["allowNationalNumbers"], on, "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axb_numbers_must_be_global_unless_the_app_allows_national() {
    let s = Server::start().await;
    let app = s.app("AXB", json!({})).await;
    s.numbers(&app, &[("+8617010000001", "0755")]).await;
    // The option defaults to false and is shown by the admin API.
    let r = s
        .admin(Method::GET, &format!("/admin/v1/apps/{}", app.key), None)
        .await;
    assert_eq!(r.1["app"]["allowNationalNumbers"], false, "{r:?}");

    let bind = |x: &str, a: &str, b: &str| json!({"relationNum": x, "callerNum": a, "calleeNum": b});
    for (body, field) in [
        (
            bind("+8617010000001", "13800000001", "+8613800000002"),
            "callerNum",
        ),
        (
            bind("+8617010000001", "+8613800000001", "8613800000002"),
            "calleeNum",
        ),
        (
            bind("17010000001", "+8613800000001", "+8613800000002"),
            "relationNum",
        ),
    ] {
        assert_not_global(&s.call(&app, Method::POST, AXB, Some(body)).await, field);
    }
    let r = s
        .call(
            &app,
            Method::POST,
            AXB,
            Some(bind("+8617010000001", "+8613800000001", "+8613800000002")),
        )
        .await;
    assert_ok(&r);
    let sub = r.1["subscriptionId"].as_str().unwrap().to_owned();
    for (body, field) in [
        (
            json!({"subscriptionId": sub, "callerNum": "13800000003"}),
            "callerNum",
        ),
        (
            json!({"subscriptionId": sub, "calleeNum": "013800000003"}),
            "calleeNum",
        ),
    ] {
        assert_not_global(&s.call(&app, Method::PUT, AXB, Some(body)).await, field);
    }
    for (query, field) in [
        ("relationNum=8617010000001", "relationNum"),
        ("relationNum=%2B8617010000001&callerNum=13800000001", "callerNum"),
        ("calleeNum=13800000002", "calleeNum"),
    ] {
        let r = s.call(&app, Method::GET, &format!("{AXB}?{query}"), None).await;
        assert_not_global(&r, field);
    }
    let r = s
        .call(
            &app,
            Method::DELETE,
            &format!("{AXB}?relationNum=17010000001"),
            None,
        )
        .await;
    assert_not_global(&r, "relationNum");

    // Allowed: the same national forms are accepted and stored as +86.
    allow_national(&s, &app, true).await;
    let r = s
        .call(
            &app,
            Method::GET,
            &format!("{AXB}?relationNum=17010000001&callerNum=13800000001"),
            None,
        )
        .await;
    assert_ok(&r);
    assert_eq!(r.1["relationNumList"][0]["subscriptionId"], sub.as_str());
    let r = s
        .call(
            &app,
            Method::PUT,
            AXB,
            Some(json!({"subscriptionId": sub, "calleeNum": "8613800000004"})),
        )
        .await;
    assert_ok(&r);
    let r = s
        .call(&app, Method::GET, &format!("{AXB}?subscriptionId={sub}"), None)
        .await;
    assert_eq!(r.1["relationNumList"][0]["calleeNum"], "+8613800000004", "{r:?}");
    let r = s
        .call(
            &app,
            Method::DELETE,
            &format!("{AXB}?relationNum=17010000001"),
            None,
        )
        .await;
    assert_ok(&r);
    let r = s
        .call(
            &app,
            Method::POST,
            AXB,
            Some(bind("17010000001", "13800000005", "8613800000006")),
        )
        .await;
    assert_ok(&r);
    assert_eq!(r.1["relationNum"], "+8617010000001");
    assert_eq!(r.1["callerNum"], "+8613800000005");
    assert_eq!(r.1["calleeNum"], "+8613800000006");

    // Switched off again: refused again (the option is read per request).
    allow_national(&s, &app, false).await;
    let r = s
        .call(
            &app,
            Method::POST,
            AXB,
            Some(bind("+8617010000001", "13800000007", "+8613800000008")),
        )
        .await;
    assert_not_global(&r, "callerNum");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ax_axe_and_axyb_number_fields_must_be_global() {
    let s = Server::start().await;
    let ax = s.app("AX", json!({})).await;
    s.numbers(&ax, &[("+8617020000001", "0755")]).await;
    let axe = s.app("AXE", json!({"extensionDigits": 2})).await;
    s.numbers(&axe, &[("+8617030000001", "0755")]).await;
    let axyb = s.app("AXYB", json!({"allowNationalNumbers": false})).await;
    s.numbers(&axyb, &[("+8617040000001", "0755"), ("+8617040000002", "0755")])
        .await;

    // AX: bind, temp callee, query, unbind.
    let ax_binding = |a: &str, x: &str| Some(json!({"origNum": a, "privateNum": x}));
    refused_each(
        &s,
        &ax,
        vec![
            (
                Method::POST,
                AX.into(),
                ax_binding("13800000011", "+8617020000001"),
                "origNum",
            ),
            (
                Method::POST,
                AX.into(),
                ax_binding("+8613800000011", "17020000001"),
                "privateNum",
            ),
        ],
    )
    .await;
    let r = s
        .call(
            &ax,
            Method::POST,
            AX,
            ax_binding("+8613800000011", "+8617020000001"),
        )
        .await;
    assert_ok(&r);
    let callee = |x: &str, b: &str| Some(json!({"privateNum": x, "calleeNum": b}));
    refused_each(
        &s,
        &ax,
        vec![
            (
                Method::PUT,
                CALLEE.into(),
                callee("+8617020000001", "13900000011"),
                "calleeNum",
            ),
            (
                Method::PUT,
                CALLEE.into(),
                callee("8617020000001", "+8613900000011"),
                "privateNum",
            ),
            (Method::GET, format!("{AX}?origNum=13800000011"), None, "origNum"),
            (
                Method::GET,
                format!("{AX}?privateNum=17020000001"),
                None,
                "privateNum",
            ),
            (
                Method::DELETE,
                format!("{AX}?privateNum=17020000001"),
                None,
                "privateNum",
            ),
            (
                Method::DELETE,
                format!("{AX}?privateNum=%2B8617020000001&origNum=13800000011"),
                None,
                "origNum",
            ),
        ],
    )
    .await;

    // AXE: bind (bindNum, virtualNum, callbackNum), query and unbind by virtualNum.
    let axe_bind = |a: &str, x: &str| json!({"bindNum": a, "virtualNum": x});
    let mut with_callback = axe_bind("+8613800000021", "+8617030000001");
    with_callback["callbackNum"] = json!("13900000021");
    refused_each(
        &s,
        &axe,
        vec![
            (
                Method::POST,
                AXE.into(),
                Some(axe_bind("13800000021", "+8617030000001")),
                "bindNum",
            ),
            (
                Method::POST,
                AXE.into(),
                Some(axe_bind("+8613800000021", "17030000001")),
                "virtualNum",
            ),
            (Method::POST, AXE.into(), Some(with_callback), "callbackNum"),
            (
                Method::GET,
                format!("{AXE}?virtualNum=17030000001"),
                None,
                "virtualNum",
            ),
            (
                Method::DELETE,
                format!("{AXE}?virtualNum=17030000001&extendNum=01"),
                None,
                "virtualNum",
            ),
        ],
    )
    .await;

    // AXYB: bind (origNum, calleeNum, relationNum), query and unbind.
    let path = format!("{AXYB}?app_key={}", axyb.key);
    for (body, field) in [
        (
            json!({"origNum": "13800000031", "relationNum": "+8617040000001"}),
            "origNum",
        ),
        (
            json!({"origNum": "+8613800000031", "relationNum": "17040000001"}),
            "relationNum",
        ),
        (
            json!({"origNum": "+8613800000031", "relationNum": "+8617040000001", "calleeNum": "13900000031"}),
            "calleeNum",
        ),
    ] {
        assert_not_global(&s.call(&axyb, Method::POST, &path, Some(body)).await, field);
    }
    let r = s
        .call(
            &axyb,
            Method::GET,
            &format!("{path}&relationNum=17040000001"),
            None,
        )
        .await;
    assert_not_global(&r, "relationNum");
    for (query, field) in [
        ("relationNum=17040000001", "relationNum"),
        ("relationNum=%2B8617040000001&bNum=13900000031", "bNum"),
        ("relationNum=%2B8617040000001&yNum=17040000002", "yNum"),
    ] {
        let r = s
            .call(&axyb, Method::DELETE, &format!("{path}&{query}"), None)
            .await;
        assert_not_global(&r, field);
    }

    // Allowed per app: AX, AXE and AXYB binds with national numbers succeed and answer +86.
    allow_national(&s, &ax, true).await;
    let r = s
        .call(
            &ax,
            Method::PUT,
            CALLEE,
            Some(json!({"privateNum": "17020000001", "calleeNum": "13900000011"})),
        )
        .await;
    assert_ok(&r);
    let r = s
        .call(&ax, Method::GET, &format!("{AX}?origNum=13800000011"), None)
        .await;
    assert_ok(&r);
    allow_national(&s, &axe, true).await;
    let r = s
        .call(
            &axe,
            Method::POST,
            AXE,
            Some(axe_bind("13800000021", "17030000001")),
        )
        .await;
    assert_ok(&r);
    assert_eq!(r.1["bindNum"], "+8613800000021");
    allow_national(&s, &axyb, true).await;
    let r = s
        .call(
            &axyb,
            Method::POST,
            &path,
            Some(
                json!({"origNum": "8613800000031", "relationNum": "17040000001", "calleeNum": "13900000031"}),
            ),
        )
        .await;
    assert_ok(&r);
    assert_eq!(r.1["relationNumber"], "+8617040000001");
}
