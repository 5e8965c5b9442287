use super::*;
use crate::RtpHeader;
use crate::dtmf::TelephoneEvent;

const TE: u8 = 101;
const SSRC: u32 = 0x0E05_384E;

fn rtp(pt: u8, marker: bool, seq: u16, ts: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    RtpHeader {
        marker,
        payload_type: pt,
        sequence: seq,
        timestamp: ts,
        ssrc: SSRC,
    }
    .write(payload, &mut out);
    out
}

/// The packets of one key press as RFC 4733 §2.5 sends them: a start packet (marker), continuation packets
/// every 20 ms with a growing duration, then the end packet three times; all with the event's timestamp.
fn key_press(pt: u8, key: char, ts: u32, seq: &mut u16) -> Vec<Vec<u8>> {
    let event = DtmfDigit::from_char(key).unwrap().event();
    let mut out = Vec::new();
    let updates = [0u16, 160, 320, 480, 640];
    for (i, duration) in updates.into_iter().enumerate() {
        out.push(event_packet(pt, i == 0, *seq, ts, event, false, duration));
        *seq = seq.wrapping_add(1);
    }
    for _ in 0..3 {
        out.push(event_packet(pt, false, *seq, ts, event, true, 800));
    }
    *seq = seq.wrapping_add(1);
    out
}

fn event_packet(pt: u8, marker: bool, seq: u16, ts: u32, event: u8, end: bool, duration: u16) -> Vec<u8> {
    let mut payload = Vec::new();
    TelephoneEvent {
        event,
        end,
        volume: 10,
        duration,
    }
    .write(&mut payload);
    rtp(pt, marker, seq, ts, &payload)
}

/// 20 ms G.711 frames of `keys` as in-band tones: `tone_ms` of each key's two sines at −10 dBm0, then
/// `gap_ms` of silence. Timestamps start at `ts`.
fn tone_frames(
    law: G711Law,
    keys: &str,
    tone_ms: usize,
    gap_ms: usize,
    ts: u32,
    seq: &mut u16,
) -> Vec<Vec<u8>> {
    let amp = 22_706.0 * 10f32.powf(-10.0 / 20.0);
    let mut pcm: Vec<i16> = Vec::new();
    for key in keys.chars() {
        let (row, col) = DtmfDigit::from_char(key).unwrap().frequencies();
        for n in 0..tone_ms * 8 {
            let t = n as f32 / 8000.0;
            let v = amp * (2.0 * std::f32::consts::PI * row * t).sin()
                + amp * (2.0 * std::f32::consts::PI * col * t).sin();
            pcm.push(v as i16);
        }
        pcm.extend(std::iter::repeat_n(0, gap_ms * 8));
    }
    let mut bytes = Vec::new();
    law.encode_into(&pcm, &mut bytes);
    bytes
        .chunks(160)
        .enumerate()
        .map(|(i, frame)| {
            let p = rtp(
                law.payload_type(),
                i == 0,
                *seq,
                ts.wrapping_add(160 * i as u32),
                frame,
            );
            *seq = seq.wrapping_add(1);
            p
        })
        .collect()
}

fn feed(det: &mut DigitDetector, packets: &[Vec<u8>]) -> String {
    let mut found = String::new();
    for p in packets {
        if let Some(d) = det.handle_rtp(&RtpPacket::parse(p).unwrap()) {
            found.push(d.as_char());
        }
        while let Some(d) = det.poll_digit() {
            found.push(d.as_char());
        }
    }
    found
}

#[test]
fn rfc4733_once_per_event() {
    let mut det = DigitDetector::new(Some(TE), false);
    let mut seq = 7984;
    let press = key_press(TE, '1', 13_280, &mut seq);
    assert_eq!(press.len(), 8, "start, 4 continuations, 3 end retransmissions");
    let results: Vec<Option<char>> = press
        .iter()
        .map(|p| {
            det.handle_rtp(&RtpPacket::parse(p).unwrap())
                .map(DtmfDigit::as_char)
        })
        .collect();
    assert_eq!(results[0], Some('1'), "reported at the start packet");
    assert!(results[1..].iter().all(Option::is_none));
    // A duplicate of the whole press (network duplication) yields nothing more.
    assert_eq!(feed(&mut det, &press), "");
    // A sequence of keys, the same key twice included.
    let mut packets = Vec::new();
    for (i, key) in "1#*09AD9".chars().enumerate() {
        packets.extend(key_press(TE, key, 20_000 + 2000 * i as u32, &mut seq));
    }
    assert_eq!(feed(&mut det, &packets), "1#*09AD9");
}

#[test]
fn rfc4733_lost_start_still_reports_once() {
    let mut det = DigitDetector::new(Some(TE), false);
    let mut seq = 1;
    let press = key_press(TE, '5', 4000, &mut seq);
    assert_eq!(feed(&mut det, &press[5..]), "5", "only the end packets arrived");
}

