//! The prompt library: each app's uploaded prompt files plus pnswitch's shipped defaults, decoded once and
//! cached for the call path.
//!
//! Files live in `data_dir/prompts/<app id>/<name>`; names are `[A-Za-z0-9_.-]{1,64}.wav` and contents 8 kHz
//! mono A-law or µ-law WAV of at most 2 MB (reference §1.2; µ-law is a pnswitch extension). A name the app
//! has not uploaded falls back to the shipped default of that name ([`pn_media::prompts::DEFAULT_PROMPTS`]).
//! Every file is decoded when the library opens or when it is uploaded, so [`PromptLibrary::get`] on the
//! call path is two lock-free map reads and an `Arc` clone; uploads and deletes serialise among themselves.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;
use pn_bindings::AppId;
use pn_media::{G711Law, MediaError, parse_prompt};

use super::fsutil::{ensure_dir, io_err, is_temp, remove_durable, write_durable};
use crate::ProvisionError;

/// Longest prompt name before `.wav`.
const MAX_STEM: usize = 64;

/// Decoded prompt audio, ready to packetise: one G.711 byte per sample at 8 kHz.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prompt {
    /// The companding law of `samples`.
    pub law: G711Law,
    /// The audio.
    pub samples: Arc<[u8]>,
}

impl Prompt {
    /// Playing time in milliseconds.
    pub fn duration_ms(&self) -> u64 {
        self.samples.len() as u64 / 8
    }
}

/// What the admin API lists about a prompt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PromptInfo {
    /// File name.
    pub name: String,
    /// Size of the WAV file in bytes.
    pub bytes: u64,
    /// Playing time in milliseconds.
    pub duration_ms: u64,
    /// A-law or µ-law.
    pub law: G711Law,
    /// A shipped default (not uploaded by the app).
    pub shipped: bool,
}

/// One uploaded prompt in the cache.
#[derive(Clone, Debug)]
struct Upload {
    prompt: Arc<Prompt>,
    bytes: u64,
}

type AppPrompts = papaya::HashMap<String, Upload>;

/// Every app's prompts and the shipped defaults (see the [module docs](self)). `Send + Sync`.
pub struct PromptLibrary {
    dir: PathBuf,
    uploads: papaya::HashMap<AppId, Arc<AppPrompts>>,
    shipped: HashMap<&'static str, (Arc<Prompt>, u64)>,
    /// Serialises uploads and deletes (file and cache change together); readers never take it.
    write: Mutex<()>,
}

impl std::fmt::Debug for PromptLibrary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PromptLibrary")
            .field("dir", &self.dir)
            .field("apps", &self.uploads.len())
            .field("shipped", &self.shipped.len())
            .finish_non_exhaustive()
    }
}

/// Whether `name` is an acceptable prompt file name: `[A-Za-z0-9_.-]{1,64}.wav`.
pub fn prompt_name_ok(name: &str) -> bool {
    name.strip_suffix(".wav").is_some_and(|stem| {
        (1..=MAX_STEM).contains(&stem.len())
            && stem
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
    })
}

/// Decodes a prompt file, or says in words what is wrong with it.
fn decode(bytes: &[u8]) -> Result<Prompt, ProvisionError> {
    match parse_prompt(bytes) {
        Ok(audio) => Ok(Prompt {
            law: audio.law,
            samples: Arc::from(audio.samples),
        }),
        Err(MediaError::WavTooLarge { len, limit }) => Err(ProvisionError::InvalidFile(format!(
            "prompt must be at most {limit} bytes (2 MB): {len} bytes"
        ))),
        Err(e) => {
            let why = fmt_problem(bytes).unwrap_or_else(|| e.to_string());
            Err(ProvisionError::InvalidFile(format!(
                "prompt must be 8 kHz mono A-law or µ-law WAV: {why}"
            )))
        }
    }
}

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// The first property of a RIFF/WAVE `fmt ` chunk that breaks the prompt format, in words
/// (`"sample rate 16000"`, `"2 channels"`, `"format PCM"`), when the file has such a chunk.
fn fmt_problem(bytes: &[u8]) -> Option<String> {
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return None;
    }
    let mut pos = 12;
    while pos + 8 <= bytes.len() {
        let len = le32(bytes, pos + 4) as usize;
        let body = bytes.get(pos + 8..(pos + 8).checked_add(len)?)?;
        if &bytes[pos..pos + 4] == b"fmt " {
            if body.len() < 16 {
                return None;
            }
            let (tag, channels, rate, bits) = (le16(body, 0), le16(body, 2), le32(body, 4), le16(body, 14));
            return match tag {
                6 | 7 => None,
                1 => Some("format PCM".to_owned()),
                3 => Some("format IEEE float".to_owned()),
                0xFFFE => Some("format WAVE_FORMAT_EXTENSIBLE".to_owned()),
                other => Some(format!("format {other}")),
            }
            .or_else(|| (channels != 1).then(|| format!("{channels} channels")))
            .or_else(|| (rate != 8000).then(|| format!("sample rate {rate}")))
            .or_else(|| (bits != 8).then(|| format!("{bits} bits per sample")));
        }
        pos += 8 + len + (len & 1);
    }
    None
}

