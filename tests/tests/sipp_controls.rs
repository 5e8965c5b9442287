//! Call controls through the real binary and `SIPp` (issue 11): an app's controls set over the admin API
//! apply to the next INVITE. A caller past its per-minute limit is refused with 8047, a blacklisted caller
//! with 7005: each as a SIP 403 whose `Reason` carries the Q.850 cause and the stateCode, nothing reaching the
//! egress trunk, and a disconnect event and a CDR with that cause in the outbox (what is pushed to the app).
//! In relay mode such a refusal first plays the app's no-permission prompt in early media (checked sample for
//! sample on an RTP socket the test owns). An international callee is refused with 8043 by the switch's
//! policy or the app's `internationalOut`, and connects once both allow it. Also: concurrent caps per X
//! (7003) and per app (7002), frequency limits on X (8049) and callees (8048) that pass again after their
//! window, the time window (8050, with a clock offset), callee blacklist (7004), prefix restriction (7500),
//! international callers (8042), the caller allow-list (7005), and a limit refusing with the control cause it
//! names (8057, 7001).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test: failing loudly is the point

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pn_e2e::axe::{Fact, show, start_rig, update_app, wait_for_outbox};
use pn_e2e::rtp::{RtpSink, alaw_tone, alaw_wav, assert_exactly, early_media, shipped_prompt, upload_prompt};
use pn_e2e::sipp::{Rig, ok, reason};
use reqwest::Method;
use serde_json::json;

const A: &str = "+8613800000001";
const B: &str = "+8613900000002";
const X: &str = "+8617000000001";

/// How long a UAS may take to finish after its UAC did.
const SETTLE: Duration = Duration::from_secs(10);

/// A refused call from `caller` to `x`: its final response must be `status` with a Q.850 Reason naming
/// `cause`, and nothing may reach B.
fn assert_refused(rig: &Rig, (caller, x): (&str, &str), status: u16, cause: &str) {
    let b_side = rig.uas("uas_answer").spawn();
    let a_side = rig.uac("uac_expect_reject").inject(&[&[caller, x]]).run_ok();
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
    assert_refused(&rig, (A, X), 403, "8047");
    // B is blacklisted.
    assert_refused(&rig, (B, X), 403, "7005");

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

/// A call from `caller` to `x` refused by the switch (no UAS involved): its final response.
fn refused_by_switch(rig: &Rig, caller: &str, x: &str, status: u16, cause: &str) {
    let a_side = rig.uac("uac_expect_reject").inject(&[&[caller, x]]).run_ok();
    let fin = a_side.final_invite_response();
    assert_eq!(fin.status(), Some(status), "{}", fin.text);
    let why = reason(&fin);
    assert!(
        why.to_ascii_lowercase().contains("q.850") && why.contains(cause),
        "Reason lacks Q.850 and {cause}: {why:?}\n{}",
        fin.text
    );
}

/// Waits for the start of the next fixed `secs`-second window of the clock (the counters' windows are aligned
/// to it): two calls made right after are counted in the same window, whatever the machine's load.
fn at_window_start(secs: u64) {
    let ms = u64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis()).unwrap();
    let into = ms % (secs * 1000);
    std::thread::sleep(Duration::from_millis(secs * 1000 - into + 100));
}

/// A limit of one call per 10 s on `key`: the first call from `caller` to `x` connects, the second in the same
/// window is refused with `cause`, and two windows later (the sliding window weighs the previous one in) the
/// next one connects again.
fn one_call_per_window_then_again(
    rig: &Rig,
    app: &(String, String),
    key: &str,
    (caller, x): (&str, &str),
    cause: &str,
) {
    set_controls(
        rig,
        app,
        &json!({"limits": [{"key": key, "windowSecs": 10, "max": 1}]}),
    );
    at_window_start(10);
    connects(rig, caller, x);
    refused_by_switch(rig, caller, x, 403, cause);
    at_window_start(10);
    at_window_start(10);
    connects(rig, caller, x);
}

/// One call from `caller` to `x` that connects (the UAS is the egress trunk for it).
fn connects(rig: &Rig, caller: &str, x: &str) {
    let b_side = rig.uas("uas_answer").spawn();
    rig.uac("uac_basic").inject(&[&[caller, x]]).run_ok();
    b_side.finish_ok(SETTLE);
}

