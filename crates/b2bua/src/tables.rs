//! The mapping tables, each in one place: route rejections → SIP ([`reject_mapping`]), B-leg
//! failures → the status sent to A and the call's stateCode ([`failure_status`]), and stateCode
//! descriptions ([`state_desc`]).
//!
//! Rejections (cause → status, Q.850 cause in `Reason: Q.850;cause=<q850>;text="<cause> <text>"`):
//!
//! | cause | SIP | Q.850 | text |
//! |---|---|---|---|
//! | 522 | 503 Service Unavailable | 42 | Switch overloaded |
//! | 7001, 7002, 7003 | 403 Forbidden | 21 | Developer / app / display-number frequency limit |
//! | 7004 | 403 Forbidden | 21 | Callee blacklisted |
//! | 7005 | 403 Forbidden | 21 | Caller blacklisted |
//! | 7100 | 404 Not Found | 1 | App not found |
//! | 7102 | 503 Service Unavailable | 41 | Call records cannot be stored |
//! | 7500 | 403 Forbidden | 21 | Call prefix restricted |
//! | 7508 | 503 Service Unavailable | 38 | Routing failure |
//! | 7509 | 503 Service Unavailable | 41 | Switch shutting down |
//! | 7510 | 503 Service Unavailable | 41 | Routing table not caught up |
//! | 8008 | 500 Server Internal Error | 41 | Play and collect failed |
//! | 8013 | 480 Temporarily Unavailable | 20 | No temporary callee |
//! | 8014 | 404 Not Found | 1 | Invalid call: no binding |
//! | 8016 | 403 Forbidden | 21 | Call direction not allowed |
//! | 8017 | 603 Decline | 21 | Closed by the customer |
//! | 8019 | 404 Not Found | 1 | No callback record |
//! | 8022 | 404 Not Found | 1 | Binding absent or expired |
//! | 8023 | 403 Forbidden | 21 | Fixed line cannot be caller |
//! | 8024 | 403 Forbidden | 21 | Show real caller not allowed |
//! | 8025 | 404 Not Found | 1 | Called number does not exist |
//! | 8030 | 404 Not Found | 1 | AXYB binding absent |
//! | 8032 | 403 Forbidden | 21 | Dialed own privacy number |
//! | 8033 | 484 Address Incomplete | 28 | Empty extension |
//! | 8040 | 500 Server Internal Error | 41 | No customer decision |
//! | 8042 | 403 Forbidden | 21 | International inbound restricted |
//! | 8043 | 403 Forbidden | 21 | International outbound restricted |
//! | 8047, 8048, 8049 | 403 Forbidden | 21 | Caller / callee / service-number frequency limit |
//! | 8050 | 403 Forbidden | 21 | Outside the call time window |
//! | 8055 | 480 Temporarily Unavailable | 41 | Privacy number unavailable |
//! | 8104 | 480 Temporarily Unavailable | 20 | Callee unreachable |
//! | other | 500 Server Internal Error | 41 | Call rejected |
//!
//! B-leg failures (B's final status → status to A, stateCode, Q.850):
//!
//! | B | to A | stateCode | Q.850 |
//! |---|---|---|---|
//! | 404, 604 | 404 | 8100 callee does not exist | 1 |
//! | 410 | 404 | 8100 | 22 |
//! | 403 | 403 | 7504 rejected | 21 |
//! | 408, no response (Timer B) | 480 | 8101 no answer | 18 |
//! | 480 | 480 | 8104 unreachable | 20 |
//! | 484 | 484 | 7506 callee network error | 28 |
//! | 486, 600 | 486 | 8102 busy | 17 |
//! | 488, 606 | 488 | 7506 | 88 |
//! | 422 | 422 (Min-SE relayed) | 7506 | 127 |
//! | 3xx (redirects are not followed) | 480 | 7508 routing failure | 127 |
//! | other 4xx | 480 | 7506 | 127 |
//! | 5xx | 502 | 7506 | 38 |
//! | 603, other 6xx | 603 | 7503 callee rejected | 21 |
//! | forward timeout (8035) | 480 | 8035 | 19 |
//! | no PRACK from A for a reliable provisional within 64·T1 (RFC 3262 §3; B is cancelled) | 504 | 7505 | 41 |
//!
//! Calls released by pnswitch after answer:
//!
//! | why | BYE `Reason` Q.850 | stateCode |
//! |---|---|---|
//! | max duration reached | 16 | 8010 |
//! | A never ACKed the 2xx | 41 | 7505 |
//! | RFC 4028 session expired without refresh, A the refresher | 102 | 7505 caller-side network error |
//! | RFC 4028 session expired without refresh, B the refresher | 102 | 7506 callee-side network error |
//! | relay mode: no RTP from A for the media timeout (see [`crate::media`]) | 102 | 7505 |
//! | relay mode: no RTP from B for the media timeout | 102 | 7506 |
//! | A's dialog is gone: its in-dialog OPTIONS probe got 481, 408 or no answer (see `probe`) | 102 | 7505 |
//! | B's dialog is gone: its in-dialog OPTIONS probe got 481, 408 or no answer | 102 | 7506 |
//! | `max_call_secs` reached (the binding has no `maxDuration`) | 16 | 8010 |
//! | the app stopped the call (the call-stop API; before answer: CANCEL to B, 487 to A) | 16 | 8070 |
//! | the switch is stopping and its drain time ran out (before answer: CANCEL to B, 487 to A) | 16 | 7509 |

