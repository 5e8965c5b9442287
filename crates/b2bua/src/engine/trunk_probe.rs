//! OPTIONS health probes of the egress trunks, sent by shard 0 only (one prober whatever the shard count):
//! every trunk with `probe_interval_secs > 0` gets an out-of-dialog OPTIONS each interval (a client
//! transaction: retransmitted over UDP, Timer F = 64 × T1 for no answer; no new probe while one is
//! outstanding). The verdict ([`crate::ProbeHealth`]: down after `probe_failures` failures, up after one
//! good answer) goes to the shared [`crate::TrunkSet`], where every shard reads it when it places a B leg.
//! The runtime starts the probes with [`B2bua::start_trunk_probes`] (at start and after a reload).

use std::sync::Arc;
use std::time::{Duration, Instant};

use pn_sip::{Method, NameAddr, Request, Uri};

use crate::clock::Clock;
use crate::engine::B2bua;
use crate::transactions::{ClientRole, Id, Slot};
use crate::trunks::{ProbeHealth, TrunkSet};

/// The prober's state (shard 0 only).
#[derive(Debug)]
pub(super) struct TrunkProbes {
    /// The trunk set probed (a reload starts a new prober).
    set: Arc<TrunkSet>,
    /// By trunk: its health.
    health: Vec<ProbeHealth>,
    /// By trunk: the outstanding probe's client transaction.
    pending: Vec<Option<Id>>,
    /// By trunk: when its next probe is due (`None`: not probed).
    due: Vec<Option<Instant>>,
    /// The armed deadline.
    scheduled: Option<Instant>,
}

impl B2bua {
    /// Starts (or restarts, after [`B2bua::set_trunks`]) the OPTIONS probes of the current trunks, the first
    /// at `now`. Only shard 0 probes; on other shards this does nothing. Trunks without probes stay up.
    pub fn start_trunk_probes(&mut self, now: Instant) {
        if self.shard.index != 0 {
            return;
        }
        if let Some(mut old) = self.trunk_probes.take() {
            self.deadlines.update(Slot::TrunkProbe, &mut old.scheduled, None);
        }
        let set = Arc::clone(&self.trunks);
        let trunks = set.trunks();
        if trunks.iter().all(|t| t.probe_interval_secs == 0) {
            return;
        }
        let probes = TrunkProbes {
            health: trunks
                .iter()
                .map(|t| ProbeHealth::new(t.probe_failures))
                .collect(),
            pending: vec![None; trunks.len()],
            due: trunks
                .iter()
                .map(|t| (t.probe_interval_secs > 0).then_some(now))
                .collect(),
            scheduled: None,
            set,
        };
        self.trunk_probes = Some(Box::new(probes));
        self.schedule_trunk_probes();
    }

    fn schedule_trunk_probes(&mut self) {
        if let Some(p) = self.trunk_probes.as_mut() {
            let next = p.due.iter().flatten().min().copied();
            self.deadlines.update(Slot::TrunkProbe, &mut p.scheduled, next);
        }
    }

    /// The probe timer: sends the probes that are due.
    pub(super) fn trunk_probe_timer(&mut self, c: Clock) {
        let Some(p) = self.trunk_probes.as_mut() else {
            return;
        };
        p.scheduled = None;
        let mut send = Vec::new();
        for (i, due) in p.due.iter_mut().enumerate() {
            if due.is_some_and(|d| d <= c.now) {
                let interval = p.set.get(i).map_or(0, |t| t.probe_interval_secs);
                *due = c.now.checked_add(Duration::from_secs(interval.max(1)));
                if p.pending[i].is_none() {
                    send.push(i);
                }
            }
        }
        for i in send {
            let Some(peer) = self
                .trunk_probes
                .as_ref()
                .and_then(|p| p.set.get(i))
                .map(crate::TrunkConfig::peer)
            else {
                continue;
            };
            let Some(options) = self.trunk_options(c, peer) else {
                continue;
            };
            if let Ok(tx) = self.new_client_tx(c, peer, options, None, ClientRole::TrunkProbe { trunk: i }) {
                if let Some(p) = self.trunk_probes.as_mut() {
                    p.pending[i] = Some(tx);
                }
            }
        }
        self.schedule_trunk_probes();
    }

    /// An out-of-dialog OPTIONS to `peer`.
    fn trunk_options(&mut self, c: Clock, peer: crate::Peer) -> Option<Request> {
        let host = match peer.addr {
            std::net::SocketAddr::V4(a) => a.ip().to_string(),
            std::net::SocketAddr::V6(a) => format!("[{}]", a.ip()),
        };
        let mut ruri = Uri::sip(None, &host, Some(peer.addr.port()));
        if peer.transport == crate::Transport::Tcp {
            ruri.set_param("transport", Some("tcp"));
        }
        let tag = self.new_tag(c);
        let from =
            NameAddr::new(Uri::sip(Some("pnswitch"), &self.local_host, self.local_port)).with_tag(&tag);
        let to = NameAddr::new(ruri.clone());
        let call_id = self.new_call_id(c);
        let via = self.new_via(c, peer.transport);
        Request::builder(Method::Options, ruri)
            .via(&via)
            .from(&from)
            .to(&to)
            .call_id(&call_id)
            .cseq(1)
            .max_forwards(70)
            .build()
            .ok()
    }

    /// A probe's outcome (`status`: its final answer, `None`: Timer F).
    pub(super) fn trunk_probed(&mut self, tx: Id, trunk: usize, status: Option<u16>) {
        let Some(p) = self.trunk_probes.as_mut() else {
            return;
        };
        if p.pending.get(trunk).copied().flatten() != Some(tx) {
            return; // a probe of an earlier trunk set
        }
        p.pending[trunk] = None;
        let up = p.health[trunk].probed(status);
        p.set.set_up(trunk, up);
    }
}
