//! The API's data types: every answer's shape (this module) and every request's fields ([`requests`]).
//!
//! The answers the handlers build are these types, serialised; `/openapi.json` is generated from the same
//! types ([`crate::openapi`]), so the document and the wire cannot drift apart. Answers the write engine
//! builds (binds, modifies, imports) are described by the `*Body` types marked schema-only; the OpenAPI test
//! (`tests/openapi/`) validates the real binary's answers against the document.

pub(crate) mod outbox;
pub(crate) mod requests;

use pn_bindings::{App, AxeFallback, Binding, BindingKind, CallControls, TimeUnit};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::time::format_datetime;

/// A success answer: `resultcode` `"0"`, `resultdesc` `"Success"`, and the operation's own fields.
#[derive(Serialize, ToSchema)]
pub(crate) struct Answer<T> {
    /// `"0"`.
    pub(crate) resultcode: &'static str,
    /// `"Success"`.
    pub(crate) resultdesc: &'static str,
    /// The operation's fields, at the top level.
    #[serde(flatten)]
    pub(crate) body: T,
}

/// Every refusal and error, and the answer of operations that return no fields: `resultcode` (`"0"` is
/// success) and `resultdesc` (what was wrong, naming the field or rule).
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ApiResult {
    /// The reference's result code, e.g. `"1020001"`.
    #[schema(example = "1020001")]
    pub(crate) resultcode: String,
    /// What was wrong.
    #[schema(example = "Parameter error: callerNum is required")]
    pub(crate) resultdesc: String,
}

fn flag(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

/// `preVoice`: the tones played while the other side is reached (a request's or a binding's).
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PreVoice {
    /// Heard by the caller (A) while the callee is reached.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) caller_hint_tone: Option<String>,
    /// Heard by the callee (B) while the caller is reached.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) callee_hint_tone: Option<String>,
}

/// The call controls of an AXB or AX binding.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Controls {
    /// Longest call in minutes (0 = unlimited).
    max_duration: u16,
    /// Prompt played in the call's last minute.
    #[serde(skip_serializing_if = "Option::is_none")]
    last_min_voice: Option<String>,
    /// `"true"`/`"false"`.
    private_sms: &'static str,
    /// Present when a tone is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pre_voice: Option<PreVoice>,
}

impl Controls {
    fn of(c: &CallControls) -> Self {
        let pv = &c.pre_voice;
        Self {
            max_duration: c.max_duration_min,
            last_min_voice: c.last_min_voice.clone(),
            private_sms: flag(c.private_sms),
            pre_voice: (pv.caller_hint_tone.is_some() || pv.callee_hint_tone.is_some()).then(|| PreVoice {
                caller_hint_tone: pv.caller_hint_tone.clone(),
                callee_hint_tone: pv.callee_hint_tone.clone(),
            }),
        }
    }
}

/// The recording settings and times every binding entry carries.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Common {
    /// `"true"`/`"false"`.
    record_flag: &'static str,
    /// Recording notice file.
    #[serde(skip_serializing_if = "Option::is_none")]
    record_hint_tone: Option<String>,
    /// The binding's `userData`.
    #[serde(skip_serializing_if = "Option::is_none")]
    user_data: Option<String>,
    /// Last change, `yyyy-MM-dd HH:mm:ss` (UTC).
    #[schema(example = "2019-01-24 02:30:03")]
    subscribe_time: String,
    /// End of life, `yyyy-MM-dd HH:mm:ss` (UTC); absent: permanent.
    #[serde(skip_serializing_if = "Option::is_none")]
    expire_time: Option<String>,
}

impl Common {
    fn of(b: &Binding) -> Self {
        Self {
            record_flag: flag(b.record.record),
            record_hint_tone: b.record.hint_tone.clone(),
            user_data: b.user_data.clone(),
            subscribe_time: format_datetime(b.updated_at),
            expire_time: b.expires_at.map(format_datetime),
        }
    }
}

