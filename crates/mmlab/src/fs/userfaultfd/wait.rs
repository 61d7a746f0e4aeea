//! fs/userfaultfd.c, the wait queues: handle_userfault() queues a fault and puts the faulting
//! task to sleep; the non-cooperative events (FORK, REMAP, REMOVE, UNMAP) put the task that
//! caused them to sleep until they are read; read(2) hands messages to the handler;
//! wake_userfault() lets sleeping faults retry.

use std::collections::VecDeque;

use smallvec::SmallVec;

use crate::errno::{Errno, SysResult};
use crate::fs::file::FileKind;
use crate::kernel::Kernel;
use crate::mm::memory::Vmf;
use crate::mm::vm_fault::{FaultFlags, VmFault};
use crate::mm::vma::Vma;
use crate::sched::{Tid, WaitReason};
use crate::uapi::userfaultfd::*;
use crate::uapi::O_NONBLOCK;

/// Why a fault goes to userspace (the VM_UFFD_* reason handle_userfault() is called with).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UffdReason {
    Missing,
    Wp,
    Minor,
}

/// struct uffd_msg: the event and the three words of its argument union. A page fault has
/// (flags, address, ptid), FORK (ufd), REMAP (from, to, len), REMOVE and UNMAP (start, end).
/// ptid is the faulting thread with UFFD_FEATURE_THREAD_ID; the model's are task handles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UffdMsg {
    pub event: u64,
    pub arg: [u64; 3],
}

impl UffdMsg {
    /// A page fault's address.
    pub fn address(&self) -> u64 {
        self.arg[1]
    }
}

/// A task asleep in handle_userfault(), with the message that describes its fault.
#[derive(Clone, Copy, Debug)]
pub struct UffdWaiter {
    pub tid: Tid,
    pub msg: UffdMsg,
}

/// A task asleep in userfaultfd_event_wait_completion() until its event is read; a FORK event
/// carries the child's new context, which the read installs as a descriptor.
#[derive(Clone, Copy, Debug)]
pub struct UffdEventWait {
    pub tid: Tid,
    pub msg: UffdMsg,
    pub fork_ctx: Option<usize>,
}

/// The wait queues of a userfaultfd_ctx.
#[derive(Clone, Debug, Default)]
pub struct UffdQueues {
    /// fault_pending_wqh: faults not yet read, oldest first.
    pub pending: VecDeque<UffdWaiter>,
    /// fault_wqh: faults read but not yet woken.
    pub read: Vec<UffdWaiter>,
    /// event_wqh: events not yet read, oldest first.
    pub events: VecDeque<UffdEventWait>,
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
    let address = if features & UFFD_FEATURE_EXACT_ADDRESS != 0 {
        real
    } else {
        address
    };
    let ptid = if features & UFFD_FEATURE_THREAD_ID != 0 {
        tid as u64
    } else {
        0
    };
    UffdMsg {
        event: UFFD_EVENT_PAGEFAULT,
        arg: [flags, address, ptid],
    }
}

/// A syscall a task sleeps in (it returned ERESTARTNOINTR), and where it goes on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Restart {
    /// madvise(MADV_POPULATE_*) of `[.., end)` stopped at `start` (the page that faulted) while
    /// populating the VMA chunk that ends at `chunk_end`; `hole` remembers an unmapped gap
    /// already passed (ENOMEM once the rest is done).
    Madvise {
        start: u64,
        chunk_end: u64,
        end: u64,
        advice: u64,
        hole: bool,
    },
    /// UFFDIO_COPY slept on a fault of its source.
    Copy(CopyRestart),
    /// mlock()'s populate of `[start, end)` slept in memcg's over-high penalty at `start`.
    Mlock { start: u64, end: u64 },
    /// mremap() growing an mlocked VMA slept while populating the new part at `start` of
    /// `[start, end)`; it returns `ret` (the new address) once that is done.
    Populate { start: u64, end: u64, ret: u64 },
    /// MADV_DONTNEED/FREE/REMOVE of `[start, end)` (inside the VMA at `start`) sleeps in
    /// userfaultfd_remove() until its REMOVE event is read, before it touches anything; then
    /// it finishes that part (`punch`: the file and offset MADV_REMOVE resolved before the
    /// sleep, with a reference on the file) and the walk goes on from `next` to `call_end`.
    AfterRemoveEvent {
        start: u64,
        end: u64,
        advice: u64,
        punch: Option<(crate::fs::inode::Ino, u64)>,
        next: u64,
        call_end: u64,
        hole: bool,
    },
    /// mincore() slept copying a batch of its vector out at `out`: `rest` is what that batch
    /// still has to write; the pages from `next` to `end` follow.
    Mincore {
        next: u64,
        end: u64,
        out: u64,
        rest: Box<[u8]>,
    },
}

