//! Route-decision latency on a large AXB table, read-only and under a concurrent writer storm.
//!
//! For each size in `PN_BENCH_SIZES` (default `1000000,10000000`) it builds a [`BindingTable`] of that many AXB
//! pairs (random Chinese mobile numbers over 2000 X numbers), prints the resident-memory cost per binding, then
//! measures `decide` for existing pairs (random keys, caller is A or B):
//! - with criterion (mean), read-only and with a background writer;
//! - with its own timer: 1M single calls timed one by one with `Instant` (the timer's own cost is printed and
//!   included), and 1M calls timed in batches of 64 (per-call latency = batch time / 64); p50/p99/p99.9 of both.
//!
//! The writer runs rate-limited (every millisecond it catches up to `PN_BENCH_WRITE_RATE` ops/s, default 60000),
//! cycling through: modify a pair in place (new max duration / expiry), swap a pair's B for another number and
//! back (slot swap, record alloc/free), remove a pair and insert it again (tombstone, free-list reuse).
//!
//! Memory: RSS (from /proc/self/statm) before and after building the table, divided by the number of bindings.
//! Only what `decide` needs is in the index (numbers, id, app, flags, expiry: a 56-byte record plus two 8-byte
//! slots); the full binding records (subscription ids, user data, tones...) live in pn-store, not here.
//!
//! Run: `PN_BENCH_SIZES=1000000,10000000 cargo bench -p pn-benches --bench decide`.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use criterion::Criterion;
use pn_bindings::{
    AppId, AxbBinding, Binding, BindingId, BindingKind, BindingTable, CallControls, CallDirection,
    NumberStatus, RecordSettings, RouteDecision, RoutePolicy, UnixTime, XNumber, decide,
};
use pn_numbers::E164;

const X_NUMBERS: u64 = 2000;
const NOW: UnixTime = UnixTime(1_700_000_000);
const SAMPLES: usize = 1_000_000;
const BATCH: usize = 64;

/// Mask of the 30-bit domain [`scramble`] permutes.
const DOMAIN: u32 = (1 << 30) - 1;

/// A bijection on `0..2^30` (so every generated number is distinct).
fn scramble(mut v: u32) -> u32 {
    v &= DOMAIN;
    v ^= v >> 15;
    v = v.wrapping_mul(0x2c1b_3c6d) & DOMAIN;
    v ^= v >> 13;
    v = v.wrapping_mul(0x297a_2d39) & DOMAIN;
    v ^ (v >> 15)
}

/// Allocated mobile blocks (+86 13x, 18x): 20 blocks of 10^8 numbers, more than the 2^30 `scramble` yields.
const BLOCKS: [u64; 20] = [
    130, 131, 132, 133, 134, 135, 136, 137, 138, 139, 180, 181, 182, 183, 184, 185, 186, 187, 188, 189,
];

/// The `k`-th distinct mobile number (`k < 2^30`).
fn mobile(k: u32) -> E164 {
    let s = u64::from(scramble(k));
    let digits = 86 * 100_000_000_000 + BLOCKS[(s / 100_000_000) as usize] * 100_000_000 + s % 100_000_000;
    E164::from_digits(digits).unwrap_or_else(|| unreachable!())
}

fn x_number(i: u64) -> E164 {
    E164::from_digits(8_617_000_000_000 + i % X_NUMBERS).unwrap_or_else(|| unreachable!())
}

/// Pair `i` (`i < 2^29 - 2^28`): A and B are fixed numbers; a `swapped` version uses an alternative B.
fn pair(i: u64, max_duration_min: u16, swapped: bool) -> Binding {
    let n = i as u32;
    Binding {
        id: BindingId(i),
        subscription_id: String::new(),
        app: AppId(1),
        created_at: NOW,
        updated_at: NOW,
        expires_at: Some(NOW.plus_secs(86_400 + i64::from(max_duration_min))),
        duration_secs: None,
        record: RecordSettings::default(),
        user_data: None,
        kind: BindingKind::Axb(AxbBinding {
            x: x_number(i),
            a: mobile(2 * n),
            b: if swapped {
                mobile(u32::MAX - n)
            } else {
                mobile(2 * n + 1)
            },
            direction: CallDirection::Both,
            controls: CallControls {
                max_duration_min,
                ..CallControls::default()
            },
        }),
    }
}

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()))
        .map_or(0, |pages| pages * 4096)
}

/// Anonymous memory backed by transparent huge pages, in MiB (from `/proc/self/smaps_rollup`).
fn huge_pages_mib() -> u64 {
    std::fs::read_to_string("/proc/self/smaps_rollup")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("AnonHugePages:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<u64>().ok()))
        })
        .map_or(0, |kb| kb >> 10)
}

