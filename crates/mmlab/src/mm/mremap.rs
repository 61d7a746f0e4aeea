//! mm/mremap.c: grow or shrink in place, move (MREMAP_MAYMOVE, MREMAP_FIXED, MREMAP_DONTUNMAP).
//!
//! Arithmetic on user-supplied lengths and addresses wraps as unsigned long does in C, so
//! every u64 argument gives Linux's result (an errno, or what the wrapped value leads to) and
//! none can panic.

use crate::errno::{Errno, SysResult};
use crate::hw::{PAGE_MASK, PAGE_SHIFT, PAGE_SIZE, TASK_SIZE};
use crate::kernel::Kernel;
use crate::mm::vma::{vm::*, Backing, ResvMap, Vma};
use crate::mm::MmId;
use crate::page::Pfn;
use crate::pgtable::pte::{Pte, PteKind};
use crate::pgtable::table::{self, PMD_SIZE};
use crate::sched::Tid;
use crate::uapi::*;

const PUD_SIZE: u64 = 1 << 30;

/// PAGE_ALIGN() as C computes it: wraps to 0 for lengths in the last page below 2^64.
#[inline]
fn page_align_wrapping(len: u64) -> u64 {
    len.wrapping_add(PAGE_SIZE - 1) & PAGE_MASK
}

/// get_extent(): up to the next `size` boundary of both `old_addr` and `new_addr`, bounded by
/// `old_end` (the boundary arithmetic wraps as in C, which still gives the right extent).
#[inline]
fn get_extent(size: u64, old_addr: u64, old_end: u64, new_addr: u64) -> u64 {
    let mask = !(size - 1);
    let mut extent = (old_addr.wrapping_add(size) & mask).wrapping_sub(old_addr);
    extent = extent.min(old_end - old_addr);
    extent.min((new_addr.wrapping_add(size) & mask).wrapping_sub(new_addr))
}

/// move_soft_dirty_pte() with CONFIG_MEM_SOFT_DIRTY=y (x86_64): a moved entry is soft-dirty,
/// so a tracker notices the move.
#[inline]
fn move_soft_dirty_pte(pte: Pte) -> Pte {
    match pte.kind() {
        PteKind::Present(p) => p.mksoft_dirty(),
        PteKind::Swp(kind, mut bits) => {
            // pte_swp_mksoft_dirty()
            bits.soft_dirty = true;
            Pte::swp(kind, bits)
        }
        PteKind::None => pte,
    }
}

impl Kernel {
    /// mremap(2); the files released on the way are released on return (task_work_run()).
    pub fn mremap(
        &mut self,
        tid: Tid,
        addr: u64,
        old_len: u64,
        new_len: u64,
        flags: u64,
        new_addr: u64,
    ) -> SysResult<u64> {
        let r = self.sys_mremap(tid, addr, old_len, new_len, flags, new_addr);
        self.task_work_run();
        r
    }

    /// SYSCALL_DEFINE5(mremap) in 5.19, with its checks in that order.
    /// Locks: the mmap lock, write (downgraded to read only when shrinking in place).
    fn sys_mremap(
        &mut self,
        tid: Tid,
        addr: u64,
        old_len: u64,
        new_len: u64,
        flags: u64,
        new_addr: u64,
    ) -> SysResult<u64> {
        let mm = self.enter(tid)?;
        if flags & !(MREMAP_FIXED | MREMAP_MAYMOVE | MREMAP_DONTUNMAP) != 0 {
            return Err(Errno::EINVAL);
        }
        if flags & MREMAP_FIXED != 0 && flags & MREMAP_MAYMOVE == 0 {
            return Err(Errno::EINVAL);
        }
        // DONTUNMAP is always a move without resizing; this compares the raw lengths.
        if flags & MREMAP_DONTUNMAP != 0 && (flags & MREMAP_MAYMOVE == 0 || old_len != new_len) {
            return Err(Errno::EINVAL);
        }
        if addr & !PAGE_MASK != 0 {
            return Err(Errno::EINVAL);
        }
        // PAGE_ALIGN() wraps: a huge old_len becomes 0, the "duplicate a shared mapping" case.
        let old_len = page_align_wrapping(old_len);
        let new_len = page_align_wrapping(new_len);
        if new_len == 0 {
            return Err(Errno::EINVAL);
        }
        let Some(vma) = self.mms[mm].vmas.lookup(addr).cloned() else {
            // 5.16 to 5.18-rc6 returned the positive EFAULT as if it were an address (7d1e64966).
            return if self.cfg.features.mremap_efault_fix {
                Err(Errno::EFAULT)
            } else {
                Ok(Errno::EFAULT.code() as u64)
            };
        };
        let (mut old_len, mut new_len) = (old_len, new_len);
        if vma.is_hugetlb() {
            // Huge page sized and aligned, and never growing: the reservation cannot be split.
            let mask = crate::mm::hugetlb::HPAGE_SIZE - 1;
            old_len = old_len.wrapping_add(mask) & !mask;
            new_len = new_len.wrapping_add(mask) & !mask;
            if addr & mask != 0 || new_addr & mask != 0 || new_len > old_len {
                return Err(Errno::EINVAL);
            }
        }
        // `locked` and `populate_at` are the syscall's `locked` and `new_addr` at `out:`.
        let mut locked = false;
        let mut populate_at = new_addr;
        let ret = if flags & (MREMAP_FIXED | MREMAP_DONTUNMAP) != 0 {
            self.mremap_to(mm, addr, old_len, new_addr, new_len, flags, &mut locked)
        } else if old_len >= new_len {
            // Always allow a shrink: __do_munmap() of the tail (addr + new_len wraps as in C;
            // its EINVAL for a zero length is ignored when nothing changes size).
            let r = self.do_munmap(mm, addr.wrapping_add(new_len), old_len - new_len);
            match r {
                Err(e) if old_len != new_len => Err(e),
                _ => Ok(addr),
            }
        } else {
            self.mremap_grow(
                mm,
                addr,
                old_len,
                new_len,
                flags,
                &mut locked,
                &mut populate_at,
            )
        };
        // A failed call populates nothing (offset_in_page(ret) clears `locked`).
        if let (Ok(r), true) = (ret, locked && new_len > old_len) {
            let start = populate_at.wrapping_add(old_len);
            let end = start.wrapping_add(new_len - old_len);
            return self.mm_populate_locked(tid, mm, (start, end), r);
        }
        ret
    }

