//! The relay port range and the kernel's ephemeral ports, through the real binary. Linux gives sockets bound to
//! port 0 (every client socket of every program, `SIPp`'s included) a port of `net.ipv4.ip_local_port_range`
//! (32768–60999 by default); a relay pair whose port such a socket holds cannot be bound and the call is refused
//! with 503 / 7508. The load harness hit exactly that with the old default range (30000–39999). The default range
//! now lies below the ephemeral ports, and a configured range that overlaps them is warned about at start.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test: failing loudly is the point

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use pn_e2e::pnswitch_bin;

const WARNING: &str = "port range overlaps the kernel's ephemeral ports";

/// This machine's ephemeral range.
fn ephemeral() -> (u16, u16) {
    let text =
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").expect("ip_local_port_range");
    let mut it = text.split_whitespace().map(|p| p.parse::<u16>().expect("port"));
    (it.next().expect("low port"), it.next().expect("high port"))
}

/// Starts `pnswitch serve` with `env`, waits until its SIP side listens, stops it and returns its stderr.
fn start_and_stop(env: &[(&str, String)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let err_path = dir.path().join("stderr");
    let mut child = Command::new(pnswitch_bin())
        .args([
            "serve",
            "--http-listen",
            "127.0.0.1:0",
            "--sip-listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(dir.path().join("data"))
        .env("RUST_LOG", "warn")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .expect("spawn pnswitch");
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut listening = false;
    for line in stdout.lines() {
        // The media relay is set up (and the range checked) before the SIP side reports it listens.
        if line.expect("stdout").contains("sip listening on tcp") {
            listening = true;
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let stderr = std::fs::read_to_string(&err_path).unwrap();
    assert!(listening, "pnswitch did not start:\n{stderr}");
    stderr
}

#[test]
fn a_relay_range_inside_the_ephemeral_ports_is_warned_about() {
    let (_, hi) = ephemeral();
    let first = hi - 199;
    let stderr = start_and_stop(&[
        ("PNSWITCH__MEDIA__MODE", "relay".to_owned()),
        ("PNSWITCH__MEDIA__PORT_MIN", first.to_string()),
        ("PNSWITCH__MEDIA__PORT_MAX", hi.to_string()),
    ]);
    assert!(
        stderr.contains(WARNING),
        "no warning for ports {first}-{hi}:\n{stderr}"
    );
    assert!(
        stderr.contains(&format!("{first}-{hi}")),
        "the warning names the shared ports:\n{stderr}"
    );
}

#[test]
fn the_default_relay_range_is_below_linuxs_ephemeral_ports() {
    let (lo, _) = ephemeral();
    let stderr = start_and_stop(&[("PNSWITCH__MEDIA__MODE", "relay".to_owned())]);
    // The default range ends at 32767: below Linux's default ephemeral range, which starts at 32768.
    if lo >= 32_768 {
        assert!(
            !stderr.contains(WARNING),
            "the default range warned although it is below {lo}:\n{stderr}"
        );
    } else {
        assert!(
            stderr.contains(WARNING),
            "this machine's ephemeral ports start at {lo}: expected a warning:\n{stderr}"
        );
    }
}
