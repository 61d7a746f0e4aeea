//! mm/hugetlb.c with fs/hugetlbfs: the 2 MiB pool (nr_hugepages, interleaved over the nodes and
//! counted per node), reservations taken at mmap time, hugetlb faults and COW at the PMD level,
//! zap, fork and protection changes (migration entries included; the migration itself is in
//! migrate_hugetlb.rs).

use std::collections::BTreeSet;

use crate::errno::{Errno, SysResult};
use crate::fs::inode::Ino;
use crate::fs::userfaultfd::UffdReason;
use crate::kernel::Kernel;
use crate::mm::memory::{Vmf, ZapDetails};
use crate::mm::mempolicy::{next_node_in, AllocContext, NodeMask};
use crate::mm::mmu_gather::MmuGather;
use crate::mm::pagewalk::{walk_page_range, MmWalk, PmdAction};
use crate::mm::vm_fault::{FaultFlags, FaultResult, VmFault};
use crate::mm::vma::{vm::*, Backing, Vma};
use crate::mm::MmId;
use crate::page::PageFlags;
use crate::page::{Folio, Gfp, Pfn};
use crate::pgtable::pmd::PmdKind;
use crate::pgtable::pte::{Pte, PteKind};
use crate::pgtable::swp::{SwpKind, SwpPteBits, PTE_MARKER_UFFD_WP};
use crate::pgtable::table::{self, PmdSlot, PteSlot};
use std::ops::ControlFlow;

pub const HPAGE_SHIFT: u32 = 21;
pub const HPAGE_SIZE: u64 = 1 << HPAGE_SHIFT;
/// Base pages in a huge page (pages_per_huge_page()).
pub const HPAGE_NR: u64 = 512;

/// HPAGE_RESV_OWNER: this private mapping made the reservations (not a fork child).
pub const HPAGE_RESV_OWNER: u8 = 1;
/// HPAGE_RESV_UNMAPPED: the owner unmapped a page from this mapping to COW it; any later
/// no-page fault here is SIGBUS.
pub const HPAGE_RESV_UNMAPPED: u8 = 2;

/// struct hstate for the 2 MiB size: the global counters and, per node, nr_huge_pages_node[]
/// and surplus_huge_pages_node[] (free_huge_pages_node[] is the free pages of that node).
#[derive(Debug, Default)]
pub struct Hstate {
    /// nr_huge_pages: pages in the pool, free or in use, surplus ones included.
    pub nr_huge_pages: u64,
    /// The free pool (hugepage_freelists); its length is free_huge_pages.
    pub free: Vec<Folio>,
    /// resv_huge_pages: free pages promised to mappings.
    pub resv_huge_pages: u64,
    /// surplus_huge_pages: pages above what nr_hugepages asks for: allocated on demand up to
    /// nr_overcommit_huge_pages, or left over in use or reserved after the pool was shrunk.
    /// The count is not tied to particular pages: while it is non-zero, any page freed goes
    /// back to the page allocator.
    pub surplus_huge_pages: u64,
    /// nr_overcommit_huge_pages: how many surplus pages gather_surplus_pages() and
    /// alloc_surplus_huge_page() may add on demand (set through nr_overcommit_hugepages).
    pub nr_overcommit_huge_pages: u64,
    /// Reservations counted in resv_huge_pages that no mapping holds any more: what
    /// move_vma() dropped with a partly moved private mapping's resv_map. Linux keeps no
    /// such count (nothing ever gives them back); the model keeps it so tests can tell this
    /// leak from one Linux does not have.
    pub resv_leaked: u64,
    /// HPageTemporary pages in use: counted in nr_huge_pages but not as surplus, and given
    /// back to the page allocator when freed (alloc_migrate_huge_page(), as
    /// alloc_huge_page_vma() takes them for UFFDIO_COPY's copy outside mmap_lock).
    pub temporary: Vec<Folio>,
    /// nr_huge_pages_node[]: the pool's pages on each node (indexed by node, grown on use).
    pub nr_huge_pages_node: Vec<u64>,
    /// surplus_huge_pages_node[]: the surplus pages counted against each node.
    pub surplus_huge_pages_node: Vec<u64>,
    /// next_nid_to_alloc: where the next pool growth tries first (the pool interleaves).
    next_nid_to_alloc: usize,
    /// next_nid_to_free: where the next pool shrink looks first.
    next_nid_to_free: usize,
    /// Pages isolate_huge_page() took for a migration (HPageMigratable cleared, off the
    /// hugepage_activelist) until putback_active_hugepage().
    pub(crate) isolated: Vec<Folio>,
}

/// A per-node counter of `v` for node `nid`, the vector grown to hold it.
fn node_slot(v: &mut Vec<u64>, nid: usize) -> &mut u64 {
    if v.len() <= nid {
        v.resize(nid + 1, 0);
    }
    &mut v[nid]
}

impl Hstate {
    /// persistent_huge_pages(): what reading nr_hugepages shows.
    pub fn persistent(&self) -> u64 {
        self.nr_huge_pages - self.surplus_huge_pages
    }

    /// nr_huge_pages_node[nid].
    pub fn nr_node(&self, nid: usize) -> u64 {
        self.nr_huge_pages_node.get(nid).copied().unwrap_or(0)
    }

    /// surplus_huge_pages_node[nid].
    pub fn surplus_node(&self, nid: usize) -> u64 {
        self.surplus_huge_pages_node.get(nid).copied().unwrap_or(0)
    }
}

/// huge_ptep_get(): a hugetlb entry lives in a PMD slot and is handled as a pte_t.
#[inline]
pub fn huge_ptep_get(phys: &crate::hw::PhysMem, slot: PmdSlot) -> Pte {
    Pte(table::get_pmd(phys, slot).0)
}

/// set_huge_pte_at().
#[inline]
pub(crate) fn set_huge_pte_at(phys: &mut crate::hw::PhysMem, slot: PmdSlot, e: Pte) {
    table::set_pmd(phys, slot, crate::pgtable::Pmd(e.0));
}

/// huge_pte_offset(): the slot and value of the present huge entry mapping `addr`, if any.
pub fn huge_pte_offset(phys: &crate::hw::PhysMem, root: Pfn, addr: u64) -> Option<(PmdSlot, Pte)> {
    let slot = table::pmd_slot(phys, root, addr)?;
    match table::get_pmd(phys, slot).kind() {
        PmdKind::Leaf(e) => Some((slot, Pte(e.0))),
        PmdKind::None | PmdKind::Table(_) | PmdKind::Swp(..) => None,
    }
}

/// htlb_alloc_mask(): 2 MiB pages can be migrated, so they come from movable memory.
const HTLB_ALLOC_MASK: Gfp = Gfp::HIGHUSER_MOVABLE;

/// The reserve map a huge page allocation consults (vma_resv_map()): a shared mapping's is
/// its file's (indices reserved and not yet instantiated); a private mapping's is its VMA's
/// own, found in the tree by its start (indices still reserved).
#[derive(Clone, Copy)]
enum ResvMap {
    File(Ino),
    Vma(MmId, u64),
}

impl ResvMap {
    /// The map a fault in `vma` at a page of `ino` uses, `shared` as the caller decides it.
    fn of(mm: MmId, vma: &Vma, ino: Ino, shared: bool) -> ResvMap {
        if shared {
            ResvMap::File(ino)
        } else {
            ResvMap::Vma(mm, vma.start)
        }
    }
}

impl Kernel {
    /// Reservations a partial mremap of a private hugetlb mapping left behind for good.
    pub fn hugetlb_resv_leaked(&self) -> u64 {
        self.hstate.resv_leaked
    }

