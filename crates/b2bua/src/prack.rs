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

use crate::dialog::Side;

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

/// How a provisional response of B goes on (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProvisionalPlan {
    /// pnswitch PRACKs B's reliable provisional itself (its `RSeq`).
    pub prack_b: Option<u32>,
    /// What A gets: nothing (`None`), the provisional unreliably (`Some(false)`) or reliably
    /// (`Some(true)`: add the headers with [`PrackState::send_reliable`]).
    pub to_a: Option<bool>,
}

/// What the retransmission timer of the reliable provisional asks for.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Retransmit {
    /// Nothing awaits A's PRACK.
    Nothing,
    /// 64·T1 passed without A's PRACK: the call fails ([`crate::tables::PRACK_TIMEOUT`]).
    GiveUp,
    /// Send this response to A again.
    Send(Response),
}

/// A call's RFC 3262 state: A's `RSeq` space, the reliable provisional awaiting A's PRACK, the last
/// `RSeq` of B.
#[derive(Debug, Clone)]
pub(crate) struct PrackState {
    /// What A's INVITE said about 100rel.
    a_rel: Rel,
    /// The last `RSeq` used on A's dialog.
    a_rseq: u32,
    /// The reliable provisional sent to A awaiting its PRACK.
    a_reliable: Option<Box<Reliable>>,
    /// The last `RSeq` received from B.
    b_rseq: Option<u32>,
}

impl PrackState {
    /// The state of a new call: A's INVITE headers and A's dialog tag (the `RSeq` space's start).
    pub(crate) fn new(a_invite: &Headers, a_local_tag: &str) -> Self {
        Self {
            a_rel: Rel::of(a_invite),
            a_rseq: initial_rseq(a_local_tag),
            a_reliable: None,
            b_rseq: None,
        }
    }

