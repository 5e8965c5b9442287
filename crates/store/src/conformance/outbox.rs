//! The outbox contract: order, states, replay, exact counts, the admin filter, retention.

use pn_bindings::{AppId, UnixTime};

use super::Harness;
use crate::{OutboxCounts, OutboxFilter, OutboxKind, OutboxState, Store};

/// `(total, pending, dead)` as a reader sees them; also checks them against a full count of the rows.
fn counts(store: &dyn Store) -> (u64, u64, u64) {
    let mut r = store.reader().unwrap();
    let OutboxCounts { total, pending, dead } = r.outbox_counts().unwrap();
    assert_eq!(r.outbox_count().unwrap(), total);
    let all = r.outbox_query(&OutboxFilter::default(), u32::MAX).unwrap();
    let of = |s: OutboxState| all.iter().filter(|e| e.state == s).count() as u64;
    assert_eq!(
        (all.len() as u64, of(OutboxState::Pending), of(OutboxState::Dead)),
        (total, pending, dead),
        "the trigger-kept counts match the rows"
    );
    (total, pending, dead)
}

/// Marks `ids` in one committed transaction; returns the rows changed.
fn mark(store: &dyn Store, ids: &[u64], state: OutboxState, now: i64) -> u64 {
    let mut tx = store.begin().unwrap();
    let n = tx.mark_outbox(ids, state, UnixTime(now)).unwrap();
    tx.commit().unwrap();
    n
}

fn entry(store: &dyn Store, id: u64) -> crate::OutboxEntry {
    let mut list = store.reader().unwrap().outbox_entries(&[id]).unwrap();
    assert_eq!(list.len(), 1, "entry {id}");
    list.remove(0)
}

/// `n` outbox rows created at `created_at[i]`, committed in one transaction; returns their ids.
fn append_rows(store: &dyn Store, created_at: &[i64]) -> Vec<u64> {
    let mut tx = store.begin().unwrap();
    let ids = created_at
        .iter()
        .map(|&t| {
            tx.append_outbox(OutboxKind::Cdr, AppId(1), "{}", UnixTime(t))
                .unwrap()
        })
        .collect();
    tx.commit().unwrap();
    ids
}

fn pending_ids(store: &dyn Store) -> Vec<u64> {
    let mut r = store.reader().unwrap();
    r.outbox_pending(0, 1000).unwrap().iter().map(|e| e.id).collect()
}

fn purged(by_age: u64, by_cap: u64) -> crate::OutboxPurge {
    crate::OutboxPurge { by_age, by_cap }
}

pub(crate) fn outbox_order_and_mark_delivered(h: &dyn Harness) {
    let store = h.open();
    let kinds = [
        OutboxKind::CallEvent,
        OutboxKind::Cdr,
        OutboxKind::Sms,
        OutboxKind::NumberStatus,
    ];
    let mut tx = store.begin().unwrap();
    let mut ids = Vec::new();
    for (i, kind) in kinds.iter().enumerate() {
        ids.push(
            tx.append_outbox(
                *kind,
                AppId(i as u32 + 1),
                &format!("{{\"i\":{i}}}"),
                UnixTime(i as i64),
            )
            .unwrap(),
        );
    }
    tx.commit().unwrap();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");

    let pending = store.reader().unwrap().outbox_pending(0, 10).unwrap();
    assert_eq!(pending.iter().map(|e| e.id).collect::<Vec<_>>(), ids);
    for (i, e) in pending.iter().enumerate() {
        assert_eq!(e.kind, kinds[i]);
        assert_eq!(e.app, AppId(i as u32 + 1));
        assert_eq!(e.payload, format!("{{\"i\":{i}}}"));
        assert_eq!(e.created_at, UnixTime(i as i64));
        assert_eq!(e.attempts, 0);
        assert_eq!((e.state, e.done_at), (OutboxState::Pending, None));
    }
    assert_eq!(
        store.reader().unwrap().outbox_pending(0, 2).unwrap(),
        pending[..2].to_vec()
    );

    let mut tx = store.begin().unwrap();
    assert_eq!(
        tx.mark_outbox(&[ids[0], ids[3], 12_345], OutboxState::Delivered, UnixTime(50))
            .unwrap(),
        2,
        "the unknown id changes nothing"
    );
    tx.commit().unwrap();
    let left = store.reader().unwrap().outbox_pending(0, 10).unwrap();
    assert_eq!(
        left.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![ids[1], ids[2]]
    );

    // Delivered rows are kept, with their time and one attempt.
    let done = store.reader().unwrap().outbox_entries(&[ids[3], ids[0]]).unwrap();
    assert_eq!(
        done.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![ids[0], ids[3]]
    );
    for e in &done {
        assert_eq!(
            (e.state, e.done_at, e.attempts),
            (OutboxState::Delivered, Some(UnixTime(50)), 1)
        );
    }
    assert_eq!(counts(&*store), (4, 2, 0));

    // Ids are never reused, even after the highest was acknowledged.
    let mut tx = store.begin().unwrap();
    let next = tx
        .append_outbox(OutboxKind::Cdr, AppId(1), "{}", UnixTime(9))
        .unwrap();
    tx.commit().unwrap();
    assert!(next > ids[3]);
}

