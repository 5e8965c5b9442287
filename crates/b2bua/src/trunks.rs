//! Egress trunk groups: the configured trunks ([`TrunkConfig`], `[[sip.trunks]]`), the set every shard
//! shares ([`TrunkSet`]: the trunks plus their health and failover counters, atomics the runtime owns through
//! an `Arc`), the order a call tries them in ([`TrunkSet::plan`]: priority, then weight, picked
//! deterministically from the call), the number format per trunk ([`NumberFormat`]) and the probe health
//! rule ([`ProbeHealth`]: down after N failed probes, up after one good answer).
//!
//! Nothing here reads a clock or opens a socket: the runtime probes and stores the result with
//! [`TrunkSet::set_up`]; the shards read it when they place a B leg.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use pn_numbers::{E164, NumberKind, classify};
use serde::{Deserialize, Serialize};

use crate::peer::{Peer, Transport};

/// How a trunk wants the numbers of the B leg (callee in the Request-URI and `To`, X in `From` and `P-Asserted-Identity`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NumberFormat {
    /// `+8613800138000` (the default).
    #[default]
    E164,
    /// The China national form: mobile `13800138000`, fixed line with its trunk 0 `075512345678`, special
    /// services as dialled (`95588`, `4001234567`); numbers outside China `00` + country code + number.
    National,
    /// The trunk's `prefix` followed by the E.164 digits without `+` (`prefix = "9"`: `98613800138000`).
    Prefix,
}

/// A trunk's transport.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TrunkTransport {
    /// UDP (the default).
    #[default]
    Udp,
    /// TCP, through the runtime's connection hub (`;transport=tcp` in Via, Contact and Request-URI).
    Tcp,
}

/// One egress trunk (`[[sip.trunks]]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrunkConfig {
    /// The trunk's name (metrics label `trunk`, logs).
    pub name: String,
    /// Where B legs go (`ip:port`); its IP is a trusted peer.
    pub address: SocketAddr,
    /// `udp` (default) or `tcp`.
    pub transport: TrunkTransport,
    /// Lower first (default 0).
    pub priority: u32,
    /// Share of the calls among the trunks of equal priority (default 1; 0: only when the others failed).
    pub weight: u32,
    /// `e164` (default), `national` or `prefix`.
    pub number_format: NumberFormat,
    /// With `number_format = "prefix"`: what is written before the E.164 digits.
    pub prefix: String,
    /// Add `P-Asserted-Identity: <sip:X@…>` (X formatted per `number_format`) to the B leg's INVITE.
    pub pai: bool,
    /// Seconds between OPTIONS health probes (default 0: none; the trunk is then always up).
    pub probe_interval_secs: u64,
    /// Failed probes (timeout, 408 or 5xx) in a row before the trunk is down (default 2).
    pub probe_failures: u32,
    /// Milliseconds the B leg's INVITE may wait for a provisional answer before the next trunk is tried
    /// (default 2000; only when there is a next trunk).
    pub failover_timeout_ms: u64,
}

impl Default for TrunkConfig {
    fn default() -> Self {
        Self {
            name: String::new(),
            address: SocketAddr::from(([127, 0, 0, 1], 5060)),
            transport: TrunkTransport::Udp,
            priority: 0,
            weight: 1,
            number_format: NumberFormat::E164,
            prefix: String::new(),
            pai: false,
            probe_interval_secs: 0,
            probe_failures: 2,
            failover_timeout_ms: 2000,
        }
    }
}

impl TrunkConfig {
    /// A UDP trunk at `address` from `sip.b2bua.egress` (the `index`th: priority `index`, name `egress<index>`).
    pub fn from_egress(index: usize, address: SocketAddr) -> Self {
        Self {
            name: format!("egress{index}"),
            address,
            priority: u32::try_from(index).unwrap_or(u32::MAX),
            ..Self::default()
        }
    }

    /// Where the trunk's messages go.
    pub fn peer(&self) -> Peer {
        Peer {
            addr: self.address,
            transport: match self.transport {
                TrunkTransport::Udp => Transport::Udp,
                TrunkTransport::Tcp => Transport::Tcp,
            },
        }
    }

    /// `n` as this trunk writes it in the B leg's URIs (no `+` unless E.164).
    pub fn format(&self, n: E164) -> String {
        match self.number_format {
            NumberFormat::E164 => n.to_string(),
            NumberFormat::Prefix => format!("{}{}", self.prefix, n.digits()),
            NumberFormat::National => national(n),
        }
    }
}

