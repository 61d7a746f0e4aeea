//! gfp_t: how an allocation may be satisfied (include/linux/gfp.h, 5.19 bit values).

bitflags::bitflags! {
    /// The __GFP_* bits the model acts on or passes along.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct Gfp: u32 {
        const HIGHMEM = 0x02;
        const MOVABLE = 0x08;
        const HIGH = 0x20;
        const IO = 0x40;
        const FS = 0x80;
        /// Return the pages zeroed.
        const ZERO = 0x100;
        const ATOMIC = 0x200;
        /// The caller may sleep in direct reclaim.
        const DIRECT_RECLAIM = 0x400;
        /// Falling below the low watermark wakes kswapd.
        const KSWAPD_RECLAIM = 0x800;
        const NOWARN = 0x2000;
        const RETRY_MAYFAIL = 0x4000;
        const NOFAIL = 0x8000;
        const NORETRY = 0x10000;
        /// A compound page (folio) for order > 0.
        const COMP = 0x40000;
        const NOMEMALLOC = 0x80000;
        const HARDWALL = 0x100000;
        const THISNODE = 0x200000;
        /// Charge the memory cgroup (kmem accounting).
        const ACCOUNT = 0x400000;

        /// __GFP_RECLAIM.
        const RECLAIM = Self::DIRECT_RECLAIM.bits() | Self::KSWAPD_RECLAIM.bits();
        /// GFP_KERNEL.
        const KERNEL = Self::RECLAIM.bits() | Self::IO.bits() | Self::FS.bits();
        /// GFP_USER.
        const USER = Self::KERNEL.bits() | Self::HARDWALL.bits();
        /// GFP_HIGHUSER_MOVABLE: anonymous and page-cache pages.
        const HIGHUSER_MOVABLE = Self::USER.bits() | Self::HIGHMEM.bits() | Self::MOVABLE.bits();
        /// GFP_TRANSHUGE_LIGHT: a THP that must not wait for reclaim.
        const TRANSHUGE_LIGHT = (Self::HIGHUSER_MOVABLE.bits() | Self::COMP.bits()
            | Self::NOMEMALLOC.bits() | Self::NOWARN.bits()) & !Self::RECLAIM.bits();
        /// GFP_TRANSHUGE: a THP that may direct-reclaim (defrag "always", khugepaged).
        const TRANSHUGE = Self::TRANSHUGE_LIGHT.bits() | Self::DIRECT_RECLAIM.bits();
        /// GFP_PGTABLE_USER: a user page table, zeroed and charged.
        const PGTABLE_USER = Self::KERNEL.bits() | Self::ZERO.bits() | Self::ACCOUNT.bits();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn composites_match_gfp_h() {
        assert_eq!(Gfp::KERNEL.bits(), 0xcc0);
        assert_eq!(Gfp::HIGHUSER_MOVABLE.bits(), 0x100cca);
        assert_eq!(Gfp::PGTABLE_USER.bits(), 0x400dc0);
        assert!(!Gfp::TRANSHUGE_LIGHT.intersects(Gfp::RECLAIM));
        assert!(Gfp::TRANSHUGE.contains(Gfp::DIRECT_RECLAIM | Gfp::COMP));
    }
}
