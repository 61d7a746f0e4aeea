//! Swap entries (`swp_entry_t`, include/linux/swapops.h) of Linux 5.19, configured with
//! MIGRATION, MEMORY_FAILURE, DEVICE_PRIVATE, PTE_MARKER, MEM_SOFT_DIRTY and USERFAULTFD_WP.
//! 5.19 also reserves a type for SWP_SWAPIN_ERROR (gone in 6.2), leaving 22 swap devices.
//! How an architecture lays an entry out in a PTE is `pgtable::arch`'s business.

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

impl SwpKind {
    /// is_migration_entry(): any of the three migration entry types.
    pub fn is_migration(self) -> bool {
        self.migration_pfn().is_some()
    }

    /// make_writable_migration_entry() / make_readable_exclusive_migration_entry() /
    /// make_readable_migration_entry(): the entry a mapping of `pfn` becomes, by whether it was
    /// writable and the page exclusive.
    pub fn migration(pfn: u64, writable: bool, exclusive: bool) -> SwpKind {
        if writable {
            SwpKind::MigrationWrite { pfn }
        } else if exclusive {
            SwpKind::MigrationReadExclusive { pfn }
        } else {
            SwpKind::MigrationRead { pfn }
        }
    }

    /// The same kind of migration entry for another frame (the entry of one 4 KiB piece of a
    /// PMD migration entry); other kinds are returned as they are.
    pub fn with_migration_pfn(self, pfn: u64) -> SwpKind {
        match self {
            SwpKind::MigrationRead { .. } => SwpKind::MigrationRead { pfn },
            SwpKind::MigrationReadExclusive { .. } => SwpKind::MigrationReadExclusive { pfn },
            SwpKind::MigrationWrite { .. } => SwpKind::MigrationWrite { pfn },
            other => other,
        }
    }

    /// pfn_swap_entry_to_page() of a migration entry: the frame under migration.
    pub fn migration_pfn(self) -> Option<u64> {
        match self {
            SwpKind::MigrationRead { pfn }
            | SwpKind::MigrationReadExclusive { pfn }
            | SwpKind::MigrationWrite { pfn } => Some(pfn),
            _ => None,
        }
    }
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

/// Bits a swap-format (non-present) PTE carries besides the entry.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct SwpPteBits {
    /// pte_swp_soft_dirty(): _PAGE_SWP_SOFT_DIRTY
    pub soft_dirty: bool,
    /// pte_swp_uffd_wp(): _PAGE_SWP_UFFD_WP
    pub uffd_wp: bool,
    /// pte_swp_exclusive(): _PAGE_SWP_EXCLUSIVE (remembers PG_anon_exclusive)
    pub exclusive: bool,
}
