//! The x86-64 PTE: raw `u64` bits (arch/x86/include/asm/pgtable_types.h, 5.19), a typed view,
//! and the one place that converts between them.

use super::arch::{SwpPteArch, X86_64};
use super::swp::{self, SwpEntry, SwpKind, SwpPteBits};
use crate::page::Pfn;

pub const _PAGE_PRESENT: u64 = 1 << 0;
pub const _PAGE_RW: u64 = 1 << 1;
pub const _PAGE_USER: u64 = 1 << 2;
pub const _PAGE_PWT: u64 = 1 << 3;
pub const _PAGE_PCD: u64 = 1 << 4;
pub const _PAGE_ACCESSED: u64 = 1 << 5;
pub const _PAGE_DIRTY: u64 = 1 << 6;
/// PSE on PMD/PUD entries; PAT on 4 KiB PTEs.
pub const _PAGE_PSE: u64 = 1 << 7;
pub const _PAGE_PAT: u64 = 1 << 7;
pub const _PAGE_GLOBAL: u64 = 1 << 8;
/// _PAGE_SOFTW1: _PAGE_SPECIAL (no struct page refcounting, e.g. the zero page).
pub const _PAGE_SPECIAL: u64 = 1 << 9;
/// _PAGE_SOFTW2: _PAGE_UFFD_WP.
pub const _PAGE_UFFD_WP: u64 = 1 << 10;
/// _PAGE_SOFTW3: _PAGE_SOFT_DIRTY.
pub const _PAGE_SOFT_DIRTY: u64 = 1 << 11;
pub const _PAGE_PAT_LARGE: u64 = 1 << 12;
/// _PAGE_SOFTW4: _PAGE_DEVMAP.
pub const _PAGE_DEVMAP: u64 = 1 << 58;
pub const _PAGE_PKEY_MASK: u64 = 0xf << 59;
pub const _PAGE_NX: u64 = 1 << 63;
/// PROT_NONE PTEs reuse the global bit with present clear.
pub const _PAGE_PROTNONE: u64 = _PAGE_GLOBAL;
/// Physical-address bits of an entry (__PHYSICAL_MASK_SHIFT 52).
pub const PTE_PFN_MASK: u64 = ((1u64 << 52) - 1) & !0xfff;
/// Bits 52-57 of a leaf entry, free for software and unused by 5.19.
pub const PTE_AVAIL_MASK: u64 = 0x3f << 52;
/// What a non-leaf entry carries (_KERNPG_TABLE | _PAGE_USER = _PAGE_TABLE).
pub const _PAGE_TABLE: u64 = _PAGE_PRESENT | _PAGE_RW | _PAGE_USER | _PAGE_ACCESSED | _PAGE_DIRTY;
/// Bits pte_modify() keeps from the old entry (_PAGE_CHG_MASK).
pub const _PAGE_CHG_MASK: u64 = PTE_PFN_MASK
    | _PAGE_PCD
    | _PAGE_PWT
    | _PAGE_SPECIAL
    | _PAGE_ACCESSED
    | _PAGE_DIRTY
    | _PAGE_SOFT_DIRTY
    | _PAGE_DEVMAP
    | _PAGE_UFFD_WP;

/// A protection value (pgprot_t): the non-PFN bits a new entry starts from.
pub type PgProt = u64;
pub const PAGE_NONE: PgProt = _PAGE_PROTNONE | _PAGE_ACCESSED;
pub const PAGE_SHARED: PgProt = _PAGE_PRESENT | _PAGE_RW | _PAGE_USER | _PAGE_ACCESSED | _PAGE_NX;
pub const PAGE_SHARED_EXEC: PgProt = _PAGE_PRESENT | _PAGE_RW | _PAGE_USER | _PAGE_ACCESSED;
pub const PAGE_COPY: PgProt = _PAGE_PRESENT | _PAGE_USER | _PAGE_ACCESSED | _PAGE_NX;
pub const PAGE_COPY_EXEC: PgProt = _PAGE_PRESENT | _PAGE_USER | _PAGE_ACCESSED;
pub const PAGE_READONLY: PgProt = _PAGE_PRESENT | _PAGE_USER | _PAGE_ACCESSED | _PAGE_NX;
pub const PAGE_READONLY_EXEC: PgProt = _PAGE_PRESENT | _PAGE_USER | _PAGE_ACCESSED;

