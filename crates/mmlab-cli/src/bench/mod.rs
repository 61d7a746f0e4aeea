//! `mmlab bench`: each workload on the model and natively on the host in the same run,
//! repeated, with the spread of each side, the ratio of the medians and the target the model
//! is held to, under a header naming the machine.

use mmlab_live::bench as host;
use mmlab_live::HostLock;

use crate::output::Out;

mod content;
mod damon;
mod gup;
mod machine;
mod memcg;
mod row;
mod swap;
mod swap_fs;
mod table;
mod uffd;

use std::process::ExitCode;
use std::time::Instant;

use mmlab::uapi::*;
use mmlab::{Config, ContentMode, Kernel, Profile, Tid};

use row::{Quantity, Row, Spread, Target};

const PAGE: u64 = 4096;

/// Runs per row on each side when `--runs` is not given: enough for a median and a spread,
/// few enough that `mmlab bench` takes about a minute (`--quick` a few seconds).
pub const DEFAULT_RUNS: usize = 5;

/// `mmlab bench`'s options.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Smaller sizes (64 MiB instead of 1 GiB), for a quick look.
    #[arg(long)]
    pub quick: bool,
    /// Print the table as JSON.
    #[arg(long)]
    pub json: bool,
    /// Measured runs per row on each side (the host's after one warm-up run).
    #[arg(
        long,
        default_value_t = DEFAULT_RUNS,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1000)
    )]
    pub runs: usize,
}

/// The model's figure over `runs` runs of `model`.
fn model_spread(runs: usize, mut model: impl FnMut() -> f64) -> Spread {
    Spread::of((0..runs).map(|_| model()).collect())
}

/// A content-free kernel big enough for `bytes` of user memory, with one process.
fn kernel(bytes: u64) -> (Kernel, Tid) {
    kernel_keeping(bytes, ContentMode::Tagged)
}

