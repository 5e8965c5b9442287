//! `pnswitch serve`: probe that the data directory and the database can be written, open the store, load the
//! routing table, start the writer, serve HTTP.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pn_api::ApiState;
use pn_bindings::BindingTable;
use pn_metrics::Metrics;
use pn_provision::{PromptLibrary, Provisioner, RecordingStore};
use pn_runtime::unix_now;
use pn_store::Store;
use pn_store::postgres::{PgOptions, PgStore};
use pn_store::sqlite::{SqliteOptions, SqliteStore};
use tracing_subscriber::EnvFilter;

use crate::config::{Backend, Config, MediaMode, redact_url_password};

/// Name of the file in the data directory that holds the generated admin token.
pub const ADMIN_TOKEN_FILE: &str = "admin.token";
/// Most outbox entries one takeover step moves (one `UPDATE`; steps repeat while full).
const TAKEOVER_CHUNK: u32 = 1000;
/// Name of the file in the data directory that holds the recording-URL signing key.
pub const RECORD_KEY_FILE: &str = "record-url.key";
/// How often expired recordings are deleted (also once at start).
const RECORDING_PURGE_EVERY: Duration = Duration::from_secs(3600);
/// How often the API nonces of requests that wrote nothing (queries, refusals) are committed when no write
/// commits them first.
const NONCE_FLUSH_EVERY: Duration = Duration::from_secs(1);

/// Errors that stop `serve`.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Data directory, token file or socket trouble.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The store could not be opened or loaded.
    #[error("store: {0}")]
    Store(#[from] pn_store::StoreError),
    /// The provisioning core (engine, table load, media files) could not start.
    #[error("provisioning: {0}")]
    Provision(#[from] pn_provision::ProvisionError),
    /// Another process holds the data directory's lock.
    #[error(
        "the data directory is in use by another pnswitch (lock {} held: {reason}); one `serve` per data \
         directory",
        path.display()
    )]
    Locked {
        /// The lock file.
        path: std::path::PathBuf,
        /// Why the lock was refused.
        reason: String,
    },
    /// The push driver could not start.
    #[error("push: {0}")]
    Push(#[from] pn_push::PushError),
    /// Metrics registry failure.
    #[error("metrics: {0}")]
    Metrics(#[from] pn_metrics::MetricsError),
    /// The start-up write probe failed: the data directory, the database or a media directory cannot be
    /// written (read-only mount, full disk, permissions). Starting would only fail every write later.
    #[error(
        "{what} {} is not writable ({reason}): pnswitch must be able to write its database, call records and \
         recordings there",
        path.display()
    )]
    NotWritable {
        /// What was probed (`data directory`, `database`, `recordings directory`…).
        what: &'static str,
        /// Where.
        path: std::path::PathBuf,
        /// Why the write failed.
        reason: String,
    },
}

