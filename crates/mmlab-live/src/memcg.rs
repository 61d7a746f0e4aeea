//! Memory cgroups (v1, the controller this host mounts at /sys/fs/cgroup/memory) for the
//! reclaim-by-pressure benchmark and for `cgroup_v1` scenarios, made under a parent of this
//! process's own and always removed.
//!
//! - The parent is `/sys/fs/cgroup/memory/mmlab-PID`; every group this process makes is a
//!   child of it, so nothing outside it is ever touched.
//! - A scenario's hierarchy (`Hierarchy`) is the group `scenario` there: its
//!   `/sys/fs/cgroup/memory/A/B` is `/sys/fs/cgroup/memory/mmlab-PID/scenario/A/B`.
//! - Removing a group ends the processes still in it (only ours can be there), waits for it to
//!   empty and removes it; the parent goes with its last child. `host_state` removes whatever
//!   is left when the host lock is dropped (a panic unwinding included) and on SIGINT, SIGTERM
//!   and SIGHUP.
//! - A run killed outright leaves its parent behind: the next process to take the host lock
//!   finds `mmlab-PID` with PID dead and removes it with its children (`recover`).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use mmlab_scenario::syscalls::keyed_value;

use crate::hostlock::HostLock;

/// Where the v1 memory controller is mounted.
pub const ROOT: &str = "/sys/fs/cgroup/memory";
/// The start of a parent's name (then the owner's PID).
const PREFIX: &str = "mmlab-";

/// The groups this process made, children first after their parent (removed newest first).
static MADE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn made() -> MutexGuard<'static, Vec<PathBuf>> {
    MADE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A memory cgroup of ours; removed on drop.
#[derive(Debug)]
pub struct MemCg {
    path: PathBuf,
}

impl MemCg {
    /// Make the group `name` under this process's parent (made first if needed), with
    /// `memory.limit_in_bytes` = `limit`.
    pub fn new(turn: &HostLock, name: &str, limit: u64) -> Result<MemCg, String> {
        let g = MemCg::make(turn, name)?;
        g.write("memory.limit_in_bytes", &limit.to_string())?;
        Ok(g)
    }

