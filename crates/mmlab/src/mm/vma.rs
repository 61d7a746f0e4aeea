//! vm_area_struct and the ordered set of an address space's VMAs: find, split, merge.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use smallvec::SmallVec;

use crate::hw::PAGE_SHIFT;
use crate::pgtable::pte::{vm_get_page_prot, PgProt};

/// vm_flags bits (include/linux/mm.h, 5.19).
pub mod vm {
    pub const VM_READ: u64 = 0x1;
    pub const VM_WRITE: u64 = 0x2;
    pub const VM_EXEC: u64 = 0x4;
    pub const VM_SHARED: u64 = 0x8;
    pub const VM_MAYREAD: u64 = 0x10;
    pub const VM_MAYWRITE: u64 = 0x20;
    pub const VM_MAYEXEC: u64 = 0x40;
    pub const VM_MAYSHARE: u64 = 0x80;
    pub const VM_GROWSDOWN: u64 = 0x100;
    pub const VM_UFFD_MISSING: u64 = 0x200;
    pub const VM_PFNMAP: u64 = 0x400;
    pub const VM_UFFD_WP: u64 = 0x1000;
    /// VM_UFFD_MINOR (VM_HIGH_ARCH_BIT 37 on x86-64, CONFIG_HAVE_ARCH_USERFAULTFD_MINOR).
    pub const VM_UFFD_MINOR: u64 = 1 << 37;
    /// __VM_UFFD_FLAGS.
    pub const VM_UFFD_FLAGS: u64 = VM_UFFD_MISSING | VM_UFFD_WP | VM_UFFD_MINOR;
    pub const VM_LOCKED: u64 = 0x2000;
    /// Lock pages as they are faulted in (mlock2(MLOCK_ONFAULT)); set only with VM_LOCKED.
    pub const VM_LOCKONFAULT: u64 = 0x0008_0000;
    /// VM_LOCKED_CLEAR_MASK: what mlock state a VMA loses.
    pub const VM_LOCKED_CLEAR_MASK: u64 = !(VM_LOCKED | VM_LOCKONFAULT);
    pub const VM_IO: u64 = 0x4000;
    pub const VM_SEQ_READ: u64 = 0x8000;
    pub const VM_RAND_READ: u64 = 0x10000;
    pub const VM_DONTCOPY: u64 = 0x20000;
    pub const VM_DONTEXPAND: u64 = 0x40000;
    pub const VM_ACCOUNT: u64 = 0x100000;
    pub const VM_NORESERVE: u64 = 0x200000;
    pub const VM_HUGETLB: u64 = 0x400000;
    pub const VM_WIPEONFORK: u64 = 0x2000000;
    pub const VM_DONTDUMP: u64 = 0x4000000;
    pub const VM_SOFTDIRTY: u64 = 0x8000000;
    pub const VM_MIXEDMAP: u64 = 0x10000000;
    pub const VM_HUGEPAGE: u64 = 0x20000000;
    pub const VM_NOHUGEPAGE: u64 = 0x40000000;
    pub const VM_MERGEABLE: u64 = 0x80000000;
    /// VM_SPECIAL: never merged, never expanded.
    pub const VM_SPECIAL: u64 = VM_IO | VM_DONTEXPAND | VM_PFNMAP | VM_MIXEDMAP;
    pub const VM_ACCESS_FLAGS: u64 = VM_READ | VM_WRITE | VM_EXEC;
}
use vm::*;

/// What backs a VMA's pages besides anonymous memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backing {
    /// Private or not-yet-faulted anonymous memory (vma_is_anonymous).
    Anon,
    /// A file (vm_file): shared anonymous memory (shmem_zero_setup), a memfd or a hugetlbfs
    /// file, by inode.
    File(crate::fs::inode::Ino),
}

/// A VMA's stable handle: its own for as long as it lives (a split makes a new one for the
/// new half), what the rmap structures (anon_vma chains, i_mmap) refer to it by.
pub type VmaId = u64;

/// An anon_vma's handle (page->mapping of an anonymous page).
pub type AnonVmaId = u32;

