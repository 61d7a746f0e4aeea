//! mm/mprotect.c: do_mprotect_pkey, mprotect_fixup and change_protection. 5.19 gathers the
//! range in an mmu_gather and flushes only entries pte_needs_flush() names; 5.18 flushes every
//! VMA range in which it rewrote a present entry.

use crate::errno::{Errno, SysResult};
use crate::hw::{PAGE_MASK, PAGE_SIZE};
use crate::kernel::Kernel;
use crate::mm::mmap::{calc_vm_prot_bits, page_align};
use crate::mm::mmu_gather::MmuGather;
use crate::mm::vma::vm::*;
use crate::mm::MmId;
use crate::sched::Tid;
use std::ops::ControlFlow;

use crate::mm::pagewalk::{walk_page_range, MmWalk, PmdAction};
use crate::mm::vma::Vma;
use crate::pgtable::pmd::PmdKind;
use crate::pgtable::pte::{pte_needs_flush, PgProt, Pte, PteKind};
use crate::pgtable::swp::{SwpKind, PTE_MARKER_UFFD_WP};
use crate::pgtable::table::{self, PmdSlot, PteSlot, PMD_SIZE};
use crate::uapi::*;

impl Kernel {
    /// mprotect(2) (do_mprotect_pkey without pkeys).
    /// Locks: the mmap lock, write.
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
    /// Locks: the mmap lock, write.
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
        let vma = vma.for_fault();
        self.change_protection(tlb, &vma, (start, end), vma.page_prot(), CpFlags::empty());
        // A private VM_LOCKED VMA becoming writable is populated to break COW up front.
        if newflags & VM_LOCKED != 0
            && oldflags & (VM_WRITE | VM_SHARED) == 0
            && newflags & VM_WRITE != 0
        {
            self.mm_populate(mm, (start, end), crate::mm::vm_fault::FaultFlags::empty());
        }
        let merged = self.vma_merge(mm, start);
        Ok(self.mms[mm].vmas.get_mut(merged).expect("vma").end)
    }

    /// change_protection(): give every entry of `[start, end)` in `vma` the protection `prot`
    /// and, with MM_CP_UFFD_WP / MM_CP_UFFD_WP_RESOLVE, set or clear uffd-wp (file VMAs get
    /// markers on none entries, their page tables allocated for them; resolving drops
    /// markers). 5.19 records what needs flushing in `tlb` (pte_needs_flush()); 5.18 flushed
    /// the whole range whenever it changed an entry. Returns the entries changed.
    /// Locks: the mmap lock, write (read for UFFDIO_WRITEPROTECT); each table's PTL.
    pub(crate) fn change_protection(
        &mut self,
        tlb: &mut MmuGather,
        vma: &Vma,
        (start, end): (u64, u64),
        prot: PgProt,
        cp_flags: CpFlags,
    ) -> u64 {
        let mm = tlb.mm;
        if vma.is_hugetlb() {
            let uffd_wp = if cp_flags.contains(CpFlags::UFFD_WP) {
                Some(true)
            } else if cp_flags.contains(CpFlags::UFFD_WP_RESOLVE) {
                Some(false)
            } else {
                None
            };
            self.hugetlb_change_protection(mm, prot, (start, end), uffd_wp);
            return 0;
        }
        let protect_file = cp_flags.contains(CpFlags::UFFD_WP) && !vma.is_anonymous();
        if protect_file {
            // change_prepare() / change_pmd_prepare(): a file range being write-protected gets
            // its page tables, so none entries can carry markers.
            let mut a = start;
            while a < end {
                self.walk_alloc(mm, a);
                a = (a | (PMD_SIZE - 1)).saturating_add(1);
            }
        }
        let mut w = ChangeProtWalk {
            tlb,
            prot,
            cp_flags,
            protect_file,
            avoid_flush: self.cfg.features.mprotect_flush_avoid,
            pages: 0,
        };
        let _ = walk_page_range(self, mm, start, end, &mut w);
        let pages = w.pages;
        if w.avoid_flush {
            self.tlb_end_vma(w.tlb);
        } else if pages > 0 {
            // 5.18: flush_tlb_range(vma, start, end) whenever an entry was changed.
            self.flush_tlb_mm_range(mm, start, end);
        }
        pages
    }

    /// One PTE of change_pte_range(): returns whether it counts as changed.
    fn change_pte(
        &mut self,
        w: &mut ChangeProtWalk<'_>,
        addr: u64,
        slot: PteSlot,
        e: PteKind,
    ) -> bool {
        let uffd_wp = w.cp_flags.contains(CpFlags::UFFD_WP);
        let resolve = w.cp_flags.contains(CpFlags::UFFD_WP_RESOLVE);
        match e {
            PteKind::Present(old) => {
                let mut new = old.modify(w.prot);
                if uffd_wp {
                    new = new.wrprotect().mkuffd_wp();
                } else if resolve {
                    // The write bit is left to the fault handler, so COW happens as usual.
                    new = new.clear_uffd_wp();
                }
                table::set(&mut self.phys, slot, new);
                if w.avoid_flush && pte_needs_flush(old, new) {
                    w.tlb.add_range(addr, PAGE_SIZE);
                }
                true
            }
            PteKind::Swp(SwpKind::Marker { bits }, _) => {
                // A uffd-wp marker being resolved goes; the next fault is not trapped.
                if resolve && bits & PTE_MARKER_UFFD_WP != 0 {
                    table::set(&mut self.phys, slot, Pte::NONE);
                    return true;
                }
                false
            }
            PteKind::Swp(kind, bits) => {
                // A writable migration or device entry becomes readable; uffd-wp follows the
                // flags.
                let kind = match kind {
                    SwpKind::MigrationWrite { pfn } => {
                        let anon = self.pages.folio_test(
                            self.pages.folio(crate::page::Pfn(pfn)),
                            crate::page::PageFlags::ANON,
                        );
                        if anon {
                            SwpKind::MigrationReadExclusive { pfn }
                        } else {
                            SwpKind::MigrationRead { pfn }
                        }
                    }
                    SwpKind::DevicePrivate { pfn, .. } => {
                        SwpKind::DevicePrivate { pfn, write: false }
                    }
                    SwpKind::DeviceExclusive { pfn, .. } => {
                        SwpKind::DeviceExclusive { pfn, write: false }
                    }
                    SwpKind::Swap { .. }
                    | SwpKind::MigrationRead { .. }
                    | SwpKind::MigrationReadExclusive { .. }
                    | SwpKind::Hwpoison { .. }
                    | SwpKind::SwapinError { .. }
                    | SwpKind::Marker { .. } => kind,
                };
                let mut bits = bits;
                if uffd_wp {
                    bits.uffd_wp = true;
                } else if resolve {
                    bits.uffd_wp = false;
                }
                let old = table::get(&self.phys, slot);
                let new = Pte::swp(kind, bits);
                if new != old {
                    table::set(&mut self.phys, slot, new);
                    return true;
                }
                false
            }
            PteKind::None => {
                // A none entry of a file being write-protected gets a marker: its page (or
                // swap) may still exist in the page cache.
                if w.protect_file {
                    table::set(&mut self.phys, slot, Pte::marker(PTE_MARKER_UFFD_WP));
                    return true;
                }
                false
            }
        }
    }
}

