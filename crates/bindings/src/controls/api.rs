//! The provisioning API's limits for one app (reference §6.4): flow control (requests per second with a
//! burst, refused with 1010010) and a source-IP allow-list (CIDR ranges, refused with 1020166). Enforced by
//! pn-api after it authenticated the app; kept with the app's call controls.

use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One app's API limits (the default limits nothing).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ApiLimits {
    /// Signed API requests per second the app may make (0: no limit). Beyond it: 1010010 with `Retry-After`.
    pub requests_per_sec: u32,
    /// Requests the app may make at once above the steady rate (0: the rate itself).
    pub burst: u32,
    /// When not empty, the only sources (addresses or CIDR ranges) the app's requests may come from;
    /// others get 1020166.
    #[serde(deserialize_with = "read_sources", serialize_with = "write_sources")]
    pub allowed_sources: Vec<IpNet>,
}

impl ApiLimits {
    /// Whether a request from `ip` may be served (always, without an allow-list).
    pub fn source_allowed(&self, ip: std::net::IpAddr) -> bool {
        self.allowed_sources.is_empty() || self.allowed_sources.iter().any(|net| net.contains(&ip))
    }
}

/// One address (`"192.0.2.7"`, a host range) or CIDR range (`"10.1.0.0/16"`, `"2001:db8::/32"`).
pub fn parse_net(entry: &str) -> Result<IpNet, String> {
    let entry = entry.trim();
    let parsed = if entry.contains('/') {
        entry.parse::<IpNet>().map(|net| net.trunc()).ok()
    } else {
        entry.parse::<std::net::IpAddr>().map(IpNet::from).ok()
    };
    parsed.ok_or_else(|| format!("{entry:?} is not an address or a CIDR range"))
}

/// A list of [`parse_net`] entries.
pub fn read_sources<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<IpNet>, D::Error> {
    Vec::<String>::deserialize(deserializer)?
        .iter()
        .map(|entry| parse_net(entry).map_err(serde::de::Error::custom))
        .collect()
}

/// Writes ranges back: host ranges as plain addresses, others as CIDR.
pub fn write_sources<S: Serializer>(nets: &[IpNet], serializer: S) -> Result<S::Ok, S::Error> {
    let texts: Vec<String> = nets
        .iter()
        .map(|net| {
            if net.prefix_len() == net.max_prefix_len() {
                net.addr().to_string()
            } else {
                net.to_string()
            }
        })
        .collect();
    texts.serialize(serializer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_parse_match_and_print_back() {
        let limits: ApiLimits = serde_json::from_str(
            r#"{"requestsPerSec":5,"burst":10,"allowedSources":["192.0.2.7","10.1.0.0/16","2001:db8::/32"]}"#,
        )
        .unwrap();
        assert_eq!((limits.requests_per_sec, limits.burst), (5, 10));
        for (ip, ok) in [
            ("192.0.2.7", true),
            ("192.0.2.8", false),
            ("10.1.9.9", true),
            ("10.2.0.1", false),
            ("2001:db8::5", true),
        ] {
            assert_eq!(limits.source_allowed(ip.parse().unwrap()), ok, "{ip}");
        }
        let text = serde_json::to_string(&limits).unwrap();
        assert!(
            text.contains(r#""allowedSources":["192.0.2.7","10.1.0.0/16","2001:db8::/32"]"#),
            "{text}"
        );
        assert!(ApiLimits::default().source_allowed("203.0.113.1".parse().unwrap()));
        assert!(serde_json::from_str::<ApiLimits>(r#"{"allowedSources":["10.0.0.0/40"]}"#).is_err());
        assert!(serde_json::from_str::<ApiLimits>(r#"{"allowedSources":["example.org"]}"#).is_err());
    }
}
