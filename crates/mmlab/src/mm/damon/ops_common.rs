//! mm/damon/ops-common.c: what vaddr and paddr share: the page lookup that only admits online
//! LRU pages, "make old" of a PTE or PMD with the page_idle bookkeeping, the access test, and
//! the cold score DAMOS pageout prioritises by.

use crate::kernel::Kernel;
use crate::mm::damon::{Ctx, Damos, Region};
use crate::page::{Folio, PageFlags, Pfn};
use crate::pgtable::table::{self, PmdSlot, PteSlot};

/// DAMON_MAX_SUBSCORE, DAMON_MAX_AGE_IN_LOG, DAMOS_MAX_SCORE.
const MAX_SUBSCORE: i64 = 100;
const MAX_AGE_IN_LOG: i64 = 32;
pub const DAMOS_MAX_SCORE: i64 = 99;

impl Kernel {
    /// damon_get_page(): the folio of `pfn` only if the frame exists, is in use and sits on
    /// an LRU list (kernel pages, free pages and pages still in a per-CPU batch never look
    /// accessed).
    pub(crate) fn damon_get_page(&self, pfn: Pfn) -> Option<Folio> {
        if !self.pages.valid(pfn) || self.pages.is_free(pfn) {
            return None;
        }
        let f = self.pages.folio(pfn);
        self.pages.folio_test(f, PageFlags::LRU).then_some(f)
    }

    /// The page_idle bookkeeping of a mkold: PG_young if the entry was young (so reclaim
    /// still sees the reference), then PG_idle.
    fn damon_mark_idle(&mut self, f: Folio, referenced: bool) {
        if referenced {
            self.pages.folio_set(f, PageFlags::YOUNG);
        }
        self.pages.folio_set(f, PageFlags::IDLE);
    }

    /// damon_ptep_mkold(): clear the PTE's accessed bit (no TLB flush, as x86's
    /// ptep_test_and_clear_young()), for an LRU page only.
    pub(crate) fn damon_ptep_mkold(&mut self, slot: PteSlot) {
        let pte = table::get(&self.phys, slot);
        if !pte.is_present() {
            return;
        }
        let Some(f) = self.damon_get_page(pte.pfn()) else {
            return;
        };
        let young = pte.young();
        if young {
            table::set(&mut self.phys, slot, pte.mkold());
        }
        self.damon_mark_idle(f, young);
    }

    /// damon_pmdp_mkold() (a THP) or damon_hugetlb_mkold() (`hugetlb`: the page needs no LRU
    /// and the entry is rewritten with set_huge_pte_at(), the 5.19 fix).
    pub(crate) fn damon_pmdp_mkold(&mut self, slot: PmdSlot, hugetlb: bool) {
        let pmd = table::get_pmd(&self.phys, slot);
        if !pmd.is_leaf() {
            return;
        }
        let f = if hugetlb {
            Some(self.pages.folio(pmd.pfn()))
        } else {
            self.damon_get_page(pmd.pfn())
        };
        let Some(f) = f else {
            return;
        };
        let young = pmd.young();
        if young {
            table::set_pmd(&mut self.phys, slot, pmd.mkold());
        }
        self.damon_mark_idle(f, young);
    }

    /// The access test of damon_young_pmd_entry() / damon_young_hugetlb_entry() /
    /// __damon_pa_young(): the entry's accessed bit, or the page no longer idle.
    pub(crate) fn damon_entry_young(&self, f: Folio, entry_young: bool) -> bool {
        entry_young || !self.pages.folio_test(f, PageFlags::IDLE)
    }
}

/// damon_pageout_score(): 99 minus the hotness, where hotness weighs the access frequency and
/// the (log) age, an idle region growing colder with age. The size weight is unused, as in
/// 5.19. The kernel divides by aggr/sample (zero when sample is 0 or exceeds aggr) and does
/// not clamp a frequency over 100; the model answers 0 for the former and clamps the latter
/// (the kernel would index its histogram out of bounds).
pub fn pageout_score(c: &Ctx, r: &Region, s: &Damos) -> i64 {
    let max_nr = c.attrs.aggr_interval.checked_div(c.attrs.sample_interval);
    let Some(max_nr) = max_nr.filter(|&m| m > 0) else {
        return 0;
    };
    let freq = (r.nr_accesses as i64 * MAX_SUBSCORE / max_nr as i64).min(MAX_SUBSCORE);
    let mut age_sec = (r.age as u64 * c.attrs.aggr_interval / 1_000_000) as u32;
    let mut age_log = 0;
    while age_log < MAX_AGE_IN_LOG && age_sec != 0 {
        age_log += 1;
        age_sec >>= 1;
    }
    if freq == 0 {
        age_log = -age_log;
    }
    let age_sub = (age_log + MAX_AGE_IN_LOG) * MAX_SUBSCORE / MAX_AGE_IN_LOG / 2;
    let (wf, wa) = (s.quota.weight_nr_accesses as i64, s.quota.weight_age as i64);
    let mut hot = wf * freq + wa * age_sub;
    if wf + wa != 0 {
        hot /= wf + wa;
    }
    hot = hot * DAMOS_MAX_SCORE / MAX_SUBSCORE;
    DAMOS_MAX_SCORE - hot
}
