//! The engine on a virtual clock: every instant is `epoch() + offset`, advanced by the test.

use super::*;
use crate::dtmf::TelephoneEvent;
use crate::relay::DEFAULT_STALE_FOR;
use crate::rtp::{RtpHeader, RtpPacket};

const CALL: u32 = 7;
const A_ADDR: &str = "10.0.0.1:4000";
const B_ADDR: &str = "10.0.0.2:5000";
const PCMA: u8 = 8;
const TE: u8 = 101;

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

fn rtp(pt: u8, marker: bool, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    RtpHeader {
        marker,
        payload_type: pt,
        sequence: seq,
        timestamp: ts,
        ssrc,
    }
    .write(payload, &mut out);
    out
}

/// One 20 ms PCMA frame whose samples are all `byte`.
fn frame(seq: u16, ssrc: u32, byte: u8) -> Vec<u8> {
    rtp(PCMA, false, seq, u32::from(seq) * 160, ssrc, &[byte; 160])
}

/// What the engine emitted, drained until its `Timeout`.
#[derive(Debug, Default)]
struct Drained {
    /// (leg, channel, to, bytes).
    sent: Vec<(Leg, Channel, SocketAddr, Vec<u8>)>,
    events: Vec<Event<u32>>,
    timeout: Option<Instant>,
}

impl Drained {
    fn sent_to(&self, to: &str) -> Vec<Vec<u8>> {
        let to = addr(to);
        self.sent
            .iter()
            .filter(|s| s.2 == to)
            .map(|s| s.3.clone())
            .collect()
    }

    fn play_done(&self) -> Vec<(Leg, u32)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::PlayDone { leg, tag, .. } => Some((*leg, *tag)),
                _ => None,
            })
            .collect()
    }
}

fn drain(engine: &mut MediaEngine<u32>) -> Drained {
    let mut out = Drained::default();
    loop {
        match engine.poll_output() {
            Output::Transmit(t) => {
                assert_eq!(t.call, CALL);
                out.sent.push((t.leg, t.channel, t.to, t.bytes.to_vec()));
            }
            Output::Event(e) => out.events.push(e),
            Output::Timeout(at) => {
                out.timeout = at;
                return out;
            }
        }
    }
}

/// An engine with call [`CALL`] open at `t0`, both parties' SDP addresses known (send-receive).
fn engine(t0: Instant, config: EngineConfig) -> MediaEngine<u32> {
    let mut e = MediaEngine::new(config);
    let a = PortPair {
        rtp: 30000,
        rtcp: 30001,
    };
    let b = PortPair {
        rtp: 30002,
        rtcp: 30003,
    };
    e.handle_command(t0, Command::Open { call: CALL, a, b });
    for (leg, at) in [(Leg::A, A_ADDR), (Leg::B, B_ADDR)] {
        e.handle_command(
            t0,
            Command::Remote {
                call: CALL,
                leg,
                remote: Some(RemoteMedia::from_sdp(addr(at))),
                direction: MediaDirection::SendRecv,
            },
        );
    }
    drain(&mut e);
    e
}

fn audio(byte: u8, samples: usize) -> PromptAudio {
    PromptAudio {
        law: G711Law::ALaw,
        samples: Arc::from(vec![byte; samples]),
    }
}

fn play(leg: Leg, byte: u8, samples: usize, tag: u32) -> Command<u32> {
    Command::Play {
        call: CALL,
        leg,
        audio: Some(audio(byte, samples)),
        payload_type: PCMA,
        loops: 1,
        tag,
    }
}

/// Runs the engine's timers until `until`, collecting (instant, output) per wake-up.
fn run_until(e: &mut MediaEngine<u32>, until: Instant) -> Vec<(Instant, Drained)> {
    let mut out = Vec::new();
    while let Some(at) = e.poll_timeout().filter(|at| *at <= until) {
        e.handle_timeout(at);
        out.push((at, drain(e)));
    }
    out
}

fn parsed(bytes: &[u8]) -> RtpPacket<'_> {
    RtpPacket::parse(bytes).unwrap()
}

