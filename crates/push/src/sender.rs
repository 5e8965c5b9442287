//! One push over HTTP: POST the JSON body, signed, to the app's URL; a 2xx is delivery, anything else
//! (another status, a timeout, a refused connection, a bad URL) a failure the core retries.

use std::time::Duration;

use pn_bindings::{App, UnixTime};
use pn_notify::PushOutcome;

/// How a push ended, for the core and for the metrics.
#[derive(Debug)]
pub(crate) struct Sent {
    /// The core's verdict.
    pub outcome: PushOutcome,
    /// `delivered`, `http_status`, `timeout`, `connect` or `error` (the metric's `outcome` label).
    pub label: &'static str,
    /// From the request's start to its end.
    pub took: Duration,
}

/// The shared HTTP client: connection pools per receiver, the two timeouts, no redirects (a push is not
/// re-sent somewhere a receiver points to), rustls.
pub(crate) fn client(connect_timeout: Duration, timeout: Duration) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .pool_idle_timeout(Duration::from_secs(30))
        .user_agent(concat!("pnswitch/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// POSTs `body` to `url`, signed for `app`.
pub(crate) async fn send(
    client: &reqwest::Client,
    app: &App,
    url: &str,
    body: String,
    now: UnixTime,
) -> Sent {
    let started = std::time::Instant::now();
    let mut request = client
        .post(url)
        .header("Content-Type", "application/json;charset=UTF-8")
        .body(body);
    for (name, value) in crate::sign::headers(app, now) {
        request = request.header(name, value);
    }
    let (outcome, label) = match request.send().await {
        Ok(response) if response.status().is_success() => {
            // Read the (normally empty) body so the connection goes back to the pool.
            drop(response.bytes().await);
            (PushOutcome::Delivered, "delivered")
        }
        Ok(response) => (
            PushOutcome::Failed {
                reason: format!("HTTP {}", response.status().as_u16()),
            },
            "http_status",
        ),
        Err(e) => {
            let label = if e.is_timeout() {
                "timeout"
            } else if e.is_connect() {
                "connect"
            } else {
                "error"
            };
            (
                PushOutcome::Failed {
                    reason: e.to_string(),
                },
                label,
            )
        }
    };
    Sent {
        outcome,
        label,
        took: started.elapsed(),
    }
}