/// One `relationNumList` entry of the AXB query.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AxbEntry {
    subscription_id: String,
    /// X.
    relation_num: String,
    /// A.
    caller_num: String,
    /// B.
    callee_num: String,
    /// 0 both, 1 only A→B, 2 only B→A.
    call_direction: u8,
    /// Lifetime in seconds (0 = permanent).
    duration: u32,
    #[serde(flatten)]
    controls: Controls,
    #[serde(flatten)]
    common: Common,
}

/// The AXB query entry of `b` (`None` for another mode's binding).
pub(crate) fn axb_entry(b: &Binding) -> Option<AxbEntry> {
    let BindingKind::Axb(k) = &b.kind else {
        return None;
    };
    Some(AxbEntry {
        subscription_id: b.subscription_id.clone(),
        relation_num: k.x.to_string(),
        caller_num: k.a.to_string(),
        callee_num: k.b.to_string(),
        call_direction: k.direction.code(),
        duration: b.duration_secs.unwrap_or(0),
        controls: Controls::of(&k.controls),
        common: Common::of(b),
    })
}

/// One `privateNumList` entry of the AX query.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AxEntry {
    subscription_id: String,
    /// A.
    orig_num: String,
    /// X.
    private_num: String,
    /// Always `"0"`.
    callee_num_display: &'static str,
    /// 0 both, 1 only A calls out, 2 only others→A.
    call_direction: u8,
    /// `"on"`/`"off"`.
    turn_flag: &'static str,
    #[serde(flatten)]
    controls: Controls,
    #[serde(flatten)]
    common: Common,
}

/// The AX query entry of `b` (`None` for another mode's binding).
pub(crate) fn ax_entry(b: &Binding) -> Option<AxEntry> {
    let BindingKind::Ax(k) = &b.kind else {
        return None;
    };
    Some(AxEntry {
        subscription_id: b.subscription_id.clone(),
        orig_num: k.a.to_string(),
        private_num: k.x.to_string(),
        callee_num_display: "0",
        call_direction: k.direction.code(),
        turn_flag: if k.turn_on { "on" } else { "off" },
        controls: Controls::of(&k.controls),
        common: Common::of(b),
    })
}

/// The AXE query's fields of one binding (flat, as the reference answers a single binding; also the
/// `extendNumList` entries).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AxeEntry {
    subscription_id: String,
    /// X.
    virtual_num: String,
    /// E.
    extend_num: String,
    /// A.
    bind_num: String,
    /// Always `"0"`.
    display_num_mode: &'static str,
    /// Prompt when A calls X without a callback record.
    #[serde(skip_serializing_if = "Option::is_none")]
    callback_tone: Option<String>,
    /// Forward target in that case.
    #[serde(skip_serializing_if = "Option::is_none")]
    callback_num: Option<String>,
    /// `"0"` hours, `"1"` minutes.
    time_unit: &'static str,
    /// In `timeUnit` (0 = permanent).
    bind_expired_time: u32,
    /// In `timeUnit`.
    callback_expired_time: u32,
    // The fields of [`Common`], not flattened: this type is also a whole answer (`Answer<AxeEntry>`), and
    // client generators do not merge a flattened type inside a flattened type.
    /// `"true"`/`"false"`.
    record_flag: &'static str,
    /// Recording notice file.
    #[serde(skip_serializing_if = "Option::is_none")]
    record_hint_tone: Option<String>,
    /// The binding's `userData`.
    #[serde(skip_serializing_if = "Option::is_none")]
    user_data: Option<String>,
    /// Last change, `yyyy-MM-dd HH:mm:ss` (UTC).
    subscribe_time: String,
    /// End of life, `yyyy-MM-dd HH:mm:ss` (UTC); absent: permanent.
    #[serde(skip_serializing_if = "Option::is_none")]
    expire_time: Option<String>,
}

