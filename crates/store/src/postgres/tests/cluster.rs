//! Cluster-wide jobs on one database shared by two or three stores (nodes `n1`, `n2`, `n3`): outbox
//! ownership, the takeover of a dead node's pending entries, leadership.

use std::time::{Duration, Instant};

use pn_bindings::{AppId, UnixTime};

use super::raw;
use crate::conformance::PgHarness;
use crate::postgres::{PgOptions, PgStore};
use crate::{OutboxKind, OutboxState, Store};

/// A store of node `node` on `h`'s database.
fn node(h: &PgHarness, node: &str) -> PgStore {
    PgStore::open(&PgOptions {
        node: node.to_owned(),
        ..h.options()
    })
    .unwrap()
}

/// `store`'s heartbeat, announcing `http://<node>.test:8080`.
fn beat(store: &PgStore) {
    let url = format!("http://{}.test:8080", store.node().unwrap());
    store.heartbeat(&url).unwrap();
}

/// Appends `n` call events through `store`; returns their ids.
fn append(store: &PgStore, n: usize) -> Vec<u64> {
    let mut tx = store.begin().unwrap();
    let ids = (0..n)
        .map(|i| {
            tx.append_outbox(
                OutboxKind::CallEvent,
                AppId(1),
                &format!("{{\"i\":{i}}}"),
                UnixTime(100),
            )
            .unwrap()
        })
        .collect();
    tx.commit().unwrap();
    ids
}

/// The ids `store` reads as pending.
fn pending(store: &PgStore) -> Vec<u64> {
    store
        .reader()
        .unwrap()
        .outbox_pending(0, 10_000)
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect()
}

/// Makes `node`'s last heartbeat `secs` older (the database's clock is the only clock of the lease).
fn age(h: &PgHarness, node: &str, secs: i64) {
    let n = raw(h)
        .execute(
            "UPDATE pn_nodes SET seen_at = seen_at - $2 WHERE node = $1",
            &[&node, &secs],
        )
        .unwrap();
    assert_eq!(n, 1, "{node} has a heartbeat row");
}

