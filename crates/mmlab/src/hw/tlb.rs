//! A per-CPU TLB: direct-mapped, tagged with the address space (like PCID), counting flushes.

use crate::page::Pfn;

/// One cached translation. `writable`/`dirty` mirror the PTE bits at fill time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TlbEntry {
    pub vpn: u64,
    pub mm: u32,
    pub pfn: Pfn,
    pub writable: bool,
    pub dirty: bool,
    /// Filled from a 2 MiB (PMD) mapping: the hardware holds one entry for the whole 2 MiB,
    /// which the model keeps as per-4 KiB pieces that go together.
    pub huge: bool,
}

const INVALID: TlbEntry = TlbEntry {
    vpn: u64::MAX,
    mm: u32::MAX,
    pfn: Pfn(0),
    writable: false,
    dirty: false,
    huge: false,
};
/// Entries per TLB.
pub const TLB_ENTRIES: usize = 512;

/// One CPU's TLB and its flush counters.
pub struct Tlb {
    entries: Box<[TlbEntry]>,
    /// Flush requests this CPU carried out (local or received by IPI), any size.
    pub flushes: u64,
}

impl Default for Tlb {
    fn default() -> Self {
        Tlb {
            entries: vec![INVALID; TLB_ENTRIES].into_boxed_slice(),
            flushes: 0,
        }
    }
}

#[inline]
fn slot(mm: u32, vpn: u64) -> usize {
    ((vpn ^ (mm as u64).wrapping_mul(0x9e37_79b9)) as usize) & (TLB_ENTRIES - 1)
}

impl Tlb {
    /// The cached translation of `vpn` in `mm`, if any.
    #[inline]
    pub fn lookup(&mut self, mm: u32, vpn: u64) -> Option<&mut TlbEntry> {
        let e = &mut self.entries[slot(mm, vpn)];
        (e.vpn == vpn && e.mm == mm).then_some(e)
    }

    /// Cache a translation (evicting whatever shared its slot).
    #[inline]
    pub fn fill(&mut self, e: TlbEntry) {
        self.entries[slot(e.mm, e.vpn)] = e;
    }

    /// invlpg: drop one translation; for a 2 MiB one, every cached piece of it.
    #[inline]
    pub fn flush_one(&mut self, mm: u32, vpn: u64) {
        let e = &mut self.entries[slot(mm, vpn)];
        if e.vpn == vpn && e.mm == mm {
            let huge = e.huge;
            *e = INVALID;
            if huge {
                self.flush_huge(mm, vpn & !511);
            }
        }
    }

    /// Drop the pieces of the 2 MiB translation starting at `base_vpn`.
    #[cold]
    fn flush_huge(&mut self, mm: u32, base_vpn: u64) {
        for vpn in base_vpn..base_vpn + 512 {
            let e = &mut self.entries[slot(mm, vpn)];
            if e.vpn == vpn && e.mm == mm {
                *e = INVALID;
            }
        }
    }

    /// Drop every translation of one address space.
    pub fn flush_mm(&mut self, mm: u32) {
        for e in self.entries.iter_mut().filter(|e| e.mm == mm) {
            *e = INVALID;
        }
    }

    /// The valid entries, for the invariant checker.
    pub fn entries(&self) -> impl Iterator<Item = &TlbEntry> {
        self.entries.iter().filter(|e| e.vpn != u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_tagged_by_address_space() {
        let mut t = Tlb::default();
        t.fill(TlbEntry {
            vpn: 5,
            mm: 1,
            pfn: Pfn(9),
            writable: true,
            dirty: false,
            huge: false,
        });
        assert!(t.lookup(2, 5).is_none(), "another mm misses");
        assert_eq!(t.lookup(1, 5).map(|e| e.pfn), Some(Pfn(9)));
        t.flush_mm(2);
        assert!(t.lookup(1, 5).is_some());
        t.flush_one(1, 5);
        assert!(t.lookup(1, 5).is_none());
        assert_eq!(t.entries().count(), 0);
    }
}
