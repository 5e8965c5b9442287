//! Call facts echo the binding that routed the call (`subscriptionId`, `userData`), as it was when the call was
//! routed: a real `SIPp` call, provisioning over the signed HTTP API, facts read from the switch's outbox. The
//! platform unbinds while the call is up (platforms unbind at hang-up; doing it during the call makes the
//! order certain: the disconnect event and the CDR are made after the binding is gone). The CDRs also carry the
//! configured `spId`, the app's `appKey`, a unique `icid`, the mode's `serviceType`, the AXE extension
//! (`extendNum`) and the reserved counters, with §4's JSON types.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test: failing loudly is the point

use std::time::Duration;

use pn_e2e::axe::{Fact, axe_app, bind_axe, outbox, show, start_rig, wait_for_fact, wait_for_outbox};
use pn_e2e::sipp::{AX_CALLEE_PATH, AX_PATH, AXB_PATH, AXYB_PATH, Rig, ok};
use reqwest::Method;
use serde_json::json;

const A: &str = "+8613800000001";
const B: &str = "+8613900000002";
const X: &str = "+8617000000001";
const Y: &str = "+8617000000002";

/// How long the caller holds the answered call before its BYE (the unbind happens in that window).
const HOLD_MS: u64 = 4_000;
/// How long a UAS may take to finish after its UAC did.
const SETTLE: Duration = Duration::from_secs(10);

/// The facts of the one call: waits for the `disconnect` event and the CDR.
fn ended_call(rig: &Rig) -> Vec<Fact> {
    wait_for_outbox(
        &rig.switch.data_dir,
        "the disconnect event and the CDR",
        |facts| {
            facts.iter().any(|f| f.event_type() == Some("disconnect"))
                && facts.iter().any(|f| f.kind == "cdr")
        },
    )
}

/// The one CDR of `facts`.
fn the_cdr(facts: &[Fact]) -> &serde_json::Value {
    &facts
        .iter()
        .find(|f| f.kind == "cdr")
        .unwrap_or_else(|| panic!("no CDR:\n{}", show(facts)))
        .payload
}

/// Asserts the CDR's account, app, id and service fields: `spId`, `appKey` = `app_key`, an `icid` (1–64
/// characters), `serviceType` = `service_type`, `extendNum` = `extension`, and the reserved integers at 0.
fn assert_cdr_ids(
    cdr: &serde_json::Value,
    sp_id: &str,
    app_key: &str,
    service_type: &str,
    extension: Option<&str>,
) -> String {
    assert_eq!(cdr["spId"].as_str(), Some(sp_id), "{cdr}");
    assert_eq!(cdr["appKey"].as_str(), Some(app_key), "{cdr}");
    assert_eq!(cdr["serviceType"].as_str(), Some(service_type), "{cdr}");
    assert_eq!(cdr["extendNum"].as_str(), extension, "{cdr}");
    for zero in ["callOutUnaswRsn", "ttsPlayTimes", "ttsTransDuration"] {
        assert_eq!(cdr[zero].as_u64(), Some(0), "{zero}: {cdr}");
    }
    let icid = cdr["icid"].as_str().unwrap_or_default().to_owned();
    assert!((1..=64).contains(&icid.len()), "icid: {cdr}");
    icid
}

/// Asserts every call event named in `events` and the CDR carry `subscription_id` and `user_data`.
fn assert_echoed(facts: &[Fact], events: &[&str], subscription_id: &str, user_data: &str) {
    for event in events {
        let fact = facts
            .iter()
            .find(|f| f.event_type() == Some(event))
            .unwrap_or_else(|| panic!("no {event} event:\n{}", show(facts)));
        let info = fact.status_info();
        assert_eq!(
            (info["subscriptionId"].as_str(), info["userData"].as_str()),
            (Some(subscription_id), Some(user_data)),
            "{event}: {}",
            fact.payload
        );
    }
    let cdr = facts
        .iter()
        .find(|f| f.kind == "cdr")
        .unwrap_or_else(|| panic!("no CDR:\n{}", show(facts)));
    assert_eq!(
        (
            cdr.payload["subscriptionId"].as_str(),
            cdr.payload["userData"].as_str()
        ),
        (Some(subscription_id), Some(user_data)),
        "CDR: {}",
        cdr.payload
    );
}

