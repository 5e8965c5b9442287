//! Command-line flags.

use std::path::PathBuf;

/// What to run.
#[derive(Debug, Clone)]
pub struct Args {
    /// The `pnswitch` binary.
    pub binary: String,
    /// `pnswitch serve` processes on the one database.
    pub nodes: usize,
    /// A given `PostgreSQL` database instead of a throwaway server.
    pub postgres_url: Option<String>,
    /// X numbers imported into the app.
    pub x_numbers: usize,
    /// Binds of the latency phase.
    pub latency_binds: usize,
    /// Concurrent binds of the latency phase.
    pub latency_concurrency: usize,
    /// Binds of each throughput sub-phase.
    pub binds: usize,
    /// Concurrent binds of the throughput phase.
    pub concurrency: usize,
    /// Pause between two route-trace polls of one node, milliseconds.
    pub poll_ms: u64,
    /// How long a bind may take to become routable on a node before it counts as never routable, seconds.
    pub routable_timeout_secs: u64,
    /// Where to write the figures as JSON.
    pub json: Option<PathBuf>,
}

/// The usage line.
pub const USAGE: &str = "usage: cluster-bench [--binary target/release/pnswitch] [--nodes 3] \
[--postgres-url URL] [--x-numbers 100] [--latency-binds 10000] [--latency-concurrency 16] [--binds 100000] \
[--concurrency 128] [--poll-ms 1] [--routable-timeout-secs 30] [--json FILE]";

fn number<T: std::str::FromStr>(flag: &str, value: &str) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    value.parse().map_err(|e| format!("{flag}: {e}"))
}

/// Parses the process's arguments.
pub fn parse() -> Result<Args, String> {
    let mut args = Args {
        binary: "target/release/pnswitch".into(),
        nodes: 3,
        postgres_url: None,
        x_numbers: 100,
        latency_binds: 10_000,
        latency_concurrency: 16,
        binds: 100_000,
        concurrency: 128,
        poll_ms: 1,
        routable_timeout_secs: 30,
        json: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--binary" => args.binary = value()?,
            "--nodes" => args.nodes = number(&flag, &value()?)?,
            "--postgres-url" => args.postgres_url = Some(value()?),
            "--x-numbers" => args.x_numbers = number(&flag, &value()?)?,
            "--latency-binds" => args.latency_binds = number(&flag, &value()?)?,
            "--latency-concurrency" => args.latency_concurrency = number(&flag, &value()?)?,
            "--binds" => args.binds = number(&flag, &value()?)?,
            "--concurrency" => args.concurrency = number(&flag, &value()?)?,
            "--poll-ms" => args.poll_ms = number(&flag, &value()?)?,
            "--routable-timeout-secs" => args.routable_timeout_secs = number(&flag, &value()?)?,
            "--json" => args.json = Some(PathBuf::from(value()?)),
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown flag {other}\n{USAGE}")),
        }
    }
    check(&args)?;
    Ok(args)
}

/// Refuses what cannot run: the latency phase needs a second node, and every phase's binds must fit the
/// 5,000 pairs per X (every bind uses a fresh A and B).
fn check(args: &Args) -> Result<(), String> {
    if args.nodes < 2 {
        return Err("--nodes must be at least 2 (the latency phase reads the other nodes)".into());
    }
    if args.x_numbers == 0 || args.latency_concurrency == 0 || args.concurrency == 0 {
        return Err("--x-numbers and the concurrencies must be at least 1".into());
    }
    let total = args.latency_binds + 2 * args.binds;
    if total > args.x_numbers * crate::setup::MAX_PAIRS_PER_X {
        return Err(format!(
            "{total} binds do not fit {} X numbers at {} pairs each: raise --x-numbers",
            args.x_numbers,
            crate::setup::MAX_PAIRS_PER_X
        ));
    }
    Ok(())
}
