//! The latency phase: binds on node 1; once each is acknowledged, every other node's route trace is polled
//! until it connects A to B. Recorded per bind: acknowledgement → routable on the slowest other node.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::Error;
use crate::binds::{Outcome, Tally, bind, parties};
use crate::setup::{App, trace};
use crate::stats::Sample;

/// What the phase measured.
#[derive(Debug)]
pub struct Latency {
    /// Acknowledgement → routable on the slowest other node, per acknowledged bind that became routable
    /// everywhere.
    pub routable: Sample,
    /// The bind's own latency on node 1 (request sent → acknowledgement read).
    pub bind: Sample,
    /// Acknowledged binds some other node did not route within the timeout.
    pub never_routable: usize,
    /// Binds not acknowledged.
    pub tally: Tally,
}

impl Latency {
    /// The figures as JSON.
    pub fn json(&self) -> Value {
        json!({
            "ack_to_routable_slowest_node": self.routable.json(),
            "bind_latency_node1": self.bind.json(),
            "never_routable": self.never_routable,
            "not_acknowledged": self.tally.json(),
        })
    }
}

/// The shared settings of the phase's workers.
#[derive(Debug, Clone)]
pub struct Setting {
    /// The nodes' bases; binds go to the first.
    pub bases: Arc<Vec<String>>,
    /// The admin token (route traces).
    pub token: Arc<str>,
    /// The app.
    pub app: Arc<App>,
    /// The index of the phase's first bind.
    pub first: usize,
    /// Binds in the phase.
    pub count: usize,
    /// Pause between two polls of one node.
    pub poll: Duration,
    /// Give-up time per node.
    pub timeout: Duration,
}

/// Runs the phase with `concurrency` workers.
pub async fn run(client: &reqwest::Client, setting: &Setting, concurrency: usize) -> Result<Latency, Error> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (client, setting, next) = (client.clone(), setting.clone(), Arc::clone(&next));
        workers.push(tokio::spawn(
            async move { worker(&client, &setting, &next).await },
        ));
    }
    let (mut routable, mut binds, mut never_routable, mut tally) =
        (Vec::new(), Vec::new(), 0, Tally::default());
    for w in workers {
        let part = w.await??;
        routable.extend(part.routable);
        binds.extend(part.binds);
        never_routable += part.never_routable;
        tally.merge(part.tally);
    }
    Ok(Latency {
        routable: Sample::new(routable),
        bind: Sample::new(binds),
        never_routable,
        tally,
    })
}

/// One worker's share.
#[derive(Debug, Default)]
struct Part {
    routable: Vec<Duration>,
    binds: Vec<Duration>,
    never_routable: usize,
    tally: Tally,
}

async fn worker(client: &reqwest::Client, setting: &Setting, next: &AtomicUsize) -> Result<Part, Error> {
    let mut part = Part::default();
    loop {
        let n = next.fetch_add(1, Ordering::Relaxed);
        if n >= setting.count {
            return Ok(part);
        }
        let index = setting.first + n;
        let outcome = bind(client, &setting.bases[0], &setting.app, index).await;
        let Outcome::Acked(took) = outcome else {
            part.tally.count(&outcome);
            continue;
        };
        let acked = Instant::now();
        part.binds.push(took);
        let mut polls = Vec::new();
        for base in setting.bases.iter().skip(1) {
            let (client, setting, base) = (client.clone(), setting.clone(), base.clone());
            polls.push(tokio::spawn(async move {
                until_routable(&client, &setting, &base, index, acked).await
            }));
        }
        let mut slowest = Some(Duration::ZERO);
        for poll in polls {
            slowest = match (slowest, poll.await??) {
                (Some(so_far), Some(this)) => Some(so_far.max(this)),
                _ => None,
            };
        }
        match slowest {
            Some(d) => part.routable.push(d),
            None => part.never_routable += 1,
        }
    }
}

/// Polls `base`'s route trace of A → X until it connects to B: the time since `acked`, or `None` after
/// the timeout.
async fn until_routable(
    client: &reqwest::Client,
    setting: &Setting,
    base: &str,
    index: usize,
    acked: Instant,
) -> Result<Option<Duration>, Error> {
    let (caller, peer, relation) = parties(&setting.app, index);
    loop {
        let answer = trace(client, base, &setting.token, &caller, &relation).await?;
        if answer["decision"] == "connect" && answer["callee"] == peer.as_str() {
            return Ok(Some(acked.elapsed()));
        }
        if acked.elapsed() > setting.timeout {
            return Ok(None);
        }
        if !setting.poll.is_zero() {
            tokio::time::sleep(setting.poll).await;
        }
    }
}
