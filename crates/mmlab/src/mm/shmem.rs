//! mm/shmem.c: shmem inodes and their page cache, for shared anonymous memory
//! (shmem_zero_setup) and memfd files: ftruncate (shmem_setattr), fallocate, hole punching.

use crate::fs::inode::{Ino, Inode, InodeInfo};
use crate::mm::filemap::Aops;

use crate::errno::{Errno, SysResult};
use crate::hw::PAGE_SIZE;
use crate::kernel::Kernel;
use crate::mm::hugetlb::HPAGE_NR;
use crate::mm::memory::ZapDetails;
use crate::mm::vma::{vm::*, Vma};
use crate::page::{Folio, Gfp, PageFlags, Pfn};
use crate::pgtable::swp::SwpEntry;
use crate::sched::Tid;

pub const FALLOC_FL_KEEP_SIZE: u64 = 0x01;
pub const FALLOC_FL_PUNCH_HOLE: u64 = 0x02;
pub const FALLOC_FL_NO_HIDE_STALE: u64 = 0x04;
pub const FALLOC_FL_COLLAPSE_RANGE: u64 = 0x08;
pub const FALLOC_FL_ZERO_RANGE: u64 = 0x10;
pub const FALLOC_FL_INSERT_RANGE: u64 = 0x20;
pub const FALLOC_FL_UNSHARE_RANGE: u64 = 0x40;
/// FALLOC_FL_SUPPORTED_MASK of vfs_fallocate().
const FALLOC_FL_SUPPORTED_MASK: u64 = FALLOC_FL_KEEP_SIZE
    | FALLOC_FL_PUNCH_HOLE
    | FALLOC_FL_COLLAPSE_RANGE
    | FALLOC_FL_ZERO_RANGE
    | FALLOC_FL_INSERT_RANGE
    | FALLOC_FL_UNSHARE_RANGE;
/// MAX_LFS_FILESIZE: shmem's s_maxbytes.
const MAX_LFS_FILESIZE: u64 = i64::MAX as u64;

impl Kernel {
    /// shmem_zero_setup(): a new shmem inode of `size` bytes for a MAP_SHARED|MAP_ANONYMOUS VMA.
    pub(crate) fn shmem_zero_setup(&mut self, size: u64) -> usize {
        self.inode_new(size, None, Aops::Shmem)
    }

    /// shmem_file_setup() / hugetlb_file_setup(): a new inode, no references yet.
    pub(crate) fn inode_new(&mut self, size: u64, name: Option<String>, a_ops: Aops) -> Ino {
        self.last_ino += 1;
        self.inodes
            .insert(Inode::new(self.last_ino, size, name, a_ops))
    }

    /// Forget an inode nobody took a reference on (a failed memfd_create()).
    pub(crate) fn shmem_put_unreferenced(&mut self, ino: Ino) {
        if self.inodes[ino].refs == 0 {
            self.inodes.remove(ino);
        }
    }

    /// shmem_getpage_gfp(SGP_CACHE) for a fault in `vma`: the page at `index`, allocated if
    /// absent; a page (or huge page) fallocate() left not uptodate is cleared and marked
    /// uptodate now.
    pub(crate) fn shmem_getpage(&mut self, ino: Ino, index: u64, vma: &Vma) -> SysResult<Pfn> {
        let pfn = self.shmem_getpage_gfp(ino, index, Some(vma))?;
        let f = self.pages.folio(pfn);
        self.pages.folio_set(f, PageFlags::UPTODATE);
        Ok(pfn)
    }

    /// shmem_is_huge(): may the page at `index` be allocated as part of a THP? `shmem_enabled`'s
    /// deny and force decide alone; otherwise the internal mount's setting does (within_size:
    /// the huge page ends inside i_size; advise: the VMA has MADV_HUGEPAGE).
    pub(crate) fn shmem_is_huge(&self, ino: Ino, vma: Option<&Vma>, index: u64) -> bool {
        let k = &self.thp.knobs;
        if self.inodes[ino].i_mapping.a_ops != Aops::Shmem || k.shmem_enabled == 4 {
            return false;
        }
        if vma.is_some_and(|v| v.flags & VM_NOHUGEPAGE != 0) {
            return false;
        }
        if k.shmem_enabled == 5 {
            return true;
        }
        let advised = vma.is_some_and(|v| v.flags & VM_HUGEPAGE != 0);
        match k.shm_mnt_huge {
            0 => true,
            1 => {
                let end = (index + 1).next_multiple_of(HPAGE_NR);
                self.inodes[ino].i_size.div_ceil(PAGE_SIZE) >= end || advised
            }
            2 => advised,
            _ => false,
        }
    }

