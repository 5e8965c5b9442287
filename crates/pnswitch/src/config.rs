//! Configuration: embedded defaults, an optional TOML file, `PNSWITCH__…` environment overrides, then flags.
//!
//! Precedence (lowest first): defaults → file (`--config`/`PNSWITCH_CONFIG`) → environment → command-line flags.
//! Environment overrides name a key path with double underscores: `PNSWITCH__HTTP__LISTEN=0.0.0.0:8080`,
//! `PNSWITCH__API__AUTH__MAX_SKEW_SECS=120`. Values are parsed as TOML (`true`, `42`, `"text"`), falling back
//! to a plain string.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use pn_api::ApiConfig;
use pn_bindings::RoutePolicy;
pub use pn_runtime::config::{MediaConfig, MediaMode, OutboxConfig, SipConfig};
use serde::{Deserialize, Serialize};

/// What `pnswitch config` prints instead of a secret.
pub const REDACTED: &str = "<redacted>";

/// Errors while reading configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The TOML (file plus overrides) is not a valid configuration.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// The whole configuration of one pnswitch instance.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Directory for the database, the generated admin token and (later) recordings.
    pub data_dir: PathBuf,
    /// HTTP listener (provisioning API, admin API, /metrics, /openapi.json).
    pub http: HttpConfig,
    /// Provisioning API settings (authentication, admin token, group commit).
    pub api: ApiConfig,
    /// Durable store settings.
    pub store: StoreConfig,
    /// Routing settings.
    pub routing: RoutingConfig,
    /// SIP transports, sharding and the B2BUA (trunks, timers).
    pub sip: SipConfig,
    /// The media plane: bypass (SDP passthrough) or relay (RTP anchored at the switch).
    pub media: MediaConfig,
    /// Call facts and the outbox: retention, the retry buffer, refusing calls while facts cannot be stored.
    pub outbox: OutboxConfig,
    /// Pushes to the apps' URLs: timeouts, retry schedule, per-app concurrency, CDR merging.
    pub push: pn_push::PushConfig,
    /// Several nodes on one shared store: this node's name and API URL, heartbeats, the takeover lease.
    pub cluster: ClusterConfig,
    /// Logging settings.
    pub log: LogConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("pnswitch-data"),
            http: HttpConfig::default(),
            api: ApiConfig::default(),
            store: StoreConfig::default(),
            routing: RoutingConfig::default(),
            sip: SipConfig::default(),
            media: MediaConfig::default(),
            outbox: OutboxConfig::default(),
            push: pn_push::PushConfig::default(),
            cluster: ClusterConfig::default(),
            log: LogConfig::default(),
        }
    }
}

/// The HTTP listener and its limits (see `crate::http`).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Address to listen on (default `127.0.0.1:8080`).
    pub listen: SocketAddr,
    /// Most open HTTP connections (default 1024); a connection beyond it gets `503` (resultcode 1010010)
    /// and is closed at once. 0 acts as 1.
    pub max_connections: usize,
    /// From the first byte of a request to its complete head (request line and headers), in ms (default
    /// 10000); slower: the connection is closed.
    pub header_read_timeout_ms: u64,
    /// A connection with no request in progress (new, or kept alive after a response) on which no byte
    /// moves for this long is closed, in ms (default 60000).
    pub idle_timeout_ms: u64,
    /// From a request's complete head to the end of its body, in ms (default 30000); slower: `408`
    /// (resultcode 1023002, the request was not acted on) and the connection is closed. The switch's own
    /// processing time is not cut.
    pub request_timeout_ms: u64,
    /// Whether `/metrics` labels apps by their app key (default false: by their name). `/metrics` needs no
    /// credentials and an app key is half of an app's.
    pub metrics_app_keys: bool,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_connections: 1024,
            header_read_timeout_ms: 10_000,
            idle_timeout_ms: 60_000,
            request_timeout_ms: 30_000,
            metrics_app_keys: false,
        }
    }
}

