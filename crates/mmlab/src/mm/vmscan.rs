//! Page reclaim (mm/vmscan.c, 5.19): what happens to a list of isolated folios
//! (shrink_page_list() with folio_check_references(), pageout() and __remove_mapping()),
//! isolation from and return to the LRU, and reclaim_pages() for MADV_PAGEOUT. Scanning the
//! LRU lists under memory pressure (shrink_node() and kswapd) builds on this.

use std::collections::VecDeque;

use crate::kernel::Kernel;
use crate::mm::swapfile::SwpFlags;
use crate::page::{Folio, Gfp, PageFlags};

/// struct scan_control: what one reclaim invocation may do and what it did.
#[derive(Clone, Debug)]
pub(crate) struct ScanControl {
    /// The allocation's gfp mask (whether reclaim may do I/O and enter the filesystem).
    pub gfp: Gfp,
    /// May write dirty pages out.
    pub may_writepage: bool,
    /// May unmap mapped pages.
    pub may_unmap: bool,
    /// Reclaim regardless of references (only reclaim_clean_pages_from_list() in 5.19).
    pub ignore_references: bool,
    /// current_is_kswapd().
    pub kswapd: bool,
    /// Pages looked at.
    pub nr_scanned: u64,
    /// Pages freed.
    pub nr_reclaimed: u64,
    /// sc->nr: what the current shrink_node() pass met, for throttling.
    pub nr: ReclaimStat,
}

/// The part of sc->nr (struct reclaim_stat summed over a shrink_node() pass) that decides
/// kswapd's throttling: pages isolated, met under writeback, and met under writeback again
/// after being marked for immediate reclaim while the node is flagged PGDAT_WRITEBACK.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ReclaimStat {
    pub taken: u64,
    pub writeback: u64,
    pub immediate: u64,
}

impl ScanControl {
    /// reclaim_pages()'s scan_control: GFP_KERNEL, may write, unmap and swap.
    pub fn for_reclaim_pages() -> ScanControl {
        ScanControl {
            gfp: Gfp::KERNEL,
            may_writepage: true,
            may_unmap: true,
            ignore_references: false,
            kswapd: false,
            nr_scanned: 0,
            nr_reclaimed: 0,
            nr: ReclaimStat::default(),
        }
    }
}

/// What folio_check_references() decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PageReferences {
    Activate,
    Keep,
    Reclaim,
    ReclaimClean,
}

/// Where shrink_page_list()'s look at one folio ends.
enum Verdict {
    /// Freed: its pages count as reclaimed.
    Free,
    /// activate_locked: back on the LRU, active.
    Activate,
    /// keep: back on the LRU as it is.
    Keep,
}

/// What pageout() returns.
enum PageoutResult {
    Keep,
    Activate,
    Success,
    Clean,
}

impl Kernel {
    /// isolate_lru_page() (folio_isolate_lru()): off its LRU list with a reference for the
    /// isolator. False for a folio not on an LRU (still in a per-CPU batch, or isolated).
    pub(crate) fn isolate_lru_folio(&mut self, f: Folio) -> bool {
        if !self.pages.folio_test(f, PageFlags::LRU) {
            return false;
        }
        self.folio_get(f);
        self.pages.folio_clear(f, PageFlags::LRU);
        self.lru.lruvec.del(&mut self.pages, f);
        true
    }

    /// putback_lru_page() (folio_putback_lru()): back through this CPU's add batch, and the
    /// isolation reference goes.
    pub(crate) fn folio_putback_lru(&mut self, f: Folio) {
        self.folio_add_lru(f);
        self.folio_put(f);
    }

    /// reclaim_pages(): MADV_PAGEOUT's isolated folios, each deactivated and passed to
    /// shrink_page_list() with references checked; what survives goes back on the LRU.
    /// Writes a swap file started complete after that (the bio's end_io).
    pub(crate) fn reclaim_pages(&mut self, list: Vec<Folio>) -> u64 {
        if list.is_empty() {
            return 0;
        }
        for &f in &list {
            self.pages.folio_clear(f, PageFlags::ACTIVE);
        }
        let mut sc = ScanControl::for_reclaim_pages();
        let (reclaimed, kept) = self.shrink_folio_list(list, &mut sc);
        for f in kept {
            self.folio_putback_lru(f);
        }
        self.swap_io_complete();
        reclaimed
    }

