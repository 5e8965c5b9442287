//! Media anchoring ("relay" mode): the B2BUA rewrites SDP so both parties send their media to the
//! switch, and tells the runtime, through [`Output::Media`](crate::Output::Media), which relay to run.
//!
//! # Contract
//!
//! Relay mode is off unless the runtime calls [`B2bua::enable_media_relay`](crate::B2bua::enable_media_relay) (the binary's
//! `[media] mode = "relay"`); in bypass mode no [`MediaCommand`] is ever emitted and SDP keeps its
//! `c=`/`m=` lines. In relay mode:
//!
//! - when A's INVITE is routed, the core allocates one [`PortPair`] per leg from its
//!   [`PortAllocator`] (the runtime gives each shard its own slice of the port range) and emits
//!   [`MediaCommand::Open`] *before* the B-leg INVITE. No free pair: the call is refused with
//!   stateCode 7508 (503), like a routing failure.
//! - every SDP sent to a leg (INVITE, 18x, 2xx, re-INVITE/UPDATE offers and answers, ACK and PRACK
//!   bodies) is built from the SDP whitelist ([`crate::privacy::sdp`]) with that leg's pair: `c=` is the
//!   public IP, the first usable `m=` gets the RTP port, further `m=` sections are declined (port 0), so no
//!   address of one party reaches the other.
//! - the real address and direction the sending party declared are reported as
//!   [`MediaCommand::Remote`] (the relay's initial destination, [`RemoteMedia::from_sdp`] or
//!   [`RemoteMedia::muxed`]; `None` for a `c=0.0.0.0` hold or an unparseable address).
//! - when B answers, [`MediaCommand::Answered`]: the media engine restarts the dead-media timers
//!   ([`pn_media::RelaySession::restart_timers`]) so a long ring is not dead media.
//! - the runtime owns the sockets and feeds these commands to the sans-IO [`pn_media::MediaEngine`], which
//!   owns each call's [`pn_media::RelaySession`], prompts, digit detection and recording; on the engine's
//!   dead-media event the runtime calls [`B2bua::handle_media_timeout`](crate::B2bua::handle_media_timeout): an answered
//!   call gets a BYE on both legs with `Reason: Q.850;cause=102;text="<stateCode> …"` and ends with
//!   stateCode 7505 (A's media died) or 7506 (B's media died). Before answer the timeout is ignored.
//! - when the call ends, [`MediaCommand::Close`]. The call's pairs return to the pool when the runtime
//!   answers [`MediaEvent::Closed`], once no datagram reaches the call any more (the runtime keeps the
//!   sockets bound, "parked", for a later call). There they first rest ([`PortAllocator`]: stray packets of
//!   the ended call are dropped by the runtime, not delivered to the next one), then are the first choice of
//!   new calls, so a busy shard reuses bound sockets instead of binding new ones. A pair the runtime could
//!   not bind ([`MediaEvent::OpenFailed`]) is set aside ([`PortAllocator::set_aside`]) when it comes back.
//! - warm pairs unused for the pool's idle time are handed to the runtime for closing
//!   ([`B2bua::take_idle_ports`](crate::B2bua::take_idle_ports), polled by the runtime, e.g. once a second or
//!   at [`B2bua::next_idle_ports_at`](crate::B2bua::next_idle_ports_at)); they are not handed out until the
//!   runtime reports their sockets closed ([`B2bua::ports_cooled`](crate::B2bua::ports_cooled)) and are then
//!   bound anew when next used.

use std::collections::{HashMap, HashSet};

use pn_bindings::AppId;
pub use pn_media::{Leg, MediaDirection, PortAllocator, PortPair, RemoteMedia};

pub use crate::privacy::MediaAnchor;

use crate::dialog::Side;
use crate::transactions::Id;

/// Q.850 102 (recovery on timer expiry), the cause of a dead-media release.
pub const MEDIA_TIMEOUT_Q850: u16 = 102;

/// Recordings shorter than this keep no file (reference §5).
pub const MIN_RECORDING: std::time::Duration = std::time::Duration::from_secs(3);

