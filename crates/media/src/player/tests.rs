use super::*;
use crate::RtpPacket;

/// The origin of the virtual clock. `Instant` has no constructor, so one reading of the real
/// clock is taken; afterwards time moves only by adding durations to it.
#[allow(clippy::disallowed_methods)]
fn epoch() -> Instant {
    Instant::now()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// 400 samples: 2.5 frames, every byte value distinct from silence in both laws.
fn ramp(len: usize) -> Arc<[u8]> {
    (0..len).map(|i| (i % 200) as u8 + 1).collect()
}

fn player(audio: Arc<[u8]>, law: G711Law, pt: u8, loops: u32, now: Instant) -> PromptPlayer {
    PromptPlayer::new(now, audio, law, pt, 0xCAFE_F00D, 100, 8000, loops).unwrap()
}

/// Every packet due at `now`.
fn drain(p: &mut PromptPlayer, now: Instant) -> Vec<Vec<u8>> {
    let mut packets = Vec::new();
    let mut out = Vec::new();
    while p.poll_packet(now, &mut out) {
        packets.push(out.clone());
    }
    packets
}

/// Plays the whole prompt in real time (one poll per frame at its due time).
fn play_all(p: &mut PromptPlayer) -> Vec<Vec<u8>> {
    let mut packets = Vec::new();
    while let Some(due) = p.poll_timeout() {
        let got = drain(p, due);
        assert_eq!(got.len(), 1, "exactly one frame per due time");
        packets.extend(got);
    }
    packets
}

fn payloads(packets: &[Vec<u8>]) -> Vec<u8> {
    packets
        .iter()
        .flat_map(|p| RtpPacket::parse(p).unwrap().payload().to_vec())
        .collect()
}

#[test]
fn rejects_bad_parameters() {
    let now = epoch();
    for pt in [3, 9, 18, 96, 101, 127] {
        assert_eq!(
            PromptPlayer::new(now, ramp(10), G711Law::ALaw, pt, 1, 1, 1, 1).unwrap_err(),
            MediaError::UnsupportedPayloadType(pt)
        );
    }
    assert!(matches!(
        PromptPlayer::new(now, ramp(10), G711Law::ALaw, 8, 1, 1, 1, 0),
        Err(MediaError::BadPlayback(_))
    ));
    assert!(matches!(
        PromptPlayer::new(now, Arc::from(Vec::new()), G711Law::ALaw, 8, 1, 1, 1, 1),
        Err(MediaError::BadPlayback(_))
    ));
}

#[test]
fn same_law_exact_bytes_and_padding() {
    for law in [G711Law::ALaw, G711Law::MuLaw] {
        let now = epoch();
        let audio = ramp(400);
        let mut p = player(audio.clone(), law, law.payload_type(), 1, now);
        let packets = play_all(&mut p);
        assert_eq!(packets.len(), 3, "400 samples are 3 frames");
        for (i, bytes) in packets.iter().enumerate() {
            assert_eq!(bytes.len(), 12 + 160);
            let rtp = RtpPacket::parse(bytes).unwrap();
            assert_eq!(rtp.payload_type, law.payload_type());
            assert_eq!(rtp.ssrc, 0xCAFE_F00D);
            assert_eq!(rtp.sequence, 100 + i as u16);
            assert_eq!(rtp.timestamp, 8000 + 160 * i as u32);
            assert_eq!(rtp.marker, i == 0);
        }
        let all = payloads(&packets);
        assert_eq!(&all[..400], &audio[..]);
        assert!(all[400..].iter().all(|&b| b == law.silence()), "{law:?} pad");
        // Exact wire bytes of the first packet.
        let mut expected = vec![0x80, 0x80 | law.payload_type(), 0, 100, 0, 0, 0x1F, 0x40];
        expected.extend_from_slice(&0xCAFE_F00Du32.to_be_bytes());
        expected.extend_from_slice(&audio[..160]);
        assert_eq!(packets[0], expected);
        assert!(p.is_finished());
        assert_eq!(p.poll_timeout(), None);
        assert_eq!(p.position(), (103, 8480));
    }
}

#[test]
fn transcodes_when_the_law_differs() {
    for (from, to) in [(G711Law::ALaw, G711Law::MuLaw), (G711Law::MuLaw, G711Law::ALaw)] {
        let audio = ramp(170);
        let mut p = player(audio.clone(), from, to.payload_type(), 1, epoch());
        let packets = play_all(&mut p);
        assert_eq!(packets.len(), 2);
        let all = payloads(&packets);
        let expected: Vec<u8> = audio.iter().map(|&b| to.encode(from.decode(b))).collect();
        assert_eq!(&all[..170], &expected[..]);
        assert!(
            all[170..].iter().all(|&b| b == to.silence()),
            "pad in the leg's law"
        );
        assert_eq!(
            RtpPacket::parse(&packets[1]).unwrap().payload_type,
            to.payload_type()
        );
    }
    // Silence transcodes to (near) silence.
    assert_eq!(
        G711Law::MuLaw.encode(G711Law::ALaw.decode(G711Law::ALaw.silence())),
        0xFE
    );
}

#[test]
fn exact_frame_multiple_has_no_padding_frame() {
    let mut p = player(ramp(320), G711Law::ALaw, 8, 1, epoch());
    assert_eq!(play_all(&mut p).len(), 2);
}

#[test]
fn pacing_follows_the_callers_clock() {
    let t0 = epoch();
    let mut p = player(ramp(160 * 4), G711Law::ALaw, 8, 1, t0);
    assert_eq!(p.poll_timeout(), Some(t0));
    assert_eq!(drain(&mut p, t0).len(), 1);
    assert_eq!(p.poll_timeout(), Some(t0 + ms(20)));
    // Nothing before it is due, and `out` is left alone.
    let mut out = vec![0xEE; 3];
    assert!(!p.poll_packet(t0 + ms(19), &mut out));
    assert_eq!(out, vec![0xEE; 3]);
    // A little late: the frame goes, and the next deadline stays on the 20 ms grid (no drift).
    assert_eq!(drain(&mut p, t0 + ms(27)).len(), 1);
    assert_eq!(p.poll_timeout(), Some(t0 + ms(40)));
    // Two frames overdue: both, back to back, in order.
    let two = drain(&mut p, t0 + ms(61));
    let seqs: Vec<u16> = two
        .iter()
        .map(|b| RtpPacket::parse(b).unwrap().sequence)
        .collect();
    assert_eq!(seqs, vec![102, 103]);
    assert!(p.is_finished());
    assert_eq!(drain(&mut p, t0 + ms(1000)).len(), 0);
}

#[test]
fn poll_before_start_sends_nothing() {
    let t0 = epoch();
    let later = t0 + ms(500);
    let mut p = player(ramp(160), G711Law::ALaw, 8, 1, later);
    let mut out = Vec::new();
    assert!(!p.poll_packet(t0, &mut out));
    assert!(out.is_empty());
    assert_eq!(p.poll_timeout(), Some(later));
}

#[test]
fn catch_up_is_capped_at_five_frames() {
    let t0 = epoch();
    let audio = ramp(160 * 20);
    let mut p = player(audio.clone(), G711Law::ALaw, 8, 1, t0);
    assert_eq!(drain(&mut p, t0).len(), 1); // frame 0
    // Woke at 200 ms: frames 1..=10 are due; 1..=5 are skipped, 6..=10 sent.
    let got = drain(&mut p, t0 + ms(200));
    assert_eq!(got.len(), 5);
    for (i, bytes) in got.iter().enumerate() {
        let rtp = RtpPacket::parse(bytes).unwrap();
        let frame = 6 + i;
        assert_eq!(rtp.sequence, 100 + frame as u16, "seq skips the dropped frames");
        assert_eq!(rtp.timestamp, 8000 + 160 * frame as u32, "ts keeps the timeline");
        assert_eq!(rtp.payload(), &audio[frame * 160..(frame + 1) * 160]);
        assert!(!rtp.marker);
    }
    assert_eq!(p.poll_timeout(), Some(t0 + ms(220)));
    // Far past the end: only the last five frames go.
    let got = drain(&mut p, t0 + ms(10_000));
    assert_eq!(got.len(), 5);
    let last = RtpPacket::parse(got.last().unwrap()).unwrap();
    assert_eq!(last.sequence, 119);
    assert_eq!(last.payload(), &audio[19 * 160..]);
    assert!(p.is_finished());
    assert_eq!(p.position(), (120, 8000 + 160 * 20));
}

#[test]
fn first_sent_packet_has_the_marker_even_after_a_skip() {
    let t0 = epoch();
    let mut p = player(ramp(160 * 10), G711Law::ALaw, 8, 1, t0);
    let got = drain(&mut p, t0 + ms(100)); // frames 0..=5 due, frame 0 skipped
    assert_eq!(got.len(), 5);
    let markers: Vec<bool> = got.iter().map(|b| RtpPacket::parse(b).unwrap().marker).collect();
    assert_eq!(markers, vec![true, false, false, false, false]);
    assert_eq!(RtpPacket::parse(&got[0]).unwrap().sequence, 101);
}

#[test]
fn loops_play_back_to_back() {
    let audio = ramp(100);
    let mut p = player(audio.clone(), G711Law::ALaw, 8, 3, epoch());
    let packets = play_all(&mut p);
    assert_eq!(packets.len(), 2, "300 samples are 2 frames");
    let all = payloads(&packets);
    let mut expected: Vec<u8> = audio.iter().chain(&*audio).chain(&*audio).copied().collect();
    expected.resize(320, G711Law::ALaw.silence());
    assert_eq!(all, expected);
    let markers: Vec<bool> = packets
        .iter()
        .map(|b| RtpPacket::parse(b).unwrap().marker)
        .collect();
    assert_eq!(markers, vec![true, false], "one marker per stream, not per loop");
}

#[test]
fn sequence_and_timestamp_wrap() {
    let t0 = epoch();
    let mut p = PromptPlayer::new(
        t0,
        ramp(480),
        G711Law::ALaw,
        8,
        7,
        u16::MAX - 1,
        u32::MAX - 200,
        1,
    )
    .unwrap();
    let packets = play_all(&mut p);
    let heads: Vec<(u16, u32)> = packets
        .iter()
        .map(|b| {
            let r = RtpPacket::parse(b).unwrap();
            (r.sequence, r.timestamp)
        })
        .collect();
    assert_eq!(
        heads,
        vec![
            (u16::MAX - 1, u32::MAX - 200),
            (u16::MAX, (u32::MAX - 200).wrapping_add(160)),
            (0, (u32::MAX - 200).wrapping_add(320)),
        ]
    );
    assert_eq!(p.position(), (1, (u32::MAX - 200).wrapping_add(480)));
    // A skip across the wrap advances the same way.
    let mut p = PromptPlayer::new(t0, ramp(160 * 10), G711Law::ALaw, 8, 7, u16::MAX, u32::MAX, 1).unwrap();
    let got = drain(&mut p, t0 + ms(180)); // frames 0..=9 due: 0..=4 skipped
    let first = RtpPacket::parse(&got[0]).unwrap();
    assert_eq!(
        (first.sequence, first.timestamp),
        (4, u32::MAX.wrapping_add(5 * 160))
    );
}

#[test]
fn a_following_player_continues_the_stream() {
    let t0 = epoch();
    let mut first = player(ramp(200), G711Law::ALaw, 8, 1, t0);
    play_all(&mut first);
    let (seq, ts) = first.position();
    let mut second =
        PromptPlayer::new(t0 + ms(40), ramp(160), G711Law::MuLaw, 8, 0xCAFE_F00D, seq, ts, 1).unwrap();
    let got = play_all(&mut second);
    let r = RtpPacket::parse(&got[0]).unwrap();
    assert_eq!((r.sequence, r.timestamp), (102, 8320));
}