    /// The growing half of SYSCALL_DEFINE5(mremap): in place if the VMA can be extended,
    /// otherwise (with MREMAP_MAYMOVE) a move to a new address.
    #[allow(clippy::too_many_arguments)]
    fn mremap_grow(
        &mut self,
        mm: MmId,
        addr: u64,
        old_len: u64,
        new_len: u64,
        flags: u64,
        locked: &mut bool,
        populate_at: &mut u64,
    ) -> SysResult<u64> {
        let vma = self.vma_to_resize(mm, addr, old_len, new_len, flags)?;
        if old_len == vma.end - addr && self.vma_expandable(mm, &vma, new_len - old_len) {
            let pages = (new_len - old_len) >> PAGE_SHIFT;
            if vma.flags & VM_ACCOUNT != 0 {
                self.vm_enough_memory(pages)?;
                self.mms[mm].committed += pages;
            }
            // vma_adjust() only: 5.19 does not merge the grown VMA with its next neighbour, and
            // a shmem object keeps its size (faults past i_size get SIGBUS).
            let m = &mut self.mms[mm];
            m.vmas.get_mut(vma.start).expect("vma").end = addr + new_len;
            m.total_vm += pages;
            if vma.flags & VM_LOCKED != 0 {
                *locked = true;
                *populate_at = addr;
            }
            return Ok(addr);
        }
        if flags & MREMAP_MAYMOVE == 0 {
            return Err(Errno::ENOMEM);
        }
        let dst = self.get_unmapped_area(mm, 0, new_len, false, mremap_align(&vma))?;
        *populate_at = dst;
        self.move_vma(mm, &vma, addr, old_len, new_len, dst, flags, locked)
    }

    /// mremap_to(): MREMAP_FIXED and/or MREMAP_DONTUNMAP.
    #[allow(clippy::too_many_arguments)]
    fn mremap_to(
        &mut self,
        mm: MmId,
        addr: u64,
        old_len: u64,
        new_addr: u64,
        new_len: u64,
        flags: u64,
        locked: &mut bool,
    ) -> SysResult<u64> {
        if new_addr & !PAGE_MASK != 0 {
            return Err(Errno::EINVAL);
        }
        if new_len > TASK_SIZE || new_addr > TASK_SIZE - new_len {
            return Err(Errno::EINVAL);
        }
        // The old and new ranges must not overlap (unsigned long sums wrap as in C).
        if addr.wrapping_add(old_len) > new_addr && new_addr.wrapping_add(new_len) > addr {
            return Err(Errno::EINVAL);
        }
        // (map_count + 2) >= sysctl_max_map_count - 3 in int: a limit below 3 makes the right
        // side negative, i.e. always ENOMEM, which saturating at 0 reproduces.
        if self.mms[mm].vmas.len() + 2 >= self.cfg.max_map_count.saturating_sub(3) {
            return Err(Errno::ENOMEM);
        }
        if flags & MREMAP_FIXED != 0 {
            // Runs now, even if a later check fails.
            self.do_munmap(mm, new_addr, new_len)?;
        }
        let mut old_len = old_len;
        if old_len > new_len {
            self.do_munmap(mm, addr.wrapping_add(new_len), old_len - new_len)?;
            old_len = new_len;
        }
        let vma = self.vma_to_resize(mm, addr, old_len, new_len, flags)?;
        // MREMAP_DONTUNMAP keeps the old range: the mm grows by old_len (== new_len) more.
        if flags & MREMAP_DONTUNMAP != 0
            && !self.may_expand_vm(mm, vma.flags, old_len >> PAGE_SHIFT)
        {
            return Err(Errno::ENOMEM);
        }
        let ret = self.get_unmapped_area(
            mm,
            new_addr,
            new_len,
            flags & MREMAP_FIXED != 0,
            mremap_align(&vma),
        )?;
        let dst = if flags & MREMAP_FIXED != 0 {
            new_addr
        } else {
            ret
        };
        self.move_vma(mm, &vma, addr, old_len, new_len, dst, flags, locked)
    }

    /// vma_to_resize(): the VMA at `addr` must hold the whole old range.
    fn vma_to_resize(
        &self,
        mm: MmId,
        addr: u64,
        old_len: u64,
        new_len: u64,
        flags: u64,
    ) -> SysResult<Vma> {
        let vma = self.mms[mm]
            .vmas
            .lookup(addr)
            .cloned()
            .ok_or(Errno::EFAULT)?;
        if old_len == 0 && vma.flags & (VM_SHARED | VM_MAYSHARE) == 0 {
            // "attempted to duplicate a private mapping with mremap"
            return Err(Errno::EINVAL);
        }
        if flags & MREMAP_DONTUNMAP != 0 && vma.flags & (VM_DONTEXPAND | VM_PFNMAP) != 0 {
            return Err(Errno::EINVAL);
        }
        if old_len > vma.end - addr {
            return Err(Errno::EFAULT);
        }
        if new_len == old_len {
            return Ok(vma);
        }
        let pgoff = ((addr - vma.start) >> PAGE_SHIFT).wrapping_add(vma.pgoff);
        if pgoff.wrapping_add(new_len >> PAGE_SHIFT) < pgoff {
            return Err(Errno::EINVAL);
        }
        if vma.flags & (VM_DONTEXPAND | VM_PFNMAP) != 0 {
            return Err(Errno::EFAULT);
        }
        // The growth of a VM_LOCKED VMA against RLIMIT_MEMLOCK, then of any against RLIMIT_AS
        // (and RLIMIT_DATA for a data mapping).
        let grow = new_len.wrapping_sub(old_len);
        if self.mlock_future_check(mm, vma.flags, grow).is_err() {
            return Err(Errno::EAGAIN);
        }
        if !self.may_expand_vm(mm, vma.flags, grow >> PAGE_SHIFT) {
            return Err(Errno::ENOMEM);
        }
        Ok(vma)
    }

    /// vma_expandable(): nothing mapped in the `delta` bytes after the VMA, and the grown VMA
    /// passes get_unmapped_area(MAP_FIXED)'s range checks.
    fn vma_expandable(&self, mm: MmId, vma: &Vma, delta: u64) -> bool {
        let end = vma.end.checked_add(delta).filter(|&e| e <= TASK_SIZE);
        end.is_some_and(|e| !self.mms[mm].vmas.intersects(vma.end, e))
    }