    /// shmem_getpage_gfp(): find or allocate the page at `index`. A new page is zeroed but
    /// left not uptodate for a fault's caller to mark (SGP_FALLOC continues as SGP_WRITE, so
    /// fault-around will not map a fallocated page until a fault has); an fallocate() that
    /// finds a page still not uptodate clears it and marks it so. Where shmem_is_huge()
    /// allows and no page of the aligned 2 MiB is cached yet, a THP is allocated instead
    /// (thp_file_alloc; thp_file_fallback when no 2 MiB block is free). New folios go to the
    /// LRU (folio_add_lru()).
    /// Locks: the folio lock of the page it returns (dropped by the caller); i_pages lock on
    /// insertion.
    pub(crate) fn shmem_getpage_gfp(
        &mut self,
        ino: Ino,
        index: u64,
        vma: Option<&Vma>,
    ) -> SysResult<Pfn> {
        if let Some(pfn) = self.inodes[ino].i_mapping.page(index) {
            if vma.is_none() {
                let f = self.pages.folio(pfn);
                self.pages.folio_set(f, PageFlags::UPTODATE);
            }
            return Ok(pfn);
        }
        if let Some(crate::mm::filemap::Slot::Swap(e)) = self.inodes[ino].i_mapping.entry(index) {
            return self.shmem_swapin_folio(ino, index, e);
        }
        if self.shmem_is_huge(ino, vma, index) {
            let hindex = index & !(HPAGE_NR - 1);
            // shmem_alloc_hugepage(): only into an empty 2 MiB stretch of the file (no page
            // and no swap entry: shmem_add_to_page_cache() finds a conflict otherwise).
            let mapping = &self.inodes[ino].i_mapping;
            if mapping.pages(hindex..hindex + HPAGE_NR).next().is_none()
                && mapping.swap_entries(hindex..hindex + HPAGE_NR).is_empty()
            {
                match self.alloc_huge_folio(Gfp::TRANSHUGE_LIGHT | Gfp::ZERO) {
                    Some(f) => {
                        self.shmem_add_thp(ino, hindex, f);
                        self.folio_add_lru(f);
                        self.vmstat.thp_file_alloc += 1;
                        return Ok(f.page(index - hindex));
                    }
                    None => self.vmstat.thp_file_fallback += 1,
                }
            }
        }
        let f = self
            .alloc_folio(Gfp::HIGHUSER_MOVABLE | Gfp::ZERO, 0)
            .ok_or(Errno::ENOMEM)?;
        self.shmem_add_to_page_cache(ino, index, f.pfn());
        self.folio_add_lru(f);
        Ok(f.pfn())
    }

    /// shmem_swapin_folio(): the page behind a swap entry in the cache comes back (from the
    /// swap cache, or read: a major fault), takes the entry's place in the page cache,
    /// leaves the swap cache dirty, and the slot is freed.
    fn shmem_swapin_folio(&mut self, ino: Ino, index: u64, e: SwpEntry) -> SysResult<Pfn> {
        let pfn = match self.lookup_swap_cache(e, None) {
            Some(pfn) => {
                self.get_page(pfn);
                pfn
            }
            None => {
                self.vmstat.pgmajfault += 1;
                let ra = self.swap_cluster_ra_entries(e);
                self.swapin_readahead(e, &ra).ok_or(Errno::ENOMEM)?
            }
        };
        let f = self.pages.folio(pfn);
        // folio_lock(): a SWP_FS_OPS read completes; a failed one is EIO.
        self.swap_read_wait(pfn, false, true);
        if self.swap_read_failed(f) {
            self.put_page(pfn);
            return Err(Errno::EIO);
        }
        // shmem_add_to_page_cache() in place of the swap entry; the lookup's reference is
        // the page cache's.
        let p = self.pages.page_mut(pfn);
        p.set_mapping(Some(ino as u32));
        p.index = index;
        self.inodes[ino].i_mapping.add_page(index, pfn);
        self.vmstat.nr_shmem += 1;
        self.delete_from_swap_cache(f);
        self.pages.folio_set(f, PageFlags::DIRTY);
        self.swap_entry_put(e);
        Ok(pfn)
    }

