//! Concurrent-call caps through the B2BUA: a call holds its unit from the route decision to its end, whatever
//! ends it (hang-up, cancel, a failure from B, Timer B, the maximum duration, a drain), and a call over the
//! cap is refused with 7003 while the first is up.

#![allow(clippy::unwrap_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use pn_bindings::controls::LiveCalls;
use pn_sip::{Method, Request};
use pn_test_support::script::*;

/// A switch whose router admits at most one call at a time.
fn capped(max_duration_secs: u32) -> (Switch, Arc<LiveCalls>) {
    let live = Arc::new(LiveCalls::default());
    let mut r = router(max_duration_secs);
    r.cap = Some((Arc::clone(&live), 1));
    (Switch::new(r), live)
}

/// A's INVITE placed on B: the B-leg INVITE.
fn placed(sim: &mut Switch, call_id: &str) -> Request {
    let sent = sim.send_a(a_invite(&format!("z9hG4bK-{call_id}"), call_id));
    assert_eq!(summary(&sent), ["A<-100 INVITE", "B<-INVITE"]);
    request(&sent[1].1).clone()
}

fn answered(sim: &mut Switch, call_id: &str) -> Request {
    let b_inv = placed(sim, call_id);
    let sent = sim.send_b(b_response(&b_inv, 200, true));
    let ok = response(&sent[0].1).clone();
    sim.send_a(a_ack(&ok, &format!("z9hG4bK-ack-{call_id}")));
    b_inv
}

#[test]
fn a_second_call_is_refused_while_the_first_holds_the_cap_and_passes_after_its_bye() {
    let (mut sim, live) = capped(0);
    let b_inv = answered(&mut sim, "c-first");
    assert_eq!(live.count(1), 1);
    let sent = sim.send_a(a_invite("z9hG4bKc1", "c-second"));
    let last = summary(&sent).last().cloned().unwrap();
    assert_eq!(last, "A<-403 INVITE", "{:?}", summary(&sent));
    let reason = sent
        .iter()
        .find_map(|(_, m)| m.headers().get("Reason"))
        .unwrap_or_default();
    assert!(reason.contains("7003"), "{reason}");
    assert_eq!(live.count(1), 1, "a refused call takes no unit");
    sim.send_b(b_in_dialog(Method::Bye, &b_inv, 1, "z9hG4bKb9"));
    assert_eq!(live.count(1), 0, "the BYE gave the unit back");
    placed(&mut sim, "c-third");
    assert_eq!(live.count(1), 1);
}

#[test]
fn every_way_a_call_ends_gives_its_unit_back() {
    // A CANCEL before B answered.
    let (mut sim, live) = capped(0);
    let inv = a_invite("z9hG4bKa1", "c-cancel");
    let sent = sim.send_a(inv.clone());
    let b_inv = request(&sent[1].1).clone();
    sim.send_b(b_response(&b_inv, 180, false));
    assert_eq!(live.count(1), 1);
    let mut cancel = inv.cancel();
    cancel
        .headers_mut()
        .set("Via", "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKa1");
    sim.send_a(cancel);
    assert_eq!(sim.disconnect_code(), Some(7502), "cancelled while ringing");
    assert_eq!(live.count(1), 0, "cancel");

    // B busy.
    let (mut sim, live) = capped(0);
    let b_inv = placed(&mut sim, "c-busy");
    sim.send_b(b_response(&b_inv, 486, false));
    assert!(sim.disconnect_code().is_some());
    assert_eq!(live.count(1), 0, "486 from B");

    // B silent: Timer B.
    let (mut sim, live) = capped(0);
    placed(&mut sim, "c-silent");
    sim.advance(Duration::from_secs(33));
    assert_eq!(sim.disconnect_code(), Some(8101));
    assert_eq!(live.count(1), 0, "Timer B");

    // The binding's maximum duration.
    let (mut sim, live) = capped(120);
    answered(&mut sim, "c-max");
    sim.advance(Duration::from_secs(121));
    assert_eq!(sim.disconnect_code(), Some(8010));
    assert_eq!(live.count(1), 0, "max duration");

    // A drain releasing the calls still up.
    let (mut sim, live) = capped(0);
    answered(&mut sim, "c-drain");
    let (now, wall) = (sim.now, sim.wall);
    assert_eq!(
        sim.b2b.release_all(now, wall, pn_bindings::Cause::SHUTTING_DOWN),
        1
    );
    assert_eq!(live.count(1), 0, "drain");
    assert_eq!(live.subjects(), 0);
}
