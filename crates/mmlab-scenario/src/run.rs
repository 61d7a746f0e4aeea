//! Running a parsed scenario on a backend: evaluate steps in file order, check expectations,
//! keep one aggregate per expectation line (so a line run a million times costs no more memory
//! than a line run once), and stop at the step or memory budget.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::time::Instant;

use mmlab::{Errno, Signal};

use crate::ast::*;
use crate::backend::*;
use crate::lang::{self, RecordKind};
use crate::observe::{Context, MapsLine, Number, Observed, PageLine};
use crate::syscalls;
use crate::sysfs::FileValue;

/// log2 of the page size: `fill_pages` counts pages.
const PAGE_SHIFT: u32 = 12;

/// An expectation line's verdict: the first failed observation there (with the state around
/// its address), or the step that ended the scenario.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Failure {
    pub line: usize,
    pub expected: String,
    /// What was seen, as text (`Observed`'s rendering).
    pub observed: String,
    /// What was seen, typed.
    pub value: Observed,
    /// How many times the line failed (a line inside `repeat` runs many times).
    pub count: u64,
    /// This step ended the scenario (an unexpected error, a budget).
    pub ended: bool,
    /// The VMAs and page-table entries around the address the expectation looked at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<Context>,
}

/// Every evaluation of one expectation line, aggregated.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LineResult {
    pub line: usize,
    pub expected: String,
    /// How many times the line was evaluated, and how many of those did not hold.
    pub runs: u64,
    pub failed: u64,
    /// The first observation.
    pub first: Observed,
    /// The first observation that did not hold.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<Observed>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<Context>,
    /// A digest of every observation in order: two backends saw the same values at this line
    /// when runs, failures and digests are equal.
    #[serde(skip)]
    pub digest: u64,
    /// The scenario ended at this line.
    pub ended: bool,
}

/// How a scenario ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    Skip,
    /// The scenario could not be run as a test: a file that cannot be read or does not parse,
    /// or a step or memory budget exceeded.
    Error,
}

/// The verdict on one scenario.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Report {
    pub path: String,
    pub title: String,
    pub backend: &'static str,
    pub status: Status,
    pub skip_reason: Option<String>,
    /// Why the scenario is an error (status `error`): `file:line:col: message`.
    pub error: Option<String>,
    /// The lines that did not hold, in line order; the step that ended the scenario last.
    pub failures: Vec<Failure>,
    /// Every expectation line evaluated, in line order.
    pub lines: Vec<LineResult>,
    /// Lines this backend skipped: on a host, the steps that call a `model.*` probe or use a
    /// variable such a step bound.
    pub skipped_lines: Vec<usize>,
    /// Expectations evaluated (a line inside `repeat` counts once per pass).
    pub expectations: u64,
    /// Steps run.
    pub steps: u64,
    pub micros: u128,
    /// With tracing on, each statement run and the kernel's trace events it caused (written
    /// by `mmlab run --trace FILE`, not part of the report's JSON).
    #[serde(skip)]
    pub trace: Vec<TraceStep>,
}

/// One statement run, with the trace events it caused.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TraceStep {
    /// The statement's line (0: the setup before the first one).
    pub line: usize,
    /// The statement, written back (`P: store(p, 1)`).
    pub step: String,
    pub events: Vec<mmlab::trace::Event>,
}

impl Report {
    /// An empty report of a scenario about to run.
    pub fn new(path: &str, title: &str, backend: &'static str) -> Report {
        Report {
            path: path.to_string(),
            title: title.to_string(),
            backend,
            status: Status::Pass,
            skip_reason: None,
            error: None,
            failures: vec![],
            lines: vec![],
            skipped_lines: vec![],
            expectations: 0,
            steps: 0,
            micros: 0,
            trace: vec![],
        }
    }
}

/// How much one scenario may use: steps (each step and each pass of a `repeat` count one)
/// and memory (growth of this process's resident set while the scenario runs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub max_steps: u64,
    pub max_memory: u64,
}

impl Limits {
    /// The default step budget: far above any bundled scenario (the largest runs a few
    /// hundred steps), low enough that a runaway `repeat` is refused at once.
    pub const DEFAULT_STEPS: u64 = 1_000_000;
    /// The default memory budget: room for the model's default 4 GiB of simulated memory
    /// to be half written.
    pub const DEFAULT_MEMORY: u64 = 2 << 30;
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_steps: Limits::DEFAULT_STEPS,
            max_memory: Limits::DEFAULT_MEMORY,
        }
    }
}

/// Nanoseconds per millisecond.
const NSEC_PER_MSEC: u64 = 1_000_000;

/// How often `expect ... within MS` evaluates its comparison: every millisecond (of the
/// model's virtual time, or of the host's).
const POLL_NS: u64 = NSEC_PER_MSEC;

/// Why evaluation stopped early: the line, what was expected, what happened.
struct Stop(Pos, String, Observed);

type Flow<T> = Result<T, Stop>;

/// A value during evaluation: a number or a record with named fields.
#[derive(Clone, Debug)]
enum Value {
    Num(u64, Radix),
    Record {
        kind: &'static RecordKind,
        raw: Option<u64>,
        fields: Vec<(&'static str, u64)>,
    },
    /// A sysfs file's choice or words, or a string literal compared with them.
    Text(String),
}

/// What a sleeping task was doing; `wait()` collects it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pending {
    Access,
    Syscall,
    Fork,
}

/// A memory access (or `wait()`, which finishes one): its value is a byte, or a signal.
fn is_access(e: &Expr) -> bool {
    matches!(e.as_call(), Some((f, _)) if lang::call_spec(f).is_some_and(|c| c.kind == lang::CallKind::Access))
}

/// A syscall (or fork) call, as `expect ... blocks` takes it.
fn is_syscall(e: &Expr) -> bool {
    matches!(e.as_call(), Some((f, _)) if f == "fork" || lang::call_spec(f).is_some_and(|c| c.kind == lang::CallKind::Syscall))
}

/// A uffd_msg's fields by its event (uffd_msg.arg's union members).
fn msg_fields(m: &UffdMsg) -> Vec<(&'static str, u64)> {
    use mmlab::uapi::userfaultfd::*;
    let [a, b, c] = m.arg;
    let mut f = vec![("event", m.event)];
    match m.event {
        UFFD_EVENT_PAGEFAULT => f.extend([("flags", a), ("address", b), ("ptid", c & 0xffff_ffff)]),
        UFFD_EVENT_FORK => f.push(("ufd", a & 0xffff_ffff)),
        UFFD_EVENT_REMAP => f.extend([("from", a), ("to", b), ("len", c)]),
        _ => f.extend([("start", a), ("end", b)]),
    }
    f
}

/// `wait()` is the one step a task asleep in handle_userfault() may take.
fn is_wait(a: &Action) -> bool {
    let call = match a {
        Action::Do(e)
        | Action::Assign(_, e)
        | Action::Faults(e, _, _)
        | Action::Blocks(e)
        | Action::Fails(e, _) => e,
        Action::Compare(e, _, _) => e,
        _ => return false,
    };
    matches!(call.as_call(), Some(("wait", [])))
}

struct Runner<'a, B: Backend> {
    b: &'a mut B,
    vars: HashMap<String, Value>,
    tasks: HashMap<String, TaskId>,
    /// Tasks asleep (in handle_userfault(), or until their userfaultfd events are read), with
    /// the line of the step and what it was.
    asleep: HashMap<TaskId, (usize, Pending)>,
    lines: BTreeMap<usize, LineResult>,
    /// The first address the current step's expectation looked at, for the failure context.
    addr_hint: Option<u64>,
    limits: Limits,
    /// The resident set when the scenario started (None where it cannot be read).
    rss_start: Option<u64>,
    /// When the resident set was last read: at most once a millisecond, so that the check
    /// costs nothing next to the steps (a step between two reads is the most it can overshoot).
    rss_checked: Instant,
    steps: u64,
    expectations: u64,
    /// The statements run with their trace events, if the backend traces.
    trace: Option<Vec<TraceStep>>,
    /// On a backend without model probes: the variables the skipped steps would have bound,
    /// and the lines skipped.
    skipped_vars: std::collections::HashSet<String>,
    skipped_lines: std::collections::BTreeSet<usize>,
}

fn stop(pos: Pos, expected: impl Into<String>, observed: impl Into<String>) -> Stop {
    Stop(pos, expected.into(), Observed::message(observed))
}

/// This process's resident set in bytes, from /proc/self/status.
fn resident_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb = s.lines().find_map(|l| l.strip_prefix("VmRSS:"))?;
    kb.trim()
        .trim_end_matches("kB")
        .trim()
        .parse::<u64>()
        .ok()
        .map(|k| k << 10)
}

/// A size for messages: `512 MiB`.
fn mib(bytes: u64) -> String {
    format!("{} MiB", bytes >> 20)
}

