//! mm/migrate.c: moving an anonymous or page-cache folio (shmem, the disk filesystem) to a
//! frame on another node. Its mappings, in every process, become migration entries
//! (try_to_migrate(), over the anon_vma or the file's i_mmap), a fault on one waits until the migration ends
//! (migration_entry_wait()), the contents and flags are copied once nothing but the
//! migration holds the folio, and the entries become mappings of the new folio
//! (remove_migration_ptes()), exclusive again where the entry says so. move_pages(2) is here;
//! the policy-driven callers (mbind, migrate_pages) are in mempolicy.rs.
//!
//! A page-cache folio's xarray slot takes the new folio (folio_migrate_mapping()), as both
//! shmem_aops' migratepage (migrate_page()) and ext4's (buffer_migrate_page(), which is
//! migrate_page() for a folio without buffer heads, the model's only kind) do in 5.19.
//!
//! An anonymous folio in the swap cache migrates the same way: its mapping is the swap
//! address space (migrate_page() there too), whose slot, PG_swapcache and entry move to the
//! new folio. A shmem THP migrates whole (x86-64 supports THP migration): a PMD mapping
//! becomes one PMD migration entry, the file's 512 slots take the new folio, and only a
//! missing huge destination splits it (try_split_thp()). MPOL_MF_MOVE_ALL needs CAP_SYS_NICE.
//! hugetlb pages take their own path, in migrate_hugetlb.rs (unmap_and_move_huge_page()).
//!
//! Not modelled: a large anonymous folio in the swap cache stays (EBUSY): 5.19 replaces only
//! the first of its slots, a use-after-free fixed in 6.8.

use std::collections::VecDeque;

use crate::errno::{Errno, SysResult};
use crate::fs::inode::Ino;
use crate::kernel::Kernel;
use crate::mm::mempolicy::{node_bit, vma_migratable, AllocContext};
use crate::mm::swap_state::{private_to_entry, CacheSlot};
use crate::mm::vm_fault::{FaultFlags, VmFault};
use crate::mm::vma::{Backing, Vma};
use crate::mm::MmId;
use crate::page::alloc::ZERO_PFN;
use crate::page::{Folio, PageFlags, Pfn};
use crate::pgtable::pmd::PmdKind;
use crate::pgtable::pte::PteKind;
use crate::pgtable::table::{self, Leaf};
use crate::sched::{Tid, WaitReason};
use crate::sys::CAP_SYS_NICE;
use crate::uapi::mempolicy::{MAX_NUMNODES, MPOL_MF_MOVE, MPOL_MF_MOVE_ALL};

/// Where migrate_pages() allocates the new folios (its get_new_page callback).
#[derive(Clone, Copy, Debug)]
pub(crate) enum MigrateTarget {
    /// alloc_migration_target(): on this node only (__GFP_THISNODE).
    Node(usize),
    /// mbind's new_page(): by the policy of the first VMA of `mm` from the range's start
    /// (the second field) that the folio falls in.
    VmaPolicy(MmId, u64),
}

/// The address space whose slots hold a folio being migrated (folio_mapping()).
#[derive(Clone, Copy, Debug)]
enum MigrateMapping {
    /// A file's page cache (shmem or the disk filesystem).
    PageCache(Ino),
    /// The swap cache (swap_address_space() of the folio's entry).
    SwapCache,
}

/// A migration between its unmap and its copy: `src` mapped only by migration entries,
/// `dst` allocated. `model.migrate_begin` leaves one so; `model.migrate_end` finishes it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PendingMigration {
    pub(crate) src: Folio,
    pub(crate) dst: Folio,
    /// page_was_mapped: entries were installed and must be removed.
    pub(crate) was_mapped: bool,
}

impl PendingMigration {
    /// Is `pfn` a page of the folio under migration?
    pub(crate) fn covers(&self, k: &Kernel, pfn: Pfn) -> bool {
        pfn >= self.src.pfn() && pfn.offset_from(self.src.pfn()) < k.pages.folio_nr_pages(self.src)
    }
}

/// What follow_page(FOLL_GET | FOLL_DUMP) finds for move_pages(): a page, nothing (NULL),
/// or an error pointer.
enum Followed {
    Page(Pfn),
    Nothing,
    Err(Errno),
}

