//! The language's vocabulary in one place: every call with its argument counts and what it
//! returns, the record fields, the signals and the constants. The check pass, the runner and
//! the guide's consistency test all read these tables.

use std::sync::OnceLock;

use mmlab::Errno;

use crate::ast::Radix;

/// What kind of thing a call is; it decides where the call may stand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallKind {
    /// A syscall: its failure ends the scenario unless written `expect CALL fails ERRNO`.
    Syscall,
    /// A memory access (or `wait()`, which finishes one): it may raise a signal.
    Access,
    /// A look at /proc, or read(2) of a userfaultfd message.
    Probe,
    /// A look inside the model (`model.…`).
    ModelProbe,
    /// `fork()` and `thread(N)`: they bind a task, so only `NAME = fork()`.
    Task,
    /// `exit(STATUS)`: a statement of its own.
    Exit,
    /// `mem(ADDR, LEN)`: only in `expect mem(ADDR, LEN) == BYTE`.
    Mem,
    /// `sleep(MS)`: time passes (on the model, kernel threads run); a statement of its own.
    Sleep,
    /// `sysfs_read("PATH")`, `sysfs_write("PATH", VALUE)`: a sysfs or procfs file, read or
    /// written as `cat` and `echo` do; like a syscall, its failure is an errno.
    Sysfs,
}

