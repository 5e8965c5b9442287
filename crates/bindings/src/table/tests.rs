// Phone numbers are grouped as country code, prefix, subscriber.
#![allow(clippy::inconsistent_digit_grouping)]

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use super::*;
use crate::model::{
    AxBinding, AxbBinding, AxeBinding, AxybBinding, BindingKind, CallControls, NumberStatus, RecordSettings,
    TimeUnit, YbRelation,
};

fn n(digits: u64) -> E164 {
    E164::from_digits(digits).unwrap()
}

fn m(i: u64) -> E164 {
    n(86_138_0000_0000 + i)
}

fn x(i: u64) -> E164 {
    n(86_170_0000_0000 + i)
}

fn binding(id: u64, kind: BindingKind) -> Binding {
    Binding {
        id: BindingId(id),
        subscription_id: format!("s{id}"),
        app: AppId(1),
        created_at: UnixTime(0),
        updated_at: UnixTime(0),
        expires_at: None,
        duration_secs: None,
        record: RecordSettings::default(),
        user_data: None,
        kind,
    }
}

fn axb(id: u64, xi: u64, a: E164, b: E164, max_duration_min: u16) -> Binding {
    binding(
        id,
        BindingKind::Axb(AxbBinding {
            x: x(xi),
            a,
            b,
            direction: CallDirection::Both,
            controls: CallControls {
                max_duration_min,
                ..CallControls::default()
            },
        }),
    )
}

fn route_of(b: &Binding) -> AxbRoute {
    let BindingKind::Axb(p) = &b.kind else {
        panic!("not AXB")
    };
    AxbRoute {
        id: b.id,
        app: b.app,
        x: p.x,
        a: p.a,
        b: p.b,
        direction: p.direction,
        record: b.record.record,
        max_duration_min: p.controls.max_duration_min,
        expires_at: b.expires_at,
    }
}

#[test]
fn pool_and_apps_round_trip() {
    let t = BindingTable::new();
    let num = XNumber {
        number: x(1),
        app: AppId(1),
        area_code: "0755".into(),
        province: Some("Guangdong".into()),
        status: NumberStatus::Normal,
    };
    t.upsert_number(&num);
    assert_eq!(t.number(x(1)), Some(num.clone()));
    assert_eq!(t.numbers(), vec![num]);
    t.remove_number(x(1));
    assert_eq!(t.number(x(1)), None);
    assert!(t.numbers().is_empty());
    assert_eq!(t.app(AppId(1)), None);
}

#[test]
fn axb_counters_follow_inserts_replaces_and_removes() {
    let t = BindingTable::new();
    let b1 = axb(1, 1, m(1), m(2), 0);
    let b2 = axb(2, 1, m(3), m(4), 0);
    t.insert_binding(&b1);
    t.insert_binding(&b2);
    t.insert_binding(&b1); // idempotent
    assert_eq!((t.pairs_on_x(x(1)), t.len()), (2, 2));
    assert!(t.is_party_on_x(x(1), m(1)) && t.is_party_on_x(x(1), m(4)));
    assert!(!t.is_party_on_x(x(1), m(5)) && !t.is_party_on_x(x(2), m(1)));

    let b1b = axb(1, 1, m(1), m(5), 0);
    t.replace_binding(&b1, &b1b);
    assert_eq!((t.pairs_on_x(x(1)), t.len()), (2, 2));
    assert!(!t.is_party_on_x(x(1), m(2)) && t.is_party_on_x(x(1), m(5)));

    t.remove_binding(&b1b);
    t.remove_binding(&b1b);
    assert_eq!((t.pairs_on_x(x(1)), t.len()), (1, 1));
    assert!(!t.is_party_on_x(x(1), m(1)));
    t.remove_binding(&b2);
    assert!(t.is_empty());
    assert_eq!(t.pairs_on_x(x(1)), 0);
}

