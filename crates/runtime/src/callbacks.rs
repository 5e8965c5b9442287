//! AXE callback records to the store, never lost silently. A connected AXE call makes a record (A dialing X
//! then reaches this caller); the shards hand records to one task, which stores each through the engine's
//! single writer (the store, then the routing table).
//!
//! A record the store cannot take (full or failing disk: [`ProvisionError::Internal`]) is kept and retried with
//! backoff ([`RETRY_MIN`] doubling to [`RETRY_MAX`]) until it is stored, until it has expired, or until a newer
//! record of the same binding replaces it: the newest caller wins, so an older record is never written over a
//! newer one. A record refused because its binding is gone (unbound meanwhile) is dropped: there is no callback
//! to keep. A record that cannot be kept (the queue is full, or the switch stops and a last attempt fails) is
//! logged at error level with its content under [`LOST_CALLBACK_TARGET`], so an operator can restore it.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use pn_bindings::{BindingId, CallbackRecord};
use pn_provision::{EngineHandle, ProvisionError};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::unix_now;

/// First wait before retrying a record the store refused.
pub(crate) const RETRY_MIN: Duration = Duration::from_millis(100);
/// Longest wait between retries.
pub(crate) const RETRY_MAX: Duration = Duration::from_secs(5);
/// The `tracing` target of the error lines that carry callback records that could not be stored.
pub(crate) const LOST_CALLBACK_TARGET: &str = "pnswitch::lost_callback";

/// Where records are stored: the engine's single writer (a fake in tests).
pub(crate) trait CallbackStore: Send + Sync + 'static {
    /// Stores `record`; the command is queued before this returns (records keep their order), the future
    /// resolves once it is committed or refused.
    fn put(
        &self,
        record: CallbackRecord,
    ) -> impl Future<Output = Result<(), ProvisionError>> + Send + 'static;
}

impl CallbackStore for EngineHandle {
    fn put(
        &self,
        record: CallbackRecord,
    ) -> impl Future<Output = Result<(), ProvisionError>> + Send + 'static {
        self.put_callback_record(record)
    }
}

/// A shard's handle on the callback queue.
#[derive(Clone)]
pub(crate) struct CallbackSink {
    tx: mpsc::Sender<CallbackRecord>,
}

impl CallbackSink {
    /// Queues `record` without waiting; a full queue cannot take it: it is logged with its content.
    pub(crate) fn push(&self, record: CallbackRecord) {
        if let Err(e) = self.tx.try_send(record) {
            let record = match e {
                mpsc::error::TrySendError::Full(r) | mpsc::error::TrySendError::Closed(r) => r,
            };
            lose(&record, "the callback queue is full");
        }
    }
}

/// Starts the writer task; returns the shards' sink and the task (which ends once every sink is dropped and
/// every record is stored, refused, or logged as lost).
pub(crate) fn start<S: CallbackStore>(store: S, queue: usize) -> (CallbackSink, tokio::task::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(queue.max(16));
    (CallbackSink { tx }, tokio::spawn(run(store, rx)))
}

/// The outcome of one attempt: the record's sequence number, the record, the store's answer.
type Done = (u64, CallbackRecord, Result<(), ProvisionError>);

/// The writer: sends every record at once (in arrival order), keeps failed ones for a retry.
struct Writer<S> {
    store: S,
    /// The sequence number of the newest record of each binding not yet stored or dropped.
    newest: HashMap<BindingId, u64>,
    /// Records waiting for a retry (at most one per binding: the newest).
    waiting: HashMap<BindingId, (u64, CallbackRecord)>,
    in_flight: usize,
    next_seq: u64,
    backoff: Duration,
    retry_at: Option<Instant>,
    done_tx: mpsc::UnboundedSender<Done>,
}

impl<S: CallbackStore> Writer<S> {
    /// A record from a shard: the newest of its binding from now on.
    fn accept(&mut self, record: CallbackRecord) {
        self.next_seq += 1;
        let seq = self.next_seq;
        self.newest.insert(record.binding, seq);
        if self.waiting.remove(&record.binding).is_some() {
            // An older record of this binding waits for the store: this one takes its place in the retry.
            self.waiting.insert(record.binding, (seq, record));
            return;
        }
        self.send(seq, record);
    }

    fn send(&mut self, seq: u64, record: CallbackRecord) {
        let stored = self.store.put(record.clone());
        let done = self.done_tx.clone();
        self.in_flight += 1;
        tokio::spawn(async move {
            let _ = done.send((seq, record, stored.await));
        });
    }

