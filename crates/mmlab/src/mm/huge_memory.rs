//! mm/huge_memory.c: transparent huge pages mapped by one PMD entry, the huge zero page, PMD
//! splits, split_huge_page(), and the PMD-level cases of zap, fork, mprotect, mremap and
//! madvise. A THP is an order-9 folio: every reference goes to the head, each subpage keeps
//! its own PTE mapcount, and the PMD mappings are the folio's compound mapcount.

use std::collections::BTreeSet;

use crate::errno::{Errno, SysResult};
use crate::fs::userfaultfd::UffdReason::Missing;
use crate::hw::PAGE_SIZE;
use crate::kernel::Kernel;
use crate::mm::hugetlb::{HPAGE_NR, HPAGE_SHIFT, HPAGE_SIZE};
use crate::mm::memory::Vmf;
use crate::mm::mmu_gather::MmuGather;
use crate::mm::thp_knobs::ThpKnobs;
use crate::mm::vm_fault::{FaultFlags, FaultResult, VmFault};
use crate::mm::vma::{vm::*, Vma};
use crate::mm::MmId;
use crate::page::alloc::ZERO_PFN;
use crate::page::{Folio, Gfp, PageFlags, Pfn};
use crate::pgtable::pmd::{Pmd, PmdKind};
use crate::pgtable::pte::{PgProt, Pte};
use crate::pgtable::swp::{SwpKind, SwpPteBits};
use crate::pgtable::table::{self, PmdSlot};

/// Transparent huge page state: the knobs, the huge zero page and the deferred split queue.
#[derive(Debug, Default)]
pub struct ThpState {
    pub knobs: ThpKnobs,
    /// huge_zero_page, allocated on first use and kept (its shrinker runs only under memory
    /// pressure, which the model does not create).
    pub huge_zero: Option<Folio>,
    /// deferred_split_queue: partly unmapped THPs waiting for the split shrinker.
    pub deferred: BTreeSet<Folio>,
}

impl Kernel {
    // ---- folio bookkeeping ----

    /// set_page_dirty() / folio_mark_dirty(): PG_dirty is a folio flag.
    pub(crate) fn set_page_dirty(&mut self, pfn: Pfn) {
        let f = self.pages.folio(pfn);
        self.pages.folio_set(f, PageFlags::DIRTY);
    }

    /// The THP folio a PFN belongs to, if it is part of one (not hugetlb, not the huge zero
    /// page).
    #[inline]
    pub(crate) fn thp_head(&self, pfn: Pfn) -> Option<Folio> {
        let f = self.pages.folio(pfn);
        (self.pages.folio_test_large(f)
            && !self.pages.folio_test(f, PageFlags::HUGETLB)
            && Some(f) != self.thp.huge_zero)
            .then_some(f)
    }

    /// __transparent_hugepage_enabled(): may a fault in this anonymous VMA map a huge page?
    pub(crate) fn thp_vma_enabled(&self, vma: &Vma) -> bool {
        if vma.flags & (VM_NOHUGEPAGE | VM_HUGETLB) != 0 || !vma.is_anonymous() {
            return false;
        }
        let k = &self.thp.knobs;
        k.always() || (k.madvise() && vma.flags & VM_HUGEPAGE != 0)
    }

    /// mm_get_huge_zero_page(): the huge zero page, allocated (zeroed, THP_ZERO_PAGE_ALLOC)
    /// on first use.
    fn mm_get_huge_zero_page(&mut self) -> Option<Folio> {
        if let Some(z) = self.thp.huge_zero {
            return Some(z);
        }
        let gfp = (Gfp::TRANSHUGE | Gfp::ZERO) & !Gfp::MOVABLE;
        let Some(f) = self.alloc_huge_folio(gfp) else {
            self.vmstat.thp_zero_page_alloc_failed += 1;
            return None;
        };
        self.pages.folio_set(f, PageFlags::UPTODATE);
        self.thp.huge_zero = Some(f);
        self.vmstat.thp_zero_page_alloc += 1;
        Some(f)
    }

    /// Whether the huge zero page exists (it stays once allocated: only its shrinker, under
    /// memory pressure, would free it).
    pub fn huge_zero_page_allocated(&self) -> bool {
        self.thp.huge_zero.is_some()
    }

    /// is_huge_zero_pmd().
    #[inline]
    pub(crate) fn is_huge_zero_pmd(&self, e: Pmd) -> bool {
        Some(Folio(e.pfn())) == self.thp.huge_zero
    }

    /// pgtable_trans_huge_deposit(): keep a PTE table with the huge PMD so a split never
    /// needs memory.
    fn deposit(&mut self, mm: MmId, haddr: u64, table_pfn: Pfn) {
        let old = self.mms[mm].deposited.insert(haddr, table_pfn);
        debug_assert!(old.is_none(), "two tables deposited at {haddr:#x}");
    }

    /// pgtable_trans_huge_withdraw().
    fn withdraw(&mut self, mm: MmId, haddr: u64) -> Pfn {
        self.mms[mm]
            .deposited
            .remove(&haddr)
            .expect("a huge PMD has a deposited table")
    }

