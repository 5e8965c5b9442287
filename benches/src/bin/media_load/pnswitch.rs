//! pnswitch as the relay under test: started in `[media] mode = "relay"`, N AXB bindings provisioned through
//! the signed API, N calls set up over loopback UDP with a minimal SIP UAC (A) and UAS (B, the egress trunk).

use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, SocketAddrV4, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::media::Endpoints;
use crate::procs::Guard;

const AXB_PATH: &str = "/rest/caas/relationnumber/partners/v1.0";
/// Bindings per privacy number X.
const PAIRS_PER_X: usize = 1000;

/// Call `i`'s A number.
pub fn a_number(i: usize) -> String {
    format!("+86138{i:08}")
}

/// Call `i`'s B number.
pub fn b_number(i: usize) -> String {
    format!("+86139{i:08}")
}

/// Call `i`'s privacy number.
pub fn x_number(i: usize) -> String {
    format!("+86170{:08}", i / PAIRS_PER_X)
}

/// A running pnswitch.
pub struct Pnswitch {
    guard: Guard,
    http: String,
    /// Its SIP UDP address.
    pub sip: SocketAddr,
    token: String,
    /// Where its stderr goes.
    pub log: PathBuf,
    _dir: tempfile::TempDir,
}

/// How to start it.
pub struct Options<'a> {
    /// The binary.
    pub binary: &'a Path,
    /// The egress trunk (our UAS playing every B).
    pub egress: SocketAddr,
    /// `[media] port_min`, `port_max`.
    pub ports: (u16, u16),
    /// `[sip] shards` (0: one per core).
    pub shards: usize,
}

impl Pnswitch {
    /// Starts `pnswitch serve` and waits for its listening lines.
    pub fn start(opts: &Options<'_>) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let config = dir.path().join("pnswitch.toml");
        let (port_min, port_max) = opts.ports;
        // No dead-dialog probes: this harness's own UAs do not answer in-dialog OPTIONS, and a long run must not
        // lose its calls to Timer F.
        std::fs::write(
            &config,
            format!(
                "[store]\nsynchronous_full = false\n\n[sip]\nshards = {}\n\n[sip.b2bua]\negress = [\"{}\"]\n\
                 trusted_peers = [\"127.0.0.1\"]\ndialog_probe_secs = 0\n\n[media]\nmode = \"relay\"\n\
                 port_min = {port_min}\nport_max = {port_max}\ntimeout_secs = 0\n",
                opts.shards, opts.egress
            ),
        )
        .map_err(|e| e.to_string())?;
        let log = dir.path().join("pnswitch.stderr");
        let stderr = std::fs::File::create(&log).map_err(|e| e.to_string())?;
        let mut child = Command::new(opts.binary)
            .args([
                "serve",
                "--http-listen",
                "127.0.0.1:0",
                "--sip-listen",
                "127.0.0.1:0",
                "--config",
            ])
            .arg(&config)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", opts.binary.display()))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let guard = Guard::new(child, "pnswitch");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let (mut http, mut sip) = (None, None);
        let deadline = Instant::now() + Duration::from_secs(30);
        while http.is_none() || sip.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx.recv_timeout(left).map_err(|_| {
                format!(
                    "pnswitch printed no listening lines within 30 s (stderr: {})",
                    log.display()
                )
            })?;
            if let Some(a) = line.strip_prefix("pnswitch: http listening on ") {
                http = Some(format!("http://{}", a.trim()));
            } else if let Some(a) = line.strip_prefix("pnswitch: sip listening on udp ") {
                sip = Some(
                    a.trim()
                        .parse::<SocketAddr>()
                        .map_err(|e| format!("{line}: {e}"))?,
                );
            }
        }
        let data = dir.path().join("data");
        let token = std::fs::read_to_string(data.join("admin.token"))
            .map_err(|e| format!("admin token: {e}"))?
            .trim()
            .to_owned();
        let (http, sip) = (http.ok_or("no http line")?, sip.ok_or("no sip line")?);
        Ok(Self {
            guard,
            http,
            sip,
            token,
            log,
            _dir: dir,
        })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.guard.pid()
    }

    /// Whether it is still running.
    pub fn alive(&mut self) -> bool {
        self.guard.exited().is_none()
    }

    /// Provisions `calls` AXB bindings (`A_i`, `X_i`, `B_i`) through the admin and signed provisioning APIs.
    pub fn provision(&self, calls: usize) -> Result<(), String> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        runtime.block_on(provision(&self.http, &self.token, calls))
    }
}

fn created_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    pn_api::auth::format_created(pn_bindings::UnixTime(i64::try_from(secs).unwrap_or(i64::MAX)))
}

