//! kernel/sys.c: resource limits (getrlimit(), setrlimit(), prlimit64()'s do_prlimit()), and
//! kernel/capability.c's capset() and capable() for the limits mm checks. A process's limits
//! live in its signal_struct, so threads share them and fork() copies them.
//!
//! The model's processes start as root with every capability, as the host backend's agents do
//! (the runner needs root for pagemap PFNs): capable(CAP_IPC_LOCK) and capable(CAP_SYS_RESOURCE)
//! hold for them, so RLIMIT_MEMLOCK refuses no mlock and a hard limit may be raised, until
//! capset() drops them (as mlock-random-test's cap_set_proc() does).

use crate::errno::{Errno, SysResult};
use crate::hw::PAGE_SIZE;
use crate::kernel::Kernel;
use crate::sched::Tid;
use crate::uapi::resource::*;

/// struct rlimit: the soft (current) and hard (maximum) limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rlimit {
    pub cur: u64,
    pub max: u64,
}

/// CAP_IPC_LOCK: lock memory beyond RLIMIT_MEMLOCK.
pub const CAP_IPC_LOCK: u32 = 14;
/// CAP_SYS_NICE: move other processes' pages (MPOL_MF_MOVE_ALL) and to any node.
pub const CAP_SYS_NICE: u32 = 23;
/// CAP_SYS_RESOURCE: raise hard resource limits.
pub const CAP_SYS_RESOURCE: u32 = 24;
/// CAP_LAST_CAP of 5.19 (CAP_CHECKPOINT_RESTORE).
const CAP_LAST_CAP: u32 = 40;

/// A task's capability sets (struct cred's cap_effective, cap_permitted, cap_inheritable).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caps {
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
}

impl Caps {
    /// CAP_FULL_SET: every capability 5.19 knows.
    const FULL: u64 = (1 << (CAP_LAST_CAP + 1)) - 1;
    /// Root's sets after exec: all effective and permitted, none inheritable.
    pub const ROOT: Caps = Caps {
        effective: Caps::FULL,
        permitted: Caps::FULL,
        inheritable: 0,
    };
}

/// signal_struct's rlim[].
pub type Rlimits = [Rlimit; RLIM_NLIMITS];

/// _STK_LIM: the default stack limit.
const STK_LIM: u64 = 8 << 20;
/// MLOCK_LIMIT (5.16 and later): 8 MiB lockable without CAP_IPC_LOCK.
const MLOCK_LIMIT: u64 = 8 << 20;
/// INR_OPEN_CUR and INR_OPEN_MAX.
const INR_OPEN_CUR: u64 = 1024;
const INR_OPEN_MAX: u64 = 4096;
/// MQ_BYTES_MAX.
const MQ_BYTES_MAX: u64 = 819_200;
/// sysctl_nr_open: the most descriptors RLIMIT_NOFILE may allow.
const NR_OPEN: u64 = 1024 * 1024;

/// INIT_RLIMITS as a booted machine of `memory` bytes hands them to its processes: fork_init()
/// sets RLIMIT_NPROC and RLIMIT_SIGPENDING to half of max_threads (one 16 KiB thread stack per
/// eighth of memory).
pub fn init_rlimits(memory: u64) -> Rlimits {
    let inf = Rlimit {
        cur: RLIM_INFINITY,
        max: RLIM_INFINITY,
    };
    let same = |v| Rlimit { cur: v, max: v };
    let max_threads = (memory / PAGE_SIZE / 32).clamp(20, 0x3fff_ffff);
    let mut r = [inf; RLIM_NLIMITS];
    r[RLIMIT_STACK as usize].cur = STK_LIM;
    r[RLIMIT_CORE as usize].cur = 0;
    r[RLIMIT_NPROC as usize] = same(max_threads / 2);
    r[RLIMIT_NOFILE as usize] = Rlimit {
        cur: INR_OPEN_CUR,
        max: INR_OPEN_MAX,
    };
    r[RLIMIT_MEMLOCK as usize] = same(MLOCK_LIMIT);
    r[RLIMIT_SIGPENDING as usize] = same(max_threads / 2);
    r[RLIMIT_MSGQUEUE as usize] = same(MQ_BYTES_MAX);
    r[RLIMIT_NICE as usize] = same(0);
    r[RLIMIT_RTPRIO as usize] = same(0);
    r
}

impl Kernel {
    /// rlimit(): the current task's soft limit of `resource`.
    pub(crate) fn rlimit(&self, resource: u64) -> u64 {
        self.rlimit_pair(resource).cur
    }

    /// The current task's limits of `resource` (rlimit() and rlimit_max()).
    pub(crate) fn rlimit_pair(&self, resource: u64) -> Rlimit {
        let pid = self.tasks[self.current].pid;
        self.procs[pid].rlim[resource as usize]
    }

    /// capable(): is `cap` in the current task's effective set?
    pub(crate) fn capable(&self, cap: u32) -> bool {
        let pid = self.tasks[self.current].pid;
        self.procs[pid].caps.effective & (1 << cap) != 0
    }

    /// capset(2) on the calling task with _LINUX_CAPABILITY_VERSION_3 (cap_capset()'s rules):
    /// the permitted set may only shrink, the effective set must lie in the new permitted one,
    /// and the inheritable set may only take what is permitted or already inheritable (EPERM).
    pub fn capset(&mut self, tid: Tid, new: Caps) -> SysResult<()> {
        self.enter(tid)?;
        let pid = self.tasks[tid].pid;
        let old = self.procs[pid].caps;
        if new.permitted & !old.permitted != 0
            || new.effective & !new.permitted != 0
            || new.inheritable & !(old.inheritable | old.permitted) != 0
        {
            return Err(Errno::EPERM);
        }
        self.procs[pid].caps = new;
        Ok(())
    }

