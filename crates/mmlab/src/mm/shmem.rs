//! shmem inodes and their page cache, enough for shared anonymous memory (shmem_zero_setup).

use std::collections::BTreeMap;

use crate::errno::{Errno, SysResult};
use crate::kernel::Kernel;
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
}

impl Kernel {
    /// shmem_zero_setup(): a new shmem inode of `size` bytes for a MAP_SHARED|MAP_ANONYMOUS VMA.
    pub(crate) fn shmem_zero_setup(&mut self, size: u64) -> usize {
        self.last_ino += 1;
        let i_ino = self.last_ino;
        self.shmem.insert(ShmemInode {
            size,
            cache: BTreeMap::new(),
            refs: 0,
            i_ino,
        })
    }

    /// shmem_getpage_gfp(SGP_CACHE): the page at `index`, allocated and zeroed if absent.
    pub(crate) fn shmem_getpage(&mut self, ino: usize, index: u64) -> SysResult<u64> {
        if let Some(&pfn) = self.shmem[ino].cache.get(&index) {
            return Ok(pfn);
        }
        let pfn = self.pages.alloc().ok_or(Errno::ENOMEM)?;
        self.phys.clear(pfn);
        let p = self.pages.page_mut(pfn);
        p.flags = PG_SWAPBACKED | PG_UPTODATE;
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
            for (_, pfn) in inode.cache {
                self.vmstat.nr_shmem -= 1;
                self.put_page(pfn);
            }
        }
    }

    /// shmem_undo_range() for a hole punch: drop cached pages in `[from, to)` (by index).
    pub(crate) fn shmem_truncate_range(&mut self, ino: usize, from: u64, to: u64) {
        let victims: Vec<(u64, u64)> = self.shmem[ino]
            .cache
            .range(from..to)
            .map(|(&i, &p)| (i, p))
            .collect();
        for (i, pfn) in victims {
            self.shmem[ino].cache.remove(&i);
            self.vmstat.nr_shmem -= 1;
            self.put_page(pfn);
        }
    }
}