#[test]
fn queued_prompts_play_in_order_each_reporting_play_done() {
    let t0 = epoch();
    let mut e = engine(t0, EngineConfig::default());
    // 400 samples: 3 frames (the last one padded); then 320 samples: 2 frames. The next prompt starts in
    // the same turn as the last frame of the one before.
    e.handle_command(t0, play(Leg::A, 0x11, 400, 1));
    e.handle_command(t0, play(Leg::A, 0x22, 320, 2));
    let first = drain(&mut e);
    assert_eq!(first.sent_to(A_ADDR).len(), 1, "the first frame is due at once");
    assert!(first.play_done().is_empty());
    assert_eq!(first.timeout, Some(t0 + ms(20)));

    let mut frames = first.sent_to(A_ADDR);
    let mut done = Vec::new();
    for (at, d) in run_until(&mut e, t0 + ms(200)) {
        for f in d.sent_to(A_ADDR) {
            frames.push(f);
            assert!(at <= t0 + ms(60), "no frame after both prompts ended");
        }
        done.extend(d.play_done().into_iter().map(|p| (at, p)));
    }
    assert_eq!(frames.len(), 5);
    let payload_bytes: Vec<u8> = frames.iter().map(|f| parsed(f).payload()[0]).collect();
    assert_eq!(
        payload_bytes,
        [0x11, 0x11, 0x11, 0x22, 0x22],
        "in the order queued"
    );
    assert_eq!(
        done,
        [(t0 + ms(40), (Leg::A, 1)), (t0 + ms(60), (Leg::A, 2))],
        "each prompt reports done after its last frame, in order"
    );
    assert!(frames.iter().all(|f| parsed(f).payload_type == PCMA));
    assert_eq!(e.counts().played, 5);
}

#[test]
fn stop_play_reports_the_playing_and_queued_prompts_and_a_play_for_an_unknown_call_is_done_at_once() {
    let t0 = epoch();
    let mut e = engine(t0, EngineConfig::default());
    e.handle_command(t0, play(Leg::B, 0x11, 8000, 1));
    e.handle_command(t0, play(Leg::B, 0x22, 8000, 2));
    drain(&mut e);
    e.handle_command(
        t0 + ms(20),
        Command::StopPlay {
            call: CALL,
            leg: Leg::B,
        },
    );
    assert_eq!(drain(&mut e).play_done(), [(Leg::B, 1), (Leg::B, 2)]);
    assert!(
        run_until(&mut e, t0 + ms(500))
            .iter()
            .all(|(_, d)| d.sent.is_empty())
    );

    e.handle_command(
        t0,
        Command::Play {
            call: 99,
            leg: Leg::A,
            audio: Some(audio(1, 160)),
            payload_type: PCMA,
            loops: 1,
            tag: 5,
        },
    );
    let d = drain(&mut e);
    assert_eq!(
        d.events,
        [Event::PlayDone {
            call: 99,
            leg: Leg::A,
            tag: 5
        }]
    );
}

#[test]
fn a_missing_or_unplayable_prompt_is_done_at_its_turn() {
    let t0 = epoch();
    let mut e = engine(t0, EngineConfig::default());
    e.handle_command(t0, play(Leg::A, 0x11, 320, 1));
    e.handle_command(
        t0,
        Command::Play {
            call: CALL,
            leg: Leg::A,
            audio: None,
            payload_type: PCMA,
            loops: 1,
            tag: 2,
        },
    );
    e.handle_command(
        t0,
        Command::Play {
            call: CALL,
            leg: Leg::A,
            audio: Some(audio(1, 160)),
            payload_type: 18,
            loops: 1,
            tag: 3,
        },
    );
    assert!(
        drain(&mut e).play_done().is_empty(),
        "not before the first prompt ends"
    );
    let d: Vec<Event<u32>> = run_until(&mut e, t0 + ms(100))
        .into_iter()
        .flat_map(|(_, d)| d.events)
        .collect();
    assert_eq!(
        d,
        [
            Event::PlayDone {
                call: CALL,
                leg: Leg::A,
                tag: 1
            },
            Event::PlayDone {
                call: CALL,
                leg: Leg::A,
                tag: 2
            },
            Event::PlayFailed {
                call: CALL,
                leg: Leg::A,
                error: MediaError::UnsupportedPayloadType(18)
            },
            Event::PlayDone {
                call: CALL,
                leg: Leg::A,
                tag: 3
            },
        ]
    );
}