/// Run one scenario on `b` with the default limits.
pub fn run<B: Backend>(sc: &Scenario, b: &mut B) -> Report {
    run_with(sc, b, Limits::default())
}

/// The machine settings a scenario asks for.
pub fn setup_of(sc: &Scenario) -> Setup {
    Setup {
        profile: sc.profile.clone(),
        memory: sc.memory,
        cpus: sc.cpus,
        numa: sc.numa,
        fault_around_bytes: sc.fault_around_bytes,
        hugepages: sc.hugepages,
        thp: sc.thp.clone(),
        features: sc.features.clone(),
        arch: sc.arch.clone(),
        files: sc.files,
        // Only the model has the other architectures' codecs: an `arch` line makes the
        // scenario model-only, as a `feature` line does.
        model_only: sc
            .model_only
            .clone()
            .or_else(|| {
                sc.arch.as_ref().map(|a| {
                    format!("arch {a}: other architectures' swap PTEs exist only as model codecs")
                })
            })
            .or_else(|| {
                sc.numa
                    .filter(|&n| n > 1)
                    .map(|n| format!("numa {n}: this host has one NUMA node"))
            })
            .or_else(|| {
                let v1 = sc.features.iter().any(|(n, on)| n == "cgroup_v1" && *on);
                (!v1).then(|| first_cgroup_step(&sc.body)).flatten()
            }),
        sysfs_writes: sysfs_writes(&sc.body),
        swap: sc.swap.clone(),
        swap_paths: swap_paths(&sc.body),
    }
}

/// Run one scenario on `b`: refused at once if it would run more steps than the budget; ended
/// with an error at the step after which this process holds more memory than the budget.
pub fn run_with<B: Backend>(sc: &Scenario, b: &mut B, limits: Limits) -> Report {
    let start = Instant::now();
    let mut report = Report::new(&sc.path.display().to_string(), &sc.title, b.name());
    let total = crate::check::step_count(&sc.body);
    if total > limits.max_steps {
        // Name the top-level statement that takes the count over the budget.
        let mut used = 0u64;
        let s = sc
            .body
            .iter()
            .find(|s| {
                used = used.saturating_add(crate::check::stmt_steps(s));
                used > limits.max_steps
            })
            .expect("the steps add up to the total");
        report.status = Status::Error;
        report.error = Some(format!(
            "{}:{}: this scenario would run {} steps (a `repeat` pass counts one), more than the step budget of {} (--max-steps)",
            report.path,
            s.pos.line,
            if total == u64::MAX { "more than 2^64".to_string() } else { total.to_string() },
            limits.max_steps
        ));
        return report;
    }
    if let Err(Skip(reason)) = b.prepare(&setup_of(sc)) {
        report.status = Status::Skip;
        report.skip_reason = Some(reason);
        return report;
    }
    // Events of the setup (the header's knobs and pool) come before the first statement.
    let trace = b.take_trace().map(|events| {
        if events.is_empty() {
            vec![]
        } else {
            vec![TraceStep {
                line: 0,
                step: "(setup: the header's settings)".into(),
                events,
            }]
        }
    });
    let mut r = Runner {
        b,
        vars: HashMap::new(),
        tasks: HashMap::new(),
        asleep: HashMap::new(),
        lines: BTreeMap::new(),
        addr_hint: None,
        limits,
        rss_start: resident_bytes(),
        rss_checked: Instant::now(),
        steps: 0,
        expectations: 0,
        trace,
        skipped_vars: Default::default(),
        skipped_lines: Default::default(),
    };
    let ended = r.block(&sc.body);
    let torn = r.b.teardown();
    if let Err(Stop(pos, expected, observed)) = ended {
        let budget =
            matches!(&observed, Observed::Message { text } if text.starts_with("memory budget"));
        if budget {
            report.error = Some(format!("{}:{}: {observed}", report.path, pos.line));
        }
        r.record(pos, false, expected, observed);
        r.lines.get_mut(&pos.line).expect("just recorded").ended = true;
        if budget {
            report.status = Status::Error;
        }
    }
    if let Err(m) = torn {
        // The machine is not as the scenario found it: whatever the scenario saw, the run
        // went wrong.
        let m = format!("{}: after the scenario: {m}", report.path);
        report.error = Some(match report.error.take() {
            Some(e) => format!("{e}; {m}"),
            None => m,
        });
        report.status = Status::Error;
    }
    report.expectations = r.expectations;
    report.steps = r.steps;
    report.trace = r.trace.unwrap_or_default();
    report.lines = r.lines.into_values().collect();
    report.skipped_lines = r.skipped_lines.into_iter().collect();
    let mut failures: Vec<Failure> = report
        .lines
        .iter()
        .filter_map(|l| {
            let value = l.failure.clone()?;
            Some(Failure {
                line: l.line,
                expected: l.expected.clone(),
                observed: value.to_string(),
                value,
                count: l.failed,
                ended: l.ended,
                context: l.context.clone(),
            })
        })
        .collect();
    // The step that ended the scenario is the last thing that happened.
    failures.sort_by_key(|f| f.ended);
    report.failures = failures;
    if report.status == Status::Pass && !report.failures.is_empty() {
        report.status = Status::Fail;
    }
    report.micros = start.elapsed().as_micros();
    report
}

