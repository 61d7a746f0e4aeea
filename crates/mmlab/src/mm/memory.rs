//! mm/memory.c: the page-fault handler (anonymous, shmem, write-protect/COW), zapping, and
//! the file rmap walk that unmap_mapping_range() makes.

use std::ops::ControlFlow;

use crate::fs::inode::Ino;
use crate::fs::userfaultfd::UffdReason::{Minor, Missing, Wp};
use crate::hw::{mmu, PAGE_MASK, PAGE_SHIFT, PAGE_SIZE};
use crate::kernel::Kernel;
use crate::mm::mmu_gather::MmuGather;
use crate::mm::pagewalk::{walk_page_range, MmWalk, PmdAction};
use crate::mm::vm_fault::{FaultFlags, FaultResult, VmFault};
use crate::mm::vma::{vm::*, Backing, Vma};
use crate::mm::MmId;
use crate::page::alloc::ZERO_PFN;
use crate::page::{Gfp, PageFlags, Pfn};
use crate::pgtable::pmd::{Pmd, PmdKind};
use crate::pgtable::pte::{Pte, PteKind};
use crate::pgtable::swp::{SwpKind, PTE_MARKER_UFFD_WP};
use crate::pgtable::table::{self, PmdSlot, PteSlot, PMD_SIZE};
use crate::trace::Event;

/// Where a VMA maps part of a file (see `i_mmap_overlaps`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct FileMapping {
    pub mm: MmId,
    /// The addresses of the asked-for file pages in this VMA.
    pub start: u64,
    pub end: u64,
    pub vma_end: u64,
    pub flags: u64,
    pub has_anon_vma: bool,
}

/// struct zap_details, as one zap pass sees it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ZapDetails {
    /// Zap private COW copies too (should_zap_cows()).
    pub even_cows: bool,
    /// ZAP_FLAG_DROP_MARKER: markers go as well.
    pub drop_marker: bool,
}

impl ZapDetails {
    /// unmap_vmas() for munmap and exit: everything goes, markers included.
    pub const UNMAP: ZapDetails = ZapDetails {
        even_cows: true,
        drop_marker: true,
    };
    /// zap_page_range() for MADV_DONTNEED: no details, so uffd-wp markers stay.
    pub const DONTNEED: ZapDetails = ZapDetails {
        even_cows: true,
        drop_marker: false,
    };
}

/// struct vm_fault: one fault as it travels down the handler.
#[derive(Clone, Debug)]
pub(crate) struct Vmf {
    /// The VMA as the fault found it (with an anon_vma once one is prepared).
    pub vma: Vma,
    pub mm: MmId,
    /// The faulting address, page aligned.
    pub address: u64,
    /// The faulting address as the access made it.
    pub real_address: u64,
    pub flags: FaultFlags,
    /// The PMD slot of `address` (after pmd_alloc()).
    pub pmd: Option<PmdSlot>,
    /// The PTE slot, once the table exists.
    pub pte: Option<PteSlot>,
    /// The PTE the fault found (meaningful with FAULT_FLAG_ORIG_PTE_VALID).
    pub orig_pte: Pte,
    /// The PMD the fault found (huge-page faults).
    pub orig_pmd: Pmd,
}

impl Vmf {
    /// A fault at `addr` of `vma` with `flags`.
    pub fn new(mm: MmId, vma: Vma, addr: u64, flags: FaultFlags) -> Vmf {
        Vmf {
            vma,
            mm,
            address: addr & PAGE_MASK,
            real_address: addr,
            flags,
            pmd: None,
            pte: None,
            orig_pte: Pte::NONE,
            orig_pmd: Pmd::NONE,
        }
    }
    /// FAULT_FLAG_WRITE.
    #[inline]
    pub fn write(&self) -> bool {
        self.flags.contains(FaultFlags::WRITE)
    }
    /// The page offset of the fault in the VMA's object (vmf->pgoff).
    #[inline]
    pub fn pgoff(&self) -> u64 {
        self.vma.linear_page_index(self.address)
    }
}

/// fault_around_bytes's default (64 KiB): how much do_fault_around() maps from the page cache.
pub const FAULT_AROUND_BYTES: u64 = 65536;

/// The entry for a new anonymous page: mk_pte() then, in a writable VMA,
/// maybe_mkwrite(pte_mkdirty()).
fn new_anon_pte(pfn: Pfn, vma: &Vma) -> Pte {
    let entry = Pte::pfn_pte(pfn, vma.page_prot());
    if vma.flags & VM_WRITE != 0 {
        entry.mkdirty().mkwrite()
    } else {
        entry
    }
}

impl Kernel {
    /// handle_mm_fault(): count the fault and hand it to the hugetlb or the normal handler.
    /// Locks: the mmap lock, read.
    pub(crate) fn handle_mm_fault(
        &mut self,
        mm: MmId,
        vma: Vma,
        addr: u64,
        flags: FaultFlags,
    ) -> FaultResult {
        self.vmstat.pgfault += 1;
        let mut vmf = Vmf::new(mm, vma, addr, flags);
        // vma_alloc_folio()'s policy: the VMA's, at the faulting address.
        let ctx = Self::vma_alloc_context(&vmf.vma, addr);
        let r = self.with_reclaim_sleep(flags.may_sleep(), |k| {
            k.with_alloc_context(ctx, |k| {
                if vmf.vma.is_hugetlb() {
                    k.hugetlb_fault(&mut vmf)
                } else {
                    k.__handle_mm_fault(&mut vmf)
                }
            })
        });
        let bits = match r {
            Ok(b) | Err(b) => b,
        };
        self.trace(Event::Fault {
            tid: self.current,
            addr,
            flags: flags.bits(),
            result: bits.bits(),
        });
        r
    }

