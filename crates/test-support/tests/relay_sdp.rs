//! Relay mode: SDP anchored at the switch's port pairs, and the media commands of a call's life.
//!
//! Moved from pn-b2bua's unit tests (`crates/b2bua/src/tests/`) onto [`pn_test_support::script::Switch`]:
//! they use only pn-b2bua's public API.

#![allow(clippy::unwrap_used, clippy::panic, clippy::too_many_lines)]

use pn_b2bua::{MediaCall, MediaCommand};
use pn_media::{Leg, MediaDirection, PortAllocator, PortPair, RemoteMedia};
use pn_sip::{Method, SipMessage};
use pn_test_support::script::*;
use std::time::Duration;

fn relay_sim(first: u16, last: u16) -> Switch {
    let mut sim = Switch::new(router(0));
    sim.b2b.enable_media_relay(
        "192.0.2.10".parse().unwrap(),
        PortAllocator::new(first, last).unwrap(),
    );
    sim
}

/// `(c= address, m= port, direction)` of a message's SDP.
fn media_of(m: &SipMessage) -> (String, u16, Option<String>) {
    let sdp = pn_sip::sdp::SessionDescription::parse(m.body()).unwrap();
    let media = &sdp.media()[0];
    let c = media
        .connection()
        .or_else(|| sdp.connection())
        .unwrap()
        .unwrap()
        .address;
    (
        c,
        media.media_line().unwrap().port,
        media.direction().map(str::to_owned),
    )
}

#[test]
fn relay_mode_rewrites_sdp_and_drives_the_relay() {
    let mut sim = relay_sim(40_000, 40_099);
    let a_pair = PortPair {
        rtp: 40_000,
        rtcp: 40_001,
    };
    let b_pair = PortPair {
        rtp: 40_002,
        rtcp: 40_003,
    };
    let sent = sim.send_a(a_invite("z9hG4bKm1", "call-m-1"));
    assert_eq!(summary(&sent), ["A<-100 INVITE", "B<-INVITE"]);
    // B is offered the switch's B-side pair, not A's 198.51.100.1:49170.
    assert_eq!(media_of(&sent[1].1), ("192.0.2.10".into(), 40_002, None));
    let call = MediaCall(match sim.media.first() {
        Some(MediaCommand::Open { call, .. }) => call.0,
        other => panic!("{other:?}"),
    });
    let a_remote = RemoteMedia::from_sdp("198.51.100.1:49170".parse().unwrap());
    assert_eq!(
        sim.media,
        [
            MediaCommand::Open {
                call,
                a: a_pair,
                b: b_pair
            },
            MediaCommand::Remote {
                call,
                leg: Leg::A,
                remote: Some(a_remote),
                direction: MediaDirection::SendRecv
            },
        ]
    );
    let b_inv = request(&sent[1].1).clone();
    // 183 with SDP: A gets the A-side pair; B's real address is reported.
    let sent = sim.send_b(b_response(&b_inv, 183, true));
    assert_eq!(media_of(&sent[0].1), ("192.0.2.10".into(), 40_000, None));
    let b_remote = RemoteMedia::from_sdp("203.0.113.5:30000".parse().unwrap());
    let b_update = MediaCommand::Remote {
        call,
        leg: Leg::B,
        remote: Some(b_remote),
        direction: MediaDirection::SendRecv,
    };
    assert_eq!(sim.media[2..], *std::slice::from_ref(&b_update));
    // Dead media before the answer is ignored.
    sim.b2b.handle_media_timeout(sim.now, sim.wall, call, Leg::B);
    assert!(sim.b2b.poll_output().is_none());
    let sent = sim.send_b(b_response(&b_inv, 200, true));
    assert_eq!(summary(&sent), ["A<-200 INVITE"]);
    assert_eq!(media_of(&sent[0].1), ("192.0.2.10".into(), 40_000, None));
    assert_eq!(sim.media[3..], [MediaCommand::Answered { call }, b_update]);
    let ok = response(&sent[0].1).clone();
    assert_eq!(summary(&sim.send_a(a_ack(&ok, "z9hG4bKm2"))), ["B<-ACK"]);

    // A puts B on hold with a re-INVITE: B sees sendonly at the switch's address.
    let mut re = a_in_dialog(&Method::Invite, &ok, 11, "z9hG4bKm3");
    let held = SDP_A.replace("c=IN IP4 198.51.100.1", "c=IN IP4 198.51.100.9") + "a=sendonly\r\n";
    re.set_body(Some("application/sdp"), held.into_bytes());
    let sent = sim.send_a(re);
    let b_re = sent.iter().find(|(p, _)| *p == b_peer()).unwrap().1.clone();
    assert_eq!(
        media_of(&b_re),
        ("192.0.2.10".into(), 40_002, Some("sendonly".into()))
    );
    assert_eq!(
        sim.media.last(),
        Some(&MediaCommand::Remote {
            call,
            leg: Leg::A,
            remote: Some(RemoteMedia::from_sdp("198.51.100.9:49170".parse().unwrap())),
            direction: MediaDirection::SendOnly,
        })
    );
    let sent = sim.send_b(b_response(request(&b_re), 200, true));
    assert_eq!(media_of(&sent[0].1), ("192.0.2.10".into(), 40_000, None));

    // Dead media from B: BYE both legs, Q.850 102, stateCode 7506, ports released.
    sim.b2b.handle_media_timeout(sim.now, sim.wall, call, Leg::B);
    let byes = sim.drain();
    assert_eq!(summary(&byes), ["A<-BYE", "B<-BYE"]);
    for (_, bye) in &byes {
        let reason = bye.headers().get("Reason").unwrap();
        assert_eq!(reason, "Q.850;cause=102;text=\"7506 Callee-side network error\"");
    }
    assert_eq!(sim.disconnect_code(), Some(7506));
    assert_eq!(
        sim.media.last(),
        Some(&MediaCommand::Close {
            call,
            keep_recording: false
        })
    );
    assert_eq!(sim.b2b.stats().media_timeouts, 1);
}

