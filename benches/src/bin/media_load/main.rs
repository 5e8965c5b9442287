//! Media relay load harness: concurrent relayed G.711 calls through pnswitch's RTP relay and through
//! rtpengine (userspace forwarding), on loopback, with the same generator.
//!
//! For each relay: set up `--calls` calls (pnswitch: AXB bindings over the signed API, then SIP over UDP with its
//! own UAC/UAS; rtpengine: NG `offer`/`answer`), send 50 PCMA packets/s each way per call for `--warmup` +
//! `--seconds`, and report loss, duplicates, reordering, the latency the relay adds (kernel receive timestamp −
//! send time; p50/p99, raw and minus a direct no-relay baseline), relayed packets/s, the relay's CPU seconds
//! (utime + stime of all its threads, `/proc/PID/stat`) and packets relayed per CPU-second ("per core"), and
//! the pnswitch / rtpengine ratio of that figure. The generator's own CPU is reported too: it shares the cores.
//!
//! Usage: `media-load [--pnswitch target/release/pnswitch] [--rtpengine rtpengine] [--calls 1000]
//! [--seconds 20] [--warmup 2] [--baseline-seconds 5] [--sockets 4] [--pace-us 50] [--send-batch 1]
//! [--rx-poll-us 1000] [--port-min 7000] [--port-max 16999] [--shards 0] [--rtpengine-threads 0] [--json PATH]
//! [--skip-baseline] [--skip-pnswitch] [--skip-rtpengine]`. Usually started by `benches/media/run.sh`.

mod bencode;
mod media;
mod pnswitch;
mod procs;
mod rtpengine;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddrV4;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use media::{Edge, Endpoints, Load, Outcome};

struct Args {
    pnswitch: PathBuf,
    rtpengine: String,
    calls: usize,
    seconds: f64,
    warmup: f64,
    baseline_seconds: f64,
    sockets: usize,
    pace_us: u64,
    send_batch: usize,
    rx_poll_us: u64,
    port_min: u16,
    port_max: u16,
    shards: usize,
    rtpengine_threads: usize,
    json: Option<PathBuf>,
    skip_baseline: bool,
    skip_pnswitch: bool,
    skip_rtpengine: bool,
}

fn num<T: std::str::FromStr>(flag: &str, v: &str) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    v.parse().map_err(|e| format!("{flag} {v}: {e}"))
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        pnswitch: "target/release/pnswitch".into(),
        rtpengine: "rtpengine".into(),
        calls: 1000,
        seconds: 20.0,
        warmup: 2.0,
        baseline_seconds: 5.0,
        sockets: 4,
        pace_us: 50,
        send_batch: 1,
        rx_poll_us: 1000,
        // Below the kernel's ephemeral ports (32768–60999, where the generator's own sockets land) and away from
        // the ranges the e2e tests give their switches (20000–26000, 30000–41999, 60000–64999).
        port_min: 7_000,
        port_max: 16_999,
        shards: 0,
        rtpengine_threads: 0,
        json: None,
        skip_baseline: false,
        skip_pnswitch: false,
        skip_rtpengine: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--pnswitch" => a.pnswitch = value()?.into(),
            "--rtpengine" => a.rtpengine = value()?,
            "--calls" => a.calls = num(&flag, &value()?)?,
            "--seconds" => a.seconds = num(&flag, &value()?)?,
            "--warmup" => a.warmup = num(&flag, &value()?)?,
            "--baseline-seconds" => a.baseline_seconds = num(&flag, &value()?)?,
            "--sockets" => a.sockets = num(&flag, &value()?)?,
            "--pace-us" => a.pace_us = num(&flag, &value()?)?,
            "--send-batch" => a.send_batch = num(&flag, &value()?)?,
            "--rx-poll-us" => a.rx_poll_us = num(&flag, &value()?)?,
            "--port-min" => a.port_min = num(&flag, &value()?)?,
            "--port-max" => a.port_max = num(&flag, &value()?)?,
            "--shards" => a.shards = num(&flag, &value()?)?,
            "--rtpengine-threads" => a.rtpengine_threads = num(&flag, &value()?)?,
            "--json" => a.json = Some(value()?.into()),
            "--skip-baseline" => a.skip_baseline = true,
            "--skip-pnswitch" => a.skip_pnswitch = true,
            "--skip-rtpengine" => a.skip_rtpengine = true,
            "-h" | "--help" => {
                println!(
                    "{}",
                    include_str!("main.rs")
                        .lines()
                        .map_while(|l| l.strip_prefix("//!"))
                        .map(str::trim_start)
                        .collect::<Vec<_>>()
                        .join("\n")
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown flag {other} (see --help)")),
        }
    }
    if a.calls == 0 || a.seconds <= 0.0 || a.warmup < 0.0 {
        return Err("--calls and --seconds must be positive".into());
    }
    Ok(a)
}

