//! mm/page-writeback.c and fs/fs-writeback.c for the disk filesystem: writing a file's dirty
//! pages back (write_cache_pages() through ->writepage, with folio_clear_dirty_for_io()'s
//! page_mkclean()), the periodic flush of inodes dirty for longer than dirty_expire_centisecs
//! (wb_workfn() every dirty_writeback_centisecs), and the one ->writepage dispatch reclaim's
//! pageout() uses.

use crate::fs::inode::Ino;
use crate::kernel::Kernel;
use crate::page::{Folio, PageFlags, Pfn};
use crate::pgtable::table;
use crate::time::NSEC_PER_MSEC;

/// dirty_writeback_centisecs' default: the flusher wakes every 5 s.
pub const DIRTY_WRITEBACK_NS: u64 = 5_000 * NSEC_PER_MSEC;
/// dirty_expire_centisecs' default: an inode dirty for 30 s is written back.
pub const DIRTY_EXPIRE_NS: u64 = 30_000 * NSEC_PER_MSEC;

/// The bdi_writeback of the disk filesystem: when the periodic flush last ran.
#[derive(Clone, Copy, Debug, Default)]
pub struct Writeback {
    pub last_old_flush: u64,
}

impl Kernel {
    /// mapping->a_ops->writepage() of a dirty page-cache folio reclaim unmapped: shmem's moves
    /// it to swap (false: no slot, AOP_WRITEPAGE_ACTIVATE); the disk filesystem's writes its
    /// block.
    pub(crate) fn writepage(&mut self, f: Folio, plug: &mut crate::mm::page_io::SwapPlug) -> bool {
        let ino = self.pages.folio_mapping(f);
        if ino
            .and_then(|i| self.inodes.get(i as usize))
            .is_some_and(|i| i.is_disk())
        {
            self.disk_writepage(f);
            return true;
        }
        self.shmem_writepage(f, plug)
    }

    /// filemap_write_and_wait_range() over page indices `[first, last]` of a disk file: each
    /// cached page is cleaned for I/O (its PTEs' dirty bits gathered and write-protected,
    /// page_mkclean()), and a dirty one is written to its block.
    pub(crate) fn filemap_write_range(&mut self, ino: Ino, first: u64, last: u64) {
        let cached: Vec<(u64, Pfn)> = self.inodes[ino].i_mapping.pages(first..=last).collect();
        for (index, pfn) in cached {
            self.page_mkclean(ino, index, pfn, false);
            let f = self.pages.folio(pfn);
            if self.pages.folio_test(f, PageFlags::DIRTY) {
                self.disk_writepage(f);
            }
        }
        // The inode is clean once no page of it is dirty (the inode leaves b_dirty).
        if !self.inode_has_dirty_pages(ino) {
            self.inodes[ino].dirtied_when = None;
        }
    }

    /// Does a cached page of the file carry PG_dirty?
    fn inode_has_dirty_pages(&self, ino: Ino) -> bool {
        self.inodes[ino]
            .i_mapping
            .pages(..)
            .any(|(_, p)| self.pages.folio_test(self.pages.folio(p), PageFlags::DIRTY))
    }

    /// NR_FILE_DIRTY: the dirty pages of the disk filesystem's cache (shmem's are not
    /// accounted: its backing device does no writeback).
    pub fn nr_file_dirty(&self) -> u64 {
        self.inodes
            .iter()
            .filter(|(_, i)| i.is_disk())
            .map(|(_, i)| {
                i.i_mapping
                    .pages(..)
                    .filter(|&(_, p)| self.pages.folio_test(self.pages.folio(p), PageFlags::DIRTY))
                    .count() as u64
            })
            .sum()
    }

    /// __mark_inode_dirty(I_DIRTY_PAGES): a disk inode's first dirty page starts its clock.
    pub(crate) fn mark_inode_dirty(&mut self, ino: Ino) {
        let now = self.now_ns();
        let inode = &mut self.inodes[ino];
        if inode.is_disk() && inode.dirtied_when.is_none() {
            inode.dirtied_when = Some(now);
        }
    }

    /// When the periodic flush next runs: dirty_writeback_centisecs after the last, while the
    /// disk filesystem has pages in its cache (none: it waits for work).
    pub(crate) fn wb_due(&self) -> Option<u64> {
        let cached = self
            .inodes
            .iter()
            .any(|(_, i)| i.is_disk() && i.i_mapping.pages(..).next().is_some());
        cached.then(|| (self.wb.last_old_flush + DIRTY_WRITEBACK_NS).max(self.now_ns()))
    }

    /// wb_workfn() → wb_check_old_data_flush(): a page a shared mapping dirtied counts from
    /// now (its write fault would have dirtied it: page_mkwrite); every disk inode dirty for
    /// dirty_expire_centisecs or longer is written back whole (WB_REASON_PERIODIC).
    pub(crate) fn wb_workfn(&mut self) {
        let now = self.now_ns();
        self.wb.last_old_flush = now;
        let disk: Vec<Ino> = self
            .inodes
            .iter()
            .filter(|(_, i)| i.is_disk())
            .map(|(ino, _)| ino)
            .collect();
        for ino in disk {
            let cached: Vec<(u64, Pfn)> = self.inodes[ino].i_mapping.pages(..).collect();
            for (index, pfn) in cached {
                self.page_mkclean(ino, index, pfn, true);
            }
            if self.inode_has_dirty_pages(ino) {
                self.mark_inode_dirty(ino);
            }
            if self.inodes[ino]
                .dirtied_when
                .is_some_and(|t| t + DIRTY_EXPIRE_NS <= now)
            {
                self.filemap_write_range(ino, 0, u64::MAX);
            }
        }
    }

    /// page_mkclean(): every PTE of a shared mapping that maps the page is made clean and
    /// read-only (so the next write faults and dirties the page again); a dirty PTE's bit
    /// goes to the page. With `only_dirty`, clean PTEs are left as they are.
    fn page_mkclean(&mut self, ino: Ino, index: u64, pfn: Pfn, only_dirty: bool) {
        for m in self.i_mmap_overlaps(ino, index, index + 1) {
            let root = self.mms[m.mm].pgd;
            let Some(table::Leaf::Pte(slot)) = table::walk_leaf(&self.phys, root, m.start) else {
                continue;
            };
            let pte = table::get(&self.phys, slot);
            if !pte.is_present() || pte.pfn() != pfn || (only_dirty && !pte.dirty()) {
                continue;
            }
            if pte.dirty() {
                self.set_page_dirty(pfn);
            }
            table::set(&mut self.phys, slot, pte.wrprotect().mkclean());
            self.flush_tlb_page(m.mm, m.start);
        }
    }
}
