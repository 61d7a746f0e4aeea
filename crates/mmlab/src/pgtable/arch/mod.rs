//! Architecture formats of page-table entries. The model's tables use x86-64 (the default
//! and only hardware the MMU walks); other layouts of the swap PTE are codecs behind the same
//! trait, so a probe can show what each architecture would store. Each codec follows the 5.19
//! headers; the layouts the May 2022 series changed also have their 5.18 form.

pub mod arm64;
pub mod ppc64;
pub mod s390x;
pub mod x86_64;

pub use arm64::{Arm64, Arm64Linux518};
pub use ppc64::{Ppc64, Ppc64Linux518};
pub use s390x::S390x;
pub use x86_64::X86_64;

use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr;

use crate::config::Profile;
use crate::pgtable::swp::{SwpEntry, SwpPteBits};

/// Where an architecture keeps the software bits of a swap PTE (_PAGE_SWP_SOFT_DIRTY,
/// _PAGE_SWP_UFFD_WP, _PAGE_SWP_EXCLUSIVE); 0 for a bit it lacks, where the generic pte_swp_*()
/// fallbacks of include/linux/pgtable.h set nothing and report false.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SwpPteMasks {
    /// _PAGE_SWP_SOFT_DIRTY (pte_swp_mksoft_dirty()).
    pub soft_dirty: u64,
    /// _PAGE_SWP_UFFD_WP (pte_swp_mkuffd_wp()).
    pub uffd_wp: u64,
    /// _PAGE_SWP_EXCLUSIVE (pte_swp_mkexclusive(), __HAVE_ARCH_PTE_SWP_EXCLUSIVE).
    pub exclusive: u64,
}

impl SwpPteMasks {
    /// Every software bit: what pte_swp_clear_flags() strips.
    pub const fn all(self) -> u64 {
        self.soft_dirty | self.uffd_wp | self.exclusive
    }

    /// The pte_swp_mk*() bits for the flags set in `b` (nothing for a flag the arch lacks).
    pub const fn of(self, b: SwpPteBits) -> u64 {
        (b.soft_dirty as u64 * self.soft_dirty)
            | (b.uffd_wp as u64 * self.uffd_wp)
            | (b.exclusive as u64 * self.exclusive)
    }

    /// pte_swp_soft_dirty()/pte_swp_uffd_wp()/pte_swp_exclusive() of `raw`.
    pub const fn test(self, raw: u64) -> SwpPteBits {
        SwpPteBits {
            soft_dirty: raw & self.soft_dirty != 0,
            uffd_wp: raw & self.uffd_wp != 0,
            exclusive: raw & self.exclusive != 0,
        }
    }

    /// Which flags the architecture has at all.
    pub const fn supported(self) -> SwpPteBits {
        self.test(u64::MAX)
    }

    /// The same masks without the exclusive bit (a kernel before __HAVE_ARCH_PTE_SWP_EXCLUSIVE).
    pub const fn without_exclusive(self) -> SwpPteMasks {
        SwpPteMasks {
            exclusive: 0,
            ..self
        }
    }
}

/// How an architecture stores a swap entry and its software bits in a non-present PTE
/// (__swp_entry()/__swp_type()/__swp_offset() and the pte_swp_* helpers).
pub trait SwpPteArch {
    /// The architecture's name as scenarios spell it.
    const NAME: &'static str;
    /// The largest swap offset the PTE field holds.
    const MAX_SWP_OFFSET: u64;
    /// The software bits of the swap PTE, 0 for those the architecture does not define.
    const MASKS: SwpPteMasks;
    /// The flags encode() can store and decode() can report.
    const SUPPORTS: SwpPteBits = Self::MASKS.supported();
    /// is_swap_pte(): !pte_none() && !pte_present() with the architecture's tests.
    fn is_swap_pte(raw: u64) -> bool;
    /// __swp_entry_to_pte(__swp_entry(swp_type(e), swp_offset(e))): the entry, no flags.
    fn entry_to_pte(e: SwpEntry) -> u64;
    /// __swp_type()/__swp_offset() of __pte_to_swp_entry(raw), its flags already cleared.
    fn pte_to_entry(raw: u64) -> SwpEntry;

    /// swp_entry_to_pte() plus pte_swp_mk*() for each set bit the architecture has.
    #[inline]
    fn encode(e: SwpEntry, bits: SwpPteBits) -> u64 {
        Self::entry_to_pte(e) | Self::MASKS.of(bits)
    }

