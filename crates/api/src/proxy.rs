//! A recording downloaded through a node that does not hold it: the signed URL names the holder node
//! (`&node=…`, under the signature); a node that finds no such file fetches it from the holder's API
//! (`pn_nodes.api_url`, through [`pn_store::Store::node_api_url`]) and streams it back.
//!
//! Only a request whose signature verified gets here (never an unsigned or expired one), a request that was
//! itself proxied is never proxied again (the `x-pnswitch-proxied` header: no loops between misconfigured
//! nodes), and the fetch is bounded: a connect timeout and a timeout on every read of the holder's answer.

use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use pn_bindings::AppId;
use pn_provision::media::recordings::FILE_PATH;

use crate::result::{ApiFailure, ResultCode};
use crate::state::ApiState;

/// The header a proxied request carries; a node receiving it answers from its own disk only.
pub(crate) const PROXIED: &str = "x-pnswitch-proxied";

/// The HTTP client that fetches recordings from the nodes holding them (see the `proxy` module's docs).
#[derive(Clone, Debug)]
pub struct RecordingProxy {
    /// No redirects; connect and per-read timeouts.
    client: reqwest::Client,
    /// How a recording asked for by name is searched for on the other nodes (`peers.rs`).
    lookup: crate::peers::PeerLookup,
}

impl RecordingProxy {
    /// A proxy whose fetches give up after `connect` to reach the holder, or `read` without a byte from it;
    /// the search of the other nodes has [`PeerLookup::default`](crate::PeerLookup) settings.
    pub fn new(connect: Duration, read: Duration) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .connect_timeout(connect)
            .read_timeout(read)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            client,
            lookup: crate::peers::PeerLookup::default(),
        })
    }

    /// The same proxy searching the other nodes with `lookup`.
    #[must_use]
    pub fn with_lookup(mut self, lookup: crate::peers::PeerLookup) -> Self {
        self.lookup = lookup;
        self
    }

    /// The search settings.
    pub(crate) fn lookup(&self) -> crate::peers::PeerLookup {
        self.lookup
    }

    /// The HTTP client.
    pub(crate) fn client(&self) -> &reqwest::Client {
        &self.client
    }
}

/// What a signed URL names: the recording, its signed expiry and signature, and the holder node.
pub(crate) struct SignedRecording {
    /// The app.
    pub(crate) app: AppId,
    /// The recording object.
    pub(crate) object: String,
    /// The signed expiry (Unix seconds).
    pub(crate) expires: i64,
    /// The signature (hex).
    pub(crate) signature: String,
    /// The holder node, when the URL names one.
    pub(crate) node: Option<String>,
}

/// Whether `node` is an acceptable node name: `[A-Za-z0-9_.-]`, 1–64 characters.
pub(crate) fn node_name_ok(node: &str) -> bool {
    (1..=64).contains(&node.len())
        && node
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// Whether a recording missing here may be fetched from its holder: a holder is named, it is not this node,
/// this request was not proxied already, and a proxy is configured.
pub(crate) fn should_proxy(s: &ApiState, headers: &HeaderMap, target: &SignedRecording) -> bool {
    let Some(holder) = target.node.as_deref() else {
        return false;
    };
    let mine = s.recordings().and_then(|r| r.node());
    s.recording_proxy().is_some() && mine != Some(holder) && !headers.contains_key(PROXIED)
}

/// The recording of `target` fetched from its holder, streamed back (`audio/wav`). The holder unknown or
/// its answer 404: 1012007; unreachable, timed out or any other answer: 1010001.
pub(crate) async fn fetch(s: &ApiState, target: &SignedRecording) -> Result<Response, ApiFailure> {
    let gone = || ApiFailure::new(ResultCode::FILE_NOT_FOUND, "The record does not exist.");
    let unreachable = |why: &str| {
        tracing::warn!(node = ?target.node, object = %target.object, why, "recording proxy failed");
        ApiFailure::new(
            ResultCode::INTERNAL,
            "Internal system error: the node holding the recording did not answer",
        )
    };
    let (Some(proxy), Some(holder)) = (s.recording_proxy(), target.node.clone()) else {
        return Err(gone());
    };
    let store = s.store().clone();
    let lookup = holder.clone();
    let base = tokio::task::spawn_blocking(move || store.node_api_url(&lookup))
        .await
        .map_err(|_| unreachable("lookup task failed"))?
        .map_err(|e| unreachable(&e.to_string()))?
        .ok_or_else(gone)?;
    let url = format!(
        "{}{FILE_PATH}/{}/{}?expires={}&node={holder}&signature={}",
        base.trim_end_matches('/'),
        target.app.0,
        target.object,
        target.expires,
        target.signature
    );
    let answer = proxy
        .client
        .get(&url)
        .header(PROXIED, "1")
        .send()
        .await
        .map_err(|e| unreachable(&e.to_string()))?;
    match answer.status().as_u16() {
        200 => {}
        404 => return Err(gone()),
        other => return Err(unreachable(&format!("holder answered {other}"))),
    }
    let mut headers = vec![(header::CONTENT_TYPE, HeaderValue::from_static("audio/wav"))];
    if let Some(len) = answer.content_length() {
        headers.push((header::CONTENT_LENGTH, HeaderValue::from(len)));
    }
    let chunks = futures_util::stream::unfold(Some(answer), |answer| async move {
        let mut answer = answer?;
        match answer.chunk().await {
            Ok(Some(bytes)) => Some((Ok(bytes), Some(answer))),
            Ok(None) => None,
            // The client sees a cut body (its length is short of Content-Length); nothing follows.
            Err(e) => Some((Err(e), None)),
        }
    });
    let mut resp = Body::from_stream(chunks).into_response();
    resp.headers_mut().extend(headers);
    Ok(resp)
}
