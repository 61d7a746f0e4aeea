//! Judging a case: run its text through mmlab-scenario exactly as `mmlab run` does (parse,
//! run on the model — here behind the shadow — with the invariant checker after every step)
//! and, when a host backend is given, as `mmlab run --both` does (the same text on the host,
//! compared line by line by `mmlab_scenario::diff::compare`); then name what went wrong.

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, Once};
use std::thread::JoinHandle;
use std::time::Duration;

use mmlab_scenario::diff::{compare, LineDiff, Verdict};
use mmlab_scenario::{parse, run, Backend, ModelBackend, Report, Status};

use crate::shadow::Shadow;

/// What kind of failure a case shows.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// The model panicked.
    Panic,
    /// The model's invariant checker failed after a step.
    Violation,
    /// A load read (or an access faulted) otherwise than the shadow says it must.
    Shadow,
    /// The model and the host kernel disagree on a line.
    Divergence,
    /// The generated text does not replay on the model (the generator's own bug).
    Replay,
    /// The host run did not end in time (its agents were ended by the watchdog).
    Hang,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::Panic,
        Kind::Violation,
        Kind::Shadow,
        Kind::Divergence,
        Kind::Replay,
        Kind::Hang,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Panic => "panic",
            Kind::Violation => "violation",
            Kind::Shadow => "shadow",
            Kind::Divergence => "divergence",
            Kind::Replay => "replay",
            Kind::Hang => "hang",
        }
    }
}

/// A failure: its kind, what makes two failures "the same" (no addresses or values), and the
/// whole message.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Finding {
    pub kind: Kind,
    pub signature: String,
    pub detail: String,
    /// The case's line it shows at, where known.
    pub line: Option<usize>,
}

/// The judgement on one case.
#[derive(Debug, Default)]
pub struct Outcome {
    pub finding: Option<Finding>,
    /// The host skipped the case (why).
    pub host_skip: Option<String>,
}

thread_local! {
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Keep the model's panics off the terminal while cases run (thousands may panic while a case
/// is shrunk); remember where the last one happened instead.
pub fn quiet_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let at = info
                .location()
                .map(|l| format!("{}:{}", l.file(), l.line()))
                .unwrap_or_default();
            LAST_PANIC.with(|p| *p.borrow_mut() = Some(at));
        }));
    });
}

/// "panicked at FILE:LINE: message" from a caught panic.
pub fn panic_text(payload: &(dyn std::any::Any + Send)) -> (String, String) {
    let msg = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into());
    let at = LAST_PANIC
        .with(|p| p.borrow_mut().take())
        .unwrap_or_else(|| "an unknown place".into());
    (at, msg)
}

/// Digits and hex numbers out: what stays the same between two occurrences of one failure.
pub fn normalise(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            while chars
                .peek()
                .is_some_and(|d| d.is_ascii_hexdigit() || *d == 'x')
            {
                chars.next();
            }
            out.push('#');
        } else {
            out.push(c);
        }
    }
    out
}

/// The shape of an expectation without names and numbers: `pagemap.present ==`,
/// `munmap fails EINVAL`, `store faults SIGSEGV`, `vmstat(thp_fault_alloc) >=`.
pub fn shape(expected: &str) -> String {
    let e = expected.trim_start_matches("every byte of ");
    let ident: String = e
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '.')
        .collect();
    let rest = &e[ident.len()..];
    let mut head = if rest.starts_with('(') {
        let name = ident.clone();
        let close = matching_paren(rest).unwrap_or(rest.len());
        let arg = &rest[1..close.saturating_sub(1).max(1)];
        let keep_arg = matches!(name.as_str(), "vmstat" | "meminfo" | "model.counter");
        let mut h = if keep_arg {
            format!("{name}({arg})")
        } else {
            name
        };
        let after = &rest[close.min(rest.len())..];
        let field: String = after
            .strip_prefix('.')
            .map(|f| {
                f.chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect()
            })
            .unwrap_or_default();
        if !field.is_empty() {
            h = format!("{h}.{field}");
        }
        h
    } else {
        match ident.split_once('.') {
            Some((_, field)) => format!("msg.{field}"),
            None => "value".into(),
        }
    };
    for tail in [" fails ", " faults "] {
        if let Some(i) = e.find(tail) {
            head.push_str(tail);
            head.push_str(e[i + tail.len()..].split_whitespace().next().unwrap_or(""));
            return head;
        }
    }
    for tail in [" blocks", " to succeed", " to return"] {
        if e.contains(tail) {
            head.push_str(tail);
            return head;
        }
    }
    for op in [" == ", " != ", " <= ", " >= ", " < ", " > "] {
        if e.contains(op) {
            head.push_str(op.trim_end());
            return head;
        }
    }
    head
}

