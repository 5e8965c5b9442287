//! X mode through the real binary: `SIPp` calls to an X-mode number, the switch's signed Block `callin` to a real
//! HTTP receiver (`tests/src/receiver.rs`), whose reply decides each call: `connect` (the B leg to `calleeNum`,
//! showing X), `close` (603, 8017), a bad reply (404, 8014) and no reply in time (500, 8040). Each call's
//! outcome at the caller, its `Reason`, and its disconnect event and CDR in the outbox are checked; the Block
//! callin itself is never stored.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test: failing loudly is the point

use std::time::Duration;

use pn_e2e::axe::{outbox, show, start_rig};
use pn_e2e::receiver::{BlockAnswer, Receiver, point_app_at, summary};
use pn_e2e::sipp::assert_refused;
use serde_json::Value;

const A: &str = "+8613800000001";
const B: &str = "+8613900000002";
const X: &str = "+8617000000001";

const SETTLE: Duration = Duration::from_secs(10);

/// The stored disconnect event and CDR of the one call whose events carry `session`.
fn stored_end(facts: &[pn_e2e::axe::Fact], session: &str) -> (Value, Value) {
    let disconnect = facts
        .iter()
        .find(|f| {
            f.kind == "call_event"
                && f.payload["eventType"] == "disconnect"
                && f.payload["statusInfo"]["sessionId"] == session
        })
        .map_or_else(
            || panic!("no disconnect for {session}:\n{}", show(facts)),
            |f| f.payload.clone(),
        );
    let cdr = facts
        .iter()
        .find(|f| f.kind == "cdr" && f.payload["sessionId"] == session)
        .map_or_else(
            || panic!("no CDR for {session}:\n{}", show(facts)),
            |f| f.payload.clone(),
        );
    (disconnect, cdr)
}

