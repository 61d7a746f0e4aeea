//! `mmlab damon serve` and `mmlab damon run-tool`: the model's sysfs (DAMON's admin tree,
//! DAMON_RECLAIM's parameters, the other files the model has) as a FUSE file system, each
//! read and write going to `Kernel::sysfs_read` / `sysfs_write` with their errnos, while the
//! model's clock runs at the wall clock's pace (so a started kdamond samples and aggregates).
//! `run-tool` mounts it in a private mount namespace of its own and bind-mounts it over
//! /sys/kernel/mm/damon there only, so the kernel's selftests and damo run against the model
//! unmodified while the host's tree stays untouched.

use std::collections::HashMap;
use std::ffi::{CString, OsStr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use fuser::{
    FileAttr, FileType, Filesystem, ReplyAttr, ReplyData, ReplyDirectory, ReplyEntry, ReplyOpen,
    ReplyWrite, Request, TimeOrNow,
};
use mmlab::fs::kernfs_dir::Entry;
use mmlab::workload::{masim, Masim};
use mmlab::{Config, Kernel, Profile};

/// The model's directory the file system's root shows.
const MODEL_ROOT: &str = "/sys";
/// What the model serves over the host's tree, relative to /sys.
const OVERLAYS: [&str; 2] = ["kernel/mm/damon", "module/damon_reclaim/parameters"];
/// statfs() f_type of a FUSE mount (FUSE_SUPER_MAGIC).
const FUSE_SUPER_MAGIC: i64 = 0x6573_5546;
/// How often the clock thread lets virtual time pass.
const TICK: Duration = Duration::from_millis(10);

/// The model behind the mount.
#[derive(clap::Args)]
pub struct ModelArgs {
    /// A masim configuration to run in the model meanwhile (its phases repeat); its PID is
    /// printed and given to the tool as MMLAB_DAMON_PID, a target for vaddr monitoring.
    #[arg(long, value_name = "FILE")]
    masim: Option<PathBuf>,
    /// The workload's accesses per ms of virtual time.
    #[arg(long, default_value_t = 10_000)]
    rate: u64,
    /// Virtual time per wall-clock time (2 runs the model twice as fast as real time).
    #[arg(long, default_value_t = 1.0)]
    speed: f64,
}

/// `mmlab damon serve`.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// An empty directory to mount the model's /sys on (until SIGINT or SIGTERM).
    mountpoint: PathBuf,
    #[command(flatten)]
    model: ModelArgs,
}

/// `mmlab damon run-tool`.
#[derive(clap::Args)]
pub struct RunToolArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// The command to run against the model (e.g. `bash sysfs.sh`, `damo status`).
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    cmd: Vec<String>,
}

/// The kernel and the workload the clock thread runs.
struct Model {
    k: Kernel,
    /// The workload, the phase it is in and the ms it has spent there.
    masim: Option<(Masim, usize, u64)>,
}

impl Model {
    fn new(args: &ModelArgs) -> Result<Model, String> {
        let mut kc = Config::new(Profile::Linux519);
        kc.memory_bytes = 1 << 30;
        let Some(path) = &args.masim else {
            return Ok(Model {
                k: Kernel::new(kc),
                masim: None,
            });
        };
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let cfg = masim::parse(&text)?;
        let total: u64 = cfg.regions.iter().map(|r| r.size).sum();
        kc.memory_bytes = (total * 2 + (256 << 20)).next_power_of_two();
        let mut k = Kernel::new(kc);
        let m = Masim::setup(&mut k, cfg, args.rate, 1)?;
        k.lru_add_drain_all();
        Ok(Model {
            k,
            masim: Some((m, 0, 0)),
        })
    }

    /// The workload's PID as the model's processes see it.
    fn pid(&self) -> Option<u64> {
        let (m, ..) = self.masim.as_ref()?;
        self.k.task_tgid_nr(m.tid)
    }