/// The AXE query fields of `b` (`None` for another mode's binding).
pub(crate) fn axe_entry(b: &Binding) -> Option<AxeEntry> {
    let BindingKind::Axe(k) = &b.kind else {
        return None;
    };
    let (callback_tone, callback_num) = match &k.fallback {
        AxeFallback::Tone(t) => (Some(t.clone()), None),
        AxeFallback::Forward(n) => (None, Some(n.to_string())),
        AxeFallback::Release => (None, None),
    };
    let common = Common::of(b);
    Some(AxeEntry {
        subscription_id: b.subscription_id.clone(),
        virtual_num: k.x.to_string(),
        extend_num: k.extension.clone(),
        bind_num: k.a.to_string(),
        display_num_mode: "0",
        callback_tone,
        callback_num,
        time_unit: if k.time_unit == TimeUnit::Minutes {
            "1"
        } else {
            "0"
        },
        bind_expired_time: k.bind_expired_time.unwrap_or(0),
        callback_expired_time: k.callback_expired_time.unwrap_or(0),
        record_flag: common.record_flag,
        record_hint_tone: common.record_hint_tone,
        user_data: common.user_data,
        subscribe_time: common.subscribe_time,
        expire_time: common.expire_time,
    })
}

/// One `xyRelationNumList` entry: a Y–B relation with its A–X parent, or an A–X part without relations.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AxybEntry {
    /// The relation's id (the part's own id when it has no relation).
    bind_id: String,
    /// The A–X part.
    subscription_id: String,
    num_a: String,
    num_x: String,
    /// Absent for a part without relations.
    #[serde(skip_serializing_if = "Option::is_none")]
    num_y: Option<String>,
    /// Absent for a part without relations.
    #[serde(skip_serializing_if = "Option::is_none")]
    num_b: Option<String>,
    /// `"true"`/`"false"`.
    record_flag: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    record_hint_tone: Option<String>,
    /// `yyyy-MM-dd HH:mm:ss` (UTC).
    subscribe_time: String,
    call_direction: u8,
    /// Seconds, as a string (reference).
    duration: String,
    /// Seconds, as a string (reference).
    yb_duration: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pre_voice_x: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pre_voice_y: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_data: Option<String>,
}

/// The AXYB query entry of `parent` (an A–X part) and one of its relations (`None` for a non-AXYB parent).
pub(crate) fn axyb_entry(parent: &Binding, relation: Option<&Binding>) -> Option<AxybEntry> {
    let BindingKind::Axyb(k) = &parent.kind else {
        return None;
    };
    let shown = relation.unwrap_or(parent);
    let yb = match relation.map(|r| &r.kind) {
        Some(BindingKind::Yb(r)) => Some(r),
        _ => None,
    };
    Some(AxybEntry {
        bind_id: shown.subscription_id.clone(),
        subscription_id: parent.subscription_id.clone(),
        num_a: k.a.to_string(),
        num_x: k.x.to_string(),
        num_y: yb.map(|r| r.y.to_string()),
        num_b: yb.map(|r| r.b.to_string()),
        record_flag: flag(parent.record.record),
        record_hint_tone: parent.record.hint_tone.clone(),
        subscribe_time: format_datetime(shown.updated_at),
        call_direction: k.direction.code(),
        duration: parent.duration_secs.unwrap_or(0).to_string(),
        yb_duration: k.yb_duration_secs.unwrap_or(0).to_string(),
        pre_voice_x: k.pre_voice_x.clone(),
        pre_voice_y: k.pre_voice_y.clone(),
        user_data: parent.user_data.clone(),
    })
}

/// An app as the admin API shows it (secret included: only the admin sees it).
#[derive(Serialize, ToSchema)]
#[expect(clippy::struct_excessive_bools, reason = "the admin API's JSON shape")]
#[serde(rename_all = "camelCase")]
pub(crate) struct AppView {
    app_key: String,
    app_secret: String,
    name: String,
    /// `AXB`, `AX`, `AXE` or `AXYB`.
    mode: &'static str,
    call_status_url: Option<String>,
    cdr_url: Option<String>,
    sms_url: Option<String>,
    record_enabled: bool,
    sms_enabled: bool,
    extension_digits: u8,
    collect_repeat: u8,
    enabled: bool,
    /// `yyyy-MM-dd HH:mm:ss` (UTC).
    created_at: String,
    no_binding_prompt: Option<String>,
    no_permission_prompt: Option<String>,
    service_error_prompt: Option<String>,
    extension_prompt: String,
    invalid_extension_prompt: String,
    first_digit_timeout_ms: u32,
    inter_digit_timeout_ms: u32,
    /// `"#"`, `"*"` or `""` (none).
    digit_terminator: String,
    inband_dtmf: bool,
    answer_before_collect: bool,
    /// Whether X-number status changes are pushed (`numStatus`).
    num_status_enabled: bool,
    /// Where status pushes go; `null`: the call-status URL.
    num_status_url: Option<String>,
    /// The SMS-control (Block) URL.
    sms_control_url: Option<String>,
    /// Whether SMS notifications carry `smsContent`.
    sms_content_enabled: bool,
    /// `aksk` or `wsse`: how pushes are signed.
    push_auth: &'static str,
    /// Whether the PrivateNumber API accepts national numbers for this app (false: global format only).
    allow_national_numbers: bool,
}

