use super::*;

/// Deterministic noise source (LCG), uniform in ±`amp`.
struct Noise(u32);

impl Noise {
    fn next(&mut self, amp: f32) -> f32 {
        self.0 = self.0.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        ((self.0 >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0) * amp
    }
}

fn amplitude(dbm0: f32) -> f32 {
    22_706.0 * 10f32.powf(dbm0 / 20.0)
}

/// Appends `ms` of the sum of sines at `tones` (Hz, dBm0), plus uniform noise of `noise` peak amplitude.
fn tone(out: &mut Vec<f32>, tones: &[(f32, f32)], ms: usize, noise: &mut Noise, noise_amp: f32) {
    let start = out.len();
    for n in 0..ms * 8 {
        let t = (start + n) as f32 / 8000.0;
        let v: f32 = tones
            .iter()
            .map(|&(f, db)| amplitude(db) * (2.0 * std::f32::consts::PI * f * t).sin())
            .sum();
        out.push(v + noise.next(noise_amp));
    }
}

fn key(c: char, db: f32) -> Vec<(f32, f32)> {
    let (r, col) = DtmfDigit::from_char(c).unwrap().frequencies();
    vec![(r, db), (col, db)]
}

fn to_pcm(signal: &[f32]) -> Vec<i16> {
    signal
        .iter()
        .map(|&v| v.clamp(-32768.0, 32767.0) as i16)
        .collect()
}

/// Encodes with `law` and feeds 20 ms RTP-sized frames; returns the detected keys.
fn detect(law: G711Law, signal: &[f32], config: InbandConfig) -> String {
    let mut bytes = Vec::new();
    law.encode_into(&to_pcm(signal), &mut bytes);
    let mut det = InbandDetector::new(config);
    let mut found = String::new();
    for frame in bytes.chunks(160) {
        det.handle_g711(law, frame);
        while let Some(d) = det.poll_digit() {
            found.push(d.as_char());
        }
    }
    found
}

fn dial(keys: &str, tone_ms: usize, gap_ms: usize, db: f32, noise_amp: f32, lead_ms: usize) -> Vec<f32> {
    let mut noise = Noise(7);
    let mut s = Vec::new();
    tone(&mut s, &[], lead_ms, &mut noise, noise_amp);
    for c in keys.chars() {
        tone(&mut s, &key(c, db), tone_ms, &mut noise, noise_amp);
        tone(&mut s, &[], gap_ms, &mut noise, noise_amp);
    }
    s
}

#[test]
fn detects_every_key_in_both_laws() {
    let all = "0123456789*#ABCD";
    let signal = dial(all, 70, 70, -10.0, 0.0, 13);
    assert_eq!(detect(G711Law::ALaw, &signal, InbandConfig::default()), all);
    assert_eq!(detect(G711Law::MuLaw, &signal, InbandConfig::default()), all);
}

#[test]
fn detects_through_noise_and_at_low_level() {
    // Tones at -10 dBm0 each with uniform noise about 20 dB below them.
    let signal = dial("8675309", 60, 60, -10.0, 1200.0, 5);
    assert_eq!(detect(G711Law::ALaw, &signal, InbandConfig::default()), "8675309");
    // Quiet but above the -30 dBm0 floor.
    let signal = dial("42", 80, 80, -25.0, 0.0, 0);
    assert_eq!(detect(G711Law::MuLaw, &signal, InbandConfig::default()), "42");
}

#[test]
fn reports_each_press_once() {
    // One long press, then the same key twice with a normal gap.
    let signal = dial("1", 1000, 100, -8.0, 0.0, 0);
    assert_eq!(detect(G711Law::ALaw, &signal, InbandConfig::default()), "1");
    let signal = dial("555", 80, 80, -8.0, 300.0, 37);
    assert_eq!(detect(G711Law::ALaw, &signal, InbandConfig::default()), "555");
}

#[test]
fn minimum_duration_is_honoured() {
    // Many alignments of the tone against the analysis windows (one hop is 51 samples, about 6.4 ms).
    for lead in 0..8 {
        for short_ms in [20, 25] {
            let short = dial("3", short_ms, 100, -8.0, 0.0, lead);
            assert_eq!(
                detect(G711Law::ALaw, &short, InbandConfig::default()),
                "",
                "{short_ms} ms at lead {lead}"
            );
        }
        let ok = dial("3", 40, 100, -8.0, 0.0, lead);
        assert_eq!(
            detect(G711Law::ALaw, &ok, InbandConfig::default()),
            "3",
            "40 ms at lead {lead}"
        );
    }
}

#[test]
fn twist_limits() {
    let mut noise = Noise(1);
    let (r, c) = DtmfDigit::from_char('9').unwrap().frequencies();
    let mut within = Vec::new();
    tone(&mut within, &[(r, -14.0), (c, -8.0)], 100, &mut noise, 0.0); // high group 6 dB up: normal twist
    assert_eq!(detect(G711Law::ALaw, &within, InbandConfig::default()), "9");
    let mut too_much = Vec::new();
    tone(&mut too_much, &[(r, -20.0), (c, -8.0)], 100, &mut noise, 0.0); // 12 dB
    assert_eq!(detect(G711Law::ALaw, &too_much, InbandConfig::default()), "");
    let mut reverse = Vec::new();
    tone(&mut reverse, &[(r, -8.0), (c, -15.0)], 100, &mut noise, 0.0); // low group 7 dB up
    assert_eq!(detect(G711Law::ALaw, &reverse, InbandConfig::default()), "");
}

/// (name, tones as (Hz, dBm0), noise peak amplitude).
type Case = (&'static str, Vec<(f32, f32)>, f32);

#[test]
fn non_dtmf_signals_do_not_trigger() {
    let mut noise = Noise(99);
    let cases: Vec<Case> = vec![
        ("silence", vec![], 0.0),
        ("loud white noise", vec![], 12_000.0),
        ("1 kHz test tone", vec![(1000.0, -5.0)], 0.0),
        ("dial tone 350+440", vec![(350.0, -10.0), (440.0, -10.0)], 0.0),
        ("ringback 440+480", vec![(440.0, -10.0), (480.0, -10.0)], 0.0),
        (
            "one DTMF row + 1100 Hz",
            vec![(697.0, -10.0), (1100.0, -10.0)],
            0.0,
        ),
        ("a single DTMF tone", vec![(852.0, -6.0)], 0.0),
        ("two rows", vec![(697.0, -10.0), (941.0, -10.0)], 0.0),
        ("too weak", key('5', -40.0), 0.0),
        ("key buried in noise", key('5', -20.0), 12_000.0),
        (
            "speech-like harmonics",
            vec![
                (200.0, -10.0),
                (400.0, -12.0),
                (600.0, -14.0),
                (800.0, -16.0),
                (1000.0, -18.0),
            ],
            0.0,
        ),
    ];
    for (name, tones, noise_amp) in cases {
        let mut s = Vec::new();
        tone(&mut s, &tones, 1000, &mut noise, noise_amp);
        for law in [G711Law::ALaw, G711Law::MuLaw] {
            assert_eq!(detect(law, &s, InbandConfig::default()), "", "{name} ({law:?})");
        }
    }
}

#[test]
fn linear_input_path() {
    let signal = dial("#", 100, 50, -10.0, 0.0, 0);
    let mut det = InbandDetector::new(InbandConfig::default());
    det.handle_samples(&to_pcm(&signal));
    assert_eq!(det.poll_digit().map(DtmfDigit::as_char), Some('#'));
    assert_eq!(det.poll_digit(), None);
}

#[test]
fn accepts_frequency_deviation_of_one_and_a_half_percent() {
    for factor in [0.985f32, 1.015] {
        let mut noise = Noise(3);
        let (r, c) = DtmfDigit::from_char('0').unwrap().frequencies();
        let mut s = Vec::new();
        tone(
            &mut s,
            &[(r * factor, -10.0), (c * factor, -10.0)],
            80,
            &mut noise,
            0.0,
        );
        assert_eq!(
            detect(G711Law::ALaw, &s, InbandConfig::default()),
            "0",
            "factor {factor}"
        );
    }
}