#[test]
fn no_free_port_pair_refuses_the_call_and_ports_are_reused() {
    // One pair only: a call needs two.
    let mut sim = relay_sim(40_000, 40_001);
    let sent = sim.send_a(a_invite("z9hG4bKn1", "call-n-1"));
    assert_eq!(summary(&sent), ["A<-100 INVITE", "A<-503 INVITE"]);
    assert_eq!(sim.disconnect_code(), Some(7508));
    assert!(sim.media.is_empty());

    // Two pairs: the second call gets the ports the first released.
    let mut sim = relay_sim(40_000, 40_003);
    for n in 0..2 {
        let sent = sim.send_a(a_invite(&format!("z9hG4bKp{n}"), &format!("call-p-{n}")));
        assert_eq!(summary(&sent), ["A<-100 INVITE", "B<-INVITE"], "call {n}");
        let b_inv = request(&sent[1].1).clone();
        sim.send_b(b_response(&b_inv, 486, false));
        assert!(matches!(sim.media.last(), Some(MediaCommand::Close { .. })));
    }
}

/// The pairs of the last `Open`.
fn last_open(sim: &Switch) -> (MediaCall, [PortPair; 2]) {
    sim.media
        .iter()
        .rev()
        .find_map(|m| match m {
            MediaCommand::Open { call, a, b } => Some((*call, [*a, *b])),
            _ => None,
        })
        .unwrap()
}

fn pair(rtp: u16) -> PortPair {
    PortPair { rtp, rtcp: rtp + 1 }
}

#[test]
fn pairs_return_to_the_pool_only_once_the_runtime_closed_the_sockets() {
    // Four pairs: two calls' worth.
    let mut sim = relay_sim(40_000, 40_007);
    sim.close_relays = false;
    let sent = sim.send_a(a_invite("z9hG4bKq0", "call-q-0"));
    let (first, first_pairs) = last_open(&sim);
    assert_eq!(first_pairs, [pair(40_000), pair(40_002)]);
    // B is busy: the call ends and its relay is closed, but the runtime has not closed the sockets yet.
    sim.send_b(b_response(request(&sent[1].1), 486, false));
    assert_eq!(
        sim.media.last(),
        Some(&MediaCommand::Close {
            call: first,
            keep_recording: false
        })
    );
    // The next call gets the two other pairs, never the closing ones.
    let sent = sim.send_a(a_invite("z9hG4bKq1", "call-q-1"));
    assert_eq!(summary(&sent), ["A<-100 INVITE", "B<-INVITE"]);
    let (second, second_pairs) = last_open(&sim);
    assert_ne!(first, second);
    assert_eq!(second_pairs, [pair(40_004), pair(40_006)]);
    // A third call finds nothing free: refused with 7508, though no call but the second is up.
    let sent = sim.send_a(a_invite("z9hG4bKq2", "call-q-2"));
    assert_eq!(summary(&sent), ["A<-100 INVITE", "A<-503 INVITE"]);
    assert_eq!(last_open(&sim).0, second, "no relay opened for the refused call");
    // The runtime reports the first call's sockets closed: its pairs serve the next call.
    sim.closed(first);
    sim.closed(first); // a repeated report changes nothing
    let sent = sim.send_a(a_invite("z9hG4bKq3", "call-q-3"));
    assert_eq!(summary(&sent), ["A<-100 INVITE", "B<-INVITE"]);
    assert_eq!(last_open(&sim).1, first_pairs);
    let ports = sim.b2b.relay_ports().unwrap();
    assert_eq!(ports.free, 0);
    assert_eq!(ports.closing, 0);
}

