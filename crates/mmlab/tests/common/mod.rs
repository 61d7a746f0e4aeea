//! Helpers the property tests share. Each test binary compiles this module and uses the part
//! it needs, so what one binary leaves unused another uses.
#![allow(dead_code)]

pub mod ops;
pub mod world;

use mmlab::mm::khugepaged::ScanResult;
use mmlab::{Kernel, Tid};
use proptest::test_runner::Config as ProptestConfig;

pub const PAGE: u64 = 4096;
pub const HPAGE: u64 = 2 << 20;
/// Sampled byte offsets inside a page (the shadows track these).
pub const OFFS: [u64; 4] = [0, 1, 2047, 4095];
/// Sampled byte offsets inside a huge page.
pub const HOFFS: [u64; 6] = [0, 1, 4095, 4096, 1 << 20, HPAGE - 1];

/// The proptest configuration of every property: `cases` cases, and no failure files (a
/// failure prints its minimal case).
pub fn proptest_config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::with_cases(cases)
    }
}

/// A 5.19 kernel of 64 MiB on two NUMA nodes with one process (the migration tests).
pub fn two_nodes() -> (Kernel, Tid) {
    let cfg = mmlab::Config {
        memory_bytes: 64 << 20,
        nr_nodes: 2,
        ..mmlab::Config::new(mmlab::Profile::Linux519)
    };
    let mut k = Kernel::new(cfg);
    let t = k.spawn_process(0).expect("process");
    (k, t)
}

/// A 5.19 kernel with one process.
pub fn kernel_with_process() -> (Kernel, Tid) {
    let mut k = Kernel::new(mmlab::Config::new(mmlab::Profile::Linux519));
    let t = k.spawn_process(0).expect("process");
    (k, t)
}

/// A shadow's prediction against what the model did.
pub fn expect<T: PartialEq + std::fmt::Debug>(what: &str, got: T, want: T) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: got {got:?}, shadow expects {want:?}"))
    }
}

/// Exit each task in turn; the invariants must hold after each exit.
pub fn exit_each(k: &mut Kernel, tids: impl IntoIterator<Item = Tid>) -> Result<(), String> {
    for t in tids {
        k.exit(t).map_err(|e| format!("exit: {e:?}"))?;
        k.check_invariants()
            .map_err(|v| format!("after exit: {v}"))?;
    }
    Ok(())
}

/// `exit_each()`, then no frame may be left but the huge zero page, which outlives its users.
pub fn exit_all_leaves_nothing(
    k: &mut Kernel,
    tids: impl IntoIterator<Item = Tid>,
) -> Result<(), String> {
    exit_each(k, tids)?;
    let zero = if k.huge_zero_page_allocated() { 512 } else { 0 };
    k.lru_add_drain_all();
    expect("frames in use after every exit", k.frames_in_use(), zero)
}

/// After every process exited: the pool's pages (and the huge zero page) are all that stay
/// allocated (pool pages are never freed to the buddy allocator while nr_hugepages holds
/// them), all free, none reserved but those a partial mremap leaked.
pub fn check_pool_idle(k: &Kernel) -> Result<(), String> {
    let total = k.meminfo("HugePages_Total").expect("HugePages_Total");
    let free = k.meminfo("HugePages_Free").expect("HugePages_Free");
    let rsvd = k.meminfo("HugePages_Rsvd").expect("HugePages_Rsvd");
    // The huge zero page, once allocated, outlives its users.
    let zero = if k.huge_zero_page_allocated() { 512 } else { 0 };
    expect(
        "frames in use after every process exited",
        k.frames_in_use(),
        total * 512 + zero,
    )?;
    expect("HugePages_Free after every process exited", free, total)?;
    // Surplus pages stay only to back reservations a partial mremap leaked, when the pool was
    // shrunk below them (set_max_huge_pages() keeps resv_huge_pages): the pool is then those.
    let surp = k.meminfo("HugePages_Surp").expect("HugePages_Surp");
    if surp > 0 {
        expect(
            "HugePages_Total with surplus pages after every process exited",
            total,
            k.hugetlb_resv_leaked(),
        )?;
    }
    // Reservations a partial mremap dropped stay counted, as in Linux.
    expect(
        "HugePages_Rsvd after every process exited",
        rsvd,
        k.hugetlb_resv_leaked(),
    )
}

/// khugepaged on the PMD range holding `addr`: the scan step, and when it succeeds the
/// collapse step, which must succeed too and count in khugepaged/pages_collapsed.
pub fn collapse_if_scan_succeeds(k: &mut Kernel, tid: Tid, addr: u64) -> Result<(), String> {
    if k.khugepaged_scan(tid, addr) != Ok(ScanResult::Succeed) {
        return Ok(());
    }
    let collapsed = |k: &Kernel| {
        k.thp_sysfs_read("khugepaged/pages_collapsed")
            .and_then(|s| s.parse::<u64>().ok())
    };
    let before = collapsed(k);
    expect(
        "collapse after a successful scan",
        k.khugepaged_collapse(tid, addr),
        Ok(ScanResult::Succeed),
    )?;
    expect("pages_collapsed", collapsed(k), before.map(|b| b + 1))
}
