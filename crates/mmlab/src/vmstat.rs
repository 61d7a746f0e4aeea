//! vmstat-style event counters (/proc/vmstat names where Linux has one).

use serde::Serialize;

/// Global event and state counters.
#[derive(Clone, Debug, Default, Serialize)]
pub struct VmStat {
    /// PGFAULT: calls of handle_mm_fault().
    pub pgfault: u64,
    /// Anonymous pages allocated by do_anonymous_page().
    pub anon_fault: u64,
    /// Read faults that mapped the shared zero page.
    pub zero_page_map: u64,
    /// Write faults on a write-protected anonymous page that copied it.
    pub cow_fault: u64,
    /// PGREUSE: write faults that reused the page in place.
    pub cow_reuse: u64,
    pub nr_tlb_remote_flush: u64,
    pub nr_tlb_remote_flush_received: u64,
    pub nr_tlb_local_flush_all: u64,
    pub nr_tlb_local_flush_one: u64,
    /// NR_ANON_MAPPED.
    pub nr_anon_pages: u64,
    /// NR_SHMEM.
    pub nr_shmem: u64,
    /// NR_ANON_THPS, in huge pages as /proc/vmstat prints it.
    pub nr_anon_transparent_hugepages: u64,
    pub thp_fault_alloc: u64,
    pub thp_fault_fallback: u64,
    pub thp_collapse_alloc: u64,
    pub thp_collapse_alloc_failed: u64,
    pub thp_split_page: u64,
    pub thp_split_page_failed: u64,
    pub thp_deferred_split_page: u64,
    pub thp_split_pmd: u64,
    pub thp_zero_page_alloc: u64,
    pub thp_zero_page_alloc_failed: u64,
    pub thp_swpout_fallback: u64,
    pub thp_scan_exceed_none_pte: u64,
    pub thp_scan_exceed_swap_pte: u64,
    pub thp_scan_exceed_share_pte: u64,
    pub thp_file_alloc: u64,
    pub thp_file_fallback: u64,
    pub thp_file_mapped: u64,
    /// NR_SHMEM_THPS, in huge pages as /proc/vmstat prints it.
    pub nr_shmem_hugepages: u64,
    /// NR_SHMEM_PMDMAPPED: shmem THPs a PMD maps somewhere, in huge pages.
    pub nr_shmem_pmdmapped: u64,
    /// ALLOCSTALL_NORMAL / ALLOCSTALL_MOVABLE: direct reclaims, by the zone the gfp mask
    /// names.
    pub allocstall_normal: u64,
    pub allocstall_movable: u64,
    /// PGREFILL: pages shrink_active_list() looked at.
    pub pgrefill: u64,
    /// PGSTEAL_KSWAPD / _DIRECT: pages reclaim freed, by who reclaimed.
    pub pgsteal_kswapd: u64,
    pub pgsteal_direct: u64,
    /// PGSCAN_KSWAPD / _DIRECT: inactive pages reclaim looked at, by who reclaimed.
    pub pgscan_kswapd: u64,
    pub pgscan_direct: u64,
    /// PGSCAN_ANON / _FILE: the same by list type.
    pub pgscan_anon: u64,
    pub pgscan_file: u64,
    /// PGSTEAL_ANON / _FILE.
    pub pgsteal_anon: u64,
    pub pgsteal_file: u64,
    /// KSWAPD_LOW_WMARK_HIT_QUICKLY: kswapd woken during its nap after balancing.
    pub kswapd_low_wmark_hit_quickly: u64,
    /// KSWAPD_HIGH_WMARK_HIT_QUICKLY: the node unbalanced again when the nap ended.
    pub kswapd_high_wmark_hit_quickly: u64,
    /// PAGEOUTRUN: balance_pgdat() runs.
    pub pageoutrun: u64,
    /// OOM_KILL: processes the OOM killer killed.
    pub oom_kill: u64,
    /// PGACTIVATE: pages moved to an active LRU list.
    pub pgactivate: u64,
    /// PGDEACTIVATE: pages moved to an inactive LRU list.
    pub pgdeactivate: u64,
    /// NR_MLOCK: pages PG_mlocked (meminfo Mlocked).
    pub nr_mlock: u64,
    /// UNEVICTABLE_PGCULLED: pages put on the unevictable list.
    pub unevictable_pgs_culled: u64,
    /// UNEVICTABLE_PGRESCUED: pages moved from the unevictable list to an evictable one.
    pub unevictable_pgs_rescued: u64,
    /// UNEVICTABLE_PGMLOCKED: pages that became PG_mlocked.
    pub unevictable_pgs_mlocked: u64,
    /// UNEVICTABLE_PGMUNLOCKED: pages munlocked.
    pub unevictable_pgs_munlocked: u64,
    /// UNEVICTABLE_PGCLEARED: pages still PG_mlocked when freed.
    pub unevictable_pgs_cleared: u64,
    /// UNEVICTABLE_PGSTRANDED: pages munlocked while isolated on the unevictable list.
    pub unevictable_pgs_stranded: u64,
    /// PGLAZYFREE: pages MADV_FREE moved to the lazyfree (inactive file) list.
    pub pglazyfree: u64,
    /// NR_SWAPCACHE: pages in the swap cache (meminfo SwapCached).
    pub nr_swapcached: u64,
    /// PGMAJFAULT: faults that waited for a read (swap-in from the device).
    pub pgmajfault: u64,
    /// PSWPIN: pages read from swap.
    pub pswpin: u64,
    /// PSWPOUT: pages written to swap.
    pub pswpout: u64,
    /// THP_SWPOUT: THPs written to swap whole.
    pub thp_swpout: u64,
    /// SWAP_RA: pages swap read-ahead read.
    pub swap_ra: u64,
    /// SWAP_RA_HIT: read-ahead pages a later fault found.
    pub swap_ra_hit: u64,
    /// PGROTATED: pages moved to the inactive tail when writeback ended.
    pub pgrotated: u64,
    /// PGLAZYFREED: lazily freed pages reclaim discarded.
    pub pglazyfreed: u64,
    /// NR_VMSCAN_WRITE: pages reclaim wrote (pageout()).
    pub nr_vmscan_write: u64,
    /// NR_VMSCAN_IMMEDIATE: dirty pages reclaim marked to free at writeback end.
    pub nr_vmscan_immediate_reclaim: u64,
    /// NR_THROTTLED_WRITTEN: pages whose writeback ended while reclaim slept on writeback.
    pub nr_throttled_written: u64,
    /// WORKINGSET_REFAULT_ANON: anon pages faulted back where a shadow was.
    pub workingset_refault_anon: u64,
    /// WORKINGSET_REFAULT_FILE.
    pub workingset_refault_file: u64,
    /// WORKINGSET_ACTIVATE_ANON: refaults within the workingset size, activated.
    pub workingset_activate_anon: u64,
    /// WORKINGSET_ACTIVATE_FILE.
    pub workingset_activate_file: u64,
    /// WORKINGSET_RESTORE_ANON: refaults of pages that were active when evicted.
    pub workingset_restore_anon: u64,
    /// WORKINGSET_RESTORE_FILE.
    pub workingset_restore_file: u64,
    /// NR_FOLL_PIN_ACQUIRED / _RELEASED: page pins GUP took and gave back.
    pub nr_foll_pin_acquired: u64,
    pub nr_foll_pin_released: u64,
}

