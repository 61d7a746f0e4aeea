//! The frame allocator's free lists and the memory map (mem_map: a struct page per frame).
//! Orders 0 and 9 only: single frames, and 2 MiB blocks kept whole for THP and hugetlb.
//! Callers go through `Kernel::alloc_folio()` and the one free path in mm/page_alloc.rs.

use super::{Folio, Page, PageFlags, Pfn};
use crate::hw::PAGE_SIZE;

/// The first PFN handed out; lower PFNs are reserved (the zero page lives among them).
pub const FIRST_FREE_PFN: Pfn = Pfn(0x100);
/// my_zero_pfn(): the shared zero page.
pub const ZERO_PFN: Pfn = Pfn(0x10);
/// HPAGE_PMD_ORDER: the order of a 2 MiB block.
pub const HPAGE_ORDER: u32 = 9;
const HPAGE_NR: u64 = 1 << HPAGE_ORDER;

/// Frames and their struct pages.
pub struct PageAlloc {
    /// mem_map. Its memory is reserved for every frame at boot and grows into that
    /// reservation as frames are first used, so only the touched part is resident (and it
    /// never moves).
    pages: Vec<Page>,
    free: Vec<u32>,
    /// Free 2 MiB blocks (512 aligned frames) kept whole for the next huge allocation; a
    /// 4 KiB allocation breaks one up only when nothing else is left (there is no buddy
    /// merging or compaction, so frames freed one by one never form a block again).
    free_blocks: Vec<Pfn>,
    /// The lowest PFN never handed out.
    next_fresh: u64,
    end_pfn: u64,
    nr_free: u64,
}

impl PageAlloc {
    /// Memory of `bytes` bytes; PFNs run from 0 to `bytes / 4096`.
    pub fn new(bytes: u64) -> PageAlloc {
        let end_pfn = (bytes / PAGE_SIZE).max(FIRST_FREE_PFN.0 + 1);
        let mut pages = Vec::with_capacity(end_pfn as usize);
        pages.resize(FIRST_FREE_PFN.0 as usize, Page::default());
        let zero = &mut pages[ZERO_PFN.0 as usize];
        zero.flags = PageFlags::RESERVED | PageFlags::UPTODATE;
        zero.refcount = 1;
        PageAlloc {
            pages,
            free: Vec::new(),
            free_blocks: Vec::new(),
            next_fresh: FIRST_FREE_PFN.0,
            end_pfn,
            nr_free: end_pfn - FIRST_FREE_PFN.0,
        }
    }

    /// Grow the memory map so `pfn` has a struct page (frames never handed out read as free).
    fn cover(&mut self, pfn: u64) {
        if self.pages.len() <= pfn as usize {
            self.pages.resize(pfn as usize + 1, Page::FREE);
        }
    }

    /// rmqueue() of `1 << order` frames: order 0 from the free list or fresh memory (a free
    /// 2 MiB block is broken up last); order 9 from a free block or aligned fresh memory
    /// (frames skipped for alignment go to the free list). The struct pages are reset and the
    /// head has refcount 1; None when no such block is left. Other orders are not modelled.
    pub(crate) fn rmqueue(&mut self, order: u32) -> Option<Pfn> {
        let pfn = match order {
            0 => match self.free.pop() {
                Some(p) => Pfn(p as u64),
                None if self.next_fresh < self.end_pfn => {
                    let p = self.next_fresh;
                    self.next_fresh += 1;
                    self.cover(p);
                    Pfn(p)
                }
                None => {
                    let head = self.free_blocks.pop()?;
                    self.free
                        .extend((head.0 + 1..head.0 + HPAGE_NR).rev().map(|p| p as u32));
                    head
                }
            },
            HPAGE_ORDER => match self.free_blocks.pop() {
                Some(head) => head,
                None => {
                    let head = self.next_fresh.div_ceil(HPAGE_NR) * HPAGE_NR;
                    if head + HPAGE_NR > self.end_pfn {
                        return None;
                    }
                    self.cover(head + HPAGE_NR - 1);
                    self.free.extend((self.next_fresh..head).map(|p| p as u32));
                    self.next_fresh = head + HPAGE_NR;
                    Pfn(head)
                }
            },
            _ => return None,
        };
        let n = 1u64 << order;
        self.nr_free -= n;
        for p in pfn.range(n) {
            self.pages[p.0 as usize] = Page::default();
        }
        self.pages[pfn.0 as usize].refcount = 1;
        Some(pfn)
    }

