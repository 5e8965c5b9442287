//! RFC 3262 reliable provisional responses (`100rel`), B2BUA style.
//!
//! The two legs keep their own `RSeq` spaces; the call remembers which `RSeq` sent to A relays which
//! `RSeq` of B.
//!
//! - A's INVITE offers 100rel (`Supported` or `Require`): the B-leg INVITE carries a fresh
//!   `Supported: 100rel`.
//! - B sends a reliable provisional (`Require: 100rel` and a valid `RSeq`) and A offered 100rel: A
//!   gets a fresh reliable provisional (`Require: 100rel`, `RSeq` of A's sequence, SDP rewritten),
//!   retransmitted after T1, 2·T1, 4·T1 … until A's PRACK; without a PRACK after 64·T1 the call fails
//!   ([`crate::tables::PRACK_TIMEOUT`]: 504 to A, CANCEL to B, stateCode 7505). A's PRACK is
//!   *relayed*: a new PRACK on B's dialog with the mapped `RAck` (B's `RSeq` and INVITE CSeq) and A's
//!   SDP rewritten; B's response to it goes back as the response to A's PRACK. Relaying (rather than
//!   answering A locally and sending B a PRACK at once) keeps an SDP answer in A's PRACK on its way to B,
//!   and B sees its PRACK only once A really has the provisional.
//! - B sends a reliable provisional and A did not offer 100rel: pnswitch PRACKs B itself (a local
//!   transaction; B's 200 is absorbed) and A gets an ordinary unreliable provisional. (An SDP offer
//!   in such a provisional cannot be answered; early offers of B are not supported.)
//! - A *requires* 100rel and B's provisional is unreliable: A still gets it reliably, and A's PRACK
//!   is answered 200 by pnswitch (nothing to relay).
//! - One reliable provisional at a time (§3): while one awaits A's PRACK, later provisionals go to A
//!   unreliably when A only supports 100rel and are dropped when A requires it; a reliable one of B
//!   arriving then gets pnswitch's own PRACK.
//! - B's retransmissions of a reliable provisional (`RSeq` not above the last one seen) are absorbed.
//! - A PRACK that matches no unacknowledged reliable provisional gets 481 (§3).

use std::time::{Duration, Instant};

use pn_sip::{Headers, Response};

/// The RFC 3262 option tag.
pub(crate) const TAG_100REL: &str = "100rel";

/// What A's INVITE said about 100rel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rel {
    /// Not offered: provisionals to A are unreliable.
    No,
    /// `Supported: 100rel`: provisionals B sent reliably go to A reliably.
    Supported,
    /// `Require: 100rel`: every provisional to A is reliable.
    Required,
}

impl Rel {
    /// Reads a request's `Require`/`Supported`.
    pub(crate) fn of(h: &Headers) -> Self {
        let has = |name: &str| h.option_tags(name).any(|t| t.eq_ignore_ascii_case(TAG_100REL));
        if has("Require") {
            Rel::Required
        } else if has("Supported") {
            Rel::Supported
        } else {
            Rel::No
        }
    }
}

/// A reliable provisional response sent to A, awaiting A's PRACK.
#[derive(Debug, Clone)]
pub(crate) struct Reliable {
    /// The response as sent (retransmissions are identical).
    pub response: Response,
    /// Its `RSeq` on A's dialog.
    pub rseq: u32,
    /// The `RAck` numbers (B's `RSeq`, B's INVITE CSeq) of the provisional of B it relays; `None`
    /// when it was made reliable for A alone.
    pub b_rack: Option<(u32, u32)>,
    /// Next retransmission.
    pub next: Instant,
    /// Current retransmission interval (doubles each time).
    pub interval: Duration,
    /// 64·T1 after the first transmission: the call fails.
    pub give_up: Instant,
}

/// `1*DIGIT` in 1..=2^31−1 (`RSeq`, and the numbers of `RAck`).
fn number(s: &str) -> Option<u32> {
    let s = s.trim();
    if s.is_empty() || s.len() > 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u32>().ok().filter(|n| (1..=0x7fff_ffff).contains(n))
}

/// The `RSeq` of a reliable provisional response (`Require: 100rel` and a valid `RSeq`).
pub(crate) fn reliable_rseq(r: &Response) -> Option<u32> {
    let h = r.headers();
    let required = h
        .option_tags("Require")
        .any(|t| t.eq_ignore_ascii_case(TAG_100REL));
    if !(101..200).contains(&r.status()) || !required {
        return None;
    }
    number(h.get("RSeq")?)
}

/// `RAck: response-num CSeq-num Method`.
pub(crate) fn parse_rack(v: &str) -> Option<(u32, u32, String)> {
    let mut parts = v.split_whitespace();
    let rseq = number(parts.next()?)?;
    let cseq = number(parts.next()?)?;
    let method = parts.next()?.to_owned();
    parts.next().is_none().then_some((rseq, cseq, method))
}

/// The first `RSeq` of A's dialog minus one: derived from our tag (no randomness here), at most 2^30
/// so the sequence cannot overflow.
pub(crate) fn initial_rseq(local_tag: &str) -> u32 {
    u32::try_from(crate::shard::fnv1a(local_tag.as_bytes()) % 0x3fff_ffff).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rack_and_rseq_grammar() {
        assert_eq!(parse_rack("776656 1 INVITE"), Some((776_656, 1, "INVITE".into())));
        assert_eq!(parse_rack(" 5  10   INVITE "), Some((5, 10, "INVITE".into())));
        assert_eq!(parse_rack("0 1 INVITE"), None);
        assert_eq!(parse_rack("1 1"), None);
        assert_eq!(parse_rack("1 1 INVITE x"), None);
        assert_eq!(parse_rack("13800138000 1 INVITE"), None);
        assert_eq!(number("2147483647"), Some(0x7fff_ffff));
        assert_eq!(number("2147483648"), None);
        assert!(initial_rseq("pn1a2b") < 0x3fff_ffff);
    }
}
