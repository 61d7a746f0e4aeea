//! The `mmlab` command: run scenarios on the model and on the host kernel, compare the two,
//! benchmark the model against the host.

mod bench;
mod diff;
mod report;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

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

#[derive(Subcommand)]
enum Cmd {
    /// Run scenario files or folders of them on the model (or, with --both, on the model and
    /// the host kernel, comparing every expectation).
    Run {
        /// `.mml` files or folders (searched recursively).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Print the reports as JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Skip the invariant checker after each step (faster, for large scenarios).
        #[arg(long)]
        no_check: bool,
        /// Also run on the host kernel and report where the two disagree.
        #[arg(long)]
        both: bool,
        /// With --both: the known-divergences file (default: known-divergences.txt in each folder given).
        #[arg(long)]
        known: Option<PathBuf>,
        /// With --both: show every expectation's model and host value, not only disagreements.
        #[arg(long, short)]
        verbose: bool,
    },
    /// Run scenarios on the host kernel (real processes, real syscalls; needs root).
    Live {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[arg(long)]
        json: bool,
        /// The known-divergences file (default: known-divergences.txt in each folder given).
        #[arg(long)]
        known: Option<PathBuf>,
    },
    /// Measure the model against the host kernel on the same workloads, side by side.
    Bench {
        /// Smaller sizes (64 MiB instead of 1 GiB), for a quick look.
        #[arg(long)]
        quick: bool,
        /// Print the table as JSON.
        #[arg(long)]
        json: bool,
    },
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
            paths,
            json,
            no_check,
            both: false,
            ..
        } => {
            let mut model = mmlab_scenario::ModelBackend::default();
            model.check_invariants = !no_check;
            report::run_suite(&paths, json, &mut model, &[])
        }
        Cmd::Run {
            paths,
            json,
            no_check,
            both: true,
            known,
            verbose,
        } => {
            let mut model = mmlab_scenario::ModelBackend::default();
            model.check_invariants = !no_check;
            diff::run_both(
                &paths,
                known.as_deref(),
                json,
                verbose,
                &mut model,
                &mut host_backend(),
            )
        }
        Cmd::Live { paths, json, known } => match diff::known_for(&paths, known.as_deref()) {
            Ok(k) => report::run_suite(&paths, json, &mut host_backend(), &k),
            Err(code) => code,
        },
        Cmd::Bench { quick, json } => bench::run(quick, json),
        Cmd::Fuzz(args) => mmlab_fuzz::cli::main(args, host_backend),
        Cmd::Agent { fd } => mmlab_live::agent::main(fd),
    }
}
