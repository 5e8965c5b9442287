//! Whole calls through the switch on the simulator: a lossy network, a silent callee, in virtual time.

#![allow(clippy::unwrap_used, clippy::panic)]

use std::time::Duration;

use pn_b2bua::B2buaConfig;
use pn_test_support::sim::{Sim, SimConfig};
use pn_test_support::ua::Ending;
use pn_test_support::{FakeRouter, NetworkConfig};

const A_NUM: &str = "+8613800000001";
const X_NUM: &str = "+8617000000000";
const B_NUM: &str = "+8613900000002";
const CALLS: usize = 10;

fn router() -> FakeRouter {
    FakeRouter::connect(
        pn_numbers::normalize(B_NUM).unwrap(),
        pn_numbers::normalize(X_NUM).unwrap(),
        0,
    )
}

/// `CALLS` calls, one a second, each held 5 s; runs until both trunks saw every call end and the switch holds
/// none (or 10 virtual minutes).
fn run_calls(net: NetworkConfig) -> Sim<FakeRouter> {
    let config = SimConfig {
        net,
        b2b: B2buaConfig {
            dialog_probe_secs: 0,
            ..B2buaConfig::default()
        },
        ..SimConfig::default()
    };
    let mut sim = Sim::new(router(), config);
    for _ in 0..CALLS {
        sim.place_call(A_NUM, X_NUM);
        sim.run_for(Duration::from_secs(1));
    }
    let done = sim.run_until(Duration::from_secs(600), |s| {
        s.a.calls.iter().all(|c| c.ending != Ending::Open)
            && s.b.calls.len() == CALLS
            && s.b.calls.iter().all(|c| c.ending != Ending::Open)
            && s.b2b.active_calls() == 0
            && s.net.in_flight() == 0
    });
    assert!(
        done,
        "not settled after 10 virtual minutes: A {:?}, B {:?}, switch holds {}",
        sim.a.calls.iter().map(|c| c.ending).collect::<Vec<_>>(),
        sim.b.calls.iter().map(|c| c.ending).collect::<Vec<_>>(),
        sim.b2b.active_calls()
    );
    sim
}

/// Every call was answered, held and hung up by A; B saw each once and got its BYE; one normal CDR each.
fn assert_all_completed(sim: &Sim<FakeRouter>, what: &str) {
    assert_eq!(sim.a.calls.len(), CALLS);
    for (i, call) in sim.a.calls.iter().enumerate() {
        assert_eq!(
            call.ending,
            Ending::HungUp,
            "{what}: A's call {i}: {:?}",
            call.statuses
        );
        assert!(call.answer.is_some(), "{what}: A's call {i} never answered");
    }
    assert_eq!(
        sim.b.calls.len(),
        CALLS,
        "{what}: one B leg per call, retransmissions included"
    );
    for (i, call) in sim.b.calls.iter().enumerate() {
        assert_eq!(call.ending, Ending::ByeReceived, "{what}: B's call {i}");
        assert!(
            call.answered && call.acks >= 1,
            "{what}: B's call {i} never ACKed"
        );
    }
    let cdrs = sim.cdrs();
    assert_eq!(cdrs.len(), CALLS, "{what}: one CDR per call");
    for cdr in cdrs {
        assert!(cdr.fwd_answer_time.is_some(), "{what}: {cdr:?}");
        assert_eq!(cdr.ul_fail_reason, 0, "{what}: {cdr:?}");
        assert_eq!(cdr.fwd_dst_num.as_deref(), Some(B_NUM), "{what}");
        assert_eq!(cdr.fwd_display_num.as_deref(), Some(X_NUM), "{what}");
    }
    assert_eq!(
        sim.disconnect_codes(),
        vec![Some(0); CALLS],
        "{what}: normal hang-ups"
    );
}

#[test]
fn on_a_clean_network_nothing_is_retransmitted() {
    let sim = run_calls(NetworkConfig::default());
    assert_all_completed(&sim, "no loss");
    assert_eq!(sim.net.dropped, 0);
    assert_eq!(sim.b2b.stats().retransmissions_received, 0);
    assert_eq!(sim.b2b.stats().retransmissions_sent, 0);
    assert!(sim.b.calls.iter().all(|c| c.invites == 1 && c.acks == 1));
}

#[test]
fn calls_complete_through_retransmissions_with_five_percent_loss() {
    let (mut dropped, mut received, mut sent) = (0, 0, 0);
    for seed in 1..=20 {
        let sim = run_calls(NetworkConfig {
            loss: 0.05,
            latency: Duration::from_millis(20),
            jitter: Duration::from_millis(10),
            seed,
        });
        assert_all_completed(&sim, &format!("seed {seed}"));
        dropped += sim.net.dropped;
        received += sim.b2b.stats().retransmissions_received;
        sent += sim.b2b.stats().retransmissions_sent;
    }
    // The loss was real, and the calls survived it by retransmissions on both sides.
    assert!(dropped >= 50, "only {dropped} messages dropped over 20 runs");
    assert!(received > 0, "the switch never saw a retransmission");
    assert!(sent > 0, "the switch never retransmitted");
}

#[test]
fn a_callee_that_never_answers_is_cancelled_at_the_forward_timeout() {
    let config = SimConfig {
        ring: Duration::from_secs(3600),
        b2b: B2buaConfig {
            forward_timeout_secs: 90,
            ..B2buaConfig::default()
        },
        ..SimConfig::default()
    };
    let mut sim = Sim::new(router(), config);
    sim.place_call(A_NUM, X_NUM);
    let settled = sim.run_until(Duration::from_secs(300), |s| {
        s.a.calls[0].ending != Ending::Open && s.b.calls.first().is_some_and(|c| c.ending != Ending::Open)
    });
    assert!(settled, "A {:?}", sim.a.calls[0].ending);
    let waited = sim.now - sim.start;
    assert!(
        (Duration::from_secs(90)..Duration::from_secs(92)).contains(&waited),
        "settled after {waited:?}"
    );
    assert!(
        matches!(sim.a.calls[0].ending, Ending::Failed(s) if s >= 400),
        "{:?}",
        sim.a.calls[0].ending
    );
    assert_eq!(
        sim.b.calls[0].ending,
        Ending::Failed(487),
        "B's leg was cancelled"
    );
    assert_eq!(sim.disconnect_codes(), vec![Some(8035)]);
}
