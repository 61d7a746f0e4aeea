//! mm/swap.c: references (folio_get/folio_put and release_pages), and the per-CPU batches
//! (pagevecs of 15) through which folios reach the LRU or move between its lists. A folio in
//! a batch holds a reference and is not PageLRU until the batch drains, as in 5.19, so
//! refcounts, LazyFree and khugepaged's SCAN_PAGE_LRU see what Linux's do.

use crate::kernel::Kernel;
use smallvec::SmallVec;

use crate::page::{Folio, PageFlags, Pfn};

/// PAGEVEC_SIZE.
pub const PAGEVEC_SIZE: usize = 15;

/// What a drained batch does to each folio.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LruMove {
    /// __pagevec_lru_add_fn(): onto the LRU.
    Add,
    /// lru_deactivate_fn(): active to inactive.
    Deactivate,
    /// lru_lazyfree_fn(): a clean anonymous folio to the inactive file list.
    Lazyfree,
    /// __activate_page(): inactive to active.
    Activate,
}

/// struct pagevec: up to PAGEVEC_SIZE folios, kept inline as the kernel keeps it on the stack.
pub type Pagevec = SmallVec<[Folio; PAGEVEC_SIZE]>;

/// struct lru_pvecs of one CPU.
#[derive(Clone, Debug, Default)]
pub struct LruPvecs {
    lru_add: Pagevec,
    lru_deactivate: Pagevec,
    lru_lazyfree: Pagevec,
    activate_page: Pagevec,
    /// mlock_pvec: the mlock batch, drained with the others.
    pub(crate) mlock: crate::mm::mlock::MlockPvec,
}

impl LruPvecs {
    fn pvec(&mut self, m: LruMove) -> &mut Pagevec {
        match m {
            LruMove::Add => &mut self.lru_add,
            LruMove::Deactivate => &mut self.lru_deactivate,
            LruMove::Lazyfree => &mut self.lru_lazyfree,
            LruMove::Activate => &mut self.activate_page,
        }
    }
    /// Every folio waiting in this CPU's batches (each holds a reference for it).
    pub fn folios(&self) -> impl Iterator<Item = Folio> + '_ {
        self.lru_add
            .iter()
            .chain(&self.lru_deactivate)
            .chain(&self.lru_lazyfree)
            .chain(&self.activate_page)
            .copied()
            .chain(self.mlock.iter().map(|&(f, _)| f))
    }
}

/// The LRU of the one node and every CPU's batches.
#[derive(Clone, Debug, Default)]
pub struct LruState {
    pub lruvec: crate::page::lru::MemcgLruvecs,
    pub pvecs: Vec<LruPvecs>,
    /// lruvec->nonresident_age: evictions and activations so far (workingset.c's clock).
    pub nonresident_age: u64,
}

impl Kernel {
    /// folio_get(): one more reference.
    #[inline]
    pub(crate) fn folio_get(&mut self, f: Folio) {
        self.pages.folio_ref_add(f, 1);
    }

    /// get_page(): a reference on the folio of a page.
    #[inline]
    pub(crate) fn get_page(&mut self, pfn: Pfn) {
        let f = self.pages.folio(pfn);
        self.folio_get(f);
    }

    /// folio_put(): drop a reference; the last one frees the folio by its kind (__folio_put():
    /// a hugetlb page goes back to its pool, a THP leaves the deferred split queue first).
    pub(crate) fn folio_put(&mut self, f: Folio) {
        if self.pages.folio_ref_add(f, -1) != 0 {
            return;
        }
        if self.pages.folio_test(f, PageFlags::HUGETLB) {
            self.free_huge_page(f);
        } else {
            if self.pages.folio_test_large(f) {
                self.thp.deferred.remove(&f);
            }
            self.free_frames(f);
        }
    }

    /// put_page(): drop a reference on the folio of a page.
    #[inline]
    pub(crate) fn put_page(&mut self, pfn: Pfn) {
        let f = self.pages.folio(pfn);
        self.folio_put(f);
    }

    /// release_pages(): drop one reference on each folio (the huge zero page has none to drop).
    fn release_pages(&mut self, folios: Pagevec) {
        for f in folios {
            if Some(f) != self.thp.huge_zero {
                self.folio_put(f);
            }
        }
    }