impl<B: Backend> Runner<'_, B> {
    fn block(&mut self, body: &[Stmt]) -> Flow<()> {
        for s in body {
            self.steps += 1;
            if let StmtKind::Repeat { count, var, body } = &s.kind {
                for pass in 0..*count {
                    self.steps += 1;
                    if let Some(v) = var {
                        let i = v.start.wrapping_add(pass);
                        self.vars.insert(v.name.clone(), Value::Num(i, Radix::Dec));
                    }
                    self.block(body)?;
                }
            } else {
                let r = self.stmt(s);
                self.trace_step(s);
                r?;
            }
            self.memory_budget(s.pos)?;
        }
        Ok(())
    }

    /// One `process` line or step.
    fn stmt(&mut self, s: &Stmt) -> Flow<()> {
        match &s.kind {
            StmtKind::Process { name, cpu } => {
                self.fresh_task_name(name, s.pos)?;
                let t = self.b.spawn_process(*cpu).map_err(|e| {
                    Stop(
                        s.pos,
                        format!("process {name} on cpu {cpu}"),
                        Observed::errno(e),
                    )
                })?;
                self.tasks.insert(name.clone(), t);
            }
            StmtKind::Repeat { .. } => unreachable!("block() runs repeats"),
            StmtKind::Step { task, action } => {
                let t = *self.tasks.get(task).ok_or_else(|| {
                    stop(
                        s.pos,
                        format!("a task named `{task}`"),
                        "no such task (it exited or was killed, or was never declared)",
                    )
                })?;
                if let Some((line, _)) = self.asleep.get(&t) {
                    if !is_wait(action) {
                        return Err(stop(s.pos, format!("{task} to be awake (only `{task}: wait()` may follow its sleeping access)"), format!("{task} sleeps in handle_userfault() since line {line}")));
                    }
                }
                if !self.b.runs_model_probes() && self.needs_model(action) {
                    if let Action::Assign(name, _) = action {
                        self.skipped_vars.insert(name.clone());
                    }
                    self.skipped_lines.insert(s.pos.line);
                    return Ok(());
                }
                self.addr_hint = None;
                self.step(t, s.pos, action)?;
                for gone in self.b.end_step() {
                    self.tasks.retain(|_, v| *v != gone);
                    self.asleep.remove(&gone);
                }
                self.b.check().map_err(|v| {
                    stop(s.pos, "the model's invariants to hold after this step", v)
                })?;
            }
        }
        Ok(())
    }

    /// With tracing on: the events the statement caused, under it.
    fn trace_step(&mut self, s: &Stmt) {
        if let Some(trace) = self.trace.as_mut() {
            trace.push(TraceStep {
                line: s.pos.line,
                step: show_stmt(s),
                events: self.b.take_trace().unwrap_or_default(),
            });
        }
    }

    /// Stop once this process has grown by more than the memory budget since the start.
    fn memory_budget(&mut self, pos: Pos) -> Flow<()> {
        if self.rss_checked.elapsed() < std::time::Duration::from_millis(1) {
            return Ok(());
        }
        self.rss_checked = Instant::now();
        let (Some(start), Some(now)) = (self.rss_start, resident_bytes()) else {
            return Ok(());
        };
        let grown = now.saturating_sub(start);
        if grown > self.limits.max_memory {
            return Err(stop(
                pos,
                "the scenario to stay within its memory budget",
                format!(
                    "memory budget exceeded: the runner grew by {} by this step, more than {} (--max-memory)",
                    mib(grown),
                    mib(self.limits.max_memory)
                ),
            ));
        }
        Ok(())
    }

    fn fresh_task_name(&self, name: &str, pos: Pos) -> Flow<()> {
        if self.tasks.contains_key(name) {
            return Err(stop(
                pos,
                format!("a new task name, but `{name}` is taken"),
                "duplicate task",
            ));
        }
        Ok(())
    }

    fn step(&mut self, t: TaskId, pos: Pos, action: &Action) -> Flow<()> {
        match action {
            Action::Do(e) => {
                self.eval(t, e)?;
            }
            Action::Assign(name, e) => {
                if let Some((f, args)) = e.as_call() {
                    if f == "wait"
                        && args.is_empty()
                        && self.asleep.get(&t).map(|p| p.1) == Some(Pending::Fork)
                    {
                        self.fresh_task_name(name, pos)?;
                        let child = match self.b.finish_syscall(t) {
                            None => {
                                return Err(stop(
                                    pos,
                                    "the blocked fork() to have returned",
                                    "the task still sleeps until its FORK event is read",
                                ))
                            }
                            Some(r) => r.map_err(|er| {
                                Stop(pos, "fork() to succeed".into(), Observed::errno(er))
                            })?,
                        };
                        self.asleep.remove(&t);
                        self.tasks.insert(name.clone(), child as TaskId);
                        return Ok(());
                    }
                    if f == "fork" || f == "thread" {
                        self.fresh_task_name(name, pos)?;
                        let new = if f == "fork" {
                            self.arity(e, args, 0)?;
                            let r = self.b.fork(t);
                            self.no_sleep(t, e)?;
                            r
                        } else {
                            self.arity(e, args, 1)?;
                            let cpu = self.num(t, &args[0])?;
                            self.b.thread(t, cpu.value as usize)
                        };
                        let new = new.map_err(|er| {
                            Stop(pos, format!("{f}() to succeed"), Observed::errno(er))
                        })?;
                        self.tasks.insert(name.clone(), new);
                        return Ok(());
                    }
                }
                if lang::constant(name).is_some() {
                    return Err(stop(
                        pos,
                        format!("a variable name, but `{name}` is a constant"),
                        "assignment to a constant",
                    ));
                }
                // A record (a uffd_msg, pagemap, smaps) keeps its fields: `m.address`.
                let v = self.eval(t, e)?;
                self.vars.insert(name.clone(), v);
            }
            Action::Compare(a, op, bx) => {
                // The source text, so the same expectation reads the same on every backend.
                let expected = format!("{} {} {}", show(a), op.symbol(), show(bx));
                let (ok, observed) = self.comparison(t, a, *op, bx)?;
                self.check_result(t, pos, ok, expected, observed);
            }
            Action::Within(a, op, bx, ms) => {
                let expected = format!(
                    "{} {} {} within {}",
                    show(a),
                    op.symbol(),
                    show(bx),
                    show_ms(ms)
                );
                let ms = self.wait_ms(t, ms)?;
                let deadline = self.b.now_ns().saturating_add(ms * NSEC_PER_MSEC);
                loop {
                    let (ok, observed) = self.comparison(t, a, *op, bx)?;
                    let now = self.b.now_ns();
                    if ok || now >= deadline {
                        self.check_result(t, pos, ok, expected, observed);
                        break;
                    }
                    self.b.sleep(POLL_NS.min(deadline - now));
                }
            }
            Action::Mem { addr, len, byte }
                if byte
                    .as_call()
                    .is_some_and(|(f, _)| ["fill", "fill_pages", "mem"].contains(&f)) =>
            {
                self.mem_compare(t, pos, (addr, len), byte)?;
            }
            Action::Mem { addr, len, byte } => {
                let (a, l, v) = (
                    self.num(t, addr)?.value,
                    self.num(t, len)?.value,
                    self.num(t, byte)?,
                );
                let v = self.byte_value(byte.pos, v)?;
                self.addr_hint = Some(a);
                let expected = format!(
                    "every byte of mem({}, {}) == {:#04x}",
                    show(addr),
                    show(len),
                    v
                );
                let byte = |b: u8| Number::new(b.into(), Radix::Byte);
                match self.b.mismatch(t, a, l, v) {
                    Ok(None) => self.check_result(
                        t,
                        pos,
                        true,
                        expected,
                        Observed::AllBytes { byte: byte(v) },
                    ),
                    Ok(Some((at, got))) => {
                        self.addr_hint = Some(at);
                        self.check_result(
                            t,
                            pos,
                            false,
                            expected,
                            Observed::ByteAt {
                                offset: Number::new(at - a, Radix::Hex),
                                byte: byte(got),
                            },
                        )
                    }
                    Err(sig) => self.check_result(t, pos, false, expected, Observed::signal(sig)),
                }
            }
            Action::Fails(call, errno) => {
                let want = Errno::from_name(errno)
                    .ok_or_else(|| stop(pos, "a known errno name", format!("`{errno}`")))?;
                let Some((f, args)) = call.as_call() else {
                    return Err(stop(pos, "a syscall before `fails`", show(call)));
                };
                let expected = format!("{} fails {}", show(call), want.name());
                let r = if f == "uffd_read" {
                    self.uffd_read(t, call, args)?.map(|m| Value::Record {
                        kind: &lang::UFFD_MSG,
                        raw: None,
                        fields: msg_fields(&m),
                    })
                } else if let Some(r) = self.record_call(t, call, f, args)? {
                    r
                } else if f == "wait" && args.is_empty() {
                    self.finish_blocked_syscall(t, call)?
                        .map(|v| Value::Num(v, Radix::Auto))
                } else if f == "sysfs_read" || f == "sysfs_write" {
                    self.sysfs(t, call, f, args)?
                } else if let ("pagemap", [addr]) = (f, args) {
                    let addr = self.num(t, addr)?.value;
                    self.pagemap_entry(t, addr)
                } else {
                    let radix = ret_radix(f);
                    self.syscall(t, call, f, args)?
                        .map(|v| Value::Num(v, radix))
                };
                self.no_sleep(t, call)?;
                match r {
                    Err(got) => {
                        self.check_result(t, pos, got == want, expected, Observed::errno(got))
                    }
                    Ok(Value::Num(v, radix)) => self.check_result(
                        t,
                        pos,
                        false,
                        expected,
                        Observed::Returned {
                            value: Number::new(v, radix),
                        },
                    ),
                    Ok(Value::Record { fields, .. }) => self.check_result(
                        t,
                        pos,
                        false,
                        expected,
                        Observed::Record {
                            fields: fields
                                .into_iter()
                                .map(|(k, v)| (k, Number::new(v, lang::field_radix(k))))
                                .collect(),
                        },
                    ),
                    Ok(Value::Text(text)) => {
                        self.check_result(t, pos, false, expected, Observed::ReturnedText { text })
                    }
                }
            }
            Action::Faults(access, sig, code) => {
                let want = lang::signal(sig)
                    .ok_or_else(|| stop(pos, lang::SIGNALS.join(" or "), format!("`{sig}`")))?;
                let mut expected = format!("{} faults {}", show(access), want.name());
                if let Some(c) = code {
                    expected = format!("{expected} {c}");
                }
                match self.access(t, access)? {
                    Err(got) => {
                        let (ok, observed) = match code {
                            None => (got == want, Observed::signal(got)),
                            Some(c) => {
                                let want_code = lang::si_code(sig, c);
                                let got_code = self.b.si_code(t);
                                let code_name =
                                    got_code.map_or("none", |v| lang::si_code_name(got.name(), v));
                                (
                                    got == want && got_code.is_some() && got_code == want_code,
                                    Observed::SignalCode {
                                        name: got.name(),
                                        code: code_name,
                                    },
                                )
                            }
                        };
                        self.check_result(t, pos, ok, expected, observed)
                    }
                    Ok(_) => self.check_result(t, pos, false, expected, Observed::NoFault),
                }
            }
            Action::Blocks(call) if is_syscall(call) => {
                let expected = format!("{} blocks", show(call));
                let Some((f, args)) = call.as_call() else {
                    unreachable!("is_syscall() checked")
                };
                self.b.expect_block(true);
                let (kind, r) = if f == "fork" {
                    self.arity(call, args, 0)?;
                    (Pending::Fork, self.b.fork(t).map(|c| c as u64))
                } else {
                    let r = self.syscall(t, call, f, args);
                    self.b.expect_block(false);
                    (Pending::Syscall, r?)
                };
                self.b.expect_block(false);
                if self.b.sleeping(t) {
                    self.asleep.insert(t, (pos.line, kind));
                    self.check_result(
                        t,
                        pos,
                        true,
                        expected,
                        Observed::Sleeps {
                            until: "until its userfaultfd events are read",
                        },
                    );
                } else {
                    let got = match r {
                        Ok(v) => Observed::Returned {
                            value: Number::new(v, ret_radix(f)),
                        },
                        Err(er) => Observed::errno(er),
                    };
                    self.check_result(t, pos, false, expected, got);
                }
            }
            Action::Blocks(access) => {
                let expected = format!("{} blocks", show(access));
                self.b.expect_block(true);
                let r = self.access(t, access);
                self.b.expect_block(false);
                match r? {
                    Err(Signal::Userfault) => self.check_result(
                        t,
                        pos,
                        true,
                        expected,
                        Observed::Sleeps {
                            until: "in handle_userfault()",
                        },
                    ),
                    Err(sig) => self.check_result(t, pos, false, expected, Observed::signal(sig)),
                    Ok(v) => self.check_result(
                        t,
                        pos,
                        false,
                        expected,
                        Observed::Returned {
                            value: Number::new(v, Radix::Byte),
                        },
                    ),
                }
            }
        }
        Ok(())
    }

    /// Evaluate `A OP B`: whether it holds and what both sides were. A side that is an access
    /// and raises a signal is the observation (the expectation fails, the task survives).
    fn comparison(&mut self, t: TaskId, a: &Expr, op: CmpOp, b: &Expr) -> Flow<(bool, Observed)> {
        let (x, y) = match (self.operand(t, a)?, self.operand(t, b)?) {
            (Ok(x), Ok(y)) => (x, y),
            (Err(sig), _) | (_, Err(sig)) => return Ok((false, Observed::signal(sig))),
        };
        let right_literal = matches!(b.kind, ExprKind::Num(..) | ExprKind::Str(_));
        // A file the check pass typed as text (a cgroup tunable that may read `max`) may hold
        // a number when read: against text it compares as its decimal text.
        let read = |e: &Expr| e.as_call().is_some_and(|(f, _)| f == "sysfs_read");
        let (x, y) = match (x, y) {
            (Value::Num(n, _), Value::Text(r)) if read(a) => {
                (Value::Text(n.to_string()), Value::Text(r))
            }
            (Value::Text(l), Value::Num(n, _)) if read(b) => {
                (Value::Text(l), Value::Text(n.to_string()))
            }
            other => other,
        };
        match (x, y) {
            (Value::Text(left), Value::Text(right)) => {
                let ok = match op {
                    CmpOp::Eq => left == right,
                    CmpOp::Ne => left != right,
                    _ => return Err(stop(b.pos, "`==` or `!=` between texts", op.symbol())),
                };
                Ok((
                    ok,
                    Observed::Text {
                        left,
                        right,
                        right_literal,
                    },
                ))
            }
            (x, y) => {
                let (x, y) = (self.number(a, x)?, self.number(b, y)?);
                Ok((
                    op.holds(x.value, y.value),
                    Observed::Compare {
                        left: x,
                        right: y,
                        right_literal,
                    },
                ))
            }
        }
    }

    /// A time in ms (`sleep(MS)`, `within MS`), at most `lang::MAX_WAIT_MS`.
    fn wait_ms(&mut self, t: TaskId, e: &Expr) -> Flow<u64> {
        let ms = self.num(t, e)?.value;
        if ms > lang::MAX_WAIT_MS {
            return Err(stop(
                e.pos,
                format!("at most {} ms (one hour)", lang::MAX_WAIT_MS),
                format!("{ms} ms"),
            ));
        }
        Ok(ms)
    }

    /// The pagemap entry of `addr` as a record, or the read's errno (EIO at or past TASK_SIZE,
    /// where pagemap_read() returns no bytes).
    fn pagemap_entry(&mut self, t: TaskId, addr: u64) -> Result<Value, Errno> {
        let raw = self.b.pagemap(t, addr)?;
        Ok(Value::Record {
            kind: &lang::PAGEMAP,
            raw: Some(raw),
            fields: lang::PAGEMAP_FIELDS
                .iter()
                .map(|&(name, bit, width)| (name, raw >> bit & ((1u64 << width) - 1)))
                .collect(),
        })
    }

    /// sysfs_read("PATH") (the file's value: a number or text) or sysfs_write("PATH", VALUE)
    /// (0; a number is written in decimal), or the errno.
    fn sysfs(&mut self, t: TaskId, e: &Expr, f: &str, args: &[Expr]) -> Flow<Result<Value, Errno>> {
        let Some(Expr {
            kind: ExprKind::Str(path),
            ..
        }) = args.first()
        else {
            return Err(stop(e.pos, format!("{f}(\"PATH\" ...)"), show(e)));
        };
        let Some(value) = args.get(1) else {
            return Ok(self
                .b
                .sysfs_read(path)
                .map(|text| match FileValue::of(&text) {
                    FileValue::Num(v) => Value::Num(v, Radix::Dec),
                    FileValue::Text(text) => Value::Text(text),
                }));
        };
        let value = match &value.kind {
            ExprKind::Str(v) => v.clone(),
            _ => self.num(t, value)?.value.to_string(),
        };
        Ok(self
            .b
            .sysfs_write(path, &value)
            .map(|()| Value::Num(0, Radix::Dec)))
    }

    /// An evaluated expectation: counted, and on its line's first failure, the state around
    /// the address it looked at.
    fn check_result(
        &mut self,
        t: TaskId,
        pos: Pos,
        ok: bool,
        expected: String,
        observed: Observed,
    ) {
        self.expectations += 1;
        let needs_context = !ok
            && self
                .lines
                .get(&pos.line)
                .is_none_or(|l| l.failure.is_none());
        self.record(pos, ok, expected, observed);
        if needs_context {
            let ctx = self.addr_hint.and_then(|a| self.context(t, a));
            self.lines
                .get_mut(&pos.line)
                .expect("just recorded")
                .context = ctx;
        }
    }

    /// Fold one observation into its line's aggregate.
    fn record(&mut self, pos: Pos, ok: bool, expected: String, observed: Observed) {
        let l = self.lines.entry(pos.line).or_insert_with(|| LineResult {
            line: pos.line,
            expected,
            runs: 0,
            failed: 0,
            first: observed.clone(),
            failure: None,
            context: None,
            digest: 0,
            ended: false,
        });
        let mut h = DefaultHasher::new();
        (l.digest, ok, &observed).hash(&mut h);
        l.digest = h.finish();
        l.runs += 1;
        if !ok {
            l.failed += 1;
            if l.failure.is_none() {
                l.failure = Some(observed);
            }
        }
    }

    /// The VMAs around `addr` (the one holding it, or the gap it is in, and one on each
    /// side) and the pagemap entries (and on the model, the raw PTEs) of the two pages on
    /// each side of it.
    fn context(&mut self, t: TaskId, addr: u64) -> Option<Context> {
        let maps = self.b.maps(t).ok()?;
        let at = maps.iter().position(|m| m.end > addr).unwrap_or(maps.len());
        let holds = maps.get(at).is_some_and(|m| m.start <= addr);
        let from = at.saturating_sub(1);
        let to = (at + if holds { 2 } else { 1 }).min(maps.len());
        let maps = maps[from..to]
            .iter()
            .map(|m| MapsLine {
                start: m.start,
                end: m.end,
                perms: format!(
                    "{}{}{}{}",
                    if m.read { 'r' } else { '-' },
                    if m.write { 'w' } else { '-' },
                    if m.exec { 'x' } else { '-' },
                    if m.shared { 's' } else { 'p' }
                ),
                offset: m.pgoff,
                name: m.name.clone(),
                text: m.line(),
            })
            .collect();
        let page = addr & !(mmlab::hw::PAGE_SIZE - 1);
        let pages = (0..5u64)
            .filter_map(|i| (page + i * mmlab::hw::PAGE_SIZE).checked_sub(2 * mmlab::hw::PAGE_SIZE))
            .filter(|a| *a < mmlab::hw::TASK_SIZE)
            .filter_map(|a| {
                let pagemap = self.b.pagemap(t, a).ok()?;
                let pte = match self.b.model_probe(t, &ModelProbe::Pte(a)) {
                    Ok(ProbeValue::Num(p)) => Some(p),
                    _ => None,
                };
                Some(PageLine {
                    addr: a,
                    pagemap,
                    pte,
                })
            })
            .collect();
        Some(Context { addr, maps, pages })
    }

    fn arity(&self, e: &Expr, args: &[Expr], n: usize) -> Flow<()> {
        if args.len() == n {
            Ok(())
        } else {
            Err(stop(
                e.pos,
                format!("{n} argument(s) for {}", show(e)),
                format!("{} given", args.len()),
            ))
        }
    }

    /// A byte argument: a value above 0xff is an error, not a silent truncation.
    fn byte_value(&self, pos: Pos, v: Number) -> Flow<u8> {
        u8::try_from(v.value)
            .map_err(|_| stop(pos, "a byte (0 to 0xff)", format!("{:#x}", v.value)))
    }

    fn num(&mut self, t: TaskId, e: &Expr) -> Flow<Number> {
        let v = self.eval(t, e)?;
        self.number(e, v)
    }

    fn eval(&mut self, t: TaskId, e: &Expr) -> Flow<Value> {
        match &e.kind {
            ExprKind::Num(v, radix) => Ok(Value::Num(*v, *radix)),
            ExprKind::Str(text) => Ok(Value::Text(text.clone())),
            ExprKind::Name(name) => {
                match self.vars.get(name).cloned().or_else(|| {
                    lang::constant(name).map(|v| Value::Num(v, lang::constant_radix(name)))
                }) {
                    Some(v) => Ok(v),
                    None => Err(stop(
                        e.pos,
                        format!("a variable or constant named `{name}`"),
                        "unknown name",
                    )),
                }
            }
            ExprKind::Neg(x) => {
                let n = self.num(t, x)?;
                Ok(Value::Num(n.value.wrapping_neg(), n.radix))
            }
            ExprKind::Not(x) => {
                let n = self.num(t, x)?;
                Ok(Value::Num(!n.value, n.radix.join(Radix::Hex)))
            }
            ExprKind::Chain(first, rest) => {
                let mut acc = self.num(t, first)?;
                for (op, rhs) in rest {
                    let y = self.num(t, rhs)?;
                    let v = op
                        .apply(acc.value, y.value)
                        .map_err(|m| stop(rhs.pos, format!("{} to have a value", show(e)), m))?;
                    // The distance between two addresses is the same on every machine.
                    let radix = match (op, acc.radix, y.radix) {
                        (BinOp::Sub, Radix::Addr, Radix::Addr) => Radix::Hex,
                        (_, a, b) => a.join(b),
                    };
                    acc = Number::new(v, radix);
                }
                Ok(Value::Num(acc.value, acc.radix))
            }
            ExprKind::Field(rec, field) => match self.eval(t, rec)? {
                Value::Record { fields, .. } => fields
                    .iter()
                    .find(|(f, _)| f == field)
                    .map(|(f, v)| Value::Num(*v, lang::field_radix(f)))
                    .ok_or_else(|| {
                        stop(
                            e.pos,
                            format!(
                                "a field of {} ({})",
                                show(rec),
                                fields.iter().map(|f| f.0).collect::<Vec<_>>().join(", ")
                            ),
                            format!("`.{field}`"),
                        )
                    }),
                Value::Num(..) | Value::Text(_) => Err(stop(
                    e.pos,
                    format!("a record before `.{field}`"),
                    format!("{} is not a record", show(rec)),
                )),
            },
            ExprKind::Call(f, args) => self.call(t, e, f, args),
        }
    }

    /// An access's value, or the signal it raised; sleeping in handle_userfault() without
    /// `expect ... blocks` is an error of the scenario.
    fn access_value(&mut self, t: TaskId, e: &Expr) -> Flow<Result<u64, Signal>> {
        match self.access(t, e)? {
            Err(Signal::Userfault) => Err(stop(
                e.pos,
                format!("{} to complete (write `expect {} blocks` for an access that sleeps in handle_userfault())", show(e), show(e)),
                "the task sleeps in handle_userfault()",
            )),
            r => Ok(r),
        }
    }

    /// An operand of `expect A OP B`: an access that raises a signal there is an observation,
    /// as with `faults` (the expectation fails, the task survives), not an error.
    fn operand(&mut self, t: TaskId, e: &Expr) -> Flow<Result<Value, Signal>> {
        if is_access(e) {
            let radix = access_radix(e);
            Ok(self.access_value(t, e)?.map(|v| Value::Num(v, radix)))
        } else {
            self.eval(t, e).map(Ok)
        }
    }

    /// A value that must be a number (a raw record reads as its number).
    fn number(&self, e: &Expr, v: Value) -> Flow<Number> {
        match v {
            Value::Num(n, radix) => Ok(Number::new(n, radix)),
            Value::Record { raw: Some(n), .. } => Ok(Number::new(n, Radix::Addr)),
            Value::Record { kind, fields, .. } => Err(stop(
                e.pos,
                format!("a number from {}; pick a field", show(e)),
                format!(
                    "a {} record with fields {}",
                    kind.name,
                    fields.iter().map(|f| f.0).collect::<Vec<_>>().join(", ")
                ),
            )),
            Value::Text(text) => Err(stop(
                e.pos,
                format!("a number from {}", show(e)),
                format!("the text {text:?}"),
            )),
        }
    }

    /// Note the first address argument a step's calls look at.
    fn hint(&mut self, f: &str, argv: &[u64]) {
        if self.addr_hint.is_none() {
            self.addr_hint = lang::address_arg(f).and_then(|i| argv.get(i).copied());
        }
    }

    fn call(&mut self, t: TaskId, e: &Expr, f: &str, args: &[Expr]) -> Flow<Value> {
        if is_access(e) {
            let radix = access_radix(e);
            return match self.access_value(t, e)? {
                Ok(v) => Ok(Value::Num(v, radix)),
                Err(sig) => Err(Stop(
                    e.pos,
                    format!("{} to succeed", show(e)),
                    Observed::signal(sig),
                )),
            };
        }
        if f == "uffd_read" {
            return match self.uffd_read(t, e, args)? {
                Ok(m) => Ok(Value::Record {
                    kind: &lang::UFFD_MSG,
                    raw: None,
                    fields: msg_fields(&m),
                }),
                Err(er) => Err(Stop(
                    e.pos,
                    format!("{} to succeed", show(e)),
                    Observed::errno(er),
                )),
            };
        }
        if let Some(r) = self.record_call(t, e, f, args)? {
            return r.map_err(|er| {
                Stop(
                    e.pos,
                    format!("{} to succeed", show(e)),
                    Observed::errno(er),
                )
            });
        }
        if let ("sleep", [ms]) = (f, args) {
            let ms = self.wait_ms(t, ms)?;
            self.b.sleep(ms * NSEC_PER_MSEC);
            return Ok(Value::Num(0, Radix::Dec));
        }
        if f == "sysfs_read" || f == "sysfs_write" {
            return self.sysfs(t, e, f, args)?.map_err(|er| {
                Stop(
                    e.pos,
                    format!("{} to succeed", show(e)),
                    Observed::errno(er),
                )
            });
        }
        if lang::call_spec(f).is_some_and(|c| c.kind == lang::CallKind::Syscall) {
            let r = self.syscall(t, e, f, args)?;
            self.no_sleep(t, e)?;
            return match r {
                Ok(v) => Ok(Value::Num(v, ret_radix(f))),
                Err(er) => Err(Stop(
                    e.pos,
                    format!("{} to succeed", show(e)),
                    Observed::errno(er),
                )),
            };
        }
        if let (
            "swaps",
            [Expr {
                kind: ExprKind::Str(name),
                ..
            }],
        ) = (f, args)
        {
            let line = self
                .b
                .swaps(name)
                .map_err(|m| stop(e.pos, format!("{} to answer", show(e)), m))?
                .ok_or_else(|| {
                    stop(
                        e.pos,
                        format!("{} to answer", show(e)),
                        format!("\"{name}\" is not swapped on (no /proc/swaps line)"),
                    )
                })?;
            return Ok(Value::Record {
                kind: &lang::SWAPS,
                raw: None,
                // In the order of lang::SWAPS_FIELDS; a negative priority wraps as C's would.
                fields: vec![
                    ("size", line.size_kb),
                    ("used", line.used_kb),
                    ("priority", line.priority as u64),
                ],
            });
        }
        if matches!(f, "meminfo" | "vmstat" | "status" | "model.counter") {
            // The argument names a counter; it is not an expression.
            let [Expr {
                kind: ExprKind::Name(name),
                ..
            }] = args
            else {
                return Err(stop(
                    e.pos,
                    format!("{f}(NAME) with a counter's name"),
                    show(e),
                ));
            };
            let v = match f {
                "meminfo" => self.b.meminfo(name),
                "vmstat" => self.b.vmstat(name),
                "status" => self.b.status(t, name),
                _ => return self.model_probe(t, e, &ModelProbe::Counter(name.clone())),
            }
            .map_err(|m| stop(e.pos, format!("{} to answer", show(e)), m))?;
            return Ok(Value::Num(v, Radix::Dec));
        }
        let argv = args
            .iter()
            .map(|a| self.num(t, a).map(|n| n.value))
            .collect::<Flow<Vec<u64>>>()?;
        self.hint(f, &argv);
        let want = |n: usize| {
            if argv.len() == n {
                Ok(())
            } else {
                Err(stop(
                    e.pos,
                    format!("{n} argument(s) for {f}()"),
                    format!("{} given", argv.len()),
                ))
            }
        };
        let probe_err = |m: String| stop(e.pos, format!("{} to answer", show(e)), m);
        match f {
            "exit" | "raise" => {
                want(1)?;
                // do_group_exit()'s code: exit_group()'s status in bits 8-15, or the signal.
                let code = match f {
                    "exit" => (argv[0] as u32 & 0xff) << 8,
                    _ => terminating_signal(argv[0]).ok_or_else(|| {
                        stop(
                            e.pos,
                            "a signal whose default action ends the process without a core dump \
                             (SIGHUP, SIGINT, SIGKILL, SIGUSR1, SIGUSR2, SIGALRM, SIGTERM)",
                            format!("{}", argv[0]),
                        )
                    })?,
                };
                self.b.exit(t, code).map_err(|er| probe_err(er.to_string()))?;
                let b = &mut *self.b;
                self.tasks.retain(|_, v| *v != t && b.minflt(*v).is_ok());
                // Every thread of the process is gone, a sleeping one too.
                let live: Vec<TaskId> = self.tasks.values().copied().collect();
                self.asleep.retain(|x, _| live.contains(x));
                Ok(Value::Num(0, Radix::Dec))
            }
            "pagemap" => {
                want(1)?;
                self.pagemap_entry(t, argv[0])
                    .map_err(|er| probe_err(er.to_string()))
            }
            "zero_pfn" => {
                want(0)?;
                Ok(Value::Num(self.b.zero_pfn(), Radix::Addr))
            }
            "minflt" => {
                want(0)?;
                Ok(Value::Num(
                    self.b.minflt(t).map_err(|er| probe_err(er.to_string()))?,
                    Radix::Dec,
                ))
            }
            "majflt" => {
                want(0)?;
                Ok(Value::Num(
                    self.b.majflt(t).map_err(|er| probe_err(er.to_string()))?,
                    Radix::Dec,
                ))
            }
            "maps" => {
                want(1)?;
                let maps = self.b.maps(t).map_err(|er| probe_err(er.to_string()))?;
                let m = maps
                    .iter()
                    .find(|m| m.start <= argv[0] && argv[0] < m.end)
                    .ok_or_else(|| probe_err(format!("no maps line holds {:#x}", argv[0])))?;
                let prot = (m.read as u64) | (m.write as u64) << 1 | (m.exec as u64) << 2;
                Ok(Value::Record {
                    kind: &lang::MAPS,
                    raw: None,
                    fields: vec![
                        ("start", m.start),
                        ("end", m.end),
                        ("prot", prot),
                        ("shared", m.shared as u64),
                    ],
                })
            }
            "smaps" => {
                want(1)?;
                let fields = self
                    .b
                    .smaps(t, argv[0])
                    .map_err(probe_err)?
                    .ok_or_else(|| probe_err(format!("no VMA holds {:#x}", argv[0])))?;
                let known = (lang::SMAPS.fields)();
                Ok(Value::Record {
                    kind: &lang::SMAPS,
                    raw: None,
                    fields: fields
                        .into_iter()
                        .filter_map(|(k, v)| known.iter().find(|f| **f == k).map(|f| (*f, v)))
                        .collect(),
                })
            }
            "vma_count" => {
                want(2)?;
                let maps = self.b.maps(t).map_err(|er| probe_err(er.to_string()))?;
                Ok(Value::Num(
                    maps.iter()
                        .filter(|m| m.start < argv[1] && m.end > argv[0])
                        .count() as u64,
                    Radix::Dec,
                ))
            }
            _ if f.starts_with("model.") => {
                let probe = match (f, argv.as_slice()) {
                    ("model.tlb_flushes", []) => ModelProbe::TlbFlushes(None),
                    ("model.tlb_flushes", [cpu]) => ModelProbe::TlbFlushes(Some(*cpu)),
                    ("model.page", [a]) => ModelProbe::Page(*a),
                    ("model.pte", [a]) => ModelProbe::Pte(*a),
                    ("model.get_page", [a]) => ModelProbe::GetPage(*a),
                    ("model.put_page", [pfn]) => ModelProbe::PutPage(*pfn),
                    ("model.dma_write", [pfn, off, byte]) => {
                        if *byte > 0xff {
                            return Err(stop(e.pos, "a byte (0 to 0xff)", format!("{byte:#x}")));
                        }
                        ModelProbe::DmaWrite {
                            pfn: *pfn,
                            off: *off,
                            byte: *byte as u8,
                        }
                    }
                    ("model.khugepaged_scan", [a]) => ModelProbe::KhugepagedScan(*a),
                    ("model.khugepaged_collapse", [a]) => ModelProbe::KhugepagedCollapse(*a),
                    ("model.swap_io_defer", [on]) => ModelProbe::SwapIoDefer(*on != 0),
                    ("model.swap_io_complete", [i]) => ModelProbe::SwapIoComplete(*i),
                    ("model.swap_io_complete_all", []) => ModelProbe::SwapIoCompleteAll,
                    ("model.swap_io_fail", [n]) => ModelProbe::SwapIoFail(*n),
                    ("model.swap_host_byte", [a]) => ModelProbe::SwapHostByte(*a),
                    ("model.fail_page_alloc", [skip, times]) => ModelProbe::FailPageAlloc {
                        skip: *skip,
                        times: *times,
                    },
                    ("model.damon_nr_regions", [kd]) => ModelProbe::DamonNrRegions(*kd),
                    ("model.damon_nr_accesses", [kd, a]) => ModelProbe::DamonNrAccesses(*kd, *a),
                    ("model.damon_aggregations", [kd]) => ModelProbe::DamonAggregations(*kd),
                    ("model.migrate_begin", [addr, node]) => ModelProbe::MigrateBegin {
                        addr: *addr,
                        node: *node,
                    },
                    ("model.migrate_end", []) => ModelProbe::MigrateEnd,
                    ("model.pin_fast_begin", [addr, nr, write]) => ModelProbe::PinFastBegin {
                        addr: *addr,
                        nr: *nr,
                        write: *write != 0,
                    },
                    ("model.pin_fast_end", []) => ModelProbe::PinFastEnd,
                    ("model.unpin_fast", []) => ModelProbe::UnpinFast,
                    _ => {
                        return Err(stop(
                            e.pos,
                            format!(
                                "a model probe ({})",
                                lang::call_names(lang::CallKind::ModelProbe).join(", ")
                            ),
                            show(e),
                        ))
                    }
                };
                self.model_probe(t, e, &probe)
            }
            _ => Err(stop(
                e.pos,
                "a known syscall, access or probe where a value is needed",
                format!("`{f}` (see the check pass: fork/thread bind tasks, mem() is only in `expect mem`)"),
            )),
        }
    }

    fn model_probe(&mut self, t: TaskId, e: &Expr, probe: &ModelProbe) -> Flow<Value> {
        let f = e.as_call().map_or("", |c| c.0);
        match self
            .b
            .model_probe(t, probe)
            .map_err(|m| stop(e.pos, format!("{} to answer", show(e)), m))?
        {
            ProbeValue::Num(v) => Ok(Value::Num(v, ret_radix(f))),
            ProbeValue::Record(fields) => Ok(Value::Record {
                kind: &lang::MODEL_PAGE,
                raw: None,
                fields,
            }),
        }
    }

    /// Make syscall `f` of the table with its arguments evaluated as its declaration says.
    fn syscall(&mut self, t: TaskId, e: &Expr, f: &str, args: &[Expr]) -> Flow<Result<u64, Errno>> {
        let def = syscalls::syscall(f).ok_or_else(|| stop(e.pos, "a syscall", format!("`{f}`")))?;
        let mut values = Vec::with_capacity(args.len());
        for (x, d) in args.iter().zip(def.args) {
            values.push(match (&x.kind, d.kind) {
                (ExprKind::Str(text), k) if k.is_string() => ArgValue::Str(text.clone()),
                (_, k) if k.is_string() => {
                    return Err(stop(x.pos, format!("a quoted `{}`", d.name), show(x)))
                }
                _ => {
                    let v = self.num(t, x)?.value;
                    if !d.only.is_empty() && !syscalls::only_values(d).contains(&v) {
                        return Err(stop(
                            x.pos,
                            format!("{f}() with `{}` one of {}", d.name, d.only.join(", ")),
                            format!("{v:#x}: only those are modelled"),
                        ));
                    }
                    ArgValue::Num(v)
                }
            });
        }
        let nums: Vec<u64> = values.iter().map(ArgValue::num).collect();
        self.hint(f, &nums);
        let call = Syscall::new(f, values).map_err(|m| stop(e.pos, def.signature(), m))?;
        Ok(self.b.syscall(t, &call))
    }

    fn access(&mut self, t: TaskId, e: &Expr) -> Flow<Result<u64, Signal>> {
        let Some((f, args)) = e.as_call() else {
            return Err(stop(
                e.pos,
                "a memory access (load, store, memset, touch, wait)",
                show(e),
            ));
        };
        let mut a = Vec::with_capacity(args.len());
        for x in args {
            a.push(self.num(t, x)?);
        }
        let raw: Vec<u64> = a.iter().map(|n| n.value).collect();
        self.hint(f, &raw);
        let access = match (f, a.as_slice()) {
            ("load", &[addr]) => Access::Load(addr.value),
            ("store", &[addr, v]) => Access::Store(addr.value, self.byte_value(args[1].pos, v)?),
            ("memset", &[addr, v, len]) => {
                Access::Memset(addr.value, self.byte_value(args[1].pos, v)?, len.value)
            }
            ("touch", &[addr, len]) => Access::Touch(addr.value, len.value),
            (f @ ("fill" | "fill_pages"), &[addr, len, seed]) => {
                let pat = Pattern {
                    seed: self.byte_value(args[2].pos, seed)?,
                    shift: if f == "fill" { 0 } else { PAGE_SHIFT },
                };
                Access::Fill(addr.value, len.value, pat)
            }
            ("wait", []) => {
                let Some(&(_, kind)) = self.asleep.get(&t) else {
                    return Err(stop(e.pos, "wait() after a step that blocks", "the task is not asleep"));
                };
                let r = match kind {
                    Pending::Access => self.b.finish(t),
                    Pending::Syscall | Pending::Fork => match self.b.finish_syscall(t) {
                        None => Err(Signal::Userfault),
                        Some(Ok(v)) => Ok(v),
                        Some(Err(er)) => {
                            self.asleep.remove(&t);
                            return Err(Stop(e.pos, "the blocked syscall to succeed".into(), Observed::errno(er)));
                        }
                    },
                };
                if r != Err(Signal::Userfault) {
                    self.asleep.remove(&t);
                }
                if kind == Pending::Fork && r.is_ok() {
                    return Err(stop(e.pos, "`C = wait()` to bind the child of the blocked fork()", show(e)));
                }
                return Ok(r);
            }
            _ => return Err(stop(e.pos, format!("the arguments of {f}() (load(addr), store(addr, byte), memset(addr, byte, len), touch(addr, len), wait())"), format!("{} argument(s)", a.len()))),
        };
        let r = self.b.access(t, access);
        if r == Err(Signal::Userfault) {
            self.asleep.insert(t, (e.pos.line, Pending::Access));
        }
        Ok(r)
    }

    /// `expect wait() fails ERRNO`: the result of the syscall the task slept in.
    /// Does the step call a `model.*` probe, or use a variable a skipped step would have bound?
    fn needs_model(&self, action: &Action) -> bool {
        sub_exprs(action_roots(action))
            .into_iter()
            .any(|e| match &e.kind {
                ExprKind::Call(f, _) => f.starts_with("model."),
                ExprKind::Name(n) => self.skipped_vars.contains(n),
                _ => false,
            })
    }

    /// `expect mem(A, LEN) == mem(B, LEN)`, `== fill(SEED)` or `== fill_pages(SEED)`.
    fn mem_compare(
        &mut self,
        t: TaskId,
        pos: Pos,
        (addr, len): (&Expr, &Expr),
        want: &Expr,
    ) -> Flow<()> {
        let (a, l) = (self.num(t, addr)?.value, self.num(t, len)?.value);
        self.addr_hint = Some(a);
        let expected = format!("mem({}, {}) == {}", show(addr), show(len), show(want));
        let byte = |b: u8| Number::new(b.into(), Radix::Byte);
        let r = match want.as_call() {
            Some(("mem", [other, olen])) => {
                let (b, l2) = (self.num(t, other)?.value, self.num(t, olen)?.value);
                if l2 != l {
                    return Err(stop(
                        pos,
                        "two ranges of the same length",
                        format!("{l} and {l2} bytes"),
                    ));
                }
                self.b.mem_cmp(t, a, b, l)
            }
            Some((f, [seed])) => {
                let seed = self.num(t, seed)?;
                let pat = Pattern {
                    seed: self.byte_value(want.pos, seed)?,
                    shift: if f == "fill" { 0 } else { PAGE_SHIFT },
                };
                self.b
                    .mismatch_pattern(t, a, l, pat)
                    .map(|m| m.map(|(at, got)| (at - a, got, pat.byte_at(at - a))))
            }
            _ => unreachable!("the check pass allows only these"),
        };
        let (ok, observed) = match r {
            Ok(None) => (
                true,
                Observed::BytesMatch {
                    len: Number::new(l, Radix::Dec),
                },
            ),
            Ok(Some((off, left, right))) => {
                self.addr_hint = Some(a + off);
                (
                    false,
                    Observed::BytesDiffer {
                        offset: Number::new(off, Radix::Hex),
                        left: byte(left),
                        right: byte(right),
                    },
                )
            }
            Err(sig) => (false, Observed::signal(sig)),
        };
        self.check_result(t, pos, ok, expected, observed);
        Ok(())
    }

    fn finish_blocked_syscall(&mut self, t: TaskId, e: &Expr) -> Flow<Result<u64, Errno>> {
        if self.asleep.get(&t).map(|p| p.1) != Some(Pending::Syscall) {
            return Err(stop(
                e.pos,
                "`expect wait() fails ERRNO` after a syscall that blocks",
                "the task sleeps in no syscall",
            ));
        }
        match self.b.finish_syscall(t) {
            None => Err(stop(
                e.pos,
                "the blocked syscall to have returned",
                "the task still sleeps",
            )),
            Some(r) => {
                self.asleep.remove(&t);
                Ok(r)
            }
        }
    }

    /// A syscall that left its task asleep (an event it caused waits to be read, or a fault it
    /// took on user memory waits for a handler) must have been written `expect CALL blocks`.
    fn no_sleep(&mut self, t: TaskId, e: &Expr) -> Flow<()> {
        if self.b.sleeping(t) {
            self.asleep.insert(t, (e.pos.line, Pending::Syscall));
            return Err(stop(
                e.pos,
                format!("{} to return (write `expect {} blocks` for a call that waits on userfaultfd)", show(e), show(e)),
                "the task sleeps in the call until its userfaultfd event is read or its fault is resolved",
            ));
        }
        Ok(())
    }

    /// A call whose answer is a record of a struct a syscall fills (fstat, waitpid, wait4,
    /// getrusage): the record or the errno; None for any other call.
    fn record_call(
        &mut self,
        t: TaskId,
        e: &Expr,
        f: &str,
        args: &[Expr],
    ) -> Flow<Option<Result<Value, Errno>>> {
        Ok(Some(match f {
            "fstat" => self.fstat(t, e, args)?,
            "waitpid" | "wait4" => self.wait4(t, e, f, args)?,
            "getrusage" => {
                self.arity(e, args, 1)?;
                let who = self.num(t, &args[0])?.value as u32 as i32;
                self.b.getrusage(t, who).map(|ru| Value::Record {
                    kind: &lang::RUSAGE,
                    raw: None,
                    fields: rusage_fields(&ru).to_vec(),
                })
            }
            _ => return Ok(None),
        }))
    }

    /// waitpid(pid, options) or wait4(pid, options): the reaped child's record, or the errno.
    /// A call that would sleep (no child has exited, no WNOHANG) ends the scenario.
    fn wait4(&mut self, t: TaskId, e: &Expr, f: &str, args: &[Expr]) -> Flow<Result<Value, Errno>> {
        self.arity(e, args, 2)?;
        let pid = self.num(t, &args[0])?.value as u32 as i32;
        let options = self.num(t, &args[1])?.value as u32;
        let reaped = match self.b.wait4(t, pid, options) {
            Err(er) => return Ok(Err(er)),
            Ok(Some(r)) => r,
            Ok(None) if options as u64 & mmlab::uapi::wait::WNOHANG != 0 => mmlab::wait::Reaped {
                pid: 0,
                status: 0,
                ru: Default::default(),
            },
            Ok(None) => {
                return Err(stop(
                    e.pos,
                    format!("{} to find an exited child", show(e)),
                    "no child has exited yet: the task would sleep until one does (end the \
                     child first, or pass WNOHANG)",
                ))
            }
        };
        let s = reaped.status;
        // The wait.h macros on the status word.
        let mut fields = vec![
            ("pid", reaped.pid),
            ("status", s as u64),
            ("wifexited", (s & 0x7f == 0) as u64),
            ("wexitstatus", ((s & 0xff00) >> 8) as u64),
            ("wifsignaled", ((((s & 0x7f) + 1) as i8 >> 1) > 0) as u64),
            ("wtermsig", (s & 0x7f) as u64),
        ];
        let kind = if f == "wait4" {
            fields.extend(rusage_fields(&reaped.ru));
            &lang::WAIT4
        } else {
            &lang::WAIT
        };
        Ok(Ok(Value::Record {
            kind,
            raw: None,
            fields,
        }))
    }

    /// fstat(fd): the record of the descriptor's file, or the errno.
    fn fstat(&mut self, t: TaskId, e: &Expr, args: &[Expr]) -> Flow<Result<Value, Errno>> {
        self.arity(e, args, 1)?;
        let fd = self.num(t, &args[0])?.value;
        Ok(self.b.fstat(t, fd as i64).map(|st| Value::Record {
            kind: &lang::STAT,
            raw: None,
            // In the order of lang::STAT_FIELDS.
            fields: vec![
                ("size", st.size),
                ("blocks", st.blocks),
                ("mode", st.mode),
                ("nlink", st.nlink),
            ],
        }))
    }

    /// uffd_read(fd): one message; a read that would sleep ends the scenario.
    fn uffd_read(&mut self, t: TaskId, e: &Expr, args: &[Expr]) -> Flow<Result<UffdMsg, Errno>> {
        self.arity(e, args, 1)?;
        let fd = self.num(t, &args[0])?.value;
        match self.b.uffd_read(t, fd as i64) {
            Ok(Some(m)) => Ok(Ok(m)),
            Ok(None) => Err(stop(
                e.pos,
                format!("{} to find a message", show(e)),
                "nothing is pending and the descriptor blocks: the reader would sleep for ever",
            )),
            Err(er) => Ok(Err(er)),
        }
    }
}

