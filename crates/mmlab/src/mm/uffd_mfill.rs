//! mm/userfaultfd.c and the resolving ioctls of fs/userfaultfd.c: UFFDIO_COPY, ZEROPAGE and
//! CONTINUE fill missing entries (mcopy_atomic(), mfill_zeropage(), mcopy_continue()), and
//! UFFDIO_WRITEPROTECT sets or clears uffd-wp (mwriteprotect_range()). Each wakes the faults it
//! resolved unless told not to.

use crate::errno::{Errno, SysResult};
use crate::fs::userfaultfd::{CopyRestart, Restart};
use crate::hw::{PAGE_MASK, PAGE_SIZE};
use crate::kernel::{Kernel, Signal, Tid};
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

pub const UFFDIO_COPY_MODE_DONTWAKE: u64 = 1 << 0;
pub const UFFDIO_COPY_MODE_WP: u64 = 1 << 1;
pub const UFFDIO_ZEROPAGE_MODE_DONTWAKE: u64 = 1 << 0;
pub const UFFDIO_WRITEPROTECT_MODE_WP: u64 = 1 << 0;
pub const UFFDIO_WRITEPROTECT_MODE_DONTWAKE: u64 = 1 << 1;
pub const UFFDIO_CONTINUE_MODE_DONTWAKE: u64 = 1 << 0;

/// The mode constants a scenario may name.
pub const MODE_NAMES: &[(&str, u64)] = &[
    ("UFFDIO_COPY_MODE_DONTWAKE", UFFDIO_COPY_MODE_DONTWAKE),
    ("UFFDIO_COPY_MODE_WP", UFFDIO_COPY_MODE_WP),
    (
        "UFFDIO_ZEROPAGE_MODE_DONTWAKE",
        UFFDIO_ZEROPAGE_MODE_DONTWAKE,
    ),
    ("UFFDIO_WRITEPROTECT_MODE_WP", UFFDIO_WRITEPROTECT_MODE_WP),
    (
        "UFFDIO_WRITEPROTECT_MODE_DONTWAKE",
        UFFDIO_WRITEPROTECT_MODE_DONTWAKE,
    ),
    (
        "UFFDIO_CONTINUE_MODE_DONTWAKE",
        UFFDIO_CONTINUE_MODE_DONTWAKE,
    ),
];

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

impl Kernel {
    /// The checks every range ioctl makes first: a userfaultfd past UFFDIO_API, a valid
    /// range. Returns (ctx, end).
    fn uffd_range_ioctl(
        &mut self,
        tid: Tid,
        fd: i64,
        start: u64,
        len: u64,
    ) -> SysResult<(usize, u64)> {
        self.enter(tid)?;
        let ctx = self.uffd_ctx(tid, fd)?;
        if self.uffd[ctx].features.is_none() {
            return Err(Errno::EINVAL);
        }
        // An event not yet read means the address space is changing under the monitor.
        if self.uffd[ctx].mmap_changing > 0 {
            return Err(Errno::EAGAIN);
        }
        let end = Self::uffd_validate_range(start, len)?;
        Ok((ctx, end))
    }

    /// find_dst_vma(): the one registered VMA that holds all of `[start, end)`.
    fn find_dst_vma(&self, mm: MmId, start: u64, end: u64) -> Option<Vma> {
        let v = self.mms[mm].vmas.find(start)?;
        (v.start <= start && end <= v.end && v.uffd_ctx.is_some()).then(|| v.for_fault())
    }

    /// userfaultfd_copy(): UFFDIO_COPY of `len` bytes from `src` (in the caller's memory) to
    /// `dst`. Returns the bytes copied; a partial copy is EAGAIN.
    pub fn uffdio_copy(
        &mut self,
        tid: Tid,
        fd: i64,
        dst: u64,
        src: u64,
        len: u64,
        mode: u64,
    ) -> SysResult<u64> {
        let (ctx, _) = self.uffd_range_ioctl(tid, fd, dst, len)?;
        if src.checked_add(len).is_none() {
            return Err(Errno::EINVAL);
        }
        if mode & !(UFFDIO_COPY_MODE_DONTWAKE | UFFDIO_COPY_MODE_WP) != 0 {
            return Err(Errno::EINVAL);
        }
        let fill = Fill::Copy {
            src,
            wp: mode & UFFDIO_COPY_MODE_WP != 0,
        };
        self.uffd_fill(
            tid,
            ctx,
            dst,
            len,
            fill,
            mode & UFFDIO_COPY_MODE_DONTWAKE != 0,
        )
    }

