//! The store contract: writes, reads, queries, transactions, savepoints, snapshots, nonces.

use std::sync::mpsc;
use std::time::Duration;

use pn_bindings::{
    AppId, Binding, BindingId, CallbackRecord, Mode, NumberStatus, TempCallee, UnixTime, XNumber,
};

use super::Harness;
use super::fixtures::{app, axb, axe, binding, n, nonce, one_of_each, yb};
use crate::{BindingFilter, OutboxKind, Page, ReadTx, Store, StoreError};

fn put_all(store: &dyn Store, bindings: &[Binding]) {
    let mut tx = store.begin().unwrap();
    for b in bindings {
        tx.put_binding(b).unwrap();
    }
    tx.commit().unwrap();
}

fn ids(list: &[Binding]) -> Vec<u64> {
    list.iter().map(|b| b.id.0).collect()
}

fn all_ids(r: &mut dyn ReadTx) -> Vec<u64> {
    let mut out = Vec::new();
    r.for_each_binding(&mut |b| out.push(b.id.0)).unwrap();
    out
}

/// [`one_of_each`] plus 20 AXB bindings of app 1 (ids 10..30).
fn query_fixture(store: &dyn Store) {
    let mut all = one_of_each();
    // 20 more AXB bindings of app 1 on X 861_000_100, A alternating, some expired at 1_000.
    for id in 10..30_u64 {
        let expires = if id % 4 == 0 { Some(1_000) } else { None };
        all.push(binding(
            id,
            1,
            expires,
            axb(861_000_100, 861_380_100 + id % 2, 861_390_100 + id),
        ));
    }
    put_all(store, &all);
}

fn q(r: &mut dyn ReadTx, f: &BindingFilter, index: u32, size: u32) -> (u64, Vec<u64>) {
    let (total, list) = r.query_bindings(f, Page { index, size }).unwrap();
    (total, ids(&list))
}

pub(crate) fn round_trips_every_model_kind(h: &dyn Harness) {
    let store = h.open();

    let apps = vec![
        app(1, Mode::Axb),
        app(2, Mode::Ax),
        app(3, Mode::Axe),
        app(4, Mode::Axyb),
    ];
    let numbers = vec![
        XNumber {
            number: n(861_000_001),
            app: AppId(1),
            area_code: "0755".into(),
            province: Some("Guangdong".into()),
            status: NumberStatus::Normal,
        },
        XNumber {
            number: n(861_000_002),
            app: AppId(2),
            area_code: "010".into(),
            province: None,
            status: NumberStatus::FrozenForNewBinds,
        },
    ];
    let bindings = one_of_each();
    let callee = TempCallee {
        binding: BindingId(2),
        x: n(861_000_002),
        callee: n(861_370_000),
        expires_at: UnixTime(99),
        user_data: Some("tc".into()),
    };
    let record = CallbackRecord {
        binding: BindingId(3),
        x: n(861_000_003),
        a: n(861_380_003),
        last_caller: n(861_360_000),
        expires_at: None,
    };

    let mut tx = store.begin().unwrap();
    for a in &apps {
        tx.put_app(a).unwrap();
    }
    for num in &numbers {
        tx.put_number(num).unwrap();
    }
    for b in &bindings {
        tx.put_binding(b).unwrap();
    }
    tx.put_temp_callee(&callee).unwrap();
    tx.put_callback_record(&record).unwrap();
    // The writer sees its own uncommitted writes.
    assert_eq!(tx.binding(BindingId(3)).unwrap().as_ref(), Some(&bindings[2]));
    tx.commit().unwrap();

    let mut r = store.reader().unwrap();
    assert_eq!(r.apps().unwrap(), apps);
    assert_eq!(r.app(AppId(3)).unwrap(), Some(apps[2].clone()));
    assert_eq!(r.app(AppId(9)).unwrap(), None);
    assert_eq!(r.app_by_key("key-4").unwrap(), Some(apps[3].clone()));
    assert_eq!(r.app_by_key("nope").unwrap(), None);
    assert_eq!(r.max_app_id().unwrap(), 4);
    assert_eq!(r.numbers(None).unwrap(), numbers);
    assert_eq!(r.numbers(Some(AppId(2))).unwrap(), vec![numbers[1].clone()]);
    assert_eq!(r.number(n(861_000_001)).unwrap(), Some(numbers[0].clone()));
    for b in &bindings {
        assert_eq!(r.binding(b.id).unwrap().as_ref(), Some(b));
        assert_eq!(
            r.binding_by_subscription(&b.subscription_id).unwrap().as_ref(),
            Some(b)
        );
    }
    assert_eq!(r.binding(BindingId(42)).unwrap(), None);
    assert_eq!(r.binding_by_subscription("sub-42").unwrap(), None);
    assert_eq!(r.max_binding_id().unwrap(), 5);
    let mut streamed = Vec::new();
    r.for_each_binding(&mut |b| streamed.push(b)).unwrap();
    assert_eq!(streamed, bindings);
    assert_eq!(r.temp_callee(BindingId(2)).unwrap(), Some(callee.clone()));
    assert_eq!(r.temp_callee(BindingId(1)).unwrap(), None);
    assert_eq!(r.temp_callees().unwrap(), vec![callee]);
    assert_eq!(r.callback_records().unwrap(), vec![record]);
}