/// x86's protection_map (arch/x86/mm/pgprot.c): index bit 0 read, 1 write, 2 exec, 3 shared.
const PROTECTION_MAP: [PgProt; 16] = [
    PAGE_NONE,
    PAGE_READONLY,
    PAGE_COPY,
    PAGE_COPY,
    PAGE_READONLY_EXEC,
    PAGE_READONLY_EXEC,
    PAGE_COPY_EXEC,
    PAGE_COPY_EXEC,
    PAGE_NONE,
    PAGE_READONLY,
    PAGE_SHARED,
    PAGE_SHARED,
    PAGE_READONLY_EXEC,
    PAGE_READONLY_EXEC,
    PAGE_SHARED_EXEC,
    PAGE_SHARED_EXEC,
];

/// vm_get_page_prot(): the pgprot for VM_READ|VM_WRITE|VM_EXEC|VM_SHARED bits (low 4 bits).
pub fn vm_get_page_prot(rwxs: u64) -> PgProt {
    PROTECTION_MAP[(rwxs & 0xf) as usize]
}

/// The bit operations a leaf entry has at either level (pte_* and pmd_* of
/// arch/x86/include/asm/pgtable.h act on the same bits): written once for `Pte` and `Pmd`.
macro_rules! leaf_bits {
    ($t:ident, $lvl:literal) => {
        impl $t {
            #[doc = concat!($lvl, "_pfn().")]
            #[inline]
            pub fn pfn(self) -> Pfn {
                Pfn((self.0 & PTE_PFN_MASK) >> 12)
            }
            #[doc = concat!($lvl, "_present(): present, or PROT_NONE (which the hardware sees as not present).")]
            #[inline]
            pub fn is_present(self) -> bool {
                self.0 & (_PAGE_PRESENT | _PAGE_PROTNONE) != 0
            }
            #[doc = concat!($lvl, "_protnone(): a PROT_NONE entry.")]
            #[inline]
            pub fn is_protnone(self) -> bool {
                self.0 & (_PAGE_PRESENT | _PAGE_PROTNONE) == _PAGE_PROTNONE
            }
            #[doc = concat!($lvl, "_write().")]
            #[inline]
            pub fn write(self) -> bool {
                self.0 & _PAGE_RW != 0
            }
            #[doc = concat!($lvl, "_dirty().")]
            #[inline]
            pub fn dirty(self) -> bool {
                self.0 & _PAGE_DIRTY != 0
            }
            #[doc = concat!($lvl, "_young().")]
            #[inline]
            pub fn young(self) -> bool {
                self.0 & _PAGE_ACCESSED != 0
            }
            #[doc = concat!($lvl, "_soft_dirty() (present entries).")]
            #[inline]
            pub fn soft_dirty(self) -> bool {
                self.0 & _PAGE_SOFT_DIRTY != 0
            }
            #[doc = concat!($lvl, "_uffd_wp() (present entries).")]
            #[inline]
            pub fn uffd_wp(self) -> bool {
                self.0 & _PAGE_UFFD_WP != 0
            }
            #[doc = concat!($lvl, "_mkwrite().")]
            #[inline]
            pub fn mkwrite(self) -> $t {
                $t(self.0 | _PAGE_RW)
            }
            #[doc = concat!($lvl, "_wrprotect().")]
            #[inline]
            pub fn wrprotect(self) -> $t {
                $t(self.0 & !_PAGE_RW)
            }
            #[doc = concat!($lvl, "_mkdirty(): sets both the hardware and the soft-dirty bit, as x86 does.")]
            #[inline]
            pub fn mkdirty(self) -> $t {
                $t(self.0 | _PAGE_DIRTY | _PAGE_SOFT_DIRTY)
            }
            #[doc = concat!($lvl, "_mkclean().")]
            #[inline]
            pub fn mkclean(self) -> $t {
                $t(self.0 & !_PAGE_DIRTY)
            }
            #[doc = concat!($lvl, "_mkyoung().")]
            #[inline]
            pub fn mkyoung(self) -> $t {
                $t(self.0 | _PAGE_ACCESSED)
            }
            #[doc = concat!($lvl, "_mkold().")]
            #[inline]
            pub fn mkold(self) -> $t {
                $t(self.0 & !_PAGE_ACCESSED)
            }
            #[doc = concat!($lvl, "_mksoft_dirty().")]
            #[inline]
            pub fn mksoft_dirty(self) -> $t {
                $t(self.0 | _PAGE_SOFT_DIRTY)
            }
            #[doc = concat!($lvl, "_mkuffd_wp() (present entries).")]
            #[inline]
            pub fn mkuffd_wp(self) -> $t {
                $t(self.0 | _PAGE_UFFD_WP)
            }
            #[doc = concat!($lvl, "_clear_uffd_wp() (present entries).")]
            #[inline]
            pub fn clear_uffd_wp(self) -> $t {
                $t(self.0 & !_PAGE_UFFD_WP)
            }
            #[doc = concat!($lvl, "_modify(): keep the PFN and software state, take the protection from `prot`.")]
            #[inline]
            pub fn modify(self, prot: PgProt) -> $t {
                $t((self.0 & (_PAGE_CHG_MASK | Self::KEEP)) | (prot & !(_PAGE_CHG_MASK | Self::KEEP)))
            }
        }
    };
}
pub(crate) use leaf_bits;