/// xorshift64*: cheap reproducible randomness for picking keys.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A random existing (caller, called) of a table of `n` pairs.
    fn key(&mut self, n: u64) -> (E164, E164) {
        let r = self.next();
        let i = (r >> 1) % n;
        let caller = if r & 1 == 0 {
            mobile(2 * i as u32)
        } else {
            mobile(2 * i as u32 + 1)
        };
        (caller, x_number(i))
    }
}

fn build(n: u64) -> BindingTable {
    let table = BindingTable::with_capacity(n as usize);
    table.upsert_app(&pn_benches::bench_app(NOW, pn_bindings::AppControls::default()));
    for i in 0..X_NUMBERS {
        table.upsert_number(&XNumber {
            number: x_number(i),
            app: AppId(1),
            area_code: "0755".into(),
            province: None,
            status: NumberStatus::Normal,
        });
    }
    for i in 0..n {
        table.insert_binding(&pair(i, 0, false));
    }
    let sample = (0..1000).map(|k| mobile(k * 7919)).chain([mobile(DOMAIN)]);
    assert!(
        sample.into_iter().all(|m| pn_numbers::classify(m).is_mobile()),
        "generator must yield mobile numbers"
    );
    table
}

/// Background writer: `rate` table writes per second until `stop`; returns the writes done.
fn writer(table: &BindingTable, n: u64, rate: u64, stop: &AtomicBool) -> u64 {
    let start = Instant::now();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut ops = 0u64;
    // Pairs whose B is currently swapped, and their version counters, tracked per touched pair.
    let mut state: std::collections::HashMap<u64, (u16, bool)> = std::collections::HashMap::new();
    while !stop.load(Ordering::Relaxed) {
        let due = start.elapsed().as_micros() as u64 * rate / 1_000_000;
        while ops < due {
            let i = rng.next() % n;
            let (version, swapped) = state.get(&i).copied().unwrap_or((0, false));
            let old = pair(i, version, swapped);
            match ops % 3 {
                0 => {
                    let new = pair(i, version.wrapping_add(1) % 1440, swapped);
                    table.replace_binding(&old, &new);
                    state.insert(i, (version.wrapping_add(1) % 1440, swapped));
                }
                1 => {
                    table.replace_binding(&old, &pair(i, version, !swapped));
                    state.insert(i, (version, !swapped));
                }
                _ => {
                    table.remove_binding(&old);
                    table.insert_binding(&old);
                    ops += 1;
                }
            }
            ops += 1;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    ops
}

/// Percentile of a sorted slice.
fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// The memory-latency floor of this machine for a structure of `bytes`: one random read, and two dependent
/// random reads (what any index → record lookup costs), timed one at a time exactly like `decide` below.
/// The array is advised onto transparent huge pages like the table's. Returns the two-read (p50, p99).
#[allow(unsafe_code)]
fn floor(label: &str, bytes: u64) -> (f64, f64) {
    let len = (bytes / 8).max(1 << 20) as usize;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut cells: Vec<u64> = Vec::with_capacity(len);
    let range = cells.as_ptr() as usize..cells.as_ptr() as usize + len * 8;
    // SAFETY: madvise only changes how the kernel backs these (owned, allocated) pages, never their contents.
    let _ = unsafe {
        libc::madvise(
            (range.start & !4095) as *mut libc::c_void,
            range.end - (range.start & !4095),
            libc::MADV_HUGEPAGE,
        )
    };
    cells.extend((0..len).map(|_| rng.next() % len as u64));
    let mut one = Vec::with_capacity(SAMPLES);
    let mut two = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        let i = (rng.next() % len as u64) as usize;
        let t0 = Instant::now();
        black_box(cells[black_box(i)]);
        one.push(t0.elapsed().as_nanos() as f64);
        let j = (rng.next() % len as u64) as usize;
        let t0 = Instant::now();
        let next = cells[black_box(j)] as usize;
        black_box(cells[next]);
        two.push(t0.elapsed().as_nanos() as f64);
    }
    one.sort_by(f64::total_cmp);
    two.sort_by(f64::total_cmp);
    println!(
        "{label} memory floor over {} MiB: one random read p50 {:.0} p99 {:.0} ns; two dependent reads p50 {:.0} p99 {:.0} ns",
        (len * 8) >> 20,
        pct(&one, 0.5),
        pct(&one, 0.99),
        pct(&two, 0.5),
        pct(&two, 0.99),
    );
    (pct(&two, 0.5), pct(&two, 0.99))
}

/// Times `decide` one call at a time and in batches; prints percentiles; returns the single-call (p50, p99).
fn percentiles(label: &str, table: &BindingTable, n: u64) -> (f64, f64) {
    let policy = RoutePolicy::default();
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let mut connected = 0usize;
    // Timer overhead alone.
    let mut empty: Vec<f64> = (0..100_000)
        .map(|_| {
            let t0 = Instant::now();
            black_box(());
            t0.elapsed().as_nanos() as f64
        })
        .collect();
    empty.sort_by(f64::total_cmp);
    let mut single: Vec<f64> = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        let (from, to) = rng.key(n);
        let t0 = Instant::now();
        let d = decide(table, &policy, Some(black_box(from)), black_box(to), None, NOW);
        let dt = t0.elapsed();
        connected += usize::from(matches!(d, RouteDecision::Connect(_)));
        single.push(dt.as_nanos() as f64);
    }
    single.sort_by(f64::total_cmp);
    let mut keys = vec![(mobile(0), x_number(0)); BATCH];
    let mut batched: Vec<f64> = Vec::with_capacity(SAMPLES / BATCH);
    for _ in 0..SAMPLES / BATCH {
        for k in &mut keys {
            *k = rng.key(n);
        }
        let t0 = Instant::now();
        for &(caller, called) in &keys {
            black_box(decide(table, &policy, Some(caller), called, None, NOW));
        }
        batched.push(t0.elapsed().as_nanos() as f64 / BATCH as f64);
    }
    batched.sort_by(f64::total_cmp);
    println!(
        "{label}: single-call ns p50 {:.0} p99 {:.0} p99.9 {:.0} (timer alone p50 {:.0} p99 {:.0}); \
         batch-of-{BATCH} ns/call p50 {:.1} p99 {:.1}; connected {:.2}%",
        pct(&single, 0.5),
        pct(&single, 0.99),
        pct(&single, 0.999),
        pct(&empty, 0.5),
        pct(&empty, 0.99),
        pct(&batched, 0.5),
        pct(&batched, 0.99),
        connected as f64 * 100.0 / SAMPLES as f64,
    );
    (pct(&single, 0.5), pct(&single, 0.99))
}

