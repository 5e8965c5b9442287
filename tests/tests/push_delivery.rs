//! Pushes to a real HTTP receiver: real `SIPp` calls of every mode, the switch's call events and CDRs
//! `POSTed` to the apps' URLs, every push's signature verified with the app's secret by the receiver
//! (`tests/src/receiver.rs`). Events of each call arrive in the order they were made and equal what the switch
//! stored; every CDR arrives once, equal to the stored one, its fields matching the `SIPp` call; CDRs of a burst
//! are merged, at most 50 per push.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::similar_names
)] // a test: failing loudly is the point

use std::collections::BTreeMap;
use std::time::Duration;

use pn_e2e::axe::{Fact, axe_app, bind_axe, outbox, show, start_rig};
use pn_e2e::receiver::{Receiver, delivered_cdrs, delivered_events, icids, point_app_at, summary};
use pn_e2e::sipp::{AX_PATH, AXYB_PATH, ok};
use reqwest::Method;
use serde_json::{Value, json};

const A: &str = "+8613800000001";
const B: &str = "+8613900000002";
const X_AXB: &str = "+8617000000001";
const X_AX: &str = "+8617000000002";
const X_AXE: &str = "+8617000000003";
const X_AXYB: &str = "+8617000000004";
const Y_AXYB: &str = "+8617000000005";
const EXT: &str = "1234";

const SETTLE: Duration = Duration::from_secs(10);
const PUSHED: Duration = Duration::from_secs(20);

/// The stored call events of `facts`, by `sessionId`, in store order.
fn stored_events(facts: &[Fact]) -> BTreeMap<String, Vec<Value>> {
    let mut by_call: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for f in facts.iter().filter(|f| f.kind == "call_event") {
        let session = f.status_info()["sessionId"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        by_call.entry(session).or_default().push(f.payload.clone());
    }
    by_call
}

/// Pushed events by `sessionId`, in arrival order.
fn pushed_events(events: &[Value]) -> BTreeMap<String, Vec<Value>> {
    let mut by_call: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for e in events {
        let session = e["statusInfo"]["sessionId"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        by_call.entry(session).or_default().push(e.clone());
    }
    by_call
}

fn event_types(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["eventType"].as_str().unwrap_or("?"))
        .collect()
}

/// `yyyy-MM-dd HH:mm:ss`.
fn is_reference_time(v: &Value) -> bool {
    let Some(s) = v.as_str() else { return false };
    let b = s.as_bytes();
    b.len() == 19
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b' ',
            13 | 16 => *c == b':',
            _ => c.is_ascii_digit(),
        })
}

/// Checks a pushed CDR of an answered call from `caller` to `x` forwarded to `callee`, against §4's types.
fn assert_answered_cdr(cdr: &Value, app_key: &str, caller: &str, x: &str, callee: &str, service_type: &str) {
    for (field, want) in [
        ("appKey", app_key),
        ("callerNum", caller),
        ("calleeNum", x),
        ("fwdDstNum", callee),
        ("serviceType", service_type),
    ] {
        assert_eq!(cdr[field].as_str(), Some(want), "{field}: {cdr}");
    }
    for field in [
        "spId",
        "icid",
        "sessionId",
        "subscriptionId",
        "bindNum",
        "fwdDisplayNum",
        "hostName",
    ] {
        assert!(
            cdr[field].as_str().is_some_and(|s| !s.is_empty()),
            "{field}: {cdr}"
        );
    }
    for field in [
        "callInTime",
        "fwdStartTime",
        "fwdAlertingTime",
        "fwdAnswerTime",
        "callEndTime",
    ] {
        assert!(is_reference_time(&cdr[field]), "{field}: {cdr}");
    }
    for field in [
        "direction",
        "ulFailReason",
        "sipStatusCode",
        "fwdUnaswRsn",
        "recordFlag",
    ] {
        assert!(cdr[field].is_u64(), "{field} must be an Integer: {cdr}");
    }
    assert!(
        cdr["callInTime"].as_str() <= cdr["fwdAnswerTime"].as_str()
            && cdr["fwdAnswerTime"].as_str() <= cdr["callEndTime"].as_str(),
        "times out of order: {cdr}"
    );
}