/// A UFFDIO_COPY of `[dst, dst+len)` from `src` that slept on a fault of its source while
/// filling page `at` (5.19 retries the copy_from_user() without mmap_lock, where it may sleep).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CopyRestart {
    pub ctx: usize,
    pub dst: u64,
    pub len: u64,
    pub src: u64,
    pub wp: bool,
    pub dontwake: bool,
    pub at: u64,
    /// The page the source is being copied into, held over the sleep (the temporary huge
    /// page for hugetlb).
    pub page: Option<crate::page::Folio>,
}

impl Kernel {
    /// restart_syscall(): carry on the syscall `tid` slept in once a handler has woken it. It
    /// may sleep again on the next fault (ERESTARTNOINTR once more).
    pub fn restart_syscall(&mut self, tid: Tid) -> SysResult<u64> {
        let task = self.tasks.get_mut(tid).ok_or(Errno::ESRCH)?;
        let Some(r) = task.restart.take() else {
            return Err(Errno::EINVAL);
        };
        if task.wait.is_some() {
            task.restart = Some(r);
            return Err(Errno::ERESTARTNOINTR);
        }
        let r = match r {
            Restart::Madvise {
                start,
                chunk_end,
                end,
                advice,
                hole,
            } => self
                .madvise_populate_restart(tid, (start, chunk_end, end), advice, hole)
                .map(|_| 0),
            Restart::Copy(c) => self.uffdio_copy_restart(tid, c),
            Restart::Mlock { start, end } => {
                let mm = self.enter(tid)?;
                self.mlock_populate(tid, mm, (start, end)).map(|_| 0)
            }
            Restart::Populate { start, end, ret } => {
                let mm = self.enter(tid)?;
                self.mm_populate_locked(tid, mm, (start, end), ret)
            }
            Restart::Mincore {
                next,
                end,
                out,
                rest,
            } => self.mincore_restart(tid, (next, end), out, &rest),
            Restart::AfterRemoveEvent {
                start,
                end,
                advice,
                punch,
                next,
                call_end,
                hole,
            } => self
                .madvise_after_remove_event(
                    tid,
                    (start, end),
                    advice,
                    punch,
                    (next, call_end),
                    hole,
                )
                .map(|_| 0),
        };
        // The way back to user space: what the call released goes now.
        self.task_work_run();
        r
    }