#[test]
fn ax_axe_axyb_counters() {
    let t = BindingTable::new();
    let ax = binding(
        1,
        BindingKind::Ax(AxBinding {
            x: x(1),
            a: m(1),
            direction: CallDirection::Both,
            turn_on: true,
            controls: CallControls::default(),
        }),
    );
    let axyb = binding(
        2,
        BindingKind::Axyb(AxybBinding {
            x: x(2),
            a: m(1),
            direction: CallDirection::Both,
            yb_duration_secs: None,
            pre_voice_x: None,
            pre_voice_y: None,
        }),
    );
    let yb = binding(
        3,
        BindingKind::Yb(YbRelation {
            parent: BindingId(2),
            x: x(2),
            a: m(1),
            y: x(9),
            b: m(7),
        }),
    );
    let axe = |id, ext: &str| {
        binding(
            id,
            BindingKind::Axe(AxeBinding {
                x: x(3),
                extension: ext.into(),
                a: m(2),
                fallback: AxeFallback::Release,
                time_unit: TimeUnit::Hours,
                bind_expired_time: None,
                callback_expired_time: None,
            }),
        )
    };
    for b in [&ax, &axyb, &yb, &axe(4, "01"), &axe(5, "1")] {
        t.insert_binding(b);
    }
    assert_eq!(t.len(), 5);
    assert_eq!(t.ax_binding_on_x(x(1)), Some(BindingId(1)));
    assert_eq!(t.ax_binding_on_x(x(2)), Some(BindingId(2)));
    assert_eq!(t.ax_binding_on_x(x(3)), None);
    assert_eq!(t.x_count_of_a(m(1)), 2);
    assert_eq!(t.relations_on_y(x(9)), 1);
    assert_eq!(t.y_relation(x(9), m(1)), Some(BindingId(3)));
    assert_eq!(t.y_relation(x(9), m(2)), None);
    assert_eq!(t.extensions_on_x(x(3)), 2);
    assert_eq!(t.extension_binding(x(3), "01"), Some(BindingId(4)));
    assert_eq!(t.extension_binding(x(3), "1"), Some(BindingId(5)));
    assert_eq!(t.extension_binding(x(3), "001"), None);

    // Moving an extension keeps the count and frees the old key.
    t.replace_binding(&axe(4, "01"), &axe(4, "02"));
    assert_eq!(t.extensions_on_x(x(3)), 2);
    assert_eq!(t.extension_binding(x(3), "01"), None);
    assert_eq!(t.extension_binding(x(3), "02"), Some(BindingId(4)));

    for b in [&ax, &axyb, &yb, &axe(4, "02"), &axe(5, "1")] {
        t.remove_binding(b);
    }
    assert!(t.is_empty());
    assert_eq!(
        (
            t.x_count_of_a(m(1)),
            t.relations_on_y(x(9)),
            t.extensions_on_x(x(3))
        ),
        (0, 0, 0)
    );
    assert_eq!((t.ax_binding_on_x(x(1)), t.y_relation(x(9), m(1))), (None, None));
}

#[test]
fn axb_index_grows_and_sheds_tombstones() {
    let t = BindingTable::new();
    let count = 5_000u64;
    let pairs: Vec<Binding> = (0..count)
        .map(|i| axb(i, i % 7, m(2 * i), m(2 * i + 1), 1))
        .collect();
    for b in &pairs {
        t.insert_binding(b);
    }
    let (capacity, live, _) = t.axb.stats();
    assert_eq!(live, 2 * count as usize);
    assert!(capacity >= live * 4 / 3);
    // Churn: remove and re-insert repeatedly; the array must not fill up with tombstones.
    for round in 0..4u16 {
        for b in &pairs {
            t.remove_binding(b);
        }
        assert!(t.is_empty());
        for b in &pairs {
            t.insert_binding(&axb(b.id.0, b.id.0 % 7, m(2 * b.id.0), m(2 * b.id.0 + 1), round));
        }
    }
    let (capacity_after, live, tombs) = t.axb.stats();
    assert_eq!(live, 2 * count as usize);
    assert!(capacity_after <= capacity * 2, "{capacity} -> {capacity_after}");
    assert!((live + tombs) * 4 <= capacity_after * 3);
    for i in 0..count {
        let r = t.axb.get(x(i % 7), m(2 * i + 1)).unwrap();
        assert_eq!((r.id, r.a, r.max_duration_min), (BindingId(i), m(2 * i), 3));
    }
}

