//! Page reclaim (mm/vmscan.c): what shrink_page_list() does with a page once it is unmapped.
//! Without swap devices only clean page-cache pages can go; MADV_PAGEOUT is the one caller.

use crate::page::{Folio, PageFlags, Pfn};
use crate::Kernel;

impl Kernel {
    /// shrink_page_list() for a base file page reclaim has unmapped: a dirty one goes to
    /// pageout(), where shmem_writepage() finds no swap and redirties it (kept); a clean one
    /// that only the page cache holds leaves it (__remove_mapping(), no shadow entry for a
    /// swap-backed page), so the file has a hole there again. True if it went.
    pub(crate) fn shrink_unmapped_file_page(&mut self, pfn: Pfn) -> bool {
        let f = Folio(pfn);
        if self.thp_head(pfn).is_some()
            || self.pages.folio_test(f, PageFlags::ANON | PageFlags::DIRTY)
            || self.pages.page_mapcount(pfn) != 0
        {
            return false;
        }
        // __remove_mapping(): folio_ref_freeze() succeeds only with the cache's reference
        // (and reclaim's isolation one, which the model does not take) left.
        if self.pages.folio_ref_count(f) != 1 {
            return false;
        }
        let p = self.pages.page(pfn);
        let (ino, index) = (p.mapping() as usize, p.index);
        if self.inodes[ino].i_mapping.page(index) != Some(pfn) {
            return false;
        }
        self.shmem_delete_from_page_cache(ino, index, pfn);
        true
    }
}
