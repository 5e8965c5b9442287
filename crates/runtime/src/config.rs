//! The runtime's settings: the `[sip]`, `[media]` and `[outbox]` sections of the binary's configuration (the
//! binary reads the file and the environment; these types say what each key means and its default).

use std::net::{IpAddr, SocketAddr};

use serde::{Deserialize, Serialize};

/// SIP transports, sharding and the B2BUA.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SipConfig {
    /// Addresses to listen on; each gets a UDP socket and a TCP listener (IPv4 or IPv6). Default
    /// `["127.0.0.1:5060"]`; one address may be given as a plain string. Port 0 picks a free port (the same
    /// one for UDP and TCP when possible); the bound addresses are printed on stdout.
    #[serde(deserialize_with = "one_or_many")]
    pub listen: Vec<SocketAddr>,
    /// Call shards (one thread each, calls spread by Call-ID); 0 or absent = one per available core.
    pub shards: usize,
    /// Pin shard *i* to the *i*-th CPU the process may use (wrapping when there are more shards than CPUs).
    /// Default off: a pinned shard cannot move to an idle core when other work takes its own, so pin only on a
    /// box the switch has to itself (docs/benchmarks.md measures both).
    pub pin_shards: bool,
    /// Largest SIP message accepted (UDP datagram or TCP-framed message), in bytes.
    pub max_message_bytes: usize,
    /// Messages waiting in one shard's queue before new ones are dropped (`pn_sip_overload_drops_total`).
    pub shard_queue: usize,
    /// The kernel receive buffer of each SIP UDP socket, in KiB (`SO_RCVBUF`; 0 keeps the system's default,
    /// `net.core.rmem_default`). What arrives while the buffer is full is dropped by the kernel unseen, so a
    /// burst larger than the buffer becomes retransmissions instead of 503s. Capped by `net.core.rmem_max`
    /// (the switch warns when it got less than asked).
    pub udp_recv_buffer_kib: usize,
    /// Call facts waiting for the outbox writer before new ones are dropped (`pn_outbox_dropped_total`).
    pub outbox_queue: usize,
    /// Overload: a new INVITE that waited longer than this in its shard's queue, in ms, is answered at once
    /// with 503, cause 522 and `Retry-After` (default 200): the shard is behind and would answer it too late
    /// (the caller retransmits after 500 ms). In-dialog requests and responses are always handled.
    pub overload_queue_delay_ms: u64,
    /// The `Retry-After` (seconds) of those 503s (default 2), and of the 503s (cause 7510) refusing new calls
    /// while a node's routing table has not caught up with a shared store's change feed.
    pub overload_retry_after_secs: u32,
    /// SIGTERM: seconds the calls in progress have to end while new calls are refused (503, cause 7509,
    /// `Retry-After` = this) and OPTIONS probes answered 503 (default 20); the calls still up then are
    /// released on both legs with cause 7509 and their CDRs written. Keep systemd's `TimeoutStopSec` above it.
    pub drain_secs: u64,
    /// The B2BUA: trunks (`egress`, `trusted_peers`), timers, `local_host` (default: the first listen
    /// address).
    pub b2bua: pn_b2bua::B2buaConfig,
    /// Egress trunks (`[[sip.trunks]]`: name, address, transport, priority, weight, number format, PAI,
    /// probes, failover timeout). Tried before the `sip.b2bua.egress` addresses, which stay UDP trunks.
    pub trunks: Vec<pn_b2bua::TrunkConfig>,
    /// A copy of the top-level `[media]` section (filled by the binary's configuration loader; not a `[sip]` key).
    #[serde(skip)]
    pub media: MediaConfig,
}

impl Default for SipConfig {
    fn default() -> Self {
        Self {
            listen: vec![SocketAddr::from(([127, 0, 0, 1], 5060))],
            shards: 0,
            pin_shards: false,
            max_message_bytes: 65_535,
            shard_queue: 65_536,
            udp_recv_buffer_kib: 4096,
            outbox_queue: 65_536,
            overload_queue_delay_ms: 200,
            overload_retry_after_secs: 2,
            drain_secs: 20,
            b2bua: pn_b2bua::B2buaConfig::default(),
            trunks: Vec::new(),
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

/// Which source addresses the relay may latch a party's media from (`media.latch_sources`).
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum LatchSources {
    /// Only the host the party's SDP named (its address, or another port of its IP): media sprayed at the
    /// relay's ports from anywhere else is dropped and never learns where the other party's audio goes.
    #[default]
    SdpHost,
    /// Any host, for parties behind NAT whose SDP names a private address; the SDP's host still outranks.
    Any,
}

impl From<LatchSources> for pn_media::SourcePolicy {
    fn from(sources: LatchSources) -> Self {
        match sources {
            LatchSources::SdpHost => Self::SdpHost,
            LatchSources::Any => Self::Any,
        }
    }
}

/// The `[media]` section.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct MediaConfig {
    /// `relay` (default) or `bypass`.
    pub mode: MediaMode,
    /// First port of the RTP/RTCP range (relay mode; default 16384). The default range, 16384–32767, lies below
    /// Linux's ephemeral ports (32768–60999), which any program's outgoing sockets may take; a range that
    /// overlaps them is warned about at start.
    pub port_min: u16,
    /// Last port of the range (default 32767); split evenly between the shards.
    pub port_max: u16,
    /// Seconds without RTP from a party (while it should send) before the call is released; 0 = never (default 60).
    pub timeout_secs: u64,
    /// Milliseconds a port pair rests after its call ended before it is the first choice of a new call
    /// (default 1000): its sockets stay bound meanwhile and stray packets of the ended call are dropped. A pair
    /// still resting is handed out only when no other pair is free.
    pub port_rest_ms: u64,
    /// Seconds a rested port pair may stay unused before its sockets are closed (default 10); until then a new
    /// call reuses its bound sockets.
    pub port_idle_secs: u64,
    /// Which source addresses the relay may latch a party's media from (default `sdp-host`).
    pub latch_sources: LatchSources,
    /// The address written into `c=` (default: the IP of the first SIP listen address).
    pub public_ip: Option<IpAddr>,
    /// Besides the mono mix, write one recording file per party (`<name>_a.wav`, `<name>_b.wav`; default false).
    pub record_per_party: bool,
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            mode: MediaMode::Relay,
            port_min: 16_384,
            port_max: 32_767,
            timeout_secs: 60,
            port_rest_ms: 1000,
            port_idle_secs: 10,
            latch_sources: LatchSources::SdpHost,
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