/// CPU and kernel counters at one instant.
struct Sample {
    relay_pid: Option<u32>,
    relay: Option<procs::Cpu>,
    relay_threads: BTreeMap<String, procs::Cpu>,
    generator: Option<procs::Cpu>,
    machine: procs::Machine,
    udp: BTreeMap<String, u64>,
    processes: BTreeMap<u32, (String, procs::Cpu)>,
}

fn sample(relay: Option<u32>) -> Sample {
    Sample {
        relay_pid: relay,
        relay: relay.and_then(procs::process),
        relay_threads: relay.map(procs::threads).unwrap_or_default(),
        generator: procs::this_process(),
        machine: procs::machine(),
        udp: procs::udp_counters(),
        processes: procs::all_processes(),
    }
}

/// One relay's (or the baseline's) figures.
struct Measured {
    name: &'static str,
    calls: usize,
    calls_failed: usize,
    setup_secs: f64,
    outcome: Outcome,
    window_secs: f64,
    /// (user, system) CPU seconds of the relay process over the window.
    relay_cpu: Option<(f64, f64)>,
    relay_threads: Vec<(String, f64)>,
    generator_cpu: (f64, f64),
    machine_busy_secs: f64,
    machine_softirq_secs: f64,
    machine_total_secs: f64,
    /// CPU seconds of every other process over the window, largest first (not the relay, not us).
    others: Vec<(String, f64)>,
    udp: BTreeMap<String, u64>,
    alive_after: bool,
}

impl Measured {
    fn relay_cpu_total(&self) -> Option<f64> {
        self.relay_cpu.map(|(u, s)| u + s)
    }

    fn others_total(&self) -> f64 {
        self.others.iter().map(|(_, s)| s).sum::<f64>() + 0.0
    }

    /// Packets that reached the generator through the relay during the CPU window, per second.
    fn relayed_pps(&self) -> f64 {
        self.outcome.arrived_in_window as f64 / self.window_secs.max(1e-9)
    }

    /// Packets relayed during the CPU window per CPU-second of the relay.
    fn pps_per_core(&self) -> Option<f64> {
        self.relay_cpu_total()
            .filter(|&c| c > 0.0)
            .map(|c| self.outcome.arrived_in_window as f64 / c)
    }

    /// Share of the packets the sender sent more than 1 ms behind schedule (the generator was starved of CPU:
    /// the offered rate was not sustained throughout).
    fn late_pct(&self) -> f64 {
        self.outcome.sender_late as f64 * 100.0 / self.outcome.sent_total.max(1) as f64
    }
}

fn measure(
    name: &'static str,
    ends: &Endpoints,
    targets: &[(SocketAddrV4, SocketAddrV4)],
    load: &Load,
    relay_pid: Option<u32>,
) -> (Outcome, Sample, Sample) {
    let streams = media::streams(ends, targets);
    let mut first = None;
    let mut last = None;
    println!(
        "   {name}: {} calls, {} streams, {:.0} packets/s offered, {:.0} s warm-up + {:.0} s measured",
        targets.len(),
        streams.len(),
        streams.len() as f64 * media::PACKETS_PER_SECOND as f64,
        load.warmup.as_secs_f64(),
        load.measure.as_secs_f64()
    );
    let outcome = media::run(ends, &streams, load, |edge| match edge {
        Edge::Start => first = Some(sample(relay_pid)),
        Edge::End => last = Some(sample(relay_pid)),
    });
    let first = first.unwrap_or_else(|| sample(relay_pid));
    let last = last.unwrap_or_else(|| sample(relay_pid));
    (outcome, first, last)
}