/// The resv_map of a private hugetlb mapping (vma->vm_private_data): the huge page indices
/// still reserved for it. Like resv_map_alloc()'s, it exists only for a mapping with
/// reservations, so every other VMA (nearly all) has nothing to copy or drop. Reads see an
/// empty set when there is none.
#[derive(Clone, Debug, Default)]
pub struct ResvMap(Option<BTreeSet<u64>>);

/// What a VMA without a resv_map reads as.
static NO_RESV: BTreeSet<u64> = BTreeSet::new();

impl ResvMap {
    /// region_del() of one index: was it reserved?
    pub fn remove(&mut self, index: &u64) -> bool {
        self.0.as_mut().is_some_and(|s| s.remove(index))
    }
    /// Drop every reservation (the map goes, as resv_map_release() frees it).
    pub fn clear(&mut self) {
        self.0 = None;
    }
    /// Keep the reservations `keep` accepts.
    pub fn retain(&mut self, keep: impl FnMut(&u64) -> bool) {
        if let Some(s) = &mut self.0 {
            s.retain(keep);
        }
    }
}

impl std::ops::Deref for ResvMap {
    type Target = BTreeSet<u64>;
    fn deref(&self) -> &BTreeSet<u64> {
        self.0.as_ref().unwrap_or(&NO_RESV)
    }
}

impl PartialEq for ResvMap {
    fn eq(&self, other: &ResvMap) -> bool {
        **self == **other
    }
}
impl Eq for ResvMap {}

impl From<BTreeSet<u64>> for ResvMap {
    fn from(s: BTreeSet<u64>) -> ResvMap {
        ResvMap((!s.is_empty()).then_some(s))
    }
}

impl FromIterator<u64> for ResvMap {
    fn from_iter<I: IntoIterator<Item = u64>>(iter: I) -> ResvMap {
        BTreeSet::from_iter(iter).into()
    }
}

/// vm_area_struct.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vma {
    /// The VMA's handle.
    pub id: VmaId,
    pub start: u64,
    pub end: u64,
    pub flags: u64,
    /// vm_pgoff: for anonymous VMAs, the page index of the original mmap address.
    pub pgoff: u64,
    pub backing: Backing,
    /// vma->anon_vma: where the VMA's new anonymous pages are filed.
    pub anon_vma: Option<AnonVmaId>,
    /// vma->anon_vma_chain: every anon_vma whose pages may be mapped here (its own, and after
    /// fork its parents'). Invariants: holds `anon_vma` when that is set; each listed
    /// anon_vma lists this VMA back.
    pub anon_vma_chain: SmallVec<[AnonVmaId; 2]>,
    /// A private hugetlb mapping's reservations: huge page indices (in the file) still
    /// reserved for it (its resv_map while it is HPAGE_RESV_OWNER).
    pub hugetlb_resv: ResvMap,
    /// HPAGE_RESV_OWNER / HPAGE_RESV_UNMAPPED: the flag bits hugetlb keeps beside a private
    /// mapping's resv_map (the mapping that made the reservations; pages unmapped from a
    /// child so its owner could COW).
    pub hugetlb_resv_flags: u8,
    /// vm_userfaultfd_ctx: the userfaultfd this VMA is registered with (set with a
    /// VM_UFFD_* flag).
    pub uffd_ctx: Option<usize>,
    /// swap_readahead_info: the last swap fault's address, window and read-ahead hits
    /// (SWAP_RA_VAL()); 0 until the first one.
    pub swap_ra_info: u64,
    /// vm_policy: the VMA's NUMA policy (MPOL_DEFAULT: none, the task's applies).
    pub policy: crate::mm::mempolicy::Mempolicy,
}

