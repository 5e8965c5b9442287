//! The RTP generator and meter: paced G.711 streams out, loss/duplicates/reordering and latency in.
//!
//! Every call has two streams (A→B and B→A), one 172-byte PCMA packet (12-byte RTP header, 160-byte payload)
//! every 20 ms. The payload carries a marker, the run id, the stream id, a sequence number, a "measured" flag
//! and the send time (`CLOCK_REALTIME`, read just before the packet is handed to `sendmmsg`). The send times of
//! all streams are spread evenly over the 20 ms period; one sender thread wakes at most every `pace` and sends
//! what is due, batched per source socket. One receiver thread drains every socket with `recvmmsg` and takes the
//! kernel's receive timestamp (`SO_TIMESTAMPNS`, taken on loopback when the relay's `send` hands the datagram to
//! the loopback device), so the generator's own scheduling delays do not count as latency; only the relay's
//! (and one kernel loopback hop).

use std::io::{IoSlice, IoSliceMut};
use std::net::{SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::errno::Errno;
use nix::sys::socket::{
    self, ControlMessage, ControlMessageOwned, MsgFlags, MultiHeaders, SockaddrIn, SockaddrStorage, sockopt,
};
use nix::sys::time::TimeSpec;

/// Packets per second of one stream (20 ms ptime).
pub const PACKETS_PER_SECOND: u64 = 50;
const PERIOD_NS: u64 = 1_000_000_000 / PACKETS_PER_SECOND;
const RTP_HEADER: usize = 12;
/// G.711 at 20 ms: 160 bytes of payload.
const PAYLOAD: usize = 160;
const PACKET: usize = RTP_HEADER + PAYLOAD;
const MAGIC: [u8; 4] = *b"PNML";
/// Offsets in the packet of the fields the meter reads.
const OFF_RUN: usize = 16;
const OFF_STREAM: usize = 20;
const OFF_SEQ: usize = 24;
const OFF_SENT: usize = 28;
const OFF_MEASURED: usize = 36;
/// Arrival-time bins (wall clock) for counting what arrived inside the CPU window.
const ARRIVAL_BIN_NS: u64 = 1_000_000;
/// Messages per `sendmmsg`/`recvmmsg`.
const BATCH: usize = 64;
/// Histogram tiers: (bucket width, upper bound) in ns: 100 ns up to 1 ms, 10 µs up to 100 ms, 1 ms up to
/// 10 s (above: overflow, still counted in `max`).
const TIERS: [(u64, u64); 3] = [
    (100, 1_000_000),
    (10_000, 100_000_000),
    (1_000_000, 10_000_000_000),
];

/// The generator's UDP sockets: `per_side` for the A parties and as many for the B parties. Call `i` uses
/// A socket `i % per_side` and B socket `i % per_side`; the receiver tells streams apart by the payload.
pub struct Endpoints {
    sockets: Vec<UdpSocket>,
    addrs: Vec<SocketAddrV4>,
    per_side: usize,
}

impl Endpoints {
    /// Binds `per_side` sockets per side on 127.0.0.1 (non-blocking, large buffers, kernel receive timestamps).
    pub fn bind(per_side: usize) -> Result<Self, String> {
        let per_side = per_side.max(1);
        let mut sockets = Vec::with_capacity(per_side * 2);
        let mut addrs = Vec::with_capacity(per_side * 2);
        for _ in 0..per_side * 2 {
            let s = UdpSocket::bind("127.0.0.1:0").map_err(|e| format!("bind a media socket: {e}"))?;
            s.set_nonblocking(true).map_err(|e| e.to_string())?;
            // 8 MiB: the receiver sleeps between passes; root may exceed net.core.rmem_max.
            if socket::setsockopt(&s, sockopt::RcvBufForce, &(8 << 20)).is_err() {
                let _ = socket::setsockopt(&s, sockopt::RcvBuf, &(8 << 20));
            }
            if socket::setsockopt(&s, sockopt::SndBufForce, &(4 << 20)).is_err() {
                let _ = socket::setsockopt(&s, sockopt::SndBuf, &(4 << 20));
            }
            socket::setsockopt(&s, sockopt::ReceiveTimestampns, &true)
                .map_err(|e| format!("SO_TIMESTAMPNS: {e}"))?;
            let SocketAddr::V4(addr) = s.local_addr().map_err(|e| e.to_string())? else {
                return Err("media socket is not IPv4".into());
            };
            sockets.push(s);
            addrs.push(addr);
        }
        Ok(Self {
            sockets,
            addrs,
            per_side,
        })
    }

    /// Index (into the socket list) of call `call`'s A socket.
    pub fn a_index(&self, call: usize) -> usize {
        call % self.per_side
    }

    /// Index of call `call`'s B socket.
    pub fn b_index(&self, call: usize) -> usize {
        self.per_side + call % self.per_side
    }

    /// The address of socket `index`.
    pub fn addr(&self, index: usize) -> SocketAddrV4 {
        self.addrs[index]
    }

    /// Sockets per side.
    pub fn per_side(&self) -> usize {
        self.per_side
    }

    /// Reads and drops whatever is queued (stale packets of an earlier run).
    pub fn drain(&self) {
        let mut buf = [0u8; 2048];
        for s in &self.sockets {
            while s.recv_from(&mut buf).is_ok() {}
        }
    }
}

/// One RTP stream: sent from generator socket `src` to `dst`.
#[derive(Clone, Copy, Debug)]
pub struct Stream {
    /// Index of the sending socket in [`Endpoints`].
    pub src: usize,
    /// Where it is sent (the relay's port for that leg, or the other party directly for the baseline).
    pub dst: SocketAddrV4,
}

/// The two streams of every call: stream `2i` is call `i`'s A→B (sent from A to `a_to`), `2i + 1` its B→A
/// (sent from B to `b_to`).
pub fn streams(ends: &Endpoints, targets: &[(SocketAddrV4, SocketAddrV4)]) -> Vec<Stream> {
    let mut out = Vec::with_capacity(targets.len() * 2);
    for (call, &(a_to, b_to)) in targets.iter().enumerate() {
        out.push(Stream {
            src: ends.a_index(call),
            dst: a_to,
        });
        out.push(Stream {
            src: ends.b_index(call),
            dst: b_to,
        });
    }
    out
}

/// Timing of one run.
#[derive(Clone, Copy, Debug)]
pub struct Load {
    /// Sent but not measured (latching, caches, socket buffers).
    pub warmup: Duration,
    /// The measured window.
    pub measure: Duration,
    /// Shortest sleep of the sender between two sends (batching vs. burstiness).
    pub pace: Duration,
    /// Packets per `sendmmsg` (1..=64). Each is stamped just before the call, and the kernel delivers them one
    /// after the other (a few µs each on loopback), so a larger batch adds up to (batch − 1) × that to the
    /// measured latency of its last packets, in the baseline as in the relayed runs.
    pub send_batch: usize,
    /// Receiver sleep between two passes over the sockets (kernel timestamps make it latency-neutral).
    pub rx_poll: Duration,
    /// Time the receiver keeps reading after the last send.
    pub drain: Duration,
    /// Tag of this run in every packet (stale packets of another run are ignored).
    pub run_id: u32,
}

/// A latency histogram (log-linear buckets, see `TIERS`).
pub struct Histogram {
    buckets: Vec<u32>,
    overflow: u64,
    count: u64,
    sum_ns: u128,
    max_ns: u64,
}

/// The bucket of `ns`, if below the last tier's bound.
fn bucket_of(ns: u64) -> Option<usize> {
    let (mut base, mut lo) = (0usize, 0u64);
    for (width, hi) in TIERS {
        if ns < hi {
            return Some(base + ((ns - lo) / width) as usize);
        }
        base += ((hi - lo) / width) as usize;
        lo = hi;
    }
    None
}

/// (lower edge, width) of bucket `i` in ns.
fn bucket_bounds(i: usize) -> (u64, u64) {
    let (mut base, mut lo) = (0usize, 0u64);
    for (width, hi) in TIERS {
        let n = ((hi - lo) / width) as usize;
        if i < base + n {
            return (lo + (i - base) as u64 * width, width);
        }
        base += n;
        lo = hi;
    }
    (lo, 0)
}

impl Histogram {
    fn new() -> Self {
        let buckets = bucket_of(TIERS[TIERS.len() - 1].1 - 1).map_or(0, |i| i + 1);
        Self {
            buckets: vec![0; buckets],
            overflow: 0,
            count: 0,
            sum_ns: 0,
            max_ns: 0,
        }
    }

    fn record(&mut self, ns: u64) {
        match bucket_of(ns).and_then(|i| self.buckets.get_mut(i)) {
            Some(b) => *b += 1,
            None => self.overflow += 1,
        }
        self.count += 1;
        self.sum_ns += u128::from(ns);
        self.max_ns = self.max_ns.max(ns);
    }

    /// Samples recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The `p` quantile (0..=1) in microseconds (bucket midpoint); 0 when empty.
    pub fn quantile_us(&self, p: f64) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        let rank = ((self.count as f64 * p).ceil() as u64).clamp(1, self.count);
        let mut seen = 0u64;
        for (i, &n) in self.buckets.iter().enumerate() {
            seen += u64::from(n);
            if seen >= rank {
                let (lo, width) = bucket_bounds(i);
                return (lo as f64 + width as f64 / 2.0).min(self.max_ns as f64) / 1000.0;
            }
        }
        self.max_ns as f64 / 1000.0
    }

    /// Mean in microseconds.
    pub fn mean_us(&self) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        self.sum_ns as f64 / self.count as f64 / 1000.0
    }

    /// Largest sample in microseconds.
    pub fn max_us(&self) -> f64 {
        self.max_ns as f64 / 1000.0
    }

    /// Samples at or above `us` microseconds (to bucket precision).
    pub fn above_us(&self, us: f64) -> u64 {
        let limit = (us * 1000.0) as u64;
        self.buckets
            .iter()
            .enumerate()
            .filter(|&(i, _)| bucket_bounds(i).0 >= limit)
            .map(|(_, &n)| u64::from(n))
            .sum::<u64>()
            + self.overflow
    }
}

