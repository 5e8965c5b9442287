//! Whose media the relay latches, through the real binary with `SIPp` as both trunks: the relay sends a party's
//! audio only to a source its whitelist admits, so nobody outside the call hears it.
//!
//! - **RTP bleed**: a sender on another host sprays RTP and RTCP at every port of the relay's range before and
//!   during a call. By default (`media.latch_sources = "sdp-host"`) it is never latched: it hears nothing, and
//!   the parties hear each other.
//! - **A reused port's previous call**: with two port pairs the second call gets the first call's pairs. The
//!   first call's parties keep sending after it ended (as a party whose BYE is lost does), from the same host
//!   as the second call's parties. They are not latched by the second call: they hear nothing of it, and its
//!   parties hear only each other.
//!
//! - **Parties behind NAT**: a party whose SDP names another host than its packets come from (its private
//!   address) is refused by default, and latched with `media.latch_sources = "any"`: the operator's choice.
//!
//! The switch runs one shard with exactly two pairs, so a fresh switch's first call has leg A on the range's
//! first pair and leg B on the second (the pool hands cold pairs out in order): the test's own RTP sockets
//! ([`RtpSink`]) know where to send without reading the SDP.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test: failing loudly is the point

use std::collections::BTreeSet;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pn_e2e::rtp::{Received, RtpSink};
use pn_e2e::sipp::{Rig, SippProcess, free_udp_port};
use pn_media::RtpHeader;
use serde_json::json;

const A: &str = "+8613800000001";
const B: &str = "+8613900000002";
const X: &str = "+8617000000001";

/// How long a UAS may take to finish after its UAC did.
const SETTLE: Duration = Duration::from_secs(10);

/// The sprayer's SSRC.
const SPRAY_SSRC: u32 = 0x0BAD_0BAD;

/// Four ports of their own for test `which` (0 or 1) of this process: the 8 ports at +40 of the 48-port
/// block `sipp_ports` gives its switch (it uses 40), below the kernel's ephemeral ports.
fn port_block(which: u16) -> u16 {
    let slot = u16::try_from(std::process::id() % 250).unwrap_or(0);
    let first = 20_000 + slot * 48 + 40 + which * 4;
    let taken: Vec<u16> = (first..first + 4)
        .filter(|&p| UdpSocket::bind(("127.0.0.1", p)).is_err())
        .collect();
    assert!(taken.is_empty(), "ports {taken:?} of the test's block are taken");
    first
}

/// Serialises the tests that share block 0 (one switch on it at a time).
static BLOCK0: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A switch with one shard owning exactly the two pairs at `first`, with `extra` env overrides.
fn start_rig_with(first: u16, extra: &[(&str, &str)]) -> Rig {
    let (min, max) = (first.to_string(), (first + 3).to_string());
    let mut env = vec![
        ("PNSWITCH__MEDIA__PORT_MIN", min.as_str()),
        ("PNSWITCH__MEDIA__PORT_MAX", max.as_str()),
        ("PNSWITCH__SIP__SHARDS", "1"),
    ];
    env.extend_from_slice(extra);
    let rig = Rig::start(&env);
    let app = rig.switch.app_with_numbers("AXB", &[X]);
    rig.switch.bind_axb(&app, X, A, B, &json!({}));
    rig
}

fn start_rig(first: u16) -> Rig {
    start_rig_with(first, &[])
}

