//! Media support for the `SIPp` end-to-end tests: RTP sockets the test owns (named in a party's SDP, so the
//! test receives what the switch sends that party), pcap files for `SIPp`'s `play_pcap_audio`, G.711 audio
//! analysis (Goertzel tone power, exact A-law matching: [`assert_exactly`]), early media (a 183 with the
//! switch's SDP: [`early_media`]), the CDRs and events of the outbox, and the signed recording download.

// Test support: failing loudly on a broken environment is the point (allowed for the whole crate in lib.rs).

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pn_media::{G711Law, RtpHeader, RtpPacket};
use serde_json::Value;

use crate::sipp::{SippRun, Traced};
use crate::{Switch, aksk_headers};

/// One RTP packet received by an [`RtpSink`].
#[derive(Clone, Debug)]
pub struct Received {
    /// When it arrived.
    pub at: Instant,
    /// Who sent it.
    pub from: SocketAddr,
    /// Marker bit.
    pub marker: bool,
    /// Payload type.
    pub payload_type: u8,
    /// Sequence number.
    pub sequence: u16,
    /// RTP timestamp.
    pub timestamp: u32,
    /// SSRC.
    pub ssrc: u32,
    /// Payload bytes.
    pub payload: Vec<u8>,
}

/// A loopback UDP socket owned by the test: its port goes into a party's SDP, and a thread records every RTP
/// packet that arrives (RTCP and garbage are ignored). Optionally it sends a silent A-law stream back to
/// whoever last sent it something (so the switch never sees dead media from this party).
pub struct RtpSink {
    socket: Arc<UdpSocket>,
    received: Arc<Mutex<Vec<Received>>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl RtpSink {
    /// Binds `127.0.0.1:0` and starts receiving.
    pub fn bind() -> RtpSink {
        let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").expect("bind an RTP socket"));
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .expect("read timeout");
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (socket, received, stop) = (Arc::clone(&socket), Arc::clone(&received), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut buf = [0u8; 2048];
                while !stop.load(Ordering::Relaxed) {
                    let Ok((n, from)) = socket.recv_from(&mut buf) else {
                        continue;
                    };
                    if pn_media::is_rtcp(&buf[..n]) {
                        continue;
                    }
                    let Ok(p) = RtpPacket::parse(&buf[..n]) else {
                        continue;
                    };
                    received.lock().expect("lock").push(Received {
                        at: Instant::now(),
                        from,
                        marker: p.marker,
                        payload_type: p.payload_type,
                        sequence: p.sequence,
                        timestamp: p.timestamp,
                        ssrc: p.ssrc,
                        payload: p.payload().to_vec(),
                    });
                }
            })
        };
        RtpSink {
            socket,
            received,
            stop,
            threads: vec![thread],
        }
    }

    /// Its port (what goes in the SDP's `m=audio`).
    pub fn port(&self) -> u16 {
        self.socket.local_addr().expect("local addr").port()
    }

    /// Sends 20 ms A-law silence frames every 20 ms to `to` until dropped (a party that keeps talking).
    pub fn keep_sending(&mut self, to: SocketAddr) {
        self.send_audio(to, vec![G711Law::ALaw.silence(); 160], Then::Repeat);
    }

    /// Sends `audio` (A-law, payload type 8) to `to` from this socket in 20 ms frames, one every 20 ms (paced
    /// against the start, so the stream never drifts), until dropped; when the audio is done it starts over
    /// ([`Then::Repeat`]) or silence follows ([`Then::Silence`]). A short last frame is padded with silence.
    pub fn send_audio(&mut self, to: SocketAddr, audio: Vec<u8>, then: Then) {
        let (socket, stop) = (Arc::clone(&self.socket), Arc::clone(&self.stop));
        let ssrc = u32::from(self.port()).wrapping_mul(2_654_435_761) | 1;
        self.threads.push(std::thread::spawn(move || {
            let silence = [G711Law::ALaw.silence(); 160];
            let frames: Vec<[u8; 160]> = audio
                .chunks(160)
                .map(|c| {
                    let mut f = silence;
                    f[..c.len()].copy_from_slice(c);
                    f
                })
                .collect();
            let (mut seq, mut ts) = (1u16, 0u32);
            let mut out = Vec::new();
            let start = Instant::now();
            let mut k: u32 = 0;
            while !stop.load(Ordering::Relaxed) {
                let i = k as usize;
                let payload = match then {
                    _ if frames.is_empty() => &silence,
                    Then::Repeat => &frames[i % frames.len()],
                    Then::Silence => frames.get(i).unwrap_or(&silence),
                };
                out.clear();
                RtpHeader {
                    marker: seq == 1,
                    payload_type: 8,
                    sequence: seq,
                    timestamp: ts,
                    ssrc,
                }
                .write(payload, &mut out);
                let _ = socket.send_to(&out, to);
                seq = seq.wrapping_add(1);
                ts = ts.wrapping_add(160);
                k += 1;
                let due = start + Duration::from_millis(20) * k;
                std::thread::sleep(due.saturating_duration_since(Instant::now()));
            }
        }));
    }

    /// Waits up to `limit` for the first RTP packet and returns who sent it (the switch's relay socket facing
    /// this party, once the switch plays or relays something to it); `None` when none came.
    pub fn first_sender(&self, limit: Duration) -> Option<SocketAddr> {
        self.wait_until(limit, |p| !p.is_empty()).first().map(|p| p.from)
    }

    /// Everything received so far.
    pub fn packets(&self) -> Vec<Received> {
        self.received.lock().expect("lock").clone()
    }

    /// Waits up to `limit` until `done(packets)` holds; returns the packets either way.
    pub fn wait_until(&self, limit: Duration, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let deadline = Instant::now() + limit;
        loop {
            let packets = self.packets();
            if done(&packets) || Instant::now() >= deadline {
                return packets;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// What [`RtpSink::send_audio`] sends once its audio is done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Then {
    /// The audio again, looped.
    Repeat,
    /// Silence.
    Silence,
}

impl Drop for RtpSink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// The payloads of `packets`, concatenated in arrival order.
pub fn concat_payloads(packets: &[Received]) -> Vec<u8> {
    packets.iter().flat_map(|p| p.payload.iter().copied()).collect()
}

/// Where `needle` first occurs in `haystack`.
pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || needle.len() > haystack.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// `secs` seconds of a `freq` Hz sine at about −6 dBFS, A-law, 8 kHz.
pub fn alaw_tone(freq: f64, secs: f64) -> Vec<u8> {
    let n = (secs * 8000.0) as usize;
    (0..n)
        .map(|i| {
            let s = (2.0 * std::f64::consts::PI * freq * i as f64 / 8000.0).sin() * 16_000.0;
            G711Law::ALaw.encode(s as i16)
        })
        .collect()
}

/// Writes a classic libpcap file (Ethernet / IPv4 / UDP 127.0.0.1:4000 → 127.0.0.1:4002) of RTP packets
/// carrying `payload` in 20 ms (160-byte) frames with payload type `pt`, one every 20 ms of capture time:
/// what `SIPp`'s `play_pcap_audio` plays.
pub fn write_rtp_pcap(path: &Path, payload: &[u8], pt: u8) {
    let mut out = Vec::new();
    // Global header: magic, v2.4, tz 0, sigfigs 0, snaplen 65535, linktype 1 (Ethernet).
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&65_535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    let mut rtp = Vec::new();
    for (i, frame) in payload.chunks(160).enumerate() {
        rtp.clear();
        RtpHeader {
            marker: i == 0,
            payload_type: pt,
            sequence: 1000u16.wrapping_add(i as u16),
            timestamp: 8000u32.wrapping_add(160 * i as u32),
            ssrc: 0x1234_5678,
        }
        .write(frame, &mut rtp);
        let udp_len = 8 + rtp.len();
        let ip_len = 20 + udp_len;
        let mut pkt = Vec::with_capacity(14 + ip_len);
        pkt.extend_from_slice(&[0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 6, 0x08, 0x00]);
        let mut ip = vec![
            0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1,
        ];
        ip[2..4].copy_from_slice(&(ip_len as u16).to_be_bytes());
        let sum = ip_checksum(&ip);
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
        pkt.extend_from_slice(&ip);
        pkt.extend_from_slice(&4000u16.to_be_bytes());
        pkt.extend_from_slice(&4002u16.to_be_bytes());
        pkt.extend_from_slice(&(udp_len as u16).to_be_bytes());
        pkt.extend_from_slice(&0u16.to_be_bytes()); // no UDP checksum
        pkt.extend_from_slice(&rtp);
        let usec = i as u32 * 20_000;
        out.extend_from_slice(&(1_700_000_000 + usec / 1_000_000).to_le_bytes());
        out.extend_from_slice(&(usec % 1_000_000).to_le_bytes());
        out.extend_from_slice(&(pkt.len() as u32).to_le_bytes());
        out.extend_from_slice(&(pkt.len() as u32).to_le_bytes());
        out.extend_from_slice(&pkt);
    }
    std::fs::write(path, out).expect("write pcap");
}

fn ip_checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = header
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The RTP packets (Ethernet/IPv4/UDP) of a classic little-endian libpcap file, as (sequence, timestamp,
/// payload type, payload).
pub fn read_pcap_rtp(path: &Path) -> Vec<(u16, u32, u8, Vec<u8>)> {
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    assert_eq!(&data[..4], &[0xd4, 0xc3, 0xb2, 0xa1], "little-endian pcap");
    let mut out = Vec::new();
    let mut off = 24;
    while off + 16 <= data.len() {
        let incl = u32::from_le_bytes(data[off + 8..off + 12].try_into().expect("4 bytes")) as usize;
        let pkt = &data[off + 16..(off + 16 + incl).min(data.len())];
        off += 16 + incl;
        if pkt.len() < 14 + 20 + 8 || pkt[12..14] != [0x08, 0x00] || pkt[14 + 9] != 17 {
            continue;
        }
        let ihl = usize::from(pkt[14] & 0x0f) * 4;
        let udp = &pkt[14 + ihl..];
        let Ok(p) = RtpPacket::parse(&udp[8..]) else {
            continue;
        };
        out.push((p.sequence, p.timestamp, p.payload_type, p.payload().to_vec()));
    }
    out
}

/// Decodes A-law bytes.
pub fn decode_alaw(bytes: &[u8]) -> Vec<i16> {
    let mut out = Vec::with_capacity(bytes.len());
    G711Law::ALaw.decode_into(bytes, &mut out);
    out
}

/// The share (0–1) of the energy of `samples` (8 kHz) at `freq` Hz (Goertzel), relative to their total
/// energy; 0 for silence.
pub fn tone_share(samples: &[i16], freq: f64) -> f64 {
    let n = samples.len() as f64;
    let coeff = 2.0 * (2.0 * std::f64::consts::PI * freq / 8000.0).cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    let mut total = 0.0f64;
    for &x in samples {
        let x = f64::from(x);
        total += x * x;
        let s0 = x + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    if total < 1.0 {
        return 0.0;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    // A pure tone of N samples gives power ≈ total · N / 2.
    (power * 2.0 / (n * total)).min(1.0)
}

/// Mean absolute amplitude.
pub fn level(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    samples.iter().map(|&s| f64::from(s).abs()).sum::<f64>() / samples.len() as f64
}

/// The rows of the switch's outbox (`kind`, parsed JSON payload), oldest first.
pub fn outbox(data_dir: &Path) -> Vec<(String, Value)> {
    let db = std::fs::read_dir(data_dir)
        .expect("read data dir")
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "db"))
        .expect("a database file in the data directory");
    let conn = rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .expect("open the database");
    let mut stmt = conn
        .prepare("SELECT kind, payload FROM outbox ORDER BY id")
        .expect("query the outbox");
    stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .expect("outbox rows")
        .map(|r| {
            let (kind, payload) = r.expect("outbox row");
            (
                kind,
                serde_json::from_str(&payload).unwrap_or(Value::String(payload)),
            )
        })
        .collect()
}

/// Waits up to 10 s for `count` CDRs in the outbox; returns them (fewer on timeout).
pub fn wait_cdrs(data_dir: &Path, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let cdrs: Vec<Value> = outbox(data_dir)
            .into_iter()
            .filter(|(k, _)| k == "cdr")
            .map(|(_, v)| v)
            .collect();
        if cdrs.len() >= count || Instant::now() >= deadline {
            return cdrs;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `GET /rest/provision/voice/record/v1.0?fileName=&recordDomain=` signed with the app's AKSK, redirects not
/// followed: returns (HTTP status, `Location`, body text).
pub fn record_download(
    switch: &Switch,
    app: &(String, String),
    file_name: &str,
    domain: &str,
) -> (u16, Option<String>, String) {
    let client = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let mut req = client
        .get(format!("{}/rest/provision/voice/record/v1.0", switch.base))
        .query(&[("fileName", file_name), ("recordDomain", domain)]);
    for (name, value) in aksk_headers(&app.0, &app.1) {
        req = req.header(name, value);
    }
    let resp = req.send().expect("record download request");
    let status = resp.status().as_u16();
    let location = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (status, location, resp.text().unwrap_or_default())
}

/// The A-law samples of shipped prompt `name` (the `data` chunk of its WAV file).
pub fn shipped_prompt(name: &str) -> Vec<u8> {
    let wav = pn_media::prompts::default_prompt(name).unwrap_or_else(|| panic!("no shipped prompt {name}"));
    let audio = pn_media::parse_prompt(wav).expect("a valid prompt");
    assert_eq!(audio.law, G711Law::ALaw, "{name}");
    audio.samples.to_vec()
}

/// A WAV file (8 kHz mono A-law, the header `pn_media::write_wav` writes) holding `samples`.
pub fn alaw_wav(samples: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    pn_media::write_wav(G711Law::ALaw, samples, &mut out).expect("write a WAV file");
    out
}

/// The DTMF frequencies (row, column) of `key` (`0`–`9`, `*`, `#`, `A`–`D`).
pub fn dtmf_frequencies(key: char) -> (f64, f64) {
    const ROWS: [f64; 4] = [697.0, 770.0, 852.0, 941.0];
    const COLS: [f64; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
    const KEYPAD: [[char; 4]; 4] = [
        ['1', '2', '3', 'A'],
        ['4', '5', '6', 'B'],
        ['7', '8', '9', 'C'],
        ['*', '0', '#', 'D'],
    ];
    for (r, row) in KEYPAD.iter().enumerate() {
        if let Some(c) = row.iter().position(|&k| k == key.to_ascii_uppercase()) {
            return (ROWS[r], COLS[c]);
        }
    }
    panic!("{key:?} is not a DTMF key")
}

/// In-band DTMF for `keys`, A-law at 8 kHz: per key `tone_ms` of its two frequencies (each at about −9 dBm0)
/// followed by `gap_ms` of silence.
pub fn alaw_dtmf(keys: &str, tone_ms: u32, gap_ms: u32) -> Vec<u8> {
    let mut out = Vec::new();
    for key in keys.chars() {
        let (low, high) = dtmf_frequencies(key);
        for i in 0..tone_ms * 8 {
            let t = f64::from(i) / 8000.0;
            let s = ((2.0 * std::f64::consts::PI * low * t).sin()
                + (2.0 * std::f64::consts::PI * high * t).sin())
                * 8000.0;
            out.push(G711Law::ALaw.encode(s as i16));
        }
        out.extend(std::iter::repeat_n(G711Law::ALaw.silence(), gap_ms as usize * 8));
    }
    out
}

/// Uploads a prompt file through `PUT /admin/v1/apps/{appKey}/prompts/{name}` (the raw bytes as the body);
/// returns (HTTP status, JSON body).
pub fn upload_prompt(switch: &Switch, app_key: &str, name: &str, file: Vec<u8>) -> (u16, Value) {
    let resp = switch
        .client()
        .put(format!("{}/admin/v1/apps/{app_key}/prompts/{name}", switch.base))
        .bearer_auth(&switch.admin_token)
        .header("Content-Type", "audio/wav")
        .body(file)
        .send()
        .expect("prompt upload request");
    let status = resp.status().as_u16();
    (status, resp.json().unwrap_or(Value::Null))
}

/// `packets` split by SSRC (each stream in arrival order).
pub fn streams(packets: &[Received]) -> Vec<Vec<Received>> {
    let mut ssrcs: Vec<u32> = packets.iter().map(|p| p.ssrc).collect();
    ssrcs.sort_unstable();
    ssrcs.dedup();
    ssrcs
        .into_iter()
        .map(|s| packets.iter().filter(|p| p.ssrc == s).cloned().collect())
        .collect()
}

/// The packets of the stream (by SSRC) that carries the most non-silent A-law audio, in arrival order.
pub fn loudest_stream(packets: &[Received]) -> Vec<Received> {
    streams(packets)
        .into_iter()
        .max_by_key(|stream| {
            stream
                .iter()
                .filter(|p| p.payload.iter().any(|&b| b != G711Law::ALaw.silence()))
                .count()
        })
        .unwrap_or_default()
}

/// Asserts `stream` is one PCMA stream with consecutive sequence numbers and timestamps.
pub fn assert_continuous_pcma(stream: &[Received], what: &str) {
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
}

/// `audio` without its leading and trailing 20 ms frames of pure A-law silence.
pub fn trim_silent_frames(audio: &[u8]) -> &[u8] {
    let silent = |f: &[u8]| f.iter().all(|&b| b == G711Law::ALaw.silence());
    let frames: Vec<&[u8]> = audio.chunks(160).collect();
    let first = frames.iter().position(|f| !silent(f)).unwrap_or(frames.len());
    let last = frames.iter().rposition(|f| !silent(f)).map_or(first, |i| i + 1);
    &audio[(first * 160).min(audio.len())..(last * 160).min(audio.len())]
}

/// The first 183 `run` received, with the switch's SDP; panics otherwise.
pub fn early_media(run: &SippRun) -> Traced {
    let early = run
        .received()
        .into_iter()
        .find(|m| m.status() == Some(183))
        .unwrap_or_else(|| panic!("no 183:\n{}", run.diagnostics()));
    assert!(
        early.body().contains("m=audio") && early.body().contains("o=pnswitch "),
        "the 183 does not carry the switch's SDP:\n{}",
        early.text
    );
    early
}

/// Asserts that what `packets` carry is `audio` and nothing else: one continuous PCMA stream whose audio,
/// without the silent frames around it, is `audio` byte for byte (a last partial frame padded with silence).
pub fn assert_exactly(packets: &[Received], audio: &[u8], what: &str) {
    let stream = loudest_stream(packets);
    assert_continuous_pcma(&stream, what);
    let got = concat_payloads(&stream);
    let got = trim_silent_frames(&got);
    let want = trim_silent_frames(audio);
    let padded = got.len() == want.len().div_ceil(160) * 160
        && got
            .get(want.len()..)
            .is_some_and(|pad| pad.iter().all(|&b| b == G711Law::ALaw.silence()));
    assert!(
        got == want || (got.starts_with(want) && padded),
        "{what}: received {} bytes ({} packets), not the {} bytes played (first difference at byte {:?}); \
         streams: {}",
        got.len(),
        stream.len(),
        want.len(),
        got.iter().zip(want).position(|(g, w)| g != w),
        describe_streams(packets)
    );
    // No other stream carried sound.
    let others = packets
        .iter()
        .filter(|p| p.ssrc != stream[0].ssrc)
        .filter(|p| p.payload.iter().any(|&b| b != G711Law::ALaw.silence()))
        .count();
    assert_eq!(
        others, 0,
        "{what}: {others} packets of other audio besides the prompt"
    );
}

/// Each stream of `packets` (by SSRC): packet count, sequence range, arrival span (for assertion messages).
pub fn describe_streams(packets: &[Received]) -> String {
    let mut ssrcs: Vec<u32> = packets.iter().map(|p| p.ssrc).collect();
    ssrcs.sort_unstable();
    ssrcs.dedup();
    ssrcs
        .iter()
        .map(|&s| {
            let st: Vec<&Received> = packets.iter().filter(|p| p.ssrc == s).collect();
            let (first, last) = (st[0], st[st.len() - 1]);
            format!(
                "ssrc {s:08x} from {}: {} packets, seq {}..={}, over {:?}",
                first.from,
                st.len(),
                first.sequence,
                last.sequence,
                last.at.duration_since(first.at)
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}
