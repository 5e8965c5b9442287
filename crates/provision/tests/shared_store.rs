//! Several engines ("nodes") on one `PostgreSQL` database: the capacity rules hold exactly under concurrent
//! binds on three nodes (the database decides, not a node's table), and every node's routing table follows
//! the change feed (a write acknowledged on one node is routable there at once and on the others after their
//! feed reader wakes).

#![allow(missing_docs, clippy::unwrap_used, clippy::panic)] // test helpers outside #[test] fns

use std::sync::Arc;
use std::time::{Duration, Instant};

use pn_bindings::{App, BindingTable, CallControls, CallDirection, Mode, RecordSettings, UnixTime};
use pn_metrics::Metrics;
use pn_numbers::E164;
use pn_provision::{
    AppMediaPatch, AppPushPatch, AxBind, AxbBind, AxbModify, AxbUnbind, AxbUnbindBy, ControlsPatch,
    CreateApp, EngineConfig, EngineHandle, ImportNumbers, NumberImport, ProvisionError, Provisioner, XSelect,
    load_table, spawn_feed_follower,
};
use pn_store::Store;
use pn_store::postgres::{PgOptions, PgStore, throwaway};

/// One node: its routing table and its engine.
struct Node {
    table: Arc<BindingTable>,
    engine: EngineHandle,
}

fn now() -> UnixTime {
    UnixTime(
        i64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs(),
        )
        .unwrap(),
    )
}

fn database() -> String {
    let server = throwaway::server().unwrap_or_else(|e| panic!("throwaway PostgreSQL: {e}"));
    server.create_database().unwrap()
}

/// A node on the database: its table loaded from a snapshot, its engine following the feed from there.
fn node(url: &str, config: &EngineConfig) -> Node {
    let store: Arc<dyn Store> = Arc::new(
        PgStore::open(&PgOptions {
            url: url.to_owned(),
            ..PgOptions::default()
        })
        .unwrap(),
    );
    let table = Arc::new(BindingTable::new());
    let metrics = Metrics::new().unwrap();
    let loaded = load_table(store.as_ref(), &table, &metrics, now()).unwrap();
    let engine = Provisioner::start_loaded(
        Arc::clone(&store),
        Arc::clone(&table),
        metrics,
        config.clone(),
        loaded.feed_head,
    )
    .unwrap();
    spawn_feed_follower(store, engine.clone()).unwrap().unwrap();
    Node { table, engine }
}

fn n(text: &str) -> E164 {
    pn_numbers::normalize(text).unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Waits (bounded) until `done` holds; panics naming `what` otherwise.
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Creates the app on the first node with `numbers` in its pool, and waits until every node knows both.
async fn setup(nodes: &[Node], mode: Mode, numbers: &[E164]) -> App {
    let app = app_with(&nodes[0].engine, "shared-key", mode, numbers).await;
    for node in nodes {
        eventually("every node knows the app and its numbers", || {
            node.engine.app_by_key("shared-key").is_some()
                && numbers.iter().all(|x| node.table.number(*x).is_some())
        });
    }
    app
}

/// Creates an app (key `app_key`) through `engine` with `numbers` in its pool.
async fn app_with(engine: &EngineHandle, app_key: &str, mode: Mode, numbers: &[E164]) -> App {
    let app = engine
        .create_app(
            CreateApp {
                name: app_key.into(),
                mode,
                app_key: Some(app_key.into()),
                app_secret: Some("secretsecret".into()),
                call_status_url: None,
                cdr_url: None,
                sms_url: None,
                record_enabled: false,
                sms_enabled: false,
                extension_digits: 4,
                collect_repeat: 3,
                media: AppMediaPatch::default(),
                push: AppPushPatch::default(),
                allow_national_numbers: false,
            },
            now(),
        )
        .await
        .unwrap();
    engine
        .import_numbers(
            ImportNumbers {
                app_key: app.app_key.clone(),
                entries: numbers
                    .iter()
                    .map(|&number| NumberImport {
                        number,
                        area_code: "0755".into(),
                        province: None,
                    })
                    .collect(),
            },
            now(),
        )
        .await
        .unwrap();
    app
}

fn axb_bind(app: &App, x: E164, a: E164, b: E164) -> AxbBind {
    AxbBind {
        app: app.clone(),
        x: XSelect::Number(x),
        a,
        b,
        direction: CallDirection::Both,
        duration: None,
        record: RecordSettings::default(),
        controls: CallControls::default(),
        user_data: None,
    }
}

fn ax_bind(app: &App, x: E164, a: E164) -> AxBind {
    AxBind {
        app: app.clone(),
        x: XSelect::Number(x),
        a,
        direction: CallDirection::Both,
        turn_on: false,
        record: RecordSettings::default(),
        controls: CallControls::default(),
        user_data: None,
    }
}

type Task = tokio::task::JoinHandle<Result<(), ProvisionError>>;

/// Runs every write at once (one task each, spread over the nodes) and answers their result codes.
async fn race<T>(writes: Vec<(EngineHandle, T)>, run: impl Fn(EngineHandle, T) -> Task) -> Vec<&'static str> {
    let tasks: Vec<Task> = writes.into_iter().map(|(e, req)| run(e, req)).collect();
    let mut codes = Vec::new();
    for t in tasks {
        codes.push(t.await.unwrap().map_or_else(|e| e.resultcode(), |()| "0"));
    }
    codes
}

