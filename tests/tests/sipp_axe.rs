//! AXE calls through the real binary with media relayed (the default): a `SIPp` UAC dials X without an
//! extension, gets the switch's early media (183 with its SDP) and keys the extension — by RFC 4733
//! telephone-event RTP (`SIPp` replays Debian's `dtmf_2833_*.pcap` files) or by SIP INFO on the early dialog;
//! the switch then calls A (a `SIPp` UAS) from X. Also: a wrong extension (invalid-extension prompt, then
//! 8022, or a second attempt), no digits at all (484 with 8033), the caller hanging up during collection
//! (7516), and A dialing X without an extension (the last caller, or 8019 without a callback record). Each test provisions through the admin and signed provisioning APIs and reads
//! the call facts from the switch's outbox.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test: failing loudly is the point
#![allow(clippy::similar_names)] // caller/callee, uac/uas are the domain's names

use std::time::{Duration, Instant};

use pn_e2e::axe::{
    Fact, axe_app, bind_axe, disconnect_code, disconnect_codes, show, start_rig, update_app, wait_for_fact,
    wait_for_outbox,
};
use pn_e2e::sipp::{Rig, SippRun, Traced, assert_refused, national_digits, user_of};
use serde_json::json;

/// A: the bound number.
const A: &str = "+8613800000001";
/// C: a caller who knows X and A's extension.
const C: &str = "+8613700000003";
/// X: the AXE number.
const X: &str = "+8617000000001";
/// A's extension (the app's default 4 digits; `uac_axe_rfc2833` keys exactly these).
const EXT: &str = "1234";

/// How long a UAS may take to finish after its UAC did.
const SETTLE: Duration = Duration::from_secs(10);

/// An AXE rig: X in an AXE app with `settings`, A bound to X with extension [`EXT`].
fn axe_rig(settings: &serde_json::Value) -> (Rig, (String, String)) {
    let rig = start_rig(&[]);
    let app = axe_app(&rig, &[X], settings);
    bind_axe(&rig, &app, A, X, EXT, &json!({}));
    (rig, app)
}

/// Asserts the caller got the switch's early media: a 183 whose SDP names the relay (not the caller's own
/// address) with one G.711 codec and telephone-event.
fn assert_early_media(a_side: &SippRun) {
    let early = a_side
        .received()
        .into_iter()
        .find(|m| m.status() == Some(183))
        .unwrap_or_else(|| panic!("no 183 at the caller:\n{}", a_side.diagnostics()));
    let sdp = early.body();
    assert!(
        sdp.contains("o=pnswitch "),
        "the 183's SDP is not the switch's:\n{}",
        early.text
    );
    assert!(
        sdp.contains("a=rtpmap:8 PCMA/8000") && sdp.contains("telephone-event/8000"),
        "the 183 does not offer PCMA + telephone-event:\n{}",
        early.text
    );
}

/// Asserts A was called from X (Request-URI and To = A, From = X) with an offer cut down to PCMA and
/// telephone-event, and that C's number reached A nowhere.
fn assert_a_called_from_x(a_leg: &SippRun, callee: &str, hidden: &str) {
    let invite = a_leg.first_request("INVITE");
    let ruri = invite.start_line().split(' ').nth(1).unwrap_or("");
    assert!(
        user_of(ruri).ends_with(national_digits(callee)),
        "Request-URI is not {callee}:\n{}",
        invite.text
    );
    let from = invite.header("From").unwrap_or_default();
    assert!(
        user_of(&from).ends_with(national_digits(X)),
        "From is not X:\n{}",
        invite.text
    );
    pn_e2e::sipp::assert_absent(&a_leg.received_text(), national_digits(hidden), "what A received");
}

/// The outbox once the call's `disconnect` is in it, and the `collectInfo` events in it.
fn facts_after_call(rig: &Rig) -> (Vec<Fact>, Vec<Fact>) {
    let facts = wait_for_fact(&rig.switch.data_dir, "a disconnect event", |f| {
        f.event_type() == Some("disconnect")
    });
    let collected = facts
        .iter()
        .filter(|f| f.event_type() == Some("collectInfo"))
        .cloned()
        .collect();
    (facts, collected)
}

