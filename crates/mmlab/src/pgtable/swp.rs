//! Swap entries (`swp_entry_t`) and the x86-64 swap-PTE format of Linux 5.19, configured with
//! MIGRATION, MEMORY_FAILURE, DEVICE_PRIVATE, PTE_MARKER, MEM_SOFT_DIRTY and USERFAULTFD_WP.
//! 5.19 also reserves a type for SWP_SWAPIN_ERROR (gone in 6.2), leaving 22 swap devices.

/// Width of the swap type field: MAX_SWAPFILES_SHIFT (include/linux/swap.h).
pub const MAX_SWAPFILES_SHIFT: u32 = 5;
// How many type values each special class takes (SWP_*_NUM in include/linux/swap.h).
const SWP_SWAPIN_ERROR_NUM: u32 = 1; // 5.19..6.1 only
const SWP_PTE_MARKER_NUM: u32 = 1; // CONFIG_PTE_MARKER
const SWP_DEVICE_NUM: u32 = 4; // CONFIG_DEVICE_PRIVATE
const SWP_MIGRATION_NUM: u32 = 3; // CONFIG_MIGRATION
const SWP_HWPOISON_NUM: u32 = 1; // CONFIG_MEMORY_FAILURE
/// MAX_SWAPFILES: types below this are real swap devices (= 22 in this configuration).
pub const MAX_SWAPFILES: u32 = (1 << MAX_SWAPFILES_SHIFT)
    - SWP_DEVICE_NUM
    - SWP_MIGRATION_NUM
    - SWP_HWPOISON_NUM
    - SWP_PTE_MARKER_NUM
    - SWP_SWAPIN_ERROR_NUM;
/// SWP_HWPOISON (= 22): poisoned page, offset is the pfn.
pub const SWP_HWPOISON: u32 = MAX_SWAPFILES;
/// SWP_MIGRATION_READ (= 23): read-only migration entry.
pub const SWP_MIGRATION_READ: u32 = MAX_SWAPFILES + SWP_HWPOISON_NUM;
/// SWP_MIGRATION_READ_EXCLUSIVE (= 24): read-only migration entry of an exclusive anon page.
pub const SWP_MIGRATION_READ_EXCLUSIVE: u32 = MAX_SWAPFILES + SWP_HWPOISON_NUM + 1;
/// SWP_MIGRATION_WRITE (= 25): writable migration entry.
pub const SWP_MIGRATION_WRITE: u32 = MAX_SWAPFILES + SWP_HWPOISON_NUM + 2;
/// SWP_DEVICE_WRITE (= 26): writable device-private entry.
pub const SWP_DEVICE_WRITE: u32 = MAX_SWAPFILES + SWP_HWPOISON_NUM + SWP_MIGRATION_NUM;
/// SWP_DEVICE_READ (= 27): read-only device-private entry.
pub const SWP_DEVICE_READ: u32 = SWP_DEVICE_WRITE + 1;
/// SWP_DEVICE_EXCLUSIVE_WRITE (= 28): writable device-exclusive entry.
pub const SWP_DEVICE_EXCLUSIVE_WRITE: u32 = SWP_DEVICE_WRITE + 2;
/// SWP_DEVICE_EXCLUSIVE_READ (= 29): read-only device-exclusive entry.
pub const SWP_DEVICE_EXCLUSIVE_READ: u32 = SWP_DEVICE_WRITE + 3;
/// SWP_PTE_MARKER (= 30): PTE marker entry, offset holds marker bits.
pub const SWP_PTE_MARKER: u32 =
    MAX_SWAPFILES + SWP_HWPOISON_NUM + SWP_MIGRATION_NUM + SWP_DEVICE_NUM;
/// SWP_SWAPIN_ERROR (= 31): swap-in failed (make_swapin_error_entry), offset is the pfn.
pub const SWP_SWAPIN_ERROR: u32 = SWP_PTE_MARKER + SWP_PTE_MARKER_NUM;