fn check_name(name: &str) -> Result<(), ProvisionError> {
    if prompt_name_ok(name) {
        Ok(())
    } else {
        Err(ProvisionError::InvalidFile(format!(
            "prompt name must be 1-{MAX_STEM} characters of A-Z a-z 0-9 _ . - followed by .wav"
        )))
    }
}

impl PromptLibrary {
    /// Opens the library in `dir` (`data_dir/prompts`, created if missing): decodes the shipped defaults and
    /// every app's stored prompts (a stored file that no longer decodes is skipped with a warning; leftover
    /// temp files of an interrupted upload are removed).
    pub fn open(dir: PathBuf) -> Result<Self, ProvisionError> {
        ensure_dir(&dir)?;
        let mut shipped = HashMap::new();
        for (name, bytes) in pn_media::prompts::DEFAULT_PROMPTS {
            match decode(bytes) {
                Ok(p) => {
                    shipped.insert(*name, (Arc::new(p), bytes.len() as u64));
                }
                Err(e) => tracing::warn!(prompt = name, error = %e, "shipped prompt does not decode"),
            }
        }
        let lib = Self {
            dir,
            uploads: papaya::HashMap::new(),
            shipped,
            write: Mutex::new(()),
        };
        lib.load_all()?;
        Ok(lib)
    }

