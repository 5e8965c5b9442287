//! The B2BUA's view of the routing table: [`pn_bindings::decide()`] over the shared, lock-free
//! [`BindingTable`] with the app's call controls applied ([`pn_bindings::decide_controlled`], counters shared by
//! every shard), counted in `pn_route_lookups_total{outcome}`, and the echo (`subscriptionId`, `userData`)
//! of the binding a call was routed by and the key and mode of its app, read from the same table when the call is
//! routed (never from the store).

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use pn_b2bua::{AppEcho, AppPrompts, CallPrompts, Subscription};
use pn_bindings::{
    AppId, BindingEcho, BindingId, BindingTable, Connect, RouteDecision, SharedRoutePolicy, SmsDecision,
    UnixTime,
};
use pn_numbers::E164;
use prometheus::IntCounter;

/// One shard's route lookup (each shard owns one; the outcome counters are resolved once per label).
pub(crate) struct TableRouter {
    table: Arc<BindingTable>,
    policy: SharedRoutePolicy,
    lookups: pn_metrics::Metrics,
    counters: RefCell<HashMap<&'static str, IntCounter>>,
    /// The echo of the last connected decision, taken with it (the B2BUA asks for it right after).
    routed: RefCell<Option<(BindingId, Option<BindingEcho>)>>,
    /// The concurrent-call units of the last admitted call, taken by the B2BUA right after the decision.
    live: RefCell<Option<pn_bindings::LiveSlot>>,
}