use pn_bindings::Cause;

/// How a route rejection is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RejectMapping {
    /// SIP status.
    pub status: u16,
    /// Reason phrase.
    pub reason: &'static str,
    /// Q.850 cause for the Reason header and the CDR's `fwdUnaswRsn`.
    pub q850: u16,
    /// Description, in the Reason header's text after the cause code.
    pub text: &'static str,
}

const NOT_FOUND: (u16, &str) = (404, "Not Found");
const FORBIDDEN: (u16, &str) = (403, "Forbidden");
const UNAVAILABLE: (u16, &str) = (480, "Temporarily Unavailable");

/// The `Reason` header of a refusal with `cause`: `Q.850;cause=<q850>;text="<cause> <text>"`, with its row.
pub(crate) fn reason_header(cause: Cause) -> (RejectMapping, String) {
    let m = reject_mapping(cause);
    let reason = format!("Q.850;cause={};text=\"{} {}\"", m.q850, cause.0, m.text);
    (m, reason)
}

/// The rejection table (see the module docs).
pub fn reject_mapping(cause: Cause) -> RejectMapping {
    let ((status, reason), q850, text) = match cause.0 {
        // New INVITEs refused before any work while the switch is behind (with Retry-After).
        522 => ((503, "Service Unavailable"), 42, "Switch overloaded"),
        7001 => (FORBIDDEN, 21, "Developer frequency limit"),
        7002 => (FORBIDDEN, 21, "App frequency limit"),
        7003 => (FORBIDDEN, 21, "Display number frequency limit"),
        7004 => (FORBIDDEN, 21, "Callee blacklisted"),
        7005 => (FORBIDDEN, 21, "Caller blacklisted"),
        7100 => (NOT_FOUND, 1, "App not found"),
        // The reference's "internal error" release point, used while call facts cannot be stored (the
        // runtime refuses new calls, with Retry-After; see `B2bua::refuse_new_calls`).
        7102 => ((503, "Service Unavailable"), 41, "Call records cannot be stored"),
        7500 => (FORBIDDEN, 21, "Call prefix restricted"),
        7508 => ((503, "Service Unavailable"), 38, "Routing failure"),
        // pnswitch's own: new calls while the switch drains before it stops (with Retry-After).
        7509 => ((503, "Service Unavailable"), 41, "Switch shutting down"),
        // pnswitch's own: new calls while a node's table has not caught up with a shared store's change feed.
        7510 => ((503, "Service Unavailable"), 41, "Routing table not caught up"),
        8008 => ((500, "Server Internal Error"), 41, "Play and collect failed"),
        8013 => (UNAVAILABLE, 20, "No temporary callee"),
        8014 => (NOT_FOUND, 1, "Invalid call: no binding"),
        8016 => (FORBIDDEN, 21, "Call direction not allowed"),
        8017 => ((603, "Decline"), 21, "Closed by the customer"),
        8019 => (NOT_FOUND, 1, "No callback record"),
        8022 => (NOT_FOUND, 1, "Binding absent or expired"),
        8023 => (FORBIDDEN, 21, "Fixed line cannot be caller"),
        8024 => (FORBIDDEN, 21, "Show real caller not allowed"),
        8025 => (NOT_FOUND, 1, "Called number does not exist"),
        8030 => (NOT_FOUND, 1, "AXYB binding absent"),
        8032 => (FORBIDDEN, 21, "Dialed own privacy number"),
        8033 => ((484, "Address Incomplete"), 28, "Empty extension"),
        8040 => ((500, "Server Internal Error"), 41, "No customer decision"),
        8042 => (FORBIDDEN, 21, "International inbound restricted"),
        8043 => (FORBIDDEN, 21, "International outbound restricted"),
        8044 => (FORBIDDEN, 21, "Abnormal call time"),
        8046 => (FORBIDDEN, 21, "Abnormal connect rate"),
        8047 => (FORBIDDEN, 21, "Caller frequency limit"),
        8048 => (FORBIDDEN, 21, "Callee frequency limit"),
        8049 => (FORBIDDEN, 21, "Service number frequency limit"),
        8050 => (FORBIDDEN, 21, "Outside the call time window"),
        8055 => (UNAVAILABLE, 41, "Privacy number unavailable"),
        8056 => (FORBIDDEN, 21, "Dial-test control"),
        8057 => (FORBIDDEN, 21, "Call-direction control"),
        8104 => (UNAVAILABLE, 20, "Callee unreachable"),
        _ => ((500, "Server Internal Error"), 41, "Call rejected"),
    };
    RejectMapping {
        status,
        reason,
        q850,
        text,
    }
}