    /// A write of /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages (set_max_huge_pages()
    /// over every node with memory). Returns what nr_hugepages then reads.
    pub fn set_nr_hugepages(&mut self, n: u64) -> u64 {
        let all = self.node_states_memory();
        self.set_max_huge_pages(n, all)
    }

    /// A write of /sys/devices/system/node/node`nid`/hugepages/hugepages-2048kB/nr_hugepages:
    /// set_max_huge_pages() for that node alone, the count made global by adding the pages of
    /// the other nodes (ULONG_MAX if that overflows).
    pub fn set_nr_hugepages_node(&mut self, nid: usize, n: u64) -> u64 {
        let others = self.hstate.nr_huge_pages - self.hstate.nr_node(nid);
        self.set_max_huge_pages(n.saturating_add(others), 1 << nid)
    }

    /// set_max_huge_pages() on the nodes of `allowed`: growing first takes surplus pages back,
    /// then allocates 2 MiB blocks node by node in turn while there are any
    /// (alloc_pool_huge_page()); shrinking frees free pages nobody was promised, node by node,
    /// and the pages still in use or reserved beyond `n` become surplus.
    fn set_max_huge_pages(&mut self, n: u64, allowed: NodeMask) -> u64 {
        // adjust_pool_surplus(-1): surplus pages become persistent first.
        while self.hstate.surplus_huge_pages > 0 && self.hstate.persistent() < n {
            if !self.adjust_pool_surplus(allowed, false) {
                break;
            }
        }
        while self.hstate.persistent() < n {
            if !self.alloc_pool_huge_page(allowed) {
                return self.hstate.persistent();
            }
        }
        // Pages in use and pages promised stay; free pages beyond them leave at once
        // (remove_pool_huge_page() without surplus accounting).
        let h = &self.hstate;
        let in_use = h.nr_huge_pages - h.free.len() as u64;
        let min_count = n.max(in_use + h.resv_huge_pages);
        while min_count < self.hstate.persistent() {
            let Some(f) = self.remove_pool_huge_page(allowed, false) else {
                break;
            };
            self.update_and_free_page(f);
        }
        // adjust_pool_surplus(+1): what is left above `n` becomes surplus, to go back to the
        // page allocator as it is freed.
        while n < self.hstate.persistent() {
            if !self.adjust_pool_surplus(allowed, true) {
                break;
            }
        }
        self.hstate.persistent()
    }

    /// hstate_next_node_to_alloc() (`free` false) / hstate_next_node_to_free(): the node of
    /// `allowed` the round-robin is at, and the cursor moved on to the next one.
    fn hstate_next_node(&mut self, allowed: NodeMask, free: bool) -> usize {
        let h = &mut self.hstate;
        let cursor = if free {
            &mut h.next_nid_to_free
        } else {
            &mut h.next_nid_to_alloc
        };
        let nid = if allowed & (1 << *cursor) != 0 {
            *cursor
        } else {
            next_node_in(*cursor, allowed)
        };
        *cursor = next_node_in(nid, allowed);
        nid
    }

    /// adjust_pool_surplus(): one surplus page becomes persistent (`up` false: on the first
    /// node in allocation order that has one) or one persistent page becomes surplus (`up`:
    /// on the first node in freeing order whose pages are not all surplus). False if none.
    fn adjust_pool_surplus(&mut self, allowed: NodeMask, up: bool) -> bool {
        for _ in 0..allowed.count_ones() {
            let nid = self.hstate_next_node(allowed, up);
            let h = &mut self.hstate;
            let fits = if up {
                h.surplus_node(nid) < h.nr_node(nid)
            } else {
                h.surplus_node(nid) > 0
            };
            if fits {
                let slot = node_slot(&mut h.surplus_huge_pages_node, nid);
                if up {
                    *slot += 1;
                    h.surplus_huge_pages += 1;
                } else {
                    *slot -= 1;
                    h.surplus_huge_pages -= 1;
                }
                return true;
            }
        }
        false
    }

    /// remove_pool_huge_page(): a free page taken out of the pool from the first node in
    /// freeing order that has one (with `acct_surplus`, only from a node with surplus pages,
    /// which lose one); the caller frees it (update_and_free_page()).
    fn remove_pool_huge_page(&mut self, allowed: NodeMask, acct_surplus: bool) -> Option<Folio> {
        for _ in 0..allowed.count_ones() {
            let nid = self.hstate_next_node(allowed, true);
            if acct_surplus && self.hstate.surplus_node(nid) == 0 {
                continue;
            }
            let Some(i) = self.free_index_on(nid) else {
                continue;
            };
            let f = self.hstate.free.remove(i);
            if acct_surplus {
                self.hstate.surplus_huge_pages -= 1;
                *node_slot(&mut self.hstate.surplus_huge_pages_node, nid) -= 1;
            }
            return Some(f);
        }
        None
    }

    /// The free list position of the page hugepage_freelists[nid] gives out next (the last
    /// one enqueued there).
    fn free_index_on(&self, nid: usize) -> Option<usize> {
        self.hstate
            .free
            .iter()
            .rposition(|f| self.pages.pfn_to_nid(f.pfn()) == nid)
    }

    /// free_huge_pages_node[nid].
    pub fn free_huge_pages_node(&self, nid: usize) -> u64 {
        let on = |f: &&Folio| self.pages.pfn_to_nid(f.pfn()) == nid;
        self.hstate.free.iter().filter(on).count() as u64
    }

    /// Set nr_overcommit_huge_pages (nr_overcommit_hugepages_store(),
    /// hugetlb_overcommit_handler()): only the limit changes; pages already surplus stay.
    pub fn set_nr_overcommit_hugepages(&mut self, n: u64) {
        self.hstate.nr_overcommit_huge_pages = n;
    }

    /// alloc_buddy_huge_page() + prep_new_huge_page(): a 2 MiB block from the page allocator
    /// (on the nodes the allocation context allows) made a hugetlb page and counted in
    /// nr_huge_pages and its node's nr_huge_pages_node; refcount 1.
    fn alloc_fresh_huge_page(&mut self, gfp: Gfp) -> Option<Folio> {
        let f = self.alloc_folio_uncharged(
            gfp | Gfp::COMP | Gfp::NOWARN | Gfp::RETRY_MAYFAIL,
            crate::page::alloc::HPAGE_ORDER,
        )?;
        self.pages.folio_set(f, PageFlags::HUGETLB);
        self.hstate.nr_huge_pages += 1;
        let nid = self.pages.pfn_to_nid(f.pfn());
        *node_slot(&mut self.hstate.nr_huge_pages_node, nid) += 1;
        Some(f)
    }

    /// alloc_pool_huge_page(): one more persistent page, from the nodes of `allowed` in turn,
    /// freed into the pool; false when no node's page allocator has a 2 MiB block.
    fn alloc_pool_huge_page(&mut self, allowed: NodeMask) -> bool {
        for _ in 0..allowed.count_ones() {
            let nid = self.hstate_next_node(allowed, false);
            let got = self.with_alloc_context(AllocContext::ThisNode(nid), |k| {
                k.alloc_fresh_huge_page(HTLB_ALLOC_MASK | Gfp::THISNODE)
            });
            if let Some(f) = got {
                self.folio_put(f);
                return true;
            }
        }
        false
    }

    /// alloc_surplus_huge_page(): a page beyond the persistent pool, counted in
    /// surplus_huge_pages (and its node's), if nr_overcommit_huge_pages allows one more (the
    /// page allocator is not asked otherwise). `zero_ref` gives it refcount 0, for the free
    /// pool.
    fn alloc_surplus_huge_page(&mut self, zero_ref: bool) -> Option<Folio> {
        let h = &self.hstate;
        if h.surplus_huge_pages >= h.nr_overcommit_huge_pages {
            return None;
        }
        let f = self.alloc_fresh_huge_page(HTLB_ALLOC_MASK)?;
        if zero_ref {
            self.pages.folio_ref_add(f, -1);
        }
        self.hstate.surplus_huge_pages += 1;
        let nid = self.pages.pfn_to_nid(f.pfn());
        *node_slot(&mut self.hstate.surplus_huge_pages_node, nid) += 1;
        Some(f)
    }

