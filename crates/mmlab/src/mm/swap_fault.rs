//! Bringing swapped-out anonymous pages back: do_swap_page() (mm/memory.c) for a fault on a
//! swap PTE, and try_to_unuse() / unuse_pte() (mm/swapfile.c) for swapoff. Both map the
//! page read-only and carry the swap PTE's exclusive, soft-dirty and uffd-wp bits over.

use crate::errno::{Errno, SysResult};
use crate::kernel::Kernel;
use crate::mm::memory::Vmf;
use crate::mm::swapfile::SwpFlags;
use crate::mm::vm_fault::{FaultFlags, FaultResult, VmFault};
use crate::mm::vma::vm::{VM_LOCKED, VM_WRITE};
use crate::mm::MmId;
use crate::page::{Folio, Gfp, PageFlags, Pfn};
use crate::pgtable::pte::{Pte, PteKind};
use crate::pgtable::swp::{SwpEntry, SwpKind, SwpPteBits};
use crate::pgtable::table::{self, PteSlot};
use crate::sched::Tid;

impl Kernel {
    /// do_swap_page(): the page comes from the swap cache (a minor fault), or is read: into a
    /// fresh page outside the swap cache when the device is synchronous and only this PTE
    /// refers to the slot, else through swap read-ahead into the cache (a major fault). It
    /// is mapped read-only unless this is a write fault on a page known to be exclusive (the
    /// swap PTE's exclusive bit, a fresh page, or the only reference); a write that finds it
    /// shared goes on to do_wp_page().
    pub(crate) fn do_swap_page(
        &mut self,
        vmf: &mut Vmf,
        e: SwpEntry,
        bits: SwpPteBits,
    ) -> FaultResult {
        let slot = vmf.pte.expect("a swap PTE has a slot");
        let Some(flags) = self.swap.device_of(e).map(|si| si.flags) else {
            // get_swap_device() failed: swapoff took the device; the fault is retried.
            return Ok(VmFault::empty());
        };
        let mut ret = VmFault::empty();
        let mut swapcache = self.lookup_swap_cache(e, Some((vmf.mm, vmf.vma.start, vmf.address)));
        let pfn = match swapcache {
            Some(pfn) => {
                self.get_page(pfn);
                pfn
            }
            None => {
                let pfn = if flags.contains(SwpFlags::SYNCHRONOUS_IO) && self.swap_count_of(e) == 1
                {
                    self.swapin_skip_swapcache(e).ok_or(VmFault::OOM)?
                } else {
                    let ra = self.swap_ra_entries(vmf, e);
                    let p = self.swapin_readahead(e, &ra).ok_or(VmFault::OOM)?;
                    swapcache = Some(p);
                    p
                };
                ret |= VmFault::MAJOR;
                self.vmstat.pgmajfault += 1;
                pfn
            }
        };
        let f = self.pages.folio(pfn);
        // folio_lock_or_retry(): a swap-in still being read (SWP_FS_OPS) is waited for, or
        // the fault is retried once it has completed; a failed read is SIGBUS.
        let may_sleep = vmf
            .flags
            .contains(FaultFlags::ALLOW_RETRY | FaultFlags::USER)
            && !vmf.flags.contains(FaultFlags::TRIED);
        if !self.swap_read_wait(pfn, may_sleep, ret.contains(VmFault::MAJOR)) {
            self.put_page(pfn);
            return Err(ret | VmFault::RETRY);
        }
        if self.swap_read_failed(f) {
            self.put_page(pfn);
            return Err(VmFault::SIGBUS);
        }
        if swapcache.is_some() && vmf.write() && !self.pages.folio_test(f, PageFlags::LRU) {
            self.lru_add_drain();
        }
        // The PTE may have changed while the page was read (another thread's fault).
        if table::get(&self.phys, slot) != vmf.orig_pte {
            self.put_page(pfn);
            return Ok(ret);
        }
        let mut exclusive = bits.exclusive;
        if swapcache.is_none() {
            exclusive = true;
        } else if exclusive
            && self.pages.folio_test(f, PageFlags::WRITEBACK)
            && flags.contains(SwpFlags::STABLE_WRITES)
        {
            exclusive = false;
        }
        self.swap_entry_put(e);
        if swapcache.is_some()
            && (self.vm_swap_full()
                || vmf.vma.flags & VM_LOCKED != 0
                || self.pages.folio_test(f, PageFlags::MLOCKED)
                || (vmf.write() && self.pages.folio_ref_count(f) == 2))
        {
            self.try_to_free_swap(f);
        }
        let m = &mut self.mms[vmf.mm];
        m.rss_anon += 1;
        m.rss_swapents -= 1;
        let mut pte = Pte::pfn_pte(pfn, vmf.vma.page_prot());
        if exclusive || self.pages.folio_ref_count(f) == 1 {
            if vmf.write() {
                pte = pte.mkdirty();
                if vmf.vma.flags & VM_WRITE != 0 {
                    pte = pte.mkwrite();
                }
                vmf.flags.remove(FaultFlags::WRITE);
            }
            exclusive = true;
        }
        if bits.soft_dirty {
            pte = pte.mksoft_dirty();
        }
        if bits.uffd_wp {
            pte = pte.mkuffd_wp().wrprotect();
        }
        let pte = pte.mkyoung();
        if swapcache.is_none() {
            // The fresh page of the synchronous path is new to the rmap (already queued for
            // the LRU, so a locked VMA mlocks it as page_add_anon_rmap() would).
            self.page_add_new_anon_rmap(pfn, &vmf.vma, vmf.address);
            self.mlock_vma_folio(Folio(pfn), vmf.vma.flags, false);
            if !exclusive {
                self.pages
                    .page_mut(pfn)
                    .flags
                    .remove(PageFlags::ANON_EXCLUSIVE);
            }
        } else {
            self.page_add_anon_rmap(pfn, &vmf.vma, vmf.address, exclusive);
        }
        table::set(&mut self.phys, slot, pte);
        vmf.orig_pte = pte;
        if vmf.write() {
            // Not provably exclusive: the write goes through COW (or reuse) now.
            return self.do_wp_page(vmf).map(|r| r | ret);
        }
        Ok(ret)
    }

