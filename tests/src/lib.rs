//! pn-e2e: support for the end-to-end tests in `tests/tests/`: start the real `pnswitch` binary, talk to it
//! over HTTP with independently written request signing, kill it with SIGKILL.
//!
//! The binary is `$PNSWITCH_BIN`, else `<workspace>/target/debug/pnswitch`. It must be at least as new as
//! every source file under `crates/`; otherwise the tests fail loudly (the README's test command builds it
//! first) rather than test stale code.

// Test support: failing loudly on a broken environment is the point, so expect/panic are fine here.
#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

pub mod axe;
pub mod disk;
pub mod front;
pub mod receiver;
pub mod rtp;
pub mod sipp;

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Cargo's target directory: `$CARGO_TARGET_DIR`, else `<workspace>/target`.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| workspace_root().join("target"), PathBuf::from)
}

/// Path of the pnswitch binary under test; panics (failing the test) if it is missing or stale.
pub fn pnswitch_bin() -> PathBuf {
    let bin = std::env::var_os("PNSWITCH_BIN")
        .map_or_else(|| target_dir().join("debug").join("pnswitch"), PathBuf::from);
    let built = std::fs::metadata(&bin)
        .and_then(|m| m.modified())
        .unwrap_or_else(|e| {
            panic!(
                "pnswitch binary {} not found ({e}): run `cargo build -p pnswitch`",
                bin.display()
            )
        });
    let newest = newest_dependency(&bin).unwrap_or_else(|| newest_source(&workspace_root().join("crates")));
    assert!(
        built >= newest,
        "pnswitch binary {} is older than its sources: run `cargo build -p pnswitch` first",
        bin.display()
    );
    bin
}

/// The newest modification time among the files the binary was built from, as listed by cargo's dep-info
/// file next to it (`pnswitch.d`); `None` when that file is missing.
fn newest_dependency(bin: &Path) -> Option<SystemTime> {
    let depinfo = std::fs::read_to_string(bin.with_extension("d")).ok()?;
    let (_, deps) = depinfo.lines().next()?.split_once(": ")?;
    // Paths are space-separated; a space inside a path is escaped as "\ ".
    let deps = deps.replace("\\ ", "\u{0}");
    deps.split(' ')
        .filter(|p| !p.is_empty())
        .map(|p| p.replace('\u{0}', " "))
        .filter_map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
        .max()
}

fn newest_source(dir: &Path) -> SystemTime {
    let mut newest = UNIX_EPOCH;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return newest;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if path
                .file_name()
                .is_some_and(|n| n == "tests" || n == "benches" || n == "target")
            {
                continue;
            }
            newest = newest.max(newest_source(&path));
        } else if path.extension().is_some_and(|e| e == "rs" || e == "toml")
            && let Ok(m) = entry.metadata().and_then(|m| m.modified())
        {
            newest = newest.max(m);
        }
    }
    newest
}

/// A running pnswitch process.
pub struct Switch {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// Its data directory.
    pub data_dir: PathBuf,
    /// The admin token it generated or was given.
    pub admin_token: String,
    client: reqwest::blocking::Client,
}

