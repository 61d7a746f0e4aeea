//! The agent: the process (or thread) a scenario task really is. It serves requests from the
//! runner on its channel: syscalls, protected memory accesses, fork and thread creation.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicI32, Ordering};

use crate::agent_space;
use crate::proto::{self, op, ArgSlot, Reply, Request, REQUEST_BYTES};

extern "C" {
    fn mml_install_handlers() -> libc::c_int;
    fn mml_last_si_code() -> libc::c_int;
    fn mml_load(p: *const u8, out: *mut u8) -> libc::c_int;
    fn mml_store(p: *mut u8, v: u8) -> libc::c_int;
    fn mml_memset(p: *mut u8, v: u8, len: libc::size_t) -> libc::c_int;
    fn mml_touch(p: *const u8, len: libc::size_t, page: libc::size_t) -> libc::c_int;
    fn mml_fill(p: *mut u8, len: libc::size_t, seed: u8, shift: libc::c_uint) -> libc::c_int;
    fn mml_mismatch_pattern(
        p: *const u8,
        len: libc::size_t,
        seed: u8,
        shift: libc::c_uint,
        at: *mut libc::size_t,
        got: *mut u8,
    ) -> libc::c_int;
    fn mml_memcmp(
        a: *const u8,
        b: *const u8,
        len: libc::size_t,
        at: *mut libc::size_t,
        ga: *mut u8,
        gb: *mut u8,
    ) -> libc::c_int;
    fn mml_mismatch(
        p: *const u8,
        len: libc::size_t,
        v: u8,
        at: *mut libc::size_t,
        got: *mut u8,
    ) -> libc::c_int;
}

/// The channels of this process's tasks, so a forked child can close its parent's.
static CHANNELS: [AtomicI32; 64] = [const { AtomicI32::new(-1) }; 64];

/// Where the agent keeps its channels: above any descriptor a scenario opens, so that the
/// scenario's descriptors are numbered from 3 up, as on the model (get_unused_fd_flags() takes
/// the lowest free one).
const CHANNEL_FDS: RawFd = 512;

/// Move the channel `fd` to the lowest free descriptor from CHANNEL_FDS up.
fn park(fd: RawFd) -> RawFd {
    // SAFETY: duplicates and closes a descriptor of our own.
    unsafe {
        let high = libc::fcntl(fd, libc::F_DUPFD, CHANNEL_FDS);
        if high < 0 {
            return fd;
        }
        libc::close(fd);
        high
    }
}

fn register(fd: RawFd) {
    for slot in &CHANNELS {
        if slot
            .compare_exchange(-1, fd, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            return;
        }
    }
}

/// Entry point of an agent process: `fd` is its channel to the runner.
pub fn main(fd: RawFd) -> ! {
    // SAFETY: installs signal handlers defined in access.c; no Rust state is touched.
    if unsafe { mml_install_handlers() } != 0 {
        unsafe { libc::_exit(120) };
    }
    // SIGCHLD keeps its default action: an exited child stays a zombie until the scenario
    // reaps it with wait4(), or until this process exits and the child goes to init, which
    // reaps it.
    if let Err(e) = agent_space::set_apart() {
        eprintln!(
            "mmlab agent: cannot keep its memory apart from the scenario's: {}",
            e.0
        );
        unsafe { libc::_exit(121) };
    }
    // The model's processes create files with this umask (`mmlab::fs::namei::UMASK`).
    unsafe { libc::umask(mmlab::fs::namei::UMASK as libc::mode_t) };
    let fd = park(fd);
    register(fd);
    OWN_WRITABLE.get_or_init(private_writable);
    prefault_files();
    serve(fd);
    unsafe { libc::_exit(0) }
}

fn errno() -> i64 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO) as i64
}

fn sys(ret: i64) -> Reply {
    if ret == -1 {
        Reply {
            status: errno(),
            v: [0; 3],
        }
    } else {
        Reply::ok(ret as u64)
    }
}

fn signal(sig: libc::c_int) -> Reply {
    Reply {
        status: if sig == 0 { 0 } else { -(sig as i64) },
        v: [0; 3],
    }
}

fn send(fd: RawFd, r: &Reply) -> bool {
    let b = r.encode();
    // SAFETY: writes a stack buffer to our own socket.
    unsafe { libc::write(fd, b.as_ptr().cast(), b.len()) == b.len() as isize }
}

