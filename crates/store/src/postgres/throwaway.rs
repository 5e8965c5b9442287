//! A throwaway `PostgreSQL` server for tests (pn-store's own tests and, with the `throwaway-pg` feature, the
//! e2e tests): the newest `initdb` / `postgres` under `/usr/lib/postgresql/*/bin` (or `PN_PG_BIN`), a
//! cluster initialised in a temp directory, the server on a free `127.0.0.1` port with its unix socket in
//! that directory, and a fresh database per test ([`ThrowawayPg::create_database`]).
//!
//! One server per process ([`server`]). It cannot outlive the process: it is started through
//! `setpriv --pdeathsig KILL` from a thread that never ends, so the kernel kills it when the test process
//! exits or dies (its backends follow their postmaster). The data directory of a previous run is removed by
//! the next one (directories named after a process id that no longer exists).
//!
//! `PostgreSQL` refuses to run as root: under uid 0 the cluster belongs to the `postgres` user (created by
//! the Debian package) and `initdb` / `postgres` run as that user. Missing binaries are an error naming the
//! package to install (`postgresql`): tests fail, they never skip.
//!
//! The server also accepts TLS (`ssl=on`) with a certificate for `127.0.0.1` and `localhost` signed by a CA
//! made for it (`openssl`, two days), whose certificate is [`ThrowawayPg::ca_file`]; plain connections
//! work as before. Without `openssl` the server runs without TLS and `ca_file` says why.

use std::fs;
use std::io;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock, mpsc};
use std::time::{Duration, Instant};

use postgres::{Client, NoTls};

/// Where Debian installs the server binaries, one directory per major version.
const DEBIAN_BIN_ROOT: &str = "/usr/lib/postgresql";

/// Prefix of the per-process temp directory (`pn-pg-<pid>`).
const DIR_PREFIX: &str = "pn-pg-";

/// How long the server may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The running throwaway server.
pub struct ThrowawayPg {
    /// TCP port on 127.0.0.1.
    port: u16,
    /// The temp directory (cluster in `data/`, socket, log).
    dir: PathBuf,
    /// The `postgres` database, for `CREATE DATABASE`.
    admin: Mutex<Client>,
    /// The CA certificate (PEM) of the server's TLS certificate, or why the server has no TLS.
    ca: Result<PathBuf, String>,
}

impl std::fmt::Debug for ThrowawayPg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThrowawayPg")
            .field("port", &self.port)
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// The process's server, started at the first call (an error names what is missing).
pub fn server() -> io::Result<&'static ThrowawayPg> {
    static SERVER: OnceLock<Result<ThrowawayPg, String>> = OnceLock::new();
    SERVER
        .get_or_init(|| start().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| io::Error::other(e.clone()))
}

impl ThrowawayPg {
    /// The server's TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The PEM file of the CA that signed the server's TLS certificate (for `127.0.0.1` and `localhost`);
    /// an error when the certificates could not be made (no `openssl`) and the server runs without TLS.
    pub fn ca_file(&self) -> io::Result<&Path> {
        self.ca.as_deref().map_err(|why| io::Error::other(why.clone()))
    }

    /// The server's temp directory (its log is `postgres.log` there).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The URL of database `db` (user `postgres`, no password: the cluster trusts local connections).
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates a new empty database and returns its URL.
    pub fn create_database(&self) -> io::Result<String> {
        static NEXT: AtomicU32 = AtomicU32::new(1);
        let name = format!(
            "t_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut admin = self
            .admin
            .lock()
            .map_err(|_| io::Error::other("throwaway PostgreSQL admin connection poisoned"))?;
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .map_err(io::Error::other)?;
        Ok(self.url(&name))
    }
}

/// The newest `PostgreSQL` binary directory (`PN_PG_BIN` wins).
fn bin_dir() -> io::Result<PathBuf> {
    let missing = |where_: &str| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "no PostgreSQL server binaries (initdb, postgres) in {where_}: install the Debian package \
                 `postgresql` (only its binaries are used; tests/run-all.sh installs it) or set PN_PG_BIN"
            ),
        )
    };
    if let Some(dir) = std::env::var_os("PN_PG_BIN") {
        let dir = PathBuf::from(dir);
        return if dir.join("initdb").exists() {
            Ok(dir)
        } else {
            Err(missing(&format!("PN_PG_BIN={}", dir.display())))
        };
    }
    let mut found: Vec<(u32, PathBuf)> = fs::read_dir(DEBIAN_BIN_ROOT)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    found.sort();
    found
        .pop()
        .map(|(_, bin)| bin)
        .ok_or_else(|| missing(&format!("{DEBIAN_BIN_ROOT}/*/bin")))
}

/// The `postgres` user's uid and gid (from `/etc/passwd`), for running as root.
fn postgres_user() -> io::Result<(u32, u32)> {
    let passwd = fs::read_to_string("/etc/passwd")?;
    passwd
        .lines()
        .find_map(|line| {
            let mut f = line.split(':');
            (f.next()? == "postgres").then_some(())?;
            let uid = f.nth(1)?.parse().ok()?;
            let gid = f.next()?.parse().ok()?;
            Some((uid, gid))
        })
        .ok_or_else(|| {
            io::Error::other(
                "running as root needs the `postgres` user to own the throwaway cluster: install the Debian \
                 package `postgresql`",
            )
        })
}

