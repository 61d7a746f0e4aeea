//! mm/page-writeback.c for the disk filesystem: writing a file's dirty pages back
//! (write_cache_pages() through ->writepage, with folio_clear_dirty_for_io()'s
//! page_mkclean()), and the one ->writepage dispatch reclaim's pageout() uses.

use crate::fs::inode::Ino;
use crate::kernel::Kernel;
use crate::page::{Folio, PageFlags, Pfn};
use crate::pgtable::table;

impl Kernel {
    /// mapping->a_ops->writepage() of a dirty page-cache folio reclaim unmapped: shmem's moves
    /// it to swap (false: no slot, AOP_WRITEPAGE_ACTIVATE); the disk filesystem's writes its
    /// block.
    pub(crate) fn writepage(&mut self, f: Folio) -> bool {
        let ino = self.pages.folio_mapping(f) as usize;
        if self.inodes.get(ino).is_some_and(|i| i.is_disk()) {
            self.disk_writepage(f);
            return true;
        }
        self.shmem_writepage(f)
    }

    /// filemap_write_and_wait_range() over page indices `[first, last]` of a disk file: each
    /// cached page is cleaned for I/O (its PTEs' dirty bits gathered and write-protected,
    /// page_mkclean()), and a dirty one is written to its block.
    pub(crate) fn filemap_write_range(&mut self, ino: Ino, first: u64, last: u64) {
        let cached: Vec<(u64, Pfn)> = self.inodes[ino].i_mapping.pages(first..=last).collect();
        for (index, pfn) in cached {
            self.page_mkclean(ino, index, pfn);
            let f = self.pages.folio(pfn);
            if self.pages.folio_test(f, PageFlags::DIRTY) {
                self.disk_writepage(f);
            }
        }
    }

    /// page_mkclean(): every PTE of a shared mapping that maps the page is made clean and
    /// read-only (so the next write faults and dirties the page again); a dirty PTE's bit
    /// goes to the page.
    fn page_mkclean(&mut self, ino: Ino, index: u64, pfn: Pfn) {
        for m in self.i_mmap_overlaps(ino, index, index + 1) {
            let root = self.mms[m.mm].pgd;
            let Some(table::Leaf::Pte(slot)) = table::walk_leaf(&self.phys, root, m.start) else {
                continue;
            };
            let pte = table::get(&self.phys, slot);
            if !pte.is_present() || pte.pfn() != pfn {
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
