//! Calls that would stay up for ever (issue 8, item 10), through the real binary in bypass mode with `SIPp` as
//! both trunks. The switch probes both legs of an answered call with in-dialog OPTIONS every
//! `dialog_probe_secs`: a callee that vanished without a BYE (no answer: Timer F) or answers 481, or a caller that
//! answers 481, gets the call released — a BYE with `Reason: Q.850;cause=102` and stateCode 7506 (B gone) or 7505
//! (A gone) to the party still there, the disconnect event and the CDR in the outbox. Parties that answer the
//! probes keep their call. And a call whose binding sets no `maxDuration` ends after `max_call_secs` (8010).
//! Before these, such calls stayed up with no end and no CDR: the caller's `SIPp` waited for a BYE that never
//! came.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test: failing loudly is the point

use std::time::{Duration, Instant};

use pn_e2e::axe::{disconnect_code, show, wait_for_outbox};
use pn_e2e::sipp::{Rig, SippRun, reason};
use serde_json::{Value, json};

const A: &str = "+8613800000001";
const B: &str = "+8613900000002";
const X: &str = "+8617000000001";

/// How long a UAS may take to finish after its UAC did.
const SETTLE: Duration = Duration::from_secs(10);

/// An AXB rig in bypass mode, X bound to A ↔ B, with `env` overrides.
fn bypass_rig(env: &[(&str, &str)]) -> Rig {
    let mut all = vec![("PNSWITCH__MEDIA__MODE", "bypass")];
    all.extend_from_slice(env);
    let rig = Rig::start(&all);
    let app = rig.switch.app_with_numbers("AXB", &[X]);
    rig.switch.bind_axb(&app, X, A, B, &json!({}));
    rig
}

/// The CDR in the outbox once the call ended (waits for the disconnect event and the CDR).
fn ended_call(rig: &Rig) -> (Option<u64>, Value) {
    let facts = wait_for_outbox(&rig.switch.data_dir, "the disconnect event and the CDR", |f| {
        disconnect_code(f).is_some() && f.iter().any(|f| f.kind == "cdr")
    });
    let cdr = facts
        .iter()
        .find(|f| f.kind == "cdr")
        .map_or_else(|| panic!("no CDR:\n{}", show(&facts)), |f| f.payload.clone());
    (disconnect_code(&facts), cdr)
}

/// Asserts the party of `run` got the switch's BYE carrying Q.850 cause `q850` and stateCode `code`.
fn assert_bye_because(run: &SippRun, q850: u16, code: u16) {
    let bye = run.first_request("BYE");
    let why = reason(&bye);
    assert!(
        why.contains(&format!("Q.850;cause={q850}")) && why.contains(&code.to_string()),
        "the BYE does not say Q.850 {q850} / {code}: {why:?}\n{}",
        bye.text
    );
}