/// PTE_MARKER_UFFD_WP (include/linux/swapops.h): uffd-wp marker on a none PTE.
pub const PTE_MARKER_UFFD_WP: u64 = 1 << 0;
/// PTE_MARKER_MASK (include/linux/swapops.h, 5.19: only the uffd-wp bit).
pub const PTE_MARKER_MASK: u64 = PTE_MARKER_UFFD_WP;

/// SWP_TYPE_SHIFT (swapops.h) = BITS_PER_XA_VALUE (63 on 64-bit) - MAX_SWAPFILES_SHIFT = 58.
pub const SWP_TYPE_SHIFT: u32 = 63 - MAX_SWAPFILES_SHIFT;
/// SWP_OFFSET_MASK (include/linux/swapops.h): arch-independent offset mask (58 bits).
pub const SWP_OFFSET_MASK: u64 = (1u64 << SWP_TYPE_SHIFT) - 1;

/// Arch-independent swap entry: swp_entry_t (type + offset), as include/linux/swapops.h builds it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct SwpEntry {
    /// swp_type(): swap device index or one of the special SWP_* types.
    pub typ: u32,
    /// swp_offset(): slot in the device, or pfn / marker bits for special types.
    pub offset: u64,
}

/// Typed classification of a swap entry (is_migration_entry(), is_hwpoison_entry(), ...).
///
/// `pfn` is the page frame stored in the offset, `write` picks the SWP_*_WRITE flavour, and
/// `bits` is the raw marker offset (pte_marker_get() would mask it with PTE_MARKER_MASK).
#[allow(missing_docs)] // fields are described above
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum SwpKind {
    /// A real swap slot: type < MAX_SWAPFILES (!non_swap_entry()).
    Swap { typ: u32, offset: u64 },
    /// is_readable_migration_entry()
    MigrationRead { pfn: u64 },
    /// is_readable_exclusive_migration_entry()
    MigrationReadExclusive { pfn: u64 },
    /// is_writable_migration_entry()
    MigrationWrite { pfn: u64 },
    /// is_hwpoison_entry()
    Hwpoison { pfn: u64 },
    /// is_device_private_entry(); `write` = is_writable_device_private_entry()
    DevicePrivate { write: bool, pfn: u64 },
    /// is_device_exclusive_entry(); `write` = is_writable_device_exclusive_entry()
    DeviceExclusive { write: bool, pfn: u64 },
    /// is_pte_marker_entry()
    Marker { bits: u64 },
    /// is_swapin_error_entry() (Linux 5.19..6.1 only)
    SwapinError { pfn: u64 },
}

impl SwpEntry {
    /// swp_entry(): build an entry, truncating the offset to SWP_OFFSET_MASK like the kernel.
    pub const fn new(typ: u32, offset: u64) -> Self {
        let offset = offset & SWP_OFFSET_MASK;
        SwpEntry { typ, offset }
    }

    /// swp_entry_t.val: type in bits 58.., offset right-aligned (the swap-cache index form).
    pub const fn val(self) -> u64 {
        ((self.typ as u64) << SWP_TYPE_SHIFT) | (self.offset & SWP_OFFSET_MASK)
    }

    /// swp_type()/swp_offset() applied to a raw swp_entry_t.val.
    pub const fn from_val(val: u64) -> Self {
        SwpEntry::new((val >> SWP_TYPE_SHIFT) as u32, val)
    }

    /// non_swap_entry(): true for every special (non-device) type.
    pub const fn is_non_swap(self) -> bool {
        self.typ >= MAX_SWAPFILES
    }