/// Receive one request and, if present, one passed file descriptor. Into buffers on the stack:
/// the agent allocates nothing while it serves (see `agent_space`).
fn receive(fd: RawFd) -> Option<(Request, Option<RawFd>)> {
    /// Room for one SCM_RIGHTS control message with one descriptor, aligned as cmsghdr.
    #[repr(C, align(8))]
    struct Control([u8; 32]);
    let mut buf = [0u8; REQUEST_BYTES];
    let mut control = Control([0; 32]);
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: msghdr is plain data; every pointer in it refers to a live stack buffer.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.0.as_mut_ptr().cast();
    // SAFETY: CMSG_SPACE only computes a size.
    msg.msg_controllen = unsafe { libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) } as usize;
    // SAFETY: recvmsg fills the buffers `msg` describes.
    let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_WAITALL) };
    if n != REQUEST_BYTES as isize {
        return None;
    }
    let mut passed = None;
    // SAFETY: walks the control messages the kernel wrote into `control`.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                passed = Some(park(std::ptr::read_unaligned(
                    libc::CMSG_DATA(c).cast::<RawFd>(),
                )));
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Some((proto::decode_request(&buf), passed))
}

/// Touch the stack so that the first command after a fork does not show COW faults of the
/// agent's own memory in the scenario's fault counts.
#[inline(never)]
fn prefault_stack() {
    let mut probe = [0u8; 64 * 1024];
    for i in (0..probe.len()).step_by(4096) {
        // SAFETY: a volatile write into our own stack array.
        unsafe { std::ptr::write_volatile(&mut probe[i], 1) };
    }
    std::hint::black_box(&probe);
}

/// The agent's own file-backed mappings (its code, libc's) as found at start, before any
/// scenario step could map a file of its own.
static OWN_FILES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();

/// Readable file-backed lines of /proc/self/maps, whole (range, offset, inode and path).
fn file_mappings() -> Vec<String> {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    maps.lines()
        .filter(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() >= 6 && f[1].starts_with('r') && f[5].starts_with('/')
        })
        .map(str::to_owned)
        .collect()
}

/// Map every page of the agent's own file-backed mappings: code a request runs for the first
/// time would otherwise fault its page in, and that minor fault would show in the scenario's
/// fault counts. A forked child does not inherit these PTEs (fork copies no page tables for
/// them), so it does this again. Only mappings recorded at start are touched, never a memfd or
/// file the scenario mapped, whose residency is what the scenario observes.
fn prefault_files() {
    let own = OWN_FILES.get_or_init(file_mappings);
    for line in file_mappings().iter().filter(|l| own.contains(l)) {
        let Some((a, b)) = line
            .split_whitespace()
            .next()
            .and_then(|r| r.split_once('-'))
        else {
            continue;
        };
        let (Ok(a), Ok(b)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16)) else {
            continue;
        };
        // SAFETY: populating our own mapping read-only changes no data; errors are ignored.
        unsafe { libc::madvise(a as *mut _, b - a, libc::MADV_POPULATE_READ) };
    }
}

/// The agent's own private writable mappings as found at start (its statics, libc's and ld.so's
/// data, their anonymous data, the heap, the stack), before any scenario step could map
/// anything: start and end of each.
static OWN_WRITABLE: std::sync::OnceLock<Vec<(usize, usize)>> = std::sync::OnceLock::new();

/// The private writable lines of /proc/self/maps: start, end and name (empty if anonymous).
fn private_writable_lines() -> Vec<(usize, usize, String)> {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    maps.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() < 5 || !f[1].starts_with("rw") || !f[1].ends_with('p') {
                return None;
            }
            let (a, b) = f[0].split_once('-')?;
            let name = f.get(5).map_or(String::new(), |n| (*n).to_owned());
            Some((
                usize::from_str_radix(a, 16).ok()?,
                usize::from_str_radix(b, 16).ok()?,
                name,
            ))
        })
        .collect()
}

fn private_writable() -> Vec<(usize, usize)> {
    private_writable_lines()
        .into_iter()
        .map(|(a, b, _)| (a, b))
        .collect()
}

