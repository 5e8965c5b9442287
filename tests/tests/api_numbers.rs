//! National numbers through an HTTP client against the real binary (issue 12): the PrivateNumber API takes
//! numbers in global format (`+86…`) only and answers 1010002 (HTTP 403) naming the field for `138…` or
//! `86138…`; an app created or changed with `allowNationalNumbers` (admin API or `pnswitch admin`) gets the
//! old normalisation to `+86…`, and the option survives a restart.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test: failing loudly is the point

use std::process::Command;
use std::time::Duration;

use pn_e2e::{Switch, pnswitch_bin};
use reqwest::Method;
use serde_json::{Value, json};

const AXB: &str = "/rest/caas/relationnumber/partners/v1.0";
const X: &str = "+8617000000501";

/// Asserts the refusal of a number not in global format naming `field`.
#[track_caller]
fn refused(r: &(u16, Value), field: &str) {
    assert_eq!((r.0, r.1["resultcode"].as_str()), (403, Some("1010002")), "{r:?}");
    let desc = r.1["resultdesc"].as_str().unwrap();
    assert!(desc.contains(field) && desc.contains("global format"), "{r:?}");
}

/// Runs `pnswitch admin` against `switch` and returns its JSON output.
fn cli(switch: &Switch, args: &[&str]) -> Value {
    let out = Command::new(pnswitch_bin())
        .args(["admin", "--url", &switch.base, "--token", &switch.admin_token])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "admin {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn national_numbers_are_refused_unless_the_app_allows_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut switch = Switch::start(dir.path());
    let app = switch.create_app("numbers", "AXB");
    switch.import_numbers(&app.0, "0755", &[X.to_owned()]);
    let bind = |a: &str, b: &str| json!({"relationNum": X, "callerNum": a, "calleeNum": b});

    // Default: only the global format.
    refused(
        &switch.signed(
            Method::POST,
            AXB,
            &app,
            Some(&bind("13800000001", "+8613900000001")),
        ),
        "callerNum",
    );
    refused(
        &switch.signed(
            Method::POST,
            AXB,
            &app,
            Some(&bind("+8613800000001", "8613900000001")),
        ),
        "calleeNum",
    );
    refused(
        &switch.signed(
            Method::POST,
            AXB,
            &app,
            Some(&json!({"relationNum": "17000000501", "callerNum": "+8613800000001", "calleeNum": "+8613900000001"})),
        ),
        "relationNum",
    );
    refused(
        &switch.signed(Method::GET, &format!("{AXB}?callerNum=13800000001"), &app, None),
        "callerNum",
    );
    // Nothing was bound by the refusals.
    let r = switch.signed(
        Method::GET,
        &format!("{AXB}?callerNum=%2B8613800000001"),
        &app,
        None,
    );
    assert_eq!(r.1["resultcode"], "1016001", "{r:?}");
    let r = switch.signed(
        Method::POST,
        AXB,
        &app,
        Some(&bind("+8613800000001", "+8613900000001")),
    );
    assert_eq!(r.1["resultcode"], "0", "{r:?}");

    // `pnswitch admin app set --allow-national-numbers true`: national forms accepted, stored as +86.
    let set = cli(
        &switch,
        &["app", "set", &app.0, "--allow-national-numbers", "true"],
    );
    assert_eq!(set["app"]["allowNationalNumbers"], true, "{set}");
    let r = switch.signed(
        Method::POST,
        AXB,
        &app,
        Some(&bind("13800000002", "8613900000002")),
    );
    assert_eq!(r.1["resultcode"], "0", "{r:?}");
    assert_eq!(r.1["callerNum"], "+8613800000002", "{r:?}");
    assert_eq!(r.1["calleeNum"], "+8613900000002", "{r:?}");

    // The option is durable: after a restart the app still allows national numbers.
    assert!(switch.stop(Duration::from_secs(30)), "clean stop");
    drop(switch);
    let switch = Switch::start(dir.path());
    let (status, v) = switch.admin(Method::GET, &format!("/admin/v1/apps/{}", app.0), None);
    assert_eq!(
        (status, &v["app"]["allowNationalNumbers"]),
        (200, &json!(true)),
        "{v}"
    );
    let r = switch.signed(Method::GET, &format!("{AXB}?callerNum=13800000002"), &app, None);
    assert_eq!(r.1["resultcode"], "0", "{r:?}");
    assert_eq!(r.1["relationNumList"][0]["calleeNum"], "+8613900000002", "{r:?}");

    // An app created with the option through the admin API; and switched off again.
    let (status, v) = switch.admin(
        Method::POST,
        "/admin/v1/apps",
        Some(&json!({"name": "national", "mode": "AXB", "allowNationalNumbers": true})),
    );
    assert_eq!(
        (status, &v["app"]["allowNationalNumbers"]),
        (200, &json!(true)),
        "{v}"
    );
    let set = cli(
        &switch,
        &["app", "set", &app.0, "--allow-national-numbers", "false"],
    );
    assert_eq!(set["app"]["allowNationalNumbers"], false, "{set}");
    refused(
        &switch.signed(
            Method::POST,
            AXB,
            &app,
            Some(&bind("13800000003", "+8613900000003")),
        ),
        "callerNum",
    );
}
