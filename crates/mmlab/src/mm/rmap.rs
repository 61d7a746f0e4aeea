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

    /// page_remove_rmap(): one mapping fewer.
    pub(crate) fn page_remove_rmap(&mut self, pfn: u64) {
        let p = self.pages.page_mut(pfn);
        p.mapcount -= 1;
        if p.mapcount == 0 && p.is_anon() {
            self.vmstat.nr_anon_pages -= 1;
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

    /// page_move_anon_rmap(): the faulting VMA now owns the page exclusively.
    pub(crate) fn page_move_anon_rmap(&mut self, pfn: u64, vma: &Vma) {
        let exclusive = self.anon_exclusive_flag();
        let p = self.pages.page_mut(pfn);
        p.mapping = vma.anon_vma.map_or(p.mapping, |a| a.id);
        p.flags |= exclusive;
    }

    /// get_page().
    #[inline]
    pub(crate) fn get_page(&mut self, pfn: u64) {
        self.pages.page_mut(pfn).refcount += 1;
    }

    /// put_page(): drop a reference; the last one frees the frame and forgets its contents.
    pub(crate) fn put_page(&mut self, pfn: u64) {
        let p = self.pages.page_mut(pfn);
        p.refcount -= 1;
        debug_assert!(p.refcount >= 0, "refcount underflow on pfn {pfn:#x}");
        if p.refcount == 0 {
            if p.test(PG_HUGETLB) {
                self.free_huge_page(pfn);
            } else {
                self.phys.clear(pfn);
                self.pages.free(pfn);
            }
        }
    }
}