#[test]
fn callee_that_vanished_without_bye_is_released_after_its_probe_times_out() {
    // Probes every second; T1 = 100 ms makes Timer F (64·T1) 6.4 s.
    let rig = bypass_rig(&[
        ("PNSWITCH__SIP__B2BUA__DIALOG_PROBE_SECS", "1"),
        ("PNSWITCH__SIP__B2BUA__T1_MS", "100"),
    ]);
    // B answers and is gone (its SIPp exits after the ACK): the probes to B get no answer at all.
    let b_side = rig.uas("uas_answer_vanish").no_auto_answer().spawn();
    let started = Instant::now();
    let a_side = rig
        .uac("uac_wait_bye")
        .timeout_secs(30)
        .inject(&[&[A, X]])
        .run_ok();
    let took = started.elapsed();
    let b_side = b_side.finish_ok(SETTLE);
    assert!(b_side.received_requests("BYE").is_empty());
    // A answered its own probes (200) and got the BYE: B's dialog is gone, 7506.
    assert!(
        !a_side.received_requests("OPTIONS").is_empty(),
        "A was never probed:\n{}",
        a_side.received_text()
    );
    assert_bye_because(&a_side, 102, 7506);
    assert!(
        took >= Duration::from_secs(7) && took < Duration::from_secs(20),
        "released after {took:?}: expected one probe interval (1 s) plus Timer F (6.4 s)"
    );
    let (code, cdr) = ended_call(&rig);
    assert_eq!(code, Some(7506));
    assert_eq!(cdr["ulFailReason"], 7506, "{cdr}");
    assert!(cdr["fwdAnswerTime"].is_string(), "{cdr}");
    assert_eq!(rig.switch.metric("pn_sip_active_calls"), Some(0.0));
    // Operators see it: probes sent, one dead dialog.
    let probes = rig.switch.metric(r#"pn_sip_dialog_events_total{event="probe"}"#);
    assert!(probes.is_some_and(|n| n >= 2.0), "probes counted: {probes:?}");
    assert_eq!(
        rig.switch
            .metric(r#"pn_sip_dialog_events_total{event="dead_dialog"}"#),
        Some(1.0)
    );
}

#[test]
fn callee_answering_481_to_the_probe_is_released_at_once() {
    let rig = bypass_rig(&[("PNSWITCH__SIP__B2BUA__DIALOG_PROBE_SECS", "1")]);
    let b_side = rig.uas("uas_options_481").no_auto_answer().spawn();
    let started = Instant::now();
    let a_side = rig
        .uac("uac_wait_bye")
        .timeout_secs(20)
        .inject(&[&[A, X]])
        .run_ok();
    let took = started.elapsed();
    // B also gets the BYE (its scenario waits for it).
    let b_side = b_side.finish_ok(SETTLE);
    assert_bye_because(&a_side, 102, 7506);
    assert_bye_because(&b_side, 102, 7506);
    assert!(took < Duration::from_secs(6), "released after {took:?}");
    // What B got is its own dialog: the probe carries B's Call-ID and tags, nothing of A.
    let probe = b_side.first_request("OPTIONS");
    let invite = b_side.first_request("INVITE");
    assert_eq!(
        probe.header("Call-ID"),
        invite.header("Call-ID"),
        "{}",
        probe.text
    );
    pn_e2e::sipp::assert_absent(&probe.text, pn_e2e::sipp::national_digits(A), "B's probe");
    let (code, cdr) = ended_call(&rig);
    assert_eq!(code, Some(7506));
    assert_eq!(cdr["ulFailReason"], 7506, "{cdr}");
}

#[test]
fn caller_answering_481_to_the_probe_is_released_with_7505() {
    let rig = bypass_rig(&[("PNSWITCH__SIP__B2BUA__DIALOG_PROBE_SECS", "1")]);
    // B answers its probes (200, SIPp's -aa) and waits for the BYE.
    let b_side = rig.uas("uas_answer").timeout_secs(20).spawn();
    let a_side = rig
        .uac("uac_options_481")
        .no_auto_answer()
        .timeout_secs(20)
        .inject(&[&[A, X]])
        .run_ok();
    let b_side = b_side.finish_ok(SETTLE);
    assert_bye_because(&b_side, 102, 7505);
    assert_bye_because(&a_side, 102, 7505);
    let (code, cdr) = ended_call(&rig);
    assert_eq!(code, Some(7505));
    assert_eq!(cdr["ulFailReason"], 7505, "{cdr}");
}

#[test]
fn parties_that_answer_the_probes_keep_their_call() {
    let rig = bypass_rig(&[("PNSWITCH__SIP__B2BUA__DIALOG_PROBE_SECS", "1")]);
    let b_side = rig.uas("uas_answer").timeout_secs(20).spawn();
    // A keeps the call 3.5 s (three probes), then hangs up.
    let a_side = rig
        .uac("uac_basic")
        .pause_ms(3500)
        .timeout_secs(20)
        .inject(&[&[A, X]])
        .run_ok();
    let b_side = b_side.finish_ok(SETTLE);
    for (who, run) in [("A", &a_side), ("B", &b_side)] {
        let probes = run.received_requests("OPTIONS");
        assert!(
            probes.len() >= 2,
            "{who} got {} probe(s) in 3.5 s:\n{}",
            probes.len(),
            run.received_text()
        );
    }
    let (code, cdr) = ended_call(&rig);
    assert_eq!(code, Some(0), "{cdr}");
    assert_eq!(cdr["ulFailReason"], 0, "{cdr}");
}

#[test]
fn calls_without_max_duration_end_at_the_configured_maximum() {
    // No probes here: only the default maximum call duration can end this call.
    let rig = bypass_rig(&[
        ("PNSWITCH__SIP__B2BUA__DIALOG_PROBE_SECS", "0"),
        ("PNSWITCH__SIP__B2BUA__MAX_CALL_SECS", "2"),
    ]);
    let b_side = rig.uas("uas_answer").timeout_secs(20).spawn();
    let started = Instant::now();
    let a_side = rig
        .uac("uac_wait_bye")
        .timeout_secs(20)
        .inject(&[&[A, X]])
        .run_ok();
    let took = started.elapsed();
    let b_side = b_side.finish_ok(SETTLE);
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_secs(8),
        "a 2 s maximum ended the call after {took:?}"
    );
    assert_bye_because(&a_side, 16, 8010);
    assert_bye_because(&b_side, 16, 8010);
    assert!(a_side.received_requests("OPTIONS").is_empty());
    let (code, cdr) = ended_call(&rig);
    assert_eq!(code, Some(8010));
    assert_eq!(cdr["ulFailReason"], 8010, "{cdr}");
}
