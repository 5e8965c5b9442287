use super::*;
use crate::RtpHeader;

/// The origin of the virtual clock. `Instant` has no constructor, so one reading of the real
/// clock is taken; afterwards time moves only by adding durations to it.
#[allow(clippy::disallowed_methods)]
fn epoch() -> Instant {
    Instant::now()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

const SIL: u8 = 0xD5;

fn per_party() -> RecorderConfig {
    RecorderConfig {
        per_party: true,
        ..RecorderConfig::default()
    }
}

fn packet(pt: u8, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    RtpHeader {
        marker: false,
        payload_type: pt,
        sequence: (ts / 160) as u16,
        timestamp: ts,
        ssrc,
    }
    .write(payload, &mut out);
    out
}

fn feed(rec: &mut Recorder, now: Instant, leg: Leg, bytes: &[u8]) {
    rec.handle_rtp(now, leg, &RtpPacket::parse(bytes).unwrap());
}

/// `n` A-law bytes of a sine at `hz` with peak `amp`, starting at sample `from` of the tone.
fn tone(hz: f32, amp: f32, from: usize, n: usize) -> Vec<u8> {
    (from..from + n)
        .map(|i| {
            let v = amp * (2.0 * std::f32::consts::PI * hz * i as f32 / 8000.0).sin();
            G711Law::ALaw.encode(v as i16)
        })
        .collect()
}

/// A recognisable A-law pattern: every byte value except the silence code, shifted by `seed`.
fn pattern(seed: usize, n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| match ((i * 7 + seed) % 256) as u8 {
            SIL => 0x01,
            b => b,
        })
        .collect()
}

fn mix_of(a: u8, b: u8) -> u8 {
    let law = G711Law::ALaw;
    law.encode(law.decode(a).saturating_add(law.decode(b)))
}

fn silent(bytes: &[u8]) -> bool {
    bytes.iter().all(|&b| b == SIL)
}

#[test]
fn defaults() {
    let c = RecorderConfig::default();
    assert!(!c.per_party);
    assert_eq!(c.jitter, ms(200));
    assert_eq!(c.max_duration, Duration::from_secs(14_400));
}

#[test]
fn two_parties_land_at_their_offsets() {
    let t0 = epoch();
    let mut rec = Recorder::new(t0, per_party());
    let a_audio = pattern(3, 800);
    let b_audio = tone(1000.0, 8000.0, 0, 800);
    // A from t0 (positions 0..800), B from t0+50 ms (positions 400..1200); 20 ms packets, interleaved in time.
    let mut events: Vec<(u64, Leg, Vec<u8>)> = Vec::new();
    for k in 0..5u32 {
        let i = k as usize * 160;
        events.push((
            u64::from(20 * k),
            Leg::A,
            packet(8, 1000 + 160 * k, 0xA, &a_audio[i..i + 160]),
        ));
        events.push((
            50 + u64::from(20 * k),
            Leg::B,
            packet(8, 5_000_000 + 160 * k, 0xB, &b_audio[i..i + 160]),
        ));
    }
    events.sort_by_key(|e| e.0);
    for (at, leg, bytes) in &events {
        feed(&mut rec, t0 + ms(*at), *leg, bytes);
    }
    let mut out = RecordChunk::default();
    rec.take_ready(t0 + ms(2000), &mut out);
    assert_eq!(out.mix.len(), 14_400, "up to now − 200 ms");
    assert_eq!((out.a.len(), out.b.len()), (14_400, 14_400));
    assert_eq!(rec.duration(), ms(1800));

    assert_eq!(&out.a[..800], &a_audio[..]);
    assert!(silent(&out.a[800..]));
    assert!(silent(&out.b[..400]));
    assert_eq!(&out.b[400..1200], &b_audio[..]);
    assert!(silent(&out.b[1200..]));

    assert_eq!(
        &out.mix[..400],
        &a_audio[..400],
        "A alone passes through unchanged"
    );
    let both: Vec<u8> = (400..800).map(|p| mix_of(a_audio[p], b_audio[p - 400])).collect();
    assert_eq!(&out.mix[400..800], &both[..]);
    assert_eq!(&out.mix[800..1200], &b_audio[400..]);
    assert!(silent(&out.mix[1200..]));
}

