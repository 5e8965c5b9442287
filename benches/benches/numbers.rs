//! pn-numbers: the call-path classifier and normaliser against the API-path validator.
//!
//! Run: `cargo bench -p pn-benches --bench numbers -- --warm-up-time 1 --measurement-time 2`.

use std::hint::black_box;

use criterion::{Criterion, Throughput};
use pn_numbers::{E164, classify, normalize, validate};

/// A mix of kinds as seen on the call path: mobiles, fixed lines, special services, international, invalid.
const MIX: [u64; 16] = [
    8_613_800_138_000,
    8_617_012_345_678,
    8_619_912_345_678,
    8_614_012_345_678,
    861_012_345_678,
    8_675_512_345_678,
    863_102_234_567,
    862_612_345_678,
    864_001_234_567,
    8_695_588,
    8_610_086,
    86_110,
    14_155_552_671,
    447_911_123_456,
    85_251_234_567,
    999_123_456_789,
];

/// SIP Request-URI / From / To user parts in the forms the switch receives.
const SIP_USER_PARTS: [&str; 8] = [
    "sip:+8613800138000@10.0.0.1;user=phone",
    "sip:13800138000@ims.example.com:5060",
    "+8613800138000;user=phone",
    "tel:+86-138-0013-8000",
    "tel:13800138000;phone-context=+86",
    "sip:075512345678@gw.example.com",
    "<sip:+14155552671@gw.example.com>;tag=1",
    "sip:95588@ims.example.com",
];

fn numbers(c: &mut Criterion) {
    let mix: Vec<E164> = MIX.iter().filter_map(|&d| E164::from_digits(d)).collect();

    let mut group = c.benchmark_group("numbers");
    group.throughput(Throughput::Elements(mix.len() as u64));
    group.bench_function("classify/mix16", |b| {
        b.iter(|| {
            for &n in &mix {
                black_box(classify(black_box(n)));
            }
        });
    });

    group.throughput(Throughput::Elements(SIP_USER_PARTS.len() as u64));
    group.bench_function("normalize/sip8", |b| {
        b.iter(|| {
            for input in SIP_USER_PARTS {
                let _ = black_box(normalize(black_box(input)));
            }
        });
    });
    group.bench_function("normalize+classify/sip8", |b| {
        b.iter(|| {
            for input in SIP_USER_PARTS {
                let _ = black_box(normalize(black_box(input)).map(classify));
            }
        });
    });
    group.bench_function("validate/sip8", |b| {
        b.iter(|| {
            for input in SIP_USER_PARTS {
                let _ = black_box(validate(black_box(input)));
            }
        });
    });
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    numbers(&mut c);
    c.final_summary();
}