#[test]
fn rfc4733_off_or_other_pt_is_ignored() {
    let mut seq = 1;
    let press = key_press(TE, '3', 4000, &mut seq);
    let mut off = DigitDetector::new(None, false);
    assert_eq!(feed(&mut off, &press), "");
    assert_eq!(off.telephone_event_pt(), None);
    let mut other = DigitDetector::new(Some(96), false);
    assert_eq!(feed(&mut other, &press), "");
    // Renegotiated to 101: now heard.
    other.set_telephone_event_pt(Some(TE));
    assert_eq!(other.telephone_event_pt(), Some(TE));
    assert_eq!(feed(&mut other, &press), "3");
    // Turned on later for a detector created without it.
    off.set_telephone_event_pt(Some(TE));
    assert_eq!(feed(&mut off, &press), "3");
    // A truncated telephone-event payload is ignored, not an error.
    let short = rtp(TE, true, 1, 99, &[1, 2]);
    assert_eq!(off.handle_rtp(&RtpPacket::parse(&short).unwrap()), None);
}

#[test]
fn inband_in_both_laws() {
    for law in [G711Law::ALaw, G711Law::MuLaw] {
        let mut det = DigitDetector::new(None, true);
        assert!(det.inband_active());
        let mut seq = 0;
        let frames = tone_frames(law, "159#*0D", 80, 80, 0, &mut seq);
        assert_eq!(feed(&mut det, &frames), "159#*0D", "{law:?}");
    }
}

#[test]
fn inband_off_hears_no_tones() {
    let mut det = DigitDetector::new(Some(TE), false);
    assert!(!det.inband_active());
    let mut seq = 0;
    let frames = tone_frames(G711Law::ALaw, "123", 80, 80, 0, &mut seq);
    assert_eq!(feed(&mut det, &frames), "");
}

#[test]
fn inband_ignores_non_g711_payloads() {
    let mut det = DigitDetector::new(None, true);
    let mut seq = 0;
    let frames = tone_frames(G711Law::ALaw, "7", 100, 40, 0, &mut seq);
    // The same bytes labelled G.722 (9) or comfort noise (13): not audio this detector decodes.
    let relabelled: Vec<Vec<u8>> = frames
        .iter()
        .flat_map(|f| {
            let p = RtpPacket::parse(f).unwrap();
            [9u8, 13].map(|pt| rtp(pt, false, p.sequence, p.timestamp, p.payload()))
        })
        .collect();
    assert_eq!(feed(&mut det, &relabelled), "");
    assert_eq!(feed(&mut det, &frames), "7");
}

#[test]
fn a_stream_with_both_yields_each_key_once() {
    let mut det = DigitDetector::new(Some(TE), true);
    assert!(det.inband_active());
    let mut seq = 0;
    // The phone plays the tone in the audio and sends telephone-events for the same presses.
    let audio = tone_frames(G711Law::ALaw, "42", 100, 100, 0, &mut seq);
    let mut stream = Vec::new();
    let mut ev_seq = 500;
    let first = key_press(TE, '4', 0, &mut ev_seq);
    let second = key_press(TE, '2', 1600, &mut ev_seq);
    // Interleave: each telephone-event packet right after the audio frame it accompanies.
    for (i, frame) in audio.iter().enumerate() {
        stream.push(frame.clone());
        if let Some(ev) = first.get(i) {
            stream.push(ev.clone());
        }
        if let Some(ev) = i.checked_sub(10).and_then(|j| second.get(j)) {
            stream.push(ev.clone());
        }
    }
    assert_eq!(feed(&mut det, &stream), "42");
    assert!(
        !det.inband_active(),
        "in-band switched off by the first telephone-event"
    );
    // More tones without telephone-events are no longer heard on this stream.
    let more = tone_frames(G711Law::ALaw, "9", 100, 100, 3200, &mut seq);
    assert_eq!(feed(&mut det, &more), "");
    // SDP drops telephone-event: in-band comes back.
    det.set_telephone_event_pt(None);
    assert!(det.inband_active());
    assert_eq!(feed(&mut det, &more), "9");
}

#[test]
fn inband_only_detector_with_stray_events_pt_ignored() {
    // RFC 4733 off: a telephone-event-looking packet is neither a digit nor a reason to stop in-band.
    let mut det = DigitDetector::new(None, true);
    let mut seq = 0;
    let ev = key_press(TE, '8', 0, &mut seq);
    assert_eq!(feed(&mut det, &ev), "");
    assert!(det.inband_active());
    let tones = tone_frames(G711Law::MuLaw, "8", 100, 60, 0, &mut seq);
    assert_eq!(feed(&mut det, &tones), "8");
}

#[test]
fn never_panics_on_arbitrary_payloads() {
    let mut state = 99u32;
    let mut rand = move || {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        (state >> 8) as u8
    };
    let mut det = DigitDetector::new(Some(TE), true);
    let mut det_inband = DigitDetector::new(None, true);
    for i in 0..3000u16 {
        let pt = [0, 8, TE, 13][usize::from(rand() % 4)];
        let len = usize::from(rand()) * 2;
        let payload: Vec<u8> = (0..len).map(|_| rand()).collect();
        let bytes = rtp(pt, false, i, u32::from(i) * 160, &payload);
        let p = RtpPacket::parse(&bytes).unwrap();
        let _ = det.handle_rtp(&p);
        let _ = det_inband.handle_rtp(&p);
        while det_inband.poll_digit().is_some() {}
    }
}