    /// shmem_writepage() of a page reclaim unmapped: with a swap slot free it moves to the
    /// swap cache (a swap entry takes its place in the page cache, owned by it:
    /// SWAP_MAP_SHMEM) and is written; without one it stays, redirtied, and reclaim
    /// activates it (false: AOP_WRITEPAGE_ACTIVATE).
    pub(crate) fn shmem_writepage(
        &mut self,
        f: Folio,
        plug: &mut crate::mm::page_io::SwapPlug,
    ) -> bool {
        let pfn = f.pfn();
        let Some(ino) = self.pages.folio_mapping(f).map(|m| m as usize) else {
            return false;
        };
        self.pages.folio_clear(f, PageFlags::DIRTY);
        let Some(e) = (self.total_swap_pages() > 0)
            .then(|| self.get_swap_page_one())
            .flatten()
        else {
            self.pages.folio_set(f, PageFlags::DIRTY);
            return false;
        };
        // A page fallocated but never written reads as zeroes: it is cleared and made
        // uptodate first.
        self.pages.folio_set(f, PageFlags::UPTODATE);
        let index = self.pages.page(pfn).index();
        self.add_to_swap_cache(f, e);
        self.swap_shmem_alloc(e);
        self.inodes[ino].i_mapping.store_swap(index, e);
        self.vmstat.nr_shmem -= 1;
        self.pages.folio_ref_add(f, -1);
        self.pages.page_mut(pfn).set_mapping(None);
        self.swap_writepage(f, Some(plug));
        true
    }

    /// shmem_free_swap(): swap entries of the cache in `[from, to)` go with their slots.
    fn shmem_free_swap(&mut self, ino: Ino, from: u64, to: u64) {
        for (i, e) in self.inodes[ino].i_mapping.swap_entries(from..to) {
            self.inodes[ino].i_mapping.remove(i);
            self.free_swap_and_cache(e);
        }
    }

    /// shmem_add_to_page_cache(): frame `pfn` becomes the file's page at `index`; the cache
    /// takes over the allocation's reference.
    pub(crate) fn shmem_add_to_page_cache(&mut self, ino: Ino, index: u64, pfn: Pfn) {
        let p = self.pages.page_mut(pfn);
        p.flags = PageFlags::SWAPBACKED;
        p.set_mapping(Some(ino as u32));
        p.index = index;
        self.inodes[ino].i_mapping.add_page(index, pfn);
        self.vmstat.nr_shmem += 1;
    }

    /// shmem_add_to_page_cache() of a new THP at `hindex` (its contents already set): 512
    /// entries, one reference each.
    pub(crate) fn shmem_add_thp(&mut self, ino: Ino, hindex: u64, f: Folio) {
        self.pages.folio_set(f, PageFlags::SWAPBACKED);
        let p = self.pages.page_mut(f.pfn());
        p.set_mapping(Some(ino as u32));
        p.index = hindex;
        for i in 0..HPAGE_NR {
            self.inodes[ino].i_mapping.add_page(hindex + i, f.page(i));
        }
        self.pages.folio_ref_add(f, HPAGE_NR as i32 - 1);
        self.vmstat.nr_shmem += HPAGE_NR;
        self.vmstat.nr_shmem_hugepages += 1;
    }

    /// Drop one VMA reference (fput); the last one truncates the page cache (shmem_evict_inode).
    pub(crate) fn shmem_put(&mut self, ino: Ino) {
        self.inodes[ino].refs -= 1;
        if self.inodes[ino].refs == 0 {
            self.shmem_free_swap(ino, 0, u64::MAX);
            let mut inode = self.inodes.remove(ino);
            self.hugetlb_unreserve(inode.resv().map_or(0, |r| r.len() as u64));
            for pfn in inode.i_mapping.take_pages() {
                if inode.i_mapping.a_ops == Aops::Shmem {
                    self.vmstat.nr_shmem -= 1;
                    if self.thp_head(pfn).is_some_and(|f| f.pfn() == pfn) {
                        self.vmstat.nr_shmem_hugepages -= 1;
                    }
                }
                self.put_page(pfn);
            }
        }
    }