#[allow(clippy::too_many_arguments)]
fn summarize(
    name: &'static str,
    calls: usize,
    calls_failed: usize,
    setup_secs: f64,
    outcome: Outcome,
    first: &Sample,
    last: &Sample,
    alive_after: bool,
) -> Measured {
    let tck = procs::clk_tck();
    let relay_cpu = first.relay.zip(last.relay).map(|(a, b)| a.seconds_until(b));
    let mut relay_threads: Vec<(String, f64)> = last
        .relay_threads
        .iter()
        .map(|(k, v)| {
            let before = first.relay_threads.get(k).copied().unwrap_or_default();
            let (u, s) = before.seconds_until(*v);
            (k.clone(), u + s)
        })
        .filter(|(_, s)| *s > 0.0)
        .collect();
    relay_threads.sort_by(|a, b| b.1.total_cmp(&a.1));
    let ours: Vec<u32> = [Some(std::process::id()), first.relay_pid]
        .into_iter()
        .flatten()
        .collect();
    let others = procs::busiest(&first.processes, &last.processes, &ours);
    let m = Measured {
        name,
        calls,
        calls_failed,
        setup_secs,
        window_secs: outcome.window.as_secs_f64(),
        relay_cpu,
        relay_threads,
        generator_cpu: first
            .generator
            .zip(last.generator)
            .map_or((0.0, 0.0), |(a, b)| a.seconds_until(b)),
        machine_busy_secs: last.machine.busy.saturating_sub(first.machine.busy) as f64 / tck,
        machine_softirq_secs: last.machine.softirq.saturating_sub(first.machine.softirq) as f64 / tck,
        machine_total_secs: last.machine.total.saturating_sub(first.machine.total) as f64 / tck,
        others,
        udp: procs::delta(&first.udp, &last.udp),
        alive_after,
        outcome,
    };
    let o = &m.outcome;
    let seconds = o.per_second.iter().fold(String::new(), |mut out, s| {
        let _ = write!(out, " {:.1}", s.max_ns as f64 / 1e6);
        out
    });
    println!("   {name}: max latency (ms) per second of the window:{seconds}");
    if m.others_total() > 0.2 {
        println!(
            "   {name}: WARNING: other processes used {:.2} CPU-seconds during the window (busiest: {:?})",
            m.others_total(),
            m.others.iter().take(3).collect::<Vec<_>>()
        );
    }
    println!(
        "   {name}: sent {} received {} lost {} ({:.4} %), dup {}, reordered {}, latency p50 {:.1} µs p99 {:.1} µs \
         max {:.1} µs, {:.0} pkt/s relayed, relay CPU {}, {}",
        o.sent,
        o.received,
        o.lost(),
        o.loss_pct(),
        o.duplicates,
        o.reordered,
        o.latency.quantile_us(0.5),
        o.latency.quantile_us(0.99),
        o.latency.max_us(),
        m.relayed_pps(),
        m.relay_cpu_total().map_or("-".into(), |c| format!("{c:.2} s")),
        m.pps_per_core()
            .map_or(String::new(), |p| format!("{p:.0} pkt per CPU-second")),
    );
    m
}