fn count(codes: &[&str], code: &str) -> usize {
    codes.iter().filter(|c| **c == code).count()
}

fn spawn_axb(e: EngineHandle, req: AxbBind) -> Task {
    tokio::spawn(async move { e.axb_bind(req, now()).await.map(drop) })
}

#[test]
fn three_nodes_binding_the_same_a_on_the_same_x_at_once_one_wins_each_time() {
    let url = database();
    let config = EngineConfig::default();
    let nodes: Vec<Node> = (0..3).map(|_| node(&url, &config)).collect();
    let x = n("+8617010000001");
    let rt = runtime();
    let app = rt.block_on(setup(&nodes, Mode::Axb, &[x]));
    for round in 0..20 {
        let a = n(&format!("+86138000{round:05}"));
        let binds = nodes
            .iter()
            .enumerate()
            .map(|(i, node)| {
                let b = n(&format!("+86139{i}00{round:05}"));
                (node.engine.clone(), axb_bind(&app, x, a, b))
            })
            .collect();
        let codes = rt.block_on(race(binds, spawn_axb));
        assert_eq!(count(&codes, "0"), 1, "round {round}: {codes:?}");
        assert_eq!(count(&codes, "1012010"), 2, "round {round}: {codes:?}");
        for node in &nodes {
            eventually("every node routes the winner", || node.table.is_party_on_x(x, a));
        }
    }
    for node in &nodes {
        eventually("every node counts 20 pairs on X", || {
            node.table.pairs_on_x(x) == 20
        });
    }
}

#[test]
fn the_pairs_per_x_cap_holds_under_concurrent_binds_on_three_nodes() {
    let url = database();
    let config = EngineConfig {
        max_pairs_per_x: 10,
        ..EngineConfig::default()
    };
    let nodes: Vec<Node> = (0..3).map(|_| node(&url, &config)).collect();
    let x = n("+8617010000002");
    let rt = runtime();
    let app = rt.block_on(setup(&nodes, Mode::Axb, &[x]));
    let binds = (0..24)
        .map(|i| {
            let a = n(&format!("+86138100{i:05}"));
            let b = n(&format!("+86139100{i:05}"));
            (nodes[i % 3].engine.clone(), axb_bind(&app, x, a, b))
        })
        .collect();
    let codes = rt.block_on(race(binds, spawn_axb));
    assert_eq!(count(&codes, "0"), 10, "{codes:?}");
    assert_eq!(count(&codes, "1011002"), 14, "{codes:?}");
    for node in &nodes {
        eventually("every node counts exactly the cap", || {
            node.table.pairs_on_x(x) == 10
        });
    }
}

#[test]
fn the_x_per_a_cap_holds_under_concurrent_binds_on_three_nodes() {
    let url = database();
    let nodes: Vec<Node> = (0..3).map(|_| node(&url, &EngineConfig::default())).collect();
    let pool: Vec<E164> = (0..12).map(|i| n(&format!("+86170200{i:05}"))).collect();
    let a = n("+8613820000001");
    let rt = runtime();
    let app = rt.block_on(setup(&nodes, Mode::Ax, &pool));
    let binds = pool
        .iter()
        .enumerate()
        .map(|(i, &x)| (nodes[i % 3].engine.clone(), ax_bind(&app, x, a)))
        .collect();
    let codes = rt.block_on(race(binds, |e, req| {
        tokio::spawn(async move { e.ax_bind(req, now()).await.map(drop) })
    }));
    // The reference's limit: one A on at most 5 X.
    assert_eq!(count(&codes, "0"), 5, "{codes:?}");
    assert_eq!(count(&codes, "1011002"), 7, "{codes:?}");
    for node in &nodes {
        eventually("every node counts A on exactly 5 X", || {
            node.table.x_count_of_a(a) == 5
        });
    }
}

