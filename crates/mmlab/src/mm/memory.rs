//! mm/memory.c: the page-fault handler (anonymous, shmem, write-protect/COW), zapping and
//! populating.

use crate::errno::{Errno, SysResult};
use crate::fs::userfaultfd::UffdReason::{Minor, Missing, Wp};
use crate::hw::{mmu, PAGE_MASK, PAGE_SHIFT, PAGE_SIZE};
use crate::kernel::{Kernel, Tid};
use crate::mm::huge_memory::pmd_trans_huge;
use crate::mm::mmu_gather::MmuGather;
use crate::mm::vma::{vm::*, Backing, Vma};
use crate::mm::MmId;
use crate::page::alloc::ZERO_PFN;
use crate::page::flags::*;
use crate::pgtable::pte::Pte;
use crate::pgtable::swp::PTE_MARKER_UFFD_WP;
use crate::pgtable::table::{self, PteSlot};

/// Where a VMA maps part of a file (see `i_mmap_overlaps`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct FileMapping {
    pub mm: MmId,
    /// The addresses of the asked-for file pages in this VMA.
    pub start: u64,
    pub end: u64,
    pub vma_end: u64,
    pub flags: u64,
    pub has_anon_vma: bool,
}

/// zap_details, as one zap_pte_range() pass sees it.
#[derive(Clone, Copy)]
struct ZapDetails {
    /// Zap private COW copies too (should_zap_cows()).
    even_cows: bool,
    /// ZAP_FLAG_DROP_MARKER: markers go as well.
    drop_marker: bool,
    /// The VMA is a file VMA registered for uffd-wp: a protected entry leaves a marker.
    arm_markers: bool,
}

/// vm_fault_t outcomes that stop a fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VmFault {
    /// VM_FAULT_OOM: no frame for the page or a page table.
    Oom,
    /// VM_FAULT_SIGBUS.
    Sigbus,
    /// VM_FAULT_RETRY after handle_userfault() put the task to sleep.
    Userfault,
}

/// fault_around_bytes's default (64 KiB): how much do_fault_around() maps from the page cache.
pub const FAULT_AROUND_BYTES: u64 = 65536;

/// The entry for a new anonymous page: mk_pte() then, in a writable VMA,
/// maybe_mkwrite(pte_mkdirty()).
fn new_anon_pte(pfn: u64, vma: &Vma) -> Pte {
    let entry = Pte::pfn_pte(pfn, vma.page_prot());
    if vma.flags & VM_WRITE != 0 {
        entry.mkdirty().mkwrite()
    } else {
        entry
    }
}

