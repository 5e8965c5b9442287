//! The OpenAPI document through real client tooling: the real binary serves `/openapi.json`,
//! `tests/openapi/client_test.py` validates it as OpenAPI 3 (`openapi-spec-validator`), generates a Python
//! client from it (`openapi-python-client`, failing on any generator warning) and drives every operation of
//! the document through that client against the binary: all four modes, the temporary callee, the number
//! import, the prompt upload and download, the recording download and its signed URL, the admin and service
//! endpoints. Every JSON answer is validated against the document, and the operations driven must be exactly
//! the document's.
//!
//! Needs python3 with the packages of `tests/openapi/requirements.txt` in `<target>/openapi-venv`
//! (`tests/openapi/setup.sh`, which the README's test command runs); without them this test fails.

#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

use std::process::Command;
use std::time::{Duration, Instant};

use pn_e2e::{Switch, target_dir, workspace_root};

#[test]
fn generated_python_client_drives_every_documented_operation() {
    let python = target_dir().join("openapi-venv").join("bin").join("python");
    assert!(
        python.exists(),
        "{} missing: run tests/openapi/setup.sh (installs the pinned Python packages)",
        python.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let switch = Switch::start(&data);
    let started = Instant::now();
    let out = Command::new(&python)
        .arg(workspace_root().join("tests/openapi/client_test.py"))
        .arg("--base")
        .arg(&switch.base)
        .arg("--admin-token")
        .arg(&switch.admin_token)
        .arg("--data-dir")
        .arg(&data)
        .arg("--work-dir")
        .arg(dir.path().join("work"))
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "client_test.py failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(
        stdout.contains("operations driven through the generated client"),
        "unexpected output:\n{stdout}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
}