#[test]
fn mix_saturates() {
    let t0 = epoch();
    let mut rec = Recorder::new(t0, RecorderConfig::default());
    let loud = [0xAA; 160]; // +32256
    let quiet_neg = [0x2A; 160]; // −32256
    feed(&mut rec, t0, Leg::A, &packet(8, 0, 1, &loud));
    feed(&mut rec, t0, Leg::B, &packet(8, 0, 2, &loud));
    let mut out = RecordChunk::default();
    rec.take_ready(t0 + ms(220), &mut out);
    assert_eq!(
        &out.mix[..160],
        &[0xAA; 160][..],
        "clipped at full scale, not wrapped"
    );
    assert!(
        out.a.is_empty() && out.b.is_empty(),
        "no per-party channels unless asked"
    );

    let mut rec = Recorder::new(t0, RecorderConfig::default());
    feed(&mut rec, t0, Leg::A, &packet(8, 0, 1, &quiet_neg));
    feed(&mut rec, t0, Leg::B, &packet(8, 0, 2, &quiet_neg));
    out.clear();
    rec.take_ready(t0 + ms(220), &mut out);
    assert_eq!(&out.mix[..160], &[0x2A; 160][..]);
}

#[test]
fn late_and_reordered_packets_inside_the_window_land() {
    let t0 = epoch();
    let mut rec = Recorder::new(t0, per_party());
    let audio = pattern(11, 160 * 8);
    let frame = |k: usize| packet(8, 9000 + 160 * k as u32, 0xA, &audio[k * 160..(k + 1) * 160]);
    let mut out = RecordChunk::default();
    // Arrival order 1, 0, 3, 2, 4, 6, 7, then 5 — 150 ms late, after two take_ready calls.
    for (at, k) in [(20, 1), (21, 0), (60, 3), (61, 2), (80, 4), (120, 6), (140, 7)] {
        feed(&mut rec, t0 + ms(at), Leg::A, &frame(k));
    }
    rec.take_ready(t0 + ms(200), &mut out);
    rec.take_ready(t0 + ms(300), &mut out);
    assert_eq!(out.a.len(), 800, "flushed up to 100 ms");
    feed(&mut rec, t0 + ms(301), Leg::A, &frame(5)); // positions 800..960: still open
    rec.take_ready(t0 + ms(600), &mut out);
    assert_eq!(&out.a[..1280], &audio[..]);
    assert!(silent(&out.a[1280..]));
    assert_eq!(&out.mix[..1280], &audio[..]);
    assert!(silent(&out.b));
}

#[test]
fn packets_older_than_the_window_are_dropped() {
    let t0 = epoch();
    let mut rec = Recorder::new(t0, per_party());
    let audio = pattern(5, 160 * 10);
    let frame = |k: usize| packet(8, 160 * k as u32, 0xA, &audio[k * 160..(k + 1) * 160]);
    for k in [0, 1, 2, 4, 6, 7, 8, 9] {
        feed(&mut rec, t0 + ms(20 * k as u64), Leg::A, &frame(k));
    }
    let mut out = RecordChunk::default();
    rec.take_ready(t0 + ms(305), &mut out); // final up to 105 ms = position 840
    assert_eq!(out.a.len(), 840);
    feed(&mut rec, t0 + ms(306), Leg::A, &frame(3)); // 480..640: all final → dropped
    feed(&mut rec, t0 + ms(306), Leg::A, &frame(5)); // 800..960: straddles → 840..960 kept
    rec.finish(t0 + ms(400), &mut out);
    assert_eq!(out.a.len(), 3200);
    assert_eq!(&out.a[..480], &audio[..480]);
    assert!(
        silent(&out.a[480..640]),
        "the late packet did not rewrite history"
    );
    assert_eq!(&out.a[640..800], &audio[640..800]);
    assert!(silent(&out.a[800..840]));
    assert_eq!(&out.a[840..1600], &audio[840..1600]);
    assert!(silent(&out.a[1600..]));
}

#[test]
fn out_of_order_before_the_first_packet_lands_earlier() {
    let t0 = epoch();
    let mut rec = Recorder::new(t0, per_party());
    let audio = pattern(9, 320);
    feed(
        &mut rec,
        t0 + ms(40),
        Leg::B,
        &packet(0x08, 7160, 3, &audio[160..]),
    );
    feed(
        &mut rec,
        t0 + ms(41),
        Leg::B,
        &packet(0x08, 7000, 3, &audio[..160]),
    );
    let mut out = RecordChunk::default();
    rec.finish(t0 + ms(100), &mut out);
    assert!(silent(&out.b[..160]));
    assert_eq!(
        &out.b[160..480],
        &audio[..],
        "anchored at 320, the earlier packet goes to 160"
    );
    assert!(silent(&out.a));
}

