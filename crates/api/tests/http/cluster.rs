//! A recording downloads through any node of a cluster: two API states (nodes `n1`, `n2`) on one throwaway
//! PostgreSQL database, each with its own recordings directory and the shared signing key. A node without
//! the file fetches it from the holder named in the signed URL; unsigned, tampered or expired requests are
//! never proxied; the fetch is bounded.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use pn_api::auth::{aksk_headers, format_created};
use pn_api::{ApiConfig, ApiState, PeerLookup, RecordingProxy};
use pn_bindings::{App, AppId, BindingTable, Mode, UnixTime};
use pn_metrics::Metrics;
use pn_provision::media::recordings::FILE_PATH;
use pn_provision::{
    AppMediaPatch, AppPushPatch, CreateApp, EngineConfig, EngineHandle, Provisioner, RecordingStore,
};
use pn_store::Store;
use pn_store::postgres::{PgOptions, PgStore, throwaway};
use serde_json::Value;

/// One node: its base URL, its recordings, its store, its engine.
struct Node {
    base: String,
    recordings: Arc<RecordingStore>,
    store: Arc<PgStore>,
    engine: EngineHandle,
    metrics: Metrics,
}

/// The recordings store of `node` in `dir` (the key file is `dir/../record-url.key`: shared).
fn recordings(dir: &Path, node: &str, base: &str) -> RecordingStore {
    RecordingStore::open(
        dir.join(node),
        &dir.join("record-url.key"),
        base.to_owned(),
        Duration::from_secs(86_400),
        Duration::from_secs(600),
    )
    .unwrap()
    .with_node(Some(node.to_owned()))
}

/// Starts node `name` on the database `url`, recordings under `dir`; its proxy gives up on a holder silent
/// for `read`.
async fn node_reading(url: &str, dir: &Path, name: &str, read: Duration) -> Node {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let store = Arc::new(
        PgStore::open(&PgOptions {
            url: url.to_owned(),
            node: name.to_owned(),
            ..PgOptions::default()
        })
        .unwrap(),
    );
    store.heartbeat(&base).unwrap();
    let table = Arc::new(BindingTable::new());
    let metrics = Metrics::new().unwrap();
    let dyn_store: Arc<dyn Store> = store.clone();
    let engine = Provisioner::start(
        dyn_store.clone(),
        table.clone(),
        metrics.clone(),
        EngineConfig::default(),
    )
    .unwrap();
    // Apps created through one node are known to the other through the change feed.
    pn_provision::spawn_feed_follower(dyn_store.clone(), engine.clone()).unwrap();
    let recordings = Arc::new(recordings(dir, name, &base));
    let proxy = RecordingProxy::new(Duration::from_secs(1), read)
        .unwrap()
        .with_lookup(PeerLookup {
            timeout: LOOKUP_TIMEOUT,
            fan_out: 4,
            lease_secs: 10,
        });
    let state = ApiState::new(
        ApiConfig::default(),
        dyn_store,
        table,
        metrics.clone(),
        engine.clone(),
    )
    .with_recordings(recordings.clone())
    .with_recording_proxy(proxy);
    let app = pn_api::router(state);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Node {
        base,
        recordings,
        store,
        engine,
        metrics,
    }
}

/// How long a node searches the other nodes for a recording asked for by name.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(1);

/// Starts node `name` on the database `url`, recordings under `dir` (proxy read timeout 1 s).
async fn node(url: &str, dir: &Path, name: &str) -> Node {
    node_reading(url, dir, name, Duration::from_secs(1)).await
}

/// `url` (signed by any node) asked of `node` instead; returns (status, content type, body).
async fn get(node: &Node, url: &str, headers: &[(&str, &str)]) -> (u16, String, Vec<u8>) {
    let tail = &url[url.find(FILE_PATH).unwrap()..];
    let mut req = reqwest::Client::new().get(format!("{}{tail}", node.base));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let kind = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, kind, resp.bytes().await.unwrap().to_vec())
}

