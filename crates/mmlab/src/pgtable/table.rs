//! 4-level page tables stored in simulated frames: walk, allocate (__pte_alloc and friends) and
//! free (free_pgd_range). Every table is a frame from the allocator, marked PageTable.

use super::pte::{Pte, _PAGE_PRESENT, _PAGE_PSE, _PAGE_TABLE, PTE_PFN_MASK};
use crate::hw::PhysMem;
use crate::page::{flags, PageAlloc};

/// Shift of the address bits each level indexes: PGD, PUD, PMD, PTE.
const LEVEL_SHIFT: [u32; 4] = [39, 30, 21, 12];

/// Where a leaf PTE lives: the PTE table's frame and the index in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PteSlot {
    pub table: u64,
    pub idx: usize,
}

#[inline]
fn index(addr: u64, level: usize) -> usize {
    ((addr >> LEVEL_SHIFT[level]) & 511) as usize
}

/// A fresh, empty page-table frame (pte_alloc_one / pmd_alloc_one ...), or None on OOM.
pub fn alloc_table(phys: &mut PhysMem, pages: &mut PageAlloc) -> Option<u64> {
    let pfn = pages.alloc()?;
    pages.page_mut(pfn).flags = flags::PG_TABLE;
    phys.make_table(pfn);
    Some(pfn)
}

/// Release a page-table frame (pte_free and friends).
pub fn free_table(phys: &mut PhysMem, pages: &mut PageAlloc, pfn: u64) {
    phys.drop_table(pfn);
    pages.free(pfn);
}

/// pte_offset_map() after the upper-level walk: the PTE slot for `addr` if all tables exist.
#[inline]
pub fn walk(phys: &PhysMem, root: u64, addr: u64) -> Option<PteSlot> {
    let mut table = root;
    for level in 0..3 {
        let e = phys.table(table)[index(addr, level)];
        // A huge (PSE) entry at the PMD level maps the range itself: there is no PTE table.
        if e & _PAGE_PRESENT == 0 || (level == 2 && e & _PAGE_PSE != 0) {
            return None;
        }
        table = (e & PTE_PFN_MASK) >> 12;
    }
    Some(PteSlot {
        table,
        idx: index(addr, 3),
    })
}

/// The leaf entry that maps `addr`: a PTE slot, or a PMD slot holding a huge (PSE) entry.
#[inline]
pub fn walk_leaf(phys: &PhysMem, root: u64, addr: u64) -> Option<(PteSlot, bool)> {
    let pmd = pmd_slot(phys, root, addr)?;
    let e = phys.table(pmd.table)[pmd.idx];
    if e & _PAGE_PSE != 0 && Pte(e).is_present() {
        return Some((pmd, true));
    }
    walk(phys, root, addr).map(|s| (s, false))
}

/// pmd_alloc(): the PMD slot for `addr`, creating the PUD and PMD tables. None on OOM.
pub fn walk_alloc_pmd(
    phys: &mut PhysMem,
    pages: &mut PageAlloc,
    root: u64,
    addr: u64,
) -> Option<PteSlot> {
    let mut table = root;
    for level in 0..2 {
        let i = index(addr, level);
        let e = phys.table(table)[i];
        table = if e & _PAGE_PRESENT != 0 {
            (e & PTE_PFN_MASK) >> 12
        } else {
            let new = alloc_table(phys, pages)?;
            phys.table_mut(table)[i] = (new << 12) | _PAGE_TABLE;
            new
        };
    }
    Some(PteSlot {
        table,
        idx: index(addr, 2),
    })
}

/// pud_alloc/pmd_alloc/pte_alloc: walk to the PTE slot, creating missing tables. None on OOM.
pub fn walk_alloc(
    phys: &mut PhysMem,
    pages: &mut PageAlloc,
    root: u64,
    addr: u64,
) -> Option<PteSlot> {
    let pmd = walk_alloc_pmd(phys, pages, root, addr)?;
    pte_alloc(phys, pages, pmd, addr)
}

