//! Trunk groups through the real binary and `SIPp`: two `[[sip.trunks]]`. The first answers 503 (a `SIPp` UAS):
//! calls complete on the second. The first is dead (nothing listening): calls complete on the second after
//! `failover_timeout_ms`, and once its OPTIONS probes have failed it is down and skipped at once. A UAS that
//! answers OPTIONS and INVITE is started on the first: after a probe interval it is up and new calls go to it
//! again. One call over a TCP trunk, and one over a trunk that takes national numbers and a
//! P-Asserted-Identity (X).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test: failing loudly is the point

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use pn_e2e::sipp::{SipSwitch, Sipp, free_udp_port};
use serde_json::json;

const A: &str = "+8613800000001";
const B: &str = "+8613900000002";
const X: &str = "+8617000000001";
const SETTLE: Duration = Duration::from_secs(15);

/// Waits until `series` reads `want` (at most `limit`).
fn wait_metric(switch: &SipSwitch, series: &str, want: f64, limit: Duration) {
    let start = Instant::now();
    loop {
        let got = switch.metric(series);
        if got == Some(want) {
            return;
        }
        assert!(
            start.elapsed() < limit,
            "{series} is {got:?}, not {want}, after {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One call from A through the switch; asserts it was answered; returns how long it took.
fn call(dir: &Path, sip: SocketAddr) -> Duration {
    let start = Instant::now();
    let run = Sipp::uac(dir, "uac_basic", sip)
        .pause_ms(100)
        .inject(&[&[A, X]])
        .timeout_secs(20)
        .run_ok();
    assert_eq!(
        run.final_invite_response().status(),
        Some(200),
        "{}",
        run.diagnostics()
    );
    start.elapsed()
}

/// A switch (media in bypass, 127.0.0.1 trusted) whose one trunk is on `port` with the extra `trunk` keys,
/// and A–X–B bound.
fn bound_with_one_trunk(dir: &Path, port: u16, trunk: &str) -> SipSwitch {
    let config = dir.join("pnswitch.toml");
    std::fs::write(
        &config,
        format!(
            "[media]\nmode = \"bypass\"\n[sip.b2bua]\ntrusted_peers = [\"127.0.0.1\"]\n\
             [[sip.trunks]]\naddress = \"127.0.0.1:{port}\"\n{trunk}"
        ),
    )
    .unwrap();
    let switch = SipSwitch::start_with_config(&dir.join("data"), &config, &[]);
    let app = switch.app_with_numbers("AXB", &[X]);
    switch.bind_axb(&app, X, A, B, &json!({}));
    switch
}

#[test]
fn failover_to_the_second_trunk_and_the_probe_brings_the_first_back() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (free_udp_port(), free_udp_port());
    let config = dir.path().join("pnswitch.toml");
    // T1 = 100 ms: Timer F (the probes' no-answer) is 6.4 s.
    std::fs::write(
        &config,
        format!(
            "[media]\nmode = \"bypass\"\n[sip]\nshards = 2\n[sip.b2bua]\ntrusted_peers = [\"127.0.0.1\"]\nt1_ms = 100\n\
             [[sip.trunks]]\nname = \"first\"\naddress = \"127.0.0.1:{first}\"\npriority = 0\nfailover_timeout_ms = 1000\n\
             probe_interval_secs = 1\nprobe_failures = 1\n\
             [[sip.trunks]]\nname = \"second\"\naddress = \"127.0.0.1:{second}\"\npriority = 1\n"
        ),
    )
    .unwrap();
    let mut switch = SipSwitch::start_with_config(&dir.path().join("data"), &config, &[]);
    let app = switch.app_with_numbers("AXB", &[X]);
    switch.bind_axb(&app, X, A, B, &json!({}));
    let sip = switch.sip;
    let first_up = "pn_sip_trunk_up{trunk=\"first\"}";
    let failovers = "pn_sip_trunk_failovers_total{trunk=\"first\"}";
    assert_eq!(switch.metric(failovers), Some(0.0), "preset to 0");
    assert_eq!(
        switch.metric("pn_sip_trunk_failovers_total{trunk=\"second\"}"),
        Some(0.0)
    );

    let good = Sipp::uas(dir.path(), "uas_answer", second)
        .calls(100)
        .timeout_secs(60)
        .spawn();

    // 1. The first trunk answers 503: both calls complete on the second.
    let unavailable = Sipp::uas(dir.path(), "uas_unavailable", first)
        .calls(100)
        .timeout_secs(60)
        .spawn();
    for _ in 0..2 {
        call(dir.path(), sip);
    }
    assert_eq!(switch.metric(failovers), Some(2.0));
    let run = unavailable.stop();
    assert_eq!(run.received_requests("INVITE").len(), 2, "{}", run.diagnostics());

    // 2. The first trunk is dead: the call completes on the second after the failover timeout.
    let dead_call = Instant::now();
    let took = call(dir.path(), sip);
    assert!(took >= Duration::from_secs(1), "failed over after {took:?}");
    assert_eq!(switch.metric(failovers), Some(3.0));
    // Its probe goes unanswered (Timer F): down, and skipped without waiting.
    wait_metric(&switch, first_up, 0.0, Duration::from_secs(15));
    let took = call(dir.path(), sip);
    assert_eq!(switch.metric(failovers), Some(3.0), "a down trunk is not tried");
    assert!(
        took < Duration::from_secs(1),
        "straight to the second trunk: {took:?}"
    );

    // 3. The first trunk comes back (answers OPTIONS and INVITE): a probe marks it up, calls go to it.
    // The INVITE given up on in 2 is retransmitted until its Timer B (64 × T1 = 6.4 s; a CANCEL needs a
    // provisional answer): a trunk back before then would get it, and its CANCEL. Start after that.
    std::thread::sleep(Duration::from_secs(7).saturating_sub(dead_call.elapsed()));
    let back = Sipp::uas(dir.path(), "uas_answer", first)
        .calls(100)
        .timeout_secs(60)
        .spawn();
    wait_metric(&switch, first_up, 1.0, Duration::from_secs(10));
    call(dir.path(), sip);
    std::thread::sleep(Duration::from_millis(500));
    let back = back.stop();
    assert_eq!(
        back.received_requests("INVITE").len(),
        1,
        "{}",
        back.diagnostics()
    );
    assert!(!back.received_requests("OPTIONS").is_empty(), "probed");
    let good = good.stop();
    assert_eq!(
        good.received_requests("INVITE").len(),
        4,
        "{}",
        good.diagnostics()
    );
    assert_eq!(switch.metric(failovers), Some(3.0));
    assert!(switch.switch.stop(Duration::from_secs(40)), "clean exit");
}

#[test]
fn a_call_over_a_tcp_trunk() {
    let (dir, port) = (tempfile::tempdir().unwrap(), free_udp_port());
    let mut switch = bound_with_one_trunk(dir.path(), port, "name = \"tcp\"\ntransport = \"tcp\"\n");
    let uas = Sipp::uas(dir.path(), "uas_answer", port)
        .tcp()
        .timeout_secs(30)
        .spawn();
    call(dir.path(), switch.sip);
    let run = uas.finish_ok(SETTLE);
    let invite = run.first_request("INVITE");
    assert!(
        invite.start_line().contains(";transport=tcp"),
        "{}",
        invite.start_line()
    );
    let via = invite.header("Via").unwrap();
    assert!(via.starts_with("SIP/2.0/TCP"), "{via}");
    assert!(invite.header("Contact").unwrap().contains(";transport=tcp"));
    assert_eq!(run.received_requests("BYE").len(), 1, "{}", run.diagnostics());
    assert!(switch.switch.stop(Duration::from_secs(40)), "clean exit");
}

#[test]
fn a_national_format_trunk_with_pai_gets_x_and_b_in_its_format_and_nothing_of_a() {
    let (dir, port) = (tempfile::tempdir().unwrap(), free_udp_port());
    let mut switch = bound_with_one_trunk(
        dir.path(),
        port,
        "name = \"national\"\nnumber_format = \"national\"\npai = true\n",
    );
    let uas = Sipp::uas(dir.path(), "uas_answer", port).timeout_secs(30).spawn();
    call(dir.path(), switch.sip);
    let run = uas.finish_ok(SETTLE);
    let invite = run.first_request("INVITE");
    let (b_national, x_national) = ("13900000002", "17000000001");
    assert!(
        invite
            .start_line()
            .starts_with(&format!("INVITE sip:{b_national}@")),
        "{}",
        invite.start_line()
    );
    assert!(
        invite
            .header("To")
            .unwrap()
            .contains(&format!("sip:{b_national}@"))
    );
    assert!(
        invite
            .header("From")
            .unwrap()
            .contains(&format!("sip:{x_national}@"))
    );
    let pai = invite.header("P-Asserted-Identity").expect("PAI on this trunk");
    assert!(pai.contains(&format!("sip:{x_national}@")), "{pai}");
    assert!(
        !invite.text.contains("13800000001"),
        "A's number reached the trunk:\n{}",
        invite.text
    );
    assert!(switch.switch.stop(Duration::from_secs(40)), "clean exit");
}
