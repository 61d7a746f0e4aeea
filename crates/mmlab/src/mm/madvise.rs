//! mm/madvise.c: do_madvise, madvise_walk_vmas and the behaviours anonymous memory has.

use crate::errno::{Errno, SysResult};
use crate::fs::inode::Ino;
use crate::fs::userfaultfd::Restart;
use crate::hw::{PAGE_MASK, PAGE_SIZE};
use crate::kernel::Kernel;
use crate::mm::gup::FollFlags;
use crate::mm::memory::ZapDetails;
use crate::mm::mmap::page_align;
use crate::mm::mmu_gather::MmuGather;
use crate::mm::pagewalk::{walk_page_range, MmWalk, PmdAction};
use crate::mm::shmem::{FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE};
use crate::mm::vm_fault::{FaultFlags, VmFault};
use crate::mm::vma::{vm::*, Backing, Vma};
use crate::mm::MmId;
use crate::page::{Folio, PageFlags};
use crate::pgtable::pmd::PmdKind;
use crate::pgtable::pte::{Pte, PteKind};
use crate::pgtable::swp::SwpKind;
use crate::pgtable::table::{self, PmdSlot, PteSlot};
use crate::sched::Tid;
use crate::uapi::*;
use std::ops::ControlFlow;

/// madvise_behavior_valid() for this model's kernel configuration (no KSM, no memory failure).
fn behavior_valid(advice: u64) -> bool {
    matches!(
        advice,
        MADV_DOFORK
            | MADV_DONTFORK
            | MADV_NORMAL
            | MADV_SEQUENTIAL
            | MADV_RANDOM
            | MADV_REMOVE
            | MADV_WILLNEED
            | MADV_MERGEABLE
            | MADV_UNMERGEABLE
            | MADV_DONTNEED
            | MADV_DONTNEED_LOCKED
            | MADV_FREE
            | MADV_COLD
            | MADV_PAGEOUT
            | MADV_POPULATE_READ
            | MADV_POPULATE_WRITE
            | MADV_HUGEPAGE
            | MADV_NOHUGEPAGE
            | MADV_DONTDUMP
            | MADV_DODUMP
            | MADV_WIPEONFORK
            | MADV_KEEPONFORK
    )
}

impl Kernel {
    /// madvise(2) (do_madvise).
    /// Locks: the mmap lock, read for DONTNEED, FREE, COLD, PAGEOUT, POPULATE_* and REMOVE; write
    /// for the advice that changes VMA flags.
    pub fn madvise(&mut self, tid: Tid, start: u64, len_in: u64, advice: u64) -> SysResult<()> {
        let mm = self.enter(tid)?;
        if !behavior_valid(advice) {
            return Err(Errno::EINVAL);
        }
        if start & !PAGE_MASK != 0 {
            return Err(Errno::EINVAL);
        }
        let len = page_align(len_in).unwrap_or(0);
        if len_in != 0 && len == 0 {
            return Err(Errno::EINVAL);
        }
        let end = start.checked_add(len).ok_or(Errno::EINVAL)?;
        if end == start {
            return Ok(());
        }
        // madvise_walk_vmas(): holes give ENOMEM at the end, after the mapped parts were done.
        let mut unmapped_error = Ok(());
        let mut addr = start;
        loop {
            let Some(vma) = self.mms[mm].vmas.find(addr).cloned() else {
                return Err(Errno::ENOMEM);
            };
            if addr < vma.start {
                unmapped_error = Err(Errno::ENOMEM);
                addr = vma.start;
                if addr >= end {
                    break;
                }
            }
            let tmp = vma.end.min(end);
            if let Err(e) = self.madvise_vma(mm, &vma, addr, tmp, advice) {
                self.restart_covers(tid, tmp, end, unmapped_error.is_err());
                return Err(e);
            }
            addr = tmp;
            if addr >= end {
                break;
            }
        }
        unmapped_error
    }

    /// A populate that now sleeps in handle_userfault() goes on, once woken, to the end of the
    /// VMA chunk it was in and then to the end of the call.
    fn restart_covers(&mut self, tid: Tid, chunk: u64, end: u64, hole: bool) {
        match &mut self.tasks[tid].restart {
            Some(Restart::Madvise {
                chunk_end, end: e, ..
            }) => {
                *chunk_end = chunk;
                *e = end;
            }
            Some(Restart::AfterRemoveEvent { next, call_end, .. }) => {
                *next = chunk;
                *call_end = end;
            }
            _ => {}
        }
        self.restart_covers_hole(tid, hole);
    }

