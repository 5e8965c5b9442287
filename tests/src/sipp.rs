//! `SIPp` support for the SIP end-to-end tests: start pnswitch with a SIP listener whose egress trunk is a `SIPp`
//! UAS, run `SIPp` UAC scenarios from `sip-fixtures/sipp/` against it, and read back what each side sent and
//! received (`-trace_msg`), its statistics (`-trace_stat`) and its screen (`-trace_screen`).
//!
//! Everything runs on 127.0.0.1 and is bounded: every `SIPp` run has `-m` (call count) and `-timeout`, and a UAS
//! still running when its test is done is stopped with SIGTERM (`SIPp` flushes its traces and exits).
//!
//! Like a real user agent, every `SIPp` answers the switch's in-dialog OPTIONS probes (sent every
//! `dialog_probe_secs` on answered calls) with 200: `-aa` (which also answers INFO, NOTIFY and UPDATE the
//! scenario does not expect, and OPTIONS outside any call). A test of a party that has lost its dialog turns it
//! off ([`Sipp::no_auto_answer`]).
//!
//! `SIPp` comes from Debian's `sip-tester` package (`tests/run-all.sh` installs it). A test that needs it fails
//! loudly when it is missing: it is never skipped.

// Test support: failing loudly on a broken environment is the point, so expect/panic are fine here
// (allowed for the whole crate in lib.rs).

use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{Switch, pnswitch_bin, workspace_root};

/// How long to wait for `pnswitch serve` to print its listening lines.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The `sipp` executable (`$SIPP_BIN`, else `sipp` on `PATH`); panics, failing the test, when it is absent.
pub fn sipp_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("SIPP_BIN") {
        return PathBuf::from(bin);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("sipp"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`sipp` is not installed: the SIP end-to-end tests need it. Install Debian's `sip-tester` \
                 package (`apt-get install sip-tester`; tests/run-all.sh does it) — these tests are never skipped"
            )
        })
}

/// The path of scenario `name` (`uac_basic` or `uac_basic.xml`) in `sip-fixtures/sipp/`.
pub fn scenario(name: &str) -> PathBuf {
    let file = if Path::new(name).extension().is_some_and(|e| e == "xml") {
        name.to_owned()
    } else {
        format!("{name}.xml")
    };
    let path = workspace_root().join("sip-fixtures").join("sipp").join(file);
    assert!(path.is_file(), "no SIPp scenario {}", path.display());
    path
}

/// A media port of its own for each `SIPp` run (its RTP socket, and the source of `play_pcap_audio`): `SIPp`'s
/// default 6000 would be shared by every `SIPp` of tests running in parallel. Ports in 12000–19999, below the
/// relay ranges the tests give the switch and the kernel's ephemeral range; a free ephemeral pair if those are
/// all taken.
fn media_port() -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let slot = std::process::id() % 40;
    // The first candidate whose RTP port and its +2 echo port are free right now (another program may hold
    // part of the range).
    for _ in 0..50 {
        let n = NEXT.fetch_add(1, Ordering::Relaxed) % 50;
        let port = u16::try_from(12_000 + slot * 200 + n * 4).unwrap_or(12_000);
        let free = |p: u16| UdpSocket::bind(("127.0.0.1", p)).is_ok();
        if free(port) && free(port + 2) {
            return port;
        }
    }
    // All taken (another program uses the range): a pair the kernel says is free.
    loop {
        let port = free_udp_port();
        if port < 65_000 && UdpSocket::bind(("127.0.0.1", port + 2)).is_ok() {
            return port;
        }
    }
}

/// A loopback UDP port that was free a moment ago (the kernel's ephemeral pick, released at once).
pub fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("bind an ephemeral UDP port")
        .port()
}

/// A running pnswitch with a SIP listener, and the address of its UDP socket.
pub struct SipSwitch {
    /// The process and its HTTP side (admin and provisioning helpers).
    pub switch: Switch,
    /// Where SIP requests go (`--sip-listen 127.0.0.1:0`, as printed by the binary).
    pub sip: SocketAddr,
}

impl std::ops::Deref for SipSwitch {
    type Target = Switch;
    fn deref(&self) -> &Switch {
        &self.switch
    }
}

impl SipSwitch {
    /// Starts `pnswitch serve` with HTTP and SIP on free loopback ports, its egress trunk at `egress` and
    /// 127.0.0.1 as the trusted trunk peer; `env` adds `PNSWITCH__…` overrides (they win over these defaults,
    /// e.g. `PNSWITCH__SIP__B2BUA__FORWARD_TIMEOUT_SECS`). Waits until both listening lines are printed.
    pub fn start(data_dir: &Path, egress: SocketAddr, env: &[(&str, &str)]) -> SipSwitch {
        let mut cmd = Command::new(pnswitch_bin());
        cmd.env("PNSWITCH__SIP__B2BUA__EGRESS", format!("[\"{egress}\"]"))
            .env("PNSWITCH__SIP__B2BUA__TRUSTED_PEERS", "[\"127.0.0.1\"]");
        Self::launch(cmd, data_dir, "127.0.0.1:0", env)
    }

