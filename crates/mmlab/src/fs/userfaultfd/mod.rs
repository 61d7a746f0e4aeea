//! fs/userfaultfd.c. This part: the context, userfaultfd(2), UFFDIO_API, UFFDIO_REGISTER and
//! UFFDIO_UNREGISTER with their 5.19 checks, the VMA flags and context they set, and what
//! close, fork and mremap do to a registration. `wait` holds the wait queues (faults, events,
//! read(2), wake-ups); `ioctl` the resolving ioctls, which hand the page-table work to
//! mm/userfaultfd.rs.

mod ioctl;
mod wait;

pub(crate) use wait::ctx_flags;
pub use wait::{CopyRestart, Restart, UffdMsg, UffdReason};

use crate::errno::{Errno, SysResult};
use crate::fs::file::FileKind;
use crate::hw::{PAGE_MASK, TASK_SIZE};
use crate::kernel::Kernel;
use crate::mm::hugetlb::HPAGE_SIZE;
use crate::mm::vma::{vm::*, Backing, Vma};
use crate::mm::{MmId, MMAP_MIN_ADDR};
use crate::sched::Tid;
use crate::uapi::userfaultfd::*;
use crate::uapi::{O_CLOEXEC, O_NONBLOCK};

/// struct userfaultfd_ctx, as far as registration needs it.
#[derive(Clone, Debug, Default)]
pub struct UserfaultfdCtx {
    /// The mm whose VMAs it registers (the creator's, whoever makes the ioctl); None once
    /// that mm is gone (mmget_not_zero() fails).
    pub mm: Option<MmId>,
    /// The features UFFDIO_API enabled; None until it ran (UFFD_FEATURE_INITIALIZED).
    pub features: Option<u64>,
    /// ctx->flags: O_NONBLOCK and UFFD_USER_MODE_ONLY from userfaultfd(2).
    pub flags: u64,
    /// The faulting tasks asleep on this context.
    pub queues: wait::UffdQueues,
    /// Events queued and not yet read: COPY, ZEROPAGE, WRITEPROTECT and CONTINUE are EAGAIN.
    pub mmap_changing: u32,
}

impl Kernel {
    /// userfaultfd(2): a new context for the caller's mm behind an anonymous-inode file.
    /// The model's tasks are root, so vm.unprivileged_userfaultfd does not apply.
    pub fn userfaultfd(&mut self, tid: Tid, flags: u64) -> SysResult<i32> {
        let mm = self.enter(tid)?;
        if flags & !(O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY) != 0 {
            return Err(Errno::EINVAL);
        }
        let ctx = self.uffd.insert(UserfaultfdCtx {
            mm: Some(mm),
            features: None,
            flags: crate::fs::userfaultfd::ctx_flags(flags),
            queues: Default::default(),
            mmap_changing: 0,
        });
        let pid = self.tasks[tid].pid;
        // anon_inode_getfd(..., O_RDONLY | flags): not writable.
        let fd = self.fd_install_new(pid, FileKind::Userfaultfd(ctx), true, false);
        if fd.is_err() {
            self.uffd.remove(ctx);
        }
        fd
    }

    /// The context behind `fd`: EBADF for no file, EINVAL (no such ioctl) for another kind.
    pub(crate) fn uffd_ctx(&self, tid: Tid, fd: i64) -> SysResult<usize> {
        match self.fget(tid, fd)?.kind {
            FileKind::Userfaultfd(ctx) => Ok(ctx),
            _ => Err(Errno::ENOTTY),
        }
    }

    /// UFFDIO_API: check the API version and requested features, enable them once. Returns
    /// (features, ioctls) as the kernel writes them back; on EINVAL it writes zeroes.
    pub fn uffdio_api(
        &mut self,
        tid: Tid,
        fd: i64,
        api: u64,
        features: u64,
    ) -> SysResult<(u64, u64)> {
        self.enter(tid)?;
        let ctx = self.uffd_ctx(tid, fd)?;
        let known = if self.cfg.features.uffd_wp_shmem_hugetlb {
            UFFD_API_FEATURES
        } else {
            UFFD_API_FEATURES & !UFFD_FEATURE_WP_HUGETLBFS_SHMEM
        };
        if api != UFFD_API || features & !known != 0 {
            return Err(Errno::EINVAL);
        }
        // A second UFFDIO_API finds the features set (the kernel has already copied the
        // answer out, then fails the ioctl).
        if self.uffd[ctx].features.is_some() {
            return Err(Errno::EINVAL);
        }
        self.uffd[ctx].features = Some(features);
        Ok((known, UFFD_API_IOCTLS))
    }

