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
    /// The free frames of each NUMA node (pglist_data), in node order; the PFNs of node `n`
    /// follow those of node `n - 1`.
    nodes: Vec<NodeFree>,
}

/// One node's frames and free lists.
struct NodeFree {
    /// node_start_pfn (node 0: the first PFN handed out).
    start_pfn: u64,
    end_pfn: u64,
    free: Vec<u32>,
    /// Free 2 MiB blocks (512 aligned frames) kept whole for the next huge allocation; a
    /// 4 KiB allocation breaks one up only when nothing else is left (there is no buddy
    /// merging or compaction, so frames freed one by one never form a block again).
    free_blocks: Vec<Pfn>,
    /// The lowest PFN of the node never handed out.
    next_fresh: u64,
    nr_free: u64,
}

impl PageAlloc {
    /// Memory of `bytes` bytes on one node; PFNs run from 0 to `bytes / 4096`.
    pub fn new(bytes: u64) -> PageAlloc {
        PageAlloc::with_nodes(bytes, 1)
    }

    /// Memory of `bytes` bytes split into `nr_nodes` nodes of equal, 2 MiB-aligned spans (the
    /// last takes the rest), as a NUMA machine's firmware would describe it.
    pub fn with_nodes(bytes: u64, nr_nodes: usize) -> PageAlloc {
        let end_pfn = (bytes / PAGE_SIZE).max(FIRST_FREE_PFN.0 + 1);
        let n = nr_nodes.max(1) as u64;
        let span = (end_pfn / n) / HPAGE_NR * HPAGE_NR;
        let mut pages = Vec::with_capacity(end_pfn as usize);
        pages.resize(FIRST_FREE_PFN.0 as usize, Page::default());
        let zero = &mut pages[ZERO_PFN.0 as usize];
        zero.flags = PageFlags::RESERVED | PageFlags::UPTODATE;
        zero.refcount = 1;
        let nodes = (0..n)
            .map(|i| {
                let start_pfn = if i == 0 { FIRST_FREE_PFN.0 } else { i * span };
                let end = if i + 1 == n { end_pfn } else { (i + 1) * span };
                NodeFree {
                    start_pfn,
                    end_pfn: end,
                    free: Vec::new(),
                    free_blocks: Vec::new(),
                    next_fresh: start_pfn,
                    nr_free: end - start_pfn,
                }
            })
            .collect();
        PageAlloc { pages, nodes }
    }

    /// nr_online_nodes.
    pub fn nr_nodes(&self) -> usize {
        self.nodes.len()
    }

    /// page_to_nid() / pfn_to_nid(): the node whose memory holds the frame (node 0 for the
    /// reserved frames below the first handed out).
    pub fn pfn_to_nid(&self, pfn: Pfn) -> usize {
        self.nodes
            .iter()
            .rposition(|n| pfn.0 >= n.start_pfn)
            .unwrap_or(0)
    }

    /// The node's own free frames (node_page_state(NR_FREE_PAGES)).
    pub fn node_nr_free(&self, nid: usize) -> u64 {
        self.nodes.get(nid).map_or(0, |n| n.nr_free)
    }

    /// Grow the memory map so `pfn` has a struct page (frames never handed out read as free).
    fn cover(&mut self, pfn: u64) {
        if self.pages.len() <= pfn as usize {
            self.pages.resize(pfn as usize + 1, Page::FREE);
        }
    }

    /// rmqueue() of `1 << order` frames from node `nid`: order 0 from the free list or fresh
    /// memory (a free 2 MiB block is broken up last); order 9 from a free block or aligned
    /// fresh memory (frames skipped for alignment go to the free list). The struct pages are
    /// reset and the head has refcount 1; None when the node has no such block left. Other
    /// orders are not modelled.
    pub(crate) fn rmqueue(&mut self, order: u32, nid: usize) -> Option<Pfn> {
        let node = self.nodes.get_mut(nid)?;
        let pfn = match order {
            0 => match node.free.pop() {
                Some(p) => Pfn(p as u64),
                None if node.next_fresh < node.end_pfn => {
                    let p = node.next_fresh;
                    node.next_fresh += 1;
                    Pfn(p)
                }
                None => {
                    let head = node.free_blocks.pop()?;
                    node.free
                        .extend((head.0 + 1..head.0 + HPAGE_NR).rev().map(|p| p as u32));
                    head
                }
            },
            HPAGE_ORDER => match node.free_blocks.pop() {
                Some(head) => head,
                None => {
                    let head = node.next_fresh.div_ceil(HPAGE_NR) * HPAGE_NR;
                    if head + HPAGE_NR > node.end_pfn {
                        return None;
                    }
                    node.free.extend((node.next_fresh..head).map(|p| p as u32));
                    node.next_fresh = head + HPAGE_NR;
                    Pfn(head)
                }
            },
            _ => return None,
        };
        let n = 1u64 << order;
        node.nr_free -= n;
        self.cover(pfn.0 + n - 1);
        for p in pfn.range(n) {
            self.pages[p.0 as usize] = Page::default();
        }
        self.pages[pfn.0 as usize].refcount = 1;
        Some(pfn)
    }

    /// The free-area test of __zone_watermark_ok(): could rmqueue() hand out a block of
    /// `order` now, from some node?
    pub(crate) fn has_free_area(&self, order: u32) -> bool {
        self.nodes.iter().any(|n| match order {
            0 => n.nr_free > 0,
            HPAGE_ORDER => {
                !n.free_blocks.is_empty()
                    || n.next_fresh.div_ceil(HPAGE_NR) * HPAGE_NR + HPAGE_NR <= n.end_pfn
            }
            _ => false,
        })
    }

