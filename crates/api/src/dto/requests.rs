//! The fields of every request, for `/openapi.json`.
//!
//! The handlers read the same fields through [`crate::validate::Fields`], which keeps the reference's
//! leniency (integers as JSON numbers or digit strings, flags as `"true"`/`"false"` or booleans) and names
//! the offending field in every 1020001/1010002 answer; these types document the canonical form. A unit test
//! ([`crate::openapi`]) checks that every field a handler reads is documented here.
//!
//! Every number field (A, B, X, Y, temp callee, callback number, and the query parameters naming a number)
//! takes the global format, `+` and the country code (`+8613800000001`): anything else is 1010002 naming
//! the field, unless the app has `allowNationalNumbers` (then `138…`/`86138…` are normalised to `+86…`).

#![expect(
    dead_code,
    reason = "schema-only: the handlers parse these fields with validate::Fields"
)]

use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::PreVoice;

/// AXB bind: A–X–B. One of `relationNum` (X) and `areaCode` is required.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AxbBindRequest {
    /// X (one of relationNum/areaCode).
    relation_num: Option<String>,
    /// City code, e.g. 0755: pick a free X there.
    area_code: Option<String>,
    /// `"0"` strict (default), `"1"` same province first, then any.
    area_match_mode: Option<String>,
    /// A.
    caller_num: String,
    /// B (must differ from A).
    callee_num: String,
    /// 0 both, 1 only A→B, 2 only B→A.
    #[schema(minimum = 0, maximum = 2)]
    call_direction: Option<i64>,
    /// Seconds: 0/absent permanent, or 60-7776000.
    duration: Option<i64>,
    /// `"true"`/`"false"` (needs the app's recording option).
    record_flag: Option<String>,
    /// Recording notice file, only with recordFlag=true.
    record_hint_tone: Option<String>,
    /// Minutes 0-1440 (0 = unlimited).
    #[schema(minimum = 0, maximum = 1440)]
    max_duration: Option<i64>,
    /// Last-minute prompt, needs maxDuration≠0.
    last_min_voice: Option<String>,
    /// `"true"`/`"false"` (absent = true).
    private_sms: Option<String>,
    /// Tones played while the other side is reached.
    pre_voice: Option<PreVoice>,
    /// ≤256 ASCII characters, no { or }.
    user_data: Option<String>,
}

/// AXB modify: the fields given change; `duration` restarts the lifetime now.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AxbModifyRequest {
    /// The binding.
    subscription_id: String,
    /// New A.
    caller_num: Option<String>,
    /// New B.
    callee_num: Option<String>,
    /// 0/1/2.
    #[schema(minimum = 0, maximum = 2)]
    call_direction: Option<i64>,
    /// 0-7776000 s; restarts the lifetime now (0 = permanent).
    #[schema(minimum = 0, maximum = 7_776_000)]
    duration: Option<i64>,
    /// `"true"`/`"false"`.
    record_flag: Option<String>,
    /// Recording notice file.
    record_hint_tone: Option<String>,
    /// 0-1440.
    #[schema(minimum = 0, maximum = 1440)]
    max_duration: Option<i64>,
    /// Needs maxDuration≠0.
    last_min_voice: Option<String>,
    /// `"true"`/`"false"`.
    private_sms: Option<String>,
    /// `""` clears a tone.
    pre_voice: Option<PreVoice>,
    /// ≤256 ASCII.
    user_data: Option<String>,
}

/// AXB unbind: by `subscriptionId` (wins) or every binding of the app on `relationNum`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AxbUnbindParams {
    /// One binding (wins).
    subscription_id: Option<String>,
    /// Every binding of the app on this X.
    relation_num: Option<String>,
}

/// AXB query.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AxbQueryParams {
    /// One binding (wins).
    subscription_id: Option<String>,
    /// X.
    relation_num: Option<String>,
    /// A (with relationNum: the A+X binding).
    caller_num: Option<String>,
    /// B.
    callee_num: Option<String>,
    /// ≥1, default 1.
    #[param(minimum = 1)]
    page_index: Option<i64>,
    /// 10-100, default (and out of range) 50.
    page_size: Option<i64>,
}

