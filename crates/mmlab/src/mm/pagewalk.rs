//! mm/pagewalk.c: the one page-table walker. It visits the PMD entries of a range and, below
//! each that holds a PTE table, the PTEs, handing each entry over as its kind (`PmdKind`,
//! `PteKind`) so that every walker states what it does with each: an entry kind a walker
//! does not handle is a compile error in that walker, not a silent skip.
//! A walk that changes entries runs on `&mut Kernel`; one that only reads (pagemap, smaps,
//! the invariant checker) runs on `&Kernel`, its callbacks getting the shared kernel.
//! Locks: the caller holds what Linux's caller of walk_page_range() holds (the mmap lock, in
//! read or write mode); the PTL of each table is taken around its PTEs.

use std::ops::ControlFlow;

use crate::kernel::Kernel;
use crate::mm::MmId;
use crate::pgtable::pmd::PmdKind;
use crate::pgtable::pte::PteKind;
use crate::pgtable::table::{self, PmdSlot, PteSlot, PMD_SIZE};

/// What the walker does after a PMD entry's callback (ACTION_* of mm_walk).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PmdAction {
    /// Walk the PTE table below if there is one (ACTION_SUBTREE); a PMD with no table is a
    /// hole.
    Descend,
    /// The callback dealt with the whole entry (ACTION_CONTINUE).
    Done,
    /// The callback changed the entry (e.g. split a huge PMD): look at it again
    /// (ACTION_AGAIN).
    Again,
}

/// struct mm_walk_ops: what a walk does at each level; `K` is `Kernel` for a walk that
/// changes entries, `&Kernel` for one that only reads.
pub(crate) trait MmWalk<K = Kernel> {
    /// A PMD entry whose span meets the range; `[addr, next)` is the part in range.
    fn pmd_entry(
        &mut self,
        k: &mut K,
        addr: u64,
        next: u64,
        slot: PmdSlot,
        e: PmdKind,
    ) -> ControlFlow<(), PmdAction>;
    /// A PTE in range, below a PMD the callback descended into.
    fn pte_entry(&mut self, k: &mut K, addr: u64, slot: PteSlot, e: PteKind) -> ControlFlow<()>;
    /// The PTEs of one table are done (where pte_unmap_unlock() comes in Linux's walkers).
    fn pte_table_done(&mut self, _k: &mut K, _addr: u64, _end: u64) {}
    /// `[start, end)` has no page table at some level, or a PMD with nothing below it.
    fn pte_hole(&mut self, _k: &mut K, _start: u64, _end: u64) {}
}

impl AsRef<Kernel> for Kernel {
    fn as_ref(&self) -> &Kernel {
        self
    }
}

/// walk_page_range() over `[start, end)` of `mm`'s page tables (page aligned). Stops early
/// when a callback breaks.
pub(crate) fn walk_page_range<K: AsRef<Kernel>>(
    k: &mut K,
    mm: MmId,
    start: u64,
    end: u64,
    ops: &mut impl MmWalk<K>,
) -> ControlFlow<()> {
    let root = k.as_ref().mms[mm].pgd;
    let mut addr = start;
    while addr < end {
        let Some(pmd) = table::pmd_slot(&k.as_ref().phys, root, addr) else {
            let next = table::next_table_boundary(&k.as_ref().phys, root, addr).min(end);
            ops.pte_hole(k, addr, next);
            addr = next;
            continue;
        };
        let next = ((addr | (PMD_SIZE - 1)) + 1).min(end);
        loop {
            let e = table::get_pmd(&k.as_ref().phys, pmd).kind();
            match ops.pmd_entry(k, addr, next, pmd, e)? {
                PmdAction::Again => continue,
                PmdAction::Done => break,
                PmdAction::Descend => {
                    walk_pte_range(k, pmd, addr, next, ops)?;
                    break;
                }
            }
        }
        if next == end {
            break;
        }
        addr = next;
    }
    ControlFlow::Continue(())
}

/// walk_pte_range(): the PTEs of `[addr, end)` below `pmd` (one table), or a hole.
fn walk_pte_range<K: AsRef<Kernel>>(
    k: &mut K,
    pmd: PmdSlot,
    addr: u64,
    end: u64,
    ops: &mut impl MmWalk<K>,
) -> ControlFlow<()> {
    let Some(first) = table::pte_offset(&k.as_ref().phys, pmd, addr) else {
        ops.pte_hole(k, addr, end);
        return ControlFlow::Continue(());
    };
    let mut slot = first;
    let mut a = addr;
    while a < end {
        let e = table::get(&k.as_ref().phys, slot).kind();
        ops.pte_entry(k, a, slot, e)?;
        a += crate::hw::PAGE_SIZE;
        slot.idx += 1;
    }
    ops.pte_table_done(k, addr, end);
    ControlFlow::Continue(())
}