/// The radix a call's result reads best in.
fn ret_radix(f: &str) -> Radix {
    match lang::call_spec(f).map(|c| c.returns) {
        Some(lang::Returns::Num(r)) => r,
        _ => Radix::Auto,
    }
}

/// An access's value: a load's byte; the others return 0.
fn access_radix(e: &Expr) -> Radix {
    match e.as_call() {
        Some((f, _)) => ret_radix(f),
        None => Radix::Auto,
    }
}

/// Every call a body makes, in file order (a `repeat` body once).
fn calls_in(body: &[Stmt]) -> Vec<&Expr> {
    // The expressions of each step, in file order.
    let mut roots: Vec<&Expr> = Vec::new();
    let mut stmts: Vec<&Stmt> = body.iter().rev().collect();
    while let Some(s) = stmts.pop() {
        match &s.kind {
            StmtKind::Repeat { body, .. } => stmts.extend(body.iter().rev()),
            StmtKind::Process { .. } => {}
            StmtKind::Step { action, .. } => roots.extend(action_roots(action)),
        }
    }
    sub_exprs(roots)
        .into_iter()
        .filter(|e| matches!(e.kind, ExprKind::Call(..)))
        .collect()
}

/// The expressions a step evaluates.
fn action_roots(action: &Action) -> Vec<&Expr> {
    match action {
        Action::Do(e)
        | Action::Assign(_, e)
        | Action::Fails(e, _)
        | Action::Faults(e, _, _)
        | Action::Blocks(e) => vec![e],
        Action::Compare(a, _, b) => vec![a, b],
        Action::Within(a, _, b, ms) => vec![a, b, ms],
        Action::Mem { addr, len, byte } => vec![addr, len, byte],
    }
}

