//! The process-level calls of mm: the mlock family, the program break and resource limits.

use mmlab::sys::{Caps, Rlimit};

use super::{addr, arg, int, ArgKind, HostCall, SyscallDef};
use crate::ast::Radix;

/// A C `int` argument as the kernel reads it from its register: the low 32 bits.
fn c_int(v: u64) -> u64 {
    v as u32 as u64
}

/// mlock, mlock2, munlock, mlockall, munlockall, brk, getrlimit, setrlimit and capset.
pub(super) static PROC: &[SyscallDef] = &[
    SyscallDef {
        name: "mlock",
        args: &[addr("addr"), int("len")],
        returns: Radix::Dec,
        doc: "0; the range (rounded out to pages) is VM_LOCKED and populated; a hole is \
              `ENOMEM`, a page that cannot be faulted in `ENOMEM` (EFAULT) or `EAGAIN` (ENOMEM)",
        model: |k, t, a| k.mlock(t, a[0].num(), a[1].num()).map(|_| 0),
        host: HostCall::Raw(libc::SYS_mlock),
    },
    SyscallDef {
        name: "mlock2",
        args: &[addr("addr"), int("len"), int("flags")],
        returns: Radix::Dec,
        doc:
            "0; `MLOCK_ONFAULT`: VM_LOCKED\\|VM_LOCKONFAULT, pages locked as they fault in (other \
              flags: `EINVAL`)",
        model: |k, t, a| {
            k.mlock2(t, a[0].num(), a[1].num(), c_int(a[2].num()))
                .map(|_| 0)
        },
        host: HostCall::Raw(libc::SYS_mlock2),
    },
    SyscallDef {
        name: "munlock",
        args: &[addr("addr"), int("len")],
        returns: Radix::Dec,
        doc: "0; the range loses VM_LOCKED and VM_LOCKONFAULT, its pages are munlocked",
        model: |k, t, a| k.munlock(t, a[0].num(), a[1].num()).map(|_| 0),
        host: HostCall::Raw(libc::SYS_munlock),
    },
    SyscallDef {
        name: "mlockall",
        args: &[int("flags")],
        returns: Radix::Dec,
        doc: "0; `MCL_CURRENT` locks (and populates) every VMA, `MCL_FUTURE` every later one, \
              `MCL_ONFAULT` on fault only; 0, unknown flags or `MCL_ONFAULT` alone: `EINVAL`",
        model: |k, t, a| k.mlockall(t, c_int(a[0].num())).map(|_| 0),
        host: HostCall::Raw(libc::SYS_mlockall),
    },
    SyscallDef {
        name: "munlockall",
        args: &[],
        returns: Radix::Dec,
        doc: "0; every VMA unlocked, `MCL_FUTURE` forgotten",
        model: |k, t, _| k.munlockall(t).map(|_| 0),
        host: HostCall::Raw(libc::SYS_munlockall),
    },
    SyscallDef {
        name: "brk",
        args: &[arg("addr", ArgKind::Hint)],
        returns: Radix::Addr,
        doc: "the program break: `addr` if it moved there, else the old break (`brk(0)` reads \
              it); the heap grows as one private read-write VMA. The model's heap starts empty \
              at 0x555555559000, the host's is the agent's: compare breaks with each other",
        model: |k, t, a| k.brk(t, a[0].num()),
        host: HostCall::Raw(libc::SYS_brk),
    },
    SyscallDef {
        name: "setrlimit",
        args: &[int("resource"), int("cur"), int("max")],
        returns: Radix::Dec,
        doc: "0; `RLIMIT_*` gets soft limit `cur` and hard limit `max` (`RLIM_INFINITY`); cur \
              above max or an unknown resource: `EINVAL`",
        model: |k, t, a| {
            let new = Rlimit {
                cur: a[1].num(),
                max: a[2].num(),
            };
            k.setrlimit(t, c_int(a[0].num()), new).map(|_| 0)
        },
        host: HostCall::Prlimit {
            set: true,
            max: false,
        },
    },
    SyscallDef {
        name: "getrlimit",
        args: &[int("resource")],
        returns: Radix::Auto,
        doc: "the soft limit (rlim_cur) of `RLIMIT_*`",
        model: |k, t, a| k.getrlimit(t, c_int(a[0].num())).map(|r| r.cur),
        host: HostCall::Prlimit {
            set: false,
            max: false,
        },
    },
    SyscallDef {
        name: "getrlimit_max",
        args: &[int("resource")],
        returns: Radix::Auto,
        doc: "the hard limit (rlim_max) getrlimit(2) gives for `RLIMIT_*`",
        model: |k, t, a| k.getrlimit(t, c_int(a[0].num())).map(|r| r.max),
        host: HostCall::Prlimit {
            set: false,
            max: true,
        },
    },
    SyscallDef {
        name: "capset",
        args: &[int("effective"), int("permitted"), int("inheritable")],
        returns: Radix::Dec,
        doc: "0; the calling thread's capability sets become these masks (`1 << CAP_IPC_LOCK`, \
              `1 << CAP_SYS_RESOURCE`; 0 drops all, as `cap_set_proc(cap_init())`); a permitted \
              set that grows, or an effective one outside it: `EPERM`. Tasks start as root",
        model: |k, t, a| {
            let caps = Caps {
                effective: a[0].num(),
                permitted: a[1].num(),
                inheritable: a[2].num(),
            };
            k.capset(t, caps).map(|_| 0)
        },
        host: HostCall::Capset,
    },
];