impl Kernel {
    /// handle_mm_fault() → __handle_mm_fault() → handle_pte_fault() for a 4 KiB mapping.
    pub(crate) fn handle_mm_fault(
        &mut self,
        mm: MmId,
        vma: &Vma,
        addr: u64,
        write: bool,
    ) -> Result<(), VmFault> {
        self.vmstat.pgfault += 1;
        if vma.is_hugetlb() {
            return self.hugetlb_fault(mm, vma, addr, write);
        }
        let root = self.mms[mm].pgd;
        let pmd = table::walk_alloc_pmd(&mut self.phys, &mut self.pages, root, addr)
            .ok_or(VmFault::Oom)?;
        let orig_pmd = table::get(&self.phys, pmd);
        if orig_pmd.is_none() && self.thp_vma_enabled(vma) {
            // create_huge_pmd()
            if self.do_huge_pmd_anonymous_page(mm, vma, addr, pmd, write)? {
                return Ok(());
            }
        } else if pmd_trans_huge(orig_pmd) {
            if !write || orig_pmd.write() {
                self.huge_pmd_set_accessed(pmd, orig_pmd, write);
                return Ok(());
            }
            // wp_huge_pmd(): an anonymous THP may be reused in place; a file PMD is split
            // (cleared) so the write is handled (COW or write-notify) at the PTE level.
            if vma.is_anonymous() {
                // userfaultfd_huge_pmd_wp()
                if vma.flags & VM_UFFD_WP != 0 && orig_pmd.uffd_wp() {
                    return Err(self.handle_userfault(vma, addr & PAGE_MASK, addr, true, Wp));
                }
                if self.do_huge_pmd_wp_page(mm, vma, addr, pmd, orig_pmd)? {
                    return Ok(());
                }
            } else {
                self.split_huge_pmd(mm, addr & !((1 << 21) - 1));
            }
        }
        if let Backing::Shmem(ino) = vma.backing {
            // handle_pte_fault() with no PTE table yet (or an empty entry): do_fault(), which
            // may map a huge page with the PMD itself.
            let empty = table::pte_offset(&self.phys, pmd, addr)
                .is_none_or(|s| table::get(&self.phys, s).is_none());
            if empty {
                return self.do_fault(mm, vma, ino, addr, pmd, write, Pte::NONE);
            }
        }
        let slot =
            table::pte_alloc(&mut self.phys, &mut self.pages, pmd, addr).ok_or(VmFault::Oom)?;
        let pte = table::get(&self.phys, slot);
        if pte.is_none() {
            return self.do_anonymous_page(mm, vma, addr, slot, write);
        }
        if !pte.is_present() {
            // do_swap_page(): of the non-swap entries only PTE markers are written so far.
            if pte.marker_bits().is_some() {
                return self.handle_pte_marker(mm, vma, addr, pmd, slot, pte, write);
            }
            return Err(VmFault::Sigbus);
        }
        if write && !pte.write() {
            return self.do_wp_page(mm, vma, addr, slot, pte);
        }
        // The entry already allows the access: set young/dirty (ptep_set_access_flags). A
        // write that finds nothing to change is spurious; x86's flush_tlb_fix_spurious_fault
        // is a no-op.
        let mut entry = pte.mkyoung();
        if write {
            entry = entry.mkdirty();
        }
        if entry != pte {
            table::set(&mut self.phys, slot, entry);
        }
        Ok(())
    }

    /// do_anonymous_page(): the zero page for reads, a fresh exclusive page for writes.
    fn do_anonymous_page(
        &mut self,
        mm: MmId,
        vma: &Vma,
        addr: u64,
        slot: PteSlot,
        write: bool,
    ) -> Result<(), VmFault> {
        let missing = vma.flags & VM_UFFD_MISSING != 0;
        if !write {
            if missing {
                return Err(self.handle_userfault(vma, addr & PAGE_MASK, addr, false, Missing));
            }
            let entry = Pte::pfn_pte(ZERO_PFN, vma.page_prot()).mkspecial();
            table::set(&mut self.phys, slot, entry);
            self.vmstat.zero_page_map += 1;
            return Ok(());
        }
        let vma = self.anon_vma_prepare(mm, vma);
        // The page is allocated and charged before the userfaultfd check, then freed again.
        if missing {
            return Err(self.handle_userfault(&vma, addr & PAGE_MASK, addr, true, Missing));
        }
        let pfn = self.alloc_user_page()?;
        let entry = new_anon_pte(pfn, &vma);
        self.mms[mm].rss_anon += 1;
        self.vmstat.anon_fault += 1;
        self.page_add_new_anon_rmap(pfn, &vma, addr);
        table::set(&mut self.phys, slot, entry);
        Ok(())
    }

    /// alloc_zeroed_user_highpage_movable().
    fn alloc_user_page(&mut self) -> Result<u64, VmFault> {
        let pfn = self.pages.alloc().ok_or(VmFault::Oom)?;
        self.phys.clear(pfn);
        Ok(pfn)
    }

    /// anon_vma_prepare(): give the VMA an anon_vma before its first anonymous page.
    pub(crate) fn anon_vma_prepare(&mut self, mm: MmId, vma: &Vma) -> Vma {
        if vma.anon_vma.is_some() {
            return vma.for_fault();
        }
        let vmas = &self.mms[mm].vmas;
        let neighbours = [
            vmas.prev(vma.start).map(|p| (p, vma)),
            vmas.lookup(vma.end).map(|n| (vma, n)),
        ];
        // find_mergeable_anon_vma(): reuse a neighbour's anon_vma if the two could merge but
        // for their access flags (anon_vma_compatible) and its chain is singular.
        let reuse = neighbours.into_iter().flatten().find_map(|(a, b)| {
            let other = if a.start == vma.start { b } else { a };
            let compatible = a.end == b.start
                && a.backing == b.backing
                && (a.flags ^ b.flags) & !(VM_ACCESS_FLAGS | VM_SOFTDIRTY) == 0
                && b.pgoff == a.pgoff + a.pages();
            other.anon_vma.filter(|av| compatible && av.singular)
        });
        let av = match reuse {
            Some(av) => av,
            None => crate::mm::vma::AnonVma {
                id: self.new_anon_vma_id(),
                singular: true,
            },
        };
        let v = self.mms[mm].vmas.get_mut(vma.start).expect("faulting vma");
        v.anon_vma = Some(av);
        v.for_fault()
    }

