//! Kconfig-like switches and the named kernel-version profiles that group them.

use std::fmt;
use std::str::FromStr;

/// A named set of behaviours: the kernel before or after the May 2022 mm series.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize)]
pub enum Profile {
    /// Linux 5.18: page-count based COW reuse, mprotect flushes every walked range.
    Linux518,
    /// Linux 5.19: PG_anon_exclusive, mmu_gather + pte_needs_flush in mprotect, mremap EFAULT fix.
    #[default]
    Linux519,
}

impl Profile {
    /// The profile's name as scenarios spell it.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Linux518 => "linux-5.18",
            Profile::Linux519 => "linux-5.19",
        }
    }

    /// Every profile, for help texts.
    pub fn all() -> [Profile; 2] {
        [Profile::Linux518, Profile::Linux519]
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Profile {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Profile::all()
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| format!("unknown profile `{s}` (known: linux-5.18, linux-5.19)"))
    }
}

/// The individual behaviour switches a profile sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Features {
    /// PG_anon_exclusive drives COW reuse and fork (COW fixes part 2, 5.19).
    pub anon_exclusive: bool,
    /// mprotect batches with mmu_gather and skips flushes pte_needs_flush() says are unneeded (5.19).
    pub mprotect_flush_avoid: bool,
    /// mremap of an address without a VMA returns EFAULT instead of the positive 14 that
    /// 5.16 to 5.18-rc6 returned (fixed by 7d1e64966 in 5.18-rc7; the log adds its selftest).
    pub mremap_efault_fix: bool,
    /// uffd-wp on shmem and hugetlbfs (PTE markers, the userfaultfd-wp series of 5.19).
    pub uffd_wp_shmem_hugetlb: bool,
    /// retract_page_tables() leaves the PTE table of a VM_UFFD_WP VMA alone, checked under
    /// the mmap write lock ("mm/khugepaged: don't recycle vma pgtable if uffd-wp registered").
    /// Off, the VM_UFFD_WP test is made when the range is scanned, before the mmap write lock,
    /// and the retraction trusts it: the race that patch closed.
    pub khugepaged_uffd_wp_check: bool,
    /// Swap over a filesystem through ->swap_rw(), asynchronous and plugged (up to
    /// SWAP_CLUSTER_MAX adjacent pages a request), THP counted by size, and reclaim that does
    /// not write SWP_FS_OPS swap without __GFP_FS (the swap-over-NFS series, 5.19). Off: 5.18's
    /// synchronous one-page ->direct_IO() and ->readpage().
    pub swap_rw: bool,
    /// The memory controller on the legacy (v1) hierarchy instead of cgroup2.
    pub cgroup_v1: bool,
    /// cgroup2 mounted with `memory_recursiveprot`.
    pub memory_recursiveprot: bool,
    /// cgroup2 mounted with `memory_localevents`.
    pub memory_localevents: bool,
}

impl Features {
    /// The switches of a profile.
    pub fn of(profile: Profile) -> Features {
        let new = profile == Profile::Linux519;
        Features {
            anon_exclusive: new,
            mprotect_flush_avoid: new,
            mremap_efault_fix: true,
            uffd_wp_shmem_hugetlb: new,
            khugepaged_uffd_wp_check: new,
            swap_rw: new,
            cgroup_v1: false,
            memory_recursiveprot: false,
            memory_localevents: false,
        }
    }

    /// Switch one feature by name (see NAMES).
    pub fn set(&mut self, name: &str, on: bool) -> Result<(), String> {
        let f = match name {
            "anon_exclusive" => &mut self.anon_exclusive,
            "mprotect_flush_avoid" => &mut self.mprotect_flush_avoid,
            "mremap_efault_fix" => &mut self.mremap_efault_fix,
            "uffd_wp_shmem_hugetlb" => &mut self.uffd_wp_shmem_hugetlb,
            "khugepaged_uffd_wp_check" => &mut self.khugepaged_uffd_wp_check,
            "swap_rw" => &mut self.swap_rw,
            "cgroup_v1" => &mut self.cgroup_v1,
            "memory_recursiveprot" => &mut self.memory_recursiveprot,
            "memory_localevents" => &mut self.memory_localevents,
            _ => {
                return Err(format!(
                    "unknown feature `{name}` (known: {})",
                    Self::NAMES.join(", ")
                ))
            }
        };
        *f = on;
        Ok(())
    }

    /// The feature names `set` accepts.
    pub const NAMES: &'static [&'static str] = &[
        "anon_exclusive",
        "mprotect_flush_avoid",
        "mremap_efault_fix",
        "uffd_wp_shmem_hugetlb",
        "khugepaged_uffd_wp_check",
        "swap_rw",
        "cgroup_v1",
        "memory_recursiveprot",
        "memory_localevents",
    ];
}

/// Whether frames hold real bytes or only a 64-bit content tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize)]
pub enum ContentMode {
    /// Frames keep their bytes (allocated on first write); loads return what was stored.
    #[default]
    Bytes,
    /// Frames keep one tag word: the last byte stored anywhere in the page. For large runs.
    Tagged,
}

/// Everything a `Kernel` is built from.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Config {
    pub profile: Profile,
    pub features: Features,
    /// Simulated physical memory in bytes.
    pub memory_bytes: u64,
    /// Simulated CPUs.
    pub cpus: usize,
    /// NUMA nodes the memory is split into (nr_online_nodes; each has memory and CPUs).
    pub nr_nodes: usize,
    pub content: ContentMode,
    /// /proc/sys/vm/max_map_count.
    pub max_map_count: usize,
    /// /sys/kernel/debug/fault_around_bytes: a power of two from PAGE_SIZE (off) to 64 KiB.
    pub fault_around_bytes: u64,
    /// /proc/sys/vm/page-cluster: swap read-ahead reads up to 2^page_cluster pages.
    pub page_cluster: u32,
    /// The architecture whose swap-PTE layout `Kernel::arch_pte_at` shows; the tables the
    /// model walks stay x86-64.
    pub arch: crate::pgtable::arch::Arch,
}

impl Config {
    /// The defaults of a profile: 4 GiB, 2 CPUs, real bytes.
    pub fn new(profile: Profile) -> Config {
        Config {
            profile,
            features: Features::of(profile),
            memory_bytes: 4 << 30,
            cpus: 2,
            nr_nodes: 1,
            content: ContentMode::Bytes,
            max_map_count: 65530,
            fault_around_bytes: crate::mm::memory::FAULT_AROUND_BYTES,
            page_cluster: 3,
            arch: crate::pgtable::arch::Arch::X86_64,
        }
    }

    /// fault_around_bytes_set(): round down to a power of two, at least PAGE_SIZE (5.19 keeps
    /// the value below PTRS_PER_PTE pages).
    pub fn set_fault_around_bytes(&mut self, val: u64) -> Result<(), String> {
        if val / 4096 > 512 {
            return Err(format!(
                "fault_around_bytes {val}: more than a page table's 512 pages (EINVAL)"
            ));
        }
        self.fault_around_bytes = if val > 4096 {
            1 << (63 - val.leading_zeros())
        } else {
            4096
        };
        Ok(())
    }
}

impl Default for Config {
    fn default() -> Self {
        Config::new(Profile::default())
    }
}