impl AppView {
    /// The admin view of `app`.
    pub(crate) fn of(app: &App) -> Self {
        Self {
            app_key: app.app_key.clone(),
            app_secret: app.app_secret.clone(),
            name: app.name.clone(),
            mode: app.mode.as_str(),
            call_status_url: app.call_status_url.clone(),
            cdr_url: app.cdr_url.clone(),
            sms_url: app.sms_url.clone(),
            record_enabled: app.record_enabled,
            sms_enabled: app.sms_enabled,
            extension_digits: app.extension_digits,
            collect_repeat: app.collect_repeat,
            enabled: app.enabled,
            created_at: format_datetime(app.created_at),
            no_binding_prompt: app.media.no_binding_prompt.clone(),
            no_permission_prompt: app.media.no_permission_prompt.clone(),
            service_error_prompt: app.media.service_error_prompt.clone(),
            extension_prompt: app.media.extension_prompt.clone(),
            invalid_extension_prompt: app.media.invalid_extension_prompt.clone(),
            first_digit_timeout_ms: app.media.first_digit_timeout_ms,
            inter_digit_timeout_ms: app.media.inter_digit_timeout_ms,
            digit_terminator: app.media.digit_terminator.map(String::from).unwrap_or_default(),
            inband_dtmf: app.media.inband_dtmf,
            answer_before_collect: app.media.answer_before_collect,
            num_status_enabled: app.push.num_status,
            num_status_url: app.push.status_url.clone(),
            sms_control_url: app.push.sms_control_url.clone(),
            sms_content_enabled: app.push.sms_content,
            push_auth: match app.push.auth {
                pn_bindings::PushAuth::Wsse => "wsse",
                pn_bindings::PushAuth::Aksk => "aksk",
            },
            allow_national_numbers: app.allow_national_numbers,
        }
    }
}

/// The admin JSON of an app (the engine's create/update answers use it).
pub(crate) fn app_json(app: &App) -> Value {
    serde_json::to_value(AppView::of(app)).unwrap_or(Value::Null)
}

pub(crate) use answers::*;

/// Answer bodies: those the handlers build, and (schema-only) those the write engine builds as JSON.
#[expect(
    dead_code,
    reason = "schema-only types describe JSON the engine builds; see the module docs"
)]
mod answers {
    use serde::Serialize;
    use utoipa::ToSchema;

    use super::{Answer, AppView, AxEntry, AxbEntry, AxeEntry, AxybEntry};

    /// AXB bind.
    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub(crate) struct AxbBindBody {
        pub(crate) subscription_id: String,
        /// X.
        pub(crate) relation_num: String,
        /// A.
        pub(crate) caller_num: String,
        /// B.
        pub(crate) callee_num: String,
    }

    /// A modify or the AX temporary callee: the binding changed.
    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub(crate) struct SubscriptionBody {
        pub(crate) subscription_id: String,
    }

    /// AXB query.
    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub(crate) struct AxbQueryBody {
        /// Bindings matching the query.
        pub(crate) total_count: u64,
        pub(crate) page_index: u32,
        pub(crate) page_size: u32,
        pub(crate) relation_num_list: Vec<AxbEntry>,
    }