/// Which durable backend holds the state.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// Embedded SQLite in the data directory (default).
    #[default]
    Sqlite,
    /// PostgreSQL at `store.url`, shared by every node given the same URL (no TLS yet).
    Postgres,
}

/// Durable store settings.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// Backend: `sqlite` (embedded, default) or `postgres`.
    pub backend: Backend,
    /// The PostgreSQL connection URL (`postgres://user:password@host:5432/db`), with `backend = "postgres"`.
    pub url: String,
    /// fsync every commit (SQLite `synchronous=FULL`); `false` trades power-loss durability for speed.
    pub synchronous_full: bool,
    /// Read connections kept open for queries (both backends).
    pub read_connections: usize,
    /// The write connection's `SQLite` page cache, MiB.
    pub writer_cache_mib: u32,
    /// PostgreSQL over TLS: required (never the clear text), the server's certificate verified against
    /// `tls_ca_file` (or the Mozilla roots) and the host name or address of the URL.
    pub tls: bool,
    /// PEM file of the CA certificates that sign the PostgreSQL server's certificate (with `tls`).
    pub tls_ca_file: Option<PathBuf>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            backend: Backend::Sqlite,
            url: String::new(),
            synchronous_full: true,
            read_connections: 4,
            writer_cache_mib: 16,
            tls: false,
            tls_ca_file: None,
        }
    }
}

/// Several nodes on one shared store (`[store] backend = "postgres"`; a `SQLite` node ignores all of it).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// This node's name, unique in the cluster (unset: the host name, `-`, the first SIP listen address
    /// unless unspecified, `-`, its port).
    pub node: Option<String>,
    /// The base URL other nodes reach this node's HTTP API at (unset: `api.public_url`, else
    /// `http://<the bound http.listen address>`, an unspecified address replaced by the host name).
    pub api_url: Option<String>,
    /// A node whose last heartbeat is older than this (seconds) is dead: the leader takes over its pending
    /// outbox entries.
    pub lease_secs: u64,
    /// How often the node sends its heartbeat and tries to lead (milliseconds).
    pub heartbeat_ms: u64,
    /// How long a node waits to connect to another node it fetches a recording from or asks whether it
    /// holds one (milliseconds).
    pub proxy_connect_timeout_ms: u64,
    /// How long a proxied recording download waits for each read from the holder (milliseconds).
    pub proxy_read_timeout_ms: u64,
    /// How long a recording asked for by name and not held here is searched for on the other live nodes,
    /// all questions included (milliseconds); a node that has not answered by then makes it 1010001.
    pub lookup_timeout_ms: u64,
    /// How many other nodes are asked at once when a recording is searched for by name.
    pub lookup_fan_out: usize,
    /// The `statement_timeout` of the cluster jobs' database connection (heartbeats, leadership, outbox
    /// takeover, node lookups), milliseconds; 0: the server's setting.
    pub statement_timeout_ms: u64,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            node: None,
            api_url: None,
            lease_secs: 10,
            heartbeat_ms: 1000,
            proxy_connect_timeout_ms: 3000,
            proxy_read_timeout_ms: 10_000,
            lookup_timeout_ms: 2000,
            lookup_fan_out: 8,
            statement_timeout_ms: 5000,
        }
    }
}

/// The host name (`/proc/sys/kernel/hostname`; `pnswitch` when it cannot be read).
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "pnswitch".to_owned())
}

impl Config {
    /// Defaults that depend on the whole configuration, flags included (call it last): on a shared store,
    /// nodes must not share the node part of CDR `icid`s and `sessionId`s (their counters repeat from node
    /// to node), so a host name left at its default becomes this node's cluster name.
    pub fn finish_node_defaults(&mut self) {
        if self.store.backend == Backend::Postgres && self.sip.b2bua.host_name == "pnswitch" {
            self.sip.b2bua.host_name = self.node_name();
        }
    }

