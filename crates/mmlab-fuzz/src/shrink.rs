//! Minimising a failing case: drop statements (each with the statements that use what it
//! binds), then optional header lines, then simplify numbers and flag sets, keeping a change
//! only when the case still fails the same way. Works on any scenario text.

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

use mmlab_scenario::ast::{Action, Expr, ExprKind, Stmt, StmtKind};
use mmlab_scenario::parse;

/// How much work shrinking may do.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    /// Most tries of the failure predicate.
    pub tries: usize,
    pub time: Duration,
    /// Keep the `hugepages` and `thp` header lines: on the host, without them a case runs with
    /// whatever the machine was left with.
    pub keep_settings: bool,
}

/// One top-level statement: its lines, what it binds (variables, tasks) and uses.
#[derive(Clone, Debug)]
struct Unit {
    lines: Vec<String>,
    binds: Vec<String>,
    uses: HashSet<String>,
}

fn names(e: &Expr, out: &mut HashSet<String>) {
    match &e.kind {
        ExprKind::Name(n) => {
            out.insert(n.clone());
        }
        ExprKind::Neg(x) | ExprKind::Not(x) | ExprKind::Field(x, _) => names(x, out),
        ExprKind::Chain(first, rest) => {
            names(first, out);
            rest.iter().for_each(|(_, x)| names(x, out));
        }
        ExprKind::Call(_, args) => args.iter().for_each(|a| names(a, out)),
        ExprKind::Num(..) | ExprKind::Str(_) => {}
    }
}

fn stmt_names(s: &Stmt, binds: &mut Vec<String>, uses: &mut HashSet<String>) {
    match &s.kind {
        StmtKind::Process { name, .. } => binds.push(name.clone()),
        StmtKind::Repeat { body, .. } => body.iter().for_each(|b| stmt_names(b, binds, uses)),
        StmtKind::Step { task, action } => {
            uses.insert(task.clone());
            match action {
                Action::Assign(v, e) => {
                    binds.push(v.clone());
                    names(e, uses);
                }
                Action::Do(e)
                | Action::Fails(e, _)
                | Action::Faults(e, _, _)
                | Action::Blocks(e) => names(e, uses),
                Action::Compare(a, _, b) => {
                    names(a, uses);
                    names(b, uses);
                }
                Action::Within(a, _, b, ms) => {
                    names(a, uses);
                    names(b, uses);
                    names(ms, uses);
                }
                Action::Mem { addr, len, byte } => {
                    names(addr, uses);
                    names(len, uses);
                    names(byte, uses);
                }
            }
        }
    }
}

/// The header lines and the statements of `text` (None if it does not parse).
fn split(text: &str) -> Option<(Vec<String>, Vec<Unit>)> {
    let sc = parse(text, Path::new("case.mml")).ok()?;
    let lines: Vec<&str> = text.lines().collect();
    let starts: Vec<usize> = sc.body.iter().map(|s| s.pos.line - 1).collect();
    let first = *starts.first().unwrap_or(&lines.len());
    let header = lines[..first].iter().map(|l| l.to_string()).collect();
    let units = sc
        .body
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let end = starts.get(i + 1).copied().unwrap_or(lines.len());
            let (mut binds, mut uses) = (vec![], HashSet::new());
            stmt_names(s, &mut binds, &mut uses);
            for b in &binds {
                uses.remove(b);
            }
            Unit {
                lines: lines[starts[i]..end]
                    .iter()
                    .map(|l| l.to_string())
                    .collect(),
                binds,
                uses,
            }
        })
        .collect();
    Some((header, units))
}

fn join(header: &[String], units: &[Unit]) -> String {
    let mut s = String::new();
    for l in header
        .iter()
        .chain(units.iter().flat_map(|u| u.lines.iter()))
    {
        s.push_str(l);
        s.push('\n');
    }
    s
}

/// Units without those in `drop` and everything that depends on them.
fn without(units: &[Unit], drop: &HashSet<usize>) -> Vec<Unit> {
    let mut gone: HashSet<String> = HashSet::new();
    let mut keep = vec![];
    for (i, u) in units.iter().enumerate() {
        if drop.contains(&i) || u.uses.iter().any(|n| gone.contains(n)) {
            gone.extend(u.binds.iter().cloned());
        } else {
            keep.push(u.clone());
        }
    }
    keep
}

