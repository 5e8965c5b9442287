//! The stateful target: an arbitrary sequence of events fed to a whole `B2bua` through the simulator
//! (pn-test-support): calls placed, time passing, loss, scripted answers from either trunk, in-dialog requests,
//! CANCELs, and mutated copies of what the switch just sent delivered back to it from either side.
//!
//! Invariants: nothing panics; everything the switch sends parses (the simulator checks each message); and
//! once the input is used up and the network is clean again, **every call ends** within the switch's own
//! limits (dialog probes, forward timeout, maximum call duration) with exactly one disconnect event and one
//! CDR, each CDR with its own `sessionId`. A call left up for ever, or a fact lost or doubled, panics.

use std::time::Duration;

use pn_b2bua::{B2buaConfig, CallFact, EventType};
use pn_sip::{Method, Response};
use pn_test_support::sim::{Sim, SimConfig};
use pn_test_support::{FakeRouter, NetworkConfig};

use crate::mutate::{Rng, mutate};

const A_NUM: &str = "+8613800000001";
const X_NUM: &str = "+8617000000000";
const B_NUM: &str = "+8613900000002";
/// Statuses a scripted answer picks from.
const STATUSES: [u16; 12] = [100, 180, 183, 200, 202, 302, 404, 408, 486, 487, 500, 503];
/// In-dialog methods A picks from.
const METHODS: [Method; 6] = [
    Method::Bye,
    Method::Cancel,
    Method::Info,
    Method::Options,
    Method::Update,
    Method::Invite,
];
/// At most this many events per input (each costs a little virtual time at most).
const MAX_EVENTS: usize = 256;

/// Feeds the events `data` encodes to a switch and checks that every call ends with exactly one set of facts.
pub fn b2bua(data: &[u8]) {
    let config = SimConfig {
        net: NetworkConfig {
            latency: Duration::from_millis(5),
            ..NetworkConfig::default()
        },
        b2b: B2buaConfig {
            dialog_probe_secs: 30,
            max_call_secs: 600,
            forward_timeout_secs: 60,
            ..B2buaConfig::default()
        },
        hold: Some(Duration::from_secs(20)),
        ..SimConfig::default()
    };
    let router = FakeRouter::connect(
        pn_numbers::normalize(B_NUM).unwrap(),
        pn_numbers::normalize(X_NUM).unwrap(),
        0,
    );
    let mut sim = Sim::new(router, config);
    let mut bytes = data.iter().copied();
    let mut take = move || bytes.next();
    let mut events = 0;
    while let Some(op) = take() {
        events += 1;
        if events > MAX_EVENTS {
            break;
        }
        let arg = usize::from(take().unwrap_or(0));
        match op % 9 {
            0 => {
                sim.place_call(A_NUM, X_NUM);
            }
            1 => sim.run_for(Duration::from_millis(20 * arg as u64)),
            2 => sim.run_for(Duration::from_secs(arg as u64)),
            3 => {
                let net = sim.net.config();
                sim.net.set_config(NetworkConfig {
                    loss: (arg % 60) as f64 / 100.0,
                    ..net
                });
            }
            // A scripted response to one of the requests the switch sent recently, from where it went.
            4 => {
                let requests: Vec<_> = sim
                    .recent
                    .iter()
                    .filter_map(|(to, m)| m.as_request().map(|r| (*to, r.clone())))
                    .collect();
                if let Some((to, request)) = requests.get(arg % requests.len().max(1)) {
                    let status = STATUSES[usize::from(take().unwrap_or(0)) % STATUSES.len()];
                    let response = Response::for_request(request, status).to_tag("fz").build();
                    sim.inject(*to, &response.to_bytes());
                }
            }
            5 => {
                let calls = sim.a.calls.len();
                if calls > 0 {
                    let method = &METHODS[usize::from(take().unwrap_or(0)) % METHODS.len()];
                    let now = sim.now;
                    sim.a.send(now, arg % calls, method);
                }
            }
            // A mutated copy of something the switch sent, delivered back to it as if from that peer.
            6 | 7 => {
                if let Some((to, message)) = sim.recent.get(arg % sim.recent.len().max(1)).cloned() {
                    let mut rng = Rng(u64::from(take().unwrap_or(0)) << 8 | arg as u64 | 1);
                    let bytes = mutate(&mut rng, &message.to_bytes());
                    sim.inject(to, &bytes);
                }
            }
            _ => {
                // An echo: what the switch sent, back to it unchanged (a looping or confused peer).
                if let Some((to, message)) = sim.recent.back().cloned() {
                    sim.inject(to, &message.to_bytes());
                }
            }
        }
    }
    // The network heals; every call must end within the switch's own limits.
    let net = sim.net.config();
    sim.net.set_config(NetworkConfig { loss: 0.0, ..net });
    let settled = sim.run_until(Duration::from_secs(1200), |s| s.b2b.active_calls() == 0);
    assert!(
        settled,
        "{} call(s) still up 20 virtual minutes after the input ended",
        sim.b2b.active_calls()
    );
    sim.run_for(Duration::from_secs(60));
    let mut sessions: Vec<&str> = sim.cdrs().iter().map(|c| c.session_id.as_str()).collect();
    let cdrs = sessions.len();
    sessions.sort_unstable();
    sessions.dedup();
    assert_eq!(sessions.len(), cdrs, "two CDRs share a sessionId");
    let disconnects = sim
        .facts
        .iter()
        .filter(|f| matches!(f, CallFact::Event(e) if e.event_type == EventType::Disconnect))
        .count();
    assert_eq!(disconnects, cdrs, "disconnect events and CDRs differ");
}