    /// update_and_free_page(): a page out of the pool goes to the page allocator
    /// (remove_hugetlb_page()'s counts, then __free_pages()).
    fn update_and_free_page(&mut self, f: Folio) {
        self.pages.folio_clear(f, PageFlags::HUGETLB);
        let nid = self.pages.pfn_to_nid(f.pfn());
        self.free_frames(f);
        self.hstate.nr_huge_pages -= 1;
        *node_slot(&mut self.hstate.nr_huge_pages_node, nid) -= 1;
    }

    /// hugetlb_acct_memory(): promise `delta` more free pages (delta > 0), growing the pool
    /// with surplus pages if it must, or ENOMEM; or give `-delta` promises back. (Its check
    /// against the free pages of the cpuset's and mempolicy's nodes, allowed_mems_nr(), always
    /// passes on the model's one node: gathering left at least `delta` pages free.)
    fn hugetlb_acct_memory(&mut self, delta: i64) -> SysResult<()> {
        match delta {
            0 => Ok(()),
            1.. => self.gather_surplus_pages(delta.unsigned_abs()),
            _ => {
                self.return_unused_surplus_pages(delta.unsigned_abs());
                Ok(())
            }
        }
    }

    /// gather_surplus_pages(): reserve `delta` pages. What the free pool lacks is allocated as
    /// surplus pages (alloc_surplus_huge_page(), so within nr_overcommit_huge_pages) and
    /// enqueued; if any of them cannot be had, those allocated go back to the page allocator
    /// and the reservation fails with ENOMEM.
    fn gather_surplus_pages(&mut self, delta: u64) -> SysResult<()> {
        let h = &self.hstate;
        let needed = (h.resv_huge_pages + delta).saturating_sub(h.free.len() as u64);
        let mut surplus_list = Vec::new();
        for _ in 0..needed {
            match self.alloc_surplus_huge_page(true) {
                Some(f) => surplus_list.push(f),
                None => {
                    // free_huge_page() on each: surplus_huge_pages counts them, so each goes
                    // back to the page allocator.
                    for f in surplus_list {
                        self.free_huge_page(f);
                    }
                    return Err(Errno::ENOMEM);
                }
            }
        }
        // enqueue_huge_page(), and the whole reservation committed at once.
        self.hstate.free.extend(surplus_list);
        self.hstate.resv_huge_pages += delta;
        Ok(())
    }

    /// return_unused_surplus_pages(): drop `unused` reservations, and let as many free surplus
    /// pages as that go back to the page allocator (fewer when the surplus pages are in use).
    fn return_unused_surplus_pages(&mut self, unused: u64) {
        self.hstate.resv_huge_pages -= unused;
        let all = self.node_states_memory();
        for _ in 0..unused.min(self.hstate.surplus_huge_pages) {
            let Some(f) = self.remove_pool_huge_page(all, true) else {
                break;
            };
            self.update_and_free_page(f);
        }
    }

    /// hugetlb_reserve_pages() for huge indices `[from, to)` of `ino`: a shared mapping reserves
    /// the indices the file has neither reserved nor instantiated; a private one reserves all of
    /// them for the VMA (returned). Nothing with MAP_NORESERVE.
    pub(crate) fn hugetlb_reserve_pages(
        &mut self,
        ino: Ino,
        from: u64,
        to: u64,
        shared: bool,
        noreserve: bool,
    ) -> SysResult<BTreeSet<u64>> {
        if noreserve {
            return Ok(BTreeSet::new());
        }
        if shared {
            let i = &self.inodes[ino];
            let chg: Vec<u64> = (from..to)
                .filter(|&x| !i.resv().is_some_and(|r| r.contains(&x)))
                .filter(|&x| i.i_mapping.page(x).is_none())
                .collect();
            self.hugetlb_acct_memory(chg.len() as i64)?;
            if let Some(resv) = self.inodes[ino].resv_mut() {
                resv.extend(chg);
            }
            return Ok(BTreeSet::new());
        }
        self.hugetlb_acct_memory((to - from) as i64)?;
        Ok((from..to).collect())
    }

    /// hugetlb_acct_memory(-n) for reservations nothing will use any more
    /// (hugetlb_vm_op_close(), hugetlb_unreserve_pages()): return_unused_surplus_pages().
    pub(crate) fn hugetlb_unreserve(&mut self, n: u64) {
        self.return_unused_surplus_pages(n);
    }

    /// alloc_huge_page(): a zeroed page, refcount 1, for a caller that holds a reservation
    /// (`reserved`: it is used) or not. dequeue_huge_page_vma() takes it from the free pool,
    /// without a reservation only while free pages outnumber reserved ones; failing that,
    /// alloc_buddy_huge_page_with_mpol() allocates a surplus page, within
    /// nr_overcommit_huge_pages. None is the -ENOSPC every caller turns into its own error.
    fn alloc_huge_page(&mut self, reserved: bool) -> Option<Folio> {
        let f = match self.dequeue_huge_page_vma(reserved) {
            Some(f) => f,
            None => {
                let f = self.alloc_surplus_huge_page(false)?;
                // A reservation the free pool could not back (free_huge_page() gave a restored
                // reservation's page to the page allocator) is used by the surplus page.
                if reserved {
                    self.hstate.resv_huge_pages -= 1;
                }
                f
            }
        };
        self.phys.clear_range(f.pfn(), HPAGE_NR);
        self.pages.folio_set(f, PageFlags::UPTODATE);
        Some(f)
    }

    /// alloc_huge_page() for a fault at `addr` of `vma`: its nodes are those huge_node() gives
    /// (the VMA's policy, or the task's).
    fn alloc_huge_page_at(&mut self, vma: &Vma, addr: u64, reserved: bool) -> Option<Folio> {
        let ctx = Self::vma_alloc_context(vma, addr);
        self.with_alloc_context(ctx, |k| k.alloc_huge_page(reserved))
    }

    /// alloc_huge_page_vma() → alloc_huge_page_nodemask() under the allocation context the
    /// caller set: a page from the free pool only while free pages outnumber reserved ones
    /// (dequeue_huge_page_nodemask(), the context's nodes in order); failing that,
    /// alloc_migrate_huge_page(): a fresh page from the page allocator on those nodes,
    /// counted in nr_huge_pages but not as surplus (HPageTemporary: freeing it gives it back
    /// to the page allocator), whatever nr_overcommit_hugepages says. Refcount 1, not
    /// zeroed; None if neither has one.
    pub(crate) fn alloc_huge_page_vma(&mut self) -> Option<Folio> {
        let h = &self.hstate;
        if h.free.len() as u64 > h.resv_huge_pages {
            if let Some(f) = self.dequeue_huge_page_vma(false) {
                return Some(f);
            }
        }
        let f = self.alloc_fresh_huge_page(HTLB_ALLOC_MASK)?;
        self.hstate.temporary.push(f);
        Some(f)
    }

