//! The check pass right after parsing: everything about a scenario that does not depend on
//! what a kernel answers is checked before anything runs, with file:line:col. Header values
//! (profile, features, CPUs, memory, the hugetlb pool), task names (declared, bound, exited),
//! variables bound before their use, calls and their argument counts, record fields, and
//! constant values out of range (a byte above 0xff, a shift by 64 or more, a division by 0).

use std::collections::{HashMap, HashSet};

use mmlab::pgtable::arch::Arch;
use mmlab::{Config, Kernel, Profile};

use crate::ast::*;
use crate::backend::{SwapDev, SwapFileKind};
use crate::lang::{self, Args, CallKind, RecordKind, Returns};
use crate::parse::ParseError;
use crate::syscalls::{self, ArgKind};

/// The syscall arguments that are C strings, for messages: `memfd_create's name`.
fn string_args() -> String {
    syscalls::all()
        .flat_map(|d| {
            d.args
                .iter()
                .filter(|a| a.kind.is_string())
                .map(move |a| format!("{}'s {}", d.name, a.name))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The type of a value, as far as the check pass knows it.
#[derive(Clone, Copy, Debug)]
enum Ty {
    /// A number, with its value if the expression is constant.
    Num(Option<u64>),
    Record(&'static RecordKind),
    /// Text: a sysfs file's choice or words, or a string literal compared with one.
    Text,
}

/// What the names of a scenario stand for at one point of the file.
#[derive(Clone, Default)]
struct Names {
    /// Live tasks and the process each belongs to.
    tasks: HashMap<String, usize>,
    /// Tasks whose process exited, with the line of the exit.
    exited: HashMap<String, usize>,
    /// Variables bound so far.
    vars: HashMap<String, Ty>,
    /// Tasks whose `expect fork() blocks` waits for `C = wait()` to bind the child.
    pending_fork: HashSet<String>,
    next_process: usize,
}

struct Checker<'a> {
    file: &'a str,
    cpus: usize,
    /// The names the swap headers declare, for swapon/swapoff steps and `swaps()`.
    swap_names: Vec<&'a str>,
}

/// Check a parsed scenario; the first problem found is the error.
pub fn check(sc: &Scenario) -> Result<(), ParseError> {
    let file = sc.path.display().to_string();
    let cpus = header(sc, &file)?;
    let c = Checker {
        file: &file,
        cpus,
        swap_names: sc.swap.iter().map(|s| s.name.as_str()).collect(),
    };
    c.block(&sc.body, &mut Names::default())
}

/// The number of steps a body runs (each step, and each pass of a `repeat`, counts one),
/// saturating: the language has no branches, so this is known before anything runs.
pub fn step_count(body: &[Stmt]) -> u64 {
    body.iter()
        .fold(0u64, |n, s| n.saturating_add(stmt_steps(s)))
}

/// The steps one statement runs.
pub fn stmt_steps(s: &Stmt) -> u64 {
    match &s.kind {
        StmtKind::Repeat { count, body, .. } => {
            count.saturating_mul(step_count(body).saturating_add(1))
        }
        _ => 1,
    }
}

fn err(file: &str, pos: Pos, msg: impl Into<String>) -> ParseError {
    ParseError {
        file: file.into(),
        line: pos.line,
        col: pos.col,
        msg: msg.into(),
    }
}

/// The header's values as the model would take them; returns the CPU count.
fn header(sc: &Scenario, file: &str) -> Result<usize, ParseError> {
    let at = |what: &str, msg: String| err(file, sc.pos_of(what), msg);
    let profile: Profile = match &sc.profile {
        Some(p) => p.parse().map_err(|e| at("profile", e))?,
        None => Profile::default(),
    };
    let mut cfg = Config::new(profile);
    for (name, on) in &sc.features {
        cfg.features
            .set(name, *on)
            .map_err(|e| at(&format!("feature {name}"), e))?;
    }
    if let Some(a) = &sc.arch {
        cfg.arch = a.parse::<Arch>().map_err(|e| at("arch", e))?;
    }
    if let Some(c) = sc.cpus {
        if !(1..=crate::model::MAX_CPUS).contains(&c) {
            return Err(at(
                "cpus",
                format!(
                    "cpus {c}: a scenario has 1 to {} CPUs",
                    crate::model::MAX_CPUS
                ),
            ));
        }
        cfg.cpus = c;
    }
    if let Some(n) = sc.numa {
        cfg.nr_nodes = crate::model::check_numa(n, sc.memory.unwrap_or(cfg.memory_bytes))
            .map_err(|e| at("numa", e))?;
    }
    if let Some(m) = sc.memory {
        if m < MIN_MEMORY || m % (2 << 20) != 0 || m > MAX_MEMORY {
            return Err(at(
                "memory",
                format!(
                    "memory {m}: a multiple of 2M from {}M to {}G",
                    MIN_MEMORY >> 20,
                    MAX_MEMORY >> 30
                ),
            ));
        }
        cfg.memory_bytes = m;
    }
    if let Some(b) = sc.fault_around_bytes {
        cfg.set_fault_around_bytes(b)
            .map_err(|e| at("fault-around-bytes", e))?;
    }
    if let Some(n) = sc.hugepages {
        // The pool the model's memory can hold: ask a fresh model, as `prepare` will.
        let mut k = Kernel::new(cfg.clone());
        let got = k.set_nr_hugepages(n);
        if got < n {
            return Err(at(
                "hugepages",
                format!(
                    "hugepages {n}: {} MiB of memory holds only {got} huge pages (raise `memory`)",
                    cfg.memory_bytes >> 20
                ),
            ));
        }
    }
    swap_headers(sc, file)?;
    Ok(cfg.cpus)
}

/// The swap headers: names used once, an area swapped on before the body big enough for its
/// header page and one slot, none bigger than `MAX_SWAP`, an `empty` file of no bytes.
fn swap_headers(sc: &Scenario, file: &str) -> Result<(), ParseError> {
    for (i, s) in sc.swap.iter().enumerate() {
        // This header's own place: the names repeat when it is a duplicate.
        let key = format!("swap {}", s.name);
        let nth = sc.swap[..i].iter().filter(|f| f.name == s.name).count();
        let pos = sc
            .header_pos
            .iter()
            .filter(|(w, _)| *w == key)
            .nth(nth)
            .map_or_else(|| sc.pos_of(&key), |p| p.1);
        let at = |msg: String| err(file, pos, msg);
        if let Some(first) = sc.swap[..i].iter().find(|f| f.name == s.name) {
            return Err(at(format!(
                "a second swap area named `{}` (the first is {})",
                s.name, first.at
            )));
        }
        let pages = s.bytes / PAGE_SIZE;
        if s.activate && pages < 2 {
            return Err(at(format!(
                "{} bytes of swap: an area swapped on holds its header page and at least one \
                 slot, 2 pages (8K) or more",
                s.bytes
            )));
        }
        if s.bytes > MAX_SWAP {
            return Err(at(format!(
                "{} MiB of swap: at most {} MiB (the host writes the whole file)",
                s.bytes >> 20,
                MAX_SWAP >> 20
            )));
        }
        if s.kind == SwapDev::File(SwapFileKind::Empty) && s.bytes != 0 {
            return Err(at(format!(
                "an `empty` swap file has no bytes, not {}: write `swapfile {} 0 empty`",
                s.bytes, s.name
            )));
        }
    }
    Ok(())
}

const PAGE_SIZE: u64 = 4096;
/// The largest swap area a header may ask for.
const MAX_SWAP: u64 = 1 << 30;

/// The smallest and largest `memory` a scenario may ask for.
const MIN_MEMORY: u64 = 16 << 20;
const MAX_MEMORY: u64 = 1 << 40;

impl Checker<'_> {
    fn err(&self, pos: Pos, msg: impl Into<String>) -> ParseError {
        err(self.file, pos, msg)
    }

    fn block(&self, body: &[Stmt], names: &mut Names) -> Result<(), ParseError> {
        for s in body {
            match &s.kind {
                StmtKind::Process { name, cpu } => {
                    self.fresh_task(name, s.pos, names)?;
                    self.cpu(*cpu as u64, s.pos)?;
                    names.tasks.insert(name.clone(), names.next_process);
                    names.exited.remove(name);
                    names.next_process += 1;
                }
                StmtKind::Repeat { var, .. }
                    if var
                        .as_ref()
                        .is_some_and(|v| lang::constant(&v.name).is_some()) =>
                {
                    let name = &var.as_ref().expect("var").name;
                    return Err(self.err(
                        s.pos,
                        format!("`{name}` is a constant; a loop variable needs another name"),
                    ));
                }
                StmtKind::Repeat {
                    count: 0,
                    var,
                    body,
                } => {
                    // Never runs; its lines must still make sense.
                    let mut inner = names.clone();
                    if let Some(v) = var {
                        inner.vars.insert(v.name.clone(), Ty::Num(None));
                    }
                    self.block(body, &mut inner)?;
                }
                StmtKind::Repeat { count, var, body } => {
                    if let Some(v) = var {
                        names.vars.insert(v.name.clone(), Ty::Num(None));
                    }
                    let before: HashSet<String> = names.tasks.keys().cloned().collect();
                    self.block(body, names)?;
                    let after: HashSet<String> = names.tasks.keys().cloned().collect();
                    // A pass that changes the tasks may not run again the same way: check the
                    // second pass too (a fork binding a name taken by the first pass, a task
                    // the first pass ended).
                    if *count > 1 && before != after {
                        self.block(body, names)?;
                    }
                }
                StmtKind::Step { task, action } => {
                    self.task(task, s.pos, names)?;
                    self.action(task, s.pos, action, names)?;
                }
            }
        }
        Ok(())
    }

    fn cpu(&self, cpu: u64, pos: Pos) -> Result<(), ParseError> {
        if cpu >= self.cpus as u64 {
            return Err(self.err(
                pos,
                format!(
                    "cpu {cpu}: the scenario has {} CPUs (0 to {}; `cpus N` sets more)",
                    self.cpus,
                    self.cpus - 1
                ),
            ));
        }
        Ok(())
    }

    fn fresh_task(&self, name: &str, pos: Pos, names: &Names) -> Result<(), ParseError> {
        if names.tasks.contains_key(name) {
            return Err(self.err(pos, format!("a task named `{name}` already exists")));
        }
        Ok(())
    }

    fn task(&self, task: &str, pos: Pos, names: &Names) -> Result<(), ParseError> {
        if names.tasks.contains_key(task) {
            return Ok(());
        }
        if let Some(line) = names.exited.get(task) {
            return Err(self.err(
                pos,
                format!("task `{task}` is gone: its process exited at line {line}"),
            ));
        }
        Err(self.err(
            pos,
            format!(
                "unknown task `{task}` (declare it with `process {task}`, or bind it with \
                 `{task} = fork()` or `{task} = thread(CPU)`)"
            ),
        ))
    }

    fn action(
        &self,
        task: &str,
        pos: Pos,
        action: &Action,
        names: &mut Names,
    ) -> Result<(), ParseError> {
        match action {
            Action::Do(e) => {
                if let Some(("exit" | "raise", args)) = e.as_call() {
                    self.arity(e, args)?;
                    self.num(&args[0], names)?;
                    let process = names.tasks[task];
                    let gone: Vec<String> = names
                        .tasks
                        .iter()
                        .filter(|(_, p)| **p == process)
                        .map(|(t, _)| t.clone())
                        .collect();
                    for t in gone {
                        names.tasks.remove(&t);
                        names.pending_fork.remove(&t);
                        names.exited.insert(t, pos.line);
                    }
                    return Ok(());
                }
                if let Some(("sleep", args)) = e.as_call() {
                    self.arity(e, args)?;
                    return self.duration(&args[0], names);
                }
                self.expr(e, names)?;
            }
            Action::Assign(name, e) => {
                match e.as_call() {
                    Some((f @ ("fork" | "thread"), args)) => {
                        self.arity(e, args)?;
                        self.fresh_task(name, pos, names)?;
                        let process = if f == "fork" {
                            names.next_process += 1;
                            names.next_process - 1
                        } else {
                            if let Ty::Num(Some(cpu)) = self.num(&args[0], names)? {
                                self.cpu(cpu, args[0].pos)?;
                            }
                            names.tasks[task]
                        };
                        names.tasks.insert(name.clone(), process);
                        names.exited.remove(name);
                        return Ok(());
                    }
                    Some(("wait", [])) if names.pending_fork.remove(task) => {
                        self.fresh_task(name, pos, names)?;
                        names.next_process += 1;
                        names.tasks.insert(name.clone(), names.next_process - 1);
                        names.exited.remove(name);
                        return Ok(());
                    }
                    _ => {}
                }
                if lang::constant(name).is_some() {
                    return Err(self.err(
                        pos,
                        format!("`{name}` is a constant; a variable needs another name"),
                    ));
                }
                let ty = match self.expr(e, names)? {
                    Ty::Num(_) => Ty::Num(None),
                    r => r,
                };
                names.vars.insert(name.clone(), ty);
            }
            Action::Compare(a, op, b) => self.compare(a, *op, b, names)?,
            Action::Within(a, op, b, ms) => {
                for side in [a, b] {
                    self.observation(side)?;
                }
                self.compare(a, *op, b, names)?;
                self.duration(ms, names)?;
            }
            Action::Mem { addr, len, byte } => {
                self.num(addr, names)?;
                self.num(len, names)?;
                match byte.as_call() {
                    Some(("fill" | "fill_pages", [seed])) => self.byte(seed, names)?,
                    Some(("mem", [other, olen])) => {
                        self.num(other, names)?;
                        self.num(olen, names)?;
                    }
                    Some(("fill" | "fill_pages" | "mem", _)) => {
                        return Err(self.err(
                            byte.pos,
                            "expected `mem(A, LEN) == BYTE`, `== mem(B, LEN)`, `== fill(SEED)` \
                             or `== fill_pages(SEED)`",
                        ))
                    }
                    _ => self.byte(byte, names)?,
                }
            }
            Action::Fails(call, _) => {
                let ok = matches!(call.as_call(), Some((f, _)) if ["uffd_read", "wait", "pagemap", "fstat", "waitpid", "wait4", "getrusage"].contains(&f)
                    || lang::call_spec(f).is_some_and(|c| matches!(c.kind, CallKind::Syscall | CallKind::Sysfs)));
                if !ok {
                    return Err(self.err(
                        call.pos,
                        "`expect CALL fails ERRNO` takes a syscall, sysfs_read(), sysfs_write(), \
                         uffd_read(), wait(), pagemap(), fstat(), waitpid(), wait4() or getrusage()",
                    ));
                }
                self.expr(call, names)?;
            }
            Action::Faults(access, _, _) => {
                if !matches!(access.as_call(), Some((f, _)) if lang::call_spec(f).is_some_and(|c| c.kind == CallKind::Access))
                {
                    return Err(self.err(
                        access.pos,
                        format!(
                            "`expect ACCESS faults SIGNAL` takes a memory access ({})",
                            lang::call_names(CallKind::Access).join(", ")
                        ),
                    ));
                }
                self.expr(access, names)?;
            }
            Action::Blocks(call) => match call.as_call() {
                Some(("fork", args)) => {
                    self.arity(call, args)?;
                    names.pending_fork.insert(task.to_string());
                }
                Some((f, _))
                    if lang::call_spec(f).is_some_and(|c| {
                        matches!(c.kind, CallKind::Syscall | CallKind::Access)
                    }) =>
                {
                    self.expr(call, names)?;
                }
                _ => {
                    return Err(self.err(
                        call.pos,
                        "`expect X blocks` takes a syscall, fork() or a memory access",
                    ))
                }
            },
        }
        Ok(())
    }

    /// `expect A OP B`: two numbers, or two texts compared for (in)equality.
    fn compare(&self, a: &Expr, op: CmpOp, b: &Expr, names: &Names) -> Result<(), ParseError> {
        match (self.operand(a, names)?, self.operand(b, names)?) {
            (Ty::Text, Ty::Text) if matches!(op, CmpOp::Eq | CmpOp::Ne) => Ok(()),
            (Ty::Text, Ty::Text) => Err(self.err(
                b.pos,
                format!(
                    "texts compare with `==` or `!=`, not `{}`",
                    op.symbol()
                ),
            )),
            (Ty::Text, _) => Err(self.err(
                b.pos,
                "a quoted string: the left side is text (a sysfs file's choice or words)",
            )),
            (_, Ty::Text) => Err(self.err(
                b.pos,
                "a number: the left side is a number (a sysfs file that shows a number reads as one)",
            )),
            _ => Ok(()),
        }
    }

    /// One side of a comparison: a number, or text (a quoted string, a sysfs file's choice).
    fn operand(&self, e: &Expr, names: &Names) -> Result<Ty, ParseError> {
        match &e.kind {
            ExprKind::Str(_) => Ok(Ty::Text),
            _ => match self.expr(e, names)? {
                Ty::Text => Ok(Ty::Text),
                _ => self.num(e, names),
            },
        }
    }

    /// A time in milliseconds (`sleep(MS)`, `within MS`): at most `lang::MAX_WAIT_MS`.
    fn duration(&self, e: &Expr, names: &Names) -> Result<(), ParseError> {
        if let Ty::Num(Some(ms)) = self.num(e, names)? {
            if ms > lang::MAX_WAIT_MS {
                return Err(self.err(
                    e.pos,
                    format!(
                        "{ms} ms: a scenario waits at most {} ms (one hour) at a time",
                        lang::MAX_WAIT_MS
                    ),
                ));
            }
        }
        Ok(())
    }

    /// A side of `expect ... within MS` is evaluated again and again: it may only look (probes,
    /// sysfs_read, variables, constants), never act.
    fn observation(&self, e: &Expr) -> Result<(), ParseError> {
        let mut stack = vec![e];
        while let Some(x) = stack.pop() {
            match &x.kind {
                ExprKind::Call(f, args) => {
                    if !lang::is_observation(f) {
                        return Err(self.err(
                            x.pos,
                            format!(
                                "{f}() in `expect ... within`: a side evaluated until it holds may only \
                                 look (probes, sysfs_read), not act"
                            ),
                        ));
                    }
                    stack.extend(args);
                }
                ExprKind::Neg(y) | ExprKind::Not(y) | ExprKind::Field(y, _) => stack.push(y),
                ExprKind::Chain(first, rest) => {
                    stack.push(first);
                    stack.extend(rest.iter().map(|(_, y)| y));
                }
                ExprKind::Num(..) | ExprKind::Str(_) | ExprKind::Name(_) => {}
            }
        }
        Ok(())
    }

    /// The arguments of sysfs_read / sysfs_write: a quoted path the model serves, then a
    /// quoted value or a number.
    fn sysfs_args(&self, f: &str, args: &[Expr], names: &Names) -> Result<String, ParseError> {
        let ExprKind::Str(path) = &args[0].kind else {
            return Err(self.err(args[0].pos, format!("{f}() takes a quoted path first")));
        };
        crate::sysfs::check_path(path).map_err(|m| self.err(args[0].pos, m))?;
        if let Some(v) = args.get(1) {
            if !matches!(v.kind, ExprKind::Str(_)) {
                self.num(v, names)?;
            }
        }
        Ok(path.clone())
    }

    fn arity(&self, e: &Expr, args: &[Expr]) -> Result<&'static lang::CallSpec, ParseError> {
        let Some((f, _)) = e.as_call() else {
            return Err(self.err(e.pos, "a call"));
        };
        let spec = lang::call_spec(f).ok_or_else(|| self.unknown_call(e.pos, f))?;
        let (min, max) = spec.arity;
        if args.len() < min || args.len() > max {
            let want = if min == max {
                min.to_string()
            } else {
                format!("{min} or {max}")
            };
            return Err(self.err(
                e.pos,
                format!(
                    "{f}() takes {want} argument(s), {} given (see docs/scenario-language.md)",
                    args.len()
                ),
            ));
        }
        Ok(spec)
    }

    fn unknown_call(&self, pos: Pos, f: &str) -> ParseError {
        self.err(
            pos,
            format!(
                "unknown call `{f}` (syscalls: {}; accesses: {}; probes: {}; model probes: {})",
                lang::call_names(CallKind::Syscall).join(", "),
                lang::call_names(CallKind::Access).join(", "),
                lang::call_names(CallKind::Probe).join(", "),
                lang::call_names(CallKind::ModelProbe).join(", ")
            ),
        )
    }

    /// An expression that must be a number.
    fn num(&self, e: &Expr, names: &Names) -> Result<Ty, ParseError> {
        match self.expr(e, names)? {
            Ty::Record(r) if !r.raw => Err(self.err(
                e.pos,
                format!(
                    "a number, but this is a {} record; pick a field ({})",
                    r.name,
                    (r.fields)().join(", ")
                ),
            )),
            Ty::Record(_) => Ok(Ty::Num(None)),
            Ty::Text => Err(self.err(
                e.pos,
                "a number, but this is text (a sysfs file's choice or words; compare it with a \
                 quoted string)",
            )),
            n => Ok(n),
        }
    }

    /// A byte value: a constant must fit in 8 bits.
    fn byte(&self, e: &Expr, names: &Names) -> Result<(), ParseError> {
        if let Ty::Num(Some(v)) = self.num(e, names)? {
            if v > 0xff {
                return Err(self.err(e.pos, format!("{v:#x} is not a byte (0 to 0xff)")));
            }
        }
        Ok(())
    }

    fn expr(&self, e: &Expr, names: &Names) -> Result<Ty, ParseError> {
        match &e.kind {
            ExprKind::Num(v, _) => Ok(Ty::Num(Some(*v))),
            ExprKind::Str(_) => Err(self.err(
                e.pos,
                format!(
                    "a number (a string is a sysfs path or value, text compared with a sysfs \
                     file's, or an argument a syscall takes as a C string: {})",
                    string_args()
                ),
            )),
            ExprKind::Name(n) => {
                if let Some(t) = names.vars.get(n) {
                    return Ok(*t);
                }
                if let Some(v) = lang::constant(n) {
                    return Ok(Ty::Num(Some(v)));
                }
                if names.tasks.contains_key(n) {
                    return Err(self.err(e.pos, format!("`{n}` is a task, not a value")));
                }
                Err(self.err(
                    e.pos,
                    format!("unknown name `{n}`: no variable of that name is bound before this line, and no constant has it"),
                ))
            }
            ExprKind::Neg(x) => Ok(match self.num(x, names)? {
                Ty::Num(Some(v)) => Ty::Num(Some(v.wrapping_neg())),
                _ => Ty::Num(None),
            }),
            ExprKind::Not(x) => Ok(match self.num(x, names)? {
                Ty::Num(Some(v)) => Ty::Num(Some(!v)),
                _ => Ty::Num(None),
            }),
            ExprKind::Chain(first, rest) => {
                let mut acc = match self.num(first, names)? {
                    Ty::Num(v) => v,
                    Ty::Record(_) | Ty::Text => None,
                };
                for (op, rhs) in rest {
                    let r = match self.num(rhs, names)? {
                        Ty::Num(v) => v,
                        Ty::Record(_) | Ty::Text => None,
                    };
                    acc = match (acc, r) {
                        (Some(x), Some(y)) => {
                            Some(op.apply(x, y).map_err(|m| self.err(rhs.pos, m))?)
                        }
                        // Known at run time only; still no shift by 64 or more.
                        (_, Some(y)) if matches!(op, BinOp::Shl | BinOp::Shr) && y >= 64 => {
                            return Err(self.err(
                                rhs.pos,
                                format!("a shift by {y}: a 64-bit value shifts by 0 to 63 bits"),
                            ))
                        }
                        (_, Some(0)) if matches!(op, BinOp::Div | BinOp::Rem) => {
                            return Err(self.err(rhs.pos, "division by zero"))
                        }
                        _ => None,
                    };
                }
                Ok(Ty::Num(acc))
            }
            ExprKind::Field(rec, field) => match self.expr(rec, names)? {
                Ty::Record(r) => {
                    if (r.fields)().contains(&field.as_str()) {
                        Ok(Ty::Num(None))
                    } else {
                        Err(self.err(
                            e.pos,
                            format!(
                                "a {} record has no field `{field}` (fields: {})",
                                r.name,
                                (r.fields)().join(", ")
                            ),
                        ))
                    }
                }
                Ty::Num(_) | Ty::Text => Err(self.err(
                    e.pos,
                    format!("`.{field}` of a number: only records (pagemap, maps, smaps, swaps, uffd_read, model.page) have fields"),
                )),
            },
            ExprKind::Call(f, args) => self.call(e, f, args, names),
        }
    }

    /// One argument of syscall `f`, as its declaration says: a string literal for a C string,
    /// else a number, one of the values the model implements if the declaration lists them.
    fn syscall_arg(
        &self,
        f: &str,
        a: &Expr,
        d: &syscalls::Arg,
        names: &Names,
    ) -> Result<(), ParseError> {
        if d.kind.is_string() {
            let ExprKind::Str(text) = &a.kind else {
                return Err(self.err(a.pos, format!("{f}() takes a quoted `{}`", d.name)));
            };
            if d.kind == ArgKind::Path {
                self.swap_name(f, a.pos, text)?;
            }
            if d.kind == ArgKind::FilePath && !mmlab::fs::namei::scenario_path_ok(text) {
                return Err(self.err(
                    a.pos,
                    format!(
                        "{f}(): \"{text}\" is outside the scenario's directory (a relative \
                         path without `..`, \"/dev/zero\" or \"/proc/self/fd/N\")"
                    ),
                ));
            }
            return Ok(());
        }
        if let Ty::Num(Some(v)) = self.num(a, names)? {
            if !d.only.is_empty() && !syscalls::only_values(d).contains(&v) {
                return Err(self.err(
                    a.pos,
                    format!(
                        "{f}(): `{}` {v:#x} is not modelled (only {})",
                        d.name,
                        d.only.join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }

    /// A swap path: a name a swap header declared, or an absolute path.
    fn swap_name(&self, f: &str, pos: Pos, text: &str) -> Result<(), ParseError> {
        if text.starts_with('/') || self.swap_names.contains(&text) {
            return Ok(());
        }
        let declared = if self.swap_names.is_empty() {
            "none: `swap SIZE`, `swap zram SIZE` and `swapfile NAME SIZE` declare them".to_string()
        } else {
            self.swap_names.join(", ")
        };
        Err(self.err(
            pos,
            format!(
                "{f}(\"{text}\"): no swap header declares `{text}` (declared: {declared}); an \
                 absolute path starts with `/`"
            ),
        ))
    }

    fn call(&self, e: &Expr, f: &str, args: &[Expr], names: &Names) -> Result<Ty, ParseError> {
        let spec = self.arity(e, args)?;
        match spec.kind {
            CallKind::Task => {
                return Err(self.err(
                    e.pos,
                    format!("{f}() binds a new task: write `NAME = {f}(...)` on a line of its own"),
                ))
            }
            CallKind::Exit => {
                return Err(self.err(
                    e.pos,
                    format!("{f}() is a step of its own: `TASK: exit(0)`, `TASK: raise(SIGTERM)`"),
                ))
            }
            CallKind::Mem => {
                return Err(self.err(e.pos, "mem() only as `expect mem(ADDR, LEN) == BYTE`"))
            }
            CallKind::Sleep => {
                return Err(self.err(e.pos, "sleep(MS) is a step of its own: `TASK: sleep(100)`"))
            }
            _ => {}
        }
        match spec.args {
            Args::Name(list) => match &args[0].kind {
                ExprKind::Name(n) if list().contains(&n.as_str()) => {}
                ExprKind::Name(n) => {
                    return Err(self.err(
                        args[0].pos,
                        format!("{f}() knows no `{n}` (known: {})", list().join(", ")),
                    ))
                }
                _ => {
                    return Err(self.err(
                        args[0].pos,
                        format!("{f}(NAME) takes a bare name (known: {})", list().join(", ")),
                    ))
                }
            },
            Args::Sysfs => {
                let path = self.sysfs_args(f, args, names)?;
                if matches!(spec.returns, Returns::File) {
                    return Ok(if crate::sysfs::reads_as_number(&path) {
                        Ty::Num(None)
                    } else {
                        Ty::Text
                    });
                }
            }
            Args::Swap => {
                let ExprKind::Str(text) = &args[0].kind else {
                    return Err(self.err(
                        args[0].pos,
                        format!("{f}() takes a quoted swap name (`\"swap0\"`) or absolute path"),
                    ));
                };
                self.swap_name(f, args[0].pos, text)?;
            }
            Args::Syscall(decl) => {
                for (a, d) in args.iter().zip(decl) {
                    self.syscall_arg(f, a, d, names)?;
                }
            }
            Args::Exprs => {
                for a in args {
                    self.num(a, names)?;
                }
                if matches!(f, "store" | "memset") {
                    self.byte(&args[1], names)?;
                }
            }
        }
        Ok(match spec.returns {
            Returns::Num(_) | Returns::File => Ty::Num(None),
            Returns::Record(r) => Ty::Record(r),
        })
    }
}
