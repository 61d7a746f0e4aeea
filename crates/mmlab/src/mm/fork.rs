//! kernel/fork.c dup_mmap() and mm/memory.c copy_page_range(): the child's address space.

use crate::errno::{Errno, SysResult};
use crate::kernel::Kernel;
use crate::mm::vma::{vm::*, Backing, Vma};
use crate::mm::MmId;
use crate::sched::{Process, Task, Tid};
use std::ops::ControlFlow;

use crate::mm::pagewalk::{walk_page_range, MmWalk, PmdAction};
use crate::pgtable::pmd::PmdKind;
use crate::pgtable::pte::{Pte, PteKind};
use crate::pgtable::swp::{SwpEntry, SwpKind};
use crate::pgtable::table::{self, PmdSlot, PteSlot};

impl Kernel {
    /// fork(2): a new process with a copy of the caller's address space; its one thread runs
    /// on the parent's CPU.
    /// Locks: the parent's mmap lock, write, and the child's, nested.
    pub fn fork(&mut self, tid: Tid) -> SysResult<Tid> {
        let parent = self.enter(tid)?;
        let cpu = self.tasks[tid].cpu;
        let vmas: Vec<Vma> = self.mms[parent].vmas.iter().cloned().collect();
        let child = self.mm_alloc(cpu)?;
        // dup_mm() copies the heap's bounds; mm_init() clears def_flags (VM_INIT_DEF_MASK
        // keeps only VM_NOHUGEPAGE, which the model's prctl-less mm never has).
        (self.mms[child].start_brk, self.mms[child].brk) =
            (self.mms[parent].start_brk, self.mms[parent].brk);
        self.khugepaged_fork(child, parent);
        let mut fctxs = Vec::new();
        let copied = self.dup_mmap(parent, child, vmas, &mut fctxs);
        // dup_mmap() ends with flush_tlb_mm(oldmm), failed or not: the parent's entries were
        // write-protected.
        self.flush_tlb_mm_range(parent, 0, u64::MAX);
        if let Err(e) = copied {
            // mmput() of the half-built child.
            self.exit_mmap(child);
            self.task_work_run();
            return Err(e);
        }
        let ppid = self.tasks[tid].pid;
        let fds = self.dup_fds(ppid);
        let (rlim, caps) = (self.procs[ppid].rlim, self.procs[ppid].caps);
        // dup_mm(): the child's high-water RSS starts at what the copy mapped.
        self.mms[child].update_hiwater_rss();
        let nr = self.alloc_pid();
        let pid = self.procs.insert(Process {
            mm: child,
            threads: vec![],
            min_flt: 0,
            maj_flt: 0,
            fds,
            rlim,
            caps,
            nr,
            pgid: self.procs[ppid].pgid,
            parent: Some(self.procs[ppid].nr),
            children_ru: Default::default(),
            oom_adj: self.procs[ppid].oom_adj,
        });
        self.cgroup_fork(self.tasks[tid].pid, pid);
        let ctid = self.tasks.insert(Task {
            pid,
            mm: child,
            cpu,
            wait: None,
            restart: None,
            fault_retry: None,
            si_code: None,
            // copy_process(): mpol_dup() of the parent's policy.
            mempolicy: self.tasks[tid].mempolicy,
            il_prev: self.tasks[tid].il_prev,
            min_flt: 0,
            maj_flt: 0,
            // dup_task_struct() copies the parent's pending over-high pages.
            memcg_nr_pages_over_high: self.tasks[tid].memcg_nr_pages_over_high,
        });
        self.procs[pid].threads.push(ctid);
        // dup_userfaultfd_complete(): one FORK event per context, read before fork returns.
        for (octx, nctx) in fctxs {
            let msg = crate::fs::userfaultfd::UffdMsg {
                event: crate::uapi::userfaultfd::UFFD_EVENT_FORK,
                arg: [0; 3],
            };
            self.userfaultfd_event(octx, msg, Some(nctx));
        }
        Ok(ctid)
    }

