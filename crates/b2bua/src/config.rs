//! The B2BUA's configuration (the binary embeds it as `[sip.b2bua]`).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// B2BUA settings: transaction timers, call timers (forward timeout, dead-dialog probes, the default maximum
/// call duration), trunks and names.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct B2buaConfig {
    /// RFC 3261 T1 in milliseconds (RTT estimate; default 500).
    pub t1_ms: u64,
    /// RFC 3261 T2 in milliseconds (default 4000).
    pub t2_ms: u64,
    /// RFC 3261 T4 in milliseconds (default 5000).
    pub t4_ms: u64,
    /// Seconds from the B-leg INVITE to its answer before the call fails with 8035 (default 90).
    pub forward_timeout_secs: u64,
    /// Seconds between the in-dialog OPTIONS probes sent to both legs of an answered call (default 60; 0: no
    /// probes). A 481, a 408 or no answer at all (Timer F) from a leg means its dialog is gone: the call is
    /// released (BYE both legs, Q.850 102, stateCode 7505 for A, 7506 for B).
    pub dialog_probe_secs: u64,
    /// Longest an answered call may last when its binding sets no `maxDuration`, in seconds (default 14400,
    /// four hours; 0: no limit): then it is released like at `maxDuration` (BYE both legs, stateCode 8010).
    pub max_call_secs: u64,
    /// X mode: milliseconds the customer has to answer the Block `callin` (default 3000); then the call ends
    /// with 8040. The runtime's HTTP request uses the same timeout.
    pub xmode_decision_timeout_ms: u64,
    /// SMS Block: the most SMS one shard holds while their apps decide (default 4096); one more is refused
    /// at once with sendResult 5 (`503`). Each waits at most `xmode_decision_timeout_ms`.
    pub sms_block_max_pending: usize,
    /// X mode: the most calls one shard holds while their apps decide (default 4096); one more is refused at
    /// once with 522 (`503`, counted in `pn_xmode_decisions_total{outcome="full"}`).
    pub xmode_max_pending: usize,
    /// `host[:port]` pnswitch writes in its Via and Contact (the runtime fills it from the listen address).
    pub local_host: String,
    /// Egress trunk targets: B legs go to `egress[0]` (UDP), whose address is the Request-URI host.
    pub egress: Vec<SocketAddr>,
    /// Ingress ACL: addresses (`"192.0.2.7"`) and CIDR ranges (`"10.1.0.0/16"`, `"2001:db8::/32"`) whose
    /// requests are routed; requests from anywhere else get 403 (egress addresses are trusted too).
    #[serde(
        deserialize_with = "pn_bindings::controls::api::read_sources",
        serialize_with = "pn_bindings::controls::api::write_sources"
    )]
    pub trusted_peers: Vec<IpNet>,
    /// The CDR `hostName` and the domain of `sessionId`s.
    pub host_name: String,
    /// The CDR `spId` ("cloud account", 1–32 characters; default `pnswitch`): the operator's account name on
    /// this switch, the same in every CDR.
    pub sp_id: String,
}

impl Default for B2buaConfig {
    fn default() -> Self {
        Self {
            t1_ms: 500,
            t2_ms: 4000,
            t4_ms: 5000,
            forward_timeout_secs: 90,
            dialog_probe_secs: 60,
            max_call_secs: 4 * 3600,
            xmode_decision_timeout_ms: 3000,
            sms_block_max_pending: 4096,
            xmode_max_pending: 4096,
            local_host: "127.0.0.1:5060".to_owned(),
            egress: Vec::new(),
            trusted_peers: Vec::new(),
            host_name: "pnswitch".to_owned(),
            sp_id: "pnswitch".to_owned(),
        }
    }
}

impl B2buaConfig {
    /// Whether `ip` may send requests: inside a trusted range, or an egress trunk's address.
    pub fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted_peers.iter().any(|net| net.contains(&ip)) || self.egress.iter().any(|e| e.ip() == ip)
    }

    /// The transaction timer values.
    pub(crate) fn timers(&self) -> pn_sip::transaction::TimerConfig {
        pn_sip::transaction::TimerConfig {
            t1: Duration::from_millis(self.t1_ms.max(1)),
            t2: Duration::from_millis(self.t2_ms.max(1)),
            t4: Duration::from_millis(self.t4_ms),
            auto_trying: true,
            retransmit_2xx: true,
        }
    }

    /// `local_host` split into host and port (IPv6 kept in brackets).
    pub(crate) fn local_host_port(&self) -> (String, Option<u16>) {
        let s = self.local_host.trim();
        if let Some(rest) = s.strip_prefix('[') {
            if let Some((host, after)) = rest.split_once(']') {
                let port = after.strip_prefix(':').and_then(|p| p.parse().ok());
                return (format!("[{host}]"), port);
            }
        }
        match s.rsplit_once(':') {
            Some((host, port)) if !host.contains(':') => (host.to_owned(), port.parse().ok()),
            _ if s.contains(':') => (format!("[{s}]"), None),
            _ => (s.to_owned(), None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_toml() {
        let c: B2buaConfig =
            toml::from_str("egress = [\"192.0.2.9:5060\"]\nlocal_host = \"[2001:db8::1]:5070\"").unwrap();
        assert_eq!(c.t1_ms, 500);
        assert_eq!(c.forward_timeout_secs, 90);
        assert_eq!((c.dialog_probe_secs, c.max_call_secs), (60, 14_400));
        assert_eq!(c.xmode_decision_timeout_ms, 3000);
        assert_eq!(c.local_host_port(), ("[2001:db8::1]".to_owned(), Some(5070)));
        let c: B2buaConfig =
            toml::from_str("dialog_probe_secs = 0\nmax_call_secs = 7200\nxmode_decision_timeout_ms = 500")
                .unwrap();
        assert_eq!((c.dialog_probe_secs, c.max_call_secs), (0, 7200));
        assert_eq!(c.xmode_decision_timeout_ms, 500);
        assert!(toml::from_str::<B2buaConfig>("bogus = 1").is_err());
        let c = B2buaConfig {
            local_host: "pn.example:5062".into(),
            ..B2buaConfig::default()
        };
        assert_eq!(c.local_host_port(), ("pn.example".to_owned(), Some(5062)));
    }
}