    /// The free-area test of __zone_watermark_ok(): could rmqueue() hand out a block of
    /// `order` now?
    pub(crate) fn has_free_area(&self, order: u32) -> bool {
        match order {
            0 => self.nr_free > 0,
            HPAGE_ORDER => {
                !self.free_blocks.is_empty()
                    || self.next_fresh.div_ceil(HPAGE_NR) * HPAGE_NR + HPAGE_NR <= self.end_pfn
            }
            _ => false,
        }
    }

    /// __free_one_page(): `1 << order` frames whose last reference went return to the free
    /// lists (a 2 MiB block stays whole).
    pub(crate) fn free_block(&mut self, pfn: Pfn, order: u32) {
        let n = 1u64 << order;
        for p in pfn.range(n) {
            debug_assert!(!self.page(p).test(PageFlags::BUDDY), "double free of {p:?}");
            self.pages[p.0 as usize] = Page::FREE;
        }
        if order == HPAGE_ORDER {
            self.free_blocks.push(pfn);
        } else {
            self.free.push(pfn.0 as u32);
        }
        self.nr_free += n;
    }

    /// prep_compound_page(): `head` and the frames after it become one compound page of
    /// `order`; the head keeps its references, the first tail holds the compound counters.
    pub(crate) fn prep_compound(&mut self, head: Pfn, order: u32) {
        self.page_mut(head).flags |= PageFlags::HEAD;
        for p in (head + 1).range((1 << order) - 1) {
            let t = self.page_mut(p);
            t.flags = PageFlags::TAIL;
            t.index = head.0;
        }
        let first = self.page_mut(head + 1);
        first.mapping = order;
        first.lru = [0, 0];
    }

    /// The struct page of a PFN.
    #[inline]
    pub fn page(&self, pfn: Pfn) -> &Page {
        &self.pages[pfn.0 as usize]
    }

    /// The struct page of a PFN, for update.
    #[inline]
    pub fn page_mut(&mut self, pfn: Pfn) -> &mut Page {
        &mut self.pages[pfn.0 as usize]
    }

    /// compound_head() / page_folio(): the head of the folio holding `pfn`.
    #[inline]
    pub fn compound_head(&self, pfn: Pfn) -> Pfn {
        let p = self.page(pfn);
        if p.flags.contains(PageFlags::TAIL) {
            Pfn(p.index)
        } else {
            pfn
        }
    }

    /// compound_order() of a folio head (0 for a small page).
    #[inline]
    pub fn compound_order(&self, head: Pfn) -> u32 {
        if self.page(head).flags.contains(PageFlags::HEAD) {
            self.page(head + 1).mapping
        } else {
            0
        }
    }

    /// compound_mapcount() of a large folio's head: PMDs that map it whole.
    #[inline]
    pub fn compound_mapcount(&self, head: Pfn) -> i32 {
        self.page(head + 1).lru[0] as i32
    }

    /// Add `delta` to a large folio's compound mapcount; returns the new value.
    pub(crate) fn add_compound_mapcount(&mut self, head: Pfn, delta: i32) -> i32 {
        let c = &mut self.page_mut(head + 1).lru[0];
        *c = (*c as i32 + delta) as u32;
        *c as i32
    }

    /// compound_pincount() of a large folio's head (FOLL_PIN references).
    #[inline]
    pub fn compound_pincount(&self, head: Pfn) -> i32 {
        self.page(head + 1).lru[1] as i32
    }

