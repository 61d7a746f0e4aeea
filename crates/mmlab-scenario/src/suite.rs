//! Collecting scenario files from paths and running them as a suite.

use std::path::{Path, PathBuf};

use crate::ast::Scenario;
use crate::backend::Backend;
use crate::run::{run, Report, Status};

/// A problem with an input path or file: the suite reports it as an error (status `error`,
/// exit status 2).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    #[error("{0}: No such file or directory")]
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

/// Read, parse and check one file.
pub fn load(path: &Path) -> Result<Scenario, InputError> {
    let bytes = std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => InputError::Missing(path.display().to_string()),
        _ => InputError::Unreadable(path.display().to_string(), e.to_string()),
    })?;
    Ok(crate::parse::parse_bytes(&bytes, path)?)
}

/// Parse and run one file.
pub fn run_file<B: Backend>(path: &Path, b: &mut B) -> Result<Report, InputError> {
    Ok(run(&load(path)?, b))
}

/// A report standing for an input that never ran: status `error`, with the message.
pub fn input_failure(path: &str, err: &InputError, backend: &'static str) -> Report {
    let mut r = Report::new(path, "", backend);
    r.status = Status::Error;
    r.error = Some(err.to_string());
    r
}

/// Totals over a set of reports.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    /// Inputs that could not be run: unreadable, malformed, over a budget.
    pub errors: usize,
    pub expectations: u64,
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
                Status::Error => s.errors += 1,
            }
            s.expectations += r.expectations;
        }
        s
    }
}
