//! mm/gup.c's GUP-fast: internal_get_user_pages_fast() walks the page tables without the
//! mmap lock (lockless_pages_from_mm()), bails out at the first entry it cannot take as it
//! is (not present, not writable enough, special like the zero page, or a R/O pin of a page
//! that must be unshared), and hands the rest to the slow path. A pin taken while fork()
//! write-protects the mm (mm->write_protect_seq odd, or moved during the walk) is given back
//! and retaken by the slow path, which unshares.

use crate::errno::{Errno, SysResult};
use crate::hw::PAGE_SIZE;
use crate::kernel::Kernel;
use crate::mm::gup::{gup_result, FollFlags};
use crate::mm::MmId;
use crate::page::Pfn;
use crate::pgtable::table;
use crate::sched::Tid;

/// The flags GUP-fast accepts (anything else is a caller bug: WARN, -EINVAL).
const FAST_FLAGS: FollFlags = FollFlags::WRITE
    .union(FollFlags::LONGTERM)
    .union(FollFlags::FORCE)
    .union(FollFlags::PIN)
    .union(FollFlags::GET)
    .union(FollFlags::FAST_ONLY)
    .union(FollFlags::NOFAULT);

/// A pin_user_pages_fast() a scenario stopped between its lockless walk and the recheck of
/// write_protect_seq (`model.pin_fast_begin` / `model.pin_fast_end`), as a racing fork()
/// on another CPU sees it: the pages are pinned, the sequence count read, nothing checked.
#[derive(Clone, Debug)]
pub struct FastPin {
    tid: Tid,
    mm: MmId,
    start: u64,
    nr: u64,
    foll: FollFlags,
    /// The count read before the walk; None if it was odd (no lockless walk at all).
    seq: Option<u64>,
    pages: Vec<Pfn>,
}

impl Kernel {
    /// get_user_pages_fast() / pin_user_pages_fast() (internal_get_user_pages_fast()): the
    /// pages the lockless walk takes, then the slow path for the rest.
    pub(crate) fn get_user_pages_fast(
        &mut self,
        mm: MmId,
        start: u64,
        nr: u64,
        foll: FollFlags,
    ) -> SysResult<Vec<Pfn>> {
        let Some(start) = self.gup_fast_prepare(mm, start, nr, foll)? else {
            return Ok(vec![]);
        };
        let pages = self.lockless_pages_from_mm(mm, start, nr, foll);
        self.gup_fast_fallback(mm, (start, nr), foll, pages)
    }

    /// internal_get_user_pages_fast() before the walk: the flags it accepts (EINVAL for
    /// others), MMF_HAS_PINNED for a pin, and the page-aligned start; None when the range
    /// wraps (nothing to take).
    fn gup_fast_prepare(
        &mut self,
        mm: MmId,
        start: u64,
        nr: u64,
        foll: FollFlags,
    ) -> SysResult<Option<u64>> {
        if !FAST_FLAGS.contains(foll) || foll.contains(FollFlags::GET | FollFlags::PIN) {
            return Err(Errno::EINVAL);
        }
        if foll.contains(FollFlags::PIN) {
            self.mms[mm].has_pinned = true;
        }
        let start = start & !(PAGE_SIZE - 1);
        let wraps = nr
            .checked_mul(PAGE_SIZE)
            .and_then(|l| start.checked_add(l))
            .is_none();
        Ok((!wraps).then_some(start))
    }