#[test]
fn axb_unbound_during_the_call_still_echoes_its_subscription_in_the_disconnect_event_and_cdr() {
    let rig = Rig::start(&[("PNSWITCH__SIP__B2BUA__SP_ID", "acct-e2e")]);
    let app = rig.switch.app_with_numbers("AXB", &[X]);
    let sub = rig
        .switch
        .bind_axb(&app, X, A, B, &json!({"userData": "order-42"}));
    let b_side = rig.uas("uas_answer").spawn();
    let a_side = rig.uac("uac_basic").pause_ms(HOLD_MS).inject(&[&[A, X]]).spawn();

    // The call is up: unbind now, as a platform does when its order ends.
    wait_for_fact(&rig.switch.data_dir, "the answer event", |f| {
        f.event_type() == Some("answer")
    });
    ok(&rig.switch.signed(
        Method::DELETE,
        &format!("{AXB_PATH}?subscriptionId={sub}"),
        &app,
        None,
    ));
    let before_bye = outbox(&rig.switch.data_dir);
    assert!(
        !before_bye.iter().any(|f| f.event_type() == Some("disconnect")),
        "the call ended before the unbind; the test proves nothing:\n{}",
        show(&before_bye)
    );
    // The binding is gone for new calls.
    let r = rig.switch.signed(
        Method::GET,
        &format!("{AXB_PATH}?subscriptionId={sub}"),
        &app,
        None,
    );
    assert_ne!(r.1["resultcode"], "0", "{}", r.1);

    a_side.finish_ok(SETTLE + Duration::from_millis(HOLD_MS));
    b_side.finish_ok(SETTLE);
    let facts = ended_call(&rig);
    assert_echoed(
        &facts,
        &["callin", "callout", "alerting", "answer", "disconnect"],
        &sub,
        "order-42",
    );
    assert_cdr_ids(the_cdr(&facts), "acct-e2e", &app.0, "003", None);
    // Events show the display number once the call is forwarded.
    let shown = |event: &str| {
        facts
            .iter()
            .find(|f| f.event_type() == Some(event))
            .and_then(|f| f.status_info()["displayCallerNum"].as_str().map(str::to_owned))
    };
    assert_eq!(shown("callin"), None, "{}", show(&facts));
    assert_eq!(shown("callout").as_deref(), Some(X), "{}", show(&facts));
}

#[test]
fn a_call_to_the_ax_temporary_callee_echoes_the_temporary_callees_user_data() {
    let rig = Rig::start(&[]);
    let app = rig.switch.app_with_numbers("AX", &[X]);
    let bound = ok(&rig.switch.signed(
        Method::POST,
        AX_PATH,
        &app,
        Some(&json!({"origNum": A, "privateNum": X, "calleeNumDisplay": "0", "userData": "ax-data"})),
    ))
    .clone();
    let sub = bound["subscriptionId"]
        .as_str()
        .expect("subscriptionId")
        .to_owned();
    ok(&rig.switch.signed(
        Method::PUT,
        AX_CALLEE_PATH,
        &app,
        Some(&json!({"privateNum": X, "calleeNum": B, "duration": 600, "userData": "temp-data"})),
    ));
    let b_side = rig.uas("uas_answer").spawn();
    rig.uac("uac_basic").pause_ms(200).inject(&[&[A, X]]).run_ok();
    b_side.finish_ok(SETTLE);
    let facts = ended_call(&rig);
    assert_echoed(
        &facts,
        &["callin", "callout", "alerting", "answer", "disconnect"],
        &sub,
        "temp-data",
    );
}

