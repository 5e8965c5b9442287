//! Micro-benchmarks of the media core: relay decisions per packet, RTP parsing, and in-band DTMF per frame.
//! A bench reads the real clock once as its epoch, and a setup failure may abort it.
#![allow(missing_docs, clippy::disallowed_methods, clippy::expect_used)]

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pn_media::{
    Channel, G711Law, InbandConfig, InbandDetector, Leg, PortAllocator, RelayConfig, RelayOutcome,
    RelaySession, RemoteMedia, RtpHeader, RtpPacket,
};

fn pcma_packet(seq: u16) -> Vec<u8> {
    let mut out = Vec::new();
    let header = RtpHeader {
        marker: false,
        payload_type: 8,
        sequence: seq,
        timestamp: u32::from(seq) * 160,
        ssrc: 7,
    };
    header.write(&[0xD5; 160], &mut out);
    out
}

fn relay(c: &mut Criterion) {
    let calls = 1000;
    let now = Instant::now();
    let mut ports = PortAllocator::new(20_000, 29_999).expect("range");
    let mut sessions: Vec<RelaySession> = (0..calls)
        .map(|i| {
            let a = ports.allocate(now).expect("port");
            let b = ports.allocate(now).expect("port");
            let mut s = RelaySession::new(now, RelayConfig::default(), a, b);
            let host = |n: u16| SocketAddr::from(([10, 0, (i / 250) as u8, (i % 250) as u8], n));
            s.set_remote(Leg::A, RemoteMedia::from_sdp(host(4000)));
            s.set_remote(Leg::B, RemoteMedia::from_sdp(host(5000)));
            s
        })
        .collect();
    let packet = pcma_packet(1);
    let from_a = SocketAddr::from(([10, 0, 0, 1], 4000));
    let mut group = c.benchmark_group("relay");
    group.throughput(Throughput::Elements(calls as u64));
    group.bench_function("handle_packet_1000_calls", |bench| {
        let mut t = now;
        bench.iter(|| {
            t += Duration::from_millis(20);
            let mut sent = 0usize;
            for s in &mut sessions {
                if let RelayOutcome::Forward(f) =
                    s.handle_packet(t, Leg::A, Channel::Rtp, from_a, black_box(&packet))
                {
                    sent += f.bytes.len();
                }
            }
            sent
        });
    });
    group.finish();
}

fn parse(c: &mut Criterion) {
    let packet = pcma_packet(9);
    c.bench_function("rtp_parse", |bench| {
        bench.iter(|| RtpPacket::parse(black_box(&packet)).map(|p| p.sequence));
    });
}

fn inband(c: &mut Criterion) {
    let frame: Vec<u8> = (0..160)
        .map(|i| G711Law::ALaw.encode(((f32::from(i as u8) * 0.7).sin() * 8000.0) as i16))
        .collect();
    let mut det = InbandDetector::new(InbandConfig::default());
    c.bench_function("inband_dtmf_20ms_frame", |bench| {
        bench.iter(|| {
            det.handle_g711(G711Law::ALaw, black_box(&frame));
            det.poll_digit()
        });
    });
}

criterion_group!(benches, relay, parse, inband);
criterion_main!(benches);
