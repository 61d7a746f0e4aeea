//! Reclaim throttling (mm/vmscan.c's reclaim_throttle(), from 5.16; 5.18 and 5.19 differ only
//! in skip_throttle_noprogress() testing managed_zone() instead of populated_zone(), which
//! is the same for the model's one zone). A reclaimer that is getting nowhere sleeps on one of
//! the node's four wait queues (`pgdat->reclaim_wait[]`) until that queue is woken or its
//! timeout passes:
//! - VMSCAN_THROTTLE_WRITEBACK (HZ/10): kswapd meeting pages it had marked for immediate
//!   reclaim still under writeback; woken by acct_reclaim_writeback() once enough writeback
//!   completed. Only kswapd sleeps here in mm/vmscan.c (do_writepages()' ENOMEM loop is the
//!   other caller; the model's writeback never fails to allocate).
//! - VMSCAN_THROTTLE_NOPROGRESS (1 jiffy): direct global reclaim that freed nothing by
//!   priority 1 while much memory waits for writeback; woken by a reclaimer with progress.
//! - VMSCAN_THROTTLE_ISOLATED (HZ/50): shrink_inactive_list() of a direct reclaimer while
//!   other reclaimers hold more pages isolated than the inactive list has (an eighth of it for
//!   GFP_KERNEL). The model's reclaim passes each run to completion within a step, so no
//!   other pass holds pages isolated when one begins: too_many_isolated() is always false
//!   here, and the model leaves it out.
//! - VMSCAN_THROTTLE_CONGESTED (1 jiffy): direct reclaim of an lruvec kswapd or cgroup v2
//!   reclaim marked LRUVEC_CONGESTED, which takes file pages met again under writeback with
//!   PG_reclaim. The model's disk filesystem writes file pages synchronously (no file folio
//!   is ever under writeback, mm/page_writeback.rs), and anon pages never count as dirty
//!   there (folio_check_dirty_writeback()), so the mark is never set and the model leaves it
//!   out.
//!
//! How a sleep is modelled: a user fault that may retry (FAULT_FLAG_ALLOW_RETRY |
//! FAULT_FLAG_USER, not yet TRIED) sleeps with `WaitReason::Reclaim`; its allocation gives up
//! and the fault returns VM_FAULT_RETRY, so the task's access is retried once it is woken,
//! and the retried fault (TRIED) goes past the throttle as Linux's task goes on after waking.
//! Other callers (syscalls, kernel threads) cannot be suspended in the middle of a step and
//! do not sleep here; Linux lets kernel threads other than kswapd skip the sleep as well.
//! kswapd sleeps as a state of its own (`KswapdState::Throttled`), its balance_pgdat() cut
//! short and begun again when it wakes. Timeouts run on the virtual clock (`advance_time`).

use crate::kernel::Kernel;
use crate::mm::kswapd::KswapdState;
use crate::mm::page_alloc::MAX_RECLAIM_RETRIES;
use crate::mm::vmscan_lru::{Reclaim, SWAP_CLUSTER_MAX};
use crate::page::{Folio, PageFlags};
use crate::sched::{Tid, WaitReason};
use crate::time::{jiffies_to_ns, HZ, NSEC_PER_JIFFY};
use crate::trace::Event;

/// enum vmscan_throttle_state: why reclaim sleeps, so which queue it sleeps on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VmscanThrottle {
    Writeback = 0,
    Isolated = 1,
    Noprogress = 2,
    Congested = 3,
}

impl VmscanThrottle {
    /// The tracepoint's name of the reason (show_throttle_flags()).
    pub fn name(self) -> &'static str {
        match self {
            VmscanThrottle::Writeback => "VMSCAN_THROTTLE_WRITEBACK",
            VmscanThrottle::Isolated => "VMSCAN_THROTTLE_ISOLATED",
            VmscanThrottle::Noprogress => "VMSCAN_THROTTLE_NOPROGRESS",
            VmscanThrottle::Congested => "VMSCAN_THROTTLE_CONGESTED",
        }
    }

    /// reclaim_throttle()'s timeout in jiffies: writeback and no progress may last, a crowd
    /// of isolating reclaimers does not.
    pub fn timeout(self) -> u64 {
        match self {
            VmscanThrottle::Writeback => HZ / 10,
            VmscanThrottle::Isolated => HZ / 50,
            VmscanThrottle::Noprogress | VmscanThrottle::Congested => 1,
        }
    }
}

