//! The notifier's settings: retry schedule, per-app concurrency, CDR merging, memory cap.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::NotifyError;

/// The reference's retry schedule (§3, §4): "retries up to 6 times at +1, +4, +9, +106, +203, +300 min".
pub const REFERENCE_RETRY_SCHEDULE_MS: [u64; 6] = [
    60_000,
    4 * 60_000,
    9 * 60_000,
    106 * 60_000,
    203 * 60_000,
    300 * 60_000,
];

/// The reference's largest CDR merge (§4: at most 50 `FeeInfo` per message).
pub const REFERENCE_CDR_BATCH_MAX: usize = 50;

/// The longest retry offset accepted (30 days): far beyond the reference's 5 h, and no clock overflow.
pub const MAX_RETRY_OFFSET_MS: u64 = 30 * 86_400_000;

/// The longest CDR batch wait accepted (1 min).
pub const MAX_CDR_BATCH_WAIT_MS: u64 = 60_000;

/// How the notifier retries, merges and limits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifyConfig {
    /// When each retry of an entry is due, in milliseconds after the entry's **first** failure (not after the
    /// previous attempt). The reference's "+1, +4, +9, +106, +203, +300 min" reads as offsets from the first
    /// failure: the gaps 1, 3, 5, 97, 97, 97 min between them, the last retry 5 h after the first failure.
    /// Retry `k` is due at `first failure + schedule[k-1]`, or at once when that time has passed (a failure
    /// reported late). When the attempt after the last offset fails too, the entry is dead-lettered: an
    /// entry is tried `1 + schedule.len()` times. Offsets must not decrease and are at most 30 days.
    /// Default: the reference's.
    pub retry_schedule_ms: Vec<u64>,
    /// Pushes in flight per app at most (default 4): a slow or dead receiver holds only its own app's slots.
    pub max_in_flight_per_app: usize,
    /// CDRs merged into one push at most (1–50; default 50, the reference's maximum).
    pub cdr_batch_max: usize,
    /// How long a new CDR waits for companions before it is pushed with those that came (ms, at most
    /// 60 000; default 1000).
    /// A full batch goes at once; retried CDRs go when their retry is due, with the retries due with them.
    pub cdr_batch_wait_ms: u64,
    /// Entries held (queued or in flight) at most (default 100 000): beyond it `enqueue` refuses with
    /// [`NotifyError::Full`] and the entry stays in the store for the driver to offer again later.
    pub max_entries: usize,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        Self {
            retry_schedule_ms: REFERENCE_RETRY_SCHEDULE_MS.to_vec(),
            max_in_flight_per_app: 4,
            cdr_batch_max: REFERENCE_CDR_BATCH_MAX,
            cdr_batch_wait_ms: 1_000,
            max_entries: 100_000,
        }
    }
}

impl NotifyConfig {
    /// Checks the ranges.
    pub fn validate(&self) -> Result<(), NotifyError> {
        if self.max_in_flight_per_app == 0 {
            return Err(NotifyError::Config("max_in_flight_per_app must be at least 1"));
        }
        if !(1..=REFERENCE_CDR_BATCH_MAX).contains(&self.cdr_batch_max) {
            return Err(NotifyError::Config("cdr_batch_max must be 1 to 50"));
        }
        if self.max_entries == 0 {
            return Err(NotifyError::Config("max_entries must be at least 1"));
        }
        if self.retry_schedule_ms.iter().any(|&ms| ms > MAX_RETRY_OFFSET_MS) {
            return Err(NotifyError::Config(
                "retry_schedule_ms offsets must be at most 30 days",
            ));
        }
        if self.cdr_batch_wait_ms > MAX_CDR_BATCH_WAIT_MS {
            return Err(NotifyError::Config("cdr_batch_wait_ms must be at most 60000"));
        }
        if self.retry_schedule_ms.windows(2).any(|w| w[1] < w[0]) {
            return Err(NotifyError::Config(
                "retry_schedule_ms offsets (from the first failure) must not decrease",
            ));
        }
        Ok(())
    }

    /// The retry offsets as durations.
    pub(crate) fn retry_schedule(&self) -> Vec<Duration> {
        self.retry_schedule_ms
            .iter()
            .map(|&ms| Duration::from_millis(ms))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_the_reference_schedule() {
        let c = NotifyConfig::default();
        assert!(c.validate().is_ok());
        let minutes: Vec<u64> = c.retry_schedule().iter().map(|d| d.as_secs() / 60).collect();
        assert_eq!(minutes, [1, 4, 9, 106, 203, 300]);
        assert_eq!(c.cdr_batch_max, 50);
    }

    #[test]
    fn out_of_range_values_are_refused() {
        let bad = [
            NotifyConfig {
                max_in_flight_per_app: 0,
                ..NotifyConfig::default()
            },
            NotifyConfig {
                cdr_batch_max: 0,
                ..NotifyConfig::default()
            },
            NotifyConfig {
                cdr_batch_max: 51,
                ..NotifyConfig::default()
            },
            NotifyConfig {
                max_entries: 0,
                ..NotifyConfig::default()
            },
            NotifyConfig {
                retry_schedule_ms: vec![1, MAX_RETRY_OFFSET_MS + 1],
                ..NotifyConfig::default()
            },
            NotifyConfig {
                cdr_batch_wait_ms: MAX_CDR_BATCH_WAIT_MS + 1,
                ..NotifyConfig::default()
            },
            NotifyConfig {
                retry_schedule_ms: vec![5, 4],
                ..NotifyConfig::default()
            },
        ];
        for c in bad {
            assert!(matches!(c.validate(), Err(NotifyError::Config(_))), "{c:?}");
        }
        let empty = NotifyConfig {
            retry_schedule_ms: vec![],
            ..NotifyConfig::default()
        };
        assert!(empty.validate().is_ok(), "no retries at all is allowed");
    }

    #[test]
    fn unknown_fields_are_refused() {
        let c: NotifyConfig = serde_json::from_str(r#"{"cdr_batch_max": 10}"#).unwrap();
        assert_eq!(c.cdr_batch_max, 10);
        assert_eq!(c.max_in_flight_per_app, 4);
        assert!(serde_json::from_str::<NotifyConfig>(r#"{"cdr_batch":10}"#).is_err());
    }
}
