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
/// The AXE demo's X.
pub(super) const AXE_X: &str = "+8617010000003";
/// The AXE demo's A (extension 1234).
pub(super) const AXE_A: &str = "+8613600000006";
/// The AXE demo's caller.
const AXE_CALLER: &str = "+8613700000003";

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
#[allow(clippy::too_many_lines)] // one scripted call, printed step by step
pub(super) fn place(switch: SocketAddr, b_leg: &UdpSocket) -> DemoResult<()> {
    let a_leg = UdpSocket::bind("127.0.0.1:0")?;
    let a = a_leg.local_addr()?;
    let (a_rtp, b_rtp) = (UdpSocket::bind("127.0.0.1:0")?, UdpSocket::bind("127.0.0.1:0")?);
    let sdp = format!(
        "v=0\r\no=13800000001 1 1 IN IP4 127.0.0.1\r\ns=call from 13800000001\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {} RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n",
        a_rtp.local_addr()?.port()
    );
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
    let b_sdp = format!(
        "v=0\r\no=13900000002 2 2 IN IP4 127.0.0.1\r\ns=answer from 13900000002\r\nc=IN IP4 127.0.0.1\r\n\
                 t=0 0\r\nm=audio {} RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n",
        b_rtp.local_addr()?.port()
    );
    let b_to_switch = super::media::media_addr(request.body())?;
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
    let a_to_switch = super::media::media_addr(answer.body())?;
    println!(
        "   A sent ACK; B received the ACK. The call is recorded: both hear the recording notice, then for 7 s A \
         sends a 440 Hz tone and B a 1000 Hz tone (RTP through the switch's relay), then A hangs up."
    );
    let talk_a =
        std::thread::spawn(move || super::media::send_tone(a_rtp, a_to_switch, 440.0, 7, 0xA11C_E001));
    let talk_b =
        std::thread::spawn(move || super::media::send_tone(b_rtp, b_to_switch, 1000.0, 7, 0xB0B0_0002));
    let _ = (talk_a.join(), talk_b.join());
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

/// Downloads the recorded call through the API (signed request → 301 → signed file URL) and checks both
/// parties' tones are in it.
pub(super) async fn download_recording(base: &str, data_dir: &Path, keys: &super::Keys) -> DemoResult<()> {
    println!("\n== the recording: its CDR names it; the download API answers 301 with a signed URL");
    let mut cdr = None;
    for _ in 0..50 {
        let store =
            pn_store::sqlite::SqliteStore::open(data_dir, pn_store::sqlite::SqliteOptions::default())?;
        let facts = store
            .reader()?
            .outbox_query(&pn_store::OutboxFilter::default(), 1000)?;
        cdr = facts
            .iter()
            .filter(|e| e.kind == OutboxKind::Cdr)
            .filter_map(|e| serde_json::from_str::<serde_json::Value>(&e.payload).ok())
            .find(|v| v["recordObjectName"].is_string());
        if cdr.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let cdr = cdr.ok_or("no CDR names a recording")?;
    let (object, domain) = (
        cdr["recordObjectName"].as_str().unwrap_or_default(),
        cdr["recordDomain"].as_str().unwrap_or_default(),
    );
    println!(
        "   CDR recordFlag={} recordObjectName={object} recordDomain={domain}",
        cdr["recordFlag"]
    );
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let url = format!("{base}/rest/provision/voice/record/v1.0?fileName={object}&recordDomain={domain}");
    let created = pn_api::auth::format_created(super::now());
    let mut location = None;
    for attempt in 0..20 {
        let mut req = http.get(&url);
        for (name, value) in
            pn_api::auth::aksk_headers(&keys.axb.0, &keys.axb.1, &format!("demorec{attempt}"), &created)
        {
            req = req.header(name, value);
        }
        let resp = req.send().await?;
        if resp.status().as_u16() == 301 {
            location = resp
                .headers()
                .get("location")
                .and_then(|l| l.to_str().ok())
                .map(str::to_owned);
            break;
        }
        if attempt == 19 {
            println!(
                "   -> {} {}",
                resp.status(),
                resp.text().await.unwrap_or_default()
            );
        }
        // The writer thread completes the file just after the call ends.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let location = location.ok_or("the record download API did not answer 301")?;
    println!("   GET /rest/provision/voice/record/v1.0?fileName=…  -> 301 Location: {location}");
    let wav = http
        .get(&location)
        .send()
        .await?
        .error_for_status()?
        .bytes()
        .await?;
    let audio = pn_media::parse_wav(&wav, usize::MAX)?;
    let mut samples = Vec::new();
    audio.law.decode_into(audio.samples, &mut samples);
    let a = super::media::tone_share(&samples, 440.0);
    let b = super::media::tone_share(&samples, 1000.0);
    println!(
        "   downloaded {} bytes: {:.1} s of 8 kHz A-law; share of A's 440 Hz {:.0} %, of B's 1000 Hz {:.0} %",
        wav.len(),
        samples.len() as f64 / 8000.0,
        a * 100.0,
        b * 100.0
    );
    if a < 0.1 || b < 0.1 {
        return Err("the recording does not hold both parties' audio".into());
    }
    Ok(())
}

/// An AXE call: the caller hears the extension prompt (early media), keys 1234 as RFC 4733 events, and
/// reaches A.
pub(super) fn axe_call(switch: SocketAddr, b_leg: &UdpSocket) -> DemoResult<()> {
    let c_leg = UdpSocket::bind("127.0.0.1:0")?;
    let c = c_leg.local_addr()?;
    let c_rtp = UdpSocket::bind("127.0.0.1:0")?;
    let sdp = format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {} RTP/AVP 8 101\r\n\
         a=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n",
        c_rtp.local_addr()?.port()
    );
    let invite = format!(
        "INVITE sip:{AXE_X}@{switch} SIP/2.0\r\nVia: SIP/2.0/UDP {c};branch=z9hG4bK-demo-axe;rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:{AXE_CALLER}@{c}>;tag=c1\r\nTo: <sip:{AXE_X}@{switch}>\r\n\
         Call-ID: demo-axe@{c}\r\nCSeq: 1 INVITE\r\nContact: <sip:{AXE_CALLER}@{c}>\r\n\
         Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    );
    println!("\n== AXE call: {AXE_CALLER} dials X={AXE_X} (no extension yet)");
    c_leg.send_to(invite.as_bytes(), switch)?;
    let (early, _, _) = recv_until(&c_leg, |m| m.as_response().is_some_and(|r| r.status() == 183))?;
    let to_switch = super::media::media_addr(early.body())?;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let heard = super::media::count_rtp(&c_rtp, &stop)?;
    println!(
        "   the caller got 183 with the switch's SDP and hears the prompt (\"please enter the extension…\")"
    );
    std::thread::sleep(Duration::from_millis(1500));
    println!(
        "   {} prompt packets heard so far; the caller keys 1 2 3 4 (RFC 4733 telephone-events)",
        heard.load(std::sync::atomic::Ordering::Relaxed)
    );
    super::media::send_digits(&c_rtp, to_switch, "1234")?;
    let (b_invite, _, switch_b) = recv_until(b_leg, |m| is_request(m, "INVITE"))?;
    let request = b_invite.as_request().ok_or("not a request")?;
    println!(
        "   the switch calls A: INVITE {} From: {}",
        request.uri(),
        header(&b_invite, "From")
    );
    let a_sdp = "v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40010 RTP/AVP 8\r\n\
                 a=rtpmap:8 PCMA/8000\r\n";
    let ok = Response::for_request(request, 200)
        .to_tag("axe-a")
        .header("Contact", &format!("<sip:{AXE_A}@{}>", b_leg.local_addr()?))
        .body("application/sdp", a_sdp.as_bytes().to_vec())
        .build();
    b_leg.send_to(&ok.to_bytes(), switch_b)?;
    let (answer, _, _) = recv_until(&c_leg, |m| is_final(m, "INVITE"))?;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let status = answer.as_response().map_or(0, Response::status);
    println!("   A answered; the caller received {status}; then the caller hangs up");
    if status != 200 {
        return Err(format!("the AXE call was not answered: {status}").into());
    }
    let contact = header(&answer, "Contact");
    let target = contact
        .split('<')
        .nth(1)
        .and_then(|v| v.split('>').next())
        .unwrap_or(contact)
        .to_owned();
    let to = header(&answer, "To").to_owned();
    let in_dialog = |method: &str, cseq: u32, branch: &str| {
        format!(
            "{method} {target} SIP/2.0\r\nVia: SIP/2.0/UDP {c};branch={branch};rport\r\nMax-Forwards: 70\r\n\
             From: <sip:{AXE_CALLER}@{c}>;tag=c1\r\nTo: {to}\r\nCall-ID: demo-axe@{c}\r\n\
             CSeq: {cseq} {method}\r\nContent-Length: 0\r\n\r\n"
        )
    };
    c_leg.send_to(in_dialog("ACK", 1, "z9hG4bK-demo-axe-2").as_bytes(), switch)?;
    recv_until(b_leg, |m| is_request(m, "ACK"))?;
    c_leg.send_to(in_dialog("BYE", 2, "z9hG4bK-demo-axe-3").as_bytes(), switch)?;
    let (bye, _, from) = recv_until(b_leg, |m| is_request(m, "BYE"))?;
    let bye = bye.as_request().ok_or("not a request")?;
    b_leg.send_to(&Response::for_request(bye, 200).build().to_bytes(), from)?;
    recv_until(&c_leg, |m| is_final(m, "BYE"))?;
    Ok(())
}

/// Prints the call events and the CDR the switch wrote to its durable outbox.
pub(super) fn show_facts(data_dir: &Path) -> DemoResult<()> {
    let store = pn_store::sqlite::SqliteStore::open(data_dir, pn_store::sqlite::SqliteOptions::default())?;
    let facts = store
        .reader()?
        .outbox_query(&pn_store::OutboxFilter::default(), 1000)?;
    let events: Vec<String> = facts
        .iter()
        .filter(|e| e.kind == OutboxKind::CallEvent)
        .filter_map(|e| serde_json::from_str::<serde_json::Value>(&e.payload).ok())
        .filter_map(|v| v["eventType"].as_str().map(str::to_owned))
        .collect();
    println!("\n== what the switch recorded (its durable outbox; pushed to the app's URLs when it has them)");
    println!("   call events: {}", events.join(", "));
    for digits in facts
        .iter()
        .filter(|e| e.kind == OutboxKind::CallEvent)
        .filter_map(|e| serde_json::from_str::<serde_json::Value>(&e.payload).ok())
        .filter(|v| v["eventType"] == "collectInfo")
    {
        println!(
            "   AXE collectInfo digitInfo: {}",
            digits["statusInfo"]["digitInfo"]
        );
    }
    for cdr in facts.iter().filter(|e| e.kind == OutboxKind::Cdr) {
        let v: serde_json::Value = serde_json::from_str(&cdr.payload)?;
        println!(
            "   CDR: {}",
            serde_json::to_string_pretty(&v)?.replace('\n', "\n   ")
        );
    }
    Ok(())
}
