//! Following a shared store's change feed: every node's routing table applies every committed change of
//! routing state (bindings, temporary callees, callback records, apps, numbers), its own and other nodes',
//! in commit order, on the engine thread (the table's only writer).
//!
//! With a shared store the engine does not apply its own effects to the table after a commit unless its
//! commit directly follows the last one applied: it reads the feed up to (at least) its own commit and
//! applies that, then answers. Applying every change in commit
//! order, each with the row before and after, keeps the table exact even when two nodes change the same
//! binding one after the other; an engine that applied its own effects at once could apply them before an
//! earlier change of another node it had not read yet. An acknowledged write is therefore routable on the
//! node that made it, and on the others once their feed reader wakes (`LISTEN`, or the poll every
//! [`FEED_POLL`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use pn_store::{Change, Store, StoreError};

use super::{Effect, Engine, EngineHandle};

/// How long the follower waits for a notification before it polls anyway.
pub const FEED_POLL: Duration = Duration::from_secs(1);

/// Commits read per query.
const FEED_PAGE: u32 = 512;

/// Where an engine's table is in the feed, shared with its handle.
#[derive(Debug, Default)]
pub struct FeedState {
    /// The last commit applied to the table.
    applied: AtomicU64,
    /// The last read reached the feed's end, with no gap.
    caught_up: AtomicBool,
    /// The table must be brought to a fresh snapshot before the feed is followed: the feed no longer holds the
    /// commits after `applied` (the node was behind more than the retention), a resync failed, or the table
    /// was never loaded ([`super::Provisioner::start_unloaded`]).
    behind: AtomicBool,
    /// The table was loaded at least once (a resync before that is the start-up load, not counted).
    loaded: AtomicBool,
    /// A poll is queued on the engine (coalesces wake-ups).
    poll_queued: AtomicBool,
}

impl FeedState {
    /// The last commit applied to the table.
    pub fn applied(&self) -> u64 {
        self.applied.load(Ordering::Acquire)
    }

    /// Whether the table has caught up with the feed and can be routed on.
    pub fn caught_up(&self) -> bool {
        self.caught_up.load(Ordering::Acquire) && !self.behind.load(Ordering::Acquire)
    }
}

/// The engine's position in the feed.
pub(super) struct FeedCursor {
    /// Shared with the handle.
    pub(super) state: Arc<FeedState>,
}

impl FeedCursor {
    /// A cursor whose table holds every commit up to `applied`.
    pub(super) fn at(applied: u64) -> Self {
        let state = FeedState::default();
        state.applied.store(applied, Ordering::Release);
        state.loaded.store(true, Ordering::Release);
        Self {
            state: Arc::new(state),
        }
    }

    /// A cursor whose table is still empty: the engine loads it from a snapshot before it follows the feed.
    pub(super) fn unloaded() -> Self {
        let state = FeedState::default();
        state.behind.store(true, Ordering::Release);
        Self {
            state: Arc::new(state),
        }
    }
}

impl Engine {
    /// Lets the next wake-up queue a poll again.
    pub(super) fn clear_poll_queued(&self) {
        if let Some(cursor) = &self.feed {
            cursor.state.poll_queued.store(false, Ordering::Release);
        }
    }

    /// Reads and applies every commit after the cursor, in order, until the feed's end. No-op without a feed.
    pub(super) fn follow_feed(&mut self) {
        let Some(state) = self.feed.as_ref().map(|c| Arc::clone(&c.state)) else {
            return;
        };
        state.poll_queued.store(false, Ordering::Release);
        if let Err(e) = self.catch_up(&state) {
            tracing::warn!(error = %e, applied = state.applied(), "reading the change feed failed");
        }
    }

    /// Whether the table has applied every commit up to `head` (and is not waiting for a resync).
    pub(super) fn table_has_applied(&self, head: u64) -> bool {
        self.feed
            .as_ref()
            .is_some_and(|c| !c.state.behind.load(Ordering::Acquire) && c.state.applied() >= head)
    }

