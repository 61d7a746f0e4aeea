//! 4-level page tables stored in simulated frames: where an address's entry is at each level
//! (pgd_offset .. pte_offset_map), reading and writing entries, and detaching tables for
//! free_pgd_range(). Allocating and freeing the table frames themselves is the folio
//! allocator's (mm/memory.rs: __pte_alloc and friends); walking a range is mm/pagewalk.rs.

use super::pmd::{Pmd, PmdKind};
use super::pte::{Pte, _PAGE_PRESENT, _PAGE_TABLE, PTE_PFN_MASK};
use crate::hw::PhysMem;
use crate::page::Pfn;

/// Shift of the address bits each level indexes: PGD, PUD, PMD, PTE.
pub const LEVEL_SHIFT: [u32; 4] = [39, 30, 21, 12];
/// The PMD level (the index of PMD_SHIFT in LEVEL_SHIFT).
pub const PMD_LEVEL: usize = 2;
/// PMD_SIZE: what one PTE table (or one huge PMD) covers.
pub const PMD_SIZE: u64 = 1 << 21;

/// Where a PTE lives: the PTE table's frame and the index in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PteSlot {
    pub table: Pfn,
    pub idx: usize,
}

/// Where a PMD entry lives: the PMD table's frame and the index in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PmdSlot {
    pub table: Pfn,
    pub idx: usize,
}

/// The entry that maps an address: a PTE, or a huge PMD.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Leaf {
    Pte(PteSlot),
    Pmd(PmdSlot),
}

/// The index of `addr` in a table of `level`.
#[inline]
pub fn index(addr: u64, level: usize) -> usize {
    ((addr >> LEVEL_SHIFT[level]) & 511) as usize
}

/// The table an upper-level (PGD or PUD) entry points at, if present.
#[inline]
pub fn next_table(phys: &PhysMem, table: Pfn, idx: usize) -> Option<Pfn> {
    let e = phys.table(table)[idx];
    (e & _PAGE_PRESENT != 0).then_some(Pfn((e & PTE_PFN_MASK) >> 12))
}

/// pgd_populate() / pud_populate() / pmd_populate(): point entry `idx` of `table` at the
/// new table `child`.
#[inline]
pub fn populate(phys: &mut PhysMem, table: Pfn, idx: usize, child: Pfn) {
    phys.table_mut(table)[idx] = (child.0 << 12) | _PAGE_TABLE;
}

/// pmd_offset() after the PGD and PUD levels: the PMD slot for `addr` if both exist.
#[inline]
pub fn pmd_slot(phys: &PhysMem, root: Pfn, addr: u64) -> Option<PmdSlot> {
    let pud = next_table(phys, root, index(addr, 0))?;
    let pmd = next_table(phys, pud, index(addr, 1))?;
    Some(PmdSlot {
        table: pmd,
        idx: index(addr, PMD_LEVEL),
    })
}

/// pte_offset_map(): the PTE slot for `addr` below the PMD entry `pmd`, if it points at a
/// PTE table.
#[inline]
pub fn pte_offset(phys: &PhysMem, pmd: PmdSlot, addr: u64) -> Option<PteSlot> {
    match get_pmd(phys, pmd).kind() {
        PmdKind::Table(table) => Some(PteSlot {
            table,
            idx: index(addr, 3),
        }),
        PmdKind::None | PmdKind::Leaf(_) | PmdKind::Swp(..) => None,
    }
}

/// The PTE slot for `addr` if every table down to it exists.
#[inline]
pub fn walk(phys: &PhysMem, root: Pfn, addr: u64) -> Option<PteSlot> {
    pte_offset(phys, pmd_slot(phys, root, addr)?, addr)
}

/// The entry that maps `addr`: a huge PMD, or else the PTE if there is a table for it.
#[inline]
pub fn walk_leaf(phys: &PhysMem, root: Pfn, addr: u64) -> Option<Leaf> {
    let pmd = pmd_slot(phys, root, addr)?;
    match get_pmd(phys, pmd).kind() {
        PmdKind::Leaf(_) => Some(Leaf::Pmd(pmd)),
        PmdKind::Table(table) => Some(Leaf::Pte(PteSlot {
            table,
            idx: index(addr, 3),
        })),
        PmdKind::None | PmdKind::Swp(..) => None,
    }
}

