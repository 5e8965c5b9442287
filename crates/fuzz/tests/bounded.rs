//! Every fuzz target as a bounded randomized test on stable: its seeds (fixture files and built packets), then
//! mutations of them and random bytes from a fixed-seed generator, for a fixed number of runs (a few seconds in
//! a debug build). A panic is a bug the target found; the failing input is printed in hex to reproduce it
//! (`cargo +nightly fuzz run <target> <file>`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test: failing loudly is the point

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use pn_fuzz::mutate::{Rng, mutate, random_bytes};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The files of `dir` (relative to the workspace) whose name ends in one of `exts`.
fn files(dir: &str, exts: &[&str]) -> Vec<Vec<u8>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| exts.iter().any(|e| x == *e)))
        .collect();
    paths.sort();
    paths.into_iter().map(|p| std::fs::read(p).unwrap()).collect()
}

/// The SIP messages of the fixtures (RFC 4475 torture messages, carrier captures).
fn sip_seeds() -> Vec<Vec<u8>> {
    let mut seeds = files("sip-fixtures/rfc4475", &["dat"]);
    seeds.extend(files("sip-fixtures/carrier", &["sip"]));
    assert!(seeds.len() >= 50, "fixtures missing");
    seeds
}

/// The bodies of the SIP fixtures and of the `SIPp` scenarios' messages (the leak probes' SDPs among them).
fn body_seeds() -> Vec<Vec<u8>> {
    let mut seeds: Vec<Vec<u8>> = sip_seeds()
        .iter()
        .filter_map(|m| {
            let at = m.windows(4).position(|w| w == b"\r\n\r\n")?;
            Some(m[at + 4..].to_vec())
        })
        .filter(|b| !b.is_empty())
        .collect();
    for xml in files("sip-fixtures/sipp", &["xml"]) {
        let text = String::from_utf8_lossy(&xml).replace("[field0]", "+8613800000001");
        let text = text
            .replace("[field1]", "13800000001")
            .replace("[field2]", "13800000001");
        for block in text.split("<![CDATA[").skip(1) {
            let block = block.split("]]>").next().unwrap_or_default();
            let lines: Vec<&str> = block.lines().map(str::trim).collect();
            if let Some(at) = lines.iter().position(|l| l.starts_with("v=0")) {
                let end = lines[at..]
                    .iter()
                    .position(|l| l.is_empty())
                    .map_or(lines.len(), |e| at + e);
                seeds.push(format!("{}\r\n", lines[at..end].join("\r\n")).into_bytes());
            }
        }
    }
    seeds
}

/// Header values and Request-URIs of the SIP fixtures.
fn uri_seeds() -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    for m in sip_seeds() {
        let text = String::from_utf8_lossy(&m).into_owned();
        let mut lines = text.lines();
        if let Some(uri) = lines.next().and_then(|l| l.split(' ').nth(1)) {
            seeds.push(uri.as_bytes().to_vec());
        }
        for line in lines.take_while(|l| !l.is_empty()) {
            if let Some((_, value)) = line.split_once(':') {
                seeds.push(value.trim().as_bytes().to_vec());
            }
        }
    }
    seeds
}

/// A SIP-I body (SDP and ISUP parts) and its variants.
fn multipart_seeds() -> Vec<Vec<u8>> {
    let sip_i =
        b"--unique-boundary-1\r\nContent-Type: application/sdp\r\n\r\nv=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n\
s=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8\r\n\r\n--unique-boundary-1\r\n\
Content-Type: application/isup;version=itu-t92+\r\n\r\n\x01\x10\x48\x00\x0a\x03\x02\x0a\x08\x83\x90\x31\r\n\
--unique-boundary-1--\r\n";
    vec![
        sip_i.to_vec(),
        b"\x00preamble\n--b\nContent-Type: text/plain\n\nx\n--b--\n".to_vec(),
        b"--b\r\n\r\n\r\n--b\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n--b--".to_vec(),
    ]
}

/// RTP packets: plain, with CSRCs, a header extension and padding; a telephone-event.
fn rtp_seeds() -> Vec<Vec<u8>> {
    let plain = [
        0x80, 0x08, 0, 1, 0, 0, 0, 160, 0xde, 0xad, 0xbe, 0xef, 0xd5, 0xd5, 0xd5, 0xd5,
    ]
    .to_vec();
    let mut full = vec![0xb2, 0xe5, 0x12, 0x34, 0, 0, 1, 0, 1, 2, 3, 4];
    full.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 2]); // two CSRCs
    full.extend_from_slice(&[0xbe, 0xde, 0, 1, 0x10, 0xff, 0, 0]); // one-word extension
    full.extend_from_slice(&[0x05, 0x8a, 0x03, 0x20]); // telephone-event 5, end, volume 10, duration 800
    full.extend_from_slice(&[0, 0, 3]); // padding
    vec![plain, full]
}

/// RTCP compounds: SR + SDES (CNAME) + BYE, and RR alone.
fn rtcp_seeds() -> Vec<Vec<u8>> {
    let mut sr = vec![0x80, 200, 0, 6, 0, 0, 0, 1];
    sr.extend_from_slice(&[0; 20]);
    sr.extend_from_slice(&[0x81, 202, 0, 3, 0, 0, 0, 1, 1, 4, b'a', b'@', b'b', b'c', 0, 0]);
    sr.extend_from_slice(&[0x81, 203, 0, 1, 0, 0, 0, 1]);
    vec![sr, vec![0x80, 201, 0, 1, 0, 0, 0, 9]]
}