/// Every expression in `roots` and below them, in file order.
fn sub_exprs(roots: Vec<&Expr>) -> Vec<&Expr> {
    let mut out = Vec::new();
    let mut stack: Vec<&Expr> = roots.into_iter().rev().collect();
    while let Some(e) = stack.pop() {
        out.push(e);
        match &e.kind {
            ExprKind::Call(_, args) => stack.extend(args.iter().rev()),
            ExprKind::Neg(x) | ExprKind::Not(x) | ExprKind::Field(x, _) => stack.push(x),
            ExprKind::Chain(first, rest) => {
                stack.extend(rest.iter().rev().map(|(_, x)| x));
                stack.push(first);
            }
            ExprKind::Num(..) | ExprKind::Str(_) | ExprKind::Name(_) => {}
        }
    }
    out
}

/// Why a cgroup v2 body's cgroup steps keep it off the host: v2 has no memory controller on
/// this host (it is bound to v1; the runner makes v1 scenarios' groups).
fn first_cgroup_step(body: &[Stmt]) -> Option<String> {
    calls_in(body).into_iter().find_map(|e| match e.as_call() {
        Some((f, _)) if f.starts_with("cgroup_") => Some(format!(
            "{f} at line {}: a cgroup v2 step; the host's memory controller is on cgroup v1 \
             only",
            e.pos.line
        )),
        _ => None,
    })
}