/// The index just past the parenthesis that closes the one `s` starts with.
fn matching_paren(s: &str) -> Option<usize> {
    let mut depth = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

/// A host observation reduced to its kind: a number, an errno, a signal, a sleep.
fn observed_kind(o: Option<&String>) -> String {
    // A plain call line leaves no observation where it succeeded.
    let Some(o) = o else {
        return "no failure".into();
    };
    let first = o.split_whitespace().next().unwrap_or("");
    if first.starts_with(|c: char| c.is_ascii_digit()) {
        return "a value".into();
    }
    for p in ["fails ", "faults ", "raised ", "failed with "] {
        if let Some(rest) = o.strip_prefix(p) {
            return format!("{}{}", p, rest.split_whitespace().next().unwrap_or(""));
        }
    }
    normalise(o)
}

/// How long one case may take on the host (a case runs in well under a second).
const HOST_DEADLINE: Duration = Duration::from_secs(30);

/// Ends this process's host agents if a host run outlives its deadline: a stuck agent would
/// otherwise keep the run, and the host lock, for ever. The host backend then sees its
/// channels close and ends the scenario.
struct Watchdog {
    done: Arc<(Mutex<bool>, Condvar)>,
    fired: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl Watchdog {
    fn start(deadline: Duration) -> Watchdog {
        let done = Arc::new((Mutex::new(false), Condvar::new()));
        let fired = Arc::new(AtomicBool::new(false));
        let (d, f) = (done.clone(), fired.clone());
        let thread = std::thread::spawn(move || {
            let (lock, cv) = &*d;
            let guard = lock.lock().unwrap_or_else(|e| e.into_inner());
            let (guard, _) = cv
                .wait_timeout_while(guard, deadline, |finished| !*finished)
                .unwrap_or_else(|e| e.into_inner());
            if !*guard {
                f.store(true, Ordering::SeqCst);
                end_agents();
            }
        });
        Watchdog {
            done,
            fired,
            thread,
        }
    }

    /// Stop watching; did it have to end the agents?
    fn stop(self) -> bool {
        let (lock, cv) = &*self.done;
        *lock.lock().unwrap_or_else(|e| e.into_inner()) = true;
        cv.notify_all();
        let _ = self.thread.join();
        self.fired.load(Ordering::SeqCst)
    }
}

/// SIGKILL the process group of each host agent this process started (an agent leads its own
/// group; the processes it forked are in it).
fn end_agents() {
    let me = std::process::id().to_string();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return;
    };
    for e in dir.flatten() {
        let pid = e.file_name().to_string_lossy().to_string();
        let Ok(pid_n) = pid.parse::<i32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // The fields after the command's closing parenthesis: state, ppid, ...
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1));
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let agent = cmd.split(|b| *b == 0).any(|a| a == b"__agent");
        if ppid == Some(me.as_str()) && agent {
            // SAFETY: kill(2) on a process group this process created.
            unsafe { libc::kill(-pid_n, libc::SIGKILL) };
        }
    }
}

/// The model's run of a case: its report, or the panic that ended it; and the shadow's word.
struct ModelRun {
    report: Option<Report>,
    panic: Option<(String, String)>,
    mismatch: Option<crate::shadow::Mismatch>,
    violation: Option<String>,
    host_unfit: Option<String>,
}

fn run_model(sc: &mmlab_scenario::ast::Scenario) -> ModelRun {
    quiet_panics();
    let mut b = Shadow::new(ModelBackend::default());
    let r = catch_unwind(AssertUnwindSafe(|| run(sc, &mut b)));
    let (report, panic) = match r {
        Ok(rep) => (Some(rep), None),
        Err(p) => (None, Some(panic_text(p.as_ref()))),
    };
    ModelRun {
        report,
        panic,
        mismatch: b.mismatches.first().cloned(),
        violation: b.violation.clone(),
        host_unfit: b.host_unfit.clone(),
    }
}

/// The first line where the two backends disagree unexplained.
fn first_divergence(diffs: &[LineDiff]) -> Option<&LineDiff> {
    diffs
        .iter()
        .find(|d| d.model_ok != d.host_ok && d.known.is_none())
}