#[test]
fn ssrc_change_reanchors() {
    let t0 = epoch();
    let mut rec = Recorder::new(t0, per_party());
    let one = pattern(1, 320);
    let two = pattern(2, 320);
    feed(&mut rec, t0, Leg::A, &packet(8, 1000, 1, &one[..160]));
    feed(&mut rec, t0 + ms(20), Leg::A, &packet(8, 1160, 1, &one[160..]));
    // A new source at 100 ms whose timestamps happen to continue the old ones: by timestamp it would sit at
    // 320, but a new SSRC is a new stream, anchored at its arrival (800).
    feed(&mut rec, t0 + ms(100), Leg::A, &packet(8, 1320, 2, &two[..160]));
    feed(&mut rec, t0 + ms(120), Leg::A, &packet(8, 1480, 2, &two[160..]));
    // And the old source coming back is re-anchored too (at 1600, not at its old timeline's 1920).
    feed(&mut rec, t0 + ms(200), Leg::A, &packet(8, 2920, 1, &one[..160]));
    let mut out = RecordChunk::default();
    rec.finish(t0 + ms(300), &mut out);
    assert_eq!(&out.a[..320], &one[..]);
    assert!(silent(&out.a[320..800]));
    assert_eq!(&out.a[800..1120], &two[..]);
    assert!(silent(&out.a[1120..1600]));
    assert_eq!(&out.a[1600..1760], &one[..160]);
    assert!(silent(&out.a[1760..]));
}

#[test]
fn timestamp_jump_reanchors_but_small_offsets_follow_the_timestamp() {
    let t0 = epoch();
    let mut rec = Recorder::new(t0, per_party());
    let p = pattern(4, 160);
    let q = pattern(8, 160);
    feed(&mut rec, t0, Leg::B, &packet(8, 50_000, 7, &p));
    // 20 s forward at 100 ms: re-anchored at 800; the next packet follows the new anchor.
    feed(
        &mut rec,
        t0 + ms(100),
        Leg::B,
        &packet(8, 50_000 + 160_000, 7, &q),
    );
    feed(
        &mut rec,
        t0 + ms(120),
        Leg::B,
        &packet(8, 50_160 + 160_000, 7, &p),
    );
    // Backwards by 10 s at 300 ms: re-anchored at 2400.
    let back = 50_000u32.wrapping_sub(80_000);
    feed(&mut rec, t0 + ms(300), Leg::B, &packet(8, back, 7, &q));
    // 0.9 s ahead of its arrival (500 ms → position 4000 + 7200): within 1 s, placed by timestamp.
    feed(
        &mut rec,
        t0 + ms(500),
        Leg::B,
        &packet(8, back.wrapping_add(1600 + 7200), 7, &p),
    );
    let mut out = RecordChunk::default();
    rec.finish(t0 + ms(600), &mut out);
    assert_eq!(out.b.len(), 11_360, "the last packet ends at 11 360, past `now`");
    assert_eq!(&out.b[..160], &p[..]);
    assert!(silent(&out.b[160..800]));
    assert_eq!(&out.b[800..960], &q[..]);
    assert_eq!(&out.b[960..1120], &p[..]);
    assert!(silent(&out.b[1120..2400]));
    assert_eq!(&out.b[2400..2560], &q[..]);
    assert!(silent(&out.b[2560..11_200]));
    assert_eq!(&out.b[11_200..], &p[..]);

    // 1.1 s ahead instead: re-anchored at its arrival.
    let mut rec = Recorder::new(t0, per_party());
    feed(&mut rec, t0, Leg::B, &packet(8, 0, 7, &p));
    feed(&mut rec, t0 + ms(500), Leg::B, &packet(8, 4000 + 8800, 7, &q));
    out.clear();
    rec.finish(t0 + ms(600), &mut out);
    assert_eq!(out.b.len(), 4800);
    assert_eq!(&out.b[4000..4160], &q[..]);
}