    /// pte_to_swp_entry() (pte_swp_clear_flags() first) and the pte_swp_*() tests; None for
    /// anything but a swap PTE.
    #[inline]
    fn decode(raw: u64) -> Option<(SwpEntry, SwpPteBits)> {
        if !Self::is_swap_pte(raw) {
            return None;
        }
        let e = Self::pte_to_entry(raw & !Self::MASKS.all());
        Some((e, Self::MASKS.test(raw)))
    }
}

/// An architecture's 5.18 layout where it is the 5.19 one minus _PAGE_SWP_EXCLUSIVE (x86-64,
/// s390x): pte_swp_mkexclusive() is the generic no-op there, and __swp_type()/__swp_offset()
/// never looked at the bit the series took.
#[derive(Clone, Copy, Debug, Default)]
pub struct WithoutExclusive<A>(PhantomData<A>);

impl<A: SwpPteArch> SwpPteArch for WithoutExclusive<A> {
    const NAME: &'static str = A::NAME;
    const MAX_SWP_OFFSET: u64 = A::MAX_SWP_OFFSET;
    const MASKS: SwpPteMasks = A::MASKS.without_exclusive();
    fn is_swap_pte(raw: u64) -> bool {
        A::is_swap_pte(raw)
    }
    fn entry_to_pte(e: SwpEntry) -> u64 {
        A::entry_to_pte(e)
    }
    fn pte_to_entry(raw: u64) -> SwpEntry {
        A::pte_to_entry(raw & !A::MASKS.exclusive)
    }
}

/// The architecture whose swap-PTE layout `model.pte()` shows (the `arch` scenario header).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize)]
pub enum Arch {
    /// x86-64: the layout the model's tables hold.
    #[default]
    X86_64,
    /// arm64 (arch/arm64/include/asm/pgtable.h).
    Arm64,
    /// s390x (arch/s390/include/asm/pgtable.h).
    S390x,
    /// ppc64 book3s/64 (arch/powerpc/include/asm/book3s/64/pgtable.h), 64 KiB pages, radix.
    Ppc64,
}

impl Arch {
    /// Every architecture, in the order help texts list them.
    pub const ALL: [Arch; 4] = [Arch::X86_64, Arch::Arm64, Arch::S390x, Arch::Ppc64];