impl Kernel {
    /// follow_page(vma, addr, FOLL_GET | FOLL_DUMP) as move_pages() uses it: the zero pages
    /// and special entries are EFAULT (FOLL_DUMP); an empty entry or missing table is EFAULT
    /// in a VMA without a fault handler (anonymous: no_page_table()), NULL in one with; a
    /// swap or migration entry is NULL.
    fn follow_page_dump(&self, mm: MmId, vma: &Vma, addr: u64) -> Followed {
        let no_page_table = if vma.is_anonymous() {
            Followed::Err(Errno::EFAULT)
        } else {
            Followed::Nothing
        };
        let pgd = self.mms[mm].pgd;
        let Some(pmd) = table::pmd_slot(&self.phys, pgd, addr) else {
            return no_page_table;
        };
        match table::get_pmd(&self.phys, pmd).kind() {
            PmdKind::None | PmdKind::Swp(..) => no_page_table,
            PmdKind::Leaf(e) => {
                if Some(Folio(e.pfn())) == self.thp.huge_zero {
                    Followed::Err(Errno::EFAULT)
                } else {
                    Followed::Page(e.pfn() + ((addr >> 12) & 511))
                }
            }
            PmdKind::Table(_) => {
                let Some(Leaf::Pte(slot)) = table::walk_leaf(&self.phys, pgd, addr) else {
                    return no_page_table;
                };
                match table::get(&self.phys, slot).kind() {
                    PteKind::None => no_page_table,
                    PteKind::Swp(..) => Followed::Nothing,
                    PteKind::Present(p) if p.special() || p.pfn() == ZERO_PFN => {
                        Followed::Err(Errno::EFAULT)
                    }
                    PteKind::Present(p) => Followed::Page(p.pfn()),
                }
            }
        }
    }

    /// find_mm_struct(): the address space of process `pid` (a pid as user space sees it),
    /// the caller's for 0; ESRCH for no such process, EINVAL for one that has no mm left (a
    /// zombie: get_task_mm() finds none).
    pub(crate) fn find_mm_struct(&self, tid: Tid, pid: u64) -> SysResult<MmId> {
        if pid == 0 {
            return Ok(self.tasks[tid].mm);
        }
        let p = self.find_vpid(pid).ok_or(Errno::ESRCH)?;
        self.procs
            .get(p)
            .filter(|p| !p.threads.is_empty())
            .map(|p| p.mm)
            .ok_or(Errno::EINVAL)
    }

    /// move_pages(2): with `nodes`, move each of the `nr_pages` pages listed at `pages` to
    /// the node listed for it, writing each page's node (or a negative errno: EFAULT, ENOENT,
    /// EACCES for a shared page without MPOL_MF_MOVE_ALL, EBUSY) at `status`; returns 0, or
    /// how many pages were not moved when a batch failed (their status stays unwritten).
    /// Without `nodes`, only report each page's node. ENODEV for a node that is not online,
    /// EINVAL for unknown flags, EPERM for MPOL_MF_MOVE_ALL without CAP_SYS_NICE, ESRCH for
    /// no such process (every process has the same credentials: ptrace_may_access() passes).
    #[allow(clippy::too_many_arguments)]
    pub fn move_pages(
        &mut self,
        tid: Tid,
        pid: u64,
        nr_pages: u64,
        pages: u64,
        nodes: u64,
        status: u64,
        flags: u64,
    ) -> SysResult<u64> {
        self.enter(tid)?;
        if flags as u32 as u64 & !(MPOL_MF_MOVE | MPOL_MF_MOVE_ALL) != 0 {
            return Err(Errno::EINVAL);
        }
        if flags & MPOL_MF_MOVE_ALL != 0 && !self.capable(CAP_SYS_NICE) {
            return Err(Errno::EPERM);
        }
        let mm = self.find_mm_struct(tid, pid)?;
        if nodes != 0 {
            self.do_pages_move(tid, mm, (nr_pages, pages, nodes, status), flags)
        } else {
            self.do_pages_stat(tid, mm, nr_pages, pages, status)
        }
    }

    /// do_pages_stat(): each page's node, in chunks of 16 (DO_PAGES_STAT_CHUNK_NR); EFAULT if
    /// a chunk of the arrays cannot be read or written.
    fn do_pages_stat(
        &mut self,
        tid: Tid,
        mm: MmId,
        nr: u64,
        pages: u64,
        status: u64,
    ) -> SysResult<u64> {
        const CHUNK: u64 = 16;
        let mut done = 0;
        while done < nr {
            let n = (nr - done).min(CHUNK);
            let ptrs = self.get_user_u64s(tid, pages + done * 8, n)?;
            let mut out = Vec::with_capacity(n as usize * 4);
            for addr in ptrs {
                let st: i32 = match self.mms[mm].vmas.lookup(addr).map(Vma::for_fault) {
                    None => -Errno::EFAULT.code(),
                    Some(vma) => match self.follow_page_dump(mm, &vma, addr) {
                        Followed::Page(pfn) => self.pages.pfn_to_nid(pfn) as i32,
                        Followed::Nothing => -Errno::ENOENT.code(),
                        Followed::Err(e) => -e.code(),
                    },
                };
                out.extend_from_slice(&st.to_le_bytes());
            }
            self.put_user_bytes(tid, status + done * 4, &out)?;
            done += n;
        }
        Ok(0)
    }

