//! X mode (reference §1 X row, §3): the customer decides each call. The B2BUA asks with a Block `callin`
//! ([`XAsk`], an [`crate::Output::Ask`]) and the runtime hands the answer back
//! ([`crate::B2bua::handle_customer_reply`]) as a [`CustomerReply`]; [`parse_reply`] reads the body into a
//! [`Decision`] or the cause the call ends with.
//!
//! The reply: `{"operation":"connect"|"close","connectInfo":{…},"closeInfo":{…}}`.
//! `connectInfo`: `calleeNum` (required, a valid number), `displayCalleeNum` (absent or X: the carrier shows only
//! X, anything else → 8024), `maxDuration` 0–1440 minutes (default 0: the configured default bound),
//! `waitVoice` (the caller's ringback while the callee is reached, relay mode), `recordFlag` (`true`/`"true"`),
//! `recordHintTone`, `lastMinVoice`, `userData` (echoed in the later events and the CDR). `closeInfo`:
//! `closeHintTone` (played to the caller before the release, relay mode), `userData`. Anything unparseable, an
//! unknown operation, a missing or bad `calleeNum` or a value out of range → 8014.

use pn_bindings::Cause;
use pn_numbers::{E164, normalize};
use serde::Deserialize;
use serde_json::Value;

/// The B2BUA asks the runtime to POST a Block request to one of the app's URLs (`target`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XAsk {
    /// The call or SMS waiting (the key of [`crate::B2bua::handle_customer_reply`]).
    pub call: XCall,
    /// The app asked.
    pub app: pn_bindings::AppId,
    /// Which of its URLs: the call-status URL (an X-mode call) or the SMS-control URL (an SMS Block,
    /// [`crate::sms_block`]).
    pub target: crate::AskTarget,
    /// The request body: `{"eventType":"callin","statusInfo":{…,"notifyMode":"Block",…}}` for a call,
    /// `{"appKey":…,"smsEvent":{…,"notificationMode":"Block",…}}` for an SMS.
    pub body: String,
}

/// A call or an SMS waiting for the customer's decision (unique within its shard).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct XCall(pub u64);

/// What came back for an [`XAsk`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomerReply {
    /// The body of a 2xx answer.
    Body(String),
    /// The request failed (no connection, an error status, the runtime's own timeout); the text says why.
    Failed(String),
}

/// The customer's decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Place the B leg.
    Connect(ConnectInfo),
    /// Release the call (8017), after `closeHintTone`.
    Close(CloseInfo),
}

/// `connectInfo`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectInfo {
    /// `calleeNum`.
    pub callee: E164,
    /// `maxDuration`, minutes (0: none of its own).
    pub max_duration_min: u16,
    /// `waitVoice`.
    pub wait_voice: Option<String>,
    /// `recordFlag`.
    pub record: bool,
    /// `recordHintTone`.
    pub record_hint_tone: Option<String>,
    /// `lastMinVoice`.
    pub last_min_voice: Option<String>,
    /// `userData`.
    pub user_data: Option<String>,
}