    /// zap_deposited_table(): the deposited table goes back to the allocator.
    fn zap_deposited_table(&mut self, mm: MmId, haddr: u64) {
        let t = self.withdraw(mm, haddr);
        self.free_pgtable(t);
    }

    /// page_add_new_anon_rmap(compound): the fresh folio is mapped once by a PMD, exclusive;
    /// NR_ANON_THPS and NR_ANON_MAPPED count it.
    fn thp_add_new_anon_rmap(&mut self, f: Folio, vma: &Vma, haddr: u64) {
        let exclusive = self.anon_exclusive_flag();
        self.pages.folio_set(
            f,
            PageFlags::ANON | PageFlags::SWAPBACKED | PageFlags::UPTODATE,
        );
        let p = self.pages.page_mut(f.pfn());
        p.flags |= exclusive;
        p.set_mapping(vma.anon_vma);
        p.index = vma.linear_page_index(haddr);
        self.pages.add_compound_mapcount(f.pfn(), 1);
        self.vmstat.nr_anon_transparent_hugepages += 1;
        self.vmstat.nr_anon_pages += HPAGE_NR;
    }

    /// page_remove_rmap(compound): one PMD mapping fewer, in a VMA with flags `vm_flags` (a
    /// locked one munlocks the folio). When the last goes, a file THP leaves
    /// NR_SHMEM_PMDMAPPED; an anonymous one leaves NR_ANON_THPS, the subpages no PTE maps
    /// leave NR_ANON_MAPPED, and a folio left partly mapped is queued for a split.
    pub(crate) fn thp_remove_compound_rmap(&mut self, f: Folio, vm_flags: u64) {
        self.thp_remove_compound_rmap_counts(f);
        self.munlock_vma_page(f.pfn(), vm_flags, true);
    }

    /// The counting of page_remove_rmap(compound).
    fn thp_remove_compound_rmap_counts(&mut self, f: Folio) {
        if self.pages.add_compound_mapcount(f.pfn(), -1) > 0 {
            return;
        }
        if !self.pages.folio_test(f, PageFlags::ANON) {
            self.vmstat.nr_shmem_pmdmapped -= 1;
            return;
        }
        self.vmstat.nr_anon_transparent_hugepages -= 1;
        let unmapped = f
            .pfn()
            .range(HPAGE_NR)
            .filter(|&p| self.pages.page(p).mapcount() == 0)
            .count() as u64;
        self.vmstat.nr_anon_pages -= unmapped;
        if unmapped > 0 && unmapped < HPAGE_NR {
            self.deferred_split_huge_page(f);
        }
    }

    /// deferred_split_huge_page(): queue the folio once (THP_DEFERRED_SPLIT_PAGE).
    pub(crate) fn deferred_split_huge_page(&mut self, f: Folio) {
        if self.thp.deferred.insert(f) {
            self.vmstat.thp_deferred_split_page += 1;
        }
    }

    // ---- faults ----

    /// transhuge_vma_suitable(): the aligned 2 MiB around `haddr` lies inside the VMA (and a
    /// file VMA's offset is huge-page aligned with its address).
    pub(crate) fn transhuge_vma_suitable(vma: &Vma, haddr: u64) -> bool {
        if !vma.is_anonymous()
            && !(vma.start >> 12)
                .wrapping_sub(vma.pgoff)
                .is_multiple_of(HPAGE_NR)
        {
            return false;
        }
        haddr >= vma.start && haddr.checked_add(HPAGE_SIZE).is_some_and(|e| e <= vma.end)
    }

    /// do_huge_pmd_anonymous_page(): map the huge zero page for a read, a new zeroed THP for
    /// a write. VM_FAULT_FALLBACK sends the fault on to 4 KiB pages.
    /// Locks: the mmap lock, read; the PMD lock around the install.
    pub(crate) fn do_huge_pmd_anonymous_page(&mut self, vmf: &mut Vmf) -> FaultResult {
        let haddr = vmf.address & !(HPAGE_SIZE - 1);
        let (mm, pmd) = (vmf.mm, vmf.pmd.expect("pmd_alloc() ran"));
        if !Self::transhuge_vma_suitable(&vmf.vma, haddr) {
            return Err(VmFault::FALLBACK);
        }
        self.anon_vma_prepare(vmf)?;
        self.khugepaged_enter(mm);
        if !vmf.write() && self.thp.knobs.use_zero_page {
            let pgtable = self.alloc_pgtable().ok_or(VmFault::OOM)?;
            let Some(zero) = self.mm_get_huge_zero_page() else {
                self.free_pgtable(pgtable);
                self.vmstat.thp_fault_fallback += 1;
                return Err(VmFault::FALLBACK);
            };
            if vmf.vma.flags & VM_UFFD_MISSING != 0 {
                self.free_pgtable(pgtable);
                return Err(self.handle_userfault(vmf, Missing));
            }
            // set_huge_zero_page(): read-only through the VMA's protection, never writable.
            self.deposit(mm, haddr, pgtable);
            table::set_pmd(
                &mut self.phys,
                pmd,
                Pmd::huge(zero.pfn(), vmf.vma.page_prot()),
            );
            return Ok(VmFault::empty());
        }
        let Some(folio) = self.alloc_huge_folio(Gfp::TRANSHUGE_LIGHT | Gfp::ZERO) else {
            self.vmstat.thp_fault_fallback += 1;
            return Err(VmFault::FALLBACK);
        };
        let Some(pgtable) = self.alloc_pgtable() else {
            self.folio_put(folio);
            return Err(VmFault::OOM);
        };
        // __do_huge_pmd_anonymous_page(): the page was allocated and cleared first.
        if vmf.vma.flags & VM_UFFD_MISSING != 0 {
            self.folio_put(folio);
            self.free_pgtable(pgtable);
            return Err(self.handle_userfault(vmf, Missing));
        }
        self.thp_install_new_anon(mm, &vmf.vma, haddr, folio, pgtable);
        self.vmstat.thp_fault_alloc += 1;
        Ok(VmFault::empty())
    }

