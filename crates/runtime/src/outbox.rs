//! Call facts to the durable outbox: shards hand facts to a bounded queue (never blocking), one task
//! batches them (what arrived within [`MAX_WAIT`] of a batch's first fact, written [`MAX_BATCH`] at a time),
//! serialises them to the reference's JSON and appends each batch through the provisioning engine's single
//! writer, in the same group-commit path as provisioning writes.
//!
//! Facts arrive complete from pn-b2bua (`subscriptionId` and `userData` were captured when the call was
//! routed, from the routing table); the task adds only what the runtime knows: a CDR's recording download URL
//! ([`fill_recordings`], the one place it is made).
//!
//! Facts without an app (a call to an unknown X, cause 8025, or to a number whose app is gone) are written
//! with app id 0: they are kept for the record and for operators, and pn-notify has no app to push them to.
//!
//! **Written once.** A fact its app has no URL for (or that has no app) is inserted in its final state,
//! `no_receiver` (counted in `pn_push_no_receiver_total`), and does not wake the push driver: it is never
//! read back and marked. Only facts someone receives are inserted pending. Whether an app receives a kind
//! is asked once per (app, kind) per batch ([`Receives`]).
//!
//! # When facts cannot be stored (full or failing disk)
//!
//! A batch leaves memory only once its commit succeeded. A failed commit keeps the batch (and every fact
//! arriving after it) in a bounded buffer of `[outbox] buffer_facts` facts, retried oldest first with
//! backoff ([`RETRY_MIN`] doubling to [`RETRY_MAX`]); the queue keeps being drained into that buffer
//! meanwhile. From the first failure until the buffer is empty again the outbox is *degraded*
//! ([`OutboxHealth`]): the shards refuse new calls (503, cause 7102, `Retry-After`) so no new facts are
//! made, while calls already up go on and their facts are buffered. Recovery is automatic.
//!
//! A fact that cannot be kept (the buffer or the queue is full, or the switch stops while it is buffered) is
//! never dropped silently: it is counted in `pn_outbox_dropped_total` and logged at error level with its
//! whole JSON under the target [`LOST_FACT_TARGET`], so an operator can recover it from the log. Those log
//! lines carry phone numbers in full (the fact itself), whatever `log.show_numbers` says.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use pn_b2bua::CallFact;
use pn_bindings::AppId;
use pn_provision::{EngineHandle, OutboxRow, ProvisionError, RecordingStore};
use pn_store::{OutboxKind, OutboxState};
use prometheus::{IntCounter, IntCounterVec, IntGauge};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Most facts appended in one engine command.
pub(crate) const MAX_BATCH: usize = 256;
/// How long a batch's first fact waits for companions before the batch is written.
pub(crate) const MAX_WAIT: Duration = Duration::from_millis(5);
/// First wait before retrying a failed outbox commit.
pub(crate) const RETRY_MIN: Duration = Duration::from_millis(100);
/// Longest wait between retries (the backoff doubles up to it).
pub(crate) const RETRY_MAX: Duration = Duration::from_secs(5);
/// The `tracing` target of the error lines that carry facts that could not be stored.
pub(crate) const LOST_FACT_TARGET: &str = "pnswitch::lost_fact";

/// The app id written for facts that have none.
pub(crate) const NO_APP: AppId = AppId(0);

/// Whether an app takes pushes of a kind now (in the switch: the routing table's app has a URL for it).
pub(crate) type Receives = Arc<dyn Fn(AppId, OutboxKind) -> bool + Send + Sync>;

/// Whether call facts can be stored: shared by the outbox task (which sets and clears it) and the shards
/// (which read it on every message and refuse new calls while it is set, and set it when the queue is full).
#[derive(Debug)]
pub(crate) struct OutboxHealth {
    degraded: AtomicBool,
    gauge: IntGauge,
}