    /// `n` longs from user memory (copy_from_user / get_user); EFAULT if they cannot be read.
    fn get_user_u64s(&mut self, tid: Tid, addr: u64, n: u64) -> SysResult<Vec<u64>> {
        let bytes = self.get_user_bytes(tid, addr, (n * 8) as usize)?;
        Ok(bytes
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect())
    }

    /// store_status(): `value` into `nr` ints of the status array from index `start`.
    fn store_status(
        &mut self,
        tid: Tid,
        status: u64,
        start: u64,
        value: i32,
        nr: u64,
    ) -> SysResult<()> {
        let bytes: Vec<u8> = (0..nr).flat_map(|_| value.to_le_bytes()).collect();
        self.put_user_bytes(tid, status + start * 4, &bytes)
    }

    /// do_pages_move(): runs of pages bound for one node are queued and migrated together;
    /// a page that needs no move or cannot be queued gets its status at once (and flushes
    /// the run before it).
    fn do_pages_move(
        &mut self,
        tid: Tid,
        mm: MmId,
        (nr, pages, nodes, status): (u64, u64, u64, u64),
        flags: u64,
    ) -> SysResult<u64> {
        // lru_cache_disable(): every per-CPU batch drained, so pages can be isolated.
        self.lru_add_drain_all();
        let mut current: Option<usize> = None;
        let mut start = 0;
        let mut list = Vec::new();
        let mut i = 0;
        let mut err: SysResult<u64> = Ok(0);
        while i < nr {
            let step = (|| -> SysResult<Option<u64>> {
                let addr = self.get_user_u64s(tid, pages + i * 8, 1)?[0];
                let node = i32::from_le_bytes(
                    self.get_user_bytes(tid, nodes + i * 4, 4)?
                        .try_into()
                        .expect("4 bytes"),
                );
                if node < 0 || node as u64 >= MAX_NUMNODES {
                    return Err(Errno::ENODEV);
                }
                if node_bit(node as u64, self.pages.nr_nodes()).is_none() {
                    return Err(Errno::ENODEV);
                }
                let node = node as usize;
                match current {
                    None => {
                        current = Some(node);
                        start = i;
                    }
                    Some(c) if c != node => {
                        let r = self.move_pages_and_store_status(
                            tid,
                            c,
                            &mut list,
                            status,
                            (start, i, nr),
                        )?;
                        if r != 0 {
                            return Ok(Some(r));
                        }
                        start = i;
                        current = Some(node);
                    }
                    Some(_) => {}
                }
                match self.add_page_for_migration(
                    mm,
                    addr,
                    node,
                    &mut list,
                    flags & MPOL_MF_MOVE_ALL != 0,
                ) {
                    Ok(true) => return Ok(None),
                    // Already on the node: its status is the node.
                    Ok(false) => self.store_status(tid, status, i, node as i32, 1)?,
                    Err(e) => self.store_status(tid, status, i, -e.code(), 1)?,
                }
                let r =
                    self.move_pages_and_store_status(tid, node, &mut list, status, (start, i, nr))?;
                current = None;
                Ok((r != 0).then_some(r))
            })();
            match step {
                Ok(None) => i += 1,
                Ok(Some(r)) => return Ok(r),
                Err(e) => {
                    err = Err(e);
                    break;
                }
            }
        }
        // out_flush: the run queued so far, without hiding an earlier error.
        let flushed = match current {
            Some(c) => self.move_pages_and_store_status(tid, c, &mut list, status, (start, i, nr)),
            None => Ok(0),
        };
        match err {
            Err(e) => Err(e),
            Ok(_) => flushed,
        }
    }

    /// add_page_for_migration(): Ok(true) if the page at `addr` was isolated onto `list`,
    /// Ok(false) if it is already on `node`; EFAULT (no VMA, FOLL_DUMP's refusals), ENOENT
    /// (nothing mapped), EACCES (mapped more than once, without MPOL_MF_MOVE_ALL), EBUSY (not
    /// on an LRU: already queued). A hugetlb page: add_huge_page_for_migration().
    fn add_page_for_migration(
        &mut self,
        mm: MmId,
        addr: u64,
        node: usize,
        list: &mut Vec<Folio>,
        migrate_all: bool,
    ) -> SysResult<bool> {
        let vma = self.mms[mm]
            .vmas
            .lookup(addr)
            .filter(|v| vma_migratable(v))
            .ok_or(Errno::EFAULT)?
            .for_fault();
        let pfn = match self.follow_page_dump(mm, &vma, addr) {
            Followed::Page(p) => p,
            Followed::Nothing => return Err(Errno::ENOENT),
            Followed::Err(e) => return Err(e),
        };
        if self.pages.pfn_to_nid(pfn) == node {
            return Ok(false);
        }
        if self.folio_test_hugetlb(self.pages.folio(pfn)) {
            return self.add_huge_page_for_migration(pfn, list, migrate_all);
        }
        if self.pages.page_mapcount(pfn) > 1 && !migrate_all {
            return Err(Errno::EACCES);
        }
        let f = self.pages.folio(pfn);
        if !self.isolate_lru_folio(f) {
            return Err(Errno::EBUSY);
        }
        list.push(f);
        Ok(true)
    }