    /// dup_userfaultfd(): a VMA registered with a context that asked for UFFD_FEATURE_EVENT_FORK
    /// stays registered in the child, with a new context for the child's mm (one per parent
    /// context, remembered in `fctxs`); any other loses its registration.
    fn dup_userfaultfd(&mut self, child: MmId, c: &mut Vma, fctxs: &mut Vec<(usize, usize)>) {
        let Some(octx) = c.uffd_ctx else {
            return;
        };
        if self
            .uffd_ctx_wanting(c, crate::uapi::userfaultfd::UFFD_FEATURE_EVENT_FORK)
            .is_none()
        {
            c.uffd_ctx = None;
            c.flags &= !VM_UFFD_FLAGS;
            return;
        }
        let nctx = match fctxs.iter().find(|(o, _)| *o == octx) {
            Some(&(_, n)) => n,
            None => {
                let o = &self.uffd[octx];
                let n = self.uffd.insert(crate::fs::userfaultfd::UserfaultfdCtx {
                    mm: Some(child),
                    features: o.features,
                    flags: o.flags,
                    queues: Default::default(),
                    mmap_changing: 0,
                });
                fctxs.push((octx, n));
                n
            }
        };
        c.uffd_ctx = Some(nctx);
    }

    /// dup_mmap(): copy each VMA except VM_DONTCOPY ones; VM_WIPEONFORK VMAs arrive empty.
    /// ENOMEM when a page table of the child cannot be allocated.
    /// Locks: the parent's mmap lock, write, and the child's, nested; i_mmap_rwsem, write, to link
    /// each file VMA.
    fn dup_mmap(
        &mut self,
        parent: MmId,
        child: MmId,
        vmas: Vec<Vma>,
        fctxs: &mut Vec<(usize, usize)>,
    ) -> SysResult<()> {
        for v in vmas {
            if v.flags & VM_DONTCOPY != 0 {
                continue;
            }
            let mut c = v.clone();
            c.id = self.new_vma_id();
            c.anon_vma = None;
            c.anon_vma_chain = Default::default();
            // Locks are not inherited (VM_LOCKED_CLEAR_MASK).
            c.flags &= !VM_LOCKED;
            self.dup_userfaultfd(child, &mut c, fctxs);
            let wipe = v.flags & VM_WIPEONFORK != 0;
            // anon_vma_fork(): the child's VMA joins the parent's anon_vmas and gets one of its
            // own (a VM_WIPEONFORK VMA starts with none).
            if !wipe {
                self.anon_vma_fork(&mut c, &v);
            }
            if let Backing::File(ino) = v.backing {
                self.inodes[ino].refs += 1;
            }
            let m = &mut self.mms[child];
            m.total_vm += v.pages();
            if v.flags & VM_ACCOUNT != 0 {
                m.committed += v.pages();
            }
            self.vma_link(child, c.clone());
            if v.is_hugetlb() {
                // The child owns no reservations of the parent's private mapping.
                // reset_vma_resv_huge_pages(): nor its owner and unmapped flags.
                if let Some(cv) = self.mms[child].vmas.get_mut(c.start) {
                    cv.hugetlb_resv.clear();
                    cv.hugetlb_resv_flags = 0;
                }
                self.copy_hugetlb_page_range(parent, child, &v, c.flags & VM_UFFD_WP != 0)?;
            } else if !wipe && vma_needs_copy(&c, &v) {
                // raw_write_seqcount_begin/end(write_protect_seq) around a COW VMA's copy:
                // GUP-fast pinning meanwhile sees the count move and backs off.
                let cow = v.is_cow();
                if cow {
                    self.mms[parent].write_protect_seq += 1;
                }
                let r = self.copy_page_range(parent, child, &v, &c);
                if cow {
                    self.mms[parent].write_protect_seq += 1;
                }
                r?;
            }
        }
        Ok(())
    }