/// The China national form of `n` (see [`NumberFormat::National`]); an invalid number stays E.164.
pub fn national(n: E164) -> String {
    let digits = n.digits().to_string();
    let nsn = digits.strip_prefix("86").unwrap_or(&digits);
    match classify(n) {
        NumberKind::Mobile | NumberKind::SpecialService => nsn.to_owned(),
        NumberKind::FixedLine { .. } => format!("0{nsn}"),
        NumberKind::International => format!("00{digits}"),
        NumberKind::Invalid => n.to_string(),
    }
}

/// The trunks every shard shares: their settings, whether each is up, and failovers away from each.
/// The runtime builds one per configuration (a reload makes a new one; calls keep the one they started on).
#[derive(Debug, Default)]
pub struct TrunkSet {
    trunks: Vec<TrunkConfig>,
    up: Vec<AtomicBool>,
    failovers: Vec<AtomicU64>,
}

impl TrunkSet {
    /// `trunks` (every one up at first).
    pub fn new(trunks: Vec<TrunkConfig>) -> Self {
        let up = trunks.iter().map(|_| AtomicBool::new(true)).collect();
        let failovers = trunks.iter().map(|_| AtomicU64::new(0)).collect();
        Self {
            trunks,
            up,
            failovers,
        }
    }

    /// The configured trunks: `[[sip.trunks]]` first (a trunk without a name is named after its address),
    /// then one UDP trunk per `sip.b2bua.egress` address (priorities after the configured ones, in list order).
    pub fn from_config(trunks: &[TrunkConfig], egress: &[SocketAddr]) -> Self {
        let base = trunks
            .iter()
            .map(|t| t.priority.saturating_add(1))
            .max()
            .unwrap_or(0);
        let mut all = trunks.to_vec();
        for t in &mut all {
            if t.name.is_empty() {
                t.name = t.address.to_string();
            }
        }
        all.extend(egress.iter().enumerate().map(|(i, &a)| {
            let mut t = TrunkConfig::from_egress(i, a);
            t.priority = t.priority.saturating_add(base);
            t
        }));
        Self::new(all)
    }

    /// The trunks, in configuration order (indices used by [`TrunkSet::plan`]).
    pub fn trunks(&self) -> &[TrunkConfig] {
        &self.trunks
    }

    /// Trunk `index`.
    pub fn get(&self, index: usize) -> Option<&TrunkConfig> {
        self.trunks.get(index)
    }

    /// Whether trunk `index` is up (no probes, or the last probes answered).
    pub fn is_up(&self, index: usize) -> bool {
        self.up.get(index).is_some_and(|u| u.load(Ordering::Relaxed))
    }

    /// Marks trunk `index` up or down (the prober's verdict).
    pub fn set_up(&self, index: usize, up: bool) {
        if let Some(u) = self.up.get(index) {
            u.store(up, Ordering::Relaxed);
        }
    }

