//! The SDP whitelist: the SDP a leg receives is built fresh, line by line, and takes from the other
//! party's SDP only what the call needs, each value re-validated. Everything else (b=, t= values, r=, z=,
//! k=, i=, u=, e=, p=, and every attribute not listed below: tool, group, label, ssrc/cname, mid, msid,
//! ice-*, candidate, fingerprint, setup, crypto, content, confid, userid, rtcp, unknown `X-` ones…) is
//! dropped, because any of them may carry a party's number.
//!
//! What the built SDP holds (docs/sip.md has the same list):
//!
//! - `v=0`, `o=- <leg's session id> <leg's version> IN IP4|IP6 <switch host>`, `s=-`, `t=0 0`;
//! - `c=`: relay mode, the switch's media address (session level only); bypass mode, the party's own
//!   session- and media-level connection addresses when they are IP literals (host names are dropped);
//! - per media section, in the party's order: `m=<media> <port> <proto> <formats>`. A section is *usable*
//!   when its port is not 0, its transport is `RTP/AVP` or `RTP/AVPF` and at least one payload type survives.
//!   Relay mode gives the first usable section the leg's relay port and declines the others (port 0); bypass
//!   keeps the party's ports. A declined section keeps only its `m=` line;
//! - in a usable section: `a=rtpmap` and `a=fmtp` of the payload types on its `m=` line, `a=ptime`,
//!   `a=maxptime`, `a=rtcp-mux`, and the direction (`sendrecv`/`sendonly`/`recvonly`/`inactive`, the
//!   section's own or the session's).
//!
//! Values are checked against their grammar and against one more rule: no value copied holds more than
//! [`MAX_DIGIT_RUN`] consecutive digits, so no phone number fits in one. A payload type whose `a=rtpmap` is
//! not valid is removed from the `m=` line (a dynamic one, 96–127, needs its rtpmap).

use std::net::{IpAddr, SocketAddr};

use pn_media::{MediaDirection, RemoteMedia};

use pn_sip::sdp::{Connection, MediaDescription, MediaLine, Origin, SessionDescription};

use super::SdpOrigin;

/// The longest run of consecutive digits a copied value may hold (`maxaveragebitrate=510000`).
pub const MAX_DIGIT_RUN: usize = 6;

/// Transports of a usable media section (no key exchange crosses the switch, so no SRTP).
const USABLE_PROTOS: [&str; 2] = ["RTP/AVP", "RTP/AVPF"];

/// Transports echoed on a declined section's `m=` line; any other becomes `RTP/AVP`.
const KNOWN_PROTOS: [&str; 9] = [
    "RTP/AVP",
    "RTP/AVPF",
    "RTP/SAVP",
    "RTP/SAVPF",
    "UDP/TLS/RTP/SAVP",
    "UDP/TLS/RTP/SAVPF",
    "TCP/RTP/AVP",
    "udptl",
    "UDP",
];

/// Media types echoed on `m=` lines (RFC 8866 §5.14 and its registry); any other becomes `application`.
const MEDIA_TYPES: [&str; 6] = ["audio", "video", "text", "application", "image", "message"];

/// Media types of a usable section.
const USABLE_MEDIA: [&str; 2] = ["audio", "video"];

/// Direction attributes.
const DIRECTIONS: [&str; 4] = ["sendrecv", "sendonly", "recvonly", "inactive"];

/// Whether `s` has no run of more than [`MAX_DIGIT_RUN`] digits.
fn short_digit_runs(s: &str) -> bool {
    let mut run = 0;
    for b in s.bytes() {
        run = if b.is_ascii_digit() { run + 1 } else { 0 };
        if run > MAX_DIGIT_RUN {
            return false;
        }
    }
    true
}

/// `s` is 1..=`max` bytes of `allowed` characters with short digit runs.
fn harmless(s: &str, max: usize, allowed: impl Fn(u8) -> bool) -> bool {
    !s.is_empty() && s.len() <= max && s.bytes().all(allowed) && short_digit_runs(s)
}

/// An RTP payload type (0–127) as written on an `m=` line.
fn payload_type(s: &str) -> Option<u8> {
    if s.is_empty() || s.len() > 3 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok().filter(|pt| *pt <= 127)
}

/// An IP literal (`c=` address, `/ttl` and brackets ignored), printed canonically.
fn ip_literal(address: &str) -> Option<IpAddr> {
    let address = address.split('/').next()?.trim();
    address.trim_matches(['[', ']']).parse().ok()
}

