//! Trunk groups on the virtual clock: the first trunk by priority, failover on 408 / 5xx / no provisional
//! answer in time, none on the callee's own refusals, down trunks skipped, TCP trunks, number formats and
//! P-Asserted-Identity (and A's number on no B-leg message). A call that ended (A cancelled, or hung up
//! after the next trunk answered) while an INVITE it gave up on still waits stays until that INVITE's late
//! 2xx (answered with an ACK and a BYE) or its Timer B, then goes: one CDR, nothing left. A call that failed
//! over on a final answer (503, 408) goes as soon as it ends.

#![allow(clippy::unwrap_used, clippy::panic, clippy::too_many_lines)]

use std::sync::Arc;
use std::time::Duration;

use pn_b2bua::EventType::{Alerting, Answer, Callin, Callout, Disconnect};
use pn_b2bua::{NumberFormat, Peer, TrunkConfig, TrunkSet, TrunkTransport};
use pn_sip::{Request, SipMessage};
use pn_test_support::script::*;

/// Trunk 1 is trunk B of the script (192.0.2.50); trunk 2 another address.
const T2: &str = "192.0.2.51:5060";

fn trunk(name: &str, addr: &str, priority: u32) -> TrunkConfig {
    TrunkConfig {
        name: name.into(),
        address: addr.parse().unwrap(),
        priority,
        ..TrunkConfig::default()
    }
}

fn t2_peer() -> Peer {
    Peer {
        addr: T2.parse().unwrap(),
        transport: pn_b2bua::Transport::Udp,
    }
}

/// A switch whose trunks are `trunks`.
fn switch(trunks: Vec<TrunkConfig>) -> Switch {
    let mut sim = Switch::new(router(0));
    let trusted = config().trusted_peers;
    sim.b2b.set_trunks(Arc::new(TrunkSet::new(trunks)), trusted);
    sim
}

/// Two UDP trunks: t1 (priority 0) then t2 (priority 1).
fn two_trunks() -> Switch {
    switch(vec![trunk("t1", "192.0.2.50:5060", 0), trunk("t2", T2, 1)])
}

/// `A<-180 INVITE`, `T1<-INVITE`, `T2<-ACK`…
fn sum(sent: &[(Peer, SipMessage)]) -> Vec<String> {
    sent.iter()
        .map(|(to, m)| {
            let side = if *to == a_peer() {
                "A"
            } else if to.addr == b_addr() {
                "T1"
            } else if to.addr == t2_peer().addr {
                "T2"
            } else {
                "?"
            };
            match m {
                SipMessage::Request(r) => format!("{side}<-{}", r.method()),
                SipMessage::Response(r) => {
                    format!("{side}<-{} {}", r.status(), r.headers().cseq().unwrap().method)
                }
            }
        })
        .collect()
}

fn invite_to(sent: &[(Peer, SipMessage)], addr: &str) -> Request {
    sent.iter()
        .find_map(|(to, m)| match m {
            SipMessage::Request(r)
                if to.addr.to_string() == addr && r.method() == &pn_sip::Method::Invite =>
            {
                Some(r.clone())
            }
            _ => None,
        })
        .unwrap_or_else(|| panic!("no INVITE to {addr} in {:?}", sum(sent)))
}