    /// __handle_mm_fault(): the PMD level (THP creation, write to a huge entry), then
    /// handle_pte_fault().
    fn __handle_mm_fault(&mut self, vmf: &mut Vmf) -> FaultResult {
        let pmd = self.pmd_alloc(vmf.mm, vmf.address).ok_or(VmFault::OOM)?;
        vmf.pmd = Some(pmd);
        vmf.orig_pmd = table::get_pmd(&self.phys, pmd);
        match vmf.orig_pmd.kind() {
            PmdKind::None if self.thp_vma_enabled(&vmf.vma) => {
                // create_huge_pmd()
                match self.do_huge_pmd_anonymous_page(vmf) {
                    Err(e) if e == VmFault::FALLBACK => {}
                    r => return r,
                }
            }
            PmdKind::Leaf(orig) => {
                if orig.is_protnone() && vmf.vma.accessible() {
                    return Ok(self.do_huge_pmd_numa_page(vmf, pmd, orig));
                }
                let unshare = vmf.flags.contains(FaultFlags::UNSHARE);
                if !(vmf.write() || unshare) || orig.write() {
                    self.huge_pmd_set_accessed(pmd, orig, vmf.write());
                    return Ok(VmFault::empty());
                }
                // wp_huge_pmd(): an anonymous THP may be reused in place; a file PMD is
                // split (cleared) so the write is handled at the PTE level.
                if vmf.vma.is_anonymous() {
                    // userfaultfd_huge_pmd_wp(), never for an unshare.
                    if !unshare && vmf.vma.flags & VM_UFFD_WP != 0 && orig.uffd_wp() {
                        return Err(self.handle_userfault(vmf, Wp));
                    }
                    match self.do_huge_pmd_wp_page(vmf) {
                        Err(e) if e == VmFault::FALLBACK => {}
                        r => return r,
                    }
                } else {
                    self.split_huge_pmd(vmf.mm, vmf.address & !(PMD_SIZE - 1));
                }
            }
            PmdKind::None | PmdKind::Table(_) => {}
            // pmd_migration_entry_wait().
            PmdKind::Swp(kind, _) => {
                return Err(match kind.migration_pfn() {
                    Some(pfn) => self.migration_entry_wait(pfn, vmf.flags),
                    None => VmFault::SIGBUS,
                })
            }
        }
        self.handle_pte_fault(vmf)
    }

    /// handle_pte_fault(): dispatch on what the PTE holds.
    fn handle_pte_fault(&mut self, vmf: &mut Vmf) -> FaultResult {
        let pmd = vmf.pmd.expect("pmd_alloc() ran");
        let existing = table::pte_offset(&self.phys, pmd, vmf.address);
        let orig = existing.map_or(Pte::NONE, |s| table::get(&self.phys, s));
        match orig.kind() {
            PteKind::None => {
                vmf.orig_pte = Pte::NONE;
                if let Backing::File(ino) = vmf.vma.backing {
                    // do_fault(), which may map a huge page with the PMD itself.
                    return self.do_fault(vmf, ino);
                }
                let slot = self.pte_alloc(pmd, vmf.address).ok_or(VmFault::OOM)?;
                vmf.pte = Some(slot);
                self.do_anonymous_page(vmf)
            }
            PteKind::Swp(kind, bits) => {
                vmf.pte = existing;
                vmf.orig_pte = orig;
                vmf.flags |= FaultFlags::ORIG_PTE_VALID;
                // do_swap_page(): a migration entry waits for its migration
                // (migration_entry_wait()).
                match kind {
                    SwpKind::Marker { .. } => self.handle_pte_marker(vmf),
                    SwpKind::Swap { typ, offset } => self.do_swap_page(
                        vmf,
                        crate::pgtable::swp::SwpEntry::new(typ, offset),
                        bits,
                    ),
                    SwpKind::MigrationRead { pfn }
                    | SwpKind::MigrationReadExclusive { pfn }
                    | SwpKind::MigrationWrite { pfn } => {
                        Err(self.migration_entry_wait(pfn, vmf.flags))
                    }
                    SwpKind::DevicePrivate { .. }
                    | SwpKind::DeviceExclusive { .. }
                    | SwpKind::SwapinError { .. } => Err(VmFault::SIGBUS),
                    SwpKind::Hwpoison { .. } => Err(VmFault::HWPOISON),
                }
            }
            PteKind::Present(pte) => {
                let slot = existing.expect("a present entry has a slot");
                vmf.pte = Some(slot);
                vmf.orig_pte = pte;
                vmf.flags |= FaultFlags::ORIG_PTE_VALID;
                if pte.is_protnone() && vmf.vma.accessible() {
                    return Ok(self.do_numa_page(vmf, slot, pte));
                }
                if vmf
                    .flags
                    .intersects(FaultFlags::WRITE | FaultFlags::UNSHARE)
                    && !pte.write()
                {
                    return self.do_wp_page(vmf);
                }
                // The entry already allows the access: set young/dirty
                // (ptep_set_access_flags). A write that finds nothing to change is spurious;
                // x86's flush_tlb_fix_spurious_fault is a no-op.
                let mut entry = pte.mkyoung();
                if vmf.write() {
                    entry = entry.mkdirty();
                }
                if entry != pte {
                    table::set(&mut self.phys, slot, entry);
                }
                Ok(VmFault::empty())
            }
        }
    }

