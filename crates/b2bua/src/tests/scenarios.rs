//! Exact message sequences of call flows.

use std::time::Duration;

use pn_sip::{Method, Request, Response, SipMessage};

use super::*;
use crate::EventType::{Alerting, Answer, Callin, Callout, Disconnect};

/// A→X→B up to the ACK relayed to B: returns the B-leg INVITE and the 200 A got.
fn answered(max_duration_secs: u32) -> (Sim, Request, Response) {
    let mut sim = Sim::new(FakeRouter::connect(max_duration_secs));
    let sent = sim.send_a(a_invite("z9hG4bKa1", "call-a-1"));
    assert_eq!(summary(&sent), ["A<-100 INVITE", "B<-INVITE"]);
    let b_inv = request(&sent[1].1).clone();
    assert_eq!(
        summary(&sim.send_b(b_response(&b_inv, 100, false))),
        Vec::<String>::new()
    );
    assert_eq!(
        summary(&sim.send_b(b_response(&b_inv, 180, false))),
        ["A<-180 INVITE"]
    );
    let sent = sim.send_b(b_response(&b_inv, 200, true));
    assert_eq!(summary(&sent), ["A<-200 INVITE"]);
    let ok = response(&sent[0].1).clone();
    assert_eq!(summary(&sim.send_a(a_ack(&ok, "z9hG4bKa2"))), ["B<-ACK"]);
    assert_eq!(sim.b2b.active_calls(), 1);
    (sim, b_inv, ok)
}

fn assert_all_gone(sim: &mut Sim) {
    sim.advance(Duration::from_secs(64));
    assert!(sim.b2b.calls_empty(), "calls left");
    assert!(sim.b2b.dialogs_empty(), "dialogs left");
    assert!(sim.b2b.transactions_empty(), "transactions left");
    assert_eq!(sim.b2b.poll_timeout(), None);
    assert_eq!(sim.b2b.active_calls(), 0);
}

#[test]
fn axb_answered_then_bye_from_a() {
    let (mut sim, b_inv, ok) = answered(0);
    // The B-leg INVITE is built from scratch.
    assert_eq!(b_inv.uri().to_string(), format!("sip:{B_NUM}@192.0.2.50:5060"));
    let h = b_inv.headers();
    assert_eq!(
        h.from().unwrap().uri().to_string(),
        format!("sip:{X_NUM}@192.0.2.10:5060")
    );
    assert!(h.from().unwrap().tag().is_some());
    assert_eq!(
        h.to().unwrap().to_string(),
        format!("<sip:{B_NUM}@192.0.2.50:5060>")
    );
    assert!(h.call_id().unwrap().starts_with("pnb3-"));
    assert_eq!(h.cseq().unwrap().to_string(), "1 INVITE");
    assert_eq!(h.max_forwards().unwrap(), Some(69));
    assert_eq!(h.get("Contact"), Some("<sip:192.0.2.10:5060>"));
    assert_eq!(h.get("Session-Expires"), Some("1800;refresher=uac"));
    assert!(h.top_via().unwrap().branch().unwrap().starts_with("z9hG4bK-pn3-"));
    let sdp = String::from_utf8(b_inv.body().to_vec()).unwrap();
    assert!(sdp.starts_with("v=0\r\no=- "), "{sdp}");
    assert!(sdp.contains("s=-\r\n") && !sdp.contains("alice"));
    assert_eq!(crate::shard_for(&SipMessage::Request(b_inv.clone()), 4), 3);
    // The 200 to A is A's dialog, our Contact, B's SDP regenerated.
    let oh = ok.headers();
    assert_eq!(oh.call_id().unwrap(), "call-a-1");
    assert_eq!(oh.from().unwrap().tag(), Some("a-tag"));
    assert_eq!(oh.get("Contact"), Some("<sip:192.0.2.10:5060>"));
    assert!(!String::from_utf8_lossy(ok.body()).contains("bob"));

    let bye = a_in_dialog(&Method::Bye, &ok, 11, "z9hG4bKa3");
    let sent = sim.send_a(bye);
    assert_eq!(summary(&sent), ["A<-200 BYE", "B<-BYE"]);
    let b_bye = request(&sent[1].1).clone();
    assert_eq!(b_bye.headers().cseq().unwrap().to_string(), "2 BYE");
    assert_eq!(b_bye.headers().to().unwrap().tag(), Some("b-tag"));
    assert_eq!(b_bye.uri().to_string(), format!("sip:{B_NUM}@192.0.2.50:5060"));
    assert!(sim.send_b(b_response(&b_bye, 200, false)).is_empty());
    assert_eq!(sim.events(), [Callin, Callout, Alerting, Answer, Disconnect]);
    assert_eq!(sim.disconnect_code(), Some(0));
    let cdrs = sim.cdrs();
    assert_eq!(cdrs.len(), 1);
    let json = serde_json::to_value(cdrs[0]).unwrap();
    assert_eq!(json["direction"], 1);
    assert_eq!(json["bindNum"], X_NUM);
    assert_eq!(json["callerNum"], A_NUM);
    assert_eq!(json["fwdDstNum"], B_NUM);
    assert_eq!(json["fwdDisplayNum"], X_NUM);
    assert_eq!(json["subscriptionId"], "sub-7");
    assert_eq!(json["ulFailReason"], 0);
    assert_eq!(json["hostName"], "pn.test");
    assert_eq!(json["callInTime"], "2023-11-14 22:13:20");
    assert!(json["fwdAnswerTime"].is_string() && json.get("failTime").is_none());
    assert_eq!(sim.b2b.stats().calls_answered, 1);
    assert_eq!(sim.b2b.drain_setup_latencies().len(), 1);
    assert_all_gone(&mut sim);
}