/// The call completes on t2 after t1's `status`; one Callout, one CDR, one failover counted on t1.
fn fails_over_on(status: u16) {
    let mut sim = two_trunks();
    let sent = sim.send_a(a_invite("z9hG4bKa1", "c-fo"));
    assert_eq!(sum(&sent), ["A<-100 INVITE", "T1<-INVITE"]);
    let inv1 = request(&sent[1].1).clone();
    let sent = sim.send_b(b_response(&inv1, status, false));
    assert_eq!(sum(&sent), ["T1<-ACK", "T2<-INVITE"], "after {status}");
    let inv2 = invite_to(&sent, T2);
    assert_ne!(
        inv2.headers().call_id().unwrap(),
        inv1.headers().call_id().unwrap(),
        "a fresh INVITE"
    );
    assert_eq!(
        sum(&sim.input(t2_peer(), b_response(&inv2, 180, false).into())),
        ["A<-180 INVITE"]
    );
    let sent = sim.input(t2_peer(), b_response(&inv2, 200, true).into());
    assert_eq!(sum(&sent), ["A<-200 INVITE"]);
    let ok = response(&sent[0].1).clone();
    assert_eq!(sum(&sim.send_a(a_ack(&ok, "z9hG4bKa2"))), ["T2<-ACK"]);
    assert_eq!(sim.events(), [Callin, Callout, Alerting, Answer]);
    assert_eq!(sim.b2b.trunks().failovers(0), 1);
    assert_eq!(sim.b2b.trunks().failovers(1), 0);
    assert_eq!(sim.b2b.stats().trunk_failovers, 1);
    let used: Vec<_> = sim
        .trunk_uses
        .iter()
        .map(|u| (u.trunk.as_str(), u.failed_over_from.clone()))
        .collect();
    assert_eq!(used, [("t1", None), ("t2", Some(("t1".to_owned(), status)))]);
    // A hangs up: one disconnect, one CDR.
    let bye = a_in_dialog(&pn_sip::Method::Bye, &ok, 11, "z9hG4bKa3");
    let sent = sim.send_a(bye);
    assert!(sum(&sent).contains(&"T2<-BYE".to_owned()), "{:?}", sum(&sent));
    assert_eq!(sim.cdrs().len(), 1);
    assert_eq!(sim.events().iter().filter(|e| **e == Disconnect).count(), 1);
}

#[test]
fn failover_on_503() {
    fails_over_on(503);
}

#[test]
fn failover_on_408() {
    fails_over_on(408);
}

#[test]
fn failover_on_500_and_502() {
    fails_over_on(500);
    fails_over_on(502);
}

#[test]
fn busy_and_not_found_do_not_fail_over() {
    for status in [486, 404, 603] {
        let mut sim = two_trunks();
        let sent = sim.send_a(a_invite("z9hG4bKa1", "c-busy"));
        let inv1 = invite_to(&sent, "192.0.2.50:5060");
        let sent = sim.send_b(b_response(&inv1, status, false));
        let s = sum(&sent);
        assert!(!s.iter().any(|m| m.starts_with("T2<-")), "{status}: {s:?}");
        let to_a = pn_b2bua::failure_status(status).status;
        assert!(s.contains(&format!("A<-{to_a} INVITE")), "{status}: {s:?}");
        assert_eq!(sim.b2b.trunks().failovers(0), 0);
        assert_eq!(sim.cdrs().len(), 1);
    }
}

#[test]
fn all_trunks_failing_fail_the_call_with_the_last_answer() {
    let mut sim = two_trunks();
    let sent = sim.send_a(a_invite("z9hG4bKa1", "c-all"));
    let inv1 = invite_to(&sent, "192.0.2.50:5060");
    let sent = sim.send_b(b_response(&inv1, 503, false));
    let inv2 = invite_to(&sent, T2);
    let sent = sim.input(t2_peer(), b_response(&inv2, 503, false).into());
    let to_a = pn_b2bua::failure_status(503);
    assert_eq!(sum(&sent), ["T2<-ACK", &format!("A<-{} INVITE", to_a.status)]);
    assert_eq!(sim.disconnect_code(), Some(to_a.state_code));
    assert_eq!(sim.cdrs().len(), 1);
    assert_eq!(sim.b2b.trunks().failovers(0), 1);
}