/// WAV files: a short A-law file written here and the head of a shipped prompt.
fn wav_seeds() -> Vec<Vec<u8>> {
    let mut short = Vec::new();
    pn_media::write_wav(pn_media::G711Law::ALaw, &[0xd5; 160], &mut short).unwrap();
    let mut seeds = vec![short];
    if let Some(prompt) = files("crates/media/prompts", &["wav"]).into_iter().next() {
        let mut head = prompt[..prompt.len().min(2048)].to_vec();
        // Keep it a valid file: the data chunk's size must fit what is left.
        if let Ok(audio) = pn_media::parse_wav(&prompt, usize::MAX) {
            head.clear();
            pn_media::write_wav(
                audio.law,
                &audio.samples[..audio.samples.len().min(800)],
                &mut head,
            )
            .unwrap();
        }
        seeds.push(head);
    }
    seeds
}

/// Runs `target` on every seed, then on `runs` mutations of the seeds and random inputs.
fn run(name: &str, target: fn(&[u8]), seeds: &[Vec<u8>], runs: u32) {
    let started = Instant::now();
    let check = |input: &[u8]| {
        let result = std::panic::catch_unwind(|| target(input));
        if let Err(e) = result {
            let hex = input.iter().fold(String::new(), |mut hex, b| {
                let _ = write!(hex, "{b:02x}");
                hex
            });
            panic!("{name} failed on input (hex) {hex}: {e:?}");
        }
    };
    for seed in seeds {
        check(seed);
    }
    let mut rng = Rng(0x5EED_0000_0000_0001 ^ name.len() as u64);
    for i in 0..runs {
        let input = if i % 8 == 7 || seeds.is_empty() {
            random_bytes(&mut rng, 300)
        } else {
            let seed = rng.below(seeds.len());
            mutate(&mut rng, &seeds[seed])
        };
        check(&input);
    }
    eprintln!(
        "{name}: {} seeds + {runs} mutated inputs in {:?}",
        seeds.len(),
        started.elapsed()
    );
}

#[test]
fn every_target_has_a_bounded_run() {
    let names: Vec<&str> = pn_fuzz::TARGETS.iter().map(|(n, _)| *n).collect();
    let mut fuzz_dir: Vec<String> = std::fs::read_dir(root().join("fuzz/fuzz_targets"))
        .unwrap()
        .flatten()
        .filter_map(|e| e.path().file_stem()?.to_str().map(str::to_owned))
        .collect();
    fuzz_dir.sort();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(fuzz_dir, sorted, "fuzz/fuzz_targets/ and pn_fuzz::TARGETS differ");
}

#[test]
fn sip_message() {
    run("sip_message", pn_fuzz::sip_message, &sip_seeds(), 60_000);
}

#[test]
fn sip_stream() {
    run("sip_stream", pn_fuzz::sip_stream, &sip_seeds(), 40_000);
}

#[test]
fn uri() {
    run("uri", pn_fuzz::uri, &uri_seeds(), 150_000);
}

#[test]
fn sdp() {
    run("sdp", pn_fuzz::sdp, &body_seeds(), 100_000);
}

#[test]
fn sdp_whitelist() {
    run("sdp_whitelist", pn_fuzz::sdp_whitelist, &body_seeds(), 100_000);
}

#[test]
fn multipart() {
    run("multipart", pn_fuzz::multipart, &multipart_seeds(), 100_000);
}

#[test]
fn rtp() {
    run("rtp", pn_fuzz::rtp, &rtp_seeds(), 300_000);
}

#[test]
fn rtcp() {
    run("rtcp", pn_fuzz::rtcp, &rtcp_seeds(), 300_000);
}

#[test]
fn telephone_event() {
    let seeds = [
        vec![0x05, 0x8a, 0x03, 0x20],
        b"Signal=5\r\nDuration=160\r\n".to_vec(),
        b"#".to_vec(),
    ];
    run("telephone_event", pn_fuzz::telephone_event, &seeds, 300_000);
}

#[test]
fn wav() {
    run("wav", pn_fuzz::wav, &wav_seeds(), 50_000);
}

#[test]
fn b2bua() {
    // Event sequences (see crates/fuzz/src/stateful.rs: op % 9, then its argument bytes): a call held to its
    // end; calls under 30 % loss; scripted answers and in-dialog requests; mutated echoes of the switch's messages.
    let seeds = [
        vec![0, 0, 2, 60],
        vec![0, 0, 0, 0, 3, 30, 2, 40, 2, 40],
        vec![0, 0, 4, 0, 3, 4, 1, 8, 2, 30],
        vec![0, 0, 2, 2, 5, 0, 2, 5, 0, 4, 2, 10, 5, 0, 0],
        vec![0, 0, 1, 3, 6, 1, 9, 7, 2, 7, 8, 0, 2, 30],
        vec![0, 0, 1, 1, 5, 0, 1, 2, 3, 50, 2, 90],
    ];
    run("b2bua", pn_fuzz::b2bua, &seeds, 400);
}
