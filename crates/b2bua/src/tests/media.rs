//! Relay mode: SDP anchored at the switch's port pairs, and the media commands of a call's life.

use pn_media::{PortAllocator, PortPair};

use super::*;
use crate::{MediaCall, MediaCommand};

fn relay_sim(first: u16, last: u16) -> Sim {
    let mut sim = Sim::new(FakeRouter::connect(0));
    sim.b2b.enable_media_relay(
        "192.0.2.10".parse().unwrap(),
        PortAllocator::new(first, last).unwrap(),
    );
    sim
}

/// The pairs of the last `Open`.
fn last_open(sim: &Sim) -> (MediaCall, [PortPair; 2]) {
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
    let plane = sim.b2b.media_plane().unwrap();
    assert_eq!(plane.ports.available(), 0);
    assert!(plane.closing.is_empty());
}

#[test]
fn a_pair_that_cannot_be_bound_is_set_aside_when_it_comes_back() {
    // Three pairs.
    let mut sim = relay_sim(40_000, 40_005);
    sim.send_a(a_invite("z9hG4bKu0", "call-u-0"));
    let (call, [a, b]) = last_open(&sim);
    // Another process holds a port of A's pair.
    let event = crate::MediaEvent::OpenFailed {
        call,
        unbindable: [Some(a), None],
    };
    sim.b2b.handle_media_event(sim.now, sim.wall, event, &sim.router);
    let sent = sim.drain(); // the call is refused, its relay closed, the pairs come back
    assert_eq!(summary(&sent), ["A<-503 INVITE"]);
    let plane = sim.b2b.media_plane().unwrap();
    assert_eq!((plane.ports.available(), plane.ports.set_aside_count()), (2, 1));
    // The next call gets the good pairs, not the one that failed.
    sim.send_a(a_invite("z9hG4bKu1", "call-u-1"));
    let (_, pairs) = last_open(&sim);
    assert_eq!(pairs, [pair(40_004), b]);
}