    /// do_anonymous_page(): the zero page for reads, a fresh exclusive page for writes.
    /// Locks: the PTL around the entry.
    fn do_anonymous_page(&mut self, vmf: &mut Vmf) -> FaultResult {
        let slot = vmf.pte.expect("the PTE table exists");
        let missing = vmf.vma.flags & VM_UFFD_MISSING != 0;
        if !vmf.write() {
            if missing {
                return Err(self.handle_userfault(vmf, Missing));
            }
            let entry = Pte::pfn_pte(ZERO_PFN, vmf.vma.page_prot()).mkspecial();
            table::set(&mut self.phys, slot, entry);
            self.vmstat.zero_page_map += 1;
            return Ok(VmFault::empty());
        }
        self.anon_vma_prepare(vmf)?;
        let folio = self
            .alloc_folio(Gfp::HIGHUSER_MOVABLE | Gfp::ZERO, 0)
            .ok_or(VmFault::OOM)?;
        // The page is allocated and charged before the userfaultfd check, then freed again.
        if missing {
            self.folio_put(folio);
            return Err(self.handle_userfault(vmf, Missing));
        }
        let entry = new_anon_pte(folio.pfn(), &vmf.vma);
        self.mms[vmf.mm].rss_anon += 1;
        self.vmstat.anon_fault += 1;
        self.page_add_new_anon_rmap(folio.pfn(), &vmf.vma, vmf.address);
        self.lru_cache_add_inactive_or_unevictable(folio, &vmf.vma);
        table::set(&mut self.phys, slot, entry);
        Ok(VmFault::empty())
    }

    /// anon_vma_prepare(): give the faulting VMA an anon_vma before its first anonymous page;
    /// VM_FAULT_OOM if none can be had.
    /// Locks: the mmap lock, read; mm->page_table_lock and the new anon_vma's lock.
    pub(crate) fn anon_vma_prepare(&mut self, vmf: &mut Vmf) -> FaultResult {
        if vmf.vma.anon_vma.is_none() {
            vmf.vma = self.vma_anon_prepare(vmf.mm, &vmf.vma);
        }
        Ok(VmFault::empty())
    }

    /// __anon_vma_prepare() for `vma` (in the tree): a neighbour's anon_vma it could share
    /// (find_mergeable_anon_vma()), else a new one; returns the updated VMA.
    pub(crate) fn vma_anon_prepare(&mut self, mm: MmId, vma: &Vma) -> Vma {
        if vma.anon_vma.is_some() {
            return vma.for_fault();
        }
        let vmas = &self.mms[mm].vmas;
        let neighbours = [
            vmas.prev(vma.start).map(|p| (p, vma)),
            vmas.lookup(vma.end).map(|n| (vma, n)),
        ];
        // reusable_anon_vma(): the two could merge but for their access flags
        // (anon_vma_compatible(), not the flags vma_merge() compares) and the neighbour's chain is singular.
        let reuse = neighbours.into_iter().flatten().find_map(|(a, b)| {
            let other = if a.start == vma.start { b } else { a };
            let compatible = a.end == b.start
                && a.backing == b.backing
                && (a.flags ^ b.flags) & !(VM_ACCESS_FLAGS | VM_SOFTDIRTY) == 0
                && b.pgoff == a.pgoff + a.pages();
            other
                .anon_vma
                .filter(|_| compatible && other.anon_vma_chain_singular())
        });
        let mut v = self.mms[mm]
            .vmas
            .lookup(vma.start)
            .expect("faulting vma")
            .for_fault();
        self.anon_vma_attach(&mut v, reuse);
        let t = self.mms[mm].vmas.get_mut(vma.start).expect("faulting vma");
        t.anon_vma = v.anon_vma;
        t.anon_vma_chain = v.anon_vma_chain.clone();
        v
    }

