//! mm/userfaultfd.c: what the resolving ioctls do to the page tables. UFFDIO_COPY, ZEROPAGE
//! and CONTINUE fill missing entries (mcopy_atomic(), mfill_zeropage(), mcopy_continue());
//! UFFDIO_WRITEPROTECT sets or clears uffd-wp (mwriteprotect_range()).

use crate::errno::{Errno, SysResult};
use crate::hw::{PAGE_MASK, PAGE_SIZE};
use crate::kernel::Kernel;
use crate::mm::hugetlb::HPAGE_SIZE;
use crate::mm::mmu_gather::MmuGather;
use crate::mm::mprotect::CpFlags;
use crate::mm::vma::{vm::*, Backing, Vma};
use crate::mm::MmId;
use crate::page::alloc::ZERO_PFN;
use crate::page::PageFlags;
use crate::page::{Folio, Gfp, Pfn};
use crate::pgtable::pte::{vm_get_page_prot, Pte};
use crate::pgtable::table::{self, PteSlot};
use crate::sched::{Signal, Tid};

/// The page mfill_atomic_install_pte() maps.
#[derive(Clone, Copy)]
struct InstallPage {
    pfn: Pfn,
    /// A page-cache page (else a new anonymous one).
    in_cache: bool,
    /// Newly allocated by this ioctl (it goes to the LRU).
    new: bool,
}

/// What a fill ioctl puts at each page (mcopy_mode plus the copy source).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fill {
    Copy { src: u64, wp: bool },
    Zeropage,
    Continue,
}

/// How one pass of __mcopy_atomic() under mmap_lock ended.
enum Pass {
    /// Every page up to the end is filled.
    Done,
    /// The ioctl's error at the page it stopped at.
    Failed(Errno),
    /// -ENOENT: the source could not be read with faults disabled; copy it into the held page
    /// outside the lock and retry.
    CopyUnlocked,
}

impl Kernel {
    /// find_dst_vma(): the one registered VMA that holds all of `[start, end)`.
    pub(crate) fn find_dst_vma(&self, mm: MmId, start: u64, end: u64) -> Option<Vma> {
        let v = self.mms[mm].vmas.find(start)?;
        (v.start <= start && end <= v.end && v.uffd_ctx.is_some()).then(|| v.for_fault())
    }

    /// __mcopy_atomic(): the VMA checks, then one mfill_atomic_pte() per page (or
    /// __mcopy_atomic_hugetlb()). Returns the bytes filled, or the first page's error. A COPY
    /// whose source cannot be read with page faults disabled ends the pass with the page in
    /// `page` (-ENOENT): the source is copied into it with faults allowed, mmap_lock dropped,
    /// and the pass starts again from the VMA lookup (`retry:`) with that page. `page` comes
    /// in holding such a page already filled (UFFDIO_COPY going on after a sleep on its
    /// source) and goes out holding the one a sleep on the source interrupted; any other
    /// page left is put (`out:`).
    /// Locks: the mmap lock, read (dropped to fault in the source); each PTL.
    pub(crate) fn mcopy_atomic(
        &mut self,
        tid: Tid,
        mm: MmId,
        (dst, end): (u64, u64),
        fill: Fill,
        page: &mut Option<Folio>,
    ) -> SysResult<u64> {
        let mut addr = dst;
        let r = loop {
            match self.mcopy_atomic_pass(tid, mm, (dst, end), &mut addr, fill, page) {
                Pass::Done => break Ok(()),
                Pass::Failed(e) => break Err(e),
                Pass::CopyUnlocked => {
                    let (Some(f), Fill::Copy { src, .. }) = (*page, fill) else {
                        unreachable!("-ENOENT without a page");
                    };
                    if let Err(e) = self.mcopy_copy_unlocked(tid, src + (addr - dst), f) {
                        break Err(e);
                    }
                }
            }
        };
        if !self.tasks.get(tid).is_some_and(|t| t.in_userfault()) {
            if let Some(f) = page.take() {
                self.folio_put(f);
            }
        }
        match r {
            Ok(()) => Ok(end - dst),
            Err(_) if addr > dst => Ok(addr - dst),
            Err(e) => Err(e),
        }
    }

