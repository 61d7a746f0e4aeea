//! The `mmlab` command: run scenarios on the model and on the host kernel, compare the two,
//! benchmark the model against the host.

mod bench;
mod damon;
mod damon_plot;
mod damon_serve;
mod diff;
mod output;
mod report;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use mmlab_scenario::Limits;

#[derive(Parser)]
#[command(
    name = "mmlab",
    version,
    about = "An executable model of Linux memory management (the May 2022 mm series, 5.19)"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

/// Flags `run` and `live` share: what to run and how much it may use.
#[derive(clap::Args)]
struct RunFlags {
    /// `.mml` files or folders (searched recursively).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Print one JSON document (docs/json-schema.md) instead of text.
    #[arg(long)]
    json: bool,
    /// Only the scenarios whose path or title contains TEXT.
    #[arg(long, value_name = "TEXT")]
    filter: Option<String>,
    /// The most steps one scenario may run (each step and each pass of a `repeat` counts one);
    /// a scenario over it is refused before it runs.
    #[arg(long, value_name = "N", default_value_t = Limits::DEFAULT_STEPS)]
    max_steps: u64,
    /// How much this process may grow while one scenario runs (e.g. 512M, 4G).
    #[arg(long, value_name = "SIZE", default_value = "2G", value_parser = parse_size)]
    max_memory: u64,
    /// The known-divergences file (default: known-divergences.txt in each scenario's folder
    /// and every folder above it).
    #[arg(long)]
    known: Option<PathBuf>,
}

impl RunFlags {
    fn options(self, verbose: bool, trace: Option<PathBuf>) -> (Vec<PathBuf>, report::Options) {
        let opts = report::Options {
            json: self.json,
            filter: self.filter,
            limits: Limits {
                max_steps: self.max_steps,
                max_memory: self.max_memory,
            },
            verbose,
            known: self.known,
            trace,
        };
        (self.paths, opts)
    }
}

/// A size with an optional K/M/G suffix, as in scenarios.
fn parse_size(text: &str) -> Result<u64, String> {
    mmlab_scenario::parse::parse_number(text)
        .ok_or_else(|| format!("`{text}` is not a size (bytes, or with K, M or G: 512M)"))
}

#[derive(Subcommand)]
enum Cmd {
    /// Run scenario files or folders of them on the model (or, with --both, on the model and
    /// the host kernel, comparing every expectation).
    Run {
        #[command(flatten)]
        flags: RunFlags,
        /// Skip the invariant checker after each step (faster, for large scenarios).
        #[arg(long)]
        no_check: bool,
        /// Also run on the host kernel and report where the two disagree.
        #[arg(long)]
        both: bool,
        /// With --both: show every expectation's model and host value, not only disagreements.
        #[arg(long, short)]
        verbose: bool,
        /// Write the model's trace to FILE: each statement run with the kernel events it
        /// caused (faults, folio allocations and frees, rmap changes, TLB flushes, khugepaged,
        /// userfaultfd messages, kernel-thread runs, swap_rw requests) under it; JSON with --json.
        #[arg(long, value_name = "FILE")]
        trace: Option<PathBuf>,
    },
    /// Run scenarios on the host kernel (real processes, real syscalls; needs root).
    Live {
        #[command(flatten)]
        flags: RunFlags,
    },
    /// Measure the model against the host kernel on the same workloads, side by side.
    Bench(bench::BenchArgs),
    /// Run a masim workload in the model under DAMON: damo-compatible records, heat map, WSS,
    /// scheme stats and the monitoring's accuracy.
    Damon(damon::DamonArgs),
    /// Random scenarios on the model (and with --both on the host), failures shrunk.
    Fuzz(mmlab_fuzz::cli::FuzzArgs),
    /// A scenario process of the live backend (started by mmlab itself).
    #[command(name = "__agent", hide = true)]
    Agent { fd: i32 },
}

/// How the live backend starts its agents: this same executable, `__agent FD`.
fn host_backend() -> mmlab_live::HostBackend {
    let program = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("mmlab"));
    mmlab_live::HostBackend::new(mmlab_live::AgentCommand {
        program,
        args: vec!["__agent".into()],
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Run {
            flags,
            no_check,
            both,
            verbose,
            trace,
        } => {
            let mut model = mmlab_scenario::ModelBackend::default();
            model.check_invariants = !no_check;
            model.trace = trace.is_some();
            let (paths, opts) = flags.options(verbose, trace);
            if both {
                diff::run_both(&paths, &opts, &mut model, &mut host_backend())
            } else {
                report::run_suite("run", &paths, &opts, &mut model, false)
            }
        }
        Cmd::Live { flags } => {
            let (paths, opts) = flags.options(false, None);
            report::run_suite("live", &paths, &opts, &mut host_backend(), true)
        }
        Cmd::Bench(args) => bench::run_with(&args),
        Cmd::Damon(args) => damon::main(args),
        Cmd::Fuzz(args) => mmlab_fuzz::cli::main(args, host_backend),
        Cmd::Agent { fd } => mmlab_live::agent::main(fd),
    }
}
