//! Admin API: the outbox listing (filters, paging, every field), the CDR listing, and dead-letter replay.

use std::sync::Arc;

use pn_bindings::AppId;
use pn_store::{OutboxKind, OutboxState};
use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{Server, assert_code, assert_ok};

/// Two apps and six entries: `(ids, key1, key2)`. Entry 1 (app 1's first CDR) is delivered, entry 2 (app
/// 2's CDR) is dead; entry 5 has no app.
async fn fixture(s: &Server) -> (Vec<u64>, String, String) {
    let k1 = s.app("AXB", json!({})).await.key;
    let k2 = s.app("AXB", json!({})).await.key;
    let a1 = s.engine.app_by_key(&k1).unwrap().id;
    let a2 = s.engine.app_by_key(&k2).unwrap().id;
    let rows = vec![
        pn_provision::OutboxRow::pending(
            OutboxKind::CallEvent,
            a1,
            r#"{"eventType":"callin","n":0}"#.to_owned(),
        ),
        pn_provision::OutboxRow::pending(OutboxKind::Cdr, a1, r#"{"eventType":"fee","n":1}"#.to_owned()),
        pn_provision::OutboxRow::pending(OutboxKind::Cdr, a2, r#"{"eventType":"fee","n":2}"#.to_owned()),
        pn_provision::OutboxRow::pending(OutboxKind::Sms, a1, r#"{"smsEvent":{},"n":3}"#.to_owned()),
        pn_provision::OutboxRow::pending(OutboxKind::Cdr, a1, r#"{"eventType":"fee","n":4}"#.to_owned()),
        pn_provision::OutboxRow::pending(
            OutboxKind::NumberStatus,
            AppId(0),
            r#"{"numStatus":[],"n":5}"#.to_owned(),
        ),
    ];
    s.engine.append_outbox(Arc::from(rows)).await.unwrap();
    let list = list(s, "/admin/v1/outbox").await;
    let ids: Vec<u64> = list["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids.len(), 6);
    let n = s
        .engine
        .mark_outbox(Arc::from([ids[1]]), OutboxState::Delivered)
        .await
        .unwrap();
    assert_eq!(n, 1);
    s.engine
        .mark_outbox(Arc::from([ids[2]]), OutboxState::Dead)
        .await
        .unwrap();
    (ids, k1, k2)
}

async fn list(s: &Server, path: &str) -> Value {
    let r = s.admin(Method::GET, path, None).await;
    assert_ok(&r);
    r.1
}

/// The `n` field of each listed entry's payload.
async fn ns(s: &Server, path: &str) -> Vec<u64> {
    list(s, path).await["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["payload"]["n"].as_u64().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox_listing_shows_every_field_filters_and_pages() {
    let s = Server::start().await;
    let (ids, k1, k2) = fixture(&s).await;
    let all = list(&s, "/admin/v1/outbox").await;
    assert_eq!(all["next"], Value::Null);
    let e = &all["entries"][0];
    assert_eq!(e["id"], ids[0]);
    assert_eq!(e["kind"], "event");
    assert_eq!(e["appKey"], k1.as_str());
    assert_eq!(e["state"], "pending");
    assert_eq!(e["doneAt"], Value::Null);
    assert_eq!(e["attempts"], 0);
    assert_eq!(e["payload"], json!({"eventType": "callin", "n": 0}));
    let created = e["createdAt"].as_str().unwrap().to_owned();
    assert_eq!(created.len(), 19, "yyyy-MM-dd HH:mm:ss: {created}");
    let delivered = &all["entries"][1];
    assert_eq!(
        (&delivered["kind"], &delivered["state"]),
        (&json!("cdr"), &json!("delivered"))
    );
    assert_eq!(delivered["attempts"], 1);
    assert!(
        delivered["doneAt"].as_str().is_some_and(|t| t.len() == 19),
        "{delivered}"
    );
    assert_eq!(all["entries"][2]["appKey"], k2.as_str());
    assert_eq!(all["entries"][5]["appKey"], Value::Null, "a row with no app");
    assert_eq!(all["entries"][5]["kind"], "numstatus");
    assert_eq!(all["entries"][3]["kind"], "sms");

    // Filters.
    assert_eq!(ns(&s, "/admin/v1/outbox?state=dead").await, [2]);
    assert_eq!(ns(&s, "/admin/v1/outbox?state=delivered").await, [1]);
    assert_eq!(ns(&s, "/admin/v1/outbox?state=pending").await, [0, 3, 4, 5]);
    assert_eq!(ns(&s, "/admin/v1/outbox?kind=cdr").await, [1, 2, 4]);
    assert_eq!(
        ns(&s, &format!("/admin/v1/outbox?kind=cdr&appKey={k1}")).await,
        [1, 4]
    );
    assert_eq!(
        ns(&s, &format!("/admin/v1/outbox?appKey={k2}&state=dead")).await,
        [2]
    );
    // Time range, both forms; `to` is inclusive.
    let enc = created.replace(' ', "%20");
    assert_eq!(
        ns(&s, &format!("/admin/v1/outbox?from={enc}&to={enc}"))
            .await
            .len(),
        6
    );
    let r = list(&s, &format!("/admin/v1/outbox?from={enc}")).await;
    assert_eq!(r["entries"].as_array().unwrap().len(), 6);
    let t = unix(&created);
    assert_eq!(
        ns(&s, &format!("/admin/v1/outbox?to={}", t - 1)).await,
        Vec::<u64>::new()
    );
    assert_eq!(
        ns(&s, &format!("/admin/v1/outbox?from={}", t + 1)).await,
        Vec::<u64>::new()
    );
    assert_eq!(
        ns(&s, &format!("/admin/v1/outbox?from={t}&to={t}")).await.len(),
        6
    );

    // Paging.
    let page = list(&s, "/admin/v1/outbox?limit=4").await;
    assert_eq!(page["entries"].as_array().unwrap().len(), 4);
    assert_eq!(page["next"], ids[3]);
    let rest = ns(&s, &format!("/admin/v1/outbox?limit=4&after={}", ids[3])).await;
    assert_eq!(rest, [4, 5]);
    let last = list(&s, &format!("/admin/v1/outbox?limit=2&after={}", ids[3])).await;
    assert_eq!(last["next"], ids[5], "a full page names its last id");
    let end = list(&s, &format!("/admin/v1/outbox?limit=2&after={}", ids[5])).await;
    assert_eq!(
        (end["entries"].as_array().unwrap().len(), &end["next"]),
        (0, &Value::Null)
    );

    // Bad input.
    for (query, field) in [
        ("state=lost", "state"),
        ("kind=call", "kind"),
        ("from=2023-13-01%2000:00:00", "from"),
        ("to=yesterday", "to"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("after=-1", "after"),
        ("from=20&to=10", "from"),
    ] {
        let r = s
            .admin(Method::GET, &format!("/admin/v1/outbox?{query}"), None)
            .await;
        assert_eq!(r.0, 400, "{query}: {r:?}");
        assert_code(&r, "1020001", field);
    }
    let r = s.admin(Method::GET, "/admin/v1/outbox?appKey=nobody", None).await;
    assert_code(&r, "1016001", "does not exist");
    let r = s.raw(Method::GET, "/admin/v1/outbox", &[], None).await;
    assert_eq!((r.0, r.1["resultcode"].as_str()), (401, Some("1020176")), "{r:?}");
}

/// Unix seconds of a `yyyy-MM-dd HH:mm:ss` (UTC) answer field.
fn unix(text: &str) -> i64 {
    let n = |r: std::ops::Range<usize>| text[r].parse::<i64>().unwrap();
    let (y, m, d) = (n(0..4), n(5..7), n(8..10));
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + n(11..13) * 3600 + n(14..16) * 60 + n(17..19)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cdr_listing_keeps_delivered_cdrs() {
    let s = Server::start().await;
    let (_, k1, k2) = fixture(&s).await;
    let r = list(&s, &format!("/admin/v1/cdrs?appKey={k1}")).await;
    let states: Vec<&str> = r["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["delivered", "pending"]);
    assert!(
        r["entries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["kind"] == "cdr")
    );
    assert_eq!(ns(&s, &format!("/admin/v1/cdrs?appKey={k2}")).await, [2]);
    assert_eq!(ns(&s, "/admin/v1/cdrs").await, [1, 2, 4]);
    assert_eq!(ns(&s, "/admin/v1/cdrs?limit=1").await, [1]);
    let created = r["entries"][0]["createdAt"].as_str().unwrap().replace(' ', "%20");
    assert_eq!(
        ns(
            &s,
            &format!("/admin/v1/cdrs?appKey={k1}&from={created}&to={created}")
        )
        .await,
        [1, 4]
    );
    assert_eq!(
        ns(&s, &format!("/admin/v1/cdrs?appKey={k1}&to=0")).await,
        Vec::<u64>::new()
    );
    let r = s.admin(Method::GET, "/admin/v1/cdrs?to=soon", None).await;
    assert_code(&r, "1020001", "to");
    let r = s.admin(Method::GET, "/admin/v1/cdrs?appKey=nobody", None).await;
    assert_code(&r, "1016001", "does not exist");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_by_id_and_by_app_makes_dead_letters_pending() {
    let s = Server::start().await;
    let (ids, k1, k2) = fixture(&s).await;
    let signal = s.engine.outbox_signal();
    // More dead letters: app 1's event and SMS.
    s.engine
        .mark_outbox(Arc::from([ids[0], ids[3]]), OutboxState::Dead)
        .await
        .unwrap();
    assert_eq!(s.metrics.push_dead_letters.get(), 3);
    assert!(!signal.take_rescan());

    // By id: only the dead one of the list changes.
    let r = s
        .admin(
            Method::POST,
            "/admin/v1/outbox/replay",
            Some(json!({"ids": [ids[2], ids[1], ids[4], 999_999]})),
        )
        .await;
    assert_ok(&r);
    assert_eq!(r.1["replayed"], 1);
    assert!(signal.take_rescan(), "the push driver is told to rescan");
    assert_eq!(s.metrics.push_dead_letters.get(), 2);
    assert_eq!(
        ns(&s, &format!("/admin/v1/outbox?appKey={k2}&state=pending")).await,
        [2]
    );

    // By app: all of app 1's dead letters.
    let r = s
        .admin(
            Method::POST,
            "/admin/v1/outbox/replay",
            Some(json!({"appKey": k1})),
        )
        .await;
    assert_ok(&r);
    assert_eq!(r.1["replayed"], 2);
    assert_eq!(ns(&s, "/admin/v1/outbox?state=dead").await, Vec::<u64>::new());
    assert_eq!(
        ns(&s, &format!("/admin/v1/outbox?appKey={k1}&state=pending")).await,
        [0, 3, 4]
    );
    assert_eq!(s.metrics.push_dead_letters.get(), 0);
    assert_eq!(s.metrics.outbox_pending.get(), 5);
    assert_eq!(s.metrics.outbox_rows.get(), 6);
    // Nothing left to replay.
    let r = s
        .admin(
            Method::POST,
            "/admin/v1/outbox/replay",
            Some(json!({"appKey": k1})),
        )
        .await;
    assert_eq!(r.1["replayed"], 0);

    // Bad input.
    for (body, field) in [
        (json!({}), "ids"),
        (json!({"ids": [1], "appKey": k1}), "ids"),
        (json!({"ids": []}), "ids"),
        (json!({"ids": ["1"]}), "ids"),
        (json!({"ids": [-1]}), "ids"),
        (json!({"ids": 1}), "ids"),
        (json!({"appKey": "bad key"}), "appKey"),
    ] {
        let r = s
            .admin(Method::POST, "/admin/v1/outbox/replay", Some(body.clone()))
            .await;
        assert_eq!(r.0, 400, "{body}: {r:?}");
        assert_code(&r, "1020001", field);
    }
    let r = s
        .admin(
            Method::POST,
            "/admin/v1/outbox/replay",
            Some(json!({"ids": (0..10_001).collect::<Vec<u64>>()})),
        )
        .await;
    assert_code(&r, "1020001", "ids");
    let r = s
        .admin(
            Method::POST,
            "/admin/v1/outbox/replay",
            Some(json!({"appKey": "nobody"})),
        )
        .await;
    assert_code(&r, "1016001", "does not exist");
    let r = s.admin(Method::GET, "/admin/v1/outbox/replay", None).await;
    assert_eq!(r.0, 405, "{r:?}");
}
