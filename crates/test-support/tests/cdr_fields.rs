//! The CDR fields beyond the call's own progress (reference §4): `spId`, `appKey`, `icid`, `serviceType`,
//! `extendNum`, `callOutUnaswRsn`, `ttsPlayTimes`/`ttsTransDuration`, with their JSON types; the events' `displayCallerNum`; and the `icid`s'
//! uniqueness across shards and calls made in the same wall second.

#![allow(clippy::unwrap_used, clippy::panic)]

use std::collections::HashSet;

use pn_b2bua::{AppEcho, B2bua, B2buaConfig, CallFact, Cdr, EventType, Shard};
use pn_bindings::{AppId, CollectDigits, Mode, RouteDecision};
use pn_media::PortAllocator;
use pn_test_support::script::*;
use serde_json::Value;

fn echo(mode: Mode) -> AppEcho {
    AppEcho {
        app_key: format!("key-{}", mode.as_str()),
        mode,
    }
}

fn sp_config() -> B2buaConfig {
    B2buaConfig {
        sp_id: "acct-9".into(),
        ..config()
    }
}

/// A→X→B answered, then A hangs up: the CDR as JSON.
fn answered_call(sim: &mut Switch, call_id: &str) -> Value {
    let before = sim.cdrs().len();
    let sent = sim.send_a(a_invite(&format!("z9hG4bK{call_id}-1"), call_id));
    let b_inv = request(&sent[1].1).clone();
    let sent = sim.send_b(b_response(&b_inv, 200, true));
    let ok = response(&sent[0].1).clone();
    sim.send_a(a_ack(&ok, &format!("z9hG4bK{call_id}-2")));
    let sent = sim.send_a(a_in_dialog(
        &pn_sip::Method::Bye,
        &ok,
        11,
        &format!("z9hG4bK{call_id}-3"),
    ));
    let b_bye = request(&sent[1].1).clone();
    sim.send_b(b_response(&b_bye, 200, false));
    let cdrs = sim.cdrs();
    assert_eq!(cdrs.len(), before + 1);
    serde_json::to_value(cdrs[before]).unwrap()
}

#[test]
fn axb_cdr_carries_account_app_icid_and_service_type() {
    let mut router = router(0);
    router.app_echo = Some(echo(Mode::Axb));
    let mut sim = Switch::with_config(router, sp_config());
    let cdr = answered_call(&mut sim, "cdr-axb-1");
    assert_eq!(cdr["spId"], "acct-9");
    assert_eq!(cdr["appKey"], "key-AXB");
    assert_eq!(cdr["serviceType"], "003");
    // Integers are JSON numbers, as §4 types them.
    assert_eq!(cdr["callOutUnaswRsn"], Value::from(0));
    assert_eq!(cdr["ttsPlayTimes"], Value::from(0));
    assert_eq!(cdr["ttsTransDuration"], Value::from(0));
    assert!(cdr.get("extendNum").is_none());
    let icid = cdr["icid"].as_str().unwrap();
    assert!(icid.len() <= 64, "{icid}");
    // `<yyyyMMddHHmmss>-<shard>-<counter>-<host hash>`, made at the call's end (wall 1_700_000_000).
    let parts: Vec<&str> = icid.split('-').collect();
    assert_eq!(parts.len(), 4, "{icid}");
    assert_eq!(parts[0], "20231114221320");
    assert_eq!(parts[1], "3");
    assert_eq!(parts[3].len(), 16);
}

#[test]
fn without_an_app_echo_the_cdr_has_no_app_key_and_the_decisions_mode() {
    let mut router = router(0);
    if let RouteDecision::Connect(c) = &mut router.decision {
        c.mode = Mode::Ax;
    }
    let mut sim = Switch::new(router);
    let cdr = answered_call(&mut sim, "cdr-ax-1");
    assert!(cdr.get("appKey").is_none());
    assert_eq!(cdr["serviceType"], "004");
    assert_eq!(cdr["spId"], "pnswitch");
}

#[test]
fn a_refused_call_of_a_known_app_carries_its_key_and_service_type() {
    let mut router = reject(8022);
    router.app_echo = Some(echo(Mode::Axyb));
    let mut sim = Switch::new(router);
    sim.send_a(a_invite("z9hG4bKr1", "cdr-rej-1"));
    let cdr = serde_json::to_value(sim.cdrs()[0]).unwrap();
    assert_eq!(cdr["ulFailReason"], 8022);
    assert_eq!(cdr["appKey"], "key-AXYB");
    assert_eq!(cdr["serviceType"], "006");
    assert!(cdr["icid"].as_str().is_some_and(|s| !s.is_empty()));
}