    /// move_pages_and_store_status(): migrate the queued run `[start, i)` to `node`; its
    /// status becomes the node, or, if some did not move, the count of pages not moved plus
    /// `nr - i - 1` is returned and no status is written. That count is 5.19's, one short:
    /// the page at `i` was not tried either, and at the end of the array (`i == nr`) the
    /// C int arithmetic takes one off the failures (6.18 adds `nr - i`).
    fn move_pages_and_store_status(
        &mut self,
        tid: Tid,
        node: usize,
        list: &mut Vec<Folio>,
        status: u64,
        (start, i, nr): (u64, u64, u64),
    ) -> SysResult<u64> {
        if list.is_empty() {
            return Ok(0);
        }
        let (r, left) = self.migrate_folio_list(std::mem::take(list), MigrateTarget::Node(node));
        self.putback_movable_pages(left);
        let failed = r?;
        if failed > 0 {
            let err = (failed as i32).wrapping_add(nr.wrapping_sub(i).wrapping_sub(1) as i32);
            return Ok(err as u32 as u64);
        }
        self.store_status(tid, status, start, node as i32, i - start)?;
        Ok(0)
    }

    /// migrate_pages() of mm/migrate.c: move each isolated folio of `list`, retrying those
    /// that are busy (EAGAIN) for up to 10 passes. A THP that cannot get a huge destination
    /// is split and its pages moved one by one (the THP still counts as failed in 5.19). Ok
    /// with the number of folios not moved, or ENOMEM when a small destination could not be
    /// allocated (the rest is not tried); the folios not moved come back for the putback.
    pub(crate) fn migrate_folio_list(
        &mut self,
        list: Vec<Folio>,
        target: MigrateTarget,
    ) -> (SysResult<u64>, Vec<Folio>) {
        let mut from: VecDeque<Folio> = list.into();
        let mut failed = Vec::new();
        let mut split: Vec<Folio> = Vec::new();
        let (mut nr_failed, mut nr_thp_failed) = (0u64, 0u64);
        let mut counting = true;
        loop {
            for _pass in 0..10 {
                if from.is_empty() {
                    break;
                }
                let mut again = VecDeque::new();
                while let Some(f) = from.pop_front() {
                    let thp = self.pages.folio_test_large(f) && !self.folio_test_hugetlb(f);
                    match self.unmap_and_move(f, target) {
                        Ok(()) => {}
                        Err(Errno::EAGAIN) => again.push_back(f),
                        Err(Errno::ENOMEM) if thp => {
                            nr_thp_failed += 1;
                            let mut tails = Vec::new();
                            if self.split_huge_page_to_list(f, Some(&mut tails)) {
                                // The head, now a small page, is tried again at once.
                                from.push_front(f);
                                split.extend(tails);
                            } else {
                                failed.push(f);
                            }
                        }
                        Err(Errno::ENOMEM) => {
                            failed.push(f);
                            failed.extend(from.drain(..).chain(again).chain(split));
                            return (Err(Errno::ENOMEM), failed);
                        }
                        Err(_) => {
                            if thp {
                                nr_thp_failed += 1;
                            } else if counting {
                                nr_failed += 1;
                            }
                            failed.push(f);
                        }
                    }
                }
                from = again;
            }
            // Still busy after the last pass.
            for f in from.drain(..) {
                if self.pages.folio_test_large(f) {
                    nr_thp_failed += 1;
                } else {
                    nr_failed += 1;
                }
                failed.push(f);
            }
            if split.is_empty() {
                break;
            }
            from = std::mem::take(&mut split).into();
            counting = false;
        }
        (Ok(nr_failed + nr_thp_failed), failed)
    }

    /// unmap_and_move(): one folio, begun and finished at once.
    fn unmap_and_move(&mut self, src: Folio, target: MigrateTarget) -> SysResult<()> {
        let m = self.migrate_unmap(src, target)?;
        self.migrate_move(m)
    }

