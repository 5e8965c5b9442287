//! The recording writer: one thread that owns every recording file, so the shards never touch the disk.
//! Shards send it the A-law chunks their recorders finalise ([`RecordingSink`]); a file is written as
//! `<name>.wav.part` with a placeholder header, and on close either completed (header with the real length,
//! fsync, rename to `<name>.wav`, fsync of the directory) or deleted (a recording under 3 s keeps no file).
//! With per-party recording on, `<name>_a.wav` and `<name>_b.wav` hold each party alone.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;

use pn_bindings::AppId;
use pn_media::{G711Law, wav};
use pn_provision::RecordingStore;

/// One message to the writer.
enum Msg {
    Open {
        key: u64,
        app: AppId,
        object: String,
        per_party: bool,
    },
    Append {
        key: u64,
        mix: Vec<u8>,
        a: Vec<u8>,
        b: Vec<u8>,
    },
    Close {
        key: u64,
        keep: bool,
    },
}

/// The shards' handle on the writer thread (cheap to clone).
#[derive(Clone)]
pub(crate) struct RecordingSink {
    tx: mpsc::Sender<Msg>,
}

impl RecordingSink {
    /// Starts the writer thread over `store`; it ends once every sink is dropped.
    pub(crate) fn start(store: Arc<RecordingStore>) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("pn-recorder".to_owned())
            .spawn(move || run(&store, &rx))?;
        Ok(Self { tx })
    }

    /// Starts the file(s) of recording `key`.
    pub(crate) fn open(&self, key: u64, app: AppId, object: String, per_party: bool) {
        let _ = self.tx.send(Msg::Open {
            key,
            app,
            object,
            per_party,
        });
    }

    /// Appends finalised audio.
    pub(crate) fn append(&self, key: u64, mix: Vec<u8>, a: Vec<u8>, b: Vec<u8>) {
        if !mix.is_empty() {
            let _ = self.tx.send(Msg::Append { key, mix, a, b });
        }
    }

    /// Completes (`keep`) or discards the recording.
    pub(crate) fn close(&self, key: u64, keep: bool) {
        let _ = self.tx.send(Msg::Close { key, keep });
    }
}

/// One file being written.
struct Part {
    file: File,
    tmp: PathBuf,
    path: PathBuf,
    len: usize,
}

impl Part {
    fn create(path: PathBuf) -> std::io::Result<Self> {
        let mut tmp = path.clone().into_os_string();
        tmp.push(".part");
        let tmp = PathBuf::from(tmp);
        let mut file = File::create(&tmp)?;
        file.write_all(&header(0))?;
        Ok(Self {
            file,
            tmp,
            path,
            len: 0,
        })
    }

    fn append(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.file.write_all(bytes)?;
        self.len += bytes.len();
        Ok(())
    }

    fn complete(mut self) -> std::io::Result<PathBuf> {
        self.file.seek(SeekFrom::Start(0))?;
        self.file.write_all(&header(self.len))?;
        self.file.sync_all()?;
        drop(self.file);
        std::fs::rename(&self.tmp, &self.path)?;
        if let Some(dir) = self.path.parent() {
            File::open(dir)?.sync_all()?;
        }
        Ok(self.path)
    }

    fn discard(self) {
        drop(self.file);
        let _ = std::fs::remove_file(&self.tmp);
    }
}

fn header(len: usize) -> [u8; wav::HEADER_LEN] {
    wav::wav_header(G711Law::ALaw, len).unwrap_or([0; wav::HEADER_LEN])
}

/// `<stem><suffix>.wav` next to `path`.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("recording");
    path.with_file_name(format!("{stem}{suffix}.wav"))
}

/// The writer loop: the mix first, then the per-party files.
fn run(store: &RecordingStore, rx: &mpsc::Receiver<Msg>) {
    let mut open: HashMap<u64, Vec<Part>> = HashMap::new();
    while let Ok(msg) = rx.recv() {
        match msg {
            Msg::Open {
                key,
                app,
                object,
                per_party,
            } => {
                let parts = store
                    .path_for(app, &object)
                    .map_err(|e| e.to_string())
                    .and_then(|path| {
                        let mut paths = vec![path.clone()];
                        if per_party {
                            paths.push(sibling(&path, "_a"));
                            paths.push(sibling(&path, "_b"));
                        }
                        paths
                            .into_iter()
                            .map(Part::create)
                            .collect::<std::io::Result<Vec<_>>>()
                            .map_err(|e| e.to_string())
                    });
                match parts {
                    Ok(parts) => {
                        open.insert(key, parts);
                    }
                    Err(e) => tracing::error!(%object, error = %e, "cannot start a recording file"),
                }
            }
            Msg::Append { key, mix, a, b } => {
                if let Some(parts) = open.get_mut(&key) {
                    for (part, bytes) in parts.iter_mut().zip([mix, a, b]) {
                        if let Err(e) = part.append(&bytes) {
                            tracing::error!(path = %part.tmp.display(), error = %e, "recording write failed");
                        }
                    }
                }
            }
            Msg::Close { key, keep } => {
                for part in open.remove(&key).unwrap_or_default() {
                    if keep {
                        match part.complete() {
                            Ok(path) => tracing::info!(path = %path.display(), "recording stored"),
                            Err(e) => tracing::error!(error = %e, "recording could not be completed"),
                        }
                    } else {
                        part.discard();
                    }
                }
            }
        }
    }
}
