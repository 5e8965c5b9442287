//! Prompts and tones through the real binary (relay mode), with `SIPp` as both trunks and the audio checked on
//! UDP sockets the test owns (named in a party's SDP): a prompt uploaded through the admin API is what plays
//! before a rejection (and invalid uploads or unknown prompt names are refused); AXE `callbackTone` and
//! `callbackNum` when A dials X without a callback record; AXB `preVoice` caller and callee hint tones; the
//! recording notice before a recorded call, with per-party recording files; AXE extension keyed as in-band
//! DTMF tones (the caller offers no telephone-event).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test: failing loudly is the point
#![allow(clippy::similar_names)] // caller/callee, uac/uas are the domain's names

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use pn_e2e::axe::{
    axe_app, bind_axe, disconnect_code, show, start_rig, update_app, wait_for_fact, wait_for_outbox,
};
use pn_e2e::rtp::{
    Received, RtpSink, Then, alaw_dtmf, alaw_tone, alaw_wav, assert_continuous_pcma, assert_exactly,
    concat_payloads, decode_alaw, early_media, find, loudest_stream, shipped_prompt, tone_share,
    upload_prompt, wait_cdrs,
};
use pn_e2e::sipp::{AXB_PATH, Rig, assert_refused, national_digits, user_of};
use pn_media::G711Law;
use reqwest::Method;
use serde_json::json;

/// A: the bound caller (AXB) / the bound number (AXE).
const A: &str = "+8613800000001";
/// B: A's partner in AXB.
const B: &str = "+8613900000002";
/// C: a number with no binding on X (AXB), or a caller who knows X (AXE).
const C: &str = "+8613700000003";
/// N: the AXE `callbackNum`.
const N: &str = "+8613600000006";
/// X: the privacy number.
const X: &str = "+8617000000001";
/// The AXE extension (the app's default 4 digits).
const EXT: &str = "1234";

/// The name of the prompt the tests upload.
const CUSTOM: &str = "custom_600hz.wav";

/// How long a UAS may take to finish after its UAC did.
const SETTLE: Duration = Duration::from_secs(10);

/// Asserts `packets` carry `prompt` in full, byte for byte (every whole frame of it), in one continuous
/// PCMA stream; returns that stream.
fn assert_carries(packets: &[Received], prompt: &[u8], what: &str) -> Vec<Received> {
    let stream = loudest_stream(packets);
    assert_continuous_pcma(&stream, what);
    let audio = concat_payloads(&stream);
    let whole = prompt.len() / 160 * 160;
    assert!(
        find(&audio, &prompt[..whole]).is_some(),
        "{what}: the {} bytes received ({} packets) do not contain the {} bytes of the prompt",
        audio.len(),
        stream.len(),
        prompt.len()
    );
    stream
}

/// The stream of `packets` that carries the most of `prompt`'s frames (a prompt's own stream, told apart
/// from relayed audio by its SSRC).
fn prompt_stream(packets: &[Received], prompt: &[u8]) -> Vec<Received> {
    pn_e2e::rtp::streams(packets)
        .into_iter()
        .max_by_key(|stream| {
            stream
                .iter()
                .filter(|p| p.payload.len() == 160 && p.payload.iter().any(|&b| b != G711Law::ALaw.silence()))
                .filter(|p| find(prompt, &p.payload).is_some())
                .count()
        })
        .unwrap_or_default()
}

/// Admin `GET` of a prompt file: (HTTP status, body bytes).
fn get_prompt(rig: &Rig, app_key: &str, name: &str) -> (u16, Vec<u8>) {
    let resp = rig
        .switch
        .client()
        .get(format!(
            "{}/admin/v1/apps/{app_key}/prompts/{name}",
            rig.switch.base
        ))
        .bearer_auth(&rig.switch.admin_token)
        .send()
        .expect("GET prompt");
    let status = resp.status().as_u16();
    (status, resp.bytes().expect("body").to_vec())
}

