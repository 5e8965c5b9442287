//! AXE support for the SIP end-to-end tests: a rig whose switch relays media on a port range of its own,
//! an AXE app with digit-collection settings (admin API), AXE bindings (`/rest/caas/extendnumber/v1.0`), and
//! the call facts the switch wrote to its store's outbox (`call_event` and `cdr` rows, read from the
//! `SQLite` file in the data directory).

use std::path::Path;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::sipp::{Rig, ok};

/// The AXE provisioning path.
pub const AXE_PATH: &str = "/rest/caas/extendnumber/v1.0";

/// RTP/RTCP ports per rig (two pairs per call).
const MEDIA_BLOCK: u16 = 100;

/// `PNSWITCH__MEDIA__…` overrides giving a switch a relay port range no other rig of this process uses, below
/// the kernel's ephemeral range (where `SIPp` ports are picked), so parallel tests never fight over a port.
pub fn media_env() -> Vec<(String, String)> {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    // 120 blocks in 20000..32000; the process id spreads concurrent test binaries apart.
    let block = (u32::from(NEXT.fetch_add(1, Ordering::Relaxed)) + std::process::id() * 7) % 120;
    let min = 20_000 + block * u32::from(MEDIA_BLOCK);
    let max = min + u32::from(MEDIA_BLOCK) - 1;
    vec![
        ("PNSWITCH__MEDIA__MODE".to_owned(), "relay".to_owned()),
        ("PNSWITCH__MEDIA__PORT_MIN".to_owned(), min.to_string()),
        ("PNSWITCH__MEDIA__PORT_MAX".to_owned(), max.to_string()),
    ]
}

/// Starts a rig in relay mode with its own port range, plus `env` overrides.
pub fn start_rig(env: &[(&str, &str)]) -> Rig {
    let media = media_env();
    let mut all: Vec<(&str, &str)> = media.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    all.extend_from_slice(env);
    Rig::start(&all)
}

/// Creates an AXE app owning `numbers` (area code 0755) with the admin fields `settings` (e.g.
/// `{"collectRepeat": 1, "firstDigitTimeoutMs": 1000}`); returns (`app_key`, `app_secret`).
pub fn axe_app(rig: &Rig, numbers: &[&str], settings: &Value) -> (String, String) {
    let mut body = json!({"name": "sipp-axe", "mode": "AXE", "recordEnabled": true});
    if let (Some(m), Some(s)) = (body.as_object_mut(), settings.as_object()) {
        m.extend(s.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    let (status, answer) = rig
        .switch
        .admin(reqwest::Method::POST, "/admin/v1/apps", Some(&body));
    assert_eq!(status, 200, "create AXE app: {answer}");
    let app = answer.get("app").unwrap_or(&answer);
    let key = app["appKey"].as_str().expect("appKey").to_owned();
    let secret = app["appSecret"].as_str().expect("appSecret").to_owned();
    let numbers: Vec<String> = numbers.iter().map(|n| (*n).to_owned()).collect();
    rig.switch.import_numbers(&key, "0755", &numbers);
    (key, secret)
}

/// Changes app settings through `PUT /admin/v1/apps/{appKey}`; returns the app as the switch now has it.
pub fn update_app(rig: &Rig, app: &(String, String), settings: &Value) -> Value {
    let (status, answer) = rig.switch.admin(
        reqwest::Method::PUT,
        &format!("/admin/v1/apps/{}", app.0),
        Some(settings),
    );
    assert_eq!(status, 200, "update app: {answer}");
    answer.get("app").cloned().unwrap_or(answer)
}

/// Binds AXE `x` + `extension` to `a` (plus `extra` bind fields); returns the `subscriptionId`.
pub fn bind_axe(
    rig: &Rig,
    app: &(String, String),
    a: &str,
    x: &str,
    extension: &str,
    extra: &Value,
) -> String {
    let mut body = json!({"bindNum": a, "virtualNum": x, "extendNum": extension});
    if let (Some(m), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        m.extend(e.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    let r = rig
        .switch
        .signed(reqwest::Method::POST, AXE_PATH, app, Some(&body));
    let v = ok(&r);
    assert_eq!(v["extendNum"].as_str(), Some(extension), "{v}");
    v["subscriptionId"].as_str().expect("subscriptionId").to_owned()
}

/// One row of the outbox: its kind (`call_event`, `cdr`) and JSON payload.
#[derive(Clone, Debug)]
pub struct Fact {
    /// `call_event` or `cdr`.
    pub kind: String,
    /// The reference's JSON.
    pub payload: Value,
}

impl Fact {
    /// A call event's `eventType` (`None` for a CDR).
    pub fn event_type(&self) -> Option<&str> {
        (self.kind == "call_event")
            .then(|| self.payload["eventType"].as_str())
            .flatten()
    }

    /// A call event's `statusInfo`.
    pub fn status_info(&self) -> &Value {
        &self.payload["statusInfo"]
    }
}

/// Every row of the outbox of the switch whose data directory is `data_dir`, in order.
pub fn outbox(data_dir: &Path) -> Vec<Fact> {
    let db = std::fs::read_dir(data_dir)
        .expect("read the data directory")
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "db"))
        .expect("a database file in the data directory");
    let conn = rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .expect("open the store read-only");
    conn.busy_timeout(Duration::from_secs(5)).expect("busy timeout");
    let mut stmt = conn
        .prepare("SELECT kind, payload FROM outbox ORDER BY id")
        .expect("outbox query");
    stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .expect("outbox rows")
        .map(|row| {
            let (kind, payload) = row.expect("outbox row");
            Fact {
                kind,
                payload: serde_json::from_str(&payload).unwrap_or(Value::String(payload)),
            }
        })
        .collect()
}

/// Waits (up to 10 s: facts are written in batches, asynchronously) until the outbox as a whole satisfies
/// `want`, and returns it; panics with the outbox's content otherwise.
pub fn wait_for_outbox(data_dir: &Path, what: &str, want: impl Fn(&[Fact]) -> bool) -> Vec<Fact> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let facts = outbox(data_dir);
        if want(&facts) {
            return facts;
        }
        assert!(
            Instant::now() < deadline,
            "the outbox never got {what}; it holds:\n{}",
            show(&facts)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until the outbox holds a fact `want` accepts (see [`wait_for_outbox`]).
pub fn wait_for_fact(data_dir: &Path, what: &str, want: impl Fn(&Fact) -> bool) -> Vec<Fact> {
    wait_for_outbox(data_dir, what, |facts| facts.iter().any(&want))
}

/// The `stateCode`s of the `disconnect` events in `facts`, in order.
pub fn disconnect_codes(facts: &[Fact]) -> Vec<u64> {
    facts
        .iter()
        .filter(|f| f.event_type() == Some("disconnect"))
        .filter_map(|f| f.status_info()["stateCode"].as_u64())
        .collect()
}

/// The `stateCode` of the first `disconnect` event in `facts`.
pub fn disconnect_code(facts: &[Fact]) -> Option<u64> {
    facts
        .iter()
        .find(|f| f.event_type() == Some("disconnect"))
        .and_then(|f| f.status_info()["stateCode"].as_u64())
}

/// The outbox, one fact per line (for assertion messages).
pub fn show(facts: &[Fact]) -> String {
    facts
        .iter()
        .map(|f| format!("{} {}", f.kind, f.payload))
        .collect::<Vec<_>>()
        .join("\n")
}
