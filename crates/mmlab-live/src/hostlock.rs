//! One lock on the host kernel for the whole project. Every run that changes host settings or
//! reads host-wide counters (the live tests, `mmlab live`, `mmlab run --both`, `mmlab bench`)
//! holds flock(2) on `/tmp/mmlab-host.lock`, so two runs never interleave: the second prints
//! whose turn it is and waits.
//!
//! - A process takes the file lock the first time one of its threads asks for the host and keeps
//!   it until it exits; its threads take turns through a mutex (`HostLock` is the turn).
//! - The holder writes its PID into the file, for the waiter's message.
//! - A child inherits its parent's lock instead of waiting for it: if the lock is taken and one
//!   of the descriptors the process inherited is an open file description of the lock file that
//!   already holds it (flock(2) succeeds again on it at once), the process goes ahead.
//!   `flock /tmp/mmlab-host.lock CMD` (util-linux) passes its descriptor that way, so wrapping a
//!   run in flock(1) — as .ci/run does for its three steps — does not deadlock, and
//!   `HostLock::share_with` hands the lock to a child the caller starts.
//! - Taking the lock also arranges for the host to be given back on SIGINT, SIGTERM and SIGHUP
//!   (`host_state`), and dropping a `HostLock` restores whatever was changed under it. The
//!   first taker in a process also gives back the swap areas and memory cgroups a run killed
//!   outright left (`swap_areas::recover`, `memcg::recover`).

use std::fs::File;
use std::io::{Seek, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

use crate::host_state;

/// The lock file every mmlab run on this machine agrees on.
pub const PATH: &str = "/tmp/mmlab-host.lock";

/// The file lock, once this process holds it: our own descriptor or one we inherited.
static HELD: OnceLock<HeldLock> = OnceLock::new();
/// Whose turn it is among this process's threads.
static TURN: Mutex<()> = Mutex::new(());

/// How this process holds the file lock.
#[derive(Debug)]
pub enum HeldLock {
    /// Taken on a descriptor of our own (kept open until the process exits).
    Own(File),
    /// Held by an open file description we inherited (from flock(1) or a parent mmlab).
    Inherited(RawFd),
}

impl HeldLock {
    fn fd(&self) -> RawFd {
        match self {
            HeldLock::Own(f) => f.as_raw_fd(),
            HeldLock::Inherited(fd) => *fd,
        }
    }
}

/// This thread's turn on the host: the process holds the file lock and no other thread of it
/// holds a `HostLock`. Dropping it gives back every host setting changed under it.
#[must_use = "the host is yours only while the HostLock lives"]
pub struct HostLock {
    _turn: MutexGuard<'static, ()>,
}

impl std::fmt::Debug for HostLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HostLock")
    }
}

impl HostLock {
    /// Wait for the host: for this process's file lock (taken once), then for this thread's turn.
    pub fn acquire() -> Result<HostLock, String> {
        let turn = TURN.lock().unwrap_or_else(PoisonError::into_inner);
        if HELD.get().is_none() {
            let held = lock_file(Path::new(PATH), |pid| {
                let who = pid.map_or("another process".to_string(), |p| format!("PID {p}"));
                // Straight to the descriptor: a test harness capturing eprintln! would hide it.
                let _ = writeln!(
                    std::io::stderr(),
                    "mmlab: waiting for the host lock {PATH} held by {who}"
                );
            })?;
            HELD.get_or_init(|| held);
            host_state::restore_on_signals()?;
            // The host is ours: what a run killed outright left is given back first.
            let mut left = crate::swap_areas::recover()?;
            left.extend(crate::memcg::recover()?);
            for what in left {
                let _ = writeln!(
                    std::io::stderr(),
                    "mmlab: gave back {what}, left by a killed run"
                );
            }
        }
        Ok(HostLock { _turn: turn })
    }

