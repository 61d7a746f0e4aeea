//! Running a parsed scenario on a backend: evaluate steps in file order, check expectations,
//! collect verdicts with the file:line of each.

use std::collections::HashMap;
use std::time::Instant;

use mmlab::{Errno, Signal};

use crate::ast::*;
use crate::backend::*;

/// One expectation that did not hold, or the step that ended the scenario.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Failure {
    pub line: usize,
    pub expected: String,
    pub observed: String,
}

/// One evaluated expectation: where, whether it held, and what was seen.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Check {
    pub line: usize,
    pub ok: bool,
    pub expected: String,
    pub observed: String,
}

/// How a scenario ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    Skip,
}

/// The verdict on one scenario.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Report {
    pub path: String,
    pub title: String,
    pub backend: &'static str,
    pub status: Status,
    pub skip_reason: Option<String>,
    pub failures: Vec<Failure>,
    /// Every expectation evaluated, in order (a line inside `repeat` appears once per pass).
    pub checks: Vec<Check>,
    pub expectations: usize,
    pub micros: u128,
}

/// Why evaluation stopped early.
struct Stop(Failure);

type Flow<T> = Result<T, Stop>;

/// A value during evaluation: a number or a record with named fields.
#[derive(Clone, Debug)]
enum Value {
    Num(u64),
    Record {
        raw: Option<u64>,
        fields: Vec<(&'static str, u64)>,
    },
}

/// The syscalls a scenario can make (with C arguments; see docs/scenario-language.md).
const SYSCALLS: &[&str] = &[
    "mmap",
    "munmap",
    "mremap",
    "mprotect",
    "madvise",
    "sched_setaffinity",
    "memfd_create",
    "ftruncate",
    "fallocate",
    "close",
    "fcntl",
    "userfaultfd",
    "uffdio_api",
    "uffdio_register",
    "uffdio_unregister",
    "uffdio_copy",
    "uffdio_zeropage",
    "uffdio_continue",
    "uffdio_writeprotect",
    "uffdio_wake",
];

/// What a sleeping task was doing; `wait()` collects it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pending {
    Access,
    Syscall,
    Fork,
}

/// A memory access (or `wait()`, which finishes one): its value is a byte, or a signal.
fn is_access(e: &Expr) -> bool {
    matches!(&e.kind, ExprKind::Call(f, _) if matches!(f.as_str(), "load" | "store" | "memset" | "touch" | "wait"))
}

/// A syscall (or fork) call, as `expect ... blocks` takes it.
fn is_syscall(e: &Expr) -> bool {
    matches!(&e.kind, ExprKind::Call(f, _) if f == "fork" || SYSCALLS.contains(&f.as_str()))
}

/// A uffd_msg's fields by its event (uffd_msg.arg's union members).
fn msg_fields(m: &UffdMsg) -> Vec<(&'static str, u64)> {
    use mmlab::fs::userfaultfd::*;
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
        | Action::Faults(e, _)
        | Action::Blocks(e)
        | Action::Fails(e, _) => e,
        Action::Compare(e, _, _) => e,
        _ => return false,
    };
    matches!(&call.kind, ExprKind::Call(f, args) if f == "wait" && args.is_empty())
}

/// Constants the language knows: uapi names, errnos, sizes.
fn constant(name: &str) -> Option<u64> {
    match name {
        "NULL" => Some(0),
        "PAGE_SIZE" => Some(4096),
        "HPAGE_SIZE" => Some(2 << 20),
        _ if name.starts_with("F_") => mmlab::mm::memfd::SEAL_NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|&(_, v)| v),
        _ if name.starts_with("UFFD") || name.starts_with("_UFFDIO") || name.starts_with("O_") => {
            mmlab::mm::userfaultfd::constant(name)
        }
        _ if name.starts_with("SCAN_") => mmlab::mm::khugepaged::ScanResult::ALL
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(r, _)| *r as u64),
        _ => mmlab::uapi::NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
            .or_else(|| Errno::from_name(name).map(|e| e.code() as u64)),
    }
}

