//! mm/damon/vaddr.c: the `vaddr` operations (a process's address space as three regions that
//! skip the two largest gaps, refreshed every ops-update interval) and `fvaddr` (the same
//! checks over ranges the user fixed: no init, no update). Sampling walks the target's page
//! table; the actions are madvise() on the target's mm.

use crate::hw::PAGE_SIZE;
use crate::kernel::Kernel;
use crate::mm::damon::core::{set_regions, Region};
use crate::mm::damon::{CtxId, DamosAction, DAMON_MIN_REGION};
use crate::mm::MmId;
use crate::pgtable::table::{self, Leaf};
use crate::uapi::{MADV_COLD, MADV_HUGEPAGE, MADV_NOHUGEPAGE, MADV_PAGEOUT, MADV_WILLNEED};

fn align_up(x: u64, a: u64) -> u64 {
    x.div_ceil(a) * a
}

/// __damon_va_three_regions() over VMAs given as `(start, end)` in address order: the span
/// from the first VMA's start to the last one's end, less its two largest gaps (a gap
/// replaces the second only when strictly larger). None when fewer than two gaps exist.
pub fn three_regions(vmas: &[(u64, u64)], min: u64) -> Option<[(u64, u64); 3]> {
    let (&(start, _), rest) = vmas.split_first()?;
    let mut first = (0u64, 0u64);
    let mut second = (0u64, 0u64);
    let size = |g: (u64, u64)| g.1 - g.0;
    let mut last_end = vmas[0].1;
    for &(s, e) in rest {
        let mut gap = (last_end, s);
        if size(gap) > size(second) {
            std::mem::swap(&mut gap, &mut second);
            if size(second) > size(first) {
                std::mem::swap(&mut second, &mut first);
            }
        }
        last_end = e;
    }
    if size(first) == 0 || size(second) == 0 {
        return None;
    }
    if first.0 > second.0 {
        std::mem::swap(&mut first, &mut second);
    }
    Some([
        (align_up(start, min), align_up(first.0, min)),
        (align_up(first.1, min), align_up(second.0, min)),
        (align_up(second.1, min), align_up(last_end, min)),
    ])
}

/// damon_va_evenly_split_region(): cut `regions[i]` into `nr_pieces` pieces of the same
/// `min`-aligned size, the last stretched to the original end; nothing when that size is 0.
/// Returns how many regions it became.
pub fn evenly_split_region(regions: &mut Vec<Region>, i: usize, nr_pieces: u64, min: u64) -> usize {
    if nr_pieces == 0 {
        return 1;
    }
    let r = regions[i];
    let sz_piece = (r.size() / nr_pieces) / min * min;
    if sz_piece == 0 {
        return 1;
    }
    regions[i].end = r.start + sz_piece;
    let mut n = 1;
    let mut start = r.start + sz_piece;
    while start + sz_piece <= r.end {
        regions.insert(i + n, Region::new(start, start + sz_piece));
        n += 1;
        start += sz_piece;
    }
    if n > 1 {
        regions[i + n - 1].end = r.end;
    }
    n
}

impl Kernel {
    /// The VMAs of `mm` as ranges.
    fn damon_vma_ranges(&self, mm: MmId) -> Vec<(u64, u64)> {
        self.mms[mm].vmas.iter().map(|v| (v.start, v.end)).collect()
    }

    /// damon_va_three_regions() of target `ti` of `c`.
    fn damon_va_three_regions(&self, c: CtxId, ti: usize) -> Option<[(u64, u64); 3]> {
        let mm = self.damon_target_mm(&self.damon.ctxs[c].targets[ti])?;
        three_regions(&self.damon_vma_ranges(mm), DAMON_MIN_REGION)
    }

    /// damon_va_init(): every target without regions gets the three regions, each evenly
    /// split into about min_nr_regions / 3 pieces (a target whose three regions cannot be
    /// found stays empty until an update finds them).
    pub(crate) fn damon_va_init(&mut self, c: CtxId) {
        for ti in 0..self.damon.ctxs[c].targets.len() {
            if !self.damon.ctxs[c].targets[ti].regions.is_empty() {
                continue;
            }
            let Some(three) = self.damon_va_three_regions(c, ti) else {
                continue;
            };
            let ctx = &mut self.damon.ctxs[c];
            let total: u64 = three.iter().map(|r| r.1 - r.0).sum();
            let sz = total
                .checked_div(ctx.attrs.min_nr_regions)
                .unwrap_or(total)
                .max(DAMON_MIN_REGION);
            let regions = &mut ctx.targets[ti].regions;
            for (s, e) in three {
                let i = regions.len();
                regions.push(Region::new(s, e));
                evenly_split_region(regions, i, (e - s) / sz, DAMON_MIN_REGION);
            }
        }
    }

