//! `sip-scanner`: the scanner of issue 11's memory case, a flood of INVITEs from distinct callers at a rate
//! `SIPp` cannot generate on this box (`SIPp` tops out near 8,000 calls/s here, and 1,000,000 callers in 60 s
//! is 16,667/s). It behaves like the scanners seen on real trunks (`SIPVicious` and the like): one INVITE per
//! caller, never retransmitted; a non-2xx final answer is acknowledged; an answered call is acknowledged and
//! hung up at once (BYE); nothing else is remembered. Hand-written on std UDP sockets because the point is a cheap generator: a
//! SIP stack would spend the CPU the switch needs.
//!
//! Caller `i` is `+86131` followed by `i` on 8 digits (so 1,000,000 distinct numbers), calling `--x`; Call-ID
//! `scan-<i>`. Prints one JSON object: INVITEs sent, the rate reached, final answers by status, answered calls,
//! BYEs answered, calls with no final answer by the end.
//!
//! Run: `sip-scanner --target 127.0.0.1:5060 --x +8617099990001 --calls 1000000 --rate 16667`.

use std::collections::BTreeMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A call's progress (one byte per caller).
const SENT: u8 = 1;
const FINAL: u8 = 2;

struct Args {
    target: SocketAddr,
    x: String,
    calls: u64,
    rate: u64,
    /// Seconds to wait for answers after the last INVITE.
    linger: u64,
}

fn parse_args() -> Args {
    let mut args = Args {
        target: "127.0.0.1:5060".parse().unwrap_or_else(|_| unreachable!()),
        x: "+8617099990001".into(),
        calls: 1_000_000,
        rate: 16_667,
        linger: 5,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it
            .next()
            .unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        match flag.as_str() {
            "--target" => args.target = value.parse().unwrap_or_else(|_| usage("bad --target")),
            "--x" => args.x = value,
            "--calls" => args.calls = value.parse().unwrap_or_else(|_| usage("bad --calls")),
            "--rate" => args.rate = value.parse().unwrap_or_else(|_| usage("bad --rate")),
            "--linger" => args.linger = value.parse().unwrap_or_else(|_| usage("bad --linger")),
            _ => usage(&format!("unknown flag {flag}")),
        }
    }
    if args.calls > 100_000_000 || args.rate == 0 {
        usage("--calls is at most 100000000 and --rate at least 1");
    }
    args
}

fn usage(why: &str) -> ! {
    eprintln!(
        "sip-scanner: {why}\nusage: sip-scanner [--target ADDR] [--x E164] [--calls N] [--rate PER_S] [--linger S]"
    );
    std::process::exit(2)
}

/// What the receiver counted.
#[derive(Default)]
struct Counts {
    finals: BTreeMap<u16, u64>,
    byes_answered: u64,
    /// Datagrams received, and when the last one came.
    datagrams: u64,
    last_at: Option<Instant>,
    /// Requests from the switch in a call (answered 200).
    requests: u64,
    malformed: u64,
}