    /// When `seq` (this engine's commit) directly follows the last commit applied, moves the cursor to it
    /// and answers true: the caller applies the commit's own effects (the same rows the feed would bring
    /// back, with nothing of another node's between). False without a feed, or when other commits came
    /// between (then the feed is read).
    pub(super) fn take_own_commit(&self, seq: u64) -> bool {
        let Some(state) = self.feed.as_ref().map(|c| &c.state) else {
            return false;
        };
        if state.behind.load(Ordering::Acquire) || state.applied() + 1 != seq {
            return false;
        }
        state.applied.store(seq, Ordering::Release);
        self.metrics.feed.applied.set(gauge(seq));
        true
    }

    fn catch_up(&self, state: &FeedState) -> Result<(), StoreError> {
        let mut applied = state.applied();
        if state.behind.load(Ordering::Acquire) {
            // Not loaded yet, or an earlier resync failed.
            applied = self.resync_from_snapshot(state, applied)?;
        }
        loop {
            let page = self.store.reader()?.feed_after(applied, FEED_PAGE)?;
            let mut end = page.len() < FEED_PAGE as usize;
            for commit in page {
                if commit.seq != applied + 1 {
                    // The feed was pruned past this node's position: a fresh snapshot, then on from its head.
                    applied = self.fall_behind_and_resync(state, applied, commit.seq)?;
                    end = false;
                    break;
                }
                for change in commit.changes {
                    self.apply_change(change);
                }
                applied = commit.seq;
                state.applied.store(applied, Ordering::Release);
                self.metrics.feed.applied.set(gauge(applied));
            }
            if end {
                self.metrics.feed.head.set(gauge(applied));
                state.caught_up.store(true, Ordering::Release);
                self.metrics.feed.caught_up.set(1);
                return Ok(());
            }
        }
    }

    /// The feed no longer holds commit `applied + 1` (its next is `next`): the node is not ready (new calls
    /// refused, `/readyz` false) while its table is brought to a fresh snapshot in place
    /// ([`Engine::resync`]); answers the snapshot's head, from which the feed is followed. A failed resync
    /// leaves the node behind: the next poll tries again.
    fn fall_behind_and_resync(&self, state: &FeedState, applied: u64, next: u64) -> Result<u64, StoreError> {
        state.behind.store(true, Ordering::Release);
        state.caught_up.store(false, Ordering::Release);
        self.metrics.feed.caught_up.set(0);
        tracing::warn!(
            applied,
            next,
            "the change feed no longer holds the commits this node needs: not ready; resyncing the routing \
             table from a fresh snapshot"
        );
        self.resync_from_snapshot(state, applied)
    }

    /// Brings the table to a fresh snapshot ([`Engine::resync`]) and answers its feed head; counts and logs
    /// it (the first load of a table started empty is logged as a load, not counted).
    fn resync_from_snapshot(&self, state: &FeedState, applied: u64) -> Result<u64, StoreError> {
        let started = std::time::Instant::now();
        let done = self.resync().inspect_err(|e| {
            tracing::error!(error = %e, applied, "resyncing the routing table failed; retrying at the next poll");
        })?;
        state.applied.store(done.head, Ordering::Release);
        state.behind.store(false, Ordering::Release);
        self.metrics.feed.applied.set(gauge(done.head));
        if !state.loaded.swap(true, Ordering::AcqRel) {
            tracing::info!(
                head = done.head,
                bindings = done.bindings,
                millis = started.elapsed().as_millis(),
                "routing table loaded from a snapshot; following the change feed from its head"
            );
            return Ok(done.head);
        }
        self.metrics.feed.resyncs.inc();
        tracing::warn!(
            from = applied,
            to = done.head,
            bindings = done.bindings,
            routes_removed = done.routes_removed,
            others_removed = done.others_removed,
            millis = started.elapsed().as_millis(),
            "routing table resynced from a snapshot; following the change feed from its head"
        );
        Ok(done.head)
    }

