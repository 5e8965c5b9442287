//! SMS relay over SIP MESSAGE (RFC 3428, reference §7.1): the notification fact every SMS produces and the
//! text a MESSAGE carries. The flow (route, refuse, relay, map the far end's answer back) is the engine's
//! (`engine::sms`).
//!
//! The notification ([`SmsNotice`]) is the reference's `{"appKey", "smsEvent":{…}}`: `calling`/`called` are the
//! real sender and receiver (`called` is X when the SMS was refused before a receiver was known),
//! `virtualNumber` is X, `timeStamp` the time the MESSAGE arrived (`yyyy-MM-dd'T'HH:mm:ss.SSS'Z'`, whole
//! seconds), `notificationMode` is `Notify` for the outcome and `Block` for the request that asks the app's SMS-control
//! URL ([`crate::sms_block`]; it carries no `sendResult`), `smsContent` the text as received when
//! the app enables it ([`crate::RouteLookup::sms_content`]), `extInfo.extParas` carries `splitNum` "1" (a
//! MESSAGE is one text) and `direction`: "1" A→B, "0" B→A (the CDR `callDirection` codes), "2" when refused
//! before a direction was known. `sendResult` is [`pn_bindings::SendResult`].

use jiff::SignedDuration;
use jiff::civil::DateTime;
use pn_bindings::{AppId, BindingId, UnixTime};
use pn_sip::Headers;
use serde::Serialize;

/// The only body type relayed: what the relayed MESSAGE carries, and what a sender's MESSAGE must carry (alone
/// or as a part of a `multipart/mixed` body).
pub const TEXT_PLAIN: &str = "text/plain";
/// The `Content-Type` of every relayed MESSAGE.
pub const RELAYED_CONTENT_TYPE: &str = "text/plain;charset=UTF-8";

/// An SMS notification (reference §7.1), written to the outbox as `OutboxKind::Sms` for the app's SMS URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SmsNotice {
    /// The app's key.
    #[serde(rename = "appKey")]
    pub app_key: String,
    /// The event.
    #[serde(rename = "smsEvent")]
    pub sms_event: SmsEvent,
    /// Which app's URL (for the runtime; not serialised).
    #[serde(skip)]
    pub app: Option<AppId>,
    /// The binding that routed it, when one did (not serialised).
    #[serde(skip)]
    pub binding: Option<BindingId>,
}

/// The `smsEvent` of an SMS notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SmsEvent {
    /// Unique per SMS (made like a CDR `icid`).
    pub sms_identifier: String,
    /// `Notify` (the outcome), or `Block` (the request asking the app's SMS-control URL).
    pub notification_mode: String,
    /// The real sender.
    pub calling: String,
    /// The real receiver (X when refused before one was known).
    pub called: String,
    /// X.
    pub virtual_number: String,
    /// Always `Text SMS`.
    pub event: String,
    /// When the MESSAGE arrived, `yyyy-MM-dd'T'HH:mm:ss.SSS'Z'`.
    pub time_stamp: String,
    /// The binding's `subscriptionId`, when one routed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscription_id: Option<String>,
    /// The text as received, only when the app enables it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sms_content: Option<String>,
    /// `splitNum` and `direction`.
    pub ext_info: ExtInfo,
    /// The reference's `sendResult` (0 relayed); none in a Block request (the SMS is not sent yet).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send_result: Option<u8>,
    /// The binding's `userData`, when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_data: Option<String>,
}

/// `extInfo`: `{"extParas":[{"key","value"}…]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExtInfo {
    /// The parameters.
    pub ext_paras: Vec<ExtPara>,
}

/// One `extParas` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExtPara {
    /// Its key.
    pub key: String,
    /// Its value.
    pub value: String,
}

impl ExtInfo {
    /// `splitNum` "1" and `direction` (`"0"`, `"1"` or `"2"`).
    pub fn for_direction(direction: u8) -> Self {
        let para = |key: &str, value: String| ExtPara {
            key: key.to_owned(),
            value,
        };
        Self {
            ext_paras: vec![
                para("splitNum", "1".to_owned()),
                para("direction", direction.to_string()),
            ],
        }
    }
}

/// `yyyy-MM-dd'T'HH:mm:ss.SSS'Z'` of `t` (whole seconds: `.000`).
pub fn sms_time(t: UnixTime) -> String {
    const EPOCH: DateTime = DateTime::constant(1970, 1, 1, 0, 0, 0, 0);
    EPOCH
        .checked_add(SignedDuration::from_secs(t.0))
        .unwrap_or(if t.0 < 0 { DateTime::MIN } else { DateTime::MAX })
        .strftime("%Y-%m-%dT%H:%M:%S.000Z")
        .to_string()
}

