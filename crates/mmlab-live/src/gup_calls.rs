//! The agent's side of the GUP calls (mmlab-scenario's `gup_agent_op`): the syscalls that
//! take an iovec, a ring or a path, built on the agent's stack and made raw. io_uring rings are
//! remembered by descriptor (their mmap offsets), and mapped only for the one WRITE_FIXED
//! submission that needs them, so the scenario's address space keeps no ring mappings.

use std::sync::Mutex;

use mmlab_scenario::syscalls::gup_agent_op as op;

use crate::proto::{Reply, Request};

/// IORING_REGISTER_BUFFERS / IORING_UNREGISTER_BUFFERS.
const IORING_REGISTER_BUFFERS: u64 = 0;
const IORING_UNREGISTER_BUFFERS: u64 = 1;
/// IORING_OP_WRITE_FIXED.
const IORING_OP_WRITE_FIXED: u8 = 5;
/// IORING_ENTER_GETEVENTS.
const IORING_ENTER_GETEVENTS: u64 = 1;
/// The mmap offsets of a ring's parts.
const IORING_OFF_SQ_RING: i64 = 0;
const IORING_OFF_CQ_RING: i64 = 0x800_0000;
const IORING_OFF_SQES: i64 = 0x1000_0000;
/// The most iovecs a registration builds on the stack; more come from the heap.
const STACK_IOVECS: usize = 64;

/// struct io_uring_params, as 30 u32 words (120 bytes).
type Params = [u32; 30];
/// Word indices of struct io_uring_params.
const SQ_ENTRIES: usize = 0;
const CQ_ENTRIES: usize = 1;
const SQ_OFF: usize = 10;
const CQ_OFF: usize = 20;
/// Offsets within io_sqring_offsets / io_cqring_offsets, in words.
const OFF_HEAD: usize = 0;
const OFF_TAIL: usize = 1;
const OFF_MASK: usize = 2;
const SQ_ARRAY: usize = 6;
const CQ_CQES: usize = 5;

/// The rings this process set up: (descriptor, params). A forked child keeps the table, as
/// it keeps the descriptors.
static RINGS: Mutex<[(i32, Params); 16]> = Mutex::new([(-1, [0; 30]); 16]);

fn reply(ret: i64) -> Reply {
    if ret < 0 {
        Reply {
            status: std::io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EIO) as i64,
            v: [0; 3],
        }
    } else {
        Reply::ok(ret as u64)
    }
}

fn err(e: i32) -> Reply {
    Reply {
        status: e as i64,
        v: [0; 3],
    }
}

/// One AGENT request: `r[1]` the operation, `r[2..]` the scenario's arguments; `fd` turns a
/// descriptor argument into the one the kernel should see.
pub fn serve(r: &Request, fd: fn(u64) -> u64) -> Reply {
    let a = &r[2..8];
    // SAFETY (all arms): raw syscalls whose pointer arguments point at live stack values.
    unsafe {
        match r[1] {
            op::PIPE2 => {
                let mut fds = [0i32; 2];
                if libc::pipe2(fds.as_mut_ptr(), a[0] as i32) < 0 {
                    return reply(-1);
                }
                Reply::ok(fds[0] as u32 as u64 | (fds[1] as u32 as u64) << 32)
            }
            op::VMSPLICE => {
                let iov = libc::iovec {
                    iov_base: a[1] as *mut libc::c_void,
                    iov_len: a[2] as usize,
                };
                reply(libc::syscall(
                    libc::SYS_vmsplice,
                    fd(a[0]),
                    &iov,
                    1u64,
                    a[3],
                ))
            }
            op::PROCESS_VM_READV | op::PROCESS_VM_WRITEV => {
                let local = libc::iovec {
                    iov_base: a[1] as *mut libc::c_void,
                    iov_len: a[3] as usize,
                };
                let remote = libc::iovec {
                    iov_base: a[2] as *mut libc::c_void,
                    iov_len: a[3] as usize,
                };
                let nr = if r[1] == op::PROCESS_VM_READV {
                    libc::SYS_process_vm_readv
                } else {
                    libc::SYS_process_vm_writev
                };
                reply(libc::syscall(nr, a[0], &local, 1u64, &remote, 1u64, a[4]))
            }
            op::IO_URING_SETUP => setup(a[0]),
            op::IO_URING_REGISTER_BUFFERS => register(fd(a[0]), a[1], a[2], a[3]),
            op::IO_URING_UNREGISTER_BUFFERS => reply(libc::syscall(
                libc::SYS_io_uring_register,
                fd(a[0]),
                IORING_UNREGISTER_BUFFERS,
                0u64,
                0u64,
            )),
            op::IO_URING_WRITE_FIXED => {
                write_fixed(fd(a[0]) as i32, fd(a[1]) as i32, a[2], a[3], a[4])
            }
            op::PROC_MEM_WRITE => proc_mem_write(a[0], a[1], a[2] as u8),
            _ => err(libc::ENOSYS),
        }
    }
}

/// io_uring_setup(entries, zeroed params), the params kept for WRITE_FIXED.
unsafe fn setup(entries: u64) -> Reply {
    let mut p: Params = [0; 30];
    let ring = libc::syscall(libc::SYS_io_uring_setup, entries, p.as_mut_ptr());
    if ring < 0 {
        return reply(-1);
    }
    let mut rings = RINGS.lock().unwrap_or_else(|e| e.into_inner());
    // A descriptor number closed and reused by a new ring replaces the old entry.
    if let Some(slot) = rings
        .iter_mut()
        .find(|(f, _)| *f == ring as i32 || *f == -1)
    {
        *slot = (ring as i32, p);
    }
    Reply::ok(ring as u64)
}

