//! Every mode through the real binary: bind, query, modify, unbind for AX (with a temporary callee), AXE and
//! AXYB, with the route trace showing what the call path would do; and the README's demo command.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test: failing loudly is the point
#![allow(clippy::many_single_char_names)] // a, b, c, x, y are the reference's names for the parties

const AX: &str = "/rest/provision/caas/privatenumber/v1.0";
const AXE: &str = "/rest/caas/extendnumber/v1.0";
const AXYB: &str = "/rest/omp/xyrelationnumber/v1.0";

use std::process::Command;

use pn_e2e::{Switch, mobile, pnswitch_bin};
use reqwest::Method;
use serde_json::{Value, json};

fn ok(v: &(u16, Value)) -> &Value {
    assert_eq!((v.0, v.1["resultcode"].as_str()), (200, Some("0")), "{}", v.1);
    &v.1
}

fn trace(switch: &Switch, from: &str, to: &str, extension: Option<&str>) -> Value {
    let ext = extension.map(|e| format!("&extension={e}")).unwrap_or_default();
    let path = format!(
        "/admin/v1/route?caller={}&called={}{ext}",
        from.replace('+', "%2B"),
        to.replace('+', "%2B")
    );
    let (status, v) = switch.admin(Method::GET, &path, None);
    assert_eq!(status, 200, "{v}");
    v
}

#[test]
fn ax_round_trip_and_routes() {
    let dir = tempfile::tempdir().unwrap();
    let switch = Switch::start(dir.path());
    // AX: bind, temporary callee, route A→X to the callee, modify, unbind.
    let ax = switch.create_app("ax", "AX");
    switch.import_numbers(&ax.0, "0755", &["+8617100000001".to_owned()]);
    let (a, c) = (mobile(38, 11), mobile(37, 12));
    let bound = switch.signed(
        Method::POST,
        AX,
        &ax,
        Some(&json!({"origNum": a, "privateNum": "+8617100000001"})),
    );
    let sub = ok(&bound)["subscriptionId"].as_str().unwrap().to_owned();
    assert_eq!(
        trace(&switch, &a, "+8617100000001", None)["stateCode"],
        8013,
        "no temp callee yet"
    );
    let set = switch.signed(
        Method::PUT,
        "/rest/caas/privatenumber/calleenumber/v1.0",
        &ax,
        Some(&json!({"subscriptionId": sub, "calleeNum": c, "duration": 120})),
    );
    ok(&set);
    let t = trace(&switch, &a, "+8617100000001", None);
    assert_eq!(
        (t["decision"].as_str(), t["callee"].as_str()),
        (Some("connect"), Some(c.as_str())),
        "{t}"
    );
    let t = trace(&switch, &mobile(36, 1), "+8617100000001", None);
    assert_eq!(t["callee"].as_str(), Some(a.as_str()), "anyone → A: {t}");
    ok(&switch.signed(
        Method::PUT,
        AX,
        &ax,
        Some(&json!({"subscriptionId": sub, "turnFlag": "off"})),
    ));
    assert_eq!(
        trace(&switch, &mobile(36, 1), "+8617100000001", None)["stateCode"],
        8104
    );
    ok(&switch.signed(Method::GET, &format!("{AX}?subscriptionId={sub}"), &ax, None));
    ok(&switch.signed(Method::DELETE, &format!("{AX}?subscriptionId={sub}"), &ax, None));
    assert_eq!(trace(&switch, &a, "+8617100000001", None)["stateCode"], 8014);

    // Wrong mode: the AX app cannot use the AXB API.
    let wrong = switch.signed(
        Method::POST,
        "/rest/caas/relationnumber/partners/v1.0",
        &ax,
        Some(&json!({"relationNum": "+8617100000001", "callerNum": a, "calleeNum": c})),
    );
    assert_eq!(wrong.1["resultcode"], "1010040", "{}", wrong.1);
}