/// A call's handle in media commands (stable for the call's life, unique within the shard).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MediaCall(pub u64);

/// A prompt to play: a file name, looked up first among `app`'s uploads, then among the shipped defaults.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PromptRef {
    /// The app whose uploads are searched (`None`: shipped defaults only).
    pub app: Option<AppId>,
    /// The file name (`enter_extension.wav`, …).
    pub name: String,
}

/// What the runtime's relay should do (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaCommand {
    /// Bind the sockets of both pairs and start a relay for `call`.
    Open {
        /// The call.
        call: MediaCall,
        /// The pair facing A (what A's SDP names).
        a: PortPair,
        /// The pair facing B.
        b: PortPair,
    },
    /// `leg`'s party declared this media address and direction in SDP.
    Remote {
        /// The call.
        call: MediaCall,
        /// The party's leg.
        leg: Leg,
        /// Where it wants media (`None`: no usable address, e.g. a `c=0.0.0.0` hold).
        remote: Option<RemoteMedia>,
        /// Its `a=sendrecv|sendonly|recvonly|inactive`.
        direction: MediaDirection,
    },
    /// B answered: restart the dead-media timers.
    Answered {
        /// The call.
        call: MediaCall,
    },
    /// Play a prompt to `leg`'s party, after anything already queued for that leg. While the switch plays
    /// to a leg, media relayed from the other party to it is dropped. When it has played `loops` times
    /// (or is stopped), the runtime reports [`MediaEvent::PlayDone`] with `tag`.
    Play {
        /// The call.
        call: MediaCall,
        /// Who hears it.
        leg: Leg,
        /// What to play.
        prompt: PromptRef,
        /// The RTP payload type to send: 0 (PCMU) or 8 (PCMA), as negotiated on that leg.
        payload_type: u8,
        /// How many times to play it back to back (at least 1).
        loops: u32,
        /// Echoed in [`MediaEvent::PlayDone`].
        tag: u32,
    },
    /// Stop what plays to `leg` and drop its queue (each stopped play still reports `PlayDone`).
    StopPlay {
        /// The call.
        call: MediaCall,
        /// The leg.
        leg: Leg,
    },
    /// Detect DTMF in the RTP `leg`'s party sends and report [`MediaEvent::Digit`]s.
    Detect {
        /// The call.
        call: MediaCall,
        /// The leg.
        leg: Leg,
        /// The RFC 4733 telephone-event payload type negotiated in SDP (`None`: none offered).
        telephone_event: Option<u8>,
        /// Also detect in-band (Goertzel) tones in G.711 audio.
        inband: bool,
    },
    /// Stop detecting DTMF on `leg`.
    StopDetect {
        /// The call.
        call: MediaCall,
        /// The leg.
        leg: Leg,
    },
    /// Start recording both parties of `call` into `object` (an 8 kHz A-law WAV of the app).
    Record {
        /// The call.
        call: MediaCall,
        /// Whose recording it is.
        app: AppId,
        /// The file name (the CDR's `recordObjectName`).
        object: String,
    },
    /// The call ended: drop the relay (no datagram reaches the call any more; the sockets may stay bound,
    /// parked for a later call), then report [`MediaEvent::Closed`] (also for a call the runtime has no relay
    /// for): only then do the call's port pairs return to the pool.
    Close {
        /// The call.
        call: MediaCall,
        /// A recording in progress is kept (written to its file) rather than discarded (a recording
        /// under 3 s keeps no file).
        keep_recording: bool,
    },
}

impl MediaCommand {
    /// The pn-media engine command of a command the runtime only passes on (`Remote`, `Answered`, `StopPlay`,
    /// `Detect`, `StopDetect`); `None` for those it must act on first (`Open`, `Close`, `Play`, `Record`: sockets,
    /// prompt audio, recording files). The runtime and the simulator share this mapping.
    pub fn passed_on(self) -> Option<pn_media::MediaEngineCommand<MediaCall>> {
        use pn_media::MediaEngineCommand as Engine;
        Some(match self {
            MediaCommand::Remote {
                call,
                leg,
                remote,
                direction,
            } => Engine::Remote {
                call,
                leg,
                remote,
                direction,
            },
            MediaCommand::Answered { call } => Engine::Answered { call },
            MediaCommand::StopPlay { call, leg } => Engine::StopPlay { call, leg },
            MediaCommand::Detect {
                call,
                leg,
                telephone_event,
                inband,
            } => Engine::Detect {
                call,
                leg,
                telephone_event,
                inband,
            },
            MediaCommand::StopDetect { call, leg } => Engine::StopDetect { call, leg },
            MediaCommand::Open { .. }
            | MediaCommand::Close { .. }
            | MediaCommand::Play { .. }
            | MediaCommand::Record { .. } => return None,
        })
    }
}