    /// userfaultfd_zeropage(): map zeroes at `[start, start+len)`.
    pub fn uffdio_zeropage(
        &mut self,
        tid: Tid,
        fd: i64,
        start: u64,
        len: u64,
        mode: u64,
    ) -> SysResult<u64> {
        self.uffdio_fill_range(tid, fd, (start, len), mode, Fill::Zeropage)
    }

    /// userfaultfd_continue(): map the page cache's pages at `[start, start+len)`.
    pub fn uffdio_continue(
        &mut self,
        tid: Tid,
        fd: i64,
        start: u64,
        len: u64,
        mode: u64,
    ) -> SysResult<u64> {
        self.uffdio_fill_range(tid, fd, (start, len), mode, Fill::Continue)
    }

    /// ZEROPAGE and CONTINUE: a range and a mode that knows only DONTWAKE (bit 0 for both).
    fn uffdio_fill_range(
        &mut self,
        tid: Tid,
        fd: i64,
        (start, len): (u64, u64),
        mode: u64,
        fill: Fill,
    ) -> SysResult<u64> {
        let (ctx, _) = self.uffd_range_ioctl(tid, fd, start, len)?;
        if mode & !UFFDIO_ZEROPAGE_MODE_DONTWAKE != 0 {
            return Err(Errno::EINVAL);
        }
        self.uffd_fill(tid, ctx, start, len, fill, mode != 0)
    }

    /// The common tail of the fill ioctls: __mcopy_atomic() page by page, then the wake over
    /// what was filled. A failure after some pages is EAGAIN (the ioctl's partial result).
    fn uffd_fill(
        &mut self,
        tid: Tid,
        ctx: usize,
        dst: u64,
        len: u64,
        fill: Fill,
        dontwake: bool,
    ) -> SysResult<u64> {
        let mm = self.uffd[ctx].mm.ok_or(Errno::ESRCH)?;
        let r = self.mcopy_atomic(tid, mm, dst, dst + len, fill);
        self.uffd_fill_finish(tid, ctx, (dst, len), 0, r, fill, dontwake)
    }