    /// validate_range(): page aligned, not empty, between mmap_min_addr and TASK_SIZE.
    pub(crate) fn uffd_validate_range(start: u64, len: u64) -> SysResult<u64> {
        if start & !PAGE_MASK != 0 || len & !PAGE_MASK != 0 || len == 0 {
            return Err(Errno::EINVAL);
        }
        if !(MMAP_MIN_ADDR..TASK_SIZE).contains(&start) || len > TASK_SIZE - start {
            return Err(Errno::EINVAL);
        }
        Ok(start + len)
    }

    /// vma_can_userfault(): MINOR only on shmem and hugetlb; WP on shmem and hugetlb only
    /// with PTE markers (5.19); anonymous, shmem and hugetlb VMAs otherwise.
    fn vma_can_userfault(&self, vma: &Vma, vm_flags: u64) -> bool {
        let file = !vma.is_anonymous();
        // 5.18 refused WP on shmem/hugetlb before looking at MINOR.
        if vm_flags & VM_UFFD_WP != 0 && file && !self.cfg.features.uffd_wp_shmem_hugetlb {
            return false;
        }
        if vm_flags & VM_UFFD_MINOR != 0 {
            return file;
        }
        // Anonymous, shmem and hugetlbfs are the only backings the model has.
        matches!(vma.backing, Backing::Anon | Backing::File(_))
    }

    /// The VMAs meeting `[start, end)`, after the range's first-VMA checks both UFFDIO_REGISTER
    /// and UFFDIO_UNREGISTER make: ENOMEM if nothing is mapped at or above `start`, EINVAL if
    /// the first VMA starts past `end` or is hugetlb and `start` is not huge page aligned.
    fn uffd_range_vmas(&self, mm: MmId, start: u64, end: u64) -> SysResult<Vec<Vma>> {
        let vmas = &self.mms[mm].vmas;
        let first = vmas.find(start).ok_or(Errno::ENOMEM)?;
        if first.start >= end {
            return Err(Errno::EINVAL);
        }
        if first.is_hugetlb() && !start.is_multiple_of(HPAGE_SIZE) {
            return Err(Errno::EINVAL);
        }
        Ok(vmas
            .iter()
            .filter(|v| v.end > start && v.start < end)
            .map(Vma::for_fault)
            .collect())
    }

    /// UFFDIO_REGISTER: mark every VMA in `[start, len)` with the mode's VM_UFFD_* flags and
    /// this context (splitting and merging as mprotect does). Returns the ioctls the range
    /// supports.
    /// Locks: the mmap lock, write.
    pub fn uffdio_register(
        &mut self,
        tid: Tid,
        fd: i64,
        start: u64,
        len: u64,
        mode: u64,
    ) -> SysResult<u64> {
        self.enter(tid)?;
        let ctx = self.uffd_ctx(tid, fd)?;
        // userfaultfd_ioctl(): anything but UFFDIO_API needs UFFDIO_API first.
        if self.uffd[ctx].features.is_none() {
            return Err(Errno::EINVAL);
        }
        let all =
            UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_WP | UFFDIO_REGISTER_MODE_MINOR;
        if mode == 0 || mode & !all != 0 {
            return Err(Errno::EINVAL);
        }
        let mut vm_flags = 0;
        if mode & UFFDIO_REGISTER_MODE_MISSING != 0 {
            vm_flags |= VM_UFFD_MISSING;
        }
        if mode & UFFDIO_REGISTER_MODE_WP != 0 {
            vm_flags |= VM_UFFD_WP;
        }
        if mode & UFFDIO_REGISTER_MODE_MINOR != 0 {
            vm_flags |= VM_UFFD_MINOR;
        }
        let end = Self::uffd_validate_range(start, len)?;
        let mm = self.uffd[ctx].mm.ok_or(Errno::ENOMEM)?;
        let vmas = self.uffd_range_vmas(mm, start, end)?;
        let mut basic = false;
        for v in &vmas {
            if !self.vma_can_userfault(v, vm_flags) {
                return Err(Errno::EINVAL);
            }
            // UFFDIO_COPY fills holes even without PROT_WRITE: the mapping must allow writes.
            if v.flags & VM_MAYWRITE == 0 {
                return Err(Errno::EPERM);
            }
            if v.is_hugetlb() && end <= v.end && end > v.start && !end.is_multiple_of(HPAGE_SIZE) {
                return Err(Errno::EINVAL);
            }
            if v.uffd_ctx.is_some_and(|c| c != ctx) {
                return Err(Errno::EBUSY);
            }
            basic |= v.is_hugetlb();
        }
        // A VMA this context already registered with at least these modes is left as it is;
        // any other gets exactly the new modes (they replace, not add to, the old ones).
        let change: Vec<Vma> = vmas
            .iter()
            .filter(|v| !(v.uffd_ctx == Some(ctx) && v.flags & vm_flags == vm_flags))
            .cloned()
            .collect();
        self.uffd_set_range(
            mm,
            &change,
            start,
            end,
            |flags| (flags & !VM_UFFD_FLAGS) | vm_flags,
            Some(ctx),
        )?;
        let mut ioctls = if basic {
            UFFD_API_RANGE_IOCTLS_BASIC
        } else {
            UFFD_API_RANGE_IOCTLS
        };
        if mode & UFFDIO_REGISTER_MODE_WP == 0 {
            ioctls &= !(1 << _UFFDIO_WRITEPROTECT);
        }
        if mode & UFFDIO_REGISTER_MODE_MINOR == 0 {
            ioctls &= !(1 << _UFFDIO_CONTINUE);
        }
        Ok(ioctls)
    }