struct Runner<'a, B: Backend> {
    b: &'a mut B,
    vars: HashMap<String, Value>,
    tasks: HashMap<String, TaskId>,
    /// Tasks asleep (in handle_userfault(), or until their userfaultfd events are read), with
    /// the line of the step and what it was.
    asleep: HashMap<TaskId, (usize, Pending)>,
    failures: Vec<Failure>,
    checks: Vec<Check>,
}

fn stop(pos: Pos, expected: impl Into<String>, observed: impl Into<String>) -> Stop {
    Stop(Failure {
        line: pos.line,
        expected: expected.into(),
        observed: observed.into(),
    })
}

/// Run one scenario on `b`.
pub fn run<B: Backend>(sc: &Scenario, b: &mut B) -> Report {
    let start = Instant::now();
    let setup = Setup {
        profile: sc.profile.clone(),
        memory: sc.memory,
        cpus: sc.cpus,
        fault_around_bytes: sc.fault_around_bytes,
        hugepages: sc.hugepages,
        thp: sc.thp.clone(),
        features: sc.features.clone(),
        model_only: sc.model_only.clone(),
        uses_model_probe: first_model_probe(&sc.body),
    };
    let mut report = Report {
        path: sc.path.display().to_string(),
        title: sc.title.clone(),
        backend: b.name(),
        status: Status::Pass,
        skip_reason: None,
        failures: vec![],
        checks: vec![],
        expectations: 0,
        micros: 0,
    };
    if let Err(Skip(reason)) = b.prepare(&setup) {
        report.status = Status::Skip;
        report.skip_reason = Some(reason);
        return report;
    }
    let mut r = Runner {
        b,
        vars: HashMap::new(),
        tasks: HashMap::new(),
        asleep: HashMap::new(),
        failures: vec![],
        checks: vec![],
    };
    if let Err(Stop(f)) = r.block(&sc.body) {
        r.failures.push(f);
    }
    report.expectations = r.checks.len();
    report.checks = r.checks;
    report.failures = r.failures;
    if !report.failures.is_empty() {
        report.status = Status::Fail;
    }
    report.micros = start.elapsed().as_micros();
    report
}

