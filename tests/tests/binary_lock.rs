//! One `serve` per data directory: a second process on a directory in use is refused with a clear error
//! (it would otherwise route from a table the first one's writes never reach), and the directory is free
//! again once the first has stopped.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test: failing loudly is the point

use std::process::{Command, Stdio};
use std::time::Duration;

use pn_e2e::{Switch, pnswitch_bin};

fn second_serve(data: &std::path::Path) -> std::process::Output {
    let mut child = Command::new(pnswitch_bin())
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
