//! The notifier on a virtual clock: a base `Instant` plus milliseconds.

use std::sync::Arc;
use std::time::{Duration, Instant};

use pn_bindings::AppId;
use serde_json::Value;

use crate::config::NotifyConfig;
use crate::entry::{Entry, EntryId, Output, Push, PushId, PushKind, PushOutcome};
use crate::error::NotifyError;
use crate::notifier::Notifier;

/// The reference's schedule scaled down 60 times: minutes become seconds.
const SCHEDULE_MS: [u64; 6] = [1_000, 4_000, 9_000, 106_000, 203_000, 300_000];
const WAIT_MS: u64 = 1_000;

struct Clock {
    t0: Instant,
}

impl Clock {
    fn new() -> Self {
        #[allow(clippy::disallowed_methods)] // one real Instant to start the virtual clock
        let t0 = Instant::now();
        Self { t0 }
    }

    fn at(&self, ms: u64) -> Instant {
        self.t0 + Duration::from_millis(ms)
    }
}

fn config() -> NotifyConfig {
    NotifyConfig {
        retry_schedule_ms: SCHEDULE_MS.to_vec(),
        max_in_flight_per_app: 4,
        cdr_batch_max: 50,
        cdr_batch_wait_ms: WAIT_MS,
        max_entries: 10_000,
    }
}

fn notifier(config: &NotifyConfig) -> Notifier {
    Notifier::new(config).unwrap()
}

fn event(id: u64, app: u32, key: Option<&str>, at: Instant) -> Entry {
    let session = key.unwrap_or("none");
    let body = format!(
        r#"{{"eventType":"callin","statusInfo":{{"timestamp":"2026-01-01 00:00:00","sessionId":"{session}","caller":"+8613800000001","called":"+8617000000000","entry":{id}}}}}"#
    );
    Entry {
        id: EntryId(id),
        app: AppId(app),
        kind: PushKind::CallEvent,
        order_key: key.map(str::to_owned),
        body: Arc::from(body),
        enqueued_at: at,
    }
}

fn cdr(id: u64, app: u32, at: Instant) -> Entry {
    Entry {
        id: EntryId(id),
        app: AppId(app),
        kind: PushKind::Cdr,
        order_key: None,
        body: Arc::from(format!(
            r#"{{"icid":"icid-{id}","direction":1,"sessionId":"s{id}"}}"#
        )),
        enqueued_at: at,
    }
}

/// Everything up to and including the drain's `Timeout`.
fn drain(n: &mut Notifier) -> Vec<Output> {
    let mut outputs = Vec::new();
    while let Some(output) = n.poll_output() {
        let last = matches!(output, Output::Timeout(_));
        outputs.push(output);
        if last {
            break;
        }
    }
    assert_eq!(n.poll_output(), None, "nothing after the drain's Timeout");
    outputs
}

fn pushes(outputs: &[Output]) -> Vec<Push> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Push(p) => Some(p.clone()),
            _ => None,
        })
        .collect()
}

fn ids(push: &Push) -> Vec<u64> {
    push.entries.iter().map(|e| e.0).collect()
}

fn timeout(outputs: &[Output]) -> Option<Instant> {
    match outputs.last() {
        Some(Output::Timeout(at)) => Some(*at),
        _ => None,
    }
}

fn failed() -> PushOutcome {
    PushOutcome::Failed {
        reason: "HTTP 503".into(),
    }
}