    /// __free_one_page(): `1 << order` frames whose last reference went return to their
    /// node's free lists (a 2 MiB block stays whole).
    pub(crate) fn free_block(&mut self, pfn: Pfn, order: u32) {
        let n = 1u64 << order;
        for p in pfn.range(n) {
            debug_assert!(!self.page(p).test(PageFlags::BUDDY), "double free of {p:?}");
            self.pages[p.0 as usize] = Page::FREE;
        }
        let nid = self.pfn_to_nid(pfn);
        let node = &mut self.nodes[nid];
        if order == HPAGE_ORDER {
            node.free_blocks.push(pfn);
        } else {
            node.free.push(pfn.0 as u32);
        }
        node.nr_free += n;
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
        first.set_mapping(Some(order));
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
            self.page(head + 1).mapping().unwrap_or(0)
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

    /// Is `pfn` a frame this allocator knows (reserved, or handed out now or before)?
    pub fn valid(&self, pfn: Pfn) -> bool {
        let node = &self.nodes[self.pfn_to_nid(pfn)];
        (pfn.0 < FIRST_FREE_PFN.0 || pfn.0 < node.next_fresh) && (pfn.0 as usize) < self.pages.len()
    }

    /// Is `pfn` currently free?
    pub fn is_free(&self, pfn: Pfn) -> bool {
        let node = &self.nodes[self.pfn_to_nid(pfn)];
        (pfn.0 >= FIRST_FREE_PFN.0 && pfn.0 >= node.next_fresh)
            || self
                .pages
                .get(pfn.0 as usize)
                .is_none_or(|p| p.test(PageFlags::BUDDY))
    }

    /// nr_free_pages.
    pub fn nr_free(&self) -> u64 {
        self.nodes.iter().map(|n| n.nr_free).sum()
    }

    /// Frames in use (handed out and not freed).
    pub fn nr_used(&self) -> u64 {
        self.nr_total() - self.nr_free()
    }

    /// Frames of memory in all (totalram_pages()).
    pub fn nr_total(&self) -> u64 {
        self.nodes.iter().map(|n| n.end_pfn - n.start_pfn).sum()
    }

    /// Every PFN handed out at some time, for the invariant checker.
    pub fn pfns(&self) -> impl Iterator<Item = Pfn> + '_ {
        self.nodes
            .iter()
            .flat_map(|n| (n.start_pfn..n.next_fresh).map(Pfn))
    }

    /// The first free-list entry outside its node's span or not free, or a node whose free
    /// count does not add up, for the invariant checker.
    pub fn misplaced_free_frame(&self) -> Option<String> {
        for (nid, n) in self.nodes.iter().enumerate() {
            let blocks = n.free_blocks.iter().flat_map(|b| b.range(HPAGE_NR));
            let singles = n.free.iter().map(|&p| Pfn(p as u64));
            if let Some(p) = singles.clone().chain(blocks).find(|&p| {
                p.0 < n.start_pfn || p.0 >= n.next_fresh || !self.page(p).test(PageFlags::BUDDY)
            }) {
                return Some(format!("node {nid} lists {p:?} as free"));
            }
            let listed = n.free.len() as u64 + n.free_blocks.len() as u64 * HPAGE_NR;
            if n.nr_free != listed + (n.end_pfn - n.next_fresh) {
                return Some(format!(
                    "node {nid}: nr_free {} vs {listed} listed and {} fresh",
                    n.nr_free,
                    n.end_pfn - n.next_fresh
                ));
            }
        }
        None
    }

    /// Host bytes the struct pages and free lists take.
    pub fn host_bytes(&self) -> usize {
        self.pages.len() * std::mem::size_of::<Page>()
            + self
                .nodes
                .iter()
                .map(|n| n.free.capacity() * 4 + n.free_blocks.capacity() * 8)
                .sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_follow_alloc_and_free_and_memory_runs_out() {
        let mut a = PageAlloc::new((FIRST_FREE_PFN.0 + 3) * PAGE_SIZE);
        assert_eq!(a.nr_free(), 3);
        let x = a.rmqueue(0, 0).unwrap();
        let y = a.rmqueue(0, 0).unwrap();
        let z = a.rmqueue(0, 0).unwrap();
        assert_eq!(a.rmqueue(0, 0), None, "out of frames");
        assert_eq!(a.nr_used(), 3);
        assert_eq!(a.page(x).refcount, 1);
        a.free_block(y, 0);
        assert!(a.is_free(y) && !a.is_free(z));
        assert_eq!(a.rmqueue(0, 0), Some(y), "freed frames are reused");
    }

    #[test]
    fn compound_pages_keep_their_counters_in_the_first_tail() {
        let mut a = PageAlloc::new(64 << 20);
        let head = a.rmqueue(HPAGE_ORDER, 0).unwrap();
        assert_eq!(head.0 % HPAGE_NR, 0, "naturally aligned");
        a.prep_compound(head, HPAGE_ORDER);
        assert_eq!(a.compound_order(head), HPAGE_ORDER);
        assert_eq!(a.compound_head(head + 300), head);
        assert_eq!(a.add_compound_mapcount(head, 2), 2);
        assert_eq!(a.compound_mapcount(head), 2);
        a.free_block(head, HPAGE_ORDER);
        assert_eq!(
            a.rmqueue(HPAGE_ORDER, 0),
            Some(head),
            "the block stays whole"
        );
        assert_eq!(
            a.compound_order(head),
            0,
            "a fresh block is not compound yet"
        );
    }
}