#[test]
fn no_provisional_in_time_moves_on_and_the_late_trunk_is_cancelled() {
    let mut t1 = trunk("t1", "192.0.2.50:5060", 0);
    t1.failover_timeout_ms = 1400;
    let mut sim = switch(vec![t1, trunk("t2", T2, 1)]);
    let sent = sim.send_a(a_invite("z9hG4bKa1", "c-silent"));
    let inv1 = invite_to(&sent, "192.0.2.50:5060");
    // T1's INVITE is retransmitted at 500 ms; at 1.4 s: the next trunk (the first INVITE goes on being
    // retransmitted until an answer or Timer B: a CANCEL needs a provisional answer).
    let sent = sim.advance(Duration::from_millis(1399));
    assert_eq!(sum(&sent), ["T1<-INVITE"]);
    let sent = sim.advance(Duration::from_millis(1));
    assert_eq!(sum(&sent), ["T2<-INVITE"]);
    let inv2 = invite_to(&sent, T2);
    // T1 wakes up: its ringing INVITE is CANCELled; its 487 changes nothing for the call.
    let sent = sim.send_b(b_response(&inv1, 180, false));
    assert_eq!(sum(&sent), ["T1<-CANCEL"]);
    assert_eq!(sum(&sim.send_b(b_response(&inv1, 487, false))), ["T1<-ACK"]);
    // T2 rings and answers.
    assert_eq!(
        sum(&sim.input(t2_peer(), b_response(&inv2, 180, false).into())),
        ["A<-180 INVITE"]
    );
    let sent = sim.input(t2_peer(), b_response(&inv2, 200, true).into());
    assert_eq!(sum(&sent), ["A<-200 INVITE"]);
    assert_eq!(sim.b2b.trunks().failovers(0), 1);
    assert_eq!(sim.used_trunks(), ["t1", "t2"]);
}

#[test]
fn a_provisional_answer_stops_the_failover_timer() {
    let mut sim = two_trunks();
    let sent = sim.send_a(a_invite("z9hG4bKa1", "c-ring"));
    let inv1 = invite_to(&sent, "192.0.2.50:5060");
    assert!(sum(&sim.send_b(b_response(&inv1, 100, false))).is_empty());
    let sent = sim.advance(Duration::from_secs(10));
    assert!(
        !sum(&sent).iter().any(|m| m.starts_with("T2<-")),
        "{:?}",
        sum(&sent)
    );
    assert_eq!(sim.b2b.trunks().failovers(0), 0);
}

#[test]
fn a_late_2xx_from_a_given_up_trunk_is_acked_and_ended() {
    let mut sim = two_trunks();
    let sent = sim.send_a(a_invite("z9hG4bKa1", "c-late"));
    let inv1 = invite_to(&sent, "192.0.2.50:5060");
    let sent = sim.advance(Duration::from_secs(2));
    assert!(sum(&sent).contains(&"T2<-INVITE".to_owned()), "{:?}", sum(&sent));
    let sent = sim.send_b(b_response(&inv1, 200, true));
    assert_eq!(sum(&sent), ["T1<-ACK", "T1<-BYE"]);
    assert!(!sim.events().contains(&Answer), "A hears nothing of it");
}

#[test]
fn timer_b_on_the_first_trunk_fails_over_when_the_timer_is_off() {
    let mut t1 = trunk("t1", "192.0.2.50:5060", 0);
    t1.failover_timeout_ms = 0;
    let mut sim = switch(vec![t1, trunk("t2", T2, 1)]);
    sim.send_a(a_invite("z9hG4bKa1", "c-timer-b"));
    let sent = sim.advance(Duration::from_secs(31));
    assert!(!sum(&sent).contains(&"T2<-INVITE".to_owned()));
    let sent = sim.advance(Duration::from_secs(2));
    assert!(sum(&sent).contains(&"T2<-INVITE".to_owned()), "{:?}", sum(&sent));
    assert_eq!(sim.used_trunks(), ["t1", "t2"]);
}