    /// Classify by swp_type() the way the is_*_entry() helpers of swapops.h do.
    ///
    /// Types >= 32 cannot occur in the kernel; they are reported as `Swap` so nothing is lost.
    pub fn kind(self) -> SwpKind {
        let o = self.offset;
        let w = matches!(self.typ, SWP_DEVICE_WRITE | SWP_DEVICE_EXCLUSIVE_WRITE);
        match self.typ {
            SWP_HWPOISON => SwpKind::Hwpoison { pfn: o },
            SWP_MIGRATION_READ => SwpKind::MigrationRead { pfn: o },
            SWP_MIGRATION_READ_EXCLUSIVE => SwpKind::MigrationReadExclusive { pfn: o },
            SWP_MIGRATION_WRITE => SwpKind::MigrationWrite { pfn: o },
            SWP_DEVICE_WRITE | SWP_DEVICE_READ => SwpKind::DevicePrivate { write: w, pfn: o },
            SWP_DEVICE_EXCLUSIVE_WRITE | SWP_DEVICE_EXCLUSIVE_READ => {
                SwpKind::DeviceExclusive { write: w, pfn: o }
            }
            SWP_PTE_MARKER => SwpKind::Marker { bits: o },
            SWP_SWAPIN_ERROR => SwpKind::SwapinError { pfn: o },
            typ => SwpKind::Swap { typ, offset: o },
        }
    }

    /// Inverse of kind(): the make_*_entry() constructors of swapops.h.
    pub fn from_kind(k: SwpKind) -> SwpEntry {
        let (typ, offset) = match k {
            SwpKind::Swap { typ, offset } => (typ, offset),
            SwpKind::MigrationRead { pfn } => (SWP_MIGRATION_READ, pfn),
            SwpKind::MigrationReadExclusive { pfn } => (SWP_MIGRATION_READ_EXCLUSIVE, pfn),
            SwpKind::MigrationWrite { pfn } => (SWP_MIGRATION_WRITE, pfn),
            SwpKind::Hwpoison { pfn } => (SWP_HWPOISON, pfn),
            SwpKind::DevicePrivate { write: true, pfn } => (SWP_DEVICE_WRITE, pfn),
            SwpKind::DevicePrivate { write: false, pfn } => (SWP_DEVICE_READ, pfn),
            SwpKind::DeviceExclusive { write: true, pfn } => (SWP_DEVICE_EXCLUSIVE_WRITE, pfn),
            SwpKind::DeviceExclusive { write: false, pfn } => (SWP_DEVICE_EXCLUSIVE_READ, pfn),
            SwpKind::Marker { bits } => (SWP_PTE_MARKER, bits),
            SwpKind::SwapinError { pfn } => (SWP_SWAPIN_ERROR, pfn),
        };
        SwpEntry::new(typ, offset)
    }
}

/// Bits a swap-format (non-present) x86-64 PTE carries besides the entry
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct SwpPteBits {
    /// pte_swp_soft_dirty(): _PAGE_SWP_SOFT_DIRTY
    pub soft_dirty: bool,
    /// pte_swp_uffd_wp(): _PAGE_SWP_UFFD_WP
    pub uffd_wp: bool,
    /// pte_swp_exclusive(): _PAGE_SWP_EXCLUSIVE (remembers PG_anon_exclusive)
    pub exclusive: bool,
}

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
pub const fn x86_is_swap_pte(raw: u64) -> bool {
    let none = raw & !X86_PAGE_KNL_ERRATUM_MASK == 0;
    !none && raw & (X86_PAGE_PRESENT | X86_PAGE_PROTNONE) == 0
}

/// x86-64: swp_entry_to_pte incl. the arch __swp_entry encoding (inverted offset), plus the swap PTE bits
pub fn x86_encode_swap_pte(e: SwpEntry, bits: SwpPteBits) -> u64 {
    // __swp_entry(): the complemented offset is pushed up until its excess bits fall off the
    // top, then brought back down so it starts at bit 9; the type occupies the top 5 bits.
    // Inverting makes a small offset set the high physical-address bits (L1TF mitigation).
    let off = (!e.offset) << X86_SWP_OFFSET_SHIFT >> X86_SWP_TYPE_BITS;
    let typ = u64::from(e.typ) << (64 - X86_SWP_TYPE_BITS);
    // pte_swp_mksoft_dirty() / pte_swp_mkuffd_wp() / pte_swp_mkexclusive()
    off | typ
        | (u64::from(bits.soft_dirty) * X86_PAGE_SWP_SOFT_DIRTY)
        | (u64::from(bits.uffd_wp) * X86_PAGE_SWP_UFFD_WP)
        | (u64::from(bits.exclusive) * X86_PAGE_SWP_EXCLUSIVE)
}