    /// do_wp_page(): a write to a present, write-protected entry.
    fn do_wp_page(
        &mut self,
        mm: MmId,
        vma: &Vma,
        addr: u64,
        slot: PteSlot,
        orig: Pte,
    ) -> Result<(), VmFault> {
        // userfaultfd_pte_wp(): a write to a uffd-wp entry goes to the handler first.
        if vma.flags & VM_UFFD_WP != 0 && orig.uffd_wp() {
            return Err(self.handle_userfault(vma, addr & PAGE_MASK, addr, true, Wp));
        }
        let pfn = orig.pfn();
        if orig.special() {
            // The zero page (vm_normal_page() is NULL): a private mapping copies it.
            return self.wp_page_copy(mm, vma, addr, slot, orig, None);
        }
        let page = *self.pages.page(pfn);
        // A THP subpage counts its folio's references.
        let count = self.page_count(pfn);
        if page.is_anon() {
            if self.cfg.features.anon_exclusive {
                // 5.19: an exclusive page is reused without looking at the refcount; otherwise
                // it is reused only as the sole reference holder and then marked exclusive.
                if page.anon_exclusive() {
                    return {
                        self.wp_page_reuse(slot, orig);
                        Ok(())
                    };
                }
                if count == 1 {
                    self.page_move_anon_rmap(pfn, vma);
                    return {
                        self.wp_page_reuse(slot, orig);
                        Ok(())
                    };
                }
            } else if count == 1 {
                // 5.18: reuse only when ours is the only reference (page_count() == 1).
                return {
                    self.wp_page_reuse(slot, orig);
                    Ok(())
                };
            }
            self.vmstat.cow_fault += 1;
            return self.wp_page_copy(mm, vma, addr, slot, orig, Some(pfn));
        }
        if vma.flags & (VM_WRITE | VM_SHARED) == VM_WRITE | VM_SHARED {
            // wp_page_shared(): shmem has no page_mkwrite; the page is made writable in place.
            return {
                self.wp_page_reuse(slot, orig);
                Ok(())
            };
        }
        self.wp_page_copy(mm, vma, addr, slot, orig, Some(pfn))
    }

    /// wp_page_reuse(): make the entry writable and dirty; x86 does not flush here.
    fn wp_page_reuse(&mut self, slot: PteSlot, orig: Pte) {
        table::set(&mut self.phys, slot, orig.mkyoung().mkdirty().mkwrite());
        self.vmstat.cow_reuse += 1;
    }

    /// wp_page_copy(): a new anonymous page with the old contents (zeroes for the zero page),
    /// installed after clearing and flushing the old entry (ptep_clear_flush_notify).
    fn wp_page_copy(
        &mut self,
        mm: MmId,
        vma: &Vma,
        addr: u64,
        slot: PteSlot,
        orig: Pte,
        old: Option<u64>,
    ) -> Result<(), VmFault> {
        let vma = self.anon_vma_prepare(mm, vma);
        let new = self.alloc_user_page()?;
        if let Some(old) = old {
            self.phys.copy(old, new);
        }
        match old {
            Some(p) if !self.pages.page(p).is_anon() => {
                self.mms[mm].rss_shmem -= 1;
                self.mms[mm].rss_anon += 1;
            }
            None => self.mms[mm].rss_anon += 1,
            _ => {}
        }
        let entry = new_anon_pte(new, &vma);
        table::set(&mut self.phys, slot, Pte::NONE);
        if orig.0 & crate::pgtable::pte::_PAGE_PRESENT != 0 {
            self.flush_tlb_page(mm, addr);
        }
        self.page_add_new_anon_rmap(new, &vma, addr);
        table::set(&mut self.phys, slot, entry);
        if let Some(old) = old {
            self.page_remove_rmap(old);
            self.put_page(old);
        }
        Ok(())
    }

