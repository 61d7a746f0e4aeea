//! `mmlab damon`: run a masim workload (or an access trace) in the model with a DAMON context
//! on its process, and write what people tuning DAMON look at: the `damon:damon_aggregated`
//! records as `perf script` prints them (what `damo report raw|heatmap|wss --input` reads), a
//! heat map and a working-set-size curve (PNG and SVG, crate::damon_plot), the scheme's stats per
//! aggregation, and what
//! the kernel cannot give: the monitoring's error against the accesses the model made.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use mmlab::mm::damon::core::AggrRecord;
use mmlab::mm::damon::{Attrs, CtxId, Damos, DamosAction, OpsId, Target};
use mmlab::workload::{masim, Masim};
use mmlab::{Config, ContentMode, Kernel, Profile};

/// Arguments of `mmlab damon`.
#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct DamonArgs {
    #[command(subcommand)]
    tool: Option<Tool>,
    /// A masim configuration file (masim's own format, e.g. configs/stairs.cfg).
    #[arg(long, value_name = "FILE", required = true)]
    masim: Option<PathBuf>,
    /// Where to write damon.perf.txt, heatmap.{png,svg}, wss.{png,svg}, stats.csv and
    /// accuracy.csv.
    #[arg(long, value_name = "DIR", default_value = "damon-out")]
    out: PathBuf,
    /// Accesses per ms of virtual time.
    #[arg(long, default_value_t = 100_000)]
    rate: u64,
    /// Scale every phase's duration by this factor (e.g. 0.1 for a quick look).
    #[arg(long, default_value_t = 1.0)]
    time_scale: f64,
    #[arg(long, default_value_t = 5_000)]
    sample_us: u64,
    #[arg(long, default_value_t = 100_000)]
    aggr_us: u64,
    #[arg(long, default_value_t = 10)]
    min_nr_regions: u64,
    #[arg(long, default_value_t = 1000)]
    max_nr_regions: u64,
    /// A scheme as `MIN_SZ MAX_SZ MIN_NR MAX_NR MIN_AGE MAX_AGE ACTION` (raw DAMOS units:
    /// bytes, samples per aggregation, aggregations), e.g. "4096 max 0 0 10 max pageout".
    #[arg(long)]
    scheme: Option<String>,
}

/// The model's sysfs for the real tools (crate::damon_serve).
#[derive(clap::Subcommand)]
enum Tool {
    /// Serve the model's /sys (DAMON's admin tree, DAMON_RECLAIM's parameters) as a FUSE file
    /// system at MOUNTPOINT, the model's clock running meanwhile.
    Serve(crate::damon_serve::ServeArgs),
    /// Run CMD in a private mount namespace where /sys/kernel/mm/damon (and DAMON_RECLAIM's
    /// parameters) are the model's, e.g. the kernel's selftest sysfs.sh or damo.
    RunTool(crate::damon_serve::RunToolArgs),
}

/// One field of a scheme string: a number or `max`.
fn num(s: &str, max: u64) -> Result<u64, String> {
    if s == "max" {
        return Ok(max);
    }
    s.parse().map_err(|_| format!("not a number: {s}"))
}

/// Parse `--scheme`.
fn scheme(s: &str) -> Result<Damos, String> {
    let f: Vec<&str> = s.split_whitespace().collect();
    if f.len() != 7 {
        return Err(
            "a scheme has 7 fields: MIN_SZ MAX_SZ MIN_NR MAX_NR MIN_AGE MAX_AGE ACTION".into(),
        );
    }
    let action = DamosAction::from_name(f[6]).ok_or_else(|| format!("unknown action {}", f[6]))?;
    let mut d = Damos::new(action);
    d.min_sz_region = num(f[0], u64::MAX)?;
    d.max_sz_region = num(f[1], u64::MAX)?;
    let m32 = u32::MAX as u64;
    d.min_nr_accesses = num(f[2], m32)?.min(m32) as u32;
    d.max_nr_accesses = num(f[3], m32)?.min(m32) as u32;
    d.min_age_region = num(f[4], m32)?.min(m32) as u32;
    d.max_age_region = num(f[5], m32)?.min(m32) as u32;
    Ok(d)
}

