//! mm/gup.c: get_user_pages() and pin_user_pages() (the slow path: __get_user_pages()'s loop
//! of follow_page_mask() and faultin_page(), FAULT_FLAG_UNSHARE for R/O pins of possibly shared
//! anonymous pages), the reference and pin accounting (try_grab_page(), unpin_user_page()), and
//! the populate helpers built on the same loop (__mm_populate() for MAP_POPULATE, mlocked VMAs
//! and mremap, faultin_vma_page_range() for MADV_POPULATE_*). GUP-fast is in gup_fast.rs.
//! Locks: the mmap lock, read, held by the caller.

use std::collections::HashMap;

use crate::errno::{Errno, SysResult};
use crate::kernel::Kernel;
use crate::mm::vm_fault::{FaultFlags, VmFault};
use crate::mm::vma::{vm::*, Vma};
use crate::mm::MmId;
use crate::page::{PageFlags, Pfn};
use crate::pgtable::table;
use crate::sched::Tid;

/// GUP_PIN_COUNTING_BIAS (include/linux/mm.h): what a FOLL_PIN adds to a small page's refcount.
pub const GUP_PIN_COUNTING_BIAS: i32 = 1024;

bitflags::bitflags! {
    /// FOLL_* (include/linux/mm.h, 5.19): what a GUP caller asks for.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct FollFlags: u32 {
        /// Check the PTE is writable (fault to break COW first).
        const WRITE = 0x01;
        /// Mark the page accessed (and dirty for a write).
        const TOUCH = 0x02;
        /// Take a plain reference on each page returned.
        const GET = 0x04;
        /// Ignore the VMA's access permissions.
        const FORCE = 0x10;
        /// Never fault: a missing page ends the walk with EFAULT.
        const NOFAULT = 0x80;
        /// The mm is not current's (FAULT_FLAG_REMOTE).
        const REMOTE = 0x2000;
        /// v5.19.0: a FOLL_FORCE write fault already broke COW, so a dirty R/O PTE will do.
        const COW = 0x4000;
        /// The pin may be held indefinitely (only with PIN).
        const LONGTERM = 0x10000;
        /// Take a DMA pin on each page returned (pin_user_pages*()).
        const PIN = 0x40000;
        /// GUP-fast only, never the slow path.
        const FAST_ONLY = 0x80000;
    }
}

/// The FOLL_GET references the `model.get_page` probe holds, per page (4 KiB piece). Every
/// FOLL_GET reference, the probe's and the pipes', is also counted in `Kernel::extra_refs`;
/// pins are counted only in the pages (their holders, io_uring rings, list them), so pinning
/// and unpinning cost what the kernel's do.
#[derive(Clone, Debug, Default)]
pub struct GupPins {
    pub(crate) probe_refs: HashMap<Pfn, i32>,
    /// The GUP-fast pin a scenario began (`model.pin_fast_begin`) and has not ended.
    pub(crate) fast: Option<crate::mm::gup_fast::FastPin>,
    /// The pins `model.pin_fast_end` took, held until `model.unpin_fast`.
    pub(crate) fast_pins: Vec<Pfn>,
}

/// What follow_page_mask() found.
enum Follow {
    /// The page, with the reference the flags asked for taken.
    Page(Pfn),
    /// Nothing usable mapped: fault and look again.
    Fault,
    /// -EMLINK: a R/O pin of a possibly shared anonymous page must unshare it first.
    Unshare,
}

/// vm_fault_to_errno(): what a failed fault makes of the GUP call.
fn vm_fault_to_errno(e: VmFault) -> Errno {
    if e.contains(VmFault::OOM) {
        Errno::ENOMEM
    } else {
        Errno::EFAULT
    }
}

/// check_vma_flags(): may GUP with `foll` touch `vma` at all?
fn check_vma_flags(vma: &Vma, foll: FollFlags) -> SysResult<()> {
    if vma.flags & (VM_IO | VM_PFNMAP) != 0 {
        return Err(Errno::EFAULT);
    }
    if foll.contains(FollFlags::WRITE) {
        if vma.flags & VM_WRITE == 0 && (!foll.contains(FollFlags::FORCE) || !vma.is_cow()) {
            return Err(Errno::EFAULT);
        }
    } else if vma.flags & VM_READ == 0
        && (!foll.contains(FollFlags::FORCE) || vma.flags & VM_MAYREAD == 0)
    {
        return Err(Errno::EFAULT);
    }
    Ok(())
}

