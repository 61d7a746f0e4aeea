//! mm/rmap.c: the reverse map. anon_vmas and the chains that link VMAs to them (as fork
//! links them), the page-level bookkeeping (mapcounts, PG_anon_exclusive), and rmap_walk():
//! from a folio to every VMA and address that may map it, with the callbacks that unmap,
//! migrate and restore.

use std::collections::{BTreeSet, HashMap};
use std::ops::ControlFlow;

use crate::hw::PAGE_SIZE;
use crate::kernel::Kernel;
use crate::mm::hugetlb::HPAGE_SIZE;
use crate::mm::pagewalk::{walk_page_range, MmWalk, PmdAction};
use crate::mm::vma::vm::{VM_LOCKED, VM_SEQ_READ, VM_SHARED, VM_UFFD_WP};
use crate::mm::vma::{AnonVmaId, Vma, VmaId};
use crate::mm::MmId;
use crate::page::{Folio, PageFlags, Pfn};
use crate::pgtable::pmd::{Pmd, PmdKind};
use crate::pgtable::pte::{Pte, PteKind};
use crate::pgtable::swp::{SwpKind, SwpPteBits, PTE_MARKER_UFFD_WP};
use crate::pgtable::table::{self, PmdSlot, PteSlot};
use crate::trace::Event;

/// struct anon_vma.
#[derive(Clone, Debug)]
pub struct AnonVma {
    /// The anon_vma at the top of its fork tree (its own id for a root).
    pub root: AnonVmaId,
    /// The anon_vma of the parent process's VMA it was forked from (its own id for a root).
    pub parent: AnonVmaId,
    /// refcount: one for itself, one per child anon_vma pinning it as their root.
    pub refcount: u32,
    /// degree: the VMAs filing new pages here plus the child anon_vmas (anon_vma_clone()
    /// reuses one of degree below 2 instead of allocating).
    pub degree: u32,
    /// rb_root: the VMAs whose anon_vma_chain holds this anon_vma.
    pub vmas: BTreeSet<VmaId>,
}

/// The reverse map's own state: every anon_vma, and where each live VMA is.
#[derive(Clone, Debug, Default)]
pub struct Rmap {
    pub anon_vmas: HashMap<AnonVmaId, AnonVma>,
    last_anon_vma: AnonVmaId,
    /// Each live VMA's mm and start, kept by the VMA lifecycle (vma_link(), __split_vma(),
    /// vma_merge(), remove): how a VmaId in a chain or an i_mmap leads to the VMA.
    pub vma_loc: HashMap<VmaId, (MmId, u64)>,
    last_vma: VmaId,
}

impl Kernel {
    /// A new VMA's handle.
    pub(crate) fn new_vma_id(&mut self) -> VmaId {
        self.rmap.last_vma += 1;
        self.rmap.last_vma
    }

    /// The live VMA a handle names, with its mm.
    pub(crate) fn vma_by_id(&self, id: VmaId) -> Option<(MmId, &Vma)> {
        let &(mm, start) = self.rmap.vma_loc.get(&id)?;
        let v = self.mms.get(mm)?.vmas.lookup(start)?;
        (v.id == id).then_some((mm, v))
    }

    /// anon_vma_alloc(): a new root anon_vma (refcount 1, degree 1 for its self-parent link).
    fn anon_vma_alloc(&mut self) -> AnonVmaId {
        self.rmap.last_anon_vma += 1;
        let id = self.rmap.last_anon_vma;
        self.rmap.anon_vmas.insert(
            id,
            AnonVma {
                root: id,
                parent: id,
                refcount: 1,
                degree: 1,
                vmas: BTreeSet::new(),
            },
        );
        id
    }

    /// anon_vma_chain_link(): the VMA's chain gains `av` (newest first) and `av` lists it.
    fn anon_vma_chain_link(&mut self, vma: &mut Vma, av: AnonVmaId) {
        vma.anon_vma_chain.insert(0, av);
        if let Some(a) = self.rmap.anon_vmas.get_mut(&av) {
            a.vmas.insert(vma.id);
        }
    }

    /// The tail of __anon_vma_prepare(): `vma` (in the tree) files its new pages in `reuse`,
    /// a mergeable neighbour's anon_vma, or in a new one. Returns the anon_vma.
    pub(crate) fn anon_vma_attach(&mut self, vma: &mut Vma, reuse: Option<AnonVmaId>) -> AnonVmaId {
        let av = reuse.unwrap_or_else(|| self.anon_vma_alloc());
        vma.anon_vma = Some(av);
        self.anon_vma_chain_link(vma, av);
        if let Some(a) = self.rmap.anon_vmas.get_mut(&av) {
            a.degree += 1;
        }
        av
    }

    /// anon_vma_clone(): `dst` joins every anon_vma of `src`'s chain; with no anon_vma of its
    /// own yet it reuses one of them that no VMA files into and that has at most one child
    /// (degree below 2), never `src`'s own.
    /// Locks: the mmap lock, write; the anon_vma root lock, write.
    pub(crate) fn anon_vma_clone(&mut self, dst: &mut Vma, src: &Vma) {
        for &av in src.anon_vma_chain.iter().rev() {
            self.anon_vma_chain_link(dst, av);
            let degree = self.rmap.anon_vmas.get(&av).map_or(u32::MAX, |a| a.degree);
            if dst.anon_vma.is_none() && src.anon_vma.is_some_and(|s| s != av) && degree < 2 {
                dst.anon_vma = Some(av);
            }
        }
        if let Some(a) = dst.anon_vma.and_then(|av| self.rmap.anon_vmas.get_mut(&av)) {
            a.degree += 1;
        }
    }

