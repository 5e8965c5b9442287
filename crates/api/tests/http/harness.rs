//! A test server: router + engine + `SQLite` store in a temp dir, a controllable clock, a signing client.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use pn_api::auth::{aksk_headers, format_created};
use pn_api::{ApiConfig, ApiState};
use pn_bindings::{BindingTable, UnixTime};
use pn_metrics::Metrics;
use pn_provision::{
    EngineConfig, EngineHandle, LoadStats, PromptLibrary, Provisioner, RecordingStore, load_table,
};
use pn_store::Store;
use pn_store::sqlite::{SqliteOptions, SqliteStore};
use reqwest::Method;
use serde_json::{Value, json};
use tempfile::TempDir;

/// The admin token every test server uses.
pub const ADMIN: &str = "test-admin-token";
/// The tests' starting clock (2023-11-14 22:13:20 UTC).
pub const T0: i64 = 1_700_000_000;

/// An app created through the admin API.
#[derive(Clone, Debug)]
pub struct TestApp {
    pub key: String,
    pub secret: String,
}

/// A stand-in for the SIP runtime's call control: the calls in progress by `sessionId` and owning app, and
/// every stop request it got.
#[derive(Default)]
pub struct FakeCalls {
    /// Calls in progress: `sessionId` → owning app.
    pub live: std::sync::Mutex<Vec<(String, pn_bindings::AppId)>>,
    /// Every request, in order: (app, sessionId).
    pub asked: std::sync::Mutex<Vec<(pn_bindings::AppId, String)>>,
}

impl pn_provision::CallControl for FakeCalls {
    fn stop_call<'a>(&'a self, app: pn_bindings::AppId, session_id: &'a str) -> pn_provision::StopFuture<'a> {
        Box::pin(async move {
            use pn_provision::StopOutcome;
            self.asked.lock().unwrap().push((app, session_id.to_owned()));
            let mut live = self.live.lock().unwrap();
            match live.iter().position(|(s, _)| s == session_id) {
                None => StopOutcome::NotFound,
                Some(i) if live[i].1 != app => StopOutcome::OtherApp,
                Some(i) => {
                    live.remove(i);
                    StopOutcome::Stopped
                }
            }
        })
    }
}

/// A running server.
pub struct Server {
    pub base: String,
    pub client: reqwest::Client,
    pub engine: EngineHandle,
    /// The server's store (read the outbox through it).
    pub store: Arc<dyn Store>,
    /// The call control the call-stop API talks to.
    pub calls: Arc<FakeCalls>,
    pub table: Arc<BindingTable>,
    pub metrics: Metrics,
    pub loaded: LoadStats,
    pub prompts: Arc<PromptLibrary>,
    pub recordings: Arc<RecordingStore>,
    clock: Arc<AtomicI64>,
    nonce: AtomicU64,
    task: tokio::task::JoinHandle<()>,
    dir: PathBuf,
    tmp: Option<Arc<TempDir>>,
    relay: bool,
}

/// How long test recordings are kept.
pub const RETENTION_SECS: u64 = 7 * 86_400;
/// How long test recording URLs are valid.
pub const URL_TTL_SECS: u64 = 600;

impl Server {
    /// A fresh server with default limits.
    pub async fn start() -> Self {
        Self::start_with(EngineConfig::default()).await
    }

    /// A fresh server with these limits.
    pub async fn start_with(engine: EngineConfig) -> Self {
        let tmp = Arc::new(TempDir::new().unwrap());
        let dir = tmp.path().to_owned();
        Self::open(&dir, engine, Some(tmp), T0, Some(ADMIN)).await
    }

    /// A fresh server without an admin token.
    pub async fn start_without_admin() -> Self {
        let tmp = Arc::new(TempDir::new().unwrap());
        let dir = tmp.path().to_owned();
        Self::open(&dir, EngineConfig::default(), Some(tmp), T0, None).await
    }

    /// A fresh server in media bypass mode (`[media] mode = "bypass"`: no media plane).
    pub async fn start_bypass() -> Self {
        let tmp = Arc::new(TempDir::new().unwrap());
        let dir = tmp.path().to_owned();
        Self::open_with(&dir, EngineConfig::default(), Some(tmp), T0, Some(ADMIN), false).await
    }

    /// Opens (or reopens) a server on `dir` (media relay on).
    pub async fn open(
        dir: &Path,
        engine: EngineConfig,
        tmp: Option<Arc<TempDir>>,
        now: i64,
        admin: Option<&str>,
    ) -> Self {
        Self::open_with(dir, engine, tmp, now, admin, true).await
    }