/// Asserts a successful AXE call's facts: one `collectInfo` with `digitInfo` = [`EXT`], a normal end.
fn assert_collected_ext(rig: &Rig) {
    let (facts, collected) = facts_after_call(rig);
    assert_eq!(collected.len(), 1, "{}", show(&facts));
    assert_eq!(
        collected[0].status_info()["digitInfo"].as_str(),
        Some(EXT),
        "{}",
        show(&facts)
    );
    assert_eq!(disconnect_code(&facts), Some(0), "{}", show(&facts));
}

#[test]
fn axe_extension_by_sip_info_reaches_a_from_x() {
    let (rig, _app) = axe_rig(&json!({}));
    let a_leg = rig.uas("uas_axe_answer").spawn();
    let keys: Vec<String> = EXT.chars().map(String::from).collect();
    let row = [C, X, &keys[0], &keys[1], &keys[2], &keys[3]];
    let c_side = rig.uac("uac_axe_info").pause_ms(300).inject(&[&row]).run_ok();
    let a_leg = a_leg.finish_ok(SETTLE);
    assert_early_media(&c_side);
    assert_eq!(c_side.final_invite_response().status(), Some(200));
    // Every INFO was answered 200 on the early dialog.
    let info_ok = c_side
        .received()
        .iter()
        .filter(|m| m.status() == Some(200) && m.cseq_method().as_deref() == Some("INFO"))
        .count();
    assert_eq!(info_ok, 4, "{}", c_side.received_text());
    assert_a_called_from_x(&a_leg, A, C);
    let offer = a_leg.first_request("INVITE");
    assert!(
        offer.body().contains("RTP/AVP 8 101"),
        "A's offer is not restricted to the codec C hears (+ telephone-event):\n{}",
        offer.text
    );
    pn_e2e::sipp::assert_absent(&c_side.received_text(), national_digits(A), "what C received");
    assert_collected_ext(&rig);
}

/// The app's `answerBeforeCollect`: the switch answers C itself (200 with its SDP, no 183), C keys the
/// extension by INFO in the confirmed dialog, the switch reaches A (whose responses and 200 stay on the B
/// leg: C sees no further response), then C's BYE reaches A.
#[test]
fn axe_answer_before_collect_answers_the_caller_first() {
    let (rig, _app) = axe_rig(&json!({"answerBeforeCollect": true}));
    let a_leg = rig.uas("uas_axe_answer").spawn();
    let keys: Vec<String> = EXT.chars().map(String::from).collect();
    let row = [C, X, &keys[0], &keys[1], &keys[2], &keys[3]];
    let c_side = rig
        .uac("uac_axe_answer_first")
        .pause_ms(1500)
        .inject(&[&row])
        .run_ok();
    let a_leg = a_leg.finish_ok(SETTLE);
    let answer = c_side.final_invite_response();
    assert_eq!(answer.status(), Some(200), "{}", answer.text);
    assert!(
        answer.body().contains("RTP/AVP 8"),
        "the switch's SDP:\n{}",
        answer.text
    );
    let statuses: Vec<_> = c_side
        .received()
        .iter()
        .filter(|m| m.cseq_method().as_deref() == Some("INVITE"))
        .filter_map(Traced::status)
        .collect();
    assert!(
        statuses.iter().all(|s| *s == 100 || *s == 200),
        "C saw a response of the B leg: {statuses:?}\n{}",
        c_side.received_text()
    );
    assert_a_called_from_x(&a_leg, A, C);
    pn_e2e::sipp::assert_absent(&c_side.received_text(), national_digits(A), "what C received");
    assert_collected_ext(&rig);
}

#[test]
fn axe_extension_by_rfc2833_reaches_a_from_x() {
    let (rig, _app) = axe_rig(&json!({}));
    let a_leg = rig.uas("uas_axe_answer").spawn();
    let c_side = rig
        .uac("uac_axe_rfc2833")
        .pause_ms(300)
        .inject(&[&[C, X]])
        .run_ok();
    let a_leg = a_leg.finish_ok(SETTLE);
    assert_early_media(&c_side);
    assert_eq!(c_side.final_invite_response().status(), Some(200));
    assert_a_called_from_x(&a_leg, A, C);
    pn_e2e::sipp::assert_absent(&c_side.received_text(), national_digits(A), "what C received");
    assert_collected_ext(&rig);
}

