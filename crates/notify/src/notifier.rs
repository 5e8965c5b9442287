//! The notifier: per-app queues, order keys, the retry schedule, CDR merging and dead letters.
//!
//! Each app has its own queue and its own in-flight limit
//! ([`NotifyConfig::max_in_flight_per_app`]), so a slow or dead receiver only ever occupies its own app's
//! slots. Within an app, entries that may go now are pushed oldest first. Entries with an order key form a
//! chain: only the chain's head may be queued or in flight, the next one only once the head was delivered
//! or dead-lettered (a call's events arrive in order, a retried event holds back the events after it).
//! CDRs that may go are merged, at most [`NotifyConfig::cdr_batch_max`] per push; a new CDR waits up to
//! [`NotifyConfig::cdr_batch_wait_ms`] for companions.
//!
//! Work happens lazily in [`Notifier::poll_output`]: entries enqueued one by one before a drain are merged
//! as if they had come together.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

use pn_bindings::AppId;

use crate::body;
use crate::config::NotifyConfig;
use crate::entry::{Entry, EntryId, Output, Push, PushId, PushKind, PushOutcome};
use crate::error::NotifyError;

/// A queue position: when it may go (or must go, for a new CDR), then arrival order.
type Slot = (Instant, u64, EntryId);

/// The sans-IO delivery core (see the crate docs for the driver's side).
#[derive(Debug)]
pub struct Notifier {
    retry_schedule: Vec<Duration>,
    max_in_flight: usize,
    cdr_batch_max: usize,
    cdr_batch_wait: Duration,
    max_entries: usize,
    /// Every entry queued, waiting in a chain, or in flight.
    held: HashMap<EntryId, Held>,
    apps: HashMap<AppId, AppQueue>,
    pushes: HashMap<PushId, InFlight>,
    next_push: u64,
    next_seq: u64,
    /// When an app needs another look, earliest first (one per app: [`AppQueue::wake`]).
    wakes: BTreeSet<(Instant, AppId)>,
    /// Apps whose queues changed since the last drain.
    dirty: BTreeSet<AppId>,
    /// The latest `now` given.
    now: Option<Instant>,
    outputs: VecDeque<Output>,
    /// Whether this drain has already returned its `Timeout`.
    timeout_given: bool,
}

/// An entry and where it stands.
#[derive(Debug)]
struct Held {
    entry: Entry,
    /// Arrival order (ties between equal times).
    seq: u64,
    /// When it may go: its arrival (clamped to the enqueue's `now`), or its next retry.
    ready_at: Instant,
    failures: usize,
    first_failure: Option<Instant>,
}

/// One app's queue.
#[derive(Debug, Default)]
struct AppQueue {
    in_flight: usize,
    /// Call events, SMS and status notifications that may go at their time, one push each.
    singles: BTreeSet<Slot>,
    /// New CDRs, keyed by the latest time they may wait until (arrival + batch wait); they may join a
    /// batch at any time.
    cdrs_new: BTreeSet<Slot>,
    /// Retried CDRs, keyed by their retry time; they may go (alone or in a batch) from then on.
    cdrs_retry: BTreeSet<Slot>,
    /// Order-key chains: the head is queued or in flight, the rest wait behind it.
    chains: HashMap<String, VecDeque<EntryId>>,
    /// The app's entry in [`Notifier::wakes`].
    wake: Option<Instant>,
}

impl AppQueue {
    fn is_idle(&self) -> bool {
        self.in_flight == 0
            && self.singles.is_empty()
            && self.cdrs_new.is_empty()
            && self.cdrs_retry.is_empty()
            && self.chains.is_empty()
    }
}

/// A push awaiting its result.
#[derive(Debug)]
struct InFlight {
    app: AppId,
    entries: Vec<EntryId>,
}

impl Notifier {
    /// A notifier with no entries.
    pub fn new(config: &NotifyConfig) -> Result<Self, NotifyError> {
        config.validate()?;
        Ok(Self {
            retry_schedule: config.retry_schedule(),
            max_in_flight: config.max_in_flight_per_app,
            cdr_batch_max: config.cdr_batch_max,
            cdr_batch_wait: Duration::from_millis(config.cdr_batch_wait_ms),
            max_entries: config.max_entries,
            held: HashMap::new(),
            apps: HashMap::new(),
            pushes: HashMap::new(),
            next_push: 0,
            next_seq: 0,
            wakes: BTreeSet::new(),
            dirty: BTreeSet::new(),
            now: None,
            outputs: VecDeque::new(),
            timeout_given: false,
        })
    }

    /// Entries held (queued, waiting behind their order key, or in flight): what counts against the cap.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// Pushes in flight (all apps).
    pub fn in_flight(&self) -> usize {
        self.pushes.len()
    }

    /// Takes a new entry. Refused, and not held, when its body cannot be pushed, its id is already held, or
    /// the cap is reached ([`NotifyError::Full`]: keep it in the store and offer it again later).
    pub fn enqueue(&mut self, now: Instant, entry: Entry) -> Result<(), NotifyError> {
        self.input(now);
        self.admit(&entry, 1)?;
        let ready_at = entry.enqueued_at.min(now);
        self.insert(entry, ready_at);
        Ok(())
    }

