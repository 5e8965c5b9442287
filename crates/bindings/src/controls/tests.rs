use super::*;

fn n(s: &str) -> E164 {
    pn_numbers::normalize(s).unwrap()
}

fn call(caller: &str, callee: &str) -> ControlledCall {
    ControlledCall {
        app: AppId(1),
        caller: Some(n(caller)),
        callee: Some(n(callee)),
        x: n("+8617010000001"),
    }
}

const A: &str = "+8613800000001";
const B: &str = "+8613900000001";

fn cause_of(r: Result<(), Refusal>) -> Option<u16> {
    r.err().map(|r| r.cause.0)
}

#[test]
fn default_controls_refuse_nothing() {
    let c = AppControls::default();
    assert!(c.is_inert());
    let counters = ControlCounters::with_slots(64);
    for t in 0..100 {
        assert_eq!(
            admit(&c, &counters, &call(A, "+14155550100"), UnixTime(t)),
            Ok(())
        );
    }
}

#[test]
fn blacklists_by_number_and_prefix() {
    let c = AppControls {
        caller_blacklist: NumberList {
            numbers: vec![n(A)],
            prefixes: vec!["+86136".into()],
        },
        callee_blacklist: NumberList {
            numbers: vec![],
            prefixes: vec!["86139".into()],
        },
        ..AppControls::default()
    };
    let counters = ControlCounters::with_slots(64);
    let now = UnixTime(0);
    assert_eq!(
        cause_of(admit(&c, &counters, &call(A, "+8613700000000"), now)),
        Some(7005)
    );
    assert_eq!(
        cause_of(admit(
            &c,
            &counters,
            &call("+8613612345678", "+8613700000000"),
            now
        )),
        Some(7005)
    );
    assert_eq!(
        cause_of(admit(&c, &counters, &call("+8613700000000", B), now)),
        Some(7004)
    );
    assert_eq!(
        admit(&c, &counters, &call("+8613700000000", "+8613800000002"), now),
        Ok(())
    );
}

#[test]
fn allow_list_refuses_everyone_else_and_anonymous() {
    let c = AppControls {
        caller_allowlist: Some(NumberList {
            numbers: vec![n(A)],
            prefixes: vec![],
        }),
        ..AppControls::default()
    };
    let counters = ControlCounters::with_slots(64);
    assert_eq!(admit(&c, &counters, &call(A, B), UnixTime(0)), Ok(()));
    assert_eq!(
        cause_of(admit(&c, &counters, &call(B, A), UnixTime(0))),
        Some(7005)
    );
    let anonymous = ControlledCall {
        caller: None,
        ..call(A, B)
    };
    let r = admit(&c, &counters, &anonymous, UnixTime(0)).unwrap_err();
    assert_eq!((r.cause.0, r.rule), (7005, Rule::CallerNotAllowed));
}

#[test]
fn restricted_prefixes_and_international_switches() {
    let c = AppControls {
        restricted_prefixes: vec!["+86170".into()],
        international_in: false,
        international_out: false,
        ..AppControls::default()
    };
    let counters = ControlCounters::with_slots(64);
    let now = UnixTime(0);
    let r = admit(&c, &counters, &call(A, "+8617012345678"), now).unwrap_err();
    assert_eq!(
        (r.cause.0, r.rule),
        (7500, Rule::RestrictedPrefix("+86170".into()))
    );
    assert_eq!(
        cause_of(admit(&c, &counters, &call("+14155550100", B), now)),
        Some(8042)
    );
    assert_eq!(
        cause_of(admit(&c, &counters, &call(A, "+14155550100"), now)),
        Some(8043)
    );
    assert_eq!(admit(&c, &counters, &call(A, B), now), Ok(()));
}

