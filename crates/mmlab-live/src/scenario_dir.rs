//! The scenario's directory on the host: a fresh directory, mode 0700, on a tmpfs
//! (`/dev/shm`, `files tmpfs`) or on the root filesystem (`/var/tmp`, `files disk`), that the
//! scenario's agents run in, so that a scenario's relative paths name files in it. It is
//! removed with everything in it when the scenario ends, and by `host_state::restore_all()`
//! when the runner is interrupted.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use mmlab::fs::namei::FsType;

/// The directory that exists now, if any.
static CURRENT: Mutex<Option<PathBuf>> = Mutex::new(None);
/// Directories made by this process so far (their names' last part).
static MADE: AtomicU64 = AtomicU64::new(0);

/// TMPFS_MAGIC (include/uapi/linux/magic.h).
const TMPFS_MAGIC: i64 = 0x0102_1994;

/// Where directories of a kind are made.
fn base(fs: FsType) -> &'static str {
    match fs {
        FsType::Tmpfs => "/dev/shm",
        FsType::Disk => "/var/tmp",
    }
}

/// Is `path` on a tmpfs?
fn on_tmpfs(path: &str) -> Result<bool, String> {
    let st = nix::sys::statfs::statfs(path).map_err(|e| format!("statfs {path}: {e}"))?;
    Ok(st.filesystem_type().0 as i64 == TMPFS_MAGIC)
}

/// Make the scenario's directory on `fs` (the previous one removed first); Err says why the
/// scenario cannot run here.
pub fn make(fs: FsType) -> Result<PathBuf, String> {
    remove()?;
    let b = base(fs);
    if on_tmpfs(b)? != (fs == FsType::Tmpfs) {
        return Err(format!(
            "files {}: {b} is {}a tmpfs here",
            match fs {
                FsType::Tmpfs => "tmpfs",
                FsType::Disk => "disk",
            },
            if fs == FsType::Tmpfs { "not " } else { "" }
        ));
    }
    let n = MADE.fetch_add(1, Ordering::SeqCst);
    let dir = Path::new(b).join(format!("mmlab-files-{}-{n}", std::process::id()));
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
    *CURRENT.lock().unwrap_or_else(PoisonError::into_inner) = Some(dir.clone());
    Ok(dir)
}

/// Remove the scenario's directory and what is in it, if one exists.
pub fn remove() -> Result<(), String> {
    let mut cur = CURRENT.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(dir) = cur.take() {
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            if e.kind() != std::io::ErrorKind::NotFound {
                let msg = format!("cannot remove {}: {e}", dir.display());
                *cur = Some(dir);
                return Err(msg);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_is_made_on_its_kind_and_removed_with_its_files() {
        let dir = make(FsType::Tmpfs).expect("/dev/shm is a tmpfs");
        assert!(dir.starts_with("/dev/shm"));
        std::fs::write(dir.join("f"), b"x").unwrap();
        let disk = make(FsType::Disk).expect("/var/tmp is on the root filesystem");
        assert!(!dir.exists(), "making the next one removes the last");
        assert!(disk.starts_with("/var/tmp"));
        remove().unwrap();
        assert!(!disk.exists());
        remove().unwrap();
    }
}
