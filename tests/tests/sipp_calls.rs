//! Real SIP calls through the real binary: a `SIPp` UAC plays the ingress trunk (A or B calling X), a `SIPp` UAS
//! plays the egress trunk (the party the switch calls). One test per path of issue 3: AXB both ways, a direction
//! violation, AX with and without a temporary callee, AXYB both ways, a fixed-line caller, no binding, CANCEL
//! before answer, callee busy, no answer, BYE from each side, re-INVITE and max duration. Each test provisions
//! through the admin and signed provisioning APIs, then asserts on what each side sent and received.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test: failing loudly is the point
#![allow(clippy::similar_names)] // caller/callee, uac/uas are the domain's names

use std::time::{Duration, Instant};

use pn_e2e::sipp::{
    AX_CALLEE_PATH, AX_PATH, AXYB_PATH, Rig, SippRun, Traced, national_digits, ok, reason, user_of,
};
use reqwest::Method;
use serde_json::json;

const A: &str = "+8613800000001";
const B: &str = "+8613900000002";
const C: &str = "+8613700000003";
const X: &str = "+8617000000001";
const Y: &str = "+8617000000002";
/// A Shenzhen fixed line.
const FIXED: &str = "+8675582345678";

/// How long a UAS may take to finish after its UAC did.
const SETTLE: Duration = Duration::from_secs(10);

/// Asserts what B received as the new call: Request-URI and To are `callee`, From is `display`, and the other
/// party's number (`hidden`) appears nowhere.
fn assert_b_leg(b_side: &SippRun, callee: &str, display: &str, hidden: &str) {
    let invite = b_side.first_request("INVITE");
    let ruri = invite.start_line().split(' ').nth(1).unwrap_or("");
    assert!(
        user_of(ruri).ends_with(national_digits(callee)),
        "Request-URI is not {callee}:\n{}",
        invite.text
    );
    let to = invite.header("To").unwrap_or_default();
    assert!(
        user_of(&to).ends_with(national_digits(callee)),
        "To is not {callee}:\n{}",
        invite.text
    );
    let from = invite.header("From").unwrap_or_default();
    assert!(
        user_of(&from).ends_with(national_digits(display)),
        "From is not the display number {display}:\n{}",
        invite.text
    );
    pn_e2e::sipp::assert_absent(
        &b_side.received_text(),
        national_digits(hidden),
        "what B received",
    );
}

/// A call from `caller` to `called` that the switch must refuse with `status` and a Reason carrying `cause`;
/// nothing may reach the egress trunk.
fn assert_rejected(rig: &Rig, caller: &str, called: &str, status: u16, cause: &str) {
    let b_side = rig.uas("uas_answer").spawn();
    let a_side = rig.uac("uac_expect_reject").inject(&[&[caller, called]]).run_ok();
    let b_side = b_side.stop();
    let fin = a_side.final_invite_response();
    assert_eq!(fin.status(), Some(status), "{}", fin.text);
    let why = reason(&fin);
    assert!(why.contains(cause), "Reason lacks {cause}: {why:?}\n{}", fin.text);
    assert!(
        why.to_ascii_lowercase().contains("q.850"),
        "Reason lacks the Q.850 cause: {why:?}"
    );
    assert!(
        b_side.received().is_empty(),
        "a refused call reached the egress trunk:\n{}",
        b_side.received_text()
    );
}

/// An AXB rig with X bound to A ↔ B (plus `extra` bind fields).
fn axb_rig(extra: &serde_json::Value, env: &[(&str, &str)]) -> Rig {
    let rig = Rig::start(env);
    let app = rig.switch.app_with_numbers("AXB", &[X]);
    rig.switch.bind_axb(&app, X, A, B, extra);
    rig
}

#[test]
fn axb_a_calls_x_reaches_b_from_x() {
    let rig = axb_rig(&json!({}), &[]);
    let b_side = rig.uas("uas_answer").spawn();
    let a_side = rig.uac("uac_basic").pause_ms(200).inject(&[&[A, X]]).run_ok();
    let b_side = b_side.finish_ok(SETTLE);
    assert_b_leg(&b_side, B, X, A);
    assert_eq!(a_side.final_invite_response().status(), Some(200));
    pn_e2e::sipp::assert_absent(&a_side.received_text(), national_digits(B), "what A received");
}

#[test]
fn axb_b_calls_x_reaches_a_from_x() {
    let rig = axb_rig(&json!({}), &[]);
    let b_side = rig.uas("uas_answer").spawn();
    let a_side = rig.uac("uac_basic").pause_ms(200).inject(&[&[B, X]]).run_ok();
    let a_leg = b_side.finish_ok(SETTLE);
    // Here B is the caller: the callee the switch calls is A.
    assert_b_leg(&a_leg, A, X, B);
    pn_e2e::sipp::assert_absent(&a_side.received_text(), national_digits(A), "what B received");
}

