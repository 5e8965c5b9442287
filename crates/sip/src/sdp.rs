//! SDP (RFC 8866) bodies: parse, print, typed access to o=, s=, c=, m= and attributes, and building a
//! fresh description line by line. Parsed lines are kept in order, unknown ones verbatim; what may be
//! copied from one party's SDP into another's is pn-b2bua's decision (its SDP whitelist).
//! (rsipstack bundles no SDP parser; `sdp-rs` is only its dev-dependency.)

use std::fmt;

use crate::error::{Result, SipError};

/// One `x=value` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdpLine {
    /// The type letter (`v`, `o`, `c`, `a`, …).
    pub kind: char,
    /// Everything after `=`.
    pub value: String,
}

/// `o=` (RFC 8866 §5.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// Username (`-` when none).
    pub username: String,
    /// Session id (numeric string).
    pub session_id: String,
    /// Session version (numeric string).
    pub session_version: String,
    /// Network type (`IN`).
    pub net_type: String,
    /// Address type (`IP4`/`IP6`).
    pub addr_type: String,
    /// Unicast address of the originator.
    pub address: String,
}

impl Origin {
    /// An origin that names nobody: username `-`, the given session id and version, `IN IP4|IP6 address`.
    pub fn anonymous(address: &str, session_id: u64, session_version: u64) -> Self {
        Self {
            username: "-".into(),
            session_id: session_id.to_string(),
            session_version: session_version.to_string(),
            net_type: "IN".into(),
            addr_type: addr_type(address).into(),
            address: address.into(),
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            username,
            session_id,
            session_version,
            net_type,
            addr_type,
            address,
        } = self;
        write!(
            f,
            "{username} {session_id} {session_version} {net_type} {addr_type} {address}"
        )
    }
}

/// `c=` (RFC 8866 §5.7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// Network type (`IN`).
    pub net_type: String,
    /// Address type (`IP4`/`IP6`).
    pub addr_type: String,
    /// Connection address (may carry `/ttl`).
    pub address: String,
}

impl Connection {
    /// An `IN IP4`/`IN IP6` connection for `address` (type chosen by the presence of `:`).
    pub fn new(address: &str) -> Self {
        Self {
            net_type: "IN".into(),
            addr_type: addr_type(address).into(),
            address: address.into(),
        }
    }
}

impl fmt::Display for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.net_type, self.addr_type, self.address)
    }
}

fn addr_type(address: &str) -> &'static str {
    if address.contains(':') { "IP6" } else { "IP4" }
}

/// `m=` (RFC 8866 §5.14).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaLine {
    /// `audio`, `video`, …
    pub media: String,
    /// Transport port (0 = rejected stream).
    pub port: u16,
    /// Number of ports after `/`, if given.
    pub port_count: Option<u16>,
    /// `RTP/AVP`, …
    pub proto: String,
    /// Formats (payload types for RTP).
    pub formats: Vec<String>,
}

impl fmt::Display for MediaLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.media, self.port)?;
        if let Some(n) = self.port_count {
            write!(f, "/{n}")?;
        }
        write!(f, " {}", self.proto)?;
        for fmt_ in &self.formats {
            write!(f, " {fmt_}")?;
        }
        Ok(())
    }
}

/// One media section: its `m=` line and the lines after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDescription {
    lines: Vec<SdpLine>,
}

/// A session description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    session: Vec<SdpLine>,
    media: Vec<MediaDescription>,
}

fn sdp_err(msg: impl Into<String>) -> SipError {
    SipError::Sdp(msg.into())
}

fn fields<const N: usize>(value: &str, what: &str) -> Result<[String; N]> {
    let parts: Vec<&str> = value.split_ascii_whitespace().collect();
    let parts: [&str; N] = parts
        .try_into()
        .map_err(|_| sdp_err(format!("{what}: expected {N} fields")))?;
    Ok(parts.map(str::to_owned))
}

fn connection_of(lines: &[SdpLine]) -> Option<Result<Connection>> {
    let c = lines.iter().find(|l| l.kind == 'c')?;
    Some(
        fields::<3>(&c.value, "c=").map(|[net_type, addr_type, address]| Connection {
            net_type,
            addr_type,
            address,
        }),
    )
}