    /// When the reliable provisional to A is next retransmitted.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.a_reliable.as_ref().map(|r| r.next)
    }

    /// A final response went to A: no provisional awaits a PRACK any more.
    pub(crate) fn final_sent(&mut self) {
        self.a_reliable = None;
    }

    /// B sent a provisional response with `b_rseq` (reliable) or none; `a_answered`: the switch
    /// answered A already. `None`: B's retransmission, absorbed.
    pub(crate) fn b_provisional(&mut self, b_rseq: Option<u32>, a_answered: bool) -> Option<ProvisionalPlan> {
        if let Some(rseq) = b_rseq {
            if self.b_rseq.is_some_and(|last| rseq <= last) {
                return None;
            }
            self.b_rseq = Some(rseq);
        }
        if a_answered {
            // B's provisionals stop here (reliable ones are PRACKed).
            return Some(ProvisionalPlan {
                prack_b: b_rseq,
                to_a: None,
            });
        }
        let busy = self.a_reliable.is_some();
        let reliable = !busy
            && match self.a_rel {
                Rel::Required => true,
                Rel::Supported => b_rseq.is_some(),
                Rel::No => false,
            };
        let drop = busy && self.a_rel == Rel::Required;
        Some(ProvisionalPlan {
            prack_b: b_rseq.filter(|_| !reliable),
            to_a: (!drop).then_some(reliable),
        })
    }

    /// Makes `response` reliable (`Require: 100rel`, the next `RSeq` of A's dialog) and keeps it for
    /// retransmission from `now` every `t1`, doubling; `b_rack`: the `RAck` of B's provisional it relays.
    pub(crate) fn send_reliable(
        &mut self,
        response: &mut Response,
        b_rack: Option<(u32, u32)>,
        now: Instant,
        t1: Duration,
    ) {
        self.a_rseq = self.a_rseq.saturating_add(1);
        let rseq = self.a_rseq;
        response.headers_mut().push("Require", TAG_100REL);
        response.headers_mut().push("RSeq", rseq.to_string());
        self.a_reliable = Some(Box::new(Reliable {
            response: response.clone(),
            rseq,
            b_rack,
            next: now + t1,
            interval: t1,
            give_up: now + t1 * 64,
        }));
    }

    /// The retransmission timer is due at `now`.
    pub(crate) fn retransmit(&mut self, now: Instant) -> Retransmit {
        let Some(rel) = self.a_reliable.as_mut() else {
            return Retransmit::Nothing;
        };
        if now >= rel.give_up {
            self.a_reliable = None;
            return Retransmit::GiveUp;
        }
        rel.interval *= 2;
        rel.next = (now + rel.interval).min(rel.give_up);
        Retransmit::Send(rel.response.clone())
    }

    /// A PRACK from `side` with this `RAck` header (A's INVITE had CSeq `invite_cseq`): when it
    /// acknowledges the provisional awaiting it, that is done and the result is `Some(b_rack)` (the
    /// `RAck` to relay to B, or `None` to answer A locally); `None` for a PRACK that matches nothing.
    #[allow(clippy::option_option)] // matched or not, then relayed or not
    pub(crate) fn prack(
        &mut self,
        side: Side,
        rack: Option<&str>,
        invite_cseq: u32,
    ) -> Option<Option<(u32, u32)>> {
        let rel = self.a_reliable.as_ref()?;
        let (rseq, cseq, method) = rack.and_then(parse_rack)?;
        let matched = side == Side::A && rseq == rel.rseq && cseq == invite_cseq && method == "INVITE";
        if !matched {
            return None;
        }
        self.a_reliable.take().map(|rel| rel.b_rack)
    }
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

    #[allow(clippy::disallowed_methods)] // one real Instant to start a virtual clock
    fn t0() -> Instant {
        Instant::now()
    }

    fn state(rel: &str) -> PrackState {
        let mut h = Headers::new();
        if !rel.is_empty() {
            h.push(rel, "100rel");
        }
        PrackState::new(&h, "pn1a2b")
    }

    fn ringing() -> Response {
        let m = pn_sip::SipMessage::parse(
            b"SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKa\r\nFrom: <sip:a@b>;tag=1\r\n\
To: <sip:c@d>;tag=2\r\nCall-ID: x@h\r\nCSeq: 10 INVITE\r\nContent-Length: 0\r\n\r\n",
        )
        .unwrap();
        match m {
            pn_sip::SipMessage::Response(r) => r,
            pn_sip::SipMessage::Request(_) => unreachable!(),
        }
    }

    #[test]
    fn provisionals_of_b_go_to_a_reliably_one_at_a_time() {
        let mut s = state("Supported");
        let plan = |to_a, prack_b| Some(ProvisionalPlan { prack_b, to_a });
        assert_eq!(s.b_provisional(None, false), plan(Some(false), None));
        assert_eq!(s.b_provisional(Some(5), false), plan(Some(true), None));
        let (now, t1) = (t0(), Duration::from_millis(500));
        let mut r = ringing();
        s.send_reliable(&mut r, Some((5, 1)), now, t1);
        let rseq = initial_rseq("pn1a2b") + 1;
        assert_eq!(r.headers().get("RSeq"), Some(rseq.to_string().as_str()));
        assert_eq!(s.b_provisional(Some(5), false), None, "B's retransmission");
        // Busy: B's next reliable one is PRACKed by the switch and goes to A unreliably.
        assert_eq!(s.b_provisional(Some(6), false), plan(Some(false), Some(6)));
        assert_eq!(s.deadline(), Some(now + t1));
        // A's PRACK must name the RSeq and A's INVITE.
        let wrong = format!("{} 10 INVITE", rseq + 1);
        assert_eq!(s.prack(Side::A, Some(&wrong), 10), None);
        let right = format!("{rseq} 10 INVITE");
        assert_eq!(s.prack(Side::B, Some(&right), 10), None);
        assert_eq!(s.prack(Side::A, Some(&right), 10), Some(Some((5, 1))));
        assert_eq!(s.deadline(), None);
        assert_eq!(s.prack(Side::A, Some(&right), 10), None, "acknowledged already");
    }

    #[test]
    fn required_makes_every_provisional_reliable_and_drops_them_while_busy() {
        let mut s = state("Require");
        assert_eq!(
            s.b_provisional(None, false),
            Some(ProvisionalPlan {
                prack_b: None,
                to_a: Some(true)
            })
        );
        s.send_reliable(&mut ringing(), None, t0(), Duration::from_millis(500));
        assert_eq!(
            s.b_provisional(Some(3), false),
            Some(ProvisionalPlan {
                prack_b: Some(3),
                to_a: None
            })
        );
        let mut n = state("");
        assert_eq!(
            n.b_provisional(Some(3), false),
            Some(ProvisionalPlan {
                prack_b: Some(3),
                to_a: Some(false)
            })
        );
        assert_eq!(
            n.b_provisional(Some(4), true),
            Some(ProvisionalPlan {
                prack_b: Some(4),
                to_a: None
            })
        );
    }

    #[test]
    fn retransmissions_double_then_give_up_at_64_t1() {
        let mut s = state("Supported");
        let (start, t1) = (t0(), Duration::from_millis(500));
        assert_eq!(s.retransmit(start), Retransmit::Nothing);
        s.send_reliable(&mut ringing(), None, start, t1);
        let mut now = start + t1;
        let mut sent = 0;
        loop {
            match s.retransmit(now) {
                Retransmit::Send(_) => sent += 1,
                Retransmit::GiveUp => break,
                Retransmit::Nothing => panic!("nothing to retransmit"),
            }
            now = s.deadline().unwrap();
        }
        assert_eq!(now, start + t1 * 64);
        assert_eq!(sent, 6, "T1 .. 32·T1, then the give-up at 64·T1");
        assert_eq!(s.deadline(), None);
    }
}
