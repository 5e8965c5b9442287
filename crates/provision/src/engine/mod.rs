//! The single writer: every provisioning write runs on one thread, validated against the batch's write
//! transaction and committed in groups (group commit).
//!
//! The thread blocks for the first command, drains up to `max_batch` more without waiting, runs each inside
//! its own savepoint (a failed command is rolled back alone and answered with its code), commits once, and
//! only after the commit succeeds applies the batch's effects to the routing table and answers (acknowledged
//! = committed). If the commit fails, every command of the batch gets 1010001 and the table is untouched.
//! Later commands of a batch see earlier ones because every check reads through the same write transaction.
//! Every batch also commits the API nonces accepted since the previous one ([`crate::nonces`]) and prunes
//! the stored ones that left the replay window, so an acknowledged write's nonce is always durable.
//!
//! [`EngineHandle`] has one typed method per write (`axb_bind`, `ax_modify`, `create_app`, …): a domain
//! request in, its domain result or a [`ProvisionError`] out.

pub mod admin;
pub mod ax;
pub mod axb;
pub mod axe;
pub mod axyb;
mod cluster;
mod ctx;
mod feed;
mod idle;
mod load;
mod outbox;
mod overlay;
mod resync;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::RwLock;
use pn_bindings::{App, Binding, BindingKind, BindingMedia, BindingTable, CallbackRecord, UnixTime, XNumber};
use pn_metrics::Metrics;
use pn_store::{OutboxPurge, Store, StoreError, WriteTx};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

pub use cluster::{ClusterJobs, spawn_cluster_jobs};
pub(crate) use ctx::{Ctx, Effect, Fail, OpResult, not_found};
pub use ctx::{XSelect, require_mode, status_name};
pub use feed::{FEED_POLL, FeedState, spawn_feed_follower};
pub use load::{LoadStats, load_table};
pub use outbox::{OutboxRetention, OutboxRow, OutboxSignal, spawn_outbox_purger};

use crate::ProvisionError;
use crate::nonces::NonceJournal;
use admin::{CreateApp, ImportNumbers, ImportReport, RetireNumber, Retired, SetNumber, UpdateApp};
use ax::{AxBind, AxBound, AxModify, AxTempCallee, AxUnbind};
use axb::{AxbBind, AxbBound, AxbModify, AxbUnbind};
use axe::{AxeBind, AxeBound, AxeModify, AxeUnbind};
use axyb::{AxybBind, AxybBound, AxybRelation, AxybUnbind};

/// Limits and batching of the write engine.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineConfig {
    /// Most commands committed together (the first one plus those already waiting).
    pub max_batch: usize,
    /// AXB: pairs per X (reference: 5000).
    pub max_pairs_per_x: u32,
    /// AX/AXYB: X numbers per A (reference: 5).
    pub max_x_per_a: u32,
    /// AXYB: relations per Y (reference: 1000).
    pub max_relations_per_y: u32,
    /// Most expired bindings one sweep deletes (and most change-feed commits it forgets).
    pub sweep_limit: u32,
    /// A shared store: how long the change feed keeps a commit (a node stalled or cut off longer than this
    /// can no longer follow: it refuses new calls while it resyncs its table from a fresh snapshot in place).
    pub feed_retention_secs: u32,
    /// After writes, how long the writer waits without another write (housekeeping such as the expiry sweep
    /// does not count) before it gives back the store's page caches (`Store::release_memory`), in ms; 0 =
    /// never.
    pub idle_release_ms: u64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            max_batch: 256,
            max_pairs_per_x: 5000,
            max_x_per_a: 5,
            max_relations_per_y: 1000,
            sweep_limit: 1000,
            feed_retention_secs: 3600,
            idle_release_ms: 10_000,
        }
    }
}

