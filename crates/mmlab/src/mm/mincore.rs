//! mm/mincore.c: mincore(2), which pages of a range are resident, one walk per VMA.

use std::ops::ControlFlow;

use crate::errno::{Errno, SysResult};
use crate::fs::inode::Ino;
use crate::fs::userfaultfd::Restart;
use crate::hw::{PAGE_MASK, PAGE_SIZE, TASK_SIZE};
use crate::kernel::Kernel;
use crate::mm::pagewalk::{walk_page_range, MmWalk, PmdAction};
use crate::mm::vma::{Backing, Vma};
use crate::mm::MmId;
use crate::page::PageFlags;
use crate::pgtable::pmd::PmdKind;
use crate::pgtable::pte::PteKind;
use crate::pgtable::swp::SwpKind;
use crate::pgtable::table::{PmdSlot, PteSlot};
use crate::sched::{Signal, Tid};

impl Kernel {
    /// mincore(2): a byte per page of `[start, start + len)` written to `vec`, 1 where the
    /// page is resident, one VMA (and at most a page of bytes) at a time as do_mincore()
    /// goes. EINVAL for an unaligned start; ENOMEM for a range beyond the user address space
    /// or one that runs into unmapped memory (the bytes of the VMAs before the hole are
    /// written by then); EFAULT for a vector outside user space or one that cannot be written.
    /// A vector page in a userfaultfd-registered range makes the copy wait for the handler:
    /// the syscall sleeps (ERESTARTNOINTR) and restart_syscall() finishes the batch it had
    /// computed, then goes on. Every VMA may be asked: the model runs as root, who may open
    /// any file for writing (can_do_mincore()).
    /// Locks: the mmap lock, read, for each batch of pages.
    pub fn mincore(&mut self, tid: Tid, start: u64, len: u64, vec: u64) -> SysResult<u64> {
        let mm = self.enter(tid)?;
        if start & !PAGE_MASK != 0 {
            return Err(Errno::EINVAL);
        }
        if start.checked_add(len).is_none_or(|end| end > TASK_SIZE) {
            return Err(Errno::ENOMEM);
        }
        let pages = len.div_ceil(PAGE_SIZE);
        if vec.checked_add(pages).is_none_or(|end| end > TASK_SIZE) {
            return Err(Errno::EFAULT);
        }
        self.do_mincore(tid, mm, (start, start + pages * PAGE_SIZE), vec)
    }

    /// do_mincore() batch after batch over `[addr, end)`, the bytes going to `out`.
    fn do_mincore(
        &mut self,
        tid: Tid,
        mm: MmId,
        (mut addr, end): (u64, u64),
        mut out: u64,
    ) -> SysResult<u64> {
        while addr < end {
            let vma = match self.mms[mm].vmas.find(addr) {
                Some(v) if v.start <= addr => v.for_fault(),
                _ => return Err(Errno::ENOMEM),
            };
            let stop = vma.end.min(end).min(addr + PAGE_SIZE * PAGE_SIZE);
            let mut bytes = Vec::new();
            let mut w = MincoreWalk {
                vma: &vma,
                vec: &mut bytes,
            };
            let _ = walk_page_range(&mut &*self, mm, addr, stop, &mut w);
            self.mincore_copy_out(tid, (stop, end), out, &bytes)?;
            out += bytes.len() as u64;
            addr = stop;
        }
        Ok(0)
    }

    /// The copy_to_user() of one batch: a vector page that faults into handle_userfault()
    /// puts the task to sleep with the rest of the batch kept for restart_syscall() (the copy
    /// goes on where it stopped, with the bytes computed before the sleep); any other fault
    /// is EFAULT.
    fn mincore_copy_out(
        &mut self,
        tid: Tid,
        (next, end): (u64, u64),
        out: u64,
        bytes: &[u8],
    ) -> SysResult<()> {
        match self.copy_to_user(tid, out, bytes) {
            Ok(()) => Ok(()),
            Err((done, Signal::Userfault)) => {
                self.tasks[tid].restart = Some(Restart::Mincore {
                    next,
                    end,
                    out: out + done as u64,
                    rest: bytes[done..].into(),
                });
                Err(Errno::ERESTARTNOINTR)
            }
            Err(_) => Err(Errno::EFAULT),
        }
    }

