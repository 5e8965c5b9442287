//! Per-app flow control and source-IP allow-list of the provisioning API (reference §6.4): an app whose
//! `controls.api` sets `requestsPerSec` gets 1010010 (HTTP 429, `Retry-After`) beyond that rate and its
//! burst (a token bucket per app, governor's GCRA); one that sets `allowedSources` gets 1020166 (HTTP 403)
//! from any other address. Both run after the request's signature was verified, so a stranger cannot use
//! up an app's quota. The source address comes from the [`PEER_HEADER`] the binary's HTTP server sets on
//! every request to the connection's peer (a client's own header of that name is replaced).

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

use axum::http::HeaderMap;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use pn_bindings::{App, AppId};

use crate::result::{ApiFailure, ResultCode};

/// The request header carrying the connection's peer address (set by the server, never by clients).
pub const PEER_HEADER: &str = "x-pnswitch-peer";

/// One app's bucket and the settings it was made for (rebuilt when they change).
struct Bucket {
    rate: u32,
    burst: u32,
    limiter: Arc<DefaultDirectRateLimiter>,
}

/// The apps' buckets.
#[derive(Default)]
pub(crate) struct AppLimiters {
    buckets: Mutex<HashMap<AppId, Bucket>>,
}

impl AppLimiters {
    /// Whether `app` may be served this request (its source, then its rate).
    pub(crate) fn admit(&self, app: &App, headers: &HeaderMap) -> Result<(), ApiFailure> {
        let limits = &app.controls.api;
        if !limits.allowed_sources.is_empty() {
            let peer = headers
                .get(PEER_HEADER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<IpAddr>().ok());
            if !peer.is_some_and(|ip| limits.source_allowed(ip)) {
                let shown = peer.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
                return Err(ApiFailure::new(
                    ResultCode::IP_NOT_ALLOWED,
                    format!("App client IP {shown} is not in the app's whitelist"),
                ));
            }
        }
        let Some(rate) = NonZeroU32::new(limits.requests_per_sec) else {
            return Ok(());
        };
        let burst = NonZeroU32::new(limits.burst).unwrap_or(rate);
        let limiter = self.limiter(app.id, rate, burst);
        limiter.check().map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            ApiFailure::new(
                ResultCode::FLOW_CONTROL,
                format!("Flow control: more than {rate} requests per second (burst {burst}) for this app"),
            )
            .with_retry_after(wait.as_secs() + 1)
        })
    }

    fn limiter(&self, app: AppId, rate: NonZeroU32, burst: NonZeroU32) -> Arc<DefaultDirectRateLimiter> {
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let bucket = buckets.entry(app).or_insert_with(|| Bucket {
            rate: 0,
            burst: 0,
            limiter: Arc::new(RateLimiter::direct(Quota::per_second(rate))),
        });
        if (bucket.rate, bucket.burst) != (rate.get(), burst.get()) {
            bucket.rate = rate.get();
            bucket.burst = burst.get();
            bucket.limiter = Arc::new(RateLimiter::direct(Quota::per_second(rate).allow_burst(burst)));
        }
        Arc::clone(&bucket.limiter)
    }
}
