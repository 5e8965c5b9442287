//! Call recordings on disk and their signed download URLs (reference §5).
//!
//! The SIP runtime writes a finished recording to [`RecordingStore::path_for`]
//! (`data_dir/recordings/<app id>/<object>`) and puts the object name and [`RecordingStore::record_domain`]
//! into the CDR. `GET /rest/provision/voice/record/v1.0` answers 301 to a URL signed with HMAC-SHA256 under a
//! key kept in `data_dir/record-url.key`; the signature is the only credential of that URL, valid for
//! `record_url_ttl_secs`. Recordings older than the retention (file mtime) are treated as gone at once and
//! deleted by [`RecordingStore::purge`], which [`spawn_purger`] runs every hour.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use hmac::{Hmac, Mac};
use pn_bindings::{AppId, UnixTime};
use rand::Rng;
use sha2::Sha256;

use super::fsutil::{ensure_dir, io_err, write_durable};
use crate::ProvisionError;

/// Longest recording object name, `.wav` included (the reference's `fileName` is String(1-128)).
const MAX_OBJECT: usize = 128;
/// Length of the URL-signing key.
const KEY_LEN: usize = 32;
/// The path under which signed recording URLs are served (followed by `/{app id}/{object}`).
pub const FILE_PATH: &str = "/rest/provision/voice/record/v1.0/file";

/// Whether `object` is an acceptable recording object name: `[A-Za-z0-9_.-]+.wav`, at most 128 characters.
pub fn recording_name_ok(object: &str) -> bool {
    object.len() <= MAX_OBJECT
        && object.strip_suffix(".wav").is_some_and(|stem| {
            !stem.is_empty()
                && stem
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
        })
}

/// Recordings and their signed URLs (see the [module docs](self)). `Send + Sync`.
pub struct RecordingStore {
    dir: PathBuf,
    key: [u8; KEY_LEN],
    public_base: String,
    domain: String,
    retention: Duration,
    url_ttl: Duration,
    /// The cluster node that holds the recordings written here (named in, and signed with, their URLs).
    node: Option<String>,
}

impl std::fmt::Debug for RecordingStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordingStore")
            .field("dir", &self.dir)
            .field("public_base", &self.public_base)
            .field("retention", &self.retention)
            .field("url_ttl", &self.url_ttl)
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