    /// Map a new anonymous folio (zeroed or filled) at `haddr` with a dirty entry, writable if
    /// the VMA is, `pgtable` deposited beside it, and queue it for the LRU
    /// (__do_huge_pmd_anonymous_page(), and the end of collapse_huge_page()).
    pub(crate) fn thp_install_new_anon(
        &mut self,
        mm: MmId,
        vma: &Vma,
        haddr: u64,
        f: Folio,
        pgtable: Pfn,
    ) {
        let pmd = table::pmd_slot(&self.phys, self.mms[mm].pgd, haddr)
            .expect("the PMD level exists where a huge entry goes");
        let mut entry = Pmd::huge(f.pfn(), vma.page_prot()).mkdirty();
        if vma.flags & VM_WRITE != 0 {
            entry = entry.mkwrite();
        }
        self.thp_add_new_anon_rmap(f, vma, haddr);
        self.lru_cache_add_inactive_or_unevictable(f, vma);
        self.deposit(mm, haddr, pgtable);
        self.mms[mm].rss_anon += HPAGE_NR as i64;
        table::set_pmd(&mut self.phys, pmd, entry);
    }

    /// do_set_pmd(): map the page-cache THP `f` at the aligned 2 MiB around the fault with one
    /// PMD entry (no deposited table for file THPs on x86); false (fall back to PTEs) if the
    /// VMA cannot hold it there.
    pub(crate) fn do_set_pmd(&mut self, vmf: &Vmf, pmd: PmdSlot, f: Folio) -> bool {
        let haddr = vmf.address & !(HPAGE_SIZE - 1);
        let vma = &vmf.vma;
        if !Self::transhuge_vma_suitable(vma, haddr) {
            return false;
        }
        let mut entry = Pmd::huge(f.pfn(), vma.page_prot());
        if vmf.write() {
            entry = entry.mkdirty();
            if vma.flags & VM_WRITE != 0 {
                entry = entry.mkwrite();
            }
            self.pages.folio_set(f, PageFlags::DIRTY);
        }
        self.folio_get(f);
        // page_add_file_rmap(compound): NR_SHMEM_PMDMAPPED counts the first PMD mapping.
        if self.pages.add_compound_mapcount(f.pfn(), 1) == 1 {
            self.vmstat.nr_shmem_pmdmapped += 1;
        }
        self.mlock_vma_folio(f, vma.flags, true);
        self.mms[vmf.mm].rss_shmem += HPAGE_NR as i64;
        self.vmstat.thp_file_mapped += 1;
        table::set_pmd(&mut self.phys, pmd, entry);
        true
    }

    /// do_huge_pmd_numa_page() on one node: as do_numa_page() for a PROT_NONE huge entry of
    /// an accessible VMA: the VMA's protection again, young, writable only if it was.
    /// Locks: the mmap lock, read; the PMD lock.
    pub(crate) fn do_huge_pmd_numa_page(&mut self, vmf: &Vmf, pmd: PmdSlot, old: Pmd) -> VmFault {
        let mut e = old.modify(vmf.vma.page_prot()).mkyoung();
        if old.write() {
            e = e.mkwrite();
        }
        table::set_pmd(&mut self.phys, pmd, e);
        VmFault::empty()
    }

    /// huge_pmd_set_accessed(): a fault on a huge entry that already allows the access.
    pub(crate) fn huge_pmd_set_accessed(&mut self, pmd: PmdSlot, orig: Pmd, write: bool) {
        let mut e = orig.mkyoung();
        if write {
            e = e.mkdirty();
        }
        if e != orig {
            table::set_pmd(&mut self.phys, pmd, e);
        }
    }