/// A raw x86-64 page-table entry.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Pte(pub u64);

impl std::fmt::Debug for Pte {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pte({:#018x} {:?})", self.0, self.view())
    }
}

leaf_bits!(Pte, "pte");

/// What a PTE holds: the one classification the walker and the fault path match on, so an
/// entry kind a path does not handle is a compile error there, not a silent fall-through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PteKind {
    /// pte_none().
    None,
    /// pte_present() (PROT_NONE included).
    Present(Pte),
    /// A non-present entry: a swap slot, a migration or device entry, a PTE marker, a
    /// poisoned page (is_swap_pte()), with the bits the swap format carries.
    Swp(SwpKind, SwpPteBits),
}

impl Pte {
    pub const NONE: Pte = Pte(0);
    /// Bits pte_modify() keeps beyond _PAGE_CHG_MASK (none for 4 KiB entries).
    const KEEP: u64 = 0;

    /// pte_none(): empty, ignoring the accessed/dirty bits (the Knights Landing erratum mask).
    #[inline]
    pub fn is_none(self) -> bool {
        self.0 & !(_PAGE_ACCESSED | _PAGE_DIRTY) == 0
    }
    /// is_swap_pte(): neither none nor present.
    #[inline]
    pub fn is_swap(self) -> bool {
        !self.is_none() && !self.is_present()
    }
    /// pte_special().
    #[inline]
    pub fn special(self) -> bool {
        self.0 & _PAGE_SPECIAL != 0
    }
    /// pfn_pte(): a new leaf entry for a frame with a protection.
    #[inline]
    pub fn pfn_pte(pfn: Pfn, prot: PgProt) -> Pte {
        Pte(((pfn.0 << 12) & PTE_PFN_MASK) | (prot & !PTE_PFN_MASK))
    }
    /// pte_mkspecial().
    #[inline]
    pub fn mkspecial(self) -> Pte {
        Pte(self.0 | _PAGE_SPECIAL)
    }
    /// pte_mkhuge(): a hugetlb entry (hugetlb code handles its PMD-level entries as pte_t).
    #[inline]
    pub fn mkhuge(self) -> Pte {
        Pte(self.0 | _PAGE_PSE)
    }
    /// The entry's kind. A non-present value no Linux path writes (bits no swap format uses)
    /// decodes as the swap entry those bits would be read as, as pte_to_swp_entry() does.
    #[inline]
    pub fn kind(self) -> PteKind {
        if self.is_none() {
            PteKind::None
        } else if self.is_present() {
            PteKind::Present(self)
        } else {
            let (e, bits) = X86_64::decode(self.0).expect("neither none nor present");
            PteKind::Swp(e.kind(), bits)
        }
    }
    /// swp_entry_to_pte() with the swap-PTE bits: a non-present entry of a kind.
    pub fn swp(kind: SwpKind, bits: SwpPteBits) -> Pte {
        Pte(X86_64::encode(SwpEntry::from_kind(kind), bits))
    }
    /// make_pte_marker(): a non-present entry of type SWP_PTE_MARKER carrying `bits`.
    pub fn marker(bits: u64) -> Pte {
        Pte::swp(SwpKind::Marker { bits }, SwpPteBits::default())
    }
    /// The marker bits if this is a PTE marker (is_pte_marker() then pte_marker_get()).
    pub fn marker_bits(self) -> Option<u64> {
        match self.kind() {
            PteKind::Swp(SwpKind::Marker { bits }, _) => Some(bits & swp::PTE_MARKER_MASK),
            _ => None,
        }
    }
    /// pte_marker_uffd_wp(): a marker with PTE_MARKER_UFFD_WP.
    pub fn is_uffd_wp_marker(self) -> bool {
        self.marker_bits()
            .is_some_and(|b| b & swp::PTE_MARKER_UFFD_WP != 0)
    }
    /// pte_none_mostly(): empty, or only a marker.
    pub fn none_mostly(self) -> bool {
        self.is_none() || self.marker_bits().is_some()
    }
    /// pte_swp_uffd_wp_any(): a swap entry with _PAGE_SWP_UFFD_WP, or a uffd-wp marker.
    pub fn swp_uffd_wp_any(self) -> bool {
        matches!(self.kind(), PteKind::Swp(_, b) if b.uffd_wp) || self.is_uffd_wp_marker()
    }

