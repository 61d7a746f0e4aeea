//! mm/swap_state.c: the swap cache (one index of folios and shadows by swap entry, standing
//! for 5.19's per-64 MiB address spaces), add_to_swap(), the lookups of a swap fault, and the
//! read-ahead around it (swap_cluster_readahead() / swap_vma_readahead()).

use crate::kernel::Kernel;
use crate::mm::MmId;
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

pub use crate::mm::swap_table::CacheSlot;
use crate::mm::swap_table::{CacheWord, SlotTable};

/// The swap cache: swapper_spaces[type][], one slot table per swap type, and the read-ahead
/// state.
#[derive(Clone, Debug)]
pub struct SwapCache {
    /// By swap type: each slot's page or shadow.
    types: Vec<SlotTable<CacheWord>>,
    /// swapin_readahead_hits.
    pub(crate) ra_hits: u32,
    /// swapin_nr_pages()'s prev_offset and last_readahead_pages.
    prev_offset: u64,
    last_ra: u32,
}

impl Default for SwapCache {
    fn default() -> Self {
        SwapCache {
            types: Vec::new(),
            // swapin_readahead_hits starts at 4, so the first fault reads a whole window.
            ra_hits: 4,
            prev_offset: 0,
            last_ra: 0,
        }
    }
}

/// SWAP_RA_WIN_SHIFT (PAGE_SHIFT / 2): swap_readahead_info keeps the hits below this bit.
const SWAP_RA_WIN_SHIFT: u32 = 6;
/// SWAP_RA_HITS_MASK (also SWAP_RA_HITS_MAX).
const SWAP_RA_HITS_MASK: u64 = (1 << SWAP_RA_WIN_SHIFT) - 1;
/// SWAP_RA_WIN_MASK: the window bits, under the page offset.
const SWAP_RA_WIN_MASK: u64 = 0xfff & !SWAP_RA_HITS_MASK;

/// SWAP_RA_VAL(): an address, a window and hits in one word.
fn swap_ra_val(addr: u64, win: u64, hits: u64) -> u64 {
    (addr & !0xfff) | ((win << SWAP_RA_WIN_SHIFT) & SWAP_RA_WIN_MASK) | (hits & SWAP_RA_HITS_MASK)
}

/// GET_SWAP_RA_VAL(): a VMA that never faulted on swap reads as 4 hits.
fn get_swap_ra_val(info: u64) -> (u64, u64, u64) {
    let v = if info == 0 { 4 } else { info };
    (
        v & !0xfff,
        (v & SWAP_RA_WIN_MASK) >> SWAP_RA_WIN_SHIFT,
        v & SWAP_RA_HITS_MASK,
    )
}

impl SwapCache {
    /// init_swap_address_space(): an empty cache for type `typ` of `slots` slots.
    pub(crate) fn init_type(&mut self, typ: u32, slots: u64) {
        let t = typ as usize;
        if self.types.len() <= t {
            self.types.resize(t + 1, SlotTable::new(0));
        }
        self.types[t] = SlotTable::new(slots);
    }

    /// exit_swap_address_space(): the type's cache is gone with the device.
    pub(crate) fn exit_type(&mut self, typ: u32) {
        if let Some(t) = self.types.get_mut(typ as usize) {
            *t = SlotTable::new(0);
        }
    }

    /// What the cache holds for `e`.
    pub(crate) fn get(&self, e: SwpEntry) -> Option<CacheSlot> {
        self.types.get(e.typ as usize)?.get(e.offset).unpack()
    }

    /// Store `s` for `e` (None empties the slot); what was there.
    pub(crate) fn set(&mut self, e: SwpEntry, s: Option<CacheSlot>) -> Option<CacheSlot> {
        let t = self.types.get_mut(e.typ as usize)?;
        t.set(e.offset, CacheWord::pack(s)).unpack()
    }