pub(crate) fn put_replaces_and_delete_number_removes(h: &dyn Harness) {
    let store = h.open();
    let bindings = one_of_each();
    put_all(&*store, &bindings);
    let numbers: Vec<XNumber> = [
        (861_000_001, NumberStatus::Paused),
        (861_000_002, NumberStatus::Unavailable),
    ]
    .into_iter()
    .map(|(num, status)| XNumber {
        number: n(num),
        app: AppId(1),
        area_code: "0755".into(),
        province: None,
        status,
    })
    .collect();
    let mut tx = store.begin().unwrap();
    for num in &numbers {
        tx.put_number(num).unwrap();
    }
    tx.commit().unwrap();

    let mut changed = bindings[0].clone();
    changed.user_data = None;
    changed.kind = axb(861_000_001, 861_380_009, 861_390_009);
    let mut tx = store.begin().unwrap();
    tx.put_binding(&changed).unwrap();
    tx.delete_number(n(861_000_002)).unwrap();
    tx.commit().unwrap();
    let mut r = store.reader().unwrap();
    assert_eq!(r.binding(BindingId(1)).unwrap(), Some(changed));
    let by_a = BindingFilter {
        a: Some(n(861_380_009)),
        ..BindingFilter::default()
    };
    assert_eq!(
        ids(&r.query_bindings(&by_a, Page { index: 1, size: 10 }).unwrap().1),
        vec![1]
    );
    let old_a = BindingFilter {
        a: Some(n(861_380_001)),
        ..BindingFilter::default()
    };
    assert_eq!(
        r.query_bindings(&old_a, Page { index: 1, size: 10 }).unwrap().0,
        0
    );
    assert_eq!(r.numbers(None).unwrap(), vec![numbers[0].clone()]);
}

pub(crate) fn empty_store_reads(h: &dyn Harness) {
    let store = h.open();
    let mut r = store.reader().unwrap();
    assert_eq!(r.max_app_id().unwrap(), 0);
    assert_eq!(r.max_binding_id().unwrap(), 0);
    assert!(r.apps().unwrap().is_empty());
    assert!(all_ids(r.as_mut()).is_empty());
    assert!(r.outbox_pending(0, 10).unwrap().is_empty());
    let (total, list) = r
        .query_bindings(&BindingFilter::default(), Page { index: 1, size: 10 })
        .unwrap();
    assert_eq!((total, list.len()), (0, 0));
}

