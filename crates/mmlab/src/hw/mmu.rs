//! The MMU's page walk on a TLB miss: check permissions, set accessed/dirty as x86 does.

use crate::hw::PhysMem;
use crate::pgtable::pte::{Pte, _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_PRESENT, _PAGE_RW, _PAGE_USER};
use crate::pgtable::table;

/// What the walk found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Walk {
    /// A translation the access may use; A (and D on writes) are now set in the PTE.
    Ok {
        pfn: u64,
        writable: bool,
        dirty: bool,
        /// A 2 MiB (PMD) entry translated it.
        huge: bool,
    },
    /// A page fault: not present, or a write to a read-only entry.
    Fault { present: bool },
}

/// A user-mode access walk: what the hardware does between a TLB miss and the fill.
#[inline]
pub fn walk(phys: &mut PhysMem, root: u64, addr: u64, write: bool) -> Walk {
    let Some((slot, huge)) = table::walk_leaf(phys, root, addr) else {
        return Walk::Fault { present: false };
    };
    let pte = table::get(phys, slot);
    if pte.0 & (_PAGE_PRESENT | _PAGE_USER) != (_PAGE_PRESENT | _PAGE_USER) {
        return Walk::Fault {
            present: pte.0 & _PAGE_PRESENT != 0,
        };
    }
    if write && pte.0 & _PAGE_RW == 0 {
        return Walk::Fault { present: true };
    }
    let mut new = pte.0 | _PAGE_ACCESSED;
    if write {
        new |= _PAGE_DIRTY;
    }
    if new != pte.0 {
        table::set(phys, slot, Pte(new));
    }
    // A 2 MiB entry maps 512 frames; the TLB caches the 4 KiB piece that was used.
    let pfn = if huge {
        pte.pfn() + ((addr >> 12) & 511)
    } else {
        pte.pfn()
    };
    Walk::Ok {
        pfn,
        writable: pte.write(),
        dirty: new & _PAGE_DIRTY != 0,
        huge,
    }
}