impl OutboxHealth {
    /// Healthy, exporting its state to `gauge` (`pn_outbox_degraded`).
    pub(crate) fn new(gauge: IntGauge) -> Self {
        gauge.set(0);
        Self {
            degraded: AtomicBool::new(false),
            gauge,
        }
    }

    /// Whether new calls must be refused (one relaxed load: cheap on the call path).
    pub(crate) fn is_degraded(&self) -> bool {
        self.degraded.load(Ordering::Relaxed)
    }

    /// Sets the state; logs and exports transitions only.
    fn set(&self, degraded: bool) {
        if self.degraded.swap(degraded, Ordering::Relaxed) == degraded {
            return;
        }
        self.gauge.set(i64::from(degraded));
        if degraded {
            tracing::error!(
                "call facts cannot be stored: refusing new calls (503, cause 7102) until they can"
            );
        } else {
            tracing::warn!("call facts are stored again: accepting new calls");
        }
    }
}

/// The outbox task's counters and gauges.
#[derive(Clone)]
pub(crate) struct OutboxMetrics {
    /// `pn_outbox_dropped_total`.
    pub(crate) dropped: IntCounter,
    /// `pn_outbox_buffered`.
    pub(crate) buffered: IntGauge,
    /// `pn_outbox_write_failures_total`.
    pub(crate) failures: IntCounter,
    /// `pn_push_no_receiver_total{kind}`: facts written with no receiver.
    pub(crate) no_receiver: IntCounterVec,
}

/// A shard's handle on the outbox queue.
#[derive(Clone)]
pub(crate) struct FactSink {
    tx: mpsc::Sender<CallFact>,
    dropped: IntCounter,
    health: Arc<OutboxHealth>,
}

impl FactSink {
    /// Queues `fact` without waiting. A full queue cannot take it: it is logged with its content, counted,
    /// and the outbox turns degraded (new calls are refused until the task has caught up).
    pub(crate) fn push(&self, fact: CallFact) {
        if let Err(e) = self.tx.try_send(fact) {
            let fact = match e {
                mpsc::error::TrySendError::Full(f) | mpsc::error::TrySendError::Closed(f) => f,
            };
            lose(&fact, "the outbox queue is full", &self.dropped);
            self.health.set(true);
        }
    }

    /// Whether new calls must be refused.
    pub(crate) fn degraded(&self) -> bool {
        self.health.is_degraded()
    }
}

/// The outbox row of a fact.
fn entry_for(fact: &CallFact) -> Option<OutboxRow> {
    let (kind, app, payload) = match fact {
        CallFact::Event(event) => (OutboxKind::CallEvent, event.app, serde_json::to_string(event)),
        CallFact::Cdr(cdr) => (OutboxKind::Cdr, cdr.app, serde_json::to_string(cdr)),
        CallFact::Sms(sms) => (OutboxKind::Sms, sms.app, serde_json::to_string(sms)),
    };
    match payload {
        Ok(json) => Some(OutboxRow::pending(kind, app.unwrap_or(NO_APP), json)),
        Err(e) => {
            tracing::error!(error = %e, "a call fact could not be serialised");
            None
        }
    }
}

/// The outbox `kind` column's name for a kind (what the log line says).
fn kind_name(kind: OutboxKind) -> &'static str {
    match kind {
        OutboxKind::CallEvent => "call_event",
        OutboxKind::Cdr => "cdr",
        OutboxKind::Sms => "sms",
        OutboxKind::NumberStatus => "number_status",
    }
}

/// Logs a row that will not reach the outbox, with its whole payload, and counts it.
fn lose_row(row: &OutboxRow, why: &str, dropped: &IntCounter) {
    dropped.inc();
    tracing::error!(
        target: LOST_FACT_TARGET,
        kind = kind_name(row.kind),
        app = row.app.0,
        fact = %row.payload,
        why,
        "call fact not stored"
    );
}