/// The pages a GUP call took, or the error it stopped at before taking any: as the kernel
/// returns it, a short count when some pages were taken.
pub(crate) fn gup_result(pages: Vec<Pfn>, err: Option<Errno>) -> SysResult<Vec<Pfn>> {
    match err {
        Some(e) if pages.is_empty() => Err(e),
        _ => Ok(pages),
    }
}

/// Why __mm_populate() stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Populate {
    /// A fault sleeps in handle_userfault() at this page (FAULT_FLAG_ALLOW_RETRY callers).
    Retry(u64),
    /// A VMA could not be populated.
    Failed(Errno),
}

impl Kernel {
    /// __get_user_pages() over `[start, end)` inside `vma`: look each page up
    /// (follow_page_mask()), fault it in where it is missing, not writable enough or must be
    /// unshared (faultin_page() with `fault_flags`), look again, and with FOLL_GET / FOLL_PIN
    /// take a reference on it into `pages`. A write fault on a uffd-wp marker maps the page
    /// read-only first and only the next fault reports it. A failure names the page it
    /// stopped at.
    pub(crate) fn get_user_pages(
        &mut self,
        mm: MmId,
        vma: &Vma,
        (start, end): (u64, u64),
        foll: FollFlags,
        fault_flags: FaultFlags,
        pages: &mut Vec<Pfn>,
    ) -> Result<(), (u64, VmFault)> {
        let mut foll = foll;
        let mut addr = start;
        while addr < end {
            // GUP retries for as long as faults succeed without mapping the page; every
            // modelled fault maps it by the second try, so more tries mean a model bug, which
            // fails the call rather than hanging it.
            for tries in 0.. {
                let unshare = match self.follow_page_mask(mm, addr, foll) {
                    Follow::Page(p) => {
                        if foll.intersects(FollFlags::GET | FollFlags::PIN) {
                            pages.push(p);
                        }
                        break;
                    }
                    Follow::Fault => false,
                    Follow::Unshare => true,
                };
                if tries == 4 || foll.contains(FollFlags::NOFAULT) {
                    return Err((addr, VmFault::SIGBUS));
                }
                let mut flags = fault_flags;
                if unshare {
                    flags |= FaultFlags::UNSHARE;
                } else if foll.contains(FollFlags::WRITE) {
                    flags |= FaultFlags::WRITE;
                }
                if foll.contains(FollFlags::REMOTE) {
                    flags |= FaultFlags::REMOTE;
                }
                // The VMA may have gained an anon_vma on the previous fault.
                let vma = self.mms[mm].vmas.lookup(addr).unwrap_or(vma).for_fault();
                let r = if vma.is_hugetlb() {
                    // follow_hugetlb_page() calls hugetlb_fault() itself: no
                    // handle_mm_fault(), so neither PGFAULT nor the task's min_flt count it.
                    let mut vmf = crate::mm::memory::Vmf::new(mm, vma.clone(), addr, flags);
                    self.hugetlb_fault(&mut vmf).map_err(|e| (addr, e))?
                } else {
                    let r = self
                        .handle_mm_fault(mm, vma.clone(), addr, flags)
                        .map_err(|e| (addr, e))?;
                    self.account_fault(r);
                    r
                };
                // faultin_page(): a forced write that broke COW in a R/O VMA may follow the
                // dirty R/O entry it left (v5.19.0's FOLL_COW).
                if r.contains(VmFault::WRITE) && vma.flags & VM_WRITE == 0 {
                    foll |= FollFlags::COW;
                }
            }
            addr += crate::hw::PAGE_SIZE;
        }
        Ok(())
    }

