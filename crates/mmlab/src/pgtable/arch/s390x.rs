//! The s390x swap-PTE layout (arch/s390/include/asm/pgtable.h, 5.19). IBM numbers bits from
//! the most significant (bit 0) to the least (bit 63); values here are ordinary u64 masks, so
//! IBM bit n is mask 1 << (63 - n). The offset sits in IBM bits 0-51 (from mask bit 12), the
//! exclusive bit in IBM 52 (_PAGE_LARGE, 0x800, new in 5.19), _PAGE_INVALID and _PAGE_PROTECT
//! (IBM 53-54) are both set, IBM 55-56 unused, the type in IBM 57-61 (from mask bit 2), swap
//! soft-dirty in IBM 62 (0x002) and _PAGE_PRESENT (IBM 63) clear. s390 has no swap uffd-wp.

use super::{SwpPteArch, SwpPteMasks};
use crate::pgtable::swp::SwpEntry;

/// _PAGE_PRESENT (software bit, IBM 63): 0x001.
pub const S390_PAGE_PRESENT: u64 = 0x001;
/// _PAGE_SOFT_DIRTY (software bit, IBM 62, CONFIG_MEM_SOFT_DIRTY), also the swap soft-dirty
/// bit (pte_swp_mksoft_dirty is pte_mksoft_dirty): 0x002.
pub const S390_PAGE_SOFT_DIRTY: u64 = 0x002;
/// _PAGE_PROTECT (hardware read-only bit, IBM 54): 0x200.
pub const S390_PAGE_PROTECT: u64 = 0x200;
/// _PAGE_INVALID (hardware invalid bit, IBM 53): 0x400; alone it is pte_none().
pub const S390_PAGE_INVALID: u64 = 0x400;
/// _PAGE_SWP_EXCLUSIVE = _PAGE_LARGE (IBM 52, 5.19): 0x800.
pub const S390_PAGE_SWP_EXCLUSIVE: u64 = 0x800;
/// __SWP_OFFSET_SHIFT (pgtable.h): 12.
pub const S390_SWP_OFFSET_SHIFT: u32 = 12;
/// __SWP_OFFSET_MASK (pgtable.h): 52 bits, the largest offset.
pub const S390_SWP_MAX_OFFSET: u64 = (1 << 52) - 1;
/// __SWP_TYPE_SHIFT (pgtable.h): 2.
pub const S390_SWP_TYPE_SHIFT: u32 = 2;
/// __SWP_TYPE_MASK (pgtable.h): 5 bits.
pub const S390_SWP_TYPE_MASK: u64 = (1 << 5) - 1;

/// is_swap_pte() on s390: !pte_none() (the PTE is not exactly _PAGE_INVALID) and
/// !pte_present() (_PAGE_PRESENT clear). The generic test, not pte_swap()'s bit pattern.
pub const fn is_swap_pte(raw: u64) -> bool {
    raw != S390_PAGE_INVALID && raw & S390_PAGE_PRESENT == 0
}

/// The s390x format of Linux 5.19 (without the exclusive bit, of 5.18: see WithoutExclusive).
#[derive(Clone, Copy, Debug, Default)]
pub struct S390x;

