//! pnswitch: the privacy-number softswitch binary.
//!
//! `pnswitch serve` runs the switch (embedded defaults need no config file); `pnswitch admin …` manages apps
//! and privacy numbers through the running instance's admin API; `pnswitch config` prints the effective
//! configuration. See `pnswitch --help` and README.md.

mod admin;
mod config;
mod demo;
mod http;
mod serve;
mod systemd;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// jemalloc instead of glibc's malloc (docs/benchmarks.md, "Memory"): glibc kept about half of the memory the
/// switch freed (after 10,000 calls and an idle wait, a `malloc_trim` from gdb gave 90 of 183 MiB back; read
/// while a build ran, so indicative) and never returned it by itself. jemalloc's background threads purge
/// freed pages after its decay time.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// pnswitch: binds real phone numbers to privacy numbers and serves the provisioning API.
#[derive(Parser, Debug)]
#[command(name = "pnswitch", version, about, long_about = None)]
struct Cli {
    /// TOML configuration file (optional: every setting has an embedded default).
    #[arg(long, global = true, env = "PNSWITCH_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory (database, generated admin token); overrides the config file.
    #[arg(long, global = true, env = "PNSWITCH_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// HTTP listen address for the API, admin API and /metrics; overrides the config file.
    #[arg(long, global = true, env = "PNSWITCH_HTTP_LISTEN")]
    http_listen: Option<std::net::SocketAddr>,
    /// SIP listen address (UDP and TCP); repeat the flag or separate with commas for several; overrides
    /// the config file's `[sip] listen`. Port 0 picks a free port (printed on stdout).
    #[arg(long, global = true, env = "PNSWITCH_SIP_LISTEN", value_delimiter = ',')]
    sip_listen: Vec<std::net::SocketAddr>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the switch: open the store, load the routing table, serve HTTP until SIGINT/SIGTERM.
    Serve,
    /// Manage apps and privacy numbers of a running instance (through its admin API).
    Admin(Box<admin::AdminArgs>),
    /// Show it working: start `serve` on embedded defaults, provision a binding over the API, trace calls, stop.
    Demo,
    /// Print the effective configuration (defaults, file, environment and flags merged) as TOML, secrets
    /// redacted: valid input for `--config`.
    Config,
}

/// Where the configuration comes from: the file and the flags that override it (kept for SIGHUP).
#[derive(Clone)]
struct Sources {
    file: Option<PathBuf>,
    data_dir: Option<PathBuf>,
    http_listen: Option<std::net::SocketAddr>,
    sip_listen: Vec<std::net::SocketAddr>,
}

/// The configuration: defaults, the file, the environment, then the flags (also what SIGHUP reads again).
fn load(sources: &Sources) -> Result<config::Config, config::ConfigError> {
    let mut config = config::Config::load(sources.file.as_deref(), std::env::vars())?;
    if let Some(dir) = &sources.data_dir {
        config.data_dir.clone_from(dir);
    }
    if let Some(listen) = sources.http_listen {
        config.http.listen = listen;
    }
    if !sources.sip_listen.is_empty() {
        config.sip.listen.clone_from(&sources.sip_listen);
    }
    config.finish_node_defaults();
    Ok(config)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let sources = Sources {
        file: cli.config.clone(),
        data_dir: cli.data_dir.clone(),
        http_listen: cli.http_listen,
        sip_listen: cli.sip_listen.clone(),
    };
    let config = match load(&sources) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("pnswitch: {e}");
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Command::Serve => serve::run(config, Box::new(move || load(&sources))),
        Command::Admin(args) => admin::run(&config, *args),
        Command::Demo => demo::run(),
        Command::Config => config
            .to_toml_redacted()
            .map(|text| print!("{text}"))
            .map_err(Into::into),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pnswitch: {e}");
            ExitCode::FAILURE
        }
    }
}