#[test]
fn axb_direction_violation_is_403_8016() {
    // callDirection 1: only A (callerNum) may call B through X.
    let rig = axb_rig(&json!({"callDirection": 1}), &[]);
    assert_rejected(&rig, B, X, 403, "8016");
}

#[test]
fn fixed_line_caller_is_403_8023() {
    let rig = Rig::start(&[]);
    let app = rig.switch.app_with_numbers("AXB", &[X]);
    rig.switch.bind_axb(&app, X, FIXED, B, &json!({}));
    assert_rejected(&rig, FIXED, X, 403, "8023");
}

#[test]
fn no_binding_is_404_8014() {
    let rig = axb_rig(&json!({}), &[]);
    // C is bound to nothing on X.
    assert_rejected(&rig, C, X, 404, "8014");
}

#[test]
fn ax_with_temporary_callee_reaches_it_from_x() {
    let rig = Rig::start(&[]);
    let app = rig.switch.app_with_numbers("AX", &[X]);
    ok(&rig.switch.signed(
        Method::POST,
        AX_PATH,
        &app,
        Some(&json!({"origNum": A, "privateNum": X, "calleeNumDisplay": "0"})),
    ));
    ok(&rig.switch.signed(
        Method::PUT,
        AX_CALLEE_PATH,
        &app,
        Some(&json!({"privateNum": X, "calleeNum": B, "duration": 600})),
    ));
    let b_side = rig.uas("uas_answer").spawn();
    rig.uac("uac_basic").pause_ms(200).inject(&[&[A, X]]).run_ok();
    let b_side = b_side.finish_ok(SETTLE);
    assert_b_leg(&b_side, B, X, A);
}

#[test]
fn ax_without_temporary_callee_is_refused_8013() {
    let rig = Rig::start(&[]);
    let app = rig.switch.app_with_numbers("AX", &[X]);
    ok(&rig.switch.signed(
        Method::POST,
        AX_PATH,
        &app,
        Some(&json!({"origNum": A, "privateNum": X, "calleeNumDisplay": "0"})),
    ));
    let b_side = rig.uas("uas_answer").spawn();
    let a_side = rig.uac("uac_expect_reject").inject(&[&[A, X]]).run_ok();
    let b_side = b_side.stop();
    let fin = a_side.final_invite_response();
    assert!(
        fin.status().is_some_and(|s| (400..700).contains(&s)),
        "{}",
        fin.text
    );
    assert!(reason(&fin).contains("8013"), "{}", fin.text);
    assert!(b_side.received().is_empty(), "{}", b_side.received_text());
}

#[test]
fn ax_anyone_calling_x_reaches_a() {
    let rig = Rig::start(&[]);
    let app = rig.switch.app_with_numbers("AX", &[X]);
    ok(&rig.switch.signed(
        Method::POST,
        AX_PATH,
        &app,
        Some(&json!({"origNum": A, "privateNum": X, "calleeNumDisplay": "0"})),
    ));
    let b_side = rig.uas("uas_answer").spawn();
    rig.uac("uac_basic").pause_ms(200).inject(&[&[C, X]]).run_ok();
    let a_leg = b_side.finish_ok(SETTLE);
    assert_b_leg(&a_leg, A, X, C);
}

/// An AXYB rig: A bound to X, with a Y–B relation; returns (rig, Y).
fn axyb_rig() -> (Rig, String) {
    let rig = Rig::start(&[]);
    let app = rig.switch.app_with_numbers("AXYB", &[X, Y]);
    let bound = rig.switch.signed(
        Method::POST,
        AXYB_PATH,
        &app,
        Some(&json!({"origNum": A, "relationNum": X, "calleeNum": B})),
    );
    let y = ok(&bound)["numY"].as_str().expect("numY").to_owned();
    (rig, y)
}

#[test]
fn axyb_a_calls_y_reaches_b_from_x() {
    let (rig, y) = axyb_rig();
    let b_side = rig.uas("uas_answer").spawn();
    rig.uac("uac_basic")
        .pause_ms(200)
        .inject(&[&[A, y.as_str()]])
        .run_ok();
    let b_side = b_side.finish_ok(SETTLE);
    assert_b_leg(&b_side, B, X, A);
}

#[test]
fn axyb_b_calls_x_reaches_a_from_y() {
    let (rig, y) = axyb_rig();
    let b_side = rig.uas("uas_answer").spawn();
    rig.uac("uac_basic").pause_ms(200).inject(&[&[B, X]]).run_ok();
    let a_leg = b_side.finish_ok(SETTLE);
    assert_b_leg(&a_leg, A, &y, B);
}