/// Reads the signing key, creating 32 random bytes (mode 0600, written durably) on first use.
fn load_key(key_file: &Path) -> Result<[u8; KEY_LEN], ProvisionError> {
    match std::fs::read(key_file) {
        Ok(bytes) => <[u8; KEY_LEN]>::try_from(bytes.as_slice()).map_err(|_| {
            ProvisionError::InvalidFile(format!(
                "{} must hold exactly {KEY_LEN} bytes (delete it to generate a new key)",
                key_file.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key: [u8; KEY_LEN] = rand::rng().random();
            let dir = key_file
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or_else(|| Path::new("."));
            let name = key_file.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
                ProvisionError::InvalidFile(format!("bad key file name {}", key_file.display()))
            })?;
            ensure_dir(dir)?;
            write_durable(dir, name, &key, 0o600)?;
            Ok(key)
        }
        Err(e) => Err(io_err(key_file, e)),
    }
}

/// `host[:port]` of an `http://` or `https://` base URL.
fn domain_of(public_base: &str) -> Option<&str> {
    let rest = public_base
        .strip_prefix("http://")
        .or_else(|| public_base.strip_prefix("https://"))?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    Some(&rest[..end]).filter(|d| !d.is_empty())
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    text.as_bytes()
        .chunks(2)
        .map(|p| Some(digit(p[0])? << 4 | digit(p[1])?))
        .collect()
}

impl RecordingStore {
    /// Opens the store.
    ///
    /// `dir`: `data_dir/recordings` (created if missing); `key_file`: `data_dir/record-url.key` (32 random
    /// bytes, created once with mode 0600 and reused across restarts); `public_base`: how clients reach this
    /// server, e.g. `http://127.0.0.1:8080` (http or https, no trailing path needed); `retention`: how long a
    /// recording is kept (file mtime); `url_ttl`: how long a download URL stays valid.
    pub fn open(
        dir: PathBuf,
        key_file: &Path,
        public_base: String,
        retention: Duration,
        url_ttl: Duration,
    ) -> Result<Self, ProvisionError> {
        let public_base = if public_base.ends_with('/') {
            public_base.trim_end_matches('/').to_owned()
        } else {
            public_base
        };
        let domain = domain_of(&public_base)
            .ok_or_else(|| {
                ProvisionError::InvalidFile(format!(
                    "public_url {public_base:?} must be an http:// or https:// URL with a host"
                ))
            })?
            .to_owned();
        ensure_dir(&dir)?;
        Ok(Self {
            dir,
            key: load_key(key_file)?,
            public_base,
            domain,
            retention,
            url_ttl,
            node: None,
        })
    }

    /// Names this node (`[cluster] node`, `[A-Za-z0-9_.-]`) in the download URLs it signs, so any node of
    /// the cluster sharing the signing key can find the holder of a recording (`&node=…`, covered by the
    /// signature). Without it (one node) URLs carry no node.
    #[must_use]
    pub fn with_node(mut self, node: Option<String>) -> Self {
        self.node = node.filter(|n| !n.is_empty());
        self
    }

    /// The node named in the URLs this store signs (see [`RecordingStore::with_node`]).
    pub fn node(&self) -> Option<&str> {
        self.node.as_deref()
    }

    /// Where the runtime writes the finished recording `object` of `app` (creates
    /// `data_dir/recordings/<app id>/`). Object names are `[A-Za-z0-9_.-]+.wav`, at most 128 characters;
    /// others are refused with [`ProvisionError::InvalidFile`].
    pub fn path_for(&self, app: AppId, object: &str) -> Result<PathBuf, ProvisionError> {
        if !recording_name_ok(object) {
            return Err(ProvisionError::InvalidFile(format!(
                "recording name must be A-Z a-z 0-9 _ . - followed by .wav, at most {MAX_OBJECT} characters"
            )));
        }
        let dir = self.dir.join(app.0.to_string());
        ensure_dir(&dir)?;
        Ok(dir.join(object))
    }

    /// The CDR's `recordDomain`: `host[:port]` of the public base URL.
    pub fn record_domain(&self) -> &str {
        &self.domain
    }

    /// How long a recording is kept.
    pub fn retention(&self) -> Duration {
        self.retention
    }

    /// The MAC over `"{app}/{object}/{expires}"`, and `"/{node}"` after it when a holder node is named.
    /// HMAC accepts keys of any length, so this is always `Some`; were the library ever to refuse the key,
    /// URLs would carry an empty signature that never verifies.
    fn signature(&self, app: AppId, object: &str, expires: i64, node: Option<&str>) -> Option<Hmac<Sha256>> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).ok()?;
        mac.update(format!("{}/{object}/{expires}", app.0).as_bytes());
        if let Some(node) = node {
            mac.update(format!("/{node}").as_bytes());
        }
        Some(mac)
    }

    /// A signed download URL valid `url_ttl` from `now`:
    /// `{public_base}/rest/provision/voice/record/v1.0/file/{app id}/{object}?expires=<unix>&signature=<hex
    /// HMAC-SHA256(key, "{app}/{object}/{expires}")>`; with a node name (a cluster),
    /// `?expires=<unix>&node=<node>&signature=<hex HMAC-SHA256(key, "{app}/{object}/{expires}/{node}")>`.
    pub fn download_url(&self, app: AppId, object: &str, now: UnixTime) -> String {
        let path = self.signed_path(app, object, now, self.node.as_deref());
        format!("{}{path}", self.public_base)
    }

    /// The path and query of a download URL of `object` of `app` naming `holder` as the node that holds
    /// it (`None`: no node named), signed and expiring like [`RecordingStore::download_url`]'s:
    /// `{FILE_PATH}/{app}/{object}?expires=…[&node=…]&signature=…`. A node that found the recording on
    /// another node signs this for that node, and asks that node with it whether it holds the file.
    pub fn signed_path(&self, app: AppId, object: &str, now: UnixTime, holder: Option<&str>) -> String {
        let expires = now
            .plus_secs(i64::try_from(self.url_ttl.as_secs()).unwrap_or(i64::MAX))
            .0;
        let sig = self
            .signature(app, object, expires, holder)
            .map(|mac| hex(&mac.finalize().into_bytes()))
            .unwrap_or_default();
        let node = holder.map(|n| format!("&node={n}")).unwrap_or_default();
        format!(
            "{FILE_PATH}/{}/{object}?expires={expires}{node}&signature={sig}",
            app.0
        )
    }

    /// The public base URL of the download URLs (`api.public_url` or the bound address), no trailing `/`.
    pub fn public_base(&self) -> &str {
        &self.public_base
    }

    /// Whether `signature` (hex) signs (`app`, `object`, `expires`, and the holder `node` when the URL names
    /// one) and `now` is before `expires`. The signature is compared in constant time.
    pub fn verify(
        &self,
        app: AppId,
        object: &str,
        expires: i64,
        node: Option<&str>,
        signature: &str,
        now: UnixTime,
    ) -> bool {
        if now.0 >= expires {
            return false;
        }
        match (unhex(signature), self.signature(app, object, expires, node)) {
            (Some(sig), Some(mac)) => mac.verify_slice(&sig).is_ok(),
            _ => false,
        }
    }

    /// The file of recording `object` of `app`, if it exists and is younger than the retention at `now`.
    pub fn find(&self, app: AppId, object: &str, now: SystemTime) -> Option<PathBuf> {
        if !recording_name_ok(object) {
            return None;
        }
        let path = self.dir.join(app.0.to_string()).join(object);
        let meta = std::fs::metadata(&path).ok().filter(std::fs::Metadata::is_file)?;
        (!self.is_stale(&meta, now)).then_some(path)
    }

    /// Restarts the retention of recording `object` of `app` at `now` (the reference counts a recording's
    /// 7 days from its CDR's push, §5): sets the file's mtime, the time the retention counts from. Returns
    /// whether a live recording was found and touched.
    pub fn restart_retention(&self, app: AppId, object: &str, now: SystemTime) -> bool {
        let Some(path) = self.find(app, object, now) else {
            return false;
        };
        std::fs::File::options()
            .write(true)
            .open(&path)
            .and_then(|file| file.set_modified(now))
            .is_ok()
    }

    fn is_stale(&self, meta: &std::fs::Metadata, now: SystemTime) -> bool {
        meta.modified()
            .ok()
            .and_then(|m| m.checked_add(self.retention))
            .is_some_and(|until| until <= now)
    }

    /// Deletes recordings whose file is older than the retention at `now` (mtime); returns how many.
    pub fn purge(&self, now: SystemTime) -> usize {
        let Ok(apps) = std::fs::read_dir(&self.dir) else {
            return 0;
        };
        let mut removed = 0;
        for app in apps.flatten() {
            let Ok(files) = std::fs::read_dir(app.path()) else {
                continue;
            };
            for file in files.flatten() {
                let stale = file
                    .metadata()
                    .is_ok_and(|m| m.is_file() && self.is_stale(&m, now));
                if stale {
                    match std::fs::remove_file(file.path()) {
                        Ok(()) => removed += 1,
                        Err(e) => {
                            tracing::warn!(path = %file.path().display(), error = %e, "recording purge");
                        }
                    }
                }
            }
        }
        removed
    }
}

