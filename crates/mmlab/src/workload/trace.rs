//! Access-trace replay. The format, one access a line (`#` starts a comment):
//!
//! ```text
//! TIME_US PID ADDR OP
//! 0       1   0x7f0000001000 r
//! 250     1   0x7f0000002008 w
//! ```
//!
//! TIME_US is microseconds since the trace's start (non-decreasing), PID names the traced
//! process (each distinct PID becomes one model process), ADDR is the address in hex (`0x`) or
//! decimal, OP is `r` or `w`. The replay maps anonymous memory around every address it meets
//! (the 2 MiB-aligned block holding it) before the first access there, then makes the accesses
//! in time order, letting the model's clock follow the trace in steps (the pages of a step are
//! accessed once each, as the masim driver does).

use std::collections::HashMap;

use super::StepPages;
use crate::kernel::Kernel;
use crate::sched::Tid;

/// One traced access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Access {
    pub time_us: u64,
    pub pid: u64,
    pub addr: u64,
    pub write: bool,
}

/// Parse a trace; the error names the line.
pub fn parse(text: &str) -> Result<Vec<Access>, String> {
    let mut out: Vec<Access> = Vec::new();
    for (n, l) in text.lines().enumerate() {
        let l = l.split('#').next().unwrap_or("").trim();
        if l.is_empty() {
            continue;
        }
        let f: Vec<&str> = l.split_whitespace().collect();
        let bad = || {
            format!(
                "line {}: expected `TIME_US PID ADDR r|w`, found `{l}`",
                n + 1
            )
        };
        if f.len() != 4 {
            return Err(bad());
        }
        let addr = match f[2].strip_prefix("0x") {
            Some(h) => u64::from_str_radix(h, 16).map_err(|_| bad())?,
            None => f[2].parse().map_err(|_| bad())?,
        };
        let a = Access {
            time_us: f[0].parse().map_err(|_| bad())?,
            pid: f[1].parse().map_err(|_| bad())?,
            addr,
            write: match f[3] {
                "r" => false,
                "w" => true,
                _ => return Err(bad()),
            },
        };
        if out.last().is_some_and(|p| p.time_us > a.time_us) {
            return Err(format!("line {}: time goes backwards", n + 1));
        }
        out.push(a);
    }
    Ok(out)
}

/// The processes a replay made, by traced pid.
#[derive(Debug, Default)]
pub struct Replay {
    pub tasks: HashMap<u64, Tid>,
}

impl Replay {
    /// Replay `trace` in steps of `step_us`, letting the clock follow.
    pub fn run(&mut self, k: &mut Kernel, trace: &[Access], step_us: u64) -> Result<(), String> {
        use crate::uapi::*;
        let step_us = step_us.max(1);
        let mut i = 0;
        let mut t0 = 0;
        let mut steps: HashMap<u64, StepPages> = HashMap::new();
        while i < trace.len() {
            let end = t0 + step_us;
            for s in steps.values_mut() {
                s.clear();
            }
            while i < trace.len() && trace[i].time_us < end {
                let a = trace[i];
                let tid = match self.tasks.get(&a.pid) {
                    Some(&t) => t,
                    None => {
                        let t = k.spawn_process(0).map_err(|e| format!("spawn: {e:?}"))?;
                        self.tasks.insert(a.pid, t);
                        t
                    }
                };
                let block = a.addr & !((2 << 20) - 1);
                let mm = k.tasks[tid].mm;
                if k.mms[mm].vmas.find(block).is_none_or(|v| v.start > a.addr) {
                    k.mmap(
                        tid,
                        block,
                        2 << 20,
                        PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
                        -1,
                        0,
                    )
                    .map_err(|e| format!("map {:#x}: {e:?}", block))?;
                }
                steps.entry(a.pid).or_default().touch(a.addr, a.write);
                i += 1;
            }
            for (pid, s) in &steps {
                s.apply(k, self.tasks[pid])
                    .map_err(|e| format!("pid {pid}: {e:?}"))?;
            }
            k.advance_time(step_us * 1000);
            t0 = end;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traces_parse_and_replay_through_the_mmu() {
        let t =
            parse("# t pid addr op\n0 1 0x40000000 r\n10 1 1073745920 w\n2000 2 0x40000000 r\n")
                .unwrap();
        assert_eq!(t.len(), 3);
        assert!(t[1].write && t[1].addr == 0x4000_1000);
        assert!(parse("5 1 0x1 r\n4 1 0x1 r\n").is_err());
        assert!(parse("0 1 0x1 x\n").is_err());
        let mut k = Kernel::new(crate::Config::default());
        let mut r = Replay::default();
        r.run(&mut k, &t, 1000).unwrap();
        assert_eq!(r.tasks.len(), 2);
        assert!(k.now_ns() >= 2_000_000);
        let t1 = r.tasks[&1];
        assert_eq!(k.load(t1, 0x4000_1000), Ok(1), "the traced write happened");
    }
}