/// x86-64: is_swap_pte + pte_to_swp_entry (pte_swp_clear_flags, __swp_type, __swp_offset); None if not a swap PTE.
pub fn x86_decode_swap_pte(raw: u64) -> Option<(SwpEntry, SwpPteBits)> {
    if !x86_is_swap_pte(raw) {
        return None;
    }
    let bits = SwpPteBits {
        soft_dirty: raw & X86_PAGE_SWP_SOFT_DIRTY != 0,
        uffd_wp: raw & X86_PAGE_SWP_UFFD_WP != 0,
        exclusive: raw & X86_PAGE_SWP_EXCLUSIVE != 0,
    };
    let v = raw & !(X86_PAGE_SWP_SOFT_DIRTY | X86_PAGE_SWP_UFFD_WP | X86_PAGE_SWP_EXCLUSIVE);
    let typ = (v >> (64 - X86_SWP_TYPE_BITS)) as u32;
    let offset = (!v) << X86_SWP_TYPE_BITS >> X86_SWP_OFFSET_SHIFT;
    Some((SwpEntry::new(typ, offset), bits))
}

#[cfg(test)]
mod tests {
    use super::*;
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
        x86_encode_swap_pte(SwpEntry::new(typ, offset), pb(b))
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
                    let raw = x86_encode_swap_pte(e, b);
                    if encodes_to_none(e, b) {
                        assert_eq!((raw, x86_decode_swap_pte(raw)), (0, None));
                    } else {
                        assert_eq!(x86_decode_swap_pte(raw), Some((e, b)), "{e:?} {b:?}");
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
                let (d, db) = x86_decode_swap_pte(x86_encode_swap_pte(e, b)).unwrap();
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
        assert_eq!(x86_encode_swap_pte(marker, none), 0xF7FF_FFFF_FFFF_FC00);
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
            assert_eq!(x86_decode_swap_pte(raw | X86_PAGE_PRESENT), None);
            assert_eq!(x86_decode_swap_pte(raw | X86_PAGE_PROTNONE), None);
        }
        // pte_none() ignores the A/D (KNL erratum) bits.
        assert_eq!(x86_decode_swap_pte(X86_PAGE_KNL_ERRATUM_MASK), None);
    }

    proptest! {
        #[test]
        fn prop_roundtrip(typ in 0..32u32, offset in 0..=MAX, b in 0..8u8) {
            let (e, b) = (SwpEntry::new(typ, offset), pb(b));
            let raw = x86_encode_swap_pte(e, b);
            prop_assert_eq!(raw & (X86_PAGE_PRESENT | X86_PAGE_PROTNONE), 0);
            if encodes_to_none(e, b) {
                prop_assert_eq!(x86_decode_swap_pte(raw), None);
            } else {
                prop_assert_eq!(x86_decode_swap_pte(raw), Some((e, b)));
            }
            prop_assert_eq!(SwpEntry::from_kind(e.kind()), e);
        }

        #[test]
        fn prop_decode_any_u64(raw in any::<u64>()) {
            match x86_decode_swap_pte(raw) {
                None => prop_assert!(!x86_is_swap_pte(raw)),
                Some((e, b)) => {
                    prop_assert!(e.typ < 32 && e.offset <= MAX);
                    // Bits 4..7 carry nothing and are dropped; everything else re-encodes.
                    prop_assert_eq!(x86_encode_swap_pte(e, b), raw & !0xF0);
                }
            }
        }
    }
}