/// A connection line naming `address` when it is an IP literal.
fn connection_of(c: Option<Result<Connection, pn_sip::SipError>>) -> Option<Connection> {
    let c = c?.ok()?;
    ip_literal(&c.address).map(|ip| Connection::new(&ip.to_string()))
}

/// `a=rtpmap:<pt> <encoding>/<clock rate>[/<channels>]` for `pt`, re-printed.
fn rtpmap(value: &str, pt: u8) -> Option<String> {
    let (p, rest) = value.split_once(' ')?;
    if payload_type(p)? != pt {
        return None;
    }
    let mut parts = rest.trim().split('/');
    let encoding = parts.next()?;
    let rate = parts.next()?;
    let channels = parts.next();
    if parts.next().is_some()
        || !harmless(encoding, 32, |b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        || !harmless(rate, 6, |b| b.is_ascii_digit())
        || channels.is_some_and(|c| !harmless(c, 2, |b| b.is_ascii_digit()))
    {
        return None;
    }
    Some(match channels {
        Some(ch) => format!("{pt} {encoding}/{rate}/{ch}"),
        None => format!("{pt} {encoding}/{rate}"),
    })
}

/// `a=fmtp:<pt> <parameters>` for `pt`: `name=value` pairs separated by `;` (or a bare value such as
/// telephone-event's `0-15`), each of a small alphabet, re-printed without spaces.
fn fmtp(value: &str, pt: u8) -> Option<String> {
    let (p, rest) = value.split_once(' ')?;
    if payload_type(p)? != pt {
        return None;
    }
    let value_chars = |b: u8| b.is_ascii_alphanumeric() || b"-_.,:/+=".contains(&b);
    let params: Option<Vec<String>> = rest
        .split(';')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|param| match param.split_once('=') {
            Some((name, v)) => {
                let (name, v) = (name.trim(), v.trim());
                (harmless(name, 32, |b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
                    && harmless(v, 64, value_chars))
                .then(|| format!("{name}={v}"))
            }
            None => harmless(param, 64, value_chars).then(|| param.to_owned()),
        })
        .collect();
    let params = params?;
    if params.is_empty() || params.len() > 16 {
        return None;
    }
    Some(format!("{pt} {}", params.join(";")))
}

/// `a=ptime` / `a=maxptime`: milliseconds, 1 to 1000 (a decimal fraction allowed).
fn packet_time(value: &str) -> Option<String> {
    let v = value.trim();
    if !harmless(v, 6, |b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    let ms: f64 = v.parse().ok()?;
    (ms > 0.0 && ms <= 1000.0).then(|| v.to_owned())
}

/// Whether a media line can carry the call's media through the switch.
fn usable(line: &MediaLine) -> bool {
    line.port != 0
        && USABLE_MEDIA.contains(&line.media.as_str())
        && USABLE_PROTOS.contains(&line.proto.as_str())
}

/// The media type to print for `line`: one of [`MEDIA_TYPES`], else `application`.
fn media_type(line: &MediaLine) -> &'static str {
    MEDIA_TYPES
        .iter()
        .find(|m| **m == line.media)
        .map_or("application", |m| *m)
}

/// The index of the first section the rebuilt SDP keeps active (the one a relay anchors), if any.
pub fn first_usable(party: &SessionDescription) -> Option<usize> {
    party.media().iter().position(|m| {
        m.media_line()
            .is_ok_and(|l| usable(&l) && !kept_formats(m, &l).is_empty())
    })
}

/// The payload types of a section that survive: valid numbers, and for dynamic ones a valid rtpmap.
fn kept_formats(m: &MediaDescription, line: &MediaLine) -> Vec<u8> {
    let mut kept: Vec<u8> = Vec::new();
    for pt in line.formats.iter().filter_map(|f| payload_type(f)) {
        if kept.contains(&pt) {
            continue;
        }
        if pt >= 96 && rtpmap_of(m, pt).is_none() {
            continue;
        }
        kept.push(pt);
    }
    kept
}

/// The first valid rtpmap of `pt` in section `m`.
fn rtpmap_of(m: &MediaDescription, pt: u8) -> Option<String> {
    m.attributes()
        .filter(|(n, _)| *n == "rtpmap")
        .find_map(|(_, v)| rtpmap(v?, pt))
}

/// A declined section: `m=<media> 0 <proto> <formats>` and nothing else.
fn declined(line: &MediaLine) -> MediaDescription {
    let proto = KNOWN_PROTOS
        .iter()
        .find(|p| **p == line.proto)
        .map_or("RTP/AVP", |p| *p);
    let mut formats: Vec<String> = if proto == "udptl" {
        line.formats.iter().filter(|f| *f == "t38").cloned().collect()
    } else {
        line.formats
            .iter()
            .filter_map(|f| payload_type(f))
            .map(|pt| pt.to_string())
            .collect()
    };
    if formats.is_empty() {
        formats.push(if proto == "udptl" { "t38" } else { "0" }.to_owned());
    }
    MediaDescription::new(&MediaLine {
        media: media_type(line).to_owned(),
        port: 0,
        port_count: None,
        proto: proto.to_owned(),
        formats,
    })
}

/// The usable section `m` (its `line`) rebuilt from the whitelist, on `port`.
fn usable_section(
    m: &MediaDescription,
    line: &MediaLine,
    port: u16,
    connection: Option<&Connection>,
    session_direction: Option<&str>,
) -> MediaDescription {
    let formats = kept_formats(m, line);
    let mut out = MediaDescription::new(&MediaLine {
        media: media_type(line).to_owned(),
        port,
        port_count: None,
        proto: line.proto.clone(),
        formats: formats.iter().map(u8::to_string).collect(),
    });
    if let Some(c) = connection {
        out.set_connection(c);
    }
    for &pt in &formats {
        if let Some(map) = rtpmap_of(m, pt) {
            out.push_attribute("rtpmap", Some(&map));
        }
    }
    for &pt in &formats {
        let param = m
            .attributes()
            .filter(|(n, _)| *n == "fmtp")
            .find_map(|(_, v)| fmtp(v?, pt));
        if let Some(param) = param {
            out.push_attribute("fmtp", Some(&param));
        }
    }
    for name in ["ptime", "maxptime"] {
        if let Some(v) = m.attribute(name).and_then(packet_time) {
            out.push_attribute(name, Some(&v));
        }
    }
    if m.has_attribute("rtcp-mux") {
        out.push_attribute("rtcp-mux", None);
    }
    if let Some(direction) = m.direction().or(session_direction) {
        out.push_attribute(direction, None);
    }
    out
}

/// The SDP `origin`'s leg receives for the party's `party` SDP (see the module docs). `origin.version`
/// is the version to print (the caller increments it for every SDP sent on the leg).
pub fn rebuild(party: &SessionDescription, origin: &SdpOrigin) -> SessionDescription {
    let relay = origin.anchor.as_ref();
    let session_connection = match relay {
        Some(anchor) => Some(Connection::new(&anchor.address)),
        None => connection_of(party.connection()),
    };
    let mut sdp = SessionDescription::new(
        &Origin::anonymous(&origin.address, origin.session_id, origin.version),
        session_connection.as_ref(),
    );
    let session_direction = party
        .attributes()
        .map(|(n, _)| n)
        .find(|n| DIRECTIONS.contains(n));
    let anchored = first_usable(party);
    for (i, m) in party.media().iter().enumerate() {
        let Ok(line) = m.media_line() else {
            continue; // parsing the SDP checked every m= line
        };
        let keep = match relay {
            Some(anchor) => (anchored == Some(i)).then_some((anchor.ports.rtp, None)),
            None => (usable(&line) && !kept_formats(m, &line).is_empty())
                .then(|| (line.port, connection_of(m.connection()))),
        };
        sdp.push_media(match keep {
            Some((port, connection)) => {
                usable_section(m, &line, port, connection.as_ref(), session_direction)
            }
            None => declined(&line),
        });
    }
    sdp
}

/// What a party declared in its SDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SdpMedia {
    pub remote: Option<RemoteMedia>,
    pub direction: MediaDirection,
    /// The first G.711 payload type (0 or 8) of the active audio stream.
    pub codec: Option<u8>,
}