fn attributes_of(lines: &[SdpLine]) -> impl Iterator<Item = (&str, Option<&str>)> {
    lines
        .iter()
        .filter(|l| l.kind == 'a')
        .map(|l| match l.value.split_once(':') {
            Some((n, v)) => (n, Some(v)),
            None => (l.value.as_str(), None),
        })
}

/// Inserts or replaces the line of `kind`, placing a new one before the first line of `before`.
fn upsert(lines: &mut Vec<SdpLine>, kind: char, value: String, before: &str) {
    if let Some(l) = lines.iter_mut().find(|l| l.kind == kind) {
        l.value = value;
        return;
    }
    let at = lines
        .iter()
        .position(|l| before.contains(l.kind))
        .unwrap_or(lines.len());
    lines.insert(at, SdpLine { kind, value });
}

impl SessionDescription {
    /// A fresh description with no media: `v=0`, `o=origin`, `s=-`, the session-level `c=` if given,
    /// `t=0 0` (RFC 8866 §5: the order of the session-level lines).
    pub fn new(origin: &Origin, connection: Option<&Connection>) -> Self {
        let line = |kind, value: String| SdpLine { kind, value };
        let mut session = vec![
            line('v', "0".into()),
            line('o', origin.to_string()),
            line('s', "-".into()),
        ];
        if let Some(c) = connection {
            session.push(line('c', c.to_string()));
        }
        session.push(line('t', "0 0".into()));
        Self {
            session,
            media: Vec::new(),
        }
    }

    /// Parses an SDP body (CRLF or LF line ends; must start with `v=0`).
    pub fn parse(body: &[u8]) -> Result<Self> {
        let text = std::str::from_utf8(body).map_err(|_| sdp_err("not UTF-8"))?;
        let mut session = Vec::new();
        let mut media: Vec<MediaDescription> = Vec::new();
        for raw in text.split('\n') {
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            if line.is_empty() {
                continue;
            }
            let mut chars = line.chars();
            let (Some(kind), Some('=')) = (chars.next(), chars.next()) else {
                return Err(sdp_err(format!("bad line {line:?}")));
            };
            if !kind.is_ascii_lowercase() {
                return Err(sdp_err(format!("bad line type {kind:?}")));
            }
            let line = SdpLine {
                kind,
                value: line[2..].to_owned(),
            };
            if kind == 'm' {
                media.push(MediaDescription { lines: vec![line] });
            } else if let Some(m) = media.last_mut() {
                m.lines.push(line);
            } else {
                session.push(line);
            }
        }
        if session.first().is_none_or(|l| l.kind != 'v' || l.value != "0") {
            return Err(sdp_err("does not start with v=0"));
        }
        let sdp = Self { session, media };
        sdp.origin()?;
        for m in &sdp.media {
            m.media_line()?;
        }
        Ok(sdp)
    }

