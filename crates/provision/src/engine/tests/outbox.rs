//! Outbox states through the engine: marks and replays are group-committed like every write, the three
//! outbox gauges follow every commit (and are true from the start), and the [`OutboxSignal`] wakes the push
//! driver after appends and replays only.

use std::pin::pin;
use std::task::{Context, Poll, Waker};

use super::*;
use crate::engine::OutboxSignal;

/// Whether a wake is waiting (consumes it, as the driver's wait would).
fn woken(signal: &OutboxSignal) -> bool {
    let fut = pin!(signal.notified());
    matches!(fut.poll(&mut Context::from_waker(Waker::noop())), Poll::Ready(()))
}

fn mark(ids: &[u64], state: OutboxState) -> Op {
    Op::MarkOutbox {
        ids: ids.into(),
        state,
    }
}

fn marked(answer: &Answer) -> u64 {
    match answer {
        Ok(Reply::Marked(n)) => *n,
        other => panic!("not a mark: {other:?}"),
    }
}

/// `(pending, rows, dead)` gauges.
fn gauges(r: &Rig) -> (i64, i64, i64) {
    let m = &r.engine.metrics;
    (
        m.outbox_pending.get(),
        m.outbox_rows.get(),
        m.push_dead_letters.get(),
    )
}

fn ids(r: &Rig) -> Vec<u64> {
    let all = r
        .store
        .reader()
        .unwrap()
        .outbox_query(&OutboxFilter::default(), 100)
        .unwrap();
    all.iter().map(|e| e.id).collect()
}

fn state_of(r: &Rig, id: u64) -> OutboxState {
    r.store.reader().unwrap().outbox_entries(&[id]).unwrap()[0].state
}

#[test]
fn rows_nobody_receives_are_appended_settled_without_a_wake() {
    let mut r = rig();
    let signal = r.engine.outbox_signal.clone();
    let settled = |i: usize| OutboxRow {
        state: OutboxState::NoReceiver,
        ..OutboxRow::pending(OutboxKind::CallEvent, AppId(2), format!("{{\"i\":{i}}}"))
    };
    let batch: Vec<OutboxRow> = (0..3).map(settled).collect();
    assert!(run(&mut r.engine, vec![Op::AppendOutbox(batch.into())])[0].is_ok());
    assert!(!woken(&signal), "nothing for the driver to read");
    assert_eq!(gauges(&r), (0, 3, 0));
    assert!(
        ids(&r)
            .iter()
            .all(|&id| state_of(&r, id) == OutboxState::NoReceiver)
    );
    // One pending row among them: one wake.
    let mixed: Vec<OutboxRow> = vec![
        settled(3),
        OutboxRow::pending(OutboxKind::Cdr, AppId(1), "{}".into()),
    ];
    assert!(run(&mut r.engine, vec![Op::AppendOutbox(mixed.into())])[0].is_ok());
    assert!(woken(&signal));
    assert_eq!(gauges(&r), (1, 5, 0));
}

