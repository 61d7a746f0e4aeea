//! include/uapi/linux/wait.h and the signal numbers (x86_64) a scenario can end a process
//! with: what wait4() takes and what its status encodes.

/// wait4() options.
pub const WNOHANG: u64 = 0x0000_0001;
pub const WUNTRACED: u64 = 0x0000_0002;
pub const WCONTINUED: u64 = 0x0000_0008;
pub const WNOTHREAD: u64 = 0x2000_0000;
pub const WALL: u64 = 0x4000_0000;
pub const WCLONE: u64 = 0x8000_0000;

/// Signals whose default action ends the process without a core dump (besides SIGKILL).
pub const SIGHUP: u64 = 1;
pub const SIGINT: u64 = 2;
pub const SIGUSR1: u64 = 10;
pub const SIGUSR2: u64 = 12;
pub const SIGALRM: u64 = 14;
pub const SIGTERM: u64 = 15;

/// The wait.h and signal names.
pub const NAMES: &[(&str, u64)] = &[
    ("WNOHANG", WNOHANG),
    ("WUNTRACED", WUNTRACED),
    ("WCONTINUED", WCONTINUED),
    ("__WNOTHREAD", WNOTHREAD),
    ("__WALL", WALL),
    ("__WCLONE", WCLONE),
    ("SIGHUP", SIGHUP),
    ("SIGINT", SIGINT),
    ("SIGUSR1", SIGUSR1),
    ("SIGUSR2", SIGUSR2),
    ("SIGALRM", SIGALRM),
    ("SIGTERM", SIGTERM),
];