/// One write the engine performs.
#[derive(Debug)]
pub(crate) enum Op {
    /// AXB bind.
    AxbBind(AxbBind),
    /// AXB modify.
    AxbModify(AxbModify),
    /// AXB unbind.
    AxbUnbind(AxbUnbind),
    /// AX bind.
    AxBind(AxBind),
    /// AX modify.
    AxModify(AxModify),
    /// AX unbind.
    AxUnbind(AxUnbind),
    /// AX temporary callee.
    AxTempCallee(AxTempCallee),
    /// AXE bind.
    AxeBind(AxeBind),
    /// AXE modify.
    AxeModify(AxeModify),
    /// AXE unbind.
    AxeUnbind(AxeUnbind),
    /// AXYB first step (A–X, optionally with a first Y–B relation).
    AxybBind(AxybBind),
    /// AXYB second step (a Y–B relation).
    AxybRelation(AxybRelation),
    /// AXYB unbind.
    AxybUnbind(AxybUnbind),
    /// Admin: create an app.
    CreateApp(CreateApp),
    /// Admin: change an app.
    UpdateApp(UpdateApp),
    /// Admin: import numbers.
    ImportNumbers(ImportNumbers),
    /// Admin: change a number's status.
    SetNumber(SetNumber),
    /// Admin: retire a number.
    RetireNumber(RetireNumber),
    /// Delete expired bindings.
    Sweep,
    /// Append call facts (or other notifications) to the outbox: `(kind, app, JSON payload)`.
    AppendOutbox(Arc<[OutboxRow]>),
    /// One step of the outbox retention rule.
    PurgeOutbox(OutboxRetention),
    /// Move outbox entries to a state (delivered, dead, no receiver; pending = replay of dead letters).
    MarkOutbox {
        /// The entries.
        ids: Arc<[u64]>,
        /// Their new state.
        state: pn_store::OutboxState,
    },
    /// Store an AXE callback record made by a connected call.
    PutCallbackRecord(CallbackRecord),
    /// Nothing but a batch: commits the queued API nonces.
    FlushNonces,
    /// Read the change feed of a shared store (another node committed, or the poll interval passed).
    FeedPoll,
}

impl Op {
    /// The engine's own periodic work (the expiry sweep, the outbox purge, nonce flushes, feed polls): not a
    /// write that starts the quiet period before the caches are released ([`idle`]).
    fn is_housekeeping(&self) -> bool {
        matches!(
            self,
            Op::Sweep | Op::PurgeOutbox(_) | Op::FlushNonces | Op::FeedPoll
        )
    }
}

/// The domain result of one write, as the engine thread answers it.
// One reply per command, moved once through its oneshot: boxing the app would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(crate) enum Reply {
    /// Done, nothing to report (unbind, outbox append, callback record, nonce flush).
    Done(()),
    /// A new AXB binding.
    AxbBound(AxbBound),
    /// A new AX binding.
    AxBound(AxBound),
    /// A new AXE binding.
    AxeBound(AxeBound),
    /// A new AXYB binding or relation.
    AxybBound(AxybBound),
    /// A changed binding's `subscriptionId`.
    Modified(String),
    /// A created or changed app.
    App(App),
    /// What an import did.
    Imported(ImportReport),
    /// A changed pool number.
    Number(XNumber),
    /// A retired pool number.
    Retired(Retired),
    /// Expired bindings removed.
    Swept(u64),
    /// What an outbox retention step removed.
    Purged(OutboxPurge),
    /// Outbox rows a mark changed.
    Marked(u64),
}

/// How often one command runs again after contention before it fails with 1010001.
const CONTENTION_RETRIES: u32 = 5;

/// The engine's answer to one command.
type Answer = Result<Reply, ProvisionError>;

struct Command {
    op: Op,
    now: UnixTime,
    reply: oneshot::Sender<Answer>,
}

/// Apps by `app_key`, as last committed (the authenticator's lookup).
type AppDirectory = Arc<RwLock<HashMap<String, App>>>;

/// A handle to the engine thread; clone it freely.
#[derive(Clone)]
pub struct EngineHandle {
    tx: mpsc::UnboundedSender<Command>,
    apps: AppDirectory,
    /// Accepted API nonces waiting for a commit (shared with the authenticator).
    nonces: Arc<NonceJournal>,
    /// Woken after commits that appended or replayed outbox rows.
    outbox_signal: Arc<OutboxSignal>,
    /// The engine's place in a shared store's change feed (`None`: the store is this node's alone).
    feed: Option<Arc<FeedState>>,
    /// The cluster jobs' store and metrics.
    cluster: Arc<cluster::Cluster>,
}