#[test]
fn prefix_matching_is_on_leading_digits() {
    let x = n("+8613812345678");
    assert!(prefix_matches("+86138", x));
    assert!(prefix_matches("8613812345678", x));
    assert!(!prefix_matches("+861381234567899", x));
    assert!(!prefix_matches("+86139", x));
    assert!(!prefix_matches("0086", x));
    assert!(!prefix_matches("abc", x));
}

#[test]
fn time_window_in_the_apps_offset_and_days() {
    // 2026-12-07 is a Monday. 09:00–18:00 local (UTC+8), Monday to Friday.
    let monday_0000_utc = 1_796_601_600;
    let w = TimeWindow {
        utc_offset_minutes: 480,
        days: vec![1, 2, 3, 4, 5],
        from_minute: 9 * 60,
        to_minute: 18 * 60,
    };
    let c = AppControls {
        time_window: Some(w),
        ..AppControls::default()
    };
    let counters = ControlCounters::with_slots(64);
    let at = |h: i64, m: i64| UnixTime(monday_0000_utc + h * 3600 + m * 60);
    // 00:59 UTC = 08:59 local: refused; 01:00 UTC = 09:00 local: allowed; 10:00 UTC = 18:00 local: refused.
    assert_eq!(cause_of(admit(&c, &counters, &call(A, B), at(0, 59))), Some(8050));
    assert_eq!(admit(&c, &counters, &call(A, B), at(1, 0)), Ok(()));
    assert_eq!(admit(&c, &counters, &call(A, B), at(9, 59)), Ok(()));
    assert_eq!(cause_of(admit(&c, &counters, &call(A, B), at(10, 0))), Some(8050));
    // Saturday 10:00 local (Saturday 02:00 UTC): refused by the day.
    assert_eq!(
        cause_of(admit(&c, &counters, &call(A, B), at(5 * 24 + 2, 0))),
        Some(8050)
    );
}

#[test]
fn time_window_across_midnight() {
    let w = TimeWindow {
        utc_offset_minutes: 0,
        days: vec![],
        from_minute: 22 * 60,
        to_minute: 6 * 60,
    };
    assert!(w.allows(UnixTime(23 * 3600)));
    assert!(w.allows(UnixTime(86_400 + 5 * 3600)));
    assert!(!w.allows(UnixTime(12 * 3600)));
}

fn limit(key: LimitKey, window_secs: u32, max: u32) -> FrequencyLimit {
    FrequencyLimit {
        key,
        window_secs,
        max,
        cause: None,
    }
}

#[test]
fn caller_limit_per_minute_then_the_window_slides() {
    let c = AppControls {
        limits: vec![limit(LimitKey::Caller, 60, 3)],
        ..AppControls::default()
    };
    let counters = ControlCounters::with_slots(1024);
    for t in [0, 10, 20] {
        assert_eq!(admit(&c, &counters, &call(A, B), UnixTime(t)), Ok(()), "t={t}");
    }
    let r = admit(&c, &counters, &call(A, B), UnixTime(30)).unwrap_err();
    assert_eq!(r.cause, Cause::CALLER_FREQUENCY);
    assert!(
        matches!(r.rule, Rule::Frequency { estimate: 3, .. }),
        "{:?}",
        r.rule
    );
    // Another caller is not limited.
    assert_eq!(admit(&c, &counters, &call(B, A), UnixTime(30)), Ok(()));
    // Refused calls were not counted; at t = 100 the previous window weighs 3 × (60 − 40)/60 = 1, at 102
    // 0.9 (+ 2 counted: 2.9 < 3), at 103 0.85 (+ 3).
    for t in [100, 101, 102] {
        assert_eq!(admit(&c, &counters, &call(A, B), UnixTime(t)), Ok(()), "t={t}");
    }
    assert_eq!(
        cause_of(admit(&c, &counters, &call(A, B), UnixTime(103))),
        Some(8047)
    );
    // Two windows later the caller starts afresh.
    for t in [240, 241, 242] {
        assert_eq!(admit(&c, &counters, &call(A, B), UnixTime(t)), Ok(()), "t={t}");
    }
}

