//! The leak probe (issue 3): A's number is injected into every header and body field `SIPp` can set
//! (`uac_leak.xml`: From user and display name, Contact, Call-ID, Via branch, To display, Record-Route,
//! P-Asserted-Identity, P-Preferred-Identity, Remote-Party-ID, Diversion, History-Info, Referred-By, Reply-To,
//! P-Charging-Vector, User-Agent, Subject, Organization, Call-Info, Alert-Info, Warning, Reason, X- and other
//! unknown headers, SDP o=/s=/i=/u=/e=/p= and media-level i=, in the INVITE, the ACK and the BYE), and B's into
//! every field of its 180, 200 and 200-to-BYE (`uas_leak.xml`). A's digits must appear nowhere in what B
//! received, and B's nowhere in what A received; the call itself must still work end to end.
//!
//! The body probe (issue 8, `uac_leak_dialog.xml` / `uas_leak_dialog.xml`) puts each side's digits into every
//! SDP line type RFC 4566 defines (session and media level) and every attribute a softphone, WebRTC gateway or
//! SBC writes (tool, group, label, ssrc cname, mid, msid, ICE, fingerprint, crypto, content, confid, userid,
//! rtcp, unknown ones), into the offers and answers of a whole dialog (A's INVITE, B's 183 and 200, A's
//! re-INVITE, B's UPDATE, and the answers to both) and into DTMF INFO bodies both ways, in relay and bypass
//! mode. Every SDP received must consist of whitelisted lines only and INFO bodies arrive rebuilt. The SIP-I
//! variant (`uac_leak_sip_i.xml`) opens with a multipart/mixed INVITE carrying an ISUP IAM with A's number
//! beside the SDP: the call connects and the ISUP part never crosses.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test: failing loudly is the point
#![allow(clippy::similar_names)] // caller/callee are the domain's names

use pn_e2e::sipp::{Rig, SippRun, Traced, assert_absent, national_digits};
use serde_json::json;

const A: &str = "+8613800000001";
const B: &str = "+8613900000002";
const X: &str = "+8617000000001";

/// Runs the probe with `caller` calling X (bound to `caller` ↔ `callee`); returns (A's run, B's run).
fn probe(caller: &str, callee: &str) -> (pn_e2e::sipp::SippRun, pn_e2e::sipp::SippRun) {
    let rig = Rig::start(&[]);
    let app = rig.switch.app_with_numbers("AXB", &[X]);
    rig.switch.bind_axb(&app, X, A, B, &json!({}));
    let b_side = rig
        .uas("uas_leak")
        .inject(&[&[callee, national_digits(callee)]])
        .spawn();
    let a_side = rig
        .uac("uac_leak")
        .inject(&[&[caller, X, national_digits(caller)]])
        .arg("-cid_str")
        .arg(format!("{}-%u-%p@%s", national_digits(caller)))
        .run_ok();
    let b_side = b_side.finish_ok(std::time::Duration::from_secs(10));
    (a_side, b_side)
}

/// The probe is live: the digits really were in what each side sent (so "absent" below means removed).
fn assert_injected(run: &pn_e2e::sipp::SippRun, digits: &str) {
    let sent: String = run
        .messages()
        .iter()
        .filter(|m| !m.received)
        .map(|m| m.text.clone())
        .collect();
    assert!(
        sent.matches(digits).count() >= 20,
        "{} did not inject {digits} widely:\n{sent}",
        run.label
    );
}

#[test]
fn a_digits_never_reach_b_and_b_digits_never_reach_a() {
    let (a_side, b_side) = probe(A, B);
    assert_injected(&a_side, national_digits(A));
    assert_injected(&b_side, national_digits(B));
    // B got the whole call (INVITE, ACK, BYE) and A the answer.
    for method in ["INVITE", "ACK", "BYE"] {
        assert_eq!(
            b_side.received_requests(method).len(),
            1,
            "B received no {method}"
        );
    }
    assert_absent(&b_side.received_text(), national_digits(A), "what B received");
    assert_absent(&a_side.received_text(), national_digits(B), "what A received");
}

#[test]
fn reverse_direction_b_digits_never_reach_a() {
    // B calls X: the switch calls A; B's digits must not reach A, A's must not reach B.
    let (b_calling, a_answering) = probe(B, A);
    assert_absent(
        &a_answering.received_text(),
        national_digits(B),
        "what A received",
    );
    assert_absent(&b_calling.received_text(), national_digits(A), "what B received");
}

/// The line prefixes an SDP sent by the switch may hold (docs/sip.md, "SDP whitelist").
const SDP_WHITELIST: [&str; 15] = [
    "v=0",
    "o=- ",
    "s=-",
    "c=IN ",
    "t=0 0",
    "m=",
    "a=rtpmap:",
    "a=fmtp:",
    "a=ptime:",
    "a=maxptime:",
    "a=rtcp-mux",
    "a=sendrecv",
    "a=sendonly",
    "a=recvonly",
    "a=inactive",
];