/// The SIP status and reason phrase for a route rejection (see the module docs).
pub fn reject_status(cause: Cause) -> (u16, &'static str) {
    let m = reject_mapping(cause);
    (m.status, m.reason)
}

/// How a B-leg failure is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureMapping {
    /// Status sent to A.
    pub status: u16,
    /// The call's stateCode.
    pub state_code: u16,
    /// Q.850 cause (`fwdUnaswRsn`).
    pub q850: u16,
}

/// The B-leg failure table: B's final status (408 also for no response at all) → what A gets.
pub fn failure_status(b_status: u16) -> FailureMapping {
    let (status, state_code, q850) = match b_status {
        404 | 604 => (404, 8100, 1),
        410 => (404, 8100, 22),
        403 => (403, 7504, 21),
        408 => (480, 8101, 18),
        480 => (480, 8104, 20),
        484 => (484, 7506, 28),
        486 | 600 => (486, 8102, 17),
        488 | 606 => (488, 7506, 88),
        422 => (422, 7506, 127),
        300..=399 => (480, 7508, 127),
        500..=599 => (502, 7506, 38),
        600..=699 => (603, 7503, 21),
        _ => (480, 7506, 127),
    };
    FailureMapping {
        status,
        state_code,
        q850,
    }
}

/// The forward timeout (8035): what A gets.
pub const FORWARD_TIMEOUT: FailureMapping = FailureMapping {
    status: 480,
    state_code: 8035,
    q850: 19,
};

/// No PRACK from A for a reliable provisional (RFC 3262 §3): what A gets.
pub const PRACK_TIMEOUT: FailureMapping = FailureMapping {
    status: 504,
    state_code: 7505,
    q850: 41,
};

