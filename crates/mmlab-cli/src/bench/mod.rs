//! `mmlab bench`: each workload on the model and natively on the host in the same run, with
//! the ratio and the target it is held to.

use mmlab_live::bench as host;

mod uffd;

use std::process::ExitCode;
use std::time::Instant;

use mmlab::uapi::*;
use mmlab::{Config, ContentMode, Kernel, Profile, Tid};

const PAGE: u64 = 4096;

/// One row of the table.
#[derive(serde::Serialize)]
struct Row {
    workload: &'static str,
    unit: &'static str,
    model: f64,
    host: Option<f64>,
    /// model/host for rates, host/model for times; None for absolute targets.
    ratio: Option<f64>,
    target: &'static str,
    met: bool,
}

impl Row {
    /// A rate the model must reach `factor` times the host's.
    fn faster(
        workload: &'static str,
        unit: &'static str,
        model: f64,
        host: Option<f64>,
        factor: f64,
    ) -> Row {
        let target = match factor as u32 {
            1 => "model >= 1x host",
            3 => "model >= 3x host",
            10 => "model >= 10x host",
            _ => "model >= 5x host",
        };
        Row {
            workload,
            unit,
            model,
            host,
            ratio: host.map(|h| model / h),
            target,
            met: host.is_some_and(|h| model >= factor * h),
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// A content-free kernel big enough for `bytes` of user memory, with one process.
fn kernel(bytes: u64) -> (Kernel, Tid) {
    let mut cfg = Config::new(Profile::Linux519);
    cfg.content = ContentMode::Tagged;
    cfg.memory_bytes = bytes * 2 + (64 << 20);
    let mut k = Kernel::new(cfg);
    let t = k.spawn_process(0).expect("process");
    (k, t)
}

fn anon_map(k: &mut Kernel, t: Tid, bytes: u64) -> u64 {
    k.mmap(
        t,
        0,
        bytes,
        PROT_READ | PROT_WRITE,
        MAP_PRIVATE | MAP_ANONYMOUS,
        -1,
        0,
    )
    .expect("mmap")
}

/// Store one byte every `stride` bytes of `[p, p + bytes)`; the seconds it took.
fn timed_stores(k: &mut Kernel, t: Tid, p: u64, bytes: u64, stride: u64) -> f64 {
    let start = Instant::now();
    let mut a = p;
    while a < p + bytes {
        k.store(t, a, 1).expect("store");
        a += stride;
    }
    start.elapsed().as_secs_f64()
}

/// 4 KiB write faults over `bytes`: (faults/s, host bytes per resident page).
fn model_anon_faults(bytes: u64) -> (f64, f64) {
    let (mut k, t) = kernel(bytes);
    let p = anon_map(&mut k, t, bytes);
    let before = k.host_bytes();
    let secs = timed_stores(&mut k, t, p, bytes, PAGE);
    let faults = k.minflt(t).expect("minflt") as f64;
    let per_page = (k.host_bytes().saturating_sub(before)) as f64 / (bytes / PAGE) as f64;
    (faults / secs, per_page)
}

/// 4 KiB shmem write faults over a fresh memfd of `bytes`: faults/s.
fn model_shmem_faults(bytes: u64) -> f64 {
    let (mut k, t) = kernel(bytes);
    let fd = k.memfd_create(t, "bench", 0).expect("memfd") as i64;
    k.ftruncate(t, fd, bytes as i64).expect("ftruncate");
    let p = k
        .mmap(t, 0, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
        .expect("mmap");
    let secs = timed_stores(&mut k, t, p, bytes, PAGE);
    k.minflt(t).expect("minflt") as f64 / secs
}

/// 2 MiB hugetlb write faults over a MAP_HUGETLB mapping of `bytes`: faults/s.
fn model_hugetlb_faults(bytes: u64) -> f64 {
    let (mut k, t) = kernel(bytes);
    let n = bytes >> 21;
    assert_eq!(
        k.set_nr_hugepages(n),
        n,
        "the model's memory holds the pool"
    );
    let p = k
        .mmap(
            t,
            0,
            bytes,
            PROT_READ | PROT_WRITE,
            MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB,
            -1,
            0,
        )
        .expect("mmap");
    let secs = timed_stores(&mut k, t, p, bytes, 2 << 20);
    k.minflt(t).expect("minflt") as f64 / secs
}

/// Anonymous THP write faults over a MADV_HUGEPAGE mapping of `bytes`: faults/s.
/// As on the host (whose warm-up run leaves free 2 MiB blocks behind), a first pass over a
/// mapping that is then unmapped grows the model's struct-page and frame arrays; the
/// measured pass faults a second mapping into the freed blocks.
fn model_thp_faults(bytes: u64) -> f64 {
    let (mut k, t) = kernel(bytes);
    let pass = |k: &mut Kernel| {
        let raw = anon_map(k, t, bytes + (2 << 20));
        let p = raw.next_multiple_of(2 << 20);
        k.madvise(t, p, bytes, MADV_HUGEPAGE).expect("madvise");
        let f0 = k.minflt(t).expect("minflt");
        let secs = timed_stores(k, t, p, bytes, 2 << 20);
        k.munmap(t, raw, bytes + (2 << 20)).expect("munmap");
        (k.minflt(t).expect("minflt") - f0) as f64 / secs
    };
    pass(&mut k);
    let rate = pass(&mut k);
    assert_eq!(
        k.counter("thp_fault_alloc"),
        Some(2 * (bytes >> 21)),
        "every fault mapped a THP"
    );
    rate
}

/// fork with `bytes` touched, the child writes it all and exits: total ms.
fn model_fork_cow(bytes: u64) -> f64 {
    let (mut k, t) = kernel(bytes * 2);
    let p = anon_map(&mut k, t, bytes);
    k.memset(t, p, 1, bytes).expect("touch");
    let start = Instant::now();
    let c = k.fork(t).expect("fork");
    let mut a = p;
    while a < p + bytes {
        k.store(c, a, 2).expect("child store");
        a += PAGE;
    }
    k.exit(c).expect("exit");
    start.elapsed().as_secs_f64() * 1e3
}

/// The RO/RW/store loop on an isolated page: iterations/s.
fn model_mprotect_loop(iters: u64) -> f64 {
    let (mut k, t) = kernel(1 << 20);
    let r = k
        .mmap(
            t,
            0,
            3 * PAGE,
            PROT_NONE,
            MAP_PRIVATE | MAP_ANONYMOUS,
            -1,
            0,
        )
        .expect("mmap");
    let p = k
        .mmap(
            t,
            r + PAGE,
            PAGE,
            PROT_READ | PROT_WRITE,
            MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
            -1,
            0,
        )
        .expect("mmap");
    k.store(t, p, 1).expect("store");
    let start = Instant::now();
    for _ in 0..iters {
        k.mprotect(t, p, PAGE, PROT_READ).expect("mprotect");
        k.mprotect(t, p, PAGE, PROT_READ | PROT_WRITE)
            .expect("mprotect");
        k.store(t, p, 0).expect("store");
    }
    iters as f64 / start.elapsed().as_secs_f64()
}

/// Loads from 64 resident pages (TLB hits): loads/s.
fn model_tlb_hits(n: u64) -> f64 {
    let (mut k, t) = kernel(1 << 20);
    let p = anon_map(&mut k, t, 64 * PAGE);
    k.memset(t, p, 1, 64 * PAGE).expect("touch");
    let start = Instant::now();
    let mut sum = 0u64;
    for i in 0..n {
        sum += k
            .load(t, p + ((i & 63) << 12) + (i & 63) * 64)
            .expect("load") as u64;
    }
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(sum, n, "every load reads the stored byte");
    n as f64 / secs
}

fn host_or_note<T>(r: Result<T, String>, what: &str) -> Option<T> {
    r.map_err(|e| eprintln!("host {what}: {e} (row shows the model only)"))
        .ok()
}

/// A rate row: the model's median over `reps` runs against the host's figure (or the model
/// alone, with a note, when the host cannot measure it), which it must beat `factor` times.
fn rate_row(
    workload: &'static str,
    unit: &'static str,
    reps: usize,
    model: impl Fn() -> f64,
    host: Result<host::HostFigure, String>,
    factor: f64,
) -> Row {
    let m = median((0..reps).map(|_| model()).collect());
    let h = host_or_note(host, workload).map(|h| h.value);
    Row::faster(workload, unit, m, h, factor)
}

/// Run the benchmarks and print the table; exit 1 if a target is missed.
pub fn run(quick: bool, json: bool) -> ExitCode {
    let turn = match mmlab_live::HostLock::acquire() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("mmlab bench: {e}");
            return ExitCode::from(2);
        }
    };
    let bytes: u64 = if quick { 64 << 20 } else { 1 << 30 };
    let reps = if quick { 1 } else { 3 };
    let iters = if quick { 20_000 } else { 200_000 };
    let loads = if quick { 20_000_000 } else { 200_000_000 };
    let size = format!("{} MiB", bytes >> 20);
    let mut rows = Vec::new();

    eprintln!("[1/9] anonymous 4 KiB write faults over {size} ...");
    let runs: Vec<(f64, f64)> = (0..reps).map(|_| model_anon_faults(bytes)).collect();
    let model_rate = median(runs.iter().map(|r| r.0).collect());
    let per_page = median(runs.iter().map(|r| r.1).collect());
    let host =
        host_or_note(host::anon_fault_rate(bytes as usize, reps), "anon faults").map(|h| h.value);
    rows.push(Row::faster(
        "anon 4 KiB write faults",
        "faults/s",
        model_rate,
        host,
        3.0,
    ));

    eprintln!("[2/9] shmem (memfd) 4 KiB write faults over {size} ...");
    rows.push(rate_row(
        "shmem 4 KiB write faults",
        "faults/s",
        reps,
        || model_shmem_faults(bytes),
        host::shmem_fault_rate(bytes as usize, reps),
        3.0,
    ));

    eprintln!("[3/9] hugetlb 2 MiB write faults over {size} ...");
    rows.push(rate_row(
        "hugetlb 2 MiB write faults",
        "faults/s",
        reps,
        || model_hugetlb_faults(bytes),
        host::hugetlb_fault_rate(&turn, bytes as usize, reps),
        1.0,
    ));

    eprintln!("[4/9] anonymous THP write faults over {size} ...");
    rows.push(rate_row(
        "THP anon 2 MiB write faults",
        "faults/s",
        reps,
        || model_thp_faults(bytes),
        host::thp_fault_rate(bytes as usize, reps),
        1.0,
    ));

    eprintln!("[5/9] fork of {size} touched, child writes it all ...");
    let model_ms = median((0..reps).map(|_| model_fork_cow(bytes)).collect());
    let host =
        host_or_note(host::fork_then_child_writes(bytes as usize, reps), "fork").map(|h| h.0.value);
    rows.push(Row {
        workload: "fork + child COW of all",
        unit: "ms",
        model: model_ms,
        host,
        ratio: host.map(|h| h / model_ms),
        target: "model time <= host",
        met: host.is_some_and(|h| model_ms <= h),
    });

    eprintln!("[6/9] mprotect RO/RW/store loop, {iters} iterations ...");
    rows.push(rate_row(
        "mprotect RO/RW loop",
        "iter/s",
        reps,
        || model_mprotect_loop(iters),
        host::mprotect_loop_rate(iters as usize, reps),
        5.0,
    ));

    eprintln!("[7/9] loads from resident pages (TLB hits), {loads} ...");
    let model_hits = median((0..reps).map(|_| model_tlb_hits(loads)).collect());
    let host =
        host_or_note(host::resident_access_rate(loads as usize, reps), "loads").map(|h| h.value);
    rows.push(Row {
        workload: "resident loads (TLB hit)",
        unit: "loads/s",
        model: model_hits,
        host,
        ratio: host.map(|h| model_hits / h),
        target: ">= 100M/s on one core",
        met: model_hits >= 100e6,
    });

    eprintln!("[8/9] host memory per resident page (content-free) ...");
    rows.push(Row {
        workload: "memory per resident page",
        unit: "bytes",
        model: per_page,
        host: None,
        ratio: None,
        target: "<= 64 bytes",
        met: per_page <= 64.0,
    });

    eprintln!("[9/9] userfaultfd round trips and range write-protection ...");
    rows.extend(uffd::rows(&turn, quick, reps));
    drop(turn);

    let all_met = rows.iter().all(|r| r.met);
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "size": size, "rows": rows }))
                .expect("rows serialise")
        );
    } else {
        println!(
            "{:<28} {:>9} {:>14} {:>14} {:>8}  {:<22} met",
            "workload", "unit", "model", "host", "ratio", "target"
        );
        for r in &rows {
            let host = r.host.map_or("-".into(), |h| format!("{h:.4e}"));
            let ratio = r.ratio.map_or("-".into(), |x| format!("{x:.2}"));
            println!(
                "{:<28} {:>9} {:>14.4e} {:>14} {:>8}  {:<22} {}",
                r.workload,
                r.unit,
                r.model,
                host,
                ratio,
                r.target,
                if r.met { "yes" } else { "NO" }
            );
        }
    }
    if all_met {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