    /// folio_check_references(): a folio mapped in a VM_LOCKED VMA is activated (mlock
    /// takes it); one referenced through a PTE is activated if it was referenced before
    /// (PG_referenced) or through several mappings, or is an executable file page, and is
    /// otherwise kept for a second look; an unreferenced file folio read once (PG_referenced)
    /// may go only if clean.
    fn folio_check_references(&mut self, f: Folio) -> PageReferences {
        let r = self.folio_referenced(f);
        let was_referenced = self.pages.folio_test(f, PageFlags::REFERENCED);
        self.pages.folio_clear(f, PageFlags::REFERENCED);
        let file = !self.pages.folio_test(f, PageFlags::SWAPBACKED);
        if r.vm_flags & crate::mm::vma::vm::VM_LOCKED != 0 {
            return PageReferences::Activate;
        }
        if r.referenced > 0 {
            self.pages.folio_set(f, PageFlags::REFERENCED);
            if was_referenced || r.referenced > 1 {
                return PageReferences::Activate;
            }
            if file && r.vm_flags & crate::mm::vma::vm::VM_EXEC != 0 {
                return PageReferences::Activate;
            }
            return PageReferences::Keep;
        }
        if was_referenced && file {
            return PageReferences::ReclaimClean;
        }
        PageReferences::Reclaim
    }

    /// may_enter_fs(): reclaim may write a swap-cache folio with __GFP_IO alone, unless its
    /// device does its I/O through a filesystem (SWP_FS_OPS, 5.19).
    fn may_enter_fs(&self, f: Folio, gfp: Gfp) -> bool {
        if gfp.contains(Gfp::FS) {
            return true;
        }
        if !self.pages.folio_test(f, PageFlags::SWAPCACHE) || !gfp.contains(Gfp::IO) {
            return false;
        }
        // 5.18 let __GFP_IO alone write any swap-cache folio.
        let e = self.page_swap_entry(f.pfn());
        !self.cfg.features.swap_rw || !self.swap_flags_of(e).contains(SwpFlags::FS_OPS)
    }

    /// folio_maybe_dma_pinned(): a large folio's pincount, a small one's refcount reaching
    /// GUP_PIN_COUNTING_BIAS.
    pub(crate) fn folio_maybe_dma_pinned(&self, f: Folio) -> bool {
        if self.pages.folio_test_large(f) {
            self.pages.compound_pincount(f.pfn()) > 0
        } else {
            self.pages.folio_ref_count(f) >= crate::mm::gup::GUP_PIN_COUNTING_BIAS
        }
    }

    /// shrink_page_list(): each isolated folio of `list` is freed, or comes back in the
    /// second value (to be put back on the LRU, active if it was activated). Returns the
    /// pages freed. A THP that must be split puts its tail pages on the list.
    pub(crate) fn shrink_folio_list(
        &mut self,
        list: Vec<crate::page::Folio>,
        sc: &mut ScanControl,
    ) -> (u64, Vec<Folio>) {
        let mut queue: VecDeque<Folio> = list.into();
        let mut ret = Vec::new();
        let mut reclaimed = 0;
        let mut activated = 0;
        let mut batch = crate::mm::rmap::UnmapBatch::default();
        // The swap_iocb this pass's SWP_FS_OPS writes gather in (wbc->swap_plug).
        let mut plug = crate::mm::page_io::SwapPlug::default();
        while let Some(f) = queue.pop_front() {
            let mut nr = self.pages.folio_nr_pages(f);
            sc.nr_scanned += nr;
            let before = nr;
            let verdict = self.shrink_one(f, sc, (&mut queue, &mut plug), &mut nr, &mut batch);
            // A split folio's tails are counted when their turn comes.
            sc.nr_scanned -= before - nr;
            match verdict {
                Verdict::Free => {
                    reclaimed += nr;
                    self.folio_put(f);
                }
                Verdict::Activate => {
                    // activate_locked: a swap-cache copy is pointless once swap is full.
                    if self.pages.folio_test(f, PageFlags::SWAPCACHE)
                        && (self.vm_swap_full() || self.pages.folio_test(f, PageFlags::MLOCKED))
                    {
                        self.try_to_free_swap(f);
                    }
                    if !self.pages.folio_test(f, PageFlags::MLOCKED) {
                        self.pages.folio_set(f, PageFlags::ACTIVE);
                        activated += nr;
                    }
                    ret.push(f);
                }
                Verdict::Keep => ret.push(f),
            }
        }
        self.vmstat.pgactivate += activated;
        self.try_to_unmap_flush(batch);
        self.swap_unplug(plug);
        sc.nr_reclaimed += reclaimed;
        (reclaimed, ret)
    }