fn to_json(m: &Measured, baseline: Option<&Measured>) -> Value {
    let o = &m.outcome;
    let (p50, p99) = (o.latency.quantile_us(0.5), o.latency.quantile_us(0.99));
    let base = baseline.map(|b| {
        (
            b.outcome.latency.quantile_us(0.5),
            b.outcome.latency.quantile_us(0.99),
        )
    });
    let mut v = json!({
        "name": m.name,
        "calls": m.calls,
        "calls_failed": m.calls_failed,
        "setup_seconds": m.setup_secs,
        "streams": o.streams,
        "packets_sent": o.sent,
        "packets_sent_total": o.sent_total,
        "packets_received": o.received,
        "packets_lost": o.lost(),
        "loss_pct": o.loss_pct(),
        "duplicates": o.duplicates,
        "reordered": o.reordered,
        "foreign": o.foreign,
        "send_errors": o.send_errors,
        "no_kernel_timestamp": o.no_timestamp,
        "streams_with_loss": o.streams_with_loss,
        "lossy_streams_first_20": o.lossy_streams.iter()
            .map(|(id, sent, got)| json!({"stream": id, "call": id / 2,
                "direction": if id % 2 == 0 { "A->B" } else { "B->A" }, "sent": sent, "received": got}))
            .collect::<Vec<_>>(),
        "latency_us": {
            "samples": o.latency.count(), "p50": p50, "p99": p99, "p999": o.latency.quantile_us(0.999),
            "mean": o.latency.mean_us(), "max": o.latency.max_us(),
            "above_1ms": o.latency.above_us(1000.0),
        },
        "added_latency_minus_baseline_us": base.map(|(b50, b99)| json!({"p50": p50 - b50, "p99": p99 - b99})),
        "window_seconds": m.window_secs,
        "relayed_pps": m.relayed_pps(),
        "relay_cpu_seconds": m.relay_cpu.map(|(u, s)| json!({"user": u, "system": s, "total": u + s})),
        "pps_per_core": m.pps_per_core(),
        "relay_threads_cpu_seconds": m.relay_threads.iter().take(12)
            .map(|(k, v)| json!({"thread": k, "cpu_seconds": v})).collect::<Vec<_>>(),
        "generator_cpu_seconds": {"user": m.generator_cpu.0, "system": m.generator_cpu.1},
        "machine_busy_cpu_seconds": m.machine_busy_secs,
        "machine_softirq_cpu_seconds": m.machine_softirq_secs,
        "machine_total_cpu_seconds": m.machine_total_secs,
        "other_processes_cpu_seconds": m.others.iter().take(8)
            .map(|(k, v)| json!({"process": k, "cpu_seconds": v})).collect::<Vec<_>>(),
        "other_processes_cpu_seconds_total": m.others_total(),
        "kernel_udp_counters_delta": m.udp,
        "sender_max_lag_ms": o.sender_max_lag.as_secs_f64() * 1e3,
        "sender_packets_late_1ms": o.sender_late,
        "sender_packets_late_1ms_pct": m.late_pct(),
        "packets_arrived_in_cpu_window": o.arrived_in_window,
        "relay_alive_after": m.alive_after,
    });
    v["per_second"] = o
        .per_second
        .iter()
        .map(|s| {
            json!({
                "received": s.received, "over_1ms": s.over_1ms, "max_us": s.max_ns as f64 / 1e3,
                "mean_us": if s.received > 0 { s.sum_ns as f64 / s.received as f64 / 1e3 } else { 0.0 },
            })
        })
        .collect();
    v
}

