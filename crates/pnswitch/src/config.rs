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
#[derive(Clone, Debug, Deserialize)]
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
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_connections: 1024,
            header_read_timeout_ms: 10_000,
            idle_timeout_ms: 60_000,
            request_timeout_ms: 30_000,
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
}

/// Durable store settings.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// Backend (only `sqlite` so far).
    pub backend: Backend,
    /// fsync every commit (SQLite `synchronous=FULL`); `false` trades power-loss durability for speed.
    pub synchronous_full: bool,
    /// Read connections kept open for queries.
    pub read_connections: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            backend: Backend::Sqlite,
            synchronous_full: true,
            read_connections: 4,
        }
    }
}

/// Routing settings.
#[derive(Clone, Debug, Deserialize)]
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
                text.parse::<toml::Table>()
                    .map_err(|e| ConfigError::Invalid(format!("{}: {e}", path.display())))?
            }
            None => toml::Table::new(),
        };
        for (name, value) in env {
            if let Some(path) = name.strip_prefix("PNSWITCH__") {
                apply_override(&mut table, path, &value)?;
            }
        }
        let mut config: Self = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Invalid(e.to_string()))?;
        if config.media.port_min > config.media.port_max {
            return Err(ConfigError::Invalid(format!(
                "[media] port_min {} is above port_max {}",
                config.media.port_min, config.media.port_max
            )));
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
    fn example_config_in_deploy_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/pnswitch.toml");
        Config::load(Some(&path), Vec::new()).unwrap();
    }
}