/// A relay port range of its own for each switch a test starts (`PNSWITCH__MEDIA__PORT_MIN/MAX`; a test's own
/// overrides win): switches of tests running in parallel must not compete for the default range. 100 ports in
/// 61000–65499: above the kernel's ephemeral ports (32768–60999), which every client socket may take.
pub fn media_ports() -> [(&'static str, String); 2] {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 5;
    let min = 61_000 + (std::process::id() % 9) * 500 + n * 100;
    [
        ("PNSWITCH__MEDIA__PORT_MIN", min.to_string()),
        ("PNSWITCH__MEDIA__PORT_MAX", (min + 99).to_string()),
    ]
}

impl Switch {
    /// Starts `pnswitch serve` on a free loopback port with `data_dir`, waiting until it listens.
    pub fn start(data_dir: &Path) -> Switch {
        Self::start_with(data_dir, &[])
    }

    /// Like [`Switch::start`], with extra environment variables (e.g. `PNSWITCH__…` overrides).
    pub fn start_with(data_dir: &Path, env: &[(&str, &str)]) -> Switch {
        let mut cmd = Command::new(pnswitch_bin());
        // A free SIP port too: tests run in parallel and must never collide on the default 5060.
        cmd.args([
            "serve",
            "--http-listen",
            "127.0.0.1:0",
            "--sip-listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(data_dir)
        .env(
            "RUST_LOG",
            std::env::var("PN_E2E_SWITCH_LOG").unwrap_or_else(|_| "warn".to_owned()),
        )
        .envs(media_ports())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn pnswitch");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let mut base = None;
        for line in lines.by_ref() {
            let line = line.expect("read stdout");
            if let Some(addr) = line.strip_prefix("pnswitch: http listening on ") {
                base = Some(format!("http://{addr}"));
                break;
            }
        }
        let base = base.expect("pnswitch exited before listening");
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let admin_token = std::fs::read_to_string(data_dir.join("admin.token"))
            .expect("admin.token written at start")
            .trim()
            .to_owned();
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(64)
            .build()
            .expect("client");
        Switch {
            child,
            base,
            data_dir: data_dir.to_owned(),
            admin_token,
            client,
        }
    }

    /// Waits up to `limit` until `/readyz` answers 200 (a node on a shared store binds its sockets before its
    /// table has caught up with the change feed, and refuses calls until then); whether it did.
    pub fn wait_ready(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            let ready = self
                .client
                .get(format!("{}/readyz", self.base))
                .timeout(Duration::from_secs(2))
                .send()
                .is_ok_and(|r| r.status() == 200);
            if ready || Instant::now() >= deadline {
                return ready;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGSTOP: the process stalls (sockets and database sessions stay open, connections are accepted,
    /// nothing answers) until [`Switch::resume`] or a kill.
    pub fn pause(&self) {
        self.signal("STOP");
    }

    /// Sends SIGCONT after [`Switch::pause`].
    pub fn resume(&self) {
        self.signal("CONT");
    }

    /// Sends SIGKILL and waits for the process to be gone.
    pub fn kill9(&mut self) {
        self.child.kill().expect("kill -9");
        self.child.wait().expect("wait");
    }

    /// Sends SIGTERM (a graceful stop) and waits up to `limit` for the process to exit; panics if it does
    /// not. Returns whether it exited successfully.
    pub fn stop(&mut self, limit: Duration) -> bool {
        self.terminate();
        self.wait_exit(limit)
    }

    /// The process id (for `/proc/PID/…`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGHUP (reload the configuration) and returns at once.
    pub fn hangup(&self) {
        self.signal("HUP");
    }

    /// Sends SIGTERM and returns at once (the switch drains, then exits: see [`Switch::wait_exit`]).
    pub fn terminate(&self) {
        self.signal("TERM");
    }

    /// Sends signal `name` (`TERM`, `HUP`) with `kill`.
    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([format!("-{name}"), self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Waits up to `limit` for the process to exit (panics if it does not); returns whether it exited
    /// successfully.
    pub fn wait_exit(&mut self, limit: Duration) -> bool {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Some(exit) = self.child.try_wait().expect("wait") {
                return exit.success();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "pnswitch did not exit within {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A shared blocking HTTP client.
    pub fn client(&self) -> &reqwest::blocking::Client {
        &self.client
    }

    /// Calls the admin API; returns (HTTP status, JSON body).
    pub fn admin(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> (u16, Value) {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.admin_token);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().expect("admin request");
        let status = resp.status().as_u16();
        (status, resp.json().unwrap_or(Value::Null))
    }

    /// Creates an app of `mode` and returns (`app_key`, `app_secret`).
    pub fn create_app(&self, name: &str, mode: &str) -> (String, String) {
        let (status, body) = self.admin(
            reqwest::Method::POST,
            "/admin/v1/apps",
            Some(&serde_json::json!({"name": name, "mode": mode, "recordEnabled": true})),
        );
        assert_eq!(status, 200, "create app: {body}");
        let app = body.get("app").unwrap_or(&body);
        let key = app["appKey"].as_str().expect("appKey").to_owned();
        let secret = app["appSecret"].as_str().expect("appSecret").to_owned();
        (key, secret)
    }

    /// Imports `numbers` into the app's pool with `area_code`.
    pub fn import_numbers(&self, app_key: &str, area_code: &str, numbers: &[String]) {
        let entries: Vec<Value> = numbers
            .iter()
            .map(|n| serde_json::json!({"number": n, "areaCode": area_code}))
            .collect();
        let (status, body) = self.admin(
            reqwest::Method::POST,
            "/admin/v1/numbers",
            Some(&serde_json::json!({"appKey": app_key, "numbers": entries})),
        );
        assert_eq!(status, 200, "import numbers: {body}");
    }

    /// Sends a signed provisioning request; returns (HTTP status, JSON body).
    pub fn signed(
        &self,
        method: reqwest::Method,
        path_and_query: &str,
        app: &(String, String),
        body: Option<&Value>,
    ) -> (u16, Value) {
        self.send_with(method, path_and_query, &aksk_headers(&app.0, &app.1), body)
    }

    /// Sends a request with exactly these headers (e.g. the `aksk_headers` of an earlier request, to replay
    /// it); returns (HTTP status, JSON body).
    pub fn send_with(
        &self,
        method: reqwest::Method,
        path_and_query: &str,
        headers: &[(&str, String)],
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut req = self
            .client
            .request(method, format!("{}{path_and_query}", self.base));
        for (name, value) in headers {
            req = req.header(*name, value);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().expect("request");
        let status = resp.status().as_u16();
        (status, resp.json().unwrap_or(Value::Null))
    }

    /// The admin route trace (`GET /admin/v1/route`): what the call path would do for `from` dialling `to`
    /// (`{"decision":"connect","callee","display",…}` or `{"decision":"reject","stateCode",…}`).
    pub fn route(&self, from: &str, to: &str) -> Value {
        let path = format!(
            "/admin/v1/route?caller={}&called={}",
            from.replace('+', "%2B"),
            to.replace('+', "%2B")
        );
        let (status, v) = self.admin(reqwest::Method::GET, &path, None);
        assert_eq!(status, 200, "route trace {from} → {to}: {v}");
        v
    }
}

impl Drop for Switch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `Authorization` and `X-AKSK` headers for one request, with a fresh nonce and the current time.
///
/// Written independently of pn-api's signer: `Base64(HMAC-SHA256(secret, Nonce + Created))`.
pub fn aksk_headers(app_key: &str, app_secret: &str) -> [(&'static str, String); 2] {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nonce = format!(
        "n{}x{}x{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos())
    );
    let created = utc_created(SystemTime::now());
    let digest = aksk_digest(app_secret, &nonce, &created);
    [
        (
            "Authorization",
            r#"AKSK realm="SDP",profile="UsernameToken",type="Appkey""#.to_owned(),
        ),
        (
            "X-AKSK",
            format!(
                r#"UsernameToken Username="{app_key}",PasswordDigest="{digest}",Nonce="{nonce}",Created="{created}""#
            ),
        ),
    ]
}

/// `Base64(HMAC-SHA256(secret, Nonce + Created))`, written independently of pn-api's (signing requests and
/// verifying the switch's pushes).
pub fn aksk_digest(app_secret: &str, nonce: &str, created: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()).expect("hmac key");
    mac.update(nonce.as_bytes());
    mac.update(created.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The legacy WSSE digest `Base64(SHA-256(Nonce + Created + secret))`, written independently of pn-api's.
pub fn wsse_digest(app_secret: &str, nonce: &str, created: &str) -> String {
    use sha2::Digest as _;
    let mut h = Sha256::new();
    h.update(nonce.as_bytes());
    h.update(created.as_bytes());
    h.update(app_secret.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(h.finalize())
}

/// `yyyy-MM-ddTHH:mm:ssZ` in UTC (Howard Hinnant's civil-from-days), written independently of pn-api's.
#[allow(clippy::many_single_char_names)] // the algorithm's published names
pub fn utc_created(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// A Chinese mobile number `+86 1<prefix><8 digits>` from an index (distinct for distinct `i` below 10^8).
pub fn mobile(prefix: u8, i: u64) -> String {
    format!("+861{prefix}{i:08}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_format_matches_known_instants() {
        assert_eq!(
            utc_created(UNIX_EPOCH + Duration::from_secs(1_518_449_420)),
            "2018-02-12T15:30:20Z"
        );
        assert_eq!(
            utc_created(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00Z"
        );
    }
}