#[test]
fn axb_key_taken_over_by_another_pair() {
    let t = BindingTable::new();
    t.insert_binding(&axb(1, 1, m(1), m(2), 0));
    t.insert_binding(&axb(2, 1, m(1), m(3), 0));
    assert_eq!(t.axb.get(x(1), m(1)).unwrap().id, BindingId(2));
    assert_eq!(t.axb.get(x(1), m(2)).unwrap().id, BindingId(1));
    t.remove_binding(&axb(1, 1, m(1), m(2), 0));
    assert_eq!(t.axb.get(x(1), m(2)), None);
    assert_eq!(t.axb.get(x(1), m(1)).unwrap().id, BindingId(2));
}

/// A writer inserts, replaces (in place and with new parties) and removes pairs while readers check that every
/// lookup returns a whole record of one of the versions the key could map to, never a mix or another key's.
#[test]
fn concurrent_readers_never_see_torn_or_foreign_records() {
    const PAIRS: u64 = 2_000;
    const ROUNDS: u64 = 30;
    let t = Arc::new(BindingTable::with_capacity(64));
    // Version v of pair i: A = m(i), B = m(100_000 + i + PAIRS * (v % 2)), max duration = v, expiry = v.
    // Every field is derived from (i, v), so a reader can check a record is internally consistent.
    let version = |i: u64, v: u64| {
        let mut b = axb(i, i % 13, m(i), m(100_000 + i + PAIRS * (v % 2)), v as u16);
        b.expires_at = Some(UnixTime((i * 1000 + v) as i64));
        b
    };
    for i in 0..PAIRS {
        t.insert_binding(&version(i, 0));
    }
    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|seed| {
            let t = Arc::clone(&t);
            let done = Arc::clone(&done);
            std::thread::spawn(move || {
                let mut checks = 0u64;
                let mut state: u64 = seed * 7919 + 1;
                while !done.load(Ordering::Relaxed) {
                    state = state
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    let i = (state >> 33) % PAIRS;
                    for party in [m(i), m(100_000 + i), m(100_000 + i + PAIRS)] {
                        if let Some(r) = t.axb.get(x(i % 13), party) {
                            let v = u64::from(r.max_duration_min);
                            assert_eq!(r.id, BindingId(i), "foreign record");
                            assert_eq!(r.expires_at, Some(UnixTime((i * 1000 + v) as i64)), "torn record");
                            assert_eq!(
                                (r.a, r.b),
                                (m(i), m(100_000 + i + PAIRS * (v % 2))),
                                "torn record"
                            );
                            assert!(r.a == party || r.b == party, "wrong key");
                            checks += 1;
                        }
                    }
                    // A's key is never absent during replaces (removes happen only on odd rounds' tail).
                }
                checks
            })
        })
        .collect();
    for round in 1..=ROUNDS {
        for i in 0..PAIRS {
            let old = version(i, round - 1);
            if round % 5 == 0 && i % 3 == 0 {
                t.remove_binding(&old);
                t.insert_binding(&version(i, round));
            } else {
                t.replace_binding(&old, &version(i, round));
            }
        }
    }
    done.store(true, Ordering::Relaxed);
    let checks: u64 = readers.into_iter().map(|r| r.join().unwrap()).sum();
    assert!(checks > 0);
    assert_eq!(t.len(), PAIRS as usize);
    for i in 0..PAIRS {
        let r = t.axb.get(x(i % 13), m(i)).unwrap();
        assert_eq!(u64::from(r.max_duration_min), ROUNDS);
    }
}