/// pte_offset_map(): the PTE slot for `addr` below the PMD entry `pmd`, if it points at a
/// PTE table.
#[inline]
pub fn pte_offset(phys: &PhysMem, pmd: PteSlot, addr: u64) -> Option<PteSlot> {
    let e = phys.table(pmd.table)[pmd.idx];
    (e & _PAGE_PRESENT != 0 && e & _PAGE_PSE == 0).then(|| PteSlot {
        table: (e & PTE_PFN_MASK) >> 12,
        idx: index(addr, 3),
    })
}

/// pte_alloc(): the PTE slot for `addr` below the PMD entry `pmd`, creating the PTE table.
/// None on OOM or when a huge entry maps the range.
pub fn pte_alloc(
    phys: &mut PhysMem,
    pages: &mut PageAlloc,
    pmd: PteSlot,
    addr: u64,
) -> Option<PteSlot> {
    let e = phys.table(pmd.table)[pmd.idx];
    if e & _PAGE_PSE != 0 {
        // A huge entry maps this range: there is no PTE table to hand out.
        return None;
    }
    let table = if e & _PAGE_PRESENT != 0 {
        (e & PTE_PFN_MASK) >> 12
    } else {
        let new = alloc_table(phys, pages)?;
        phys.table_mut(pmd.table)[pmd.idx] = (new << 12) | _PAGE_TABLE;
        new
    };
    Some(PteSlot {
        table,
        idx: index(addr, 3),
    })
}

/// Read a leaf entry.
#[inline]
pub fn get(phys: &PhysMem, slot: PteSlot) -> Pte {
    Pte(phys.table(slot.table)[slot.idx])
}

/// set_pte_at().
#[inline]
pub fn set(phys: &mut PhysMem, slot: PteSlot, pte: Pte) {
    phys.table_mut(slot.table)[slot.idx] = pte.0;
}

/// Every existing PTE slot in `[start, end)` with its address, for walks that change entries.
pub fn slots(phys: &PhysMem, root: u64, start: u64, end: u64) -> Vec<(u64, PteSlot)> {
    let mut v = Vec::new();
    for_each_slot(phys, root, start, end, |a, s| v.push((a, s)));
    v
}

/// Visit every existing PTE slot in `[start, end)` (page aligned), skipping absent tables.
pub fn for_each_slot(
    phys: &PhysMem,
    root: u64,
    start: u64,
    end: u64,
    mut f: impl FnMut(u64, PteSlot),
) {
    let mut addr = start;
    while addr < end {
        match walk(phys, root, addr) {
            Some(slot) => {
                let table_end = ((addr >> 21) + 1) << 21;
                let stop = table_end.min(end);
                let mut a = addr;
                while a < stop {
                    f(
                        a,
                        PteSlot {
                            table: slot.table,
                            idx: index(a, 3),
                        },
                    );
                    a += 4096;
                }
                addr = stop;
            }
            None => addr = next_table_boundary(phys, root, addr),
        }
    }
}

/// The first address past the largest absent table that covers `addr`.
fn next_table_boundary(phys: &PhysMem, root: u64, addr: u64) -> u64 {
    let mut table = root;
    for (level, shift) in LEVEL_SHIFT.iter().enumerate().take(3) {
        let e = phys.table(table)[index(addr, level)];
        if e & _PAGE_PRESENT == 0 || (level == 2 && e & _PAGE_PSE != 0) {
            let span = 1u64 << shift;
            return (addr & !(span - 1)).saturating_add(span);
        }
        table = (e & PTE_PFN_MASK) >> 12;
    }
    addr + (1 << 21)
}

