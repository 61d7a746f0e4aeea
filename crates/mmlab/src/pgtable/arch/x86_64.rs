//! The x86-64 swap-PTE layout (arch/x86/include/asm/pgtable_64.h and pgtable_types.h,
//! 5.19): the type in bits 59-63, the offset inverted in bits 9-58 (the L1TF mitigation), and
//! the software bits soft-dirty (bit 1), uffd-wp (bit 2) and exclusive (bit 3).

use super::{SwpPteArch, SwpPteMasks};
use crate::pgtable::swp::SwpEntry;

/// _PAGE_PRESENT (arch/x86/include/asm/pgtable_types.h): bit 0.
pub const X86_PAGE_PRESENT: u64 = 1 << 0;
/// _PAGE_PROTNONE = _PAGE_GLOBAL (pgtable_types.h): bit 8, marks PROT_NONE on !present PTEs.
pub const X86_PAGE_PROTNONE: u64 = 1 << 8;
/// _PAGE_KNL_ERRATUM_MASK = _PAGE_DIRTY | _PAGE_ACCESSED (bits 6, 5): ignored by pte_none().
pub const X86_PAGE_KNL_ERRATUM_MASK: u64 = (1 << 6) | (1 << 5);
/// _PAGE_SWP_SOFT_DIRTY = _PAGE_RW (pgtable_types.h): bit 1.
pub const X86_PAGE_SWP_SOFT_DIRTY: u64 = 1 << 1;
/// _PAGE_SWP_UFFD_WP = _PAGE_USER (pgtable_types.h): bit 2.
pub const X86_PAGE_SWP_UFFD_WP: u64 = 1 << 2;
/// _PAGE_SWP_EXCLUSIVE = _PAGE_PWT (pgtable_64_types.h, 5.19): bit 3.
pub const X86_PAGE_SWP_EXCLUSIVE: u64 = 1 << 3;

/// SWP_TYPE_BITS (arch/x86/include/asm/pgtable_64.h): type lives in PTE bits 59..63.
pub const X86_SWP_TYPE_BITS: u32 = 5;
/// SWP_OFFSET_FIRST_BIT = _PAGE_BIT_PROTNONE + 1 (pgtable_64.h): offset starts at bit 9.
pub const X86_SWP_OFFSET_FIRST_BIT: u32 = 9;
/// SWP_OFFSET_SHIFT = SWP_OFFSET_FIRST_BIT + SWP_TYPE_BITS (pgtable_64.h) = 14.
pub const X86_SWP_OFFSET_SHIFT: u32 = X86_SWP_OFFSET_FIRST_BIT + X86_SWP_TYPE_BITS;
/// Width of the (inverted) offset field, bits 9..58 (pgtable_64.h layout comment) = 50.
pub const X86_SWP_OFFSET_BITS: u32 = 64 - X86_SWP_TYPE_BITS - X86_SWP_OFFSET_FIRST_BIT;
/// Largest offset the x86-64 field holds, 2^50 - 1 (generic_max_swapfile_size() is this + 1).
///
/// Caveat: type 0 with this offset and no SwpPteBits encodes to 0, which is pte_none().
pub const X86_SWP_MAX_OFFSET: u64 = (1u64 << X86_SWP_OFFSET_BITS) - 1;

/// is_swap_pte() on x86-64: !pte_none() (zero apart from the KNL-erratum A/D bits) and
/// !pte_present() (neither _PAGE_PRESENT nor _PAGE_PROTNONE).
pub const fn is_swap_pte(raw: u64) -> bool {
    let none = raw & !X86_PAGE_KNL_ERRATUM_MASK == 0;
    !none && raw & (X86_PAGE_PRESENT | X86_PAGE_PROTNONE) == 0
}

/// The x86-64 format.
#[derive(Clone, Copy, Debug, Default)]
pub struct X86_64;