/// How a call's arguments are written.
#[derive(Clone, Copy, Debug)]
pub enum Args {
    /// Expressions.
    Exprs,
    /// One bare name from a table (`meminfo(AnonPages)`).
    Name(fn() -> Vec<&'static str>),
    /// A syscall's C arguments, as its declaration says (a string literal for a `Str`).
    Syscall(&'static [crate::syscalls::Arg]),
    /// A quoted path the model serves, then (to write) a quoted value or a number.
    Sysfs,
    /// A quoted swap name a header declared (`"swap0"`), or an absolute path.
    Swap,
}

/// What a call gives back.
#[derive(Clone, Copy, Debug)]
pub enum Returns {
    Num(Radix),
    Record(&'static RecordKind),
    /// What a file's contents stand for: a number, or text (`crate::sysfs::FileValue`).
    File,
}

/// A call of the language.
#[derive(Clone, Copy, Debug)]
pub struct CallSpec {
    pub name: &'static str,
    pub kind: CallKind,
    /// The fewest and the most arguments it takes.
    pub arity: (usize, usize),
    pub args: Args,
    pub returns: Returns,
}

/// A record a probe returns, with its field names.
#[derive(Debug)]
pub struct RecordKind {
    pub name: &'static str,
    /// Whether the record is also a number (`pagemap(p)` is the raw 64-bit entry).
    pub raw: bool,
    pub fields: fn() -> Vec<&'static str>,
}

/// Fields of `pagemap(addr)`: the bits of a /proc/PID/pagemap entry.
pub const PAGEMAP_FIELDS: &[(&str, u32, u32)] = &[
    // (name, first bit, width)
    ("present", 63, 1),
    ("swapped", 62, 1),
    ("file", 61, 1),
    ("uffd_wp", 57, 1),
    ("exclusive", 56, 1),
    ("soft_dirty", 55, 1),
    ("pfn", 0, 55),
];

pub static PAGEMAP: RecordKind = RecordKind {
    name: "pagemap",
    raw: true,
    fields: || PAGEMAP_FIELDS.iter().map(|f| f.0).collect(),
};

/// Fields of `maps(addr)`.
pub const MAPS_FIELDS: &[&str] = &["start", "end", "prot", "shared"];

pub static MAPS: RecordKind = RecordKind {
    name: "maps",
    raw: false,
    fields: || MAPS_FIELDS.to_vec(),
};

/// The smaps fields scenarios may name (the kernel prints more; both backends give these).
pub const SMAPS_FIELDS: &[&str] = &[
    "size",
    "rss",
    "pss",
    "shared_clean",
    "shared_dirty",
    "private_clean",
    "private_dirty",
    "referenced",
    "anonymous",
    "lazyfree",
    "swap",
    "swappss",
    "locked",
    "shared_hugetlb",
    "private_hugetlb",
    "anonhugepages",
    "shmempmdmapped",
    "filepmdmapped",
    "thpeligible",
];

pub static SMAPS: RecordKind = RecordKind {
    name: "smaps",
    raw: false,
    fields: || {
        SMAPS_FIELDS
            .iter()
            .copied()
            .chain(mmlab::fs::proc::SMAPS_VMFLAGS.iter().map(|&(f, _, _)| f))
            .collect()
    },
};

/// Fields of `swaps(NAME)`: the area's /proc/swaps line (sizes in kB).
pub const SWAPS_FIELDS: &[&str] = &["size", "used", "priority"];

pub static SWAPS: RecordKind = RecordKind {
    name: "swaps",
    raw: false,
    fields: || SWAPS_FIELDS.to_vec(),
};

/// Fields of a uffd_msg (`uffd_read(fd)`): the event, then its union member's fields.
pub const UFFD_MSG_FIELDS: &[&str] = &[
    "event", "flags", "address", "ptid", "ufd", "from", "to", "len", "start", "end",
];

pub static UFFD_MSG: RecordKind = RecordKind {
    name: "uffd_msg",
    raw: false,
    fields: || UFFD_MSG_FIELDS.to_vec(),
};

/// Fields of `fstat(fd)`: struct stat's st_size, st_blocks (512-byte units), st_mode,
/// st_nlink.
pub const STAT_FIELDS: &[&str] = &["size", "blocks", "mode", "nlink"];

pub static STAT: RecordKind = RecordKind {
    name: "fstat",
    raw: false,
    fields: || STAT_FIELDS.to_vec(),
};

/// Fields of `waitpid(pid, options)`: what it returned (the child's pid, 0 under WNOHANG
/// when none has exited), the raw wait status, and the wait.h macros applied to it.
pub const WAIT_FIELDS: &[&str] = &[
    "pid",
    "status",
    "wifexited",
    "wexitstatus",
    "wifsignaled",
    "wtermsig",
];

pub static WAIT: RecordKind = RecordKind {
    name: "waitpid",
    raw: false,
    fields: || WAIT_FIELDS.to_vec(),
};

/// Fields of struct rusage that mm accounts (`getrusage(who)`; ru_maxrss in kB).
pub const RUSAGE_FIELDS: &[&str] = &["minflt", "majflt", "maxrss"];

pub static RUSAGE: RecordKind = RecordKind {
    name: "getrusage",
    raw: false,
    fields: || RUSAGE_FIELDS.to_vec(),
};

/// Fields of `wait4(pid, options)`: waitpid's, then the reaped child's rusage.
pub static WAIT4: RecordKind = RecordKind {
    name: "wait4",
    raw: false,
    fields: || WAIT_FIELDS.iter().chain(RUSAGE_FIELDS).copied().collect(),
};

/// Fields of `model.page(addr)`: the struct page mapped there.
pub const MODEL_PAGE_FIELDS: &[&str] = &[
    "pfn",
    "anon",
    "anon_exclusive",
    "refcount",
    "mapcount",
    "thp",
    "zero",
    "dirty",
    "lru",
    "active",
    "referenced",
    "swapbacked",
    "node",
    "swapcache",
];

pub static MODEL_PAGE: RecordKind = RecordKind {
    name: "model.page",
    raw: false,
    fields: || MODEL_PAGE_FIELDS.to_vec(),
};

/// How a record field is best written: addresses and PFNs (particular to a machine), events
/// and flag words in hex.
pub fn field_radix(field: &str) -> Radix {
    match field {
        "pfn" | "start" | "end" | "address" | "from" | "to" => Radix::Addr,
        "event" | "flags" | "mode" | "status" => Radix::Hex,
        _ => Radix::Dec,
    }
}

fn meminfo_names() -> Vec<&'static str> {
    mmlab::fs::proc::MEMINFO_NAMES.to_vec()
}

fn status_names() -> Vec<&'static str> {
    mmlab::Kernel::STATUS_NAMES.to_vec()
}

fn vmstat_names() -> Vec<&'static str> {
    mmlab::vmstat::VmStat::LINUX_NAMES.to_vec()
}

