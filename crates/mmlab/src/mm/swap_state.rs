//! mm/swap_state.c: the swap cache (one index of folios and shadows by swap entry, standing
//! for 5.19's per-64 MiB address spaces), add_to_swap(), the lookups of a swap fault, and the
//! read-ahead around it (swap_cluster_readahead() / swap_vma_readahead()).

use std::collections::HashMap;

use crate::kernel::Kernel;
use crate::page::{Folio, Gfp, PageFlags, Pfn};
use crate::pgtable::swp::SwpEntry;

/// Bits of page->private for the offset (the model packs swp_entry_t into 32 bits: the type
/// above these, so 0 - type 0, the header slot - means "no entry").
const PRIVATE_OFFSET_BITS: u32 = 27;

/// page->private for a swap entry.
pub(crate) fn entry_to_private(e: SwpEntry) -> u32 {
    (e.typ << PRIVATE_OFFSET_BITS) | e.offset as u32
}

/// The swap entry page->private holds.
pub(crate) fn private_to_entry(p: u32) -> SwpEntry {
    SwpEntry::new(
        p >> PRIVATE_OFFSET_BITS,
        u64::from(p & ((1 << PRIVATE_OFFSET_BITS) - 1)),
    )
}

/// The largest swap device the packing holds, in slots.
pub const MAX_SWAP_SLOTS: u64 = 1 << PRIVATE_OFFSET_BITS;

/// One swap-cache slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheSlot {
    /// A page of a folio in the swap cache.
    Page(Pfn),
    /// What workingset_eviction() left: the eviction cookie.
    Shadow(u64),
}

/// The swap cache: swapper_spaces[][] collapsed into one index by swp_entry_t.val.
#[derive(Clone, Debug, Default)]
pub struct SwapCache {
    pub(crate) slots: HashMap<u64, CacheSlot>,
    /// swapin_readahead_hits.
    pub(crate) ra_hits: u32,
    /// swapin_nr_pages()'s prev_offset and last_readahead_pages.
    prev_offset: u64,
    last_ra: u32,
}

impl SwapCache {
    /// Host bytes the swap cache's index takes, for the memory-per-swapped-page benchmark: an
    /// estimate of the hash table's heap (hashbrown: a power-of-two number of buckets of which
    /// 7/8 are usable, each holding a key and value plus a control byte, and one group of 16
    /// control bytes more). Shadows left by reclaim count as entries too.
    pub fn host_bytes(&self) -> usize {
        let cap = self.slots.capacity();
        if cap == 0 {
            return 0;
        }
        let buckets = if cap < 8 {
            (cap + 1).next_power_of_two()
        } else {
            (cap * 8 / 7).next_power_of_two()
        };
        buckets * (std::mem::size_of::<(u64, CacheSlot)>() + 1) + 16
    }
}

impl Kernel {
    /// The swap-cache page of an entry, if any (no side effects).
    pub(crate) fn swap_cache_page(&self, e: SwpEntry) -> Option<Pfn> {
        match self.swap_cache.slots.get(&e.val()) {
            Some(CacheSlot::Page(p)) => Some(*p),
            _ => None,
        }
    }

    /// The swap entry of a swap-cache page (page_swap_entry()).
    pub(crate) fn page_swap_entry(&self, pfn: Pfn) -> SwpEntry {
        private_to_entry(self.pages.page(pfn).private)
    }

    /// add_to_swap_cache(): the folio's pages take the slots from `e` on (a shadow there is
    /// returned for the refault check); PG_swapcache, private, one reference per page.
    pub(crate) fn add_to_swap_cache(&mut self, f: Folio, e: SwpEntry) -> Option<u64> {
        let nr = self.pages.folio_nr_pages(f);
        self.pages.folio_ref_add(f, nr as i32);
        self.pages.folio_set(f, PageFlags::SWAPCACHE);
        let mut shadow = None;
        for i in 0..nr {
            let ei = SwpEntry::new(e.typ, e.offset + i);
            self.pages.page_mut(f.page(i)).private = entry_to_private(ei);
            if let Some(CacheSlot::Shadow(s)) = self
                .swap_cache
                .slots
                .insert(ei.val(), CacheSlot::Page(f.page(i)))
            {
                shadow = Some(s);
            }
        }
        self.vmstat.nr_swapcached += nr;
        shadow
    }

    /// __delete_from_swap_cache(): the slots hold `shadow` (or nothing) instead; the folio
    /// loses PG_swapcache and private. The caller puts the swap entries and the references.
    pub(crate) fn __delete_from_swap_cache(&mut self, f: Folio, shadow: Option<u64>) -> SwpEntry {
        let nr = self.pages.folio_nr_pages(f);
        let e = self.page_swap_entry(f.pfn());
        for i in 0..nr {
            let key = SwpEntry::new(e.typ, e.offset + i).val();
            match shadow {
                Some(s) => self.swap_cache.slots.insert(key, CacheSlot::Shadow(s)),
                None => self.swap_cache.slots.remove(&key),
            };
            self.pages.page_mut(f.page(i)).private = 0;
        }
        self.pages.folio_clear(f, PageFlags::SWAPCACHE);
        self.vmstat.nr_swapcached -= nr;
        e
    }

