//! The call-stop API (`POST /rest/httpsessions/callStop/v2.0`, reference §2.5) through the real binary: a
//! `SIPp` call, the `sessionId` read from its `callin` event in the outbox, a signed HTTP request (AKSK with
//! the app's secret), and the release on both legs checked in `SIPp`'s traces: an answered call gets a BYE on
//! each leg, a ringing call a CANCEL to B and 487 to A. The disconnect event and the CDR carry stateCode 8070.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test: failing loudly is the point

use std::time::Duration;

use pn_e2e::axe::{Fact, show, wait_for_fact, wait_for_outbox};
use pn_e2e::sipp::{Rig, ok};
use reqwest::Method;
use serde_json::{Value, json};

const A: &str = "+8613800000001";
const B: &str = "+8613900000002";
const X: &str = "+8617000000001";
const STOP_PATH: &str = "/rest/httpsessions/callStop/v2.0";
const STOPPED: u64 = 8070;
/// How long a `SIPp` side may take to finish after the stop.
const SETTLE: Duration = Duration::from_secs(15);

/// The `sessionId` of the call, from its `event` event (waits for it).
fn session_id(rig: &Rig, event: &str) -> String {
    let facts = wait_for_fact(&rig.switch.data_dir, event, |f| f.event_type() == Some(event));
    facts
        .iter()
        .find(|f| f.event_type() == Some(event))
        .and_then(|f| f.status_info()["sessionId"].as_str())
        .expect("a sessionId")
        .to_owned()
}

/// The disconnect event and the CDR, once both are in the outbox.
fn ended(rig: &Rig) -> Vec<Fact> {
    wait_for_outbox(
        &rig.switch.data_dir,
        "the disconnect event and the CDR",
        |facts| {
            facts.iter().any(|f| f.event_type() == Some("disconnect"))
                && facts.iter().any(|f| f.kind == "cdr")
        },
    )
}

fn assert_stopped_facts(facts: &[Fact], session_id: &str, sip_status: u64) {
    let disconnect = facts
        .iter()
        .find(|f| f.event_type() == Some("disconnect"))
        .unwrap();
    let info = disconnect.status_info();
    assert_eq!(info["stateCode"].as_u64(), Some(STOPPED), "{}", show(facts));
    assert_eq!(info["sessionId"].as_str(), Some(session_id), "{}", show(facts));
    let cdr = &facts.iter().find(|f| f.kind == "cdr").unwrap().payload;
    assert_eq!(cdr["ulFailReason"].as_u64(), Some(STOPPED), "{cdr}");
    assert_eq!(cdr["sessionId"].as_str(), Some(session_id), "{cdr}");
    assert_eq!(cdr["sipStatusCode"].as_u64(), Some(sip_status), "{cdr}");
}

fn stop(rig: &Rig, app: &(String, String), session_id: &str) -> (u16, Value) {
    rig.switch.signed(
        Method::POST,
        STOP_PATH,
        app,
        Some(&json!({"sessionid": session_id, "signal": "call_stop"})),
    )
}

#[test]
fn an_answered_call_is_released_with_a_bye_on_both_legs() {
    let rig = Rig::start(&[]);
    let app = rig.switch.app_with_numbers("AXB", &[X]);
    let other = rig.switch.create_app("other", "AXB");
    rig.switch.bind_axb(&app, X, A, B, &json!({}));
    let b_side = rig.uas("uas_answer").spawn();
    let a_side = rig.uac("uac_wait_bye").inject(&[&[A, X]]).spawn();
    wait_for_fact(&rig.switch.data_dir, "the answer event", |f| {
        f.event_type() == Some("answer")
    });
    let sid = session_id(&rig, "callin");

    // Another app cannot stop it; an unknown sessionId is refused the same way.
    let r = stop(&rig, &other, &sid);
    assert_eq!(r.1["resultcode"], "1020152", "{}", r.1);
    let r = stop(&rig, &app, "0_999999_20200101000000@nowhere");
    assert_eq!(r.1["resultcode"], "1020152", "{}", r.1);
    let r = rig.switch.signed(
        Method::POST,
        STOP_PATH,
        &app,
        Some(&json!({"sessionid": sid, "signal": "hangup"})),
    );
    assert_eq!(r.1["resultcode"], "1020001", "{}", r.1);

    ok(&stop(&rig, &app, &sid));
    let a_side = a_side.finish_ok(SETTLE);
    let b_side = b_side.finish_ok(SETTLE);
    for (side, run) in [("A", &a_side), ("B", &b_side)] {
        let bye = run.first_request("BYE");
        let reason = bye.header("Reason").unwrap_or_default();
        assert!(reason.contains("8070"), "{side}'s BYE: {}", bye.text);
    }
    assert_stopped_facts(&ended(&rig), &sid, 0);
    // Stopped once: a second request finds no call.
    let r = stop(&rig, &app, &sid);
    assert_eq!(r.1["resultcode"], "1020152", "{}", r.1);
}

#[test]
fn a_ringing_call_cancels_b_and_answers_a_487() {
    let rig = Rig::start(&[]);
    let app = rig.switch.app_with_numbers("AXB", &[X]);
    rig.switch.bind_axb(&app, X, A, B, &json!({}));
    let b_side = rig.uas("uas_noanswer").spawn();
    let a_side = rig.uac("uac_expect_reject").inject(&[&[A, X]]).spawn();
    wait_for_fact(&rig.switch.data_dir, "the alerting event", |f| {
        f.event_type() == Some("alerting")
    });
    let sid = session_id(&rig, "callin");
    ok(&stop(&rig, &app, &sid));
    let a_side = a_side.finish_ok(SETTLE);
    let b_side = b_side.finish_ok(SETTLE);
    let last = a_side.final_invite_response();
    assert_eq!(last.status(), Some(487), "{}", last.text);
    assert!(
        last.header("Reason").unwrap_or_default().contains("8070"),
        "{}",
        last.text
    );
    b_side.first_request("CANCEL");
    assert!(b_side.received_requests("BYE").is_empty());
    assert_stopped_facts(&ended(&rig), &sid, 487);
}