/// Runs the switch until SIGINT or SIGTERM.
pub fn run(mut config: Config, reload: Reload) -> Result<(), Box<dyn std::error::Error>> {
    init_logging(&config.log);
    // Everything pnswitch creates (database, recordings, prompts, tokens) is for its own user only: it holds
    // app secrets and every real number.
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    tracing::info!(version = env!("CARGO_PKG_VERSION"), commit = env!("PNSWITCH_COMMIT"), data_dir = %config.data_dir.display(), "pnswitch starting");
    pn_runtime::mask::set_show_numbers(config.log.show_numbers);
    raise_open_file_limit(&config);
    std::fs::create_dir_all(&config.data_dir)?;
    warn_if_shared(&config.data_dir);
    probe_dir("data directory", &config.data_dir)?;
    // Held until the process ends: a second `serve` on this directory is refused instead of routing from a
    // table the first one's writes never reach.
    let _lock = lock_data_dir(&config.data_dir)?;
    // What a SIGHUP compares its reload with: the configuration as read, before the generated token fills it.
    let as_loaded = config.clone();
    if config.api.admin_token.is_none() {
        config.api.admin_token = Some(admin_token(&config.data_dir)?);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime
        .block_on(serve(config, (reload, as_loaded)))
        .map_err(Into::into)
}

/// Logs to stderr: `log.filter` (or `RUST_LOG`), text or JSON lines, ANSI colours only on a terminal.
fn init_logging(log: &crate::config::LogConfig) {
    use std::io::IsTerminal as _;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&log.filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match log.format {
        crate::config::LogFormat::Json => {
            let builder = builder.json().with_filter_reloading();
            let handle = builder.reload_handle();
            builder.init();
            let _ = LOG_FILTER.set(Box::new(move |f: EnvFilter| {
                handle.reload(f).map_err(|e| e.to_string())
            }));
        }
        crate::config::LogFormat::Text => {
            let builder = builder
                .with_ansi(std::io::stderr().is_terminal())
                .with_filter_reloading();
            let handle = builder.reload_handle();
            builder.init();
            let _ = LOG_FILTER.set(Box::new(move |f: EnvFilter| {
                handle.reload(f).map_err(|e| e.to_string())
            }));
        }
    }
}

/// Replaces the log filter (SIGHUP), when logging was set up by [`init_logging`].
type FilterReload = Box<dyn Fn(EnvFilter) -> Result<(), String> + Send + Sync>;
static LOG_FILTER: std::sync::OnceLock<FilterReload> = std::sync::OnceLock::new();

/// Reads the configuration again (file, environment, flags) for a SIGHUP.
pub type Reload = Box<dyn Fn() -> Result<Config, crate::config::ConfigError> + Send + Sync>;

/// SIGHUP: reads the configuration again and applies what can change without a restart: the trunks
/// (`sip.trunks`, `sip.b2bua.egress`, `sip.b2bua.trusted_peers`: calls placed from then on; calls up keep theirs), the
/// switch-wide call controls (`routing.policy`: the next INVITE or MESSAGE is decided by the new one) and the
/// log filter (`log.filter`, unless `RUST_LOG` is set). Other changed sections are named in a warning: they
/// need a restart. A configuration that does not load is reported and nothing changes. (Call controls and
/// app settings change through the admin API, live.)
fn spawn_reloader(
    reload: Reload,
    (sip, policy): (Arc<pn_runtime::SipRuntime>, pn_bindings::SharedRoutePolicy),
    mut current: Config,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let Ok(mut hangups) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
            tracing::warn!("SIGHUP cannot be handled: reload by restarting");
            return;
        };
        while hangups.recv().await.is_some() {
            let new = match reload() {
                Ok(new) => new,
                Err(e) => {
                    tracing::error!(error = %e, "SIGHUP: the configuration does not load; nothing changed");
                    continue;
                }
            };
            let (egress, trusted) = (&new.sip.b2bua.egress, &new.sip.b2bua.trusted_peers);
            sip.set_trunks(&new.sip.trunks, egress, trusted.clone()).await;
            policy.set(new.routing.policy);
            if std::env::var_os("RUST_LOG").is_none() {
                match (EnvFilter::try_new(&new.log.filter), LOG_FILTER.get()) {
                    (Ok(filter), Some(set)) => {
                        if let Err(e) = set(filter) {
                            tracing::warn!(error = %e, "SIGHUP: the log filter was not replaced");
                        }
                    }
                    (Err(e), _) => tracing::warn!(error = %e, "SIGHUP: log.filter is not a valid filter"),
                    (Ok(_), None) => {}
                }
            }
            let restart: Vec<&str> = changed_sections(&current, &new);
            if !restart.is_empty() {
                tracing::warn!(sections = ?restart, "SIGHUP: these changes need a restart and were not applied");
            }
            let trunks: Vec<&str> = new.sip.trunks.iter().map(|t| t.name.as_str()).collect();
            tracing::info!(trunks = ?trunks, egress = ?egress, trusted = ?trusted, policy = ?new.routing.policy,
                log = %new.log.filter, "SIGHUP: configuration reloaded");
            current = new;
        }
    })
}

/// The sections whose change a reload does not apply (compared as printed, trunks and log filter aside).
fn changed_sections(old: &Config, new: &Config) -> Vec<&'static str> {
    let strip = |c: &Config| {
        let mut c = c.clone();
        c.sip.b2bua.egress.clear();
        c.sip.trunks.clear();
        c.sip.b2bua.trusted_peers.clear();
        c.log.filter.clear();
        c.routing.policy = pn_bindings::RoutePolicy::default();
        c.to_toml_redacted()
            .ok()
            .and_then(|t| t.parse::<toml::Table>().ok())
            .unwrap_or_default()
    };
    // The printed store URL hides its password: a changed password is a change too.
    let (old_url, new_url) = (&old.store.url, &new.store.url);
    let (old, new) = (strip(old), strip(new));
    [
        "data_dir", "http", "api", "store", "routing", "sip", "media", "outbox", "push", "log",
    ]
    .into_iter()
    .filter(|key| old.get(*key) != new.get(*key) || (*key == "store" && old_url != new_url))
    .collect()
}