fn bench_size(c: &mut Criterion, n: u64, rate: u64) {
    let before = rss_bytes();
    let t0 = Instant::now();
    let table = Arc::new(build(n));
    let built = t0.elapsed();
    let after = rss_bytes();
    println!(
        "== {n} AXB bindings: built in {:.1} s ({:.0} inserts/s); RSS +{} MiB = {:.1} bytes/binding \
         (index + records; {} MiB on huge pages)",
        built.as_secs_f64(),
        n as f64 / built.as_secs_f64(),
        (after.saturating_sub(before)) >> 20,
        after.saturating_sub(before) as f64 / n as f64,
        huge_pages_mib(),
    );
    let policy = RoutePolicy::default();

    let (floor50, floor99) = floor(&format!("{n}"), after.saturating_sub(before));
    let (p50, p99) = percentiles(&format!("{n} read-only"), &table, n);
    println!(
        "{n} read-only vs floor: p50 {:.2}x p99 {:.2}x",
        p50 / floor50,
        p99 / floor99
    );
    let mut rng = Rng(42);
    c.bench_function(&format!("decide/axb/{n}/read-only"), |b| {
        b.iter_batched(
            || rng.key(n),
            |(caller, called)| decide(&table, &policy, Some(caller), called, None, NOW),
            criterion::BatchSize::SmallInput,
        );
    });

    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let handle = {
        let (table, stop) = (Arc::clone(&table), Arc::clone(&stop));
        std::thread::spawn(move || writer(&table, n, rate, &stop))
    };
    std::thread::sleep(Duration::from_millis(200));
    let (p50, p99) = percentiles(&format!("{n} with writer"), &table, n);
    println!(
        "{n} with writer vs floor: p50 {:.2}x p99 {:.2}x",
        p50 / floor50,
        p99 / floor99
    );
    c.bench_function(&format!("decide/axb/{n}/with-writer"), |b| {
        b.iter_batched(
            || rng.key(n),
            |(caller, called)| decide(&table, &policy, Some(caller), called, None, NOW),
            criterion::BatchSize::SmallInput,
        );
    });
    stop.store(true, Ordering::Relaxed);
    let ops = handle.join().unwrap_or(0);
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{n} writer: {ops} table writes in {secs:.1} s = {:.0} writes/s (target {rate}/s)",
        ops as f64 / secs
    );
}

fn main() {
    let sizes: Vec<u64> = std::env::var("PN_BENCH_SIZES")
        .unwrap_or_else(|_| "1000000,10000000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let rate: u64 = std::env::var("PN_BENCH_WRITE_RATE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60_000);
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .configure_from_args();
    for n in sizes {
        bench_size(&mut c, n, rate);
    }
    c.final_summary();
}