/// What one run measured.
pub struct Outcome {
    /// Streams sent.
    pub streams: usize,
    /// Measured packets sent (the expected count).
    pub sent: u64,
    /// Packets sent in all (warm-up included).
    pub sent_total: u64,
    /// Measured packets received (each counted once).
    pub received: u64,
    /// Packets received more than once.
    pub duplicates: u64,
    /// Packets received after a later packet of the same stream.
    pub reordered: u64,
    /// Datagrams that were not ours (or of another run).
    pub foreign: u64,
    /// Packets `sendmmsg` refused.
    pub send_errors: u64,
    /// Packets received without a kernel timestamp (timed with the receiver's clock instead).
    pub no_timestamp: u64,
    /// Streams that lost at least one measured packet.
    pub streams_with_loss: usize,
    /// The first few of them: (stream id, measured packets sent, received). Stream `2i` is call `i`'s A→B.
    pub lossy_streams: Vec<(usize, u32, u32)>,
    /// Latency of the measured packets (kernel receive time − send time).
    pub latency: Histogram,
    /// Largest delay of a send behind its schedule.
    pub sender_max_lag: Duration,
    /// Packets sent more than 1 ms behind schedule.
    pub sender_late: u64,
    /// Per second of the measured window (by send schedule): latency of what arrived.
    pub per_second: Vec<Second>,
    /// Packets (any, each counted once) that arrived between the two window edges (wall clock): what the relay
    /// forwarded while its CPU was being measured, even when the sender ran late.
    pub arrived_in_window: u64,
    /// The wall-clock length of the window.
    pub window: Duration,
}

