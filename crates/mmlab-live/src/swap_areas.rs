//! The swap areas a scenario's `swap`, `swap zram` and `swapfile` headers ask for, made on the
//! host and always given back.
//!
//! - A file area is a fresh directory `/var/tmp/mmlab-swap-PID-N/` holding the file `NAME`:
//!   on the root filesystem (`/var/tmp` must not be a tmpfs, whose files swapon refuses), and
//!   fallocated so that it has no holes. A zram area is a device hot-added through
//!   `/sys/class/zram-control`, given its disksize.
//! - The SWAPSPACE2 header is written here rather than by mkswap(8): mkswap refuses areas under
//!   ten pages (a scenario's 2-page area, a header cut short by a file under a page are the
//!   cases it needs), and its random UUID and version-dependent checks are nothing the kernel
//!   reads. The header is what `union swap_header` (include/linux/swap.h) holds after mkswap.
//! - Before anything is made, a line naming it is appended to this process's record file
//!   (`/var/tmp/mmlab-swap-record-PID`, synced); a zram device is named right after hot_add
//!   gives its number. Giving back swaps off every area still in /proc/swaps, resets and
//!   removes the zram devices, deletes the files and directories, removes the record, and
//!   checks /proc/swaps lists what it listed before the first area was made.
//! - The live backend gives back at the end of each scenario; `host_state` does it when the
//!   host lock is dropped (a panic unwinding included) and on SIGINT, SIGTERM and SIGHUP; a run
//!   killed outright leaves its record, and the next process to take the host lock finds it
//!   (its owner dead) and gives back what it names (`recover`).

use std::ffi::CString;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use mmlab_scenario::backend::{parse_proc_swaps, Skip, SwapDev, SwapFileKind, SwapSetup};

use crate::hostlock::HostLock;

/// Where the areas' directories and the record files go.
pub const BASE: &str = "/var/tmp";
/// The start of an area directory's name (then `PID-N`).
const DIR_PREFIX: &str = "mmlab-swap-";
/// The start of a record file's name (then the owner's PID).
const RECORD_PREFIX: &str = "mmlab-swap-record-";
const ZRAM_CONTROL: &str = "/sys/class/zram-control";
const PAGE: u64 = 4096;

/// One thing made for a swap header, in the order made.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Made {
    Dir(PathBuf),
    File(PathBuf),
    /// A hot-added zram device, by number.
    Zram(u32),
}

impl Made {
    fn line(&self) -> String {
        match self {
            Made::Dir(p) => format!("dir {}", p.display()),
            Made::File(p) => format!("file {}", p.display()),
            Made::Zram(n) => format!("zram {n}"),
        }
    }

    fn parse(line: &str) -> Option<Made> {
        let (what, arg) = line.split_once(' ')?;
        match what {
            "dir" => Some(Made::Dir(arg.into())),
            "file" => Some(Made::File(arg.into())),
            "zram" => arg.parse().ok().map(Made::Zram),
            _ => None,
        }
    }

    /// The path swapon(2) was given for it, if it is an area.
    fn swap_path(&self) -> Option<PathBuf> {
        match self {
            Made::Dir(_) => None,
            Made::File(p) => Some(p.clone()),
            Made::Zram(n) => Some(format!("/dev/zram{n}").into()),
        }
    }
}

/// This process's areas.
struct Areas {
    made: Vec<Made>,
    /// /proc/swaps' file names before the first area was made.
    before: Option<Vec<String>>,
    /// The number of the next directory.
    next_dir: u32,
}

static AREAS: Mutex<Areas> = Mutex::new(Areas {
    made: Vec::new(),
    before: None,
    next_dir: 0,
});

fn areas() -> MutexGuard<'static, Areas> {
    AREAS.lock().unwrap_or_else(PoisonError::into_inner)
}

fn record_path(base: &Path, pid: u32) -> PathBuf {
    base.join(format!("{RECORD_PREFIX}{pid}"))
}

/// The file names /proc/swaps lists, sorted.
pub fn swapped_on() -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string("/proc/swaps").map_err(|e| format!("/proc/swaps: {e}"))?;
    let mut names: Vec<String> = parse_proc_swaps(&text)
        .into_iter()
        .map(|l| l.filename)
        .collect();
    names.sort();
    Ok(names)
}

/// Note `m` in the record before it is made.
fn note(a: &mut Areas, m: Made) -> Result<(), String> {
    let path = record_path(Path::new(BASE), std::process::id());
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    writeln!(f, "{}", m.line())
        .and_then(|()| f.sync_data())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    a.made.push(m);
    Ok(())
}

