//! `mmlab run --both`: each scenario on the model and on the host kernel, compared line by
//! line as soon as both have run (`mmlab_scenario::diff` does the comparison); disagreements
//! fail unless a known-divergences file explains them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use mmlab_scenario::diff::{compare, LineDiff, Verdict};
use mmlab_scenario::run::LineResult;
use mmlab_scenario::{Backend, Report, Status};

use crate::output::{envelope, Out, Tone};
use crate::report::{
    exit_code, failure_lines, inputs, print_skip_reasons, run_input, trace_file, trace_finish,
    trace_report, KnownSource, Options, EXIT_ERROR,
};

/// One side of a compared line, as text.
fn side(out: &Out, v: &Option<String>, ok: Option<bool>) -> String {
    match (v, ok) {
        (Some(s), Some(true)) => format!("{s} {}", out.paint("(holds)", Tone::Good)),
        (Some(s), _) => format!("{s} {}", out.paint("(FAILS)", Tone::Bad)),
        (None, _) => "not reached".into(),
    }
}

/// The state around the address of a side's first failure, indented.
fn context(out: &Out, who: &str, l: &Option<LineResult>) -> Vec<String> {
    let Some(c) = l.as_ref().and_then(|l| l.context.as_ref()) else {
        return vec![];
    };
    c.lines()
        .into_iter()
        .map(|s| out.paint(&format!("             {who} {s}"), Tone::Dim))
        .collect()
}

fn verdict_tag(v: Verdict) -> (&'static str, Tone) {
    match v {
        Verdict::Agree => ("AGREE", Tone::Good),
        Verdict::Known => ("KNOWN", Tone::Note),
        Verdict::Diverge => ("DIVERGE", Tone::Bad),
        Verdict::Fail => ("FAIL", Tone::Bad),
        Verdict::Skip => ("SKIP", Tone::Note),
    }
}

/// Print one scenario's comparison.
fn print_scenario(
    out: &mut Out,
    m: &Report,
    h: &Report,
    v: Verdict,
    diffs: &[LineDiff],
    verbose: bool,
) {
    let (tag, tone) = verdict_tag(v);
    out.line(&format!(
        "{} {:<52} {}",
        out.paint(&format!("{tag:<8}"), tone),
        m.path,
        m.title
    ));
    if let Some(r) = &h.skip_reason {
        out.line(&format!("         host skipped: {r}"));
    }
    if v == Verdict::Fail && h.status == Status::Skip {
        for f in &m.failures {
            for l in failure_lines(out, &m.path, f) {
                out.line(&format!("         model: {l}"));
            }
        }
    }
    for d in diffs
        .iter()
        .filter(|d| verbose || !d.agree || d.model_ok == Some(false))
    {
        let what = if d.agree {
            ""
        } else if d.known.is_some() {
            " (known)"
        } else {
            " (diverges)"
        };
        out.line(&format!(
            "         {}:{}: expected {}{what}",
            m.path, d.line, d.expected
        ));
        out.line(&format!(
            "             model: {}",
            side(out, &d.model, d.model_ok)
        ));
        out.line(&format!(
            "             host:  {}",
            side(out, &d.host, d.host_ok)
        ));
        if let Some(k) = &d.known {
            out.line(&format!("             known divergence: {k}"));
        }
        if !d.agree || d.model_ok == Some(false) {
            for l in context(out, "model", &d.model_result)
                .into_iter()
                .chain(context(out, "host ", &d.host_result))
            {
                out.line(&l);
            }
        }
    }
}

/// Run both backends over the suite, one scenario at a time, and print the comparison as each
/// finishes; exit 1 on any unexplained divergence or failure, 2 on an input error.
pub fn run_both<M: Backend, H: Backend>(
    paths: &[PathBuf],
    opts: &Options,
    model: &mut M,
    host: &mut H,
) -> ExitCode {
    let start = Instant::now();
    let mut known = match KnownSource::new(opts.known.as_deref()) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(EXIT_ERROR);
        }
    };
    let inputs = inputs(paths, opts.filter.as_deref());
    let mut trace = match trace_file(opts) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(EXIT_ERROR);
        }
    };
    let mut out = Out::new(inputs.len(), true);
    let mut rows = Vec::new();
    let mut count: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut host_reports = Vec::new();
    let mut errors = 0;
    for input in &inputs {
        if out.closed() {
            break;
        }
        out.running(&input.path());
        let m = run_input(input, model, opts.limits);
        if let Err(e) = trace_report(&mut trace, &m) {
            eprintln!("{e}");
            return out.exit(EXIT_ERROR);
        }
        if m.status == Status::Error {
            // Nothing to compare: the file is malformed or over a budget.
            errors += 1;
            if !opts.json {
                let msg = m.error.clone().unwrap_or_default();
                out.line(&format!("{} {msg}", out.paint("ERROR   ", Tone::Bad)));
            }
            rows.push(serde_json::json!({ "path": m.path, "title": m.title, "verdict": "error", "error": m.error }));
            out.advance();
            continue;
        }
        let h = run_input(input, host, opts.limits);
        let k = match known.for_scenario(Path::new(&m.path)) {
            Ok(k) => k,
            Err(e) => {
                eprintln!("{e}");
                return out.exit(EXIT_ERROR);
            }
        };
        let (v, diffs) = compare(&m, &h, &k);
        *count.entry(verdict_tag(v).0).or_default() += 1;
        if !opts.json {
            print_scenario(&mut out, &m, &h, v, &diffs, opts.verbose);
        }
        rows.push(serde_json::json!({
            "path": m.path,
            "title": m.title,
            "verdict": v,
            "model_status": m.status,
            "host_status": h.status,
            "host_skip": h.skip_reason,
            "host_error": h.error,
            "lines": diffs,
        }));
        host_reports.push(h);
        out.advance();
    }
    if let Err(e) = trace_finish(trace) {
        eprintln!("{e}");
        return out.exit(EXIT_ERROR);
    }
    let c = |k: &str| count.get(k).copied().unwrap_or(0);
    let ran = host_reports
        .iter()
        .filter(|h| h.status != Status::Skip)
        .count();
    let (passed, failed, skipped) = (c("AGREE") + c("KNOWN"), c("DIVERGE") + c("FAIL"), c("SKIP"));
    if opts.json {
        out.json(&envelope(
            "both",
            serde_json::json!({
                "scenarios": rows,
                "summary": {
                    "agree": c("AGREE"), "known": c("KNOWN"), "diverge": c("DIVERGE"),
                    "fail": c("FAIL"), "skip": c("SKIP"), "errors": errors, "ran_on_host": ran
                }
            }),
        ));
    } else {
        out.done();
        print_skip_reasons(&mut out, &host_reports);
        out.line(&format!(
            "\n{} scenarios in {:.2} s: {} ran on the host, {} skipped there; {} agree, {} differ only as known, {} diverge, {} fail, {} errors",
            inputs.len(),
            start.elapsed().as_secs_f64(),
            ran,
            skipped,
            c("AGREE"),
            c("KNOWN"),
            c("DIVERGE"),
            c("FAIL"),
            errors
        ));
        out.line(&format!(
            "{passed} passed, {failed} failed, {skipped} skipped"
        ));
    }
    out.exit(exit_code(errors > 0, failed > 0 || inputs.is_empty()))
}
