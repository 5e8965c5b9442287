//! Call controls through the real binary and `SIPp` (issue 11): an app's controls set over the admin API
//! apply to the next INVITE. A caller past its per-minute limit is refused with 8047, a blacklisted caller
//! with 7005: each as a SIP 403 whose `Reason` carries the Q.850 cause and the stateCode, nothing reaching the
//! egress trunk, and a disconnect event and a CDR with that cause in the outbox (what is pushed to the app).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test: failing loudly is the point

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pn_e2e::axe::{Fact, show, wait_for_outbox};
use pn_e2e::sipp::{Rig, ok, reason};
use reqwest::Method;
use serde_json::json;

const A: &str = "+8613800000001";
const B: &str = "+8613900000002";
const X: &str = "+8617000000001";

/// How long a UAS may take to finish after its UAC did.
const SETTLE: Duration = Duration::from_secs(10);

/// A refused call from `caller`: its final response must be `status` with a Q.850 Reason naming `cause`, and
/// nothing may reach B.
fn assert_refused(rig: &Rig, caller: &str, status: u16, cause: &str) {
    let b_side = rig.uas("uas_answer").spawn();
    let a_side = rig.uac("uac_expect_reject").inject(&[&[caller, X]]).run_ok();
    let b_side = b_side.stop();
    let fin = a_side.final_invite_response();
    assert_eq!(fin.status(), Some(status), "{}", fin.text);
    let why = reason(&fin);
    assert!(
        why.to_ascii_lowercase().contains("q.850") && why.contains(cause),
        "Reason lacks Q.850 and {cause}: {why:?}\n{}",
        fin.text
    );
    assert!(
        b_side.received().is_empty(),
        "a refused call reached the egress trunk:\n{}",
        b_side.received_text()
    );
}

/// The disconnect event's stateCode and the CDR's `ulFailReason` of the calls from `caller`, once both are in.
fn ended_with(facts: &[Fact], caller: &str, cause: u64) -> bool {
    let disconnect = facts.iter().any(|f| {
        f.event_type() == Some("disconnect")
            && f.status_info()["caller"] == caller
            && f.status_info()["stateCode"] == cause
    });
    let cdr = facts
        .iter()
        .any(|f| f.kind == "cdr" && f.payload["callerNum"] == caller && f.payload["ulFailReason"] == cause);
    disconnect && cdr
}

#[test]
fn a_caller_past_its_minute_limit_gets_8047_and_a_blacklisted_caller_7005() {
    let rig = Rig::start(&[]);
    let app = rig.switch.app_with_numbers("AXB", &[X]);
    rig.switch.bind_axb(&app, X, A, B, &json!({}));
    let r = rig.switch.admin(
        Method::PUT,
        &format!("/admin/v1/apps/{}/controls", app.0),
        Some(&json!({
            "callerBlacklist": {"numbers": [B], "prefixes": []},
            "limits": [{"key": "caller", "windowSecs": 60, "max": 2}]
        })),
    );
    ok(&r);

    // The sliding window weighs the previous minute in: keep the three calls inside one minute of the clock.
    let second = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() % 60;
    if second > 20 {
        std::thread::sleep(Duration::from_secs(61 - second));
    }
    // Two calls from A go through.
    let b_side = rig.uas("uas_answer").calls(2).spawn();
    rig.uac("uac_basic")
        .calls(2)
        .rate(2.0)
        .pause_ms(200)
        .inject(&[&[A, X]])
        .run_ok();
    b_side.finish_ok(SETTLE);
    // The third in the minute is refused.
    assert_refused(&rig, A, 403, "8047");
    // B is blacklisted.
    assert_refused(&rig, B, 403, "7005");

    let facts = wait_for_outbox(&rig.switch.data_dir, "the refusals' events and CDRs", |facts| {
        ended_with(facts, A, 8047) && ended_with(facts, B, 7005)
    });
    // A's two connected calls ended normally.
    let normal = facts
        .iter()
        .filter(|f| f.kind == "cdr" && f.payload["callerNum"] == A && f.payload["ulFailReason"] == 0)
        .count();
    assert_eq!(normal, 2, "{}", show(&facts));
    let refused = rig.switch.metrics();
    assert!(
        refused.contains("outcome=\"8047\"") && refused.contains("outcome=\"7005\""),
        "route lookup metrics lack the control causes"
    );
}