    /// do_wp_page(): a write to a present, write-protected entry.
    /// do_numa_page() on a machine with one node: a PROT_NONE entry in an accessible VMA (a
    /// NUMA hinting fault, or what 5.19's mwriteprotect_range() leaves where the VMA allows
    /// only writes) finds no better node for its page, so it goes to `out_map`: the entry takes
    /// the VMA's protection again (the uffd-wp and soft-dirty bits stay: they are in
    /// _PAGE_CHG_MASK), young, and writable only if it was (pte_savedwrite() is pte_write()
    /// on x86). Locks: the mmap lock, read; the PTL.
    fn do_numa_page(&mut self, vmf: &Vmf, slot: PteSlot, old: Pte) -> VmFault {
        let mut pte = old.modify(vmf.vma.page_prot()).mkyoung();
        if old.write() {
            pte = pte.mkwrite();
        }
        table::set(&mut self.phys, slot, pte);
        VmFault::empty()
    }
    /// Locks: the PTL, dropped before a copy.
    /// With FAULT_FLAG_UNSHARE (a R/O pin of a possibly shared anonymous page) the same
    /// decision either proves the page exclusive and leaves the entry as it is, or copies it
    /// into a new read-only page; anything but an anonymous page needs nothing.
    pub(crate) fn do_wp_page(&mut self, vmf: &mut Vmf) -> FaultResult {
        let orig = vmf.orig_pte;
        let unshare = vmf.flags.contains(FaultFlags::UNSHARE);
        // userfaultfd_pte_wp(): a write to a uffd-wp entry goes to the handler first.
        if !unshare && vmf.vma.flags & VM_UFFD_WP != 0 && orig.uffd_wp() {
            return Err(self.handle_userfault(vmf, Wp));
        }
        if orig.special() {
            // The zero page (vm_normal_page() is NULL): a private mapping copies it.
            if unshare {
                return Ok(VmFault::empty());
            }
            return self.wp_page_copy(vmf, None);
        }
        let pfn = orig.pfn();
        let folio = self.pages.folio(pfn);
        if self.pages.folio_test(folio, PageFlags::ANON) {
            // 5.19: an exclusive page is reused without looking at the refcount.
            if self.cfg.features.anon_exclusive && self.pages.page(pfn).anon_exclusive() {
                return Ok(self.wp_page_reuse_or_keep(vmf));
            }
            // Otherwise (and always in 5.18) it is reused only as the sole reference
            // holder, after draining this CPU's LRU batches if it waits in one and dropping
            // a swap-cache copy nobody else needs; 5.19 then marks it exclusive
            // (page_move_anon_rmap()).
            if self.page_count(pfn) <= 3 {
                if !self.pages.folio_test(folio, PageFlags::LRU) {
                    self.lru_add_drain();
                }
                let swapcache = self.pages.folio_test(folio, PageFlags::SWAPCACHE);
                if swapcache && self.page_count(pfn) <= 2 {
                    self.try_to_free_swap(folio);
                }
                if self.page_count(pfn) == 1 {
                    self.page_move_anon_rmap(pfn, &vmf.vma);
                    return Ok(self.wp_page_reuse_or_keep(vmf));
                }
            }
            self.vmstat.cow_fault += 1;
            return self.wp_page_copy(vmf, Some(pfn));
        }
        if unshare {
            return Ok(VmFault::empty());
        }
        if vmf.vma.flags & (VM_WRITE | VM_SHARED) == VM_WRITE | VM_SHARED {
            // wp_page_shared(): shmem has no page_mkwrite; the page is made writable in place.
            self.wp_page_reuse(vmf);
            return Ok(VmFault::WRITE);
        }
        self.wp_page_copy(vmf, Some(pfn))
    }

    /// do_wp_page()'s reuse: a write makes the entry writable (wp_page_reuse()); an unshare
    /// only needed the page proven exclusive and leaves the entry read-only.
    fn wp_page_reuse_or_keep(&mut self, vmf: &Vmf) -> VmFault {
        if vmf.flags.contains(FaultFlags::UNSHARE) {
            return VmFault::empty();
        }
        self.wp_page_reuse(vmf);
        VmFault::WRITE
    }

    /// wp_page_reuse(): make the entry writable and dirty; x86 does not flush here.
    fn wp_page_reuse(&mut self, vmf: &Vmf) {
        let slot = vmf.pte.expect("a present entry");
        // maybe_mkwrite(): a FOLL_FORCE write in a read-only VMA leaves the entry read-only.
        let mut e = vmf.orig_pte.mkyoung().mkdirty();
        if vmf.vma.flags & VM_WRITE != 0 {
            e = e.mkwrite();
        }
        table::set(&mut self.phys, slot, e);
        self.vmstat.cow_reuse += 1;
    }

    /// wp_page_copy(): a new anonymous page with the old contents (zeroes for the zero page),
    /// installed after clearing and flushing the old entry (ptep_clear_flush_notify).
    fn wp_page_copy(&mut self, vmf: &mut Vmf, old: Option<Pfn>) -> FaultResult {
        self.anon_vma_prepare(vmf)?;
        let gfp = Gfp::HIGHUSER_MOVABLE
            | if old.is_none() {
                Gfp::ZERO
            } else {
                Gfp::empty()
            };
        let new = self.alloc_folio(gfp, 0).ok_or(VmFault::OOM)?;
        if let Some(old) = old {
            self.phys.copy(old, new.pfn());
        }
        let (mm, addr) = (vmf.mm, vmf.address);
        match old {
            Some(p) if !self.pages.page_anon(p) => {
                self.mms[mm].rss_shmem -= 1;
                self.mms[mm].rss_anon += 1;
            }
            None => self.mms[mm].rss_anon += 1,
            Some(_) => {}
        }
        let slot = vmf.pte.expect("a present entry");
        let entry = if vmf.flags.contains(FaultFlags::UNSHARE) {
            // The unshared copy stays read-only and clean, keeping soft-dirty and uffd-wp.
            let mut e = Pte::pfn_pte(new.pfn(), vmf.vma.page_prot());
            if vmf.orig_pte.soft_dirty() {
                e = e.mksoft_dirty();
            }
            if vmf.orig_pte.uffd_wp() {
                e = e.mkuffd_wp();
            }
            e.wrprotect()
        } else {
            // maybe_mkwrite(pte_mkdirty()): dirty even when a FOLL_FORCE write copies in a
            // read-only VMA, so GUP's FOLL_COW retry can follow it.
            new_anon_pte(new.pfn(), &vmf.vma).mkdirty()
        };
        table::set(&mut self.phys, slot, Pte::NONE);
        if vmf.orig_pte.is_present() && !vmf.orig_pte.is_protnone() {
            self.flush_tlb_page(mm, addr);
        }
        self.page_add_new_anon_rmap(new.pfn(), &vmf.vma, addr);
        self.lru_cache_add_inactive_or_unevictable(new, &vmf.vma);
        table::set(&mut self.phys, slot, entry);
        if let Some(old) = old {
            self.page_remove_rmap(old, vmf.vma.flags);
            self.put_page(old);
        }
        if vmf.flags.contains(FaultFlags::UNSHARE) {
            return Ok(VmFault::empty());
        }
        Ok(VmFault::WRITE)
    }

