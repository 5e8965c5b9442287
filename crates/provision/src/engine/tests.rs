//! Engine tests that need exact batch boundaries: several commands in one batch, and a failing commit.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use pn_bindings::{
    App, AppId, Binding, BindingId, BindingTable, CallDirection, CallbackRecord, Mode, RecordSettings,
    TempCallee, UnixTime, XNumber,
};
use pn_metrics::Metrics;
use pn_numbers::E164;
use pn_store::sqlite::{SqliteOptions, SqliteStore};
use pn_store::{
    BindingFilter, OutboxCounts, OutboxEntry, OutboxFilter, OutboxKind, OutboxPurge, OutboxState, Page,
    ReadTx, SeenNonce, Store, StoreError, WriteTx,
};
use tokio::sync::oneshot;

use super::admin::{CreateApp, ImportNumbers, NumberImport};
use super::{Answer, Command, Engine, EngineConfig, Op, OutboxRow, Reply, XSelect, axb, ctx};
use crate::ProvisionError;
use crate::nonces::NonceJournal;

/// A store whose commits fail while `fail` is set.
struct Flaky {
    inner: SqliteStore,
    fail: Arc<AtomicBool>,
}

struct FlakyTx<'a> {
    inner: Box<dyn WriteTx + 'a>,
    fail: bool,
}

impl Store for Flaky {
    fn begin(&self) -> Result<Box<dyn WriteTx + '_>, StoreError> {
        Ok(Box::new(FlakyTx {
            inner: self.inner.begin()?,
            fail: self.fail.load(Ordering::SeqCst),
        }))
    }
    fn reader(&self) -> Result<Box<dyn ReadTx + '_>, StoreError> {
        self.inner.reader()
    }
    fn check_writable(&self) -> Result<(), StoreError> {
        self.inner.check_writable()
    }
}

impl ReadTx for FlakyTx<'_> {
    fn apps(&mut self) -> Result<Vec<App>, StoreError> {
        self.inner.apps()
    }
    fn app(&mut self, id: AppId) -> Result<Option<App>, StoreError> {
        self.inner.app(id)
    }
    fn app_by_key(&mut self, k: &str) -> Result<Option<App>, StoreError> {
        self.inner.app_by_key(k)
    }
    fn max_app_id(&mut self) -> Result<u32, StoreError> {
        self.inner.max_app_id()
    }
    fn numbers(&mut self, app: Option<AppId>) -> Result<Vec<XNumber>, StoreError> {
        self.inner.numbers(app)
    }
    fn number(&mut self, n: E164) -> Result<Option<XNumber>, StoreError> {
        self.inner.number(n)
    }
    fn binding(&mut self, id: BindingId) -> Result<Option<Binding>, StoreError> {
        self.inner.binding(id)
    }
    fn binding_by_subscription(&mut self, s: &str) -> Result<Option<Binding>, StoreError> {
        self.inner.binding_by_subscription(s)
    }
    fn query_bindings(&mut self, f: &BindingFilter, p: Page) -> Result<(u64, Vec<Binding>), StoreError> {
        self.inner.query_bindings(f, p)
    }
    fn max_binding_id(&mut self) -> Result<u64, StoreError> {
        self.inner.max_binding_id()
    }
    fn for_each_binding(&mut self, f: &mut dyn FnMut(Binding)) -> Result<(), StoreError> {
        self.inner.for_each_binding(f)
    }
    fn temp_callee(&mut self, b: BindingId) -> Result<Option<TempCallee>, StoreError> {
        self.inner.temp_callee(b)
    }
    fn temp_callees(&mut self) -> Result<Vec<TempCallee>, StoreError> {
        self.inner.temp_callees()
    }
    fn callback_records(&mut self) -> Result<Vec<CallbackRecord>, StoreError> {
        self.inner.callback_records()
    }
    fn expired_bindings(&mut self, now: UnixTime, limit: u32) -> Result<Vec<Binding>, StoreError> {
        self.inner.expired_bindings(now, limit)
    }
    fn outbox_pending(&mut self, after: u64, limit: u32) -> Result<Vec<OutboxEntry>, StoreError> {
        self.inner.outbox_pending(after, limit)
    }
    fn outbox_query(&mut self, f: &OutboxFilter, limit: u32) -> Result<Vec<OutboxEntry>, StoreError> {
        self.inner.outbox_query(f, limit)
    }
    fn outbox_entries(&mut self, ids: &[u64]) -> Result<Vec<OutboxEntry>, StoreError> {
        self.inner.outbox_entries(ids)
    }
    fn outbox_counts(&mut self) -> Result<OutboxCounts, StoreError> {
        self.inner.outbox_counts()
    }
    fn nonces_since(&mut self, since: i64) -> Result<Vec<SeenNonce>, StoreError> {
        self.inner.nonces_since(since)
    }
    fn outbox_count(&mut self) -> Result<u64, StoreError> {
        self.inner.outbox_count()
    }
}