async fn provision(base: &str, token: &str, calls: usize) -> Result<(), String> {
    let client = reqwest::Client::new();
    let app: Value = client
        .post(format!("{base}/admin/v1/apps"))
        .bearer_auth(token)
        .json(&json!({"name": "media-load", "mode": "AXB"}))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let app = app.get("app").unwrap_or(&app).clone();
    let key = app["appKey"].as_str().ok_or("no appKey")?.to_owned();
    let secret = app["appSecret"].as_str().ok_or("no appSecret")?.to_owned();
    let xs: Vec<Value> = (0..calls.div_ceil(PAIRS_PER_X))
        .map(|j| json!({"number": x_number(j * PAIRS_PER_X), "areaCode": "0755"}))
        .collect();
    let imported = client
        .post(format!("{base}/admin/v1/numbers"))
        .bearer_auth(token)
        .json(&json!({"appKey": key, "numbers": xs}))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !imported.status().is_success() {
        return Err(format!(
            "number import failed: {}",
            imported.text().await.unwrap_or_default()
        ));
    }
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for worker in 0..16 {
        let (client, next, key, secret) = (client.clone(), Arc::clone(&next), key.clone(), secret.clone());
        let url = format!("{base}{AXB_PATH}");
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= calls {
                    return Ok::<(), String>(());
                }
                let [_, (_, x_aksk)] =
                    pn_api::auth::aksk_headers(&key, &secret, &format!("ml{worker}n{i}"), &created_now());
                let body = json!({"relationNum": x_number(i), "callerNum": a_number(i),
                                  "calleeNum": b_number(i), "callDirection": 0});
                let resp: Value = client
                    .post(&url)
                    .header(
                        "Authorization",
                        r#"AKSK realm="SDP",profile="UsernameToken",type="Appkey""#,
                    )
                    .header("X-AKSK", x_aksk)
                    .json(&body)
                    .send()
                    .await
                    .map_err(|e| e.to_string())?
                    .json()
                    .await
                    .map_err(|e| e.to_string())?;
                if resp["resultcode"] != "0" {
                    return Err(format!("bind {i} failed: {resp}"));
                }
            }
        }));
    }
    for t in tasks {
        t.await.map_err(|e| e.to_string())??;
    }
    Ok(())
}

/// The SDP of a party at `media` (PCMA + telephone-event).
pub fn sdp(session: usize, media: SocketAddrV4) -> String {
    format!(
        "v=0\r\no=- {session} 1 IN IP4 127.0.0.1\r\ns=media-load\r\nc=IN IP4 {}\r\nt=0 0\r\n\
         m=audio {} RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n\
         a=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n",
        media.ip(),
        media.port()
    )
}

/// The media address (`c=` and the first `m=audio` port) of an SDP body or a whole SIP message.
pub fn sdp_media(text: &str) -> Option<SocketAddrV4> {
    let body = text.split_once("\r\n\r\n").map_or(text, |(_, b)| b);
    let ip = body.lines().find_map(|l| l.strip_prefix("c=IN IP4 "))?.trim();
    let port = body
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))?
        .split(' ')
        .next()?;
    format!("{ip}:{port}").parse().ok()
}

/// The values of header `name` of a SIP message, in order.
fn headers<'a>(msg: &'a str, name: &str) -> Vec<&'a str> {
    let head = msg.split("\r\n\r\n").next().unwrap_or_default();
    head.split("\r\n")
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .filter(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
        .collect()
}

fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    headers(msg, name).first().copied()
}

fn with_body(mut head: String, body: Option<&str>) -> String {
    match body {
        Some(b) => {
            let _ = write!(
                head,
                "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{b}",
                b.len()
            );
        }
        None => head.push_str("Content-Length: 0\r\n\r\n"),
    }
    head
}

/// The next SIP message on `socket` satisfying `want`, within `limit` (others are skipped).
fn recv_until(socket: &UdpSocket, limit: Duration, want: impl Fn(&str) -> bool) -> Option<String> {
    let deadline = Instant::now() + limit;
    let mut buf = vec![0u8; 65_536];
    while Instant::now() < deadline {
        if let Ok((n, _)) = socket.recv_from(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]);
            if want(&text) {
                return Some(text.into_owned());
            }
        }
    }
    None
}

/// The SIP sides of the generator: A's UAC socket and B's UAS socket (the egress trunk).
pub struct Signalling {
    uac: UdpSocket,
    uas: UdpSocket,
}

impl Signalling {
    /// Binds both on 127.0.0.1.
    pub fn bind() -> Result<Self, String> {
        let bind = || -> std::io::Result<UdpSocket> {
            let s = UdpSocket::bind("127.0.0.1:0")?;
            s.set_read_timeout(Some(Duration::from_millis(100)))?;
            Ok(s)
        };
        Ok(Self {
            uac: bind().map_err(|e| e.to_string())?,
            uas: bind().map_err(|e| e.to_string())?,
        })
    }

    /// The UAS address (pnswitch's egress trunk).
    pub fn uas_addr(&self) -> Result<SocketAddr, String> {
        self.uas.local_addr().map_err(|e| e.to_string())
    }