    /// Applies one committed change to the table (through the same [`Engine::apply`] as a node's own
    /// effects without a feed).
    fn apply_change(&self, change: Change) {
        match change {
            Change::Binding {
                old: None,
                new: Some(b),
            } => self.apply(&Effect::Insert(b)),
            Change::Binding {
                old: Some(o),
                new: Some(b),
            } => self.apply(&Effect::Replace(Box::new((o, b)))),
            Change::Binding {
                old: Some(o),
                new: None,
            } => self.apply(&Effect::Remove(o)),
            Change::TempCallee { new: Some(t), .. } => self.apply(&Effect::TempCallee(t)),
            Change::TempCallee {
                old: Some(t),
                new: None,
            } => self.table.clear_temp_callee(t.x),
            Change::Callback { new: Some(c), .. } => self.apply(&Effect::Callback(c)),
            Change::App { new: Some(a), .. } => self.apply(&Effect::App(a)),
            Change::Number { new: Some(n), .. } => self.apply(&Effect::Number(n)),
            Change::Number {
                old: Some(n),
                new: None,
            } => self.apply(&Effect::RemoveNumber(n.number)),
            // A callback record goes with its binding (routing checks the binding); an app row is only
            // deleted when another row takes its key, whose insert is applied.
            Change::Callback { new: None, .. }
            | Change::App { new: None, .. }
            | Change::Binding { old: None, new: None }
            | Change::TempCallee { old: None, new: None }
            | Change::Number { old: None, new: None } => {}
        }
    }
}

/// A feed position as a gauge value.
fn gauge(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

impl EngineHandle {
    /// Asks the engine to read the change feed (coalesced: one queued poll at a time). No-op without a feed.
    pub fn poll_feed(&self) {
        let Some(feed) = &self.feed else { return };
        if feed.poll_queued.swap(true, Ordering::AcqRel) {
            return;
        }
        // Nobody waits for the answer.
        drop(self.enqueue_reply(super::Op::FeedPoll));
    }

    /// Whether the routing table can be routed on: always without a feed; with one, once it has caught up
    /// (and while the feed still holds what it needs).
    pub fn feed_caught_up(&self) -> bool {
        self.feed.as_ref().is_none_or(|f| f.caught_up())
    }

    /// The feed position, when the store has a feed.
    pub fn feed_state(&self) -> Option<&Arc<FeedState>> {
        self.feed.as_ref()
    }
}

/// Starts the thread that wakes the engine when another node commits (`LISTEN`) and at least every
/// [`FEED_POLL`]; `None` for a store without a change feed. It ends when the engine stops.
pub fn spawn_feed_follower(
    store: Arc<dyn Store>,
    handle: EngineHandle,
) -> std::io::Result<Option<std::thread::JoinHandle<()>>> {
    if handle.feed.is_none() {
        return Ok(None);
    }
    std::thread::Builder::new()
        .name("pn-feed".into())
        .spawn(move || follow(store.as_ref(), &handle))
        .map(Some)
}

fn follow(store: &dyn Store, handle: &EngineHandle) {
    let mut waiter = None;
    while handle.is_running() {
        if waiter.is_none() {
            match store.feed_waiter() {
                Ok(w) => waiter = w,
                Err(e) => tracing::warn!(error = %e, "listening to the change feed failed; polling"),
            }
        }
        match waiter.as_mut() {
            Some(w) => {
                if let Err(e) = w.wait(FEED_POLL) {
                    tracing::warn!(error = %e, "the change feed's listener failed; reconnecting");
                    waiter = None;
                    std::thread::sleep(FEED_POLL);
                }
            }
            None => std::thread::sleep(FEED_POLL),
        }
        handle.poll_feed();
    }
}
