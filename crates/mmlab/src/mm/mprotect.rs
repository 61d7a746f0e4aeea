//! mm/mprotect.c: do_mprotect_pkey, mprotect_fixup and change_protection. 5.19 gathers the
//! range in an mmu_gather and flushes only entries pte_needs_flush() names; 5.18 flushes every
//! VMA range in which it rewrote a present entry.

use crate::errno::{Errno, SysResult};
use crate::hw::{PAGE_MASK, PAGE_SIZE};
use crate::kernel::{Kernel, Tid};
use crate::mm::mmap::{calc_vm_prot_bits, page_align};
use crate::mm::mmu_gather::MmuGather;
use crate::mm::vma::vm::*;
use crate::mm::MmId;
use crate::pgtable::pte::{pte_needs_flush, PgProt};
use crate::pgtable::table;
use crate::uapi::*;

impl Kernel {
    /// mprotect(2) (do_mprotect_pkey without pkeys).
    pub fn mprotect(&mut self, tid: Tid, start: u64, len: u64, prot: u64) -> SysResult<()> {
        let mm = self.enter(tid)?;
        let grows = prot & (PROT_GROWSDOWN | PROT_GROWSUP);
        let prot = prot & !(PROT_GROWSDOWN | PROT_GROWSUP);
        if grows == PROT_GROWSDOWN | PROT_GROWSUP {
            return Err(Errno::EINVAL);
        }
        if start & !PAGE_MASK != 0 {
            return Err(Errno::EINVAL);
        }
        if len == 0 {
            return Ok(());
        }
        let len = page_align(len).ok_or(Errno::ENOMEM)?;
        let end = start
            .checked_add(len)
            .filter(|&e| e > start)
            .ok_or(Errno::ENOMEM)?;
        // arch_validate_prot()
        if prot & !(PROT_READ | PROT_WRITE | PROT_EXEC | PROT_SEM) != 0 {
            return Err(Errno::EINVAL);
        }
        let Some(first) = self.mms[mm].vmas.find(start).cloned() else {
            return Err(Errno::ENOMEM);
        };
        let mut start = start;
        if grows & PROT_GROWSDOWN != 0 {
            if first.start >= end {
                return Err(Errno::ENOMEM);
            }
            start = first.start;
            if first.flags & VM_GROWSDOWN == 0 {
                return Err(Errno::EINVAL);
            }
        } else {
            if first.start > start {
                return Err(Errno::ENOMEM);
            }
            if grows & PROT_GROWSUP != 0 {
                // x86 has no VM_GROWSUP, so no VMA can grow up.
                return Err(Errno::EINVAL);
            }
        }
        let mut tlb = MmuGather::new(mm, false);
        let res = self.mprotect_vmas(mm, &mut tlb, start, end, prot);
        self.tlb_finish_mmu(tlb);
        res
    }

    /// The loop of do_mprotect_pkey(): apply to each VMA in turn; a hole ends it with ENOMEM
    /// after the earlier VMAs were changed.
    fn mprotect_vmas(
        &mut self,
        mm: MmId,
        tlb: &mut MmuGather,
        start: u64,
        end: u64,
        prot: u64,
    ) -> SysResult<()> {
        let mut nstart = start;
        loop {
            let (vflags, vend) = self.mms[mm]
                .vmas
                .lookup(nstart)
                .map(|v| (v.flags, v.end))
                .ok_or(Errno::ENOMEM)?;
            let newflags = calc_vm_prot_bits(prot) | (vflags & !(VM_READ | VM_WRITE | VM_EXEC));
            // The VM_MAY* bits bound what may be asked for.
            if newflags & !(newflags >> 4) & VM_ACCESS_FLAGS != 0 {
                return Err(Errno::EACCES);
            }
            let tmp = vend.min(end);
            let next = self.mprotect_fixup(mm, tlb, nstart, tmp, newflags)?;
            nstart = next;
            if nstart >= end {
                return Ok(());
            }
            if self.mms[mm].vmas.lookup(nstart).is_none() {
                return Err(Errno::ENOMEM);
            }
        }
    }