pub(crate) fn query_paging_with_totals(h: &dyn Harness) {
    let store = h.open();
    query_fixture(&*store);
    let mut r = store.reader().unwrap();
    let r = r.as_mut();
    let none = BindingFilter::default();

    // Paging over everything, ordered by id, with the total.
    assert_eq!(q(r, &none, 1, 10), (25, vec![1, 2, 3, 4, 5, 10, 11, 12, 13, 14]));
    assert_eq!(q(r, &none, 2, 10), (25, (15..25).collect()));
    assert_eq!(q(r, &none, 3, 10), (25, (25..30).collect()));
    assert_eq!(q(r, &none, 4, 10), (25, vec![]));
    assert_eq!(q(r, &none, 1, 0), (25, vec![]));

    let app1 = BindingFilter {
        app: Some(AppId(1)),
        ..BindingFilter::default()
    };
    assert_eq!(q(r, &app1, 1, 3), (21, vec![1, 10, 11]));
    assert_eq!(q(r, &app1, 7, 3), (21, vec![27, 28, 29]));
}

pub(crate) fn query_filters(h: &dyn Harness) {
    let store = h.open();
    query_fixture(&*store);
    let mut r = store.reader().unwrap();
    let r = r.as_mut();

    let f = BindingFilter {
        mode: Some(Mode::Axyb),
        ..BindingFilter::default()
    };
    assert_eq!(q(r, &f, 1, 10), (2, vec![4, 5]));
    let f = BindingFilter {
        mode: Some(Mode::Axe),
        ..BindingFilter::default()
    };
    assert_eq!(q(r, &f, 1, 10), (1, vec![3]));
    let f = BindingFilter {
        subscription_id: Some("sub-12".into()),
        ..BindingFilter::default()
    };
    assert_eq!(q(r, &f, 1, 10), (1, vec![12]));
    let f = BindingFilter {
        x: Some(n(861_000_004)),
        ..BindingFilter::default()
    };
    assert_eq!(q(r, &f, 1, 10), (2, vec![4, 5]));
    let f = BindingFilter {
        a: Some(n(861_380_004)),
        ..BindingFilter::default()
    };
    assert_eq!(q(r, &f, 1, 10), (2, vec![4, 5]));
    let f = BindingFilter {
        b: Some(n(861_390_005)),
        ..BindingFilter::default()
    };
    assert_eq!(q(r, &f, 1, 10), (1, vec![5]));
    let f = BindingFilter {
        y: Some(n(861_000_005)),
        ..BindingFilter::default()
    };
    assert_eq!(q(r, &f, 1, 10), (1, vec![5]));
    let f = BindingFilter {
        extension: Some("007".into()),
        ..BindingFilter::default()
    };
    assert_eq!(q(r, &f, 1, 10), (1, vec![3]));
    let f = BindingFilter {
        parent: Some(BindingId(4)),
        ..BindingFilter::default()
    };
    assert_eq!(q(r, &f, 1, 10), (1, vec![5]));
    // Party matches A or B.
    let f = BindingFilter {
        party: Some(n(861_390_001)),
        ..BindingFilter::default()
    };
    assert_eq!(q(r, &f, 1, 10), (1, vec![1]));
    let f = BindingFilter {
        party: Some(n(861_380_001)),
        ..BindingFilter::default()
    };
    assert_eq!(q(r, &f, 1, 10), (1, vec![1]));
    // With another party: either number, as A or as B.
    let f = BindingFilter {
        x: Some(n(861_000_100)),
        party: Some(n(861_390_110)),
        other_party: Some(n(861_390_113)),
        ..BindingFilter::default()
    };
    assert_eq!(q(r, &f, 1, 10), (2, vec![10, 13]));
    let f = BindingFilter {
        x: Some(n(861_000_100)),
        party: Some(n(861_390_110)),
        other_party: Some(n(861_380_101)),
        ..BindingFilter::default()
    };
    assert_eq!(q(r, &f, 1, 3), (11, vec![10, 11, 13]));
    // Live at 1_000: expiry is exclusive, so expires_at = 1_000 is gone and permanent ones stay.
    let f = BindingFilter {
        live_at: Some(UnixTime(1_000)),
        ..BindingFilter::default()
    };
    let (total, _) = q(r, &f, 1, 100);
    assert_eq!(total, 25 - 1 - 5);
    // Fields combine with AND.
    let f = BindingFilter {
        app: Some(AppId(1)),
        x: Some(n(861_000_100)),
        a: Some(n(861_380_100)),
        live_at: Some(UnixTime(1_000)),
        ..BindingFilter::default()
    };
    assert_eq!(q(r, &f, 1, 3), (5, vec![10, 14, 18]));
    assert_eq!(q(r, &f, 2, 3), (5, vec![22, 26]));
    let f = BindingFilter {
        app: Some(AppId(2)),
        x: Some(n(861_000_100)),
        ..BindingFilter::default()
    };
    assert_eq!(q(r, &f, 1, 10), (0, vec![]));
}