/// The latency of the packets scheduled in one second of the run.
#[derive(Clone, Copy, Debug, Default)]
pub struct Second {
    /// Measured packets received.
    pub received: u64,
    /// Of which at or above 1 ms.
    pub over_1ms: u64,
    /// Sum of their latencies.
    pub sum_ns: u64,
    /// The largest.
    pub max_ns: u64,
}

impl Outcome {
    /// Lost measured packets.
    pub fn lost(&self) -> u64 {
        self.sent.saturating_sub(self.received)
    }

    /// Loss in percent of the measured packets.
    pub fn loss_pct(&self) -> f64 {
        if self.sent == 0 {
            return 0.0;
        }
        self.lost() as f64 * 100.0 / self.sent as f64
    }
}

/// A window edge: the measured window starts or ends now (for CPU samples).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Edge {
    /// The first measured period is due.
    Start,
    /// The last measured period is over.
    End,
}

fn periods(d: Duration) -> u64 {
    (d.as_nanos() / u128::from(PERIOD_NS)) as u64
}

fn realtime_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Sends `streams` for `load.warmup + load.measure`, meters what comes back, and calls `edge` (on this thread)
/// when the measured window starts and ends.
pub fn run(ends: &Endpoints, streams: &[Stream], load: &Load, mut edge: impl FnMut(Edge)) -> Outcome {
    ends.drain();
    let done = AtomicBool::new(false);
    let origin_ns = realtime_ns();
    let (mut start_ns, mut end_ns) = (origin_ns, origin_ns);
    let t0 = Instant::now() + Duration::from_millis(50);
    let total_periods = periods(load.warmup) + periods(load.measure);
    let (sender, receiver) = std::thread::scope(|scope| {
        let sender = std::thread::Builder::new()
            .name("ml-send".into())
            .spawn_scoped(scope, || {
                let stats = send_loop(ends, streams, load, t0);
                done.store(true, Ordering::Release);
                stats
            });
        if sender.is_err() {
            done.store(true, Ordering::Release);
        }
        let receiver = std::thread::Builder::new()
            .name("ml-recv".into())
            .spawn_scoped(scope, || {
                recv_loop(ends, streams.len(), total_periods, load, &done, origin_ns)
            });
        let start = t0 + Duration::from_nanos(periods(load.warmup) * PERIOD_NS);
        std::thread::sleep(start.saturating_duration_since(Instant::now()));
        start_ns = realtime_ns();
        edge(Edge::Start);
        let end = t0 + Duration::from_nanos(total_periods * PERIOD_NS);
        std::thread::sleep(end.saturating_duration_since(Instant::now()));
        end_ns = realtime_ns();
        edge(Edge::End);
        (
            sender.ok().and_then(|h| h.join().ok()),
            receiver.ok().and_then(|h| h.join().ok()),
        )
    });
    let sender = sender.unwrap_or_else(|| SendStats::failed(streams.len()));
    let receiver =
        receiver.unwrap_or_else(|| RecvStats::new(streams.len(), total_periods, load.run_id, origin_ns));
    let bin = |ns: u64| (ns.saturating_sub(origin_ns) / ARRIVAL_BIN_NS) as usize;
    let arrived_in_window = receiver
        .arrivals
        .iter()
        .take(bin(end_ns))
        .skip(bin(start_ns))
        .map(|&n| u64::from(n))
        .sum();
    let warm_seconds = (periods(load.warmup) / PACKETS_PER_SECOND) as usize;
    let lossy_streams: Vec<(usize, u32, u32)> = sender
        .measured
        .iter()
        .zip(&receiver.per_stream)
        .enumerate()
        .filter(|(_, (sent, got))| **sent > got.received)
        .take(20)
        .map(|(id, (sent, got))| (id, *sent, got.received))
        .collect();
    let streams_with_loss = sender
        .measured
        .iter()
        .zip(&receiver.per_stream)
        .filter(|(sent, got)| u64::from(**sent) > u64::from(got.received))
        .count();
    Outcome {
        streams: streams.len(),
        sent: sender.measured.iter().map(|&n| u64::from(n)).sum(),
        sent_total: sender.total,
        received: receiver.per_stream.iter().map(|s| u64::from(s.received)).sum(),
        duplicates: receiver.duplicates,
        reordered: receiver.reordered,
        foreign: receiver.foreign,
        send_errors: sender.errors,
        no_timestamp: receiver.no_timestamp,
        streams_with_loss,
        lossy_streams,
        latency: receiver.latency,
        sender_max_lag: Duration::from_nanos(sender.max_lag_ns),
        sender_late: sender.late,
        per_second: receiver.per_second.into_iter().skip(warm_seconds).collect(),
        arrived_in_window,
        window: Duration::from_nanos(end_ns.saturating_sub(start_ns)),
    }
}

