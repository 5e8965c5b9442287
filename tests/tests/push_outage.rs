//! A receiver outage through the whole (scaled) retry schedule while 1,000 real `SIPp` calls complete: the
//! receiver first answers 503, then refuses connections, then comes back. Every CDR arrives in the end — those
//! still retrying by their retries, those that exhausted the schedule as dead letters an operator lists and
//! replays through the admin API — none lost, repeats only of the same `icid`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::float_cmp)] // a test: failing loudly is the point; gauges are integers

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use pn_e2e::axe::outbox;
use pn_e2e::receiver::{Answer, Receiver, delivered_cdrs, icids, point_app_at, summary};
use pn_e2e::sipp::Rig;
use reqwest::Method;
use serde_json::json;

const A: &str = "+8613800000001";
const B: &str = "+8613900000002";
const X: &str = "+8617000000001";
const CALLS: u32 = 1000;

fn gauge(rig: &Rig, series: &str) -> f64 {
    rig.switch.metric(series).unwrap_or(-1.0)
}

/// Waits until `cond` holds, up to `limit`.
fn until(what: &str, limit: Duration, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
#[allow(clippy::too_many_lines)] // one story: outage, dead letters, recovery, replay
fn every_cdr_arrives_after_an_outage_through_the_whole_retry_schedule() {
    let receiver = Receiver::start(&[]);
    let rig = Rig::start(&[
        ("PNSWITCH__MEDIA__MODE", "bypass"),
        // The reference's +1, +4, +9, +106, +203, +300 min, scaled down: the last retry 4 s after the first failure.
        (
            "PNSWITCH__PUSH__RETRY_SCHEDULE_MS",
            "[250, 500, 1000, 2000, 3000, 4000]",
        ),
        ("PNSWITCH__PUSH__CDR_BATCH_WAIT_MS", "200"),
        ("PNSWITCH__PUSH__TIMEOUT_MS", "1000"),
    ]);
    let app = rig.switch.app_with_numbers("AXB", &[X]);
    receiver.add_app(&app.0, &app.1);
    point_app_at(&rig.switch, &app.0, &receiver, None, Some("/cdr"));
    rig.switch.bind_axb(&app, X, A, B, &json!({}));

    // The outage begins: 503 to every push.
    receiver.answer(
        "/cdr",
        Answer {
            status: 503,
            delay: Duration::ZERO,
        },
    );
    let b_side = rig.uas("uas_answer").calls(CALLS).timeout_secs(90).spawn();
    let a_side = rig
        .uac("uac_basic")
        .calls(CALLS)
        .rate(100.0)
        .pause_ms(0)
        .timeout_secs(90)
        .inject(&[&[A, X]])
        .spawn();
    receiver.wait_for("the first 503s", Duration::from_secs(10), |got| {
        got.iter().any(|r| r.status == 503)
    });
    // Then the receiver is gone altogether: connections refused.
    std::thread::sleep(Duration::from_secs(2));
    receiver.down();
    a_side.finish_ok(Duration::from_secs(60));
    b_side.finish_ok(Duration::from_secs(10));
    let stored: BTreeSet<String> = outbox(&rig.switch.data_dir)
        .iter()
        .filter(|f| f.kind == "cdr")
        .filter_map(|f| f.payload["icid"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(stored.len(), CALLS as usize, "one CDR per call");
    // pn_store_outbox_pending follows the outbox (issue 12): nothing is delivered during the outage, so every
    // stored CDR is counted as pending (still retrying) or as a dead letter (one scrape reads both gauges).
    until(
        "pending + dead letters = the stored CDRs",
        Duration::from_secs(5),
        || {
            let metrics = rig.switch.metrics();
            let read = |series: &str| pn_e2e::sipp::metric_value(&metrics, series).unwrap_or(-1.0);
            read("pn_store_outbox_pending") + read("pn_push_dead_letters") == f64::from(CALLS)
        },
    );
    // The early CDRs went through the whole schedule: dead letters.
    until("dead letters", Duration::from_secs(20), || {
        gauge(&rig, "pn_push_dead_letters") > 0.0
    });
    // Apps are labelled by name ("sipp-axb"): the unauthenticated /metrics never shows an app key.
    let connect_failures = rig
        .switch
        .metric("pn_push_requests_total{app=\"sipp-axb\",kind=\"cdr\",outcome=\"connect\"}")
        .unwrap_or(0.0);
    let metrics = rig.switch.metrics();
    let leaking: Vec<&str> = metrics.lines().filter(|l| l.contains(&app.0)).collect();
    assert!(leaking.is_empty(), "the app key is in /metrics: {leaking:?}");
    assert!(
        connect_failures > 0.0,
        "no push met the refused connections:\n{}",
        rig.switch.metrics()
    );
    assert!(
        delivered_cdrs(&receiver.received(), "/cdr").is_empty(),
        "nothing was delivered during the outage"
    );

    // The receiver is back: what still retries is delivered by its retries; the dead stay dead.
    receiver.answer("/cdr", Answer::ok());
    receiver.up();
    until("the retries to settle", Duration::from_secs(20), || {
        gauge(&rig, "pn_store_outbox_pending") == 0.0
    });
    let dead = gauge(&rig, "pn_push_dead_letters");
    let by_retries = icids(&delivered_cdrs(&receiver.received(), "/cdr")).len();
    eprintln!(
        "outage: {by_retries} CDRs delivered by their retries after the receiver came back, {dead} dead letters"
    );
    assert!(dead >= 1.0, "no dead letter");
    assert_eq!(
        by_retries + dead as usize,
        CALLS as usize,
        "every CDR is delivered or a dead letter"
    );

    // An operator lists the dead letters and replays them.
    let (status, listed) = rig.switch.admin(
        Method::GET,
        &format!("/admin/v1/outbox?state=dead&kind=cdr&appKey={}&limit=1000", app.0),
        None,
    );
    assert_eq!(status, 200, "{listed}");
    let entries = listed["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), dead as usize, "{listed}");
    let dead_icids: BTreeSet<String> = entries
        .iter()
        .filter_map(|e| e["payload"]["icid"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(dead_icids.len(), dead as usize);
    let (status, replayed) = rig.switch.admin(
        Method::POST,
        "/admin/v1/outbox/replay",
        Some(&json!({"appKey": app.0})),
    );
    assert_eq!(status, 200, "{replayed}");
    assert_eq!(replayed["replayed"].as_f64(), Some(dead), "{replayed}");
    let got = receiver.wait_for("every CDR", Duration::from_secs(20), |got| {
        icids(&delivered_cdrs(got, "/cdr")) == stored
    });
    until("no dead letter left", Duration::from_secs(10), || {
        gauge(&rig, "pn_push_dead_letters") == 0.0
    });
    // Delivered entries are marked in batches: the marks follow the receiver's answers within a moment.
    until("nothing pending", Duration::from_secs(10), || {
        gauge(&rig, "pn_store_outbox_pending") == 0.0
    });
    assert!(got.iter().all(|r| r.verified), "{}", summary(&got));
    let delivered = delivered_cdrs(&got, "/cdr");
    eprintln!(
        "outage: {} CDRs delivered in {} pushes ({} repeats of an icid); {} answered 503",
        delivered.len(),
        got.iter().filter(|r| r.answered && r.status == 200).count(),
        delivered.len() - stored.len(),
        got.iter().filter(|r| r.status == 503).count()
    );
    assert!(dead_icids.is_subset(&icids(&delivered)));
}
