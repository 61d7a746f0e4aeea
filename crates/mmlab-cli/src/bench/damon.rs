//! The DAMON rows of `mmlab bench` (issue 15): the cost of one aggregation interval
//! (sampling and aggregation) for a 64 GiB target against a 1 GiB one with the same region
//! bounds, a masim workload's accesses per second with monitoring on, and the monitoring
//! overhead as DAMON's evaluation reports it (time with monitoring / time without, minus one).
//! All model-only: the host's DAMON belongs to the machine.

use std::time::Instant;

use mmlab::mm::damon::core::set_regions;
use mmlab::mm::damon::{OpsId, Target};
use mmlab::uapi::*;
use mmlab::workload::{masim, Masim};
use mmlab::{Config, ContentMode, Kernel, Profile};

use super::model_spread;
use super::row::{Quantity, Row, Spread, Target as Goal};

const MS: u64 = 1_000_000;

fn kernel() -> Kernel {
    let mut cfg = Config::new(Profile::Linux519);
    cfg.content = ContentMode::Tagged;
    cfg.memory_bytes = 1 << 30;
    Kernel::new(cfg)
}

/// Wall seconds per aggregation interval of an fvaddr context over `bytes` of a mapping
/// with one page touched every `stride` bytes (the kdamond alone runs).
fn aggregation_cost(bytes: u64, stride: u64, aggregations: u64) -> f64 {
    let mut k = kernel();
    let t = k.spawn_process(0).expect("process");
    let p = k
        .mmap(
            t,
            0,
            bytes,
            PROT_READ | PROT_WRITE,
            MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
            -1,
            0,
        )
        .expect("mmap");
    let mut a = p;
    while a < p + bytes {
        k.store(t, a, 1).expect("touch");
        a += stride;
    }
    k.lru_add_drain_all();
    let c = k.damon_new_ctx();
    k.damon_select_ops(c, OpsId::Fvaddr).expect("fvaddr");
    let pid = k.find_vpid(k.task_tgid_nr(t).expect("pid")).expect("pid");
    let ctx = k.damon_ctx_mut(c).expect("ctx");
    ctx.targets.push(Target {
        pid: Some(pid),
        regions: Vec::new(),
    });
    set_regions(&mut ctx.targets[0].regions, &[(p, p + bytes)], 4096);
    k.damon_start(&[c], false).expect("start");
    // Let the regions settle, then time.
    k.advance_time(2_000 * MS);
    let start = Instant::now();
    k.advance_time(aggregations * 100 * MS);
    start.elapsed().as_secs_f64() / aggregations as f64
}

/// The stairs configuration of masim, as shipped (ten 10 MB regions), shortened phases.
fn stairs(phase_ms: u64) -> String {
    let mut s = String::from("# regions\n");
    for i in 0..10 {
        s += &format!("s{i}, 10000000\n");
    }
    for i in 0..10 {
        s += &format!("\nphase {i}\n{phase_ms}\ns{i}, 0, 4096, 50\n");
    }
    s
}

/// Run the stairs workload (accesses per ms: `rate`) with or without a vaddr kdamond;
/// (logical accesses per wall second, wall seconds).
fn stairs_run(phase_ms: u64, rate: u64, monitor: bool) -> (f64, f64) {
    let mut k = kernel();
    let cfg = masim::parse(&stairs(phase_ms)).expect("stairs parses");
    let mut m = Masim::setup(&mut k, cfg, rate, 1).expect("masim");
    if monitor {
        let c = k.damon_new_ctx();
        let pid = k
            .find_vpid(k.task_tgid_nr(m.tid).expect("pid"))
            .expect("pid");
        k.damon_ctx_mut(c).expect("ctx").targets.push(Target {
            pid: Some(pid),
            regions: Vec::new(),
        });
        k.damon_start(&[c], false).expect("start");
    }
    let start = Instant::now();
    for pi in 0..m.cfg.phases.len() {
        m.run_phase(&mut k, pi, phase_ms, 1, |_, _| {})
            .expect("runs");
    }
    let secs = start.elapsed().as_secs_f64();
    (m.accesses as f64 / secs, secs)
}

/// The rows.
pub fn rows(quick: bool, runs: usize) -> Vec<Row> {
    let aggrs = if quick { 200 } else { 1000 };
    // The same 64 pages populated in both targets: only the target's size differs.
    let ratio = model_spread(runs, || {
        let small = aggregation_cost(1 << 30, (1 << 30) / 64, aggrs);
        let big = aggregation_cost(64 << 30, (64 << 30) / 64, aggrs);
        big / small
    });
    // A page per 16 MiB in both: the larger target has 64 times the page tables and struct
    // pages a sample may read, which the host's caches feel (as the kernel's would).
    let dense = model_spread(runs, || {
        let small = aggregation_cost(1 << 30, 16 << 20, aggrs);
        let big = aggregation_cost(64 << 30, 16 << 20, aggrs);
        big / small
    });
    let phase_ms = if quick { 100 } else { 500 };
    let rate = 100_000;
    let mut with = Vec::new();
    let mut overhead = Vec::new();
    for _ in 0..runs {
        let (r, on) = stairs_run(phase_ms, rate, true);
        let (_, off) = stairs_run(phase_ms, rate, false);
        with.push(r);
        overhead.push(on / off - 1.0);
    }
    vec![
        Row::new(
            "DAMON aggregation cost, 64 GiB / 1 GiB target (64 pages populated in each)",
            Quantity::Ratio,
            ratio,
            None,
            Goal::RatioAtMost(1.2),
        ),
        Row::new(
            "DAMON aggregation cost, 64 GiB / 1 GiB target (a page per 16 MiB: 64x page tables)",
            Quantity::Ratio,
            dense,
            None,
            Goal::Report,
        ),
        Row::new(
            "masim stairs replay, vaddr monitoring on",
            Quantity::Rate("accesses/s"),
            Spread::of(with),
            None,
            Goal::RateAtLeast(100e6),
        ),
        Row::new(
            "DAMON monitoring overhead (time on / off - 1)",
            Quantity::Ratio,
            Spread::of(overhead),
            None,
            Goal::Report,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_damon_rows_measure_and_judge_what_they_name() {
        // Speed is judged by `mmlab bench`, never here: this checks the rows are made and
        // that each row's verdict is its goal applied to what it measured.
        let r = rows(true, 1);
        assert_eq!(r.len(), 4);
        let ratio = r[0].model.median;
        assert!(ratio.is_finite() && ratio > 0.0, "{ratio}");
        assert_eq!(r[0].met, ratio <= 1.2);
        let dense = r[1].model.median;
        assert!(dense.is_finite() && dense > 0.0, "{dense}");
        let rate = r[2].model.median;
        assert!(rate.is_finite() && rate > 0.0, "accesses/s {rate}");
        assert_eq!(r[2].met, rate >= 100e6);
    }
}
