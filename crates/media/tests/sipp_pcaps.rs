//! Real captures shipped with SIPp (Debian `sip-tester`, read from `/usr/share/sip-tester/` or `$PN_SIPP_PCAP_DIR`;
//! they are GPL-2+ data, so they are not copied into this Apache-2.0 repository, and the test command installs
//! sip-tester — a missing file fails the test):
//! RFC 4733 key presses (`dtmf_2833_1.pcap`, `dtmf_2833_pound.pcap`) through [`DigitDetector`], and 7 s of PCMA
//! speech (`g711a.pcap`) through [`Recorder`].
//!
//! The captures are classic libpcap files; the tiny reader below understands Ethernet (with 802.1Q tags) and
//! Linux cooked (SLL) link layers carrying IPv4/UDP, which is all these files hold.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use pn_media::{DigitDetector, G711Law, Leg, RecordChunk, Recorder, RecorderConfig, RtpPacket};

/// A capture shipped with sip-tester (the test fails loudly when it is missing).
fn capture(name: &str) -> Vec<u8> {
    let dir = std::env::var("PN_SIPP_PCAP_DIR").unwrap_or_else(|_| "/usr/share/sip-tester".to_owned());
    let path = std::path::Path::new(&dir).join(name);
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} — install Debian's sip-tester (tests/run-all.sh does) or set PN_SIPP_PCAP_DIR",
            path.display()
        )
    })
}

/// The telephone-event payload type both DTMF captures use (SIPp's `a=rtpmap:101 telephone-event/8000`).
const TELEPHONE_EVENT_PT: u8 = 101;

/// One UDP datagram of a capture: its time relative to the first packet, and its payload.
struct Datagram {
    at: Duration,
    payload: Vec<u8>,
}

fn u16_be(b: &[u8], at: usize) -> usize {
    usize::from(u16::from_be_bytes([b[at], b[at + 1]]))
}

/// Every IPv4/UDP datagram of a classic libpcap file, in file order.
fn udp_datagrams(file: &[u8]) -> Vec<Datagram> {
    assert!(file.len() >= 24, "pcap global header");
    let magic: [u8; 4] = file[..4].try_into().unwrap();
    let (little, nanos) = match magic {
        [0xD4, 0xC3, 0xB2, 0xA1] => (true, false),
        [0xA1, 0xB2, 0xC3, 0xD4] => (false, false),
        [0x4D, 0x3C, 0xB2, 0xA1] => (true, true),
        [0xA1, 0xB2, 0x3C, 0x4D] => (false, true),
        other => panic!("not a classic pcap file: magic {other:02x?}"),
    };
    let u32_at = |at: usize| {
        let b: [u8; 4] = file[at..at + 4].try_into().unwrap();
        if little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        }
    };
    let link_type = u32_at(20);
    let mut out = Vec::new();
    let mut first: Option<Duration> = None;
    let mut pos = 24;
    while pos < file.len() {
        assert!(pos + 16 <= file.len(), "truncated record header at {pos}");
        let secs = u64::from(u32_at(pos));
        let frac = u64::from(u32_at(pos + 4));
        let incl = u32_at(pos + 8) as usize;
        let frame = &file[pos + 16..pos + 16 + incl];
        pos += 16 + incl;
        let stamp = Duration::from_secs(secs)
            + if nanos {
                Duration::from_nanos(frac)
            } else {
                Duration::from_micros(frac)
            };
        let Some(payload) = udp_payload(link_type, frame) else {
            continue;
        };
        let first = *first.get_or_insert(stamp);
        out.push(Datagram {
            at: stamp.saturating_sub(first),
            payload: payload.to_vec(),
        });
    }
    out
}

/// The UDP payload of one link-layer frame, if it is IPv4/UDP (unfragmented).
fn udp_payload(link_type: u32, frame: &[u8]) -> Option<&[u8]> {
    let (mut ethertype, mut ip_at) = match link_type {
        1 => (u16_be(frame, 12), 14),   // Ethernet II
        113 => (u16_be(frame, 14), 16), // Linux cooked capture (SLL)
        other => panic!("unsupported link type {other}"),
    };
    while ethertype == 0x8100 {
        // 802.1Q VLAN tag: the real type follows the 4-byte tag.
        ethertype = u16_be(frame, ip_at + 2);
        ip_at += 4;
    }
    if ethertype != 0x0800 {
        return None;
    }
    let ip = &frame[ip_at..];
    assert_eq!(ip[0] >> 4, 4, "IPv4");
    let header_len = usize::from(ip[0] & 0x0f) * 4;
    let total_len = u16_be(ip, 2);
    let fragment = u16_be(ip, 6) & 0x3fff;
    if ip[9] != 17 || fragment != 0 {
        return None;
    }
    let udp = &ip[header_len..total_len];
    let udp_len = u16_be(udp, 4);
    Some(&udp[8..udp_len])
}