#[test]
fn several_limits_at_once_and_each_key_with_its_cause() {
    let c = AppControls {
        limits: vec![
            limit(LimitKey::Caller, 60, 100),
            limit(LimitKey::Caller, 3600, 2),
            limit(LimitKey::Callee, 60, 3),
            limit(LimitKey::X, 86_400, 5),
            FrequencyLimit {
                cause: Some(Cause(7003)),
                ..limit(LimitKey::CallerX, 60, 4)
            },
        ],
        ..AppControls::default()
    };
    let counters = ControlCounters::with_slots(1 << 12);
    let now = UnixTime(7200);
    // The hourly caller limit (2) bites before the per-minute one (100).
    assert_eq!(admit(&c, &counters, &call(A, B), now), Ok(()));
    assert_eq!(admit(&c, &counters, &call(A, B), now), Ok(()));
    assert_eq!(cause_of(admit(&c, &counters, &call(A, B), now)), Some(8047));
    // B has been called twice; a third caller's call to B is the third: allowed; the fourth is refused by
    // the callee limit.
    assert_eq!(admit(&c, &counters, &call("+8613700000001", B), now), Ok(()));
    assert_eq!(
        cause_of(admit(&c, &counters, &call("+8613700000002", B), now)),
        Some(8048)
    );
    // X has taken 3 calls; two more pass, then 8049.
    assert_eq!(admit(&c, &counters, &call("+8613700000003", A), now), Ok(()));
    assert_eq!(admit(&c, &counters, &call("+8613700000004", A), now), Ok(()));
    assert_eq!(
        cause_of(admit(&c, &counters, &call("+8613700000005", A), now)),
        Some(8049)
    );
}

#[test]
fn caller_x_pair_limit_uses_its_configured_cause() {
    let c = AppControls {
        limits: vec![FrequencyLimit {
            cause: Some(Cause(7003)),
            ..limit(LimitKey::CallerX, 60, 1)
        }],
        ..AppControls::default()
    };
    let counters = ControlCounters::with_slots(1024);
    assert_eq!(admit(&c, &counters, &call(A, B), UnixTime(0)), Ok(()));
    assert_eq!(
        cause_of(admit(&c, &counters, &call(A, B), UnixTime(1))),
        Some(7003)
    );
    // The same caller through another X is another pair.
    let other_x = ControlledCall {
        x: n("+8617010000002"),
        ..call(A, B)
    };
    assert_eq!(admit(&c, &counters, &other_x, UnixTime(1)), Ok(()));
}

#[test]
fn probe_does_not_count() {
    let c = AppControls {
        limits: vec![limit(LimitKey::Caller, 60, 1)],
        ..AppControls::default()
    };
    let counters = ControlCounters::with_slots(1024);
    for _ in 0..5 {
        assert_eq!(probe(&c, &counters, &call(A, B), UnixTime(0)), Ok(()));
    }
    assert_eq!(admit(&c, &counters, &call(A, B), UnixTime(0)), Ok(()));
    assert_eq!(
        cause_of(probe(&c, &counters, &call(A, B), UnixTime(0))),
        Some(8047)
    );
}

#[test]
fn apps_do_not_share_counters() {
    let c = AppControls {
        limits: vec![limit(LimitKey::Caller, 60, 1)],
        ..AppControls::default()
    };
    let counters = ControlCounters::with_slots(1024);
    assert_eq!(admit(&c, &counters, &call(A, B), UnixTime(0)), Ok(()));
    let other_app = ControlledCall {
        app: AppId(2),
        ..call(A, B)
    };
    assert_eq!(admit(&c, &counters, &other_app, UnixTime(0)), Ok(()));
}