    /// Make the group `name` under this process's parent (made first if needed).
    fn make(_turn: &HostLock, name: &str) -> Result<MemCg, String> {
        if !Path::new(ROOT).join("memory.limit_in_bytes").exists() {
            return Err(format!("no v1 memory controller at {ROOT}"));
        }
        let parent = Path::new(ROOT).join(format!("{PREFIX}{}", std::process::id()));
        let mut m = made();
        if !m.contains(&parent) {
            mkdir(&parent)?;
            m.push(parent.clone());
        }
        let path = parent.join(name);
        mkdir(&path)?;
        m.push(path.clone());
        Ok(MemCg { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Write `value` into the group's file `file`.
    pub fn write(&self, file: &str, value: &str) -> Result<(), String> {
        let p = self.path.join(file);
        write_file(&p, value).map_err(|e| format!("{}: {e}", p.display()))
    }

    /// Move process `pid` into the group.
    pub fn enter(&self, pid: i32) -> Result<(), String> {
        self.write("cgroup.procs", &pid.to_string())
    }

    /// A field of the group's memory.stat.
    pub fn stat(&self, field: &str) -> Result<u64, String> {
        let p = self.path.join("memory.stat");
        let text = std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        keyed_value(&text, field).ok_or_else(|| format!("{}: no {field}", p.display()))
    }
}

/// The components of `path` below the v1 mount (`..` and `//` resolved in the text, as path
/// lookup does), for a path strictly below it: the mount itself and a file of its own root
/// (the host's real root, which is never written) are None.
pub fn below_mount(path: &str) -> Option<Vec<&str>> {
    let parts = mmlab::fs::kernfs::components(path)?;
    let mount: Vec<&str> = ROOT.split('/').filter(|p| !p.is_empty()).collect();
    let rest = parts.strip_prefix(mount.as_slice())?.to_vec();
    let root_file = matches!(rest.as_slice(), [f] if Path::new(ROOT).join(f).is_file());
    (!rest.is_empty() && !root_file).then_some(rest)
}

/// A `cgroup_v1` scenario's hierarchy on the host: its root is the group `scenario` under this
/// process's parent, removed (with every group the scenario made, and the processes in them)
/// when dropped.
#[derive(Debug)]
pub struct Hierarchy {
    root: MemCg,
}

impl Hierarchy {
    pub fn new(turn: &HostLock) -> Result<Hierarchy, String> {
        Ok(Hierarchy {
            root: MemCg::make(turn, "scenario")?,
        })
    }

    /// Where the scenario's `path` is on the host (see `below_mount`).
    pub fn host_path(&self, path: &str) -> Option<PathBuf> {
        let rest = below_mount(path)?;
        Some(rest.iter().fold(self.root.path.clone(), |p, c| p.join(c)))
    }
}

impl Drop for MemCg {
    fn drop(&mut self) {
        let mut m = made();
        if let Err(e) = remove(&self.path) {
            eprintln!("mmlab: {e}");
        }
        m.retain(|p| p != &self.path);
        // The parent goes with its last child.
        if let Some(parent) = self.path.parent() {
            if !m.iter().any(|p| p.parent() == Some(parent)) {
                if let Err(e) = remove(parent) {
                    eprintln!("mmlab: {e}");
                }
                m.retain(|p| p != parent);
            }
        }
    }
}

/// `echo VALUE > FILE` on an existing kernel file (cgroup, /proc), in one write, as the kernel
/// parses it.
pub fn write_file(file: &Path, value: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().write(true).open(file)?;
    f.write_all(format!("{value}\n").as_bytes())
}

fn mkdir(p: &Path) -> Result<(), String> {
    std::fs::create_dir(p).map_err(|e| format!("mkdir {}: {e}", p.display()))
}

/// The processes in group `dir`.
fn procs(dir: &Path) -> Vec<i32> {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// End the processes in `dir` (and its child groups), then remove it.
fn remove(dir: &Path) -> Result<(), String> {
    if !dir.exists() {
        return Ok(());
    }
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove(&e.path())?;
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        for pid in procs(dir) {
            // SAFETY: a process in a group of ours: one this process (or a killed run of
            // mmlab) started.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(format!("rmdir {}: {e}", dir.display())),
        }
    }
}

/// Remove every group this process made (the host lock's drop and the signal watcher).
pub fn remove_all() -> Result<(), String> {
    let mut m = made();
    let mut errors = Vec::new();
    while let Some(p) = m.pop() {
        if let Err(e) = remove(&p) {
            errors.push(e);
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

/// Remove the parents that runs killed outright left (`mmlab-PID` with PID dead); says what
/// it removed. Called once the host lock is this process's.
pub fn recover() -> Result<Vec<String>, String> {
    let Ok(entries) = std::fs::read_dir(ROOT) else {
        return Ok(Vec::new());
    };
    let mut done = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(PREFIX))
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        // SAFETY: signal 0 only checks that the process exists.
        let alive = unsafe { libc::kill(pid, 0) } == 0
            || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
        if alive || !e.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        remove(&e.path())?;
        done.push(format!("memory cgroup {} (run {pid})", e.path().display()));
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_strictly_below_the_mount_map_to_the_scenarios_groups() {
        assert_eq!(
            below_mount("/sys/fs/cgroup/memory/t/u/memory.stat"),
            Some(vec!["t", "u", "memory.stat"])
        );
        assert_eq!(
            below_mount("/sys/fs/cgroup/memory//t/../v/./memory.failcnt"),
            Some(vec!["v", "memory.failcnt"])
        );
        assert_eq!(below_mount("/sys/fs/cgroup/memory/t"), Some(vec!["t"]));
        assert_eq!(below_mount("/sys/fs/cgroup/memory"), None);
        assert_eq!(below_mount("/sys/fs/cgroup/memory/t/.."), None);
        assert_eq!(below_mount("/sys/fs/cgroup/memory/../cpu/t"), None);
        assert_eq!(below_mount("/sys/fs/cgroup/t"), None);
        assert_eq!(below_mount("memory/t"), None);
        if Path::new(ROOT).join("memory.limit_in_bytes").is_file() {
            // The machine's own root files are never the scenario's.
            assert_eq!(
                below_mount("/sys/fs/cgroup/memory/memory.limit_in_bytes"),
                None
            );
        }
    }
}