#[test]
fn timestamps_wrap() {
    let t0 = epoch();
    let mut rec = Recorder::new(t0, per_party());
    let audio = pattern(6, 480);
    for k in 0..3u32 {
        let i = k as usize * 160;
        let ts = (u32::MAX - 100).wrapping_add(160 * k);
        feed(
            &mut rec,
            t0 + ms(u64::from(20 * k)),
            Leg::A,
            &packet(8, ts, 1, &audio[i..i + 160]),
        );
    }
    let mut out = RecordChunk::default();
    rec.finish(t0 + ms(60), &mut out);
    assert_eq!(out.a, audio);
}

#[test]
fn only_g711_is_recorded() {
    let t0 = epoch();
    let mut rec = Recorder::new(t0, per_party());
    let payload = pattern(1, 160);
    for pt in [101, 13, 9, 18, 96, 3] {
        feed(&mut rec, t0, Leg::A, &packet(pt, 0, 1, &payload));
    }
    feed(&mut rec, t0, Leg::B, &packet(8, 0, 2, &[]));
    assert_eq!(rec.buffered_samples(), 0);
    let mut out = RecordChunk::default();
    rec.finish(t0 + ms(100), &mut out);
    assert_eq!(out.mix.len(), 800);
    assert!(silent(&out.mix) && silent(&out.a) && silent(&out.b));
}

#[test]
fn mulaw_input_is_transcoded() {
    let t0 = epoch();
    let mut rec = Recorder::new(t0, per_party());
    let mu: Vec<u8> = (0..160).map(|i| (i * 3 % 256) as u8).collect();
    feed(&mut rec, t0, Leg::B, &packet(0, 0, 1, &mu));
    let mut out = RecordChunk::default();
    rec.finish(t0, &mut out);
    let expected: Vec<u8> = mu
        .iter()
        .map(|&b| G711Law::ALaw.encode(G711Law::MuLaw.decode(b)))
        .collect();
    assert_eq!(out.b, expected);
    assert_eq!(out.mix, expected);
    assert!(silent(&out.a));
}

#[test]
fn nothing_beyond_max_duration() {
    let t0 = epoch();
    let config = RecorderConfig {
        max_duration: ms(100),
        ..per_party()
    };
    let mut rec = Recorder::new(t0, config);
    let audio = pattern(2, 160 * 10);
    for k in 0..10usize {
        let bytes = packet(8, 160 * k as u32, 1, &audio[k * 160..(k + 1) * 160]);
        feed(&mut rec, t0 + ms(20 * k as u64), Leg::A, &bytes);
    }
    assert!(rec.buffered_samples() <= 800, "nothing past the cap is buffered");
    let mut out = RecordChunk::default();
    rec.take_ready(t0 + ms(5000), &mut out);
    assert_eq!(out.mix.len(), 800);
    assert_eq!(out.a, &audio[..800]);
    assert_eq!(rec.duration(), ms(100));
    feed(
        &mut rec,
        t0 + ms(5000),
        Leg::A,
        &packet(8, 99_999, 2, &audio[..160]),
    );
    rec.finish(t0 + ms(6000), &mut out);
    assert_eq!(out.mix.len(), 800);
    assert_eq!(rec.duration(), ms(100));
}

#[test]
fn finish_flushes_everything_and_closes() {
    let t0 = epoch();
    let mut rec = Recorder::new(t0, per_party());
    let audio = pattern(7, 800);
    for k in 0..5usize {
        let bytes = packet(8, 160 * k as u32, 1, &audio[k * 160..(k + 1) * 160]);
        feed(&mut rec, t0 + ms(20 * k as u64), Leg::A, &bytes);
    }
    let mut out = RecordChunk::default();
    rec.take_ready(t0 + ms(90), &mut out);
    assert!(out.mix.is_empty(), "all still inside the jitter window");
    assert_eq!(rec.duration(), Duration::ZERO);
    // `now` is 90 ms, but the last packet runs to 100 ms: it is kept whole.
    rec.finish(t0 + ms(90), &mut out);
    assert_eq!(out.a, audio);
    assert_eq!(out.mix, audio);
    assert_eq!(rec.duration(), ms(100));
    assert_eq!(rec.buffered_samples(), 0);
    // Closed: later packets and calls change nothing.
    feed(&mut rec, t0 + ms(100), Leg::A, &packet(8, 800, 1, &audio[..160]));
    rec.take_ready(t0 + ms(1000), &mut out);
    rec.finish(t0 + ms(2000), &mut out);
    assert_eq!(out.mix.len(), 800);

    // A call that went quiet: finish pads with silence up to `now`.
    let mut rec = Recorder::new(t0, RecorderConfig::default());
    feed(&mut rec, t0, Leg::A, &packet(8, 0, 1, &audio[..160]));
    let mut out = RecordChunk::default();
    rec.finish(t0 + ms(2500), &mut out);
    assert_eq!(out.mix.len(), 20_000);
    assert_eq!(rec.duration(), ms(2500));
    assert!(silent(&out.mix[160..]));
}