/// Warns when the data directory (created 0700 under the 077 umask, but it may have existed before) can be
/// read by others: it holds app secrets and every real number. Its mode is left as the operator set it.
fn warn_if_shared(dir: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    if let Ok(meta) = std::fs::metadata(dir) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(dir = %dir.display(), mode = format!("{mode:o}"),
                "the data directory is accessible to other users; it holds app secrets and real numbers (chmod 700)");
        }
    }
}

/// Name of the lock file in the data directory (an exclusive `flock` held while `serve` runs).
pub const LOCK_FILE: &str = "pnswitch.lock";

/// Takes the data directory's exclusive lock, or says who holds it.
fn lock_data_dir(dir: &Path) -> Result<nix::fcntl::Flock<std::fs::File>, ServeError> {
    let path = dir.join(LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)?;
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock).map_err(|(_, errno)| {
        ServeError::Locked {
            path,
            reason: errno.desc().to_owned(),
        }
    })
}

/// Raises the soft open-file limit to the hard one (as servers commonly do): in relay mode every call holds
/// four sockets, so a shell's usual 1024 would refuse calls (7508) long before the port range is used.
/// Warns when even the hard limit cannot hold the whole media port range.
fn raise_open_file_limit(config: &Config) {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok(limits) => limits,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the open-file limit");
            return;
        }
    };
    let mut limit = soft;
    if soft < hard {
        match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => {
                tracing::info!(from = soft, to = hard, "raised the open-file limit");
                limit = hard;
            }
            Err(e) => tracing::warn!(error = %e, soft, hard, "cannot raise the open-file limit"),
        }
    }
    let m = &config.media;
    let media_fds = u64::from(m.port_max.saturating_sub(m.port_min)) + 1;
    if config.media.mode == MediaMode::Relay && limit < media_fds + 1024 {
        tracing::warn!(
            limit,
            media_ports = media_fds,
            "the open-file limit is below the media port range: calls beyond it are refused with 7508 \
             (raise LimitNOFILE / ulimit -n)"
        );
    }
}

/// Opens the configured store: `SQLite` in the data directory, or `PostgreSQL` at `store.url` (the data
/// directory still holds the lock, prompts and recordings). Returns it with what to name it in errors (the
/// database file, or the URL without its password).
fn open_store(config: &Config) -> Result<(Arc<dyn Store>, std::path::PathBuf), ServeError> {
    match config.store.backend {
        Backend::Sqlite => {
            let options = SqliteOptions {
                synchronous_full: config.store.synchronous_full,
                read_connections: config.store.read_connections,
                writer_cache_kib: config.store.writer_cache_mib.saturating_mul(1024),
            };
            let sqlite = SqliteStore::open(&config.data_dir, options)?;
            let db_path = sqlite.path().to_owned();
            Ok((Arc::new(sqlite), db_path))
        }
        Backend::Postgres => {
            let options = PgOptions {
                url: config.store.url.clone(),
                read_connections: config.store.read_connections,
                node: config.node_name(),
                jobs_statement_timeout: (config.cluster.statement_timeout_ms > 0)
                    .then(|| Duration::from_millis(config.cluster.statement_timeout_ms)),
                tls: config.store.tls,
                tls_ca_file: config.store.tls_ca_file.clone(),
            };
            let pg = PgStore::open(&options)?;
            tracing::info!(store = ?pg, "PostgreSQL store opened");
            Ok((Arc::new(pg), redact_url_password(&config.store.url).into()))
        }
    }
}