/// A kernel big enough for `bytes` of user memory, keeping contents as `content` says, with
/// one process.
fn kernel_keeping(bytes: u64, content: ContentMode) -> (Kernel, Tid) {
    let mut cfg = Config::new(Profile::Linux519);
    cfg.content = content;
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

/// fork with `bytes` touched, the child writes it all and exits: total seconds.
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
    start.elapsed().as_secs_f64()
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

/// A row of a rate: the model's runs against the host's figure (or the model alone, with a
/// note, when the host cannot measure it).
fn rate_row(
    workload: &'static str,
    unit: &'static str,
    runs: usize,
    model: impl FnMut() -> f64,
    host: Result<host::HostFigure, String>,
    target: Target,
) -> Row {
    let m = model_spread(runs, model);
    let h = host_or_note(host, workload).map(|h| Spread::of_host(&h, runs, 1.0));
    Row::new(workload, Quantity::Rate(unit), m, h, target)
}

/// Run the benchmarks with `args` and print the table; exit 1 if a target is missed.
pub fn run_with(args: &BenchArgs) -> ExitCode {
    let turn = match HostLock::acquire() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("mmlab bench: {e}");
            return ExitCode::from(2);
        }
    };
    let quick = args.quick;
    let runs = args.runs;
    let bytes: u64 = if quick { 64 << 20 } else { 1 << 30 };
    let iters = if quick { 20_000 } else { 200_000 };
    let loads = if quick { 20_000_000 } else { 200_000_000 };
    let size = format!("{} MiB", bytes >> 20);
    let mut rows = Vec::new();

    eprintln!("[1/13] anonymous 4 KiB write faults over {size} ...");
    let (rates, per_page): (Vec<f64>, Vec<f64>) =
        (0..runs).map(|_| model_anon_faults(bytes)).unzip();
    let host = host_or_note(host::anon_fault_rate(bytes as usize, runs), "anon faults");
    rows.push(Row::new(
        "anon 4 KiB write faults",
        Quantity::Rate("faults/s"),
        Spread::of(rates),
        host.map(|h| Spread::of_host(&h, runs, 1.0)),
        Target::Faster(3.0),
    ));

    eprintln!("[2/13] shmem (memfd) 4 KiB write faults over {size} ...");
    rows.push(rate_row(
        "shmem 4 KiB write faults",
        "faults/s",
        runs,
        || model_shmem_faults(bytes),
        host::shmem_fault_rate(bytes as usize, runs),
        Target::Faster(3.0),
    ));

    eprintln!("[3/13] hugetlb 2 MiB write faults over {size} ...");
    rows.push(rate_row(
        "hugetlb 2 MiB write faults",
        "faults/s",
        runs,
        || model_hugetlb_faults(bytes),
        host::hugetlb_fault_rate(&turn, bytes as usize, runs),
        Target::Faster(1.0),
    ));

    eprintln!("[4/13] anonymous THP write faults over {size} ...");
    rows.push(rate_row(
        "THP anon 2 MiB write faults",
        "faults/s",
        runs,
        || model_thp_faults(bytes),
        host::thp_fault_rate(bytes as usize, runs),
        Target::Faster(1.0),
    ));

    eprintln!("[5/13] fork of {size} touched, child writes it all ...");
    let model = model_spread(runs, || model_fork_cow(bytes));
    let host = host_or_note(host::fork_then_child_writes(bytes as usize, runs), "fork");
    rows.push(Row::new(
        "fork + child COW of all",
        Quantity::Seconds,
        model,
        host.map(|(total, _call)| Spread::of_host(&total, runs, 1e-3)),
        Target::NoSlower,
    ));

    eprintln!("[6/13] mprotect RO/RW/store loop, {iters} iterations ...");
    rows.push(rate_row(
        "mprotect RO/RW loop",
        "iter/s",
        runs,
        || model_mprotect_loop(iters),
        host::mprotect_loop_rate(iters as usize, runs),
        Target::Faster(5.0),
    ));

    eprintln!("[7/13] loads from resident pages (TLB hits), {loads} ...");
    rows.push(rate_row(
        "resident loads (TLB hit)",
        "loads/s",
        runs,
        || model_tlb_hits(loads),
        host::resident_access_rate(loads as usize, runs),
        Target::RateAtLeast(100e6),
    ));

    eprintln!("[8/13] host memory per resident page (content-free) ...");
    rows.push(Row::new(
        "memory per resident page",
        Quantity::Bytes,
        Spread::of(per_page),
        None,
        Target::AtMost(64.0),
    ));

    eprintln!("[9/13] userfaultfd round trips and range write-protection ...");
    rows.extend(uffd::rows(&turn, quick, runs));

    eprintln!("[10/13] GUP: bulk pins, vmsplice, unsharing R/O pins over {size} ...");
    rows.extend(gup::rows(bytes, runs));

    eprintln!("[11/13] MADV_PAGEOUT of {size} to zram, then touching it all back ...");
    rows.extend(swap::pageout_rows(&turn, bytes, runs));

    let limit = bytes / 2;
    eprintln!(
        "[12/13] reclaim by pressure: {size} of anon with memory {} MiB and zram swap ...",
        limit >> 20
    );
    rows.extend(swap::pressure_row(&turn, limit, runs));

    eprintln!(
        "[13/13] {size} out to a swap file over NFS (a host file) and back, 5.19 and 5.18 ..."
    );
    rows.extend(swap_fs::rows(&turn, bytes, runs));
    drop(turn);

    eprintln!("[+] DAMON: cost per aggregation by target size, replay rate, overhead ...");
    rows.extend(damon::rows(quick, runs));
    eprintln!("[+] memset of {size} with contents against content-free ...");
    rows.extend(content::rows(bytes, runs));
    eprintln!("[+] anonymous faults in a memcg three levels deep against outside, {size} ...");
    rows.push(memcg::row(bytes, runs));

    let all_met = rows.iter().all(|r| r.met);
    let machine = machine::Machine::this();
    let p = table::Parameters {
        quick,
        runs,
        workload_bytes: bytes,
    };
    let mut out = Out::new(0, false);
    if args.json {
        out.json(&table::json(&machine, &p, &rows));
    } else {
        for line in table::text(&machine, &p, &rows, &out).lines() {
            out.line(line);
        }
    }
    out.exit(if all_met { 0 } else { 1 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        bench: BenchArgs,
    }

    #[test]
    fn runs_default_to_a_few_and_must_be_at_least_one() {
        let a = Cli::parse_from(["bench", "--quick"]).bench;
        assert_eq!((a.quick, a.json, a.runs), (true, false, DEFAULT_RUNS));
        assert_eq!(Cli::parse_from(["bench", "--runs", "7"]).bench.runs, 7);
        assert!(Cli::try_parse_from(["bench", "--runs", "0"]).is_err());
        assert!(Cli::try_parse_from(["bench", "--runs", "x"]).is_err());
    }
}