fn relay(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// A `SIPp` media port (`-mp`): `SIPp` binds it and the port two above (video).
fn media_port() -> u16 {
    loop {
        let p = free_udp_port();
        if p < 65_000 && UdpSocket::bind(("127.0.0.1", p + 2)).is_ok() {
            return p;
        }
    }
}

/// A sender on another host (127.0.0.2) spraying an RTP packet and an RTCP receiver report at every port of
/// a range every 20 ms, and counting every datagram that comes back.
struct Sprayer {
    received: Arc<Mutex<Vec<SocketAddr>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Sprayer {
    fn start(ports: std::ops::Range<u16>) -> Sprayer {
        let socket = UdpSocket::bind("127.0.0.2:0").expect("bind 127.0.0.2");
        socket.set_read_timeout(Some(Duration::from_millis(1))).unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (received, stop) = (Arc::clone(&received), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut rr = vec![0x80, 201, 0, 1];
                rr.extend_from_slice(&SPRAY_SSRC.to_be_bytes());
                let (mut seq, mut buf, mut packet) = (1u16, [0u8; 2048], Vec::new());
                let mut next = Instant::now();
                while !stop.load(Ordering::Relaxed) {
                    if Instant::now() >= next {
                        packet.clear();
                        let header = RtpHeader {
                            marker: false,
                            payload_type: 8,
                            sequence: seq,
                            timestamp: u32::from(seq) * 160,
                            ssrc: SPRAY_SSRC,
                        };
                        header.write(&[0xD5; 160], &mut packet);
                        for port in ports.clone() {
                            let bytes = if port % 2 == 0 { &packet } else { &rr };
                            let _ = socket.send_to(bytes, relay(port));
                        }
                        seq = seq.wrapping_add(1);
                        next += Duration::from_millis(20);
                    }
                    if let Ok((_, from)) = socket.recv_from(&mut buf) {
                        received.lock().unwrap().push(from);
                    }
                }
            })
        };
        Sprayer {
            received,
            stop,
            thread: Some(thread),
        }
    }

    /// Stops spraying; returns who sent it something.
    fn stop(mut self) -> Vec<SocketAddr> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        self.received.lock().unwrap().clone()
    }
}

fn ssrcs(packets: &[Received]) -> BTreeSet<u32> {
    packets.iter().map(|p| p.ssrc).collect()
}

/// B's trunk, answering with an SDP that names `sink`.
fn answer_into(rig: &Rig, sink: &RtpSink) -> SippProcess {
    rig.uas("uas_media_port")
        .inject(&[&[sink.port().to_string()]])
        .timeout_secs(60)
        .spawn()
}

/// One call with the test's sockets as both parties (A's SDP names `sink_a`, B's `sink_b`): once the call is up,
/// each party talks to its leg's relay port (A: the range's first pair, B: the second) and keeps talking after
/// the call, like a party that never got its BYE.
fn call_with_sinks(rig: &Rig, first: u16, sink_a: &mut RtpSink, sink_b: &mut RtpSink, hold_ms: u64) {
    let b_side = answer_into(rig, sink_b);
    let a_side = rig
        .uac("uac_media_port")
        .inject(&[&[A.to_owned(), X.to_owned(), sink_a.port().to_string()]])
        .pause_ms(hold_ms)
        .timeout_secs(60)
        .spawn();
    std::thread::sleep(Duration::from_secs(1));
    sink_a.keep_sending(relay(first));
    sink_b.keep_sending(relay(first + 2));
    a_side.finish_ok(Duration::from_millis(hold_ms) + SETTLE);
    b_side.finish_ok(SETTLE);
}

#[test]
fn a_sender_spraying_the_relay_ports_from_another_host_never_hears_the_call() {
    let _block = BLOCK0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let first = port_block(0);
    let rig = start_rig(first);
    // The sprayer starts first: it is the first source on every port of the call.
    let sprayer = Sprayer::start(first..first + 4);
    std::thread::sleep(Duration::from_millis(200));
    let (mut sink_a, mut sink_b) = (RtpSink::bind(), RtpSink::bind());
    call_with_sinks(&rig, first, &mut sink_a, &mut sink_b, 3_000);
    let heard = sprayer.stop();
    assert!(
        heard.is_empty(),
        "the sprayer on 127.0.0.2 received {} datagrams from the relay (first from {:?})",
        heard.len(),
        heard.first()
    );
    // The parties heard each other, and nothing of the sprayer.
    for (who, sink) in [("A", &sink_a), ("B", &sink_b)] {
        let got = sink.packets();
        assert!(got.len() >= 50, "{who} heard only {} packets", got.len());
        assert_eq!(
            ssrcs(&got).len(),
            1,
            "{who} heard several streams: {:?}",
            ssrcs(&got)
        );
        assert!(!ssrcs(&got).contains(&SPRAY_SSRC), "{who} heard the sprayer");
    }
    let refused = rig.switch.metric("pn_media_packets_total{outcome=\"refused\"}");
    assert!(
        refused.is_some_and(|d| d >= 100.0),
        "the sprayer's packets are counted refused: {refused:?}"
    );
}

