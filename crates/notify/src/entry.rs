//! The values that cross the core's boundary: entries in, pushes and reports out.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use pn_bindings::AppId;

/// An outbox row's id (pn-store's `OutboxEntry::id`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntryId(pub u64);

impl fmt::Display for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// What an entry is, which selects the app's URL and the push's body.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PushKind {
    /// A call event (reference §3), to the app's call-status URL; pushed as stored.
    CallEvent,
    /// A CDR (`FeeInfo`, reference §4), to the app's CDR URL; merged into `{"eventType":"fee","feeLst":[…]}`.
    Cdr,
    /// An SMS notification (reference §7.1), to the app's SMS URL; pushed as stored.
    Sms,
    /// An X-number status notification (reference §7.2), to the app's status URL; pushed as stored.
    NumStatus,
}

/// One undelivered outbox row, as the driver hands it in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The outbox row id.
    pub id: EntryId,
    /// The app whose URL receives it.
    pub app: AppId,
    /// Its kind.
    pub kind: PushKind,
    /// Entries of one app with the same key are delivered one at a time, in the order they were enqueued
    /// (a call's `sessionId`: the events of one call arrive in order). `None`: no order constraint.
    pub order_key: Option<String>,
    /// The entry's JSON as stored in the outbox.
    pub body: Arc<str>,
    /// When it was stored (a CDR waits for companions from then on; older entries go first).
    pub enqueued_at: Instant,
}

/// A push's id, unique within one [`crate::Notifier`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PushId(pub u64);

impl fmt::Display for PushId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// One HTTP POST for the driver to make.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Push {
    /// Report its result under this id.
    pub id: PushId,
    /// The app (whose secret signs it).
    pub app: AppId,
    /// Its kind (which of the app's URLs).
    pub kind: PushKind,
    /// The entries it carries (one, or up to `cdr_batch_max` CDRs).
    pub entries: Vec<EntryId>,
    /// The JSON body to POST.
    pub body: String,
}

/// How a push ended, as the driver saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PushOutcome {
    /// The receiver answered 2xx.
    Delivered,
    /// Anything else: a non-2xx status, a timeout, a connect error.
    Failed {
        /// For the driver's log (the core does not act on it).
        reason: String,
    },
}

/// What the driver must do next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// POST this.
    Push(Push),
    /// These entries were acknowledged (2xx): mark them delivered in the store.
    Delivered(Vec<EntryId>),
    /// These entries' last retry failed: mark them dead letters in the store (an operator may replay them).
    DeadLettered(Vec<EntryId>),
    /// The next deadline: call [`crate::Notifier::handle_timeout`] then. Always the last output of a drain.
    Timeout(Instant),
}