struct Shrinker<F: FnMut(&str) -> bool> {
    same: F,
    budget: Budget,
    start: Instant,
    tries: usize,
}

impl<F: FnMut(&str) -> bool> Shrinker<F> {
    fn spent(&self) -> bool {
        self.tries >= self.budget.tries || self.start.elapsed() >= self.budget.time
    }

    fn holds(&mut self, text: &str) -> bool {
        if self.spent() {
            return false;
        }
        self.tries += 1;
        (self.same)(text)
    }

    /// Drop chunks of statements, halving the chunk size down to one.
    fn drop_units(&mut self, header: &[String], mut units: Vec<Unit>) -> Vec<Unit> {
        let mut chunk = units.len().div_ceil(2).max(1);
        loop {
            let mut i = 0;
            let mut changed = false;
            while i < units.len() && !self.spent() {
                let drop: HashSet<usize> = (i..(i + chunk).min(units.len())).collect();
                let cand = without(&units, &drop);
                if cand.len() < units.len() && self.holds(&join(header, &cand)) {
                    units = cand;
                    changed = true;
                } else {
                    i += chunk;
                }
            }
            if chunk == 1 && !changed || self.spent() {
                return units;
            }
            chunk = (chunk / 2).max(1);
        }
    }

    /// Give steps of other tasks to the first process's own task, so that the threads and
    /// children they needed can go too.
    fn retask(&mut self, header: &[String], mut units: Vec<Unit>) -> Vec<Unit> {
        let Some(main) = units.iter().find_map(|u| {
            let rest = u.lines[0].strip_prefix("process ")?;
            rest.split_whitespace().next().map(str::to_string)
        }) else {
            return units;
        };
        for u in 0..units.len() {
            if units[u].lines.len() != 1 {
                continue;
            }
            let Some((task, rest)) = units[u].lines[0].split_once(": ") else {
                continue;
            };
            if task == main || task.contains(' ') {
                continue;
            }
            let (task, cand) = (task.to_string(), format!("{main}: {rest}"));
            let old = std::mem::replace(&mut units[u].lines[0], cand);
            if self.holds(&join(header, &units)) {
                units[u].uses.remove(&task);
                units[u].uses.insert(main.clone());
            } else {
                units[u].lines[0] = old;
            }
        }
        units
    }

    /// Drop optional header lines (never the title).
    fn drop_header(&mut self, mut header: Vec<String>, units: &[Unit]) -> Vec<String> {
        let mut i = 0;
        while i < header.len() {
            let setting = header[i].starts_with("thp ") || header[i].starts_with("hugepages ");
            if header[i].starts_with("title") || setting && self.budget.keep_settings {
                i += 1;
                continue;
            }
            let mut cand = header.clone();
            cand.remove(i);
            if self.holds(&join(&cand, units)) {
                header = cand;
            } else {
                i += 1;
            }
        }
        header
    }

    /// Simpler versions of each line (smaller numbers, fewer flags), each line until none
    /// of its simplifications keeps the failure.
    fn simplify(&mut self, header: &[String], mut units: Vec<Unit>) -> Vec<Unit> {
        for u in 0..units.len() {
            for l in 0..units[u].lines.len() {
                'line: loop {
                    for cand in simpler(&units[u].lines[l]) {
                        if self.spent() {
                            return units;
                        }
                        let old = std::mem::replace(&mut units[u].lines[l], cand);
                        if self.holds(&join(header, &units)) {
                            continue 'line;
                        }
                        units[u].lines[l] = old;
                    }
                    break;
                }
            }
        }
        units
    }
}