    /// Add `delta` to a large folio's compound pincount (FOLL_PIN on any of its pages).
    pub(crate) fn add_compound_pincount(&mut self, head: Pfn, delta: i32) {
        let c = &mut self.page_mut(head + 1).lru[1];
        *c = (*c as i32 + delta) as u32;
    }

    /// folio->mlock_count of an unevictable folio: the locked VMAs that map it. It shares
    /// page->lru with the links, as in 5.19 (the unevictable list links nothing).
    #[inline]
    pub fn mlock_count(&self, f: Folio) -> u32 {
        self.page(f.pfn()).lru[0]
    }

    /// Set folio->mlock_count.
    #[inline]
    pub(crate) fn set_mlock_count(&mut self, f: Folio, c: u32) {
        self.page_mut(f.pfn()).lru[0] = c;
    }

    /// The LRU links of a folio head.
    #[inline]
    pub(crate) fn lru_links(&mut self, head: Pfn) -> &mut [u32; 2] {
        &mut self.page_mut(head).lru
    }

    /// Is `pfn` a frame this allocator knows (handed out now or before)?
    pub fn valid(&self, pfn: Pfn) -> bool {
        pfn.0 < self.next_fresh && (pfn.0 as usize) < self.pages.len()
    }

    /// Is `pfn` currently free?
    pub fn is_free(&self, pfn: Pfn) -> bool {
        pfn.0 >= self.next_fresh
            || self
                .pages
                .get(pfn.0 as usize)
                .is_none_or(|p| p.test(PageFlags::BUDDY))
    }

    /// nr_free_pages.
    pub fn nr_free(&self) -> u64 {
        self.nr_free
    }

    /// Frames in use (handed out and not freed).
    pub fn nr_used(&self) -> u64 {
        self.end_pfn - FIRST_FREE_PFN.0 - self.nr_free
    }

    /// Frames of memory in all (totalram_pages()).
    pub fn nr_total(&self) -> u64 {
        self.end_pfn - FIRST_FREE_PFN.0
    }

    /// Every PFN handed out at some time, for the invariant checker.
    pub fn pfns(&self) -> impl Iterator<Item = Pfn> {
        (FIRST_FREE_PFN.0..self.next_fresh).map(Pfn)
    }

    /// Host bytes the struct pages and free lists take.
    pub fn host_bytes(&self) -> usize {
        self.pages.len() * std::mem::size_of::<Page>()
            + self.free.capacity() * 4
            + self.free_blocks.capacity() * 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_follow_alloc_and_free_and_memory_runs_out() {
        let mut a = PageAlloc::new((FIRST_FREE_PFN.0 + 3) * PAGE_SIZE);
        assert_eq!(a.nr_free(), 3);
        let x = a.rmqueue(0).unwrap();
        let y = a.rmqueue(0).unwrap();
        let z = a.rmqueue(0).unwrap();
        assert_eq!(a.rmqueue(0), None, "out of frames");
        assert_eq!(a.nr_used(), 3);
        assert_eq!(a.page(x).refcount, 1);
        a.free_block(y, 0);
        assert!(a.is_free(y) && !a.is_free(z));
        assert_eq!(a.rmqueue(0), Some(y), "freed frames are reused");
    }

    #[test]
    fn compound_pages_keep_their_counters_in_the_first_tail() {
        let mut a = PageAlloc::new(64 << 20);
        let head = a.rmqueue(HPAGE_ORDER).unwrap();
        assert_eq!(head.0 % HPAGE_NR, 0, "naturally aligned");
        a.prep_compound(head, HPAGE_ORDER);
        assert_eq!(a.compound_order(head), HPAGE_ORDER);
        assert_eq!(a.compound_head(head + 300), head);
        assert_eq!(a.add_compound_mapcount(head, 2), 2);
        assert_eq!(a.compound_mapcount(head), 2);
        a.free_block(head, HPAGE_ORDER);
        assert_eq!(a.rmqueue(HPAGE_ORDER), Some(head), "the block stays whole");
        assert_eq!(
            a.compound_order(head),
            0,
            "a fresh block is not compound yet"
        );
    }
}
