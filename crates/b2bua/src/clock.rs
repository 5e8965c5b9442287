//! [`Clock`]: the time of one input, passed down to everything that stamps or schedules.

use std::time::Instant;

use pn_bindings::UnixTime;

/// The time of one input: monotonic for timers, wall-clock for call facts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    pub now: Instant,
    pub wall: UnixTime,
}