impl VmStat {
    /// A counter by its name, as scenarios and `mmlab` spell it.
    pub fn get(&self, name: &str) -> Option<u64> {
        Some(match name {
            "pgfault" => self.pgfault,
            "anon_fault" => self.anon_fault,
            "zero_page_map" => self.zero_page_map,
            "cow_fault" => self.cow_fault,
            "cow_reuse" | "pgreuse" => self.cow_reuse,
            "nr_tlb_remote_flush" => self.nr_tlb_remote_flush,
            "nr_tlb_remote_flush_received" => self.nr_tlb_remote_flush_received,
            "nr_tlb_local_flush_all" => self.nr_tlb_local_flush_all,
            "nr_tlb_local_flush_one" => self.nr_tlb_local_flush_one,
            "nr_anon_pages" => self.nr_anon_pages,
            "nr_shmem" => self.nr_shmem,
            "nr_anon_transparent_hugepages" => self.nr_anon_transparent_hugepages,
            "thp_fault_alloc" => self.thp_fault_alloc,
            "thp_fault_fallback" => self.thp_fault_fallback,
            "thp_collapse_alloc" => self.thp_collapse_alloc,
            "thp_collapse_alloc_failed" => self.thp_collapse_alloc_failed,
            "thp_split_page" => self.thp_split_page,
            "thp_split_page_failed" => self.thp_split_page_failed,
            "thp_deferred_split_page" => self.thp_deferred_split_page,
            "thp_split_pmd" => self.thp_split_pmd,
            "thp_zero_page_alloc" => self.thp_zero_page_alloc,
            "thp_zero_page_alloc_failed" => self.thp_zero_page_alloc_failed,
            "thp_swpout_fallback" => self.thp_swpout_fallback,
            "thp_scan_exceed_none_pte" => self.thp_scan_exceed_none_pte,
            "thp_scan_exceed_swap_pte" => self.thp_scan_exceed_swap_pte,
            "thp_scan_exceed_share_pte" => self.thp_scan_exceed_share_pte,
            "thp_file_alloc" => self.thp_file_alloc,
            "thp_file_fallback" => self.thp_file_fallback,
            "thp_file_mapped" => self.thp_file_mapped,
            "nr_shmem_hugepages" => self.nr_shmem_hugepages,
            "nr_shmem_pmdmapped" => self.nr_shmem_pmdmapped,
            "allocstall_normal" => self.allocstall_normal,
            "allocstall_movable" => self.allocstall_movable,
            "pgrefill" => self.pgrefill,
            "pgsteal_kswapd" => self.pgsteal_kswapd,
            "pgsteal_direct" => self.pgsteal_direct,
            "pgscan_kswapd" => self.pgscan_kswapd,
            "pgscan_direct" => self.pgscan_direct,
            "pgscan_anon" => self.pgscan_anon,
            "pgscan_file" => self.pgscan_file,
            "pgsteal_anon" => self.pgsteal_anon,
            "pgsteal_file" => self.pgsteal_file,
            "kswapd_low_wmark_hit_quickly" => self.kswapd_low_wmark_hit_quickly,
            "kswapd_high_wmark_hit_quickly" => self.kswapd_high_wmark_hit_quickly,
            "pageoutrun" => self.pageoutrun,
            "oom_kill" => self.oom_kill,
            "pgactivate" => self.pgactivate,
            "pgdeactivate" => self.pgdeactivate,
            "pglazyfree" => self.pglazyfree,
            "nr_mlock" => self.nr_mlock,
            "unevictable_pgs_culled" => self.unevictable_pgs_culled,
            "unevictable_pgs_rescued" => self.unevictable_pgs_rescued,
            "unevictable_pgs_mlocked" => self.unevictable_pgs_mlocked,
            "unevictable_pgs_munlocked" => self.unevictable_pgs_munlocked,
            "unevictable_pgs_cleared" => self.unevictable_pgs_cleared,
            "unevictable_pgs_stranded" => self.unevictable_pgs_stranded,
            "nr_swapcached" => self.nr_swapcached,
            "pgmajfault" => self.pgmajfault,
            "pswpin" => self.pswpin,
            "pswpout" => self.pswpout,
            "thp_swpout" => self.thp_swpout,
            "swap_ra" => self.swap_ra,
            "swap_ra_hit" => self.swap_ra_hit,
            "pgrotated" => self.pgrotated,
            "pglazyfreed" => self.pglazyfreed,
            "nr_vmscan_write" => self.nr_vmscan_write,
            "nr_vmscan_immediate_reclaim" => self.nr_vmscan_immediate_reclaim,
            "nr_throttled_written" => self.nr_throttled_written,
            "workingset_refault_anon" => self.workingset_refault_anon,
            "workingset_refault_file" => self.workingset_refault_file,
            "workingset_activate_anon" => self.workingset_activate_anon,
            "workingset_activate_file" => self.workingset_activate_file,
            "workingset_restore_anon" => self.workingset_restore_anon,
            "workingset_restore_file" => self.workingset_restore_file,
            "nr_foll_pin_acquired" => self.nr_foll_pin_acquired,
            "nr_foll_pin_released" => self.nr_foll_pin_released,
            _ => return None,
        })
    }