    /// The typed view of this entry.
    pub fn view(self) -> PteView {
        if self.0 == 0 {
            return PteView::None;
        }
        if self.is_none() {
            return PteView::Invalid(self.0);
        }
        if self.is_present() {
            let b = self.0;
            return PteView::Present(PresentPte {
                pfn: self.pfn().0,
                protnone: self.is_protnone(),
                writable: b & _PAGE_RW != 0,
                user: b & _PAGE_USER != 0,
                pwt: b & _PAGE_PWT != 0,
                pcd: b & _PAGE_PCD != 0,
                accessed: b & _PAGE_ACCESSED != 0,
                dirty: b & _PAGE_DIRTY != 0,
                pat: b & _PAGE_PAT != 0,
                global: !self.is_protnone() && b & _PAGE_GLOBAL != 0,
                special: b & _PAGE_SPECIAL != 0,
                uffd_wp: b & _PAGE_UFFD_WP != 0,
                soft_dirty: b & _PAGE_SOFT_DIRTY != 0,
                devmap: b & _PAGE_DEVMAP != 0,
                pkey: ((b & _PAGE_PKEY_MASK) >> 59) as u8,
                nx: b & _PAGE_NX != 0,
                avail: ((b & PTE_AVAIL_MASK) >> 52) as u8,
            });
        }
        // Decoding ignores bits no swap PTE uses; only canonical encodings get the Swap view.
        match X86_64::decode(self.0) {
            Some((entry, bits)) if X86_64::encode(entry, bits) == self.0 => {
                PteView::Swap { entry, bits }
            }
            _ => PteView::Invalid(self.0),
        }
    }