#[test]
fn priority_decides_and_down_trunks_are_skipped() {
    // Listed second, priority 0: first.
    let mut sim = switch(vec![trunk("t1", "192.0.2.50:5060", 5), trunk("t2", T2, 0)]);
    let sent = sim.send_a(a_invite("z9hG4bKa1", "c-prio"));
    assert_eq!(sum(&sent), ["A<-100 INVITE", "T2<-INVITE"]);
    let mut sim = two_trunks();
    sim.b2b.trunks().set_up(0, false);
    let sent = sim.send_a(a_invite("z9hG4bKa1", "c-down"));
    assert_eq!(sum(&sent), ["A<-100 INVITE", "T2<-INVITE"]);
    // t2 fails: t1 is down, nothing left.
    let inv2 = invite_to(&sent, T2);
    let sent = sim.input(t2_peer(), b_response(&inv2, 503, false).into());
    assert!(
        !sum(&sent).iter().any(|m| m.starts_with("T1<-")),
        "{:?}",
        sum(&sent)
    );
    // Every trunk down: no route (as with no egress at all).
    let mut sim = two_trunks();
    sim.b2b.trunks().set_up(0, false);
    sim.b2b.trunks().set_up(1, false);
    let sent = sim.send_a(a_invite("z9hG4bKa1", "c-none"));
    assert!(!sum(&sent).iter().any(|m| m.starts_with('T')), "{:?}", sum(&sent));
    assert_eq!(sim.cdrs().len(), 1);
}

#[test]
fn a_reload_leaves_a_ringing_call_on_its_trunks() {
    let mut sim = two_trunks();
    let sent = sim.send_a(a_invite("z9hG4bKa1", "c-reload"));
    let inv1 = invite_to(&sent, "192.0.2.50:5060");
    let trusted = config().trusted_peers;
    sim.b2b.set_trunks(
        Arc::new(TrunkSet::new(vec![trunk("t9", "192.0.2.99:5060", 0)])),
        trusted,
    );
    let sent = sim.send_b(b_response(&inv1, 503, false));
    assert_eq!(sum(&sent), ["T1<-ACK", "T2<-INVITE"]);
}

/// Every header value and the body of `r`.
fn text_of(r: &Request) -> String {
    String::from_utf8_lossy(&r.to_bytes()).into_owned()
}

#[test]
fn number_formats_and_pai_carry_x_and_b_only() {
    let a_digits = A_NUM.trim_start_matches('+');
    let a_national = a_digits.trim_start_matches("86");
    let cases = [
        (NumberFormat::E164, "", "+8613900000002", "+8617000000000"),
        (NumberFormat::National, "", "13900000002", "17000000000"),
        (
            NumberFormat::Prefix,
            "10193",
            "101938613900000002",
            "101938617000000000",
        ),
    ];
    for (format, prefix, b, x) in cases {
        for pai in [false, true] {
            let mut t = trunk("t1", "192.0.2.50:5060", 0);
            t.number_format = format;
            t.prefix = prefix.into();
            t.pai = pai;
            let mut sim = switch(vec![t]);
            let sent = sim.send_a(a_invite("z9hG4bKa1", "c-fmt"));
            let inv = invite_to(&sent, "192.0.2.50:5060");
            assert_eq!(inv.uri().user_unescaped().as_deref(), Some(b), "{format:?}");
            assert_eq!(
                inv.headers().to().unwrap().uri().user_unescaped().as_deref(),
                Some(b)
            );
            assert_eq!(
                inv.headers().from().unwrap().uri().user_unescaped().as_deref(),
                Some(x)
            );
            let ids = inv.headers().asserted_identities().unwrap();
            if pai {
                assert_eq!(ids.len(), 1, "{format:?}");
                assert_eq!(ids[0].uri().user_unescaped().as_deref(), Some(x));
            } else {
                assert!(ids.is_empty(), "{format:?}: no PAI unless the trunk asks");
            }
            let text = text_of(&inv);
            assert!(
                !text.contains(a_digits) && !text.contains(a_national),
                "A's number leaked: {text}"
            );
        }
    }
}