/// The model's counters of reclaim throttling, for `model.counter(NAME)`: sleepers now on
/// each queue (kswapd included), pgdat->nr_writeback_throttled, and the sleeps begun and
/// ended by their timeout since boot.
pub const RECLAIM_THROTTLE_COUNTERS: &[&str] = &[
    "reclaim_wait_writeback",
    "reclaim_wait_isolated",
    "reclaim_wait_noprogress",
    "reclaim_wait_congested",
    "nr_writeback_throttled",
    "reclaim_throttle_sleeps",
    "reclaim_throttle_timeouts",
];

/// pglist_data's throttling state.
#[derive(Clone, Debug, Default)]
pub struct ReclaimWait {
    /// reclaim_wait[]: the tasks asleep on each queue, in the order they slept (kswapd is
    /// no task of the model: its sleep is its KswapdState).
    queues: [Vec<Tid>; 4],
    /// nr_writeback_throttled: sleepers on the WRITEBACK queue.
    nr_writeback_throttled: u64,
    /// nr_reclaim_start: NR_THROTTLED_WRITTEN when the first of them went to sleep.
    nr_reclaim_start: u64,
    /// PGDAT_WRITEBACK: kswapd found every page it isolated under writeback; from then on
    /// a page it meets again under writeback is "immediate" and throttles it.
    pub(crate) pgdat_writeback: bool,
    /// The task whose fault may sleep in reclaim now (see the module comment).
    may_sleep: Option<Tid>,
    /// Sleeps begun, and those that ended by their timeout.
    sleeps: u64,
    timeouts: u64,
}

impl Kernel {
    /// One of RECLAIM_THROTTLE_COUNTERS.
    pub fn reclaim_throttle_counter(&self, name: &str) -> Option<u64> {
        let w = &self.pgdat.throttle;
        let queued = |r: VmscanThrottle| {
            let kswapd = r == VmscanThrottle::Writeback
                && matches!(self.kswapd.state, KswapdState::Throttled { .. });
            w.queues[r as usize].len() as u64 + u64::from(kswapd)
        };
        Some(match name {
            "reclaim_wait_writeback" => queued(VmscanThrottle::Writeback),
            "reclaim_wait_isolated" => queued(VmscanThrottle::Isolated),
            "reclaim_wait_noprogress" => queued(VmscanThrottle::Noprogress),
            "reclaim_wait_congested" => queued(VmscanThrottle::Congested),
            "nr_writeback_throttled" => w.nr_writeback_throttled,
            "reclaim_throttle_sleeps" => w.sleeps,
            "reclaim_throttle_timeouts" => w.timeouts,
            _ => return None,
        })
    }

    /// Run `f` (a fault) with the current task allowed to sleep in reclaim if `may_sleep`;
    /// a fault whose task went to sleep there returns VM_FAULT_RETRY, whatever its
    /// allocation's failure made of it.
    /// Locks: the mmap lock, read (dropped for the sleep, as VM_FAULT_RETRY does).
    pub(crate) fn with_reclaim_sleep<T>(
        &mut self,
        may_sleep: bool,
        f: impl FnOnce(&mut Kernel) -> Result<T, crate::mm::vm_fault::VmFault>,
    ) -> Result<T, crate::mm::vm_fault::VmFault> {
        let saved = self.pgdat.throttle.may_sleep;
        self.pgdat.throttle.may_sleep = may_sleep.then_some(self.current);
        let r = f(self);
        self.pgdat.throttle.may_sleep = saved;
        // Even a fault whose fallback allocation succeeded after the sleep began is retried
        // (and then finds its page).
        if self.current_reclaim_throttled() {
            return Err(crate::mm::vm_fault::VmFault::RETRY);
        }
        r
    }

    /// When the timeout of `tid`'s sleep in reclaim_throttle() (or in memcg's over-high
    /// penalty, the other timed sleep of reclaim) expires, if it sleeps there.
    pub fn reclaim_throttle_until(&self, tid: Tid) -> Option<u64> {
        self.tasks.get(tid)?.wait?.timeout()
    }

    /// Is the current task asleep in reclaim_throttle() or memcg's over-high penalty (its
    /// allocation must give up, its fault retry)?
    pub(crate) fn current_reclaim_throttled(&self) -> bool {
        self.tasks.get(self.current).is_some_and(|t| {
            matches!(
                t.wait,
                Some(WaitReason::Reclaim { .. } | WaitReason::MemcgHigh { .. })
            )
        })
    }