    /// Prints with CRLF line ends.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_string().into_bytes()
    }

    /// The session-level lines in order.
    pub fn session_lines(&self) -> &[SdpLine] {
        &self.session
    }

    /// The `o=` line.
    pub fn origin(&self) -> Result<Origin> {
        let o = self
            .session
            .iter()
            .find(|l| l.kind == 'o')
            .ok_or_else(|| sdp_err("no o= line"))?;
        let [
            username,
            session_id,
            session_version,
            net_type,
            addr_type,
            address,
        ] = fields::<6>(&o.value, "o=")?;
        Ok(Origin {
            username,
            session_id,
            session_version,
            net_type,
            addr_type,
            address,
        })
    }

    /// Replaces the `o=` line.
    pub fn set_origin(&mut self, origin: &Origin) {
        upsert(&mut self.session, 'o', origin.to_string(), "siuepcbtrzka");
    }

    /// The `s=` text.
    pub fn session_name(&self) -> Option<&str> {
        self.session
            .iter()
            .find(|l| l.kind == 's')
            .map(|l| l.value.as_str())
    }

    /// The session-level `c=`.
    pub fn connection(&self) -> Option<Result<Connection>> {
        connection_of(&self.session)
    }

    /// Sets the session-level `c=`.
    pub fn set_connection(&mut self, c: &Connection) {
        upsert(&mut self.session, 'c', c.to_string(), "btrzka");
    }

    /// Session-level attributes as `(name, value)`.
    pub fn attributes(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        attributes_of(&self.session)
    }

    /// The value of a session-level attribute (`None` when absent or a flag).
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes().find(|(n, _)| *n == name).and_then(|(_, v)| v)
    }

    /// Whether a session-level attribute is present.
    pub fn has_attribute(&self, name: &str) -> bool {
        self.attributes().any(|(n, _)| n == name)
    }

    /// The media sections.
    pub fn media(&self) -> &[MediaDescription] {
        &self.media
    }

    /// The media sections, mutably.
    pub fn media_mut(&mut self) -> &mut [MediaDescription] {
        &mut self.media
    }

    /// Appends a media section.
    pub fn push_media(&mut self, media: MediaDescription) {
        self.media.push(media);
    }
}

impl fmt::Display for SessionDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for l in self
            .session
            .iter()
            .chain(self.media.iter().flat_map(|m| &m.lines))
        {
            write!(f, "{}={}\r\n", l.kind, l.value)?;
        }
        Ok(())
    }
}

impl MediaDescription {
    /// A section holding only its `m=` line.
    pub fn new(m: &MediaLine) -> Self {
        Self {
            lines: vec![SdpLine {
                kind: 'm',
                value: m.to_string(),
            }],
        }
    }

    /// The lines of this section, `m=` first.
    pub fn lines(&self) -> &[SdpLine] {
        &self.lines
    }

    /// The parsed `m=` line.
    pub fn media_line(&self) -> Result<MediaLine> {
        let value = self.lines.first().map(|l| l.value.as_str()).unwrap_or_default();
        let mut it = value.split_ascii_whitespace();
        let (Some(media), Some(port), Some(proto)) = (it.next(), it.next(), it.next()) else {
            return Err(sdp_err(format!("bad m= line {value:?}")));
        };
        let (port, port_count) = match port.split_once('/') {
            Some((p, n)) => (p, Some(n.parse().map_err(|_| sdp_err("bad m= port count"))?)),
            None => (port, None),
        };
        let port = port
            .parse()
            .map_err(|_| sdp_err(format!("bad m= port {port:?}")))?;
        Ok(MediaLine {
            media: media.into(),
            port,
            port_count,
            proto: proto.into(),
            formats: it.map(str::to_owned).collect(),
        })
    }

    /// Replaces the `m=` line.
    pub fn set_media_line(&mut self, m: &MediaLine) {
        if let Some(first) = self.lines.first_mut() {
            first.value = m.to_string();
        }
    }

    /// Changes only the port of the `m=` line.
    pub fn set_port(&mut self, port: u16) -> Result<()> {
        let mut m = self.media_line()?;
        m.port = port;
        self.set_media_line(&m);
        Ok(())
    }

    /// The media-level `c=`.
    pub fn connection(&self) -> Option<Result<Connection>> {
        connection_of(&self.lines)
    }

    /// Sets the media-level `c=`.
    pub fn set_connection(&mut self, c: &Connection) {
        upsert(&mut self.lines, 'c', c.to_string(), "bka");
    }

    /// Attributes as `(name, value)`.
    pub fn attributes(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        attributes_of(&self.lines)
    }