    /// The store's answer to one attempt.
    fn finished(&mut self, (seq, record, result): Done) {
        self.in_flight -= 1;
        let is_newest = self.newest.get(&record.binding) == Some(&seq);
        match result {
            Ok(()) => {
                self.backoff = RETRY_MIN;
                if is_newest {
                    self.newest.remove(&record.binding);
                }
            }
            Err(ProvisionError::Internal) if is_newest => {
                tracing::warn!(
                    binding = record.binding.0,
                    "AXE callback record not stored: retrying"
                );
                self.waiting.insert(record.binding, (seq, record));
                self.retry_at.get_or_insert_with(|| Instant::now() + self.backoff);
            }
            Err(ProvisionError::Internal) => {} // a newer record of the binding replaces it
            Err(e) => {
                if is_newest {
                    self.newest.remove(&record.binding);
                }
                tracing::debug!(error = %e, binding = record.binding.0, "AXE callback record refused");
            }
        }
    }

    /// The retry time: every waiting record that has not expired goes again.
    fn retry(&mut self) {
        self.retry_at = None;
        self.backoff = (self.backoff * 2).min(RETRY_MAX);
        let now = unix_now();
        for (binding, (seq, record)) in std::mem::take(&mut self.waiting) {
            if record.expires_at.is_some_and(|t| t <= now) {
                self.newest.remove(&binding);
                tracing::info!(
                    binding = binding.0,
                    "AXE callback record expired before it could be stored"
                );
                continue;
            }
            self.send(seq, record);
        }
    }
}

async fn run<S: CallbackStore>(store: S, mut rx: mpsc::Receiver<CallbackRecord>) {
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    let mut w = Writer {
        store,
        newest: HashMap::new(),
        waiting: HashMap::new(),
        in_flight: 0,
        next_seq: 0,
        backoff: RETRY_MIN,
        retry_at: None,
        done_tx,
    };
    let mut open = true;
    while open || w.in_flight > 0 {
        let retry_at = w.retry_at;
        tokio::select! {
            record = rx.recv(), if open => {
                if let Some(r) = record {
                    w.accept(r);
                } else {
                    open = false;
                    // Stopping: one last attempt for what waits for its retry time.
                    w.retry();
                }
            }
            Some(done) = done_rx.recv() => w.finished(done),
            () = async { tokio::time::sleep_until(retry_at.unwrap_or_else(Instant::now)).await },
                if retry_at.is_some() && open => w.retry(),
        }
    }
    // Stopped: the last attempts have answered; what failed them cannot be kept.
    for (_, (_, record)) in w.waiting.drain() {
        lose(&record, "the switch stopped while the store could not take it");
    }
}