    /// Let `ms` of virtual time pass, the workload running through its phases meanwhile,
    /// each for its configured `time_ms`.
    fn tick(&mut self, mut ms: u64) {
        while ms > 0 {
            let Some((m, pi, into)) = &mut self.masim else {
                self.k.advance_time(ms * 1_000_000);
                return;
            };
            let left = m
                .cfg
                .phases
                .get(*pi)
                .map_or(ms, |p| p.time_ms.saturating_sub(*into));
            let d = ms.min(left.max(1));
            // A workload that faulted fatally has exited; time still passes.
            if m.run_phase(&mut self.k, *pi, d, d, |_, _| {}).is_err() {
                self.masim = None;
                continue;
            }
            ms -= d;
            if d >= left {
                *pi = (*pi + 1) % m.cfg.phases.len().max(1);
                *into = 0;
            } else {
                *into += d;
            }
        }
    }
}

/// The mount's state: the model and the inode numbers handed out (a path each).
struct ModelFs {
    model: Arc<Mutex<Model>>,
    paths: Vec<String>,
    inos: HashMap<String, u64>,
}

/// Nothing is cached: DAMON's directories come and go with each nr_* write.
const TTL: Duration = Duration::ZERO;

impl ModelFs {
    fn new(model: Arc<Mutex<Model>>) -> ModelFs {
        ModelFs {
            model,
            paths: vec![MODEL_ROOT.to_string()],
            inos: HashMap::from([(MODEL_ROOT.to_string(), fuser::FUSE_ROOT_ID)]),
        }
    }

    fn kernel(&self) -> MutexGuard<'_, Model> {
        // A panic elsewhere while holding the lock leaves a model still worth serving.
        self.model.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn path(&self, ino: u64) -> Option<String> {
        self.paths.get(ino.checked_sub(1)? as usize).cloned()
    }

    fn ino(&mut self, path: &str) -> u64 {
        if let Some(&i) = self.inos.get(path) {
            return i;
        }
        self.paths.push(path.to_string());
        let i = self.paths.len() as u64;
        self.inos.insert(path.to_string(), i);
        i
    }

    /// getattr() of a path: kernfs_iop_getattr()'s view (files 4096 bytes, owned by root).
    fn attr(&mut self, path: &str) -> Result<FileAttr, i32> {
        let e = self.kernel().k.sysfs_stat(path).map_err(|e| e.code())?;
        let (kind, perm, size, nlink) = match e {
            Entry::Dir => (FileType::Directory, 0o755, 0, 2),
            Entry::File { mode } => (FileType::RegularFile, mode, 4096, 1),
        };
        Ok(FileAttr {
            ino: self.ino(path),
            size,
            blocks: 0,
            atime: SystemTime::UNIX_EPOCH,
            mtime: SystemTime::UNIX_EPOCH,
            ctime: SystemTime::UNIX_EPOCH,
            crtime: SystemTime::UNIX_EPOCH,
            kind,
            perm,
            nlink,
            uid: 0,
            gid: 0,
            rdev: 0,
            blksize: 4096,
            flags: 0,
        })
    }
}

impl Filesystem for ModelFs {
    fn lookup(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEntry) {
        let (Some(dir), Some(name)) = (self.path(parent), name.to_str()) else {
            return reply.error(libc::ENOENT);
        };
        match self.attr(&format!("{dir}/{name}")) {
            Ok(a) => reply.entry(&TTL, &a, 0),
            Err(e) => reply.error(e),
        }
    }

    fn getattr(&mut self, _req: &Request<'_>, ino: u64, _fh: Option<u64>, reply: ReplyAttr) {
        match self
            .path(ino)
            .ok_or(libc::ENOENT)
            .and_then(|p| self.attr(&p))
        {
            Ok(a) => reply.attr(&TTL, &a),
            Err(e) => reply.error(e),
        }
    }