    /// handle_pte_marker(): a uffd-wp marker in a VMA still registered for uffd-wp faults like
    /// an empty entry (do_fault()), keeping the marker's protection; anywhere else the stale
    /// marker is cleared (pte_marker_clear()) and the access simply faults again.
    fn handle_pte_marker(&mut self, vmf: &mut Vmf) -> FaultResult {
        if vmf.vma.is_anonymous() || !vmf.orig_pte.is_uffd_wp_marker() {
            return Err(VmFault::SIGBUS);
        }
        match vmf.vma.backing {
            Backing::File(ino) if vmf.vma.flags & VM_UFFD_WP != 0 => self.do_fault(vmf, ino),
            _ => {
                let slot = vmf.pte.expect("a marker has a slot");
                table::set(&mut self.phys, slot, Pte::NONE);
                Ok(VmFault::empty())
            }
        }
    }

    /// do_fault() for shmem: do_read_fault() with fault-around, do_shared_fault(), or
    /// do_cow_fault() for a private mapping of the file. The PMD may still be empty;
    /// vmf.orig_pte is none or a uffd-wp marker (FAULT_FLAG_ORIG_PTE_VALID).
    /// Locks: the mmap lock, read; the folio lock of the page-cache page; the PTL around the
    /// install.
    fn do_fault(&mut self, vmf: &mut Vmf, ino: Ino) -> FaultResult {
        let index = vmf.pgoff();
        if index >= self.inodes[ino].i_size.div_ceil(PAGE_SIZE) {
            return Err(VmFault::SIGBUS);
        }
        // do_read_fault(): fault around only when the window is more than one page and the
        // VMA is not registered for uffd-wp or minor faults (uffd_disable_fault_around());
        // done if that mapped the faulting address.
        let uffd_no_around = vmf.vma.flags & (VM_UFFD_WP | VM_UFFD_MINOR) != 0;
        if !vmf.write() && !uffd_no_around && self.cfg.fault_around_bytes >> PAGE_SHIFT > 1 {
            self.do_fault_around(vmf, ino);
            let root = self.mms[vmf.mm].pgd;
            let mapped = match table::walk_leaf(&self.phys, root, vmf.address) {
                Some(table::Leaf::Pmd(_)) => true,
                Some(table::Leaf::Pte(s)) => !table::get(&self.phys, s).is_none(),
                None => false,
            };
            if mapped {
                return Ok(VmFault::NOPAGE);
            }
        }
        // do_cow_fault() prepares the anon_vma (and the copy page) before __do_fault().
        if vmf.write() && vmf.vma.flags & VM_SHARED == 0 {
            self.anon_vma_prepare(vmf)?;
        }
        // shmem_getpage_gfp(): a cached page (or one out on swap) is a minor fault, a missing
        // one a missing fault, for a VMA registered for them. Reading a page back from the
        // swap device makes the fault a major one.
        let entry = self.inodes[ino].i_mapping.entry(index);
        let cached = entry.is_some_and(|s| !matches!(s, crate::mm::filemap::Slot::Shadow(_)));
        let major = match entry {
            Some(crate::mm::filemap::Slot::Swap(e)) if self.swap_cache_page(e).is_none() => {
                VmFault::MAJOR
            }
            _ => VmFault::empty(),
        };
        if cached && vmf.vma.flags & VM_UFFD_MINOR != 0 {
            return Err(self.handle_userfault(vmf, Minor));
        }
        if !cached && vmf.vma.flags & VM_UFFD_MISSING != 0 {
            return Err(self.handle_userfault(vmf, Missing));
        }
        if let Some(crate::mm::filemap::Slot::Swap(e)) = entry {
            let may_sleep = vmf
                .flags
                .contains(FaultFlags::ALLOW_RETRY | FaultFlags::USER)
                && !vmf.flags.contains(FaultFlags::TRIED);
            let cached = self.swap_cache_page(e);
            if cached.is_some_and(|p| !self.swap_folio_wait(p, may_sleep)) {
                return Err(VmFault::RETRY);
            }
        }
        // filemap_fault() on the disk filesystem: a page not cached is read in (a major fault).
        let disk = self.inodes[ino].is_disk();
        let major = if disk && !cached {
            self.vmstat.pgmajfault += 1;
            VmFault::MAJOR
        } else {
            major
        };
        let pfn = if disk {
            self.disk_get_page(ino, index)
        } else {
            self.shmem_getpage(ino, index, &vmf.vma)
        };
        // vmf_error(): ENOMEM is VM_FAULT_OOM, any other error (a failed swap-in read, EIO)
        // VM_FAULT_SIGBUS.
        let pfn = pfn.map_err(|e| {
            if e == crate::errno::Errno::ENOMEM {
                VmFault::OOM
            } else {
                VmFault::SIGBUS
            }
        })?;
        if vmf.write() && vmf.vma.flags & VM_SHARED == 0 {
            return self.do_cow_fault(vmf, pfn).map(|r| r | major);
        }
        self.finish_fault(vmf, pfn).map(|r| r | major)
    }

