//! Architecture formats of page-table entries. The model's tables use x86-64 (the default
//! and only hardware the MMU walks); other layouts of the swap PTE are codecs behind the same
//! trait, so pagemap can show what each architecture would store.

pub mod x86_64;

pub use x86_64::X86_64;

use crate::pgtable::swp::{SwpEntry, SwpPteBits};

/// How an architecture stores a swap entry and its software bits in a non-present PTE
/// (__swp_entry()/__swp_type()/__swp_offset() and the pte_swp_* helpers).
pub trait SwpPteArch {
    /// The architecture's name as profiles spell it.
    const NAME: &'static str;
    /// The largest swap offset the PTE field holds.
    const MAX_SWP_OFFSET: u64;
    /// is_swap_pte(): neither none nor present.
    fn is_swap_pte(raw: u64) -> bool;
    /// swp_entry_to_pte() plus pte_swp_mk*() for each set bit.
    fn encode(e: SwpEntry, bits: SwpPteBits) -> u64;
    /// pte_to_swp_entry() and the pte_swp_*() tests; None for anything but a swap PTE.
    fn decode(raw: u64) -> Option<(SwpEntry, SwpPteBits)>;
}
