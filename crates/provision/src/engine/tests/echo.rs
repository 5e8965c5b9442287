//! The table's echo (`subscriptionId`, `userData`) kept in step with every write: bind, modify, unbind,
//! expiry (the sweep), the AX temporary callee's own `userData`, and the start-up load.

use pn_bindings::{BindingEcho, RouteDecision, RoutePolicy, decide};

use super::*;
use crate::engine::ax::{AxBind, AxTarget, AxTempCallee};
use crate::engine::axb::{AxbModify, AxbUnbind, AxbUnbindBy, ControlsPatch};

fn at(engine: &mut Engine, now: i64, op: Op) -> Answer {
    let (reply, mut rx) = oneshot::channel();
    engine.process(vec![Command {
        op,
        now: UnixTime(now),
        reply,
    }]);
    rx.try_recv().unwrap()
}

fn n(s: &str) -> E164 {
    pn_numbers::normalize(s).unwrap()
}

/// The id of the binding with `subscription_id`, from the store.
fn id_of(r: &Rig, subscription_id: &str) -> BindingId {
    r.store
        .reader()
        .unwrap()
        .binding_by_subscription(subscription_id)
        .unwrap()
        .unwrap()
        .id
}

fn echo(table: &BindingTable, id: BindingId) -> Option<(String, Option<String>)> {
    table
        .binding_echo(id)
        .map(|e: BindingEcho| (e.subscription_id(), e.user_data().map(str::to_owned)))
}

fn axb_bind(app: &App, a: &str, b: &str, duration: Option<u32>, user_data: Option<&str>) -> Op {
    let Op::AxbBind(mut req) = bind(app, a, b) else {
        unreachable!()
    };
    req.duration = duration;
    req.user_data = user_data.map(str::to_owned);
    Op::AxbBind(req)
}

fn subscription(answer: Answer) -> String {
    match answer.unwrap() {
        Reply::AxbBound(b) => b.subscription_id,
        Reply::AxBound(b) => b.subscription_id,
        other => panic!("{other:?}"),
    }
}

fn user_data_patch(user_data: &str) -> ControlsPatch {
    ControlsPatch {
        user_data: Some(user_data.to_owned()),
        ..ControlsPatch::default()
    }
}

fn modify(app: &App, sub: &str, user_data: &str) -> Op {
    Op::AxbModify(AxbModify {
        app: app.clone(),
        subscription_id: sub.to_owned(),
        a: None,
        b: None,
        direction: None,
        duration: None,
        patch: user_data_patch(user_data),
    })
}

/// Loads the store into a fresh table, as `serve` does at start.
fn reloaded(r: &Rig, now: i64) -> BindingTable {
    let table = BindingTable::new();
    crate::load_table(r.store.as_ref(), &table, &Metrics::new().unwrap(), UnixTime(now)).unwrap();
    table
}

#[test]
fn axb_echo_follows_bind_modify_unbind_expiry_and_restart() {
    let mut r = rig();
    let app = setup(&mut r);
    let short = subscription(at(
        &mut r.engine,
        1_000,
        axb_bind(
            &app,
            "+8613800000001",
            "+8613900000001",
            Some(60),
            Some("order-1"),
        ),
    ));
    let long = subscription(at(
        &mut r.engine,
        1_000,
        axb_bind(&app, "+8613800000002", "+8613900000002", None, None),
    ));
    let (short_id, long_id) = (id_of(&r, &short), id_of(&r, &long));
    // Bind: the switch's own ids are kept as 16 bytes; userData only when given.
    assert_eq!(
        echo(&r.table, short_id),
        Some((short.clone(), Some("order-1".into())))
    );
    assert_eq!(echo(&r.table, long_id), Some((long.clone(), None)));
    assert!(r.table.binding_echo(short_id).unwrap().is_compact());
    assert_eq!(r.table.echo_entries(), 2);

    // Modify: set, change, clear userData.
    at(&mut r.engine, 1_010, modify(&app, &long, "order-2")).unwrap();
    assert_eq!(
        echo(&r.table, long_id),
        Some((long.clone(), Some("order-2".into())))
    );
    at(&mut r.engine, 1_011, modify(&app, &short, "order-3")).unwrap();
    assert_eq!(
        echo(&r.table, short_id),
        Some((short.clone(), Some("order-3".into())))
    );
    at(&mut r.engine, 1_012, modify(&app, &short, "")).unwrap();
    assert_eq!(echo(&r.table, short_id), Some((short.clone(), None)));
    at(&mut r.engine, 1_013, modify(&app, &short, "order-4")).unwrap();

    // Restart: load_table rebuilds every echo from the store.
    let table = reloaded(&r, 1_020);
    assert_eq!(
        echo(&table, short_id),
        Some((short.clone(), Some("order-4".into())))
    );
    assert_eq!(
        echo(&table, long_id),
        Some((long.clone(), Some("order-2".into())))
    );
    assert_eq!(table.echo_entries(), 2);
    // Past its lifetime, the load skips the short binding and its echo.
    let table = reloaded(&r, 1_100);
    assert_eq!(echo(&table, short_id), None);
    assert_eq!(
        echo(&table, long_id),
        Some((long.clone(), Some("order-2".into())))
    );

    // Expiry: the sweep deletes the short binding, and its echo goes with it.
    match at(&mut r.engine, 1_100, Op::Sweep).unwrap() {
        Reply::Swept(n) => assert_eq!(n, 1),
        other => panic!("{other:?}"),
    }
    assert_eq!(echo(&r.table, short_id), None);
    assert_eq!(
        echo(&r.table, long_id),
        Some((long.clone(), Some("order-2".into())))
    );

    // Unbind.
    at(
        &mut r.engine,
        1_200,
        Op::AxbUnbind(AxbUnbind {
            app: app.clone(),
            by: AxbUnbindBy::Subscription(long.clone()),
        }),
    )
    .unwrap();
    assert_eq!(echo(&r.table, long_id), None);
    assert_eq!(r.table.echo_entries(), 0);
}