    /// Every slot holding a page or a shadow.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (SwpEntry, CacheSlot)> + '_ {
        self.types.iter().enumerate().flat_map(|(typ, t)| {
            t.iter()
                .filter_map(move |(off, w)| Some((SwpEntry::new(typ as u32, off), w.unpack()?)))
        })
    }

    /// Host bytes the cache takes.
    pub fn host_bytes(&self) -> usize {
        self.types.iter().map(SlotTable::host_bytes).sum()
    }
}

impl Kernel {
    /// The swap-cache page of an entry, if any (no side effects).
    pub(crate) fn swap_cache_page(&self, e: SwpEntry) -> Option<Pfn> {
        match self.swap_cache.get(e) {
            Some(CacheSlot::Page(p)) => Some(p),
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
            if let Some(CacheSlot::Shadow(s)) =
                self.swap_cache.set(ei, Some(CacheSlot::Page(f.page(i))))
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
            let key = SwpEntry::new(e.typ, e.offset + i);
            self.swap_cache.set(key, shadow.map(CacheSlot::Shadow));
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
        if let Some(CacheSlot::Shadow(_)) = self.swap_cache.get(e) {
            self.swap_cache.set(e, None);
        }
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
            self.mem_cgroup_swap_fail(f);
            return false;
        };
        if !self.mem_cgroup_try_charge_swap(f, e) {
            self.put_swap_entry(e);
            return false;
        }
        self.add_to_swap_cache(f, e);
        self.swap_dirty_folio(f);
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
            // __try_to_reclaim_swap(): under its own reference, so the page is freed if the
            // swap cache held the last one.
            self.folio_get(f);
            self.try_to_free_swap(f);
            self.folio_put(f);
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

    /// lookup_swap_cache(): the cached page of an entry. A page read ahead that is found
    /// counts as a read-ahead hit (swap_ra_hit): in the faulting VMA's read-ahead state under
    /// VMA read-ahead (which also notes this fault's address), else globally.
    pub(crate) fn lookup_swap_cache(
        &mut self,
        e: SwpEntry,
        vma: Option<(MmId, u64, u64)>,
    ) -> Option<Pfn> {
        let pfn = self.swap_cache_page(e)?;
        let f = self.pages.folio(pfn);
        if self.pages.folio_test_large(f) {
            return Some(pfn);
        }
        // PG_readahead shares its bit with PG_reclaim.
        let readahead = self.pages.folio_test(f, PageFlags::RECLAIM);
        self.pages.folio_clear(f, PageFlags::RECLAIM);
        let vma_ra = self.swap.nr_rotate_swap == 0;
        if let Some((mm, vstart, addr)) = vma.filter(|_| vma_ra) {
            if let Some(v) = self.mms[mm].vmas.get_mut(vstart) {
                let (_, win, hits) = get_swap_ra_val(v.swap_ra_info);
                let hits = if readahead {
                    (hits + 1).min(SWAP_RA_HITS_MASK)
                } else {
                    hits
                };
                v.swap_ra_info = swap_ra_val(addr, win, hits);
            }
        }
        if readahead {
            self.vmstat.swap_ra_hit += 1;
            if vma.is_none() || !vma_ra {
                self.swap_cache.ra_hits += 1;
            }
        }
        Some(pfn)
    }

    /// swapin_nr_pages(): the cluster read-ahead window, from the hits since the last one.
    fn swapin_nr_pages(&mut self, offset: u64) -> u64 {
        let max = 1u64 << self.cfg.page_cluster.min(31);
        if max <= 1 {
            return 1;
        }
        let hits = u64::from(std::mem::take(&mut self.swap_cache.ra_hits));
        let sc = &mut self.swap_cache;
        let pages = swapin_window(sc.prev_offset, offset, hits, max, u64::from(sc.last_ra));
        if hits == 0 {
            sc.prev_offset = offset;
        }
        sc.last_ra = pages as u32;
        pages
    }

    /// __read_swap_cache_async(): the swap-cache page of `e`, or a new one added to the cache
    /// and read (SWAP_HAS_CACHE taken by swapcache_prepare()). None if the slot is free or no
    /// page could be had. The bool says the page is new (the caller reads it).
    /// A SWP_FS_OPS read joins `plug` (the read-ahead's), or goes at once without one.
    fn read_swap_cache_async(
        &mut self,
        e: SwpEntry,
        plug: Option<&mut crate::mm::page_io::SwapPlug>,
    ) -> Option<(Pfn, bool)> {
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
        self.swap_readpage(f.pfn(), e, plug);
        Some((f.pfn(), true))
    }

    /// swapin_readahead(): the page of `e` for a fault at `addr`, with read-ahead around it
    /// (the cluster around the offset while a rotational device is on, else the PTEs
    /// around the address). The page comes back with a reference the caller owns.
    /// The read-ahead's reads (the target's among them) gather in one plug, submitted after
    /// the loop (swap_read_unplug()).
    pub(crate) fn swapin_readahead(&mut self, e: SwpEntry, ra: &[SwpEntry]) -> Option<Pfn> {
        if ra.len() > 1 {
            let mut plug = crate::mm::page_io::SwapPlug::default();
            for &x in ra {
                if let Some((pfn, true)) = self.read_swap_cache_async(x, Some(&mut plug)) {
                    if x != e {
                        // SetPageReadahead(); count_vm_event(SWAP_RA).
                        self.pages.page_mut(pfn).flags |= PageFlags::RECLAIM;
                        self.vmstat.swap_ra += 1;
                    }
                    self.put_page(pfn);
                }
            }
            self.swap_unplug(plug);
            self.lru_add_drain();
        }
        let (pfn, new) = self.read_swap_cache_async(e, None)?;
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

    /// swap_ra_info(): the window swap_vma_readahead() reads for a fault at `addr` of the VMA
    /// at `vstart` of `mm` — its size from the VMA's own read-ahead state, placed after the
    /// fault when faults go up, before it when they go down, else around it; clipped to the
    /// VMA and the page table. The VMA remembers this fault and window.
    pub(crate) fn swap_ra_info(&mut self, mm: MmId, vstart: u64, addr: u64) -> (u64, u64) {
        let max = 1u64 << self.cfg.page_cluster.min(5);
        let one = (addr, addr + crate::hw::PAGE_SIZE);
        if max == 1 {
            return one;
        }
        let Some(v) = self.mms[mm].vmas.get_mut(vstart) else {
            return one;
        };
        let (ra_addr, prev_win, hits) = get_swap_ra_val(v.swap_ra_info);
        let (pfn, fpfn) = (ra_addr >> 12, addr >> 12);
        let win = swapin_window(pfn, fpfn, hits, max, prev_win);
        v.swap_ra_info = swap_ra_val(addr, win, 0);
        if win == 1 {
            return one;
        }
        let (lpfn, rpfn) = if fpfn == pfn + 1 {
            (fpfn, fpfn + win)
        } else if pfn == fpfn + 1 {
            ((fpfn + 1).saturating_sub(win), fpfn + 1)
        } else {
            let left = (win - 1) / 2;
            (fpfn.saturating_sub(left), fpfn + win - left)
        };
        let pmd = addr & !((1 << 21) - 1);
        let start = (lpfn << 12).max(v.start).max(pmd);
        let end = (rpfn << 12).min(v.end).min(pmd + (1 << 21));
        (start, end)
    }
}

/// __swapin_nr_pages(): the read-ahead window after `hits` read-ahead hits, at least half the
/// previous one; without hits, one page unless this fault is next to the previous one.
fn swapin_window(prev: u64, offset: u64, hits: u64, max: u64, prev_win: u64) -> u64 {
    let mut pages = hits + 2;
    if pages == 2 {
        if offset != prev.wrapping_add(1) && offset != prev.wrapping_sub(1) {
            pages = 1;
        }
    } else {
        pages = pages.next_power_of_two().max(4);
    }
    pages.min(max).max(prev_win / 2)
}