    /// dequeue_huge_page_vma() / dequeue_huge_page_nodemask(): a free page, refcount 1, from
    /// the first node in the allocation context's order that has one, using the caller's
    /// reservation if it has one. Without one, none while every free page is promised
    /// (free_huge_pages - resv_huge_pages == 0, in unsigned arithmetic).
    fn dequeue_huge_page_vma(&mut self, reserved: bool) -> Option<Folio> {
        let h = &self.hstate;
        if !reserved && h.free.len() as u64 == h.resv_huge_pages {
            return None;
        }
        let nodes = self.alloc_nodes(crate::page::alloc::HPAGE_ORDER);
        let i = nodes.iter().find_map(|&nid| self.free_index_on(nid))?;
        let f = self.hstate.free.remove(i);
        if reserved {
            self.hstate.resv_huge_pages -= 1;
        }
        self.pages.folio_ref_add(f, 1);
        Some(f)
    }

    /// free_huge_page(): the last reference is gone; back to its node's free pool, or, while
    /// that node has surplus pages (any page, not only one allocated as surplus), to the page
    /// allocator (remove_hugetlb_page() with surplus accounting, update_and_free_page()).
    pub(crate) fn free_huge_page(&mut self, f: Folio) {
        let p = self.pages.page_mut(f.pfn());
        p.flags = PageFlags::HEAD | PageFlags::HUGETLB;
        p.set_mapping(None);
        p.index = 0;
        p.mapcount = 0;
        if let Some(i) = self.hstate.temporary.iter().position(|&t| t == f) {
            // HPageTemporary: straight back to the page allocator, not surplus.
            self.hstate.temporary.swap_remove(i);
            self.update_and_free_page(f);
        } else if self.hstate.surplus_node(self.pages.pfn_to_nid(f.pfn())) > 0 {
            let nid = self.pages.pfn_to_nid(f.pfn());
            self.hstate.surplus_huge_pages -= 1;
            *node_slot(&mut self.hstate.surplus_huge_pages_node, nid) -= 1;
            self.update_and_free_page(f);
        } else {
            // enqueue_huge_page()
            self.hstate.free.push(f);
        }
    }

    /// hugetlb_fault() for the fault `vmf` in a VM_HUGETLB VMA (vmf->address becomes the
    /// huge page's).
    pub(crate) fn hugetlb_fault(&mut self, vmf: &mut Vmf) -> FaultResult {
        let haddr = vmf.real_address & !(HPAGE_SIZE - 1);
        vmf.address = haddr;
        // migration_entry_wait_huge(): the fault waits for the migration, then is retried.
        if let Some((_, e)) = table::pmd_slot(&self.phys, self.mms[vmf.mm].pgd, haddr)
            .map(|s| (s, huge_ptep_get(&self.phys, s)))
        {
            if let Some(pfn) = Self::is_hugetlb_entry_migration(e) {
                return Err(self.migration_entry_wait(pfn, vmf.flags));
            }
        }
        let slot = self.pmd_alloc(vmf.mm, haddr).ok_or(VmFault::OOM)?;
        vmf.pmd = Some(slot);
        let pte = huge_ptep_get(&self.phys, slot);
        vmf.orig_pte = pte;
        // huge_pte_none_mostly(): a marker faults like an empty entry.
        if pte.none_mostly() {
            return self.hugetlb_no_page(vmf, slot);
        }
        let write = vmf.write();
        // The uffd-wp check comes before COW (and before taking the page lock).
        if write && vmf.vma.flags & VM_UFFD_WP != 0 && pte.uffd_wp() && !pte.write() {
            return Err(self.handle_userfault(vmf, UffdReason::Wp));
        }
        let unshare = vmf.flags.contains(FaultFlags::UNSHARE);
        if (write || unshare) && !pte.write() {
            return self.hugetlb_cow(vmf, slot, pte);
        }
        let mut e = pte.mkyoung();
        if write {
            e = e.mkdirty();
        }
        set_huge_pte_at(&mut self.phys, slot, e);
        Ok(VmFault::empty())
    }

    /// make_huge_pte(): young and huge; dirty and writable if `writable`, else write-protected.
    fn make_huge_pte(f: Folio, vma: &Vma, writable: bool) -> Pte {
        let e = Pte::pfn_pte(f.pfn(), vma.page_prot()).mkyoung();
        let e = if writable {
            e.mkdirty().mkwrite()
        } else {
            e.wrprotect()
        };
        e.mkhuge()
    }

    /// hugetlb_no_page(): map the file's page (a shared mapping, or a private read of a file
    /// page), or a new page; a private write then takes the COW path at once. vmf.orig_pte is
    /// what the fault found: none, or a uffd-wp marker.
    fn hugetlb_no_page(&mut self, vmf: &mut Vmf, slot: PmdSlot) -> FaultResult {
        let haddr = vmf.address;
        let Backing::File(ino) = vmf.vma.backing else {
            return Err(VmFault::SIGBUS);
        };
        // "killed due to inadequate hugepage pool": the owner took a page from this mapping.
        if vmf.vma.hugetlb_resv_flags & HPAGE_RESV_UNMAPPED != 0 {
            return Err(VmFault::SIGBUS);
        }
        let idx = vmf.vma.huge_index(haddr);
        if idx >= self.inodes[ino].i_size >> HPAGE_SHIFT {
            return Err(VmFault::SIGBUS);
        }
        let shared = vmf.vma.flags & VM_MAYSHARE != 0;
        // hugetlb_handle_userfault(): reported at the huge page's address.
        let cached = self.inodes[ino].i_mapping.page(idx).is_some();
        if cached && vmf.vma.flags & VM_UFFD_MINOR != 0 {
            return Err(self.handle_userfault(vmf, UffdReason::Minor));
        }
        if !cached && vmf.vma.flags & VM_UFFD_MISSING != 0 {
            return Err(self.handle_userfault(vmf, UffdReason::Missing));
        }
        let f = match self.inodes[ino].i_mapping.page(idx) {
            Some(head) => {
                let f = Folio(head);
                self.folio_get(f);
                self.page_dup_file_rmap(head);
                f
            }
            None => {
                let map = ResvMap::of(vmf.mm, &vmf.vma, ino, shared);
                let reserved = self.vma_has_reservation(map, idx);
                // alloc_huge_page()'s -ENOSPC: vmf_error() makes it VM_FAULT_SIGBUS.
                let f = self
                    .alloc_huge_page_at(&vmf.vma, haddr, reserved)
                    .ok_or(VmFault::SIGBUS)?;
                self.vma_commit_reservation(map, idx);
                self.hugetlb_install_new_page(vmf, idx, f, shared);
                f
            }
        };
        // Writable at once only in a shared writable mapping; a private write COWs below.
        let vma = &vmf.vma;
        let writable = vma.flags & (VM_WRITE | VM_SHARED) == VM_WRITE | VM_SHARED;
        let mut entry = Self::make_huge_pte(f, vma, writable);
        // "mm/hugetlb: handle pte markers in page faults": a uffd-wp marker's protection
        // carries over, so the next write reports a WP fault.
        if vmf.orig_pte.is_uffd_wp_marker() {
            entry = entry.wrprotect().mkuffd_wp();
        }
        set_huge_pte_at(&mut self.phys, slot, entry);
        if vmf.write() && vmf.vma.flags & VM_SHARED == 0 {
            return self.hugetlb_cow(vmf, slot, entry);
        }
        Ok(VmFault::empty())
    }

    /// vma_needs_reservation() == 0: does `map` still hold a reservation for huge index `idx`?
    fn vma_has_reservation(&self, map: ResvMap, idx: u64) -> bool {
        match map {
            ResvMap::File(ino) => self.inodes[ino].resv().is_some_and(|r| r.contains(&idx)),
            ResvMap::Vma(mm, start) => self.mms[mm]
                .vmas
                .lookup(start)
                .is_some_and(|v| v.start == start && v.hugetlb_resv.contains(&idx)),
        }
    }