    /// A populate woken in handle_userfault() goes on (restart_syscall()): madvise_populate()
    /// relocks and looks the VMA up again for the rest of its chunk, where a gap is ENOMEM at
    /// once; then madvise_walk_vmas() carries on after the chunk as madvise() would, and a
    /// gap seen before the sleep still makes it ENOMEM at the end.
    pub(crate) fn madvise_populate_restart(
        &mut self,
        tid: Tid,
        (start, chunk_end, end): (u64, u64, u64),
        advice: u64,
        hole: bool,
    ) -> SysResult<()> {
        let mm = self.enter(tid)?;
        let mut at = start;
        while at < chunk_end {
            let Some(vma) = self.mms[mm].vmas.lookup(at).cloned() else {
                return Err(Errno::ENOMEM);
            };
            let stop = vma.end.min(chunk_end);
            if let Err(e) = self.madvise_vma(mm, &vma, at, stop, advice) {
                self.restart_covers(tid, chunk_end, end, hole);
                return Err(e);
            }
            at = stop;
        }
        self.madvise_walk_rest(tid, (chunk_end, end), advice, hole)
    }

    /// madvise_walk_vmas() going on after a sleep, from `next` to the call's `end`; a gap
    /// seen before the sleep still makes the call ENOMEM at the end.
    fn madvise_walk_rest(
        &mut self,
        tid: Tid,
        (next, end): (u64, u64),
        advice: u64,
        hole: bool,
    ) -> SysResult<()> {
        let rest = if next < end {
            let r = self.madvise(tid, next, end - next, advice);
            self.restart_covers_hole(tid, hole);
            r
        } else {
            Ok(())
        };
        match rest {
            Ok(()) if hole => Err(Errno::ENOMEM),
            r => r,
        }
    }

    /// A gap passed before an earlier sleep still counts after a later one.
    fn restart_covers_hole(&mut self, tid: Tid, hole: bool) {
        match &mut self.tasks[tid].restart {
            Some(Restart::Madvise { hole: h, .. })
            | Some(Restart::AfterRemoveEvent { hole: h, .. }) => *h |= hole,
            _ => {}
        }
    }

