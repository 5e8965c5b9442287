//! One call's state: its legs, its phase and timers, its parts (IVR, tones, PRACK, session timer)
//! and what its facts are made from ([`Record`]). The flows that drive it are the engine's
//! (`engine::setup`, `engine::outcome`, `engine::relay`).

use std::time::{Duration, Instant};

use pn_bindings::{AppId, BindingId, Connect, Mode, UnixTime};

use crate::dialog::{Leg, Side};
use crate::facts::{CallEvent, CallFact, Cdr, EventType, StatusInfo};
use crate::media::PortPair;
use crate::prack::PrackState;
use crate::session_timer::SessionTimer;
use crate::tables::state_desc;
use crate::tones::Tones;
use crate::transactions::Id;
use crate::{B2buaConfig, RouteLookup, Subscription};

/// How far the B leg got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// The switch itself answers A (prompt, digit collection); no B leg yet (see `ivr`).
    Ivr,
    /// INVITE sent, no provisional response yet.
    Calling,
    /// A provisional response arrived.
    Early,
    /// B answered.
    Answered,
}

/// A 2xx to an INVITE relayed one way, waiting for the ACK to relay the other way.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PendingAck {
    /// CSeq number of the INVITE the ACK acknowledges (on the receiving leg).
    pub cseq: u32,
    /// That INVITE's client transaction (keeps the ACK for 2xx retransmissions).
    pub client: Id,
    /// The server transaction that sent the 2xx (the ACK stops its retransmissions).
    pub server: Id,
}

/// What the facts of a call are made from.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    pub session_id: String,
    pub caller: String,
    pub called: String,
    pub callee: Option<String>,
    pub display: Option<String>,
    pub direction: u8,
    pub recorded: bool,
    pub app: Option<AppId>,
    pub binding: Option<BindingId>,
    pub subscription: Option<Subscription>,
    /// The app's key and mode as the router gave them at routing time (CDR `appKey`, `serviceType`).
    pub app_key: Option<String>,
    pub mode: Option<Mode>,
    pub call_in: UnixTime,
    pub fwd_start: Option<UnixTime>,
    pub fwd_alerting: Option<UnixTime>,
    pub fwd_answer: Option<UnixTime>,
    /// AXE: the digits collected (the `collectInfo` event's `digitInfo`).
    pub digits: Option<String>,
    /// When recording started, and its file name.
    pub recording: Option<(UnixTime, String)>,
    /// The recording is kept (at least 3 s): the CDR names it.
    pub recording_kept: bool,
    /// X mode: the `userData` of the customer's reply (echoed in later events and the CDR).
    pub x_user_data: Option<String>,
    /// Who hung up (X mode `callRelDirection`): 1 the caller, 2 the callee.
    pub rel_direction: Option<u8>,
}

impl Record {
    pub(crate) fn event(&self, kind: EventType, wall: UnixTime, state_code: Option<u16>) -> CallFact {
        let second_leg = matches!(kind, EventType::Callout | EventType::Alerting | EventType::Answer);
        let x_mode = self.mode == Some(Mode::X);
        let (caller, called) = match (&self.display, &self.callee) {
            (Some(d), Some(c)) if second_leg => (d.clone(), c.clone()),
            _ => (self.caller.clone(), self.called.clone()),
        };
        CallFact::Event(CallEvent {
            event_type: kind,
            status_info: StatusInfo {
                timestamp: wall,
                session_id: self.session_id.clone(),
                caller,
                called,
                display_caller_num: self.display.clone(),
                subscription_id: self.subscription.as_ref().map(|s| s.subscription_id.clone()),
                user_data: self.user_data(),
                state_code,
                state_desc: state_code.map(|c| state_desc(c).to_owned()),
                digit_info: (kind == EventType::CollectInfo).then(|| self.digits.clone().unwrap_or_default()),
                orig_callee_num: x_mode.then(|| self.called.clone()),
                notify_mode: x_mode.then_some("Notify"),
                call_rel_direction: self
                    .rel_direction
                    .filter(|_| x_mode && kind == EventType::Disconnect),
                binding: self.binding,
            },
            app: self.app,
        })
    }

    /// The `userData` echoed in facts: the customer's (X mode), else the binding's.
    fn user_data(&self) -> Option<String> {
        self.x_user_data
            .clone()
            .or_else(|| self.subscription.as_ref().and_then(|s| s.user_data.clone()))
    }