/// [`lose_row`] for a fact not yet serialised.
fn lose(fact: &CallFact, why: &str, dropped: &IntCounter) {
    match entry_for(fact) {
        Some(row) => lose_row(&row, why, dropped),
        // Not serialisable (logged by `entry_for`): counted all the same.
        None => dropped.inc(),
    }
}

/// Where the outbox task commits batches: the engine's single writer (a fake in tests).
pub(crate) trait Appender: Send + Sync + 'static {
    /// Appends `rows` all or nothing; resolves once committed or refused.
    fn append(
        &self,
        rows: Arc<[OutboxRow]>,
    ) -> impl Future<Output = Result<(), ProvisionError>> + Send + 'static;
}

impl Appender for EngineHandle {
    fn append(
        &self,
        rows: Arc<[OutboxRow]>,
    ) -> impl Future<Output = Result<(), ProvisionError>> + Send + 'static {
        self.append_outbox(rows)
    }
}

/// What the outbox task needs.
pub(crate) struct OutboxDeps<A> {
    /// The single writer.
    pub(crate) engine: A,
    /// Fills the CDRs' recording URLs.
    pub(crate) recordings: Option<Arc<RecordingStore>>,
    /// Whether a fact's app receives it (else it is written `no_receiver`).
    pub(crate) receives: Receives,
    /// Facts waiting in the queue at most (the shards' side).
    pub(crate) queue: usize,
    /// Facts held in memory at most while they cannot be committed.
    pub(crate) buffer: usize,
    /// Counters and gauges.
    pub(crate) metrics: OutboxMetrics,
    /// `pn_outbox_degraded`.
    pub(crate) degraded: IntGauge,
}

/// Starts the writer task; returns the shards' sink and the task (which ends once every sink is dropped and
/// every fact is committed, or logged as lost when the last attempt fails).
pub(crate) fn start<A: Appender>(deps: OutboxDeps<A>) -> (FactSink, tokio::task::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(deps.queue.max(MAX_BATCH));
    let health = Arc::new(OutboxHealth::new(deps.degraded));
    let sink = FactSink {
        tx,
        dropped: deps.metrics.dropped.clone(),
        health: Arc::clone(&health),
    };
    let writer = Writer {
        engine: deps.engine,
        recordings: deps.recordings,
        receives: deps.receives,
        rx,
        raw: Vec::new(),
        pending: VecDeque::new(),
        buffered: 0,
        capacity: deps.buffer.max(MAX_BATCH),
        health,
        metrics: deps.metrics,
        backoff: RETRY_MIN,
        retry_at: None,
        closed: false,
    };
    (sink, tokio::spawn(writer.run()))
}

/// The outbox task's state.
struct Writer<A> {
    engine: A,
    recordings: Option<Arc<RecordingStore>>,
    receives: Receives,
    rx: mpsc::Receiver<CallFact>,
    /// Facts received, not yet serialised.
    raw: Vec<CallFact>,
    /// Serialised batches waiting for their commit, oldest first.
    pending: VecDeque<Arc<[OutboxRow]>>,
    /// Facts in `raw` and `pending`.
    buffered: usize,
    /// Most facts `buffered` may reach.
    capacity: usize,
    health: Arc<OutboxHealth>,
    metrics: OutboxMetrics,
    /// The next retry's wait.
    backoff: Duration,
    /// While commits fail: when to try again.
    retry_at: Option<Instant>,
    /// Every sink is gone (shutdown): flush, then end.
    closed: bool,
}

impl<A: Appender> Writer<A> {
    async fn run(mut self) {
        loop {
            if self.raw.is_empty() && self.pending.is_empty() {
                if self.closed {
                    return;
                }
                match self.rx.recv().await {
                    Some(fact) => self.take(fact),
                    None => return,
                }
                self.gather().await;
            } else if let Some(at) = self.retry_at.filter(|_| !self.closed) {
                // Degraded: keep emptying the queue into the buffer until the retry is due.
                tokio::select! {
                    () = tokio::time::sleep_until(at) => {}
                    fact = self.rx.recv() => {
                        match fact {
                            Some(fact) => self.take(fact),
                            None => self.closed = true,
                        }
                        continue;
                    }
                }
            }
            self.drain_queue();
            self.prepare();
            self.write_oldest().await;
        }
    }

