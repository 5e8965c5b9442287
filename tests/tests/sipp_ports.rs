//! The relay's port pool through the real binary (issue 8, item 9; issue 14): many short relayed calls in quick
//! succession through one shard with a small port range (20 pairs). Issue 8: a pair freed by one call was handed
//! to the next while the receive tasks of the first still held its sockets, and the new call failed with "Address
//! already in use" (503, stateCode 7508). Issue 14: an ended call's sockets stay bound (parked) and are reused by
//! a later call, resting `media.port_rest_ms` first; with 9 calls up at once and 20 pairs the pool runs out of
//! rested and cold pairs and hands out resting ones, bound or not, which must never fail either. No call fails,
//! and every port of the range is free again once the parked pairs went idle (`media.port_idle_secs`, 1 s here)
//! and the switch closed them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test: failing loudly is the point

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use pn_e2e::sipp::Rig;
use serde_json::json;

const A: &str = "+8613800000001";
const B: &str = "+8613900000002";
const X: &str = "+8617000000001";

/// Pairs in the switch's range: a call takes two.
const PAIRS: u16 = 20;

/// Calls placed.
const CALLS: u32 = 1000;

/// A block of `2 * PAIRS` ports of its own for this process (below the kernel's ephemeral range, away from the
/// blocks the other test files give their switches and `SIPp`).
fn port_block() -> u16 {
    let slot = u16::try_from(std::process::id() % 250).unwrap_or(0);
    20_000 + slot * 48
}

/// The ports of `first..first + 2 * PAIRS` something still holds (a bind attempt fails).
fn bound_ports(first: u16) -> Vec<u16> {
    (first..first + 2 * PAIRS)
        .filter(|&p| UdpSocket::bind(("127.0.0.1", p)).is_err())
        .collect()
}

#[test]
fn short_calls_in_quick_succession_never_get_a_port_still_bound() {
    let first = port_block();
    let last = first + 2 * PAIRS - 1;
    let (first_s, last_s) = (first.to_string(), last.to_string());
    let rig = Rig::start(&[
        ("PNSWITCH__MEDIA__PORT_MIN", first_s.as_str()),
        ("PNSWITCH__MEDIA__PORT_MAX", last_s.as_str()),
        // One shard owns the whole range: every call competes for the same 20 pairs.
        ("PNSWITCH__SIP__SHARDS", "1"),
        // Parked pairs are closed 1 s (rest) + 1 s after their last call.
        ("PNSWITCH__MEDIA__PORT_IDLE_SECS", "1"),
    ]);
    let app = rig.switch.app_with_numbers("AXB", &[X]);
    rig.switch.bind_axb(&app, X, A, B, &json!({}));
    assert!(
        bound_ports(first).is_empty(),
        "ports of the range are taken before any call: {:?}",
        bound_ports(first)
    );

    let b_side = rig.uas("uas_load").calls(CALLS).timeout_secs(90).spawn();
    // As fast as the box goes, with at most 9 calls up at once (18 of the 20 pairs): a new call starts as soon as
    // one has ended, so the pairs just freed are the ones the pool hands out next.
    let a_side = rig
        .uac("uac_basic")
        .calls(CALLS)
        .rate(1000.0)
        .pause_ms(0)
        .arg("-l")
        .arg("9")
        .timeout_secs(75)
        .inject(&[&[A, X]])
        .run();
    let b_side = b_side.stop();
    let refused: Vec<u16> = a_side
        .received_statuses()
        .into_iter()
        .filter(|s| *s >= 300)
        .collect();
    let open_failed = rig
        .switch
        .metric("pn_media_events_total{kind=\"open_failed\"}")
        .unwrap_or(0.0);
    assert!(
        refused.is_empty() && open_failed == 0.0,
        "{} call(s) refused ({:?}…), {open_failed} relay(s) whose ports were still bound\n{}\n{}",
        refused.len(),
        &refused[..refused.len().min(5)],
        a_side.diagnostics(),
        b_side.diagnostics()
    );
    a_side.assert_ok();
    let stats = a_side.stats().expect("uac statistics");
    assert_eq!(stats.successful, u64::from(CALLS), "{stats:?}");

    // The calls' ports stay bound for a while, parked for reuse, and the gauge says how many.
    let parked = rig.switch.metric("pn_media_ports_bound").unwrap_or(-1.0);
    assert!(
        parked > 0.0 && parked <= f64::from(2 * PAIRS),
        "pn_media_ports_bound {parked} right after the calls"
    );
    // Every call ended: no relay is left, and once the parked pairs rested (1 s) and idled (1 s), and the switch's
    // once-a-second look closed them, every port of the range is free again, and the gauge is back to 0.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let held = bound_ports(first);
        let relays = rig.switch.metric("pn_media_relays").unwrap_or(-1.0);
        let bound = rig.switch.metric("pn_media_ports_bound").unwrap_or(-1.0);
        if held.is_empty() && relays == 0.0 && bound == 0.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "after the run the switch still holds ports {held:?} ({relays} relays open, pn_media_ports_bound {bound})"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
