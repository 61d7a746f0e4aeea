//! The address space (mm_struct) and the mm code that works on it, one kernel file a module.

pub mod filemap;
pub mod fork;
pub mod gup;
pub mod gup_fast;
pub mod huge_memory;
pub mod hugetlb;
pub mod khugepaged;
pub mod kswapd;
pub mod madvise;
pub mod memfd;
pub mod memory;
pub mod mincore;
pub mod mlock;
pub mod mmap;
pub mod mmu_gather;
pub mod mprotect;
pub mod mremap;
pub mod msync;
pub mod oom_kill;
pub mod page_alloc;
pub mod page_io;
pub mod page_writeback;
pub mod pagewalk;
pub mod pgalloc;
pub mod process_vm_access;
pub mod rmap;
pub mod shmem;
pub mod swap;
pub mod swap_fault;
pub mod swap_state;
pub mod swap_table;
pub mod swapfile;
pub mod thp_knobs;
pub mod userfaultfd;
pub mod vm_fault;
pub mod vma;
pub mod vmscan;
pub mod vmscan_lru;
pub mod workingset;

pub use vma::{Backing, Vma, VmaTree};

/// Identifies an address space; also its TLB tag.
pub type MmId = usize;

/// mm_struct, trimmed to what the model uses.
#[derive(Debug)]
pub struct Mm {
    pub id: MmId,
    /// The PGD frame.
    pub pgd: crate::page::Pfn,
    pub vmas: VmaTree,
    /// mm_cpumask(): CPUs that ran this mm and may cache its translations.
    pub cpumask: u64,
    /// RSS counters: MM_ANONPAGES, MM_SHMEMPAGES.
    pub rss_anon: i64,
    pub rss_shmem: i64,
    /// MM_SWAPENTS: swap PTEs (VmSwap).
    pub rss_swapents: i64,
    /// mm->total_vm in pages.
    pub total_vm: u64,
    /// Pages charged with VM_ACCOUNT (commit accounting).
    pub committed: u64,
    /// The PTE table deposited with each huge PMD (pgtable_trans_huge_deposit), by address.
    pub deposited: std::collections::HashMap<u64, crate::page::Pfn>,
    /// MMF_HAS_PINNED: FOLL_PIN was used on this mm (fork then checks pages for pins).
    pub has_pinned: bool,
    /// mm->write_protect_seq: odd while fork write-protects the mm's COW mappings.
    pub write_protect_seq: u64,
}

/// Where anonymous mmaps are placed top-down from (mmap_base without randomisation).
pub const MMAP_BASE: u64 = 0x7fff_f7ff_f000;
/// /proc/sys/vm/mmap_min_addr.
pub const MMAP_MIN_ADDR: u64 = 0x10000;