    /// anon_vma_fork(): the child's VMA joins the parent VMA's anon_vmas so rmap finds the
    /// pages they share, and files its own (COW) pages in a reused anon_vma or in a new one
    /// whose parent is the parent VMA's and whose root is that one's root.
    /// Locks: both mmap locks, write; the anon_vma root lock, write.
    pub(crate) fn anon_vma_fork(&mut self, vma: &mut Vma, pvma: &Vma) {
        let Some(pav) = pvma.anon_vma else {
            return;
        };
        vma.anon_vma = None;
        self.anon_vma_clone(vma, pvma);
        if vma.anon_vma.is_some() {
            return;
        }
        let av = self.anon_vma_alloc();
        let root = self.rmap.anon_vmas.get(&pav).map_or(pav, |p| p.root);
        let a = self.rmap.anon_vmas.get_mut(&av).expect("just allocated");
        a.root = root;
        a.parent = pav;
        if let Some(r) = self.rmap.anon_vmas.get_mut(&root) {
            r.refcount += 1;
        }
        vma.anon_vma = Some(av);
        self.anon_vma_chain_link(vma, av);
        if let Some(p) = self.rmap.anon_vmas.get_mut(&pav) {
            p.degree += 1;
        }
    }

    /// unlink_anon_vmas(): `vma` leaves every anon_vma of its chain; one left with no VMA is
    /// released (put_anon_vma(), and its root's pin with it). The VMA files no new pages
    /// anywhere afterwards (vma->anon_vma is cleared; a fault prepares one again).
    /// Locks: the mmap lock, write; the anon_vma root lock, write.
    pub(crate) fn unlink_anon_vmas(&mut self, vma: &mut Vma) {
        let mut emptied = Vec::new();
        for av in std::mem::take(&mut vma.anon_vma_chain) {
            let Some(a) = self.rmap.anon_vmas.get_mut(&av) else {
                continue;
            };
            a.vmas.remove(&vma.id);
            if a.vmas.is_empty() {
                let parent = a.parent;
                if let Some(p) = self.rmap.anon_vmas.get_mut(&parent) {
                    p.degree -= 1;
                }
                emptied.push(av);
            }
        }
        if let Some(a) = vma
            .anon_vma
            .take()
            .and_then(|av| self.rmap.anon_vmas.get_mut(&av))
        {
            a.degree -= 1;
        }
        for av in emptied {
            self.put_anon_vma(av);
        }
    }

    /// put_anon_vma(): drop a reference; the last frees the anon_vma and unpins its root.
    fn put_anon_vma(&mut self, av: AnonVmaId) {
        let Some(a) = self.rmap.anon_vmas.get_mut(&av) else {
            return;
        };
        a.refcount -= 1;
        if a.refcount > 0 {
            return;
        }
        let root = a.root;
        self.rmap.anon_vmas.remove(&av);
        if root != av {
            self.put_anon_vma(root);
        }
    }

    /// page_add_new_anon_rmap(): a fresh anonymous page, mapped once by a PTE; exclusive in
    /// 5.19. Locks: the PTL.
    pub(crate) fn page_add_new_anon_rmap(&mut self, pfn: Pfn, vma: &Vma, addr: u64) {
        let exclusive = self.anon_exclusive_flag();
        let p = self.pages.page_mut(pfn);
        p.flags |= PageFlags::ANON | PageFlags::SWAPBACKED | PageFlags::UPTODATE | exclusive;
        p.mapcount = 1;
        p.set_mapping(vma.anon_vma);
        p.index = vma.linear_page_index(addr);
        self.vmstat.nr_anon_pages += 1;
        self.trace(Event::RmapAdd { pfn, mapcount: 1 });
    }

    /// PG_anon_exclusive where the profile has it (5.19), else nothing to set.
    pub(crate) fn anon_exclusive_flag(&self) -> PageFlags {
        if self.cfg.features.anon_exclusive {
            PageFlags::ANON_EXCLUSIVE
        } else {
            PageFlags::empty()
        }
    }

    /// page_dup_file_rmap(): one more PTE mapping of a page-cache page (the caller holds the
    /// reference), as fork and hugetlb add them: no mlock. Locks: the PTL.
    pub(crate) fn page_dup_file_rmap(&mut self, pfn: Pfn) {
        let p = self.pages.page_mut(pfn);
        p.mapcount += 1;
        let mapcount = p.mapcount;
        self.trace(Event::RmapAdd { pfn, mapcount });
    }

    /// page_add_file_rmap(): a fault's new PTE mapping of a page-cache page in `vma`, which
    /// mlocks it if the VMA is locked. Locks: the PTL.
    pub(crate) fn page_add_file_rmap(&mut self, pfn: Pfn, vma: &Vma) {
        self.page_dup_file_rmap(pfn);
        let f = self.pages.folio(pfn);
        self.mlock_vma_folio(f, vma.flags, false);
    }

    /// page_remove_rmap(): one PTE mapping fewer, in a VMA with flags `vm_flags` (a locked
    /// one munlocks the page). A THP subpage leaves NR_ANON_MAPPED only when no PMD maps its
    /// folio either, and then queues the folio for a deferred split. Locks: the PTL.
    pub(crate) fn page_remove_rmap(&mut self, pfn: Pfn, vm_flags: u64) {
        self.page_remove_rmap_counts(pfn);
        self.munlock_vma_page(pfn, vm_flags, false);
    }

    /// The counting of page_remove_rmap().
    fn page_remove_rmap_counts(&mut self, pfn: Pfn) {
        let p = self.pages.page_mut(pfn);
        p.mapcount -= 1;
        let mapcount = p.mapcount;
        self.trace(Event::RmapRemove { pfn, mapcount });
        let f = self.pages.folio(pfn);
        // hugetlb pages never enter NR_ANON_MAPPED.
        if mapcount != 0
            || !self.pages.folio_test(f, PageFlags::ANON)
            || self.pages.folio_test(f, PageFlags::HUGETLB)
        {
            return;
        }
        if !self.pages.folio_test_large(f) {
            self.vmstat.nr_anon_pages -= 1;
        } else if self.pages.compound_mapcount(f.pfn()) == 0 {
            self.vmstat.nr_anon_pages -= 1;
            self.deferred_split_huge_page(f);
        }
    }

