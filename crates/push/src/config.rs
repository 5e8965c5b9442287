//! `[push]`: whether pushes are sent, the HTTP timeouts, and the delivery core's settings.

use serde::{Deserialize, Serialize};

use pn_notify::NotifyConfig;

/// The push driver's settings (`[push]` in the configuration file).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PushConfig {
    /// Whether the apps' URLs receive pushes (default true). Off: the outbox keeps every entry pending.
    pub enabled: bool,
    /// Longest wait for a receiver's TCP (and TLS) connection, ms (default 2000).
    pub connect_timeout_ms: u64,
    /// Longest wait for a whole push (connect, send, the receiver's answer), ms (default 5000). A receiver
    /// slower than this fails the push, which is retried on the schedule.
    pub timeout_ms: u64,
    /// Outbox rows read per store read at most (default 2000).
    pub read_batch: u32,
    /// How often the outbox is read when nothing woke the driver, ms (default 1000): a safety net, the
    /// writer wakes the driver after every commit that added pushes.
    pub poll_interval_ms: u64,
    /// When each retry is due, ms after an entry's first failure (default the reference's +1, +4, +9, +106,
    /// +203, +300 min); after the last, the entry is a dead letter. See [`NotifyConfig::retry_schedule_ms`].
    pub retry_schedule_ms: Vec<u64>,
    /// Pushes in flight per app at most (default 32): at 1,000 calls/s an app's call-status URL gets about
    /// 6,000 events/s, which a handful of connections carry only if the receiver answers in well under a
    /// millisecond.
    pub max_in_flight_per_app: usize,
    /// Pushes written together on one connection to a plain `http://` receiver at most (default 8; 1 turns
    /// pipelining off: one request per connection at a time). https receivers go through reqwest, one request
    /// at a time per connection.
    pub pipeline_depth: usize,
    /// Connections per app and plain `http://` receiver at most (default 8).
    pub connections_per_receiver: usize,
    /// CDRs merged into one push at most (1–50, default 50).
    pub cdr_batch_max: usize,
    /// How long a new CDR waits for companions, ms (default 1000).
    pub cdr_batch_wait_ms: u64,
    /// Entries held in memory at most (default 100,000); the rest wait in the store.
    pub max_entries: usize,
}

impl Default for PushConfig {
    fn default() -> Self {
        let core = NotifyConfig::default();
        Self {
            enabled: true,
            connect_timeout_ms: 2_000,
            timeout_ms: 5_000,
            read_batch: 2_000,
            poll_interval_ms: 1_000,
            retry_schedule_ms: core.retry_schedule_ms,
            max_in_flight_per_app: 32,
            pipeline_depth: 8,
            connections_per_receiver: 8,
            cdr_batch_max: core.cdr_batch_max,
            cdr_batch_wait_ms: core.cdr_batch_wait_ms,
            max_entries: core.max_entries,
        }
    }
}

impl PushConfig {
    /// The delivery core's part.
    pub fn notify(&self) -> NotifyConfig {
        NotifyConfig {
            retry_schedule_ms: self.retry_schedule_ms.clone(),
            max_in_flight_per_app: self.max_in_flight_per_app,
            cdr_batch_max: self.cdr_batch_max,
            cdr_batch_wait_ms: self.cdr_batch_wait_ms,
            max_entries: self.max_entries,
        }
    }

    /// Checks the ranges (the core's too).
    pub fn validate(&self) -> Result<(), String> {
        if self.connect_timeout_ms == 0 || self.timeout_ms == 0 {
            return Err("push.connect_timeout_ms and push.timeout_ms must be at least 1".into());
        }
        if self.read_batch == 0 {
            return Err("push.read_batch must be at least 1".into());
        }
        if self.pipeline_depth == 0 || self.pipeline_depth > 128 {
            return Err("push.pipeline_depth must be 1–128".into());
        }
        if self.connections_per_receiver == 0 || self.connections_per_receiver > 1024 {
            return Err("push.connections_per_receiver must be 1–1024".into());
        }
        if self.poll_interval_ms == 0 {
            return Err("push.poll_interval_ms must be at least 1".into());
        }
        pn_notify::Notifier::new(&self.notify())
            .map(drop)
            .map_err(|e| format!("push: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_keys_parse() {
        assert!(PushConfig::default().validate().is_ok());
        let c: PushConfig =
            serde_json::from_str(r#"{"retry_schedule_ms":[10,20],"timeout_ms":100}"#).unwrap();
        assert_eq!(c.notify().retry_schedule_ms, [10, 20]);
        assert_eq!(c.timeout_ms, 100);
        assert_eq!(c.notify().max_in_flight_per_app, 32);
        assert!(serde_json::from_str::<PushConfig>(r#"{"retry":[1]}"#).is_err());
        let bad_core = PushConfig {
            cdr_batch_max: 51,
            ..PushConfig::default()
        };
        assert!(bad_core.validate().is_err());
        let bad = PushConfig {
            timeout_ms: 0,
            ..PushConfig::default()
        };
        assert!(bad.validate().is_err());
    }
}