    /// shmem_truncate_range() / shmem_undo_range(): drop the cached pages wholly inside the byte
    /// range `[lstart, lend]` and zero the parts of the pages at its edges.
    /// Locks: i_rwsem, write (the caller's); each folio lock in turn.
    pub(crate) fn shmem_truncate_range(&mut self, ino: Ino, lstart: u64, lend: u64) {
        let first_whole = lstart.div_ceil(PAGE_SIZE);
        let end_whole = lend.saturating_add(1) / PAGE_SIZE;
        // shmem_undo_range(): a range reaching fallocend pulls it back to its start.
        if let InodeInfo::Shmem { fallocend } = &mut self.inodes[ino].info {
            if *fallocend > first_whole && *fallocend <= end_whole {
                *fallocend = first_whole;
            }
        }
        // shmem_undo_range() marks the folios holding the range's first and last byte dirty
        // (folio_mark_dirty()) before cutting them, unless they go whole.
        for edge in [lstart / PAGE_SIZE, lend / PAGE_SIZE] {
            if let Some(pfn) = self.inodes[ino].i_mapping.page(edge) {
                let whole_page = edge >= first_whole && edge < end_whole;
                if !whole_page || self.thp_head(pfn).is_some() {
                    self.set_page_dirty(pfn);
                }
            }
        }
        // truncate_inode_partial_folio(): a THP the range covers only in part has that part
        // zeroed and is split, so its whole pages can go one by one; if it cannot be split it
        // stays whole (zeroed where the range fell).
        let mut partial = Vec::new();
        let from = (lstart / PAGE_SIZE).saturating_sub(HPAGE_NR - 1);
        for (i, pfn) in self.inodes[ino].i_mapping.pages(from..=lend / PAGE_SIZE) {
            let (fstart, flast) = (i * PAGE_SIZE, (i + HPAGE_NR) * PAGE_SIZE - 1);
            let overlaps = flast >= lstart;
            let contained = fstart >= lstart && flast <= lend;
            match self.thp_head(pfn) {
                Some(f) if f.pfn() == pfn && overlaps && !contained => partial.push((i, f)),
                _ => {}
            }
        }
        let mut pinned = Vec::new();
        for (hindex, head) in partial {
            let from = (hindex * PAGE_SIZE).max(lstart);
            let to = ((hindex + HPAGE_NR) * PAGE_SIZE).min(lend.saturating_add(1));
            self.zero_file_bytes(ino, from, to);
            if !self.split_huge_page(head) {
                pinned.push(hindex..hindex + HPAGE_NR);
            }
        }
        let victims: Vec<(u64, Pfn)> = self.inodes[ino]
            .i_mapping
            .pages(first_whole..end_whole.max(first_whole))
            .filter(|(i, _)| !pinned.iter().any(|r| r.contains(i)))
            .collect();
        for (i, pfn) in victims {
            self.delete_from_page_cache(ino, i, pfn);
        }
        self.shmem_free_swap(ino, first_whole, end_whole.max(first_whole));
        // Partial pages keep their place in the cache, with the truncated bytes zeroed.
        let zero = |k: &mut Kernel, index: u64, from: u64, to: u64| {
            k.zero_file_bytes(ino, index * PAGE_SIZE + from, index * PAGE_SIZE + to);
        };
        let (sidx, soff) = (lstart / PAGE_SIZE, lstart % PAGE_SIZE);
        let (eidx, eoff) = (lend / PAGE_SIZE, lend % PAGE_SIZE + 1);
        if sidx == eidx {
            if soff != 0 || eoff != PAGE_SIZE {
                zero(self, sidx, soff, eoff);
            }
        } else {
            if soff != 0 {
                zero(self, sidx, soff, PAGE_SIZE);
            }
            if eoff != PAGE_SIZE && lend != u64::MAX {
                zero(self, eidx, 0, eoff);
            }
        }
    }

    /// shmem_undo_range(unfalloc): a failed fallocate() takes back the pages it added, which
    /// are the not-uptodate ones in `[start, end)`; a THP goes only when it lies wholly inside.
    fn shmem_unfalloc(&mut self, ino: Ino, start: u64, end: u64) {
        let victims: Vec<(u64, Pfn)> = self.inodes[ino].i_mapping.pages(start..end).collect();
        for (i, pfn) in victims {
            let f = self.pages.folio(pfn);
            if self.pages.folio_test(f, PageFlags::UPTODATE) {
                continue;
            }
            let whole = match self.thp_head(pfn) {
                Some(h) => {
                    let hindex = i - (pfn.0 - h.pfn().0);
                    hindex >= start && hindex + HPAGE_NR <= end
                }
                None => true,
            };
            if whole {
                self.delete_from_page_cache(ino, i, pfn);
            }
        }
    }