impl MediaCommand {
    /// The call the command is about.
    pub fn call(&self) -> MediaCall {
        match self {
            MediaCommand::Open { call, .. }
            | MediaCommand::Remote { call, .. }
            | MediaCommand::Answered { call }
            | MediaCommand::Play { call, .. }
            | MediaCommand::StopPlay { call, .. }
            | MediaCommand::Detect { call, .. }
            | MediaCommand::StopDetect { call, .. }
            | MediaCommand::Record { call, .. }
            | MediaCommand::Close { call, .. } => *call,
        }
    }
}

/// What the runtime's relay reports back ([`B2bua::handle_media_event`](crate::B2bua::handle_media_event)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaEvent {
    /// No RTP from `leg`'s party for the configured time.
    Timeout {
        /// The call.
        call: MediaCall,
        /// The silent party.
        leg: Leg,
    },
    /// A DTMF digit detected in `leg`'s RTP (RFC 4733 or in-band), once per key press.
    Digit {
        /// The call.
        call: MediaCall,
        /// The leg it came from.
        leg: Leg,
        /// `0`–`9`, `*`, `#`, `A`–`D`.
        digit: char,
    },
    /// The sockets of [`MediaCommand::Open`] could not be bound: the call cannot have media and is released
    /// with 7508 (503 before answer). No datagram reaches the call (a pair that did bind stays parked for a
    /// later call; nothing of a pair that failed stays bound).
    OpenFailed {
        /// The call.
        call: MediaCall,
        /// The pairs with a port held outside the pool (the bind found the address in use): set aside when
        /// they come back, so the next calls get other pairs.
        unbindable: [Option<PortPair>; 2],
    },
    /// The relay of a call named by [`MediaCommand::Close`] is gone (nothing more is delivered to the call):
    /// its port pairs go back to the pool, to rest before they are handed out again.
    Closed {
        /// The call.
        call: MediaCall,
    },
    /// A [`MediaCommand::Play`] finished (played out, stopped, or the prompt could not be found).
    PlayDone {
        /// The call.
        call: MediaCall,
        /// The leg.
        leg: Leg,
        /// The command's tag.
        tag: u32,
    },
}

/// Relay-mode state of a shard.
#[derive(Debug)]
pub(crate) struct MediaPlane {
    pub public_ip: String,
    pub ports: PortAllocator,
    /// The pairs of ended calls whose relay the runtime is closing: back to `ports` on
    /// [`MediaEvent::Closed`].
    pub closing: HashMap<Id, [PortPair; 2]>,
    /// Pairs the runtime could not bind: set aside rather than freed when they come back.
    pub unbindable: HashSet<PortPair>,
}

impl MediaPlane {
    /// The runtime closed the relay of `id` at `now`: its pairs go back to the pool (to rest, or set aside).
    pub(crate) fn closed(&mut self, id: Id, now: std::time::Instant) {
        let Some(pairs) = self.closing.remove(&id) else {
            return;
        };
        for pair in pairs {
            if self.unbindable.remove(&pair) {
                self.ports.set_aside(pair);
            } else {
                self.ports.release(pair, now);
            }
        }
    }
}

impl From<Leg> for Side {
    fn from(leg: Leg) -> Self {
        match leg {
            Leg::A => Side::A,
            Leg::B => Side::B,
        }
    }
}

impl From<Side> for Leg {
    fn from(side: Side) -> Self {
        match side {
            Side::A => Leg::A,
            Side::B => Leg::B,
        }
    }
}