    /// copy_vma(): the VMA for `[dst, dst + new_len)`, merged with a neighbour where
    /// vma_merge() allows. Returns the start of the VMA now covering `dst`.
    fn copy_vma(&mut self, mm: MmId, vma: &Vma, dst: u64, new_len: u64, pgoff: u64) -> u64 {
        // An anonymous VMA that was never write-faulted takes the pgoff of its new place, so
        // that it can merge there.
        let pgoff = if vma.is_anonymous() && vma.anon_vma.is_none() {
            dst >> PAGE_SHIFT
        } else {
            pgoff
        };
        if let Backing::File(ino) = vma.backing {
            // get_file(): the new VMA holds its own reference; the shmem size is untouched.
            self.inodes[ino].refs += 1;
        }
        // A private hugetlb mapping's resv_map goes with the new VMA, which only ever uses or
        // gives back the reservations of its own range; move_vma() then drops the old VMA's
        // (clear_vma_resv_huge_pages(), owner flag included), so the reservations of a part
        // that did not move are neither usable nor released again (5.19, and still 6.18).
        let (lo, hi) = (pgoff >> 9, (pgoff + (new_len >> PAGE_SHIFT)) >> 9);
        let hugetlb_resv: ResvMap = vma.hugetlb_resv.range(lo..hi).copied().collect();
        if let Some(old) = self.mms[mm].vmas.get_mut(vma.start) {
            let leaked = (old.hugetlb_resv.len() - hugetlb_resv.len()) as u64;
            old.hugetlb_resv.clear();
            if old.is_hugetlb() {
                old.hugetlb_resv_flags = 0;
            }
            self.hstate.resv_leaked += leaked;
        }
        // vm_area_dup() + anon_vma_clone(): the new VMA joins the old one's anon_vmas.
        let mut new = Vma {
            id: self.new_vma_id(),
            start: dst,
            end: dst + new_len,
            pgoff,
            hugetlb_resv,
            anon_vma_chain: Default::default(),
            ..vma.clone()
        };
        self.anon_vma_clone(&mut new, vma);
        self.vma_link(mm, new);
        let at = self.vma_merge(mm, dst);
        // mremap_userfaultfd_prep(): with UFFD_FEATURE_EVENT_REMAP the moved VMA stays
        // registered (the REMAP event follows the move); without it, whatever VMA the move made
        // (merged with a registered neighbour or not) is no longer registered, and no merge
        // follows.
        let remap = self.mms[mm].vmas.get_mut(at).cloned().and_then(|v| {
            self.uffd_ctx_wanting(&v, crate::uapi::userfaultfd::UFFD_FEATURE_EVENT_REMAP)
        });
        if remap.is_none() {
            if let Some(v) = self.mms[mm]
                .vmas
                .get_mut(at)
                .filter(|v| v.uffd_ctx.is_some())
            {
                v.flags &= !VM_UFFD_FLAGS;
                v.uffd_ctx = None;
            }
        }
        at
    }

    /// move_vma(): copy_vma() to `dst`, move_page_tables(), then unmap the old range (or, with
    /// MREMAP_DONTUNMAP, leave the old VMA mapped and empty).
    /// Locks: the mmap lock, write.
    #[allow(clippy::too_many_arguments)]
    fn move_vma(
        &mut self,
        mm: MmId,
        vma: &Vma,
        addr: u64,
        old_len: u64,
        new_len: u64,
        dst: u64,
        flags: u64,
        locked: &mut bool,
    ) -> SysResult<u64> {
        let dontunmap = flags & MREMAP_DONTUNMAP != 0;
        if self.mms[mm].vmas.len() >= self.cfg.max_map_count.saturating_sub(3) {
            return Err(Errno::ENOMEM);
        }
        // Both callers pass old_len <= new_len.
        let to_account = if dontunmap {
            new_len
        } else {
            new_len - old_len
        } >> PAGE_SHIFT;
        let vm_flags = vma.flags;
        if vm_flags & VM_ACCOUNT != 0 {
            self.vm_enough_memory(to_account)?;
            self.mms[mm].committed += to_account;
        }
        let new_pgoff = vma.pgoff.wrapping_add((addr - vma.start) >> PAGE_SHIFT);
        self.copy_vma(mm, vma, dst, new_len, new_pgoff);

        let moved = self.move_page_tables(mm, addr, dst, old_len);
        let (mut old_addr, mut old_len, mut err) = (addr, old_len, None);
        if moved < old_len {
            // A page table for the destination could not be allocated: move the entries
            // back (their tables still exist) and unmap the new range instead of the old.
            self.move_page_tables(mm, dst, addr, moved);
            old_addr = dst;
            old_len = new_len;
            err = Some(Errno::ENOMEM);
        }
        // mremap_userfaultfd_complete(): a move that worked reports REMAP (before the UNMAP of
        // the old range, which the unmap below queues).
        if err.is_none() {
            let remap = self.mms[mm].vmas.lookup(dst).cloned().and_then(|v| {
                self.uffd_ctx_wanting(&v, crate::uapi::userfaultfd::UFFD_FEATURE_EVENT_REMAP)
            });
            if let Some(ctx) = remap {
                let msg = crate::fs::userfaultfd::UffdMsg {
                    event: crate::uapi::userfaultfd::UFFD_EVENT_REMAP,
                    arg: [addr, dst, old_len],
                };
                self.userfaultfd_event(ctx, msg, None);
            }
        }
        // The VMA that now holds the range to unmap: the old one, possibly merged with the
        // new one by copy_vma(), or the new one after a failure.
        let vstart = self.mms[mm].vmas.lookup(old_addr).map(|v| v.start);
        // Conceal VM_ACCOUNT so that the unmap does not undo the charge that moved.
        let mut excess = false;
        let mut restore = (None, None);
        if vm_flags & VM_ACCOUNT != 0 && !dontunmap {
            if let Some(v) = vstart.and_then(|s| self.mms[mm].vmas.get_mut(s)) {
                v.flags &= !VM_ACCOUNT;
                let old_end = old_addr + old_len;
                excess = v.end - v.start != old_len;
                restore = (
                    (v.start < old_addr).then_some(v.start),
                    (v.end > old_end).then_some(old_end),
                );
            }
        }
        self.mms[mm].total_vm += new_len >> PAGE_SHIFT;

        if err.is_none() && dontunmap {
            // The old VMA stays mapped; it loses VM_LOCKED/VM_LOCKONFAULT, and if it was moved
            // whole (and not merged into the new VMA) its anon_vma links go (unlink_anon_vmas):
            // its next write fault prepares a fresh anon_vma. VM_ACCOUNT stays, and so does
            // its charge: the new VMA was charged new_len on top.
            let new_start = self.mms[mm].vmas.lookup(dst).map(|v| v.start);
            if let Some(v) = vstart.and_then(|s| self.mms[mm].vmas.get_mut(s)) {
                v.flags &= VM_LOCKED_CLEAR_MASK;
                if Some(v.start) != new_start && v.start == addr && v.end == addr + old_len {
                    let mut old = v.for_fault();
                    self.unlink_anon_vmas(&mut old);
                    let v = self.mms[mm].vmas.get_mut(addr).expect("old vma");
                    v.anon_vma = None;
                    v.anon_vma_chain = Default::default();
                }
            }
            return Ok(dst);
        }

        // Like move_vma(), a failed unmap of the old range is not an error for the caller
        // (old_len 0, the "duplicate a shared mapping" case, makes do_munmap() say EINVAL).
        if self.do_munmap(mm, old_addr, old_len).is_err() {
            if vm_flags & VM_ACCOUNT != 0 && !dontunmap {
                self.mms[mm].committed += old_len >> PAGE_SHIFT;
            }
            excess = false;
        }
        if vm_flags & VM_LOCKED != 0 {
            *locked = true;
        }
        // Restore VM_ACCOUNT on the one or two pieces of the VMA that are left.
        if excess {
            for s in [restore.0, restore.1].into_iter().flatten() {
                if let Some(v) = self.mms[mm].vmas.get_mut(s) {
                    v.flags |= VM_ACCOUNT;
                }
            }
        }
        match err {
            Some(e) => Err(e),
            None => Ok(dst),
        }
    }