    /// madvise_vma_behavior() on `[start, end)` inside `vma`.
    fn madvise_vma(
        &mut self,
        mm: MmId,
        vma: &Vma,
        start: u64,
        end: u64,
        advice: u64,
    ) -> SysResult<()> {
        let mut flags = vma.flags;
        match advice {
            MADV_DONTNEED | MADV_DONTNEED_LOCKED | MADV_FREE => {
                let end = madvise_dontneed_free_valid_vma(vma, start, end, advice)?;
                if self.userfaultfd_remove(vma, start, end) {
                    self.sleep_for_remove_event((start, end), advice, None);
                    return Err(Errno::ERESTARTNOINTR);
                }
                return self.madvise_dontneed_free_single_vma(mm, vma, (start, end), advice);
            }
            MADV_REMOVE => return self.madvise_remove(vma, start, end),
            // Without swap devices (a later issue) reclaim cannot move anonymous or shmem pages
            // anywhere, so COLD and PAGEOUT leave them mapped, as Linux does with no swap.
            // WILLNEED on anonymous memory only reads swap back in: nothing to do here either.
            MADV_COLD | MADV_PAGEOUT => {
                if vma.flags & (VM_LOCKED | VM_PFNMAP | VM_HUGETLB) != 0 {
                    return Err(Errno::EINVAL);
                }
                self.madvise_cold_or_pageout(mm, start, end, advice == MADV_PAGEOUT);
                return Ok(());
            }
            // WILLNEED on anonymous memory only reads swap back in; without swap devices (a
            // later issue) there is nothing to read, as on Linux with no swap.
            MADV_WILLNEED => return Ok(()),
            MADV_POPULATE_READ | MADV_POPULATE_WRITE => {
                return self.madvise_populate(mm, vma, start, end, advice == MADV_POPULATE_WRITE)
            }
            // ksm_madvise(): only marks the VMA; no ksmd runs in the model, so nothing merges.
            MADV_MERGEABLE => {
                if flags
                    & (VM_MERGEABLE
                        | VM_SHARED
                        | VM_MAYSHARE
                        | VM_PFNMAP
                        | VM_IO
                        | VM_DONTEXPAND
                        | VM_HUGETLB
                        | VM_MIXEDMAP)
                    == 0
                {
                    flags |= VM_MERGEABLE;
                }
            }
            MADV_UNMERGEABLE => flags &= !VM_MERGEABLE,
            MADV_NORMAL => flags &= !(VM_RAND_READ | VM_SEQ_READ),
            MADV_SEQUENTIAL => flags = (flags & !VM_RAND_READ) | VM_SEQ_READ,
            MADV_RANDOM => flags = (flags & !VM_SEQ_READ) | VM_RAND_READ,
            MADV_DONTFORK => flags |= VM_DONTCOPY,
            MADV_DOFORK => {
                if vma.flags & VM_IO != 0 {
                    return Err(Errno::EINVAL);
                }
                flags &= !VM_DONTCOPY;
            }
            MADV_WIPEONFORK => {
                if vma.flags & VM_SHARED != 0 || vma.backing != Backing::Anon {
                    return Err(Errno::EINVAL);
                }
                flags |= VM_WIPEONFORK;
            }
            MADV_KEEPONFORK => flags &= !VM_WIPEONFORK,
            MADV_DONTDUMP => flags |= VM_DONTDUMP,
            MADV_DODUMP => {
                // hugetlb VMAs carry VM_DONTEXPAND but may be dumped.
                if !vma.is_hugetlb() && vma.flags & VM_SPECIAL != 0 {
                    return Err(Errno::EINVAL);
                }
                flags &= !VM_DONTDUMP;
            }
            // hugepage_madvise(): khugepaged learns of the mm now, not at the first fault.
            MADV_HUGEPAGE => {
                flags = (flags & !VM_NOHUGEPAGE) | VM_HUGEPAGE;
                // khugepaged_enter_vma() with the new flags, before the VMA has them (an
                // anonymous VMA needs an anon_vma already to qualify).
                self.khugepaged_enter_vma(mm, vma, flags);
            }
            MADV_NOHUGEPAGE => flags = (flags & !VM_HUGEPAGE) | VM_NOHUGEPAGE,
            _ => return Err(Errno::EINVAL),
        }
        self.madvise_update_vma(mm, vma, start, end, flags)
    }

    /// madvise_update_vma(): split/merge so the range carries `flags`; a split failing with
    /// ENOMEM is EAGAIN (madvise_vma_behavior()), any other error (an unaligned hugetlb split's
    /// EINVAL) stays.
    fn madvise_update_vma(
        &mut self,
        mm: MmId,
        vma: &Vma,
        start: u64,
        end: u64,
        flags: u64,
    ) -> SysResult<()> {
        if flags == vma.flags {
            return Ok(());
        }
        self.split_for_change(mm, start, end, flags).map_err(|e| {
            if e == Errno::ENOMEM {
                Errno::EAGAIN
            } else {
                e
            }
        })?;
        self.mms[mm].vmas.get_mut(start).expect("vma").flags = flags;
        self.vma_merge(mm, start);
        Ok(())
    }

    /// madvise_free_single_vma(): anonymous pages become clean and old and go to the lazyfree
    /// LRU, so reclaim may drop them instead of swapping; a dirty page (PG_dirty) is left
    /// alone while others map it too.
    /// Locks: the mmap lock, read; each table's PTL.
    fn madvise_free(&mut self, mm: MmId, start: u64, end: u64) {
        self.lru_add_drain();
        let mut tlb = MmuGather::new(mm, false);
        let mut w = MadviseWalk {
            tlb: &mut tlb,
            how: MadviseHow::Free,
            isolated: Vec::new(),
        };
        let _ = walk_page_range(self, mm, start, end, &mut w);
        self.tlb_end_vma(&mut tlb);
        self.tlb_finish_mmu(tlb);
    }

    /// madvise_cold() / madvise_pageout(): pages mapped only here are aged (the PTE loses its
    /// accessed bit, gathered for one flush) and deactivated (COLD) or isolated and, a page
    /// table's worth at a time, reclaimed (PAGEOUT: reclaim_pages()).
    /// Locks: the mmap lock, read; each table's PTL.
    fn madvise_cold_or_pageout(&mut self, mm: MmId, start: u64, end: u64, pageout: bool) {
        self.lru_add_drain();
        let mut tlb = MmuGather::new(mm, false);
        let mut w = MadviseWalk {
            tlb: &mut tlb,
            how: if pageout {
                MadviseHow::Pageout
            } else {
                MadviseHow::Cold
            },
            isolated: Vec::new(),
        };
        let _ = walk_page_range(self, mm, start, end, &mut w);
        let isolated = std::mem::take(&mut w.isolated);
        self.tlb_end_vma(&mut tlb);
        self.tlb_finish_mmu(tlb);
        self.reclaim_pages(isolated);
    }

