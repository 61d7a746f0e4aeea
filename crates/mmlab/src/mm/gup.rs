//! mm/gup.c, the parts the model's syscalls use so far: __get_user_pages()'s loop of
//! follow_page_mask() and faultin_page(), FOLL_TOUCH, and the populate helpers built on it
//! (__mm_populate() for MAP_POPULATE, mlocked VMAs and mremap, faultin_vma_page_range() for
//! MADV_POPULATE_*). Locks: the mmap lock, read, held by the caller.

use crate::errno::{Errno, SysResult};
use crate::kernel::Kernel;
use crate::mm::vm_fault::{FaultFlags, VmFault};
use crate::mm::vma::{vm::*, Vma};
use crate::mm::MmId;
use crate::page::PageFlags;
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
        /// Ignore the VMA's access permissions.
        const FORCE = 0x10;
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
    /// __get_user_pages() over `[start, end)` inside `vma`, returning no pages: look each page
    /// up (follow_page_mask()), fault it in where it is missing or not writable enough
    /// (faultin_page() with `fault_flags`), and look again, as GUP's retry loop does: a write
    /// fault on a uffd-wp marker maps the page read-only first and only the next fault
    /// reports it. A failure names the page it stopped at.
    pub(crate) fn get_user_pages(
        &mut self,
        mm: MmId,
        vma: &Vma,
        (start, end): (u64, u64),
        foll: FollFlags,
        fault_flags: FaultFlags,
    ) -> Result<(), (u64, VmFault)> {
        let write = foll.contains(FollFlags::WRITE);
        let mut flags = fault_flags;
        if write {
            flags |= FaultFlags::WRITE;
        }
        let mut addr = start;
        while addr < end {
            // GUP retries for as long as faults succeed without mapping the page; every
            // modelled fault maps it by the second try, so more tries mean a model bug, which
            // fails the call rather than hanging it.
            for tries in 0.. {
                if self.follow_page(mm, addr, foll) {
                    break;
                }
                if tries == 4 {
                    return Err((addr, VmFault::SIGBUS));
                }
                // The VMA may have gained an anon_vma on the previous fault.
                let vma = self.mms[mm].vmas.lookup(addr).unwrap_or(vma).for_fault();
                if vma.is_hugetlb() {
                    // follow_hugetlb_page() calls hugetlb_fault() itself: no
                    // handle_mm_fault(), so neither PGFAULT nor the task's min_flt count it.
                    let mut vmf = crate::mm::memory::Vmf::new(mm, vma, addr, flags);
                    self.hugetlb_fault(&mut vmf).map_err(|e| (addr, e))?;
                    continue;
                }
                let r = self
                    .handle_mm_fault(mm, vma, addr, flags)
                    .map_err(|e| (addr, e))?;
                self.account_fault(r);
            }
            addr += crate::hw::PAGE_SIZE;
        }
        Ok(())
    }

    /// follow_page_mask(): is the page at `addr` mapped as GUP needs it (present, and writable
    /// for FOLL_WRITE)? With FOLL_TOUCH a normal page is marked accessed (and dirty for a
    /// write, follow_page_pte()), a THP's PMD made young (and dirty, touch_pmd()).
    fn follow_page(&mut self, mm: MmId, addr: u64, foll: FollFlags) -> bool {
        let write = foll.contains(FollFlags::WRITE);
        let root = self.mms[mm].pgd;
        let Some(leaf) = table::walk_leaf(&self.phys, root, addr) else {
            return false;
        };
        match leaf {
            table::Leaf::Pmd(s) => {
                let e = table::get_pmd(&self.phys, s);
                if write && !e.write() {
                    return false;
                }
                let hugetlb = self
                    .pages
                    .folio_test(self.pages.folio(e.pfn()), PageFlags::HUGETLB);
                if foll.contains(FollFlags::TOUCH) && !hugetlb {
                    let mut t = e.mkyoung();
                    if write {
                        t = t.mkdirty();
                    }
                    table::set_pmd(&mut self.phys, s, t);
                }
                true
            }
            table::Leaf::Pte(s) => {
                let e = table::get(&self.phys, s);
                if !e.is_present() || (write && !e.write()) {
                    return false;
                }
                // vm_normal_page() is NULL for the zero page: nothing to touch.
                if foll.contains(FollFlags::TOUCH) && !e.special() {
                    let f = self.pages.folio(e.pfn());
                    if write && !e.dirty() && !self.pages.folio_test(f, PageFlags::DIRTY) {
                        self.set_page_dirty(e.pfn());
                    }
                    self.folio_mark_accessed(f);
                }
                true
            }
        }
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
                match self.get_user_pages(mm, &vma, (from, stop), foll, fault_flags) {
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
