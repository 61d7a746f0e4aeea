//! TEMPORARY until the lead's swap core lands on main (deleted at the merge).

use crate::kernel::Kernel;
use crate::page::{Folio, Gfp, PageFlags};

pub(crate) struct ScanControl {
    pub gfp: Gfp,
    pub priority: i32,
    pub may_writepage: bool,
    pub may_unmap: bool,
    pub may_swap: bool,
    pub ignore_references: bool,
    pub kswapd: bool,
    pub nr_scanned: u64,
    pub nr_reclaimed: u64,
}

impl Kernel {
    pub(crate) fn isolate_lru_folio(&mut self, f: Folio) -> bool {
        if !self.pages.folio_test(f, PageFlags::LRU) {
            return false;
        }
        self.folio_get(f);
        self.pages.folio_clear(f, PageFlags::LRU);
        self.lru.lruvec.del(&mut self.pages, f);
        true
    }
    pub(crate) fn shrink_folio_list(
        &mut self,
        list: Vec<Folio>,
        sc: &mut ScanControl,
    ) -> (u64, Vec<Folio>) {
        let _ = (sc.gfp, sc.may_writepage, sc.ignore_references);
        for &f in &list {
            sc.nr_scanned += self.pages.folio_nr_pages(f);
        }
        (0, list)
    }
    pub fn nr_swap_pages(&self) -> i64 {
        0
    }
    pub fn total_swap_pages(&self) -> i64 {
        0
    }
    pub(crate) fn workingset_age(&mut self, _nr: u64) {}
}