    /// madvise_cold_or_pageout_pte_range()'s PAGEOUT step for a page: isolate it for
    /// reclaim_pages() (an unevictable one goes straight back).
    pub(crate) fn pageout_isolate(&mut self, f: Folio, list: &mut Vec<Folio>) {
        if self.isolate_lru_folio(f) {
            if self.pages.folio_test(f, PageFlags::UNEVICTABLE) {
                self.folio_putback_lru(f);
            } else {
                list.push(f);
            }
        }
    }

    /// One present PTE of madvise_free_pte_range() / madvise_cold_or_pageout_pte_range(),
    /// after a PTE-mapped THP mapped only here was split. Break ends the walk of this table
    /// (a THP mapped elsewhere too, or a split that failed).
    fn madvise_pte(
        &mut self,
        w: &mut MadviseWalk<'_>,
        addr: u64,
        slot: PteSlot,
        pte: Pte,
    ) -> ControlFlow<()> {
        if pte.special() {
            return ControlFlow::Continue(());
        }
        if !self.split_pte_mapped_thp(pte.pfn()) {
            return ControlFlow::Break(());
        }
        // A split file THP is unmapped: nothing is left here.
        let pte = table::get(&self.phys, slot);
        if !pte.is_present() {
            return ControlFlow::Continue(());
        }
        let pfn = pte.pfn();
        let f = self.pages.folio(pfn);
        match w.how {
            MadviseHow::Free => {
                if self.pages.folio_test(f, PageFlags::DIRTY) {
                    if self.pages.page_mapcount(pfn) != 1 {
                        return ControlFlow::Continue(());
                    }
                    self.pages.folio_clear(f, PageFlags::DIRTY);
                }
                if pte.young() || pte.dirty() {
                    table::set(&mut self.phys, slot, pte.mkold().mkclean());
                    w.tlb.add_range(addr, PAGE_SIZE);
                }
                self.mark_page_lazyfree(f);
            }
            MadviseHow::Cold | MadviseHow::Pageout => {
                if self.pages.page_mapcount(pfn) != 1 {
                    return ControlFlow::Continue(());
                }
                if pte.young() {
                    table::set(&mut self.phys, slot, pte.mkold());
                    w.tlb.add_range(addr, PAGE_SIZE);
                }
                self.pages
                    .folio_clear(f, PageFlags::REFERENCED | PageFlags::YOUNG);
                if w.how == MadviseHow::Cold {
                    self.deactivate_page(f);
                } else {
                    self.pageout_isolate(f, &mut w.isolated);
                }
            }
        }
        ControlFlow::Continue(())
    }

    /// madvise_remove(): punch a hole in the file behind a shared writable mapping
    /// (vfs_fallocate(PUNCH_HOLE | KEEP_SIZE), so hugetlbfs punches as it does for fallocate).
    /// Locks: the mmap lock, read, dropped around vfs_fallocate().
    fn madvise_remove(&mut self, vma: &Vma, start: u64, end: u64) -> SysResult<()> {
        if vma.flags & VM_LOCKED != 0 {
            return Err(Errno::EINVAL);
        }
        let Backing::File(ino) = vma.backing else {
            return Err(Errno::EINVAL);
        };
        if vma.flags & (VM_SHARED | VM_WRITE) != VM_SHARED | VM_WRITE {
            return Err(Errno::EACCES);
        }
        let offset = vma.linear_page_index(start) * PAGE_SIZE;
        if self.userfaultfd_remove(vma, start, end) {
            // get_file(): the file outlives the VMA while the caller sleeps.
            self.inodes[ino].refs += 1;
            self.sleep_for_remove_event((start, end), MADV_REMOVE, Some((ino, offset)));
            return Err(Errno::ERESTARTNOINTR);
        }
        self.madvise_punch(ino, offset, end - start)
    }

    /// vfs_fallocate(PUNCH_HOLE | KEEP_SIZE) of `len` bytes of the file at `offset`.
    fn madvise_punch(&mut self, ino: Ino, offset: u64, len: u64) -> SysResult<()> {
        let mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
        self.f_op_fallocate(ino, mode, offset, offset + len)
    }

