// Phone numbers are grouped as country code, prefix, subscriber.
#![allow(clippy::inconsistent_digit_grouping)]

use super::*;
use crate::model::{
    App, AppMedia, AppPush, AxBinding, AxbBinding, Binding, BindingKind, CallControls, CallDirection,
    NumberStatus, RecordSettings, XNumber,
};

const NOW: UnixTime = UnixTime(1_700_000_000);

fn n(digits: u64) -> E164 {
    E164::from_digits(digits).unwrap()
}

fn m(i: u64) -> E164 {
    n(86_138_0000_0000 + i)
}

fn x(i: u64) -> E164 {
    n(86_170_0000_0000 + i)
}

const INTL: u64 = 1_415_555_0100;

fn app(id: u32, mode: Mode, sms: bool) -> App {
    App {
        id: AppId(id),
        name: format!("app{id}"),
        mode,
        app_key: format!("key{id}"),
        app_secret: "secret".into(),
        call_status_url: None,
        cdr_url: None,
        sms_url: None,
        record_enabled: false,
        sms_enabled: sms,
        extension_digits: 3,
        collect_repeat: 2,
        enabled: true,
        created_at: UnixTime(0),
        media: AppMedia::default(),
        push: AppPush::default(),
        controls: crate::controls::AppControls::default(),
        allow_national_numbers: false,
    }
}

fn controls(private_sms: bool) -> CallControls {
    CallControls {
        private_sms,
        ..CallControls::default()
    }
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
        record: RecordSettings::default(),
        user_data: None,
        kind,
    }
}

/// App 1 AXB on x(1) (A m(1), B m(2)), app 2 AX on x(2) (A m(1)), app 3 AXE on x(3); all with SMS.
fn table() -> BindingTable {
    let t = BindingTable::new();
    for (id, mode) in [(1, Mode::Axb), (2, Mode::Ax), (3, Mode::Axe)] {
        t.upsert_app(&app(id, mode, true));
        t.upsert_number(&XNumber {
            number: x(u64::from(id)),
            app: AppId(id),
            area_code: "0755".into(),
            province: None,
            status: NumberStatus::Normal,
        });
    }
    t.insert_binding(&binding(
        10,
        1,
        None,
        BindingKind::Axb(AxbBinding {
            x: x(1),
            a: m(1),
            b: m(2),
            direction: CallDirection::AToB,
            controls: controls(true),
        }),
    ));
    t.insert_binding(&binding(
        20,
        2,
        None,
        BindingKind::Ax(AxBinding {
            x: x(2),
            a: m(1),
            direction: CallDirection::Both,
            turn_on: true,
            controls: controls(true),
        }),
    ));
    t
}

fn sms(t: &BindingTable, sender: E164, to: E164, body: &str) -> SmsDecision {
    decide_sms(t, &RoutePolicy::default(), sender, to, body, NOW)
}

fn relayed(d: SmsDecision) -> (E164, E164, String, CdrDirection) {
    match d {
        SmsDecision::Relay(r) => (r.to, r.x, r.body, r.direction),
        other => panic!("expected a relay, got {other:?}"),
    }
}