    /// handle_pte_marker(): a uffd-wp marker in a VMA still registered for uffd-wp faults like
    /// an empty entry (do_fault()), keeping the marker's protection; anywhere else the stale
    /// marker is cleared (pte_marker_clear()) and the access simply faults again.
    #[allow(clippy::too_many_arguments)]
    fn handle_pte_marker(
        &mut self,
        mm: MmId,
        vma: &Vma,
        addr: u64,
        pmd: PteSlot,
        slot: PteSlot,
        orig: Pte,
        write: bool,
    ) -> Result<(), VmFault> {
        if vma.is_anonymous() || !orig.is_uffd_wp_marker() {
            return Err(VmFault::Sigbus);
        }
        match vma.backing {
            Backing::Shmem(ino) if vma.flags & VM_UFFD_WP != 0 => {
                self.do_fault(mm, vma, ino, addr, pmd, write, orig)
            }
            _ => {
                table::set(&mut self.phys, slot, Pte::NONE);
                Ok(())
            }
        }
    }

    /// do_fault() for shmem: do_read_fault() with fault-around, do_shared_fault(), or
    /// do_cow_fault() for a private mapping of the file. `pmd` may still be empty; `orig` is
    /// the entry the fault found (none, or a uffd-wp marker: FAULT_FLAG_ORIG_PTE_VALID).
    #[allow(clippy::too_many_arguments)]
    fn do_fault(
        &mut self,
        mm: MmId,
        vma: &Vma,
        ino: usize,
        addr: u64,
        pmd: PteSlot,
        write: bool,
        orig: Pte,
    ) -> Result<(), VmFault> {
        let index = vma.linear_page_index(addr);
        if index >= self.shmem[ino].size.div_ceil(PAGE_SIZE) {
            return Err(VmFault::Sigbus);
        }
        // do_read_fault(): fault around only when the window is more than one page and the
        // VMA is not registered for uffd-wp or minor faults (uffd_disable_fault_around());
        // done if that mapped the faulting address.
        let uffd_no_around = vma.flags & (VM_UFFD_WP | VM_UFFD_MINOR) != 0;
        if !write && !uffd_no_around && self.cfg.fault_around_bytes >> PAGE_SHIFT > 1 {
            self.do_fault_around(mm, vma, ino, addr, pmd);
            let root = self.mms[mm].pgd;
            if table::walk_leaf(&self.phys, root, addr)
                .is_some_and(|(s, _)| !table::get(&self.phys, s).is_none())
            {
                return Ok(());
            }
        }
        // do_cow_fault() prepares the anon_vma (and the copy page) before __do_fault().
        let vma = &if write && vma.flags & VM_SHARED == 0 {
            self.anon_vma_prepare(mm, vma)
        } else {
            vma.clone()
        };
        // shmem_getpage_gfp(): a cached page is a minor fault, a missing one a missing fault,
        // for a VMA registered for them.
        let cached = self.shmem[ino].cache.contains_key(&index);
        if cached && vma.flags & VM_UFFD_MINOR != 0 {
            return Err(self.handle_userfault(vma, addr & PAGE_MASK, addr, write, Minor));
        }
        if !cached && vma.flags & VM_UFFD_MISSING != 0 {
            return Err(self.handle_userfault(vma, addr & PAGE_MASK, addr, write, Missing));
        }
        let pfn = self
            .shmem_getpage(ino, index, vma)
            .map_err(|_| VmFault::Oom)?;
        let uffd_wp = orig.is_uffd_wp_marker();
        if write && vma.flags & VM_SHARED == 0 {
            return self.do_cow_fault(mm, vma, addr, pmd, pfn, orig);
        }
        self.finish_fault(mm, vma, addr, pmd, pfn, write, orig, uffd_wp)
    }