pub(crate) fn savepoint_rollback_keeps_the_rest(h: &dyn Harness) {
    let store = h.open();
    let b = one_of_each();
    let mut tx = store.begin().unwrap();
    tx.put_binding(&b[0]).unwrap();
    tx.savepoint().unwrap();
    tx.put_binding(&b[1]).unwrap();
    tx.put_app(&app(7, Mode::Ax)).unwrap();
    tx.append_outbox(OutboxKind::Cdr, AppId(7), "{}", UnixTime(1))
        .unwrap();
    tx.rollback_savepoint().unwrap();
    assert_eq!(tx.binding(BindingId(2)).unwrap(), None);
    tx.savepoint().unwrap();
    tx.put_binding(&b[2]).unwrap();
    tx.release_savepoint().unwrap();
    // Nested: keep the outer, undo the inner.
    tx.savepoint().unwrap();
    tx.put_binding(&b[3]).unwrap();
    tx.savepoint().unwrap();
    tx.put_binding(&b[4]).unwrap();
    tx.delete_binding(BindingId(1)).unwrap();
    tx.rollback_savepoint().unwrap();
    tx.release_savepoint().unwrap();
    // No savepoint left to close.
    assert!(matches!(
        tx.rollback_savepoint(),
        Err(StoreError::Backend { backend, .. }) if backend == h.backend()
    ));
    assert!(matches!(
        tx.release_savepoint(),
        Err(StoreError::Backend { backend, .. }) if backend == h.backend()
    ));
    tx.commit().unwrap();

    let mut r = store.reader().unwrap();
    assert_eq!(all_ids(r.as_mut()), vec![1, 3, 4]);
    assert_eq!(r.app(AppId(7)).unwrap(), None);
    assert!(r.outbox_pending(0, 10).unwrap().is_empty());
}

pub(crate) fn commit_with_open_savepoint_keeps_its_writes(h: &dyn Harness) {
    let store = h.open();
    let b = one_of_each();
    let mut tx = store.begin().unwrap();
    tx.savepoint().unwrap();
    tx.put_binding(&b[0]).unwrap();
    tx.commit().unwrap();
    assert_eq!(all_ids(store.reader().unwrap().as_mut()), vec![1]);
}

pub(crate) fn dropped_transaction_leaves_nothing(h: &dyn Harness) {
    let store = h.open();
    put_all(&*store, &one_of_each()[..1]);
    {
        let mut tx = store.begin().unwrap();
        for b in &one_of_each()[1..] {
            tx.put_binding(b).unwrap();
        }
        tx.delete_binding(BindingId(1)).unwrap();
        tx.put_app(&app(1, Mode::Axb)).unwrap();
        tx.savepoint().unwrap();
        tx.append_outbox(OutboxKind::Sms, AppId(1), "x", UnixTime(5))
            .unwrap();
    }
    let mut r = store.reader().unwrap();
    assert_eq!(all_ids(r.as_mut()), vec![1]);
    assert!(r.apps().unwrap().is_empty());
    assert!(r.outbox_pending(0, 10).unwrap().is_empty());
    drop(r);
    // The writer is usable again after the drop.
    put_all(&*store, &one_of_each()[1..2]);
    assert_eq!(all_ids(store.reader().unwrap().as_mut()), vec![1, 2]);
}