fn table(rows: &[&Measured], baseline: Option<&Measured>) {
    let base = baseline.map(|b| {
        (
            b.outcome.latency.quantile_us(0.5),
            b.outcome.latency.quantile_us(0.99),
        )
    });
    let cell = |f: &dyn Fn(&Measured) -> String| {
        rows.iter().fold(String::new(), |mut out, m| {
            let _ = write!(out, "{:>16}", f(m));
            out
        })
    };
    println!("\n{:<34}{}", "", cell(&|m| m.name.to_owned()));
    let line = |label: &str, f: &dyn Fn(&Measured) -> String| println!("{label:<34}{}", cell(f));
    line("calls up (failed)", &|m| {
        format!("{} ({})", m.calls, m.calls_failed)
    });
    line("call setup (s)", &|m| format!("{:.1}", m.setup_secs));
    line("measured window (s)", &|m| format!("{:.1}", m.window_secs));
    line("packets sent (measured)", &|m| m.outcome.sent.to_string());
    line("packets received", &|m| m.outcome.received.to_string());
    line("lost", &|m| m.outcome.lost().to_string());
    line("loss %", &|m| format!("{:.4}", m.outcome.loss_pct()));
    line("streams with loss", &|m| m.outcome.streams_with_loss.to_string());
    line("duplicates / reordered", &|m| {
        format!("{} / {}", m.outcome.duplicates, m.outcome.reordered)
    });
    line("latency p50 (µs)", &|m| {
        format!("{:.1}", m.outcome.latency.quantile_us(0.5))
    });
    line("latency p99 (µs)", &|m| {
        format!("{:.1}", m.outcome.latency.quantile_us(0.99))
    });
    line("latency p99.9 (µs)", &|m| {
        format!("{:.1}", m.outcome.latency.quantile_us(0.999))
    });
    line("latency max (µs)", &|m| {
        format!("{:.1}", m.outcome.latency.max_us())
    });
    line("packets > 1 ms", &|m| {
        m.outcome.latency.above_us(1000.0).to_string()
    });
    if let Some((b50, b99)) = base {
        line("p50 − baseline (µs)", &|m| {
            format!("{:.1}", m.outcome.latency.quantile_us(0.5) - b50)
        });
        line("p99 − baseline (µs)", &|m| {
            format!("{:.1}", m.outcome.latency.quantile_us(0.99) - b99)
        });
    }
    line("relayed packets/s", &|m| format!("{:.0}", m.relayed_pps()));
    line("relay CPU s (user+sys)", &|m| {
        m.relay_cpu.map_or("-".into(), |(u, s)| format!("{u:.2}+{s:.2}"))
    });
    line("relay CPU (cores busy)", &|m| {
        m.relay_cpu_total()
            .map_or("-".into(), |c| format!("{:.2}", c / m.window_secs.max(1e-9)))
    });
    line("packets/s per core", &|m| {
        m.pps_per_core().map_or("-".into(), |p| format!("{p:.0}"))
    });
    line("generator CPU s (user+sys)", &|m| {
        format!("{:.2}+{:.2}", m.generator_cpu.0, m.generator_cpu.1)
    });
    line("machine busy CPU s (softirq)", &|m| {
        format!("{:.1} ({:.1})", m.machine_busy_secs, m.machine_softirq_secs)
    });
    line("other processes CPU s", &|m| format!("{:.2}", m.others_total()));
    line("kernel UDP RcvbufErrors", &|m| {
        m.udp.get("RcvbufErrors").copied().unwrap_or(0).to_string()
    });
    line("sent > 1 ms late (%)", &|m| format!("{:.2}", m.late_pct()));
    line("sender max lag (ms)", &|m| {
        format!("{:.2}", m.outcome.sender_max_lag.as_secs_f64() * 1e3)
    });
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("media-load: {e}");
            ExitCode::from(2)
        }
    }
}

fn load(args: &Args, measure_secs: f64, run_id: u32) -> Load {
    Load {
        warmup: Duration::from_secs_f64(args.warmup),
        measure: Duration::from_secs_f64(measure_secs),
        pace: Duration::from_micros(args.pace_us),
        send_batch: args.send_batch,
        rx_poll: Duration::from_micros(args.rx_poll_us),
        drain: Duration::from_millis(500),
        run_id,
    }
}

