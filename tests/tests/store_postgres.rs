//! The PostgreSQL backend through the real binary: `pnswitch serve` with `[store] backend = "postgres"` on a
//! throwaway PostgreSQL server (Debian's binaries, a cluster in a temp directory), an app, a number and an
//! AXB binding created through the HTTP API, `kill -9`, a restart on the same database with an EMPTY data
//! directory (so nothing can come from a SQLite file), and the binding is still there and routes a `SIPp`
//! call to B. The restarted node connects over TLS (`[store] tls`, the throwaway server's CA): every one of
//! its connections is encrypted.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test: failing loudly is the point

use std::net::SocketAddr;
use std::time::Duration;

use pn_e2e::sipp::{AXB_PATH, Rig, SipSwitch, ok};
use reqwest::Method;
use serde_json::json;

const A: &str = "+8613800000001";
const B: &str = "+8613900000002";
const X: &str = "+8617000000001";

#[test]
fn a_binding_in_postgresql_survives_kill_9_and_routes_a_call_after_the_restart() {
    let pg = pn_store::postgres::throwaway::server()
        .unwrap_or_else(|e| panic!("throwaway PostgreSQL for the e2e test: {e}"));
    let url = pg.create_database().unwrap();
    let env = [
        ("PNSWITCH__STORE__BACKEND", "postgres"),
        ("PNSWITCH__STORE__URL", url.as_str()),
    ];
    let mut rig = Rig::start(&env);
    let app = rig.switch.app_with_numbers("AXB", &[X]);
    let sub = rig.switch.bind_axb(&app, X, A, B, &json!({"userData": "pg"}));
    let first_data = rig.switch.data_dir.clone();
    assert!(
        !first_data.join("pnswitch.db").exists(),
        "the SQLite database was created although the backend is postgres"
    );

    rig.switch.switch.kill9();
    // The same database, a new empty data directory.
    let second_data = rig.dir.path().join("data-after-restart");
    std::fs::create_dir_all(&second_data).unwrap();
    let egress = SocketAddr::from(([127, 0, 0, 1], rig.uas_port));
    let ca = pg
        .ca_file()
        .unwrap_or_else(|e| panic!("the throwaway server has no TLS: {e}"));
    let ca = ca.to_str().unwrap();
    let tls_env = [
        env[0],
        env[1],
        ("PNSWITCH__STORE__TLS", "true"),
        ("PNSWITCH__STORE__TLS_CA_FILE", ca),
    ];
    rig.switch = SipSwitch::start(&second_data, egress, &tls_env);
    assert!(
        rig.switch.wait_ready(Duration::from_secs(10)),
        "the restarted node never became ready"
    );
    assert!(!second_data.join("pnswitch.db").exists());

    // Every connection of the restarted node (the only pnswitch on this database once the killed node's
    // backends have seen their sockets close) uses TLS.
    let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let (all, encrypted) = loop {
        let row = admin
            .query_one(
                "SELECT count(*), count(*) FILTER (WHERE s.ssl) FROM pg_stat_activity a \
                 JOIN pg_stat_ssl s USING (pid) \
                 WHERE a.datname = current_database() AND a.application_name = 'pnswitch'",
                &[],
            )
            .unwrap();
        let counts: (i64, i64) = (row.get(0), row.get(1));
        if counts.0 == counts.1 || std::time::Instant::now() > deadline {
            break counts;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(all >= 2, "the node's connections: {all}");
    assert_eq!(encrypted, all, "a connection of the node is not encrypted");

    // The binding is found by its subscriptionId, with what was stored.
    let path = format!("{AXB_PATH}?subscriptionId={sub}");
    let got = rig.switch.signed(Method::GET, &path, &app, None);
    let body = ok(&got);
    let text = body.to_string();
    for wanted in [X, A, B, "pg"] {
        assert!(text.contains(wanted), "{wanted} missing from {text}");
    }

    // And it routes: A calls X, B answers.
    let b_side = rig.uas("uas_answer").spawn();
    let a_side = rig.uac("uac_basic").pause_ms(200).inject(&[&[A, X]]).run_ok();
    let b_side = b_side.finish_ok(Duration::from_secs(10));
    assert_eq!(a_side.final_invite_response().status(), Some(200));
    let invite = b_side.first_request("INVITE");
    assert!(
        invite.start_line().contains(&B[3..]),
        "the call did not reach B: {}",
        invite.text
    );
}
