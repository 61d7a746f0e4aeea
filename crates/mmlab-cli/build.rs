//! Embeds the model's git revision (`git rev-parse --short HEAD`; "unknown" when the source is
//! not in a git checkout or git is missing) as MMLAB_GIT_REVISION, for `mmlab bench`'s header.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A git command's trimmed output, if it succeeds with some.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !s.is_empty()).then_some(s)
}

fn main() {
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let rev = git(&dir, &["rev-parse", "--short", "HEAD"]);
    println!(
        "cargo:rustc-env=MMLAB_GIT_REVISION={}",
        rev.as_deref().unwrap_or("unknown")
    );
    println!("cargo:rerun-if-changed=build.rs");
    // Rebuild when HEAD moves: the HEAD file, the branch it names, the packed refs.
    let branch = git(&dir, &["symbolic-ref", "-q", "HEAD"]);
    let refs = ["HEAD", branch.as_deref().unwrap_or("HEAD"), "packed-refs"];
    for r in refs {
        if let Some(p) = git(&dir, &["rev-parse", "--git-path", r]) {
            let p = dir.join(p);
            if p.exists() {
                println!("cargo:rerun-if-changed={}", p.display());
            }
        }
    }
}
