//! Migration of hugetlb pages (mm/migrate.c's unmap_and_move_huge_page(), mm/hugetlb.c's
//! isolation and target allocation, the hugetlb branch of try_to_migrate_one() and
//! remove_migration_pte()). A 2 MiB page is isolated from the in-use pages
//! (isolate_huge_page()), its destination comes from the target node's free pool or, failing
//! that, fresh from the page allocator as a temporary page (alloc_huge_page_nodemask()), its
//! huge entries become migration entries, the contents move once only the isolation (and
//! the page cache, for a hugetlbfs page) hold it, and the entries map the new page. The old
//! page then goes back to its node's pool, or to the page allocator if it took over the
//! temporary state or its node has surplus pages (move_hugetlb_state(), free_huge_page()).
//!
//! x86-64 supports migrating 2 MiB pages (hugepage_migration_supported()), so no hugetlb VMA
//! is refused for its size.

use crate::errno::{Errno, SysResult};
use crate::fs::inode::Ino;
use crate::kernel::Kernel;
use crate::mm::hugetlb::{huge_ptep_get, set_huge_pte_at, HPAGE_NR, HPAGE_SIZE};
use crate::mm::mempolicy::{vma_migratable, AllocContext, NodeMask, MPOL_MF_INVERT};
use crate::mm::migrate::{MigrateTarget, PendingMigration};
use crate::mm::vma::{vm::VM_WRITE, Vma};
use crate::mm::MmId;
use crate::page::{Folio, PageFlags, Pfn};
use crate::pgtable::pmd::PmdKind;
use crate::pgtable::pte::{Pte, PteKind};
use crate::pgtable::swp::{SwpKind, SwpPteBits};
use crate::pgtable::table;
use crate::uapi::mempolicy::{MPOL_MF_MOVE, MPOL_MF_MOVE_ALL, MPOL_MF_STRICT};

/// One place a hugetlb folio may be mapped: the mm, the VMA and the huge page's address.
struct HugeMapping {
    mm: MmId,
    vma: Vma,
    haddr: u64,
}

impl Kernel {
    /// Is `f` a hugetlb page?
    pub(crate) fn folio_test_hugetlb(&self, f: Folio) -> bool {
        self.pages.folio_test(f, PageFlags::HUGETLB)
    }

    /// isolate_huge_page(): take an in-use hugetlb page (a head, referenced, not isolated
    /// already) for a migration, with a reference; false otherwise.
    pub(crate) fn isolate_huge_page(&mut self, f: Folio) -> bool {
        let head = self.pages.folio(f.pfn()) == f;
        if !head
            || !self.folio_test_hugetlb(f)
            || self.pages.folio_ref_count(f) == 0
            || self.hstate.isolated.contains(&f)
        {
            return false;
        }
        self.folio_get(f);
        self.hstate.isolated.push(f);
        true
    }

    /// putback_active_hugepage(): an isolated (or newly allocated) hugetlb page is migratable
    /// again, and loses the reference its isolation (or allocation) held.
    pub(crate) fn putback_active_hugepage(&mut self, f: Folio) {
        self.hstate.isolated.retain(|&g| g != f);
        self.folio_put(f);
    }

    /// isolate_lru_page() or, for a hugetlb page, isolate_huge_page(): what a migration of a
    /// single folio starts with.
    pub(crate) fn isolate_folio_for_migration(&mut self, f: Folio) -> bool {
        if self.folio_test_hugetlb(f) {
            self.isolate_huge_page(f)
        } else {
            self.isolate_lru_folio(f)
        }
    }

    /// add_page_for_migration()'s hugetlb branch for the page `pfn` found at the address:
    /// EACCES if its huge page is mapped more than once (without MPOL_MF_MOVE_ALL); a head is
    /// queued (Ok(true), even when it was isolated already); a tail page keeps the EACCES
    /// that add_page_for_migration() set before its PageHuge() branch (only a head clears it).
    pub(crate) fn add_huge_page_for_migration(
        &mut self,
        pfn: Pfn,
        list: &mut Vec<Folio>,
        migrate_all: bool,
    ) -> SysResult<bool> {
        let f = self.pages.folio(pfn);
        if self.pages.page(f.pfn()).mapcount() > 1 && !migrate_all {
            return Err(Errno::EACCES);
        }
        if pfn != f.pfn() {
            return Err(Errno::EACCES);
        }
        if self.isolate_huge_page(f) {
            list.push(f);
        }
        Ok(true)
    }

