//! The driver task: outbox rows into the core, the core's pushes out over HTTP, delivery states back into the
//! store through the single writer.
//!
//! Reading: rows are read in id order after a cursor (the highest id read). The single writer commits in id
//! order, so no committed row can appear below the cursor later, except a dead letter an operator replays:
//! the engine then sets the signal's rescan flag and the cursor goes back to 0 (rows the driver already holds
//! are skipped). When the core holds its cap, reading stops at the last row it took and resumes once entries
//! have left.
//!
//! Marking: delivered and dead entries are committed in batches (one engine command per state at a time, the
//! entries that finish meanwhile wait for the next). Until its mark commits an entry is neither pushed again
//! nor read again; a mark that fails is retried after [`MARK_RETRY`]. A `kill -9` before a mark commits
//! leaves the entry pending: it is pushed again after the restart (at least once).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pn_bindings::{App, AppId, BindingTable};
use pn_metrics::PushMetrics;
use pn_notify::{Entry, EntryId, Notifier, NotifyError, Output, Push, PushId, PushKind};
use pn_provision::{EngineHandle, OutboxSignal, ProvisionError, RecordingStore};
use pn_store::{OutboxEntry, OutboxKind, OutboxState, Store};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::config::PushConfig;
use crate::http1::{self, Target};
use crate::pipeline::{self, Job, Pipelines};
use crate::sender::{self, Sent};

/// How long an app's settings are reused before they are read from the table again.
const APP_TTL: Duration = Duration::from_secs(1);
/// Wait before a failed mark is tried again.
const MARK_RETRY: Duration = Duration::from_secs(1);
/// Delivery states wait this long for companions before they are committed: one commit for many entries
/// (they are not urgent: until its mark commits an entry is neither read nor pushed again; only a crash in
/// between makes it go again).
const MARK_EVERY: Duration = Duration::from_millis(100);
/// A commit goes at once when this many delivery states wait.
const MARK_BATCH: usize = 4096;
/// After the writer's wake-up, the driver waits this long for more rows before reading: one read for the
/// facts of several group commits.
const READ_COALESCE: Duration = Duration::from_millis(20);
/// Parsed receiver URLs kept at most (they are few: a handful per app).
const TARGET_CACHE: usize = 4096;
/// How long a stopping driver waits for its marks to commit.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// What the driver needs from the rest of the switch.
pub struct PushDeps {
    /// The store (read views of the outbox).
    pub store: Arc<dyn Store>,
    /// The single writer (delivery states) and its outbox signal.
    pub engine: EngineHandle,
    /// The routing table's apps (URLs, secrets, signing scheme), always current.
    pub table: Arc<BindingTable>,
    /// `pn_push_*`.
    pub metrics: PushMetrics,
    /// `[push]`.
    pub config: PushConfig,
    /// The recordings: a delivered CDR restarts its recording's retention (`None`: no recording).
    pub recordings: Option<Arc<RecordingStore>>,
}

/// A finished push, as the HTTP task hands it back.
type Pushed = (PushId, PushKind, Option<String>, Sent);
/// A finished mark command.
type Marked = (OutboxState, Vec<u64>, Result<u64, ProvisionError>);

/// An entry the driver holds: when it was first read (the lag's start), its kind and app.
struct Seen {
    at: Instant,
    kind: PushKind,
    app: AppId,
    /// A CDR's `recordObjectName`.
    recording: Option<String>,
}

pub(crate) struct Driver {
    core: Notifier,
    client: reqwest::Client,
    store: Arc<dyn Store>,
    engine: EngineHandle,
    table: Arc<BindingTable>,
    metrics: PushMetrics,
    read_batch: u32,
    max_entries: usize,
    signal: Arc<OutboxSignal>,
    cursor: u64,
    /// Reading stopped at the core's cap: read again once entries leave.
    behind: bool,
    seen: HashMap<u64, Seen>,
    /// Entries whose mark is queued or committing.
    marking: HashSet<u64>,
    unmarked: HashMap<OutboxState, Vec<u64>>,
    marks_busy: HashSet<OutboxState>,
    /// When the waiting delivery states are committed.
    mark_at: Option<Instant>,
    unmarked_count: usize,
    /// When the outbox is read next (a wake-up waits [`READ_COALESCE`]).
    read_at: Option<Instant>,
    http: JoinSet<Pushed>,
    /// Plain `http://` receivers: pipelined connections; their finished pushes arrive on `finished`.
    pipelines: Pipelines,
    finished: tokio::sync::mpsc::UnboundedReceiver<Pushed>,
    /// Parsed URLs (`None`: not plain http, sent by reqwest).
    targets: HashMap<String, Option<Arc<Target>>>,
    marks: JoinSet<Marked>,
    deadline: Option<Instant>,
    apps: HashMap<AppId, (Instant, Option<Arc<App>>)>,
    recordings: Option<Arc<RecordingStore>>,
}

