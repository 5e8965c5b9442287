//! One signed AXB bind, and the tally of the answers that were not acknowledgements.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::setup::App;

/// The A, B and X of bind number `i` (every bind of a run has its own `i`, so A and B are distinct across
/// the run, and the binds spread evenly over the X numbers).
pub fn parties(app: &App, i: usize) -> (String, String, String) {
    (
        format!("+86138{i:08}"),
        format!("+86139{i:08}"),
        app.xs[i % app.xs.len()].clone(),
    )
}

/// How one bind ended.
#[derive(Debug)]
pub enum Outcome {
    /// `resultcode` 0: committed and acknowledged, after `Duration`.
    Acked(Duration),
    /// Any other `resultcode` (the code), or an answer without one (`"no resultcode: HTTP …"`).
    Refused(String),
    /// No answer (connection or body error).
    Failed(String),
}

/// Sends bind `i` (A, B, X from [`parties`]) to the node at `base`.
pub async fn bind(client: &reqwest::Client, base: &str, app: &App, i: usize) -> Outcome {
    let (caller, peer, relation) = parties(app, i);
    let body = json!({"relationNum": relation, "callerNum": caller, "calleeNum": peer, "callDirection": 0});
    let req = client
        .post(format!("{base}/rest/caas/relationnumber/partners/v1.0"))
        .json(&body);
    let started = Instant::now();
    let resp = match app.signed(req, &format!("bind{i}")).send().await {
        Ok(resp) => resp,
        Err(err) => return Outcome::Failed(err.to_string()),
    };
    let status = resp.status();
    match resp.json::<Value>().await {
        Ok(answer) => match answer["resultcode"].as_str() {
            Some("0") => Outcome::Acked(started.elapsed()),
            Some(code) => Outcome::Refused(code.to_owned()),
            None => Outcome::Refused(format!("no resultcode: HTTP {status}")),
        },
        Err(err) => Outcome::Failed(err.to_string()),
    }
}

/// The binds that were not acknowledged, by `resultcode`, and those that got no answer.
#[derive(Debug, Default)]
pub struct Tally {
    /// Refusals by `resultcode`.
    pub refused: BTreeMap<String, usize>,
    /// Binds without an answer.
    pub failed: usize,
    /// The first few transport errors, for the summary.
    pub failures: Vec<String>,
}

impl Tally {
    /// Counts a refusal or a failure (an acknowledgement is the caller's).
    pub fn count(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Acked(_) => {}
            Outcome::Refused(code) => *self.refused.entry(code.clone()).or_default() += 1,
            Outcome::Failed(e) => {
                self.failed += 1;
                if self.failures.len() < 3 {
                    self.failures.push(e.clone());
                }
            }
        }
    }

    /// Adds another worker's tally.
    pub fn merge(&mut self, other: Tally) {
        for (code, n) in other.refused {
            *self.refused.entry(code).or_default() += n;
        }
        self.failed += other.failed;
        for e in other.failures {
            if self.failures.len() < 3 {
                self.failures.push(e);
            }
        }
    }

    /// Refusals and failures together.
    pub fn total(&self) -> usize {
        self.refused.values().sum::<usize>() + self.failed
    }

    /// `{refused: {code: n}, failed: n}`.
    pub fn json(&self) -> Value {
        json!({"refused": self.refused, "failed": self.failed, "failure_examples": self.failures})
    }

    /// One line for the summary.
    pub fn line(&self) -> String {
        let refused: Vec<String> = self
            .refused
            .iter()
            .map(|(code, n)| format!("{code}: {n}"))
            .collect();
        format!(
            "not acknowledged={} (refused by resultcode {{{}}}, no answer {}{})",
            self.total(),
            refused.join(", "),
            self.failed,
            if self.failures.is_empty() {
                String::new()
            } else {
                format!(": {}", self.failures.join("; "))
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::{Outcome, Tally};

    #[test]
    fn refusals_count_by_resultcode_and_acks_are_not_counted() {
        let mut one = Tally::default();
        one.count(&Outcome::Acked(std::time::Duration::from_millis(1)));
        one.count(&Outcome::Refused("1011002".into()));
        one.count(&Outcome::Refused("1011002".into()));
        let mut two = Tally::default();
        two.count(&Outcome::Refused("1012010".into()));
        two.count(&Outcome::Failed("connection reset".into()));
        one.merge(two);
        assert_eq!(one.refused.get("1011002"), Some(&2));
        assert_eq!(one.refused.get("1012010"), Some(&1));
        assert_eq!((one.failed, one.total()), (1, 4));
        assert_eq!(one.failures, ["connection reset"]);
    }
}
