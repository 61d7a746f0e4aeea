//! Every change this process makes to the host, kept so that it can always be undone: the files
//! it writes (transparent_hugepage/ knobs, the hugetlb pool's size) with the value each held
//! before, the process groups of the agents it started, and (kept by `swap_areas` and `memcg`)
//! the swap areas and memory cgroups it made. The live backend gives a scenario's
//! changes back when the scenario ends; dropping the `HostLock` gives back whatever is left (a
//! panic unwinding through its holder included); SIGINT, SIGTERM and SIGHUP end the agents,
//! give everything back and exit with 128 + the signal's number.

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

use crate::hostlock::HostLock;

/// A host file this process wrote, and the value to write back.
struct Change {
    path: String,
    original: String,
}

/// Changes in the order they were made; each file appears once, with its first original.
static JOURNAL: Mutex<Vec<Change>> = Mutex::new(Vec::new());
/// Process groups of live agents (each agent leads one holding its forked children).
static AGENTS: Mutex<Vec<i32>> = Mutex::new(Vec::new());
/// The write end of the pipe the signal handler wakes the watcher through.
static SIGNAL_PIPE: AtomicI32 = AtomicI32::new(-1);

fn journal() -> MutexGuard<'static, Vec<Change>> {
    JOURNAL.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Write `value` into the host file `path`, which held `before` (as it is written back: the
/// bracketed choice of a THP knob, the number of a pool size). The first original is kept when
/// a file is written again.
pub fn write(_turn: &HostLock, path: &str, before: &str, value: &str) -> std::io::Result<()> {
    write_in(&mut journal(), path, before, value)
}

fn write_in(j: &mut Vec<Change>, path: &str, before: &str, value: &str) -> std::io::Result<()> {
    let new = !j.iter().any(|c| c.path == path);
    if new {
        j.push(Change {
            path: path.to_string(),
            original: before.to_string(),
        });
    }
    let r = std::fs::write(path, value);
    if r.is_err() && new {
        // The kernel refused the value: the file still holds its original.
        j.pop();
    }
    r
}

/// Give back the files `which` selects, newest change first.
pub fn restore(which: impl Fn(&str) -> bool) {
    restore_in(&mut journal(), which);
}

/// Give back every file this process changed, every memory cgroup and every swap area it made.
pub fn restore_all() {
    restore(|_| true);
    remove_cgroups();
    give_back_swap();
    if let Err(e) = crate::scenario_dir::remove() {
        eprintln!("mmlab: removing the scenario's directory: {e}");
    }
}

/// Remove the memory cgroups (`memcg`), saying on stderr what could not be.
fn remove_cgroups() {
    if let Err(e) = crate::memcg::remove_all() {
        eprintln!("mmlab: removing the memory cgroups: {e}");
    }
}

/// Give back the swap areas (`swap_areas`), saying on stderr what could not be.
fn give_back_swap() {
    if let Err(e) = crate::swap_areas::give_back() {
        eprintln!("mmlab: giving back the swap areas: {e}");
    }
}

fn restore_in(j: &mut Vec<Change>, which: impl Fn(&str) -> bool) {
    for i in (0..j.len()).rev() {
        if !which(&j[i].path) {
            continue;
        }
        let c = j.remove(i);
        if let Err(e) = std::fs::write(&c.path, &c.original) {
            eprintln!(
                "mmlab: could not restore {} to {}: {e}",
                c.path,
                c.original.trim()
            );
        }
    }
}

/// An agent started: its process group is ended if this process is interrupted.
pub fn agent_started(pgid: i32) {
    AGENTS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(pgid);
}

/// An agent's process group was ended by its owner.
pub fn agent_ended(pgid: i32) {
    AGENTS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .retain(|&p| p != pgid);
}

extern "C" fn on_signal(sig: libc::c_int) {
    let b = sig as u8;
    // SAFETY: write(2) is async-signal-safe; the pipe outlives the process's handlers.
    unsafe {
        libc::write(
            SIGNAL_PIPE.load(Ordering::Relaxed),
            (&b as *const u8).cast(),
            1,
        )
    };
}

/// From now on, SIGINT, SIGTERM and SIGHUP end the agents, give the host back and exit with
/// 128 + the signal. The handler only wakes a watcher thread, which does the work outside
/// signal context. Installed once per process.
pub fn restore_on_signals() -> Result<(), String> {
    static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
    INSTALLED.get_or_init(install).clone()
}

fn install() -> Result<(), String> {
    let mut fds = [0; 2];
    // SAFETY: a new pipe; its descriptors are ours for the process's life.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(format!(
            "pipe2 for the signal watcher: {}",
            std::io::Error::last_os_error()
        ));
    }
    SIGNAL_PIPE.store(fds[1], Ordering::Relaxed);
    let read_end = fds[0];
    std::thread::Builder::new()
        .name("mmlab-signals".into())
        .spawn(move || watch(read_end))
        .map_err(|e| format!("the signal watcher thread: {e}"))?;
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: installs an async-signal-safe handler; sigaction is plain data.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            if libc::sigaction(sig, &sa, std::ptr::null_mut()) != 0 {
                return Err(format!(
                    "sigaction({sig}): {}",
                    std::io::Error::last_os_error()
                ));
            }
        }
    }
    Ok(())
}