/// Why a MESSAGE's body cannot be relayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyError {
    /// Not `text/plain` (nor a `multipart/mixed` with a `text/plain` part), or not UTF-8: 415.
    Unsupported,
}

/// The text of a MESSAGE: a `text/plain` body, or the first `text/plain` part of a `multipart/mixed` body
/// (the other parts are dropped). It must be UTF-8 (an explicit other `charset` is refused).
pub(crate) fn message_text(headers: &Headers, body: &[u8]) -> Result<String, BodyError> {
    let full = headers.get("Content-Type").unwrap_or(TEXT_PLAIN);
    let ct = headers.content_type().unwrap_or_else(|| TEXT_PLAIN.to_owned());
    let bytes = if ct == TEXT_PLAIN {
        if !utf8_charset(full) {
            return Err(BodyError::Unsupported);
        }
        body
    } else if ct == pn_sip::body::MULTIPART_MIXED {
        let parts = pn_sip::body::multipart_parts(full, body).map_err(|_| BodyError::Unsupported)?;
        parts
            .into_iter()
            .find(|p| p.content_type == TEXT_PLAIN)
            .ok_or(BodyError::Unsupported)?
            .body
    } else {
        return Err(BodyError::Unsupported);
    };
    String::from_utf8(bytes.to_vec()).map_err(|_| BodyError::Unsupported)
}

/// Whether a `Content-Type` value names no charset, or UTF-8 (or its subset US-ASCII).
fn utf8_charset(content_type: &str) -> bool {
    content_type.split(';').skip(1).all(|p| {
        let Some((name, value)) = p.split_once('=') else {
            return true;
        };
        !name.trim().eq_ignore_ascii_case("charset") || {
            let v = value.trim().trim_matches('"');
            v.eq_ignore_ascii_case("utf-8") || v.eq_ignore_ascii_case("us-ascii")
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(ct: Option<&str>) -> Headers {
        let mut h = Headers::new();
        if let Some(ct) = ct {
            h.push("Content-Type", ct);
        }
        h
    }

    #[test]
    fn plain_text_and_the_text_part_of_multipart_are_taken() {
        assert_eq!(message_text(&headers(Some("text/plain")), b"hi").unwrap(), "hi");
        assert_eq!(
            message_text(&headers(Some("Text/Plain; charset=\"UTF-8\"")), "你好".as_bytes()).unwrap(),
            "你好"
        );
        assert_eq!(message_text(&headers(None), b"hi").unwrap(), "hi");
        let body = b"--b1\r\nContent-Type: application/x-note\r\n\r\n13800000001\r\n--b1\r\n\
Content-Type: text/plain\r\n\r\nonly this\r\n--b1--\r\n";
        assert_eq!(
            message_text(&headers(Some("multipart/mixed;boundary=b1")), body).unwrap(),
            "only this"
        );
    }

    #[test]
    fn other_types_and_charsets_are_refused() {
        for (ct, body) in [
            ("text/html", &b"<b>hi</b>"[..]),
            ("text/plain;charset=GB2312", b"hi"),
            ("text/plain", b"\xff\xfe"),
            (
                "multipart/mixed;boundary=b1",
                b"--b1\r\nContent-Type: image/png\r\n\r\nx\r\n--b1--\r\n",
            ),
        ] {
            assert_eq!(
                message_text(&headers(Some(ct)), body),
                Err(BodyError::Unsupported),
                "{ct}"
            );
        }
    }

    #[test]
    fn notice_json_has_the_reference_fields() {
        let notice = SmsNotice {
            app_key: "k1".into(),
            sms_event: SmsEvent {
                sms_identifier: "id1".into(),
                notification_mode: "Notify".into(),
                calling: "+8613800000001".into(),
                called: "+8613900000002".into(),
                virtual_number: "+8617000000001".into(),
                event: "Text SMS".into(),
                time_stamp: sms_time(UnixTime(1_700_000_000)),
                subscription_id: Some("s1".into()),
                sms_content: None,
                ext_info: ExtInfo::for_direction(1),
                send_result: Some(0),
                user_data: None,
            },
            app: Some(AppId(1)),
            binding: None,
        };
        let json = serde_json::to_value(&notice).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"appKey":"k1","smsEvent":{"smsIdentifier":"id1","notificationMode":"Notify",
                "calling":"+8613800000001","called":"+8613900000002","virtualNumber":"+8617000000001",
                "event":"Text SMS","timeStamp":"2023-11-14T22:13:20.000Z","subscriptionId":"s1",
                "extInfo":{"extParas":[{"key":"splitNum","value":"1"},{"key":"direction","value":"1"}]},
                "sendResult":0}})
        );
    }
}
