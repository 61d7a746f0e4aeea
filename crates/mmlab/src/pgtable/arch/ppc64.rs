//! The ppc64 book3s/64 swap-PTE layout (arch/powerpc/include/asm/book3s/64/pgtable.h, 5.19)
//! with 64 KiB pages (PPC_64K_PAGES, the Kconfig default for PPC_BOOK3S_64) and the radix MMU
//! (radix__pte_none()): the type in 0x1f, the exclusive bit 0x20 (_PAGE_NON_IDEMPOTENT),
//! swap soft-dirty 0x200 (_PAGE_SOFT_DIRTY = _RPAGE_SW3), the offset in PTE_RPN_MASK from
//! PAGE_SHIFT, _PAGE_PTE set and _PAGE_PRESENT clear. book3s/64 has no swap uffd-wp.
//!
//! The kernel keeps the PTE big-endian in memory (pte_raw() is __be64); the values here are
//! what pte_val() returns, the CPU-order number, which is also the byte order of the table on
//! a big-endian ppc64 and the byte-swapped table word on ppc64le.

use super::{SwpPteArch, SwpPteMasks};
use crate::pgtable::swp::SwpEntry;

/// PAGE_SHIFT with CONFIG_PPC_64K_PAGES.
pub const PPC64_PAGE_SHIFT: u32 = 16;
/// _PAGE_PRESENT: bit 63, the PTE holds a translation.
pub const PPC64_PAGE_PRESENT: u64 = 1 << 63;
/// _PAGE_PTE: bit 62, a leaf entry rather than a table pointer.
pub const PPC64_PAGE_PTE: u64 = 1 << 62;
/// _PAGE_INVALID = _RPAGE_SW0: bit 61, a present PTE invalidated for an update.
pub const PPC64_PAGE_INVALID: u64 = 1 << 61;
/// RADIX_PTE_NONE_MASK = _PAGE_DIRTY | _PAGE_ACCESSED: ignored by radix__pte_none().
pub const PPC64_RADIX_PTE_NONE_MASK: u64 = 0x080 | 0x100;
/// _PAGE_HPTEFLAGS of hash-64k.h: H_PAGE_BUSY (_RPAGE_RSV1) | H_PAGE_HASHPTE (_RPAGE_RPN43)
/// | H_PAGE_COMBO (_RPAGE_RPN0); MAX_SWAPFILES_CHECK() keeps the swap bits off them.
pub const PPC64_PAGE_HPTEFLAGS: u64 = 0x040 | (1 << 55) | 0x1000;
/// _PAGE_PA_MAX: 53, the highest physical-address bit Linux uses.
pub const PPC64_PAGE_PA_MAX: u32 = 53;
/// PTE_RPN_MASK: bits PAGE_SHIFT..52.
pub const PPC64_PTE_RPN_MASK: u64 = ((1 << PPC64_PAGE_PA_MAX) - 1) & !((1 << PPC64_PAGE_SHIFT) - 1);
/// SWP_TYPE_MASK: the low 5 bits.
pub const PPC64_SWP_TYPE_MASK: u64 = (1 << 5) - 1;
/// _PAGE_SWP_EXCLUSIVE = _PAGE_NON_IDEMPOTENT (5.19): 0x20.
pub const PPC64_PAGE_SWP_EXCLUSIVE: u64 = 0x20;
/// _PAGE_SWP_SOFT_DIRTY = _PAGE_SOFT_DIRTY = _RPAGE_SW3 (5.19): 0x200.
pub const PPC64_PAGE_SWP_SOFT_DIRTY: u64 = 0x200;
/// _PAGE_SWP_SOFT_DIRTY (5.18): the bit above the type, 1 << (SWP_TYPE_BITS +
/// _PAGE_BIT_SWAP_TYPE) = 0x20.
pub const PPC64_518_PAGE_SWP_SOFT_DIRTY: u64 = 0x20;
/// The largest offset: PTE_RPN_MASK >> PAGE_SHIFT = 2^37 - 1.
pub const PPC64_SWP_MAX_OFFSET: u64 = PPC64_PTE_RPN_MASK >> PPC64_PAGE_SHIFT;

/// pte_present() on book3s/64: _PAGE_PTE with _PAGE_PRESENT, or with _PAGE_INVALID.
pub const fn pte_present(raw: u64) -> bool {
    let pte = PPC64_PAGE_PTE;
    raw & (PPC64_PAGE_PRESENT | pte) == PPC64_PAGE_PRESENT | pte
        || raw & (PPC64_PAGE_INVALID | pte) == PPC64_PAGE_INVALID | pte
}

