//! rtpengine as the comparison relay: Debian's `rtpengine-daemon`, userspace forwarding only (`--table=-1`),
//! on loopback, driven through its NG control protocol (bencode over UDP: `offer`, then `answer`).

use std::net::{SocketAddr, SocketAddrV4, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::bencode::Value;
use crate::media::Endpoints;
use crate::pnswitch::{sdp, sdp_media};
use crate::procs::Guard;

/// A running rtpengine.
pub struct Rtpengine {
    guard: Guard,
    ng: SocketAddr,
    control: UdpSocket,
    cookie: u64,
    /// Where its log goes.
    pub log: PathBuf,
    _dir: tempfile::TempDir,
}

/// Finds `name` on `PATH` (or takes it as a path).
pub fn locate(name: &str) -> Option<PathBuf> {
    let p = Path::new(name);
    if name.contains('/') {
        return p.is_file().then(|| p.to_owned());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|d| d.join(name))
        .find(|c| c.is_file())
}

impl Rtpengine {
    /// Starts `binary` in the foreground with media ports `ports` and waits until it answers a `ping`.
    pub fn start(binary: &Path, ports: (u16, u16), threads: usize) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let probe = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        let ng = probe.local_addr().map_err(|e| e.to_string())?;
        drop(probe);
        let log = dir.path().join("rtpengine.log");
        let stderr = std::fs::File::create(&log).map_err(|e| e.to_string())?;
        let mut cmd = Command::new(binary);
        cmd.arg("--config-file=none")
            .arg("--interface=127.0.0.1")
            .arg(format!("--listen-ng={ng}"))
            .arg(format!("--port-min={}", ports.0))
            .arg(format!("--port-max={}", ports.1))
            .arg("--table=-1")
            .arg("--foreground")
            .arg("--log-stderr")
            .arg("--log-level=4")
            .arg("--timeout=600")
            .arg(format!(
                "--pidfile={}",
                dir.path().join("rtpengine.pid").display()
            ));
        if threads > 0 {
            cmd.arg(format!("--num-threads={threads}"));
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let guard = Guard::new(child, "rtpengine");
        let control = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        control
            .set_read_timeout(Some(Duration::from_millis(200)))
            .map_err(|e| e.to_string())?;
        let mut engine = Self {
            guard,
            ng,
            control,
            cookie: 0,
            log,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if engine.guard.exited().is_some() {
                return Err(format!("rtpengine exited at start: see {}", engine.log.display()));
            }
            if let Ok(r) = engine.command(
                &Value::dict([("command", Value::str("ping"))]),
                Duration::from_millis(300),
            ) && r.get("result").and_then(Value::text).as_deref() == Some("pong")
            {
                return Ok(engine);
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "rtpengine did not answer ping on {ng} within 15 s: see {}",
                    engine.log.display()
                ));
            }
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.guard.pid()
    }

    /// Whether it is still running.
    pub fn alive(&mut self) -> bool {
        self.guard.exited().is_none()
    }

    /// One NG request/response (`cookie dict`), within `limit`.
    fn command(&mut self, dict: &Value, limit: Duration) -> Result<Value, String> {
        self.cookie += 1;
        let cookie = format!("ml{}", self.cookie);
        let mut msg = format!("{cookie} ").into_bytes();
        dict.encode(&mut msg);
        self.control.send_to(&msg, self.ng).map_err(|e| e.to_string())?;
        let deadline = Instant::now() + limit;
        let mut buf = vec![0u8; 65_536];
        while Instant::now() < deadline {
            let Ok((n, _)) = self.control.recv_from(&mut buf) else {
                continue;
            };
            let reply = &buf[..n];
            let Some(space) = reply.iter().position(|&c| c == b' ') else {
                continue;
            };
            if reply[..space] != *cookie.as_bytes() {
                continue; // a late answer to an earlier request
            }
            let (value, _) = Value::decode(&reply[space + 1..])?;
            return Ok(value);
        }
        Err(format!("no NG answer to {cookie} within {limit:?}"))
    }

    /// Sets up call `i` (offer with A's SDP, answer with B's); returns (where A sends, where B sends).
    pub fn call(&mut self, i: usize, ends: &Endpoints) -> Result<(SocketAddrV4, SocketAddrV4), String> {
        let call_id = format!("media-load-{i}");
        let offer = Value::dict([
            ("command", Value::str("offer")),
            ("call-id", Value::str(&call_id)),
            ("from-tag", Value::str(&format!("a{i}"))),
            ("sdp", Value::str(&sdp(i, ends.addr(ends.a_index(i))))),
            ("flags", Value::List(vec![Value::str("trust-address")])),
        ]);
        let r = self.command(&offer, Duration::from_secs(5))?;
        let b_to = answer_sdp(&r).ok_or_else(|| format!("call {i}: offer failed: {r:?}"))?;
        let answer = Value::dict([
            ("command", Value::str("answer")),
            ("call-id", Value::str(&call_id)),
            ("from-tag", Value::str(&format!("a{i}"))),
            ("to-tag", Value::str(&format!("b{i}"))),
            ("sdp", Value::str(&sdp(i, ends.addr(ends.b_index(i))))),
            ("flags", Value::List(vec![Value::str("trust-address")])),
        ]);
        let r = self.command(&answer, Duration::from_secs(5))?;
        let a_to = answer_sdp(&r).ok_or_else(|| format!("call {i}: answer failed: {r:?}"))?;
        Ok((a_to, b_to))
    }
}

/// The media address of the SDP in an `ok` NG response.
fn answer_sdp(r: &Value) -> Option<SocketAddrV4> {
    if r.get("result").and_then(Value::text).as_deref() != Some("ok") {
        return None;
    }
    sdp_media(&r.get("sdp")?.text()?)
}
