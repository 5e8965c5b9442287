//! Cluster-wide jobs through two engines on two `PostgreSQL` stores (nodes `n1`, `n2`) over one database:
//! only the leader sweeps, the other takes the lead when the leader is gone, and a dead node's pending
//! outbox entries are taken over once, waking the push driver with a rescan.

use std::time::{Duration, Instant};

use pn_store::postgres::{PgOptions, PgStore, throwaway};

use super::*;
use crate::engine::{EngineHandle, Provisioner};

/// The engine's time of every write (bindings live 60 s from it).
const T0: UnixTime = UnixTime(1_000_000);

/// A fresh database on the throwaway server (whose start uses the sync client: off the test's runtime).
fn database() -> String {
    tokio::task::block_in_place(|| {
        throwaway::server()
            .unwrap_or_else(|e| panic!("throwaway PostgreSQL: {e}"))
            .create_database()
            .unwrap()
    })
}

/// An engine on node `node`'s store of `url`.
fn engine(url: &str, node: &str) -> EngineHandle {
    let store = PgStore::open(&PgOptions {
        url: url.to_owned(),
        node: node.to_owned(),
        ..PgOptions::default()
    })
    .unwrap();
    Provisioner::start(
        Arc::new(store),
        Arc::new(BindingTable::new()),
        Metrics::new().unwrap(),
        EngineConfig::default(),
    )
    .unwrap()
}

/// App `k` with X, through `e`.
async fn setup(e: &EngineHandle) -> App {
    let app = e
        .create_app(
            CreateApp {
                name: "t".into(),
                mode: Mode::Axb,
                app_key: Some("k".into()),
                app_secret: Some("secretsecret".into()),
                call_status_url: None,
                cdr_url: None,
                sms_url: None,
                record_enabled: false,
                sms_enabled: false,
                extension_digits: 4,
                collect_repeat: 3,
                media: crate::engine::admin::AppMediaPatch::default(),
                push: crate::engine::admin::AppPushPatch::default(),
                allow_national_numbers: false,
            },
            T0,
        )
        .await
        .unwrap();
    let import = ImportNumbers {
        app_key: "k".into(),
        entries: vec![NumberImport {
            number: x(),
            area_code: "0755".into(),
            province: None,
        }],
    };
    e.import_numbers(import, T0).await.unwrap();
    app
}

/// Binds `n` pairs on X for 60 s from [`T0`], A numbers from `first`.
async fn bind_expiring(e: &EngineHandle, app: &App, first: u64, n: u64) {
    for i in first..first + n {
        let Op::AxbBind(mut req) = bind(app, &format!("+86138{i:08}"), &format!("+86139{i:08}")) else {
            unreachable!()
        };
        req.duration = Some(60);
        e.axb_bind(req, T0).await.unwrap();
    }
}

/// Bindings in the database, read through a third store.
fn stored_bindings(url: &str) -> u64 {
    let store = PgStore::open(&PgOptions {
        url: url.to_owned(),
        ..PgOptions::default()
    })
    .unwrap();
    let mut reader = store.reader().unwrap();
    let total = reader
        .query_bindings(&BindingFilter::default(), Page { index: 1, size: 1 })
        .unwrap()
        .0;
    // The reader borrows the store: both end here.
    drop(reader);
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_leader_sweeps_and_the_other_leads_once_it_is_gone() {
    let url = database();
    let e1 = engine(&url, "n1");
    let app = setup(&e1).await;
    bind_expiring(&e1, &app, 1, 3).await;
    let e2 = engine(&url, "n2");
    let late = UnixTime(T0.0 + 3600);

    assert!(e1.try_lead().await);
    assert!(!e2.try_lead().await);
    assert_eq!(e1.cluster.metrics.cluster_leader.get(), 1);
    assert_eq!(e2.cluster.metrics.cluster_leader.get(), 0);

    // The non-leader's sweep does nothing, though the bindings are expired.
    assert_eq!(e2.sweep_as_leader(late).await.unwrap(), None);
    assert_eq!(stored_bindings(&url), 3);
    assert_eq!(e1.sweep_as_leader(late).await.unwrap(), Some(3));
    assert_eq!(stored_bindings(&url), 0);
    assert_eq!(e1.sweep_as_leader(late).await.unwrap(), Some(0), "swept once");

    // The leader's engine stops (its store and its session go with it): n2 leads and sweeps.
    bind_expiring(&e1, &app, 10, 2).await;
    assert_eq!(e2.sweep_as_leader(late).await.unwrap(), None);
    drop(e1);
    let deadline = Instant::now() + Duration::from_secs(10);
    let swept = loop {
        if let Some(n) = e2.sweep_as_leader(late).await.unwrap() {
            break n;
        }
        assert!(Instant::now() < deadline, "n2 never led after n1 stopped");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(swept, 2);
    assert_eq!(stored_bindings(&url), 0);
    assert_eq!(e2.cluster.metrics.cluster_leader.get(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_nodes_pending_entries_are_taken_over_once_and_wake_the_driver_with_a_rescan() {
    let url = database();
    let (e1, e2) = (engine(&url, "n1"), engine(&url, "n2"));
    let rows: Vec<crate::engine::OutboxRow> = (0..5)
        .map(|i| crate::engine::OutboxRow::pending(OutboxKind::CallEvent, AppId(1), format!("{{\"i\":{i}}}")))
        .collect();
    e1.append_outbox(rows.into()).await.unwrap();
    e1.cluster.store.heartbeat("http://n1.test").unwrap();
    e2.cluster.store.heartbeat("http://n2.test").unwrap();
    let signal = e2.outbox_signal();
    let _ = signal.take_rescan();

    // n1 is alive: nothing moves, nothing wakes.
    assert_eq!(e2.take_over_outbox(10, 2).await.unwrap(), 0);
    assert!(!signal.take_rescan());

    // The sync client runs a runtime of its own: off this one.
    let aged = tokio::task::block_in_place(|| {
        let mut raw = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        raw.execute(
            "UPDATE pn_nodes SET seen_at = seen_at - 11 WHERE node = 'n1'",
            &[],
        )
        .unwrap()
    });
    assert_eq!(aged, 1);
    assert_eq!(
        e2.take_over_outbox(10, 2).await.unwrap(),
        5,
        "in steps of 2, to the end"
    );
    assert!(signal.take_rescan());
    assert_eq!(e2.cluster.metrics.outbox_taken_over.get(), 5);
    assert_eq!(e2.take_over_outbox(10, 2).await.unwrap(), 0, "once");
    let mine = e2.cluster.store.reader().unwrap().outbox_pending(0, 100).unwrap();
    assert_eq!(mine.len(), 5);
    assert!(
        e1.cluster
            .store
            .reader()
            .unwrap()
            .outbox_pending(0, 100)
            .unwrap()
            .is_empty()
    );
}