fn parse_ip(address: &str) -> Option<IpAddr> {
    let address = address.split('/').next()?.trim();
    address.trim_matches(['[', ']']).parse().ok()
}

/// The media address, direction and G.711 codec the party declared in its first usable media section
/// (the one the relay anchors: [`first_usable`]).
pub(crate) fn declared_media(sdp: &SessionDescription) -> SdpMedia {
    let inactive = SdpMedia {
        remote: None,
        direction: MediaDirection::Inactive,
        codec: None,
    };
    let Some(m) = first_usable(sdp).and_then(|i| sdp.media().get(i)) else {
        return inactive;
    };
    let Ok(line) = m.media_line() else {
        return inactive;
    };
    let session_ip = sdp
        .connection()
        .and_then(Result::ok)
        .and_then(|c| parse_ip(&c.address));
    let session_dir = sdp
        .attributes()
        .find_map(|(n, _)| MediaDirection::from_sdp_attribute(n));
    let ip = m
        .connection()
        .and_then(Result::ok)
        .and_then(|c| parse_ip(&c.address))
        .or(session_ip);
    let mut direction = m
        .direction()
        .and_then(MediaDirection::from_sdp_attribute)
        .or(session_dir)
        .unwrap_or_default();
    let remote = match ip {
        Some(ip) if !ip.is_unspecified() => {
            let rtp = SocketAddr::new(ip, line.port);
            Some(if m.has_attribute("rtcp-mux") {
                RemoteMedia::muxed(rtp)
            } else {
                let mut r = RemoteMedia::from_sdp(rtp);
                if let Some(port) = m
                    .attribute("rtcp")
                    .and_then(|v| v.split_ascii_whitespace().next())
                    .and_then(|p| p.parse::<u16>().ok())
                {
                    r.rtcp.set_port(port);
                }
                r
            })
        }
        _ => {
            direction = MediaDirection::Inactive;
            None
        }
    };
    let codec = line.formats.iter().find_map(|f| match f.as_str() {
        "0" => Some(0),
        "8" => Some(8),
        _ => None,
    });
    SdpMedia {
        remote,
        direction,
        codec,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::{MediaAnchor, PortPair};

    /// Every RFC 4566 line type and a crowd of attributes, each holding the digits `13800138000`.
    const PARTY: &str = "v=0\r\no=13800138000 1 1 IN IP4 198.51.100.7\r\ns=13800138000\r\n\
i=13800138000\r\nu=http://13800138000.example/\r\ne=13800138000@example.com\r\np=+86 13800138000\r\n\
c=IN IP4 198.51.100.7\r\nb=AS:13800138000\r\nt=13800138000 0\r\nr=13800138000 1 0\r\n\
z=13800138000 -1h\r\nk=clear:13800138000\r\na=tool:13800138000\r\na=group:BUNDLE 13800138000\r\n\
a=sendonly\r\na=X-caller:+8613800138000\r\n\
m=audio 49170 RTP/AVP 0 8 101 96 13800138000\r\ni=13800138000\r\nc=IN IP4 198.51.100.8\r\n\
b=TIAS:13800138000\r\nk=base64:13800138000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=rtpmap:96 X13800138000/8000\r\n\
a=fmtp:8 x=13800138000\r\na=ptime:20\r\na=maxptime:13800138000\r\na=rtcp:13800 IN IP4 198.51.100.8\r\n\
a=rtcp-mux\r\na=label:13800138000\r\na=ssrc:1 cname:13800138000\r\na=mid:13800138000\r\n\
a=msid:13800138000 a\r\na=ice-ufrag:13800138000\r\na=ice-pwd:13800138000\r\n\
a=candidate:1 1 UDP 1 198.51.100.8 13800 typ host\r\na=fingerprint:sha-256 13800138000\r\n\
a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:13800138000\r\na=content:13800138000\r\n\
a=confid:13800138000\r\na=userid:13800138000\r\na=X-number:13800138000\r\n\
m=video 51372 RTP/SAVP 31\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:13800138000\r\n\
m=audio 0 RTP/AVP 0\r\na=label:13800138000\r\n";

    fn origin(anchor: bool) -> SdpOrigin {
        SdpOrigin {
            address: "203.0.113.1".into(),
            session_id: 42,
            version: 3,
            anchor: anchor.then(|| MediaAnchor {
                address: "203.0.113.9".into(),
                ports: PortPair {
                    rtp: 30000,
                    rtcp: 30001,
                },
            }),
        }
    }

    #[test]
    fn relay_keeps_only_the_whitelist() {
        let party = SessionDescription::parse(PARTY.as_bytes()).unwrap();
        let text = rebuild(&party, &origin(true)).to_string();
        assert_eq!(
            text,
            "v=0\r\no=- 42 3 IN IP4 203.0.113.1\r\ns=-\r\nc=IN IP4 203.0.113.9\r\nt=0 0\r\n\
             m=audio 30000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
             a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\na=rtcp-mux\r\n\
             a=sendonly\r\nm=video 0 RTP/SAVP 31\r\nm=audio 0 RTP/AVP 0\r\n"
        );
        assert!(!text.contains("13800"), "{text}");
        assert_eq!(first_usable(&party), Some(0));
    }

    #[test]
    fn bypass_keeps_the_party_addresses_and_nothing_else() {
        let party = SessionDescription::parse(PARTY.as_bytes()).unwrap();
        let text = rebuild(&party, &origin(false)).to_string();
        assert_eq!(
            text,
            "v=0\r\no=- 42 3 IN IP4 203.0.113.1\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\n\
             m=audio 49170 RTP/AVP 0 8 101\r\nc=IN IP4 198.51.100.8\r\na=rtpmap:0 PCMU/8000\r\n\
             a=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\n\
             a=rtcp-mux\r\na=sendonly\r\nm=video 0 RTP/SAVP 31\r\nm=audio 0 RTP/AVP 0\r\n"
        );
    }

    #[test]
    fn host_names_and_bad_values_are_dropped() {
        let party = "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nc=IN IP4 13800138000.example\r\nt=0 0\r\n\
                     m=audio 4000 RTP/AVP 18 97\r\na=rtpmap:97 AMR/8000/1\r\n\
                     a=fmtp:97 octet-align=1; mode-set=0,2,5,7\r\na=fmtp:18 annexb=no\r\na=ptime:0\r\n\
                     m=image 4002 udptl t38\r\na=T38FaxVersion:13800138000\r\n\
                     m=13800138000audio 4004 RTP/AVP 0\r\n";
        let party = SessionDescription::parse(party.as_bytes()).unwrap();
        let text = rebuild(&party, &origin(false)).to_string();
        assert_eq!(
            text,
            "v=0\r\no=- 42 3 IN IP4 203.0.113.1\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 18 97\r\n\
             a=rtpmap:97 AMR/8000/1\r\na=fmtp:18 annexb=no\r\na=fmtp:97 octet-align=1;mode-set=0,2,5,7\r\n\
             m=image 0 udptl t38\r\nm=application 0 RTP/AVP 0\r\n"
        );
    }

    #[test]
    fn relay_anchors_the_first_usable_section() {
        let party = "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\n\
                     m=audio 4000 RTP/SAVP 0\r\nm=audio 4002 RTP/AVP 96\r\nm=audio 4004 RTP/AVP 8\r\n\
                     m=audio 4006 RTP/AVP 0\r\n";
        let party = SessionDescription::parse(party.as_bytes()).unwrap();
        assert_eq!(first_usable(&party), Some(2), "96 has no rtpmap");
        let text = rebuild(&party, &origin(true)).to_string();
        assert!(
            text.ends_with(
                "m=audio 0 RTP/SAVP 0\r\nm=audio 0 RTP/AVP 96\r\nm=audio 30000 RTP/AVP 8\r\nm=audio 0 RTP/AVP 0\r\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn value_checks() {
        assert_eq!(rtpmap("0 PCMU/8000", 0).as_deref(), Some("0 PCMU/8000"));
        assert_eq!(
            rtpmap("111 opus/48000/2", 111).as_deref(),
            Some("111 opus/48000/2")
        );
        assert_eq!(rtpmap("0 PCMU/8000", 8), None);
        assert_eq!(rtpmap("0 PCMU/8000/1/x", 0), None);
        assert_eq!(rtpmap("0 PC MU/8000", 0), None);
        assert_eq!(fmtp("101 0-16", 101).as_deref(), Some("101 0-16"));
        assert_eq!(fmtp("101 0-15,13800138000", 101), None);
        assert_eq!(
            fmtp("111 maxaveragebitrate=510000", 111).as_deref(),
            Some("111 maxaveragebitrate=510000")
        );
        assert_eq!(fmtp("111 a=b c", 111), None);
        assert_eq!(packet_time("20").as_deref(), Some("20"));
        assert_eq!(packet_time("2.5").as_deref(), Some("2.5"));
        assert_eq!(packet_time("1001"), None);
        assert!(short_digit_runs("a123456b123456") && !short_digit_runs("1234567"));
    }
}