/// AX bind: A–X. One of `privateNum` (X) and `areaCode` is required.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AxBindRequest {
    /// A.
    orig_num: String,
    /// X (one of privateNum/areaCode).
    private_num: Option<String>,
    /// City code.
    area_code: Option<String>,
    /// Accepted and ignored (e.g. mobile-virtual).
    private_num_type: Option<String>,
    /// `"0"`/`"1"`.
    area_match_mode: Option<String>,
    /// Must be `"0"`.
    callee_num_display: Option<String>,
    /// 0 both, 1 only A calls out, 2 only others→A.
    #[schema(minimum = 0, maximum = 2)]
    call_direction: Option<i64>,
    /// `on` (default)/`off`.
    turn_flag: Option<String>,
    /// `"true"`/`"false"` (needs the app's recording option).
    record_flag: Option<String>,
    /// Recording notice file, only with recordFlag=true.
    record_hint_tone: Option<String>,
    /// 0-1440.
    #[schema(minimum = 0, maximum = 1440)]
    max_duration: Option<i64>,
    /// Needs maxDuration≠0.
    last_min_voice: Option<String>,
    /// `"true"`/`"false"`.
    private_sms: Option<String>,
    /// Tones played while the other side is reached.
    pre_voice: Option<PreVoice>,
    /// ≤256 ASCII.
    user_data: Option<String>,
}

/// AX modify: by `subscriptionId`, or `privateNum` when it is absent.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AxModifyRequest {
    /// The binding (or privateNum).
    subscription_id: Option<String>,
    /// X, when subscriptionId is absent.
    private_num: Option<String>,
    /// New A.
    orig_num: Option<String>,
    /// 0/1/2.
    #[schema(minimum = 0, maximum = 2)]
    call_direction: Option<i64>,
    /// `on`/`off`.
    turn_flag: Option<String>,
    /// `"true"`/`"false"`.
    record_flag: Option<String>,
    /// Recording notice file.
    record_hint_tone: Option<String>,
    /// 0-1440.
    #[schema(minimum = 0, maximum = 1440)]
    max_duration: Option<i64>,
    /// Needs maxDuration≠0.
    last_min_voice: Option<String>,
    /// `"true"`/`"false"`.
    private_sms: Option<String>,
    /// `""` clears a tone.
    pre_voice: Option<PreVoice>,
    /// ≤256 ASCII.
    user_data: Option<String>,
}

/// AX unbind and query: `subscriptionId` wins, then `origNum`, then `privateNum`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AxTargetParams {
    /// The binding (wins).
    subscription_id: Option<String>,
    /// X.
    private_num: Option<String>,
    /// A; with privateNum it must match.
    orig_num: Option<String>,
}

/// AX temporary callee: the callee A's calls through X reach for `duration` seconds.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AxTempCalleeRequest {
    /// The AX binding (wins).
    subscription_id: Option<String>,
    /// X.
    private_num: Option<String>,
    /// Not parsed.
    orig_num: Option<String>,
    /// Temporary callee (mobile, fixed, 400/95), ≠ origNum.
    callee_num: String,
    /// 1-259200 s, default 60.
    #[schema(minimum = 1, maximum = 259_200)]
    duration: Option<i64>,
    /// ≤256 ASCII.
    user_data: Option<String>,
}

/// AXE bind: A–X–E. One of `virtualNum` (X) and `areaCode` is required.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AxeBindRequest {
    /// A.
    bind_num: String,
    /// X (one of virtualNum/areaCode).
    virtual_num: Option<String>,
    /// City code.
    area_code: Option<String>,
    /// `"0"`/`"1"`.
    area_match_mode: Option<String>,
    /// E with the app's digit count; absent = lowest free.
    extend_num: Option<String>,
    /// Must be `"0"`.
    display_num_mode: Option<String>,
    /// `"true"`/`"false"` (needs the app's recording option).
    record_flag: Option<String>,
    /// Recording notice file, only with recordFlag=true.
    record_hint_tone: Option<String>,
    /// Prompt when A calls X without a callback record (xor callbackNum).
    callback_tone: Option<String>,
    /// Forward target in that case (xor callbackTone).
    callback_num: Option<String>,
    /// `"0"` hours (default), `"1"` minutes.
    time_unit: Option<String>,
    /// ≥0, 0/absent permanent.
    #[schema(minimum = 0)]
    bind_expired_time: Option<i64>,
    /// ≥0.
    #[schema(minimum = 0)]
    callback_expired_time: Option<i64>,
    /// ≤256 ASCII.
    user_data: Option<String>,
}

