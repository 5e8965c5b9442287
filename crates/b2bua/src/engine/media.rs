//! The engine side of relay mode ([`crate::media`]): port pairs, media commands and media events.

use crate::Output;
use crate::call::Phase;
use crate::clock::Clock;
use crate::dialog::Side;
use crate::tables::reason_value;
use crate::transactions::Id;
use pn_bindings::UnixTime;
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use crate::engine::B2bua;
use crate::media::{
    Leg, MEDIA_TIMEOUT_Q850, MediaAnchor, MediaCall, MediaCommand, MediaEvent, MediaPlane, PortAllocator,
    PortPair,
};
use crate::privacy::sdp::SdpMedia;

impl B2bua {
    /// Turns relay mode on: every new call gets a port pair per leg from `ports` and SDP anchored at
    /// `public_ip` (see [`crate::media`]). Without it the core runs in bypass mode.
    pub fn enable_media_relay(&mut self, public_ip: IpAddr, ports: PortAllocator) {
        self.media = Some(MediaPlane {
            public_ip: public_ip.to_string(),
            ports,
            closing: HashMap::new(),
            unbindable: HashSet::new(),
        });
    }

    /// Whether relay mode is on.
    pub fn media_relay_enabled(&self) -> bool {
        self.media.is_some()
    }

    /// The relay port pool right now, in pairs (`None` in bypass mode).
    pub fn relay_ports(&self) -> Option<crate::load::RelayPorts> {
        let plane = self.media.as_ref()?;
        let capacity = plane.ports.capacity();
        let free = plane.ports.available();
        let set_aside = plane.ports.set_aside_count();
        let closing = plane.closing.len() * 2;
        let cooling = plane.ports.cooling();
        Some(crate::load::RelayPorts {
            capacity,
            free,
            warm: plane.ports.warm(),
            set_aside,
            closing,
            cooling,
            in_use: capacity.saturating_sub(free + set_aside + closing + cooling),
        })
    }

    /// Relay mode: the free port pairs whose sockets the runtime keeps bound (warm) and that stayed unused for
    /// the pool's idle time at `now` (see [`PortAllocator`]). They are not handed out until the runtime closes
    /// their sockets and gives them back with [`Self::ports_cooled`]. Empty in bypass mode.
    pub fn take_idle_ports(&mut self, now: std::time::Instant) -> Vec<PortPair> {
        self.media
            .as_mut()
            .map(|plane| plane.ports.take_idle(now))
            .unwrap_or_default()
    }

    /// The runtime closed the sockets of pairs from [`Self::take_idle_ports`]: they are cold again (bound anew
    /// when next handed out).
    pub fn ports_cooled(&mut self, pairs: &[PortPair]) {
        if let Some(plane) = self.media.as_mut() {
            for &pair in pairs {
                plane.ports.cooled(pair);
            }
        }
    }

    /// When [`Self::take_idle_ports`] will next have pairs to give (`None`: no warm pair, or bypass mode).
    pub fn next_idle_ports_at(&self) -> Option<std::time::Instant> {
        self.media.as_ref()?.ports.next_idle()
    }

    /// Something the relay reports: a dead-media timeout, a DTMF digit, the end of a prompt.
    pub fn handle_media_event(
        &mut self,
        now: std::time::Instant,
        wall: UnixTime,
        event: MediaEvent,
        router: &dyn crate::RouteLookup,
    ) {
        match event {
            MediaEvent::Timeout { call, leg } => self.handle_media_timeout(now, wall, call, leg),
            MediaEvent::Digit { call, leg, digit } => {
                let c = Clock { now, wall };
                self.ivr_digit(c, call.0, leg.into(), digit, router);
            }
            MediaEvent::PlayDone { call, leg, tag } => {
                let c = Clock { now, wall };
                self.play_done(c, call.0, leg.into(), tag, router);
            }
            MediaEvent::OpenFailed { call, unbindable } => {
                if let Some(plane) = self.media.as_mut() {
                    plane.unbindable.extend(unbindable.into_iter().flatten());
                }
                let c = Clock { now, wall };
                self.media_open_failed(c, call.0);
            }
            MediaEvent::Closed { call } => {
                if let Some(plane) = self.media.as_mut() {
                    plane.closed(call.0, now);
                }
            }
        }
    }