/// While pairs are replaced (same A, changing B and fields), a reader looking up A must always find it.
#[test]
fn replace_never_hides_a_shared_key() {
    const PAIRS: u64 = 500;
    let t = Arc::new(BindingTable::new());
    for i in 0..PAIRS {
        t.insert_binding(&axb(i, 1, m(i), m(10_000 + i), 0));
    }
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let t = Arc::clone(&t);
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            let mut i = 0;
            while !done.load(Ordering::Relaxed) {
                assert!(
                    t.axb.get(x(1), m(i)).is_some(),
                    "A of pair {i} vanished during a replace"
                );
                i = (i + 1) % PAIRS;
            }
        })
    };
    for v in 1..=40u64 {
        for i in 0..PAIRS {
            t.replace_binding(
                &axb(i, 1, m(i), m(10_000 + i + (v - 1) % 2 * PAIRS), 0),
                &axb(i, 1, m(i), m(10_000 + i + v % 2 * PAIRS), 0),
            );
        }
    }
    done.store(true, Ordering::Relaxed);
    reader.join().unwrap();
    assert_eq!(
        route_of(&axb(0, 1, m(0), m(10_000), 0)),
        t.axb.get(x(1), m(0)).unwrap()
    );
}

/// Growth and tombstone-shedding rebuilds publish new slot arrays while readers hold old ones: keys that stay
/// bound must be found throughout.
#[test]
fn rebuilds_never_hide_keys() {
    const STABLE: u64 = 300;
    let t = Arc::new(BindingTable::new());
    for i in 0..STABLE {
        t.insert_binding(&axb(i, 1, m(i), m(10_000 + i), 7));
    }
    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let t = Arc::clone(&t);
            let done = Arc::clone(&done);
            std::thread::spawn(move || {
                let mut i = 0;
                while !done.load(Ordering::Relaxed) {
                    let r = t
                        .axb
                        .get(x(1), m(10_000 + i))
                        .expect("stable key vanished during a rebuild");
                    assert_eq!((r.id, r.a, r.max_duration_min), (BindingId(i), m(i), 7));
                    i = (i + 1) % STABLE;
                }
            })
        })
        .collect();
    for round in 0..6u64 {
        let churn: Vec<Binding> = (0..3_000)
            .map(|i| axb(1_000 + i, 2, m(20_000 + i), m(40_000 + i + round), 0))
            .collect();
        for b in &churn {
            t.insert_binding(b);
        }
        for b in &churn {
            t.remove_binding(b);
        }
    }
    done.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().unwrap();
    }
    assert_eq!(t.len(), STABLE as usize);
}

#[test]
fn table_is_send_and_sync() {
    fn shared<T: Send + Sync>() {}
    shared::<BindingTable>();
    shared::<Arc<BindingTable>>();
}

