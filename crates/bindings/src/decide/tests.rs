// Phone numbers are grouped as country code, prefix, subscriber.
#![allow(clippy::inconsistent_digit_grouping)]

use super::*;
use crate::model::{
    App, AxBinding, AxbBinding, AxeBinding, AxybBinding, Binding, BindingKind, CallControls, NumberStatus,
    RecordSettings, TempCallee, TimeUnit, XNumber, YbRelation,
};

const NOW: UnixTime = UnixTime(1_700_000_000);

fn n(digits: u64) -> E164 {
    E164::from_digits(digits).unwrap()
}

/// Mobile numbers.
fn m(i: u64) -> E164 {
    n(86_138_0000_0000 + i)
}

fn x(i: u64) -> E164 {
    n(86_170_0000_0000 + i)
}

const FIXED: u64 = 86_755_2345_6789;
const INTL: u64 = 1_415_555_0100;
/// +86 followed by a national number with a leading 0: never valid.
const INVALID: u64 = 86_0_123_4567;

fn app(id: u32, mode: Mode) -> App {
    App {
        id: AppId(id),
        name: format!("app{id}"),
        mode,
        app_key: format!("key{id}"),
        app_secret: "secret".into(),
        call_status_url: None,
        cdr_url: None,
        sms_url: None,
        record_enabled: true,
        sms_enabled: false,
        extension_digits: 3,
        collect_repeat: 2,
        enabled: true,
        created_at: UnixTime(0),
        media: crate::model::AppMedia::default(),
        push: crate::model::AppPush::default(),
        controls: crate::controls::AppControls::default(),
        allow_national_numbers: false,
    }
}

fn number(num: E164, app: u32, status: NumberStatus) -> XNumber {
    XNumber {
        number: num,
        app: AppId(app),
        area_code: "0755".into(),
        province: None,
        status,
    }
}

/// A table with one app per mode (ids 1 AXB, 2 AX, 3 AXE, 4 AXYB) and X numbers x(1..=4) (+ x(5) as a Y).
fn table() -> BindingTable {
    let t = BindingTable::new();
    for (id, mode) in [(1, Mode::Axb), (2, Mode::Ax), (3, Mode::Axe), (4, Mode::Axyb)] {
        t.upsert_app(&app(id, mode));
        t.upsert_number(&number(x(u64::from(id)), id, NumberStatus::Normal));
    }
    t.upsert_number(&number(x(5), 4, NumberStatus::Normal));
    t
}

fn binding(id: u64, app: u32, expires_at: Option<UnixTime>, kind: BindingKind) -> Binding {
    Binding {
        id: BindingId(id),
        subscription_id: format!("sub{id}"),
        app: AppId(app),
        created_at: UnixTime(0),
        updated_at: UnixTime(0),
        expires_at,
        duration_secs: None,
        record: RecordSettings {
            record: true,
            hint_tone: None,
        },
        user_data: None,
        kind,
    }
}

fn axb_binding(id: u64, a: E164, b: E164, direction: CallDirection, expires_at: Option<UnixTime>) -> Binding {
    binding(
        id,
        1,
        expires_at,
        BindingKind::Axb(AxbBinding {
            x: x(1),
            a,
            b,
            direction,
            controls: CallControls {
                max_duration_min: 3,
                ..CallControls::default()
            },
        }),
    )
}

fn ax_binding(direction: CallDirection, turn_on: bool, expires_at: Option<UnixTime>) -> Binding {
    binding(
        20,
        2,
        expires_at,
        BindingKind::Ax(AxBinding {
            x: x(2),
            a: m(1),
            direction,
            turn_on,
            controls: CallControls {
                max_duration_min: 2,
                ..CallControls::default()
            },
        }),
    )
}

fn axe_binding(id: u64, ext: &str, a: E164, fallback: AxeFallback, expires_at: Option<UnixTime>) -> Binding {
    binding(
        id,
        3,
        expires_at,
        BindingKind::Axe(AxeBinding {
            x: x(3),
            extension: ext.into(),
            a,
            fallback,
            time_unit: TimeUnit::Minutes,
            bind_expired_time: None,
            callback_expired_time: Some(10),
        }),
    )
}