/// One typed [`EngineHandle`] method per write: the op it submits and the reply variant it answers with.
macro_rules! writes {
    ($($(#[$doc:meta])* fn $name:ident($req:ty) -> $out:ty = $op:ident => $reply:ident;)*) => {
        impl EngineHandle {
            $(
                $(#[$doc])*
                pub async fn $name(&self, req: $req, now: UnixTime) -> Result<$out, ProvisionError> {
                    match self.submit(Op::$op(req), now).await? {
                        Reply::$reply(v) => Ok(v),
                        _ => Err(ProvisionError::Internal),
                    }
                }
            )*
        }
    };
}

writes! {
    /// AXB bind: A–X–B, X named or allocated in an area.
    fn axb_bind(AxbBind) -> AxbBound = AxbBind => AxbBound;
    /// AXB modify; answers the binding's `subscriptionId`.
    fn axb_modify(AxbModify) -> String = AxbModify => Modified;
    /// AXB unbind: one binding, or every binding of the app on an X.
    fn axb_unbind(AxbUnbind) -> () = AxbUnbind => Done;
    /// AX bind.
    fn ax_bind(AxBind) -> AxBound = AxBind => AxBound;
    /// AX modify; answers the binding's `subscriptionId`.
    fn ax_modify(AxModify) -> String = AxModify => Modified;
    /// AX unbind.
    fn ax_unbind(AxUnbind) -> () = AxUnbind => Done;
    /// AX temporary callee; answers the binding's `subscriptionId`.
    fn ax_temp_callee(AxTempCallee) -> String = AxTempCallee => Modified;
    /// AXE bind (with extension assignment).
    fn axe_bind(AxeBind) -> AxeBound = AxeBind => AxeBound;
    /// AXE modify; answers the binding's `subscriptionId`.
    fn axe_modify(AxeModify) -> String = AxeModify => Modified;
    /// AXE unbind.
    fn axe_unbind(AxeUnbind) -> () = AxeUnbind => Done;
    /// AXYB first step: A–X, optionally with a first Y–B relation.
    fn axyb_bind(AxybBind) -> AxybBound = AxybBind => AxybBound;
    /// AXYB second step: a Y–B relation under an existing binding.
    fn axyb_relation(AxybRelation) -> AxybBound = AxybRelation => AxybBound;
    /// AXYB unbind: a binding with its relations, some relations, or every AXYB binding on an X.
    fn axyb_unbind(AxybUnbind) -> () = AxybUnbind => Done;
    /// Admin: creates an app (key and secret generated unless given).
    fn create_app(CreateApp) -> App = CreateApp => App;
    /// Admin: changes an app.
    fn update_app(UpdateApp) -> App = UpdateApp => App;
    /// Admin: imports numbers into an app's pool.
    fn import_numbers(ImportNumbers) -> ImportReport = ImportNumbers => Imported;
    /// Admin: changes a pool number's status, area code or province.
    fn set_number(SetNumber) -> XNumber = SetNumber => Number;
    /// Admin: retires a pool number (with `force`, unbinding what uses it).
    fn retire_number(RetireNumber) -> Retired = RetireNumber => Retired;
}

impl EngineHandle {
    /// Runs one write and waits until it is committed (or refused).
    pub(crate) async fn submit(&self, op: Op, now: UnixTime) -> Answer {
        let (reply, rx) = oneshot::channel();
        if self.tx.send(Command { op, now, reply }).is_err() {
            return Err(ProvisionError::Stopped);
        }
        rx.await.unwrap_or(Err(ProvisionError::Stopped))
    }

    /// Deletes up to `sweep_limit` bindings expired at `now` (with their AXYB relations); returns how many.
    pub async fn sweep(&self, now: UnixTime) -> Result<u64, ProvisionError> {
        match self.submit(Op::Sweep, now).await? {
            Reply::Swept(n) => Ok(n),
            _ => Err(ProvisionError::Internal),
        }
    }

    /// The journal of accepted API nonces this engine commits with every batch (the authenticator queues
    /// into it).
    pub fn nonces(&self) -> &Arc<NonceJournal> {
        &self.nonces
    }

    /// Stores the AXE callback record of a connected call (A dialing X then reaches `last_caller`) through the
    /// same group-commit path as provisioning writes: resolves once it is committed and visible in the routing
    /// table, or refused. Refused with 1012007 when the record's binding no longer exists (unbound meanwhile)
    /// or is not the AXE binding of that X and A.
    pub fn put_callback_record(
        &self,
        record: CallbackRecord,
    ) -> impl Future<Output = Result<(), ProvisionError>> + Send + 'static {
        self.enqueue(Op::PutCallbackRecord(record))
    }

    /// Queues `op` now (so commands keep their order even if the future is polled later) and returns a
    /// future that resolves once it is committed or refused.
    fn enqueue(&self, op: Op) -> impl Future<Output = Result<(), ProvisionError>> + Send + 'static {
        let reply = self.enqueue_reply(op);
        async move { reply.await.map(|_| ()) }
    }

    /// [`EngineHandle::enqueue`] answering the command's reply.
    fn enqueue_reply(&self, op: Op) -> impl Future<Output = Result<Reply, ProvisionError>> + Send + 'static {
        let (reply, rx) = oneshot::channel();
        let sent = self
            .tx
            .send(Command {
                op,
                now: crate::system_now(),
                reply,
            })
            .is_ok();
        async move {
            if !sent {
                return Err(ProvisionError::Stopped);
            }
            rx.await.unwrap_or(Err(ProvisionError::Stopped))
        }
    }

    /// Commits the API nonces accepted so far (the requests that wrote nothing; a write's nonce is committed
    /// with it). Resolves once they are durable.
    pub fn flush_nonces(&self) -> impl Future<Output = Result<(), ProvisionError>> + Send + 'static {
        self.enqueue(Op::FlushNonces)
    }

    /// Whether the engine thread is still accepting writes.
    pub fn is_running(&self) -> bool {
        !self.tx.is_closed()
    }

    /// The committed app with this key.
    pub fn app_by_key(&self, app_key: &str) -> Option<App> {
        self.apps.read().get(app_key).cloned()
    }
}

