//! The agent: the process (or thread) a scenario task really is. It serves requests from the
//! runner on its channel: syscalls, protected memory accesses, fork and thread creation.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicI32, Ordering};

use crate::agent_space;
use crate::proto::{self, op, Reply, Request, REQUEST_BYTES};

extern "C" {
    fn mml_install_handlers() -> libc::c_int;
    fn mml_load(p: *const u8, out: *mut u8) -> libc::c_int;
    fn mml_store(p: *mut u8, v: u8) -> libc::c_int;
    fn mml_memset(p: *mut u8, v: u8, len: libc::size_t) -> libc::c_int;
    fn mml_touch(p: *const u8, len: libc::size_t, page: libc::size_t) -> libc::c_int;
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
    // Children are reaped by the kernel; an exited scenario process leaves no zombie behind.
    unsafe { libc::signal(libc::SIGCHLD, libc::SIG_IGN) };
    if let Err(e) = agent_space::set_apart() {
        eprintln!(
            "mmlab agent: cannot keep its memory apart from the scenario's: {}",
            e.0
        );
        unsafe { libc::_exit(121) };
    }
    let fd = park(fd);
    register(fd);
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
                    0,
                ],
            },
            // SAFETY (all syscalls below): arguments are the scenario's; the kernel checks them.
            op::MMAP => {
                let p = unsafe {
                    libc::mmap(
                        r[1] as *mut _,
                        r[2] as usize,
                        r[3] as i32,
                        r[4] as i32,
                        r[5] as i64 as i32,
                        r[6] as i64,
                    )
                };
                if p == libc::MAP_FAILED {
                    Reply {
                        status: errno(),
                        v: [0; 3],
                    }
                } else {
                    Reply::ok(p as u64)
                }
            }
            op::MUNMAP => sys(unsafe { libc::munmap(r[1] as *mut _, r[2] as usize) } as i64),
            op::MREMAP => {
                sys(unsafe { libc::syscall(libc::SYS_mremap, r[1], r[2], r[3], r[4], r[5]) })
            }
            op::MPROTECT => {
                sys(unsafe { libc::mprotect(r[1] as *mut _, r[2] as usize, r[3] as i32) } as i64)
            }
            op::MADVISE => {
                sys(unsafe { libc::madvise(r[1] as *mut _, r[2] as usize, r[3] as i32) } as i64)
            }
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
                    register(tfd);
                    match spawn_thread(tfd, r[1]) {
                        Ok(()) => Reply::ok(0),
                        Err(e) => Reply {
                            status: e as i64,
                            v: [0; 3],
                        },
                    }
                }
            },
            op::MEMFD_CREATE => {
                let len = (r[2] as usize).min(proto::MAX_NAME);
                let mut name = [0u8; proto::MAX_NAME + 1];
                // SAFETY: reads the name into a stack buffer that keeps a terminating NUL.
                let got =
                    unsafe { libc::recv(fd, name.as_mut_ptr().cast(), len, libc::MSG_WAITALL) };
                if got != len as isize {
                    break;
                }
                sys(unsafe { libc::memfd_create(name.as_ptr().cast(), r[1] as u32) } as i64)
            }
            op::FTRUNCATE => sys(unsafe { libc::ftruncate(r[1] as i32, r[2] as i64) } as i64),
            op::USERFAULTFD => {
                // SAFETY: a plain syscall with an integer argument.
                sys(unsafe { libc::syscall(libc::SYS_userfaultfd, r[1] as libc::c_int) })
            }
            op::FCNTL => {
                // SAFETY: fcntl with integer arguments (the seal commands).
                sys(unsafe { libc::fcntl(r[1] as i32, r[2] as i32, r[3] as libc::c_int) } as i64)
            }
            op::UFFDIO_API => uffd::api(r[1], r[2], r[3]),
            op::UFFDIO_REGISTER => uffd::register(r[1], r[2], r[3], r[4]),
            op::UFFDIO_UNREGISTER => uffd::unregister(r[1], r[2], r[3]),
            op::UFFDIO_COPY => uffd::copy(r[1], r[2], r[3], r[4], r[5]),
            op::UFFDIO_ZEROPAGE => uffd::fill(r[1], uffd::UFFDIO_ZEROPAGE, r[2], r[3], r[4]),
            op::UFFDIO_CONTINUE => uffd::fill(r[1], uffd::UFFDIO_CONTINUE, r[2], r[3], r[4]),
            op::UFFDIO_WRITEPROTECT => uffd::writeprotect(r[1], r[2], r[3], r[4]),
            op::UFFDIO_WAKE => uffd::wake(r[1], r[2], r[3]),
            op::UFFD_READ => uffd::read(r[1]),
            op::FALLOCATE => {
                sys(
                    unsafe { libc::fallocate(r[1] as i32, r[2] as i32, r[3] as i64, r[4] as i64) }
                        as i64,
                )
            }
            op::CLOSE => {
                // The agent's own channels are not the scenario's to close: they look unopened.
                let own = CHANNELS
                    .iter()
                    .any(|c| c.load(Ordering::SeqCst) == r[1] as i32);
                if own || r[1] > i32::MAX as u64 {
                    Reply {
                        status: libc::EBADF as i64,
                        v: [0; 3],
                    }
                } else {
                    sys(unsafe { libc::close(r[1] as i32) } as i64)
                }
            }
            // exit_group(): the runner sees every channel of the process close.
            op::EXIT => unsafe { libc::_exit(r[1] as i32) },
            _ => Reply {
                status: libc::ENOSYS as i64,
                v: [0; 3],
            },
        };
        if !send(fd, &reply) {
            break;
        }
    }
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
/// channel it inherited; the parent replies with the child's pid.
fn fork(fd: RawFd, child_fd: RawFd) -> Reply {
    // SAFETY: the child only closes fds, touches its stack and serves its channel.
    match unsafe { libc::fork() } {
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
            serve(child_fd);
            unsafe { libc::_exit(0) }
        }
        pid => {
            unsafe { libc::close(child_fd) };
            prefault_stack();
            Reply::ok(pid as u64)
        }
    }
}

