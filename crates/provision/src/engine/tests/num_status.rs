//! X-number status pushes (reference §7.2): a status change or a retirement appends one `numStatus` row for
//! the owning app in the command's own transaction, only when the app enabled them and the status changed.

use pn_bindings::NumberStatus;

use super::*;
use crate::engine::admin::{AppPushPatch, RetireNumber, SetNumber, UpdateApp, num_status_body};

fn set(status: NumberStatus, cause: Option<u8>) -> Op {
    Op::SetNumber(SetNumber {
        number: x(),
        status: Some(status),
        cause,
        area_code: None,
        province: None,
    })
}

fn enable(on: bool) -> Op {
    Op::UpdateApp(UpdateApp {
        app_key: "k".into(),
        push: AppPushPatch {
            num_status: Some(on),
            ..AppPushPatch::default()
        },
        ..UpdateApp::default()
    })
}

/// The `NumberStatus` rows' payloads, oldest first.
fn rows(r: &Rig) -> Vec<String> {
    r.store
        .reader()
        .unwrap()
        .outbox_pending(0, 100)
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == OutboxKind::NumberStatus)
        .map(|e| e.payload)
        .collect()
}

#[test]
fn body_has_the_reference_shape() {
    assert_eq!(
        num_status_body(x(), NumberStatus::Unavailable, Some(3)),
        r#"{"eventType":"numStatus","numInfo":[{"number":"+8617010000001","status":"10","cause":"3"}]}"#
    );
    // A cause only with status 10.
    assert_eq!(
        num_status_body(x(), NumberStatus::Paused, Some(3)),
        r#"{"eventType":"numStatus","numInfo":[{"number":"+8617010000001","status":"9"}]}"#
    );
}

#[test]
fn status_changes_push_only_when_enabled_and_changed() {
    let mut r = rig();
    setup(&mut r);
    // Off (the default): no row.
    let out = run(&mut r.engine, vec![set(NumberStatus::Paused, None)]);
    assert!(out[0].is_ok(), "{out:?}");
    assert!(rows(&r).is_empty());

    let out = run(
        &mut r.engine,
        vec![
            enable(true),
            // Unchanged (still paused): no row.
            set(NumberStatus::Paused, None),
            set(NumberStatus::Unavailable, Some(7)),
            set(NumberStatus::FrozenForNewBinds, None),
            set(NumberStatus::Normal, None),
        ],
    );
    assert!(out.iter().all(Result::is_ok), "{out:?}");
    assert_eq!(
        rows(&r),
        [
            num_status_body(x(), NumberStatus::Unavailable, Some(7)),
            num_status_body(x(), NumberStatus::FrozenForNewBinds, None),
            num_status_body(x(), NumberStatus::Normal, None),
        ]
    );
    // A refused change appends nothing (the row is part of the command's transaction).
    let out = run(&mut r.engine, vec![set(NumberStatus::Paused, Some(3))]);
    assert_eq!(out[0].as_ref().unwrap_err().resultcode(), "1010002");
    assert_eq!(rows(&r).len(), 3);
}

#[test]
fn retiring_pushes_unavailable_deleted() {
    let mut r = rig();
    setup(&mut r);
    let retire = || {
        Op::RetireNumber(RetireNumber {
            number: x(),
            force: false,
        })
    };
    let out = run(&mut r.engine, vec![enable(true), retire()]);
    assert!(out.iter().all(Result::is_ok), "{out:?}");
    assert_eq!(
        rows(&r),
        [num_status_body(x(), NumberStatus::Unavailable, Some(1))]
    );
}

#[test]
fn a_failed_commit_keeps_no_row() {
    let mut r = rig();
    setup(&mut r);
    let out = run(&mut r.engine, vec![enable(true)]);
    assert!(out[0].is_ok());
    r.fail.store(true, Ordering::SeqCst);
    let out = run(&mut r.engine, vec![set(NumberStatus::Paused, None)]);
    assert!(out[0].is_err());
    r.fail.store(false, Ordering::SeqCst);
    assert!(rows(&r).is_empty());
}
