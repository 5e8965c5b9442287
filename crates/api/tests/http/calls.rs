//! The call-stop API (`POST /rest/httpsessions/callStop/v2.0`, reference §2.5) against a stand-in call
//! control: signed like the mode APIs, the signing app's calls only, `signal` must be `call_stop`.

use reqwest::Method;
use serde_json::json;

use crate::harness::{Server, assert_code, assert_ok};

const PATH: &str = "/rest/httpsessions/callStop/v2.0";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stops_only_the_signing_apps_calls() {
    let s = Server::start().await;
    let mine = s.app("AXYB", json!({})).await;
    let other = s.app("AXB", json!({})).await;
    let mine_id = s.engine.app_by_key(&mine.key).unwrap().id;
    let other_id = s.engine.app_by_key(&other.key).unwrap().id;
    s.calls.live.lock().unwrap().extend([
        ("0_11_20231114221320@pn".to_owned(), mine_id),
        ("1_12_20231114221320@pn".to_owned(), other_id),
    ]);
    let stop = |sid: &str, signal: &str| json!({"sessionid": sid, "signal": signal});

    // Another app's call: refused as unknown, left alone.
    let r = s
        .call(
            &mine,
            Method::POST,
            PATH,
            Some(stop("1_12_20231114221320@pn", "call_stop")),
        )
        .await;
    assert_eq!((r.0, r.1["resultcode"].as_str()), (200, Some("1020152")), "{r:?}");
    assert_eq!(s.calls.live.lock().unwrap().len(), 2);
    // Its own: stopped (any mode may stop its calls).
    let r = s
        .call(
            &other,
            Method::POST,
            PATH,
            Some(stop("1_12_20231114221320@pn", "call_stop")),
        )
        .await;
    assert_ok(&r);
    let r = s
        .call(
            &mine,
            Method::POST,
            PATH,
            Some(stop("0_11_20231114221320@pn", "call_stop")),
        )
        .await;
    assert_ok(&r);
    assert!(s.calls.live.lock().unwrap().is_empty());
    // Finished or unknown: 1020152.
    let r = s
        .call(
            &mine,
            Method::POST,
            PATH,
            Some(stop("0_11_20231114221320@pn", "call_stop")),
        )
        .await;
    assert_eq!(r.1["resultcode"], "1020152", "{r:?}");
    assert_eq!(
        *s.calls.asked.lock().unwrap(),
        [
            (mine_id, "1_12_20231114221320@pn".to_owned()),
            (other_id, "1_12_20231114221320@pn".to_owned()),
            (mine_id, "0_11_20231114221320@pn".to_owned()),
            (mine_id, "0_11_20231114221320@pn".to_owned()),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parameters_and_signature_are_checked() {
    let s = Server::start().await;
    let app = s.app("AXB", json!({})).await;
    let id = s.engine.app_by_key(&app.key).unwrap().id;
    s.calls
        .live
        .lock()
        .unwrap()
        .push(("0_1_20231114221320@pn".to_owned(), id));
    let r = s
        .call(
            &app,
            Method::POST,
            PATH,
            Some(json!({"sessionid": "0_1_20231114221320@pn", "signal": "hangup"})),
        )
        .await;
    assert_code(&r, "1020001", "signal");
    let r = s
        .call(&app, Method::POST, PATH, Some(json!({"signal": "call_stop"})))
        .await;
    assert_code(&r, "1020001", "sessionid");
    let r = s
        .call(
            &app,
            Method::POST,
            PATH,
            Some(json!({"sessionid": "0_1_20231114221320@pn"})),
        )
        .await;
    assert_code(&r, "1020001", "signal");
    // Unsigned: refused before the call control is asked.
    let r = s
        .raw(
            Method::POST,
            PATH,
            &[],
            Some(json!({"sessionid": "0_1_20231114221320@pn", "signal": "call_stop"}).to_string()),
        )
        .await;
    assert_eq!(r.1["resultcode"], "1023006", "{r:?}");
    assert!(s.calls.asked.lock().unwrap().is_empty());
    assert_eq!(s.calls.live.lock().unwrap().len(), 1);
    // GET is not a method of this path.
    let r = s.call(&app, Method::GET, PATH, None).await;
    assert_eq!(r.0, 405);
}