#[test]
fn a_party_of_an_ended_call_is_not_latched_by_the_next_call_on_its_ports() {
    let first = port_block(1);
    let rig = start_rig(first);
    // Call 1 on the fresh pairs; its parties keep sending after it ended.
    let (mut stray_a, mut stray_b) = (RtpSink::bind(), RtpSink::bind());
    call_with_sinks(&rig, first, &mut stray_a, &mut stray_b, 2_000);
    let ended = Instant::now();
    for (who, sink) in [("A", &stray_a), ("B", &stray_b)] {
        assert!(
            sink.packets().len() >= 20,
            "call 1's {who} heard only {} packets",
            sink.packets().len()
        );
    }
    // Past the pairs' rest (1 s): the strays are the first sources on call 2's ports.
    std::thread::sleep(Duration::from_millis(1_500));
    // Call 2 on the same two pairs: A is SIPp playing speech from its own media port, B the test's socket,
    // which answers once A's audio reaches it (from B's relay port).
    let mut sink_b = RtpSink::bind();
    let b_side = answer_into(&rig, &sink_b);
    let a_side = rig
        .uac("uac_media_pcap")
        .arg("-mp")
        .arg(media_port().to_string())
        .pause_ms(6_000)
        .timeout_secs(60)
        .inject(&[&[A, X]])
        .spawn();
    let relay_b = sink_b
        .first_sender(Duration::from_secs(5))
        .expect("A's speech reached B's socket");
    sink_b.keep_sending(relay_b);
    a_side.finish_ok(Duration::from_secs(6) + SETTLE);
    b_side.finish_ok(SETTLE);
    // What reached the strays after call 1 ended (a margin for packets in flight at its end).
    let margin = ended + Duration::from_millis(300);
    for (who, sink) in [("A", &stray_a), ("B", &stray_b)] {
        let late: Vec<_> = sink.packets().into_iter().filter(|p| p.at > margin).collect();
        assert!(
            late.is_empty(),
            "call 1's {who} heard {} packets of call 2 (SSRCs {:?})",
            late.len(),
            ssrcs(&late)
        );
    }
    // Call 2's B heard A's speech, one stream, none of the strays'.
    let got = sink_b.packets();
    assert!(got.len() >= 100, "call 2's B heard only {} packets", got.len());
    let heard = ssrcs(&got);
    let strays = ssrcs(&stray_a.packets())
        .union(&ssrcs(&stray_b.packets()))
        .copied()
        .collect::<BTreeSet<_>>();
    assert_eq!(heard.len(), 1, "call 2's B heard several streams: {heard:?}");
    assert!(
        heard.is_disjoint(&strays),
        "call 2's B heard a stray: {heard:?} ∩ {strays:?}"
    );
}

/// A's SDP names 127.0.0.3 (its "private address"); its packets come from the test's socket on 127.0.0.1 (the
/// NAT's public side). Returns how many packets A's socket and B's socket heard.
fn call_from_behind_nat(latch_sources: Option<&str>) -> (usize, usize) {
    let first = port_block(0);
    let extra: Vec<(&str, &str)> = latch_sources
        .map(|v| ("PNSWITCH__MEDIA__LATCH_SOURCES", v))
        .into_iter()
        .collect();
    let rig = start_rig_with(first, &extra);
    let (mut sink_a, mut sink_b) = (RtpSink::bind(), RtpSink::bind());
    let b_side = answer_into(&rig, &sink_b);
    let private = "127.0.0.3".to_owned();
    let a_side = rig
        .uac("uac_media_addr")
        .inject(&[&[A.to_owned(), X.to_owned(), sink_a.port().to_string(), private]])
        .pause_ms(3_000)
        .timeout_secs(60)
        .spawn();
    std::thread::sleep(Duration::from_secs(1));
    sink_a.keep_sending(relay(first));
    sink_b.keep_sending(relay(first + 2));
    a_side.finish_ok(Duration::from_secs(3) + SETTLE);
    b_side.finish_ok(SETTLE);
    (sink_a.packets().len(), sink_b.packets().len())
}

#[test]
fn a_party_behind_nat_is_refused_by_default_and_latched_with_any_source() {
    let _block = BLOCK0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let (a_heard, b_heard) = call_from_behind_nat(None);
    assert_eq!(
        (a_heard, b_heard),
        (0, 0),
        "by default A's packets from another host than its SDP names are refused, and B's audio goes to A's SDP address"
    );
    let (a_heard, b_heard) = call_from_behind_nat(Some("any"));
    assert!(
        a_heard >= 50 && b_heard >= 50,
        "with media.latch_sources = any, A is latched at its public address: A heard {a_heard}, B heard {b_heard}"
    );
}