fn set_controls(rig: &Rig, app: &(String, String), controls: &serde_json::Value) {
    ok(&rig.switch.admin(
        Method::PUT,
        &format!("/admin/v1/apps/{}/controls", app.0),
        Some(controls),
    ));
}

/// Concurrent-call caps, a frequency limit that passes again after its window, and the time window: each
/// refusal a 403 with its cause in `Reason` and its disconnect event and CDR; each rule passes again once
/// the call that held it ended, its window passed, or the allowed hours include now.
#[test]
fn a_capped_x_refuses_while_its_call_is_up_a_window_passes_again_and_hours_apply() {
    const X2: &str = "+8617000000002";
    const X3: &str = "+8617000000003";
    const A2: &str = "+8613800000022";
    const A3: &str = "+8613800000033";
    let rig = Rig::start(&[]);
    let app = rig.switch.app_with_numbers("AXB", &[X, X2, X3]);
    rig.switch.bind_axb(&app, X, A, B, &json!({}));
    rig.switch.bind_axb(&app, X2, A2, B, &json!({}));
    rig.switch.bind_axb(&app, X3, A3, B, &json!({}));

    // One call at a time through each X: while A's 6-second call is up, B's call to X is refused with 7003;
    // once it ended, B's next call connects.
    set_controls(&rig, &app, &json!({"concurrent": [{"scope": "x", "max": 1}]}));
    let b_side = rig.uas("uas_answer").calls(2).spawn();
    let long = rig.uac("uac_basic").pause_ms(6000).inject(&[&[A, X]]).spawn();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while rig.switch.metric("pn_sip_active_calls").unwrap_or(0.0) < 1.0 {
        assert!(std::time::Instant::now() < deadline, "A's call never came up");
        std::thread::sleep(Duration::from_millis(50));
    }
    // The route trace names the cap while the call is up.
    let trace = rig.switch.route(B, X);
    assert_eq!(trace["stateCode"], 7003, "{trace}");
    refused_by_switch(&rig, B, X, 403, "7003");
    let mut long = long;
    long.wait_for(Duration::from_secs(15)).assert_ok();
    rig.uac("uac_basic").inject(&[&[B, X]]).run_ok();
    let b_side = b_side.finish_ok(SETTLE);
    assert_eq!(
        b_side.received_requests("INVITE").len(),
        2,
        "only the two admitted calls reach B"
    );

    // One call per X2 in 10 s: the second in the same window is refused with 8049; two windows later (the
    // sliding window weighs the previous one in) it passes.
    one_call_per_window_then_again(&rig, &app, "x", (A2, X2), "8049");

    // Allowed hours in UTC+8 that exclude the current minute: 8050; hours around it: the call passes.
    let utc_minute = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() / 60 % 1440;
    let local = (utc_minute + 480) % 1440;
    let later = json!({"timeWindow": {"utcOffsetMinutes": 480, "fromMinute": (local + 60) % 1440,
                                      "toMinute": (local + 120) % 1440}});
    set_controls(&rig, &app, &later);
    refused_by_switch(&rig, A3, X3, 403, "8050");
    let now = json!({"timeWindow": {"utcOffsetMinutes": 480, "fromMinute": (local + 1440 - 30) % 1440,
                                    "toMinute": (local + 30) % 1440}});
    set_controls(&rig, &app, &now);
    connects(&rig, A3, X3);

    wait_for_outbox(&rig.switch.data_dir, "the refusals' events and CDRs", |facts| {
        ended_with(facts, B, 7003) && ended_with(facts, A2, 8049) && ended_with(facts, A3, 8050)
    });
}

