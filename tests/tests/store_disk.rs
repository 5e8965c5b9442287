//! The store's disk, through the real binary (issue 8, items 6 and 7).
//!
//! - A data directory on a small tmpfs that fills up while calls go on (`SIPp` calls, signed API writes): new
//!   calls are refused with 503 / 7102 / `Retry-After`, the call already up is not lost, API writes answer
//!   1010001 and leave nothing behind, and freeing the space brings every buffered fact into the outbox.
//! - Read-only data directories (bind mounts remounted read-only): `serve` exits non-zero with a clear
//!   message instead of starting healthy.
//! - The outbox retention rule (row cap, then age) keeps the outbox bounded.
//!
//! Mounts need root (the tests run as root, as CI does); a failing mount fails the test, it is never skipped.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test: failing loudly is the point

use std::collections::BTreeSet;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pn_e2e::axe::{Fact, outbox, show, wait_for_outbox};
use pn_e2e::disk::{Mount, fill};
use pn_e2e::sipp::{AXB_PATH, Rig, SipSwitch, assert_refused, ok, reason};
use pn_e2e::{Switch, media_ports, mobile, pnswitch_bin};
use reqwest::Method;
use serde_json::json;

const A: &str = "+8613800000001";
const B: &str = "+8613900000002";
const X: &str = "+8617000000001";

/// How long a UAS may take to finish after its UAC did.
const SETTLE: Duration = Duration::from_secs(10);