/// The present leaf that maps `addr` as a PTE-format value with the 4 KiB frame it gives
/// for `addr` (inside a huge page, its piece), if any.
pub fn leaf_frame(phys: &PhysMem, root: Pfn, addr: u64) -> Option<(Pfn, Pte)> {
    match walk_leaf(phys, root, addr)? {
        Leaf::Pmd(s) => {
            let e = get_pmd(phys, s);
            Some((e.pfn() + ((addr >> 12) & 511), e.as_pte()))
        }
        Leaf::Pte(s) => {
            let e = get(phys, s);
            e.is_present().then_some((e.pfn(), e))
        }
    }
}

/// Read a PTE.
#[inline]
pub fn get(phys: &PhysMem, slot: PteSlot) -> Pte {
    Pte(phys.table(slot.table)[slot.idx])
}

/// set_pte_at().
#[inline]
pub fn set(phys: &mut PhysMem, slot: PteSlot, pte: Pte) {
    phys.table_mut(slot.table)[slot.idx] = pte.0;
}

/// Read a PMD entry.
#[inline]
pub fn get_pmd(phys: &PhysMem, slot: PmdSlot) -> Pmd {
    Pmd(phys.table(slot.table)[slot.idx])
}

/// set_pmd_at().
#[inline]
pub fn set_pmd(phys: &mut PhysMem, slot: PmdSlot, pmd: Pmd) {
    phys.table_mut(slot.table)[slot.idx] = pmd.0;
}

/// move_normal_pud() / move_normal_pmd(): hand the table under entry `from` to the empty
/// entry `to` (of the same level) by moving the entry. False if `from` is empty or `to` is
/// not.
pub fn move_entry(phys: &mut PhysMem, from: (Pfn, usize), to: (Pfn, usize)) -> bool {
    let e = phys.table(from.0)[from.1];
    if e & _PAGE_PRESENT == 0 || phys.table(to.0)[to.1] & _PAGE_PRESENT != 0 {
        return false;
    }
    phys.table_mut(from.0)[from.1] = 0;
    phys.table_mut(to.0)[to.1] = e;
    true
}

/// How many page tables hang below `root` (not counting it): PUD, PMD and PTE tables.
pub fn count_tables(phys: &PhysMem, root: Pfn) -> u64 {
    let mut n = 0;
    for pgd_i in 0..512 {
        let Some(pud) = next_table(phys, root, pgd_i) else {
            continue;
        };
        n += 1;
        for pud_i in 0..512 {
            let Some(pmd) = next_table(phys, pud, pud_i) else {
                continue;
            };
            n += 1;
            n += (0..512)
                .filter(|&i| matches!(Pmd(phys.table(pmd)[i]).kind(), PmdKind::Table(_)))
                .count() as u64;
        }
    }
    n
}

/// The first address past the largest absent table (or huge leaf) that covers `addr`.
pub fn next_table_boundary(phys: &PhysMem, root: Pfn, addr: u64) -> u64 {
    let mut table = root;
    for (level, shift) in LEVEL_SHIFT.iter().enumerate().take(3) {
        let e = phys.table(table)[index(addr, level)];
        let descend = if level == PMD_LEVEL {
            match Pmd(e).kind() {
                PmdKind::Table(t) => Some(t),
                PmdKind::None | PmdKind::Leaf(_) | PmdKind::Swp(..) => None,
            }
        } else {
            next_table(phys, table, index(addr, level))
        };
        match descend {
            Some(t) => table = t,
            None => {
                let span = 1u64 << shift;
                return (addr & !(span - 1)).saturating_add(span);
            }
        }
    }
    (addr & !(PMD_SIZE - 1)).saturating_add(PMD_SIZE)
}