#[test]
fn icids_are_unique_across_shards_and_calls_of_one_second() {
    let mut icids = HashSet::new();
    for shard in [0, 1] {
        let mut sim = Switch::new(router(0));
        sim.b2b = B2bua::new(
            config(),
            Shard {
                index: shard,
                count: 2,
            },
        );
        // Two calls per shard, all ending in the same wall second.
        for n in 0..2 {
            let cdr = answered_call(&mut sim, &format!("cdr-u-{shard}-{n}"));
            icids.insert(cdr["icid"].as_str().unwrap().to_owned());
        }
        // And a refused one.
        sim.router.decision = reject(8022).decision;
        sim.send_a(a_invite(
            &format!("z9hG4bKr9-{shard}"),
            &format!("cdr-u-{shard}-r"),
        ));
        let cdrs: Vec<&Cdr> = sim.cdrs();
        assert_eq!(cdrs.len(), 3);
        assert!(cdrs.iter().all(|c| c.call_end_time == sim.wall));
        icids.insert(cdrs[2].icid.clone());
    }
    assert_eq!(icids.len(), 6, "{icids:?}");
    // Another node (another host name) in the same second, same shard and counter: still distinct.
    let mut other = Switch::with_config(
        router(0),
        B2buaConfig {
            host_name: "pn.other".into(),
            ..config()
        },
    );
    other.b2b = B2bua::new(
        B2buaConfig {
            host_name: "pn.other".into(),
            ..config()
        },
        Shard { index: 0, count: 2 },
    );
    let cdr = answered_call(&mut other, "cdr-u-other");
    assert!(icids.insert(cdr["icid"].as_str().unwrap().to_owned()));
}

#[test]
fn axe_cdr_carries_the_extension() {
    let mut router = router(0);
    router.app_echo = Some(echo(Mode::Axe));
    let mut connect = router.decision.clone();
    if let RouteDecision::Connect(c) = &mut connect {
        c.mode = Mode::Axe;
    }
    router.decision = RouteDecision::CollectDigits(CollectDigits {
        x: e164(X_NUM),
        app: AppId(1),
        digits: 4,
        repeat: 2,
    });
    router.extensions.push(("1234".into(), connect));
    let mut sim = Switch::new(router);
    sim.b2b.enable_media_relay(
        "192.0.2.10".parse().unwrap(),
        PortAllocator::new(40_000, 40_099).unwrap(),
    );
    sim.send_a(a_invite("z9hG4bKe1", "cdr-axe-1"));
    let call = sim
        .media
        .iter()
        .find_map(|m| match m {
            pn_b2bua::MediaCommand::Open { call, .. } => Some(*call),
            _ => None,
        })
        .unwrap();
    let mut sent = Vec::new();
    for d in ['1', '2', '3', '4'] {
        sim.b2b.handle_media_event(
            sim.now,
            sim.wall,
            pn_b2bua::MediaEvent::Digit {
                call,
                leg: pn_media::Leg::A,
                digit: d,
            },
            &sim.router,
        );
        sent = sim.drain();
    }
    let b_inv = sent
        .iter()
        .find(|(to, _)| *to == b_peer())
        .map(|(_, m)| request(m).clone())
        .unwrap();
    sim.send_b(b_response(&b_inv, 486, false));
    let cdr = serde_json::to_value(sim.cdrs()[0]).unwrap();
    assert_eq!(cdr["extendNum"], "1234");
    assert_eq!(cdr["serviceType"], "005");
    assert_eq!(cdr["appKey"], "key-AXE");
    assert_eq!(cdr["sipStatusCode"], 486);
}

/// Events (reference §3): `displayCallerNum` once the call is forwarded (X here), not in `callin` (the call
/// is answered without a 180: no `alerting`).
#[test]
fn events_carry_the_display_number_once_the_call_is_forwarded() {
    let mut sim = Switch::new(router(0));
    answered_call(&mut sim, "cdr-ev-1");
    let shown: Vec<(EventType, Option<String>)> = sim
        .facts
        .iter()
        .filter_map(|f| match f {
            CallFact::Event(e) => Some((e.event_type, e.status_info.display_caller_num.clone())),
            CallFact::Cdr(_) | CallFact::Sms(_) => None,
        })
        .collect();
    let x = Some(X_NUM.to_owned());
    assert_eq!(
        shown,
        [
            (EventType::Callin, None),
            (EventType::Callout, x.clone()),
            (EventType::Answer, x.clone()),
            (EventType::Disconnect, x),
        ]
    );
}