    /// vma_commit_reservation(): a page for huge index `idx` was allocated; the reservation
    /// `map` held for it, if any, is used. (An allocation that failed ends instead, leaving the
    /// reservation: vma_end_reservation().)
    fn vma_commit_reservation(&mut self, map: ResvMap, idx: u64) {
        match map {
            ResvMap::File(ino) => {
                if let Some(resv) = self.inodes[ino].resv_mut() {
                    resv.remove(&idx);
                }
            }
            ResvMap::Vma(mm, start) => {
                if let Some(v) = self.mms[mm].vmas.get_mut(start) {
                    v.hugetlb_resv.remove(&idx);
                }
            }
        }
    }

    /// A new huge page for index `idx`: `shared` (the fault asks VM_MAYSHARE, UFFDIO_COPY
    /// VM_SHARED) puts it in the file (huge_add_to_page_cache(), the cache keeping one reference
    /// and the mapping another); otherwise it is anonymous.
    fn hugetlb_install_new_page(&mut self, vmf: &mut Vmf, idx: u64, f: Folio, shared: bool) {
        let Backing::File(ino) = vmf.vma.backing else {
            return;
        };
        if shared {
            let p = self.pages.page_mut(f.pfn());
            p.set_mapping(Some(ino as u32));
            p.index = idx;
            self.inodes[ino].i_mapping.add_page(idx, f.pfn());
            self.folio_get(f);
            self.page_dup_file_rmap(f.pfn());
        } else {
            self.hugepage_add_new_anon_rmap(vmf, f, idx);
        }
    }

    /// hugepage_add_new_anon_rmap(): a fresh private huge page, exclusive like every new
    /// anonymous page.
    fn hugepage_add_new_anon_rmap(&mut self, vmf: &mut Vmf, f: Folio, idx: u64) {
        vmf.vma = self.vma_anon_prepare(vmf.mm, &vmf.vma);
        let exclusive = self.anon_exclusive_flag();
        let p = self.pages.page_mut(f.pfn());
        p.flags |= PageFlags::ANON | exclusive;
        p.mapcount = 1;
        p.set_mapping(vmf.vma.anon_vma);
        p.index = idx;
    }

    /// hugetlb_cow() (5.19 keeps the old rule for hugetlb): an anonymous page mapped once is
    /// reused (and marked exclusive); anything else is copied into a new page.
    /// An unshare (FAULT_FLAG_UNSHARE, hugetlb_wp() in 5.19) takes the same decision but
    /// leaves a reused entry read-only and maps a copy read-only.
    fn hugetlb_cow(&mut self, vmf: &mut Vmf, slot: PmdSlot, pte: Pte) -> FaultResult {
        let (mm, haddr) = (vmf.mm, vmf.address);
        let unshare = vmf.flags.contains(FaultFlags::UNSHARE);
        let old = Folio(pte.pfn());
        let page = *self.pages.page(old.pfn());
        if page.mapcount() == 1 && page.test(PageFlags::ANON) {
            self.page_move_anon_rmap(old.pfn(), &vmf.vma);
            if unshare {
                return Ok(VmFault::empty());
            }
            set_huge_pte_at(&mut self.phys, slot, pte.mkyoung().mkdirty().mkwrite());
            self.vmstat.cow_reuse += 1;
            return Ok(VmFault::WRITE);
        }
        let idx = vmf.vma.huge_index(haddr);
        let map = ResvMap::Vma(mm, vmf.vma.start);
        let reserved = self.vma_has_reservation(map, idx);
        let Some(new) = self.alloc_huge_page_at(&vmf.vma, haddr, reserved) else {
            // The owner of a private mapping may not fail for want of a page a fork child
            // still shares: unmap_ref_private() takes it from the children, and the owner
            // then reuses it.
            if vmf.vma.hugetlb_resv_flags & HPAGE_RESV_OWNER != 0 && page.test(PageFlags::ANON) {
                self.unmap_ref_private(mm, &vmf.vma, old, idx, haddr);
                if self.pages.page(old.pfn()).mapcount() == 1 {
                    return self.hugetlb_cow(vmf, slot, pte);
                }
                // A child that moved its copy elsewhere keeps it: 5.19 would retry the COW
                // forever (retry_avoidcopy); the model gives up with SIGBUS.
            }
            return Err(VmFault::SIGBUS);
        };
        self.vma_commit_reservation(map, idx);
        for i in 0..HPAGE_NR {
            self.phys.copy(old.page(i), new.page(i));
        }
        self.hugepage_add_new_anon_rmap(vmf, new, idx);
        // huge_ptep_clear_flush(): invlpg drops the whole 2 MiB translation.
        set_huge_pte_at(&mut self.phys, slot, Pte::NONE);
        self.flush_tlb_range_stride(mm, haddr, haddr + HPAGE_SIZE, HPAGE_SHIFT);
        set_huge_pte_at(
            &mut self.phys,
            slot,
            Self::make_huge_pte(new, &vmf.vma, !unshare),
        );
        self.vmstat.cow_fault += 1;
        self.page_remove_rmap(old.pfn(), vmf.vma.flags);
        self.folio_put(old);
        Ok(if unshare {
            VmFault::empty()
        } else {
            VmFault::WRITE
        })
    }

    /// unmap_ref_private(): unmap huge page `old` (index `idx` of the mapping's file) from
    /// every other private mapping that is not an owner, at the owner's address `haddr`
    /// (unmap_hugepage_range() with the page as ref_page), marking each HPAGE_RESV_UNMAPPED.
    fn unmap_ref_private(&mut self, mm: MmId, vma: &Vma, old: Folio, idx: u64, haddr: u64) {
        let Backing::File(ino) = vma.backing else {
            return;
        };
        for f in self.i_mmap_overlaps(ino, idx * HPAGE_NR, (idx + 1) * HPAGE_NR) {
            let owner_or_shared = f.flags & VM_MAYSHARE != 0
                || self.mms[f.mm]
                    .vmas
                    .lookup(f.start)
                    .is_some_and(|v| v.hugetlb_resv_flags & HPAGE_RESV_OWNER != 0);
            if (f.mm == mm && f.start == vma.start) || owner_or_shared {
                continue;
            }
            let root = self.mms[f.mm].pgd;
            let Some((slot, e)) = huge_pte_offset(&self.phys, root, haddr) else {
                continue;
            };
            if e.pfn() != old.pfn() {
                continue;
            }
            let mut tlb = MmuGather::new(f.mm, false);
            set_huge_pte_at(&mut self.phys, slot, Pte::NONE);
            tlb.add_huge_range(haddr, HPAGE_SIZE);
            self.page_remove_rmap(old.pfn(), vma.flags);
            tlb.remove_page(old.pfn());
            self.tlb_finish_mmu(tlb);
            if let Some(v) = self.mms[f.mm].vmas.lookup(f.start).map(|v| v.start) {
                self.mms[f.mm]
                    .vmas
                    .get_mut(v)
                    .expect("vma")
                    .hugetlb_resv_flags |= HPAGE_RESV_UNMAPPED;
            }
        }
    }

    /// __unmap_hugepage_range() over the 2 MiB pages wholly inside `[start, end)`: clear each
    /// huge entry (the gather flushes with a 2 MiB stride) and drop its page. Without
    /// ZAP_FLAG_DROP_MARKER a uffd-wp entry leaves a uffd-wp marker and markers stay; hugetlb
    /// does this whether or not the VMA is still registered.
    pub(crate) fn unmap_hugepage_range(
        &mut self,
        tlb: &mut MmuGather,
        vma: &Vma,
        (start, end): (u64, u64),
        details: ZapDetails,
    ) {
        let mm = tlb.mm;
        let (from, to) = (start.next_multiple_of(HPAGE_SIZE), end & !(HPAGE_SIZE - 1));
        if from < to {
            let mut w = HugetlbZap {
                tlb,
                details,
                vm_flags: vma.flags,
            };
            let _ = walk_page_range(self, mm, from, to, &mut w);
        }
    }

