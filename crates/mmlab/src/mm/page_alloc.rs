//! mm/page_alloc.c: the one way frames are allocated (`alloc_pages` / `alloc_folio`) and
//! the one way they go back (`free_frames`), with fail_page_alloc-style fault injection.
//! Charging, watermarks, waking kswapd and direct reclaim belong here as they arrive.

use crate::page::alloc::HPAGE_ORDER;
use crate::page::{Folio, Gfp, PageFlags, Pfn};
use crate::trace::Event;
use crate::Kernel;

/// Fault injection for the page allocator (mm/fail_page_alloc.c's `interval`/`times`, counted
/// in calls): after `skip` more allocations, the next `times` ones fail. __GFP_NOFAIL
/// allocations never fail.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FailPageAlloc {
    pub skip: u64,
    pub times: u64,
    /// Allocations that were made to fail so far.
    pub injected: u64,
}

impl FailPageAlloc {
    /// should_fail_alloc_page(): does this call fail?
    fn should_fail(&mut self, gfp: Gfp) -> bool {
        if self.times == 0 || gfp.contains(Gfp::NOFAIL) {
            return false;
        }
        if self.skip > 0 {
            self.skip -= 1;
            return false;
        }
        self.times -= 1;
        self.injected += 1;
        true
    }
}

impl Kernel {
    /// Arm the allocation fault injector: the allocation after the next `skip` ones fails, and
    /// `times - 1` more after it.
    pub fn fail_page_alloc(&mut self, skip: u64, times: u64) {
        self.fail_alloc = FailPageAlloc {
            skip,
            times,
            injected: self.fail_alloc.injected,
        };
    }

    /// Allocations the injector made fail since the kernel started.
    pub fn injected_alloc_failures(&self) -> u64 {
        self.fail_alloc.injected
    }

    /// __alloc_pages(): `1 << order` frames, zeroed with __GFP_ZERO, made one compound page
    /// with __GFP_COMP; the head has refcount 1. None is a failed allocation, which each
    /// caller turns into its own error (ENOMEM, VM_FAULT_OOM, a THP fallback).
    /// Locks: zone->lock (the per-CPU lists' lock for order 0).
    pub(crate) fn alloc_pages(&mut self, gfp: Gfp, order: u32) -> Option<Pfn> {
        let pfn = if self.fail_alloc.should_fail(gfp) {
            None
        } else {
            self.pages.rmqueue(order)
        };
        self.trace(Event::FolioAlloc {
            pfn,
            order,
            gfp: gfp.bits(),
        });
        let pfn = pfn?;
        if gfp.contains(Gfp::ZERO) {
            self.phys.clear_range(pfn, 1 << order);
        }
        if order > 0 && gfp.contains(Gfp::COMP) {
            self.pages.prep_compound(pfn, order);
        }
        Some(pfn)
    }

    /// folio_alloc() / vma_alloc_folio(): a folio of `order` (compound when large).
    pub(crate) fn alloc_folio(&mut self, gfp: Gfp, order: u32) -> Option<Folio> {
        let gfp = if order > 0 { gfp | Gfp::COMP } else { gfp };
        self.alloc_pages(gfp, order).map(Folio)
    }

    /// The one place frames return: free_pages_prepare() (the LRU, the contents) and
    /// __free_one_page(). The folio's references are all gone.
    /// Locks: lruvec->lru_lock if the folio is still on an LRU; zone->lock.
    pub(crate) fn free_frames(&mut self, f: Folio) {
        let order = self.pages.folio_order(f);
        debug_assert_eq!(
            self.pages.folio_ref_count(f),
            0,
            "freeing a referenced {f:?}"
        );
        if self.pages.folio_test(f, PageFlags::LRU) {
            // __page_cache_release(): off the LRU before the frames go.
            self.lru.lruvec.del(&mut self.pages, f);
        }
        self.phys.clear_range(f.0, 1 << order);
        self.trace(Event::FolioFree { pfn: f.0, order });
        self.pages.free_block(f.0, order);
    }

    /// A THP-sized block straight from the allocator (alloc_fresh_huge_page() for the hugetlb
    /// pool, the huge zero page, a THP): a compound order-9 folio, or None.
    pub(crate) fn alloc_huge_folio(&mut self, gfp: Gfp) -> Option<Folio> {
        self.alloc_folio(gfp, HPAGE_ORDER)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;

    #[test]
    fn injected_failures_hit_the_chosen_calls_and_free_returns_frames() {
        let mut k = Kernel::new(Config::default());
        let free0 = k.pages.nr_free();
        k.fail_page_alloc(1, 2);
        let a = k.alloc_folio(Gfp::HIGHUSER_MOVABLE, 0);
        assert!(a.is_some(), "the first call is skipped");
        assert!(k.alloc_folio(Gfp::HIGHUSER_MOVABLE, 0).is_none());
        assert!(k
            .alloc_folio(Gfp::HIGHUSER_MOVABLE | Gfp::NOFAIL, 0)
            .is_some());
        assert!(k.alloc_folio(Gfp::HIGHUSER_MOVABLE, 0).is_none());
        assert!(
            k.alloc_folio(Gfp::HIGHUSER_MOVABLE, 0).is_some(),
            "times ran out"
        );
        assert_eq!(k.injected_alloc_failures(), 2);
        let thp = k.alloc_folio(Gfp::TRANSHUGE, HPAGE_ORDER).unwrap();
        assert_eq!(k.pages.folio_nr_pages(thp), 512);
        k.pages.folio_ref_add(thp, -1);
        k.free_frames(thp);
        assert_eq!(k.pages.nr_free(), free0 - 3);
    }
}