pub(crate) fn purge_removes_expired_rows_oldest_first_and_stops_at_the_first_young_one(h: &dyn Harness) {
    let store = h.open();
    // Row 4 is young although older rows follow it (a clock step back): the purge stops there.
    let ids = append_rows(&*store, &[100, 101, 102, 500, 103, 501]);
    let mut tx = store.begin().unwrap();
    let step = tx.purge_outbox(UnixTime(200), u64::MAX, 100).unwrap();
    assert_eq!(
        step,
        purged(3, 0),
        "the three expired rows before the first young one"
    );
    tx.commit().unwrap();
    assert_eq!(pending_ids(&*store), ids[3..].to_vec());
    assert_eq!(store.reader().unwrap().outbox_count().unwrap(), 3);
    // Nothing more to do: a second step removes nothing.
    let mut tx = store.begin().unwrap();
    assert_eq!(tx.purge_outbox(UnixTime(200), u64::MAX, 100).unwrap().total(), 0);
    tx.commit().unwrap();
    // Once the young row expires, the one behind it goes too.
    let mut tx = store.begin().unwrap();
    assert_eq!(
        tx.purge_outbox(UnixTime(501), u64::MAX, 100).unwrap(),
        purged(2, 0)
    );
    tx.commit().unwrap();
    assert_eq!(pending_ids(&*store), vec![ids[5]]);
}

pub(crate) fn purge_enforces_the_row_cap_in_bounded_steps(h: &dyn Harness) {
    let store = h.open();
    let ids = append_rows(&*store, &[1, 2, 3, 1000, 1001, 1002, 1003, 1004, 1005, 1006]);
    // Cap 4: six rows must go, three expired (by age) and three young (by cap); two rows per step.
    let mut steps = Vec::new();
    loop {
        let mut tx = store.begin().unwrap();
        let step = tx.purge_outbox(UnixTime(10), 4, 2).unwrap();
        tx.commit().unwrap();
        steps.push(step);
        if step.total() < 2 {
            break;
        }
    }
    assert_eq!(
        steps,
        vec![purged(2, 0), purged(1, 1), purged(0, 2), purged(0, 0)]
    );
    assert_eq!(pending_ids(&*store), ids[6..].to_vec());
    assert_eq!(store.reader().unwrap().outbox_count().unwrap(), 4);
    // A failed (rolled back) purge changes nothing.
    let mut tx = store.begin().unwrap();
    assert_eq!(tx.purge_outbox(UnixTime(i64::MAX), 0, 100).unwrap().total(), 4);
    drop(tx);
    assert_eq!(pending_ids(&*store), ids[6..].to_vec());
}

pub(crate) fn pending_pages_by_after_id_and_skips_done_rows(h: &dyn Harness) {
    let store = h.open();
    let ids = append_rows(&*store, &[1, 2, 3, 4, 5, 6]);
    assert_eq!(mark(&*store, &[ids[1]], OutboxState::Delivered, 10), 1);
    assert_eq!(mark(&*store, &[ids[3]], OutboxState::Dead, 10), 1);
    assert_eq!(mark(&*store, &[ids[4]], OutboxState::NoReceiver, 10), 1);
    let page = |after: u64, limit: u32| -> Vec<u64> {
        let mut r = store.reader().unwrap();
        r.outbox_pending(after, limit)
            .unwrap()
            .iter()
            .map(|e| e.id)
            .collect()
    };
    assert_eq!(page(0, 100), vec![ids[0], ids[2], ids[5]]);
    assert_eq!(page(0, 2), vec![ids[0], ids[2]]);
    assert_eq!(page(ids[2], 2), vec![ids[5]]);
    assert_eq!(page(ids[5], 2), Vec::<u64>::new());
    assert_eq!(counts(&*store), (6, 3, 1));
}