#[test]
fn a_write_is_routable_on_its_node_when_acknowledged_and_every_node_follows_later_changes_in_order() {
    let url = database();
    let nodes: Vec<Node> = (0..3).map(|_| node(&url, &EngineConfig::default())).collect();
    let x = n("+8617030000001");
    let (a, b, b2) = (n("+8613830000001"), n("+8613830000002"), n("+8613830000003"));
    let rt = runtime();
    let app = rt.block_on(setup(&nodes, Mode::Axb, &[x]));
    let bound = rt
        .block_on(nodes[0].engine.axb_bind(axb_bind(&app, x, a, b), now()))
        .unwrap();
    // Acknowledged = committed and applied on this node: no wait.
    assert!(nodes[0].table.is_party_on_x(x, b));
    for node in &nodes[1..] {
        eventually("the other nodes route the binding", || {
            node.table.is_party_on_x(x, b)
        });
    }
    // Node 2 changes B, node 3 unbinds: each acts on what the previous node committed.
    rt.block_on(nodes[1].engine.axb_modify(
        AxbModify {
            app: app.clone(),
            subscription_id: bound.subscription_id.clone(),
            a: None,
            b: Some(b2),
            direction: None,
            duration: None,
            patch: ControlsPatch::default(),
        },
        now(),
    ))
    .unwrap();
    assert!(nodes[1].table.is_party_on_x(x, b2) && !nodes[1].table.is_party_on_x(x, b));
    eventually("node 3 sees the new B", || nodes[2].table.is_party_on_x(x, b2));
    rt.block_on(nodes[2].engine.axb_unbind(
        AxbUnbind {
            app: app.clone(),
            by: AxbUnbindBy::Subscription(bound.subscription_id),
        },
        now(),
    ))
    .unwrap();
    for node in &nodes {
        eventually("every node drops the binding", || {
            !node.table.is_party_on_x(x, a)
                && !node.table.is_party_on_x(x, b2)
                && node.table.pairs_on_x(x) == 0
        });
        assert!(
            !node.table.is_party_on_x(x, b),
            "a stale route survived on a node"
        );
        assert!(node.engine.feed_caught_up());
    }
}

#[test]
fn a_node_started_later_loads_a_snapshot_and_follows_from_it() {
    let url = database();
    let first = node(&url, &EngineConfig::default());
    let x = n("+8617040000001");
    let rt = runtime();
    let app = rt.block_on(setup(std::slice::from_ref(&first), Mode::Axb, &[x]));
    for i in 0..30 {
        let (a, b) = (n(&format!("+86138400{i:05}")), n(&format!("+86139400{i:05}")));
        rt.block_on(first.engine.axb_bind(axb_bind(&app, x, a, b), now()))
            .unwrap();
    }
    let late = node(&url, &EngineConfig::default());
    eventually("the late node has caught up", || late.engine.feed_caught_up());
    assert_eq!(late.table.pairs_on_x(x), 30);
    let (a, b) = (n("+8613840099999"), n("+8613940099999"));
    rt.block_on(first.engine.axb_bind(axb_bind(&app, x, a, b), now()))
        .unwrap();
    eventually("the late node follows new writes", || {
        late.table.is_party_on_x(x, a)
    });
    assert_eq!(late.table.pairs_on_x(x), 31);
}

fn route(node: &Node, caller: E164, dialled: E164) -> Option<E164> {
    match pn_bindings::decide(
        &node.table,
        &pn_bindings::RoutePolicy::default(),
        Some(caller),
        dialled,
        None,
        now(),
    ) {
        pn_bindings::RouteDecision::Connect(c) => Some(c.callee),
        _ => None,
    }
}

