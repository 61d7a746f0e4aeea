//! mm/mlock.c of 5.19 (after the 5.18 rework): pages mapped by a VM_LOCKED VMA are
//! PG_mlocked and live on the unevictable "list", which only counts them. Mlocking and
//! munlocking go through a per-CPU batch (mlock_pvec) drained with the LRU batches; the
//! mlock_count of an unevictable folio counts the locked VMAs that map it. The syscalls
//! (mlock, mlock2, munlock, mlockall, munlockall) set VM_LOCKED/VM_LOCKONFAULT on VMAs,
//! splitting and merging them, mlock the pages already present and populate the rest.

use std::ops::ControlFlow;

use smallvec::SmallVec;

use crate::errno::{Errno, SysResult};
use crate::hw::{PAGE_MASK, PAGE_SHIFT, PAGE_SIZE, TASK_SIZE};
use crate::kernel::Kernel;
use crate::mm::gup::Populate;
use crate::mm::pagewalk::{walk_page_range, MmWalk, PmdAction};
use crate::mm::swap::PAGEVEC_SIZE;
use crate::mm::vm_fault::FaultFlags;
use crate::mm::vma::vm::{VM_LOCKED, VM_LOCKED_CLEAR_MASK, VM_LOCKONFAULT, VM_SPECIAL};
use crate::mm::{MmId, Vma};
use crate::page::{Folio, PageFlags, Pfn};
use crate::pgtable::pmd::PmdKind;
use crate::pgtable::pte::PteKind;
use crate::pgtable::table::{PmdSlot, PteSlot};
use crate::sched::Tid;
use crate::sys::CAP_IPC_LOCK;
use crate::uapi::resource::{MCL_CURRENT, MCL_FUTURE, MCL_ONFAULT, MLOCK_ONFAULT, RLIMIT_MEMLOCK};

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

/// mlock_pte_range() as a walker: each page present in the range is mlocked (the VMA became
/// VM_LOCKED) or munlocked (it stopped being so).
struct MlockWalk {
    lock: bool,
}

impl MlockWalk {
    fn apply(&self, k: &mut Kernel, f: Folio) {
        if self.lock {
            k.mlock_folio(f);
        } else {
            k.munlock_page(f);
        }
    }
}

impl MmWalk for MlockWalk {
    fn pmd_entry(
        &mut self,
        k: &mut Kernel,
        _addr: u64,
        _next: u64,
        _slot: PmdSlot,
        e: PmdKind,
    ) -> ControlFlow<(), PmdAction> {
        match e {
            PmdKind::Leaf(e) => {
                if !k.is_huge_zero_pmd(e) {
                    let f = k.pages.folio(e.pfn());
                    self.apply(k, f);
                }
                ControlFlow::Continue(PmdAction::Done)
            }
            PmdKind::Swp(..) => ControlFlow::Continue(PmdAction::Done),
            PmdKind::None | PmdKind::Table(_) => ControlFlow::Continue(PmdAction::Descend),
        }
    }

    fn pte_entry(
        &mut self,
        k: &mut Kernel,
        _addr: u64,
        _slot: PteSlot,
        e: PteKind,
    ) -> ControlFlow<()> {
        // vm_normal_page(): the zero page is special; PTE-mapped pieces of a THP are skipped.
        if let PteKind::Present(pte) = e {
            if !pte.special() {
                let f = k.pages.folio(pte.pfn());
                if !k.pages.folio_test_large(f) {
                    self.apply(k, f);
                }
            }
        }
        ControlFlow::Continue(())
    }
}

impl Kernel {
    /// can_do_mlock(): a non-zero RLIMIT_MEMLOCK, or CAP_IPC_LOCK.
    fn can_do_mlock(&self) -> bool {
        self.rlimit(RLIMIT_MEMLOCK) != 0 || self.capable(CAP_IPC_LOCK)
    }

    /// mlock_future_check(): a new VM_LOCKED range of `len` bytes must fit RLIMIT_MEMLOCK
    /// beside what is locked already (EAGAIN), unless CAP_IPC_LOCK.
    pub(crate) fn mlock_future_check(&self, mm: MmId, vm_flags: u64, len: u64) -> SysResult<()> {
        if vm_flags & VM_LOCKED != 0 {
            let locked = (len >> PAGE_SHIFT) + self.mms[mm].locked_vm();
            if locked > self.rlimit(RLIMIT_MEMLOCK) >> PAGE_SHIFT && !self.capable(CAP_IPC_LOCK) {
                return Err(Errno::EAGAIN);
            }
        }
        Ok(())
    }

    /// The mmap() side of mlock: MAP_LOCKED needs can_do_mlock() (EPERM); the new VMA's lock
    /// flags (MAP_LOCKED's or mlockall(MCL_FUTURE)'s def_flags) must pass mlock_future_check().
    pub(crate) fn mmap_lock_check(
        &self,
        mm: MmId,
        map_locked: bool,
        vm_flags: u64,
        len: u64,
    ) -> SysResult<()> {
        if map_locked && !self.can_do_mlock() {
            return Err(Errno::EPERM);
        }
        self.mlock_future_check(mm, vm_flags, len)
    }