    /// Buffers `fact`, or logs it as lost when the buffer is full.
    fn take(&mut self, fact: CallFact) {
        if self.buffered >= self.capacity {
            lose(&fact, "the outbox buffer is full", &self.metrics.dropped);
            return;
        }
        self.raw.push(fact);
        self.buffered += 1;
        self.export();
    }

    /// Takes what is already queued, without waiting.
    fn drain_queue(&mut self) {
        while let Ok(fact) = self.rx.try_recv() {
            self.take(fact);
        }
    }

    /// Lets [`MAX_WAIT`] pass for more facts to share the first one's batch, then takes them all. It sleeps
    /// rather than waiting on the queue: a shard's send then finds no receiver to wake, so a batch costs the
    /// writer two wake-ups (its first fact and the timer), not one per fact (six per connected call).
    async fn gather(&mut self) {
        tokio::time::sleep(MAX_WAIT).await;
        loop {
            match self.rx.try_recv() {
                Ok(fact) => self.take(fact),
                Err(mpsc::error::TryRecvError::Empty) => return,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    self.closed = true;
                    return;
                }
            }
        }
    }

    /// Serialises the received facts into batches of at most [`MAX_BATCH`], adding the CDRs' recording URLs.
    fn prepare(&mut self) {
        while !self.raw.is_empty() {
            let n = self.raw.len().min(MAX_BATCH);
            let mut facts: Vec<CallFact> = self.raw.drain(..n).collect();
            if let Some(recordings) = &self.recordings {
                fill_recordings(recordings, &mut facts);
            }
            let mut rows: Vec<OutboxRow> = facts.iter().filter_map(entry_for).collect();
            self.settle_unreceived(&mut rows);
            // Unserialisable facts (logged by `entry_for`) are counted.
            self.metrics.dropped.inc_by((n - rows.len()) as u64);
            self.buffered -= n - rows.len();
            if !rows.is_empty() {
                self.pending.push_back(rows.into());
            }
        }
        self.export();
    }

    /// Marks the rows nobody receives `no_receiver` (asking once per app and kind).
    fn settle_unreceived(&self, rows: &mut [OutboxRow]) {
        let mut known: HashMap<(AppId, OutboxKind), bool> = HashMap::new();
        for row in rows {
            let receives = row.app != NO_APP
                && *known
                    .entry((row.app, row.kind))
                    .or_insert_with(|| (self.receives)(row.app, row.kind));
            if !receives {
                row.state = OutboxState::NoReceiver;
            }
        }
    }

    /// Commits the oldest batch; on failure keeps it and schedules a retry (or, once every sink is gone,
    /// logs everything still buffered as lost).
    async fn write_oldest(&mut self) {
        let Some(batch) = self.pending.front().cloned() else {
            return;
        };
        match self.engine.append(Arc::clone(&batch)).await {
            Ok(()) => {
                self.pending.pop_front();
                self.buffered -= batch.len();
                for row in batch.iter().filter(|r| r.state == OutboxState::NoReceiver) {
                    self.metrics
                        .no_receiver
                        .with_label_values(&[row.kind.push_label()])
                        .inc();
                }
                self.export();
                if self.retry_at.take().is_some() {
                    tracing::info!(buffered = self.buffered, "outbox commit succeeded after failures");
                }
                self.backoff = RETRY_MIN;
                if self.pending.is_empty() && self.raw.is_empty() && self.health.is_degraded() {
                    self.health.set(false);
                }
            }
            Err(f) => {
                self.metrics.failures.inc();
                self.health.set(true);
                if self.closed {
                    tracing::error!(desc = %f, buffered = self.buffered, "stopping with call facts that cannot be stored");
                    self.lose_everything("the switch stopped while the outbox could not be written");
                    return;
                }
                if self.retry_at.is_none() {
                    tracing::error!(desc = %f, buffered = self.buffered, "call facts could not be committed; kept in memory and retried");
                } else {
                    tracing::warn!(desc = %f, buffered = self.buffered, retry_in_ms = self.backoff.as_millis(), "outbox commit still failing");
                }
                self.retry_at = Some(Instant::now() + self.backoff);
                self.backoff = (self.backoff * 2).min(RETRY_MAX);
            }
        }
    }

    /// Logs every buffered fact as lost (the last resort at shutdown).
    fn lose_everything(&mut self, why: &str) {
        for batch in std::mem::take(&mut self.pending) {
            for row in batch.iter() {
                lose_row(row, why, &self.metrics.dropped);
            }
        }
        for fact in std::mem::take(&mut self.raw) {
            lose(&fact, why, &self.metrics.dropped);
        }
        self.buffered = 0;
        self.export();
    }

    fn export(&self) {
        self.metrics
            .buffered
            .set(i64::try_from(self.buffered).unwrap_or(i64::MAX));
    }
}