/// Writes `value` little-endian at `at` (patching a WAV header).
fn patch(bytes: &mut [u8], at: usize, value: &[u8]) {
    bytes[at..at + value.len()].copy_from_slice(value);
}

/// An uploaded 600 Hz tone set as the app's `noBindingPrompt` is exactly what an unbound caller hears in early
/// media before its 404 (8014). A 16 kHz or stereo file is refused (400, 1010002) and not stored; a binding
/// naming a prompt that does not exist is refused (1010002 `…does not exist.`), one naming the upload is not.
#[test]
fn uploaded_prompt_is_what_plays_before_the_rejection() {
    let rig = start_rig(&[]);
    let app = rig.switch.app_with_numbers("AXB", &[X]);
    rig.switch.bind_axb(&app, X, A, B, &json!({}));

    // Upload: 2 s of 600 Hz, 8 kHz mono A-law.
    let tone = alaw_tone(600.0, 2.0);
    let file = alaw_wav(&tone);
    let (status, answer) = upload_prompt(&rig.switch, &app.0, CUSTOM, file.clone());
    assert_eq!(
        (status, answer["resultcode"].as_str()),
        (200, Some("0")),
        "{answer}"
    );
    let prompt = &answer["prompt"];
    assert_eq!(prompt["name"], CUSTOM, "{answer}");
    assert_eq!(prompt["bytes"], file.len(), "{answer}");
    assert_eq!(prompt["durationMs"], 2000, "{answer}");
    assert_eq!(prompt["law"], "alaw", "{answer}");
    assert_eq!(prompt["shipped"], false, "{answer}");
    assert_eq!(get_prompt(&rig, &app.0, CUSTOM), (200, file.clone()));

    // Refused files: 16 kHz, stereo. Neither is stored.
    let mut wide = file.clone();
    patch(&mut wide, 24, &16_000u32.to_le_bytes()); // sample rate
    patch(&mut wide, 28, &16_000u32.to_le_bytes()); // byte rate
    let mut stereo = file.clone();
    patch(&mut stereo, 22, &2u16.to_le_bytes()); // channels
    patch(&mut stereo, 28, &16_000u32.to_le_bytes()); // byte rate
    patch(&mut stereo, 32, &2u16.to_le_bytes()); // block align
    for (name, bad, why) in [
        ("wide_16k.wav", wide, "sample rate 16000"),
        ("stereo.wav", stereo, "2 channels"),
    ] {
        let (status, answer) = upload_prompt(&rig.switch, &app.0, name, bad);
        assert_eq!(
            (status, answer["resultcode"].as_str()),
            (400, Some("1010002")),
            "{name}: {answer}"
        );
        let desc = answer["resultdesc"].as_str().unwrap_or_default();
        assert!(
            desc.ends_with(why),
            "{name}: resultdesc {desc:?} does not say {why:?}"
        );
        assert_eq!(
            get_prompt(&rig, &app.0, name).0,
            404,
            "a refused upload {name} was stored"
        );
    }

    // Bindings: a prompt that does not exist is refused; the upload is accepted.
    let body = json!({"relationNum": X, "callerNum": "+8613800000011", "calleeNum": "+8613900000012",
        "preVoice": {"callerHintTone": "missing_prompt.wav"}});
    let (status, answer) = rig.switch.signed(Method::POST, AXB_PATH, &app, Some(&body));
    assert_eq!(
        answer["resultcode"].as_str(),
        Some("1010002"),
        "HTTP {status}: {answer}"
    );
    assert_eq!(
        answer["resultdesc"].as_str(),
        Some("Invalid request.missing_prompt.wav does not exist."),
        "{answer}"
    );
    assert_eq!(status, 403, "{answer}");
    rig.switch.bind_axb(
        &app,
        X,
        "+8613800000011",
        "+8613900000012",
        &json!({"preVoice": {"callerHintTone": CUSTOM}}),
    );

    // The app plays the upload before refusing a caller without a binding.
    let updated = update_app(&rig, &app, &json!({"noBindingPrompt": CUSTOM}));
    assert_eq!(updated["noBindingPrompt"], CUSTOM, "{updated}");
    let sink = RtpSink::bind();
    let b_side = rig.uas("uas_answer").spawn();
    let started = Instant::now();
    let c_side = rig
        .uac("uac_media_reject")
        .inject(&[&[C, X, &sink.port().to_string()]])
        .run_ok();
    let took = started.elapsed();
    let b_side = b_side.stop();
    assert!(b_side.received().is_empty(), "{}", b_side.received_text());
    early_media(&c_side);
    assert_refused(&c_side, 404, "8014");
    assert!(
        took >= Duration::from_millis(1800),
        "the 404 came {took:?} after the INVITE, before the 2 s prompt could play"
    );
    assert_exactly(&sink.packets(), &tone, "C (uploaded noBindingPrompt)");
    let pcm = decode_alaw(&concat_payloads(&loudest_stream(&sink.packets())));
    assert!(
        tone_share(&pcm, 600.0) > 0.9,
        "the received audio is not the 600 Hz tone"
    );

    let facts = wait_for_fact(&rig.switch.data_dir, "a disconnect event", |f| {
        f.event_type() == Some("disconnect")
    });
    assert_eq!(disconnect_code(&facts), Some(8014), "{}", show(&facts));
}