    /// The first half of __unmap_and_move(): the destination allocated (ENOMEM if it
    /// cannot be), the folio's mappings replaced by migration entries. EAGAIN (everything as
    /// it was) if a mapping could not be replaced, a page being exclusive and maybe pinned;
    /// EBUSY for what the model does not migrate (large swap-cache folios). A hugetlb folio
    /// goes to migrate_unmap_huge().
    fn migrate_unmap(&mut self, src: Folio, target: MigrateTarget) -> SysResult<PendingMigration> {
        if self.folio_test_hugetlb(src) {
            return self.migrate_unmap_huge(src, target);
        }
        // 5.19's folio_migrate_mapping() stores the new folio in the first of a large
        // swap-cache folio's slots only, leaving the others pointing at the freed source (a
        // use-after-free fixed in 6.8, "mm: migrate high-order folios in swap cache
        // correctly"): the model does not run into it.
        if self.pages.folio_test_large(src) && self.pages.folio_test(src, PageFlags::SWAPCACHE) {
            return Err(Errno::EBUSY);
        }
        let dst = self
            .migration_target_folio(src, target)
            .ok_or(Errno::ENOMEM)?;
        let was_mapped = self.pages.folio_mapcount(src) > 0;
        if was_mapped && !self.try_to_migrate(src, false) {
            self.remove_migration_ptes(src, src);
            self.folio_put(dst);
            return Err(Errno::EAGAIN);
        }
        Ok(PendingMigration {
            src,
            dst,
            was_mapped,
        })
    }

    /// The second half: folio_migrate_mapping()'s reference check (only the isolation's and
    /// the page cache's or swap cache's may be left, expected_page_refs(): EAGAIN otherwise,
    /// the entries mapping the source again), the cache's slots moved to the destination, the
    /// copy of the contents and flags (folio_migrate_copy()), the entries mapping the
    /// destination, the source freed and the destination put on the LRU. Tasks waiting on the
    /// entries wake.
    fn migrate_move(&mut self, m: PendingMigration) -> SysResult<()> {
        if self.folio_test_hugetlb(m.src) {
            return self.migrate_move_huge(m);
        }
        let PendingMigration {
            src,
            dst,
            was_mapped,
        } = m;
        let cache = self.migration_mapping(src);
        let expected = 1 + cache.map_or(0, |_| self.pages.folio_nr_pages(src) as i32);
        let r = if self.pages.folio_ref_count(src) != expected {
            if was_mapped {
                self.remove_migration_ptes(src, src);
            }
            self.folio_put(dst);
            Err(Errno::EAGAIN)
        } else {
            if let Some(mapping) = cache {
                self.folio_migrate_mapping(mapping, src, dst);
            }
            self.folio_migrate_copy(dst, src);
            if was_mapped {
                self.remove_migration_ptes(src, dst);
            }
            Ok(())
        };
        // folio_unlock() of the source, still whole (a THP's waiters may be on its tails).
        self.wake_migration_waiters(src);
        if r.is_ok() {
            // The source's isolation reference, its last: freed. The destination's
            // allocation reference goes with putback_lru_page().
            self.folio_put(src);
            self.folio_putback_lru(dst);
        }
        r
    }

    /// The inode whose page cache holds `f` (what hugetlbfs' migration asks).
    pub(crate) fn page_cache_ino(&self, f: Folio) -> Option<Ino> {
        match self.migration_mapping(f) {
            Some(MigrateMapping::PageCache(ino)) => Some(ino),
            Some(MigrateMapping::SwapCache) | None => None,
        }
    }

    /// folio_mapping() as migration sees it: the inode whose page cache holds the folio, or
    /// the swap cache for an anonymous folio in it (swap_address_space()); None for any other
    /// anonymous folio, or a page-cache one truncated meanwhile (it migrates like one without
    /// a mapping).
    fn migration_mapping(&self, f: Folio) -> Option<MigrateMapping> {
        if self.pages.folio_test(f, PageFlags::ANON) {
            return self
                .pages
                .folio_test(f, PageFlags::SWAPCACHE)
                .then_some(MigrateMapping::SwapCache);
        }
        let ino = self.pages.folio_mapping(f)? as Ino;
        let index = self.pages.page(f.pfn()).index();
        (self.inodes.get(ino)?.i_mapping.page(index) == Some(f.pfn()))
            .then_some(MigrateMapping::PageCache(ino))
    }

    /// folio_migrate_mapping() of a folio in a cache, its references frozen: each of its
    /// slots takes the destination's page and the cache's references move with them; a
    /// swap-cache folio's PG_swapcache and swap entry (page->private) go to the destination
    /// (folio_migrate_flags() clears the source's); PG_dirty moves too (the dirty counters
    /// are per node in Linux, global here).
    fn folio_migrate_mapping(&mut self, mapping: MigrateMapping, src: Folio, dst: Folio) {
        let nr = self.pages.folio_nr_pages(src);
        match mapping {
            MigrateMapping::PageCache(ino) => {
                let index = self.pages.page(src.pfn()).index();
                for i in 0..nr {
                    self.inodes[ino].i_mapping.add_page(index + i, dst.page(i));
                }
            }
            MigrateMapping::SwapCache => {
                // A small folio only (migrate_unmap() keeps large ones): its one slot.
                let private = self.pages.page(src.pfn()).private;
                self.swap_cache
                    .set(private_to_entry(private), Some(CacheSlot::Page(dst.pfn())));
                self.pages.folio_set(dst, PageFlags::SWAPCACHE);
                self.pages.page_mut(dst.pfn()).private = private;
            }
        }
        self.pages.folio_ref_add(dst, nr as i32);
        self.pages.folio_ref_add(src, -(nr as i32));
        if self.pages.folio_test(src, PageFlags::DIRTY) {
            self.pages.folio_clear(src, PageFlags::DIRTY);
            self.pages.folio_set(dst, PageFlags::DIRTY);
        }
    }