/// The first page of a swap area of `pages` pages, as mkswap(8) leaves it: `union swap_header`
/// with version 1, `last_page`, no bad pages, and the SWAPSPACE2 magic in the page's last ten
/// bytes.
pub fn swap_header(pages: u64) -> [u8; PAGE as usize] {
    let mut h = [0u8; PAGE as usize];
    // info: bootbits[1024], then version, last_page, nr_badpages (__u32 each, CPU order).
    let last_page = pages.saturating_sub(1).min(u32::MAX as u64) as u32;
    h[1024..1028].copy_from_slice(&1u32.to_ne_bytes());
    h[1028..1032].copy_from_slice(&last_page.to_ne_bytes());
    h[4086..].copy_from_slice(b"SWAPSPACE2");
    h
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> String + '_ {
    move |e| format!("{}: {e}", path.display())
}

fn c_path(path: &Path) -> CString {
    CString::new(path.as_os_str().as_bytes()).expect("paths made here have no NUL")
}

/// swapon(path, 0).
fn swapon(path: &Path) -> Result<(), String> {
    // SAFETY: a NUL-terminated path that lives across the call.
    if unsafe { libc::swapon(c_path(path).as_ptr(), 0) } != 0 {
        return Err(format!(
            "swapon({}, 0): {}",
            path.display(),
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

fn swapoff(path: &Path) -> std::io::Result<()> {
    // SAFETY: a NUL-terminated path that lives across the call.
    if unsafe { libc::swapoff(c_path(path).as_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Make the areas `swap` asks for, swapping on those it activates; returns each one's name
/// and the path swapon(2) takes for it. On a failure, what was made is given back and the
/// scenario skipped with the header's place.
pub fn set_up(_turn: &HostLock, swap: &[SwapSetup]) -> Result<Vec<(String, String)>, Skip> {
    if swap.is_empty() {
        return Ok(Vec::new());
    }
    let mut a = areas();
    if a.before.is_none() {
        a.before = Some(swapped_on().map_err(Skip)?);
    }
    let mut names = Vec::new();
    for s in swap {
        match make(&mut a, s) {
            Ok(path) => names.push((s.name.clone(), path.display().to_string())),
            Err(e) => {
                let undone = give_back_locked(&mut a)
                    .err()
                    .map_or(String::new(), |u| format!("; giving back: {u}"));
                return Err(Skip(format!("{}: {e}{undone}", s.at)));
            }
        }
    }
    Ok(names)
}

/// One area: made, given its header, swapped on if the header says so.
fn make(a: &mut Areas, s: &SwapSetup) -> Result<PathBuf, String> {
    let path = match s.kind {
        SwapDev::File(kind) => make_file(a, &s.name, s.bytes, kind)?,
        SwapDev::Zram => make_zram(a, s.bytes)?,
        SwapDev::Nfs { .. } => {
            return Err(format!(
                "{}: this host has no NFS (CONFIG_NFS_SWAP is off): `swapfile_fs` is the model's",
                s.at
            ))
        }
    };
    if s.activate {
        swapon(&path)?;
    }
    Ok(path)
}

fn make_file(a: &mut Areas, name: &str, bytes: u64, kind: SwapFileKind) -> Result<PathBuf, String> {
    let base = Path::new(BASE);
    if is_tmpfs(base) {
        return Err(format!("{BASE} is a tmpfs: swapon refuses files there"));
    }
    let dir = base.join(format!("{DIR_PREFIX}{}-{}", std::process::id(), a.next_dir));
    a.next_dir += 1;
    note(a, Made::Dir(dir.clone()))?;
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .map_err(io(&dir))?;
    let path = dir.join(name);
    note(a, Made::File(path.clone()))?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(io(&path))?;
    let header = swap_header(bytes / PAGE);
    let head = &header[..bytes.min(PAGE) as usize];
    match kind {
        SwapFileKind::Mkswap => {
            allocate(&f, bytes).map_err(io(&path))?;
            f.write_all(head).map_err(io(&path))?;
        }
        SwapFileKind::Holes => {
            // The header, then a size reached without allocating: the rest is one hole.
            f.write_all(head).map_err(io(&path))?;
            f.set_len(bytes).map_err(io(&path))?;
        }
        SwapFileKind::NoSignature => allocate(&f, bytes).map_err(io(&path))?,
        SwapFileKind::Empty => {}
    }
    f.sync_all().map_err(io(&path))?;
    Ok(path)
}

/// fallocate(fd, 0, 0, bytes): every block of the file allocated (no holes).
fn allocate(f: &std::fs::File, bytes: u64) -> std::io::Result<()> {
    if bytes == 0 {
        return Ok(());
    }
    // SAFETY: fallocate on a descriptor we own.
    if unsafe { libc::fallocate(f.as_raw_fd(), 0, 0, bytes as libc::off_t) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

fn is_tmpfs(p: &Path) -> bool {
    nix::sys::statfs::statfs(p).is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::TMPFS_MAGIC)
}

fn make_zram(a: &mut Areas, bytes: u64) -> Result<PathBuf, String> {
    let hot_add = format!("{ZRAM_CONTROL}/hot_add");
    let id: u32 = std::fs::read_to_string(&hot_add)
        .map_err(|e| format!("{hot_add}: {e} (no zram here?)"))?
        .trim()
        .parse()
        .map_err(|e| format!("{hot_add}: {e}"))?;
    note(a, Made::Zram(id))?;
    let disksize = format!("/sys/block/zram{id}/disksize");
    std::fs::write(&disksize, format!("{bytes}\n")).map_err(|e| format!("{disksize}: {e}"))?;
    let dev = PathBuf::from(format!("/dev/zram{id}"));
    // devtmpfs adds the node as the disk is added; udev may still be at it.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !std::fs::metadata(&dev).is_ok_and(|m| m.file_type().is_block_device()) {
        if Instant::now() > deadline {
            return Err(format!("{} never appeared", dev.display()));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(&dev)
        .map_err(io(&dev))?;
    f.write_all(&swap_header(bytes / PAGE)).map_err(io(&dev))?;
    f.sync_all().map_err(io(&dev))?;
    Ok(dev)
}

/// Give back every area this process made; Err says what could not be given back, or how
/// /proc/swaps differs from what it was before.
pub fn give_back() -> Result<(), String> {
    give_back_locked(&mut areas())
}

fn give_back_locked(a: &mut Areas) -> Result<(), String> {
    let Some(before) = a.before.take() else {
        return Ok(());
    };
    let mut errors = undo(&a.made);
    a.made.clear();
    let record = record_path(Path::new(BASE), std::process::id());
    if let Err(e) = std::fs::remove_file(&record) {
        if e.kind() != std::io::ErrorKind::NotFound {
            errors.push(format!("{}: {e}", record.display()));
        }
    }
    match swapped_on() {
        Ok(now) if now != before => errors.push(format!(
            "/proc/swaps lists {now:?}, before the scenario {before:?}"
        )),
        Ok(_) => {}
        Err(e) => errors.push(e),
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

/// Swap off every area of `made` still swapped on, then remove them newest first; the errors.
fn undo(made: &[Made]) -> Vec<String> {
    let mut errors = Vec::new();
    let areas: Vec<PathBuf> = made.iter().filter_map(Made::swap_path).collect();
    // swapoff reads every page back in first; it may also race a step's swapon still
    // finishing in a killed agent, so look again a few times.
    for round in 0..5 {
        let on = swapped_on().unwrap_or_default();
        let listed: Vec<&PathBuf> = areas
            .iter()
            .filter(|p| on.iter().any(|n| Path::new(n) == p.as_path()))
            .collect();
        if listed.is_empty() {
            break;
        }
        for p in listed {
            if let Err(e) = swapoff(p) {
                if round == 4 {
                    errors.push(format!("swapoff({}): {e}", p.display()));
                }
            }
        }
        std::thread::sleep(Duration::from_millis(20 * round));
    }
    for m in made.iter().rev() {
        let r = match m {
            Made::Dir(d) => std::fs::remove_dir(d).map_err(io(d)),
            Made::File(f) => std::fs::remove_file(f).map_err(io(f)),
            Made::Zram(n) => remove_zram(*n),
        };
        if let Err(e) = r {
            // A run killed between its note and the making leaves nothing to remove.
            if !e.contains("No such file or directory") {
                errors.push(e);
            }
        }
    }
    errors
}

/// Reset zram device `n` (freeing its memory) and remove it; an open device (udev probing it
/// after a change) answers EBUSY for a moment.
fn remove_zram(n: u32) -> Result<(), String> {
    let reset = format!("/sys/block/zram{n}/reset");
    let remove = format!("{ZRAM_CONTROL}/hot_remove");
    if !Path::new(&format!("/sys/block/zram{n}")).exists() {
        return Ok(());
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    for (file, value) in [(&reset, "1".to_string()), (&remove, n.to_string())] {
        loop {
            match std::fs::write(file, format!("{value}\n")) {
                Ok(()) => break,
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => return Err(format!("writing {value} to {file}: {e}")),
            }
        }
    }
    Ok(())
}

/// Give back what the records of dead processes in `BASE` name (a run killed outright); says
/// what it gave back. Called once the host lock is this process's.
pub fn recover() -> Result<Vec<String>, String> {
    recover_in(Path::new(BASE))
}

/// `recover` over the records in `base`. A record whose owner lives is left alone (a parent
/// that handed this process the host lock); a line naming anything but an area directory of
/// `base`, a file directly in one, or a zram device is ignored.
fn recover_in(base: &Path) -> Result<Vec<String>, String> {
    let mut done = Vec::new();
    let entries = std::fs::read_dir(base).map_err(|e| format!("{}: {e}", base.display()))?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(RECORD_PREFIX))
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        if alive(pid) {
            continue;
        }
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        // A zram device does not outlive a boot: one a record from before it names is
        // someone else's now.
        let this_boot = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| boot_time().is_some_and(|b| t >= b));
        let made: Vec<Made> = text
            .lines()
            .filter_map(Made::parse)
            .filter(|m| ours(base, m) && (this_boot || !matches!(m, Made::Zram(_))))
            .collect();
        let errors = undo(&made);
        if !errors.is_empty() {
            return Err(format!(
                "giving back what the killed run {pid} left ({}): {}",
                entry.path().display(),
                errors.join("; ")
            ));
        }
        std::fs::remove_file(entry.path()).map_err(io(&entry.path()))?;
        done.extend(made.iter().map(|m| format!("{} (run {pid})", m.line())));
    }
    Ok(done)
}

/// Is `m` something a record may name: an area directory directly in `base`, a file directly in
/// one, a zram device?
fn ours(base: &Path, m: &Made) -> bool {
    let area_dir = |d: &Path| {
        d.parent() == Some(base)
            && d.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(DIR_PREFIX) && !n.starts_with(RECORD_PREFIX))
    };
    match m {
        Made::Dir(d) => area_dir(d),
        Made::File(f) => f.parent().is_some_and(area_dir),
        Made::Zram(_) => true,
    }
}

/// When the machine booted (/proc/stat's btime).
fn boot_time() -> Option<std::time::SystemTime> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let secs: u64 = stat
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    Some(std::time::UNIX_EPOCH + Duration::from_secs(secs))
}

/// Does process `pid` exist?
fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    pid > 0
        && (unsafe { libc::kill(pid, 0) } == 0
            || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A PID no process has: a child's, once it is reaped.
    fn dead_pid() -> i32 {
        let mut c = std::process::Command::new("true").spawn().unwrap();
        c.wait().unwrap();
        c.id() as i32
    }

    #[test]
    fn the_header_is_mkswaps() {
        let h = swap_header(4096);
        assert_eq!(&h[4086..], b"SWAPSPACE2");
        assert_eq!(u32::from_ne_bytes(h[1024..1028].try_into().unwrap()), 1);
        assert_eq!(u32::from_ne_bytes(h[1028..1032].try_into().unwrap()), 4095);
        assert!(h[..1024].iter().chain(&h[1032..4086]).all(|&b| b == 0));
    }

    #[test]
    fn record_lines_round_trip() {
        for m in [
            Made::Dir("/var/tmp/mmlab-swap-1-0".into()),
            Made::File("/var/tmp/mmlab-swap-1-0/swap0".into()),
            Made::Zram(3),
        ] {
            assert_eq!(Made::parse(&m.line()), Some(m));
        }
        assert_eq!(Made::parse("zram x"), None);
        assert_eq!(Made::parse("rm -rf /"), None);
    }

    #[test]
    fn a_dead_runs_record_is_given_back_and_a_live_ones_left_alone() {
        let base = std::env::temp_dir().join(format!("mmlab-swap-recover-{}", std::process::id()));
        std::fs::create_dir_all(&base).unwrap();
        let dead = dead_pid();
        let area = base.join(format!("{DIR_PREFIX}{dead}-0"));
        std::fs::create_dir(&area).unwrap();
        std::fs::write(area.join("swap0"), "x").unwrap();
        // Something outside the area directories that a corrupt record names is never touched.
        let bystander = base.join("keep");
        std::fs::write(&bystander, "x").unwrap();
        std::fs::write(
            record_path(&base, dead as u32),
            format!(
                "dir {}\nfile {}\nfile {}\ndir {}/{DIR_PREFIX}never-made\n",
                area.display(),
                area.join("swap0").display(),
                bystander.display(),
                base.display()
            ),
        )
        .unwrap();
        // A live owner: this test's own process.
        let live = record_path(&base, std::process::id());
        let live_area = base.join(format!("{DIR_PREFIX}{}-0", std::process::id()));
        std::fs::create_dir(&live_area).unwrap();
        std::fs::write(&live, format!("dir {}\n", live_area.display())).unwrap();

        let done = recover_in(&base).unwrap();
        assert_eq!(done.len(), 3, "{done:?}");
        assert!(!area.exists(), "the dead run's area is gone");
        assert!(!record_path(&base, dead as u32).exists(), "its record too");
        assert!(bystander.exists(), "a path outside the areas is left");
        assert!(
            live_area.exists() && live.exists(),
            "a live run's area is its own"
        );
        assert!(recover_in(&base).unwrap().is_empty(), "nothing left to do");
        let _ = std::fs::remove_dir_all(&base);
    }
}