    /// One pass of __mcopy_atomic() under mmap_lock, from `*addr` (advanced past each page
    /// filled): find_dst_vma() and the mode checks, then the pages.
    fn mcopy_atomic_pass(
        &mut self,
        tid: Tid,
        mm: MmId,
        (dst, end): (u64, u64),
        addr: &mut u64,
        fill: Fill,
        page: &mut Option<Folio>,
    ) -> Pass {
        let Some(vma) = self.find_dst_vma(mm, dst, end) else {
            return Pass::Failed(Errno::ENOENT);
        };
        if let Fill::Copy { wp: true, .. } = fill {
            if vma.flags & VM_UFFD_WP == 0 {
                return Pass::Failed(Errno::EINVAL);
            }
        }
        let huge_page = page.is_some_and(|f| self.pages.folio_test(f, PageFlags::HUGETLB));
        if vma.is_hugetlb() {
            if !huge_page {
                // A small page held over a sleep while the range became hugetlb: 5.19 hands
                // over to __mcopy_atomic_hugetlb() and leaks it; the model puts it.
                if let Some(f) = page.take() {
                    self.folio_put(f);
                }
            }
            return self.mcopy_atomic_hugetlb(tid, mm, &vma, (dst, end), addr, fill, page);
        }
        if huge_page {
            // __mcopy_atomic_hugetlb()'s retry: the range is not hugetlb any more.
            return Pass::Failed(Errno::ENOENT);
        }
        if fill == Fill::Continue && !matches!(vma.backing, Backing::File(_)) {
            return Pass::Failed(Errno::EINVAL);
        }
        // A private VMA needs its anon_vma (mcopy_atomic_pte()'s anon_vma_prepare()).
        let vma = if vma.flags & VM_SHARED == 0 && vma.anon_vma.is_none() {
            self.vma_anon_prepare(mm, &vma)
        } else {
            vma
        };
        while *addr < end {
            let a = *addr;
            let r = (|| {
                let pmd = self.pmd_alloc(mm, a).ok_or(Errno::ENOMEM)?;
                if table::get_pmd(&self.phys, pmd).is_leaf() {
                    return Err(Errno::EEXIST);
                }
                let slot = self.pte_alloc(pmd, a).ok_or(Errno::ENOMEM)?;
                self.mfill_atomic_pte(tid, mm, &vma, (a, dst), slot, fill, page)
            })();
            match r {
                Err(Errno::ENOENT) if page.is_some() => return Pass::CopyUnlocked,
                Err(e) => return Pass::Failed(e),
                Ok(()) => *addr += PAGE_SIZE,
            }
        }
        Pass::Done
    }

    /// __mcopy_atomic()'s and __mcopy_atomic_hugetlb()'s -ENOENT step, mmap_lock dropped:
    /// the source copied into the held page with faults allowed (kmap() + copy_from_user(),
    /// copy_huge_page_from_user(..., true)). EFAULT if a source page cannot be faulted in;
    /// ERESTARTNOINTR while the task sleeps on one (the page stays held).
    pub(crate) fn mcopy_copy_unlocked(&mut self, tid: Tid, src: u64, f: Folio) -> SysResult<()> {
        let n = if self.pages.folio_test(f, PageFlags::HUGETLB) {
            crate::mm::hugetlb::HPAGE_NR
        } else {
            1
        };
        (0..n).try_for_each(|i| self.copy_from_user_page(tid, src + i * PAGE_SIZE, f.page(i)))
    }

