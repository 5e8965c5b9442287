//! docs/sip.md's rejection table says what the code does: every row matches `reject_mapping`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test: failing loudly is the point

use pn_b2bua::tables::reject_mapping;
use pn_bindings::Cause;

#[test]
fn documented_rejections_match_the_code() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/sip.md")).unwrap();
    let section = doc
        .split("Rejections (")
        .nth(1)
        .and_then(|rest| rest.split("B-leg failures").next())
        .unwrap();
    let mut checked = 0;
    for line in section.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // | cause | SIP | Q.850 | text |
        let [_, cause, sip, q850, text, _] = cells.as_slice() else {
            continue;
        };
        let Ok(cause) = cause.parse::<u16>() else { continue };
        let Some((status, reason)) = sip.split_once(' ') else {
            continue;
        };
        let Ok(status) = status.parse::<u16>() else {
            continue;
        };
        let m = reject_mapping(Cause(cause));
        assert_eq!(
            (m.status, m.reason, m.q850.to_string().as_str(), m.text),
            (status, reason, *q850, *text),
            "docs/sip.md row for {cause}"
        );
        checked += 1;
    }
    assert!(
        checked >= 17,
        "only {checked} rejection rows found in docs/sip.md"
    );
}