    /// folio_migrate_copy(): the contents of every page and the folio's state.
    pub(crate) fn folio_migrate_copy(&mut self, dst: Folio, src: Folio) {
        for i in 0..self.pages.folio_nr_pages(src) {
            self.phys.copy(src.page(i), dst.page(i));
        }
        const CARRIED: PageFlags = PageFlags::REFERENCED
            .union(PageFlags::UPTODATE)
            .union(PageFlags::DIRTY)
            .union(PageFlags::ACTIVE)
            .union(PageFlags::WORKINGSET)
            .union(PageFlags::YOUNG)
            .union(PageFlags::IDLE)
            .union(PageFlags::SWAPBACKED)
            .union(PageFlags::ANON)
            .union(PageFlags::UNEVICTABLE);
        let s = *self.pages.page(src.pfn());
        let d = self.pages.page_mut(dst.pfn());
        d.flags |= s.flags & CARRIED;
        d.set_mapping(s.mapping());
        d.index = s.index();
        // folio_test_clear_active(): the source leaves with nothing to undo; it is no
        // swap-cache folio any more and its private (the swap entry) goes.
        self.pages
            .folio_clear(src, PageFlags::ACTIVE | PageFlags::SWAPCACHE);
        self.pages.page_mut(src.pfn()).private = 0;
        self.mem_cgroup_migrate(src, dst);
    }

    /// The frames a migration of `src` moves to: alloc_migration_target() on its node, or
    /// new_page() by the VMA's policy at the address the folio is mapped at.
    fn migration_target_folio(&mut self, src: Folio, target: MigrateTarget) -> Option<Folio> {
        let order = self.pages.folio_order(src);
        let ctx = match target {
            MigrateTarget::Node(nid) => Some(AllocContext::ThisNode(nid)),
            MigrateTarget::VmaPolicy(mm, start) => self
                .folio_address_in(mm, start, src)
                .map(|(vma, addr)| Self::vma_alloc_context(&vma, addr)),
        };
        let gfp = if order > 0 {
            crate::page::gfp::Gfp::TRANSHUGE
        } else {
            crate::page::gfp::Gfp::HIGHUSER_MOVABLE
        };
        // Uncharged: the source's memcg is charged for it by mem_cgroup_migrate(), not the
        // caller's (a move_pages() of another process charges nothing to the mover).
        match ctx {
            Some(ctx) => self.with_alloc_context(ctx, |k| k.alloc_folio_uncharged(gfp, order)),
            None => self.alloc_folio_uncharged(gfp, order),
        }
    }

    /// new_page()'s search: the first VMA of `mm` ending after `start` where
    /// page_address_in_vma() places `f`, and that address. A page-cache folio belongs in
    /// any VMA of its file that covers its index; an anonymous one where it is mapped.
    fn folio_address_in(&self, mm: MmId, start: u64, f: Folio) -> Option<(Vma, u64)> {
        let index = self.pages.page(f.pfn()).index();
        let file = (!self.pages.folio_test(f, PageFlags::ANON))
            .then(|| self.pages.folio_mapping(f))
            .flatten();
        let pgd = self.mms[mm].pgd;
        self.mms[mm]
            .vmas
            .iter()
            .filter(|v| v.end > start)
            .find_map(|v| {
                let addr = v.start.checked_add(index.checked_sub(v.pgoff)? << 12)?;
                if addr >= v.end {
                    return None;
                }
                let ours = match file {
                    Some(ino) => v.backing == Backing::File(ino as Ino),
                    None => table::leaf_frame(&self.phys, pgd, addr)
                        .is_some_and(|(pfn, _)| self.pages.folio(pfn) == f),
                };
                ours.then(|| (v.for_fault(), addr))
            })
    }

    /// migration_entry_wait() / pmd_migration_entry_wait(): a fault on a migration entry of
    /// `pfn` sleeps on the folio lock until the migration ends, then is retried. A fault that
    /// cannot sleep and retry (a kernel-mode one here) is SIGBUS; an entry no migration is
    /// under way for (never left by the model) too.
    pub(crate) fn migration_entry_wait(&mut self, pfn: u64, flags: FaultFlags) -> VmFault {
        let under_way = self.numa.pending.is_some_and(|m| m.covers(self, Pfn(pfn)));
        if !under_way || !flags.contains(FaultFlags::USER | FaultFlags::ALLOW_RETRY) {
            return VmFault::SIGBUS;
        }
        self.tasks[self.current].wait = Some(WaitReason::Migration { pfn });
        VmFault::RETRY
    }