impl WriteTx for FlakyTx<'_> {
    fn savepoint(&mut self) -> Result<(), StoreError> {
        self.inner.savepoint()
    }
    fn rollback_savepoint(&mut self) -> Result<(), StoreError> {
        self.inner.rollback_savepoint()
    }
    fn release_savepoint(&mut self) -> Result<(), StoreError> {
        self.inner.release_savepoint()
    }
    fn put_app(&mut self, a: &App) -> Result<(), StoreError> {
        self.inner.put_app(a)
    }
    fn put_number(&mut self, n: &XNumber) -> Result<(), StoreError> {
        self.inner.put_number(n)
    }
    fn delete_number(&mut self, n: E164) -> Result<(), StoreError> {
        self.inner.delete_number(n)
    }
    fn put_binding(&mut self, b: &Binding) -> Result<(), StoreError> {
        self.inner.put_binding(b)
    }
    fn delete_binding(&mut self, id: BindingId) -> Result<bool, StoreError> {
        self.inner.delete_binding(id)
    }
    fn put_temp_callee(&mut self, c: &TempCallee) -> Result<(), StoreError> {
        self.inner.put_temp_callee(c)
    }
    fn put_callback_record(&mut self, r: &CallbackRecord) -> Result<(), StoreError> {
        self.inner.put_callback_record(r)
    }
    fn append_outbox_in(
        &mut self,
        k: OutboxKind,
        a: AppId,
        p: &str,
        s: OutboxState,
        now: UnixTime,
    ) -> Result<u64, StoreError> {
        self.inner.append_outbox_in(k, a, p, s, now)
    }
    fn mark_outbox(&mut self, ids: &[u64], s: OutboxState, now: UnixTime) -> Result<u64, StoreError> {
        self.inner.mark_outbox(ids, s, now)
    }
    fn put_nonces(&mut self, n: &[SeenNonce]) -> Result<(), StoreError> {
        self.inner.put_nonces(n)
    }
    fn prune_nonces(&mut self, before: i64) -> Result<u64, StoreError> {
        self.inner.prune_nonces(before)
    }
    fn purge_outbox(&mut self, before: UnixTime, max: u64, limit: u32) -> Result<OutboxPurge, StoreError> {
        self.inner.purge_outbox(before, max, limit)
    }
    fn commit(self: Box<Self>) -> Result<(), StoreError> {
        if self.fail {
            return Err(StoreError::Corrupt("injected commit failure".into()));
        }
        self.inner.commit()
    }
}

struct Rig {
    engine: Engine,
    table: Arc<BindingTable>,
    store: Arc<dyn Store>,
    fail: Arc<AtomicBool>,
    _dir: tempfile::TempDir,
}

fn rig() -> Rig {
    let dir = tempfile::TempDir::new().unwrap();
    let fail = Arc::new(AtomicBool::new(false));
    let inner = SqliteStore::open(
        dir.path(),
        SqliteOptions {
            synchronous_full: false,
            ..SqliteOptions::default()
        },
    )
    .unwrap();
    let store: Arc<dyn Store> = Arc::new(Flaky {
        inner,
        fail: fail.clone(),
    });
    let table = Arc::new(BindingTable::new());
    let engine = Engine {
        store: store.clone(),
        table: table.clone(),
        metrics: Metrics::new().unwrap(),
        config: EngineConfig::default(),
        ids: ctx::Ids::after(0, 0),
        apps: Arc::default(),
        overlay: super::overlay::BatchOverlay::default(),
        nonces: Arc::new(NonceJournal::new(Vec::new())),
        pruned_floor: i64::MIN,
        outbox_signal: Arc::default(),
        feed: None,
    };
    Rig {
        engine,
        table,
        store,
        fail,
        _dir: dir,
    }
}