    /// Opens (or reopens) a server on `dir`, with media relay on or off.
    pub async fn open_with(
        dir: &Path,
        engine: EngineConfig,
        tmp: Option<Arc<TempDir>>,
        now: i64,
        admin: Option<&str>,
        relay: bool,
    ) -> Self {
        let store: Arc<dyn Store> = Arc::new(
            SqliteStore::open(
                dir,
                SqliteOptions {
                    synchronous_full: false,
                    ..SqliteOptions::default()
                },
            )
            .unwrap(),
        );
        let table = Arc::new(BindingTable::new());
        let metrics = Metrics::new().unwrap();
        let loaded = load_table(&*store, &table, &metrics, UnixTime(now)).unwrap();
        let handle =
            Provisioner::start(store.clone(), table.clone(), metrics.clone(), engine.clone()).unwrap();
        let config = ApiConfig {
            admin_token: admin.map(str::to_owned),
            engine,
            ..ApiConfig::default()
        };
        let clock = Arc::new(AtomicI64::new(now));
        let c = clock.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let prompts = Arc::new(PromptLibrary::open(dir.join("prompts")).unwrap());
        let recordings = Arc::new(
            RecordingStore::open(
                dir.join("recordings"),
                &dir.join("record-url.key"),
                format!("http://{addr}"),
                std::time::Duration::from_secs(RETENTION_SECS),
                std::time::Duration::from_secs(URL_TTL_SECS),
            )
            .unwrap(),
        );
        let state = ApiState::new(
            config,
            store.clone(),
            table.clone(),
            metrics.clone(),
            handle.clone(),
        )
        .with_clock(Arc::new(move || UnixTime(c.load(Ordering::SeqCst))))
        .with_media_relay(relay)
        .with_prompts(prompts.clone())
        .with_recordings(recordings.clone());
        let calls = Arc::new(FakeCalls::default());
        let state = state.with_call_control(calls.clone());
        let app = pn_api::router(state);
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            base: format!("http://{addr}"),
            // As the reference tells clients: do not follow the recording download's 301.
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            engine: handle,
            store,
            calls,
            table,
            metrics,
            loaded,
            prompts,
            recordings,
            clock,
            nonce: AtomicU64::new(0),
            task,
            dir: dir.to_owned(),
            tmp,
            relay,
        }
    }

    /// Stops serving and reopens the same data directory (a restart).
    pub async fn restart(self) -> Self {
        let now = self.now();
        let dir = self.dir.clone();
        let tmp = self.tmp.clone();
        self.task.abort();
        drop(self.engine);
        Self::open_with(&dir, EngineConfig::default(), tmp, now, Some(ADMIN), self.relay).await
    }

    pub fn now(&self) -> i64 {
        self.clock.load(Ordering::SeqCst)
    }

    pub fn advance(&self, secs: i64) {
        self.clock.fetch_add(secs, Ordering::SeqCst);
    }

    /// A raw request.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, String)],
        body: Option<String>,
    ) -> (u16, Value) {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        if let Some(b) = body {
            req = req
                .header("Content-Type", "application/json;charset=UTF-8")
                .body(b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        let value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
        (status, value)
    }

    /// A raw request with a byte body; the whole response (status, headers, bytes).
    pub async fn bytes(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, String)],
        body: Option<Vec<u8>>,
    ) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
        let url = if url.starts_with("http") {
            url.to_owned()
        } else {
            format!("{}{url}", self.base)
        };
        let mut req = self.client.request(method, url);
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        if let Some(b) = body {
            req = req.body(b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        (status, headers, resp.bytes().await.unwrap().to_vec())
    }

    /// An admin call with a byte body and a byte answer.
    pub async fn admin_bytes(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
        self.bytes(
            method,
            path,
            &[("Authorization", format!("Bearer {ADMIN}"))],
            body,
        )
        .await
    }

    /// Fresh signing headers for `app`.
    pub fn sign(&self, app: &TestApp) -> Vec<(&'static str, String)> {
        let n = self.nonce.fetch_add(1, Ordering::SeqCst);
        let nonce = format!("N{n}R{}", rand_suffix());
        aksk_headers(
            &app.key,
            &app.secret,
            &nonce,
            &format_created(UnixTime(self.now())),
        )
        .to_vec()
    }

    /// A signed API call.
    pub async fn call(&self, app: &TestApp, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let headers = self.sign(app);
        self.raw(method, path, &headers, body.map(|b| b.to_string()))
            .await
    }

    /// An admin call.
    pub async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        self.raw(
            method,
            path,
            &[("Authorization", format!("Bearer {ADMIN}"))],
            body.map(|b| b.to_string()),
        )
        .await
    }

    /// Creates an app of `mode` with extra fields.
    pub async fn app(&self, mode: &str, extra: Value) -> TestApp {
        let mut body = json!({"name": format!("{mode} app"), "mode": mode});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let (status, v) = self.admin(Method::POST, "/admin/v1/apps", Some(body)).await;
        assert_eq!((status, v["resultcode"].as_str()), (200, Some("0")), "{v}");
        TestApp {
            key: v["app"]["appKey"].as_str().unwrap().to_owned(),
            secret: v["app"]["appSecret"].as_str().unwrap().to_owned(),
        }
    }

    /// Imports numbers (number, areaCode) into an app's pool; all must succeed.
    pub async fn numbers(&self, app: &TestApp, numbers: &[(&str, &str)]) {
        let list: Vec<Value> = numbers
            .iter()
            .map(|(n, a)| json!({"number": n, "areaCode": a, "province": "GD"}))
            .collect();
        let (status, v) = self
            .admin(
                Method::POST,
                "/admin/v1/numbers",
                Some(json!({"appKey": app.key, "numbers": list})),
            )
            .await;
        assert_eq!(status, 200, "{v}");
        for r in v["results"].as_array().unwrap() {
            assert_eq!(r["resultcode"], "0", "{v}");
        }
    }
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(7);
    h.finish()
}

/// Asserts a failure's code and that its description names `field`.
#[track_caller]
pub fn assert_code(resp: &(u16, Value), code: &str, field: &str) {
    assert_eq!(resp.1["resultcode"], code, "{resp:?}");
    assert_ne!(resp.0, 500, "{resp:?}");
    assert!(
        resp.1["resultdesc"].as_str().unwrap().contains(field),
        "resultdesc should name {field}: {resp:?}"
    );
}

/// Asserts success.
#[track_caller]
pub fn assert_ok(resp: &(u16, Value)) {
    assert_eq!(
        (resp.0, resp.1["resultcode"].as_str()),
        (200, Some("0")),
        "{resp:?}"
    );
    assert_eq!(resp.1["resultdesc"], "Success");
}
