//! From the receive loops to the shards: pick the shard of a parsed message ([`pn_b2bua::shard_for`]) and
//! hand it over without blocking. A message waits in its shard's queue with the time it was queued: a shard
//! that reads a new INVITE which waited longer than `sip.overload_queue_delay_ms` refuses it at once (503,
//! cause 522, `Retry-After`). When a shard's queue is full, a new INVITE is answered that way here, by the
//! receive loop; anything else is dropped and counted (its sender retransmits).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use pn_b2bua::Peer;
use pn_sip::SipMessage;
use prometheus::IntCounter;
use tokio::sync::{mpsc, oneshot};

/// What a shard receives.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // `Stop` is sent once per shard; boxing every message would cost an allocation
pub(crate) enum Inbound {
    /// A parsed message from a peer.
    Message {
        /// Its real source (address and transport).
        from: Peer,
        /// The message.
        message: SipMessage,
        /// When it was queued (the shard's overload signal).
        queued_at: Instant,
    },
    /// The call-stop API: stop the call with this `sessionId` if `app` owns it, and say what was done.
    StopCall {
        /// The app asking.
        app: pn_bindings::AppId,
        /// The call's `sessionId`.
        session_id: String,
        /// Where the outcome goes.
        reply: oneshot::Sender<pn_b2bua::StopResult>,
    },
    /// The switch is stopping: refuse new calls (503, cause 7509, this `Retry-After`) and answer OPTIONS
    /// probes 503, while the calls in progress go on.
    Drain {
        /// The refusals' `Retry-After`.
        retry_after_secs: u32,
    },
    /// The drain time ran out: release every call still up on both legs (cause 7509).
    ReleaseAll,
    /// SIGHUP: new trunks (egress targets and trusted peers) for calls placed from now on.
    Trunks {
        /// `[[sip.trunks]]` and `sip.b2bua.egress`, one set shared by every shard.
        trunks: std::sync::Arc<pn_b2bua::TrunkSet>,
        /// `sip.b2bua.trusted_peers`.
        trusted_peers: Vec<ipnet::IpNet>,
    },
    /// Finish: stop taking messages and end the thread.
    Stop,
}

/// A fresh To tag for a stateless 503.
fn overload_tag() -> String {
    static TAGS: AtomicU64 = AtomicU64::new(1);
    format!("pn503-{}", TAGS.fetch_add(1, Ordering::Relaxed))
}

/// The shards' queues, shared by every receive loop (clone freely).
#[derive(Clone)]
pub(crate) struct Dispatch {
    shards: Vec<mpsc::Sender<Inbound>>,
    /// Messages dropped because their shard's queue was full.
    overload: IntCounter,
    /// New INVITEs answered 503 here because their shard's queue was full.
    refused: IntCounter,
    /// The `Retry-After` of those answers.
    retry_after_secs: u32,
}

impl Dispatch {
    /// A dispatcher over these shard queues.
    pub(crate) fn new(
        shards: Vec<mpsc::Sender<Inbound>>,
        overload: IntCounter,
        refused: IntCounter,
        retry_after_secs: u32,
    ) -> Self {
        Self {
            shards,
            overload,
            refused,
            retry_after_secs,
        }
    }

    /// Hands `message` to its shard. When that shard's queue is full (or the shard stopped), a new INVITE gets
    /// the bytes of its 503 back for the caller to send to `from`; anything else is dropped (counted).
    #[must_use = "the 503 of a refused INVITE must be sent"]
    pub(crate) fn dispatch(&self, from: Peer, message: SipMessage) -> Option<Vec<u8>> {
        let count = u16::try_from(self.shards.len()).unwrap_or(u16::MAX);
        let index = usize::from(pn_b2bua::shard_for(&message, count));
        let shard = self.shards.get(index).or_else(|| self.shards.first())?;
        let queued = Inbound::Message {
            from,
            message,
            queued_at: Instant::now(),
        };
        let Err(full) = shard.try_send(queued) else {
            return None;
        };
        let (mpsc::error::TrySendError::Full(Inbound::Message { message, .. })
        | mpsc::error::TrySendError::Closed(Inbound::Message { message, .. })) = full
        else {
            return None;
        };
        let answer = message
            .as_request()
            .and_then(|r| pn_b2bua::overload_answer(r, &overload_tag(), self.retry_after_secs));
        if answer.is_some() {
            self.refused.inc();
        } else {
            self.overload.inc();
        }
        answer
    }

    /// Hands a call-stop request to the shard that made `session_id` ([`pn_b2bua::session_shard`]) and waits
    /// for its answer; `None` when that shard is stopped. A `sessionId` naming no shard finds no call.
    pub(crate) async fn stop_call(
        &self,
        app: pn_bindings::AppId,
        session_id: &str,
    ) -> Option<pn_b2bua::StopResult> {
        let Some(shard) = pn_b2bua::session_shard(session_id).and_then(|i| self.shards.get(usize::from(i)))
        else {
            return Some(pn_b2bua::StopResult::NotFound);
        };
        let (reply, answer) = oneshot::channel();
        let request = Inbound::StopCall {
            app,
            session_id: session_id.to_owned(),
            reply,
        };
        shard.send(request).await.ok()?;
        answer.await.ok()
    }

    /// Asks every shard to stop (waits for room in each queue).
    pub(crate) async fn stop(&self) {
        self.broadcast(|| Inbound::Stop).await;
    }

    /// Sends `make()` to every shard (waits for room in each queue).
    pub(crate) async fn broadcast(&self, make: impl Fn() -> Inbound) {
        for shard in &self.shards {
            let _ = shard.send(make()).await;
        }
    }
}
