//! The leak probe (issue 3): A's number is injected into every header and body field `SIPp` can set
//! (`uac_leak.xml`: From user and display name, Contact, Call-ID, Via branch, To display, Record-Route,
//! P-Asserted-Identity, P-Preferred-Identity, Remote-Party-ID, Diversion, History-Info, Referred-By, Reply-To,
//! P-Charging-Vector, User-Agent, Subject, Organization, Call-Info, Alert-Info, Warning, Reason, X- and other
//! unknown headers, SDP o=/s=/i=/u=/e=/p= and media-level i=, in the INVITE, the ACK and the BYE), and B's into
//! every field of its 180, 200 and 200-to-BYE (`uas_leak.xml`). A's digits must appear nowhere in what B
//! received, and B's nowhere in what A received; the call itself must still work end to end.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test: failing loudly is the point
#![allow(clippy::similar_names)] // caller/callee are the domain's names

use pn_e2e::sipp::{Rig, assert_absent, national_digits};
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