    /// do_prlimit() on the calling task's process: the old limits, after setting `new` if
    /// given. EINVAL for an unknown resource or a soft limit above the hard one; EPERM for
    /// RLIMIT_NOFILE past sysctl_nr_open or a hard limit raised without CAP_SYS_RESOURCE.
    fn do_prlimit(&mut self, tid: Tid, resource: u64, new: Option<Rlimit>) -> SysResult<Rlimit> {
        self.enter(tid)?;
        if resource >= RLIM_NLIMITS as u64 {
            return Err(Errno::EINVAL);
        }
        let old = self.rlimit_pair(resource);
        if let Some(n) = new {
            if n.cur > n.max {
                return Err(Errno::EINVAL);
            }
            if resource == RLIMIT_NOFILE && n.max > NR_OPEN {
                return Err(Errno::EPERM);
            }
            if n.max > old.max && !self.capable(CAP_SYS_RESOURCE) {
                return Err(Errno::EPERM);
            }
            let pid = self.tasks[tid].pid;
            self.procs[pid].rlim[resource as usize] = n;
        }
        Ok(old)
    }

    /// getrlimit(2).
    pub fn getrlimit(&mut self, tid: Tid, resource: u64) -> SysResult<Rlimit> {
        self.do_prlimit(tid, resource, None)
    }

    /// setrlimit(2).
    pub fn setrlimit(&mut self, tid: Tid, resource: u64, new: Rlimit) -> SysResult<()> {
        self.do_prlimit(tid, resource, Some(new)).map(|_| ())
    }

    /// getrusage(2): `who` is RUSAGE_SELF (every thread's faults, the mm's high-water RSS),
    /// RUSAGE_THREAD (the caller's own faults, the same RSS) or RUSAGE_CHILDREN (the
    /// counters of the children reaped so far); anything else is `EINVAL`.
    pub fn getrusage(&mut self, tid: Tid, who: i32) -> SysResult<Rusage> {
        let t = self.task(tid)?;
        let p = &self.procs[t.pid];
        let mut r = match who {
            RUSAGE_SELF => Rusage {
                minflt: p.min_flt,
                majflt: p.maj_flt,
                maxrss: 0,
            },
            RUSAGE_THREAD => Rusage {
                minflt: t.min_flt,
                majflt: t.maj_flt,
                maxrss: 0,
            },
            RUSAGE_CHILDREN => return Ok(p.children_ru.in_kb()),
            _ => return Err(Errno::EINVAL),
        };
        // The model's threads end only with their process, so signal->maxrss is 0 while it
        // lives: the mm's high-water mark is all there is.
        r.maxrss = self.mms[t.mm].get_mm_hiwater_rss();
        Ok(r.in_kb())
    }
}

/// struct rusage, the fields mm accounts: ru_minflt, ru_majflt and ru_maxrss (in pages here;
/// getrusage() gives kB).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rusage {
    pub minflt: u64,
    pub majflt: u64,
    pub maxrss: u64,
}

impl Rusage {
    /// ru_maxrss converted from pages to kB, as getrusage() returns it.
    pub fn in_kb(self) -> Rusage {
        Rusage {
            maxrss: self.maxrss * (PAGE_SIZE / 1024),
            ..self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, Kernel};

    #[test]
    fn limits_follow_do_prlimit_rules() {
        let mut k = Kernel::new(Config::default());
        let t = k.spawn_process(0).unwrap();
        let m = k.getrlimit(t, RLIMIT_MEMLOCK).unwrap();
        assert_eq!((m.cur, m.max), (8 << 20, 8 << 20));
        assert_eq!(k.getrlimit(t, 16), Err(Errno::EINVAL));
        let bad = Rlimit { cur: 2, max: 1 };
        assert_eq!(k.setrlimit(t, RLIMIT_DATA, bad), Err(Errno::EINVAL));
        let huge = Rlimit {
            cur: 1,
            max: NR_OPEN + 1,
        };
        assert_eq!(k.setrlimit(t, RLIMIT_NOFILE, huge), Err(Errno::EPERM));
        let raise = Rlimit {
            cur: 1 << 30,
            max: 1 << 30,
        };
        // Root raises a hard limit; without CAP_SYS_RESOURCE it may only lower it.
        k.setrlimit(t, RLIMIT_MEMLOCK, raise).unwrap();
        let none = Caps {
            effective: 0,
            permitted: 0,
            inheritable: 0,
        };
        k.capset(t, none).unwrap();
        assert_eq!(
            k.capset(t, Caps::ROOT),
            Err(Errno::EPERM),
            "permitted cannot grow"
        );
        let up = Rlimit {
            cur: 1 << 31,
            max: 1 << 31,
        };
        assert_eq!(k.setrlimit(t, RLIMIT_MEMLOCK, up), Err(Errno::EPERM));
        let down = Rlimit { cur: 0, max: 4096 };
        k.setrlimit(t, RLIMIT_MEMLOCK, down).unwrap();
        assert_eq!(k.getrlimit(t, RLIMIT_MEMLOCK).unwrap(), down);
        // fork() copies them.
        let c = k.fork(t).unwrap();
        assert_eq!(k.getrlimit(c, RLIMIT_MEMLOCK).unwrap(), down);
    }
}