    /// The skip-swapcache path of do_swap_page(): a fresh page read synchronously, with the
    /// refault check against the slot's shadow; the slot keeps no cache.
    fn swapin_skip_swapcache(&mut self, e: SwpEntry) -> Option<Pfn> {
        let f = self.alloc_folio(Gfp::HIGHUSER_MOVABLE, 0)?;
        self.pages.folio_set(f, PageFlags::SWAPBACKED);
        if let Some(crate::mm::swap_state::CacheSlot::Shadow(s)) = self.swap_cache.get(e) {
            self.workingset_refault(f, s);
        }
        self.folio_add_lru(f);
        self.swap_readpage(f.pfn(), e, None);
        Some(f.pfn())
    }

    /// swapin_readahead()'s window for a fault: the cluster around the offset while a
    /// rotational device is on, else the swap PTEs of this VMA and table around the address
    /// (swap_vma_readahead()).
    fn swap_ra_entries(&mut self, vmf: &Vmf, e: SwpEntry) -> Vec<SwpEntry> {
        if self.swap.nr_rotate_swap > 0 {
            return self.swap_cluster_ra_entries(e);
        }
        let (start, end) = self.swap_ra_info(vmf.mm, vmf.vma.start, vmf.address);
        let pmd = vmf.pmd.expect("pmd_alloc() ran");
        (start..end)
            .step_by(crate::hw::PAGE_SIZE as usize)
            .filter_map(|a| {
                let s = table::pte_offset(&self.phys, pmd, a)?;
                match table::get(&self.phys, s).kind() {
                    PteKind::Swp(SwpKind::Swap { typ, offset }, _) => {
                        Some(SwpEntry::new(typ, offset))
                    }
                    _ => None,
                }
            })
            .collect()
    }