    /// do_cow_fault(): a write to a private file mapping gets an anonymous copy of the page.
    fn do_cow_fault(
        &mut self,
        mm: MmId,
        vma: &Vma,
        addr: u64,
        pmd: PteSlot,
        cache_pfn: u64,
        orig: Pte,
    ) -> Result<(), VmFault> {
        let vma = self.anon_vma_prepare(mm, vma);
        let new = self.alloc_user_page()?;
        self.phys.copy(cache_pfn, new);
        let Some(slot) = table::pte_alloc(&mut self.phys, &mut self.pages, pmd, addr) else {
            self.put_page(new);
            return Err(VmFault::Oom);
        };
        // finish_fault(): the entry must still be what the fault found.
        if table::get(&self.phys, slot) != orig {
            self.put_page(new);
            return Ok(());
        }
        let mut entry = new_anon_pte(new, &vma);
        // do_set_pte(): a uffd-wp marker's protection carries over to the new entry.
        if orig.is_uffd_wp_marker() {
            entry = entry.wrprotect().mkuffd_wp();
        }
        self.mms[mm].rss_anon += 1;
        self.page_add_new_anon_rmap(new, &vma, addr);
        table::set(&mut self.phys, slot, entry);
        Ok(())
    }

    /// finish_fault(): a page-cache page for `addr`; a THP's with one PMD where the VMA allows
    /// (do_set_pmd()), else with a PTE (allocating the table), provided the entry is still
    /// the `orig` the fault found (vmf_pte_changed()); `uffd_wp` maps it write-protected.
    #[allow(clippy::too_many_arguments)]
    fn finish_fault(
        &mut self,
        mm: MmId,
        vma: &Vma,
        addr: u64,
        pmd: PteSlot,
        pfn: u64,
        write: bool,
        orig: Pte,
        uffd_wp: bool,
    ) -> Result<(), VmFault> {
        if table::get(&self.phys, pmd).is_none() {
            if let Some(head) = self.thp_head(pfn) {
                if self.do_set_pmd(mm, vma, addr, pmd, head, write) {
                    return Ok(());
                }
            }
        }
        let slot =
            table::pte_alloc(&mut self.phys, &mut self.pages, pmd, addr).ok_or(VmFault::Oom)?;
        if table::get(&self.phys, slot) == orig {
            self.finish_fault_file(mm, vma, slot, pfn, write, uffd_wp);
        }
        Ok(())
    }

    /// do_set_pte() for a page-cache page (young from vm_page_prot, also when prefaulted);
    /// `uffd_wp` (the entry was a uffd-wp marker) maps it read-only with the uffd-wp bit.
    fn finish_fault_file(
        &mut self,
        mm: MmId,
        vma: &Vma,
        slot: PteSlot,
        pfn: u64,
        write: bool,
        uffd_wp: bool,
    ) {
        self.get_page(pfn);
        self.page_add_file_rmap(pfn);
        self.mms[mm].rss_shmem += 1;
        let mut entry = Pte::pfn_pte(pfn, vma.page_prot());
        if write {
            entry = entry.mkdirty();
            if vma.flags & VM_WRITE != 0 {
                entry = entry.mkwrite();
            }
            self.set_page_dirty(pfn);
        }
        if uffd_wp {
            entry = entry.wrprotect().mkuffd_wp();
        }
        table::set(&mut self.phys, slot, entry);
    }