/// Make every present page of the agent's own private writable memory writable in its page
/// table again, by a write fault of the kernel's (MADV_POPULATE_WRITE, which changes no data),
/// so that the faults are counted now, before the reply, and not in the scenario's `minflt()`.
///
/// Why: `minflt()` is the whole process's count (/proc/PID/stat sums every thread's), so it
/// counts the agent's faults on its own memory too, and the model has no agent. After fork(),
/// `copy_present_pte()` write-protects every private writable page in the parent as well as in
/// the child, so the agent's next write to each page of its data, heap, stacks and TLS (or the
/// kernel's, to a thread's rseq area on its return to user space) would take a COW or reuse
/// fault in the middle of the scenario's steps, at times of the scheduler's (fuzz finding 011).
/// Breaking COW on each present page once, in the parent before it replies to FORK and in the
/// child before it serves, takes those faults before the runner reads a count. Pages the agent
/// never touched are left alone: they were not present before fork() either, so they are no new
/// source of faults, and populating them would only grow the agent's resident memory.
///
/// Which memory is the agent's: the private writable mappings found at start (the heap and the
/// stack at their current extent, for they may have grown since) and the stacks of the threads
/// it started in its region (see `agent_space`); never a mapping of the scenario's, whose
/// faults are what `minflt()` is for.
fn prefault_writable() {
    let own = OWN_WRITABLE.get_or_init(private_writable);
    for (a, b, name) in private_writable_lines() {
        let ours = name == "[heap]"
            || name == "[stack]"
            || agent_space::in_region(a as u64, b as u64)
            || own.iter().any(|&(oa, ob)| oa <= a && b <= ob);
        if ours {
            populate_present_for_write(a, b);
        }
    }
}

/// MADV_POPULATE_WRITE on each run of present pages (mincore()) of `[a, b)`.
fn populate_present_for_write(a: usize, b: usize) {
    const PAGE: usize = 4096;
    const CHUNK: usize = 512;
    let mut vec = [0u8; CHUNK];
    let mut at = a;
    while at < b {
        let pages = ((b - at) / PAGE).min(CHUNK);
        // SAFETY: mincore() writes one byte per page of our own range into `vec`.
        if unsafe { libc::mincore(at as *mut _, pages * PAGE, vec.as_mut_ptr()) } != 0 {
            return;
        }
        let mut i = 0;
        while i < pages {
            if vec[i] & 1 == 0 {
                i += 1;
                continue;
            }
            let run = vec[i..pages].iter().take_while(|v| *v & 1 != 0).count();
            // SAFETY: a write fault on pages of our own that are mapped and writable; it
            // changes no data. Errors are ignored (the faults then come later).
            unsafe {
                libc::madvise(
                    (at + i * PAGE) as *mut _,
                    run * PAGE,
                    libc::MADV_POPULATE_WRITE,
                )
            };
            i += run;
        }
        at += pages * PAGE;
    }
}

/// The minor faults the calling thread has taken (getrusage(RUSAGE_THREAD), its own
/// `min_flt`; a new thread's starts at 0, and so does a forked child's).
fn thread_minflt() -> u64 {
    // SAFETY: getrusage() fills a struct on the stack.
    unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_THREAD, &mut ru);
        ru.ru_minflt as u64
    }
}

fn set_affinity(cpu: u64) -> Reply {
    let mut set = nix::sched::CpuSet::new();
    match set
        .set(cpu as usize)
        .and_then(|_| nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set))
    {
        Ok(()) => Reply::ok(0),
        Err(e) => Reply {
            status: e as i64,
            v: [0; 3],
        },
    }
}