/// Starts the single writer over `table`. A store of one node: the table is loaded here first. A shared
/// store: the engine thread loads it from a snapshot itself ([`Provisioner::start_unloaded`]), so a database
/// that is slow to answer (or holds a lock the load waits on) does not keep the node from binding its sockets;
/// the node is not ready and refuses calls until the table has caught up.
async fn start_engine(
    config: &Config,
    store: &Arc<dyn Store>,
    table: &Arc<BindingTable>,
    metrics: &Metrics,
    started: Instant,
) -> Result<pn_provision::EngineHandle, ServeError> {
    if store.is_shared() {
        return Ok(Provisioner::start_unloaded(
            Arc::clone(store),
            Arc::clone(table),
            metrics.clone(),
            config.api.engine.clone(),
        )?);
    }
    let load_store = Arc::clone(store);
    let load_table = Arc::clone(table);
    let load_metrics = metrics.clone();
    let loaded = tokio::task::spawn_blocking(move || {
        pn_provision::load_table(load_store.as_ref(), &load_table, &load_metrics, unix_now())
    })
    .await
    .map_err(std::io::Error::other)??;
    tracing::info!(
        ?loaded,
        elapsed_ms = started.elapsed().as_millis(),
        "routing table loaded"
    );
    Ok(Provisioner::start_loaded(
        Arc::clone(store),
        Arc::clone(table),
        metrics.clone(),
        config.api.engine.clone(),
        loaded.feed_head,
    )?)
}

#[allow(clippy::too_many_lines)] // the start-up sequence, in order
async fn serve(config: Config, (reload, as_loaded): (Reload, Config)) -> Result<(), ServeError> {
    let started = Instant::now();
    let mut metrics = Metrics::new()?;
    metrics.set_app_label(if config.http.metrics_app_keys {
        pn_metrics::AppLabel::Key
    } else {
        pn_metrics::AppLabel::Name
    });
    metrics.register_process(env!("CARGO_PKG_VERSION"), env!("PNSWITCH_COMMIT"))?;
    let (store, db_path) = open_store(&config)?;
    let probe = Arc::clone(&store);
    tokio::task::spawn_blocking(move || probe.check_writable())
        .await
        .map_err(std::io::Error::other)?
        .map_err(|e| ServeError::NotWritable {
            what: "database",
            path: db_path,
            reason: e.to_string(),
        })?;
    let table = Arc::new(BindingTable::with_capacity(config.routing.capacity_hint));
    let engine = start_engine(&config, &store, &table, &metrics, started).await?;
    // A shared store: other nodes' commits wake the engine (LISTEN) and it polls the feed every second. The
    // SIP side starts at once: until the table has caught up (loaded, then followed to the feed's end), and
    // again while a node that fell behind resyncs, new calls get 503 (cause 7510) and OPTIONS probes 503.
    pn_provision::spawn_feed_follower(Arc::clone(&store), engine.clone())?;
    // The HTTP listener is bound before the media stores and the cluster jobs: the recording URLs and the
    // URL announced to the other nodes default to its address.
    let listener = tokio::net::TcpListener::bind(config.http.listen).await?;
    let local = listener.local_addr()?;
    let mut housekeeping = spawn_housekeeping(&config, &engine, local);
    let (prompts, recordings) = media_stores(&config, local)?;
    probe_dir("prompts directory", &config.data_dir.join("prompts"))?;
    probe_dir("recordings directory", &config.data_dir.join("recordings"))?;
    housekeeping.push(pn_provision::media::spawn_purger(
        Arc::clone(&recordings),
        RECORDING_PURGE_EVERY,
    ));
    // The switch-wide policy, one cell for the shards and the API's route trace; a SIGHUP replaces it.
    let policy = pn_bindings::SharedRoutePolicy::new(config.routing.policy);
    let sip = pn_runtime::start(
        &config.sip,
        pn_runtime::SipDeps {
            table: Arc::clone(&table),
            policy: policy.clone(),
            engine: engine.clone(),
            metrics: metrics.clone(),
            prompts: Some(Arc::clone(&prompts)),
            recordings: Some(Arc::clone(&recordings)),
            outbox: config.outbox.clone(),
            customer_ask: Some(customer_ask(&config, &table)?),
        },
    )
    .await?;
    let ready = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let pusher = start_pusher(&config, &store, &engine, &table, &metrics, &recordings)?;
    let mut state = ApiState::new(config.api.clone(), store, table, metrics.clone(), engine.clone())
        .with_route_policy(policy.clone())
        .with_media_relay(config.media.mode == MediaMode::Relay)
        .with_prompts(prompts)
        .with_recordings(recordings)
        .with_call_control(sip.call_control())
        .with_readiness(Arc::clone(&ready));
    if config.store.backend == Backend::Postgres {
        state = state.with_recording_proxy(recording_proxy(&config)?);
    }
    let app = pn_api::router(state);
    // Tests and operators read this line to learn the bound port (e.g. with --http-listen 127.0.0.1:0).
    println!("pnswitch: http listening on {local}");
    println!("pnswitch: data directory {}", config.data_dir.display());
    tracing::info!(%local, "serving");
    crate::systemd::ready(&format!("serving: http {local}"));
    if let Some(watchdog) = crate::systemd::spawn_watchdog() {
        housekeeping.push(watchdog);
    }
    let sip = Arc::new(sip);
    let reloader = spawn_reloader(reload, (Arc::clone(&sip), policy), as_loaded);
    // SIGTERM: not ready (`/readyz` 503), SIP drains (new calls and probes 503, calls in progress go on up to
    // `sip.drain_secs`, then are released), then HTTP stops.
    let drain_for = Duration::from_secs(config.sip.drain_secs);
    let retry_after = u32::try_from(config.sip.drain_secs.max(1)).unwrap_or(u32::MAX);
    let stopping = async {
        shutdown_signal().await;
        ready.store(false, std::sync::atomic::Ordering::Release);
        sip.drain(drain_for, retry_after).await;
    };
    crate::http::serve(
        listener,
        app,
        crate::http::HttpLimits::from(&config.http),
        metrics,
        stopping,
    )
    .await;
    // The reloader holds the SIP runtime: end it (and wait until it is gone) before the runtime stops.
    reloader.abort();
    let _ = reloader.await;
    let sip = Arc::try_unwrap(sip).map_err(|_| std::io::Error::other("the SIP runtime is still shared"))?;
    sip.shutdown().await;
    if let Some(pusher) = pusher {
        pusher.shutdown().await;
    }
    for task in housekeeping {
        task.abort();
    }
    // The last queries' nonces: committed before the process ends (writes committed theirs already).
    if let Err(f) = engine.flush_nonces().await {
        tracing::warn!(desc = %f, "committing the last API nonces failed");
    }
    tracing::info!("stopped");
    Ok(())
}