/// AXE modify: by `subscriptionId` (wins) or `virtualNum` + `extendNum`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AxeModifyRequest {
    /// The binding (wins).
    subscription_id: Option<String>,
    /// X, with extendNum.
    virtual_num: Option<String>,
    /// E, with virtualNum.
    extend_num: Option<String>,
    /// New A.
    bind_num: Option<String>,
    /// Must be `"0"`.
    display_num_mode: Option<String>,
    /// `"true"`/`"false"`.
    record_flag: Option<String>,
    /// Recording notice file.
    record_hint_tone: Option<String>,
    /// Xor callbackNum.
    callback_tone: Option<String>,
    /// Xor callbackTone.
    callback_num: Option<String>,
    /// Unit of this request's times.
    time_unit: Option<String>,
    /// Restarts the lifetime now.
    #[schema(minimum = 0)]
    bind_expired_time: Option<i64>,
    /// ≥0.
    #[schema(minimum = 0)]
    callback_expired_time: Option<i64>,
    /// ≤256 ASCII.
    user_data: Option<String>,
}

/// AXE unbind and query: `subscriptionId` (wins) or `virtualNum` (+ `extendNum`; a query by `virtualNum` alone
/// lists its extensions, paged).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AxeTargetParams {
    /// The binding (wins).
    subscription_id: Option<String>,
    /// X (query: alone lists its extensions).
    virtual_num: Option<String>,
    /// E.
    extend_num: Option<String>,
    /// Query by virtualNum alone: ≥1, default 1.
    #[param(minimum = 1)]
    page_index: Option<i64>,
    /// Query by virtualNum alone: 10-100, default 50.
    page_size: Option<i64>,
}

/// The `app_key` query parameter of the AXYB bind.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AxybKeyParams {
    /// Must be the authenticated app.
    app_key: Option<String>,
}

/// AXYB bind: first step (A–X, with a first B when `calleeNum` is given) or, with `subscriptionId`, a
/// second step adding a Y–B relation.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AxybBindRequest {
    /// Second step: add a Y–B relation to this binding.
    subscription_id: Option<String>,
    /// B; in the second step B is calleeNum, numB or origNum.
    callee_num: Option<String>,
    /// B, as calleeNum.
    num_b: Option<String>,
    /// A (first step, required); second step: B, or the binding's A when calleeNum is given.
    orig_num: Option<String>,
    /// X (one of relationNum/areaCode).
    relation_num: Option<String>,
    /// City code.
    area_code: Option<String>,
    /// `"0"`/`"1"`.
    area_match_mode: Option<String>,
    /// 0 both, 1 only A→B via Y, 2 only B→A via X.
    #[schema(minimum = 0, maximum = 2)]
    call_direction: Option<i64>,
    /// 0 or 60-7776000 s.
    duration: Option<i64>,
    /// 0 or 60-7776000 s, ≤ duration.
    yb_duration: Option<i64>,
    /// `"true"`/`"false"` (needs the app's recording option).
    record_flag: Option<String>,
    /// Recording notice file, only with recordFlag=true.
    record_hint_tone: Option<String>,
    /// Heard by B while A is reached.
    pre_voice_x: Option<String>,
    /// Heard by A while B is reached.
    pre_voice_y: Option<String>,
    /// ≤256 ASCII.
    user_data: Option<String>,
}