type Rx = oneshot::Receiver<Answer>;

fn cmd(op: Op) -> (Command, Rx) {
    let (reply, rx) = oneshot::channel();
    (
        Command {
            op,
            now: UnixTime(1_000),
            reply,
        },
        rx,
    )
}

fn run(engine: &mut Engine, ops: Vec<Op>) -> Vec<Answer> {
    let (cmds, rxs): (Vec<_>, Vec<_>) = ops.into_iter().map(cmd).unzip();
    engine.process(cmds);
    rxs.into_iter().map(|mut rx| rx.try_recv().unwrap()).collect()
}

fn x() -> E164 {
    pn_numbers::normalize("+8617010000001").unwrap()
}

fn setup(r: &mut Rig) -> App {
    let create = Op::CreateApp(CreateApp {
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
    });
    let import = Op::ImportNumbers(ImportNumbers {
        app_key: "k".into(),
        entries: vec![NumberImport {
            number: x(),
            area_code: "0755".into(),
            province: None,
        }],
    });
    // App and its numbers in the same batch: the import sees the app created just before it.
    let out = run(&mut r.engine, vec![create, import]);
    assert!(out.iter().all(Result::is_ok), "{out:?}");
    r.engine.apps.read().get("k").cloned().unwrap()
}

fn bind(app: &App, a: &str, b: &str) -> Op {
    Op::AxbBind(axb::AxbBind {
        app: app.clone(),
        x: XSelect::Number(x()),
        a: pn_numbers::normalize(a).unwrap(),
        b: pn_numbers::normalize(b).unwrap(),
        direction: CallDirection::Both,
        duration: None,
        record: RecordSettings::default(),
        controls: pn_bindings::CallControls::default(),
        user_data: None,
    })
}

#[test]
fn later_commands_of_a_batch_see_earlier_ones() {
    let mut r = rig();
    let app = setup(&mut r);
    let out = run(
        &mut r.engine,
        vec![
            bind(&app, "+8613800000001", "+8613800000002"),
            bind(&app, "+8613800000001", "+8613800000003"),
            bind(&app, "+8613800000004", "+8613800000002"),
            bind(&app, "+8613800000005", "+8613800000006"),
        ],
    );
    let codes: Vec<&str> = out
        .iter()
        .map(|o| o.as_ref().map_or_else(ProvisionError::resultcode, |_| "0"))
        .collect();
    assert_eq!(codes, ["0", "1012010", "1012010", "0"]);
    // Domain results: the new binding's numbers and id, the refusal's reference text.
    let Ok(Reply::AxbBound(first)) = &out[0] else {
        panic!("{:?}", out[0]);
    };
    assert_eq!(
        (first.x, first.a.to_string(), first.b.to_string()),
        (x(), "+8613800000001".to_owned(), "+8613800000002".to_owned())
    );
    assert_eq!(first.subscription_id.len(), 32);
    let Err(refused) = &out[1] else {
        panic!("{:?}", out[1]);
    };
    assert!(matches!(refused, ProvisionError::AlreadyBound(_)), "{refused:?}");
    assert_eq!(
        refused.to_string(),
        format!("The number +8613800000001 has been bound on {}", x())
    );
    assert_eq!(r.table.len(), 2);
    let mut reader = r.store.reader().unwrap();
    let all = reader
        .query_bindings(&BindingFilter::default(), Page { index: 1, size: 10 })
        .unwrap();
    assert_eq!(all.0, 2);
}

#[test]
fn a_failed_commit_refuses_the_whole_batch_and_leaves_the_table_alone() {
    let mut r = rig();
    let app = setup(&mut r);
    r.fail.store(true, Ordering::SeqCst);
    let out = run(
        &mut r.engine,
        vec![
            bind(&app, "+8613800000001", "+8613800000002"),
            bind(&app, "+8613800000003", "+8613800000004"),
        ],
    );
    assert!(
        out.iter().all(|o| matches!(o, Err(ProvisionError::Internal))),
        "{out:?}"
    );
    assert_eq!(r.table.len(), 0);
    r.fail.store(false, Ordering::SeqCst);
    let mut reader = r.store.reader().unwrap();
    assert_eq!(
        reader
            .query_bindings(&BindingFilter::default(), Page { index: 1, size: 10 })
            .unwrap()
            .0,
        0
    );
    drop(reader);
    // The engine recovers: the same binds succeed afterwards.
    let out = run(
        &mut r.engine,
        vec![bind(&app, "+8613800000001", "+8613800000002")],
    );
    assert!(out[0].is_ok());
    assert_eq!(r.table.len(), 1);
}

