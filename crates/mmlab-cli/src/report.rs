//! `mmlab run` / `mmlab live`: run a suite on one backend and print a line per scenario, the
//! failures with file:line, and a summary.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use mmlab_scenario::diff::{is_known, Known};
use mmlab_scenario::suite::{self, Summary};
use mmlab_scenario::{Backend, Report, Status};

/// Run every scenario under `paths` on `backend`, one report each (inputs that cannot be read
/// or parsed become failed reports).
pub fn run_all<B: Backend>(paths: &[PathBuf], backend: &mut B) -> Vec<Report> {
    let (files, input_errors) = suite::collect(paths);
    let name = backend.name();
    let mut reports: Vec<Report> = input_errors
        .iter()
        .map(|e| suite::input_failure(&e.to_string(), e, name))
        .collect();
    for f in &files {
        reports.push(
            suite::run_file(f, backend)
                .unwrap_or_else(|e| suite::input_failure(&f.display().to_string(), &e, name)),
        );
    }
    reports
}

/// Run the suite on one backend and print it; exit 1 if anything failed. A scenario whose only
/// failures are listed in `known` (5.19 behaviour the host kernel changed) passes as KNOWN.
pub fn run_suite<B: Backend>(
    paths: &[PathBuf],
    json: bool,
    backend: &mut B,
    known: &[Known],
) -> ExitCode {
    let start = Instant::now();
    let name = backend.name();
    let mut reports = run_all(paths, backend);
    let mut with_known = 0;
    for r in &mut reports {
        if r.status == Status::Fail && r.failures.iter().all(|f| is_known(known, &r.path, f.line)) {
            r.status = Status::Pass;
            with_known += 1;
        }
    }
    let sum = Summary::of(&reports);
    if json {
        let out = serde_json::json!({ "backend": name, "reports": reports, "summary": sum });
        println!(
            "{}",
            serde_json::to_string_pretty(&out).expect("reports serialise")
        );
    } else {
        for r in &reports {
            print_report(r);
        }
        if reports.is_empty() {
            println!(
                "no .mml files found under {}",
                paths
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            );
        }
        print_skip_reasons(&reports);
        println!(
            "\n{} scenarios, {} expectations checked on the {name} in {:.2} s",
            reports.len(),
            sum.expectations,
            start.elapsed().as_secs_f64()
        );
        if with_known > 0 {
            println!("({with_known} of the passed fail only at known divergences)");
        }
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

/// Skipped scenarios grouped by reason.
pub fn print_skip_reasons(reports: &[Report]) {
    let mut reasons: Vec<(String, usize)> = Vec::new();
    for r in reports.iter().filter(|r| r.status == Status::Skip) {
        let reason = r.skip_reason.clone().unwrap_or_default();
        let key = reason
            .split(" at line")
            .next()
            .unwrap_or(&reason)
            .to_string();
        match reasons.iter_mut().find(|(k, _)| *k == key) {
            Some((_, n)) => *n += 1,
            None => reasons.push((key, 1)),
        }
    }
    if !reasons.is_empty() {
        println!("\nskipped, by reason:");
        for (k, n) in reasons {
            println!("  {n:>3}  {k}");
        }
    }
}

fn print_report(r: &Report) {
    let tag = match r.status {
        Status::Pass if !r.failures.is_empty() => "KNOWN",
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
    if let (Status::Skip, Some(reason)) = (r.status, &r.skip_reason) {
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