impl Vma {
    /// The copy a fault works from. The reservation set is left out: hugetlb faults consume
    /// it in the tree, and copying it on every fault would make faulting in a large private
    /// hugetlb mapping quadratic.
    pub fn for_fault(&self) -> Vma {
        Vma {
            hugetlb_resv: ResvMap::default(),
            anon_vma_chain: SmallVec::from_slice(&self.anon_vma_chain),
            ..*self
        }
    }
    /// list_is_singular(&vma->anon_vma_chain): the chain holds one anon_vma (never after a
    /// fork that shared anonymous pages).
    pub fn anon_vma_chain_singular(&self) -> bool {
        self.anon_vma_chain.len() == 1
    }
    /// vma_pages().
    pub fn pages(&self) -> u64 {
        (self.end - self.start) >> PAGE_SHIFT
    }
    /// vm_page_prot as vma_set_page_prot() computes it (no writenotify for anon and shmem).
    pub fn page_prot(&self) -> PgProt {
        vm_get_page_prot(self.flags & (VM_READ | VM_WRITE | VM_EXEC | VM_SHARED))
    }
    /// vma_is_anonymous().
    pub fn is_anonymous(&self) -> bool {
        self.backing == Backing::Anon
    }
    /// is_cow_mapping(): private and may be written.
    pub fn is_cow(&self) -> bool {
        self.flags & (VM_SHARED | VM_MAYWRITE) == VM_MAYWRITE
    }
    /// linear_page_index(): the page index of `addr` in the VMA's object.
    pub fn linear_page_index(&self, addr: u64) -> u64 {
        ((addr - self.start) >> PAGE_SHIFT) + self.pgoff
    }
    /// vma_hugecache_offset(): the huge page index in the file of `addr`.
    pub fn huge_index(&self, addr: u64) -> u64 {
        ((addr - self.start) >> 21) + (self.pgoff >> 9)
    }
    /// is_vm_hugetlb_page().
    pub fn is_hugetlb(&self) -> bool {
        self.flags & VM_HUGETLB != 0
    }
    /// vma_is_accessible().
    pub fn accessible(&self) -> bool {
        self.flags & VM_ACCESS_FLAGS != 0
    }
}

/// is_data_mapping(): private, writable and not a stack (VM_STACK is VM_GROWSDOWN on x86).
pub fn is_data_mapping(flags: u64) -> bool {
    flags & (vm::VM_WRITE | vm::VM_SHARED | vm::VM_GROWSDOWN) == vm::VM_WRITE
}

/// is_mergeable_anon_vma(): the anon_vma of the range vma_merge() was asked about against an
/// existing VMA's: the same, or one of them missing while `existing`'s chain is singular (so a
/// range with an anon_vma never merges into a neighbour without one, whose chain is empty; a
/// chain a fork left behind never merges). `existing` is None when vma_merge() compares the
/// two neighbours of a three-way merge.
fn is_mergeable_anon_vma(
    range: Option<AnonVmaId>,
    other: Option<AnonVmaId>,
    existing: Option<&Vma>,
) -> bool {
    ((range.is_none() || other.is_none()) && existing.is_none_or(|v| v.anon_vma_chain_singular()))
        || range == other
}

/// Which of two adjacent VMAs is the range vma_merge() was asked about (the other exists).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Range {
    First,
    Second,
}

/// The VMAs of one address space, ordered by start (mm->mm_rb / the maple tree's role).
#[derive(Clone, Debug, Default)]
pub struct VmaTree {
    map: BTreeMap<u64, Vma>,
}

