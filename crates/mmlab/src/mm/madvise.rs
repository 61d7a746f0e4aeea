//! mm/madvise.c: do_madvise, madvise_walk_vmas and the behaviours anonymous memory has.

use crate::errno::{Errno, SysResult};
use crate::hw::{PAGE_MASK, PAGE_SIZE};
use crate::kernel::{Kernel, Tid};
use crate::mm::mmap::page_align;
use crate::mm::mmu_gather::MmuGather;
use crate::mm::vma::{vm::*, Backing, Vma};
use crate::mm::MmId;
use crate::pgtable::table;
use crate::uapi::*;

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
        if matches!(advice, MADV_POPULATE_READ | MADV_POPULATE_WRITE) {
            return self.madvise_populate(mm, start, end, advice == MADV_POPULATE_WRITE);
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
            self.madvise_vma(mm, &vma, addr, tmp, advice)?;
            addr = tmp;
            if addr >= end {
                break;
            }
        }
        unmapped_error
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
            MADV_DONTNEED | MADV_DONTNEED_LOCKED => {
                let forbidden = if advice == MADV_DONTNEED {
                    VM_LOCKED | VM_PFNMAP | VM_HUGETLB
                } else {
                    VM_PFNMAP | VM_HUGETLB
                };
                if vma.flags & forbidden != 0 {
                    return Err(Errno::EINVAL);
                }
                let mut tlb = MmuGather::new(mm, false);
                self.zap_range(&mut tlb, mm, start, end);
                self.tlb_end_vma(&mut tlb);
                self.tlb_finish_mmu(tlb);
                return Ok(());
            }
            MADV_FREE => {
                if vma.flags & (VM_LOCKED | VM_PFNMAP | VM_HUGETLB) != 0 || !vma.is_anonymous() {
                    return Err(Errno::EINVAL);
                }
                self.madvise_free(mm, start, end);
                return Ok(());
            }
            MADV_REMOVE => return self.madvise_remove(vma, start, end),
            // Without swap devices (a later issue) reclaim cannot move anonymous or shmem pages
            // anywhere, so COLD and PAGEOUT leave them mapped, as Linux does with no swap.
            // WILLNEED on anonymous memory only reads swap back in: nothing to do here either.
            MADV_COLD | MADV_PAGEOUT | MADV_WILLNEED => {
                if advice != MADV_WILLNEED && vma.flags & (VM_LOCKED | VM_PFNMAP | VM_HUGETLB) != 0
                {
                    return Err(Errno::EINVAL);
                }
                return Ok(());
            }
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
                if vma.flags & VM_SPECIAL != 0 {
                    return Err(Errno::EINVAL);
                }
                flags &= !VM_DONTDUMP;
            }
            // hugepage_madvise(): THP itself arrives with the file-backed memory issue.
            MADV_HUGEPAGE => flags = (flags & !VM_NOHUGEPAGE) | VM_HUGEPAGE,
            MADV_NOHUGEPAGE => flags = (flags & !VM_HUGEPAGE) | VM_NOHUGEPAGE,
            _ => return Err(Errno::EINVAL),
        }
        self.madvise_update_vma(mm, vma, start, end, flags)
    }

    /// madvise_update_vma(): split/merge so the range carries `flags`; ENOMEM becomes EAGAIN.
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
        let splits = usize::from(vma.start < start) + usize::from(vma.end > end);
        if splits > 0 && self.mms[mm].vmas.len() + splits > self.cfg.max_map_count {
            return Err(Errno::EAGAIN);
        }
        self.split_vma(mm, start);
        self.split_vma(mm, end);
        self.mms[mm].vmas.get_mut(start).expect("vma").flags = flags;
        self.vma_merge(mm, start);
        Ok(())
    }

    /// madvise_free_pte_range(): pages mapped only here become clean and old, so reclaim may
    /// drop them instead of swapping.
    fn madvise_free(&mut self, mm: MmId, start: u64, end: u64) {
        let root = self.mms[mm].pgd;
        let mut slots = Vec::new();
        table::for_each_slot(&self.phys, root, start, end, |a, s| slots.push((a, s)));
        let mut tlb = MmuGather::new(mm, false);
        for (addr, slot) in slots {
            let pte = table::get(&self.phys, slot);
            if !pte.is_present() || pte.special() || self.pages.page(pte.pfn()).mapcount != 1 {
                continue;
            }
            if pte.young() || pte.dirty() {
                table::set(&mut self.phys, slot, pte.mkold().mkclean());
                tlb.add_range(addr, PAGE_SIZE);
            }
            self.pages.page_mut(pte.pfn()).flags &= !crate::page::flags::PG_DIRTY;
        }
        self.tlb_end_vma(&mut tlb);
        self.tlb_finish_mmu(tlb);
    }

    /// madvise_remove(): punch a hole in the shmem object behind a shared writable mapping.
    fn madvise_remove(&mut self, vma: &Vma, start: u64, end: u64) -> SysResult<()> {
        if vma.flags & VM_LOCKED != 0 {
            return Err(Errno::EINVAL);
        }
        let Backing::Shmem(ino) = vma.backing else {
            return Err(Errno::EINVAL);
        };
        if vma.flags & (VM_SHARED | VM_WRITE) != VM_SHARED | VM_WRITE {
            return Err(Errno::EACCES);
        }
        // shmem_fallocate(PUNCH_HOLE): unmap the range from every mapping, then drop the cache.
        let (from, to) = (vma.linear_page_index(start), vma.linear_page_index(end));
        self.unmap_mapping_range(ino, from, to);
        self.shmem_truncate_range(ino, from, to);
        Ok(())
    }

    /// unmap_mapping_range(): zap the file pages `[from, to)` in every VMA that maps them.
    pub(crate) fn unmap_mapping_range(&mut self, ino: usize, from: u64, to: u64) {
        let hits: Vec<(MmId, u64, u64)> = self
            .mms
            .iter()
            .flat_map(|(id, m)| {
                m.vmas
                    .iter()
                    .filter(|v| v.backing == Backing::Shmem(ino))
                    .filter_map(move |v| {
                        let lo = v.start + (from.max(v.pgoff) - v.pgoff) * PAGE_SIZE;
                        let hi = v.start
                            + (to.min(v.pgoff + v.pages()).saturating_sub(v.pgoff)) * PAGE_SIZE;
                        (from < v.pgoff + v.pages() && to > v.pgoff && lo < hi)
                            .then_some((id, lo, hi))
                    })
            })
            .collect();
        for (mm, lo, hi) in hits {
            let mut tlb = MmuGather::new(mm, false);
            self.zap_range(&mut tlb, mm, lo, hi);
            self.tlb_end_vma(&mut tlb);
            self.tlb_finish_mmu(tlb);
        }
    }

    /// madvise_populate(): fault the range in; a hole is ENOMEM, a forbidden access EINVAL.
    fn madvise_populate(&mut self, mm: MmId, start: u64, end: u64, write: bool) -> SysResult<()> {
        let mut addr = start;
        while addr < end {
            let vma = self.mms[mm]
                .vmas
                .lookup(addr)
                .cloned()
                .ok_or(Errno::ENOMEM)?;
            if vma.flags & (VM_IO | VM_PFNMAP) != 0
                || (write && vma.flags & VM_WRITE == 0)
                || (!write && vma.flags & VM_READ == 0)
            {
                return Err(Errno::EINVAL);
            }
            let stop = vma.end.min(end);
            self.populate_range(mm, addr, stop, write)
                .map_err(|_| Errno::ENOMEM)?;
            addr = stop;
        }
        Ok(())
    }
}