/// collectRepeat 1 (changed on the app through the admin API): keys 9, 8, # by RFC 4733 (the terminator ends
/// the extension early: the inter-digit timeout is 30 s); "98" routes nowhere, so the caller hears the invalid-extension prompt, then
/// is refused with the decision's cause, 8022 (404). Nothing reaches A.
#[test]
fn axe_wrong_extension_is_refused_with_8022_after_the_prompt() {
    let (rig, app) = axe_rig(&json!({}));
    // A 30 s inter-digit timeout: only the terminator can end "98" in time.
    let updated = update_app(
        &rig,
        &app,
        &json!({"collectRepeat": 1, "interDigitTimeoutMs": 30_000}),
    );
    assert_eq!(updated["collectRepeat"], 1, "{updated}");
    let a_leg = rig.uas("uas_axe_answer").spawn();
    let started = Instant::now();
    let c_side = rig.uac("uac_axe_rfc2833_wrong").inject(&[&[C, X]]).run_ok();
    let took = started.elapsed();
    let a_leg = a_leg.stop();
    assert_early_media(&c_side);
    assert_refused(&c_side, 404, "8022");
    // The invalid-extension prompt (about 4 s) played before the refusal, and # ended the extension.
    assert!(
        took >= Duration::from_secs(4) && took < Duration::from_secs(20),
        "refused after {took:?}: no prompt first, or # did not end the extension?"
    );
    assert!(
        a_leg.received().is_empty(),
        "a wrong extension reached A:\n{}",
        a_leg.received_text()
    );
    let (facts, collected) = facts_after_call(&rig);
    assert_eq!(collected.len(), 1, "{}", show(&facts));
    assert_eq!(
        collected[0].status_info()["digitInfo"].as_str(),
        Some("98"),
        "{}",
        show(&facts)
    );
    assert_eq!(disconnect_code(&facts), Some(8022), "{}", show(&facts));
}

/// No key at all: firstDigitTimeoutMs 1000 and collectRepeat 1; the timer starts when the extension prompt
/// (about 4 s) ends, then the caller is refused with 484 and 8033.
#[test]
fn axe_no_digits_times_out_with_484_8033() {
    let (rig, _app) = axe_rig(&json!({"collectRepeat": 1, "firstDigitTimeoutMs": 1000}));
    let a_leg = rig.uas("uas_axe_answer").spawn();
    let started = Instant::now();
    let c_side = rig.uac("uac_expect_reject").inject(&[&[C, X]]).run_ok();
    let took = started.elapsed();
    let a_leg = a_leg.stop();
    assert!(
        c_side.received_statuses().contains(&183),
        "no early media before the timeout: {:?}",
        c_side.received_statuses()
    );
    assert_refused(&c_side, 484, "8033");
    assert!(
        took >= Duration::from_secs(5) && took < Duration::from_secs(20),
        "prompt (about 4 s) + first-digit timeout (1 s) took {took:?}"
    );
    assert!(a_leg.received().is_empty(), "{}", a_leg.received_text());
    let (facts, collected) = facts_after_call(&rig);
    assert_eq!(collected.len(), 1, "{}", show(&facts));
    assert_eq!(
        collected[0].status_info()["digitInfo"].as_str(),
        Some(""),
        "{}",
        show(&facts)
    );
    assert_eq!(disconnect_code(&facts), Some(8033), "{}", show(&facts));
}

