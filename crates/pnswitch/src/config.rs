//! Configuration: embedded defaults, an optional TOML file, `PNSWITCH__…` environment overrides, then flags.
//!
//! Precedence (lowest first): defaults → file (`--config`/`PNSWITCH_CONFIG`) → environment → command-line flags.
//! Environment overrides name a key path with double underscores: `PNSWITCH__HTTP__LISTEN=0.0.0.0:8080`,
//! `PNSWITCH__API__AUTH__MAX_SKEW_SECS=120`. Values are parsed as TOML (`true`, `42`, `"text"`), falling back
//! to a plain string.

use std::net::{IpAddr, SocketAddr};
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
    /// SIP transports, sharding and the B2BUA (trunks, timers).
    pub sip: SipConfig,
    /// The media plane: bypass (SDP passthrough) or relay (RTP anchored at the switch).
    pub media: MediaConfig,
    /// Call facts and the outbox: retention, the retry buffer, refusing calls while facts cannot be stored.
    pub outbox: OutboxConfig,
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

/// SIP transports, sharding and the B2BUA.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SipConfig {
    /// Addresses to listen on; each gets a UDP socket and a TCP listener (IPv4 or IPv6). Default
    /// `["127.0.0.1:5060"]`; one address may be given as a plain string. Port 0 picks a free port (the same
    /// one for UDP and TCP when possible); the bound addresses are printed on stdout.
    #[serde(deserialize_with = "one_or_many")]
    pub listen: Vec<SocketAddr>,
    /// Call shards (one thread each, calls spread by Call-ID); 0 or absent = one per available core.
    pub shards: usize,
    /// Largest SIP message accepted (UDP datagram or TCP-framed message), in bytes.
    pub max_message_bytes: usize,
    /// Messages waiting in one shard's queue before new ones are dropped (`pn_sip_overload_drops_total`).
    pub shard_queue: usize,
    /// Call facts waiting for the outbox writer before new ones are dropped (`pn_outbox_dropped_total`).
    pub outbox_queue: usize,
    /// The B2BUA: trunks (`egress`, `trusted_peers`), timers, `local_host` (default: the first listen
    /// address).
    pub b2bua: pn_b2bua::B2buaConfig,
    /// A copy of the top-level `[media]` section (filled by [`Config::load`]; not a `[sip]` key).
    #[serde(skip)]
    pub media: MediaConfig,
}

impl Default for SipConfig {
    fn default() -> Self {
        Self {
            listen: vec![SocketAddr::from(([127, 0, 0, 1], 5060))],
            shards: 0,
            max_message_bytes: 65_535,
            shard_queue: 65_536,
            outbox_queue: 65_536,
            b2bua: pn_b2bua::B2buaConfig::default(),
            media: MediaConfig::default(),
        }
    }
}

impl SipConfig {
    /// The shard count to run: `shards`, or one per available core when 0.
    pub fn shard_count(&self) -> usize {
        if self.shards > 0 {
            return self.shards.min(usize::from(u16::MAX));
        }
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    }
}

/// How media flows.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum MediaMode {
    /// SDP passthrough: the parties send RTP to each other; features that need media (AXE, recording,
    /// prompts) are refused at bind time.
    Bypass,
    /// RTP/RTCP anchored at the switch (default): SDP `c=`/`m=` rewritten to per-call port pairs, relayed by
    /// the shards, which also play prompts, detect DTMF and record.
    #[default]
    Relay,
}

/// The `[media]` section.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct MediaConfig {
    /// `relay` (default) or `bypass`.
    pub mode: MediaMode,
    /// First port of the RTP/RTCP range (relay mode; default 30000).
    pub port_min: u16,
    /// Last port of the range (default 39999); split evenly between the shards.
    pub port_max: u16,
    /// Seconds without RTP from a party (while it should send) before the call is released; 0 = never (default 60).
    pub timeout_secs: u64,
    /// The address written into `c=` (default: the IP of the first SIP listen address).
    pub public_ip: Option<IpAddr>,
    /// Besides the mono mix, write one recording file per party (`<name>_a.wav`, `<name>_b.wav`; default false).
    pub record_per_party: bool,
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            mode: MediaMode::Relay,
            port_min: 30_000,
            port_max: 39_999,
            timeout_secs: 60,
            public_ip: None,
            record_per_party: false,
        }
    }
}

/// The `[outbox]` section: how long call facts are kept, how many at most, and what happens while they
/// cannot be stored.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct OutboxConfig {
    /// Rows older than this many seconds are purged (default 2678400 = 31 days, the reference's CDR
    /// console); 0 keeps rows whatever their age.
    pub retention_secs: u64,
    /// The outbox keeps at most this many rows, the oldest purged first whatever their age (default
    /// 10000000, about 3 GB of database at ~0.3 KB per row); 0 = no cap.
    pub max_rows: u64,
    /// How often the retention rule runs, in seconds (default 60; also once at start).
    pub purge_interval_secs: u64,
    /// Most rows one purge transaction removes (default 5000); a larger backlog is removed in several.
    pub purge_chunk: u32,
    /// Call facts held in memory while they cannot be committed (default 100000, roughly 100 MB at most; at
    /// least 256); beyond it facts are logged at error level with their content and counted as dropped.
    pub buffer_facts: usize,
    /// `Retry-After` seconds of the 503 that refuses new calls while facts cannot be stored (default 30;
    /// 0 sends none).
    pub retry_after_secs: u32,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        Self {
            retention_secs: 31 * 86_400,
            max_rows: 10_000_000,
            purge_interval_secs: 60,
            purge_chunk: 5000,
            buffer_facts: 100_000,
            retry_after_secs: 30,
        }
    }
}

impl OutboxConfig {
    /// The retention rule the purge task applies.
    pub fn retention(&self) -> pn_provision::OutboxRetention {
        pn_provision::OutboxRetention {
            retention_secs: self.retention_secs,
            max_rows: self.max_rows,
            chunk: self.purge_chunk.max(1),
        }
    }
}

/// Accepts `"addr"` or `["addr", …]`.
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<SocketAddr>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(SocketAddr),
        Many(Vec<SocketAddr>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(a) => vec![a],
        OneOrMany::Many(v) => v,
    })
}

/// Logging settings.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `tracing` filter, e.g. `info` or `pn_api=debug,info` (`RUST_LOG` wins when set).
    pub filter: String,
    /// Show phone numbers in logs in full; `false` (default) masks their middle digits (`+86138****0001`).
    pub show_numbers: bool,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            filter: "info".to_owned(),
            show_numbers: false,
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
            (30_000, 39_999, 60)
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
