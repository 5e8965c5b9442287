//! Durable file writes: write a temp file, fsync it, rename it over the target, fsync the directory.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rand::Rng;

use crate::ProvisionError;

/// Wraps an I/O error with the path it concerns.
pub(crate) fn io_err(path: &Path, source: std::io::Error) -> ProvisionError {
    ProvisionError::File {
        path: path.to_owned(),
        source,
    }
}

/// Whether a directory entry is one of our temp files (`.<name>.tmp-<hex>`).
pub(crate) fn is_temp(name: &str) -> bool {
    name.starts_with('.') && name.contains(".tmp-")
}

/// Creates `dir` (and parents) if missing; a directory it creates is made durable in its parent.
pub(crate) fn ensure_dir(dir: &Path) -> Result<(), ProvisionError> {
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
    match dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(parent) => sync_dir(parent),
        None => Ok(()),
    }
}

/// fsyncs a directory, so a rename or creation in it survives a crash.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), ProvisionError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_err(dir, e))
}

/// Writes `bytes` to `dir/name` atomically and durably (file mode `mode`): a reader sees the old file or the
/// whole new one, and once this returns the new one survives a crash or power loss.
pub(crate) fn write_durable(
    dir: &Path,
    name: &str,
    bytes: &[u8],
    mode: u32,
) -> Result<PathBuf, ProvisionError> {
    let suffix: u64 = rand::rng().random();
    let tmp = dir.join(format!(".{name}.tmp-{suffix:016x}"));
    let target = dir.join(name);
    let written = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(io_err(&tmp, e));
    }
    if let Err(e) = std::fs::rename(&tmp, &target) {
        let _ = std::fs::remove_file(&tmp);
        return Err(io_err(&target, e));
    }
    sync_dir(dir)?;
    Ok(target)
}

/// Removes `dir/name` durably; false if it did not exist.
pub(crate) fn remove_durable(dir: &Path, name: &str) -> Result<bool, ProvisionError> {
    let path = dir.join(name);
    match std::fs::remove_file(&path) {
        Ok(()) => {
            sync_dir(dir)?;
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_err(&path, e)),
    }
}