    /// Truncation (`echo >` opens with O_TRUNC) changes nothing, as in sysfs.
    fn setattr(
        &mut self,
        req: &Request<'_>,
        ino: u64,
        _mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        _size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<u64>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<u32>,
        reply: ReplyAttr,
    ) {
        self.getattr(req, ino, None, reply)
    }

    /// kernfs_fop_open(): the file's mode decides, for root too.
    fn open(&mut self, _req: &Request<'_>, ino: u64, flags: i32, reply: ReplyOpen) {
        let mode = match self.path(ino).map(|p| self.kernel().k.sysfs_stat(&p)) {
            Some(Ok(Entry::File { mode })) => mode,
            Some(Ok(Entry::Dir)) => return reply.error(libc::EISDIR),
            Some(Err(e)) => return reply.error(e.code()),
            None => return reply.error(libc::ENOENT),
        };
        let acc = flags & libc::O_ACCMODE;
        let wants_read = acc == libc::O_RDONLY || acc == libc::O_RDWR;
        let wants_write = acc == libc::O_WRONLY || acc == libc::O_RDWR;
        if (wants_read && mode & 0o444 == 0) || (wants_write && mode & 0o222 == 0) {
            return reply.error(libc::EACCES);
        }
        reply.opened(0, fuser::consts::FOPEN_DIRECT_IO);
    }

    fn read(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _fh: u64,
        offset: i64,
        size: u32,
        _flags: i32,
        _lock: Option<u64>,
        reply: ReplyData,
    ) {
        let Some(path) = self.path(ino) else {
            return reply.error(libc::ENOENT);
        };
        match self.kernel().k.sysfs_read(&path) {
            Ok(s) => {
                let b = s.as_bytes();
                let from = (offset.max(0) as usize).min(b.len());
                let to = (from + size as usize).min(b.len());
                reply.data(&b[from..to]);
            }
            Err(e) => reply.error(e.code()),
        }
    }

    /// One write() is one store, whatever the offset (sysfs_kf_write()); the model's
    /// sysfs_write() takes the value without the newline `echo` adds and adds it back.
    fn write(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _fh: u64,
        _offset: i64,
        data: &[u8],
        _write_flags: u32,
        _flags: i32,
        _lock: Option<u64>,
        reply: ReplyWrite,
    ) {
        let Some(path) = self.path(ino) else {
            return reply.error(libc::ENOENT);
        };
        let Ok(text) = std::str::from_utf8(data) else {
            return reply.error(libc::EINVAL);
        };
        let value = text.strip_suffix('\n').unwrap_or(text);
        match self.kernel().k.sysfs_write(&path, value) {
            Ok(()) => reply.written(data.len() as u32),
            Err(e) => reply.error(e.code()),
        }
    }

    fn readdir(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _fh: u64,
        offset: i64,
        mut reply: ReplyDirectory,
    ) {
        let Some(path) = self.path(ino) else {
            return reply.error(libc::ENOENT);
        };
        let names = match self.kernel().k.sysfs_readdir(&path) {
            Ok(n) => n,
            Err(e) => return reply.error(e.code()),
        };
        let mut entries = vec![
            (ino, FileType::Directory, ".".to_string()),
            (ino, FileType::Directory, "..".to_string()),
        ];
        for n in names {
            let child = format!("{path}/{n}");
            if let Ok(a) = self.attr(&child) {
                entries.push((a.ino, a.kind, n));
            }
        }
        for (i, (ino, kind, name)) in entries.into_iter().enumerate().skip(offset as usize) {
            if reply.add(ino, i as i64 + 1, kind, name) {
                break;
            }
        }
        reply.ok();
    }
}

/// The model, its mount at `dir` and the clock thread; unmounted and stopped on drop.
struct Served {
    model: Arc<Mutex<Model>>,
    stop: Arc<AtomicBool>,
    clock: Option<std::thread::JoinHandle<()>>,
    session: Option<fuser::BackgroundSession>,
}