/// The other rules on an AX app (anyone who dials X reaches A): a callee frequency limit (8048) that passes
/// again once its window is over, the callee blacklist (7004), a restricted callee prefix (7500), an
/// international caller refused by the app (8042, the operator allowing them), a caller allow-list (7005), and
/// a per-app concurrent-call cap (7002); each with its disconnect event and CDR.
#[test]
fn an_ax_app_refuses_by_callee_limit_blacklist_prefix_international_allow_list_and_app_cap() {
    use pn_e2e::sipp::AX_PATH;
    const AX_X: &str = "+8617000000009";
    const A9: &str = "+8613800000099";
    const INTL: &str = "+14155550100";
    let rig = Rig::start(&[("PNSWITCH__ROUTING__POLICY__ALLOW_INTERNATIONAL_IN", "true")]);
    let app = rig.switch.app_with_numbers("AX", &[AX_X]);
    ok(&rig.switch.signed(
        Method::POST,
        AX_PATH,
        &app,
        Some(&json!({"origNum": A9, "privateNum": AX_X})),
    ));

    // One call to A per 10 s: B's second call in the same window is refused with 8048; two windows later it
    // passes.
    one_call_per_window_then_again(&rig, &app, "callee", (B, AX_X), "8048");

    set_controls(
        &rig,
        &app,
        &json!({"calleeBlacklist": {"numbers": [A9], "prefixes": []}}),
    );
    refused_by_switch(&rig, B, AX_X, 403, "7004");
    set_controls(&rig, &app, &json!({"restrictedPrefixes": ["+8613800"]}));
    refused_by_switch(&rig, B, AX_X, 403, "7500");
    set_controls(&rig, &app, &json!({"internationalIn": false}));
    refused_by_switch(&rig, INTL, AX_X, 403, "8042");
    set_controls(
        &rig,
        &app,
        &json!({"callerAllowlist": {"numbers": [A], "prefixes": []}}),
    );
    refused_by_switch(&rig, B, AX_X, 403, "7005");
    connects(&rig, A, AX_X);

    // One call of the app up at a time: while A's call is up, B's is refused with 7002.
    set_controls(&rig, &app, &json!({"concurrent": [{"scope": "app", "max": 1}]}));
    let b_side = rig.uas("uas_answer").spawn();
    let mut long = rig.uac("uac_basic").pause_ms(6000).inject(&[&[A, AX_X]]).spawn();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while rig.switch.metric("pn_sip_active_calls").unwrap_or(0.0) < 1.0 {
        assert!(std::time::Instant::now() < deadline, "A's call never came up");
        std::thread::sleep(Duration::from_millis(50));
    }
    refused_by_switch(&rig, B, AX_X, 403, "7002");
    long.wait_for(Duration::from_secs(15)).assert_ok();
    b_side.finish_ok(SETTLE);

    let facts = wait_for_outbox(&rig.switch.data_dir, "the refusals' events and CDRs", |facts| {
        [8048, 7004, 7500, 7005, 7002]
            .iter()
            .all(|&cause| ended_with(facts, B, cause))
            && ended_with(facts, INTL, 8042)
    });
    let connected = facts
        .iter()
        .filter(|f| f.kind == "cdr" && f.payload["ulFailReason"] == 0)
        .count();
    assert_eq!(connected, 4, "{}", show(&facts));
}

/// A refused call from `caller` to `x` with its media on `sink` (relay mode): 183 with the switch's SDP, then
/// `status` with `cause` in a Q.850 Reason no sooner than `prompt` (A-law audio) could play, nothing reaching
/// B; what `sink` received is exactly `prompt`.
fn refused_after_prompt(rig: &Rig, (caller, x): (&str, &str), (status, cause): (u16, &str), prompt: &[u8]) {
    let sink = RtpSink::bind();
    let b_side = rig.uas("uas_answer").spawn();
    let started = Instant::now();
    let a_side = rig
        .uac("uac_media_reject")
        .inject(&[&[caller, x, &sink.port().to_string()]])
        .run_ok();
    let took = started.elapsed();
    let b_side = b_side.stop();
    assert!(
        b_side.received().is_empty(),
        "a refused call reached the egress trunk:\n{}",
        b_side.received_text()
    );
    early_media(&a_side);
    pn_e2e::sipp::assert_refused(&a_side, status, cause);
    let prompt_ms = prompt.len() as u64 / 8;
    assert!(
        took + Duration::from_millis(200) >= Duration::from_millis(prompt_ms),
        "the {status} came {took:?} after the INVITE, before the {prompt_ms} ms prompt could play"
    );
    assert_exactly(&sink.packets(), prompt, &format!("{caller} refused with {cause}"));
}