fn counter_names() -> Vec<&'static str> {
    mmlab::vmstat::VmStat::names()
        .chain(mmlab::mm::page_io::SWAP_RW_COUNTERS.iter().copied())
        .chain(
            mmlab::mm::vmscan_throttle::RECLAIM_THROTTLE_COUNTERS
                .iter()
                .copied(),
        )
        .collect()
}

const fn call(
    name: &'static str,
    kind: CallKind,
    arity: (usize, usize),
    returns: Returns,
) -> CallSpec {
    CallSpec {
        name,
        kind,
        arity,
        args: Args::Exprs,
        returns,
    }
}

const fn named(name: &'static str, kind: CallKind, names: fn() -> Vec<&'static str>) -> CallSpec {
    CallSpec {
        name,
        kind,
        arity: (1, 1),
        args: Args::Name(names),
        returns: Returns::Num(Radix::Dec),
    }
}

use CallKind::*;
use Radix::*;

/// The calls that are not syscalls of `crate::syscalls::all()`, in the guide's order.
static OTHER_CALLS: &[CallSpec] = &[
    call("fork", Task, (0, 0), Returns::Num(Dec)),
    call("thread", Task, (1, 1), Returns::Num(Dec)),
    call("exit", Exit, (1, 1), Returns::Num(Dec)),
    call("raise", Exit, (1, 1), Returns::Num(Dec)),
    call("uffd_read", Probe, (1, 1), Returns::Record(&UFFD_MSG)),
    call("fstat", Probe, (1, 1), Returns::Record(&STAT)),
    call("waitpid", Probe, (2, 2), Returns::Record(&WAIT)),
    call("wait4", Probe, (2, 2), Returns::Record(&WAIT4)),
    call("getrusage", Probe, (1, 1), Returns::Record(&RUSAGE)),
    call("load", Access, (1, 1), Returns::Num(Byte)),
    call("store", Access, (2, 2), Returns::Num(Dec)),
    call("memset", Access, (3, 3), Returns::Num(Dec)),
    call("touch", Access, (2, 2), Returns::Num(Dec)),
    call("fill", Access, (3, 3), Returns::Num(Dec)),
    call("fill_pages", Access, (3, 3), Returns::Num(Dec)),
    call("wait", Access, (0, 0), Returns::Num(Auto)),
    call("mem", Mem, (2, 2), Returns::Num(Byte)),
    call("sleep", Sleep, (1, 1), Returns::Num(Dec)),
    CallSpec {
        name: "sysfs_read",
        kind: Sysfs,
        arity: (1, 1),
        args: Args::Sysfs,
        returns: Returns::File,
    },
    CallSpec {
        name: "sysfs_write",
        kind: Sysfs,
        arity: (2, 2),
        args: Args::Sysfs,
        returns: Returns::Num(Dec),
    },
    call("pagemap", Probe, (1, 1), Returns::Record(&PAGEMAP)),
    call("zero_pfn", Probe, (0, 0), Returns::Num(Addr)),
    call("minflt", Probe, (0, 0), Returns::Num(Dec)),
    call("majflt", Probe, (0, 0), Returns::Num(Dec)),
    call("maps", Probe, (1, 1), Returns::Record(&MAPS)),
    call("vma_count", Probe, (2, 2), Returns::Num(Dec)),
    call("smaps", Probe, (1, 1), Returns::Record(&SMAPS)),
    CallSpec {
        name: "swaps",
        kind: Probe,
        arity: (1, 1),
        args: Args::Swap,
        returns: Returns::Record(&SWAPS),
    },
    named("meminfo", Probe, meminfo_names),
    named("status", Probe, status_names),
    named("vmstat", Probe, vmstat_names),
    call("model.tlb_flushes", ModelProbe, (0, 1), Returns::Num(Dec)),
    named("model.counter", ModelProbe, counter_names),
    call(
        "model.page",
        ModelProbe,
        (1, 1),
        Returns::Record(&MODEL_PAGE),
    ),
    call("model.pte", ModelProbe, (1, 1), Returns::Num(Addr)),
    call(
        "model.khugepaged_scan",
        ModelProbe,
        (1, 1),
        Returns::Num(Dec),
    ),
    call(
        "model.khugepaged_collapse",
        ModelProbe,
        (1, 1),
        Returns::Num(Dec),
    ),
    call("model.get_page", ModelProbe, (1, 1), Returns::Num(Addr)),
    call("model.put_page", ModelProbe, (1, 1), Returns::Num(Dec)),
    call("model.dma_write", ModelProbe, (3, 3), Returns::Num(Dec)),
    call("model.swap_io_defer", ModelProbe, (1, 1), Returns::Num(Dec)),
    call(
        "model.swap_io_complete",
        ModelProbe,
        (1, 1),
        Returns::Num(Dec),
    ),
    call(
        "model.swap_io_complete_all",
        ModelProbe,
        (0, 0),
        Returns::Num(Dec),
    ),
    call("model.swap_io_fail", ModelProbe, (1, 1), Returns::Num(Dec)),
    call(
        "model.swap_host_byte",
        ModelProbe,
        (1, 1),
        Returns::Num(Hex),
    ),
    call(
        "model.fail_page_alloc",
        ModelProbe,
        (2, 2),
        Returns::Num(Dec),
    ),
    call(
        "model.damon_nr_regions",
        ModelProbe,
        (1, 1),
        Returns::Num(Dec),
    ),
    call(
        "model.damon_nr_accesses",
        ModelProbe,
        (2, 2),
        Returns::Num(Dec),
    ),
    call(
        "model.damon_aggregations",
        ModelProbe,
        (1, 1),
        Returns::Num(Dec),
    ),
    call("model.migrate_begin", ModelProbe, (2, 2), Returns::Num(Dec)),
    call("model.migrate_end", ModelProbe, (0, 0), Returns::Num(Dec)),
    call(
        "model.pin_fast_begin",
        ModelProbe,
        (3, 3),
        Returns::Num(Dec),
    ),
    call("model.pin_fast_end", ModelProbe, (0, 0), Returns::Num(Dec)),
    call("model.unpin_fast", ModelProbe, (0, 0), Returns::Num(Dec)),
];

