//! Lexer and parser for `.mml` files: one statement per line, errors with line:column.

use std::path::Path;

use crate::ast::*;
use crate::backend::{SwapDev, SwapFileKind, SwapSetup};

/// A parse error at a place in a file.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{col}: {msg}")]
pub struct ParseError {
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub msg: String,
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    Num(u64, Radix),
    Str(String),
    Punct(&'static str),
}

impl Tok {
    fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("`{s}`"),
            Tok::Num(n, r) => format!("number {}", r.show(*n)),
            Tok::Str(s) => format!("string \"{s}\""),
            Tok::Punct(p) => format!("`{p}`"),
        }
    }
}

const PUNCTS: &[&str] = &[
    "==", "!=", "<=", ">=", "<<", ">>", "(", ")", ",", ".", "=", "<", ">", "+", "-", "*", "/", "%",
    "|", "&", "~", ":", "{", "}",
];

/// Split one line into tokens with their columns; `#` starts a comment.
fn lex(line: &str, ln: usize, file: &str) -> Result<Vec<(Tok, usize)>, ParseError> {
    let err = |col: usize, msg: String| ParseError {
        file: file.into(),
        line: ln,
        col,
        msg,
    };
    let b = line.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    while i < b.len() {
        let c = b[i] as char;
        let col = i + 1;
        if c == '#' {
            break;
        }
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '"' {
            let end = line[i + 1..]
                .find('"')
                .ok_or_else(|| err(col, "unterminated string".into()))?;
            out.push((Tok::Str(line[i + 1..i + 1 + end].to_string()), col));
            i += end + 2;
            continue;
        }
        if c.is_ascii_digit() {
            let start = i;
            while i < b.len() && (b[i] as char).is_ascii_alphanumeric() {
                i += 1;
            }
            let text = &line[start..i];
            let n = parse_number(text).ok_or_else(|| {
                let msg = if text
                    .bytes()
                    .skip(1)
                    .all(|c| c.is_ascii_hexdigit() || c == b'x')
                    && !text.ends_with('x')
                {
                    format!("number `{text}` does not fit in 64 bits")
                } else {
                    format!("bad number `{text}`")
                };
                err(col, msg)
            })?;
            let radix = if text.starts_with("0x") || text.starts_with("0X") {
                Radix::Hex
            } else {
                Radix::Auto
            };
            out.push((Tok::Num(n, radix), col));
            continue;
        }
        if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < b.len() && ((b[i] as char).is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            out.push((Tok::Ident(line[start..i].to_string()), col));
            continue;
        }
        match PUNCTS.iter().find(|p| line[i..].starts_with(**p)) {
            Some(p) => {
                out.push((Tok::Punct(p), col));
                i += p.len();
            }
            None => {
                let c = line[i..].chars().next().unwrap_or(c);
                return Err(err(col, format!("unexpected character `{c}`")));
            }
        }
    }
    Ok(out)
}

/// Decimal, 0x hex or 0o octal (file modes), with an optional K/M/G suffix (powers of 1024).
pub fn parse_number(text: &str) -> Option<u64> {
    let (digits, mult) = match text.as_bytes().last()? {
        b'K' => (&text[..text.len() - 1], 1u64 << 10),
        b'M' => (&text[..text.len() - 1], 1 << 20),
        b'G' => (&text[..text.len() - 1], 1 << 30),
        _ => (text, 1),
    };
    let v = if let Some(h) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        u64::from_str_radix(h, 16).ok()?
    } else if let Some(o) = digits.strip_prefix("0o") {
        u64::from_str_radix(o, 8).ok()?
    } else {
        digits.parse::<u64>().ok()?
    };
    v.checked_mul(mult)
}

/// How deep expressions may nest: parentheses, unary operators, calls and precedence levels
/// (a bound, so no input can exhaust the stack of the parser or of any expression walker).
pub const MAX_DEPTH: usize = 200;

/// How deep `repeat` blocks may nest (the runner walks blocks recursively).
pub const MAX_BLOCK_DEPTH: usize = 32;