    /// mfill_atomic_pte(): one page, by VMA kind and mode.
    /// Locks: the mmap lock, read; the PTL around the install.
    #[allow(clippy::too_many_arguments)]
    fn mfill_atomic_pte(
        &mut self,
        tid: Tid,
        mm: MmId,
        vma: &Vma,
        (addr, dst): (u64, u64),
        slot: PteSlot,
        fill: Fill,
        page: &mut Option<Folio>,
    ) -> SysResult<()> {
        let shmem = match vma.backing {
            Backing::File(ino) => Some(ino),
            _ => None,
        };
        let index = vma.linear_page_index(addr);
        if let (Fill::Continue, Some(ino)) = (fill, shmem) {
            // mcontinue_atomic_pte(): shmem_getpage(SGP_NOALLOC) refuses an index at or past
            // EOF (EINVAL) before it looks; a hole is EFAULT.
            let inode = &self.inodes[ino];
            if index >= inode.i_size.div_ceil(PAGE_SIZE) {
                return Err(Errno::EINVAL);
            }
            // A page out on swap is read back first (shmem_getpage_gfp() swaps it in).
            let pfn = match inode.i_mapping.entry(index) {
                Some(crate::mm::filemap::Slot::Swap(_)) => {
                    self.shmem_getpage_gfp(ino, index, None)?
                }
                _ => inode.i_mapping.page(index).ok_or(Errno::EFAULT)?,
            };
            let page = InstallPage {
                pfn,
                in_cache: true,
                new: false,
            };
            return self.mfill_atomic_install_pte(mm, vma, addr, slot, page, false);
        }
        let shared = vma.flags & VM_SHARED != 0;
        match (fill, shmem, shared) {
            (Fill::Copy { src, wp }, None, _) | (Fill::Copy { src, wp }, Some(_), false) => {
                // mcopy_atomic_pte(): a new anonymous page with the source's bytes, read with
                // faults disabled; if that fails, ENOENT with the page for the copy outside
                // the lock, and the retry maps that page.
                let f = match page.take() {
                    Some(f) => f,
                    None => {
                        let f = self
                            .alloc_folio(Gfp::HIGHUSER_MOVABLE, 0)
                            .ok_or(Errno::ENOMEM)?;
                        let s = src + (addr - dst);
                        if self.copy_from_user_page_nofault(tid, s, f.pfn()).is_err() {
                            *page = Some(f);
                            return Err(Errno::ENOENT);
                        }
                        f
                    }
                };
                let page = InstallPage {
                    pfn: f.pfn(),
                    in_cache: false,
                    new: true,
                };
                let r = self.mfill_atomic_install_pte(mm, vma, addr, slot, page, wp);
                if r.is_err() {
                    self.folio_put(f);
                }
                r
            }
            (Fill::Zeropage, _, false) => {
                // mfill_zeropage_pte(): the zero page, special; markers are not overwritten.
                if let Some(ino) = shmem {
                    if index >= self.inodes[ino].i_size.div_ceil(PAGE_SIZE) {
                        return Err(Errno::EFAULT);
                    }
                }
                if !table::get(&self.phys, slot).is_none() {
                    return Err(Errno::EEXIST);
                }
                let entry = Pte::pfn_pte(ZERO_PFN, vma.page_prot()).mkspecial();
                table::set(&mut self.phys, slot, entry);
                Ok(())
            }
            (_, Some(ino), true) => {
                // shmem_mfill_atomic_pte(): a new page, copied with faults disabled (ENOENT
                // with the page for the copy outside the lock; the retry brings it back) or
                // zeroed; then EOF (EFAULT) and the page cache (EEXIST if the index is taken).
                let (src, wp) = match fill {
                    Fill::Copy { src, wp } => (Some(src + (addr - dst)), wp),
                    _ => (None, false),
                };
                let f = match page.take() {
                    Some(f) => f,
                    None => {
                        let f = self
                            .alloc_folio(Gfp::HIGHUSER_MOVABLE | Gfp::ZERO, 0)
                            .ok_or(Errno::ENOMEM)?;
                        if let Some(s) = src {
                            if self.copy_from_user_page_nofault(tid, s, f.pfn()).is_err() {
                                *page = Some(f);
                                return Err(Errno::ENOENT);
                            }
                        }
                        f
                    }
                };
                let pfn = f.pfn();
                let eof = index >= self.inodes[ino].i_size.div_ceil(PAGE_SIZE);
                // shmem_add_to_page_cache() expects an empty slot: a page or a swap entry
                // there is EEXIST.
                let taken = self.inodes[ino].i_mapping.entry(index).is_some();
                let early = if eof {
                    Err(Errno::EFAULT)
                } else if taken {
                    Err(Errno::EEXIST)
                } else {
                    Ok(())
                };
                if let Err(e) = early {
                    self.folio_put(f);
                    return Err(e);
                }
                self.shmem_add_to_page_cache(ino, index, pfn);
                self.pages.folio_set(f, PageFlags::UPTODATE);
                let page = InstallPage {
                    pfn,
                    in_cache: true,
                    new: true,
                };
                let r = self.mfill_atomic_install_pte(mm, vma, addr, slot, page, wp);
                if r.is_err() {
                    // out_delete_from_cache
                    self.inodes[ino].i_mapping.remove(index);
                    self.vmstat.nr_shmem -= 1;
                    self.folio_put(f);
                }
                r
            }
            // CONTINUE outside shmem was refused above; a shared VMA is always shmem.
            _ => Err(Errno::EINVAL),
        }
    }