    /// move_page_tables() as in 5.19 with x86's HAVE_MOVE_PUD and HAVE_MOVE_PMD: walk in
    /// extents that end at the next boundary of both addresses; a whole aligned PUD or PMD
    /// extent moves its lower table by one entry (move_normal_pud/move_normal_pmd, each
    /// flushing the old extent unconditionally), anything else goes entry by entry
    /// (move_ptes). Returns how many bytes were done (less than `len` on OOM).
    /// Locks: the mmap lock, write; the anon_vma and i_mmap locks when need_rmap_locks; each old
    /// and new PTL.
    fn move_page_tables(&mut self, mm: MmId, old: u64, new: u64, len: u64) -> u64 {
        if len == 0 {
            return 0;
        }
        if self.mms[mm]
            .vmas
            .lookup(old)
            .is_some_and(|v| v.is_hugetlb())
        {
            return self.move_hugetlb_page_tables(mm, old, new, len);
        }
        let root = self.mms[mm].pgd;
        let old_end = old + len;
        let (mut old_addr, mut new_addr) = (old, new);
        while old_addr < old_end {
            let extent = get_extent(PUD_SIZE, old_addr, old_end, new_addr);
            let Some(old_pud) = self.get_old_pud(root, old_addr) else {
                // Nothing is mapped below this PUD entry (or the whole PGD entry).
                old_addr += extent;
                new_addr += extent;
                continue;
            };
            let Some(new_pud) = self.alloc_new_pud(root, new_addr) else {
                break;
            };
            if extent == PUD_SIZE && self.move_normal_pud(mm, old_pud, new_pud, old_addr, new_addr)
            {
                old_addr += extent;
                new_addr += extent;
                continue;
            }
            let extent = get_extent(PMD_SIZE, old_addr, old_end, new_addr);
            // A THP entry moves whole when the extent is all of it, else it is split first.
            if table::pmd_slot(&self.phys, root, old_addr)
                .is_some_and(|s| table::get_pmd(&self.phys, s).is_leaf())
            {
                if extent == PMD_SIZE && self.move_huge_pmd(mm, old_addr, new_addr) {
                    old_addr += extent;
                    new_addr += extent;
                    continue;
                }
                self.split_huge_pmd(mm, old_addr & !(PMD_SIZE - 1));
            }
            // get_old_pmd(): no PTE table, nothing to move in this extent.
            let Some(old_pte) = table::walk(&self.phys, root, old_addr) else {
                old_addr += extent;
                new_addr += extent;
                continue;
            };
            if extent == PMD_SIZE && self.move_normal_pmd(mm, old_addr, new_addr) {
                // move_normal_pmd(): the PMD entry moved; flush_tlb_range(old, old + PMD_SIZE).
                self.flush_tlb_mm_range(mm, old_addr, old_addr + PMD_SIZE);
                old_addr += extent;
                new_addr += extent;
                continue;
            }
            // alloc_new_pmd() and pte_alloc(): the destination PTE table exists from here on,
            // even if every old entry is none.
            let Some(new_pte) = self.walk_alloc(mm, new_addr) else {
                break;
            };
            self.move_ptes(mm, old_pte.table, new_pte.table, old_addr, new_addr, extent);
            old_addr += extent;
            new_addr += extent;
        }
        old_addr - old
    }

    /// move_hugetlb_page_tables(): move each huge entry (one PMD entry per 2 MiB page), then
    /// one flush of the old range. Returns how many bytes were done (less on OOM).
    fn move_hugetlb_page_tables(&mut self, mm: MmId, old: u64, new: u64, len: u64) -> u64 {
        use crate::mm::hugetlb::{huge_pte_offset, HPAGE_SHIFT, HPAGE_SIZE};
        let root = self.mms[mm].pgd;
        let mut done = 0;
        while done < len {
            if let Some((src, e)) = huge_pte_offset(&self.phys, root, old + done) {
                let Some(dst) = self.pmd_alloc(mm, new + done) else {
                    break;
                };
                table::set_pmd(&mut self.phys, src, crate::pgtable::Pmd::NONE);
                table::set_pmd(&mut self.phys, dst, crate::pgtable::Pmd(e.0));
            }
            done += HPAGE_SIZE;
        }
        self.flush_tlb_range_stride(mm, old, old + len, HPAGE_SHIFT);
        done.min(len)
    }