struct Line<'a> {
    depth: usize,
    toks: Vec<(Tok, usize)>,
    i: usize,
    ln: usize,
    file: &'a str,
    end_col: usize,
}

impl Line<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.i).map(|t| &t.0)
    }
    fn col(&self) -> usize {
        self.toks.get(self.i).map_or(self.end_col, |t| t.1)
    }
    fn pos(&self) -> Pos {
        Pos {
            line: self.ln,
            col: self.col(),
        }
    }
    fn err(&self, expected: &str) -> ParseError {
        let found = self.peek().map_or("end of line".to_string(), Tok::describe);
        ParseError {
            file: self.file.into(),
            line: self.ln,
            col: self.col(),
            msg: format!("expected {expected}, found {found}"),
        }
    }
    fn err_at(&self, at: Pos, msg: String) -> ParseError {
        ParseError {
            file: self.file.into(),
            line: at.line,
            col: at.col,
            msg,
        }
    }
    fn eat(&mut self, p: &str) -> bool {
        if self.peek()
            == Some(&Tok::Punct(
                PUNCTS.iter().find(|x| **x == p).copied().unwrap_or(""),
            ))
        {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn expect(&mut self, p: &str) -> Result<(), ParseError> {
        if self.eat(p) {
            Ok(())
        } else {
            Err(self.err(&format!("`{p}`")))
        }
    }
    fn ident(&mut self, what: &str) -> Result<String, ParseError> {
        match self.peek() {
            Some(Tok::Ident(s)) => {
                let s = s.clone();
                self.i += 1;
                Ok(s)
            }
            _ => Err(self.err(what)),
        }
    }
    fn number(&mut self, what: &str) -> Result<u64, ParseError> {
        match self.peek() {
            Some(Tok::Num(n, _)) => {
                let n = *n;
                self.i += 1;
                Ok(n)
            }
            _ => Err(self.err(what)),
        }
    }
    fn keyword(&mut self, kw: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Ident(s)) if s == kw) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn done(&self) -> Result<(), ParseError> {
        if self.i == self.toks.len() {
            Ok(())
        } else {
            Err(self.err("end of line"))
        }
    }

    fn expr(&mut self) -> Result<Expr, ParseError> {
        self.binary(0)
    }

    fn binary(&mut self, level: usize) -> Result<Expr, ParseError> {
        const LEVELS: &[&[(&str, BinOp)]] = &[
            &[("|", BinOp::Or)],
            &[("&", BinOp::And)],
            &[("<<", BinOp::Shl), (">>", BinOp::Shr)],
            &[("+", BinOp::Add), ("-", BinOp::Sub)],
            &[("*", BinOp::Mul), ("/", BinOp::Div), ("%", BinOp::Rem)],
        ];
        if level == LEVELS.len() {
            return self.unary();
        }
        let first = self.binary(level + 1)?;
        let mut rest = Vec::new();
        'outer: loop {
            for (sym, op) in LEVELS[level] {
                if self.peek() == Some(&Tok::Punct(sym)) {
                    self.i += 1;
                    // A chain is one level deeper than its operands.
                    self.enter()?;
                    let rhs = self.binary(level + 1);
                    self.depth -= 1;
                    rest.push((*op, rhs?));
                    continue 'outer;
                }
            }
            break;
        }
        if rest.is_empty() {
            return Ok(first);
        }
        Ok(Expr {
            pos: first.pos,
            kind: ExprKind::Chain(Box::new(first), rest),
        })
    }

    /// One level deeper into an expression, or an error past MAX_DEPTH.
    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            self.depth -= 1;
            return Err(self.err(&format!("an expression nested at most {MAX_DEPTH} deep")));
        }
        Ok(())
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        let pos = self.pos();
        self.enter()?;
        let e = self.unary_inner(pos);
        self.depth -= 1;
        e
    }

    fn unary_inner(&mut self, pos: Pos) -> Result<Expr, ParseError> {
        if self.eat("-") {
            return Ok(Expr {
                pos,
                kind: ExprKind::Neg(Box::new(self.unary()?)),
            });
        }
        if self.eat("~") {
            return Ok(Expr {
                pos,
                kind: ExprKind::Not(Box::new(self.unary()?)),
            });
        }
        let e = self.primary()?;
        if !self.eat(".") {
            return Ok(e);
        }
        let f = self.ident("a field name")?;
        if self.peek() == Some(&Tok::Punct(".")) {
            // Records hold numbers: a field has no fields of its own.
            return Err(self.err("no second field (a record's fields are numbers)"));
        }
        Ok(Expr {
            pos,
            kind: ExprKind::Field(Box::new(e), f),
        })
    }

    fn primary(&mut self) -> Result<Expr, ParseError> {
        let pos = self.pos();
        match self.peek().cloned() {
            Some(Tok::Num(n, radix)) => {
                self.i += 1;
                Ok(Expr {
                    pos,
                    kind: ExprKind::Num(n, radix),
                })
            }
            Some(Tok::Str(text)) => {
                self.i += 1;
                Ok(Expr {
                    pos,
                    kind: ExprKind::Str(text),
                })
            }
            Some(Tok::Punct("(")) => {
                self.i += 1;
                let e = self.expr()?;
                self.expect(")")?;
                Ok(e)
            }
            Some(Tok::Ident(mut name)) => {
                self.i += 1;
                if name == "model" && self.eat(".") {
                    name = format!("model.{}", self.ident("a model probe name")?);
                    if self.peek() != Some(&Tok::Punct("(")) {
                        return Err(self.err("`(` after a model probe"));
                    }
                }
                if self.eat("(") {
                    let mut args = Vec::new();
                    if !self.eat(")") {
                        loop {
                            args.push(self.expr()?);
                            if self.eat(")") {
                                break;
                            }
                            self.expect(",")?;
                        }
                    }
                    return Ok(Expr {
                        pos,
                        kind: ExprKind::Call(name, args),
                    });
                }
                Ok(Expr {
                    pos,
                    kind: ExprKind::Name(name),
                })
            }
            _ => Err(self.err("an expression")),
        }
    }

    fn action(&mut self) -> Result<Action, ParseError> {
        if self.keyword("expect") {
            let lhs = self.expr()?;
            if self.keyword("fails") {
                let at = self.pos();
                let e = self.ident("an errno name such as EFAULT")?;
                if mmlab::Errno::from_name(&e).is_none() {
                    return Err(self.err_at(
                        at,
                        format!("unknown errno `{e}` (EFAULT, EINVAL, ENOMEM, ...)"),
                    ));
                }
                return Ok(Action::Fails(lhs, e));
            }
            if self.keyword("faults") {
                let at = self.pos();
                let s = self.ident("a signal name such as SIGSEGV")?;
                if crate::lang::signal(&s).is_none() {
                    return Err(self.err_at(
                        at,
                        format!(
                            "unknown signal `{s}` (an access raises {})",
                            crate::lang::SIGNALS.join(" or ")
                        ),
                    ));
                }
                return Ok(Action::Faults(lhs, s));
            }
            if self.keyword("blocks") {
                return Ok(Action::Blocks(lhs));
            }
            let op = [
                ("==", CmpOp::Eq),
                ("!=", CmpOp::Ne),
                ("<=", CmpOp::Le),
                (">=", CmpOp::Ge),
                ("<", CmpOp::Lt),
                (">", CmpOp::Gt),
            ]
            .into_iter()
            .find(|(s, _)| self.peek() == Some(&Tok::Punct(s)))
            .map(|(_, op)| op)
            .ok_or_else(|| {
                self.err("a comparison (`==`, `!=`, `<`, `<=`, `>`, `>=`), `fails`, `faults` or `blocks`")
            })?;
            self.i += 1;
            let rhs = self.expr()?;
            if let ExprKind::Call(name, args) = &lhs.kind {
                if name == "mem" {
                    if op != CmpOp::Eq || args.len() != 2 {
                        return Err(ParseError {
                            file: self.file.into(),
                            line: lhs.pos.line,
                            col: lhs.pos.col,
                            msg: "expected `mem(ADDR, LEN) == BYTE`".into(),
                        });
                    }
                    return Ok(Action::Mem {
                        addr: args[0].clone(),
                        len: args[1].clone(),
                        byte: rhs,
                    });
                }
            }
            if self.keyword("within") {
                let ms = self.expr()?;
                return Ok(Action::Within(lhs, op, rhs, ms));
            }
            return Ok(Action::Compare(lhs, op, rhs));
        }
        if let (Some(Tok::Ident(name)), Some((Tok::Punct("="), _))) =
            (self.peek().cloned(), self.toks.get(self.i + 1))
        {
            self.i += 2;
            return Ok(Action::Assign(name, self.expr()?));
        }
        Ok(Action::Do(self.expr()?))
    }
}

