//! The throughput phase: acknowledged binds per second through the API, to one node or round-robin over
//! several.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::Error;
use crate::binds::{Outcome, Tally, bind};
use crate::setup::App;
use crate::stats::Sample;

/// What one run measured.
#[derive(Debug)]
pub struct Throughput {
    /// Which nodes took the binds (`"node 1"`, `"round-robin over 3 nodes"`).
    pub target: String,
    /// Binds sent.
    pub sent: usize,
    /// Wall time from the first bind sent to the last answer.
    pub elapsed: Duration,
    /// Latency of each acknowledged bind.
    pub latency: Sample,
    /// Binds not acknowledged.
    pub tally: Tally,
}

impl Throughput {
    /// Acknowledged binds per second.
    pub fn rate(&self) -> f64 {
        self.latency.len() as f64 / self.elapsed.as_secs_f64().max(f64::MIN_POSITIVE)
    }

    /// The figures as JSON.
    pub fn json(&self) -> Value {
        json!({
            "target": self.target,
            "sent": self.sent,
            "acknowledged": self.latency.len(),
            "elapsed_s": self.elapsed.as_secs_f64(),
            "acknowledged_binds_per_s": self.rate(),
            "bind_latency": self.latency.json(),
            "not_acknowledged": self.tally.json(),
        })
    }

    /// The summary lines.
    pub fn lines(&self) -> String {
        format!(
            "  {}: sent={} acknowledged={} in {:.2}s = {:.0} acknowledged binds/s\n    bind latency {}\n    {}",
            self.target,
            self.sent,
            self.latency.len(),
            self.elapsed.as_secs_f64(),
            self.rate(),
            self.latency.line(),
            self.tally.line()
        )
    }
}

/// Sends binds `first..first + count` over `bases` round-robin (bind `i` to `bases[i % len]`) from
/// `concurrency` workers.
pub async fn run(
    client: &reqwest::Client,
    bases: Vec<String>,
    app: &Arc<App>,
    first: usize,
    count: usize,
    concurrency: usize,
) -> Result<Throughput, Error> {
    let target = if bases.len() == 1 {
        "node 1".to_owned()
    } else {
        format!("round-robin over {} nodes", bases.len())
    };
    let bases = Arc::new(bases);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (client, bases, app, next) = (
            client.clone(),
            Arc::clone(&bases),
            Arc::clone(app),
            Arc::clone(&next),
        );
        workers.push(tokio::spawn(async move {
            let (mut latency, mut tally) = (Vec::new(), Tally::default());
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= count {
                    return (latency, tally);
                }
                let i = first + n;
                match bind(&client, &bases[i % bases.len()], &app, i).await {
                    Outcome::Acked(took) => latency.push(took),
                    other => tally.count(&other),
                }
            }
        }));
    }
    let (mut latency, mut tally) = (Vec::with_capacity(count), Tally::default());
    for w in workers {
        let (part, part_tally) = w.await?;
        latency.extend(part);
        tally.merge(part_tally);
    }
    Ok(Throughput {
        target,
        sent: count,
        elapsed: started.elapsed(),
        latency: Sample::new(latency),
        tally,
    })
}