    /// queue_pages_hugetlb() over the huge pages of `vma` in `[start, end)`: a present page on
    /// a node `nodes` selects (or, with MPOL_MF_INVERT, does not) is EIO with MPOL_MF_STRICT
    /// alone, stops the walk (Ok(true)) in a VMA that cannot migrate, and is isolated onto
    /// `list` with MPOL_MF_MOVE_ALL, or MPOL_MF_MOVE if mapped once; one that cannot be
    /// isolated stops the walk with MPOL_MF_STRICT. Migration entries are skipped.
    pub(crate) fn queue_pages_hugetlb(
        &mut self,
        mm: MmId,
        vma: &Vma,
        (start, end): (u64, u64),
        nodes: NodeMask,
        flags: u64,
        list: &mut Vec<Folio>,
    ) -> SysResult<bool> {
        let valid = flags & (MPOL_MF_STRICT | MPOL_MF_MOVE | MPOL_MF_MOVE_ALL);
        let mut haddr = start & !(HPAGE_SIZE - 1);
        while haddr < end {
            let pgd = self.mms[mm].pgd;
            let entry =
                table::pmd_slot(&self.phys, pgd, haddr).map(|s| huge_ptep_get(&self.phys, s));
            haddr += HPAGE_SIZE;
            let Some(PteKind::Present(e)) = entry.map(Pte::kind) else {
                continue;
            };
            let f = Folio(e.pfn());
            let on = nodes & (1 << self.pages.pfn_to_nid(f.pfn())) != 0;
            if on != (flags & MPOL_MF_INVERT == 0) {
                continue;
            }
            if valid == MPOL_MF_STRICT {
                return Err(Errno::EIO);
            }
            if !vma_migratable(vma) {
                return Ok(true);
            }
            let mapcount = self.pages.page(f.pfn()).mapcount();
            let wanted =
                valid & MPOL_MF_MOVE_ALL != 0 || (valid & MPOL_MF_MOVE != 0 && mapcount == 1);
            if wanted {
                if self.isolate_huge_page(f) {
                    list.push(f);
                } else if valid & MPOL_MF_STRICT != 0 {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    /// rmap_walk() of a hugetlb folio: each VMA of its anon_vma (or of its file's i_mmap)
    /// that covers the page, at the address of the page there (page_to_pgoff() of a hugetlb
    /// page counts base pages: its huge index times 512).
    fn hugetlb_rmap(&self, f: Folio) -> Vec<HugeMapping> {
        let Some(mapping) = self.pages.folio_mapping(f) else {
            return Vec::new();
        };
        let pgoff = self.pages.page(f.pfn()).index() * HPAGE_NR;
        let ids: Vec<_> = if self.pages.folio_test(f, PageFlags::ANON) {
            self.rmap
                .anon_vmas
                .get(&mapping)
                .map(|a| a.vmas.iter().copied().collect())
                .unwrap_or_default()
        } else {
            self.inodes
                .get(mapping as Ino)
                .map(|i| i.i_mapping.i_mmap.iter().copied().collect())
                .unwrap_or_default()
        };
        ids.into_iter()
            .filter_map(|id| {
                let (mm, v) = self.vma_by_id(id)?;
                let haddr = v.start.checked_add(pgoff.checked_sub(v.pgoff)? << 12)?;
                (haddr < v.end).then(|| HugeMapping {
                    mm,
                    vma: v.for_fault(),
                    haddr,
                })
            })
            .collect()
    }

    /// try_to_migrate() of a hugetlb folio: each huge entry mapping it is cleared and flushed
    /// (huge_ptep_clear_flush()) and becomes a migration entry (set_huge_swap_pte_at()),
    /// writable, readable-exclusive or readable, keeping soft-dirty and uffd-wp; the mapping
    /// and its reference go. An exclusive anonymous page that may be pinned gets its entry
    /// back and stops the walk: false.
    fn try_to_migrate_huge(&mut self, f: Folio) -> bool {
        for m in self.hugetlb_rmap(f) {
            let Some(slot) = table::pmd_slot(&self.phys, self.mms[m.mm].pgd, m.haddr) else {
                continue;
            };
            let pte = huge_ptep_get(&self.phys, slot);
            if !pte.is_present() || pte.pfn() != f.pfn() {
                continue;
            }
            set_huge_pte_at(&mut self.phys, slot, Pte::NONE);
            self.flush_tlb_range_stride(
                m.mm,
                m.haddr,
                m.haddr + HPAGE_SIZE,
                crate::mm::hugetlb::HPAGE_SHIFT,
            );
            let anon = self.pages.folio_test(f, PageFlags::ANON);
            if pte.dirty() {
                self.set_page_dirty(f.pfn());
            }
            let exclusive = anon && self.pages.page(f.pfn()).anon_exclusive();
            if exclusive && !self.page_try_share_anon_rmap(f.pfn()) {
                set_huge_pte_at(&mut self.phys, slot, pte);
                return false;
            }
            let kind = SwpKind::migration(f.pfn().0, pte.write(), exclusive);
            let bits = SwpPteBits {
                soft_dirty: pte.soft_dirty(),
                uffd_wp: pte.uffd_wp(),
                exclusive: false,
            };
            set_huge_pte_at(&mut self.phys, slot, Pte::swp(kind, bits));
            self.page_remove_rmap(f.pfn(), m.vma.flags);
            self.folio_put(f);
        }
        true
    }

    /// remove_migration_ptes() of a hugetlb folio: each migration entry of `src` maps `dst`
    /// (`src` again when the migration failed): old, soft-dirty if the entry was, writable if
    /// it was writable and the VMA is, uffd-wp otherwise if the entry was; an anonymous page
    /// exclusive again unless the entry was only readable (hugepage_add_anon_rmap()), a file
    /// page one more mapping (page_dup_file_rmap()).
    fn remove_migration_huge_ptes(&mut self, src: Folio, dst: Folio) {
        for m in self.hugetlb_rmap(src) {
            let Some(slot) = table::pmd_slot(&self.phys, self.mms[m.mm].pgd, m.haddr) else {
                continue;
            };
            let PmdKind::Swp(kind, bits) = table::get_pmd(&self.phys, slot).kind() else {
                continue;
            };
            if kind.migration_pfn() != Some(src.pfn().0) {
                continue;
            }
            let mut pte = Pte::pfn_pte(dst.pfn(), m.vma.page_prot()).mkold();
            if bits.soft_dirty {
                pte = pte.mksoft_dirty();
            }
            if matches!(kind, SwpKind::MigrationWrite { .. }) {
                if m.vma.flags & VM_WRITE != 0 {
                    pte = pte.mkwrite();
                }
            } else if bits.uffd_wp {
                pte = pte.mkuffd_wp();
            }
            self.folio_get(dst);
            if self.pages.folio_test(dst, PageFlags::ANON) {
                let exclusive = !matches!(kind, SwpKind::MigrationRead { .. });
                self.hugepage_add_anon_rmap(dst, exclusive);
            } else {
                self.page_dup_file_rmap(dst.pfn());
            }
            set_huge_pte_at(&mut self.phys, slot, pte.mkhuge());
        }
    }

    /// hugepage_add_anon_rmap() of a page already anonymous (migration's return): one more
    /// mapping, PG_anon_exclusive if the entry says so.
    fn hugepage_add_anon_rmap(&mut self, f: Folio, exclusive: bool) {
        let flag = self.anon_exclusive_flag();
        let p = self.pages.page_mut(f.pfn());
        p.mapcount += 1;
        if exclusive {
            p.flags |= flag;
        }
    }

    /// The destination of a hugetlb page's migration: alloc_migration_target() asks
    /// alloc_huge_page_nodemask() for exactly the node (__GFP_THISNODE kept by
    /// htlb_modify_alloc_mask()); mbind's new_page() asks alloc_huge_page_vma() with the
    /// policy of the first VMA of the range that holds the page (page_address_in_vma()).
    fn alloc_huge_migration_target(&mut self, src: Folio, target: MigrateTarget) -> Option<Folio> {
        let ctx = match target {
            MigrateTarget::Node(nid) => Some(AllocContext::ThisNode(nid)),
            MigrateTarget::VmaPolicy(mm, start) => self
                .hugetlb_rmap(src)
                .into_iter()
                .filter(|m| m.mm == mm && m.vma.end > start)
                .min_by_key(|m| m.vma.start)
                .map(|m| Self::vma_alloc_context(&m.vma, m.haddr)),
        };
        match ctx {
            Some(ctx) => self.with_alloc_context(ctx, |k| k.alloc_huge_page_vma()),
            None => self.alloc_huge_page_vma(),
        }
    }

    /// The first half of unmap_and_move_huge_page(): the destination allocated (ENOMEM if
    /// neither a free page nor a fresh one is to be had), the page's huge entries replaced by
    /// migration entries. EAGAIN, the entries mapping the page again and the destination
    /// given back, if a pinned exclusive page kept its mapping.
    pub(crate) fn migrate_unmap_huge(
        &mut self,
        src: Folio,
        target: MigrateTarget,
    ) -> SysResult<PendingMigration> {
        let dst = self
            .alloc_huge_migration_target(src, target)
            .ok_or(Errno::ENOMEM)?;
        let was_mapped = self.pages.page(src.pfn()).mapcount() > 0;
        if was_mapped && !self.try_to_migrate_huge(src) {
            self.remove_migration_huge_ptes(src, src);
            self.putback_active_hugepage(dst);
            return Err(Errno::EAGAIN);
        }
        Ok(PendingMigration {
            src,
            dst,
            was_mapped,
        })
    }

    /// The second half: move_to_new_folio() (an anonymous page must be held by the isolation
    /// alone, migrate_page(); a hugetlbfs page by the isolation and the page cache,
    /// hugetlbfs_migrate_page(), whose slot then takes the destination), the copy of contents
    /// and flags, the entries mapping the destination (or the source again: EAGAIN), then
    /// move_hugetlb_state() and both pages put back (the source's last reference frees it).
    pub(crate) fn migrate_move_huge(&mut self, m: PendingMigration) -> SysResult<()> {
        let PendingMigration {
            src,
            dst,
            was_mapped,
        } = m;
        let cache = self.page_cache_ino(src);
        let expected = 1 + i32::from(cache.is_some());
        let r = if self.pages.folio_ref_count(src) != expected {
            if was_mapped {
                self.remove_migration_huge_ptes(src, src);
            }
            self.putback_active_hugepage(dst);
            Err(Errno::EAGAIN)
        } else {
            if let Some(ino) = cache {
                self.migrate_huge_page_move_mapping(ino, src, dst);
            }
            self.folio_migrate_copy(dst, src);
            if was_mapped {
                self.remove_migration_huge_ptes(src, dst);
            }
            Ok(())
        };
        // unlock_page() of the source before its last reference may free it.
        self.wake_migration_waiters(src);
        if r.is_ok() {
            self.move_hugetlb_state(src, dst);
            self.putback_active_hugepage(src);
            self.putback_active_hugepage(dst);
        }
        r
    }

    /// migrate_huge_page_move_mapping(): the cache slot takes `dst` (with the cache's one
    /// reference on a hugetlb page), which gets the index and mapping of `src`.
    fn migrate_huge_page_move_mapping(&mut self, ino: Ino, src: Folio, dst: Folio) {
        let index = self.pages.page(src.pfn()).index();
        self.inodes[ino].i_mapping.add_page(index, dst.pfn());
        self.folio_get(dst);
        self.pages.folio_ref_add(src, -1);
    }

    /// move_hugetlb_state(): a temporary destination becomes a pool page, the source takes
    /// over the temporary state (and so goes back to the page allocator when freed), and a
    /// surplus page counted on the source's node moves to the destination's.
    fn move_hugetlb_state(&mut self, src: Folio, dst: Folio) {
        let Some(i) = self.hstate.temporary.iter().position(|&t| t == dst) else {
            return;
        };
        self.hstate.temporary[i] = src;
        let (old, new) = (
            self.pages.pfn_to_nid(src.pfn()),
            self.pages.pfn_to_nid(dst.pfn()),
        );
        let h = &mut self.hstate;
        if old != new && h.surplus_node(old) > 0 {
            h.surplus_huge_pages_node[old] -= 1;
            if h.surplus_huge_pages_node.len() <= new {
                h.surplus_huge_pages_node.resize(new + 1, 0);
            }
            h.surplus_huge_pages_node[new] += 1;
        }
    }

    /// is_hugetlb_entry_migration(): the frame a huge entry's migration entry names, if it is
    /// one.
    pub(crate) fn is_hugetlb_entry_migration(e: Pte) -> Option<u64> {
        match e.kind() {
            PteKind::Swp(kind, _) => kind.migration_pfn(),
            PteKind::None | PteKind::Present(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Profile};
    use crate::sched::Tid;
    use crate::uapi::*;

    /// Two nodes, a pool of four huge pages, one process with a private huge page at `p`
    /// holding 0x5a.
    fn setup() -> (Kernel, Tid, u64) {
        let cfg = Config {
            memory_bytes: 64 << 20,
            nr_nodes: 2,
            ..Config::new(Profile::Linux519)
        };
        let mut k = Kernel::new(cfg);
        k.set_nr_hugepages(4);
        let t = k.spawn_process(0).unwrap();
        let flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB;
        let p = k
            .mmap(t, 0, HPAGE_SIZE, PROT_READ | PROT_WRITE, flags, -1, 0)
            .unwrap();
        k.store(t, p, 0x5a).unwrap();
        (k, t, p)
    }

    /// The swap-format huge entry at `addr` of `t`'s mm, if it holds one.
    fn huge_swp(k: &Kernel, t: Tid, addr: u64) -> Option<(SwpKind, SwpPteBits)> {
        let mm = k.tasks[t].mm;
        let slot = table::pmd_slot(&k.phys, k.mms[mm].pgd, addr)?;
        match huge_ptep_get(&k.phys, slot).kind() {
            PteKind::Swp(kind, bits) => Some((kind, bits)),
            PteKind::None | PteKind::Present(_) => None,
        }
    }

    #[test]
    fn the_entry_says_writable_readable_exclusive_or_readable() {
        let (mut k, t, p) = setup();
        let head = k.page_at(t, p).unwrap().unwrap().0;
        assert_eq!(k.migrate_begin(t, p, 1).unwrap(), 0);
        let (kind, _) = huge_swp(&k, t, p).expect("an entry");
        assert_eq!(kind, SwpKind::MigrationWrite { pfn: head.0 });
        assert_eq!(k.pages.page(head).mapcount(), 0, "the mapping went");
        assert_eq!(
            k.pages.folio_ref_count(Folio(head)),
            1,
            "only the isolation"
        );
        k.check_invariants().unwrap();
        assert_eq!(k.migrate_end(), 0);
        // Read-only and exclusive: readable-exclusive, exclusive again afterwards.
        k.mprotect(t, p, HPAGE_SIZE, PROT_READ).unwrap();
        let head = k.page_at(t, p).unwrap().unwrap().0;
        assert_eq!(k.migrate_begin(t, p, 0).unwrap(), 0);
        let (kind, _) = huge_swp(&k, t, p).expect("an entry");
        assert_eq!(kind, SwpKind::MigrationReadExclusive { pfn: head.0 });
        assert!(
            !k.pages.page(head).anon_exclusive(),
            "the flag moved into the entry"
        );
        assert_eq!(k.migrate_end(), 0);
        let (new, page) = k.page_at(t, p).unwrap().unwrap();
        assert!(page.anon_exclusive());
        assert!(!k.pte_at(t, p).unwrap().write());
        assert!(!k.pte_at(t, p).unwrap().young(), "mapped old");
        // Shared with a child: readable, and not exclusive afterwards in either.
        let c = k.fork(t).unwrap();
        assert_eq!(k.migrate_begin(t, p, 1).unwrap(), 0);
        assert_eq!(
            huge_swp(&k, t, p).map(|(kind, _)| kind),
            Some(SwpKind::MigrationRead { pfn: new.0 })
        );
        assert_eq!(huge_swp(&k, c, p), huge_swp(&k, t, p), "the child's too");
        assert_eq!(k.migrate_end(), 0);
        let (moved, page) = k.page_at(c, p).unwrap().unwrap();
        assert_eq!(page.mapcount(), 2);
        assert!(!page.anon_exclusive());
        assert_eq!(k.page_at(t, p).unwrap().unwrap().0, moved);
        assert_eq!(k.load(c, p).unwrap(), 0x5a);
        k.check_invariants().unwrap();
    }

    #[test]
    fn a_zap_clears_the_entry_and_the_migration_still_ends() {
        let (mut k, t, p) = setup();
        assert_eq!(k.migrate_begin(t, p, 1).unwrap(), 0);
        k.madvise(t, p, HPAGE_SIZE, MADV_DONTNEED).unwrap();
        assert_eq!(huge_swp(&k, t, p), None, "cleared, not left behind");
        k.check_invariants().unwrap();
        assert_eq!(k.migrate_end(), 0);
        // The mapping's page is gone; a new fault gets a fresh zeroed one.
        assert_eq!(k.load(t, p).unwrap(), 0);
        k.check_invariants().unwrap();
    }

    #[test]
    fn a_soft_dirty_uffd_wp_entry_keeps_its_bits_and_a_writable_vma_is_not_enough() {
        let (mut k, t, p) = setup();
        let mm = k.tasks[t].mm;
        let slot = table::pmd_slot(&k.phys, k.mms[mm].pgd, p).unwrap();
        let e = huge_ptep_get(&k.phys, slot);
        set_huge_pte_at(&mut k.phys, slot, e.wrprotect().mksoft_dirty().mkuffd_wp());
        assert_eq!(k.migrate_begin(t, p, 1).unwrap(), 0);
        let (kind, bits) = huge_swp(&k, t, p).unwrap();
        assert!(matches!(kind, SwpKind::MigrationReadExclusive { .. }));
        assert!(bits.soft_dirty && bits.uffd_wp);
        assert_eq!(k.migrate_end(), 0);
        let e = k.pte_at(t, p).unwrap();
        assert!(e.soft_dirty() && e.uffd_wp(), "{e:?}");
        assert!(
            !e.write(),
            "a readable entry maps read-only in a writable VMA"
        );
    }
}
