//! mm/huge_memory.c for anonymous memory: transparent huge pages mapped by one PMD entry,
//! the huge zero page, PMD splits, and the PMD-level cases of zap, fork, mprotect, mremap
//! and madvise. A THP is a 2 MiB compound page: every reference goes to the head, each
//! subpage keeps its own PTE mapcount, and the PMD mappings are counted per folio.

use std::collections::{BTreeSet, HashMap};

use crate::errno::{Errno, SysResult};
use crate::fs::userfaultfd::UffdReason::Missing;
use crate::hw::PAGE_MASK;
use crate::kernel::Kernel;
use crate::mm::hugetlb::{HPAGE_NR, HPAGE_SHIFT, HPAGE_SIZE};
use crate::mm::memory::VmFault;
use crate::mm::mmu_gather::MmuGather;
use crate::mm::thp_knobs::ThpKnobs;
use crate::mm::vma::{vm::*, Vma};
use crate::mm::MmId;
use crate::page::flags::*;
use crate::pgtable::pte::{PgProt, Pte, _PAGE_PSE, _PAGE_SOFT_DIRTY, _PAGE_TABLE, _PAGE_UFFD_WP};
use crate::pgtable::table::{self, PteSlot};

/// What Linux keeps for a THP folio in its first tail page.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ThpFolio {
    /// compound_mapcount(): PMD entries that map the whole folio.
    pub compound_mapcount: i32,
}

/// Transparent huge page state: the knobs, the folios, the huge zero page and the deferred
/// split queue.
#[derive(Debug, Default)]
pub struct ThpState {
    pub knobs: ThpKnobs,
    /// Every THP folio by head PFN.
    pub folios: HashMap<u64, ThpFolio>,
    /// huge_zero_page, allocated on first use and kept (its shrinker runs only under memory
    /// pressure, which the model does not create).
    pub huge_zero: Option<u64>,
    /// deferred_split_queue: partly unmapped THPs waiting for the split shrinker.
    pub deferred: BTreeSet<u64>,
}

/// A present huge (PSE) PMD entry.
#[inline]
pub fn pmd_trans_huge(e: Pte) -> bool {
    e.0 & _PAGE_PSE != 0 && e.is_present()
}

/// Where a PMD entry points at a PTE table.
fn pmd_populate(table_pfn: u64) -> Pte {
    Pte((table_pfn << 12) | _PAGE_TABLE)
}

/// mk_huge_pmd(): a huge entry for `head` with the VMA's protection.
fn mk_huge_pmd(head: u64, prot: PgProt) -> Pte {
    Pte(Pte::pfn_pte(head, prot).0 | _PAGE_PSE)
}

impl Kernel {
    // ---- folio bookkeeping ----

    /// set_page_dirty(): PG_dirty is a folio flag, so a THP subpage dirties them all (the
    /// model mirrors folio-wide flags on every subpage).
    pub(crate) fn set_page_dirty(&mut self, pfn: u64) {
        match self.thp_head(pfn) {
            Some(head) => {
                for p in head..head + HPAGE_NR {
                    self.pages.page_mut(p).flags |= PG_DIRTY;
                }
            }
            None => self.pages.page_mut(pfn).flags |= PG_DIRTY,
        }
    }

    /// The THP folio head a PFN belongs to, if it is part of one.
    #[inline]
    pub(crate) fn thp_head(&self, pfn: u64) -> Option<u64> {
        let head = pfn & !(HPAGE_NR - 1);
        let p = self.pages.page(pfn);
        (p.test(PG_HEAD | PG_TAIL) && self.thp.folios.contains_key(&head)).then_some(head)
    }