#[test]
fn a_call_through_an_axyb_relation_echoes_the_relation_after_it_is_unbound_during_the_call() {
    let rig = Rig::start(&[]);
    let app = rig.switch.app_with_numbers("AXYB", &[X, Y]);
    let bound = ok(&rig.switch.signed(
        Method::POST,
        AXYB_PATH,
        &app,
        Some(&json!({"origNum": A, "relationNum": X, "calleeNum": B, "userData": "axyb-data"})),
    ))
    .clone();
    let sub = bound["subscriptionId"]
        .as_str()
        .expect("subscriptionId")
        .to_owned();
    // The relation's own subscriptionId.
    let bind_id = bound["bindId"].as_str().expect("bindId").to_owned();
    assert_ne!(bind_id, sub);
    let b_side = rig.uas("uas_answer").spawn();
    let b_calls = rig.uac("uac_basic").pause_ms(HOLD_MS).inject(&[&[B, X]]).spawn();
    wait_for_fact(&rig.switch.data_dir, "the answer event", |f| {
        f.event_type() == Some("answer")
    });
    // The whole binding (A–X part and its relations) goes while B talks to A.
    ok(&rig.switch.signed(
        Method::DELETE,
        &format!("{AXYB_PATH}?subscriptionId={sub}"),
        &app,
        None,
    ));
    let before_bye = outbox(&rig.switch.data_dir);
    assert!(
        !before_bye.iter().any(|f| f.event_type() == Some("disconnect")),
        "the call ended before the unbind; the test proves nothing:\n{}",
        show(&before_bye)
    );
    b_calls.finish_ok(SETTLE + Duration::from_millis(HOLD_MS));
    b_side.finish_ok(SETTLE);
    let facts = ended_call(&rig);
    assert_echoed(
        &facts,
        &["callin", "callout", "alerting", "answer", "disconnect"],
        &bind_id,
        "axyb-data",
    );
}

#[test]
fn an_axe_calls_cdr_carries_the_extension_and_the_apps_key() {
    const EXT: &str = "1234";
    let rig = start_rig(&[]);
    let app = axe_app(&rig, &[X], &json!({}));
    bind_axe(&rig, &app, A, X, EXT, &json!({"userData": "axe-data"}));
    let a_leg = rig.uas("uas_axe_answer").spawn();
    let keys: Vec<String> = EXT.chars().map(String::from).collect();
    let row = [B, X, &keys[0], &keys[1], &keys[2], &keys[3]];
    rig.uac("uac_axe_info").pause_ms(300).inject(&[&row]).run_ok();
    a_leg.finish_ok(SETTLE);
    let facts = ended_call(&rig);
    let cdr = the_cdr(&facts);
    assert_eq!(cdr["ulFailReason"].as_u64(), Some(0), "{cdr}");
    let first = assert_cdr_ids(cdr, "pnswitch", &app.0, "005", Some(EXT));
    let collect = facts
        .iter()
        .find(|f| f.event_type() == Some("collectInfo"))
        .unwrap_or_else(|| panic!("no collectInfo:\n{}", show(&facts)));
    assert_eq!(collect.status_info()["digitInfo"].as_str(), Some(EXT));
    // A second call: another icid.
    let a_leg = rig.uas("uas_axe_answer").spawn();
    rig.uac("uac_axe_info").pause_ms(300).inject(&[&row]).run_ok();
    a_leg.finish_ok(SETTLE);
    let facts = wait_for_outbox(&rig.switch.data_dir, "the second CDR", |facts| {
        facts.iter().filter(|f| f.kind == "cdr").count() == 2
    });
    let icids: Vec<&str> = facts
        .iter()
        .filter(|f| f.kind == "cdr")
        .filter_map(|f| f.payload["icid"].as_str())
        .collect();
    assert_eq!(icids.len(), 2, "{}", show(&facts));
    assert!(
        icids.contains(&first.as_str()) && icids[0] != icids[1],
        "{icids:?}"
    );
}
