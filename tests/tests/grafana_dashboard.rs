//! The shipped Grafana dashboard (deploy/grafana/pnswitch.json) and alert rules (deploy/pnswitch-alerts.yml)
//! query what the switch exports: after real traffic (an answered `SIPp` call, a refused one, signed pushes to a
//! receiver), every metric name in every query is in the live `/metrics`, and every label a query selects
//! or groups by is a label of that metric. A renamed metric or label fails here instead of leaving an empty
//! panel or an alert that can never fire.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test: failing loudly is the point

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use pn_e2e::receiver::{Receiver, delivered_cdrs, point_app_at};
use pn_e2e::sipp::Rig;
use serde_json::json;

const A: &str = "+8613800000001";
const B: &str = "+8613900000002";
const C: &str = "+8613700000003";
const X: &str = "+8617000000001";

/// Labels Prometheus adds or histograms carry, not the switch's own.
const IMPLICIT_LABELS: &[&str] = &["le", "job", "instance"];

/// Metric name → the label names seen on its series.
fn exported(metrics: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in metrics
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let (name, rest) = match line.find('{') {
            Some(i) => (&line[..i], &line[i + 1..]),
            None => (line.split(' ').next().unwrap_or(""), ""),
        };
        let labels = out.entry(name.to_owned()).or_default();
        let inside = rest.split('}').next().unwrap_or("");
        for pair in inside.split(',').filter(|p| p.contains('=')) {
            labels.insert(pair.split('=').next().unwrap().trim().to_owned());
        }
    }
    out
}

/// The metric names (`pn_…`, `process_…`) an expression reads, and the label names it selects or groups by.
fn references(expr: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut names = BTreeSet::new();
    let mut labels = BTreeSet::new();
    let bytes = expr.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i] as char;
        if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < bytes.len() && ((bytes[i] as char).is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            let word = &expr[start..i];
            if word.starts_with("pn_") || word.starts_with("process_") {
                names.insert(word.to_owned());
            }
            if word == "by" || word == "without" {
                let open = expr[i..].find('(').map(|o| i + o);
                let close = open.and_then(|o| expr[o..].find(')').map(|c| o + c));
                if let (Some(o), Some(c)) = (open, close) {
                    for label in expr[o + 1..c].split(',') {
                        labels.insert(label.trim().to_owned());
                    }
                    i = c + 1;
                }
            }
            // `i` is already past the word: the next character (maybe a `{`) is looked at next.
            continue;
        } else if c == '{' {
            let close = expr[i..].find('}').map_or(bytes.len(), |c| i + c);
            for matcher in expr[i + 1..close].split(',') {
                let key: String = matcher
                    .trim()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !key.is_empty() {
                    labels.insert(key.trim().to_owned());
                }
            }
            i = close;
        } else if c == '"' {
            // Skip string literals (label values).
            i += 1;
            while i < bytes.len() && bytes[i] != b'"' {
                i += 1;
            }
        }
        i += 1;
    }
    (names, labels)
}

fn check(source: &str, expr: &str, live: &BTreeMap<String, BTreeSet<String>>, problems: &mut Vec<String>) {
    let (names, labels) = references(expr);
    let names: Vec<String> = names.into_iter().collect();
    for name in &names {
        if !live.contains_key(name) {
            problems.push(format!("{source}: {name} is not in /metrics ({expr})"));
        }
    }
    for label in labels.iter().filter(|l| !IMPLICIT_LABELS.contains(&l.as_str())) {
        let carried = names
            .iter()
            .any(|n| live.get(n).is_some_and(|l| l.contains(label)));
        if !names.is_empty() && !carried {
            problems.push(format!(
                "{source}: no metric of the query has label {label:?} ({expr})"
            ));
        }
    }
}

#[test]
fn every_dashboard_and_alert_query_reads_exported_metrics_and_labels() {
    let receiver = Receiver::start(&[]);
    let rig = Rig::start(&[]);
    let app = rig.switch.app_with_numbers("AXB", &[X]);
    receiver.add_app(&app.0, &app.1);
    point_app_at(&rig.switch, &app.0, &receiver, Some("/events"), Some("/cdr"));
    rig.switch.bind_axb(&app, X, A, B, &json!({}));
    let b_side = rig.uas("uas_answer").spawn();
    rig.uac("uac_basic").pause_ms(200).inject(&[&[A, X]]).run_ok();
    b_side.finish_ok(Duration::from_secs(10));
    // C is bound to nothing on X: refused (404, 8014).
    let b_side = rig.uas("uas_answer").spawn();
    rig.uac("uac_expect_reject").inject(&[&[C, X]]).run_ok();
    drop(b_side.stop());
    receiver.wait_for("the answered call's CDR", Duration::from_secs(30), |got| {
        !delivered_cdrs(got, "/cdr").is_empty()
    });
    // The delivery states reach the metrics with the driver's next round.
    std::thread::sleep(Duration::from_millis(500));
    let live = exported(&rig.switch.metrics());

    let dashboard: serde_json::Value =
        serde_json::from_str(include_str!("../../deploy/grafana/pnswitch.json")).unwrap();
    let mut problems = Vec::new();
    let mut queries = 0;
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            queries += 1;
            check(&format!("panel {:?}", panel["title"]), expr, &live, &mut problems);
        }
    }
    assert!(queries >= 30, "the dashboard has {queries} queries");
    let alerts = include_str!("../../deploy/pnswitch-alerts.yml");
    let mut rules = 0;
    for line in alerts.lines() {
        if let Some(expr) = line.trim().strip_prefix("expr:") {
            rules += 1;
            // node_exporter's and Prometheus's own series are not the switch's.
            if expr.contains("node_") || expr.contains("up{") {
                continue;
            }
            check("alert", expr.trim(), &live, &mut problems);
        }
    }
    assert!(rules >= 15, "{rules} alert rules");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_query_reader_finds_names_and_labels() {
    let (names, labels) = references(
        r#"sum by (outcome, cause) (rate(pn_sip_calls_total{outcome!="answered", app=~"x"}[5m])) / process_open_fds"#,
    );
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        ["pn_sip_calls_total", "process_open_fds"]
    );
    assert_eq!(
        labels.into_iter().collect::<Vec<_>>(),
        ["app", "cause", "outcome"]
    );
    let live = exported("pn_x_total{kind=\"a\"} 1\nprocess_open_fds 3\n");
    let mut problems = Vec::new();
    check("t", "sum by (kind) (rate(pn_x_total[1m]))", &live, &mut problems);
    assert!(problems.is_empty(), "{problems:?}");
    check(
        "t",
        "sum by (app) (rate(pn_x_total[1m])) + pn_y",
        &live,
        &mut problems,
    );
    assert_eq!(problems.len(), 2, "{problems:?}");
}
