//! SIGTERM with a call up, through the real binary and `SIPp`: the switch stops taking new work at once
//! (`/readyz` 503, a new INVITE 503 with `Retry-After` and cause 7509, an OPTIONS probe 503) while the call
//! in progress goes on; when `sip.drain_secs` runs out the call is released on both legs with a BYE carrying
//! cause 7509, its disconnect event and CDR (`ulFailReason` 7509) are in the outbox, and the process exits.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test: failing loudly is the point

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use pn_e2e::axe::{show, wait_for_outbox};
use pn_e2e::sipp::{Rig, reason};
use serde_json::json;

const A: &str = "+8613800000001";
const B: &str = "+8613900000002";
const X: &str = "+8617000000001";
const DRAIN_SECS: u64 = 4;

fn readyz(rig: &Rig) -> Option<u16> {
    rig.switch
        .client()
        .get(format!("{}/readyz", rig.switch.base))
        .timeout(Duration::from_secs(2))
        .send()
        .ok()
        .map(|r| r.status().as_u16())
}

/// An out-of-dialog OPTIONS (what a front's dispatcher probes with); returns the answer's status line.
fn probe(rig: &Rig) -> String {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let me = socket.local_addr().unwrap();
    let options = format!(
        "OPTIONS sip:{X}@{sw} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK-probe-{n}\r\n\
         From: <sip:probe@{me}>;tag=p1\r\nTo: <sip:{X}@{sw}>\r\nCall-ID: probe-{n}@127.0.0.1\r\n\
         CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        sw = rig.switch.sip,
        n = me.port()
    );
    socket.send_to(options.as_bytes(), rig.switch.sip).unwrap();
    let mut buf = [0u8; 4096];
    let n = socket.recv(&mut buf).expect("an answer to OPTIONS");
    String::from_utf8_lossy(&buf[..n])
        .lines()
        .next()
        .unwrap_or("")
        .to_owned()
}

#[test]
fn sigterm_refuses_new_work_lets_the_call_run_then_releases_it_with_7509() {
    let mut rig = Rig::start(&[
        ("PNSWITCH__MEDIA__MODE", "bypass"),
        ("PNSWITCH__SIP__DRAIN_SECS", "4"),
        // The probe's source is trusted (127.0.0.1).
    ]);
    let app = rig.switch.app_with_numbers("AXB", &[X]);
    rig.switch.bind_axb(&app, X, A, B, &json!({}));
    assert_eq!(readyz(&rig), Some(200));
    assert!(probe(&rig).starts_with("SIP/2.0 200 "), "OPTIONS before the stop");

    // A call that outlasts the drain: A and B each wait for a BYE.
    let mut b_side = rig.uas("uas_answer").timeout_secs(60).spawn();
    let mut a_side = rig
        .uac("uac_wait_bye")
        .inject(&[&[A, X]])
        .timeout_secs(60)
        .spawn();
    let up = Instant::now();
    while rig.switch.metric("pn_sip_active_calls") != Some(1.0) {
        assert!(up.elapsed() < Duration::from_secs(10), "the call never came up");
        std::thread::sleep(Duration::from_millis(50));
    }

    rig.switch.terminate();
    let stopped_at = Instant::now();
    while readyz(&rig) != Some(503) {
        assert!(
            stopped_at.elapsed() < Duration::from_secs(2),
            "/readyz still ready after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // New work is refused while the call goes on.
    assert!(probe(&rig).starts_with("SIP/2.0 503 "), "OPTIONS while draining");
    let refused = rig.uac("uac_expect_reject").inject(&[&[A, X]]).run_ok();
    let fin = refused.final_invite_response();
    assert_eq!(fin.status(), Some(503), "{}", fin.text);
    assert!(
        reason(&fin).contains("Q.850;cause=41;text=\"7509 Switch shutting down\""),
        "{}",
        fin.text
    );
    assert_eq!(fin.header("Retry-After").as_deref(), Some("4"), "{}", fin.text);
    assert!(
        stopped_at.elapsed() < Duration::from_secs(DRAIN_SECS - 1),
        "the refusals took too long to see the call still up"
    );
    assert_eq!(
        rig.switch.metric("pn_sip_active_calls"),
        Some(1.0),
        "the call goes on"
    );

    // The drain time runs out: both legs get a BYE with cause 7509.
    let a_run = a_side.wait_for(Duration::from_secs(20));
    let released_after = stopped_at.elapsed();
    let b_run = b_side.wait_for(Duration::from_secs(10));
    assert!(
        released_after >= Duration::from_millis(DRAIN_SECS * 1000 - 300),
        "released after {released_after:?}, before the drain time"
    );
    for (side, run) in [("A", &a_run), ("B", &b_run)] {
        let bye = run
            .received_requests("BYE")
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("{side} got no BYE:\n{}", run.diagnostics()));
        assert!(reason(&bye).contains("7509"), "{side}: {}", bye.text);
    }
    assert!(
        rig.switch.switch.wait_exit(Duration::from_secs(15)),
        "exit status"
    );

    // The released call's disconnect event and CDR were written before the exit.
    let facts = wait_for_outbox(&rig.switch.data_dir, "the released call's CDR", |facts| {
        facts
            .iter()
            .any(|f| f.kind == "cdr" && f.payload["ulFailReason"] == 7509)
    });
    assert!(
        facts
            .iter()
            .any(|f| f.event_type() == Some("disconnect") && f.status_info()["stateCode"] == 7509),
        "{}",
        show(&facts)
    );
}
