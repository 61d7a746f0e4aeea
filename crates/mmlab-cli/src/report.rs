//! `mmlab run` / `mmlab live`: run a suite on one backend and print a line per scenario as it
//! finishes, each failure with its file:line, what was observed and the state around the
//! address it looked at, then a summary.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use mmlab_scenario::ast::Scenario;
use mmlab_scenario::diff::{is_known, KnownFiles};
use mmlab_scenario::run::Failure;
use mmlab_scenario::suite::{self, InputError, Summary};
use mmlab_scenario::{run_with, Backend, Limits, Report, Status};

use crate::output::{envelope, Out, Tone, TraceFile};

/// Exit statuses (README "Output"): 0 all passed, 1 a scenario failed or diverged, 2 an input
/// could not be run (missing, unreadable or malformed file, a budget exceeded, bad arguments).
pub const EXIT_FAIL: u8 = 1;
pub const EXIT_ERROR: u8 = 2;

/// What `run` and `live` were asked for.
pub struct Options {
    pub json: bool,
    /// Only scenarios whose path or title contains this.
    pub filter: Option<String>,
    pub limits: Limits,
    /// With --both: every expectation's two values, not only disagreements.
    pub verbose: bool,
    /// A known-divergences file given on the command line, instead of the lookup.
    pub known: Option<PathBuf>,
    /// `--trace FILE`: where the model's trace goes (the model backend traces).
    pub trace: Option<PathBuf>,
}

/// The trace file `--trace` asks for, created; Err is the message for an unwritable path.
pub fn trace_file(opts: &Options) -> Result<Option<TraceFile>, String> {
    opts.trace
        .as_deref()
        .map(|p| TraceFile::create(p, opts.json))
        .transpose()
}

/// Add a scenario to the trace file, if there is one.
pub fn trace_report(trace: &mut Option<TraceFile>, r: &Report) -> Result<(), String> {
    trace.as_mut().map_or(Ok(()), |t| t.scenario(r))
}

/// Finish the trace file, if there is one.
pub fn trace_finish(trace: Option<TraceFile>) -> Result<(), String> {
    trace.map_or(Ok(()), TraceFile::finish)
}

/// One input of a suite: a scenario to run, or why it cannot be.
pub enum Input {
    Scenario(Box<Scenario>),
    Bad(String, InputError),
}

impl Input {
    pub fn path(&self) -> String {
        match self {
            Input::Scenario(sc) => sc.path.display().to_string(),
            Input::Bad(p, _) => p.clone(),
        }
    }
}

/// Every input under `paths` that the filter keeps, parsed (a file that does not parse is kept
/// when its path matches).
pub fn inputs(paths: &[PathBuf], filter: Option<&str>) -> Vec<Input> {
    let (files, errors) = suite::collect(paths);
    let mut out: Vec<Input> = errors
        .into_iter()
        .map(|e| Input::Bad(e.to_string(), e))
        .collect();
    for f in files {
        let path = f.display().to_string();
        match suite::load(&f) {
            Ok(sc) => {
                if filter.is_none_or(|t| path.contains(t) || sc.title.contains(t)) {
                    out.push(Input::Scenario(Box::new(sc)));
                }
            }
            Err(e) => {
                if filter.is_none_or(|t| path.contains(t)) {
                    out.push(Input::Bad(path, e));
                }
            }
        }
    }
    out
}

/// The known divergences for one scenario: the file given, or the lookup from its folder up.
pub struct KnownSource {
    given: Option<Vec<mmlab_scenario::diff::Known>>,
    files: KnownFiles,
}

impl KnownSource {
    pub fn new(given: Option<&Path>) -> Result<KnownSource, String> {
        let given = given.map(mmlab_scenario::diff::load_known).transpose()?;
        Ok(KnownSource {
            given,
            files: KnownFiles::default(),
        })
    }

    pub fn for_scenario(
        &mut self,
        path: &Path,
    ) -> Result<Vec<mmlab_scenario::diff::Known>, String> {
        match &self.given {
            Some(k) => Ok(k.clone()),
            None => self.files.for_scenario(path),
        }
    }
}

/// Run one input on a backend.
pub fn run_input<B: Backend>(input: &Input, backend: &mut B, limits: Limits) -> Report {
    match input {
        Input::Scenario(sc) => run_with(sc, backend, limits),
        Input::Bad(p, e) => suite::input_failure(p, e, backend.name()),
    }
}

