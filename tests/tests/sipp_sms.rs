//! SMS relay over SIP MESSAGE (issue 10, reference §7.1) through the real binary: a `SIPp` UAC plays the sender's
//! trunk (`uac_message.xml`), a `SIPp` UAS the receiver's (`uas_message.xml`). Paths: AXB both ways, AX `@B`,
//! AX B→A with `[From<B>]`, refusals (no binding 404 / sendResult 2, app without SMS 403 / 11, AX text
//! without `@` part and X-mode text of apps without an SMS-control URL 503 / 5), the far end's 486 and its
//! silence (408), each with its SMS notification row in the outbox, and the notifications pushed, signed, to
//! the app's `smsUrl`. SMS Block: the signed Block request to the app's `smsControlUrl` (a real HTTP receiver)
//! and its reply: `vNumberRoute` (AX and X mode: relayed from X), `DiscardMessage` (403 / 6), no reply in
//! time (503 / 7), a `calling` other than X (503 / 5). Every MESSAGE is also the leak probe: the sender's digits ride in every header the sender may
//! set and in a second body part; they must reach the receiver nowhere (except the reference's `[From<B>]`),
//! and the receiver's digits, in every header of its answer, must not reach the sender.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test: failing loudly is the point
#![allow(clippy::similar_names)] // sender/receiver are the domain's names

use std::time::Duration;

use pn_e2e::axe::{Fact, update_app, wait_for_outbox};
use pn_e2e::receiver::{BlockAnswer, Receiver, summary};
use pn_e2e::sipp::{AX_PATH, Rig, SippRun, Traced, national_digits, ok, user_of};
use reqwest::Method;
use serde_json::{Value, json};

const A: &str = "+8613800000001";
const B: &str = "+8613900000002";
const C: &str = "+8613700000003";
/// AXB X (app with SMS).
const X: &str = "+8617000000001";
/// AX X (app with SMS).
const AX_X: &str = "+8617000000002";
/// AXB X of an app without SMS.
const OFF_X: &str = "+8617000000003";
/// X of an X-mode app (with SMS): every text needs Block.
const XMODE_X: &str = "+8617000000004";

const SETTLE: Duration = Duration::from_secs(10);

/// The switch with T1 = 100 ms (Timer F 6.4 s), the three apps and their bindings.
fn rig() -> Rig {
    rig_with_axb_app().0
}

/// [`rig`], and the AXB app's (`app_key`, `app_secret`).
fn rig_with_axb_app() -> (Rig, (String, String)) {
    let rig = Rig::start(&[("PNSWITCH__SIP__B2BUA__T1_MS", "100")]);
    let axb = rig.switch.app_with_numbers("AXB", &[X]);
    update_app(&rig, &axb, &json!({"smsEnabled": true}));
    rig.switch.bind_axb(&axb, X, A, B, &json!({}));
    let ax = rig.switch.app_with_numbers("AX", &[AX_X]);
    update_app(&rig, &ax, &json!({"smsEnabled": true}));
    ok(&rig.switch.signed(
        Method::POST,
        AX_PATH,
        &ax,
        Some(&json!({"origNum": A, "privateNum": AX_X, "calleeNumDisplay": "0"})),
    ));
    let off = rig.switch.app_with_numbers("AXB", &[OFF_X]);
    rig.switch.bind_axb(&off, OFF_X, A, B, &json!({}));
    let xmode = rig.switch.app_with_numbers("X", &[XMODE_X]);
    update_app(&rig, &xmode, &json!({"smsEnabled": true}));
    (rig, axb)
}

/// `sender` texts `x`; when `receiver` is given, its trunk answers with its scenario (`uas_message`: 200,
/// `uas_message_busy`: 486; digits of `receiver` in its answer). Returns (sender's run, receiver's run).
fn text(
    rig: &Rig,
    sender: &str,
    x: &str,
    body: &str,
    receiver: Option<(&str, &str)>,
) -> (SippRun, Option<SippRun>) {
    let uas = receiver.map(|(r, scenario)| rig.uas(scenario).inject(&[&[national_digits(r)]]).spawn());
    let digits = national_digits(sender);
    let uac = rig
        .uac("uac_message")
        .inject(&[&[sender, x, body, digits]])
        .arg("-cid_str")
        .arg(format!("{digits}-%u-%p@%s"))
        .timeout_secs(20)
        .run_ok();
    (uac, uas.map(|u| u.finish_ok(SETTLE)))
}

