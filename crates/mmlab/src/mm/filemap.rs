//! The page cache of one file: struct address_space (include/linux/fs.h) and the lookups,
//! insertions and removals mm/filemap.c makes on its i_pages.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::{Bound, RangeBounds};

use crate::fs::inode::Ino;
use crate::kernel::Kernel;
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
    /// The disk filesystem's aops (ext2/ext4-like: read_folio, writepage, direct_IO): pages
    /// are read from and written back to blocks of a simulated block device.
    Disk,
}

/// XA_CHUNK_SHIFT: an xarray node covers 64 consecutive indices.
const XA_CHUNK_SHIFT: u32 = 6;
const XA_CHUNK_SIZE: usize = 1 << XA_CHUNK_SHIFT;

/// struct xa_node at the bottom level: the slots of 64 consecutive indices and how many
/// are in use (a node whose count drops to 0 is freed, xas_delete_node()).
#[derive(Debug)]
struct XaNode {
    slots: [Option<Slot>; XA_CHUNK_SIZE],
    count: u8,
}

/// The slot offset of `index` in its node (get_offset()).
fn xa_offset(index: u64) -> usize {
    index as usize & (XA_CHUNK_SIZE - 1)
}

/// struct address_space: the cached pages of an inode and the VMAs that map it.
#[derive(Debug)]
pub struct AddressSpace {
    pub a_ops: Aops,
    /// i_pages: the bottom-level xarray nodes by `index >> XA_CHUNK_SHIFT` (the tree above
    /// them is the map).
    i_pages: BTreeMap<u64, Box<XaNode>>,
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
        self.i_pages.get(&(index >> XA_CHUNK_SHIFT))?.slots[xa_offset(index)]
    }

    /// The cached page at `index`; a swap or shadow entry is no page (filemap_get_folio()).
    pub fn page(&self, index: u64) -> Option<Pfn> {
        self.entry(index)?.page()
    }

    /// The cached pages with an index in `range`, in index order (filemap_get_folios()).
    pub fn pages(&self, range: impl RangeBounds<u64>) -> impl Iterator<Item = (u64, Pfn)> + '_ {
        let first = match range.start_bound() {
            Bound::Included(&i) => i,
            Bound::Excluded(&i) => i.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let last = match range.end_bound() {
            Bound::Included(&i) => Some(i),
            Bound::Excluded(&i) => i.checked_sub(1),
            Bound::Unbounded => Some(u64::MAX),
        }
        .filter(|&l| l >= first);
        let nodes = last.map(|l| {
            self.i_pages
                .range(first >> XA_CHUNK_SHIFT..=l >> XA_CHUNK_SHIFT)
        });
        nodes
            .into_iter()
            .flatten()
            .flat_map(|(&n, node)| {
                let base = n << XA_CHUNK_SHIFT;
                node.slots
                    .iter()
                    .enumerate()
                    .filter_map(move |(o, s)| Some((base + o as u64, s.as_ref()?.page()?)))
            })
            .filter(move |&(i, _)| last.is_some_and(|l| first <= i && i <= l))
    }

    /// Put page `pfn` at `index` (__filemap_add_folio(), one page); whatever was there goes.
    pub fn add_page(&mut self, index: u64, pfn: Pfn) {
        self.store(index, Slot::Folio(pfn));
    }

    /// xa_store(): `slot` at `index`, allocating the node as needed; the old entry goes.
    fn store(&mut self, index: u64, slot: Slot) {
        let node = self
            .i_pages
            .entry(index >> XA_CHUNK_SHIFT)
            .or_insert_with(|| {
                Box::new(XaNode {
                    slots: [None; XA_CHUNK_SIZE],
                    count: 0,
                })
            });
        if node.slots[xa_offset(index)].replace(slot).is_none() {
            node.count += 1;
        }
    }

    /// Empty the slot at `index` (__filemap_remove_folio() with no shadow left).
    pub fn remove(&mut self, index: u64) -> Option<Slot> {
        let n = index >> XA_CHUNK_SHIFT;
        let node = self.i_pages.get_mut(&n)?;
        let old = node.slots[xa_offset(index)].take()?;
        node.count -= 1;
        if node.count == 0 {
            self.i_pages.remove(&n);
        }
        Some(old)
    }

    /// Put a swap entry at `index` (shmem_delete_from_page_cache() with swp_to_radix_entry()).
    pub fn store_swap(&mut self, index: u64, e: SwpEntry) {
        self.store(index, Slot::Swap(e));
    }

    /// The swap entries in `range`, with their indices.
    pub fn swap_entries(&self, range: std::ops::Range<u64>) -> Vec<(u64, SwpEntry)> {
        let (first, last) = (
            range.start >> XA_CHUNK_SHIFT,
            range.end.saturating_sub(1) >> XA_CHUNK_SHIFT,
        );
        if range.is_empty() {
            return Vec::new();
        }
        self.i_pages
            .range(first..=last)
            .flat_map(|(&n, node)| {
                node.slots
                    .iter()
                    .enumerate()
                    .filter_map(move |(o, s)| match s {
                        Some(Slot::Swap(e)) => Some(((n << XA_CHUNK_SHIFT) + o as u64, *e)),
                        _ => None,
                    })
            })
            .filter(|(i, _)| range.contains(i))
            .collect()
    }

    /// Empty every slot, handing back the pages that were cached (truncate_inode_pages_final()).
    pub fn take_pages(&mut self) -> Vec<Pfn> {
        std::mem::take(&mut self.i_pages)
            .into_values()
            .flat_map(|node| node.slots)
            .filter_map(|s| s?.page())
            .collect()
    }
}