/// Runs [`RecordingStore::purge`] now and then every `every`, on the tokio runtime (blocking work off the
/// async threads).
pub fn spawn_purger(store: Arc<RecordingStore>, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(every.max(Duration::from_secs(1)));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let s = store.clone();
            match tokio::task::spawn_blocking(move || s.purge(SystemTime::now())).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(removed = n, "purged expired recordings"),
                Err(e) => tracing::warn!(error = %e, "recording purge failed"),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(dir: &Path, ttl: u64) -> RecordingStore {
        RecordingStore::open(
            dir.join("recordings"),
            &dir.join("record-url.key"),
            "http://example.com:8080/".into(),
            Duration::from_secs(7 * 86_400),
            Duration::from_secs(ttl),
        )
        .unwrap()
    }

    #[test]
    fn names_domain_and_key() {
        assert!(recording_name_ok("abc-1_2.x.wav"));
        for bad in [
            ".wav",
            "a.mp3",
            "a/b.wav",
            "..",
            "a b.wav",
            &format!("{}.wav", "x".repeat(125)),
        ] {
            assert!(!recording_name_ok(bad), "{bad}");
        }
        assert!(recording_name_ok(&format!("{}.wav", "x".repeat(124))));
        assert_eq!(domain_of("https://h.example/x"), Some("h.example"));
        assert_eq!(domain_of("ftp://h"), None);
        let dir = tempfile::TempDir::new().unwrap();
        let s = store(dir.path(), 60);
        assert_eq!(s.record_domain(), "example.com:8080");
        let key = std::fs::read(dir.path().join("record-url.key")).unwrap();
        assert_eq!(key.len(), 32);
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("record-url.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let url = s.download_url(AppId(1), "a.wav", UnixTime(100));
        // The same key after a reopen: the URL still verifies.
        let s2 = store(dir.path(), 60);
        assert_eq!(s2.download_url(AppId(1), "a.wav", UnixTime(100)), url);
        std::fs::write(dir.path().join("record-url.key"), b"short").unwrap();
        assert!(matches!(
            RecordingStore::open(
                dir.path().join("r"),
                &dir.path().join("record-url.key"),
                "http://h".into(),
                Duration::from_secs(1),
                Duration::from_secs(1)
            ),
            Err(ProvisionError::InvalidFile(_))
        ));
    }

    #[test]
    fn signatures() {
        let dir = tempfile::TempDir::new().unwrap();
        let s = store(dir.path(), 60);
        let url = s.download_url(AppId(2), "rec.wav", UnixTime(1000));
        assert!(url.starts_with(
            "http://example.com:8080/rest/provision/voice/record/v1.0/file/2/rec.wav?expires=1060&signature="
        ));
        let sig = url.rsplit('=').next().unwrap();
        assert!(s.verify(AppId(2), "rec.wav", 1060, None, sig, UnixTime(1059)));
        assert!(
            !s.verify(AppId(2), "rec.wav", 1060, None, sig, UnixTime(1060)),
            "expired"
        );
        assert!(
            !s.verify(AppId(3), "rec.wav", 1060, None, sig, UnixTime(1000)),
            "other app"
        );
        assert!(!s.verify(AppId(2), "rec2.wav", 1060, None, sig, UnixTime(1000)));
        assert!(
            !s.verify(AppId(2), "rec.wav", 1061, None, sig, UnixTime(1000)),
            "extended expiry"
        );
        assert!(!s.verify(AppId(2), "rec.wav", 1060, None, "zz", UnixTime(1000)));
        let mut tampered = sig.to_owned();
        tampered.replace_range(0..1, if sig.starts_with('0') { "1" } else { "0" });
        assert!(!s.verify(AppId(2), "rec.wav", 1060, None, &tampered, UnixTime(1000)));
    }

    #[test]
    fn a_cluster_nodes_urls_name_it_under_the_signature() {
        let dir = tempfile::TempDir::new().unwrap();
        let s = store(dir.path(), 60).with_node(Some("n1".into()));
        let url = s.download_url(AppId(2), "rec.wav", UnixTime(1000));
        assert!(
            url.starts_with(
                "http://example.com:8080/rest/provision/voice/record/v1.0/file/2/rec.wav?expires=1060&node=n1&signature="
            ),
            "{url}"
        );
        let sig = url.rsplit('=').next().unwrap();
        assert!(s.verify(AppId(2), "rec.wav", 1060, Some("n1"), sig, UnixTime(1000)));
        assert!(
            !s.verify(AppId(2), "rec.wav", 1060, Some("n2"), sig, UnixTime(1000)),
            "other holder"
        );
        assert!(
            !s.verify(AppId(2), "rec.wav", 1060, None, sig, UnixTime(1000)),
            "holder dropped"
        );
        // Another node with the same key verifies it (the key file is shared across the cluster).
        let other = store(dir.path(), 60).with_node(Some("n2".into()));
        assert!(other.verify(AppId(2), "rec.wav", 1060, Some("n1"), sig, UnixTime(1000)));
    }

    #[test]
    fn find_and_purge_follow_the_retention() {
        let dir = tempfile::TempDir::new().unwrap();
        let s = store(dir.path(), 60);
        let path = s.path_for(AppId(1), "a.wav").unwrap();
        assert!(s.path_for(AppId(1), "../a.wav").is_err());
        std::fs::write(&path, b"RIFF").unwrap();
        let now = SystemTime::now();
        assert_eq!(s.find(AppId(1), "a.wav", now), Some(path.clone()));
        assert_eq!(s.find(AppId(2), "a.wav", now), None);
        let later = now + Duration::from_secs(8 * 86_400);
        assert_eq!(s.find(AppId(1), "a.wav", later), None);
        assert_eq!(s.purge(now), 0);
        assert_eq!(s.purge(later), 1);
        assert!(!path.exists());
    }

    #[test]
    fn the_retention_restarts_when_the_cdr_is_pushed() {
        let dir = tempfile::TempDir::new().unwrap();
        let s = store(dir.path(), 60);
        let path = s.path_for(AppId(1), "b.wav").unwrap();
        std::fs::write(&path, b"RIFF").unwrap();
        let written = SystemTime::now();
        let pushed = written + Duration::from_secs(5 * 86_400);
        assert!(s.restart_retention(AppId(1), "b.wav", pushed));
        // 8 days after it was written, 3 after the push: still kept.
        let later = written + Duration::from_secs(8 * 86_400);
        assert_eq!(s.purge(later), 0);
        assert_eq!(s.find(AppId(1), "b.wav", later), Some(path.clone()));
        // 7 days after the push: gone.
        assert_eq!(s.purge(pushed + Duration::from_secs(7 * 86_400)), 1);
        assert!(!s.restart_retention(AppId(1), "b.wav", later));
        assert!(!s.restart_retention(AppId(1), "../b.wav", later));
    }
}
