//! struct folio: a head page and, for a large folio, the tail pages after it. Folio-wide
//! flags and the reference count live on the head; each page keeps its own PTE mapcount and
//! PG_anon_exclusive (PTE-mapped THP); the first tail holds the compound mapcount, the
//! pincount and the order (include/linux/mm_types.h, 5.19).

use super::{PageAlloc, PageFlags, Pfn};

/// A folio, named by its head page.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Folio(pub Pfn);

impl Folio {
    /// The head page's PFN (folio_pfn()).
    #[inline]
    pub fn pfn(self) -> Pfn {
        self.0
    }
    /// folio_page(): the `i`-th page of the folio.
    #[inline]
    pub fn page(self, i: u64) -> Pfn {
        self.0 + i
    }
}

/// What a folio is used for, as the rest of the model tells folios apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum FolioKind {
    /// A small anonymous page.
    Anon,
    /// An anonymous transparent huge page.
    AnonThp,
    /// A page-cache page of shmem (or another file).
    File,
    /// A page-cache transparent huge page.
    FileThp,
    /// A hugetlb page (in use or free in the pool).
    Hugetlb,
    /// A page-table page.
    PageTable,
    /// Anything else: the huge zero page, reserved pages, a page not yet given an owner.
    Other,
}

impl PageAlloc {
    /// page_folio(): the folio holding `pfn`.
    #[inline]
    pub fn folio(&self, pfn: Pfn) -> Folio {
        Folio(self.compound_head(pfn))
    }
    /// folio_order().
    #[inline]
    pub fn folio_order(&self, f: Folio) -> u32 {
        self.compound_order(f.0)
    }
    /// folio_nr_pages().
    #[inline]
    pub fn folio_nr_pages(&self, f: Folio) -> u64 {
        1 << self.folio_order(f)
    }
    /// folio_test_large().
    #[inline]
    pub fn folio_test_large(&self, f: Folio) -> bool {
        self.page(f.0).flags.contains(PageFlags::HEAD)
    }
    /// folio_test_*() of folio-wide flags.
    #[inline]
    pub fn folio_test(&self, f: Folio, flag: PageFlags) -> bool {
        self.page(f.0).flags.intersects(flag)
    }
    /// folio_set_*().
    #[inline]
    pub fn folio_set(&mut self, f: Folio, flag: PageFlags) {
        self.page_mut(f.0).flags |= flag;
    }
    /// folio_clear_*().
    #[inline]
    pub fn folio_clear(&mut self, f: Folio, flag: PageFlags) {
        self.page_mut(f.0).flags.remove(flag);
    }
    /// folio_ref_count().
    #[inline]
    pub fn folio_ref_count(&self, f: Folio) -> i32 {
        self.page(f.0).refcount
    }
    /// folio_ref_add() (negative to drop); returns the new count.
    #[inline]
    pub(crate) fn folio_ref_add(&mut self, f: Folio, n: i32) -> i32 {
        let p = self.page_mut(f.0);
        p.refcount += n;
        debug_assert!(p.refcount >= 0, "refcount underflow on {f:?}");
        p.refcount
    }
    /// folio_mapcount(): every mapping of the folio, PMDs and PTEs of all its pages
    /// (total_mapcount() in 5.19).
    pub fn folio_mapcount(&self, f: Folio) -> i32 {
        if !self.folio_test_large(f) {
            return self.page(f.0).mapcount;
        }
        let ptes: i32 =
            f.0.range(self.folio_nr_pages(f))
                .map(|p| self.page(p).mapcount)
                .sum();
        self.compound_mapcount(f.0) + ptes
    }
    /// page_mapcount(): the PTEs mapping this page plus the PMDs mapping its folio.
    #[inline]
    pub fn page_mapcount(&self, pfn: Pfn) -> i32 {
        let own = self.page(pfn).mapcount;
        let f = self.folio(pfn);
        if self.folio_test_large(f) && !self.folio_test(f, PageFlags::HUGETLB) {
            own + self.compound_mapcount(f.0)
        } else {
            own
        }
    }
    /// PageAnon(): the page's folio is anonymous.
    #[inline]
    pub fn page_anon(&self, pfn: Pfn) -> bool {
        self.folio_test(self.folio(pfn), PageFlags::ANON)
    }
    /// page_to_pgoff(): a page's offset in its file or anon_vma (a tail's is the head's plus
    /// its place in the folio).
    #[inline]
    pub fn page_index(&self, pfn: Pfn) -> u64 {
        let f = self.folio(pfn);
        self.page(f.0).index + pfn.offset_from(f.0)
    }
    /// folio->mapping as the model numbers it.
    #[inline]
    pub fn folio_mapping(&self, f: Folio) -> Option<u32> {
        self.page(f.0).mapping()
    }
    /// What the folio is.
    pub fn folio_kind(&self, f: Folio) -> FolioKind {
        let p = self.page(f.0);
        let large = self.folio_test_large(f);
        if p.test(PageFlags::HUGETLB) {
            FolioKind::Hugetlb
        } else if p.test(PageFlags::TABLE) {
            FolioKind::PageTable
        } else if p.test(PageFlags::ANON) {
            if large {
                FolioKind::AnonThp
            } else {
                FolioKind::Anon
            }
        } else if p.mapping().is_some() {
            if large {
                FolioKind::FileThp
            } else {
                FolioKind::File
            }
        } else {
            FolioKind::Other
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::page::alloc::HPAGE_ORDER;

    #[test]
    fn counts_and_flags_live_on_the_head() {
        let mut a = PageAlloc::new(64 << 20);
        let head = a.rmqueue(HPAGE_ORDER, 0).unwrap();
        a.prep_compound(head, HPAGE_ORDER);
        let f = a.folio(head + 7);
        assert_eq!(f, Folio(head));
        assert_eq!(a.folio_nr_pages(f), 512);
        a.folio_set(f, PageFlags::DIRTY | PageFlags::ANON);
        assert!(a.folio_test(a.folio(head + 100), PageFlags::DIRTY));
        a.page_mut(head + 3).mapcount = 1;
        a.add_compound_mapcount(head, 1);
        assert_eq!(a.page_mapcount(head + 3), 2);
        assert_eq!(a.page_mapcount(head + 4), 1);
        assert_eq!(a.folio_mapcount(f), 2);
        a.page_mut(head).index = 0x40;
        assert_eq!(a.page_index(head + 3), 0x43);
        assert_eq!(a.folio_kind(f), FolioKind::AnonThp);
    }
}
