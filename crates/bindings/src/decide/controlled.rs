//! The route decision with the app's call controls ([`crate::controls`]) applied: what every INVITE asks.
//!
//! [`decide`] stays pure; [`decide_controlled`] runs it, then, on a call it would connect or ask the customer
//! about, the controls of the X's app: a refusal turns the decision into a [`Reject`] with the control's cause
//! (the B2BUA answers it like any refusal: SIP status, `Reason` with the cause, the app's no-permission prompt in
//! relay mode, a disconnect event and a CDR). AXE digit collection is not checked: the decision made with the
//! collected extension is. In X mode the callee is not known yet: callee controls do not apply.

use pn_numbers::E164;

use super::{Reject, RouteDecision, RoutePolicy, decide};
use crate::controls::{self, ControlledCall, LiveSlot, Refusal};
use crate::model::UnixTime;
use crate::table::BindingTable;

/// Whether [`decide_controlled`] counts an admitted call in the frequency limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counting {
    /// A real call: counted when admitted.
    Count,
    /// A route trace: checked, never counted.
    Probe,
}

/// What [`decide_controlled`] answers.
#[derive(Debug)]
pub struct Controlled {
    /// The route decision, a [`Reject`] with the control's cause when a control refused the call.
    pub decision: RouteDecision,
    /// Which control refused the call, if one did.
    pub refusal: Option<Refusal>,
    /// A counted call admitted under concurrent-call caps: its units, to hold until the call ends.
    pub live: Option<LiveSlot>,
}

/// [`decide`], then the app's call controls (see [`Controlled`]).
pub fn decide_controlled(
    table: &BindingTable,
    policy: &RoutePolicy,
    caller: Option<E164>,
    called: E164,
    extension: Option<&str>,
    now: UnixTime,
    counting: Counting,
) -> Controlled {
    let decision = decide(table, policy, caller, called, extension, now);
    let passed = |decision| Controlled {
        decision,
        refusal: None,
        live: None,
    };
    let (app, callee, binding) = match &decision {
        RouteDecision::Connect(c) => (c.app, Some(c.callee), Some(c.binding)),
        RouteDecision::Ask(a) => (a.app, None, None),
        RouteDecision::CollectDigits(_) | RouteDecision::Reject(_) => return passed(decision),
    };
    let Some(rules) = table.app_controls(app) else {
        return passed(decision);
    };
    let call = ControlledCall {
        app,
        caller,
        callee,
        x: called,
    };
    let checked = check(table, &rules, &call, now, counting);
    match checked {
        Ok(live) => Controlled {
            decision,
            refusal: None,
            live,
        },
        Err(refusal) => Controlled {
            decision: RouteDecision::Reject(Reject {
                cause: refusal.cause,
                app: Some(app),
                binding,
                prompt: None,
            }),
            refusal: Some(refusal),
            live: None,
        },
    }
}