/// Starts the engine thread.
pub struct Provisioner;

/// Where the engine's table is when its thread starts.
#[derive(Clone, Copy)]
enum Start {
    /// Filled by [`load_table`] from the snapshot whose feed head was this.
    Loaded(u64),
    /// Filled as the store is now (the feed, if any, followed from its head as it is now).
    AtHead,
    /// Empty: the thread loads it from a snapshot first (shared store).
    Unloaded,
}

impl Provisioner {
    /// Spawns the one writer thread over `store`, keeping `table` (already loaded) and the bindings gauge in step.
    ///
    /// With a shared store the table follows the change feed from the head as it is now: use
    /// [`Provisioner::start_loaded`] for a table [`load_table`] filled.
    pub fn start(
        store: Arc<dyn Store>,
        table: Arc<BindingTable>,
        metrics: Metrics,
        config: EngineConfig,
    ) -> Result<EngineHandle, ProvisionError> {
        Self::start_loaded(store, table, metrics, config, None)
    }

    /// [`Provisioner::start`] for a table [`load_table`] filled from the snapshot whose feed head was
    /// `loaded_at` ([`LoadStats::feed_head`]): a shared store's feed is followed from there.
    pub fn start_loaded(
        store: Arc<dyn Store>,
        table: Arc<BindingTable>,
        metrics: Metrics,
        config: EngineConfig,
        loaded_at: Option<u64>,
    ) -> Result<EngineHandle, ProvisionError> {
        Self::spawn(
            store,
            table,
            metrics,
            config,
            loaded_at.map_or(Start::AtHead, Start::Loaded),
        )
    }

    /// [`Provisioner::start`] for an empty table: with a shared store the engine thread loads it from a
    /// snapshot first (the resync of `engine/resync.rs`, whose snapshot's feed head it follows from), and
    /// [`EngineHandle::feed_caught_up`] is false until it has, so the node can bind its sockets and refuse
    /// calls meanwhile. A store of one node is loaded here ([`load_table`]) before the thread starts.
    pub fn start_unloaded(
        store: Arc<dyn Store>,
        table: Arc<BindingTable>,
        metrics: Metrics,
        config: EngineConfig,
    ) -> Result<EngineHandle, ProvisionError> {
        if !store.is_shared() {
            load_table(store.as_ref(), &table, &metrics, crate::system_now())?;
            return Self::start(store, table, metrics, config);
        }
        Self::spawn(store, table, metrics, config, Start::Unloaded)
    }

    fn spawn(
        store: Arc<dyn Store>,
        table: Arc<BindingTable>,
        metrics: Metrics,
        config: EngineConfig,
        start: Start,
    ) -> Result<EngineHandle, ProvisionError> {
        let shared = store.is_shared();
        let (ids, apps, restored, head) = {
            let mut r = store.reader()?;
            let ids = if shared {
                ctx::Ids::shared()
            } else {
                ctx::Ids::after(r.max_binding_id()?, r.max_app_id()?)
            };
            let head = match start {
                Start::Loaded(seq) => Some(seq),
                Start::AtHead => r.feed_head()?,
                Start::Unloaded => None,
            };
            let apps: HashMap<String, App> = r.apps()?.into_iter().map(|a| (a.app_key.clone(), a)).collect();
            // Every stored nonce: the writer prunes those out of the window, so this is about one window's
            // worth; the replay cache drops the ones that expired while the process was down.
            let restored = r.nonces_since(i64::MIN)?;
            // The outbox gauges are true from the start, before the first commit touches the outbox.
            outbox::set_gauges(&metrics, r.outbox_counts()?);
            (ids, apps, restored, head)
        };
        let feed = match start {
            Start::Unloaded => Some(feed::FeedCursor::unloaded()),
            _ => head.filter(|_| shared).map(feed::FeedCursor::at),
        };
        let feed_state = feed.as_ref().map(|c| Arc::clone(&c.state));
        let apps: AppDirectory = Arc::new(RwLock::new(apps));
        let nonces = Arc::new(NonceJournal::new(restored));
        let outbox_signal = Arc::new(OutboxSignal::default());
        let cluster = Arc::new(cluster::Cluster::new(store.clone(), metrics.clone()));
        let (tx, rx) = mpsc::unbounded_channel();
        let mut engine = Engine {
            store,
            table,
            metrics,
            config,
            ids,
            apps: apps.clone(),
            overlay: if shared {
                overlay::BatchOverlay::shared()
            } else {
                overlay::BatchOverlay::default()
            },
            nonces: nonces.clone(),
            pruned_floor: i64::MIN,
            outbox_signal: outbox_signal.clone(),
            feed,
        };
        std::thread::Builder::new()
            .name("pn-provisioner".into())
            .spawn(move || engine.run(rx))?;
        Ok(EngineHandle {
            tx,
            apps,
            nonces,
            outbox_signal,
            feed: feed_state,
            cluster,
        })
    }
}

