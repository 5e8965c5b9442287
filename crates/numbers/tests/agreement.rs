//! The call path (`classify(normalize(x))`), the metadata path (`validate_with_metadata(x)`) and the API path
//! (`validate(x)`) agree on every corpus entry,
//! and both agree with the entry's label.

use pn_numbers::{E164, NumberKind, classify, normalize, validate, validate_with_metadata};

/// The kind a corpus label stands for (`None` for `invalid`).
fn expected(label: &str) -> Result<Option<NumberKind>, String> {
    match label {
        "mobile" => Ok(Some(NumberKind::Mobile)),
        "special" => Ok(Some(NumberKind::SpecialService)),
        "intl" => Ok(Some(NumberKind::International)),
        "invalid" => Ok(None),
        other => other
            .strip_prefix("fixed:")
            .and_then(|area| area.parse().ok())
            .map(|area_code| Some(NumberKind::FixedLine { area_code }))
            .ok_or_else(|| format!("unknown label {other:?}")),
    }
}

/// `(line number, label, input)` of every entry of `corpus.txt`.
fn corpus() -> Vec<(usize, &'static str, &'static str)> {
    include_str!("corpus.txt")
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty() && !line.starts_with('#'))
        .map(|(i, line)| {
            let mut fields = line.split('\t');
            (i + 1, fields.next().unwrap_or(""), fields.next().unwrap_or(""))
        })
        .collect()
}

#[test]
fn corpus_is_big_enough() {
    let entries = corpus();
    assert!(entries.len() >= 300, "{} entries", entries.len());
    assert!(
        entries.iter().all(|e| !e.2.is_empty() && expected(e.1).is_ok()),
        "malformed corpus line"
    );
    for label in ["mobile", "special", "intl", "invalid"] {
        assert!(entries.iter().filter(|e| e.1 == label).count() >= 20, "{label}");
    }
    assert!(entries.iter().filter(|e| e.1.starts_with("fixed:")).count() >= 100);
}

#[test]
fn call_path_and_api_path_agree() {
    let mut failures = Vec::new();
    for (line, label, input) in corpus() {
        let call = normalize(input).map_or(NumberKind::Invalid, classify);
        let api = validate_with_metadata(input).map(|n| n.kind);
        assert_eq!(
            validate(input).map(|n| n.kind).ok(),
            api.clone().ok(),
            "line {line}: validate and the metadata differ"
        );
        match expected(label) {
            Err(e) => failures.push(format!("line {line}: {e}")),
            Ok(Some(kind)) => {
                if call != kind || api.as_ref().ok() != Some(&kind) {
                    failures.push(format!(
                        "line {line} {input:?}: label {label}, classify {call:?}, validate {api:?}"
                    ));
                }
            }
            Ok(None) => {
                if call != NumberKind::Invalid || api.is_ok() {
                    failures.push(format!(
                        "line {line} {input:?}: label invalid, classify {call:?}, validate {api:?}"
                    ));
                }
            }
        }
        if let (Ok(n), Ok(v)) = (normalize(input), validate(input)) {
            assert_eq!(
                n, v.e164,
                "line {line}: validate must return the normalised number"
            );
        }
    }
    assert!(
        failures.is_empty(),
        "{} disagreements:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A fixed-seed sweep over the whole +86 space, shaped to hit every rule: classify and the metadata agree.
#[test]
fn random_china_numbers_agree() {
    let mut state: u64 = 0x5eed_1234_abcd_ef01;
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        state >> 33
    };
    let mut failures = Vec::new();
    let mut seen = [0usize; 4];
    for _ in 0..4000 {
        let mut len = 3 + (next() % 9) as u32; // 3..=11 national digits
        let lead = match next() % 5 {
            0 => 1 + next() % 9,
            1 => 10 + next() % 90,
            2 => {
                len = 11; // the mobile space, allocated or not
                1300 + next() % 700
            }
            _ => 100 + next() % 900,
        };
        let lead_len = pn_numbers_digits(lead);
        if lead_len > len {
            continue;
        }
        let tail_len = len - lead_len;
        let tail = next() % 10u64.pow(tail_len);
        let nsn = lead * 10u64.pow(tail_len) + tail;
        let e164 = E164::from_digits(86 * 10u64.pow(len) + nsn).unwrap();
        let call = classify(e164);
        let api = validate_with_metadata(&e164.to_string()).map_or(NumberKind::Invalid, |n| n.kind);
        if call != api {
            failures.push(format!("{e164}: classify {call:?}, validate {api:?}"));
        }
        let slot = match call {
            NumberKind::Mobile => 0,
            NumberKind::FixedLine { .. } => 1,
            NumberKind::SpecialService => 2,
            _ => 3,
        };
        seen[slot] += 1;
    }
    assert!(
        failures.is_empty(),
        "{} disagreements:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // The sweep must exercise every kind, not just invalid numbers.
    assert!(
        seen.iter().all(|&n| n >= 100),
        "kinds seen (mobile, fixed, special, invalid): {seen:?}"
    );
}

fn pn_numbers_digits(v: u64) -> u32 {
    v.checked_ilog10().map_or(1, |l| l + 1)
}