impl Served {
    fn start(args: &ModelArgs, dir: &Path) -> Result<Served, String> {
        if !(args.speed > 0.0 && args.speed.is_finite()) {
            return Err("--speed must be a positive number".into());
        }
        let model = Arc::new(Mutex::new(Model::new(args)?));
        let opts = [
            fuser::MountOption::FSName("mmlab".into()),
            fuser::MountOption::Subtype("mmlab-sysfs".into()),
        ];
        let session = fuser::spawn_mount2(ModelFs::new(model.clone()), dir, &opts)
            .map_err(|e| format!("mounting FUSE on {}: {e}", dir.display()))?;
        let stop = Arc::new(AtomicBool::new(false));
        let (m, s) = (model.clone(), stop.clone());
        let step_ms = ((TICK.as_millis() as f64 * args.speed).round() as u64).max(1);
        let clock = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                std::thread::sleep(TICK);
                m.lock().unwrap_or_else(|p| p.into_inner()).tick(step_ms);
            }
        });
        Ok(Served {
            model,
            stop,
            clock: Some(clock),
            session: Some(session),
        })
    }

    fn pid(&self) -> Option<u64> {
        self.model.lock().unwrap_or_else(|p| p.into_inner()).pid()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(c) = self.clock.take() {
            let _ = c.join();
        }
        // Dropping the session unmounts.
        self.session.take();
    }
}

fn cstr(p: &Path) -> Result<CString, String> {
    CString::new(p.as_os_str().as_encoded_bytes()).map_err(|_| format!("{}: NUL", p.display()))
}

fn os_err(what: &str) -> String {
    format!("{what}: {}", std::io::Error::last_os_error())
}

/// mount(2) with no data.
fn mount(src: Option<&Path>, dst: &Path, flags: libc::c_ulong) -> Result<(), String> {
    let d = cstr(dst)?;
    let s = src.map(cstr).transpose()?;
    let sp = s.as_ref().map_or(std::ptr::null(), |s| s.as_ptr());
    // SAFETY: NUL-terminated strings that outlive the call; no data argument.
    let r = unsafe { libc::mount(sp, d.as_ptr(), std::ptr::null(), flags, std::ptr::null()) };
    if r != 0 {
        return Err(os_err(&format!("mount {}", dst.display())));
    }
    Ok(())
}

/// mount(2) of a pseudo file system by its type.
fn mount_fs(fstype: &str, dst: &Path, flags: libc::c_ulong) -> Result<(), String> {
    let d = cstr(dst)?;
    let t = CString::new(fstype).map_err(|_| "NUL in a type".to_string())?;
    // SAFETY: NUL-terminated strings that outlive the call; no data argument.
    let r = unsafe { libc::mount(t.as_ptr(), d.as_ptr(), t.as_ptr(), flags, std::ptr::null()) };
    if r != 0 {
        return Err(os_err(&format!("mount -t {fstype} {}", dst.display())));
    }
    Ok(())
}

/// statfs(2)'s f_type of a path.
fn fs_type(p: &Path) -> Result<i64, String> {
    let c = cstr(p)?;
    // SAFETY: a zeroed statfs is a valid out-buffer; the path is NUL-terminated.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
        return Err(os_err(&format!("statfs {}", p.display())));
    }
    Ok(st.f_type as i64)
}

/// The deepest directory of the host's /sys on the way to `/sys/REL`: where the model's
/// `REL` (or its ancestor) is bind-mounted.
fn overlay_target(rel: &str) -> (PathBuf, String) {
    let parts: Vec<&str> = rel.split('/').collect();
    for n in (1..=parts.len()).rev() {
        let sub = parts[..n].join("/");
        let host = Path::new("/sys").join(&sub);
        if host.is_dir() {
            return (host, sub);
        }
    }
    (Path::new("/sys").join(parts[0]), parts[0].to_string())
}