    /// UFFDIO_UNREGISTER: drop the registration of every registered VMA in the range
    /// (whichever context it belongs to), splitting and merging.
    /// Locks: the mmap lock, write.
    pub fn uffdio_unregister(&mut self, tid: Tid, fd: i64, start: u64, len: u64) -> SysResult<()> {
        self.enter(tid)?;
        let ctx = self.uffd_ctx(tid, fd)?;
        if self.uffd[ctx].features.is_none() {
            return Err(Errno::EINVAL);
        }
        let end = Self::uffd_validate_range(start, len)?;
        let mm = self.uffd[ctx].mm.ok_or(Errno::ENOMEM)?;
        let vmas = self.uffd_range_vmas(mm, start, end)?;
        for v in &vmas {
            if !self.vma_can_userfault(v, v.flags) {
                return Err(Errno::EINVAL);
            }
        }
        let registered: Vec<Vma> = vmas.into_iter().filter(|v| v.uffd_ctx.is_some()).collect();
        // A MISSING-registered VMA wakes its sleeping faults first (on its own context); they
        // retry as ordinary faults. 5.19 does not wake WP or MINOR faults here.
        for v in &registered {
            if let (Some(ctx), true) = (v.uffd_ctx, v.flags & VM_UFFD_MISSING != 0) {
                let (lo, hi) = (v.start.max(start), v.end.min(end));
                self.wake_userfault(ctx, lo, hi - lo);
            }
        }
        self.uffd_set_range(
            mm,
            &registered,
            start,
            end,
            |flags| flags & !VM_UFFD_FLAGS,
            None,
        )
    }

    /// Give each VMA's part of `[start, end)` new flags and context: split at the range's
    /// ends (split_vma), set, then let vma_merge() join neighbours that now match.
    fn uffd_set_range(
        &mut self,
        mm: MmId,
        vmas: &[Vma],
        start: u64,
        end: u64,
        new_flags: impl Fn(u64) -> u64,
        ctx: Option<usize>,
    ) -> SysResult<()> {
        for v in vmas {
            let flags = new_flags(v.flags);
            if flags == v.flags && v.uffd_ctx == ctx {
                continue;
            }
            let (lo, hi) = (v.start.max(start), v.end.min(end));
            if v.start < lo {
                self.split_vma(mm, lo)?;
            }
            if hi < v.end {
                self.split_vma(mm, hi)?;
            }
            if let Some(piece) = self.mms[mm].vmas.get_mut(lo) {
                piece.flags = flags;
                piece.uffd_ctx = ctx;
                self.vma_merge(mm, lo);
            }
        }
        Ok(())
    }

    /// userfaultfd_release(): the last descriptor closed; every VMA of its mm registered with
    /// it goes back to unregistered (and may merge again).
    /// Locks: the mmap lock, write, to clear the VMAs' registration.
    pub(crate) fn userfaultfd_release(&mut self, ctx: usize) {
        // Every sleeping fault wakes and retries; by then the VMAs are unregistered.
        self.wake_userfault(ctx, 0, 0);
        let Some(mm) = self.uffd.remove(ctx).mm else {
            return;
        };
        let m = &self.mms[mm];
        let starts: Vec<u64> = m
            .vmas
            .iter()
            .filter(|v| v.uffd_ctx == Some(ctx))
            .map(|v| v.start)
            .collect();
        for s in starts {
            // An earlier merge may have swallowed this one's start.
            let Some(v) = self.mms[mm].vmas.get_mut(s) else {
                continue;
            };
            v.flags &= !VM_UFFD_FLAGS;
            v.uffd_ctx = None;
            self.vma_merge(mm, s);
        }
    }
}