    /// page_try_dup_anon_rmap(): fork shares an anonymous page mapped by a PTE (or a hugetlb
    /// entry), clearing PG_anon_exclusive. Fails (-EBUSY) for an exclusive page that may be
    /// DMA-pinned in `src`, which must then copy it for the child (5.18, without the flag,
    /// asks the same of every possibly pinned anonymous page).
    pub(crate) fn page_try_dup_anon_rmap(&mut self, pfn: Pfn, src: MmId) -> bool {
        if !self.anon_dup_allowed(pfn, src) {
            return false;
        }
        let p = self.pages.page_mut(pfn);
        p.flags.remove(PageFlags::ANON_EXCLUSIVE);
        p.mapcount += 1;
        true
    }

    /// page_try_dup_anon_rmap()'s test: may fork share the page at `pfn` (the head of a
    /// PMD-mapped THP or hugetlb page) with the child? Not if it is exclusive (any anonymous
    /// page in 5.18) and page_needs_cow_for_dma(): the mm has pinned and the page may be pinned.
    pub(crate) fn anon_dup_allowed(&self, pfn: Pfn, src: MmId) -> bool {
        let exclusive = !self.cfg.features.anon_exclusive || self.pages.page(pfn).anon_exclusive();
        !(exclusive && self.mms[src].has_pinned && self.page_maybe_dma_pinned(pfn))
    }

    /// page_count(): the references of the page's folio.
    #[inline]
    pub(crate) fn page_count(&self, pfn: Pfn) -> i32 {
        self.pages.folio_ref_count(self.pages.folio(pfn))
    }

    /// page_move_anon_rmap(): the faulting VMA now owns the page exclusively.
    pub(crate) fn page_move_anon_rmap(&mut self, pfn: Pfn, vma: &Vma) {
        let exclusive = self.anon_exclusive_flag();
        let f: Folio = self.pages.folio(pfn);
        let p = self.pages.page_mut(f.pfn());
        p.set_mapping(vma.anon_vma.or(p.mapping()));
        self.pages.page_mut(pfn).flags |= exclusive;
    }
}

/// The flush try_to_unmap() deferred (struct tlbflush_unmap_batch): the CPUs that may still
/// cache an unmapped entry, of any of the mms it unmapped from, flushed at once by
/// try_to_unmap_flush().
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct UnmapBatch {
    /// arch_tlbflush_unmap_batch.cpumask: the union of those mms' mm_cpumask.
    cpumask: u64,
}

/// One place page_vma_mapped_walk() found a folio mapped: a PTE (present, or a migration
/// entry of one of its pages) or a PMD mapping it whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mapped {
    Pte(u64, PteSlot),
    Pmd(u64, PmdSlot),
}

/// rmap_walk_control: what rmap_walk() does at each VMA that may map the folio.
pub(crate) trait RmapWalk {
    /// rmap_one(): the folio may be mapped in `vma` of `mm` from `addr` (vma_address() of its
    /// first page there). Break stops the walk.
    fn rmap_one(&mut self, k: &mut Kernel, mm: MmId, vma: &Vma, addr: u64) -> ControlFlow<()>;
}

impl Kernel {
    /// rmap_walk(): every VMA that may map `f`, at the address of the folio there:
    /// rmap_walk_anon() over the VMAs of the folio's anon_vma, rmap_walk_file() over its
    /// file's i_mmap. Locks: the anon_vma's root lock or i_mmap_rwsem, read; the folio lock.
    pub(crate) fn rmap_walk(&mut self, f: Folio, rwc: &mut impl RmapWalk) {
        // folio_lock_anon_vma_read(): nothing to walk once nothing maps the folio.
        if self.pages.folio_test(f, PageFlags::ANON) && self.pages.folio_mapcount(f) == 0 {
            return;
        }
        self.rmap_walk_locked(f, rwc);
    }

    /// rmap_walk_locked(): rmap_walk() for a caller that holds the anon_vma itself (it looks
    /// at the anon_vma even when nothing maps the folio, as remove_migration_ptes() needs).
    pub(crate) fn rmap_walk_locked(&mut self, f: Folio, rwc: &mut impl RmapWalk) {
        let mapping = self.pages.folio_mapping(f);
        let index = self.pages.page(f.pfn()).index();
        let nr = self.pages.folio_nr_pages(f);
        let vmas: Vec<VmaId> = if self.pages.folio_test(f, PageFlags::ANON) {
            self.rmap
                .anon_vmas
                .get(&mapping.unwrap_or_default())
                .map(|a| a.vmas.iter().copied().collect())
                .unwrap_or_default()
        } else {
            mapping
                .and_then(|m| self.inodes.get(m as usize))
                .map(|i| i.i_mapping.i_mmap.iter().copied().collect())
                .unwrap_or_default()
        };
        for id in vmas {
            let Some((mm, v)) = self.vma_by_id(id) else {
                continue;
            };
            let Some(addr) = vma_address(v, index, nr) else {
                continue;
            };
            let v = v.for_fault();
            if rwc.rmap_one(self, mm, &v, addr).is_break() {
                return;
            }
        }
    }

    /// page_vma_mapped_walk(): where in `vma` of `mm`, from `addr`, the folio `f` is mapped:
    /// its PMD, or PTEs mapping one of its pages (present, or as a migration entry).
    /// Locks: takes each table's PTL (the PMD lock for a huge entry) while it looks.
    pub(crate) fn page_vma_mapped(&self, f: Folio, mm: MmId, vma: &Vma, addr: u64) -> Vec<Mapped> {
        let nr = self.pages.folio_nr_pages(f);
        let first = self.pages.page(f.pfn()).index();
        let end = (vma.start + ((first + nr).saturating_sub(vma.pgoff) << 12)).min(vma.end);
        let mut w = PvmwWalk {
            f,
            nr,
            hits: Vec::new(),
        };
        if addr < end {
            let _ = walk_page_range(&mut &*self, mm, addr, end, &mut w);
        }
        w.hits
    }

