//! The B2BUA's view of the routing table: [`pn_bindings::decide()`] over the shared, lock-free
//! [`BindingTable`], counted in `pn_route_lookups_total{outcome}`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use pn_b2bua::{AppPrompts, CallPrompts};
use pn_bindings::{AppId, BindingTable, Connect, RouteDecision, RoutePolicy, UnixTime};
use pn_numbers::E164;
use prometheus::IntCounter;

/// One shard's route lookup (each shard owns one; the outcome counters are resolved once per label).
pub(crate) struct TableRouter {
    table: Arc<BindingTable>,
    policy: RoutePolicy,
    lookups: pn_metrics::Metrics,
    counters: RefCell<HashMap<&'static str, IntCounter>>,
}

impl TableRouter {
    /// A router over `table` with `policy`, counting into `metrics`.
    pub(crate) fn new(table: Arc<BindingTable>, policy: RoutePolicy, metrics: pn_metrics::Metrics) -> Self {
        Self {
            table,
            policy,
            lookups: metrics,
            counters: RefCell::new(HashMap::new()),
        }
    }

    fn count(&self, outcome: &'static str) {
        let mut counters = self.counters.borrow_mut();
        counters
            .entry(outcome)
            .or_insert_with(|| self.lookups.lookups.with_label_values(&[outcome]))
            .inc();
    }
}

impl pn_b2bua::RouteLookup for TableRouter {
    fn decide(
        &self,
        a_number: Option<E164>,
        x_number: E164,
        extension: Option<&str>,
        now: UnixTime,
    ) -> RouteDecision {
        let decision = pn_bindings::decide(&self.table, &self.policy, a_number, x_number, extension, now);
        self.count(outcome_label(&decision));
        decision
    }

    fn call_prompts(&self, connect: &Connect) -> CallPrompts {
        self.table
            .binding_media(connect.binding)
            .map_or_else(CallPrompts::default, |media| {
                CallPrompts::for_call(&media, connect.direction)
            })
    }

    fn app_prompts(&self, app: AppId) -> AppPrompts {
        self.table
            .app_media(app)
            .map_or_else(AppPrompts::default, |media| AppPrompts::of_app(&media))
    }
}

/// The `outcome` label: `connect`, `collect`, or the reject cause code.
fn outcome_label(decision: &RouteDecision) -> &'static str {
    match decision {
        RouteDecision::Connect(_) => "connect",
        RouteDecision::CollectDigits(_) => "collect",
        RouteDecision::Reject(r) => cause_label(r.cause.0),
    }
}

/// A static label for a cause code (the known ones; anything else is `other`).
fn cause_label(code: u16) -> &'static str {
    const KNOWN: &[(u16, &str)] = &[
        (0, "0"),
        (7100, "7100"),
        (7516, "7516"),
        (8010, "8010"),
        (8013, "8013"),
        (8014, "8014"),
        (8016, "8016"),
        (8019, "8019"),
        (8022, "8022"),
        (8023, "8023"),
        (8025, "8025"),
        (8030, "8030"),
        (8032, "8032"),
        (8033, "8033"),
        (8035, "8035"),
        (8042, "8042"),
        (8043, "8043"),
        (8055, "8055"),
        (8104, "8104"),
    ];
    KNOWN
        .iter()
        .find(|(c, _)| *c == code)
        .map_or("other", |(_, label)| label)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        assert_eq!(cause_label(8014), "8014");
        assert_eq!(cause_label(1), "other");
    }
}