    /// The name scenarios spell it with.
    pub const fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => X86_64::NAME,
            Arch::Arm64 => Arm64::NAME,
            Arch::S390x => S390x::NAME,
            Arch::Ppc64 => Ppc64::NAME,
        }
    }

    /// The swap PTE this architecture stores under `profile` for the model's x86-64 entry
    /// `raw` (pte_to_swp_entry() on x86-64, swp_entry_to_pte() plus the pte_swp_mk*() bits on
    /// the target); a none or present entry comes back unchanged.
    pub fn swp_pte_from_x86(self, profile: Profile, raw: u64) -> u64 {
        let Some((e, b)) = X86_64::decode(raw) else {
            return raw;
        };
        match (self, profile) {
            (Arch::X86_64, Profile::Linux519) => X86_64::encode(e, b),
            (Arch::X86_64, Profile::Linux518) => WithoutExclusive::<X86_64>::encode(e, b),
            (Arch::Arm64, Profile::Linux519) => Arm64::encode(e, b),
            (Arch::Arm64, Profile::Linux518) => Arm64Linux518::encode(e, b),
            (Arch::S390x, Profile::Linux519) => S390x::encode(e, b),
            (Arch::S390x, Profile::Linux518) => WithoutExclusive::<S390x>::encode(e, b),
            (Arch::Ppc64, Profile::Linux519) => Ppc64::encode(e, b),
            (Arch::Ppc64, Profile::Linux518) => Ppc64Linux518::encode(e, b),
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Arch {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Arch::ALL
            .into_iter()
            .find(|a| a.name() == s)
            .ok_or_else(|| {
                let known: Vec<_> = Arch::ALL.iter().map(|a| a.name()).collect();
                format!("unknown arch `{s}` (known: {})", known.join(", "))
            })
    }
}

/// Checks every codec runs, after the swap tests of mm/debug_vm_pgtable.c and the arch patches
/// of the May 2022 series.
#[cfg(test)]
pub(crate) mod conformance {
    use super::*;
    use crate::pgtable::swp::*;

    /// The 8 SwpPteBits combinations (bit 0 soft-dirty, 1 uffd-wp, 2 exclusive).
    pub fn combos() -> impl Iterator<Item = SwpPteBits> {
        (0..8u8).map(|i| SwpPteBits {
            soft_dirty: i & 1 != 0,
            uffd_wp: i & 2 != 0,
            exclusive: i & 4 != 0,
        })
    }

    /// `b` restricted to what architecture A has.
    pub fn supported<A: SwpPteArch>(b: SwpPteBits) -> SwpPteBits {
        let s = A::SUPPORTS;
        SwpPteBits {
            soft_dirty: b.soft_dirty && s.soft_dirty,
            uffd_wp: b.uffd_wp && s.uffd_wp,
            exclusive: b.exclusive && s.exclusive,
        }
    }

    /// Offsets from 0 to the field's maximum: 0, 1, 2, single bits, a spread pattern, max.
    pub fn offsets<A: SwpPteArch>() -> Vec<u64> {
        let max = A::MAX_SWP_OFFSET;
        let mut v = vec![
            0,
            1,
            2,
            0x1ff,
            0x12345,
            0x5555_5555_5555 & max,
            max - 1,
            max,
        ];
        v.extend((0..64).map(|i| 1u64 << i).filter(|o| *o <= max));
        v
    }

    /// Round trip of every type (the MAX_SWAPFILES devices and every special type) with the
    /// offsets above and every flag combination; unsupported flags are dropped, never invented.
    /// `none` is the entry that, without flags, encodes to the pte_none() pattern, if any.
    pub fn roundtrip_all<A: SwpPteArch>(none: Option<SwpEntry>) {
        for typ in 0..(1 << MAX_SWAPFILES_SHIFT) {
            for offset in offsets::<A>() {
                let e = SwpEntry::new(typ, offset);
                for b in combos() {
                    let raw = A::encode(e, b);
                    let b = supported::<A>(b);
                    assert_eq!(raw, A::encode(e, b), "{e:?} {b:?}");
                    if (Some(e), b) == (none, SwpPteBits::default()) {
                        assert_eq!((A::is_swap_pte(raw), A::decode(raw)), (false, None));
                    } else {
                        assert_eq!(A::decode(raw), Some((e, b)), "{} {e:?} {b:?}", A::NAME);
                    }
                }
            }
        }
    }

    /// Each supported flag is one bit of its own, outside the type/offset field: setting it
    /// changes exactly that bit, leaves the entry and the other flags as they are, and clearing
    /// it (pte_swp_clear_*()) restores the PTE.
    pub fn bits_independent<A: SwpPteArch>() {
        let m = A::MASKS;
        for mask in [m.soft_dirty, m.uffd_wp, m.exclusive] {
            assert!(mask == 0 || mask.is_power_of_two(), "{mask:#x}");
        }
        assert_eq!(m.soft_dirty & m.uffd_wp, 0);
        assert_eq!((m.soft_dirty | m.uffd_wp) & m.exclusive, 0);
        for typ in 0..(1 << MAX_SWAPFILES_SHIFT) {
            for offset in [0, 1, 0xabcdef, A::MAX_SWP_OFFSET] {
                let e = SwpEntry::new(typ, offset);
                let field = A::entry_to_pte(e);
                assert_eq!(field & m.all(), 0, "{e:?}");
                for b in combos() {
                    let raw = A::encode(e, b);
                    assert_eq!(raw & !m.all(), field);
                    assert_eq!(A::pte_to_entry(raw & !m.all()), e);
                    for (flag, mask) in [
                        (b.soft_dirty, m.soft_dirty),
                        (b.uffd_wp, m.uffd_wp),
                        (b.exclusive, m.exclusive),
                    ] {
                        assert_eq!(raw & mask != 0, flag && mask != 0);
                    }
                    let (mut on, mut off) = (b, b);
                    (on.exclusive, off.exclusive) = (true, false);
                    assert_eq!(A::encode(e, on) & !m.exclusive, A::encode(e, off));
                    assert_eq!(A::encode(e, on) ^ A::encode(e, off), m.exclusive);
                    if A::SUPPORTS.exclusive {
                        assert_eq!(A::decode(A::encode(e, on)).map(|d| d.0), Some(e));
                    }
                }
            }
        }
    }

    /// pte_swap_exclusive_tests() / pte_swap_soft_dirty_tests(): on a present PTE, the
    /// pte_swp_mk*() helper makes the test true and pte_swp_clear_*() false again; a flag the
    /// architecture lacks stays false (the generic fallbacks).
    pub fn debug_vm_pgtable_flags<A: SwpPteArch>(present: u64) {
        let m = A::MASKS;
        let flag = |b: SwpPteBits, i: usize| [b.soft_dirty, b.uffd_wp, b.exclusive][i];
        for (i, mask) in [m.soft_dirty, m.uffd_wp, m.exclusive]
            .into_iter()
            .enumerate()
        {
            let mk = present | mask;
            assert_eq!(
                flag(m.test(mk), i),
                flag(A::SUPPORTS, i),
                "{} flag {i}",
                A::NAME
            );
            assert_eq!(mk & !mask, present & !mask);
            assert!(!flag(m.test(mk & !mask), i));
        }
    }

    /// is_swap_pte() refuses the none PTEs and the present PTEs given.
    pub fn not_swap<A: SwpPteArch>(none: &[u64], present: &[u64]) {
        for raw in none.iter().chain(present) {
            assert!(!A::is_swap_pte(*raw), "{raw:#x}");
            assert_eq!(A::decode(*raw), None, "{raw:#x}");
        }
    }

    /// The profile switch: the 5.18 codec `Old` has no exclusive bit, and the 5.19 codec `New`
    /// stores none when exclusive is false.
    pub fn linux_5_18_has_no_exclusive<New: SwpPteArch, Old: SwpPteArch>() {
        assert!(New::SUPPORTS.exclusive && New::MASKS.exclusive != 0);
        assert!(!Old::SUPPORTS.exclusive && Old::MASKS.exclusive == 0);
        for typ in 0..(1 << MAX_SWAPFILES_SHIFT) {
            for offset in [0, 1, Old::MAX_SWP_OFFSET] {
                let e = SwpEntry::new(typ, offset);
                for b in combos() {
                    let (mut on, mut off) = (b, b);
                    (on.exclusive, off.exclusive) = (true, false);
                    assert_eq!(Old::encode(e, on), Old::encode(e, off));
                    assert_eq!(New::encode(e, off) & New::MASKS.exclusive, 0);
                    if Old::is_swap_pte(Old::encode(e, on)) {
                        assert!(!Old::decode(Old::encode(e, on)).unwrap().1.exclusive);
                    }
                }
            }
        }
    }

    /// decode() of any value: None exactly when !is_swap_pte(), and otherwise what it reads
    /// re-encodes to a PTE that decodes the same (the bits encode() never sets are dropped).
    pub fn decode_any<A: SwpPteArch>(raw: u64, none: Option<SwpEntry>) -> Result<(), String> {
        match A::decode(raw) {
            None if A::is_swap_pte(raw) => Err(format!("{raw:#x}: swap PTE not decoded")),
            None => Ok(()),
            Some((e, b)) => {
                let again = A::encode(e, b);
                let same = if (Some(e), b) == (none, SwpPteBits::default()) {
                    !A::is_swap_pte(again)
                } else {
                    A::decode(again) == Some((e, b))
                };
                if same && again & !raw & !A::entry_to_pte(e) == 0 {
                    Ok(())
                } else {
                    Err(format!("{raw:#x} -> {e:?} {b:?} -> {again:#x}"))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pgtable::swp::{SwpKind, SWP_MIGRATION_WRITE, SWP_PTE_MARKER};

    #[test]
    fn arch_names_parse_and_print() {
        for a in Arch::ALL {
            assert_eq!(a.to_string().parse::<Arch>(), Ok(a));
        }
        let names: Vec<_> = Arch::ALL.iter().map(|a| a.to_string()).collect();
        assert_eq!(names, ["x86_64", "arm64", "s390x", "ppc64"]);
        assert_eq!(Arch::default(), Arch::X86_64);
        assert_eq!(
            "sparc64".parse::<Arch>(),
            Err("unknown arch `sparc64` (known: x86_64, arm64, s390x, ppc64)".into())
        );
    }

    #[test]
    fn swp_pte_from_x86_reencodes_swap_entries_only() {
        let e = SwpEntry::new(0, 1);
        let excl = SwpPteBits {
            exclusive: true,
            ..Default::default()
        };
        let x86 = X86_64::encode(e, excl);
        assert_eq!(x86, 0x07FF_FFFF_FFFF_FC08);
        let p = Profile::Linux519;
        assert_eq!(Arch::X86_64.swp_pte_from_x86(p, x86), x86);
        assert_eq!(Arch::Arm64.swp_pte_from_x86(p, x86), 0x104);
        assert_eq!(Arch::S390x.swp_pte_from_x86(p, x86), 0x1E00);
        assert_eq!(Arch::Ppc64.swp_pte_from_x86(p, x86), 0x4000_0000_0001_0020);
        // Under 5.18 the same entry keeps its place but no architecture has the bit.
        let p = Profile::Linux518;
        assert_eq!(Arch::X86_64.swp_pte_from_x86(p, x86), 0x07FF_FFFF_FFFF_FC00);
        assert_eq!(Arch::Arm64.swp_pte_from_x86(p, x86), 0x100);
        assert_eq!(Arch::S390x.swp_pte_from_x86(p, x86), 0x1600);
        assert_eq!(Arch::Ppc64.swp_pte_from_x86(p, x86), 0x4000_0000_0001_0000);
        // Present and none entries pass through untouched on every architecture.
        let present = 0x8000_0000_1234_5067u64;
        for a in Arch::ALL {
            for prof in Profile::all() {
                assert_eq!(a.swp_pte_from_x86(prof, present), present);
                assert_eq!(a.swp_pte_from_x86(prof, 0), 0);
            }
        }
    }

    #[test]
    fn first_slot_after_pageout_per_arch() {
        // scenarios/swap-arch: slot 1 of device 0 after MADV_PAGEOUT of a written exclusive
        // anon page: try_to_unmap() sets the exclusive bit and carries the soft-dirty bit that
        // pte_mkdirty() put in the present PTE (x86-64, s390x and ppc64 have a swap soft-dirty
        // bit, arm64 does not).
        let b = SwpPteBits {
            exclusive: true,
            soft_dirty: true,
            uffd_wp: false,
        };
        let x86 = X86_64::encode(SwpEntry::new(0, 1), b);
        let want = [
            (Arch::X86_64, 0x07FF_FFFF_FFFF_FC0A),
            (Arch::Arm64, 0x104),
            (Arch::S390x, 0x1E02),
            (Arch::Ppc64, 0x4000_0000_0001_0220),
        ];
        for (a, v) in want {
            assert_eq!(a.swp_pte_from_x86(Profile::Linux519, x86), v, "{a}");
        }
    }

    #[test]
    fn swp_pte_from_x86_keeps_special_entries_and_flags() {
        let marker = SwpEntry::from_kind(SwpKind::Marker { bits: 1 });
        let mig = SwpEntry::new(SWP_MIGRATION_WRITE, 0x12345);
        let sd = SwpPteBits {
            soft_dirty: true,
            ..Default::default()
        };
        let uffd = SwpPteBits {
            uffd_wp: true,
            ..Default::default()
        };
        let p = Profile::Linux519;
        // arm64: no soft-dirty, no uffd-wp in 5.19: only type << 3 | offset << 8 remain.
        let arm = |e, b| Arch::Arm64.swp_pte_from_x86(p, X86_64::encode(e, b));
        assert_eq!(
            arm(marker, uffd),
            (u64::from(SWP_PTE_MARKER) << 3) | (1 << 8)
        );
        assert_eq!(arm(mig, sd), (25 << 3) | (0x12345 << 8));
        // s390x keeps soft-dirty (0x002), has no uffd-wp.
        let s390 = |e, b| Arch::S390x.swp_pte_from_x86(p, X86_64::encode(e, b));
        assert_eq!(s390(mig, sd), 0x600 | (25 << 2) | (0x12345 << 12) | 0x2);
        assert_eq!(s390(marker, uffd), 0x600 | (30 << 2) | (1 << 12));
        // ppc64 keeps soft-dirty (0x200), has no uffd-wp.
        let ppc = |e, b| Arch::Ppc64.swp_pte_from_x86(p, X86_64::encode(e, b));
        assert_eq!(ppc(mig, sd), (1 << 62) | 25 | (0x12345 << 16) | 0x200);
        assert_eq!(ppc(marker, uffd), (1 << 62) | 30 | (1 << 16));
    }
}