    /// The caller sleeps in userfaultfd_remove() until the REMOVE event is read: the call
    /// goes on in madvise_after_remove_event() (the walk's place is filled in by
    /// restart_covers()).
    fn sleep_for_remove_event(
        &mut self,
        (start, end): (u64, u64),
        advice: u64,
        punch: Option<(Ino, u64)>,
    ) {
        self.tasks[self.current].restart = Some(Restart::AfterRemoveEvent {
            start,
            end,
            advice,
            punch,
            next: end,
            call_end: end,
            hole: false,
        });
    }

    /// madvise_dontneed_free() once its REMOVE event was read (restart_syscall()): the
    /// mmap lock was dropped, so DONTNEED and FREE look their VMA up again (a hole at
    /// `start` is ENOMEM, a VMA no longer valid EINVAL, `end` clipped to it) before the zap,
    /// and REMOVE punches the range it had resolved; then madvise_walk_vmas() goes on.
    pub(crate) fn madvise_after_remove_event(
        &mut self,
        tid: Tid,
        (start, end): (u64, u64),
        advice: u64,
        punch: Option<(Ino, u64)>,
        (next, call_end): (u64, u64),
        hole: bool,
    ) -> SysResult<()> {
        let mm = self.enter(tid)?;
        if let Some((ino, offset)) = punch {
            let r = self.madvise_punch(ino, offset, end - start);
            self.fput_inode(ino);
            r?;
        } else {
            let vma = match self.mms[mm].vmas.find(start) {
                Some(v) if v.start <= start => v.for_fault(),
                _ => return Err(Errno::ENOMEM),
            };
            let end = madvise_dontneed_free_valid_vma(&vma, start, end, advice)?.min(vma.end);
            self.madvise_dontneed_free_single_vma(mm, &vma, (start, end), advice)?;
        }
        self.madvise_walk_rest(tid, (next, call_end), advice, hole)
    }

    /// madvise_dontneed_single_vma() / madvise_free_single_vma() on `[start, end)` of `vma`.
    fn madvise_dontneed_free_single_vma(
        &mut self,
        mm: MmId,
        vma: &Vma,
        (start, end): (u64, u64),
        advice: u64,
    ) -> SysResult<()> {
        if advice == MADV_FREE {
            if !vma.is_anonymous() {
                return Err(Errno::EINVAL);
            }
            self.madvise_free(mm, start, end);
            return Ok(());
        }
        // zap_page_range(): no zap_details, so uffd-wp markers stay; the high-water RSS is
        // raised first (exit_mmap() and the OOM reaper do not).
        self.lru_add_drain();
        self.mms[mm].update_hiwater_rss();
        let mut tlb = MmuGather::new(mm, false);
        self.zap_page_range(&mut tlb, vma, (start, end), ZapDetails::DONTNEED);
        self.tlb_end_vma(&mut tlb);
        self.tlb_finish_mmu(tlb);
        if vma.is_hugetlb() {
            // 5.19's zap_page_range() ends in __unmap_hugepage_range_final(), which clears
            // VM_MAYSHARE (meant for a VMA being torn down): the VMA reads as private from
            // now on and new pages in it become anonymous (fixed in 6.1).
            if let Some(v) = self.mms[mm].vmas.get_mut(vma.start) {
                v.flags &= !VM_MAYSHARE;
            }
        }
        Ok(())
    }

    /// madvise_populate() on one VMA: fault `[start, end)` in without FOLL_FORCE, so an access the
    /// VMA does not allow is EINVAL; SIGBUS/SIGSEGV during the fault is EFAULT.
    fn madvise_populate(
        &mut self,
        mm: MmId,
        vma: &Vma,
        start: u64,
        end: u64,
        write: bool,
    ) -> SysResult<()> {
        if vma.flags & (VM_IO | VM_PFNMAP) != 0
            || (write && vma.flags & VM_WRITE == 0)
            || (!write && vma.flags & VM_READ == 0)
        {
            return Err(Errno::EINVAL);
        }
        // faultin_vma_page_range(): FOLL_TOUCH, no FOLL_FORCE, and `locked`, so a userfault
        // waits (the fault may drop mmap_lock).
        let mut foll = FollFlags::TOUCH;
        if write {
            foll |= FollFlags::WRITE;
        }
        let flags = FaultFlags::ALLOW_RETRY | FaultFlags::KILLABLE;
        match self.get_user_pages(mm, vma, (start, end), foll, flags, &mut vec![]) {
            Ok(()) => Ok(()),
            Err((at, e)) if e.contains(VmFault::RETRY) => {
                let advice = if write {
                    MADV_POPULATE_WRITE
                } else {
                    MADV_POPULATE_READ
                };
                self.tasks[self.current].restart = Some(Restart::Madvise {
                    start: at,
                    chunk_end: end,
                    end,
                    advice,
                    hole: false,
                });
                Err(Errno::ERESTARTNOINTR)
            }
            Err((_, e)) if e.contains(VmFault::OOM) => Err(Errno::ENOMEM),
            Err(_) => Err(Errno::EFAULT),
        }
    }
}