/// A control's refusal in relay mode plays the app's no-permission prompt first: a blacklisted caller hears
/// the shipped `no_permission.wav`, a caller past its frequency limit the prompt uploaded as the app's
/// `noPermissionPrompt` (each exactly that audio, in early media), then 403 with the control's cause; the
/// disconnect events and CDRs carry the causes.
#[test]
fn a_control_refusal_plays_the_no_permission_prompt_then_its_cause() {
    let rig = start_rig(&[]);
    let app = rig.switch.app_with_numbers("AXB", &[X]);
    rig.switch.bind_axb(&app, X, A, B, &json!({}));

    // B is blacklisted: the shipped prompt (the app has none of its own), then 7005.
    set_controls(
        &rig,
        &app,
        &json!({"callerBlacklist": {"numbers": [B], "prefixes": []}}),
    );
    let shipped = shipped_prompt(pn_media::prompts::NO_PERMISSION);
    refused_after_prompt(&rig, (B, X), (403, "7005"), &shipped);

    // The app's own prompt (1.5 s of 700 Hz), and one call per caller in 10 s: A's second call hears it,
    // then 8047.
    let tone = alaw_tone(700.0, 1.5);
    let (status, answer) = upload_prompt(&rig.switch, &app.0, "denied_700hz.wav", alaw_wav(&tone));
    assert_eq!(
        (status, answer["resultcode"].as_str()),
        (200, Some("0")),
        "{answer}"
    );
    let updated = update_app(&rig, &app, &json!({"noPermissionPrompt": "denied_700hz.wav"}));
    assert_eq!(updated["noPermissionPrompt"], "denied_700hz.wav", "{updated}");
    set_controls(
        &rig,
        &app,
        &json!({"limits": [{"key": "caller", "windowSecs": 10, "max": 1}]}),
    );
    at_window_start(10);
    connects(&rig, A, X);
    refused_after_prompt(&rig, (A, X), (403, "8047"), &tone);

    wait_for_outbox(&rig.switch.data_dir, "the refusals' events and CDRs", |facts| {
        ended_with(facts, B, 7005) && ended_with(facts, A, 8047)
    });
}

/// Rewrites the number `from` as `to` in every stored binding and temporary callee of the stopped switch
/// whose data directory is `data`. The API binds no international number, but a binding stored before that
/// rule (or by another system) may hold one: the switch loads it as it is at its next start.
fn store_number_as(data: &std::path::Path, from: &str, to: &str) {
    let db = std::fs::read_dir(data)
        .expect("read the data directory")
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "db"))
        .expect("a database file in the data directory");
    let conn = rusqlite::Connection::open(&db).expect("open the store");
    let digits = |n: &str| n.trim_start_matches('+').parse::<i64>().unwrap();
    let (quoted_from, quoted_to) = (format!("\"{from}\""), format!("\"{to}\""));
    let bindings = conn
        .execute(
            "UPDATE bindings SET b = ?1, body = replace(body, ?3, ?4) WHERE b = ?2",
            rusqlite::params![digits(to), digits(from), quoted_from, quoted_to],
        )
        .expect("rewrite the bindings");
    let callees = conn
        .execute(
            "UPDATE temp_callees SET body = replace(body, ?1, ?2) WHERE instr(body, ?1) > 0",
            rusqlite::params![quoted_from, quoted_to],
        )
        .expect("rewrite the temporary callees");
    assert_eq!(
        (bindings, callees),
        (1, 1),
        "one AXB binding and one AX temporary callee hold {from}"
    );
}