    /// mfill_atomic_install_pte(): map `page` (a page-cache page, or a new anonymous one) at
    /// `addr`, dirty; writable only where the VMA is and not for a page-cache page in a private
    /// VMA; `wp` maps it read-only with uffd-wp. An entry other than none or a marker is
    /// EEXIST. A newly allocated page goes to the LRU.
    fn mfill_atomic_install_pte(
        &mut self,
        mm: MmId,
        vma: &Vma,
        addr: u64,
        slot: PteSlot,
        page: InstallPage,
        wp: bool,
    ) -> SysResult<()> {
        let InstallPage { pfn, in_cache, new } = page;
        let mut writable = vma.flags & VM_WRITE != 0;
        if in_cache && vma.flags & VM_SHARED == 0 {
            writable = false;
        }
        let mut entry = Pte::pfn_pte(pfn, vma.page_prot()).mkdirty();
        if wp {
            entry = entry.mkuffd_wp();
            writable = false;
        }
        entry = if writable {
            entry.mkwrite()
        } else {
            entry.wrprotect()
        };
        if let Backing::File(ino) = vma.backing {
            if vma.linear_page_index(addr) >= self.inodes[ino].i_size.div_ceil(PAGE_SIZE) {
                return Err(Errno::EFAULT);
            }
        }
        if !table::get(&self.phys, slot).none_mostly() {
            return Err(Errno::EEXIST);
        }
        if in_cache {
            self.get_page(pfn);
            if new {
                self.folio_add_lru(Folio(pfn));
            }
            self.page_add_file_rmap(pfn, vma);
            self.mms[mm].rss_shmem += 1;
        } else {
            self.page_add_new_anon_rmap(pfn, vma, addr);
            self.lru_cache_add_inactive_or_unevictable(Folio(pfn), vma);
            self.mms[mm].rss_anon += 1;
        }
        table::set(&mut self.phys, slot, entry);
        Ok(())
    }

    /// copy_from_user() of one page from the caller's `src` into frame `pfn`, as __mcopy_atomic()
    /// retries it without mmap_lock. Faults on the source are kernel faults (not
    /// FAULT_FLAG_USER); one that sleeps in handle_userfault() is ERESTARTNOINTR (the ioctl goes
    /// on once woken), one the kernel cannot resolve is EFAULT.
    pub(crate) fn copy_from_user_page(&mut self, tid: Tid, src: u64, pfn: Pfn) -> SysResult<()> {
        self.copy_from_user_frames(tid, src, pfn, true)
            .map_err(|sig| {
                if sig == Signal::Userfault {
                    Errno::ERESTARTNOINTR
                } else {
                    Errno::EFAULT
                }
            })
    }

    /// copy_from_user() of one page under pagefault_disable() (kmap_atomic()), as the fill
    /// functions first try it under mmap_lock: only source pages present and readable in the
    /// caller's page tables; EFAULT at the first that would need a fault.
    pub(crate) fn copy_from_user_page_nofault(
        &mut self,
        tid: Tid,
        src: u64,
        pfn: Pfn,
    ) -> SysResult<()> {
        self.copy_from_user_frames(tid, src, pfn, false)
            .map_err(|_| Errno::EFAULT)
    }