    /// do_cow_fault(): a write to a private file mapping gets an anonymous copy of the page.
    fn do_cow_fault(&mut self, vmf: &mut Vmf, cache_pfn: Pfn) -> FaultResult {
        let new = self
            .alloc_folio(Gfp::HIGHUSER_MOVABLE, 0)
            .ok_or(VmFault::OOM)?;
        self.phys.copy(cache_pfn, new.pfn());
        let pmd = vmf.pmd.expect("pmd_alloc() ran");
        let Some(slot) = self.pte_alloc(pmd, vmf.address) else {
            self.folio_put(new);
            return Err(VmFault::OOM);
        };
        // finish_fault(): the entry must still be what the fault found.
        if table::get(&self.phys, slot) != vmf.orig_pte {
            self.folio_put(new);
            return Ok(VmFault::NOPAGE);
        }
        let mut entry = new_anon_pte(new.pfn(), &vmf.vma);
        // do_set_pte(): a uffd-wp marker's protection carries over to the new entry.
        if vmf.orig_pte.is_uffd_wp_marker() {
            entry = entry.wrprotect().mkuffd_wp();
        }
        self.mms[vmf.mm].rss_anon += 1;
        self.page_add_new_anon_rmap(new.pfn(), &vmf.vma, vmf.address);
        self.lru_cache_add_inactive_or_unevictable(new, &vmf.vma);
        table::set(&mut self.phys, slot, entry);
        Ok(VmFault::empty())
    }

    /// finish_fault(): map a page-cache page for the fault; a THP's with one PMD where the VMA
    /// allows (do_set_pmd()), else with a PTE (allocating the table), provided the entry is
    /// still the one the fault found (vmf_pte_changed()); a uffd-wp marker there maps it
    /// write-protected.
    fn finish_fault(&mut self, vmf: &mut Vmf, pfn: Pfn) -> FaultResult {
        let pmd = vmf.pmd.expect("pmd_alloc() ran");
        if table::get_pmd(&self.phys, pmd).is_none() {
            if let Some(head) = self.thp_head(pfn) {
                if self.do_set_pmd(vmf, pmd, head) {
                    return Ok(VmFault::NOPAGE);
                }
            }
        }
        let slot = self.pte_alloc(pmd, vmf.address).ok_or(VmFault::OOM)?;
        if table::get(&self.phys, slot) != vmf.orig_pte {
            return Ok(VmFault::NOPAGE);
        }
        let uffd_wp = vmf.orig_pte.is_uffd_wp_marker();
        self.do_set_pte(vmf.mm, &vmf.vma, slot, pfn, vmf.write(), uffd_wp);
        Ok(VmFault::empty())
    }

    /// do_set_pte() for a page-cache page (young from vm_page_prot, also when prefaulted);
    /// `uffd_wp` (the entry was a uffd-wp marker) maps it read-only with the uffd-wp bit.
    fn do_set_pte(
        &mut self,
        mm: MmId,
        vma: &Vma,
        slot: PteSlot,
        pfn: Pfn,
        write: bool,
        uffd_wp: bool,
    ) {
        self.get_page(pfn);
        self.page_add_file_rmap(pfn, vma);
        self.mms[mm].rss_shmem += 1;
        let mut entry = Pte::pfn_pte(pfn, vma.page_prot());
        if write {
            entry = entry.mkdirty();
            if vma.flags & VM_WRITE != 0 {
                entry = entry.mkwrite();
            }
            self.set_page_dirty(pfn);
        }
        if uffd_wp {
            entry = entry.wrprotect().mkuffd_wp();
        }
        table::set(&mut self.phys, slot, entry);
    }

