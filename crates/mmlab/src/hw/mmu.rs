//! The MMU's page walk on a TLB miss: check permissions, set accessed/dirty as x86 does.

use crate::hw::PhysMem;
use crate::page::Pfn;
use crate::pgtable::pte::{_PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_PRESENT, _PAGE_RW, _PAGE_USER};
use crate::pgtable::table::{self, Leaf};

/// What the walk found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Walk {
    /// A translation the access may use; A (and D on writes) are now set in the entry.
    Ok {
        pfn: Pfn,
        writable: bool,
        dirty: bool,
        /// A 2 MiB (PMD) entry translated it.
        huge: bool,
    },
    /// A page fault: not present, or a write to a read-only entry.
    Fault { present: bool },
}

/// A user-mode access walk: what the hardware does between a TLB miss and the fill. The
/// hardware reads raw bits at either level; the A and D bits sit where they do in both.
#[inline]
pub fn walk(phys: &mut PhysMem, root: Pfn, addr: u64, write: bool) -> Walk {
    let Some(leaf) = table::walk_leaf(phys, root, addr) else {
        return Walk::Fault { present: false };
    };
    let (tbl, idx, huge) = match leaf {
        Leaf::Pte(s) => (s.table, s.idx, false),
        Leaf::Pmd(s) => (s.table, s.idx, true),
    };
    let raw = phys.table(tbl)[idx];
    if raw & (_PAGE_PRESENT | _PAGE_USER) != (_PAGE_PRESENT | _PAGE_USER) {
        return Walk::Fault {
            present: raw & _PAGE_PRESENT != 0,
        };
    }
    if write && raw & _PAGE_RW == 0 {
        return Walk::Fault { present: true };
    }
    let mut new = raw | _PAGE_ACCESSED;
    if write {
        new |= _PAGE_DIRTY;
    }
    if new != raw {
        phys.table_mut(tbl)[idx] = new;
    }
    let frame = Pfn((raw & crate::pgtable::pte::PTE_PFN_MASK) >> 12);
    // A 2 MiB entry maps 512 frames; the TLB caches the 4 KiB piece that was used.
    let pfn = if huge {
        frame + ((addr >> 12) & 511)
    } else {
        frame
    };
    Walk::Ok {
        pfn,
        writable: raw & _PAGE_RW != 0,
        dirty: new & _PAGE_DIRTY != 0,
        huge,
    }
}
