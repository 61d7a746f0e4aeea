//! mm/mlock.c of 5.19 (after the 5.18 rework): pages mapped by a VM_LOCKED VMA are
//! PG_mlocked and live on the unevictable "list", which only counts them. Mlocking and
//! munlocking go through a per-CPU batch (mlock_pvec) drained with the LRU batches; the
//! mlock_count of an unevictable folio counts the locked VMAs that map it.
//! There is no mlock() syscall yet: MAP_LOCKED is what makes a VMA VM_LOCKED.

use smallvec::SmallVec;

use crate::kernel::Kernel;
use crate::mm::swap::PAGEVEC_SIZE;
use crate::mm::vma::vm::{VM_LOCKED, VM_SPECIAL};
use crate::mm::Vma;
use crate::page::{Folio, PageFlags, Pfn};

/// What the drain does to an entry of the mlock batch (5.19 tags the page pointer with
/// LRU_PAGE or NEW_PAGE; untagged means munlock).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MlockOp {
    /// LRU_PAGE: __mlock_page().
    Mlock,
    /// NEW_PAGE: __mlock_new_page().
    New,
    /// No tag: __munlock_page().
    Munlock,
}

/// struct mlock_pvec of one CPU: folios with what to do to each, a reference held for each.
pub type MlockPvec = SmallVec<[(Folio, MlockOp); PAGEVEC_SIZE]>;

/// (vma->vm_flags & (VM_LOCKED | VM_SPECIAL)) == VM_LOCKED.
fn vma_mlocks(vm_flags: u64) -> bool {
    vm_flags & (VM_LOCKED | VM_SPECIAL) == VM_LOCKED
}

impl Kernel {
    /// folio_evictable(): not PG_mlocked (no mapping of the model is unevictable: there is
    /// no SHM_LOCK or ramfs).
    pub(crate) fn folio_evictable(&self, f: Folio) -> bool {
        !self.pages.folio_test(f, PageFlags::MLOCKED)
    }

    /// Queue `f` (the caller took the batch's reference) on this CPU's mlock batch; a full
    /// batch or a large folio drains it at once (mlock_folio()'s pagevec_add() test).
    fn mlock_pvec_add(&mut self, f: Folio, op: MlockOp) {
        let cpu = self.current_cpu;
        let large = self.pages.folio_test_large(f);
        let pvec = &mut self.lru.pvecs[cpu].mlock;
        pvec.push((f, op));
        if pvec.len() == PAGEVEC_SIZE || large {
            self.mlock_pagevec(cpu);
        }
    }

    /// mlock_pagevec(): apply each queued operation, then drop the batch's references.
    pub(crate) fn mlock_pagevec(&mut self, cpu: usize) {
        let entries = std::mem::take(&mut self.lru.pvecs[cpu].mlock);
        for &(f, op) in &entries {
            match op {
                MlockOp::Mlock => self.mlock_fn(f),
                MlockOp::New => self.mlock_new_fn(f),
                MlockOp::Munlock => self.munlock_fn(f),
            }
        }
        for (f, _) in entries {
            self.folio_put(f);
        }
    }

    /// __mlock_page(): a folio on the LRU moves to the unevictable list (culled), or one
    /// already there counts one more locked mapping; one found evictable meanwhile is rescued.
    fn mlock_fn(&mut self, f: Folio) {
        if !self.pages.folio_test(f, PageFlags::LRU) {
            // Isolated: reclaim's putback sees PG_mlocked and culls it.
            return;
        }
        let nr = self.pages.folio_nr_pages(f);
        let unevictable = self.pages.folio_test(f, PageFlags::UNEVICTABLE);
        if self.folio_evictable(f) {
            if unevictable {
                self.lru.lruvec.del(&mut self.pages, f);
                self.pages.folio_clear(f, PageFlags::UNEVICTABLE);
                self.lru.lruvec.add(&mut self.pages, f);
                self.vmstat.unevictable_pgs_rescued += nr;
            }
            return;
        }
        if unevictable {
            let c = self.pages.mlock_count(f);
            self.pages.set_mlock_count(f, c + 1);
            return;
        }
        self.lru.lruvec.del(&mut self.pages, f);
        self.pages.folio_clear(f, PageFlags::ACTIVE);
        self.pages.folio_set(f, PageFlags::UNEVICTABLE);
        self.lru.lruvec.add(&mut self.pages, f);
        self.pages.set_mlock_count(f, 1);
        self.vmstat.unevictable_pgs_culled += nr;
    }

