//! Comparing one scenario's runs on two backends (the model and the host kernel): every
//! expectation line's verdict and value side by side, with the known divergences that explain
//! a disagreement.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::run::{Report, Status};

/// One entry of the known-divergences file: a scenario line where 5.19 and the host differ.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Known {
    pub path: PathBuf,
    pub line: usize,
    pub reason: String,
}

/// Parse a known-divergences file: `path:line  reason` per line (path relative to the file's
/// folder), `#` comments. Errors name file:line.
pub fn load_known(file: &Path) -> Result<Vec<Known>, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let base = file.parent().unwrap_or(Path::new("."));
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let bad = || {
            format!(
                "{}:{}: expected `path.mml:LINE  reason`",
                file.display(),
                i + 1
            )
        };
        let (loc, reason) = line.split_once(char::is_whitespace).ok_or_else(bad)?;
        let (path, l) = loc.rsplit_once(':').ok_or_else(bad)?;
        let l: usize = l.parse().map_err(|_| bad())?;
        let reason = reason.trim().to_string();
        if reason.is_empty() {
            return Err(format!(
                "{}:{}: every known divergence needs its reason",
                file.display(),
                i + 1
            ));
        }
        out.push(Known {
            path: base.join(path),
            line: l,
            reason,
        });
    }
    Ok(out)
}

/// Is `path:line` a known divergence?
pub fn is_known(known: &[Known], path: &str, line: usize) -> bool {
    known
        .iter()
        .any(|k| k.line == line && same_file(&k.path, Path::new(path)))
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// Per line of a report: did everything at that line hold, and what was observed.
fn by_line(r: &Report) -> BTreeMap<usize, (bool, String, String)> {
    let mut m: BTreeMap<usize, (bool, String, String)> = BTreeMap::new();
    for c in &r.checks {
        let e = m
            .entry(c.line)
            .or_insert((true, c.expected.clone(), c.observed.clone()));
        if !c.ok && e.0 {
            *e = (false, c.expected.clone(), c.observed.clone());
        }
    }
    for f in &r.failures {
        m.entry(f.line).and_modify(|e| e.0 = false).or_insert((
            false,
            f.expected.clone(),
            f.observed.clone(),
        ));
    }
    m
}

/// The verdict on one scenario run on both backends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Both ran and every expectation held on both.
    Agree,
    /// The backends disagree only where the known-divergences file says why.
    Known,
    /// The backends disagree somewhere unexplained.
    Diverge,
    /// Both agree an expectation does not hold (the scenario is wrong), or the model fails a
    /// scenario the host cannot run.
    Fail,
    /// The host cannot run it (and the model passes it).
    Skip,
}

/// One expectation line compared.
#[derive(Clone, Debug, serde::Serialize)]
pub struct LineDiff {
    pub line: usize,
    pub expected: String,
    pub model: Option<String>,
    pub model_ok: Option<bool>,
    pub host: Option<String>,
    pub host_ok: Option<bool>,
    pub known: Option<String>,
}

/// Compare a scenario's two reports.
pub fn compare(model: &Report, host: &Report, known: &[Known]) -> (Verdict, Vec<LineDiff>) {
    if host.status == Status::Skip {
        let v = if model.status == Status::Pass {
            Verdict::Skip
        } else {
            Verdict::Fail
        };
        return (v, vec![]);
    }
    let (m, h) = (by_line(model), by_line(host));
    let mut lines: Vec<usize> = m.keys().chain(h.keys()).copied().collect();
    lines.sort_unstable();
    lines.dedup();
    let mut diffs = Vec::new();
    let (mut diverge, mut unexplained, mut both_fail) = (false, false, false);
    for l in lines {
        let (mo, ho) = (m.get(&l), h.get(&l));
        let agree = mo.map(|x| x.0) == ho.map(|x| x.0);
        let known_reason = known
            .iter()
            .find(|k| k.line == l && same_file(&k.path, Path::new(&model.path)))
            .map(|k| k.reason.clone());
        if !agree {
            diverge = true;
            unexplained |= known_reason.is_none();
        } else if mo.is_some_and(|x| !x.0) {
            both_fail = true;
        }
        diffs.push(LineDiff {
            line: l,
            expected: mo.or(ho).map(|x| x.1.clone()).unwrap_or_default(),
            model: mo.map(|x| x.2.clone()),
            model_ok: mo.map(|x| x.0),
            host: ho.map(|x| x.2.clone()),
            host_ok: ho.map(|x| x.0),
            known: if agree { None } else { known_reason },
        });
    }
    let verdict = if both_fail {
        Verdict::Fail
    } else if unexplained {
        Verdict::Diverge
    } else if diverge {
        Verdict::Known
    } else {
        Verdict::Agree
    };
    (verdict, diffs)
}