/// Judge the case `text` (named `name` in reports) on the model, and on `host` if given.
pub fn judge<H: Backend>(text: &str, name: &str, host: Option<&mut H>) -> Outcome {
    let sc = match parse(text, Path::new(name)) {
        Ok(sc) => sc,
        Err(e) => {
            return Outcome {
                finding: Some(Finding {
                    kind: Kind::Replay,
                    signature: "replay: the case does not parse".into(),
                    detail: e.to_string(),
                    line: Some(e.line),
                }),
                host_skip: None,
            }
        }
    };
    let m = run_model(&sc);
    let finding = if let Some((at, msg)) = m.panic {
        Some(Finding {
            kind: Kind::Panic,
            signature: format!("panic at {at}: {}", normalise(&msg)),
            detail: format!("the model panicked at {at}: {msg}"),
            line: None,
        })
    } else if let Some(v) = m.violation {
        let line = m
            .report
            .as_ref()
            .and_then(|r| r.failures.last())
            .map(|f| f.line);
        Some(Finding {
            kind: Kind::Violation,
            signature: format!("violation: {}", normalise(&v)),
            detail: v,
            line,
        })
    } else if let Some(mm) = m.mismatch {
        Some(Finding {
            kind: Kind::Shadow,
            signature: format!("shadow: {}", mm.kind),
            detail: mm.what,
            line: m
                .report
                .as_ref()
                .and_then(|r| r.failures.first())
                .map(|f| f.line),
        })
    } else {
        m.report
            .as_ref()
            .and_then(|r| r.failures.first())
            .map(|f| Finding {
                kind: Kind::Replay,
                // The observation without its first word (often a task or variable name).
                signature: format!(
                    "replay: {} / {}",
                    shape(&f.expected),
                    normalise(f.observed.split_once(' ').map_or("", |x| x.1))
                ),
                detail: format!(
                    "line {}: expected {}, observed {}",
                    f.line, f.expected, f.observed
                ),
                line: Some(f.line),
            })
    };
    if finding.is_some() {
        return Outcome {
            finding,
            host_skip: None,
        };
    }
    let (Some(host), Some(model)) = (host, m.report) else {
        return Outcome::default();
    };
    if let Some(why) = m.host_unfit {
        // The host would run it over its own program and libraries, or place its mappings
        // where ASLR decides (the generator avoids both; a shrunk candidate may not).
        return Outcome {
            finding: Some(Finding {
                kind: Kind::Replay,
                signature: "replay: the case is not fit for the host".into(),
                detail: why,
                line: None,
            }),
            host_skip: None,
        };
    }
    let watchdog = Watchdog::start(HOST_DEADLINE);
    let h = run(&sc, host);
    if watchdog.stop() {
        let at = h.failures.first();
        return Outcome {
            finding: Some(Finding {
                kind: Kind::Hang,
                signature: format!(
                    "hang: the host did not finish within {} s",
                    HOST_DEADLINE.as_secs()
                ),
                detail: format!(
                    "the host run was ended after {} s; it stopped at {}",
                    HOST_DEADLINE.as_secs(),
                    at.map_or("no line".into(), |f| format!(
                        "line {}: expected {}, observed {}",
                        f.line, f.expected, f.observed
                    ))
                ),
                line: at.map(|f| f.line),
            }),
            host_skip: None,
        };
    }
    if h.status == Status::Skip {
        return Outcome {
            finding: None,
            host_skip: h.skip_reason,
        };
    }
    // A generated case is no file the known-divergences list could name: every difference
    // counts, and each is looked at (docs/fuzzing.md says where they are written up).
    let (verdict, diffs) = compare(&model, &h, &[]);
    if verdict != Verdict::Diverge {
        return Outcome::default();
    }
    let Some(d) = first_divergence(&diffs) else {
        return Outcome::default();
    };
    let model_says = d.model.clone().unwrap_or_else(|| "no failure".into());
    let host_says = d.host.clone().unwrap_or_else(|| "no failure".into());
    Outcome {
        finding: Some(Finding {
            kind: Kind::Divergence,
            signature: format!(
                "divergence: {} (model: {}, host: {})",
                shape(&d.expected),
                observed_kind(d.model.as_ref()),
                observed_kind(d.host.as_ref())
            ),
            detail: format!(
                "line {}: expected {}; model: {model_says}; host: {host_says}",
                d.line, d.expected
            ),
            line: Some(d.line),
        }),
        host_skip: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_drop_names_and_values() {
        assert_eq!(
            shape("pagemap(p1 + 2 * PAGE_SIZE).present == 1"),
            "pagemap.present =="
        );
        assert_eq!(
            shape("munmap(p1, PAGE_SIZE) fails EINVAL"),
            "munmap fails EINVAL"
        );
        assert_eq!(
            shape("store(p2, 0x11) faults SIGSEGV"),
            "store faults SIGSEGV"
        );
        assert_eq!(
            shape("vmstat(thp_fault_alloc) - v1 >= 1"),
            "vmstat(thp_fault_alloc) >="
        );
        assert_eq!(shape("minflt() - f1 == 3"), "minflt ==");
        assert_eq!(shape("m3.address == p1 + PAGE_SIZE"), "msg.address ==");
        assert_eq!(shape("every byte of mem(p1, PAGE_SIZE) == 0x11"), "mem ==");
        assert_eq!(
            shape("mmap(NULL, PAGE_SIZE, 0, 0, -1, 0) to succeed"),
            "mmap to succeed"
        );
        assert_eq!(shape("load(p1) blocks"), "load blocks");
    }

    #[test]
    fn normalise_hides_numbers() {
        assert_eq!(normalise("pfn 0x1a2b at 17"), "pfn # at #");
    }
}