/// AXYB unbind: the A–X part with its relations, or one relation; with `bNum` and/or `yNum` only the
/// matching Y–B relation is released.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AxybUnbindParams {
    /// Must be the authenticated app.
    app_key: Option<String>,
    /// A–X part (with its relations) or one relation (bindId).
    #[serde(rename = "subscriptionId")]
    subscription_id: Option<String>,
    /// X.
    #[serde(rename = "relationNum")]
    relation_num: Option<String>,
    /// Release only the Y–B relation of this B.
    #[serde(rename = "bNum")]
    b_num: Option<String>,
    /// As bNum.
    #[serde(rename = "numB")]
    num_b: Option<String>,
    /// As bNum.
    #[serde(rename = "calleeNum")]
    callee_num: Option<String>,
    /// Release only the Y–B relation on this Y.
    #[serde(rename = "yNum")]
    y_num: Option<String>,
    /// As yNum.
    #[serde(rename = "numY")]
    num_y: Option<String>,
    /// The binding's A (no effect) or a B (as bNum).
    #[serde(rename = "origNum")]
    orig_num: Option<String>,
}

/// AXYB query: `xyRelationNumList` by `subscriptionId` or `relationNum`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AxybQueryParams {
    /// Must be the authenticated app.
    app_key: Option<String>,
    /// A–X part (with its relations) or one relation (bindId).
    #[serde(rename = "subscriptionId")]
    subscription_id: Option<String>,
    /// X.
    #[serde(rename = "relationNum")]
    relation_num: Option<String>,
}

/// The media settings of an app (create and update). `""` clears a prompt; the AXE prompts then return to
/// the shipped default.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AppMediaFields {
    /// Played before refusing a call with no binding (8013/8014/8030); default none.
    no_binding_prompt: Option<String>,
    /// Played before refusing a caller without permission (8016/8023/8042/8043); default
    /// `no_permission.wav`.
    no_permission_prompt: Option<String>,
    /// Played before refusing on a service error; default none.
    service_error_prompt: Option<String>,
    /// AXE: enter the extension; default `enter_extension.wav`.
    extension_prompt: Option<String>,
    /// AXE: invalid extension; default `invalid_extension.wav`.
    invalid_extension_prompt: Option<String>,
    /// AXE first-digit timeout 1000-60000 ms, default 10000.
    #[schema(minimum = 1000, maximum = 60_000)]
    first_digit_timeout_ms: Option<i64>,
    /// AXE inter-digit timeout 1000-30000 ms, default 5000.
    #[schema(minimum = 1000, maximum = 30_000)]
    inter_digit_timeout_ms: Option<i64>,
    /// AXE terminator key: `"#"` (default), `"*"` or `""` (none).
    digit_terminator: Option<String>,
    /// Also detect in-band DTMF on G.711 audio (default false).
    inband_dtmf: Option<bool>,
    /// AXE: answer (200) before collecting instead of early media (default false).
    answer_before_collect: Option<bool>,
}

/// The push options of an app (create and update). `""` clears a URL.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AppPushFields {
    /// Push X-number status changes (`numStatus`, reference §7.2); default false.
    num_status_enabled: Option<bool>,
    /// Where status pushes go; default (or `""`): the call-status URL.
    num_status_url: Option<String>,
    /// The SMS-control (Block) URL, mandatory for AX- and X-mode SMS.
    sms_control_url: Option<String>,
    /// SMS notifications carry `smsContent`; default false.
    sms_content_enabled: Option<bool>,
    /// How pushes are signed: `aksk` (default) or `wsse` (legacy).
    #[schema(pattern = "^(aksk|wsse)$")]
    push_auth: Option<String>,
}

/// Create an app.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreateAppRequest {
    /// Human name.
    name: String,
    /// `AXB`, `AX`, `AXE` or `AXYB` (immutable).
    mode: String,
    /// Generated (32 alphanumerics) when absent.
    app_key: Option<String>,
    /// Generated (32 alphanumerics) when absent.
    app_secret: Option<String>,
    /// Call-event push URL.
    call_status_url: Option<String>,
    /// CDR push URL.
    cdr_url: Option<String>,
    /// SMS notify URL.
    sms_url: Option<String>,
    /// Recording option (default false).
    record_enabled: Option<bool>,
    /// SMS option (default false).
    sms_enabled: Option<bool>,
    /// AXE: 1-4, default 4 (immutable).
    #[schema(minimum = 1, maximum = 4)]
    extension_digits: Option<i64>,
    /// AXE digit-collection repeats 1-9, default 3.
    #[schema(minimum = 1, maximum = 9)]
    collect_repeat: Option<i64>,
    /// Accept national numbers (`138…`, `86138…`, stored as `+86…`) in the app's PrivateNumber API number
    /// fields; default false: only the global format (`+86…`), anything else is 1010002 naming the field.
    allow_national_numbers: Option<bool>,
    #[serde(flatten)]
    media: AppMediaFields,
    #[serde(flatten)]
    push: AppPushFields,
}

