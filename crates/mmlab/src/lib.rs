//! mmlab: an executable model of Linux memory management as of the May 2022 mm series (5.19).
//!
//! One [`Kernel`] owns simulated hardware (frames, MMU, per-CPU TLBs), struct pages, address
//! spaces and their page tables in the real x86-64 format. Syscall-shaped methods take the
//! calling task and return the kernel's errno; user accesses go through the TLB and page walk.

#![forbid(unsafe_code)]

pub mod cgroup;
pub mod config;
pub mod errno;
pub mod fs;
pub mod hw;
pub mod invariants;
pub mod kernel;
pub mod kthread;
pub mod mm;
pub mod page;
pub mod pgtable;
pub mod probe;
pub mod sched;
pub mod sys;
pub mod task;
pub mod time;
pub mod trace;
pub mod uaccess;
pub mod uapi;
pub mod vmstat;
pub mod wait;
pub mod workload;

pub use config::{Config, ContentMode, Features, Profile};
pub use errno::{Errno, SysResult};
pub use kernel::Kernel;
pub use sched::{Signal, Tid};