fn axyb_parent(direction: CallDirection, expires_at: Option<UnixTime>) -> Binding {
    binding(
        40,
        4,
        expires_at,
        BindingKind::Axyb(AxybBinding {
            x: x(4),
            a: m(1),
            direction,
            yb_duration_secs: None,
            pre_voice_x: None,
            pre_voice_y: None,
        }),
    )
}

fn yb(expires_at: Option<UnixTime>) -> Binding {
    binding(
        41,
        4,
        expires_at,
        BindingKind::Yb(YbRelation {
            parent: BindingId(40),
            x: x(4),
            a: m(1),
            y: x(5),
            b: m(2),
        }),
    )
}

fn go(t: &BindingTable, caller: Option<E164>, called: E164, ext: Option<&str>) -> RouteDecision {
    decide(t, &RoutePolicy::default(), caller, called, ext, NOW)
}

fn go_at(
    t: &BindingTable,
    caller: Option<E164>,
    called: E164,
    ext: Option<&str>,
    now: UnixTime,
) -> RouteDecision {
    decide(t, &RoutePolicy::default(), caller, called, ext, now)
}

#[track_caller]
fn cause(d: &RouteDecision) -> u16 {
    match d {
        RouteDecision::Reject(r) => r.cause.0,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[track_caller]
fn connected(d: RouteDecision) -> Connect {
    match d {
        RouteDecision::Connect(c) => c,
        other => panic!("expected a connect, got {other:?}"),
    }
}

// ---- pool, app, policy ----

#[test]
fn unknown_x_is_8025_without_app() {
    let d = go(&table(), Some(m(1)), x(99), None);
    assert_eq!(
        d,
        RouteDecision::Reject(Reject {
            cause: Cause::UNKNOWN_X,
            app: None,
            binding: None,
            prompt: None
        })
    );
}

#[test]
fn paused_or_unavailable_x_is_8055_frozen_still_routes() {
    let t = table();
    t.insert_binding(&axb_binding(10, m(1), m(2), CallDirection::Both, None));
    for status in [NumberStatus::Paused, NumberStatus::Unavailable] {
        t.upsert_number(&number(x(1), 1, status));
        let d = go(&t, Some(m(1)), x(1), None);
        assert_eq!(cause(&d), 8055);
        assert!(matches!(
            d,
            RouteDecision::Reject(Reject {
                app: Some(AppId(1)),
                ..
            })
        ));
    }
    t.upsert_number(&number(x(1), 1, NumberStatus::FrozenForNewBinds));
    assert_eq!(connected(go(&t, Some(m(1)), x(1), None)).callee, m(2));
}

#[test]
fn disabled_app_is_8055_and_missing_app_is_7100() {
    let t = table();
    t.insert_binding(&axb_binding(10, m(1), m(2), CallDirection::Both, None));
    let mut disabled = app(1, Mode::Axb);
    disabled.enabled = false;
    t.upsert_app(&disabled);
    assert_eq!(cause(&go(&t, Some(m(1)), x(1), None)), 8055);
    t.upsert_number(&number(x(9), 77, NumberStatus::Normal));
    assert_eq!(cause(&go(&t, Some(m(1)), x(9), None)), 7100);
}

#[test]
fn international_caller_is_8042_unless_allowed() {
    let t = table();
    t.insert_binding(&ax_binding(CallDirection::Both, true, None));
    assert_eq!(cause(&go(&t, Some(n(INTL)), x(2), None)), 8042);
    let policy = RoutePolicy {
        allow_international_in: true,
        ..RoutePolicy::default()
    };
    let d = decide(&t, &policy, Some(n(INTL)), x(2), None, NOW);
    assert_eq!(connected(d).callee, m(1));
}

#[test]
fn international_callee_is_8043_unless_allowed() {
    let t = table();
    t.insert_binding(&ax_binding(CallDirection::Both, true, None));
    t.set_temp_callee(&TempCallee {
        binding: BindingId(20),
        x: x(2),
        callee: n(INTL),
        expires_at: NOW.plus_secs(60),
        user_data: None,
    });
    let d = go(&t, Some(m(1)), x(2), None);
    assert_eq!(cause(&d), 8043);
    assert!(matches!(
        d,
        RouteDecision::Reject(Reject {
            binding: Some(BindingId(20)),
            ..
        })
    ));
    let policy = RoutePolicy {
        allow_international_out: true,
        ..RoutePolicy::default()
    };
    assert_eq!(
        connected(decide(&t, &policy, Some(m(1)), x(2), None, NOW)).callee,
        n(INTL)
    );
}

#[test]
fn policy_defaults_and_config() {
    let p = RoutePolicy::default();
    assert!(!p.allow_international_in && !p.allow_international_out && p.reject_fixed_line_caller);
    let parsed: RoutePolicy = serde_json::from_str(r#"{"allow_international_out": true}"#).unwrap();
    assert_eq!(
        parsed,
        RoutePolicy {
            allow_international_out: true,
            ..RoutePolicy::default()
        }
    );
    assert!(serde_json::from_str::<RoutePolicy>(r#"{"allow_everything": true}"#).is_err());
    assert_eq!(
        (
            CdrDirection::BToA.code(),
            CdrDirection::AToB.code(),
            CdrDirection::Abnormal.code()
        ),
        (0, 1, 2)
    );
}

// ---- AXB ----

#[test]
fn axb_a_reaches_b_and_b_reaches_a() {
    let t = table();
    t.insert_binding(&axb_binding(10, m(1), m(2), CallDirection::Both, None));
    let c = connected(go(&t, Some(m(1)), x(1), None));
    assert_eq!(
        c,
        Connect {
            callee: m(2),
            display: x(1),
            max_duration_secs: 180,
            record: true,
            binding: BindingId(10),
            app: AppId(1),
            mode: Mode::Axb,
            direction: CdrDirection::AToB,
            callback: None,
        }
    );
    let c = connected(go(&t, Some(m(2)), x(1), None));
    assert_eq!(
        (c.callee, c.display, c.direction),
        (m(1), x(1), CdrDirection::BToA)
    );
}

#[test]
fn axb_stranger_anonymous_or_invalid_caller_is_8014() {
    let t = table();
    t.insert_binding(&axb_binding(10, m(1), m(2), CallDirection::Both, None));
    assert_eq!(cause(&go(&t, Some(m(3)), x(1), None)), 8014);
    assert_eq!(cause(&go(&t, None, x(1), None)), 8014);
    assert_eq!(cause(&go(&t, Some(n(INVALID)), x(1), None)), 8014);
}

#[test]
fn axb_expiry_is_exclusive() {
    let t = table();
    let expires = NOW.plus_secs(10);
    t.insert_binding(&axb_binding(10, m(1), m(2), CallDirection::Both, Some(expires)));
    assert_eq!(
        connected(go_at(&t, Some(m(1)), x(1), None, expires.plus_secs(-1))).callee,
        m(2)
    );
    assert_eq!(cause(&go_at(&t, Some(m(1)), x(1), None, expires)), 8014);
    assert_eq!(
        cause(&go_at(&t, Some(m(2)), x(1), None, expires.plus_secs(1))),
        8014
    );
}

#[test]
fn axb_direction_rules() {
    let t = table();
    t.insert_binding(&axb_binding(10, m(1), m(2), CallDirection::AToB, None));
    assert_eq!(connected(go(&t, Some(m(1)), x(1), None)).callee, m(2));
    let d = go(&t, Some(m(2)), x(1), None);
    assert_eq!(cause(&d), 8016);
    assert!(matches!(
        d,
        RouteDecision::Reject(Reject {
            binding: Some(BindingId(10)),
            ..
        })
    ));

    t.insert_binding(&axb_binding(11, m(3), m(4), CallDirection::BToA, None));
    assert_eq!(cause(&go(&t, Some(m(3)), x(1), None)), 8016);
    assert_eq!(connected(go(&t, Some(m(4)), x(1), None)).callee, m(3));
}

#[test]
fn axb_fixed_line_caller_is_8023_by_policy() {
    let t = table();
    t.insert_binding(&axb_binding(10, n(FIXED), m(2), CallDirection::Both, None));
    assert_eq!(cause(&go(&t, Some(n(FIXED)), x(1), None)), 8023);
    // The fixed line may still be called.
    assert_eq!(connected(go(&t, Some(m(2)), x(1), None)).callee, n(FIXED));
    let lenient = RoutePolicy {
        reject_fixed_line_caller: false,
        ..RoutePolicy::default()
    };
    assert_eq!(
        connected(decide(&t, &lenient, Some(n(FIXED)), x(1), None, NOW)).callee,
        m(2)
    );
}

#[test]
fn axb_remove_and_replace_take_effect() {
    let t = table();
    let old = axb_binding(10, m(1), m(2), CallDirection::Both, None);
    t.insert_binding(&old);
    let new = axb_binding(10, m(1), m(3), CallDirection::AToB, None);
    t.replace_binding(&old, &new);
    assert_eq!(connected(go(&t, Some(m(1)), x(1), None)).callee, m(3));
    assert_eq!(cause(&go(&t, Some(m(2)), x(1), None)), 8014);
    assert_eq!(cause(&go(&t, Some(m(3)), x(1), None)), 8016);
    t.remove_binding(&new);
    assert_eq!(cause(&go(&t, Some(m(1)), x(1), None)), 8014);
}

// ---- AX ----

#[test]
fn ax_anyone_reaches_a() {
    let t = table();
    t.insert_binding(&ax_binding(CallDirection::Both, true, None));
    for caller in [
        Some(m(5)),
        None,
        Some(n(INVALID)),
        Some(n(FIXED)),
        Some(n(86_400_123_4567)),
    ] {
        let c = connected(go(&t, caller, x(2), None));
        assert_eq!(
            c,
            Connect {
                callee: m(1),
                display: x(2),
                max_duration_secs: 120,
                record: true,
                binding: BindingId(20),
                app: AppId(2),
                mode: Mode::Ax,
                direction: CdrDirection::BToA,
                callback: None,
            }
        );
    }
}

#[test]
fn ax_a_reaches_the_live_temp_callee_only() {
    let t = table();
    t.insert_binding(&ax_binding(CallDirection::Both, true, None));
    assert_eq!(cause(&go(&t, Some(m(1)), x(2), None)), 8013);
    let expires = NOW.plus_secs(60);
    t.set_temp_callee(&TempCallee {
        binding: BindingId(20),
        x: x(2),
        callee: m(9),
        expires_at: expires,
        user_data: None,
    });
    let c = connected(go_at(&t, Some(m(1)), x(2), None, expires.plus_secs(-1)));
    assert_eq!(
        (c.callee, c.display, c.direction, c.max_duration_secs),
        (m(9), x(2), CdrDirection::AToB, 120)
    );
    assert_eq!(cause(&go_at(&t, Some(m(1)), x(2), None, expires)), 8013);
    t.clear_temp_callee(x(2));
    assert_eq!(cause(&go(&t, Some(m(1)), x(2), None)), 8013);
}

#[test]
fn ax_direction_turn_flag_and_fixed_line() {
    let t = table();
    t.insert_binding(&ax_binding(CallDirection::BToA, true, None));
    assert_eq!(cause(&go(&t, Some(m(1)), x(2), None)), 8016);
    t.insert_binding(&ax_binding(CallDirection::AToB, true, None));
    assert_eq!(cause(&go(&t, Some(m(5)), x(2), None)), 8016);
    t.insert_binding(&ax_binding(CallDirection::Both, false, None));
    assert_eq!(cause(&go(&t, Some(m(5)), x(2), None)), 8104);

    let fixed_a = binding(
        21,
        2,
        None,
        BindingKind::Ax(AxBinding {
            x: x(2),
            a: n(FIXED),
            direction: CallDirection::Both,
            turn_on: true,
            controls: CallControls::default(),
        }),
    );
    t.remove_binding(&ax_binding(CallDirection::Both, false, None));
    t.insert_binding(&fixed_a);
    assert_eq!(cause(&go(&t, Some(n(FIXED)), x(2), None)), 8023);
}

#[test]
fn ax_without_live_binding_is_8014() {
    let t = table();
    assert_eq!(cause(&go(&t, Some(m(5)), x(2), None)), 8014);
    let expires = NOW.plus_secs(5);
    t.insert_binding(&ax_binding(CallDirection::Both, true, Some(expires)));
    assert_eq!(
        connected(go_at(&t, Some(m(5)), x(2), None, expires.plus_secs(-1))).callee,
        m(1)
    );
    assert_eq!(cause(&go_at(&t, Some(m(5)), x(2), None, expires)), 8014);
}

// ---- AXE ----

#[test]
fn axe_without_extension_collects_digits() {
    let t = table();
    t.insert_binding(&axe_binding(30, "007", m(1), AxeFallback::Release, None));
    let want = RouteDecision::CollectDigits(CollectDigits {
        x: x(3),
        app: AppId(3),
        digits: 3,
        repeat: 2,
    });
    assert_eq!(go(&t, Some(m(5)), x(3), None), want);
    assert_eq!(go(&t, None, x(3), None), want);
    assert_eq!(go(&t, Some(n(INVALID)), x(3), None), want);
}

#[test]
fn axe_empty_extension_is_8033() {
    let t = table();
    assert_eq!(cause(&go(&t, Some(m(5)), x(3), Some(""))), 8033);
}

#[test]
fn axe_extension_reaches_a_and_leaves_a_callback_record() {
    let t = table();
    t.insert_binding(&axe_binding(30, "007", m(1), AxeFallback::Release, None));
    let c = connected(go(&t, Some(m(5)), x(3), Some("007")));
    assert_eq!(
        c,
        Connect {
            callee: m(1),
            display: x(3),
            max_duration_secs: 0,
            record: true,
            binding: BindingId(30),
            app: AppId(3),
            mode: Mode::Axe,
            direction: CdrDirection::BToA,
            callback: Some(CallbackRecord {
                binding: BindingId(30),
                x: x(3),
                a: m(1),
                last_caller: m(5),
                expires_at: Some(NOW.plus_secs(600)),
            }),
        }
    );
    assert_eq!(connected(go(&t, None, x(3), Some("007"))).callback, None);
    assert_eq!(
        connected(go(&t, Some(n(INVALID)), x(3), Some("007"))).callback,
        None
    );
    assert_eq!(cause(&go(&t, Some(m(5)), x(3), Some("7"))), 8022);
}

#[test]
fn axe_callback_ttl_absent_or_zero_never_expires() {
    let t = table();
    for (id, ttl) in [(31, None), (32, Some(0))] {
        let mut b = axe_binding(id, &format!("{id}"), m(1), AxeFallback::Release, None);
        if let BindingKind::Axe(axe) = &mut b.kind {
            axe.callback_expired_time = ttl;
        }
        t.insert_binding(&b);
        let c = connected(go(&t, Some(m(5)), x(3), Some(&format!("{id}"))));
        assert_eq!(c.callback.unwrap().expires_at, None);
    }
}

#[test]
fn axe_extension_expiry_is_exclusive() {
    let t = table();
    let expires = NOW.plus_secs(30);
    t.insert_binding(&axe_binding(30, "007", m(1), AxeFallback::Release, Some(expires)));
    assert_eq!(
        connected(go_at(&t, Some(m(5)), x(3), Some("007"), expires.plus_secs(-1))).callee,
        m(1)
    );
    assert_eq!(cause(&go_at(&t, Some(m(5)), x(3), Some("007"), expires)), 8022);
}

#[test]
fn axe_a_calls_back_the_last_caller_until_the_record_expires() {
    let t = table();
    t.insert_binding(&axe_binding(30, "007", m(1), AxeFallback::Release, None));
    let c = connected(go(&t, Some(m(5)), x(3), Some("007")));
    let record = c.callback.unwrap();
    t.set_callback_record(&record);
    let expires = record.expires_at.unwrap();
    let back = connected(go_at(&t, Some(m(1)), x(3), None, expires.plus_secs(-1)));
    assert_eq!(
        (
            back.callee,
            back.display,
            back.direction,
            back.binding,
            back.callback
        ),
        (m(5), x(3), CdrDirection::AToB, BindingId(30), None)
    );
    assert_eq!(cause(&go_at(&t, Some(m(1)), x(3), None, expires)), 8019);
}

#[test]
fn axe_fallbacks_without_callback_record() {
    let t = table();
    t.insert_binding(&axe_binding(30, "001", m(1), AxeFallback::Release, None));
    let d = go(&t, Some(m(1)), x(3), None);
    assert_eq!(
        d,
        RouteDecision::Reject(Reject {
            cause: Cause::NO_CALLBACK_RECORD,
            app: Some(AppId(3)),
            binding: Some(BindingId(30)),
            prompt: None
        })
    );

    t.insert_binding(&axe_binding(
        31,
        "002",
        m(2),
        AxeFallback::Tone("cb.wav".into()),
        None,
    ));
    let d = go(&t, Some(m(2)), x(3), None);
    assert_eq!(
        d,
        RouteDecision::Reject(Reject {
            cause: Cause::NO_CALLBACK_RECORD,
            app: Some(AppId(3)),
            binding: Some(BindingId(31)),
            prompt: Some("cb.wav".into())
        })
    );

    t.insert_binding(&axe_binding(32, "003", m(3), AxeFallback::Forward(m(8)), None));
    let c = connected(go(&t, Some(m(3)), x(3), None));
    assert_eq!(
        (c.callee, c.display, c.direction, c.binding),
        (m(8), x(3), CdrDirection::AToB, BindingId(32))
    );
}

#[test]
fn axe_fixed_line_a_cannot_call_back() {
    let t = table();
    t.insert_binding(&axe_binding(
        30,
        "001",
        n(FIXED),
        AxeFallback::Forward(m(8)),
        None,
    ));
    assert_eq!(cause(&go(&t, Some(n(FIXED)), x(3), None)), 8023);
}

#[test]
fn axe_expired_a_binding_no_longer_calls_back() {
    let t = table();
    let expires = NOW.plus_secs(1);
    t.insert_binding(&axe_binding(
        30,
        "001",
        m(1),
        AxeFallback::Forward(m(8)),
        Some(expires),
    ));
    assert_eq!(
        connected(go_at(&t, Some(m(1)), x(3), None, expires.plus_secs(-1))).callee,
        m(8)
    );
    assert!(matches!(
        go_at(&t, Some(m(1)), x(3), None, expires),
        RouteDecision::CollectDigits(_)
    ));
}

// ---- AXYB ----

fn axyb_table(
    direction: CallDirection,
    parent_expires: Option<UnixTime>,
    yb_expires: Option<UnixTime>,
) -> BindingTable {
    let t = table();
    t.insert_binding(&axyb_parent(direction, parent_expires));
    t.insert_binding(&yb(yb_expires));
    t
}

#[test]
fn axyb_b_dials_x_and_a_dials_y() {
    let t = axyb_table(CallDirection::Both, None, None);
    let c = connected(go(&t, Some(m(2)), x(4), None));
    assert_eq!(
        c,
        Connect {
            callee: m(1),
            display: x(5),
            max_duration_secs: 0,
            record: true,
            binding: BindingId(41),
            app: AppId(4),
            mode: Mode::Axyb,
            direction: CdrDirection::BToA,
            callback: None,
        }
    );
    let c = connected(go(&t, Some(m(1)), x(5), None));
    assert_eq!(
        (c.callee, c.display, c.direction),
        (m(2), x(4), CdrDirection::AToB)
    );
}

#[test]
fn axyb_direction_rules() {
    let t = axyb_table(CallDirection::AToB, None, None);
    assert_eq!(cause(&go(&t, Some(m(2)), x(4), None)), 8016);
    assert_eq!(connected(go(&t, Some(m(1)), x(5), None)).callee, m(2));
    let t = axyb_table(CallDirection::BToA, None, None);
    assert_eq!(cause(&go(&t, Some(m(1)), x(5), None)), 8016);
    assert_eq!(connected(go(&t, Some(m(2)), x(4), None)).callee, m(1));
}

#[test]
fn axyb_relation_or_parent_expiry_is_8030() {
    let at = NOW.plus_secs(100);
    let t = axyb_table(CallDirection::Both, None, Some(at));
    assert_eq!(
        connected(go_at(&t, Some(m(2)), x(4), None, at.plus_secs(-1))).callee,
        m(1)
    );
    assert_eq!(cause(&go_at(&t, Some(m(2)), x(4), None, at)), 8030);
    assert_eq!(cause(&go_at(&t, Some(m(1)), x(5), None, at)), 8030);

    let t = axyb_table(CallDirection::Both, Some(at), None);
    assert_eq!(
        connected(go_at(&t, Some(m(1)), x(5), None, at.plus_secs(-1))).callee,
        m(2)
    );
    assert_eq!(cause(&go_at(&t, Some(m(2)), x(4), None, at)), 8030);

    let t = axyb_table(CallDirection::Both, None, None);
    t.remove_binding(&axyb_parent(CallDirection::Both, None));
    assert_eq!(cause(&go(&t, Some(m(2)), x(4), None)), 8030);
}

#[test]
fn axyb_own_number_stranger_and_anonymous() {
    let t = axyb_table(CallDirection::Both, None, None);
    assert_eq!(cause(&go(&t, Some(m(1)), x(4), None)), 8032);
    assert_eq!(cause(&go(&t, Some(m(7)), x(4), None)), 8030);
    assert_eq!(cause(&go(&t, Some(m(7)), x(5), None)), 8030);
    assert_eq!(cause(&go(&t, None, x(4), None)), 8014);
}

#[test]
fn axyb_fixed_line_caller_is_8023() {
    let t = table();
    t.insert_binding(&axyb_parent(CallDirection::Both, None));
    t.insert_binding(&binding(
        41,
        4,
        None,
        BindingKind::Yb(YbRelation {
            parent: BindingId(40),
            x: x(4),
            a: m(1),
            y: x(5),
            b: n(FIXED),
        }),
    ));
    assert_eq!(cause(&go(&t, Some(n(FIXED)), x(4), None)), 8023);
    assert_eq!(connected(go(&t, Some(m(1)), x(5), None)).callee, n(FIXED));
}

#[test]
fn test_numbers_are_of_the_intended_kinds() {
    use pn_numbers::{NumberKind, classify};
    assert_eq!(classify(m(1)), NumberKind::Mobile);
    assert!(classify(n(FIXED)).is_fixed_line());
    assert_eq!(classify(n(INTL)), NumberKind::International);
    assert_eq!(classify(n(INVALID)), NumberKind::Invalid);
    assert_eq!(classify(n(86_400_123_4567)), NumberKind::SpecialService);
}

#[test]
fn x_mode_asks_the_customer_for_any_caller() {
    let t = table();
    t.upsert_app(&app(6, Mode::X));
    t.upsert_number(&number(x(6), 6, NumberStatus::Normal));
    let ask = |caller| match go(&t, caller, x(6), None) {
        RouteDecision::Ask(a) => a,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        ask(Some(m(1))),
        Ask {
            x: x(6),
            app: AppId(6),
            caller: Some(m(1)),
            record_allowed: true,
        }
    );
    // Fixed-line, anonymous and invalid callers are asked about too (no bound party in X mode).
    assert_eq!(ask(Some(n(FIXED))).caller, Some(n(FIXED)));
    assert_eq!(ask(None).caller, None);
    assert_eq!(ask(Some(n(INVALID))).caller, None);
    // The checks before the mode still apply.
    assert_eq!(cause(&go(&t, Some(n(INTL)), x(6), None)), 8042);
    t.upsert_number(&number(x(6), 6, NumberStatus::Paused));
    assert_eq!(cause(&go(&t, Some(m(1)), x(6), None)), 8055);
    let mut no_recording = app(6, Mode::X);
    no_recording.record_enabled = false;
    t.upsert_app(&no_recording);
    t.upsert_number(&number(x(6), 6, NumberStatus::Normal));
    assert!(!ask(Some(m(1))).record_allowed);
    assert_eq!(Mode::X.as_str(), "X");
    assert_eq!(serde_json::to_string(&Mode::X).unwrap(), "\"X\"");
}