impl Driver {
    pub(crate) fn new(deps: PushDeps) -> Result<Self, crate::PushError> {
        let config = &deps.config;
        config.validate().map_err(crate::PushError::Config)?;
        let core = Notifier::new(&config.notify()).map_err(|e| crate::PushError::Config(e.to_string()))?;
        let client = sender::client(
            Duration::from_millis(config.connect_timeout_ms),
            Duration::from_millis(config.timeout_ms),
        )
        .map_err(|e| crate::PushError::Http(e.to_string()))?;
        let (pipelines, finished) = Pipelines::new(pipeline::Limits {
            connect_timeout: Duration::from_millis(config.connect_timeout_ms),
            timeout: Duration::from_millis(config.timeout_ms),
            depth: config.pipeline_depth,
            connections: config.connections_per_receiver,
        });
        Ok(Self {
            core,
            pipelines,
            finished,
            targets: HashMap::new(),
            client,
            signal: deps.engine.outbox_signal(),
            store: deps.store,
            engine: deps.engine,
            table: deps.table,
            metrics: deps.metrics,
            read_batch: config.read_batch,
            max_entries: config.max_entries,
            cursor: 0,
            behind: false,
            seen: HashMap::new(),
            marking: HashSet::new(),
            unmarked: HashMap::new(),
            marks_busy: HashSet::new(),
            mark_at: None,
            unmarked_count: 0,
            read_at: None,
            http: JoinSet::new(),
            marks: JoinSet::new(),
            deadline: None,
            apps: HashMap::new(),
            recordings: deps.recordings,
        })
    }

