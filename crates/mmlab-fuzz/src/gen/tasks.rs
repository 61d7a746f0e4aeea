//! Tasks: processes, fork (also when it sleeps on a FORK event), threads, exit, CPU moves,
//! `wait()` for a task that slept, and the rule that keeps a case from putting every task to
//! sleep: a task whose faults may sleep on a userfaultfd acts only while another task that can
//! read that userfaultfd is awake.

use mmlab::Signal;
use mmlab_scenario::Backend;
use rand::RngExt;

use super::text;
use super::{nums, Gen, Proc, Ret, Sleep, Task};

const PROCESS_NAMES: &[&str] = &["P", "Q", "R", "S"];

impl Gen<'_> {
    /// `process NAME [on cpu N]`.
    pub(super) fn new_process(&mut self) -> bool {
        let Some(name) = PROCESS_NAMES.get(self.procs.len()) else {
            return false;
        };
        let cpu = if self.chance(0.3) {
            self.rng.random_range(0..self.cpus)
        } else {
            0
        };
        let line = if cpu == 0 {
            format!("process {name}")
        } else {
            format!("process {name} on cpu {cpu}")
        };
        let i = self.begin(line);
        let Ok(id) = self.b.spawn_process(cpu) else {
            self.undo(i);
            return false;
        };
        self.procs.push(Proc {
            alive: true,
            ..Default::default()
        });
        self.tasks.push(Task {
            name: name.to_string(),
            id,
            proc: self.procs.len() - 1,
            asleep: None,
            born: true,
        });
        true
    }

    pub(super) fn process_something(&mut self, _t: usize) -> bool {
        self.procs.iter().filter(|p| p.alive).count() < 3 && self.new_process()
    }

    fn live_procs(&self) -> usize {
        self.procs.iter().filter(|p| p.alive).count()
    }

    pub(super) fn fork_something(&mut self, t: usize) -> bool {
        if self.live_procs() >= 4 || !self.may_block(t) {
            return false;
        }
        let tn = self.tname(t);
        let id = self.tasks[t].id;
        let name = self.fresh("C");
        let i = self.begin(format!("{tn}: {name} = fork()"));
        let r = self.b.fork(id);
        let Ok(child) = r else {
            // A failed fork() cannot be written (the runner ends the scenario there).
            self.undo(i);
            self.steps = usize::MAX;
            return true;
        };
        let parent = self.tasks[t].proc;
        let mut proc = self.procs[parent].clone();
        proc.minflt = None;
        self.procs.push(proc);
        let cp = self.procs.len() - 1;
        for u in &mut self.uffds {
            if u.holders.contains(&parent) {
                u.holders.push(cp);
            }
        }
        let asleep = self.b.sleeping(id);
        self.tasks.push(Task {
            name,
            id: child,
            proc: cp,
            asleep: None,
            born: !asleep,
        });
        if asleep {
            self.tasks[t].asleep = Some(Sleep::Fork { child: cp });
            self.pending_forks.push_back(cp);
            self.end(i, format!("{tn}: expect fork() blocks"));
        } else {
            let line = self.out[i].clone();
            self.end(i, line);
        }
        true
    }

    pub(super) fn thread_something(&mut self, t: usize) -> bool {
        let p = self.tasks[t].proc;
        if self.tasks.iter().filter(|k| k.proc == p).count() >= 4 {
            return false;
        }
        self.new_thread(t)
    }

    /// `T = thread(cpu)` in `t`'s process.
    pub(super) fn new_thread(&mut self, t: usize) -> bool {
        let tn = self.tname(t);
        let id = self.tasks[t].id;
        let cpu = self.rng.random_range(0..self.cpus);
        let name = self.fresh("T");
        let i = self.begin(format!("{tn}: {name} = thread({cpu})"));
        let Ok(nid) = self.b.thread(id, cpu) else {
            self.undo(i);
            return false;
        };
        let line = self.out[i].clone();
        self.end(i, line);
        let proc = self.tasks[t].proc;
        self.tasks.push(Task {
            name,
            id: nid,
            proc,
            asleep: None,
            born: true,
        });
        true
    }

    pub(super) fn exit_something(&mut self, t: usize) -> bool {
        if self.live_procs() < 2 {
            return false;
        }
        let tn = self.tname(t);
        let id = self.tasks[t].id;
        let p = self.tasks[t].proc;
        let i = self.begin(format!("{tn}: exit(0)"));
        let r = self.b.exit(id, 0);
        let line = self.out[i].clone();
        self.end(i, line);
        if r.is_err() {
            self.steps = usize::MAX;
        }
        self.procs[p].alive = false;
        for u in &mut self.uffds {
            u.holders.retain(|h| *h != p);
        }
        true
    }

    pub(super) fn affinity_something(&mut self, t: usize) -> bool {
        let cpu = self.rng.random_range(0..=self.cpus) as u64;
        let call = format!("sched_setaffinity({cpu})");
        self.sys(t, &call, nums("sched_setaffinity", &[cpu]), Ret::Plain);
        true
    }

    /// Can `t` take a step that may sleep on a userfaultfd of its own mm? Only while another
    /// awake task holds a descriptor of every such context (so someone can wake it), and while
    /// no task sleeps: which of two tasks woken together runs first is the scheduler's choice
    /// on a real kernel, so a case keeps to one sleeper at a time.
    pub(super) fn may_block(&self, t: usize) -> bool {
        let p = self.tasks[t].proc;
        let awake = self.awake();
        let armed = self
            .uffds
            .iter()
            .any(|u| u.owner == p && !u.holders.is_empty());
        if armed && !self.asleep().is_empty() {
            return false;
        }
        self.uffds
            .iter()
            .filter(|u| u.owner == p && !u.holders.is_empty())
            .all(|u| {
                awake
                    .iter()
                    .any(|&h| h != t && u.holders.contains(&self.tasks[h].proc))
            })
    }

    /// Something for the sleepers: `wait()` for one that was woken, or a handler step.
    pub(super) fn handle_something(&mut self, _t: usize) -> bool {
        let sleepers = self.asleep();
        let s = self.pick(&sleepers);
        if self.b.woken(self.tasks[s].id) || self.chance(0.1) {
            self.wait(s);
            return true;
        }
        self.serve(self.tasks[s].proc)
    }

    /// `wait()` for task `s`, written as its outcome needs.
    pub(super) fn wait(&mut self, s: usize) {
        let tn = self.tname(s);
        let id = self.tasks[s].id;
        let Some(sleep) = self.tasks[s].asleep.clone() else {
            return;
        };
        let i = self.begin(format!("{tn}: expect wait() blocks"));
        let line = match sleep {
            Sleep::Access { load } => match self.b.finish(id) {
                Err(Signal::Userfault) => format!("{tn}: expect wait() blocks"),
                Err(sig) => {
                    self.tasks[s].asleep = None;
                    text::faults(&tn, "wait()", sig)
                }
                Ok(v) => {
                    self.tasks[s].asleep = None;
                    if load {
                        format!("{tn}: expect wait() == {}", text::byte(v as u8))
                    } else {
                        format!("{tn}: wait()")
                    }
                }
            },
            Sleep::Syscall { bind } => match self.b.finish_syscall(id) {
                None => format!("{tn}: expect wait() blocks"),
                Some(r) => {
                    self.tasks[s].asleep = None;
                    match (r, bind) {
                        (Ok(v), Some(var)) => {
                            self.bound_late(s, &var, v);
                            format!("{tn}: {var} = wait()")
                        }
                        (Ok(v), None) => format!("{tn}: expect wait() == {}", text::num(v)),
                        (Err(e), _) => format!("{tn}: expect wait() fails {}", e.name()),
                    }
                }
            },
            Sleep::Fork { child } => match self.b.finish_syscall(id) {
                None => format!("{tn}: expect wait() blocks"),
                Some(r) => {
                    self.tasks[s].asleep = None;
                    let Some(c) = self.tasks.iter().position(|k| k.proc == child) else {
                        self.undo(i);
                        return;
                    };
                    match r {
                        Ok(_) => {
                            self.tasks[c].born = true;
                            format!("{tn}: {} = wait()", self.tasks[c].name)
                        }
                        Err(_) => {
                            // The runner cannot take a failed blocked fork: the case ends.
                            self.undo(i);
                            self.steps = usize::MAX;
                            return;
                        }
                    }
                }
            },
        };
        self.end(i, line);
    }

    /// A syscall that slept bound its result late (`q = wait()`): an mremap()'s new region.
    fn bound_late(&mut self, s: usize, var: &str, v: u64) {
        let p = self.tasks[s].proc;
        if let Some(r) = self.pending_regions.remove(var) {
            self.procs[p].regions.push(super::Region { base: v, ..r });
        }
    }

    /// Before the case ends: wake what can be woken and collect it.
    pub(super) fn wind_down(&mut self) {
        for _ in 0..6 {
            let sleepers = self.asleep();
            if sleepers.is_empty() || self.found() {
                return;
            }
            for s in sleepers {
                if self.found() {
                    return;
                }
                if self.b.woken(self.tasks[s].id) {
                    self.wait(s);
                } else {
                    self.serve(self.tasks[s].proc);
                }
            }
        }
    }
}