    /// Let a child the caller starts inherit the lock (see the module doc) rather than wait for
    /// it: the descriptor that holds it stays open across the child's exec.
    pub fn share_with(&self, cmd: &mut std::process::Command) {
        let fd = HELD
            .get()
            .expect("a HostLock exists only once the file is locked")
            .fd();
        // SAFETY: fcntl() is async-signal-safe; it only clears FD_CLOEXEC in the child.
        unsafe {
            cmd.pre_exec(move || {
                if libc::fcntl(fd, libc::F_SETFD, 0) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
}

impl Drop for HostLock {
    fn drop(&mut self) {
        host_state::restore_all();
    }
}

fn flock(fd: RawFd, op: libc::c_int) -> std::io::Result<()> {
    loop {
        // SAFETY: flock on a descriptor we hold open.
        if unsafe { libc::flock(fd, op) } == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    }
}

/// Take the file lock at `path` for this process: at once if free, through an inherited
/// descriptor that holds it, or after `waiting(holder's PID)` and a wait.
pub fn lock_file(path: &Path, waiting: impl FnOnce(Option<u32>)) -> Result<HeldLock, String> {
    let err = |e: std::io::Error| format!("the host lock {}: {e}", path.display());
    let open = || {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o666)
            .open(path)
    };
    // flock(2) needs no write access: another user's file without it still serves.
    let mut file = open().or_else(|_| std::fs::File::open(path)).map_err(err)?;
    // Whoever creates the file lets every user lock it (the umask narrowed the mode).
    let _ = file.set_permissions(std::fs::Permissions::from_mode(0o666));
    match flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EWOULDBLOCK) => {
            if let Some(fd) = inherited_holder(&file) {
                return Ok(HeldLock::Inherited(fd));
            }
            waiting(holder_pid(&file));
            flock(file.as_raw_fd(), libc::LOCK_EX).map_err(err)?;
        }
        Err(e) => return Err(err(e)),
    }
    // The PID is only for a waiter's message: failing to write it changes nothing.
    let _ = file
        .set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| writeln!(file, "{}", std::process::id()));
    Ok(HeldLock::Own(file))
}

/// Another descriptor of this process on the same file whose open file description already
/// holds the lock (taking it again there succeeds at once while `ours` cannot). Were the lock
/// released in between, this takes it through the inherited description, whose other holders
/// then keep it until they close it too: a narrow window, and only for inherited descriptors.
fn inherited_holder(ours: &File) -> Option<RawFd> {
    let me = ours.metadata().ok()?;
    for entry in std::fs::read_dir("/proc/self/fd").ok()?.flatten() {
        let Some(fd) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<RawFd>().ok())
        else {
            continue;
        };
        if fd == ours.as_raw_fd() {
            continue;
        }
        let Ok(m) = std::fs::metadata(entry.path()) else {
            continue;
        };
        if (m.dev(), m.ino()) == (me.dev(), me.ino())
            && flock(fd, libc::LOCK_EX | libc::LOCK_NB).is_ok()
        {
            return Some(fd);
        }
    }
    None
}

/// Who holds the lock on `file`: /proc/locks names the process that took the flock (flock(1)
/// writes no PID); else the PID the holder wrote into the file.
fn holder_pid(file: &File) -> Option<u32> {
    let ino = file.metadata().ok()?.ino();
    let locks = std::fs::read_to_string("/proc/locks").unwrap_or_default();
    locks
        .lines()
        .find_map(|l| flock_holder(l, ino))
        .or_else(|| {
            let mut b = [0u8; 16];
            let n = file.read_at(&mut b, 0).ok()?;
            std::str::from_utf8(&b[..n]).ok()?.trim().parse().ok()
        })
}