pub(crate) fn a_row_appended_settled_is_never_pending_and_counts_in_its_state(h: &dyn Harness) {
    let store = h.open();
    let mut tx = store.begin().unwrap();
    let pending = tx
        .append_outbox(OutboxKind::Cdr, AppId(1), "{\"p\":1}", UnixTime(7))
        .unwrap();
    let settled = tx
        .append_outbox_in(
            OutboxKind::CallEvent,
            AppId(2),
            "{\"s\":1}",
            OutboxState::NoReceiver,
            UnixTime(8),
        )
        .unwrap();
    tx.commit().unwrap();
    assert!(settled > pending, "ids keep their order");
    assert_eq!(pending_ids(&*store), vec![pending]);
    assert_eq!(counts(&*store), (2, 1, 0));
    let e = entry(&*store, settled);
    assert_eq!(
        (e.kind, e.app, e.payload.as_str(), e.state, e.done_at, e.attempts),
        (
            OutboxKind::CallEvent,
            AppId(2),
            "{\"s\":1}",
            OutboxState::NoReceiver,
            Some(UnixTime(8)),
            0
        )
    );
    assert_eq!(entry(&*store, pending).done_at, None);
    // A settled row is final like a marked one: a later mark to the same state changes nothing.
    assert_eq!(mark(&*store, &[settled], OutboxState::NoReceiver, 9), 0);
    let filter = OutboxFilter {
        state: Some(OutboxState::NoReceiver),
        ..OutboxFilter::default()
    };
    let listed = store.reader().unwrap().outbox_query(&filter, 10).unwrap();
    assert_eq!(listed.iter().map(|e| e.id).collect::<Vec<_>>(), vec![settled]);
}

pub(crate) fn dead_letters_replay_and_the_counts_stay_exact(h: &dyn Harness) {
    let store = h.open();
    let ids = append_rows(&*store, &[1, 2, 3, 4]);
    assert_eq!(counts(&*store), (4, 4, 0));
    assert_eq!(mark(&*store, &ids[..3], OutboxState::Dead, 20), 3);
    assert_eq!(counts(&*store), (4, 1, 3));
    let e = entry(&*store, ids[0]);
    assert_eq!(
        (e.state, e.done_at, e.attempts),
        (OutboxState::Dead, Some(UnixTime(20)), 1)
    );
    // Marking dead again changes nothing (no second attempt counted).
    assert_eq!(mark(&*store, &ids[..1], OutboxState::Dead, 21), 0);
    assert_eq!(entry(&*store, ids[0]).attempts, 1);
    // Pending replays only dead rows: the pending one and a delivered one are left alone.
    assert_eq!(mark(&*store, &[ids[3]], OutboxState::Delivered, 22), 1);
    assert_eq!(
        mark(&*store, &[ids[0], ids[1], ids[3], 999], OutboxState::Pending, 23),
        2
    );
    assert_eq!(counts(&*store), (4, 2, 1));
    let e = entry(&*store, ids[0]);
    assert_eq!((e.state, e.done_at, e.attempts), (OutboxState::Pending, None, 1));
    let e = entry(&*store, ids[3]);
    assert_eq!((e.state, e.done_at), (OutboxState::Delivered, Some(UnixTime(22))));
    // The replayed rows are pending again, in id order.
    let pending: Vec<u64> = store
        .reader()
        .unwrap()
        .outbox_pending(0, 10)
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(pending, vec![ids[0], ids[1]]);
    // A replayed row that dies again counts its second attempt.
    assert_eq!(mark(&*store, &[ids[0]], OutboxState::Dead, 30), 1);
    assert_eq!(entry(&*store, ids[0]).attempts, 2);
    // No receiver: done, but no attempt counted (the one of its earlier dead mark stays).
    assert_eq!(mark(&*store, &[ids[1]], OutboxState::NoReceiver, 31), 1);
    let e = entry(&*store, ids[1]);
    assert_eq!(
        (e.state, e.done_at, e.attempts),
        (OutboxState::NoReceiver, Some(UnixTime(31)), 1)
    );
    assert_eq!(counts(&*store), (4, 0, 2));
    // A rolled-back mark leaves the counts as they were.
    let mut tx = store.begin().unwrap();
    assert_eq!(
        tx.mark_outbox(&ids, OutboxState::Pending, UnixTime(40)).unwrap(),
        2
    );
    assert_eq!(tx.outbox_counts().unwrap().pending, 2);
    drop(tx);
    assert_eq!(counts(&*store), (4, 0, 2));
}

pub(crate) fn purge_keeps_the_per_state_counts_exact(h: &dyn Harness) {
    let store = h.open();
    let ids = append_rows(&*store, &[1, 2, 3, 4, 5, 6]);
    mark(&*store, &[ids[0]], OutboxState::Dead, 10);
    mark(&*store, &[ids[1]], OutboxState::Delivered, 10);
    mark(&*store, &[ids[4]], OutboxState::Dead, 10);
    assert_eq!(counts(&*store), (6, 3, 2));
    // Rows of every state go by age: ids 0..3 (one dead, one delivered, one pending).
    let mut tx = store.begin().unwrap();
    assert_eq!(tx.purge_outbox(UnixTime(4), u64::MAX, 100).unwrap().by_age, 3);
    tx.commit().unwrap();
    assert_eq!(counts(&*store), (3, 2, 1));
    // And by cap.
    let mut tx = store.begin().unwrap();
    assert_eq!(tx.purge_outbox(UnixTime(0), 1, 100).unwrap().by_cap, 2);
    tx.commit().unwrap();
    assert_eq!(counts(&*store), (1, 1, 0));
}

