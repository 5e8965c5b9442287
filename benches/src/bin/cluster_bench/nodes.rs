//! The `pnswitch serve` processes: started on one database, killed when the [`Cluster`] is dropped (on
//! every exit path of `main`, error or not) and, should this process die first, by the kernel (each is
//! started through `setpriv --pdeathsig KILL`).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One running node.
#[derive(Debug)]
pub struct Node {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    child: Child,
    _dir: tempfile::TempDir,
}

/// Every node started; dropping it kills and reaps them all.
#[derive(Debug, Default)]
pub struct Cluster {
    /// In start order; node 1 is `nodes[0]`.
    pub nodes: Vec<Node>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            let _ = node.child.kill();
        }
        for node in &mut self.nodes {
            let _ = node.child.wait();
        }
    }
}

/// How long a node may take to print its HTTP address.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(60);

impl Cluster {
    /// Starts `count` nodes of `binary` on the `PostgreSQL` database `url`, all with the admin `token`.
    pub fn start(binary: &str, count: usize, url: &str, token: &str) -> Result<Self, String> {
        let mut cluster = Self::default();
        for index in 0..count {
            // 0700, as `serve` wants a data directory holding secrets and numbers (it warns otherwise).
            let dir = tempfile::Builder::new()
                .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
                .tempdir()
                .map_err(|e| format!("data dir: {e}"))?;
            let mut child = Command::new("setpriv")
                .args(["--pdeathsig", "KILL", "--"])
                .arg(binary)
                .args([
                    "serve",
                    "--http-listen",
                    "127.0.0.1:0",
                    "--sip-listen",
                    "127.0.0.1:0",
                    "--data-dir",
                ])
                .arg(dir.path())
                .env("RUST_LOG", "warn")
                .env("PNSWITCH__STORE__BACKEND", "postgres")
                .env("PNSWITCH__STORE__URL", url)
                .env("PNSWITCH__API__ADMIN_TOKEN", token)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .spawn()
                .map_err(|e| format!("starting {binary} through setpriv: {e}"))?;
            let stdout = child.stdout.take();
            cluster.nodes.push(Node {
                base: String::new(),
                child,
                _dir: dir,
            });
            let stdout = stdout.ok_or("no stdout")?;
            let base = http_address(stdout, index + 1)?;
            if let Some(node) = cluster.nodes.last_mut() {
                node.base = base;
            }
        }
        Ok(cluster)
    }
}

/// Reads the node's stdout until its `pnswitch: http listening on` line (on a thread, so that a silent node
/// times out), then drains the rest on that thread.
fn http_address(stdout: std::process::ChildStdout, number: usize) -> Result<String, String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        let mut sent = false;
        for line in lines.by_ref() {
            let Ok(line) = line else { break };
            if sent {
                continue;
            }
            if let Some(addr) = line.strip_prefix("pnswitch: http listening on ") {
                let _ = tx.send(format!("http://{addr}"));
                sent = true;
            }
        }
    });
    let started = Instant::now();
    rx.recv_timeout(LISTEN_TIMEOUT).map_err(|_| {
        format!(
            "node {number} printed no http address within {:?} (exited or hung; its stderr is above)",
            started.elapsed()
        )
    })
}
