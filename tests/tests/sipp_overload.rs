//! Overload through the real binary: when a shard is behind, a new INVITE that waited in its queue longer
//! than `sip.overload_queue_delay_ms` is answered at once with `503`, `Retry-After` and
//! `Reason: Q.850;cause=42;text="522 Switch overloaded"`, before any route decision; the calls admitted
//! before it go on to the end; nothing goes unanswered. The delay is set to 20 ms here: calls placed one at a
//! time are all admitted, while a burst of 400 INVITEs sent as fast as `SIPp` can builds a longer backlog
//! (the default is 200 ms).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test: failing loudly is the point

use pn_e2e::sipp::{Rig, reason};
use serde_json::json;

const A: &str = "+8613800000001";
const B: &str = "+8613900000002";
const X: &str = "+8617000000001";
const CALLS: u32 = 400;

#[test]
fn a_burst_past_capacity_is_answered_503_with_retry_after_and_admitted_calls_complete() {
    let rig = Rig::start(&[
        ("PNSWITCH__MEDIA__MODE", "bypass"),
        ("PNSWITCH__SIP__SHARDS", "1"),
        ("PNSWITCH__SIP__OVERLOAD_QUEUE_DELAY_MS", "20"),
        ("PNSWITCH__SIP__OVERLOAD_RETRY_AFTER_SECS", "3"),
    ]);
    let app = rig.switch.app_with_numbers("AXB", &[X]);
    rig.switch.bind_axb(&app, X, A, B, &json!({}));
    // Calls at a pace the switch keeps up with: all admitted.
    let b_side = rig.uas("uas_answer").calls(5).spawn();
    let paced = rig
        .uac("uac_answer_or_refusal")
        .calls(5)
        .rate(10.0)
        .pause_ms(50)
        .inject(&[&[A, X]])
        .run_ok();
    drop(b_side.finish_ok(std::time::Duration::from_secs(10)));
    let statuses: Vec<Option<u16>> = paced
        .received()
        .iter()
        .filter(|m| m.cseq_method().as_deref() == Some("INVITE") && m.status().is_some_and(|s| s >= 200))
        .map(pn_e2e::sipp::Traced::status)
        .collect();
    assert_eq!(statuses, [Some(200); 5], "{}", paced.diagnostics());
    // A burst past capacity.
    let b_side = rig.uas("uas_answer").calls(CALLS).timeout_secs(90).spawn();
    let a_side = rig
        .uac("uac_answer_or_refusal")
        .calls(CALLS)
        .rate(20_000.0)
        .pause_ms(100)
        .timeout_secs(90)
        .inject(&[&[A, X]])
        .run_ok();
    drop(b_side.stop());
    // Every call ended with a final answer to its INVITE: 200 (then BYE) or 503.
    let finals: Vec<_> = a_side
        .received()
        .into_iter()
        .filter(|m| m.cseq_method().as_deref() == Some("INVITE") && m.status().is_some_and(|s| s >= 200))
        .collect();
    let answered = finals.iter().filter(|m| m.status() == Some(200)).count();
    let refused: Vec<_> = finals.iter().filter(|m| m.status() == Some(503)).collect();
    // A call the switch admitted may still end 480 (8101) when the SIPp UAS, itself flooded, drops its INVITE:
    // that is B not answering, not the switch failing. It must stay rare.
    let other = finals.len() - answered - refused.len();
    assert!(
        other * 20 <= finals.len(),
        "finals other than 200 and 503: {:?}",
        finals
            .iter()
            .map(pn_e2e::sipp::Traced::status)
            .collect::<Vec<_>>()
    );
    assert!(
        finals.len() >= CALLS as usize,
        "{} final answers for {CALLS} calls:\n{}",
        finals.len(),
        a_side.diagnostics()
    );
    eprintln!(
        "{CALLS} INVITEs at once: {answered} answered, {} refused, {other} other",
        refused.len()
    );
    assert!(
        !refused.is_empty(),
        "{CALLS} INVITEs at once never built a 1 ms backlog"
    );
    for fin in &refused {
        assert_eq!(fin.header("Retry-After").as_deref(), Some("3"), "{}", fin.text);
        assert!(
            reason(fin).contains("Q.850;cause=42;text=\"522 Switch overloaded\""),
            "{}",
            fin.text
        );
    }
    // The switch counts what it refused: by its shards (also counted as rejected calls, cause 522), and
    // statelessly by the receive loop while a shard is behind or its queue full (a retransmitted INVITE
    // refused there is refused, and counted, again).
    let at = |place: &str| {
        rig.switch
            .metric(&format!("pn_sip_overload_refusals_total{{at=\"{place}\"}}"))
            .unwrap_or(0.0) as usize
    };
    let (shard, receive_loop) = (at("shard"), at("behind") + at("queue_full"));
    let distinct: std::collections::BTreeSet<String> =
        refused.iter().filter_map(|m| m.header("Call-ID")).collect();
    assert!(
        shard + receive_loop >= distinct.len(),
        "pn_sip_overload_refusals_total: shard {shard} + receive loop {receive_loop} < {} refused calls",
        distinct.len()
    );
    let rejected = rig
        .switch
        .metric("pn_sip_calls_total{cause=\"522\",outcome=\"rejected\"}")
        .unwrap_or(0.0);
    assert_eq!(rejected as usize, shard, "pn_sip_calls_total for 522");
}