    /// folio_referenced(): how many mappings of `f` were accessed since the last look, and
    /// the flags of the VMAs they are in. Each accessed PTE loses its accessed bit without a
    /// TLB flush (x86's ptep_clear_flush_young(): a stale entry only delays the next
    /// reference), an accessed PMD loses it with a flush of its 2 MiB; a reference through a
    /// VM_SEQ_READ mapping does not count; the folio's own PG_young counts once per VMA that
    /// sees it. A VM_LOCKED VMA that maps it (a small folio, or a large one by PMD) ends the
    /// walk with VM_LOCKED in the flags (5.19 also restores the missed mlock there; mlock is
    /// not modelled yet). Locks: the folio lock (taken here for a file folio); the anon_vma
    /// or i_mmap_rwsem, read.
    pub fn folio_referenced(&mut self, f: Folio) -> Referenced {
        let mapcount = self.pages.folio_mapcount(f);
        if mapcount <= 0 || self.pages.folio_mapping(f).is_none() {
            return Referenced::default();
        }
        let mut w = FolioReferenced {
            f,
            mapcount,
            found: Referenced::default(),
        };
        self.rmap_walk(f, &mut w);
        w.found
    }

    /// folio_mkclean(): write-protect and clean every shared mapping of a page-cache folio
    /// that is dirty or writable (each PTE cleared and flushed first, each PMD invalidated), so
    /// the next write faults and dirties the folio again; the number of entries cleaned. An
    /// anonymous folio (no address_space) and private mappings are left alone. Locks: the
    /// folio lock; i_mmap_rwsem, read.
    pub fn folio_mkclean(&mut self, f: Folio) -> u32 {
        if self.pages.folio_test(f, PageFlags::ANON) || self.pages.folio_mapcount(f) <= 0 {
            return 0;
        }
        let mut w = FolioMkclean { f, cleaned: 0 };
        self.rmap_walk(f, &mut w);
        w.cleaned
    }

    /// try_to_unmap() of a page-cache folio (TTU_SPLIT_HUGE_PMD | TTU_BATCH_FLUSH, as
    /// collapse_file(), split_huge_page() and reclaim pass it): try_to_unmap_one() in every
    /// VMA of the file that maps it, then the deferred flush. Locks: the folio lock;
    /// i_mmap_rwsem, read.
    pub(crate) fn try_to_unmap_file(&mut self, f: Folio) {
        let mut w = TryToUnmap {
            f,
            batch: UnmapBatch::default(),
        };
        self.rmap_walk(f, &mut w);
        self.try_to_unmap_flush(w.batch);
    }

    /// try_to_unmap(TTU_BATCH_FLUSH | TTU_SPLIT_HUGE_PMD) for reclaim: every mapping of the
    /// folio goes (a PMD mapping is split first). An anonymous page in the swap cache leaves
    /// a swap PTE; a lazily freed one that is still clean and unreferenced leaves nothing. A
    /// VM_LOCKED mapping, a redirtied lazyfree page or a pinned exclusive page stops it;
    /// the caller sees the folio still mapped. Locks: the folio lock; the anon_vma or
    /// i_mmap_rwsem, read.
    pub(crate) fn try_to_unmap(&mut self, f: Folio, batch: &mut UnmapBatch) {
        let mut w = TryToUnmap { f, batch: *batch };
        self.rmap_walk(f, &mut w);
        *batch = w.batch;
    }

    /// try_to_unmap_one() for one present PTE of an anonymous page: false if the mapping
    /// must stay (the PTE is back as it was).
    fn try_to_unmap_one_anon(
        &mut self,
        batch: &mut UnmapBatch,
        (mm, addr, vm_flags): (MmId, u64, u64),
        slot: PteSlot,
    ) -> bool {
        self.mms[mm].update_hiwater_rss();
        let pte = table::get(&self.phys, slot);
        let pfn = pte.pfn();
        let f = self.pages.folio(pfn);
        let anon_exclusive = self.pages.page(pfn).anon_exclusive();
        // ptep_clear_flush() for an exclusive page (a GUP-fast racing with it must see the
        // entry gone), else ptep_get_and_clear() with the flush deferred.
        table::set(&mut self.phys, slot, Pte::NONE);
        let remote = self.mms[mm].cpumask & !(1u64 << self.current_cpu) != 0;
        if remote && !anon_exclusive {
            batch.cpumask |= self.mms[mm].cpumask;
        } else {
            self.flush_tlb_page(mm, addr);
        }
        if pte.dirty() {
            self.set_page_dirty(pfn);
        }
        let m = &self.pages;
        if !m.folio_test(f, PageFlags::SWAPBACKED) {
            // MADV_FREE page: discard it if nobody wrote it or holds it since.
            let refs = m.folio_ref_count(f);
            if refs == 1 + m.folio_mapcount(f) && !m.folio_test(f, PageFlags::DIRTY) {
                self.mms[mm].rss_anon -= 1;
                self.page_remove_rmap(pfn, vm_flags);
                self.put_page(pfn);
                return true;
            }
            table::set(&mut self.phys, slot, pte);
            self.pages.folio_set(f, PageFlags::SWAPBACKED);
            return false;
        }
        if !m.folio_test(f, PageFlags::SWAPCACHE) {
            table::set(&mut self.phys, slot, pte);
            return false;
        }
        let entry = self.page_swap_entry(pfn);
        if !self.swap_duplicate(entry) {
            table::set(&mut self.phys, slot, pte);
            return false;
        }
        // page_try_share_anon_rmap(): a possibly pinned page stays exclusive and mapped.
        if anon_exclusive {
            if self.folio_maybe_dma_pinned(f) {
                self.swap_entry_put(entry);
                table::set(&mut self.phys, slot, pte);
                return false;
            }
            self.pages
                .page_mut(pfn)
                .flags
                .remove(PageFlags::ANON_EXCLUSIVE);
        }
        let bits = SwpPteBits {
            soft_dirty: pte.soft_dirty(),
            uffd_wp: pte.uffd_wp(),
            exclusive: anon_exclusive && self.cfg.features.anon_exclusive,
        };
        table::set(
            &mut self.phys,
            slot,
            Pte::swp(
                SwpKind::Swap {
                    typ: entry.typ,
                    offset: entry.offset,
                },
                bits,
            ),
        );
        let m = &mut self.mms[mm];
        m.rss_anon -= 1;
        m.rss_swapents += 1;
        self.page_remove_rmap(pfn, vm_flags);
        self.put_page(pfn);
        true
    }