    /// This node's name: `cluster.node`, else the host name, `-`, the first SIP listen address when it is a
    /// specific one (nodes on one host differ by address, e.g. behind a front on 127.0.0.2–4; `:` of an
    /// IPv6 address as `.`) and `-`, its port.
    pub fn node_name(&self) -> String {
        self.cluster.node.clone().unwrap_or_else(|| {
            let listen = self.sip.listen.first().copied();
            let port = listen.map_or(5060, |a| a.port());
            match listen.map(|a| a.ip()).filter(|ip| !ip.is_unspecified()) {
                Some(ip) => format!("{}-{}-{port}", host_name(), ip.to_string().replace(':', ".")),
                None => format!("{}-{port}", host_name()),
            }
        })
    }

    /// The base URL other nodes reach this node's API at: `cluster.api_url`, else `api.public_url`, else
    /// `http://<local>` (`local`: the bound HTTP address; an unspecified address replaced by the host
    /// name). No trailing `/`.
    pub fn node_api_url(&self, local: SocketAddr) -> String {
        let url = self
            .cluster
            .api_url
            .clone()
            .or_else(|| self.api.public_url.clone())
            .unwrap_or_else(|| {
                let listen = local;
                if listen.ip().is_unspecified() {
                    format!("http://{}:{}", host_name(), listen.port())
                } else {
                    format!("http://{listen}")
                }
            });
        url.trim_end_matches('/').to_owned()
    }
}

/// Routing settings.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoutingConfig {
    /// Call-path policy switches (international in/out, fixed-line callers).
    pub policy: RoutePolicy,
    /// How often expired bindings are swept from the store and the table, in seconds.
    pub sweep_interval_secs: u64,
    /// Pre-size the routing table for this many bindings.
    pub capacity_hint: usize,
}

impl Default for RoutingConfig {
    fn default() -> Self {
        Self {
            policy: RoutePolicy::default(),
            sweep_interval_secs: 1,
            capacity_hint: 1 << 16,
        }
    }
}

/// Logging settings.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `tracing` filter, e.g. `info` or `pn_api=debug,info` (`RUST_LOG` wins when set).
    pub filter: String,
    /// Show phone numbers in logs in full; `false` (default) masks their middle digits (`+86138****0001`).
    pub show_numbers: bool,
    /// `text` (default: human-readable lines, coloured only when stderr is a terminal) or `json` (one JSON
    /// object per line, for log shippers).
    pub format: LogFormat,
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            filter: "info".to_owned(),
            show_numbers: false,
            format: LogFormat::Text,
        }
    }
}

impl Config {
    /// The configuration as TOML (what `pnswitch config` prints): every key with its effective value, secrets
    /// (`api.admin_token`) replaced by `"<redacted>"`. Keys without a value (`api.public_url` unset…) are left
    /// out.
    pub fn to_toml_redacted(&self) -> Result<String, ConfigError> {
        let mut shown = self.clone();
        if shown.api.admin_token.is_some() {
            shown.api.admin_token = Some(REDACTED.to_owned());
        }
        shown.store.url = redact_url_password(&shown.store.url);
        toml::to_string(&shown).map_err(|e| ConfigError::Invalid(format!("printing the configuration: {e}")))
    }