impl Kernel {
    /// One page leaves the cache (truncate_inode_folio() → filemap_remove_folio(), a page at a
    /// time): the cache's reference goes with it; a shmem page leaves NR_SHMEM (and its THP
    /// NR_SHMEM_THPS).
    pub(crate) fn delete_from_page_cache(&mut self, ino: Ino, index: u64, pfn: Pfn) {
        self.inodes[ino].i_mapping.remove(index);
        if self.inodes[ino].i_mapping.a_ops == Aops::Shmem {
            self.vmstat.nr_shmem -= 1;
            if self.thp_head(pfn).is_some_and(|f| f.pfn() == pfn) {
                self.vmstat.nr_shmem_hugepages -= 1;
            }
        }
        self.put_page(pfn);
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
        m.store(
            1,
            Slot::Swap(SwpEntry::from_kind(SwpKind::Swap { typ: 0, offset: 5 })),
        );
        m.store(3, Slot::Shadow(42));
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

    /// Ranges cross node boundaries, empty ranges find nothing, and a node whose last slot
    /// empties is freed.
    #[test]
    fn ranges_span_nodes_and_empty_nodes_go() {
        let mut m = AddressSpace::new(Aops::Shmem);
        for i in [0, 63, 64, 130, u64::MAX] {
            m.add_page(i, Pfn(i & 0xffff));
        }
        let idx = |m: &AddressSpace, r: std::ops::Range<u64>| {
            m.pages(r).map(|(i, _)| i).collect::<Vec<_>>()
        };
        assert_eq!(idx(&m, 1..131), vec![63, 64, 130]);
        assert_eq!(idx(&m, 63..64), vec![63]);
        assert_eq!(idx(&m, 64..64), Vec::<u64>::new());
        assert_eq!(m.pages(u64::MAX..).count(), 1);
        assert_eq!(m.pages(..=0).count(), 1);
        assert_eq!(m.remove(130), Some(Slot::Folio(Pfn(130))));
        assert_eq!(m.remove(130), None);
        assert_eq!(m.i_pages.len(), 3, "the node of 130 is freed");
    }
}
