//! Calls that would never end (issue 8, item 10): dead dialogs found by in-dialog OPTIONS probes, and the
//! default maximum call duration. On the virtual clock: a probe every 60 s, Timer F at 64·T1 = 32 s.
//!
//! Moved from pn-b2bua's unit tests (`crates/b2bua/src/tests/`) onto [`pn_test_support::script::Switch`]:
//! what is left of a call is read through [`pn_b2bua::B2bua::load`].

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::too_many_lines,
    clippy::similar_names
)]

use std::time::Duration;

use pn_b2bua::B2buaConfig;
use pn_b2bua::EventType::{Alerting, Answer, Callin, Callout, Disconnect};
use pn_b2bua::Peer;
use pn_sip::{Method, Request, Response, SipMessage};
use pn_test_support::script::*;

const PROBE: Duration = Duration::from_secs(60);

/// A→X→B answered (B's 180 then 200, A's ACK) on a switch with `dialog_probe_secs` and `max_call_secs`;
/// returns the B-leg INVITE and the 200 A got.
fn answered(probe_secs: u64, max_call_secs: u64, max_duration_secs: u32) -> (Switch, Request, Response) {
    let config = B2buaConfig {
        dialog_probe_secs: probe_secs,
        max_call_secs,
        ..config()
    };
    let mut sim = Switch::with_config(router(max_duration_secs), config);
    let sent = sim.send_a(a_invite("z9hG4bKp1", "call-p-1"));
    let b_inv = request(&sent[1].1).clone();
    sim.send_b(b_response(&b_inv, 180, false));
    let sent = sim.send_b(b_response(&b_inv, 200, true));
    let ok = response(&sent[0].1).clone();
    assert_eq!(summary(&sim.send_a(a_ack(&ok, "z9hG4bKp2"))), ["B<-ACK"]);
    (sim, b_inv, ok)
}

/// The OPTIONS sent to A and to B in `sent`.
fn probes(sent: &[(Peer, SipMessage)]) -> (Request, Request) {
    assert_eq!(summary(sent), ["A<-OPTIONS", "B<-OPTIONS"]);
    (request(&sent[0].1).clone(), request(&sent[1].1).clone())
}

/// Asserts `sent` is the release of the call with stateCode `code`: a BYE to each leg carrying the reason.
fn assert_released(sim: &Switch, sent: &[(Peer, SipMessage)], code: u16, q850: u16) -> (Request, Request) {
    assert_eq!(summary(sent), ["A<-BYE", "B<-BYE"]);
    for (_, m) in sent {
        let reason = m.headers().get("Reason").unwrap();
        assert!(
            reason.starts_with(&format!("Q.850;cause={q850};text=\"{code} ")),
            "{reason}"
        );
    }
    assert_eq!(sim.events(), [Callin, Callout, Alerting, Answer, Disconnect]);
    assert_eq!(sim.disconnect_code(), Some(code));
    let cdrs = sim.cdrs();
    assert_eq!(cdrs.len(), 1);
    assert_eq!((cdrs[0].ul_fail_reason, cdrs[0].fwd_unasw_rsn), (code, 0));
    assert_eq!(sim.b2b.active_calls(), 0);
    (request(&sent[0].1).clone(), request(&sent[1].1).clone())
}

/// Answers both BYEs; afterwards nothing of the call is left.
fn assert_all_gone(sim: &mut Switch, byes: &(Request, Request)) {
    sim.send_a(a_response(&byes.0, 200));
    sim.send_b(b_response(&byes.1, 200, false));
    sim.advance(Duration::from_secs(64));
    let load = sim.b2b.load();
    assert!(load.is_idle(), "calls, dialogs or transactions left: {load:?}");
    assert_eq!(sim.b2b.poll_timeout(), None);
}