    /// do_fault_around() → filemap_map_pages(): map cached pages near `addr` without faulting
    /// them in, within the fault_around_bytes window clamped to the VMA and the PTE table. If
    /// the first cached page is part of a THP and the PMD is empty, filemap_map_pmd() maps the
    /// whole THP instead; a PTE table is only installed when there is something to map.
    fn do_fault_around(&mut self, mm: MmId, vma: &Vma, ino: usize, addr: u64, pmd: PteSlot) {
        // The window starts at the fault_around_bytes-aligned address (not below the VMA) and
        // runs 16 pages, stopping at the end of the VMA and of the PTE table.
        let window = self.cfg.fault_around_bytes;
        let start = (addr & !(window - 1)).max(vma.start);
        let table_end = (start | ((1 << 21) - 1)) + 1;
        let end = (start + window).min(vma.end).min(table_end);
        // filemap_map_pages() stops at EOF and skips pages that are not uptodate.
        let eof = self.shmem[ino].size.div_ceil(PAGE_SIZE);
        let cached_at = |k: &Kernel, a: u64| {
            let index = vma.linear_page_index(a);
            k.shmem[ino]
                .cache
                .get(&index)
                .copied()
                .filter(|&p| index < eof && k.pages.page(p).test(PG_UPTODATE))
        };
        let Some(first) = (start..end)
            .step_by(PAGE_SIZE as usize)
            .find_map(|a| cached_at(self, a))
        else {
            return;
        };
        let e = table::get(&self.phys, pmd);
        if pmd_trans_huge(e) {
            return;
        }
        if e.is_none() {
            if let Some(head) = self.thp_head(first) {
                if self.do_set_pmd(mm, vma, addr, pmd, head, false) {
                    return;
                }
            }
        }
        let mut a = start;
        while a < end {
            if let Some(pfn) = cached_at(self, a) {
                let Some(slot) = table::pte_alloc(&mut self.phys, &mut self.pages, pmd, a) else {
                    return;
                };
                if table::get(&self.phys, slot).is_none() {
                    // x86 keeps prefaulted entries young (arch_wants_old_prefaulted_pte()
                    // is false there).
                    self.finish_fault_file(mm, vma, slot, pfn, false, false);
                }
            }
            a += PAGE_SIZE;
        }
    }

    /// zap_pte_range() over `[start, end)` of one VMA: clear entries, drop mappings; the
    /// references go after the gather's flush.
    /// This is unmap_vmas()'s zap (munmap, exit): ZAP_FLAG_DROP_MARKER, the VMA is going away.
    pub(crate) fn zap_range(&mut self, tlb: &mut MmuGather, mm: MmId, start: u64, end: u64) {
        self.zap_range_details(tlb, mm, start, end, true, true);
    }

    /// zap_page_range_single() with zap_details: without `even_cows`, anonymous pages (private
    /// COW copies of file pages) are left mapped (should_zap_page()). Without `drop_marker`
    /// (MADV_DONTNEED, unmap_mapping_range()) a file VMA registered for uffd-wp keeps its
    /// markers and gets a new one where a write-protected entry goes.
    pub(crate) fn zap_range_details(
        &mut self,
        tlb: &mut MmuGather,
        mm: MmId,
        start: u64,
        end: u64,
        even_cows: bool,
        drop_marker: bool,
    ) {
        // pte_install_uffd_wp_if_needed(): only file VMAs registered for uffd-wp keep markers.
        let arm_markers = !drop_marker
            && self.mms[mm].vmas.find(start).is_some_and(|v| {
                v.start <= start && !v.is_anonymous() && v.flags & VM_UFFD_WP != 0
            });
        let details = ZapDetails {
            even_cows,
            drop_marker,
            arm_markers,
        };
        self.unmap_hugepage_range(tlb, mm, start, end, even_cows, drop_marker);
        // zap_pmd_range(): a THP entry the range covers only in part is split first.
        self.split_huge_pmd_edges(mm, start, end);
        for (haddr, pmd, _) in self.thp_leaves(mm, start, end) {
            self.zap_huge_pmd(tlb, mm, haddr, pmd);
        }
        let root = self.mms[mm].pgd;
        let slots = table::slots(&self.phys, root, start, end);
        // One zap_pte_range() call per PTE table: a dirty file (shmem) PTE forces the TLB flush
        // before the table lock is dropped, so writes through stale entries cannot be lost.
        for chunk in slots.chunk_by(|a, b| a.1.table == b.1.table) {
            let mut force_flush = false;
            for &(addr, slot) in chunk {
                force_flush |= self.zap_pte(tlb, mm, addr, slot, details);
            }
            if force_flush && !tlb.fullmm {
                self.tlb_flush_mmu(tlb);
            }
        }
    }