    /// One huge entry of __unmap_hugepage_range().
    fn zap_huge_pte(&mut self, w: &mut HugetlbZap<'_>, haddr: u64, slot: PmdSlot, e: PmdKind) {
        let ZapDetails {
            even_cows,
            drop_marker,
        } = w.details;
        match e {
            PmdKind::Leaf(p) => {
                let e = Pte(p.0);
                let f = Folio(e.pfn());
                if !self.pages.folio_test(f, PageFlags::HUGETLB)
                    || (!even_cows && self.pages.folio_test(f, PageFlags::ANON))
                {
                    return;
                }
                let left = if e.uffd_wp() && !drop_marker {
                    Pte::marker(PTE_MARKER_UFFD_WP)
                } else {
                    Pte::NONE
                };
                set_huge_pte_at(&mut self.phys, slot, left);
                w.tlb.add_huge_range(haddr, HPAGE_SIZE);
                if e.dirty() && !self.pages.folio_test(f, PageFlags::ANON) {
                    self.pages.folio_set(f, PageFlags::DIRTY);
                }
                self.page_remove_rmap(f.pfn(), w.vm_flags);
                w.tlb.remove_page(f.pfn());
            }
            PmdKind::Swp(..) => {
                // A migration entry's page was unmapped with its reference already: the
                // entry is cleared, or becomes a marker if it carried uffd-wp and markers stay.
                let left = if huge_ptep_get(&self.phys, slot).swp_uffd_wp_any() && !drop_marker {
                    Pte::marker(PTE_MARKER_UFFD_WP)
                } else {
                    Pte::NONE
                };
                set_huge_pte_at(&mut self.phys, slot, left);
            }
            PmdKind::None | PmdKind::Table(_) => {}
        }
    }

    /// copy_hugetlb_page_range(): share every huge page with the child, write-protecting
    /// private ones in both; ENOMEM when the child's page table cannot be allocated. Markers
    /// go to a child that keeps uffd-wp ("mm/hugetlb: handle uffd-wp during fork()").
    pub(crate) fn copy_hugetlb_page_range(
        &mut self,
        parent: MmId,
        child: MmId,
        src: &Vma,
        dst_uffd_wp: bool,
    ) -> SysResult<()> {
        let mut w = HugetlbCopy {
            parent,
            child,
            cow: src.is_cow(),
            dst_uffd_wp,
            result: Ok(()),
        };
        let _ = walk_page_range(self, parent, src.start, src.end, &mut w);
        w.result
    }

    /// One huge entry of copy_hugetlb_page_range().
    fn copy_huge_pte(
        &mut self,
        w: &HugetlbCopy,
        haddr: u64,
        pslot: PmdSlot,
        e: PmdKind,
    ) -> SysResult<()> {
        match e {
            PmdKind::Swp(kind, bits) if kind.is_migration() => {
                // A writable or readable-exclusive entry of a COW mapping becomes readable in
                // both, rebuilt by swp_entry_to_pte(): soft-dirty and the swap uffd-wp bit go.
                // 5.19 then handles uffd-wp with huge_pte_uffd_wp()/huge_pte_clear_uffd_wp(),
                // the present-PTE bit 10, which in a swap PTE is the inverted offset's bit 1:
                // set for any huge page's PFN, so "keep it for a registered parent" is a no-op
                // and a registered parent loses its write protection once the migration ends;
                // "clear it for an unregistered child" points the child's entry at PFN + 2,
                // a tail of the same folio, which nothing can observe (the wait takes the
                // head's lock, remove_migration_ptes() matches any PFN of the folio,
                // pagemap shows no offset), so the model keeps the head PFN. Either way the
                // child's entry keeps the parent's swap bits (6.x fixed both).
                let (mut kind, mut bits) = (kind, bits);
                if w.cow && !matches!(kind, SwpKind::MigrationRead { .. }) {
                    let pfn = kind.migration_pfn().expect("a migration entry");
                    kind = SwpKind::MigrationRead { pfn };
                    bits = SwpPteBits::default();
                    set_huge_pte_at(&mut self.phys, pslot, Pte::swp(kind, bits));
                }
                let cslot = self.pmd_alloc(w.child, haddr).ok_or(Errno::ENOMEM)?;
                set_huge_pte_at(&mut self.phys, cslot, Pte::swp(kind, bits));
            }
            PmdKind::Swp(..) => {
                let m = huge_ptep_get(&self.phys, pslot);
                if m.is_uffd_wp_marker() && w.dst_uffd_wp {
                    let cslot = self.pmd_alloc(w.child, haddr).ok_or(Errno::ENOMEM)?;
                    set_huge_pte_at(&mut self.phys, cslot, m);
                }
            }
            PmdKind::Leaf(p) => {
                let mut e = Pte(p.0);
                let cslot = self.pmd_alloc(w.child, haddr).ok_or(Errno::ENOMEM)?;
                let pfn = e.pfn();
                if self.pages.page_anon(pfn) {
                    if !self.page_try_dup_anon_rmap(pfn, w.parent) {
                        return self.hugetlb_copy_pinned(w.child, haddr, cslot, Folio(pfn));
                    }
                } else {
                    self.page_dup_file_rmap(pfn);
                }
                self.get_page(pfn);
                if w.cow && e.write() {
                    e = e.wrprotect();
                    set_huge_pte_at(&mut self.phys, pslot, e);
                }
                // 5.19 copies a present entry with its uffd-wp bit even to a child that is not
                // registered (only 6.4's "mm/hugetlb: fix uffd-wp during fork()" clears it);
                // the bit is harmless there, as faults ask the VMA first.
                set_huge_pte_at(&mut self.phys, cslot, e);
            }
            PmdKind::None | PmdKind::Table(_) => {}
        }
        Ok(())
    }

    /// copy_hugetlb_page_range()'s copy of an anonymous huge page the parent may have pinned:
    /// a new page allocated without the reservations, exclusive, mapped writable and dirty in
    /// the child even in a read-only VMA (make_huge_pte(.., 1)), without uffd-wp. No page
    /// fails the fork with ENOMEM.
    fn hugetlb_copy_pinned(
        &mut self,
        child: MmId,
        haddr: u64,
        cslot: PmdSlot,
        old: Folio,
    ) -> SysResult<()> {
        let vma = self.mms[child]
            .vmas
            .lookup(haddr)
            .ok_or(Errno::ENOMEM)?
            .clone();
        let new = self.alloc_huge_page(false).ok_or(Errno::ENOMEM)?;
        for i in 0..HPAGE_NR {
            self.phys.copy(old.page(i), new.page(i));
        }
        let mut vmf = Vmf::new(child, vma, haddr, FaultFlags::empty());
        let idx = vmf.vma.huge_index(haddr);
        self.hugepage_add_new_anon_rmap(&mut vmf, new, idx);
        set_huge_pte_at(
            &mut self.phys,
            cslot,
            Self::make_huge_pte(new, &vmf.vma, true),
        );
        Ok(())
    }

    /// hugetlb_change_protection(): new protection on every huge entry of the range, then an
    /// unconditional flush_hugetlb_tlb_range() (no mmu_gather for hugetlb in 5.19).
    /// `uffd_wp`: MM_CP_UFFD_WP (Some(true)) or MM_CP_UFFD_WP_RESOLVE (Some(false)).
    pub(crate) fn hugetlb_change_protection(
        &mut self,
        mm: MmId,
        prot: crate::pgtable::pte::PgProt,
        (start, end): (u64, u64),
        uffd_wp: Option<bool>,
    ) {
        let mut w = HugetlbProtect { prot, uffd_wp };
        let _ = walk_page_range(self, mm, start, end, &mut w);
        self.flush_tlb_range_stride(mm, start, end, HPAGE_SHIFT);
    }