#[test]
fn cancel_before_answer_reaches_b_and_a_gets_487() {
    let rig = axb_rig(&json!({}), &[]);
    let b_side = rig.uas("uas_noanswer").spawn();
    let a_side = rig.uac("uac_cancel").inject(&[&[A, X]]).run_ok();
    let b_side = b_side.finish_ok(SETTLE);
    assert_eq!(a_side.final_invite_response().status(), Some(487));
    assert_eq!(
        b_side.received_requests("CANCEL").len(),
        1,
        "{}",
        b_side.received_text()
    );
    assert!(
        a_side.received_statuses().contains(&180),
        "A did not hear B ringing: {:?}",
        a_side.received_statuses()
    );
}

#[test]
fn callee_busy_is_486_at_a() {
    let rig = axb_rig(&json!({}), &[]);
    let b_side = rig.uas("uas_busy").spawn();
    let a_side = rig.uac("uac_expect_reject").inject(&[&[A, X]]).run_ok();
    let b_side = b_side.finish_ok(SETTLE);
    assert_eq!(a_side.final_invite_response().status(), Some(486));
    assert_eq!(
        b_side.received_requests("ACK").len(),
        1,
        "B's 486 was not acknowledged"
    );
}

#[test]
fn no_answer_times_out_with_8035_and_cancels_b() {
    let rig = axb_rig(&json!({}), &[("PNSWITCH__SIP__B2BUA__FORWARD_TIMEOUT_SECS", "3")]);
    let b_side = rig.uas("uas_noanswer").spawn();
    let started = Instant::now();
    let a_side = rig
        .uac("uac_expect_reject")
        .timeout_secs(20)
        .inject(&[&[A, X]])
        .run_ok();
    let took = started.elapsed();
    let b_side = b_side.finish_ok(SETTLE);
    let fin = a_side.final_invite_response();
    assert!(
        fin.status().is_some_and(|s| (400..700).contains(&s)),
        "{}",
        fin.text
    );
    assert!(reason(&fin).contains("8035"), "{}", fin.text);
    assert!(
        took >= Duration::from_millis(2500) && took < Duration::from_secs(12),
        "forward timeout of 3 s took {took:?}"
    );
    assert_eq!(
        b_side.received_requests("CANCEL").len(),
        1,
        "{}",
        b_side.received_text()
    );
}

#[test]
fn bye_from_caller_reaches_callee() {
    let rig = axb_rig(&json!({}), &[]);
    let b_side = rig.uas("uas_answer").spawn();
    rig.uac("uac_basic").pause_ms(300).inject(&[&[A, X]]).run_ok();
    let b_side = b_side.finish_ok(SETTLE);
    let bye = b_side.first_request("BYE");
    let invite = b_side.first_request("INVITE");
    assert_eq!(bye.header("Call-ID"), invite.header("Call-ID"), "{}", bye.text);
    pn_e2e::sipp::assert_absent(&bye.text, national_digits(A), "B's BYE");
}

#[test]
fn bye_from_callee_reaches_caller() {
    let rig = axb_rig(&json!({}), &[]);
    let b_side = rig.uas("uas_bye").pause_ms(300).spawn();
    let a_side = rig.uac("uac_wait_bye").inject(&[&[A, X]]).run_ok();
    b_side.finish_ok(SETTLE);
    let bye = a_side.first_request("BYE");
    assert!(
        user_of(&bye.header("From").unwrap_or_default()).ends_with(national_digits(X)),
        "A's BYE is not from X:\n{}",
        bye.text
    );
    pn_e2e::sipp::assert_absent(&a_side.received_text(), national_digits(B), "what A received");
}

#[test]
fn reinvite_is_relayed_within_the_call() {
    let rig = axb_rig(&json!({}), &[]);
    let b_side = rig.uas("uas_reinvite").spawn();
    let a_side = rig.uac("uac_reinvite").inject(&[&[A, X]]).run_ok();
    let b_side = b_side.finish_ok(SETTLE);
    let invites = b_side.received_requests("INVITE");
    assert_eq!(invites.len(), 2, "{}", b_side.received_text());
    assert_eq!(invites[0].header("Call-ID"), invites[1].header("Call-ID"));
    assert!(
        invites[1].body().contains("a=sendonly"),
        "the re-INVITE's offer was not relayed:\n{}",
        invites[1].text
    );
    // A got the answer of B's 200 to the re-INVITE (recvonly).
    let answers: Vec<Traced> = a_side
        .received()
        .into_iter()
        .filter(|m| m.status() == Some(200) && m.cseq_method().as_deref() == Some("INVITE"))
        .collect();
    assert!(
        answers.iter().any(|m| m.body().contains("a=recvonly")),
        "B's answer to the re-INVITE did not reach A:\n{}",
        a_side.received_text()
    );
}