/// free_pgd_range(): free the tables below `root` whose whole span lies in `[floor, ceiling)`
/// and meets `[start, end)`. The caller has zapped their entries. Returns the base address of
/// each freed table's span (what pte_free_tlb() and friends add to the mmu_gather range).
pub fn free_range(
    phys: &mut PhysMem,
    pages: &mut PageAlloc,
    root: u64,
    start: u64,
    end: u64,
    floor: u64,
    ceiling: u64,
) -> Vec<u64> {
    let mut freed = Vec::new();
    free_level(
        phys, pages, root, 0, 0, start, end, floor, ceiling, &mut freed,
    );
    freed
}

#[allow(clippy::too_many_arguments)]
fn free_level(
    phys: &mut PhysMem,
    pages: &mut PageAlloc,
    table: u64,
    level: usize,
    base: u64,
    start: u64,
    end: u64,
    floor: u64,
    ceiling: u64,
    freed: &mut Vec<u64>,
) {
    let span = 1u64 << LEVEL_SHIFT[level];
    for i in 0..512usize {
        let lo = base + i as u64 * span;
        let hi = lo.saturating_add(span);
        if hi <= start || lo >= end {
            continue;
        }
        let e = phys.table(table)[i];
        if e & _PAGE_PRESENT == 0 || level == 3 || (level == 2 && e & _PAGE_PSE != 0) {
            continue;
        }
        let child = (e & PTE_PFN_MASK) >> 12;
        free_level(
            phys,
            pages,
            child,
            level + 1,
            lo,
            start,
            end,
            floor,
            ceiling,
            freed,
        );
        if lo >= floor && hi <= ceiling {
            debug_assert!(
                phys.table(child).iter().all(|&x| x == 0),
                "freeing a table that still maps"
            );
            phys.table_mut(table)[i] = 0;
            free_table(phys, pages, child);
            freed.push(lo);
        }
    }
}

/// Free every table below `root` and the root itself (exit_mmap's free_pgtables over all).
pub fn free_all(phys: &mut PhysMem, pages: &mut PageAlloc, root: u64) -> usize {
    let n = free_range(phys, pages, root, 0, u64::MAX, 0, u64::MAX).len();
    free_table(phys, pages, root);
    n + 1
}

/// The PMD entry covering `addr` (where a PTE table hangs), if the PUD level exists.
pub fn pmd_slot(phys: &PhysMem, root: u64, addr: u64) -> Option<PteSlot> {
    let mut table = root;
    for level in 0..2 {
        let e = phys.table(table)[index(addr, level)];
        if e & _PAGE_PRESENT == 0 {
            return None;
        }
        table = (e & PTE_PFN_MASK) >> 12;
    }
    Some(PteSlot {
        table,
        idx: index(addr, 2),
    })
}

/// Every present huge (PSE) PMD entry whose 2 MiB span meets `[start, end)`, with its
/// 2 MiB-aligned address, skipping absent upper tables.
pub fn huge_leaves(phys: &PhysMem, root: u64, start: u64, end: u64) -> Vec<(u64, PteSlot, Pte)> {
    let mut v = Vec::new();
    let mut addr = start & !((1 << 21) - 1);
    while addr < end {
        match pmd_slot(phys, root, addr) {
            Some(s) => {
                let e = get(phys, s);
                if e.0 & _PAGE_PSE != 0 && e.is_present() {
                    v.push((addr, s, e));
                }
                addr = match addr.checked_add(1 << 21) {
                    Some(a) => a,
                    None => break,
                };
            }
            None => addr = next_table_boundary(phys, root, addr),
        }
    }
    v
}