pub(crate) fn reopen_finds_committed_state(h: &dyn Harness) {
    let all = one_of_each();
    {
        let store = h.open();
        put_all(&*store, &all);
        let mut tx = store.begin().unwrap();
        tx.put_app(&app(1, Mode::Axb)).unwrap();
        tx.append_outbox(OutboxKind::CallEvent, AppId(1), "{\"e\":1}", UnixTime(3))
            .unwrap();
        tx.commit().unwrap();
        // An uncommitted write at close is lost.
        let mut tx = store.begin().unwrap();
        tx.put_app(&app(2, Mode::Ax)).unwrap();
        drop(tx);
    }
    // Reopened twice: the migrations already applied are not applied again.
    for _ in 0..2 {
        let store = h.open();
        let mut r = store.reader().unwrap();
        let mut streamed = Vec::new();
        r.for_each_binding(&mut |b| streamed.push(b)).unwrap();
        assert_eq!(streamed, all);
        assert_eq!(r.apps().unwrap(), vec![app(1, Mode::Axb)]);
        assert_eq!(r.outbox_pending(0, 10).unwrap().len(), 1);
    }
}

pub(crate) fn reader_sees_a_consistent_snapshot_while_a_writer_commits(h: &dyn Harness) {
    let store = h.open();
    let all = one_of_each();
    put_all(&*store, &all[..2]);
    // Snapshot pinned at creation, before any query.
    let mut early = store.reader().unwrap();
    let mut tx = store.begin().unwrap();
    tx.put_binding(&all[2]).unwrap();
    tx.delete_binding(BindingId(1)).unwrap();
    // Uncommitted writes are invisible to readers.
    assert_eq!(all_ids(store.reader().unwrap().as_mut()), vec![1, 2]);
    tx.commit().unwrap();
    put_all(&*store, &all[3..]);
    assert_eq!(all_ids(early.as_mut()), vec![1, 2]);
    let (total, _) = early
        .query_bindings(&BindingFilter::default(), Page { index: 1, size: 1 })
        .unwrap();
    assert_eq!(total, 2);
    assert_eq!(early.max_binding_id().unwrap(), 2);
    drop(early);
    // A new reader (reusing the pooled connection) sees the latest commit.
    assert_eq!(all_ids(store.reader().unwrap().as_mut()), vec![2, 3, 4, 5]);
}

pub(crate) fn many_readers_at_once(h: &dyn Harness) {
    let store = h.open();
    put_all(&*store, &one_of_each());
    let mut readers: Vec<_> = (0..5).map(|_| store.reader().unwrap()).collect();
    for r in &mut readers {
        assert_eq!(r.max_binding_id().unwrap(), 5);
    }
    drop(readers);
    // The pooled connections serve new readers.
    let mut readers: Vec<_> = (0..5).map(|_| store.reader().unwrap()).collect();
    for r in &mut readers {
        assert_eq!(all_ids(r.as_mut()), vec![1, 2, 3, 4, 5]);
    }
}