#[test]
fn a_pai_from_a_is_never_copied() {
    let mut t = trunk("t1", "192.0.2.50:5060", 0);
    t.pai = true;
    let mut sim = switch(vec![t]);
    let mut invite = a_invite("z9hG4bKa1", "c-pai");
    invite
        .headers_mut()
        .push("P-Asserted-Identity", format!("<sip:{A_NUM}@192.0.2.1>"));
    let sent = sim.send_a(invite);
    let inv = invite_to(&sent, "192.0.2.50:5060");
    let ids = inv.headers().asserted_identities().unwrap();
    assert_eq!(ids.len(), 1);
    assert_eq!(ids[0].uri().user_unescaped().as_deref(), Some(X_NUM));
    assert!(!text_of(&inv).contains(A_NUM.trim_start_matches('+')));
}

#[test]
fn a_tcp_trunk_gets_tcp_via_contact_and_request_uri() {
    let mut t = trunk("tcp", "192.0.2.50:5060", 0);
    t.transport = TrunkTransport::Tcp;
    let mut sim = switch(vec![t]);
    let sent = sim.send_a(a_invite("z9hG4bKa1", "c-tcp"));
    let (to, inv) = sent
        .iter()
        .find_map(|(to, m)| match m {
            SipMessage::Request(r) => Some((*to, r.clone())),
            SipMessage::Response(_) => None,
        })
        .unwrap();
    assert_eq!(to.transport, pn_b2bua::Transport::Tcp);
    let text = text_of(&inv);
    assert!(text.contains("Via: SIP/2.0/TCP "), "{text}");
    assert!(inv.uri().to_string().contains(";transport=tcp"), "{}", inv.uri());
    let contact = inv.headers().contacts().unwrap();
    assert!(contact[0].uri().to_string().contains(";transport=tcp"));
    // No retransmission over TCP.
    assert!(sum(&sim.advance(Duration::from_secs(2))).is_empty());
}

/// Shard 0 of one, with `trunks`, probes started now.
fn prober(trunks: Vec<TrunkConfig>) -> Switch {
    let mut sim = Switch::new(router(0));
    sim.b2b = pn_b2bua::B2bua::new(config(), pn_b2bua::Shard { index: 0, count: 1 });
    sim.b2b
        .set_trunks(Arc::new(TrunkSet::new(trunks)), config().trusted_peers);
    sim.b2b.start_trunk_probes(sim.now);
    sim
}

fn options_to(sent: &[(Peer, SipMessage)], addr: &str) -> Vec<Request> {
    sent.iter()
        .filter_map(|(to, m)| match m {
            SipMessage::Request(r)
                if to.addr.to_string() == addr && r.method() == &pn_sip::Method::Options =>
            {
                Some(r.clone())
            }
            _ => None,
        })
        .collect()
}

#[test]
fn probes_mark_a_trunk_down_after_n_failures_and_up_after_one_answer() {
    let mut t1 = trunk("t1", "192.0.2.50:5060", 0);
    t1.probe_interval_secs = 5;
    t1.probe_failures = 2;
    let mut sim = prober(vec![t1, trunk("t2", T2, 1)]);
    // The first probe at once, to t1 only (t2 has none).
    let sent = sim.advance(Duration::ZERO);
    let probe = options_to(&sent, "192.0.2.50:5060");
    assert_eq!(probe.len(), 1, "{:?}", sum(&sent));
    assert!(options_to(&sent, T2).is_empty());
    assert!(sum(&sim.send_b(b_response(&probe[0], 503, false))).is_empty());
    assert!(sim.b2b.trunks().is_up(0), "one failure is not enough");
    let sent = sim.advance(Duration::from_secs(5));
    let probe = options_to(&sent, "192.0.2.50:5060");
    assert_eq!(probe.len(), 1, "{:?}", sum(&sent));
    sim.send_b(b_response(&probe[0], 500, false));
    assert!(!sim.b2b.trunks().is_up(0), "down after two");
    // New calls go to t2 at once.
    let sent = sim.send_a(a_invite("z9hG4bKa1", "c-while-down"));
    assert_eq!(sum(&sent), ["A<-100 INVITE", "T2<-INVITE"]);
    // One good answer: up again, new calls on t1.
    let sent = sim.advance(Duration::from_secs(5));
    let probe = options_to(&sent, "192.0.2.50:5060");
    assert_eq!(probe.len(), 1, "{:?}", sum(&sent));
    sim.send_b(b_response(&probe[0], 200, false));
    assert!(sim.b2b.trunks().is_up(0));
    let sent = sim.send_a(a_invite("z9hG4bKb1", "c-after-up"));
    assert_eq!(sum(&sent), ["A<-100 INVITE", "T1<-INVITE"]);
}

