//! `pnswitch demo`: starts this binary's `serve` on its embedded defaults (a fresh data directory, free
//! loopback ports), provisions an AXB binding through the admin and signed provisioning APIs, shows where
//! calls would go, places a real SIP call A → X → B over loopback UDP (the demo plays A and B), shows what B
//! saw and the CDR the switch wrote, and stops. Everything it prints came back from the running switch.

mod call;
mod media;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

/// A `serve` child process that is killed when dropped.
struct Server {
    child: Child,
    base: String,
    sip: std::net::SocketAddr,
    data_dir: std::path::PathBuf,
}

impl Server {
    /// Stops the switch with SIGTERM (it flushes pending call facts) and waits for it.
    fn stop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

/// Starts `serve` with its B-leg egress pointing at `egress` (the demo's B).
fn start_server(egress: std::net::SocketAddr) -> Result<Server, Box<dyn std::error::Error>> {
    let data_dir = std::env::temp_dir().join(format!("pnswitch-demo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data_dir);
    let mut child = Command::new(std::env::current_exe()?)
        .args([
            "serve",
            "--http-listen",
            "127.0.0.1:0",
            "--sip-listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(&data_dir)
        .env("RUST_LOG", "warn")
        .env("PNSWITCH__SIP__B2BUA__EGRESS", format!("[\"{egress}\"]"))
        .env("PNSWITCH__SIP__B2BUA__TRUSTED_PEERS", "[\"127.0.0.1\"]")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout from serve")?;
    let mut lines = BufReader::new(stdout).lines();
    let (mut base, mut sip) = (None, None);
    for line in lines.by_ref() {
        let line = line?;
        println!("  | {line}");
        if let Some(addr) = line.strip_prefix("pnswitch: sip listening on udp ") {
            sip = Some(addr.parse()?);
        }
        if let Some(addr) = line.strip_prefix("pnswitch: http listening on ") {
            base = Some(format!("http://{addr}"));
            break;
        }
    }
    std::thread::spawn(move || lines.for_each(drop));
    let base = base.ok_or("serve exited before listening")?;
    let sip = sip.ok_or("serve printed no sip udp listener")?;
    Ok(Server {
        child,
        base,
        sip,
        data_dir,
    })
}

fn now() -> pn_bindings::UnixTime {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    pn_bindings::UnixTime(i64::try_from(secs).unwrap_or(i64::MAX))
}

/// Runs the demo; returns an error if any step does not answer as expected.
pub fn run() -> Result<(), Box<dyn std::error::Error>> {
    println!("== starting `pnswitch serve` on embedded defaults (temporary data directory, free ports)");
    let b_leg = std::net::UdpSocket::bind("127.0.0.1:0")?;
    let mut server = start_server(b_leg.local_addr()?)?;
    let token = std::fs::read_to_string(server.data_dir.join("admin.token"))?
        .trim()
        .to_owned();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let keys = runtime.block_on(script(&server.base, &token))?;
    call::place(server.sip, &b_leg)?;
    runtime.block_on(call::download_recording(&server.base, &server.data_dir, &keys))?;
    call::axe_call(server.sip, &b_leg)?;
    server.stop();
    call::show_facts(&server.data_dir)?;
    println!("\n== done: the switch is stopped and its temporary data directory removed");
    Ok(())
}

/// The demo apps' keys: (appKey, appSecret) of the AXB app.
pub(super) struct Keys {
    pub(super) axb: (String, String),
}

async fn script(base: &str, token: &str) -> Result<Keys, Box<dyn std::error::Error>> {
    let http = reqwest::Client::new();
    let admin = |method: reqwest::Method, path: &str, body: Option<Value>| {
        let mut req = http.request(method, format!("{base}{path}")).bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        req
    };

    println!("\n== admin API: create an AXB app and import two privacy numbers");
    let app: Value = admin(
        reqwest::Method::POST,
        "/admin/v1/apps",
        Some(json!({"name": "rides", "mode": "AXB", "recordEnabled": true})),
    )
    .send()
    .await?
    .json()
    .await?;
    let app = app.get("app").cloned().unwrap_or(app);
    let key = app["appKey"].as_str().ok_or("no appKey")?.to_owned();
    let secret = app["appSecret"].as_str().ok_or("no appSecret")?.to_owned();
    println!("   appKey={key}");
    let imported: Value = admin(
        reqwest::Method::POST,
        "/admin/v1/numbers",
        Some(json!({"appKey": key, "numbers": [
            {"number": "+8617010000001", "areaCode": "0755"},
            {"number": "+8617010000002", "areaCode": "0755"},
        ]})),
    )
    .send()
    .await?
    .json()
    .await?;
    println!("   {imported}");

    let axb = format!("{base}/rest/caas/relationnumber/partners/v1.0");
    let signed = |method: reqwest::Method, url: String, nonce: &str| {
        let created = pn_api::auth::format_created(now());
        let mut req = http.request(method, url);
        for (name, value) in pn_api::auth::aksk_headers(&key, &secret, nonce, &created) {
            req = req.header(name, value);
        }
        req
    };
    let (a, b, x) = ("+8613800000001", "+8613900000002", "+8617010000001");
    println!("\n== provisioning API (X-AKSK signed): bind A={a} and B={b} to X={x}");
    let body = json!({"relationNum": x, "callerNum": a, "calleeNum": b, "callDirection": 0,
                      "duration": 86400, "maxDuration": 60, "recordFlag": "true",
                      "recordHintTone": "record_notice.wav", "userData": "order-42"});
    println!("   POST {axb}\n   {body}");
    let bound: Value = signed(reqwest::Method::POST, axb.clone(), "demo1")
        .json(&body)
        .send()
        .await?
        .json()
        .await?;
    println!("   -> {bound}");
    let sub = bound["subscriptionId"].as_str().ok_or("bind failed")?.to_owned();
    let fixed = json!({"relationNum": "+8617010000002", "callerNum": "+8675586345678", "calleeNum": b});
    let bound_fixed: Value = signed(reqwest::Method::POST, axb.clone(), "demo2")
        .json(&fixed)
        .send()
        .await?
        .json()
        .await?;
    println!(
        "   bind a fixed-line A (+8675586345678) on X=+8617010000002 -> resultcode {}",
        bound_fixed["resultcode"]
    );

    println!("\n== query it back by subscriptionId");
    let queried: Value = signed(
        reqwest::Method::GET,
        format!("{axb}?subscriptionId={sub}"),
        "demo3",
    )
    .send()
    .await?
    .json()
    .await?;
    println!("   -> {queried}");

    trace_calls(&http, base, token, (a, b, x)).await?;
    axe_setup(&http, base, token).await?;
    show_metrics(&http, base).await?;
    Ok(Keys { axb: (key, secret) })
}

/// An AXE app, its X and A's extension 1234.
async fn axe_setup(
    http: &reqwest::Client,
    base: &str,
    token: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    println!("\n== AXE: an app whose callers key A's extension (4 digits) after a prompt");
    let app: Value = http
        .post(format!("{base}/admin/v1/apps"))
        .bearer_auth(token)
        .json(&json!({"name": "shop", "mode": "AXE", "extensionDigits": 4}))
        .send()
        .await?
        .json()
        .await?;
    let app = app.get("app").cloned().unwrap_or(app);
    let key = app["appKey"].as_str().ok_or("no appKey")?.to_owned();
    let secret = app["appSecret"].as_str().ok_or("no appSecret")?.to_owned();
    http.post(format!("{base}/admin/v1/numbers"))
        .bearer_auth(token)
        .json(&json!({"appKey": key, "numbers": [{"number": call::AXE_X, "areaCode": "0755"}]}))
        .send()
        .await?
        .error_for_status()?;
    let created = pn_api::auth::format_created(now());
    let mut req = http.post(format!("{base}/rest/caas/extendnumber/v1.0"));
    for (name, value) in pn_api::auth::aksk_headers(&key, &secret, "demoaxe", &created) {
        req = req.header(name, value);
    }
    let body = json!({"bindNum": call::AXE_A, "virtualNum": call::AXE_X, "extendNum": "1234",
                      "callbackExpiredTime": 24, "timeUnit": "0"});
    let bound: Value = req.json(&body).send().await?.json().await?;
    println!(
        "   bind A={} on X={} with extension 1234 -> resultcode {}",
        call::AXE_A,
        call::AXE_X,
        bound["resultcode"]
    );
    if bound["resultcode"] != "0" {
        return Err(format!("AXE bind failed: {bound}").into());
    }
    Ok(())
}

/// Asks the live routing table (admin route trace) where calls between the demo's numbers would go.
async fn trace_calls(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    (a, b, x): (&str, &str, &str),
) -> Result<(), Box<dyn std::error::Error>> {
    let admin = |method: reqwest::Method, path: &str, _body: Option<Value>| {
        http.request(method, format!("{base}{path}")).bearer_auth(token)
    };
    println!("\n== where calls go now (admin route trace: the call path's decide on the live table)");
    for (label, caller, called) in [
        ("A dials X", a, x),
        ("B dials X", b, x),
        ("a stranger dials X", "+8613700000003", x),
        ("fixed-line A dials its X", "+8675586345678", "+8617010000002"),
        ("anyone dials an unknown number", a, "+8617099999999"),
    ] {
        let path = format!(
            "/admin/v1/route?caller={}&called={}",
            caller.replace('+', "%2B"),
            called.replace('+', "%2B")
        );
        let trace: Value = admin(reqwest::Method::GET, &path, None)
            .send()
            .await?
            .json()
            .await?;
        let outcome = match trace["decision"].as_str() {
            Some("connect") => format!("connect to {} showing {}", trace["callee"], trace["display"]),
            Some("reject") => format!("reject with stateCode {}", trace["stateCode"]),
            _ => trace.to_string(),
        };
        println!("   {label:<32} {caller} -> {called}: {outcome}");
    }

    Ok(())
}

/// Prints the API and binding metrics the demo produced.
async fn show_metrics(http: &reqwest::Client, base: &str) -> Result<(), Box<dyn std::error::Error>> {
    println!("\n== metrics (GET /metrics, excerpt)");
    let metrics = http.get(format!("{base}/metrics")).send().await?.text().await?;
    for line in metrics
        .lines()
        .filter(|l| l.starts_with("pn_api_requests_total") || l.starts_with("pn_bindings"))
    {
        println!("   {line}");
    }
    Ok(())
}