pub(crate) fn second_writer_waits_for_the_first(h: &dyn Harness) {
    let store = h.open();
    let all = one_of_each();
    let (started, wait_started) = mpsc::channel();
    std::thread::scope(|s| {
        let mut tx = store.begin().unwrap();
        tx.put_binding(&all[0]).unwrap();
        let handle = s.spawn(|| {
            started.send(()).unwrap();
            let mut tx2 = store.begin().unwrap();
            // The first transaction committed before this one could begin.
            let seen = tx2.binding(BindingId(1)).unwrap().is_some();
            tx2.put_binding(&all[1]).unwrap();
            tx2.commit().unwrap();
            seen
        });
        wait_started.recv().unwrap();
        std::thread::sleep(Duration::from_millis(50));
        tx.commit().unwrap();
        assert!(handle.join().unwrap());
    });
    assert_eq!(all_ids(store.reader().unwrap().as_mut()), vec![1, 2]);
}

pub(crate) fn delete_binding_removes_dependents(h: &dyn Harness) {
    let store = h.open();
    let mut all = one_of_each();
    all.push(binding(
        6,
        4,
        None,
        yb(4, 861_000_004, 861_380_004, 861_000_006, 861_390_006),
    ));
    all.push(binding(7, 3, None, axe(861_000_003, "008", 861_380_007)));
    put_all(&*store, &all);
    let callee = TempCallee {
        binding: BindingId(2),
        x: n(861_000_002),
        callee: n(861_370_000),
        expires_at: UnixTime(99),
        user_data: None,
    };
    let record = |binding: u64, a: u64| CallbackRecord {
        binding: BindingId(binding),
        x: n(861_000_003),
        a: n(a),
        last_caller: n(861_360_000),
        expires_at: Some(UnixTime(5)),
    };
    let mut tx = store.begin().unwrap();
    tx.put_temp_callee(&callee).unwrap();
    tx.put_callback_record(&record(3, 861_380_003)).unwrap();
    tx.put_callback_record(&record(7, 861_380_007)).unwrap();
    assert!(tx.delete_binding(BindingId(2)).unwrap());
    assert!(tx.delete_binding(BindingId(3)).unwrap());
    assert!(tx.delete_binding(BindingId(4)).unwrap());
    assert!(!tx.delete_binding(BindingId(4)).unwrap());
    assert!(!tx.delete_binding(BindingId(99)).unwrap());
    tx.commit().unwrap();
    let mut r = store.reader().unwrap();
    assert_eq!(all_ids(r.as_mut()), vec![1, 7]);
    assert!(r.temp_callees().unwrap().is_empty());
    assert_eq!(r.callback_records().unwrap(), vec![record(7, 861_380_007)]);
}

pub(crate) fn expired_bindings_oldest_first_with_limit(h: &dyn Harness) {
    let store = h.open();
    let mut all = one_of_each(); // expiries: 1→2000, 3→1000, 5→1500, 2 and 4 permanent
    all.push(binding(
        6,
        1,
        Some(1_000),
        axb(861_000_006, 861_380_006, 861_390_006),
    ));
    put_all(&*store, &all);
    let mut r = store.reader().unwrap();
    let exp = |r: &mut Box<dyn ReadTx + '_>, now: i64, limit: u32| {
        ids(&r.expired_bindings(UnixTime(now), limit).unwrap())
    };
    assert_eq!(exp(&mut r, 999, 10), Vec::<u64>::new());
    assert_eq!(exp(&mut r, 1_000, 10), vec![3, 6]);
    assert_eq!(exp(&mut r, 1_999, 10), vec![3, 6, 5]);
    assert_eq!(exp(&mut r, 5_000, 10), vec![3, 6, 5, 1]);
    assert_eq!(exp(&mut r, 5_000, 2), vec![3, 6]);
    assert_eq!(exp(&mut r, 5_000, 0), Vec::<u64>::new());
}