/// Every `every`, commits the API nonces that wait for a commit (those of queries and refusals; writes
/// commit their own), so they are durable within about `every` even when nothing else is written. Runs on
/// the tokio runtime until the engine stops.
pub fn spawn_nonce_flusher(handle: EngineHandle, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            if handle.tx.is_closed() {
                return;
            }
            if handle.nonces.is_empty() {
                continue;
            }
            if let Err(e) = handle.flush_nonces().await {
                tracing::warn!(error = %e, "committing API nonces failed");
            }
        }
    })
}

/// Runs [`EngineHandle::sweep`] every `every` on the tokio runtime (until the engine stops), on the ticks
/// where this node leads the cluster ([`EngineHandle::sweep_as_leader`]; a store of one node always leads).
pub fn spawn_sweeper(handle: EngineHandle, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            if !handle.is_running() {
                return;
            }
            match handle.sweep_as_leader(crate::system_now()).await {
                Ok(_) => {}
                Err(e) if e.is_internal() && handle.tx.is_closed() => return,
                Err(e) => tracing::warn!(error = %e, "expiry sweep failed"),
            }
        }
    })
}

struct Engine {
    store: Arc<dyn Store>,
    table: Arc<BindingTable>,
    metrics: Metrics,
    config: EngineConfig,
    ids: ctx::Ids,
    apps: AppDirectory,
    overlay: overlay::BatchOverlay,
    /// Accepted API nonces, committed with every batch.
    nonces: Arc<NonceJournal>,
    /// The floor below which stored nonces were last pruned.
    pruned_floor: i64,
    /// Woken after commits that appended or replayed outbox rows.
    outbox_signal: Arc<OutboxSignal>,
    /// A shared store's change feed: the table applies every commit from it, this engine's own included.
    feed: Option<feed::FeedCursor>,
}

type Outcome = (
    oneshot::Sender<Answer>,
    Result<(Reply, Vec<Effect>), ProvisionError>,
);

impl Engine {
    fn run(&mut self, mut rx: mpsc::UnboundedReceiver<Command>) {
        // A shared store: catch up from the snapshot the table was loaded from before the first write.
        self.follow_feed();
        let max = self.config.max_batch.max(1);
        let mut idle = idle::IdleRelease::new(self.config.idle_release_ms);
        while let Some(first) = idle.next(&mut rx, || self.release_memory()) {
            let mut batch = vec![first];
            while batch.len() < max {
                match rx.try_recv() {
                    Ok(c) => batch.push(c),
                    Err(_) => break,
                }
            }
            let wrote = batch.iter().any(|c| !c.op.is_housekeeping());
            self.process(batch);
            if wrote {
                idle.worked();
            }
        }
    }