/// International callees (8043): an AXB partner B abroad, and an AX temporary callee abroad (stored as such:
/// see [`store_number_as`]). With the switch's default policy both calls are refused with 8043 (the route
/// trace says so; nothing reaches the egress). With the switch allowing international callees, an app's
/// `internationalOut: false` refuses the same calls with 8043, and without it they connect, to the
/// international number. Each refusal has its disconnect event and CDR with 8043.
#[test]
fn an_international_callee_gets_8043_unless_the_switch_and_the_app_allow_it() {
    use pn_e2e::sipp::{AX_CALLEE_PATH, AX_PATH, user_of};
    const INTL: &str = "+14155550100";
    const AX_X: &str = "+8617000000009";
    const A9: &str = "+8613800000099";
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (axb, ax) = {
        let rig = Rig::start_with_data(&data, &[]);
        let axb = rig.switch.app_with_numbers("AXB", &[X]);
        rig.switch.bind_axb(&axb, X, A, B, &json!({}));
        let ax = rig.switch.app_with_numbers("AX", &[AX_X]);
        ok(&rig.switch.signed(
            Method::POST,
            AX_PATH,
            &ax,
            Some(&json!({"origNum": A9, "privateNum": AX_X, "calleeNumDisplay": "0"})),
        ));
        ok(&rig.switch.signed(
            Method::PUT,
            AX_CALLEE_PATH,
            &ax,
            Some(&json!({"privateNum": AX_X, "calleeNum": B, "duration": 3600})),
        ));
        (axb, ax)
    };
    store_number_as(&data, B, INTL);

    let refused = |rig: &Rig, n: usize| {
        assert_eq!(
            rig.switch.route(A, X)["stateCode"],
            8043,
            "{}",
            rig.switch.route(A, X)
        );
        assert_refused(rig, (A, X), 403, "8043");
        assert_refused(rig, (A9, AX_X), 403, "8043");
        wait_for_outbox(&rig.switch.data_dir, "the refusals' events and CDRs", |facts| {
            let cdrs = facts
                .iter()
                .filter(|f| f.kind == "cdr" && f.payload["ulFailReason"] == 8043)
                .count();
            ended_with(facts, A, 8043) && ended_with(facts, A9, 8043) && cdrs == n
        });
    };
    // The switch refuses international callees (the default).
    refused(&Rig::start_with_data(&data, &[]), 2);

    // The switch allows them, the apps do not; then they do.
    let rig = Rig::start_with_data(
        &data,
        &[("PNSWITCH__ROUTING__POLICY__ALLOW_INTERNATIONAL_OUT", "true")],
    );
    for app in [&axb, &ax] {
        set_controls(&rig, app, &json!({"internationalOut": false}));
    }
    refused(&rig, 4);
    for app in [&axb, &ax] {
        set_controls(&rig, app, &json!({}));
    }
    let trace = rig.switch.route(A, X);
    assert_eq!(
        (&trace["decision"], &trace["callee"]),
        (&json!("connect"), &json!(INTL)),
        "{trace}"
    );
    for (caller, x) in [(A, X), (A9, AX_X)] {
        let b_side = rig.uas("uas_answer").spawn();
        rig.uac("uac_basic").inject(&[&[caller, x]]).run_ok();
        let b_side = b_side.finish_ok(SETTLE);
        let invite = b_side.first_request("INVITE");
        let ruri = invite.start_line().split(' ').nth(1).unwrap_or("");
        assert!(
            user_of(ruri).ends_with(INTL.trim_start_matches('+')),
            "{caller}'s B leg is not to {INTL}:\n{}",
            invite.text
        );
    }
    wait_for_outbox(&rig.switch.data_dir, "the connected calls' CDRs", |facts| {
        facts
            .iter()
            .filter(|f| f.kind == "cdr" && f.payload["ulFailReason"] == 0)
            .count()
            == 2
    });
}

/// A limit may refuse with any control cause of the reference instead of its key's default (here 8057, the
/// call-direction control, and 7001, the developer frequency): the refusal carries it (status, `Reason`, event,
/// CDR). A cause that is not a control cause (8014) is refused by the admin API and changes nothing.
#[test]
fn a_limit_refuses_with_the_control_cause_it_names() {
    let rig = Rig::start(&[]);
    let app = rig.switch.app_with_numbers("AXB", &[X]);
    rig.switch.bind_axb(&app, X, A, B, &json!({}));
    let (status, body) = rig.switch.admin(
        Method::PUT,
        &format!("/admin/v1/apps/{}/controls", app.0),
        Some(&json!({"limits": [{"key": "caller", "windowSecs": 60, "max": 1, "cause": 8014}]})),
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("control cause"), "{body}");
    set_controls(
        &rig,
        &app,
        &json!({"limits": [
            {"key": "caller", "windowSecs": 10, "max": 1, "cause": 8057},
            {"key": "callerX", "windowSecs": 10, "max": 1, "cause": 7001}
        ]}),
    );
    at_window_start(10);
    connects(&rig, A, X);
    // Both limits are full; the first listed refuses.
    refused_by_switch(&rig, A, X, 403, "8057");
    // B's calls: its caller limit is free, so the caller-X pair limit (7001) is the first to refuse.
    set_controls(
        &rig,
        &app,
        &json!({"limits": [{"key": "callerX", "windowSecs": 10, "max": 1, "cause": 7001}]}),
    );
    at_window_start(10);
    connects(&rig, B, X);
    refused_by_switch(&rig, B, X, 403, "7001");
    wait_for_outbox(&rig.switch.data_dir, "the refusals' events and CDRs", |facts| {
        ended_with(facts, A, 8057) && ended_with(facts, B, 7001)
    });
}
