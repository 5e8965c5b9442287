//! Virtual-clock tests: time only moves when the test says so, so 64·T1 takes microseconds.

use std::time::{Duration, Instant};

use super::*;
use crate::message::SipMessage;
use crate::typed::Via;
use crate::uri::{NameAddr, Uri};

fn request(method: Method) -> Request {
    Request::builder(method, Uri::parse("sip:+4930123@trunk.example.net").unwrap())
        .via(&Via::new("UDP", "192.0.2.10", Some(5060), "z9hG4bK-t1"))
        .from(&NameAddr::new(Uri::parse("sip:+4930999@pn.example").unwrap()).with_tag("f"))
        .to(&NameAddr::new(
            Uri::parse("sip:+4930123@trunk.example.net").unwrap(),
        ))
        .call_id("tx-1")
        .cseq(1)
        .build()
        .unwrap()
}

fn response(req: &Request, status: u16) -> Response {
    Response::for_request(req, status).to_tag("t").build()
}

/// The origin of the virtual clock. `Instant` has no constructor, so one reading of the real
/// clock is taken; afterwards time moves only by adding durations to it.
#[allow(clippy::disallowed_methods)]
fn epoch() -> Instant {
    Instant::now()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A transaction under a virtual clock starting at `t0`.
trait Driven {
    fn input(&mut self, now: Instant, input: Input);
    fn timeout(&self) -> Option<Instant>;
    fn output(&mut self) -> Option<Output>;
}

impl Driven for ClientTransaction {
    fn input(&mut self, now: Instant, input: Input) {
        self.handle_input(now, input).unwrap();
    }
    fn timeout(&self) -> Option<Instant> {
        self.poll_timeout()
    }
    fn output(&mut self) -> Option<Output> {
        self.poll_output()
    }
}

impl Driven for ServerTransaction {
    fn input(&mut self, now: Instant, input: Input) {
        self.handle_input(now, input).unwrap();
    }
    fn timeout(&self) -> Option<Instant> {
        self.poll_timeout()
    }
    fn output(&mut self) -> Option<Output> {
        self.poll_output()
    }
}

/// Drains outputs, stamping them with the time since `t0`.
fn drain(t: &mut impl Driven, t0: Instant, now: Instant, log: &mut Vec<(Duration, Output)>) {
    while let Some(o) = t.output() {
        log.push((now - t0, o));
    }
}

/// Fires timers until `until` (relative to `t0`), collecting outputs.
fn run_until(t: &mut impl Driven, t0: Instant, until: Duration) -> Vec<(Duration, Output)> {
    let mut log = Vec::new();
    drain(t, t0, t0, &mut log);
    while let Some(at) = t.timeout() {
        if at > t0 + until {
            break;
        }
        t.input(at, Input::Timeout);
        drain(t, t0, at, &mut log);
    }
    log
}

fn transmit_times(log: &[(Duration, Output)]) -> Vec<u64> {
    log.iter()
        .filter(|(_, o)| matches!(o, Output::Transmit(_)))
        .map(|(d, _)| d.as_millis() as u64)
        .collect()
}

#[test]
fn timer_b_fires_at_64_t1_after_doubling_retransmissions() {
    let t0 = epoch();
    let cfg = TimerConfig::default();
    let mut t = ClientTransaction::new(request(Method::Invite), false, &cfg, t0).unwrap();
    let log = run_until(&mut t, t0, Duration::from_secs(3600));
    // Timer A doubles without a T2 cap for INVITE: 0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s.
    assert_eq!(transmit_times(&log), [0, 500, 1500, 3500, 7500, 15500, 31500]);
    let tail: Vec<_> = log.iter().rev().take(2).cloned().collect();
    assert_eq!(
        tail,
        [(ms(32_000), Output::Terminated), (ms(32_000), Output::Timeout)]
    );
    assert!(t.is_terminated());
    assert_eq!(t.poll_timeout(), None);
}

#[test]
fn non_invite_retransmissions_cap_at_t2_and_timer_f() {
    let t0 = epoch();
    let cfg = TimerConfig::default();
    let mut t = ClientTransaction::new(request(Method::Options), false, &cfg, t0).unwrap();
    let log = run_until(&mut t, t0, Duration::from_secs(3600));
    assert_eq!(
        transmit_times(&log),
        [0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]
    );
    assert_eq!(log.last(), Some(&(ms(32_000), Output::Terminated)));

    // After a provisional response Timer E runs at T2.
    let mut t = ClientTransaction::new(request(Method::Bye), false, &cfg, t0).unwrap();
    let _ = run_until(&mut t, t0, ms(600));
    t.input(t0 + ms(700), Input::Received(response(t.request(), 100).into()));
    assert_eq!(t.state(), State::Proceeding);
    let log = run_until(&mut t, t0, ms(9_000));
    assert_eq!(transmit_times(&log), [1500, 5500]);
    t.input(t0 + ms(9_000), Input::Received(response(t.request(), 200).into()));
    assert_eq!(t.state(), State::Completed);
    let log = run_until(&mut t, t0, ms(20_000));
    assert_eq!(
        log.last(),
        Some(&(ms(14_000), Output::Terminated)),
        "Timer K = T4"
    );
}

#[test]
fn client_invite_non_2xx_acks_and_absorbs_retransmissions() {
    let t0 = epoch();
    let cfg = TimerConfig::default();
    let mut t = ClientTransaction::new(request(Method::Invite), false, &cfg, t0).unwrap();
    let _ = t.poll_output();
    let busy = response(t.request(), 486);
    t.input(t0 + ms(100), Input::Received(busy.clone().into()));
    let out: Vec<_> = std::iter::from_fn(|| t.poll_output()).collect();
    let Output::Transmit(SipMessage::Request(ack)) = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!(ack.method(), &Method::Ack);
    assert_eq!(ack.headers().to().unwrap().tag(), Some("t"));
    assert_eq!(out[1], Output::Response(busy.clone()));
    // A retransmitted 486 is answered with the same ACK and not delivered again.
    t.input(t0 + ms(600), Input::Received(busy.into()));
    let out: Vec<_> = std::iter::from_fn(|| t.poll_output()).collect();
    assert_eq!(out, [Output::Transmit(SipMessage::Request(ack.clone()))]);
    let log = run_until(&mut t, t0, Duration::from_secs(60));
    assert_eq!(log, [(ms(32_100), Output::Terminated)], "Timer D");
}

#[test]
fn server_invite_lost_ack_retransmits_until_timer_h() {
    let t0 = epoch();
    let cfg = TimerConfig::default();
    let invite = request(Method::Invite);
    let mut t = ServerTransaction::new(invite.clone(), false, &cfg, t0).unwrap();
    let Some(Output::Transmit(SipMessage::Response(trying))) = t.poll_output() else {
        panic!()
    };
    assert_eq!(trying.status(), 100);
    // A retransmitted INVITE gets the last provisional again.
    t.input(t0 + ms(400), Input::Received(invite.clone().into()));
    assert!(matches!(t.poll_output(), Some(Output::Transmit(SipMessage::Response(r))) if r.status() == 100));
    t.input(t0, Input::Respond(response(&invite, 486)));
    let log = run_until(&mut t, t0, Duration::from_secs(3600));
    assert_eq!(
        transmit_times(&log),
        [0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]
    );
    let tail: Vec<_> = log.iter().rev().take(2).map(|(_, o)| o.clone()).collect();
    assert_eq!(tail, [Output::Terminated, Output::Timeout]);
}

#[test]
fn server_invite_ack_confirms_then_timer_i() {
    let t0 = epoch();
    let cfg = TimerConfig::default();
    let invite = request(Method::Invite);
    let mut t = ServerTransaction::new(invite.clone(), false, &cfg, t0).unwrap();
    let busy = response(&invite, 486);
    while t.poll_output().is_some() {} // 100 Trying
    t.input(t0, Input::Respond(busy.clone()));
    assert_eq!(transmit_times(&run_until(&mut t, t0, ms(600))), [0, 500]);
    let ack = invite.ack_for(&busy);
    t.input(t0 + ms(700), Input::Received(ack.clone().into()));
    assert_eq!(t.state(), State::Confirmed);
    t.input(t0 + ms(800), Input::Received(ack.into())); // absorbed
    let log = run_until(&mut t, t0, Duration::from_secs(60));
    assert!(transmit_times(&log).is_empty(), "the ACK stopped Timer G");
    assert_eq!(log.last(), Some(&(ms(5_700), Output::Terminated)), "Timer I = T4");
    // A second final response is refused.
    assert!(
        t.handle_input(t0, Input::Respond(response(&invite, 500)))
            .is_err()
    );
}

#[test]
fn server_2xx_retransmitted_until_ack_then_accepted_until_timer_l() {
    let t0 = epoch();
    let cfg = TimerConfig::default();
    let invite = request(Method::Invite);
    let mut t = ServerTransaction::new(invite.clone(), false, &cfg, t0).unwrap();
    let ok = response(&invite, 200);
    while t.poll_output().is_some() {} // 100 Trying
    t.input(t0 + ms(10), Input::Respond(ok.clone()));
    assert!(matches!(t.poll_output(), Some(Output::Transmit(_))));
    let log = run_until(&mut t, t0, ms(4_000));
    assert_eq!(
        transmit_times(&log),
        [510, 1510, 3510],
        "2xx retransmitted at T1, 2·T1, 4·T1"
    );
    let ack = invite.ack_for(&ok);
    t.input(t0 + ms(4_000), Input::Received(ack.clone().into()));
    assert_eq!(t.poll_output(), Some(Output::Ack(ack)));
    // Retransmitted INVITEs are absorbed; no more 2xx retransmissions; L ends it quietly.
    t.input(t0 + ms(4_100), Input::Received(invite.into()));
    let log = run_until(&mut t, t0, Duration::from_secs(60));
    assert_eq!(log, [(ms(32_010), Output::Terminated)]);
}

#[test]
fn client_2xx_retransmitted_after_ack_reaches_the_tu() {
    let t0 = epoch();
    let cfg = TimerConfig::default();
    let mut t = ClientTransaction::new(request(Method::Invite), false, &cfg, t0).unwrap();
    let _ = t.poll_output();
    let ok = response(t.request(), 200);
    t.input(t0 + ms(50), Input::Received(ok.clone().into()));
    assert_eq!(t.poll_output(), Some(Output::Response(ok.clone())));
    assert_eq!(t.state(), State::Accepted);
    // The TU sent its ACK; the 2xx is retransmitted (ACK lost): delivered again so the TU re-ACKs.
    t.input(t0 + ms(550), Input::Received(ok.clone().into()));
    assert_eq!(t.poll_output(), Some(Output::Response(ok)));
    assert_eq!(t.poll_output(), None);
    let log = run_until(&mut t, t0, Duration::from_secs(60));
    assert_eq!(log, [(ms(32_050), Output::Terminated)], "Timer M");
}

#[test]
fn cancel_and_2xx_race() {
    let t0 = epoch();
    let cfg = TimerConfig::default();
    // Server side: the 200 went out, then CANCEL arrives.
    let invite = request(Method::Invite);
    let mut inv = ServerTransaction::new(invite.clone(), false, &cfg, t0).unwrap();
    let ok = response(&invite, 200);
    inv.input(t0 + ms(100), Input::Respond(ok));
    let cancel = invite.cancel();
    let mut can = ServerTransaction::new(cancel.clone(), false, &cfg, t0 + ms(120)).unwrap();
    can.input(t0 + ms(120), Input::Respond(response(&cancel, 200)));
    assert_eq!(can.state(), State::Completed);
    // The TU's 487 for the INVITE is refused: the 2xx already won.
    while inv.poll_output().is_some() {}
    assert!(
        inv.handle_input(t0 + ms(121), Input::Respond(response(&invite, 487)))
            .is_err()
    );
    assert_eq!(inv.poll_output(), None);
    assert_eq!(inv.state(), State::Accepted);

    // Client side: CANCEL sent after 180, but the 200 for the INVITE arrives first.
    let mut c_inv = ClientTransaction::new(invite.clone(), false, &cfg, t0).unwrap();
    c_inv.input(t0 + ms(50), Input::Received(response(&invite, 180).into()));
    let mut c_can = ClientTransaction::new(invite.cancel(), false, &cfg, t0 + ms(60)).unwrap();
    c_inv.input(t0 + ms(70), Input::Received(response(&invite, 200).into()));
    c_can.input(
        t0 + ms(80),
        Input::Received(response(&invite.cancel(), 200).into()),
    );
    let inv_out: Vec<_> = std::iter::from_fn(|| c_inv.poll_output()).collect();
    assert!(matches!(inv_out.last(), Some(Output::Response(r)) if r.status() == 200));
    assert_eq!(
        (c_inv.state(), c_can.state()),
        (State::Accepted, State::Completed)
    );
}

#[test]
fn reliable_transports_do_not_retransmit() {
    let t0 = epoch();
    let cfg = TimerConfig::default();
    let mut t = ClientTransaction::new(request(Method::Invite), true, &cfg, t0).unwrap();
    let log = run_until(&mut t, t0, Duration::from_secs(60));
    assert_eq!(transmit_times(&log), [0]);
    assert_eq!(log.last(), Some(&(ms(32_000), Output::Terminated)));

    let bye = request(Method::Bye);
    let mut s = ServerTransaction::new(bye.clone(), true, &cfg, t0).unwrap();
    s.input(t0, Input::Respond(response(&bye, 200)));
    assert!(s.is_terminated(), "Timer J is zero on reliable transports");
}

#[test]
fn server_non_invite_answers_retransmissions_until_timer_j() {
    let t0 = epoch();
    let cfg = TimerConfig {
        t1: ms(100),
        ..TimerConfig::default()
    };
    let bye = request(Method::Bye);
    let mut s = ServerTransaction::new(bye.clone(), false, &cfg, t0).unwrap();
    s.input(t0 + ms(50), Input::Received(bye.clone().into()));
    assert_eq!(s.poll_output(), None, "absorbed in Trying");
    s.input(t0 + ms(60), Input::Respond(response(&bye, 200)));
    s.input(t0 + ms(500), Input::Received(bye.into()));
    let log = run_until(&mut s, t0, Duration::from_secs(60));
    assert_eq!(log.len(), 3);
    assert_eq!(
        log[2],
        (ms(6_460), Output::Terminated),
        "Timer J = 64·T1 with T1 = 100 ms"
    );
}

#[test]
fn keys_match_ack_to_invite() {
    let invite = request(Method::Invite);
    let ok = response(&invite, 200);
    let key = TransactionKey::for_request(&invite).unwrap();
    assert_eq!(TransactionKey::for_request(&invite.ack_for(&ok)).unwrap(), key);
    assert_eq!(TransactionKey::for_response(&ok).unwrap(), key);
    assert_ne!(TransactionKey::for_request(&invite.cancel()).unwrap(), key);
    assert!(ClientTransaction::new(invite.ack_for(&ok), false, &TimerConfig::default(), epoch()).is_err());
}

#[test]
fn rfc2543_requests_match_by_their_fields() {
    let parse = |text: &str| match SipMessage::parse(text.as_bytes()).unwrap() {
        SipMessage::Request(r) => r,
        SipMessage::Response(_) => panic!("not a request"),
    };
    let text = "INVITE sip:b@example.com SIP/2.0\r\nVia: SIP/2.0/UDP gw.example.com\r\nFrom: <sip:a@example.com>;tag=1\r\n\
                To: <sip:b@example.com>\r\nCall-ID: c1\r\nCSeq: 56 INVITE\r\nContent-Length: 0\r\n\r\n";
    let invite = parse(text);
    let key = TransactionKey::for_request(&invite).unwrap();
    assert!(key.branch.starts_with("rfc2543 "), "{key:?}");
    // Its ACK (with the server's To tag) and its retransmission match it; its CANCEL names it.
    let ack = parse(
        "ACK sip:b@example.com SIP/2.0\r\nVia: SIP/2.0/UDP gw.example.com\r\nFrom: <sip:a@example.com>;tag=1\r\n\
         To: <sip:b@example.com>;tag=srv\r\nCall-ID: c1\r\nCSeq: 56 ACK\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!(TransactionKey::for_request(&ack).unwrap(), key);
    assert_eq!(TransactionKey::for_request(&invite.clone()).unwrap(), key);
    let mut cancel = TransactionKey::for_request(&invite.cancel()).unwrap();
    cancel.method = Method::Invite;
    assert_eq!(cancel, key);
    // Another CSeq, Call-ID, From tag or sending host is another transaction.
    for (from, to) in [
        ("CSeq: 56", "CSeq: 57"),
        ("Call-ID: c1", "Call-ID: c2"),
        (";tag=1", ";tag=2"),
        ("gw.example.com\r\n", "gw2.example.com\r\n"),
        ("INVITE sip:b@", "INVITE sip:c@"),
    ] {
        let other = parse(&text.replacen(from, to, 1));
        assert_ne!(TransactionKey::for_request(&other).unwrap(), key, "{to}");
    }
    // A branch without the magic cookie is an RFC 2543 branch too.
    let old_branch = parse(&text.replace("gw.example.com", "gw.example.com;branch=1"));
    assert!(
        TransactionKey::for_request(&old_branch)
            .unwrap()
            .branch
            .starts_with("rfc2543 ")
    );
}