/// The description of a stateCode (reference §6.1), for `stateDesc`.
pub fn state_desc(code: u16) -> &'static str {
    match code {
        0 => "The user releases the call.",
        7501 => "The caller hung up before the callee rang.",
        7502 => "The caller hung up while the callee was ringing.",
        7503 => "The callee rejected the call.",
        7504 => "The call was rejected.",
        7505 => "Caller-side network error.",
        7506 => "Callee-side network error.",
        7508 => "Routing failure.",
        7509 => "The switch is shutting down.",
        7510 => "The switch's routing table has not caught up with the store.",
        522 => "The switch is overloaded.",
        7001 => "The developer's call frequency limit was reached.",
        7002 => "The app's call frequency limit was reached.",
        7003 => "The display number's call frequency limit was reached.",
        7004 => "The callee is blacklisted.",
        7005 => "The caller is blacklisted.",
        7100 => "The app is not found.",
        7500 => "The call prefix is restricted.",
        8008 => "Play and collect failed.",
        8010 => "The maximum call duration was reached.",
        8013 => "No temporary callee is set.",
        8014 => "Invalid call: no binding.",
        8016 => "The call direction is not allowed.",
        8017 => "The customer closed the call.",
        8019 => "No callback record.",
        8022 => "The binding is absent or expired.",
        8023 => "A fixed-line number cannot be the caller.",
        8024 => "Showing the real caller is not allowed.",
        8025 => "The called number does not exist.",
        8030 => "The AXYB binding is absent.",
        8032 => "The user dialed their own privacy number.",
        8033 => "Empty extension received.",
        8035 => "The platform connect timed out.",
        8040 => "No customer decision (no reply in time, or the request failed).",
        8042 => "International inbound calls are restricted.",
        8043 => "International outbound calls are restricted.",
        8044 => "The call time is abnormal.",
        8046 => "The connect rate is abnormal.",
        8047 => "The caller's call frequency limit was reached.",
        8048 => "The callee's call frequency limit was reached.",
        8049 => "The service number's call frequency limit was reached.",
        8050 => "The call is outside the allowed time window.",
        8055 => "The privacy number is unavailable.",
        8056 => "A dial-test control refused the call.",
        8057 => "A call-direction control refused the call.",
        8070 => "The call was stopped by the platform API.",
        8100 => "The callee does not exist.",
        8101 => "The callee did not answer.",
        8102 => "The callee is busy.",
        8104 => "The callee is unreachable.",
        _ => "The call failed.",
    }
}

/// The `Reason` header value pnswitch sends when it ends or refuses a call: the Q.850 cause, and the
/// reference's stateCode with its description in the text.
pub(crate) fn reason_value(q850: u16, state_code: u16) -> String {
    let text = crate::tables::state_desc(state_code).trim_end_matches('.');
    format!("Q.850;cause={q850};text=\"{state_code} {text}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brief_rows() {
        for (cause, status) in [
            (8023, 403),
            (8014, 404),
            (8016, 403),
            (8013, 480),
            (8019, 404),
            (8022, 404),
            (8025, 404),
            (8030, 404),
            (8032, 403),
            (8042, 403),
            (8043, 403),
            (8055, 480),
            (8104, 480),
            (8031, 500),
            (8017, 603),
            (8040, 500),
            (8047, 403),
            (8048, 403),
            (8049, 403),
            (8050, 403),
            (7004, 403),
            (7005, 403),
            (7500, 403),
            (8044, 403),
            (8046, 403),
            (8056, 403),
            (8057, 403),
        ] {
            assert_eq!(reject_status(Cause(cause)).0, status, "{cause}");
        }
        assert_eq!(failure_status(486).status, 486);
        assert_eq!(failure_status(408).status, 480);
        assert_eq!(failure_status(503).status, 502);
        assert_eq!(failure_status(302).status, 480);
    }
}