/// `maxDuration` is in minutes (1 is the smallest non-zero value) and the switch has no test override, so
/// this test waits a real minute. (That the BYEs carry cause 8010 in a Reason header is checked in
/// `sipp_pending.rs`.)
#[test]
fn max_duration_reached_hangs_up_both_legs() {
    let (a_side, b_side, took) = max_duration_call();
    assert!(
        took >= Duration::from_secs(59) && took < Duration::from_secs(80),
        "a 1-minute max duration ended the call after {took:?}"
    );
    let to_a = a_side.first_request("BYE");
    let to_b = b_side.first_request("BYE");
    assert!(
        user_of(&to_a.header("From").unwrap_or_default()).ends_with(national_digits(X)),
        "A's BYE is not from X:\n{}",
        to_a.text
    );
    pn_e2e::sipp::assert_absent(&to_a.text, national_digits(B), "A's BYE");
    pn_e2e::sipp::assert_absent(&to_b.text, national_digits(A), "B's BYE");
    // Both BYEs say why: the reference's stateCode 8010 in a Q.850 Reason.
    for (side, bye) in [("A", &to_a), ("B", &to_b)] {
        let reason = bye.headers("Reason").join(" | ");
        assert!(
            reason.contains("Q.850") && reason.contains("8010"),
            "the max-duration BYE to {side} has no Reason with cause 8010:\n{}",
            bye.text
        );
    }
}

/// An AXB call with `maxDuration` 1 (minute) that both sides keep up until the switch hangs up; returns both
/// runs and how long the caller's side took.
fn max_duration_call() -> (SippRun, SippRun, Duration) {
    // These SIPp scenarios send no RTP: the relay's dead-media release (60 s by default) would race the
    // max-duration release, so it is pushed out of the way.
    let rig = axb_rig(
        &json!({"maxDuration": 1}),
        &[("PNSWITCH__MEDIA__TIMEOUT_SECS", "300")],
    );
    let b_side = rig.uas("uas_answer").timeout_secs(120).spawn();
    let started = Instant::now();
    let a_side = rig
        .uac("uac_wait_bye")
        .timeout_secs(100)
        .inject(&[&[A, X]])
        .run_ok();
    let took = started.elapsed();
    let b_side = b_side.finish_ok(SETTLE);
    (a_side, b_side, took)
}

/// RFC 3262 end to end: A offers 100rel, B answers with a reliable 180 (`RSeq` 1). A gets its own reliable
/// 180 (Require: 100rel, an `RSeq` of A's dialog) and acknowledges it with a PRACK; the switch relays a fresh
/// PRACK to B with B's `RSeq` in `RAck` (`uas_100rel` checks `RAck: 1 1 INVITE`), B's 200 to the PRACK comes
/// back to A, then the call is answered and released normally. (RFC 4028 session expiry is only unit-tested:
/// RFC 4028 forbids intervals under 90 s.)
#[test]
fn axb_100rel_call_prack_relayed() {
    let rig = axb_rig(&json!({}), &[]);
    let b_side = rig.uas("uas_100rel").spawn();
    let a_side = rig.uac("uac_100rel").pause_ms(200).inject(&[&[A, X]]).run_ok();
    let b_side = b_side.finish_ok(SETTLE);
    assert_b_leg(&b_side, B, X, A);
    // B was offered 100rel on the fresh INVITE and got a PRACK on its own dialog.
    let invite = b_side.first_request("INVITE");
    assert!(
        invite.headers("Supported").iter().any(|s| s.contains("100rel")),
        "the B-leg INVITE does not offer 100rel:\n{}",
        invite.text
    );
    let prack = b_side.first_request("PRACK");
    assert_eq!(
        prack.header("RAck").as_deref(),
        Some("1 1 INVITE"),
        "{}",
        prack.text
    );
    assert_eq!(
        prack.header("Call-ID"),
        invite.header("Call-ID"),
        "{}",
        prack.text
    );
    // A got a reliable 180 with its own RSeq, a 200 for its PRACK and the 200 for the INVITE.
    let received = a_side.received();
    let ringing = received
        .iter()
        .find(|m| m.status() == Some(180))
        .unwrap_or_else(|| panic!("no 180 at A:\n{}", a_side.received_text()));
    assert!(
        ringing.headers("Require").iter().any(|r| r.contains("100rel")),
        "A's 180 is not reliable:\n{}",
        ringing.text
    );
    let rseq: u32 = ringing.header("RSeq").and_then(|r| r.parse().ok()).unwrap_or(0);
    assert!(rseq >= 1, "A's 180 has no RSeq:\n{}", ringing.text);
    assert!(
        received
            .iter()
            .any(|m| m.status() == Some(200) && m.cseq_method().as_deref() == Some("PRACK")),
        "A's PRACK was not answered 200:\n{}",
        a_side.received_text()
    );
    assert_eq!(a_side.final_invite_response().status(), Some(200));
    pn_e2e::sipp::assert_absent(&a_side.received_text(), national_digits(B), "what A received");
}