pub(crate) fn nonces_are_durable_with_their_transaction_and_pruned_by_created(h: &dyn Harness) {
    {
        let store = h.open();
        let mut tx = store.begin().unwrap();
        // A nonce goes in with the write it authenticated, in the same transaction.
        tx.savepoint().unwrap();
        tx.put_app(&app(1, Mode::Axb)).unwrap();
        tx.release_savepoint().unwrap();
        tx.put_nonces(&[
            nonce("k", "n1", 100),
            nonce("k", "n2", 105),
            nonce("k2", "n1", 110),
        ])
        .unwrap();
        // The same row again is kept once.
        tx.put_nonces(&[nonce("k", "n1", 100)]).unwrap();
        tx.commit().unwrap();
        // An uncommitted transaction's nonces are gone with it.
        let mut tx = store.begin().unwrap();
        tx.put_nonces(&[nonce("k", "lost", 120)]).unwrap();
        drop(tx);
    }
    // After a reopen (a restart) they are all there, oldest first.
    let store = h.open();
    let mut r = store.reader().unwrap();
    assert_eq!(
        r.nonces_since(0).unwrap(),
        vec![
            nonce("k", "n1", 100),
            nonce("k", "n2", 105),
            nonce("k2", "n1", 110)
        ]
    );
    assert_eq!(
        r.nonces_since(105).unwrap(),
        vec![nonce("k", "n2", 105), nonce("k2", "n1", 110)]
    );
    drop(r);
    let mut tx = store.begin().unwrap();
    assert_eq!(tx.prune_nonces(105).unwrap(), 1);
    assert_eq!(tx.prune_nonces(105).unwrap(), 0);
    tx.commit().unwrap();
    assert_eq!(
        store.reader().unwrap().nonces_since(i64::MIN).unwrap(),
        vec![nonce("k", "n2", 105), nonce("k2", "n1", 110)]
    );
}

pub(crate) fn check_writable_commits_and_frees_the_writer(h: &dyn Harness) {
    let store = h.open();
    for _ in 0..2 {
        store.check_writable().unwrap();
    }
    // The writer is free again afterwards.
    let mut tx = store.begin().unwrap();
    tx.append_outbox(OutboxKind::Cdr, AppId(1), "{}", UnixTime(1))
        .unwrap();
    tx.commit().unwrap();
    assert_eq!(store.reader().unwrap().outbox_count().unwrap(), 1);
}

pub(crate) fn put_replaces_a_row_holding_the_same_unique_key(h: &dyn Harness) {
    let store = h.open();
    let mut tx = store.begin().unwrap();
    tx.put_app(&app(1, Mode::Axb)).unwrap();
    tx.put_binding(&one_of_each()[0]).unwrap();
    tx.commit().unwrap();
    // Another id with the same app key / subscription id replaces the first row (insert or replace).
    let mut other = app(2, Mode::Ax);
    other.app_key = "key-1".into();
    let mut moved = one_of_each()[1].clone();
    moved.subscription_id = "sub-1".into();
    let mut tx = store.begin().unwrap();
    tx.put_app(&other).unwrap();
    tx.put_binding(&moved).unwrap();
    tx.commit().unwrap();
    let mut r = store.reader().unwrap();
    assert_eq!(r.apps().unwrap(), vec![other.clone()]);
    assert_eq!(r.app_by_key("key-1").unwrap(), Some(other));
    assert_eq!(all_ids(r.as_mut()), vec![2]);
    assert_eq!(r.binding_by_subscription("sub-1").unwrap(), Some(moved));
}

pub(crate) fn for_each_binding_streams_every_binding_of_a_large_table_in_id_order(h: &dyn Harness) {
    let store = h.open();
    // More rows than one fetch of a streaming backend (PostgreSQL fetches 4096 at a time).
    let all: Vec<_> = (1..=9_000_u64)
        .rev()
        .map(|id| binding(id, 1, None, axb(861_000_001, 861_380_000 + id, 861_390_000 + id)))
        .collect();
    put_all(&*store, &all);
    for reader in [store.reader().unwrap(), store.begin().unwrap()] {
        let mut reader = reader;
        assert_eq!(all_ids(reader.as_mut()), (1..=9_000).collect::<Vec<u64>>());
        // Twice in one transaction.
        assert_eq!(all_ids(reader.as_mut()).len(), 9_000);
    }
}
