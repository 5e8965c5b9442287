//! Records the commit the binary is built from (`PNSWITCH_COMMIT`: `git rev-parse --short=12 HEAD` (uncommitted
//! changes are not marked); `unknown` outside a git checkout) for the start log line and
//! `pn_build_info`. `PNSWITCH_COMMIT` in the build's environment wins (packaging from a tarball).

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn main() {
    println!("cargo:rerun-if-env-changed=PNSWITCH_COMMIT");
    let commit = std::env::var("PNSWITCH_COMMIT").ok().or_else(|| {
        // Rebuild when HEAD moves or the branch it names gets a commit.
        if let Some(dir) = git(&["rev-parse", "--absolute-git-dir"]) {
            let dir = Path::new(&dir);
            println!("cargo:rerun-if-changed={}", dir.join("HEAD").display());
            if let Some(head) = git(&["symbolic-ref", "-q", "HEAD"]) {
                if let Some(common) = git(&["rev-parse", "--git-common-dir"]) {
                    let reference = Path::new(&common).join(&head);
                    if reference.exists() {
                        println!("cargo:rerun-if-changed={}", reference.display());
                    }
                }
            }
        }
        git(&["rev-parse", "--short=12", "HEAD"])
    });
    println!(
        "cargo:rustc-env=PNSWITCH_COMMIT={}",
        commit.unwrap_or_else(|| "unknown".to_owned())
    );
}