#[test]
fn an_unanswered_probe_counts_as_a_failure_and_probes_do_not_pile_up() {
    let mut t1 = trunk("t1", "192.0.2.50:5060", 0);
    t1.probe_interval_secs = 10;
    t1.probe_failures = 1;
    let mut sim = prober(vec![t1]);
    let sent = sim.advance(Duration::from_secs(31));
    // One probe (and its retransmissions), no second one while it is outstanding.
    let first = options_to(&sent, "192.0.2.50:5060");
    let branches: std::collections::BTreeSet<String> = first
        .iter()
        .map(|r| r.headers().top_via().unwrap().branch().unwrap().to_owned())
        .collect();
    assert_eq!(branches.len(), 1, "{branches:?}");
    assert!(sim.b2b.trunks().is_up(0));
    // Timer F (64 × T1 = 32 s): down.
    sim.advance(Duration::from_secs(2));
    assert!(!sim.b2b.trunks().is_up(0));
    // A 404 is an answer: up (Kamailio's dispatcher rule).
    let sent = sim.advance(Duration::from_secs(10));
    let probe = options_to(&sent, "192.0.2.50:5060");
    assert!(!probe.is_empty());
    sim.send_b(b_response(&probe[0], 404, false));
    assert!(sim.b2b.trunks().is_up(0));
}

#[test]
fn only_shard_0_probes() {
    let mut t1 = trunk("t1", "192.0.2.50:5060", 0);
    t1.probe_interval_secs = 1;
    let mut sim = switch(vec![t1]); // shard 3 of 4
    sim.b2b.start_trunk_probes(sim.now);
    assert!(sim.advance(Duration::from_secs(5)).is_empty());
    assert_eq!(sim.b2b.poll_timeout(), None);
}

/// The call, its dialogs and every transaction are gone once the timers still running (Timers D, K, J…)
/// have run out; exactly one CDR and one disconnect event (with `code`) were written for the call.
fn assert_one_cdr_then_nothing_left(sim: &mut Switch, code: u16) {
    sim.advance(Duration::from_secs(64));
    let load = sim.b2b.load();
    assert!(load.is_idle(), "calls, dialogs or transactions left: {load:?}");
    assert_eq!(sim.b2b.poll_timeout(), None);
    assert_eq!(sim.b2b.active_calls(), 0);
    assert_eq!(sim.cdrs().len(), 1, "one CDR");
    assert_eq!(sim.events().iter().filter(|e| **e == Disconnect).count(), 1);
    assert_eq!(sim.disconnect_code(), Some(code));
}

/// t1 stays silent: after its `failover_timeout_ms` (2 s) the call goes on to t2, t1's INVITE still pending
/// (retransmitted, not cancellable before a provisional answer). Returns the switch and the INVITEs of t1,
/// t2 and A.
fn given_up_on_t1(call_id: &str) -> (Switch, Request, Request, Request) {
    let mut sim = two_trunks();
    let a_inv = a_invite("z9hG4bKa1", call_id);
    let sent = sim.send_a(a_inv.clone());
    let inv1 = invite_to(&sent, "192.0.2.50:5060");
    let sent = sim.advance(Duration::from_secs(2));
    assert_eq!(sum(&sent), ["T1<-INVITE", "T1<-INVITE", "T2<-INVITE"]);
    let inv2 = invite_to(&sent, T2);
    (sim, inv1, inv2, a_inv)
}

