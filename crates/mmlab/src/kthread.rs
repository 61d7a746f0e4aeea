//! Kernel threads and the passing of virtual time. Linux's kernel threads sleep on timers and
//! wait queues; here each kind of thread says when it is next due (its sleep's end, or now
//! once woken) and what one run of it does, and `Kernel::advance_time` runs every thread
//! that comes due, in time order, as the clock moves. A run takes no virtual time, and neither
//! does a step: a thread a step wakes (an mm registering with khugepaged, a sleep knob write)
//! runs at the next `advance_time`, before anything due later; kswapd, woken by an
//! allocation, also runs at the end of the step that woke it (mm/kswapd.rs says why).

use crate::kernel::Kernel;
use crate::trace::Event;

/// A kernel thread the model runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kthread {
    /// mm/khugepaged.c's khugepaged().
    Khugepaged,
    /// mm/vmscan.c's kswapd() of the one node.
    Kswapd,
    /// mm/damon/core.c's kdamond_fn() of a DAMON context.
    Kdamond(crate::mm::damon::CtxId),
    /// The system workqueue's worker, for the one delayed work the model has:
    /// DAMON_RECLAIM's damon_reclaim_timer_fn().
    Kworker,
    /// fs/fs-writeback.c's wb_workfn() on the "writeback" workqueue: the periodic flush of
    /// the disk filesystem's dirty inodes.
    Writeback,
}

impl Kthread {
    /// The thread's comm, as ps shows it.
    pub fn name(self) -> &'static str {
        match self {
            Kthread::Khugepaged => "khugepaged",
            Kthread::Kswapd => "kswapd0",
            Kthread::Kdamond(_) => "kdamond",
            Kthread::Kworker => "kworker",
            Kthread::Writeback => "writeback",
        }
    }
}

/// The kernel threads that exist, in the order they were created; threads due at the same
/// instant run in this order.
#[derive(Debug)]
pub struct Kthreads {
    running: Vec<Kthread>,
}

impl Kthreads {
    /// The threads running after boot: khugepaged, which hugepage_init() starts since THP
    /// `enabled` defaults to madvise, then the node's kswapd (kswapd_init(), a later
    /// initcall).
    pub fn boot() -> Kthreads {
        Kthreads {
            running: vec![Kthread::Khugepaged, Kthread::Kswapd, Kthread::Writeback],
        }
    }

    /// kthread_run(): create the thread; false if it runs already.
    pub(crate) fn kthread_run(&mut self, t: Kthread) -> bool {
        if self.is_running(t) {
            return false;
        }
        self.running.push(t);
        true
    }

    /// kthread_stop(): end the thread; false if it did not run.
    pub(crate) fn kthread_stop(&mut self, t: Kthread) -> bool {
        let before = self.running.len();
        self.running.retain(|&r| r != t);
        self.running.len() != before
    }

    /// Does the thread exist?
    pub fn is_running(&self, t: Kthread) -> bool {
        self.running.contains(&t)
    }
}

impl Kernel {
    /// The virtual clock, in ns since boot.
    pub fn now_ns(&self) -> u64 {
        self.clock.now_ns()
    }

    /// Let `ns` of virtual time pass: every kernel thread whose wakeup comes due runs, in
    /// time order (threads due at the same instant in creation order), with the clock set to
    /// its wakeup time, and a task asleep in reclaim_throttle() wakes when its timeout
    /// expires (before a thread due at the same instant); then the clock reads the end of the
    /// interval.
    pub fn advance_time(&mut self, ns: u64) {
        let end = self.clock.now_ns().saturating_add(ns);
        self.khugepaged_sync_thread();
        loop {
            self.khugepaged_wakeups();
            let next = self
                .kthreads
                .running
                .iter()
                .filter_map(|&t| Some((self.kthread_due(t)?, t)))
                .min_by_key(|&(due, _)| due);
            let timer = [self.reclaim_throttle_due(), self.memcg_high_sleep_due()]
                .into_iter()
                .flatten()
                .min()
                .filter(|&d| d <= end);
            match (next, timer) {
                (_, Some(at)) if next.is_none_or(|(due, _)| at <= due) => {
                    self.clock.set(at);
                    self.reclaim_throttle_timeouts();
                    self.memcg_high_sleep_timeouts();
                }
                (Some((due, t)), _) if due <= end => {
                    self.clock.set(due);
                    self.kthread_run_once(t);
                }
                _ => break,
            }
        }
        self.clock.set(end);
    }

    /// The earliest timer among `tasks`' timed sleeps (the queue a sleeper waits on names it).
    pub(crate) fn first_timeout<'a>(
        &self,
        tasks: impl IntoIterator<Item = &'a usize>,
    ) -> Option<u64> {
        tasks
            .into_iter()
            .filter_map(|&t| self.tasks.get(t)?.wait?.timeout())
            .min()
    }

    /// When `t` next runs, or None while it waits for an event.
    fn kthread_due(&self, t: Kthread) -> Option<u64> {
        match t {
            Kthread::Khugepaged => self.khugepaged_due(),
            Kthread::Kswapd => self.kswapd_due(),
            Kthread::Kdamond(c) => self.kdamond_due(c),
            Kthread::Kworker => self.damon_reclaim_timer_due(),
            Kthread::Writeback => self.wb_due(),
        }
    }

    /// One run of `t`, traced.
    pub(crate) fn kthread_run_once(&mut self, t: Kthread) {
        self.trace(Event::Kthread {
            name: t.name(),
            now_ns: self.clock.now_ns(),
        });
        match t {
            Kthread::Khugepaged => self.khugepaged_run(),
            Kthread::Kswapd => self.kswapd_run(),
            Kthread::Kdamond(c) => self.kdamond_run(c),
            Kthread::Kworker => self.damon_reclaim_timer_fn(),
            Kthread::Writeback => self.wb_workfn(),
        }
    }
}
