//! `mmlab run`: run a suite on the model and print a line per scenario, the failures with
//! file:line, and a summary.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use mmlab_scenario::suite::{self, Summary};
use mmlab_scenario::{ModelBackend, Report, Status};

/// Run every scenario under `paths`; exit 1 if anything failed.
pub fn run_suite(paths: &[PathBuf], json: bool, check: bool) -> ExitCode {
    let start = Instant::now();
    let (files, input_errors) = suite::collect(paths);
    let mut backend = ModelBackend::default();
    backend.check_invariants = check;
    let mut reports: Vec<Report> = input_errors
        .iter()
        .map(|e| suite::input_failure(&e.to_string(), e, "model"))
        .collect();
    for f in &files {
        let r = suite::run_file(f, &mut backend)
            .unwrap_or_else(|e| suite::input_failure(&f.display().to_string(), &e, "model"));
        if !json {
            print_report(&r);
        }
        reports.push(r);
    }
    if !json {
        for e in &input_errors {
            println!("ERROR {e}");
        }
    }
    let sum = Summary::of(&reports);
    if json {
        let out = serde_json::json!({ "reports": reports, "summary": sum });
        println!(
            "{}",
            serde_json::to_string_pretty(&out).expect("reports serialise")
        );
    } else {
        if files.is_empty() && input_errors.is_empty() {
            println!(
                "no .mml files found under {}",
                paths
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            );
        }
        println!(
            "\n{} scenarios, {} expectations checked on the model in {:.2} s",
            reports.len(),
            sum.expectations,
            start.elapsed().as_secs_f64()
        );
        println!(
            "{} passed, {} failed, {} skipped",
            sum.passed, sum.failed, sum.skipped
        );
    }
    if sum.failed > 0 || reports.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn print_report(r: &Report) {
    let tag = match r.status {
        Status::Pass => "PASS",
        Status::Fail => "FAIL",
        Status::Skip => "SKIP",
    };
    println!(
        "{tag}  {:<52} {:>8.2} ms  {}",
        r.path,
        r.micros as f64 / 1000.0,
        r.title
    );
    if let Some(reason) = &r.skip_reason {
        println!("      skipped: {reason}");
    }
    for f in &r.failures {
        println!("      {}:{}: expected {}", r.path, f.line, f.expected);
        println!(
            "      {:>w$}  observed {}",
            "",
            f.observed,
            w = r.path.len() + f.line.to_string().len() + 1
        );
    }
}
