//! include/linux/sched.h, trimmed: tasks, thread groups, why a task sleeps, and the signal a
//! user access can raise.

use crate::mm::MmId;

/// A task (thread) handle.
pub type Tid = usize;
/// A process (thread group) handle.
pub type Pid = usize;

/// task_struct, trimmed: which process and which CPU.
#[derive(Clone, Debug)]
pub struct Task {
    pub pid: Pid,
    pub mm: MmId,
    pub cpu: usize,
    /// Why the task sleeps, if it does: the event that will wake it.
    pub wait: Option<WaitReason>,
    /// The syscall this task sleeps in (ERESTARTNOINTR), to carry on once it is woken.
    pub restart: Option<crate::fs::userfaultfd::Restart>,
    /// The page (address >> 12) whose fault handle_userfault() answered with VM_FAULT_RETRY:
    /// x86's do_user_addr_fault() faults it again with FAULT_FLAG_TRIED once the task is
    /// woken, and the model's task does so when it retries its access.
    pub fault_retry: Option<u64>,
    /// The si_code of the last signal a user fault raised (force_sig_fault()).
    pub si_code: Option<u64>,
    /// current->mempolicy (MPOL_DEFAULT: none) and il_prev, the last node its interleaving
    /// took.
    pub mempolicy: crate::mm::mempolicy::Mempolicy,
    pub il_prev: usize,
    /// This thread's min_flt and maj_flt (getrusage(RUSAGE_THREAD)).
    pub min_flt: u64,
    pub maj_flt: u64,
    /// current->memcg_nr_pages_over_high: charges over memory.high whose reclaim and
    /// throttling wait for the return to user space (mem_cgroup_handle_over_high()).
    pub memcg_nr_pages_over_high: u64,
}

impl Task {
    /// Is it asleep in handle_userfault()?
    pub fn in_userfault(&self) -> bool {
        matches!(self.wait, Some(WaitReason::Userfault { .. }))
    }
}

/// A thread group: its address space, threads and fault counters.
#[derive(Clone, Debug)]
pub struct Process {
    pub mm: MmId,
    pub threads: Vec<Tid>,
    /// Sum of the threads' min_flt (getrusage(RUSAGE_SELF).ru_minflt).
    pub min_flt: u64,
    /// Sum of the threads' maj_flt (ru_majflt): faults that waited for I/O.
    pub maj_flt: u64,
    /// The descriptor table.
    pub fds: crate::fs::file::FdTable,
    /// signal_struct's resource limits (kernel/sys.c).
    pub rlim: crate::sys::Rlimits,
    /// The capability sets (effective, permitted, inheritable) of its tasks: root's full
    /// sets at first, as the host's agents have (the model keeps them per process).
    pub caps: crate::sys::Caps,
    /// The pid number (task_tgid_nr()), its process group's (task_pgrp_nr()) and its
    /// real_parent's (None once the parent has exited: init reaps it).
    pub nr: u64,
    pub pgid: u64,
    pub parent: Option<u64>,
    /// signal_struct's cmin_flt, cmaj_flt and cmaxrss: what the children it reaped used.
    pub children_ru: crate::sys::Rusage,
    /// signal->oom_score_adj and oom_score_adj_min (/proc/PID/oom_score_adj).
    pub oom_adj: crate::mm::oom_kill::OomScoreAdj,
}

/// A signal a user access raised.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Signal {
    /// SIGSEGV: no VMA, or the VMA forbids the access.
    Segv,
    /// SIGBUS: e.g. beyond the end of a shmem object.
    Bus,
    /// Out of memory: the OOM killer would end the task.
    Kill,
    /// Not a signal: the task sleeps in handle_userfault() until a userfaultfd handler wakes
    /// it; the access is then retried.
    Userfault,
    /// Not a signal: the fault handler keeps returning success without making the access
    /// possible, so the task faults for ever (until it is killed).
    Livelock,
}

impl Signal {
    /// The signal's C name.
    pub fn name(self) -> &'static str {
        match self {
            Signal::Segv => "SIGSEGV",
            Signal::Bus => "SIGBUS",
            Signal::Kill => "SIGKILL",
            Signal::Userfault => "a userfaultfd sleep",
            Signal::Livelock => "a fault livelock",
        }
    }
}

/// Why a task sleeps in the kernel (TASK_INTERRUPTIBLE or TASK_KILLABLE on a wait queue), so
/// which event wakes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitReason {
    /// handle_userfault(): on the context's fault_pending_wqh until UFFDIO_COPY, ZEROPAGE,
    /// CONTINUE, WRITEPROTECT or WAKE covers the address (or the context is released).
    Userfault { ctx: usize },
    /// userfaultfd_event_wait_completion(): until the handler has read every non-cooperative
    /// event (FORK, REMAP, REMOVE, UNMAP) the task caused.
    UffdEvents { unread: u32 },
    /// migration_entry_wait(): on the folio lock of a page under migration until the
    /// migration ends (remove_migration_ptes() and folio_unlock()).
    Migration { pfn: u64 },
    /// folio_lock_or_retry() in do_swap_page() after swap_readpage() started the read of
    /// the faulting page (a swap-in's memstall): until the read completes and unlocks it.
    SwapIn { pfn: u64 },
    /// folio_lock_or_retry() on a folio another task's swap-in holds locked: until that
    /// read completes.
    FolioLock { pfn: u64 },
    /// folio_wait_writeback() (shmem_swapin_folio() on a page whose swap-out write is in
    /// flight): until end_page_writeback().
    Writeback { pfn: u64 },
    /// reclaim_throttle(): direct reclaim asleep on pgdat->reclaim_wait[reason] from `since`
    /// until `until` (ns: the jiffy its timeout expires) or an earlier wake_up() of the queue.
    Reclaim {
        reason: crate::mm::vmscan_throttle::VmscanThrottle,
        since: u64,
        until: u64,
    },
    /// mem_cgroup_handle_over_high() inside a charge: the over-high penalty, slept from
    /// `since` until `until` (ns: the jiffy schedule_timeout_killable() returns at).
    MemcgHigh { since: u64, until: u64 },
}

impl WaitReason {
    /// When a timed sleep's timer fires (ns), for the sleeps that have one.
    pub fn timeout(&self) -> Option<u64> {
        match *self {
            WaitReason::Reclaim { until, .. } | WaitReason::MemcgHigh { until, .. } => Some(until),
            _ => None,
        }
    }
}