    /// mprotect_fixup(): split or merge so `[start, end)` is one VMA with `newflags`, then
    /// change_protection(). Returns the end of the VMA now holding `start`.
    fn mprotect_fixup(
        &mut self,
        mm: MmId,
        tlb: &mut MmuGather,
        start: u64,
        end: u64,
        mut newflags: u64,
    ) -> SysResult<u64> {
        let (oldflags, vend) = self.mms[mm]
            .vmas
            .lookup(start)
            .map(|v| (v.flags, v.end))
            .expect("vma");
        if newflags == oldflags {
            return Ok(vend);
        }
        let pages = (end - start) / PAGE_SIZE;
        if newflags & VM_WRITE != 0
            && oldflags & (VM_ACCOUNT | VM_WRITE | VM_HUGETLB | VM_SHARED | VM_NORESERVE) == 0
        {
            self.vm_enough_memory(pages)?;
            newflags |= VM_ACCOUNT;
            self.mms[mm].committed += pages;
        }
        self.split_for_change(mm, start, end, newflags)?;
        let vma = self.mms[mm].vmas.get_mut(start).expect("vma");
        vma.flags = newflags;
        let (prot, hugetlb) = (vma.page_prot(), vma.is_hugetlb());
        self.change_protection(mm, tlb, prot, hugetlb, start, end);
        // A private VM_LOCKED VMA becoming writable is populated to break COW up front.
        if newflags & VM_LOCKED != 0
            && oldflags & (VM_WRITE | VM_SHARED) == 0
            && newflags & VM_WRITE != 0
        {
            self.mm_populate(mm, start, end);
        }
        let merged = self.vma_merge(mm, start);
        Ok(self.mms[mm].vmas.get_mut(merged).expect("vma").end)
    }

    /// change_protection_range(): rewrite every present entry of `[start, end)` with the
    /// VMA's new vm_page_prot, between tlb_start_vma() and tlb_end_vma().
    fn change_protection(
        &mut self,
        mm: MmId,
        tlb: &mut MmuGather,
        prot: PgProt,
        hugetlb: bool,
        start: u64,
        end: u64,
    ) {
        if hugetlb {
            return self.hugetlb_change_protection(mm, prot, start, end, None);
        }
        let avoid = self.cfg.features.mprotect_flush_avoid;
        let mut changed = 0u64;
        // change_pmd_range(): split a huge entry the range covers in part, change whole ones.
        self.split_huge_pmd_edges(mm, start, end);
        for (haddr, pmd, e) in self.thp_leaves(mm, start, end) {
            if self.change_huge_pmd(prot, pmd, e) && avoid {
                tlb.add_huge_range(haddr, crate::mm::hugetlb::HPAGE_SIZE);
            }
            changed += 1;
        }
        let root = self.mms[mm].pgd;
        // change_pmd_range() → change_pte_range(): one PTE table at a time, in place.
        let mut addr = start;
        while addr < end {
            let table_end = ((addr >> 21) + 1) << 21;
            let stop = table_end.min(end);
            if let Some(first) = table::walk(&self.phys, root, addr) {
                let mut a = addr;
                let mut slot = first;
                while a < stop {
                    let old = table::get(&self.phys, slot);
                    if old.is_present() {
                        let new = old.modify(prot);
                        table::set(&mut self.phys, slot, new);
                        changed += 1;
                        if avoid && pte_needs_flush(old, new) {
                            tlb.add_range(a, PAGE_SIZE);
                        }
                    }
                    a += PAGE_SIZE;
                    slot.idx += 1;
                }
            }
            addr = stop;
        }
        if avoid {
            self.tlb_end_vma(tlb);
        } else if changed > 0 {
            // 5.18: flush_tlb_range(vma, start, end) whenever a present entry was rewritten.
            self.flush_tlb_mm_range(mm, start, end);
        }
    }
}