/// The sender's final response.
fn final_response(run: &SippRun) -> Traced {
    run.received()
        .into_iter()
        .find(|m| m.status().is_some_and(|s| s >= 200))
        .unwrap_or_else(|| panic!("no final response\n{}", run.diagnostics()))
}

/// The sender's digits went out in many places (the probe is live).
fn assert_injected(run: &SippRun, digits: &str) {
    let sent: String = run
        .messages()
        .iter()
        .filter(|m| !m.received)
        .map(|m| m.text.clone())
        .collect();
    assert!(
        sent.matches(digits).count() >= 15,
        "{digits} not injected widely:\n{sent}"
    );
}

/// What the receiver got: one MESSAGE to `to` from `x` whose body is `body`, without the sender's digits
/// (beyond `allowed` occurrences, the `[From<B>]` the reference prescribes).
fn assert_relayed(uas: &SippRun, to: &str, x: &str, body: &str, sender: &str, allowed: usize) {
    let m = uas.first_request("MESSAGE");
    assert_eq!(
        user_of(m.start_line().split(' ').nth(1).unwrap()),
        to,
        "{}",
        m.text
    );
    assert_eq!(user_of(&m.header("To").unwrap()), to);
    let from = m.header("From").unwrap();
    assert_eq!(user_of(&from), x);
    assert!(from.starts_with('<'), "a display name crossed: {from}");
    assert_eq!(
        m.header("Content-Type").as_deref(),
        Some("text/plain;charset=UTF-8")
    );
    assert_eq!(m.body().trim_end(), body);
    for h in [
        "Contact",
        "P-Asserted-Identity",
        "Remote-Party-ID",
        "Subject",
        "Call-Info",
        "User-Agent",
    ] {
        assert!(m.header(h).is_none(), "{h} crossed:\n{}", m.text);
    }
    let seen = uas.received_text().matches(national_digits(sender)).count();
    assert_eq!(
        seen,
        allowed,
        "the sender's digits reached the receiver:\n{}",
        uas.received_text()
    );
}

/// The stored SMS notifications of an app without `smsContentEnabled` (the default): no `smsContent`.
fn sms_rows_without_content(rig: &Rig, n: usize) -> Vec<Value> {
    let rows = sms_rows(rig, n);
    for row in &rows {
        assert!(
            row["smsEvent"].get("smsContent").is_none(),
            "smsContent is off by default: {row}"
        );
    }
    rows
}

fn sms_rows(rig: &Rig, n: usize) -> Vec<Value> {
    let data = rig.dir.path().join("data");
    let facts = wait_for_outbox(&data, &format!("{n} SMS notifications"), |facts: &[Fact]| {
        facts.iter().filter(|f| f.kind == "sms").count() >= n
    });
    facts
        .into_iter()
        .filter(|f| f.kind == "sms")
        .map(|f| f.payload)
        .collect()
}

fn check_event(row: &Value, calling: &str, called: &str, x: &str, result: u64, direction: &str) {
    let e = &row["smsEvent"];
    assert!(row["appKey"].as_str().is_some_and(|k| !k.is_empty()), "{row}");
    assert_eq!(e["calling"], calling, "{row}");
    assert_eq!(e["called"], called, "{row}");
    assert_eq!(e["virtualNumber"], x, "{row}");
    assert_eq!(e["sendResult"], result, "{row}");
    assert_eq!(e["notificationMode"], "Notify");
    assert_eq!(e["event"], "Text SMS");
    assert_eq!(
        e["extInfo"]["extParas"][0],
        json!({"key": "splitNum", "value": "1"})
    );
    assert_eq!(
        e["extInfo"]["extParas"][1],
        json!({"key": "direction", "value": direction})
    );
    let ts = e["timeStamp"].as_str().unwrap();
    assert!(
        ts.len() == 24 && &ts[19..] == ".000Z" && &ts[10..11] == "T",
        "{ts}"
    );
}