/// Serve requests on `fd` until the runner goes away or the process exits.
pub fn serve(fd: RawFd) {
    prefault_stack();
    while let Some((r, passed)) = receive(fd) {
        let reply = match r[0] {
            op::HELLO => Reply {
                status: 0,
                v: [
                    std::process::id() as u64,
                    nix::unistd::gettid().as_raw() as u64,
                    thread_minflt(),
                ],
            },
            op::SYSCALL => match syscall(fd, &r) {
                Some(reply) => reply,
                // The string did not arrive: the runner is gone.
                None => break,
            },
            op::IOCTL => ioctl(&r),
            op::FSTAT => fstat(r[1]),
            op::SETAFFINITY => set_affinity(r[1]),
            // SAFETY (accesses): the C shim turns a fault of the access into a return value.
            op::LOAD => {
                let mut b = 0u8;
                let s = unsafe { mml_load(r[1] as *const u8, &mut b) };
                Reply {
                    v: [b as u64, 0, 0],
                    ..signal(s)
                }
            }
            op::STORE => signal(unsafe { mml_store(r[1] as *mut u8, r[2] as u8) }),
            op::MEMSET => signal(unsafe { mml_memset(r[1] as *mut u8, r[2] as u8, r[3] as usize) }),
            op::TOUCH => signal(unsafe { mml_touch(r[1] as *const u8, r[2] as usize, 4096) }),
            op::MISMATCH => {
                let (mut at, mut got) = (0usize, 0u8);
                let s = unsafe {
                    mml_mismatch(
                        r[1] as *const u8,
                        r[2] as usize,
                        r[3] as u8,
                        &mut at,
                        &mut got,
                    )
                };
                Reply {
                    v: [at as u64, got as u64, 0],
                    ..signal(s)
                }
            }
            op::FILL => signal(unsafe {
                mml_fill(
                    r[1] as *mut u8,
                    r[2] as usize,
                    r[3] as u8,
                    r[4] as libc::c_uint,
                )
            }),
            op::MISMATCH_PATTERN => {
                let (mut at, mut got) = (0usize, 0u8);
                let s = unsafe {
                    mml_mismatch_pattern(
                        r[1] as *const u8,
                        r[2] as usize,
                        r[3] as u8,
                        r[4] as libc::c_uint,
                        &mut at,
                        &mut got,
                    )
                };
                Reply {
                    v: [at as u64, got as u64, 0],
                    ..signal(s)
                }
            }
            op::MEMCMP => {
                let (mut at, mut ga, mut gb) = (0usize, 0u8, 0u8);
                let s = unsafe {
                    mml_memcmp(
                        r[1] as *const u8,
                        r[2] as *const u8,
                        r[3] as usize,
                        &mut at,
                        &mut ga,
                        &mut gb,
                    )
                };
                Reply {
                    v: [at as u64, ga as u64, gb as u64],
                    ..signal(s)
                }
            }
            op::FORK => match passed {
                None => Reply {
                    status: libc::EINVAL as i64,
                    v: [0; 3],
                },
                Some(child_fd) => fork(fd, child_fd),
            },
            op::THREAD => match passed {
                None => Reply {
                    status: libc::EINVAL as i64,
                    v: [0; 3],
                },
                Some(tfd) => {
                    let f0 = thread_minflt();
                    register(tfd);
                    match spawn_thread(tfd, r[1]) {
                        Ok(()) => Reply {
                            status: 0,
                            v: [0, thread_minflt() - f0, 0],
                        },
                        Err(e) => Reply {
                            status: e as i64,
                            v: [0; 3],
                        },
                    }
                }
            },
            op::UFFD_READ => uffd::read(r[1]),
            op::CAPSET => capset(r[1], r[2], r[3]),
            op::AGENT => crate::gup_calls::serve(&r, scenario_fd),
            // exit_group(status), or the signal's default action ends the process: the runner
            // sees every channel of the process close.
            op::EXIT => exit(r[1], r[2]),
            op::WAIT4 => wait4(r[1], r[2]),
            op::GETRUSAGE => getrusage(r[1]),
            _ => Reply {
                status: libc::ENOSYS as i64,
                v: [0; 3],
            },
        };
        let mut reply = reply;
        if reply.status < 0 {
            // SAFETY: reads this thread's copy of the handler's last si_code.
            reply.v[2] = unsafe { mml_last_si_code() } as u64;
        }
        if !send(fd, &reply) {
            break;
        }
    }
}

/// End the process: exit_group(status), or kill(getpid(), sig) when `sig` is not 0 (a signal
/// whose default action terminates), waiting for it to take effect.
fn exit(status: u64, sig: u64) -> ! {
    // SAFETY: ends this process; nothing is touched after.
    unsafe {
        if sig != 0 {
            libc::kill(libc::getpid(), sig as libc::c_int);
            loop {
                libc::pause();
            }
        }
        libc::_exit(status as libc::c_int)
    }
}

/// wait4(2) with WNOHANG added to `options`, so the agent never sleeps in it.
fn wait4(pid: u64, options: u64) -> Reply {
    let mut status: libc::c_int = 0;
    // SAFETY: wait4() writes the status and the rusage on the stack.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let got = unsafe {
        libc::syscall(
            libc::SYS_wait4,
            pid as u32 as libc::c_int,
            &mut status,
            (options as u32 | libc::WNOHANG as u32) as libc::c_int,
            &mut ru,
        )
    };
    if got < 0 {
        return sys(got);
    }
    Reply {
        status: 0,
        v: [
            got as u64 | (status as u32 as u64) << 32,
            ru.ru_minflt as u64,
            ru.ru_majflt as u64 | (ru.ru_maxrss as u64) << 32,
        ],
    }
}