/// A CANCELs while t2 rings (t2's INVITE cancelled, 487); the call has ended.
fn a_cancels_while_t2_rings(sim: &mut Switch, a_inv: &Request, inv2: &Request) {
    assert_eq!(
        sum(&sim.input(t2_peer(), b_response(inv2, 180, false).into())),
        ["A<-180 INVITE"]
    );
    let mut cancel = a_inv.cancel();
    cancel
        .headers_mut()
        .set("Via", "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKa1");
    let sent = sim.send_a(cancel);
    assert_eq!(sum(&sent), ["A<-200 CANCEL", "A<-487 INVITE", "T2<-CANCEL"]);
    assert!(sim.send_a(a_inv.ack_for(response(&sent[1].1))).is_empty());
    let t2_cancel = request(&sent[2].1).clone();
    assert!(
        sim.input(t2_peer(), b_response(&t2_cancel, 200, false).into())
            .is_empty()
    );
    assert_eq!(
        sum(&sim.input(t2_peer(), b_response(inv2, 487, false).into())),
        ["T2<-ACK"]
    );
    assert_eq!(sim.b2b.active_calls(), 0);
    assert_eq!(sim.cdrs().len(), 1);
}

/// t1's late 200 to the INVITE given up on: acknowledged and ended with a BYE (a retransmission of the 200
/// gets the same ACK), A hears nothing of it.
fn late_200_from_t1_is_acked_and_byed(sim: &mut Switch, inv1: &Request) {
    let to_a_before = sim.events().len();
    let ok = b_response(inv1, 200, true);
    let sent = sim.send_b(ok.clone());
    assert_eq!(sum(&sent), ["T1<-ACK", "T1<-BYE"]);
    let ack = request(&sent[0].1);
    assert_eq!(
        ack.headers().call_id().unwrap(),
        inv1.headers().call_id().unwrap()
    );
    let bye = request(&sent[1].1).clone();
    assert_eq!(
        bye.headers().call_id().unwrap(),
        inv1.headers().call_id().unwrap()
    );
    assert_eq!(
        bye.headers().to().unwrap().tag(),
        Some("b-tag"),
        "the BYE is in t1's dialog"
    );
    assert_eq!(sum(&sim.send_b(ok)), ["T1<-ACK"]);
    assert!(sim.send_b(b_response(&bye, 200, false)).is_empty());
    assert_eq!(sim.events().len(), to_a_before, "no event for the given-up leg");
}

#[test]
fn a_late_2xx_after_a_cancels_is_acked_and_byed_and_the_call_then_goes() {
    let (mut sim, inv1, inv2, a_inv) = given_up_on_t1("c-late-cancel");
    a_cancels_while_t2_rings(&mut sim, &a_inv, &inv2);
    // The call ended but stays while t1's INVITE waits for its answer (its 2xx needs the call's leg).
    sim.advance(Duration::from_secs(10));
    assert_eq!(sim.b2b.load().calls, 1, "{:?}", sim.b2b.load());
    late_200_from_t1_is_acked_and_byed(&mut sim, &inv1);
    assert_one_cdr_then_nothing_left(&mut sim, 7502);
}