    /// folio_unlock()'s wake-up: every task waiting on a page of `f` wakes and retries.
    pub(crate) fn wake_migration_waiters(&mut self, f: Folio) {
        let nr = self.pages.folio_nr_pages(f);
        for (_, t) in self.tasks.iter_mut() {
            if let Some(WaitReason::Migration { pfn }) = t.wait {
                if pfn >= f.pfn().0 && pfn - f.pfn().0 < nr {
                    t.wait = None;
                }
            }
        }
    }

    /// `model.migrate_begin(addr, node)`: isolate the folio mapped at `addr` of `tid` and
    /// unmap it for a migration to `node`, leaving its migration entries in place until
    /// `migrate_end` (a racing step may fault on them, fork, ...). Returns 0, or the errno
    /// that stopped it: ENOENT (no page there), ENODEV (no such node), EBUSY (another
    /// migration is under way, or the folio cannot be isolated or migrated), ENOMEM, EAGAIN
    /// (a page is exclusive and maybe pinned).
    pub fn migrate_begin(&mut self, tid: Tid, addr: u64, node: u64) -> SysResult<u64> {
        let mm = self.enter(tid)?;
        let Some(node) = node_bit(node, self.pages.nr_nodes()).map(|_| node as usize) else {
            return Ok(Errno::ENODEV.code() as u64);
        };
        if self.numa.pending.is_some() {
            return Ok(Errno::EBUSY.code() as u64);
        }
        let Some(pfn) = self.normal_page_at(mm, addr).or_else(|| {
            table::leaf_frame(&self.phys, self.mms[mm].pgd, addr)
                .map(|(p, _)| p)
                .filter(|&p| Some(self.pages.folio(p)) != self.thp.huge_zero)
        }) else {
            return Ok(Errno::ENOENT.code() as u64);
        };
        self.lru_add_drain_all();
        let f = self.pages.folio(pfn);
        if !self.isolate_folio_for_migration(f) {
            return Ok(Errno::EBUSY.code() as u64);
        }
        match self.migrate_unmap(f, MigrateTarget::Node(node)) {
            Ok(m) => {
                self.numa.pending = Some(m);
                Ok(0)
            }
            Err(e) => {
                self.putback_movable_pages(vec![f]);
                Ok(e.code() as u64)
            }
        }
    }

    /// `model.migrate_end()`: finish the migration `migrate_begin` left: 0 when the folio
    /// moved, EAGAIN when a reference taken meanwhile kept it (it stays where it was, mapped
    /// again), ENOENT when none is under way. Waiting faults wake either way.
    pub fn migrate_end(&mut self) -> u64 {
        let Some(m) = self.numa.pending.take() else {
            return Errno::ENOENT.code() as u64;
        };
        let src = m.src;
        match self.migrate_move(m) {
            Ok(()) => 0,
            Err(e) => {
                self.putback_movable_pages(vec![src]);
                e.code() as u64
            }
        }
    }

    /// Is `pfn` a page of the folio under migration (for the invariant that no migration
    /// entry outlives its migration)?
    pub(crate) fn under_migration(&self, pfn: Option<Pfn>) -> bool {
        pfn.is_some_and(|p| self.numa.pending.is_some_and(|m| m.covers(self, p)))
    }

    /// The references a migration under way holds on `pfn`: the source's isolation
    /// reference and the destination's allocation reference, on their heads.
    pub(crate) fn migration_refs(&self, pfn: Pfn) -> i32 {
        self.numa.pending.map_or(0, |m| {
            i32::from(m.src.pfn() == pfn) + i32::from(m.dst.pfn() == pfn)
        })
    }