    /// AX bind.
    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub(crate) struct AxBindBody {
        pub(crate) subscription_id: String,
        /// A.
        pub(crate) orig_num: String,
        /// X.
        pub(crate) private_num: String,
    }

    /// AX query.
    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub(crate) struct AxQueryBody {
        pub(crate) private_num_list: Vec<AxEntry>,
    }

    /// AXE bind.
    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub(crate) struct AxeBindBody {
        pub(crate) subscription_id: String,
        /// X.
        pub(crate) virtual_num: String,
        /// E.
        pub(crate) extend_num: String,
        /// A.
        pub(crate) bind_num: String,
    }

    /// AXE query of every extension of a `virtualNum`.
    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub(crate) struct AxeListBody {
        /// Extensions of the `virtualNum`.
        pub(crate) total_count: u64,
        pub(crate) page_index: u32,
        pub(crate) page_size: u32,
        pub(crate) extend_num_list: Vec<AxeEntry>,
    }

    /// AXE query: one binding's fields, flat (by `subscriptionId` or `virtualNum` + `extendNum`), or every
    /// extension of a `virtualNum`, paged.
    #[derive(ToSchema)]
    #[serde(untagged)]
    #[expect(clippy::large_enum_variant, reason = "schema-only, never built")]
    pub(crate) enum AxeQueryAnswer {
        /// One binding.
        One(Answer<AxeEntry>),
        /// Every extension of the `virtualNum`.
        List(Answer<AxeListBody>),
    }

    /// A WAV file, as a binary body.
    #[derive(ToSchema)]
    #[schema(value_type = String, format = Binary)]
    pub(crate) struct WavFile(Vec<u8>);

    /// AXYB bind (first step, with the first relation when `calleeNum` was given) or a second step.
    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub(crate) struct AxybBindBody {
        /// The A–X part.
        pub(crate) subscription_id: String,
        /// X.
        pub(crate) relation_number: String,
        /// The new Y–B relation's id.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub(crate) bind_id: Option<String>,
        /// The Y allocated for B.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub(crate) num_y: Option<String>,
        /// B.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub(crate) num_b: Option<String>,
    }

    /// AXYB query.
    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub(crate) struct AxybQueryBody {
        pub(crate) xy_relation_num_list: Vec<AxybEntry>,
    }

    /// One app.
    #[derive(Serialize, ToSchema)]
    pub(crate) struct AppBody {
        pub(crate) app: AppView,
    }

    /// An app's call controls.
    #[derive(Serialize, ToSchema)]
    pub(crate) struct ControlsBody {
        /// The controls (docs/api.md, "Call controls"), every field present.
        #[schema(value_type = Object)]
        pub(crate) controls: serde_json::Value,
    }

    /// Every app.
    #[derive(Serialize, ToSchema)]
    pub(crate) struct AppsBody {
        pub(crate) apps: Vec<AppView>,
    }

    /// One number's import result.
    #[derive(Serialize, ToSchema)]
    pub(crate) struct ImportResult {
        /// The number (normalised when accepted, as given when refused).
        pub(crate) number: String,
        /// `"0"` imported, else why not.
        pub(crate) resultcode: String,
        pub(crate) resultdesc: String,
    }

    /// Number import.
    #[derive(Serialize, ToSchema)]
    pub(crate) struct ImportBody {
        /// How many were imported.
        pub(crate) imported: u32,
        /// One per given number, in order.
        pub(crate) results: Vec<ImportResult>,
    }

    /// A pool number.
    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub(crate) struct NumberView {
        pub(crate) number: String,
        pub(crate) area_code: String,
        pub(crate) province: Option<String>,
        /// `normal`, `paused`, `unavailable`, `frozen`.
        pub(crate) status: String,
        /// The reference's status code.
        pub(crate) status_code: String,
        /// The owning app (in the list only).
        #[serde(skip_serializing_if = "Option::is_none")]
        pub(crate) app_key: Option<String>,
    }

    /// Pool numbers.
    #[derive(Serialize, ToSchema)]
    pub(crate) struct NumbersBody {
        pub(crate) numbers: Vec<NumberView>,
    }