/// is_swap_pte() on book3s/64 radix: !radix__pte_none() and !pte_present().
pub const fn is_swap_pte(raw: u64) -> bool {
    raw & !PPC64_RADIX_PTE_NONE_MASK != 0 && !pte_present(raw)
}

/// __swp_entry_to_pte(__swp_entry()): the type unshifted, the offset masked into the RPN
/// field, _PAGE_PTE added (the same in 5.18, where _PAGE_BIT_SWAP_TYPE was 0).
const fn swp_entry_to_pte(e: SwpEntry) -> u64 {
    e.typ as u64 | ((e.offset << PPC64_PAGE_SHIFT) & PPC64_PTE_RPN_MASK) | PPC64_PAGE_PTE
}

/// __swp_type()/__swp_offset() of __pte_to_swp_entry() (which drops _PAGE_PTE).
const fn pte_to_swp_entry(raw: u64) -> SwpEntry {
    let v = raw & !PPC64_PAGE_PTE;
    SwpEntry::new(
        (v & PPC64_SWP_TYPE_MASK) as u32,
        (v & PPC64_PTE_RPN_MASK) >> PPC64_PAGE_SHIFT,
    )
}

/// The ppc64 book3s/64 format of Linux 5.19.
#[derive(Clone, Copy, Debug, Default)]
pub struct Ppc64;

impl SwpPteArch for Ppc64 {
    const NAME: &'static str = "ppc64";
    const MAX_SWP_OFFSET: u64 = PPC64_SWP_MAX_OFFSET;
    const MASKS: SwpPteMasks = SwpPteMasks {
        soft_dirty: PPC64_PAGE_SWP_SOFT_DIRTY,
        uffd_wp: 0,
        exclusive: PPC64_PAGE_SWP_EXCLUSIVE,
    };
    fn is_swap_pte(raw: u64) -> bool {
        is_swap_pte(raw)
    }
    fn entry_to_pte(e: SwpEntry) -> u64 {
        swp_entry_to_pte(e)
    }
    fn pte_to_entry(raw: u64) -> SwpEntry {
        pte_to_swp_entry(raw)
    }
}

/// The ppc64 book3s/64 format of Linux 5.18: swap soft-dirty in 0x20, no exclusive bit.
#[derive(Clone, Copy, Debug, Default)]
pub struct Ppc64Linux518;