    /// The raw entry for a typed view (the inverse of `view`).
    pub fn from_view(v: PteView) -> Pte {
        match v {
            PteView::None => Pte::NONE,
            PteView::Invalid(raw) => Pte(raw),
            PteView::Swap { entry, bits } => Pte(X86_64::encode(entry, bits)),
            PteView::Present(p) => {
                let mut b = (p.pfn << 12) & PTE_PFN_MASK;
                let set = |b: &mut u64, on: bool, bit: u64| {
                    if on {
                        *b |= bit
                    }
                };
                set(&mut b, !p.protnone, _PAGE_PRESENT);
                set(&mut b, p.protnone || p.global, _PAGE_GLOBAL);
                set(&mut b, p.writable, _PAGE_RW);
                set(&mut b, p.user, _PAGE_USER);
                set(&mut b, p.pwt, _PAGE_PWT);
                set(&mut b, p.pcd, _PAGE_PCD);
                set(&mut b, p.accessed, _PAGE_ACCESSED);
                set(&mut b, p.dirty, _PAGE_DIRTY);
                set(&mut b, p.pat, _PAGE_PAT);
                set(&mut b, p.special, _PAGE_SPECIAL);
                set(&mut b, p.uffd_wp, _PAGE_UFFD_WP);
                set(&mut b, p.soft_dirty, _PAGE_SOFT_DIRTY);
                set(&mut b, p.devmap, _PAGE_DEVMAP);
                set(&mut b, p.nx, _PAGE_NX);
                b |= ((p.pkey as u64) & 0xf) << 59;
                b |= ((p.avail as u64) << 52) & PTE_AVAIL_MASK;
                Pte(b)
            }
        }
    }
}

/// The typed view of a PTE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PteView {
    None,
    Present(PresentPte),
    Swap {
        entry: SwpEntry,
        bits: SwpPteBits,
    },
    /// A non-present value no Linux path writes (kept so every u64 has a view).
    Invalid(u64),
}

/// A present (or PROT_NONE) leaf entry, bit by bit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PresentPte {
    pub pfn: u64,
    /// Hardware-not-present PROT_NONE entry (pte_protnone).
    pub protnone: bool,
    pub writable: bool,
    pub user: bool,
    pub pwt: bool,
    pub pcd: bool,
    pub accessed: bool,
    pub dirty: bool,
    pub pat: bool,
    pub global: bool,
    pub special: bool,
    pub uffd_wp: bool,
    pub soft_dirty: bool,
    pub devmap: bool,
    pub pkey: u8,
    pub nx: bool,
    /// Bits 52-57: ignored by the MMU, unused by Linux 5.19 (kept so every value round-trips).
    pub avail: u8,
}

/// Flags whose clearing forces a flush (x86 pte_flags_need_flush: flush_on_clear).
const FLUSH_ON_CLEAR: u64 = _PAGE_DIRTY | _PAGE_PRESENT | _PAGE_ACCESSED;
/// Flags whose change in either direction forces a flush (flush_on_change).
const FLUSH_ON_CHANGE: u64 = _PAGE_RW
    | _PAGE_USER
    | _PAGE_PWT
    | _PAGE_PCD
    | _PAGE_PSE
    | _PAGE_GLOBAL
    | _PAGE_PAT
    | _PAGE_PAT_LARGE
    | _PAGE_PKEY_MASK
    | _PAGE_NX;

/// pte_flags_need_flush() (arch/x86/include/asm/tlbflush.h, 5.19).
pub fn pte_flags_need_flush(old: u64, new: u64, ignore_access: bool) -> bool {
    let mut diff = (old ^ new) & !PTE_PFN_MASK;
    if ignore_access {
        diff &= !_PAGE_ACCESSED;
    }
    diff & old & FLUSH_ON_CLEAR != 0 || diff & FLUSH_ON_CHANGE != 0
}