    /// __get_user_pages_locked() for `nr` pages from `start` of `mm`, across VMAs (each
    /// admitted by check_vma_flags()): the pages taken and the error that stopped the walk,
    /// if any. FOLL_PIN marks the mm MMF_HAS_PINNED first.
    pub(crate) fn __get_user_pages(
        &mut self,
        mm: MmId,
        start: u64,
        nr: u64,
        foll: FollFlags,
    ) -> (Vec<Pfn>, Option<Errno>) {
        if foll.contains(FollFlags::PIN) {
            self.mms[mm].has_pinned = true;
        }
        let mut pages = Vec::new();
        let start = start & !(crate::hw::PAGE_SIZE - 1);
        let Some(end) = nr
            .checked_mul(crate::hw::PAGE_SIZE)
            .and_then(|l| start.checked_add(l))
        else {
            return (pages, Some(Errno::EFAULT));
        };
        let mut addr = start;
        while addr < end {
            let Some(vma) = self.mms[mm].vmas.lookup(addr).map(Vma::for_fault) else {
                return (pages, Some(Errno::EFAULT));
            };
            if let Err(e) = check_vma_flags(&vma, foll) {
                return (pages, Some(e));
            }
            let stop = vma.end.min(end);
            let flags = if foll.contains(FollFlags::REMOTE) {
                FaultFlags::empty()
            } else {
                FaultFlags::ALLOW_RETRY | FaultFlags::KILLABLE
            };
            if let Err((_, e)) =
                self.get_user_pages(mm, &vma, (addr, stop), foll, flags, &mut pages)
            {
                return (pages, Some(vm_fault_to_errno(e)));
            }
            addr = stop;
        }
        (pages, None)
    }

    /// get_user_pages() / pin_user_pages() on `mm` (their _remote twins with FOLL_REMOTE):
    /// is_valid_gup_flags() first (a get_* call may not ask for PIN or LONGTERM, a pin_* call
    /// may not ask for GET), then the walk. Returns the pages taken: short if the walk stopped
    /// after some, else its error.
    pub(crate) fn gup(
        &mut self,
        mm: MmId,
        start: u64,
        nr: u64,
        foll: FollFlags,
    ) -> SysResult<Vec<Pfn>> {
        let pin = foll.contains(FollFlags::PIN);
        if (pin && foll.contains(FollFlags::GET))
            || (!pin && foll.contains(FollFlags::LONGTERM))
            || foll.contains(FollFlags::FAST_ONLY)
        {
            return Err(Errno::EINVAL);
        }
        // Every variant marks the pages accessed but plain pin_user_pages().
        let touch = if pin && !foll.contains(FollFlags::REMOTE) {
            FollFlags::empty()
        } else {
            FollFlags::TOUCH
        };
        let (pages, err) = self.__get_user_pages(mm, start, nr, foll | touch);
        gup_result(pages, err)
    }

    /// follow_page(): the page mapped at `addr`, looked up without faulting; 5.19 refuses
    /// FOLL_PIN here (only the get_user_pages family may pin).
    pub(crate) fn follow_page(&mut self, mm: MmId, addr: u64, foll: FollFlags) -> Option<Pfn> {
        if foll.contains(FollFlags::PIN) {
            return None;
        }
        self.mms[mm].vmas.lookup(addr)?;
        match self.follow_page_mask(mm, addr, foll) {
            Follow::Page(p) => Some(p),
            Follow::Fault | Follow::Unshare => None,
        }
    }