/// The cluster's HTTP client between nodes: recordings fetched from their holder, and searched for by name
/// on the other live nodes (`[cluster]` timeouts; every timeout at least 1 ms, at least one node asked).
fn recording_proxy(config: &Config) -> Result<pn_api::RecordingProxy, ServeError> {
    let ms = |v: u64| Duration::from_millis(v.max(1));
    let c = &config.cluster;
    let proxy = pn_api::RecordingProxy::new(ms(c.proxy_connect_timeout_ms), ms(c.proxy_read_timeout_ms))
        .map_err(std::io::Error::other)?;
    Ok(proxy.with_lookup(pn_api::PeerLookup {
        timeout: ms(c.lookup_timeout_ms),
        fan_out: c.lookup_fan_out.max(1),
        lease_secs: c.lease_secs.max(1),
    }))
}

/// The writer's periodic jobs: the expiry sweeper, the nonce flusher and the outbox retention, and the
/// cluster jobs (heartbeats, leadership, outbox takeover; on `SQLite` the node always leads, alone).
fn spawn_housekeeping(
    config: &Config,
    engine: &pn_provision::EngineHandle,
    local: std::net::SocketAddr,
) -> Vec<tokio::task::JoinHandle<()>> {
    vec![
        pn_provision::spawn_sweeper(
            engine.clone(),
            Duration::from_secs(config.routing.sweep_interval_secs.max(1)),
        ),
        pn_provision::spawn_nonce_flusher(engine.clone(), NONCE_FLUSH_EVERY),
        pn_provision::spawn_outbox_purger(
            engine.clone(),
            config.outbox.retention(),
            Duration::from_secs(config.outbox.purge_interval_secs.max(1)),
        ),
        pn_provision::spawn_cluster_jobs(
            engine.clone(),
            pn_provision::ClusterJobs {
                heartbeat: Duration::from_millis(config.cluster.heartbeat_ms.max(10)),
                lease_secs: config.cluster.lease_secs.max(1),
                takeover_chunk: TAKEOVER_CHUNK,
                api_url: config.node_api_url(local),
            },
        ),
    ]
}

