//! The address space (mm_struct) and the mm code that works on it, one kernel file a module.

pub mod damon;
pub mod filemap;
pub mod fork;
pub mod gup;
pub mod gup_fast;
pub mod huge_memory;
pub mod hugetlb;
pub mod khugepaged;
pub mod kswapd;
pub mod madvise;
pub mod memcontrol;
pub mod memfd;
pub mod memory;
pub mod mempolicy;
pub mod migrate;
pub mod migrate_hugetlb;
pub mod mincore;
pub mod mlock;
pub mod mmap;
pub mod mmu_gather;
pub mod mprotect;
pub mod mremap;
pub mod msync;
pub mod oom_kill;
pub mod page_alloc;
pub mod page_counter;
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
pub mod vmscan_throttle;
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
    /// mm->def_flags: VM_LOCKED (and VM_LOCKONFAULT) after mlockall(MCL_FUTURE).
    pub def_flags: u64,
    /// mm->start_brk and mm->brk: the heap's start and the current program break.
    pub start_brk: u64,
    pub brk: u64,
    /// MMF_HAS_PINNED: FOLL_PIN was used on this mm (fork then checks pages for pins).
    pub has_pinned: bool,
    /// mm->write_protect_seq: odd while fork write-protects the mm's COW mappings.
    pub write_protect_seq: u64,
    /// mm->hiwater_rss in pages: raised (update_hiwater_rss()) before the RSS drops.
    pub hiwater_rss: u64,
}

impl Mm {
    /// get_mm_rss() in pages: MM_ANONPAGES and MM_SHMEMPAGES (the model keeps no MM_FILEPAGES).
    pub fn get_mm_rss(&self) -> u64 {
        (self.rss_anon + self.rss_shmem).max(0) as u64
    }

    /// get_mm_hiwater_rss(): the most pages the mm has had mapped.
    pub fn get_mm_hiwater_rss(&self) -> u64 {
        self.hiwater_rss.max(self.get_mm_rss())
    }

    /// update_hiwater_rss(): called where the RSS is about to drop.
    pub fn update_hiwater_rss(&mut self) {
        self.hiwater_rss = self.get_mm_hiwater_rss();
    }

    /// mm->locked_vm in pages: 5.19 keeps it equal to the size of the VM_LOCKED VMAs
    /// (mmap_region(), mlock_fixup(), munmap and mremap adjust it as they change them).
    pub fn locked_vm(&self) -> u64 {
        self.vmas
            .iter()
            .filter(|v| v.flags & vma::vm::VM_LOCKED != 0)
            .map(Vma::pages)
            .sum()
    }

    /// mm->data_vm in pages: private writable non-stack VMAs (is_data_mapping()).
    pub fn data_vm(&self) -> u64 {
        self.vmas
            .iter()
            .filter(|v| vma::is_data_mapping(v.flags))
            .map(Vma::pages)
            .sum()
    }
}

/// Where anonymous mmaps are placed top-down from (mmap_base without randomisation).
pub const MMAP_BASE: u64 = 0x7fff_f7ff_f000;
/// /proc/sys/vm/mmap_min_addr.
pub const MMAP_MIN_ADDR: u64 = 0x10000;
/// mm->start_brk of a process: where the heap of a small PIE program starts with address-space
/// randomisation off (the model has no executable; the page after its data).
pub const START_BRK: u64 = 0x5555_5555_9000;