#[test]
fn duration_counts_samples_handed_out() {
    let t0 = epoch();
    let mut rec = Recorder::new(t0, RecorderConfig::default());
    let mut out = RecordChunk::default();
    rec.take_ready(t0, &mut out);
    assert_eq!(rec.duration(), Duration::ZERO);
    rec.take_ready(t0 + ms(1200), &mut out);
    assert_eq!(rec.duration(), ms(1000));
    rec.take_ready(t0 + Duration::from_micros(1_200_999), &mut out);
    assert_eq!(out.mix.len(), 8007);
    assert_eq!(rec.duration(), Duration::from_micros(1_000_875));
    // A clock reading before `start` is position 0, not a panic.
    let mut rec = Recorder::new(t0 + ms(500), RecorderConfig::default());
    feed(&mut rec, t0, Leg::A, &packet(8, 0, 1, &pattern(0, 160)));
    rec.finish(t0, &mut out);
    assert_eq!(rec.duration(), ms(20));
}

#[test]
fn memory_stays_bounded_on_a_long_call() {
    let t0 = epoch();
    let mut rec = Recorder::new(t0, per_party());
    let frame = pattern(3, 160);
    let mut out = RecordChunk::default();
    let mut total = 0;
    for k in 0..3000u32 {
        // 60 s of 20 ms packets from both parties; take_ready every 100 ms.
        let now = t0 + ms(u64::from(k) * 20);
        feed(&mut rec, now, Leg::A, &packet(8, 160 * k, 1, &frame));
        feed(&mut rec, now + ms(7), Leg::B, &packet(0, 3 + 160 * k, 2, &frame));
        if k % 5 == 4 {
            rec.take_ready(now, &mut out);
            assert!(
                rec.buffered_samples() <= 1600 + 400,
                "window {}",
                rec.buffered_samples()
            );
            total += out.mix.len();
            out.clear();
        }
    }
    rec.finish(t0 + ms(60_000), &mut out);
    total += out.mix.len();
    assert_eq!(total, 480_056, "60 s plus B's last packet, which ends 7 ms late");
    assert_eq!(rec.duration(), ms(60_007));

    // A runtime that stops calling take_ready: the window still never exceeds jitter + 3 s.
    let mut rec = Recorder::new(t0, RecorderConfig::default());
    for k in 0..1000u32 {
        feed(
            &mut rec,
            t0 + ms(u64::from(k) * 20),
            Leg::A,
            &packet(8, 160 * k, 1, &frame),
        );
    }
    assert_eq!(rec.buffered_samples(), 1600 + 24_000);
}

#[test]
fn never_panics_on_hostile_streams() {
    let t0 = epoch();
    let mut state = 0x1234_5678u32;
    let mut rand = move || {
        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        state
    };
    for config in [
        RecorderConfig::default(),
        RecorderConfig {
            per_party: true,
            jitter: Duration::ZERO,
            max_duration: ms(300),
        },
    ] {
        let mut rec = Recorder::new(t0 + ms(50), config);
        let mut out = RecordChunk::default();
        for i in 0..5000u64 {
            let ts = match rand() % 4 {
                0 => rand(),
                1 => u32::MAX - rand() % 500,
                _ => (i as u32) * 160,
            };
            let ssrc = rand() % 3;
            let len = (rand() % 1400) as usize;
            let pt = [0, 8, 8, 101, 13][(rand() % 5) as usize];
            let leg = if rand() % 2 == 0 { Leg::A } else { Leg::B };
            let now = t0 + ms(i * 7 + u64::from(rand() % 50));
            feed(
                &mut rec,
                now,
                leg,
                &packet(pt, ts, ssrc, &vec![rand() as u8; len]),
            );
            if i % 13 == 0 {
                rec.take_ready(now, &mut out);
                out.clear();
            }
            assert!(rec.buffered_samples() as u64 <= samples_in(config.jitter) + SLACK);
        }
        rec.finish(t0 + ms(40_000), &mut out);
        assert!(rec.duration() <= config.max_duration);
    }
}