    /// try_to_unuse(): every swap PTE and shmem entry of device `typ` gets its page back (read
    /// into the swap cache and mapped read-only and old: unuse_pte()), then every page left
    /// in the cache for it leaves the cache. ENOMEM if a page cannot be had.
    pub(crate) fn try_to_unuse(&mut self, _tid: Tid, typ: u32) -> SysResult<()> {
        self.shmem_unuse(typ)?;
        let mms: Vec<MmId> = self.mms.iter().map(|(id, _)| id).collect();
        for mm in mms {
            let vmas: Vec<crate::mm::Vma> =
                self.mms[mm].vmas.iter().map(|v| v.for_fault()).collect();
            for vma in vmas
                .iter()
                .filter(|v| v.is_anonymous() || v.anon_vma.is_some())
            {
                let mut a = vma.start;
                while a < vma.end {
                    if let Some((slot, e, bits)) =
                        self.swap_pte_at(mm, a).filter(|x| x.1.typ == typ)
                    {
                        self.unuse_pte(mm, vma, a, slot, (e, bits))?;
                    }
                    a += crate::hw::PAGE_SIZE;
                }
            }
        }
        // Pages only the swap cache still holds for this device.
        let cached: Vec<Pfn> = self
            .swap_cache
            .iter()
            .filter(|(e, _)| e.typ == typ)
            .filter_map(|(_, s)| match s {
                crate::mm::swap_state::CacheSlot::Page(p) => Some(p),
                crate::mm::swap_state::CacheSlot::Shadow(_) => None,
            })
            .collect();
        for pfn in cached {
            let f = self.pages.folio(pfn);
            if self.pages.folio_test(f, PageFlags::SWAPCACHE) {
                self.pages.folio_clear(f, PageFlags::WRITEBACK);
                self.folio_get(f);
                self.try_to_free_swap(f);
                self.folio_put(f);
            }
        }
        let left = self.swap.si(typ).map_or(0, |si| si.inuse_pages);
        if left != 0 {
            return Err(Errno::ENOMEM);
        }
        Ok(())
    }

    /// The swap PTE at `addr` of `mm`, if that is what is there.
    fn swap_pte_at(&self, mm: MmId, addr: u64) -> Option<(PteSlot, SwpEntry, SwpPteBits)> {
        let slot = table::walk(&self.phys, self.mms[mm].pgd, addr)?;
        match table::get(&self.phys, slot).kind() {
            PteKind::Swp(SwpKind::Swap { typ, offset }, bits) => {
                Some((slot, SwpEntry::new(typ, offset), bits))
            }
            _ => None,
        }
    }

    /// unuse_pte(): the swap PTE becomes the page, read-only and old, exclusive if the entry
    /// said so, with soft-dirty and uffd-wp kept.
    fn unuse_pte(
        &mut self,
        mm: MmId,
        vma: &crate::mm::Vma,
        addr: u64,
        slot: PteSlot,
        (e, bits): (SwpEntry, SwpPteBits),
    ) -> SysResult<()> {
        let pfn = match self.lookup_swap_cache(e, Some((mm, vma.start, addr))) {
            Some(p) => {
                self.get_page(p);
                p
            }
            None => self.swapin_readahead(e, &[e]).ok_or(Errno::ENOMEM)?,
        };
        // lock_page(): the read completes; one that failed leaves a swap-in error entry
        // in the PTE (5.19's unuse_pte()) and the slot goes.
        self.swap_read_wait(pfn, false, true);
        let f = self.pages.folio(pfn);
        if self.swap_read_failed(f) {
            self.mms[mm].rss_swapents -= 1;
            let err = SwpKind::SwapinError { pfn: pfn.0 };
            table::set(&mut self.phys, slot, Pte::swp(err, SwpPteBits::default()));
            self.swap_entry_put(e);
            self.try_to_free_swap(f);
            self.put_page(pfn);
            return Ok(());
        }
        let mut pte = Pte::pfn_pte(pfn, vma.page_prot()).mkold();
        if bits.soft_dirty {
            pte = pte.mksoft_dirty();
        }
        if bits.uffd_wp {
            pte = pte.mkuffd_wp().wrprotect();
        }
        let m = &mut self.mms[mm];
        m.rss_anon += 1;
        m.rss_swapents -= 1;
        self.page_add_anon_rmap(pfn, vma, addr, bits.exclusive);
        table::set(&mut self.phys, slot, pte);
        self.swap_entry_put(e);
        // try_to_free_swap() once nothing else refers to the slot.
        self.try_to_free_swap(f);
        Ok(())
    }

    /// shmem_unuse(): every shmem page-cache swap entry of device `typ` is swapped in.
    fn shmem_unuse(&mut self, typ: u32) -> SysResult<()> {
        let inos: Vec<usize> = self.inodes.iter().map(|(i, _)| i).collect();
        for ino in inos {
            let entries = self.inodes[ino].i_mapping.swap_entries(0..u64::MAX);
            for (index, _) in entries.into_iter().filter(|(_, e)| e.typ == typ) {
                self.shmem_getpage_gfp(ino, index, None)?;
            }
        }
        Ok(())
    }
}
