//! Typed views of the headers a B2BUA needs: Via, From/To/Contact, Call-ID, CSeq, Max-Forwards,
//! Content-Length/Type, Reason. Values are parsed on access, so a malformed header only fails
//! the accessor that reads it (and [`crate::validate`]).

use std::fmt;

use crate::error::{Result, SipError};
use crate::header::{Headers, is_token, split_list};
use crate::uri::{NameAddr, Param, find_param, param_value, parse_header_params, parse_hostport, set_param};

/// A SIP method. Methods are case-sensitive (RFC 3261 §7.1); unknown ones are kept as written.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    /// INVITE
    Invite,
    /// ACK
    Ack,
    /// BYE
    Bye,
    /// CANCEL
    Cancel,
    /// OPTIONS
    Options,
    /// REGISTER
    Register,
    /// PRACK (RFC 3262)
    Prack,
    /// UPDATE (RFC 3311)
    Update,
    /// INFO (RFC 6086)
    Info,
    /// REFER (RFC 3515)
    Refer,
    /// MESSAGE (RFC 3428)
    Message,
    /// NOTIFY (RFC 6665)
    Notify,
    /// SUBSCRIBE (RFC 6665)
    Subscribe,
    /// PUBLISH (RFC 3903)
    Publish,
    /// Any other token.
    Other(String),
}

impl Method {
    const KNOWN: [(&'static str, Method); 14] = [
        ("INVITE", Method::Invite),
        ("ACK", Method::Ack),
        ("BYE", Method::Bye),
        ("CANCEL", Method::Cancel),
        ("OPTIONS", Method::Options),
        ("REGISTER", Method::Register),
        ("PRACK", Method::Prack),
        ("UPDATE", Method::Update),
        ("INFO", Method::Info),
        ("REFER", Method::Refer),
        ("MESSAGE", Method::Message),
        ("NOTIFY", Method::Notify),
        ("SUBSCRIBE", Method::Subscribe),
        ("PUBLISH", Method::Publish),
    ];

    /// Parses a method token.
    pub fn parse(s: &str) -> Result<Self> {
        if !is_token(s) {
            return Err(SipError::StartLine(format!("method {s:?} is not a token")));
        }
        Ok(Self::KNOWN
            .iter()
            .find(|(n, _)| *n == s)
            .map_or_else(|| Self::Other(s.to_owned()), |(_, m)| m.clone()))
    }

    /// The method as written on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Other(s) => s,
            known => Self::KNOWN
                .iter()
                .find(|(_, m)| m == known)
                .map_or("", |(n, _)| n),
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One Via element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    transport: String,
    host: String,
    port: Option<u16>,
    params: Vec<Param>,
}

impl Via {
    /// A Via for `transport` (UDP, TCP, TLS, …) sent by `host[:port]` with a branch.
    pub fn new(transport: &str, host: &str, port: Option<u16>, branch: &str) -> Self {
        Self {
            transport: transport.to_ascii_uppercase(),
            host: host.to_owned(),
            port,
            params: vec![Param::new("branch", Some(branch))],
        }
    }

    /// Parses one Via element, tolerating LWS around `/`, `;` and `=` (RFC 4475 §3.1.1.1).
    pub fn parse(s: &str) -> Result<Self> {
        let bad = |reason: String| SipError::InvalidHeader { name: "Via", reason };
        let mut parts = s.splitn(3, '/');
        let (Some(proto), Some(version), Some(rest)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad(format!("no sent-protocol in {s:?}")));
        };
        if !proto.trim().eq_ignore_ascii_case("SIP") || version.trim() != "2.0" {
            return Err(bad(format!(
                "unsupported protocol {}/{}",
                proto.trim(),
                version.trim()
            )));
        }
        let rest = rest.trim_start();
        let split = rest
            .find(|c: char| c.is_ascii_whitespace())
            .ok_or_else(|| bad("no sent-by".into()))?;
        let transport = &rest[..split];
        if !is_token(transport) {
            return Err(bad(format!("bad transport {transport:?}")));
        }
        let rest = rest[split..].trim_start();
        let (sent_by, params) = match rest.find(';') {
            Some(i) => (rest[..i].trim_end(), &rest[i..]),
            None => (rest.trim_end(), ""),
        };
        let (host, port) = parse_hostport(sent_by).map_err(|e| bad(format!("sent-by {sent_by:?}: {e}")))?;
        let params = parse_header_params(params, "Via")?;
        Ok(Self {
            transport: transport.to_ascii_uppercase(),
            host,
            port,
            params,
        })
    }

    /// The transport (upper case).
    pub fn transport(&self) -> &str {
        &self.transport
    }

    /// The sent-by host (IPv6 in brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The sent-by port.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The parameters in order.
    pub fn params(&self) -> &[Param] {
        &self.params
    }

    /// The value of a parameter by case-insensitive name (`None` when absent or a flag like `lr`).
    pub fn param(&self, name: &str) -> Option<&str> {
        param_value(&self.params, name)
    }

    /// Whether a parameter (flag or valued) is present.
    pub fn has_param(&self, name: &str) -> bool {
        find_param(&self.params, name).is_some()
    }