/// pte_needs_flush() (x86, 5.19): does replacing `old` with `new` require a TLB flush?
pub fn pte_needs_flush(old: Pte, new: Pte) -> bool {
    if old.0 & _PAGE_PRESENT == 0 {
        return false;
    }
    if old.pfn() != new.pfn() {
        return true;
    }
    pte_flags_need_flush(old.0, new.0, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn protection_map_matches_x86() {
        // PROT_WRITE private maps read-only (COW), shared maps writable; no NX with PROT_EXEC.
        assert_eq!(vm_get_page_prot(0b0011), PAGE_COPY);
        assert!(vm_get_page_prot(0b1011) & _PAGE_RW != 0);
        assert!(vm_get_page_prot(0b0101) & _PAGE_NX == 0);
        assert!(Pte(vm_get_page_prot(0)).is_protnone());
        assert_eq!(PAGE_SHARED, 0x8000_0000_0000_0027);
    }

    #[test]
    fn needs_flush_follows_x86_rules() {
        let rw = Pte::pfn_pte(Pfn(5), PAGE_SHARED).mkdirty();
        let ro = rw.wrprotect();
        assert!(pte_needs_flush(rw, ro), "clearing RW flushes");
        assert!(
            pte_needs_flush(ro, rw),
            "setting RW flushes too (flush on change)"
        );
        assert!(!pte_needs_flush(ro, ro), "identical entries need none");
        assert!(!pte_needs_flush(rw.mkold(), rw), "accessed is ignored");
        assert!(
            !pte_needs_flush(rw, rw.mkold()),
            "clearing accessed is ignored too"
        );
        assert!(pte_needs_flush(rw, rw.mkclean()), "clearing dirty flushes");
        assert!(
            !pte_needs_flush(rw.mkclean(), rw),
            "setting dirty needs none"
        );
        assert!(
            !pte_needs_flush(ro, Pte(ro.0 | _PAGE_UFFD_WP)),
            "software bits need none"
        );
        assert!(
            !pte_needs_flush(ro, Pte(ro.0 ^ _PAGE_SOFT_DIRTY)),
            "soft-dirty is software"
        );
        assert!(
            pte_needs_flush(ro, Pte::pfn_pte(Pfn(6), PAGE_COPY)),
            "PFN change flushes"
        );
        assert!(
            !pte_needs_flush(Pte::NONE, rw),
            "non-present old entry never flushes"
        );
        assert!(
            !pte_needs_flush(Pte(PAGE_NONE | (5 << 12)), rw),
            "PROT_NONE old entry: not _PAGE_PRESENT"
        );
        assert!(pte_needs_flush(rw, Pte(rw.0 & !_PAGE_NX)), "NX flushes");
    }

    #[test]
    fn modify_keeps_pfn_and_software_state() {
        let p = Pte::pfn_pte(Pfn(0x1234), PAGE_SHARED).mkdirty();
        let q = p.modify(PAGE_READONLY);
        assert_eq!(q.pfn(), Pfn(0x1234));
        assert!(!q.write() && q.dirty() && q.soft_dirty());
        assert!(p.modify(PAGE_NONE).is_protnone());
    }

    proptest! {
        #[test]
        fn every_value_round_trips(raw in any::<u64>()) {
            let pte = Pte(raw);
            prop_assert_eq!(Pte::from_view(pte.view()), pte);
        }

        #[test]
        fn present_views_round_trip(pfn in 0u64..(1 << 40), bits in any::<u16>(), pkey in 0u8..16, avail in 0u8..64) {
            let v = PresentPte {
                pfn, protnone: bits & 1 != 0, writable: bits & 2 != 0, user: bits & 4 != 0,
                pwt: bits & 8 != 0, pcd: bits & 16 != 0, accessed: bits & 32 != 0, dirty: bits & 64 != 0,
                pat: bits & 128 != 0, global: bits & 1 == 0 && bits & 256 != 0, special: bits & 512 != 0,
                uffd_wp: bits & 1024 != 0, soft_dirty: bits & 2048 != 0, devmap: bits & 4096 != 0,
                pkey, nx: bits & 8192 != 0, avail,
            };
            prop_assert_eq!(Pte::from_view(PteView::Present(v)).view(), PteView::Present(v));
        }
    }
}