    /// delete_from_swap_cache(): out of the cache, the slots' SWAP_HAS_CACHE dropped
    /// (put_swap_page()), the cache's references put.
    pub(crate) fn delete_from_swap_cache(&mut self, f: Folio) {
        let nr = self.pages.folio_nr_pages(f);
        let e = self.__delete_from_swap_cache(f, None);
        for i in 0..nr {
            self.put_swap_entry(SwpEntry::new(e.typ, e.offset + i));
        }
        self.pages.folio_ref_add(f, -(nr as i32));
    }

    /// The shadow of a freed slot goes (swap_range_free() → clear_shadow_from_swap_cache()).
    pub(crate) fn swap_cache_clear_shadow(&mut self, e: SwpEntry) {
        if let Some(CacheSlot::Shadow(_)) = self.swap_cache.slots.get(&e.val()) {
            self.swap_cache.slots.remove(&e.val());
        }
    }

    /// exit_swap_address_space(): the type's cache is gone with the device.
    pub(crate) fn swap_cache_forget_type(&mut self, typ: u32) {
        self.swap_cache
            .slots
            .retain(|&v, _| SwpEntry::from_val(v).typ != typ);
    }

    /// add_to_swap(): a slot (a cluster for a THP), the swap cache, and PG_dirty (the page
    /// must be written before it can go). False if no slot could be had.
    pub(crate) fn add_to_swap(&mut self, f: Folio) -> bool {
        let e = if self.pages.folio_test_large(f) {
            self.get_swap_pages(1, true).pop()
        } else {
            self.get_swap_page_one()
        };
        let Some(e) = e else {
            return false;
        };
        self.add_to_swap_cache(f, e);
        self.pages.folio_set(f, PageFlags::DIRTY);
        true
    }

    /// try_to_free_swap() (folio_free_swap()): a swap-cache folio no swap PTE or shmem entry
    /// points at any more, and not under writeback, leaves the cache; RAM now holds the only
    /// copy, so it is dirty. True if it left.
    pub(crate) fn try_to_free_swap(&mut self, f: Folio) -> bool {
        if !self.pages.folio_test(f, PageFlags::SWAPCACHE)
            || self.pages.folio_test(f, PageFlags::WRITEBACK)
        {
            return false;
        }
        let nr = self.pages.folio_nr_pages(f);
        let e = self.page_swap_entry(f.pfn());
        if (0..nr).any(|i| self.swap_count_of(SwpEntry::new(e.typ, e.offset + i)) > 0) {
            return false;
        }
        self.delete_from_swap_cache(f);
        self.pages.folio_set(f, PageFlags::DIRTY);
        true
    }

    /// free_swap_and_cache(): a zapped swap PTE's reference goes; if only the swap cache
    /// holds the slot now, its page is dropped from the cache when nothing maps it or swap
    /// is more than half full (TTRS_UNMAPPED | TTRS_FULL).
    pub(crate) fn free_swap_and_cache(&mut self, e: SwpEntry) {
        let left = self.swap_entry_put(e);
        if left != crate::mm::swapfile::SWAP_HAS_CACHE {
            return;
        }
        let Some(pfn) = self.swap_cache_page(e) else {
            return;
        };
        let f = self.pages.folio(pfn);
        if self.pages.folio_test(f, PageFlags::LOCKED) {
            return;
        }
        if self.pages.folio_mapcount(f) == 0 || self.vm_swap_full() {
            self.try_to_free_swap(f);
        }
    }

    /// free_page_and_swap_cache(): drop a reference to a page just unmapped; if nothing maps
    /// it any more its swap-cache copy goes first (free_swap_cache()).
    pub(crate) fn free_page_and_swap_cache(&mut self, pfn: Pfn) {
        let f = self.pages.folio(pfn);
        if self.pages.folio_test(f, PageFlags::SWAPCACHE)
            && self.pages.folio_mapcount(f) == 0
            && !self.pages.folio_test(f, PageFlags::LOCKED)
        {
            self.try_to_free_swap(f);
        }
        self.put_page(pfn);
    }

    /// lookup_swap_cache(): the cached page of an entry; a page read ahead that is found
    /// counts as a read-ahead hit (swap_ra_hit, and feeds the next window).
    pub(crate) fn lookup_swap_cache(&mut self, e: SwpEntry) -> Option<Pfn> {
        let pfn = self.swap_cache_page(e)?;
        let f = self.pages.folio(pfn);
        // PG_readahead shares its bit with PG_reclaim.
        if !self.pages.folio_test_large(f) && self.pages.folio_test(f, PageFlags::RECLAIM) {
            self.pages.folio_clear(f, PageFlags::RECLAIM);
            self.vmstat.swap_ra_hit += 1;
            self.swap_cache.ra_hits += 1;
        }
        Some(pfn)
    }