/// Starts the push driver unless `push.enabled` is false.
/// X mode: asks customers over HTTP, each request bounded by the B2BUA's decision timeout.
fn customer_ask(
    config: &Config,
    table: &Arc<BindingTable>,
) -> Result<Arc<dyn pn_runtime::CustomerAsk>, ServeError> {
    let timeout = Duration::from_millis(config.sip.b2bua.xmode_decision_timeout_ms.max(1));
    Ok(Arc::new(pn_push::HttpCustomerAsk::new(
        Arc::clone(table),
        timeout,
    )?))
}

fn start_pusher(
    config: &Config,
    store: &Arc<dyn Store>,
    engine: &pn_provision::EngineHandle,
    table: &Arc<BindingTable>,
    metrics: &Metrics,
    recordings: &Arc<RecordingStore>,
) -> Result<Option<pn_push::Pusher>, ServeError> {
    if !config.push.enabled {
        tracing::warn!("push.enabled is false: no event, CDR, SMS or number-status push is sent");
        return Ok(None);
    }
    let pusher = pn_push::Pusher::start(pn_push::PushDeps {
        store: Arc::clone(store),
        engine: engine.clone(),
        table: Arc::clone(table),
        metrics: metrics.push.clone(),
        config: config.push.clone(),
        recordings: Some(Arc::clone(recordings)),
    })?;
    Ok(Some(pusher))
}

/// Opens the prompt library (`data_dir/prompts`) and the recording store (`data_dir/recordings`, URLs signed
/// with `data_dir/record-url.key`, based at `api.public_url` or `http://<local>`).
fn media_stores(
    config: &Config,
    local: std::net::SocketAddr,
) -> Result<(Arc<PromptLibrary>, Arc<RecordingStore>), ServeError> {
    let prompts = Arc::new(PromptLibrary::open(config.data_dir.join("prompts"))?);
    let public_base = config.api.public_url.clone().unwrap_or_else(|| {
        if local.ip().is_unspecified() {
            tracing::warn!(%local, "api.public_url is not set: recording URLs name an unspecified address");
        }
        format!("http://{local}")
    });
    // On a shared store the URLs name this node, the holder of the recordings it writes (docs/scale.md).
    let node = (config.store.backend == Backend::Postgres).then(|| config.node_name());
    let recordings = Arc::new(
        RecordingStore::open(
            config.data_dir.join("recordings"),
            &config.data_dir.join(RECORD_KEY_FILE),
            public_base,
            Duration::from_secs(u64::from(config.api.record_retention_days) * 86_400),
            Duration::from_secs(config.api.record_url_ttl_secs),
        )?
        .with_node(node),
    );
    Ok((prompts, recordings))
}

/// Proves `dir` is writable now: creates a probe file in it, writes and fsyncs it, and removes it.
fn probe_dir(what: &'static str, dir: &Path) -> Result<(), ServeError> {
    use std::io::Write;
    let path = dir.join(format!(".pnswitch-write-probe-{}", std::process::id()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .and_then(|mut file| {
            file.write_all(b"pnswitch write probe\n")?;
            file.sync_all()
        });
    let removed = std::fs::remove_file(&path);
    written.and(removed).map_err(|e| ServeError::NotWritable {
        what,
        path: dir.to_owned(),
        reason: e.to_string(),
    })
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("stopping");
    crate::systemd::stopping();
}

/// Reads the admin token from the data directory, creating a random one (mode 0600) on first start.
pub fn admin_token(data_dir: &Path) -> std::io::Result<String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = data_dir.join(ADMIN_TOKEN_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => return Ok(text.trim().to_owned()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let token: String = {
        use rand::Rng;
        use rand::distr::Alphanumeric;
        rand::rng()
            .sample_iter(&Alphanumeric)
            .take(40)
            .map(char::from)
            .collect()
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)?;
    file.write_all(token.as_bytes())?;
    file.sync_all()?;
    tracing::warn!(path = %path.display(), "generated an admin token (api.admin_token is unset)");
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_write_probe_leaves_nothing_and_names_what_failed() {
        let dir = tempfile::tempdir().unwrap();
        probe_dir("data directory", dir.path()).unwrap();
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "the probe file is removed"
        );
        let missing = dir.path().join("absent");
        let err = probe_dir("recordings directory", &missing)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&format!(
                "recordings directory {} is not writable (",
                missing.display()
            )),
            "{err}"
        );
    }
}
