//! The check that every acknowledged bind is stored: the app's bindings counted through node 1's query API
//! (`totalCount` per X) against the acknowledgements.

use serde_json::{Value, json};

use crate::Error;
use crate::setup::App;

/// The count and what it was compared with.
#[derive(Debug)]
pub struct Stored {
    /// Bindings the app holds.
    pub held: u64,
    /// Binds acknowledged in every phase.
    pub acked: u64,
    /// Binds that got no answer (each may or may not have been committed).
    pub unanswered: u64,
}

impl Stored {
    /// Every acknowledged bind is stored and nothing else is, but for binds that got no answer.
    pub fn ok(&self) -> bool {
        self.held >= self.acked && self.held <= self.acked + self.unanswered
    }

    /// The figures as JSON.
    pub fn json(&self) -> Value {
        json!({"stored": self.held, "acknowledged": self.acked, "unanswered": self.unanswered, "ok": self.ok()})
    }

    /// One line for the summary.
    pub fn line(&self) -> String {
        format!(
            "check: bindings stored (node 1 query API) = {}, acknowledged = {}, unanswered = {}: {}",
            self.held,
            self.acked,
            self.unanswered,
            if self.ok() { "ok" } else { "MISMATCH" }
        )
    }
}

/// Counts the app's bindings through `base`'s signed query, X by X.
pub async fn stored(
    client: &reqwest::Client,
    base: &str,
    app: &App,
    acked: usize,
    unanswered: usize,
) -> Result<Stored, Error> {
    let mut held = 0;
    for (i, x) in app.xs.iter().enumerate() {
        let req = client
            .get(format!("{base}/rest/caas/relationnumber/partners/v1.0"))
            .query(&[("relationNum", x.as_str()), ("pageSize", "10")]);
        let answer: Value = app.signed(req, &format!("count{i}")).send().await?.json().await?;
        match (answer["resultcode"].as_str(), answer["totalCount"].as_u64()) {
            (Some("0"), Some(n)) => held += n,
            _ => return Err(format!("query of {x} failed: {answer}").into()),
        }
    }
    Ok(Stored {
        held,
        acked: acked as u64,
        unanswered: unanswered as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::Stored;

    fn check(held: u64, acked: u64, unanswered: u64) -> bool {
        Stored {
            held,
            acked,
            unanswered,
        }
        .ok()
    }

    #[test]
    fn every_ack_must_be_stored_and_only_unanswered_binds_may_add() {
        assert!(check(10, 10, 0));
        assert!(!check(9, 10, 0), "an acknowledged bind missing");
        assert!(
            !check(11, 10, 0),
            "a bind stored that was neither acknowledged nor unanswered"
        );
        assert!(check(11, 10, 1));
        assert!(check(10, 10, 1));
    }
}