    fn load_all(&self) -> Result<(), ProvisionError> {
        let entries = std::fs::read_dir(&self.dir).map_err(|e| io_err(&self.dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| io_err(&self.dir, e))?;
            let Some(app) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
                .map(AppId)
            else {
                continue;
            };
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                self.load_app(app, &entry.path())?;
            }
        }
        Ok(())
    }

    fn load_app(&self, app: AppId, dir: &Path) -> Result<(), ProvisionError> {
        let entries = std::fs::read_dir(dir).map_err(|e| io_err(dir, e))?;
        let map = self.app_map(app);
        let map = map.pin();
        for entry in entries {
            let entry = entry.map_err(|e| io_err(dir, e))?;
            let path = entry.path();
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if is_temp(&name) {
                let _ = std::fs::remove_file(&path);
                continue;
            }
            if !prompt_name_ok(&name) {
                continue;
            }
            let bytes = std::fs::read(&path).map_err(|e| io_err(&path, e))?;
            match decode(&bytes) {
                Ok(p) => {
                    map.insert(
                        name,
                        Upload {
                            prompt: Arc::new(p),
                            bytes: bytes.len() as u64,
                        },
                    );
                }
                Err(e) => tracing::warn!(path = %path.display(), error = %e, "stored prompt skipped"),
            }
        }
        Ok(())
    }

    /// The cache of one app, created on first use.
    fn app_map(&self, app: AppId) -> Arc<AppPrompts> {
        self.uploads
            .pin()
            .get_or_insert_with(app, || Arc::new(papaya::HashMap::new()))
            .clone()
    }

    fn app_dir(&self, app: AppId) -> PathBuf {
        self.dir.join(app.0.to_string())
    }

    /// Stores (or replaces) the app's prompt `name`: checks the name (`[A-Za-z0-9_.-]{1,64}.wav`) and the
    /// content (8 kHz mono A-law or µ-law WAV, ≤ 2 MB), writes the file durably, then makes it the one
    /// [`PromptLibrary::get`] returns. [`ProvisionError::InvalidFile`] says what is wrong with a refused file.
    pub fn put(&self, app: AppId, name: &str, bytes: &[u8]) -> Result<PromptInfo, ProvisionError> {
        check_name(name)?;
        let prompt = decode(bytes)?;
        let info = PromptInfo {
            name: name.to_owned(),
            bytes: bytes.len() as u64,
            duration_ms: prompt.duration_ms(),
            law: prompt.law,
            shipped: false,
        };
        let _w = self.write.lock();
        let dir = self.app_dir(app);
        ensure_dir(&dir)?;
        write_durable(&dir, name, bytes, 0o644)?;
        self.app_map(app).pin().insert(
            name.to_owned(),
            Upload {
                prompt: Arc::new(prompt),
                bytes: info.bytes,
            },
        );
        Ok(info)
    }

    /// Deletes the app's upload `name` (a shipped default of that name applies again); false if the app has
    /// no such upload.
    pub fn delete(&self, app: AppId, name: &str) -> Result<bool, ProvisionError> {
        if !prompt_name_ok(name) {
            return Ok(false);
        }
        let _w = self.write.lock();
        let cached = self.app_map(app).pin().remove(name).is_some();
        let removed = remove_durable(&self.app_dir(app), name)?;
        Ok(cached || removed)
    }

    /// The app's uploads (by name) followed by the shipped defaults it has not replaced.
    pub fn list(&self, app: AppId) -> Vec<PromptInfo> {
        let map = self.app_map(app);
        let mut own: Vec<PromptInfo> = map
            .pin()
            .iter()
            .map(|(name, u)| PromptInfo {
                name: name.clone(),
                bytes: u.bytes,
                duration_ms: u.prompt.duration_ms(),
                law: u.prompt.law,
                shipped: false,
            })
            .collect();
        own.sort_by(|a, b| a.name.cmp(&b.name));
        let mut shipped: Vec<PromptInfo> = self
            .shipped
            .iter()
            .filter(|(name, _)| !own.iter().any(|p| p.name == **name))
            .map(|(name, (p, bytes))| PromptInfo {
                name: (*name).to_owned(),
                bytes: *bytes,
                duration_ms: p.duration_ms(),
                law: p.law,
                shipped: true,
            })
            .collect();
        shipped.sort_by(|a, b| a.name.cmp(&b.name));
        own.extend(shipped);
        own
    }

    /// Whether `name` plays for the app: its upload, or a shipped default of that name.
    pub fn exists(&self, app: AppId, name: &str) -> bool {
        self.shipped.contains_key(name)
            || self
                .uploads
                .pin()
                .get(&app)
                .is_some_and(|m| m.pin().contains_key(name))
    }

    /// The decoded prompt `name` for the app: its upload first, then the shipped default. Lock-free; for the
    /// call path.
    pub fn get(&self, app: AppId, name: &str) -> Option<Arc<Prompt>> {
        if let Some(map) = self.uploads.pin().get(&app)
            && let Some(u) = map.pin().get(name)
        {
            return Some(u.prompt.clone());
        }
        self.shipped.get(name).map(|(p, _)| p.clone())
    }

    /// The WAV file of `name` as stored (the app's upload, else the shipped default); blocking.
    pub fn file(&self, app: AppId, name: &str) -> Result<Option<Vec<u8>>, ProvisionError> {
        if !prompt_name_ok(name) {
            return Ok(None);
        }
        let uploaded = self
            .uploads
            .pin()
            .get(&app)
            .is_some_and(|m| m.pin().contains_key(name));
        if uploaded {
            let path = self.app_dir(app).join(name);
            match std::fs::read(&path) {
                Ok(bytes) => return Ok(Some(bytes)),
                // Deleted between the check and the read: fall through to the shipped default.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(&path, e)),
            }
        }
        Ok(pn_media::prompts::default_prompt(name).map(<[u8]>::to_vec))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wav(format: u16, channels: u16, rate: u32, bits: u16, samples: usize) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(b"RIFF");
        v.extend_from_slice(&(36 + samples as u32).to_le_bytes());
        v.extend_from_slice(b"WAVEfmt ");
        v.extend_from_slice(&16u32.to_le_bytes());
        v.extend_from_slice(&format.to_le_bytes());
        v.extend_from_slice(&channels.to_le_bytes());
        v.extend_from_slice(&rate.to_le_bytes());
        let block = channels * bits / 8;
        v.extend_from_slice(&(rate * u32::from(block)).to_le_bytes());
        v.extend_from_slice(&block.to_le_bytes());
        v.extend_from_slice(&bits.to_le_bytes());
        v.extend_from_slice(b"data");
        v.extend_from_slice(&(samples as u32).to_le_bytes());
        v.extend(std::iter::repeat_n(0xD5u8, samples));
        v
    }

    #[test]
    fn names() {
        for ok in ["a.wav", "A-b_c.1.wav", &format!("{}.wav", "x".repeat(64))] {
            assert!(prompt_name_ok(ok), "{ok}");
        }
        for bad in [
            ".wav",
            "a.WAV",
            "a.mp3",
            "a/b.wav",
            "../a.wav",
            "a b.wav",
            "é.wav",
            &format!("{}.wav", "x".repeat(65)),
        ] {
            assert!(!prompt_name_ok(bad), "{bad}");
        }
    }

    #[test]
    fn content_problems_are_named() {
        let msg = |b: &[u8]| match decode(b) {
            Err(ProvisionError::InvalidFile(m)) => m,
            other => panic!("{other:?}"),
        };
        assert!(msg(&wav(6, 1, 16_000, 8, 100)).ends_with("sample rate 16000"));
        assert!(msg(&wav(6, 2, 8000, 8, 100)).ends_with("2 channels"));
        assert!(msg(&wav(1, 1, 8000, 16, 100)).ends_with("format PCM"));
        assert!(msg(b"hello").contains("WAV"));
        assert!(msg(&wav(6, 1, 8000, 8, 2 * 1024 * 1024)).contains("at most 2097152 bytes"));
        let p = decode(&wav(7, 1, 8000, 8, 800)).unwrap();
        assert_eq!((p.law, p.duration_ms()), (G711Law::MuLaw, 100));
    }

    #[test]
    fn uploads_shadow_defaults_and_survive_reopen() {
        let dir = tempfile::TempDir::new().unwrap();
        let lib = PromptLibrary::open(dir.path().join("prompts")).unwrap();
        let app = AppId(3);
        assert!(lib.exists(app, "no_permission.wav"));
        assert!(!lib.exists(app, "mine.wav"));
        let shipped = lib.get(app, "no_permission.wav").unwrap();
        assert_eq!(shipped.law, G711Law::ALaw);
        let info = lib.put(app, "mine.wav", &wav(7, 1, 8000, 8, 1600)).unwrap();
        assert_eq!(
            (info.duration_ms, info.law, info.shipped),
            (200, G711Law::MuLaw, false)
        );
        lib.put(app, "no_permission.wav", &wav(6, 1, 8000, 8, 80))
            .unwrap();
        assert_eq!(lib.get(app, "no_permission.wav").unwrap().samples.len(), 80);
        assert_eq!(lib.get(AppId(4), "no_permission.wav"), Some(shipped.clone()));
        assert!(!lib.exists(AppId(4), "mine.wav"));
        let list = lib.list(app);
        assert_eq!(list[0].name, "mine.wav");
        assert_eq!(list[1].name, "no_permission.wav");
        assert!(!list[1].shipped);
        assert_eq!(
            list.iter().filter(|p| p.shipped).count(),
            pn_media::prompts::DEFAULT_PROMPTS.len() - 1
        );
        // A leftover temp file is cleaned up on open.
        std::fs::write(dir.path().join("prompts/3/.x.wav.tmp-1"), b"junk").unwrap();
        drop(lib);
        let lib = PromptLibrary::open(dir.path().join("prompts")).unwrap();
        assert!(!dir.path().join("prompts/3/.x.wav.tmp-1").exists());
        assert_eq!(lib.get(app, "mine.wav").unwrap().samples.len(), 1600);
        assert_eq!(
            lib.file(app, "mine.wav").unwrap().unwrap(),
            wav(7, 1, 8000, 8, 1600)
        );
        assert!(lib.delete(app, "no_permission.wav").unwrap());
        assert!(!lib.delete(app, "no_permission.wav").unwrap());
        assert_eq!(lib.get(app, "no_permission.wav"), Some(shipped));
        assert!(lib.put(app, "bad name.wav", &wav(6, 1, 8000, 8, 8)).is_err());
    }

    #[test]
    fn library_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<PromptLibrary>();
    }
}