/// The PID of a granted FLOCK line of /proc/locks on inode `ino`
/// (`1: FLOCK  ADVISORY  WRITE 4242 00:1f:1234 0 EOF`; waiters' lines start `1: ->`).
fn flock_holder(line: &str, ino: u64) -> Option<u32> {
    let f: Vec<&str> = line.split_whitespace().collect();
    if f.get(1) != Some(&"FLOCK") {
        return None;
    }
    let file_ino: u64 = f.get(5)?.rsplit(':').next()?.parse().ok()?;
    (file_ino == ino).then(|| f.get(4)?.parse().ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    fn temp_lock(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("mmlab-hostlock-test-{name}-{}", std::process::id()))
    }

    #[test]
    fn proc_locks_lines_name_the_holder_of_our_inode_only() {
        let l = "1: FLOCK  ADVISORY  WRITE 4242 00:1f:1234 0 EOF";
        assert_eq!(flock_holder(l, 1234), Some(4242));
        assert_eq!(flock_holder(l, 1235), None);
        assert_eq!(
            flock_holder("1: -> FLOCK  ADVISORY  WRITE 77 00:1f:1234 0 EOF", 1234),
            None
        );
        assert_eq!(
            flock_holder("2: POSIX  ADVISORY  WRITE 9 00:1f:1234 0 EOF", 1234),
            None
        );
    }

    /// A process that takes the lock at `path`, says so, and holds it until told to exit:
    /// (its pid, the descriptor whose close lets it go).
    fn holder_process(path: &Path) -> (i32, RawFd) {
        let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        let (mut ready, mut release) = ([0; 2], [0; 2]);
        // SAFETY: the child makes only async-signal-safe calls and ends with _exit.
        unsafe {
            assert_eq!(libc::pipe2(ready.as_mut_ptr(), libc::O_CLOEXEC), 0);
            assert_eq!(libc::pipe2(release.as_mut_ptr(), libc::O_CLOEXEC), 0);
            let pid = libc::fork();
            if pid == 0 {
                let fd = libc::open(c.as_ptr(), libc::O_RDWR | libc::O_CREAT, 0o666);
                if fd < 0 || libc::flock(fd, libc::LOCK_EX) != 0 {
                    libc::_exit(1);
                }
                libc::close(release[1]);
                libc::write(ready[1], b"!".as_ptr().cast(), 1);
                let mut b = 0u8;
                libc::read(release[0], (&mut b as *mut u8).cast(), 1);
                libc::_exit(0);
            }
            assert!(pid > 0);
            libc::close(ready[1]);
            libc::close(release[0]);
            let mut b = 0u8;
            assert_eq!(libc::read(ready[0], (&mut b as *mut u8).cast(), 1), 1);
            libc::close(ready[0]);
            (pid, release[1])
        }
    }

    #[test]
    fn a_second_taker_waits_for_the_first_and_is_told_who_holds_it() {
        let path = temp_lock("wait");
        let (holder, release) = holder_process(&path);
        let (told, heard) = mpsc::channel();
        let (done, finished) = mpsc::channel();
        let p = path.clone();
        let waiter = std::thread::spawn(move || {
            let held = lock_file(&p, |pid| told.send(pid).unwrap()).unwrap();
            done.send(()).unwrap();
            held
        });
        assert_eq!(
            heard.recv_timeout(Duration::from_secs(10)).unwrap(),
            Some(holder as u32),
            "/proc/locks names the holder"
        );
        assert!(
            finished.recv_timeout(Duration::from_millis(300)).is_err(),
            "did not wait"
        );
        // SAFETY: closing our end of the pipe lets the holder exit; then it is reaped.
        unsafe {
            libc::close(release);
            libc::waitpid(holder, std::ptr::null_mut(), 0);
        }
        finished
            .recv_timeout(Duration::from_secs(10))
            .expect("got it once released");
        assert!(matches!(waiter.join().unwrap(), HeldLock::Own(_)));
        assert_eq!(
            std::fs::read_to_string(&path).unwrap().trim(),
            std::process::id().to_string(),
            "the new holder wrote its PID"
        );
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn an_inherited_descriptor_that_holds_the_lock_is_used_rather_than_waited_for() {
        let path = temp_lock("inherit");
        let HeldLock::Own(first) = lock_file(&path, |_| panic!("free")).unwrap() else {
            panic!("not our own");
        };
        // A duplicate shares the open file description, as a child's inherited descriptor does.
        let dup = first.try_clone().unwrap();
        let held = lock_file(&path, |_| panic!("must not wait")).unwrap();
        assert!(
            matches!(held, HeldLock::Inherited(fd) if fd == dup.as_raw_fd() || fd == first.as_raw_fd())
        );
        let _ = std::fs::remove_file(&path);
    }
}