    /// mlock_vma_pages_range(): give the VMA at `start` its new flags and mlock or munlock the
    /// pages present in `[start, end)`, with the LRU batches drained around the walk.
    fn mlock_vma_pages_range(&mut self, mm: MmId, (start, end): (u64, u64), newflags: u64) {
        self.mms[mm].vmas.get_mut(start).expect("vma").flags = newflags;
        self.lru_add_drain();
        let mut w = MlockWalk {
            lock: newflags & VM_LOCKED != 0,
        };
        let _ = walk_page_range(self, mm, start, end, &mut w);
        self.lru_add_drain();
    }

    /// mlock_fixup(): `[start, end)` (inside the VMA at `start`) gets `newflags`, split off or
    /// merged as mprotect does. Special and hugetlb VMAs never get lock flags. Returns the end
    /// of the VMA now holding `start`.
    fn mlock_fixup(&mut self, mm: MmId, start: u64, end: u64, newflags: u64) -> SysResult<u64> {
        let v = self.mms[mm].vmas.lookup(start).expect("vma");
        let (oldflags, vend) = (v.flags, v.end);
        if newflags == oldflags || oldflags & VM_SPECIAL != 0 || v.is_hugetlb() {
            return Ok(vend);
        }
        self.split_for_change(mm, start, end, newflags)?;
        if newflags & VM_LOCKED != 0 && oldflags & VM_LOCKED != 0 {
            // Only VM_LOCKONFAULT changes: mlocking twice would count the pages twice.
            self.mms[mm].vmas.get_mut(start).expect("vma").flags = newflags;
        } else {
            self.mlock_vma_pages_range(mm, (start, end), newflags);
        }
        let at = self.vma_merge(mm, start);
        Ok(self.mms[mm].vmas.lookup(at).expect("vma").end)
    }

    /// apply_vma_lock_flags(): every VMA of `[start, start + len)` gets `flags` in place of its
    /// lock flags; a hole is ENOMEM (after the VMAs before it were changed).
    fn apply_vma_lock_flags(
        &mut self,
        mm: MmId,
        start: u64,
        len: u64,
        flags: u64,
    ) -> SysResult<()> {
        let end = start.wrapping_add(len);
        if end < start {
            return Err(Errno::EINVAL);
        }
        if end == start {
            return Ok(());
        }
        match self.mms[mm].vmas.find(start) {
            Some(v) if v.start <= start => {}
            _ => return Err(Errno::ENOMEM),
        }
        let mut nstart = start;
        loop {
            let v = self.mms[mm].vmas.lookup(nstart).ok_or(Errno::ENOMEM)?;
            let newflags = v.flags & VM_LOCKED_CLEAR_MASK | flags;
            let tmp = v.end.min(end);
            nstart = self
                .mlock_fixup(mm, nstart, tmp, newflags)?
                .min(end)
                .max(tmp);
            if nstart >= end {
                return Ok(());
            }
        }
    }

    /// count_mm_mlocked_page_nr(): pages of `[start, start + len)` already in VM_LOCKED VMAs.
    fn count_mm_mlocked_page_nr(&self, mm: MmId, start: u64, len: u64) -> u64 {
        let end = start.saturating_add(len);
        self.mms[mm]
            .vmas
            .iter()
            .filter(|v| v.flags & VM_LOCKED != 0 && v.end > start && v.start < end)
            .map(|v| (v.end.min(end) - v.start.max(start)) >> PAGE_SHIFT)
            .sum()
    }

    /// do_mlock(): the range rounded out to pages, checked against RLIMIT_MEMLOCK (ENOMEM;
    /// ranges locked already do not count twice), given the lock flags and populated; a
    /// population failure is mlock's errno (__mlock_posix_error_return(): EFAULT → ENOMEM,
    /// ENOMEM → EAGAIN).
    fn do_mlock(&mut self, tid: Tid, start: u64, len: u64, flags: u64) -> SysResult<()> {
        let mm = self.enter(tid)?;
        if !self.can_do_mlock() {
            return Err(Errno::EPERM);
        }
        let len = len
            .wrapping_add(start & !PAGE_MASK)
            .wrapping_add(PAGE_SIZE - 1)
            & PAGE_MASK;
        let start = start & PAGE_MASK;
        let lock_limit = self.rlimit(RLIMIT_MEMLOCK) >> PAGE_SHIFT;
        let mut locked = (len >> PAGE_SHIFT) + self.mms[mm].locked_vm();
        if locked > lock_limit && !self.capable(CAP_IPC_LOCK) {
            locked -= self.count_mm_mlocked_page_nr(mm, start, len);
        }
        if locked > lock_limit && !self.capable(CAP_IPC_LOCK) {
            return Err(Errno::ENOMEM);
        }
        self.apply_vma_lock_flags(mm, start, len, flags)?;
        self.mlock_populate(tid, mm, (start, start.wrapping_add(len)))
    }