    /// The relay of a call could not be opened: the call is released with 7508 (a routing failure), 503 to
    /// an unanswered A (B is cancelled), BYE to both legs of an answered call.
    pub(super) fn media_open_failed(&mut self, c: Clock, id: Id) {
        let Some(call) = self.calls.get(&id).filter(|call| !call.ended) else {
            return;
        };
        self.stats.media_open_failures += 1;
        match call.phase {
            Phase::Ivr => self.refuse_call(c, id, pn_bindings::Cause::ROUTING_FAILURE),
            Phase::Calling | Phase::Early => {
                self.cancel_b(c, id);
                let m = crate::tables::FailureMapping {
                    status: 503,
                    state_code: 7508,
                    q850: 38,
                };
                self.fail_forward(c, id, m, 0, None);
            }
            Phase::Answered => {
                let reason = reason_value(38, 7508);
                self.send_bye_because(c, id, Side::A, Some(&reason));
                self.send_bye_because(c, id, Side::B, Some(&reason));
                self.finish(c, id, 7508, 0, 38);
            }
        }
    }

    /// The relay of `call` saw no RTP from `leg`'s party for the configured time: an answered call is
    /// released (BYE both legs, Q.850 102, stateCode 7505 for A, 7506 for B); otherwise nothing happens.
    pub fn handle_media_timeout(
        &mut self,
        now: std::time::Instant,
        wall: UnixTime,
        call: MediaCall,
        leg: Leg,
    ) {
        let c = Clock { now, wall };
        let id: Id = call.0;
        let live = self
            .calls
            .get(&id)
            .is_some_and(|call| !call.ended && call.phase == Phase::Answered);
        if !live {
            return;
        }
        let code = match leg {
            Leg::A => 7505,
            Leg::B => 7506,
        };
        let reason = reason_value(MEDIA_TIMEOUT_Q850, code);
        self.stats.media_timeouts += 1;
        self.send_bye_because(c, id, Side::A, Some(&reason));
        self.send_bye_because(c, id, Side::B, Some(&reason));
        self.finish(c, id, code, 0, MEDIA_TIMEOUT_Q850);
    }

    /// Two pairs for a new call: `Ok(None)` in bypass mode, `Err` when the pool is exhausted.
    pub(super) fn allocate_media(&mut self, now: std::time::Instant) -> Result<Option<[PortPair; 2]>, ()> {
        let Some(plane) = self.media.as_mut() else {
            return Ok(None);
        };
        let a = plane.ports.allocate(now).map_err(|_| ())?;
        if let Ok(b) = plane.ports.allocate(now) {
            Ok(Some([a, b]))
        } else {
            plane.ports.release(a, now);
            Err(())
        }
    }

    /// The anchor of a leg using `ports`.
    pub(super) fn anchor(&self, ports: Option<PortPair>) -> Option<MediaAnchor> {
        let plane = self.media.as_ref()?;
        Some(MediaAnchor {
            address: plane.public_ip.clone(),
            ports: ports?,
        })
    }

    /// Reports what `source`'s party declared in an SDP just relayed.
    pub(super) fn media_remote(&mut self, id: Id, source: Side, media: Option<SdpMedia>) {
        let Some(media) = media else {
            return;
        };
        if let Some(call) = self.calls.get_mut(&id).filter(|call| call.media.is_some()) {
            if media.codec.is_some() {
                call.codec = media.codec;
            }
            self.media_command(MediaCommand::Remote {
                call: MediaCall(id),
                leg: source.into(),
                remote: media.remote,
                direction: media.direction,
            });
        }
    }

    /// `B answered` for a relayed call.
    pub(super) fn media_answered(&mut self, id: Id) {
        if self.calls.get(&id).is_some_and(|call| call.media.is_some()) {
            self.media_command(MediaCommand::Answered { call: MediaCall(id) });
        }
    }

    /// Closes the call's relay (once): its pairs wait in `closing` for [`MediaEvent::Closed`]; a recording
    /// of at least [`crate::media::MIN_RECORDING`] is kept.
    pub(super) fn media_close(&mut self, now: std::time::Instant, id: Id) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let keep_recording = call.tones.recording_kept(now);
        let Some(pairs) = call.media.take() else {
            return;
        };
        if let Some(plane) = self.media.as_mut() {
            plane.closing.insert(id, pairs);
        }
        self.media_command(MediaCommand::Close {
            call: MediaCall(id),
            keep_recording,
        });
    }

    pub(super) fn media_command(&mut self, command: MediaCommand) {
        self.push_output(Output::Media(command));
    }
}
