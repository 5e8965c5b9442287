//! SIGHUP through the real binary: the trunk list is read again from the configuration file while a call is
//! up; the call goes on to its end on the old trunk, the next call goes to the new one; a file that does not
//! load changes nothing. The switch-wide call policy (`routing.policy`) is replaced the same way.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test: failing loudly is the point

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use pn_e2e::sipp::{SipSwitch, Sipp, free_udp_port};
use serde_json::json;

const A: &str = "+8613800000001";
const B: &str = "+8613900000002";
const X: &str = "+8617000000001";
const SETTLE: Duration = Duration::from_secs(15);

fn trunk_config(egress_port: u16) -> String {
    format!(
        "[media]\nmode = \"bypass\"\n[sip.b2bua]\negress = [\"127.0.0.1:{egress_port}\"]\ntrusted_peers = [\"127.0.0.1\"]\n"
    )
}

#[test]
fn sighup_moves_new_calls_to_the_new_trunk_and_the_call_up_survives() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (free_udp_port(), free_udp_port());
    let config = dir.path().join("pnswitch.toml");
    std::fs::write(&config, trunk_config(first)).unwrap();
    let mut switch = SipSwitch::start_with_config(&dir.path().join("data"), &config, &[]);
    let app = switch.app_with_numbers("AXB", &[X]);
    switch.bind_axb(&app, X, A, B, &json!({}));
    let sip: SocketAddr = switch.sip;

    // A call up on the first trunk, for 4 s.
    let mut old_b = Sipp::uas(dir.path(), "uas_answer", first)
        .timeout_secs(30)
        .spawn();
    let mut long_call = Sipp::uac(dir.path(), "uac_basic", sip)
        .pause_ms(4000)
        .inject(&[&[A, X]])
        .timeout_secs(30)
        .spawn();
    let up = Instant::now();
    while switch.metric("pn_sip_active_calls") != Some(1.0) {
        assert!(
            up.elapsed() < Duration::from_secs(10),
            "the first call never came up"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // The trunk moves.
    std::fs::write(&config, trunk_config(second)).unwrap();
    switch.hangup();
    std::thread::sleep(Duration::from_millis(500));
    let new_b = Sipp::uas(dir.path(), "uas_answer", second)
        .timeout_secs(30)
        .spawn();
    let next = Sipp::uac(dir.path(), "uac_basic", sip)
        .pause_ms(200)
        .inject(&[&[A, X]])
        .run_ok();
    assert_eq!(next.final_invite_response().status(), Some(200));
    let new_b = new_b.finish_ok(SETTLE);
    assert_eq!(
        new_b.received_requests("INVITE").len(),
        1,
        "the next call reached the new trunk"
    );

    // The call that was up ends normally on the old trunk.
    let long_run = long_call.wait_for(SETTLE);
    assert_eq!(
        long_run.final_invite_response().status(),
        Some(200),
        "{}",
        long_run.diagnostics()
    );
    let old_run = old_b.wait_for(SETTLE);
    assert_eq!(
        old_run.received_requests("INVITE").len(),
        1,
        "{}",
        old_run.diagnostics()
    );
    assert_eq!(
        old_run.received_requests("BYE").len(),
        1,
        "the first call's BYE reached the old trunk"
    );

    // A file that does not load changes nothing: calls still go to the second trunk.
    std::fs::write(&config, "[sip.b2bua]\negress = \"not a list\"\n").unwrap();
    switch.hangup();
    std::thread::sleep(Duration::from_millis(300));
    let again_b = Sipp::uas(dir.path(), "uas_answer", second)
        .timeout_secs(30)
        .spawn();
    Sipp::uac(dir.path(), "uac_basic", sip)
        .pause_ms(200)
        .inject(&[&[A, X]])
        .run_ok();
    let again_b = again_b.finish_ok(SETTLE);
    assert_eq!(again_b.received_requests("INVITE").len(), 1);
    assert!(switch.switch.stop(Duration::from_secs(40)), "clean exit");
}

/// The final answer to one call from `caller` to X through the switch, placed with `scenario` (the
/// refusal or the answer it expects).
fn call_status(dir: &std::path::Path, sip: SocketAddr, caller: &str, scenario: &str) -> Option<u16> {
    let run = Sipp::uac(dir, scenario, sip)
        .pause_ms(200)
        .inject(&[&[caller, X]])
        .timeout_secs(20)
        .run_ok();
    run.final_invite_response().status()
}

#[test]
fn sighup_replaces_the_switch_wide_policy_for_the_next_call() {
    // A fixed-line A (a landline bound as A): refused with 8023 while `reject_fixed_line_caller` holds.
    const FIXED: &str = "+8675582345678";
    const REFUSED: &str = "uac_expect_reject";
    let dir = tempfile::tempdir().unwrap();
    let port = free_udp_port();
    let config = dir.path().join("pnswitch.toml");
    let with_policy = |reject: bool| {
        format!(
            "{}[routing.policy]\nreject_fixed_line_caller = {reject}\n",
            trunk_config(port)
        )
    };
    std::fs::write(&config, with_policy(true)).unwrap();
    let mut switch = SipSwitch::start_with_config(&dir.path().join("data"), &config, &[]);
    let app = switch.app_with_numbers("AXB", &[X]);
    switch.bind_axb(&app, X, FIXED, B, &json!({}));
    let b = Sipp::uas(dir.path(), "uas_answer", port).timeout_secs(30).spawn();
    assert_eq!(call_status(dir.path(), switch.sip, FIXED, REFUSED), Some(403));

    std::fs::write(&config, with_policy(false)).unwrap();
    switch.hangup();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        call_status(dir.path(), switch.sip, FIXED, "uac_basic"),
        Some(200),
        "the reloaded policy lets the fixed-line A through"
    );
    let b = b.finish_ok(SETTLE);
    assert_eq!(b.received_requests("INVITE").len(), 1, "{}", b.diagnostics());

    std::fs::write(&config, with_policy(true)).unwrap();
    switch.hangup();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(call_status(dir.path(), switch.sip, FIXED, REFUSED), Some(403));
    assert!(switch.switch.stop(Duration::from_secs(40)), "clean exit");
}