    /// follow_page_mask(): the page mapped at `addr` as GUP needs it (present, writable for
    /// FOLL_WRITE, exclusive for a R/O pin of an anonymous page), with the reference `foll`
    /// asks for taken. With FOLL_TOUCH a normal page is marked accessed (and dirty for a
    /// write, follow_page_pte()), a THP's PMD made young (and dirty, touch_pmd()).
    fn follow_page_mask(&mut self, mm: MmId, addr: u64, foll: FollFlags) -> Follow {
        let write = foll.contains(FollFlags::WRITE);
        let root = self.mms[mm].pgd;
        let Some(leaf) = table::walk_leaf(&self.phys, root, addr) else {
            return Follow::Fault;
        };
        let pfn = match leaf {
            table::Leaf::Pmd(s) => {
                let e = table::get_pmd(&self.phys, s);
                let head = e.pfn();
                let hugetlb = self
                    .pages
                    .folio_test(self.pages.folio(head), PageFlags::HUGETLB);
                // follow_trans_huge_pmd()'s can_follow_write_pmd(); hugetlb's walker faults
                // on any write to a R/O entry.
                let cow_ok = !hugetlb && foll.contains(FollFlags::FORCE | FollFlags::COW);
                if write && !e.write() && !(cow_ok && e.dirty()) {
                    return Follow::Fault;
                }
                let pfn = head + ((addr >> crate::hw::PAGE_SHIFT) & 511);
                if !e.write() && self.gup_must_unshare(foll, pfn) {
                    return Follow::Unshare;
                }
                if foll.contains(FollFlags::TOUCH) && !hugetlb {
                    let mut t = e.mkyoung();
                    if write {
                        t = t.mkdirty();
                    }
                    table::set_pmd(&mut self.phys, s, t);
                }
                pfn
            }
            table::Leaf::Pte(s) => {
                let e = table::get(&self.phys, s);
                if !e.is_present() || (e.is_protnone() && !foll.contains(FollFlags::FORCE)) {
                    return Follow::Fault;
                }
                let cow_ok = foll.contains(FollFlags::FORCE | FollFlags::COW) && e.dirty();
                if write && !e.write() && !cow_ok {
                    return Follow::Fault;
                }
                // vm_normal_page() is NULL for the zero page, which GUP returns as it is.
                let pfn = e.pfn();
                if !e.write() && self.gup_must_unshare(foll, pfn) {
                    return Follow::Unshare;
                }
                if foll.contains(FollFlags::TOUCH) && !e.special() {
                    let f = self.pages.folio(pfn);
                    if write && !e.dirty() && !self.pages.folio_test(f, PageFlags::DIRTY) {
                        self.set_page_dirty(pfn);
                    }
                    self.folio_mark_accessed(f);
                }
                pfn
            }
        };
        self.try_grab_page(pfn, foll);
        Follow::Page(pfn)
    }

    /// gup_must_unshare(): a R/O pin (PIN without WRITE) of an anonymous page that is not
    /// PG_anon_exclusive must unshare it first. Without PG_anon_exclusive (5.18) nothing is
    /// unshared.
    pub(crate) fn gup_must_unshare(&self, foll: FollFlags, pfn: Pfn) -> bool {
        if foll & (FollFlags::WRITE | FollFlags::PIN) != FollFlags::PIN
            || !self.cfg.features.anon_exclusive
        {
            return false;
        }
        let f = self.pages.folio(pfn);
        if !self.pages.folio_test(f, PageFlags::ANON) {
            return false;
        }
        // A hugetlb page keeps the flag on its head, a THP on each subpage.
        let page = if self.pages.folio_test(f, PageFlags::HUGETLB) {
            f.pfn()
        } else {
            pfn
        };
        !self.pages.page(page).anon_exclusive()
    }

    /// try_grab_page(): FOLL_GET takes one reference; FOLL_PIN takes GUP_PIN_COUNTING_BIAS on
    /// a small page, one reference and one compound_pincount on a large folio.
    pub(crate) fn try_grab_page(&mut self, pfn: Pfn, foll: FollFlags) {
        let f = self.pages.folio(pfn);
        if foll.contains(FollFlags::PIN) {
            self.vmstat.nr_foll_pin_acquired += 1;
            let refs = if self.pages.folio_test_large(f) {
                self.pages.add_compound_pincount(f.pfn(), 1);
                1
            } else {
                GUP_PIN_COUNTING_BIAS
            };
            self.pages.folio_ref_add(f, refs);
        } else if foll.contains(FollFlags::GET) {
            self.pages.folio_ref_add(f, 1);
            *self.extra_refs.entry(pfn).or_default() += 1;
        }
    }

    /// put_page() of a FOLL_GET reference GUP took.
    pub(crate) fn put_user_page(&mut self, pfn: Pfn) {
        let held = self.extra_refs.entry(pfn).or_default();
        *held -= 1;
        if *held == 0 {
            self.extra_refs.remove(&pfn);
        }
        self.put_page(pfn);
    }

    /// unpin_user_page() (gup_put_folio(FOLL_PIN)): give back one pin: the bias of a small
    /// page, one reference and one compound_pincount of a large folio. `dirty` is
    /// unpin_user_pages_dirty_lock()'s make_dirty (set_page_dirty_lock() on a clean folio).
    pub(crate) fn unpin_user_page(&mut self, pfn: Pfn, dirty: bool) {
        let f = self.pages.folio(pfn);
        if dirty && !self.pages.folio_test(f, PageFlags::DIRTY) {
            self.set_page_dirty(pfn);
        }
        self.vmstat.nr_foll_pin_released += 1;
        let refs = if self.pages.folio_test_large(f) {
            self.pages.add_compound_pincount(f.pfn(), -1);
            1
        } else {
            GUP_PIN_COUNTING_BIAS
        };
        self.pages.folio_ref_add(f, 1 - refs);
        self.folio_put(f);
    }