    /// try_to_unmap_one() for one present PTE of a file page at `addr` of `mm`: clear it (the
    /// flush deferred into `batch` when another CPU may cache it, should_defer_flush(), else
    /// done now), leave a uffd-wp marker where the VMA is registered (`arm_markers`,
    /// pte_install_uffd_wp_if_needed()), move the dirty bit to the folio, and drop the
    /// mapping and its reference.
    pub(crate) fn try_to_unmap_one(
        &mut self,
        batch: &mut UnmapBatch,
        (mm, addr): (MmId, u64),
        slot: PteSlot,
        arm_markers: bool,
        vm_flags: u64,
    ) {
        self.mms[mm].update_hiwater_rss();
        let pte = table::get(&self.phys, slot);
        let remote = self.mms[mm].cpumask & !(1u64 << self.current_cpu) != 0;
        let left = if arm_markers && pte.uffd_wp() {
            Pte::marker(PTE_MARKER_UFFD_WP)
        } else {
            Pte::NONE
        };
        table::set(&mut self.phys, slot, left);
        if remote {
            // set_tlb_ubc_flush_pending() → arch_tlbbatch_add_mm()
            batch.cpumask |= self.mms[mm].cpumask;
        } else {
            self.flush_tlb_page(mm, addr);
        }
        let pfn = pte.pfn();
        if pte.dirty() {
            self.set_page_dirty(pfn);
        }
        self.mms[mm].rss_shmem -= 1;
        self.page_remove_rmap(pfn, vm_flags);
        self.put_page(pfn);
    }

    /// try_to_unmap_flush(): the deferred flush. x86's arch_tlbbatch_flush() flushes every
    /// CPU of the batch's mask whole (flush_tlb_multi() with the full-flush info, and
    /// flush_tlb_func() locally), whichever address spaces their entries belong to.
    pub(crate) fn try_to_unmap_flush(&mut self, batch: UnmapBatch) {
        if batch.cpumask == 0 {
            return;
        }
        let me = self.current_cpu;
        let mut remote = false;
        for cpu in 0..self.tlbs.len() {
            if batch.cpumask & (1 << cpu) == 0 {
                continue;
            }
            let t = &mut self.tlbs[cpu];
            t.flushes += 1;
            t.flush_all();
            if cpu == me {
                self.vmstat.nr_tlb_local_flush_all += 1;
            } else {
                remote = true;
                self.vmstat.nr_tlb_remote_flush_received += 1;
            }
        }
        if remote {
            self.vmstat.nr_tlb_remote_flush += 1;
        }
        self.trace(Event::TlbFlush {
            mm: usize::MAX,
            start: 0,
            end: u64::MAX,
            full: true,
            cpus: batch.cpumask.count_ones(),
        });
    }

    /// try_to_migrate() of an anonymous or page-cache folio: every mapping becomes a migration entry
    /// (writable, readable-exclusive or readable, keeping soft-dirty and uffd-wp) and loses its
    /// mapping and reference. With TTU_SPLIT_HUGE_PMD (`split_pmd`, split_huge_page()'s
    /// unmap_page()) each PMD mapping is split first; without (migration), a PMD mapping
    /// becomes one PMD migration entry (set_pmd_migration_entry()). An exclusive page that may
    /// be pinned cannot be shared (page_try_share_anon_rmap()): its entry stays as it was and
    /// the walk stops there ("mm/rmap: fail try_to_migrate() early when setting a PMD
    /// migration entry fails", and the same for a PTE). False when it stopped so.
    /// Locks: the folio lock; the anon_vma root lock, read.
    pub(crate) fn try_to_migrate(&mut self, f: Folio, split_pmd: bool) -> bool {
        let mut w = TryToMigrate {
            f,
            split_pmd,
            ok: true,
        };
        self.rmap_walk(f, &mut w);
        w.ok
    }

    /// remove_migration_ptes(src, dst): every migration entry of `src`'s pages becomes an
    /// entry mapping the same page of `dst` (`src` itself when the migration failed, and after
    /// a split each new folio in turn): old and clean, writable if the entry was and the VMA
    /// is, PG_anon_exclusive again unless it was only readable; a PMD migration entry maps
    /// `dst` whole again (remove_migration_pmd()).
    /// Locks: the folio locks; the anon_vma root lock, read (held by the caller).
    pub(crate) fn remove_migration_ptes(&mut self, src: Folio, dst: Folio) {
        self.rmap_walk_locked(src, &mut RemoveMigrationPtes { src, dst });
    }

    /// page_try_share_anon_rmap(): before an exclusive anonymous page's mapping is replaced by
    /// a migration entry (or a swap entry), its PG_anon_exclusive goes, unless the page may be
    /// pinned (folio_maybe_dma_pinned()): then false, and the caller must leave the mapping.
    pub(crate) fn page_try_share_anon_rmap(&mut self, pfn: Pfn) -> bool {
        if !self.pages.page(pfn).anon_exclusive() {
            return true;
        }
        if self.folio_maybe_dma_pinned(self.pages.folio(pfn)) {
            return false;
        }
        self.pages
            .page_mut(pfn)
            .flags
            .remove(PageFlags::ANON_EXCLUSIVE);
        true
    }