/// `closeInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CloseInfo {
    /// `closeHintTone`.
    pub close_hint_tone: Option<String>,
    /// `userData`.
    pub user_data: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawReply {
    operation: String,
    #[serde(default)]
    connect_info: Option<RawConnect>,
    #[serde(default)]
    close_info: Option<RawClose>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawConnect {
    display_callee_num: Option<String>,
    callee_num: Option<String>,
    max_duration: Option<Value>,
    wait_voice: Option<String>,
    record_flag: Option<Value>,
    record_hint_tone: Option<String>,
    last_min_voice: Option<String>,
    user_data: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawClose {
    close_hint_tone: Option<String>,
    user_data: Option<String>,
}

/// Longest `maxDuration`, minutes (one day).
const MAX_DURATION_MIN: u64 = 1440;
/// Longest prompt name (`waitVoice` String(0-128)).
const MAX_PROMPT: usize = 128;
/// Longest `userData`.
const MAX_USER_DATA: usize = 256;

/// Reads a Block reply for a call to `x`: the decision, or the cause the call ends with (8014 bad reply, 8024
/// a display number other than X).
pub fn parse_reply(body: &str, x: E164) -> Result<Decision, Cause> {
    let raw: RawReply = serde_json::from_str(body).map_err(|_| Cause::BAD_BLOCK_REPLY)?;
    let prompt = |p: Option<String>| -> Result<Option<String>, Cause> {
        match p.filter(|p| !p.is_empty()) {
            Some(p) if p.len() > MAX_PROMPT || p.contains(['/', '\\']) => Err(Cause::BAD_BLOCK_REPLY),
            p => Ok(p),
        }
    };
    let user_data = |u: Option<String>| -> Result<Option<String>, Cause> {
        match u {
            Some(u) if u.chars().count() > MAX_USER_DATA => Err(Cause::BAD_BLOCK_REPLY),
            u => Ok(u.filter(|u| !u.is_empty())),
        }
    };
    match raw.operation.as_str() {
        "connect" => {
            let c = raw.connect_info.ok_or(Cause::BAD_BLOCK_REPLY)?;
            let callee = c
                .callee_num
                .as_deref()
                .and_then(|n| normalize(n).ok())
                .ok_or(Cause::BAD_BLOCK_REPLY)?;
            if let Some(display) = c.display_callee_num.as_deref().filter(|d| !d.is_empty()) {
                let display = normalize(display).map_err(|_| Cause::BAD_BLOCK_REPLY)?;
                if display != x {
                    return Err(Cause::SHOW_REAL_CALLER);
                }
            }
            let max_duration_min = match c.max_duration {
                None | Some(Value::Null) => 0,
                Some(Value::Number(n)) => n.as_u64().ok_or(Cause::BAD_BLOCK_REPLY)?,
                Some(Value::String(s)) if s.is_empty() => 0,
                Some(Value::String(s)) => s.parse().map_err(|_| Cause::BAD_BLOCK_REPLY)?,
                Some(_) => return Err(Cause::BAD_BLOCK_REPLY),
            };
            if max_duration_min > MAX_DURATION_MIN {
                return Err(Cause::BAD_BLOCK_REPLY);
            }
            let record = match c.record_flag {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => b,
                Some(Value::String(s)) => match s.as_str() {
                    "true" | "1" => true,
                    "false" | "0" | "" => false,
                    _ => return Err(Cause::BAD_BLOCK_REPLY),
                },
                Some(_) => return Err(Cause::BAD_BLOCK_REPLY),
            };
            Ok(Decision::Connect(ConnectInfo {
                callee,
                max_duration_min: u16::try_from(max_duration_min).map_err(|_| Cause::BAD_BLOCK_REPLY)?,
                wait_voice: prompt(c.wait_voice)?,
                record,
                record_hint_tone: prompt(c.record_hint_tone)?,
                last_min_voice: prompt(c.last_min_voice)?,
                user_data: user_data(c.user_data)?,
            }))
        }
        "close" => {
            let c = raw.close_info.unwrap_or(RawClose {
                close_hint_tone: None,
                user_data: None,
            });
            Ok(Decision::Close(CloseInfo {
                close_hint_tone: prompt(c.close_hint_tone)?,
                user_data: user_data(c.user_data)?,
            }))
        }
        _ => Err(Cause::BAD_BLOCK_REPLY),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn x() -> E164 {
        normalize("+8617000000001").unwrap()
    }

    #[test]
    fn connect_reply() {
        let d = parse_reply(
            r#"{"operation":"connect","connectInfo":{"displayCalleeNum":"+8617000000001","calleeNum":"+8613800000002","maxDuration":30,"waitVoice":"wait.wav","recordFlag":"true","recordHintTone":"rec.wav","lastMinVoice":"last.wav","userData":"u1"}}"#,
            x(),
        )
        .unwrap();
        let Decision::Connect(c) = d else { panic!("{d:?}") };
        assert_eq!(c.callee.to_string(), "+8613800000002");
        assert_eq!(c.max_duration_min, 30);
        assert!(c.record);
        assert_eq!(c.wait_voice.as_deref(), Some("wait.wav"));
        assert_eq!(c.record_hint_tone.as_deref(), Some("rec.wav"));
        assert_eq!(c.last_min_voice.as_deref(), Some("last.wav"));
        assert_eq!(c.user_data.as_deref(), Some("u1"));
        let d = parse_reply(
            r#"{"operation":"connect","connectInfo":{"calleeNum":"13800000002","maxDuration":"0"}}"#,
            x(),
        );
        assert!(matches!(
            d,
            Ok(Decision::Connect(ConnectInfo {
                max_duration_min: 0,
                record: false,
                ..
            }))
        ));
    }

    #[test]
    fn close_reply() {
        let d = parse_reply(
            r#"{"operation":"close","closeInfo":{"closeHintTone":"bye.wav","userData":"u"}}"#,
            x(),
        );
        assert_eq!(
            d,
            Ok(Decision::Close(CloseInfo {
                close_hint_tone: Some("bye.wav".into()),
                user_data: Some("u".into())
            }))
        );
        assert_eq!(
            parse_reply(r#"{"operation":"close"}"#, x()),
            Ok(Decision::Close(CloseInfo::default()))
        );
    }

    #[test]
    fn bad_replies() {
        for body in [
            "",
            "not json",
            "{}",
            r#"{"operation":"dance"}"#,
            r#"{"operation":"connect"}"#,
            r#"{"operation":"connect","connectInfo":{}}"#,
            r#"{"operation":"connect","connectInfo":{"calleeNum":"abc"}}"#,
            r#"{"operation":"connect","connectInfo":{"calleeNum":"+8613800000002","maxDuration":7200}}"#,
            r#"{"operation":"connect","connectInfo":{"calleeNum":"+8613800000002","maxDuration":-1}}"#,
            r#"{"operation":"connect","connectInfo":{"calleeNum":"+8613800000002","recordFlag":"maybe"}}"#,
            r#"{"operation":"connect","connectInfo":{"calleeNum":"+8613800000002","waitVoice":"../etc/passwd"}}"#,
        ] {
            assert_eq!(parse_reply(body, x()), Err(Cause::BAD_BLOCK_REPLY), "{body}");
        }
        assert_eq!(
            parse_reply(
                r#"{"operation":"connect","connectInfo":{"calleeNum":"+8613800000002","displayCalleeNum":"+8613900000003"}}"#,
                x()
            ),
            Err(Cause::SHOW_REAL_CALLER)
        );
    }
}
