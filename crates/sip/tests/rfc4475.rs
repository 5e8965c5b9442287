//! RFC 4475 torture tests, table-driven over `sip-fixtures/rfc4475/manifest.tsv` and `policy.tsv`.
//!
//! - `valid`: parses, validates, prints, re-parses to an equal message (key headers compared too).
//! - `invalid`: rejected by `SipMessage::parse` or by `validate_request` / `validate_response`, at the
//!   stage (and with the status) listed in `EXPECTED` below.
//! - `either`: may go either way, must not panic.

// Test helpers outside `#[test]` functions may unwrap and panic too.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::collections::HashMap;
use std::path::PathBuf;

use pn_sip::validate::{ValidationPolicy, validate_request, validate_response};
use pn_sip::{SipMessage, Uri};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../sip-fixtures/rfc4475")
}

fn tsv(name: &str) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(dir().join(name)).unwrap();
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split('\t').map(str::to_owned).collect())
        .collect()
}

/// Where each invalid message is stopped: `parse`, or the status `validate_*` answers (0 = dropped response).
const EXPECTED: &[(&str, Stage)] = &[
    ("badinv01", Stage::Status(400)),
    ("clerr", Stage::Parse),
    ("ncl", Stage::Parse),
    ("scalar02", Stage::Status(400)),
    ("scalarlg", Stage::Status(0)),
    ("quotbal", Stage::Status(400)),
    ("ltgtruri", Stage::Parse),
    ("lwsruri", Stage::Parse),
    ("lwsstart", Stage::Parse),
    ("trws", Stage::Parse),
    ("escruri", Stage::Status(400)),
    ("baddate", Stage::Status(400)),
    ("regbadct", Stage::Status(400)),
    ("badaspec", Stage::Status(400)),
    ("baddn", Stage::Parse),
    ("badvers", Stage::Status(505)),
    ("mismatch01", Stage::Status(400)),
    ("mismatch02", Stage::Status(400)),
    ("bigcode", Stage::Parse),
    ("insuf", Stage::Status(400)),
    ("unkscm", Stage::Status(416)),
    ("novelsc", Stage::Status(416)),
    ("unksm2", Stage::Status(400)),
    ("bext01", Stage::Status(420)),
    ("invut", Stage::Status(415)),
    ("multi01", Stage::Status(400)),
    ("mcl01", Stage::Parse),
    ("sdp01", Stage::Status(406)),
    ("test", Stage::Parse),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Parse,
    Status(u16),
    Accepted,
}

fn outcome(bytes: &[u8]) -> Stage {
    let Ok(msg) = SipMessage::parse(bytes) else {
        return Stage::Parse;
    };
    match &msg {
        SipMessage::Request(r) => match validate_request(r, &ValidationPolicy::default()) {
            Ok(()) => Stage::Accepted,
            Err(rejection) => Stage::Status(rejection.status),
        },
        SipMessage::Response(r) => match validate_response(r) {
            Ok(()) => Stage::Accepted,
            Err(_) => Stage::Status(0),
        },
    }
}

fn key_fields(
    m: &SipMessage,
) -> (
    String,
    Vec<String>,
    String,
    String,
    Option<String>,
    Option<String>,
) {
    let h = m.headers();
    let start = match m {
        SipMessage::Request(r) => format!("{} {}", r.method(), r.uri()),
        SipMessage::Response(r) => format!("{} {}", r.status(), r.reason()),
    };
    let vias = h
        .vias()
        .unwrap()
        .iter()
        .map(|v| format!("{}|{}|{:?}|{:?}", v.transport(), v.host(), v.port(), v.branch()))
        .collect();
    let call_id = h.call_id().unwrap().to_owned();
    let cseq = h.cseq().unwrap().to_string();
    let from = h
        .from()
        .ok()
        .map(|f| format!("{:?}|{}|{:?}", f.display_name(), f.uri(), f.tag()));
    let to = h
        .to()
        .ok()
        .map(|t| format!("{:?}|{}|{:?}", t.display_name(), t.uri(), t.tag()));
    (start, vias, call_id, cseq, from, to)
}