    /// __mlock_new_page(): a new folio not yet on the LRU goes straight to the unevictable
    /// list with one locked mapping (onto its evictable list if munlocked meanwhile).
    fn mlock_new_fn(&mut self, f: Folio) {
        if !self.folio_evictable(f) {
            self.pages.folio_set(f, PageFlags::UNEVICTABLE);
            self.vmstat.unevictable_pgs_culled += self.pages.folio_nr_pages(f);
        }
        self.pages.folio_set(f, PageFlags::LRU);
        self.lru.lruvec.add(&mut self.pages, f);
        if !self.folio_evictable(f) {
            self.pages.set_mlock_count(f, 1);
        }
    }

    /// __munlock_page(): one locked mapping fewer; at the last, PG_mlocked goes and the
    /// folio returns to an evictable list (rescued). An isolated folio is simply munlocked.
    fn munlock_fn(&mut self, f: Folio) {
        let nr = self.pages.folio_nr_pages(f);
        let isolated = self.pages.folio_test(f, PageFlags::LRU);
        if isolated && self.pages.folio_test(f, PageFlags::UNEVICTABLE) {
            let c = self.pages.mlock_count(f).saturating_sub(1);
            self.pages.set_mlock_count(f, c);
            if c > 0 {
                return;
            }
        }
        if self.pages.folio_test(f, PageFlags::MLOCKED) {
            self.pages.folio_clear(f, PageFlags::MLOCKED);
            self.vmstat.nr_mlock -= nr;
            if isolated || !self.pages.folio_test(f, PageFlags::UNEVICTABLE) {
                self.vmstat.unevictable_pgs_munlocked += nr;
            } else {
                self.vmstat.unevictable_pgs_stranded += nr;
            }
        }
        if isolated && self.pages.folio_test(f, PageFlags::UNEVICTABLE) && self.folio_evictable(f) {
            self.lru.lruvec.del(&mut self.pages, f);
            self.pages.folio_clear(f, PageFlags::UNEVICTABLE);
            self.lru.lruvec.add(&mut self.pages, f);
            self.vmstat.unevictable_pgs_rescued += nr;
        }
    }

    /// folio_test_set_mlocked() with its accounting: NR_MLOCK and UNEVICTABLE_PGMLOCKED
    /// when the flag was clear.
    fn folio_set_mlocked(&mut self, f: Folio) {
        if !self.pages.folio_test(f, PageFlags::MLOCKED) {
            self.pages.folio_set(f, PageFlags::MLOCKED);
            let nr = self.pages.folio_nr_pages(f);
            self.vmstat.nr_mlock += nr;
            self.vmstat.unevictable_pgs_mlocked += nr;
        }
    }

    /// mlock_folio(): PG_mlocked, and the folio queued to move to the unevictable list.
    /// Locks: the per-CPU mlock_pvec local lock.
    pub(crate) fn mlock_folio(&mut self, f: Folio) {
        self.folio_set_mlocked(f);
        self.folio_get(f);
        self.mlock_pvec_add(f, MlockOp::Mlock);
    }

    /// mlock_new_page(): a new anonymous folio of a locked VMA, PG_mlocked and queued for
    /// the unevictable list instead of the add batch.
    /// Locks: the per-CPU mlock_pvec local lock.
    pub(crate) fn mlock_new_page(&mut self, f: Folio) {
        self.folio_set_mlocked(f);
        self.folio_get(f);
        self.mlock_pvec_add(f, MlockOp::New);
    }