/// Every control of `rules` on `call`; a counted call is counted (frequency limits) and takes its caps' units
/// only when every control passes.
fn check(
    table: &BindingTable,
    rules: &controls::AppControls,
    call: &ControlledCall,
    now: UnixTime,
    counting: Counting,
) -> Result<Option<LiveSlot>, Refusal> {
    if rules.limits.is_empty() {
        // No counter needed: the counters are not even allocated.
        controls::check_rules(rules, call, now)?;
    } else {
        controls::probe(rules, table.control_counters(), call, now)?;
    }
    if counting == Counting::Probe {
        if !rules.concurrent.is_empty() {
            controls::check_caps(rules, table.live_calls(), call)?;
        }
        return Ok(None);
    }
    let live = controls::acquire_caps(rules, table.live_calls(), call)?;
    if !rules.limits.is_empty() {
        controls::count(rules, table.control_counters(), call, now);
    }
    Ok(live)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cause::Cause;
    use crate::controls::{AppControls, FrequencyLimit, LimitKey, NumberList, Rule};
    use crate::model::{
        App, AppId, AxbBinding, Binding, BindingId, BindingKind, CallControls, CallDirection, Mode,
        NumberStatus, RecordSettings, XNumber,
    };

    const NOW: UnixTime = UnixTime(1_700_000_000);

    fn n(s: &str) -> E164 {
        pn_numbers::normalize(s).unwrap()
    }

    /// An AXB app with X = +8617000000001 binding A = +8613800000001 and B = +8613900000001.
    fn table(controls: AppControls) -> BindingTable {
        let t = BindingTable::new();
        t.upsert_app(&App {
            id: AppId(1),
            name: "a".into(),
            mode: Mode::Axb,
            app_key: "k".into(),
            app_secret: "s".into(),
            call_status_url: None,
            cdr_url: None,
            sms_url: None,
            record_enabled: false,
            sms_enabled: false,
            extension_digits: 3,
            collect_repeat: 2,
            enabled: true,
            created_at: UnixTime(0),
            media: crate::model::AppMedia::default(),
            push: crate::model::AppPush::default(),
            controls,
            allow_national_numbers: false,
        });
        t.upsert_number(&XNumber {
            number: n("+8617000000001"),
            app: AppId(1),
            area_code: "0755".into(),
            province: None,
            status: NumberStatus::Normal,
        });
        t.insert_binding(&Binding {
            id: BindingId(9),
            subscription_id: "sub9".into(),
            app: AppId(1),
            created_at: UnixTime(0),
            updated_at: UnixTime(0),
            expires_at: None,
            duration_secs: None,
            record: RecordSettings::default(),
            user_data: None,
            kind: BindingKind::Axb(AxbBinding {
                x: n("+8617000000001"),
                a: n("+8613800000001"),
                b: n("+8613900000001"),
                direction: CallDirection::Both,
                controls: CallControls::default(),
            }),
        });
        t
    }

    fn call(t: &BindingTable, caller: &str, counting: Counting) -> (RouteDecision, Option<Refusal>) {
        let c = admitted(t, caller, counting);
        (c.decision, c.refusal)
    }

    fn admitted(t: &BindingTable, caller: &str, counting: Counting) -> Controlled {
        decide_controlled(
            t,
            &RoutePolicy::default(),
            Some(n(caller)),
            n("+8617000000001"),
            None,
            NOW,
            counting,
        )
    }

    #[test]
    fn concurrent_caps_hold_until_the_call_ends_and_a_trace_takes_nothing() {
        use crate::controls::{CapScope, ConcurrentCap};
        let t = table(AppControls {
            concurrent: vec![
                ConcurrentCap {
                    scope: CapScope::X,
                    max: 2,
                    cause: None,
                },
                ConcurrentCap {
                    scope: CapScope::App,
                    max: 5,
                    cause: Some(Cause(7109)),
                },
            ],
            ..AppControls::default()
        });
        let first = admitted(&t, "+8613800000001", Counting::Count);
        assert!(first.live.is_some());
        let second = admitted(&t, "+8613900000001", Counting::Count);
        assert!(matches!(second.decision, RouteDecision::Connect(_)));
        // A route trace sees the X cap full and takes nothing.
        let (d, refusal) = call(&t, "+8613800000001", Counting::Probe);
        assert_eq!(cause(&d), Some(Cause::DISPLAY_NUMBER_FREQUENCY));
        assert!(matches!(
            refusal.unwrap().rule,
            crate::controls::Rule::Concurrent {
                scope: CapScope::X,
                max: 2
            }
        ));
        let third = admitted(&t, "+8613800000001", Counting::Count);
        assert_eq!(cause(&third.decision), Some(Cause(7003)));
        assert!(third.live.is_none());
        // The first call ends: the next one passes.
        drop(first);
        let fourth = admitted(&t, "+8613800000001", Counting::Count);
        assert!(fourth.live.is_some());
        drop((second, fourth));
        assert_eq!(t.live_calls().subjects(), 0);
    }

    fn cause(d: &RouteDecision) -> Option<Cause> {
        match d {
            RouteDecision::Reject(r) => Some(r.cause),
            _ => None,
        }
    }

    #[test]
    fn without_controls_the_decision_is_decides() {
        let t = table(AppControls::default());
        let (d, refusal) = call(&t, "+8613800000001", Counting::Count);
        assert!(matches!(d, RouteDecision::Connect(_)), "{d:?}");
        assert_eq!(refusal, None);
        assert!(t.app_controls(AppId(1)).is_none());
    }

    #[test]
    fn a_blacklisted_caller_is_refused_7005_with_the_binding() {
        let t = table(AppControls {
            caller_blacklist: NumberList {
                numbers: vec![n("+8613900000001")],
                prefixes: vec![],
            },
            ..AppControls::default()
        });
        let (d, refusal) = call(&t, "+8613900000001", Counting::Count);
        let RouteDecision::Reject(r) = d else {
            panic!("{d:?}")
        };
        assert_eq!(
            (r.cause, r.app, r.binding),
            (Cause(7005), Some(AppId(1)), Some(BindingId(9)))
        );
        assert_eq!(refusal.unwrap().rule, Rule::CallerBlacklisted);
        // The other party still gets through.
        assert!(matches!(
            call(&t, "+8613800000001", Counting::Count).0,
            RouteDecision::Connect(_)
        ));
    }

    #[test]
    fn the_limit_counts_real_calls_not_probes_and_refuses_8047() {
        let t = table(AppControls {
            limits: vec![FrequencyLimit {
                key: LimitKey::Caller,
                window_secs: 60,
                max: 2,
                cause: None,
            }],
            ..AppControls::default()
        });
        for _ in 0..5 {
            assert_eq!(cause(&call(&t, "+8613800000001", Counting::Probe).0), None);
        }
        assert_eq!(cause(&call(&t, "+8613800000001", Counting::Count).0), None);
        assert_eq!(cause(&call(&t, "+8613800000001", Counting::Count).0), None);
        assert_eq!(
            cause(&call(&t, "+8613800000001", Counting::Probe).0),
            Some(Cause::CALLER_FREQUENCY)
        );
        assert_eq!(
            cause(&call(&t, "+8613800000001", Counting::Count).0),
            Some(Cause::CALLER_FREQUENCY)
        );
    }

    #[test]
    fn a_call_decide_refuses_is_not_checked() {
        let t = table(AppControls {
            caller_blacklist: NumberList {
                numbers: vec![n("+8613700000001")],
                prefixes: vec![],
            },
            ..AppControls::default()
        });
        // No binding for this caller: decide's 8014 stands.
        assert_eq!(
            cause(&call(&t, "+8613700000001", Counting::Count).0),
            Some(Cause::NO_BINDING)
        );
    }
}
