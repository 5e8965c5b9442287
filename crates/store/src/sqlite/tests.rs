//! Tests of the `SQLite` backend against the [`Store`] contract.

use std::sync::mpsc;
use std::time::Duration;

use pn_bindings::{
    App, AppId, AxBinding, AxbBinding, AxeBinding, AxeFallback, AxybBinding, Binding, BindingId, BindingKind,
    CallControls, CallDirection, CallbackRecord, Mode, NumberStatus, PreVoice, RecordSettings, TempCallee,
    TimeUnit, UnixTime, XNumber, YbRelation,
};
use pn_numbers::E164;
use tempfile::TempDir;

use super::{SqliteOptions, SqliteStore};
use crate::{BindingFilter, OutboxKind, Page, ReadTx, SeenNonce, Store, StoreError};

fn n(digits: u64) -> E164 {
    E164::from_digits(digits).unwrap()
}

fn open(dir: &TempDir) -> SqliteStore {
    SqliteStore::open(dir.path(), SqliteOptions::default()).unwrap()
}

fn app(id: u32, mode: Mode) -> App {
    App {
        id: AppId(id),
        name: format!("app {id}"),
        mode,
        app_key: format!("key-{id}"),
        app_secret: "secret".into(),
        call_status_url: Some("http://127.0.0.1/events".into()),
        cdr_url: None,
        sms_url: None,
        record_enabled: true,
        sms_enabled: false,
        extension_digits: 3,
        collect_repeat: 3,
        enabled: true,
        created_at: UnixTime(1_700_000_000),
        media: pn_bindings::AppMedia::default(),
        push: pn_bindings::AppPush::default(),
        controls: pn_bindings::AppControls::default(),
        allow_national_numbers: false,
    }
}

fn controls() -> CallControls {
    CallControls {
        max_duration_min: 30,
        last_min_voice: Some("last.wav".into()),
        private_sms: true,
        pre_voice: PreVoice {
            caller_hint_tone: Some("a.wav".into()),
            callee_hint_tone: None,
        },
    }
}

fn binding(id: u64, app: u32, expires_at: Option<i64>, kind: BindingKind) -> Binding {
    Binding {
        id: BindingId(id),
        subscription_id: format!("sub-{id}"),
        app: AppId(app),
        created_at: UnixTime(1_700_000_000),
        updated_at: UnixTime(1_700_000_001),
        expires_at: expires_at.map(UnixTime),
        duration_secs: expires_at.map(|_| 3600),
        record: RecordSettings {
            record: true,
            hint_tone: Some("rec.wav".into()),
        },
        user_data: Some(format!("user {id}")),
        kind,
    }
}

fn axb(x: u64, a: u64, b: u64) -> BindingKind {
    BindingKind::Axb(AxbBinding {
        x: n(x),
        a: n(a),
        b: n(b),
        direction: CallDirection::AToB,
        controls: controls(),
    })
}

fn ax(x: u64, a: u64) -> BindingKind {
    BindingKind::Ax(AxBinding {
        x: n(x),
        a: n(a),
        direction: CallDirection::Both,
        turn_on: true,
        controls: controls(),
    })
}

fn axe(x: u64, ext: &str, a: u64) -> BindingKind {
    BindingKind::Axe(AxeBinding {
        x: n(x),
        extension: ext.into(),
        a: n(a),
        fallback: AxeFallback::Forward(n(8_613_900_000_000)),
        time_unit: TimeUnit::Minutes,
        bind_expired_time: Some(10),
        callback_expired_time: None,
    })
}

fn axyb(x: u64, a: u64) -> BindingKind {
    BindingKind::Axyb(AxybBinding {
        x: n(x),
        a: n(a),
        direction: CallDirection::BToA,
        yb_duration_secs: Some(600),
        pre_voice_x: Some("x.wav".into()),
        pre_voice_y: None,
    })
}

fn yb(parent: u64, x: u64, a: u64, y: u64, b: u64) -> BindingKind {
    BindingKind::Yb(YbRelation {
        parent: BindingId(parent),
        x: n(x),
        a: n(a),
        y: n(y),
        b: n(b),
    })
}

