//! The calls through which user space makes the kernel take references and pins on its pages
//! (get_user_pages() and pin_user_pages()): pipes and vmsplice(), io_uring's registered
//! buffers, process_vm_readv()/writev() and writes to /proc/PID/mem. The host agent makes the
//! ones that need an iovec, a ring or a path itself (`HostCall::Agent` with these numbers).

use mmlab::{Kernel, SysResult, Tid};

use super::{addr, arg, fd, int, Arg, ArgKind, ArgValue, HostCall, SyscallDef};
use crate::ast::Radix;

/// The agent's operations for the calls below (crates/mmlab-live/src/gup_calls.rs).
pub mod agent_op {
    /// pipe2(fds, flags): replies fds[0] | fds[1] << 32.
    pub const PIPE2: u64 = 1;
    /// vmsplice(fd, &{addr, len}, 1, flags).
    pub const VMSPLICE: u64 = 2;
    /// process_vm_readv(pid, &{local, len}, 1, &{remote, len}, 1, flags).
    pub const PROCESS_VM_READV: u64 = 3;
    /// process_vm_writev(), the same way.
    pub const PROCESS_VM_WRITEV: u64 = 4;
    /// io_uring_setup(entries, &params), the ring's offsets kept for WRITE_FIXED.
    pub const IO_URING_SETUP: u64 = 5;
    /// io_uring_register(fd, IORING_REGISTER_BUFFERS, iovecs, nr).
    pub const IO_URING_REGISTER_BUFFERS: u64 = 6;
    /// io_uring_register(fd, IORING_UNREGISTER_BUFFERS, NULL, 0).
    pub const IO_URING_UNREGISTER_BUFFERS: u64 = 7;
    /// One IORING_OP_WRITE_FIXED submitted and waited for: the CQE's result.
    pub const IO_URING_WRITE_FIXED: u64 = 8;
    /// open("/proc/PID/mem", O_RDWR), pwrite one byte at addr, close.
    pub const PROC_MEM_WRITE: u64 = 9;
}

/// A pid argument (a number `getpid()` returned).
const fn pid() -> Arg {
    int("pid")
}

/// process_vm_readv() or (`write`) process_vm_writev() with the table's arguments.
fn process_vm(k: &mut Kernel, t: Tid, a: &[ArgValue], write: bool) -> SysResult<u64> {
    let (pid, local, remote, len, flags) =
        (a[0].num(), a[1].num(), a[2].num(), a[3].num(), a[4].num());
    k.process_vm_rw(t, pid, (local, remote, len), flags, write)
}

