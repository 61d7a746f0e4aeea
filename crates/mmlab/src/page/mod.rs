//! struct page (flags, refcount, mapcount) and the frame allocator.

pub mod alloc;

pub use alloc::PageAlloc;

/// Page flags the model tracks (a subset of include/linux/page-flags.h, as bits of `Page::flags`).
pub mod flags {
    /// PageAnon(): page->mapping points at an anon_vma.
    pub const PG_ANON: u32 = 1 << 0;
    /// PG_anon_exclusive (5.19): the anonymous page is mapped by exactly one process and may be
    /// written without COW; it aliases PG_mappedtodisk.
    pub const PG_ANON_EXCLUSIVE: u32 = 1 << 1;
    /// PG_dirty.
    pub const PG_DIRTY: u32 = 1 << 2;
    /// PG_swapbacked: anon or shmem.
    pub const PG_SWAPBACKED: u32 = 1 << 3;
    /// PG_reserved: the shared zero page.
    pub const PG_RESERVED: u32 = 1 << 4;
    /// PageTable(): the frame holds page-table entries.
    pub const PG_TABLE: u32 = 1 << 5;
    /// PG_uptodate.
    pub const PG_UPTODATE: u32 = 1 << 6;
    /// The frame is on the free list (PageBuddy()).
    pub const PG_BUDDY: u32 = 1 << 7;
    /// PageHead(): the first frame of a compound page (its struct page holds the counts).
    pub const PG_HEAD: u32 = 1 << 8;
    /// PageTail(): a frame of a compound page after the head.
    pub const PG_TAIL: u32 = 1 << 9;
    /// PageHuge(): a hugetlb page (in use, or free in the pool with refcount 0).
    pub const PG_HUGETLB: u32 = 1 << 10;
}

/// struct page, trimmed to what the modelled paths read and write (24 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Page {
    pub flags: u32,
    /// page_count(): references, including one per mapping and one for the page cache.
    pub refcount: i32,
    /// page_mapcount(): page-table entries that map the page (Linux stores this minus one).
    pub mapcount: i32,
    /// page->mapping: anon_vma id for anonymous pages, inode id for page-cache pages.
    pub mapping: u32,
    /// page->index: the linear page index in the anon_vma or the file.
    pub index: u64,
}

impl Page {
    /// Is a flag set?
    #[inline]
    pub fn test(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }
    /// PageAnon().
    #[inline]
    pub fn is_anon(&self) -> bool {
        self.test(flags::PG_ANON)
    }
    /// PageAnonExclusive().
    #[inline]
    pub fn anon_exclusive(&self) -> bool {
        self.test(flags::PG_ANON_EXCLUSIVE)
    }
}