#[test]
fn probes_are_in_dialog_options_to_both_legs_and_live_dialogs_stay_up() {
    let (mut sim, b_inv, ok) = answered(60, 0, 0);
    assert!(sim.advance(Duration::from_millis(59_999)).is_empty());
    let (to_a, to_b) = probes(&sim.advance(Duration::from_millis(1)));
    // Each OPTIONS is a request of that leg's dialog: its Call-ID and tags, the peer's Contact.
    let ah = to_a.headers();
    assert_eq!(ah.call_id().unwrap(), "call-p-1");
    assert_eq!(ah.to().unwrap().tag(), Some("a-tag"));
    assert_eq!(ah.from().unwrap().tag(), ok.headers().to().unwrap().tag());
    assert_eq!(to_a.uri().to_string(), format!("sip:{A_NUM}@192.0.2.1:5060"));
    let bh = to_b.headers();
    assert_eq!(bh.call_id().unwrap(), b_inv.headers().call_id().unwrap());
    assert_eq!(bh.to().unwrap().tag(), Some("b-tag"));
    assert_eq!(bh.from().unwrap().tag(), b_inv.headers().from().unwrap().tag());
    assert_eq!(bh.cseq().unwrap().to_string(), "2 OPTIONS");
    assert_eq!(to_b.uri().to_string(), format!("sip:{B_NUM}@192.0.2.50:5060"));
    // 200 from A, 405 from B: both dialogs are alive.
    assert!(sim.send_a(a_response(&to_a, 200)).is_empty());
    assert!(sim.send_b(b_response(&to_b, 405, false)).is_empty());
    // The next probe, a minute later: 501 and 200 are alive too.
    let (to_a, to_b) = probes(&sim.advance(PROBE));
    assert_eq!(to_b.headers().cseq().unwrap().to_string(), "3 OPTIONS");
    assert!(sim.send_a(a_response(&to_a, 501)).is_empty());
    assert!(sim.send_b(b_response(&to_b, 200, false)).is_empty());
    assert_eq!(sim.b2b.active_calls(), 1);
    assert_eq!(sim.b2b.stats().dialog_probes, 4);
    // A hangs up normally: probes stop with the call.
    let bye = a_in_dialog(&Method::Bye, &ok, 11, "z9hG4bKp3");
    let sent = sim.send_a(bye);
    assert_eq!(summary(&sent), ["A<-200 BYE", "B<-BYE"]);
    assert_eq!(sim.disconnect_code(), Some(0));
    sim.send_b(b_response(request(&sent[1].1), 200, false));
    assert!(sim.advance(PROBE * 3).is_empty());
    assert_eq!(sim.b2b.load().calls, 0);
    assert_eq!(sim.b2b.stats().dead_dialogs, 0);
}

#[test]
fn b_gone_silent_is_released_with_7506_after_timer_f() {
    let (mut sim, _b_inv, _ok) = answered(60, 0, 0);
    let (to_a, _to_b) = probes(&sim.advance(PROBE));
    assert!(sim.send_a(a_response(&to_a, 200)).is_empty());
    // B answers nothing: the OPTIONS is retransmitted (Timer E) until Timer F, 64·T1 = 32 s.
    let sent = sim.advance(Duration::from_millis(31_999));
    assert!(
        !sent.is_empty() && summary(&sent).iter().all(|s| s == "B<-OPTIONS"),
        "{:?}",
        summary(&sent)
    );
    assert_eq!(sim.b2b.active_calls(), 1);
    let sent = sim.advance(Duration::from_millis(1));
    let byes = assert_released(&sim, &sent, 7506, 102);
    assert_eq!(sim.b2b.stats().dead_dialogs, 1);
    // The reference's cause: the CDR's stateCode 7506 is the callee-side network error.
    let reason = byes.0.headers().get("Reason").unwrap();
    assert_eq!(reason, "Q.850;cause=102;text=\"7506 Callee-side network error\"");
    assert_all_gone(&mut sim, &byes);
}

