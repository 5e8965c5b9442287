//! Disk conditions for the end-to-end tests: a small tmpfs the test can fill, read-only bind mounts.
//!
//! Mounting needs root (the tests run as root, as CI does). A `mount` that fails fails the test loudly: these
//! tests are never skipped. Every mount is undone when its guard drops (also when the test panics), and each
//! tmpfs gets a mount point of its own under `/tmp`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// A mount, undone on drop.
#[derive(Debug)]
pub struct Mount {
    path: PathBuf,
    /// The mount point was made for this mount (removed after the unmount).
    made_dir: bool,
}

fn run(args: &[&str]) -> Result<(), String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| format!("{}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{}` failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

impl Mount {
    /// A fresh tmpfs of `size` (`mount -o size=…`, e.g. `"8m"`) on a new directory under `/tmp`.
    pub fn tmpfs(size: &str) -> Mount {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let path = PathBuf::from(format!(
            "/tmp/pn-e2e-disk-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).expect("create the tmpfs mount point");
        let options = format!("size={size},mode=0755");
        if let Err(e) = run(&["mount", "-t", "tmpfs", "-o", &options, "tmpfs", path_str(&path)]) {
            let _ = std::fs::remove_dir(&path);
            panic!("cannot mount a tmpfs (these tests need root; they are never skipped): {e}");
        }
        Mount { path, made_dir: true }
    }

    /// `source` (a directory or a file) bind-mounted read-only on itself: writes through that path fail with
    /// EROFS until the guard drops.
    pub fn read_only(source: &Path) -> Mount {
        let p = path_str(source);
        run(&["mount", "--bind", p, p])
            .unwrap_or_else(|e| panic!("cannot bind-mount (these tests need root; never skipped): {e}"));
        let mount = Mount {
            path: source.to_owned(),
            made_dir: false,
        };
        run(&["mount", "-o", "remount,ro,bind", p])
            .unwrap_or_else(|e| panic!("cannot remount read-only: {e}"));
        mount
    }

    /// The mount point.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let p = path_str(&self.path).to_owned();
        // A process still holding a file there (a switch being killed) makes a plain umount fail: detach then.
        if run(&["umount", &p]).is_err()
            && let Err(e) = run(&["umount", "-l", &p])
        {
            eprintln!("warning: {e}");
        }
        if self.made_dir {
            let _ = std::fs::remove_dir(&self.path);
        }
    }
}

/// Fills the file system holding `dir` with a file `dir/filler` until it is full (ENOSPC); returns its path.
/// Bounded by the file system's size (use it on a small tmpfs only).
pub fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).expect("create the filler file");
    let chunk = vec![0x5a_u8; 64 * 1024];
    let mut written = 0usize;
    loop {
        match file.write(&chunk) {
            Ok(0) => break,
            Ok(n) => written += n,
            Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
            Err(e) => panic!("filling {}: {e}", path.display()),
        }
        assert!(written < 1 << 30, "{} is not a small file system", dir.display());
    }
    // The last partial pages too.
    let mut byte = [0x5a_u8; 1];
    while let Ok(1) = file.write(&byte) {
        byte[0] = byte[0].wrapping_add(1);
    }
    path
}