    /// Zero the cached bytes `[from, to)` of the file (pages not in the cache read as zero).
    fn zero_file_bytes(&mut self, ino: Ino, from: u64, to: u64) {
        let mut a = from;
        while a < to {
            let n = (PAGE_SIZE - a % PAGE_SIZE).min(to - a);
            if let Some(pfn) = self.inodes[ino].i_mapping.page(a / PAGE_SIZE) {
                self.phys.fill(pfn, (a % PAGE_SIZE) as usize, n as usize, 0);
            }
            a += n;
        }
    }

    /// The PUNCH_HOLE part of shmem_fallocate() for bytes `[offset, end)`: unmap the whole pages
    /// from every shared mapping (private COW copies stay), then drop or zero the cache.
    /// Locks: i_rwsem, write.
    pub(crate) fn shmem_punch_hole(&mut self, ino: Ino, offset: u64, end: u64) {
        let (first, last) = (offset.div_ceil(PAGE_SIZE), end / PAGE_SIZE);
        if last > first {
            let details = ZapDetails {
                even_cows: false,
                drop_marker: false,
            };
            self.unmap_mapping_range(ino, (first, last), details);
        }
        self.shmem_truncate_range(ino, offset, end - 1);
    }

    /// ftruncate(2) on a shmem file (do_sys_ftruncate() → shmem_setattr()): shrinking unmaps the
    /// cut part everywhere, private COW copies included, and drops its pages.
    /// Locks: i_rwsem, write; i_mmap_rwsem, read, while unmapping.
    pub fn ftruncate(&mut self, tid: Tid, fd: i64, length: i64) -> SysResult<()> {
        self.enter(tid)?;
        if length < 0 {
            return Err(Errno::EINVAL);
        }
        let file = self.fget(tid, fd)?;
        if !file.writable {
            return Err(Errno::EINVAL);
        }
        // do_sys_ftruncate(): only regular files.
        let ino = file.inode().ok_or(Errno::EINVAL)?;
        self.do_truncate(ino, length as u64)
    }

    /// do_truncate() → notify_change(ATTR_SIZE) → the filesystem's setattr: shmem_setattr()
    /// (the seals; shrinking unmaps the cut part everywhere, private copies included, and
    /// drops its pages), hugetlbfs_setattr(), or the disk filesystem's.
    pub(crate) fn do_truncate(&mut self, ino: Ino, new: u64) -> SysResult<()> {
        let old = self.inodes[ino].i_size;
        // shmem_setattr() / hugetlbfs_setattr(): F_SEAL_SHRINK and F_SEAL_GROW.
        let seals = self.inodes[ino].seals;
        use crate::mm::memfd::{F_SEAL_GROW, F_SEAL_SHRINK};
        if (new < old && seals & F_SEAL_SHRINK != 0) || (new > old && seals & F_SEAL_GROW != 0) {
            return Err(Errno::EPERM);
        }
        if self.inodes[ino].is_hugetlbfs() {
            return self.hugetlb_truncate(ino, new);
        }
        if self.inodes[ino].is_disk() {
            return self.disk_setsize(ino, new);
        }
        self.inodes[ino].i_size = new;
        if new <= old {
            let holebegin = new.div_ceil(PAGE_SIZE);
            let details = ZapDetails {
                even_cows: true,
                drop_marker: false,
            };
            self.unmap_mapping_range(ino, (holebegin, u64::MAX), details);
            self.shmem_truncate_range(ino, new, u64::MAX);
        }
        Ok(())
    }