/// Which madvise walk runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MadviseHow {
    Free,
    Cold,
    Pageout,
}

/// madvise_free_pte_range() / madvise_cold_or_pageout_pte_range() as walker callbacks.
struct MadviseWalk<'a> {
    tlb: &'a mut MmuGather,
    how: MadviseHow,
    /// PAGEOUT: the folios isolated from this page table so far (reclaimed per table).
    isolated: Vec<Folio>,
}

impl MmWalk for MadviseWalk<'_> {
    fn pmd_entry(
        &mut self,
        k: &mut Kernel,
        addr: u64,
        next: u64,
        slot: PmdSlot,
        e: PmdKind,
    ) -> ControlFlow<(), PmdAction> {
        let mm = self.tlb.mm;
        // reclaim_pages() after each page table's batch.
        if !self.isolated.is_empty() {
            let list = std::mem::take(&mut self.isolated);
            k.reclaim_pages(list);
        }
        let done = match e {
            PmdKind::Leaf(e) => match self.how {
                MadviseHow::Free => k.madvise_free_huge_pmd(self.tlb, mm, (addr, next), slot, e),
                MadviseHow::Cold | MadviseHow::Pageout => {
                    let pageout = self.how == MadviseHow::Pageout;
                    k.madvise_cold_huge_pmd(
                        self.tlb,
                        mm,
                        (addr, next),
                        slot,
                        (e, pageout),
                        &mut self.isolated,
                    )
                }
            },
            PmdKind::None | PmdKind::Table(_) => false,
            // No PMD migration entries exist without migration.
            PmdKind::Swp(..) => true,
        };
        ControlFlow::Continue(if done {
            PmdAction::Done
        } else {
            PmdAction::Descend
        })
    }

    fn pte_entry(
        &mut self,
        k: &mut Kernel,
        addr: u64,
        slot: PteSlot,
        e: PteKind,
    ) -> ControlFlow<()> {
        match e {
            PteKind::Present(pte) => k.madvise_pte(self, addr, slot, pte),
            PteKind::None => ControlFlow::Continue(()),
            // MADV_FREE drops swap entries (no swap exists in the model yet) and poisoned
            // ones; COLD/PAGEOUT pass non-present entries by.
            PteKind::Swp(SwpKind::Hwpoison { .. } | SwpKind::SwapinError { .. }, _)
                if self.how == MadviseHow::Free =>
            {
                table::set(&mut k.phys, slot, Pte::NONE);
                ControlFlow::Continue(())
            }
            PteKind::Swp(..) => ControlFlow::Continue(()),
        }
    }
}

/// madvise_dontneed_free_valid_vma(): DONTNEED refuses VM_LOCKED and VM_PFNMAP VMAs (LOCKED
/// only VM_PFNMAP), FREE as DONTNEED; on hugetlb only DONTNEED(_LOCKED), from a huge page
/// aligned start, with the end rounded up to a huge page. Returns the end to act on.
fn madvise_dontneed_free_valid_vma(vma: &Vma, start: u64, end: u64, advice: u64) -> SysResult<u64> {
    if !vma.is_hugetlb() {
        let forbidden = if advice == MADV_DONTNEED_LOCKED {
            VM_PFNMAP
        } else {
            VM_PFNMAP | VM_LOCKED
        };
        return if vma.flags & forbidden != 0 {
            Err(Errno::EINVAL)
        } else {
            Ok(end)
        };
    }
    let mask = crate::mm::hugetlb::HPAGE_SIZE - 1;
    if advice == MADV_FREE || start & mask != 0 {
        return Err(Errno::EINVAL);
    }
    Ok((end.wrapping_add(mask) & !mask).min(vma.end))
}