    /// Sets the call's app; when it changes, its key and mode are taken from the router (routing time).
    pub(crate) fn set_app(&mut self, app: Option<AppId>, router: &dyn RouteLookup) {
        if app != self.app {
            let echo = app.and_then(|a| router.app_echo(a));
            self.app_key = echo.as_ref().map(|e| e.app_key.clone());
            self.mode = echo.map(|e| e.mode);
            self.app = app;
        }
    }

    /// The CDR, made once when the call ends at `end`; `icid` is its unique id ([`crate::facts::icid`]).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn cdr(
        &self,
        config: &B2buaConfig,
        icid: String,
        end: UnixTime,
        state_code: u16,
        sip_status: u16,
        q850: u16,
    ) -> CallFact {
        CallFact::Cdr(Box::new(Cdr {
            direction: self.direction,
            sp_id: config.sp_id.clone(),
            app_key: self.app_key.clone(),
            icid,
            bind_num: self.called.clone(),
            session_id: self.session_id.clone(),
            subscription_id: self.subscription.as_ref().map(|s| s.subscription_id.clone()),
            caller_num: self.caller.clone(),
            callee_num: self.called.clone(),
            fwd_display_num: self.display.clone(),
            fwd_dst_num: self.callee.clone(),
            call_in_time: self.call_in,
            fwd_start_time: self.fwd_start,
            fwd_alerting_time: self.fwd_alerting,
            fwd_answer_time: self.fwd_answer,
            call_end_time: end,
            fail_time: self.fwd_answer.is_none().then_some(end),
            fwd_unasw_rsn: if self.fwd_answer.is_some() { 0 } else { q850 },
            ul_fail_reason: state_code,
            sip_status_code: sip_status,
            call_out_unasw_rsn: 0,
            record_flag: u8::from(self.recorded && self.recording_kept),
            record_start_time: self
                .recording
                .as_ref()
                .filter(|_| self.recording_kept)
                .map(|r| r.0),
            record_object_name: self
                .recording
                .as_ref()
                .filter(|_| self.recording_kept)
                .map(|r| r.1.clone()),
            record_domain: None,
            record_file_download_url: None,
            tts_play_times: 0,
            tts_trans_duration: 0,
            service_type: self.mode.map(crate::facts::service_type),
            host_name: config.host_name.clone(),
            extend_num: self
                .digits
                .clone()
                .filter(|d| self.mode == Some(Mode::Axe) && !d.is_empty()),
            user_data: self.user_data(),
            app: self.app,
            binding: self.binding,
        }))
    }
}

/// A connected (forwarded) call: both legs and their progress.
#[derive(Debug)]
#[allow(clippy::struct_excessive_bools)] // independent protocol flags, not a state machine
pub(crate) struct Call {
    pub a: Leg,
    pub b: Leg,
    /// The CSeq number of A's INVITE (its responses are built from the request its server
    /// transaction `a_tx` keeps until the final response).
    pub a_invite_cseq: u32,
    pub a_tx: Id,
    pub b_tx: Id,
    pub phase: Phase,
    pub ended: bool,
    /// B sent a provisional response (a CANCEL may be sent).
    pub b_provisional: bool,
    /// CANCEL B as soon as it sends a provisional response.
    pub cancel_b: bool,
    /// By receiving side: a 2xx waiting for its ACK.
    pub pending_ack: [Option<PendingAck>; 2],
    /// By side: a BYE went to or came from that side.
    pub bye_done: [bool; 2],
    pub started: Instant,
    pub latency_recorded: bool,
    pub max_duration: Duration,
    pub forward_deadline: Option<Instant>,
    pub max_deadline: Option<Instant>,
    pub last_minute: Option<Instant>,
    pub scheduled: Option<Instant>,
    /// Transactions still referring to this call.
    pub live_tx: u32,
    /// Its transactions that only wait out their RFC timers: tombs once the call is gone.
    pub waiting: Vec<WaitingTx>,
    /// RFC 3262: A's `RSeq` space, the reliable provisional awaiting A's PRACK, B's last `RSeq`.
    pub prack: PrackState,
    /// The negotiated session timer (RFC 4028), once answered.
    pub session: Option<SessionTimer>,
    /// When both legs are next probed with an in-dialog OPTIONS (answered calls; see `probe`).
    pub probe_at: Option<Instant>,
    /// By side: a probe is waiting for its answer.
    pub probing: [bool; 2],
    /// Relay mode: the port pairs facing A and B (released when the call ends).
    pub media: Option<[PortPair; 2]>,
    /// The G.711 payload type last negotiated (what prompts are sent as).
    pub codec: Option<u8>,
    /// The B leg exists (false while the switch answers A itself).
    pub b_placed: bool,
    /// The switch answered A's INVITE itself (AXE `answerBeforeCollect`): B's responses are not relayed to
    /// A, B's 2xx is acknowledged by the switch, and failures end A's dialog with a BYE.
    pub a_answered: bool,
    /// The switch answers A itself: AXE digit collection, or a prompt before a rejection.
    pub ivr: Option<Box<crate::ivr::Ivr>>,
    /// Relay mode: the binding's prompts (hint tones, recording notice, last-minute voice) and the
    /// recording.
    pub tones: Tones,
    /// The trunks the B leg tries (set when the B leg is placed).
    pub trunk: Option<Box<TrunkAttempt>>,
    pub record: Record,
    /// The call's units in its app's concurrent-call caps (given back when the call ends or is dropped).
    pub live: Option<pn_bindings::LiveSlot>,
}