    /// munlock_page(): queue a folio to lose one locked mapping.
    /// Locks: the per-CPU mlock_pvec local lock.
    pub(crate) fn munlock_page(&mut self, f: Folio) {
        self.folio_get(f);
        self.mlock_pvec_add(f, MlockOp::Munlock);
    }

    /// mlock_vma_folio(): a mapping of `f` in a locked VMA (flags `vm_flags`) mlocks it, if
    /// whole (`compound`: by a PMD) or small; PTE mappings of a large folio are not counted.
    pub(crate) fn mlock_vma_folio(&mut self, f: Folio, vm_flags: u64, compound: bool) {
        if vma_mlocks(vm_flags) && (compound || !self.pages.folio_test_large(f)) {
            self.mlock_folio(f);
        }
    }

    /// munlock_vma_page(): the end of a mapping in a locked VMA, on the rule of
    /// mlock_vma_folio().
    pub(crate) fn munlock_vma_page(&mut self, pfn: Pfn, vm_flags: u64, compound: bool) {
        let f = self.pages.folio(pfn);
        if vm_flags & VM_LOCKED != 0 && (compound || !self.pages.folio_test_large(f)) {
            self.munlock_page(f);
        }
    }

    /// lru_cache_add_inactive_or_unevictable(): a new anonymous folio goes to the LRU, or
    /// in a locked VMA is mlocked.
    pub(crate) fn lru_cache_add_inactive_or_unevictable(&mut self, f: Folio, vma: &Vma) {
        if vma_mlocks(vma.flags) {
            self.mlock_new_page(f);
        } else {
            self.folio_add_lru(f);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::page::lru::LruList;
    use crate::uapi::*;
    use crate::{Config, Kernel};

    /// A process with `pages` written pages of a MAP_LOCKED anonymous region at the address.
    fn locked(pages: u64) -> (Kernel, crate::sched::Tid, u64) {
        let mut k = Kernel::new(Config::default());
        let t = k.spawn_process(0).unwrap();
        let len = pages * 4096;
        let flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_LOCKED;
        let a = k
            .mmap(t, 0, len, PROT_READ | PROT_WRITE, flags, -1, 0)
            .unwrap();
        k.memset(t, a, 1, len).unwrap();
        (k, t, a)
    }

    #[test]
    fn new_pages_of_a_locked_vma_go_unevictable_through_the_mlock_batch() {
        let (mut k, _, _) = locked(20);
        assert_eq!(k.vmstat.nr_mlock, 20, "PG_mlocked at once");
        assert_eq!(k.vmstat.unevictable_pgs_mlocked, 20);
        // One full batch of 15 drained; 5 wait, holding references and off every list.
        assert_eq!(k.lru.lruvec.nr_pages(LruList::Unevictable), 15);
        assert_eq!(k.lru.pvecs[k.current_cpu].mlock.len(), 5);
        k.lru_add_drain_all();
        assert_eq!(k.lru.lruvec.nr_pages(LruList::Unevictable), 20);
        assert_eq!(k.lru.lruvec.nr_pages(LruList::InactiveAnon), 0);
        assert_eq!(k.vmstat.unevictable_pgs_culled, 20);
        k.check_invariants().unwrap();
    }

    #[test]
    fn munmap_munlocks_and_rescues_every_page() {
        let (mut k, t, a) = locked(20);
        k.lru_add_drain_all();
        k.munmap(t, a, 20 * 4096).unwrap();
        k.lru_add_drain_all();
        assert_eq!(k.vmstat.nr_mlock, 0);
        assert_eq!(k.lru.lruvec.nr_pages(LruList::Unevictable), 0);
        assert_eq!(k.vmstat.unevictable_pgs_munlocked, 20);
        assert_eq!(k.vmstat.unevictable_pgs_rescued, 20);
        assert_eq!(k.vmstat.unevictable_pgs_cleared, 0);
        k.check_invariants().unwrap();
    }
}