impl SwpPteArch for Ppc64Linux518 {
    const NAME: &'static str = "ppc64";
    const MAX_SWP_OFFSET: u64 = PPC64_SWP_MAX_OFFSET;
    const MASKS: SwpPteMasks = SwpPteMasks {
        soft_dirty: PPC64_518_PAGE_SWP_SOFT_DIRTY,
        uffd_wp: 0,
        exclusive: 0,
    };
    fn is_swap_pte(raw: u64) -> bool {
        is_swap_pte(raw)
    }
    fn entry_to_pte(e: SwpEntry) -> u64 {
        swp_entry_to_pte(e)
    }
    fn pte_to_entry(raw: u64) -> SwpEntry {
        pte_to_swp_entry(raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pgtable::arch::conformance::*;
    use crate::pgtable::swp::{SwpPteBits, SWP_HWPOISON};
    use proptest::prelude::*;

    /// PAGE_SHARED of pfn 0x1234 after a write: _PAGE_PRESENT | _PAGE_PTE | _PAGE_ACCESSED |
    /// _PAGE_DIRTY | _PAGE_READ | _PAGE_WRITE, the pfn at PAGE_SHIFT.
    const PRESENT: u64 = 0xC000_0000_1234_0186;
    /// The same PTE invalidated by ptep_set_access_flags(): _PAGE_INVALID instead of
    /// _PAGE_PRESENT, still pte_present().
    const INVALIDATED: u64 = 0x6000_0000_1234_0186;
    /// PAGE_NONE of pfn 0x1234: _PAGE_BASE | _PAGE_PRIVILEGED, present.
    const PROT_NONE: u64 = 0xC000_0000_1234_0108;

    fn bits(soft_dirty: bool, exclusive: bool) -> SwpPteBits {
        SwpPteBits {
            soft_dirty,
            exclusive,
            uffd_wp: false,
        }
    }

    #[test]
    fn layout_matches_linux_5_19() {
        assert_eq!(PPC64_PTE_RPN_MASK, 0x001F_FFFF_FFFF_0000);
        assert_eq!(PPC64_SWP_MAX_OFFSET, (1 << 37) - 1);
        // MAX_SWAPFILES_CHECK(): no swap bit among the hash PTE flags.
        let swap_bits = PPC64_SWP_TYPE_MASK | PPC64_PAGE_SWP_SOFT_DIRTY | PPC64_PAGE_SWP_EXCLUSIVE;
        assert_eq!(PPC64_PAGE_HPTEFLAGS & swap_bits, 0);
        // Type 0, offset 1: _PAGE_PTE | 1 << 16; exclusive adds 0x20, soft-dirty 0x200.
        let e = SwpEntry::new(0, 1);
        assert_eq!(Ppc64::encode(e, bits(false, false)), 0x4000_0000_0001_0000);
        assert_eq!(Ppc64::encode(e, bits(false, true)), 0x4000_0000_0001_0020);
        assert_eq!(Ppc64::encode(e, bits(true, true)), 0x4000_0000_0001_0220);
        // A hwpoison entry (type 22 = 0x16) of pfn 0x1234, and the largest offset of type 31.
        let hw = SwpEntry::new(SWP_HWPOISON, 0x1234);
        assert_eq!(Ppc64::encode(hw, bits(false, false)), 0x4000_0000_1234_0016);
        let top = SwpEntry::new(31, PPC64_SWP_MAX_OFFSET);
        assert_eq!(Ppc64::encode(top, bits(true, true)), 0x401F_FFFF_FFFF_023F);
        // An offset past the field is cut by PTE_RPN_MASK, as __swp_entry() does.
        let wide = SwpEntry::new(0, PPC64_SWP_MAX_OFFSET + 2);
        assert_eq!(
            Ppc64::encode(wide, bits(false, false)),
            0x4000_0000_0001_0000
        );
        assert_eq!(Ppc64::SUPPORTS, bits(true, true));
    }

    #[test]
    fn linux_5_18_layout() {
        let e = SwpEntry::new(3, 7);
        // 5.18 kept swap soft-dirty right above the type, where 5.19 keeps the exclusive bit.
        assert_eq!(
            Ppc64Linux518::encode(e, bits(true, true)),
            0x4000_0000_0007_0023
        );
        assert_eq!(Ppc64::encode(e, bits(true, false)), 0x4000_0000_0007_0203);
        // A 5.19 exclusive PTE read with the 5.18 layout looks soft-dirty.
        let new = Ppc64::encode(e, bits(false, true));
        assert_eq!(Ppc64Linux518::decode(new), Some((e, bits(true, false))));
        roundtrip_all::<Ppc64Linux518>(None);
        bits_independent::<Ppc64Linux518>();
        linux_5_18_has_no_exclusive::<Ppc64, Ppc64Linux518>();
    }

    #[test]
    fn debug_vm_pgtable_conformance() {
        roundtrip_all::<Ppc64>(None);
        bits_independent::<Ppc64>();
        debug_vm_pgtable_flags::<Ppc64>(PRESENT);
        let none = [0, 0x80, 0x100, 0x180];
        not_swap::<Ppc64>(&none, &[PRESENT, INVALIDATED, PROT_NONE]);
        // Every swap PTE is a leaf (_PAGE_PTE) that is neither present nor invalidated.
        for typ in 0..32 {
            let raw = Ppc64::encode(SwpEntry::new(typ, PPC64_SWP_MAX_OFFSET), bits(true, true));
            assert_eq!(
                raw & (PPC64_PAGE_PTE | PPC64_PAGE_PRESENT | PPC64_PAGE_INVALID),
                PPC64_PAGE_PTE
            );
        }
    }

    proptest! {
        #[test]
        fn prop_roundtrip(typ in 0..32u32, offset in 0..=PPC64_SWP_MAX_OFFSET, b in 0..8usize) {
            let (e, b) = (SwpEntry::new(typ, offset), combos().nth(b).unwrap());
            let raw = Ppc64::encode(e, b);
            prop_assert!(!pte_present(raw));
            prop_assert_eq!(Ppc64::decode(raw), Some((e, supported::<Ppc64>(b))));
            let old = Ppc64Linux518::encode(e, b);
            prop_assert_eq!(Ppc64Linux518::decode(old), Some((e, supported::<Ppc64Linux518>(b))));
        }

        #[test]
        fn prop_decode_any(raw in any::<u64>()) {
            prop_assert_eq!(decode_any::<Ppc64>(raw, None), Ok(()));
            prop_assert_eq!(decode_any::<Ppc64Linux518>(raw, None), Ok(()));
        }
    }
}