#[test]
fn rfc4475_table() {
    let manifest = tsv("manifest.tsv");
    let policy: HashMap<String, Vec<String>> =
        tsv("policy.tsv").into_iter().map(|r| (r[0].clone(), r)).collect();
    let expected: HashMap<&str, Stage> = EXPECTED.iter().copied().collect();
    assert_eq!(manifest.len(), 50, "49 RFC messages + test.dat");
    let mut counts = HashMap::<String, usize>::new();
    for row in &manifest {
        let (name, expectation) = (row[0].as_str(), row[2].as_str());
        let kind = policy[name][1].as_str();
        let bytes = std::fs::read(dir().join(format!("{name}.dat"))).unwrap();
        *counts.entry(expectation.to_owned()).or_default() += 1;
        let got = outcome(&bytes);
        match expectation {
            "valid" => {
                assert_eq!(got, Stage::Accepted, "{name}: valid message refused");
                let msg = SipMessage::parse(&bytes).unwrap();
                assert_eq!(kind == "request", msg.as_request().is_some(), "{name}: kind");
                let printed = msg.to_bytes();
                let again = SipMessage::parse(&printed).unwrap_or_else(|e| {
                    panic!(
                        "{name}: re-print does not parse: {e}\n{}",
                        String::from_utf8_lossy(&printed)
                    )
                });
                assert_eq!(
                    key_fields(&again),
                    key_fields(&msg),
                    "{name}: key headers differ after re-print"
                );
                assert_eq!(again, msg, "{name}: message differs after re-print");
                assert_eq!(again.to_bytes(), printed, "{name}: printing is not stable");
            }
            "invalid" => {
                assert_ne!(got, Stage::Accepted, "{name}: invalid message accepted");
                assert_eq!(
                    Some(&got),
                    expected.get(name),
                    "{name}: rejected at an unexpected stage"
                );
            }
            // Both RFC-allowed outcomes are fine; pin what this stack does so a change is noticed.
            "either" => assert_eq!(
                got,
                Stage::Accepted,
                "{name}: badbranch/inv2543 are accepted (RFC 2543 fallback)"
            ),
            other => panic!("{name}: unknown expectation {other}"),
        }
    }
    assert_eq!(
        (counts["valid"], counts["invalid"], counts["either"]),
        (19, 29, 2)
    );
}

#[test]
fn specific_valid_details() {
    let parse =
        |name: &str| SipMessage::parse(&std::fs::read(dir().join(format!("{name}.dat"))).unwrap()).unwrap();
    // dblreq: the trailing INVITE in the datagram is ignored.
    let m = parse("dblreq");
    assert_eq!(m.as_request().unwrap().method().as_str(), "REGISTER");
    assert!(m.body().is_empty());
    // esc01: escapes kept as written, decodable on demand.
    let m = parse("esc01");
    let uri = m.as_request().unwrap().uri();
    assert_eq!(uri.user(), Some("sips%3Auser%40example.com"));
    assert_eq!(uri.user_unescaped().as_deref(), Some("sips:user@example.com"));
    // esc02: an extension method, not REGISTER.
    let m = parse("esc02");
    assert_eq!(m.as_request().unwrap().method().as_str(), "RE%47IST%45R");
    assert_eq!(
        m.headers().count("Contact"),
        2,
        "C%6Fntact is another header, not Contact"
    );
    // wsinv: folding, compact forms, LWS everywhere.
    let m = parse("wsinv");
    let h = m.headers();
    assert_eq!(h.max_forwards().unwrap(), Some(68));
    assert_eq!(h.cseq().unwrap().seq, 9);
    assert_eq!(h.vias().unwrap().len(), 3);
    assert_eq!(h.vias().unwrap()[2].branch(), Some("z9hG4bK30239"));
    assert_eq!(h.from().unwrap().tag(), Some("98asjd8"));
    assert_eq!(h.from().unwrap().display_name(), Some("J Rosenberg \\\""));
    assert_eq!(h.to().unwrap().tag(), Some("1918181833n"));
    assert_eq!(
        h.get("NewFangledHeader"),
        Some("newfangled value continued newfangled value")
    );
    assert_eq!(h.contacts().unwrap()[0].param("q"), Some("0.33"));
    assert_eq!(m.body().len(), 150);
    // semiuri: the user part holds the semicolon.
    let m = parse("semiuri");
    assert_eq!(
        m.as_request().unwrap().uri().user(),
        Some("user;par=u%40example.net")
    );
    // mpart01: binary body kept byte-exact.
    let m = parse("mpart01");
    assert_eq!(m.body().len(), m.headers().content_length().unwrap().unwrap());
    // unreason / noreason.
    assert_eq!(parse("noreason").as_response().unwrap().reason(), "");
    assert!(
        parse("unreason")
            .as_response()
            .unwrap()
            .reason()
            .starts_with("= 2**3 * 5**2 ")
    );
    // cparam01 vs cparam02: where the parameter belongs.
    let c1 = parse("cparam01").headers().contacts().unwrap().remove(0);
    assert_eq!(
        (c1.has_param("unknownparam"), c1.uri().has_param("unknownparam")),
        (true, false)
    );
    let c2 = parse("cparam02").headers().contacts().unwrap().remove(0);
    assert_eq!(
        (c2.has_param("unknownparam"), c2.uri().has_param("unknownparam")),
        (false, true)
    );
    // regescrt: the escaped header is kept in the Contact URI.
    let c = parse("regescrt").headers().contacts().unwrap().remove(0);
    assert_eq!(c.uri().headers(), Some("Route=%3Csip:sip.example.com%3E"));
    // intmeth: every odd character survives.
    let m = parse("intmeth");
    let uri: &Uri = m.as_request().unwrap().uri();
    assert_eq!(uri.password(), Some("&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"));
    assert_eq!(
        m.headers().from().unwrap().display_name(),
        Some("token1~` token2'+_ token3*%!.-")
    );
}
