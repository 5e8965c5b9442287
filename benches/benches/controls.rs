//! The call controls' cost on the route decision: `decide` against `decide_controlled` on the same AXB table,
//! with the app's controls (a caller blacklist, a time window, per-minute and per-hour caller limits, a daily
//! X limit, a caller–X pair limit) and 1M live counters of other callers already in the counter table.
//!
//! Each admitted call is counted (as on the call path), so the benched callers' own counters fill too; the
//! limits are set high enough that every benched call is admitted (the admitted path does the most work: every
//! check, then every count). Concurrent-call caps per X and per app are on too: each benched call takes its
//! units and gives them back when its decision is dropped (what the end of a call does).
//!
//! After criterion's means, a tail pass times 200,000 single decisions of each kind, interleaved in batches of
//! 1,000 (the clock read costs the same on both sides), and prints p50 / p99 / p99.9 of each and what the
//! controls add at each percentile.
//!
//! Run: `cargo bench -p pn-benches --bench controls` (`-- --test` runs each once, as a check that it works).

use std::hint::black_box;

use criterion::Criterion;
use pn_bindings::controls::{
    self, CapScope, ConcurrentCap, ControlledCall, FrequencyLimit, LimitKey, NumberList, TimeWindow,
};
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
        concurrent: vec![
            ConcurrentCap {
                scope: CapScope::X,
                max: 1000,
                cause: None,
            },
            ConcurrentCap {
                scope: CapScope::App,
                max: 1_000_000,
                cause: None,
            },
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

/// Nanoseconds at quantile `q` of sorted `v`.
fn quantile(v: &[u64], q: f64) -> u64 {
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let i = ((v.len() as f64 - 1.0) * q).round() as usize;
    v[i]
}

/// The tail pass (see the module docs): per-decision times of both kinds, their quantiles and the difference.
fn tail(rounds: usize) {
    let table = build();
    let policy = RoutePolicy::default();
    let mut i = 0u64;
    let mut next = || {
        i = (i + 7919) % PAIRS;
        (mobile(2 * i), x_number(i))
    };
    let (mut plain, mut controlled) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        for _ in 0..1000 {
            let (caller, x) = next();
            let t = std::time::Instant::now();
            black_box(decide(&table, &policy, Some(caller), x, None, NOW));
            plain.push(u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX));
        }
        for _ in 0..1000 {
            let (caller, x) = next();
            let t = std::time::Instant::now();
            drop(black_box(decide_controlled(
                &table,
                &policy,
                Some(caller),
                x,
                None,
                NOW,
                Counting::Count,
            )));
            controlled.push(u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX));
        }
    }
    plain.sort_unstable();
    controlled.sort_unstable();
    for (name, q) in [("p50", 0.5), ("p99", 0.99), ("p99.9", 0.999)] {
        let (a, b) = (quantile(&plain, q), quantile(&controlled, q));
        println!(
            "controls tail {name}: decide {a} ns, decide_controlled {b} ns, added {} ns",
            i128::from(b) - i128::from(a)
        );
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
    // `-- --test` (the check that the bench works) times a few rounds only.
    let quick = std::env::args().any(|a| a == "--test");
    tail(if quick { 2 } else { 200 });
}