/// One aggregation: its records, the true working set (pages the workload touched in the
/// interval) and the scheme's stats then.
pub(crate) struct Snapshot {
    pub(crate) time_ns: u64,
    pub(crate) records: Vec<AggrRecord>,
    true_pages: HashSet<u64>,
    stat: Option<mmlab::mm::damon::DamosStat>,
}

impl Snapshot {
    /// DAMON's working set: the bytes of regions seen accessed (damo's wss).
    pub(crate) fn wss(&self) -> u64 {
        self.records
            .iter()
            .filter(|r| r.nr_accesses > 0)
            .map(|r| r.end - r.start)
            .sum()
    }

    /// The true working set: the bytes of the pages the workload touched.
    pub(crate) fn true_wss(&self) -> u64 {
        self.true_pages.len() as u64 * 4096
    }

    /// Of the truly accessed pages, the fraction DAMON's hot regions cover.
    fn recall(&self) -> f64 {
        if self.true_pages.is_empty() {
            return 1.0;
        }
        let hot: Vec<&AggrRecord> = self.records.iter().filter(|r| r.nr_accesses > 0).collect();
        let covered = self
            .true_pages
            .iter()
            .filter(|&&p| hot.iter().any(|r| (r.start..r.end).contains(&p)))
            .count();
        covered as f64 / self.true_pages.len() as f64
    }
}

fn setup(args: &DamonArgs) -> Result<(Kernel, Masim, CtxId), String> {
    let path = args.masim.as_ref().ok_or("--masim FILE is required")?;
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut cfg = masim::parse(&text)?;
    for p in &mut cfg.phases {
        p.time_ms = ((p.time_ms as f64) * args.time_scale).max(1.0) as u64;
    }
    let total: u64 = cfg.regions.iter().map(|r| r.size).sum();
    let mut kc = Config::new(Profile::Linux519);
    kc.content = ContentMode::Tagged;
    kc.memory_bytes = (total * 2 + (256 << 20)).next_power_of_two();
    let mut k = Kernel::new(kc);
    if let Some(s) = &args.scheme {
        if scheme(s)?.action == DamosAction::Pageout {
            k.create_zram("zram0", total + (64 << 20))
                .map_err(|e| format!("zram: {e:?}"))?;
        }
    }
    let m = Masim::setup(&mut k, cfg, args.rate, 1)?;
    if args.scheme.is_some() {
        let _ = k.swapon(m.tid, "zram0", 0);
    }
    k.lru_add_drain_all();
    let c = k.damon_new_ctx();
    k.damon_select_ops(c, OpsId::Vaddr)
        .map_err(|e| format!("{e:?}"))?;
    let attrs = Attrs {
        sample_interval: args.sample_us,
        aggr_interval: args.aggr_us,
        min_nr_regions: args.min_nr_regions,
        max_nr_regions: args.max_nr_regions,
        ..Attrs::default()
    };
    k.damon_set_attrs(c, attrs)
        .map_err(|e| format!("attrs: {e:?}"))?;
    let pid = k
        .task_tgid_nr(m.tid)
        .and_then(|n| k.find_vpid(n))
        .ok_or("no pid")?;
    let ctx = k.damon_ctx_mut(c).ok_or("no ctx")?;
    ctx.targets.push(Target {
        pid: Some(pid),
        regions: Vec::new(),
    });
    ctx.records = Some(Vec::new());
    if let Some(s) = &args.scheme {
        ctx.schemes.push(scheme(s)?);
    }
    k.damon_start(&[c], false)
        .map_err(|e| format!("start: {e:?}"))?;
    Ok((k, m, c))
}