    /// do_huge_pmd_wp_page(): a write to a write-protected huge entry. An exclusive folio (or
    /// one nobody else references: THPs never wait in an LRU batch) is reused in place; the
    /// huge zero page and shared folios split the PMD and fall back to a 4 KiB COW.
    /// Locks: the mmap lock, read; the PMD lock; the folio lock to test for reuse.
    pub(crate) fn do_huge_pmd_wp_page(&mut self, vmf: &mut Vmf) -> FaultResult {
        let haddr = vmf.address & !(HPAGE_SIZE - 1);
        let (orig, pmd) = (vmf.orig_pmd, vmf.pmd.expect("pmd_alloc() ran"));
        if !self.is_huge_zero_pmd(orig) {
            let f = Folio(orig.pfn());
            let exclusive =
                self.cfg.features.anon_exclusive && self.pages.page(f.pfn()).anon_exclusive();
            if exclusive || self.pages.folio_ref_count(f) == 1 {
                if !exclusive {
                    self.page_move_anon_rmap(f.pfn(), &vmf.vma);
                }
                // An unshare only needed the THP proven exclusive: the PMD stays read-only.
                if vmf.flags.contains(FaultFlags::UNSHARE) {
                    return Ok(VmFault::empty());
                }
                let mut e = orig.mkyoung().mkdirty();
                if vmf.vma.flags & VM_WRITE != 0 {
                    e = e.mkwrite();
                }
                table::set_pmd(&mut self.phys, pmd, e);
                return Ok(VmFault::WRITE);
            }
        }
        self.split_huge_pmd(vmf.mm, haddr);
        Err(VmFault::FALLBACK)
    }

    // ---- splitting ----

    /// __split_huge_pmd() at the 2 MiB-aligned `haddr` of `mm`, if a THP entry (or the huge
    /// zero page) maps it: the deposited table comes back filled with 512 PTEs.
    /// Locks: the mmap lock; the PMD lock.
    pub(crate) fn split_huge_pmd(&mut self, mm: MmId, haddr: u64) {
        let root = self.mms[mm].pgd;
        let Some(pmd) = table::pmd_slot(&self.phys, root, haddr) else {
            return;
        };
        let e = match table::get_pmd(&self.phys, pmd).kind() {
            PmdKind::Leaf(e) => e,
            PmdKind::Swp(kind, bits) if kind.is_migration() => {
                return self.split_pmd_migration_entry(mm, haddr, pmd, (kind, bits));
            }
            PmdKind::None | PmdKind::Table(_) | PmdKind::Swp(..) => return,
        };
        if self.pages.folio_test(Folio(e.pfn()), PageFlags::HUGETLB) {
            return;
        }
        let prot = self.mms[mm]
            .vmas
            .lookup(haddr)
            .map(|v| (v.page_prot(), v.flags));
        let Some((prot, vm_flags)) = prot else {
            debug_assert!(false, "splitting a huge PMD outside any VMA at {haddr:#x}");
            return;
        };
        self.vmstat.thp_split_pmd += 1;
        // pmdp_invalidate(): the 2 MiB translation goes from every TLB first.
        table::set_pmd(&mut self.phys, pmd, Pmd::NONE);
        self.flush_tlb_range_stride(mm, haddr, haddr + HPAGE_SIZE, HPAGE_SHIFT);
        let f = Folio(e.pfn());
        if !self.is_huge_zero_pmd(e) && !self.pages.folio_test(f, PageFlags::ANON) {
            // A file PMD is just cleared: the range refaults, as PTEs where it must.
            self.zap_file_pmd(mm, e, vm_flags);
            self.folio_put(f);
            return;
        }
        let pgtable = self.withdraw(mm, haddr);
        if self.is_huge_zero_pmd(e) {
            // __split_huge_zero_page_pmd(): every PTE maps the 4 KiB zero page.
            let zero = Pte::pfn_pte(ZERO_PFN, prot).mkspecial();
            self.phys.table_mut(pgtable).fill(zero.0);
            table::set_pmd(&mut self.phys, pmd, Pmd::table(pgtable));
            return;
        }
        if e.dirty() {
            // 5.19 moves the dirty bit to the folio (PG_dirty), not to the PTEs.
            self.pages.folio_set(f, PageFlags::DIRTY);
        }
        let exclusive = self.pages.page(f.pfn()).anon_exclusive();
        for i in 0..HPAGE_NR {
            let mut pte = Pte::pfn_pte(f.page(i), prot);
            if vm_flags & VM_WRITE != 0 && e.write() {
                pte = pte.mkwrite();
            }
            if !e.young() {
                pte = pte.mkold();
            }
            if e.soft_dirty() {
                pte = pte.mksoft_dirty();
            }
            if e.uffd_wp() {
                pte = pte.mkuffd_wp();
            }
            self.phys.table_mut(pgtable)[i as usize] = pte.0;
            let p = self.pages.page_mut(f.page(i));
            p.mapcount += 1;
            if exclusive {
                p.flags |= PageFlags::ANON_EXCLUSIVE;
            }
        }
        // Each PTE holds a reference; the PMD's one becomes the first PTE's.
        self.pages.folio_ref_add(f, HPAGE_NR as i32 - 1);
        table::set_pmd(&mut self.phys, pmd, Pmd::table(pgtable));
        // PTE mappings of a THP are not mlocked: a locked VMA munlocks it here.
        self.thp_remove_compound_rmap(f, vm_flags);
    }