/// The GUP area's calls.
pub(super) static GUP: &[SyscallDef] = &[
    SyscallDef {
        name: "getpid",
        args: &[],
        returns: Radix::Dec,
        doc: "the calling process's pid (for `process_vm_readv` and `proc_mem_write`)",
        model: |k, t, _| k.getpid(t),
        host: HostCall::Raw(libc::SYS_getpid),
    },
    SyscallDef {
        name: "pipe2",
        args: &[int("flags")],
        returns: Radix::Hex,
        doc: "a new pipe: the read end's descriptor in bits 0-31, the write end's in bits 32-63 \
              (`O_NONBLOCK`, `O_CLOEXEC`, `O_DIRECT`)",
        model: |k, t, a| k.pipe2(t, a[0].num()),
        host: HostCall::Agent(agent_op::PIPE2),
    },
    SyscallDef {
        name: "vmsplice",
        args: &[fd(), addr("addr"), int("len"), int("flags")],
        returns: Radix::Dec,
        doc: "vmsplice with one iovec: the bytes spliced; into a write end each page is a \
              buffer holding a FOLL_GET reference (16 buffers: a short count when full, `EAGAIN` \
              with `SPLICE_F_NONBLOCK` if already full); from a read end, copies out as \
              `pipe_read` (`SPLICE_F_MOVE/NONBLOCK/MORE/GIFT`)",
        model: |k, t, a| k.vmsplice(t, a[0].int(), a[1].num(), a[2].num(), a[3].num()),
        host: HostCall::Agent(agent_op::VMSPLICE),
    },
    SyscallDef {
        name: "pipe_read",
        args: &[fd(), addr("buf"), int("len")],
        returns: Radix::Dec,
        doc: "read(2) from a pipe's read end: the bytes read (a spliced page is read as it is \
              now); 0 at end of file; `EAGAIN` if empty (use `O_NONBLOCK` pipes: the host would \
              sleep otherwise); the model reads only pipes (`EINVAL` for other descriptors)",
        model: |k, t, a| k.pipe_read(t, a[0].int(), a[1].num(), a[2].num()),
        host: HostCall::Raw(libc::SYS_read),
    },
    SyscallDef {
        name: "io_uring_setup",
        args: &[int("entries")],
        returns: Radix::Dec,
        doc: "a ring's descriptor (default parameters)",
        model: |k, t, a| k.io_uring_setup(t, a[0].num()),
        host: HostCall::Agent(agent_op::IO_URING_SETUP),
    },
    SyscallDef {
        name: "io_uring_register_buffers",
        args: &[fd(), addr("addr"), int("len"), int("nr")],
        returns: Radix::Dec,
        doc: "IORING_REGISTER_BUFFERS of `nr` buffers of `len` bytes laid end to end from `addr` \
              (FOLL_PIN \\| FOLL_WRITE \\| FOLL_LONGTERM on every page): 0",
        model: |k, t, a| {
            k.io_uring_register_buffers(t, a[0].int(), a[1].num(), a[2].num(), a[3].num())
        },
        host: HostCall::Agent(agent_op::IO_URING_REGISTER_BUFFERS),
    },
    SyscallDef {
        name: "io_uring_unregister_buffers",
        args: &[fd()],
        returns: Radix::Dec,
        doc: "IORING_UNREGISTER_BUFFERS: 0, the pins given back (`ENXIO` if none)",
        model: |k, t, a| k.io_uring_unregister_buffers(t, a[0].int()),
        host: HostCall::Agent(agent_op::IO_URING_UNREGISTER_BUFFERS),
    },
    SyscallDef {
        name: "io_uring_write_fixed",
        args: &[
            arg("ring", ArgKind::Fd),
            fd(),
            int("index"),
            addr("addr"),
            int("len"),
        ],
        returns: Radix::Dec,
        doc: "one IORING_OP_WRITE_FIXED from registered buffer `index` at `addr` into `fd` (the \
              model: a pipe's write end), waited for: the bytes written, read through the pins",
        model: |k, t, a| {
            k.io_uring_write_fixed(
                t,
                a[0].int(),
                a[1].int(),
                a[2].num(),
                a[3].num(),
                a[4].num(),
            )
        },
        host: HostCall::Agent(agent_op::IO_URING_WRITE_FIXED),
    },
    SyscallDef {
        name: "process_vm_readv",
        args: &[
            pid(),
            addr("local"),
            int("remote"),
            int("len"),
            int("flags"),
        ],
        returns: Radix::Dec,
        doc: "copies `len` bytes from `remote` in process `pid` to `local` (a R/O FOLL_PIN of the \
              remote pages): the bytes copied",
        model: |k, t, a| process_vm(k, t, a, false),
        host: HostCall::Agent(agent_op::PROCESS_VM_READV),
    },
    SyscallDef {
        name: "process_vm_writev",
        args: &[
            pid(),
            addr("local"),
            int("remote"),
            int("len"),
            int("flags"),
        ],
        returns: Radix::Dec,
        doc: "copies `len` bytes from `local` to `remote` in process `pid` (FOLL_PIN \\| \
              FOLL_WRITE): the bytes copied",
        model: |k, t, a| process_vm(k, t, a, true),
        host: HostCall::Agent(agent_op::PROCESS_VM_WRITEV),
    },
    SyscallDef {
        name: "proc_mem_write",
        args: &[pid(), int("addr"), int("byte")],
        returns: Radix::Dec,
        doc: "writes one byte at `addr` of process `pid` through `/proc/PID/mem` (FOLL_FORCE: a \
              private read-only page gets a COW copy): 1",
        model: |k, t, a| k.proc_mem_write(t, a[0].num(), a[1].num(), a[2].num()),
        host: HostCall::Agent(agent_op::PROC_MEM_WRITE),
    },
];