    /// page_to_nid() of a frame, for `model.page(addr).node`.
    pub fn page_to_nid(&self, pfn: Pfn) -> usize {
        self.pages.pfn_to_nid(pfn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Profile};
    use crate::hw::PAGE_SIZE;
    use crate::pgtable::swp::SwpKind;
    use crate::uapi::*;

    fn two_nodes() -> (Kernel, Tid, u64) {
        two_nodes_with(Profile::Linux519)
    }

    fn two_nodes_with(profile: Profile) -> (Kernel, Tid, u64) {
        let cfg = Config {
            memory_bytes: 64 << 20,
            nr_nodes: 2,
            ..Config::new(profile)
        };
        let mut k = Kernel::new(cfg);
        let t = k.spawn_process(0).unwrap();
        let p = k
            .mmap(
                t,
                0,
                4 * PAGE_SIZE,
                PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS,
                -1,
                0,
            )
            .unwrap();
        (k, t, p)
    }

    /// The kind of the swap-format entry at `addr`, if it holds one.
    fn swp_kind(k: &Kernel, t: Tid, addr: u64) -> Option<SwpKind> {
        match k.pte_at(t, addr).unwrap().kind() {
            PteKind::Swp(kind, _) => Some(kind),
            _ => None,
        }
    }

    #[test]
    fn entries_carry_exclusivity_across_a_migration() {
        let (mut k, t, p) = two_nodes();
        k.store(t, p, 0x5a).unwrap();
        k.load(t, p + PAGE_SIZE).unwrap(); // the zero page: not migrated
        let old = k.page_at(t, p).unwrap().unwrap().0;
        assert_eq!(k.page_to_nid(old), 0);
        k.mprotect(t, p, PAGE_SIZE, PROT_READ).unwrap();
        assert_eq!(k.migrate_begin(t, p, 1).unwrap(), 0);
        assert_eq!(
            swp_kind(&k, t, p),
            Some(SwpKind::MigrationReadExclusive { pfn: old.0 }),
            "a read-only exclusive page leaves a readable-exclusive entry"
        );
        assert_eq!(k.migrate_end(), 0);
        let (new, page) = k.page_at(t, p).unwrap().unwrap();
        assert_eq!(k.page_to_nid(new), 1);
        assert!(page.anon_exclusive(), "exclusivity restored from the entry");
        assert_eq!(k.phys.load(new, 0), 0x5a);
        assert!(k.pages.is_free(old), "the source frame is freed");
        k.check_invariants().unwrap();
    }

    #[test]
    fn a_pinned_exclusive_page_is_not_unmapped() {
        let (mut k, t, p) = two_nodes();
        k.store(t, p, 1).unwrap();
        let (pfn, _) = k.page_at(t, p).unwrap().unwrap();
        let pte = k.pte_at(t, p).unwrap();
        // A FOLL_PIN reference, as pin_user_pages() takes it on a small folio.
        k.pages
            .folio_ref_add(Folio(pfn), crate::mm::gup::GUP_PIN_COUNTING_BIAS);
        assert_eq!(
            k.migrate_begin(t, p, 1).unwrap(),
            Errno::EAGAIN.code() as u64
        );
        assert_eq!(
            k.pte_at(t, p).unwrap(),
            pte,
            "the PTE is left exactly as it was"
        );
        assert!(k.page_at(t, p).unwrap().unwrap().1.anon_exclusive());
        k.pages
            .folio_ref_add(Folio(pfn), -crate::mm::gup::GUP_PIN_COUNTING_BIAS);
        assert_eq!(
            k.migrate_begin(t, p, 1).unwrap(),
            0,
            "unpinned, it migrates"
        );
        assert_eq!(k.migrate_end(), 0);
    }

    #[test]
    fn a_writable_entry_maps_the_new_page_writable() {
        let (mut k, t, p) = two_nodes();
        k.store(t, p, 7).unwrap();
        let old = k.page_at(t, p).unwrap().unwrap().0;
        assert_eq!(k.migrate_begin(t, p, 1).unwrap(), 0);
        assert_eq!(
            swp_kind(&k, t, p),
            Some(SwpKind::MigrationWrite { pfn: old.0 })
        );
        assert_eq!(k.migrate_end(), 0);
        let pte = k.pte_at(t, p).unwrap();
        assert!(pte.write() && !pte.young() && !pte.dirty());
        assert_eq!(
            k.migrate_end(),
            Errno::ENOENT.code() as u64,
            "nothing under way"
        );
    }

    #[test]
    fn a_pinned_page_refused_early_in_5_19_is_unmapped_and_remapped_in_5_18() {
        for (profile, untouched) in [(Profile::Linux519, true), (Profile::Linux518, false)] {
            let (mut k, t, p) = two_nodes_with(profile);
            k.store(t, p, 1).unwrap();
            let (pfn, _) = k.page_at(t, p).unwrap().unwrap();
            let before = k.pte_at(t, p).unwrap();
            assert!(before.young());
            k.pages
                .folio_ref_add(Folio(pfn), crate::mm::gup::GUP_PIN_COUNTING_BIAS);
            // 5.19: try_to_migrate() stops at the pinned exclusive page, the PTE untouched.
            // 5.18: the entry goes in, folio_migrate_mapping() sees the pin's references and
            // the entry becomes a PTE again, old.
            let r = k.migrate_begin(t, p, 1).unwrap();
            let r = if r == 0 { k.migrate_end() } else { r };
            assert_eq!(r, Errno::EAGAIN.code() as u64, "{profile:?}");
            let after = k.pte_at(t, p).unwrap();
            assert_eq!(
                after == before,
                untouched,
                "{profile:?}: {before:?} -> {after:?}"
            );
            assert_eq!(after.pfn(), pfn);
            assert_eq!(after.young(), untouched);
            k.pages
                .folio_ref_add(Folio(pfn), -crate::mm::gup::GUP_PIN_COUNTING_BIAS);
            k.check_invariants().unwrap();
        }
    }
}
