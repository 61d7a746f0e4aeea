//! The arm64 swap-PTE layout (arch/arm64/include/asm/pgtable.h, pgtable-prot.h): bits 0-1
//! clear (not valid), the type from bit 3 (5 bits), the offset in bits 8-57, bit 58
//! (PTE_PROT_NONE) clear. 5.19 took bit 2, the lowest of 5.18's six type bits, for
//! PTE_SWP_EXCLUSIVE. Neither version has a swap soft-dirty or swap uffd-wp bit (arm64 selects
//! neither HAVE_ARCH_SOFT_DIRTY nor HAVE_ARCH_USERFAULTFD_WP), so those flags are not stored.

use super::{SwpPteArch, SwpPteMasks};
use crate::pgtable::swp::SwpEntry;

/// PTE_VALID (pgtable-hwdef.h): bit 0.
pub const ARM64_PTE_VALID: u64 = 1 << 0;
/// PTE_PROT_NONE (pgtable-prot.h): bit 58, only meaningful while PTE_VALID is clear.
pub const ARM64_PTE_PROT_NONE: u64 = 1 << 58;
/// PTE_SWP_EXCLUSIVE (pgtable-prot.h, 5.19): bit 2.
pub const ARM64_PTE_SWP_EXCLUSIVE: u64 = 1 << 2;
/// __SWP_TYPE_SHIFT (pgtable.h, 5.19): the type starts at bit 3.
pub const ARM64_SWP_TYPE_SHIFT: u32 = 3;
/// __SWP_TYPE_BITS (pgtable.h, 5.19): 5, what MAX_SWAPFILES_SHIFT needs.
pub const ARM64_SWP_TYPE_BITS: u32 = 5;
/// __SWP_TYPE_SHIFT (pgtable.h, 5.18): the type started at bit 2.
pub const ARM64_518_SWP_TYPE_SHIFT: u32 = 2;
/// __SWP_TYPE_BITS (pgtable.h, 5.18): 6.
pub const ARM64_518_SWP_TYPE_BITS: u32 = 6;
/// __SWP_OFFSET_SHIFT (pgtable.h) = __SWP_TYPE_SHIFT + __SWP_TYPE_BITS: 8 in both versions.
pub const ARM64_SWP_OFFSET_SHIFT: u32 = ARM64_SWP_TYPE_SHIFT + ARM64_SWP_TYPE_BITS;
/// __SWP_OFFSET_BITS (pgtable.h): 50.
pub const ARM64_SWP_OFFSET_BITS: u32 = 50;
/// __SWP_OFFSET_MASK (pgtable.h): the largest offset, 2^50 - 1.
pub const ARM64_SWP_MAX_OFFSET: u64 = (1 << ARM64_SWP_OFFSET_BITS) - 1;

/// is_swap_pte() on arm64: !pte_none() (any bit set) and !pte_present() (neither PTE_VALID nor
/// PTE_PROT_NONE).
pub const fn is_swap_pte(raw: u64) -> bool {
    raw != 0 && raw & (ARM64_PTE_VALID | ARM64_PTE_PROT_NONE) == 0
}

/// __swp_entry() with a type field at `type_shift`: the values are shifted in unmasked.
const fn swp_entry(type_shift: u32, e: SwpEntry) -> u64 {
    ((e.typ as u64) << type_shift) | (e.offset << ARM64_SWP_OFFSET_SHIFT)
}

/// __swp_type()/__swp_offset() with a type field of `type_bits` bits at `type_shift`.
const fn swp_type_offset(type_shift: u32, type_bits: u32, raw: u64) -> SwpEntry {
    let typ = (raw >> type_shift) & ((1 << type_bits) - 1);
    SwpEntry::new(
        typ as u32,
        (raw >> ARM64_SWP_OFFSET_SHIFT) & ARM64_SWP_MAX_OFFSET,
    )
}

/// The arm64 format of Linux 5.19.
#[derive(Clone, Copy, Debug, Default)]
pub struct Arm64;

