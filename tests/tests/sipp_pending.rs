//! SIP end-to-end checks whose switch side is not finished yet. They are excluded from the default run (cargo
//! feature `pending` of pn-e2e); run them with
//! `cargo test -p pn-e2e --features pending --test sipp_pending`. When one passes, move it to `sipp_calls.rs`.
//!
//! - `max_duration_byes_carry_reason_8010`: issue 3 says the switch BYEs both legs "with cause 8010" at max
//!   duration. The BYEs arrive on time (`sipp_calls::max_duration_reached_hangs_up_both_legs`) but carry no
//!   `Reason` header, so the far ends cannot see the cause.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test: failing loudly is the point

use std::time::Duration;

use pn_e2e::sipp::Rig;
use serde_json::json;

const A: &str = "+8613800000001";
const B: &str = "+8613900000002";
const X: &str = "+8617000000001";

/// Waits a real minute: `maxDuration` is in minutes and the switch has no test override.
#[test]
fn max_duration_byes_carry_reason_8010() {
    let rig = Rig::start(&[]);
    let app = rig.switch.app_with_numbers("AXB", &[X]);
    rig.switch.bind_axb(&app, X, A, B, &json!({"maxDuration": 1}));
    let b_side = rig.uas("uas_answer").timeout_secs(120).spawn();
    let a_side = rig
        .uac("uac_wait_bye")
        .timeout_secs(100)
        .inject(&[&[A, X]])
        .run_ok();
    let b_side = b_side.finish_ok(Duration::from_secs(10));
    for (side, bye) in [
        ("A", a_side.first_request("BYE")),
        ("B", b_side.first_request("BYE")),
    ] {
        let reason = bye.headers("Reason").join(" | ");
        assert!(
            reason.contains("8010"),
            "the max-duration BYE to {side} has no Reason with cause 8010:\n{}",
            bye.text
        );
    }
}