    /// One folio of shrink_page_list(); `nr` drops to 1 when a THP was split.
    fn shrink_one(
        &mut self,
        f: Folio,
        sc: &mut ScanControl,
        (queue, plug): (&mut VecDeque<Folio>, &mut crate::mm::page_io::SwapPlug),
        nr: &mut u64,
        batch: &mut crate::mm::rmap::UnmapBatch,
    ) -> Verdict {
        let m = &self.pages;
        if m.folio_test(f, PageFlags::LOCKED) {
            return Verdict::Keep;
        }
        if m.folio_test(f, PageFlags::UNEVICTABLE | PageFlags::MLOCKED) {
            return Verdict::Activate;
        }
        let mapped = m.folio_mapcount(f) > 0;
        if !sc.may_unmap && mapped {
            return Verdict::Keep;
        }
        if m.folio_test(f, PageFlags::WRITEBACK) {
            // Case 1: kswapd meets a page it marked before, still being written, on a node
            // where writeback is all it finds: count it, kswapd will throttle.
            if sc.kswapd
                && m.folio_test(f, PageFlags::RECLAIM)
                && self.pgdat.throttle.pgdat_writeback
            {
                sc.nr.immediate += *nr;
                return Verdict::Activate;
            }
            // Case 2 of global reclaim: mark it and move on.
            self.pages.folio_set(f, PageFlags::RECLAIM);
            sc.nr.writeback += *nr;
            return Verdict::Activate;
        }
        let refs = if sc.ignore_references {
            PageReferences::Reclaim
        } else {
            self.folio_check_references(f)
        };
        match refs {
            PageReferences::Activate => return Verdict::Activate,
            PageReferences::Keep => return Verdict::Keep,
            PageReferences::Reclaim | PageReferences::ReclaimClean => {}
        }
        let anon = self.pages.folio_test(f, PageFlags::ANON);
        let swapbacked = self.pages.folio_test(f, PageFlags::SWAPBACKED);
        let large = self.pages.folio_test_large(f);
        if anon && swapbacked && !self.pages.folio_test(f, PageFlags::SWAPCACHE) {
            if !sc.gfp.contains(Gfp::IO) || self.folio_maybe_dma_pinned(f) {
                return Verdict::Keep;
            }
            if large && !self.pmd_mapped(f) && !self.split_for_reclaim(f, queue, nr) {
                return Verdict::Activate;
            }
            if !self.add_to_swap(f) {
                if !self.pages.folio_test_large(f) {
                    return Verdict::Activate;
                }
                // Fall back to swapping the pages out one by one.
                if !self.split_for_reclaim(f, queue, nr) {
                    return Verdict::Activate;
                }
                self.vmstat.thp_swpout_fallback += 1;
                if !self.add_to_swap(f) {
                    return Verdict::Activate;
                }
            }
        } else if swapbacked && large && !self.split_for_reclaim(f, queue, nr) {
            // A shmem THP is split (shmem_writepage() writes base pages).
            return Verdict::Keep;
        }
        if self.pages.folio_mapcount(f) > 0 {
            self.try_to_unmap(f, batch);
            if self.pages.folio_mapcount(f) > 0 {
                return Verdict::Activate;
            }
        }
        if self.pages.folio_test(f, PageFlags::DIRTY) {
            let file_lru = !self.pages.folio_test(f, PageFlags::SWAPBACKED);
            if file_lru && (!sc.kswapd || !self.pages.folio_test(f, PageFlags::RECLAIM)) {
                // Only kswapd writes file pages, and only ones it has seen before.
                self.pages.folio_set(f, PageFlags::RECLAIM);
                self.vmstat.nr_vmscan_immediate_reclaim += *nr;
                return Verdict::Activate;
            }
            if refs == PageReferences::ReclaimClean
                || !self.may_enter_fs(f, sc.gfp)
                || !sc.may_writepage
            {
                return Verdict::Keep;
            }
            self.try_to_unmap_flush(std::mem::take(batch));
            match self.pageout(f, plug) {
                PageoutResult::Keep => return Verdict::Keep,
                PageoutResult::Activate => return Verdict::Activate,
                PageoutResult::Success => {
                    if self
                        .pages
                        .folio_test(f, PageFlags::WRITEBACK | PageFlags::DIRTY)
                    {
                        return Verdict::Keep;
                    }
                }
                PageoutResult::Clean => {}
            }
        }
        if anon && !self.pages.folio_test(f, PageFlags::SWAPBACKED) {
            // A lazily freed page nobody redirtied: the isolation reference is the last.
            if self.pages.folio_ref_count(f) != 1 || self.pages.folio_test(f, PageFlags::DIRTY) {
                return Verdict::Keep;
            }
            self.vmstat.pglazyfreed += *nr;
            return Verdict::Free;
        }
        if self.remove_mapping(f) {
            Verdict::Free
        } else {
            Verdict::Keep
        }
    }