    /// Like [`SipSwitch::start`], with SIP on `sip_listen` (another loopback address for one node of several
    /// behind a front: `127.0.0.2:0` for a free port, or the port it had before a restart).
    pub fn start_on(
        data_dir: &Path,
        sip_listen: &str,
        egress: SocketAddr,
        env: &[(&str, &str)],
    ) -> SipSwitch {
        let mut cmd = Command::new(pnswitch_bin());
        cmd.env("PNSWITCH__SIP__B2BUA__EGRESS", format!("[\"{egress}\"]"))
            .env("PNSWITCH__SIP__B2BUA__TRUSTED_PEERS", "[\"127.0.0.1\"]");
        Self::launch(cmd, data_dir, sip_listen, env)
    }

    /// Like [`SipSwitch::start`], with the trunks (and anything else) from the TOML file `config` instead of
    /// the environment, so that a SIGHUP can change them.
    pub fn start_with_config(data_dir: &Path, config: &Path, env: &[(&str, &str)]) -> SipSwitch {
        let mut cmd = Command::new(pnswitch_bin());
        cmd.arg("--config").arg(config);
        Self::launch(cmd, data_dir, "127.0.0.1:0", env)
    }

    fn launch(mut cmd: Command, data_dir: &Path, sip_listen: &str, env: &[(&str, &str)]) -> SipSwitch {
        cmd.args([
            "serve",
            "--http-listen",
            "127.0.0.1:0",
            "--sip-listen",
            sip_listen,
        ])
        .arg("--data-dir")
        .arg(data_dir)
        .env(
            "RUST_LOG",
            std::env::var("PN_E2E_SWITCH_LOG").unwrap_or_else(|_| "warn".to_owned()),
        )
        .envs(crate::media_ports())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn pnswitch");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        // Forward stdout lines, then keep draining so the child never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + START_TIMEOUT;
        let (mut base, mut sip) = (None, None);
        let mut seen = Vec::new();
        while base.is_none() || sip.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(addr) = line.strip_prefix("pnswitch: http listening on ") {
                        base = Some(format!("http://{}", addr.trim()));
                    } else if let Some(addr) = line.strip_prefix("pnswitch: sip listening on udp ") {
                        sip = Some(
                            addr.trim()
                                .parse::<SocketAddr>()
                                .unwrap_or_else(|e| panic!("unparsable SIP listen line {line:?}: {e}")),
                        );
                    }
                    seen.push(line);
                }
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "pnswitch did not print both `pnswitch: http listening on ADDR` and `pnswitch: sip \
                         listening on udp ADDR` ({e:?}); it printed:\n{}",
                        seen.join("\n")
                    );
                }
            }
        }
        std::thread::spawn(move || for _ in rx {});
        let admin_token = std::fs::read_to_string(data_dir.join("admin.token"))
            .expect("admin.token written at start")
            .trim()
            .to_owned();
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        SipSwitch {
            switch: Switch {
                child,
                base: base.expect("http line"),
                data_dir: data_dir.to_owned(),
                admin_token,
                client,
            },
            sip: sip.expect("sip line"),
        }
    }

    /// The `/metrics` text.
    pub fn metrics(&self) -> String {
        self.client()
            .get(format!("{}/metrics", self.base))
            .send()
            .and_then(reqwest::blocking::Response::text)
            .expect("GET /metrics")
    }

    /// The value of one series of `/metrics`, named as exposed (`pn_sip_active_calls`,
    /// `pn_media_events_total{kind="open_failed"}`); `None` when the switch does not expose it (yet).
    pub fn metric(&self, series: &str) -> Option<f64> {
        metric_value(&self.metrics(), series)
    }
}

/// The value of `series` (name and labels exactly as exposed) in a Prometheus text exposition.
pub fn metric_value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
}

/// The AXB provisioning path.
pub const AXB_PATH: &str = "/rest/caas/relationnumber/partners/v1.0";
/// The AX provisioning path.
pub const AX_PATH: &str = "/rest/provision/caas/privatenumber/v1.0";
/// The AX temporary-callee path.
pub const AX_CALLEE_PATH: &str = "/rest/caas/privatenumber/calleenumber/v1.0";
/// The AXYB provisioning path.
pub const AXYB_PATH: &str = "/rest/omp/xyrelationnumber/v1.0";

/// Asserts a provisioning answer is HTTP 200 with `resultcode` "0" and returns its body.
pub fn ok(v: &(u16, Value)) -> &Value {
    assert_eq!((v.0, v.1["resultcode"].as_str()), (200, Some("0")), "{}", v.1);
    &v.1
}

