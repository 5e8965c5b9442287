//! Response shapes: bindings as each mode's query returns them, apps as the admin API returns them.

use pn_bindings::{App, AxeFallback, Binding, BindingKind, CallControls, TimeUnit};
use serde_json::{Map, Value, json};

use crate::time::format_datetime;

fn flag(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

/// Inserts `key` only when `value` is present.
fn put_opt(m: &mut Map<String, Value>, key: &str, value: Option<&String>) {
    if let Some(v) = value {
        m.insert(key.to_owned(), Value::String(v.clone()));
    }
}

fn record_fields(m: &mut Map<String, Value>, b: &Binding) {
    m.insert("recordFlag".into(), flag(b.record.record).into());
    put_opt(m, "recordHintTone", b.record.hint_tone.as_ref());
}

fn control_fields(m: &mut Map<String, Value>, c: &CallControls) {
    m.insert("maxDuration".into(), c.max_duration_min.into());
    put_opt(m, "lastMinVoice", c.last_min_voice.as_ref());
    m.insert("privateSms".into(), flag(c.private_sms).into());
    let mut pv = Map::new();
    put_opt(&mut pv, "callerHintTone", c.pre_voice.caller_hint_tone.as_ref());
    put_opt(&mut pv, "calleeHintTone", c.pre_voice.callee_hint_tone.as_ref());
    if !pv.is_empty() {
        m.insert("preVoice".into(), Value::Object(pv));
    }
}

fn common_tail(m: &mut Map<String, Value>, b: &Binding) {
    put_opt(m, "userData", b.user_data.as_ref());
    m.insert("subscribeTime".into(), format_datetime(b.updated_at).into());
    if let Some(t) = b.expires_at {
        m.insert("expireTime".into(), format_datetime(t).into());
    }
}

/// One `relationNumList` entry of the AXB query.
pub(crate) fn axb_entry(b: &Binding) -> Value {
    let mut m = Map::new();
    if let BindingKind::Axb(k) = &b.kind {
        m.insert("subscriptionId".into(), b.subscription_id.clone().into());
        m.insert("relationNum".into(), k.x.to_string().into());
        m.insert("callerNum".into(), k.a.to_string().into());
        m.insert("calleeNum".into(), k.b.to_string().into());
        m.insert("callDirection".into(), k.direction.code().into());
        m.insert("duration".into(), b.duration_secs.unwrap_or(0).into());
        record_fields(&mut m, b);
        control_fields(&mut m, &k.controls);
        common_tail(&mut m, b);
    }
    Value::Object(m)
}

/// One `privateNumList` entry of the AX query.
pub(crate) fn ax_entry(b: &Binding) -> Value {
    let mut m = Map::new();
    if let BindingKind::Ax(k) = &b.kind {
        m.insert("subscriptionId".into(), b.subscription_id.clone().into());
        m.insert("origNum".into(), k.a.to_string().into());
        m.insert("privateNum".into(), k.x.to_string().into());
        m.insert("calleeNumDisplay".into(), "0".into());
        m.insert("callDirection".into(), k.direction.code().into());
        m.insert("turnFlag".into(), if k.turn_on { "on" } else { "off" }.into());
        record_fields(&mut m, b);
        control_fields(&mut m, &k.controls);
        common_tail(&mut m, b);
    }
    Value::Object(m)
}

/// The AXE query's fields of one binding (flat, as the reference answers a single binding).
pub(crate) fn axe_fields(b: &Binding) -> Map<String, Value> {
    let mut m = Map::new();
    if let BindingKind::Axe(k) = &b.kind {
        m.insert("subscriptionId".into(), b.subscription_id.clone().into());
        m.insert("virtualNum".into(), k.x.to_string().into());
        m.insert("extendNum".into(), k.extension.clone().into());
        m.insert("bindNum".into(), k.a.to_string().into());
        m.insert("displayNumMode".into(), "0".into());
        record_fields(&mut m, b);
        match &k.fallback {
            AxeFallback::Tone(t) => {
                m.insert("callbackTone".into(), t.clone().into());
            }
            AxeFallback::Forward(n) => {
                m.insert("callbackNum".into(), n.to_string().into());
            }
            AxeFallback::Release => {}
        }
        m.insert(
            "timeUnit".into(),
            if k.time_unit == TimeUnit::Minutes {
                "1"
            } else {
                "0"
            }
            .into(),
        );
        m.insert("bindExpiredTime".into(), k.bind_expired_time.unwrap_or(0).into());
        m.insert(
            "callbackExpiredTime".into(),
            k.callback_expired_time.unwrap_or(0).into(),
        );
        common_tail(&mut m, b);
    }
    m
}

/// One `xyRelationNumList` entry: a Y–B relation with its A–X parent, or an A–X part without relations.
pub(crate) fn axyb_entry(parent: &Binding, relation: Option<&Binding>) -> Value {
    let mut m = Map::new();
    let BindingKind::Axyb(k) = &parent.kind else {
        return Value::Object(m);
    };
    let shown = relation.unwrap_or(parent);
    m.insert("bindId".into(), shown.subscription_id.clone().into());
    m.insert("subscriptionId".into(), parent.subscription_id.clone().into());
    m.insert("numA".into(), k.a.to_string().into());
    m.insert("numX".into(), k.x.to_string().into());
    if let Some(BindingKind::Yb(r)) = relation.map(|r| &r.kind) {
        m.insert("numY".into(), r.y.to_string().into());
        m.insert("numB".into(), r.b.to_string().into());
    }
    record_fields(&mut m, parent);
    m.insert("subscribeTime".into(), format_datetime(shown.updated_at).into());
    m.insert("callDirection".into(), k.direction.code().into());
    m.insert(
        "duration".into(),
        parent.duration_secs.unwrap_or(0).to_string().into(),
    );
    m.insert(
        "ybDuration".into(),
        k.yb_duration_secs.unwrap_or(0).to_string().into(),
    );
    put_opt(&mut m, "preVoiceX", k.pre_voice_x.as_ref());
    put_opt(&mut m, "preVoiceY", k.pre_voice_y.as_ref());
    put_opt(&mut m, "userData", parent.user_data.as_ref());
    Value::Object(m)
}

/// The admin JSON of an app (secret included: only the admin sees it).
pub(crate) fn app_json(app: &App) -> Value {
    json!({
        "appKey": app.app_key,
        "appSecret": app.app_secret,
        "name": app.name,
        "mode": app.mode.as_str(),
        "callStatusUrl": app.call_status_url,
        "cdrUrl": app.cdr_url,
        "smsUrl": app.sms_url,
        "recordEnabled": app.record_enabled,
        "smsEnabled": app.sms_enabled,
        "extensionDigits": app.extension_digits,
        "collectRepeat": app.collect_repeat,
        "enabled": app.enabled,
        "createdAt": format_datetime(app.created_at),
        "noBindingPrompt": app.media.no_binding_prompt,
        "noPermissionPrompt": app.media.no_permission_prompt,
        "serviceErrorPrompt": app.media.service_error_prompt,
        "extensionPrompt": app.media.extension_prompt,
        "invalidExtensionPrompt": app.media.invalid_extension_prompt,
        "firstDigitTimeoutMs": app.media.first_digit_timeout_ms,
        "interDigitTimeoutMs": app.media.inter_digit_timeout_ms,
        "digitTerminator": app.media.digit_terminator.map(String::from).unwrap_or_default(),
        "inbandDtmf": app.media.inband_dtmf,
        "answerBeforeCollect": app.media.answer_before_collect,
    })
}
