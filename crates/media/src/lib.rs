//! pn-media: the media plane's sans-IO core — RTP/RTCP parsing, the per-call relay, DTMF detection, G.711 and WAV,
//! and [`MediaEngine`], which drives one shard's calls with them.
//!
//! I/O contract: sans-IO. Nothing here reads the clock, owns a socket, sleeps or spawns. Time enters as
//! `now: Instant` arguments; packets enter as borrowed byte slices and leave as borrowed byte slices (the relay
//! forwards the very bytes it was handed, with a destination address and the local port to send from).
//! Ports are handed out by [`PortAllocator`] as numbers; the runtime binds the sockets. Each stateful core
//! follows the house shape: `handle_*(now, …)`, then drain `poll_*()` until it returns the next deadline
//! (see [`RelaySession::poll_output`], [`MediaEngine::poll_output`]). Every parser returns [`MediaError`]
//! values on bad input; nothing panics on network input.
//!
//! Modules:
//! - [`rtp`]: RTP (RFC 3550) header view, RTCP compound walk, RFC 5761 RTP/RTCP demux.
//! - [`relay`]: port-pair allocation and the two-leg relay session with symmetric latching and dead-media detection.
//! - [`engine`]: [`MediaEngine`], one shard's calls: relay, per-leg prompt queues with muting and a continuous
//!   RTP stream, DTMF detection, recording flushes, all timers in one deadline heap. Commands, packets and
//!   timeouts in; datagrams to send, events (digits, prompts done, dead media, recording audio) and the next
//!   deadline out. The runtime keeps the sockets, prompt files and recording files.
//! - [`dtmf`]: RFC 4733 telephone-events, SIP INFO bodies, in-band Goertzel detection for G.711.
//! - [`detector`]: one leg's DTMF from its RTP, RFC 4733 and in-band combined (a key sent both ways counts once).
//! - [`player`]: prompt playback, G.711 audio out as a paced 20 ms RTP stream (transcoding, loops, catch-up).
//! - [`recorder`]: call recording, both parties placed by RTP timestamp, mixed (and per party) as A-law.
//! - [`g711`]: ITU-T G.711 A-law and µ-law encode/decode.
//! - [`prompts`]: the shipped default prompts (spoken, A-law WAV).
//! - [`wav`]: 8 kHz mono A-law/µ-law WAV reading (with prompt validation) and writing.

pub mod detector;
pub mod dtmf;
pub mod engine;
pub mod error;
pub mod g711;
pub mod player;
pub mod prompts;
pub mod recorder;
pub mod relay;
pub mod rtp;
pub mod wav;

pub use detector::DigitDetector;
pub use dtmf::{
    DtmfDigit, InbandConfig, InbandDetector, InfoDtmf, Rfc4733Detector, TelephoneEvent, parse_info_body,
};
pub use engine::{
    Command as MediaEngineCommand, EngineConfig, EngineCounts, Event as MediaEngineEvent, MediaEngine,
    Output as MediaEngineOutput, PromptAudio, Transmit,
};
pub use error::MediaError;
pub use g711::G711Law;
pub use player::PromptPlayer;
pub use recorder::{RecordChunk, Recorder, RecorderConfig};
pub use relay::{
    Channel, DEFAULT_PORT_IDLE, DEFAULT_PORT_REST, DEFAULT_STALE_FOR, DropReason, Forward, Leg,
    MediaDirection, OwnPorts, PortAllocator, PortPair, RelayConfig, RelayEvent, RelayOutcome, RelayOutput,
    RelaySession, RemoteMedia, SourcePolicy, StaleSource, StreamCounters,
};
pub use rtp::{RtcpCompound, RtcpPacket, RtcpType, RtpHeader, RtpPacket, is_rtcp};
pub use wav::{WavAudio, parse_prompt, parse_wav, write_wav};
