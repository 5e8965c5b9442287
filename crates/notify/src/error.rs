//! The crate's one error type.

use crate::entry::{EntryId, PushId};

/// What the notifier refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NotifyError {
    /// The notifier already holds [`crate::NotifyConfig::max_entries`] entries: the driver keeps the entry in
    /// the store and offers it again once pushes have completed.
    #[error("the notifier holds its cap of {cap} entries: entry {id} stays in the store for later")]
    Full {
        /// The first entry refused.
        id: EntryId,
        /// The cap.
        cap: usize,
    },
    /// The entry is already held (queued or in flight): it must not be offered twice.
    #[error("entry {0} is already queued or in flight")]
    Duplicate(EntryId),
    /// The entry's body is not what its kind needs (not a JSON object, or a call event without
    /// `eventType`/`statusInfo`): it can never be pushed; the driver dead-letters it.
    #[error("entry {id} cannot be pushed: {reason}")]
    InvalidBody {
        /// The entry.
        id: EntryId,
        /// What is wrong with it.
        reason: String,
    },
    /// A result for a push that is not in flight (already reported, or never made).
    #[error("push {0} is not in flight")]
    UnknownPush(PushId),
    /// A configuration value out of range.
    #[error("notify configuration: {0}")]
    Config(&'static str),
}
