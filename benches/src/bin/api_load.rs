//! API load harness: acknowledged (committed) AXB binds per second through the real binary over HTTP.
//!
//! Starts `pnswitch serve` (release build recommended) on a fresh data directory, creates an AXB app and X
//! numbers through the admin API, then sends `--binds` signed bind requests from `--concurrency` concurrent
//! connections and reports throughput and latency percentiles. Client and server share the machine: the
//! figure is a floor of what the server alone could do.
//!
//! Usage: `api-load --binary target/release/pnswitch [--binds 100000] [--concurrency 64] [--x-numbers 40]`

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

struct Args {
    binary: String,
    binds: usize,
    concurrency: usize,
    x_numbers: usize,
    sync_full: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        binary: "target/release/pnswitch".into(),
        binds: 100_000,
        concurrency: 64,
        x_numbers: 40,
        sync_full: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--binary" => args.binary = value()?,
            "--binds" => args.binds = value()?.parse().map_err(|e| format!("--binds: {e}"))?,
            "--concurrency" => {
                args.concurrency = value()?.parse().map_err(|e| format!("--concurrency: {e}"))?;
            }
            "--x-numbers" => args.x_numbers = value()?.parse().map_err(|e| format!("--x-numbers: {e}"))?,
            "--no-fsync" => args.sync_full = false,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(args)
}

fn created_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    pn_api::auth::format_created(pn_bindings::UnixTime(i64::try_from(secs).unwrap_or(i64::MAX)))
}

/// The `X-AKSK` header value for one request (the server's own signer: this is a load tool, not a test).
fn sign(key: &str, secret: &str, nonce: &str) -> String {
    let [_, (_, x_aksk)] = pn_api::auth::aksk_headers(key, secret, nonce, &created_now());
    x_aksk
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let dir = tempfile::tempdir()?;
    let mut child = Command::new(&args.binary)
        .args([
            "serve",
            "--http-listen",
            "127.0.0.1:0",
            "--sip-listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(dir.path())
        .env("RUST_LOG", "warn")
        .env(
            "PNSWITCH__STORE__SYNCHRONOUS_FULL",
            if args.sync_full { "true" } else { "false" },
        )
        .stdout(Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let base = loop {
        let line = lines.next().ok_or("pnswitch exited early")??;
        if let Some(addr) = line.strip_prefix("pnswitch: http listening on ") {
            break format!("http://{addr}");
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let token = std::fs::read_to_string(dir.path().join("admin.token"))?
        .trim()
        .to_owned();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let result = runtime.block_on(run(&args, &base, &token));
    let _ = child.kill();
    let _ = child.wait();
    result
}

/// Creates the AXB app and imports the X numbers; returns (`app_key`, `app_secret`, X numbers).
async fn set_up(
    client: &reqwest::Client,
    args: &Args,
    base: &str,
    token: &str,
) -> Result<(String, String, Vec<String>), Box<dyn std::error::Error>> {
    let app: Value = client
        .post(format!("{base}/admin/v1/apps"))
        .bearer_auth(token)
        .json(&json!({"name": "load", "mode": "AXB"}))
        .send()
        .await?
        .json()
        .await?;
    let app = app.get("app").unwrap_or(&app).clone();
    let key = app["appKey"].as_str().ok_or("no appKey")?.to_owned();
    let secret = app["appSecret"].as_str().ok_or("no appSecret")?.to_owned();
    let xs: Vec<String> = (0..args.x_numbers).map(|i| format!("+86170{i:08}")).collect();
    let entries: Vec<Value> = xs
        .iter()
        .map(|n| json!({"number": n, "areaCode": "0755"}))
        .collect();
    let imported = client
        .post(format!("{base}/admin/v1/numbers"))
        .bearer_auth(token)
        .json(&json!({"appKey": key, "numbers": entries}))
        .send()
        .await?;
    if !imported.status().is_success() {
        return Err(format!("import failed: {}", imported.text().await?).into());
    }
    Ok((key, secret, xs))
}

async fn run(args: &Args, base: &str, token: &str) -> Result<(), Box<dyn std::error::Error>> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .build()?;
    let (key, secret, xs) = set_up(&client, args, base, token).await?;

    let next = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..args.concurrency {
        let (client, next, failures) = (client.clone(), Arc::clone(&next), Arc::clone(&failures));
        let (key, secret, xs, url) = (
            key.clone(),
            secret.clone(),
            xs.clone(),
            format!("{base}/rest/caas/relationnumber/partners/v1.0"),
        );
        let total = args.binds;
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let body = json!({
                    "relationNum": xs[i % xs.len()],
                    "callerNum": format!("+86138{:08}", i),
                    "calleeNum": format!("+86139{:08}", i),
                    "callDirection": 0,
                });
                let nonce = format!("w{worker}n{i}");
                let x_aksk = sign(&key, &secret, &nonce);
                let t0 = Instant::now();
                let resp = client
                    .post(&url)
                    .header(
                        "Authorization",
                        r#"AKSK realm="SDP",profile="UsernameToken",type="Appkey""#,
                    )
                    .header("X-AKSK", x_aksk)
                    .json(&body)
                    .send()
                    .await;
                let ok = match resp {
                    Ok(r) => r.json::<Value>().await.is_ok_and(|v| v["resultcode"] == "0"),
                    Err(_) => false,
                };
                if ok {
                    latencies.push(t0.elapsed());
                } else {
                    failures.fetch_add(1, Ordering::Relaxed);
                }
            }
            latencies
        }));
    }
    let mut latencies = Vec::with_capacity(args.binds);
    for t in tasks {
        latencies.extend(t.await?);
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    let acked = latencies.len();
    println!(
        "api-load: AXB binds acknowledged after commit (synchronous_full={})",
        args.sync_full
    );
    println!(
        "  binds={} concurrency={} x_numbers={} acked={} failed={}",
        args.binds,
        args.concurrency,
        args.x_numbers,
        acked,
        failures.load(Ordering::Relaxed)
    );
    println!(
        "  elapsed={:.2}s throughput={:.0} acked binds/s",
        elapsed.as_secs_f64(),
        acked as f64 / elapsed.as_secs_f64()
    );
    println!(
        "  latency p50={:.2}ms p99={:.2}ms max={:.2}ms",
        percentile(&latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3
    );
    Ok(())
}
