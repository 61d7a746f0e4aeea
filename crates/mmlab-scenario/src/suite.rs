//! Collecting scenario files from paths and running them as a suite.

use std::path::{Path, PathBuf};

use crate::backend::Backend;
use crate::run::{run, Failure, Report, Status};

/// A problem with an input path or file: the suite reports it and counts it as failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    #[error("{0}: no such file or directory")]
    Missing(String),
    #[error("{0}: {1}")]
    Unreadable(String, String),
    #[error("{0}")]
    Parse(#[from] crate::parse::ParseError),
}

/// Every `.mml` file named by `paths` (directories searched recursively), in sorted order.
pub fn collect(paths: &[PathBuf]) -> (Vec<PathBuf>, Vec<InputError>) {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for p in paths {
        if p.is_dir() {
            walk(p, &mut files, &mut errors);
        } else if p.is_file() {
            files.push(p.clone());
        } else {
            errors.push(InputError::Missing(p.display().to_string()));
        }
    }
    files.sort();
    files.dedup();
    (files, errors)
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>, errors: &mut Vec<InputError>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            return errors.push(InputError::Unreadable(
                dir.display().to_string(),
                e.to_string(),
            ))
        }
    };
    for entry in entries.flatten() {
        let p = entry.path();
        if p.is_dir() {
            walk(&p, files, errors);
        } else if p.extension().is_some_and(|e| e == "mml") {
            files.push(p);
        }
    }
}

/// Parse and run one file; a file that cannot be read or parsed yields a failed report.
pub fn run_file<B: Backend>(path: &Path, b: &mut B) -> Result<Report, InputError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| InputError::Unreadable(path.display().to_string(), e.to_string()))?;
    let sc = crate::parse::parse(&text, path)?;
    Ok(run(&sc, b))
}

/// A report standing for an input that never ran.
pub fn input_failure(path: &str, err: &InputError, backend: &'static str) -> Report {
    let line = match err {
        InputError::Parse(p) => p.line,
        _ => 0,
    };
    Report {
        path: path.to_string(),
        title: String::new(),
        backend,
        status: Status::Fail,
        skip_reason: None,
        failures: vec![Failure {
            line,
            expected: "a readable, well-formed scenario".into(),
            observed: err.to_string(),
        }],
        checks: vec![],
        expectations: 0,
        micros: 0,
    }
}

/// Totals over a set of reports.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    pub expectations: usize,
}

impl Summary {
    /// Count the reports.
    pub fn of(reports: &[Report]) -> Summary {
        let mut s = Summary::default();
        for r in reports {
            match r.status {
                Status::Pass => s.passed += 1,
                Status::Fail => s.failed += 1,
                Status::Skip => s.skipped += 1,
            }
            s.expectations += r.expectations;
        }
        s
    }
}