#[test]
fn a_late_2xx_after_a_hung_up_on_t2_is_acked_and_byed_and_the_call_then_goes() {
    let (mut sim, inv1, inv2, _) = given_up_on_t1("c-late-bye");
    let sent = sim.input(t2_peer(), b_response(&inv2, 200, true).into());
    assert_eq!(sum(&sent), ["A<-200 INVITE"]);
    let ok = response(&sent[0].1).clone();
    assert_eq!(sum(&sim.send_a(a_ack(&ok, "z9hG4bKa2"))), ["T2<-ACK"]);
    // A hangs up: t2 gets the BYE, the call ends normally.
    let sent = sim.send_a(a_in_dialog(&pn_sip::Method::Bye, &ok, 11, "z9hG4bKa3"));
    let s = sum(&sent);
    assert!(
        s.contains(&"T2<-BYE".to_owned()) && s.contains(&"A<-200 BYE".to_owned()),
        "{s:?}"
    );
    assert!(!s.iter().any(|m| m.starts_with("T1<-")), "{s:?}");
    let t2_bye = sent
        .iter()
        .find_map(|(to, m)| m.as_request().filter(|_| *to == t2_peer()))
        .unwrap()
        .clone();
    assert!(
        sim.input(t2_peer(), b_response(&t2_bye, 200, false).into())
            .is_empty()
    );
    assert_eq!(sim.b2b.active_calls(), 0);
    assert_eq!(sim.cdrs().len(), 1);
    sim.advance(Duration::from_secs(5));
    assert_eq!(sim.b2b.load().calls, 1, "{:?}", sim.b2b.load());
    late_200_from_t1_is_acked_and_byed(&mut sim, &inv1);
    assert_one_cdr_then_nothing_left(&mut sim, 0);
}

#[test]
fn a_given_up_invite_timing_out_after_the_call_ended_removes_the_call() {
    let (mut sim, _inv1, inv2, a_inv) = given_up_on_t1("c-late-timer-b");
    a_cancels_while_t2_rings(&mut sim, &a_inv, &inv2);
    // t1 never answers: its INVITE is retransmitted (T2 = 4 s) until Timer B, 64 × T1 = 32 s after it was
    // sent; the call stays until then, and nothing but retransmissions goes to t1 (no ACK, no BYE).
    let sent = sim.advance(Duration::from_millis(31_999 - 2_000));
    assert!(sum(&sent).iter().all(|m| m == "T1<-INVITE"), "{:?}", sum(&sent));
    assert_eq!(sim.b2b.load().calls, 1, "{:?}", sim.b2b.load());
    let sent = sim.advance(Duration::from_millis(1));
    assert!(sent.is_empty(), "{:?}", sum(&sent));
    assert_eq!(sim.b2b.load().calls, 0, "{:?}", sim.b2b.load());
    assert_one_cdr_then_nothing_left(&mut sim, 7502);
}

#[test]
fn a_call_that_failed_over_on_a_final_answer_goes_as_soon_as_it_ends() {
    for status in [503, 408] {
        let mut sim = two_trunks();
        let sent = sim.send_a(a_invite("z9hG4bKa1", "c-fo-gone"));
        let inv1 = invite_to(&sent, "192.0.2.50:5060");
        let inv2 = invite_to(&sim.send_b(b_response(&inv1, status, false)), T2);
        let sent = sim.input(t2_peer(), b_response(&inv2, 200, true).into());
        let ok = response(&sent[0].1).clone();
        sim.send_a(a_ack(&ok, "z9hG4bKa2"));
        let sent = sim.send_a(a_in_dialog(&pn_sip::Method::Bye, &ok, 11, "z9hG4bKa3"));
        let bye = sent
            .iter()
            .find_map(|(to, m)| m.as_request().filter(|_| *to == t2_peer()))
            .unwrap()
            .clone();
        assert!(
            sim.input(t2_peer(), b_response(&bye, 200, false).into())
                .is_empty()
        );
        // t1's INVITE has its final answer: nothing of it can need the call, which goes at once (its
        // transactions finish on their own), as a call on one trunk does.
        let load = sim.b2b.load();
        assert_eq!((load.calls, load.dialogs), (0, 0), "after {status}: {load:?}");
        assert_one_cdr_then_nothing_left(&mut sim, 0);
    }
}