    /// __split_huge_pmd_locked() of a PMD migration entry: the deposited table comes back with
    /// a migration entry of the same type for each page (soft-dirty and uffd-wp kept); the
    /// pages gain no mappings, the folio no references, the RSS stays.
    /// Locks: the PMD lock.
    fn split_pmd_migration_entry(
        &mut self,
        mm: MmId,
        haddr: u64,
        pmd: PmdSlot,
        (kind, bits): (SwpKind, SwpPteBits),
    ) {
        let head = kind.migration_pfn().expect("a migration entry");
        self.vmstat.thp_split_pmd += 1;
        let f = self.pages.folio(Pfn(head));
        if !self.pages.folio_test(f, PageFlags::ANON) {
            // A file VMA's entry is just cleared, with the RSS it counted; the range refaults
            // from the page cache (the migration finds no entry to restore there).
            return self.zap_pmd_migration_entry(mm, haddr, pmd, f);
        }
        let pgtable = self.withdraw(mm, haddr);
        for i in 0..HPAGE_NR {
            let e = Pte::swp(kind.with_migration_pfn(head + i), bits);
            self.phys.table_mut(pgtable)[i as usize] = e.0;
        }
        table::set_pmd(&mut self.phys, pmd, Pmd::table(pgtable));
    }

    /// zap_huge_pmd() of a PMD migration entry of `f` covered whole: the entry and an
    /// anonymous THP's deposited table go, and the RSS the folio counted for.
    pub(crate) fn zap_pmd_migration_entry(&mut self, mm: MmId, haddr: u64, pmd: PmdSlot, f: Folio) {
        table::set_pmd(&mut self.phys, pmd, Pmd::NONE);
        if !self.pages.folio_test(f, PageFlags::ANON) {
            self.mms[mm].rss_shmem -= HPAGE_NR as i64;
            return;
        }
        self.zap_deposited_table(mm, haddr);
        self.mms[mm].rss_anon -= HPAGE_NR as i64;
    }

    /// The split each PMD walker makes where `[start, end)` covers only part of a huge entry
    /// (zap_pmd_range, change_pmd_range, madvise walks, move_page_tables), and
    /// vma_adjust_trans_huge() at a new VMA boundary.
    pub(crate) fn split_huge_pmd_edges(&mut self, mm: MmId, start: u64, end: u64) {
        for at in [start, end] {
            if at % HPAGE_SIZE != 0 {
                self.split_huge_pmd(mm, at & !(HPAGE_SIZE - 1));
            }
        }
    }

    /// split_huge_page(): turn a THP folio into 512 ordinary pages. It fails (false,
    /// THP_SPLIT_PAGE_FAILED) while anything but its mappings and page-cache entries holds a
    /// reference (can_split_folio()). unmap_page() goes first: an anonymous folio's mappings
    /// become migration entries (try_to_migrate()), a file folio is unmapped everywhere
    /// (try_to_unmap()). __split_huge_page() gives every subpage the folio-wide state
    /// (PG_dirty, the LRU list it is on) and its own references; remap_page() turns the
    /// migration entries back into PTEs, old and clean (5.19); subpages nothing holds are
    /// freed, and a file's subpages past EOF leave the page cache. Locks: the folio lock, the
    /// anon_vma or i_mmap lock, the LRU lock.
    pub(crate) fn split_huge_page(&mut self, f: Folio) -> bool {
        self.split_huge_page_to_list(f, None)
    }