bitflags::bitflags! {
    /// cp_flags of change_protection() (MM_CP_*, include/linux/mm.h, 5.19).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct CpFlags: u32 {
        /// MM_CP_DIRTY_ACCT: keep known-dirty pages writable (write-notify mappings).
        const DIRTY_ACCT = 1 << 0;
        /// MM_CP_PROT_NUMA: NUMA hinting faults.
        const PROT_NUMA = 1 << 1;
        /// MM_CP_UFFD_WP: write-protect for userfaultfd.
        const UFFD_WP = 1 << 2;
        /// MM_CP_UFFD_WP_RESOLVE: lift userfaultfd write protection.
        const UFFD_WP_RESOLVE = 1 << 3;
    }
}

/// change_pmd_range() / change_pte_range() as walker callbacks.
struct ChangeProtWalk<'a> {
    tlb: &'a mut MmuGather,
    prot: PgProt,
    cp_flags: CpFlags,
    /// uffd_wp_protect_file(): write-protecting a file VMA.
    protect_file: bool,
    /// 5.19's flush avoidance (the gather and pte_needs_flush()).
    avoid_flush: bool,
    /// Entries changed (the "pages" change_protection() returns).
    pages: u64,
}

impl MmWalk for ChangeProtWalk<'_> {
    fn pmd_entry(
        &mut self,
        k: &mut Kernel,
        addr: u64,
        next: u64,
        slot: PmdSlot,
        e: PmdKind,
    ) -> ControlFlow<(), PmdAction> {
        let mm = self.tlb.mm;
        ControlFlow::Continue(match e {
            PmdKind::Leaf(_) => {
                let haddr = addr & !(PMD_SIZE - 1);
                if next - addr != PMD_SIZE || self.protect_file {
                    // A huge entry the range covers in part, or a file THP being
                    // write-protected, is split; a file PMD is then none, and
                    // change_pmd_prepare() gives it a table for the markers.
                    k.split_huge_pmd(mm, haddr);
                    if self.protect_file {
                        k.pte_alloc(slot, addr);
                    }
                    PmdAction::Again
                } else {
                    let flush = k.change_huge_pmd(mm, haddr, self.prot, slot, self.cp_flags);
                    if flush && self.avoid_flush {
                        self.tlb.add_huge_range(haddr, PMD_SIZE);
                    }
                    self.pages += crate::mm::hugetlb::HPAGE_NR;
                    PmdAction::Done
                }
            }
            PmdKind::None | PmdKind::Table(_) => PmdAction::Descend,
            // No PMD migration entries exist without migration.
            PmdKind::Swp(..) => PmdAction::Done,
        })
    }

    fn pte_entry(
        &mut self,
        k: &mut Kernel,
        addr: u64,
        slot: PteSlot,
        e: PteKind,
    ) -> ControlFlow<()> {
        self.pages += k.change_pte(self, addr, slot, e) as u64;
        ControlFlow::Continue(())
    }
}
