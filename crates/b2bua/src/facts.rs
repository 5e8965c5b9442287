//! Call facts: the call events (reference §3) and the one CDR (reference §4) every call produces.
//!
//! JSON uses the reference's field names. Times are UTC `yyyy-MM-dd HH:mm:ss`; a time that did not
//! happen (no alerting, no answer, no failure) is omitted, as are absent optional strings.
//! `spId` is configured ([`crate::B2buaConfig::sp_id`]), `appKey` and `serviceType` are the app's as the router
//! gave them when the call was routed ([`crate::RouteLookup::app_echo`]), `icid` is made once with the CDR
//! ([`icid`]). `callOutUnaswRsn`, `ttsPlayTimes` and `ttsTransDuration` are always 0.
//! `subscriptionId` and `userData` are the binding's as the router gave them when the call was routed
//! ([`crate::RouteLookup::subscription`]). `app` (which app's URL) and `binding` are for the runtime and are
//! never serialised.
//!
//! Event `caller`/`called`: `callin` and `disconnect` describe the first leg (A → X); `callout`,
//! `alerting` and `answer` describe the forwarded leg (display number → callee).

use jiff::SignedDuration;
use jiff::civil::DateTime;
use pn_bindings::{AppId, BindingId, Mode, UnixTime};
use serde::{Serialize, Serializer};

/// A call fact for the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
// The CDR is boxed (twice an event's size, one per call); events, five or six per call, stay inline rather
// than cost an allocation each.
#[allow(clippy::large_enum_variant)]
pub enum CallFact {
    /// A call event (`callin`, `callout`, `alerting`, `answer`, `disconnect`).
    Event(CallEvent),
    /// The call's CDR (`FeeInfo`), exactly one per call.
    Cdr(Box<Cdr>),
    /// An SMS notification (`{"appKey","smsEvent"}`, reference §7.1), one per SMS whose app is known.
    Sms(Box<crate::sms::SmsNotice>),
}

/// The call event types (reference §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    /// The caller reached X.
    Callin,
    /// The platform dials the real callee.
    Callout,
    /// The callee is ringing.
    Alerting,
    /// The callee answered.
    Answer,
    /// The call ended (with a `stateCode`).
    Disconnect,
    /// AXE: the extension digits were collected (`digitInfo`).
    #[serde(rename = "collectInfo")]
    CollectInfo,
}

/// A call event: `{"eventType": …, "statusInfo": {…}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallEvent {
    /// The event type.
    #[serde(rename = "eventType")]
    pub event_type: EventType,
    /// The details.
    #[serde(rename = "statusInfo")]
    pub status_info: StatusInfo,
    /// The app of the called X, when known (selects the push URL; not serialised).
    #[serde(skip)]
    pub app: Option<AppId>,
}

/// The `statusInfo` of a call event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusInfo {
    /// When it happened.
    #[serde(serialize_with = "ser_time")]
    pub timestamp: UnixTime,
    /// The call's id, the same in every event and the CDR.
    pub session_id: String,
    /// Calling number (`+86…`, or the raw user part when it is not a number; empty when anonymous).
    pub caller: String,
    /// Called number.
    pub called: String,
    /// The number shown to the callee on the forwarded leg (X, or Y in AXYB), once the call is forwarded
    /// (`callout` and later).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_caller_num: Option<String>,
    /// The binding's `subscriptionId`, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscription_id: Option<String>,
    /// The binding's `userData`, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_data: Option<String>,
    /// `disconnect`: the reference's stateCode (§6.1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_code: Option<u16>,
    /// `disconnect`: its description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_desc: Option<String>,
    /// `collectInfo`: the DTMF digits collected (empty when none were keyed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digit_info: Option<String>,
    /// X mode: the X called (`origCalleeNum`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub orig_callee_num: Option<String>,
    /// X mode: `Block` for the `callin` that asks the customer, `Notify` for every other event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notify_mode: Option<&'static str>,
    /// X mode `disconnect`: 1 the caller hung up, 2 the callee hung up (absent when the switch ended the call).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call_rel_direction: Option<u8>,
    /// The binding that routed the call (not serialised).
    #[serde(skip)]
    pub binding: Option<BindingId>,
}