impl SwpPteArch for Arm64 {
    const NAME: &'static str = "arm64";
    const MAX_SWP_OFFSET: u64 = ARM64_SWP_MAX_OFFSET;
    const MASKS: SwpPteMasks = SwpPteMasks {
        soft_dirty: 0,
        uffd_wp: 0,
        exclusive: ARM64_PTE_SWP_EXCLUSIVE,
    };
    fn is_swap_pte(raw: u64) -> bool {
        is_swap_pte(raw)
    }
    fn entry_to_pte(e: SwpEntry) -> u64 {
        swp_entry(ARM64_SWP_TYPE_SHIFT, e)
    }
    fn pte_to_entry(raw: u64) -> SwpEntry {
        swp_type_offset(ARM64_SWP_TYPE_SHIFT, ARM64_SWP_TYPE_BITS, raw)
    }
}

/// The arm64 format of Linux 5.18: six type bits from bit 2, no exclusive bit.
#[derive(Clone, Copy, Debug, Default)]
pub struct Arm64Linux518;

impl SwpPteArch for Arm64Linux518 {
    const NAME: &'static str = "arm64";
    const MAX_SWP_OFFSET: u64 = ARM64_SWP_MAX_OFFSET;
    const MASKS: SwpPteMasks = SwpPteMasks {
        soft_dirty: 0,
        uffd_wp: 0,
        exclusive: 0,
    };
    fn is_swap_pte(raw: u64) -> bool {
        is_swap_pte(raw)
    }
    fn entry_to_pte(e: SwpEntry) -> u64 {
        swp_entry(ARM64_518_SWP_TYPE_SHIFT, e)
    }
    fn pte_to_entry(raw: u64) -> SwpEntry {
        swp_type_offset(ARM64_518_SWP_TYPE_SHIFT, ARM64_518_SWP_TYPE_BITS, raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pgtable::arch::conformance::*;
    use crate::pgtable::swp::{SwpPteBits, MAX_SWAPFILES_SHIFT, SWP_SWAPIN_ERROR};
    use proptest::prelude::*;

    /// A user read-write PTE of pfn 0x1234 (PAGE_SHARED after a write: PTE_VALID |
    /// PTE_TYPE_PAGE | PTE_USER | PTE_SHARED | PTE_AF | PTE_NG | PTE_WRITE | PTE_PXN | PTE_UXN,
    /// AttrIndx MT_NORMAL = 0).
    const PRESENT: u64 = 0x0068_0000_0123_4F43;
    /// PAGE_NONE for pfn 0x1234: PTE_PROT_NONE with PTE_VALID clear (PTE_TABLE_BIT | PTE_RDONLY
    /// | PTE_SHARED | PTE_AF | PTE_NG | PTE_PXN | PTE_UXN).
    const PROT_NONE: u64 = 0x0460_0000_0123_4F82;

    fn bits(exclusive: bool) -> SwpPteBits {
        SwpPteBits {
            exclusive,
            ..Default::default()
        }
    }

    #[test]
    fn layout_matches_linux_5_19() {
        assert_eq!((ARM64_SWP_TYPE_SHIFT, ARM64_SWP_OFFSET_SHIFT), (3, 8));
        const { assert!(MAX_SWAPFILES_SHIFT <= ARM64_SWP_TYPE_BITS) }; // MAX_SWAPFILES_CHECK()
        assert_eq!(Arm64::MAX_SWP_OFFSET, 0x0003_FFFF_FFFF_FFFF);
        // Type 0, offset 1: only offset bit 0 at PTE bit 8; exclusive adds bit 2.
        let e = SwpEntry::new(0, 1);
        assert_eq!(Arm64::encode(e, bits(false)), 0x100);
        assert_eq!(Arm64::encode(e, bits(true)), 0x104);
        // Type 31 (SWP_SWAPIN_ERROR), max offset: bits 3..57 all set, bit 58 stays clear.
        let last = SwpEntry::new(SWP_SWAPIN_ERROR, ARM64_SWP_MAX_OFFSET);
        assert_eq!(Arm64::encode(last, bits(true)), 0x03FF_FFFF_FFFF_FFFC);
        // Soft-dirty and uffd-wp have no place: asking for them changes nothing.
        let all = SwpPteBits {
            soft_dirty: true,
            uffd_wp: true,
            exclusive: true,
        };
        assert_eq!(Arm64::encode(e, all), 0x104);
        assert_eq!(Arm64::decode(0x104), Some((e, bits(true))));
        assert_eq!(Arm64::SUPPORTS, bits(true));
    }

    #[test]
    fn linux_5_18_layout() {
        // Type 1, offset 1: 5.18 has the type at bit 2, where 5.19 keeps PTE_SWP_EXCLUSIVE.
        let e = SwpEntry::new(1, 1);
        assert_eq!(Arm64Linux518::encode(e, bits(true)), 0x104);
        assert_eq!(Arm64::encode(e, bits(false)), 0x108);
        assert_eq!(Arm64Linux518::decode(0x104), Some((e, bits(false))));
        // A 5.19 exclusive PTE of type 0 reads, with the 5.18 layout, as type 1.
        let new = Arm64::encode(SwpEntry::new(0, 1), bits(true));
        assert_eq!(Arm64Linux518::decode(new).unwrap().0, e);
        roundtrip_all::<Arm64Linux518>(Some(SwpEntry::new(0, 0)));
        bits_independent::<Arm64Linux518>();
        linux_5_18_has_no_exclusive::<Arm64, Arm64Linux518>();
    }

    #[test]
    fn debug_vm_pgtable_conformance() {
        // Type 0, offset 0 without the exclusive bit is all zero: pte_none().
        assert_eq!(Arm64::encode(SwpEntry::new(0, 0), bits(false)), 0);
        roundtrip_all::<Arm64>(Some(SwpEntry::new(0, 0)));
        bits_independent::<Arm64>();
        assert_eq!(PRESENT & ARM64_PTE_SWP_EXCLUSIVE, 0);
        debug_vm_pgtable_flags::<Arm64>(PRESENT);
        not_swap::<Arm64>(&[0], &[PRESENT, PROT_NONE, ARM64_PTE_VALID]);
        // A swap PTE never has PTE_VALID or PTE_PROT_NONE set.
        for typ in 0..32 {
            let raw = Arm64::encode(SwpEntry::new(typ, ARM64_SWP_MAX_OFFSET), bits(true));
            assert_eq!(raw & (ARM64_PTE_VALID | ARM64_PTE_PROT_NONE | 0x2), 0);
        }
    }

    proptest! {
        #[test]
        fn prop_roundtrip(typ in 0..32u32, offset in 0..=ARM64_SWP_MAX_OFFSET, b in 0..8usize) {
            let e = SwpEntry::new(typ, offset);
            let b = combos().nth(b).unwrap();
            let raw = Arm64::encode(e, b);
            let b519 = supported::<Arm64>(b);
            if offset > 0 || typ > 0 {
                prop_assert!(is_swap_pte(raw));
                prop_assert_eq!(Arm64::decode(raw), Some((e, b519)));
                prop_assert_eq!(Arm64Linux518::decode(Arm64Linux518::encode(e, b)),
                    Some((e, SwpPteBits::default())));
            } else {
                prop_assert_eq!(raw, ARM64_PTE_SWP_EXCLUSIVE * u64::from(b519.exclusive));
            }
        }

        #[test]
        fn prop_decode_any(raw in any::<u64>()) {
            prop_assert_eq!(decode_any::<Arm64>(raw, Some(SwpEntry::new(0, 0))), Ok(()));
            prop_assert_eq!(decode_any::<Arm64Linux518>(raw, Some(SwpEntry::new(0, 0))), Ok(()));
        }
    }
}
