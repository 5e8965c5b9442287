//! From the receive loops to the shards: pick the shard of a parsed message ([`pn_b2bua::shard_for`]) and
//! hand it over without blocking.

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
    /// Finish: stop taking messages and end the thread.
    Stop,
}

/// The shards' queues, shared by every receive loop (clone freely).
#[derive(Clone)]
pub(crate) struct Dispatch {
    shards: Vec<mpsc::Sender<Inbound>>,
    /// Messages dropped because their shard's queue was full.
    overload: IntCounter,
}

impl Dispatch {
    /// A dispatcher over these shard queues.
    pub(crate) fn new(shards: Vec<mpsc::Sender<Inbound>>, overload: IntCounter) -> Self {
        Self { shards, overload }
    }

    /// Hands `message` to its shard; drops it (counted) when that shard is overloaded or stopped.
    pub(crate) fn dispatch(&self, from: Peer, message: SipMessage) {
        let count = u16::try_from(self.shards.len()).unwrap_or(u16::MAX);
        let index = usize::from(pn_b2bua::shard_for(&message, count));
        let Some(shard) = self.shards.get(index).or_else(|| self.shards.first()) else {
            return;
        };
        if shard.try_send(Inbound::Message { from, message }).is_err() {
            self.overload.inc();
        }
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
        for shard in &self.shards {
            let _ = shard.send(Inbound::Stop).await;
        }
    }
}
