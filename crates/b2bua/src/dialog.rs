//! One leg's dialog state (RFC 3261 §12) and the requests built from it: every request sent on a
//! leg takes its identity (Call-ID, tags, URIs, CSeq, route set) from here and nowhere else.

use pn_sip::{Headers, Method, NameAddr, Request, RequestBuilder, Uri, Via};

use crate::Peer;
use crate::privacy::SdpOrigin;

/// Which leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Side {
    /// The caller's leg (pnswitch is UAS).
    A,
    /// The callee's leg (pnswitch is UAC).
    B,
}

impl Side {
    pub(crate) const fn other(self) -> Self {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }

    pub(crate) const fn index(self) -> usize {
        match self {
            Side::A => 0,
            Side::B => 1,
        }
    }
}

/// The dialog state of one leg, from pnswitch's point of view.
#[derive(Debug, Clone)]
pub(crate) struct Leg {
    /// Where this leg's requests go.
    pub peer: Peer,
    /// The Call-ID.
    pub call_id: String,
    /// Our tag.
    pub local_tag: String,
    /// The peer's tag (B: from its first tagged response).
    pub remote_tag: Option<String>,
    /// Our URI on this leg (no tag).
    pub local_uri: NameAddr,
    /// The peer's URI (no tag).
    pub remote_uri: NameAddr,
    /// The peer's Contact (Request-URI of in-dialog requests).
    pub remote_target: Uri,
    /// Route set, in the order Route headers are written.
    pub route_set: Vec<String>,
    /// Our last CSeq number on this leg.
    pub local_cseq: u32,
    /// The SDP identity this leg sees.
    pub sdp: SdpOrigin,
}

impl Leg {
    /// Starts an in-dialog request (ACK reuses `ack_cseq`, others take the next CSeq).
    pub(crate) fn request(&mut self, method: Method, via: &Via, ack_cseq: Option<u32>) -> RequestBuilder {
        let seq = if let Some(seq) = ack_cseq {
            seq
        } else {
            self.local_cseq = self.local_cseq.saturating_add(1);
            self.local_cseq
        };
        let from = self.local_uri.clone().with_tag(&self.local_tag);
        let mut to = self.remote_uri.clone();
        if let Some(tag) = &self.remote_tag {
            to.set_param("tag", Some(tag));
        }
        let mut b = Request::builder(method, self.remote_target.clone())
            .via(via)
            .from(&from)
            .to(&to)
            .call_id(&self.call_id)
            .cseq(seq);
        for route in &self.route_set {
            b = b.header("Route", route);
        }
        b
    }

    /// Learns the peer's tag, target and route set from a response on this leg (B leg, pnswitch UAC):
    /// the route set is the Record-Route reversed.
    pub(crate) fn learn_from_response(&mut self, headers: &Headers) {
        if self.remote_tag.is_none() {
            if let Some(tag) = headers.to().ok().and_then(|t| t.tag().map(str::to_owned)) {
                self.remote_tag = Some(tag);
            }
        }
        if let Some(contact) = headers.contacts().ok().and_then(|c| c.into_iter().next()) {
            self.remote_target = contact.uri().clone();
        }
        let rr: Vec<String> = headers.get_list("Record-Route").map(str::to_owned).collect();
        if !rr.is_empty() {
            self.route_set = rr.into_iter().rev().collect();
        }
    }
}
