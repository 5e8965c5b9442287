//! The call controls' cost on the route decision: `decide` against `decide_controlled` on the same AXB table,
//! with the app's controls (a caller blacklist, a time window, per-minute and per-hour caller limits, a daily
//! X limit, a caller–X pair limit) and 1M live counters of other callers already in the counter table.
//!
//! Each admitted call is counted (as on the call path), so the benched callers' own counters fill too; the
//! limits are set high enough that every benched call is admitted (the admitted path does the most work: every
//! check, then every count).
//!
//! Run: `cargo bench -p pn-benches --bench controls` (`-- --test` runs each once, as a check that it works).

use std::hint::black_box;

use criterion::Criterion;
use pn_bindings::controls::{self, ControlledCall, FrequencyLimit, LimitKey, NumberList, TimeWindow};
use pn_bindings::{
    AppControls, AppId, AxbBinding, Binding, BindingId, BindingKind, BindingTable, CallControls,
    CallDirection, Counting, NumberStatus, RecordSettings, RoutePolicy, UnixTime, XNumber, decide,
    decide_controlled,
};
use pn_numbers::E164;

const NOW: UnixTime = UnixTime(1_700_000_000);
const PAIRS: u64 = 100_000;
const X_NUMBERS: u64 = 2000;
const LIVE_COUNTERS: u64 = 1_000_000;

fn mobile(i: u64) -> E164 {
    E164::from_digits(8_613_000_000_000 + i).unwrap_or_else(|| unreachable!())
}

fn x_number(i: u64) -> E164 {
    E164::from_digits(8_617_000_000_000 + i % X_NUMBERS).unwrap_or_else(|| unreachable!())
}

fn limit(key: LimitKey, window_secs: u32, max: u32) -> FrequencyLimit {
    FrequencyLimit {
        key,
        window_secs,
        max,
        cause: None,
    }
}

fn rules() -> AppControls {
    AppControls {
        caller_blacklist: NumberList {
            numbers: (0..16).map(|i| mobile(900_000_000 + i)).collect(),
            prefixes: vec!["+86170".into(), "+86171".into()],
        },
        time_window: Some(TimeWindow {
            utc_offset_minutes: 480,
            days: vec![],
            from_minute: 0,
            to_minute: 1440,
        }),
        limits: vec![
            limit(LimitKey::Caller, 60, 60_000),
            limit(LimitKey::Caller, 3600, 65_000),
            limit(LimitKey::X, 86_400, 65_535),
            limit(LimitKey::CallerX, 60, 60_000),
        ],
        ..AppControls::default()
    }
}

fn build() -> BindingTable {
    let table = BindingTable::with_capacity(PAIRS as usize);
    table.upsert_app(&pn_benches::bench_app(NOW, rules()));
    for i in 0..X_NUMBERS {
        table.upsert_number(&XNumber {
            number: x_number(i),
            app: AppId(1),
            area_code: "0755".into(),
            province: None,
            status: NumberStatus::Normal,
        });
    }
    for i in 0..PAIRS {
        table.insert_binding(&Binding {
            id: BindingId(i),
            subscription_id: String::new(),
            app: AppId(1),
            created_at: NOW,
            updated_at: NOW,
            expires_at: None,
            duration_secs: None,
            record: RecordSettings::default(),
            user_data: None,
            kind: BindingKind::Axb(AxbBinding {
                x: x_number(i),
                a: mobile(2 * i),
                b: mobile(2 * i + 1),
                direction: CallDirection::Both,
                controls: CallControls::default(),
            }),
        });
    }
    // 1M live counters: callers that are not bound (their calls count only in the counters).
    let only_callers = AppControls {
        limits: vec![limit(LimitKey::Caller, 60, 60_000)],
        ..AppControls::default()
    };
    for k in 0..LIVE_COUNTERS {
        let call = ControlledCall {
            app: AppId(1),
            caller: Some(mobile(10_000_000 + k)),
            callee: None,
            x: x_number(k),
        };
        let _ = controls::admit(&only_callers, table.control_counters(), &call, NOW);
    }
    table
}

fn bench(c: &mut Criterion) {
    let table = build();
    let policy = RoutePolicy::default();
    let mut i = 0u64;
    let mut next = || {
        i = (i + 7919) % PAIRS;
        (mobile(2 * i), x_number(i))
    };
    let mut group = c.benchmark_group("controls");
    group.bench_function("decide", |b| {
        b.iter(|| {
            let (caller, x) = next();
            black_box(decide(&table, &policy, Some(caller), x, None, NOW))
        });
    });
    group.bench_function("decide_controlled_1m_counters", |b| {
        b.iter(|| {
            let (caller, x) = next();
            black_box(decide_controlled(
                &table,
                &policy,
                Some(caller),
                x,
                None,
                NOW,
                Counting::Count,
            ))
        });
    });
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
}
