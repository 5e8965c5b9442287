//! Call set-up: a new INVITE, the route decision, the A leg registered and the B leg placed.

use crate::clock::Clock;
use crate::dialog::{Leg, Side};
use crate::facts::{EventType, compact_time};
use crate::media::{MediaCall, MediaCommand, PortPair};
use crate::prack::{PrackState, Rel, TAG_100REL};
use crate::privacy::{SdpOrigin, copy_whitelisted, party_sdp, rewrite_body_media, rewrite_sdp};
use crate::tones::Tones;
use crate::transactions::{ClientRole, Id};
use crate::{Output, Peer, RouteLookup};
use pn_bindings::{Cause, Mode, Reject, RouteDecision};
use pn_numbers::normalize;
use pn_sip::{Headers, Method, NameAddr, Request, Uri};
use std::time::Duration;

use crate::call::{Call, Phase, Placement, Record, TrunkAttempt};
use crate::engine::B2bua;
use crate::trunks::TrunkConfig;

/// A rejection's table row and its `Reason` header value: `Q.850;cause=<q850>;text="<cause> <text>"`.
use crate::tables::reason_header;

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
    #[allow(clippy::too_many_lines)] // one decision, one match: the four ways a call starts
    pub(super) fn on_new_invite(&mut self, c: Clock, from: Peer, r: Request, router: &dyn RouteLookup) {
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
        let Ok(a_tx) = self.new_server_tx(c, from, r.clone(), None, true) else {
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
            app_key: None,
            mode: None,
            call_in: c.wall,
            fwd_start: None,
            fwd_alerting: None,
            fwd_answer: None,
            digits: None,
            recording: None,
            recording_kept: false,
            x_user_data: None,
            rel_direction: None,
        };
        let decision = match called {
            Some(called) => {
                let decision = router.decide(caller, called, None, c.wall);
                self.pending_live = router.take_live_slot();
                decision
            }
            None => RouteDecision::Reject(Reject {
                cause: Cause::NO_BINDING,
                app: None,
                binding: None,
                prompt: None,
            }),
        };
        let (cause, app, binding, prompt) = match decision {
            RouteDecision::Connect(conn) => {
                record.set_app(Some(conn.app), router);
                record.mode = Some(conn.mode);
                record.binding = Some(conn.binding);
                record.subscription = router.subscription(conn.binding);
                match (self.trunks.any_up(), self.allocate_media(c.now)) {
                    (true, Ok(media)) => {
                        self.fact(record.event(EventType::Callin, c.wall, None));
                        let place = Placement {
                            conn: &conn,
                            hops: hops - 1,
                            prompts: None,
                        };
                        self.connect(c, id, (from, a_tx), &r, record, media, &place, router);
                        return;
                    }
                    // No egress, or relay mode without a free port pair: a routing failure.
                    (false, media) => {
                        if let Ok(Some(pairs)) = media {
                            self.release_pairs(c.now, pairs);
                        }
                        (Cause::ROUTING_FAILURE, Some(conn.app), Some(conn.binding), None)
                    }
                    (true, Err(())) => (Cause::ROUTING_FAILURE, Some(conn.app), Some(conn.binding), None),
                }
            }
            RouteDecision::CollectDigits(d) => {
                record.set_app(Some(d.app), router);
                record.mode = Some(Mode::Axe);
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
                    self.reject(c, a_tx, &r, &rec, Cause::PLAY_AND_COLLECT_FAILED);
                }
                return;
            }
            RouteDecision::Ask(ask) => {
                self.start_ask(c, id, (from, a_tx), r, record, ask, router);
                return;
            }
            RouteDecision::Reject(rj) => (rj.cause, rj.app, rj.binding, rj.prompt),
        };
        record.set_app(app, router);
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
    pub(super) fn refuse_new(
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
    pub(super) fn refuse_at_once(&mut self, c: Clock, from: Peer, r: Request, refusal: crate::Refusal) {
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
    pub(super) fn reject(&mut self, c: Clock, a_tx: Id, r: &Request, record: &Record, cause: Cause) {
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
        let icid = self.new_icid(c.wall);
        let cdr = record.cdr(&self.config, icid, c.wall, cause.0, m.status, m.q850);
        self.fact(cdr);
    }

    /// Returns two port pairs to the pool (a call that got them ended at `now` before its relay opened).
    pub(super) fn release_pairs(&mut self, now: std::time::Instant, pairs: [PortPair; 2]) {
        if let Some(plane) = self.media.as_mut() {
            for pair in pairs {
                plane.ports.release(pair, now);
            }
        }
    }

    /// A's leg of a new call (its dialog state from A's INVITE).
    pub(super) fn new_a_leg(
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
    pub(super) fn insert_call(
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
                waiting: Vec::new(),
                prack: PrackState::new(r.headers(), &a_local_tag),
                session: None,
                probe_at: None,
                probing: [false; 2],
                media,
                codec: None,
                b_placed: false,
                a_answered: false,
                ivr: None,
                tones: Tones::default(),
                trunk: None,
                record,
                live: self.pending_live.take(),
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
        if let Some(e) = self.txs.server_mut(a_tx) {
            e.call = Some((id, Side::A));
        }
    }

    /// Starts a routed call: A's leg, then the B leg.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn connect(
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
                self.release_pairs(c.now, pairs);
            }
            return;
        };
        self.insert_call(c, id, a_tx, r, a, record, media, Phase::Calling);
        self.place_b(c, id, r, place, None, router);
    }

    /// Places the B leg of call `id` for a Connect decision on the first trunk of its plan
    /// ([`crate::TrunkSet::plan`], keyed by A's Call-ID): a fresh INVITE built from A's INVITE `r`
    /// (`restrict`: offer B only this codec and telephone-event, the ones A already hears from the switch).
    pub(super) fn place_b(
        &mut self,
        c: Clock,
        id: Id,
        r: &Request,
        place: &Placement<'_>,
        restrict: Option<(u8, Option<u8>)>,
        router: &dyn RouteLookup,
    ) {
        let Placement {
            conn,
            hops,
            prompts: own_prompts,
        } = *place;
        let Some((media, a_call_id)) = self
            .calls
            .get(&id)
            .map(|call| (call.media, call.a.call_id.clone()))
        else {
            return;
        };
        let set = std::sync::Arc::clone(&self.trunks);
        let plan = set.plan(crate::trunks::call_key(&a_call_id));
        let Some(trunk) = plan.first().and_then(|&i| set.get(i)).cloned() else {
            self.refuse_call(c, id, Cause::ROUTING_FAILURE);
            return;
        };
        let Some((b, invite, offer)) = self.b_invite(c, id, r, conn, &trunk, hops, restrict) else {
            self.refuse_call(c, id, Cause::ROUTING_FAILURE);
            return;
        };
        let prompts = media.map(|_| own_prompts.cloned().unwrap_or_else(|| router.call_prompts(conn)));
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        call.record.callee = Some(conn.callee.to_string());
        call.record.display = Some(conn.display.to_string());
        call.record.direction = conn.direction.code();
        call.record.recorded = conn.record;
        call.record.fwd_start = Some(c.wall);
        // X mode keeps no bindings: `conn.binding` names none.
        if conn.mode != Mode::X && call.record.binding != Some(conn.binding) {
            call.record.binding = Some(conn.binding);
            call.record.subscription = router.subscription(conn.binding);
        }
        call.record.set_app(Some(conn.app), router);
        call.record.mode = Some(conn.mode);
        call.max_duration = Duration::from_secs(conn.max_duration_secs.into());
        call.forward_deadline = c
            .now
            .checked_add(Duration::from_secs(self.config.forward_timeout_secs));
        call.phase = Phase::Calling;
        call.b_placed = true;
        call.bye_done[Side::B.index()] = false;
        call.tones
            .placed(prompts.unwrap_or_default(), conn.record && media.is_some());
        call.b = b;
        call.trunk = Some(Box::new(TrunkAttempt {
            set,
            plan,
            at: 0,
            conn: conn.clone(),
            hops,
            restrict,
            deadline: None,
            abandoned: Vec::new(),
        }));
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
        let session_id = self
            .calls
            .get(&id)
            .map(|call| call.record.session_id.clone())
            .unwrap_or_default();
        self.push_output(Output::Trunk(crate::trunks::TrunkUse {
            session_id,
            trunk: trunk.name.clone(),
            failed_over_from: None,
        }));
        let b_tx = self.new_client_tx(c, trunk.peer(), invite, Some((id, Side::B)), ClientRole::Invite);
        if let Some(call) = self.calls.get_mut(&id) {
            call.b_tx = b_tx.unwrap_or(0);
        }
        self.arm_failover(c, id);
        self.caller_hint(c, id, r, from_ivr);
        self.schedule_call(id);
    }

    /// The B leg's dialog state and INVITE for `conn` on `trunk` (numbers formatted per the trunk, PAI when it
    /// asks for it), with A's offer for the media relay; `None` when the INVITE cannot be built.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn b_invite(
        &mut self,
        c: Clock,
        id: Id,
        r: &Request,
        conn: &pn_bindings::Connect,
        trunk: &TrunkConfig,
        hops: u8,
        restrict: Option<(u8, Option<u8>)>,
    ) -> Option<(Leg, Request, Option<crate::privacy::sdp::SdpMedia>)> {
        let media = self.calls.get(&id)?.media;
        let egress = trunk.peer();
        let h = r.headers();
        let origin_host = self.local_host.trim_matches(['[', ']']).to_owned();
        let mut ruri = Uri::sip(
            Some(&trunk.format(conn.callee)),
            &host_of(egress.addr),
            Some(egress.addr.port()),
        );
        if egress.transport == crate::Transport::Tcp {
            ruri.set_param("transport", Some("tcp"));
        }
        let x = trunk.format(conn.display);
        let mut b = Leg {
            peer: egress,
            call_id: self.new_call_id(c),
            local_tag: self.new_tag(c),
            remote_tag: None,
            local_uri: NameAddr::new(Uri::sip(Some(&x), &self.local_host, self.local_port)),
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
        if trunk.pai {
            // Built by the switch from X alone (never copied: the whitelist has no identity header).
            let pai = NameAddr::new(Uri::sip(Some(&x), &self.local_host, self.local_port));
            builder = builder.header("P-Asserted-Identity", &pai.to_string());
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
        let invite = builder.build().ok()?;
        Some((b, invite, offer))
    }
}