/// The userfaultfd ioctls, with the uapi structs laid out as the kernel reads them.
mod uffd {
    use super::{errno, Reply};

    #[repr(C)]
    struct UffdioApi {
        api: u64,
        features: u64,
        ioctls: u64,
    }

    #[repr(C)]
    struct UffdioRange {
        start: u64,
        len: u64,
    }

    #[repr(C)]
    struct UffdioRegister {
        range: UffdioRange,
        mode: u64,
        ioctls: u64,
    }

    /// _IOWR(0xAA, 0x3F, struct uffdio_api), _IOWR(0xAA, 0x00, struct uffdio_register),
    /// _IOR(0xAA, 0x01, struct uffdio_range).
    const UFFDIO_API: u64 = 0xC018_AA3F;
    const UFFDIO_REGISTER: u64 = 0xC020_AA00;
    const UFFDIO_UNREGISTER: u64 = 0x8010_AA01;

    fn ioctl<T>(fd: u64, req: u64, arg: &mut T) -> Result<(), Reply> {
        // SAFETY: `arg` is a live, properly laid out struct the ioctl reads and writes.
        let rc = unsafe { libc::ioctl(fd as libc::c_int, req as libc::c_ulong, arg as *mut T) };
        if rc == -1 {
            Err(Reply {
                status: errno(),
                v: [0; 3],
            })
        } else {
            Ok(())
        }
    }

    pub fn api(fd: u64, api: u64, features: u64) -> Reply {
        let mut a = UffdioApi {
            api,
            features,
            ioctls: 0,
        };
        match ioctl(fd, UFFDIO_API, &mut a) {
            Ok(()) => Reply {
                status: 0,
                v: [a.features, a.ioctls, 0],
            },
            Err(r) => r,
        }
    }

    pub fn register(fd: u64, start: u64, len: u64, mode: u64) -> Reply {
        let mut a = UffdioRegister {
            range: UffdioRange { start, len },
            mode,
            ioctls: 0,
        };
        match ioctl(fd, UFFDIO_REGISTER, &mut a) {
            Ok(()) => Reply::ok(a.ioctls),
            Err(r) => r,
        }
    }

    pub fn unregister(fd: u64, start: u64, len: u64) -> Reply {
        let mut a = UffdioRange { start, len };
        match ioctl(fd, UFFDIO_UNREGISTER, &mut a) {
            Ok(()) => Reply::ok(0),
            Err(r) => r,
        }
    }

    /// struct uffdio_copy.
    #[repr(C)]
    struct UffdioCopy {
        dst: u64,
        src: u64,
        len: u64,
        mode: u64,
        copy: i64,
    }
    /// struct uffdio_zeropage and struct uffdio_continue: a range, a mode, the result.
    #[repr(C)]
    struct UffdioFill {
        range: UffdioRange,
        mode: u64,
        result: i64,
    }
    /// struct uffdio_writeprotect.
    #[repr(C)]
    struct UffdioWriteprotect {
        range: UffdioRange,
        mode: u64,
    }
    const UFFDIO_COPY: u64 = 0xC028_AA03;
    pub const UFFDIO_ZEROPAGE: u64 = 0xC020_AA04;
    const UFFDIO_WRITEPROTECT: u64 = 0xC018_AA06;
    pub const UFFDIO_CONTINUE: u64 = 0xC020_AA07;
    const UFFDIO_WAKE: u64 = 0x8010_AA02;

    pub fn copy(fd: u64, dst: u64, src: u64, len: u64, mode: u64) -> Reply {
        let mut a = UffdioCopy {
            dst,
            src,
            len,
            mode,
            copy: 0,
        };
        match ioctl(fd, UFFDIO_COPY, &mut a) {
            Ok(()) => Reply::ok(a.copy as u64),
            Err(r) => r,
        }
    }

    /// UFFDIO_ZEROPAGE or UFFDIO_CONTINUE.
    pub fn fill(fd: u64, req: u64, start: u64, len: u64, mode: u64) -> Reply {
        let mut a = UffdioFill {
            range: UffdioRange { start, len },
            mode,
            result: 0,
        };
        match ioctl(fd, req, &mut a) {
            Ok(()) => Reply::ok(a.result as u64),
            Err(r) => r,
        }
    }

    pub fn writeprotect(fd: u64, start: u64, len: u64, mode: u64) -> Reply {
        let mut a = UffdioWriteprotect {
            range: UffdioRange { start, len },
            mode,
        };
        match ioctl(fd, UFFDIO_WRITEPROTECT, &mut a) {
            Ok(()) => Reply::ok(0),
            Err(r) => r,
        }
    }

    pub fn wake(fd: u64, start: u64, len: u64) -> Reply {
        let mut a = UffdioRange { start, len };
        match ioctl(fd, UFFDIO_WAKE, &mut a) {
            Ok(()) => Reply::ok(0),
            Err(r) => r,
        }
    }

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