    /// damon_va_update(): set_regions() to each target's current three regions.
    pub(crate) fn damon_va_update(&mut self, c: CtxId) {
        for ti in 0..self.damon.ctxs[c].targets.len() {
            if let Some(three) = self.damon_va_three_regions(c, ti) {
                let regions = &mut self.damon.ctxs[c].targets[ti].regions;
                set_regions(regions, &three, DAMON_MIN_REGION);
            }
        }
    }

    /// damon_va_mkold(): make the entry mapping `addr` in `mm` old.
    fn damon_va_mkold(&mut self, mm: MmId, addr: u64) {
        let hugetlb = self.mms[mm]
            .vmas
            .lookup(addr)
            .is_some_and(|v| v.is_hugetlb());
        match table::walk_leaf(&self.phys, self.mms[mm].pgd, addr) {
            Some(Leaf::Pte(s)) => self.damon_ptep_mkold(s),
            Some(Leaf::Pmd(s)) => self.damon_pmdp_mkold(s, hugetlb),
            None => {}
        }
    }

    /// damon_va_young(): was the page mapping `addr` accessed, and (only when it was) the
    /// size of the entry that maps it.
    pub(crate) fn damon_va_young(&self, mm: MmId, addr: u64) -> (bool, Option<u64>) {
        let hugetlb = self.mms[mm]
            .vmas
            .lookup(addr)
            .is_some_and(|v| v.is_hugetlb());
        let (f, young, sz) = match table::walk_leaf(&self.phys, self.mms[mm].pgd, addr) {
            Some(Leaf::Pte(s)) => {
                let pte = table::get(&self.phys, s);
                if !pte.is_present() {
                    return (false, None);
                }
                (self.damon_get_page(pte.pfn()), pte.young(), PAGE_SIZE)
            }
            Some(Leaf::Pmd(s)) => {
                let pmd = table::get_pmd(&self.phys, s);
                let f = if hugetlb {
                    Some(self.pages.folio(pmd.pfn()))
                } else {
                    self.damon_get_page(pmd.pfn())
                };
                (f, pmd.young(), crate::mm::hugetlb::HPAGE_SIZE)
            }
            None => return (false, None),
        };
        match f {
            Some(f) if self.damon_entry_young(f, young) => (true, Some(sz)),
            _ => (false, None),
        }
    }

    /// damon_va_prepare_access_checks(): a random sampling address in every region of every
    /// target whose process lives, made old.
    pub(crate) fn damon_va_prepare_access_checks(&mut self, c: CtxId) {
        for ti in 0..self.damon.ctxs[c].targets.len() {
            let Some(mm) = self.damon_target_mm(&self.damon.ctxs[c].targets[ti]) else {
                continue;
            };
            for ri in 0..self.damon.ctxs[c].targets[ti].regions.len() {
                let ctx = &mut self.damon.ctxs[c];
                let r = &mut ctx.targets[ti].regions[ri];
                r.sampling_addr = ctx.rng.rand(r.start, r.end);
                let addr = r.sampling_addr;
                self.damon_va_mkold(mm, addr);
            }
        }
    }

    /// damon_va_apply_scheme() (damos_madvise()): madvise() of the page-aligned region on
    /// the target's mm; the bytes advised, or 0 if madvise() failed or the process is gone.
    pub(crate) fn damon_va_apply_scheme(
        &mut self,
        c: CtxId,
        ti: usize,
        r: Region,
        a: DamosAction,
    ) -> u64 {
        let advice = match a {
            DamosAction::Willneed => MADV_WILLNEED,
            DamosAction::Cold => MADV_COLD,
            DamosAction::Pageout => MADV_PAGEOUT,
            DamosAction::Hugepage => MADV_HUGEPAGE,
            DamosAction::Nohugepage => MADV_NOHUGEPAGE,
            DamosAction::Stat => return 0,
        };
        let Some(pid) = self.damon.ctxs[c].targets[ti].pid else {
            return 0;
        };
        let Some(&tid) = self.procs.get(pid).and_then(|p| p.threads.first()) else {
            return 0;
        };
        let start = align_up(r.start, PAGE_SIZE);
        let len = align_up(r.size(), PAGE_SIZE);
        let (cur, cpu) = (self.current, self.current_cpu);
        let ok = self.madvise(tid, start, len, advice).is_ok();
        (self.current, self.current_cpu) = (cur, cpu);
        if ok {
            len
        } else {
            0
        }
    }
}