    /// move_ptes(): move every non-none entry of `[old_addr, old_addr + extent)` (one PTE
    /// table on each side), soft-dirty, then one flush_tlb_range() of the old extent if a
    /// present entry moved. move_pte() is a no-op on x86, and nothing else changes per entry
    /// (no rmap or refcount update: the pages stay mapped once).
    /// Locks: both PTLs (the new one nested).
    fn move_ptes(
        &mut self,
        mm: MmId,
        old_table: Pfn,
        new_table: Pfn,
        old_addr: u64,
        new_addr: u64,
        extent: u64,
    ) {
        let mut force_flush = false;
        let mut off = 0;
        while off < extent {
            let from = table::PteSlot {
                table: old_table,
                idx: table::index(old_addr + off, 3),
            };
            let to = table::PteSlot {
                table: new_table,
                idx: table::index(new_addr + off, 3),
            };
            off += PAGE_SIZE;
            let pte = table::get(&self.phys, from);
            if pte.is_none() {
                continue;
            }
            // ptep_get_and_clear()
            table::set(&mut self.phys, from, Pte::NONE);
            force_flush |= pte.is_present();
            table::set(&mut self.phys, to, move_soft_dirty_pte(pte));
        }
        if force_flush {
            self.flush_tlb_mm_range(mm, old_addr, old_addr + extent);
        }
    }

    /// get_old_pud(): the PUD entry for `addr` (table frame, index) if it points to a PMD
    /// table (pgd/p4d/pud_none_or_clear_bad all false).
    fn get_old_pud(&self, root: Pfn, addr: u64) -> Option<(Pfn, usize)> {
        let pud_table = table::next_table(&self.phys, root, table::index(addr, 0))?;
        let i = table::index(addr, 1);
        table::next_table(&self.phys, pud_table, i)?;
        Some((pud_table, i))
    }

    /// alloc_new_pud(): the PUD entry for `addr`, allocating the PUD table. None on OOM.
    fn alloc_new_pud(&mut self, root: Pfn, addr: u64) -> Option<(Pfn, usize)> {
        let g = table::index(addr, 0);
        let pud_table = match table::next_table(&self.phys, root, g) {
            Some(t) => t,
            None => {
                let t = self.alloc_pgtable()?;
                table::populate(&mut self.phys, root, g, t);
                t
            }
        };
        Some((pud_table, table::index(addr, 1)))
    }

    /// move_normal_pmd(): hand the whole PTE table under the 2 MiB-aligned `old` to the
    /// 2 MiB-aligned `new` by moving the PMD entry (alloc_new_pmd() makes the upper levels for
    /// `new`, but no PTE table). False (nothing done) if `new` already has an entry or its
    /// upper tables cannot be allocated.
    fn move_normal_pmd(&mut self, mm: MmId, old: u64, new: u64) -> bool {
        let root = self.mms[mm].pgd;
        let Some(src) = table::pmd_slot(&self.phys, root, old) else {
            return false;
        };
        let Some(dst) = self.pmd_alloc(mm, new) else {
            return false;
        };
        table::move_entry(&mut self.phys, (src.table, src.idx), (dst.table, dst.idx))
    }

    /// move_normal_pud(): hand the PMD table under `old` to the empty PUD entry `new`, then
    /// flush_tlb_range(old_addr, old_addr + PUD_SIZE). False if `new` is already populated.
    fn move_normal_pud(
        &mut self,
        mm: MmId,
        old: (Pfn, usize),
        new: (Pfn, usize),
        old_addr: u64,
        new_addr: u64,
    ) -> bool {
        if !table::move_entry(&mut self.phys, old, new) {
            return false;
        }
        // The tables deposited with huge PMDs under it travel along.
        let moved: Vec<(u64, Pfn)> = self.mms[mm]
            .deposited
            .iter()
            .filter(|(&a, _)| a >= old_addr && a < old_addr + PUD_SIZE)
            .map(|(&a, &t)| (a, t))
            .collect();
        for (a, t) in moved {
            self.mms[mm].deposited.remove(&a);
            self.mms[mm].deposited.insert(a - old_addr + new_addr, t);
        }
        self.flush_tlb_mm_range(mm, old_addr, old_addr + PUD_SIZE);
        true
    }
}