impl<B: Backend> Runner<'_, B> {
    fn block(&mut self, body: &[Stmt]) -> Flow<()> {
        for s in body {
            match &s.kind {
                StmtKind::Process { name, cpu } => {
                    self.fresh_task_name(name, s.pos)?;
                    let t = self.b.spawn_process(*cpu).map_err(|e| {
                        stop(s.pos, format!("process {name} on cpu {cpu}"), e.to_string())
                    })?;
                    self.tasks.insert(name.clone(), t);
                }
                StmtKind::Repeat { count, body } => {
                    for _ in 0..*count {
                        self.block(body)?;
                    }
                }
                StmtKind::Step { task, action } => {
                    let t = *self.tasks.get(task).ok_or_else(|| stop(s.pos, format!("a task named `{task}` (declare it with `process` or bind it with fork/thread)"), "no such task"))?;
                    if let Some((line, _)) = self.asleep.get(&t) {
                        if !is_wait(action) {
                            return Err(stop(s.pos, format!("{task} to be awake (only `{task}: wait()` may follow its sleeping access)"), format!("{task} sleeps in handle_userfault() since line {line}")));
                        }
                    }
                    self.step(t, s.pos, action)?;
                    self.b.check().map_err(|v| {
                        stop(s.pos, "the model's invariants to hold after this step", v)
                    })?;
                }
            }
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
                if let ExprKind::Call(f, args) = &e.kind {
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
                                stop(pos, "fork() to succeed", format!("failed with {er}"))
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
                            self.b.thread(t, cpu as usize)
                        };
                        let new = new.map_err(|er| {
                            stop(
                                pos,
                                format!("{f}() to succeed"),
                                format!("failed with {er}"),
                            )
                        })?;
                        self.tasks.insert(name.clone(), new);
                        return Ok(());
                    }
                }
                if constant(name).is_some() {
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
                let (x, y) = match (self.operand(t, a)?, self.operand(t, bx)?) {
                    (Ok(x), Ok(y)) => (x, y),
                    (Err(sig), _) | (_, Err(sig)) => {
                        self.record(pos, false, expected, format!("raised {}", sig.name()));
                        return Ok(());
                    }
                };
                let observed = match bx.kind {
                    ExprKind::Num(_) => fmt_num(x),
                    _ => format!("{} (right side {})", fmt_num(x), fmt_num(y)),
                };
                self.record(pos, op.holds(x, y), expected, observed);
            }
            Action::Mem { addr, len, byte } => {
                let (a, l, v) = (self.num(t, addr)?, self.num(t, len)?, self.num(t, byte)?);
                let expected = format!(
                    "every byte of mem({}, {}) == {:#04x}",
                    show(addr),
                    show(len),
                    v
                );
                match self.b.mismatch(t, a, l, v as u8) {
                    Ok(None) => self.record(pos, true, expected, format!("all {:#04x}", v)),
                    Ok(Some((at, got))) => self.record(
                        pos,
                        false,
                        expected,
                        format!("{got:#04x} at offset {:#x}", at - a),
                    ),
                    Err(sig) => self.record(pos, false, expected, format!("raised {}", sig.name())),
                }
            }
            Action::Fails(call, errno) => {
                let want = Errno::from_name(errno)
                    .ok_or_else(|| stop(pos, "a known errno name", format!("`{errno}`")))?;
                let ExprKind::Call(f, args) = &call.kind else {
                    return Err(stop(pos, "a syscall before `fails`", show(call)));
                };
                let expected = format!("{} fails {}", show(call), want.name());
                let r = if f == "uffd_read" {
                    self.uffd_read(t, call, args)?.map(|m| m.event)
                } else if f == "wait" && args.is_empty() {
                    self.finish_blocked_syscall(t, call)?
                } else {
                    self.syscall(t, call, f, args)?
                };
                self.no_sleep(t, call)?;
                match r {
                    Err(got) => {
                        self.record(pos, got == want, expected, format!("fails {}", got.name()))
                    }
                    Ok(v) => self.record(
                        pos,
                        false,
                        expected,
                        format!("succeeded, returned {}", fmt_num(v)),
                    ),
                }
            }
            Action::Faults(access, sig) => {
                let want = match sig.as_str() {
                    "SIGSEGV" => Signal::Segv,
                    "SIGBUS" => Signal::Bus,
                    _ => return Err(stop(pos, "SIGSEGV or SIGBUS", format!("`{sig}`"))),
                };
                let expected = format!("{} faults {}", show(access), want.name());
                match self.access(t, access)? {
                    Err(got) => {
                        self.record(pos, got == want, expected, format!("faults {}", got.name()))
                    }
                    Ok(_) => self.record(pos, false, expected, "no fault".into()),
                }
            }
            Action::Blocks(call) if is_syscall(call) => {
                let expected = format!("{} blocks", show(call));
                let ExprKind::Call(f, args) = &call.kind else {
                    unreachable!("is_syscall() checked")
                };
                let (kind, r) = if f == "fork" {
                    self.arity(call, args, 0)?;
                    (Pending::Fork, self.b.fork(t).map(|c| c as u64))
                } else {
                    (Pending::Syscall, self.syscall(t, call, f, args)?)
                };
                if self.b.sleeping(t) {
                    self.asleep.insert(t, (pos.line, kind));
                    self.record(
                        pos,
                        true,
                        expected,
                        "sleeps until its userfaultfd events are read".into(),
                    );
                } else {
                    let got = match r {
                        Ok(v) => format!("returned {}", fmt_num(v)),
                        Err(er) => format!("failed with {}", er.name()),
                    };
                    self.record(pos, false, expected, got);
                }
            }
            Action::Blocks(access) => {
                let expected = format!("{} blocks", show(access));
                match self.access(t, access)? {
                    Err(Signal::Userfault) => {
                        self.record(pos, true, expected, "sleeps in handle_userfault()".into())
                    }
                    Err(sig) => self.record(pos, false, expected, format!("raised {}", sig.name())),
                    Ok(v) => {
                        self.record(pos, false, expected, format!("completed ({})", fmt_num(v)))
                    }
                }
            }
        }
        Ok(())
    }

    /// Note an evaluated expectation; one that did not hold is also a failure.
    fn record(&mut self, pos: Pos, ok: bool, expected: String, observed: String) {
        if !ok {
            self.failures.push(Failure {
                line: pos.line,
                expected: expected.clone(),
                observed: observed.clone(),
            });
        }
        self.checks.push(Check {
            line: pos.line,
            ok,
            expected,
            observed,
        });
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

    fn num(&mut self, t: TaskId, e: &Expr) -> Flow<u64> {
        match self.eval(t, e)? {
            Value::Num(n) => Ok(n),
            Value::Record { raw: Some(n), .. } => Ok(n),
            Value::Record { fields, .. } => Err(stop(
                e.pos,
                format!("a number from {}; pick a field", show(e)),
                format!(
                    "a record with fields {}",
                    fields.iter().map(|f| f.0).collect::<Vec<_>>().join(", ")
                ),
            )),
        }
    }

    fn eval(&mut self, t: TaskId, e: &Expr) -> Flow<Value> {
        let n = |v: u64| Ok(Value::Num(v));
        match &e.kind {
            ExprKind::Num(v) => n(*v),
            ExprKind::Str(_) => Err(stop(e.pos, "a number", format!("the string {}", show(e)))),
            ExprKind::Name(name) => match self
                .vars
                .get(name)
                .cloned()
                .or_else(|| constant(name).map(Value::Num))
            {
                Some(v) => Ok(v),
                None => Err(stop(
                    e.pos,
                    format!("a variable or constant named `{name}`"),
                    "unknown name",
                )),
            },
            ExprKind::Neg(x) => n(self.num(t, x)?.wrapping_neg()),
            ExprKind::Not(x) => n(!self.num(t, x)?),
            ExprKind::Bin(op, a, b) => {
                let (x, y) = (self.num(t, a)?, self.num(t, b)?);
                let v = match op {
                    BinOp::Or => x | y,
                    BinOp::And => x & y,
                    BinOp::Shl => x.checked_shl(y as u32).unwrap_or(0),
                    BinOp::Shr => x.checked_shr(y as u32).unwrap_or(0),
                    BinOp::Add => x.wrapping_add(y),
                    BinOp::Sub => x.wrapping_sub(y),
                    BinOp::Mul => x.wrapping_mul(y),
                    BinOp::Div | BinOp::Rem if y == 0 => {
                        return Err(stop(e.pos, "a non-zero divisor", "division by zero"))
                    }
                    BinOp::Div => x / y,
                    BinOp::Rem => x % y,
                };
                n(v)
            }
            ExprKind::Field(rec, field) => match self.eval(t, rec)? {
                Value::Record { fields, .. } => fields
                    .iter()
                    .find(|(f, _)| f == field)
                    .map(|(_, v)| Value::Num(*v))
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
                Value::Num(_) => Err(stop(
                    e.pos,
                    format!("a record before `.{field}`"),
                    format!("{} is a number", show(rec)),
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
    fn operand(&mut self, t: TaskId, e: &Expr) -> Flow<Result<u64, Signal>> {
        if is_access(e) {
            self.access_value(t, e)
        } else {
            self.num(t, e).map(Ok)
        }
    }

    fn call(&mut self, t: TaskId, e: &Expr, f: &str, args: &[Expr]) -> Flow<Value> {
        if is_access(e) {
            return match self.access_value(t, e)? {
                Ok(v) => Ok(Value::Num(v)),
                Err(sig) => Err(stop(
                    e.pos,
                    format!("{} to succeed", show(e)),
                    format!("raised {}", sig.name()),
                )),
            };
        }
        if f == "uffd_read" {
            return match self.uffd_read(t, e, args)? {
                Ok(m) => Ok(Value::Record {
                    raw: None,
                    fields: msg_fields(&m),
                }),
                Err(er) => Err(stop(
                    e.pos,
                    format!("{} to succeed", show(e)),
                    format!("failed with {}", er.name()),
                )),
            };
        }
        if SYSCALLS.contains(&f) {
            let r = self.syscall(t, e, f, args)?;
            self.no_sleep(t, e)?;
            return match r {
                Ok(v) => Ok(Value::Num(v)),
                Err(er) => Err(stop(
                    e.pos,
                    format!("{} to succeed", show(e)),
                    format!("failed with {}", er.name()),
                )),
            };
        }
        if f == "meminfo" {
            return match args {
                [Expr {
                    kind: ExprKind::Name(name),
                    ..
                }] => {
                    let v = self
                        .b
                        .meminfo(name)
                        .map_err(|m| stop(e.pos, format!("{} to answer", show(e)), m))?;
                    Ok(Value::Num(v))
                }
                _ => Err(stop(
                    e.pos,
                    "meminfo(NAME) with a /proc/meminfo field name",
                    show(e),
                )),
            };
        }
        if f == "vmstat" {
            // The argument names a /proc/vmstat counter; it is not an expression.
            return match args {
                [Expr {
                    kind: ExprKind::Name(name),
                    ..
                }] => {
                    let v = self
                        .b
                        .vmstat(name)
                        .map_err(|m| stop(e.pos, format!("{} to answer", show(e)), m))?;
                    Ok(Value::Num(v))
                }
                _ => Err(stop(
                    e.pos,
                    "vmstat(NAME) with a /proc/vmstat counter name",
                    show(e),
                )),
            };
        }
        if f == "model.counter" {
            // The argument is a counter's name, not an expression.
            let probe = match args {
                [Expr {
                    kind: ExprKind::Name(name),
                    ..
                }] => ModelProbe::Counter(name.clone()),
                _ => {
                    return Err(stop(
                        e.pos,
                        "model.counter(NAME) with a counter name",
                        show(e),
                    ))
                }
            };
            return self.model_probe(t, e, &probe);
        }
        let argv = args
            .iter()
            .map(|a| self.num(t, a))
            .collect::<Flow<Vec<u64>>>()?;
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
            "exit" => {
                want(1)?;
                self.b.exit(t).map_err(|er| probe_err(er.to_string()))?;
                let b = &mut *self.b;
                self.tasks.retain(|_, v| *v != t && b.minflt(*v).is_ok());
                Ok(Value::Num(0))
            }
            "pagemap" => {
                want(1)?;
                let raw = self
                    .b
                    .pagemap(t, argv[0])
                    .map_err(|er| probe_err(er.to_string()))?;
                Ok(Value::Record {
                    raw: Some(raw),
                    fields: vec![
                        ("present", raw >> 63 & 1),
                        ("swapped", raw >> 62 & 1),
                        ("file", raw >> 61 & 1),
                        ("uffd_wp", raw >> 57 & 1),
                        ("exclusive", raw >> 56 & 1),
                        ("soft_dirty", raw >> 55 & 1),
                        ("pfn", raw & ((1 << 55) - 1)),
                    ],
                })
            }
            "zero_pfn" => {
                want(0)?;
                Ok(Value::Num(self.b.zero_pfn()))
            }
            "minflt" => {
                want(0)?;
                Ok(Value::Num(
                    self.b.minflt(t).map_err(|er| probe_err(er.to_string()))?,
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
                Ok(Value::Record {
                    raw: None,
                    fields: fields
                        .into_iter()
                        .filter_map(|(k, v)| smaps_field(&k).map(|k| (k, v)))
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
                    ("model.khugepaged_scan", [a]) => ModelProbe::KhugepagedScan(*a),
                    ("model.khugepaged_collapse", [a]) => ModelProbe::KhugepagedCollapse(*a),
                    _ => return Err(stop(e.pos, "a model probe: model.tlb_flushes([cpu]), model.counter(NAME), model.page(addr), model.pte(addr), model.get_page(addr), model.put_page(pfn), model.khugepaged_scan(addr), model.khugepaged_collapse(addr)", show(e))),
                };
                self.model_probe(t, e, &probe)
            }
            "fork" | "thread" => Err(stop(
                e.pos,
                format!("`NAME = {f}(...)`, which binds the new task"),
                show(e),
            )),
            "mem" => Err(stop(
                e.pos,
                "mem() only as `expect mem(ADDR, LEN) == BYTE`",
                show(e),
            )),
            _ => Err(stop(
                e.pos,
                "a known syscall, access or probe",
                format!("unknown call `{f}`"),
            )),
        }
    }

    fn model_probe(&mut self, t: TaskId, e: &Expr, probe: &ModelProbe) -> Flow<Value> {
        match self
            .b
            .model_probe(t, probe)
            .map_err(|m| stop(e.pos, format!("{} to answer", show(e)), m))?
        {
            ProbeValue::Num(v) => Ok(Value::Num(v)),
            ProbeValue::Record(fields) => Ok(Value::Record { raw: None, fields }),
        }
    }

    fn syscall(&mut self, t: TaskId, e: &Expr, f: &str, args: &[Expr]) -> Flow<Result<u64, Errno>> {
        if f == "memfd_create" {
            let call = match args {
                [Expr {
                    kind: ExprKind::Str(name),
                    ..
                }, flags] => Syscall::MemfdCreate {
                    name: name.clone(),
                    flags: self.num(t, flags)?,
                },
                _ => return Err(stop(e.pos, "memfd_create(\"name\", flags)", show(e))),
            };
            return Ok(self.b.syscall(t, &call));
        }
        let a = args
            .iter()
            .map(|x| self.num(t, x))
            .collect::<Flow<Vec<u64>>>()?;
        let call = match (f, a.as_slice()) {
            ("mmap", &[addr, len, prot, flags, fd, off]) => Syscall::Mmap {
                addr,
                len,
                prot,
                flags,
                fd: fd as i64,
                off,
            },
            ("munmap", &[addr, len]) => Syscall::Munmap { addr, len },
            ("mremap", &[old, old_len, new_len, flags]) => Syscall::Mremap {
                old,
                old_len,
                new_len,
                flags,
                new_addr: 0,
            },
            ("mremap", &[old, old_len, new_len, flags, new_addr]) => Syscall::Mremap {
                old,
                old_len,
                new_len,
                flags,
                new_addr,
            },
            ("mprotect", &[addr, len, prot]) => Syscall::Mprotect { addr, len, prot },
            ("madvise", &[addr, len, advice]) => Syscall::Madvise { addr, len, advice },
            ("sched_setaffinity", &[cpu]) => Syscall::SchedSetaffinity { cpu },
            ("ftruncate", &[fd, len]) => Syscall::Ftruncate {
                fd: fd as i64,
                len: len as i64,
            },
            ("fallocate", &[fd, mode, off, len]) => Syscall::Fallocate {
                fd: fd as i64,
                mode,
                off: off as i64,
                len: len as i64,
            },
            ("close", &[fd]) => Syscall::Close { fd: fd as i64 },
            ("fcntl", &[fd, cmd, arg]) => {
                use mmlab::mm::memfd::{F_ADD_SEALS, F_GET_SEALS};
                if cmd != F_ADD_SEALS && cmd != F_GET_SEALS {
                    return Err(stop(
                        e.pos,
                        "fcntl(fd, F_ADD_SEALS or F_GET_SEALS, arg)",
                        "another fcntl command: only the seal commands are modelled",
                    ));
                }
                Syscall::Fcntl {
                    fd: fd as i64,
                    cmd,
                    arg,
                }
            }
            ("userfaultfd", &[flags]) => Syscall::Userfaultfd { flags },
            ("uffdio_api", &[fd, api, features]) => Syscall::UffdioApi {
                fd: fd as i64,
                api,
                features,
            },
            ("uffdio_register", &[fd, start, len, mode]) => Syscall::UffdioRegister {
                fd: fd as i64,
                start,
                len,
                mode,
            },
            ("uffdio_unregister", &[fd, start, len]) => Syscall::UffdioUnregister {
                fd: fd as i64,
                start,
                len,
            },
            ("uffdio_copy", &[fd, dst, src, len, mode]) => Syscall::UffdioCopy {
                fd: fd as i64,
                dst,
                src,
                len,
                mode,
            },
            ("uffdio_zeropage", &[fd, start, len, mode]) => Syscall::UffdioZeropage {
                fd: fd as i64,
                start,
                len,
                mode,
            },
            ("uffdio_continue", &[fd, start, len, mode]) => Syscall::UffdioContinue {
                fd: fd as i64,
                start,
                len,
                mode,
            },
            ("uffdio_writeprotect", &[fd, start, len, mode]) => Syscall::UffdioWriteprotect {
                fd: fd as i64,
                start,
                len,
                mode,
            },
            ("uffdio_wake", &[fd, start, len]) => Syscall::UffdioWake {
                fd: fd as i64,
                start,
                len,
            },
            (f, _) if SYSCALLS.contains(&f) => {
                return Err(stop(
                    e.pos,
                    format!("the C arguments of {f}() (see docs/scenario-language.md)"),
                    format!("{} argument(s)", a.len()),
                ))
            }
            _ => {
                return Err(stop(
                    e.pos,
                    format!("a syscall ({})", SYSCALLS.join(", ")),
                    format!("`{f}`"),
                ))
            }
        };
        Ok(self.b.syscall(t, &call))
    }

    fn access(&mut self, t: TaskId, e: &Expr) -> Flow<Result<u64, Signal>> {
        let ExprKind::Call(f, args) = &e.kind else {
            return Err(stop(
                e.pos,
                "a memory access (load, store, memset, touch, wait)",
                show(e),
            ));
        };
        let a = args
            .iter()
            .map(|x| self.num(t, x))
            .collect::<Flow<Vec<u64>>>()?;
        let access = match (f.as_str(), a.as_slice()) {
            ("load", &[addr]) => Access::Load(addr),
            ("store", &[addr, v]) => Access::Store(addr, v as u8),
            ("memset", &[addr, v, len]) => Access::Memset(addr, v as u8, len),
            ("touch", &[addr, len]) => Access::Touch(addr, len),
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
                            return Err(stop(e.pos, "the blocked syscall to succeed", format!("failed with {}", er.name())));
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
            ("load" | "store" | "memset" | "touch" | "wait", _) => return Err(stop(e.pos, format!("the arguments of {f}() (load(addr), store(addr, byte), memset(addr, byte, len), touch(addr, len), wait())"), format!("{} argument(s)", a.len()))),
            _ => return Err(stop(e.pos, "a memory access (load, store, memset, touch, wait)", format!("`{f}`"))),
        };
        let r = self.b.access(t, access);
        if r == Err(Signal::Userfault) {
            self.asleep.insert(t, (e.pos.line, Pending::Access));
        }
        Ok(r)
    }

    /// `expect wait() fails ERRNO`: the result of the syscall the task slept in.
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

    /// uffd_read(fd): one message; a read that would sleep ends the scenario.
    fn uffd_read(&mut self, t: TaskId, e: &Expr, args: &[Expr]) -> Flow<Result<UffdMsg, Errno>> {
        self.arity(e, args, 1)?;
        let fd = self.num(t, &args[0])?;
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

/// The smaps fields scenarios may name (the kernel prints more; both backends give these).
fn smaps_field(name: &str) -> Option<&'static str> {
    [
        "size",
        "rss",
        "pss",
        "shared_clean",
        "shared_dirty",
        "private_clean",
        "private_dirty",
        "referenced",
        "anonymous",
        "lazyfree",
        "swap",
        "locked",
        "shared_hugetlb",
        "private_hugetlb",
        "anonhugepages",
        "shmempmdmapped",
        "filepmdmapped",
        "thpeligible",
    ]
    .into_iter()
    .chain(mmlab::fs::proc::SMAPS_VMFLAGS.iter().map(|&(f, _, _)| f))
    .find(|f| *f == name)
}

/// The first `model.*` probe a body calls, as `model.x at line N`.
fn first_model_probe(body: &[Stmt]) -> Option<String> {
    fn in_expr(e: &Expr) -> Option<String> {
        match &e.kind {
            ExprKind::Call(f, args) if f.starts_with("model.") => {
                Some(format!("{f} at line {}", e.pos.line))
                    .or_else(|| args.iter().find_map(in_expr))
            }
            ExprKind::Call(_, args) => args.iter().find_map(in_expr),
            ExprKind::Neg(x) | ExprKind::Not(x) | ExprKind::Field(x, _) => in_expr(x),
            ExprKind::Bin(_, a, b) => in_expr(a).or_else(|| in_expr(b)),
            ExprKind::Num(_) | ExprKind::Str(_) | ExprKind::Name(_) => None,
        }
    }
    body.iter().find_map(|s| match &s.kind {
        StmtKind::Repeat { body, .. } => first_model_probe(body),
        StmtKind::Process { .. } => None,
        StmtKind::Step { action, .. } => match action {
            Action::Do(e)
            | Action::Assign(_, e)
            | Action::Fails(e, _)
            | Action::Faults(e, _)
            | Action::Blocks(e) => in_expr(e),
            Action::Compare(a, _, b) => in_expr(a).or_else(|| in_expr(b)),
            Action::Mem { addr, len, byte } => in_expr(addr)
                .or_else(|| in_expr(len))
                .or_else(|| in_expr(byte)),
        },
    })
}

fn fmt_num(v: u64) -> String {
    if v > 4096 {
        format!("{v:#x}")
    } else {
        v.to_string()
    }
}

/// An expression written back as text, for reports.
pub fn show(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Num(v) => fmt_num(*v),
        ExprKind::Str(t) => format!("{t:?}"),
        ExprKind::Name(n) => n.clone(),
        ExprKind::Neg(x) => format!("-{}", show(x)),
        ExprKind::Not(x) => format!("~{}", show(x)),
        ExprKind::Bin(op, a, b) => {
            let s = match op {
                BinOp::Or => "|",
                BinOp::And => "&",
                BinOp::Shl => "<<",
                BinOp::Shr => ">>",
                BinOp::Add => "+",
                BinOp::Sub => "-",
                BinOp::Mul => "*",
                BinOp::Div => "/",
                BinOp::Rem => "%",
            };
            format!("{} {s} {}", show(a), show(b))
        }
        ExprKind::Call(f, args) => format!(
            "{f}({})",
            args.iter().map(show).collect::<Vec<_>>().join(", ")
        ),
        ExprKind::Field(r, f) => format!("{}.{f}", show(r)),
    }
}