/// Which trunk a call's B leg is on, which come next, and the earlier attempts still winding down.
#[derive(Debug)]
pub(crate) struct TrunkAttempt {
    /// The trunk set the call was placed with (a reload does not move it).
    pub set: std::sync::Arc<crate::trunks::TrunkSet>,
    /// Trunk indices in the order the call tries them.
    pub plan: Vec<usize>,
    /// Position of the current trunk in `plan`.
    pub at: usize,
    /// The decision, for a fresh INVITE on the next trunk.
    pub conn: Connect,
    /// Max-Forwards of the B leg.
    pub hops: u8,
    /// The codec restriction of the first INVITE (AXE: what A already hears).
    pub restrict: Option<(u8, Option<u8>)>,
    /// No provisional answer by then: the next trunk (only while there is one).
    pub deadline: Option<Instant>,
    /// Earlier B legs given up on before a final answer (they may still answer): their INVITE transaction,
    /// dialog state and whether a CANCEL went out.
    pub abandoned: Vec<(Id, Leg, bool)>,
}

impl TrunkAttempt {
    /// The trunk in use.
    pub(crate) fn current(&self) -> Option<&crate::trunks::TrunkConfig> {
        self.plan.get(self.at).and_then(|&i| self.set.get(i))
    }

    /// The next trunk of the plan that is up, after the current one: its position in `plan`.
    pub(crate) fn next(&self) -> Option<usize> {
        (self.at + 1..self.plan.len()).find(|&p| self.set.is_up(self.plan[p]))
    }
}

impl Call {
    pub(crate) fn leg(&self, side: Side) -> &Leg {
        match side {
            Side::A => &self.a,
            Side::B => &self.b,
        }
    }

    pub(crate) fn leg_mut(&mut self, side: Side) -> &mut Leg {
        match side {
            Side::A => &mut self.a,
            Side::B => &mut self.b,
        }
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        if self.ended {
            return None;
        }
        [
            self.forward_deadline,
            self.max_deadline,
            self.last_minute,
            self.prack.deadline(),
            self.session.map(|s| s.deadline),
            self.probe_at,
            self.ivr.as_ref().and_then(|ivr| ivr.deadline()),
            self.trunk.as_ref().and_then(|t| t.deadline),
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

/// Where the B leg of a Connect decision goes.
#[derive(Clone, Copy)]
pub(crate) struct Placement<'a> {
    /// The decision.
    pub conn: &'a Connect,
    /// The call's prompts when the decision brings its own (X mode); `None`: the router's for the binding.
    pub prompts: Option<&'a crate::CallPrompts>,
    /// Max-Forwards for the B leg.
    pub hops: u8,
}

/// A transaction of a call that only waits out its RFC timer (see [`crate::tombs`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WaitingTx {
    /// A server transaction.
    Server(crate::transactions::Id),
    /// A client transaction.
    Client(crate::transactions::Id),
}

impl Call {
    /// Lists a transaction of this call that now only waits (once).
    pub(crate) fn list_waiting(&mut self, tx: WaitingTx) {
        if !self.waiting.contains(&tx) {
            self.waiting.push(tx);
        }
    }
}