/// Header directives: they configure the machine, so they come before the first step.
pub const HEADER_DIRECTIVES: &[&str] = &[
    "title",
    "profile",
    "memory",
    "cpus",
    "hugepages",
    "thp",
    "swap",
    "swapfile",
    "fault-around-bytes",
    "model-only",
    "feature",
    "arch",
    "files",
];

/// A word that starts a directive line (the first word of a header directive, `process`,
/// `repeat`, `expect`), so it may not be a task name.
fn is_directive_word(w: &str) -> bool {
    matches!(w, "process" | "repeat" | "expect")
        || HEADER_DIRECTIVES
            .iter()
            .any(|d| d.split('-').next() == Some(w))
}

/// Parse a scenario file's bytes: a line that is not UTF-8 is an error at that line.
pub fn parse_bytes(bytes: &[u8], file: &Path) -> Result<Scenario, ParseError> {
    match std::str::from_utf8(bytes) {
        Ok(text) => parse(text, file),
        Err(e) => {
            let (good, _) = bytes.split_at(e.valid_up_to());
            let line = good.iter().filter(|&&c| c == b'\n').count() + 1;
            let line_start = good.iter().rposition(|&c| c == b'\n').map_or(0, |i| i + 1);
            Err(ParseError {
                file: file.display().to_string(),
                line,
                col: e.valid_up_to() - line_start + 1,
                msg: "invalid UTF-8 (scenario files are UTF-8 text)".into(),
            })
        }
    }
}