fn code(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body).unwrap()["resultcode"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A fake holder that counts the connections it gets and answers none (the proxy must time out).
async fn silent_holder() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(AtomicUsize::new(0));
    let count = seen.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((conn, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            held.push(conn);
        }
    });
    (base, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_downloads_through_the_node_that_does_not_hold_it() {
    let url = tokio::task::block_in_place(|| {
        throwaway::server()
            .unwrap_or_else(|e| panic!("throwaway PostgreSQL: {e}"))
            .create_database()
            .unwrap()
    });
    let dir = tempfile::TempDir::new().unwrap();
    let n1 = node(&url, dir.path(), "n1").await;
    let n2 = node(&url, dir.path(), "n2").await;
    let app = AppId(1);
    let audio: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(n1.recordings.path_for(app, "call-1.wav").unwrap(), &audio).unwrap();
    let now = UnixTime(jiff::Timestamp::now().as_second());
    let signed = n1.recordings.download_url(app, "call-1.wav", now);
    assert!(signed.contains("&node=n1&"), "{signed}");

    // The holder answers from its disk; the other node fetches it from the holder: the same bytes.
    for node in [&n1, &n2] {
        let (status, kind, body) = get(node, &signed, &[]).await;
        assert_eq!(
            (status, kind.as_str()),
            (200, "audio/wav"),
            "{}",
            String::from_utf8_lossy(&body)
        );
        assert_eq!(body, audio);
    }
    // Not on the holder either: 404 1012007 through n2.
    let missing = n1.recordings.download_url(app, "gone.wav", now);
    let (status, _, body) = get(&n2, &missing, &[]).await;
    assert_eq!((status, code(&body).as_str()), (404, "1012007"));
    // A request that was proxied already is answered from the local disk only.
    let (status, _, body) = get(&n2, &signed, &[("x-pnswitch-proxied", "1")]).await;
    assert_eq!((status, code(&body).as_str()), (404, "1012007"));

    // A holder that accepts but never answers: a valid URL is proxied and bounded by the timeout…
    let (silent, seen) = silent_holder().await;
    let mut raw = tokio::task::block_in_place(|| postgres::Client::connect(&url, postgres::NoTls).unwrap());
    tokio::task::block_in_place(|| {
        raw.execute(
            "INSERT INTO pn_nodes (node, api_url, seen_at) VALUES ('n9', $1, 0)",
            &[&silent],
        )
        .unwrap();
    });
    tokio::task::block_in_place(move || drop(raw));
    let n9 = recordings(dir.path(), "n9", &n1.base);
    let of_n9 = n9.download_url(app, "call-9.wav", now);
    let started = Instant::now();
    let (status, _, body) = get(&n2, &of_n9, &[]).await;
    assert_eq!((status, code(&body).as_str()), (500, "1010001"));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(seen.load(Ordering::SeqCst), 1);

    // …but a tampered, an expired or an unsigned one never reaches it: 403 1020176.
    let tampered = of_n9.replace("call-9.wav", "call-8.wav");
    let expired = n9.download_url(app, "call-9.wav", UnixTime(now.0 - 3600));
    let unsigned = of_n9[..of_n9.find("&signature=").unwrap()].to_owned();
    let renamed = of_n9.replace("node=n9", "node=n1");
    for bad in [&tampered, &expired, &unsigned, &renamed] {
        let (status, _, body) = get(&n2, bad, &[]).await;
        assert_eq!((status, code(&body).as_str()), (403, "1020176"), "{bad}");
    }
    assert_eq!(seen.load(Ordering::SeqCst), 1, "no invalid request was proxied");
    // An unknown holder: 404 1012007.
    let n8 = recordings(dir.path(), "n8", &n1.base).download_url(app, "call-8.wav", now);
    let (status, _, body) = get(&n2, &n8, &[]).await;
    assert_eq!((status, code(&body).as_str()), (404, "1012007"));
    drop((n1.store, n2.store));
}

/// Creates app `name` through `node`.
async fn app(node: &Node, name: &str) -> App {
    node.engine
        .create_app(
            CreateApp {
                name: name.to_owned(),
                mode: Mode::Axb,
                app_key: Some(format!("{name}-key")),
                app_secret: Some(format!("{name}-secret-0123")),
                call_status_url: None,
                cdr_url: None,
                sms_url: None,
                record_enabled: true,
                sms_enabled: false,
                extension_digits: 4,
                collect_repeat: 3,
                media: AppMediaPatch::default(),
                push: AppPushPatch::default(),
                allow_national_numbers: false,
            },
            UnixTime(jiff::Timestamp::now().as_second()),
        )
        .await
        .unwrap()
}

/// The authenticated download by name of `object` as `app` through `node` (redirects not followed):
/// status, Location, resultcode, and how long the answer took.
async fn by_name(node: &Node, app: &App, object: &str) -> (u16, String, String, Duration) {
    static NONCE: AtomicUsize = AtomicUsize::new(0);
    let nonce = format!("cluster{}", NONCE.fetch_add(1, Ordering::SeqCst));
    let created = format_created(UnixTime(jiff::Timestamp::now().as_second()));
    let mut req = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!(
            "{}/rest/provision/voice/record/v1.0?fileName={object}&recordDomain=any",
            node.base
        ));
    for (k, v) in aksk_headers(&app.app_key, &app.app_secret, &nonce, &created) {
        req = req.header(k, v);
    }
    let started = Instant::now();
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let location = resp
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = resp.bytes().await.unwrap();
    (status, location, code(&body), started.elapsed())
}

