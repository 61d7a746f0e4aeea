//! struct page and folios: the frame allocator's memory map, page flags, gfp masks, LRU lists.
//!
//! Every frame has a 32-byte `Page`. A folio is a head page and, for order > 0, its tail
//! pages; what Linux keeps for the whole folio sits on the head, or (compound mapcount,
//! pincount, order) in the first tail page, as in 5.19.

pub mod alloc;
pub mod flags;
pub mod folio;
pub mod gfp;
pub mod lru;

pub use alloc::PageAlloc;
pub use flags::PageFlags;
pub use folio::Folio;
pub use gfp::Gfp;

/// A page frame number (serialized as the number).
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Pfn(pub u64);

impl Pfn {
    /// The first PFN of the naturally aligned block of `1 << order` frames holding this one.
    #[inline]
    pub const fn align_down(self, order: u32) -> Pfn {
        Pfn(self.0 & !((1 << order) - 1))
    }
    /// Frames from `base` to this one.
    #[inline]
    pub const fn offset_from(self, base: Pfn) -> u64 {
        self.0 - base.0
    }
    /// The PFNs `[self, self + n)`.
    #[inline]
    pub fn range(self, n: u64) -> impl DoubleEndedIterator<Item = Pfn> + Clone {
        (self.0..self.0 + n).map(Pfn)
    }
}

impl std::ops::Add<u64> for Pfn {
    type Output = Pfn;
    #[inline]
    fn add(self, n: u64) -> Pfn {
        Pfn(self.0 + n)
    }
}

impl std::fmt::Debug for Pfn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pfn {:#x}", self.0)
    }
}

impl std::fmt::LowerHex for Pfn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::LowerHex::fmt(&self.0, f)
    }
}

impl std::fmt::Display for Pfn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

/// No neighbour on an LRU list.
pub(crate) const LRU_NONE: u32 = u32::MAX;

/// struct page, trimmed to what the modelled paths read and write (40 bytes). Fields that are
/// unions in Linux are reached through the accessors of `PageAlloc` and `Folio`, which know
/// which page of a folio holds what.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Page {
    pub flags: PageFlags,
    /// _refcount. A compound page counts on its head only; tails stay at 0.
    pub(crate) refcount: i32,
    /// _mapcount + 1: page-table entries that map this page by itself (PTEs; a PMD mapping
    /// of a THP is the folio's compound mapcount instead).
    pub(crate) mapcount: i32,
    /// page->mapping: the anon_vma id of an anonymous page, the inode of a page-cache page
    /// (inode 0 is a real one). First tail page: the compound order. Stored as the id + 1,
    /// 0 for none (Linux's NULL), so the page stays 40 bytes: read and set it as an Option
    /// through `mapping()` and `set_mapping()`.
    mapping: u32,
    /// page->index: the page's offset in its anon_vma or file. Tail pages: the head's PFN
    /// (compound_head).
    pub(crate) index: u64,
    /// page->lru: the neighbours on an LRU list, as PFNs (LRU_NONE at the ends). First tail
    /// page: compound_mapcount and compound_pincount.
    pub(crate) lru: [u32; 2],
    /// page->private: a swap-cache page's swap entry (swp_entry_t, packed; 0 otherwise). Only
    /// the swap cache sets it.
    pub(crate) private: u32,
    /// folio->memcg_data: the memory cgroup the folio is charged to (0: none). Only a charge
    /// sets it.
    pub(crate) memcg: u32,
}

impl Default for Page {
    fn default() -> Self {
        Page {
            flags: PageFlags::empty(),
            refcount: 0,
            mapcount: 0,
            mapping: 0,
            index: 0,
            lru: [LRU_NONE; 2],
            private: 0,
            memcg: 0,
        }
    }
}

impl Page {
    /// A free frame (PageBuddy).
    pub(crate) const FREE: Page = Page {
        flags: PageFlags::BUDDY,
        refcount: 0,
        mapcount: 0,
        mapping: 0,
        index: 0,
        lru: [LRU_NONE; 2],
        private: 0,
        memcg: 0,
    };

    /// Is a flag set on this very page (for folio-wide flags ask the folio)?
    #[inline]
    pub fn test(&self, flag: PageFlags) -> bool {
        self.flags.intersects(flag)
    }
    /// PageAnonExclusive().
    #[inline]
    pub fn anon_exclusive(&self) -> bool {
        self.test(PageFlags::ANON_EXCLUSIVE)
    }
    /// page_count() of a small page, or of a compound page's head.
    #[inline]
    pub fn refcount(&self) -> i32 {
        self.refcount
    }
    /// page_mapcount()'s own part: PTEs that map this page.
    #[inline]
    pub fn mapcount(&self) -> i32 {
        self.mapcount
    }
    /// page->mapping as the model numbers it (anon_vma or inode id), None for none.
    #[inline]
    pub fn mapping(&self) -> Option<u32> {
        self.mapping.checked_sub(1)
    }
    /// Set page->mapping (see `mapping`).
    #[inline]
    pub(crate) fn set_mapping(&mut self, m: Option<u32>) {
        self.mapping = m.map_or(0, |id| id + 1);
    }
    /// page->index.
    #[inline]
    pub fn index(&self) -> u64 {
        self.index
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_stays_small_and_pfns_align() {
        // 40 bytes: with private (a swap entry) and the memcg slot, 60 bytes of host memory per
        // resident page in all (mmlab bench), under the 64 the project allows.
        assert_eq!(std::mem::size_of::<Page>(), 40);
        assert_eq!(Pfn(0x2345).align_down(9), Pfn(0x2200));
        assert_eq!((Pfn(0x2200) + 5).offset_from(Pfn(0x2200)), 5);
        assert_eq!(format!("{:?}", Pfn(0x10)), "pfn 0x10");
    }
}