/// Change an app (`mode` and `extensionDigits` are immutable: given, they must not change).
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UpdateAppRequest {
    /// Human name.
    name: Option<String>,
    /// Rotate the secret.
    app_secret: Option<String>,
    /// `""` clears.
    call_status_url: Option<String>,
    /// `""` clears.
    cdr_url: Option<String>,
    /// `""` clears.
    sms_url: Option<String>,
    /// Recording option.
    record_enabled: Option<bool>,
    /// SMS option.
    sms_enabled: Option<bool>,
    /// 1-9.
    #[schema(minimum = 1, maximum = 9)]
    collect_repeat: Option<i64>,
    /// A disabled app's key gets 1010004.
    enabled: Option<bool>,
    /// Immutable: must be the app's mode.
    mode: Option<String>,
    /// Immutable: must be the app's digit count.
    #[schema(minimum = 1, maximum = 4)]
    extension_digits: Option<i64>,
    /// Accept national numbers in the app's PrivateNumber API number fields (false: global format only).
    allow_national_numbers: Option<bool>,
    #[serde(flatten)]
    media: AppMediaFields,
    #[serde(flatten)]
    push: AppPushFields,
}

/// One number to import.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ImportNumber {
    /// The privacy number (E.164 or national).
    number: String,
    /// City code, e.g. 0755.
    area_code: String,
    /// Province.
    province: Option<String>,
}

/// Import numbers into an app's pool.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ImportNumbersRequest {
    /// Owning app.
    app_key: String,
    /// 1-10000 numbers.
    #[schema(min_items = 1, max_items = 10_000)]
    numbers: Vec<ImportNumber>,
}

/// List pool numbers.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ListNumbersParams {
    /// Only this app's.
    app_key: Option<String>,
}

/// Change a number's status, area or province.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SetNumberRequest {
    /// `normal`, `paused`, `unavailable`, `frozen`.
    status: Option<String>,
    /// With `unavailable` only: why (reference §7.2): 1 deleted, 2 arrears, 3 suspended, 5 carrier
    /// call-restricted, 6 restriction lifted, 7/8/9 unconditional/no-answer/busy forwarding on X. Carried by
    /// the app's `numStatus` push.
    #[schema(minimum = 1, maximum = 9)]
    cause: Option<i64>,
    /// City code.
    area_code: Option<String>,
    /// Province (`""` clears).
    province: Option<String>,
}

/// Retire a number.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct RetireNumberParams {
    /// Also unbind its live bindings.
    force: Option<bool>,
}

/// Route trace.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct RouteTraceParams {
    /// Calling number (absent = anonymous).
    caller: Option<String>,
    /// Dialled number (X or Y).
    called: String,
    /// AXE extension keyed by DTMF.
    extension: Option<String>,
}

/// Recording download (reference §5).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RecordUrlParams {
    /// The CDR's recordObjectName.
    file_name: String,
    /// The CDR's recordDomain (accepted, not compared).
    record_domain: Option<String>,
}

/// A signed recording URL's query.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct RecordFileParams {
    /// Unix time the URL stops working.
    expires: i64,
    /// The cluster node holding the recording (a shared store only; covered by the signature): another
    /// node fetches the file from it.
    node: Option<String>,
    /// Hex HMAC-SHA256 of app/object/expires (and `/node` when a node is named).
    signature: String,
}

/// Stop a call (reference §2.5).
#[derive(Deserialize, ToSchema)]
pub(crate) struct CallStopRequest {
    /// The call's `sessionId`, from its call events or CDR.
    sessionid: String,
    /// Must be `call_stop`.
    signal: String,
}
