//! Reverse-map bookkeeping on struct page (mm/rmap.c): mapcounts, PG_anon_exclusive.

use crate::kernel::Kernel;
use crate::mm::vma::Vma;
use crate::page::{Folio, PageFlags, Pfn};
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