/// Run the suite on one backend, printing each scenario as it finishes. With `known` (live),
/// a scenario whose only failures are known divergences passes as KNOWN.
pub fn run_suite<B: Backend>(
    command: &str,
    paths: &[PathBuf],
    opts: &Options,
    backend: &mut B,
    use_known: bool,
) -> ExitCode {
    let start = Instant::now();
    let name = backend.name();
    let inputs = inputs(paths, opts.filter.as_deref());
    let mut known = match KnownSource::new(opts.known.as_deref()) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(EXIT_ERROR);
        }
    };
    let mut trace = match trace_file(opts) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(EXIT_ERROR);
        }
    };
    let mut out = Out::new(inputs.len(), true);
    let mut reports = Vec::new();
    let mut with_known = 0;
    for input in &inputs {
        if out.closed() {
            break;
        }
        out.running(&input.path());
        let mut r = run_input(input, backend, opts.limits);
        if use_known && r.status == Status::Fail {
            let k = match known.for_scenario(Path::new(&r.path)) {
                Ok(k) => k,
                Err(e) => {
                    eprintln!("{e}");
                    return out.exit(EXIT_ERROR);
                }
            };
            if r.failures.iter().all(|f| is_known(&k, &r.path, f.line)) {
                r.status = Status::Pass;
                with_known += 1;
            }
        }
        if !opts.json {
            print_report(&mut out, &r);
        }
        if let Err(e) = trace_report(&mut trace, &r) {
            eprintln!("{e}");
            return out.exit(EXIT_ERROR);
        }
        out.advance();
        reports.push(r);
    }
    if let Err(e) = trace_finish(trace) {
        eprintln!("{e}");
        return out.exit(EXIT_ERROR);
    }
    let sum = Summary::of(&reports);
    if opts.json {
        out.json(&envelope(
            command,
            serde_json::json!({ "backend": name, "reports": reports, "summary": sum }),
        ));
    } else {
        out.done();
        if inputs.is_empty() {
            out.line(&format!(
                "no .mml files found under {}{}",
                paths
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(" "),
                opts.filter
                    .as_ref()
                    .map_or(String::new(), |f| format!(" matching `{f}`"))
            ));
        }
        print_skip_reasons(&mut out, &reports);
        out.line(&format!(
            "\n{} scenarios, {} expectations checked on the {name} in {:.2} s",
            reports.len(),
            sum.expectations,
            start.elapsed().as_secs_f64()
        ));
        if with_known > 0 {
            out.line(&format!(
                "({with_known} of the passed fail only at known divergences)"
            ));
        }
        let errors = if sum.errors > 0 {
            format!(", {} errors", sum.errors)
        } else {
            String::new()
        };
        out.line(&format!(
            "{} passed, {} failed, {} skipped{errors}",
            sum.passed, sum.failed, sum.skipped
        ));
    }
    out.exit(exit_code(
        sum.errors > 0,
        sum.failed > 0 || inputs.is_empty(),
    ))
}

/// The exit status for a run that had errors and/or failures.
pub fn exit_code(errors: bool, failures: bool) -> u8 {
    if errors {
        EXIT_ERROR
    } else if failures {
        EXIT_FAIL
    } else {
        0
    }
}

/// Skipped scenarios grouped by reason.
pub fn print_skip_reasons(out: &mut Out, reports: &[Report]) {
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
        out.line("\nskipped, by reason:");
        for (k, n) in reasons {
            out.line(&format!("  {n:>3}  {k}"));
        }
    }
}

/// The tag and tone of a report.
fn tag(r: &Report) -> (&'static str, Tone) {
    match r.status {
        Status::Pass if !r.failures.is_empty() => ("KNOWN", Tone::Note),
        Status::Pass => ("PASS", Tone::Good),
        Status::Fail => ("FAIL", Tone::Bad),
        Status::Skip => ("SKIP", Tone::Note),
        Status::Error => ("ERROR", Tone::Bad),
    }
}

fn print_report(out: &mut Out, r: &Report) {
    let (tag, tone) = tag(r);
    let tag = out.paint(&format!("{tag:<5}"), tone);
    if r.status == Status::Error && r.title.is_empty() {
        // An input that never ran: its message already names the place.
        let msg = r.error.clone().unwrap_or_default();
        out.line(&format!("{tag} {msg}"));
        return;
    }
    out.line(&format!(
        "{tag} {:<52} {:>8.2} ms  {}",
        r.path,
        r.micros as f64 / 1000.0,
        r.title
    ));
    if let (Status::Skip, Some(reason)) = (r.status, &r.skip_reason) {
        out.line(&format!("      skipped: {reason}"));
    }
    if let Some(e) = r
        .error
        .as_ref()
        .filter(|_| !r.failures.iter().any(|f| f.ended))
    {
        out.line(&format!("      {e}"));
    }
    for f in &r.failures {
        for l in failure_lines(out, &r.path, f) {
            out.line(&format!("      {l}"));
        }
    }
}

/// A failure as text lines: place and expectation, observation, and the state around it.
pub fn failure_lines(out: &Out, path: &str, f: &Failure) -> Vec<String> {
    let place = format!("{path}:{}:", f.line);
    let mut v = vec![format!(
        "{} expected {}",
        out.paint(&place, Tone::Bad),
        f.expected
    )];
    let count = if f.count > 1 {
        format!(" (failed {} times; the first shown)", f.count)
    } else {
        String::new()
    };
    v.push(format!("    observed {}{count}", f.observed));
    if let Some(c) = &f.context {
        v.extend(
            c.lines()
                .into_iter()
                .map(|l| out.paint(&format!("    {l}"), Tone::Dim)),
        );
    }
    v
}