/// Whether this process runs as root (the owner of `/proc/self`).
fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Removes the temp directories of earlier test processes that are gone.
fn remove_stale_dirs(tmp: &Path) {
    for entry in fs::read_dir(tmp).into_iter().flatten().flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix(DIR_PREFIX)) else {
            continue;
        };
        if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// A command run through `setpriv`: as the `postgres` user under root, killed when its parent thread ends.
fn setpriv(program: &Path, owner: Option<(u32, u32)>, pdeathsig: bool) -> Command {
    let mut cmd = Command::new("setpriv");
    if pdeathsig {
        cmd.args(["--pdeathsig", "KILL"]);
    }
    if let Some((uid, gid)) = owner {
        cmd.arg(format!("--reuid={uid}"))
            .arg(format!("--regid={gid}"))
            .arg("--clear-groups");
    }
    cmd.arg("--").arg(program);
    cmd
}

/// Makes a CA and a server certificate for `127.0.0.1` / `localhost` in `dir/tls` with `openssl` (P-256 keys,
/// two days), the server's key readable by `owner` only; answers the CA certificate's path and the
/// server's `ssl_*` settings.
fn make_tls(dir: &Path, owner: Option<(u32, u32)>) -> Result<(PathBuf, Vec<String>), String> {
    let tls = dir.join("tls");
    fs::create_dir_all(&tls).map_err(|e| format!("{}: {e}", tls.display()))?;
    let run = |args: &[&str]| -> Result<(), String> {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(&tls)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("openssl (Debian package `openssl`) for the throwaway server's TLS: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    };
    let key = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    run(&[
        &["req", "-x509"][..],
        &key,
        &[
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=pnswitch throwaway CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    ]
    .concat())?;
    run(&[
        &["req"][..],
        &key,
        &[
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    ]
    .concat())?;
    fs::write(
        tls.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
         keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .map_err(|e| e.to_string())?;
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "server.ext",
    ])?;
    let server_key = tls.join("server.key");
    {
        use std::os::unix::fs::PermissionsExt as _;
        fs::set_permissions(&server_key, fs::Permissions::from_mode(0o600)).map_err(|e| e.to_string())?;
    }
    if let Some((uid, gid)) = owner {
        for f in ["server.key", "server.pem"] {
            std::os::unix::fs::chown(tls.join(f), Some(uid), Some(gid)).map_err(|e| e.to_string())?;
        }
    }
    let settings = vec![
        "ssl=on".to_owned(),
        format!("ssl_cert_file={}", tls.join("server.pem").display()),
        format!("ssl_key_file={}", server_key.display()),
    ];
    Ok((tls.join("ca.pem"), settings))
}

/// `initdb` of a cluster in `data` (trust authentication, UTF8, no fsync), run in `dir` as `owner`.
fn initdb(bin: &Path, owner: Option<(u32, u32)>, dir: &Path, data: &Path) -> io::Result<()> {
    let out = setpriv(&bin.join("initdb"), owner, false)
        .current_dir(dir)
        .args([
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
            "-D",
        ])
        .arg(data)
        .output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "initdb failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(())
}

/// Initialises the cluster and starts the server from a thread that never ends (see the module docs).
fn start() -> io::Result<ThrowawayPg> {
    let bin = bin_dir()?;
    let tmp = std::env::temp_dir();
    remove_stale_dirs(&tmp);
    let dir = tmp.join(format!("{DIR_PREFIX}{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir)?;
    let owner = if is_root() {
        let (uid, gid) = postgres_user()?;
        std::os::unix::fs::chown(&dir, Some(uid), Some(gid))?;
        Some((uid, gid))
    } else {
        None
    };
    let data = dir.join("data");
    initdb(&bin, owner, &dir, &data)?;
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let log = fs::File::create(dir.join("postgres.log"))?;
    let (ca, ssl) = match make_tls(&dir, owner) {
        Ok((ca, settings)) => (Ok(ca), settings),
        Err(why) => (Err(why), Vec::new()),
    };
    let mut cmd = setpriv(&bin.join("postgres"), owner, true);
    cmd.current_dir(&dir)
        .arg("-D")
        .arg(&data)
        .args(["-p", &port.to_string(), "-h", "127.0.0.1", "-k"])
        .arg(&dir)
        .args([
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
        ])
        .args(["-c", "max_connections=300", "-c", "shared_buffers=32MB"])
        // What docs/operations.md advises for pnswitch nodes sharing a database.
        .args(["-c", "deadlock_timeout=100ms"])
        .args(ssl.iter().flat_map(|setting| ["-c", setting.as_str()]))
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    // The keeper thread spawns the server and then parks for the rest of the process: the parent-death
    // signal follows the thread that forked, and test threads end.
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("pn-throwaway-pg".into())
        .spawn(move || {
            let spawned = cmd.spawn();
            let failed = spawned.is_err();
            let _ = tx.send(spawned);
            if !failed {
                loop {
                    std::thread::park();
                }
            }
        })?;
    let mut child = rx
        .recv()
        .map_err(|_| io::Error::other("throwaway PostgreSQL keeper thread died"))??;
    let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        match Client::connect(&url, NoTls) {
            Ok(admin) => {
                return Ok(ThrowawayPg {
                    port,
                    dir,
                    admin: Mutex::new(admin),
                    ca,
                });
            }
            Err(e) => {
                if let Some(status) = child.try_wait()? {
                    let log = fs::read_to_string(dir.join("postgres.log")).unwrap_or_default();
                    return Err(io::Error::other(format!("postgres exited ({status}): {log}")));
                }
                if Instant::now() > deadline {
                    return Err(io::Error::other(format!(
                        "postgres did not accept connections on port {port}: {e}"
                    )));
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}
