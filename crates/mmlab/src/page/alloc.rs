//! The frame allocator: a free list over a fixed number of frames, with struct pages beside.

use super::{flags, Page};
use crate::hw::PAGE_SIZE;

/// The first PFN handed out; lower PFNs are reserved (the zero page lives among them).
pub const FIRST_FREE_PFN: u64 = 0x100;
/// my_zero_pfn(): the shared zero page.
pub const ZERO_PFN: u64 = 0x10;

/// Frames and their struct pages (mem_map).
pub struct PageAlloc {
    pages: Vec<Page>,
    free: Vec<u32>,
    /// Free 2 MiB blocks (512 aligned frames) kept whole for the next huge allocation; a
    /// 4 KiB allocation breaks one up only when nothing else is left (there is no buddy
    /// merging or compaction, so frames freed one by one never form a block again).
    free_blocks: Vec<u64>,
    /// The lowest PFN never handed out.
    next_fresh: u64,
    end_pfn: u64,
    nr_free: u64,
}

impl PageAlloc {
    /// Memory of `bytes` bytes; PFNs run from 0 to `bytes / 4096`.
    pub fn new(bytes: u64) -> PageAlloc {
        let end_pfn = (bytes / PAGE_SIZE).max(FIRST_FREE_PFN + 1);
        let mut pages = vec![Page::default(); FIRST_FREE_PFN as usize];
        pages[ZERO_PFN as usize].flags = flags::PG_RESERVED | flags::PG_UPTODATE;
        pages[ZERO_PFN as usize].refcount = 1;
        PageAlloc {
            pages,
            free: Vec::new(),
            free_blocks: Vec::new(),
            next_fresh: FIRST_FREE_PFN,
            end_pfn,
            nr_free: end_pfn - FIRST_FREE_PFN,
        }
    }

    /// alloc_page(): a frame with refcount 1 and no flags, or None when memory is exhausted.
    #[inline]
    pub fn alloc(&mut self) -> Option<u64> {
        let pfn = match self.free.pop() {
            Some(p) => p as u64,
            None if self.next_fresh < self.end_pfn => {
                let p = self.next_fresh;
                self.next_fresh += 1;
                if self.pages.len() <= p as usize {
                    let grow = (self.pages.len())
                        .max(1024)
                        .min((self.end_pfn - p) as usize);
                    self.pages.resize(
                        self.pages.len() + grow,
                        Page {
                            flags: flags::PG_BUDDY,
                            ..Page::default()
                        },
                    );
                }
                p
            }
            None => {
                let head = self.free_blocks.pop()?;
                self.free
                    .extend((head + 1..head + 512).rev().map(|p| p as u32));
                head
            }
        };
        self.nr_free -= 1;
        self.pages[pfn as usize] = Page {
            refcount: 1,
            ..Page::default()
        };
        Some(pfn)
    }

    /// An order-9 allocation: 512 frames aligned to 512, from a free 2 MiB block or else from
    /// memory never handed out (frames skipped for alignment go to the free list). The head
    /// is returned with refcount 0; the caller sets its flags.
    pub fn alloc_huge(&mut self) -> Option<u64> {
        const NR: u64 = 512;
        if let Some(head) = self.free_blocks.pop() {
            self.nr_free -= NR;
            self.init_compound(head);
            return Some(head);
        }
        let head = self.next_fresh.div_ceil(NR) * NR;
        if head + NR > self.end_pfn {
            return None;
        }
        let need = (head + NR) as usize;
        if self.pages.len() < need {
            self.pages.resize(
                need.max(self.pages.len() * 2).min(self.end_pfn as usize),
                Page {
                    flags: flags::PG_BUDDY,
                    ..Page::default()
                },
            );
        }
        for gap in self.next_fresh..head {
            self.free.push(gap as u32);
        }
        self.next_fresh = head + NR;
        self.nr_free -= NR;
        self.init_compound(head);
        Some(head)
    }

    /// prep_compound_page(): a head followed by 511 tails, no references yet.
    fn init_compound(&mut self, head: u64) {
        for pfn in head..head + 512 {
            self.pages[pfn as usize] = Page {
                flags: flags::PG_TAIL,
                ..Page::default()
            };
        }
        self.pages[head as usize] = Page {
            flags: flags::PG_HEAD,
            ..Page::default()
        };
    }

    /// Return a 2 MiB compound page: its frames stay together as a free block.
    pub fn free_huge(&mut self, head: u64) {
        for pfn in head..head + 512 {
            self.pages[pfn as usize] = Page {
                flags: flags::PG_BUDDY,
                ..Page::default()
            };
        }
        self.free_blocks.push(head);
        self.nr_free += 512;
    }

    /// __free_page(): return a frame whose last reference is gone.
    #[inline]
    pub fn free(&mut self, pfn: u64) {
        let p = &mut self.pages[pfn as usize];
        debug_assert!(!p.test(flags::PG_BUDDY), "double free of pfn {pfn:#x}");
        *p = Page {
            flags: flags::PG_BUDDY,
            ..Page::default()
        };
        self.free.push(pfn as u32);
        self.nr_free += 1;
    }

    /// The struct page of a PFN.
    #[inline]
    pub fn page(&self, pfn: u64) -> &Page {
        &self.pages[pfn as usize]
    }

    /// The struct page of a PFN, for update.
    #[inline]
    pub fn page_mut(&mut self, pfn: u64) -> &mut Page {
        &mut self.pages[pfn as usize]
    }

    /// Is `pfn` a frame this allocator knows (handed out now or before)?
    pub fn valid(&self, pfn: u64) -> bool {
        pfn < self.next_fresh && (pfn as usize) < self.pages.len()
    }

    /// Is `pfn` currently free?
    pub fn is_free(&self, pfn: u64) -> bool {
        pfn >= self.next_fresh
            || self
                .pages
                .get(pfn as usize)
                .is_none_or(|p| p.test(flags::PG_BUDDY))
    }

    /// nr_free_pages.
    pub fn nr_free(&self) -> u64 {
        self.nr_free
    }

    /// Frames in use (handed out and not freed).
    pub fn nr_used(&self) -> u64 {
        self.end_pfn - FIRST_FREE_PFN - self.nr_free
    }

    /// Every PFN handed out at some time, for the invariant checker.
    pub fn pfns(&self) -> std::ops::Range<u64> {
        FIRST_FREE_PFN..self.next_fresh
    }

    /// Host bytes the struct pages and free list take.
    pub fn host_bytes(&self) -> usize {
        self.pages.capacity() * std::mem::size_of::<Page>()
            + self.free.capacity() * 4
            + self.free_blocks.capacity() * 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_follow_alloc_and_free_and_memory_runs_out() {
        let mut a = PageAlloc::new((FIRST_FREE_PFN + 3) * PAGE_SIZE);
        assert_eq!(a.nr_free(), 3);
        let x = a.alloc().unwrap();
        let y = a.alloc().unwrap();
        let z = a.alloc().unwrap();
        assert_eq!(a.alloc(), None, "out of frames");
        assert_eq!(a.nr_used(), 3);
        assert_eq!(a.page(x).refcount, 1);
        a.free(y);
        assert!(a.is_free(y) && !a.is_free(z));
        assert_eq!(a.alloc(), Some(y), "freed frames are reused");
        assert_eq!(std::mem::size_of::<Page>(), 24);
    }
}