fn invite(i: u64, local: SocketAddr, target: SocketAddr, x: &str) -> String {
    let body = format!(
        "v=0\r\no=- {i} 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio 9 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n"
    );
    format!(
        "INVITE sip:{x}@{target} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-scan{i};rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:+86131{i:08}@{local}>;tag=s{i}\r\nTo: <sip:{x}@{target}>\r\n\
         Call-ID: scan-{i}\r\nCSeq: 1 INVITE\r\nContact: <sip:+86131{i:08}@{local}>\r\n\
         Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// The value of header `name` (full name, case-insensitive) in a message's head.
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// A 200 answering the request whose head is `head` (its `Via`, `From`, `To`, `Call-ID` and `CSeq` copied).
fn ok_to(head: &str) -> String {
    let mut r = String::from("SIP/2.0 200 OK\r\n");
    for line in head.lines().skip(1) {
        let name = line.split(':').next().unwrap_or_default().trim();
        if ["Via", "From", "To", "Call-ID", "CSeq"]
            .iter()
            .any(|h| h.eq_ignore_ascii_case(name))
        {
            r.push_str(line);
            r.push_str("\r\n");
        }
    }
    r.push_str("Content-Length: 0\r\n\r\n");
    r
}

/// The ACK of a final answer to INVITE `i` (same branch for a non-2xx, a new one for a 2xx).
fn ack(i: u64, local: SocketAddr, target: SocketAddr, x: &str, to: &str, answered: bool) -> String {
    let branch = if answered {
        format!("z9hG4bK-scanack{i}")
    } else {
        format!("z9hG4bK-scan{i}")
    };
    format!(
        "ACK sip:{x}@{target} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch={branch};rport\r\nMax-Forwards: 70\r\n\
         From: <sip:+86131{i:08}@{local}>;tag=s{i}\r\nTo: {to}\r\nCall-ID: scan-{i}\r\nCSeq: 1 ACK\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

fn bye(i: u64, local: SocketAddr, target: SocketAddr, x: &str, to: &str) -> String {
    format!(
        "BYE sip:{x}@{target} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-scanbye{i};rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:+86131{i:08}@{local}>;tag=s{i}\r\nTo: {to}\r\nCall-ID: scan-{i}\r\n\
         CSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
    )
}

/// Handles one datagram from the switch.
fn on_datagram(
    text: &str,
    socket: &UdpSocket,
    args: &Args,
    local: SocketAddr,
    state: &[AtomicU8],
    counts: &mut Counts,
) {
    let Some(head) = text.split("\r\n\r\n").next() else {
        counts.malformed += 1;
        return;
    };
    let status = head
        .strip_prefix("SIP/2.0 ")
        .and_then(|s| s.get(..3))
        .and_then(|s| s.parse::<u16>().ok());
    let index = header(head, "Call-ID")
        .and_then(|c| c.strip_prefix("scan-"))
        .and_then(|c| c.parse::<u64>().ok())
        .filter(|&i| i < args.calls);
    if status.is_none() && index.is_some() {
        // A request from the switch in a call (a BYE, an in-dialog probe): answered 200 so that it stops.
        counts.requests += 1;
        let response = ok_to(head);
        let _ = socket.send_to(response.as_bytes(), args.target);
        return;
    }
    let (Some(status), Some(i)) = (status, index) else {
        counts.malformed += 1;
        return;
    };
    let cseq = header(head, "CSeq").unwrap_or_default();
    if cseq.ends_with("BYE") {
        if status >= 200 {
            counts.byes_answered += 1;
        }
        return;
    }
    if status < 200 {
        return;
    }
    let to = header(head, "To").unwrap_or_default();
    let answered = status < 300;
    // usize: i < calls ≤ 100M.
    #[allow(clippy::cast_possible_truncation)]
    let first = state[i as usize].swap(FINAL, Ordering::Relaxed) != FINAL;
    // Every final answer (a retransmitted one too) is ACKed; a call is counted and hung up once.
    let _ = socket.send_to(
        ack(i, local, args.target, &args.x, to, answered).as_bytes(),
        args.target,
    );
    if first {
        *counts.finals.entry(status).or_default() += 1;
        if answered {
            let _ = socket.send_to(bye(i, local, args.target, &args.x, to).as_bytes(), args.target);
        }
    }
}

fn main() {
    let args = Arc::new(parse_args());
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap_or_else(|e| usage(&format!("bind: {e}")));
    let local = socket
        .local_addr()
        .unwrap_or_else(|e| usage(&format!("local address: {e}")));
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap_or_else(|e| usage(&format!("socket: {e}")));
    // 4 MiB of receive buffer (capped by net.core.rmem_max): the answers of a flood come in bursts, and what
    // the kernel drops here would count as calls the switch never answered.
    let _ = nix::sys::socket::setsockopt(&socket, nix::sys::socket::sockopt::RcvBuf, &(4 << 20));
    // usize: calls ≤ 100M.
    #[allow(clippy::cast_possible_truncation)]
    let state: Arc<[AtomicU8]> = (0..args.calls as usize).map(|_| AtomicU8::new(0)).collect();
    let sending_done = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));

    let receiver = {
        let socket = socket
            .try_clone()
            .unwrap_or_else(|e| usage(&format!("socket: {e}")));
        let (args, state, done) = (Arc::clone(&args), Arc::clone(&state), Arc::clone(&sending_done));
        std::thread::spawn(move || {
            let mut counts = Counts::default();
            let mut buf = vec![0u8; 65_536];
            let mut quiet_since: Option<Instant> = None;
            loop {
                match socket.recv_from(&mut buf) {
                    Ok((n, _)) => {
                        quiet_since = None;
                        counts.datagrams += 1;
                        counts.last_at = Some(Instant::now());
                        let text = String::from_utf8_lossy(&buf[..n]);
                        on_datagram(&text, &socket, &args, local, &state, &mut counts);
                    }
                    Err(_) if done.load(Ordering::Relaxed) => {
                        let since = *quiet_since.get_or_insert_with(Instant::now);
                        if since.elapsed() >= Duration::from_secs(args.linger) {
                            return counts;
                        }
                    }
                    Err(_) => {}
                }
            }
        })
    };

    let started = Instant::now();
    let per_tick = args.rate.div_ceil(1000).max(1);
    let tick = Duration::from_secs_f64(per_tick as f64 / args.rate as f64);
    let mut next = started;
    let mut i = 0;
    while i < args.calls {
        for _ in 0..per_tick.min(args.calls - i) {
            let message = invite(i, local, args.target, &args.x);
            if socket.send_to(message.as_bytes(), args.target).is_ok() {
                #[allow(clippy::cast_possible_truncation)]
                // Its answer may already be in (FINAL > SENT).
                state[i as usize].fetch_max(SENT, Ordering::Relaxed);
                sent.fetch_add(1, Ordering::Relaxed);
            }
            i += 1;
        }
        next += tick;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    let sending_secs = started.elapsed().as_secs_f64();
    sending_done.store(true, Ordering::Relaxed);
    let counts = receiver.join().unwrap_or_default();
    let no_final = state.iter().filter(|s| s.load(Ordering::Relaxed) == SENT).count();
    let sent = sent.load(Ordering::Relaxed);
    let finals: Vec<String> = counts
        .finals
        .iter()
        .map(|(status, n)| format!("\"{status}\": {n}"))
        .collect();
    println!(
        "{{\"sent\": {sent}, \"sending_secs\": {sending_secs:.1}, \"sent_per_s\": {:.0}, \"finals\": {{{}}}, \
         \"byes_answered\": {}, \"no_final\": {no_final}, \"requests\": {}, \"unexpected\": {}, \
         \"datagrams\": {}, \"last_datagram_secs\": {:.1}}}",
        sent as f64 / sending_secs,
        finals.join(", "),
        counts.byes_answered,
        counts.requests,
        counts.malformed,
        counts.datagrams,
        counts
            .last_at
            .map_or(0.0, |t| t.saturating_duration_since(started).as_secs_f64())
    );
}
