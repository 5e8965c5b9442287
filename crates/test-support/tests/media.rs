//! Whole calls with media in virtual time: the switch in relay mode, its pn-media engine, RTP endpoints on
//! both sides. AXE digits by RFC 4733, prompts heard (payload bytes checked), relaying both ways with the
//! switch's addresses only, recording content per party, dead media, and loss on both networks.

// A scenario reads best as one function; counting samples needs no extra crate.
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::too_many_lines,
    clippy::naive_bytecount
)]

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use pn_b2bua::{B2buaConfig, CallFact, EventType, MediaCommand};
use pn_bindings::{AppId, CollectDigits, RouteDecision};
use pn_media::{G711Law, Leg, PromptAudio, RelayConfig};
use pn_sip::{Method, SipMessage};
use pn_test_support::media::MediaConfig;
use pn_test_support::rtp_ua::FRAME_SAMPLES;
use pn_test_support::sim::{RTP_A_ADDR, RTP_B_ADDR, Sim, SimConfig};
use pn_test_support::ua::Ending;
use pn_test_support::{FakeRouter, NetworkConfig};

const A_NUM: &str = "+8613800000001";
const X_NUM: &str = "+8617000000000";
const B_NUM: &str = "+8613900000002";
/// PCMA.
const PT: u8 = 8;
/// telephone-event, as both trunks' SDP offer it.
const EVENT_PT: u8 = 101;

fn connect() -> FakeRouter {
    FakeRouter::connect(
        pn_numbers::normalize(B_NUM).unwrap(),
        pn_numbers::normalize(X_NUM).unwrap(),
        0,
    )
}

fn relay_sim(router: FakeRouter, media: MediaConfig, hold: Option<Duration>) -> Sim<FakeRouter> {
    let config = SimConfig {
        b2b: B2buaConfig {
            dialog_probe_secs: 0,
            ..B2buaConfig::default()
        },
        hold,
        media: Some(media),
        ..SimConfig::default()
    };
    Sim::new(router, config)
}

/// `frames` distinct frames of audio: frame `i` holds bytes `base + i`, `base + i + 1`, … (never A-law
/// silence, 0xD5/0x55, by choice of `base`).
fn party_audio(base: u8, frames: u8) -> Vec<u8> {
    (0..frames)
        .flat_map(|f| (0..FRAME_SAMPLES).map(move |s| base.wrapping_add(f).wrapping_add((s % 7) as u8)))
        .collect()
}

/// The frames of `audio`, as a set.
fn frames_of(audio: &[u8]) -> HashSet<Vec<u8>> {
    audio.chunks(FRAME_SAMPLES).map(<[u8]>::to_vec).collect()
}

/// A recognisable prompt: a byte ramp, `frames` frames long.
fn prompt(frames: usize) -> PromptAudio {
    let samples: Vec<u8> = (0..frames * FRAME_SAMPLES).map(|i| (i * 3 % 251) as u8).collect();
    PromptAudio {
        law: G711Law::ALaw,
        samples: Arc::from(samples),
    }
}

