//! mm/damon/paddr.c: the `paddr` operations. Regions are physical address ranges; a sample
//! makes every mapping of the sampled page old through the reverse map (an unmapped page only
//! by its idle flag), and pageout reclaims the region's LRU pages.

use std::ops::ControlFlow;

use crate::hw::PAGE_SIZE;
use crate::kernel::Kernel;
use crate::mm::damon::CtxId;
use crate::mm::rmap::{Mapped, RmapWalk};
use crate::mm::vma::Vma;
use crate::mm::MmId;
use crate::page::{Folio, PageFlags, Pfn};
use crate::pgtable::table;

/// __damon_pa_mkold() as an rmap_one: every PTE or PMD mapping the folio made old.
struct PaMkold(Folio);

impl RmapWalk for PaMkold {
    fn rmap_one(&mut self, k: &mut Kernel, mm: MmId, vma: &Vma, addr: u64) -> ControlFlow<()> {
        for m in k.page_vma_mapped(self.0, mm, vma, addr) {
            match m {
                Mapped::Pte(_, s) => k.damon_ptep_mkold(s),
                Mapped::Pmd(_, s) => k.damon_pmdp_mkold(s, false),
            }
        }
        ControlFlow::Continue(())
    }
}

/// __damon_pa_young() as an rmap_one: stops at the first young mapping.
struct PaYoung {
    f: Folio,
    accessed: bool,
    page_sz: u64,
}

impl RmapWalk for PaYoung {
    fn rmap_one(&mut self, k: &mut Kernel, mm: MmId, vma: &Vma, addr: u64) -> ControlFlow<()> {
        self.accessed = false;
        self.page_sz = PAGE_SIZE;
        for m in k.page_vma_mapped(self.f, mm, vma, addr) {
            let young = match m {
                Mapped::Pte(_, s) => table::get(&k.phys, s).young(),
                Mapped::Pmd(_, s) => {
                    self.page_sz = crate::mm::hugetlb::HPAGE_SIZE;
                    table::get_pmd(&k.phys, s).young()
                }
            };
            self.accessed = k.damon_entry_young(self.f, young);
            if self.accessed {
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    }
}

impl Kernel {
    /// Is the folio mapped with a mapping to walk (folio_mapped() && folio_raw_mapping())?
    fn damon_pa_walkable(&self, f: Folio) -> bool {
        self.pages.folio_mapcount(f) > 0 && self.pages.folio_mapping(f).is_some()
    }

    /// The folio lock rmap needs for a file folio: a locked folio fails the trylock.
    fn damon_pa_need_lock_fails(&self, f: Folio) -> bool {
        !self.pages.folio_test(f, PageFlags::ANON) && self.pages.folio_test(f, PageFlags::LOCKED)
    }

    /// damon_pa_mkold().
    fn damon_pa_mkold(&mut self, paddr: u64) {
        let Some(f) = self.damon_get_page(Pfn(paddr >> 12)) else {
            return;
        };
        if !self.damon_pa_walkable(f) {
            self.pages.folio_set(f, PageFlags::IDLE);
            return;
        }
        if self.damon_pa_need_lock_fails(f) {
            return;
        }
        self.rmap_walk(f, &mut PaMkold(f));
    }

    /// damon_pa_young(): accessed, and the block size to cache (None where Linux keeps the
    /// old one: no LRU page, or the trylock failed).
    pub(crate) fn damon_pa_young(&mut self, paddr: u64) -> (bool, Option<u64>) {
        let Some(f) = self.damon_get_page(Pfn(paddr >> 12)) else {
            return (false, None);
        };
        if !self.damon_pa_walkable(f) {
            return (!self.pages.folio_test(f, PageFlags::IDLE), Some(PAGE_SIZE));
        }
        if self.damon_pa_need_lock_fails(f) {
            return (false, None);
        }
        let mut w = PaYoung {
            f,
            accessed: false,
            page_sz: PAGE_SIZE,
        };
        self.rmap_walk(f, &mut w);
        (w.accessed, Some(w.page_sz))
    }

    /// damon_pa_prepare_access_checks().
    pub(crate) fn damon_pa_prepare_access_checks(&mut self, c: CtxId) {
        for ti in 0..self.damon.ctxs[c].targets.len() {
            for ri in 0..self.damon.ctxs[c].targets[ti].regions.len() {
                let ctx = &mut self.damon.ctxs[c];
                let r = &mut ctx.targets[ti].regions[ri];
                r.sampling_addr = ctx.rng.rand(r.start, r.end);
                let a = r.sampling_addr;
                self.damon_pa_mkold(a);
            }
        }
    }

    /// damon_pa_apply_scheme() for pageout: each LRU page of the region loses its referenced
    /// and young marks and is isolated (an unevictable one put back); the list is reclaimed.
    /// The bytes reclaimed.
    pub(crate) fn damon_pa_pageout(&mut self, start: u64, end: u64) -> u64 {
        let mut list = Vec::new();
        let mut addr = start;
        while addr < end {
            if let Some(f) = self.damon_get_page(Pfn(addr >> 12)) {
                self.pages
                    .folio_clear(f, PageFlags::REFERENCED | PageFlags::YOUNG);
                self.pageout_isolate(f, &mut list);
            }
            addr += PAGE_SIZE;
        }
        self.reclaim_pages(list) * PAGE_SIZE
    }
}
