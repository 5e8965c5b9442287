//! Pushes under faults, through the real binary, real `SIPp` calls and a real receiver that verifies every
//! signature: a `kill -9` of the switch while pushes are in flight loses nothing and re-sends little; a receiver
//! that takes 10 s per answer for one app does not delay another app's pushes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test: failing loudly is the point

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant, UNIX_EPOCH};

use pn_e2e::axe::outbox;
use pn_e2e::receiver::{
    Answer, Received, Receiver, delivered_cdrs, delivered_events, icids, point_app_at, summary,
};
use pn_e2e::sipp::{Rig, SipSwitch};
use serde_json::{Value, json};

const A1: &str = "+8613800000001";
const B1: &str = "+8613900000002";
const X1: &str = "+8617000000001";
const A2: &str = "+8613800000003";
const B2: &str = "+8613900000004";
const X2: &str = "+8617000000002";

/// `(sessionId, eventType)` of each event, first occurrences in arrival order, and how many repeats.
fn dedup(events: &[Value]) -> (Vec<(String, String)>, usize) {
    let mut seen = BTreeSet::new();
    let mut order = Vec::new();
    let mut repeats = 0;
    for e in events {
        let key = (
            e["statusInfo"]["sessionId"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            e["eventType"].as_str().unwrap_or_default().to_owned(),
        );
        if seen.insert(key.clone()) {
            order.push(key);
        } else {
            repeats += 1;
        }
    }
    (order, repeats)
}

/// The stored events' keys, by call, in store order.
fn stored_by_call(data: &std::path::Path) -> BTreeMap<String, Vec<String>> {
    let mut calls: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for f in outbox(data).iter().filter(|f| f.kind == "call_event") {
        calls
            .entry(
                f.status_info()["sessionId"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
            .or_default()
            .push(f.payload["eventType"].as_str().unwrap_or_default().to_owned());
    }
    calls
}

#[test]
fn kill_9_while_pushing_loses_nothing_and_resends_only_what_was_in_flight() {
    const CALLS: u32 = 60;
    const IN_FLIGHT: usize = 4;
    let receiver = Receiver::start(&[]);
    let env = [
        ("PNSWITCH__MEDIA__MODE", "bypass"),
        ("PNSWITCH__PUSH__MAX_IN_FLIGHT_PER_APP", "4"),
        ("PNSWITCH__PUSH__CDR_BATCH_WAIT_MS", "100"),
    ];
    let mut rig = Rig::start(&env);
    let app = rig.switch.app_with_numbers("AXB", &[X1]);
    receiver.add_app(&app.0, &app.1);
    point_app_at(&rig.switch, &app.0, &receiver, Some("/events"), Some("/cdr"));
    rig.switch.bind_axb(&app, X1, A1, B1, &json!({}));
    // A slow receiver: every answer takes 250 ms, so pushes are in flight when the switch dies.
    receiver.answer(
        "/events",
        Answer {
            status: 200,
            delay: Duration::from_millis(250),
        },
    );
    let b_side = rig.uas("uas_answer").calls(CALLS).timeout_secs(60).spawn();
    rig.uac("uac_basic")
        .calls(CALLS)
        .rate(50.0)
        .pause_ms(0)
        .timeout_secs(60)
        .inject(&[&[A1, X1]])
        .run_ok();
    b_side.finish_ok(Duration::from_secs(10));
    let stored = stored_by_call(&rig.switch.data_dir);
    let total: usize = stored.values().map(Vec::len).sum();
    assert_eq!(stored.len(), CALLS as usize);
    receiver.wait_for("some events before the kill", Duration::from_secs(20), |got| {
        delivered_events(got, "/events").len() >= 20
    });
    rig.switch.switch.kill9();
    let before = delivered_events(&receiver.received(), "/events").len();
    assert!(
        before < total,
        "everything was delivered before the kill: the test proves nothing"
    );

    // Restart on the same data directory; the receiver is fast now.
    receiver.answer("/events", Answer::ok());
    let data = rig.switch.data_dir.clone();
    rig.switch = SipSwitch::start(&data, SocketAddr::from(([127, 0, 0, 1], rig.uas_port)), &env);
    let got = receiver.wait_for(
        "every stored event and CDR after the restart",
        Duration::from_secs(60),
        |got| {
            dedup(&delivered_events(got, "/events")).0.len() == total
                && icids(&delivered_cdrs(got, "/cdr")).len() == CALLS as usize
        },
    );
    assert!(got.iter().all(|r| r.verified), "{}", summary(&got));
    let (order, repeats) = dedup(&delivered_events(&got, "/events"));
    let mut pushed: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (session, event) in order {
        pushed.entry(session).or_default().push(event);
    }
    assert_eq!(
        pushed, stored,
        "each call's events, first arrivals, in the stored order"
    );
    eprintln!(
        "kill -9: {before} events delivered before the kill, {total} in all, {repeats} pushed again after the restart"
    );
    // Re-sent: what was in flight (at most IN_FLIGHT) plus what was answered but not yet marked delivered.
    assert!(repeats <= 2 * IN_FLIGHT, "{repeats} events pushed twice");
    let cdrs = delivered_cdrs(&got, "/cdr");
    assert!(
        cdrs.len() - icids(&cdrs).len() <= 2 * 50,
        "CDRs re-sent beyond what was in flight"
    );
}

/// Seconds since the epoch of a reference time `yyyy-MM-dd HH:mm:ss` (UTC).
fn reference_secs(time: &str) -> f64 {
    let stamp: jiff::Timestamp = format!("{}Z", time.replacen(' ', "T", 1))
        .parse()
        .expect("a reference time");
    stamp.as_second() as f64
}

/// Lag of each delivered CDR: its arrival minus its `callEndTime` (whole seconds: up to 1 s high), sorted.
fn cdr_lags(got: &[Received], prefix: &str) -> Vec<f64> {
    let mut lags: Vec<f64> = got
        .iter()
        .filter(|r| r.answered && r.status == 200 && r.path.starts_with(prefix))
        .flat_map(|r| {
            let at = r.wall.duration_since(UNIX_EPOCH).unwrap().as_secs_f64();
            r.body["feeLst"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(move |c| at - reference_secs(c["callEndTime"].as_str().unwrap_or("1970-01-01 00:00:00")))
        })
        .collect();
    lags.sort_by(f64::total_cmp);
    lags
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[test]
fn a_receiver_taking_10_s_per_answer_does_not_delay_another_apps_pushes() {
    const CALLS: u32 = 40;
    let receiver = Receiver::start(&[]);
    let rig = Rig::start(&[
        ("PNSWITCH__MEDIA__MODE", "bypass"),
        ("PNSWITCH__PUSH__TIMEOUT_MS", "15000"),
        ("PNSWITCH__PUSH__CDR_BATCH_WAIT_MS", "200"),
    ]);
    let slow = rig.switch.app_with_numbers("AXB", &[X1]);
    let fast = rig.switch.app_with_numbers("AXB", &[X2]);
    for (app, name) in [(&slow, "slow"), (&fast, "fast")] {
        receiver.add_app(&app.0, &app.1);
        point_app_at(
            &rig.switch,
            &app.0,
            &receiver,
            Some(&format!("/{name}/events")),
            Some(&format!("/{name}/cdr")),
        );
    }
    for path in ["/slow/events", "/slow/cdr"] {
        receiver.answer(
            path,
            Answer {
                status: 200,
                delay: Duration::from_secs(10),
            },
        );
    }
    rig.switch.bind_axb(&slow, X1, A1, B1, &json!({}));
    rig.switch.bind_axb(&fast, X2, A2, B2, &json!({}));
    let b_side = rig.uas("uas_answer").calls(2 * CALLS).timeout_secs(60).spawn();
    let started = Instant::now();
    let slow_calls = rig
        .uac("uac_basic")
        .calls(CALLS)
        .rate(10.0)
        .pause_ms(100)
        .timeout_secs(60)
        .inject(&[&[A1, X1]])
        .spawn();
    rig.uac("uac_basic")
        .calls(CALLS)
        .rate(10.0)
        .pause_ms(100)
        .timeout_secs(60)
        .inject(&[&[A2, X2]])
        .run_ok();
    slow_calls.finish_ok(Duration::from_secs(20));
    b_side.finish_ok(Duration::from_secs(10));
    let fast_done = receiver.wait_for(
        "every CDR and disconnect event of the fast app",
        Duration::from_secs(5),
        |got| {
            icids(&delivered_cdrs(got, "/fast/cdr")).len() == CALLS as usize
                && delivered_events(got, "/fast/events")
                    .iter()
                    .filter(|e| e["eventType"] == "disconnect")
                    .count()
                    == CALLS as usize
        },
    );
    let fast_after = started.elapsed();
    let slow_so_far = fast_done
        .iter()
        .filter(|r| r.answered && r.path.starts_with("/slow/"))
        .count();
    let fast_lags = cdr_lags(&fast_done, "/fast/cdr");
    eprintln!(
        "isolation: the fast app had all {CALLS} CDRs {:.1} s after the calls began; CDR lag p50 {:.2} s p99 {:.2} s \
         (arrival minus whole-second callEndTime); the slow app had {slow_so_far} pushes answered by then",
        fast_after.as_secs_f64(),
        percentile(&fast_lags, 0.5),
        percentile(&fast_lags, 0.99)
    );
    assert!(
        percentile(&fast_lags, 0.99) < 2.0,
        "fast app's CDR lag: {fast_lags:?}"
    );
    // The slow app's pushes are being answered only now: 10 s each.
    let slow = receiver.wait_for(
        "the slow app's first answered pushes",
        Duration::from_secs(20),
        |got| got.iter().any(|r| r.answered && r.path.starts_with("/slow/")),
    );
    let slow_lags = cdr_lags(&slow, "/slow/cdr");
    if !slow_lags.is_empty() {
        eprintln!(
            "isolation: slow app CDR lag p50 {:.1} s",
            percentile(&slow_lags, 0.5)
        );
        assert!(percentile(&slow_lags, 0.5) >= 9.0, "{slow_lags:?}");
    }
    assert!(slow.iter().all(|r| r.verified), "{}", summary(&slow));
}