    /// One huge entry of hugetlb_change_protection().
    fn change_huge_pte(&mut self, w: &HugetlbProtect, slot: PmdSlot, e: PmdKind) {
        match e {
            PmdKind::Swp(kind, _) if kind.is_migration() => {
                // A migration entry that is not readable becomes readable (readable-exclusive
                // for an anonymous page), its other bits replaced by uffd-wp if protecting.
                if !matches!(kind, SwpKind::MigrationRead { .. }) {
                    let pfn = kind.migration_pfn().expect("a migration entry");
                    let kind = SwpKind::migration(pfn, false, self.pages.page_anon(Pfn(pfn)));
                    let bits = SwpPteBits {
                        uffd_wp: w.uffd_wp == Some(true),
                        ..SwpPteBits::default()
                    };
                    set_huge_pte_at(&mut self.phys, slot, Pte::swp(kind, bits));
                }
            }
            PmdKind::Swp(..) => {
                // Resolving turns a marker back into none.
                if huge_ptep_get(&self.phys, slot).is_uffd_wp_marker() && w.uffd_wp == Some(false) {
                    set_huge_pte_at(&mut self.phys, slot, Pte::NONE);
                }
            }
            PmdKind::Leaf(p) => {
                let mut new = Pte(p.0).modify(w.prot).mkhuge();
                // huge_pte_mkuffd_wp() and friends.
                match w.uffd_wp {
                    Some(true) => new = new.wrprotect().mkuffd_wp(),
                    Some(false) => new = new.clear_uffd_wp(),
                    None => {}
                }
                set_huge_pte_at(&mut self.phys, slot, new);
            }
            PmdKind::None => {
                // "mm/hugetlb: allow uffd wr-protect none ptes".
                if w.uffd_wp == Some(true) {
                    set_huge_pte_at(&mut self.phys, slot, Pte::marker(PTE_MARKER_UFFD_WP));
                }
            }
            PmdKind::Table(_) => {}
        }
    }

    /// hugetlb_mcopy_atomic_pte(): UFFDIO_COPY (`src` given) or CONTINUE (`src` None) of one
    /// huge page at `addr`. COPY takes a new page (and its reservation) and, in a shared
    /// mapping, adds it to the file; CONTINUE maps the file's page. The entry is dirty and
    /// young; read-only with `wp`, or for CONTINUE in a private mapping.
    /// COPY reads the source with page faults disabled; if that fails, the new page is given
    /// back and a temporary one (alloc_huge_page_vma()) returned in `pagep` with ENOENT, for
    /// the caller to fill outside mmap_lock. Called again with it, COPY allocates the real page
    /// while holding it (ENOMEM puts it), copies it over and puts it.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn hugetlb_mcopy_atomic_pte(
        &mut self,
        tid: crate::sched::Tid,
        mm: MmId,
        vma: &Vma,
        addr: u64,
        src: Option<u64>,
        wp: bool,
        pagep: &mut Option<Folio>,
    ) -> SysResult<()> {
        let Backing::File(ino) = vma.backing else {
            return Err(Errno::EINVAL);
        };
        let slot = self.pmd_alloc(mm, addr).ok_or(Errno::ENOMEM)?;
        let idx = vma.huge_index(addr);
        let eof = idx >= self.inodes[ino].i_size >> HPAGE_SHIFT;
        let shared = vma.flags & VM_SHARED != 0;
        let cached = self.inodes[ino].i_mapping.page(idx);
        // __mcopy_atomic_hugetlb() checks the entry before a COPY; CONTINUE looks the page up
        // first and checks EOF and the entry under the lock.
        let taken = !huge_ptep_get(&self.phys, slot).none_mostly();
        let f = match src {
            None => {
                let head = cached.ok_or(Errno::EFAULT)?;
                if eof {
                    return Err(Errno::EFAULT);
                }
                if taken {
                    return Err(Errno::EEXIST);
                }
                self.get_page(head);
                self.page_dup_file_rmap(head);
                Folio(head)
            }
            Some(_) if taken || (shared && cached.is_some()) => return Err(Errno::EEXIST),
            Some(src) => {
                let map = ResvMap::of(mm, vma, ino, shared);
                let reserved = self.vma_has_reservation(map, idx);
                let new = self.alloc_huge_page(reserved);
                let f = match pagep.take() {
                    None => {
                        let f = new.ok_or(Errno::ENOMEM)?;
                        // copy_huge_page_from_user(..., allow_pagefault = false).
                        let copied = (0..HPAGE_NR).try_for_each(|i| {
                            let s = src + i * crate::hw::PAGE_SIZE;
                            self.copy_from_user_page_nofault(tid, s, f.page(i))
                        });
                        if copied.is_err() {
                            // restore_reserve_on_error() and put_page(), then the temporary
                            // page for the copy outside the lock.
                            if reserved {
                                self.hstate.resv_huge_pages += 1;
                            }
                            self.folio_put(f);
                            *pagep = Some(self.alloc_huge_page_vma().ok_or(Errno::ENOMEM)?);
                            return Err(Errno::ENOENT);
                        }
                        f
                    }
                    Some(tmp) => {
                        // The retry holds the temporary page while it allocates.
                        let Some(f) = new else {
                            self.folio_put(tmp);
                            return Err(Errno::ENOMEM);
                        };
                        // copy_user_huge_page()
                        for i in 0..HPAGE_NR {
                            self.phys.copy(tmp.page(i), f.page(i));
                        }
                        self.folio_put(tmp);
                        f
                    }
                };
                // The source is copied before the EOF check.
                if eof {
                    // restore_reserve_on_error(): the reservation stays with its owner.
                    if reserved {
                        self.hstate.resv_huge_pages += 1;
                    }
                    self.folio_put(f);
                    return Err(Errno::EFAULT);
                }
                self.vma_commit_reservation(map, idx);
                let mut vmf = Vmf::new(
                    mm,
                    vma.for_fault(),
                    addr,
                    crate::mm::vm_fault::FaultFlags::empty(),
                );
                self.hugetlb_install_new_page(&mut vmf, idx, f, shared);
                f
            }
        };
        // CONTINUE in a private mapping and COPY with MODE_WP map the page read-only.
        let writable = (shared || src.is_some()) && vma.flags & VM_WRITE != 0 && !wp;
        let mut entry = Self::make_huge_pte(f, vma, writable).mkdirty().mkyoung();
        if wp {
            entry = entry.mkuffd_wp();
        }
        set_huge_pte_at(&mut self.phys, slot, entry);
        Ok(())
    }

    /// hugetlbfs_file_mmap(): the offset must be huge page aligned; reserve for the range
    /// (returns a private mapping's reservations); a writable mapping extends i_size.
    pub(crate) fn hugetlbfs_file_mmap(
        &mut self,
        ino: Ino,
        pgoff: u64,
        len: u64,
        vm_flags: u64,
    ) -> SysResult<BTreeSet<u64>> {
        if pgoff & (HPAGE_NR - 1) != 0 {
            return Err(Errno::EINVAL);
        }
        let end = (pgoff << 12).checked_add(len).ok_or(Errno::EINVAL)?;
        let from = pgoff >> 9;
        let shared = vm_flags & VM_MAYSHARE != 0;
        let resv = self.hugetlb_reserve_pages(
            ino,
            from,
            end >> HPAGE_SHIFT,
            shared,
            vm_flags & VM_NORESERVE != 0,
        )?;
        if vm_flags & VM_WRITE != 0 && self.inodes[ino].i_size < end {
            self.inodes[ino].i_size = end;
        }
        Ok(resv)
    }

    /// hugetlbfs_setattr() for ftruncate(): sizes are huge page multiples; shrinking unmaps
    /// the cut part from every mapping (private copies too) and drops pages and reservations.
    pub(crate) fn hugetlb_truncate(&mut self, ino: Ino, new: u64) -> SysResult<()> {
        if new & (HPAGE_SIZE - 1) != 0 {
            return Err(Errno::EINVAL);
        }
        let old = self.inodes[ino].i_size;
        self.inodes[ino].i_size = new;
        if new < old {
            self.remove_inode_hugepages(ino, new >> HPAGE_SHIFT, u64::MAX, true);
        }
        Ok(())
    }

    /// hugetlb_vmdelete_list() + remove_inode_hugepages() for huge indices `[from, to)`.
    /// Truncation (`truncate`) passes ZAP_FLAG_DROP_MARKER; a hole punch's unmap keeps
    /// uffd-wp markers ("mm/hugetlb: only drop uffd-wp special pte if required"). Only
    /// truncation releases the reservations of indices without a page
    /// (hugetlb_unreserve_pages() over the rest of the file); a hole punch deletes the reserve
    /// map entry of each page it frees and nothing else, so the reservations of the hole's
    /// empty indices stay until the file is truncated or evicted.
    fn remove_inode_hugepages(&mut self, ino: Ino, from: u64, to: u64, truncate: bool) {
        self.unmap_mapping_range(
            ino,
            (from.saturating_mul(HPAGE_NR), to.saturating_mul(HPAGE_NR)),
            ZapDetails {
                even_cows: true,
                drop_marker: truncate,
            },
        );
        let i = &mut self.inodes[ino];
        let pages: Vec<(u64, Pfn)> = i.i_mapping.pages(from..to).collect();
        let mut dropped_resv = 0;
        if let Some(resv) = i.resv_mut().filter(|_| truncate) {
            dropped_resv = resv.range(from..to).count() as u64;
            resv.retain(|&x| x < from || x >= to);
        }
        for (k, pfn) in pages {
            self.inodes[ino].i_mapping.remove(k);
            self.put_page(pfn);
        }
        self.hugetlb_unreserve(dropped_resv);
    }

    /// hugetlbfs_fallocate(): allocate whole huge pages (ENOSPC when the pool has none to
    /// spare), or punch the huge pages wholly inside the range.
    pub(crate) fn hugetlbfs_fallocate(
        &mut self,
        ino: Ino,
        mode: u64,
        offset: u64,
        end: u64,
    ) -> SysResult<()> {
        use crate::mm::shmem::{FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE};
        if mode & !(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE) != 0 {
            return Err(Errno::EOPNOTSUPP);
        }
        if mode & FALLOC_FL_PUNCH_HOLE != 0 {
            let (hole_start, hole_end) =
                (offset.next_multiple_of(HPAGE_SIZE), end & !(HPAGE_SIZE - 1));
            // hugetlbfs_punch_hole(): partial huge pages at the edges are zeroed in place
            // (hugetlbfs_zero_partial_page(), in 5.19 from -rc4 on); whole ones are removed.
            if offset < hole_start {
                self.hugetlbfs_zero_partial_page(ino, offset, end.min(hole_start));
            }
            if hole_end > hole_start {
                self.remove_inode_hugepages(
                    ino,
                    hole_start >> HPAGE_SHIFT,
                    hole_end >> HPAGE_SHIFT,
                    false,
                );
            }
            if end > hole_end && end > hole_start {
                self.hugetlbfs_zero_partial_page(ino, hole_end, end);
            }
            return Ok(());
        }
        for idx in offset >> HPAGE_SHIFT..end.div_ceil(HPAGE_SIZE) {
            if self.inodes[ino].i_mapping.page(idx).is_some() {
                continue;
            }
            // alloc_huge_page() for a shared pseudo-VMA: the file's reservations.
            let reserved = self.vma_has_reservation(ResvMap::File(ino), idx);
            let f = self.alloc_huge_page(reserved).ok_or(Errno::ENOSPC)?;
            self.vma_commit_reservation(ResvMap::File(ino), idx);
            let p = self.pages.page_mut(f.pfn());
            p.set_mapping(Some(ino as u32));
            p.index = idx;
            self.inodes[ino].i_mapping.add_page(idx, f.pfn());
        }
        if mode & FALLOC_FL_KEEP_SIZE == 0 && end > self.inodes[ino].i_size {
            self.inodes[ino].i_size = end;
        }
        Ok(())
    }

    /// hugetlbfs_zero_partial_page(): zero bytes `[start, end)` (inside one huge page) of the
    /// cached page, if there is one.
    fn hugetlbfs_zero_partial_page(&mut self, ino: Ino, start: u64, end: u64) {
        let Some(head) = self.inodes[ino].i_mapping.page(start >> HPAGE_SHIFT) else {
            return;
        };
        let mut a = start;
        while a < end {
            let off = a & (HPAGE_SIZE - 1);
            let n = (4096 - (a & 4095)).min(end - a);
            self.phys
                .fill(head + (off >> 12), (a & 4095) as usize, n as usize, 0);
            a += n;
        }
    }
}