    /// The quiet period after a burst: gives back the store's caches ([`idle`]).
    fn release_memory(&self) {
        match self.store.release_memory() {
            Ok(true) => self.metrics.store_memory_releases.inc(),
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "the store's caches could not be released"),
        }
    }

    fn process(&mut self, batch: Vec<Command>) {
        if batch.iter().all(|c| matches!(c.op, Op::FeedPoll)) {
            // Only wake-ups: read the feed, no transaction.
            self.follow_feed();
            for c in batch {
                let _ = c.reply.send(Ok(Reply::Done(())));
            }
            return;
        }
        // A wake-up queued behind writes: the feed is read after their commit, whatever it changed.
        let polled = batch.iter().any(|c| matches!(c.op, Op::FeedPoll));
        if polled {
            // Cleared before anything can fail, so that the next wake-up queues a poll again.
            self.clear_poll_queued();
        }
        let store = self.store.clone();
        let mut tx = match store.begin() {
            Ok(tx) => tx,
            Err(e) => return fail_all(batch.into_iter().map(|c| c.reply), &e),
        };
        let locked = if self.feed.is_some() {
            lock_in_order(&mut *tx, &batch)
        } else {
            None
        };
        let saved_ids = self.ids;
        let mut outcomes: Vec<Outcome> = Vec::with_capacity(batch.len());
        self.overlay.clear();
        if let Some((numbers, head)) = locked
            && self.table_has_applied(head)
        {
            // Every commit that changed these numbers' AXB parties is in the table, and no other can
            // commit while the batch holds them: the table (with this batch's overlay) answers their party
            // checks without a query.
            self.overlay.set_exact(numbers);
        }
        let mut pending = batch.into_iter();
        while let Some(cmd) = pending.next() {
            match self.run_one(&mut *tx, &cmd.op, cmd.now) {
                Ok(result) => outcomes.push((cmd.reply, result)),
                Err(e) => {
                    // The transaction itself is unusable: nothing of this batch is committed.
                    drop(tx);
                    self.ids = saved_ids;
                    let replies = outcomes
                        .into_iter()
                        .map(|o| o.0)
                        .chain(std::iter::once(cmd.reply));
                    return fail_all(replies.chain(pending.map(|c| c.reply)), &e);
                }
            }
        }
        // The nonces accepted up to now, including those of every write in this batch (queued before the
        // write was submitted), commit with it.
        let (nonces, floor) = self.nonces.take();
        let prune = floor > self.pruned_floor;
        if let Err(e) = persist_nonces(&mut *tx, &nonces, prune.then_some(floor)) {
            drop(tx);
            self.ids = saved_ids;
            self.nonces.put_back(nonces);
            return fail_all(outcomes.into_iter().map(|o| o.0), &e);
        }
        let started = Instant::now();
        let committed = tx.commit_numbered();
        self.metrics
            .store_commit_latency
            .observe(started.elapsed().as_secs_f64());
        let numbered = match committed {
            Ok(numbered) => numbered,
            Err(e) => {
                self.ids = saved_ids;
                self.nonces.put_back(nonces);
                return fail_all(outcomes.into_iter().map(|o| o.0), &e);
            }
        };
        if prune {
            self.pruned_floor = floor;
        }
        self.metrics.store_batch_size.observe(outcomes.len() as f64);
        // A shared store: the table takes this commit (and any other node's before it) from the feed, in
        // commit order; only the outbox's effects are this node's own. A commit that changed no routing
        // state (call facts, delivery marks, nonces) took no number: other nodes' commits reach the table
        // through the follower's wake-ups, not through a read after every commit. A commit numbered right
        // after the last one applied has no other node's commit before it: when its effects are new rows
        // and upserts by key, they are exactly what the feed would bring back, and the table takes them
        // without the read.
        let keyed_only = outcomes.iter().all(|(_, result)| {
            result.as_ref().map_or(true, |(_, effects)| {
                effects.iter().all(Effect::needs_no_prior_row)
            })
        });
        let own_commit_next = !polled && keyed_only && numbered.is_some_and(|seq| self.take_own_commit(seq));
        let own_effects_only_outbox = self.feed.is_some() && !own_commit_next;
        if (numbered.is_some() || polled) && !own_commit_next {
            self.follow_feed();
        }
        for (reply, result) in outcomes {
            let answer = result.map(|(value, effects)| {
                for effect in &effects {
                    if !own_effects_only_outbox || matches!(effect, Effect::Outbox { .. }) {
                        self.apply(effect);
                    }
                }
                value
            });
            // The caller may have gone away; the write stands either way.
            let _ = reply.send(answer);
        }
    }

    /// Runs one command in its own savepoint. `Err` only when the transaction can no longer be used.
    fn run_one(
        &mut self,
        tx: &mut dyn WriteTx,
        op: &Op,
        now: UnixTime,
    ) -> Result<Result<(Reply, Vec<Effect>), ProvisionError>, StoreError> {
        let mut attempt = 0;
        loop {
            tx.savepoint()?;
            self.ids.refill(tx)?;
            let mut ctx = Ctx {
                tx: &mut *tx,
                config: &self.config,
                ids: &mut self.ids,
                table: &self.table,
                overlay: &self.overlay,
                now,
                effects: Vec::new(),
            };
            let result = execute(&mut ctx, op);
            let effects = std::mem::take(&mut ctx.effects);
            match result {
                Ok(value) => {
                    tx.release_savepoint()?;
                    self.overlay.record(&effects);
                    return Ok(Ok((value, effects)));
                }
                // Another node's batch held what this command needed and the database broke the deadlock
                // by failing this statement: the savepoint undoes the command (and frees its locks), and it
                // runs again.
                Err(Fail::Store(e)) if e.is_contention() && attempt < CONTENTION_RETRIES => {
                    tx.rollback_savepoint()?;
                    attempt += 1;
                    self.metrics.feed.contention_retries.inc();
                    tracing::debug!(error = %e, attempt, "provisioning write retried after contention");
                }
                Err(fail) => {
                    tx.rollback_savepoint()?;
                    return Ok(Err(match fail {
                        Fail::Refused(e) => e,
                        Fail::Store(e) => {
                            tracing::error!(error = %e, "store failed during a provisioning write");
                            ProvisionError::Internal
                        }
                    }));
                }
            }
        }
    }

    /// Applies one committed effect to the routing table, the app directory and the gauge.
    fn apply(&self, effect: &Effect) {
        match effect {
            Effect::Insert(b) => {
                self.table.insert_binding(b);
                set_media(&self.table, b);
                self.gauge(b, 1);
            }
            Effect::Replace(pair) => {
                self.table.replace_binding(&pair.0, &pair.1);
                if pair.0.id != pair.1.id {
                    self.table.set_binding_media(pair.0.id, None);
                }
                set_media(&self.table, &pair.1);
            }
            Effect::Remove(b) => {
                self.table.remove_binding(b);
                self.table.set_binding_media(b.id, None);
                if matches!(b.kind, BindingKind::Ax(_)) {
                    self.table.clear_temp_callee(b.kind.x());
                }
                self.gauge(b, -1);
            }
            Effect::TempCallee(t) => self.table.set_temp_callee(t),
            Effect::Callback(c) => self.table.set_callback_record(c),
            Effect::App(app) => {
                self.table.upsert_app(app);
                self.apps.write().insert(app.app_key.clone(), (**app).clone());
            }
            Effect::Number(n) => self.table.upsert_number(n),
            Effect::RemoveNumber(x) => self.table.remove_number(*x),
            Effect::Outbox {
                counts,
                purged,
                wake,
                rescan,
            } => {
                outbox::set_gauges(&self.metrics, *counts);
                for (reason, n) in [("age", purged.by_age), ("cap", purged.by_cap)] {
                    if n > 0 {
                        self.metrics.outbox_purged.with_label_values(&[reason]).inc_by(n);
                    }
                }
                if *wake {
                    self.outbox_signal.wake(*rescan);
                }
            }
        }
    }

    fn gauge(&self, b: &pn_bindings::Binding, delta: i64) {
        let app = self.table.app(b.app).map_or_else(
            || b.app.0.to_string(),
            |a| self.metrics.app_label.of(&a.name, &a.app_key).to_owned(),
        );
        self.metrics
            .bindings
            .with_label_values(&[load::kind_label(&b.kind), app.as_str()])
            .add(delta);
    }
}

