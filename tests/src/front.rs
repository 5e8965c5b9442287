//! Kamailio as the front of several pnswitch nodes (`deploy/kamailio/pnswitch-front.cfg`), for the e2e tests:
//! started on a free loopback port with a dispatcher list naming the nodes, stopped (its whole process group)
//! when dropped. Kamailio comes from Debian's `kamailio` package (the test command installs it); a test that
//! needs it fails, never skips, when it is missing.

use std::fmt::Write as _;
use std::net::{SocketAddr, UdpSocket};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::sipp::free_udp_port;

/// The shipped front configuration.
pub fn front_config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/kamailio/pnswitch-front.cfg")
}

/// The `kamailio` binary (from `PATH`); panics naming the Debian package when it is missing.
fn kamailio_bin() -> PathBuf {
    for dir in std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .chain(["/usr/sbin", "/sbin"])
    {
        let p = Path::new(dir).join("kamailio");
        if p.is_file() {
            return p;
        }
    }
    panic!(
        "kamailio is not installed: the front tests need Debian's `kamailio` package (tests/run-all.sh installs it)"
    )
}

/// A running Kamailio front.
pub struct Front {
    child: Child,
    /// Where callers send their INVITEs.
    pub addr: SocketAddr,
    /// Its stderr log.
    pub log: PathBuf,
}

impl Front {
    /// Starts the front on 127.0.0.1 with `nodes` (their SIP addresses) in dispatcher set 1, probing each
    /// every `probe_secs`; `dir` holds its list file, runtime directory and log. Waits until it answers an
    /// OPTIONS.
    pub fn start(dir: &Path, nodes: &[SocketAddr], probe_secs: u32) -> Front {
        let list = dir.join("pnswitch-nodes.list");
        let lines = nodes.iter().fold(String::new(), |mut text, n| {
            let _ = writeln!(text, "1 sip:{n}");
            text
        });
        std::fs::write(&list, lines).expect("write the dispatcher list");
        let run = dir.join("kamailio-run");
        std::fs::create_dir_all(&run).expect("kamailio runtime dir");
        let port = free_udp_port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let log = dir.join("kamailio.log");
        let child = Command::new(kamailio_bin())
            .arg("-f")
            .arg(front_config())
            .args(["-DD", "-E", "-m", "64", "-M", "8", "-l"])
            .arg(format!("udp:{addr}"))
            .arg("-Y")
            .arg(&run)
            .arg("-A")
            .arg(format!("DS_LIST=\"{}\"", list.display()))
            .arg("-A")
            .arg(format!("PROBE_SECS={probe_secs}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("kamailio log"))
            // Its own process group: dropping the front stops its children too.
            .process_group(0)
            .spawn()
            .expect("spawn kamailio");
        let mut front = Front { child, addr, log };
        front.wait_ready();
        front
    }

    /// Kamailio's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Polls with OPTIONS until the front answers (10 s at most).
    fn wait_ready(&mut self) {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind probe socket");
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        let local = socket.local_addr().expect("local addr");
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut n = 0;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("try_wait kamailio") {
                panic!("kamailio exited ({status}):\n{}", self.log_text());
            }
            n += 1;
            let options = format!(
                "OPTIONS sip:{a} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-ready{n}\r\n\
                 From: <sip:test@{local}>;tag=r{n}\r\nTo: <sip:{a}>\r\nCall-ID: ready-{n}@{local}\r\n\
                 CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
                a = self.addr
            );
            let _ = socket.send_to(options.as_bytes(), self.addr);
            let mut buf = [0u8; 4096];
            if let Ok((len, _)) = socket.recv_from(&mut buf)
                && buf[..len].starts_with(b"SIP/2.0 200")
            {
                return;
            }
        }
        panic!(
            "kamailio never answered an OPTIONS on {}:\n{}",
            self.addr,
            self.log_text()
        );
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        let pgid = self.child.id();
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{pgid}")])
            .status();
        let _ = self.child.wait();
    }
}

/// Calls a node answered (`pn_sip_calls_total{outcome="answered"}`, every cause).
pub fn answered(node: &crate::sipp::SipSwitch) -> u64 {
    node.metrics()
        .lines()
        .filter(|l| l.starts_with("pn_sip_calls_total{") && l.contains("outcome=\"answered\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// The last 40 lines of `text` (a log, for failure messages).
pub fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// Polls `cond` every 50 ms for up to `limit`; whether it held.
pub fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    cond()
}