    /// Runs until `stop` turns true, then abandons the pushes in flight (they stay pending and go again
    /// after a restart) and waits up to [`STOP_GRACE`] for the marks.
    pub(crate) async fn run(mut self, mut stop: watch::Receiver<bool>, poll_every: Duration) {
        let signal = Arc::clone(&self.signal);
        let mut poll = tokio::time::interval(poll_every);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let deadline = self.deadline.map(tokio::time::Instant::from_std);
            let mark_at = self.mark_at.map(tokio::time::Instant::from_std);
            let read_at = self.read_at.map(tokio::time::Instant::from_std);
            tokio::select! {
                _ = stop.changed() => break,
                Some(done) = self.http.join_next(), if !self.http.is_empty() => {
                    if let Ok(done) = done {
                        self.pushed(done);
                    }
                }
                Some(done) = self.finished.recv() => {
                    self.pushed(done);
                    while let Ok(more) = self.finished.try_recv() {
                        self.pushed(more);
                    }
                }
                Some(done) = self.marks.join_next(), if !self.marks.is_empty() => {
                    if let Ok(done) = done {
                        self.marked(done);
                    }
                }
                () = signal.notified() => {
                    if signal.take_rescan() {
                        self.cursor = 0;
                    }
                    self.read_at.get_or_insert_with(|| Instant::now() + READ_COALESCE);
                }
                () = sleep_until(read_at) => {
                    self.read_at = None;
                    self.read().await;
                }
                _ = poll.tick() => self.read().await,
                () = sleep_until(deadline) => self.core.handle_timeout(Instant::now()),
                () = sleep_until(mark_at) => {}
            }
            self.drain();
            if self.behind && self.core.held() < self.max_entries {
                self.read().await;
                self.drain();
            }
            self.flush_marks();
            self.export();
        }
        self.stop().await;
    }

    async fn stop(mut self) {
        self.http.abort_all();
        self.metrics.in_flight.set(0);
        self.mark_at = Some(Instant::now());
        self.flush_marks();
        let wait = async {
            while let Some(done) = self.marks.join_next().await {
                if let Ok((state, ids, Err(e))) = done {
                    tracing::warn!(error = %e, entries = ids.len(), state = state.as_str(),
                        "delivery states not stored at stop: those entries are pushed again after a restart");
                }
            }
        };
        if tokio::time::timeout(STOP_GRACE, wait).await.is_err() {
            tracing::warn!("delivery states still committing at stop: those entries may be pushed again");
        }
    }

    /// Reads pending rows after the cursor into the core, while there is room.
    async fn read(&mut self) {
        loop {
            let room = self.max_entries.saturating_sub(self.core.held());
            if room == 0 {
                self.behind = true;
                return;
            }
            let limit = self.read_batch.min(u32::try_from(room).unwrap_or(u32::MAX));
            let store = Arc::clone(&self.store);
            let after = self.cursor;
            let rows = tokio::task::spawn_blocking(move || {
                let mut reader = store.reader()?;
                reader.outbox_pending(after, limit)
            })
            .await;
            let rows = match rows {
                Ok(Ok(rows)) => rows,
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "reading the outbox failed; retrying at the next poll");
                    return;
                }
                Err(_) => return,
            };
            let full = rows.len() == limit as usize;
            for row in rows {
                if !self.offer(row) {
                    self.behind = true;
                    return;
                }
            }
            if !full {
                self.behind = false;
                return;
            }
        }
    }

    /// Takes one pending row; `false` when the core is full (the cursor stays before the row).
    fn offer(&mut self, row: OutboxEntry) -> bool {
        let id = row.id;
        if self.seen.contains_key(&id) || self.marking.contains(&id) {
            self.cursor = self.cursor.max(id);
            return true;
        }
        let kind = push_kind(row.kind);
        let app = self.app(row.app);
        if app.as_deref().and_then(|a| url_for(a, kind)).is_none() {
            self.metrics
                .no_receiver
                .with_label_values(&[kind_label(kind)])
                .inc();
            self.queue_mark(id, OutboxState::NoReceiver);
            self.cursor = self.cursor.max(id);
            return true;
        }
        let order_key = (kind == PushKind::CallEvent)
            .then(|| session_of(&row.payload))
            .flatten();
        let recording = (kind == PushKind::Cdr && row.payload.contains("\"recordObjectName\""))
            .then(|| recording_of(&row.payload))
            .flatten();
        let now = Instant::now();
        let entry = Entry {
            id: EntryId(id),
            app: row.app,
            kind,
            order_key,
            body: row.payload.into(),
            enqueued_at: now,
        };
        match self.core.enqueue(now, entry) {
            Ok(()) => {
                self.seen.insert(
                    id,
                    Seen {
                        at: now,
                        kind,
                        app: row.app,
                        recording,
                    },
                );
            }
            Err(NotifyError::Full { .. }) => return false,
            Err(NotifyError::Duplicate(_)) => {}
            Err(e) => {
                tracing::error!(entry = id, error = %e, "an outbox entry cannot be pushed: dead letter");
                self.queue_mark(id, OutboxState::Dead);
            }
        }
        self.cursor = self.cursor.max(id);
        true
    }

    /// Acts on the core's outputs.
    fn drain(&mut self) {
        while let Some(output) = self.core.poll_output() {
            match output {
                Output::Push(push) => self.start(push),
                Output::Delivered(ids) => {
                    let now = Instant::now();
                    let mut recordings = Vec::new();
                    for EntryId(id) in ids {
                        if let Some(seen) = self.seen.remove(&id) {
                            self.metrics
                                .lag
                                .with_label_values(&[kind_label(seen.kind)])
                                .observe(now.duration_since(seen.at).as_secs_f64());
                            if let Some(object) = seen.recording {
                                recordings.push((seen.app, object));
                            }
                        }
                        self.queue_mark(id, OutboxState::Delivered);
                    }
                    self.restart_retention(recordings);
                }
                Output::DeadLettered(ids) => {
                    for EntryId(id) in ids {
                        if let Some(seen) = self.seen.remove(&id) {
                            let app = self.app_label(seen.app);
                            self.metrics
                                .dead_lettered
                                .with_label_values(&[kind_label(seen.kind), app.as_str()])
                                .inc();
                            tracing::warn!(entry = id, app = %app, kind = kind_label(seen.kind),
                                "push failed through its last retry: dead letter (list and replay with `pnswitch admin outbox`)");
                        }
                        self.queue_mark(id, OutboxState::Dead);
                    }
                }
                Output::Timeout(at) => self.deadline = Some(at),
            }
        }
    }

    /// Sends one push: on a pipelined connection to a plain `http://` receiver, else (https) on a reqwest
    /// task of its own.
    fn start(&mut self, push: Push) {
        self.metrics.in_flight.inc();
        let app = self.app(push.app);
        let url = app
            .as_deref()
            .and_then(|a| url_for(a, push.kind))
            .map(str::to_owned);
        let label = self.metrics.app_label;
        let app_label = app.as_ref().map(|a| label.of(&a.name, &a.app_key).to_owned());
        let Push { id, kind, body, .. } = push;
        let (Some(app), Some(url)) = (app, url) else {
            let gone = Sent {
                outcome: pn_notify::PushOutcome::Failed {
                    reason: "the app has no URL for this push any more".into(),
                },
                label: "error",
                took: Duration::ZERO,
            };
            self.pipelines.report((id, kind, app_label, gone));
            return;
        };
        if let Some(target) = self.target(&url) {
            let headers = crate::sign::headers(&app, pn_runtime::unix_now());
            match http1::encode_post(&target, &headers, &body) {
                Ok(request) => {
                    let job = Job::new(id, kind, app_label, request);
                    self.pipelines.send(app.id, &target, job);
                }
                Err(reason) => {
                    let bad = Sent {
                        outcome: pn_notify::PushOutcome::Failed { reason },
                        label: "error",
                        took: Duration::ZERO,
                    };
                    self.pipelines.report((id, kind, app_label, bad));
                }
            }
            return;
        }
        let client = self.client.clone();
        self.http.spawn(async move {
            let sent = sender::send(&client, &app, &url, body, pn_runtime::unix_now()).await;
            (id, kind, app_label, sent)
        });
    }

    /// A URL's pipelining target (`None` for https and anything else reqwest sends).
    fn target(&mut self, url: &str) -> Option<Arc<Target>> {
        if let Some(target) = self.targets.get(url) {
            return target.clone();
        }
        if self.targets.len() >= TARGET_CACHE {
            self.targets.clear();
        }
        let target = Target::parse(url).map(Arc::new);
        self.targets.insert(url.to_owned(), target.clone());
        target
    }

    /// A push ended.
    fn pushed(&mut self, (id, kind, app_label, sent): Pushed) {
        self.metrics.in_flight.dec();
        let kind_name = kind_label(kind);
        self.metrics
            .requests
            .with_label_values(&[kind_name, app_label.as_deref().unwrap_or(""), sent.label])
            .inc();
        self.metrics
            .request_duration
            .with_label_values(&[kind_name])
            .observe(sent.took.as_secs_f64());
        if let pn_notify::PushOutcome::Failed { reason } = &sent.outcome {
            tracing::debug!(push = %id, app = app_label.as_deref().unwrap_or(""), kind = kind_name, %reason,
                "push failed; retried on the schedule");
        }
        if let Err(e) = self.core.handle_result(Instant::now(), id, sent.outcome) {
            tracing::error!(error = %e, "push result for an unknown push");
        }
    }

    /// The reference counts a recording's retention from its CDR's push (§5): restart it for these.
    fn restart_retention(&self, recordings: Vec<(AppId, String)>) {
        let Some(store) = self.recordings.clone() else {
            return;
        };
        if recordings.is_empty() {
            return;
        }
        tokio::task::spawn_blocking(move || {
            let now = std::time::SystemTime::now();
            for (app, object) in recordings {
                if !store.restart_retention(app, &object, now) {
                    tracing::debug!(
                        app = app.0,
                        object,
                        "no live recording to keep for its pushed CDR"
                    );
                }
            }
        });
    }

    fn queue_mark(&mut self, id: u64, state: OutboxState) {
        self.marking.insert(id);
        self.unmarked.entry(state).or_default().push(id);
        self.unmarked_count += 1;
        let now = Instant::now();
        if self.unmarked_count >= MARK_BATCH {
            self.mark_at = Some(now);
        } else {
            self.mark_at.get_or_insert(now + MARK_EVERY);
        }
    }

    /// Starts one mark command per state that has entries waiting and none committing.
    fn flush_marks(&mut self) {
        if self.mark_at.is_none_or(|at| at > Instant::now()) {
            return;
        }
        self.mark_at = None;
        let states: Vec<OutboxState> = self
            .unmarked
            .iter()
            .filter(|(state, ids)| !ids.is_empty() && !self.marks_busy.contains(*state))
            .map(|(state, _)| *state)
            .collect();
        for state in states {
            let ids = self.unmarked.remove(&state).unwrap_or_default();
            self.marks_busy.insert(state);
            let commit = self.engine.mark_outbox(ids.clone().into(), state);
            self.marks.spawn(async move { (state, ids, commit.await) });
        }
        // What waits behind a commit still running goes with the next round.
        self.unmarked_count = self.unmarked.values().map(Vec::len).sum();
        if self.unmarked_count > 0 {
            self.mark_at = Some(Instant::now() + MARK_EVERY);
        }
    }

    /// A mark command ended.
    fn marked(&mut self, (state, ids, result): Marked) {
        self.marks_busy.remove(&state);
        match result {
            Ok(_) => {
                for id in &ids {
                    self.marking.remove(id);
                }
            }
            Err(e) => {
                self.metrics.mark_failures.inc();
                tracing::warn!(error = %e, entries = ids.len(), state = state.as_str(),
                    "storing delivery states failed; retrying");
                self.unmarked_count += ids.len();
                self.unmarked.entry(state).or_default().extend(ids);
                self.mark_at = Some(Instant::now() + MARK_RETRY);
            }
        }
    }

    fn export(&self) {
        self.metrics
            .held
            .set(i64::try_from(self.core.held()).unwrap_or(i64::MAX));
    }

    /// The app, from a cache refreshed every [`APP_TTL`] (edits of URLs and secrets apply within it).
    fn app(&mut self, id: AppId) -> Option<Arc<App>> {
        let now = Instant::now();
        if let Some((at, app)) = self.apps.get(&id) {
            if now.duration_since(*at) < APP_TTL {
                return app.clone();
            }
        }
        let app = self.table.app(id).map(Arc::new);
        self.apps.insert(id, (now, app.clone()));
        app
    }

    fn app_label(&mut self, id: AppId) -> String {
        let label = self.metrics.app_label;
        self.app(id)
            .map_or_else(|| id.0.to_string(), |a| label.of(&a.name, &a.app_key).to_owned())
    }
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The core's kind of an outbox row.
pub(crate) fn push_kind(kind: OutboxKind) -> PushKind {
    match kind {
        OutboxKind::CallEvent => PushKind::CallEvent,
        OutboxKind::Cdr => PushKind::Cdr,
        OutboxKind::Sms => PushKind::Sms,
        OutboxKind::NumberStatus => PushKind::NumStatus,
    }
}