/// The sources of the PCMA packets `endpoint` received.
fn sources(packets: &[(SocketAddr, pn_media::RtpPacket<'_>)]) -> HashSet<SocketAddr> {
    packets.iter().map(|(from, _)| *from).collect()
}

#[test]
fn axe_caller_hears_the_prompt_keys_the_extension_by_rfc_4733_and_media_relays_both_ways() {
    let mut router = connect();
    let bound = router.decision.clone();
    router.decision = RouteDecision::CollectDigits(CollectDigits {
        x: pn_numbers::normalize(X_NUM).unwrap(),
        app: AppId(1),
        digits: 4,
        repeat: 2,
    });
    router.extensions.push(("1234".into(), bound));
    let mut sim = relay_sim(router, MediaConfig::default(), Some(Duration::from_secs(5)));
    let heard = prompt(10);
    sim.relay
        .as_mut()
        .unwrap()
        .set_prompt("enter_extension.wav", heard.clone());

    sim.place_call(A_NUM, X_NUM);
    let audio_a = party_audio(0x20, 3);
    sim.rtp_a.start_audio(sim.now, PT, audio_a.clone());
    // The switch answers A itself (183, early media) and plays the extension prompt.
    let heard_all = sim.run_until(Duration::from_secs(5), |s| {
        s.rtp_a.payload(PT).len() >= heard.samples.len()
    });
    assert!(heard_all, "A heard {} bytes", sim.rtp_a.payload(PT).len());
    assert_eq!(sim.a.calls[0].statuses.last(), Some(&183));
    assert!(sim.b.calls.is_empty(), "no B leg before the extension");
    let call = sim.last_media_call().unwrap();
    let relay = sim.relay.as_ref().unwrap();
    let (switch_a, switch_b) = (
        relay.addr(call, Leg::A).unwrap(),
        relay.addr(call, Leg::B).unwrap(),
    );
    assert_eq!(
        sim.rtp_a.target,
        Some(switch_a),
        "A sends where the 183's SDP says"
    );
    assert_eq!(
        sim.rtp_a.payload(PT)[..heard.samples.len()],
        heard.samples[..],
        "the prompt's bytes, in order"
    );
    assert_eq!(sources(&sim.rtp_a.packets(PT)), HashSet::from([switch_a]));

    // The extension, keyed as telephone-events.
    for digit in ['1', '2', '3', '4'] {
        sim.rtp_a
            .send_digit(sim.now, digit, EVENT_PT, Duration::from_millis(80));
    }
    let answered = sim.run_until(Duration::from_secs(10), |s| {
        s.a.calls[0].answer.is_some() && s.b.calls.first().is_some_and(|c| c.acks == 1)
    });
    assert!(
        answered,
        "A {:?}, B legs {}, digits {:?}",
        sim.a.calls[0].statuses,
        sim.b.calls.len(),
        sim.relay.as_ref().unwrap().digits,
    );
    let relay = sim.relay.as_ref().unwrap();
    let digits: Vec<char> = relay.digits.iter().map(|(_, _, d)| *d).collect();
    assert_eq!(digits, ['1', '2', '3', '4'], "one digit per key press");
    assert!(
        relay
            .digits
            .iter()
            .all(|(c, leg, _)| (*c, *leg) == (call, Leg::A))
    );
    let collected = sim.facts.iter().find_map(|f| match f {
        CallFact::Event(e) if e.event_type == EventType::CollectInfo => e.status_info.digit_info.clone(),
        _ => None,
    });
    assert_eq!(collected.as_deref(), Some("1234"));
    // The call reached the extension's binding: B's number, shown X.
    let invite = &sim.b.calls[0].invite;
    assert!(invite.uri().to_string().contains(B_NUM), "{}", invite.uri());
    assert!(
        invite.headers().from().unwrap().uri().to_string().contains(X_NUM),
        "{:?}",
        invite.headers().get("From")
    );
    assert_eq!(
        sim.rtp_b.target,
        Some(switch_b),
        "B sends where the INVITE's SDP says"
    );

    // Media both ways.
    let audio_b = party_audio(0x90, 3);
    sim.rtp_b.start_audio(sim.now, PT, audio_b.clone());
    let before_a = sim.rtp_a.packets(PT).len();
    sim.run_for(Duration::from_secs(2));
    let at_b = sim.rtp_b.packets(PT);
    assert!(at_b.len() >= 90, "B got {} frames in 2 s", at_b.len());
    assert_eq!(
        sources(&at_b),
        HashSet::from([switch_b]),
        "only the switch's address"
    );
    let (frames_a, frames_b) = (frames_of(&audio_a), frames_of(&audio_b));
    assert!(
        at_b.iter().all(|(_, p)| frames_a.contains(p.payload())),
        "B hears exactly A's frames"
    );
    let at_a = sim.rtp_a.packets(PT);
    let relayed_to_a = &at_a[before_a..];
    assert!(
        relayed_to_a.len() >= 90,
        "A got {} frames in 2 s",
        relayed_to_a.len()
    );
    assert!(relayed_to_a.iter().all(|(_, p)| frames_b.contains(p.payload())));
    assert_eq!(sources(&at_a), HashSet::from([switch_a]));
    let b_party: SocketAddr = RTP_B_ADDR.parse().unwrap();
    let a_party: SocketAddr = RTP_A_ADDR.parse().unwrap();
    assert!(!sources(&at_a).contains(&b_party) && !sources(&at_b).contains(&a_party));

    // A hangs up after its hold time: a normal end, the relay closed.
    let ended = sim.run_until(Duration::from_secs(10), |s| {
        s.a.calls[0].ending != Ending::Open && s.b2b.active_calls() == 0
    });
    assert!(ended);
    assert_eq!(sim.a.calls[0].ending, Ending::HungUp);
    assert_eq!(sim.disconnect_codes(), [Some(0)]);
    assert_eq!(sim.relay.as_ref().unwrap().open_calls(), 0);
}

#[test]
fn caller_hears_the_hint_prompt_until_the_answer_then_the_callee() {
    let mut router = connect();
    router.prompts.caller_hint = Some("please_wait.wav".into());
    let mut sim = relay_sim(router, MediaConfig::default(), Some(Duration::from_secs(3)));
    sim.b.ring = Duration::from_secs(2);
    let hint = prompt(25);
    sim.relay
        .as_mut()
        .unwrap()
        .set_prompt("please_wait.wav", hint.clone());
    sim.place_call(A_NUM, X_NUM);
    let audio_b = party_audio(0x90, 2);
    sim.run_until(Duration::from_secs(1), |s| !s.b.calls.is_empty());
    sim.rtp_b.start_audio(sim.now, PT, audio_b.clone());
    sim.rtp_a.start_audio(sim.now, PT, party_audio(0x20, 2));
    let answered = sim.run_until(Duration::from_secs(5), |s| s.a.calls[0].answer.is_some());
    assert!(answered);
    // B talked all along, but A heard the hint (muted) until the answer.
    let before_answer = sim.rtp_a.payload(PT);
    assert!(
        before_answer.len() >= hint.samples.len(),
        "{} bytes heard while ringing",
        before_answer.len()
    );
    assert_eq!(before_answer[..hint.samples.len()], hint.samples[..]);
    let frames_b = frames_of(&audio_b);
    assert!(
        before_answer
            .chunks(FRAME_SAMPLES)
            .take(hint.samples.len() / FRAME_SAMPLES)
            .all(|f| !frames_b.contains(f)),
        "nothing of B while the hint plays"
    );
    assert!(
        sim.media
            .iter()
            .any(|m| matches!(m, MediaCommand::StopPlay { leg: Leg::A, .. }))
    );
    let heard = sim.rtp_a.packets(PT).len();
    sim.run_for(Duration::from_secs(1));
    let after: Vec<_> = sim.rtp_a.packets(PT)[heard..]
        .iter()
        .map(|(_, p)| p.payload().to_vec())
        .collect();
    assert!(after.len() >= 45, "{} frames after the answer", after.len());
    assert!(after.iter().all(|f| frames_b.contains(f)), "then only B");
}

#[test]
fn recording_carries_each_partys_frames() {
    let mut router = connect();
    if let RouteDecision::Connect(c) = &mut router.decision {
        c.record = true;
    }
    let mut sim = relay_sim(router, MediaConfig::default(), Some(Duration::from_secs(6)));
    let (tone_a, tone_b) = (0x2Au8, 0xABu8);
    sim.place_call(A_NUM, X_NUM);
    sim.rtp_a.start_audio(sim.now, PT, vec![tone_a; FRAME_SAMPLES]);
    sim.run_until(Duration::from_secs(1), |s| !s.b.calls.is_empty());
    sim.rtp_b.start_audio(sim.now, PT, vec![tone_b; FRAME_SAMPLES]);
    let ended = sim.run_until(Duration::from_secs(20), |s| {
        s.a.calls[0].ending != Ending::Open && s.b2b.active_calls() == 0
    });
    assert!(ended);
    assert!(sim.media.iter().any(|m| matches!(m, MediaCommand::Record { .. })));
    let relay = sim.relay.as_ref().unwrap();
    assert_eq!(relay.recordings.len(), 1);
    let recording = relay.recordings.values().next().unwrap();
    assert_eq!(recording.done, Some(true), "a 6 s recording is kept");
    assert!(
        recording.chunks.len() >= 50,
        "flushed every 100 ms: {}",
        recording.chunks.len()
    );
    let (a, b) = (recording.party(Leg::A), recording.party(Leg::B));
    let count = |v: &[u8], x: u8| v.iter().filter(|&&s| s == x).count();
    // 6 s of call, 8000 samples a second, each party in its own channel.
    assert!(
        count(&a, tone_a) >= 5 * 8000,
        "A's channel: {} of A's samples",
        count(&a, tone_a)
    );
    assert!(
        count(&b, tone_b) >= 5 * 8000,
        "B's channel: {} of B's samples",
        count(&b, tone_b)
    );
    assert_eq!(count(&a, tone_b), 0, "nothing of B in A's channel");
    assert_eq!(count(&b, tone_a), 0, "nothing of A in B's channel");
    let mix = recording.mix();
    assert!(mix.len() >= 6 * 8000 - 800, "{} mixed samples", mix.len());
    let cdr = sim.cdrs()[0];
    assert_eq!(cdr.record_flag, 1);
}

#[test]
fn a_party_that_stops_sending_is_released_as_dead_media() {
    let media = MediaConfig {
        engine: pn_media::EngineConfig {
            relay: RelayConfig {
                media_timeout: Some(Duration::from_secs(10)),
                ..RelayConfig::default()
            },
            ..MediaConfig::default().engine
        },
        ..MediaConfig::default()
    };
    let mut sim = relay_sim(connect(), media, None);
    sim.place_call(A_NUM, X_NUM);
    sim.rtp_a.start_audio(sim.now, PT, party_audio(0x20, 1));
    sim.run_until(Duration::from_secs(1), |s| !s.b.calls.is_empty());
    sim.rtp_b.start_audio(sim.now, PT, party_audio(0x90, 1));
    assert!(sim.run_until(Duration::from_secs(5), |s| s.a.calls[0].answer.is_some()));
    sim.run_for(Duration::from_secs(5));
    assert_eq!(sim.a.calls[0].ending, Ending::Open, "alive while both talk");
    sim.rtp_b.stop_audio();
    let stopped = sim.now;
    let released = sim.run_until(Duration::from_secs(60), |s| {
        s.a.calls[0].ending != Ending::Open && s.b.calls[0].ending != Ending::Open
    });
    assert!(released);
    let after = sim.now - stopped;
    assert!(
        (Duration::from_secs(10)..Duration::from_secs(11)).contains(&after),
        "released {after:?} after B went silent"
    );
    assert_eq!(sim.a.calls[0].ending, Ending::ByeReceived);
    assert_eq!(sim.b.calls[0].ending, Ending::ByeReceived);
    assert_eq!(sim.disconnect_codes(), [Some(7506)], "B's media died");
    let byes: Vec<_> = sim
        .recent
        .iter()
        .filter_map(|(_, m)| match m {
            SipMessage::Request(r) if *r.method() == Method::Bye => {
                r.headers().get("Reason").map(str::to_owned)
            }
            _ => None,
        })
        .collect();
    assert!(!byes.is_empty());
    assert!(byes.iter().all(|r| r.starts_with("Q.850;cause=102;")), "{byes:?}");
    assert_eq!(sim.b2b.stats().media_timeouts, 1);
}

#[test]
fn calls_with_media_complete_with_five_percent_loss_on_both_networks() {
    let (mut forwarded, mut received, mut sip_dropped) = (0, 0, 0);
    for seed in 1..=5 {
        let lossy = NetworkConfig {
            loss: 0.05,
            latency: Duration::from_millis(20),
            jitter: Duration::from_millis(10),
            seed,
        };
        let media = MediaConfig {
            net: NetworkConfig {
                seed: seed + 100,
                ..lossy
            },
            ..MediaConfig::default()
        };
        let config = SimConfig {
            net: lossy,
            media: Some(media),
            hold: Some(Duration::from_secs(5)),
            ..SimConfig::default()
        };
        let mut sim = Sim::new(connect(), config);
        let (audio_a, audio_b) = (party_audio(0x20, 2), party_audio(0x90, 2));
        sim.place_call(A_NUM, X_NUM);
        sim.rtp_a.start_audio(sim.now, PT, audio_a.clone());
        sim.run_until(Duration::from_secs(40), |s| !s.b.calls.is_empty());
        sim.rtp_b.start_audio(sim.now, PT, audio_b.clone());
        let done = sim.run_until(Duration::from_secs(120), |s| {
            s.a.calls[0].ending != Ending::Open
                && s.b.calls[0].ending != Ending::Open
                && s.b2b.active_calls() == 0
        });
        assert!(done, "seed {seed}: {:?}", sim.a.calls[0].ending);
        sim.rtp_a.stop_audio();
        sim.rtp_b.stop_audio();
        assert_eq!(sim.a.calls[0].ending, Ending::HungUp, "seed {seed}");
        assert_eq!(sim.b.calls[0].ending, Ending::ByeReceived, "seed {seed}");
        assert_eq!(sim.disconnect_codes(), [Some(0)], "seed {seed}");
        assert_eq!(sim.cdrs()[0].ul_fail_reason, 0, "seed {seed}");
        // What arrived is the other party's audio, most of it.
        let (at_a, at_b) = (sim.rtp_a.packets(PT), sim.rtp_b.packets(PT));
        assert!(
            at_b.iter()
                .all(|(_, p)| frames_of(&audio_a).contains(p.payload()))
        );
        assert!(
            at_a.iter()
                .all(|(_, p)| frames_of(&audio_b).contains(p.payload()))
        );
        assert!(
            at_a.len() >= 200 && at_b.len() >= 200,
            "seed {seed}: {} / {}",
            at_a.len(),
            at_b.len()
        );
        forwarded += sim.relay.as_ref().unwrap().counts().forwarded;
        received += (at_a.len() + at_b.len()) as u64;
        assert!(sim.media_net.dropped > 0, "seed {seed}: media loss was real");
        sip_dropped += sim.net.dropped;
    }
    assert!(sip_dropped > 0, "SIP loss was real");
    // Of the frames the switch relayed, about 95 % arrived (the loss on the way out).
    assert!(
        received < forwarded && received * 100 >= forwarded * 85,
        "{received} of {forwarded} relayed frames arrived"
    );
}

fn x_mode() -> FakeRouter {
    FakeRouter::new(RouteDecision::Ask(pn_bindings::Ask {
        x: pn_numbers::normalize(X_NUM).unwrap(),
        app: AppId(1),
        record_allowed: true,
        caller: Some(pn_numbers::normalize(A_NUM).unwrap()),
    }))
}

#[test]
fn x_mode_wait_voice_is_the_callers_ringback_until_the_answer() {
    let mut sim = relay_sim(x_mode(), MediaConfig::default(), Some(Duration::from_secs(3)));
    sim.b.ring = Duration::from_secs(2);
    let wait = prompt(25);
    sim.relay.as_mut().unwrap().set_prompt("x_wait.wav", wait.clone());
    sim.place_call(A_NUM, X_NUM);
    assert!(sim.run_until(Duration::from_secs(1), |s| !s.asks.is_empty()));
    assert!(sim.b.calls.is_empty(), "no B leg before the decision");
    assert!(sim.media.is_empty(), "no relay before the decision");
    let call = sim.asks[0].call;
    sim.customer_reply(
        call,
        pn_b2bua::CustomerReply::Body(format!(
            r#"{{"operation":"connect","connectInfo":{{"calleeNum":"{B_NUM}","waitVoice":"x_wait.wav"}}}}"#
        )),
    );
    assert!(sim.run_until(Duration::from_secs(1), |s| !s.b.calls.is_empty()));
    let answered = sim.run_until(Duration::from_secs(5), |s| s.a.calls[0].answer.is_some());
    assert!(answered);
    let before_answer = sim.rtp_a.payload(PT);
    assert!(
        before_answer.len() >= wait.samples.len(),
        "{} bytes heard while ringing",
        before_answer.len()
    );
    assert_eq!(before_answer[..wait.samples.len()], wait.samples[..]);
    let ended = sim.run_until(Duration::from_secs(10), |s| s.b2b.active_calls() == 0);
    assert!(ended);
    assert_eq!(sim.disconnect_codes(), [Some(0)]);
}

#[test]
fn x_mode_close_plays_the_close_hint_tone_then_ends_with_8017() {
    let mut sim = relay_sim(x_mode(), MediaConfig::default(), None);
    let bye = prompt(10);
    sim.relay.as_mut().unwrap().set_prompt("x_bye.wav", bye.clone());
    sim.place_call(A_NUM, X_NUM);
    assert!(sim.run_until(Duration::from_secs(1), |s| !s.asks.is_empty()));
    let call = sim.asks[0].call;
    sim.customer_reply(
        call,
        pn_b2bua::CustomerReply::Body(
            r#"{"operation":"close","closeInfo":{"closeHintTone":"x_bye.wav"}}"#.into(),
        ),
    );
    let ended = sim.run_until(Duration::from_secs(5), |s| s.a.calls[0].ending != Ending::Open);
    assert!(ended);
    assert_eq!(sim.a.calls[0].ending, Ending::Failed(603));
    assert!(sim.b.calls.is_empty());
    let heard = sim.rtp_a.payload(PT);
    assert!(heard.len() >= bye.samples.len(), "{} bytes heard", heard.len());
    assert_eq!(heard[..bye.samples.len()], bye.samples[..]);
    assert_eq!(sim.disconnect_codes(), [Some(8017)]);
}