/// Waits up to `limit` until the `/metrics` series equals `want`.
fn wait_metric(switch: &SipSwitch, series: &str, want: f64, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let got = switch.metric(series);
        if got == Some(want) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{series} is {got:?}, not {want}, after {limit:?}\n{}",
            switch.metrics()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn count(facts: &[Fact], event: &str) -> usize {
    facts.iter().filter(|f| f.event_type() == Some(event)).count()
}

fn cdrs(facts: &[Fact]) -> Vec<&Fact> {
    facts.iter().filter(|f| f.kind == "cdr").collect()
}

/// The `sessionId`s of the facts of one kind (`callin`, …, or `cdr`).
fn sessions(facts: &[Fact], what: &str) -> BTreeSet<String> {
    facts
        .iter()
        .filter(|f| {
            if what == "cdr" {
                f.kind == "cdr"
            } else {
                f.event_type() == Some(what)
            }
        })
        .filter_map(|f| {
            f.payload["sessionId"]
                .as_str()
                .or_else(|| f.status_info()["sessionId"].as_str())
                .map(str::to_owned)
        })
        .collect()
}

/// Binds `X`: `a` ↔ `b` through the signed API; returns (HTTP status, body).
fn bind(rig: &Rig, app: &(String, String), a: &str, b: &str) -> (u16, serde_json::Value) {
    let body = json!({"relationNum": X, "callerNum": a, "calleeNum": b});
    rig.switch.signed(Method::POST, AXB_PATH, app, Some(&body))
}

/// The long call is up this long after it was answered: the disk fills and new calls are refused meanwhile.
const LONG_CALL_MS: u64 = 20_000;

/// The CDRs of answered calls.
fn answered_cdrs(facts: &[Fact]) -> usize {
    facts
        .iter()
        .filter(|f| f.kind == "cdr" && f.payload["fwdAnswerTime"].is_string())
        .count()
}

#[test]
#[allow(clippy::too_many_lines)] // one story: fill, refuse, recover
fn full_disk_refuses_new_calls_keeps_every_fact_and_recovers() {
    let disk = Mount::tmpfs("8m");
    let data = disk.path().join("data");
    let rig = Rig::start_with_data(&data, &[("PNSWITCH__OUTBOX__RETRY_AFTER_SECS", "7")]);
    let app = rig.switch.app_with_numbers("AXB", &[X]);
    rig.switch.bind_axb(&app, X, A, B, &json!({}));
    // B answers every call of the test (stopped at the end); the INVITEs it got are counted then.
    let b_side = rig.uas("uas_answer").calls(1000).timeout_secs(180).spawn();
    let mut answered = 0;

    // Before the disk fills: two short calls, and a long one still up while it fills.
    rig.uac("uac_basic")
        .calls(2)
        .pause_ms(100)
        .inject(&[&[A, X]])
        .run_ok();
    answered += 2;
    let long = rig
        .uac("uac_basic")
        .pause_ms(LONG_CALL_MS)
        .timeout_secs(60)
        .inject(&[&[A, X]])
        .spawn();
    wait_for_outbox(&data, "the long call's answer", |f| {
        count(f, "answer") == 3 && cdrs(f).len() == 2
    });
    let long_answered = Instant::now();
    answered += 1;

    // Fill the disk, then write through the API until the store reports it: 1010001 (HTTP 500).
    let filler = fill(disk.path());
    let (a_fail, b_fail, status, refused) = (0..5000)
        .find_map(|i| {
            let (a, b) = (mobile(36, i), mobile(37, i));
            let (status, v) = bind(&rig, &app, &a, &b);
            (v["resultcode"] != "0").then_some((a, b, status, v))
        })
        .expect("the store never reported the full disk");
    assert_eq!(
        (status, refused["resultcode"].as_str()),
        (500, Some("1010001")),
        "{refused}"
    );

    // Calls go on until a commit of their facts fails (SQLite may still fit a few in its WAL); from then on
    // the switch is degraded and refuses new calls at once: 503, cause 7102, Retry-After.
    let mut refusal = None;
    for _ in 0..30 {
        let run = rig
            .uac("uac_answer_or_refusal")
            .pause_ms(100)
            .inject(&[&[A, X]])
            .run_ok();
        let fin = run.final_invite_response();
        match fin.status() {
            Some(200) => answered += 1,
            Some(503) => {
                refusal = Some(fin);
                break;
            }
            other => panic!("neither answered nor refused: {other:?}\n{}", run.diagnostics()),
        }
    }
    let refusal = refusal.expect("30 calls after the disk filled, none was refused");
    eprintln!(
        "full disk: {} call(s) connected after the disk filled, then the switch refused",
        answered - 3
    );
    assert!(
        long_answered.elapsed() < Duration::from_millis(LONG_CALL_MS - 3000),
        "the refusals came {:?} after the long call was answered: too late to see it continue",
        long_answered.elapsed()
    );
    assert_eq!(rig.switch.metric("pn_outbox_degraded"), Some(1.0));
    let a_side = rig.uac("uac_expect_reject").calls(2).inject(&[&[A, X]]).run_ok();
    assert_refused(&a_side, 503, "7102");
    let mut finals: Vec<_> = a_side
        .received()
        .into_iter()
        .filter(|m| m.status().is_some_and(|s| s >= 200))
        .collect();
    finals.push(refusal);
    assert_eq!(finals.len(), 3, "{}", a_side.diagnostics());
    for fin in &finals {
        assert_eq!(fin.status(), Some(503), "{}", fin.text);
        assert!(
            reason(fin).contains("Q.850;cause=41;text=\"7102 "),
            "{}",
            fin.text
        );
        assert_eq!(fin.header("Retry-After").as_deref(), Some("7"), "{}", fin.text);
    }
    assert_eq!(
        rig.switch
            .metric("pn_sip_calls_total{cause=\"7102\",outcome=\"rejected\"}"),
        Some(3.0)
    );

    // The long call was up all along: it ends normally, and its facts wait in memory with the others.
    long.finish_ok(Duration::from_millis(LONG_CALL_MS + 15_000));
    assert_eq!(rig.switch.metric("pn_outbox_degraded"), Some(1.0));
    assert!(
        rig.switch.metric("pn_outbox_buffered").unwrap_or(0.0) >= 2.0,
        "{}",
        rig.switch.metrics()
    );
    assert!(rig.switch.metric("pn_outbox_write_failures_total").unwrap_or(0.0) >= 1.0);
    assert!(
        answered_cdrs(&outbox(&data)) < answered,
        "{}",
        show(&outbox(&data))
    );

    // Space again: the switch recovers by itself and every buffered fact lands.
    std::fs::remove_file(&filler).expect("remove the filler");
    wait_metric(&rig.switch, "pn_outbox_degraded", 0.0, Duration::from_secs(30));
    let facts = wait_for_outbox(&data, "every answered call's CDR", |f| {
        answered_cdrs(f) == answered
    });
    let callins = sessions(&facts, "callin");
    assert_eq!(callins.len(), answered, "{}", show(&facts));
    assert_eq!(sessions(&facts, "cdr"), callins, "every call has its CDR");
    assert_eq!(
        sessions(&facts, "disconnect"),
        callins,
        "every call has its disconnect"
    );
    assert_eq!(cdrs(&facts).len(), answered, "no CDR twice: {}", show(&facts));
    assert_eq!(rig.switch.metric("pn_outbox_dropped_total"), Some(0.0));
    assert_eq!(rig.switch.metric("pn_outbox_buffered"), Some(0.0));

    // Calls connect again.
    rig.uac("uac_basic").pause_ms(100).inject(&[&[A, X]]).run_ok();
    answered += 1;
    wait_for_outbox(&data, "the new call's CDR", |f| answered_cdrs(f) == answered);

    // The API write refused on the full disk left nothing behind: its caller is not routed, and the same
    // bind succeeds now.
    let a_side = rig
        .uac("uac_expect_reject")
        .inject(&[&[a_fail.as_str(), X]])
        .run_ok();
    assert_refused(&a_side, 404, "8014");
    ok(&bind(&rig, &app, &a_fail, &b_fail));

    // B saw the answered calls only: no refused call reached it.
    let b_side = b_side.stop();
    assert_eq!(
        b_side.received_requests("INVITE").len(),
        answered,
        "{}",
        b_side.diagnostics()
    );
}

/// Runs `pnswitch serve` on `data` and expects it to exit by itself, non-zero, within 20 s; returns its
/// standard error.
fn serve_must_fail(data: &Path) -> String {
    let mut child = Command::new(pnswitch_bin())
        .args([
            "serve",
            "--http-listen",
            "127.0.0.1:0",
            "--sip-listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(data)
        .env("RUST_LOG", "warn")
        .envs(media_ports())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn pnswitch");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break Some(status);
        }
        if Instant::now() >= deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let mut out = String::new();
    let mut err = String::new();
    let _ = child.stdout.take().expect("stdout").read_to_string(&mut out);
    let _ = child.stderr.take().expect("stderr").read_to_string(&mut err);
    let status =
        status.unwrap_or_else(|| panic!("pnswitch kept running on {}:\n{out}\n{err}", data.display()));
    assert!(
        !status.success(),
        "pnswitch exited 0 on {}:\n{out}\n{err}",
        data.display()
    );
    assert!(
        !out.contains("http listening"),
        "pnswitch started serving on {}:\n{out}",
        data.display()
    );
    err
}

#[test]
fn read_only_data_directories_stop_the_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    // A data directory in use: database, admin token, media directories, an app.
    {
        let switch = Switch::start(&data);
        switch.create_app("ro", "AXB");
    }

    // The whole data directory read-only (a disk remounted read-only).
    {
        let _ro = Mount::read_only(&data);
        let err = serve_must_fail(&data);
        let want = format!("data directory {} is not writable", data.display());
        assert!(err.contains(&want), "{err}");
        assert!(err.contains("Read-only file system"), "{err}");
    }
    // Only the database file read-only: the directory probe passes, the database's does not.
    {
        let db = data.join("pnswitch.db");
        let _ro = Mount::read_only(&db);
        let err = serve_must_fail(&data);
        let want = format!("database {} is not writable", db.display());
        assert!(err.contains(&want), "{err}");
    }
    // Only the recordings directory read-only.
    {
        let recordings = data.join("recordings");
        let _ro = Mount::read_only(&recordings);
        let err = serve_must_fail(&data);
        let want = format!("recordings directory {} is not writable", recordings.display());
        assert!(err.contains(&want), "{err}");
    }
    // Writable again: the same directory starts, its data intact.
    let switch = Switch::start(&data);
    let (status, v) = switch.admin(Method::GET, "/admin/v1/apps", None);
    assert_eq!(status, 200, "{v}");
    assert!(v.to_string().contains("\"ro\""), "{v}");
}

#[test]
fn outbox_retention_bounds_the_outbox_by_rows_then_by_age() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let calls = 5;
    {
        let rig = Rig::start_with_data(
            &data,
            &[
                ("PNSWITCH__OUTBOX__MAX_ROWS", "8"),
                ("PNSWITCH__OUTBOX__PURGE_CHUNK", "3"),
                ("PNSWITCH__OUTBOX__PURGE_INTERVAL_SECS", "1"),
            ],
        );
        let app = rig.switch.app_with_numbers("AXB", &[X]);
        rig.switch.bind_axb(&app, X, A, B, &json!({}));
        let b_side = rig.uas("uas_answer").calls(calls).spawn();
        // One call at a time (2 per second, each shorter than that): their facts do not interleave.
        rig.uac("uac_basic")
            .calls(calls)
            .rate(2.0)
            .pause_ms(50)
            .inject(&[&[A, X]])
            .run_ok();
        b_side.finish_ok(SETTLE);
        // Every call wrote its facts (6 rows each); the cap keeps the newest 8 rows.
        let deadline = Instant::now() + Duration::from_secs(15);
        let (rows, purged) = loop {
            let rows = outbox(&data);
            let purged = rig
                .switch
                .metric("pn_store_outbox_purged_total{reason=\"cap\"}")
                .unwrap_or(0.0) as usize;
            if rows.len() == 8 && rows.len() + purged == 6 * calls as usize {
                break (rows, purged);
            }
            assert!(
                Instant::now() < deadline,
                "the outbox never settled at 8 rows: {} rows, {purged} purged\n{}",
                rows.len(),
                show(&rows)
            );
            std::thread::sleep(Duration::from_millis(100));
        };
        assert_eq!(purged, 6 * calls as usize - 8);
        assert_eq!(rig.switch.metric("pn_store_outbox_rows"), Some(8.0));
        // The app has no URLs: nothing waits for a push (the rows are kept as `no_receiver`).
        assert_eq!(rig.switch.metric("pn_store_outbox_pending"), Some(0.0));
        assert_eq!(
            rig.switch
                .metric("pn_store_outbox_purged_total{reason=\"age\"}")
                .unwrap_or(0.0) as usize,
            0
        );
        // The newest rows stay: the last call's six facts, and the end of the call before it.
        let kept: Vec<String> = rows
            .iter()
            .map(|f| f.event_type().unwrap_or("cdr").to_owned())
            .collect();
        assert_eq!(
            kept,
            [
                "disconnect",
                "cdr",
                "callin",
                "callout",
                "alerting",
                "answer",
                "disconnect",
                "cdr"
            ],
            "{}",
            show(&rows)
        );
        assert_eq!(sessions(&rows, "cdr").len(), 2);
    }
    // Restarted with a one-second retention and no cap: the rows left age out.
    let rig = Rig::start_with_data(
        &data,
        &[
            ("PNSWITCH__OUTBOX__RETENTION_SECS", "1"),
            ("PNSWITCH__OUTBOX__MAX_ROWS", "0"),
            ("PNSWITCH__OUTBOX__PURGE_INTERVAL_SECS", "1"),
        ],
    );
    wait_metric(
        &rig.switch,
        "pn_store_outbox_purged_total{reason=\"age\"}",
        8.0,
        Duration::from_secs(15),
    );
    assert!(outbox(&data).is_empty(), "{}", show(&outbox(&data)));
    assert_eq!(rig.switch.metric("pn_store_outbox_rows"), Some(0.0));
}
