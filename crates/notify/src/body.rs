//! Push bodies: what each kind's stored JSON must be, and the CDR merge.
//!
//! The outbox stores a call event as pn-b2bua serialises `CallEvent`: already the reference's
//! `{"eventType": …, "statusInfo": {…}}`, so it is pushed as stored (checked here on the way in). A CDR is
//! stored as one `FeeInfo` object; CDRs are pushed as `{"eventType":"fee","feeLst":[FeeInfo, …]}`, the
//! stored objects spliced in unchanged. SMS and number-status notifications are pushed as stored.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};

use crate::entry::PushKind;

/// Why a stored body cannot be pushed as `kind`, or `None` when it can. Every body must be one JSON object;
/// a call event's must hold a string `eventType` and an object `statusInfo`. Checked without building a
/// document (nothing is kept but the verdict).
pub fn check(kind: PushKind, body: &str) -> Option<String> {
    let checked = match kind {
        PushKind::CallEvent => serde_json::from_str::<EventShape<'_>>(body).map(drop),
        PushKind::Cdr | PushKind::Sms | PushKind::NumStatus => {
            serde_json::from_str::<AnyObject>(body).map(drop)
        }
    };
    checked.err().map(|e| e.to_string())
}

/// The reference's call-event envelope (the stored JSON's other fields are not looked at).
#[derive(serde::Deserialize)]
struct EventShape<'a> {
    #[serde(rename = "eventType", borrow)]
    _event_type: Cow<'a, str>,
    #[serde(rename = "statusInfo")]
    _status_info: AnyObject,
}

/// Any JSON object, its members skipped.
struct AnyObject;

impl<'de> Deserialize<'de> for AnyObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(AnyObjectVisitor)
    }
}

struct AnyObjectVisitor;

impl<'de> Visitor<'de> for AnyObjectVisitor {
    type Value = AnyObject;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<AnyObject, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(AnyObject)
    }
}

/// The body of one CDR push: `{"eventType":"fee","feeLst":[…]}` around the stored `FeeInfo` objects
/// (each already checked to be a JSON object), in the order given.
pub fn fee_list<'a>(cdrs: impl IntoIterator<Item = &'a str>) -> String {
    let mut body = String::from(r#"{"eventType":"fee","feeLst":["#);
    for (i, cdr) in cdrs.into_iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(cdr);
    }
    body.push_str("]}");
    body
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    /// A call event as pn-b2bua's `CallEvent` serialises it (its `json_field_names` test's shape).
    const STORED_EVENT: &str = r#"{"eventType":"disconnect","statusInfo":{"timestamp":"1970-01-01 00:00:00","sessionId":"s","caller":"+8613800000001","called":"+8617000000000","subscriptionId":"sub","stateCode":0,"stateDesc":"The user releases the call."}}"#;

    #[test]
    fn stored_call_events_already_have_the_reference_shape() {
        assert_eq!(check(PushKind::CallEvent, STORED_EVENT), None);
        assert!(check(PushKind::CallEvent, r#"{"statusInfo":{}}"#).is_some());
        assert!(check(PushKind::CallEvent, r#"{"eventType":"answer","statusInfo":"x"}"#).is_some());
        assert!(check(PushKind::CallEvent, r#"{"eventType":1,"statusInfo":{}}"#).is_some());
    }

    #[test]
    fn bodies_must_be_json_objects() {
        for kind in [
            PushKind::Cdr,
            PushKind::Sms,
            PushKind::NumStatus,
            PushKind::CallEvent,
        ] {
            assert!(check(kind, "[1]").is_some(), "{kind:?}");
            assert!(check(kind, r#"{"a":1"#).is_some(), "{kind:?}");
            assert!(check(kind, "").is_some(), "{kind:?}");
        }
        // Spliced into a fee list: exactly one object, nothing after it.
        assert!(check(PushKind::Cdr, r#"{"a":1},{"b":2}"#).is_some());
        assert!(check(PushKind::Cdr, r#"{"a":1}]}"#).is_some());
        assert_eq!(
            check(PushKind::Cdr, r#"{"icid":"1","nested":{"a":[1,{"b":null}]}}"#),
            None
        );
        assert_eq!(check(PushKind::Cdr, " {\"icid\":\"1\"}\n"), None);
        assert_eq!(
            check(
                PushKind::CallEvent,
                r#"{"eventType":"call\u0069n","statusInfo":{}}"#
            ),
            None
        );
        assert_eq!(
            check(PushKind::NumStatus, r#"{"eventType":"numStatus","numInfo":[]}"#),
            None
        );
    }

    #[test]
    fn fee_list_wraps_the_stored_cdrs() {
        let body = fee_list([r#"{"sessionId":"a","direction":1}"#, r#"{"sessionId":"b"}"#]);
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["eventType"], "fee");
        let list = v["feeLst"].as_array().unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0]["sessionId"], "a");
        assert_eq!(list[0]["direction"], 1);
        assert_eq!(list[1]["sessionId"], "b");
        let one: Value = serde_json::from_str(&fee_list([r#"{"x":1}"#])).unwrap();
        assert_eq!(one["feeLst"].as_array().unwrap().len(), 1);
    }
}