/// A shared store: takes, before the batch's commands run, the locks its binds will take (the named X rows,
/// then the A locks of the "X per A" rule), each kind in ascending order. Every node's batches take them in
/// that one order, so two nodes' batches binding on the same numbers queue instead of deadlocking (a
/// deadlock costs the server's `deadlock_timeout`, and a retry). Locks a command takes later (an allocated
/// X, a modify's X) are still taken as it runs. When taking them fails (a cycle with such a later lock), the
/// batch runs without them: each command then locks as it goes and is retried after contention. Answers
/// the pool numbers now held and the feed's head once they were (see [`WriteTx::lock_numbers`]).
fn lock_in_order(tx: &mut dyn WriteTx, batch: &[Command]) -> Option<(Vec<pn_numbers::E164>, u64)> {
    let mut numbers = std::collections::BTreeSet::new();
    let mut parties = std::collections::BTreeSet::new();
    for cmd in batch {
        let (x, a) = match &cmd.op {
            Op::AxbBind(b) => (&b.x, None),
            Op::AxBind(b) => (&b.x, Some(b.a)),
            Op::AxeBind(b) => (&b.x, None),
            Op::AxybBind(b) => (&b.x, Some(b.a)),
            _ => continue,
        };
        if let XSelect::Number(x) = x {
            numbers.insert(*x);
        }
        parties.extend(a);
    }
    if numbers.is_empty() && parties.is_empty() {
        return None;
    }
    let numbers: Vec<_> = numbers.into_iter().collect();
    let parties: Vec<_> = parties.into_iter().collect();
    let locked = tx.savepoint().and_then(|()| {
        let head = if numbers.is_empty() {
            None
        } else {
            tx.lock_numbers(&numbers)?
        };
        tx.lock_parties(&parties)?;
        tx.release_savepoint()?;
        Ok(head)
    });
    match locked {
        Ok(head) => head.map(|head| (numbers, head)),
        Err(e) => {
            tracing::debug!(error = %e, "the batch's locks could not be taken in order; its commands lock as they run");
            let _ = tx.rollback_savepoint();
            None
        }
    }
}

