//! The syscalls a scenario can make, one declaration each: the C arguments, what the call
//! returns, how the model makes it and how the host agent makes it. The check pass (name,
//! argument count and kinds), the runner, both backends and the guide's syscall table are all
//! driven from the tables `all()` chains, so a new syscall is one entry in its area's table.

mod files;
mod numa;

use mmlab::uapi::userfaultfd as uffd;
use mmlab::{Kernel, SysResult, Tid};

use crate::ast::Radix;

mod cgroup;
mod oom;

/// How a C argument is passed, and what the runner and the host agent do with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgKind {
    /// A user address the call works on: a failure's context shows the state around it.
    Addr,
    /// An address the kernel may take as a hint or ignore (mmap's `addr`).
    Hint,
    /// An integer: a length, an offset, flags, a mode, a CPU.
    Int,
    /// A file descriptor (C `int`). On the host, the agent's own channels look unopened.
    Fd,
    /// A C string, written as a quoted literal (`memfd_create("name", 0)`).
    Str,
    /// A path, written as a quoted literal: the name of a swap file or device a header
    /// declared (`"swap0"`, `"zram0"`, a `swapfile` NAME), or an absolute path taken as it is.
    /// The model resolves the name itself; the host passes the path it made for it.
    Path,
    /// A file's path, written as a quoted literal: relative to the scenario's directory
    /// (no `..`), `"/dev/zero"` or `"/proc/self/fd/N"`. The host agent runs in that directory.
    FilePath,
}

impl ArgKind {
    /// Is the argument written as a quoted literal (and passed as a pointer to its bytes)?
    pub fn is_string(self) -> bool {
        matches!(self, ArgKind::Str | ArgKind::Path | ArgKind::FilePath)
    }
}

/// One C argument of a syscall.
#[derive(Clone, Copy, Debug)]
pub struct Arg {
    pub name: &'static str,
    pub kind: ArgKind,
    /// The value of a trailing argument the scenario may leave out (mremap's `new_addr`).
    pub default: Option<u64>,
    /// The only values the model implements, by constant name (empty: any value).
    pub only: &'static [&'static str],
}

const fn arg(name: &'static str, kind: ArgKind) -> Arg {
    Arg {
        name,
        kind,
        default: None,
        only: &[],
    }
}

/// An integer argument.
const fn int(name: &'static str) -> Arg {
    arg(name, ArgKind::Int)
}

/// A file descriptor argument.
const fn fd() -> Arg {
    arg("fd", ArgKind::Fd)
}

/// An address argument the call works on.
const fn addr(name: &'static str) -> Arg {
    arg(name, ArgKind::Addr)
}

/// How the host agent makes a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostCall {
    /// syscall(2) by number, with the arguments as the kernel reads them from registers (a
    /// string as a pointer to its bytes).
    Raw(i64),
    /// ioctl(fd, req, &arg) on the first argument, a descriptor. `arg` is a struct of 64-bit
    /// words, _IOC_SIZE(req) bytes: the arguments after the descriptor, then zeroed words the
    /// kernel fills. The call returns the struct's word `out` afterwards (None: 0).
    Ioctl { req: u64, out: Option<usize> },
    /// sched_setaffinity(0, ...) with a CPU set holding the one CPU given.
    Affinity,
    /// prlimit64() on the task's process, by the runner: `set` passes the arguments after the
    /// resource as the new struct rlimit; the call returns the old rlim_max if `max`, else
    /// the old rlim_cur.
    Prlimit { set: bool, max: bool },
    /// capset() by the task's own thread (capabilities are per thread), with
    /// _LINUX_CAPABILITY_VERSION_3 and the three 64-bit sets as its two data words each.
    Capset,
    /// A cgroup step, made by the runner in its own v1 memory hierarchy (the agent never
    /// sees it; a v2 scenario is skipped on the host).
    Cgroup(CgroupOp),
    /// A write of the argument to `/proc/PID/FILE` of the task's process, by the runner (root,
    /// as the agent is unless the scenario drops capabilities).
    ProcPidWrite(&'static str),
    /// An operation the agent implements itself, by its number in the area's `agent_op`
    /// (an iovec, a ring or a path to build): the arguments as given.
    Agent(u64),
}

/// How the model makes a call: the kernel, the task, the arguments in C order.
pub type ModelCall = fn(&mut Kernel, Tid, &[ArgValue]) -> SysResult<u64>;