    /// The frame behind a source address: with `fault`, faulted in as needed; without, only
    /// if already mapped (the failure is reported as SIGSEGV).
    fn copy_source_frame(&mut self, tid: Tid, a: u64, fault: bool) -> Result<Pfn, Signal> {
        if fault {
            self.translate_user(tid, a)
        } else {
            self.translate_user_nofault(tid, a).ok_or(Signal::Segv)
        }
    }

    /// The copy itself: frame to frame for an aligned source page (content tags included),
    /// else byte by byte across the two source pages.
    fn copy_from_user_frames(
        &mut self,
        tid: Tid,
        src: u64,
        pfn: Pfn,
        fault: bool,
    ) -> Result<(), Signal> {
        if src & !PAGE_MASK == 0 {
            let spfn = self.copy_source_frame(tid, src, fault)?;
            self.phys.copy(spfn, pfn);
            return Ok(());
        }
        let mut off = 0;
        while off < PAGE_SIZE {
            let a = src + off;
            let n = (PAGE_SIZE - (a & !PAGE_MASK)).min(PAGE_SIZE - off);
            let spfn = self.copy_source_frame(tid, a, fault)?;
            let from = (a & !PAGE_MASK) as usize;
            for i in 0..n as usize {
                let b = self.phys.load(spfn, from + i);
                self.phys.store(pfn, off as usize + i, b);
            }
            off += n;
        }
        Ok(())
    }

    /// __mcopy_atomic_hugetlb(): whole huge pages only; no zeropage. One pass under
    /// mmap_lock from `*addr`; -ENOENT from hugetlb_mcopy_atomic_pte() leaves the temporary
    /// page in `page` for the copy outside the lock (its `retry:` finds the VMA again and
    /// does not look at mmap_changing).
    #[allow(clippy::too_many_arguments)]
    fn mcopy_atomic_hugetlb(
        &mut self,
        tid: Tid,
        mm: MmId,
        vma: &Vma,
        (dst, end): (u64, u64),
        addr: &mut u64,
        fill: Fill,
        page: &mut Option<Folio>,
    ) -> Pass {
        if fill == Fill::Zeropage
            || !dst.is_multiple_of(HPAGE_SIZE)
            || !(end - dst).is_multiple_of(HPAGE_SIZE)
        {
            return Pass::Failed(Errno::EINVAL);
        }
        while *addr < end {
            let src = match fill {
                Fill::Copy { src, .. } => Some(src + (*addr - dst)),
                _ => None,
            };
            let wp = matches!(fill, Fill::Copy { wp: true, .. });
            match self.hugetlb_mcopy_atomic_pte(tid, mm, vma, *addr, src, wp, page) {
                Err(Errno::ENOENT) if page.is_some() => return Pass::CopyUnlocked,
                Err(e) => return Pass::Failed(e),
                Ok(()) => *addr += HPAGE_SIZE,
            }
        }
        Pass::Done
    }

    /// mwriteprotect_range(): set (`enable`) or clear uffd-wp on `[start, end)` of one VMA
    /// registered for WP (uffd_wp_range(): change_protection() with the uffd-wp cp_flags).
    /// Locks: the mmap lock, read; each table's PTL.
    pub(crate) fn mwriteprotect_range(
        &mut self,
        mm: MmId,
        (start, end): (u64, u64),
        enable: bool,
    ) -> SysResult<()> {
        let vma = self
            .find_dst_vma(mm, start, end)
            .filter(|v| v.flags & VM_UFFD_WP != 0)
            .ok_or(Errno::ENOENT)?;
        if vma.is_hugetlb() && !(start | (end - start)).is_multiple_of(HPAGE_SIZE) {
            return Err(Errno::EINVAL);
        }
        let flags = if enable {
            vma.flags & !VM_WRITE
        } else {
            vma.flags
        };
        let prot = vm_get_page_prot(flags & (VM_READ | VM_WRITE | VM_EXEC | VM_SHARED));
        let cp_flags = if enable {
            CpFlags::UFFD_WP
        } else {
            CpFlags::UFFD_WP_RESOLVE
        };
        let mut tlb = MmuGather::new(mm, false);
        self.change_protection(&mut tlb, &vma, (start, end), prot, cp_flags);
        self.tlb_finish_mmu(tlb);
        Ok(())
    }
}