struct SendStats {
    /// Measured packets sent, per stream.
    measured: Vec<u32>,
    total: u64,
    errors: u64,
    max_lag_ns: u64,
    late: u64,
}

impl SendStats {
    fn failed(streams: usize) -> Self {
        Self {
            measured: vec![0; streams],
            total: 0,
            errors: 0,
            max_lag_ns: 0,
            late: 0,
        }
    }
}

/// A batch of packets from one socket.
struct Batch {
    bufs: Vec<[u8; PACKET]>,
    addrs: Vec<Option<SockaddrIn>>,
    ids: Vec<(u32, bool)>,
    headers: MultiHeaders<SockaddrIn>,
    src: usize,
}

impl Batch {
    fn new() -> Self {
        let mut template = [0xD5u8; PACKET]; // A-law silence
        template[0] = 0x80; // RTP v2
        template[1] = 8; // PT 8 = PCMA
        template[RTP_HEADER..RTP_HEADER + 4].copy_from_slice(&MAGIC);
        Self {
            bufs: vec![template; BATCH],
            addrs: Vec::with_capacity(BATCH),
            ids: Vec::with_capacity(BATCH),
            headers: MultiHeaders::preallocate(BATCH, None),
            src: usize::MAX,
        }
    }

    fn push(&mut self, stream: u32, dst: SocketAddrV4, seq: u64, measured: bool, run_id: u32) {
        let n = self.ids.len();
        let p = &mut self.bufs[n];
        p[2..4].copy_from_slice(&(seq as u16).to_be_bytes());
        p[4..8].copy_from_slice(&((seq as u32).wrapping_mul(PAYLOAD as u32)).to_be_bytes());
        p[8..12].copy_from_slice(&(0x5EED_0000 ^ stream).to_be_bytes());
        p[OFF_RUN..OFF_RUN + 4].copy_from_slice(&run_id.to_be_bytes());
        p[OFF_STREAM..OFF_STREAM + 4].copy_from_slice(&stream.to_be_bytes());
        p[OFF_SEQ..OFF_SEQ + 4].copy_from_slice(&(seq as u32).to_be_bytes());
        p[OFF_MEASURED] = u8::from(measured);
        p[OFF_SENT..OFF_SENT + 8].copy_from_slice(&realtime_ns().to_be_bytes());
        self.addrs.push(Some(SockaddrIn::from(dst)));
        self.ids.push((stream, measured));
    }

