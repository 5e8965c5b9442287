//! What an operator meets first: one `serve` per data directory (a second process on a directory in use is
//! refused with a clear error: it would otherwise route from a table the first one's writes never reach);
//! files for pnswitch's user only (app secrets and every real number are inside); logs as JSON lines when
//! asked, without colour codes when stderr is not a terminal; systemd `Type=notify` (READY, WATCHDOG,
//! STOPPING) and the build-info and process metrics.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test: failing loudly is the point

use std::process::{Command, Stdio};
use std::time::Duration;

use pn_e2e::{Switch, pnswitch_bin};

fn second_serve(data: &std::path::Path) -> std::process::Output {
    serve_expecting_exit(data, &[])
}

/// Runs `serve` on `data` with `env`, expecting it to exit by itself (stopped after 15 s if it serves).
fn serve_expecting_exit(data: &std::path::Path, env: &[(&str, &str)]) -> std::process::Output {
    let mut child = Command::new(pnswitch_bin())
        .envs(env.iter().copied())
        .args([
            "serve",
            "--http-listen",
            "127.0.0.1:0",
            "--sip-listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(data)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A refused start exits at once; give it a bounded time, then stop it if it is (wrongly) serving.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while child.try_wait().unwrap().is_none() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    if child.try_wait().unwrap().is_none() {
        child.kill().unwrap();
    }
    child.wait_with_output().unwrap()
}

#[test]
fn a_sip_start_that_fails_after_the_shards_event_loops_exist_is_a_clear_error_not_a_panic() {
    // Four shards cannot split two relay ports: the SIP start fails after it built the shards' event loops
    // and registered the UDP socket with one of them (a runtime dropped on that path must not panic).
    let dir = tempfile::tempdir().unwrap();
    let out = serve_expecting_exit(
        &dir.path().join("data"),
        &[
            ("PNSWITCH__SIP__SHARDS", "4"),
            ("PNSWITCH__MEDIA__PORT_MIN", "40000"),
            ("PNSWITCH__MEDIA__PORT_MAX", "40001"),
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "it served: {stderr}");
    assert!(stderr.contains("port range too small for the shards"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_second_serve_on_the_same_data_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut first = Switch::start(&data);
    let out = second_serve(&data);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the second serve ran: {stderr}");
    assert!(
        stderr.contains("in use by another pnswitch") && stderr.contains("pnswitch.lock"),
        "{stderr}"
    );
    // The first one still serves.
    let (status, _) = first.admin(reqwest::Method::GET, "/admin/v1/apps", None);
    assert_eq!(status, 200);
    assert!(first.stop(Duration::from_secs(20)));
    // Stopped: the directory can be served again.
    let again = Switch::start(&data);
    let (status, _) = again.admin(reqwest::Method::GET, "/admin/v1/apps", None);
    assert_eq!(status, 200);
}

#[test]
fn the_data_directory_and_its_files_are_for_pnswitchs_user_only() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let switch = Switch::start(&data);
    let (status, _) = switch.admin(
        reqwest::Method::POST,
        "/admin/v1/apps",
        Some(&serde_json::json!({"name": "perm", "mode": "AXB"})),
    );
    assert_eq!(status, 200);
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    for sub in ["", "recordings", "prompts"] {
        let p = data.join(sub);
        assert_eq!(mode(&p), 0o700, "{}", p.display());
    }
    for file in [
        "pnswitch.db",
        "pnswitch.db-wal",
        "admin.token",
        "record-url.key",
        "pnswitch.lock",
    ] {
        let p = data.join(file);
        assert_eq!(mode(&p), 0o600, "{}", p.display());
    }
}

#[test]
fn json_logs_are_one_object_per_line_and_text_logs_carry_no_colour_codes() {
    for (format, check) in [("json", true), ("text", false)] {
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new(pnswitch_bin())
            .args([
                "serve",
                "--http-listen",
                "127.0.0.1:0",
                "--sip-listen",
                "127.0.0.1:0",
                "--data-dir",
            ])
            .arg(dir.path().join("data"))
            .env("RUST_LOG", "info")
            .env("PNSWITCH__LOG__FORMAT", format)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_secs(2));
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert!(
            lines.iter().any(|l| l.contains("pnswitch starting")),
            "{format}: {stderr}"
        );
        assert!(
            !stderr.contains('\u{1b}'),
            "{format}: ANSI codes in a piped log: {stderr:?}"
        );
        if check {
            for line in &lines {
                let v: serde_json::Value =
                    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
                assert!(v["level"].is_string() && v["fields"].is_object(), "{line}");
            }
        }
    }
}

#[test]
fn systemd_hears_ready_watchdog_pings_and_stopping_and_metrics_show_the_build() {
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("notify.sock");
    let socket = std::os::unix::net::UnixDatagram::bind(&socket_path).unwrap();
    socket.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let mut switch = Switch::start_with(
        &dir.path().join("data"),
        &[
            ("NOTIFY_SOCKET", socket_path.to_str().unwrap()),
            ("WATCHDOG_USEC", "200000"),
        ],
    );
    let mut heard = Vec::new();
    let read = |heard: &mut Vec<String>, for_how_long: Duration| {
        let until = std::time::Instant::now() + for_how_long;
        let mut buf = [0u8; 4096];
        while std::time::Instant::now() < until {
            if let Ok(n) = socket.recv(&mut buf) {
                heard.push(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
        }
    };
    // `start_with` returns once the HTTP port is known: READY follows at once, then a ping every 100 ms.
    read(&mut heard, Duration::from_secs(1));
    assert!(
        heard.iter().any(|m| m.lines().any(|l| l == "READY=1")),
        "{heard:?}"
    );
    let pings = heard
        .iter()
        .filter(|m| m.lines().any(|l| l == "WATCHDOG=1"))
        .count();
    assert!(
        pings >= 4,
        "a 200 ms watchdog is pinged every 100 ms: {pings} in 1 s: {heard:?}"
    );
    let (_, metrics) = (
        0,
        switch
            .client()
            .get(format!("{}/metrics", switch.base))
            .send()
            .unwrap()
            .text()
            .unwrap(),
    );
    let info = metrics
        .lines()
        .find(|l| l.starts_with("pn_build_info{"))
        .unwrap_or_else(|| panic!("no pn_build_info: {metrics}"));
    assert!(
        info.contains(&format!("version=\"{}\"", env!("CARGO_PKG_VERSION"))),
        "{info}"
    );
    assert!(info.ends_with(" 1"), "{info}");
    for family in [
        "process_resident_memory_bytes ",
        "process_cpu_seconds_total ",
        "process_open_fds ",
    ] {
        assert!(metrics.lines().any(|l| l.starts_with(family)), "{family}missing");
    }
    assert!(switch.stop(Duration::from_secs(15)), "SIGTERM stops it");
    read(&mut heard, Duration::from_millis(300));
    assert!(
        heard.iter().any(|m| m.lines().any(|l| l == "STOPPING=1")),
        "{heard:?}"
    );
}