/// Parse a scenario from text and check it (`crate::check`); `file` names it in errors.
pub fn parse(text: &str, file: &Path) -> Result<Scenario, ParseError> {
    let sc = parse_syntax(text, file)?;
    crate::check::check(&sc)?;
    Ok(sc)
}

/// The syntax alone: statements and header directives, without the check pass.
fn parse_syntax(text: &str, file: &Path) -> Result<Scenario, ParseError> {
    let fname = file.display().to_string();
    let mut sc = Scenario {
        path: file.to_path_buf(),
        ..Default::default()
    };
    // Blocks being built: (repeat count, statements, where it opened).
    let mut stack: Vec<(u64, Vec<Stmt>, Pos)> = vec![(1, Vec::new(), Pos::default())];
    // The first statement of the body: header directives may not follow it.
    let mut first_step: Option<Pos> = None;
    let mut title_pos: Option<Pos> = None;
    for (idx, raw) in text.lines().enumerate() {
        let ln = idx + 1;
        let toks = lex(raw, ln, &fname)?;
        if toks.is_empty() {
            continue;
        }
        let mut l = Line {
            depth: 0,
            toks,
            i: 0,
            ln,
            file: &fname,
            end_col: raw.trim_end().len() + 1,
        };
        let pos = l.pos();
        let at = |p: Pos, msg: String| ParseError {
            file: fname.clone(),
            line: p.line,
            col: p.col,
            msg,
        };
        let rest = |from: usize| {
            raw[from - 1..]
                .split('#')
                .next()
                .unwrap_or("")
                .trim()
                .to_string()
        };
        let first = match l.peek() {
            Some(Tok::Ident(s)) => s.clone(),
            Some(Tok::Punct("}")) => {
                l.i += 1;
                l.done()?;
                if stack.len() == 1 {
                    return Err(at(pos, "`}` without an open `repeat`".into()));
                }
                let (count, body, open) = stack.pop().expect("block");
                stack.last_mut().expect("outer").1.push(Stmt {
                    pos: open,
                    kind: StmtKind::Repeat { count, body },
                });
                continue;
            }
            _ => return Err(l.err("a directive, `process`, `repeat` or `TASK:`")),
        };
        let is_step = matches!(l.toks.get(1), Some((Tok::Punct(":"), _)));
        let directive = if is_step || !is_directive_word(&first) {
            None
        } else {
            Some(match first.as_str() {
                "fault" => "fault-around-bytes",
                "model" => "model-only",
                d => d,
            })
        };
        match directive {
            Some(d) if HEADER_DIRECTIVES.contains(&d) => {
                if let Some(step) = first_step {
                    return Err(at(
                        pos,
                        format!(
                            "`{d}` after the first step (line {}): header directives come first",
                            step.line
                        ),
                    ));
                }
                let single = !matches!(d, "thp" | "feature" | "swap" | "swapfile");
                if let Some((_, before)) = sc.header_pos.iter().find(|(w, _)| w == d) {
                    if single {
                        return Err(at(
                            pos,
                            format!("a second `{d}` line (the first is line {})", before.line),
                        ));
                    }
                }
                if d == "title" {
                    if let Some(before) = title_pos {
                        return Err(at(
                            pos,
                            format!("a second `title` line (the first is line {})", before.line),
                        ));
                    }
                    title_pos = Some(pos);
                }
            }
            _ => {
                first_step.get_or_insert(pos);
            }
        }
        if is_step && !is_directive_word(&first) {
            l.i += 2;
            let action = l.action()?;
            l.done()?;
            stack.last_mut().expect("block").1.push(Stmt {
                pos,
                kind: StmtKind::Step {
                    task: first,
                    action,
                },
            });
            continue;
        }
        l.i += 1;
        match first.as_str() {
            "title" => match l.peek().cloned() {
                Some(Tok::Str(s)) => {
                    l.i += 1;
                    l.done()?;
                    sc.title = s;
                }
                _ => return Err(l.err("a quoted title")),
            },
            "profile" => {
                let p = rest(l.col());
                if p.is_empty() {
                    return Err(l.err("a profile name such as linux-5.19"));
                }
                sc.header_pos.push(("profile".into(), l.pos()));
                sc.profile = Some(p);
            }
            "memory" => {
                sc.header_pos.push(("memory".into(), l.pos()));
                sc.memory = Some(l.number("a memory size such as 64M")?);
                l.done()?;
            }
            "cpus" => {
                sc.header_pos.push(("cpus".into(), l.pos()));
                let n = l.number("a CPU count")?;
                sc.cpus = Some(usize::try_from(n).unwrap_or(usize::MAX));
                l.done()?;
            }
            "hugepages" => {
                sc.header_pos.push(("hugepages".into(), l.pos()));
                sc.hugepages = Some(l.number("a number of 2 MiB huge pages")?);
                l.done()?;
            }
            "thp" => {
                let text = rest(l.col());
                let mut words = text.split_whitespace();
                let (Some(name), Some(value), None) = (words.next(), words.next(), words.next())
                else {
                    return Err(l.err("a knob and its value, such as `thp enabled always`"));
                };
                // The sysfs handler's own check: a value it would refuse is a scenario error.
                if let Err(e) = mmlab::mm::thp_knobs::ThpKnobs::default().write(name, value) {
                    return Err(at(
                        l.pos(),
                        format!(
                            "writing `{value}` to transparent_hugepage/{name} fails with {e} \
                             (knobs: {})",
                            mmlab::mm::thp_knobs::NAMES.join(", ")
                        ),
                    ));
                }
                sc.header_pos.push(("thp".into(), pos));
                sc.thp.push((name.to_string(), value.to_string()));
            }
            "swap" => {
                let zram = l.keyword("zram");
                let bytes = l.number(if zram {
                    "a zram disk size such as 16M"
                } else {
                    "a swap file size such as 16M, or `zram SIZE`"
                })?;
                l.done()?;
                let kind = if zram {
                    SwapDev::Zram
                } else {
                    SwapDev::File(SwapFileKind::Mkswap)
                };
                // Steps name them in header order: swap0, swap1, ... and zram0, zram1, ...
                let n = sc
                    .swap
                    .iter()
                    .filter(|s| s.activate && s.kind == kind)
                    .count();
                let name = format!("{}{n}", if zram { "zram" } else { "swap" });
                sc.header_pos.push((format!("swap {name}"), pos));
                sc.swap.push(SwapSetup {
                    name,
                    bytes,
                    kind,
                    activate: true,
                    at: format!("{fname}:{ln}"),
                });
            }
            "swapfile" => {
                let name = l.ident("a swap file name")?;
                let bytes = l.number("a file size such as 64K")?;
                let kind = match l.peek() {
                    None => SwapFileKind::Mkswap,
                    Some(_) => {
                        let at_kind = l.pos();
                        match l.ident("`holes`, `nosig` or `empty`")?.as_str() {
                            "holes" => SwapFileKind::Holes,
                            "nosig" => SwapFileKind::NoSignature,
                            "empty" => SwapFileKind::Empty,
                            w => {
                                return Err(at(
                                    at_kind,
                                    format!("expected `holes`, `nosig` or `empty`, found `{w}`"),
                                ))
                            }
                        }
                    }
                };
                l.done()?;
                sc.header_pos.push((format!("swap {name}"), pos));
                sc.swap.push(SwapSetup {
                    name,
                    bytes,
                    kind: SwapDev::File(kind),
                    activate: false,
                    at: format!("{fname}:{ln}"),
                });
            }
            "fault" => {
                l.expect("-")?;
                if !l.keyword("around") {
                    return Err(l.err("`fault-around-bytes`"));
                }
                l.expect("-")?;
                if !l.keyword("bytes") {
                    return Err(l.err("`fault-around-bytes`"));
                }
                sc.header_pos.push(("fault-around-bytes".into(), l.pos()));
                sc.fault_around_bytes = Some(l.number("a byte count such as 4096")?);
                l.done()?;
            }
            "model" => {
                l.expect("-")?;
                if !l.keyword("only") {
                    return Err(l.err("`model-only`"));
                }
                match l.peek().cloned() {
                    Some(Tok::Str(s)) => {
                        l.i += 1;
                        sc.model_only = Some(s);
                    }
                    _ => return Err(l.err("a quoted reason after model-only")),
                }
                sc.header_pos.push(("model-only".into(), pos));
                l.done()?;
            }
            "feature" => {
                let name_pos = l.pos();
                let name = l.ident("a feature name")?;
                let on = match l.ident("`on` or `off`")?.as_str() {
                    "on" => true,
                    "off" => false,
                    _ => {
                        return Err(at(
                            Pos {
                                line: ln,
                                col: l.toks[l.i - 1].1,
                            },
                            "expected `on` or `off`".into(),
                        ))
                    }
                };
                l.done()?;
                sc.header_pos.push((format!("feature {name}"), name_pos));
                sc.header_pos.push(("feature".into(), pos));
                sc.features.push((name, on));
            }
            "files" => {
                sc.header_pos.push(("files".into(), l.pos()));
                let kind = l.ident("a filesystem kind, `tmpfs` or `disk`")?;
                sc.files = kind
                    .parse()
                    .map_err(|_| l.err("`tmpfs` or `disk` after `files`"))?;
                l.done()?;
            }
            "arch" => {
                sc.header_pos.push(("arch".into(), l.pos()));
                sc.arch = Some(l.ident("an architecture name such as arm64")?);
                l.done()?;
            }
            "process" => {
                let name = l.ident("a process name")?;
                let mut cpu = 0;
                if l.keyword("on") {
                    if !l.keyword("cpu") {
                        return Err(l.err("`cpu`"));
                    }
                    let n = l.number("a CPU number")?;
                    cpu = usize::try_from(n).unwrap_or(usize::MAX);
                }
                l.done()?;
                stack.last_mut().expect("block").1.push(Stmt {
                    pos,
                    kind: StmtKind::Process { name, cpu },
                });
            }
            "repeat" => {
                let n = l.number("a repeat count")?;
                l.expect("{")?;
                l.done()?;
                if stack.len() > MAX_BLOCK_DEPTH {
                    return Err(at(
                        pos,
                        format!("`repeat` blocks nested at most {MAX_BLOCK_DEPTH} deep"),
                    ));
                }
                stack.push((n, Vec::new(), pos));
            }
            _ => {
                l.i -= 1;
                return Err(l.err("a directive (title, profile, memory, cpus, hugepages, thp, swap, swapfile, fault-around-bytes, model-only, feature, arch, files), `process`, `repeat` or `TASK:`"));
            }
        }
    }
    if stack.len() > 1 {
        let open = stack.last().expect("block").2;
        return Err(ParseError {
            file: fname,
            line: open.line,
            col: open.col,
            msg: "`repeat` block is not closed with `}`".into(),
        });
    }
    if sc.title.is_empty() {
        return Err(ParseError {
            file: fname,
            line: 1,
            col: 1,
            msg: "expected a `title \"...\"` line".into(),
        });
    }
    sc.body = stack.pop().expect("top").1;
    Ok(sc)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<Scenario, ParseError> {
        parse(text, Path::new("t.mml"))
    }

    #[test]
    fn parses_steps_blocks_and_expectations() {
        let sc = p("title \"x\"\nprofile linux-5.18\nprocess P on cpu 1\nP: p = mmap(NULL, 2 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)\nrepeat 3 {\n  P: store(p, 0x11)\n}\nP: expect pagemap(p).present == 1\nP: expect mremap(p, 1, 1, 0) fails EFAULT # comment\nP: expect mem(p, 4K) == 0x11\n").unwrap();
        assert_eq!(sc.profile.as_deref(), Some("linux-5.18"));
        assert_eq!(sc.body.len(), 6);
        assert!(matches!(&sc.body[0].kind, StmtKind::Process { cpu: 1, .. }));
        assert!(matches!(&sc.body[2].kind, StmtKind::Repeat { count: 3, body } if body.len() == 1));
        assert!(
            matches!(&sc.body[4].kind, StmtKind::Step { action: Action::Fails(_, e), .. } if e == "EFAULT")
        );
        assert!(matches!(
            &sc.body[5].kind,
            StmtKind::Step {
                action: Action::Mem { .. },
                ..
            }
        ));
    }

    #[test]
    fn errors_name_line_column_and_what_was_expected() {
        let e = p("title \"x\"\nP: expect load(p) => 1\n").unwrap_err();
        assert_eq!((e.line, e.col), (2, 19));
        assert!(e.msg.starts_with("expected a comparison"), "{}", e.msg);
        let e = p("title \"x\"\nP: x = 12Q\n").unwrap_err();
        assert_eq!((e.line, e.col, e.msg.as_str()), (2, 8, "bad number `12Q`"));
        let e = p("title \"x\"\n}\n").unwrap_err();
        assert!(e.msg.contains("without an open"));
        let e = p("title \"x\"\nrepeat 2 {\n").unwrap_err();
        assert_eq!(e.line, 2);
        let e = p("P: store(1, 2)\n").unwrap_err();
        assert!(e.msg.contains("title"));
        assert_eq!(
            p("title \"x\"\nP: f(1,\n").unwrap_err().msg,
            "expected an expression, found end of line"
        );
        let deep = format!(
            "title \"x\"\nP: x = {}1{}\n",
            "(".repeat(100_000),
            ")".repeat(100_000)
        );
        assert!(p(&deep).unwrap_err().msg.contains("nested at most"));
        assert_eq!(parse_number("2M"), Some(2 << 20));
        assert_eq!(parse_number("0x10"), Some(16));
        assert_eq!(parse_number("0o644"), Some(0o644));
        assert_eq!(parse_number("99999999999999999999"), None);
    }

    #[test]
    fn swap_headers_name_their_areas_in_order() {
        let sc = p(
            "title \"x\"\nswap 16M\nswap zram 8M\nswap 64K\nswapfile sf 4K holes\n\
                    swapfile n 100 nosig\nswapfile e 0 empty\nswapfile ok 40K\nprocess P\n\
                    P: swapon(\"sf\", 0)\nP: swapoff(\"/dev/null\")\n\
                    P: expect swaps(\"zram0\").used == 0\n",
        )
        .unwrap();
        let got: Vec<(&str, u64, SwapDev, bool, &str)> = sc
            .swap
            .iter()
            .map(|s| (s.name.as_str(), s.bytes, s.kind, s.activate, s.at.as_str()))
            .collect();
        use SwapFileKind::*;
        assert_eq!(
            got,
            [
                ("swap0", 16 << 20, SwapDev::File(Mkswap), true, "t.mml:2"),
                ("zram0", 8 << 20, SwapDev::Zram, true, "t.mml:3"),
                ("swap1", 64 << 10, SwapDev::File(Mkswap), true, "t.mml:4"),
                ("sf", 4096, SwapDev::File(Holes), false, "t.mml:5"),
                ("n", 100, SwapDev::File(NoSignature), false, "t.mml:6"),
                ("e", 0, SwapDev::File(Empty), false, "t.mml:7"),
                ("ok", 40 << 10, SwapDev::File(Mkswap), false, "t.mml:8"),
            ]
        );
        let setup = crate::run::setup_of(&sc);
        assert_eq!(setup.swap, sc.swap);
        assert_eq!(setup.swap_paths, ["/dev/null"]);
    }

    #[test]
    fn swap_header_errors_say_where() {
        let e = |text: &str| {
            let e = p(&format!("title \"x\"\n{text}")).unwrap_err();
            (e.line, e.col, e.msg)
        };
        let (l, c, m) = e("swap\n");
        assert_eq!((l, c), (2, 5));
        assert!(m.starts_with("expected a swap file size"), "{m}");
        let (l, c, m) = e("swap zram\n");
        assert_eq!((l, c), (2, 10));
        assert!(m.contains("zram disk size"), "{m}");
        let (l, c, m) = e("swapfile f 8K sparse\n");
        assert_eq!((l, c), (2, 15));
        assert_eq!(m, "expected `holes`, `nosig` or `empty`, found `sparse`");
        let (l, _, m) = e("swapfile f 8K holes nosig\n");
        assert_eq!(l, 2);
        assert!(m.starts_with("expected end of line"), "{m}");
        let (l, c, m) = e("memory 64M\nswap 4K\n");
        assert_eq!((l, c), (3, 1));
        assert!(m.contains("2 pages (8K) or more"), "{m}");
        let (l, _, m) = e("swap zram 8191\n");
        assert_eq!(l, 2);
        assert!(m.contains("2 pages"), "{m}");
        let (l, _, m) = e("swap 2G\n");
        assert_eq!(l, 2);
        assert!(m.contains("at most 1024 MiB"), "{m}");
        let (l, _, m) = e("swapfile swap0 8K\nswap 8K\n");
        assert_eq!(l, 3, "the second one is the error");
        assert!(
            m.contains("a second swap area named `swap0` (the first is t.mml:2)"),
            "{m}"
        );
        let (l, _, m) = e("swapfile e 4K empty\n");
        assert_eq!(l, 2);
        assert!(m.contains("swapfile e 0 empty"), "{m}");
        let (l, c, m) = e("swap 8K\nprocess P\nP: swapon(\"swap1\", 0)\n");
        assert_eq!((l, c), (4, 11));
        assert!(
            m.contains("no swap header declares `swap1` (declared: swap0)"),
            "{m}"
        );
        let (l, c, m) = e("process P\nP: expect swaps(\"zram0\").used == 0\n");
        assert_eq!((l, c), (3, 17));
        assert!(m.contains("declared: none"), "{m}");
        let (l, c, m) = e("process P\nP: swapoff(1)\n");
        assert_eq!((l, c), (3, 12));
        assert!(m.contains("takes a quoted `path`"), "{m}");
        let (l, _, m) = e("process P\nP: store(1, 1)\nswap 8K\n");
        assert_eq!(l, 4);
        assert!(m.contains("header directives come first"), "{m}");
        let (_, _, m) = e("swop 8K\n");
        assert!(m.contains("swap, swapfile"), "{m}");
    }
}