    /// unpin_user_pages_dirty_lock() over `pages`.
    pub(crate) fn unpin_user_pages(&mut self, pages: &[Pfn], dirty: bool) {
        for &p in pages {
            self.unpin_user_page(p, dirty);
        }
    }

    /// page_maybe_dma_pinned() of the page at `pfn` (its folio's pincount or bias).
    pub(crate) fn page_maybe_dma_pinned(&self, pfn: Pfn) -> bool {
        self.folio_maybe_dma_pinned(self.pages.folio(pfn))
    }

    /// __mm_populate() → populate_vma_page_range() for every VMA of `[start, end)`: a write
    /// fault for private writable VMAs (FOLL_WRITE breaks COW), a read fault otherwise;
    /// VMAs without any access and IO/PFN maps are skipped, and errors are ignored as
    /// mm_populate() does. Faults count against the caller's min_flt, as GUP faults do in
    /// 5.19. `fault_flags` carries FAULT_FLAG_ALLOW_RETRY when the caller passed `locked`:
    /// then a fault that sleeps in handle_userfault() stops it, naming the page it stopped at.
    pub(crate) fn mm_populate(
        &mut self,
        mm: MmId,
        range: (u64, u64),
        fault_flags: FaultFlags,
    ) -> Option<u64> {
        match self.populate_range(mm, range, fault_flags, true) {
            Err(Populate::Retry(at)) => Some(at),
            _ => None,
        }
    }

    /// __mm_populate() with its `ignore_errors`: mlock() passes 0 and hears of the first
    /// VMA that could not be populated (EFAULT for one without access, the fault's errno
    /// otherwise). A VM_LOCKONFAULT VMA is left to fault in later (populate_vma_page_range()).
    pub(crate) fn populate_range(
        &mut self,
        mm: MmId,
        (start, end): (u64, u64),
        fault_flags: FaultFlags,
        ignore_errors: bool,
    ) -> Result<(), Populate> {
        let mut addr = start;
        while addr < end {
            let Some(vma) = self.mms[mm]
                .vmas
                .find(addr)
                .filter(|v| v.start < end)
                .map(Vma::for_fault)
            else {
                break;
            };
            let from = addr.max(vma.start);
            let stop = vma.end.min(end);
            addr = stop;
            if vma.flags & (VM_IO | VM_PFNMAP) != 0 || vma.flags & VM_LOCKONFAULT != 0 {
                continue;
            }
            // check_vma_flags(): without FOLL_FORCE (only an accessible VMA gets it) a VMA
            // that cannot be read is EFAULT.
            let err = if !vma.accessible() {
                Errno::EFAULT
            } else {
                let mut foll = FollFlags::TOUCH | FollFlags::FORCE;
                if vma.flags & (VM_WRITE | VM_SHARED) == VM_WRITE {
                    foll |= FollFlags::WRITE;
                }
                match self.get_user_pages(mm, &vma, (from, stop), foll, fault_flags, &mut vec![]) {
                    Ok(()) => continue,
                    Err((at, e)) if e.contains(VmFault::RETRY) => return Err(Populate::Retry(at)),
                    // vm_fault_to_errno()
                    Err((_, e)) if e.contains(VmFault::OOM) => Errno::ENOMEM,
                    Err(_) => Errno::EFAULT,
                }
            };
            if !ignore_errors {
                return Err(Populate::Failed(err));
            }
        }
        Ok(())
    }