/// __unmap_hugepage_range() as walker callbacks.
struct HugetlbZap<'a> {
    tlb: &'a mut MmuGather,
    details: ZapDetails,
    /// The VMA's flags, for page_remove_rmap().
    vm_flags: u64,
}

impl MmWalk for HugetlbZap<'_> {
    fn pmd_entry(
        &mut self,
        k: &mut Kernel,
        addr: u64,
        _next: u64,
        slot: PmdSlot,
        e: PmdKind,
    ) -> ControlFlow<(), PmdAction> {
        k.zap_huge_pte(self, addr & !(HPAGE_SIZE - 1), slot, e);
        ControlFlow::Continue(PmdAction::Done)
    }
    fn pte_entry(&mut self, _: &mut Kernel, _: u64, _: PteSlot, _: PteKind) -> ControlFlow<()> {
        unreachable!("hugetlb walks stop at the PMD level")
    }
}

/// copy_hugetlb_page_range() as walker callbacks.
struct HugetlbCopy {
    parent: MmId,
    child: MmId,
    cow: bool,
    /// userfaultfd_wp() of the child's VMA.
    dst_uffd_wp: bool,
    result: SysResult<()>,
}

impl MmWalk for HugetlbCopy {
    fn pmd_entry(
        &mut self,
        k: &mut Kernel,
        addr: u64,
        _next: u64,
        slot: PmdSlot,
        e: PmdKind,
    ) -> ControlFlow<(), PmdAction> {
        self.result = k.copy_huge_pte(self, addr & !(HPAGE_SIZE - 1), slot, e);
        if self.result.is_err() {
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(PmdAction::Done)
    }
    fn pte_entry(&mut self, _: &mut Kernel, _: u64, _: PteSlot, _: PteKind) -> ControlFlow<()> {
        unreachable!("hugetlb walks stop at the PMD level")
    }
}

/// hugetlb_change_protection() as walker callbacks.
struct HugetlbProtect {
    prot: crate::pgtable::pte::PgProt,
    uffd_wp: Option<bool>,
}

impl MmWalk for HugetlbProtect {
    fn pmd_entry(
        &mut self,
        k: &mut Kernel,
        _addr: u64,
        _next: u64,
        slot: PmdSlot,
        e: PmdKind,
    ) -> ControlFlow<(), PmdAction> {
        k.change_huge_pte(self, slot, e);
        ControlFlow::Continue(PmdAction::Done)
    }
    fn pte_entry(&mut self, _: &mut Kernel, _: u64, _: PteSlot, _: PteKind) -> ControlFlow<()> {
        unreachable!("hugetlb walks stop at the PMD level")
    }
}