#[test]
fn bye_from_b() {
    let (mut sim, b_inv, _ok) = answered(0);
    let sent = sim.send_b(b_in_dialog(Method::Bye, &b_inv, 1, "z9hG4bKb9"));
    assert_eq!(summary(&sent), ["B<-200 BYE", "A<-BYE"]);
    let a_bye = request(&sent[1].1).clone();
    assert_eq!(a_bye.uri().to_string(), format!("sip:{A_NUM}@192.0.2.1:5060"));
    assert_eq!(a_bye.headers().call_id().unwrap(), "call-a-1");
    assert_eq!(a_bye.headers().to().unwrap().tag(), Some("a-tag"));
    assert_eq!(a_bye.headers().cseq().unwrap().to_string(), "1 BYE");
    assert!(sim.send_a(a_response(&a_bye, 200)).is_empty());
    assert_eq!(sim.disconnect_code(), Some(0));
    assert_eq!(sim.cdrs().len(), 1);
    assert_all_gone(&mut sim);
}

#[test]
fn callee_busy() {
    let mut sim = Sim::new(FakeRouter::connect(0));
    let sent = sim.send_a(a_invite("z9hG4bKa1", "c-busy"));
    let b_inv = request(&sent[1].1).clone();
    let sent = sim.send_b(b_response(&b_inv, 486, false));
    assert_eq!(summary(&sent), ["B<-ACK", "A<-486 INVITE"]);
    let busy = response(&sent[1].1);
    assert_eq!(busy.reason(), "Busy Here");
    assert!(
        busy.headers()
            .get("Reason")
            .unwrap()
            .starts_with("Q.850;cause=17;text=\"8102 ")
    );
    // A's ACK for the 486 is absorbed by the transaction.
    let ack = Request::parse(
        format!(
            "ACK sip:{X_NUM}@192.0.2.10:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKa1\r\n\
From: <sip:{A_NUM}@192.0.2.1>;tag=a-tag\r\nTo: {}\r\nCall-ID: c-busy\r\nCSeq: 10 ACK\r\nContent-Length: 0\r\n\r\n",
            busy.headers().get("To").unwrap()
        )
        .as_bytes(),
    )
    .unwrap();
    assert!(sim.send_a(ack).is_empty());
    assert_eq!(sim.events(), [Callin, Callout, Disconnect]);
    assert_eq!(sim.disconnect_code(), Some(8102));
    let cdr = sim.cdrs()[0].clone();
    assert_eq!(
        (cdr.sip_status_code, cdr.fwd_unasw_rsn, cdr.ul_fail_reason),
        (486, 17, 8102)
    );
    assert!(cdr.fail_time.is_some());
    assert_all_gone(&mut sim);
}