/// AXE `callbackTone` (shipped `no_callback.wav`): A dials X without a callback record, gets 183, hears the
/// tone, then 404 with 8019; nothing reaches the egress.
#[test]
fn axe_callback_tone_plays_before_8019() {
    let rig = start_rig(&[]);
    let app = axe_app(&rig, &[X], &json!({}));
    bind_axe(
        &rig,
        &app,
        A,
        X,
        EXT,
        &json!({"callbackTone": pn_media::prompts::NO_CALLBACK}),
    );

    let sink = RtpSink::bind();
    let egress = rig.uas("uas_axe_answer").spawn();
    let started = Instant::now();
    let a_side = rig
        .uac("uac_media_reject")
        .inject(&[&[A, X, &sink.port().to_string()]])
        .run_ok();
    let took = started.elapsed();
    let egress = egress.stop();
    assert!(egress.received().is_empty(), "{}", egress.received_text());
    early_media(&a_side);
    assert_refused(&a_side, 404, "8019");
    let tone = shipped_prompt(pn_media::prompts::NO_CALLBACK);
    assert!(
        took >= Duration::from_millis(tone.len() as u64 / 8 - 200),
        "the 404 came {took:?} after the INVITE, before the {} ms callback tone could play",
        tone.len() / 8
    );
    assert_exactly(&sink.packets(), &tone, "A (callbackTone)");
    let facts = wait_for_fact(&rig.switch.data_dir, "a disconnect event", |f| {
        f.event_type() == Some("disconnect")
    });
    assert_eq!(disconnect_code(&facts), Some(8019), "{}", show(&facts));
}

/// AXE `callbackNum` N: A dials X without a callback record; the switch calls N from X (no prompt, no digit
/// collection) and the call connects.
#[test]
fn axe_callback_num_is_called_from_x() {
    let rig = start_rig(&[]);
    let app = axe_app(&rig, &[X], &json!({}));
    bind_axe(&rig, &app, A, X, EXT, &json!({"callbackNum": N}));

    let n_leg = rig.uas("uas_answer").spawn();
    let a_side = rig.uac("uac_basic").pause_ms(300).inject(&[&[A, X]]).run_ok();
    let n_leg = n_leg.finish_ok(SETTLE);
    assert_eq!(a_side.final_invite_response().status(), Some(200));
    assert!(
        !a_side.received_statuses().contains(&183),
        "the callback collected digits or played a prompt: {:?}",
        a_side.received_statuses()
    );
    let invite = n_leg.first_request("INVITE");
    let ruri = invite.start_line().split(' ').nth(1).unwrap_or("");
    assert!(
        user_of(ruri).ends_with(national_digits(N)),
        "Request-URI is not N:\n{}",
        invite.text
    );
    let to = invite.header("To").unwrap_or_default();
    assert!(
        user_of(&to).ends_with(national_digits(N)),
        "To is not N:\n{}",
        invite.text
    );
    let from = invite.header("From").unwrap_or_default();
    assert!(
        user_of(&from).ends_with(national_digits(X)),
        "From is not X:\n{}",
        invite.text
    );
    pn_e2e::sipp::assert_absent(&n_leg.received_text(), national_digits(A), "what N received");
    let facts = wait_for_fact(&rig.switch.data_dir, "a disconnect event", |f| {
        f.event_type() == Some("disconnect")
    });
    assert_eq!(disconnect_code(&facts), Some(0), "{}", show(&facts));
}