/// move_normal_pmd(): hand the whole PTE table covering the 2 MiB-aligned `old` to the
/// 2 MiB-aligned `new` by moving the PMD entry. False (nothing done) if `old` has no PTE table,
/// `new` already has one, or the upper levels for `new` cannot be allocated.
pub fn move_pmd_table(
    phys: &mut PhysMem,
    pages: &mut PageAlloc,
    root: u64,
    old: u64,
    new: u64,
) -> bool {
    let Some(src) = pmd_slot(phys, root, old) else {
        return false;
    };
    let entry = phys.table(src.table)[src.idx];
    if entry & _PAGE_PRESENT == 0 {
        return false;
    }
    // alloc_new_pmd(): the PUD and PMD levels for `new`, but no PTE table.
    let mut table = root;
    for level in 0..2 {
        let i = index(new, level);
        let e = phys.table(table)[i];
        table = if e & _PAGE_PRESENT != 0 {
            (e & PTE_PFN_MASK) >> 12
        } else {
            let Some(t) = alloc_table(phys, pages) else {
                return false;
            };
            phys.table_mut(table)[i] = (t << 12) | _PAGE_TABLE;
            t
        };
    }
    let dst = PteSlot {
        table,
        idx: index(new, 2),
    };
    if phys.table(dst.table)[dst.idx] & _PAGE_PRESENT != 0 {
        return false;
    }
    phys.table_mut(src.table)[src.idx] = 0;
    phys.table_mut(dst.table)[dst.idx] = entry;
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ContentMode;

    #[test]
    fn walk_alloc_builds_three_levels_and_free_range_releases_them() {
        let mut phys = PhysMem::new(ContentMode::Tagged);
        let mut pages = PageAlloc::new(64 << 20);
        let root = alloc_table(&mut phys, &mut pages).unwrap();
        let used0 = pages.nr_used();
        let addr = 0x7f00_0020_3000;
        assert_eq!(walk(&phys, root, addr), None);
        let slot = walk_alloc(&mut phys, &mut pages, root, addr).unwrap();
        assert_eq!(pages.nr_used(), used0 + 3, "PUD, PMD and PTE tables");
        assert_eq!(walk(&phys, root, addr), Some(slot));
        assert_eq!(slot.idx, 3);
        set(&mut phys, slot, Pte(0x1234_5067));
        let mut seen = vec![];
        for_each_slot(&phys, root, addr - 0x1000, addr + 0x2000, |a, s| {
            seen.push((a, get(&phys, s)))
        });
        assert_eq!(seen.len(), 3);
        assert_eq!(seen[1], (addr, Pte(0x1234_5067)));
        set(&mut phys, slot, Pte::NONE);
        // A neighbouring VMA below the PMD's span keeps the PTE table alive.
        assert!(free_range(
            &mut phys,
            &mut pages,
            root,
            addr,
            addr + 4096,
            addr - 4096,
            u64::MAX
        )
        .is_empty());
        let freed = free_range(&mut phys, &mut pages, root, addr, addr + 4096, 0, u64::MAX);
        let span = |shift: u32| addr & !((1u64 << shift) - 1);
        assert_eq!(
            freed,
            vec![span(21), span(30), span(39)],
            "PTE, PMD and PUD table spans"
        );
        assert_eq!(pages.nr_used(), used0);
    }

    #[test]
    fn move_pmd_table_moves_a_whole_pte_table() {
        let mut phys = PhysMem::new(ContentMode::Tagged);
        let mut pages = PageAlloc::new(64 << 20);
        let root = alloc_table(&mut phys, &mut pages).unwrap();
        let (old, new) = (0x4000_0000u64, 0x8020_0000u64);
        let slot = walk_alloc(&mut phys, &mut pages, root, old + 0x5000).unwrap();
        set(&mut phys, slot, Pte(0x7000_0067));
        assert!(move_pmd_table(&mut phys, &mut pages, root, old, new));
        assert_eq!(
            walk(&phys, root, old + 0x5000),
            None,
            "the old range has no PTE table now"
        );
        assert_eq!(
            walk(&phys, root, new + 0x5000).map(|s| get(&phys, s)),
            Some(Pte(0x7000_0067))
        );
        assert!(
            !move_pmd_table(&mut phys, &mut pages, root, old, new),
            "nothing left to move"
        );
    }
}
