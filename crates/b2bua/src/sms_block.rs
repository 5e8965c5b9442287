//! SMS Block (reference §7.1): an SMS that needs the app's decision (AX: A's text without a valid `@<B>`
//! part; every X-mode text) waits while the runtime POSTs a Block notification to the app's SMS-control URL
//! ([`crate::XAsk`] with [`AskTarget::SmsControl`]); [`parse_block_reply`] reads the customer's answer.
//!
//! The reply: `{"actions":[{"operation":"vNumberRoute","message":{"called":"+86…","calling":"+86…"}}]}` (relay
//! the text to `called`, shown from `calling`) or `{"actions":[{"operation":"DiscardMessage"}]}`. The first
//! action decides. `calling` is required and must be this X: the carrier shows only X, and any other
//! number would be one the switch cannot vouch for. `called` must be a China mobile or fixed-line number
//! (E.164 or national form, [`pn_numbers::normalize`] and [`pn_numbers::classify`]) other than X: special
//! services (short codes, 95xxx…), international numbers (the route policy is not at hand here, as for an
//! X-mode call's `calleeNum`) and invalid numbers are refused. Anything else is a [`BadBlockReply`].

use pn_numbers::{E164, classify, normalize};
use serde::Deserialize;

/// Which of the app's URLs an [`crate::XAsk`] is sent to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AskTarget {
    /// The call-status URL (X-mode call, Block `callin`).
    CallStatus,
    /// The SMS-control URL (`push.sms_control_url`, SMS Block).
    SmsControl,
}

/// The customer's decision on a blocked SMS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockDecision {
    /// `vNumberRoute`: relay the text to `called`, from X.
    Route {
        /// The receiver.
        called: E164,
    },
    /// `DiscardMessage`: refuse it (sendResult 6).
    Discard,
}

/// Why a Block reply cannot be followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadBlockReply {
    /// Not JSON of the reply's shape, no action, an unknown operation or a missing field.
    Malformed,
    /// `calling` is not this X.
    CallingNotX,
    /// `called` is not a China mobile or fixed-line number, or is X.
    BadCalled,
}

#[derive(Deserialize)]
struct RawReply {
    actions: Vec<RawAction>,
}

#[derive(Deserialize)]
struct RawAction {
    operation: String,
    #[serde(default)]
    message: Option<RawMessage>,
}

#[derive(Deserialize)]
struct RawMessage {
    called: Option<String>,
    calling: Option<String>,
}

/// Reads a Block reply for an SMS to `x`.
pub fn parse_block_reply(body: &str, x: E164) -> Result<BlockDecision, BadBlockReply> {
    let raw: RawReply = serde_json::from_str(body).map_err(|_| BadBlockReply::Malformed)?;
    let action = raw.actions.into_iter().next().ok_or(BadBlockReply::Malformed)?;
    match action.operation.as_str() {
        "DiscardMessage" => Ok(BlockDecision::Discard),
        "vNumberRoute" => {
            let m = action.message.ok_or(BadBlockReply::Malformed)?;
            let calling = m.calling.ok_or(BadBlockReply::Malformed)?;
            if normalize(&calling).ok() != Some(x) {
                return Err(BadBlockReply::CallingNotX);
            }
            let called = m.called.ok_or(BadBlockReply::Malformed)?;
            let called = normalize(&called).map_err(|_| BadBlockReply::BadCalled)?;
            let kind = classify(called);
            if called == x || !(kind.is_mobile() || kind.is_fixed_line()) {
                return Err(BadBlockReply::BadCalled);
            }
            Ok(BlockDecision::Route { called })
        }
        _ => Err(BadBlockReply::Malformed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn x() -> E164 {
        normalize("+8617000000001").unwrap()
    }

    #[test]
    fn route_and_discard() {
        let d = parse_block_reply(
            r#"{"actions":[{"operation":"vNumberRoute","message":{"called":"+8613900000002","calling":"+8617000000001"}}]}"#,
            x(),
        );
        assert_eq!(
            d,
            Ok(BlockDecision::Route {
                called: normalize("+8613900000002").unwrap()
            })
        );
        // National forms are normalised.
        let d = parse_block_reply(
            r#"{"actions":[{"operation":"vNumberRoute","message":{"called":"13900000003","calling":"17000000001"}}]}"#,
            x(),
        );
        assert_eq!(
            d,
            Ok(BlockDecision::Route {
                called: normalize("+8613900000003").unwrap()
            })
        );
        assert_eq!(
            parse_block_reply(r#"{"actions":[{"operation":"DiscardMessage"}]}"#, x()),
            Ok(BlockDecision::Discard)
        );
        // The first action decides.
        assert_eq!(
            parse_block_reply(
                r#"{"actions":[{"operation":"DiscardMessage"},{"operation":"vNumberRoute"}]}"#,
                x()
            ),
            Ok(BlockDecision::Discard)
        );
    }

    #[test]
    fn calling_must_be_x() {
        for calling in [r#""+8613800000001""#, r#""+8617000000002""#, r#""abc""#] {
            let body = format!(
                r#"{{"actions":[{{"operation":"vNumberRoute","message":{{"called":"+8613900000002","calling":{calling}}}}}]}}"#
            );
            assert_eq!(
                parse_block_reply(&body, x()),
                Err(BadBlockReply::CallingNotX),
                "{body}"
            );
        }
    }

    #[test]
    fn called_must_be_a_valid_number_other_than_x() {
        for called in ["+8617000000001", "abc", "", "+8610086", "+14155550100", "+86123"] {
            let body = format!(
                r#"{{"actions":[{{"operation":"vNumberRoute","message":{{"called":"{called}","calling":"+8617000000001"}}}}]}}"#
            );
            assert_eq!(
                parse_block_reply(&body, x()),
                Err(BadBlockReply::BadCalled),
                "{body}"
            );
        }
    }

    #[test]
    fn malformed_replies() {
        for body in [
            "",
            "not json",
            "{}",
            r#"{"actions":[]}"#,
            r#"{"actions":[{"operation":"dance"}]}"#,
            r#"{"actions":[{"operation":"vNumberRoute"}]}"#,
            r#"{"actions":[{"operation":"vNumberRoute","message":{"called":"+8613900000002"}}]}"#,
            r#"{"actions":[{"operation":"vNumberRoute","message":{"calling":"+8617000000001"}}]}"#,
            r#"{"operation":"close"}"#,
        ] {
            assert_eq!(
                parse_block_reply(body, x()),
                Err(BadBlockReply::Malformed),
                "{body}"
            );
        }
    }
}
