//! From the receive loops to the shards: pick the shard of a parsed message ([`pn_b2bua::shard_for`]) and
//! hand it over without blocking. A message waits in its shard's queue with the time it was queued: a shard
//! that reads a new INVITE which waited longer than `sip.overload_queue_delay_ms` refuses it at once (503,
//! cause 522, `Retry-After`). From then until its queue delay is back under a quarter of that, the shard is
//! *behind* (a flag per shard, [`Behind`]): new INVITEs for it are answered that way here, by the receive loop,
//! without being queued, so the shard spends its time on the calls it took and on in-dialog requests. When a
//! shard's queue is full, a new INVITE is answered the same way; anything else is dropped and counted (its
//! sender retransmits).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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

/// The To-tag prefix of the stateless 503s.
const OVERLOAD_TAG: &str = "pn503-";

/// A fresh To tag for a stateless 503.
fn overload_tag() -> String {
    static TAGS: AtomicU64 = AtomicU64::new(1);
    format!("{OVERLOAD_TAG}{}", TAGS.fetch_add(1, Ordering::Relaxed))
}

/// Whether `message` is the ACK of a stateless 503 (its To tag is one [`overload_tag`] made): nothing waits
/// for it, so the receive loop absorbs it instead of queueing it for a shard that is behind.
fn acks_a_stateless_503(message: &SipMessage) -> bool {
    message.as_request().is_some_and(|r| {
        r.method() == &pn_sip::Method::Ack
            && r.headers()
                .to()
                .is_ok_and(|to| to.tag().is_some_and(|t| t.starts_with(OVERLOAD_TAG)))
    })
}

/// By shard: whether it is behind (set and cleared by the shard from its queue delay, read by the receive
/// loops).
#[derive(Clone, Debug, Default)]
pub(crate) struct Behind(Arc<[AtomicBool]>);

impl Behind {
    /// Flags for `shards` shards, none behind.
    pub(crate) fn new(shards: usize) -> Self {
        Self((0..shards).map(|_| AtomicBool::new(false)).collect())
    }

    /// Whether shard `index` is behind.
    pub(crate) fn is_behind(&self, index: usize) -> bool {
        self.0.get(index).is_some_and(|f| f.load(Ordering::Relaxed))
    }

    /// Sets shard `index`'s flag.
    pub(crate) fn set(&self, index: usize, behind: bool) {
        if let Some(f) = self.0.get(index)
            && f.load(Ordering::Relaxed) != behind
        {
            f.store(behind, Ordering::Relaxed);
        }
    }
}

/// Slots of [`RecentInvites`] (128 KiB for the whole switch): at 4,000 new INVITEs/s they remember about the
/// last 4 s, past the caller's first retransmissions (0.5, 1.5 and 3.5 s after its INVITE).
const RECENT_INVITES: usize = 1 << 14;

/// The new INVITEs queued lately, as hashes of their Call-ID and top Via branch in a direct-mapped table. A
/// caller that heard nothing yet retransmits its INVITE; if that copy arrives while the shard is behind, it
/// must still reach the shard (whose transaction absorbs it) rather than get a stateless 503 of its own: the
/// caller would give up on a call the switch is placing. A slot overwritten by a newer INVITE only forgets
/// (that retransmission is refused as before); a false match needs a 64-bit collision.
#[derive(Clone)]
struct RecentInvites {
    slots: Arc<[AtomicU64]>,
    hasher: std::hash::RandomState,
}

impl RecentInvites {
    fn new() -> Self {
        Self {
            slots: (0..RECENT_INVITES).map(|_| AtomicU64::new(0)).collect(),
            hasher: std::hash::RandomState::new(),
        }
    }

    /// The key of a new INVITE (never 0, the empty slot).
    fn key(&self, message: &SipMessage) -> Option<u64> {
        let h = message.headers();
        let call_id = h.get("Call-ID")?;
        let via = h.top_via().ok()?;
        let branch = via.branch()?;
        Some(std::hash::BuildHasher::hash_one(&self.hasher, (call_id, branch)).max(1))
    }

    fn slot(&self, key: u64) -> &AtomicU64 {
        // The low bits of a hash pick the slot; the truncation keeps them.
        #[allow(clippy::cast_possible_truncation)]
        &self.slots[(key as usize) & (RECENT_INVITES - 1)]
    }

    fn remember(&self, key: u64) {
        self.slot(key).store(key, Ordering::Relaxed);
    }

    fn contains(&self, key: u64) -> bool {
        self.slot(key).load(Ordering::Relaxed) == key
    }
}

impl std::fmt::Debug for RecentInvites {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecentInvites")
            .field("slots", &self.slots.len())
            .finish_non_exhaustive()
    }
}

/// Whether `message` is a new INVITE (no To tag): what overload refuses.
fn is_new_invite(message: &SipMessage) -> bool {
    message.as_request().is_some_and(|r| {
        r.method() == &pn_sip::Method::Invite && r.headers().to().is_ok_and(|to| to.tag().is_none())
    })
}