    /// split_huge_page_to_list(): with a `list` (reclaim), the caller holds an isolation
    /// reference on the off-LRU folio, and each tail page goes on the list with one of its
    /// own instead of back on the LRU (lru_add_page_tail()).
    pub(crate) fn split_huge_page_to_list(
        &mut self,
        f: Folio,
        mut list: Option<&mut Vec<Folio>>,
    ) -> bool {
        let hp = *self.pages.page(f.pfn());
        let anon = hp.test(PageFlags::ANON);
        let ino = hp.mapping();
        let index = hp.index();
        let cached = |k: &Kernel, p: Pfn| {
            !anon
                && ino
                    .and_then(|i| k.inodes.get(i as usize))
                    .is_some_and(|i| i.i_mapping.page(k.pages.page_index(p)) == Some(p))
        };
        let cache_refs = f.pfn().range(HPAGE_NR).filter(|&p| cached(self, p)).count() as i32;
        let caller = i32::from(list.is_some());
        if hp.refcount() != self.pages.folio_mapcount(f) + cache_refs + caller {
            self.vmstat.thp_split_page_failed += 1;
            return false;
        }
        // The caller's reference, held across the split.
        if list.is_none() {
            self.folio_get(f);
        }
        if anon {
            self.try_to_migrate(f, true);
        } else {
            self.try_to_unmap_file(f);
        }
        // __split_huge_page(): the folio leaves the LRU as one and its pieces go back on the
        // list it was on, in order.
        let on_lru = self.pages.folio_test(f, PageFlags::LRU);
        if on_lru {
            self.lru.lruvec.del(&mut self.pages, f);
        }
        // The head's flags as unmap_page() left them: splitting a PMD that mapped the folio
        // dirty has just set PG_dirty (__split_huge_pmd_locked()), and every tail copies it.
        let shared = self.pages.page(f.pfn()).flags & PageFlags::FOLIO_WIDE;
        self.thp.deferred.remove(&f);
        self.vmstat.thp_split_page += 1;
        if !anon {
            self.vmstat.nr_shmem_hugepages -= 1;
        }
        // shmem_fallocend(): pages fallocated past i_size stay too.
        let eof = match ino
            .filter(|_| !anon)
            .and_then(|i| self.inodes.get(i as usize))
        {
            Some(i) => i.i_size.div_ceil(PAGE_SIZE).max(i.fallocend()),
            None => u64::MAX,
        };
        let in_cache: Vec<bool> = f.pfn().range(HPAGE_NR).map(|p| cached(self, p)).collect();
        for i in 0..HPAGE_NR {
            let p = self.pages.page_mut(f.page(i));
            debug_assert_eq!(p.mapcount, 0, "unmap_page() left a mapping");
            p.flags = (p.flags & (PageFlags::ANON_EXCLUSIVE | PageFlags::HWPOISON)) | shared;
            // Each subpage: the split's own reference, and the page cache's.
            p.refcount = 1 + in_cache[i as usize] as i32;
            p.set_mapping(hp.mapping());
            p.index = index + i;
            p.lru = [crate::page::LRU_NONE; 2];
        }
        for i in 0..HPAGE_NR {
            let sub = Folio(f.page(i));
            if let Some(l) = list.as_deref_mut() {
                if i > 0 {
                    l.push(sub);
                }
            } else if on_lru {
                self.lru.lruvec.add_tail(&mut self.pages, sub);
            }
            if anon {
                self.remove_migration_ptes(sub, sub);
            } else if let Some(m) = ino.filter(|_| in_cache[i as usize] && index + i >= eof) {
                self.inodes[m as usize].i_mapping.remove(index + i);
                self.vmstat.nr_shmem -= 1;
                self.pages.folio_ref_add(sub, -1);
            }
        }
        // The split's references go; what nothing else holds is freed. On a list, they
        // are the isolation references reclaim goes on with.
        if list.is_none() {
            for i in 0..HPAGE_NR {
                self.folio_put(Folio(f.page(i)));
            }
        }
        true
    }

    /// The madvise PTE walks' rule for a subpage of a PTE-mapped THP: split the folio if this
    /// is its only mapping. True if `pfn` is now (or was) an ordinary page; false means the
    /// walk of this PTE table stops (shared folio, or the split failed).
    pub(crate) fn split_pte_mapped_thp(&mut self, pfn: Pfn) -> bool {
        match self.thp_head(pfn) {
            None => true,
            Some(f) => self.pages.page_mapcount(pfn) == 1 && self.split_huge_page(f),
        }
    }

    /// madvise_free_huge_pmd() for a huge entry of `[addr, next)`: true if it was dealt with
    /// whole (the folio made clean, old and lazily freeable); false to walk its PTEs (a
    /// partly covered folio mapped only here was split) or leave it (shared, the zero page).
    /// Locks: the mmap lock, read; the PMD lock.
    pub(crate) fn madvise_free_huge_pmd(
        &mut self,
        tlb: &mut MmuGather,
        mm: MmId,
        (addr, next): (u64, u64),
        pmd: PmdSlot,
        e: Pmd,
    ) -> bool {
        if self.is_huge_zero_pmd(e) {
            return true;
        }
        let f = Folio(e.pfn());
        // Skipped if other mappings of any subpage exist (total_mapcount()).
        if self.pages.folio_mapcount(f) != 1 {
            return true;
        }
        if next - addr != HPAGE_SIZE {
            self.split_huge_page(f);
            return false;
        }
        self.pages.folio_clear(f, PageFlags::DIRTY);
        let haddr = addr & !(HPAGE_SIZE - 1);
        if e.young() || e.dirty() {
            // pmdp_invalidate() flushes at once; the gather gets the range too.
            table::set_pmd(&mut self.phys, pmd, e.mkold().mkclean());
            self.flush_tlb_range_stride(mm, haddr, haddr + HPAGE_SIZE, HPAGE_SHIFT);
            tlb.add_huge_range(haddr, HPAGE_SIZE);
        }
        self.mark_page_lazyfree(f);
        true
    }