    /// page_add_anon_rmap() of a page already anonymous (swap-in, swapoff, migration's
    /// return): one more mapping, PG_anon_exclusive if the caller knows it is exclusive
    /// (RMAP_EXCLUSIVE, where the profile has the flag).
    pub(crate) fn page_add_anon_rmap(&mut self, pfn: Pfn, vma: &Vma, addr: u64, exclusive: bool) {
        let flag = self.anon_exclusive_flag();
        // __page_set_anon_rmap(): a page read from swap becomes anonymous when first mapped,
        // under the VMA's anon_vma if exclusive, else under its root (any process of the
        // fork tree may map it).
        let av = vma.anon_vma.unwrap_or(0);
        let av = if exclusive {
            av
        } else {
            self.rmap.anon_vmas.get(&av).map_or(av, |a| a.root)
        };
        // PageAnon() is the folio's: a THP's subpage (its migration's return) finds its head
        // anonymous already, and keeps its tail links.
        let f = self.pages.folio(pfn);
        if !self.pages.folio_test(f, PageFlags::ANON) {
            let head = self.pages.page_mut(f.pfn());
            head.flags |= PageFlags::ANON;
            head.set_mapping(Some(av));
            head.index = vma.linear_page_index(addr);
        }
        let p = self.pages.page_mut(pfn);
        p.mapcount += 1;
        let mapcount = p.mapcount;
        if exclusive {
            p.flags |= flag;
        }
        if mapcount == 1 {
            self.vmstat.nr_anon_pages += 1;
        }
        self.trace(Event::RmapAdd { pfn, mapcount });
        let f = self.pages.folio(pfn);
        self.mlock_vma_folio(f, vma.flags, false);
    }

    /// remove_migration_pte() for one entry: `src`'s page in it becomes the page at the same
    /// offset of `dst`.
    fn remove_migration_pte(
        &mut self,
        vma: &Vma,
        addr: u64,
        slot: PteSlot,
        (src, dst): (Folio, Folio),
    ) {
        let PteKind::Swp(kind, bits) = table::get(&self.phys, slot).kind() else {
            return;
        };
        let (pfn, writable, exclusive) = match kind {
            SwpKind::MigrationWrite { pfn } => (pfn, true, true),
            SwpKind::MigrationReadExclusive { pfn } => (pfn, false, true),
            SwpKind::MigrationRead { pfn } => (pfn, false, false),
            SwpKind::Swap { .. }
            | SwpKind::DevicePrivate { .. }
            | SwpKind::DeviceExclusive { .. }
            | SwpKind::Hwpoison { .. }
            | SwpKind::Marker { .. }
            | SwpKind::SwapinError { .. } => return,
        };
        let pfn = dst.pfn() + Pfn(pfn).offset_from(src.pfn());
        let mut pte = Pte::pfn_pte(pfn, vma.page_prot()).mkold();
        if bits.soft_dirty {
            pte = pte.mksoft_dirty();
        }
        if writable && vma.flags & crate::mm::vma::vm::VM_WRITE != 0 {
            pte = pte.mkwrite();
        } else if bits.uffd_wp {
            pte = pte.mkuffd_wp();
        }
        self.get_page(pfn);
        if self.pages.folio_test(dst, PageFlags::ANON) {
            self.page_add_anon_rmap(pfn, vma, addr, exclusive);
        } else {
            self.page_add_file_rmap(pfn, vma);
        }
        table::set(&mut self.phys, slot, pte);
    }
}

/// vma_address(): where in `vma` a folio of `nr` pages at offset `index` starts (the VMA's
/// start if only its tail falls inside), or None if none of it does.
fn vma_address(vma: &Vma, index: u64, nr: u64) -> Option<u64> {
    if index >= vma.pgoff {
        let a = vma
            .start
            .checked_add((index - vma.pgoff) << 12)
            .filter(|&a| a < vma.end)?;
        Some(a)
    } else if index + nr > vma.pgoff {
        Some(vma.start)
    } else {
        None
    }
}

/// page_vma_mapped_walk() as walker callbacks: the entries of one VMA range mapping a folio.
struct PvmwWalk {
    f: Folio,
    nr: u64,
    hits: Vec<Mapped>,
}

impl PvmwWalk {
    /// Is `pfn` a page of the folio?
    fn ours(&self, pfn: Pfn) -> bool {
        pfn >= self.f.pfn() && pfn.offset_from(self.f.pfn()) < self.nr
    }
}

impl<'k> MmWalk<&'k Kernel> for PvmwWalk {
    fn pmd_entry(
        &mut self,
        _k: &mut &'k Kernel,
        addr: u64,
        _next: u64,
        slot: PmdSlot,
        e: PmdKind,
    ) -> ControlFlow<(), PmdAction> {
        ControlFlow::Continue(match e {
            PmdKind::Leaf(p) if p.pfn() == self.f.pfn() => {
                self.hits.push(Mapped::Pmd(addr & !((1 << 21) - 1), slot));
                PmdAction::Done
            }
            PmdKind::Table(_) => PmdAction::Descend,
            PmdKind::Swp(kind, _) if kind.migration_pfn() == Some(self.f.pfn().0) => {
                self.hits.push(Mapped::Pmd(addr & !((1 << 21) - 1), slot));
                PmdAction::Done
            }
            PmdKind::Leaf(_) | PmdKind::None | PmdKind::Swp(..) => PmdAction::Done,
        })
    }

    fn pte_entry(
        &mut self,
        _k: &mut &'k Kernel,
        addr: u64,
        slot: PteSlot,
        e: PteKind,
    ) -> ControlFlow<()> {
        let pfn = match e {
            PteKind::Present(p) if !p.special() => Some(p.pfn()),
            PteKind::Swp(
                SwpKind::MigrationRead { pfn }
                | SwpKind::MigrationReadExclusive { pfn }
                | SwpKind::MigrationWrite { pfn },
                _,
            ) => Some(Pfn(pfn)),
            PteKind::Present(_) | PteKind::None | PteKind::Swp(..) => None,
        };
        if pfn.is_some_and(|p| self.ours(p)) {
            self.hits.push(Mapped::Pte(addr, slot));
        }
        ControlFlow::Continue(())
    }
}

/// What folio_referenced() returns: the count (`referenced`) and `*vm_flags`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Referenced {
    /// VMAs in which the folio was referenced (an accessed entry, or PG_young).
    pub referenced: u32,
    /// The flags of those VMAs (VM_LOCKED alone says a locked VMA maps the folio).
    pub vm_flags: u64,
}