/// Waits (up to 5 s: the shards export their counters now and then) until `pn_sms_total{outcome}` is `want`.
fn assert_sms_metric(rig: &Rig, outcome: &str, want: f64) {
    let series = format!("pn_sms_total{{outcome=\"{outcome}\"}}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let got = rig.switch.metric(&series);
        if got == Some(want) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{series}: {got:?}, want {want}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn axb_both_ways_reach_the_other_party_from_x_and_leak_nothing() {
    let rig = rig();
    let (a, b) = text(&rig, A, X, "see you at 8", Some((B, "uas_message")));
    let b = b.unwrap();
    assert_injected(&a, national_digits(A));
    assert_relayed(&b, B, X, "see you at 8", A, 0);
    assert_eq!(final_response(&a).status(), Some(200));
    assert!(
        !a.received_text().contains(national_digits(B)),
        "{}",
        a.received_text()
    );

    let (b_side, a_side) = text(&rig, B, X, "ok", Some((A, "uas_message")));
    assert_relayed(&a_side.unwrap(), A, X, "ok", B, 0);
    assert_eq!(final_response(&b_side).status(), Some(200));
    assert!(!b_side.received_text().contains(national_digits(A)));

    let rows = sms_rows_without_content(&rig, 2);
    check_event(&rows[0], A, B, X, 0, "1");
    check_event(&rows[1], B, A, X, 0, "0");
    assert!(rows[0]["smsEvent"]["subscriptionId"].as_str().is_some());
    assert_sms_metric(&rig, "relayed", 2.0);
    assert_sms_metric(&rig, "refused", 0.0);
}

#[test]
fn ax_at_b_strips_the_suffix_and_b_to_a_appends_from_b() {
    let rig = rig();
    let (a, b) = text(&rig, A, AX_X, "order ready@13900000002", Some((B, "uas_message")));
    assert_relayed(&b.unwrap(), B, AX_X, "order ready", A, 0);
    assert_eq!(final_response(&a).status(), Some(200));

    let (c, a_side) = text(&rig, C, AX_X, "is it ready", Some((A, "uas_message")));
    // The one occurrence of C's digits A may see: the reference's [From<B>].
    assert_relayed(&a_side.unwrap(), A, AX_X, &format!("is it ready[From{C}]"), C, 1);
    assert_eq!(final_response(&c).status(), Some(200));

    let rows = sms_rows_without_content(&rig, 2);
    check_event(&rows[0], A, B, AX_X, 0, "1");
    check_event(&rows[1], C, A, AX_X, 0, "0");
}

#[test]
fn refusals_answer_with_reason_and_notify_their_send_result() {
    let rig = rig();
    for (sender, x, body, status, result) in [
        (C, X, "hi", 404, 2),
        (A, OFF_X, "hi", 403, 11),
        // Block needed, but the apps have no SMS-control URL: the request fails, sendResult 5.
        (A, AX_X, "no suffix", 503, 5),
        (A, XMODE_X, "hi@13900000002", 503, 5),
    ] {
        let (run, _) = text(&rig, sender, x, body, None);
        let fin = final_response(&run);
        assert_eq!(fin.status(), Some(status), "{}", fin.text);
        let why = fin.header("Reason").unwrap_or_default();
        assert!(why.contains(&format!("sendResult {result}")), "{why}");
    }
    let rows = sms_rows_without_content(&rig, 4);
    check_event(&rows[0], C, X, X, 2, "2");
    check_event(&rows[1], A, OFF_X, OFF_X, 11, "2");
    check_event(&rows[2], A, AX_X, AX_X, 5, "1");
    check_event(&rows[3], A, XMODE_X, XMODE_X, 5, "0");
    assert_sms_metric(&rig, "refused", 4.0);
}

#[test]
fn far_end_refusal_and_silence_reach_the_sender() {
    let rig = rig();
    let (a, b) = text(&rig, A, X, "hi", Some((B, "uas_message_busy")));
    assert_eq!(b.unwrap().received_requests("MESSAGE").len(), 1);
    let fin = final_response(&a);
    assert_eq!(fin.status(), Some(486));
    assert!(!fin.text.contains(national_digits(B)), "{}", fin.text);
    // Nobody listens on the egress port: Timer F (64 × T1 = 6.4 s) ends it with 408.
    let (a, _) = text(&rig, A, X, "anyone", None);
    assert_eq!(final_response(&a).status(), Some(408));
    let rows = sms_rows_without_content(&rig, 2);
    check_event(&rows[0], A, B, X, 10, "1");
    check_event(&rows[1], A, B, X, 10, "1");
    assert_sms_metric(&rig, "failed", 2.0);
}

/// The notifications reach the app's `smsUrl`, signed with its secret, equal to the stored rows.
#[test]
fn notifications_are_pushed_signed_to_the_apps_sms_url() {
    let (rig, axb) = rig_with_axb_app();
    let receiver = Receiver::start(&[(axb.0.as_str(), axb.1.as_str())]);
    update_app(
        &rig,
        &axb,
        &json!({"smsUrl": receiver.url("/sms"), "smsContentEnabled": true}),
    );
    let (a, _) = text(&rig, A, X, "pushed", Some((B, "uas_message")));
    assert_eq!(final_response(&a).status(), Some(200));
    let (c, _) = text(&rig, C, X, "refused", None);
    assert_eq!(final_response(&c).status(), Some(404));
    let stored = sms_rows(&rig, 2);
    let got = receiver.wait_for("2 SMS notifications", Duration::from_secs(20), |got| {
        got.iter().filter(|r| r.path == "/sms" && r.status == 200).count() >= 2
    });
    let pushed: Vec<_> = got.iter().filter(|r| r.path == "/sms").collect();
    for r in &pushed {
        assert!(r.verified, "unverified push: {:?}\n{}", r.problem, summary(&got));
        assert_eq!(r.app_key, axb.0);
    }
    // Pushes of one app need not arrive in store order: match them by smsIdentifier.
    let id = |v: &Value| v["smsEvent"]["smsIdentifier"].as_str().unwrap().to_owned();
    let mut bodies: Vec<&Value> = pushed.iter().map(|r| &r.body).collect();
    bodies.sort_by_key(|v| stored.iter().position(|s| id(s) == id(v)));
    assert_eq!(bodies, stored.iter().collect::<Vec<_>>(), "{}", summary(&got));
    check_event(bodies[0], A, B, X, 0, "1");
    check_event(bodies[1], C, X, X, 2, "2");
    // smsContentEnabled: the text as the sender wrote it.
    assert_eq!(bodies[0]["smsEvent"]["smsContent"], "pushed");
    assert_eq!(bodies[1]["smsEvent"]["smsContent"], "refused");
}

/// Waits (up to 5 s) until the metric `series` is `want`.
fn assert_metric(rig: &Rig, series: &str, want: f64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let got = rig.switch.metric(series);
        if got == Some(want) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{series}: {got:?}, want {want}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

fn route(called: &str, calling: &str) -> BlockAnswer {
    BlockAnswer::ok(&format!(
        r#"{{"actions":[{{"operation":"vNumberRoute","message":{{"called":"{called}","calling":"{calling}"}}}}]}}"#
    ))
}

/// SMS Block through the real binary: each text that needs the app's decision is held while the switch POSTs
/// the signed Block request to the app's `smsControlUrl`; the receiver's reply decides it.
#[test]
#[allow(clippy::too_many_lines)] // one story: five texts, five decisions, then what was asked and stored
fn sms_block_asks_the_sms_control_url_and_follows_the_reply() {
    let rig = Rig::start(&[
        ("PNSWITCH__SIP__B2BUA__T1_MS", "100"),
        ("PNSWITCH__SIP__B2BUA__XMODE_DECISION_TIMEOUT_MS", "1500"),
    ]);
    let receiver = Receiver::start(&[]);
    let ax = rig.switch.app_with_numbers("AX", &[AX_X]);
    receiver.add_app(&ax.0, &ax.1);
    update_app(
        &rig,
        &ax,
        &json!({"smsEnabled": true, "smsControlUrl": receiver.url("/block/ax")}),
    );
    ok(&rig.switch.signed(
        Method::POST,
        AX_PATH,
        &ax,
        Some(&json!({"origNum": A, "privateNum": AX_X, "calleeNumDisplay": "0"})),
    ));
    let xmode = rig.switch.app_with_numbers("X", &[XMODE_X]);
    receiver.add_app(&xmode.0, &xmode.1);
    update_app(
        &rig,
        &xmode,
        &json!({"smsEnabled": true, "smsControlUrl": receiver.url("/block/x")}),
    );

    // 1. AX, A's text without `@B`: the app routes it to B; B receives it from AX_X, without A's digits.
    receiver.answer_block("/block/ax", Some(route(B, AX_X)));
    let (a, b) = text(&rig, A, AX_X, "call me back", Some((B, "uas_message")));
    assert_injected(&a, national_digits(A));
    assert_relayed(&b.unwrap(), B, AX_X, "call me back", A, 0);
    assert_eq!(final_response(&a).status(), Some(200));
    assert!(
        !a.received_text().contains(national_digits(B)),
        "{}",
        a.received_text()
    );

    // 2. DiscardMessage: 403, sendResult 6.
    receiver.answer_block(
        "/block/ax",
        Some(BlockAnswer::ok(r#"{"actions":[{"operation":"DiscardMessage"}]}"#)),
    );
    let (a, _) = text(&rig, A, AX_X, "discard me", None);
    let fin = final_response(&a);
    assert_eq!(fin.status(), Some(403), "{}", fin.text);
    assert!(fin.header("Reason").unwrap_or_default().contains("sendResult 6"));

    // 3. The app answers after 3 s; the switch waits 1.5 s: 503, sendResult 7.
    receiver.answer_block(
        "/block/ax",
        Some(BlockAnswer {
            status: 200,
            delay: Duration::from_secs(3),
            body: r#"{"actions":[{"operation":"DiscardMessage"}]}"#.to_owned(),
        }),
    );
    let started = std::time::Instant::now();
    let (a, _) = text(&rig, A, AX_X, "too slow", None);
    let fin = final_response(&a);
    assert_eq!(fin.status(), Some(503), "{}", fin.text);
    assert!(fin.header("Reason").unwrap_or_default().contains("sendResult 7"));
    assert!(
        started.elapsed() >= Duration::from_millis(1400),
        "{:?}",
        started.elapsed()
    );

    // 4. X mode: every text goes through Block; C's text reaches B from XMODE_X.
    receiver.answer_block("/block/x", Some(route(B, XMODE_X)));
    let (c, b) = text(&rig, C, XMODE_X, "hello x", Some((B, "uas_message")));
    assert_relayed(&b.unwrap(), B, XMODE_X, "hello x", C, 0);
    assert_eq!(final_response(&c).status(), Some(200));

    // 5. The app would show A as the sender: refused (503, sendResult 5), nothing relayed.
    receiver.answer_block("/block/ax", Some(route(B, A)));
    let (a, _) = text(&rig, A, AX_X, "show my number", None);
    let fin = final_response(&a);
    assert_eq!(fin.status(), Some(503), "{}", fin.text);
    assert!(fin.header("Reason").unwrap_or_default().contains("sendResult 5"));

    // The Block requests: signed with the app's secret, to its SMS-control URL, never stored.
    let got = receiver.wait_for("5 Block requests", Duration::from_secs(10), |got| {
        got.iter().filter(|r| r.path.starts_with("/block/")).count() >= 5
    });
    let blocks: Vec<_> = got.iter().filter(|r| r.path.starts_with("/block/")).collect();
    assert_eq!(blocks.len(), 5, "{}", summary(&got));
    for (r, (path, key, calling, x)) in blocks.iter().zip([
        ("/block/ax", &ax.0, A, AX_X),
        ("/block/ax", &ax.0, A, AX_X),
        ("/block/ax", &ax.0, A, AX_X),
        ("/block/x", &xmode.0, C, XMODE_X),
        ("/block/ax", &ax.0, A, AX_X),
    ]) {
        assert!(
            r.verified,
            "unverified Block request: {:?}\n{}",
            r.problem,
            summary(&got)
        );
        assert_eq!((r.path.as_str(), &r.app_key), (path, key));
        let e = &r.body["smsEvent"];
        assert_eq!(r.body["appKey"], key.as_str());
        assert_eq!(e["notificationMode"], "Block");
        assert_eq!(
            (&e["calling"], &e["called"], &e["virtualNumber"]),
            (&json!(calling), &json!(x), &json!(x))
        );
        assert_eq!(e["event"], "Text SMS");
        assert!(e.get("sendResult").is_none(), "{e}");
        assert!(e.get("smsContent").is_none(), "smsContent is off by default: {e}");
    }

    // The Notify rows, in order (check_event: every stored row is a Notify).
    let rows = sms_rows(&rig, 5);
    assert_eq!(rows.len(), 5, "{rows:?}");
    check_event(&rows[0], A, B, AX_X, 0, "1");
    check_event(&rows[1], A, AX_X, AX_X, 6, "1");
    check_event(&rows[2], A, AX_X, AX_X, 7, "1");
    check_event(&rows[3], C, B, XMODE_X, 0, "0");
    check_event(&rows[4], A, AX_X, AX_X, 5, "1");
    assert_eq!(
        rows[0]["smsEvent"]["smsIdentifier"], blocks[0].body["smsEvent"]["smsIdentifier"],
        "the Notify keeps the Block's smsIdentifier"
    );
    assert_sms_metric(&rig, "relayed", 2.0);
    assert_sms_metric(&rig, "refused", 3.0);
    for (outcome, n) in [
        ("route", 2.0),
        ("discard", 1.0),
        ("timeout", 1.0),
        ("invalid", 1.0),
        ("failed", 0.0),
        ("full", 0.0),
    ] {
        assert_metric(&rig, &format!("pn_sms_block_total{{outcome=\"{outcome}\"}}"), n);
    }
}
