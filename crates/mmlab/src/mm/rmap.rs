//! Reverse-map bookkeeping on struct page (mm/rmap.c): mapcount, PG_anon_exclusive, freeing.

use crate::kernel::Kernel;
use crate::mm::vma::Vma;
use crate::page::flags::*;

impl Kernel {
    /// page_add_new_anon_rmap(): a fresh anonymous page, mapped once; exclusive in 5.19.
    pub(crate) fn page_add_new_anon_rmap(&mut self, pfn: u64, vma: &Vma, addr: u64) {
        let exclusive = self.anon_exclusive_flag();
        let p = self.pages.page_mut(pfn);
        p.flags |= PG_ANON | PG_SWAPBACKED | PG_UPTODATE | exclusive;
        p.mapcount = 1;
        p.mapping = vma.anon_vma.map_or(0, |a| a.id);
        p.index = vma.linear_page_index(addr);
        self.vmstat.nr_anon_pages += 1;
    }

    /// PG_anon_exclusive where the profile has it (5.19), else nothing to set.
    pub(crate) fn anon_exclusive_flag(&self) -> u32 {
        if self.cfg.features.anon_exclusive {
            PG_ANON_EXCLUSIVE
        } else {
            0
        }
    }

    /// page_add_file_rmap(): one more mapping of a page-cache page (the caller holds the ref).
    pub(crate) fn page_add_file_rmap(&mut self, pfn: u64) {
        self.pages.page_mut(pfn).mapcount += 1;
    }

    /// page_remove_rmap(): one PTE mapping fewer. A THP subpage leaves NR_ANON_MAPPED only
    /// when no PMD maps its folio either, and then queues the folio for a deferred split.
    pub(crate) fn page_remove_rmap(&mut self, pfn: u64) {
        let p = self.pages.page_mut(pfn);
        p.mapcount -= 1;
        // hugetlb pages never enter NR_ANON_MAPPED.
        if p.mapcount != 0 || !p.is_anon() || p.test(PG_HUGETLB) {
            return;
        }
        match self.thp_head(pfn) {
            Some(head) if self.compound_mapcount(head) > 0 => {}
            Some(head) => {
                self.vmstat.nr_anon_pages -= 1;
                self.deferred_split_huge_page(head);
            }
            None => self.vmstat.nr_anon_pages -= 1,
        }
    }

    /// page_try_dup_anon_rmap(): fork shares an anonymous page, clearing PG_anon_exclusive.
    /// Would fail (forcing a copy) for a page that may be DMA-pinned; the model has no
    /// FOLL_PIN yet (a later GUP issue), so it always succeeds.
    pub(crate) fn page_try_dup_anon_rmap(&mut self, pfn: u64) -> bool {
        let p = self.pages.page_mut(pfn);
        p.flags &= !PG_ANON_EXCLUSIVE;
        p.mapcount += 1;
        true
    }

    /// page_count(): the references of the page's folio (a THP keeps them on its head).
    #[inline]
    pub(crate) fn page_count(&self, pfn: u64) -> i32 {
        let head = self.thp_head(pfn).unwrap_or(pfn);
        self.pages.page(head).refcount
    }

    /// page_mapcount(): the PTEs mapping this page plus the PMDs mapping its folio.
    #[inline]
    pub(crate) fn page_mapcount(&self, pfn: u64) -> i32 {
        let own = self.pages.page(pfn).mapcount;
        match self.thp_head(pfn) {
            Some(head) => own + self.compound_mapcount(head),
            None => own,
        }
    }

    /// page_move_anon_rmap(): the faulting VMA now owns the page exclusively.
    pub(crate) fn page_move_anon_rmap(&mut self, pfn: u64, vma: &Vma) {
        let exclusive = self.anon_exclusive_flag();
        let p = self.pages.page_mut(pfn);
        p.mapping = vma.anon_vma.map_or(p.mapping, |a| a.id);
        p.flags |= exclusive;
    }

    /// get_page(): a reference on the page's folio.
    #[inline]
    pub(crate) fn get_page(&mut self, pfn: u64) {
        let head = self.thp_head(pfn).unwrap_or(pfn);
        self.pages.page_mut(head).refcount += 1;
    }

    /// put_page(): drop a reference on the page's folio; the last one frees it and forgets
    /// its contents.
    pub(crate) fn put_page(&mut self, pfn: u64) {
        let thp = self.thp_head(pfn);
        let head = thp.unwrap_or(pfn);
        let p = self.pages.page_mut(head);
        p.refcount -= 1;
        debug_assert!(p.refcount >= 0, "refcount underflow on pfn {head:#x}");
        if p.refcount == 0 {
            if p.test(PG_HUGETLB) {
                self.free_huge_page(head);
            } else if thp.is_some() {
                self.free_transhuge_page(head);
            } else {
                self.phys.clear(head);
                self.pages.free(head);
            }
        }
    }
}