    /// copy_page_range(): copy one VMA's page tables into the child. Huge entries are shared
    /// whole (copy_huge_pmd()); a file VMA's huge entries are not copied (the child refaults
    /// them). Locks: both mmap locks, write; the PTLs of each table pair.
    fn copy_page_range(
        &mut self,
        parent: MmId,
        child: MmId,
        src: &Vma,
        dst: &Vma,
    ) -> SysResult<()> {
        let mut w = CopyWalk {
            parent,
            child,
            dst,
            cow: src.is_cow(),
            shared: src.flags & VM_SHARED != 0,
            result: Ok(()),
        };
        let _ = walk_page_range(self, parent, src.start, src.end, &mut w);
        w.result
    }

    /// copy_nonpresent_pte() / copy_present_pte(): one PTE into the child's table.
    fn copy_pte(
        &mut self,
        w: &CopyWalk<'_>,
        addr: u64,
        slot: PteSlot,
        e: PteKind,
    ) -> SysResult<()> {
        if e == PteKind::None {
            return Ok(());
        }
        // copy_pte_range() allocates the child's table before it copies into it.
        let cslot = self.walk_alloc(w.child, addr).ok_or(Errno::ENOMEM)?;
        let pte = match e {
            PteKind::None => return Ok(()),
            PteKind::Present(pte) => {
                let mut pte = pte;
                if !pte.special() {
                    let pfn = pte.pfn();
                    if self.pages.page_anon(pfn) {
                        if !self.page_try_dup_anon_rmap(pfn, w.parent) {
                            return self.copy_present_page(w, addr, cslot, pte);
                        }
                        self.get_page(pfn);
                        self.mms[w.child].rss_anon += 1;
                    } else {
                        self.get_page(pfn);
                        self.page_dup_file_rmap(pfn);
                        self.mms[w.child].rss_shmem += 1;
                    }
                }
                if w.cow && pte.write() {
                    // Write-protect both parent and child.
                    pte = pte.wrprotect();
                    table::set(&mut self.phys, slot, pte);
                }
                if w.shared {
                    pte = pte.mkclean();
                }
                pte = pte.mkold();
                if w.dst.flags & VM_UFFD_WP == 0 {
                    pte = pte.clear_uffd_wp();
                }
                pte
            }
            // Markers are copied only into a child that keeps uffd-wp (the copy happens at all
            // only then for file VMAs: vma_needs_copy()).
            PteKind::Swp(SwpKind::Marker { .. }, _) => table::get(&self.phys, slot),
            PteKind::Swp(kind @ SwpKind::Swap { typ, offset }, mut bits) => {
                // swap_duplicate() (an ENOMEM for continuations is not modelled: EIO-free).
                if !self.swap_duplicate(SwpEntry::new(typ, offset)) {
                    return Err(Errno::EIO);
                }
                // The entry is shared now: neither side may assume exclusivity.
                if bits.exclusive {
                    bits.exclusive = false;
                    table::set(&mut self.phys, slot, Pte::swp(kind, bits));
                }
                self.mms[w.child].rss_swapents += 1;
                if w.dst.flags & VM_UFFD_WP == 0 {
                    bits.uffd_wp = false;
                }
                Pte::swp(kind, bits)
            }
            PteKind::Swp(mut kind, mut bits) if kind.is_migration() => {
                // copy_nonpresent_pte(): the page is counted for the child; in a COW mapping
                // an entry that is not plain readable becomes readable in both (a previously
                // exclusive page is shared now).
                self.mms[w.child].rss_anon += 1;
                if w.cow && !matches!(kind, SwpKind::MigrationRead { .. }) {
                    let pfn = kind.migration_pfn().expect("a migration entry");
                    kind = SwpKind::MigrationRead { pfn };
                    table::set(&mut self.phys, slot, Pte::swp(kind, bits));
                }
                if w.dst.flags & VM_UFFD_WP == 0 {
                    bits.uffd_wp = false;
                }
                Pte::swp(kind, bits)
            }
            PteKind::Swp(
                SwpKind::MigrationRead { .. }
                | SwpKind::MigrationReadExclusive { .. }
                | SwpKind::MigrationWrite { .. }
                | SwpKind::DevicePrivate { .. }
                | SwpKind::DeviceExclusive { .. }
                | SwpKind::Hwpoison { .. }
                | SwpKind::SwapinError { .. },
                _,
            ) => table::get(&self.phys, slot),
        };
        table::set(&mut self.phys, cslot, pte);
        Ok(())
    }
}

