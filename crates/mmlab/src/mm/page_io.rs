//! mm/page_io.c: swap I/O. A device's contents are kept by slot. A zram device completes each
//! write inside swap_writepage() (rw_page, synchronous); a swap file's writes go out as bios
//! whose completion (end_page_writeback()) the model delivers once reclaim has put its batch
//! back on the LRU (`swap_io_complete()`), as a disk interrupt would arrive after the
//! submitting pass. Reads complete before the faulting task goes on.

use crate::kernel::Kernel;
use crate::mm::swapfile::SwpFlags;
use crate::page::{Folio, PageFlags, Pfn};
use crate::pgtable::swp::SwpEntry;

impl Kernel {
    /// swap_writepage() of a locked swap-cache folio: each page's contents go to its slot,
    /// the folio is under writeback, pswpout (and thp_swpout) counted at submission; a
    /// synchronous device ends the writeback before returning.
    pub(crate) fn swap_writepage(&mut self, f: Folio) {
        let nr = self.pages.folio_nr_pages(f);
        let e = self.page_swap_entry(f.pfn());
        self.pages.folio_set(f, PageFlags::WRITEBACK);
        self.pages.folio_clear(f, PageFlags::DIRTY);
        for i in 0..nr {
            let img = self.phys.image(f.page(i));
            if let Some(si) = self.swap.devices[e.typ as usize].as_mut() {
                si.store.insert(e.offset + i, img);
            }
        }
        self.vmstat.pswpout += nr;
        if nr > 1 {
            self.vmstat.thp_swpout += 1;
        }
        if self.swap_flags_of(e).contains(SwpFlags::SYNCHRONOUS_IO) {
            self.end_page_writeback(f);
        } else {
            self.swap_io_pending.push(f);
        }
    }

    /// swap_readpage() of one page from `e`: its slot's contents, uptodate, pswpin counted.
    pub(crate) fn swap_readpage(&mut self, pfn: Pfn, e: SwpEntry) {
        let img = self
            .swap
            .device_of(e)
            .and_then(|si| si.store.get(&e.offset).cloned().flatten());
        self.phys.set_image(pfn, img.as_ref());
        self.pages.page_mut(pfn).flags |= PageFlags::UPTODATE;
        self.vmstat.pswpin += 1;
    }

    /// folio_end_writeback(): PG_writeback clears; a folio reclaim wanted freed
    /// (PG_reclaim) goes to the tail of its inactive list (folio_rotate_reclaimable(),
    /// pgrotated) so the next scan finds it first.
    pub(crate) fn end_page_writeback(&mut self, f: Folio) {
        self.pages.folio_clear(f, PageFlags::WRITEBACK);
        if !self.pages.folio_test(f, PageFlags::RECLAIM) {
            return;
        }
        self.pages.folio_clear(f, PageFlags::RECLAIM);
        let m = &self.pages;
        if m.folio_test(f, PageFlags::LRU)
            && !m.folio_test(
                f,
                PageFlags::LOCKED | PageFlags::DIRTY | PageFlags::UNEVICTABLE,
            )
        {
            self.lru.lruvec.del(&mut self.pages, f);
            self.pages.folio_clear(f, PageFlags::ACTIVE);
            self.lru.lruvec.add_tail(&mut self.pages, f);
            self.vmstat.pgrotated += self.pages.folio_nr_pages(f);
        }
    }

    /// The completion of every swap write in flight.
    pub(crate) fn swap_io_complete(&mut self) {
        for f in std::mem::take(&mut self.swap_io_pending) {
            self.end_page_writeback(f);
        }
    }
}