/// The alignment get_unmapped_area() needs for a move of `vma`.
fn mremap_align(vma: &Vma) -> u64 {
    if vma.is_hugetlb() {
        crate::mm::hugetlb::HPAGE_SIZE
    } else {
        crate::hw::PAGE_SIZE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::proc::{PM_PFRAME_MASK, PM_PRESENT};
    use crate::sched::Signal;
    use crate::Config;

    const P: u64 = PAGE_SIZE;
    const RW: u64 = PROT_READ | PROT_WRITE;
    const ANON: u64 = MAP_PRIVATE | MAP_ANONYMOUS;

    fn setup() -> (Kernel, Tid) {
        let mut k = Kernel::new(Config::default());
        let t = k.spawn_process(0).unwrap();
        (k, t)
    }

    fn map_at(k: &mut Kernel, t: Tid, addr: u64, len: u64, flags: u64) -> u64 {
        let a = k.mmap(t, addr, len, RW, flags | MAP_FIXED, -1, 0).unwrap();
        assert_eq!(a, addr);
        a
    }

    fn vma(k: &Kernel, t: Tid, addr: u64) -> Option<Vma> {
        let mm = k.task(t).unwrap().mm;
        k.mms[mm].vmas.lookup(addr).cloned()
    }

    fn count(k: &Kernel, t: Tid, lo: u64, hi: u64) -> usize {
        let mm = k.task(t).unwrap().mm;
        k.mms[mm].vmas.overlapping(lo, hi).len()
    }

    #[test]
    fn shrink_with_wrapping_lengths_does_what_c_does() {
        let (mut k, t) = setup();
        let b = map_at(&mut k, t, 0x1000_0000, 4 * P, ANON);
        let a = b + 2 * P;
        // addr + new_len wraps to a - 2 pages: __do_munmap(b, 1 page) succeeds there, so
        // Linux returns addr and the page at b is gone.
        assert_eq!(
            k.mremap(t, a, 0xffff_ffff_ffff_f000, 0xffff_ffff_ffff_e000, 0, 0),
            Ok(a)
        );
        assert!(vma(&k, t, b).is_none());
        assert!(vma(&k, t, b + P).is_some());
        // addr + new_len lands above TASK_SIZE without wrapping: __do_munmap() says EINVAL.
        assert_eq!(
            k.mremap(t, a, (1 << 63) + P, 1 << 63, 0, 0),
            Err(Errno::EINVAL)
        );
        // The tail length is above TASK_SIZE: EINVAL, nothing unmapped.
        assert_eq!(k.mremap(t, a, PAGE_MASK, P, 0, 0), Err(Errno::EINVAL));
        assert!(vma(&k, t, a + P).is_some());
        k.check_invariants().unwrap();
    }

    #[test]
    fn overlap_check_wraps_like_c() {
        let (mut k, t) = setup();
        let a = map_at(&mut k, t, 0x1000_0000, 2 * P, ANON);
        let n = map_at(&mut k, t, 0x0800_0000, P, ANON);
        // addr + old_len wraps below new_addr's end: no overlap is seen; FIXED unmaps the
        // target, then the tail munmap of the huge old range fails with EINVAL.
        assert_eq!(
            k.mremap(
                t,
                a,
                0xffff_ffff_ffff_f000,
                P,
                MREMAP_MAYMOVE | MREMAP_FIXED,
                n
            ),
            Err(Errno::EINVAL)
        );
        assert!(vma(&k, t, n).is_none(), "the FIXED munmap already ran");
        assert!(vma(&k, t, a).is_some());
        // A real overlap.
        assert_eq!(
            k.mremap(t, a, 2 * P, P, MREMAP_MAYMOVE | MREMAP_FIXED, a + P),
            Err(Errno::EINVAL)
        );
        // new_addr + new_len past TASK_SIZE.
        assert_eq!(
            k.mremap(t, a, P, P, MREMAP_MAYMOVE | MREMAP_FIXED, TASK_SIZE),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            k.mremap(t, a, P, P, MREMAP_MAYMOVE | MREMAP_FIXED, PAGE_MASK),
            Err(Errno::EINVAL)
        );
        k.check_invariants().unwrap();
    }

    #[test]
    fn small_max_map_count_is_enomem_not_a_panic() {
        let (mut k, t) = setup();
        let a = map_at(&mut k, t, 0x1000_0000, P, ANON);
        map_at(&mut k, t, 0x1000_0000 + P, P, MAP_SHARED | MAP_ANONYMOUS); // blocks growth
        for max in 0..=5 {
            k.cfg.max_map_count = max;
            assert_eq!(
                k.mremap(t, a, P, P, MREMAP_MAYMOVE | MREMAP_FIXED, 0x2000_0000),
                Err(Errno::ENOMEM),
                "mremap_to with max_map_count {max}"
            );
            assert_eq!(
                k.mremap(t, a, P, 2 * P, MREMAP_MAYMOVE, 0),
                Err(Errno::ENOMEM),
                "move_vma with max_map_count {max}"
            );
        }
        k.cfg.max_map_count = 65530;
        assert_eq!(
            k.mremap(t, a, P, P, MREMAP_MAYMOVE | MREMAP_FIXED, 0x2000_0000),
            Ok(0x2000_0000)
        );
    }

    #[test]
    fn page_align_of_old_len_wraps_to_zero() {
        let (mut k, t) = setup();
        let p = map_at(&mut k, t, 0x1000_0000, P, ANON);
        let s = map_at(&mut k, t, 0x2000_0000, P, MAP_SHARED | MAP_ANONYMOUS);
        k.store(t, s, 7).unwrap();
        // Unmapped address: the VMA lookup fails first (EFAULT), not the length.
        assert_eq!(
            k.mremap(t, 0x3000_0000, u64::MAX, P, 0, 0),
            Err(Errno::EFAULT)
        );
        // Private: old_len 0 is "duplicate a private mapping", EINVAL.
        assert_eq!(
            k.mremap(t, p, u64::MAX, P, MREMAP_MAYMOVE, 0),
            Err(Errno::EINVAL)
        );
        // new_len wrapping to 0 is EINVAL.
        assert_eq!(
            k.mremap(t, p, P, u64::MAX - 1, MREMAP_MAYMOVE, 0),
            Err(Errno::EINVAL)
        );
        // Shared: a second mapping of the same object; nothing is unmapped.
        let q = k.mremap(t, s, u64::MAX - 10, P, MREMAP_MAYMOVE, 0).unwrap();
        assert_ne!(q, s);
        assert_eq!(k.load(t, q), Ok(7));
        assert_eq!(k.load(t, s), Ok(7));
        k.store(t, q, 9).unwrap();
        assert_eq!(k.load(t, s), Ok(9));
        // Without MAYMOVE it cannot grow in place from length 0.
        assert_eq!(k.mremap(t, s, u64::MAX, P, 0, 0), Err(Errno::ENOMEM));
        k.check_invariants().unwrap();
    }

    #[test]
    fn no_argument_combination_panics() {
        let vals = [
            0,
            1,
            P,
            2 * P,
            3 * P - 1,
            0x1000_0000,
            0x1000_0000 + P,
            TASK_SIZE - P,
            TASK_SIZE,
            1 << 63,
            (1 << 63) + P,
            PAGE_MASK,
            u64::MAX - P,
            u64::MAX - 1,
            u64::MAX,
        ];
        let mut calls = 0;
        let mut moved = 0;
        for flags in [0, 1, 2, 3, 4, 5, 6, 7, 8] {
            for &addr in &vals {
                for &old in &vals {
                    // A fresh address space per (flags, addr, old_len): a successful move
                    // would otherwise leave `addr` unmapped for the rest of the loop.
                    let (mut k, t) = setup();
                    map_at(&mut k, t, 0x1000_0000, 2 * P, ANON);
                    map_at(
                        &mut k,
                        t,
                        0x1000_0000 + 2 * P,
                        P,
                        MAP_SHARED | MAP_ANONYMOUS,
                    );
                    map_at(&mut k, t, TASK_SIZE - 2 * P, 2 * P, ANON);
                    k.store(t, 0x1000_0000, 1).unwrap();
                    k.store(t, TASK_SIZE - P, 1).unwrap();
                    for &new in &vals {
                        for &na in &[0, 0x1000_0000 + P, 0x3000_0000, TASK_SIZE - P, PAGE_MASK] {
                            calls += 1;
                            if let Ok(r) = k.mremap(t, addr, old, new, flags, na) {
                                moved += u64::from(r != addr);
                            }
                        }
                    }
                    k.check_invariants().unwrap();
                }
            }
        }
        assert!(
            calls > 150_000 && moved > 10,
            "{calls} calls, {moved} moves"
        );
    }

    #[test]
    fn unfaulted_anon_vma_takes_the_new_pgoff_and_merges() {
        let (mut k, t) = setup();
        let x = map_at(&mut k, t, 0x1000_0000, 2 * P, ANON);
        let y = map_at(&mut k, t, 0x2000_0000, P, ANON);
        assert_eq!(
            k.mremap(t, y, P, P, MREMAP_MAYMOVE | MREMAP_FIXED, x + 2 * P),
            Ok(x + 2 * P)
        );
        let v = vma(&k, t, x).unwrap();
        assert_eq!((v.start, v.end, v.pgoff), (x, x + 3 * P, x >> PAGE_SHIFT));
        assert_eq!(count(&k, t, x, x + 3 * P), 1);

        // A write-faulted VMA keeps its pgoff and stays separate.
        let x2 = map_at(&mut k, t, 0x3000_0000, 2 * P, ANON);
        let y2 = map_at(&mut k, t, 0x4000_0000, P, ANON);
        k.store(t, y2, 5).unwrap();
        assert_eq!(
            k.mremap(t, y2, P, P, MREMAP_MAYMOVE | MREMAP_FIXED, x2 + 2 * P),
            Ok(x2 + 2 * P)
        );
        assert_eq!(count(&k, t, x2, x2 + 3 * P), 2);
        assert_eq!(vma(&k, t, x2 + 2 * P).unwrap().pgoff, y2 >> PAGE_SHIFT);
        assert_eq!(k.load(t, x2 + 2 * P), Ok(5));
        k.check_invariants().unwrap();
    }

    #[test]
    fn a_move_across_a_pmd_boundary_flushes_each_extent() {
        let (mut k, t) = setup();
        let old = 0x4020_0000 - 2 * P;
        let new = 0x8040_0000 - 2 * P;
        map_at(&mut k, t, old, 4 * P, ANON);
        let mut pfns = vec![];
        for i in 0..4 {
            k.store(t, old + i * P, 0x10 + i as u8).unwrap();
            pfns.push(k.pte_at(t, old + i * P).unwrap().pfn());
        }
        let f0 = k.tlb_flushes_total();
        let flags = MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP;
        assert_eq!(k.mremap(t, old, 4 * P, 4 * P, flags, new), Ok(new));
        assert_eq!(
            k.tlb_flushes_total() - f0,
            2,
            "one flush_tlb_range per extent"
        );
        for i in 0..4 {
            assert_eq!(k.pte_at(t, new + i * P).unwrap().pfn(), pfns[i as usize]);
            assert!(k.pte_at(t, old + i * P).unwrap().is_none());
            assert_eq!(k.load(t, new + i * P), Ok(0x10 + i as u8));
        }
        // Same layout, destination offset differently: extents end at the next boundary of
        // either address, so three extents, each with a present entry.
        let (mut k, t) = setup();
        map_at(&mut k, t, old, 4 * P, ANON);
        k.memset(t, old, 0x33, 4 * P).unwrap();
        let f0 = k.tlb_flushes_total();
        let new = 0x8040_0000 - P;
        assert_eq!(k.mremap(t, old, 4 * P, 4 * P, flags, new), Ok(new));
        assert_eq!(k.tlb_flushes_total() - f0, 3);
        // Extents with no present entry flush nothing.
        let (mut k, t) = setup();
        map_at(&mut k, t, old, 4 * P, ANON);
        k.store(t, old, 1).unwrap();
        let f0 = k.tlb_flushes_total();
        let new = 0x8040_0000 - 2 * P;
        assert_eq!(k.mremap(t, old, 4 * P, 4 * P, flags, new), Ok(new));
        assert_eq!(k.tlb_flushes_total() - f0, 1);
        k.check_invariants().unwrap();
    }

    #[test]
    fn an_aligned_4m_move_hands_over_the_pte_tables() {
        let (mut k, t) = setup();
        let (old, new) = (0x4000_0000u64, 0x8000_0000u64);
        map_at(&mut k, t, old, 4 << 20, ANON);
        k.store(t, old + 5 * P, 0x55).unwrap();
        k.store(t, old + (2 << 20) + 7 * P, 0x77).unwrap();
        let pfn = k.pte_at(t, old + 5 * P).unwrap().pfn();
        let frames = k.frames_in_use();
        let f0 = k.tlb_flushes_total();
        let flags = MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP;
        assert_eq!(k.mremap(t, old, 4 << 20, 4 << 20, flags, new), Ok(new));
        assert_eq!(
            k.tlb_flushes_total() - f0,
            2,
            "one PMD_SIZE flush per moved table"
        );
        assert_eq!(
            k.frames_in_use(),
            frames + 1,
            "only a PMD table for the destination; the PTE tables moved"
        );
        let pm = k.pagemap(t, new + 5 * P).unwrap();
        assert_ne!(pm & PM_PRESENT, 0);
        assert_eq!(pm & PM_PFRAME_MASK, pfn.0);
        assert_eq!(k.load(t, new + 5 * P), Ok(0x55));
        assert_eq!(k.load(t, new + (2 << 20) + 7 * P), Ok(0x77));
        assert_eq!(k.pagemap(t, old + 5 * P).unwrap() & PM_PRESENT, 0);
        assert!(k
            .maps(t)
            .unwrap()
            .iter()
            .any(|m| m.start == new && m.end == new + (4 << 20)));
        k.check_invariants().unwrap();

        // A half with no PTE table costs no flush; then a plain FIXED move of the result.
        let (mut k, t) = setup();
        map_at(&mut k, t, old, 4 << 20, ANON);
        k.store(t, old, 0x11).unwrap();
        let f0 = k.tlb_flushes_total();
        let flags = MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP;
        assert_eq!(k.mremap(t, old, 4 << 20, 4 << 20, flags, new), Ok(new));
        assert_eq!(k.tlb_flushes_total() - f0, 1);
        let (new2, f0) = (0xc020_0000u64, k.tlb_flushes_total());
        assert_eq!(
            k.mremap(
                t,
                new,
                4 << 20,
                4 << 20,
                MREMAP_MAYMOVE | MREMAP_FIXED,
                new2
            ),
            Ok(new2)
        );
        assert!(k.tlb_flushes_total() > f0);
        assert_eq!(k.load(t, new2), Ok(0x11));
        assert!(vma(&k, t, new).is_none());
        k.check_invariants().unwrap();
    }

    #[test]
    fn an_aligned_1g_move_hands_over_the_pmd_table() {
        let (mut k, t) = setup();
        let (old, new) = (0x4000_0000u64, 0xc000_0000u64);
        map_at(&mut k, t, old, 1 << 30, ANON);
        k.store(t, old + (300 << 20), 0x42).unwrap();
        let frames = k.frames_in_use();
        let f0 = k.tlb_flushes_total();
        let flags = MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP;
        assert_eq!(k.mremap(t, old, 1 << 30, 1 << 30, flags, new), Ok(new));
        assert_eq!(
            k.tlb_flushes_total() - f0,
            1,
            "move_normal_pud: one PUD_SIZE flush"
        );
        assert_eq!(k.frames_in_use(), frames, "the PUD table was there already");
        assert_eq!(k.load(t, new + (300 << 20)), Ok(0x42));
        k.check_invariants().unwrap();
    }

    #[test]
    fn moved_ptes_become_soft_dirty() {
        let (mut k, t) = setup();
        let (old, new) = (0x4000_0000u64 + P, 0x5000_0000u64);
        map_at(&mut k, t, old, 2 * P, ANON);
        k.load(t, old).unwrap(); // the zero page, mapped clean
        k.store(t, old + P, 1).unwrap(); // pte_mkdirty() sets soft-dirty already
        assert!(!k.pte_at(t, old).unwrap().soft_dirty());
        assert_eq!(
            k.mremap(t, old, 2 * P, 2 * P, MREMAP_MAYMOVE | MREMAP_FIXED, new),
            Ok(new)
        );
        let pte = k.pte_at(t, new).unwrap();
        assert!(pte.is_present() && pte.special() && pte.soft_dirty());
        assert!(k.pte_at(t, new + P).unwrap().soft_dirty());

        // move_normal_pmd() moves the table as it is: no soft-dirty marking in 5.19.
        let (mut k, t) = setup();
        let (old, new) = (0x4000_0000u64, 0x8000_0000u64);
        map_at(&mut k, t, old, 2 << 20, ANON);
        k.load(t, old).unwrap();
        assert_eq!(
            k.mremap(t, old, 2 << 20, 2 << 20, MREMAP_MAYMOVE | MREMAP_FIXED, new),
            Ok(new)
        );
        let pte = k.pte_at(t, new).unwrap();
        assert!(pte.is_present() && !pte.soft_dirty());
        k.check_invariants().unwrap();
    }

    #[test]
    fn dontunmap_unlocks_the_old_vma_and_unlinks_its_anon_vma() {
        let (mut k, t) = setup();
        let mm = k.task(t).unwrap().mm;
        let x = map_at(&mut k, t, 0x1000_0000, 2 * P, ANON | MAP_LOCKED);
        let before = vma(&k, t, x).unwrap();
        assert!(before.flags & VM_LOCKED != 0 && before.flags & VM_ACCOUNT != 0);
        assert!(
            before.anon_vma.is_some(),
            "MAP_LOCKED populated with write faults"
        );
        let committed = k.mms[mm].committed;
        let flags = MREMAP_MAYMOVE | MREMAP_DONTUNMAP;
        let y = k.mremap(t, x, 2 * P, 2 * P, flags, 0).unwrap();
        let old = vma(&k, t, x).unwrap();
        assert_eq!((old.start, old.end), (x, x + 2 * P));
        assert_eq!(old.flags & (VM_LOCKED | VM_LOCKONFAULT), 0);
        assert_ne!(old.flags & VM_ACCOUNT, 0, "VM_ACCOUNT and its charge stay");
        assert_eq!(old.anon_vma, None);
        let new = vma(&k, t, y).unwrap();
        assert_ne!(new.flags & VM_LOCKED, 0);
        assert_eq!(new.anon_vma, before.anon_vma);
        assert_eq!(k.mms[mm].committed, committed + 2);
        assert!(k.pte_at(t, x).unwrap().is_none());
        // The old range refaults as fresh memory, with a new anon_vma.
        k.store(t, x, 3).unwrap();
        assert!(vma(&k, t, x).unwrap().anon_vma.is_some());

        // Part of a VMA: no split, VM_LOCKED goes from the whole VMA, the anon_vma stays.
        let z = map_at(&mut k, t, 0x3000_0000, 4 * P, ANON | MAP_LOCKED);
        let av = vma(&k, t, z).unwrap().anon_vma;
        k.mremap(t, z, 2 * P, 2 * P, flags, 0).unwrap();
        let old = vma(&k, t, z).unwrap();
        assert_eq!((old.start, old.end), (z, z + 4 * P));
        assert_eq!(old.flags & VM_LOCKED, 0);
        assert_eq!(old.anon_vma, av);
        k.check_invariants().unwrap();
    }

    #[test]
    fn locked_growth_is_populated() {
        let (mut k, t) = setup();
        let x = map_at(&mut k, t, 0x1000_0000, P, ANON | MAP_LOCKED);
        assert_eq!(k.mremap(t, x, P, 3 * P, 0, 0), Ok(x));
        for i in 1..3 {
            let pte = k.pte_at(t, x + i * P).unwrap();
            assert!(
                pte.is_present() && !pte.special(),
                "write-populated page {i}"
            );
        }
        // Moved: the grown part at the new address is populated too.
        map_at(&mut k, t, x + 3 * P, P, MAP_SHARED | MAP_ANONYMOUS);
        let y = k.mremap(t, x, 3 * P, 5 * P, MREMAP_MAYMOVE, 0).unwrap();
        assert_ne!(y, x);
        for i in 0..5 {
            assert!(k.pte_at(t, y + i * P).unwrap().is_present(), "page {i}");
        }
        // Not locked: nothing is populated.
        let u = map_at(&mut k, t, 0x2000_0000, P, ANON);
        assert_eq!(k.mremap(t, u, P, 2 * P, 0, 0), Ok(u));
        assert!(k.pte_at(t, u + P).unwrap().is_none());
        k.check_invariants().unwrap();
    }

    #[test]
    fn shared_growth_does_not_grow_the_shmem_object() {
        let (mut k, t) = setup();
        let s = map_at(&mut k, t, 0x1000_0000, P, MAP_SHARED | MAP_ANONYMOUS);
        k.store(t, s, 0x5a).unwrap();
        assert_eq!(k.mremap(t, s, P, 2 * P, 0, 0), Ok(s));
        assert_eq!(k.load(t, s), Ok(0x5a));
        assert_eq!(k.load(t, s + P), Err(Signal::Bus));
        map_at(&mut k, t, s + 2 * P, P, ANON);
        let q = k.mremap(t, s, 2 * P, 3 * P, MREMAP_MAYMOVE, 0).unwrap();
        assert_eq!(k.load(t, q), Ok(0x5a));
        assert_eq!(k.load(t, q + 2 * P), Err(Signal::Bus));
        if let Backing::File(ino) = vma(&k, t, q).unwrap().backing {
            assert_eq!(k.inodes[ino].i_size, P);
        } else {
            panic!("shared anon is shmem");
        }
        k.check_invariants().unwrap();
    }
}
