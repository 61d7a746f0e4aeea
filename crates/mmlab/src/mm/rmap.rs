//! Reverse-map bookkeeping on struct page (mm/rmap.c): mapcounts, PG_anon_exclusive.

use crate::hw::PAGE_SIZE;
use crate::kernel::Kernel;
use crate::mm::vma::{vm::VM_UFFD_WP, Vma};
use crate::mm::MmId;
use crate::page::{Folio, PageFlags, Pfn};
use crate::pgtable::pte::Pte;
use crate::pgtable::swp::PTE_MARKER_UFFD_WP;
use crate::pgtable::table::{self, PteSlot};
use crate::trace::Event;

impl Kernel {
    /// page_add_new_anon_rmap(): a fresh anonymous page, mapped once by a PTE; exclusive in
    /// 5.19. Locks: the PTL.
    pub(crate) fn page_add_new_anon_rmap(&mut self, pfn: Pfn, vma: &Vma, addr: u64) {
        let exclusive = self.anon_exclusive_flag();
        let p = self.pages.page_mut(pfn);
        p.flags |= PageFlags::ANON | PageFlags::SWAPBACKED | PageFlags::UPTODATE | exclusive;
        p.mapcount = 1;
        p.mapping = vma.anon_vma.map_or(0, |a| a.id);
        p.index = vma.linear_page_index(addr);
        self.vmstat.nr_anon_pages += 1;
        self.trace(Event::RmapAdd { pfn, mapcount: 1 });
    }

    /// PG_anon_exclusive where the profile has it (5.19), else nothing to set.
    pub(crate) fn anon_exclusive_flag(&self) -> PageFlags {
        if self.cfg.features.anon_exclusive {
            PageFlags::ANON_EXCLUSIVE
        } else {
            PageFlags::empty()
        }
    }

    /// page_add_file_rmap(): one more PTE mapping of a page-cache page (the caller holds the
    /// reference). Locks: the PTL.
    pub(crate) fn page_add_file_rmap(&mut self, pfn: Pfn) {
        let p = self.pages.page_mut(pfn);
        p.mapcount += 1;
        let mapcount = p.mapcount;
        self.trace(Event::RmapAdd { pfn, mapcount });
    }

    /// page_remove_rmap(): one PTE mapping fewer. A THP subpage leaves NR_ANON_MAPPED only
    /// when no PMD maps its folio either, and then queues the folio for a deferred split.
    /// Locks: the PTL.
    pub(crate) fn page_remove_rmap(&mut self, pfn: Pfn) {
        let p = self.pages.page_mut(pfn);
        p.mapcount -= 1;
        let mapcount = p.mapcount;
        self.trace(Event::RmapRemove { pfn, mapcount });
        let f = self.pages.folio(pfn);
        // hugetlb pages never enter NR_ANON_MAPPED.
        if mapcount != 0
            || !self.pages.folio_test(f, PageFlags::ANON)
            || self.pages.folio_test(f, PageFlags::HUGETLB)
        {
            return;
        }
        if !self.pages.folio_test_large(f) {
            self.vmstat.nr_anon_pages -= 1;
        } else if self.pages.compound_mapcount(f.pfn()) == 0 {
            self.vmstat.nr_anon_pages -= 1;
            self.deferred_split_huge_page(f);
        }
    }

    /// page_try_dup_anon_rmap(): fork shares an anonymous page, clearing PG_anon_exclusive.
    /// Would fail (forcing a copy) for a page that may be DMA-pinned; the model has no
    /// FOLL_PIN yet (a later GUP issue), so it always succeeds.
    pub(crate) fn page_try_dup_anon_rmap(&mut self, pfn: Pfn) -> bool {
        let p = self.pages.page_mut(pfn);
        p.flags.remove(PageFlags::ANON_EXCLUSIVE);
        p.mapcount += 1;
        true
    }

    /// page_count(): the references of the page's folio.
    #[inline]
    pub(crate) fn page_count(&self, pfn: Pfn) -> i32 {
        self.pages.folio_ref_count(self.pages.folio(pfn))
    }