    /// do_mlock()'s __mm_populate(), from `start` on. A charge whose over-high penalty
    /// sleeps (memcontrol.rs) stops it at the page it faulted: the syscall sleeps
    /// (ERESTARTNOINTR) and restart_syscall() goes on from that page once the clock wakes it.
    pub(crate) fn mlock_populate(
        &mut self,
        tid: Tid,
        mm: MmId,
        (start, end): (u64, u64),
    ) -> SysResult<()> {
        self.memcg.may_sleep = Some(tid);
        let r = self.populate_range(mm, (start, end), FaultFlags::empty(), false);
        self.memcg.may_sleep = None;
        match r {
            Err(Populate::Failed(Errno::EFAULT)) => Err(Errno::ENOMEM),
            Err(Populate::Failed(Errno::ENOMEM)) => Err(Errno::EAGAIN),
            Err(Populate::Failed(e)) => Err(e),
            Err(Populate::Retry(at)) => {
                self.tasks[tid].restart =
                    Some(crate::fs::userfaultfd::Restart::Mlock { start: at, end });
                Err(Errno::ERESTARTNOINTR)
            }
            Ok(()) => Ok(()),
        }
    }

    /// mlock(2).
    /// Locks: the mmap lock, write, then read to populate.
    pub fn mlock(&mut self, tid: Tid, start: u64, len: u64) -> SysResult<()> {
        self.do_mlock(tid, start, len, VM_LOCKED)
    }

    /// mlock2(2): MLOCK_ONFAULT locks pages as they come instead of populating them.
    /// Locks: the mmap lock, write, then read to populate.
    pub fn mlock2(&mut self, tid: Tid, start: u64, len: u64, flags: u64) -> SysResult<()> {
        self.enter(tid)?;
        if flags & !MLOCK_ONFAULT != 0 {
            return Err(Errno::EINVAL);
        }
        let mut vm_flags = VM_LOCKED;
        if flags & MLOCK_ONFAULT != 0 {
            vm_flags |= VM_LOCKONFAULT;
        }
        self.do_mlock(tid, start, len, vm_flags)
    }

    /// munlock(2).
    /// Locks: the mmap lock, write.
    pub fn munlock(&mut self, tid: Tid, start: u64, len: u64) -> SysResult<()> {
        let mm = self.enter(tid)?;
        let len = len
            .wrapping_add(start & !PAGE_MASK)
            .wrapping_add(PAGE_SIZE - 1)
            & PAGE_MASK;
        self.apply_vma_lock_flags(mm, start & PAGE_MASK, len, 0)
    }

    /// apply_mlockall_flags(): def_flags for future mappings (MCL_FUTURE), and every VMA's
    /// lock flags for MCL_CURRENT (or cleared, from munlockall()); errors are ignored.
    fn apply_mlockall_flags(&mut self, mm: MmId, flags: u64) {
        let m = &mut self.mms[mm];
        m.def_flags &= VM_LOCKED_CLEAR_MASK;
        if flags & MCL_FUTURE != 0 {
            m.def_flags |= VM_LOCKED;
            if flags & MCL_ONFAULT != 0 {
                m.def_flags |= VM_LOCKONFAULT;
            }
            if flags & MCL_CURRENT == 0 {
                return;
            }
        }
        let mut to_add = 0;
        if flags & MCL_CURRENT != 0 {
            to_add = VM_LOCKED;
            if flags & MCL_ONFAULT != 0 {
                to_add |= VM_LOCKONFAULT;
            }
        }
        let mut addr = 0;
        while let Some(v) = self.mms[mm].vmas.find(addr) {
            let (start, end, newflags) = (v.start, v.end, v.flags & VM_LOCKED_CLEAR_MASK | to_add);
            addr = self.mlock_fixup(mm, start, end, newflags).unwrap_or(end);
        }
    }

    /// mlockall(2): EINVAL for no flags, unknown ones or MCL_ONFAULT alone; MCL_CURRENT needs
    /// the whole address space under RLIMIT_MEMLOCK (ENOMEM) unless CAP_IPC_LOCK, and
    /// populates it.
    /// Locks: the mmap lock, write, then read to populate.
    pub fn mlockall(&mut self, tid: Tid, flags: u64) -> SysResult<()> {
        let mm = self.enter(tid)?;
        if flags == 0
            || flags & !(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) != 0
            || flags == MCL_ONFAULT
        {
            return Err(Errno::EINVAL);
        }
        if !self.can_do_mlock() {
            return Err(Errno::EPERM);
        }
        let lock_limit = self.rlimit(RLIMIT_MEMLOCK) >> PAGE_SHIFT;
        if flags & MCL_CURRENT != 0
            && self.mms[mm].total_vm > lock_limit
            && !self.capable(CAP_IPC_LOCK)
        {
            return Err(Errno::ENOMEM);
        }
        self.apply_mlockall_flags(mm, flags);
        if flags & MCL_CURRENT != 0 {
            self.mm_populate(mm, (0, TASK_SIZE), FaultFlags::empty());
        }
        Ok(())
    }

    /// munlockall(2).
    /// Locks: the mmap lock, write.
    pub fn munlockall(&mut self, tid: Tid) -> SysResult<()> {
        let mm = self.enter(tid)?;
        self.apply_mlockall_flags(mm, 0);
        Ok(())
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