#[test]
fn a_temporary_callee_set_through_one_node_routes_a_on_another() {
    let url = database();
    let nodes: Vec<Node> = (0..2).map(|_| node(&url, &EngineConfig::default())).collect();
    let x = n("+8617050000001");
    let (a, callee) = (n("+8613850000001"), n("+8613950000001"));
    let rt = runtime();
    let app = rt.block_on(setup(&nodes, Mode::Ax, &[x]));
    rt.block_on(nodes[0].engine.ax_bind(ax_bind(&app, x, a), now()))
        .unwrap();
    rt.block_on(nodes[0].engine.ax_temp_callee(
        pn_provision::AxTempCallee {
            app: app.clone(),
            target: pn_provision::AxTarget::Number(x, None),
            callee,
            duration: 600,
            user_data: None,
        },
        now(),
    ))
    .unwrap();
    // A dials X on the other node: the temporary callee set through the first.
    eventually("node 2 routes A to the temporary callee", || {
        route(&nodes[1], a, x) == Some(callee)
    });
}

#[test]
fn an_axe_callback_record_made_on_one_node_calls_back_through_another() {
    let url = database();
    let nodes: Vec<Node> = (0..2).map(|_| node(&url, &EngineConfig::default())).collect();
    let x = n("+8617060000001");
    let (a, caller) = (n("+8613860000001"), n("+8613960000001"));
    let rt = runtime();
    let app = rt.block_on(setup(&nodes, Mode::Axe, &[x]));
    let bound = rt
        .block_on(nodes[0].engine.axe_bind(
            pn_provision::AxeBind {
                app: app.clone(),
                x: XSelect::Number(x),
                a,
                extension: None,
                record: RecordSettings::default(),
                fallback: pn_bindings::AxeFallback::Release,
                time_unit: pn_bindings::TimeUnit::Hours,
                expired_time: None,
                callback_expired_time: Some(1),
                user_data: None,
            },
            now(),
        ))
        .unwrap();
    let binding = nodes[0].table.extension_binding(x, &bound.extension).unwrap();
    // The caller reached A through node 1 (the call's record is stored through node 1's engine)…
    rt.block_on(nodes[0].engine.put_callback_record(pn_bindings::CallbackRecord {
        binding,
        x,
        a,
        last_caller: caller,
        expires_at: Some(UnixTime(now().0 + 3600)),
    }))
    .unwrap();
    // …and A dials X through node 2: called back.
    eventually("node 2 calls the last caller back", || {
        route(&nodes[1], a, x) == Some(caller)
    });
}

/// Many binds at once on three nodes, each batch touching many of the same X numbers in different orders:
/// the batches queue on the X rows (taken in one order on every node) instead of deadlocking, and every bind
/// is acknowledged.
#[test]
fn concurrent_batches_on_three_nodes_over_shared_numbers_all_commit() {
    let url = database();
    let nodes: Vec<Node> = (0..3).map(|_| node(&url, &EngineConfig::default())).collect();
    let pool: Vec<E164> = (0..20).map(|i| n(&format!("+86170700{i:05}"))).collect();
    let rt = runtime();
    let app = rt.block_on(setup(&nodes, Mode::Axb, &pool));
    let binds = (0..600)
        .map(|i| {
            // Each node walks the pool in its own order.
            let x = pool[(i * (i % 3 + 7)) % pool.len()];
            let a = n(&format!("+86138700{i:05}"));
            let b = n(&format!("+86139700{i:05}"));
            (nodes[i % 3].engine.clone(), axb_bind(&app, x, a, b))
        })
        .collect();
    let codes = rt.block_on(race(binds, spawn_axb));
    assert_eq!(count(&codes, "0"), 600, "{codes:?}");
}

/// A node without a feed follower: its table moves only when the test polls it (a node held behind).
fn held_node(url: &str, config: &EngineConfig) -> (Node, Metrics) {
    let store: Arc<dyn Store> = Arc::new(
        PgStore::open(&PgOptions {
            url: url.to_owned(),
            ..PgOptions::default()
        })
        .unwrap(),
    );
    let table = Arc::new(BindingTable::new());
    let metrics = Metrics::new().unwrap();
    let loaded = load_table(store.as_ref(), &table, &metrics, now()).unwrap();
    let engine = Provisioner::start_loaded(
        store,
        Arc::clone(&table),
        metrics.clone(),
        config.clone(),
        loaded.feed_head,
    )
    .unwrap();
    (Node { table, engine }, metrics)
}

/// Polls the held node's feed until `done` holds (bounded).
fn poll_until(node: &Node, what: &str, mut done: impl FnMut() -> bool) {
    eventually(what, || {
        node.engine.poll_feed();
        done()
    });
}