impl Kernel {
    /// copy_present_page(): the child gets its own copy of a page the parent may have pinned
    /// (page_try_dup_anon_rmap() failed): new, exclusive, writable and dirty if the VMA is,
    /// uffd-wp protected if the parent's entry was and the child keeps uffd-wp. The parent's
    /// entry is left as it is. No memory for the copy fails the fork.
    fn copy_present_page(
        &mut self,
        w: &CopyWalk<'_>,
        addr: u64,
        cslot: PteSlot,
        orig: Pte,
    ) -> SysResult<()> {
        let new = self
            .alloc_folio(crate::page::Gfp::HIGHUSER_MOVABLE, 0)
            .ok_or(Errno::ENOMEM)?;
        self.phys.copy(orig.pfn(), new.pfn());
        self.page_add_new_anon_rmap(new.pfn(), w.dst, addr);
        self.lru_cache_add_inactive_or_unevictable(new, w.dst);
        self.mms[w.child].rss_anon += 1;
        let mut pte = Pte::pfn_pte(new.pfn(), w.dst.page_prot());
        if w.dst.flags & VM_WRITE != 0 {
            pte = pte.mkdirty().mkwrite();
        }
        if orig.uffd_wp() && w.dst.flags & VM_UFFD_WP != 0 {
            pte = pte.wrprotect().mkuffd_wp();
        }
        table::set(&mut self.phys, cslot, pte);
        Ok(())
    }
}

/// copy_page_range() as walker callbacks.
struct CopyWalk<'a> {
    parent: MmId,
    child: MmId,
    dst: &'a Vma,
    cow: bool,
    shared: bool,
    result: SysResult<()>,
}

impl MmWalk for CopyWalk<'_> {
    fn pmd_entry(
        &mut self,
        k: &mut Kernel,
        addr: u64,
        _next: u64,
        slot: PmdSlot,
        e: PmdKind,
    ) -> ControlFlow<(), PmdAction> {
        match e {
            PmdKind::Leaf(e) => {
                if self.dst.is_anonymous() {
                    match k.copy_huge_pmd((self.parent, self.child), self.dst, addr, slot, e) {
                        // The parent's PMD was split for a pinned THP: copy its PTEs.
                        Ok(false) => return ControlFlow::Continue(PmdAction::Again),
                        r => self.result = r.map(|_| ()),
                    }
                }
            }
            PmdKind::None | PmdKind::Table(_) => return ControlFlow::Continue(PmdAction::Descend),
            // A THP under migration (the only swap PMD 5.19 has).
            PmdKind::Swp(kind, bits) if kind.is_migration() => {
                if self.dst.is_anonymous() {
                    self.result =
                        k.copy_huge_pmd_migration(self.child, self.dst, addr, slot, (kind, bits));
                }
            }
            PmdKind::Swp(..) => {}
        }
        if self.result.is_err() {
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(PmdAction::Done)
    }

    fn pte_entry(
        &mut self,
        k: &mut Kernel,
        addr: u64,
        slot: PteSlot,
        e: PteKind,
    ) -> ControlFlow<()> {
        self.result = k.copy_pte(self, addr, slot, e);
        if self.result.is_err() {
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }
}

/// vma_needs_copy() (5.19): copy page tables only where a fault could not refill them: the
/// child's VMA keeps uffd-wp (its markers and bits must survive), or the parent's has
/// anonymous pages (an anon_vma) or is hugetlb/PFN-mapped.
fn vma_needs_copy(dst: &Vma, src: &Vma) -> bool {
    dst.flags & VM_UFFD_WP != 0
        || src.flags & (VM_HUGETLB | VM_PFNMAP | VM_MIXEDMAP) != 0
        || src.anon_vma.is_some()
}