/// Candidate simplifications of one line: each number made 1, 0 or half; each `| FLAG`
/// dropped. Only the line's inputs change: what an `expect` says was observed (after its
/// comparison, or `fails`/`faults`) stays as the model saw it.
fn simpler(line: &str) -> Vec<String> {
    let mut out = vec![];
    if pure_assignment(line) {
        // `a = (r + PAGE_SIZE + HPAGE_SIZE - 1) & ~(HPAGE_SIZE - 1)`: arithmetic a case
        // relies on as written (an alignment), not an input to make smaller.
        return out;
    }
    let inputs_end = [
        " == ", " != ", " <= ", " >= ", " < ", " > ", " fails ", " faults ",
    ]
    .iter()
    .filter_map(|op| line.find(op))
    .min()
    .unwrap_or(line.len());
    let bytes = &line.as_bytes()[..inputs_end];
    let mut i = 0;
    while i < bytes.len() {
        let starts_number = bytes[i].is_ascii_digit()
            && (i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_'));
        // `~(PAGE_SIZE - 1)` is a mask, not an input: another number there makes the line
        // depend on address bits (on where ASLR put a mapping).
        let in_mask = line[..i]
            .rfind("~(")
            .is_some_and(|k| !line[k..i].contains(')'));
        if !starts_number || in_mask {
            i += 1;
            continue;
        }
        let mut j = i;
        while j < bytes.len() && (bytes[j].is_ascii_hexdigit() || bytes[j] == b'x') {
            j += 1;
        }
        let tok = &line[i..j];
        let v = match tok.strip_prefix("0x") {
            Some(h) => u64::from_str_radix(h, 16).ok(),
            None => tok.parse().ok(),
        };
        if let Some(v) = v {
            for smaller in [1, 0, v / 2] {
                if smaller < v {
                    out.push(format!("{}{}{}", &line[..i], smaller, &line[j..]));
                }
            }
        }
        i = j;
    }
    let (inputs, observed) = line.split_at(inputs_end);
    let parts: Vec<&str> = inputs.split(" | ").collect();
    for k in 1..parts.len() {
        let mut cand = parts.clone();
        // The flag after this ` | ` goes up to the next `,` or `)`.
        let flag_end = cand[k].find([',', ')']).unwrap_or(cand[k].len());
        let rest = &cand[k][flag_end..];
        let merged = format!("{}{}", cand[k - 1], rest);
        cand[k - 1] = &merged;
        cand.remove(k);
        out.push(format!("{}{observed}", cand.join(" | ")));
    }
    out
}

/// `TASK: VAR = EXPR` where EXPR calls nothing.
fn pure_assignment(line: &str) -> bool {
    let Some((_, rest)) = line.split_once(": ") else {
        return false;
    };
    let Some((var, rhs)) = rest.split_once(" = ") else {
        return false;
    };
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '.';
    let calls = rhs
        .char_indices()
        .any(|(i, c)| c == '(' && rhs[..i].chars().last().is_some_and(word));
    !var.trim().contains(' ') && !calls
}

/// `text` with `from` replaced by `to` where `from` does not continue a word or a number.
fn replace_token(text: &str, from: &str, to: &str) -> String {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let (starts_word, ends_word) = (
        from.chars().next().is_some_and(word),
        from.chars().last().is_some_and(word),
    );
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find(from) {
        out.push_str(&rest[..i]);
        let after = &rest[i + from.len()..];
        let glued = starts_word && out.chars().last().is_some_and(word)
            || ends_word && after.chars().next().is_some_and(word);
        out.push_str(if glued { from } else { to });
        rest = after;
    }
    out.push_str(rest);
    out
}

/// The same line written more simply: `x + 0 * PAGE_SIZE + 0` as `x`, `1 * PAGE_SIZE` as
/// `PAGE_SIZE` (the shrinker's numbers leave these behind).
fn tidy(line: &str) -> String {
    let mut l = line.to_string();
    for (from, to) in [
        (" + 0 * PAGE_SIZE", ""),
        (" + 0 * HPAGE_SIZE", ""),
        (" + 0", ""),
        ("1 * PAGE_SIZE", "PAGE_SIZE"),
        ("1 * HPAGE_SIZE", "HPAGE_SIZE"),
    ] {
        l = replace_token(&l, from, to);
    }
    l
}

/// Minimise `text`, which fails as `same` recognises. Returns the smallest text found.
pub fn shrink(text: &str, same: impl FnMut(&str) -> bool, budget: Budget) -> String {
    let Some((header, units)) = split(text) else {
        return text.to_string();
    };
    let mut s = Shrinker {
        same,
        budget,
        start: Instant::now(),
        tries: 0,
    };
    let units = s.drop_units(&header, units);
    let units = s.retask(&header, units);
    let units = s.drop_units(&header, units);
    let header = s.drop_header(header, &units);
    let units = s.simplify(&header, units);
    // Simpler numbers can make more statements unnecessary.
    let mut units = s.drop_units(&header, units);
    for u in 0..units.len() {
        for l in 0..units[u].lines.len() {
            let neat = tidy(&units[u].lines[l]);
            if neat != units[u].lines[l] {
                let old = std::mem::replace(&mut units[u].lines[l], neat);
                if !s.holds(&join(&header, &units)) {
                    units[u].lines[l] = old;
                }
            }
        }
    }
    join(&header, &units)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CASE: &str = "title \"t\"\nhugepages 2\nprocess P\nP: p = mmap(NULL, 8 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0)\nP: q = mmap(NULL, PAGE_SIZE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)\nP: store(p, 0x11)\nP: expect load(q) == 0\nP: munmap(p, 8 * PAGE_SIZE)\n";

    #[test]
    fn shrinking_keeps_what_the_failure_needs() {
        // "Fails" while the case still unmaps p: the mmap of p must stay with it, q must go.
        let same = |t: &str| t.contains("munmap(p,") && t.contains("p = mmap");
        let budget = Budget {
            tries: 1000,
            time: Duration::from_secs(10),
            keep_settings: false,
        };
        let out = shrink(CASE, same, budget);
        assert_eq!(
            out,
            "title \"t\"\nprocess P\nP: p = mmap(NULL, 0 * PAGE_SIZE, PROT_READ, MAP_PRIVATE, -0, 0)\nP: munmap(p, 0 * PAGE_SIZE)\n"
        );
    }

    #[test]
    fn tidying_removes_zero_offsets_and_unit_multipliers_only() {
        assert_eq!(
            tidy("P: expect load(p1 + 0 * PAGE_SIZE + 0) == 0"),
            "P: expect load(p1) == 0"
        );
        assert_eq!(
            tidy("P: munmap(p, 1 * PAGE_SIZE)"),
            "P: munmap(p, PAGE_SIZE)"
        );
        assert_eq!(
            tidy("P: munmap(p, 11 * PAGE_SIZE)"),
            "P: munmap(p, 11 * PAGE_SIZE)"
        );
        assert_eq!(tidy("P: store(p + 0x10, 1)"), "P: store(p + 0x10, 1)");
        assert_eq!(tidy("P: store(p + 05, 1)"), "P: store(p + 05, 1)");
    }

    #[test]
    fn dropping_a_binding_drops_its_users() {
        let (_, units) = split(CASE).expect("parses");
        let drop: HashSet<usize> = [1].into_iter().collect();
        let kept = without(&units, &drop);
        assert!(kept.iter().all(|u| !u.lines[0].contains("(p")));
        assert!(kept.iter().any(|u| u.lines[0].contains("load(q)")));
    }

    #[test]
    fn simpler_lines_shrink_numbers_and_flags() {
        let c = simpler("P: x = mmap(NULL, 8 * PAGE_SIZE, PROT_READ | PROT_WRITE, 0, -1, 0)");
        assert!(c.contains(
            &"P: x = mmap(NULL, 1 * PAGE_SIZE, PROT_READ | PROT_WRITE, 0, -1, 0)".to_string()
        ));
        assert!(c.contains(&"P: x = mmap(NULL, 8 * PAGE_SIZE, PROT_READ, 0, -1, 0)".to_string()));
        assert!(simpler("P: a = (r + PAGE_SIZE + HPAGE_SIZE - 1) & ~(HPAGE_SIZE - 1)").is_empty());
        let m =
            simpler("T: expect uffdio_copy(u, m.address & ~(PAGE_SIZE - 1), s, 4096, 0) == 4096");
        assert!(!m.is_empty() && m.iter().all(|l| l.contains("~(PAGE_SIZE - 1)")));
        assert!(!simpler("P: p = mmap(NULL, 2 * PAGE_SIZE, 0, 0, -1, 0)").is_empty());
        let e = simpler("P: expect uffdio_api(u, UFFD_API, 0) & UFFD_API_FEATURES == 0x1fff");
        assert!(e.iter().all(|l| l.ends_with("== 0x1fff")), "{e:?}");
    }
}