    /// pagevec_add_and_need_flush(): queue `f` (the caller took the batch's reference) on this
    /// CPU's batch; a full batch, or a large folio, drains it at once.
    fn pagevec_add(&mut self, m: LruMove, f: Folio) {
        let cpu = self.current_cpu;
        let large = self.pages.folio_test_large(f);
        let pvec = self.lru.pvecs[cpu].pvec(m);
        pvec.push(f);
        if pvec.len() == PAGEVEC_SIZE || large {
            self.pagevec_drain(cpu, m);
        }
    }

    /// __pagevec_lru_add() / pagevec_lru_move_fn(): apply a batch's move to each of its
    /// folios still on the LRU (the add batch: to each), then drop the batch's references.
    fn pagevec_drain(&mut self, cpu: usize, m: LruMove) {
        let folios = std::mem::take(self.lru.pvecs[cpu].pvec(m));
        for &f in &folios {
            if m == LruMove::Add {
                self.lru_add_fn(f);
                continue;
            }
            // TestClearPageLRU(): a folio isolated meanwhile is left alone.
            if !self.pages.folio_test(f, PageFlags::LRU) {
                continue;
            }
            match m {
                LruMove::Deactivate => self.lru_deactivate_fn(f),
                LruMove::Lazyfree => self.lru_lazyfree_fn(f),
                LruMove::Activate => self.activate_fn(f),
                LruMove::Add => unreachable!("handled above"),
            }
        }
        self.release_pages(folios);
    }

    /// __pagevec_lru_add_fn(): PG_lru set, onto the list the flags name: an evictable folio
    /// that was unevictable is rescued, a PG_mlocked one goes inactive to the unevictable
    /// list (culled if new there) with an mlock_count of 0 that undercounts on purpose.
    fn lru_add_fn(&mut self, f: Folio) {
        let was_unevictable = self.pages.folio_test(f, PageFlags::UNEVICTABLE);
        self.pages.folio_clear(f, PageFlags::UNEVICTABLE);
        let nr = self.pages.folio_nr_pages(f);
        self.pages.folio_set(f, PageFlags::LRU);
        if self.folio_evictable(f) {
            if was_unevictable {
                self.vmstat.unevictable_pgs_rescued += nr;
            }
        } else {
            self.pages.folio_clear(f, PageFlags::ACTIVE);
            self.pages.folio_set(f, PageFlags::UNEVICTABLE);
            if !was_unevictable {
                self.vmstat.unevictable_pgs_culled += nr;
            }
        }
        self.lru.lruvec.add(&mut self.pages, f);
        if !self.folio_evictable(f) {
            self.pages.set_mlock_count(f, 0);
        }
    }

    /// lru_deactivate_fn().
    fn lru_deactivate_fn(&mut self, f: Folio) {
        let mem = &mut self.pages;
        if mem.folio_test(f, PageFlags::ACTIVE) && !mem.folio_test(f, PageFlags::UNEVICTABLE) {
            self.lru.lruvec.del(mem, f);
            mem.folio_clear(f, PageFlags::ACTIVE | PageFlags::REFERENCED);
            self.lru.lruvec.add(mem, f);
            self.vmstat.pgdeactivate += mem.folio_nr_pages(f);
        }
    }

    /// lru_lazyfree_fn(): a clean anonymous folio loses PG_swapbacked and goes to the
    /// inactive file list, where reclaim can drop it without writing it anywhere.
    fn lru_lazyfree_fn(&mut self, f: Folio) {
        let mem = &mut self.pages;
        if mem.folio_test(f, PageFlags::ANON)
            && mem.folio_test(f, PageFlags::SWAPBACKED)
            && !mem.folio_test(f, PageFlags::SWAPCACHE | PageFlags::UNEVICTABLE)
        {
            self.lru.lruvec.del(mem, f);
            mem.folio_clear(
                f,
                PageFlags::ACTIVE | PageFlags::REFERENCED | PageFlags::SWAPBACKED,
            );
            self.lru.lruvec.add(mem, f);
            self.vmstat.pglazyfree += mem.folio_nr_pages(f);
        }
    }

    /// __folio_activate().
    fn activate_fn(&mut self, f: Folio) {
        let mem = &mut self.pages;
        if !mem.folio_test(f, PageFlags::ACTIVE | PageFlags::UNEVICTABLE) {
            self.lru.lruvec.del(mem, f);
            mem.folio_set(f, PageFlags::ACTIVE);
            self.lru.lruvec.add(mem, f);
            self.vmstat.pgactivate += mem.folio_nr_pages(f);
        }
    }

