//! Call facts to the durable outbox: shards hand facts to a bounded queue (never blocking), one task
//! batches them (up to [`MAX_BATCH`] entries or [`MAX_WAIT`]), serialises them to the reference's JSON and
//! appends each batch through the provisioning engine's single writer, in the same group-commit path as
//! provisioning writes.
//!
//! Facts name their binding but not its public handle: before writing, the task fills in `subscriptionId`
//! (and `userData`, unless the fact has one) from the store, off the call path.
//!
//! Facts without an app (a call to an unknown X, cause 8025, or to a number whose app is gone) are written
//! with app id 0: they are kept for the record and for operators, and pn-notify has no app to push them to.
//! A full queue or a failed commit drops facts and counts them in `pn_outbox_dropped_total`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use pn_api::{EngineHandle, RecordingStore};
use pn_b2bua::CallFact;
use pn_bindings::{AppId, BindingId};
use pn_store::{OutboxKind, Store};
use prometheus::IntCounter;
use tokio::sync::mpsc;

/// Most facts appended in one engine command.
pub(crate) const MAX_BATCH: usize = 256;
/// Longest a fact waits for companions before its batch is written.
pub(crate) const MAX_WAIT: Duration = Duration::from_millis(5);

/// The app id written for facts that have none.
pub(crate) const NO_APP: AppId = AppId(0);

/// One outbox entry: kind, app, JSON payload.
type Entry = (OutboxKind, AppId, String);

/// A shard's handle on the outbox queue.
#[derive(Clone)]
pub(crate) struct FactSink {
    tx: mpsc::Sender<CallFact>,
    dropped: IntCounter,
}

impl FactSink {
    /// Queues `fact` without waiting; a full queue drops it (counted).
    pub(crate) fn push(&self, fact: CallFact) {
        if self.tx.try_send(fact).is_err() {
            self.dropped.inc();
        }
    }
}

/// The outbox entry of a fact.
fn entry_for(fact: &CallFact) -> Option<Entry> {
    let (kind, app, payload) = match fact {
        CallFact::Event(event) => (OutboxKind::CallEvent, event.app, serde_json::to_string(event)),
        CallFact::Cdr(cdr) => (OutboxKind::Cdr, cdr.app, serde_json::to_string(cdr)),
    };
    match payload {
        Ok(json) => Some((kind, app.unwrap_or(NO_APP), json)),
        Err(e) => {
            tracing::error!(error = %e, "a call fact could not be serialised");
            None
        }
    }
}

/// Starts the writer task; returns the shards' sink and the task (which ends once every sink is dropped and
/// the queue is flushed).
pub(crate) fn start(
    engine: EngineHandle,
    store: Arc<dyn Store>,
    recordings: Option<Arc<RecordingStore>>,
    capacity: usize,
    dropped: IntCounter,
) -> (FactSink, tokio::task::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(capacity.max(MAX_BATCH));
    let task = tokio::spawn(write_batches(engine, store, recordings, rx, dropped.clone()));
    (FactSink { tx, dropped }, task)
}

async fn write_batches(
    engine: EngineHandle,
    store: Arc<dyn Store>,
    recordings: Option<Arc<RecordingStore>>,
    mut rx: mpsc::Receiver<CallFact>,
    dropped: IntCounter,
) {
    let mut batch: Vec<CallFact> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        let deadline = tokio::time::Instant::now() + MAX_WAIT;
        while batch.len() < MAX_BATCH {
            let room = MAX_BATCH - batch.len();
            match tokio::time::timeout_at(deadline, rx.recv_many(&mut batch, room)).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        let total = batch.len();
        let mut facts = std::mem::replace(&mut batch, Vec::with_capacity(MAX_BATCH));
        let reader = Arc::clone(&store);
        facts = match tokio::task::spawn_blocking(move || {
            fill_subscriptions(reader.as_ref(), &mut facts);
            facts
        })
        .await
        {
            Ok(facts) => facts,
            Err(e) => {
                tracing::error!(error = %e, "subscription look-up failed; call facts dropped");
                dropped.inc_by(total as u64);
                continue;
            }
        };
        if let Some(recordings) = &recordings {
            fill_recordings(recordings, &mut facts);
        }
        let entries: Vec<Entry> = facts.iter().filter_map(entry_for).collect();
        let n = entries.len();
        dropped.inc_by((total - n) as u64);
        if n == 0 {
            continue;
        }
        if let Err(f) = engine.append_outbox(entries).await {
            dropped.inc_by(n as u64);
            tracing::error!(desc = %f.desc, facts = n, "call facts could not be written to the outbox");
        }
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

/// Fills `subscriptionId` (and a missing `userData`) of facts that name their binding, from the store (one
/// read per distinct binding of the batch). A binding already deleted leaves the fact as it is.
fn fill_subscriptions(store: &dyn Store, facts: &mut [CallFact]) {
    let mut reader = match store.reader() {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read bindings for call facts");
            return;
        }
    };
    let mut known: HashMap<BindingId, Option<(String, Option<String>)>> = HashMap::new();
    for fact in facts {
        let (binding, subscription, user_data) = match fact {
            CallFact::Event(e) => (
                e.status_info.binding,
                &mut e.status_info.subscription_id,
                &mut e.status_info.user_data,
            ),
            CallFact::Cdr(c) => (c.binding, &mut c.subscription_id, &mut c.user_data),
        };
        let Some(id) = binding.filter(|_| subscription.is_none()) else {
            continue;
        };
        let found = known.entry(id).or_insert_with(|| {
            reader
                .binding(id)
                .ok()
                .flatten()
                .map(|b| (b.subscription_id, b.user_data))
        });
        if let Some((sub, data)) = found {
            *subscription = Some(sub.clone());
            if user_data.is_none() {
                user_data.clone_from(data);
            }
        }
    }
}