    /// The value of the first attribute called `name` (`rtpmap` → `Some("0 PCMU/8000")`);
    /// `None` when absent or a flag such as `sendrecv` (see [`Self::has_attribute`]).
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes().find(|(n, _)| *n == name).and_then(|(_, v)| v)
    }

    /// Whether an attribute is present.
    pub fn has_attribute(&self, name: &str) -> bool {
        self.attributes().any(|(n, _)| n == name)
    }

    /// The direction attribute (`sendrecv`, `sendonly`, `recvonly`, `inactive`), if any.
    pub fn direction(&self) -> Option<&str> {
        self.attributes()
            .map(|(n, _)| n)
            .find(|n| matches!(*n, "sendrecv" | "sendonly" | "recvonly" | "inactive"))
    }

    /// Appends an attribute line.
    pub fn push_attribute(&mut self, name: &str, value: Option<&str>) {
        let value = value.map_or_else(|| name.to_owned(), |v| format!("{name}:{v}"));
        self.lines.push(SdpLine { kind: 'a', value });
    }

    /// Removes every attribute called `name`.
    pub fn remove_attribute(&mut self, name: &str) {
        self.lines
            .retain(|l| l.kind != 'a' || l.value.split(':').next() != Some(name));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFER: &str = "v=0\r\no=alice 2890844526 2890844526 IN IP4 198.51.100.7\r\ns=Alice's call\r\n\
i=personal\r\nu=http://alice.example/\r\ne=alice@example.com\r\np=+1 555 0100\r\nc=IN IP4 198.51.100.7\r\n\
t=0 0\r\na=group:BUNDLE a\r\nm=audio 49170 RTP/AVP 0 8 101\r\ni=mic\r\na=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\nm=video 0 RTP/AVP 31\r\n";

    #[test]
    fn parse_access_print() {
        let sdp = SessionDescription::parse(OFFER.as_bytes()).unwrap();
        assert_eq!(sdp.to_bytes(), OFFER.as_bytes());
        assert_eq!(sdp.origin().unwrap().address, "198.51.100.7");
        assert_eq!(sdp.session_name(), Some("Alice's call"));
        assert_eq!(
            sdp.connection().unwrap().unwrap(),
            Connection::new("198.51.100.7")
        );
        assert_eq!(sdp.attribute("group"), Some("BUNDLE a"));
        let audio = &sdp.media()[0];
        let m = audio.media_line().unwrap();
        assert_eq!((m.media.as_str(), m.port, m.formats.len()), ("audio", 49170, 3));
        assert_eq!(audio.attribute("rtpmap"), Some("0 PCMU/8000"));
        assert_eq!(audio.direction(), Some("sendrecv"));
        assert_eq!(sdp.media()[1].media_line().unwrap().port, 0);
    }

    #[test]
    fn build_and_edit() {
        let mut sdp = SessionDescription::new(
            &Origin::anonymous("2001:db8::5", 42, 7),
            Some(&Connection::new("2001:db8::5")),
        );
        let mut audio = MediaDescription::new(&MediaLine {
            media: "audio".into(),
            port: 30000,
            port_count: None,
            proto: "RTP/AVP".into(),
            formats: vec!["0".into(), "8".into()],
        });
        audio.push_attribute("rtpmap", Some("0 PCMU/8000"));
        audio.push_attribute("sendrecv", None);
        audio.set_connection(&Connection::new("192.0.2.1"));
        sdp.push_media(audio);
        sdp.media_mut()[0].remove_attribute("sendrecv");
        sdp.media_mut()[0].push_attribute("sendonly", None);
        let text = sdp.to_string();
        assert_eq!(
            text,
            "v=0\r\no=- 42 7 IN IP6 2001:db8::5\r\ns=-\r\nc=IN IP6 2001:db8::5\r\nt=0 0\r\n\
             m=audio 30000 RTP/AVP 0 8\r\nc=IN IP4 192.0.2.1\r\na=rtpmap:0 PCMU/8000\r\na=sendonly\r\n"
        );
        assert_eq!(SessionDescription::parse(text.as_bytes()).unwrap(), sdp);
        assert_eq!(sdp.media()[0].direction(), Some("sendonly"));
    }

    #[test]
    fn malformed() {
        for bad in [
            "",
            "o=x\r\n",
            "v=0\r\no=a b c\r\n",
            "v=0\r\nvalue\r\n",
            "v=0\r\no=- 1 1 IN IP4 a\r\nm=audio x RTP/AVP 0\r\n",
        ] {
            assert!(SessionDescription::parse(bad.as_bytes()).is_err(), "{bad:?}");
        }
    }
}