#[test]
fn the_party_hearing_a_prompt_is_muted_the_other_way_is_not() {
    let t0 = epoch();
    let mut e = engine(t0, EngineConfig::default());
    // Before the prompt: B's media reaches A.
    let before = frame(1, 0xBBBB, 0x33);
    e.handle_packet(t0, CALL, Leg::B, Channel::Rtp, addr(B_ADDR), &before);
    assert_eq!(drain(&mut e).sent_to(A_ADDR), [before]);

    // A hears a 100 ms prompt: B's media towards A is dropped, A's media still reaches B.
    e.handle_command(t0 + ms(10), play(Leg::A, 0x11, 800, 1));
    drain(&mut e);
    let dropped = e.counts().dropped;
    let during = frame(2, 0xBBBB, 0x33);
    e.handle_packet(t0 + ms(30), CALL, Leg::B, Channel::Rtp, addr(B_ADDR), &during);
    let d = drain(&mut e);
    assert!(
        d.sent.is_empty(),
        "B is not relayed to A during the prompt: {:?}",
        d.sent
    );
    assert_eq!(e.counts().dropped, dropped + 1);
    let from_a = frame(1, 0xAAAA, 0x44);
    e.handle_packet(t0 + ms(30), CALL, Leg::A, Channel::Rtp, addr(A_ADDR), &from_a);
    assert_eq!(drain(&mut e).sent_to(B_ADDR), [from_a]);

    // Once the prompt has played, B is heard again.
    let ended = run_until(&mut e, t0 + ms(200));
    assert!(ended.iter().any(|(_, d)| d.play_done() == [(Leg::A, 1)]));
    let after = frame(3, 0xBBBB, 0x33);
    e.handle_packet(t0 + ms(200), CALL, Leg::B, Channel::Rtp, addr(B_ADDR), &after);
    assert_eq!(drain(&mut e).sent_to(A_ADDR), [after]);
}

#[test]
fn the_switch_stream_stays_continuous_across_prompt_relay_prompt_and_a_stop() {
    let t0 = epoch();
    let mut e = engine(t0, EngineConfig::default());
    let mut frames = Vec::new();
    e.handle_command(t0, play(Leg::A, 0x11, 320, 1));
    frames.extend(drain(&mut e).sent_to(A_ADDR));
    for (_, d) in run_until(&mut e, t0 + ms(100)) {
        frames.extend(d.sent_to(A_ADDR));
    }
    assert_eq!(frames.len(), 2);

    // Relay in between: B's packets reach A untouched (the relay never rewrites them).
    for seq in 10..15u16 {
        let p = frame(seq, 0xBBBB, 0x33);
        let at = t0 + ms(100 + u64::from(seq) * 20);
        e.handle_packet(at, CALL, Leg::B, Channel::Rtp, addr(B_ADDR), &p);
        assert_eq!(drain(&mut e).sent_to(A_ADDR), [p]);
    }

    // A second prompt, stopped after two frames.
    let t1 = t0 + ms(500);
    e.handle_command(t1, play(Leg::A, 0x22, 1600, 2));
    frames.extend(drain(&mut e).sent_to(A_ADDR));
    for (_, d) in run_until(&mut e, t1 + ms(20)) {
        frames.extend(d.sent_to(A_ADDR));
    }
    e.handle_command(
        t1 + ms(30),
        Command::StopPlay {
            call: CALL,
            leg: Leg::A,
        },
    );
    assert_eq!(drain(&mut e).play_done(), [(Leg::A, 2)]);
    assert_eq!(frames.len(), 4);

    // A third prompt after more relaying.
    let p = frame(20, 0xBBBB, 0x33);
    e.handle_packet(t1 + ms(100), CALL, Leg::B, Channel::Rtp, addr(B_ADDR), &p);
    assert_eq!(drain(&mut e).sent_to(A_ADDR), [p]);
    e.handle_command(t1 + ms(200), play(Leg::A, 0x33, 160, 3));
    frames.extend(drain(&mut e).sent_to(A_ADDR));
    assert_eq!(frames.len(), 5);

    let headers: Vec<(bool, u16, u32, u32)> = frames
        .iter()
        .map(|f| {
            let p = parsed(f);
            (p.marker, p.sequence, p.timestamp, p.ssrc)
        })
        .collect();
    let (_, seq0, ts0, ssrc) = headers[0];
    for (i, (marker, seq, ts, s)) in headers.iter().enumerate() {
        let n = u16::try_from(i).unwrap();
        assert_eq!(*s, ssrc, "one SSRC for the switch's stream to A (frame {i})");
        assert_eq!(
            *seq,
            seq0.wrapping_add(n),
            "sequence numbers continue (frame {i})"
        );
        assert_eq!(
            *ts,
            ts0.wrapping_add(u32::from(n) * 160),
            "timestamps continue (frame {i})"
        );
        assert_eq!(
            *marker,
            [0, 2, 4].contains(&i),
            "the marker starts each prompt (frame {i})"
        );
    }
    assert_ne!(ssrc, 0xBBBB);

    // The stream to B is another one.
    e.handle_command(t1 + ms(300), play(Leg::B, 0x44, 160, 4));
    let to_b = drain(&mut e).sent_to(B_ADDR);
    assert_eq!(to_b.len(), 1);
    assert_ne!(parsed(&to_b[0]).ssrc, ssrc);
}