    /// folio_add_lru(): queue a new folio for the LRU on this CPU.
    /// Locks: the per-CPU lru_pvecs local lock.
    pub(crate) fn folio_add_lru(&mut self, f: Folio) {
        self.folio_get(f);
        self.pagevec_add(LruMove::Add, f);
    }

    /// mark_page_lazyfree(): MADV_FREE queues a clean anonymous folio for the lazyfree list.
    /// Locks: the per-CPU lru_pvecs local lock.
    pub(crate) fn mark_page_lazyfree(&mut self, f: Folio) {
        let mem = &self.pages;
        if mem.folio_test(f, PageFlags::LRU)
            && mem.folio_test(f, PageFlags::ANON)
            && mem.folio_test(f, PageFlags::SWAPBACKED)
            && !mem.folio_test(f, PageFlags::SWAPCACHE | PageFlags::UNEVICTABLE)
        {
            self.folio_get(f);
            self.pagevec_add(LruMove::Lazyfree, f);
        }
    }

    /// deactivate_page(): MADV_COLD queues an active folio for the inactive list.
    /// Locks: the per-CPU lru_pvecs local lock.
    pub(crate) fn deactivate_page(&mut self, f: Folio) {
        let mem = &self.pages;
        if mem.folio_test(f, PageFlags::LRU)
            && mem.folio_test(f, PageFlags::ACTIVE)
            && !mem.folio_test(f, PageFlags::UNEVICTABLE)
        {
            self.folio_get(f);
            self.pagevec_add(LruMove::Deactivate, f);
        }
    }

    /// folio_mark_accessed(): inactive unreferenced → referenced → active (on the LRU through
    /// the activate batch; a folio still in this CPU's add batch is simply marked active).
    pub(crate) fn folio_mark_accessed(&mut self, f: Folio) {
        let mem = &self.pages;
        if !mem.folio_test(f, PageFlags::REFERENCED) {
            self.pages.folio_set(f, PageFlags::REFERENCED);
        } else if !mem.folio_test(f, PageFlags::ACTIVE | PageFlags::UNEVICTABLE) {
            if mem.folio_test(f, PageFlags::LRU) {
                self.folio_get(f);
                self.pagevec_add(LruMove::Activate, f);
            } else if self.lru.pvecs[self.current_cpu].lru_add.contains(&f) {
                // __lru_cache_activate_folio(): only this CPU's add batch is looked at.
                self.pages.folio_set(f, PageFlags::ACTIVE);
            }
            self.pages.folio_clear(f, PageFlags::REFERENCED);
            // workingset_activation(): an activation ages the lruvec for refault distances.
            let nr = self.pages.folio_nr_pages(f);
            self.workingset_age(nr);
        }
        self.pages.folio_clear(f, PageFlags::IDLE);
    }

    /// lru_add_drain_cpu() and mlock_page_drain_local(): empty every batch of one CPU, the
    /// mlock batch last.
    pub(crate) fn lru_add_drain_cpu(&mut self, cpu: usize) {
        for m in [
            LruMove::Add,
            LruMove::Deactivate,
            LruMove::Lazyfree,
            LruMove::Activate,
        ] {
            if !self.lru.pvecs[cpu].pvec(m).is_empty() {
                self.pagevec_drain(cpu, m);
            }
        }
        if !self.lru.pvecs[cpu].mlock.is_empty() {
            self.mlock_pagevec(cpu);
        }
    }

    /// lru_add_drain(): empty the batches of the CPU the current task runs on.
    /// Locks: the per-CPU lru_pvecs local lock; lruvec->lru_lock while a batch drains.
    pub(crate) fn lru_add_drain(&mut self) {
        self.lru_add_drain_cpu(self.current_cpu);
    }

    /// lru_add_drain_all(): empty every CPU's batches (what a write to
    /// /proc/sys/vm/drop_caches or compact_memory starts with). The last references to a freed
    /// process's pages may sit in another CPU's batch until then.
    /// Locks: lru_add_drain_all()'s mutex; each CPU's drain runs on that CPU.
    pub fn lru_add_drain_all(&mut self) {
        for cpu in 0..self.lru.pvecs.len() {
            self.lru_add_drain_cpu(cpu);
        }
    }
}
