//! include/uapi/asm-generic/resource.h, mman-common.h's mlock flags and siginfo.h's fault
//! codes (x86_64 values): what the mlock family, the rlimit calls and a fault's signal carry.

/// mlock2() flag: lock pages as they are faulted in, not now.
pub const MLOCK_ONFAULT: u64 = 0x01;

/// mlockall() flags.
pub const MCL_CURRENT: u64 = 1;
pub const MCL_FUTURE: u64 = 2;
pub const MCL_ONFAULT: u64 = 4;

/// The resources of getrlimit()/setrlimit()/prlimit64().
pub const RLIMIT_CPU: u64 = 0;
pub const RLIMIT_FSIZE: u64 = 1;
pub const RLIMIT_DATA: u64 = 2;
pub const RLIMIT_STACK: u64 = 3;
pub const RLIMIT_CORE: u64 = 4;
pub const RLIMIT_RSS: u64 = 5;
pub const RLIMIT_NPROC: u64 = 6;
pub const RLIMIT_NOFILE: u64 = 7;
pub const RLIMIT_MEMLOCK: u64 = 8;
pub const RLIMIT_AS: u64 = 9;
pub const RLIMIT_LOCKS: u64 = 10;
pub const RLIMIT_SIGPENDING: u64 = 11;
pub const RLIMIT_MSGQUEUE: u64 = 12;
pub const RLIMIT_NICE: u64 = 13;
pub const RLIMIT_RTPRIO: u64 = 14;
pub const RLIMIT_RTTIME: u64 = 15;
/// RLIM_NLIMITS: how many resources there are.
pub const RLIM_NLIMITS: usize = 16;
/// getrusage() `who`: the process, its reaped children, the calling thread.
pub const RUSAGE_SELF: i32 = 0;
pub const RUSAGE_CHILDREN: i32 = -1;
pub const RUSAGE_THREAD: i32 = 1;

/// RLIM_INFINITY: no limit.
pub const RLIM_INFINITY: u64 = u64::MAX;

/// si_code of a SIGSEGV: no mapping at the address, or one that forbids the access.
pub const SEGV_MAPERR: u64 = 1;
pub const SEGV_ACCERR: u64 = 2;
/// si_code of a SIGBUS: an address the object behind the mapping does not have.
pub const BUS_ADRERR: u64 = 2;

/// The resource.h, mlock, capability and fault-code names.
pub const NAMES: &[(&str, u64)] = &[
    ("CAP_IPC_LOCK", crate::sys::CAP_IPC_LOCK as u64),
    ("CAP_SYS_RESOURCE", crate::sys::CAP_SYS_RESOURCE as u64),
    ("CAP_SYS_NICE", crate::sys::CAP_SYS_NICE as u64),
    ("MLOCK_ONFAULT", MLOCK_ONFAULT),
    ("MCL_CURRENT", MCL_CURRENT),
    ("MCL_FUTURE", MCL_FUTURE),
    ("MCL_ONFAULT", MCL_ONFAULT),
    ("RLIMIT_CPU", RLIMIT_CPU),
    ("RLIMIT_FSIZE", RLIMIT_FSIZE),
    ("RLIMIT_DATA", RLIMIT_DATA),
    ("RLIMIT_STACK", RLIMIT_STACK),
    ("RLIMIT_CORE", RLIMIT_CORE),
    ("RLIMIT_RSS", RLIMIT_RSS),
    ("RLIMIT_NPROC", RLIMIT_NPROC),
    ("RLIMIT_NOFILE", RLIMIT_NOFILE),
    ("RLIMIT_MEMLOCK", RLIMIT_MEMLOCK),
    ("RLIMIT_AS", RLIMIT_AS),
    ("RLIMIT_LOCKS", RLIMIT_LOCKS),
    ("RLIMIT_SIGPENDING", RLIMIT_SIGPENDING),
    ("RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE),
    ("RLIMIT_NICE", RLIMIT_NICE),
    ("RLIMIT_RTPRIO", RLIMIT_RTPRIO),
    ("RLIMIT_RTTIME", RLIMIT_RTTIME),
    ("RLIM_NLIMITS", RLIM_NLIMITS as u64),
    ("RLIM_INFINITY", RLIM_INFINITY),
    ("RUSAGE_SELF", RUSAGE_SELF as u64),
    ("RUSAGE_CHILDREN", RUSAGE_CHILDREN as u32 as u64),
    ("RUSAGE_THREAD", RUSAGE_THREAD as u64),
    ("SEGV_MAPERR", SEGV_MAPERR),
    ("SEGV_ACCERR", SEGV_ACCERR),
    ("BUS_ADRERR", BUS_ADRERR),
];