/// The packets of one RFC 4733 key press: start, updates, then the end packet three times.
fn key_press(key: char, ts: u32, seq: &mut u16) -> Vec<Vec<u8>> {
    let event = DtmfDigit::from_char(key).unwrap().event();
    let mut out = Vec::new();
    let packet = |marker, seq, end, duration| {
        let mut payload = Vec::new();
        TelephoneEvent {
            event,
            end,
            volume: 10,
            duration,
        }
        .write(&mut payload);
        rtp(TE, marker, seq, ts, 0xAAAA, &payload)
    };
    for (i, duration) in [0u16, 160, 320, 480].into_iter().enumerate() {
        out.push(packet(i == 0, *seq, false, duration));
        *seq = seq.wrapping_add(1);
    }
    for _ in 0..3 {
        out.push(packet(false, *seq, true, 640));
    }
    *seq = seq.wrapping_add(1);
    out
}

fn digits(events: &[Event<u32>]) -> Vec<(Leg, char)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Digit { leg, digit, .. } => Some((*leg, digit.as_char())),
            _ => None,
        })
        .collect()
}

#[test]
fn rfc4733_digits_of_a_watched_leg_become_events_once_per_key() {
    let t0 = epoch();
    let mut e = engine(t0, EngineConfig::default());
    let mut seq = 1;
    let mut send = |e: &mut MediaEngine<u32>, key, ts| {
        let mut events = Vec::new();
        for p in key_press(key, ts, &mut seq) {
            e.handle_packet(t0, CALL, Leg::A, Channel::Rtp, addr(A_ADDR), &p);
            events.extend(drain(e).events);
        }
        digits(&events)
    };
    assert!(send(&mut e, '1', 0).is_empty(), "nobody listens yet");

    // Watching B does not hear A.
    e.handle_command(
        t0,
        Command::Detect {
            call: CALL,
            leg: Leg::B,
            telephone_event: Some(TE),
            inband: false,
        },
    );
    assert!(send(&mut e, '2', 1600).is_empty());

    e.handle_command(
        t0,
        Command::Detect {
            call: CALL,
            leg: Leg::A,
            telephone_event: Some(TE),
            inband: false,
        },
    );
    assert_eq!(send(&mut e, '5', 3200), [(Leg::A, '5')]);
    assert_eq!(send(&mut e, '#', 4800), [(Leg::A, '#')]);
    assert_eq!(e.counts().digits, 2);

    e.handle_command(
        t0,
        Command::StopDetect {
            call: CALL,
            leg: Leg::A,
        },
    );
    assert!(send(&mut e, '9', 6400).is_empty(), "stopped");
}

/// The recording chunks among `d`'s events, with when they came.
fn collect(chunks: &mut Vec<(Instant, RecordChunk)>, at: Instant, d: Drained) {
    for event in d.events {
        if let Event::Recording { call, chunk } = event {
            assert_eq!(call, CALL);
            chunks.push((at, chunk));
        }
    }
}

