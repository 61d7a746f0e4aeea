//! kernel/exit.c's side of a process's end that its parent sees: exit_notify() leaves a zombie
//! with the exit code, wait4() reaps it (wait_task_zombie()) and hands its resource usage up
//! into the parent's children counters.

use crate::errno::{Errno, SysResult};
use crate::kernel::Kernel;
use crate::sched::{Process, Tid};
use crate::sys::Rusage;
use crate::uapi::wait::*;

/// A process that has exited and that its parent has not reaped yet (EXIT_ZOMBIE).
#[derive(Clone, Copy, Debug)]
pub struct Zombie {
    pub nr: u64,
    pub pgid: u64,
    pub parent: Option<u64>,
    /// The wait status: signal->group_exit_code.
    pub code: u32,
    /// getrusage(p, RUSAGE_BOTH) of the dead process: its own use and its reaped children's.
    pub ru: Rusage,
}

impl Zombie {
    /// The zombie `p` leaves with exit code `code`; `maxrss` is its mm's high-water RSS
    /// (signal->maxrss after exit_mm()).
    pub(crate) fn of(p: &Process, code: u32, maxrss: u64) -> Zombie {
        Zombie {
            nr: p.nr,
            pgid: p.pgid,
            parent: p.parent,
            code,
            ru: Rusage {
                minflt: p.min_flt + p.children_ru.minflt,
                majflt: p.maj_flt + p.children_ru.majflt,
                maxrss: maxrss.max(p.children_ru.maxrss),
            },
        }
    }
}

/// What wait4() reaped: the child's pid, its wait status and its rusage (ru_maxrss in kB).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reaped {
    pub pid: u64,
    pub status: u32,
    pub ru: Rusage,
}

/// Which children a wait4() pid argument selects (kernel_wait4()'s wo_type and wo_pid).
enum Select {
    Any,
    Pgid(Option<u64>),
    Pid(Option<u64>),
}

impl Kernel {
    /// alloc_pid(): the next pid number. 5.19 hands them out in increasing order (cyclically
    /// up to pid_max, which the model's few processes never reach), so an exited process's
    /// number is not soon taken again.
    pub(crate) fn alloc_pid(&mut self) -> u64 {
        self.last_pid += 1;
        self.last_pid
    }

    /// exit_notify() and forget_original_parent(): the process becomes a zombie for its
    /// parent to reap, unless the parent is gone (init reaps it at once); its own children
    /// go to init, which reaps the zombies among them.
    pub(crate) fn exit_notify(&mut self, z: Zombie) {
        for (_, p) in self.procs.iter_mut() {
            if p.parent == Some(z.nr) {
                p.parent = None;
            }
        }
        self.zombies.retain(|c| c.parent != Some(z.nr));
        if z.parent
            .is_some_and(|pp| self.procs.iter().any(|(_, p)| p.nr == pp))
        {
            self.zombies.push(z);
        }
    }