/// One binding of every kind, ids 1..=5 (5 is a Y–B relation of 4).
fn one_of_each() -> Vec<Binding> {
    vec![
        binding(1, 1, Some(2_000), axb(861_000_001, 861_380_001, 861_390_001)),
        binding(2, 2, None, ax(861_000_002, 861_380_002)),
        binding(3, 3, Some(1_000), axe(861_000_003, "007", 861_380_003)),
        binding(4, 4, None, axyb(861_000_004, 861_380_004)),
        binding(
            5,
            4,
            Some(1_500),
            yb(4, 861_000_004, 861_380_004, 861_000_005, 861_390_005),
        ),
    ]
}

fn put_all(store: &SqliteStore, bindings: &[Binding]) {
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

#[test]
fn round_trips_every_model_kind() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    assert!(dir.path().join(super::DB_FILE).exists());

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

#[test]
fn put_replaces_and_delete_number_removes() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let bindings = one_of_each();
    put_all(&store, &bindings);
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

#[test]
fn empty_store_reads() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
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

/// [`one_of_each`] plus 20 AXB bindings of app 1 (ids 10..30).
fn query_fixture(store: &SqliteStore) {
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

#[test]
fn query_paging_with_totals() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    query_fixture(&store);
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

#[test]
fn query_filters() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    query_fixture(&store);
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

#[test]
fn savepoint_rollback_keeps_the_rest() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
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
        Err(StoreError::Backend {
            backend: "sqlite",
            ..
        })
    ));
    assert!(matches!(
        tx.release_savepoint(),
        Err(StoreError::Backend {
            backend: "sqlite",
            ..
        })
    ));
    tx.commit().unwrap();

    let mut r = store.reader().unwrap();
    assert_eq!(all_ids(r.as_mut()), vec![1, 3, 4]);
    assert_eq!(r.app(AppId(7)).unwrap(), None);
    assert!(r.outbox_pending(0, 10).unwrap().is_empty());
}

#[test]
fn commit_with_open_savepoint_keeps_its_writes() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let b = one_of_each();
    let mut tx = store.begin().unwrap();
    tx.savepoint().unwrap();
    tx.put_binding(&b[0]).unwrap();
    tx.commit().unwrap();
    assert_eq!(all_ids(store.reader().unwrap().as_mut()), vec![1]);
}

#[test]
fn dropped_transaction_leaves_nothing() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    put_all(&store, &one_of_each()[..1]);
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
    put_all(&store, &one_of_each()[1..2]);
    assert_eq!(all_ids(store.reader().unwrap().as_mut()), vec![1, 2]);
}