/// Writes the batch's accepted nonces and forgets the stored ones created before `prune_before`.
fn persist_nonces(
    tx: &mut dyn WriteTx,
    nonces: &[pn_store::SeenNonce],
    prune_before: Option<i64>,
) -> Result<(), StoreError> {
    if !nonces.is_empty() {
        tx.put_nonces(nonces)?;
    }
    if let Some(floor) = prune_before {
        tx.prune_nonces(floor)?;
    }
    Ok(())
}

/// Dispatches one op.
fn execute(ctx: &mut Ctx<'_, '_>, op: &Op) -> OpResult<Reply> {
    Ok(match op {
        Op::AxbBind(o) => Reply::AxbBound(axb::bind(ctx, o)?),
        Op::AxbModify(o) => Reply::Modified(axb::modify(ctx, o)?),
        Op::AxbUnbind(o) => Reply::Done(axb::unbind(ctx, o)?),
        Op::AxBind(o) => Reply::AxBound(ax::bind(ctx, o)?),
        Op::AxModify(o) => Reply::Modified(ax::modify(ctx, o)?),
        Op::AxUnbind(o) => Reply::Done(ax::unbind(ctx, o)?),
        Op::AxTempCallee(o) => Reply::Modified(ax::temp_callee(ctx, o)?),
        Op::AxeBind(o) => Reply::AxeBound(axe::bind(ctx, o)?),
        Op::AxeModify(o) => Reply::Modified(axe::modify(ctx, o)?),
        Op::AxeUnbind(o) => Reply::Done(axe::unbind(ctx, o)?),
        Op::AxybBind(o) => Reply::AxybBound(axyb::bind(ctx, o)?),
        Op::AxybRelation(o) => Reply::AxybBound(axyb::relation(ctx, o)?),
        Op::AxybUnbind(o) => Reply::Done(axyb::unbind(ctx, o)?),
        Op::CreateApp(o) => Reply::App(admin::create_app(ctx, o)?),
        Op::UpdateApp(o) => Reply::App(admin::update_app(ctx, o)?),
        Op::ImportNumbers(o) => Reply::Imported(admin::import_numbers(ctx, o)?),
        Op::SetNumber(o) => Reply::Number(admin::set_number(ctx, o)?),
        Op::RetireNumber(o) => Reply::Retired(admin::retire_number(ctx, o)?),
        Op::Sweep => Reply::Swept(load::sweep(ctx)?),
        Op::AppendOutbox(rows) => Reply::Done(outbox::append(ctx, rows)?),
        Op::PurgeOutbox(rule) => Reply::Purged(outbox::purge(ctx, *rule)?),
        Op::MarkOutbox { ids, state } => Reply::Marked(outbox::mark(ctx, ids, *state)?),
        Op::PutCallbackRecord(record) => Reply::Done(put_callback_record(ctx, record)?),
        Op::FlushNonces | Op::FeedPoll => Reply::Done(()),
    })
}

/// Stores a callback record if its AXE binding still exists with that X and A.
fn put_callback_record(ctx: &mut Ctx<'_, '_>, record: &CallbackRecord) -> OpResult<()> {
    let current = ctx.tx.binding(record.binding)?;
    let matches = current
        .as_ref()
        .is_some_and(|b| matches!(&b.kind, BindingKind::Axe(k) if k.x == record.x && k.a == record.a));
    if !matches {
        return Err(not_found());
    }
    ctx.tx.put_callback_record(record)?;
    ctx.effects.push(Effect::Callback(record.clone()));
    Ok(())
}

/// Keeps the routing table's prompt names of `b` in step with it (a Y–B relation takes its caller hints from
/// its parent, which is always indexed before it).
pub(crate) fn set_media(table: &BindingTable, b: &Binding) {
    let media = match &b.kind {
        BindingKind::Yb(r) => BindingMedia::of_relation(b, table.binding_media(r.parent).as_deref()),
        _ => BindingMedia::of(b),
    };
    table.set_binding_media(b.id, Some(media));
}

fn fail_all(replies: impl Iterator<Item = oneshot::Sender<Answer>>, e: &StoreError) {
    tracing::error!(error = %e, "store transaction failed; the whole batch is refused");
    for reply in replies {
        let _ = reply.send(Err(ProvisionError::Internal));
    }
}

#[cfg(test)]
mod tests;