    /// madvise_cold_or_pageout_pte_range() for a huge entry of `[addr, next)`: true if it was
    /// dealt with (aged, then deactivated or isolated for reclaim_pages(), which swaps the
    /// THP out whole or splits it); false to walk its PTEs (a partly covered folio mapped
    /// only here was split).
    /// Locks: the mmap lock, read; the PMD lock.
    pub(crate) fn madvise_cold_huge_pmd(
        &mut self,
        tlb: &mut MmuGather,
        mm: MmId,
        (addr, next): (u64, u64),
        pmd: PmdSlot,
        (e, pageout): (Pmd, bool),
        isolated: &mut Vec<Folio>,
    ) -> bool {
        if self.is_huge_zero_pmd(e) {
            return true;
        }
        let f = Folio(e.pfn());
        if self.pages.page_mapcount(f.pfn()) != 1 {
            return true;
        }
        if next - addr != HPAGE_SIZE {
            return !self.split_huge_page(f);
        }
        let haddr = addr & !(HPAGE_SIZE - 1);
        if e.young() {
            table::set_pmd(&mut self.phys, pmd, e.mkold());
            self.flush_tlb_range_stride(mm, haddr, haddr + HPAGE_SIZE, HPAGE_SHIFT);
            tlb.add_huge_range(haddr, HPAGE_SIZE);
        }
        self.pages
            .folio_clear(f, PageFlags::REFERENCED | PageFlags::YOUNG);
        if !pageout {
            self.deactivate_page(f);
        } else {
            self.pageout_isolate(f, isolated);
        }
        true
    }

    // ---- zap, fork, mprotect, mremap ----

    /// zap_huge_pmd(): clear the entry, free the deposited table, drop the folio's PMD mapping
    /// (its reference goes after the gather's flush).
    /// Locks: the mmap lock (read for MADV_DONTNEED, write for munmap); the PMD lock.
    /// `vm_flags` are those of the VMA it is zapped from.
    pub(crate) fn zap_huge_pmd(
        &mut self,
        tlb: &mut MmuGather,
        (mm, vm_flags): (MmId, u64),
        haddr: u64,
        pmd: PmdSlot,
    ) {
        let e = table::get_pmd(&self.phys, pmd);
        table::set_pmd(&mut self.phys, pmd, Pmd::NONE);
        tlb.add_huge_range(haddr, HPAGE_SIZE);
        let f = Folio(e.pfn());
        if !self.is_huge_zero_pmd(e) && !self.pages.folio_test(f, PageFlags::ANON) {
            self.zap_file_pmd(mm, e, vm_flags);
            tlb.remove_page(f.pfn());
            return;
        }
        self.zap_deposited_table(mm, haddr);
        if self.is_huge_zero_pmd(e) {
            return;
        }
        self.thp_remove_compound_rmap(f, vm_flags);
        self.mms[mm].rss_anon -= HPAGE_NR as i64;
        tlb.remove_page(f.pfn());
    }

    /// The bookkeeping of a file PMD that went away (zap_huge_pmd(), or a split of it): the
    /// dirty bit moves to the folio, the PMD mapping and its RSS go; the caller drops the
    /// reference.
    fn zap_file_pmd(&mut self, mm: MmId, e: Pmd, vm_flags: u64) {
        let f = Folio(e.pfn());
        if e.dirty() {
            self.pages.folio_set(f, PageFlags::DIRTY);
        }
        self.thp_remove_compound_rmap(f, vm_flags);
        self.mms[mm].rss_shmem -= HPAGE_NR as i64;
    }

    /// copy_huge_pmd(): the child shares the folio (or the huge zero page) through a
    /// write-protected, old entry with its own deposited table; the parent's entry is
    /// write-protected too. False when a THP the parent may have pinned had its PMD split
    /// instead, for the caller to copy the PTEs.
    /// Locks: both mmap locks, write; the source and destination PMD locks.
    pub(crate) fn copy_huge_pmd(
        &mut self,
        (parent, child): (MmId, MmId),
        dst: &Vma,
        haddr: u64,
        pslot: PmdSlot,
        e: Pmd,
    ) -> SysResult<bool> {
        // page_try_dup_anon_rmap(compound) failing: a THP the parent may have pinned is not
        // shared; the parent's PMD is split and its PTEs copied one by one (-EAGAIN).
        if !self.is_huge_zero_pmd(e) && !self.anon_dup_allowed(e.pfn(), parent) {
            self.split_huge_pmd(parent, haddr);
            return Ok(false);
        }
        let pgtable = self.alloc_pgtable().ok_or(Errno::ENOMEM)?;
        let Some(cslot) = self.pmd_alloc(child, haddr) else {
            self.free_pgtable(pgtable);
            return Err(Errno::ENOMEM);
        };
        if !self.is_huge_zero_pmd(e) {
            let f = Folio(e.pfn());
            self.folio_get(f);
            // page_try_dup_anon_rmap(compound): exclusivity ends.
            self.pages
                .page_mut(f.pfn())
                .flags
                .remove(PageFlags::ANON_EXCLUSIVE);
            self.pages.add_compound_mapcount(f.pfn(), 1);
            self.mms[child].rss_anon += HPAGE_NR as i64;
        }
        self.deposit(child, haddr, pgtable);
        table::set_pmd(&mut self.phys, pslot, e.wrprotect());
        let mut ce = e.wrprotect().mkold();
        if dst.flags & VM_UFFD_WP == 0 {
            ce = ce.clear_uffd_wp();
        }
        table::set_pmd(&mut self.phys, cslot, ce);
        Ok(true)
    }