/// free_pgd_range()'s table half: detach the tables below `root` whose whole span lies in
/// `[floor, ceiling)` and meets `[start, end)`, deepest first. The caller zapped their entries
/// and frees the returned frames; each comes with its span's base address (what
/// pte_free_tlb() and friends add to the mmu_gather range).
pub fn detach_range(
    phys: &mut PhysMem,
    root: Pfn,
    (start, end): (u64, u64),
    (floor, ceiling): (u64, u64),
) -> Vec<(u64, Pfn)> {
    let mut detached = Vec::new();
    let mut stack = vec![(root, 0usize, 0u64, None::<(Pfn, usize)>)];
    // An explicit stack, children pushed after their parent and revisited once done, so the
    // depth the input controls never reaches the Rust stack.
    let mut post = Vec::new();
    while let Some((table, level, base, parent)) = stack.pop() {
        post.push((table, level, base, parent));
        if level == PMD_LEVEL {
            continue;
        }
        let span = 1u64 << LEVEL_SHIFT[level];
        for i in 0..512usize {
            let lo = base + i as u64 * span;
            let hi = lo.saturating_add(span);
            if hi <= start || lo >= end {
                continue;
            }
            if let Some(child) = next_table(phys, table, i) {
                stack.push((child, level + 1, lo, Some((table, i))));
            }
        }
    }
    // PMD tables hold PTE tables; visit them for their PTE tables, then every level bottom-up.
    for &(table, level, base, _) in post.iter().rev() {
        if level != PMD_LEVEL {
            continue;
        }
        for i in 0..512usize {
            let lo = base + i as u64 * PMD_SIZE;
            let hi = lo.saturating_add(PMD_SIZE);
            if hi <= start || lo >= end || lo < floor || hi > ceiling {
                continue;
            }
            if let PmdKind::Table(child) = Pmd(phys.table(table)[i]).kind() {
                debug_assert!(
                    phys.table(child).iter().all(|&x| x == 0),
                    "freeing a PTE table that still maps"
                );
                phys.table_mut(table)[i] = 0;
                detached.push((lo, child));
            }
        }
    }
    for &(table, level, base, parent) in post.iter().rev() {
        let Some((ptable, pidx)) = parent else {
            continue;
        };
        let span = 1u64 << LEVEL_SHIFT[level - 1];
        let (lo, hi) = (base, base.saturating_add(span));
        if lo >= floor && hi <= ceiling && phys.table(table).iter().all(|&x| x == 0) {
            phys.table_mut(ptable)[pidx] = 0;
            detached.push((lo, table));
        }
    }
    detached
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ContentMode;

    fn new_table(phys: &mut PhysMem, next: &mut u64) -> Pfn {
        *next += 1;
        phys.make_table(Pfn(*next));
        Pfn(*next)
    }

    #[test]
    fn walks_find_each_level_and_detach_goes_bottom_up() {
        let mut phys = PhysMem::new(ContentMode::Tagged, 1 << 16);
        let mut next = 0x100;
        let root = new_table(&mut phys, &mut next);
        let addr = 0x7f00_0020_3000;
        assert_eq!(walk(&phys, root, addr), None);
        let (pud, pmd, pte) = (
            new_table(&mut phys, &mut next),
            new_table(&mut phys, &mut next),
            new_table(&mut phys, &mut next),
        );
        populate(&mut phys, root, index(addr, 0), pud);
        populate(&mut phys, pud, index(addr, 1), pmd);
        populate(&mut phys, pmd, index(addr, 2), pte);
        let slot = walk(&phys, root, addr).unwrap();
        assert_eq!((slot.table, slot.idx), (pte, 3));
        assert_eq!(walk_leaf(&phys, root, addr), Some(Leaf::Pte(slot)));
        assert_eq!(next_table_boundary(&phys, root, 0x1000), 1 << 39);
        // A neighbouring VMA below the PMD's span keeps the PTE table.
        assert!(detach_range(
            &mut phys,
            root,
            (addr, addr + 4096),
            (addr - 4096, u64::MAX)
        )
        .is_empty());
        let gone = detach_range(&mut phys, root, (addr, addr + 4096), (0, u64::MAX));
        let span = |shift: u32| addr & !((1u64 << shift) - 1);
        assert_eq!(
            gone,
            vec![(span(21), pte), (span(30), pmd), (span(39), pud)],
            "PTE, PMD and PUD tables, deepest first"
        );
        assert_eq!(walk(&phys, root, addr), None);
    }

    #[test]
    fn huge_leaves_are_seen_as_such() {
        let mut phys = PhysMem::new(ContentMode::Tagged, 1 << 16);
        let mut next = 0x100;
        let root = new_table(&mut phys, &mut next);
        let addr = 0x4000_0000u64;
        let (pud, pmd) = (
            new_table(&mut phys, &mut next),
            new_table(&mut phys, &mut next),
        );
        populate(&mut phys, root, index(addr, 0), pud);
        populate(&mut phys, pud, index(addr, 1), pmd);
        let s = pmd_slot(&phys, root, addr).unwrap();
        let huge = Pmd::huge(Pfn(0x200), crate::pgtable::pte::PAGE_SHARED);
        set_pmd(&mut phys, s, huge);
        assert_eq!(
            walk(&phys, root, addr + 0x5000),
            None,
            "no PTE table under a leaf"
        );
        assert_eq!(walk_leaf(&phys, root, addr + 0x5000), Some(Leaf::Pmd(s)));
        assert_eq!(
            leaf_frame(&phys, root, addr + 0x5000).map(|(p, _)| p),
            Some(Pfn(0x205))
        );
    }
}
