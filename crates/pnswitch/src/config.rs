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
            log: LogConfig::default(),
        }
    }
}

/// The HTTP listener.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Address to listen on (default `127.0.0.1:8080`).
    pub listen: SocketAddr,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
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
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            filter: "info".to_owned(),
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
        toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Invalid(e.to_string()))
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
    fn example_config_in_deploy_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/pnswitch.toml");
        Config::load(Some(&path), Vec::new()).unwrap();
    }
}
