//! The demo's SIP call: the demo plays A (a trunk sending A → X) and B (the egress trunk), both on loopback
//! UDP, and prints what each side received from the switch.

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::time::Duration;

use pn_sip::{Response, SipMessage};
use pn_store::{OutboxKind, Store};

const A: &str = "+8613800000001";
const X: &str = "+8617010000001";
const B: &str = "+8613900000002";

type DemoResult<T> = Result<T, Box<dyn std::error::Error>>;

/// Receives datagrams until one satisfies `want`; errors after 5 s of silence.
fn recv_until(
    sock: &UdpSocket,
    want: impl Fn(&SipMessage) -> bool,
) -> DemoResult<(SipMessage, Vec<u8>, SocketAddr)> {
    sock.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut buf = vec![0u8; 65_535];
    loop {
        let (len, from) = sock.recv_from(&mut buf)?;
        let bytes = buf[..len].to_vec();
        if let Ok(msg) = SipMessage::parse(&bytes)
            && want(&msg)
        {
            return Ok((msg, bytes, from));
        }
    }
}

fn is_request(msg: &SipMessage, method: &str) -> bool {
    msg.as_request().is_some_and(|r| r.method().to_string() == method)
}

fn is_final(msg: &SipMessage, cseq_method: &str) -> bool {
    msg.as_response().is_some_and(|r| r.status() >= 200)
        && msg
            .headers()
            .get("CSeq")
            .is_some_and(|c| c.ends_with(cseq_method))
}

fn header<'m>(msg: &'m SipMessage, name: &str) -> &'m str {
    msg.headers().get(name).unwrap_or("-")
}

