//! AXYB Y–B unbind through the real binary (issue 8 item 4): `DELETE …?subscriptionId=S&bNum=B` (or
//! `&yNum=Y`) releases only that B's relation. The A–X binding and the other relations stay routable, the
//! released Y goes back to the pool, and the durable store agrees with the routing table after a `kill -9`
//! restart. The second step also takes B as `origNum`, as the reference service names it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test: failing loudly is the point
#![allow(clippy::similar_names)] // caller/called/callee are the domain's names

use pn_e2e::Switch;
use pn_e2e::sipp::{AXYB_PATH, ok};
use reqwest::Method;
use serde_json::{Value, json};

const A: &str = "+8613800000001";
const B1: &str = "+8613900000001";
const B2: &str = "+8613900000002";
const B3: &str = "+8613900000003";
const X: &str = "+8617000000101";
const Y1: &str = "+8617000000102";
const Y2: &str = "+8617000000103";

/// Asserts the route trace connects `caller` → `called` to `callee` showing `display`.
fn connects(switch: &Switch, caller: &str, called: &str, callee: &str, display: &str) {
    let t = switch.route(caller, called);
    assert_eq!(
        (
            t["decision"].as_str(),
            t["callee"].as_str(),
            t["display"].as_str()
        ),
        (Some("connect"), Some(callee), Some(display)),
        "{caller} → {called}: {t}"
    );
}

/// Asserts the route trace refuses `caller` → `called` with `state_code`.
fn refused(switch: &Switch, caller: &str, called: &str, state_code: u64) {
    let t = switch.route(caller, called);
    assert_eq!(
        (t["decision"].as_str(), t["stateCode"].as_u64()),
        (Some("reject"), Some(state_code)),
        "{caller} → {called}: {t}"
    );
}

/// The `(numY, numB)` of every entry `GET ?subscriptionId=` lists (absent fields as "").
fn relations(switch: &Switch, app: &(String, String), sub: &str) -> Vec<(String, String)> {
    let path = format!("{AXYB_PATH}?app_key={}&subscriptionId={sub}", app.0);
    let r = switch.signed(Method::GET, &path, app, None);
    let list = ok(&r)["xyRelationNumList"].as_array().unwrap().clone();
    list.iter()
        .map(|e: &Value| {
            let field = |k: &str| e[k].as_str().unwrap_or_default().to_owned();
            assert_eq!(e["numA"], A, "{e}");
            assert_eq!(e["numX"], X, "{e}");
            (field("numY"), field("numB"))
        })
        .collect()
}

/// The routes of the state "A–X with B2 on Y2 and B3 on Y1 (which B1 had)".
fn assert_b1_released(switch: &Switch) {
    refused(switch, B1, X, 8030);
    connects(switch, B2, X, A, Y2);
    connects(switch, A, Y2, B2, X);
    connects(switch, B3, X, A, Y1);
    connects(switch, A, Y1, B3, X);
}

#[test]
fn yb_unbind_releases_only_that_relation() {
    let dir = tempfile::tempdir().unwrap();
    let mut switch = Switch::start(dir.path());
    let app = switch.create_app("axyb-unbind", "AXYB");
    switch.import_numbers(&app.0, "0755", &[X.to_owned(), Y1.to_owned(), Y2.to_owned()]);
    let path = format!("{AXYB_PATH}?app_key={}", app.0);

    // A–X with B1 (first step), then B2 (second step by calleeNum).
    let r = switch.signed(
        Method::POST,
        &path,
        &app,
        Some(&json!({"origNum": A, "relationNum": X, "calleeNum": B1})),
    );
    let sub = ok(&r)["subscriptionId"].as_str().unwrap().to_owned();
    assert_eq!(r.1["numY"], Y1, "{}", r.1);
    let r = switch.signed(
        Method::POST,
        &path,
        &app,
        Some(&json!({"subscriptionId": sub, "calleeNum": B2})),
    );
    assert_eq!(ok(&r)["numY"], Y2, "{}", r.1);
    connects(&switch, B1, X, A, Y1);
    connects(&switch, A, Y1, B1, X);
    connects(&switch, B2, X, A, Y2);

    // Release B1's relation only.
    let r = switch.signed(
        Method::DELETE,
        &format!("{path}&subscriptionId={sub}&bNum={}", B1.replace('+', "%2B")),
        &app,
        None,
    );
    ok(&r);
    refused(&switch, B1, X, 8030);
    refused(&switch, A, Y1, 8030);
    connects(&switch, B2, X, A, Y2);
    connects(&switch, A, Y2, B2, X);
    // A dialling its own X still finds its A–X binding (8032, not "no binding").
    refused(&switch, A, X, 8032);
    assert_eq!(
        relations(&switch, &app, &sub),
        vec![(Y2.to_owned(), B2.to_owned())]
    );
    // Releasing it again: nothing matches.
    let r = switch.signed(
        Method::DELETE,
        &format!("{path}&subscriptionId={sub}&bNum={}", B1.replace('+', "%2B")),
        &app,
        None,
    );
    assert_eq!(r.1["resultcode"], "1012007", "{}", r.1);

    // Y1 is back in the pool: the only Y left for A, B3 gets it. B3 is given as origNum (with subscriptionId),
    // as the reference service names it.
    let r = switch.signed(
        Method::POST,
        &path,
        &app,
        Some(&json!({"subscriptionId": sub, "origNum": B3})),
    );
    assert_eq!(
        (ok(&r)["numY"].as_str(), r.1["numB"].as_str()),
        (Some(Y1), Some(B3)),
        "{}",
        r.1
    );
    assert_b1_released(&switch);

    // The durable store says the same as the table: after kill -9 the reloaded table routes identically.
    switch.kill9();
    drop(switch);
    let switch = Switch::start(dir.path());
    assert_b1_released(&switch);
    let mut listed = relations(&switch, &app, &sub);
    listed.sort();
    assert_eq!(
        listed,
        vec![(Y1.to_owned(), B3.to_owned()), (Y2.to_owned(), B2.to_owned())]
    );

    // By Y (yNum): only B2's relation goes; B3 and the A–X part stay.
    let r = switch.signed(
        Method::DELETE,
        &format!("{path}&subscriptionId={sub}&yNum={}", Y2.replace('+', "%2B")),
        &app,
        None,
    );
    ok(&r);
    refused(&switch, B2, X, 8030);
    refused(&switch, A, Y2, 8030);
    connects(&switch, B3, X, A, Y1);
    assert_eq!(
        relations(&switch, &app, &sub),
        vec![(Y1.to_owned(), B3.to_owned())]
    );

    // Without bNum/yNum the whole binding goes, as before.
    ok(&switch.signed(
        Method::DELETE,
        &format!("{path}&subscriptionId={sub}"),
        &app,
        None,
    ));
    refused(&switch, B3, X, 8030);
    refused(&switch, A, X, 8030);
}
