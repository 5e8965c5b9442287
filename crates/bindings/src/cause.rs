//! The reference's call `stateCode`s (§6.1) that a route decision or a call can end with.

use serde::{Deserialize, Serialize};

/// A call outcome code from the reference (§6.1): `0` is a normal hang-up, 7xxx/8xxx are failures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Cause(pub u16);

impl Cause {
    /// 0: normal hang-up after answer.
    pub const NORMAL: Cause = Cause(0);
    /// 522: the switch is overloaded (the reference's "platform voice ports exhausted"): new calls are
    /// answered 503 with `Retry-After` before any work is spent on them.
    pub const OVERLOADED: Cause = Cause(522);
    /// 7002: the app's call limit is reached (the reference's "app frequency"; pnswitch's per-app
    /// concurrent-call cap).
    pub const APP_FREQUENCY: Cause = Cause(7002);
    /// 7003: the display number's call limit is reached (the reference's "display-number frequency";
    /// pnswitch's per-X concurrent-call cap).
    pub const DISPLAY_NUMBER_FREQUENCY: Cause = Cause(7003);
    /// 7004: the callee is on the app's blacklist (call controls).
    pub const CALLEE_BLACKLIST: Cause = Cause(7004);
    /// 7005: the caller is on the app's blacklist, or not on its allow-list (call controls).
    pub const CALLER_BLACKLIST: Cause = Cause(7005);
    /// 7100: the called number's app is not found.
    pub const APP_NOT_FOUND: Cause = Cause(7100);
    /// 7102: internal error; pnswitch refuses new calls with it while call facts cannot be stored.
    pub const CALL_FACTS_UNSTORABLE: Cause = Cause(7102);
    /// 7509 (pnswitch's own; the reference has none): the switch is shutting down. New calls get 503 with
    /// `Retry-After` while it drains; calls still up when the drain time runs out are released with it.
    pub const SHUTTING_DOWN: Cause = Cause(7509);
    /// 7510 (pnswitch's own; the reference has none): with a shared store, this node's routing table has not
    /// caught up with the change feed (the node is starting, or resyncing after it fell behind). New calls
    /// get 503 with `Retry-After`, OPTIONS probes 503, until it has.
    pub const TABLE_NOT_CAUGHT_UP: Cause = Cause(7510);
    /// 7500: the callee starts with a prefix the app restricts (call controls).
    pub const PREFIX_RESTRICTED: Cause = Cause(7500);
    /// 7508: routing failure (no egress trunk, no media port pair, a B-leg INVITE that cannot be built).
    pub const ROUTING_FAILURE: Cause = Cause(7508);
    /// 7516: caller hung up before forwarding (e.g. AXE before entering E).
    pub const CALLER_LEFT_BEFORE_FORWARD: Cause = Cause(7516);
    /// 8008: play and collect failed (an AXE call that cannot have media, or a route asking to collect again).
    pub const PLAY_AND_COLLECT_FAILED: Cause = Cause(8008);
    /// 8010: max call duration reached.
    pub const MAX_DURATION: Cause = Cause(8010);
    /// 8013: AX binding exists but no (live) temporary callee.
    pub const NO_TEMP_CALLEE: Cause = Cause(8013);
    /// 8014: no binding for this caller on this X (AXB), or a bad number.
    pub const NO_BINDING: Cause = Cause(8014);
    /// 8014 in X mode: the customer's Block reply is unparseable or out of range.
    pub const BAD_BLOCK_REPLY: Cause = Cause(8014);
    /// 8017: X mode, the customer replied `close`.
    pub const CUSTOMER_CLOSE: Cause = Cause(8017);
    /// 8040 ("other error"): X mode, no customer decision: no reply in time, or the request failed.
    pub const NO_CUSTOMER_DECISION: Cause = Cause(8040);
    /// 8016: the binding does not allow this call direction.
    pub const DIRECTION_NOT_ALLOWED: Cause = Cause(8016);
    /// 8019: AXE A dialed X but there is no live callback record.
    pub const NO_CALLBACK_RECORD: Cause = Cause(8019);
    /// 8022: AXE binding absent or expired.
    pub const AXE_BINDING_EXPIRED: Cause = Cause(8022);
    /// 8023: a fixed-line number cannot be the caller through X.
    pub const FIXED_LINE_CALLER: Cause = Cause(8023);
    /// 8024: "show the real caller" is not allowed (X mode: a `displayCalleeNum` other than X).
    pub const SHOW_REAL_CALLER: Cause = Cause(8024);
    /// 8025: the called X does not exist.
    pub const UNKNOWN_X: Cause = Cause(8025);
    /// 8030: AXYB binding absent.
    pub const AXYB_NO_BINDING: Cause = Cause(8030);
    /// 8032: AXYB user dialed their own privacy number.
    pub const AXYB_OWN_NUMBER: Cause = Cause(8032);
    /// 8033: empty extension received.
    pub const EMPTY_EXTENSION: Cause = Cause(8033);
    /// 8035: platform connect timeout (~90 s after forward).
    pub const FORWARD_TIMEOUT: Cause = Cause(8035);
    /// 8042: international inbound calls are restricted.
    pub const INTERNATIONAL_IN: Cause = Cause(8042);
    /// 8043: international outbound calls are restricted.
    pub const INTERNATIONAL_OUT: Cause = Cause(8043);
    /// 8047: the caller's call frequency limit is reached (call controls).
    pub const CALLER_FREQUENCY: Cause = Cause(8047);
    /// 8048: the callee's call frequency limit is reached (call controls).
    pub const CALLEE_FREQUENCY: Cause = Cause(8048);
    /// 8049: the service number's (X's) call frequency limit is reached (call controls).
    pub const X_FREQUENCY: Cause = Cause(8049);
    /// 8050: the call is outside the app's call time window (call controls).
    pub const TIME_WINDOW: Cause = Cause(8050);
    /// 8055: X is unavailable (paused or out of service).
    pub const X_UNAVAILABLE: Cause = Cause(8055);
    /// 8070 (pnswitch's, not in the reference): the call was stopped by the platform's call-stop API
    /// (`POST /rest/httpsessions/callStop/v2.0`, reference §2.5).
    pub const STOPPED_BY_API: Cause = Cause(8070);
    /// 8104: callee unreachable (used for AX `turnFlag=off`).
    pub const CALLEE_UNREACHABLE: Cause = Cause(8104);
}
