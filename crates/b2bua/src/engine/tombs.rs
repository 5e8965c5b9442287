//! Transactions a call leaves waiting out their RFC timers: listed in the call while it lives, turned into
//! tombs ([`crate::tombs`]) once it is gone, and what a tomb answers.

use pn_sip::{Request, Response};

use super::B2bua;
use crate::Peer;
use crate::call::WaitingTx;
use crate::tombs::ServerDuty;
use crate::transactions::Id;

impl B2bua {
    /// After server transaction `id` was driven: see [`B2bua::settled`].
    pub(super) fn settled_server(&mut self, id: Id) {
        if let Some(call) = self.txs.server(id).and_then(|e| e.tx.tomb().map(|_| e.call)) {
            self.settled(WaitingTx::Server(id), call);
        }
    }

    /// After client transaction `id` was driven: see [`B2bua::settled`].
    pub(super) fn settled_client(&mut self, id: Id) {
        if let Some(call) = self.txs.client(id).and_then(|e| e.tx.tomb().map(|_| e.call)) {
            self.settled(WaitingTx::Client(id), call);
        }
    }

    /// A transaction that now only waits (of `call`, if any) becomes a tomb if its call is gone, or is listed in
    /// its call, to become one when the call goes.
    fn settled(&mut self, tx: WaitingTx, call: Option<(Id, crate::dialog::Side)>) {
        match call.and_then(|(call, _)| self.calls.get_mut(&call)) {
            Some(call) => call.list_waiting(tx),
            None => match tx {
                WaitingTx::Server(id) => self.entomb_server(id),
                WaitingTx::Client(id) => self.entomb_client(id),
            },
        }
    }

    /// Replaces server transaction `id` by its tomb, if it only waits.
    pub(super) fn entomb_server(&mut self, id: Id) {
        let Some(duty) = self.txs.server(id).and_then(|e| e.tx.tomb()) else {
            return;
        };
        if let Some(e) = self.remove_server(id) {
            self.txs.tombs.bury_server(&e.key, duty.0, duty.1);
        }
    }

    /// Replaces client transaction `id` by its tomb, if it only waits.
    pub(super) fn entomb_client(&mut self, id: Id) {
        let Some(until) = self.txs.client(id).and_then(|e| e.tx.tomb()) else {
            return;
        };
        if let Some(e) = self.remove_client(id) {
            let (branch, method) = &e.key;
            self.txs.tombs.bury_client(branch, method, until);
        }
    }

    /// A request that belongs to a tomb: absorbed, or answered again with the transaction's plain response.
    pub(super) fn tomb_request(&mut self, from: Peer, r: &Request, duty: ServerDuty) {
        if *r.method() == pn_sip::Method::Ack {
            return; // the ACK of a non-2xx answer, retransmitted
        }
        self.stats.retransmissions_received += 1;
        if let ServerDuty::Replay(status) = duty {
            self.stats.retransmissions_sent += 1;
            self.send(from, Response::for_request(r, status).build().into());
        }
    }
}