#[test]
fn no_answer_forward_timeout() {
    let mut sim = Sim::new(FakeRouter::connect(0));
    let sent = sim.send_a(a_invite("z9hG4bKa1", "c-noans"));
    let b_inv = request(&sent[1].1).clone();
    sim.send_b(b_response(&b_inv, 180, false));
    assert!(sim.advance(Duration::from_secs(89)).is_empty());
    let sent = sim.advance(Duration::from_secs(1));
    assert_eq!(summary(&sent), ["B<-CANCEL", "A<-480 INVITE"]);
    assert!(
        response(&sent[1].1)
            .headers()
            .get("Reason")
            .unwrap()
            .starts_with("Q.850;cause=19;text=\"8035 ")
    );
    let cancel = request(&sent[0].1).clone();
    assert!(sim.send_b(b_response(&cancel, 200, false)).is_empty());
    assert_eq!(summary(&sim.send_b(b_response(&b_inv, 487, false))), ["B<-ACK"]);
    assert_eq!(sim.disconnect_code(), Some(8035));
    assert_eq!(sim.cdrs().len(), 1);
    assert_all_gone(&mut sim);
}

fn cancel_for(invite: &Request) -> Request {
    let mut cancel = invite.cancel();
    cancel
        .headers_mut()
        .set("Via", "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKa1");
    cancel
}

#[test]
fn cancel_before_answer() {
    let mut sim = Sim::new(FakeRouter::connect(0));
    let inv = a_invite("z9hG4bKa1", "c-cancel");
    let sent = sim.send_a(inv.clone());
    let b_inv = request(&sent[1].1).clone();
    sim.send_b(b_response(&b_inv, 180, false));
    let sent = sim.send_a(cancel_for(&inv));
    assert_eq!(summary(&sent), ["A<-200 CANCEL", "A<-487 INVITE", "B<-CANCEL"]);
    let cancel = request(&sent[2].1).clone();
    assert_eq!(
        cancel.headers().top_via().unwrap().branch(),
        b_inv.headers().top_via().unwrap().branch()
    );
    assert!(sim.send_b(b_response(&cancel, 200, false)).is_empty());
    assert_eq!(summary(&sim.send_b(b_response(&b_inv, 487, false))), ["B<-ACK"]);
    assert_eq!(sim.events(), [Callin, Callout, Alerting, Disconnect]);
    assert_eq!(sim.disconnect_code(), Some(7502));
    assert_eq!(sim.cdrs().len(), 1);
    assert_all_gone(&mut sim);
}

#[test]
fn cancel_and_200_race() {
    let mut sim = Sim::new(FakeRouter::connect(0));
    let inv = a_invite("z9hG4bKa1", "c-race");
    let sent = sim.send_a(inv.clone());
    let b_inv = request(&sent[1].1).clone();
    sim.send_b(b_response(&b_inv, 180, false));
    let sent = sim.send_a(cancel_for(&inv));
    assert_eq!(summary(&sent), ["A<-200 CANCEL", "A<-487 INVITE", "B<-CANCEL"]);
    let cancel = request(&sent[2].1).clone();
    // B answered before it saw the CANCEL.
    let ok = b_response(&b_inv, 200, true);
    let sent = sim.send_b(ok.clone());
    assert_eq!(summary(&sent), ["B<-ACK", "B<-BYE"]);
    let bye = request(&sent[1].1).clone();
    // B's 200 retransmitted: ACKed again, nothing to A.
    assert_eq!(summary(&sim.send_b(ok)), ["B<-ACK"]);
    assert!(sim.send_b(b_response(&cancel, 481, false)).is_empty());
    assert!(sim.send_b(b_response(&bye, 200, false)).is_empty());
    assert_eq!(sim.cdrs().len(), 1);
    assert_eq!(sim.disconnect_code(), Some(7502));
    assert_all_gone(&mut sim);
}