/// Enter a mount namespace of our own whose mounts propagate nowhere (unshare -m,
/// mount --make-rprivate /). Must run while the process has one thread. Returns the original
/// namespace, to check the host's view with.
fn private_namespace() -> Result<std::fs::File, String> {
    let host =
        std::fs::File::open("/proc/self/ns/mnt").map_err(|e| format!("/proc/self/ns/mnt: {e}"))?;
    let before = std::fs::read_link("/proc/self/ns/mnt").map_err(|e| e.to_string())?;
    // SAFETY: plain syscall; the process is single-threaded here.
    if unsafe { libc::unshare(libc::CLONE_NEWNS) } != 0 {
        return Err(os_err("unshare(CLONE_NEWNS)"));
    }
    mount(None, Path::new("/"), libc::MS_REC | libc::MS_PRIVATE)?;
    let after = std::fs::read_link("/proc/self/ns/mnt").map_err(|e| e.to_string())?;
    if before == after {
        return Err("still in the original mount namespace".into());
    }
    Ok(host)
}

/// Refuse to go on unless the host's trees, seen from the original namespace (a child joins
/// it with setns()), are not the model's.
fn check_host_untouched(host_ns: &std::fs::File) -> Result<(), String> {
    use std::os::fd::AsRawFd;
    let paths: Vec<CString> = OVERLAYS
        .iter()
        .map(|rel| cstr(&overlay_target(rel).0))
        .collect::<Result<_, _>>()?;
    // SAFETY: the child makes only syscalls (setns, statfs, _exit) before it exits.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(os_err("fork"));
    }
    if pid == 0 {
        unsafe {
            if libc::setns(host_ns.as_raw_fd(), libc::CLONE_NEWNS) != 0 {
                libc::_exit(2);
            }
            for p in &paths {
                let mut st: libc::statfs = std::mem::zeroed();
                if libc::statfs(p.as_ptr(), &mut st) == 0 && st.f_type as i64 == FUSE_SUPER_MAGIC {
                    libc::_exit(1);
                }
            }
            libc::_exit(0);
        }
    }
    let mut status = 0;
    // SAFETY: waits for the child just forked.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    match libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)) {
        Some(0) => Ok(()),
        Some(1) => Err("the model's tree shows outside this namespace: stopping".into()),
        _ => Err("could not look at the host's tree from its namespace".into()),
    }
}

/// The DAMON tracepoints of 5.19 (include/trace/events/damon.h), as tracefs lists them.
const MODEL_EVENTS: &str = "damon:damon_aggregated\n";

/// damo learns the tracepoints from tracefs's available_events: tracefs read-only here
/// (nothing the tool does reaches the host's tracing) with the model's list over that file.
/// A tracefs the host has mounted is bound here, never mounted anew: a new tracefs mount
/// applies its (default) uid/gid/mode to the one shared superblock (tracefs_get_tree() ->
/// tracefs_reconfigure()), which the host's mounts would show; with none mounted there is no
/// one to see that, and every later mount sets its own. Returns the mounts made (none where
/// the kernel has no tracefs).
fn model_tracefs(events: &Path) -> Result<Vec<PathBuf>, String> {
    let t = PathBuf::from("/sys/kernel/tracing");
    std::fs::write(events, MODEL_EVENTS).map_err(|e| format!("{}: {e}", events.display()))?;
    if !t.is_dir() {
        return Ok(Vec::new());
    }
    let mounts = std::fs::read_to_string("/proc/self/mounts").map_err(|e| e.to_string())?;
    let host = mounts.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.get(2) == Some(&"tracefs")).then(|| PathBuf::from(f[1]))
    });
    let mounted = match host {
        Some(h) => mount(Some(&h), &t, libc::MS_BIND)
            .and_then(|()| mount(None, &t, libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY)),
        None => mount_fs("tracefs", &t, libc::MS_RDONLY),
    };
    if mounted.is_err() {
        return Ok(Vec::new());
    }
    let file = t.join("available_events");
    mount(Some(events), &file, libc::MS_BIND)?;
    Ok(vec![t, file])
}