    /// Loads defaults, then `file` (if any), then `PNSWITCH__…` variables from `env`.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut table = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })?;
                // Parsed into the typed configuration first, so that a bad value is reported with its line
                // and column in the file.
                toml::from_str::<Self>(&text)
                    .map_err(|e| ConfigError::Invalid(format!("{}: {e}", path.display())))?;
                text.parse::<toml::Table>()
                    .map_err(|e| ConfigError::Invalid(format!("{}: {e}", path.display())))?
            }
            None => toml::Table::new(),
        };
        let overrides: Vec<(String, String)> = env
            .into_iter()
            .filter(|(name, _)| name.starts_with("PNSWITCH__"))
            .collect();
        let base = table.clone();
        for (name, value) in &overrides {
            apply_override(&mut table, &name["PNSWITCH__".len()..], value)?;
        }
        let mut config: Self = match toml::Value::Table(table).try_into() {
            Ok(config) => config,
            Err(e) => return Err(blame_override(base, &overrides, &e)),
        };
        if config.media.port_min > config.media.port_max {
            return Err(ConfigError::Invalid(format!(
                "[media] port_min {} is above port_max {}",
                config.media.port_min, config.media.port_max
            )));
        }
        if config.store.backend == Backend::Postgres && config.store.url.trim().is_empty() {
            return Err(ConfigError::Invalid(
                "[store] backend = \"postgres\" needs url = \"postgres://user:password@host:5432/database\""
                    .into(),
            ));
        }
        if let Some(node) = &config.cluster.node {
            let ok = (1..=64).contains(&node.len())
                && node
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'));
            if !ok {
                return Err(ConfigError::Invalid(format!(
                    "[cluster] node {node:?}: 1 to 64 of A-Z a-z 0-9 _ . -"
                )));
            }
        }
        config
            .push
            .validate()
            .map_err(|e| ConfigError::Invalid(format!("[push] {e}")))?;
        config.sip.media = config.media.clone();
        Ok(config)
    }
}