fn ax_app(r: &mut Rig) -> App {
    let create = Op::CreateApp(CreateApp {
        name: "ax".into(),
        mode: Mode::Ax,
        app_key: Some("ax".into()),
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
        app_key: "ax".into(),
        entries: vec![NumberImport {
            number: n("+8617010000009"),
            area_code: "0755".into(),
            province: None,
        }],
    });
    let out = run(&mut r.engine, vec![create, import]);
    assert!(out.iter().all(Result::is_ok), "{out:?}");
    r.engine.apps.read().get("ax").cloned().unwrap()
}

#[test]
fn a_call_to_the_ax_temporary_callee_echoes_its_own_user_data() {
    let mut r = rig();
    let app = ax_app(&mut r);
    let (privacy, orig, temp, other) = (
        n("+8617010000009"),
        n("+8613800000001"),
        n("+8613900000001"),
        n("+8613700000001"),
    );
    let sub = subscription(at(
        &mut r.engine,
        1_000,
        Op::AxBind(AxBind {
            app: app.clone(),
            x: XSelect::Number(privacy),
            a: orig,
            direction: CallDirection::Both,
            turn_on: true,
            record: RecordSettings::default(),
            controls: pn_bindings::CallControls::default(),
            user_data: Some("ax-data".into()),
        }),
    ));
    at(
        &mut r.engine,
        1_000,
        Op::AxTempCallee(AxTempCallee {
            app: app.clone(),
            target: AxTarget::Subscription(sub.clone()),
            callee: temp,
            duration: 600,
            user_data: Some("temp-data".into()),
        }),
    )
    .unwrap();
    let echo_of_call = |table: &BindingTable, caller: E164| {
        let RouteDecision::Connect(connect) = decide(
            table,
            &RoutePolicy::default(),
            Some(caller),
            privacy,
            None,
            UnixTime(1_001),
        ) else {
            panic!("not connected");
        };
        let echo = table.connect_echo(&connect).unwrap();
        (echo.subscription_id(), echo.user_data().map(str::to_owned))
    };
    // A calls out through X to the temporary callee: the temp callee's userData.
    assert_eq!(
        echo_of_call(&r.table, orig),
        (sub.clone(), Some("temp-data".into()))
    );
    // Someone else calls A through X: the binding's.
    assert_eq!(
        echo_of_call(&r.table, other),
        (sub.clone(), Some("ax-data".into()))
    );
    // The same after a restart.
    let table = reloaded(&r, 1_001);
    assert_eq!(
        echo_of_call(&table, orig),
        (sub.clone(), Some("temp-data".into()))
    );
    assert_eq!(echo_of_call(&table, other), (sub.clone(), Some("ax-data".into())));

    // A new temporary callee without userData: the binding's again.
    at(
        &mut r.engine,
        1_001,
        Op::AxTempCallee(AxTempCallee {
            app: app.clone(),
            target: AxTarget::Subscription(sub.clone()),
            callee: temp,
            duration: 600,
            user_data: None,
        }),
    )
    .unwrap();
    assert_eq!(
        echo_of_call(&r.table, orig),
        (sub.clone(), Some("ax-data".into()))
    );
}