    /// copy_huge_pmd() of a PMD migration entry (is_swap_pmd()): the child gets the entry and
    /// counts the THP in its rss; an entry that is not plain readable becomes readable in the
    /// parent and the child alike (the THP comes back shared); the child keeps uffd-wp only if
    /// its VMA does. Locks: both PMD locks.
    pub(crate) fn copy_huge_pmd_migration(
        &mut self,
        child: MmId,
        dst: &Vma,
        haddr: u64,
        pslot: PmdSlot,
        (mut kind, mut bits): (SwpKind, SwpPteBits),
    ) -> SysResult<()> {
        let pgtable = self.alloc_pgtable().ok_or(Errno::ENOMEM)?;
        let Some(cslot) = self.pmd_alloc(child, haddr) else {
            self.free_pgtable(pgtable);
            return Err(Errno::ENOMEM);
        };
        if let SwpKind::MigrationWrite { pfn } | SwpKind::MigrationReadExclusive { pfn } = kind {
            kind = SwpKind::MigrationRead { pfn };
            table::set_pmd(&mut self.phys, pslot, Pmd::swp(kind, bits));
        }
        self.mms[child].rss_anon += HPAGE_NR as i64;
        self.deposit(child, haddr, pgtable);
        if dst.flags & VM_UFFD_WP == 0 {
            bits.uffd_wp = false;
        }
        table::set_pmd(&mut self.phys, cslot, Pmd::swp(kind, bits));
        Ok(())
    }

    /// change_huge_pmd(): the new protection (and with the uffd-wp cp_flags, the uffd-wp bit)
    /// on a whole huge entry. True if the range must be flushed: 5.19 asks
    /// huge_pmd_needs_flush() (pmdp_invalidate_ad() does not flush on x86); 5.18 invalidated
    /// with pmdp_invalidate(), which flushes at once, and then flushed the range again (two
    /// flushes for one huge page).
    /// Locks: the mmap lock, write (read for UFFDIO_WRITEPROTECT); the PMD lock.
    pub(crate) fn change_huge_pmd(
        &mut self,
        mm: MmId,
        haddr: u64,
        prot: PgProt,
        pmd: PmdSlot,
        cp_flags: crate::mm::mprotect::CpFlags,
    ) -> bool {
        use crate::mm::mprotect::CpFlags;
        let e = table::get_pmd(&self.phys, pmd);
        let mut new = e.modify(prot);
        if cp_flags.contains(CpFlags::UFFD_WP) {
            new = new.wrprotect().mkuffd_wp();
        } else if cp_flags.contains(CpFlags::UFFD_WP_RESOLVE) {
            new = new.clear_uffd_wp();
        }
        table::set_pmd(&mut self.phys, pmd, new);
        if self.cfg.features.mprotect_flush_avoid {
            crate::pgtable::pte::pte_needs_flush(e.as_pte(), new.as_pte())
        } else {
            self.flush_tlb_range_stride(mm, haddr, haddr + HPAGE_SIZE, HPAGE_SHIFT);
            true
        }
    }

    /// move_huge_pmd(): hand a whole huge entry (and its deposited table) from `old` to `new`,
    /// both 2 MiB aligned; false if the new slot is taken or cannot be allocated.
    /// Locks: the mmap lock, write; both PMD locks (and the rmap locks when need_rmap_locks).
    pub(crate) fn move_huge_pmd(&mut self, mm: MmId, old: u64, new: u64) -> bool {
        let root = self.mms[mm].pgd;
        let Some(src) = table::pmd_slot(&self.phys, root, old) else {
            return false;
        };
        let Some(dst) = self.pmd_alloc(mm, new) else {
            return false;
        };
        if !table::get_pmd(&self.phys, dst).is_none() {
            return false;
        }
        let e = table::get_pmd(&self.phys, src);
        table::set_pmd(&mut self.phys, src, Pmd::NONE);
        // Only anonymous huge entries have a deposited table.
        if let Some(t) = self.mms[mm].deposited.remove(&old) {
            self.deposit(mm, new, t);
        }
        // move_soft_dirty_pmd(): the moved range reads as written.
        table::set_pmd(&mut self.phys, dst, e.mksoft_dirty());
        self.flush_tlb_mm_range(mm, old, old + HPAGE_SIZE);
        true
    }

    /// /sys/kernel/mm/transparent_hugepage/ knob write (sysfs store handlers).
    pub fn thp_sysfs_write(&mut self, name: &str, val: &str) -> SysResult<()> {
        self.thp.knobs.write(name, val)
    }

    /// /sys/kernel/mm/transparent_hugepage/ knob read, as `cat` prints it (khugepaged's
    /// pages_collapsed counter included).
    pub fn thp_sysfs_read(&self, name: &str) -> Option<String> {
        match name {
            "khugepaged/pages_collapsed" => Some(self.khugepaged.pages_collapsed.to_string()),
            _ => self.thp.knobs.read(name),
        }
    }
}