    /// One entry of zap_pte_range(); true if it was a dirty file page (force_flush).
    fn zap_pte(
        &mut self,
        tlb: &mut MmuGather,
        mm: MmId,
        addr: u64,
        slot: PteSlot,
        details: ZapDetails,
    ) -> bool {
        let ZapDetails {
            even_cows,
            drop_marker,
            arm_markers,
        } = details;
        let pte = table::get(&self.phys, slot);
        if pte.is_none() {
            return false;
        }
        if !even_cows && pte.is_present() && !pte.special() && self.pages.page(pte.pfn()).is_anon()
        {
            return false;
        }
        // A marker goes only with ZAP_FLAG_DROP_MARKER.
        if pte.marker_bits().is_some() && !drop_marker {
            return false;
        }
        // zap_install_uffd_wp_if_needed(): a write-protected entry leaves a uffd-wp marker.
        let wp = if pte.is_present() {
            pte.uffd_wp()
        } else {
            pte.swp_uffd_wp_any()
        };
        let replacement = if arm_markers && wp {
            Pte::marker(PTE_MARKER_UFFD_WP)
        } else {
            Pte::NONE
        };
        table::set(&mut self.phys, slot, replacement);
        if !pte.is_present() {
            return false;
        }
        tlb.add_range(addr, PAGE_SIZE);
        if pte.special() {
            return false;
        }
        let pfn = pte.pfn();
        let mut force_flush = false;
        if self.pages.page(pfn).is_anon() {
            self.mms[mm].rss_anon -= 1;
        } else {
            self.mms[mm].rss_shmem -= 1;
            if pte.dirty() {
                self.set_page_dirty(pfn);
                force_flush = true;
            }
        }
        self.page_remove_rmap(pfn);
        tlb.remove_page(pfn);
        force_flush
    }

    /// vma_interval_tree_foreach() over shmem inode `ino`: every VMA that maps some of the
    /// file's pages `[from, to)`, with the address range they have there.
    pub(crate) fn i_mmap_overlaps(&self, ino: usize, from: u64, to: u64) -> Vec<FileMapping> {
        let mut out = Vec::new();
        for (mm, m) in self.mms.iter() {
            for v in m.vmas.iter().filter(|v| v.backing == Backing::Shmem(ino)) {
                let (vfirst, vend) = (v.pgoff, v.pgoff + v.pages());
                let (lo, hi) = (from.max(vfirst), to.min(vend));
                if lo < hi {
                    out.push(FileMapping {
                        mm,
                        start: v.start + (lo - vfirst) * PAGE_SIZE,
                        end: v.start + (hi - vfirst) * PAGE_SIZE,
                        vma_end: v.end,
                        flags: v.flags,
                        has_anon_vma: v.anon_vma.is_some(),
                    });
                }
            }
        }
        out
    }

    /// unmap_mapping_range(): zap the file pages with index `[from, to)` of shmem inode `ino` in
    /// every VMA that maps them; `even_cows` also zaps private COW copies (truncation does,
    /// hole punching does not).
    /// `drop_marker` is ZAP_FLAG_DROP_MARKER (hugetlbfs truncation); shmem keeps markers.
    pub(crate) fn unmap_mapping_range(
        &mut self,
        ino: usize,
        from: u64,
        to: u64,
        even_cows: bool,
        drop_marker: bool,
    ) {
        for f in self.i_mmap_overlaps(ino, from, to) {
            let mut tlb = MmuGather::new(f.mm, false);
            self.zap_range_details(&mut tlb, f.mm, f.start, f.end, even_cows, drop_marker);
            self.tlb_end_vma(&mut tlb);
            self.tlb_finish_mmu(tlb);
        }
    }

    /// mm_populate() → populate_vma_page_range() for every VMA of `[start, end)`: a write fault
    /// for private writable VMAs (FOLL_WRITE breaks COW), a read fault otherwise; VMAs without
    /// any access (no FOLL_FORCE, check_vma_flags() says EFAULT) and IO/PFN maps are skipped,
    /// and errors are ignored as mm_populate() does. Faults count against the caller's min_flt,
    /// as GUP faults do in 5.19. A fault that sleeps in handle_userfault() (only where the
    /// caller set `fault_may_wait`) stops it: the page it stopped at.
    pub(crate) fn mm_populate(&mut self, mm: MmId, start: u64, end: u64) -> Option<u64> {
        let mut addr = start;
        while addr < end {
            let Some(vma) = self.mms[mm]
                .vmas
                .find(addr)
                .filter(|v| v.start < end)
                .cloned()
            else {
                break;
            };
            let from = addr.max(vma.start);
            let stop = vma.end.min(end);
            if vma.accessible() && vma.flags & (VM_IO | VM_PFNMAP) == 0 {
                let write = vma.flags & (VM_WRITE | VM_SHARED) == VM_WRITE;
                if let Err((at, VmFault::Userfault)) =
                    self.faultin_range(mm, &vma, from, stop, write)
                {
                    return Some(at);
                }
            }
            addr = stop;
        }
        None
    }