#[test]
fn recording_is_flushed_every_interval_and_at_close_with_both_parties() {
    let t0 = epoch();
    let config = EngineConfig {
        per_party: true,
        ..EngineConfig::default()
    };
    let mut e = engine(t0, config);
    assert!(e.can_record(CALL));
    assert!(!e.can_record(99), "no relay, no recording");
    e.handle_command(t0, Command::Record { call: CALL });
    assert!(!e.can_record(CALL), "already recording");
    let (a_byte, b_byte) = (G711Law::ALaw.encode(1000), G711Law::ALaw.encode(-3000));
    let mut chunks: Vec<(Instant, RecordChunk)> = Vec::new();
    // Both parties send 20 ms frames for one second; the engine's timers run in between.
    for k in 0..50u16 {
        let at = t0 + ms(u64::from(k) * 20);
        for (at, d) in run_until(&mut e, at) {
            collect(&mut chunks, at, d);
        }
        e.handle_packet(
            at,
            CALL,
            Leg::A,
            Channel::Rtp,
            addr(A_ADDR),
            &frame(k, 0xAAAA, a_byte),
        );
        e.handle_packet(
            at,
            CALL,
            Leg::B,
            Channel::Rtp,
            addr(B_ADDR),
            &frame(k, 0xBBBB, b_byte),
        );
        collect(&mut chunks, at, drain(&mut e));
    }
    let end = t0 + ms(1000);
    for (at, d) in run_until(&mut e, end) {
        collect(&mut chunks, at, d);
    }
    // Flushed every 100 ms; audio is final 200 ms (the jitter window) after it was heard.
    let times: Vec<u64> = chunks
        .iter()
        .map(|(at, _)| u64::try_from((*at - t0).as_millis()).unwrap())
        .collect();
    assert_eq!(times, [300, 400, 500, 600, 700, 800, 900, 1000]);
    assert!(
        chunks
            .iter()
            .all(|(_, c)| c.mix.len() == 800 && c.a.len() == 800 && c.b.len() == 800)
    );

    e.handle_command(
        end,
        Command::Close {
            call: CALL,
            keep_recording: true,
        },
    );
    let d = drain(&mut e);
    assert!(matches!(
        d.events.last(),
        Some(Event::RecordingDone {
            call: CALL,
            keep: true
        })
    ));
    collect(&mut chunks, end, d);
    assert_eq!(chunks.len(), 9, "the rest at close");
    let joined = |f: fn(&RecordChunk) -> &Vec<u8>| -> Vec<u8> {
        chunks.iter().flat_map(|(_, c)| f(c).clone()).collect()
    };
    let (mix, a, b) = (joined(|c| &c.mix), joined(|c| &c.a), joined(|c| &c.b));
    assert_eq!(mix.len(), 8000, "one second of audio");
    assert!(a.iter().all(|&s| s == a_byte), "party A alone");
    assert!(b.iter().all(|&s| s == b_byte), "party B alone");
    let mixed = G711Law::ALaw.encode(G711Law::ALaw.decode(a_byte) + G711Law::ALaw.decode(b_byte));
    assert!(mix.iter().all(|&s| s == mixed), "both parties in the mix");
    assert!(!e.contains(CALL));
}

#[test]
fn a_discarded_recording_says_so_and_a_call_without_recording_emits_nothing_at_close() {
    let t0 = epoch();
    let mut e = engine(t0, EngineConfig::default());
    e.handle_command(t0, Command::Record { call: CALL });
    drain(&mut e);
    e.handle_command(
        t0 + ms(50),
        Command::Close {
            call: CALL,
            keep_recording: false,
        },
    );
    let d = drain(&mut e);
    assert!(matches!(
        d.events.as_slice(),
        [
            ..,
            Event::RecordingDone {
                call: CALL,
                keep: false
            }
        ]
    ));
    assert_eq!(d.timeout, None, "the closed call's deadlines are gone");

    let mut e = engine(t0, EngineConfig::default());
    e.handle_command(
        t0,
        Command::Close {
            call: CALL,
            keep_recording: true,
        },
    );
    assert!(drain(&mut e).events.is_empty());
}

#[test]
fn media_timeout_reports_the_silent_party_at_its_deadline_once() {
    let t0 = epoch();
    let config = EngineConfig {
        relay: RelayConfig {
            media_timeout: Some(Duration::from_secs(2)),
            ..RelayConfig::default()
        },
        ..EngineConfig::default()
    };
    let mut e = engine(t0, config);
    e.handle_command(t0, Command::Answered { call: CALL });
    assert_eq!(drain(&mut e).timeout, Some(t0 + ms(2000)));
    let mut timeouts = Vec::new();
    // A sends every 500 ms for 5 s; B stays silent.
    for k in 0..10u16 {
        let at = t0 + ms(u64::from(k) * 500);
        for (when, d) in run_until(&mut e, at) {
            for event in d.events {
                if let Event::MediaTimeout { call, leg } = event {
                    timeouts.push((u64::try_from((when - t0).as_millis()).unwrap(), call, leg));
                }
            }
        }
        e.handle_packet(
            at,
            CALL,
            Leg::A,
            Channel::Rtp,
            addr(A_ADDR),
            &frame(k, 0xAAAA, 0x55),
        );
        drain(&mut e);
    }
    assert_eq!(timeouts, [(2000, CALL, Leg::B)]);
}