    /// Counts a failover away from trunk `index`.
    pub fn count_failover(&self, index: usize) {
        if let Some(f) = self.failovers.get(index) {
            f.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Failovers away from trunk `index` so far.
    pub fn failovers(&self, index: usize) -> u64 {
        self.failovers.get(index).map_or(0, |f| f.load(Ordering::Relaxed))
    }

    /// Whether `ip` is a trunk's address.
    pub fn has_ip(&self, ip: std::net::IpAddr) -> bool {
        self.trunks.iter().any(|t| t.address.ip() == ip)
    }

    /// The order a call with `key` (a hash of A's Call-ID, [`call_key`]) tries the trunks that are up:
    /// ascending priority; among equal priorities a weighted draw without replacement, seeded by `key`
    /// (the same call always gets the same order; over many calls each trunk comes first in proportion
    /// to its weight). Weight-0 trunks come last in their priority.
    pub fn plan(&self, key: u64) -> Vec<usize> {
        let mut up: Vec<usize> = (0..self.trunks.len()).filter(|&i| self.is_up(i)).collect();
        up.sort_by_key(|&i| (self.trunks[i].priority, i));
        let mut plan = Vec::with_capacity(up.len());
        let mut start = 0;
        while start < up.len() {
            let priority = self.trunks[up[start]].priority;
            let end = up[start..]
                .iter()
                .position(|&i| self.trunks[i].priority != priority)
                .map_or(up.len(), |n| start + n);
            let mut group: Vec<usize> = up[start..end].to_vec();
            let mut round = 0u64;
            while !group.is_empty() {
                let total: u64 = group.iter().map(|&i| u64::from(self.trunks[i].weight)).sum();
                let pick = if total == 0 {
                    0
                } else {
                    let mut r = mix(key ^ round.wrapping_mul(0x9E37_79B9_7F4A_7C15)) % total;
                    group
                        .iter()
                        .position(|&i| {
                            let w = u64::from(self.trunks[i].weight);
                            if r < w {
                                true
                            } else {
                                r -= w;
                                false
                            }
                        })
                        .unwrap_or(0)
                };
                plan.push(group.remove(pick));
                round += 1;
            }
            start = end;
        }
        plan
    }

    /// Whether any trunk is up (a call can be placed).
    pub fn any_up(&self) -> bool {
        self.up.iter().any(|u| u.load(Ordering::Relaxed))
    }

    /// The first trunk of [`TrunkSet::plan`] for `key`, if any is up.
    pub fn first(&self, key: u64) -> Option<usize> {
        self.plan(key).first().copied()
    }
}

/// A B leg placed on a trunk ([`crate::Output::Trunk`]): which call, which trunk, and when it is a failover,
/// the trunk given up on and what it answered (0: nothing in time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrunkUse {
    /// The call's `sessionId`.
    pub session_id: String,
    /// The trunk's name.
    pub trunk: String,
    /// The previous trunk's name and its status (0: no answer), when the call failed over.
    pub failed_over_from: Option<(String, u16)>,
}

/// The trunk-selection key of a call: a hash (FNV-1a, then mixed) of A's Call-ID.
pub fn call_key(call_id: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in call_id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    mix(h)
}

/// splitmix64's finaliser: spreads every input bit over the output.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The health of one probed trunk, Kamailio dispatcher style: down after `failures` failed probes in a row
/// (no answer, 408 or a 5xx), up again after one good answer (any other final status).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeHealth {
    failures: u32,
    in_a_row: u32,
    up: bool,
}

impl ProbeHealth {
    /// A trunk that is up; `failures` (at least 1) failed probes mark it down.
    pub fn new(failures: u32) -> Self {
        Self {
            failures: failures.max(1),
            in_a_row: 0,
            up: true,
        }
    }

    /// Whether the trunk is up.
    pub fn is_up(&self) -> bool {
        self.up
    }