#[test]
fn marks_and_replays_commit_move_the_gauges_and_wake_the_signal() {
    let mut r = rig();
    let signal = r.engine.outbox_signal.clone();
    assert!(!woken(&signal), "nothing appended yet");
    assert!(run(&mut r.engine, vec![rows(4)])[0].is_ok());
    assert!(woken(&signal), "an append wakes the driver");
    assert!(!woken(&signal), "one wake per append, consumed by the wait");
    assert!(!signal.take_rescan(), "an append needs no rescan");
    assert_eq!(gauges(&r), (4, 4, 0));
    let ids = ids(&r);

    // Delivered / dead marks in one batch: counted, not a wake.
    let out = run(
        &mut r.engine,
        vec![
            mark(&ids[..2], OutboxState::Dead),
            mark(&[ids[2]], OutboxState::Delivered),
        ],
    );
    assert_eq!((marked(&out[0]), marked(&out[1])), (2, 1));
    assert_eq!(gauges(&r), (1, 4, 2));
    assert!(!woken(&signal));
    assert_eq!(state_of(&r, ids[2]), OutboxState::Delivered);

    // A replay: only the dead row of the list changes; the driver is woken and told to rescan once.
    let out = run(
        &mut r.engine,
        vec![mark(&[ids[0], ids[2], 999], OutboxState::Pending)],
    );
    assert_eq!(marked(&out[0]), 1);
    assert_eq!(gauges(&r), (2, 4, 1));
    assert!(woken(&signal));
    assert!(signal.take_rescan());
    assert!(!signal.take_rescan(), "the rescan flag is taken once");
    assert_eq!(state_of(&r, ids[0]), OutboxState::Pending);

    // A replay that changes nothing wakes nobody.
    let out = run(&mut r.engine, vec![mark(&[ids[3]], OutboxState::Pending)]);
    assert_eq!(marked(&out[0]), 0);
    assert!(!woken(&signal));
    assert!(!signal.take_rescan());

    // A failed commit: nothing replayed, no wake, gauges unchanged.
    r.fail.store(true, Ordering::SeqCst);
    let out = run(&mut r.engine, vec![mark(&[ids[1]], OutboxState::Pending)]);
    assert!(out[0].is_err());
    r.fail.store(false, Ordering::SeqCst);
    assert_eq!(state_of(&r, ids[1]), OutboxState::Dead);
    assert!(!woken(&signal));
    assert!(!signal.take_rescan());
    assert_eq!(gauges(&r), (2, 4, 1));

    // A purge step moves the gauges, but is no work for the driver.
    let all = super::super::OutboxRetention {
        retention_secs: 0,
        max_rows: 1,
        chunk: 100,
    };
    assert!(run(&mut r.engine, vec![Op::PurgeOutbox(all)])[0].is_ok());
    assert_eq!(gauges(&r), (1, 1, 0));
    assert!(!woken(&signal));
}

#[tokio::test]
async fn the_handle_marks_replays_and_the_gauges_are_true_from_the_start() {
    let dir = tempfile::TempDir::new().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path(), SqliteOptions::default()).unwrap());
    // A previous run left three rows: one delivered, one dead, one pending.
    let ids: Vec<u64> = {
        let mut tx = store.begin().unwrap();
        let ids: Vec<u64> = (0..3)
            .map(|i| {
                tx.append_outbox(OutboxKind::Cdr, AppId(1), "{}", UnixTime(i))
                    .unwrap()
            })
            .collect();
        tx.mark_outbox(&ids[..1], OutboxState::Delivered, UnixTime(5))
            .unwrap();
        tx.mark_outbox(&ids[1..2], OutboxState::Dead, UnixTime(5))
            .unwrap();
        tx.commit().unwrap();
        ids
    };
    let metrics = Metrics::new().unwrap();
    let engine = super::super::Provisioner::start(
        store.clone(),
        Arc::new(BindingTable::new()),
        metrics.clone(),
        EngineConfig::default(),
    )
    .unwrap();
    let g = || {
        (
            metrics.outbox_pending.get(),
            metrics.outbox_rows.get(),
            metrics.push_dead_letters.get(),
        )
    };
    assert_eq!(g(), (1, 3, 1), "set from the store at start");

    // The driver waits before the replay; the replay wakes it with a rescan.
    let signal = engine.outbox_signal();
    let waiter = tokio::spawn({
        let signal = signal.clone();
        async move {
            signal.notified().await;
            signal.take_rescan()
        }
    });
    tokio::task::yield_now().await;
    assert_eq!(engine.replay_outbox(vec![ids[1], ids[0]]).await.unwrap(), 1);
    let rescan = tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
        .await
        .expect("the replay woke the waiter")
        .unwrap();
    assert!(rescan);
    assert_eq!(g(), (2, 3, 0));

    // The driver's marks.
    let n = engine
        .mark_outbox(Arc::from(&ids[1..]), OutboxState::Delivered)
        .await
        .unwrap();
    assert_eq!(n, 2);
    assert_eq!(g(), (0, 3, 0));
    let states: Vec<OutboxState> = store
        .reader()
        .unwrap()
        .outbox_entries(&ids)
        .unwrap()
        .iter()
        .map(|e| e.state)
        .collect();
    assert_eq!(states, [OutboxState::Delivered; 3]);
    assert!(!signal.take_rescan());
}