    /// The branch parameter.
    pub fn branch(&self) -> Option<&str> {
        self.param("branch")
    }

    /// The received parameter.
    pub fn received(&self) -> Option<&str> {
        self.param("received")
    }

    /// Whether the client asked for symmetric response routing (`rport`, RFC 3581).
    pub fn has_rport(&self) -> bool {
        self.has_param("rport")
    }

    /// The port filled into `rport=`, if any.
    pub fn rport(&self) -> Option<u16> {
        self.param("rport").and_then(|p| p.parse().ok())
    }

    /// Sets `received=` (RFC 3261 §18.2.1).
    pub fn set_received(&mut self, addr: &str) {
        set_param(&mut self.params, "received", Some(addr));
    }

    /// Fills in `rport=` (RFC 3581).
    pub fn set_rport(&mut self, port: u16) {
        set_param(&mut self.params, "rport", Some(&port.to_string()));
    }

    /// Sets or replaces any parameter.
    pub fn set_param(&mut self, name: &str, value: Option<&str>) {
        set_param(&mut self.params, name, value);
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SIP/2.0/{} {}", self.transport, self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        for p in &self.params {
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// The CSeq header: sequence number and method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CSeq {
    /// Sequence number (RFC 3261 §8.1.1.5: less than 2**31).
    pub seq: u32,
    /// The method.
    pub method: Method,
}

impl CSeq {
    /// Parses `1 INVITE` (leading zeros and LWS allowed).
    pub fn parse(s: &str) -> Result<Self> {
        let bad = |reason: String| SipError::InvalidHeader { name: "CSeq", reason };
        let mut it = s.split_ascii_whitespace();
        let (Some(seq), Some(method), None) = (it.next(), it.next(), it.next()) else {
            return Err(bad(format!("{s:?} is not `number method`")));
        };
        let seq =
            parse_bounded(seq, (1 << 31) - 1).ok_or_else(|| bad(format!("bad sequence number {seq:?}")))?;
        let method = Method::parse(method).map_err(|_| bad(format!("bad method {method:?}")))?;
        Ok(Self {
            seq: seq as u32,
            method,
        })
    }
}

impl fmt::Display for CSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.seq, self.method)
    }
}

/// A decimal number of at most `max`, leading zeros allowed, no sign.
pub(crate) fn parse_bounded(s: &str, max: u64) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits = s.trim_start_matches('0');
    if digits.len() > 19 {
        return None;
    }
    let v = if digits.is_empty() {
        0
    } else {
        digits.parse::<u64>().ok()?
    };
    (v <= max).then_some(v)
}

/// The Reason header (RFC 3326): `Q.850;cause=16;text="Normal call clearing"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReasonHeader {
    /// `SIP`, `Q.850`, …
    pub protocol: String,
    /// The cause parameter.
    pub cause: Option<u16>,
    /// The text parameter, unquoted.
    pub text: Option<String>,
}

impl ReasonHeader {
    /// Parses one Reason element.
    pub fn parse(s: &str) -> Result<Self> {
        let s = s.trim();
        let (protocol, params) = match s.find(';') {
            Some(i) => (s[..i].trim(), &s[i..]),
            None => (s, ""),
        };
        if !is_token(protocol) {
            return Err(SipError::InvalidHeader {
                name: "Reason",
                reason: format!("bad protocol {protocol:?}"),
            });
        }
        let params = parse_header_params(params, "Reason")?;
        let cause = param_value(&params, "cause").and_then(|c| c.parse().ok());
        let text = param_value(&params, "text").map(|t| {
            t.strip_prefix('"')
                .and_then(|t| t.strip_suffix('"'))
                .unwrap_or(t)
                .to_owned()
        });
        Ok(Self {
            protocol: protocol.to_owned(),
            cause,
            text,
        })
    }
}

impl fmt::Display for ReasonHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.protocol)?;
        if let Some(c) = self.cause {
            write!(f, ";cause={c}")?;
        }
        if let Some(t) = &self.text {
            write!(f, ";text=\"{}\"", t.replace(['"', '\\'], ""))?;
        }
        Ok(())
    }
}

fn single<'a>(headers: &'a Headers, name: &'static str) -> Result<&'a str> {
    headers.get(name).ok_or(SipError::MissingHeader(name))
}

/// Typed accessors. Getters return `Err(MissingHeader)` when a mandatory header is absent and
/// `Err(InvalidHeader)` when it does not parse.
impl Headers {
    /// Every Via element, top first.
    pub fn vias(&self) -> Result<Vec<Via>> {
        self.get_list("Via").map(Via::parse).collect()
    }

    /// The top Via.
    pub fn top_via(&self) -> Result<Via> {
        Via::parse(
            self.get_list("Via")
                .next()
                .ok_or(SipError::MissingHeader("Via"))?,
        )
    }

    /// Replaces the top Via element (e.g. after adding `received`/`rport`).
    pub fn set_top_via(&mut self, via: &Via) {
        self.remove_first_element("Via");
        self.push_front("Via", via.to_string());
    }