/// Runs the body probe: `caller` calls X (bound to `caller` ↔ `callee`) with `env` overrides, running
/// `uac_scenario`; returns (caller's run, callee's run).
fn body_probe(env: &[(&str, &str)], uac_scenario: &str, caller: &str, callee: &str) -> (SippRun, SippRun) {
    let rig = Rig::start(env);
    let app = rig.switch.app_with_numbers("AXB", &[X]);
    rig.switch.bind_axb(&app, X, A, B, &json!({}));
    let callee_side = rig
        .uas("uas_leak_dialog")
        .inject(&[&[callee, national_digits(callee)]])
        .spawn();
    let caller_side = rig
        .uac(uac_scenario)
        .inject(&[&[caller, X, national_digits(caller)]])
        .timeout_secs(15)
        .run();
    let mut callee_side = callee_side;
    let callee_side = callee_side.wait_for(std::time::Duration::from_secs(10));
    assert!(
        callee_side.status.success() && !callee_side.stopped && caller_side.status.success(),
        "the dialog did not complete on both sides\n{}\n{}",
        caller_side.diagnostics(),
        callee_side.diagnostics()
    );
    (caller_side, callee_side)
}

fn content_type(m: &Traced) -> String {
    m.header("Content-Type").unwrap_or_default().to_ascii_lowercase()
}

/// Every body `run` received: SDP of whitelisted lines only, DTMF bodies exactly as rebuilt, nothing else.
fn assert_bodies_whitelisted(run: &SippRun) {
    let mut sdps = 0;
    let mut infos = 0;
    for m in run.received() {
        let body = m.body().trim();
        let ct = content_type(&m);
        if body.is_empty() {
            continue;
        }
        match ct.as_str() {
            "application/sdp" => {
                sdps += 1;
                for line in body.lines().map(str::trim_end) {
                    assert!(
                        SDP_WHITELIST.iter().any(|p| line.starts_with(p)),
                        "{}: SDP line {line:?} is not whitelisted in\n{}",
                        run.label,
                        m.text
                    );
                }
            }
            "application/dtmf-relay" => {
                infos += 1;
                assert_eq!(
                    body.replace("\r\n", "\n"),
                    "Signal=5\nDuration=160",
                    "{}: INFO body not rebuilt",
                    run.label
                );
            }
            other => panic!("{}: a body of type {other:?} crossed:\n{}", run.label, m.text),
        }
    }
    assert!(sdps >= 3, "{} received only {sdps} SDP bodies", run.label);
    assert_eq!(infos, 1, "{} received {infos} DTMF INFOs", run.label);
}

/// Both sides of a body probe: digits injected widely, none crossed, bodies whitelisted.
fn assert_body_probe(caller_side: &SippRun, callee_side: &SippRun, caller: &str, callee: &str) {
    assert_injected(caller_side, national_digits(caller));
    assert_injected(callee_side, national_digits(callee));
    let invite = callee_side.first_request("INVITE");
    assert_eq!(content_type(&invite), "application/sdp", "{}", invite.text);
    assert_absent(
        &callee_side.received_text(),
        national_digits(caller),
        "what the callee received",
    );
    assert_absent(
        &caller_side.received_text(),
        national_digits(callee),
        "what the caller received",
    );
    assert_bodies_whitelisted(caller_side);
    assert_bodies_whitelisted(callee_side);
}

#[test]
fn sdp_lines_and_info_bodies_never_cross_relay_mode() {
    let (a_side, b_side) = body_probe(&[], "uac_leak_dialog", A, B);
    assert_body_probe(&a_side, &b_side, A, B);
}

#[test]
fn sdp_lines_and_info_bodies_never_cross_bypass_mode() {
    let (a_side, b_side) = body_probe(&[("PNSWITCH__MEDIA__MODE", "bypass")], "uac_leak_dialog", A, B);
    assert_body_probe(&a_side, &b_side, A, B);
    // Bypass keeps each party's own media address and port, by design.
    let invite = b_side.first_request("INVITE");
    assert!(
        invite.body().contains("m=audio 16000 RTP/AVP 0 8 101"),
        "{}",
        invite.text
    );
}

#[test]
fn sdp_lines_and_info_bodies_never_cross_reverse_direction() {
    let (b_side, a_side) = body_probe(&[], "uac_leak_dialog", B, A);
    assert_body_probe(&b_side, &a_side, B, A);
}

#[test]
fn sip_i_multipart_invite_connects_and_its_isup_part_never_crosses() {
    let (a_side, b_side) = body_probe(&[], "uac_leak_sip_i", A, B);
    assert_body_probe(&a_side, &b_side, A, B);
    let invite = b_side.first_request("INVITE");
    assert!(
        !invite.text.contains("isup") && !invite.text.contains("IAM") && !invite.text.contains("boundary"),
        "{}",
        invite.text
    );
    // The switch advertises what it takes, and takes what it advertises.
    let sent = a_side.messages();
    assert!(
        sent.iter()
            .any(|m| !m.received && content_type(m).starts_with("multipart/mixed"))
    );
}
