//! Percentiles and the JSON shape of a latency sample.

use std::time::Duration;

use serde_json::{Value, json};

/// Sorted durations.
#[derive(Debug, Default)]
pub struct Sample(Vec<Duration>);

impl Sample {
    /// Sorts `values`.
    pub fn new(mut values: Vec<Duration>) -> Self {
        values.sort_unstable();
        Self(values)
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The `p` quantile (nearest rank), milliseconds; 0 when empty.
    pub fn ms(&self, p: f64) -> f64 {
        if self.0.is_empty() {
            return 0.0;
        }
        let idx = ((self.0.len() as f64 - 1.0) * p).round() as usize;
        self.0[idx.min(self.0.len() - 1)].as_secs_f64() * 1e3
    }

    /// The largest, milliseconds.
    pub fn max_ms(&self) -> f64 {
        self.0.last().map_or(0.0, |d| d.as_secs_f64() * 1e3)
    }

    /// `{count, p50_ms, p90_ms, p99_ms, max_ms}`.
    pub fn json(&self) -> Value {
        json!({
            "count": self.len(),
            "p50_ms": self.ms(0.50),
            "p90_ms": self.ms(0.90),
            "p99_ms": self.ms(0.99),
            "max_ms": self.max_ms(),
        })
    }

    /// `p50 … p90 … p99 … max …` for the summary.
    pub fn line(&self) -> String {
        format!(
            "n={} p50={:.2}ms p90={:.2}ms p99={:.2}ms max={:.2}ms",
            self.len(),
            self.ms(0.50),
            self.ms(0.90),
            self.ms(0.99),
            self.max_ms()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_nearest_rank_of_the_sorted_values() {
        let sample = Sample::new((1..=100).rev().map(Duration::from_millis).collect());
        assert_eq!(sample.len(), 100);
        assert!((sample.ms(0.0) - 1.0).abs() < 1e-9);
        assert!((sample.ms(0.50) - 51.0).abs() < 1e-9, "{}", sample.ms(0.50));
        assert!((sample.ms(0.99) - 99.0).abs() < 1e-9, "{}", sample.ms(0.99));
        assert!((sample.max_ms() - 100.0).abs() < 1e-9);
        assert!(Sample::default().ms(0.99).abs() < 1e-9);
    }
}
