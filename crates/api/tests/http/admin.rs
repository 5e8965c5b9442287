//! Admin API: token, apps, numbers import / status / retire.

use reqwest::Method;
use serde_json::json;

use crate::axb::AXB;
use crate::harness::{Server, assert_code, assert_ok};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_is_disabled_without_a_token() {
    let s = Server::start_without_admin().await;
    let r = s.admin(Method::GET, "/admin/v1/apps", None).await;
    assert_eq!((r.0, r.1["resultcode"].as_str()), (403, Some("1010040")), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apps_and_numbers() {
    let s = Server::start().await;
    let r = s
        .raw(
            Method::GET,
            "/admin/v1/apps",
            &[("Authorization", "Bearer wrong".into())],
            None,
        )
        .await;
    assert_eq!((r.0, r.1["resultcode"].as_str()), (401, Some("1020176")), "{r:?}");
    let r = s.raw(Method::GET, "/admin/v1/apps", &[], None).await;
    assert_eq!(r.0, 401);

    // Create: generated key and secret.
    let r = s
        .admin(
            Method::POST,
            "/admin/v1/apps",
            Some(json!({"name": "shop", "mode": "AXB", "callStatusUrl": "https://example.com/ev"})),
        )
        .await;
    assert_ok(&r);
    let key = r.1["app"]["appKey"].as_str().unwrap().to_owned();
    assert_eq!(key.len(), 32);
    assert_eq!(r.1["app"]["appSecret"].as_str().unwrap().len(), 32);
    assert_eq!(r.1["app"]["extensionDigits"], 4);
    assert_eq!(r.1["app"]["collectRepeat"], 3);
    let r = s
        .admin(
            Method::POST,
            "/admin/v1/apps",
            Some(json!({"name": "x", "mode": "AXB", "appKey": key})),
        )
        .await;
    assert_code(&r, "1016002", "exists");
    let r = s
        .admin(
            Method::POST,
            "/admin/v1/apps",
            Some(json!({"name": "x", "mode": "AXN"})),
        )
        .await;
    assert_code(&r, "1020001", "mode");
    let r = s
        .admin(
            Method::POST,
            "/admin/v1/apps",
            Some(json!({"name": "x", "mode": "AXE", "extensionDigits": 5})),
        )
        .await;
    assert_code(&r, "1020001", "extensionDigits");
    let other = s
        .app("AX", json!({"appKey": "other-app", "appSecret": "othersecret"}))
        .await;
    assert_eq!(other.key, "other-app");

    // Get / change / immutable fields.
    let r = s.admin(Method::GET, &format!("/admin/v1/apps/{key}"), None).await;
    assert_eq!(r.1["app"]["callStatusUrl"], "https://example.com/ev");
    let r = s
        .admin(
            Method::PUT,
            &format!("/admin/v1/apps/{key}"),
            Some(json!({"callStatusUrl": "", "recordEnabled": true, "name": "shop2"})),
        )
        .await;
    assert_ok(&r);
    assert!(r.1["app"]["callStatusUrl"].is_null());
    assert_eq!(r.1["app"]["recordEnabled"], true);
    let r = s
        .admin(
            Method::PUT,
            &format!("/admin/v1/apps/{key}"),
            Some(json!({"mode": "AX"})),
        )
        .await;
    assert_code(&r, "1010002", "mode");
    let r = s.admin(Method::GET, "/admin/v1/apps/nope", None).await;
    assert_code(&r, "1016001", "record");
    let r = s.admin(Method::GET, "/admin/v1/apps", None).await;
    assert_eq!(r.1["apps"].as_array().unwrap().len(), 2);

    // Import: one number belongs to another app, one is garbage; the rest go in.
    let r = s
        .admin(
            Method::POST,
            "/admin/v1/numbers",
            Some(
                json!({"appKey": "other-app", "numbers": [{"number": "+8617010000009", "areaCode": "0755"}]}),
            ),
        )
        .await;
    assert_ok(&r);
    let r = s
        .admin(
            Method::POST,
            "/admin/v1/numbers",
            Some(json!({"appKey": key, "numbers": [
        {"number": "+8617010000001", "areaCode": "0755", "province": "Guangdong"},
        {"number": "+8617010000009", "areaCode": "0755"},
        {"number": "garbage", "areaCode": "0755"},
        {"number": "17010000002", "areaCode": "20"}]})),
        )
        .await;
    assert_ok(&r);
    assert_eq!(r.1["imported"], 2);
    let results = r.1["results"].as_array().unwrap();
    assert_eq!(results[0]["resultcode"], "0");
    assert_eq!(results[1]["resultcode"], "1012010");
    assert_eq!(results[2]["resultcode"], "1020001");
    assert_eq!(results[3]["number"], "+8617010000002");
    let r = s
        .admin(Method::GET, &format!("/admin/v1/numbers?appKey={key}"), None)
        .await;
    let nums = r.1["numbers"].as_array().unwrap();
    assert_eq!(nums.len(), 2);
    assert_eq!(nums[1]["areaCode"], "020");
    assert_eq!(nums[0]["status"], "normal");
    assert_eq!(nums[0]["appKey"], key.as_str());
    assert_eq!(
        s.table
            .number(pn_numbers::normalize("+8617010000001").unwrap())
            .unwrap()
            .area_code,
        "0755"
    );

    // Status changes.
    let r = s
        .admin(
            Method::PUT,
            "/admin/v1/numbers/%2B8617010000001",
            Some(json!({"status": "frozen"})),
        )
        .await;
    assert_ok(&r);
    assert_eq!(r.1["statusCode"], "11");
    let r = s
        .admin(
            Method::PUT,
            "/admin/v1/numbers/+8617010000001",
            Some(json!({"status": "bogus"})),
        )
        .await;
    assert_code(&r, "1020001", "status");
    let r = s
        .admin(
            Method::PUT,
            "/admin/v1/numbers/+8617099999999",
            Some(json!({"status": "normal"})),
        )
        .await;
    assert_code(&r, "1012007", "record");
    assert_ok(
        &s.admin(
            Method::PUT,
            "/admin/v1/numbers/+8617010000001",
            Some(json!({"status": "normal"})),
        )
        .await,
    );

    // Retire: refused while bound, forced unbinds.
    let app = crate::harness::TestApp {
        key: key.clone(),
        secret: s
            .admin(Method::GET, &format!("/admin/v1/apps/{key}"), None)
            .await
            .1["app"]["appSecret"]
            .as_str()
            .unwrap()
            .to_owned(),
    };
    let r = s.call(&app, Method::POST, AXB, Some(json!({"relationNum": "+8617010000001", "callerNum": "+8613800000001", "calleeNum": "+8613800000002"}))).await;
    assert_ok(&r);
    let r = s
        .admin(Method::DELETE, "/admin/v1/numbers/+8617010000001", None)
        .await;
    assert_code(&r, "1012010", "force=true");
    let r = s
        .admin(
            Method::DELETE,
            "/admin/v1/numbers/+8617010000001?force=true",
            None,
        )
        .await;
    assert_ok(&r);
    assert_eq!(r.1["unbound"], 1);
    assert_eq!(s.table.len(), 0);
    assert!(
        s.table
            .number(pn_numbers::normalize("+8617010000001").unwrap())
            .is_none()
    );
    let r = s.call(&app, Method::POST, AXB, Some(json!({"relationNum": "+8617010000001", "callerNum": "+8613800000001", "calleeNum": "+8613800000002"}))).await;
    assert_code(&r, "1011001", "relationNum");
    assert_ok(
        &s.admin(Method::DELETE, "/admin/v1/numbers/+8617010000002", None)
            .await,
    );
}