/// Places A → X, answers it as B, hangs up from A, and prints both sides' view.
pub(super) fn place(switch: SocketAddr, b_leg: &UdpSocket) -> DemoResult<()> {
    let a_leg = UdpSocket::bind("127.0.0.1:0")?;
    let a = a_leg.local_addr()?;
    let sdp = "v=0\r\no=13800000001 1 1 IN IP4 127.0.0.1\r\ns=call from 13800000001\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio 40000 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n";
    let invite = format!(
        "INVITE sip:{X}@{switch} SIP/2.0\r\nVia: SIP/2.0/UDP {a};branch=z9hG4bK-demo-1;rport\r\nMax-Forwards: 70\r\n\
         From: \"A 13800000001\" <sip:{A}@{a}>;tag=a1\r\nTo: <sip:{X}@{switch}>\r\nCall-ID: demo-13800000001@{a}\r\n\
         CSeq: 1 INVITE\r\nContact: <sip:{A}@{a}>\r\nP-Asserted-Identity: <sip:{A}@{a}>\r\n\
         User-Agent: phone-of-13800000001\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    );
    println!("\n== SIP call over loopback UDP: A ({A}) sends INVITE for X ({X}) to the switch at {switch}");
    println!(
        "   (A's number is also in its display name, P-Asserted-Identity, Contact, Call-ID, User-Agent and SDP)"
    );
    a_leg.send_to(invite.as_bytes(), switch)?;

    let (b_invite, b_bytes, switch_b) = recv_until(b_leg, |m| is_request(m, "INVITE"))?;
    let request = b_invite.as_request().ok_or("not a request")?;
    println!("   B received: INVITE {}", request.uri());
    for name in [
        "From",
        "To",
        "Call-ID",
        "Contact",
        "P-Asserted-Identity",
        "User-Agent",
    ] {
        println!("     {name}: {}", header(&b_invite, name));
    }
    for line in String::from_utf8_lossy(b_invite.body())
        .lines()
        .filter(|l| l.starts_with("o=") || l.starts_with("s="))
    {
        println!("     SDP {line}");
    }
    let leaked = String::from_utf8_lossy(&b_bytes).contains("13800000001");
    println!(
        "   A's digits anywhere in what B received: {}",
        if leaked { "YES (leak!)" } else { "no" }
    );

    let ringing = Response::for_request(request, 180).to_tag("b1").build();
    b_leg.send_to(&ringing.to_bytes(), switch_b)?;
    let b_sdp = "v=0\r\no=13900000002 2 2 IN IP4 127.0.0.1\r\ns=answer from 13900000002\r\nc=IN IP4 127.0.0.1\r\n\
                 t=0 0\r\nm=audio 40002 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n";
    let ok = Response::for_request(request, 200)
        .to_tag("b1")
        .header("Contact", &format!("<sip:{B}@{}>", b_leg.local_addr()?))
        .header("Server", "phone-of-13900000002")
        .body("application/sdp", b_sdp.as_bytes().to_vec())
        .build();
    b_leg.send_to(&ok.to_bytes(), switch_b)?;
    println!("   B answered 180 then 200 (its number in Contact, Server and SDP)");

    let (answer, a_bytes, _) = recv_until(&a_leg, |m| is_final(m, "INVITE"))?;
    let status = answer.as_response().map_or(0, Response::status);
    println!("   A received: {status} with To: {}", header(&answer, "To"));
    let leaked = String::from_utf8_lossy(&a_bytes).contains("13900000002");
    println!(
        "   B's digits anywhere in what A received: {}",
        if leaked { "YES (leak!)" } else { "no" }
    );
    if status != 200 {
        return Err(format!("the call was not answered: {status}").into());
    }
    let contact = header(&answer, "Contact");
    let target = contact
        .split('<')
        .nth(1)
        .and_then(|c| c.split('>').next())
        .unwrap_or(contact)
        .to_owned();
    let to = header(&answer, "To").to_owned();
    let in_dialog = |method: &str, cseq: u32, branch: &str| {
        format!(
            "{method} {target} SIP/2.0\r\nVia: SIP/2.0/UDP {a};branch={branch};rport\r\nMax-Forwards: 70\r\n\
             From: \"A 13800000001\" <sip:{A}@{a}>;tag=a1\r\nTo: {to}\r\nCall-ID: demo-13800000001@{a}\r\n\
             CSeq: {cseq} {method}\r\nContent-Length: 0\r\n\r\n"
        )
    };
    a_leg.send_to(in_dialog("ACK", 1, "z9hG4bK-demo-2").as_bytes(), switch)?;
    recv_until(b_leg, |m| is_request(m, "ACK"))?;
    println!("   A sent ACK; B received the ACK. Talking for 1 s, then A hangs up.");
    std::thread::sleep(Duration::from_secs(1));
    a_leg.send_to(in_dialog("BYE", 2, "z9hG4bK-demo-3").as_bytes(), switch)?;
    let (bye, _, from) = recv_until(b_leg, |m| is_request(m, "BYE"))?;
    let bye = bye.as_request().ok_or("not a request")?;
    b_leg.send_to(&Response::for_request(bye, 200).build().to_bytes(), from)?;
    let (done, _, _) = recv_until(&a_leg, |m| is_final(m, "BYE"))?;
    println!(
        "   B received BYE and answered 200; A received {} for its BYE",
        done.as_response().map_or(0, Response::status)
    );
    Ok(())
}

/// Prints the call events and the CDR the switch wrote to its durable outbox.
pub(super) fn show_facts(data_dir: &Path) -> DemoResult<()> {
    let store = pn_store::sqlite::SqliteStore::open(data_dir, pn_store::sqlite::SqliteOptions::default())?;
    let pending = store.reader()?.outbox_pending(100)?;
    let events: Vec<String> = pending
        .iter()
        .filter(|e| e.kind == OutboxKind::CallEvent)
        .filter_map(|e| serde_json::from_str::<serde_json::Value>(&e.payload).ok())
        .filter_map(|v| v["eventType"].as_str().map(str::to_owned))
        .collect();
    println!("\n== what the switch recorded (its durable outbox, to be pushed to the app)");
    println!("   call events: {}", events.join(", "));
    for cdr in pending.iter().filter(|e| e.kind == OutboxKind::Cdr) {
        let v: serde_json::Value = serde_json::from_str(&cdr.payload)?;
        println!(
            "   CDR: {}",
            serde_json::to_string_pretty(&v)?.replace('\n', "\n   ")
        );
    }
    Ok(())
}