/// The `icid`s of a CDR push's `feeLst`, checking its envelope.
fn icids(push: &Push) -> Vec<String> {
    assert_eq!(push.kind, PushKind::Cdr);
    let v: Value = serde_json::from_str(&push.body).unwrap();
    assert_eq!(v["eventType"], "fee");
    v["feeLst"]
        .as_array()
        .unwrap()
        .iter()
        .map(|fee| fee["icid"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn events_of_one_call_go_one_at_a_time_in_order() {
    let c = Clock::new();
    let mut n = notifier(&config());
    for (id, key) in [(1, "call-a"), (2, "call-a"), (3, "call-a"), (4, "call-b")] {
        n.enqueue(c.at(0), event(id, 1, Some(key), c.at(0))).unwrap();
    }
    let first = pushes(&drain(&mut n));
    assert_eq!(first.iter().map(ids).collect::<Vec<_>>(), [vec![1], vec![4]]);

    n.handle_result(c.at(10), first[0].id, PushOutcome::Delivered)
        .unwrap();
    let out = drain(&mut n);
    assert_eq!(out[0], Output::Delivered(vec![EntryId(1)]));
    let second = pushes(&out);
    assert_eq!(second.iter().map(ids).collect::<Vec<_>>(), [vec![2]]);

    // Entry 2 fails: entry 3 stays behind it until 2 is delivered on its retry.
    n.handle_result(c.at(20), second[0].id, failed()).unwrap();
    let out = drain(&mut n);
    assert!(pushes(&out).is_empty(), "{out:?}");
    assert_eq!(timeout(&out), Some(c.at(1_020)));
    n.handle_timeout(c.at(1_020));
    let retry = pushes(&drain(&mut n));
    assert_eq!(retry.iter().map(ids).collect::<Vec<_>>(), [vec![2]]);
    n.handle_result(c.at(1_030), retry[0].id, PushOutcome::Delivered)
        .unwrap();
    let third = pushes(&drain(&mut n));
    assert_eq!(third.iter().map(ids).collect::<Vec<_>>(), [vec![3]]);
}

#[test]
fn retries_follow_the_schedule_from_the_first_failure_then_dead_letter() {
    let c = Clock::new();
    let mut n = notifier(&config());
    n.enqueue(c.at(0), event(7, 1, Some("s"), c.at(0))).unwrap();
    let mut push = pushes(&drain(&mut n)).remove(0);
    let first_failure = 500;
    n.handle_result(c.at(first_failure), push.id, failed()).unwrap();
    let mut attempts = 1;
    for offset in SCHEDULE_MS {
        let due = first_failure + offset;
        let out = drain(&mut n);
        assert!(pushes(&out).is_empty());
        assert!(!out.iter().any(|o| matches!(o, Output::DeadLettered(_))));
        assert_eq!(
            timeout(&out),
            Some(c.at(due)),
            "retry {attempts} due at +{offset} ms"
        );
        n.handle_timeout(c.at(due - 1));
        assert!(pushes(&drain(&mut n)).is_empty(), "not before its time");
        n.handle_timeout(c.at(due));
        let mut retried = pushes(&drain(&mut n));
        assert_eq!(retried.len(), 1, "retry {attempts} at +{offset} ms");
        push = retried.remove(0);
        assert_eq!(ids(&push), [7]);
        attempts += 1;
        // Each retry's own failure is reported a little later: the schedule still counts from the first.
        n.handle_result(c.at(due + 250), push.id, failed()).unwrap();
    }
    assert_eq!(attempts, 7, "the first attempt and six retries");
    let out = drain(&mut n);
    assert_eq!(
        out,
        [Output::DeadLettered(vec![EntryId(7)])],
        "dead, and no deadline left"
    );
    assert_eq!(n.held(), 0);
}

#[test]
fn a_retry_reported_late_goes_at_once() {
    let c = Clock::new();
    let mut n = notifier(&config());
    n.enqueue(c.at(0), event(1, 1, None, c.at(0))).unwrap();
    let push = pushes(&drain(&mut n)).remove(0);
    n.handle_result(c.at(0), push.id, failed()).unwrap();
    n.handle_timeout(c.at(1_000));
    let retry = pushes(&drain(&mut n)).remove(0);
    // The second retry is due at +4 s after the first failure; this failure comes at +6 s.
    n.handle_result(c.at(6_000), retry.id, failed()).unwrap();
    let again = pushes(&drain(&mut n));
    assert_eq!(again.iter().map(ids).collect::<Vec<_>>(), [vec![1]]);
}

#[test]
fn dead_letters_replay_with_a_fresh_schedule() {
    let c = Clock::new();
    let cfg = NotifyConfig {
        retry_schedule_ms: vec![1_000],
        ..config()
    };
    let mut n = notifier(&cfg);
    let entry = event(3, 1, Some("s"), c.at(0));
    n.enqueue(c.at(0), entry.clone()).unwrap();
    let p = pushes(&drain(&mut n)).remove(0);
    n.handle_result(c.at(0), p.id, failed()).unwrap();
    n.handle_timeout(c.at(1_000));
    let p = pushes(&drain(&mut n)).remove(0);
    n.handle_result(c.at(1_000), p.id, failed()).unwrap();
    assert_eq!(drain(&mut n), [Output::DeadLettered(vec![EntryId(3)])]);

    n.replay(c.at(9_000), vec![entry.clone()]).unwrap();
    assert_eq!(
        n.replay(c.at(9_000), vec![entry.clone()]),
        Err(NotifyError::Duplicate(EntryId(3)))
    );
    let p = pushes(&drain(&mut n)).remove(0);
    assert_eq!(ids(&p), [3]);
    assert_eq!(p.body, *entry.body);
    // A fresh schedule: the first failure after the replay is retried, not dead-lettered.
    n.handle_result(c.at(9_100), p.id, failed()).unwrap();
    let out = drain(&mut n);
    assert_eq!(out, [Output::Timeout(c.at(10_100))]);
    n.handle_timeout(c.at(10_100));
    let p = pushes(&drain(&mut n)).remove(0);
    n.handle_result(c.at(10_200), p.id, PushOutcome::Delivered)
        .unwrap();
    assert_eq!(drain(&mut n), [Output::Delivered(vec![EntryId(3)])]);
}

#[test]
fn a_slow_or_dead_receiver_does_not_hold_back_another_app() {
    let c = Clock::new();
    let mut n = notifier(&config());
    for id in 1..=10 {
        n.enqueue(c.at(0), event(id, 1, None, c.at(0))).unwrap();
    }
    let app1 = pushes(&drain(&mut n));
    assert_eq!(
        app1.len(),
        4,
        "app 1's slots are full; its receiver never answers"
    );

    n.enqueue(c.at(100), event(100, 2, Some("x"), c.at(100))).unwrap();
    let app2 = pushes(&drain(&mut n));
    assert_eq!(
        app2.iter().map(|p| (p.app, ids(p))).collect::<Vec<_>>(),
        [(AppId(2), vec![100])]
    );

    // App 1's receiver now fails everything: its retries wait, app 2 still goes at once.
    for p in &app1 {
        n.handle_result(c.at(200), p.id, failed()).unwrap();
    }
    let refill = pushes(&drain(&mut n));
    assert!(refill.iter().all(|p| p.app == AppId(1)));
    assert_eq!(refill.len(), 4, "entries 5-8 take the freed slots");
    n.enqueue(c.at(300), event(101, 2, None, c.at(300))).unwrap();
    let app2 = pushes(&drain(&mut n));
    assert_eq!(
        app2.iter().map(|p| (p.app, ids(p))).collect::<Vec<_>>(),
        [(AppId(2), vec![101])]
    );
}

#[test]
fn at_most_the_limit_in_flight_per_app_oldest_first() {
    let c = Clock::new();
    let cfg = NotifyConfig {
        max_in_flight_per_app: 3,
        ..config()
    };
    let mut n = notifier(&cfg);
    for id in (1..=8).rev() {
        // Enqueued newest first; the oldest `enqueued_at` goes first.
        n.enqueue(c.at(100), event(id, 1, None, c.at(id))).unwrap();
    }
    let first = pushes(&drain(&mut n));
    assert_eq!(
        first.iter().map(ids).collect::<Vec<_>>(),
        [vec![1], vec![2], vec![3]]
    );
    assert_eq!(n.in_flight(), 3);
    n.handle_result(c.at(200), first[1].id, PushOutcome::Delivered)
        .unwrap();
    let next = pushes(&drain(&mut n));
    assert_eq!(next.iter().map(ids).collect::<Vec<_>>(), [vec![4]]);
    assert_eq!(n.in_flight(), 3);
}

#[test]
fn fifty_one_cdrs_make_a_full_batch_at_once_and_one_after_the_wait() {
    let c = Clock::new();
    let mut n = notifier(&config());
    for id in 1..=51 {
        n.enqueue(c.at(0), cdr(id, 1, c.at(0))).unwrap();
    }
    let out = drain(&mut n);
    let batches = pushes(&out);
    assert_eq!(batches.len(), 1, "the full batch goes at once");
    assert_eq!(ids(&batches[0]), (1..=50).collect::<Vec<_>>());
    let expected: Vec<String> = (1..=50).map(|i| format!("icid-{i}")).collect();
    assert_eq!(icids(&batches[0]), expected);
    assert_eq!(
        timeout(&out),
        Some(c.at(WAIT_MS)),
        "the 51st waits for companions"
    );

    n.handle_timeout(c.at(WAIT_MS - 1));
    assert!(pushes(&drain(&mut n)).is_empty());
    n.handle_timeout(c.at(WAIT_MS));
    let rest = pushes(&drain(&mut n));
    assert_eq!(rest.iter().map(ids).collect::<Vec<_>>(), [vec![51]]);
    assert_eq!(icids(&rest[0]), ["icid-51"]);
}

#[test]
fn cdrs_ending_close_together_share_a_push() {
    let c = Clock::new();
    let mut n = notifier(&config());
    n.enqueue(c.at(0), cdr(1, 1, c.at(0))).unwrap();
    assert_eq!(drain(&mut n), [Output::Timeout(c.at(WAIT_MS))]);
    n.enqueue(c.at(300), cdr(2, 1, c.at(300))).unwrap();
    n.enqueue(c.at(300), event(3, 1, None, c.at(300))).unwrap();
    let out = drain(&mut n);
    assert_eq!(
        pushes(&out).iter().map(|p| p.kind).collect::<Vec<_>>(),
        [PushKind::CallEvent]
    );
    assert_eq!(
        timeout(&out),
        Some(c.at(WAIT_MS)),
        "the oldest CDR's wait decides"
    );
    n.handle_timeout(c.at(WAIT_MS));
    let batch = pushes(&drain(&mut n));
    assert_eq!(batch.iter().map(ids).collect::<Vec<_>>(), [vec![1, 2]]);
}

#[test]
fn cdrs_read_back_from_the_store_go_in_full_batches_at_once() {
    let c = Clock::new();
    let mut n = notifier(&config());
    // Stored long ago (a restart): no wait, but still merged, 50 per push.
    for id in 1..=120 {
        n.enqueue(c.at(60_000), cdr(id, 1, c.at(0))).unwrap();
    }
    let batches = pushes(&drain(&mut n));
    assert_eq!(
        batches.iter().map(|p| p.entries.len()).collect::<Vec<_>>(),
        [50, 50, 20]
    );
}

#[test]
fn a_failed_batch_is_retried_with_every_cdr_once() {
    let c = Clock::new();
    let mut n = notifier(&config());
    for id in 1..=3 {
        n.enqueue(c.at(0), cdr(id, 1, c.at(0))).unwrap();
    }
    n.handle_timeout(c.at(WAIT_MS));
    let batch = pushes(&drain(&mut n)).remove(0);
    assert_eq!(ids(&batch), [1, 2, 3]);
    n.handle_result(c.at(1_500), batch.id, failed()).unwrap();
    let out = drain(&mut n);
    assert!(
        !out.iter().any(|o| matches!(o, Output::Delivered(_))),
        "not delivered on failure"
    );
    assert_eq!(timeout(&out), Some(c.at(2_500)));
    // A new CDR meanwhile joins the retry: a different batch, each CDR once with its own icid.
    n.enqueue(c.at(2_000), cdr(4, 1, c.at(2_000))).unwrap();
    assert!(pushes(&drain(&mut n)).is_empty());
    n.handle_timeout(c.at(2_500));
    let retry = pushes(&drain(&mut n)).remove(0);
    assert_eq!(ids(&retry), [1, 2, 3, 4]);
    assert_eq!(icids(&retry), ["icid-1", "icid-2", "icid-3", "icid-4"]);
    n.handle_result(c.at(2_600), retry.id, PushOutcome::Delivered)
        .unwrap();
    assert_eq!(
        drain(&mut n),
        [Output::Delivered(vec![
            EntryId(1),
            EntryId(2),
            EntryId(3),
            EntryId(4)
        ])]
    );
    assert_eq!(n.held(), 0);
}

#[test]
fn the_cap_refuses_entries_until_some_leave() {
    let c = Clock::new();
    let cfg = NotifyConfig {
        max_entries: 3,
        ..config()
    };
    let mut n = notifier(&cfg);
    for id in 1..=3 {
        n.enqueue(c.at(0), event(id, 1, None, c.at(0))).unwrap();
    }
    assert_eq!(
        n.enqueue(c.at(0), event(4, 2, None, c.at(0))),
        Err(NotifyError::Full {
            id: EntryId(4),
            cap: 3
        })
    );
    let sent = pushes(&drain(&mut n));
    assert_eq!(sent.len(), 3, "the refused entry is not held");
    assert_eq!(n.held(), 3);
    n.handle_result(c.at(10), sent[0].id, PushOutcome::Delivered)
        .unwrap();
    drain(&mut n);
    n.enqueue(c.at(20), event(4, 2, None, c.at(0))).unwrap();
    assert_eq!(n.held(), 3);
    // Replay is all or none.
    n.handle_result(c.at(30), sent[1].id, PushOutcome::Delivered)
        .unwrap();
    let two = vec![event(8, 1, None, c.at(0)), event(9, 1, None, c.at(0))];
    assert_eq!(
        n.replay(c.at(30), two),
        Err(NotifyError::Full {
            id: EntryId(8),
            cap: 3
        })
    );
    assert_eq!(n.held(), 2);
}

#[test]
fn bad_entries_and_unknown_results_are_refused() {
    let c = Clock::new();
    let mut n = notifier(&config());
    n.enqueue(c.at(0), event(1, 1, None, c.at(0))).unwrap();
    assert_eq!(
        n.enqueue(c.at(0), event(1, 1, None, c.at(0))),
        Err(NotifyError::Duplicate(EntryId(1)))
    );
    let mut bad = cdr(2, 1, c.at(0));
    bad.body = Arc::from("not json");
    assert!(matches!(
        n.enqueue(c.at(0), bad),
        Err(NotifyError::InvalidBody { id: EntryId(2), .. })
    ));
    let mut flat = event(3, 1, None, c.at(0));
    flat.body = Arc::from(r#"{"eventType":"answer","sessionId":"s"}"#);
    assert!(matches!(
        n.enqueue(c.at(0), flat),
        Err(NotifyError::InvalidBody { id: EntryId(3), .. })
    ));
    assert_eq!(n.held(), 1);
    let p = pushes(&drain(&mut n)).remove(0);
    n.handle_result(c.at(1), p.id, PushOutcome::Delivered).unwrap();
    assert_eq!(
        n.handle_result(c.at(2), p.id, PushOutcome::Delivered),
        Err(NotifyError::UnknownPush(p.id))
    );
    assert_eq!(
        n.handle_result(c.at(2), PushId(99), failed()),
        Err(NotifyError::UnknownPush(PushId(99)))
    );
}

#[test]
fn events_sms_and_status_are_pushed_as_stored() {
    let c = Clock::new();
    let mut n = notifier(&config());
    let ev = event(1, 1, Some("s"), c.at(0));
    let sms_body = r#"{"appKey":"k","smsEvent":{"smsIdentifier":"1","sendResult":0}}"#;
    let status_body = r#"{"eventType":"numStatus","numInfo":[{"number":"+8617000000000","status":"9"}]}"#;
    let sms = Entry {
        id: EntryId(2),
        kind: PushKind::Sms,
        order_key: None,
        body: Arc::from(sms_body),
        ..ev.clone()
    };
    let status = Entry {
        id: EntryId(3),
        kind: PushKind::NumStatus,
        order_key: None,
        body: Arc::from(status_body),
        ..ev.clone()
    };
    n.enqueue(c.at(0), ev.clone()).unwrap();
    n.enqueue(c.at(0), sms).unwrap();
    n.enqueue(c.at(0), status).unwrap();
    let sent = pushes(&drain(&mut n));
    let got: Vec<(PushKind, &str)> = sent.iter().map(|p| (p.kind, p.body.as_str())).collect();
    assert_eq!(
        got,
        [
            (PushKind::CallEvent, &*ev.body),
            (PushKind::Sms, sms_body),
            (PushKind::NumStatus, status_body)
        ]
    );
}

#[test]
fn any_input_moves_the_clock() {
    let c = Clock::new();
    let mut n = notifier(&config());
    n.enqueue(c.at(0), event(1, 1, None, c.at(0))).unwrap();
    let p = pushes(&drain(&mut n)).remove(0);
    n.handle_result(c.at(0), p.id, failed()).unwrap();
    assert_eq!(drain(&mut n), [Output::Timeout(c.at(1_000))]);
    // No handle_timeout: another app's entry arrives after the retry's time.
    n.enqueue(c.at(1_200), event(2, 2, None, c.at(1_200))).unwrap();
    let mut sent: Vec<(AppId, Vec<u64>)> = pushes(&drain(&mut n)).iter().map(|p| (p.app, ids(p))).collect();
    sent.sort();
    assert_eq!(sent, [(AppId(1), vec![1]), (AppId(2), vec![2])]);
}

#[test]
fn a_dead_lettered_event_lets_the_next_of_its_call_go() {
    let c = Clock::new();
    let cfg = NotifyConfig {
        retry_schedule_ms: vec![],
        ..config()
    };
    let mut n = notifier(&cfg);
    n.enqueue(c.at(0), event(1, 1, Some("call"), c.at(0))).unwrap();
    n.enqueue(c.at(0), event(2, 1, Some("call"), c.at(0))).unwrap();
    let p = pushes(&drain(&mut n));
    assert_eq!(p.iter().map(ids).collect::<Vec<_>>(), [vec![1]]);
    n.handle_result(c.at(5), p[0].id, failed()).unwrap();
    let out = drain(&mut n);
    assert_eq!(
        out[0],
        Output::DeadLettered(vec![EntryId(1)]),
        "no retries configured"
    );
    assert_eq!(pushes(&out).iter().map(ids).collect::<Vec<_>>(), [vec![2]]);
    assert_eq!(n.held(), 1);
}