impl TableRouter {
    /// A router over `table` with `policy`, counting into `metrics`.
    pub(crate) fn new(
        table: Arc<BindingTable>,
        policy: SharedRoutePolicy,
        metrics: pn_metrics::Metrics,
    ) -> Self {
        Self {
            table,
            policy,
            lookups: metrics,
            counters: RefCell::new(HashMap::new()),
            routed: RefCell::new(None),
            live: RefCell::new(None),
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
        // The app's call controls apply here, on every INVITE; admitted calls are counted in its limits.
        let pn_bindings::Controlled { decision, live, .. } = pn_bindings::decide_controlled(
            &self.table,
            &self.policy.get(),
            a_number,
            x_number,
            extension,
            now,
            pn_bindings::Counting::Count,
        );
        self.count(outcome_label(&decision));
        // A unit not taken by the B2BUA (it always takes it right after) is given back here, at the latest.
        *self.live.borrow_mut() = live;
        *self.routed.borrow_mut() = match &decision {
            // With the AX temporary callee's own userData when the call goes to it.
            RouteDecision::Connect(c) => Some((c.binding, self.table.connect_echo(c))),
            _ => None,
        };
        decision
    }

    fn take_live_slot(&self) -> Option<pn_bindings::LiveSlot> {
        self.live.borrow_mut().take()
    }

    fn subscription(&self, binding: BindingId) -> Option<Subscription> {
        let echo = match self.routed.borrow_mut().take() {
            Some((routed, echo)) if routed == binding => echo,
            _ => self.table.binding_echo(binding),
        }?;
        Some(Subscription {
            subscription_id: echo.subscription_id(),
            user_data: echo.user_data().map(str::to_owned),
        })
    }

    fn app_echo(&self, app: AppId) -> Option<AppEcho> {
        self.table
            .app_key_and_mode(app)
            .map(|(app_key, mode)| AppEcho { app_key, mode })
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

    fn decide_sms(&self, sender: E164, x: E164, body: &str, now: UnixTime) -> SmsDecision {
        pn_bindings::decide_sms(&self.table, &self.policy.get(), sender, x, body, now)
    }

    fn sms_content(&self, app: AppId) -> bool {
        self.table.app(app).is_some_and(|a| a.push.sms_content)
    }
}

/// The `outcome` label: `connect`, `collect`, `ask` (X mode), or the reject cause code.
fn outcome_label(decision: &RouteDecision) -> &'static str {
    match decision {
        RouteDecision::Connect(_) => "connect",
        RouteDecision::CollectDigits(_) => "collect",
        RouteDecision::Ask(_) => "ask",
        RouteDecision::Reject(r) => cause_label(r.cause.0),
    }
}

/// A static label for a cause code (the known ones; anything else is `other`).
fn cause_label(code: u16) -> &'static str {
    const KNOWN: &[(u16, &str)] = &[
        (0, "0"),
        (7001, "7001"),
        (7002, "7002"),
        (7003, "7003"),
        (7004, "7004"),
        (7005, "7005"),
        (7100, "7100"),
        (7500, "7500"),
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
        (8047, "8047"),
        (8048, "8048"),
        (8049, "8049"),
        (8050, "8050"),
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

    /// The echo is taken when the call is routed: a binding deleted right after still gives it.
    #[test]
    fn the_subscription_is_captured_when_the_call_is_routed() {
        use pn_b2bua::RouteLookup;
        use pn_bindings::{
            App, AppMedia, AxbBinding, Binding, BindingKind, CallControls, CallDirection, Mode, NumberStatus,
            RecordSettings, XNumber,
        };
        let number = |s: &str| pn_numbers::normalize(s).unwrap();
        let (x, a, b) = (
            number("+8617010000001"),
            number("+8613800000001"),
            number("+8613900000001"),
        );
        let table = Arc::new(BindingTable::new());
        table.upsert_app(&App {
            id: AppId(1),
            name: "t".into(),
            mode: Mode::Axb,
            app_key: "k".into(),
            app_secret: "s".into(),
            call_status_url: None,
            cdr_url: None,
            sms_url: None,
            record_enabled: false,
            sms_enabled: false,
            extension_digits: 4,
            collect_repeat: 3,
            enabled: true,
            created_at: UnixTime(0),
            media: AppMedia::default(),
            push: pn_bindings::AppPush::default(),
            controls: pn_bindings::AppControls::default(),
            allow_national_numbers: false,
        });
        table.upsert_number(&XNumber {
            number: x,
            app: AppId(1),
            area_code: "0755".into(),
            province: None,
            status: NumberStatus::Normal,
        });
        let binding = Binding {
            id: BindingId(7),
            subscription_id: "0190a1b2c3d4e5f60718293a4b5c6d7e".into(),
            app: AppId(1),
            created_at: UnixTime(0),
            updated_at: UnixTime(0),
            expires_at: None,
            duration_secs: None,
            record: RecordSettings::default(),
            user_data: Some("order-7".into()),
            kind: BindingKind::Axb(AxbBinding {
                x,
                a,
                b,
                direction: CallDirection::Both,
                controls: CallControls::default(),
            }),
        };
        table.insert_binding(&binding);
        let router = TableRouter::new(
            Arc::clone(&table),
            SharedRoutePolicy::default(),
            pn_metrics::Metrics::new().unwrap(),
        );
        let want = Some(Subscription {
            subscription_id: binding.subscription_id.clone(),
            user_data: Some("order-7".into()),
        });
        // Asked later, without a routing decision: the table's current echo.
        assert_eq!(router.subscription(BindingId(7)), want);
        let RouteDecision::Connect(connect) = router.decide(Some(a), x, None, UnixTime(10)) else {
            panic!("not connected");
        };
        assert_eq!(connect.binding, BindingId(7));
        // The app's key and mode, for the CDR's `appKey` and `serviceType`.
        let app_echo = Some(AppEcho {
            app_key: "k".into(),
            mode: Mode::Axb,
        });
        assert_eq!(router.app_echo(connect.app), app_echo);
        assert_eq!(router.app_echo(AppId(2)), None);
        table.remove_binding(&binding);
        assert_eq!(router.subscription(BindingId(7)), want);
        // Gone from the table, and no call routed by it since.
        assert_eq!(router.subscription(BindingId(7)), None);
    }
}