/// AXB `preVoice`: while B rings (4 s) A gets 183 and hears `please_wait.wav` (looped: it lasts 2.8 s); once B
/// answers the hint stops and B hears `record_notice.wav` as its callee hint; then the call goes on and ends
/// normally with A's BYE.
#[test]
fn caller_and_callee_hint_tones() {
    let rig = start_rig(&[]);
    let app = rig.switch.app_with_numbers("AXB", &[X]);
    let caller_hint = pn_media::prompts::PLEASE_WAIT;
    let callee_hint = pn_media::prompts::RECORD_NOTICE;
    rig.switch.bind_axb(
        &app,
        X,
        A,
        B,
        &json!({"preVoice": {"callerHintTone": caller_hint, "calleeHintTone": callee_hint}}),
    );
    let (sink_a, sink_b) = (RtpSink::bind(), RtpSink::bind());
    let ring = Duration::from_secs(4);
    let b_side = rig
        .uas("uas_ring_media_port")
        .pause_ms(ring.as_millis() as u64)
        .inject(&[&[sink_b.port().to_string()]])
        .spawn();
    let started = Instant::now();
    let a_side = rig
        .uac("uac_media_port")
        .pause_ms(5000)
        .inject(&[&[A, X, &sink_a.port().to_string()]])
        .run_ok();
    let b_side = b_side.finish_ok(SETTLE);
    early_media(&a_side);
    let statuses = a_side.received_statuses();
    let (p183, p200) = (
        statuses.iter().position(|&s| s == 183),
        statuses.iter().position(|&s| s == 200),
    );
    assert!(p183 < p200 && p183.is_some(), "A's responses: {statuses:?}");
    assert_eq!(a_side.final_invite_response().status(), Some(200));
    assert!(b_side.first_request("BYE").text.contains("BYE"));

    // A: please_wait, from the start of ringing until B answered (4 s: the 2.8 s prompt, then it again).
    let wait = shipped_prompt(caller_hint);
    let hint = assert_carries(&sink_a.packets(), &wait, "A (callerHintTone)");
    let first = hint[0].at.duration_since(started);
    let span = hint[hint.len() - 1].at.duration_since(hint[0].at);
    assert!(
        first < Duration::from_secs(1),
        "A heard the hint only {first:?} after calling"
    );
    assert!(
        span + Duration::from_millis(500) >= ring && span <= ring + Duration::from_millis(1500),
        "A heard the hint for {span:?}, B rang for {ring:?}"
    );
    let heard = concat_payloads(&hint);
    assert!(
        heard.len() > wait.len() && heard.starts_with(&wait[..wait.len() / 160 * 160]),
        "the hint is not the prompt from its start, looped ({} bytes heard, prompt {})",
        heard.len(),
        wait.len()
    );
    // Looped: the prompt's start again right after its end.
    assert!(
        heard[wait.len()..].starts_with(&wait[..800]),
        "the caller hint did not loop"
    );

    // B: the callee hint, in full, after answering; A hears nothing of it.
    let notice = shipped_prompt(callee_hint);
    assert_exactly(&sink_b.packets(), &notice, "B (calleeHintTone)");
    let b_first = sink_b.packets()[0].at.duration_since(started);
    assert!(
        b_first + Duration::from_millis(300) >= ring,
        "B heard something {b_first:?} after the call started, before answering"
    );
    let a_notice = sink_a
        .packets()
        .iter()
        .filter(|p| p.payload.len() == 160 && p.payload.iter().any(|&b| b != G711Law::ALaw.silence()))
        .filter(|p| find(&notice, &p.payload).is_some())
        .count();
    assert_eq!(a_notice, 0, "A heard the callee hint");

    let facts = wait_for_fact(&rig.switch.data_dir, "a disconnect event", |f| {
        f.event_type() == Some("disconnect")
    });
    assert_eq!(disconnect_code(&facts), Some(0), "{}", show(&facts));
}