/// Sets `a__b__c = value` inside `table`, creating sub-tables as needed.
/// `url` with the password of a `postgres://user:password@host/…` URL (or a `password=…` key of the
/// key=value form) replaced by `<redacted>`.
pub(crate) fn redact_url_password(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        if let Some(at) = rest[..authority_end].rfind('@') {
            if let Some(colon) = rest[..at].find(':') {
                return format!("{scheme}://{}:{REDACTED}{}", &rest[..colon], &rest[at..]);
            }
        }
        return url.to_owned();
    }
    url.split(' ')
        .map(|part| {
            if part.starts_with("password=") {
                format!("password={REDACTED}")
            } else {
                part.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The configuration with the environment applied was invalid: names the first `PNSWITCH__…` variable
/// that makes it so (the file alone was checked already).
fn blame_override(
    mut table: toml::Table,
    overrides: &[(String, String)],
    error: &toml::de::Error,
) -> ConfigError {
    for (name, value) in overrides {
        if apply_override(&mut table, &name["PNSWITCH__".len()..], value).is_err() {
            break;
        }
        if let Err(e) = toml::Value::Table(table.clone()).try_into::<Config>() {
            return ConfigError::Invalid(format!("environment {name}={value:?}: {}", e.message()));
        }
    }
    ConfigError::Invalid(error.to_string())
}

fn apply_override(table: &mut toml::Table, path: &str, value: &str) -> Result<(), ConfigError> {
    let keys: Vec<String> = path.split("__").map(str::to_ascii_lowercase).collect();
    let Some((last, parents)) = keys.split_last() else {
        return Err(ConfigError::Invalid(format!(
            "empty override name PNSWITCH__{path}"
        )));
    };
    let mut node = table;
    for key in parents {
        let entry = node
            .entry(key.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        node = entry
            .as_table_mut()
            .ok_or_else(|| ConfigError::Invalid(format!("PNSWITCH__{path}: `{key}` is not a section")))?;
    }
    node.insert(last.clone(), parse_value(value));
    Ok(())
}

/// Parses an override as a TOML value, or takes it as a string.
fn parse_value(text: &str) -> toml::Value {
    format!("v = {text}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every key of the configuration, dotted (`sip.b2bua.t1_ms`), from the printed defaults plus the
    /// optional keys that print nothing when unset.
    fn every_key() -> Vec<String> {
        fn walk(table: &toml::Table, prefix: &str, out: &mut Vec<String>) {
            for (key, value) in table {
                match value {
                    toml::Value::Table(inner) => walk(inner, &format!("{prefix}{key}."), out),
                    _ => out.push(format!("{prefix}{key}")),
                }
            }
        }
        let printed: toml::Table = Config::default().to_toml_redacted().unwrap().parse().unwrap();
        let mut keys: Vec<String> = [
            "api.admin_token",
            "api.public_url",
            "media.public_ip",
            "cluster.node",
            "cluster.api_url",
            "store.tls_ca_file",
        ]
        .map(str::to_owned)
        .to_vec();
        walk(&printed, "", &mut keys);
        keys
    }

    #[test]
    fn on_a_shared_store_the_default_host_name_is_the_node_name() {
        let env = |host: Option<&str>| {
            let mut env = vec![
                ("PNSWITCH__STORE__BACKEND".to_owned(), "postgres".to_owned()),
                (
                    "PNSWITCH__STORE__URL".to_owned(),
                    "postgres://u@127.0.0.1/db".to_owned(),
                ),
                ("PNSWITCH__CLUSTER__NODE".to_owned(), "n2".to_owned()),
            ];
            if let Some(h) = host {
                env.push(("PNSWITCH__SIP__B2BUA__HOST_NAME".to_owned(), h.to_owned()));
            }
            env
        };
        let finished = |env| {
            let mut c = Config::load(None, env).unwrap();
            c.finish_node_defaults();
            c.sip.b2bua.host_name
        };
        assert_eq!(finished(env(None)), "n2");
        assert_eq!(finished(env(Some("pn2.example.com"))), "pn2.example.com");
        // SQLite: one node, the default stays.
        assert_eq!(finished(Vec::new()), "pnswitch");
    }

    #[test]
    fn the_node_name_and_api_url_default_from_the_listeners() {
        let env = vec![
            (
                "PNSWITCH__SIP__LISTEN".to_owned(),
                "[\"127.0.0.1:5071\"]".to_owned(),
            ),
            ("PNSWITCH__HTTP__LISTEN".to_owned(), "127.0.0.2:8081".to_owned()),
        ];
        let c = Config::load(None, env).unwrap();
        assert_eq!(c.node_name(), format!("{}-127.0.0.1-5071", host_name()));
        assert_eq!(c.node_api_url(c.http.listen), "http://127.0.0.2:8081");
        assert_eq!((c.cluster.lease_secs, c.cluster.heartbeat_ms), (10, 1000));
        assert_eq!(
            (
                c.cluster.proxy_connect_timeout_ms,
                c.cluster.proxy_read_timeout_ms,
                c.cluster.lookup_timeout_ms,
                c.cluster.lookup_fan_out,
                c.cluster.statement_timeout_ms
            ),
            (3000, 10_000, 2000, 8, 5000)
        );
        let env = vec![
            ("PNSWITCH__HTTP__LISTEN".to_owned(), "0.0.0.0:8082".to_owned()),
            (
                "PNSWITCH__API__PUBLIC_URL".to_owned(),
                "https://pn.example.com/".to_owned(),
            ),
        ];
        let c = Config::load(None, env).unwrap();
        assert_eq!(c.node_api_url(c.http.listen), "https://pn.example.com");
        let env = vec![
            ("PNSWITCH__HTTP__LISTEN".to_owned(), "0.0.0.0:8082".to_owned()),
            ("PNSWITCH__CLUSTER__NODE".to_owned(), "n7".to_owned()),
        ];
        let c = Config::load(None, env).unwrap();
        assert_eq!(c.node_name(), "n7");
        assert_eq!(
            c.node_api_url(c.http.listen),
            format!("http://{}:8082", host_name())
        );
        let env = vec![(
            "PNSWITCH__CLUSTER__API_URL".to_owned(),
            "http://10.0.0.7:8080".to_owned(),
        )];
        assert_eq!(
            Config::load(None, env)
                .unwrap()
                .node_api_url("127.0.0.1:1".parse().unwrap()),
            "http://10.0.0.7:8080"
        );
        let env = vec![("PNSWITCH__CLUSTER__NODE".to_owned(), "n 1/x".to_owned())];
        assert!(Config::load(None, env).is_err(), "a node name must be URL-safe");
    }

    #[test]
    fn docs_and_the_example_file_list_every_key() {
        let docs = include_str!("../../../docs/config.md");
        let example = include_str!("../../../deploy/pnswitch.toml");
        // The example's keys, set or commented out (`# shards = 2`), under their `[section]`.
        let mut section = String::new();
        let mut listed = Vec::new();
        for line in example.lines() {
            let line = line.trim();
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = format!("{name}.");
                continue;
            }
            let body = line.trim_start_matches('#').trim();
            if let Some((key, _)) = body.split_once('=') {
                let key = key.trim();
                if !key.is_empty()
                    && key
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                {
                    listed.push(format!("{section}{key}"));
                }
            }
        }
        let keys = every_key();
        assert!(keys.len() > 60, "{keys:?}");
        let undocumented: Vec<&String> = keys
            .iter()
            .filter(|k| !docs.contains(&format!("`{k}`")))
            .collect();
        assert!(
            undocumented.is_empty(),
            "keys missing from docs/config.md: {undocumented:?}"
        );
        let unlisted: Vec<&String> = keys.iter().filter(|k| !listed.contains(k)).collect();
        assert!(
            unlisted.is_empty(),
            "keys missing from deploy/pnswitch.toml: {unlisted:?}"
        );
        let unknown: Vec<&String> = listed.iter().filter(|k| !keys.contains(k)).collect();
        assert!(
            unknown.is_empty(),
            "deploy/pnswitch.toml names keys that do not exist: {unknown:?}"
        );
    }

    #[test]
    fn printed_configuration_reads_back_the_same_and_hides_the_admin_token() {
        let env = vec![
            ("PNSWITCH__API__ADMIN_TOKEN".to_owned(), "s3cret-token".to_owned()),
            (
                "PNSWITCH__SIP__B2BUA__TRUSTED_PEERS".to_owned(),
                "[\"10.0.0.0/8\", \"192.0.2.7\"]".to_owned(),
            ),
            ("PNSWITCH__PUSH__PIPELINE_DEPTH".to_owned(), "3".to_owned()),
        ];
        let c = Config::load(None, env).unwrap();
        let text = c.to_toml_redacted().unwrap();
        assert!(!text.contains("s3cret"), "{text}");
        assert!(text.contains("admin_token = \"<redacted>\""), "{text}");
        assert!(
            text.contains("trusted_peers = [\"10.0.0.0/8\", \"192.0.2.7\"]"),
            "{text}"
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("printed.toml");
        std::fs::write(&file, &text).unwrap();
        let back = Config::load(Some(&file), Vec::new()).unwrap();
        assert_eq!(back.to_toml_redacted().unwrap(), text);
        assert_eq!(back.push.pipeline_depth, 3);
        assert_eq!(back.api.admin_token.as_deref(), Some(REDACTED));
    }

    #[test]
    fn a_bad_value_names_its_file_line_or_its_environment_variable() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            "[http]\nlisten = \"127.0.0.1:1\"\nmax_connections = \"many\"\n",
        )
        .unwrap();
        let e = Config::load(Some(&file), Vec::new()).unwrap_err().to_string();
        assert!(e.contains("c.toml") && e.contains("line 3"), "{e}");
        std::fs::write(&file, "[http]\nlisten = \"127.0.0.1:1\"\n").unwrap();
        let env = vec![
            ("PNSWITCH__LOG__FORMAT".to_owned(), "json".to_owned()),
            ("PNSWITCH__HTTP__MAX_CONNECTIONS".to_owned(), "many".to_owned()),
        ];
        let e = Config::load(Some(&file), env).unwrap_err().to_string();
        assert!(e.contains("PNSWITCH__HTTP__MAX_CONNECTIONS=\"many\""), "{e}");
        assert!(!e.contains("LOG__FORMAT"), "{e}");
    }

    #[test]
    fn defaults_need_no_file() {
        let c = Config::load(None, Vec::new()).unwrap();
        assert_eq!(c.http.listen.port(), 8080);
        assert!(c.store.synchronous_full);
    }

    #[test]
    fn env_overrides_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "data_dir = \"/a\"\n[http]\nlisten = \"127.0.0.1:1\"\n").unwrap();
        let env = vec![
            ("PNSWITCH__HTTP__LISTEN".to_owned(), "127.0.0.1:2".to_owned()),
            ("PNSWITCH__STORE__SYNCHRONOUS_FULL".to_owned(), "false".to_owned()),
            ("OTHER".to_owned(), "x".to_owned()),
        ];
        let c = Config::load(Some(&file), env).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/a"));
        assert_eq!(c.http.listen.port(), 2);
        assert!(!c.store.synchronous_full);
    }

    #[test]
    fn unknown_keys_are_refused() {
        let env = vec![("PNSWITCH__HTTP__LISTNE".to_owned(), "127.0.0.1:2".to_owned())];
        let err = Config::load(None, env).unwrap_err();
        assert!(err.to_string().contains("listne"), "{err}");
    }

    #[test]
    fn sip_section_defaults_and_overrides() {
        let c = Config::load(None, Vec::new()).unwrap();
        assert_eq!(c.sip.listen, vec![SocketAddr::from(([127, 0, 0, 1], 5060))]);
        assert!(c.sip.shard_count() >= 1);
        assert!(!c.log.show_numbers);
        let env = vec![
            ("PNSWITCH__SIP__LISTEN".to_owned(), "[::1]:5070".to_owned()),
            ("PNSWITCH__SIP__SHARDS".to_owned(), "3".to_owned()),
            ("PNSWITCH__LOG__SHOW_NUMBERS".to_owned(), "true".to_owned()),
        ];
        let c = Config::load(None, env).unwrap();
        assert_eq!(c.sip.listen, vec!["[::1]:5070".parse::<SocketAddr>().unwrap()]);
        assert_eq!(c.sip.shard_count(), 3);
        assert!(c.log.show_numbers);
        let env = vec![(
            "PNSWITCH__SIP__LISTEN".to_owned(),
            r#"["127.0.0.1:5060", "[::1]:5060"]"#.to_owned(),
        )];
        assert_eq!(Config::load(None, env).unwrap().sip.listen.len(), 2);
    }

    #[test]
    fn media_section_defaults_and_overrides() {
        let c = Config::load(None, Vec::new()).unwrap();
        assert_eq!(c.media.mode, MediaMode::Relay);
        assert!(!c.media.record_per_party);
        assert_eq!(
            (c.media.port_min, c.media.port_max, c.media.timeout_secs),
            (16_384, 32_767, 60)
        );
        assert_eq!((c.media.port_rest_ms, c.media.port_idle_secs), (1000, 10));
        let env = vec![
            ("PNSWITCH__MEDIA__PORT_REST_MS".to_owned(), "500".to_owned()),
            ("PNSWITCH__MEDIA__PORT_IDLE_SECS".to_owned(), "1".to_owned()),
        ];
        let c = Config::load(None, env).unwrap();
        assert_eq!((c.sip.media.port_rest_ms, c.sip.media.port_idle_secs), (500, 1));
        assert_eq!(c.media.latch_sources, pn_runtime::config::LatchSources::SdpHost);
        let env = vec![("PNSWITCH__MEDIA__LATCH_SOURCES".to_owned(), "any".to_owned())];
        let c = Config::load(None, env).unwrap();
        assert_eq!(c.sip.media.latch_sources, pn_runtime::config::LatchSources::Any);
        let env = vec![("PNSWITCH__MEDIA__LATCH_SOURCES".to_owned(), "everyone".to_owned())];
        assert!(
            Config::load(None, env).is_err(),
            "an unknown policy is refused at start"
        );
        let env = vec![
            ("PNSWITCH__MEDIA__MODE".to_owned(), "bypass".to_owned()),
            ("PNSWITCH__MEDIA__PUBLIC_IP".to_owned(), "192.0.2.7".to_owned()),
        ];
        let c = Config::load(None, env).unwrap();
        assert_eq!(c.sip.media.mode, MediaMode::Bypass);
        assert_eq!(c.sip.media.public_ip, Some("192.0.2.7".parse().unwrap()));
        let env = vec![("PNSWITCH__MEDIA__PORT_MIN".to_owned(), "40000".to_owned())];
        assert!(Config::load(None, env).is_err());
    }

    #[test]
    fn http_limits_have_defaults_and_env_overrides() {
        let c = Config::load(None, Vec::new()).unwrap();
        assert_eq!(
            (
                c.http.max_connections,
                c.http.header_read_timeout_ms,
                c.http.idle_timeout_ms,
                c.http.request_timeout_ms
            ),
            (1024, 10_000, 60_000, 30_000)
        );
        let env = vec![
            ("PNSWITCH__HTTP__MAX_CONNECTIONS".to_owned(), "7".to_owned()),
            ("PNSWITCH__HTTP__IDLE_TIMEOUT_MS".to_owned(), "250".to_owned()),
        ];
        let c = Config::load(None, env).unwrap();
        assert_eq!((c.http.max_connections, c.http.idle_timeout_ms), (7, 250));
        let env = vec![("PNSWITCH__HTTP__IDLE_TIMEOUT".to_owned(), "1".to_owned())];
        assert!(Config::load(None, env).is_err());
    }

    #[test]
    fn outbox_section_defaults_and_overrides() {
        let c = Config::load(None, Vec::new()).unwrap();
        assert_eq!(c.outbox, OutboxConfig::default());
        assert_eq!(c.outbox.retention_secs, 2_678_400);
        assert_eq!((c.outbox.max_rows, c.outbox.buffer_facts), (10_000_000, 100_000));
        let env = vec![
            ("PNSWITCH__OUTBOX__MAX_ROWS".to_owned(), "50".to_owned()),
            ("PNSWITCH__OUTBOX__PURGE_CHUNK".to_owned(), "0".to_owned()),
        ];
        let c = Config::load(None, env).unwrap();
        assert_eq!(c.outbox.max_rows, 50);
        assert_eq!(c.outbox.retention().chunk, 1);
        let env = vec![("PNSWITCH__OUTBOX__RETENTION".to_owned(), "5".to_owned())];
        assert!(Config::load(None, env).is_err());
    }

    #[test]
    fn store_postgres_needs_a_url_and_its_password_is_not_printed() {
        let env = |url: &str| {
            vec![
                ("PNSWITCH__STORE__BACKEND".to_owned(), "\"postgres\"".to_owned()),
                ("PNSWITCH__STORE__URL".to_owned(), format!("{url:?}")),
            ]
        };
        let err = Config::load(None, env("")).unwrap_err();
        assert!(err.to_string().contains("needs url"), "{err}");
        let c = Config::load(None, env("postgres://pn:hunter2@db.example:5432/pn")).unwrap();
        assert_eq!(c.store.backend, Backend::Postgres);
        assert_eq!(c.store.url, "postgres://pn:hunter2@db.example:5432/pn");
        let text = c.to_toml_redacted().unwrap();
        assert!(!text.contains("hunter2"), "{text}");
        assert!(
            text.contains("url = \"postgres://pn:<redacted>@db.example:5432/pn\""),
            "{text}"
        );
        assert_eq!(
            redact_url_password("host=/run/pg user=pn password=hunter2 dbname=pn"),
            "host=/run/pg user=pn password=<redacted> dbname=pn"
        );
        assert_eq!(
            redact_url_password("postgres://pn@127.0.0.1/pn"),
            "postgres://pn@127.0.0.1/pn"
        );
    }

    #[test]
    fn example_config_in_deploy_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/pnswitch.toml");
        Config::load(Some(&path), Vec::new()).unwrap();
    }
}