    /// The From header.
    pub fn from(&self) -> Result<NameAddr> {
        NameAddr::parse(single(self, "From")?, "From")
    }

    /// The To header.
    pub fn to(&self) -> Result<NameAddr> {
        NameAddr::parse(single(self, "To")?, "To")
    }

    /// Every Contact element (`*` is returned as an error; check [`Headers::get`] first).
    pub fn contacts(&self) -> Result<Vec<NameAddr>> {
        self.get_list("Contact")
            .map(|c| NameAddr::parse(c, "Contact"))
            .collect()
    }

    /// Every P-Asserted-Identity element (RFC 3325).
    pub fn asserted_identities(&self) -> Result<Vec<NameAddr>> {
        self.get_list("P-Asserted-Identity")
            .map(|c| NameAddr::parse(c, "P-Asserted-Identity"))
            .collect()
    }

    /// Every Route element, in order.
    pub fn routes(&self) -> Result<Vec<NameAddr>> {
        self.get_list("Route")
            .map(|c| NameAddr::parse(c, "Route"))
            .collect()
    }

    /// Every Record-Route element, in order.
    pub fn record_routes(&self) -> Result<Vec<NameAddr>> {
        self.get_list("Record-Route")
            .map(|c| NameAddr::parse(c, "Record-Route"))
            .collect()
    }

    /// The Call-ID.
    pub fn call_id(&self) -> Result<&str> {
        single(self, "Call-ID")
    }

    /// The CSeq.
    pub fn cseq(&self) -> Result<CSeq> {
        CSeq::parse(single(self, "CSeq")?)
    }

    /// Max-Forwards (0..=255), `None` when absent.
    pub fn max_forwards(&self) -> Result<Option<u8>> {
        self.get("Max-Forwards")
            .map(|v| {
                parse_bounded(v, 255)
                    .map(|n| n as u8)
                    .ok_or_else(|| SipError::InvalidHeader {
                        name: "Max-Forwards",
                        reason: format!("{v:?} is not 0..=255"),
                    })
            })
            .transpose()
    }

    /// Content-Length, `None` when absent.
    pub fn content_length(&self) -> Result<Option<usize>> {
        self.get("Content-Length")
            .map(|v| {
                parse_bounded(v, u32::MAX.into())
                    .map(|n| n as usize)
                    .ok_or_else(|| SipError::ContentLength(v.to_owned()))
            })
            .transpose()
    }

    /// The media type of Content-Type without parameters, lower-cased (`application/sdp`).
    pub fn content_type(&self) -> Option<String> {
        let v = self.get("Content-Type")?;
        Some(
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase(),
        )
    }

    /// The first Reason element.
    pub fn reason(&self) -> Option<Result<ReasonHeader>> {
        self.get_list("Reason").next().map(ReasonHeader::parse)
    }

    /// The option tags of Require/Supported/Proxy-Require/Unsupported (`name`), trimmed.
    pub fn option_tags<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a str> + 'a {
        self.get_all(name).flat_map(split_list).filter(|t| !t.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn via_tolerates_lws_and_ipv6() {
        let v = Via::parse("SIP  /   2.0 /UDP    192.0.2.2;branch=390skdjuw").unwrap();
        assert_eq!(
            (v.transport(), v.host(), v.branch()),
            ("UDP", "192.0.2.2", Some("390skdjuw"))
        );
        let v =
            Via::parse("SIP  / 2.0  / TCP     spindle.example.com   ;   branch  =   z9hG4bK9ikj8").unwrap();
        assert_eq!(
            (v.host(), v.branch()),
            ("spindle.example.com", Some("z9hG4bK9ikj8"))
        );
        let mut v = Via::parse("SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bKx;rport").unwrap();
        assert_eq!(
            (v.host(), v.port(), v.has_rport(), v.rport()),
            ("[2001:db8::1]", Some(5060), true, None)
        );
        v.set_received("2001:db8::9");
        v.set_rport(5062);
        assert_eq!(
            v.to_string(),
            "SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bKx;rport=5062;received=2001:db8::9"
        );
        assert!(Via::parse("SIP/2.0/UDP 192.0.2.15;;").is_err());
        assert!(Via::parse("SIP/7.0/UDP a").is_err());
    }

    #[test]
    fn cseq_bounds() {
        assert_eq!(
            CSeq::parse("0009\r\n  INVITE".replace("\r\n", " ").as_str())
                .unwrap()
                .seq,
            9
        );
        assert!(CSeq::parse("36893488147419103232 REGISTER").is_err());
        assert!(CSeq::parse("2147483648 INVITE").is_err());
        assert!(CSeq::parse("1").is_err());
    }

    #[test]
    fn reason_header() {
        let r = ReasonHeader::parse("Q.850 ;cause=16 ;text=\"Normal call clearing\"").unwrap();
        assert_eq!(
            (r.protocol.as_str(), r.cause, r.text.as_deref()),
            ("Q.850", Some(16), Some("Normal call clearing"))
        );
        assert_eq!(ReasonHeader::parse(&r.to_string()).unwrap(), r);
    }
}