    /// compound_mapcount() of a THP head (0 for anything else).
    pub(crate) fn compound_mapcount(&self, head: u64) -> i32 {
        self.thp
            .folios
            .get(&head)
            .map_or(0, |f| f.compound_mapcount)
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
    fn mm_get_huge_zero_page(&mut self) -> Option<u64> {
        if let Some(z) = self.thp.huge_zero {
            return Some(z);
        }
        let Some(head) = self.pages.alloc_huge() else {
            self.vmstat.thp_zero_page_alloc_failed += 1;
            return None;
        };
        for pfn in head..head + HPAGE_NR {
            self.phys.clear(pfn);
        }
        let p = self.pages.page_mut(head);
        p.flags = PG_HEAD | PG_UPTODATE;
        p.refcount = 1;
        self.thp.huge_zero = Some(head);
        self.vmstat.thp_zero_page_alloc += 1;
        Some(head)
    }

    /// Whether the huge zero page exists (it stays once allocated: only its shrinker, under
    /// memory pressure, would free it).
    pub fn huge_zero_page_allocated(&self) -> bool {
        self.thp.huge_zero.is_some()
    }

    /// is_huge_zero_pmd().
    #[inline]
    pub(crate) fn is_huge_zero_pmd(&self, e: Pte) -> bool {
        Some(e.pfn()) == self.thp.huge_zero
    }

    /// pgtable_trans_huge_deposit(): keep a PTE table with the huge PMD so a split never
    /// needs memory.
    fn deposit(&mut self, mm: MmId, haddr: u64, table_pfn: u64) {
        let old = self.mms[mm].deposited.insert(haddr, table_pfn);
        debug_assert!(old.is_none(), "two tables deposited at {haddr:#x}");
    }

    /// pgtable_trans_huge_withdraw().
    fn withdraw(&mut self, mm: MmId, haddr: u64) -> u64 {
        self.mms[mm]
            .deposited
            .remove(&haddr)
            .expect("a huge PMD has a deposited table")
    }

    /// zap_deposited_table(): the deposited table goes back to the allocator.
    fn zap_deposited_table(&mut self, mm: MmId, haddr: u64) {
        let t = self.withdraw(mm, haddr);
        table::free_table(&mut self.phys, &mut self.pages, t);
    }

    /// page_add_new_anon_rmap(compound): the fresh folio is mapped once by a PMD, exclusive;
    /// NR_ANON_THPS and NR_ANON_MAPPED count it.
    fn thp_add_new_anon_rmap(&mut self, head: u64, vma: &Vma, haddr: u64) {
        for pfn in head..head + HPAGE_NR {
            self.pages.page_mut(pfn).flags |= PG_ANON | PG_SWAPBACKED | PG_UPTODATE;
        }
        let exclusive = self.anon_exclusive_flag();
        let p = self.pages.page_mut(head);
        p.flags |= exclusive;
        p.mapping = vma.anon_vma.map_or(0, |a| a.id);
        p.index = vma.linear_page_index(haddr);
        self.thp.folios.insert(
            head,
            ThpFolio {
                compound_mapcount: 1,
            },
        );
        self.vmstat.nr_anon_transparent_hugepages += 1;
        self.vmstat.nr_anon_pages += HPAGE_NR;
    }

    /// page_remove_rmap(compound): one PMD mapping fewer. When the last goes, a file THP
    /// leaves NR_SHMEM_PMDMAPPED; an anonymous one leaves NR_ANON_THPS, the subpages no PTE
    /// maps leave NR_ANON_MAPPED, and a folio left partly mapped is queued for a split.
    pub(crate) fn thp_remove_compound_rmap(&mut self, head: u64) {
        let f = self.thp.folios.get_mut(&head).expect("THP folio");
        f.compound_mapcount -= 1;
        if f.compound_mapcount > 0 {
            return;
        }
        if !self.pages.page(head).is_anon() {
            self.vmstat.nr_shmem_pmdmapped -= 1;
            return;
        }
        self.vmstat.nr_anon_transparent_hugepages -= 1;
        let unmapped = (head..head + HPAGE_NR)
            .filter(|&p| self.pages.page(p).mapcount == 0)
            .count() as u64;
        self.vmstat.nr_anon_pages -= unmapped;
        if unmapped > 0 && unmapped < HPAGE_NR {
            self.deferred_split_huge_page(head);
        }
    }

    /// deferred_split_huge_page(): queue the folio once (THP_DEFERRED_SPLIT_PAGE).
    pub(crate) fn deferred_split_huge_page(&mut self, head: u64) {
        if self.thp.deferred.insert(head) {
            self.vmstat.thp_deferred_split_page += 1;
        }
    }

    /// free_transhuge_page(): the folio's last reference is gone; all 512 frames return.
    pub(crate) fn free_transhuge_page(&mut self, head: u64) {
        self.thp.deferred.remove(&head);
        self.thp.folios.remove(&head);
        for pfn in head..head + HPAGE_NR {
            self.phys.clear(pfn);
        }
        self.pages.free_huge(head);
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
    /// a write. Ok(false) means VM_FAULT_FALLBACK: continue with 4 KiB pages.
    pub(crate) fn do_huge_pmd_anonymous_page(
        &mut self,
        mm: MmId,
        vma: &Vma,
        addr: u64,
        pmd: PteSlot,
        write: bool,
    ) -> Result<bool, VmFault> {
        let haddr = addr & !(HPAGE_SIZE - 1);
        if !Self::transhuge_vma_suitable(vma, haddr) {
            return Ok(false);
        }
        let vma = self.anon_vma_prepare(mm, vma);
        self.khugepaged_enter(mm);
        if !write && self.thp.knobs.use_zero_page {
            let pgtable =
                table::alloc_table(&mut self.phys, &mut self.pages).ok_or(VmFault::Oom)?;
            let Some(zero) = self.mm_get_huge_zero_page() else {
                table::free_table(&mut self.phys, &mut self.pages, pgtable);
                self.vmstat.thp_fault_fallback += 1;
                return Ok(false);
            };
            if vma.flags & VM_UFFD_MISSING != 0 {
                table::free_table(&mut self.phys, &mut self.pages, pgtable);
                return Err(self.handle_userfault(&vma, addr & PAGE_MASK, addr, false, Missing));
            }
            // set_huge_zero_page(): read-only through the VMA's protection, never writable.
            self.deposit(mm, haddr, pgtable);
            table::set(&mut self.phys, pmd, mk_huge_pmd(zero, vma.page_prot()));
            return Ok(true);
        }
        let Some(head) = self.pages.alloc_huge() else {
            self.vmstat.thp_fault_fallback += 1;
            return Ok(false);
        };
        for pfn in head..head + HPAGE_NR {
            self.phys.clear(pfn);
        }
        let Some(pgtable) = table::alloc_table(&mut self.phys, &mut self.pages) else {
            self.pages.free_huge(head);
            return Err(VmFault::Oom);
        };
        // __do_huge_pmd_anonymous_page(): the page was allocated and cleared first.
        if vma.flags & VM_UFFD_MISSING != 0 {
            self.pages.free_huge(head);
            table::free_table(&mut self.phys, &mut self.pages, pgtable);
            return Err(self.handle_userfault(&vma, addr & PAGE_MASK, addr, write, Missing));
        }
        self.thp_install_new_anon(mm, &vma, haddr, head, pgtable);
        self.mms[mm].rss_anon += HPAGE_NR as i64;
        self.vmstat.thp_fault_alloc += 1;
        Ok(true)
    }

    /// Map a new anonymous folio (zeroed or filled) at `haddr` with a dirty entry, writable if
    /// the VMA is, `pgtable` deposited beside it (__do_huge_pmd_anonymous_page(), and the end
    /// of collapse_huge_page()).
    pub(crate) fn thp_install_new_anon(
        &mut self,
        mm: MmId,
        vma: &Vma,
        haddr: u64,
        head: u64,
        pgtable: u64,
    ) {
        let pmd = table::pmd_slot(&self.phys, self.mms[mm].pgd, haddr)
            .expect("the PMD level exists where a huge entry goes");
        self.pages.page_mut(head).refcount = 1;
        let mut entry = mk_huge_pmd(head, vma.page_prot()).mkdirty();
        if vma.flags & VM_WRITE != 0 {
            entry = entry.mkwrite();
        }
        self.thp_add_new_anon_rmap(head, vma, haddr);
        self.deposit(mm, haddr, pgtable);
        table::set(&mut self.phys, pmd, entry);
    }

    /// total_mapcount(): every mapping of the folio, PMDs and PTEs alike.
    pub(crate) fn total_mapcount(&self, pfn: u64) -> i32 {
        match self.thp_head(pfn) {
            Some(head) => {
                self.compound_mapcount(head)
                    + (head..head + HPAGE_NR)
                        .map(|p| self.pages.page(p).mapcount)
                        .sum::<i32>()
            }
            None => self.pages.page(pfn).mapcount,
        }
    }

    /// do_set_pmd(): map the page-cache THP `head` at the aligned 2 MiB around `addr` with
    /// one PMD entry (no deposited table for file THPs on x86); false (fall back to PTEs)
    /// if the VMA cannot hold it there.
    pub(crate) fn do_set_pmd(
        &mut self,
        mm: MmId,
        vma: &Vma,
        addr: u64,
        pmd: PteSlot,
        head: u64,
        write: bool,
    ) -> bool {
        let haddr = addr & !(HPAGE_SIZE - 1);
        if !Self::transhuge_vma_suitable(vma, haddr) {
            return false;
        }
        let mut entry = mk_huge_pmd(head, vma.page_prot());
        if write {
            entry = entry.mkdirty();
            if vma.flags & VM_WRITE != 0 {
                entry = entry.mkwrite();
            }
            self.set_page_dirty(head);
        }
        self.get_page(head);
        // page_add_file_rmap(compound): NR_SHMEM_PMDMAPPED counts the first PMD mapping.
        let f = self.thp.folios.get_mut(&head).expect("THP folio");
        f.compound_mapcount += 1;
        if f.compound_mapcount == 1 {
            self.vmstat.nr_shmem_pmdmapped += 1;
        }
        self.mms[mm].rss_shmem += HPAGE_NR as i64;
        self.vmstat.thp_file_mapped += 1;
        table::set(&mut self.phys, pmd, entry);
        true
    }

    /// huge_pmd_set_accessed(): a fault on a huge entry that already allows the access.
    pub(crate) fn huge_pmd_set_accessed(&mut self, pmd: PteSlot, orig: Pte, write: bool) {
        let mut e = orig.mkyoung();
        if write {
            e = e.mkdirty();
        }
        if e != orig {
            table::set(&mut self.phys, pmd, e);
        }
    }

    /// do_huge_pmd_wp_page(): a write to a write-protected huge entry. An exclusive folio (or,
    /// in 5.18, one nobody else references) is reused in place; the huge zero page and shared
    /// folios split the PMD and fall back to a 4 KiB COW (Ok(false)).
    pub(crate) fn do_huge_pmd_wp_page(
        &mut self,
        mm: MmId,
        vma: &Vma,
        addr: u64,
        pmd: PteSlot,
        orig: Pte,
    ) -> Result<bool, VmFault> {
        let haddr = addr & !(HPAGE_SIZE - 1);
        if !self.is_huge_zero_pmd(orig) {
            let head = orig.pfn();
            let exclusive =
                self.cfg.features.anon_exclusive && self.pages.page(head).anon_exclusive();
            let reuse = exclusive || self.pages.page(head).refcount == 1;
            if reuse {
                if !exclusive {
                    self.page_move_anon_rmap(head, vma);
                }
                let mut e = orig.mkyoung().mkdirty();
                if vma.flags & VM_WRITE != 0 {
                    e = e.mkwrite();
                }
                table::set(&mut self.phys, pmd, e);
                return Ok(true);
            }
        }
        self.split_huge_pmd(mm, haddr);
        Ok(false)
    }

    // ---- splitting ----

    /// __split_huge_pmd() at the 2 MiB-aligned `haddr` of `mm`, if a THP entry (or the huge
    /// zero page) maps it: the deposited table comes back filled with 512 PTEs.
    pub(crate) fn split_huge_pmd(&mut self, mm: MmId, haddr: u64) {
        let root = self.mms[mm].pgd;
        let Some(pmd) = table::pmd_slot(&self.phys, root, haddr) else {
            return;
        };
        let e = table::get(&self.phys, pmd);
        if !pmd_trans_huge(e) || self.pages.page(e.pfn()).test(PG_HUGETLB) {
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
        table::set(&mut self.phys, pmd, Pte::NONE);
        self.flush_tlb_range_stride(mm, haddr, haddr + HPAGE_SIZE, HPAGE_SHIFT);
        let head = e.pfn();
        if !self.is_huge_zero_pmd(e) && !self.pages.page(head).is_anon() {
            // A file PMD is just cleared: the range refaults, as PTEs where it must.
            self.zap_file_pmd(mm, e);
            self.put_page(head);
            return;
        }
        let pgtable = self.withdraw(mm, haddr);
        if self.is_huge_zero_pmd(e) {
            // __split_huge_zero_page_pmd(): every PTE maps the 4 KiB zero page.
            let zero = Pte::pfn_pte(crate::page::alloc::ZERO_PFN, prot).mkspecial();
            self.phys.table_mut(pgtable).fill(zero.0);
            table::set(&mut self.phys, pmd, pmd_populate(pgtable));
            return;
        }
        if e.dirty() {
            // 5.19 moves the dirty bit to the folio (PG_dirty), not to the PTEs.
            self.set_page_dirty(head);
        }
        let exclusive = self.pages.page(head).anon_exclusive();
        let mut extra = 0;
        if e.soft_dirty() {
            extra |= _PAGE_SOFT_DIRTY;
        }
        if e.uffd_wp() {
            extra |= _PAGE_UFFD_WP;
        }
        for i in 0..HPAGE_NR {
            let mut pte = Pte::pfn_pte(head + i, prot);
            if vm_flags & VM_WRITE != 0 && e.write() {
                pte = pte.mkwrite();
            }
            if !e.young() {
                pte = pte.mkold();
            }
            self.phys.table_mut(pgtable)[i as usize] = pte.0 | extra;
            let p = self.pages.page_mut(head + i);
            p.mapcount += 1;
            if exclusive {
                p.flags |= PG_ANON_EXCLUSIVE;
            }
        }
        // Each PTE holds a reference; the PMD's one becomes the first PTE's.
        self.pages.page_mut(head).refcount += HPAGE_NR as i32 - 1;
        table::set(&mut self.phys, pmd, pmd_populate(pgtable));
        self.thp_remove_compound_rmap(head);
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

    /// The THP entries wholly inside `[start, end)` (after `split_huge_pmd_edges`).
    pub(crate) fn thp_leaves(&self, mm: MmId, start: u64, end: u64) -> Vec<(u64, PteSlot, Pte)> {
        table::huge_leaves(&self.phys, self.mms[mm].pgd, start, end)
            .into_iter()
            .filter(|&(a, _, e)| {
                a >= start && a + HPAGE_SIZE <= end && !self.pages.page(e.pfn()).test(PG_HUGETLB)
            })
            .collect()
    }

    /// Where an anonymous folio may be mapped, in each mm: rmap_walk_anon()'s vma_address()
    /// over every anonymous VMA (the model keeps no anon_vma chains, so it asks all of them)
    /// for the address range the folio's 512 indices have there; only entries that map the
    /// folio count.
    fn folio_rmap_ranges(&self, head: u64) -> Vec<(MmId, u64, u64)> {
        let index = self.pages.page(head).index;
        let mut out = Vec::new();
        for (mm, m) in self.mms.iter() {
            for v in m.vmas.iter().filter(|v| v.anon_vma.is_some()) {
                let (lo, hi) = (
                    index.max(v.pgoff),
                    (index + HPAGE_NR).min(v.pgoff + v.pages()),
                );
                if lo < hi {
                    out.push((
                        mm,
                        v.start + ((lo - v.pgoff) << 12),
                        v.start + ((hi - v.pgoff) << 12),
                    ));
                }
            }
        }
        out
    }

    /// split_huge_page(): turn a THP folio into 512 ordinary pages. It fails (false,
    /// THP_SPLIT_PAGE_FAILED) while anything but its mappings and page-cache entries holds a
    /// reference (can_split_folio()). unmap_page() goes first: an anonymous folio's PMD
    /// mappings become PTEs and all its PTEs pass through migration entries, coming back old
    /// and clean (remove_migration_pte() in 5.19); a file folio is simply unmapped everywhere
    /// (remap_page() only restores anonymous mappings). Subpages nothing holds are freed,
    /// and a file's subpages past EOF leave the page cache.
    pub(crate) fn split_huge_page(&mut self, head: u64) -> bool {
        let hp = *self.pages.page(head);
        let anon = hp.is_anon();
        let ino = hp.mapping as usize;
        let cached = |k: &Kernel, pfn: u64| {
            !anon && k.shmem[ino].cache.get(&k.pages.page(pfn).index) == Some(&pfn)
        };
        let cache_refs = (head..head + HPAGE_NR).filter(|&p| cached(self, p)).count() as i32;
        if hp.refcount != self.total_mapcount(head) + cache_refs {
            self.vmstat.thp_split_page_failed += 1;
            return false;
        }
        if anon {
            self.unmap_anon_folio_for_split(head);
        } else {
            // try_to_unmap(TTU_SPLIT_HUGE_PMD): each PMD mapping is split (cleared) on the
            // way, then every PTE of the folio goes.
            for (mm, haddr) in self.file_pmd_mappings(head) {
                self.split_huge_pmd(mm, haddr);
            }
            self.unmap_mapping_range(ino, hp.index, hp.index + HPAGE_NR, false, false);
        }
        // __split_huge_page(): folio-wide state goes to every subpage; each keeps the
        // references of its own mappings and page-cache entry.
        let shared = hp.flags & (PG_ANON | PG_SWAPBACKED | PG_DIRTY | PG_UPTODATE);
        self.thp.folios.remove(&head);
        self.thp.deferred.remove(&head);
        self.vmstat.thp_split_page += 1;
        if !anon {
            self.vmstat.nr_shmem_hugepages -= 1;
        }
        // shmem_fallocend(): pages fallocated past i_size stay too.
        let eof = if anon {
            u64::MAX
        } else {
            let i = &self.shmem[ino];
            i.size.div_ceil(4096).max(i.fallocend)
        };
        for i in 0..HPAGE_NR {
            let in_cache = cached(self, head + i);
            let p = self.pages.page_mut(head + i);
            p.flags = (p.flags & PG_ANON_EXCLUSIVE) | shared;
            p.refcount = p.mapcount + in_cache as i32;
            p.mapping = hp.mapping;
            p.index = hp.index + i;
            if in_cache && p.index >= eof {
                self.shmem[ino].cache.remove(&(hp.index + i));
                self.vmstat.nr_shmem -= 1;
                self.pages.page_mut(head + i).refcount -= 1;
            }
            if self.pages.page(head + i).refcount == 0 {
                self.phys.clear(head + i);
                self.pages.free(head + i);
            }
        }
        true
    }

    /// Where a file THP is mapped by a PMD: every 2 MiB-aligned address of a VMA of its
    /// file whose PMD entry maps its head.
    fn file_pmd_mappings(&self, head: u64) -> Vec<(MmId, u64)> {
        let p = self.pages.page(head);
        self.i_mmap_overlaps(p.mapping as usize, p.index, p.index + 1)
            .into_iter()
            .filter(|f| {
                let root = self.mms[f.mm].pgd;
                let e =
                    table::pmd_slot(&self.phys, root, f.start).map(|s| table::get(&self.phys, s));
                e.is_some_and(|e| pmd_trans_huge(e) && e.pfn() == head)
            })
            .map(|f| (f.mm, f.start))
            .collect()
    }

    /// unmap_page() + remap_page() for an anonymous folio: its PMD mappings become PTEs, then
    /// every PTE of it comes back old and clean.
    fn unmap_anon_folio_for_split(&mut self, head: u64) {
        let ranges = self.folio_rmap_ranges(head);
        for &(mm, lo, hi) in &ranges {
            let maps_it = table::huge_leaves(&self.phys, self.mms[mm].pgd, lo, hi)
                .into_iter()
                .filter(|&(_, _, e)| e.pfn() == head)
                .map(|(a, _, _)| a)
                .collect::<Vec<_>>();
            for haddr in maps_it {
                self.split_huge_pmd(mm, haddr);
            }
        }
        for &(mm, lo, hi) in &ranges {
            let root = self.mms[mm].pgd;
            let mut touched = false;
            for (_, slot) in table::slots(&self.phys, root, lo, hi) {
                let pte = table::get(&self.phys, slot);
                if pte.is_present()
                    && !pte.special()
                    && (head..head + HPAGE_NR).contains(&pte.pfn())
                {
                    table::set(&mut self.phys, slot, pte.mkold().mkclean());
                    touched = true;
                }
            }
            if touched {
                self.flush_tlb_mm_range(mm, lo, hi);
            }
        }
    }

    /// The madvise PTE walks' rule for a subpage of a PTE-mapped THP: split the folio if this
    /// is its only mapping. True if `pfn` is now (or was) an ordinary page; false means the
    /// walk of this PTE table stops (shared folio, or the split failed).
    pub(crate) fn split_pte_mapped_thp(&mut self, pfn: u64) -> bool {
        match self.thp_head(pfn) {
            None => true,
            Some(head) => self.page_mapcount(pfn) == 1 && self.split_huge_page(head),
        }
    }

    /// The huge entries of a madvise range, each as the PMD walk meets it: skipped if it is the
    /// huge zero page or shared, and the whole folio split if the range covers it in part.
    /// Returns the whole, sole-owner entries left for the caller.
    /// MADV_FREE asks total_mapcount() (madvise_free_huge_pmd(): no other mapping of any
    /// subpage), COLD/PAGEOUT page_mapcount() of the head.
    fn madvise_huge_pmds(
        &mut self,
        mm: MmId,
        start: u64,
        end: u64,
        free: bool,
    ) -> Vec<(u64, PteSlot, Pte)> {
        let mut whole = Vec::new();
        for (haddr, pmd, e) in table::huge_leaves(&self.phys, self.mms[mm].pgd, start, end) {
            if self.pages.page(e.pfn()).test(PG_HUGETLB) || self.is_huge_zero_pmd(e) {
                continue;
            }
            let mapcount = if free {
                self.total_mapcount(e.pfn())
            } else {
                self.page_mapcount(e.pfn())
            };
            if mapcount != 1 {
                continue;
            }
            if haddr < start || haddr + HPAGE_SIZE > end {
                self.split_huge_page(e.pfn());
                continue;
            }
            whole.push((haddr, pmd, e));
        }
        whole
    }

    /// madvise_free_huge_pmd(): the folio becomes clean, old and lazily freeable (a compound
    /// page drains the lazyfree pagevec at once, so PG_swapbacked goes immediately).
    pub(crate) fn madvise_free_huge_pmds(
        &mut self,
        tlb: &mut MmuGather,
        mm: MmId,
        start: u64,
        end: u64,
    ) {
        for (haddr, pmd, e) in self.madvise_huge_pmds(mm, start, end, true) {
            let head = e.pfn();
            if e.young() || e.dirty() {
                // pmdp_invalidate() flushes at once; the gather gets the range too.
                table::set(&mut self.phys, pmd, e.mkold().mkclean());
                self.flush_tlb_range_stride(mm, haddr, haddr + HPAGE_SIZE, HPAGE_SHIFT);
                tlb.add_huge_range(haddr, HPAGE_SIZE);
            }
            for pfn in head..head + HPAGE_NR {
                self.pages.page_mut(pfn).flags &= !(PG_DIRTY | PG_SWAPBACKED);
            }
        }
    }

    /// madvise_cold_or_pageout_pte_range() for huge entries: the entry loses its accessed
    /// bit (pmdp_invalidate() flushes); PAGEOUT then reclaims the folio, which with no swap
    /// device ends in a split: shrink_page_list()'s before trying 4 KiB swap-out of an
    /// anonymous THP (THP_SWPOUT_FALLBACK), shmem_writepage()'s for a shmem one.
    pub(crate) fn madvise_cold_huge_pmds(
        &mut self,
        tlb: &mut MmuGather,
        mm: MmId,
        start: u64,
        end: u64,
        pageout: bool,
    ) {
        for (haddr, pmd, e) in self.madvise_huge_pmds(mm, start, end, false) {
            if e.young() {
                table::set(&mut self.phys, pmd, e.mkold());
                self.flush_tlb_range_stride(mm, haddr, haddr + HPAGE_SIZE, HPAGE_SHIFT);
                tlb.add_huge_range(haddr, HPAGE_SIZE);
            }
            // A shmem THP is unmapped and split by shmem_writepage() (which then finds no
            // swap and redirties the pieces); an anonymous one is split for 4 KiB swap-out.
            let anon = self.pages.page(e.pfn()).is_anon();
            if pageout && self.split_huge_page(e.pfn()) && anon {
                self.vmstat.thp_swpout_fallback += 1;
            }
        }
    }

    // ---- zap, fork, mprotect, mremap ----

    /// zap_huge_pmd(): clear the entry, free the deposited table, drop the folio's PMD mapping
    /// (its reference goes after the gather's flush).
    pub(crate) fn zap_huge_pmd(&mut self, tlb: &mut MmuGather, mm: MmId, haddr: u64, pmd: PteSlot) {
        let e = table::get(&self.phys, pmd);
        table::set(&mut self.phys, pmd, Pte::NONE);
        tlb.add_huge_range(haddr, HPAGE_SIZE);
        let head = e.pfn();
        if !self.is_huge_zero_pmd(e) && !self.pages.page(head).is_anon() {
            self.zap_file_pmd(mm, e);
            tlb.remove_page(head);
            return;
        }
        self.zap_deposited_table(mm, haddr);
        if self.is_huge_zero_pmd(e) {
            return;
        }
        self.thp_remove_compound_rmap(head);
        self.mms[mm].rss_anon -= HPAGE_NR as i64;
        tlb.remove_page(head);
    }

    /// The bookkeeping of a file PMD that went away (zap_huge_pmd(), or a split of it): the
    /// dirty bit moves to the folio, the PMD mapping and its RSS go; the caller drops the
    /// reference.
    fn zap_file_pmd(&mut self, mm: MmId, e: Pte) {
        let head = e.pfn();
        if e.dirty() {
            self.set_page_dirty(head);
        }
        self.thp_remove_compound_rmap(head);
        self.mms[mm].rss_shmem -= HPAGE_NR as i64;
    }

    /// copy_huge_pmd(): the child shares the folio (or the huge zero page) through a
    /// write-protected, old entry with its own deposited table; the parent's entry is
    /// write-protected too.
    pub(crate) fn copy_huge_pmd(
        &mut self,
        child: MmId,
        dst: &Vma,
        haddr: u64,
        pslot: PteSlot,
        e: Pte,
    ) -> SysResult<()> {
        let pgtable = table::alloc_table(&mut self.phys, &mut self.pages).ok_or(Errno::ENOMEM)?;
        let croot = self.mms[child].pgd;
        let Some(cslot) = table::walk_alloc_pmd(&mut self.phys, &mut self.pages, croot, haddr)
        else {
            table::free_table(&mut self.phys, &mut self.pages, pgtable);
            return Err(Errno::ENOMEM);
        };
        if !self.is_huge_zero_pmd(e) {
            let head = e.pfn();
            self.get_page(head);
            // page_try_dup_anon_rmap(compound): exclusivity ends; no FOLL_PIN in the model.
            self.pages.page_mut(head).flags &= !PG_ANON_EXCLUSIVE;
            self.thp
                .folios
                .get_mut(&head)
                .expect("THP folio")
                .compound_mapcount += 1;
            self.mms[child].rss_anon += HPAGE_NR as i64;
        }
        self.deposit(child, haddr, pgtable);
        table::set(&mut self.phys, pslot, e.wrprotect());
        let mut ce = e.wrprotect().mkold();
        if dst.flags & VM_UFFD_WP == 0 {
            ce = Pte(ce.0 & !_PAGE_UFFD_WP);
        }
        table::set(&mut self.phys, cslot, ce);
        Ok(())
    }

    /// change_huge_pmd(): the new protection on a whole huge entry. True if
    /// huge_pmd_needs_flush() asks for a flush (pmdp_invalidate_ad() does not flush on x86).
    pub(crate) fn change_huge_pmd(&mut self, prot: PgProt, pmd: PteSlot, e: Pte) -> bool {
        let new = Pte(e.modify(prot).0 | _PAGE_PSE);
        table::set(&mut self.phys, pmd, new);
        crate::pgtable::pte::pte_needs_flush(e, new)
    }

    /// move_huge_pmd(): hand a whole huge entry (and its deposited table) from `old` to `new`,
    /// both 2 MiB aligned; false if the new slot is taken or cannot be allocated.
    pub(crate) fn move_huge_pmd(&mut self, mm: MmId, old: u64, new: u64) -> bool {
        let root = self.mms[mm].pgd;
        let Some(src) = table::pmd_slot(&self.phys, root, old) else {
            return false;
        };
        let Some(dst) = table::walk_alloc_pmd(&mut self.phys, &mut self.pages, root, new) else {
            return false;
        };
        if !table::get(&self.phys, dst).is_none() {
            return false;
        }
        let e = table::get(&self.phys, src);
        table::set(&mut self.phys, src, Pte::NONE);
        // Only anonymous huge entries have a deposited table.
        if let Some(t) = self.mms[mm].deposited.remove(&old) {
            self.deposit(mm, new, t);
        }
        // move_soft_dirty_pmd(): the moved range reads as written.
        table::set(&mut self.phys, dst, Pte(e.0 | _PAGE_SOFT_DIRTY));
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
