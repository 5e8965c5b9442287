//! Privacy rewriting: what of one leg's message may appear in the other leg's message.
//!
//! Every message is built from scratch from the target leg's dialog state; the only things taken
//! from the other leg are:
//!
//! - the headers of [`WHITELIST`], each *re-validated* (a value that is not what the header's
//!   grammar allows, e.g. a Session-Expires of `13800138000`, is dropped);
//! - the session description (an `application/sdp` body, or the SDP part of a `multipart/mixed` one):
//!   a fresh SDP is built from the whitelist of [`sdp`] and sent as `application/sdp`; the other parts of
//!   a multipart body (a SIP-I trunk's ISUP IAM, which carries the calling number) are never relayed;
//! - the digit and duration of an INFO's DTMF body, written into a fresh body;
//!   any other body is dropped;
//! - the status code (never the reason phrase: responses carry the standard phrase).
//!
//! Never copied: P-Asserted-Identity, P-Preferred-Identity, Remote-Party-ID, Diversion,
//! History-Info, Privacy, Referred-By, Contact, Call-ID, Via, Record-Route, Route, User-Agent,
//! Server, Subject, Organization, Call-Info, Warning, Reason, unknown (X-) headers — everything not
//! in [`WHITELIST`].

mod body;
pub mod sdp;

use pn_media::PortPair;
use pn_sip::Headers;

pub(crate) use body::{party_sdp, rewrite_body_media, rewrite_sdp};

/// The headers copied across legs (after validation of their values).
pub const WHITELIST: [&str; 7] = [
    "Allow",
    "Supported",
    "Require",
    "Accept",
    "Session-Expires",
    "Min-SE",
    "Content-Disposition",
];

/// Methods an `Allow` may list across legs.
const METHODS: [&str; 10] = [
    "INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "UPDATE", "INFO", "PRACK", "MESSAGE", "NOTIFY",
];

/// Option tags pnswitch relays end-to-end (RFC 4028 session timers). `100rel` is not copied but
/// handled per leg (see the `prack` module): a `Require: 100rel` is accepted, and each leg's
/// `Supported`/`Require: 100rel` is written fresh.
pub const OPTION_TAGS: [&str; 1] = ["timer"];

/// Option tags a request's `Require` may name without a 420.
pub const ACCEPTED_REQUIRE: [&str; 2] = ["timer", "100rel"];

/// Body types pnswitch takes in INVITE, ACK, PRACK and UPDATE (others get 415): the session description,
/// alone or as a part of a `multipart/mixed` body (SIP-I). Also what it advertises in `Accept`.
pub const ACCEPTED_BODIES: [&str; 2] = [pn_sip::body::APPLICATION_SDP, pn_sip::body::MULTIPART_MIXED];

/// What an `Accept` relayed across legs may list: the session bodies and INFO's DTMF bodies.
const ACCEPT: [&str; 4] = [
    "application/sdp",
    "application/dtmf-relay",
    "application/dtmf",
    "multipart/mixed",
];

/// Appends the whitelisted headers of `from` to `to`, values re-validated.
pub fn copy_whitelisted(from: &Headers, to: &mut Headers) {
    for name in WHITELIST {
        if let Some(value) = sanitised(from, name) {
            to.push(name, value);
        }
    }
}

/// The validated value of one whitelisted header, or `None`.
fn sanitised(from: &Headers, name: &str) -> Option<String> {
    let items: Vec<&str> = from.get_list(name).filter(|v| !v.is_empty()).collect();
    if items.is_empty() {
        return None;
    }
    let join = |v: Vec<&str>| (!v.is_empty()).then(|| v.join(", "));
    match name {
        "Allow" => join(items.into_iter().filter(|m| METHODS.contains(m)).collect()),
        "Supported" | "Require" => join(
            items
                .into_iter()
                .filter(|t| OPTION_TAGS.iter().any(|k| k.eq_ignore_ascii_case(t)))
                .collect(),
        ),
        "Accept" => join(
            items
                .into_iter()
                .filter(|t| ACCEPT.iter().any(|a| a.eq_ignore_ascii_case(t.trim())))
                .collect(),
        ),
        "Session-Expires" => session_expires(items.first()?),
        "Min-SE" => delta_seconds(items.first()?.split(';').next()?).map(|d| d.to_string()),
        "Content-Disposition" => {
            let v = items.first()?.split(';').next()?.trim().to_ascii_lowercase();
            matches!(v.as_str(), "session" | "render" | "early-session").then_some(v)
        }
        _ => None,
    }
}

/// `delta-seconds` between 1 and 86400.
fn delta_seconds(s: &str) -> Option<u32> {
    let s = s.trim();
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok().filter(|d| (1..=86_400).contains(d))
}

/// `Session-Expires: delta[;refresher=uac|uas]`.
fn session_expires(v: &str) -> Option<String> {
    let (delta, refresher) = parse_session_expires(v)?;
    Some(match refresher {
        Some(r) => format!("{delta};refresher={r}"),
        None => delta.to_string(),
    })
}

/// Parses `Session-Expires: delta[;refresher=uac|uas]` (RFC 4028 §4): the interval and the
/// refresher (`"uac"` or `"uas"`; any other value is ignored).
pub(crate) fn parse_session_expires(v: &str) -> Option<(u32, Option<&'static str>)> {
    let mut parts = v.split(';');
    let delta = delta_seconds(parts.next()?)?;
    let refresher = parts.find_map(|p| {
        let (n, v) = p.split_once('=')?;
        (n.trim().eq_ignore_ascii_case("refresher")).then(|| v.trim().to_ascii_lowercase())
    });
    let refresher = match refresher.as_deref() {
        Some("uac") => Some("uac"),
        Some("uas") => Some("uas"),
        _ => None,
    };
    Some((delta, refresher))
}

/// Session-level identity of the SDP one leg receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdpOrigin {
    /// The o= address (pnswitch's host).
    pub address: String,
    /// The o= session id (stable per leg).
    pub session_id: u64,
    /// The o= version (incremented for every SDP sent on the leg).
    pub version: u64,
    /// Relay mode: the switch's media address for this leg, the only `c=` and the port of the only active
    /// `m=` of every SDP sent on the leg (see [`sdp`] and [`crate::media`]). `None`: bypass, the party's
    /// own addresses and ports are kept.
    pub anchor: Option<MediaAnchor>,
}

/// The switch's media address on one leg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaAnchor {
    /// The `c=` address (the public IP).
    pub address: String,
    /// The local ports.
    pub ports: PortPair,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_revalidated() {
        let mut h = Headers::new();
        h.push("Allow", "INVITE, ACK, X13800138000, BYE");
        h.push("Supported", "timer, 100rel, x13800138000");
        h.push("Session-Expires", "13800138000;refresher=uac");
        h.push("Min-SE", "90");
        h.push("Accept", "application/sdp, text/13800138000");
        h.push("P-Asserted-Identity", "<sip:+8613800138000@a>");
        h.push("Content-Disposition", "session;handling=required");
        let mut out = Headers::new();
        copy_whitelisted(&h, &mut out);
        let printed: Vec<String> = out
            .iter()
            .map(|h| format!("{}: {}", h.name(), h.value()))
            .collect();
        assert_eq!(
            printed,
            [
                "Allow: INVITE, ACK, BYE",
                "Supported: timer",
                "Accept: application/sdp",
                "Min-SE: 90",
                "Content-Disposition: session"
            ]
        );
        assert_eq!(
            session_expires("1800 ; refresher = UAS"),
            Some("1800;refresher=uas".into())
        );
    }
}
