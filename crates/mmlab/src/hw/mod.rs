//! Simulated hardware: physical frames, per-CPU TLBs and the MMU's page walk.

pub mod mmu;
pub mod phys;
pub mod tlb;

pub use phys::PhysMem;
pub use tlb::{Tlb, TlbEntry};

pub const PAGE_SHIFT: u32 = 12;
pub const PAGE_SIZE: u64 = 1 << PAGE_SHIFT;
pub const PAGE_MASK: u64 = !(PAGE_SIZE - 1);
/// Entries per table at every level.
pub const PTRS_PER_TABLE: usize = 512;
/// The highest user address + 1 on x86-64 with 4-level paging (TASK_SIZE_MAX).
pub const TASK_SIZE: u64 = (1u64 << 47) - PAGE_SIZE;