/// The metric label of a kind (the outbox writer counts its settled rows under the same labels).
pub(crate) fn kind_label(kind: PushKind) -> &'static str {
    outbox_kind(kind).push_label()
}

/// The outbox's kind of a push kind (the inverse of [`push_kind`]).
fn outbox_kind(kind: PushKind) -> OutboxKind {
    match kind {
        PushKind::CallEvent => OutboxKind::CallEvent,
        PushKind::Cdr => OutboxKind::Cdr,
        PushKind::Sms => OutboxKind::Sms,
        PushKind::NumStatus => OutboxKind::NumberStatus,
    }
}

/// Where `app` wants pushes of `kind` (§0.2; the outbox writer asks the same of new rows,
/// [`OutboxKind::receiver_url`]).
pub(crate) fn url_for(app: &App, kind: PushKind) -> Option<&str> {
    outbox_kind(kind).receiver_url(app)
}

/// A call event's `statusInfo.sessionId`: its order key (the events of one call go one at a time, in order).
pub(crate) fn session_of(payload: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Event {
        #[serde(rename = "statusInfo")]
        status_info: StatusInfo,
    }
    #[derive(serde::Deserialize)]
    struct StatusInfo {
        #[serde(rename = "sessionId")]
        session_id: String,
    }
    serde_json::from_str::<Event>(payload)
        .ok()
        .map(|e| e.status_info.session_id)
}

/// A CDR's `recordObjectName`.
pub(crate) fn recording_of(payload: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Cdr {
        #[serde(rename = "recordObjectName")]
        object: Option<String>,
    }
    serde_json::from_str::<Cdr>(payload).ok().and_then(|c| c.object)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_key_is_the_events_session() {
        let event = r#"{"eventType":"callin","statusInfo":{"sessionId":"0_1_2@h","caller":"+1"}}"#;
        assert_eq!(session_of(event).as_deref(), Some("0_1_2@h"));
        assert_eq!(session_of(r#"{"eventType":"fee"}"#), None);
    }

    #[test]
    fn a_cdrs_recording_is_found() {
        assert_eq!(
            recording_of(r#"{"icid":"1","recordObjectName":"r.wav"}"#).as_deref(),
            Some("r.wav")
        );
        assert_eq!(recording_of(r#"{"icid":"1"}"#), None);
    }
}