    /// wait4(upid, &status, options, &rusage) as kernel_wait4() and do_wait() make it, for
    /// exited children only (the model stops and continues no task): Ok(None) is "no child
    /// has exited yet", which WNOHANG returns as 0 and without it the caller would sleep
    /// until one does. `EINVAL` for an unknown option, `ESRCH` for INT_MIN, `ECHILD` when no
    /// child is eligible.
    pub fn wait4(&mut self, tid: Tid, upid: i32, options: u32) -> SysResult<Option<Reaped>> {
        if options & !(WNOHANG | WUNTRACED | WCONTINUED | WNOTHREAD | WCLONE | WALL) as u32 != 0 {
            return Err(Errno::EINVAL);
        }
        if upid == i32::MIN {
            return Err(Errno::ESRCH);
        }
        let me = &self.procs[self.task(tid)?.pid];
        let pid_exists = |k: &Kernel, nr: u64| {
            k.procs.iter().any(|(_, p)| p.nr == nr) || k.zombies.iter().any(|z| z.nr == nr)
        };
        let select = match upid {
            -1 => Select::Any,
            0 => Select::Pgid(Some(me.pgid)),
            u if u < 0 => {
                let nr = u.unsigned_abs() as u64;
                Select::Pgid(pid_exists(self, nr).then_some(nr))
            }
            u => Select::Pid(pid_exists(self, u as u64).then_some(u as u64)),
        };
        let my_nr = me.nr;
        // eligible_child(): every child here was forked, so its exit_signal is SIGCHLD, which
        // __WCLONE alone does not wait for.
        let clone_only = options & WCLONE as u32 != 0 && options & WALL as u32 == 0;
        let eligible = |nr: u64, pgid: u64| {
            !clone_only
                && match select {
                    Select::Any => true,
                    Select::Pgid(g) => g == Some(pgid),
                    Select::Pid(p) => p == Some(nr),
                }
        };
        if let Some(i) = self
            .zombies
            .iter()
            .position(|z| z.parent == Some(my_nr) && eligible(z.nr, z.pgid))
        {
            // wait_task_zombie(): release it, its usage into the parent's c* counters.
            let z = self.zombies.remove(i);
            let me = self.task(tid)?.pid;
            let c = &mut self.procs[me].children_ru;
            c.minflt += z.ru.minflt;
            c.majflt += z.ru.majflt;
            c.maxrss = c.maxrss.max(z.ru.maxrss);
            return Ok(Some(Reaped {
                pid: z.nr,
                status: z.code,
                ru: z.ru.in_kb(),
            }));
        }
        let live = self
            .procs
            .iter()
            .any(|(_, p)| p.parent == Some(my_nr) && eligible(p.nr, p.pgid));
        if live {
            Ok(None)
        } else {
            Err(Errno::ECHILD)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, Kernel};

    #[test]
    fn pids_are_not_reused_and_orphans_go_to_init() {
        let mut k = Kernel::new(Config::default());
        let p = k.spawn_process(0).unwrap();
        let c = k.fork(p).unwrap();
        let g = k.fork(c).unwrap();
        let (cnr, gnr) = (k.task_tgid_nr(c).unwrap(), k.task_tgid_nr(g).unwrap());
        // The child exits with its own child still alive: init takes the grandchild, so its
        // exit leaves no zombie for anyone.
        k.do_group_exit(c, 3 << 8).unwrap();
        k.do_group_exit(g, SIGTERM as u32).unwrap();
        assert_eq!(k.zombies.len(), 1);
        let d = k.fork(p).unwrap();
        let dnr = k.task_tgid_nr(d).unwrap();
        assert!(dnr > gnr && dnr > cnr, "alloc_pid() hands out new numbers");
        assert_eq!(k.wait4(p, gnr as i32, 0), Err(Errno::ECHILD));
        let r = k.wait4(p, -1, WNOHANG as u32).unwrap().unwrap();
        assert_eq!((r.pid, r.status), (cnr, 0x300));
        // d lives: nothing to reap yet, then nothing left at all once it is reaped.
        assert_eq!(k.wait4(p, 0, WNOHANG as u32), Ok(None));
        k.exit(d).unwrap();
        assert_eq!(k.wait4(p, dnr as i32, 0).unwrap().unwrap().pid, dnr);
        assert_eq!(k.wait4(p, -1, WNOHANG as u32), Err(Errno::ECHILD));
    }

    #[test]
    fn reaping_hands_the_child_usage_up() {
        let mut k = Kernel::new(Config::default());
        let p = k.spawn_process(0).unwrap();
        let c = k.fork(p).unwrap();
        let a = k.mmap(c, 0, 8 << 12, 3, 0x22, -1, 0).unwrap();
        for i in 0..8 {
            k.store(c, a + (i << 12), 1).unwrap();
        }
        k.exit(c).unwrap();
        let r = k.wait4(p, -1, 0).unwrap().unwrap();
        assert_eq!((r.ru.minflt, r.ru.maxrss), (8, 32));
        let ch = k
            .getrusage(p, crate::uapi::resource::RUSAGE_CHILDREN)
            .unwrap();
        assert_eq!(ch, r.ru);
        assert_eq!(k.getrusage(p, 7), Err(Errno::EINVAL));
    }
}