/// A syscall of the language.
#[derive(Debug)]
pub struct SyscallDef {
    pub name: &'static str,
    pub args: &'static [Arg],
    /// How its return value reads best.
    pub returns: Radix,
    /// What it returns, for the guide's table (Markdown).
    pub doc: &'static str,
    pub model: ModelCall,
    pub host: HostCall,
}

impl SyscallDef {
    /// The fewest and the most arguments a scenario may write.
    pub fn arity(&self) -> (usize, usize) {
        let required = self.args.iter().filter(|a| a.default.is_none()).count();
        (required, self.args.len())
    }

    /// The argument whose address a failure's context looks around.
    pub fn address_arg(&self) -> Option<usize> {
        self.args.iter().position(|a| a.kind == ArgKind::Addr)
    }

    /// The call as the guide writes it: `mremap(old, old_len, new_len, flags [, new_addr])`.
    pub fn signature(&self) -> String {
        let mut s = format!("{}(", self.name);
        for (i, a) in self.args.iter().enumerate() {
            let name = match a.kind {
                ArgKind::Str | ArgKind::Path | ArgKind::FilePath => format!("\"{}\"", a.name),
                _ => a.name.to_string(),
            };
            match (i, a.default) {
                (0, None) => s.push_str(&name),
                (_, None) => s.push_str(&format!(", {name}")),
                (0, Some(_)) => s.push_str(&format!("[{name}]")),
                (_, Some(_)) => s.push_str(&format!(" [, {name}]")),
            }
        }
        s.push(')');
        s
    }
}

/// One argument's value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ArgValue {
    Num(u64),
    Str(String),
}

impl ArgValue {
    /// The value as the kernel's unsigned long (a string reads as 0).
    pub fn num(&self) -> u64 {
        match self {
            ArgValue::Num(v) => *v,
            ArgValue::Str(_) => 0,
        }
    }

    /// The value as a signed C integer (a descriptor, an loff_t).
    pub fn int(&self) -> i64 {
        self.num() as i64
    }

    /// The string of a `Str` argument (a number reads as "").
    pub fn text(&self) -> &str {
        match self {
            ArgValue::Str(s) => s,
            ArgValue::Num(_) => "",
        }
    }
}

/// A syscall with its arguments, every one of them given (defaults filled in).
#[derive(Clone, Debug)]
pub struct Syscall {
    pub def: &'static SyscallDef,
    pub args: Vec<ArgValue>,
}

impl PartialEq for Syscall {
    fn eq(&self, other: &Syscall) -> bool {
        self.def.name == other.def.name && self.args == other.args
    }
}
impl Eq for Syscall {}

impl Syscall {
    /// `name(args)`: trailing arguments left out take their defaults. Err says why the call
    /// does not fit its declaration (unknown name, argument count, a string where a number
    /// goes or the reverse).
    pub fn new(name: &str, mut args: Vec<ArgValue>) -> Result<Syscall, String> {
        let def = syscall(name).ok_or_else(|| format!("no syscall `{name}`"))?;
        let (min, max) = def.arity();
        if args.len() < min || args.len() > max {
            return Err(format!(
                "{} takes {min} to {max} argument(s), {} given",
                def.signature(),
                args.len()
            ));
        }
        for a in &def.args[args.len()..] {
            args.push(ArgValue::Num(a.default.unwrap_or(0)));
        }
        for (a, v) in def.args.iter().zip(&args) {
            if a.kind.is_string() != matches!(v, ArgValue::Str(_)) {
                return Err(format!(
                    "{}: `{}` of the wrong kind",
                    def.signature(),
                    a.name
                ));
            }
        }
        Ok(Syscall { def, args })
    }

    /// A call whose arguments are all numbers.
    pub fn nums(name: &str, args: &[u64]) -> Result<Syscall, String> {
        Syscall::new(name, args.iter().map(|&v| ArgValue::Num(v)).collect())
    }

    pub fn name(&self) -> &'static str {
        self.def.name
    }
}

/// The syscall named `name`.
pub fn syscall(name: &str) -> Option<&'static SyscallDef> {
    all().find(|s| s.name == name)
}

/// The tables, one per area, in the guide's order: a new area adds its file under
/// `syscalls/` and one line here.
static TABLES: &[&[SyscallDef]] = &[
    MM,
    files::FILES,
    proc::PROC,
    gup::GUP,
    numa::NUMA,
    cgroup::CGROUP,
    oom::OOM,
];