    /// May the current task's over-high penalty sleep now (a user fault that may retry)?
    pub(crate) fn current_may_sleep_in_fault(&self) -> bool {
        self.pgdat.throttle.may_sleep == Some(self.current)
    }

    /// reclaim_throttle(): put the reclaimer (kswapd if `kswapd`, else the current task) to
    /// sleep on the queue of `reason`, for the reason's timeout. A task may sleep only in a
    /// fault that can retry; NOPROGRESS and CONGESTED are skipped when
    /// skip_throttle_noprogress() says so. True if the caller now sleeps: its reclaim stops
    /// here.
    pub(crate) fn reclaim_throttle(&mut self, reason: VmscanThrottle, kswapd: bool) -> bool {
        let sleeper = if kswapd {
            None
        } else {
            match self.pgdat.throttle.may_sleep {
                Some(t) if t == self.current && self.tasks[t].wait.is_none() => Some(t),
                // A kernel thread, or a caller the model cannot suspend: cond_resched().
                _ => return false,
            }
        };
        match reason {
            VmscanThrottle::Noprogress | VmscanThrottle::Congested
                if self.skip_throttle_noprogress() =>
            {
                return false;
            }
            VmscanThrottle::Writeback => {
                let w = &mut self.pgdat.throttle;
                w.nr_writeback_throttled += 1;
                if w.nr_writeback_throttled == 1 {
                    w.nr_reclaim_start = self.vmstat.nr_throttled_written;
                }
            }
            _ => {}
        }
        let since = self.now_ns();
        // schedule_timeout(): the timer fires at the tick `timeout` jiffies on.
        let until = jiffies_to_ns(self.clock.jiffies() + reason.timeout());
        self.pgdat.throttle.sleeps += 1;
        match sleeper {
            None => self.kswapd.state = KswapdState::Throttled { since, until },
            Some(t) => {
                self.tasks[t].wait = Some(WaitReason::Reclaim {
                    reason,
                    since,
                    until,
                });
                self.pgdat.throttle.queues[reason as usize].push(t);
            }
        }
        true
    }

    /// skip_throttle_noprogress(): no point in waiting when kswapd has given up (the node
    /// is near OOM), or when at most half the reclaimable pages wait for writeback
    /// (NR_ZONE_WRITE_PENDING: accounted dirty pages and pages under writeback).
    fn skip_throttle_noprogress(&self) -> bool {
        if self.pgdat.kswapd_failures >= MAX_RECLAIM_RETRIES {
            return true;
        }
        let write_pending = self.nr_file_dirty() + self.nr_writeback();
        2 * write_pending <= self.zone_reclaimable_pages()
    }

    /// NR_WRITEBACK: pages under writeback.
    pub(crate) fn nr_writeback(&self) -> u64 {
        self.pages
            .pfns()
            .filter(|&p| self.pages.page(p).test(PageFlags::WRITEBACK))
            .map(|p| self.pages.folio_nr_pages(Folio(p)))
            .sum()
    }

    /// The end of reclaim_throttle() for a sleeper woken now: finish_wait(), the writeback
    /// sleepers' count, and the mm_vmscan_throttled tracepoint with the timeout and the time
    /// slept (whole jiffies, as schedule_timeout() returns what is left).
    fn reclaim_throttle_end(&mut self, reason: VmscanThrottle, until: u64) {
        if reason == VmscanThrottle::Writeback {
            self.pgdat.throttle.nr_writeback_throttled -= 1;
        }
        let now = self.now_ns();
        if now >= until {
            self.pgdat.throttle.timeouts += 1;
        }
        let left = until.saturating_sub(now).div_ceil(NSEC_PER_JIFFY);
        let usec = |j: u64| j * 1_000_000 / HZ;
        self.trace(Event::VmscanThrottled {
            nid: 0,
            usec_timeout: usec(reason.timeout()),
            usec_delayed: usec(reason.timeout() - left.min(reason.timeout())),
            reason: reason.name(),
        });
    }