fn sorted_numbers(node: &Node) -> Vec<(E164, String)> {
    let mut numbers: Vec<_> = node
        .table
        .numbers()
        .into_iter()
        .map(|n| (n.number, format!("{n:?}")))
        .collect();
    numbers.sort();
    numbers
}

/// The bindings of the resync test, bound through the writer while the held node still follows.
struct Bound {
    gone: String,
    moved: String,
}

async fn bind_before(writer: &Node, axb: &App, ax: &App, numbers: &[E164]) -> Bound {
    let [x1, _, x2, a1, b1, a2, b2, a3] = numbers else {
        panic!("numbers")
    };
    let gone = writer
        .engine
        .axb_bind(axb_bind(axb, *x1, *a1, *b1), now())
        .await
        .unwrap();
    let moved = writer
        .engine
        .axb_bind(axb_bind(axb, *x1, *a2, *b2), now())
        .await
        .unwrap();
    writer.engine.ax_bind(ax_bind(ax, *x2, *a3), now()).await.unwrap();
    Bound {
        gone: gone.subscription_id,
        moved: moved.subscription_id,
    }
}

/// While the held node reads nothing: a binding deleted, one moved to another B, one added, a temporary
/// callee set, an app renamed.
async fn write_while_held(writer: &Node, axb: &App, ax: &App, bound: Bound, numbers: &[E164]) {
    let [x3, x2, a4, b4, b3, callee] = numbers else {
        panic!("numbers")
    };
    let e = &writer.engine;
    e.axb_unbind(
        AxbUnbind {
            app: axb.clone(),
            by: AxbUnbindBy::Subscription(bound.gone),
        },
        now(),
    )
    .await
    .unwrap();
    e.axb_modify(
        AxbModify {
            app: axb.clone(),
            subscription_id: bound.moved,
            a: None,
            b: Some(*b3),
            direction: None,
            duration: None,
            patch: ControlsPatch::default(),
        },
        now(),
    )
    .await
    .unwrap();
    e.axb_bind(axb_bind(axb, *x3, *a4, *b4), now()).await.unwrap();
    e.ax_temp_callee(
        pn_provision::AxTempCallee {
            app: ax.clone(),
            target: pn_provision::AxTarget::Number(*x2, None),
            callee: *callee,
            duration: 600,
            user_data: None,
        },
        now(),
    )
    .await
    .unwrap();
    e.update_app(
        pn_provision::UpdateApp {
            app_key: axb.app_key.clone(),
            name: Some("renamed".into()),
            ..pn_provision::UpdateApp::default()
        },
        now(),
    )
    .await
    .unwrap();
}