/// The files a body's `sysfs_write` steps write.
fn sysfs_writes(body: &[Stmt]) -> Vec<String> {
    calls_in(body)
        .into_iter()
        .filter_map(|e| match e.as_call() {
            Some((
                "sysfs_write",
                [Expr {
                    kind: ExprKind::Str(path),
                    ..
                }, ..],
            )) => Some(path.clone()),
            _ => None,
        })
        .collect()
}

/// The absolute paths a body's swapon/swapoff steps and `swaps()` probes name.
fn swap_paths(body: &[Stmt]) -> Vec<String> {
    calls_in(body)
        .into_iter()
        .filter_map(|e| match e.as_call() {
            Some((
                "swapon" | "swapoff" | "swaps",
                [Expr {
                    kind: ExprKind::Str(path),
                    ..
                }, ..],
            )) if path.starts_with('/') => Some(path.clone()),
            _ => None,
        })
        .collect()
}

/// A `process` line or step written back as text, for the trace.
fn show_stmt(s: &Stmt) -> String {
    match &s.kind {
        StmtKind::Process { name, cpu } => format!("process {name} on cpu {cpu}"),
        StmtKind::Repeat {
            count, var: None, ..
        } => format!("repeat {count}"),
        StmtKind::Repeat {
            count,
            var: Some(v),
            ..
        } => format!("for {} in {}..{}", v.name, v.start, v.start + count),
        StmtKind::Step { task, action } => {
            let what = match action {
                Action::Do(e) => show(e),
                Action::Assign(v, e) => format!("{v} = {}", show(e)),
                Action::Compare(a, op, b) => {
                    format!("expect {} {} {}", show(a), op.symbol(), show(b))
                }
                Action::Within(a, op, b, ms) => format!(
                    "expect {} {} {} within {}",
                    show(a),
                    op.symbol(),
                    show(b),
                    show_ms(ms)
                ),
                Action::Mem { addr, len, byte } => {
                    format!(
                        "expect mem({}, {}) == {}",
                        show(addr),
                        show(len),
                        show(byte)
                    )
                }
                Action::Fails(e, errno) => format!("expect {} fails {errno}", show(e)),
                Action::Faults(e, sig, None) => format!("expect {} faults {sig}", show(e)),
                Action::Faults(e, sig, Some(c)) => format!("expect {} faults {sig} {c}", show(e)),
                Action::Blocks(e) => format!("expect {} blocks", show(e)),
            };
            format!("{task}: {what}")
        }
    }
}