    /// __mm_populate() as mremap() runs it for a grown VM_LOCKED VMA, passing `locked`: a
    /// userfault sleeps in the syscall (ERESTARTNOINTR, restart_syscall() goes on from the page
    /// it stopped at); otherwise the syscall returns `ret`.
    pub(crate) fn mm_populate_locked(
        &mut self,
        tid: Tid,
        mm: MmId,
        (start, end): (u64, u64),
        ret: u64,
    ) -> SysResult<u64> {
        let flags = FaultFlags::ALLOW_RETRY | FaultFlags::KILLABLE;
        match self.mm_populate(mm, (start, end), flags) {
            Some(at) => {
                self.tasks[tid].restart = Some(crate::fs::userfaultfd::Restart::Populate {
                    start: at,
                    end,
                    ret,
                });
                Err(Errno::ERESTARTNOINTR)
            }
            None => Ok(ret),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::invariants::Rule;
    use crate::pgtable::pte::Pte;
    use crate::uapi::*;
    use crate::Config;

    const PAGE: u64 = crate::hw::PAGE_SIZE;
    const HPAGE: u64 = 2 << 20;

    /// A process with `len` bytes of written private anonymous memory (THP-aligned and
    /// MADV_HUGEPAGE if `huge`).
    fn process(len: u64, huge: bool) -> (Kernel, Tid, MmId, u64) {
        let mut k = Kernel::new(Config::default());
        let t = k.spawn_process(0).unwrap();
        let rw = PROT_READ | PROT_WRITE;
        let m = k
            .mmap(t, 0, len + HPAGE, rw, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
            .unwrap();
        let a = m.next_multiple_of(HPAGE);
        if huge {
            k.madvise(t, a, len, MADV_HUGEPAGE).unwrap();
        }
        k.memset(t, a, 1, len).unwrap();
        let mm = k.tasks[t].mm;
        (k, t, mm, a)
    }

    fn pte(k: &Kernel, mm: MmId, addr: u64) -> (Pfn, Pte) {
        table::leaf_frame(&k.phys, k.mms[mm].pgd, addr).unwrap()
    }

    #[test]
    fn get_and_pin_flags_are_validated_before_the_walk() {
        let (mut k, _, mm, a) = process(PAGE, false);
        let bad = [
            FollFlags::GET | FollFlags::PIN,
            FollFlags::GET | FollFlags::LONGTERM,
            FollFlags::LONGTERM,
            FollFlags::PIN | FollFlags::FAST_ONLY,
        ];
        for f in bad {
            assert_eq!(k.gup(mm, a, 1, f), Err(Errno::EINVAL), "{f:?}");
        }
        assert!(k.extra_refs.is_empty() && !k.mms[mm].has_pinned);
    }

    #[test]
    fn follow_page_never_pins() {
        let (mut k, _, mm, a) = process(PAGE, false);
        let (pfn, _) = pte(&k, mm, a);
        let before = k.page_count(pfn);
        assert_eq!(k.follow_page(mm, a, FollFlags::PIN), None);
        assert_eq!(k.page_count(pfn), before);
        assert_eq!(k.follow_page(mm, a, FollFlags::GET), Some(pfn));
        assert_eq!(k.page_count(pfn), before + 1);
        k.put_user_page(pfn);
    }

    #[test]
    fn a_small_page_pin_adds_the_bias_and_a_large_one_the_pincount() {
        let (mut k, _, mm, a) = process(PAGE, false);
        let refs = k.page_count(pte(&k, mm, a).0);
        let p = k.gup(mm, a, 1, FollFlags::PIN).unwrap();
        assert_eq!(k.page_count(p[0]), refs + GUP_PIN_COUNTING_BIAS);
        assert!(k.page_maybe_dma_pinned(p[0]) && k.mms[mm].has_pinned);
        assert_eq!(k.vmstat.nr_foll_pin_acquired, 1);
        k.unpin_user_pages(&p, false);
        assert_eq!(k.page_count(p[0]), refs);
        assert_eq!(k.vmstat.nr_foll_pin_released, 1);

        let (mut k, _, mm, a) = process(HPAGE, true);
        let head = pte(&k, mm, a).0;
        assert_eq!(k.pages.compound_order(head), 9, "a PMD-mapped THP");
        let refs = k.page_count(head);
        let p = k.gup(mm, a + 3 * PAGE, 2, FollFlags::PIN).unwrap();
        assert_eq!(p, vec![head + 3, head + 4]);
        assert_eq!(k.pages.compound_pincount(head), 2);
        assert_eq!(k.page_count(head), refs + 2);
        assert!(
            k.page_maybe_dma_pinned(head + 100),
            "the pincount is folio-wide"
        );
        k.unpin_user_pages(&p, false);
        assert_eq!(k.pages.compound_pincount(head), 0);
        assert_eq!(k.page_count(head), refs);
    }

    #[test]
    fn a_read_only_pin_of_a_shared_page_unshares_it_read_only_and_clean() {
        let (mut k, t, mm, a) = process(PAGE, false);
        let (old, _) = pte(&k, mm, a);
        let c = k.fork(t).unwrap();
        let before = pte(&k, mm, a).1;
        let p = k.gup(mm, a, 1, FollFlags::PIN).unwrap();
        let (new, e) = pte(&k, mm, a);
        assert_ne!(new, old);
        assert_eq!(p, vec![new]);
        assert!(!e.write() && !e.dirty(), "neither write nor dirty: {e:?}");
        assert_eq!(e.soft_dirty(), before.soft_dirty());
        assert!(k.pages.page(new).anon_exclusive());
        let child = k.tasks[c].mm;
        assert_eq!(pte(&k, child, a).0, old, "the child keeps the old page");
        k.pinned_anon_is_exclusive_for_test().unwrap();
        // The pinned page is exclusive: the write reuses it, the pin stays coherent.
        k.store(t, a, 0x77).unwrap();
        assert_eq!(pte(&k, mm, a).0, new);
        assert_eq!(k.phys.load(new, 0), 0x77);
        k.unpin_user_pages(&p, false);
        k.check_invariants().unwrap();
    }

    #[test]
    fn fork_copies_a_pinned_page_for_the_child_and_leaves_the_parent_writable() {
        let (mut k, t, mm, a) = process(PAGE, false);
        let p = k.gup(mm, a, 1, FollFlags::PIN | FollFlags::WRITE).unwrap();
        let c = k.fork(t).unwrap();
        let (pfn, e) = pte(&k, mm, a);
        assert_eq!(pfn, p[0]);
        assert!(e.write(), "the parent's entry is left as it was");
        let (cpfn, ce) = pte(&k, k.tasks[c].mm, a);
        assert_ne!(cpfn, pfn);
        assert!(ce.write() && k.pages.page(cpfn).anon_exclusive());
        assert_eq!(k.phys.load(cpfn, 0), 1);
        k.pinned_anon_is_exclusive_for_test().unwrap();
        k.unpin_user_pages(&p, false);
        k.check_invariants().unwrap();
    }

    #[test]
    fn a_pin_without_a_holder_and_a_shared_pinned_page_are_violations() {
        let (mut k, _, mm, a) = process(PAGE, false);
        // A pin nothing holds: the page's count is more than its holders explain.
        let p = k.gup(mm, a, 1, FollFlags::PIN).unwrap();
        assert_eq!(k.check_invariants().unwrap_err().rule, Rule::Refcount);
        // A ring that holds it but that no open file refers to (it outlived its process).
        let buf = crate::fs::io_uring::MappedUbuf {
            ubuf: a,
            len: PAGE,
            pages: p.clone(),
        };
        k.rings.insert(crate::fs::io_uring::IoRing {
            user_bufs: vec![buf],
        });
        assert_eq!(
            k.check_invariants().unwrap_err().rule,
            Rule::GupRefsHaveHolders
        );
        // A pinned page fork or reclaim shared: sanity_check_pinned_pages() would BUG.
        k.pages
            .page_mut(p[0])
            .flags
            .remove(PageFlags::ANON_EXCLUSIVE);
        let r = k.pinned_anon_is_exclusive_for_test();
        assert_eq!(r.unwrap_err().rule, Rule::PinnedAnonIsExclusive);
    }

    #[test]
    fn a_forced_write_copies_a_read_only_private_page_and_keeps_it_read_only() {
        let (mut k, t, mm, _) = process(PAGE, false);
        let r = k
            .mmap(t, 0, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
            .unwrap();
        k.load(t, r).unwrap();
        let f = FollFlags::GET | FollFlags::WRITE;
        assert_eq!(k.gup(mm, r, 1, f), Err(Errno::EFAULT), "no FOLL_FORCE");
        let p = k.gup(mm, r, 1, f | FollFlags::FORCE).unwrap();
        let (pfn, e) = pte(&k, mm, r);
        assert_eq!(p, vec![pfn]);
        assert!(!e.write() && e.dirty());
        assert!(k.pages.page_anon(pfn));
        k.put_user_page(pfn);
        k.check_invariants().unwrap();
    }
}