/// The shards' queues, shared by every receive loop (clone freely).
#[derive(Clone)]
pub(crate) struct Dispatch {
    shards: Vec<mpsc::Sender<Inbound>>,
    /// Which shards are behind.
    behind: Behind,
    /// New INVITEs queued lately (their retransmissions are never refused here).
    recent: RecentInvites,
    /// New INVITEs answered 503 here because their shard was behind.
    refused_behind: IntCounter,
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
        (behind, refused_behind): (Behind, IntCounter),
        overload: IntCounter,
        refused: IntCounter,
        retry_after_secs: u32,
    ) -> Self {
        Self {
            shards,
            behind,
            recent: RecentInvites::new(),
            refused_behind,
            overload,
            refused,
            retry_after_secs,
        }
    }

    /// Hands `message` to its shard. When that shard's queue is full (or the shard stopped), a new INVITE gets
    /// the bytes of its 503 back for the caller to send to `from`; anything else is dropped (counted).
    #[must_use = "the 503 of a refused INVITE must be sent"]
    pub(crate) fn dispatch(&self, from: Peer, message: SipMessage) -> Option<Vec<u8>> {
        self.dispatch_received(from, message, Instant::now())
    }

    /// [`Dispatch::dispatch`] for a message that arrived at `received_at` (its queue delay starts there: the
    /// UDP receive loops give the kernel's receive time).
    #[must_use = "the 503 of a refused INVITE must be sent"]
    pub(crate) fn dispatch_received(
        &self,
        from: Peer,
        message: SipMessage,
        received_at: Instant,
    ) -> Option<Vec<u8>> {
        let count = u16::try_from(self.shards.len()).unwrap_or(u16::MAX);
        let index = usize::from(pn_b2bua::shard_for(&message, count));
        let shard = self.shards.get(index).or_else(|| self.shards.first())?;
        if acks_a_stateless_503(&message) {
            return None;
        }
        let new_invite = is_new_invite(&message).then(|| self.recent.key(&message));
        if let Some(key) = new_invite
            && self.behind.is_behind(index)
            && !key.is_some_and(|k| self.recent.contains(k))
        {
            let answer = message
                .as_request()
                .and_then(|r| pn_b2bua::overload_answer(r, &overload_tag(), self.retry_after_secs));
            if answer.is_some() {
                self.refused_behind.inc();
                return answer;
            }
        }
        let queued = Inbound::Message {
            from,
            message,
            queued_at: received_at,
        };
        let Err(full) = shard.try_send(queued) else {
            if let Some(Some(key)) = new_invite {
                self.recent.remember(key);
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn message(text: &str) -> SipMessage {
        SipMessage::parse(text.as_bytes()).unwrap()
    }

    fn invite(to_tag: &str) -> SipMessage {
        message(&format!(
            "INVITE sip:+8617000000001@127.0.0.1 SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1\r\n\
             From: <sip:+8613800000001@127.0.0.1>;tag=a1\r\n\
             To: <sip:+8617000000001@127.0.0.1>{to_tag}\r\n\
             Call-ID: c1@127.0.0.1\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        ))
    }

    #[test]
    fn a_shard_behind_gets_no_new_invite_but_every_in_dialog_request() {
        let (tx, mut rx) = mpsc::channel(16);
        let behind = Behind::new(1);
        let refused_behind = IntCounter::new("b", "b").unwrap();
        let d = Dispatch::new(
            vec![tx],
            (behind.clone(), refused_behind.clone()),
            IntCounter::new("o", "o").unwrap(),
            IntCounter::new("r", "r").unwrap(),
            2,
        );
        let from = Peer {
            addr: "127.0.0.1:5070".parse().unwrap(),
            transport: pn_b2bua::Transport::Udp,
        };
        assert!(d.dispatch(from, invite("")).is_none(), "queued");
        assert!(rx.try_recv().is_ok());
        behind.set(0, true);
        // Its retransmission still reaches the shard (whose transaction absorbs it).
        assert!(
            d.dispatch(from, invite("")).is_none(),
            "a retransmission is queued"
        );
        assert!(rx.try_recv().is_ok());
        let other = SipMessage::parse(
            String::from_utf8(invite("").to_bytes())
                .unwrap()
                .replace("c1@127.0.0.1", "c2@127.0.0.1")
                .as_bytes(),
        )
        .unwrap();
        let answer = String::from_utf8(d.dispatch(from, other).expect("a 503")).unwrap();
        assert!(answer.starts_with("SIP/2.0 503 "), "{answer}");
        assert!(answer.contains("Retry-After: 2\r\n"), "{answer}");
        assert!(rx.try_recv().is_err(), "the refused INVITE was not queued");
        assert_eq!(refused_behind.get(), 1);
        // A re-INVITE (in a dialog) still reaches the shard.
        assert!(d.dispatch(from, invite(";tag=b2")).is_none());
        assert!(rx.try_recv().is_ok());
        behind.set(0, false);
        assert!(d.dispatch(from, invite("")).is_none());
        assert!(rx.try_recv().is_ok());
        // The ACK of a stateless 503 is absorbed here; any other ACK goes on to the shard.
        let ack = |tag: &str| {
            message(&format!(
                "ACK sip:+8617000000001@127.0.0.1 SIP/2.0\r\n\
                 Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1\r\n\
                 From: <sip:+8613800000001@127.0.0.1>;tag=a1\r\n\
                 To: <sip:+8617000000001@127.0.0.1>;tag={tag}\r\n\
                 Call-ID: c1@127.0.0.1\r\nCSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
            ))
        };
        assert!(d.dispatch(from, ack(&overload_tag())).is_none());
        assert!(rx.try_recv().is_err(), "absorbed");
        assert!(d.dispatch(from, ack("b2")).is_none());
        assert!(rx.try_recv().is_ok(), "queued");
    }
}