    /// The end of __mcopy_atomic() and of the ioctl: `before` bytes filled before a sleep plus
    /// what `r` filled since; the wake over all of it; EAGAIN for a partial fill. If the task
    /// now sleeps on a fault of the COPY source, the ioctl is not over: ERESTARTNOINTR, and
    /// restart_syscall() picks it up at the page it stopped at.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn uffd_fill_finish(
        &mut self,
        tid: Tid,
        ctx: usize,
        (dst, len): (u64, u64),
        before: u64,
        r: SysResult<u64>,
        fill: Fill,
        dontwake: bool,
    ) -> SysResult<u64> {
        let done = match r {
            Ok(n) => before + n,
            Err(_) if self.tasks[tid].uffd_wait.is_some() => before,
            Err(e) if before == 0 => return Err(e),
            Err(_) => before,
        };
        if let (Some(_), Fill::Copy { src, wp }) = (self.tasks[tid].uffd_wait, fill) {
            self.tasks[tid].restart = Some(Restart::Copy(CopyRestart {
                ctx,
                dst,
                len,
                src,
                wp,
                dontwake,
                at: dst + done,
            }));
            return Err(Errno::ERESTARTNOINTR);
        }
        if !dontwake {
            self.wake_userfault(ctx, dst, done);
        }
        if done == len {
            Ok(done)
        } else {
            Err(Errno::EAGAIN)
        }
    }

    /// UFFDIO_COPY going on after its source fault was resolved: __mcopy_atomic()'s `retry:`
    /// (mmap_changing, the VMA again), then the rest of the range from page `at`.
    pub(crate) fn uffdio_copy_restart(&mut self, tid: Tid, c: CopyRestart) -> SysResult<u64> {
        let before = c.at - c.dst;
        let r = match self.uffd.get(c.ctx).map(|x| (x.mm, x.mmap_changing)) {
            None => Err(Errno::EBADF),
            Some((None, _)) => Err(Errno::ESRCH),
            Some((_, n)) if n > 0 => Err(Errno::EAGAIN),
            Some((Some(mm), _)) => {
                let rest = Fill::Copy {
                    src: c.src + before,
                    wp: c.wp,
                };
                self.mcopy_atomic(tid, mm, c.at, c.dst + c.len, rest)
            }
        };
        let fill = Fill::Copy {
            src: c.src,
            wp: c.wp,
        };
        self.uffd_fill_finish(tid, c.ctx, (c.dst, c.len), before, r, fill, c.dontwake)
    }

    /// __mcopy_atomic(): the VMA checks, then one mfill_atomic_pte() per page. Returns the
    /// bytes filled, or the first page's error.
    fn mcopy_atomic(
        &mut self,
        tid: Tid,
        mm: MmId,
        dst: u64,
        end: u64,
        fill: Fill,
    ) -> SysResult<u64> {
        let vma = self.find_dst_vma(mm, dst, end).ok_or(Errno::ENOENT)?;
        if let Fill::Copy { wp: true, .. } = fill {
            if vma.flags & VM_UFFD_WP == 0 {
                return Err(Errno::EINVAL);
            }
        }
        if vma.is_hugetlb() {
            return self.mcopy_atomic_hugetlb(tid, mm, &vma, dst, end, fill);
        }
        if fill == Fill::Continue && !matches!(vma.backing, Backing::Shmem(_)) {
            return Err(Errno::EINVAL);
        }
        let vma = if vma.flags & VM_SHARED == 0 {
            self.vma_anon_prepare(mm, &vma)
        } else {
            vma
        };
        let mut addr = dst;
        while addr < end {
            let r = (|| {
                let pmd = self.pmd_alloc(mm, addr).ok_or(Errno::ENOMEM)?;
                if table::get_pmd(&self.phys, pmd).is_leaf() {
                    return Err(Errno::EEXIST);
                }
                let slot = self.pte_alloc(pmd, addr).ok_or(Errno::ENOMEM)?;
                self.mfill_atomic_pte(tid, mm, &vma, addr, slot, dst, fill)
            })();
            if let Err(e) = r {
                return if addr > dst { Ok(addr - dst) } else { Err(e) };
            }
            addr += PAGE_SIZE;
        }
        Ok(end - dst)
    }

    /// mfill_atomic_pte(): one page, by VMA kind and mode.
    #[allow(clippy::too_many_arguments)]
    fn mfill_atomic_pte(
        &mut self,
        tid: Tid,
        mm: MmId,
        vma: &Vma,
        addr: u64,
        slot: PteSlot,
        dst: u64,
        fill: Fill,
    ) -> SysResult<()> {
        let shmem = match vma.backing {
            Backing::Shmem(ino) => Some(ino),
            _ => None,
        };
        let index = vma.linear_page_index(addr);
        if let (Fill::Continue, Some(ino)) = (fill, shmem) {
            // mcontinue_atomic_pte(): the page must be cached already.
            let pfn = *self.shmem[ino].cache.get(&index).ok_or(Errno::EFAULT)?;
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
                // mcopy_atomic_pte(): a new anonymous page with the source's bytes.
                let f = self
                    .alloc_folio(Gfp::HIGHUSER_MOVABLE, 0)
                    .ok_or(Errno::ENOMEM)?;
                if let Err(e) = self.copy_from_user_page(tid, src + (addr - dst), f.pfn()) {
                    self.folio_put(f);
                    return Err(e);
                }
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
                    if index >= self.shmem[ino].size.div_ceil(PAGE_SIZE) {
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
                // shmem_mfill_atomic_pte(): a new page, copied (EFAULT) or zeroed; then EOF
                // (EFAULT) and the page cache (EEXIST if the index is taken).
                let (src, wp) = match fill {
                    Fill::Copy { src, wp } => (Some(src + (addr - dst)), wp),
                    _ => (None, false),
                };
                let f = self
                    .alloc_folio(Gfp::HIGHUSER_MOVABLE | Gfp::ZERO, 0)
                    .ok_or(Errno::ENOMEM)?;
                let pfn = f.pfn();
                let filled = match src {
                    Some(s) => self.copy_from_user_page(tid, s, pfn),
                    None => Ok(()),
                };
                let eof = index >= self.shmem[ino].size.div_ceil(PAGE_SIZE);
                let taken = self.shmem[ino].cache.contains_key(&index);
                let early = filled
                    .and(if eof { Err(Errno::EFAULT) } else { Ok(()) })
                    .and(if taken { Err(Errno::EEXIST) } else { Ok(()) });
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
                    self.shmem[ino].cache.remove(&index);
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
        if let Backing::Shmem(ino) = vma.backing {
            if vma.linear_page_index(addr) >= self.shmem[ino].size.div_ceil(PAGE_SIZE) {
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
            self.page_add_file_rmap(pfn);
            self.mms[mm].rss_shmem += 1;
        } else {
            self.page_add_new_anon_rmap(pfn, vma, addr);
            self.folio_add_lru(Folio(pfn));
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
        self.copy_from_user_frames(tid, src, pfn).map_err(|sig| {
            if sig == Signal::Userfault {
                Errno::ERESTARTNOINTR
            } else {
                Errno::EFAULT
            }
        })
    }

    /// The copy itself: frame to frame for an aligned source page (content tags included),
    /// else byte by byte across the two source pages.
    fn copy_from_user_frames(&mut self, tid: Tid, src: u64, pfn: Pfn) -> Result<(), Signal> {
        if src & !PAGE_MASK == 0 {
            let spfn = self.translate_user(tid, src)?;
            self.phys.copy(spfn, pfn);
            return Ok(());
        }
        let mut off = 0;
        while off < PAGE_SIZE {
            let a = src + off;
            let n = (PAGE_SIZE - (a & !PAGE_MASK)).min(PAGE_SIZE - off);
            let spfn = self.translate_user(tid, a)?;
            let from = (a & !PAGE_MASK) as usize;
            for i in 0..n as usize {
                let b = self.phys.load(spfn, from + i);
                self.phys.store(pfn, off as usize + i, b);
            }
            off += n;
        }
        Ok(())
    }

    /// __mcopy_atomic_hugetlb(): whole huge pages only; no zeropage.
    fn mcopy_atomic_hugetlb(
        &mut self,
        tid: Tid,
        mm: MmId,
        vma: &Vma,
        dst: u64,
        end: u64,
        fill: Fill,
    ) -> SysResult<u64> {
        if fill == Fill::Zeropage
            || !dst.is_multiple_of(HPAGE_SIZE)
            || !(end - dst).is_multiple_of(HPAGE_SIZE)
        {
            return Err(Errno::EINVAL);
        }
        let mut addr = dst;
        while addr < end {
            let src = match fill {
                Fill::Copy { src, .. } => Some(src + (addr - dst)),
                _ => None,
            };
            let wp = matches!(fill, Fill::Copy { wp: true, .. });
            if let Err(e) = self.hugetlb_mcopy_atomic_pte(tid, mm, vma, addr, src, wp) {
                return if addr > dst { Ok(addr - dst) } else { Err(e) };
            }
            addr += HPAGE_SIZE;
        }
        Ok(end - dst)
    }

    /// userfaultfd_writeprotect() → mwriteprotect_range(): set (`mode` WP) or clear uffd-wp
    /// on `[start, start+len)` of one registered VMA; clearing wakes unless DONTWAKE.
    pub fn uffdio_writeprotect(
        &mut self,
        tid: Tid,
        fd: i64,
        start: u64,
        len: u64,
        mode: u64,
    ) -> SysResult<()> {
        let (ctx, end) = self.uffd_range_ioctl(tid, fd, start, len)?;
        let both = UFFDIO_WRITEPROTECT_MODE_WP | UFFDIO_WRITEPROTECT_MODE_DONTWAKE;
        if mode & !both != 0 || mode == both {
            return Err(Errno::EINVAL);
        }
        let mm = self.uffd[ctx].mm.ok_or(Errno::ESRCH)?;
        let enable = mode & UFFDIO_WRITEPROTECT_MODE_WP != 0;
        let vma = self
            .find_dst_vma(mm, start, end)
            .filter(|v| v.flags & VM_UFFD_WP != 0)
            .ok_or(Errno::ENOENT)?;
        if vma.is_hugetlb() && !(start | len).is_multiple_of(HPAGE_SIZE) {
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
        if mode == 0 {
            self.wake_userfault(ctx, start, len);
        }
        Ok(())
    }
}