/// The CDR (`FeeInfo`, reference §4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Cdr {
    /// 0 = B→A, 1 = A→B, 2 = abnormal (e.g. no binding).
    pub direction: u8,
    /// The cloud account ([`crate::B2buaConfig::sp_id`]).
    pub sp_id: String,
    /// The app's key, when the call was routed to an app ([`crate::RouteLookup::app_echo`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_key: Option<String>,
    /// The CDR's unique id, made once with the CDR (see [`icid`]).
    pub icid: String,
    /// The privacy number called (X).
    pub bind_num: String,
    /// Same as the events.
    pub session_id: String,
    /// The binding's `subscriptionId`, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscription_id: Option<String>,
    /// First-leg caller.
    pub caller_num: String,
    /// First-leg callee (X).
    pub callee_num: String,
    /// Display number on the forwarded leg.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fwd_display_num: Option<String>,
    /// The real forwarded-to number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fwd_dst_num: Option<String>,
    /// First-leg arrival.
    #[serde(serialize_with = "ser_time")]
    pub call_in_time: UnixTime,
    /// Forwarded leg start.
    #[serde(serialize_with = "ser_opt_time", skip_serializing_if = "Option::is_none")]
    pub fwd_start_time: Option<UnixTime>,
    /// Forwarded leg ringing.
    #[serde(serialize_with = "ser_opt_time", skip_serializing_if = "Option::is_none")]
    pub fwd_alerting_time: Option<UnixTime>,
    /// Forwarded leg answer.
    #[serde(serialize_with = "ser_opt_time", skip_serializing_if = "Option::is_none")]
    pub fwd_answer_time: Option<UnixTime>,
    /// End of the call.
    #[serde(serialize_with = "ser_time")]
    pub call_end_time: UnixTime,
    /// When the call failed (unanswered calls only).
    #[serde(serialize_with = "ser_opt_time", skip_serializing_if = "Option::is_none")]
    pub fail_time: Option<UnixTime>,
    /// Q.850 cause of a forward failure (0 when none).
    pub fwd_unasw_rsn: u16,
    /// Release point: the stateCode (0 = normal).
    pub ul_fail_reason: u16,
    /// SIP status of the failure (0 when none).
    pub sip_status_code: u16,
    /// Reserved (Q.850): always 0.
    pub call_out_unasw_rsn: u16,
    /// 1 when the call was recorded and its file kept (recordings under 3 s keep none).
    pub record_flag: u8,
    /// When recording started.
    #[serde(serialize_with = "ser_opt_time", skip_serializing_if = "Option::is_none")]
    pub record_start_time: Option<UnixTime>,
    /// The recording's file name (the download API's `fileName`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_object_name: Option<String>,
    /// The download API's `recordDomain` (filled in by the runtime).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_domain: Option<String>,
    /// A signed direct download URL (filled in by the runtime).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_file_download_url: Option<String>,
    /// TTS plays: always 0 (pnswitch has no TTS; the reference's example carries the field).
    pub tts_play_times: u32,
    /// TTS conversion time: always 0 (as `ttsPlayTimes`).
    pub tts_trans_duration: u32,
    /// The service type code of the call's mode ([`service_type`]), when the app is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_type: Option<&'static str>,
    /// The generating host.
    pub host_name: String,
    /// AXE: the extension the caller keyed (absent for other modes and when none was keyed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extend_num: Option<String>,
    /// The binding's `userData`, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_data: Option<String>,
    /// The app (not serialised).
    #[serde(skip)]
    pub app: Option<AppId>,
    /// The binding (not serialised).
    #[serde(skip)]
    pub binding: Option<BindingId>,
}

/// The CDR `serviceType` of a mode: `"003"` AXB and `"004"` AX (the reference's examples); the reference
/// publishes no other codes, so pnswitch uses `"005"` for AXE, `"006"` for AXYB and `"007"` for X.
pub fn service_type(mode: Mode) -> &'static str {
    match mode {
        Mode::Axb => "003",
        Mode::Ax => "004",
        Mode::Axe => "005",
        Mode::Axyb => "006",
        Mode::X => "007",
    }
}

/// A CDR's `icid`: `<yyyyMMddHHmmss>-<shard>-<counter hex>-<host hash>`, at most 55 characters.
///
/// `wall` is when the CDR is made, `shard` the making shard's index, `counter` a per-shard counter that never
/// repeats within a process (the engine's id counter), and the host hash the FNV-1a 64-bit hash of
/// `host_name` in 16 hex digits (each node has its own `host_name`). Two CDRs of one process differ in shard or
/// counter; two processes (restarts, nodes) differ in host or in the wall second, unless a restart makes a CDR
/// in the very second, with the very counter, of one made before it.
pub fn icid(host_name: &str, shard: u16, wall: UnixTime, counter: u64) -> String {
    format!(
        "{}-{shard}-{counter:x}-{:016x}",
        compact_time(wall),
        crate::shard::fnv1a(host_name.as_bytes())
    )
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's serialize_with signature
fn ser_time<S: Serializer>(t: &UnixTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_time(*t))
}

#[allow(clippy::ref_option)] // serde's serialize_with signature
fn ser_opt_time<S: Serializer>(t: &Option<UnixTime>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&format_time(*t)),
        None => s.serialize_none(),
    }
}

/// `yyyy-MM-dd HH:mm:ss` in UTC.
pub fn format_time(t: UnixTime) -> String {
    civil(t).strftime("%Y-%m-%d %H:%M:%S").to_string()
}

/// `yyyyMMddHHmmss` in UTC (for session ids).
pub(crate) fn compact_time(t: UnixTime) -> String {
    civil(t).strftime("%Y%m%d%H%M%S").to_string()
}