/// A time in ms as written: a literal in decimal.
fn show_ms(ms: &Expr) -> String {
    match ms.kind {
        ExprKind::Num(v, _) => v.to_string(),
        _ => show(ms),
    }
}

/// The operand of a unary `-` or `~`: a chain of operators was parenthesised in the source.
fn show_unary_operand(x: &Expr) -> String {
    match &x.kind {
        ExprKind::Chain(..) => format!("({})", show(x)),
        _ => show(x),
    }
}

/// An expression written back as text, for reports.
pub fn show(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Num(v, radix) => radix.show(*v),
        ExprKind::Str(t) => format!("{t:?}"),
        ExprKind::Name(n) => n.clone(),
        ExprKind::Neg(x) => format!("-{}", show_unary_operand(x)),
        ExprKind::Not(x) => format!("~{}", show_unary_operand(x)),
        ExprKind::Chain(first, rest) => {
            // An operand chain of a looser or equal level was parenthesised in the source.
            let level = rest[0].0.level();
            let operand = |x: &Expr| match &x.kind {
                ExprKind::Chain(_, r) if r[0].0.level() <= level => format!("({})", show(x)),
                _ => show(x),
            };
            let mut s = operand(first);
            for (op, x) in rest {
                s.push_str(&format!(" {} {}", op.symbol(), operand(x)));
            }
            s
        }
        ExprKind::Call(f, args) => format!(
            "{f}({})",
            args.iter().map(show).collect::<Vec<_>>().join(", ")
        ),
        ExprKind::Field(r, f) => format!("{}.{f}", show(r)),
    }
}

/// struct rusage's mm fields, in the order of lang::RUSAGE_FIELDS.
fn rusage_fields(ru: &mmlab::sys::Rusage) -> [(&'static str, u64); 3] {
    [
        ("minflt", ru.minflt),
        ("majflt", ru.majflt),
        ("maxrss", ru.maxrss),
    ]
}

/// `sig` as a wait status if its default action terminates the process without a core dump
/// (and the agent leaves it at that: its SIGSEGV and SIGBUS are caught, SIGPIPE ignored).
fn terminating_signal(sig: u64) -> Option<u32> {
    use mmlab::uapi::wait::*;
    [
        SIGHUP,
        SIGINT,
        mmlab::uapi::SIGKILL,
        SIGUSR1,
        SIGUSR2,
        SIGALRM,
        SIGTERM,
    ]
    .contains(&sig)
    .then_some(sig as u32)
}