mod gup;
mod proc;
pub use cgroup::{keyed_value, CgroupOp};
pub use gup::agent_op as gup_agent_op;

/// Every syscall a scenario can make, in the guide's order.
pub fn all() -> impl Iterator<Item = &'static SyscallDef> {
    TABLES.iter().flat_map(|t| t.iter())
}

/// _IOC(dir, 0xAA, nr, size) for the userfaultfd ioctls (include/uapi/asm-generic/ioctl.h).
const fn uffd_ioctl(dir: u64, nr: u64, words: u64) -> u64 {
    dir << 30 | (words * 8) << 16 | uffd::UFFD_API << 8 | nr
}
/// _IOC_READ | _IOC_WRITE.
const IOWR: u64 = 3;
/// _IOC_READ.
const IOR: u64 = 2;

/// The words of `struct uffdio_range` and of the structs that start with one.
const RANGE: [Arg; 2] = [addr("start"), int("len")];

/// The address-space syscalls, userfaultfd, memfd and swap.
static MM: &[SyscallDef] = &[
    SyscallDef {
        name: "mmap",
        args: &[
            arg("addr", ArgKind::Hint),
            int("len"),
            int("prot"),
            int("flags"),
            fd(),
            int("off"),
        ],
        returns: Radix::Addr,
        doc: "the mapping's address",
        model: |k, t, a| {
            k.mmap(
                t,
                a[0].num(),
                a[1].num(),
                a[2].num(),
                a[3].num(),
                a[4].int(),
                a[5].num(),
            )
        },
        host: HostCall::Raw(libc::SYS_mmap),
    },
    SyscallDef {
        name: "munmap",
        args: &[addr("addr"), int("len")],
        returns: Radix::Dec,
        doc: "0",
        model: |k, t, a| k.munmap(t, a[0].num(), a[1].num()).map(|_| 0),
        host: HostCall::Raw(libc::SYS_munmap),
    },
    SyscallDef {
        name: "mremap",
        args: &[
            addr("old"),
            int("old_len"),
            int("new_len"),
            int("flags"),
            Arg {
                default: Some(0),
                ..arg("new_addr", ArgKind::Hint)
            },
        ],
        returns: Radix::Addr,
        doc: "the new address",
        model: |k, t, a| {
            k.mremap(
                t,
                a[0].num(),
                a[1].num(),
                a[2].num(),
                a[3].num(),
                a[4].num(),
            )
        },
        host: HostCall::Raw(libc::SYS_mremap),
    },
    SyscallDef {
        name: "mincore",
        args: &[addr("addr"), int("len"), addr("vec")],
        returns: Radix::Dec,
        doc: "0; one byte per page written at `vec` (1: resident)",
        model: |k, t, a| k.mincore(t, a[0].num(), a[1].num(), a[2].num()),
        host: HostCall::Raw(libc::SYS_mincore),
    },
    SyscallDef {
        name: "mprotect",
        args: &[addr("addr"), int("len"), int("prot")],
        returns: Radix::Dec,
        doc: "0",
        model: |k, t, a| k.mprotect(t, a[0].num(), a[1].num(), a[2].num()).map(|_| 0),
        host: HostCall::Raw(libc::SYS_mprotect),
    },
    SyscallDef {
        name: "madvise",
        args: &[addr("addr"), int("len"), int("advice")],
        returns: Radix::Dec,
        doc: "0",
        model: |k, t, a| k.madvise(t, a[0].num(), a[1].num(), a[2].num()).map(|_| 0),
        host: HostCall::Raw(libc::SYS_madvise),
    },
    SyscallDef {
        name: "sched_setaffinity",
        args: &[int("cpu")],
        returns: Radix::Dec,
        doc: "0; moves the task to one CPU",
        model: |k, t, a| k.set_cpu(t, a[0].num() as usize).map(|_| 0),
        host: HostCall::Affinity,
    },
    SyscallDef {
        name: "memfd_create",
        args: &[arg("name", ArgKind::Str), int("flags")],
        returns: Radix::Dec,
        doc: "a descriptor for a new shmem file (`MFD_CLOEXEC`, `MFD_ALLOW_SEALING`, \
              `MFD_HUGETLB`)",
        model: |k, t, a| {
            k.memfd_create(t, a[0].text(), a[1].num())
                .map(|fd| fd as u64)
        },
        host: HostCall::Raw(libc::SYS_memfd_create),
    },
    SyscallDef {
        name: "ftruncate",
        args: &[fd(), int("len")],
        returns: Radix::Dec,
        doc: "0; shrinking unmaps the cut part everywhere, private copies included",
        model: |k, t, a| k.ftruncate(t, a[0].int(), a[1].int()).map(|_| 0),
        host: HostCall::Raw(libc::SYS_ftruncate),
    },
    SyscallDef {
        name: "fallocate",
        args: &[fd(), int("mode"), int("off"), int("len")],
        returns: Radix::Dec,
        doc: "0; mode 0 allocates, `FALLOC_FL_PUNCH_HOLE \\| FALLOC_FL_KEEP_SIZE` punches a hole",
        model: |k, t, a| {
            k.fallocate(t, a[0].int(), a[1].num(), a[2].int(), a[3].int())
                .map(|_| 0)
        },
        host: HostCall::Raw(libc::SYS_fallocate),
    },
    SyscallDef {
        name: "fcntl",
        args: &[
            fd(),
            Arg {
                only: &["F_ADD_SEALS", "F_GET_SEALS"],
                ..int("cmd")
            },
            int("arg"),
        ],
        returns: Radix::Hex,
        doc: "`F_GET_SEALS`: the seals; `F_ADD_SEALS` with \
              `F_SEAL_SEAL/SHRINK/GROW/WRITE/FUTURE_WRITE`: 0 (only these two commands)",
        model: |k, t, a| k.fcntl_seals(t, a[0].int(), a[1].num(), a[2].num()),
        host: HostCall::Raw(libc::SYS_fcntl),
    },
    SyscallDef {
        name: "close",
        args: &[fd()],
        returns: Radix::Dec,
        doc: "0",
        model: |k, t, a| k.close(t, a[0].int()).map(|_| 0),
        host: HostCall::Raw(libc::SYS_close),
    },
    SyscallDef {
        name: "userfaultfd",
        args: &[int("flags")],
        returns: Radix::Dec,
        doc: "a userfaultfd descriptor (`O_CLOEXEC`, `O_NONBLOCK`, `UFFD_USER_MODE_ONLY`)",
        model: |k, t, a| k.userfaultfd(t, a[0].num()).map(|fd| fd as u64),
        host: HostCall::Raw(libc::SYS_userfaultfd),
    },
    SyscallDef {
        name: "uffdio_api",
        args: &[fd(), int("api"), int("features")],
        returns: Radix::Hex,
        doc: "UFFDIO_API: the features the kernel reports (5.19: `UFFD_API_FEATURES`); once per \
              descriptor, before any other userfaultfd ioctl",
        model: |k, t, a| {
            k.uffdio_api(t, a[0].int(), a[1].num(), a[2].num())
                .map(|(features, _)| features)
        },
        // struct uffdio_api { api, features, ioctls }
        host: HostCall::Ioctl {
            req: uffd_ioctl(IOWR, uffd::_UFFDIO_API, 3),
            out: Some(1),
        },
    },
    SyscallDef {
        name: "uffdio_register",
        args: &[fd(), RANGE[0], RANGE[1], int("mode")],
        returns: Radix::Hex,
        doc: "UFFDIO_REGISTER with `UFFDIO_REGISTER_MODE_MISSING/WP/MINOR`: the `ioctls` mask of \
              the range (bits `1 << _UFFDIO_WAKE`, `_COPY`, `_ZEROPAGE`, `_WRITEPROTECT`, \
              `_CONTINUE`; `UFFD_API_RANGE_IOCTLS`, `UFFD_API_RANGE_IOCTLS_BASIC`)",
        model: |k, t, a| k.uffdio_register(t, a[0].int(), a[1].num(), a[2].num(), a[3].num()),
        // struct uffdio_register { range, mode, ioctls }
        host: HostCall::Ioctl {
            req: uffd_ioctl(IOWR, uffd::_UFFDIO_REGISTER, 4),
            out: Some(3),
        },
    },
    SyscallDef {
        name: "uffdio_unregister",
        args: &[fd(), RANGE[0], RANGE[1]],
        returns: Radix::Dec,
        doc: "0",
        model: |k, t, a| {
            k.uffdio_unregister(t, a[0].int(), a[1].num(), a[2].num())
                .map(|_| 0)
        },
        host: HostCall::Ioctl {
            req: uffd_ioctl(IOR, uffd::_UFFDIO_UNREGISTER, 2),
            out: None,
        },
    },
    SyscallDef {
        name: "uffdio_copy",
        args: &[fd(), addr("dst"), addr("src"), int("len"), int("mode")],
        returns: Radix::Dec,
        doc: "UFFDIO_COPY from the task's own memory at `src`: the bytes copied \
              (`UFFDIO_COPY_MODE_DONTWAKE`, `UFFDIO_COPY_MODE_WP`); a partial copy is `EAGAIN`",
        model: |k, t, a| {
            k.uffdio_copy(
                t,
                a[0].int(),
                a[1].num(),
                a[2].num(),
                a[3].num(),
                a[4].num(),
            )
        },
        // struct uffdio_copy { dst, src, len, mode, copy }
        host: HostCall::Ioctl {
            req: uffd_ioctl(IOWR, uffd::_UFFDIO_COPY, 5),
            out: Some(4),
        },
    },
    SyscallDef {
        name: "uffdio_zeropage",
        args: &[fd(), RANGE[0], RANGE[1], int("mode")],
        returns: Radix::Dec,
        doc: "UFFDIO_ZEROPAGE: the bytes mapped (`UFFDIO_ZEROPAGE_MODE_DONTWAKE`)",
        model: |k, t, a| k.uffdio_zeropage(t, a[0].int(), a[1].num(), a[2].num(), a[3].num()),
        // struct uffdio_zeropage { range, mode, zeropage }
        host: HostCall::Ioctl {
            req: uffd_ioctl(IOWR, uffd::_UFFDIO_ZEROPAGE, 4),
            out: Some(3),
        },
    },
    SyscallDef {
        name: "uffdio_continue",
        args: &[fd(), RANGE[0], RANGE[1], int("mode")],
        returns: Radix::Dec,
        doc: "UFFDIO_CONTINUE: the bytes mapped (`UFFDIO_CONTINUE_MODE_DONTWAKE`)",
        model: |k, t, a| k.uffdio_continue(t, a[0].int(), a[1].num(), a[2].num(), a[3].num()),
        // struct uffdio_continue { range, mode, mapped }
        host: HostCall::Ioctl {
            req: uffd_ioctl(IOWR, uffd::_UFFDIO_CONTINUE, 4),
            out: Some(3),
        },
    },
    SyscallDef {
        name: "uffdio_writeprotect",
        args: &[fd(), RANGE[0], RANGE[1], int("mode")],
        returns: Radix::Dec,
        doc: "UFFDIO_WRITEPROTECT: 0; `UFFDIO_WRITEPROTECT_MODE_WP` protects, mode 0 resolves \
              and wakes (`UFFDIO_WRITEPROTECT_MODE_DONTWAKE`)",
        model: |k, t, a| {
            k.uffdio_writeprotect(t, a[0].int(), a[1].num(), a[2].num(), a[3].num())
                .map(|_| 0)
        },
        // struct uffdio_writeprotect { range, mode }
        host: HostCall::Ioctl {
            req: uffd_ioctl(IOWR, uffd::_UFFDIO_WRITEPROTECT, 3),
            out: None,
        },
    },
    SyscallDef {
        name: "uffdio_wake",
        args: &[fd(), RANGE[0], RANGE[1]],
        returns: Radix::Dec,
        doc: "UFFDIO_WAKE: 0",
        model: |k, t, a| {
            k.uffdio_wake(t, a[0].int(), a[1].num(), a[2].num())
                .map(|_| 0)
        },
        host: HostCall::Ioctl {
            req: uffd_ioctl(IOR, uffd::_UFFDIO_WAKE, 2),
            out: None,
        },
    },
    SyscallDef {
        name: "swapon",
        args: &[arg("path", ArgKind::Path), int("flags")],
        returns: Radix::Dec,
        doc: "0; swaps on a header's file or device (`\"swap0\"`, `\"zram0\"`, a `swapfile` \
              NAME) or an absolute path (`SWAP_FLAG_PREFER \\| prio`, `SWAP_FLAG_DISCARD`)",
        model: |k, t, a| k.swapon(t, a[0].text(), a[1].num()),
        host: HostCall::Raw(libc::SYS_swapon),
    },
    SyscallDef {
        name: "swapoff",
        args: &[arg("path", ArgKind::Path)],
        returns: Radix::Dec,
        doc: "0; swaps the area off, its pages read back in first",
        model: |k, t, a| k.swapoff(t, a[0].text()),
        host: HostCall::Raw(libc::SYS_swapoff),
    },
];