/// folio_referenced_one() as an rmap_one.
struct FolioReferenced {
    f: Folio,
    /// The mappings not seen yet; the walk ends when none are left.
    mapcount: i32,
    found: Referenced,
}

impl RmapWalk for FolioReferenced {
    fn rmap_one(&mut self, k: &mut Kernel, mm: MmId, vma: &Vma, addr: u64) -> ControlFlow<()> {
        let large = k.pages.folio_test_large(self.f);
        let mut referenced = 0;
        for m in k.page_vma_mapped(self.f, mm, vma, addr) {
            if vma.flags & VM_LOCKED != 0 && (!large || matches!(m, Mapped::Pmd(..))) {
                // The missed mlock restored.
                k.mlock_vma_folio(self.f, vma.flags, matches!(m, Mapped::Pmd(..)));
                self.found.vm_flags |= VM_LOCKED;
                return ControlFlow::Break(());
            }
            match m {
                Mapped::Pte(_, slot) => {
                    let pte = table::get(&k.phys, slot);
                    if pte.young() {
                        table::set(&mut k.phys, slot, pte.mkold());
                        if vma.flags & VM_SEQ_READ == 0 {
                            referenced += 1;
                        }
                    }
                }
                Mapped::Pmd(haddr, slot) => {
                    let pmd = table::get_pmd(&k.phys, slot);
                    if pmd.young() {
                        table::set_pmd(&mut k.phys, slot, pmd.mkold());
                        k.flush_tlb_mm_range(mm, haddr, haddr + HPAGE_SIZE);
                        referenced += 1;
                    }
                }
            }
            self.mapcount -= 1;
        }
        if k.pages.folio_test(self.f, PageFlags::YOUNG) {
            k.pages.folio_clear(self.f, PageFlags::YOUNG);
            referenced += 1;
        }
        if referenced > 0 {
            self.found.referenced += 1;
            self.found.vm_flags |= vma.flags & !VM_LOCKED;
        }
        if self.mapcount == 0 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }
}

/// page_mkclean_one() as an rmap_one (invalid_mkclean_vma(): shared VMAs only).
struct FolioMkclean {
    f: Folio,
    cleaned: u32,
}

impl RmapWalk for FolioMkclean {
    fn rmap_one(&mut self, k: &mut Kernel, mm: MmId, vma: &Vma, addr: u64) -> ControlFlow<()> {
        if vma.flags & VM_SHARED == 0 {
            return ControlFlow::Continue(());
        }
        for m in k.page_vma_mapped(self.f, mm, vma, addr) {
            match m {
                Mapped::Pte(a, slot) => {
                    let pte = table::get(&k.phys, slot);
                    if !pte.dirty() && !pte.write() {
                        continue;
                    }
                    // ptep_clear_flush()
                    table::set(&mut k.phys, slot, Pte::NONE);
                    k.flush_tlb_mm_range(mm, a, a + PAGE_SIZE);
                    table::set(&mut k.phys, slot, pte.wrprotect().mkclean());
                }
                Mapped::Pmd(haddr, slot) => {
                    let pmd = table::get_pmd(&k.phys, slot);
                    if !pmd.dirty() && !pmd.write() {
                        continue;
                    }
                    // pmdp_invalidate()
                    k.flush_tlb_mm_range(mm, haddr, haddr + HPAGE_SIZE);
                    table::set_pmd(&mut k.phys, slot, pmd.wrprotect().mkclean());
                }
            }
            self.cleaned += 1;
        }
        ControlFlow::Continue(())
    }
}

/// try_to_unmap()'s rmap_one (try_to_unmap_one()).
struct TryToUnmap {
    f: Folio,
    batch: UnmapBatch,
}

impl RmapWalk for TryToUnmap {
    fn rmap_one(&mut self, k: &mut Kernel, mm: MmId, vma: &Vma, addr: u64) -> ControlFlow<()> {
        let anon = k.pages.folio_test(self.f, PageFlags::ANON);
        // A file folio is unmapped here for a split too, which ignores mlock.
        if anon && vma.flags & VM_LOCKED != 0 {
            // The folio stays, its missed mlock restored, and the walk ends.
            k.mlock_vma_folio(self.f, vma.flags, false);
            return ControlFlow::Break(());
        }
        // split_huge_pmd_address(): a PMD mapping is split (a file one cleared) first.
        k.split_huge_pmd(mm, addr & !((1 << 21) - 1));
        let arm = vma.flags & VM_UFFD_WP != 0;
        for hit in k.page_vma_mapped(self.f, mm, vma, addr) {
            if let Mapped::Pte(a, slot) = hit {
                if !table::get(&k.phys, slot).is_present() {
                    continue;
                }
                if !anon {
                    k.try_to_unmap_one(&mut self.batch, (mm, a), slot, arm, vma.flags);
                } else if !k.try_to_unmap_one_anon(&mut self.batch, (mm, a, vma.flags), slot) {
                    return ControlFlow::Break(());
                }
            }
        }
        ControlFlow::Continue(())
    }
}

/// try_to_migrate()'s rmap_one (try_to_migrate_one()) for an anonymous folio.
struct TryToMigrate {
    f: Folio,
    split_pmd: bool,
    /// Cleared when a page could not be shared (pinned): the walk stops.
    ok: bool,
}

