//! fs/userfaultfd.c, the fault half: handle_userfault() queues a message and puts the faulting
//! task to sleep; read(2) hands messages to the handler; wake_userfault() lets sleeping tasks
//! retry their fault. (Registration is in mm/userfaultfd.rs, the resolving ioctls in
//! mm/uffd_mfill.rs.)

use std::collections::VecDeque;

use crate::errno::{Errno, SysResult};
use crate::kernel::{Kernel, Tid};
use crate::mm::memory::VmFault;
use crate::mm::userfaultfd::{O_NONBLOCK, UFFD_USER_MODE_ONLY};
use crate::mm::vma::Vma;

/// uffd_msg.event for a page fault.
pub const UFFD_EVENT_PAGEFAULT: u64 = 0x12;
/// uffd_msg.arg.pagefault.flags.
pub const UFFD_PAGEFAULT_FLAG_WRITE: u64 = 1 << 0;
pub const UFFD_PAGEFAULT_FLAG_WP: u64 = 1 << 1;
pub const UFFD_PAGEFAULT_FLAG_MINOR: u64 = 1 << 2;
/// Features handle_userfault() looks at.
pub const UFFD_FEATURE_SIGBUS: u64 = 1 << 7;
pub const UFFD_FEATURE_THREAD_ID: u64 = 1 << 8;
pub const UFFD_FEATURE_EXACT_ADDRESS: u64 = 1 << 11;

/// Why a fault goes to userspace (the VM_UFFD_* reason handle_userfault() is called with).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UffdReason {
    Missing,
    Wp,
    Minor,
}

/// struct uffd_msg for UFFD_EVENT_PAGEFAULT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UffdMsg {
    pub event: u64,
    pub flags: u64,
    pub address: u64,
    /// feat.ptid: the faulting thread's id with UFFD_FEATURE_THREAD_ID, else 0. The model's
    /// ids are its task handles, not host thread ids.
    pub ptid: u64,
}

/// A task asleep in handle_userfault(), with the message that describes its fault.
#[derive(Clone, Copy, Debug)]
pub struct UffdWaiter {
    pub tid: Tid,
    pub msg: UffdMsg,
}

/// The two wait queues of a userfaultfd_ctx.
#[derive(Clone, Debug, Default)]
pub struct UffdQueues {
    /// fault_pending_wqh: faults not yet read, oldest first.
    pub pending: VecDeque<UffdWaiter>,
    /// fault_wqh: faults read but not yet woken.
    pub read: Vec<UffdWaiter>,
}

/// userfault_msg(): the message for a fault at `real` (reported as `address`, the fault's
/// page or huge page, unless UFFD_FEATURE_EXACT_ADDRESS asks for the real address).
fn userfault_msg(
    address: u64,
    real: u64,
    tid: Tid,
    write: bool,
    reason: UffdReason,
    features: u64,
) -> UffdMsg {
    let mut flags = 0;
    if write {
        flags |= UFFD_PAGEFAULT_FLAG_WRITE;
    }
    match reason {
        UffdReason::Wp => flags |= UFFD_PAGEFAULT_FLAG_WP,
        UffdReason::Minor => flags |= UFFD_PAGEFAULT_FLAG_MINOR,
        UffdReason::Missing => {}
    }
    UffdMsg {
        event: UFFD_EVENT_PAGEFAULT,
        flags,
        address: if features & UFFD_FEATURE_EXACT_ADDRESS != 0 {
            real
        } else {
            address
        },
        ptid: if features & UFFD_FEATURE_THREAD_ID != 0 {
            tid as u64
        } else {
            0
        },
    }
}