    /// handle_userfault(): report the current task's fault to the VMA's userfaultfd (at
    /// vmf->address: the page, or the huge page for hugetlb; the real address with
    /// UFFD_FEATURE_EXACT_ADDRESS) and put the task to sleep until a handler wakes it
    /// (VM_FAULT_RETRY). With UFFD_FEATURE_SIGBUS, for a fault whose caller cannot wait and
    /// retry (no FAULT_FLAG_ALLOW_RETRY: mprotect()'s populate), and for a kernel-mode fault
    /// on a UFFD_USER_MODE_ONLY context, it is VM_FAULT_SIGBUS instead.
    /// Locks: entered with the mmap lock, read, which it drops before sleeping (hence
    /// VM_FAULT_RETRY); the context's fault_pending_wqh lock.
    pub(crate) fn handle_userfault(&mut self, vmf: &Vmf, reason: UffdReason) -> VmFault {
        let vma = &vmf.vma;
        let Some(ctx) = vma.uffd_ctx.and_then(|c| self.uffd.get(c).map(|_| c)) else {
            return VmFault::SIGBUS;
        };
        let features = self.uffd[ctx].features.unwrap_or(0);
        if features & UFFD_FEATURE_SIGBUS != 0 {
            return VmFault::SIGBUS;
        }
        if self.uffd[ctx].flags & UFFD_USER_MODE_ONLY != 0 && !vmf.flags.contains(FaultFlags::USER)
        {
            return VmFault::SIGBUS;
        }
        if !vmf.flags.contains(FaultFlags::ALLOW_RETRY) {
            return VmFault::SIGBUS;
        }
        let tid = self.current;
        let msg = userfault_msg(
            vmf.address,
            vmf.real_address,
            tid,
            vmf.write(),
            reason,
            features,
        );
        self.uffd[ctx]
            .queues
            .pending
            .push_back(UffdWaiter { tid, msg });
        self.tasks[tid].wait = Some(WaitReason::Userfault { ctx });
        self.trace(crate::trace::Event::UffdMsg {
            ctx,
            event: msg.event,
            arg: msg.arg,
        });
        VmFault::RETRY
    }

    /// Is the task asleep in handle_userfault() or waiting for its events to be read?
    pub fn uffd_sleeping(&self, tid: Tid) -> bool {
        self.tasks.get(tid).is_some_and(|t| t.wait.is_some())
    }

    /// userfaultfd_event_wait_completion(): queue an event the current task caused (it
    /// sleeps until the event is read; until then mmap_changing refuses the fill and protect
    /// ioctls with EAGAIN). A released context takes no events.
    pub(crate) fn userfaultfd_event(&mut self, ctx: usize, msg: UffdMsg, fork_ctx: Option<usize>) {
        let tid = self.current;
        let Some(c) = self.uffd.get_mut(ctx) else {
            return;
        };
        c.queues
            .events
            .push_back(UffdEventWait { tid, msg, fork_ctx });
        c.mmap_changing += 1;
        if let Some(t) = self.tasks.get_mut(tid) {
            let unread = match t.wait {
                Some(WaitReason::UffdEvents { unread }) => unread + 1,
                _ => 1,
            };
            t.wait = Some(WaitReason::UffdEvents { unread });
        }
    }

    /// The context of a registered VMA if it asked for `feature` events.
    pub(crate) fn uffd_ctx_wanting(&self, vma: &Vma, feature: u64) -> Option<usize> {
        vma.uffd_ctx.filter(|&c| {
            self.uffd
                .get(c)
                .is_some_and(|c| c.features.unwrap_or(0) & feature != 0)
        })
    }

    /// userfaultfd_remove(): MADV_DONTNEED/FREE/REMOVE of part of a VMA registered with
    /// UFFD_FEATURE_EVENT_REMOVE reports the range first and waits, the mmap lock dropped,
    /// until the event is read. True if it did (the caller sleeps and must look again).
    pub(crate) fn userfaultfd_remove(&mut self, vma: &Vma, start: u64, end: u64) -> bool {
        let Some(ctx) = self.uffd_ctx_wanting(vma, UFFD_FEATURE_EVENT_REMOVE) else {
            return false;
        };
        let msg = UffdMsg {
            event: UFFD_EVENT_REMOVE,
            arg: [start, end, 0],
        };
        self.userfaultfd_event(ctx, msg, None);
        true
    }

    /// userfaultfd_unmap_prep(): the contexts (with UFFD_FEATURE_EVENT_UNMAP) of the VMAs an
    /// unmap of `[start, end)` is about to remove, each once.
    pub(crate) fn userfaultfd_unmap_prep(&self, vmas: &[Vma]) -> Vec<usize> {
        let mut ctxs = Vec::new();
        for v in vmas {
            if let Some(c) = self.uffd_ctx_wanting(v, UFFD_FEATURE_EVENT_UNMAP) {
                if !ctxs.contains(&c) {
                    ctxs.push(c);
                }
            }
        }
        ctxs
    }