    /// Takes dead letters back on an operator's request, all or none: each starts afresh (a full retry
    /// schedule), queued behind what its app already holds for the same order key.
    pub fn replay(&mut self, now: Instant, entries: Vec<Entry>) -> Result<(), NotifyError> {
        self.input(now);
        for (i, entry) in entries.iter().enumerate() {
            self.admit(entry, entries.len())?;
            if entries[..i].iter().any(|e| e.id == entry.id) {
                return Err(NotifyError::Duplicate(entry.id));
            }
        }
        for entry in entries {
            self.insert(entry, now);
        }
        Ok(())
    }

    /// Reports how push `id` ended. A 2xx delivers all its entries; a failure puts each back on its
    /// own retry schedule, or dead-letters those whose last retry it was.
    #[allow(clippy::needless_pass_by_value)] // the driver hands its outcome over; the reason is for its log
    pub fn handle_result(
        &mut self,
        now: Instant,
        id: PushId,
        outcome: PushOutcome,
    ) -> Result<(), NotifyError> {
        self.input(now);
        let push = self.pushes.remove(&id).ok_or(NotifyError::UnknownPush(id))?;
        if let Some(app) = self.apps.get_mut(&push.app) {
            app.in_flight -= 1;
        }
        self.dirty.insert(push.app);
        match outcome {
            PushOutcome::Delivered => {
                for &entry in &push.entries {
                    self.finish(entry);
                }
                self.outputs.push_back(Output::Delivered(push.entries));
            }
            PushOutcome::Failed { .. } => {
                let mut dead = Vec::new();
                for entry in push.entries {
                    if self.retry(now, entry) {
                        dead.push(entry);
                    }
                }
                if !dead.is_empty() {
                    self.outputs.push_back(Output::DeadLettered(dead));
                }
            }
        }
        Ok(())
    }

    /// The deadline given by the last [`Output::Timeout`] (or a later time) has come. (Any input moves the
    /// clock: what is due by its `now` is done in the next drain.)
    pub fn handle_timeout(&mut self, now: Instant) {
        self.input(now);
    }

    /// The next thing to do; drain after every input. [`Output::Timeout`] is the last output of a drain
    /// (after it, `None` until the next input); `None` without it: nothing is due until the next input.
    pub fn poll_output(&mut self) -> Option<Output> {
        if let Some(now) = self.now {
            self.wake_due(now);
            while let Some(app) = self.dirty.pop_first() {
                self.dispatch(now, app);
            }
        }
        if let Some(output) = self.outputs.pop_front() {
            return Some(output);
        }
        if self.timeout_given {
            return None;
        }
        self.timeout_given = true;
        self.wakes.first().map(|&(at, _)| Output::Timeout(at))
    }

    /// Marks the apps whose wake time has come (whichever input brought `now` there).
    fn wake_due(&mut self, now: Instant) {
        while let Some(&(at, app)) = self.wakes.first() {
            if at > now {
                break;
            }
            self.wakes.remove(&(at, app));
            if let Some(queue) = self.apps.get_mut(&app) {
                queue.wake = None;
            }
            self.dirty.insert(app);
        }
    }

    fn input(&mut self, now: Instant) {
        self.now = Some(self.now.map_or(now, |last| last.max(now)));
        self.timeout_given = false;
    }

    /// Whether `entry` may be taken when `incoming` entries arrive together.
    fn admit(&self, entry: &Entry, incoming: usize) -> Result<(), NotifyError> {
        if let Some(reason) = body::check(entry.kind, &entry.body) {
            return Err(NotifyError::InvalidBody { id: entry.id, reason });
        }
        if self.held.contains_key(&entry.id) {
            return Err(NotifyError::Duplicate(entry.id));
        }
        if self.held.len() + incoming > self.max_entries {
            return Err(NotifyError::Full {
                id: entry.id,
                cap: self.max_entries,
            });
        }
        Ok(())
    }