#[test]
fn a_481_from_a_releases_the_call_at_once_with_7505() {
    let (mut sim, _b_inv, _ok) = answered(60, 0, 0);
    let (to_a, to_b) = probes(&sim.advance(PROBE));
    assert!(sim.send_b(b_response(&to_b, 200, false)).is_empty());
    let sent = sim.send_a(a_response(&to_a, 481));
    let byes = assert_released(&sim, &sent, 7505, 102);
    assert_all_gone(&mut sim, &byes);
}

#[test]
fn a_408_from_b_is_a_dead_dialog_and_late_answers_change_nothing() {
    let (mut sim, _b_inv, _ok) = answered(60, 0, 0);
    let (to_a, to_b) = probes(&sim.advance(PROBE));
    let sent = sim.send_b(b_response(&to_b, 408, false));
    let byes = assert_released(&sim, &sent, 7506, 102);
    // A's answer to its probe, after the call ended: nothing more happens.
    assert!(sim.send_a(a_response(&to_a, 481)).is_empty());
    assert_eq!(sim.cdrs().len(), 1);
    assert_eq!(sim.b2b.stats().dead_dialogs, 1);
    assert_all_gone(&mut sim, &byes);
}

#[test]
fn a_pending_probe_is_not_repeated_and_probes_can_be_turned_off() {
    // Probes every 20 s: the next tick comes while B's first OPTIONS is still unanswered (Timer F: 32 s).
    let (mut sim, _b_inv, _ok) = answered(20, 0, 0);
    let (to_a, to_b) = probes(&sim.advance(Duration::from_secs(20)));
    assert!(sim.send_a(a_response(&to_a, 200)).is_empty());
    let sent = sim.advance(Duration::from_secs(20));
    let seq = |m: &SipMessage| m.headers().cseq().unwrap().seq;
    let (a_seq, b_seq) = (seq(&to_a.clone().into()), seq(&to_b.clone().into()));
    // At the second tick A gets a new OPTIONS; B only retransmissions of the first one.
    let to_a_again: Vec<_> = sent.iter().filter(|(p, _)| *p == a_peer()).collect();
    assert_eq!(to_a_again.len(), 1, "{:?}", summary(&sent));
    assert_eq!(seq(&to_a_again[0].1), a_seq + 1);
    let to_b_again: Vec<_> = sent.iter().filter(|(p, _)| *p == b_peer()).collect();
    assert!(!to_b_again.is_empty());
    assert!(
        to_b_again.iter().all(|(_, m)| seq(m) == b_seq),
        "a second probe went to B while the first was pending: {:?}",
        summary(&sent)
    );
    // Probes off: nothing is ever sent on an answered call.
    let (mut sim, _b_inv, _ok) = answered(0, 0, 0);
    assert!(sim.advance(Duration::from_secs(3600)).is_empty());
    assert_eq!(sim.b2b.stats().dialog_probes, 0);
    assert_eq!(sim.b2b.active_calls(), 1);
}

#[test]
fn the_default_maximum_call_duration_ends_calls_without_max_duration_with_8010() {
    let (mut sim, _b_inv, _ok) = answered(0, 300, 0);
    assert!(sim.advance(Duration::from_secs(299)).is_empty());
    let sent = sim.advance(Duration::from_secs(1));
    let byes = assert_released(&sim, &sent, 8010, 16);
    // The last-minute voice belongs to the binding's maxDuration only.
    assert_eq!(sim.b2b.stats().last_minute_hooks, 0);
    assert_all_gone(&mut sim, &byes);
    // A binding's maxDuration wins over the default, in both directions.
    for (binding, default, ends) in [(120, 300, 120), (600, 300, 600)] {
        let (mut sim, _b_inv, _ok) = answered(0, default, binding);
        assert!(sim.advance(Duration::from_secs(ends - 1)).is_empty());
        let sent = sim.advance(Duration::from_secs(1));
        assert_released(&sim, &sent, 8010, 16);
        assert_eq!(sim.b2b.stats().last_minute_hooks, 1);
    }
}
