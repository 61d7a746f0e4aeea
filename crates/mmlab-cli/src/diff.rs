//! `mmlab run --both`: every scenario on the model and on the host kernel; each expectation's
//! two values side by side; disagreements fail unless the known-divergences file explains them
//! (the comparison itself is `mmlab_scenario::diff`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use mmlab_scenario::diff::{compare, load_known, Known, Verdict};
use mmlab_scenario::{Backend, Status};

use crate::report::{print_skip_reasons, run_all};

fn show(v: &Option<String>, ok: Option<bool>) -> String {
    match (v, ok) {
        (Some(s), Some(true)) => format!("{s} (holds)"),
        (Some(s), _) => format!("{s} (FAILS)"),
        (None, _) => "not reached".into(),
    }
}

/// The known divergences: `known_file`, or known-divergences.txt in each folder given.
pub fn known_for(paths: &[PathBuf], known_file: Option<&Path>) -> Result<Vec<Known>, ExitCode> {
    let known_files: Vec<PathBuf> = match known_file {
        Some(f) => vec![f.to_path_buf()],
        None => paths
            .iter()
            .filter(|p| p.is_dir())
            .map(|p| p.join("known-divergences.txt"))
            .filter(|f| f.is_file())
            .collect(),
    };
    let mut known = Vec::new();
    for f in &known_files {
        match load_known(f) {
            Ok(k) => known.extend(k),
            Err(e) => {
                eprintln!("{e}");
                return Err(ExitCode::from(2));
            }
        }
    }
    Ok(known)
}

/// Run both backends over the suite and print the comparison; exit 1 on any unexplained
/// divergence or failure.
pub fn run_both<M: Backend, H: Backend>(
    paths: &[PathBuf],
    known_file: Option<&Path>,
    json: bool,
    verbose: bool,
    model: &mut M,
    host: &mut H,
) -> ExitCode {
    let start = Instant::now();
    let known = match known_for(paths, known_file) {
        Ok(k) => k,
        Err(code) => return code,
    };
    let mreports = run_all(paths, model);
    let hreports = run_all(paths, host);
    let mut rows = Vec::new();
    let mut count: BTreeMap<&'static str, usize> = BTreeMap::new();
    for (m, h) in mreports.iter().zip(&hreports) {
        let (v, diffs) = compare(m, h, &known);
        let tag = match v {
            Verdict::Agree => "AGREE",
            Verdict::Known => "KNOWN",
            Verdict::Diverge => "DIVERGE",
            Verdict::Fail => "FAIL",
            Verdict::Skip => "SKIP",
        };
        *count.entry(tag).or_default() += 1;
        if !json {
            println!("{tag:<8} {:<52} {}", m.path, m.title);
            if let Some(r) = &h.skip_reason {
                println!("         host skipped: {r}");
            }
            for f in m
                .failures
                .iter()
                .filter(|_| v == Verdict::Fail && h.status == Status::Skip)
            {
                println!(
                    "         {}:{}: model: expected {}, observed {}",
                    m.path, f.line, f.expected, f.observed
                );
            }
            for d in diffs
                .iter()
                .filter(|d| verbose || d.model_ok != d.host_ok || d.model_ok == Some(false))
            {
                println!("         {}:{}: expected {}", m.path, d.line, d.expected);
                println!("             model: {}", show(&d.model, d.model_ok));
                println!("             host:  {}", show(&d.host, d.host_ok));
                if let Some(k) = &d.known {
                    println!("             known divergence: {k}");
                }
            }
        }
        rows.push(serde_json::json!({ "path": m.path, "title": m.title, "verdict": v, "host_skip": h.skip_reason, "lines": diffs }));
    }
    let c = |k: &str| count.get(k).copied().unwrap_or(0);
    let ran = hreports.iter().filter(|h| h.status != Status::Skip).count();
    let (passed, failed, skipped) = (c("AGREE") + c("KNOWN"), c("DIVERGE") + c("FAIL"), c("SKIP"));
    if json {
        let out = serde_json::json!({ "scenarios": rows, "summary": { "agree": c("AGREE"), "known": c("KNOWN"), "diverge": c("DIVERGE"), "fail": c("FAIL"), "skip": c("SKIP"), "ran_on_host": ran } });
        println!(
            "{}",
            serde_json::to_string_pretty(&out).expect("rows serialise")
        );
    } else {
        print_skip_reasons(&hreports);
        println!(
            "\n{} scenarios in {:.2} s: {} ran on the host, {} skipped there; {} agree, {} differ only as known, {} diverge, {} fail",
            mreports.len(),
            start.elapsed().as_secs_f64(),
            ran,
            skipped,
            c("AGREE"),
            c("KNOWN"),
            c("DIVERGE"),
            c("FAIL")
        );
        println!("{passed} passed, {failed} failed, {skipped} skipped");
    }
    if failed > 0 || mreports.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