    /// Is the THP mapped by a PMD anywhere (folio_entire_mapcount())?
    fn pmd_mapped(&self, f: Folio) -> bool {
        self.pages.compound_mapcount(f.pfn()) > 0
    }

    /// split_folio_to_list() during reclaim: the tail pages join the list being reclaimed
    /// (each isolated with its own reference); the head goes on as a base page.
    fn split_for_reclaim(&mut self, f: Folio, queue: &mut VecDeque<Folio>, nr: &mut u64) -> bool {
        let mut tails = Vec::new();
        if !self.split_huge_page_to_list(f, Some(&mut tails)) {
            return false;
        }
        for t in tails.into_iter().rev() {
            queue.push_front(t);
        }
        *nr = 1;
        true
    }

    /// pageout(): write a dirty folio reclaim has unmapped. Someone else holding a reference
    /// keeps it; a swap-cache folio goes to swap_writepage(), a shmem one to
    /// shmem_writepage() (which finds it a swap slot, or redirties it and asks for
    /// activation without swap).
    fn pageout(&mut self, f: Folio, plug: &mut crate::mm::page_io::SwapPlug) -> PageoutResult {
        let nr = self.pages.folio_nr_pages(f);
        // is_page_cache_freeable(): the cache's references and the isolation one.
        if self.pages.folio_ref_count(f) != 1 + nr as i32 {
            return PageoutResult::Keep;
        }
        let swapcache = self.pages.folio_test(f, PageFlags::SWAPCACHE);
        // folio_clear_dirty_for_io()
        if !self.pages.folio_test(f, PageFlags::DIRTY) {
            return PageoutResult::Clean;
        }
        self.pages.folio_set(f, PageFlags::RECLAIM);
        if swapcache {
            self.swap_writepage(f, Some(plug));
        } else if !self.writepage(f, plug) {
            // AOP_WRITEPAGE_ACTIVATE
            self.pages.folio_clear(f, PageFlags::RECLAIM);
            return PageoutResult::Activate;
        }
        if !self.pages.folio_test(f, PageFlags::WRITEBACK) {
            self.pages.folio_clear(f, PageFlags::RECLAIM);
        }
        self.vmstat.nr_vmscan_write += nr;
        PageoutResult::Success
    }

    /// __remove_mapping(reclaimed = true): a folio only its cache and the isolation hold
    /// leaves the swap cache (a shadow stays in its slot) or the page cache; true if so.
    fn remove_mapping(&mut self, f: Folio) -> bool {
        let nr = self.pages.folio_nr_pages(f);
        if self.pages.folio_ref_count(f) != 1 + nr as i32
            || self.pages.folio_test(f, PageFlags::DIRTY)
        {
            return false;
        }
        if self.pages.folio_test(f, PageFlags::SWAPCACHE) {
            let shadow = self.workingset_eviction(f);
            let e = self.__delete_from_swap_cache(f, Some(shadow));
            self.pages.folio_ref_add(f, -(nr as i32));
            for i in 0..nr {
                self.put_swap_entry(crate::pgtable::swp::SwpEntry::new(e.typ, e.offset + i));
            }
            return true;
        }
        // A page-cache (shmem) page: no shadow for a swap-backed one.
        let Some(ino) = self.pages.folio_mapping(f).map(|m| m as usize) else {
            return false;
        };
        let index = self.pages.page(f.pfn()).index();
        if nr != 1 || self.inodes[ino].i_mapping.page(index) != Some(f.pfn()) {
            return false;
        }
        self.delete_from_page_cache(ino, index, f.pfn());
        true
    }
}