    /// page_move_anon_rmap(): the faulting VMA now owns the page exclusively.
    pub(crate) fn page_move_anon_rmap(&mut self, pfn: Pfn, vma: &Vma) {
        let exclusive = self.anon_exclusive_flag();
        let f: Folio = self.pages.folio(pfn);
        let p = self.pages.page_mut(f.pfn());
        p.mapping = vma.anon_vma.map_or(p.mapping, |a| a.id);
        self.pages.page_mut(pfn).flags |= exclusive;
    }
}

/// The flush try_to_unmap() deferred (struct tlbflush_unmap_batch): the CPUs that may still
/// cache an unmapped entry, flushed at once by try_to_unmap_flush().
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct UnmapBatch {
    /// The mms whose entries wait for the flush.
    pending: Option<MmId>,
}

impl Kernel {
    /// try_to_unmap() of a page-cache folio (TTU_SPLIT_HUGE_PMD | TTU_BATCH_FLUSH, as
    /// collapse_file(), split_huge_page() and reclaim pass it): rmap_walk_file() over the
    /// VMAs of its file that map its pages, try_to_unmap_one() on each entry, then the
    /// deferred flush. Locks: the folio lock; i_mmap_rwsem, read.
    pub(crate) fn try_to_unmap_file(&mut self, f: Folio) {
        let ino = self.pages.folio_mapping(f) as usize;
        let index = self.pages.page(f.pfn()).index();
        let nr = self.pages.folio_nr_pages(f);
        let mut batch = UnmapBatch::default();
        for m in self.i_mmap_overlaps(ino, index, index + nr) {
            // split_huge_pmd_address(): a file PMD mapping is cleared first.
            let haddr = m.start & !((1 << 21) - 1);
            self.split_huge_pmd(m.mm, haddr);
            let arm = m.flags & VM_UFFD_WP != 0;
            let mut a = m.start;
            while a < m.end {
                let slot = table::walk(&self.phys, self.mms[m.mm].pgd, a);
                if let Some(slot) = slot {
                    let pte = table::get(&self.phys, slot);
                    if pte.is_present() && !pte.special() && self.pages.folio(pte.pfn()) == f {
                        self.try_to_unmap_one(&mut batch, (m.mm, a), slot, arm);
                    }
                }
                a += PAGE_SIZE;
            }
        }
        self.try_to_unmap_flush(batch);
    }

    /// try_to_unmap_one() for one present PTE of a file page at `addr` of `mm`: clear it (the
    /// flush deferred into `batch` when another CPU may cache it, should_defer_flush(), else
    /// done now), leave a uffd-wp marker where the VMA is registered (`arm_markers`,
    /// pte_install_uffd_wp_if_needed()), move the dirty bit to the folio, and drop the
    /// mapping and its reference.
    pub(crate) fn try_to_unmap_one(
        &mut self,
        batch: &mut UnmapBatch,
        (mm, addr): (MmId, u64),
        slot: PteSlot,
        arm_markers: bool,
    ) {
        let pte = table::get(&self.phys, slot);
        let remote = self.mms[mm].cpumask & !(1u64 << self.current_cpu) != 0;
        let left = if arm_markers && pte.uffd_wp() {
            Pte::marker(PTE_MARKER_UFFD_WP)
        } else {
            Pte::NONE
        };
        table::set(&mut self.phys, slot, left);
        if remote {
            batch.pending = Some(mm);
        } else {
            self.flush_tlb_page(mm, addr);
        }
        let pfn = pte.pfn();
        if pte.dirty() {
            self.set_page_dirty(pfn);
        }
        self.mms[mm].rss_shmem -= 1;
        self.page_remove_rmap(pfn);
        self.put_page(pfn);
    }

    /// try_to_unmap_flush(): the deferred flush, all of the mm on the CPUs that ran it
    /// (arch_tlbbatch_flush() flushes everything).
    pub(crate) fn try_to_unmap_flush(&mut self, batch: UnmapBatch) {
        if let Some(mm) = batch.pending {
            self.flush_tlb_mm_range(mm, 0, u64::MAX);
        }
    }
}