/// Runs `sql` on the database `url`.
fn sql(url: &str, sql: &str, params: &[&(dyn postgres::types::ToSql + Sync)]) {
    tokio::task::block_in_place(|| {
        let mut raw = postgres::Client::connect(url, postgres::NoTls).unwrap();
        raw.execute(sql, params).unwrap();
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_is_found_by_name_through_the_node_that_does_not_hold_it() {
    let url = tokio::task::block_in_place(|| {
        throwaway::server()
            .unwrap_or_else(|e| panic!("throwaway PostgreSQL: {e}"))
            .create_database()
            .unwrap()
    });
    let dir = tempfile::TempDir::new().unwrap();
    // Reads wait up to 30 s: only the lookup timeout bounds the search.
    let n1 = node_reading(&url, dir.path(), "n1", Duration::from_secs(30)).await;
    let n2 = node_reading(&url, dir.path(), "n2", Duration::from_secs(30)).await;
    let (owner, other) = (app(&n1, "owner").await, app(&n1, "other").await);
    let deadline = Instant::now() + Duration::from_secs(10);
    while n2.engine.app_by_key(&other.app_key).is_none() {
        assert!(Instant::now() < deadline, "n2 never learnt the apps");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let audio: Vec<u8> = (0..100_000u32).map(|i| (i % 241) as u8).collect();
    std::fs::write(n1.recordings.path_for(owner.id, "call-1.wav").unwrap(), &audio).unwrap();

    // Through n2: 301 to a URL on n2 that names n1, the holder; following it through n2 gives the bytes.
    let (status, location, code_of, _) = by_name(&n2, &owner, "call-1.wav").await;
    assert_eq!((status, code_of.as_str()), (301, "0"), "{location}");
    let on_n2 = format!("{}{FILE_PATH}/{}/call-1.wav?expires=", n2.base, owner.id.0);
    assert!(location.starts_with(&on_n2), "{location}");
    assert!(location.contains("&node=n1&"), "{location}");
    let (status, kind, body) = get(&n2, &location, &[]).await;
    assert_eq!((status, kind.as_str()), (200, "audio/wav"));
    assert_eq!(body, audio);
    // Through n1 itself: its own URL.
    let (status, location, _, _) = by_name(&n1, &owner, "call-1.wav").await;
    assert_eq!(status, 301);
    assert!(
        location.starts_with(&n1.base) && location.contains("&node=n1&"),
        "{location}"
    );
    // Another app's key: 1012007 on both nodes; a name no node holds: 1012007 too.
    for n in [&n1, &n2] {
        let (status, _, code_of, _) = by_name(n, &other, "call-1.wav").await;
        assert_eq!((status, code_of.as_str()), (200, "1012007"));
        let (status, _, code_of, _) = by_name(n, &owner, "call-2.wav").await;
        assert_eq!((status, code_of.as_str()), (200, "1012007"));
    }

    // A live node that accepts but never answers: a name the others do not hold is unknown, not missing
    // (500 1010001), answered within the lookup timeout; one n1 holds is still found at once.
    let (silent, seen) = silent_holder().await;
    sql(
        &url,
        "INSERT INTO pn_nodes (node, api_url, seen_at) \
         VALUES ('n9', $1, EXTRACT(EPOCH FROM clock_timestamp())::BIGINT)",
        &[&silent],
    );
    let (status, _, code_of, took) = by_name(&n2, &owner, "call-2.wav").await;
    assert_eq!((status, code_of.as_str()), (500, "1010001"));
    assert!(took >= LOOKUP_TIMEOUT && took < LOOKUP_TIMEOUT * 4, "{took:?}");
    assert!(seen.load(Ordering::SeqCst) >= 1, "n9 was asked");
    let (status, location, _, took) = by_name(&n2, &owner, "call-1.wav").await;
    assert_eq!(status, 301);
    assert!(location.contains("&node=n1&"), "{location}");
    assert!(took < LOOKUP_TIMEOUT, "{took:?}");
    // Once its lease ended it is dead and no longer asked: 1012007 again.
    let asked = seen.load(Ordering::SeqCst);
    sql(&url, "UPDATE pn_nodes SET seen_at = 0 WHERE node = 'n9'", &[]);
    let (status, _, code_of, _) = by_name(&n2, &owner, "call-2.wav").await;
    assert_eq!((status, code_of.as_str()), (200, "1012007"));
    assert_eq!(seen.load(Ordering::SeqCst), asked);
    // n2 searched 6 times (the held name twice, a missing or foreign one three times, unknown once).
    let searches = |outcome: &str| n2.metrics.recording_searches.with_label_values(&[outcome]).get();
    assert_eq!(
        (searches("held"), searches("nowhere"), searches("unknown")),
        (2, 3, 1)
    );
    drop((n1.store, n2.store));
}