/// The files directly under `dir`.
fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .collect();
    out.sort();
    out
}

/// The 20 ms windows of A-law `audio` dominated (share > 0.5) by `freq`.
fn windows_of(audio: &[u8], freq: f64) -> usize {
    decode_alaw(audio)
        .chunks(160)
        .filter(|w| tone_share(w, freq) > 0.5)
        .count()
}

/// Asserts the first stream `packets` carry is `notice`, in full, and that the other party's `other_freq` tone
/// (relayed, another SSRC) came only once the notice was over.
fn assert_notice_first(packets: &[Received], notice: &[u8], who: &str, other_freq: f64) {
    let stream = prompt_stream(packets, notice);
    assert_continuous_pcma(&stream, who);
    assert!(
        find(&concat_payloads(&stream), &notice[..notice.len() / 160 * 160]).is_some(),
        "{who} did not hear the whole recording notice"
    );
    assert_eq!(
        packets[0].ssrc, stream[0].ssrc,
        "{who}: the first thing heard was not the notice"
    );
    let tone_at = packets
        .iter()
        .filter(|p| p.ssrc != stream[0].ssrc)
        .find(|p| tone_share(&decode_alaw(&p.payload), other_freq) > 0.5)
        .unwrap_or_else(|| panic!("{who} never heard the other party's {other_freq} Hz"))
        .at;
    let notice_end = stream[stream.len() - 1].at;
    assert!(
        tone_at + Duration::from_millis(100) >= notice_end,
        "{who} heard the other party {:?} before the notice ended",
        notice_end.duration_since(tone_at)
    );
}