impl VmaTree {
    /// mm->map_count.
    pub fn len(&self) -> usize {
        self.map.len()
    }
    /// No VMAs at all.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
    /// All VMAs in address order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Vma> {
        self.map.values()
    }
    /// find_vma(): the first VMA that ends above `addr`.
    pub fn find(&self, addr: u64) -> Option<&Vma> {
        if let Some((_, v)) = self.map.range(..=addr).next_back() {
            if v.end > addr {
                return Some(v);
            }
        }
        self.map
            .range((Bound::Excluded(addr), Bound::Unbounded))
            .next()
            .map(|(_, v)| v)
    }
    /// vma_lookup(): the VMA containing `addr`.
    pub fn lookup(&self, addr: u64) -> Option<&Vma> {
        self.find(addr).filter(|v| v.start <= addr)
    }
    /// The VMA starting at `start`, for update.
    pub fn get_mut(&mut self, start: u64) -> Option<&mut Vma> {
        self.map.get_mut(&start)
    }
    /// The VMA before the one containing or following `addr` (find_vma_prev's `prev`).
    pub fn prev(&self, addr: u64) -> Option<&Vma> {
        self.map
            .range(..addr)
            .next_back()
            .map(|(_, v)| v)
            .filter(|v| v.end <= addr)
    }
    /// find_vma_intersection().
    pub fn intersects(&self, start: u64, end: u64) -> bool {
        self.find(start).is_some_and(|v| v.start < end)
    }
    /// VMAs overlapping `[start, end)`, by start address.
    pub fn overlapping(&self, start: u64, end: u64) -> Vec<u64> {
        let first = self.find(start).map(|v| v.start).unwrap_or(u64::MAX);
        self.map.range(first..end).map(|(&s, _)| s).collect()
    }
    /// Add a VMA (the range must be free). Only the VMA lifecycle of mm/mmap.rs calls this and
    /// the other changes below, which keep the rmap links in step.
    pub(crate) fn insert(&mut self, v: Vma) {
        debug_assert!(
            !self.intersects(v.start, v.end),
            "overlapping VMA {:#x}-{:#x}",
            v.start,
            v.end
        );
        self.map.insert(v.start, v);
    }
    /// Take a VMA out.
    pub(crate) fn remove(&mut self, start: u64) -> Option<Vma> {
        self.map.remove(&start)
    }

    /// The tree half of __split_vma(): cut the VMA holding `addr` in two at `addr`, the new
    /// upper half named `id`. Returns it, or None if no VMA strictly spans `addr`. The caller
    /// takes the references and rmap links the new VMA holds (Kernel::split_vma).
    pub(crate) fn split(&mut self, addr: u64, id: VmaId) -> Option<&Vma> {
        let v = self.find(addr).filter(|v| v.start < addr)?.clone();
        let mut hi = v.clone();
        hi.id = id;
        hi.pgoff += (addr - v.start) >> PAGE_SHIFT;
        hi.start = addr;
        // Each piece keeps the reservations for its own part of the file.
        let cut = v.huge_index(addr);
        hi.hugetlb_resv = v.hugetlb_resv.range(cut..).copied().collect();
        let lo = self.map.get_mut(&v.start).expect("vma");
        lo.end = addr;
        lo.hugetlb_resv.retain(|&i| i < cut);
        self.map.insert(addr, hi);
        self.map.get(&addr)
    }

    /// The tree half of vma_merge() after a change to the VMA at `start`: merge it with its
    /// neighbours where is_mergeable_vma() and the anon_vma and pgoff rules allow; the survivor
    /// takes over an anon_vma the absorbed VMA had (the caller links it into that anon_vma's
    /// chain). Returns the start of the VMA that now covers `start` and the VMAs that were
    /// absorbed (their references and rmap links go with them).
    pub(crate) fn merge_around(&mut self, start: u64) -> (u64, Vec<Vma>) {
        let v = &self.map[&start];
        let prev = self.prev(start).filter(|p| can_merge(p, v, Range::Second));
        let mut next = self
            .map
            .get(&v.end)
            .filter(|n| can_merge(v, n, Range::First));
        // Cases 1 and 6 of vma_merge(): all three only if the neighbours' anon_vmas go together.
        if let (Some(p), Some(n)) = (prev, next) {
            if !is_mergeable_anon_vma(p.anon_vma, n.anon_vma, None) {
                next = None;
            }
        }
        let (prev, next) = (prev.map(|p| p.start), next.map(|n| n.start));
        let mut cur = start;
        let mut gone = Vec::new();
        if let Some(prev) = prev {
            let v = self.map.remove(&cur).expect("vma");
            self.map.get_mut(&prev).expect("prev").end = v.end;
            cur = prev;
            gone.push(v);
        }
        if let Some(next) = next {
            let n = self.map.remove(&next).expect("next");
            self.map.get_mut(&cur).expect("vma").end = n.end;
            gone.push(n);
        }
        (cur, gone)
    }
}

