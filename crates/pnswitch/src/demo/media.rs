//! The demo's media: RTP the demo's phones send and receive through the switch's relay — an AXE call whose
//! caller hears the extension prompt and keys `1234` as RFC 4733 telephone-events, and the tones both
//! parties send in a recorded call.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use pn_media::{G711Law, RtpHeader, RtpPacket, TelephoneEvent};
use pn_sip::sdp::SessionDescription;

type DemoResult<T> = Result<T, Box<dyn std::error::Error>>;

/// The RTP address an SDP body names (`c=` and the first `m=` port).
pub(super) fn media_addr(body: &[u8]) -> DemoResult<SocketAddr> {
    let sdp = SessionDescription::parse(body)?;
    let m = sdp.media().first().ok_or("no m= line")?;
    let ip = m
        .connection()
        .or_else(|| sdp.connection())
        .ok_or("no c= line")??
        .address;
    Ok(SocketAddr::new(ip.parse()?, m.media_line()?.port))
}

/// Counts the RTP packets arriving on `sock` (in a thread) until `stop`.
pub(super) fn count_rtp(sock: &UdpSocket, stop: &Arc<AtomicBool>) -> DemoResult<Arc<AtomicUsize>> {
    let sock = sock.try_clone()?;
    sock.set_read_timeout(Some(Duration::from_millis(100)))?;
    let count = Arc::new(AtomicUsize::new(0));
    let (counter, stop) = (Arc::clone(&count), Arc::clone(stop));
    std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while !stop.load(Ordering::Relaxed) {
            if let Ok((n, _)) = sock.recv_from(&mut buf)
                && RtpPacket::parse(&buf[..n]).is_ok()
            {
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    Ok(count)
}

/// Sends `digits` as RFC 4733 events (payload type 101): per key 3 updates and 3 end packets, 20 ms apart.
pub(super) fn send_digits(sock: &UdpSocket, to: SocketAddr, digits: &str) -> DemoResult<()> {
    let mut seq = 1000u16;
    let mut ts = 160_000u32;
    let mut out = Vec::with_capacity(32);
    for (i, key) in digits.chars().enumerate() {
        let event = key.to_digit(10).ok_or("digits only")?;
        for n in 0..6u16 {
            let mut payload = Vec::with_capacity(4);
            TelephoneEvent {
                event: u8::try_from(event)?,
                end: n >= 3,
                volume: 10,
                duration: 160 * (n.min(3) + 1),
            }
            .write(&mut payload);
            out.clear();
            RtpHeader {
                marker: n == 0,
                payload_type: 101,
                sequence: seq,
                timestamp: ts,
                ssrc: 0x0D7F_0001,
            }
            .write(&payload, &mut out);
            sock.send_to(&out, to)?;
            seq = seq.wrapping_add(1);
            std::thread::sleep(Duration::from_millis(20));
        }
        ts = ts.wrapping_add(1600 + u32::try_from(i)?);
        std::thread::sleep(Duration::from_millis(120));
    }
    Ok(())
}

/// Sends a PCMA sine of `freq` Hz from `sock` to `to` for `secs` seconds (20 ms frames, paced).
#[allow(clippy::needless_pass_by_value)] // runs in its own thread, which owns the socket
pub(super) fn send_tone(sock: UdpSocket, to: SocketAddr, freq: f64, secs: u64, ssrc: u32) {
    let frames = secs * 50;
    let start = Instant::now();
    let mut out = Vec::with_capacity(200);
    for f in 0..frames {
        let payload: Vec<u8> = (0..160u64)
            .map(|i| {
                let t = (f * 160 + i) as f64 / 8000.0;
                let s = (t * freq * std::f64::consts::TAU).sin() * 8000.0;
                G711Law::ALaw.encode(s as i16)
            })
            .collect();
        out.clear();
        RtpHeader {
            marker: f == 0,
            payload_type: 8,
            sequence: f as u16,
            timestamp: (f * 160) as u32,
            ssrc,
        }
        .write(&payload, &mut out);
        let _ = sock.send_to(&out, to);
        let due = start + Duration::from_millis(20 * (f + 1));
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
    }
}

/// The power of `freq` Hz in `samples` relative to their total power (Goertzel).
pub(super) fn tone_share(samples: &[i16], freq: f64) -> f64 {
    let k = 2.0 * (std::f64::consts::TAU * freq / 8000.0).cos();
    let (mut s1, mut s2, mut total) = (0.0f64, 0.0f64, 0.0f64);
    for &x in samples {
        let x = f64::from(x);
        let s = x + k * s1 - s2;
        s2 = s1;
        s1 = s;
        total += x * x;
    }
    let power = s1 * s1 + s2 * s2 - k * s1 * s2;
    if total == 0.0 {
        0.0
    } else {
        2.0 * power / (total * samples.len() as f64)
    }
}