/// Run and collect a snapshot per aggregation.
fn run(args: &DamonArgs) -> Result<Vec<Snapshot>, String> {
    let (mut k, mut m, c) = setup(args)?;
    let total_ms: u64 = m.cfg.phases.iter().map(|p| p.time_ms).sum();
    let bar = indicatif::ProgressBar::new(total_ms);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} ms of virtual time ({eta})")
            .map_err(|e| e.to_string())?,
    );
    let mut snaps: Vec<Snapshot> = Vec::new();
    let mut pages: HashSet<u64> = HashSet::new();
    for pi in 0..m.cfg.phases.len() {
        let ms = m.cfg.phases[pi].time_ms;
        let mut err = None;
        m.run_phase(&mut k, pi, ms, 1, |k, step| {
            pages.extend(step.pages.iter().copied());
            let Some(ctx) = k.damon_ctx(c) else { return };
            let recs = ctx.records.as_ref().map_or(0, Vec::len);
            let done: usize = snaps.iter().map(|s| s.records.len()).sum();
            if recs > done {
                let new = ctx.records.as_ref().expect("recording")[done..].to_vec();
                snaps.push(Snapshot {
                    time_ns: new[0].time_ns,
                    records: new,
                    true_pages: std::mem::take(&mut pages),
                    stat: ctx.schemes.first().map(|s| s.stat),
                });
            }
            bar.inc(1);
            if !k.damon_is_running(c) {
                err = Some("the kdamond stopped".to_string());
            }
        })
        .map_err(|e| format!("workload: {e:?}"))?;
        if let Some(e) = err {
            return Err(e);
        }
    }
    bar.finish_and_clear();
    Ok(snaps)
}

/// `perf script` lines of damon:damon_aggregated, as damo parses them.
fn perf_script(snaps: &[Snapshot]) -> String {
    let mut s = String::new();
    for snap in snaps {
        let (sec, usec) = (
            snap.time_ns / 1_000_000_000,
            snap.time_ns / 1000 % 1_000_000,
        );
        for r in &snap.records {
            let _ = writeln!(
                s,
                "masim 1 [000] {sec}.{usec:06}: damon:damon_aggregated: target_id={} nr_regions={} {}-{}: {} {}",
                r.target_id, r.nr_regions, r.start, r.end, r.nr_accesses, r.age
            );
        }
    }
    s
}

/// `mmlab damon`.
pub fn main(mut args: DamonArgs) -> ExitCode {
    match args.tool.take() {
        Some(Tool::Serve(a)) => return crate::damon_serve::main_serve(a),
        Some(Tool::RunTool(a)) => return crate::damon_serve::main_run_tool(a),
        None => {}
    }
    let snaps = match run(&args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("mmlab damon: {e}");
            return ExitCode::from(2);
        }
    };
    let max_nr = (args.aggr_us / args.sample_us.max(1)) as u32;
    let mut stats = String::from("time_ns,nr_tried,sz_tried,nr_applied,sz_applied,qt_exceeds\n");
    let mut acc = String::from("time_ns,damon_wss,true_wss,wss_error,hot_recall\n");
    for s in &snaps {
        if let Some(st) = s.stat {
            let _ = writeln!(
                stats,
                "{},{},{},{},{},{}",
                s.time_ns, st.nr_tried, st.sz_tried, st.nr_applied, st.sz_applied, st.qt_exceeds
            );
        }
        let t = s.true_wss();
        let err = (s.wss() as f64 - t as f64) / (t.max(1) as f64);
        let _ = writeln!(
            acc,
            "{},{},{t},{err:.4},{:.4}",
            s.time_ns,
            s.wss(),
            s.recall()
        );
    }
    let files = [
        ("damon.perf.txt", perf_script(&snaps)),
        ("stats.csv", stats),
        ("accuracy.csv", acc),
    ];
    if let Err(e) = std::fs::create_dir_all(&args.out) {
        eprintln!("mmlab damon: {}: {e}", args.out.display());
        return ExitCode::from(2);
    }
    for (name, body) in files {
        let p = args.out.join(name);
        if let Err(e) = std::fs::write(&p, body) {
            eprintln!("mmlab damon: {}: {e}", p.display());
            return ExitCode::from(2);
        }
    }
    if let Err(e) = crate::damon_plot::write_all(&args.out, &snaps, max_nr) {
        eprintln!("mmlab damon: drawing: {e}");
        return ExitCode::from(2);
    }
    let recall: f64 = snaps.iter().map(Snapshot::recall).sum::<f64>() / snaps.len().max(1) as f64;
    println!(
        "{} aggregations; mean hot-set recall {:.3}; output in {}",
        snaps.len(),
        recall,
        args.out.display()
    );
    ExitCode::SUCCESS
}