/// IORING_REGISTER_BUFFERS of `nr` iovecs of `len` bytes from `addr`.
unsafe fn register(ring: u64, addr: u64, len: u64, nr: u64) -> Reply {
    let iov = |i: u64| libc::iovec {
        iov_base: addr.wrapping_add(i.wrapping_mul(len)) as *mut libc::c_void,
        iov_len: len as usize,
    };
    let call = |p: *const libc::iovec| {
        libc::syscall(
            libc::SYS_io_uring_register,
            ring,
            IORING_REGISTER_BUFFERS,
            p,
            nr,
        )
    };
    // A count of 0 or over 16384 is refused before the array is read: any valid pointer
    // will do (a NULL one is EFAULT first on newer kernels).
    if nr == 0 || nr > 16384 || nr as usize <= STACK_IOVECS {
        let mut v = [iov(0); STACK_IOVECS];
        for (i, slot) in v
            .iter_mut()
            .enumerate()
            .take(nr.min(STACK_IOVECS as u64) as usize)
        {
            *slot = iov(i as u64);
        }
        reply(call(v.as_ptr()))
    } else {
        let v: Vec<libc::iovec> = (0..nr).map(iov).collect();
        reply(call(v.as_ptr()))
    }
}

/// One mapping of a ring part, unmapped when dropped.
struct Map(*mut u8, usize);

impl Map {
    unsafe fn new(ring: i32, off: i64, len: usize) -> Option<Map> {
        let p = libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_POPULATE,
            ring,
            off,
        );
        (p != libc::MAP_FAILED).then_some(Map(p.cast(), len))
    }

    unsafe fn word(&self, off: u32) -> *mut u32 {
        self.0.add(off as usize).cast()
    }
}

impl Drop for Map {
    fn drop(&mut self) {
        // SAFETY: our own mapping.
        unsafe { libc::munmap(self.0.cast(), self.1) };
    }
}

/// One IORING_OP_WRITE_FIXED of `len` bytes at `addr` of buffer `index` into `fd`, submitted
/// and reaped: the CQE's result (a negative one is its errno).
unsafe fn write_fixed(ring: i32, fd: i32, index: u64, addr: u64, len: u64) -> Reply {
    let p = {
        let rings = RINGS.lock().unwrap_or_else(|e| e.into_inner());
        match rings.iter().find(|(f, _)| *f == ring) {
            Some((_, p)) => *p,
            None => return err(libc::EBADF),
        }
    };
    let (sq, cq) = (&p[SQ_OFF..SQ_OFF + 10], &p[CQ_OFF..CQ_OFF + 10]);
    let sq_len = sq[SQ_ARRAY] as usize + p[SQ_ENTRIES] as usize * 4;
    let cq_len = cq[CQ_CQES] as usize + p[CQ_ENTRIES] as usize * 16;
    let (Some(sqm), Some(cqm), Some(sqes)) = (
        Map::new(ring, IORING_OFF_SQ_RING, sq_len),
        Map::new(ring, IORING_OFF_CQ_RING, cq_len),
        Map::new(ring, IORING_OFF_SQES, p[SQ_ENTRIES] as usize * 64),
    ) else {
        return reply(-1);
    };
    let tail = sqm.word(sq[OFF_TAIL]).read_volatile();
    let idx = tail & sqm.word(sq[OFF_MASK]).read_volatile();
    let sqe = sqes.0.add(idx as usize * 64);
    std::ptr::write_bytes(sqe, 0, 64);
    sqe.write(IORING_OP_WRITE_FIXED);
    sqe.add(4).cast::<i32>().write_unaligned(fd);
    sqe.add(8).cast::<u64>().write_unaligned(u64::MAX);
    sqe.add(16).cast::<u64>().write_unaligned(addr);
    sqe.add(24).cast::<u32>().write_unaligned(len as u32);
    sqe.add(40).cast::<u16>().write_unaligned(index as u16);
    sqm.word(sq[SQ_ARRAY] + idx * 4).write_volatile(idx);
    std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
    sqm.word(sq[OFF_TAIL]).write_volatile(tail.wrapping_add(1));
    let n = libc::syscall(
        libc::SYS_io_uring_enter,
        ring,
        1u64,
        1u64,
        IORING_ENTER_GETEVENTS,
        0u64,
        0u64,
    );
    if n < 0 {
        return reply(-1);
    }
    std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
    let head = cqm.word(cq[OFF_HEAD]).read_volatile();
    let ci = head & cqm.word(cq[OFF_MASK]).read_volatile();
    let res = cqm
        .word(cq[CQ_CQES] + ci * 16 + 8)
        .cast::<i32>()
        .read_volatile();
    cqm.word(cq[OFF_HEAD]).write_volatile(head.wrapping_add(1));
    if res < 0 {
        err(-res)
    } else {
        Reply::ok(res as u64)
    }
}

/// A one-byte pwrite() at `addr` of /proc/`pid`/mem.
unsafe fn proc_mem_write(pid: u64, addr: u64, byte: u8) -> Reply {
    let mut path = [0u8; 32];
    let text = format!("/proc/{pid}/mem");
    path[..text.len()].copy_from_slice(text.as_bytes());
    let f = libc::open(path.as_ptr().cast(), libc::O_RDWR | libc::O_CLOEXEC);
    if f < 0 {
        return reply(-1);
    }
    let n = libc::pwrite(f, (&byte as *const u8).cast(), 1, addr as libc::off_t);
    let e = reply(n as i64);
    libc::close(f);
    e
}
