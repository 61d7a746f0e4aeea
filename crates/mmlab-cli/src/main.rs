//! The `mmlab` command: run scenarios on the model, benchmark the model against the host.

mod bench;
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
    /// Run scenario files or folders of them on the model.
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Run {
            paths,
            json,
            no_check,
        } => report::run_suite(&paths, json, !no_check),
        Cmd::Bench { quick, json } => bench::run(quick, json),
    }
}