    /// internal_get_user_pages_fast() after the walk took `pages`: the slow path (FOLL_TOUCH
    /// added, except for a long-term pin) for the rest unless FOLL_FAST_ONLY. Short if the
    /// slow path stopped after some pages; its error if none were taken.
    fn gup_fast_fallback(
        &mut self,
        mm: MmId,
        (start, nr): (u64, u64),
        foll: FollFlags,
        mut pages: Vec<Pfn>,
    ) -> SysResult<Vec<Pfn>> {
        let got = pages.len() as u64;
        if got == nr || foll.contains(FollFlags::FAST_ONLY) {
            return Ok(pages);
        }
        let mut slow = foll;
        if !foll.contains(FollFlags::LONGTERM) {
            slow |= FollFlags::TOUCH;
        }
        let (rest, err) = self.__get_user_pages(mm, start + got * PAGE_SIZE, nr - got, slow);
        let taken_any = got > 0;
        pages.extend(rest);
        if taken_any {
            Ok(pages)
        } else {
            gup_result(pages, err)
        }
    }

    /// `model.pin_fast_begin`: pin_user_pages_fast() of `nr` pages from `addr` (FOLL_WRITE if
    /// `write`) in `tid`'s mm up to the end of its lockless walk: write_protect_seq read, the
    /// pages it could take pinned. Returns how many; EBUSY if one is begun already.
    pub fn pin_fast_begin(&mut self, tid: Tid, addr: u64, nr: u64, write: bool) -> SysResult<u64> {
        if self.gup_pins.fast.is_some() {
            return Err(Errno::EBUSY);
        }
        let mm = self.task(tid)?.mm;
        let mut foll = FollFlags::PIN;
        if write {
            foll |= FollFlags::WRITE;
        }
        let (start, nr) = match self.gup_fast_prepare(mm, addr, nr, foll)? {
            Some(start) => (start, nr),
            None => (addr, 0),
        };
        let seq = self.gup_fast_seq_begin(mm, foll);
        let pages = match seq {
            Some(_) => self.gup_fast_walk(mm, start, nr, foll),
            None => vec![],
        };
        let got = pages.len() as u64;
        self.gup_pins.fast = Some(FastPin {
            tid,
            mm,
            start,
            nr,
            foll,
            seq,
            pages,
        });
        Ok(got)
    }

    /// `model.pin_fast_end`: the rest of the call `pin_fast_begin` began: the
    /// write_protect_seq recheck (a fork() meanwhile makes it give every pin back), then the
    /// slow path. The pins are held until `unpin_fast`. Returns how many pages are pinned, or
    /// the slow path's error; ENOENT if none was begun, ESRCH if its task or mm is gone
    /// (the walk's pins are given back).
    pub fn pin_fast_end(&mut self) -> SysResult<u64> {
        let f = self.gup_pins.fast.take().ok_or(Errno::ENOENT)?;
        if self.task(f.tid).map(|t| t.mm) != Ok(f.mm) {
            self.unpin_user_pages(&f.pages, false);
            return Err(Errno::ESRCH);
        }
        let pages = match f.seq {
            Some(seq) => self.gup_fast_seq_end(f.mm, f.foll, seq, f.pages),
            None => f.pages,
        };
        let pages = self.gup_fast_fallback(f.mm, (f.start, f.nr), f.foll, pages)?;
        self.gup_pins.fast_pins.extend(&pages);
        Ok(pages.len() as u64)
    }

    /// `model.unpin_fast`: unpin_user_pages() of every pin `pin_fast_end` took; returns how
    /// many.
    pub fn unpin_fast(&mut self) -> u64 {
        let pages = std::mem::take(&mut self.gup_pins.fast_pins);
        self.unpin_user_pages(&pages, false);
        pages.len() as u64
    }

