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

/// The flags GUP-fast accepts (anything else is a caller bug: WARN, -EINVAL).
const FAST_FLAGS: FollFlags = FollFlags::WRITE
    .union(FollFlags::LONGTERM)
    .union(FollFlags::FORCE)
    .union(FollFlags::PIN)
    .union(FollFlags::GET)
    .union(FollFlags::FAST_ONLY)
    .union(FollFlags::NOFAULT);

impl Kernel {
    /// get_user_pages_fast() / pin_user_pages_fast() (internal_get_user_pages_fast()): the
    /// pages the lockless walk takes, then the slow path (FOLL_TOUCH added, except for a
    /// long-term pin) for the rest unless FOLL_FAST_ONLY. Short if the slow path stopped
    /// after some pages; its error if none were taken.
    pub(crate) fn get_user_pages_fast(
        &mut self,
        mm: MmId,
        start: u64,
        nr: u64,
        foll: FollFlags,
    ) -> SysResult<Vec<Pfn>> {
        if !FAST_FLAGS.contains(foll) || foll.contains(FollFlags::GET | FollFlags::PIN) {
            return Err(Errno::EINVAL);
        }
        if foll.contains(FollFlags::PIN) {
            self.mms[mm].has_pinned = true;
        }
        let start = start & !(PAGE_SIZE - 1);
        if nr.checked_mul(PAGE_SIZE).and_then(|l| start.checked_add(l)).is_none() {
            return Ok(vec![]);
        }
        let mut pages = self.lockless_pages_from_mm(mm, start, nr, foll);
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
        let pin = foll.contains(FollFlags::PIN);
        let seq = self.mms[mm].write_protect_seq;
        if pin && seq & 1 == 1 {
            return vec![];
        }
        let mut pages = Vec::new();
        for i in 0..nr {
            match self.gup_fast_one(mm, start + i * PAGE_SIZE, foll) {
                Some(p) => pages.push(p),
                None => break,
            }
        }
        if pin && self.mms[mm].write_protect_seq != seq {
            // Roll back without the sanity check: the pages may be shared by now.
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
