//! Page flags: `enum pageflags` of include/linux/page-flags.h (5.19, x86-64 with
//! MEMORY_FAILURE and PAGE_IDLE_FLAG), bit for bit, plus the few other struct-page states the
//! model keeps in the same word (Linux keeps them in other fields of struct page).

bitflags::bitflags! {
    /// page->flags, and beside them (from bit 27) what Linux records elsewhere in struct page.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct PageFlags: u32 {
        /// PG_locked: the folio lock.
        const LOCKED = 1 << 0;
        /// PG_referenced: seen accessed once (folio_mark_accessed()'s first step).
        const REFERENCED = 1 << 1;
        /// PG_uptodate: the contents are valid.
        const UPTODATE = 1 << 2;
        /// PG_dirty: must be written back (or swapped) before it can be freed.
        const DIRTY = 1 << 3;
        /// PG_lru: on an LRU list (not while it waits in a per-CPU batch).
        const LRU = 1 << 4;
        /// PG_active: on an active LRU list.
        const ACTIVE = 1 << 5;
        /// PG_workingset: refaulted soon after eviction.
        const WORKINGSET = 1 << 6;
        /// PG_waiters: a task sleeps on the folio lock or writeback.
        const WAITERS = 1 << 7;
        /// PG_error.
        const ERROR = 1 << 8;
        /// PG_owner_priv_1, used as PG_swapcache for swap-backed folios (the swap entry is in
        /// folio->private).
        const SWAPCACHE = 1 << 10;
        /// PG_reserved: never freed (the zero page).
        const RESERVED = 1 << 12;
        /// PG_writeback: I/O to backing store in flight.
        const WRITEBACK = 1 << 15;
        /// PG_head: first page of a compound page.
        const HEAD = 1 << 16;
        /// PG_mappedtodisk, used as PG_anon_exclusive on anonymous pages (5.19): mapped by
        /// exactly one process, writable without COW.
        const ANON_EXCLUSIVE = 1 << 17;
        /// PG_reclaim: reclaim wants it freed as soon as writeback ends.
        const RECLAIM = 1 << 18;
        /// PG_swapbacked: anon or shmem (cleared for lazily freeable anon pages).
        const SWAPBACKED = 1 << 19;
        /// PG_unevictable: on the unevictable LRU.
        const UNEVICTABLE = 1 << 20;
        /// PG_mlocked: mapped by a VM_LOCKED VMA.
        const MLOCKED = 1 << 21;
        /// PG_hwpoison.
        const HWPOISON = 1 << 22;
        /// PG_young (page_idle): accessed since the idle bit was set.
        const YOUNG = 1 << 23;
        /// PG_idle (page_idle / DAMON's paddr checks).
        const IDLE = 1 << 24;

        /// PageAnon(): the low bit of page->mapping (PAGE_MAPPING_ANON).
        const ANON = 1 << 27;
        /// PageTail(): bit 0 of page->compound_head.
        const TAIL = 1 << 28;
        /// PageHuge(): the compound destructor is HUGETLB_PAGE_DTOR.
        const HUGETLB = 1 << 29;
        /// PageTable(): page->page_type says the frame holds page-table entries.
        const TABLE = 1 << 30;
        /// PageBuddy(): page->page_type says the frame is free in the allocator.
        const BUDDY = 1 << 31;
    }
}

impl PageFlags {
    /// Flags that describe the whole folio and live on its head (folio_test_*() reads them
    /// there whatever subpage is asked about).
    pub const FOLIO_WIDE: PageFlags = PageFlags::LOCKED
        .union(PageFlags::REFERENCED)
        .union(PageFlags::UPTODATE)
        .union(PageFlags::DIRTY)
        .union(PageFlags::LRU)
        .union(PageFlags::ACTIVE)
        .union(PageFlags::WORKINGSET)
        .union(PageFlags::SWAPCACHE)
        .union(PageFlags::WRITEBACK)
        .union(PageFlags::RECLAIM)
        .union(PageFlags::SWAPBACKED)
        .union(PageFlags::UNEVICTABLE)
        .union(PageFlags::MLOCKED)
        .union(PageFlags::ANON);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_follow_linux_5_19() {
        assert_eq!(PageFlags::LRU.bits(), 1 << 4);
        assert_eq!(PageFlags::SWAPBACKED.bits(), 1 << 19);
        // PG_anon_exclusive aliases PG_mappedtodisk, bit 17 after PG_head (16).
        assert_eq!(
            PageFlags::ANON_EXCLUSIVE.bits(),
            PageFlags::HEAD.bits() << 1
        );
        assert!(!PageFlags::FOLIO_WIDE.contains(PageFlags::ANON_EXCLUSIVE));
    }
}