    /// do_fault_around() → filemap_map_pages(): map cached pages near the fault without
    /// faulting them in, within the fault_around_bytes window clamped to the VMA and the PTE
    /// table. If the first cached page is part of a THP and the PMD is empty,
    /// filemap_map_pmd() maps the whole THP instead; a PTE table is only installed when there
    /// is something to map.
    fn do_fault_around(&mut self, vmf: &Vmf, ino: Ino) {
        let vma = &vmf.vma;
        // The window starts at the fault_around_bytes-aligned address (not below the VMA) and
        // runs 16 pages, stopping at the end of the VMA and of the PTE table.
        let window = self.cfg.fault_around_bytes;
        let start = (vmf.address & !(window - 1)).max(vma.start);
        let table_end = (start | (PMD_SIZE - 1)) + 1;
        let end = (start + window).min(vma.end).min(table_end);
        // filemap_map_pages() stops at EOF and skips pages that are not uptodate.
        let eof = self.inodes[ino].i_size.div_ceil(PAGE_SIZE);
        let cached_at = |k: &Kernel, a: u64| {
            let index = vma.linear_page_index(a);
            k.inodes[ino].i_mapping.page(index).filter(|&p| {
                index < eof && k.pages.folio_test(k.pages.folio(p), PageFlags::UPTODATE)
            })
        };
        let Some(first) = (start..end)
            .step_by(PAGE_SIZE as usize)
            .find_map(|a| cached_at(self, a))
        else {
            return;
        };
        let pmd = vmf.pmd.expect("pmd_alloc() ran");
        match table::get_pmd(&self.phys, pmd).kind() {
            PmdKind::Leaf(_) | PmdKind::Swp(..) => return,
            PmdKind::None => {
                if let Some(head) = self.thp_head(first) {
                    if self.do_set_pmd(vmf, pmd, head) {
                        return;
                    }
                }
            }
            PmdKind::Table(_) => {}
        }
        let mut a = start;
        while a < end {
            if let Some(pfn) = cached_at(self, a) {
                let Some(slot) = self.pte_alloc(pmd, a) else {
                    return;
                };
                if table::get(&self.phys, slot).is_none() {
                    // x86 keeps prefaulted entries young (arch_wants_old_prefaulted_pte()
                    // is false there).
                    self.do_set_pte(vmf.mm, vma, slot, pfn, false, false);
                }
            }
            a += PAGE_SIZE;
        }
    }

    /// unmap_page_range() over `[start, end)` of one VMA with `details`: huge entries the
    /// range covers in part are split first, whole ones zapped; PTEs cleared and their
    /// mappings dropped (the references go after the gather's flush). A file VMA registered
    /// for uffd-wp keeps its markers (unless ZAP_FLAG_DROP_MARKER) and gets a new one where a
    /// write-protected entry goes. Locks: the mmap lock; the PTL of each table.
    pub(crate) fn zap_page_range(
        &mut self,
        tlb: &mut MmuGather,
        vma: &Vma,
        (start, end): (u64, u64),
        details: ZapDetails,
    ) {
        let mm = tlb.mm;
        if vma.is_hugetlb() {
            return self.unmap_hugepage_range(tlb, vma, (start, end), details);
        }
        // zap_pmd_range(): a THP entry the range covers only in part is split first.
        self.split_huge_pmd_edges(mm, start, end);
        let mut w = ZapWalk {
            tlb,
            mm,
            details,
            // pte_install_uffd_wp_if_needed(): only file VMAs registered for uffd-wp keep
            // markers.
            arm_markers: !details.drop_marker && !vma.is_anonymous() && vma.flags & VM_UFFD_WP != 0,
            force_flush: false,
            seq_read: vma.flags & VM_SEQ_READ != 0,
            vm_flags: vma.flags,
        };
        let _ = walk_page_range(self, mm, start, end, &mut w);
    }

    /// One entry of zap_pte_range(); a dirty file page sets the walk's force_flush.
    fn zap_pte(&mut self, w: &mut ZapWalk<'_>, addr: u64, slot: PteSlot, e: PteKind) {
        let details = w.details;
        let (pte, wp) = match e {
            PteKind::None => return,
            PteKind::Present(p) => {
                if !details.even_cows && !p.special() && self.pages.page_anon(p.pfn()) {
                    return;
                }
                (p, p.uffd_wp())
            }
            PteKind::Swp(SwpKind::Marker { .. }, _) if !details.drop_marker => return,
            // A genuine swap entry (a private anonymous page), a poisoned one: COWs only.
            PteKind::Swp(
                SwpKind::Swap { .. } | SwpKind::Hwpoison { .. } | SwpKind::SwapinError { .. },
                _,
            ) if !details.even_cows => return,
            // A migration entry's page is anonymous (the model migrates no other): COWs only.
            PteKind::Swp(kind, _) if kind.is_migration() && !details.even_cows => return,
            PteKind::Swp(kind, _) => {
                if let SwpKind::Swap { typ, offset } = kind {
                    self.mms[w.mm].rss_swapents -= 1;
                    self.free_swap_and_cache(crate::pgtable::swp::SwpEntry::new(typ, offset));
                }
                if kind.is_migration() {
                    self.mms[w.mm].rss_anon -= 1;
                }
                let raw = table::get(&self.phys, slot);
                (raw, raw.swp_uffd_wp_any())
            }
        };
        // zap_install_uffd_wp_if_needed(): a write-protected entry leaves a uffd-wp marker.
        let replacement = if w.arm_markers && wp {
            Pte::marker(PTE_MARKER_UFFD_WP)
        } else {
            Pte::NONE
        };
        table::set(&mut self.phys, slot, replacement);
        if !pte.is_present() {
            return;
        }
        w.tlb.add_range(addr, PAGE_SIZE);
        if pte.special() {
            return;
        }
        let pfn = pte.pfn();
        if self.pages.page_anon(pfn) {
            self.mms[w.mm].rss_anon -= 1;
        } else {
            self.mms[w.mm].rss_shmem -= 1;
            if pte.dirty() {
                self.set_page_dirty(pfn);
                w.force_flush = true;
            }
            if pte.young() && !w.seq_read {
                // zap_pte_range(): a young file page is marked accessed on its way out.
                let f = self.pages.folio(pfn);
                self.folio_mark_accessed(f);
            }
        }
        self.page_remove_rmap(pfn, w.vm_flags);
        w.tlb.remove_page(pfn);
    }

