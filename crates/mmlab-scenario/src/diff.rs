//! Comparing one scenario's runs on two backends (the model and the host kernel): every
//! expectation line's verdict and observed values side by side, with the known divergences
//! that explain a disagreement. A line agrees when it held on both, or failed on both with the
//! same observed values; every other line is a divergence.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use crate::run::{LineResult, Report, Status};

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

/// The name of a known-divergences file.
pub const KNOWN_FILE: &str = "known-divergences.txt";

/// The known divergences that apply to scenarios: `known-divergences.txt` in a scenario's own
/// folder and in every folder above it, each read once.
#[derive(Default)]
pub struct KnownFiles {
    /// Every file read so far, by folder (None: the folder has none).
    by_dir: HashMap<PathBuf, Option<Vec<Known>>>,
}

impl KnownFiles {
    /// The entries that apply to `scenario`, from its folder up to the root.
    pub fn for_scenario(&mut self, scenario: &Path) -> Result<Vec<Known>, String> {
        let abs = scenario
            .canonicalize()
            .unwrap_or_else(|_| scenario.to_path_buf());
        let mut out = Vec::new();
        for dir in abs.ancestors().skip(1) {
            if !self.by_dir.contains_key(dir) {
                let f = dir.join(KNOWN_FILE);
                let entries = if f.is_file() {
                    Some(load_known(&f)?)
                } else {
                    None
                };
                self.by_dir.insert(dir.to_path_buf(), entries);
            }
            if let Some(k) = &self.by_dir[dir] {
                out.extend(k.iter().cloned());
            }
        }
        Ok(out)
    }
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

/// The verdict on one scenario run on both backends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Both ran and every expectation held on both.
    Agree,
    /// The backends disagree only where the known-divergences file says why.
    Known,
    /// The backends disagree somewhere unexplained (whatever else happened).
    Diverge,
    /// No unexplained divergence, but an expectation fails on both with the same values (the
    /// scenario is wrong), or the model fails a scenario the host cannot run.
    Fail,
    /// The host cannot run it (and the model passes it).
    Skip,
}

/// One expectation line compared.
#[derive(Clone, Debug, serde::Serialize)]
pub struct LineDiff {
    pub line: usize,
    pub expected: String,
    /// What each side observed, as text (the first failure, else the first observation);
    /// None where the line was not reached.
    pub model: Option<String>,
    pub model_ok: Option<bool>,
    pub host: Option<String>,
    pub host_ok: Option<bool>,
    /// The two sides agree: both held, or both failed with the same observed values.
    pub agree: bool,
    /// The known-divergences entry that explains a disagreement.
    pub known: Option<String>,
    /// Each side's aggregate, typed.
    pub model_result: Option<LineResult>,
    pub host_result: Option<LineResult>,
}

/// A line's observation as text: the first failure (with how many runs failed), else the first
/// observation.
fn summary(l: &LineResult) -> String {
    match &l.failure {
        Some(f) if l.runs > 1 => format!("{f} ({} of {} runs failed)", l.failed, l.runs),
        Some(f) => f.to_string(),
        None if l.runs > 1 => format!("{} (all {} runs held)", l.first, l.runs),
        None => l.first.to_string(),
    }
}

/// Do two runs of a line agree?
fn agree(m: Option<&LineResult>, h: Option<&LineResult>) -> bool {
    match (m, h) {
        (Some(m), Some(h)) => {
            (m.failed == 0 && h.failed == 0)
                || (m.failed > 0 && (m.runs, m.failed, m.digest) == (h.runs, h.failed, h.digest))
        }
        (None, None) => true,
        _ => false,
    }
}

/// Compare a scenario's two reports, line by line.
pub fn compare(model: &Report, host: &Report, known: &[Known]) -> (Verdict, Vec<LineDiff>) {
    if host.status == Status::Skip {
        let v = if model.status == Status::Pass {
            Verdict::Skip
        } else {
            Verdict::Fail
        };
        return (v, vec![]);
    }
    let m: BTreeMap<usize, &LineResult> = model.lines.iter().map(|l| (l.line, l)).collect();
    let h: BTreeMap<usize, &LineResult> = host.lines.iter().map(|l| (l.line, l)).collect();
    let mut lines: Vec<usize> = m.keys().chain(h.keys()).copied().collect();
    lines.sort_unstable();
    lines.dedup();
    let mut diffs = Vec::new();
    let (mut explained, mut unexplained, mut both_fail) = (false, false, false);
    for l in lines {
        let (mo, ho) = (m.get(&l).copied(), h.get(&l).copied());
        // A line the host skipped (it needs a model probe) is the model's alone.
        let host_skipped = ho.is_none() && host.skipped_lines.contains(&l);
        let same = agree(mo, ho) || host_skipped;
        if host_skipped && mo.is_some_and(|x| x.failed > 0) {
            both_fail = true;
        }
        let known_reason = known
            .iter()
            .find(|k| k.line == l && same_file(&k.path, Path::new(&model.path)))
            .map(|k| k.reason.clone());
        if !same {
            explained |= known_reason.is_some();
            unexplained |= known_reason.is_none();
        } else if mo.is_some_and(|x| x.failed > 0) {
            both_fail = true;
        }
        diffs.push(LineDiff {
            line: l,
            expected: mo.or(ho).map(|x| x.expected.clone()).unwrap_or_default(),
            model: mo.map(summary),
            model_ok: mo.map(|x| x.failed == 0),
            host: ho.map(summary),
            host_ok: ho.map(|x| x.failed == 0),
            agree: same,
            known: if same { None } else { known_reason },
            model_result: mo.cloned(),
            host_result: ho.cloned(),
        });
    }
    let verdict = if unexplained {
        Verdict::Diverge
    } else if both_fail {
        Verdict::Fail
    } else if explained {
        Verdict::Known
    } else {
        Verdict::Agree
    };
    (verdict, diffs)
}