impl SipSwitch {
    /// Creates an app of `mode` owning `numbers` (area code 0755); returns its (`app_key`, `app_secret`).
    pub fn app_with_numbers(&self, mode: &str, numbers: &[&str]) -> (String, String) {
        let app = self.create_app(&format!("sipp-{}", mode.to_ascii_lowercase()), mode);
        let numbers: Vec<String> = numbers.iter().map(|n| (*n).to_owned()).collect();
        self.import_numbers(&app.0, "0755", &numbers);
        app
    }

    /// Binds AXB `x`: `a` ↔ `b`, with `extra` fields (e.g. `{"callDirection": 1}`) merged in; returns the
    /// `subscriptionId`.
    pub fn bind_axb(&self, app: &(String, String), x: &str, a: &str, b: &str, extra: &Value) -> String {
        let mut body = serde_json::json!({"relationNum": x, "callerNum": a, "calleeNum": b});
        if let (Some(m), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            m.extend(e.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        let r = self.signed(reqwest::Method::POST, AXB_PATH, app, Some(&body));
        ok(&r)["subscriptionId"]
            .as_str()
            .expect("subscriptionId")
            .to_owned()
    }
}

/// A SIP end-to-end rig: a scratch directory, pnswitch whose egress trunk is `127.0.0.1:uas_port`, and
/// builders for the `SIPp` UAS (B, on that port) and UAC (the ingress trunk, calling the switch).
pub struct Rig {
    /// Scratch directory: the switch's data and every `SIPp` file.
    pub dir: tempfile::TempDir,
    /// The switch.
    pub switch: SipSwitch,
    /// Where B (the `SIPp` UAS) listens; the switch's egress trunk.
    pub uas_port: u16,
}

impl Rig {
    /// Starts pnswitch with `env` overrides and its egress at a fresh port for the UAS.
    pub fn start(env: &[(&str, &str)]) -> Rig {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        Self::start_in(dir, &data, env)
    }

    /// Like [`Rig::start`], with the switch's data directory at `data` (e.g. on a small tmpfs); the `SIPp`
    /// files stay in a scratch directory.
    pub fn start_with_data(data: &Path, env: &[(&str, &str)]) -> Rig {
        Self::start_in(tempfile::tempdir().expect("tempdir"), data, env)
    }

    fn start_in(dir: tempfile::TempDir, data: &Path, env: &[(&str, &str)]) -> Rig {
        std::fs::create_dir_all(data).expect("data dir");
        let uas_port = free_udp_port();
        let switch = SipSwitch::start(data, SocketAddr::from(([127, 0, 0, 1], uas_port)), env);
        Rig {
            dir,
            switch,
            uas_port,
        }
    }

    /// B's side: `scenario` on the egress port (call `.spawn()` on it before placing the call).
    pub fn uas(&self, scenario_name: &str) -> Sipp {
        Sipp::uas(self.dir.path(), scenario_name, self.uas_port).watching(&self.switch.base)
    }

    /// The caller's trunk: `scenario` sending to the switch's SIP address.
    pub fn uac(&self, scenario_name: &str) -> Sipp {
        Sipp::uac(self.dir.path(), scenario_name, self.switch.sip).watching(&self.switch.base)
    }
}

/// Which side a `SIPp` instance plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Places calls to a remote address.
    Uac,
    /// Answers calls on its port.
    Uas,
}

/// A `SIPp` command line being built: one scenario, bounded call count and time, loopback only, with
/// message trace, statistics and screen files in a directory of its own.
#[derive(Clone, Debug)]
pub struct Sipp {
    role: Role,
    scenario: PathBuf,
    label: String,
    dir: PathBuf,
    port: u16,
    remote: Option<SocketAddr>,
    calls: u32,
    rate: f64,
    timeout_secs: u64,
    pause_ms: Option<u64>,
    rows: Vec<Vec<String>>,
    extra: Vec<String>,
    auto_answer: bool,
    tcp: bool,
    /// The switch under test's base URL (`Rig::uac`/`Rig::uas`): a failed run shows its `/metrics`.
    switch_base: Option<String>,
}

impl Sipp {
    /// A UAC running `scenario` against `remote`, from a free local port, writing its files under `dir`.
    pub fn uac(dir: &Path, scenario_name: &str, remote: SocketAddr) -> Sipp {
        Self::new(Role::Uac, dir, scenario_name, Some(remote), free_udp_port())
    }

    /// A UAS running `scenario` on `port`, writing its files under `dir`.
    pub fn uas(dir: &Path, scenario_name: &str, port: u16) -> Sipp {
        Self::new(Role::Uas, dir, scenario_name, None, port)
    }