/// `mmlab damon run-tool`: the model's trees over the host's in a namespace of our own, the
/// tool run there with HOME in a scratch directory (damo caches what it probed in
/// ~/.damo.sysinfo: the model's must not stand for the host's later).
fn run_tool(args: RunToolArgs) -> Result<i32, String> {
    let host_ns = private_namespace()?;
    let dir = std::env::temp_dir().join(format!("mmlab-damon-{}", std::process::id()));
    let (sys, home, events) = (
        dir.join("sys"),
        dir.join("home"),
        dir.join("available_events"),
    );
    for d in [&sys, &home] {
        std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
    }
    let result = (|| {
        let served = Served::start(&args.model, &sys)?;
        let mut mounts = Vec::new();
        for rel in OVERLAYS {
            let (host, sub) = overlay_target(rel);
            if !mounts.contains(&host) {
                mount(Some(&sys.join(&sub)), &host, libc::MS_BIND)?;
                mounts.push(host);
            }
        }
        mounts.extend(model_tracefs(&events)?);
        let status = check_host_untouched(&host_ns).and_then(|()| {
            if fs_type(Path::new("/sys/kernel/mm/damon"))? != FUSE_SUPER_MAGIC {
                return Err("/sys/kernel/mm/damon is not the model's".into());
            }
            let mut cmd = std::process::Command::new(&args.cmd[0]);
            cmd.args(&args.cmd[1..]).env("HOME", &home);
            if let Some(pid) = served.pid() {
                cmd.env("MMLAB_DAMON_PID", pid.to_string());
            }
            cmd.status().map_err(|e| format!("{}: {e}", args.cmd[0]))
        });
        for m in mounts.iter().rev() {
            let c = cstr(m)?;
            // SAFETY: a NUL-terminated path.
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
        drop(served);
        let status = status?;
        Ok(status.code().unwrap_or_else(|| {
            128 + std::os::unix::process::ExitStatusExt::signal(&status).unwrap_or(0)
        }))
    })();
    // The FUSE mount is gone (or dies with this namespace): nothing here reaches the model.
    let _ = std::fs::remove_dir_all(&home);
    let _ = std::fs::remove_file(&events);
    let _ = std::fs::remove_dir(&sys);
    let _ = std::fs::remove_dir(&dir);
    result
}

/// Block SIGINT and SIGTERM and wait for one (before any thread starts, so all inherit the
/// mask).
fn block_signals() -> libc::sigset_t {
    // SAFETY: sigset operations on a local set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

/// `mmlab damon serve`.
fn serve(args: ServeArgs) -> Result<i32, String> {
    let set = block_signals();
    let served = Served::start(&args.model, &args.mountpoint)?;
    match served.pid() {
        Some(pid) => println!(
            "serving the model's /sys on {} (workload PID {pid}); SIGINT or SIGTERM unmounts",
            args.mountpoint.display()
        ),
        None => println!(
            "serving the model's /sys on {}; SIGINT or SIGTERM unmounts",
            args.mountpoint.display()
        ),
    }
    let mut sig = 0;
    // SAFETY: waits on the blocked set.
    unsafe { libc::sigwait(&set, &mut sig) };
    drop(served);
    Ok(0)
}

/// Run `f`, its error printed as `mmlab damon`'s.
fn exit(r: Result<i32, String>) -> ExitCode {
    match r {
        Ok(c) => ExitCode::from(c.clamp(0, 255) as u8),
        Err(e) => {
            eprintln!("mmlab damon: {e}");
            ExitCode::from(2)
        }
    }
}

pub fn main_serve(args: ServeArgs) -> ExitCode {
    exit(serve(args))
}

pub fn main_run_tool(args: RunToolArgs) -> ExitCode {
    exit(run_tool(args))
}