/// Opens call [`CALL`] again on pairs `a` and `b`, its caller's SDP naming `a_addr`.
fn reopen(e: &mut MediaEngine<u32>, now: Instant, (a, b): (PortPair, PortPair), a_addr: &str) {
    e.handle_command(now, Command::Open { call: CALL, a, b });
    for (leg, at) in [(Leg::A, a_addr), (Leg::B, B_ADDR)] {
        let remote = Some(RemoteMedia::from_sdp(addr(at)));
        let direction = MediaDirection::SendRecv;
        e.handle_command(
            now,
            Command::Remote {
                call: CALL,
                leg,
                remote,
                direction,
            },
        );
    }
    drain(e);
}

#[test]
fn a_reused_pairs_next_call_refuses_the_ended_calls_streams_for_a_while() {
    let t0 = epoch();
    let mut e = engine(t0, EngineConfig::default());
    let (a, b) = (
        PortPair {
            rtp: 30000,
            rtcp: 30001,
        },
        PortPair {
            rtp: 30002,
            rtcp: 30003,
        },
    );
    e.handle_packet(
        t0,
        CALL,
        Leg::A,
        Channel::Rtp,
        addr(A_ADDR),
        &frame(1, 0xA1, 0xD5),
    );
    e.handle_packet(
        t0,
        CALL,
        Leg::B,
        Channel::Rtp,
        addr(B_ADDR),
        &frame(1, 0xB1, 0xD5),
    );
    drain(&mut e);
    let close = Command::Close {
        call: CALL,
        keep_recording: false,
    };
    e.handle_command(t0 + ms(100), close.clone());
    drain(&mut e);
    assert_eq!(e.stale_ports(), 2, "both legs' pairs remember their streams");
    // The next call on the same pairs: its caller on the same host, another port.
    let t1 = t0 + ms(1_500);
    let a2 = "10.0.0.1:4010";
    reopen(&mut e, t1, (a, b), a2);
    assert_eq!(e.stale_ports(), 0, "handed over to the new call");
    // The ended call's caller keeps sending (its BYE was lost): nothing reaches B.
    e.handle_packet(
        t1,
        CALL,
        Leg::A,
        Channel::Rtp,
        addr(A_ADDR),
        &frame(50, 0xA1, 0xD5),
    );
    assert!(drain(&mut e).sent.is_empty());
    assert_eq!((e.counts().refused, e.counts().dropped), (1, 0));
    // The new call's caller, from the same address with a new stream, is relayed; the stray still is not.
    e.handle_packet(
        t1 + ms(20),
        CALL,
        Leg::A,
        Channel::Rtp,
        addr(A_ADDR),
        &frame(1, 0xA2, 0xD5),
    );
    e.handle_packet(
        t1 + ms(20),
        CALL,
        Leg::A,
        Channel::Rtp,
        addr(A_ADDR),
        &frame(51, 0xA1, 0xD5),
    );
    let out = drain(&mut e);
    assert_eq!(out.sent_to(B_ADDR), vec![frame(1, 0xA2, 0xD5)]);
    // The new call ends with A latched: its pair remembers the new stream.
    let t2 = t1 + ms(10_000);
    e.handle_command(t2, close.clone());
    drain(&mut e);
    assert_eq!(e.stale_ports(), 1);
    // A call on other pairs ends after the deadline: the expired entry is forgotten (the map is bounded).
    let others = (
        PortPair {
            rtp: 30004,
            rtcp: 30005,
        },
        PortPair {
            rtp: 30006,
            rtcp: 30007,
        },
    );
    let t3 = t2 + DEFAULT_STALE_FOR;
    reopen(&mut e, t3, others, A_ADDR);
    e.handle_command(t3, close);
    drain(&mut e);
    assert_eq!(e.stale_ports(), 0);
}