    /// userfaultfd_unmap_complete(): one UNMAP event per context, with the whole range asked
    /// for (not clipped to the VMAs).
    pub(crate) fn userfaultfd_unmap_complete(&mut self, ctxs: Vec<usize>, start: u64, end: u64) {
        for ctx in ctxs {
            let msg = UffdMsg {
                event: UFFD_EVENT_UNMAP,
                arg: [start, end, 0],
            };
            self.userfaultfd_event(ctx, msg, None);
        }
    }

    /// read(2) of one uffd_msg (userfaultfd_ctx_read()): the oldest pending fault moves to
    /// the read queue; with none, the oldest event is read (a FORK installs the child's
    /// context as a new descriptor of the reader) and its task wakes once all its events are.
    /// Ok(None) when nothing is pending on a blocking descriptor (the reader would sleep);
    /// EAGAIN on a non-blocking one; EINVAL before UFFDIO_API.
    pub fn uffd_read(&mut self, tid: Tid, fd: i64) -> SysResult<Option<UffdMsg>> {
        self.enter(tid)?;
        let ctx = self.uffd_ctx(tid, fd)?;
        let c = &mut self.uffd[ctx];
        if c.features.is_none() {
            return Err(Errno::EINVAL);
        }
        if let Some(w) = c.queues.pending.pop_front() {
            c.queues.read.push(w);
            return Ok(Some(w.msg));
        }
        let Some(mut ev) = c.queues.events.front().copied() else {
            return if c.flags & O_NONBLOCK != 0 {
                Err(Errno::EAGAIN)
            } else {
                Ok(None)
            };
        };
        if let Some(child) = ev.fork_ctx {
            // resolve_userfault_fork(): the new context gets a descriptor in the reader's
            // process (O_CLOEXEC and O_NONBLOCK as the context has them).
            let pid = self.tasks[tid].pid;
            let fd = self.fd_install_new(pid, FileKind::Userfaultfd(child), true, false)?;
            ev.msg.arg[0] = fd as u64;
        }
        let c = &mut self.uffd[ctx];
        c.queues.events.pop_front();
        c.mmap_changing -= 1;
        if let Some(t) = self.tasks.get_mut(ev.tid) {
            t.wait = match t.wait {
                Some(WaitReason::UffdEvents { unread }) if unread > 1 => {
                    Some(WaitReason::UffdEvents { unread: unread - 1 })
                }
                _ => None,
            };
        }
        Ok(Some(ev.msg))
    }

    /// wake_userfault(): every task of `ctx` whose fault address lies in `[start, start+len)`
    /// (all of them for len 0) wakes, pending or read, and will retry its fault.
    /// Locks: the context's wait-queue locks.
    pub(crate) fn wake_userfault(&mut self, ctx: usize, start: u64, len: u64) {
        let Some(c) = self.uffd.get_mut(ctx) else {
            return;
        };
        let hit = |w: &UffdWaiter| {
            let a = w.msg.address();
            len == 0 || (a >= start && a - start < len)
        };
        let mut woken: SmallVec<[Tid; 4]> = SmallVec::new();
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
                if task.in_userfault() {
                    task.wait = None;
                }
            }
        }
    }

    /// A task that exits stops waiting.
    pub(crate) fn uffd_forget_task(&mut self, tid: Tid) {
        for (_, c) in self.uffd.iter_mut() {
            c.queues.pending.retain(|w| w.tid != tid);
            c.queues.read.retain(|w| w.tid != tid);
            let before = c.queues.events.len();
            c.queues.events.retain(|w| w.tid != tid);
            c.mmap_changing -= (before - c.queues.events.len()) as u32;
        }
    }
}

/// The flags userfaultfd(2) keeps on the context (O_NONBLOCK decides how read() waits).
pub(crate) fn ctx_flags(flags: u64) -> u64 {
    flags & (O_NONBLOCK | UFFD_USER_MODE_ONLY)
}