    /// swapin_nr_pages(): the read-ahead window, from the hits since the last one and
    /// whether this fault is next to the previous one (__swapin_nr_pages()).
    fn swapin_nr_pages(&mut self, offset: u64) -> u64 {
        let max = 1u32 << self.cfg.page_cluster.min(31);
        if max <= 1 {
            return 1;
        }
        let hits = std::mem::take(&mut self.swap_cache.ra_hits);
        let prev = self.swap_cache.prev_offset;
        let mut pages = hits + 2;
        if pages == 2 {
            if offset != prev.wrapping_add(1) && offset != prev.wrapping_sub(1) {
                pages = 1;
            }
        } else {
            pages = pages.next_power_of_two().max(4);
        }
        pages = pages.min(max).max(self.swap_cache.last_ra / 2);
        if hits == 0 {
            self.swap_cache.prev_offset = offset;
        }
        self.swap_cache.last_ra = pages;
        u64::from(pages)
    }

    /// __read_swap_cache_async(): the swap-cache page of `e`, or a new one added to the cache
    /// and read (SWAP_HAS_CACHE taken by swapcache_prepare()). None if the slot is free or no
    /// page could be had. The bool says the page is new (the caller reads it).
    fn read_swap_cache_async(&mut self, e: SwpEntry) -> Option<(Pfn, bool)> {
        if let Some(pfn) = self.swap_cache_page(e) {
            return Some((pfn, false));
        }
        if self.swapcache_prepare(e).is_err() {
            return None;
        }
        let Some(f) = self.alloc_folio(Gfp::HIGHUSER_MOVABLE, 0) else {
            self.put_swap_entry(e);
            return None;
        };
        self.pages
            .folio_set(f, PageFlags::SWAPBACKED | PageFlags::LOCKED);
        // The slot already has SWAP_HAS_CACHE: add without taking it again.
        let shadow = self.add_to_swap_cache(f, e);
        if let Some(s) = shadow {
            self.workingset_refault(f, s);
        }
        self.folio_add_lru(f);
        self.swap_readpage(f.pfn(), e);
        self.pages.folio_clear(f, PageFlags::LOCKED);
        Some((f.pfn(), true))
    }

    /// swapin_readahead(): the page of `e` for a fault at `addr`, with read-ahead around it
    /// (the cluster around the offset while a rotational device is on, else the PTEs
    /// around the address). The page comes back with a reference the caller owns.
    pub(crate) fn swapin_readahead(&mut self, e: SwpEntry, ra: &[SwpEntry]) -> Option<Pfn> {
        for &x in ra {
            if x == e {
                continue;
            }
            if let Some((pfn, true)) = self.read_swap_cache_async(x) {
                // SetPageReadahead(); count_vm_event(SWAP_RA); put_page().
                self.pages.page_mut(pfn).flags |= PageFlags::RECLAIM;
                self.vmstat.swap_ra += 1;
                self.put_page(pfn);
            }
        }
        if ra.len() > 1 {
            self.lru_add_drain();
        }
        let (pfn, new) = self.read_swap_cache_async(e)?;
        if !new {
            self.get_page(pfn);
        }
        Some(pfn)
    }

    /// The read-ahead entries for a fault on `e` (swap_cluster_readahead()'s aligned block;
    /// the VMA flavour gets its window from the caller's PTEs).
    pub(crate) fn swap_cluster_ra_entries(&mut self, e: SwpEntry) -> Vec<SwpEntry> {
        let mask = self.swapin_nr_pages(e.offset) - 1;
        if mask == 0 {
            return vec![e];
        }
        let max = self.swap.si(e.typ).map_or(0, |si| si.max);
        let start = (e.offset & !mask).max(1);
        let end = (e.offset | mask).min(max.saturating_sub(1));
        (start..=end).map(|o| SwpEntry::new(e.typ, o)).collect()
    }

    /// The window swap_vma_readahead() reads: `win` PTE slots around the fault, aligned,
    /// clipped to the VMA and the page table (swap_ra_info()).
    pub(crate) fn swap_vma_ra_window(
        &mut self,
        e: SwpEntry,
        addr: u64,
        vma: (u64, u64),
    ) -> (u64, u64) {
        let win = self.swapin_nr_pages(e.offset);
        if win == 1 {
            return (addr, addr + crate::hw::PAGE_SIZE);
        }
        let size = win * crate::hw::PAGE_SIZE;
        let pmd = addr & !((1 << 21) - 1);
        let start = (addr & !(size - 1)).max(vma.0).max(pmd);
        let end = ((addr & !(size - 1)) + size)
            .min(vma.1)
            .min(pmd + (1 << 21));
        (start, end)
    }
}