    /// vma_interval_tree_foreach() over shmem inode `ino`'s i_mmap: every VMA that maps some
    /// of the file's pages `[from, to)`, with the address range they have there, in the
    /// tree's order (by vm_pgoff, then as they were added).
    pub(crate) fn i_mmap_overlaps(&self, ino: Ino, from: u64, to: u64) -> Vec<FileMapping> {
        let mut found: Vec<(u64, crate::mm::vma::VmaId, FileMapping)> = Vec::new();
        for &id in &self.inodes[ino].i_mapping.i_mmap {
            let Some((mm, v)) = self.vma_by_id(id) else {
                continue;
            };
            let (vfirst, vend) = (v.pgoff, v.pgoff + v.pages());
            let (lo, hi) = (from.max(vfirst), to.min(vend));
            if lo < hi {
                let m = FileMapping {
                    mm,
                    start: v.start + (lo - vfirst) * PAGE_SIZE,
                    end: v.start + (hi - vfirst) * PAGE_SIZE,
                    vma_end: v.end,
                    flags: v.flags,
                    has_anon_vma: v.anon_vma.is_some(),
                };
                found.push((v.pgoff, id, m));
            }
        }
        found.sort_by_key(|&(pgoff, id, _)| (pgoff, id));
        found.into_iter().map(|(_, _, m)| m).collect()
    }

    /// unmap_mapping_range(): zap the file pages with index `[from, to)` of shmem inode `ino` in
    /// every VMA that maps them (zap_page_range_single() each); `details.even_cows` also zaps
    /// private COW copies (truncation does, hole punching does not); `drop_marker` is
    /// hugetlbfs truncation's ZAP_FLAG_DROP_MARKER (shmem keeps markers).
    /// Locks: i_mmap_rwsem, read.
    pub(crate) fn unmap_mapping_range(
        &mut self,
        ino: Ino,
        (from, to): (u64, u64),
        details: ZapDetails,
    ) {
        for f in self.i_mmap_overlaps(ino, from, to) {
            let Some(vma) = self.mms[f.mm].vmas.lookup(f.start).map(Vma::for_fault) else {
                continue;
            };
            self.lru_add_drain();
            // zap_page_range_single() raises the high-water RSS before the zap.
            self.mms[f.mm].update_hiwater_rss();
            let mut tlb = MmuGather::new(f.mm, false);
            self.zap_page_range(&mut tlb, &vma, (f.start, f.end), details);
            self.tlb_end_vma(&mut tlb);
            self.tlb_finish_mmu(tlb);
        }
    }

    /// The hardware walk for a user access; used by the access path on a TLB miss.
    #[inline]
    pub(crate) fn mmu_walk(&mut self, mm: MmId, addr: u64, write: bool) -> mmu::Walk {
        let root = self.mms[mm].pgd;
        mmu::walk(&mut self.phys, root, addr, write)
    }
}

/// zap_pmd_range()/zap_pte_range() as walker callbacks.
struct ZapWalk<'a> {
    tlb: &'a mut MmuGather,
    mm: MmId,
    details: ZapDetails,
    arm_markers: bool,
    /// A dirty file PTE was zapped in this table: flush before its PTL is dropped, so writes
    /// through stale entries cannot be lost.
    force_flush: bool,
    /// VM_SEQ_READ: zapped young file pages are not marked accessed.
    seq_read: bool,
    /// The VMA's flags (page_remove_rmap() munlocks in a VM_LOCKED one).
    vm_flags: u64,
}

impl MmWalk for ZapWalk<'_> {
    fn pmd_entry(
        &mut self,
        k: &mut Kernel,
        addr: u64,
        _next: u64,
        slot: PmdSlot,
        e: PmdKind,
    ) -> ControlFlow<(), PmdAction> {
        ControlFlow::Continue(match e {
            // The edges were split before the walk: a leaf here is covered whole.
            PmdKind::Leaf(_) => {
                k.zap_huge_pmd(
                    self.tlb,
                    (self.mm, self.vm_flags),
                    addr & !(PMD_SIZE - 1),
                    slot,
                );
                PmdAction::Done
            }
            PmdKind::None | PmdKind::Table(_) => PmdAction::Descend,
            // zap_huge_pmd() of a PMD migration entry (of an anonymous THP: COWs only).
            PmdKind::Swp(kind, _) if kind.is_migration() => {
                let f = k
                    .pages
                    .folio(Pfn(kind.migration_pfn().expect("a migration entry")));
                if self.details.even_cows || !k.pages.folio_test(f, PageFlags::ANON) {
                    k.zap_pmd_migration_entry(self.mm, addr & !(PMD_SIZE - 1), slot, f);
                }
                PmdAction::Done
            }
            PmdKind::Swp(..) => PmdAction::Done,
        })
    }

    fn pte_entry(
        &mut self,
        k: &mut Kernel,
        addr: u64,
        slot: PteSlot,
        e: PteKind,
    ) -> ControlFlow<()> {
        k.zap_pte(self, addr, slot, e);
        ControlFlow::Continue(())
    }

    fn pte_table_done(&mut self, k: &mut Kernel, _addr: u64, _end: u64) {
        if std::mem::take(&mut self.force_flush) && !self.tlb.fullmm {
            k.tlb_flush_mmu(self.tlb);
        }
    }
}