/// The UTC civil date-time of `t` (`jiff`'s proleptic Gregorian calendar), clamped to its range (years
/// -9999 to 9999).
fn civil(t: UnixTime) -> DateTime {
    const EPOCH: DateTime = DateTime::constant(1970, 1, 1, 0, 0, 0, 0);
    EPOCH
        .checked_add(SignedDuration::from_secs(t.0))
        .unwrap_or(if t.0 < 0 { DateTime::MIN } else { DateTime::MAX })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(format_time(UnixTime(0)), "1970-01-01 00:00:00");
        assert_eq!(format_time(UnixTime(1_548_297_003)), "2019-01-24 02:30:03");
        assert_eq!(format_time(UnixTime(951_782_400)), "2000-02-29 00:00:00");
        assert_eq!(compact_time(UnixTime(1_548_297_003)), "20190124023003");
    }

    /// Both formats pinned over the whole range (vectors computed independently with Python's
    /// `calendar.timegm`).
    #[test]
    fn pins_the_wire_formats() {
        for (secs, text, compact) in [
            (-62_135_596_800, "0001-01-01 00:00:00", "00010101000000"),
            (-2_203_891_200, "1900-03-01 00:00:00", "19000301000000"),
            (-1, "1969-12-31 23:59:59", "19691231235959"),
            (1_709_210_096, "2024-02-29 12:34:56", "20240229123456"),
            (2_147_483_648, "2038-01-19 03:14:08", "20380119031408"),
            (4_107_542_399, "2100-02-28 23:59:59", "21000228235959"),
            (4_107_542_400, "2100-03-01 00:00:00", "21000301000000"),
            (253_402_300_799, "9999-12-31 23:59:59", "99991231235959"),
        ] {
            assert_eq!(format_time(UnixTime(secs)), text, "{secs}");
            assert_eq!(compact_time(UnixTime(secs)), compact, "{secs}");
        }
    }

    #[test]
    fn icid_format_and_bounds() {
        let a = icid("pn.test", 3, UnixTime(1_548_297_003), 0x1f);
        assert_eq!(&a[..20], "20190124023003-3-1f-");
        assert_eq!(a.len(), 20 + 16);
        // Shard, counter, host and second each tell two icids apart.
        let others = [
            icid("pn.test", 2, UnixTime(1_548_297_003), 0x1f),
            icid("pn.test", 3, UnixTime(1_548_297_003), 0x20),
            icid("pn.other", 3, UnixTime(1_548_297_003), 0x1f),
            icid("pn.test", 3, UnixTime(1_548_297_004), 0x1f),
        ];
        assert!(others.iter().all(|o| *o != a), "{others:?}");
        let longest = icid(&"h".repeat(300), u16::MAX, UnixTime(253_402_300_799), u64::MAX);
        assert!(longest.len() <= 64, "{longest}");
        assert_eq!(
            [Mode::Axb, Mode::Ax, Mode::Axe, Mode::Axyb, Mode::X].map(service_type),
            ["003", "004", "005", "006", "007"]
        );
    }

    #[test]
    fn json_field_names() {
        let e = CallFact::Event(CallEvent {
            event_type: EventType::Disconnect,
            status_info: StatusInfo {
                timestamp: UnixTime(0),
                session_id: "s".into(),
                caller: "+8613800000001".into(),
                called: "+8617000000000".into(),
                display_caller_num: Some("+8617000000000".into()),
                subscription_id: Some("sub".into()),
                user_data: None,
                state_code: Some(0),
                state_desc: Some("The user releases the call.".into()),
                digit_info: None,
                orig_callee_num: None,
                notify_mode: None,
                call_rel_direction: None,
                binding: Some(BindingId(3)),
            },
            app: Some(AppId(1)),
        });
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["eventType"], "disconnect");
        assert_eq!(v["statusInfo"]["stateCode"], 0);
        assert_eq!(v["statusInfo"]["subscriptionId"], "sub");
        assert_eq!(v["statusInfo"]["displayCallerNum"], "+8617000000000");
        assert_eq!(v["statusInfo"]["timestamp"], "1970-01-01 00:00:00");
        assert!(v.get("app").is_none() && v["statusInfo"].get("binding").is_none());
        assert!(v["statusInfo"].get("userData").is_none());
        assert!(v["statusInfo"].get("digitInfo").is_none());
        assert!(
            v["statusInfo"].get("notifyMode").is_none() && v["statusInfo"].get("callRelDirection").is_none()
        );
        let mut x = e.clone();
        if let CallFact::Event(ev) = &mut x {
            ev.status_info.notify_mode = Some("Notify");
            ev.status_info.call_rel_direction = Some(2);
            ev.status_info.orig_callee_num = Some("+8617000000000".into());
        }
        let v = serde_json::to_value(&x).unwrap();
        assert_eq!(v["statusInfo"]["notifyMode"], "Notify");
        assert_eq!(v["statusInfo"]["callRelDirection"], 2);
        assert_eq!(v["statusInfo"]["origCalleeNum"], "+8617000000000");
        let mut collect = e.clone();
        if let CallFact::Event(ev) = &mut collect {
            ev.event_type = EventType::CollectInfo;
            ev.status_info.digit_info = Some("12".into());
        }
        let v = serde_json::to_value(&collect).unwrap();
        assert_eq!(v["eventType"], "collectInfo");
        assert_eq!(v["statusInfo"]["digitInfo"], "12");
    }
}