    /// Holds an admitted entry, queued at `ready_at` unless it waits behind its order key.
    fn insert(&mut self, entry: Entry, ready_at: Instant) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let app = self.apps.entry(entry.app).or_default();
        let first_in_line = match &entry.order_key {
            Some(key) => {
                let chain = app.chains.entry(key.clone()).or_default();
                chain.push_back(entry.id);
                chain.len() == 1
            }
            None => true,
        };
        let held = Held {
            entry,
            seq,
            ready_at,
            failures: 0,
            first_failure: None,
        };
        if first_in_line {
            queue(app, &held, self.cdr_batch_wait);
        }
        self.dirty.insert(held.entry.app);
        self.held.insert(held.entry.id, held);
    }

    /// Counts a failure of `id`: queues its next retry, or drops it when that was its last (returns `true`:
    /// dead-lettered).
    fn retry(&mut self, now: Instant, id: EntryId) -> bool {
        let Some(held) = self.held.get_mut(&id) else {
            return false;
        };
        held.failures += 1;
        let first = *held.first_failure.get_or_insert(now);
        let Some(offset) = self.retry_schedule.get(held.failures - 1) else {
            self.finish(id);
            return true;
        };
        held.ready_at = (first + *offset).max(now);
        if let Some(app) = self.apps.get_mut(&held.entry.app) {
            queue(app, held, self.cdr_batch_wait);
        }
        false
    }

    /// Lets go of `id` (delivered or dead) and queues the next entry of its order key.
    fn finish(&mut self, id: EntryId) {
        let Some(held) = self.held.remove(&id) else {
            return;
        };
        let app_id = held.entry.app;
        let Some(app) = self.apps.get_mut(&app_id) else {
            return;
        };
        if let Some(key) = &held.entry.order_key {
            if let Some(chain) = app.chains.get_mut(key.as_str()) {
                chain.retain(|&e| e != id);
                match chain.front() {
                    None => {
                        app.chains.remove(key.as_str());
                    }
                    Some(next) => {
                        if let Some(next) = self.held.get(next) {
                            queue(app, next, self.cdr_batch_wait);
                        }
                    }
                }
            }
        }
        self.dirty.insert(app_id);
    }

    /// Starts what `app` may push now, then sets its next wake.
    fn dispatch(&mut self, now: Instant, app_id: AppId) {
        let Some(app) = self.apps.get_mut(&app_id) else {
            return;
        };
        if let Some(at) = app.wake.take() {
            self.wakes.remove(&(at, app_id));
        }
        while app.in_flight < self.max_in_flight {
            let single = app.singles.first().copied().filter(|s| s.0 <= now);
            let cdr = cdr_batch_due(app, now, self.cdr_batch_max);
            let (kind, entries) = match (single, cdr) {
                (Some(s), Some(c)) if c < s => (PushKind::Cdr, take_cdrs(app, now, self.cdr_batch_max)),
                (Some(s), _) => {
                    app.singles.remove(&s);
                    let kind = self.held.get(&s.2).map_or(PushKind::CallEvent, |h| h.entry.kind);
                    (kind, vec![s.2])
                }
                (None, Some(_)) => (PushKind::Cdr, take_cdrs(app, now, self.cdr_batch_max)),
                (None, None) => break,
            };
            let body = match kind {
                PushKind::Cdr => body::fee_list(
                    entries
                        .iter()
                        .filter_map(|id| self.held.get(id))
                        .map(|h| &*h.entry.body),
                ),
                _ => entries
                    .first()
                    .and_then(|id| self.held.get(id))
                    .map_or_else(String::new, |h| h.entry.body.to_string()),
            };
            let id = PushId(self.next_push);
            self.next_push += 1;
            app.in_flight += 1;
            self.pushes.insert(
                id,
                InFlight {
                    app: app_id,
                    entries: entries.clone(),
                },
            );
            self.outputs.push_back(Output::Push(Push {
                id,
                app: app_id,
                kind,
                entries,
                body,
            }));
        }
        if app.in_flight < self.max_in_flight {
            let wake = [app.singles.first(), app.cdrs_new.first(), app.cdrs_retry.first()]
                .into_iter()
                .flatten()
                .map(|s| s.0)
                .min();
            if let Some(at) = wake {
                app.wake = Some(at);
                self.wakes.insert((at, app_id));
            }
        }
        if app.is_idle() {
            self.apps.remove(&app_id);
        }
    }
}

/// Queues `held` (the head of its chain, or without a key) in its app's queue for its kind.
fn queue(app: &mut AppQueue, held: &Held, batch_wait: Duration) {
    let id = held.entry.id;
    match held.entry.kind {
        PushKind::Cdr if held.failures == 0 => {
            app.cdrs_new.insert((held.ready_at + batch_wait, held.seq, id));
        }
        PushKind::Cdr => {
            app.cdrs_retry.insert((held.ready_at, held.seq, id));
        }
        _ => {
            app.singles.insert((held.ready_at, held.seq, id));
        }
    }
}

/// When a CDR batch of `app` is due now, the slot that makes it due (to order it against the singles).
fn cdr_batch_due(app: &AppQueue, now: Instant, max: usize) -> Option<Slot> {
    let retry = app.cdrs_retry.first().copied().filter(|s| s.0 <= now);
    let new = app.cdrs_new.first().copied();
    if let Some(r) = retry {
        return Some(r);
    }
    let new = new?;
    if new.0 <= now || app.cdrs_new.len() >= max {
        return Some(new);
    }
    None
}

/// Takes up to `max` CDRs that may go now: due retries first, then new ones, each oldest first.
fn take_cdrs(app: &mut AppQueue, now: Instant, max: usize) -> Vec<EntryId> {
    let mut taken = Vec::new();
    while taken.len() < max {
        match app.cdrs_retry.first().copied() {
            Some(s) if s.0 <= now => {
                app.cdrs_retry.remove(&s);
                taken.push(s.2);
            }
            _ => break,
        }
    }
    while taken.len() < max {
        match app.cdrs_new.pop_first() {
            Some(s) => taken.push(s.2),
            None => break,
        }
    }
    taken
}

#[cfg(test)]
mod tests;