#[test]
fn a_pair_that_cannot_be_bound_is_set_aside_when_it_comes_back() {
    // Three pairs.
    let mut sim = relay_sim(40_000, 40_005);
    sim.send_a(a_invite("z9hG4bKu0", "call-u-0"));
    let (call, [a, b]) = last_open(&sim);
    // Another process holds a port of A's pair.
    let event = pn_b2bua::MediaEvent::OpenFailed {
        call,
        unbindable: [Some(a), None],
    };
    sim.b2b.handle_media_event(sim.now, sim.wall, event, &sim.router);
    let sent = sim.drain(); // the call is refused, its relay closed, the pairs come back
    assert_eq!(summary(&sent), ["A<-503 INVITE"]);
    let ports = sim.b2b.relay_ports().unwrap();
    assert_eq!((ports.free, ports.set_aside), (2, 1));
    // The next call gets the good pairs, not the one that failed.
    sim.send_a(a_invite("z9hG4bKu1", "call-u-1"));
    let (_, pairs) = last_open(&sim);
    assert_eq!(pairs, [pair(40_004), b]);
}

#[test]
fn relay_ports_count_every_pair_once() {
    assert_eq!(
        Switch::new(router(0)).b2b.relay_ports(),
        None,
        "bypass mode has no pool"
    );
    // Three pairs.
    let mut sim = relay_sim(40_000, 40_005);
    sim.close_relays = false;
    let counts = |sim: &Switch| {
        let p = sim.b2b.relay_ports().unwrap();
        assert_eq!(p.capacity, 3);
        assert_eq!(
            p.free + p.set_aside + p.closing + p.cooling + p.in_use,
            p.capacity,
            "{p:?}"
        );
        assert!(p.warm <= p.free, "{p:?}");
        (p.free, p.in_use, p.closing, p.set_aside, p.warm, p.cooling)
    };
    assert_eq!(counts(&sim), (3, 0, 0, 0, 0, 0));
    let sent = sim.send_a(a_invite("z9hG4bKr0", "call-r-0"));
    assert_eq!(counts(&sim), (1, 2, 0, 0, 0, 0));
    let (call, pairs) = last_open(&sim);
    sim.send_b(b_response(request(&sent[1].1), 486, false));
    assert_eq!(counts(&sim), (1, 0, 2, 0, 0, 0));
    sim.closed(call);
    // Free again, and warm: the runtime keeps their sockets bound for a later call.
    assert_eq!(counts(&sim), (3, 0, 0, 0, 2, 0));
    let released = sim.now;
    let wait = pn_media::DEFAULT_PORT_REST + pn_media::DEFAULT_PORT_IDLE;
    let cools_at = released + wait;
    assert_eq!(sim.b2b.next_idle_ports_at(), Some(cools_at));
    assert!(
        sim.b2b
            .take_idle_ports(released + wait.saturating_sub(Duration::from_millis(1)))
            .is_empty()
    );
    // Unused for the rest and idle times: handed to the runtime for closing, not allocatable meanwhile.
    let idle = sim.b2b.take_idle_ports(cools_at);
    assert_eq!(idle, pairs);
    assert_eq!(counts(&sim), (1, 0, 0, 0, 0, 2));
    assert_eq!(sim.b2b.next_idle_ports_at(), None);
    sim.b2b.ports_cooled(&idle);
    assert_eq!(counts(&sim), (3, 0, 0, 0, 0, 0));
}