impl SwpPteArch for S390x {
    const NAME: &'static str = "s390x";
    const MAX_SWP_OFFSET: u64 = S390_SWP_MAX_OFFSET;
    const MASKS: SwpPteMasks = SwpPteMasks {
        soft_dirty: S390_PAGE_SOFT_DIRTY,
        uffd_wp: 0,
        exclusive: S390_PAGE_SWP_EXCLUSIVE,
    };
    fn is_swap_pte(raw: u64) -> bool {
        is_swap_pte(raw)
    }
    /// mk_swap_pte(): invalid and protected, offset and type masked into their fields.
    fn entry_to_pte(e: SwpEntry) -> u64 {
        S390_PAGE_INVALID
            | S390_PAGE_PROTECT
            | (e.offset & S390_SWP_MAX_OFFSET) << S390_SWP_OFFSET_SHIFT
            | (e.typ as u64 & S390_SWP_TYPE_MASK) << S390_SWP_TYPE_SHIFT
    }
    fn pte_to_entry(raw: u64) -> SwpEntry {
        let typ = (raw >> S390_SWP_TYPE_SHIFT) & S390_SWP_TYPE_MASK;
        let offset = (raw >> S390_SWP_OFFSET_SHIFT) & S390_SWP_MAX_OFFSET;
        SwpEntry::new(typ as u32, offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pgtable::arch::conformance::*;
    use crate::pgtable::arch::WithoutExclusive;
    use crate::pgtable::swp::{SwpPteBits, SWP_MIGRATION_READ};
    use proptest::prelude::*;

    /// A read-write, dirty, young PTE of pfn 0x1234 (PAGE_RW after mkdirty/mkyoung: the
    /// hardware invalid and protect bits clear; _PAGE_NOEXEC | _PAGE_WRITE | _PAGE_READ |
    /// _PAGE_DIRTY | _PAGE_YOUNG | _PAGE_PRESENT).
    const PRESENT: u64 = 0x0123_413D;
    /// PAGE_NONE for pfn 0x1234: _PAGE_PRESENT | _PAGE_INVALID | _PAGE_PROTECT.
    const PROT_NONE: u64 = 0x0123_4601;

    /// IBM bit n as a mask.
    const fn ibm(n: u32) -> u64 {
        1 << (63 - n)
    }

    #[test]
    fn layout_matches_linux_5_19() {
        assert_eq!(S390_PAGE_SWP_EXCLUSIVE, ibm(52));
        assert_eq!(S390_PAGE_INVALID | S390_PAGE_PROTECT, ibm(53) | ibm(54));
        assert_eq!(S390_PAGE_SOFT_DIRTY | S390_PAGE_PRESENT, ibm(62) | ibm(63));
        // Type 0, offset 1: 0x400 | 0x200 | 1 << 12; exclusive adds 0x800.
        let e = SwpEntry::new(0, 1);
        let excl = SwpPteBits {
            exclusive: true,
            ..Default::default()
        };
        assert_eq!(S390x::encode(e, SwpPteBits::default()), 0x1600);
        assert_eq!(S390x::encode(e, excl), 0x1E00);
        // Type 23 (readable migration) of pfn 0xABC, soft-dirty and uffd-wp asked for: the type
        // lands in IBM 57-61 (23 << 2 = 0x5C), uffd-wp has no place.
        let all = SwpPteBits {
            soft_dirty: true,
            uffd_wp: true,
            exclusive: true,
        };
        let mig = SwpEntry::new(SWP_MIGRATION_READ, 0xABC);
        assert_eq!(S390x::encode(mig, all), 0x00AB_CE5E);
        assert_eq!(
            S390x::decode(0x00AB_CE5E),
            Some((mig, supported::<S390x>(all)))
        );
        // The largest offset fills IBM bits 0-51.
        let top = S390x::encode(SwpEntry::new(31, S390_SWP_MAX_OFFSET), all);
        assert_eq!(top, 0xFFFF_FFFF_FFFF_FE7E);
        let sd_excl = SwpPteBits {
            uffd_wp: false,
            ..all
        };
        assert_eq!(S390x::SUPPORTS, sd_excl);
    }

    #[test]
    fn swap_ptes_have_the_pte_swap_pattern() {
        // pte_swap(): (pte & 0x201) == 0x200; IBM 55-56 (0x100, 0x080) stay unused.
        for typ in 0..32 {
            for offset in [0, 1, S390_SWP_MAX_OFFSET] {
                for b in combos() {
                    let raw = S390x::encode(SwpEntry::new(typ, offset), b);
                    assert_eq!(raw & 0x201, 0x200);
                    assert_eq!(raw & (ibm(55) | ibm(56)), 0);
                }
            }
        }
        // The generic is_swap_pte() only refuses none (exactly 0x400) and present PTEs: an
        // all-zero PTE, which s390 never writes, would pass.
        assert!(is_swap_pte(0) && !is_swap_pte(S390_PAGE_INVALID));
    }

    #[test]
    fn debug_vm_pgtable_conformance() {
        roundtrip_all::<S390x>(None);
        bits_independent::<S390x>();
        debug_vm_pgtable_flags::<S390x>(PRESENT);
        not_swap::<S390x>(
            &[S390_PAGE_INVALID],
            &[PRESENT, PROT_NONE, S390_PAGE_PRESENT],
        );
        roundtrip_all::<WithoutExclusive<S390x>>(None);
        linux_5_18_has_no_exclusive::<S390x, WithoutExclusive<S390x>>();
    }

    proptest! {
        #[test]
        fn prop_roundtrip(typ in 0..32u32, offset in 0..=S390_SWP_MAX_OFFSET, b in 0..8usize) {
            let (e, b) = (SwpEntry::new(typ, offset), combos().nth(b).unwrap());
            let raw = S390x::encode(e, b);
            prop_assert_eq!(raw & 0x201, 0x200);
            prop_assert_eq!(S390x::decode(raw), Some((e, supported::<S390x>(b))));
        }

        #[test]
        fn prop_decode_any(raw in any::<u64>()) {
            prop_assert_eq!(decode_any::<S390x>(raw, None), Ok(()));
        }
    }
}