#[test]
#[allow(clippy::too_many_lines)] // one story: four modes' calls, then what the receiver got
fn every_modes_events_arrive_signed_in_order_and_cdrs_match_the_calls() {
    let receiver = Receiver::start(&[]);
    let rig = start_rig(&[("PNSWITCH__PUSH__CDR_BATCH_WAIT_MS", "100")]);
    let sw = &rig.switch;
    let axb = sw.app_with_numbers("AXB", &[X_AXB]);
    let ax = sw.app_with_numbers("AX", &[X_AX]);
    let axe = axe_app(&rig, &[X_AXE], &json!({}));
    let axyb = sw.app_with_numbers("AXYB", &[X_AXYB, Y_AXYB]);
    for (app, mode) in [(&axb, "axb"), (&ax, "ax"), (&axe, "axe"), (&axyb, "axyb")] {
        receiver.add_app(&app.0, &app.1);
        point_app_at(
            sw,
            &app.0,
            &receiver,
            Some(&format!("/events/{mode}")),
            Some(&format!("/cdr/{mode}")),
        );
    }
    sw.bind_axb(&axb, X_AXB, A, B, &json!({"userData": "axb-data"}));
    ok(&sw.signed(
        Method::POST,
        AX_PATH,
        &ax,
        Some(&json!({"origNum": A, "privateNum": X_AX})),
    ));
    bind_axe(&rig, &axe, A, X_AXE, EXT, &json!({}));
    ok(&sw.signed(
        Method::POST,
        AXYB_PATH,
        &axyb,
        Some(&json!({"origNum": A, "relationNum": X_AXYB, "calleeNum": B})),
    ));

    // AXB: A calls X → B. AX: B calls X → A. AXE: B calls X, keys the extension → A. AXYB: B calls X → A.
    let b_side = rig.uas("uas_answer").spawn();
    rig.uac("uac_basic").pause_ms(200).inject(&[&[A, X_AXB]]).run_ok();
    b_side.finish_ok(SETTLE);
    let a_side = rig.uas("uas_answer").spawn();
    rig.uac("uac_basic").pause_ms(200).inject(&[&[B, X_AX]]).run_ok();
    a_side.finish_ok(SETTLE);
    let a_side = rig.uas("uas_axe_answer").spawn();
    let keys: Vec<String> = EXT.chars().map(String::from).collect();
    rig.uac("uac_axe_info")
        .pause_ms(300)
        .inject(&[&[B, X_AXE, &keys[0], &keys[1], &keys[2], &keys[3]]])
        .run_ok();
    a_side.finish_ok(SETTLE);
    let a_side = rig.uas("uas_answer").spawn();
    rig.uac("uac_basic")
        .pause_ms(200)
        .inject(&[&[B, X_AXYB]])
        .run_ok();
    a_side.finish_ok(SETTLE);

    receiver.wait_for("4 CDRs and 4 disconnect events", PUSHED, |got| {
        delivered_cdrs(got, "/cdr/").len() >= 4
            && delivered_events(got, "/events/")
                .iter()
                .filter(|e| e["eventType"] == "disconnect")
                .count()
                >= 4
    });
    // Nothing more is pushed later (no duplicate): give the driver a moment, then read again.
    std::thread::sleep(Duration::from_millis(1500));
    let got = receiver.received();
    let unverified: Vec<_> = got.iter().filter(|r| !r.verified).collect();
    assert!(
        unverified.is_empty(),
        "pushes whose signature does not verify: {unverified:?}"
    );
    for r in &got {
        let mode = r.path.rsplit('/').next().unwrap_or_default();
        let app = match mode {
            "axb" => &axb,
            "ax" => &ax,
            "axe" => &axe,
            _ => &axyb,
        };
        assert_eq!(
            (r.app_key.as_str(), r.scheme),
            (app.0.as_str(), "aksk"),
            "{}",
            r.path
        );
    }

    let facts = outbox(&sw.data_dir);
    let stored = stored_events(&facts);
    let pushed = pushed_events(&delivered_events(&got, "/events/"));
    assert_eq!(stored.len(), 4, "four calls:\n{}", show(&facts));
    assert_eq!(
        pushed,
        stored,
        "each call's pushed events must equal its stored events, in order:\n{}",
        summary(&got)
    );
    let mut sequences: Vec<Vec<&str>> = stored.values().map(|e| event_types(e)).collect();
    sequences.sort();
    let plain = vec!["callin", "callout", "alerting", "answer", "disconnect"];
    let axe_seq = vec![
        "callin",
        "collectInfo",
        "callout",
        "alerting",
        "answer",
        "disconnect",
    ];
    let mut expected = vec![axe_seq, plain.clone(), plain.clone(), plain];
    expected.sort();
    assert_eq!(sequences, expected, "{}", show(&facts));

    // Each CDR pushed once, equal to the stored one; fields checked against the SIPp calls.
    let cdrs = delivered_cdrs(&got, "/cdr/");
    assert_eq!(cdrs.len(), 4, "{}", summary(&got));
    assert_eq!(icids(&cdrs).len(), 4, "duplicate or missing icids: {cdrs:?}");
    let stored_cdrs: Vec<&Value> = facts
        .iter()
        .filter(|f| f.kind == "cdr")
        .map(|f| &f.payload)
        .collect();
    for cdr in &cdrs {
        assert!(
            stored_cdrs.contains(&cdr),
            "pushed CDR differs from the stored one: {cdr}"
        );
    }
    let by_app = |key: &str| {
        cdrs.iter()
            .find(|c| c["appKey"] == key)
            .unwrap_or_else(|| panic!("no CDR of {key}"))
    };
    assert_answered_cdr(by_app(&axb.0), &axb.0, A, X_AXB, B, "003");
    assert_eq!(by_app(&axb.0)["userData"].as_str(), Some("axb-data"));
    assert_answered_cdr(by_app(&ax.0), &ax.0, B, X_AX, A, "004");
    assert_answered_cdr(by_app(&axe.0), &axe.0, B, X_AXE, A, "005");
    assert_eq!(by_app(&axe.0)["extendNum"].as_str(), Some(EXT));
    assert_answered_cdr(by_app(&axyb.0), &axyb.0, B, X_AXYB, A, "006");
    // The callin of the AXB call carries the binding's userData (§3).
    let callin = pushed
        .values()
        .flatten()
        .find(|e| e["eventType"] == "callin" && e["statusInfo"]["called"] == X_AXB)
        .expect("the AXB callin");
    assert_eq!(
        callin["statusInfo"]["userData"].as_str(),
        Some("axb-data"),
        "{callin}"
    );

    // The outbox knows they were delivered: nothing pending, nothing dead; the CDR listing shows them so.
    let (status, listed) = sw.admin(Method::GET, &format!("/admin/v1/cdrs?appKey={}", axb.0), None);
    assert_eq!(status, 200, "{listed}");
    let entries = listed["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 1, "{listed}");
    assert_eq!(entries[0]["state"], "delivered", "{listed}");
    assert_eq!(&entries[0]["payload"], by_app(&axb.0), "{listed}");
    let metrics = sw.metrics();
    for (series, want) in [("pn_store_outbox_pending", 0.0), ("pn_push_dead_letters", 0.0)] {
        assert_eq!(
            pn_e2e::sipp::metric_value(&metrics, series),
            Some(want),
            "{series}"
        );
    }
}

#[test]
fn cdrs_of_a_burst_are_merged_at_most_50_per_push() {
    const CALLS: u32 = 120;
    let receiver = Receiver::start(&[]);
    let rig = pn_e2e::sipp::Rig::start(&[
        ("PNSWITCH__MEDIA__MODE", "bypass"),
        ("PNSWITCH__PUSH__CDR_BATCH_WAIT_MS", "4000"),
    ]);
    let app = rig.switch.app_with_numbers("AXB", &[X_AXB]);
    receiver.add_app(&app.0, &app.1);
    point_app_at(&rig.switch, &app.0, &receiver, None, Some("/cdr"));
    rig.switch.bind_axb(&app, X_AXB, A, B, &json!({}));
    let b_side = rig.uas("uas_answer").calls(CALLS).timeout_secs(60).spawn();
    rig.uac("uac_basic")
        .calls(CALLS)
        .rate(200.0)
        .pause_ms(0)
        .timeout_secs(60)
        .inject(&[&[A, X_AXB]])
        .run_ok();
    b_side.finish_ok(SETTLE);
    let got = receiver.wait_for("every CDR", PUSHED, |got| {
        icids(&delivered_cdrs(got, "/cdr")).len() == CALLS as usize
    });
    let sizes: Vec<usize> = got
        .iter()
        .map(|r| r.body["feeLst"].as_array().map_or(0, Vec::len))
        .collect();
    assert!(
        got.iter().all(|r| r.verified && r.body["eventType"] == "fee"),
        "{}",
        summary(&got)
    );
    assert_eq!(
        sizes.iter().sum::<usize>(),
        CALLS as usize,
        "each CDR once: {sizes:?}"
    );
    assert_eq!(
        sizes.iter().max(),
        Some(&50),
        "a burst fills pushes of 50: {sizes:?}"
    );
    assert!(sizes.len() <= 6, "the burst's CDRs were not merged: {sizes:?}");
    // The app has no call-status URL: its events were written settled, `no_receiver`, never pushed, and
    // counted once each.
    let (status, listed) = rig
        .switch
        .admin(Method::GET, "/admin/v1/outbox?kind=event&limit=1000", None);
    assert_eq!(status, 200, "{listed}");
    let events = listed["entries"].as_array().unwrap();
    assert!(events.len() >= 4 * CALLS as usize, "{} events", events.len());
    for e in events {
        assert_eq!(
            (e["state"].as_str(), e["attempts"].as_u64(), &e["doneAt"]),
            (Some("no_receiver"), Some(0), &e["createdAt"]),
            "{e}"
        );
    }
    let counted = rig.switch.metric("pn_push_no_receiver_total{kind=\"event\"}");
    assert_eq!(counted, Some(events.len() as f64));
    assert!(
        got.iter().all(|r| r.path.starts_with("/cdr")),
        "{}",
        summary(&got)
    );
    // Nothing pending once the CDRs' delivery marks are committed (they follow the pushes).
    let deadline = std::time::Instant::now() + PUSHED;
    while rig.switch.metric("pn_store_outbox_pending") != Some(0.0) {
        assert!(std::time::Instant::now() < deadline, "entries still pending");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A free UDP port with room for the `SIPp` RTP and RTCP ports (`-mp`).
fn media_port() -> u16 {
    loop {
        let p = pn_e2e::sipp::free_udp_port();
        if p < 65_000 && std::net::UdpSocket::bind(("127.0.0.1", p + 2)).is_ok() {
            return p;
        }
    }
}

#[test]
fn a_pushed_cdr_restarts_its_recordings_retention() {
    let receiver = Receiver::start(&[]);
    let rig = start_rig(&[("PNSWITCH__PUSH__CDR_BATCH_WAIT_MS", "0")]);
    let app = rig.switch.app_with_numbers("AXB", &[X_AXB]);
    receiver.add_app(&app.0, &app.1);
    point_app_at(&rig.switch, &app.0, &receiver, None, Some("/cdr"));
    // The receiver takes 3 s to answer: the recording is on disk well before its CDR is delivered.
    receiver.answer(
        "/cdr",
        pn_e2e::receiver::Answer {
            status: 200,
            delay: Duration::from_secs(3),
        },
    );
    rig.switch
        .bind_axb(&app, X_AXB, A, B, &json!({"recordFlag": "true"}));
    // B says a tone (the scenario plays this file), A SIPp's sample speech.
    pn_e2e::rtp::write_rtp_pcap(
        &rig.dir.path().join("tone_1khz.pcap"),
        &pn_e2e::rtp::alaw_tone(1000.0, 5.0),
        8,
    );
    let b_side = rig
        .uas("uas_media_pcap")
        .arg("-mp")
        .arg(media_port().to_string())
        .timeout_secs(60)
        .spawn();
    rig.uac("uac_media_pcap")
        .arg("-mp")
        .arg(media_port().to_string())
        .pause_ms(4000)
        .timeout_secs(60)
        .inject(&[&[A, X_AXB]])
        .run_ok();
    b_side.finish_ok(SETTLE);
    let cdr = pn_e2e::axe::wait_for_outbox(&rig.switch.data_dir, "the CDR", |f| {
        f.iter().any(|f| f.kind == "cdr")
    })
    .into_iter()
    .find(|f| f.kind == "cdr")
    .unwrap()
    .payload;
    let object = cdr["recordObjectName"]
        .as_str()
        .unwrap_or_else(|| panic!("not recorded: {cdr}"))
        .to_owned();
    let recordings = rig.switch.data_dir.join("recordings");
    let file = std::fs::read_dir(&recordings)
        .unwrap()
        .flatten()
        .map(|app_dir| app_dir.path().join(&object))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("no file {object} under {}", recordings.display()));
    let written = std::fs::metadata(&file).unwrap().modified().unwrap();
    receiver.wait_for("the CDR", PUSHED, |got| !delivered_cdrs(got, "/cdr").is_empty());
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let kept_from = loop {
        let m = std::fs::metadata(&file).unwrap().modified().unwrap();
        if m > written || std::time::Instant::now() > deadline {
            break m;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let moved = kept_from.duration_since(written).unwrap_or_default();
    assert!(
        moved >= Duration::from_secs(2),
        "the recording's retention must count from the CDR's push (3 s after it was written), moved {moved:?}"
    );
}

#[test]
fn wsse_signed_pushes_and_x_number_status_pushes_reach_the_receiver() {
    let receiver = Receiver::start(&[]);
    let rig = pn_e2e::sipp::Rig::start(&[
        ("PNSWITCH__MEDIA__MODE", "bypass"),
        ("PNSWITCH__PUSH__CDR_BATCH_WAIT_MS", "0"),
    ]);
    let app = rig.switch.app_with_numbers("AXB", &[X_AXB, X_AX]);
    receiver.add_app(&app.0, &app.1);
    let (status, answer) = rig.switch.admin(
        Method::PUT,
        &format!("/admin/v1/apps/{}", app.0),
        Some(&json!({
            "cdrUrl": receiver.url("/cdr"),
            "numStatusEnabled": true,
            "numStatusUrl": receiver.url("/status"),
            "pushAuth": "wsse",
        })),
    );
    assert_eq!(status, 200, "{answer}");
    rig.switch.bind_axb(&app, X_AXB, A, B, &json!({}));
    let b_side = rig.uas("uas_answer").spawn();
    rig.uac("uac_basic").pause_ms(100).inject(&[&[A, X_AXB]]).run_ok();
    b_side.finish_ok(SETTLE);
    // The second number goes out of service (carrier suspension, cause 3), then is retired.
    let (status, answer) = rig.switch.admin(
        Method::PUT,
        &format!("/admin/v1/numbers/{}", X_AX.replace('+', "%2B")),
        Some(&json!({"status": "unavailable", "cause": 3})),
    );
    assert_eq!(status, 200, "{answer}");
    let got = receiver.wait_for("the CDR and the number-status push", PUSHED, |got| {
        !delivered_cdrs(got, "/cdr").is_empty() && got.iter().any(|r| r.path == "/status")
    });
    assert!(
        got.iter().all(|r| r.verified && r.scheme == "wsse"),
        "{}",
        summary(&got)
    );
    let status_push = got.iter().find(|r| r.path == "/status").unwrap();
    assert_eq!(
        status_push.body,
        json!({"eventType": "numStatus", "numInfo": [{"number": X_AX, "status": "10", "cause": "3"}]}),
    );
}
