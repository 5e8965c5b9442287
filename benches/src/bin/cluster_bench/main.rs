//! Several-nodes bind benchmark: `--nodes` `pnswitch serve` processes on one `PostgreSQL` database (a
//! throwaway server, or `--postgres-url`), an AXB app and `--x-numbers` X numbers made through node 1's
//! admin API, then
//!
//! 1. **latency**: `--latency-binds` signed binds on node 1 from `--latency-concurrency` tasks; once a bind
//!    is acknowledged (resultcode 0) its task polls every other node's route trace (`GET /admin/v1/route`)
//!    until that node connects A to B, and records acknowledgement → routable on the slowest other node;
//! 2. **throughput**: `--binds` binds from `--concurrency` connections, first all to node 1, then
//!    round-robin over every node; acknowledged binds/s and bind latency for each.
//!
//! Only `resultcode` 0 counts as acknowledged; every other answer is counted by resultcode and printed. At
//! the end the app's stored bindings are counted through node 1's query API and compared with the
//! acknowledgements. Every node is killed on exit (and by the kernel if this process dies); the throwaway
//! `PostgreSQL` dies with the process.
//!
//! Usage: see [`args::USAGE`]. Client and servers share the machine: the figures are floors.

mod args;
mod binds;
mod latency;
mod nodes;
mod setup;
mod stats;
mod throughput;
mod verify;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;

/// The tool's error.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

fn main() -> ExitCode {
    let args = match args::parse() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("cluster-bench: {e}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("cluster-bench: the stored bindings do not match the acknowledgements (see above)");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("cluster-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The database URL: `--postgres-url`, else a fresh database on this process's throwaway server.
fn database(args: &args::Args) -> Result<String, Error> {
    if let Some(url) = &args.postgres_url {
        return Ok(url.clone());
    }
    let server = pn_store::postgres::throwaway::server()?;
    eprintln!(
        "cluster-bench: throwaway PostgreSQL on port {} ({})",
        server.port(),
        server.dir().display()
    );
    Ok(server.create_database()?)
}

/// Starts everything, runs both phases; `Ok(false)` when the stored bindings disagree with the
/// acknowledgements. The nodes are killed when `cluster` drops, whichever way this returns.
fn run(args: &args::Args) -> Result<bool, Error> {
    let url = database(args)?;
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos();
    let token = format!("cluster-bench-{}-{nanos}", std::process::id());
    let cluster = nodes::Cluster::start(&args.binary, args.nodes, &url, &token)?;
    let bases: Vec<String> = cluster.nodes.iter().map(|n| n.base.clone()).collect();
    eprintln!("cluster-bench: {} nodes: {}", bases.len(), bases.join(" "));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let ok = runtime.block_on(phases(args, bases, &token))?;
    drop(cluster);
    Ok(ok)
}

async fn phases(args: &args::Args, bases: Vec<String>, token: &str) -> Result<bool, Error> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency.max(args.latency_concurrency * args.nodes))
        .timeout(Duration::from_secs(30))
        .build()?;
    setup::wait_ready(&client, &bases).await?;
    let app = Arc::new(setup::create(&client, &bases[0], token, args.x_numbers).await?);
    setup::wait_known(&client, &bases, token, &app).await?;
    eprintln!(
        "cluster-bench: app {} and {} X numbers known on every node",
        app.key,
        app.xs.len()
    );

    let setting = latency::Setting {
        bases: Arc::new(bases.clone()),
        token: Arc::from(token),
        app: Arc::clone(&app),
        first: 0,
        count: args.latency_binds,
        poll: Duration::from_millis(args.poll_ms),
        timeout: Duration::from_secs(args.routable_timeout_secs),
    };
    eprintln!("cluster-bench: latency phase ({} binds)", args.latency_binds);
    let lat = latency::run(&client, &setting, args.latency_concurrency).await?;
    let first = args.latency_binds;
    eprintln!("cluster-bench: throughput phase, node 1 ({} binds)", args.binds);
    let one = throughput::run(
        &client,
        vec![bases[0].clone()],
        &app,
        first,
        args.binds,
        args.concurrency,
    )
    .await?;
    eprintln!(
        "cluster-bench: throughput phase, round-robin ({} binds)",
        args.binds
    );
    let all = throughput::run(
        &client,
        bases.clone(),
        &app,
        first + args.binds,
        args.binds,
        args.concurrency,
    )
    .await?;

    let acked = lat.bind.len() + one.latency.len() + all.latency.len();
    let unanswered = lat.tally.failed + one.tally.failed + all.tally.failed;
    let check = verify::stored(&client, &bases[0], &app, acked, unanswered).await?;
    print_summary(args, &lat, &[&one, &all], &check);
    if let Some(path) = &args.json {
        let figures = json!({
            "nodes": args.nodes,
            "x_numbers": args.x_numbers,
            "latency_concurrency": args.latency_concurrency,
            "concurrency": args.concurrency,
            "poll_ms": args.poll_ms,
            "latency": lat.json(),
            "throughput_node1": one.json(),
            "throughput_round_robin": all.json(),
            "stored_check": check.json(),
        });
        std::fs::write(path, serde_json::to_string_pretty(&figures)?)?;
        eprintln!("cluster-bench: figures written to {}", path.display());
    }
    Ok(check.ok())
}

fn print_summary(
    args: &args::Args,
    lat: &latency::Latency,
    runs: &[&throughput::Throughput],
    check: &verify::Stored,
) {
    println!(
        "cluster-bench: {} nodes on one PostgreSQL, {} X numbers (acknowledged = resultcode 0, after commit)",
        args.nodes, args.x_numbers
    );
    println!(
        "latency phase: {} binds on node 1, concurrency {}, route trace polled every {} ms on the other nodes",
        args.latency_binds, args.latency_concurrency, args.poll_ms
    );
    println!(
        "  ack -> routable on the slowest other node: {}",
        lat.routable.line()
    );
    println!(
        "  never routable within {} s: {}",
        args.routable_timeout_secs, lat.never_routable
    );
    println!(
        "  bind latency on node 1: p50={:.2}ms p99={:.2}ms (n={})",
        lat.bind.ms(0.50),
        lat.bind.ms(0.99),
        lat.bind.len()
    );
    println!("  {}", lat.tally.line());
    println!("throughput phase: concurrency {}", args.concurrency);
    for run in runs {
        println!("{}", run.lines());
    }
    println!("{}", check.line());
}