#[test]
fn outbox_appends_commit_with_the_batch() {
    let mut r = rig();
    let app = setup(&mut r);
    let out = run(
        &mut r.engine,
        vec![
            Op::AppendOutbox(Arc::from(vec![
                OutboxRow::pending(OutboxKind::CallEvent, app.id, "{\"event\":\"callin\"}".into()),
                OutboxRow::pending(OutboxKind::Cdr, AppId(0), "{\"cdr\":1}".into()),
            ])),
            bind(&app, "+8613800000001", "+8613800000002"),
        ],
    );
    assert!(out.iter().all(Result::is_ok), "{out:?}");
    assert_eq!(r.engine.metrics.outbox_pending.get(), 2);
    let pending = r.store.reader().unwrap().outbox_pending(0, 10).unwrap();
    let got: Vec<(OutboxKind, AppId, &str)> = pending
        .iter()
        .map(|e| (e.kind, e.app, e.payload.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (OutboxKind::CallEvent, app.id, "{\"event\":\"callin\"}"),
            (OutboxKind::Cdr, AppId(0), "{\"cdr\":1}"),
        ]
    );
    // A failed commit writes none of them.
    r.fail.store(true, Ordering::SeqCst);
    let out = run(
        &mut r.engine,
        vec![Op::AppendOutbox(Arc::from(vec![OutboxRow::pending(
            OutboxKind::Cdr,
            app.id,
            "{}".into(),
        )]))],
    );
    assert!(out[0].is_err());
    r.fail.store(false, Ordering::SeqCst);
    assert_eq!(r.store.reader().unwrap().outbox_pending(0, 10).unwrap().len(), 2);
    // The gauge follows commits only.
    assert_eq!(r.engine.metrics.outbox_pending.get(), 2);
}

fn rows(n: usize) -> Op {
    Op::AppendOutbox(
        (0..n)
            .map(|i| OutboxRow::pending(OutboxKind::Cdr, AppId(1), format!("{{\"i\":{i}}}")))
            .collect::<Vec<_>>()
            .into(),
    )
}

/// What a purge step answered.
fn step(answer: &Answer) -> OutboxPurge {
    match answer {
        Ok(Reply::Purged(p)) => *p,
        other => panic!("not a purge step: {other:?}"),
    }
}

fn purged(r: &Rig, reason: &str) -> u64 {
    r.engine.metrics.outbox_purged.with_label_values(&[reason]).get()
}