    /// Run `f` as a kernel access whose faults may wait and retry (FAULT_FLAG_ALLOW_RETRY), so a
    /// userfault in it sleeps inside the syscall instead of failing.
    pub(crate) fn with_fault_may_wait<R>(&mut self, f: impl FnOnce(&mut Self) -> R) -> R {
        self.fault_may_wait = true;
        let r = f(self);
        self.fault_may_wait = false;
        r
    }

    /// __mm_populate() as mremap() runs it for a grown VM_LOCKED VMA, passing `locked`: a
    /// userfault sleeps in the syscall (ERESTARTNOINTR, restart_syscall() goes on from the page
    /// it stopped at); otherwise the syscall returns `ret`.
    pub(crate) fn mm_populate_locked(
        &mut self,
        tid: Tid,
        mm: MmId,
        (start, end): (u64, u64),
        ret: u64,
    ) -> SysResult<u64> {
        match self.with_fault_may_wait(|k| k.mm_populate(mm, start, end)) {
            Some(at) => {
                self.tasks[tid].restart = Some(crate::fs::userfaultfd::Restart::Populate {
                    start: at,
                    end,
                    ret,
                });
                Err(Errno::ERESTARTNOINTR)
            }
            None => Ok(ret),
        }
    }

    /// __get_user_pages() fault-in over `[start, end)` inside `vma`: fault every page that is
    /// not present (or, for a write, not writable), and look again after each fault, as GUP's
    /// follow_page_mask() retry does: a write fault on a uffd-wp marker maps the page
    /// read-only first, and only the next fault reports it. A failure names the page it
    /// stopped at.
    pub(crate) fn faultin_range(
        &mut self,
        mm: MmId,
        vma: &Vma,
        start: u64,
        end: u64,
        write: bool,
    ) -> Result<(), (u64, VmFault)> {
        let mut addr = start;
        while addr < end {
            // GUP would retry for as long as faults succeed without mapping the page; every
            // modelled fault maps it by the second try, so more tries mean a model bug, which
            // fails the call rather than hanging it.
            for tries in 0.. {
                let root = self.mms[mm].pgd;
                let need = match table::walk_leaf(&self.phys, root, addr)
                    .map(|(s, _)| table::get(&self.phys, s))
                {
                    Some(p) if p.is_present() => write && !p.write(),
                    _ => true,
                };
                if !need {
                    break;
                }
                if tries == 4 {
                    return Err((addr, VmFault::Sigbus));
                }
                // The VMA may have gained an anon_vma on the previous fault.
                let vma = self.mms[mm].vmas.lookup(addr).unwrap_or(vma).for_fault();
                if vma.is_hugetlb() {
                    // follow_hugetlb_page() calls hugetlb_fault() itself: no
                    // handle_mm_fault(), so neither PGFAULT nor the task's min_flt count it.
                    self.hugetlb_fault(mm, &vma, addr, write)
                        .map_err(|e| (addr, e))?;
                    continue;
                }
                self.handle_mm_fault(mm, &vma, addr, write)
                    .map_err(|e| (addr, e))?;
                self.account_fault();
            }
            addr += PAGE_SIZE;
        }
        Ok(())
    }

    /// The hardware walk for a user access; used by the access path on a TLB miss.
    #[inline]
    pub(crate) fn mmu_walk(&mut self, mm: MmId, addr: u64, write: bool) -> mmu::Walk {
        let root = self.mms[mm].pgd;
        mmu::walk(&mut self.phys, root, addr, write)
    }
}
