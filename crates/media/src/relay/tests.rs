use super::*;
use crate::rtp::RtpHeader;

/// The origin of the virtual clock. `Instant` has no constructor, so one reading of the real
/// clock is taken; afterwards time moves only by adding durations to it.
#[allow(clippy::disallowed_methods)]
fn epoch() -> Instant {
    Instant::now()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

const A_PORTS: PortPair = PortPair {
    rtp: 30000,
    rtcp: 30001,
};
const B_PORTS: PortPair = PortPair {
    rtp: 30002,
    rtcp: 30003,
};

fn rtp(seq: u16, ts: u32, ssrc: u32) -> Vec<u8> {
    let mut out = Vec::new();
    RtpHeader {
        marker: false,
        payload_type: 8,
        sequence: seq,
        timestamp: ts,
        ssrc,
    }
    .write(&[0xD5, 0x55, 1, 2], &mut out);
    out
}

fn rr(ssrc: u32) -> Vec<u8> {
    let mut b = vec![0x80, 201, 0, 1];
    b.extend_from_slice(&ssrc.to_be_bytes());
    b
}

fn session(now: Instant) -> RelaySession {
    let mut s = RelaySession::new(now, RelayConfig::default(), A_PORTS, B_PORTS);
    s.set_remote(Leg::A, RemoteMedia::from_sdp(addr("10.0.0.1:4000")));
    s.set_remote(Leg::B, RemoteMedia::from_sdp(addr("10.0.0.2:5000")));
    s
}

/// A session admitting any source host (parties behind NAT: their SDP names 10.0.0.x, they send from 192.0.2.x).
fn nat_session(now: Instant) -> RelaySession {
    let config = RelayConfig {
        sources: SourcePolicy::Any,
        ..RelayConfig::default()
    };
    let mut s = RelaySession::new(now, config, A_PORTS, B_PORTS);
    s.set_remote(Leg::A, RemoteMedia::from_sdp(addr("10.0.0.1:4000")));
    s.set_remote(Leg::B, RemoteMedia::from_sdp(addr("10.0.0.2:5000")));
    s
}

fn dropped(outcome: RelayOutcome<'_>) -> DropReason {
    match outcome {
        RelayOutcome::Forward(f) => panic!("forwarded to {}", f.to),
        RelayOutcome::Dropped(r) => r,
    }
}

fn forwarded(outcome: RelayOutcome<'_>) -> Forward<'_> {
    match outcome {
        RelayOutcome::Forward(f) => f,
        RelayOutcome::Dropped(r) => panic!("dropped: {r:?}"),
    }
}

fn events(s: &mut RelaySession) -> Vec<RelayEvent> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

#[test]
fn forwards_rtp_both_ways_to_sdp_then_latched_addresses_bytes_intact() {
    let t0 = epoch();
    let mut s = nat_session(t0);
    // A speaks first from a NATed address; B not latched yet: goes to B's SDP address from B's local port.
    let pkt = rtp(7, 1600, 0xAAAA);
    let f = forwarded(s.handle_packet(t0, Leg::A, Channel::Rtp, addr("192.0.2.1:6000"), &pkt));
    assert_eq!(
        f,
        Forward {
            leg: Leg::B,
            channel: Channel::Rtp,
            local_port: 30002,
            to: addr("10.0.0.2:5000"),
            bytes: &pkt
        }
    );
    assert_eq!(f.bytes.as_ptr(), pkt.as_ptr(), "zero copy");
    assert_eq!(
        events(&mut s),
        vec![RelayEvent::Latched {
            leg: Leg::A,
            channel: Channel::Rtp,
            addr: addr("192.0.2.1:6000")
        }]
    );
    // B answers: goes to A's latched source, not A's SDP address.
    let back = rtp(100, 8000, 0xBBBB);
    let f = forwarded(s.handle_packet(t0 + ms(20), Leg::B, Channel::Rtp, addr("10.0.0.2:5000"), &back));
    assert_eq!(
        (f.leg, f.local_port, f.to),
        (Leg::A, 30000, addr("192.0.2.1:6000"))
    );
    let parsed = RtpPacket::parse(f.bytes).unwrap();
    assert_eq!(
        (parsed.sequence, parsed.timestamp, parsed.ssrc, parsed.payload()),
        (100, 8000, 0xBBBB, &[0xD5, 0x55, 1, 2][..])
    );
    assert_eq!(s.latched(Leg::B, Channel::Rtp), Some(addr("10.0.0.2:5000")));
    let c = s.counters(Leg::A);
    assert_eq!((c.rtp_packets, c.rtp_bytes, c.dropped), (1, 16, 0));
    assert_eq!(s.counters(Leg::B).rtp_packets, 1);
}

#[test]
fn rtcp_passes_on_its_own_ports_and_latches_separately() {
    let t0 = epoch();
    let mut s = nat_session(t0);
    let report = rr(0xAAAA);
    let f = forwarded(s.handle_packet(t0, Leg::A, Channel::Rtcp, addr("192.0.2.1:6001"), &report));
    assert_eq!(
        (f.leg, f.channel, f.local_port, f.to),
        (Leg::B, Channel::Rtcp, 30003, addr("10.0.0.2:5001"))
    );
    assert_eq!(f.bytes, &report[..]);
    assert_eq!(s.latched(Leg::A, Channel::Rtcp), Some(addr("192.0.2.1:6001")));
    assert_eq!(s.latched(Leg::A, Channel::Rtp), None);
    let pkt_in = rr(0xBBBB);
    let f = forwarded(s.handle_packet(t0, Leg::B, Channel::Rtcp, addr("10.0.0.2:5001"), &pkt_in));
    assert_eq!((f.local_port, f.to), (30001, addr("192.0.2.1:6001")));
    assert_eq!(s.counters(Leg::A).rtcp_packets, 1);
    assert_eq!(s.counters(Leg::A).rtcp_bytes, 8);
}

#[test]
fn rtcp_mux_demuxes_on_the_rtp_port() {
    let t0 = epoch();
    let mut s = nat_session(t0);
    s.set_remote(Leg::B, RemoteMedia::muxed(addr("10.0.0.2:5000")));
    // RTCP from A arrives on A's RTP port (A muxes too): recognised by RFC 5761, sent muxed to B.
    let pkt_in = rr(1);
    let f = forwarded(s.handle_packet(t0, Leg::A, Channel::Rtp, addr("192.0.2.1:6000"), &pkt_in));
    assert_eq!(
        (f.channel, f.local_port, f.to),
        (Channel::Rtp, 30002, addr("10.0.0.2:5000"))
    );
    assert_eq!(s.counters(Leg::A).rtcp_packets, 1);
    assert_eq!(s.counters(Leg::A).rtp_packets, 0);
}

#[test]
fn drops_malformed_and_undeliverable_packets_as_values() {
    let t0 = epoch();
    let any = RelayConfig {
        sources: SourcePolicy::Any,
        ..RelayConfig::default()
    };
    // By default a party that has not given its SDP yet has no eligible source at all.
    let mut strict = RelaySession::new(t0, RelayConfig::default(), A_PORTS, B_PORTS);
    let pkt = rtp(1, 0, 1);
    let reason = dropped(strict.handle_packet(t0, Leg::A, Channel::Rtp, addr("192.0.2.1:6000"), &pkt));
    assert_eq!(reason, DropReason::ForeignSource);
    assert_eq!(strict.latched(Leg::A, Channel::Rtp), None);
    let mut s = RelaySession::new(t0, any, A_PORTS, B_PORTS);
    let garbage = [0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42]; // a STUN header, not RTP
    assert_eq!(
        s.handle_packet(t0, Leg::A, Channel::Rtp, addr("192.0.2.1:6000"), &garbage),
        RelayOutcome::Dropped(DropReason::Malformed)
    );
    assert_eq!(
        s.handle_packet(t0, Leg::A, Channel::Rtcp, addr("192.0.2.1:6001"), &[0x80, 200]),
        RelayOutcome::Dropped(DropReason::Malformed)
    );
    let pkt = rtp(1, 0, 1);
    assert_eq!(
        s.handle_packet(t0, Leg::A, Channel::Rtp, addr("192.0.2.1:6000"), &pkt),
        RelayOutcome::Dropped(DropReason::NoDestination)
    );
    assert_eq!(s.counters(Leg::A).dropped, 3);
    // With any source admitted, A was latched anyway, so B's first packet can reach A before A's SDP is known.
    s.set_remote(Leg::B, RemoteMedia::from_sdp(addr("10.0.0.2:5000")));
    let f = forwarded(s.handle_packet(t0, Leg::B, Channel::Rtp, addr("10.0.0.2:5000"), &pkt));
    assert_eq!(f.to, addr("192.0.2.1:6000"));
}

#[test]
fn relatch_only_on_same_ssrc_or_after_silence() {
    let t0 = epoch();
    let mut s = nat_session(t0);
    let first = addr("192.0.2.1:6000");
    forwarded(s.handle_packet(t0, Leg::A, Channel::Rtp, first, &rtp(1, 0, 0xAAAA)));
    // Another source with another SSRC: a hijack attempt, dropped.
    let intruder = addr("203.0.113.9:7000");
    let pkt_in = rtp(9, 9, 0xEEEE);
    let out = s.handle_packet(t0 + ms(20), Leg::A, Channel::Rtp, intruder, &pkt_in);
    assert_eq!(out, RelayOutcome::Dropped(DropReason::UnlatchedSource));
    assert_eq!(s.latched(Leg::A, Channel::Rtp), Some(first));
    // Same SSRC from a new port: NAT rebinding, re-latch at once.
    let rebound = addr("192.0.2.1:6100");
    forwarded(s.handle_packet(t0 + ms(40), Leg::A, Channel::Rtp, rebound, &rtp(2, 160, 0xAAAA)));
    assert_eq!(s.latched(Leg::A, Channel::Rtp), Some(rebound));
    // After 2 s of silence from the latched source, a new stream may take over.
    let pkt_in = rtp(9, 9, 0xEEEE);
    let out = s.handle_packet(t0 + ms(40) + ms(2000), Leg::A, Channel::Rtp, intruder, &pkt_in);
    assert!(matches!(out, RelayOutcome::Forward(_)));
    assert_eq!(s.latched(Leg::A, Channel::Rtp), Some(intruder));
    let latched: Vec<_> = events(&mut s)
        .into_iter()
        .filter(|e| matches!(e, RelayEvent::Latched { .. }))
        .collect();
    assert_eq!(latched.len(), 3);
}

#[test]
fn new_sdp_address_clears_the_latch() {
    let t0 = epoch();
    let mut s = session(t0);
    forwarded(s.handle_packet(t0, Leg::B, Channel::Rtp, addr("10.0.0.2:5000"), &rtp(1, 0, 2)));
    s.set_remote(Leg::B, RemoteMedia::from_sdp(addr("10.0.0.2:5000")));
    assert!(
        s.latched(Leg::B, Channel::Rtp).is_some(),
        "same SDP keeps the latch"
    );
    s.set_remote(Leg::B, RemoteMedia::from_sdp(addr("10.0.0.3:5002")));
    assert_eq!(s.latched(Leg::B, Channel::Rtp), None);
    let pkt_in = rtp(1, 0, 1);
    let f = forwarded(s.handle_packet(t0, Leg::A, Channel::Rtp, addr("10.0.0.1:4000"), &pkt_in));
    assert_eq!(f.to, addr("10.0.0.3:5002"));
}

#[test]
fn sequence_of_packets_passes_unchanged_in_order() {
    let t0 = epoch();
    let mut s = session(t0);
    for i in 0..500u16 {
        let seq = 65_400u16.wrapping_add(i);
        let pkt = rtp(seq, u32::from(i) * 160, 0xAAAA);
        let f = forwarded(s.handle_packet(
            t0 + ms(20 * u64::from(i)),
            Leg::A,
            Channel::Rtp,
            addr("10.0.0.1:4000"),
            &pkt,
        ));
        assert_eq!(f.bytes, &pkt[..]);
        let p = RtpPacket::parse(f.bytes).unwrap();
        assert_eq!((p.sequence, p.timestamp), (seq, u32::from(i) * 160));
    }
    assert_eq!(s.counters(Leg::A).rtp_packets, 500);
}

#[test]
fn media_timeout_fires_once_per_silent_leg_and_rearms_on_rtp() {
    let t0 = epoch();
    let config = RelayConfig {
        media_timeout: Some(ms(10_000)),
        ..RelayConfig::default()
    };
    let mut s = RelaySession::new(t0, config, A_PORTS, B_PORTS);
    s.set_remote(Leg::A, RemoteMedia::from_sdp(addr("10.0.0.1:4000")));
    s.set_remote(Leg::B, RemoteMedia::from_sdp(addr("10.0.0.2:5000")));
    assert_eq!(s.poll_output(), RelayOutput::Timeout(Some(t0 + ms(10_000))));
    // A keeps talking; B stays silent.
    for i in 1..=10 {
        forwarded(s.handle_packet(
            t0 + ms(1000 * i),
            Leg::A,
            Channel::Rtp,
            addr("10.0.0.1:4000"),
            &rtp(i as u16, 0, 1),
        ));
    }
    let _ = events(&mut s);
    assert_eq!(
        s.poll_timeout(),
        Some(t0 + ms(10_000)),
        "B's deadline comes first"
    );
    s.handle_timeout(t0 + ms(9_999));
    assert_eq!(s.poll_event(), None);
    s.handle_timeout(t0 + ms(10_000));
    assert_eq!(
        s.poll_output(),
        RelayOutput::Event(RelayEvent::MediaTimeout { leg: Leg::B })
    );
    assert_eq!(
        s.poll_output(),
        RelayOutput::Timeout(Some(t0 + ms(20_000))),
        "only A's timer remains"
    );
    s.handle_timeout(t0 + ms(15_000));
    assert_eq!(s.poll_event(), None, "no repeat for B");
    // RTCP alone does not count as media.
    forwarded(s.handle_packet(
        t0 + ms(15_000),
        Leg::B,
        Channel::Rtcp,
        addr("10.0.0.2:5001"),
        &rr(2),
    ));
    assert_eq!(s.poll_timeout(), Some(t0 + ms(20_000)));
    // B's RTP resumes: re-armed.
    forwarded(s.handle_packet(
        t0 + ms(16_000),
        Leg::B,
        Channel::Rtp,
        addr("10.0.0.2:5000"),
        &rtp(1, 0, 2),
    ));
    let _ = events(&mut s);
    s.handle_timeout(t0 + ms(20_000));
    assert_eq!(events(&mut s), vec![RelayEvent::MediaTimeout { leg: Leg::A }]);
    assert_eq!(s.poll_timeout(), Some(t0 + ms(26_000)));
}

#[test]
fn hold_disarms_the_held_direction() {
    let t0 = epoch();
    let config = RelayConfig {
        media_timeout: Some(ms(5_000)),
        ..RelayConfig::default()
    };
    let mut s = RelaySession::new(t0, config, A_PORTS, B_PORTS);
    // A puts B on hold: A sendonly. B's stream is no longer expected; A's still is.
    s.set_direction(t0 + ms(1_000), Leg::A, MediaDirection::SendOnly);
    assert_eq!(s.poll_timeout(), Some(t0 + ms(5_000)));
    s.handle_timeout(t0 + ms(5_000));
    assert_eq!(events(&mut s), vec![RelayEvent::MediaTimeout { leg: Leg::A }]);
    // Both inactive: nothing armed.
    s.set_direction(t0 + ms(6_000), Leg::A, MediaDirection::Inactive);
    assert_eq!(s.poll_output(), RelayOutput::Timeout(None));
    s.handle_timeout(t0 + ms(60_000));
    assert_eq!(s.poll_event(), None);
    // Resume: both streams are expected again, timers start at the resume instant.
    s.set_direction(t0 + ms(61_000), Leg::A, MediaDirection::SendRecv);
    assert_eq!(s.poll_timeout(), Some(t0 + ms(66_000)));
    assert_eq!(s.direction(Leg::A), MediaDirection::SendRecv);
    assert_eq!(
        MediaDirection::from_sdp_attribute("recvonly"),
        Some(MediaDirection::RecvOnly)
    );
    assert_eq!(MediaDirection::from_sdp_attribute("bogus"), None);
}

#[test]
fn timeout_can_be_disabled() {
    let t0 = epoch();
    let mut s = RelaySession::new(
        t0,
        RelayConfig {
            media_timeout: None,
            ..RelayConfig::default()
        },
        A_PORTS,
        B_PORTS,
    );
    assert_eq!(s.poll_output(), RelayOutput::Timeout(None));
    assert_eq!(s.ports(Leg::B), B_PORTS);
    assert_eq!(Leg::A.other(), Leg::B);
}

#[test]
fn by_default_only_the_sdp_host_is_latched_and_the_exact_address_wins() {
    let t0 = epoch();
    let mut s = session(t0);
    // An attacker sprays the relay's ports before the party speaks: dropped, never latched, and B's audio
    // keeps going to A's SDP address (RTP bleed).
    let spray = addr("203.0.113.9:7000");
    let reason = dropped(s.handle_packet(t0, Leg::A, Channel::Rtp, spray, &rtp(1, 0, 0xEEEE)));
    assert_eq!(reason, DropReason::ForeignSource);
    let reason = dropped(s.handle_packet(t0, Leg::A, Channel::Rtcp, addr("203.0.113.9:7001"), &rr(0xEEEE)));
    assert_eq!(reason, DropReason::ForeignSource);
    let back = rtp(1, 0, 0xBBBB);
    let f = forwarded(s.handle_packet(t0, Leg::B, Channel::Rtp, addr("10.0.0.2:5000"), &back));
    assert_eq!(f.to, addr("10.0.0.1:4000"));
    assert_eq!(s.latched(Leg::A, Channel::Rtp), None);
    // Another port of A's SDP host latches...
    let side = addr("10.0.0.1:4100");
    forwarded(s.handle_packet(t0 + ms(20), Leg::A, Channel::Rtp, side, &rtp(1, 0, 0x1111)));
    assert_eq!(s.latched(Leg::A, Channel::Rtp), Some(side));
    // ...until the SDP's exact address speaks: it outranks it at once, with no silence needed.
    let exact = addr("10.0.0.1:4000");
    forwarded(s.handle_packet(t0 + ms(40), Leg::A, Channel::Rtp, exact, &rtp(1, 0, 0xAAAA)));
    assert_eq!(s.latched(Leg::A, Channel::Rtp), Some(exact));
    // The lower rank cannot take it back while the exact source talks, nor after its silence.
    let reason = dropped(s.handle_packet(t0 + ms(60), Leg::A, Channel::Rtp, side, &rtp(2, 160, 0x1111)));
    assert_eq!(reason, DropReason::UnlatchedSource);
    let late = t0 + ms(40) + ms(5_000);
    let reason = dropped(s.handle_packet(late, Leg::A, Channel::Rtp, side, &rtp(3, 320, 0x1111)));
    assert_eq!(reason, DropReason::UnlatchedSource);
    // The sprayer stays out after any silence.
    let reason = dropped(s.handle_packet(late, Leg::A, Channel::Rtp, spray, &rtp(2, 0, 0xEEEE)));
    assert_eq!(reason, DropReason::ForeignSource);
    assert_eq!(s.latched(Leg::A, Channel::Rtp), Some(exact));
    // The exact stream moving to another port of its host (same SSRC) follows it.
    let moved = addr("10.0.0.1:4200");
    forwarded(s.handle_packet(late, Leg::A, Channel::Rtp, moved, &rtp(4, 480, 0xAAAA)));
    assert_eq!(s.latched(Leg::A, Channel::Rtp), Some(moved));
    // IPv4-mapped IPv6 is the same host.
    let mapped = addr("[::ffff:10.0.0.1]:4000");
    forwarded(s.handle_packet(late + ms(20), Leg::A, Channel::Rtp, mapped, &rtp(5, 640, 0xAAAA)));
}

#[test]
fn with_any_source_the_sdp_host_still_outranks_and_silence_does_not_hand_it_to_another_host() {
    let t0 = epoch();
    let mut s = nat_session(t0);
    let nat = addr("192.0.2.1:6000");
    forwarded(s.handle_packet(t0, Leg::A, Channel::Rtp, nat, &rtp(1, 0, 0xAAAA)));
    assert_eq!(s.latched(Leg::A, Channel::Rtp), Some(nat));
    let exact = addr("10.0.0.1:4000");
    forwarded(s.handle_packet(t0 + ms(20), Leg::A, Channel::Rtp, exact, &rtp(1, 0, 0xCCCC)));
    assert_eq!(
        s.latched(Leg::A, Channel::Rtp),
        Some(exact),
        "the SDP address outranks"
    );
    let later = t0 + ms(10_000);
    let spray = addr("203.0.113.9:7000");
    let reason = dropped(s.handle_packet(later, Leg::A, Channel::Rtp, spray, &rtp(9, 0, 0xEEEE)));
    assert_eq!(
        reason,
        DropReason::UnlatchedSource,
        "silence does not lower the rank"
    );
}

#[test]
fn a_reused_ports_previous_stream_is_refused_until_its_deadline() {
    let t0 = epoch();
    // The previous call on A's ports had latched the gateway at 10.0.0.1:4000 with SSRC 0x0D0D.
    let mut before = session(t0);
    let gateway = addr("10.0.0.1:4000");
    let gateway_rtcp = addr("10.0.0.1:4001");
    forwarded(before.handle_packet(t0, Leg::A, Channel::Rtp, gateway, &rtp(1, 0, 0x0D0D)));
    forwarded(before.handle_packet(t0, Leg::A, Channel::Rtcp, gateway_rtcp, &rr(0x0D0D)));
    let sources = before.latched_sources(Leg::A);
    assert_eq!(sources, [Some((gateway, 0x0D0D)), Some((gateway_rtcp, 0x0D0D))]);
    assert_eq!(before.latched_sources(Leg::B), [None, None]);
    // The next call on those ports comes from the same gateway host, another port of it.
    let t1 = t0 + ms(1_500);
    let mut s = session(t1);
    let new_port = addr("10.0.0.1:4010");
    s.set_remote(Leg::A, RemoteMedia::from_sdp(new_port));
    let until = t1 + ms(30_000);
    for (channel, source) in [Channel::Rtp, Channel::Rtcp].into_iter().zip(sources) {
        let (addr, ssrc) = source.unwrap();
        s.refuse_stale(Leg::A, channel, StaleSource { addr, ssrc, until });
    }
    // The ended call's stream keeps coming (its BYE was lost): refused on both channels, not latched,
    // although its host is the SDP's.
    let reason = dropped(s.handle_packet(t1, Leg::A, Channel::Rtp, gateway, &rtp(99, 0, 0x0D0D)));
    assert_eq!(reason, DropReason::StaleSource);
    let reason = dropped(s.handle_packet(t1, Leg::A, Channel::Rtcp, gateway_rtcp, &rr(0x0D0D)));
    assert_eq!(reason, DropReason::StaleSource);
    assert_eq!(s.latched(Leg::A, Channel::Rtp), None);
    let back = rtp(1, 0, 0xBBBB);
    let f = forwarded(s.handle_packet(t1, Leg::B, Channel::Rtp, addr("10.0.0.2:5000"), &back));
    assert_eq!(
        f.to, new_port,
        "B's audio goes to A's SDP address, not to the stray"
    );
    // A new stream from the stray's very address (a fresh SSRC) is an ordinary source of the SDP's host.
    forwarded(s.handle_packet(t1 + ms(20), Leg::A, Channel::Rtp, gateway, &rtp(1, 0, 0x5EED)));
    assert_eq!(s.latched(Leg::A, Channel::Rtp), Some(gateway));
    // With that address latched, the old stream from it (the old SSRC) is still refused.
    let reason = dropped(s.handle_packet(t1 + ms(40), Leg::A, Channel::Rtp, gateway, &rtp(100, 0, 0x0D0D)));
    assert_eq!(reason, DropReason::StaleSource);
    // The new party's exact address outranks, as always.
    forwarded(s.handle_packet(t1 + ms(60), Leg::A, Channel::Rtp, new_port, &rtp(1, 0, 0x7777)));
    assert_eq!(s.latched(Leg::A, Channel::Rtp), Some(new_port));
    // After the deadline the old stream is an ordinary source again: a host the SDP names, nothing latched
    // on RTCP yet.
    let after = t1 + ms(30_000);
    forwarded(s.handle_packet(after, Leg::A, Channel::Rtcp, gateway_rtcp, &rr(0x0D0D)));
}

#[test]
fn the_address_the_new_sdp_names_is_never_stale() {
    // A device that offers the new call the address its ended call used has moved it off that call, and may
    // keep its SSRC (a pcap replay does): relayed at once.
    let t0 = epoch();
    let mut s = session(t0);
    let exact = addr("10.0.0.1:4000");
    let until = t0 + ms(30_000);
    s.refuse_stale(
        Leg::A,
        Channel::Rtp,
        StaleSource {
            addr: exact,
            ssrc: 0x0D0D,
            until,
        },
    );
    forwarded(s.handle_packet(t0, Leg::A, Channel::Rtp, exact, &rtp(1, 0, 0x0D0D)));
    assert_eq!(s.latched(Leg::A, Channel::Rtp), Some(exact));
}

/// The relay's own addresses in these tests: bound on 10.9.9.9, ports 30000–30099 (A's and B's pairs among them).
fn own() -> OwnPorts {
    OwnPorts {
        bind_ip: "10.9.9.9".parse().unwrap(),
        public_ip: "203.0.113.9".parse().unwrap(),
        first: 30000,
        last: 30099,
    }
}

fn guarded(now: Instant, sources: SourcePolicy) -> RelaySession {
    let config = RelayConfig {
        sources,
        own: Some(own()),
        ..RelayConfig::default()
    };
    RelaySession::new(now, config, A_PORTS, B_PORTS)
}

#[test]
fn own_ports_are_the_relays_range_on_its_addresses_and_every_unspecified_address() {
    let own = own();
    for yes in [
        "10.9.9.9:30000",
        "10.9.9.9:30099",
        "203.0.113.9:30050",
        "0.0.0.0:4000",
        "[::]:30000",
    ] {
        assert!(own.contains(addr(yes)), "{yes}");
    }
    for no in [
        "10.9.9.9:29999",
        "10.9.9.9:30100",
        "10.0.0.1:30000",
        "127.0.0.1:30000",
    ] {
        assert!(!own.contains(addr(no)), "{no}");
    }
    // IPv4-mapped IPv6 is the same address.
    assert!(own.contains(addr("[::ffff:10.9.9.9]:30002")));
    // A relay bound to every address also answers on loopback.
    let any = OwnPorts {
        bind_ip: "0.0.0.0".parse().unwrap(),
        public_ip: "203.0.113.9".parse().unwrap(),
        ..own
    };
    assert!(any.contains(addr("127.0.0.1:30000")));
    assert!(!any.contains(addr("127.0.0.1:4000")));
}

/// The loop of a party whose SDP names the relay's own port: never a first hop, and a datagram that does come
/// from an own port (another call's, another shard's) is refused, even with any source admitted.
#[test]
fn an_sdp_naming_the_relays_own_port_gets_nothing_and_own_ports_never_latch() {
    let t0 = epoch();
    for sources in [SourcePolicy::SdpHost, SourcePolicy::Any] {
        let mut s = guarded(t0, sources);
        s.set_remote(Leg::A, RemoteMedia::from_sdp(addr("10.0.0.1:4000")));
        // B answered with the relay's own A port (a hard-coded SDP, or an attacker): relaying would loop.
        s.set_remote(Leg::B, RemoteMedia::from_sdp(addr("10.9.9.9:30000")));
        let pkt = rtp(1, 160, 0xA);
        assert_eq!(
            dropped(s.handle_packet(t0, Leg::A, Channel::Rtp, addr("10.0.0.1:4000"), &pkt)),
            DropReason::NoDestination
        );
        assert_eq!(s.rtp_destination(Leg::B), None, "no prompt to the relay itself");
        // What arrives from an own port (here B's own pair, as a loop would send it) is refused, not latched.
        let own_b = addr("10.9.9.9:30002");
        assert_eq!(
            dropped(s.handle_packet(t0, Leg::B, Channel::Rtp, own_b, &rtp(1, 160, 0xB))),
            DropReason::OwnAddress
        );
        assert_eq!(
            dropped(s.handle_packet(t0, Leg::A, Channel::Rtcp, addr("203.0.113.9:30001"), &rr(0xB))),
            DropReason::OwnAddress
        );
        assert_eq!(s.latched(Leg::B, Channel::Rtp), None);
        // The real party still latches and gets the other side's media.
        let b_real = addr("10.9.9.9:5000");
        forwarded(s.handle_packet(t0, Leg::B, Channel::Rtp, b_real, &rtp(2, 320, 0xB)));
        let back = forwarded(s.handle_packet(t0 + ms(20), Leg::A, Channel::Rtp, addr("10.0.0.1:4000"), &pkt));
        assert_eq!(back.to, b_real);
    }
}

/// RFC 2543 hold (`c=0.0.0.0`): Linux would deliver a datagram sent there to the host itself.
#[test]
fn an_unspecified_sdp_address_is_no_destination() {
    let t0 = epoch();
    let mut s = guarded(t0, SourcePolicy::SdpHost);
    s.set_remote(Leg::A, RemoteMedia::from_sdp(addr("10.0.0.1:4000")));
    s.set_remote(Leg::B, RemoteMedia::from_sdp(addr("0.0.0.0:5000")));
    assert_eq!(
        dropped(s.handle_packet(t0, Leg::A, Channel::Rtp, addr("10.0.0.1:4000"), &rtp(1, 160, 0xA))),
        DropReason::NoDestination
    );
    assert_eq!(s.rtp_destination(Leg::B), None);
}