impl Kernel {
    /// handle_userfault(): report the current task's fault at `real` (the unaligned address;
    /// `address` is vmf->address, the page, or the huge page for hugetlb) to the VMA's
    /// userfaultfd and put the task to sleep until a handler wakes it; with
    /// UFFD_FEATURE_SIGBUS the fault is SIGBUS instead.
    pub(crate) fn handle_userfault(
        &mut self,
        vma: &Vma,
        address: u64,
        real: u64,
        write: bool,
        reason: UffdReason,
    ) -> VmFault {
        let Some(ctx) = vma.uffd_ctx.and_then(|c| self.uffd.get(c).map(|_| c)) else {
            return VmFault::Sigbus;
        };
        let features = self.uffd[ctx].features.unwrap_or(0);
        if features & UFFD_FEATURE_SIGBUS != 0 {
            return VmFault::Sigbus;
        }
        // A fault from inside a syscall (populate, GUP) would sleep in that syscall; the model
        // cannot hold a syscall open, so it fails the fault (the syscall sees EFAULT).
        if !self.user_fault {
            return VmFault::Sigbus;
        }
        let tid = self.current;
        let msg = userfault_msg(address, real, tid, write, reason, features);
        self.uffd[ctx]
            .queues
            .pending
            .push_back(UffdWaiter { tid, msg });
        self.tasks[tid].uffd_wait = Some(ctx);
        VmFault::Userfault
    }

    /// Is the task asleep in handle_userfault()?
    pub fn uffd_sleeping(&self, tid: Tid) -> bool {
        self.tasks.get(tid).is_some_and(|t| t.uffd_wait.is_some())
    }

    /// read(2) of one uffd_msg (userfaultfd_ctx_read()): the oldest pending fault moves to
    /// the read queue. Ok(None) when nothing is pending on a blocking descriptor (the reader
    /// would sleep); EAGAIN on a non-blocking one; EINVAL before UFFDIO_API.
    pub fn uffd_read(&mut self, tid: Tid, fd: i64) -> SysResult<Option<UffdMsg>> {
        self.enter(tid)?;
        let ctx = self.uffd_ctx(tid, fd)?;
        let c = &mut self.uffd[ctx];
        if c.features.is_none() {
            return Err(Errno::EINVAL);
        }
        match c.queues.pending.pop_front() {
            Some(w) => {
                c.queues.read.push(w);
                Ok(Some(w.msg))
            }
            None if c.flags & O_NONBLOCK != 0 => Err(Errno::EAGAIN),
            None => Ok(None),
        }
    }

    /// wake_userfault(): every task of `ctx` whose fault address lies in `[start, start+len)`
    /// (all of them for len 0) wakes, pending or read, and will retry its fault.
    pub(crate) fn wake_userfault(&mut self, ctx: usize, start: u64, len: u64) {
        let Some(c) = self.uffd.get_mut(ctx) else {
            return;
        };
        let hit =
            |w: &UffdWaiter| len == 0 || (w.msg.address >= start && w.msg.address - start < len);
        let mut woken = Vec::new();
        c.queues.pending.retain(|w| {
            let h = hit(w);
            if h {
                woken.push(w.tid);
            }
            !h
        });
        c.queues.read.retain(|w| {
            let h = hit(w);
            if h {
                woken.push(w.tid);
            }
            !h
        });
        for t in woken {
            if let Some(task) = self.tasks.get_mut(t) {
                task.uffd_wait = None;
            }
        }
    }

    /// A task that exits stops waiting.
    pub(crate) fn uffd_forget_task(&mut self, tid: Tid) {
        for (_, c) in self.uffd.iter_mut() {
            c.queues.pending.retain(|w| w.tid != tid);
            c.queues.read.retain(|w| w.tid != tid);
        }
    }

    /// UFFDIO_WAKE (userfaultfd_wake()): no VMA or registration check, and not refused while
    /// mmap_changing.
    pub fn uffdio_wake(&mut self, tid: Tid, fd: i64, start: u64, len: u64) -> SysResult<()> {
        self.enter(tid)?;
        let ctx = self.uffd_ctx(tid, fd)?;
        if self.uffd[ctx].features.is_none() {
            return Err(Errno::EINVAL);
        }
        Self::uffd_validate_range(start, len)?;
        self.wake_userfault(ctx, start, len);
        Ok(())
    }
}

/// The flags userfaultfd(2) keeps on the context (O_NONBLOCK decides how read() waits).
pub(crate) fn ctx_flags(flags: u64) -> u64 {
    flags & (O_NONBLOCK | UFFD_USER_MODE_ONLY)
}
