//! The media plane through the real binary (relay mode, the default), with `SIPp` as both trunks: a recorded
//! call whose file is fetched through the signed record-download API and holds what both parties said, the
//! last-minute voice heard by both parties, a prompt played in early media before a rejection, and the relay
//! passing `SIPp`'s RTP through intact.
//!
//! Where the test must hear what the switch sends a party, that party's SDP names a UDP socket the test owns
//! ([`RtpSink`], its port injected into the scenario); where a party must talk, `SIPp` plays a pcap
//! (`play_pcap_audio`, which needs root — these tests run as root, as the CI image does).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test: failing loudly is the point
#![allow(clippy::similar_names)] // caller/callee, uac/uas are the domain's names

use std::path::Path;
use std::time::{Duration, Instant};

use pn_e2e::rtp::{
    Received, RtpSink, alaw_tone, concat_payloads, decode_alaw, find, level, outbox, read_pcap_rtp,
    record_download, tone_share, wait_cdrs, write_rtp_pcap,
};
use pn_e2e::sipp::{Rig, SippRun, free_udp_port, metric_value};
use pn_media::G711Law;
use reqwest::Method;
use serde_json::{Value, json};

const A: &str = "+8613800000001";
const B: &str = "+8613900000002";
const C: &str = "+8613700000003";
const X: &str = "+8617000000001";

/// `SIPp`'s sample speech: PCMA, 30 ms frames, about 7 s.
const G711A_PCAP: &str = "/usr/share/sip-tester/g711a.pcap";

/// How long a UAS may take to finish after its UAC did.
const SETTLE: Duration = Duration::from_secs(10);

/// The A-law samples of shipped prompt `name`.
fn prompt_samples(name: &str) -> Vec<u8> {
    let wav = pn_media::prompts::default_prompt(name).unwrap_or_else(|| panic!("no shipped prompt {name}"));
    let audio = pn_media::parse_prompt(wav).expect("a valid prompt");
    assert_eq!(audio.law, G711Law::ALaw, "{name}");
    audio.samples.to_vec()
}

/// A `SIPp` media port (`-mp`): `SIPp` binds it and the port two above (video).
fn media_port() -> u16 {
    loop {
        let p = free_udp_port();
        if p < 65_000 && std::net::UdpSocket::bind(("127.0.0.1", p + 2)).is_ok() {
            return p;
        }
    }
}