    /// restart_syscall() of a mincore() that slept copying a batch out: the rest of that batch
    /// to `out`, then the pages from `next`.
    pub(crate) fn mincore_restart(
        &mut self,
        tid: Tid,
        (next, end): (u64, u64),
        out: u64,
        rest: &[u8],
    ) -> SysResult<u64> {
        let mm = self.enter(tid)?;
        self.mincore_copy_out(tid, (next, end), out, rest)?;
        self.do_mincore(tid, mm, (next, end), out + rest.len() as u64)
    }

    /// mincore_page(): is the file page at `index` in the page cache and uptodate? (A
    /// swapped-out shmem page would be looked for in the swap cache, which arrives with swap.)
    fn mincore_page(&self, ino: Ino, index: u64) -> u8 {
        // find_get_incore_page(): a shmem page out on swap counts while the swap cache
        // still holds it.
        let pfn = match self.inodes[ino].i_mapping.entry(index) {
            Some(crate::mm::filemap::Slot::Swap(e)) => self.swap_cache_page(e),
            s => s.and_then(|s| s.page()),
        };
        self.uptodate(pfn)
    }

    /// A page that exists and is uptodate, as mincore counts residency.
    fn uptodate(&self, pfn: Option<crate::page::Pfn>) -> u8 {
        pfn.is_some_and(|pfn| {
            self.pages
                .folio_test(self.pages.folio(pfn), PageFlags::UPTODATE)
        }) as u8
    }

    /// __mincore_unmapped_range(): pages with no entry are resident if a file VMA's page cache
    /// holds them. The index starts at linear_page_index(), which counts huge pages in a
    /// hugetlb VMA, and then goes up by one per 4 KiB page, as 5.19's loop does (so a hole
    /// in a hugetlb VMA asks about the following huge pages of the file).
    fn mincore_unmapped_range(&self, vma: &Vma, addr: u64, end: u64, vec: &mut Vec<u8>) {
        let nr = (end - addr) / PAGE_SIZE;
        match vma.backing {
            Backing::File(ino) => {
                let first = if vma.is_hugetlb() {
                    vma.huge_index(addr)
                } else {
                    vma.linear_page_index(addr)
                };
                vec.extend((first..first + nr).map(|i| self.mincore_page(ino, i)));
            }
            Backing::Anon => vec.extend(std::iter::repeat_n(0, nr as usize)),
        }
    }
}

/// mincore_walk_ops: mincore_pte_range(), mincore_unmapped_range(), mincore_hugetlb().
struct MincoreWalk<'a> {
    vma: &'a Vma,
    vec: &'a mut Vec<u8>,
}

impl<'k> MmWalk<&'k Kernel> for MincoreWalk<'_> {
    fn pmd_entry(
        &mut self,
        k: &mut &'k Kernel,
        addr: u64,
        next: u64,
        _slot: PmdSlot,
        e: PmdKind,
    ) -> ControlFlow<(), PmdAction> {
        let nr = ((next - addr) / PAGE_SIZE) as usize;
        ControlFlow::Continue(match e {
            PmdKind::Table(_) => PmdAction::Descend,
            // A huge entry (THP or hugetlb), or one not present but not none either (a PMD
            // migration entry, a hugetlb uffd-wp marker): resident.
            PmdKind::Leaf(_) | PmdKind::Swp(..) => {
                self.vec.extend(std::iter::repeat_n(1, nr));
                PmdAction::Done
            }
            PmdKind::None => {
                k.mincore_unmapped_range(self.vma, addr, next, self.vec);
                PmdAction::Done
            }
        })
    }

    fn pte_entry(
        &mut self,
        k: &mut &'k Kernel,
        addr: u64,
        _slot: PteSlot,
        e: PteKind,
    ) -> ControlFlow<()> {
        let resident = match e {
            PteKind::Present(_) => 1,
            // pte_none_mostly(): a marker is looked up in the page cache like a hole.
            PteKind::None | PteKind::Swp(SwpKind::Marker { .. }, _) => {
                k.mincore_unmapped_range(self.vma, addr, addr + PAGE_SIZE, self.vec);
                return ControlFlow::Continue(());
            }
            // A swapped-out page is resident while the swap cache holds it.
            PteKind::Swp(SwpKind::Swap { typ, offset }, _) => {
                k.uptodate(k.swap_cache_page(crate::pgtable::swp::SwpEntry::new(typ, offset)))
            }
            // Migration, hwpoison and device entries count as uptodate.
            PteKind::Swp(_, _) => 1,
        };
        self.vec.push(resident);
        ControlFlow::Continue(())
    }

    fn pte_hole(&mut self, k: &mut &'k Kernel, start: u64, end: u64) {
        k.mincore_unmapped_range(self.vma, start, end, self.vec);
    }
}