fn refused(d: &SmsDecision) -> (u8, Option<AppId>, Option<BindingId>) {
    match d {
        SmsDecision::Refuse(r) => (r.result.0, r.app, r.binding),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn axb_relays_to_the_other_party_from_x_in_both_directions() {
    let t = table();
    // The call direction (A→B only) does not restrict SMS.
    assert_eq!(
        relayed(sms(&t, m(1), x(1), "hi B")),
        (m(2), x(1), "hi B".into(), CdrDirection::AToB)
    );
    assert_eq!(
        relayed(sms(&t, m(2), x(1), "hi A")),
        (m(1), x(1), "hi A".into(), CdrDirection::BToA)
    );
    // A stranger has no binding: 2, with the app known.
    assert_eq!(refused(&sms(&t, m(9), x(1), "hi")), (2, Some(AppId(1)), None));
}

#[test]
fn ax_a_with_at_suffix_goes_to_b_without_it() {
    let t = table();
    for (body, b) in [
        ("see you@13900000001", n(86_139_0000_0001)),
        ("see you@+8613900000001", n(86_139_0000_0001)),
        ("see you@8613900000001 ", n(86_139_0000_0001)),
        ("see you@075523456789", n(86_755_2345_6789)),
    ] {
        assert_eq!(
            relayed(sms(&t, m(1), x(2), body)),
            (b, x(2), "see you".into(), CdrDirection::AToB),
            "{body}"
        );
    }
    // Only the last @ counts; earlier ones stay in the text.
    assert_eq!(
        relayed(sms(&t, m(1), x(2), "mail a@b.c @13900000001")).2,
        "mail a@b.c "
    );
}

#[test]
fn ax_a_without_a_valid_at_part_needs_block() {
    let t = table();
    let block = SmsDecision::NeedsBlock(SmsBlock {
        binding: Some(BindingId(20)),
        app: AppId(2),
        mode: Mode::Ax,
    });
    for body in [
        "no suffix",
        "bad@",
        "bad@abc",
        "bad@139 0000 0001",
        "full width＠13900000001",
        "invalid@8601234567",
        "self@+8613800000001",
        "x@+8617000000002",
    ] {
        assert_eq!(sms(&t, m(1), x(2), body), block, "{body}");
    }
}

#[test]
fn ax_b_texts_reach_a_with_from_b_appended() {
    let t = table();
    assert_eq!(
        relayed(sms(&t, n(86_139_0000_0007), x(2), "hello")),
        (m(1), x(2), "hello[From+8613900000007]".into(), CdrDirection::BToA)
    );
}

#[test]
fn refusals_carry_the_reference_send_result() {
    let t = table();
    // X not in the pool: 2, no app.
    assert_eq!(refused(&sms(&t, m(1), x(9), "hi")), (2, None, None));
    // Number paused: 3.
    t.upsert_number(&XNumber {
        number: x(1),
        app: AppId(1),
        area_code: "0755".into(),
        province: None,
        status: NumberStatus::Paused,
    });
    assert_eq!(refused(&sms(&t, m(1), x(1), "hi")), (3, Some(AppId(1)), None));
    // App without SMS: 11.
    t.upsert_app(&app(2, Mode::Ax, false));
    assert_eq!(
        refused(&sms(&t, m(1), x(2), "hi@13900000001")),
        (11, Some(AppId(2)), None)
    );
    // A mode without SMS: 11.
    assert_eq!(refused(&sms(&t, m(1), x(3), "hi")), (11, Some(AppId(3)), None));
    // X mode: every text needs Block (no binding), whatever it says.
    t.upsert_app(&app(4, Mode::X, true));
    t.upsert_number(&XNumber {
        number: x(4),
        app: AppId(4),
        area_code: "0755".into(),
        province: None,
        status: NumberStatus::Normal,
    });
    for body in ["hi", "hi@13900000001"] {
        assert_eq!(
            sms(&t, m(1), x(4), body),
            SmsDecision::NeedsBlock(SmsBlock {
                binding: None,
                app: AppId(4),
                mode: Mode::X,
            })
        );
    }
    // International sender: 10 under the default policy, relayed when allowed.
    let t = table();
    assert_eq!(refused(&sms(&t, n(INTL), x(2), "hi")), (10, Some(AppId(2)), None));
    let open = RoutePolicy {
        allow_international_in: true,
        ..RoutePolicy::default()
    };
    assert!(matches!(
        decide_sms(&t, &open, n(INTL), x(2), "hi", NOW),
        SmsDecision::Relay(_)
    ));
    // International receiver (AX @ part): 10.
    assert_eq!(
        refused(&sms(&t, m(1), x(2), "hi@+14155550100")),
        (10, Some(AppId(2)), Some(BindingId(20)))
    );
}

#[test]
fn private_sms_false_refuses_with_11_and_follows_modify_and_remove() {
    let t = table();
    let old = binding(
        10,
        1,
        None,
        BindingKind::Axb(AxbBinding {
            x: x(1),
            a: m(1),
            b: m(2),
            direction: CallDirection::Both,
            controls: controls(true),
        }),
    );
    let mut off = old.clone();
    if let BindingKind::Axb(b) = &mut off.kind {
        b.controls.private_sms = false;
    }
    t.replace_binding(&old, &off);
    assert_eq!(
        refused(&sms(&t, m(1), x(1), "hi")),
        (11, Some(AppId(1)), Some(BindingId(10)))
    );
    assert!(!t.sms_allowed(BindingId(10)));
    t.replace_binding(&off, &old);
    assert!(matches!(sms(&t, m(1), x(1), "hi"), SmsDecision::Relay(_)));
    t.replace_binding(&old, &off);
    t.remove_binding(&off);
    assert!(t.sms_allowed(BindingId(10)));
    assert_eq!(refused(&sms(&t, m(1), x(1), "hi")), (2, Some(AppId(1)), None));
}

#[test]
fn expired_bindings_do_not_relay() {
    let t = table();
    let b = binding(
        30,
        1,
        Some(NOW),
        BindingKind::Axb(AxbBinding {
            x: x(1),
            a: m(5),
            b: m(6),
            direction: CallDirection::Both,
            controls: controls(true),
        }),
    );
    t.insert_binding(&b);
    assert_eq!(refused(&sms(&t, m(5), x(1), "hi")), (2, Some(AppId(1)), None));
}