#[test]
fn each_node_reads_only_its_own_pending_entries_and_unowned_ones() {
    let h = PgHarness::new();
    let (n1, n2) = (node(&h, "n1"), node(&h, "n2"));
    let unowned = append(&PgStore::open(&h.options()).unwrap(), 2);
    let of_n1 = append(&n1, 3);
    let of_n2 = append(&n2, 4);
    assert_eq!(pending(&n1), [unowned.clone(), of_n1.clone()].concat());
    assert_eq!(pending(&n2), [unowned.clone(), of_n2.clone()].concat());
    let owners: Vec<Option<String>> = raw(&h)
        .query("SELECT owner FROM outbox ORDER BY id", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut expected = vec![None, None];
    expected.extend(std::iter::repeat_n(Some("n1".to_owned()), 3));
    expected.extend(std::iter::repeat_n(Some("n2".to_owned()), 4));
    assert_eq!(owners, expected);
}

#[test]
fn heartbeats_record_the_node_and_its_api_url() {
    let h = PgHarness::new();
    let n1 = node(&h, "n1");
    assert_eq!(n1.node_api_url("n1").unwrap(), None);
    beat(&n1);
    assert_eq!(n1.node(), Some("n1"));
    assert_eq!(
        n1.node_api_url("n1").unwrap().as_deref(),
        Some("http://n1.test:8080")
    );
    assert_eq!(
        node(&h, "n2").node_api_url("n1").unwrap().as_deref(),
        Some("http://n1.test:8080")
    );
    assert_eq!(n1.node_api_url("n9").unwrap(), None);
}

#[test]
fn a_stale_nodes_pending_entries_are_taken_over_once_its_lease_ended() {
    let h = PgHarness::new();
    let (n1, n2) = (node(&h, "n1"), node(&h, "n2"));
    beat(&n1);
    beat(&n2);
    let of_n1 = append(&n1, 5);
    // One of them already delivered: only pending entries move.
    let mut tx = n1.begin().unwrap();
    tx.mark_outbox(&of_n1[..1], OutboxState::Delivered, UnixTime(101))
        .unwrap();
    tx.commit().unwrap();

    // Within the lease: nothing moves.
    assert_eq!(n2.take_over_outbox(10, 100).unwrap(), 0);
    assert_eq!(pending(&n2), Vec::<u64>::new());

    age(&h, "n1", 11);
    assert_eq!(n2.take_over_outbox(10, 3).unwrap(), 3, "bounded steps");
    assert_eq!(n2.take_over_outbox(10, 3).unwrap(), 1);
    assert_eq!(n2.take_over_outbox(10, 3).unwrap(), 0, "each entry once");
    assert_eq!(pending(&n2), of_n1[1..].to_vec());
    assert_eq!(pending(&n1), Vec::<u64>::new());
    // A node never takes over from itself, however old its own heartbeat.
    age(&h, "n2", 100);
    assert_eq!(n2.take_over_outbox(10, 100).unwrap(), 0);
}

#[test]
fn two_racing_takers_move_each_entry_exactly_once() {
    let h = PgHarness::new();
    let n1 = node(&h, "n1");
    let takers = [node(&h, "n2"), node(&h, "n3")];
    beat(&n1);
    for t in &takers {
        beat(t);
    }
    let of_n1 = append(&n1, 600);
    age(&h, "n1", 60);

    let moved: Vec<u64> = std::thread::scope(|s| {
        let runs: Vec<_> = takers
            .iter()
            .map(|t| {
                s.spawn(move || {
                    let mut total = 0;
                    loop {
                        let step = t.take_over_outbox(10, 7).unwrap();
                        if step == 0 {
                            return total;
                        }
                        total += step;
                    }
                })
            })
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    // A row moved twice would be counted twice: the counts add up to the rows exactly.
    assert_eq!(moved.iter().sum::<u64>(), of_n1.len() as u64, "{moved:?}");
    let (p2, p3) = (pending(&takers[0]), pending(&takers[1]));
    assert_eq!(p2.len() as u64, moved[0]);
    assert_eq!(p3.len() as u64, moved[1]);
    let mut all = [p2, p3].concat();
    all.sort_unstable();
    assert_eq!(all, of_n1);
}

#[test]
fn exactly_one_store_leads_and_the_other_takes_over_when_it_is_gone() {
    let h = PgHarness::new();
    let (n1, n2) = (node(&h, "n1"), node(&h, "n2"));
    assert!(n1.try_lead().unwrap());
    assert!(!n2.try_lead().unwrap());
    // Leading is kept on every try, and still exclusive.
    assert!(n1.try_lead().unwrap());
    assert!(!n2.try_lead().unwrap());

    // The leader's session ends with its store: PostgreSQL frees the lock once the backend has exited.
    drop(n1);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !n2.try_lead().unwrap() {
        assert!(Instant::now() < deadline, "n2 never led after n1 was gone");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!node(&h, "n3").try_lead().unwrap());
}

#[test]
fn a_leader_whose_connection_broke_loses_the_lead_and_retakes_it_on_a_new_one() {
    let h = PgHarness::new();
    let (n1, n2) = (node(&h, "n1"), node(&h, "n2"));
    assert!(n1.try_lead().unwrap());
    // End n1's lock-holding session from outside (what a network cut or a server restart does).
    let killed = raw(&h)
        .query(
            "SELECT pg_terminate_backend(l.pid, 10000) FROM pg_locks l \
             WHERE l.locktype = 'advisory' AND l.granted AND l.database = \
             (SELECT oid FROM pg_database WHERE datname = current_database())",
            &[],
        )
        .unwrap()
        .len();
    assert_eq!(killed, 1);
    // The lock is free: the other node may take it first…
    assert!(n2.try_lead().unwrap());
    assert!(!n1.try_lead().unwrap(), "n1 reconnected but n2 leads now");
    drop(n2);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !n1.try_lead().unwrap() {
        assert!(Instant::now() < deadline, "n1 never led again");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn live_nodes_are_the_other_nodes_seen_within_the_lease() {
    let h = PgHarness::new();
    let (n1, n2, n3) = (node(&h, "n1"), node(&h, "n2"), node(&h, "n3"));
    for n in [&n1, &n2, &n3] {
        beat(n);
    }
    let names = |store: &PgStore| -> Vec<(String, String)> {
        store
            .live_nodes(10)
            .unwrap()
            .into_iter()
            .map(|n| (n.node, n.api_url))
            .collect()
    };
    let url = |n: &str| (n.to_owned(), format!("http://{n}.test:8080"));
    assert_eq!(names(&n1), [url("n2"), url("n3")]);
    assert_eq!(names(&n2), [url("n1"), url("n3")]);
    // n3 silent for longer than the lease: no longer live for anyone.
    age(&h, "n3", 30);
    assert_eq!(names(&n1), [url("n2")]);
    assert_eq!(n3.live_nodes(10).unwrap().len(), 2, "n3 still sees the others");
}

#[test]
fn a_stuck_statement_on_the_jobs_connection_fails_after_its_statement_timeout() {
    let h = PgHarness::new();
    let n1 = PgStore::open(&PgOptions {
        node: "n1".to_owned(),
        jobs_statement_timeout: Some(Duration::from_millis(300)),
        ..h.options()
    })
    .unwrap();
    beat(&n1);
    // Another session holds the row lock of n1's heartbeat row for 8 s: the next heartbeat waits for it
    // (without the timeout it would succeed once the lock is released).
    let (locked, url) = (std::sync::mpsc::channel(), h.url.clone());
    let holder = std::thread::spawn(move || {
        let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        let mut tx = client.transaction().unwrap();
        tx.execute("SELECT 1 FROM pn_nodes WHERE node = 'n1' FOR UPDATE", &[])
            .unwrap();
        locked.0.send(()).unwrap();
        std::thread::sleep(Duration::from_secs(8));
        tx.rollback().unwrap();
    });
    locked.1.recv().unwrap();
    let started = Instant::now();
    let stuck = n1.heartbeat("http://n1.test:8080");
    let waited = started.elapsed();
    assert!(
        stuck.is_err(),
        "the heartbeat waited {waited:?} for the lock and succeeded"
    );
    assert!(waited < Duration::from_secs(5), "{waited:?}");
    holder.join().unwrap();
    // The connection is usable again (a statement timeout does not end the session).
    beat(&n1);
}