impl RmapWalk for TryToMigrate {
    fn rmap_one(&mut self, k: &mut Kernel, mm: MmId, vma: &Vma, addr: u64) -> ControlFlow<()> {
        if self.split_pmd {
            // TTU_SPLIT_HUGE_PMD: split_huge_pmd_address() first.
            k.split_huge_pmd(mm, addr & !((1 << 21) - 1));
        }
        for hit in k.page_vma_mapped(self.f, mm, vma, addr) {
            let done = match hit {
                Mapped::Pte(a, slot) => k.migrate_one_pte(mm, vma, a, slot),
                Mapped::Pmd(haddr, slot) => k.set_pmd_migration_entry(mm, vma, haddr, slot),
            };
            if !done {
                self.ok = false;
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    }
}

impl Kernel {
    /// try_to_migrate_one() for one present PTE: a migration entry in its place. False if the
    /// page is exclusive and may be pinned (the PTE is put back as it was).
    fn migrate_one_pte(&mut self, mm: MmId, vma: &Vma, a: u64, slot: PteSlot) -> bool {
        let pte = table::get(&self.phys, slot);
        if !pte.is_present() {
            return true;
        }
        // ptep_clear_flush(): flushed at once for each entry.
        table::set(&mut self.phys, slot, Pte::NONE);
        self.flush_tlb_page(mm, a);
        let pfn = pte.pfn();
        if pte.dirty() {
            self.set_page_dirty(pfn);
        }
        // page_try_share_anon_rmap(): exclusivity moves into the entry's type.
        let exclusive = self.pages.page(pfn).anon_exclusive();
        if !self.page_try_share_anon_rmap(pfn) {
            table::set(&mut self.phys, slot, pte);
            return false;
        }
        let kind = SwpKind::migration(pfn.0, pte.write(), exclusive);
        let bits = SwpPteBits {
            soft_dirty: pte.soft_dirty(),
            uffd_wp: pte.uffd_wp(),
            exclusive: false,
        };
        // The RSS keeps counting the page: a migration entry stands for it.
        table::set(&mut self.phys, slot, Pte::swp(kind, bits));
        self.page_remove_rmap(pfn, vma.flags);
        self.put_page(pfn);
        true
    }

    /// set_pmd_migration_entry(): a PMD mapping a THP whole becomes one migration entry for
    /// its head. 5.19 returns -EBUSY, the PMD restored, when the folio is exclusive and may be
    /// pinned; 5.18's had no way to fail (and no exclusivity to keep).
    /// Locks: the PMD lock.
    fn set_pmd_migration_entry(&mut self, mm: MmId, vma: &Vma, haddr: u64, slot: PmdSlot) -> bool {
        let pmd = table::get_pmd(&self.phys, slot);
        if !pmd.is_leaf() {
            return true;
        }
        // pmdp_invalidate(), flushed.
        self.flush_tlb_mm_range(mm, haddr, haddr + HPAGE_SIZE);
        let head = pmd.pfn();
        if pmd.dirty() {
            self.set_page_dirty(head);
        }
        let exclusive = self.pages.page(head).anon_exclusive();
        if !self.page_try_share_anon_rmap(head) {
            return false;
        }
        let kind = SwpKind::migration(head.0, pmd.write(), exclusive);
        let bits = SwpPteBits {
            soft_dirty: pmd.soft_dirty(),
            uffd_wp: pmd.uffd_wp(),
            exclusive: false,
        };
        table::set_pmd(&mut self.phys, slot, Pmd::swp(kind, bits));
        let f = Folio(head);
        self.thp_remove_compound_rmap(f, vma.flags);
        self.folio_put(f);
        true
    }

    /// remove_migration_pmd(): the PMD migration entry maps the folio `dst` whole again, old
    /// and clean, writable if the entry was (and the VMA is); an anonymous folio is exclusive
    /// unless the entry was only readable, a page-cache one gets its file mapping
    /// (page_add_file_rmap(compound)); the folio is mlocked in a locked VMA.
    fn remove_migration_pmd(&mut self, vma: &Vma, slot: PmdSlot, dst: Folio) {
        let PmdKind::Swp(kind, bits) = table::get_pmd(&self.phys, slot).kind() else {
            return;
        };
        let (writable, exclusive) = match kind {
            SwpKind::MigrationWrite { .. } => (true, true),
            SwpKind::MigrationReadExclusive { .. } => (false, true),
            _ => (false, false),
        };
        let mut pmd = Pmd::huge(dst.pfn(), vma.page_prot());
        if bits.soft_dirty {
            pmd = pmd.mksoft_dirty();
        }
        if writable && vma.flags & crate::mm::vma::vm::VM_WRITE != 0 {
            pmd = pmd.mkwrite();
        }
        if bits.uffd_wp {
            pmd = pmd.wrprotect().mkuffd_wp();
        }
        self.folio_get(dst);
        let first = self.pages.add_compound_mapcount(dst.pfn(), 1) == 1;
        if !self.pages.folio_test(dst, PageFlags::ANON) {
            // page_add_file_rmap(compound): NR_SHMEM_PMDMAPPED counts the first PMD mapping.
            if first {
                self.vmstat.nr_shmem_pmdmapped += 1;
            }
            self.mlock_vma_folio(dst, vma.flags, true);
            table::set_pmd(&mut self.phys, slot, pmd);
            return;
        }
        // page_add_anon_rmap(RMAP_COMPOUND, RMAP_EXCLUSIVE unless readable).
        if first {
            self.vmstat.nr_anon_transparent_hugepages += 1;
            let unmapped = dst
                .pfn()
                .range(HPAGE_SIZE >> 12)
                .filter(|&p| self.pages.page(p).mapcount() == 0)
                .count() as u64;
            self.vmstat.nr_anon_pages += unmapped;
        }
        if exclusive {
            let flag = self.anon_exclusive_flag();
            self.pages.page_mut(dst.pfn()).flags |= flag;
        }
        self.mlock_vma_folio(dst, vma.flags, true);
        table::set_pmd(&mut self.phys, slot, pmd);
    }
}

/// remove_migration_ptes()'s rmap_one (remove_migration_pte()).
struct RemoveMigrationPtes {
    src: Folio,
    dst: Folio,
}

impl RmapWalk for RemoveMigrationPtes {
    fn rmap_one(&mut self, k: &mut Kernel, mm: MmId, vma: &Vma, addr: u64) -> ControlFlow<()> {
        for hit in k.page_vma_mapped(self.src, mm, vma, addr) {
            match hit {
                Mapped::Pte(a, slot) => k.remove_migration_pte(vma, a, slot, (self.src, self.dst)),
                Mapped::Pmd(_, slot) => k.remove_migration_pmd(vma, slot, self.dst),
            }
        }
        ControlFlow::Continue(())
    }
}