    /// Sends the batch from `socket`; returns (sent, failed).
    fn flush(&mut self, socket: &UdpSocket, stats: &mut SendStats) {
        let n = self.ids.len();
        let mut off = 0;
        let mut retries = 0;
        while off < n {
            let slices: Vec<[IoSlice<'_>; 1]> = self.bufs[off..n].iter().map(|b| [IoSlice::new(b)]).collect();
            let no_cmsgs: [ControlMessage<'_>; 0] = [];
            let result = socket::sendmmsg(
                socket.as_raw_fd(),
                &mut self.headers,
                &slices,
                &self.addrs[off..n],
                no_cmsgs,
                MsgFlags::empty(),
            )
            .map(Iterator::count);
            match result {
                Ok(sent) if sent > 0 => {
                    for &(id, measured) in &self.ids[off..off + sent] {
                        stats.total += 1;
                        if measured {
                            stats.measured[id as usize] += 1;
                        }
                    }
                    off += sent;
                }
                Err(Errno::EAGAIN | Errno::ENOBUFS | Errno::EINTR) | Ok(_) if retries < 3 => {
                    retries += 1;
                }
                _ => {
                    // The first message of the rest failed for good: count it and go on with the next.
                    stats.errors += 1;
                    off += 1;
                }
            }
        }
        self.addrs.clear();
        self.ids.clear();
    }
}

fn send_loop(ends: &Endpoints, streams: &[Stream], load: &Load, t0: Instant) -> SendStats {
    // Timer slack 1 µs (default 50 µs) so the pacing sleeps are close to what is asked; per thread.
    let _ = nix::sys::prctl::set_timerslack(1_000);
    let mut stats = SendStats::failed(streams.len());
    if streams.is_empty() {
        return stats;
    }
    // Schedule order: grouped by source socket, so what is due together mostly shares a socket (one syscall).
    let mut order: Vec<u32> = (0..streams.len() as u32).collect();
    order.sort_by_key(|&id| (streams[id as usize].src, id));
    let n = order.len() as u64;
    let warm = periods(load.warmup);
    let total = warm + periods(load.measure);
    let due = |m: u64, k: u64| m * PERIOD_NS + k * PERIOD_NS / n;
    let pace = load.pace.as_nanos() as u64;
    let limit = load.send_batch.clamp(1, BATCH);
    let mut batch = Batch::new();
    let (mut m, mut k) = (0u64, 0u64);
    while m < total {
        let now = t0.elapsed().as_nanos() as u64;
        while m < total && due(m, k) <= now {
            let id = order[k as usize];
            let stream = streams[id as usize];
            if stream.src != batch.src || batch.ids.len() >= limit {
                if !batch.ids.is_empty() {
                    batch.flush(&ends.sockets[batch.src], &mut stats);
                }
                batch.src = stream.src;
            }
            let lag = now - due(m, k);
            stats.max_lag_ns = stats.max_lag_ns.max(lag);
            if lag > 1_000_000 {
                stats.late += 1;
            }
            batch.push(id, stream.dst, m, m >= warm, load.run_id);
            k += 1;
            if k == n {
                k = 0;
                m += 1;
            }
        }
        if !batch.ids.is_empty() {
            batch.flush(&ends.sockets[batch.src], &mut stats);
        }
        if m >= total {
            break;
        }
        let now = t0.elapsed().as_nanos() as u64;
        let next = due(m, k).max(now + pace);
        std::thread::sleep(Duration::from_nanos(next.saturating_sub(now)));
    }
    stats
}

#[derive(Clone, Copy, Default)]
struct StreamRx {
    received: u32,
    /// Highest sequence number seen + 1 (0: none yet).
    next: u32,
}

struct RecvStats {
    per_stream: Vec<StreamRx>,
    /// One bit per (stream, sequence number).
    seen: Vec<u64>,
    words: usize,
    total_periods: u64,
    run_id: u32,
    duplicates: u64,
    reordered: u64,
    foreign: u64,
    no_timestamp: u64,
    latency: Histogram,
    per_second: Vec<Second>,
    /// Arrivals per `ARRIVAL_BIN_NS` since `origin_ns` (wall clock).
    arrivals: Vec<u32>,
    origin_ns: u64,
}

impl RecvStats {
    fn new(streams: usize, total_periods: u64, run_id: u32, origin_ns: u64) -> Self {
        let words = (total_periods as usize).div_ceil(64).max(1);
        Self {
            per_stream: vec![StreamRx::default(); streams],
            seen: vec![0; words * streams],
            words,
            total_periods,
            run_id,
            duplicates: 0,
            reordered: 0,
            foreign: 0,
            no_timestamp: 0,
            latency: Histogram::new(),
            per_second: vec![Second::default(); total_periods.div_ceil(PACKETS_PER_SECOND) as usize],
            // The run, plus two minutes of lateness.
            arrivals: vec![0; ((total_periods * PERIOD_NS + 120_000_000_000) / ARRIVAL_BIN_NS) as usize],
            origin_ns,
        }
    }

    fn packet(&mut self, data: &[u8], arrived_ns: Option<u64>) {
        let field = |off: usize| -> u32 {
            u32::from_be_bytes([data[off], data[off + 1], data[off + 2], data[off + 3]])
        };
        if data.len() < OFF_MEASURED + 1
            || data[RTP_HEADER..RTP_HEADER + 4] != MAGIC
            || field(OFF_RUN) != self.run_id
        {
            self.foreign += 1;
            return;
        }
        let stream = field(OFF_STREAM) as usize;
        let seq = field(OFF_SEQ);
        if stream >= self.per_stream.len() || u64::from(seq) >= self.total_periods {
            self.foreign += 1;
            return;
        }
        let (word, bit) = (stream * self.words + seq as usize / 64, 1u64 << (seq % 64));
        if self.seen[word] & bit != 0 {
            self.duplicates += 1;
            return;
        }
        self.seen[word] |= bit;
        let arrived = arrived_ns.unwrap_or_else(|| {
            self.no_timestamp += 1;
            realtime_ns()
        });
        let at = (arrived.saturating_sub(self.origin_ns) / ARRIVAL_BIN_NS) as usize;
        if let Some(n) = self.arrivals.get_mut(at) {
            *n += 1;
        }
        let rx = &mut self.per_stream[stream];
        if seq + 1 < rx.next {
            self.reordered += 1;
        } else {
            rx.next = seq + 1;
        }
        if data[OFF_MEASURED] != 0 {
            rx.received += 1;
            let mut sent = [0u8; 8];
            sent.copy_from_slice(&data[OFF_SENT..OFF_SENT + 8]);
            let ns = arrived.saturating_sub(u64::from_be_bytes(sent));
            self.latency.record(ns);
            if let Some(sec) = self
                .per_second
                .get_mut((u64::from(seq) / PACKETS_PER_SECOND) as usize)
            {
                sec.received += 1;
                sec.over_1ms += u64::from(ns >= 1_000_000);
                sec.sum_ns += ns;
                sec.max_ns = sec.max_ns.max(ns);
            }
        }
    }
}

/// Reads one batch from `socket`; returns how many datagrams it read.
fn recv_batch(
    socket: &UdpSocket,
    headers: &mut MultiHeaders<SockaddrStorage>,
    bufs: &mut [[u8; 256]],
    stats: &mut RecvStats,
) -> usize {
    let mut iovs: Vec<[IoSliceMut<'_>; 1]> = bufs.iter_mut().map(|b| [IoSliceMut::new(b)]).collect();
    let Ok(results) = socket::recvmmsg(
        socket.as_raw_fd(),
        headers,
        iovs.iter_mut(),
        MsgFlags::MSG_DONTWAIT,
        None,
    ) else {
        return 0;
    };
    let mut n = 0;
    for msg in results {
        n += 1;
        let arrived = msg.cmsgs().ok().and_then(|mut c| {
            c.find_map(|c| match c {
                ControlMessageOwned::ScmTimestampns(ts) => {
                    Some(ts.tv_sec() as u64 * 1_000_000_000 + ts.tv_nsec() as u64)
                }
                _ => None,
            })
        });
        if let Some(data) = msg.iovs().next() {
            stats.packet(&data[..msg.bytes.min(data.len())], arrived);
        }
    }
    n
}

fn recv_loop(
    ends: &Endpoints,
    streams: usize,
    total_periods: u64,
    load: &Load,
    done: &AtomicBool,
    origin_ns: u64,
) -> RecvStats {
    let mut stats = RecvStats::new(streams, total_periods, load.run_id, origin_ns);
    let mut headers: MultiHeaders<SockaddrStorage> =
        MultiHeaders::preallocate(BATCH, Some(nix::cmsg_space!(TimeSpec)));
    let mut bufs = vec![[0u8; 256]; BATCH];
    let mut deadline: Option<Instant> = None;
    loop {
        let mut full = false;
        for s in &ends.sockets {
            loop {
                let n = recv_batch(s, &mut headers, &mut bufs, &mut stats);
                if n < BATCH {
                    break;
                }
                full = true;
            }
        }
        if done.load(Ordering::Acquire) {
            let at = *deadline.get_or_insert_with(|| Instant::now() + load.drain);
            if Instant::now() >= at {
                break;
            }
        }
        if !full {
            std::thread::sleep(load.rx_poll);
        }
    }
    stats
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_quantiles() {
        let mut h = Histogram::new();
        for us in 1..=100u64 {
            h.record(us * 1000);
        }
        assert_eq!(h.count(), 100);
        assert!(
            (h.quantile_us(0.5) - 50.05).abs() < 0.01,
            "{}",
            h.quantile_us(0.5)
        );
        assert!((h.quantile_us(0.99) - 99.05).abs() < 0.01);
        assert_eq!(h.above_us(90.0), 11);
        h.record(10_000_000_000);
        assert!((h.max_us() - 10_000_000.0).abs() < 1.0);
        assert_eq!(h.above_us(1000.0), 1);
        // The coarser tiers.
        let mut h = Histogram::new();
        for ms in 1..=100u64 {
            h.record(ms * 1_000_000 + 3_000);
        }
        assert!(
            (h.quantile_us(0.5) - 50_005.0).abs() < 10.0,
            "{}",
            h.quantile_us(0.5)
        );
        h.record(3_000_000_000);
        assert!(
            (h.quantile_us(1.0) - 3_000_000.0).abs() < 1000.0,
            "{}",
            h.quantile_us(1.0)
        );
        for i in [0, 9_999, 10_000, 19_899, 19_900, 29_799] {
            let (lo, _) = bucket_bounds(i);
            assert_eq!(bucket_of(lo), Some(i));
        }
        assert_eq!(h.buckets.len(), 29_800);
    }

    #[test]
    fn direct_streams_lose_nothing() {
        let Ok(ends) = Endpoints::bind(2) else {
            return;
        };
        let targets: Vec<_> = (0..10)
            .map(|i| (ends.addr(ends.b_index(i)), ends.addr(ends.a_index(i))))
            .collect();
        let streams = streams(&ends, &targets);
        let load = Load {
            warmup: Duration::from_millis(100),
            measure: Duration::from_millis(400),
            pace: Duration::from_micros(100),
            send_batch: 8,
            rx_poll: Duration::from_millis(1),
            drain: Duration::from_millis(100),
            run_id: 7,
        };
        let mut edges = Vec::new();
        let out = run(&ends, &streams, &load, |e| edges.push(e));
        assert_eq!(edges, [Edge::Start, Edge::End]);
        assert_eq!(out.sent, 20 * 20);
        assert_eq!(out.received, out.sent);
        assert_eq!(out.duplicates + out.foreign + out.send_errors, 0);
        assert_eq!(out.latency.count(), out.sent);
    }
}
