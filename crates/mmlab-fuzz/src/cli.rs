//! `mmlab fuzz` and `mmlab fuzz merge`: arguments, progress on a terminal, the report.

use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;
use std::time::Duration;

use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use mmlab_scenario::Backend;

use crate::campaign::{case_text, run_campaign, write_case, Found, Plan, Progress, Results};
use crate::gen::GenConfig;
use crate::judge::Kind;
use crate::shrink::Budget;

/// `K/N`: shard K (1-based) of N.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub k: u64,
    pub n: u64,
}

impl FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}`: expected K/N with 1 <= K <= N, e.g. 3/8");
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let (k, n): (u64, u64) = (k.parse().map_err(|_| bad())?, n.parse().map_err(|_| bad())?);
        if k == 0 || k > n {
            return Err(bad());
        }
        Ok(Shard { k, n })
    }
}

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct FuzzArgs {
    #[command(subcommand)]
    pub cmd: Option<FuzzCmd>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Subcommand, Debug)]
pub enum FuzzCmd {
    /// Combine the JSON results of a campaign's shards into one.
    Merge {
        /// Results files written by `mmlab fuzz --json`.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print the merged results as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// The campaign's seed: case i is generated from seed + i.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Cases in the whole campaign (all shards together); 100 if neither this nor --budget.
    #[arg(long)]
    pub cases: Option<u64>,
    /// Run until this much time has passed, e.g. 30m or 8h (a nightly campaign).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub budget: Option<Duration>,
    /// Run only shard K of N: the cases whose index is K-1 modulo N.
    #[arg(long, default_value = "1/1")]
    pub shard: Shard,
    /// Also run every case on the host kernel and compare as `run --both` does (needs root).
    #[arg(long)]
    pub both: bool,
    /// Print the results as JSON (the input of `mmlab fuzz merge`).
    #[arg(long)]
    pub json: bool,
    /// Where shrunk failing cases are written.
    #[arg(long, default_value = "fuzz-findings")]
    pub out: PathBuf,
    /// Report failing cases as generated, without shrinking them.
    #[arg(long)]
    pub no_shrink: bool,
    /// The most steps a case takes.
    #[arg(long, default_value_t = 60)]
    pub steps: usize,
    /// Only print the generated cases (nothing is judged).
    #[arg(long)]
    pub print: bool,
}

/// A progress bar on stderr (drawn only on a terminal); findings printed as they come.
struct Bar {
    bar: ProgressBar,
    json: bool,
    out: PathBuf,
}

impl Progress for Bar {
    fn case_done(&mut self, done: u64, findings: usize) {
        self.bar.set_position(done);
        self.bar
            .set_message(format!("{findings} distinct findings"));
    }

    fn found(&mut self, f: &Found) {
        let written = write_case(&self.out, f);
        if self.json {
            return;
        }
        self.bar.suspend(|| {
            print_found(f);
            match written {
                Ok(p) => println!("    written to {}", p.display()),
                Err(e) => println!("    could not write it to {}: {e}", self.out.display()),
            }
        });
    }
}

fn print_found(f: &Found) {
    println!(
        "FOUND {} (case seed {}, {} lines shrunk to {}): {}",
        f.finding.kind.name(),
        f.seed,
        f.lines,
        f.minimised_lines,
        f.finding.signature
    );
    println!("    {}", f.finding.detail);
    if let Some((k, n)) = f.reproduced {
        println!("    diverged again in {k} of {n} fresh host runs");
    }
    for l in f.case.lines() {
        println!("    | {l}");
    }
}

fn summary(r: &Results) -> String {
    let kinds: Vec<String> = Kind::ALL
        .iter()
        .map(|k| format!("{} {}", k.name(), r.failed.get(k).copied().unwrap_or(0)))
        .collect();
    let skipped: u64 = r.host_skipped.values().sum();
    format!(
        "{} cases in {:.1} s (seed {}, shard {}, {}): {} failed ({}), {} distinct findings{}",
        r.cases,
        r.seconds,
        r.seed,
        r.shard,
        if r.both {
            "model and host"
        } else {
            "model only"
        },
        r.failed.values().sum::<u64>(),
        kinds.join(", "),
        r.findings.len(),
        if r.both {
            format!("; the host skipped {skipped}")
        } else {
            String::new()
        }
    )
}

fn print_results(r: &Results, json: bool) -> ExitCode {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(r).expect("results serialise")
        );
    } else {
        for (why, n) in &r.host_skipped {
            println!("host skipped {n}: {why}");
        }
        println!("{}", summary(r));
    }
    if r.findings.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn merge(files: &[PathBuf], json: bool) -> ExitCode {
    let mut parts = vec![];
    for f in files {
        let text = match std::fs::read_to_string(f) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("{}: {e}", f.display());
                return ExitCode::from(2);
            }
        };
        match serde_json::from_str::<Results>(&text) {
            Ok(r) => parts.push(r),
            Err(e) => {
                eprintln!(
                    "{}:{}:{}: not mmlab fuzz results: {e}",
                    f.display(),
                    e.line(),
                    e.column()
                );
                return ExitCode::from(2);
            }
        }
    }
    match Results::merge(&parts) {
        Ok(m) => {
            if !json {
                for f in &m.findings {
                    print_found(f);
                    println!("    {} occurrences", f.occurrences);
                }
            }
            print_results(&m, json)
        }
        Err(e) => {
            eprintln!("cannot merge: {e}");
            ExitCode::from(2)
        }
    }
}

/// `mmlab fuzz ...`; `host` makes host backends when `--both` asks for them.
pub fn main<H: Backend>(args: FuzzArgs, host: impl Fn() -> H) -> ExitCode {
    if let Some(FuzzCmd::Merge { files, json }) = args.cmd {
        return merge(&files, json);
    }
    let a = args.run;
    let gen = GenConfig {
        host: a.both,
        steps: a.steps.max(8),
    };
    let cases = match (a.cases, a.budget) {
        (None, None) => Some(100),
        (c, _) => c,
    };
    if a.print {
        let (k, n) = (a.shard.k, a.shard.n);
        let mut i = k - 1;
        while i < cases.unwrap_or(100) {
            print!(
                "# case {i} of seed {}\n{}\n",
                a.seed,
                case_text(a.seed.wrapping_add(i), &gen)
            );
            i += n;
        }
        return ExitCode::SUCCESS;
    }
    let plan = Plan {
        seed: a.seed,
        cases,
        budget: a.budget,
        shard: (a.shard.k, a.shard.n),
        gen,
        shrink: !a.no_shrink,
        shrink_budget: Budget {
            tries: if a.both { 300 } else { 3000 },
            time: Duration::from_secs(if a.both { 240 } else { 60 }),
            keep_settings: a.both,
        },
    };
    let bar = match cases {
        Some(c) => ProgressBar::new(c.div_ceil(a.shard.n)),
        None => ProgressBar::new_spinner(),
    };
    bar.set_style(
        ProgressStyle::with_template("{spinner} fuzz [{elapsed_precise}] {pos}/{len} cases, {msg}")
            .expect("a valid template"),
    );
    let mut progress = Bar {
        bar,
        json: a.json,
        out: a.out,
    };
    let results = if a.both {
        // Wait for the host lock now rather than inside the first case's deadline; the
        // process keeps it from then on.
        if let Err(e) = mmlab_live::HostLock::acquire() {
            eprintln!("mmlab fuzz: {e}");
            return ExitCode::from(2);
        }
        run_campaign(&plan, Some(&host), &mut progress)
    } else {
        run_campaign::<H>(&plan, None, &mut progress)
    };
    progress.bar.finish_and_clear();
    print_results(&results, a.json)
}