/// The pnswitch part; `Err` when it could not be measured at all.
fn run_pnswitch(args: &Args, ends: &Endpoints) -> Result<Measured, String> {
    println!("== pnswitch ({} , [media] mode = relay)", args.pnswitch.display());
    let sig = pnswitch::Signalling::bind()?;
    let mut sw = pnswitch::Pnswitch::start(&pnswitch::Options {
        binary: &args.pnswitch,
        egress: sig.uas_addr()?,
        ports: (args.port_min, args.port_max),
        shards: args.shards,
    })?;
    let t = Instant::now();
    sw.provision(args.calls)?;
    println!(
        "   provisioned {} AXB bindings in {:.1} s",
        args.calls,
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let mut targets = Vec::with_capacity(args.calls);
    let mut failed = 0;
    for i in 0..args.calls {
        match sig.call(sw.sip, i, ends) {
            Ok(t) => targets.push(t),
            Err(e) => {
                failed += 1;
                if failed <= 5 {
                    eprintln!("   {e}");
                }
            }
        }
    }
    let setup = t.elapsed().as_secs_f64();
    println!("   {} calls up, {failed} failed, in {setup:.1} s", targets.len());
    if targets.is_empty() {
        return Err(format!(
            "pnswitch: no call could be set up (stderr: {})",
            sw.log.display()
        ));
    }
    let (outcome, first, last) = measure(
        "pnswitch",
        ends,
        &targets,
        &load(args, args.seconds, 2),
        Some(sw.pid()),
    );
    let alive = sw.alive();
    if !alive {
        eprintln!("   pnswitch exited during the run: see {}", sw.log.display());
    }
    let log = std::fs::read_to_string(&sw.log).unwrap_or_default();
    let complaints: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("ERROR") || l.contains("WARN"))
        .collect();
    if !complaints.is_empty() {
        println!(
            "   pnswitch logged {} warnings/errors, first: {:?}",
            complaints.len(),
            &complaints[..complaints.len().min(3)]
        );
    }
    Ok(summarize(
        "pnswitch",
        targets.len(),
        failed,
        setup,
        outcome,
        &first,
        &last,
        alive,
    ))
}

/// The rtpengine part.
fn run_rtpengine(args: &Args, ends: &Endpoints) -> Result<Measured, String> {
    let binary = rtpengine::locate(&args.rtpengine).ok_or_else(|| {
        format!(
            "rtpengine not found ({}): install Debian's rtpengine-daemon (`apt-get install rtpengine-daemon`, \
             benches/media/run.sh does it), pass --rtpengine PATH, or --skip-rtpengine",
            args.rtpengine
        )
    })?;
    println!(
        "== rtpengine ({}, userspace forwarding: --table=-1)",
        binary.display()
    );
    let mut engine =
        rtpengine::Rtpengine::start(&binary, (args.port_min, args.port_max), args.rtpengine_threads)?;
    let t = Instant::now();
    let mut targets = Vec::with_capacity(args.calls);
    let mut failed = 0;
    for i in 0..args.calls {
        match engine.call(i, ends) {
            Ok(t) => targets.push(t),
            Err(e) => {
                failed += 1;
                if failed <= 5 {
                    eprintln!("   {e}");
                }
            }
        }
    }
    let setup = t.elapsed().as_secs_f64();
    println!("   {} calls up, {failed} failed, in {setup:.1} s", targets.len());
    if targets.is_empty() {
        return Err(format!(
            "rtpengine: no call could be set up (log: {})",
            engine.log.display()
        ));
    }
    let (outcome, first, last) = measure(
        "rtpengine",
        ends,
        &targets,
        &load(args, args.seconds, 3),
        Some(engine.pid()),
    );
    let alive = engine.alive();
    Ok(summarize(
        "rtpengine",
        targets.len(),
        failed,
        setup,
        outcome,
        &first,
        &last,
        alive,
    ))
}

/// Cores busy over one second before anything of ours runs (other work on the machine skews every figure).
fn background_load() -> f64 {
    let (m0, t0) = (procs::machine(), Instant::now());
    std::thread::sleep(Duration::from_secs(1));
    let m1 = procs::machine();
    let background = m1.busy.saturating_sub(m0.busy) as f64 / procs::clk_tck() / t0.elapsed().as_secs_f64();
    println!("   machine busy before the run (1 s, nothing of ours running): {background:.2} cores");
    if background > 0.2 {
        println!("   WARNING: something else is using the CPUs; the figures below will be skewed");
    }
    background
}