    fn new(role: Role, dir: &Path, scenario_name: &str, remote: Option<SocketAddr>, port: u16) -> Sipp {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let label = format!(
            "{}-{}-{}",
            match role {
                Role::Uac => "uac",
                Role::Uas => "uas",
            },
            scenario_name.trim_end_matches(".xml"),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        Sipp {
            role,
            scenario: scenario(scenario_name),
            label,
            dir: dir.to_owned(),
            port,
            remote,
            calls: 1,
            rate: 10.0,
            timeout_secs: 30,
            pause_ms: None,
            rows: Vec::new(),
            extra: Vec::new(),
            auto_answer: true,
            tcp: false,
            switch_base: None,
        }
    }

    /// Stop after `n` calls (`-m`; default 1).
    #[must_use]
    pub fn calls(mut self, n: u32) -> Sipp {
        self.calls = n;
        self
    }

    /// Calls per second (`-r`; default 10).
    #[must_use]
    pub fn rate(mut self, cps: f64) -> Sipp {
        self.rate = cps;
        self
    }

    /// Global time limit in seconds (`-timeout`; default 30). A UAC that hits it fails (`-timeout_error`).
    #[must_use]
    pub fn timeout_secs(mut self, secs: u64) -> Sipp {
        self.timeout_secs = secs;
        self
    }

    /// Length of the scenario's `<pause/>` in milliseconds (`-d`).
    #[must_use]
    pub fn pause_ms(mut self, ms: u64) -> Sipp {
        self.pause_ms = Some(ms);
        self
    }

    /// Values injected per call (`-inf`, sequential): `[field0]`, `[field1]`… of call `i` come from row
    /// `i % rows.len()`.
    #[must_use]
    pub fn inject<S: AsRef<str>>(mut self, rows: &[&[S]]) -> Sipp {
        self.rows = rows
            .iter()
            .map(|r| r.iter().map(|f| f.as_ref().to_owned()).collect())
            .collect();
        self
    }

    /// Do not answer requests the scenario does not expect (no `-aa`): an unexpected in-dialog OPTIONS then
    /// aborts the call, one outside any call gets no answer at all.
    #[must_use]
    pub fn no_auto_answer(mut self) -> Sipp {
        self.auto_answer = false;
        self
    }

    /// Over TCP (`-t t1`: one connection) instead of UDP.
    #[must_use]
    pub fn tcp(mut self) -> Sipp {
        self.tcp = true;
        self
    }

    /// Goes on with a call when a message it does not expect arrives (`-default_behaviors all,-abortunexp`;
    /// the message is still counted and logged) instead of aborting it. For calls through a proxy with
    /// several UDP workers, such as the Kamailio front's children: two responses sent back to back (a 180
    /// and the 200) may be forwarded in either order, and RFC 3261 has a UAC ignore the 180 that arrives
    /// after the 200; `SIPp` would abort the call and send an out-of-dialog BYE.
    #[must_use]
    pub fn tolerate_reordered_responses(self) -> Sipp {
        self.arg("-default_behaviors").arg("all,-abortunexp")
    }

    /// One more raw `SIPp` argument.
    #[must_use]
    pub fn arg(mut self, a: impl Into<String>) -> Sipp {
        self.extra.push(a.into());
        self
    }

    /// The port this instance binds.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The address this instance binds (`127.0.0.1:port`).
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    fn file(&self, suffix: &str) -> PathBuf {
        self.dir.join(format!("{}.{suffix}", self.label))
    }

    fn command(&self) -> Command {
        std::fs::create_dir_all(&self.dir).expect("create SIPp directory");
        let mut cmd = Command::new(sipp_bin());
        cmd.current_dir(&self.dir)
            .arg("-sf")
            .arg(&self.scenario)
            .args(["-i", "127.0.0.1", "-bind_local", "-p"])
            .arg(self.port.to_string())
            .arg("-mp")
            .arg(media_port().to_string())
            .args(["-t", if self.tcp { "t1" } else { "u1" }, "-nostdin", "-m"])
            .arg(self.calls.to_string())
            .arg("-timeout")
            .arg(self.timeout_secs.to_string())
            .args(["-trace_msg", "-message_file"])
            .arg(self.file("msg"))
            .args(["-trace_stat", "-fd", "1", "-stf"])
            .arg(self.file("stat.csv"))
            .args(["-trace_screen", "-screen_file"])
            .arg(self.file("screen"))
            .args(["-trace_err", "-error_file"])
            .arg(self.file("err"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(ms) = self.pause_ms {
            cmd.arg("-d").arg(ms.to_string());
        }
        if !self.rows.is_empty() {
            let mut csv = String::from("SEQUENTIAL\n");
            for row in &self.rows {
                for field in row {
                    assert!(!field.contains([';', '\n']), "bad injected value {field:?}");
                    let _ = write!(csv, "{field};");
                }
                csv.push('\n');
            }
            let path = self.file("inf.csv");
            std::fs::write(&path, csv).expect("write injection file");
            cmd.arg("-inf").arg(path);
        }
        if self.role == Role::Uac {
            cmd.args(["-timeout_error", "-r"]).arg(self.rate.to_string());
        }
        if self.auto_answer {
            cmd.arg("-aa");
        }
        cmd.args(&self.extra);
        if let Some(remote) = self.remote {
            cmd.arg(remote.to_string());
        }
        cmd
    }

    /// Starts `SIPp` in the background (a UAS, typically, before the switch sends it anything); waits until its
    /// port is bound.
    ///
    /// A `SIPp` that exits before binding (its port or media port taken for a moment by another program) is
    /// started again, up to three times in all; the last failure panics with its stderr.
    pub fn spawn(self) -> SippProcess {
        let mut proc = SippProcess {
            child: Some(self.command().spawn().expect("spawn sipp")),
            sipp: self,
        };
        for attempt in 1..=3 {
            match proc.wait_bound() {
                Ok(()) => return proc,
                Err(early_exit) if attempt < 3 => {
                    eprintln!(
                        "sipp {} exited before binding, starting it again: {early_exit}",
                        proc.sipp.label
                    );
                    std::thread::sleep(Duration::from_millis(200));
                    proc.child = Some(proc.sipp.command().spawn().expect("spawn sipp"));
                }
                Err(early_exit) => panic!(
                    "sipp {} never bound {}: {early_exit}",
                    proc.sipp.label,
                    proc.addr()
                ),
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    /// Shows the `pn_sip_*` series of the switch at `base` (`http://127.0.0.1:PORT`) when this run fails,
    /// read the moment `SIPp` ended, while the switch still runs (what its shards hold, their queues).
    #[must_use]
    pub fn watching(mut self, base: &str) -> Sipp {
        self.switch_base = Some(base.to_owned());
        self
    }

    /// Runs `SIPp` to completion and returns what it did (without judging its exit status).
    pub fn run(self) -> SippRun {
        let mut proc = SippProcess {
            child: Some(self.command().spawn().expect("spawn sipp")),
            sipp: self,
        };
        let limit = Duration::from_secs(proc.sipp.timeout_secs + 15);
        proc.wait_for(limit)
    }

    /// Runs `SIPp` to completion and asserts it exited 0 (every call succeeded), showing its traces otherwise.
    pub fn run_ok(self) -> SippRun {
        let run = self.run();
        run.assert_ok();
        run
    }
}

/// A `SIPp` process in the background; stopped (SIGTERM, then SIGKILL) when dropped.
pub struct SippProcess {
    child: Option<Child>,
    sipp: Sipp,
}

impl SippProcess {
    /// Its address (`127.0.0.1:port`).
    pub fn addr(&self) -> SocketAddr {
        self.sipp.addr()
    }

    /// Waits until `SIPp`'s UDP port is bound, looked up in the kernel's socket table (binding the port to probe
    /// it could take it from `SIPp` at the very moment it binds). `Err` (with `SIPp`'s stderr) if it exited first;
    /// panics if it neither binds nor exits within 10 s.
    fn wait_bound(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if udp_port_bound(self.addr()) || (self.sipp.tcp && tcp_port_listening(self.addr())) {
                return Ok(());
            }
            let child = self.child.as_mut().expect("sipp running");
            if let Some(status) = child.try_wait().expect("try_wait sipp") {
                let mut stderr = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
                }
                self.child = None;
                return Err(format!("{status}: {}", stderr.trim()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "sipp {} neither bound {} nor exited within 10 s",
            self.sipp.label,
            self.addr()
        );
    }

    /// Waits up to `limit` for `SIPp` to exit by itself (its `-m` calls done, or its `-timeout`), else stops
    /// it with SIGTERM; returns what it did.
    pub fn wait_for(&mut self, limit: Duration) -> SippRun {
        let mut child = self.child.take().expect("sipp already waited for");
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(status) = child.try_wait().expect("try_wait sipp") {
                break Some(status);
            }
            if Instant::now() >= deadline {
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let (status, stopped) = match status {
            Some(s) => (s, false),
            None => (terminate(&mut child), true),
        };
        let mut stderr = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
        }
        let failed = stopped || !status.success();
        let switch_metrics = match &self.sipp.switch_base {
            Some(base) if failed => switch_sip_metrics(base),
            _ => String::new(),
        };
        SippRun {
            label: self.sipp.label.clone(),
            switch_metrics,
            role: self.sipp.role,
            status,
            stopped,
            stderr,
            trace: read(&self.sipp.file("msg")),
            stat_csv: read(&self.sipp.file("stat.csv")),
            screen: read(&self.sipp.file("screen")),
            errors: read(&self.sipp.file("err")),
        }
    }

    /// Stops `SIPp` now (SIGTERM: it writes its traces and exits) and returns what it did.
    pub fn stop(mut self) -> SippRun {
        self.wait_for(Duration::ZERO)
    }

    /// Waits up to `limit` for `SIPp` to finish its calls, then asserts it exited 0.
    pub fn finish_ok(mut self, limit: Duration) -> SippRun {
        let run = self.wait_for(limit);
        assert!(
            !run.stopped,
            "sipp {} did not finish its calls within {limit:?}\n{}",
            run.label,
            run.diagnostics()
        );
        run.assert_ok();
        run
    }
}

impl Drop for SippProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            terminate(&mut child);
        }
    }
}

/// The non-zero `pn_sip_*` series of the switch at `base`, or why they could not be read.
fn switch_sip_metrics(base: &str) -> String {
    let text = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .and_then(|client| client.get(format!("{base}/metrics")).send())
        .and_then(reqwest::blocking::Response::text);
    match text {
        Ok(text) => text
            .lines()
            .filter(|l| l.starts_with("pn_sip_") && !l.ends_with(" 0"))
            .collect::<Vec<_>>()
            .join("\n"),
        Err(e) => format!("(GET {base}/metrics failed: {e})"),
    }
}

/// Whether a UDP socket is bound to `addr` (IPv4), from `/proc/net/udp`.
/// Whether something listens on TCP `addr` (`/proc/net/tcp`, state 0A).
fn tcp_port_listening(addr: SocketAddr) -> bool {
    let SocketAddr::V4(v4) = addr else {
        return false;
    };
    let wanted = format!("{:08X}:{:04X}", u32::from_le_bytes(v4.ip().octets()), v4.port());
    let any = format!("00000000:{:04X}", v4.port());
    std::fs::read_to_string("/proc/net/tcp").is_ok_and(|table| {
        table.lines().skip(1).any(|line| {
            let mut fields = line.split_whitespace().skip(1);
            let local = fields.next().unwrap_or_default();
            let state = fields.nth(1).unwrap_or_default();
            state == "0A" && (local == wanted || local == any)
        })
    })
}

fn udp_port_bound(addr: SocketAddr) -> bool {
    let SocketAddr::V4(v4) = addr else {
        return false;
    };
    // /proc/net/udp writes the address as the hex of its bytes in host (little-endian) order, then the port.
    let wanted = format!("{:08X}:{:04X}", u32::from_le_bytes(v4.ip().octets()), v4.port());
    let any = format!("00000000:{:04X}", v4.port());
    std::fs::read_to_string("/proc/net/udp").is_ok_and(|table| {
        table
            .lines()
            .skip(1)
            .filter_map(|line| line.split_whitespace().nth(1))
            .any(|local| local == wanted || local == any)
    })
}

fn read(path: &Path) -> String {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// SIGTERM (`SIPp` flushes its trace files and exits), then SIGKILL if it lingers.
fn terminate(child: &mut Child) -> ExitStatus {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return status;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    child.wait().expect("wait sipp")
}

/// One message in a `SIPp` `-trace_msg` file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Traced {
    /// Received (`true`) or sent by this `SIPp`.
    pub received: bool,
    /// The whole SIP message as `SIPp` logged it.
    pub text: String,
}

impl Traced {
    /// The start line (`INVITE sip:… SIP/2.0`, `SIP/2.0 200 OK`).
    pub fn start_line(&self) -> &str {
        self.text.lines().next().unwrap_or("")
    }

    /// The request method, or `None` for a response.
    pub fn method(&self) -> Option<&str> {
        let first = self.start_line();
        (!first.starts_with("SIP/2.0")).then(|| first.split(' ').next().unwrap_or(""))
    }

    /// The response status code, or `None` for a request.
    pub fn status(&self) -> Option<u16> {
        self.start_line()
            .strip_prefix("SIP/2.0 ")
            .and_then(|r| r.get(..3))
            .and_then(|c| c.parse().ok())
    }

    /// The values of header `name` (case-insensitive; compact forms are not expanded).
    pub fn headers(&self, name: &str) -> Vec<String> {
        let mut out = Vec::new();
        for line in self.text.lines().skip(1) {
            if line.trim().is_empty() {
                break;
            }
            if let Some((n, v)) = line.split_once(':')
                && n.trim().eq_ignore_ascii_case(name)
            {
                out.push(v.trim().to_owned());
            }
        }
        out
    }

    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers(name).into_iter().next()
    }

    /// The `CSeq` method (`INVITE` for a response to an INVITE).
    pub fn cseq_method(&self) -> Option<String> {
        self.header("CSeq")
            .and_then(|c| c.split_whitespace().nth(1).map(str::to_owned))
    }

    /// The body (after the first empty line).
    pub fn body(&self) -> &str {
        self.text
            .split_once("\r\n\r\n")
            .or_else(|| self.text.split_once("\n\n"))
            .map_or("", |(_, b)| b)
    }
}

/// Parses a `SIPp` `-trace_msg` file.
pub fn parse_trace(text: &str) -> Vec<Traced> {
    let mut out = Vec::new();
    for block in text.split("-----------------------------------------------") {
        let mut lines = block.splitn(3, '\n');
        let _timestamp = lines.next();
        let Some(kind) = lines.next() else { continue };
        let received = if kind.contains("message received") {
            true
        } else if kind.contains("message sent") {
            false
        } else {
            continue;
        };
        let msg = lines.next().unwrap_or("").trim_matches(['\r', '\n', ' ']);
        out.push(Traced {
            received,
            text: msg.to_owned(),
        });
    }
    out
}

/// The final statistics of a `SIPp` run (`-trace_stat`, last row).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stats {
    /// `TotalCallCreated`.
    pub created: u64,
    /// `SuccessfulCall(C)`.
    pub successful: u64,
    /// `FailedCall(C)`.
    pub failed: u64,
    /// `CurrentCall`.
    pub current: u64,
}

/// What one `SIPp` run did.
#[derive(Debug)]
pub struct SippRun {
    /// Its label (file name prefix).
    pub label: String,
    /// A failed run: the switch's non-zero `pn_sip_*` series when `SIPp` ended (empty otherwise).
    pub switch_metrics: String,
    /// UAC or UAS.
    pub role: Role,
    /// Its exit status (0: every call succeeded; 1: some failed; 97/99: stopped/no calls; 255: fatal).
    pub status: ExitStatus,
    /// Whether it had to be stopped (SIGTERM) rather than exiting by itself.
    pub stopped: bool,
    /// Its standard error.
    pub stderr: String,
    /// Its `-trace_msg` file.
    pub trace: String,
    /// Its `-trace_stat` file.
    pub stat_csv: String,
    /// Its last screen (`-trace_screen`).
    pub screen: String,
    /// Its error log (`-trace_err`: unexpected messages, aborted calls).
    pub errors: String,
}

impl SippRun {
    /// Every message it sent and received, in order.
    pub fn messages(&self) -> Vec<Traced> {
        parse_trace(&self.trace)
    }

    /// The messages it received.
    pub fn received(&self) -> Vec<Traced> {
        self.messages().into_iter().filter(|m| m.received).collect()
    }

    /// The requests with `method` it received.
    pub fn received_requests(&self, method: &str) -> Vec<Traced> {
        self.received()
            .into_iter()
            .filter(|m| m.method() == Some(method))
            .collect()
    }

    /// The first received request with `method`; panics with the trace when there is none.
    pub fn first_request(&self, method: &str) -> Traced {
        self.received_requests(method)
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("{} received no {method}\n{}", self.label, self.diagnostics()))
    }

    /// The status codes of the responses it received, in order.
    pub fn received_statuses(&self) -> Vec<u16> {
        self.received().iter().filter_map(Traced::status).collect()
    }

    /// The final (≥ 200) response it received to its INVITE; panics with the trace when there is none.
    pub fn final_invite_response(&self) -> Traced {
        self.received()
            .into_iter()
            .find(|m| m.status().is_some_and(|s| s >= 200) && m.cseq_method().as_deref() == Some("INVITE"))
            .unwrap_or_else(|| {
                panic!(
                    "{} got no final response to INVITE\n{}",
                    self.label,
                    self.diagnostics()
                )
            })
    }

    /// Everything it received, concatenated (for "appears nowhere" checks).
    pub fn received_text(&self) -> String {
        self.received()
            .iter()
            .map(|m| m.text.as_str())
            .collect::<Vec<_>>()
            .join("\n\n")
    }

    /// The last row of its `-trace_stat` file.
    pub fn stats(&self) -> Option<Stats> {
        parse_stats(&self.stat_csv)
    }

    /// Exit status, errors, stats, screen and message trace, for assertion messages.
    pub fn diagnostics(&self) -> String {
        let trace = &self.trace;
        let tail: String = {
            let start = trace.len().saturating_sub(12_000);
            let start = (start..trace.len())
                .find(|&i| trace.is_char_boundary(i))
                .unwrap_or(trace.len());
            trace[start..].to_owned()
        };
        format!(
            "== sipp {} exited {:?}{}\n== stderr\n{}\n== errors\n{}\n== stats {:?}\n== screen\n{}\n== the \
             switch's pn_sip_* series when sipp ended\n{}\n== message trace (tail)\n{tail}",
            self.label,
            self.status.code(),
            if self.stopped {
                " (stopped by the test)"
            } else {
                ""
            },
            self.stderr.trim(),
            self.errors.trim(),
            self.stats(),
            self.screen.trim(),
            self.switch_metrics,
        )
    }

    /// Asserts `SIPp` exited 0: every call of the scenario completed as written.
    pub fn assert_ok(&self) {
        assert!(
            self.status.success() && !self.stopped,
            "sipp {} failed\n{}",
            self.label,
            self.diagnostics()
        );
    }
}

/// Parses a `-trace_stat` CSV (semicolon-separated, one header row), returning its last row's call counts.
pub fn parse_stats(text: &str) -> Option<Stats> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines.next()?.split(';').collect();
    let last: Vec<&str> = lines.next_back()?.split(';').collect();
    let get = |name: &str| -> u64 {
        header
            .iter()
            .position(|h| *h == name)
            .and_then(|i| last.get(i))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    Some(Stats {
        created: get("TotalCallCreated"),
        successful: get("SuccessfulCall(C)"),
        failed: get("FailedCall(C)"),
        current: get("CurrentCall"),
    })
}

/// The national significant digits of a `+86…` number (what a leak check looks for).
pub fn national_digits(e164: &str) -> &str {
    e164.strip_prefix("+86").unwrap_or(e164)
}

/// Asserts `needle` appears nowhere in `haystack`, showing each line where it does.
pub fn assert_absent(haystack: &str, needle: &str, what: &str) {
    let hits: Vec<&str> = haystack.lines().filter(|l| l.contains(needle)).collect();
    assert!(
        hits.is_empty(),
        "{what}: {needle:?} leaked in {} line(s):\n{}",
        hits.len(),
        hits.join("\n")
    );
}

/// The user part of a SIP header value or Request-URI (`"d" <sip:+86…@h;p>;tag=…` → `+86…`).
pub fn user_of(value: &str) -> &str {
    let uri = value.split_once('<').map_or(value, |(_, r)| r);
    let uri = uri
        .trim_start_matches("sip:")
        .trim_start_matches("sips:")
        .trim_start_matches("tel:");
    uri.split(['@', ';', '>']).next().unwrap_or("")
}

/// The Reason header(s) of a message, joined.
pub fn reason(m: &Traced) -> String {
    m.headers("Reason").join(" | ")
}

/// Asserts `run` (a refused caller) got `status` with a Q.850 `Reason` carrying `cause`.
pub fn assert_refused(run: &SippRun, status: u16, cause: &str) {
    let fin = run.final_invite_response();
    assert_eq!(fin.status(), Some(status), "{}", fin.text);
    let why = reason(&fin);
    assert!(why.contains(cause), "Reason lacks {cause}: {why:?}\n{}", fin.text);
    assert!(
        why.to_ascii_lowercase().contains("q.850"),
        "Reason lacks the Q.850 cause: {why:?}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_sipp_message_trace() {
        let text = "----------------------------------------------- 2026-11-23 04:06:21.411443\n\
                    UDP message received [542] bytes :\n\n\
                    INVITE sip:+8617000000001@127.0.0.1:5060 SIP/2.0\n\
                    From: <sip:+8613800000001@127.0.0.1>;tag=1\n\
                    CSeq: 1 INVITE\n\
                    Content-Length: 4\n\nv=0\n\n\
                    ----------------------------------------------- 2026-11-23 04:06:21.411586\n\
                    UDP message sent (247 bytes):\n\n\
                    SIP/2.0 180 Ringing\n\
                    CSeq: 1 INVITE\n\n\n";
        let msgs = parse_trace(text);
        assert_eq!(msgs.len(), 2);
        assert!(msgs[0].received);
        assert_eq!(msgs[0].method(), Some("INVITE"));
        assert_eq!(
            msgs[0].header("from").as_deref(),
            Some("<sip:+8613800000001@127.0.0.1>;tag=1")
        );
        assert_eq!(msgs[0].body(), "v=0");
        assert!(!msgs[1].received);
        assert_eq!(msgs[1].status(), Some(180));
        assert_eq!(msgs[1].cseq_method().as_deref(), Some("INVITE"));
    }

    #[test]
    fn reads_one_metric_series() {
        let text = "# HELP pn_sip_active_calls Calls in progress\n# TYPE pn_sip_active_calls gauge\n\
                    pn_sip_active_calls_total 9\npn_sip_active_calls 2\n\
                    pn_media_events_total{kind=\"open_failed\"} 3\n";
        assert_eq!(metric_value(text, "pn_sip_active_calls"), Some(2.0));
        assert_eq!(
            metric_value(text, "pn_media_events_total{kind=\"open_failed\"}"),
            Some(3.0)
        );
        assert_eq!(metric_value(text, "pn_media_relays"), None);
    }

    #[test]
    fn parses_trace_stat_last_row() {
        let text = "StartTime;TotalCallCreated;CurrentCall;SuccessfulCall(P);SuccessfulCall(C);FailedCall(C);\n\
                    a;1;1;0;0;0;\n\
                    b;5;0;1;4;1;\n";
        assert_eq!(
            parse_stats(text),
            Some(Stats {
                created: 5,
                successful: 4,
                failed: 1,
                current: 0
            })
        );
    }
}