fn rtp_packets(file: &[u8]) -> Vec<(Duration, Vec<u8>)> {
    udp_datagrams(file)
        .into_iter()
        .filter(|d| RtpPacket::parse(&d.payload).is_ok())
        .map(|d| (d.at, d.payload))
        .collect()
}

fn digits_in(file: &[u8], pt: Option<u8>) -> String {
    let packets = rtp_packets(file);
    assert!(!packets.is_empty());
    let mut det = DigitDetector::new(pt, false);
    packets
        .iter()
        .filter_map(|(_, bytes)| det.handle_rtp(&RtpPacket::parse(bytes).unwrap()))
        .map(pn_media::DtmfDigit::as_char)
        .collect()
}

#[test]
fn dtmf_captures_are_what_the_test_assumes() {
    for file in [&capture("dtmf_2833_1.pcap"), &capture("dtmf_2833_pound.pcap")] {
        let packets = rtp_packets(file);
        // SIPp's capture: start (marker), six updates, the end packet three times; one SSRC, one timestamp.
        assert_eq!(packets.len(), 10);
        let parsed: Vec<RtpPacket<'_>> = packets
            .iter()
            .map(|(_, b)| RtpPacket::parse(b).unwrap())
            .collect();
        assert!(parsed.iter().all(|p| p.payload_type == TELEPHONE_EVENT_PT));
        assert!(
            parsed
                .iter()
                .all(|p| p.timestamp == parsed[0].timestamp && p.ssrc == parsed[0].ssrc)
        );
        assert!(parsed[0].marker);
        assert_eq!(
            parsed.iter().filter(|p| p.payload()[1] & 0x80 != 0).count(),
            3,
            "three end packets"
        );
    }
}

#[test]
fn dtmf_2833_1_is_one_digit_1() {
    assert_eq!(
        digits_in(&capture("dtmf_2833_1.pcap"), Some(TELEPHONE_EVENT_PT)),
        "1"
    );
}

#[test]
fn dtmf_2833_pound_is_one_pound() {
    assert_eq!(
        digits_in(&capture("dtmf_2833_pound.pcap"), Some(TELEPHONE_EVENT_PT)),
        "#"
    );
}

#[test]
fn dtmf_captures_need_the_negotiated_pt() {
    assert_eq!(digits_in(&capture("dtmf_2833_1.pcap"), None), "");
    assert_eq!(digits_in(&capture("dtmf_2833_1.pcap"), Some(96)), "");
}

/// The origin of the virtual clock. `Instant` has no constructor, so one reading of the real
/// clock is taken; afterwards time moves only by adding durations to it.
#[allow(clippy::disallowed_methods)]
fn epoch() -> Instant {
    Instant::now()
}

#[test]
fn g711a_capture_records_whole() {
    let packets = rtp_packets(&capture("g711a.pcap"));
    assert_eq!(packets.len(), 236);
    let t0 = epoch();
    let mut rec = Recorder::new(
        t0,
        RecorderConfig {
            per_party: true,
            ..RecorderConfig::default()
        },
    );
    let mut out = RecordChunk::default();
    let tick = Duration::from_millis(100);
    let mut next_tick = tick;
    let mut sent = Vec::new();
    for (at, bytes) in &packets {
        // The runtime's periodic take_ready, interleaved with arrivals in capture time.
        while next_tick <= *at {
            rec.take_ready(t0 + next_tick, &mut out);
            next_tick += tick;
        }
        let rtp = RtpPacket::parse(bytes).unwrap();
        assert_eq!(rtp.payload_type, 8, "PCMA");
        sent.extend_from_slice(rtp.payload());
        rec.handle_rtp(t0 + *at, Leg::A, &rtp);
    }
    let (last_at, last) = packets.last().unwrap();
    rec.finish(t0 + *last_at, &mut out);

    // The capture's length: first arrival to the end of the last packet's audio (30 ms packets here).
    let last_len = RtpPacket::parse(last).unwrap().payload().len() as u64;
    let capture = *last_at + Duration::from_micros(last_len * 125);
    let diff = rec.duration().abs_diff(capture);
    assert!(
        diff <= Duration::from_millis(100),
        "recorded {:?}, captured {capture:?}",
        rec.duration()
    );

    // Non-silent: the speech is there, loud enough.
    let loud = out
        .mix
        .iter()
        .filter(|&&b| G711Law::ALaw.decode(b).unsigned_abs() > 1000)
        .count();
    assert!(
        loud > out.mix.len() / 10,
        "{loud} loud samples of {}",
        out.mix.len()
    );
    // In fact the single party's A-law passes through bit-exact, in timestamp order, with nothing lost.
    assert_eq!(out.mix.len(), sent.len());
    assert!(out.mix == sent, "mix differs from the captured payloads");
    assert!(out.a == sent);
    assert!(out.b.iter().all(|&b| b == 0xD5), "party B said nothing");
}
