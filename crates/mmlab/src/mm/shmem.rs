//! mm/shmem.c: shmem inodes and their page cache, for shared anonymous memory
//! (shmem_zero_setup) and memfd files: ftruncate (shmem_setattr), fallocate, hole punching.

use std::collections::BTreeMap;

use crate::errno::{Errno, SysResult};
use crate::hw::PAGE_SIZE;
use crate::kernel::{Kernel, Tid};
use crate::page::flags::*;

/// A shmem inode: size and page cache (index → PFN).
#[derive(Debug, Default)]
pub struct ShmemInode {
    pub size: u64,
    pub cache: BTreeMap<u64, u64>,
    /// Open references: one per VMA mapping it.
    pub refs: u32,
    /// The inode number (get_next_ino()).
    pub i_ino: u64,
    /// The memfd name (None for the "dev/zero" file behind shared anonymous memory).
    pub name: Option<String>,
    /// A hugetlbfs inode: the cache maps huge page indices to 2 MiB compound pages.
    pub huge: bool,
    /// hugetlbfs: huge page indices reserved for shared mappings and not yet instantiated.
    pub resv: std::collections::BTreeSet<u64>,
}

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
        self.shmem_new(size, None, false)
    }

    /// shmem_file_setup() / hugetlb_file_setup(): a new inode, no references yet.
    pub(crate) fn shmem_new(&mut self, size: u64, name: Option<String>, huge: bool) -> usize {
        self.last_ino += 1;
        let i_ino = self.last_ino;
        self.shmem.insert(ShmemInode {
            size,
            cache: BTreeMap::new(),
            refs: 0,
            i_ino,
            name,
            huge,
            resv: Default::default(),
        })
    }

    /// Forget an inode nobody took a reference on (a failed memfd_create()).
    pub(crate) fn shmem_put_unreferenced(&mut self, ino: usize) {
        if self.shmem[ino].refs == 0 {
            self.shmem.remove(ino);
        }
    }

    /// shmem_getpage_gfp(SGP_CACHE) for a fault: the page at `index`, allocated if absent; a
    /// page fallocate() left not uptodate is cleared and marked uptodate now.
    pub(crate) fn shmem_getpage(&mut self, ino: usize, index: u64) -> SysResult<u64> {
        let pfn = self.shmem_getpage_gfp(ino, index)?;
        self.pages.page_mut(pfn).flags |= PG_UPTODATE;
        Ok(pfn)
    }

    /// shmem_getpage_gfp(SGP_FALLOC): find or allocate the page at `index`; a new page is zeroed
    /// but not uptodate (fault-around will not map it until a fault has).
    pub(crate) fn shmem_getpage_gfp(&mut self, ino: usize, index: u64) -> SysResult<u64> {
        if let Some(&pfn) = self.shmem[ino].cache.get(&index) {
            return Ok(pfn);
        }
        let pfn = self.pages.alloc().ok_or(Errno::ENOMEM)?;
        self.phys.clear(pfn);
        let p = self.pages.page_mut(pfn);
        p.flags = PG_SWAPBACKED;
        p.mapping = ino as u32;
        p.index = index;
        self.shmem[ino].cache.insert(index, pfn);
        self.vmstat.nr_shmem += 1;
        Ok(pfn)
    }

    /// Drop one VMA reference (fput); the last one truncates the page cache (shmem_evict_inode).
    pub(crate) fn shmem_put(&mut self, ino: usize) {
        self.shmem[ino].refs -= 1;
        if self.shmem[ino].refs == 0 {
            let inode = self.shmem.remove(ino);
            self.hugetlb_unreserve(inode.resv.len() as u64);
            for (_, pfn) in inode.cache {
                if !inode.huge {
                    self.vmstat.nr_shmem -= 1;
                }
                self.put_page(pfn);
            }
        }
    }

    /// shmem_truncate_range() / shmem_undo_range(): drop the cached pages wholly inside the byte
    /// range `[lstart, lend]` and zero the parts of the pages at its edges.
    pub(crate) fn shmem_truncate_range(&mut self, ino: usize, lstart: u64, lend: u64) {
        let first_whole = lstart.div_ceil(PAGE_SIZE);
        let end_whole = lend.saturating_add(1) / PAGE_SIZE;
        let victims: Vec<(u64, u64)> = self.shmem[ino]
            .cache
            .range(first_whole..end_whole.max(first_whole))
            .map(|(&i, &p)| (i, p))
            .collect();
        for (i, pfn) in victims {
            self.shmem[ino].cache.remove(&i);
            self.vmstat.nr_shmem -= 1;
            self.put_page(pfn);
        }
        // Partial pages keep their place in the cache, with the truncated bytes zeroed.
        let zero = |k: &mut Kernel, index: u64, from: u64, to: u64| {
            if let Some(&pfn) = k.shmem[ino].cache.get(&index) {
                k.phys.fill(pfn, from as usize, (to - from) as usize, 0);
            }
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

    /// The PUNCH_HOLE part of shmem_fallocate() for bytes `[offset, end)`: unmap the whole pages
    /// from every shared mapping (private COW copies stay), then drop or zero the cache.
    pub(crate) fn shmem_punch_hole(&mut self, ino: usize, offset: u64, end: u64) {
        let (first, last) = (offset.div_ceil(PAGE_SIZE), end / PAGE_SIZE);
        if last > first {
            self.unmap_mapping_range(ino, first, last, false);
        }
        self.shmem_truncate_range(ino, offset, end - 1);
    }

    /// ftruncate(2) on a shmem file (do_sys_ftruncate() → shmem_setattr()): shrinking unmaps the
    /// cut part everywhere, private COW copies included, and drops its pages.
    pub fn ftruncate(&mut self, tid: Tid, fd: i64, length: i64) -> SysResult<()> {
        self.enter(tid)?;
        if length < 0 {
            return Err(Errno::EINVAL);
        }
        let file = self.fget(tid, fd)?;
        if !file.writable {
            return Err(Errno::EINVAL);
        }
        let ino = file.ino;
        if self.shmem[ino].huge {
            return self.hugetlb_truncate(ino, length as u64);
        }
        let (old, new) = (self.shmem[ino].size, length as u64);
        self.shmem[ino].size = new;
        if new <= old {
            let holebegin = new.div_ceil(PAGE_SIZE);
            self.unmap_mapping_range(ino, holebegin, u64::MAX, true);
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
        self.f_op_fallocate(file.ino, mode, offset, end)
    }

    /// file->f_op->fallocate() for bytes `[offset, end)`: hugetlbfs_fallocate() or
    /// shmem_fallocate(). madvise(MADV_REMOVE) comes here too, through vfs_fallocate().
    pub(crate) fn f_op_fallocate(
        &mut self,
        ino: usize,
        mode: u64,
        offset: u64,
        end: u64,
    ) -> SysResult<()> {
        if self.shmem[ino].huge {
            return self.hugetlbfs_fallocate(ino, mode, offset, end);
        }
        self.shmem_fallocate(ino, mode, offset, end)
    }

    /// shmem_fallocate(): allocate pages, or punch a hole (private COW copies stay).
    fn shmem_fallocate(&mut self, ino: usize, mode: u64, offset: u64, end: u64) -> SysResult<()> {
        if mode & !(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE) != 0 {
            return Err(Errno::EOPNOTSUPP);
        }
        if mode & FALLOC_FL_PUNCH_HOLE != 0 {
            self.shmem_punch_hole(ino, offset, end);
            return Ok(());
        }
        for index in offset / PAGE_SIZE..end.div_ceil(PAGE_SIZE) {
            self.shmem_getpage_gfp(ino, index)?;
        }
        if mode & FALLOC_FL_KEEP_SIZE == 0 && end > self.shmem[ino].size {
            self.shmem[ino].size = end;
        }
        Ok(())
    }
}
