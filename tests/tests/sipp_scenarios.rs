//! The `SIPp` scenarios of `sip-fixtures/sipp/` played against each other, without pnswitch: every UAC scenario
//! against the UAS scenario it is written for must complete (exit 0 on both sides). This keeps the XML valid
//! and shows that a failure in `sipp_calls`/`sipp_leak` is the switch's, not the scenario's.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test: failing loudly is the point

use std::time::Duration;

use pn_e2e::sipp::{Sipp, free_udp_port};

const A: &str = "+8613800000001";
const X: &str = "+8617000000001";
const B: &str = "+8613900000002";

/// Runs `uac` against `uas` directly; returns (UAC run, UAS run).
fn pair(uac: &str, uas: &str, uac_extra: &[&str]) -> (pn_e2e::sipp::SippRun, pn_e2e::sipp::SippRun) {
    let dir = tempfile::tempdir().unwrap();
    let server = Sipp::uas(dir.path(), uas, free_udp_port())
        .pause_ms(300)
        .inject(&[&[B, "13900000002"]])
        .spawn();
    let mut client = Sipp::uac(dir.path(), uac, server.addr())
        .pause_ms(300)
        .timeout_secs(20)
        .inject(&[&[A, X, "13800000001"]]);
    for a in uac_extra {
        client = client.arg(*a);
    }
    let a_side = client.run_ok();
    let b_side = server.finish_ok(Duration::from_secs(10));
    (a_side, b_side)
}

#[test]
fn basic_call() {
    let (uac, uas) = pair("uac_basic", "uas_answer", &[]);
    let invite = uas.first_request("INVITE");
    assert!(invite.header("From").unwrap().contains(A), "{}", invite.text);
    assert_eq!(uac.received_statuses().last(), Some(&200));
    assert_eq!(uas.received_requests("BYE").len(), 1);
}

#[test]
fn cancel_before_answer() {
    let (uac, uas) = pair("uac_cancel", "uas_noanswer", &[]);
    assert_eq!(uac.final_invite_response().status(), Some(487));
    assert_eq!(uas.received_requests("CANCEL").len(), 1);
}

#[test]
fn busy_is_a_rejection() {
    let (uac, _) = pair("uac_expect_reject", "uas_busy", &[]);
    assert_eq!(uac.final_invite_response().status(), Some(486));
}

#[test]
fn reinvite() {
    let (_, uas) = pair("uac_reinvite", "uas_reinvite", &[]);
    assert_eq!(uas.received_requests("INVITE").len(), 2);
}

#[test]
fn bye_from_callee() {
    let (uac, _) = pair("uac_wait_bye", "uas_bye", &[]);
    assert_eq!(uac.received_requests("BYE").len(), 1);
}

#[test]
fn bye_from_caller_with_answering_callee() {
    let (_, uas) = pair("uac_basic", "uas_answer", &[]);
    assert_eq!(uas.received_requests("ACK").len(), 1);
}

#[test]
fn leak_probe_pair_completes_and_injects_everywhere() {
    let (uac, uas) = pair("uac_leak", "uas_leak", &["-cid_str", "13800000001-%u-%p@%s"]);
    // Without a switch in between, the digits do reach the other side: the probe is live.
    let invite = uas.first_request("INVITE");
    for header in [
        "From",
        "Contact",
        "Call-ID",
        "P-Asserted-Identity",
        "Remote-Party-ID",
        "User-Agent",
        "Subject",
        "Organization",
        "Call-Info",
        "X-Caller",
    ] {
        assert!(
            invite.headers(header).iter().any(|v| v.contains("13800000001")),
            "{header} does not carry A's digits:\n{}",
            invite.text
        );
    }
    for line in ["o=", "s=", "i=", "u=", "e=", "p="] {
        assert!(
            invite
                .body()
                .lines()
                .any(|l| l.starts_with(line) && l.contains("13800000001")),
            "SDP {line} does not carry A's digits:\n{}",
            invite.body()
        );
    }
    let ok = uac
        .received()
        .into_iter()
        .find(|m| m.status() == Some(200))
        .unwrap();
    assert!(
        ok.header("Contact").unwrap().contains("13900000002"),
        "{}",
        ok.text
    );
    assert!(ok.body().contains("o=13900000002"), "{}", ok.text);
}