/// Can `a` and the following, adjacent `b` become one VMA, `range` being the one vma_merge()
/// was asked about (can_vma_merge_after() of prev, can_vma_merge_before() of next: same flags
/// ignoring VM_SOFTDIRTY, same backing and userfaultfd context, contiguous pgoff, nothing
/// special, and the range's anon_vma mergeable with the existing VMA's)?
pub fn can_merge(a: &Vma, b: &Vma, range: Range) -> bool {
    let anon = match range {
        Range::First => is_mergeable_anon_vma(a.anon_vma, b.anon_vma, Some(b)),
        Range::Second => is_mergeable_anon_vma(b.anon_vma, a.anon_vma, Some(a)),
    };
    // hugetlb VMAs have a vm_ops->close, and is_mergeable_vma() refuses those.
    a.end == b.start
        && a.flags & VM_HUGETLB == 0
        && (a.flags ^ b.flags) & !VM_SOFTDIRTY == 0
        && a.flags & VM_SPECIAL == 0
        && a.backing == b.backing
        && anon
        && a.pgoff + a.pages() == b.pgoff
        // is_mergeable_vm_userfaultfd_ctx()
        && a.uffd_ctx == b.uffd_ctx
        // mpol_equal()
        && a.policy == b.policy
}

#[cfg(test)]
mod tests {
    use super::*;
    use smallvec::smallvec;

    fn anon(start: u64, end: u64, flags: u64) -> Vma {
        Vma {
            start,
            end,
            flags,
            pgoff: start >> 12,
            backing: Backing::Anon,
            anon_vma: None,
            anon_vma_chain: Default::default(),
            id: start,
            hugetlb_resv: Default::default(),
            hugetlb_resv_flags: 0,
            uffd_ctx: None,
            swap_ra_info: 0,
            policy: Default::default(),
        }
    }

    #[test]
    fn find_split_and_merge_back() {
        let rw = VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC;
        let mut t = VmaTree::default();
        t.insert(anon(0x10000, 0x14000, rw));
        assert_eq!(t.find(0x9000).map(|v| v.start), Some(0x10000));
        assert!(t.lookup(0x9000).is_none());
        assert!(t.find(0x14000).is_none());
        assert!(t.split(0x11000, 1).is_some() && t.split(0x12000, 2).is_some());
        assert!(
            t.split(0x12000, 3).is_none(),
            "nothing spans an existing boundary"
        );
        assert_eq!(t.len(), 3);
        assert_eq!(
            t.lookup(0x12000).unwrap().pgoff,
            0x12,
            "split keeps pgoff linear"
        );
        t.get_mut(0x11000).unwrap().flags = rw & !VM_WRITE;
        assert_eq!(
            t.merge_around(0x11000),
            (0x11000, vec![]),
            "different flags do not merge"
        );
        t.get_mut(0x11000).unwrap().flags = rw | VM_SOFTDIRTY;
        let v = t.get_mut(0x12000).unwrap();
        v.anon_vma = Some(7);
        v.anon_vma_chain = smallvec![7];
        let (at, gone) = t.merge_around(0x11000);
        assert_eq!(at, 0x10000, "VM_SOFTDIRTY is ignored");
        assert_eq!(gone.len(), 2);
        assert_eq!(
            gone[1].anon_vma,
            Some(7),
            "the absorbed VMA's anon_vma is handed back"
        );
        assert_eq!(t.len(), 1);
        assert_eq!(t.lookup(0x13fff).unwrap().end, 0x14000);
    }

    #[test]
    fn anon_vma_and_pgoff_rules_block_merge() {
        let rw = VM_READ | VM_WRITE;
        let mut a = anon(0x10000, 0x11000, rw);
        let mut b = anon(0x11000, 0x12000, rw);
        assert!(can_merge(&a, &b, Range::Second));
        a.anon_vma = Some(1);
        a.anon_vma_chain = smallvec![1];
        assert!(
            can_merge(&a, &b, Range::Second),
            "a range without anon_vma merges into a neighbour with a singular chain"
        );
        assert!(
            !can_merge(&a, &b, Range::First),
            "a range with an anon_vma never merges into a neighbour without one"
        );
        a.anon_vma_chain = smallvec![1, 3];
        assert!(
            !can_merge(&a, &b, Range::Second),
            "not with a chain a fork left behind"
        );
        a.anon_vma_chain = smallvec![1];
        b.anon_vma = Some(2);
        b.anon_vma_chain = smallvec![2];
        assert!(
            !can_merge(&a, &b, Range::Second),
            "two different anon_vmas never merge"
        );
        b.anon_vma = None;
        b.pgoff += 7;
        assert!(
            !can_merge(&a, &b, Range::Second),
            "pgoff must be contiguous"
        );
    }
}