/// Wait for a signal, then end the agents, give the host back and exit. The journal stays
/// locked until the exit, so no other thread changes the host after its restoration.
fn watch(read_end: i32) {
    let mut b = 0u8;
    // SAFETY: a one-byte read from our own pipe.
    while unsafe { libc::read(read_end, (&mut b as *mut u8).cast(), 1) } != 1 {}
    let sig = b as libc::c_int;
    for &pgid in AGENTS.lock().unwrap_or_else(PoisonError::into_inner).iter() {
        // SAFETY: signals a process group this process started.
        unsafe { libc::killpg(pgid, libc::SIGKILL) };
    }
    let mut j = journal();
    let changed = j.len();
    restore_in(&mut j, |_| true);
    remove_cgroups();
    give_back_swap();
    eprintln!(
        "mmlab: interrupted by signal {sig}; {changed} host setting(s) restored, agents ended"
    );
    // SAFETY: ends the process at once, as the signal's default action would have.
    unsafe { libc::_exit(128 + sig) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_in_the_holder_of_the_host_gives_back_what_it_changed() {
        let f = std::env::temp_dir().join(format!("mmlab-host-panic-{}", std::process::id()));
        std::fs::write(&f, "original").unwrap();
        let path = f.to_string_lossy().into_owned();
        let p = path.clone();
        let holder = std::thread::spawn(move || {
            let turn = HostLock::acquire().unwrap();
            write(&turn, &p, "original", "changed").unwrap();
            assert_eq!(std::fs::read_to_string(&p).unwrap(), "changed");
            panic!("a scenario step went wrong");
        });
        assert!(holder.join().is_err(), "the holder panicked");
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "original");
        let _ = std::fs::remove_file(&f);
    }

    #[test]
    fn a_file_keeps_its_first_original_and_is_written_back_newest_first() {
        let dir = std::env::temp_dir().join(format!("mmlab-host-state-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let a = dir.join("a").to_string_lossy().into_owned();
        let b = dir.join("b").to_string_lossy().into_owned();
        std::fs::write(&a, "1").unwrap();
        std::fs::write(&b, "x").unwrap();
        let mut j = Vec::new();
        write_in(&mut j, &a, "1", "2").unwrap();
        write_in(&mut j, &b, "x", "y").unwrap();
        write_in(&mut j, &a, "2", "3").unwrap();
        assert!(write_in(&mut j, &dir.join("no/such").to_string_lossy(), "0", "1").is_err());
        assert_eq!(j.len(), 2, "a failed write journals nothing");
        assert_eq!(std::fs::read_to_string(&a).unwrap(), "3");
        restore_in(&mut j, |p| p == b);
        assert_eq!(std::fs::read_to_string(&b).unwrap(), "x");
        assert_eq!(std::fs::read_to_string(&a).unwrap(), "3", "not selected");
        restore_in(&mut j, |_| true);
        assert_eq!(
            std::fs::read_to_string(&a).unwrap(),
            "1",
            "the first original"
        );
        assert!(j.is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
