//! Model values the store tests write and read back.

use pn_bindings::{
    App, AppId, AxBinding, AxbBinding, AxeBinding, AxeFallback, AxybBinding, Binding, BindingId, BindingKind,
    CallControls, CallDirection, Mode, PreVoice, RecordSettings, TimeUnit, UnixTime, YbRelation,
};
use pn_numbers::E164;

use crate::SeenNonce;

pub(crate) fn n(digits: u64) -> E164 {
    E164::from_digits(digits).unwrap()
}

pub(crate) fn app(id: u32, mode: Mode) -> App {
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

pub(crate) fn controls() -> CallControls {
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

pub(crate) fn binding(id: u64, app: u32, expires_at: Option<i64>, kind: BindingKind) -> Binding {
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

pub(crate) fn axb(x: u64, a: u64, b: u64) -> BindingKind {
    BindingKind::Axb(AxbBinding {
        x: n(x),
        a: n(a),
        b: n(b),
        direction: CallDirection::AToB,
        controls: controls(),
    })
}

pub(crate) fn ax(x: u64, a: u64) -> BindingKind {
    BindingKind::Ax(AxBinding {
        x: n(x),
        a: n(a),
        direction: CallDirection::Both,
        turn_on: true,
        controls: controls(),
    })
}

pub(crate) fn axe(x: u64, ext: &str, a: u64) -> BindingKind {
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

pub(crate) fn axyb(x: u64, a: u64) -> BindingKind {
    BindingKind::Axyb(AxybBinding {
        x: n(x),
        a: n(a),
        direction: CallDirection::BToA,
        yb_duration_secs: Some(600),
        pre_voice_x: Some("x.wav".into()),
        pre_voice_y: None,
    })
}

pub(crate) fn yb(parent: u64, x: u64, a: u64, y: u64, b: u64) -> BindingKind {
    BindingKind::Yb(YbRelation {
        parent: BindingId(parent),
        x: n(x),
        a: n(a),
        y: n(y),
        b: n(b),
    })
}

/// One binding of every kind, ids 1..=5 (5 is a Y–B relation of 4).
pub(crate) fn one_of_each() -> Vec<Binding> {
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

pub(crate) fn nonce(app_key: &str, nonce: &str, created: i64) -> SeenNonce {
    SeenNonce {
        app_key: app_key.into(),
        nonce: nonce.into(),
        created,
    }
}