/// Asserts `data_dir/recordings/<app id>/` holds exactly `<name>.wav`, `<name>_a.wav` and `<name>_b.wav`, valid
/// A-law WAV files of 5–15 s: `_a` only A's 440 Hz, `_b` only B's 1000 Hz, the mix both, none of them any of
/// the `notice`.
fn assert_per_party_files(data_dir: &Path, name: &str, notice: &[u8]) {
    // The files: data_dir/recordings/<app id>/{name, name_a, name_b}.wav.
    let dirs = files_in(&data_dir.join("recordings"));
    assert_eq!(dirs.len(), 1, "one app directory: {dirs:?}");
    let files = files_in(&dirs[0]);
    let want: Vec<PathBuf> = ["", "_a", "_b"]
        .iter()
        .map(|s| dirs[0].join(format!("{name}{s}.wav")))
        .collect();
    let mut sorted = want.clone();
    sorted.sort();
    assert_eq!(files, sorted, "the recording files");
    let read = |p: &Path| -> Vec<u8> {
        let bytes = std::fs::read(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
        let audio = pn_media::parse_wav(&bytes, usize::MAX)
            .unwrap_or_else(|e| panic!("{} is not a valid WAV: {e}", p.display()));
        assert_eq!(audio.law, G711Law::ALaw, "{}", p.display());
        assert!(
            audio.duration_ms() >= 5000 && audio.duration_ms() < 15_000,
            "{}: {} ms",
            p.display(),
            audio.duration_ms()
        );
        audio.samples.to_vec()
    };
    let (mix, only_a, only_b) = (read(&want[0]), read(&want[1]), read(&want[2]));
    let frames = |a: &[u8]| a.len() / 160;
    let (a440, a1k) = (windows_of(&only_a, 440.0), windows_of(&only_a, 1000.0));
    let (b440, b1k) = (windows_of(&only_b, 440.0), windows_of(&only_b, 1000.0));
    assert!(
        a440 * 10 >= frames(&only_a) * 8 && a1k == 0,
        "_a: {a440} windows of 440 Hz, {a1k} of 1000 Hz, of {}",
        frames(&only_a)
    );
    assert!(
        b1k * 10 >= frames(&only_b) * 8 && b440 == 0,
        "_b: {b1k} windows of 1000 Hz, {b440} of 440 Hz, of {}",
        frames(&only_b)
    );
    // The mix: both tones in most windows.
    let both = decode_alaw(&mix)
        .chunks(160)
        .filter(|w| tone_share(w, 440.0) > 0.2 && tone_share(w, 1000.0) > 0.2)
        .count();
    assert!(
        both * 10 >= frames(&mix) * 7,
        "the mix has both tones in only {both} of {} windows",
        frames(&mix)
    );
    // Recording started after the notice: no notice audio in any file.
    for (audio, which) in [(&mix, "mix"), (&only_a, "_a"), (&only_b, "_b")] {
        let notice_frames = notice
            .chunks(160)
            .filter(|f| f.len() == 160 && f.iter().any(|&b| b != G711Law::ALaw.silence()))
            .filter(|f| find(audio, f).is_some())
            .count();
        assert_eq!(
            notice_frames, 0,
            "{which} holds {notice_frames} frames of the notice"
        );
    }
}

/// A recorded AXB call with `recordHintTone` and per-party files: both parties hear `record_notice.wav`
/// before anything else; recording starts after answer (once both heard it); A says 440 Hz, B 1000 Hz; the
/// app's recordings directory holds the mix and `_a` / `_b` files, each a valid A-law WAV with only its
/// party's tone (the mix both).
#[test]
fn recording_notice_then_per_party_files() {
    let rig = start_rig(&[("PNSWITCH__MEDIA__RECORD_PER_PARTY", "true")]);
    let app = rig.switch.app_with_numbers("AXB", &[X]);
    let notice_name = pn_media::prompts::RECORD_NOTICE;
    rig.switch.bind_axb(
        &app,
        X,
        A,
        B,
        &json!({"recordFlag": "true", "recordHintTone": notice_name}),
    );
    let (mut sink_a, mut sink_b) = (RtpSink::bind(), RtpSink::bind());
    let b_side = rig
        .uas("uas_media_port")
        .inject(&[&[sink_b.port().to_string()]])
        .timeout_secs(60)
        .spawn();
    let mut a_side = rig
        .uac("uac_media_port")
        .pause_ms(9000)
        .timeout_secs(60)
        .inject(&[&[A, X, &sink_a.port().to_string()]])
        .spawn();
    // Each party starts talking once the switch sends it something (the notice, after answer), from the
    // socket its SDP names, to the relay socket facing it.
    let (to_a, to_b) = (
        sink_a.first_sender(Duration::from_secs(15)),
        sink_b.first_sender(Duration::from_secs(5)),
    );
    let (Some(to_a), Some(to_b)) = (to_a, to_b) else {
        panic!(
            "the switch sent nothing to A ({to_a:?}) or B ({to_b:?}) after answer\n{}\n{}",
            a_side.stop().diagnostics(),
            b_side.stop().diagnostics()
        );
    };
    sink_a.send_audio(to_a, alaw_tone(440.0, 1.0), Then::Repeat);
    sink_b.send_audio(to_b, alaw_tone(1000.0, 1.0), Then::Repeat);
    let a_run = a_side.wait_for(Duration::from_secs(60));
    a_run.assert_ok();
    b_side.finish_ok(SETTLE);
    assert_eq!(a_run.final_invite_response().status(), Some(200));

    // Each party: the notice first, in full, then the other party's tone.
    let notice = shipped_prompt(notice_name);
    assert_notice_first(&sink_a.packets(), &notice, "A", 1000.0);
    assert_notice_first(&sink_b.packets(), &notice, "B", 440.0);

    // The CDR: recorded, starting after answer (after the 2 s notice).
    let cdrs = wait_cdrs(&rig.switch.data_dir, 1);
    let cdr = cdrs.first().expect("a CDR");
    let answered = cdr["fwdAnswerTime"]
        .as_str()
        .unwrap_or_else(|| panic!("no fwdAnswerTime: {cdr}"));
    let recorded = cdr["recordStartTime"]
        .as_str()
        .unwrap_or_else(|| panic!("no recordStartTime: {cdr}"));
    assert!(
        recorded > answered,
        "recordStartTime {recorded} is not after the answer {answered} (the notice lasts 2 s): {cdr}"
    );
    assert!(cdr["recordFlag"] == 1 || cdr["recordFlag"] == "1", "{cdr}");
    let object = cdr["recordObjectName"]
        .as_str()
        .unwrap_or_else(|| panic!("no recordObjectName: {cdr}"));
    let name = object.strip_suffix(".wav").unwrap_or(object);

    assert_per_party_files(&rig.switch.data_dir, name, &notice);
}

/// AXE with `inbandDtmf`: the caller offers PCMA only (no telephone-event) and keys the extension as DTMF tones
/// in its audio (100 ms tone + 100 ms silence per key); the switch detects them, reports them in `collectInfo`
/// and calls A from X.
#[test]
fn axe_extension_by_inband_dtmf_reaches_a() {
    let rig = start_rig(&[]);
    let app = axe_app(&rig, &[X], &json!({"inbandDtmf": true}));
    bind_axe(&rig, &app, A, X, EXT, &json!({}));

    let mut sink = RtpSink::bind();
    let a_leg = rig.uas("uas_axe_answer").spawn();
    let mut c_side = rig
        .uac("uac_axe_inband")
        .pause_ms(500)
        .inject(&[&[C, X, &sink.port().to_string()]])
        .spawn();
    // The extension prompt reaches C's socket: key the extension back to where it comes from.
    let Some(relay) = sink.first_sender(Duration::from_secs(10)) else {
        panic!(
            "the switch played nothing to C\n{}\n{}",
            c_side.stop().diagnostics(),
            a_leg.stop().diagnostics()
        );
    };
    std::thread::sleep(Duration::from_millis(300));
    let mut keys = vec![G711Law::ALaw.silence(); 800]; // 100 ms of silence first
    keys.extend(alaw_dtmf(EXT, 100, 100));
    sink.send_audio(relay, keys, Then::Silence);
    let c_run = c_side.wait_for(Duration::from_secs(45));
    c_run.assert_ok();
    let a_leg = a_leg.finish_ok(SETTLE);

    let early = early_media(&c_run);
    assert!(
        !early.body().contains("telephone-event"),
        "the 183 offers telephone-event the caller did not:\n{}",
        early.text
    );
    assert_eq!(c_run.final_invite_response().status(), Some(200));
    let invite = a_leg.first_request("INVITE");
    let ruri = invite.start_line().split(' ').nth(1).unwrap_or("");
    assert!(
        user_of(ruri).ends_with(national_digits(A)),
        "not A:\n{}",
        invite.text
    );
    let from = invite.header("From").unwrap_or_default();
    assert!(
        user_of(&from).ends_with(national_digits(X)),
        "From is not X:\n{}",
        invite.text
    );
    pn_e2e::sipp::assert_absent(&a_leg.received_text(), national_digits(C), "what A received");

    let facts = wait_for_outbox(&rig.switch.data_dir, "collectInfo and disconnect", |facts| {
        facts.iter().any(|f| f.event_type() == Some("collectInfo"))
            && facts.iter().any(|f| f.event_type() == Some("disconnect"))
    });
    let digits: Vec<&str> = facts
        .iter()
        .filter(|f| f.event_type() == Some("collectInfo"))
        .filter_map(|f| f.status_info()["digitInfo"].as_str())
        .collect();
    assert_eq!(digits, vec![EXT], "{}", show(&facts));
    assert_eq!(disconnect_code(&facts), Some(0), "{}", show(&facts));
}
