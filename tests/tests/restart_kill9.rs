//! Durability through the real binary: 10,000 binds acknowledged over HTTP survive `kill -9`, and so does
//! every bind acknowledged while the process is being killed mid-burst.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test: failing loudly is the point

use std::thread;
use std::time::Duration;

use pn_e2e::{Switch, mobile};
use reqwest::Method;
use serde_json::json;

const BINDS: usize = 10_000;
const X_NUMBERS: usize = 10;
const THREADS: usize = 16;

type AppCreds = (String, String);

/// A per-thread HTTP client (own connection pool) binding AXB pairs against one base URL.
struct Binder {
    base: String,
    app: AppCreds,
    xs: Vec<String>,
    client: reqwest::blocking::Client,
}

impl Binder {
    fn new(base: &str, app: &AppCreds, xs: &[String]) -> Self {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        Self {
            base: base.to_owned(),
            app: app.clone(),
            xs: xs.to_vec(),
            client,
        }
    }

    /// Binds pair `i`; `Ok(subscriptionId)` only when the server acknowledged it.
    fn bind(&self, i: usize) -> Result<String, String> {
        let body = json!({
            "relationNum": self.xs[i % self.xs.len()],
            "callerNum": mobile(38, i as u64),
            "calleeNum": mobile(39, i as u64),
            "callDirection": 0,
            "userData": format!("u{i}"),
        });
        let mut req = self
            .client
            .post(format!("{}/rest/caas/relationnumber/partners/v1.0", self.base));
        for (k, v) in pn_e2e::aksk_headers(&self.app.0, &self.app.1) {
            req = req.header(k, v);
        }
        let resp = req.json(&body).send().map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let v: serde_json::Value = resp.json().map_err(|e| e.to_string())?;
        match v["subscriptionId"].as_str() {
            Some(sub) if status == 200 && v["resultcode"] == "0" => Ok(sub.to_owned()),
            _ => Err(format!("{status} {v}")),
        }
    }
}

#[test]
fn acknowledged_binds_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let mut switch = Switch::start(dir.path());
    let app = switch.create_app("durability", "AXB");
    let xs: Vec<String> = (0..X_NUMBERS).map(|i| format!("+8617000000{i:03}")).collect();
    switch.import_numbers(&app.0, "0755", &xs);
    let base = switch.base.clone();

    // Phase 1: 10,000 acknowledged binds from 16 concurrent clients.
    let per_thread = BINDS / THREADS;
    let mut acked: Vec<String> = thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let binder = Binder::new(&base, &app, &xs);
                s.spawn(move || {
                    (t * per_thread..(t + 1) * per_thread)
                        .map(|i| binder.bind(i).unwrap_or_else(|e| panic!("bind {i}: {e}")))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(acked.len(), BINDS);

    // Phase 2: 4 clients keep binding; kill -9 lands in the middle of the burst.
    let burst: Vec<String> = thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let binder = Binder::new(&base, &app, &xs);
                s.spawn(move || {
                    let from = BINDS + t * 100_000;
                    (from..from + 50_000)
                        .map_while(|i| binder.bind(i).ok())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        thread::sleep(Duration::from_millis(500));
        switch.kill9();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    assert!(
        !burst.is_empty(),
        "the burst acknowledged nothing before the kill: the test proves nothing"
    );
    acked.extend(burst);
    drop(switch);

    // Restart on the same data directory: every acknowledged bind is found by subscriptionId.
    let switch = Switch::start(dir.path());
    let missing: Vec<&String> = acked
        .iter()
        .filter(|sub| {
            let path = format!("/rest/caas/relationnumber/partners/v1.0?subscriptionId={sub}");
            let (status, v) = switch.signed(Method::GET, &path, &app, None);
            status != 200 || v["resultcode"] != "0"
        })
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged binds lost, e.g. {:?}",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(5)]
    );
    // And by X with paging: the per-X totals add up to every acknowledged bind.
    let total: u64 = xs
        .iter()
        .map(|x| {
            let path = format!(
                "/rest/caas/relationnumber/partners/v1.0?relationNum={}&pageSize=10",
                x.replace('+', "%2B")
            );
            let (status, v) = switch.signed(Method::GET, &path, &app, None);
            assert_eq!(status, 200, "{v}");
            v["totalCount"]
                .as_u64()
                .or_else(|| v["totalCount"].as_str().and_then(|s| s.parse().ok()))
                .unwrap_or(0)
        })
        .sum();
    // Binds committed while the kill cut off their response may exist too: never fewer than acknowledged.
    assert!(
        total >= acked.len() as u64,
        "per-X totals {total} < {} acknowledged",
        acked.len()
    );
    eprintln!(
        "restart: {} acknowledged binds ({} during the killed burst), all found after restart",
        acked.len(),
        acked.len() - BINDS
    );
}