#[test]
fn outbox_purge_steps_apply_the_cap_and_the_retention_and_count_them() {
    let mut r = rig();
    // Ten rows appended at t=1000 (the commands' time).
    assert!(run(&mut r.engine, vec![rows(10)])[0].is_ok());
    assert_eq!(r.engine.metrics.outbox_pending.get(), 10);
    let cap = super::OutboxRetention {
        retention_secs: 0,
        max_rows: 4,
        chunk: 4,
    };
    // A bounded step: four rows, then two, then nothing.
    let out = run(&mut r.engine, vec![Op::PurgeOutbox(cap)]);
    assert_eq!(step(&out[0]).by_cap, 4);
    assert_eq!(r.engine.metrics.outbox_pending.get(), 6);
    let out = run(&mut r.engine, vec![Op::PurgeOutbox(cap), Op::PurgeOutbox(cap)]);
    assert_eq!(step(&out[0]).by_cap, 2);
    assert_eq!(
        step(&out[1]).by_cap,
        0,
        "a later step of the same batch sees the first"
    );
    assert_eq!(r.engine.metrics.outbox_pending.get(), 4);
    assert_eq!((purged(&r, "cap"), purged(&r, "age")), (6, 0));
    let left: Vec<String> = r
        .store
        .reader()
        .unwrap()
        .outbox_pending(0, 10)
        .unwrap()
        .into_iter()
        .map(|e| e.payload)
        .collect();
    assert_eq!(left, ["{\"i\":6}", "{\"i\":7}", "{\"i\":8}", "{\"i\":9}"]);

    // Retention: rows created at 1000 are older than 999 s at 1000 + 999 + 1 only.
    let age = super::OutboxRetention {
        retention_secs: 999,
        max_rows: 0,
        chunk: 100,
    };
    let (c, mut rx) = cmd(Op::PurgeOutbox(age));
    r.engine.process(vec![Command {
        now: UnixTime(1_999),
        ..c
    }]);
    assert_eq!(step(&rx.try_recv().unwrap()).by_age, 0);
    let (c, mut rx) = cmd(Op::PurgeOutbox(age));
    r.engine.process(vec![Command {
        now: UnixTime(2_000),
        ..c
    }]);
    assert_eq!(step(&rx.try_recv().unwrap()).by_age, 4);
    assert_eq!(r.engine.metrics.outbox_pending.get(), 0);
    assert_eq!((purged(&r, "cap"), purged(&r, "age")), (6, 4));

    // A failed commit purges nothing and counts nothing.
    assert!(run(&mut r.engine, vec![rows(3)])[0].is_ok());
    r.fail.store(true, Ordering::SeqCst);
    let out = run(
        &mut r.engine,
        vec![Op::PurgeOutbox(super::OutboxRetention { max_rows: 1, ..cap })],
    );
    assert!(out[0].is_err());
    r.fail.store(false, Ordering::SeqCst);
    assert_eq!(r.store.reader().unwrap().outbox_count().unwrap(), 3);
    assert_eq!(r.engine.metrics.outbox_pending.get(), 3);
    assert_eq!(purged(&r, "cap"), 6);
}

fn seen(nonce: &str, created: i64) -> SeenNonce {
    SeenNonce {
        app_key: "k".into(),
        nonce: nonce.into(),
        created,
    }
}

fn stored_nonces(r: &Rig) -> Vec<SeenNonce> {
    r.store.reader().unwrap().nonces_since(i64::MIN).unwrap()
}

#[test]
fn accepted_nonces_commit_with_the_next_batch_and_old_ones_are_pruned() {
    let mut r = rig();
    let app = setup(&mut r);
    // Queued before the write is submitted (as the authenticator does): durable when it is acknowledged,
    // whether the write succeeds or is refused.
    r.engine.nonces.record(seen("w1", 1_000), 700);
    r.engine.nonces.record(seen("w2", 1_000), 700);
    let out = run(
        &mut r.engine,
        vec![
            bind(&app, "+8613800000001", "+8613800000002"),
            bind(&app, "+8613800000001", "+8613800000003"),
        ],
    );
    assert!(out[0].is_ok() && out[1].is_err(), "{out:?}");
    assert_eq!(stored_nonces(&r), vec![seen("w1", 1_000), seen("w2", 1_000)]);
    assert!(r.engine.nonces.is_empty());

    // A failed commit keeps them queued; the next batch commits them.
    r.engine.nonces.record(seen("q1", 1_001), 701);
    r.fail.store(true, Ordering::SeqCst);
    let out = run(&mut r.engine, vec![Op::FlushNonces]);
    assert!(out[0].is_err());
    assert_eq!(stored_nonces(&r).len(), 2);
    assert!(!r.engine.nonces.is_empty());
    r.fail.store(false, Ordering::SeqCst);
    let out = run(&mut r.engine, vec![Op::FlushNonces]);
    assert!(out[0].is_ok());
    assert_eq!(stored_nonces(&r).len(), 3);

    // Once the window's floor passes them, stored nonces are pruned by the next batch.
    r.engine.nonces.record(seen("late", 1_400), 1_001);
    run(&mut r.engine, vec![Op::FlushNonces]);
    assert_eq!(stored_nonces(&r), vec![seen("q1", 1_001), seen("late", 1_400)]);
}