    /// A probe's outcome: `Some(status)` its final status, `None` no answer. Returns whether the trunk is up.
    pub fn probed(&mut self, status: Option<u16>) -> bool {
        let failed = status.is_none_or(|s| s == 408 || s >= 500);
        if failed {
            self.in_a_row = self.in_a_row.saturating_add(1);
            if self.in_a_row >= self.failures {
                self.up = false;
            }
        } else {
            self.in_a_row = 0;
            self.up = true;
        }
        self.up
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e164(s: &str) -> E164 {
        pn_numbers::normalize(s).unwrap()
    }

    fn trunk(name: &str, port: u16, priority: u32, weight: u32) -> TrunkConfig {
        TrunkConfig {
            name: name.into(),
            address: SocketAddr::from(([192, 0, 2, 60], port)),
            priority,
            weight,
            ..TrunkConfig::default()
        }
    }

    #[test]
    fn priority_order_and_down_trunks_skipped() {
        let set = TrunkSet::new(vec![
            trunk("c", 3, 2, 1),
            trunk("a", 1, 0, 1),
            trunk("b", 2, 1, 1),
        ]);
        for key in 0..50 {
            assert_eq!(set.plan(call_key(&format!("call-{key}"))), [1, 2, 0]);
        }
        set.set_up(1, false);
        assert_eq!(set.plan(7), [2, 0]);
        assert_eq!(set.first(7), Some(2));
        set.set_up(2, false);
        set.set_up(0, false);
        assert_eq!(set.first(7), None);
        assert!(!set.any_up());
        set.set_up(1, true);
        assert!(set.any_up());
        assert_eq!(set.plan(7), [1]);
    }

    #[test]
    fn weights_share_the_first_place_and_the_order_is_per_call() {
        let set = TrunkSet::new(vec![
            trunk("a", 1, 0, 3),
            trunk("b", 2, 0, 1),
            trunk("z", 3, 5, 1),
        ]);
        let mut first = [0u32; 2];
        for n in 0..20_000 {
            let key = call_key(&format!("{n}@a.example"));
            let plan = set.plan(key);
            assert_eq!(plan.len(), 3);
            assert_eq!(plan[2], 2, "the lower priority comes last");
            assert_eq!(set.plan(key), plan, "the same call gets the same order");
            first[plan[0]] += 1;
        }
        // 3:1 → 75 % ± 2 %.
        let share = f64::from(first[0]) / 20_000.0;
        assert!((0.73..0.77).contains(&share), "share of trunk a: {share}");
        // Weight 0: last among its priority.
        let set = TrunkSet::new(vec![trunk("a", 1, 0, 0), trunk("b", 2, 0, 1)]);
        for n in 0..100 {
            assert_eq!(set.plan(call_key(&n.to_string())), [1, 0]);
        }
    }

    #[test]
    fn egress_addresses_become_udp_trunks_after_the_configured_ones() {
        let e: Vec<SocketAddr> = vec![
            "192.0.2.9:5060".parse().unwrap(),
            "192.0.2.8:5060".parse().unwrap(),
        ];
        let set = TrunkSet::from_config(&[], &e);
        assert_eq!(set.trunks().len(), 2);
        assert_eq!(set.trunks()[0].name, "egress0");
        assert_eq!(set.trunks()[1].peer().transport, Transport::Udp);
        assert_eq!(set.plan(123), [0, 1]);
        let set = TrunkSet::from_config(&[trunk("t", 1, 4, 1)], &e);
        assert_eq!(set.plan(9), [0, 1, 2]);
        assert_eq!(set.trunks()[1].priority, 5);
        let unnamed = TrunkConfig {
            name: String::new(),
            ..trunk("", 7, 0, 1)
        };
        assert_eq!(
            TrunkSet::from_config(&[unnamed], &[]).trunks()[0].name,
            "192.0.2.60:7"
        );
    }

    #[test]
    fn number_formats() {
        let mut t = trunk("t", 1, 0, 1);
        let mobile = e164("+8613800138000");
        let fixed = e164("+8675523456789");
        let beijing = e164("+861062345678");
        let special = e164("95588");
        let abroad = e164("+14155550100");
        assert_eq!(t.format(mobile), "+8613800138000");
        t.number_format = NumberFormat::National;
        assert_eq!(t.format(mobile), "13800138000");
        assert_eq!(t.format(fixed), "075523456789");
        assert_eq!(t.format(beijing), "01062345678");
        // Not of the numbering plan: left in E.164.
        assert_eq!(t.format(e164("+8675512345678")), "+8675512345678");
        assert_eq!(t.format(special), "95588");
        assert_eq!(t.format(abroad), "0014155550100");
        t.number_format = NumberFormat::Prefix;
        t.prefix = "17951".into();
        assert_eq!(t.format(mobile), "179518613800138000");
    }

    #[test]
    fn probe_health_down_after_n_failures_up_after_one_answer() {
        let mut h = ProbeHealth::new(2);
        assert!(h.probed(None));
        assert!(h.probed(Some(200)), "a good answer resets the count");
        assert!(h.probed(Some(503)));
        assert!(!h.probed(Some(408)));
        assert!(!h.probed(None));
        assert!(h.probed(Some(404)), "any final below 500 but 408 is up");
        assert!(h.is_up());
        let mut h = ProbeHealth::new(3);
        assert!(h.probed(None) && h.probed(None));
        assert!(!h.probed(Some(500)));
    }

    #[test]
    fn toml() {
        let t: TrunkConfig = toml::from_str(
            "name = \"ct\"\naddress = \"192.0.2.7:5070\"\ntransport = \"tcp\"\nnumber_format = \"national\"\npai = true",
        )
        .unwrap();
        assert_eq!(t.peer().transport, Transport::Tcp);
        assert_eq!((t.weight, t.failover_timeout_ms, t.probe_failures), (1, 2000, 2));
        assert!(toml::from_str::<TrunkConfig>("name = \"x\"\nbogus = 1").is_err());
        assert!(toml::from_str::<TrunkConfig>("number_format = \"local\"").is_err());
    }
}