/// Env overrides giving each switch a port range of its own (tests of other files may run at the same time).
fn media_env(extra: &[(&'static str, String)]) -> Vec<(&'static str, String)> {
    // A block per rig: the tests of this file run in parallel too (a port another switch holds would refuse
    // the call with 7508).
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 10;
    // 100-port blocks in 2000–11999, below the kernel's ephemeral ports (32768–60999, which any client socket may
    // take) and SIPp's media ports (12000–19999), skipping the blocks of the usual defaults (SIP 5060, SIPp's
    // media 6000, HTTP 8080).
    let blocks: Vec<u32> = (20..120).filter(|b| ![50, 60, 80].contains(b)).collect();
    let slot = ((std::process::id() % 10) * 10 + n) as usize % blocks.len();
    let base = blocks[slot] * 100;
    let mut env = vec![
        ("PNSWITCH__MEDIA__PORT_MIN", base.to_string()),
        ("PNSWITCH__MEDIA__PORT_MAX", (base + 99).to_string()),
    ];
    env.extend(extra.iter().cloned());
    env
}

fn start_rig(extra: &[(&'static str, String)]) -> Rig {
    let env = media_env(extra);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Rig::start(&env)
}

/// A rig with one shard, whose first relay pair is the range's first port (returned), and X bound to A ↔ B.
fn one_shard_axb_rig() -> (Rig, u16) {
    let env = media_env(&[("PNSWITCH__SIP__SHARDS", "1".to_owned())]);
    let first = env
        .iter()
        .find(|(k, _)| *k == "PNSWITCH__MEDIA__PORT_MIN")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let rig = Rig::start(&env);
    let app = rig.switch.app_with_numbers("AXB", &[X]);
    rig.switch.bind_axb(&app, X, A, B, &json!({}));
    (rig, first)
}

/// A calls X and plays `SIPp`'s sample speech (about 7 s), hangs up after `pause_ms`, within `timeout_secs`.
fn a_plays_speech(rig: &Rig, pause_ms: u64, timeout_secs: u64) -> SippRun {
    rig.uac("uac_media_pcap")
        .arg("-mp")
        .arg(media_port().to_string())
        .pause_ms(pause_ms)
        .timeout_secs(timeout_secs)
        .inject(&[&[A, X]])
        .run_ok()
}

/// Asserts `packets` carry `prompt` (A-law, as the shipped file holds it) in full, byte for byte, as one
/// stream with consecutive sequence numbers and timestamps.
fn assert_carries_prompt(packets: &[Received], prompt: &[u8], what: &str) {
    let stream = pn_e2e::rtp::loudest_stream(packets);
    assert!(!stream.is_empty(), "{what}: no RTP received");
    assert!(
        stream.iter().all(|p| p.payload_type == 8),
        "{what}: not PCMA: {:?}",
        stream.iter().map(|p| p.payload_type).collect::<Vec<_>>()
    );
    for w in stream.windows(2) {
        assert_eq!(
            w[1].sequence,
            w[0].sequence.wrapping_add(1),
            "{what}: sequence gap"
        );
        assert_eq!(
            w[1].timestamp,
            w[0].timestamp.wrapping_add(w[0].payload.len() as u32),
            "{what}: timestamp gap"
        );
    }
    let audio = concat_payloads(&stream);
    // The last frame may be padded with silence: compare every whole frame of the prompt.
    let whole = prompt.len() / 160 * 160;
    assert!(
        find(&audio, &prompt[..whole]).is_some(),
        "{what}: the {} bytes received ({} packets) do not contain the {} bytes of the prompt",
        audio.len(),
        stream.len(),
        prompt.len()
    );
}

fn cdr_has_no_recording(cdr: &Value) {
    assert!(
        cdr["recordObjectName"].is_null() || cdr["recordObjectName"] == "",
        "a short call kept a recording: {cdr}"
    );
    assert!(
        cdr["recordFileDownloadUrl"].is_null() || cdr["recordFileDownloadUrl"] == "",
        "{cdr}"
    );
    assert!(
        cdr["recordFlag"].is_null() || cdr["recordFlag"] == 0 || cdr["recordFlag"] == "0",
        "recordFlag of a call under 3 s: {cdr}"
    );
}

#[test]
fn recorded_call_holds_both_parties_and_downloads_through_the_signed_api() {
    let rig = start_rig(&[]);
    let app = rig.switch.app_with_numbers("AXB", &[X]);
    rig.switch.bind_axb(&app, X, A, B, &json!({"recordFlag": "true"}));

    // B says a 1 kHz tone for 5 s; A says SIPp's sample speech (about 7 s).
    write_rtp_pcap(&rig.dir.path().join("tone_1khz.pcap"), &alaw_tone(1000.0, 5.0), 8);
    let b_side = rig
        .uas("uas_media_pcap")
        .arg("-mp")
        .arg(media_port().to_string())
        .timeout_secs(60)
        .spawn();
    let a_side = a_plays_speech(&rig, 8500, 60);
    b_side.finish_ok(SETTLE);
    assert_eq!(a_side.final_invite_response().status(), Some(200));

    let cdrs = wait_cdrs(&rig.switch.data_dir, 1);
    let cdr = cdrs
        .first()
        .unwrap_or_else(|| panic!("no CDR: {:?}", outbox(&rig.switch.data_dir)));
    let object = cdr["recordObjectName"]
        .as_str()
        .unwrap_or_else(|| panic!("no recordObjectName: {cdr}"))
        .to_owned();
    let domain = cdr["recordDomain"]
        .as_str()
        .unwrap_or_else(|| panic!("no recordDomain: {cdr}"))
        .to_owned();
    assert!(
        cdr["recordFileDownloadUrl"]
            .as_str()
            .is_some_and(|u| u.contains(&object)),
        "{cdr}"
    );

    let (status, location, body) = record_download(&rig.switch, &app, &object, &domain);
    assert_eq!(status, 301, "record download: {body}");
    let location = location.expect("a Location header");
    let resp = rig
        .switch
        .client()
        .get(&location)
        .send()
        .expect("GET the signed URL");
    assert_eq!(resp.status().as_u16(), 200, "{location}");
    let wav = resp.bytes().expect("the recording").to_vec();
    let audio = pn_media::parse_wav(&wav, usize::MAX).expect("a WAV file");
    assert_eq!(audio.law, G711Law::ALaw);
    let rec = audio.samples;
    assert!(
        audio.duration_ms() >= 7000 && audio.duration_ms() < 20_000,
        "recording of {} ms",
        audio.duration_ms()
    );

    // B's tone: 20 ms windows dominated by 1 kHz, for most of its 5 s.
    let pcm = decode_alaw(rec);
    let tone_windows = pcm.chunks(160).filter(|w| tone_share(w, 1000.0) > 0.5).count();
    assert!(
        tone_windows >= 150,
        "only {tone_windows} windows of 20 ms carry B's 1 kHz tone (of {})",
        pcm.len() / 160
    );
    // A's speech: once B's tone has ended only A talks, so A's frames are in the mix byte for byte.
    let speech: Vec<Vec<u8>> = read_pcap_rtp(Path::new(G711A_PCAP))
        .into_iter()
        .map(|(_, _, _, payload)| payload)
        .filter(|p| level(&decode_alaw(p)) > 300.0)
        .collect();
    assert!(speech.len() > 100, "g711a.pcap: {} loud frames", speech.len());
    let found = speech.iter().filter(|f| find(rec, f).is_some()).count();
    assert!(
        found >= 20,
        "only {found} of A's {} speech frames are in the recording",
        speech.len()
    );

    // A call under 3 s keeps no file.
    let b_side = rig.uas("uas_answer").spawn();
    rig.uac("uac_basic").pause_ms(1000).inject(&[&[A, X]]).run_ok();
    b_side.finish_ok(SETTLE);
    let cdrs = wait_cdrs(&rig.switch.data_dir, 2);
    assert_eq!(cdrs.len(), 2, "{cdrs:?}");
    cdr_has_no_recording(&cdrs[1]);
    let files: Vec<_> = walk(&rig.switch.data_dir.join("recordings"));
    assert_eq!(files.len(), 1, "recording files: {files:?}");
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn prompt_before_rejection_plays_in_early_media_then_404_8014() {
    let rig = start_rig(&[]);
    let app = rig.switch.app_with_numbers("AXB", &[X]);
    rig.switch.bind_axb(&app, X, A, B, &json!({}));
    let (status, body) = rig.switch.admin(
        Method::PUT,
        &format!("/admin/v1/apps/{}", app.0),
        Some(&json!({"noBindingPrompt": "no_binding.wav"})),
    );
    assert_eq!(status, 200, "{body}");

    let sink = RtpSink::bind();
    let b_side = rig.uas("uas_answer").spawn();
    let started = Instant::now();
    let a_side = rig
        .uac("uac_media_reject")
        .inject(&[&[C, X, &sink.port().to_string()]])
        .run_ok();
    let took = started.elapsed();
    let b_side = b_side.stop();
    assert!(b_side.received().is_empty(), "{}", b_side.received_text());

    let early = a_side
        .received()
        .into_iter()
        .find(|m| m.status() == Some(183))
        .unwrap_or_else(|| panic!("no 183\n{}", a_side.diagnostics()));
    assert!(
        early.body().contains("m=audio"),
        "183 without SDP:\n{}",
        early.text
    );
    let fin = a_side.final_invite_response();
    assert_eq!(fin.status(), Some(404), "{}", fin.text);
    let reason = fin.headers("Reason").join(" | ");
    assert!(
        reason.contains("8014"),
        "Reason lacks 8014: {reason:?}\n{}",
        fin.text
    );

    let prompt = prompt_samples(pn_media::prompts::NO_BINDING);
    assert!(
        took >= Duration::from_millis(prompt.len() as u64 / 8 - 200),
        "the 404 came {took:?} after the INVITE, before the {} ms prompt could play",
        prompt.len() / 8
    );
    assert_carries_prompt(&sink.packets(), &prompt, "A (no-binding prompt)");

    // The outbox: the call's disconnect carries stateCode 8014.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let rows = outbox(&rig.switch.data_dir);
        let hit = rows
            .iter()
            .any(|(_, v)| v["stateCode"] == 8014 || v["stateCode"] == "8014" || v["ulFailReason"] == 8014);
        if hit {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no stateCode 8014 in the outbox: {rows:#?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn relay_passes_sipp_rtp_through_intact() {
    relay_sipp_rtp(&start_rig(&[]));
}

/// A callee whose SDP names the relay's own first port (a hard-coded SDP, or an attacker): relaying A's media
/// there would send it to the relay itself, which would relay it again, for ever, with the shard's thread spent
/// on it and the call's BYE left unanswered (seen in `sipp_axe` when a test switch's range began at the fixed
/// port of `uas_axe_answer`). The relay sends nothing to its own ports: the call runs and ends normally and not
/// one datagram is forwarded, where the loop forwarded thousands a second.
#[test]
fn a_callee_sdp_naming_the_relays_own_port_makes_no_media_loop() {
    // One shard: its first pair is the range's first port, the one B's SDP names.
    let (rig, own) = one_shard_axb_rig();
    let b_side = rig
        .uas("uas_media_port")
        .inject(&[&[own.to_string().as_str()]])
        .timeout_secs(60)
        .spawn();
    let a_side = a_plays_speech(&rig, 3000, 30);
    b_side.finish_ok(SETTLE);
    assert_eq!(a_side.final_invite_response().status(), Some(200));
    let metrics = rig.switch.metrics();
    let packets = |outcome: &str| {
        metric_value(
            &metrics,
            &format!("pn_media_packets_total{{outcome=\"{outcome}\"}}"),
        )
    };
    assert_eq!(
        packets("forwarded"),
        Some(0.0),
        "media relayed to the relay itself:\n{metrics}"
    );
    let sent = read_pcap_rtp(Path::new(G711A_PCAP)).len();
    #[allow(clippy::cast_precision_loss)] // a few hundred packets
    let sent = sent as f64;
    // A's packets until its BYE (its pcap lasts longer) are each dropped once, with nowhere to go.
    let dropped = packets("dropped").unwrap_or(0.0);
    assert!(
        (50.0..=sent).contains(&dropped),
        "A's packets (the pcap has {sent}) are each dropped once:\n{metrics}"
    );
}

/// A relay port that never stops being readable (a flood of datagrams at it, here garbage at a parked port of an
/// ended call, as anyone may send) must not starve the SIP that the same shard reads: while a thread floods the
/// port for 3 s, the switch answers every OPTIONS within a second (the relay's own loop, which starved it, is
/// `a_callee_sdp_naming_the_relays_own_port_makes_no_media_loop`; pn-runtime's
/// `a_self_feeding_relay_leaves_the_shards_other_tasks_their_turn` covers the receive tasks' yield).
#[test]
fn a_flooded_relay_port_does_not_starve_the_shards_signalling() {
    let (rig, first) = one_shard_axb_rig();
    // One call binds the shard's first pairs; they stay bound, parked, after it.
    let b_side = rig.uas("uas_answer").spawn();
    rig.uac("uac_basic").pause_ms(200).inject(&[&[A, X]]).run_ok();
    b_side.finish_ok(SETTLE);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flood = {
        let stop = std::sync::Arc::clone(&stop);
        std::thread::spawn(move || {
            let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            let garbage = [0xffu8; 64];
            let until = Instant::now() + Duration::from_secs(3);
            let mut sent = 0u64;
            while Instant::now() < until && !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if socket.send_to(&garbage, ("127.0.0.1", first)).is_ok() {
                    sent += 1;
                }
            }
            sent
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    let probe = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    probe.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let local = probe.local_addr().unwrap();
    let mut answered = Vec::new();
    for i in 0..5 {
        let options = format!(
            "OPTIONS sip:{sip} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-flood{i}\r\n\
             From: <sip:probe@{local}>;tag=f{i}\r\nTo: <sip:{sip}>\r\nCall-ID: flood-{i}@{local}\r\n\
             CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
            sip = rig.switch.sip
        );
        let sent = Instant::now();
        probe.send_to(options.as_bytes(), rig.switch.sip).unwrap();
        let mut buf = [0u8; 2048];
        let answer = probe.recv_from(&mut buf).ok().map(|(n, _)| {
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            (text.lines().next().unwrap_or_default().to_owned(), sent.elapsed())
        });
        answered.push(answer);
        std::thread::sleep(Duration::from_millis(200));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let flooded = flood.join().unwrap();
    let dropped = rig
        .switch
        .metric("pn_media_packets_total{outcome=\"dropped\"}")
        .unwrap_or(0.0);
    assert!(
        answered.iter().all(|a| a
            .as_ref()
            .is_some_and(|(line, _)| line.starts_with("SIP/2.0 200"))),
        "OPTIONS unanswered within 1 s while {flooded} datagrams flooded port {first} ({dropped} read and \
         dropped): {answered:?}"
    );
    #[allow(clippy::cast_precision_loss)] // a count for a message
    let flooded_f = flooded as f64;
    assert!(
        dropped > 1000.0 && dropped <= flooded_f,
        "the flood reached the port: {dropped} of {flooded}"
    );
}

/// `sip.pin_shards`: each shard thread runs on the CPU of its index among those the switch may use (the test's
/// own set: the switch inherits it), and the pinned relay passes `SIPp`'s RTP intact, its datagrams counted by
/// how they left (`pn_media_sends_total`).
#[test]
fn pinned_shards_run_each_on_its_own_cpu_and_relay_intact() {
    let rig = start_rig(&[
        ("PNSWITCH__SIP__PIN_SHARDS", "true".to_owned()),
        ("PNSWITCH__SIP__SHARDS", "3".to_owned()),
    ]);
    let allowed = cpu_list(&status_field("/proc/self/status", "Cpus_allowed_list"));
    let mut shards = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{}/task", rig.switch.pid())).unwrap() {
        let task = task.unwrap().path();
        let name = std::fs::read_to_string(task.join("comm")).unwrap_or_default();
        if let Some(index) = name.trim().strip_prefix("pn-shard-") {
            let index: usize = index.parse().unwrap();
            let cpus = cpu_list(&status_field(task.join("status"), "Cpus_allowed_list"));
            shards.push((index, cpus));
        }
    }
    shards.sort();
    let expected: Vec<(usize, Vec<usize>)> = (0..3).map(|i| (i, vec![allowed[i % allowed.len()]])).collect();
    assert_eq!(shards, expected, "the switch may use CPUs {allowed:?}");
    relay_sipp_rtp(&rig);
    let metrics = rig.switch.metrics();
    let sends = |kind: &str| metric_value(&metrics, &format!("pn_media_sends_total{{kind=\"{kind}\"}}"));
    let sent = sends("sendto").unwrap_or(0.0) + sends("sendmmsg").unwrap_or(0.0);
    assert!(sent > 0.0, "no send counted:\n{metrics}");
    assert_eq!(sends("failed"), Some(0.0), "{metrics}");
}

/// A field of a `/proc/…/status` file.
fn status_field(path: impl AsRef<Path>, field: &str) -> String {
    let text = std::fs::read_to_string(path.as_ref()).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("{field} missing in {}", path.as_ref().display()))
        .trim()
        .to_owned()
}

/// The CPUs of a list like `0-2,5`.
fn cpu_list(text: &str) -> Vec<usize> {
    text.split(',')
        .flat_map(|item| {
            let (lo, hi) = item.split_once('-').unwrap_or((item, item));
            lo.trim().parse::<usize>().unwrap()..=hi.trim().parse::<usize>().unwrap()
        })
        .collect()
}

/// A over X to B with the relay: `SIPp`'s pcap RTP reaches B byte for byte, in order.
fn relay_sipp_rtp(rig: &Rig) {
    let app = rig.switch.app_with_numbers("AXB", &[X]);
    rig.switch.bind_axb(&app, X, A, B, &json!({}));
    let sink_b = RtpSink::bind();
    let b_side = rig
        .uas("uas_media_port")
        .inject(&[&[sink_b.port().to_string()]])
        .timeout_secs(60)
        .spawn();
    a_plays_speech(rig, 8000, 60);
    b_side.finish_ok(SETTLE);

    let sent = read_pcap_rtp(Path::new(G711A_PCAP));
    let got = sink_b.packets();
    assert!(
        got.len() >= sent.len() * 95 / 100,
        "B received {} of the {} packets A sent",
        got.len(),
        sent.len()
    );
    // The relay forwards the very packets: sequence numbers, timestamps and payloads as sent.
    let mut matched = 0;
    for p in &got {
        let orig = sent
            .iter()
            .find(|s| s.0 == p.sequence)
            .unwrap_or_else(|| panic!("B received sequence {} that A never sent", p.sequence));
        assert_eq!(
            (orig.1, orig.2, &orig.3),
            (p.timestamp, p.payload_type, &p.payload),
            "packet {} altered",
            p.sequence
        );
        matched += 1;
    }
    assert!(matched > 0);
    let seqs: Vec<u16> = got.iter().map(|p| p.sequence).collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0].wrapping_add(1)),
        "out of order: {seqs:?}"
    );
}

#[test]
fn last_minute_voice_reaches_both_parties() {
    // No dead-media release while the test's sockets stay silent for a minute.
    let rig = start_rig(&[("PNSWITCH__MEDIA__TIMEOUT_SECS", "600".to_owned())]);
    let app = rig.switch.app_with_numbers("AXB", &[X]);
    rig.switch.bind_axb(
        &app,
        X,
        A,
        B,
        &json!({"maxDuration": 2, "lastMinVoice": pn_media::prompts::LAST_MINUTE}),
    );
    let (sink_a, sink_b) = (RtpSink::bind(), RtpSink::bind());
    let b_side = rig
        .uas("uas_media_port")
        .inject(&[&[sink_b.port().to_string()]])
        .timeout_secs(120)
        .spawn();
    let started = Instant::now();
    let a_side = rig
        .uac("uac_media_port")
        .pause_ms(66_000)
        .timeout_secs(100)
        .inject(&[&[A, X, &sink_a.port().to_string()]])
        .run_ok();
    b_side.finish_ok(SETTLE);
    assert_eq!(a_side.final_invite_response().status(), Some(200));

    let prompt = prompt_samples(pn_media::prompts::LAST_MINUTE);
    for (sink, who) in [(&sink_a, "A"), (&sink_b, "B")] {
        let packets = sink.packets();
        assert_carries_prompt(&packets, &prompt, &format!("{who} (last-minute voice)"));
        let first = pn_e2e::rtp::loudest_stream(&packets)[0]
            .at
            .duration_since(started);
        assert!(
            first >= Duration::from_secs(55) && first <= Duration::from_secs(64),
            "{who} heard the last-minute voice {first:?} after the call started, not at answer + 60 s"
        );
    }
}