#[test]
fn binding_media_per_mode_and_setter() {
    use crate::model::{AxBinding, BindingMedia, PreVoice};
    let t = BindingTable::new();
    // AXB: callerHintTone both ways, calleeHintTone to the callee, lastMinVoice only with maxDuration, record
    // hint only while recording.
    let mut b = axb(1, 1, m(1), m(2), 5);
    if let BindingKind::Axb(k) = &mut b.kind {
        k.controls.pre_voice = PreVoice {
            caller_hint_tone: Some("wait.wav".into()),
            callee_hint_tone: Some("answer.wav".into()),
        };
        k.controls.last_min_voice = Some("last.wav".into());
    }
    b.record = RecordSettings {
        record: true,
        hint_tone: Some("rec.wav".into()),
    };
    let media = BindingMedia::of(&b);
    assert_eq!(
        media,
        BindingMedia {
            caller_hint_from_a: Some("wait.wav".into()),
            caller_hint_to_a: Some("wait.wav".into()),
            callee_hint: Some("answer.wav".into()),
            record_hint: Some("rec.wav".into()),
            last_min_voice: Some("last.wav".into()),
        }
    );
    b.record.record = false;
    if let BindingKind::Axb(k) = &mut b.kind {
        k.controls.max_duration_min = 0;
    }
    let media = BindingMedia::of(&b);
    assert_eq!((media.record_hint, media.last_min_voice), (None, None));

    // AX without prompts: empty, not kept.
    let ax = binding(
        2,
        BindingKind::Ax(AxBinding {
            x: x(2),
            a: m(3),
            direction: CallDirection::Both,
            turn_on: true,
            controls: CallControls::default(),
        }),
    );
    assert!(BindingMedia::of(&ax).is_empty());
    t.set_binding_media(ax.id, Some(BindingMedia::of(&ax)));
    assert_eq!((t.binding_media(ax.id), t.media_entries()), (None, 0));

    // AXYB: preVoiceY when A calls Y, preVoiceX when B calls X; a relation inherits them.
    let parent = binding(
        3,
        BindingKind::Axyb(AxybBinding {
            x: x(3),
            a: m(4),
            direction: CallDirection::Both,
            yb_duration_secs: None,
            pre_voice_x: Some("px.wav".into()),
            pre_voice_y: Some("py.wav".into()),
        }),
    );
    let pm = BindingMedia::of(&parent);
    assert_eq!(
        (pm.caller_hint_from_a.as_deref(), pm.caller_hint_to_a.as_deref()),
        (Some("py.wav"), Some("px.wav"))
    );
    t.set_binding_media(parent.id, Some(pm.clone()));
    let rel = binding(
        4,
        BindingKind::Yb(YbRelation {
            parent: parent.id,
            x: x(3),
            a: m(4),
            y: x(4),
            b: m(5),
        }),
    );
    let rm = BindingMedia::of_relation(&rel, t.binding_media(parent.id).as_deref());
    assert_eq!(rm.caller_hint_from_a.as_deref(), Some("py.wav"));
    assert!(BindingMedia::of(&rel).is_empty());
    t.set_binding_media(rel.id, Some(rm));
    assert_eq!(t.media_entries(), 2);
    t.set_binding_media(rel.id, None);
    assert_eq!(t.binding_media(rel.id), None);
    assert!(t.binding_media(parent.id).is_some());
}

#[test]
fn app_media_follows_the_app() {
    use crate::model::{App, AppMedia, Mode};
    let t = BindingTable::new();
    let mut app = App {
        id: AppId(7),
        name: "a".into(),
        mode: Mode::Axe,
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
        push: crate::model::AppPush::default(),
        controls: crate::controls::AppControls::default(),
        allow_national_numbers: false,
    };
    assert_eq!(t.app_media(AppId(7)), None);
    assert_eq!(t.app_key_and_mode(AppId(7)), None);
    t.upsert_app(&app);
    assert_eq!(t.app_media(AppId(7)).as_deref(), Some(&AppMedia::default()));
    assert_eq!(t.app_key_and_mode(AppId(7)), Some(("k".to_owned(), Mode::Axe)));
    app.media.digit_terminator = None;
    app.media.no_binding_prompt = Some("nb.wav".into());
    t.upsert_app(&app);
    let m = t.app_media(AppId(7)).unwrap();
    assert_eq!(
        (m.digit_terminator, m.no_binding_prompt.as_deref()),
        (None, Some("nb.wav"))
    );
}