    /// Sets up call `i` through the switch at `sw`; returns (where A sends, where B sends).
    pub fn call(
        &self,
        sw: SocketAddr,
        i: usize,
        ends: &Endpoints,
    ) -> Result<(SocketAddrV4, SocketAddrV4), String> {
        let me = self.uac.local_addr().map_err(|e| e.to_string())?;
        let uas = self.uas.local_addr().map_err(|e| e.to_string())?;
        let (a, x, b) = (a_number(i), x_number(i), b_number(i));
        let call_id = format!("media-load-{i}@127.0.0.1");
        let invite = with_body(
            format!(
                "INVITE sip:{x}@{sw};user=phone SIP/2.0\r\nVia: SIP/2.0/UDP {me};rport;branch=z9hG4bK-ml{i}-inv\r\n\
                 Max-Forwards: 70\r\nFrom: <sip:{a}@{me};user=phone>;tag=a{i}\r\nTo: <sip:{x}@{sw};user=phone>\r\n\
                 Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:{a}@{me}>\r\n"
            ),
            Some(&sdp(i, ends.addr(ends.a_index(i)))),
        );
        self.uac
            .send_to(invite.as_bytes(), sw)
            .map_err(|e| e.to_string())?;
        // B's side: the B-leg INVITE (R-URI user = B, in whatever prefix form), answered 200 with B's SDP.
        let b_national = &b[3..];
        let b_invite = recv_until(&self.uas, Duration::from_secs(5), |m| {
            m.starts_with("INVITE ") && m.lines().next().is_some_and(|l| l.contains(b_national))
        })
        .ok_or_else(|| format!("call {i}: no B-leg INVITE within 5 s"))?;
        let b_to = sdp_media(&b_invite).ok_or_else(|| format!("call {i}: no SDP in the B-leg INVITE"))?;
        let mut ok = String::from("SIP/2.0 200 OK\r\n");
        for via in headers(&b_invite, "Via") {
            let _ = write!(ok, "Via: {via}\r\n");
        }
        let field = |name: &str| header(&b_invite, name).ok_or_else(|| format!("call {i}: no {name}"));
        let _ = write!(
            ok,
            "From: {}\r\nTo: {};tag=b{i}\r\nCall-ID: {}\r\nCSeq: {}\r\nContact: <sip:{b}@{uas}>\r\n",
            field("From")?,
            field("To")?,
            field("Call-ID")?,
            field("CSeq")?
        );
        let ok = with_body(ok, Some(&sdp(i, ends.addr(ends.b_index(i)))));
        self.uas.send_to(ok.as_bytes(), sw).map_err(|e| e.to_string())?;
        // A's side: the 200 relayed, then the ACK.
        let a_ok = recv_until(&self.uac, Duration::from_secs(5), |m| {
            m.starts_with("SIP/2.0 ")
                && header(m, "Call-ID") == Some(call_id.as_str())
                && !m.starts_with("SIP/2.0 1")
        })
        .ok_or_else(|| format!("call {i}: no final response for A within 5 s"))?;
        if !a_ok.starts_with("SIP/2.0 200") {
            return Err(format!("call {i}: {}", a_ok.lines().next().unwrap_or_default()));
        }
        let a_to = sdp_media(&a_ok).ok_or_else(|| format!("call {i}: no SDP in the 200 for A"))?;
        let to = header(&a_ok, "To").ok_or_else(|| format!("call {i}: no To in the 200"))?;
        let ack = with_body(
            format!(
                "ACK sip:{x}@{sw};user=phone SIP/2.0\r\nVia: SIP/2.0/UDP {me};rport;branch=z9hG4bK-ml{i}-ack\r\n\
                 Max-Forwards: 70\r\nFrom: <sip:{a}@{me};user=phone>;tag=a{i}\r\nTo: {to}\r\n\
                 Call-ID: {call_id}\r\nCSeq: 1 ACK\r\n"
            ),
            None,
        );
        self.uac.send_to(ack.as_bytes(), sw).map_err(|e| e.to_string())?;
        Ok((a_to, b_to))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sdp_media_reads_c_and_m() {
        let s = sdp(3, "127.0.0.1:20002".parse().unwrap());
        assert_eq!(sdp_media(&s), Some("127.0.0.1:20002".parse().unwrap()));
        let msg = format!("SIP/2.0 200 OK\r\nTo: <sip:x@y>;tag=1\r\nVia: a\r\nVia: b\r\n\r\n{s}");
        assert_eq!(sdp_media(&msg), Some("127.0.0.1:20002".parse().unwrap()));
        assert_eq!(headers(&msg, "via"), ["a", "b"]);
        assert_eq!(header(&msg, "To"), Some("<sip:x@y>;tag=1"));
    }

    #[test]
    fn numbers_share_x_per_thousand() {
        assert_eq!(x_number(0), x_number(999));
        assert_ne!(x_number(999), x_number(1000));
        assert_eq!(a_number(7), "+8613800000007");
    }
}
