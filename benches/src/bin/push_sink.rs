//! push-sink: the platform's receiver for the push benchmark (benches/push/run.sh). Answers every POST with
//! 200 at once and counts: call events by type, CDR pushes and CDRs, distinct `icid`s, and each CDR's lag
//! (arrival minus its `callEndTime`, a whole second: the lag is overstated by up to 1 s). `GET /stats` returns
//! the figures as JSON; `POST /reset` clears them.
//!
//! Usage: `push-sink 127.0.0.1:0` — prints `push-sink listening on ADDR` once bound.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::{get, post};
use serde_json::{Value, json};

#[derive(Default)]
struct Counts {
    events: BTreeMap<String, u64>,
    cdr_pushes: u64,
    cdrs: u64,
    icids: HashSet<String>,
    lags_ms: Vec<i64>,
    unparsable: u64,
}

type Shared = Arc<Mutex<Counts>>;

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// A reference time `yyyy-MM-dd HH:mm:ss` (UTC) as Unix milliseconds.
fn reference_ms(time: &str) -> Option<i64> {
    format!("{}Z", time.replacen(' ', "T", 1))
        .parse::<jiff::Timestamp>()
        .ok()
        .map(jiff::Timestamp::as_millisecond)
}

async fn push(State(shared): State<Shared>, body: Bytes) -> &'static str {
    let arrived = now_ms();
    let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let Ok(mut c) = shared.lock() else { return "" };
    match value["eventType"].as_str() {
        Some("fee") => {
            c.cdr_pushes += 1;
            for cdr in value["feeLst"].as_array().into_iter().flatten() {
                c.cdrs += 1;
                if let Some(icid) = cdr["icid"].as_str() {
                    c.icids.insert(icid.to_owned());
                }
                if let Some(end) = cdr["callEndTime"].as_str().and_then(reference_ms) {
                    c.lags_ms.push(arrived - end);
                }
            }
        }
        Some(kind) => *c.events.entry(kind.to_owned()).or_default() += 1,
        None => c.unparsable += 1,
    }
    ""
}

fn percentile(sorted: &[i64], p: f64) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted.get(i).copied()
}

async fn stats(State(shared): State<Shared>) -> axum::Json<Value> {
    let Ok(c) = shared.lock() else {
        return axum::Json(Value::Null);
    };
    let mut lags = c.lags_ms.clone();
    lags.sort_unstable();
    axum::Json(json!({
        "events": c.events,
        "event_total": c.events.values().sum::<u64>(),
        "cdr_pushes": c.cdr_pushes,
        "cdrs": c.cdrs,
        "distinct_icids": c.icids.len(),
        "cdr_lag_ms_p50": percentile(&lags, 0.5),
        "cdr_lag_ms_p99": percentile(&lags, 0.99),
        "cdr_lag_ms_max": lags.last(),
        "unparsable": c.unparsable,
    }))
}

async fn reset(State(shared): State<Shared>) -> &'static str {
    if let Ok(mut c) = shared.lock() {
        *c = Counts::default();
    }
    ""
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".to_owned());
    let shared: Shared = Arc::default();
    let app = Router::new()
        .route("/stats", get(stats))
        .route("/reset", post(reset))
        .fallback(post(push))
        .with_state(shared);
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("push-sink listening on {}", listener.local_addr()?);
    axum::serve(listener, app).await
}