#[test]
fn axe_round_trip_and_routes() {
    let dir = tempfile::tempdir().unwrap();
    let switch = Switch::start(dir.path());
    let (a, c) = (mobile(38, 11), mobile(37, 12));
    // AXE: bind with an auto-assigned extension; a caller keying it reaches A.
    let axe = switch.create_app("axe", "AXE");
    switch.import_numbers(&axe.0, "0755", &["+8617200000001".to_owned()]);
    let bound = switch.signed(
        Method::POST,
        AXE,
        &axe,
        Some(&json!({"bindNum": a, "virtualNum": "+8617200000001"})),
    );
    let v = ok(&bound);
    let (sub, ext) = (
        v["subscriptionId"].as_str().unwrap().to_owned(),
        v["extendNum"].as_str().unwrap().to_owned(),
    );
    assert_eq!(ext.len(), 4, "default 4 extension digits: {v}");
    assert_eq!(
        trace(&switch, &c, "+8617200000001", None)["decision"],
        "collectDigits"
    );
    let t = trace(&switch, &c, "+8617200000001", Some(&ext));
    assert_eq!(t["callee"].as_str(), Some(a.as_str()), "{t}");
    assert_eq!(
        trace(&switch, &c, "+8617200000001", Some("9999"))["stateCode"],
        8022
    );
    ok(&switch.signed(Method::GET, &format!("{AXE}?subscriptionId={sub}"), &axe, None));
    ok(&switch.signed(Method::DELETE, &format!("{AXE}?subscriptionId={sub}"), &axe, None));
    assert_eq!(
        trace(&switch, &c, "+8617200000001", Some(&ext))["stateCode"],
        8022
    );
}

#[test]
fn axyb_round_trip_and_routes() {
    let dir = tempfile::tempdir().unwrap();
    let switch = Switch::start(dir.path());
    let a = mobile(38, 11);
    // AXYB: A–X plus a Y–B relation; B dials X → A sees Y; A dials Y → B sees X.
    let axyb = switch.create_app("axyb", "AXYB");
    switch.import_numbers(
        &axyb.0,
        "0755",
        &["+8617300000001".to_owned(), "+8617300000002".to_owned()],
    );
    let b = mobile(39, 13);
    let bound = switch.signed(
        Method::POST,
        AXYB,
        &axyb,
        Some(&json!({"origNum": a, "relationNum": "+8617300000001", "calleeNum": b})),
    );
    let v = ok(&bound).clone();
    let y = v["numY"].as_str().expect("numY").to_owned();
    let t = trace(&switch, &b, "+8617300000001", None);
    assert_eq!(
        (t["callee"].as_str(), t["display"].as_str()),
        (Some(a.as_str()), Some(y.as_str())),
        "{t}"
    );
    let t = trace(&switch, &a, &y, None);
    assert_eq!(
        (t["callee"].as_str(), t["display"].as_str()),
        (Some(b.as_str()), Some("+8617300000001")),
        "{t}"
    );
    assert_eq!(trace(&switch, &a, "+8617300000001", None)["stateCode"], 8032);
    let sub = v["subscriptionId"].as_str().unwrap();
    let q = switch.signed(Method::GET, &format!("{AXYB}?subscriptionId={sub}"), &axyb, None);
    assert!(
        ok(&q)["xyRelationNumList"]
            .as_array()
            .is_some_and(|l| !l.is_empty()),
        "{}",
        q.1
    );
    ok(&switch.signed(
        Method::DELETE,
        &format!("{AXYB}?subscriptionId={sub}"),
        &axyb,
        None,
    ));
    assert_eq!(trace(&switch, &b, "+8617300000001", None)["stateCode"], 8030);
}

#[test]
fn readme_demo_runs() {
    let out = Command::new(pnswitch_bin()).arg("demo").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("A dials X") && text.contains("connect to \"+8613900000002\""),
        "{text}"
    );
    assert!(
        text.contains("reject with stateCode 8014") && text.contains("reject with stateCode 8023"),
        "{text}"
    );
    // The media part: a recorded call downloadable through the API (the demo itself checks both parties'
    // tones are in the file and fails otherwise), and an AXE call whose digits were collected.
    assert!(text.contains("-> 301 Location: http://"), "{text}");
    assert!(text.contains("AXE collectInfo digitInfo: \"1234\""), "{text}");
    assert!(text.contains("\"recordObjectName\""), "{text}");
}