/// getrusage(2) of `who` (RUSAGE_SELF, RUSAGE_CHILDREN, RUSAGE_THREAD).
fn getrusage(who: u64) -> Reply {
    // SAFETY: getrusage() writes a struct on the stack.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::syscall(libc::SYS_getrusage, who as u32 as libc::c_int, &mut ru) };
    if rc < 0 {
        return sys(rc);
    }
    Reply {
        status: 0,
        v: [
            ru.ru_minflt as u64,
            ru.ru_majflt as u64,
            ru.ru_maxrss as u64,
        ],
    }
}

/// fstat(2) of a scenario descriptor into a struct on the stack.
fn fstat(fd: u64) -> Reply {
    // SAFETY: fstat() writes only the stat buffer it is given.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(scenario_fd(fd) as i32, &mut st) } != 0 {
        return Reply {
            status: errno(),
            v: [0; 3],
        };
    }
    Reply {
        status: 0,
        v: [
            st.st_size as u64,
            st.st_blocks as u64,
            st.st_mode as u64 | (st.st_nlink as u64) << 32,
        ],
    }
}

/// A descriptor argument as the kernel will read it (an `unsigned int`): one of the agent's own
/// channels is not the scenario's, so it becomes a descriptor that is never open (above the
/// largest fs.nr_open), as unopened as it is on the model.
fn scenario_fd(v: u64) -> u64 {
    let fd = v as u32 as i32;
    if CHANNELS.iter().any(|c| c.load(Ordering::SeqCst) == fd) {
        i32::MAX as u64
    } else {
        v
    }
}

/// A SYSCALL request: syscall(2) by number with the scenario's arguments, a string one read
/// from the channel after the request into a buffer on the stack. None if the string does not
/// arrive.
fn syscall(chan: RawFd, r: &Request) -> Option<Reply> {
    let (nr, kinds) = (r[1] as libc::c_long, r[2]);
    let mut text = [0u8; proto::MAX_NAME + 1];
    let mut a = [0u64; 6];
    for (i, slot) in a.iter_mut().enumerate() {
        *slot = match ArgSlot::of(kinds, i) {
            ArgSlot::Value => r[3 + i],
            ArgSlot::Fd => scenario_fd(r[3 + i]),
            ArgSlot::Str => {
                let len = (r[3 + i] as usize).min(proto::MAX_NAME);
                // An empty string has no bytes to wait for: recv() of 0 bytes with MSG_WAITALL
                // on a stream socket would wait for one (sock_rcvlowat() is 1).
                // SAFETY: reads into a stack buffer that keeps a terminating NUL.
                let got = match len {
                    0 => 0,
                    _ => unsafe {
                        libc::recv(chan, text.as_mut_ptr().cast(), len, libc::MSG_WAITALL)
                    },
                };
                if got != len as isize {
                    return None;
                }
                text.as_ptr() as u64
            }
        };
    }
    // SAFETY: the scenario's syscall with its arguments; the kernel checks them, and a string
    // argument points at `text`, alive for the call.
    Some(sys(unsafe {
        libc::syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5])
    }))
}

/// capset(2) of the calling thread with _LINUX_CAPABILITY_VERSION_3: each 64-bit set as its
/// two 32-bit words.
fn capset(effective: u64, permitted: u64, inheritable: u64) -> Reply {
    const VERSION_3: u32 = 0x2008_0522;
    let header: [u32; 2] = [VERSION_3, 0];
    let data: [u32; 6] = [
        effective as u32,
        permitted as u32,
        inheritable as u32,
        (effective >> 32) as u32,
        (permitted >> 32) as u32,
        (inheritable >> 32) as u32,
    ];
    // SAFETY: both structs live on this frame for the call.
    sys(unsafe { libc::syscall(libc::SYS_capset, header.as_ptr(), data.as_ptr()) })
}

/// An IOCTL request: ioctl(2) with a struct of 64-bit words on the stack.
fn ioctl(r: &Request) -> Reply {
    let (fd, req, out) = (scenario_fd(r[1]), r[2], r[3] as usize);
    let words = ((req >> 16) & 0x3fff) as usize / 8;
    let mut arg = [0u64; proto::IOCTL_WORDS];
    if words > arg.len() || out > words {
        return Reply {
            status: libc::EINVAL as i64,
            v: [0; 3],
        };
    }
    arg[..words].copy_from_slice(&r[4..4 + words]);
    // SAFETY: `arg` is a live struct of the size the request code says; the kernel reads and
    // writes it.
    let rc = unsafe { libc::ioctl(fd as libc::c_int, req as libc::c_ulong, arg.as_mut_ptr()) };
    if rc == -1 {
        return Reply {
            status: errno(),
            v: [0; 3],
        };
    }
    Reply::ok(out.checked_sub(1).map_or(0, |o| arg[o]))
}