impl SwpPteArch for X86_64 {
    const NAME: &'static str = "x86_64";
    const MAX_SWP_OFFSET: u64 = X86_SWP_MAX_OFFSET;
    const MASKS: SwpPteMasks = SwpPteMasks {
        soft_dirty: X86_PAGE_SWP_SOFT_DIRTY,
        uffd_wp: X86_PAGE_SWP_UFFD_WP,
        exclusive: X86_PAGE_SWP_EXCLUSIVE,
    };
    #[inline]
    fn is_swap_pte(raw: u64) -> bool {
        is_swap_pte(raw)
    }
    #[inline]
    fn entry_to_pte(e: SwpEntry) -> u64 {
        // __swp_entry(): the complemented offset is pushed up until its excess bits fall off
        // the top, then brought back down so it starts at bit 9; the type occupies the top 5
        // bits. Inverting makes a small offset set the high physical-address bits (L1TF).
        let off = (!e.offset) << X86_SWP_OFFSET_SHIFT >> X86_SWP_TYPE_BITS;
        off | (u64::from(e.typ) << (64 - X86_SWP_TYPE_BITS))
    }
    #[inline]
    fn pte_to_entry(raw: u64) -> SwpEntry {
        let typ = (raw >> (64 - X86_SWP_TYPE_BITS)) as u32;
        let offset = (!raw) << X86_SWP_TYPE_BITS >> X86_SWP_OFFSET_SHIFT;
        SwpEntry::new(typ, offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pgtable::swp::*;
    use proptest::prelude::*;
    use SwpKind::*;

    const MAX: u64 = X86_SWP_MAX_OFFSET;

    /// The i-th of the 8 SwpPteBits combinations (bit 0 soft-dirty, 1 uffd-wp, 2 exclusive).
    fn pb(i: u8) -> SwpPteBits {
        let mut b = SwpPteBits::default();
        (b.soft_dirty, b.uffd_wp, b.exclusive) = (i & 1 != 0, i & 2 != 0, i & 4 != 0);
        b
    }

    /// Encode (type, offset) with bit combination `b`.
    fn enc(typ: u32, offset: u64, b: u8) -> u64 {
        X86_64::encode(SwpEntry::new(typ, offset), pb(b))
    }

    /// The one (entry, bits) combination whose encoding is all-zero, hence pte_none().
    fn encodes_to_none(e: SwpEntry, b: SwpPteBits) -> bool {
        e == SwpEntry::new(0, MAX) && b == SwpPteBits::default()
    }

    #[test]
    fn constants_match_linux_5_19() {
        assert_eq!([MAX_SWAPFILES, SWP_HWPOISON], [22, 22]);
        assert_eq!([SWP_MIGRATION_READ, SWP_MIGRATION_WRITE], [23, 25]);
        assert_eq!(SWP_MIGRATION_READ_EXCLUSIVE, 24);
        assert_eq!([SWP_DEVICE_WRITE, SWP_DEVICE_READ], [26, 27]);
        assert_eq!(SWP_DEVICE_EXCLUSIVE_WRITE, 28);
        assert_eq!(SWP_DEVICE_EXCLUSIVE_READ, 29);
        assert_eq!([SWP_PTE_MARKER, SWP_SWAPIN_ERROR], [30, 31]);
        assert_eq!([SWP_TYPE_SHIFT, X86_SWP_OFFSET_SHIFT], [58, 14]);
        assert_eq!((PTE_MARKER_UFFD_WP, MAX), (1, 0x0003_FFFF_FFFF_FFFF));
    }

    #[test]
    fn roundtrip_every_type_and_offset_spread() {
        let offs = [0, 1, 2, 0x1ff, 0x12345, 1 << 40, MAX - 1, MAX];
        for typ in 0..32u32 {
            for offset in offs {
                let e = SwpEntry::new(typ, offset);
                assert_eq!(SwpEntry::from_val(e.val()), e);
                assert_eq!(SwpEntry::from_kind(e.kind()), e);
                for b in (0..8).map(pb) {
                    let raw = X86_64::encode(e, b);
                    if encodes_to_none(e, b) {
                        assert_eq!((raw, X86_64::decode(raw)), (0, None));
                    } else {
                        assert_eq!(X86_64::decode(raw), Some((e, b)), "{e:?} {b:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn special_kinds_roundtrip() {
        let (t, f) = (true, false);
        let kinds = [
            MigrationRead { pfn: 7 },
            MigrationReadExclusive { pfn: 8 },
            MigrationWrite { pfn: 9 },
            Hwpoison { pfn: 10 },
            DevicePrivate { write: t, pfn: 1 },
            DevicePrivate { write: f, pfn: 2 },
            DeviceExclusive { write: t, pfn: 3 },
            DeviceExclusive { write: f, pfn: 4 },
            Marker { bits: 1 },
            SwapinError { pfn: 15 },
            Swap { typ: 3, offset: 99 },
        ];
        let types = [23, 24, 25, 22, 26, 27, 28, 29, 30, 31, 3];
        for (k, typ) in kinds.into_iter().zip(types) {
            let e = SwpEntry::from_kind(k);
            assert_eq!((e.typ, e.kind()), (typ, k));
            assert_eq!(e.is_non_swap(), typ >= MAX_SWAPFILES);
            for b in (0..8).map(pb) {
                let (d, db) = X86_64::decode(X86_64::encode(e, b)).unwrap();
                assert_eq!((d.kind(), db), (k, b));
            }
        }
    }

    #[test]
    fn known_bit_patterns() {
        // type 0, offset 0: !0 << 14 = 0xFFFF_FFFF_FFFF_C000; >> 5 = 0x07FF_FFFF_FFFF_FE00
        // (bits 9..58 all set); the type bits 59..63 stay 0.
        assert_eq!(enc(0, 0, 0), 0x07FF_FFFF_FFFF_FE00);
        // type 1, offset 0: additionally 1 << 59 = 0x0800_0000_0000_0000.
        assert_eq!(enc(1, 0, 0), 0x0FFF_FFFF_FFFF_FE00);
        // type 0, offset 1: offset bit 0 lands inverted at PTE bit 9, clearing 0x200.
        assert_eq!(enc(0, 1, 0), 0x07FF_FFFF_FFFF_FC00);
        // uffd-wp marker: type 30 = 0b11110 sets bits 60..63 (0xF000..), offset 1 as above.
        let marker = SwpEntry::from_kind(Marker { bits: 1 });
        let none = SwpPteBits::default();
        assert_eq!(X86_64::encode(marker, none), 0xF7FF_FFFF_FFFF_FC00);
        // writable migration entry (type 25 = 0b11001: bits 63, 62, 59 = 0xC800..) for pfn
        // 0x12345: 0x12345 << 9 = 0x0246_8A00, XORed into 0x07FF_FFFF_FFFF_FE00 gives
        // 0x07FF_FFFF_FDB9_7400; soft-dirty (pb(1)) adds bit 1 = 0x2.
        assert_eq!(enc(25, 0x12345, 1), 0xCFFF_FFFF_FDB9_7402);
        // type 31, max offset: the inverted offset field is all zero; only 0xF8.. remains.
        assert_eq!(enc(31, MAX, 0), 0xF800_0000_0000_0000);
        // type 0, max offset, no bits: the PTE is 0 == pte_none(), so not a swap PTE.
        assert_eq!(enc(0, MAX, 0), 0);
        // arch-independent swp_entry_t.val: type at bit 58, offset right-aligned.
        assert_eq!(SwpEntry::new(25, 5).val(), (25 << 58) | 5);
    }

    #[test]
    fn swp_bits_exact_and_disjoint() {
        assert_eq!(X86_PAGE_SWP_SOFT_DIRTY, 1 << 1); // _PAGE_RW
        assert_eq!(X86_PAGE_SWP_UFFD_WP, 1 << 2); // _PAGE_USER
        assert_eq!(X86_PAGE_SWP_EXCLUSIVE, 1 << 3); // _PAGE_PWT
        let flags = X86_PAGE_SWP_SOFT_DIRTY | X86_PAGE_SWP_UFFD_WP | X86_PAGE_SWP_EXCLUSIVE;
        let field = !0u64 << X86_SWP_OFFSET_FIRST_BIT; // type + offset: bits 9..63
        let reserved = X86_PAGE_PRESENT | X86_PAGE_PROTNONE | X86_PAGE_KNL_ERRATUM_MASK;
        assert_eq!((flags & field, flags & reserved), (0, 0));
        for (typ, offset) in (0..32).flat_map(|t| [(t, 0), (t, 1), (t, 0xabcdef), (t, MAX)]) {
            for (b, bit) in [(1, 1 << 1), (2, 1 << 2), (4, 1 << 3)] {
                assert_eq!(enc(typ, offset, b) ^ enc(typ, offset, 0), bit);
            }
            let raw = enc(typ, offset, 7);
            assert_eq!(raw & !(field | flags), 0); // never _PAGE_PRESENT / _PAGE_PROTNONE
            assert_eq!(X86_64::decode(raw | X86_PAGE_PRESENT), None);
            assert_eq!(X86_64::decode(raw | X86_PAGE_PROTNONE), None);
        }
        // pte_none() ignores the A/D (KNL erratum) bits.
        assert_eq!(X86_64::decode(X86_PAGE_KNL_ERRATUM_MASK), None);
    }

    #[test]
    fn debug_vm_pgtable_conformance() {
        use crate::pgtable::arch::conformance::*;
        use crate::pgtable::arch::WithoutExclusive;
        roundtrip_all::<X86_64>(Some(SwpEntry::new(0, MAX)));
        bits_independent::<X86_64>();
        // pfn 0x1234 with _PAGE_PRESENT | RW | USER | ACCESSED | DIRTY and NX (bit 63).
        let present = 0x8000_0000_0123_4067;
        debug_vm_pgtable_flags::<X86_64>(present);
        // PROT_NONE: _PAGE_PROTNONE without _PAGE_PRESENT is still pte_present().
        let none = [0, 0x20, 0x40, 0x60];
        not_swap::<X86_64>(&none, &[present, 0x0123_4100, 0x0123_4001]);
        linux_5_18_has_no_exclusive::<X86_64, WithoutExclusive<X86_64>>();
    }

    proptest! {
        #[test]
        fn prop_roundtrip(typ in 0..32u32, offset in 0..=MAX, b in 0..8u8) {
            let (e, b) = (SwpEntry::new(typ, offset), pb(b));
            let raw = X86_64::encode(e, b);
            prop_assert_eq!(raw & (X86_PAGE_PRESENT | X86_PAGE_PROTNONE), 0);
            if encodes_to_none(e, b) {
                prop_assert_eq!(X86_64::decode(raw), None);
            } else {
                prop_assert_eq!(X86_64::decode(raw), Some((e, b)));
            }
            prop_assert_eq!(SwpEntry::from_kind(e.kind()), e);
        }

        #[test]
        fn prop_decode_any_u64(raw in any::<u64>()) {
            match X86_64::decode(raw) {
                None => prop_assert!(!is_swap_pte(raw)),
                Some((e, b)) => {
                    prop_assert!(e.typ < 32 && e.offset <= MAX);
                    // Bits 4..7 carry nothing and are dropped; everything else re-encodes.
                    prop_assert_eq!(X86_64::encode(e, b), raw & !0xF0);
                }
            }
        }
    }
}
