//! The x86-64 PMD entry: it points at a PTE table, or maps 2 MiB itself (a THP or hugetlb
//! page, _PAGE_PSE set), or holds a swap-format entry (a migration entry, a hugetlb marker).
//! The only place that looks at _PAGE_PSE.

use super::arch::{SwpPteArch, X86_64};
use super::pte::PTE_PFN_MASK;
use super::pte::{leaf_bits, PgProt, Pte};
use super::pte::{_PAGE_ACCESSED, _PAGE_CHG_MASK, _PAGE_DIRTY, _PAGE_PRESENT, _PAGE_PROTNONE};
use super::pte::{_PAGE_PSE, _PAGE_RW, _PAGE_SOFT_DIRTY, _PAGE_TABLE, _PAGE_UFFD_WP};
use super::swp::{SwpKind, SwpPteBits};
use crate::page::Pfn;

/// A raw PMD entry.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Pmd(pub u64);

impl std::fmt::Debug for Pmd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pmd({:#018x} {:?})", self.0, self.kind())
    }
}

leaf_bits!(Pmd, "pmd");

/// What a PMD entry holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PmdKind {
    /// pmd_none().
    None,
    /// A PTE table hangs here (pmd_present() && !pmd_leaf()).
    Table(Pfn),
    /// A huge leaf: pmd_trans_huge() / a hugetlb entry (PROT_NONE included).
    Leaf(Pmd),
    /// A non-present huge entry: a PMD migration entry, or a hugetlb marker or swap-format
    /// entry (huge_pte_*()).
    Swp(SwpKind, SwpPteBits),
}

impl Pmd {
    pub const NONE: Pmd = Pmd(0);
    /// pmd_modify() keeps _PAGE_PSE (_HPAGE_CHG_MASK).
    const KEEP: u64 = _PAGE_PSE;

    /// pmd_populate(): point at the PTE table in frame `table`.
    #[inline]
    pub fn table(table: Pfn) -> Pmd {
        Pmd((table.0 << 12) | _PAGE_TABLE)
    }
    /// mk_huge_pmd() / pfn_pmd(): a huge leaf for the folio at `head`.
    #[inline]
    pub fn huge(head: Pfn, prot: PgProt) -> Pmd {
        Pmd(Pte::pfn_pte(head, prot).0 | _PAGE_PSE)
    }
    /// A non-present huge entry of a kind (make_pmd_migration_entry(), huge_pte markers).
    pub fn swp(kind: SwpKind, bits: SwpPteBits) -> Pmd {
        Pmd(Pte::swp(kind, bits).0)
    }
    /// pmd_none(): empty, ignoring the accessed/dirty bits (the Knights Landing erratum mask).
    #[inline]
    pub fn is_none(self) -> bool {
        self.0 & !(_PAGE_ACCESSED | _PAGE_DIRTY) == 0
    }
    /// pmd_trans_huge() / pmd_leaf() for a present (or PROT_NONE) entry.
    #[inline]
    pub fn is_leaf(self) -> bool {
        self.0 & _PAGE_PSE != 0 && self.is_present()
    }
    /// The entry's kind.
    #[inline]
    pub fn kind(self) -> PmdKind {
        if self.is_none() {
            PmdKind::None
        } else if self.is_leaf() {
            PmdKind::Leaf(self)
        } else if self.0 & _PAGE_PRESENT != 0 {
            PmdKind::Table(Pfn((self.0 & PTE_PFN_MASK) >> 12))
        } else {
            let (e, bits) = X86_64::decode(self.0).expect("neither none nor present");
            PmdKind::Swp(e.kind(), bits)
        }
    }
    /// is_pmd_migration_entry() as 5.19 makes it ("mm/swapops: make is_pmd_migration_entry
    /// more strict"): a swap-format entry (is_swap_pmd(): neither none nor present) whose type
    /// is a migration type. An empty entry, whatever its accessed/dirty bits, never is one.
    #[inline]
    pub fn is_migration_entry(self) -> bool {
        matches!(self.kind(), PmdKind::Swp(k, _) if k.is_migration())
    }
    /// The huge leaf read as a PTE-format value (what huge_ptep_get() hands hugetlb code and
    /// what a split copies into each PTE).
    #[inline]
    pub fn as_pte(self) -> Pte {
        Pte(self.0 & !_PAGE_PSE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pgtable::pte::{PAGE_NONE, PAGE_READONLY, PAGE_SHARED};

    #[test]
    fn kinds_are_told_apart() {
        assert_eq!(Pmd::NONE.kind(), PmdKind::None);
        assert_eq!(Pmd::table(Pfn(0x123)).kind(), PmdKind::Table(Pfn(0x123)));
        let h = Pmd::huge(Pfn(0x200), PAGE_SHARED).mkdirty();
        assert_eq!(h.kind(), PmdKind::Leaf(h));
        assert_eq!(h.pfn(), Pfn(0x200));
        let none = h.modify(PAGE_NONE);
        assert!(none.is_protnone() && none.is_leaf(), "PROT_NONE keeps PSE");
        assert!(!h.modify(PAGE_READONLY).write());
        assert_eq!(h.as_pte().pfn(), Pfn(0x200));
        let m = Pmd::swp(
            SwpKind::MigrationWrite { pfn: 0x200 },
            SwpPteBits::default(),
        );
        assert_eq!(
            m.kind(),
            PmdKind::Swp(
                SwpKind::MigrationWrite { pfn: 0x200 },
                SwpPteBits::default()
            )
        );
    }

    #[test]
    fn only_a_swap_pmd_of_a_migration_type_is_a_migration_entry() {
        for kind in [
            SwpKind::MigrationRead { pfn: 0x200 },
            SwpKind::MigrationReadExclusive { pfn: 0x200 },
            SwpKind::MigrationWrite { pfn: 0x200 },
        ] {
            let e = Pmd::swp(kind, SwpPteBits::default());
            assert!(e.is_migration_entry(), "{e:?}");
            assert_eq!(e.kind(), PmdKind::Swp(kind, SwpPteBits::default()));
        }
        // pmd_none() entries: zero, and zero but for the accessed/dirty bits a CPU erratum
        // may leave (both decode as swap type 0, offset 0: no migration entry either way).
        assert!(!Pmd::NONE.is_migration_entry());
        assert!(!Pmd(_PAGE_ACCESSED | _PAGE_DIRTY).is_migration_entry());
        // Present entries are not, whatever their PFN.
        assert!(!Pmd::huge(Pfn(0x200), PAGE_SHARED).is_migration_entry());
        assert!(!Pmd::table(Pfn(0x200)).is_migration_entry());
        // Other swap-format entries are not.
        let marker = Pmd::swp(SwpKind::Hwpoison { pfn: 0x200 }, SwpPteBits::default());
        assert!(!marker.is_migration_entry());
    }
}