/// The `sessionId`s of the Block requests received, in arrival order.
fn block_sessions(receiver: &Receiver) -> Vec<String> {
    receiver
        .received()
        .iter()
        .filter(|r| r.body["statusInfo"]["notifyMode"] == "Block")
        .map(|r| {
            r.body["statusInfo"]["sessionId"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

#[test]
#[allow(clippy::too_many_lines)] // one story: four calls, four decisions, then what was stored
fn the_customer_connects_closes_answers_badly_or_not_at_all() {
    let receiver = Receiver::start(&[]);
    let rig = start_rig(&[("PNSWITCH__SIP__B2BUA__XMODE_DECISION_TIMEOUT_MS", "1500")]);
    let sw = &rig.switch;
    let app = sw.app_with_numbers("X", &[X]);
    receiver.add_app(&app.0, &app.1);
    point_app_at(sw, &app.0, &receiver, Some("/events/x"), Some("/cdr/x"));

    // 1. connect: B is called showing X; the call is answered and released normally.
    receiver.answer_block(
        "/events/x",
        Some(BlockAnswer::ok(&format!(
            r#"{{"operation":"connect","connectInfo":{{"displayCalleeNum":"{X}","calleeNum":"{B}","maxDuration":5,"userData":"order-1"}}}}"#
        ))),
    );
    let b_side = rig.uas("uas_answer").spawn();
    rig.uac("uac_basic").pause_ms(200).inject(&[&[A, X]]).run_ok();
    let b_run = b_side.finish_ok(SETTLE);
    let invite = b_run
        .messages()
        .into_iter()
        .find(|m| m.received && m.method() == Some("INVITE"))
        .expect("B received the INVITE");
    let from = invite.headers("From").join("");
    assert!(from.contains(X), "B must see X: {from}");
    assert!(!invite.text.contains(A), "A's number reached B:\n{}", invite.text);

    // 2. close: 603 with 8017; nothing reaches B.
    receiver.answer_block(
        "/events/x",
        Some(BlockAnswer::ok(
            r#"{"operation":"close","closeInfo":{"userData":"closed"}}"#,
        )),
    );
    let b_side = rig.uas("uas_answer").spawn();
    let a_run = rig.uac("uac_expect_reject").inject(&[&[A, X]]).run_ok();
    assert_refused(&a_run, 603, "8017");
    assert!(b_side.stop().received().is_empty());

    // 3. a bad reply (maxDuration out of range): 404 with 8014.
    receiver.answer_block(
        "/events/x",
        Some(BlockAnswer::ok(&format!(
            r#"{{"operation":"connect","connectInfo":{{"calleeNum":"{B}","maxDuration":7200}}}}"#
        ))),
    );
    let a_run = rig.uac("uac_expect_reject").inject(&[&[A, X]]).run_ok();
    assert_refused(&a_run, 404, "8014");

    // 4. no reply in time (the receiver answers after 3 s; the switch waits 1.5 s): 500 with 8040.
    receiver.answer_block(
        "/events/x",
        Some(BlockAnswer {
            status: 200,
            delay: Duration::from_secs(3),
            body: r#"{"operation":"close"}"#.to_owned(),
        }),
    );
    let a_run = rig.uac("uac_expect_reject").inject(&[&[A, X]]).run_ok();
    assert_refused(&a_run, 500, "8040");

    // Every Block request verified with the app's secret; four asks, four distinct calls.
    receiver.wait_for("the three answered Block requests", SETTLE, |got| {
        got.iter()
            .filter(|r| r.body["statusInfo"]["notifyMode"] == "Block")
            .count()
            >= 3
    });
    std::thread::sleep(Duration::from_secs(2)); // the late (timed-out) answer has been written by now
    let got = receiver.received();
    let blocks: Vec<_> = got
        .iter()
        .filter(|r| r.body["statusInfo"]["notifyMode"] == "Block")
        .collect();
    assert!(
        blocks.iter().all(|r| r.verified && r.app_key == app.0),
        "{}",
        summary(&got)
    );
    for b in &blocks {
        assert_eq!(b.body["eventType"], "callin");
        assert_eq!(b.body["statusInfo"]["caller"], A);
        assert_eq!(b.body["statusInfo"]["called"], X);
    }
    let sessions = block_sessions(&receiver);
    assert!(sessions.len() >= 3, "{}", summary(&got));

    // The outbox: no Block callin stored; each call's disconnect and CDR carry its cause.
    let facts = outbox(&sw.data_dir);
    assert!(
        !facts
            .iter()
            .any(|f| f.kind == "call_event" && f.payload["eventType"] == "callin"),
        "a Block callin was stored:\n{}",
        show(&facts)
    );
    let cdrs: Vec<&Value> = facts
        .iter()
        .filter(|f| f.kind == "cdr")
        .map(|f| &f.payload)
        .collect();
    assert_eq!(cdrs.len(), 4, "{}", show(&facts));
    let causes: Vec<u64> = facts
        .iter()
        .filter(|f| f.kind == "cdr")
        .map(|f| f.payload["ulFailReason"].as_u64().unwrap())
        .collect();
    assert_eq!(causes, [0, 8017, 8014, 8040], "{}", show(&facts));
    for cdr in &cdrs {
        assert_eq!(cdr["serviceType"], "007", "{cdr}");
        assert_eq!(cdr["appKey"].as_str(), Some(app.0.as_str()), "{cdr}");
    }
    // The connected call: X shown to B, the reply's userData echoed, the events in Notify mode.
    let (disconnect, cdr) = stored_end(&facts, &sessions[0]);
    assert_eq!(cdr["fwdDisplayNum"], X, "{cdr}");
    assert_eq!(cdr["fwdDstNum"], B, "{cdr}");
    assert_eq!(cdr["userData"], "order-1", "{cdr}");
    assert_eq!(disconnect["statusInfo"]["stateCode"], 0);
    assert_eq!(disconnect["statusInfo"]["notifyMode"], "Notify");
    assert!(
        disconnect["statusInfo"]["callRelDirection"].is_u64(),
        "{disconnect}"
    );
    let (disconnect, cdr) = stored_end(&facts, &sessions[1]);
    assert_eq!(disconnect["statusInfo"]["stateCode"], 8017);
    assert_eq!(cdr["userData"], "closed", "{cdr}");
    let (disconnect, _) = stored_end(&facts, &sessions[2]);
    assert_eq!(disconnect["statusInfo"]["stateCode"], 8014);
    let stored_types: Vec<&str> = facts
        .iter()
        .filter(|f| f.kind == "call_event" && f.payload["statusInfo"]["sessionId"] == sessions[0].as_str())
        .map(|f| f.payload["eventType"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(stored_types, ["callout", "alerting", "answer", "disconnect"]);

    // The metric counts each outcome.
    let metrics = sw.metrics();
    for outcome in ["connect", "close", "invalid", "timeout"] {
        let line = format!("pn_xmode_decisions_total{{outcome=\"{outcome}\"}} 1");
        assert!(metrics.contains(&line), "{line} missing:\n{metrics}");
    }
}
