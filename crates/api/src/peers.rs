//! A recording asked for by name (`GET /rest/provision/voice/record/v1.0?fileName=`) that is not on this
//! node's disk: the other live nodes of the cluster (`pn_nodes` rows seen within the lease, through
//! [`pn_store::Store::live_nodes`]) are asked whether they hold it, at most `fan_out` at a time, the whole
//! search bounded by one timeout.
//!
//! The question is the holder's own signed file URL (`HEAD {api_url}{FILE_PATH}/{app}/{object}?expires=…
//! &node={peer}&signature=…`, signed with the URL signing key every node shares, marked
//! `x-pnswitch-proxied` so the peer answers from its own disk only): a customer cannot forge it, and a
//! peer learns nothing it would not serve to that URL anyway. 200: the peer holds it; 404: it does not;
//! anything else (unreachable, refused, a 403 from a peer with another key, the timeout) leaves the answer
//! unknown.

use std::time::Duration;

use pn_bindings::AppId;
use pn_provision::RecordingStore;
use tokio::task::JoinSet;

use crate::proxy::{PROXIED, RecordingProxy, node_name_ok};
use crate::state::ApiState;

/// How the other nodes are searched for a recording (`[cluster]` config).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerLookup {
    /// The whole search: the node list, then every question (`cluster.lookup_timeout_ms`).
    pub timeout: Duration,
    /// Nodes asked at once (`cluster.lookup_fan_out`, at least 1).
    pub fan_out: usize,
    /// A node whose last heartbeat is older than this (seconds) is dead and not asked
    /// (`cluster.lease_secs`).
    pub lease_secs: u64,
}

impl Default for PeerLookup {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(2),
            fan_out: 8,
            lease_secs: 10,
        }
    }
}

/// What the search found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Search {
    /// The named node holds the recording.
    Held(String),
    /// Every live node answered that it does not hold it (or there is none).
    Nowhere,
    /// No node said it holds it, but at least one did not answer (or the node list could not be read, or
    /// the timeout ran out): the recording may exist on a node that cannot be reached now.
    Unknown,
}

/// Searches the other live nodes for `object` of `app` (see the module docs); bounded by the lookup
/// timeout.
pub(crate) async fn search(
    s: &ApiState,
    proxy: &RecordingProxy,
    recordings: &RecordingStore,
    app: AppId,
    object: &str,
) -> Search {
    let lookup = proxy.lookup();
    let asked = ask_all(s, proxy, recordings, app, object);
    if let Ok(found) = tokio::time::timeout(lookup.timeout, asked).await {
        found
    } else {
        tracing::warn!(%object, timeout = ?lookup.timeout, "recording search: the other nodes did not all answer in time");
        Search::Unknown
    }
}

/// The node list, then the questions, `fan_out` at a time; the first holder ends the search (the questions
/// still running are aborted with the set).
async fn ask_all(
    s: &ApiState,
    proxy: &RecordingProxy,
    recordings: &RecordingStore,
    app: AppId,
    object: &str,
) -> Search {
    let lookup = proxy.lookup();
    let store = s.store().clone();
    let lease = lookup.lease_secs;
    let peers = match tokio::task::spawn_blocking(move || store.live_nodes(lease)).await {
        Ok(Ok(peers)) => peers,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "recording search: the live nodes could not be read");
            return Search::Unknown;
        }
        Err(_) => return Search::Unknown,
    };
    let now = s.now();
    let mut waiting = peers
        .into_iter()
        .filter(|p| node_name_ok(&p.node))
        .map(|p| {
            let path = recordings.signed_path(app, object, now, Some(&p.node));
            let url = format!("{}{path}", p.api_url.trim_end_matches('/'));
            (p.node, url)
        })
        .collect::<Vec<_>>()
        .into_iter();
    let mut asking = JoinSet::new();
    let mut unknown = false;
    loop {
        while asking.len() < lookup.fan_out.max(1) {
            let Some((node, url)) = waiting.next() else {
                break;
            };
            let client = proxy.client().clone();
            asking.spawn(async move {
                let answer = client.head(&url).header(PROXIED, "1").send().await;
                (node, answer.map(|a| a.status().as_u16()))
            });
        }
        let Some(done) = asking.join_next().await else {
            break;
        };
        match done {
            Ok((node, Ok(200))) => return Search::Held(node),
            Ok((_, Ok(404))) => {}
            Ok((node, other)) => {
                tracing::warn!(%node, %object, answer = ?other.map_err(|e| e.to_string()), "recording search: a node did not answer");
                unknown = true;
            }
            Err(_) => unknown = true,
        }
    }
    if unknown { Search::Unknown } else { Search::Nowhere }
}
