//! Page-table pages: __pud_alloc/__pmd_alloc/__pte_alloc and free_pgd_range() of mm/memory.c
//! with the pte_alloc_one()/pte_free() of asm/pgalloc.h. Table frames come from and go back
//! to the folio allocator like any other page (GFP_PGTABLE_USER), so an injected allocation
//! failure reaches every path that needs a table.

use crate::kernel::Kernel;
use crate::mm::mmu_gather::MmuGather;
use crate::mm::MmId;
use crate::page::{Gfp, PageFlags, Pfn};
use crate::pgtable::pmd::PmdKind;
use crate::pgtable::table::{self, PmdSlot, PteSlot, PMD_LEVEL};

impl Kernel {
    /// pte_alloc_one() / pmd_alloc_one() / pud_alloc_one(): a zeroed page-table frame.
    pub(crate) fn alloc_pgtable(&mut self) -> Option<Pfn> {
        let f = self.alloc_folio(Gfp::PGTABLE_USER, 0)?;
        self.pages.folio_set(f, PageFlags::TABLE);
        self.phys.make_table(f.pfn());
        Some(f.pfn())
    }

    /// pte_free() and friends: a page-table frame goes back.
    pub(crate) fn free_pgtable(&mut self, t: Pfn) {
        self.phys.drop_table(t);
        let f = self.pages.folio(t);
        self.pages.folio_clear(f, PageFlags::TABLE);
        self.folio_put(f);
    }

    /// pud_alloc() + pmd_alloc(): the PMD slot for `addr`, allocating the PUD and PMD tables
    /// that are missing. None when a table cannot be allocated.
    pub(crate) fn pmd_alloc(&mut self, mm: MmId, addr: u64) -> Option<PmdSlot> {
        let mut t = self.mms[mm].pgd;
        for level in 0..PMD_LEVEL {
            let i = table::index(addr, level);
            t = match table::next_table(&self.phys, t, i) {
                Some(child) => child,
                None => {
                    let new = self.alloc_pgtable()?;
                    table::populate(&mut self.phys, t, i, new);
                    new
                }
            };
        }
        Some(PmdSlot {
            table: t,
            idx: table::index(addr, PMD_LEVEL),
        })
    }

    /// pte_alloc() (__pte_alloc()): the PTE slot for `addr` below `pmd`, allocating the PTE
    /// table if the PMD is empty. None on OOM, or when the PMD maps a huge page or holds a
    /// huge swap-format entry (no table to hand out).
    pub(crate) fn pte_alloc(&mut self, pmd: PmdSlot, addr: u64) -> Option<PteSlot> {
        match table::get_pmd(&self.phys, pmd).kind() {
            PmdKind::Table(_) => {}
            PmdKind::None => {
                let new = self.alloc_pgtable()?;
                table::populate(&mut self.phys, pmd.table, pmd.idx, new);
            }
            PmdKind::Leaf(_) | PmdKind::Swp(..) => return None,
        }
        table::pte_offset(&self.phys, pmd, addr)
    }

    /// pte_alloc_map() from the top: every table down to the PTE for `addr`.
    pub(crate) fn walk_alloc(&mut self, mm: MmId, addr: u64) -> Option<PteSlot> {
        let pmd = self.pmd_alloc(mm, addr)?;
        self.pte_alloc(pmd, addr)
    }

    /// free_pgd_range(): free the (empty) tables whose span lies in `[floor, ceiling)` and
    /// meets `[start, end)`; their spans go into the gather (pte_free_tlb()).
    pub(crate) fn free_pgd_range(
        &mut self,
        tlb: &mut MmuGather,
        mm: MmId,
        range: (u64, u64),
        bounds: (u64, u64),
    ) {
        let root = self.mms[mm].pgd;
        for (base, t) in table::detach_range(&mut self.phys, root, range, bounds) {
            tlb.freed_table_at(base);
            self.free_pgtable(t);
        }
    }

    /// exit_mmap()'s free_pgtables() over everything, then the PGD itself (mm_free_pgd()).
    pub(crate) fn free_all_pgtables(&mut self, mm: MmId) {
        let root = self.mms[mm].pgd;
        for (_, t) in table::detach_range(&mut self.phys, root, (0, u64::MAX), (0, u64::MAX)) {
            self.free_pgtable(t);
        }
        self.free_pgtable(root);
    }
}