/// Waits until the route trace says A dialing X reaches `callee` (the callback record is stored
/// asynchronously after the call that created it was placed).
fn wait_for_callback(rig: &Rig, callee: &str) {
    let path = format!(
        "/admin/v1/route?caller={}&called={}",
        A.replace('+', "%2B"),
        X.replace('+', "%2B")
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, t) = rig.switch.admin(reqwest::Method::GET, &path, None);
        assert_eq!(status, 200, "{t}");
        if t["callee"].as_str() == Some(callee) {
            return;
        }
        assert!(Instant::now() < deadline, "A→X never routes to {callee}: {t}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A dials its own X without an extension. Without a callback record (the binding has no callbackNum /
/// callbackTone: release) it is refused with 8019 (404). Once C has reached A through X + extension, A
/// dialing X reaches C, from X, without any prompt or digit collection.
#[test]
fn axe_a_dialing_x_calls_back_the_last_caller() {
    let (rig, _app) = axe_rig(&json!({}));

    // No callback record yet: 8019.
    let a_leg = rig.uas("uas_axe_answer").spawn();
    let a_side = rig.uac("uac_expect_reject").inject(&[&[A, X]]).run_ok();
    let a_leg = a_leg.stop();
    assert_refused(&a_side, 404, "8019");
    assert!(a_leg.received().is_empty(), "{}", a_leg.received_text());
    assert!(
        !a_side.received_statuses().contains(&183),
        "A dialing X was given early media: {:?}",
        a_side.received_statuses()
    );

    // C calls X + A's extension (SIP INFO) and reaches A.
    let a_leg = rig.uas("uas_axe_answer").spawn();
    let keys: Vec<String> = EXT.chars().map(String::from).collect();
    let row = [C, X, &keys[0], &keys[1], &keys[2], &keys[3]];
    rig.uac("uac_axe_info").pause_ms(200).inject(&[&row]).run_ok();
    let a_leg = a_leg.finish_ok(SETTLE);
    assert_a_called_from_x(&a_leg, A, C);
    wait_for_callback(&rig, C);

    // A dials X: the switch calls C back, from X.
    let c_leg = rig.uas("uas_answer").spawn();
    let a_side = rig.uac("uac_basic").pause_ms(200).inject(&[&[A, X]]).run_ok();
    let c_leg = c_leg.finish_ok(SETTLE);
    assert_eq!(a_side.final_invite_response().status(), Some(200));
    assert!(
        !a_side.received_statuses().contains(&183),
        "the callback collected digits: {:?}",
        a_side.received_statuses()
    );
    assert_a_called_from_x(&c_leg, C, A);
    pn_e2e::sipp::assert_absent(&a_side.received_text(), national_digits(C), "what A received");

    let facts = wait_for_outbox(&rig.switch.data_dir, "three disconnect events", |f| {
        disconnect_codes(f).len() >= 3
    });
    assert_eq!(disconnect_codes(&facts), vec![8019, 0, 0], "{}", show(&facts));
}

/// The caller hangs up (CANCEL) while the switch plays the extension prompt: 487, nothing reaches A, and the
/// call ends with 7516 (caller left before the call was forwarded).
#[test]
fn axe_caller_hanging_up_during_collection_is_7516() {
    let (rig, _app) = axe_rig(&json!({}));
    let a_leg = rig.uas("uas_axe_answer").spawn();
    let c_side = rig
        .uac("uac_axe_cancel")
        .pause_ms(1000)
        .inject(&[&[C, X]])
        .run_ok();
    let a_leg = a_leg.stop();
    assert_early_media(&c_side);
    assert_eq!(c_side.final_invite_response().status(), Some(487));
    assert!(a_leg.received().is_empty(), "{}", a_leg.received_text());
    let facts = wait_for_fact(&rig.switch.data_dir, "a disconnect event", |f| {
        f.event_type() == Some("disconnect")
    });
    assert_eq!(disconnect_code(&facts), Some(7516), "{}", show(&facts));
    assert!(
        facts.iter().all(|f| f.event_type() != Some("collectInfo")),
        "digits reported for a call that keyed none:\n{}",
        show(&facts)
    );
}

/// collectRepeat 2: a wrong extension (9999) gets the invalid-extension prompt and, an attempt being left,
/// the caller keys again (barging in); the right extension then reaches A. Both attempts are reported.
#[test]
fn axe_wrong_extension_then_right_one_on_the_second_attempt() {
    let (rig, _app) = axe_rig(&json!({"collectRepeat": 2}));
    let a_leg = rig.uas("uas_axe_answer").spawn();
    let mut row = vec![C.to_owned(), X.to_owned()];
    row.extend("9999".chars().chain(EXT.chars()).map(String::from));
    let c_side = rig
        .uac("uac_axe_info_retry")
        .pause_ms(300)
        .inject(&[&row])
        .run_ok();
    let a_leg = a_leg.finish_ok(SETTLE);
    assert_eq!(c_side.final_invite_response().status(), Some(200));
    assert_a_called_from_x(&a_leg, A, C);
    let (facts, collected) = facts_after_call(&rig);
    let digits: Vec<&str> = collected
        .iter()
        .filter_map(|f| f.status_info()["digitInfo"].as_str())
        .collect();
    assert_eq!(digits, vec!["9999", EXT], "{}", show(&facts));
    assert_eq!(disconnect_code(&facts), Some(0), "{}", show(&facts));
}