/// The guide's syscall table (docs/scenario-language.md), as Markdown.
pub fn guide_table() -> String {
    let mut s = String::from("| call | returns |\n|---|---|\n");
    for d in all() {
        s.push_str(&format!("| `{}` | {} |\n", d.signature(), d.doc));
    }
    s
}

/// The constant values an `only` list names.
pub fn only_values(a: &Arg) -> Vec<u64> {
    a.only
        .iter()
        .filter_map(|n| crate::lang::constant(n))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ioctl_numbers_are_the_uapi_headers() {
        // include/uapi/linux/userfaultfd.h on x86-64.
        let want = [
            ("uffdio_api", 0xC018_AA3F),
            ("uffdio_register", 0xC020_AA00),
            ("uffdio_unregister", 0x8010_AA01),
            ("uffdio_wake", 0x8010_AA02),
            ("uffdio_copy", 0xC028_AA03),
            ("uffdio_zeropage", 0xC020_AA04),
            ("uffdio_writeprotect", 0xC018_AA06),
            ("uffdio_continue", 0xC020_AA07),
        ];
        for (name, req) in want {
            match syscall(name).unwrap().host {
                HostCall::Ioctl { req: r, .. } => assert_eq!(r, req, "{name}"),
                h => panic!("{name} is made as {h:?}"),
            }
        }
    }

    #[test]
    fn every_declaration_fits_what_its_host_side_can_carry() {
        for d in all() {
            assert!(d.args.len() <= 6, "{}: a syscall takes at most 6", d.name);
            let strs = d.args.iter().filter(|a| a.kind.is_string()).count();
            // Cgroup steps never reach the agent (the runner makes them).
            if !matches!(d.host, HostCall::Cgroup(_)) {
                assert!(strs <= 1, "{}: the agent carries one string", d.name);
            }
            // Optional arguments trail.
            let first_opt = d.args.iter().position(|a| a.default.is_some());
            if let Some(i) = first_opt {
                assert!(
                    d.args[i..].iter().all(|a| a.default.is_some()),
                    "{}",
                    d.name
                );
            }
            for a in d.args {
                assert_eq!(
                    only_values(a).len(),
                    a.only.len(),
                    "{}: {:?}",
                    d.name,
                    a.only
                );
            }
            if let HostCall::Ioctl { req, out } = d.host {
                let words = ((req >> 16) & 0x3fff) as usize / 8;
                assert_eq!(d.args[0].kind, ArgKind::Fd, "{}", d.name);
                assert!(
                    d.args.len() - 1 <= words,
                    "{}: the struct holds the args",
                    d.name
                );
                // The agent's IOCTL request carries six struct words (mmlab-live's proto).
                assert!(words <= 6, "{}: a struct of {words} words", d.name);
                assert!(out.is_none_or(|o| o < words), "{}", d.name);
            }
            assert_eq!(
                all().filter(|s| s.name == d.name).count(),
                1,
                "{} declared twice",
                d.name
            );
        }
    }

    #[test]
    fn calls_take_their_defaults_and_refuse_what_does_not_fit() {
        let c = Syscall::nums("mremap", &[1, 2, 3, 4]).unwrap();
        assert_eq!(c.args.len(), 5);
        assert_eq!(c.args[4], ArgValue::Num(0));
        assert!(Syscall::nums("mremap", &[1, 2, 3]).is_err());
        assert!(Syscall::nums("memfd_create", &[1, 2]).is_err());
        assert!(Syscall::nums("no_such_call", &[]).is_err());
        assert_eq!(
            syscall("mremap").unwrap().signature(),
            "mremap(old, old_len, new_len, flags [, new_addr])"
        );
        assert_eq!(
            syscall("memfd_create").unwrap().signature(),
            "memfd_create(\"name\", flags)"
        );
        assert_eq!(syscall("uffdio_copy").unwrap().address_arg(), Some(1));
        assert_eq!(syscall("mmap").unwrap().address_arg(), None);
    }
}