    /// A retired number.
    #[derive(Serialize, ToSchema)]
    pub(crate) struct RetireBody {
        pub(crate) number: String,
        /// Bindings released with it (`force=true`).
        pub(crate) unbound: u32,
    }

    /// Route trace: the call would be connected.
    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub(crate) struct ConnectTrace {
        pub(crate) decision: ConnectDecision,
        /// The number called.
        pub(crate) callee: String,
        /// The number shown to the callee.
        pub(crate) display: String,
        /// Call length limit (0 = none).
        pub(crate) max_duration_secs: u32,
        /// Recorded.
        pub(crate) record: bool,
        /// The binding.
        pub(crate) binding_id: u64,
        /// The binding's mode.
        pub(crate) mode: &'static str,
        /// The binding's `callDirection`.
        pub(crate) direction: u8,
    }

    /// `"connect"`.
    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub(crate) enum ConnectDecision {
        /// Connected.
        Connect,
    }

    /// Route trace: the switch would answer and collect an extension (AXE).
    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub(crate) struct CollectTrace {
        pub(crate) decision: CollectDecision,
        /// Extension length.
        pub(crate) digits: u8,
        /// Prompt repeats.
        pub(crate) repeat: u8,
    }

    /// `"collectDigits"`.
    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub(crate) enum CollectDecision {
        /// Digits collected.
        CollectDigits,
    }

    /// Route trace: the customer would be asked (X mode, a Block `callin`).
    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub(crate) struct AskTrace {
        pub(crate) decision: AskDecision,
        /// The X called (shown to the callee if the customer connects).
        pub(crate) display: String,
    }

    /// `"ask"`.
    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub(crate) enum AskDecision {
        /// The customer decides.
        Ask,
    }

    /// Route trace: the call would be refused.
    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub(crate) struct RejectTrace {
        pub(crate) decision: RejectDecision,
        /// The reference's state code (8xxx).
        pub(crate) state_code: u16,
        /// The binding concerned, if any.
        pub(crate) binding_id: Option<u64>,
        /// Prompt played before the refusal, if any.
        pub(crate) prompt: Option<String>,
        /// The call control that refuses the call and why (absent when the route itself refuses it).
        #[serde(skip_serializing_if = "Option::is_none")]
        pub(crate) control: Option<String>,
    }

    /// `"reject"`.
    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub(crate) enum RejectDecision {
        /// Refused.
        Reject,
    }

    /// Route trace: where a call from `caller` to `called` would go now.
    #[derive(ToSchema)]
    #[serde(untagged)]
    pub(crate) enum RouteTraceAnswer {
        /// Connected.
        Connect(Answer<ConnectTrace>),
        /// Digits collected first.
        Collect(Answer<CollectTrace>),
        /// The customer decides (X mode).
        Ask(Answer<AskTrace>),
        /// Refused.
        Reject(Answer<RejectTrace>),
    }

    /// A prompt file.
    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub(crate) struct PromptView {
        pub(crate) name: String,
        pub(crate) bytes: u64,
        pub(crate) duration_ms: u64,
        /// `alaw` or `ulaw`.
        pub(crate) law: &'static str,
        /// A shipped default, not uploaded by the app.
        pub(crate) shipped: bool,
    }

    /// An uploaded prompt.
    #[derive(Serialize, ToSchema)]
    pub(crate) struct PromptBody {
        pub(crate) prompt: PromptView,
    }

    /// The app's prompts.
    #[derive(Serialize, ToSchema)]
    pub(crate) struct PromptsBody {
        pub(crate) prompts: Vec<PromptView>,
    }

    /// A deleted prompt.
    #[derive(Serialize, ToSchema)]
    pub(crate) struct DeletedPromptBody {
        pub(crate) name: String,
    }

    /// `/healthz`.
    #[derive(Serialize, ToSchema)]
    pub(crate) struct Health {
        /// `"ok"` (`/healthz`); `"ready"` or `"not ready"` (`/readyz`).
        pub(crate) status: &'static str,
    }
}
