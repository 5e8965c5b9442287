//! One call: set-up (route decision, the B-leg INVITE built from scratch), B's responses relayed to
//! A, call timers (forward timeout, max duration, last-minute hook) and the end of the call with
//! its facts.

use std::time::{Duration, Instant};

use pn_bindings::{AppId, BindingId, Cause, Connect, Reject, RouteDecision, UnixTime};
use pn_numbers::normalize;
use pn_sip::{Headers, Method, NameAddr, Request, Uri};

use crate::dialog::{Leg, Side};
use crate::engine::Clock;
use crate::facts::{CallEvent, CallFact, Cdr, EventType, StatusInfo, compact_time};
use crate::media::{MediaCall, MediaCommand, PortPair};
use crate::prack::{Rel, Reliable, TAG_100REL, initial_rseq};
use crate::privacy::{SdpOrigin, copy_whitelisted, party_sdp, rewrite_body_media, rewrite_sdp};
use crate::prompts::CallPrompts;
use crate::session_timer::SessionTimer;
use crate::tables::{reject_mapping, state_desc};
use crate::transactions::{ClientRole, Id};
use crate::{B2bua, Output, Peer, RouteLookup, Subscription};

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
}

impl Record {
    pub(crate) fn event(&self, kind: EventType, wall: UnixTime, state_code: Option<u16>) -> CallFact {
        let second_leg = matches!(kind, EventType::Callout | EventType::Alerting | EventType::Answer);
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
                subscription_id: self.subscription.as_ref().map(|s| s.subscription_id.clone()),
                user_data: self.subscription.as_ref().and_then(|s| s.user_data.clone()),
                state_code,
                state_desc: state_code.map(|c| state_desc(c).to_owned()),
                digit_info: (kind == EventType::CollectInfo).then(|| self.digits.clone().unwrap_or_default()),
                binding: self.binding,
            },
            app: self.app,
        })
    }

    pub(crate) fn cdr(
        &self,
        host: &str,
        end: UnixTime,
        state_code: u16,
        sip_status: u16,
        q850: u16,
    ) -> CallFact {
        CallFact::Cdr(Cdr {
            direction: self.direction,
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
            host_name: host.to_owned(),
            user_data: self.subscription.as_ref().and_then(|s| s.user_data.clone()),
            app: self.app,
            binding: self.binding,
        })
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
    /// What A's INVITE said about 100rel.
    pub a_rel: Rel,
    /// The last `RSeq` used on A's dialog.
    pub a_rseq: u32,
    /// The reliable provisional sent to A awaiting its PRACK.
    pub a_reliable: Option<Box<Reliable>>,
    /// The last `RSeq` received from B.
    pub b_rseq: Option<u32>,
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
    /// Relay mode: the binding's prompts (hint tones, recording notice, last-minute voice).
    pub prompts: Option<Box<crate::prompts::CallPrompts>>,
    /// Relay mode: the call is to be recorded once the recording notice has played.
    pub record_pending: bool,
    /// Recording notices still playing (recording starts when none is).
    pub record_hints_playing: u8,
    /// The caller hint tone plays to A (stopped when B answers).
    pub caller_hint_playing: bool,
    /// A recording in progress.
    pub recording: Option<crate::tones::Recording>,
    pub record: Record,
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
            self.a_reliable.as_ref().map(|r| r.next),
            self.session.map(|s| s.deadline),
            self.probe_at,
            self.ivr.as_ref().and_then(|ivr| ivr.deadline),
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

/// A rejection's table row and its `Reason` header value: `Q.850;cause=<q850>;text="<cause> <text>"`.
fn reason_header(cause: Cause) -> (crate::RejectMapping, String) {
    let m = reject_mapping(cause);
    let reason = format!("Q.850;cause={};text=\"{} {}\"", m.q850, cause.0, m.text);
    (m, reason)
}

/// `user` of a header's URI, unescaped.
fn user_of(n: &NameAddr) -> Option<String> {
    n.uri().user_unescaped()
}

/// A URI host for an address (IPv6 bracketed).
fn host_of(addr: std::net::SocketAddr) -> String {
    match addr {
        std::net::SocketAddr::V4(a) => a.ip().to_string(),
        std::net::SocketAddr::V6(a) => format!("[{}]", a.ip()),
    }
}

impl B2bua {
    /// A new INVITE from a trusted trunk.
    #[allow(clippy::too_many_lines)] // one decision, one match: the three ways a call starts
    pub(crate) fn on_new_invite(&mut self, c: Clock, from: Peer, r: Request, router: &dyn RouteLookup) {
        let h = r.headers();
        let hops = h.max_forwards().ok().flatten().unwrap_or(70);
        if hops == 0 {
            self.stats.validation_rejects += 1;
            let b = self.response_to(c, &r, 483);
            self.reply(c, from, r, b);
            return;
        }
        if h.call_id().is_ok_and(|id| self.dialogs.contains_key(id)) {
            let b = self.response_to(c, &r, 482);
            self.reply(c, from, r, b);
            return;
        }
        if let Some(refusal) = self.refusal {
            self.refuse_at_once(c, from, r, refusal);
            return;
        }
        let called_raw = r.uri().user_unescaped().unwrap_or_default();
        let called = normalize(&called_raw).ok();
        let caller_raw = h
            .asserted_identities()
            .ok()
            .and_then(|ids| ids.first().and_then(user_of))
            .or_else(|| h.from().ok().as_ref().and_then(user_of))
            .unwrap_or_default();
        let caller = normalize(&caller_raw).ok();
        let Some(a_tx) = self.new_server_tx(c, from, r.clone(), None, true) else {
            return;
        };
        let id = self.next_id();
        let mut record = Record {
            session_id: format!(
                "{}_{}_{}@{}",
                self.shard.index,
                id,
                compact_time(c.wall),
                self.config.host_name
            ),
            caller: caller.map_or(caller_raw, |n| n.to_string()),
            called: called.map_or(called_raw, |n| n.to_string()),
            callee: None,
            display: None,
            direction: 2,
            recorded: false,
            app: None,
            binding: None,
            subscription: None,
            call_in: c.wall,
            fwd_start: None,
            fwd_alerting: None,
            fwd_answer: None,
            digits: None,
            recording: None,
            recording_kept: false,
        };
        let decision = match called {
            Some(called) => router.decide(caller, called, None, c.wall),
            None => RouteDecision::Reject(Reject {
                cause: Cause::NO_BINDING,
                app: None,
                binding: None,
                prompt: None,
            }),
        };
        let (cause, app, binding, prompt) = match decision {
            RouteDecision::Connect(conn) => {
                record.app = Some(conn.app);
                record.binding = Some(conn.binding);
                record.subscription = router.subscription(conn.binding);
                match (self.egress, self.allocate_media()) {
                    (Some(egress), Ok(media)) => {
                        self.fact(record.event(EventType::Callin, c.wall, None));
                        let place = Placement {
                            conn: &conn,
                            egress,
                            hops: hops - 1,
                        };
                        self.connect(c, id, (from, a_tx), &r, record, media, &place, router);
                        return;
                    }
                    // No egress, or relay mode without a free port pair: a routing failure.
                    (None, media) => {
                        if let Ok(Some(pairs)) = media {
                            self.release_pairs(pairs);
                        }
                        (Cause(7508), Some(conn.app), Some(conn.binding), None)
                    }
                    (Some(_), Err(())) => (Cause(7508), Some(conn.app), Some(conn.binding), None),
                }
            }
            RouteDecision::CollectDigits(d) => {
                record.app = Some(d.app);
                self.fact(record.event(EventType::Callin, c.wall, None));
                let settings = router.app_prompts(d.app);
                let collect = crate::ivr::Collect {
                    x: d.x,
                    caller,
                    digits: d.digits,
                    repeat: d.repeat,
                };
                let purpose = crate::ivr::Purpose::Collect(collect);
                // No media plane, no port pair or no G.711 offer: digits cannot be collected.
                if let Err(rec) = self.start_ivr(c, id, (from, a_tx), &r, record, purpose, settings, hops - 1)
                {
                    self.reject(c, a_tx, &r, &rec, Cause(8008));
                }
                return;
            }
            RouteDecision::Reject(rj) => (rj.cause, rj.app, rj.binding, rj.prompt),
        };
        record.app = app;
        record.binding = binding;
        if record.subscription.is_none() {
            record.subscription = binding.and_then(|b| router.subscription(b));
        }
        self.fact(record.event(EventType::Callin, c.wall, None));
        self.refuse_new(c, id, (from, a_tx), &r, record, (cause, prompt), router);
    }

    /// Refuses a new call with `cause`, first playing `prompt` (or the app's prompt for the cause) when
    /// the call can have media.
    #[allow(clippy::too_many_arguments)]
    fn refuse_new(
        &mut self,
        c: Clock,
        id: Id,
        (from, a_tx): (Peer, Id),
        r: &Request,
        record: Record,
        (cause, prompt): (Cause, Option<String>),
        router: &dyn RouteLookup,
    ) {
        let settings = record.app.map(|a| router.app_prompts(a));
        let prompt = prompt.or_else(|| {
            settings
                .as_ref()
                .and_then(|s| s.for_rejection(cause.0))
                .map(str::to_owned)
        });
        if let (Some(prompt), Some(settings)) = (prompt, settings) {
            let purpose = crate::ivr::Purpose::Announce { cause, prompt };
            let hops = r
                .headers()
                .max_forwards()
                .ok()
                .flatten()
                .unwrap_or(70)
                .saturating_sub(1);
            if let Err(rec) = self.start_ivr(c, id, (from, a_tx), r, record, purpose, settings, hops) {
                self.reject(c, a_tx, r, &rec, cause);
            }
            return;
        }
        self.reject(c, a_tx, r, &record, cause);
    }

    /// Answers a new INVITE with the runtime's refusal (see [`B2bua::refuse_new_calls`]): the rejection
    /// table's status and `Reason` for its cause, `Retry-After`, no route decision and no call facts.
    fn refuse_at_once(&mut self, c: Clock, from: Peer, r: Request, refusal: crate::Refusal) {
        let (m, reason) = reason_header(refusal.cause);
        let mut b = self
            .response_to(c, &r, m.status)
            .reason(m.reason)
            .header("Reason", &reason);
        if refusal.retry_after_secs > 0 {
            b = b.header("Retry-After", &refusal.retry_after_secs.to_string());
        }
        self.stats.calls_refused += 1;
        self.reply(c, from, r, b);
    }

    /// Answers a refused call from the rejection table and reports it.
    fn reject(&mut self, c: Clock, a_tx: Id, r: &Request, record: &Record, cause: Cause) {
        let (m, reason) = reason_header(cause);
        let response = self
            .response_to(c, r, m.status)
            .reason(m.reason)
            .header("Reason", &reason)
            .build();
        self.respond(c, a_tx, response);
        self.stats.calls_rejected += 1;
        self.stats.ended(cause.0);
        self.fact(record.event(EventType::Disconnect, c.wall, Some(cause.0)));
        let cdr = record.cdr(&self.config.host_name, c.wall, cause.0, m.status, m.q850);
        self.fact(cdr);
    }

    /// Returns two port pairs to the pool.
    pub(crate) fn release_pairs(&mut self, pairs: [PortPair; 2]) {
        if let Some(plane) = self.media.as_mut() {
            for pair in pairs {
                plane.ports.release(pair);
            }
        }
    }

    /// A's leg of a new call (its dialog state from A's INVITE).
    pub(crate) fn new_a_leg(
        &mut self,
        c: Clock,
        id: Id,
        from: Peer,
        r: &Request,
        media: Option<[PortPair; 2]>,
    ) -> Option<Leg> {
        let h = r.headers();
        let (Ok(a_from), Ok(a_to), Ok(a_call_id)) = (h.from(), h.to(), h.call_id()) else {
            return None; // validated already
        };
        let origin_host = self.local_host.trim_matches(['[', ']']).to_owned();
        let mut a_remote = NameAddr::new(a_from.uri().clone());
        if let Some(name) = a_from.display_name() {
            a_remote = a_remote.with_display_name(name);
        }
        Some(Leg {
            peer: from,
            call_id: a_call_id.to_owned(),
            local_tag: self.new_tag(c),
            remote_tag: a_from.tag().map(str::to_owned),
            local_uri: NameAddr::new(a_to.uri().clone()),
            remote_uri: a_remote,
            remote_target: h
                .contacts()
                .ok()
                .and_then(|v| v.into_iter().next())
                .map_or_else(|| a_from.uri().clone(), |n| n.uri().clone()),
            route_set: h.get_list("Record-Route").map(str::to_owned).collect(),
            local_cseq: 0,
            sdp: SdpOrigin {
                address: origin_host,
                session_id: (u64::from(self.shard.index) << 40) | (id << 1),
                version: 0,
                anchor: self.anchor(media.map(|m| m[0])),
            },
        })
    }

    /// Registers a new call with A's leg (the B leg comes with [`B2bua::place_b`]); opens its relay.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn insert_call(
        &mut self,
        c: Clock,
        id: Id,
        a_tx: Id,
        r: &Request,
        a: Leg,
        record: Record,
        media: Option<[PortPair; 2]>,
        phase: Phase,
    ) {
        let a_local_tag = a.local_tag.clone();
        let a_invite_cseq = r.headers().cseq().map_or(1, |s| s.seq);
        self.dialogs.insert(a.call_id.clone(), (id, Side::A));
        // Until the B leg is placed, `b` is a copy of A's leg that nothing sends to (`b_placed`).
        let b = Leg {
            call_id: String::new(),
            ..a.clone()
        };
        self.calls.insert(
            id,
            Box::new(Call {
                a,
                b,
                a_invite_cseq,
                a_tx,
                b_tx: 0,
                phase,
                ended: false,
                b_provisional: false,
                cancel_b: false,
                pending_ack: [None, None],
                bye_done: [false, true],
                started: c.now,
                latency_recorded: false,
                max_duration: Duration::ZERO,
                forward_deadline: None,
                max_deadline: None,
                last_minute: None,
                scheduled: None,
                live_tx: 1, // A's INVITE transaction
                a_rseq: initial_rseq(&a_local_tag),
                a_rel: Rel::of(r.headers()),
                a_reliable: None,
                b_rseq: None,
                session: None,
                probe_at: None,
                probing: [false; 2],
                media,
                codec: None,
                b_placed: false,
                a_answered: false,
                ivr: None,
                prompts: None,
                record_pending: false,
                record_hints_playing: 0,
                caller_hint_playing: false,
                recording: None,
                record,
            }),
        );
        if let Some([a, b]) = media {
            self.media_command(MediaCommand::Open {
                call: MediaCall(id),
                a,
                b,
            });
        }
        self.active += 1;
        if let Some(e) = self.txs.servers.get_mut(&a_tx) {
            e.call = Some((id, Side::A));
        }
    }

    /// Starts a routed call: A's leg, then the B leg.
    #[allow(clippy::too_many_arguments)]
    fn connect(
        &mut self,
        c: Clock,
        id: Id,
        (from, a_tx): (Peer, Id),
        r: &Request,
        record: Record,
        media: Option<[PortPair; 2]>,
        place: &Placement<'_>,
        router: &dyn RouteLookup,
    ) {
        let Some(a) = self.new_a_leg(c, id, from, r, media) else {
            if let Some(pairs) = media {
                self.release_pairs(pairs);
            }
            return;
        };
        self.insert_call(c, id, a_tx, r, a, record, media, Phase::Calling);
        self.place_b(c, id, r, place, None, router);
    }

    /// Places the B leg of call `id` for a Connect decision: a fresh INVITE built from A's INVITE `r`
    /// (`restrict`: offer B only this codec and telephone-event, the ones A already hears from the switch).
    #[allow(clippy::too_many_lines)] // one linear recipe: the B-leg INVITE
    pub(crate) fn place_b(
        &mut self,
        c: Clock,
        id: Id,
        r: &Request,
        place: &Placement<'_>,
        restrict: Option<(u8, Option<u8>)>,
        router: &dyn RouteLookup,
    ) {
        let Placement { conn, egress, hops } = *place;
        let Some(media) = self.calls.get(&id).map(|call| call.media) else {
            return;
        };
        let h = r.headers();
        let origin_host = self.local_host.trim_matches(['[', ']']).to_owned();
        let ruri = Uri::sip(
            Some(&conn.callee.to_string()),
            &host_of(egress.addr),
            Some(egress.addr.port()),
        );
        let mut b = Leg {
            peer: egress,
            call_id: self.new_call_id(c),
            local_tag: self.new_tag(c),
            remote_tag: None,
            local_uri: NameAddr::new(Uri::sip(
                Some(&conn.display.to_string()),
                &self.local_host,
                self.local_port,
            )),
            remote_uri: NameAddr::new(ruri.clone()),
            remote_target: ruri,
            route_set: Vec::new(),
            local_cseq: 0,
            sdp: SdpOrigin {
                address: origin_host,
                session_id: (u64::from(self.shard.index) << 40) | (id << 1) | 1,
                version: 0,
                anchor: self.anchor(media.map(|m| m[1])),
            },
        };
        let via = self.new_via(c, egress.transport);
        let mut builder = b
            .request(Method::Invite, &via, None)
            .max_forwards(hops)
            .contact(&self.contact(egress.transport));
        let mut extra = Headers::new();
        copy_whitelisted(h, &mut extra);
        let a_rel = Rel::of(h);
        if a_rel != Rel::No {
            // One fresh Supported: 100rel first, then the relayed tags (timer).
            let tags: Vec<String> = std::iter::once(TAG_100REL.to_owned())
                .chain(extra.get_list("Supported").map(str::to_owned))
                .collect();
            extra.remove("Supported");
            extra.push("Supported", tags.join(", "));
        }
        for header in &extra {
            builder = builder.header(header.name(), header.value());
        }
        let (body, offer) = match restrict {
            Some((codec, te)) => party_sdp(h, r.body()).map_or((None, None), |mut sdp| {
                crate::ivr::restrict_offer(&mut sdp, codec, te);
                let (body, offer) = rewrite_sdp(&sdp, &mut b.sdp);
                (Some(body), offer)
            }),
            None => rewrite_body_media(h, r.body(), &mut b.sdp, false),
        };
        if let Some((ct, body)) = body {
            builder = builder.body(&ct, body);
        }
        let Ok(invite) = builder.build() else {
            self.refuse_call(c, id, Cause(7508));
            return;
        };
        let prompts = media.map(|_| router.call_prompts(conn));
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        call.record.callee = Some(conn.callee.to_string());
        call.record.display = Some(conn.display.to_string());
        call.record.direction = conn.direction.code();
        call.record.recorded = conn.record;
        call.record.fwd_start = Some(c.wall);
        if call.record.binding != Some(conn.binding) {
            call.record.binding = Some(conn.binding);
            call.record.subscription = router.subscription(conn.binding);
        }
        call.record.app = Some(conn.app);
        call.max_duration = Duration::from_secs(conn.max_duration_secs.into());
        call.forward_deadline = c
            .now
            .checked_add(Duration::from_secs(self.config.forward_timeout_secs));
        call.phase = Phase::Calling;
        call.b_placed = true;
        call.bye_done[Side::B.index()] = false;
        call.record_pending = conn.record && media.is_some();
        call.prompts = prompts.filter(|p| *p != CallPrompts::default()).map(Box::new);
        call.b = b;
        let callout = call.record.event(EventType::Callout, c.wall, None);
        let b_call_id = call.b.call_id.clone();
        let from_ivr = call.ivr.take().is_some();
        self.dialogs.insert(b_call_id, (id, Side::B));
        if media.is_some() && !from_ivr {
            self.media_remote(id, Side::A, offer);
        }
        self.fact(callout);
        if let Some(record) = conn.callback.clone() {
            self.push_output(Output::Callback(record));
        }
        let b_tx = self.new_client_tx(c, egress, invite, Some((id, Side::B)), ClientRole::Invite);
        if let Some(call) = self.calls.get_mut(&id) {
            call.b_tx = b_tx.unwrap_or(0);
        }
        self.caller_hint(c, id, r, from_ivr);
        self.schedule_call(id);
    }
}

/// Where the B leg of a Connect decision goes.
#[derive(Clone, Copy)]
pub(crate) struct Placement<'a> {
    /// The decision.
    pub conn: &'a Connect,
    /// The egress trunk.
    pub egress: Peer,
    /// Max-Forwards for the B leg.
    pub hops: u8,
}