/// Fills the download fields of CDRs that name a recording: `recordDomain` and a signed
/// `recordFileDownloadUrl` valid for the store's URL lifetime from the call's end.
fn fill_recordings(recordings: &RecordingStore, facts: &mut [CallFact]) {
    for fact in facts {
        if let CallFact::Cdr(cdr) = fact
            && let (Some(object), Some(app)) = (cdr.record_object_name.as_deref(), cdr.app)
        {
            cdr.record_domain = Some(recordings.record_domain().to_owned());
            cdr.record_file_download_url = Some(recordings.download_url(app, object, cdr.call_end_time));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::AtomicUsize;

    use pn_b2bua::{CallEvent, EventType, StatusInfo};
    use pn_bindings::UnixTime;

    use super::*;

    /// An engine stand-in whose commits fail while `fail` is set; keeps what it committed.
    #[derive(Clone, Default)]
    struct Fake {
        fail: Arc<AtomicBool>,
        committed: Arc<Mutex<Vec<OutboxRow>>>,
        attempts: Arc<AtomicUsize>,
    }

    impl Appender for Fake {
        fn append(
            &self,
            rows: Arc<[OutboxRow]>,
        ) -> impl Future<Output = Result<(), ProvisionError>> + Send + 'static {
            self.attempts.fetch_add(1, Ordering::SeqCst);
            let result = if self.fail.load(Ordering::SeqCst) {
                Err(ProvisionError::Internal)
            } else {
                self.committed.lock().unwrap().extend(rows.iter().cloned());
                Ok(())
            };
            std::future::ready(result)
        }
    }

    impl Fake {
        fn sessions(&self) -> Vec<String> {
            self.committed
                .lock()
                .unwrap()
                .iter()
                .map(|row| {
                    let v: serde_json::Value = serde_json::from_str(&row.payload).unwrap();
                    v["statusInfo"]["sessionId"].as_str().unwrap().to_owned()
                })
                .collect()
        }
    }

    fn fact(i: usize) -> CallFact {
        CallFact::Event(CallEvent {
            event_type: EventType::Callin,
            status_info: StatusInfo {
                timestamp: UnixTime(1_700_000_000),
                session_id: format!("s-{i}"),
                caller: "+8613800000001".into(),
                called: "+8617000000001".into(),
                display_caller_num: None,
                subscription_id: None,
                user_data: None,
                state_code: None,
                state_desc: None,
                digit_info: None,
                orig_callee_num: None,
                notify_mode: None,
                call_rel_direction: None,
                binding: None,
            },
            app: Some(AppId(1)),
        })
    }

    struct Rig {
        fake: Fake,
        sink: FactSink,
        task: tokio::task::JoinHandle<()>,
        metrics: OutboxMetrics,
        degraded: IntGauge,
    }

    fn rig(buffer: usize) -> Rig {
        let fake = Fake::default();
        let metrics = OutboxMetrics {
            dropped: IntCounter::new("dropped", "d").unwrap(),
            buffered: IntGauge::new("buffered", "b").unwrap(),
            failures: IntCounter::new("failures", "f").unwrap(),
            no_receiver: IntCounterVec::new(prometheus::Opts::new("no_receiver", "n"), &["kind"]).unwrap(),
        };
        let degraded = IntGauge::new("degraded", "g").unwrap();
        let (sink, task) = start(OutboxDeps {
            engine: fake.clone(),
            recordings: None,
            // App 1 receives call events only; every other app nothing.
            receives: Arc::new(|app, kind| app == AppId(1) && kind == OutboxKind::CallEvent),
            queue: 1024,
            buffer,
            metrics: metrics.clone(),
            degraded: degraded.clone(),
        });
        Rig {
            fake,
            sink,
            task,
            metrics,
            degraded,
        }
    }

    /// Polls `cond` every 10 ms for up to 10 s.
    async fn until(what: &str, cond: impl Fn() -> bool) {
        for _ in 0..1000 {
            if cond() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("never: {what}");
    }

    #[tokio::test]
    async fn failed_commits_keep_every_fact_degrade_and_recover_in_order() {
        let r = rig(1000);
        r.fake.fail.store(true, Ordering::SeqCst);
        for i in 0..3 {
            r.sink.push(fact(i));
        }
        until("degraded", || r.sink.degraded()).await;
        assert_eq!(r.degraded.get(), 1);
        until("three buffered", || r.metrics.buffered.get() == 3).await;
        // Retried with backoff while failing; arrivals meanwhile join the buffer.
        until("a retry", || r.fake.attempts.load(Ordering::SeqCst) >= 2).await;
        for i in 3..5 {
            r.sink.push(fact(i));
        }
        until("five buffered", || r.metrics.buffered.get() == 5).await;
        assert!(r.sink.degraded());
        assert!(r.fake.sessions().is_empty());

        r.fake.fail.store(false, Ordering::SeqCst);
        until("recovered", || !r.sink.degraded()).await;
        assert_eq!(r.fake.sessions(), ["s-0", "s-1", "s-2", "s-3", "s-4"]);
        assert_eq!(r.metrics.buffered.get(), 0);
        assert_eq!(r.degraded.get(), 0);
        assert_eq!(r.metrics.dropped.get(), 0);
        assert!(r.metrics.failures.get() >= 2);
        // Healthy again: a new fact goes straight through.
        r.sink.push(fact(5));
        until("the next fact", || r.fake.sessions().len() == 6).await;
        assert!(!r.sink.degraded());
    }

    #[tokio::test]
    async fn facts_nobody_receives_are_written_settled_and_counted_once_committed() {
        let r = rig(1000);
        let for_app = |i: usize, app: Option<AppId>| match fact(i) {
            CallFact::Event(mut e) => {
                e.app = app;
                CallFact::Event(e)
            }
            other => other,
        };
        r.fake.fail.store(true, Ordering::SeqCst);
        r.sink.push(fact(0)); // app 1 takes call events: pending
        r.sink.push(for_app(1, Some(AppId(2)))); // app 2 takes nothing
        r.sink.push(for_app(2, None)); // no app (an unknown X)
        until("a failed attempt", || r.fake.attempts.load(Ordering::SeqCst) >= 1).await;
        let counted = || r.metrics.no_receiver.with_label_values(&["event"]).get();
        assert_eq!(counted(), 0, "counted only once committed");
        r.fake.fail.store(false, Ordering::SeqCst);
        until("committed", || r.fake.committed.lock().unwrap().len() == 3).await;
        let states: Vec<(AppId, OutboxState)> = r
            .fake
            .committed
            .lock()
            .unwrap()
            .iter()
            .map(|row| (row.app, row.state))
            .collect();
        assert_eq!(
            states,
            [
                (AppId(1), OutboxState::Pending),
                (AppId(2), OutboxState::NoReceiver),
                (NO_APP, OutboxState::NoReceiver)
            ]
        );
        assert_eq!(counted(), 2);
    }

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        fn text(&self) -> String {
            String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
        }
    }

    /// Runs `body` on a current-thread runtime with every log line captured.
    fn with_logs(body: impl Future<Output = ()>) -> String {
        let logs = Captured::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(body);
        });
        logs.text()
    }

    #[test]
    fn facts_beyond_a_full_buffer_are_logged_with_their_content_and_counted() {
        let logs = with_logs(async {
            let r = rig(MAX_BATCH);
            r.fake.fail.store(true, Ordering::SeqCst);
            // In three waves, so the queue never overflows: the buffer does.
            for wave in 0..3 {
                for i in 0..100 {
                    r.sink.push(fact(wave * 100 + i));
                }
                until("the wave taken", || {
                    r.metrics.buffered.get() + r.metrics.dropped.get() as i64 == (wave as i64 + 1) * 100
                })
                .await;
            }
            assert_eq!(r.metrics.buffered.get(), MAX_BATCH as i64);
            assert_eq!(r.metrics.dropped.get(), 300 - MAX_BATCH as u64);
            r.fake.fail.store(false, Ordering::SeqCst);
            until("recovered", || !r.sink.degraded()).await;
            let committed = r.fake.sessions();
            assert_eq!(committed.len(), MAX_BATCH);
            assert_eq!(committed.first().map(String::as_str), Some("s-0"));
        });
        assert_eq!(
            logs.matches("the outbox buffer is full").count(),
            300 - MAX_BATCH,
            "{logs}"
        );
        // The last fact, whole, in its error line.
        let line = logs
            .lines()
            .find(|l| l.contains("\"sessionId\":\"s-299\""))
            .unwrap_or_else(|| panic!("no log line carries s-299:\n{logs}"));
        assert!(
            line.contains("ERROR") && line.contains(LOST_FACT_TARGET),
            "{line}"
        );
        assert!(
            line.contains("+8613800000001") && line.contains("callin"),
            "{line}"
        );
    }

    #[test]
    fn stopping_while_facts_cannot_be_stored_logs_each_of_them() {
        let logs = with_logs(async {
            let r = rig(1000);
            r.fake.fail.store(true, Ordering::SeqCst);
            for i in 0..3 {
                r.sink.push(fact(i));
            }
            until("degraded", || r.sink.degraded()).await;
            let Rig {
                sink, task, metrics, ..
            } = r;
            drop(sink);
            // One last attempt at once (not after the backoff), then every fact is logged and the task ends.
            tokio::time::timeout(Duration::from_secs(2), task)
                .await
                .expect("the task ends")
                .unwrap();
            assert_eq!(metrics.dropped.get(), 3);
            assert_eq!(metrics.buffered.get(), 0);
        });
        assert_eq!(
            logs.matches("the switch stopped while the outbox could not be written")
                .count(),
            3,
            "{logs}"
        );
    }

    #[test]
    fn a_full_queue_logs_the_fact_and_degrades() {
        let logs = with_logs(async {
            let (tx, _rx) = mpsc::channel(1);
            let dropped = IntCounter::new("dropped", "d").unwrap();
            let degraded = IntGauge::new("degraded", "g").unwrap();
            let sink = FactSink {
                tx,
                dropped: dropped.clone(),
                health: Arc::new(OutboxHealth::new(degraded.clone())),
            };
            sink.push(fact(1));
            assert!(!sink.degraded());
            sink.push(fact(2));
            assert!(sink.degraded());
            assert_eq!((dropped.get(), degraded.get()), (1, 1));
        });
        assert!(
            logs.contains("the outbox queue is full") && logs.contains("s-2"),
            "{logs}"
        );
    }
}