/// The table's bindings before a resync, and the snapshot's.
fn resync_fixture() -> (Vec<Binding>, Vec<Binding>) {
    let ax = binding(
        1,
        BindingKind::Ax(AxBinding {
            x: x(1),
            a: m(1),
            direction: CallDirection::Both,
            turn_on: true,
            controls: CallControls::default(),
        }),
    );
    let axyb = binding(
        2,
        BindingKind::Axyb(AxybBinding {
            x: x(2),
            a: m(1),
            direction: CallDirection::Both,
            yb_duration_secs: None,
            pre_voice_x: None,
            pre_voice_y: None,
        }),
    );
    let yb = binding(
        3,
        BindingKind::Yb(YbRelation {
            parent: BindingId(2),
            x: x(2),
            a: m(1),
            y: x(9),
            b: m(7),
        }),
    );
    let axe = |id, ext: &str| {
        binding(
            id,
            BindingKind::Axe(AxeBinding {
                x: x(3),
                extension: ext.into(),
                a: m(2),
                fallback: AxeFallback::Release,
                time_unit: TimeUnit::Hours,
                bind_expired_time: None,
                callback_expired_time: None,
            }),
        )
    };
    let held = vec![
        ax.clone(),
        axyb.clone(),
        yb,
        axe(4, "01"),
        axe(5, "1"),
        axb(6, 5, m(1), m(2), 0),
        axb(7, 5, m(3), m(4), 0),
    ];
    // The snapshot: AXB 6 moved to another B, AXB 7 and the Y–B relation gone, AXE 4 on another extension,
    // AXB 8 new.
    let snapshot = vec![
        ax,
        axyb,
        axe(4, "02"),
        axe(5, "1"),
        axb(6, 5, m(1), m(9), 3),
        axb(8, 6, m(5), m(6), 0),
    ];
    (held, snapshot)
}

/// A table brought to a snapshot with `retain_bindings` + inserts answers like a table loaded from it.
#[test]
fn retain_then_insert_equals_a_fresh_load_of_the_snapshot() {
    let (held, snapshot) = resync_fixture();
    let t = BindingTable::new();
    for b in &held {
        t.insert_binding(b);
    }
    let keys: std::collections::HashMap<_, _> = snapshot.iter().map(|b| (b.id, RouteKeys::of(b))).collect();
    assert_eq!(t.retain_bindings(&keys), 4, "AXB 6 and 7, the relation, AXE 4");
    for b in &snapshot {
        t.insert_binding(b);
    }
    let fresh = BindingTable::new();
    for b in &snapshot {
        fresh.insert_binding(b);
    }
    assert_eq!(t.len(), fresh.len());
    assert_eq!(t.echo_entries(), fresh.echo_entries());
    for (xi, party) in [
        (5, m(1)),
        (5, m(2)),
        (5, m(3)),
        (5, m(4)),
        (5, m(9)),
        (6, m(5)),
        (6, m(6)),
    ] {
        assert_eq!(
            t.axb.get(x(xi), party),
            fresh.axb.get(x(xi), party),
            "AXB ({xi}, {party:?})"
        );
    }
    for xi in [1, 2, 3, 5, 6, 9] {
        assert_eq!(t.pairs_on_x(x(xi)), fresh.pairs_on_x(x(xi)));
        assert_eq!(t.ax_binding_on_x(x(xi)), fresh.ax_binding_on_x(x(xi)));
        assert_eq!(t.extensions_on_x(x(xi)), fresh.extensions_on_x(x(xi)));
        assert_eq!(t.relations_on_y(x(xi)), fresh.relations_on_y(x(xi)));
    }
    for i in 1..=9 {
        assert_eq!(t.x_count_of_a(m(i)), fresh.x_count_of_a(m(i)));
        assert_eq!(t.y_relation(x(9), m(i)), fresh.y_relation(x(9), m(i)));
        assert_eq!(
            t.binding_echo(BindingId(i)).is_some(),
            fresh.binding_echo(BindingId(i)).is_some()
        );
    }
    for ext in ["01", "02", "1"] {
        assert_eq!(t.extension_binding(x(3), ext), fresh.extension_binding(x(3), ext));
    }
}