/// Start a thread that serves `chan` on CPU `cpu`, its stack in the agent's region
/// (pthread_create() with a stack of the caller's allocates none of its own).
fn spawn_thread(chan: RawFd, cpu: u64) -> Result<(), i32> {
    extern "C" fn start(arg: *mut libc::c_void) -> *mut libc::c_void {
        let arg = arg as u64;
        set_affinity(arg >> 32);
        serve(arg as u32 as RawFd);
        std::ptr::null_mut()
    }
    let (stack, len) = agent_space::take_stack()?;
    let arg = ((cpu << 32) | chan as u32 as u64) as *mut libc::c_void;
    // SAFETY: the attribute lives on this frame; the stack is ours for the thread's whole life
    // (a detached thread that is never joined).
    unsafe {
        let mut attr: libc::pthread_attr_t = std::mem::zeroed();
        libc::pthread_attr_init(&mut attr);
        libc::pthread_attr_setstack(&mut attr, stack, len);
        libc::pthread_attr_setdetachstate(&mut attr, libc::PTHREAD_CREATE_DETACHED);
        let mut thread: libc::pthread_t = 0;
        let rc = libc::pthread_create(&mut thread, &attr, start, arg);
        libc::pthread_attr_destroy(&mut attr);
        if rc == 0 {
            Ok(())
        } else {
            Err(rc)
        }
    }
}

/// fork(2) on behalf of the scenario: the child serves `child_fd` and closes every other
/// channel it inherited; the parent replies with the child's pid. The raw syscall, not libc's
/// fork(): that one holds libc's locks (the thread list among them) across the syscall, so a
/// thread() of another task while this one sleeps in fork() on a userfaultfd FORK event would
/// wait for it for ever (fuzz finding 006); the kernel lets it run. The agent's other threads
/// are parked in a read of their channel or asleep in a fault, holding no libc lock.
fn fork(fd: RawFd, child_fd: RawFd) -> Reply {
    let f0 = thread_minflt();
    // SAFETY: the child only closes fds, touches its stack and serves its channel.
    match unsafe { libc::syscall(libc::SYS_fork) } as libc::pid_t {
        -1 => Reply {
            status: errno(),
            v: [0; 3],
        },
        0 => {
            for slot in &CHANNELS {
                let c = slot.swap(-1, Ordering::SeqCst);
                if c >= 0 && c != child_fd {
                    unsafe { libc::close(c) };
                }
            }
            register(child_fd);
            let _ = fd;
            prefault_files();
            prefault_writable();
            serve(child_fd);
            unsafe { libc::_exit(0) }
        }
        pid => {
            unsafe { libc::close(child_fd) };
            prefault_stack();
            prefault_writable();
            Reply {
                status: 0,
                v: [pid as u64, thread_minflt() - f0, 0],
            }
        }
    }
}

/// read(2) of a userfaultfd's messages.
mod uffd {
    use super::{errno, Reply};

    /// read(2) of one 32-byte uffd_msg without ever sleeping: a blocking descriptor is made
    /// non-blocking for the one read, and an empty queue there reads as event 0.
    pub fn read(fd: u64) -> Reply {
        let fd = fd as libc::c_int;
        // SAFETY: fcntl and read on the scenario's descriptor into a stack buffer.
        unsafe {
            let fl = libc::fcntl(fd, libc::F_GETFL);
            if fl == -1 {
                return Reply {
                    status: errno(),
                    v: [0; 3],
                };
            }
            let blocking = fl & libc::O_NONBLOCK == 0;
            if blocking {
                libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK);
            }
            let mut msg = [0u8; 32];
            let n = libc::read(fd, msg.as_mut_ptr().cast(), 32);
            let err = errno();
            if blocking {
                libc::fcntl(fd, libc::F_SETFL, fl);
            }
            if n == 32 {
                let w = |i: usize| u64::from_le_bytes(msg[i..i + 8].try_into().expect("8 bytes"));
                // The event byte, with the argument's third word above it.
                return Reply {
                    status: 0,
                    v: [msg[0] as u64 | w(24) << 8, w(8), w(16)],
                };
            }
            if blocking && err == libc::EAGAIN as i64 {
                return Reply::ok(0);
            }
            Reply {
                status: err,
                v: [0; 3],
            }
        }
    }
}