#[test]
fn admin_writes_answer_domain_results() {
    let mut r = rig();
    let app = setup(&mut r);
    let other = Op::CreateApp(CreateApp {
        name: "other".into(),
        mode: Mode::Ax,
        app_key: Some("k2".into()),
        app_secret: None,
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
    });
    let free = pn_numbers::normalize("+8617010000002").unwrap();
    let import = Op::ImportNumbers(ImportNumbers {
        app_key: "k2".into(),
        entries: vec![
            NumberImport {
                number: x(),
                area_code: "0755".into(),
                province: None,
            },
            NumberImport {
                number: free,
                area_code: "0755".into(),
                province: Some("Guangdong".into()),
            },
        ],
    });
    let out = run(&mut r.engine, vec![other, import]);
    let Ok(Reply::App(created)) = &out[0] else {
        panic!("{:?}", out[0]);
    };
    assert_eq!((created.app_key.as_str(), created.mode), ("k2", Mode::Ax));
    assert_eq!(created.app_secret.len(), 32, "a generated secret");
    assert_ne!(created.id, app.id);
    let Ok(Reply::Imported(report)) = &out[1] else {
        panic!("{:?}", out[1]);
    };
    // X belongs to the first app: refused with the reference code, the other number stored.
    assert_eq!(report.imported, 1);
    let Err(refused) = &report.results[0] else {
        panic!("{:?}", report.results);
    };
    assert_eq!(refused.resultcode(), "1012010");
    assert_eq!(
        refused.to_string(),
        format!("The number {} belongs to another app", x())
    );
    assert_eq!(report.results[1].as_ref().ok(), Some(&free));
    assert_eq!(r.table.number(free).map(|n| n.app), Some(created.id));

    // Retiring a bound number without force is refused; with force it unbinds and answers the count.
    assert!(
        run(
            &mut r.engine,
            vec![bind(&app, "+8613800000001", "+8613800000002")]
        )[0]
        .is_ok()
    );
    let retire = |force| Op::RetireNumber(super::admin::RetireNumber { number: x(), force });
    let out = run(&mut r.engine, vec![retire(false), retire(true)]);
    assert_eq!(
        out[0].as_ref().map_err(ProvisionError::resultcode).err(),
        Some("1012010")
    );
    let Ok(Reply::Retired(retired)) = &out[1] else {
        panic!("{:?}", out[1]);
    };
    assert_eq!((retired.number, retired.unbound), (x(), 1));
    assert_eq!(r.table.len(), 0);
}

#[test]
fn allow_national_numbers_is_set_at_create_changed_by_update_and_stored() {
    let mut r = rig();
    let app = setup(&mut r);
    assert!(
        !app.allow_national_numbers,
        "the default refuses national numbers"
    );
    let update = |on: Option<bool>| {
        Op::UpdateApp(super::admin::UpdateApp {
            app_key: "k".into(),
            allow_national_numbers: on,
            ..super::admin::UpdateApp::default()
        })
    };
    let stored = |r: &Rig| {
        r.store
            .reader()
            .unwrap()
            .app_by_key("k")
            .unwrap()
            .unwrap()
            .allow_national_numbers
    };
    let out = run(&mut r.engine, vec![update(Some(true))]);
    assert!(out.iter().all(Result::is_ok), "{out:?}");
    assert!(stored(&r));
    assert!(r.engine.apps.read().get("k").unwrap().allow_national_numbers);
    // An update that does not name the option keeps it.
    let out = run(&mut r.engine, vec![update(None)]);
    assert!(out.iter().all(Result::is_ok), "{out:?}");
    assert!(stored(&r));
    let out = run(&mut r.engine, vec![update(Some(false))]);
    assert!(out.iter().all(Result::is_ok), "{out:?}");
    assert!(!stored(&r));

    let create = Op::CreateApp(CreateApp {
        name: "national".into(),
        mode: Mode::Axb,
        app_key: Some("kn".into()),
        app_secret: None,
        call_status_url: None,
        cdr_url: None,
        sms_url: None,
        record_enabled: false,
        sms_enabled: false,
        extension_digits: 4,
        collect_repeat: 3,
        media: crate::engine::admin::AppMediaPatch::default(),
        push: crate::engine::admin::AppPushPatch::default(),
        allow_national_numbers: true,
    });
    let out = run(&mut r.engine, vec![create]);
    assert!(out.iter().all(Result::is_ok), "{out:?}");
    let kn = r.store.reader().unwrap().app_by_key("kn").unwrap().unwrap();
    assert!(kn.allow_national_numbers);
}

mod cluster;
mod echo;
mod idle;
mod num_status;
mod outbox;