/// Every call a scenario can make: the syscalls of the table, then the others.
pub fn calls() -> &'static [CallSpec] {
    static CALLS: OnceLock<Vec<CallSpec>> = OnceLock::new();
    CALLS.get_or_init(|| {
        crate::syscalls::all()
            .map(|d| CallSpec {
                name: d.name,
                kind: Syscall,
                arity: d.arity(),
                args: Args::Syscall(d.args),
                returns: Returns::Num(d.returns),
            })
            .chain(OTHER_CALLS.iter().copied())
            .collect()
    })
}

/// The call named `name`.
pub fn call_spec(name: &str) -> Option<&'static CallSpec> {
    calls().iter().find(|c| c.name == name)
}

/// The longest a scenario waits at once (`sleep(MS)`, `within MS`): one hour, so that a typo
/// cannot keep a host run busy for days.
pub const MAX_WAIT_MS: u64 = 3_600_000;

/// Does the call only look, so that `expect ... within` may evaluate it again and again?
pub fn is_observation(name: &str) -> bool {
    match call_spec(name).map(|c| c.kind) {
        Some(CallKind::Probe) => name != "uffd_read",
        Some(CallKind::ModelProbe) => matches!(
            name,
            "model.tlb_flushes"
                | "model.counter"
                | "model.page"
                | "model.pte"
                | "model.damon_nr_regions"
                | "model.damon_nr_accesses"
                | "model.damon_aggregations"
        ),
        Some(CallKind::Sysfs) => name == "sysfs_read",
        _ => false,
    }
}