    /// fallocate(2) on a shmem file (vfs_fallocate() → shmem_fallocate()): allocate pages, or
    /// punch a hole (PUNCH_HOLE|KEEP_SIZE), which leaves private COW copies alone.
    pub fn fallocate(
        &mut self,
        tid: Tid,
        fd: i64,
        mode: u64,
        offset: i64,
        len: i64,
    ) -> SysResult<()> {
        self.enter(tid)?;
        let file = self.fget(tid, fd)?.clone();
        if offset < 0 || len <= 0 {
            return Err(Errno::EINVAL);
        }
        if mode & !FALLOC_FL_SUPPORTED_MASK != 0 {
            return Err(Errno::EOPNOTSUPP);
        }
        if mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)
            == FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE
        {
            return Err(Errno::EOPNOTSUPP);
        }
        if mode & FALLOC_FL_PUNCH_HOLE != 0 && mode & FALLOC_FL_KEEP_SIZE == 0 {
            return Err(Errno::EOPNOTSUPP);
        }
        if (mode & FALLOC_FL_COLLAPSE_RANGE != 0 && mode != FALLOC_FL_COLLAPSE_RANGE)
            || (mode & FALLOC_FL_INSERT_RANGE != 0 && mode != FALLOC_FL_INSERT_RANGE)
        {
            return Err(Errno::EINVAL);
        }
        if mode & FALLOC_FL_UNSHARE_RANGE != 0
            && mode & !(FALLOC_FL_UNSHARE_RANGE | FALLOC_FL_KEEP_SIZE) != 0
        {
            return Err(Errno::EINVAL);
        }
        if !file.writable {
            return Err(Errno::EBADF);
        }
        let (offset, len) = (offset as u64, len as u64);
        let end = offset
            .checked_add(len)
            .filter(|&e| e <= MAX_LFS_FILESIZE)
            .ok_or(Errno::EFBIG)?;
        // vfs_fallocate(): neither a regular file nor a block device.
        let ino = file.inode().ok_or(Errno::ENODEV)?;
        self.f_op_fallocate(ino, mode, offset, end)
    }

    /// file->f_op->fallocate() for bytes `[offset, end)`: hugetlbfs_fallocate() or
    /// shmem_fallocate(). madvise(MADV_REMOVE) comes here too, through vfs_fallocate().
    pub(crate) fn f_op_fallocate(
        &mut self,
        ino: Ino,
        mode: u64,
        offset: u64,
        end: u64,
    ) -> SysResult<()> {
        if mode & !(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE) != 0 {
            return Err(Errno::EOPNOTSUPP);
        }
        // Both filesystems: no hole in a write-sealed file, no growth past a grow seal.
        use crate::mm::memfd::{F_SEAL_FUTURE_WRITE, F_SEAL_GROW, F_SEAL_WRITE};
        let seals = self.inodes[ino].seals;
        if mode & FALLOC_FL_PUNCH_HOLE != 0 && seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE) != 0 {
            return Err(Errno::EPERM);
        }
        if mode & FALLOC_FL_PUNCH_HOLE == 0
            && seals & F_SEAL_GROW != 0
            && end > self.inodes[ino].i_size
        {
            return Err(Errno::EPERM);
        }
        if self.inodes[ino].is_hugetlbfs() {
            return self.hugetlbfs_fallocate(ino, mode, offset, end);
        }
        if self.inodes[ino].is_disk() {
            return self.disk_fallocate(ino, mode, offset, end);
        }
        self.shmem_fallocate(ino, mode, offset, end)
    }

    /// shmem_fallocate(): allocate pages, or punch a hole (private COW copies stay).
    /// Locks: i_rwsem, write; each new folio's lock.
    fn shmem_fallocate(&mut self, ino: Ino, mode: u64, offset: u64, end: u64) -> SysResult<()> {
        if mode & !(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE) != 0 {
            return Err(Errno::EOPNOTSUPP);
        }
        if mode & FALLOC_FL_PUNCH_HOLE != 0 {
            self.shmem_punch_hole(ino, offset, end);
            return Ok(());
        }
        let (start, end_index) = (offset / PAGE_SIZE, end.div_ceil(PAGE_SIZE));
        let InodeInfo::Shmem { fallocend } = &mut self.inodes[ino].info else {
            return Err(Errno::ENODEV);
        };
        let undo_fallocend = *fallocend;
        *fallocend = undo_fallocend.max(end_index);
        let mut index = start;
        while index < end_index {
            let pfn = match self.shmem_getpage_gfp(ino, index, None) {
                Ok(pfn) => pfn,
                Err(e) => {
                    if let InodeInfo::Shmem { fallocend } = &mut self.inodes[ino].info {
                        *fallocend = undo_fallocend;
                    }
                    self.shmem_unfalloc(ino, start, index);
                    return Err(e);
                }
            };
            // The page is dirtied so memory pressure swaps rather than frees it; a THP
            // covers its whole 2 MiB at once.
            self.set_page_dirty(pfn);
            index = match self.thp_head(pfn) {
                Some(_) => (index + 1).next_multiple_of(HPAGE_NR),
                None => index + 1,
            };
        }
        if mode & FALLOC_FL_KEEP_SIZE == 0 && end > self.inodes[ino].i_size {
            self.inodes[ino].i_size = end;
        }
        Ok(())
    }
}