pub(crate) fn query_filters_by_state_kind_app_and_time_and_pages(h: &dyn Harness) {
    let store = h.open();
    let rows = [
        (OutboxKind::Cdr, 1, 100),
        (OutboxKind::CallEvent, 1, 101),
        (OutboxKind::Cdr, 2, 102),
        (OutboxKind::Cdr, 1, 103),
        (OutboxKind::Sms, 1, 104),
        (OutboxKind::Cdr, 1, 105),
    ];
    let mut tx = store.begin().unwrap();
    let ids: Vec<u64> = rows
        .iter()
        .map(|&(kind, app, t)| {
            tx.append_outbox(kind, AppId(app), &format!("{{\"t\":{t}}}"), UnixTime(t))
                .unwrap()
        })
        .collect();
    tx.commit().unwrap();
    mark(&*store, &[ids[0], ids[2]], OutboxState::Dead, 200);
    mark(&*store, &[ids[3]], OutboxState::Delivered, 200);
    let q = |f: OutboxFilter, limit: u32| -> Vec<u64> {
        let mut r = store.reader().unwrap();
        r.outbox_query(&f, limit).unwrap().iter().map(|e| e.id).collect()
    };
    assert_eq!(q(OutboxFilter::default(), 100), ids);
    let cdr1 = OutboxFilter {
        kind: Some(OutboxKind::Cdr),
        app: Some(AppId(1)),
        ..OutboxFilter::default()
    };
    assert_eq!(q(cdr1.clone(), 100), vec![ids[0], ids[3], ids[5]]);
    // Time range, both ends inclusive.
    let ranged = OutboxFilter {
        created_from: Some(UnixTime(103)),
        created_to: Some(UnixTime(105)),
        ..cdr1.clone()
    };
    assert_eq!(q(ranged.clone(), 100), vec![ids[3], ids[5]]);
    let ranged = OutboxFilter {
        created_from: Some(UnixTime(100)),
        created_to: Some(UnixTime(103)),
        ..cdr1.clone()
    };
    assert_eq!(q(ranged, 100), vec![ids[0], ids[3]]);
    // State.
    let dead = OutboxFilter {
        state: Some(OutboxState::Dead),
        ..OutboxFilter::default()
    };
    assert_eq!(q(dead.clone(), 100), vec![ids[0], ids[2]]);
    let dead1 = OutboxFilter {
        app: Some(AppId(1)),
        ..dead
    };
    assert_eq!(q(dead1, 100), vec![ids[0]]);
    // Paging: limit, then after the last id.
    assert_eq!(q(cdr1.clone(), 2), vec![ids[0], ids[3]]);
    let next = OutboxFilter {
        after_id: ids[3],
        ..cdr1
    };
    assert_eq!(q(next, 2), vec![ids[5]]);
    // The entries carry everything.
    let e = entry(&*store, ids[2]);
    assert_eq!(
        (e.kind, e.app, e.payload.as_str(), e.created_at, e.state),
        (
            OutboxKind::Cdr,
            AppId(2),
            "{\"t\":102}",
            UnixTime(102),
            OutboxState::Dead
        )
    );
    // outbox_entries: id order, each once, missing ids skipped.
    let got: Vec<u64> = store
        .reader()
        .unwrap()
        .outbox_entries(&[ids[4], 12_345, ids[1], ids[4]])
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(got, vec![ids[1], ids[4]]);
}

pub(crate) fn marks_of_more_ids_than_one_statement_takes_change_every_row_once(h: &dyn Harness) {
    let store = h.open();
    let mut tx = store.begin().unwrap();
    let ids: Vec<u64> = (0..5_000)
        .map(|i| {
            tx.append_outbox(
                OutboxKind::CallEvent,
                AppId(1),
                &format!("{{\"i\":{i}}}"),
                UnixTime(1),
            )
            .unwrap()
        })
        .collect();
    tx.commit().unwrap();
    // Every other id delivered (two chunks), then all of them: only the rest change the second time.
    let half: Vec<u64> = ids.iter().copied().step_by(2).collect();
    assert_eq!(mark(&*store, &half, OutboxState::Delivered, 5), 2_500);
    assert_eq!(counts(&*store), (5_000, 2_500, 0));
    let mut all = ids.clone();
    all.push(999_999);
    assert_eq!(mark(&*store, &all, OutboxState::Delivered, 6), 2_500);
    assert_eq!(counts(&*store), (5_000, 0, 0));
    assert_eq!(entry(&*store, ids[1]).state, OutboxState::Delivered);
}