/// The names of the calls of one kind, for messages and the guide.
pub fn call_names(kind: CallKind) -> Vec<&'static str> {
    calls()
        .iter()
        .filter(|c| c.kind == kind)
        .map(|c| c.name)
        .collect()
}

/// Which argument of a call is the address it looks at (for the state shown on a failure).
pub fn address_arg(call: &str) -> Option<usize> {
    if let Some(d) = crate::syscalls::syscall(call) {
        return d.address_arg();
    }
    match call {
        "load"
        | "store"
        | "memset"
        | "touch"
        | "fill"
        | "fill_pages"
        | "pagemap"
        | "maps"
        | "smaps"
        | "vma_count"
        | "model.page"
        | "model.pte"
        | "model.get_page"
        | "model.khugepaged_scan"
        | "model.khugepaged_collapse"
        | "model.migrate_begin"
        | "model.pin_fast_begin"
        | "model.swap_host_byte" => Some(0),
        _ => None,
    }
}

/// The signals `expect ACCESS faults SIGNAL` can name.
pub const SIGNALS: &[&str] = &["SIGSEGV", "SIGBUS", "SIGKILL"];

/// The si_code values `expect ACCESS faults SIGNAL SI_CODE` can name, by signal
/// (arch/x86/mm/fault.c: no VMA, or a fault handler's VM_FAULT_SIGSEGV, is SEGV_MAPERR; a
/// VMA that forbids the access SEGV_ACCERR; VM_FAULT_SIGBUS BUS_ADRERR).
pub const SI_CODES: &[(&str, &str)] = &[
    ("SIGSEGV", "SEGV_MAPERR"),
    ("SIGSEGV", "SEGV_ACCERR"),
    ("SIGBUS", "BUS_ADRERR"),
];

/// The value of si_code `code` of signal `sig`.
pub fn si_code(sig: &str, code: &str) -> Option<u64> {
    SI_CODES
        .iter()
        .any(|&(s, c)| s == sig && c == code)
        .then(|| constant(code))
        .flatten()
}

/// The name of si_code value `v` of the signal named `sig` ("other" if it is none of them).
pub fn si_code_name(sig: &str, v: u64) -> &'static str {
    SI_CODES
        .iter()
        .find(|&&(s, c)| s == sig && constant(c) == Some(v))
        .map_or("other", |&(_, c)| c)
}

/// The signal an access raised, by name.
pub fn signal(name: &str) -> Option<mmlab::Signal> {
    match name {
        "SIGSEGV" => Some(mmlab::Signal::Segv),
        "SIGBUS" => Some(mmlab::Signal::Bus),
        // The OOM killer's, for a fault that ran out of memory (VM_FAULT_OOM).
        "SIGKILL" => Some(mmlab::Signal::Kill),
        _ => None,
    }
}

/// Constants the language knows: uapi names, errnos, sizes.
pub fn constant(name: &str) -> Option<u64> {
    match name {
        "NULL" => Some(0),
        "PAGE_SIZE" => Some(4096),
        "HPAGE_SIZE" => Some(2 << 20),
        _ if name.starts_with("F_") => mmlab::mm::memfd::SEAL_NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|&(_, v)| v),
        _ if name.starts_with("UFFD") || name.starts_with("_UFFDIO") => {
            mmlab::uapi::userfaultfd::constant(name)
        }
        _ if name.starts_with("SCAN_") => mmlab::mm::khugepaged::ScanResult::ALL
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(r, _)| *r as u64),
        _ => {
            mmlab::uapi::constant(name).or_else(|| Errno::from_name(name).map(|e| e.code() as u64))
        }
    }
}

/// How a constant is best written: flag words and addresses in hex, sizes and errnos in
/// decimal.
pub fn constant_radix(name: &str) -> Radix {
    if name.starts_with("PROT_")
        || name.starts_with("MAP_")
        || name.starts_with("MREMAP_")
        || name.starts_with("UFFD")
        || name.starts_with("O_")
        || name.starts_with("MFD_")
        || name.starts_with("F_SEAL")
        || name.starts_with("FALLOC_")
    {
        Radix::Hex
    } else {
        Radix::Auto
    }
}
