//! Shards: which [`Shard`] a message belongs to ([`shard_for`]), and the Via branch and Call-ID
//! prefixes that embed the shard index.

use pn_sip::SipMessage;

/// Which shard this core is, of how many.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shard {
    /// This shard's index (0-based).
    pub index: u16,
    /// The number of shards.
    pub count: u16,
}

/// Prefix of Via branches made here: `z9hG4bK` + `-pn<shard>-`.
pub(crate) const BRANCH_PREFIX: &str = "z9hG4bK-pn";
/// Prefix of B-leg Call-IDs made here: `pnb<shard>-`.
pub(crate) const CALL_ID_PREFIX: &str = "pnb";

/// The shard a received message belongs to: responses whose top Via branch was made here and
/// requests whose Call-ID was made here go to the shard embedded in them; everything else (A-leg
/// traffic) to a hash of the Call-ID. Returns 0 when `count` is 0 or the message has no Call-ID.
pub fn shard_for(message: &SipMessage, count: u16) -> u16 {
    if count <= 1 {
        return 0;
    }
    let embedded = match message {
        SipMessage::Response(r) => r
            .headers()
            .get_list("Via")
            .next()
            .and_then(branch_of)
            .and_then(|b| embedded_shard(b, BRANCH_PREFIX)),
        SipMessage::Request(r) => r
            .headers()
            .get("Call-ID")
            .and_then(|c| embedded_shard(c.trim(), CALL_ID_PREFIX)),
    };
    if let Some(shard) = embedded.filter(|s| *s < count) {
        return shard;
    }
    let call_id = message.headers().get("Call-ID").unwrap_or_default().trim();
    (fnv1a(call_id.as_bytes()) % u64::from(count)) as u16
}

/// The shard that made a call's `sessionId` (`<shard>_<id>_<time>@<host>`, its call events and CDR), if the
/// text has that shape; `None` for anything else.
pub fn session_shard(session_id: &str) -> Option<u16> {
    session_parts(session_id).map(|(shard, _)| shard)
}

/// The shard and the per-shard call id of a `sessionId` (`<shard>_<id>_<time>@<host>`), if it has that shape.
pub(crate) fn session_parts(session_id: &str) -> Option<(u16, u64)> {
    let (shard, rest) = session_id.split_once('_')?;
    let (id, _) = rest.split_once('_')?;
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((shard.parse().ok()?, id.parse().ok()?))
}

fn branch_of(via: &str) -> Option<&str> {
    via.split(';').skip(1).find_map(|p| {
        let (name, value) = p.split_once('=')?;
        name.trim().eq_ignore_ascii_case("branch").then(|| value.trim())
    })
}

/// Parses `<prefix><decimal shard>-…`.
fn embedded_shard(value: &str, prefix: &str) -> Option<u16> {
    let rest = value.strip_prefix(prefix)?;
    let (digits, _) = rest.split_once('-')?;
    digits.parse().ok()
}

/// FNV-1a, 64 bit.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_shard_reads_the_prefix() {
        assert_eq!(session_shard("2_17_20260101120000@sw1"), Some(2));
        assert_eq!(session_shard("0_1_20260101120000@sw1"), Some(0));
        assert_eq!(session_shard("x_17_20260101120000@sw1"), None);
        assert_eq!(session_shard("2_x_20260101120000@sw1"), None);
        assert_eq!(session_shard("2-17"), None);
        assert_eq!(session_shard(""), None);
        assert_eq!(session_parts("3_1234_20260101120000@sw1"), Some((3, 1234)));
        assert_eq!(session_parts("3_x_20260101120000@sw1"), None);
        assert_eq!(session_parts("nonsense"), None);
    }

    #[test]
    fn shard_for_reads_embedded_shards_and_hashes_the_rest() {
        let req = |call_id: &str| {
            SipMessage::parse(
                format!(
                    "BYE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\nFrom: <sip:a@b>;tag=1\r\n\
To: <sip:c@d>;tag=2\r\nCall-ID: {call_id}\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
                )
                .as_bytes(),
            )
            .unwrap()
        };
        assert_eq!(shard_for(&req("pnb2-65-1@h"), 4), 2);
        assert_eq!(
            shard_for(&req("pnb9-65-1@h"), 4),
            shard_for(&req("pnb9-65-1@h"), 4)
        );
        let a = shard_for(&req("abc@trunk"), 4);
        assert!(a < 4);
        assert_eq!(shard_for(&req("abc@trunk"), 1), 0);
        let resp = SipMessage::parse(
            b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK-pn1-65.3;rport\r\nFrom: <sip:a@b>;tag=1\r\n\
To: <sip:c@d>;tag=2\r\nCall-ID: abc@trunk\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(shard_for(&resp, 4), 1);
    }
}