/// Prints the goals' verdicts for pnswitch; returns the pnswitch / rtpengine per-core ratio.
fn verdicts(relays: &[Measured]) -> Option<f64> {
    let per_core = |name: &str| {
        relays
            .iter()
            .find(|m| m.name == name)
            .and_then(Measured::pps_per_core)
    };
    let ratio = per_core("pnswitch")
        .zip(per_core("rtpengine"))
        .map(|(p, r)| p / r);
    for m in relays.iter().filter(|m| m.late_pct() > 1.0) {
        println!(
            "note: {}: {:.1} % of the packets left the generator > 1 ms late (max {:.0} ms): the generator was \
             starved of CPU and the offered rate was not sustained throughout",
            m.name,
            m.late_pct(),
            m.outcome.sender_max_lag.as_secs_f64() * 1e3
        );
    }
    if let Some(r) = ratio {
        println!("\nratio pnswitch / rtpengine, packets/s per core: {r:.2}x (goal >= 1.0x)");
    }
    if let Some(p) = relays.iter().find(|m| m.name == "pnswitch") {
        let p99 = p.outcome.latency.quantile_us(0.99);
        println!(
            "pnswitch goals: >= 1000 calls: {} ({}); loss < 0.01 %: {} ({:.4} %); p99 added latency < 1 ms: {} \
             ({p99:.1} µs raw)",
            yes(p.calls >= 1000 && p.calls_failed == 0),
            p.calls,
            yes(p.outcome.loss_pct() < 0.01),
            p.outcome.loss_pct(),
            yes(p99 < 1000.0),
        );
    }
    ratio
}

fn run() -> Result<bool, String> {
    let args = parse_args()?;
    let ends = Endpoints::bind(args.sockets)?;
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    println!(
        "media-load: {} calls x 2 streams x {} packets/s (PCMA, 172-byte RTP), {} CPUs, {} generator sockets per side",
        args.calls,
        media::PACKETS_PER_SECOND,
        cpus,
        ends.per_side()
    );
    let background = background_load();
    let mut ok = true;
    let mut errors = Vec::new();
    let mut baseline = None;
    if !args.skip_baseline {
        println!("== baseline (direct: A and B send to each other, no relay)");
        let targets: Vec<_> = (0..args.calls)
            .map(|i| (ends.addr(ends.b_index(i)), ends.addr(ends.a_index(i))))
            .collect();
        let (outcome, first, last) = measure(
            "direct",
            &ends,
            &targets,
            &load(&args, args.baseline_seconds, 1),
            None,
        );
        baseline = Some(summarize(
            "direct", args.calls, 0, 0.0, outcome, &first, &last, true,
        ));
    }
    let mut relays = Vec::new();
    for (skip, name, f) in [
        (
            args.skip_pnswitch,
            "pnswitch",
            run_pnswitch as fn(&Args, &Endpoints) -> Result<Measured, String>,
        ),
        (args.skip_rtpengine, "rtpengine", run_rtpengine),
    ] {
        if skip {
            continue;
        }
        match f(&args, &ends) {
            Ok(m) => {
                if m.calls_failed > 0 || !m.alive_after {
                    ok = false;
                }
                relays.push(m);
            }
            Err(e) => {
                eprintln!("media-load: {name}: {e}");
                errors.push(json!({"relay": name, "error": e}));
                ok = false;
            }
        }
    }

    let mut rows: Vec<&Measured> = baseline.iter().collect();
    rows.extend(relays.iter());
    println!(
        "\n== summary (loopback; generator and relay share the {cpus} CPUs; latency = kernel rx timestamp − send time)"
    );
    table(&rows, baseline.as_ref());
    let ratio = verdicts(&relays);
    let report = json!({
        "calls": args.calls,
        "seconds": args.seconds,
        "warmup_seconds": args.warmup,
        "baseline_seconds": args.baseline_seconds,
        "packets_per_second_per_stream": media::PACKETS_PER_SECOND,
        "cpus": cpus,
        "generator_sockets_per_side": ends.per_side(),
        "pace_us": args.pace_us,
        "send_batch": args.send_batch,
        "rx_poll_us": args.rx_poll_us,
        "pnswitch_shards": args.shards,
        "background_busy_cores": background,
        "baseline": baseline.as_ref().map(|b| to_json(b, None)),
        "relays": relays.iter().map(|m| to_json(m, baseline.as_ref())).collect::<Vec<_>>(),
        "ratio_pps_per_core_pnswitch_over_rtpengine": ratio,
        "errors": errors,
    });
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
        std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        println!("results written to {}", path.display());
    }
    Ok(ok)
}

fn yes(b: bool) -> &'static str {
    if b { "met" } else { "NOT met" }
}