    /// The pins the GUP-fast probe holds: those of a walk not yet rechecked, then those kept.
    pub(crate) fn probe_pins(&self) -> impl Iterator<Item = Pfn> + '_ {
        let walking = self.gup_pins.fast.iter().flat_map(|f| f.pages.iter());
        walking.chain(self.gup_pins.fast_pins.iter()).copied()
    }

    /// lockless_pages_from_mm(): walk `nr` pages from `start` taking each page that is mapped
    /// as the flags need, stopping at the first that is not. A pin is only kept if no fork()
    /// ran its write-protecting copy meanwhile (write_protect_seq unchanged and even).
    fn lockless_pages_from_mm(
        &mut self,
        mm: MmId,
        start: u64,
        nr: u64,
        foll: FollFlags,
    ) -> Vec<Pfn> {
        let Some(seq) = self.gup_fast_seq_begin(mm, foll) else {
            return vec![];
        };
        let pages = self.gup_fast_walk(mm, start, nr, foll);
        self.gup_fast_seq_end(mm, foll, seq, pages)
    }

    /// raw_read_seqcount(write_protect_seq) before a pinning walk: None while fork() is
    /// write-protecting the mm (odd), when GUP-fast must not pin at all.
    fn gup_fast_seq_begin(&self, mm: MmId, foll: FollFlags) -> Option<u64> {
        let seq = self.mms[mm].write_protect_seq;
        (!foll.contains(FollFlags::PIN) || seq & 1 == 0).then_some(seq)
    }

    /// The lockless walk itself: the pages taken, up to the first that cannot be.
    fn gup_fast_walk(&mut self, mm: MmId, start: u64, nr: u64, foll: FollFlags) -> Vec<Pfn> {
        let mut pages = Vec::new();
        for i in 0..nr {
            match self.gup_fast_one(mm, start + i * PAGE_SIZE, foll) {
                Some(p) => pages.push(p),
                None => break,
            }
        }
        pages
    }

    /// read_seqcount_retry() after a pinning walk: if a fork() ran meanwhile, every pin is
    /// given back (without the sanity check: the pages may be shared by now) and none kept.
    fn gup_fast_seq_end(
        &mut self,
        mm: MmId,
        foll: FollFlags,
        seq: u64,
        pages: Vec<Pfn>,
    ) -> Vec<Pfn> {
        if foll.contains(FollFlags::PIN) && self.mms[mm].write_protect_seq != seq {
            self.unpin_user_pages(&pages, false);
            return vec![];
        }
        pages
    }

    /// gup_pte_range() / gup_huge_pmd() for one page: the entry must be present, accessible,
    /// writable for FOLL_WRITE (even with FOLL_FORCE) and not special; the page is grabbed,
    /// and given back again if a R/O pin finds it must be unshared.
    fn gup_fast_one(&mut self, mm: MmId, addr: u64, foll: FollFlags) -> Option<Pfn> {
        let write = foll.contains(FollFlags::WRITE);
        let root = self.mms[mm].pgd;
        let (pfn, writable, unshare_page) = match table::walk_leaf(&self.phys, root, addr)? {
            table::Leaf::Pmd(s) => {
                let e = table::get_pmd(&self.phys, s);
                if e.is_protnone() || (write && !e.write()) {
                    return None;
                }
                let pfn = e.pfn() + ((addr >> crate::hw::PAGE_SHIFT) & 511);
                (pfn, e.write(), e.pfn())
            }
            table::Leaf::Pte(s) => {
                let e = table::get(&self.phys, s);
                if !e.is_present() || e.is_protnone() || (write && !e.write()) || e.special() {
                    return None;
                }
                (e.pfn(), e.write(), e.pfn())
            }
        };
        self.try_grab_page(pfn, foll);
        if !writable && self.gup_must_unshare(foll, unshare_page) {
            self.gup_put_page(pfn, foll);
            return None;
        }
        Some(pfn)
    }

    /// gup_put_folio(): give back what try_grab_page() took with `foll`.
    pub(crate) fn gup_put_page(&mut self, pfn: Pfn, foll: FollFlags) {
        if foll.contains(FollFlags::PIN) {
            self.unpin_user_page(pfn, false);
        } else if foll.contains(FollFlags::GET) {
            self.put_user_page(pfn);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::uapi::*;
    use crate::{Config, Kernel};

    /// A private anonymous page mapped in `t`'s process.
    fn map(k: &mut Kernel, t: crate::sched::Tid) -> u64 {
        let rw = PROT_READ | PROT_WRITE;
        k.mmap(t, 0, PAGE_SIZE, rw, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
            .unwrap()
    }

    /// A process with one written anonymous page.
    fn one_page() -> (Kernel, crate::sched::Tid, MmId, u64) {
        let mut k = Kernel::new(Config::default());
        let t = k.spawn_process(0).unwrap();
        let a = map(&mut k, t);
        k.memset(t, a, 1, PAGE_SIZE).unwrap();
        let mm = k.tasks[t].mm;
        (k, t, mm, a)
    }

    #[test]
    fn a_fork_during_the_lockless_walk_makes_it_give_its_pins_back() {
        let (mut k, t, mm, a) = one_page();
        let foll = FollFlags::PIN;
        // internal_get_user_pages_fast() marks the mm before the walk.
        k.mms[mm].has_pinned = true;
        let refs = k.page_count(table::leaf_frame(&k.phys, k.mms[mm].pgd, a).unwrap().0);
        let seq = k.gup_fast_seq_begin(mm, foll).expect("no fork running");
        let pages = k.gup_fast_walk(mm, a, 1, foll);
        assert_eq!(pages.len(), 1);
        let pfn = pages[0];
        assert!(k.page_maybe_dma_pinned(pfn));
        // fork() runs between the walk and the recheck (it copies the pinned page for the
        // child and moves the sequence count by two).
        let c = k.fork(t).unwrap();
        assert_eq!(k.mms[mm].write_protect_seq, seq + 2);
        assert!(k.gup_fast_seq_end(mm, foll, seq, pages).is_empty());
        assert!(!k.page_maybe_dma_pinned(pfn), "the pin was given back");
        assert_eq!(k.page_count(pfn), refs, "the pin's references are gone");
        let child = k.tasks[c].mm;
        let cpfn = table::leaf_frame(&k.phys, k.mms[child].pgd, a).unwrap().0;
        assert_ne!(
            cpfn, pfn,
            "the child got a copy of the page pinned at fork time"
        );
        k.check_invariants().unwrap();
    }

    #[test]
    fn an_odd_sequence_count_sends_a_pin_to_the_slow_path() {
        let (mut k, _, mm, a) = one_page();
        k.mms[mm].write_protect_seq = 1;
        assert_eq!(k.gup_fast_seq_begin(mm, FollFlags::PIN), None);
        assert_eq!(k.gup_fast_seq_begin(mm, FollFlags::GET), Some(1));
        // The slow path still pins (under the mmap lock, which fork holds for write).
        let p = k.get_user_pages_fast(mm, a, 1, FollFlags::PIN).unwrap();
        assert_eq!(p.len(), 1);
        assert!(k.page_maybe_dma_pinned(p[0]));
        k.unpin_user_pages(&p, false);
    }

    #[test]
    fn gup_fast_refuses_flags_it_does_not_take() {
        let (mut k, _, mm, a) = one_page();
        for f in [
            FollFlags::GET | FollFlags::PIN,
            FollFlags::GET | FollFlags::TOUCH,
            FollFlags::GET | FollFlags::REMOTE,
        ] {
            assert_eq!(
                k.get_user_pages_fast(mm, a, 1, f),
                Err(Errno::EINVAL),
                "{f:?}"
            );
        }
        assert!(k.extra_refs.is_empty());
    }

    #[test]
    fn the_zero_page_is_left_to_the_slow_path_and_fast_only_gets_nothing() {
        let (mut k, t, mm, _) = one_page();
        let z = map(&mut k, t);
        k.load(t, z).unwrap();
        let fast = FollFlags::GET | FollFlags::FAST_ONLY;
        assert!(k.get_user_pages_fast(mm, z, 1, fast).unwrap().is_empty());
        let p = k.get_user_pages_fast(mm, z, 1, FollFlags::GET).unwrap();
        assert_eq!(p, vec![crate::page::alloc::ZERO_PFN]);
        k.put_user_page(p[0]);
    }
}