/// Logs a record that cannot be kept, with everything needed to restore it.
fn lose(record: &CallbackRecord, why: &str) {
    tracing::error!(
        target: LOST_CALLBACK_TARGET,
        why,
        binding = record.binding.0,
        x = %record.x,
        a = %record.a,
        last_caller = %record.last_caller,
        expires_at = ?record.expires_at.map(|t| t.0),
        "AXE callback record lost"
    );
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use pn_bindings::UnixTime;
    use pn_numbers::E164;

    use super::*;

    /// A store that refuses with `Internal` while `failing` is set, and remembers what it stored, in order.
    #[derive(Clone, Default)]
    struct Fake {
        failing: Arc<Mutex<bool>>,
        stored: Arc<Mutex<Vec<(BindingId, String)>>>,
        gone: Arc<Mutex<Vec<BindingId>>>,
    }

    impl CallbackStore for Fake {
        fn put(
            &self,
            record: CallbackRecord,
        ) -> impl Future<Output = Result<(), ProvisionError>> + Send + 'static {
            let result = if *self.failing.lock().unwrap() {
                Err(ProvisionError::Internal)
            } else if self.gone.lock().unwrap().contains(&record.binding) {
                Err(ProvisionError::NotFound("gone".into()))
            } else {
                self.stored
                    .lock()
                    .unwrap()
                    .push((record.binding, record.last_caller.to_string()));
                Ok(())
            };
            std::future::ready(result)
        }
    }

    fn e164(s: &str) -> E164 {
        pn_numbers::normalize(s).unwrap()
    }

    fn record(binding: u64, caller: &str, expires_at: Option<i64>) -> CallbackRecord {
        CallbackRecord {
            binding: BindingId(binding),
            x: e164("+8617000000001"),
            a: e164("+8613800000001"),
            last_caller: e164(caller),
            expires_at: expires_at.map(UnixTime),
        }
    }

    async fn settle() {
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn records_are_stored_in_order() {
        let fake = Fake::default();
        let (sink, task) = start(fake.clone(), 16);
        sink.push(record(1, "+8613900000001", None));
        sink.push(record(2, "+8613900000002", None));
        sink.push(record(1, "+8613900000003", None));
        drop(sink);
        task.await.unwrap();
        let stored = fake.stored.lock().unwrap().clone();
        assert_eq!(
            stored,
            vec![
                (BindingId(1), "+8613900000001".to_owned()),
                (BindingId(2), "+8613900000002".to_owned()),
                (BindingId(1), "+8613900000003".to_owned()),
            ]
        );
    }

    #[tokio::test]
    async fn a_record_the_store_refuses_is_retried_until_stored_and_the_newest_caller_wins() {
        let fake = Fake::default();
        *fake.failing.lock().unwrap() = true;
        let (sink, task) = start(fake.clone(), 16);
        sink.push(record(1, "+8613900000001", None));
        sink.push(record(2, "+8613900000002", None));
        settle().await;
        // While both wait for a retry, a newer caller of binding 1 arrives: it replaces the older record.
        sink.push(record(1, "+8613900000003", None));
        settle().await;
        assert!(fake.stored.lock().unwrap().is_empty());
        tokio::time::sleep(RETRY_MIN * 3).await;
        assert!(
            fake.stored.lock().unwrap().is_empty(),
            "stored while the store fails"
        );
        *fake.failing.lock().unwrap() = false;
        tokio::time::sleep(RETRY_MAX + RETRY_MIN).await;
        drop(sink);
        task.await.unwrap();
        let mut stored = fake.stored.lock().unwrap().clone();
        stored.sort();
        assert_eq!(
            stored,
            vec![
                (BindingId(1), "+8613900000003".to_owned()),
                (BindingId(2), "+8613900000002".to_owned()),
            ],
            "both bindings' newest callers stored once the store works again, the superseded one never"
        );
    }

    #[tokio::test]
    async fn expired_and_unbound_records_are_dropped() {
        let fake = Fake::default();
        fake.gone.lock().unwrap().push(BindingId(3));
        *fake.failing.lock().unwrap() = true;
        let (sink, task) = start(fake.clone(), 16);
        let past = unix_now().0 - 1;
        sink.push(record(1, "+8613900000001", Some(past)));
        sink.push(record(2, "+8613900000002", Some(unix_now().0 + 3600)));
        settle().await;
        *fake.failing.lock().unwrap() = false;
        sink.push(record(3, "+8613900000003", None));
        tokio::time::sleep(RETRY_MIN * 3).await;
        drop(sink);
        task.await.unwrap();
        let stored = fake.stored.lock().unwrap().clone();
        assert_eq!(stored, vec![(BindingId(2), "+8613900000002".to_owned())]);
    }

    #[tokio::test]
    async fn stopping_tries_once_more_what_waits_for_its_retry() {
        let fake = Fake::default();
        *fake.failing.lock().unwrap() = true;
        let (sink, task) = start(fake.clone(), 16);
        sink.push(record(1, "+8613900000001", None));
        settle().await;
        *fake.failing.lock().unwrap() = false;
        // Stopped before the retry time (100 ms): the record is tried once more, not lost.
        drop(sink);
        tokio::time::timeout(Duration::from_millis(50), task)
            .await
            .expect("the task ends at once")
            .unwrap();
        assert_eq!(
            fake.stored.lock().unwrap().clone(),
            vec![(BindingId(1), "+8613900000001".to_owned())]
        );
    }

    #[tokio::test]
    async fn stopping_ends_the_task_even_while_the_store_fails() {
        let fake = Fake::default();
        *fake.failing.lock().unwrap() = true;
        let (sink, task) = start(fake.clone(), 16);
        sink.push(record(1, "+8613900000001", None));
        settle().await;
        drop(sink);
        tokio::time::timeout(Duration::from_secs(2), task)
            .await
            .expect("the task ends once the sinks are gone")
            .unwrap();
        assert!(fake.stored.lock().unwrap().is_empty());
    }
}
