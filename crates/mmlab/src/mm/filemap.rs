//! The page cache of one file: struct address_space (include/linux/fs.h) and the lookups,
//! insertions and removals mm/filemap.c makes on its i_pages.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::RangeBounds;

use crate::mm::vma::VmaId;
use crate::page::Pfn;
use crate::pgtable::swp::SwpEntry;

/// What one index of `i_pages` holds (an xarray entry).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    /// A page of a folio in the cache (each page of a large folio has its own slot).
    Folio(Pfn),
    /// A shmem page that was swapped out: its swap entry (a value entry).
    Swap(SwpEntry),
    /// What workingset_eviction() left of a reclaimed page: its eviction cookie.
    Shadow(u64),
}

impl Slot {
    /// The page the slot holds; a swap or shadow entry holds none.
    pub fn page(self) -> Option<Pfn> {
        match self {
            Slot::Folio(pfn) => Some(pfn),
            Slot::Swap(_) | Slot::Shadow(_) => None,
        }
    }
}

/// The address_space_operations a mapping's filesystem provides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Aops {
    /// shmem_aops: tmpfs, memfd and shared anonymous memory; indices count 4 KiB pages.
    Shmem,
    /// hugetlbfs_aops: indices count huge pages, one slot per huge page.
    Hugetlbfs,
}

/// struct address_space: the cached pages of an inode and the VMAs that map it.
#[derive(Debug)]
pub struct AddressSpace {
    pub a_ops: Aops,
    i_pages: BTreeMap<u64, Slot>,
    /// i_mmap: the VMAs that map the file (vma_interval_tree).
    pub i_mmap: BTreeSet<VmaId>,
}

impl AddressSpace {
    pub fn new(a_ops: Aops) -> AddressSpace {
        AddressSpace {
            a_ops,
            i_pages: BTreeMap::new(),
            i_mmap: BTreeSet::new(),
        }
    }

    /// The entry at `index`, of whatever kind (filemap_get_entry()).
    pub fn entry(&self, index: u64) -> Option<Slot> {
        self.i_pages.get(&index).copied()
    }

    /// The cached page at `index`; a swap or shadow entry is no page (filemap_get_folio()).
    pub fn page(&self, index: u64) -> Option<Pfn> {
        self.entry(index)?.page()
    }

    /// The cached pages with an index in `range`, in index order (filemap_get_folios()).
    pub fn pages(&self, range: impl RangeBounds<u64>) -> impl Iterator<Item = (u64, Pfn)> + '_ {
        self.i_pages
            .range(range)
            .filter_map(|(&i, s)| Some((i, s.page()?)))
    }

    /// Put page `pfn` at `index` (__filemap_add_folio(), one page); whatever was there goes.
    pub fn add_page(&mut self, index: u64, pfn: Pfn) {
        self.i_pages.insert(index, Slot::Folio(pfn));
    }

    /// Empty the slot at `index` (__filemap_remove_folio() with no shadow left).
    pub fn remove(&mut self, index: u64) -> Option<Slot> {
        self.i_pages.remove(&index)
    }

    /// Empty every slot, handing back the pages that were cached (truncate_inode_pages_final()).
    pub fn take_pages(&mut self) -> Vec<Pfn> {
        std::mem::take(&mut self.i_pages)
            .into_values()
            .filter_map(Slot::page)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pgtable::swp::SwpKind;

    /// Swap and shadow entries hold an index without being pages: lookups pass them by and
    /// the final truncation hands back only the pages.
    #[test]
    fn value_entries_are_not_pages() {
        let mut m = AddressSpace::new(Aops::Shmem);
        m.add_page(0, Pfn(7));
        m.add_page(2, Pfn(9));
        m.i_pages.insert(
            1,
            Slot::Swap(SwpEntry::from_kind(SwpKind::Swap { typ: 0, offset: 5 })),
        );
        m.i_pages.insert(3, Slot::Shadow(42));
        assert_eq!(m.page(1), None);
        assert!(matches!(m.entry(1), Some(Slot::Swap(_))));
        assert_eq!(m.page(3), None);
        assert_eq!(
            m.pages(..).collect::<Vec<_>>(),
            vec![(0, Pfn(7)), (2, Pfn(9))]
        );
        assert_eq!(m.remove(2), Some(Slot::Folio(Pfn(9))));
        assert_eq!(m.take_pages(), vec![Pfn(7)]);
        assert_eq!(m.entry(1), None);
    }
}