    /// wake_up(&pgdat->reclaim_wait[reason]): every sleeper on the queue wakes (a woken
    /// task retries its fault; a woken kswapd runs again).
    pub(crate) fn wake_reclaim_throttled(&mut self, reason: VmscanThrottle) {
        for t in std::mem::take(&mut self.pgdat.throttle.queues[reason as usize]) {
            if let Some(task) = self.tasks.get_mut(t) {
                if let Some(WaitReason::Reclaim { until, .. }) = task.wait {
                    task.wait = None;
                    self.reclaim_throttle_end(reason, until);
                }
            }
        }
        if reason == VmscanThrottle::Writeback {
            if let KswapdState::Throttled { until, .. } = self.kswapd.state {
                self.kswapd.state = KswapdState::Runnable {
                    woken_in_nap: false,
                };
                self.reclaim_throttle_end(reason, until);
            }
        }
    }

    /// kswapd's sleep ran out: it goes on (its KswapdState is set by the caller).
    pub(crate) fn kswapd_throttle_timeout(&mut self, until: u64) {
        self.reclaim_throttle_end(VmscanThrottle::Writeback, until);
    }

    /// When the next task's throttle timeout expires, if any task sleeps in reclaim.
    pub(crate) fn reclaim_throttle_due(&self) -> Option<u64> {
        self.first_timeout(self.pgdat.throttle.queues.iter().flatten())
    }

    /// The timers that expired by now: their tasks wake, in the order they slept.
    pub(crate) fn reclaim_throttle_timeouts(&mut self) {
        let now = self.now_ns();
        for i in 0..self.pgdat.throttle.queues.len() {
            let q = std::mem::take(&mut self.pgdat.throttle.queues[i]);
            let mut keep = Vec::with_capacity(q.len());
            for t in q {
                match self.tasks.get(t).and_then(|t| t.wait) {
                    Some(WaitReason::Reclaim { reason, until, .. }) if until <= now => {
                        self.tasks[t].wait = None;
                        self.reclaim_throttle_end(reason, until);
                    }
                    Some(WaitReason::Reclaim { .. }) => keep.push(t),
                    // Gone, or woken otherwise.
                    _ => {}
                }
            }
            self.pgdat.throttle.queues[i] = keep;
        }
    }

    /// acct_reclaim_writeback() at the end of a folio's writeback: while reclaimers sleep on
    /// WRITEBACK, count its pages in NR_THROTTLED_WRITTEN, and wake them once more than
    /// SWAP_CLUSTER_MAX pages per sleeper were written since the first went to sleep.
    pub(crate) fn acct_reclaim_writeback(&mut self, f: Folio) {
        let n = self.pgdat.throttle.nr_writeback_throttled;
        if n == 0 {
            return;
        }
        self.vmstat.nr_throttled_written += self.pages.folio_nr_pages(f);
        let written = self.vmstat.nr_throttled_written - self.pgdat.throttle.nr_reclaim_start;
        if written > SWAP_CLUSTER_MAX * n {
            self.wake_reclaim_throttled(VmscanThrottle::Writeback);
        }
    }

    /// consider_reclaim_throttle() after a direct reclaim pass over the node: a pass that
    /// freed more than an eighth of what it scanned wakes the NOPROGRESS sleepers; global
    /// direct reclaim that has freed nothing by priority 1 sleeps there itself. True if the
    /// current task now sleeps.
    pub(crate) fn consider_reclaim_throttle(&mut self, r: &Reclaim) -> bool {
        if r.sc.nr_reclaimed > r.sc.nr_scanned >> 3 {
            self.wake_reclaim_throttled(VmscanThrottle::Noprogress);
            return false;
        }
        if r.sc.kswapd || r.target != crate::mm::memcontrol::ROOT_MEMCG {
            return false;
        }
        r.priority == 1
            && r.sc.nr_reclaimed == 0
            && self.reclaim_throttle(VmscanThrottle::Noprogress, false)
    }

    /// kswapd's part of shrink_node() after the pass: PGDAT_WRITEBACK when every page it
    /// isolated was under writeback, and a WRITEBACK sleep when it met pages marked for
    /// immediate reclaim still being written. True if kswapd now sleeps.
    pub(crate) fn kswapd_throttle_writeback(&mut self, r: &Reclaim) -> bool {
        let nr = &r.sc.nr;
        if nr.writeback > 0 && nr.writeback == nr.taken {
            self.pgdat.throttle.pgdat_writeback = true;
        }
        nr.immediate > 0 && self.reclaim_throttle(VmscanThrottle::Writeback, true)
    }
}