    /// The counters that /proc/vmstat has under the same name on a default x86-64 build, in
    /// /proc/vmstat's order (vmstat_text: zone, node, then event items). The nr_tlb_* items
    /// need CONFIG_DEBUG_TLBFLUSH, so they are model-only.
    pub const LINUX_NAMES: &'static [&'static str] = &[
        "nr_free_pages",
        "nr_mlock",
        "nr_inactive_anon",
        "nr_active_anon",
        "nr_inactive_file",
        "nr_active_file",
        "nr_unevictable",
        "nr_anon_pages",
        "nr_shmem",
        "nr_shmem_hugepages",
        "nr_shmem_pmdmapped",
        "nr_anon_transparent_hugepages",
        "allocstall_normal",
        "allocstall_movable",
        "pgactivate",
        "pgdeactivate",
        "pglazyfree",
        "pgfault",
        "pgrefill",
        "pgreuse",
        "pgsteal_kswapd",
        "pgsteal_direct",
        "pgscan_kswapd",
        "pgscan_direct",
        "pgscan_anon",
        "pgscan_file",
        "pgsteal_anon",
        "pgsteal_file",
        "kswapd_low_wmark_hit_quickly",
        "kswapd_high_wmark_hit_quickly",
        "pageoutrun",
        "oom_kill",
        "unevictable_pgs_culled",
        "unevictable_pgs_rescued",
        "unevictable_pgs_mlocked",
        "unevictable_pgs_munlocked",
        "unevictable_pgs_cleared",
        "unevictable_pgs_stranded",
        "thp_fault_alloc",
        "thp_fault_fallback",
        "thp_collapse_alloc",
        "thp_collapse_alloc_failed",
        "thp_file_alloc",
        "thp_file_fallback",
        "thp_file_mapped",
        "thp_split_page",
        "thp_split_page_failed",
        "thp_deferred_split_page",
        "thp_split_pmd",
        "thp_scan_exceed_none_pte",
        "thp_scan_exceed_swap_pte",
        "thp_scan_exceed_share_pte",
        "thp_zero_page_alloc",
        "thp_zero_page_alloc_failed",
        "thp_swpout_fallback",
        "nr_swapcached",
        "pgmajfault",
        "pswpin",
        "pswpout",
        "thp_swpout",
        "swap_ra",
        "swap_ra_hit",
        "pgrotated",
        "pglazyfreed",
        "nr_vmscan_write",
        "nr_vmscan_immediate_reclaim",
        "nr_throttled_written",
        "workingset_refault_anon",
        "workingset_refault_file",
        "workingset_activate_anon",
        "workingset_activate_file",
        "workingset_restore_anon",
        "workingset_restore_file",
        "nr_foll_pin_acquired",
        "nr_foll_pin_released",
    ];

    /// The counters only the model keeps (model.counter), beside LINUX_NAMES.
    pub const MODEL_ONLY_NAMES: &'static [&'static str] = &[
        "anon_fault",
        "zero_page_map",
        "cow_fault",
        "cow_reuse",
        "nr_tlb_remote_flush",
        "nr_tlb_remote_flush_received",
        "nr_tlb_local_flush_all",
        "nr_tlb_local_flush_one",
    ];

    /// Every counter name, for help texts and errors.
    pub fn names() -> impl Iterator<Item = &'static str> {
        Self::LINUX_NAMES
            .iter()
            .chain(Self::MODEL_ONLY_NAMES)
            .copied()
    }
}