#[test]
fn a_node_behind_the_pruned_feed_resyncs_its_table_in_place_and_follows_on() {
    let url = database();
    // Commits are forgotten at the first sweep after they were made.
    let config = EngineConfig {
        feed_retention_secs: 0,
        ..EngineConfig::default()
    };
    let writer = node(&url, &config);
    let (held, metrics) = held_node(&url, &config);
    let (x1, x2, x3) = (n("+8617080000001"), n("+8617080000002"), n("+8617080000003"));
    let [a1, b1, a2, b2, b3, a3, a4, b4, callee] =
        ["01", "02", "03", "04", "05", "06", "07", "08", "09"].map(|s| n(&format!("+86138800000{s}")));
    let rt = runtime();
    let axb = rt.block_on(app_with(&writer.engine, "resync-axb", Mode::Axb, &[x1, x3]));
    let ax = rt.block_on(app_with(&writer.engine, "resync-ax", Mode::Ax, &[x2]));
    let bound = rt.block_on(bind_before(&writer, &axb, &ax, &[x1, x3, x2, a1, b1, a2, b2, a3]));
    poll_until(&held, "the held node follows while it is polled", || {
        held.table.is_party_on_x(x1, b1)
            && held.table.is_party_on_x(x1, b2)
            && held.table.ax_binding_on_x(x2).is_some()
    });
    // A command behind any poll still queued: once it is answered, the held node reads nothing more.
    rt.block_on(held.engine.flush_nonces()).unwrap();
    rt.block_on(write_while_held(
        &writer,
        &axb,
        &ax,
        bound,
        &[x3, x2, a4, b4, b3, callee],
    ));
    // The leader's sweep prunes every commit but the head, so the held node's next commit is gone.
    rt.block_on(writer.engine.sweep(UnixTime(now().0 + 5))).unwrap();
    assert!(
        held.table.is_party_on_x(x1, a1) && held.table.is_party_on_x(x1, b2),
        "the held node must still hold the old table"
    );
    assert_eq!(metrics.feed.resyncs.get(), 0);
    poll_until(&held, "the held node resyncs from a snapshot", || {
        metrics.feed.resyncs.get() == 1 && held.engine.feed_caught_up()
    });
    // Deleted, moved, added bindings; the temporary callee; the app change.
    for gone in [a1, b1, b2] {
        assert!(
            !held.table.is_party_on_x(x1, gone),
            "a deleted or moved route survived"
        );
    }
    assert_eq!(route(&held, a2, x1), Some(b3));
    assert_eq!(route(&held, a4, x3), Some(b4));
    assert_eq!(route(&held, a3, x2), Some(callee));
    assert_eq!(held.table.app(axb.id).unwrap().name, "renamed");
    assert_eq!(held.engine.app_by_key("resync-axb").unwrap().name, "renamed");
    // Its table equals the writer's.
    for x in [x1, x2, x3] {
        assert_eq!(held.table.pairs_on_x(x), writer.table.pairs_on_x(x));
    }
    for a in [a1, a2, a3, a4] {
        assert_eq!(held.table.x_count_of_a(a), writer.table.x_count_of_a(a));
    }
    assert_eq!(held.table.len(), writer.table.len());
    assert_eq!(held.table.echo_entries(), writer.table.echo_entries());
    assert_eq!(sorted_numbers(&held), sorted_numbers(&writer));
    assert_eq!(
        held.engine.feed_state().unwrap().applied(),
        writer.engine.feed_state().unwrap().applied()
    );
    // And it follows later commits from the snapshot's head, without another resync.
    let (a5, b5) = (n("+8613880000010"), n("+8613880000011"));
    rt.block_on(writer.engine.axb_bind(axb_bind(&axb, x3, a5, b5), now()))
        .unwrap();
    poll_until(&held, "the resynced node follows new writes", || {
        route(&held, a5, x3) == Some(b5)
    });
    assert_eq!(metrics.feed.resyncs.get(), 1);
}

/// Whether a session waits for a lock on the `bindings` table (the lock a test holds).
fn waits_on_bindings(client: &mut postgres::Client) -> bool {
    let row = client
        .query_one(
            "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'bindings'::regclass",
            &[],
        )
        .unwrap();
    row.get::<_, i64>(0) > 0
}

#[test]
fn a_node_started_empty_is_not_caught_up_until_its_engine_has_loaded_the_snapshot() {
    let url = database();
    let writer = node(&url, &EngineConfig::default());
    let x = n("+8617090000001");
    let (a, b) = (n("+8613890000001"), n("+8613990000001"));
    let rt = runtime();
    let app = rt.block_on(setup(std::slice::from_ref(&writer), Mode::Axb, &[x]));
    rt.block_on(writer.engine.axb_bind(axb_bind(&app, x, a, b), now()))
        .unwrap();
    // The snapshot load waits on this lock until the test lets it go.
    let mut holder = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let mut lock = holder.transaction().unwrap();
    lock.batch_execute("LOCK TABLE bindings IN ACCESS EXCLUSIVE MODE")
        .unwrap();
    let store: Arc<dyn Store> = Arc::new(
        PgStore::open(&PgOptions {
            url: url.clone(),
            ..PgOptions::default()
        })
        .unwrap(),
    );
    let table = Arc::new(BindingTable::new());
    let metrics = Metrics::new().unwrap();
    let engine = Provisioner::start_unloaded(
        store,
        Arc::clone(&table),
        metrics.clone(),
        EngineConfig::default(),
    )
    .unwrap();
    let mut watcher = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    eventually("the engine's load waits on the lock", || {
        waits_on_bindings(&mut watcher)
    });
    assert!(!engine.feed_caught_up(), "caught up before the table was loaded");
    assert!(!table.is_party_on_x(x, a));
    lock.rollback().unwrap();
    eventually("the engine loads the snapshot and catches up", || {
        engine.feed_caught_up()
    });
    assert!(table.is_party_on_x(x, a) && table.is_party_on_x(x, b));
    assert_eq!(table.pairs_on_x(x), 1);
    assert_eq!(engine.app_by_key("shared-key").unwrap().id, app.id);
    // The start-up load is not a resync.
    assert_eq!(metrics.feed.resyncs.get(), 0);
}