/// A scanner dialling 10 million distinct numbers: the counters' memory is what was allocated at the start,
/// the live entries never exceed the slots, and a steady caller's limit still holds once its bucket is
/// reused by a later window.
#[test]
fn ten_million_distinct_callees_stay_within_the_fixed_capacity() {
    let c = AppControls {
        limits: vec![limit(LimitKey::Callee, 60, 1000)],
        ..AppControls::default()
    };
    let slots = 1 << 16;
    let counters = ControlCounters::with_slots(slots);
    let bytes = counters.bytes();
    assert_eq!(bytes, slots * 8);
    let base = 8_613_000_000_000u64;
    let mut refused = 0u32;
    for i in 0..10_000_000u64 {
        let callee = E164::from_digits(base + i).unwrap();
        // 10M calls over ~2.8 hours of virtual time (3,600 calls per virtual second... every 3,600th call
        // advances the clock by a second).
        let now = UnixTime(i64::try_from(i / 1000).unwrap());
        let call = ControlledCall {
            app: AppId(1),
            caller: Some(n(A)),
            callee: Some(callee),
            x: n("+8617010000001"),
        };
        if admit(&c, &counters, &call, now).is_err() {
            refused += 1;
        }
    }
    // Every callee is new: none reaches its limit.
    assert_eq!(refused, 0);
    assert_eq!(counters.capacity(), slots);
    assert_eq!(counters.bytes(), bytes);
    let live = counters.live_entries(UnixTime(9_999), 60);
    assert!(live <= slots, "{live} live entries in {slots} slots");
    assert!(live > slots / 2, "the table is in use: {live}");
}

#[test]
fn validation() {
    let mut c = AppControls::default();
    assert_eq!(c.validate(), Ok(()));
    c.restricted_prefixes = vec!["+86x".into()];
    assert!(matches!(c.validate(), Err(ControlsError::BadPrefix(_))));
    c.restricted_prefixes.clear();
    c.limits = vec![limit(LimitKey::X, 0, 1)];
    assert!(matches!(c.validate(), Err(ControlsError::BadLimit(_))));
    c.limits = vec![limit(LimitKey::X, 60, 70_000)];
    assert!(matches!(c.validate(), Err(ControlsError::BadLimit(_))));
    // A limit or cap may pick any control cause, and only those.
    for (cause, ok) in [
        (7001, true),
        (8057, true),
        (8056, true),
        (8014, false),
        (0, false),
        (522, false),
    ] {
        c.limits = vec![FrequencyLimit {
            cause: Some(Cause(cause)),
            ..limit(LimitKey::Caller, 60, 1)
        }];
        assert_eq!(c.validate().is_ok(), ok, "limit cause {cause}");
        c.limits.clear();
        c.concurrent = vec![ConcurrentCap {
            scope: CapScope::App,
            max: 1,
            cause: Some(Cause(cause)),
        }];
        assert_eq!(c.validate().is_ok(), ok, "cap cause {cause}");
        c.concurrent.clear();
    }
    c.time_window = Some(TimeWindow {
        utc_offset_minutes: 0,
        days: vec![0],
        from_minute: 0,
        to_minute: 60,
    });
    assert!(matches!(c.validate(), Err(ControlsError::BadTimeWindow(_))));
}

#[test]
fn json_form() {
    let c: AppControls = serde_json::from_str(
        r#"{"callerBlacklist":{"numbers":["+8613800000001"],"prefixes":["+86136"]},
            "limits":[{"key":"caller","windowSecs":60,"max":3},{"key":"callerX","windowSecs":3600,"max":10,"cause":7003}],
            "timeWindow":{"utcOffsetMinutes":480,"days":[1,2,3,4,5],"fromMinute":540,"toMinute":1080},
            "internationalIn":false}"#,
    )
    .unwrap();
    assert_eq!(c.limits[1].cause(), Cause(7003));
    assert_eq!(c.limits[0].cause(), Cause::CALLER_FREQUENCY);
    assert!(!c.international_in && c.international_out);
    let back: AppControls = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
    assert_eq!(back, c);
    assert!(serde_json::from_str::<AppControls>(r#"{"bogus":1}"#).is_err());
}