#[test]
fn reopen_finds_committed_state_and_migrations_are_idempotent() {
    let dir = TempDir::new().unwrap();
    let all = one_of_each();
    {
        let store = open(&dir);
        put_all(&store, &all);
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
    for _ in 0..2 {
        let store = SqliteStore::open(
            dir.path(),
            SqliteOptions {
                synchronous_full: false,
                read_connections: 1,
                ..SqliteOptions::default()
            },
        )
        .unwrap();
        let mut r = store.reader().unwrap();
        let mut streamed = Vec::new();
        r.for_each_binding(&mut |b| streamed.push(b)).unwrap();
        assert_eq!(streamed, all);
        assert_eq!(r.apps().unwrap(), vec![app(1, Mode::Axb)]);
        assert_eq!(r.outbox_pending(0, 10).unwrap().len(), 1);
        drop(r);
        let raw = rusqlite::Connection::open(store.path()).unwrap();
        let version: u32 = raw
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .unwrap();
        assert_eq!(version, SqliteStore::schema_version());
        let mode: String = raw
            .query_row("PRAGMA journal_mode", [], |row| row.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }
}

#[test]
fn migration_2_gives_old_apps_default_media() {
    // The JSON the migration writes is the model's default.
    let written: pn_bindings::AppMedia = serde_json::from_str(super::schema::MIGRATION_2_APP_MEDIA).unwrap();
    assert_eq!(written, pn_bindings::AppMedia::default());
    assert!(super::schema::MIGRATIONS[1].contains(super::schema::MIGRATION_2_APP_MEDIA));

    // A version-1 database whose app body has no `media`.
    let dir = TempDir::new().unwrap();
    let raw = rusqlite::Connection::open(dir.path().join(super::DB_FILE)).unwrap();
    raw.execute_batch(super::schema::MIGRATIONS[0]).unwrap();
    raw.pragma_update(None, "user_version", 1).unwrap();
    let mut old = serde_json::to_value(app(1, Mode::Axe)).unwrap();
    old.as_object_mut().unwrap().remove("media");
    raw.execute(
        "INSERT INTO apps (id, app_key, body) VALUES (1, 'key-1', ?1)",
        [old.to_string()],
    )
    .unwrap();
    drop(raw);

    let store = open(&dir);
    let mut r = store.reader().unwrap();
    assert_eq!(r.app(AppId(1)).unwrap(), Some(app(1, Mode::Axe)));
    drop(r);
    let raw = rusqlite::Connection::open(store.path()).unwrap();
    let body: String = raw
        .query_row("SELECT body FROM apps WHERE id = 1", [], |row| row.get(0))
        .unwrap();
    assert!(body.contains("\"media\""), "{body}");
    let version: u32 = raw
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .unwrap();
    assert_eq!(version, SqliteStore::schema_version());

    // A changed media setting round-trips.
    let mut custom = app(2, Mode::Axe);
    custom.media.digit_terminator = Some('*');
    custom.media.no_binding_prompt = Some("nb.wav".into());
    custom.media.inband_dtmf = true;
    let mut tx = store.begin().unwrap();
    tx.put_app(&custom).unwrap();
    tx.commit().unwrap();
    assert_eq!(store.reader().unwrap().app(AppId(2)).unwrap(), Some(custom));
}

#[test]
fn migration_6_gives_old_apps_default_controls_and_controls_round_trip() {
    let written: pn_bindings::AppControls =
        serde_json::from_str(super::schema::MIGRATION_6_APP_CONTROLS).unwrap();
    assert_eq!(written, pn_bindings::AppControls::default());
    assert!(super::schema::MIGRATIONS[5].contains(super::schema::MIGRATION_6_APP_CONTROLS));

    // A version-5 database whose app body has no `controls`.
    let dir = TempDir::new().unwrap();
    let raw = rusqlite::Connection::open(dir.path().join(super::DB_FILE)).unwrap();
    for m in &super::schema::MIGRATIONS[..5] {
        raw.execute_batch(m).unwrap();
    }
    raw.pragma_update(None, "user_version", 5).unwrap();
    let mut old = serde_json::to_value(app(1, Mode::Axb)).unwrap();
    old.as_object_mut().unwrap().remove("controls");
    raw.execute(
        "INSERT INTO apps (id, app_key, body) VALUES (1, 'key-1', ?1)",
        [old.to_string()],
    )
    .unwrap();
    drop(raw);

    let store = open(&dir);
    assert_eq!(
        store.reader().unwrap().app(AppId(1)).unwrap(),
        Some(app(1, Mode::Axb))
    );
    let raw = rusqlite::Connection::open(store.path()).unwrap();
    let body: String = raw
        .query_row("SELECT body FROM apps WHERE id = 1", [], |row| row.get(0))
        .unwrap();
    assert!(body.contains("\"controls\""), "{body}");

    let mut custom = app(2, Mode::Axb);
    custom.controls = serde_json::from_str(
        r#"{"callerBlacklist":{"numbers":["+8613800000001"],"prefixes":["+86136"]},
            "limits":[{"key":"caller","windowSecs":60,"max":3}],"internationalOut":false}"#,
    )
    .unwrap();
    let mut tx = store.begin().unwrap();
    tx.put_app(&custom).unwrap();
    tx.commit().unwrap();
    assert_eq!(store.reader().unwrap().app(AppId(2)).unwrap(), Some(custom));
}

#[test]
fn migration_7_gives_old_apps_allow_national_numbers_false_and_it_round_trips() {
    // A version-6 database whose app body has no `allow_national_numbers`.
    let dir = TempDir::new().unwrap();
    let raw = rusqlite::Connection::open(dir.path().join(super::DB_FILE)).unwrap();
    for m in &super::schema::MIGRATIONS[..6] {
        raw.execute_batch(m).unwrap();
    }
    raw.pragma_update(None, "user_version", 6).unwrap();
    let mut old = serde_json::to_value(app(1, Mode::Axb)).unwrap();
    old.as_object_mut().unwrap().remove("allow_national_numbers");
    raw.execute(
        "INSERT INTO apps (id, app_key, body) VALUES (1, 'key-1', ?1)",
        [old.to_string()],
    )
    .unwrap();
    drop(raw);

    let store = open(&dir);
    assert_eq!(
        store.reader().unwrap().app(AppId(1)).unwrap(),
        Some(app(1, Mode::Axb))
    );
    let raw = rusqlite::Connection::open(store.path()).unwrap();
    let body: String = raw
        .query_row("SELECT body FROM apps WHERE id = 1", [], |row| row.get(0))
        .unwrap();
    assert!(body.contains("\"allow_national_numbers\":false"), "{body}");

    let mut national = app(2, Mode::Axb);
    national.allow_national_numbers = true;
    let mut tx = store.begin().unwrap();
    tx.put_app(&national).unwrap();
    tx.commit().unwrap();
    drop(store);
    // Reopening (migrations already applied) keeps the stored value.
    let store = open(&dir);
    assert_eq!(store.reader().unwrap().app(AppId(2)).unwrap(), Some(national));
}

#[test]
fn newer_schema_is_refused() {
    let dir = TempDir::new().unwrap();
    drop(open(&dir));
    let raw = rusqlite::Connection::open(dir.path().join(super::DB_FILE)).unwrap();
    raw.pragma_update(None, "user_version", 99).unwrap();
    drop(raw);
    let err = SqliteStore::open(dir.path(), SqliteOptions::default()).unwrap_err();
    assert!(
        matches!(err, StoreError::SchemaTooNew { found: 99, supported } if supported == SqliteStore::schema_version()),
        "{err:?}"
    );
}

#[test]
fn reader_sees_a_consistent_snapshot_while_a_writer_commits() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let all = one_of_each();
    put_all(&store, &all[..2]);
    // Snapshot pinned at creation, before any query.
    let mut early = store.reader().unwrap();
    let mut tx = store.begin().unwrap();
    tx.put_binding(&all[2]).unwrap();
    tx.delete_binding(BindingId(1)).unwrap();
    // Uncommitted writes are invisible to readers.
    assert_eq!(all_ids(store.reader().unwrap().as_mut()), vec![1, 2]);
    tx.commit().unwrap();
    put_all(&store, &all[3..]);
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

#[test]
fn many_readers_at_once() {
    let dir = TempDir::new().unwrap();
    let store = SqliteStore::open(
        dir.path(),
        SqliteOptions {
            synchronous_full: true,
            read_connections: 2,
            ..SqliteOptions::default()
        },
    )
    .unwrap();
    put_all(&store, &one_of_each());
    let mut readers: Vec<_> = (0..5).map(|_| store.reader().unwrap()).collect();
    for r in &mut readers {
        assert_eq!(r.max_binding_id().unwrap(), 5);
    }
    drop(readers);
    assert_eq!(store.readers.lock().len(), 2);
}

#[test]
fn second_writer_waits_for_the_first() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
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

#[test]
fn delete_binding_removes_dependents() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let mut all = one_of_each();
    all.push(binding(
        6,
        4,
        None,
        yb(4, 861_000_004, 861_380_004, 861_000_006, 861_390_006),
    ));
    all.push(binding(7, 3, None, axe(861_000_003, "008", 861_380_007)));
    put_all(&store, &all);
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

#[test]
fn expired_bindings_oldest_first_with_limit() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let mut all = one_of_each(); // expiries: 1→2000, 3→1000, 5→1500, 2 and 4 permanent
    all.push(binding(
        6,
        1,
        Some(1_000),
        axb(861_000_006, 861_380_006, 861_390_006),
    ));
    put_all(&store, &all);
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

fn nonce(app_key: &str, nonce: &str, created: i64) -> SeenNonce {
    SeenNonce {
        app_key: app_key.into(),
        nonce: nonce.into(),
        created,
    }
}

#[test]
fn nonces_are_durable_with_their_transaction_and_pruned_by_created() {
    let dir = TempDir::new().unwrap();
    {
        let store = open(&dir);
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
    let store = open(&dir);
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

#[test]
fn check_writable_commits_a_real_write() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    for _ in 0..2 {
        store.check_writable().unwrap();
    }
    let raw = rusqlite::Connection::open(store.path()).unwrap();
    let writes: i64 = raw
        .query_row("SELECT writes FROM write_probe WHERE id = 1", [], |row| {
            row.get(0)
        })
        .unwrap();
    assert_eq!(writes, 2);
    // The writer is free again afterwards.
    let mut tx = store.begin().unwrap();
    tx.append_outbox(OutboxKind::Cdr, AppId(1), "{}", UnixTime(1))
        .unwrap();
    tx.commit().unwrap();
}
