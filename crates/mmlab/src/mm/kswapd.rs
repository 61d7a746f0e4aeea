//! kswapd (mm/vmscan.c): the node's reclaim thread. An allocation that finds the zone below
//! its low watermark wakes it (wakeup_kswapd()); it reclaims until the zone is back above
//! high (balance_pgdat()), naps HZ/10 to see whether that holds, and then sleeps.
//!
//! When it runs: on Linux kswapd runs on another CPU while the allocating task goes on. The
//! model runs it at the end of the syscall or user access that woke it
//! (`Kernel::finish_step`), as if it had run on another CPU during that step and finished
//! with it, and also whenever virtual time passes (`advance_time`, its nap's end). So one step
//! that allocates far below low runs against a kswapd that has not caught up yet — the
//! allocations in it fall to min and reclaim directly, as on Linux when kswapd cannot keep
//! pace — while a step that dips below low once finds memory back above high at the next step.

use crate::kernel::Kernel;
use crate::kthread::Kthread;
use crate::mm::page_alloc::{AllocFlags, Wmark, MAX_RECLAIM_RETRIES};
use crate::mm::vmscan_lru::{Reclaim, SWAP_CLUSTER_MAX};
use crate::page::Gfp;
use crate::time::{HZ, NSEC_PER_JIFFY};

/// Where kswapd is in its loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum KswapdState {
    /// schedule() in kswapd_try_to_sleep(): only a wakeup_kswapd() brings it back.
    #[default]
    Sleeping,
    /// The HZ/10 nap of kswapd_try_to_sleep() after balancing, until this time (ns).
    Nap { until: u64 },
    /// Woken (or its nap over): runs as soon as it gets a CPU.
    Runnable { woken_in_nap: bool },
    /// Asleep in reclaim_throttle(VMSCAN_THROTTLE_WRITEBACK) from `since` until `until` (ns)
    /// or until acct_reclaim_writeback() wakes it (mm/vmscan_throttle.rs); it then balances
    /// the node again.
    Throttled { since: u64, until: u64 },
}

/// The thread's part of pglist_data.
#[derive(Clone, Debug, Default)]
pub struct Kswapd {
    pub state: KswapdState,
    /// pgdat->kswapd_order: the largest order a waker wanted.
    order: u32,
}

impl Kernel {
    /// pgdat_balanced(): the zone passes its high watermark for `order`.
    fn pgdat_balanced(&self, order: u32) -> bool {
        let high = self.zone.wmark_pages(Wmark::High);
        self.zone_watermark_ok(order, high, AllocFlags::empty(), self.pages.nr_free())
    }

    /// wakeup_kswapd(): note the order; wake the thread if it waits (sleeps or naps), unless
    /// the node is balanced already or hopeless (MAX_RECLAIM_RETRIES failed runs).
    pub(crate) fn wakeup_kswapd(&mut self, _gfp: Gfp, order: u32) {
        let k = &mut self.kswapd;
        k.order = k.order.max(order);
        let woken_in_nap = match k.state {
            KswapdState::Sleeping => false,
            KswapdState::Nap { .. } => true,
            KswapdState::Runnable { .. } | KswapdState::Throttled { .. } => return,
        };
        if self.pgdat.kswapd_failures >= MAX_RECLAIM_RETRIES || self.pgdat_balanced(order) {
            return;
        }
        self.kswapd.state = KswapdState::Runnable { woken_in_nap };
    }

    /// When kswapd next runs: now if runnable, at the nap's end, never while asleep.
    pub(crate) fn kswapd_due(&self) -> Option<u64> {
        match self.kswapd.state {
            KswapdState::Sleeping => None,
            KswapdState::Nap { until } | KswapdState::Throttled { until, .. } => {
                Some(until.max(self.now_ns()))
            }
            KswapdState::Runnable { .. } => Some(self.now_ns()),
        }
    }

    /// One run of kswapd(): back from its nap or woken, it balances the node (a nap that
    /// ended unbalanced counts kswapd_high_wmark_hit_quickly, a wakeup during the nap
    /// kswapd_low_wmark_hit_quickly) and goes back to kswapd_try_to_sleep(): a nap if the node
    /// is balanced or hopeless, else (kswapd_high_wmark_hit_quickly) another run at once;
    /// from a nap that found it still balanced or hopeless, a sleep.
    pub(crate) fn kswapd_run(&mut self) {
        let state = self.kswapd.state;
        match state {
            KswapdState::Nap { .. } if self.prepare_kswapd_sleep(0) => {
                self.kswapd.state = KswapdState::Sleeping;
                return;
            }
            KswapdState::Nap { .. } => self.vmstat.kswapd_high_wmark_hit_quickly += 1,
            KswapdState::Runnable { woken_in_nap: true } => {
                self.vmstat.kswapd_low_wmark_hit_quickly += 1;
            }
            KswapdState::Throttled { until, .. } => self.kswapd_throttle_timeout(until),
            KswapdState::Runnable {
                woken_in_nap: false,
            }
            | KswapdState::Sleeping => {}
        }
        let order = std::mem::take(&mut self.kswapd.order);
        let reclaim_order = self.balance_pgdat(order);
        if matches!(self.kswapd.state, KswapdState::Throttled { .. }) {
            // Asleep in reclaim_throttle(): the order it was balancing for stays wanted.
            self.kswapd.order = self.kswapd.order.max(reclaim_order);
            return;
        }
        self.kswapd.state = if self.prepare_kswapd_sleep(reclaim_order) {
            KswapdState::Nap {
                until: self.now_ns() + HZ / 10 * NSEC_PER_JIFFY,
            }
        } else {
            // No nap at all: kswapd_try_to_sleep() counts the node unbalanced again at once.
            self.vmstat.kswapd_high_wmark_hit_quickly += 1;
            KswapdState::Runnable {
                woken_in_nap: false,
            }
        };
    }

    /// prepare_kswapd_sleep(): may kswapd sleep — the node hopeless or balanced? A balanced
    /// node loses its PGDAT_WRITEBACK mark (clear_pgdat_congested()).
    fn prepare_kswapd_sleep(&mut self, order: u32) -> bool {
        if self.pgdat.kswapd_failures >= MAX_RECLAIM_RETRIES {
            return true;
        }
        let balanced = self.pgdat_balanced(order);
        if balanced {
            self.pgdat.throttle.pgdat_writeback = false;
        }
        balanced
    }

    /// balance_pgdat(): count pageoutrun, then from DEF_PRIORITY down to 1 until the node is
    /// balanced: age the active anon list, shrink the node for at least the high watermark's
    /// worth of pages, and raise the priority unless that pass scanned enough and reclaimed
    /// something. A run that reclaims nothing adds a kswapd failure. Returns the order it
    /// ended balancing for (0 once a large order's gap is reclaimed).
    fn balance_pgdat(&mut self, order: u32) -> u32 {
        self.vmstat.pageoutrun += 1;
        let high = self.zone.wmark_pages(Wmark::High);
        let mut r = Reclaim::new(Gfp::KERNEL, order, high.max(SWAP_CLUSTER_MAX), true);
        let balanced = loop {
            if self.pgdat_balanced(r.order) {
                break true;
            }
            if r.priority < 1 {
                break false;
            }
            self.age_active_anon(&r.sc);
            let before = r.sc.nr_reclaimed;
            r.sc.nr_scanned = 0;
            // kswapd_shrink_node(): a large order is dropped once its gap is reclaimed.
            self.shrink_node(&mut r);
            if matches!(self.kswapd.state, KswapdState::Throttled { .. }) {
                // reclaim_throttle() put it to sleep: it starts over once woken.
                return r.order;
            }
            if r.order > 0 && r.sc.nr_reclaimed >= 2 << r.order {
                r.order = 0;
            }
            let raise_priority = r.sc.nr_scanned < r.nr_to_reclaim;
            if raise_priority || r.sc.nr_reclaimed == before {
                r.priority -= 1;
            }
        };
        if !balanced && r.sc.nr_reclaimed == 0 {
            self.pgdat.kswapd_failures += 1;
        }
        self.snapshot_refaults();
        r.order
    }

    /// The end of a syscall or user access: what ran on other CPUs meanwhile finishes
    /// (kswapd, if the step woke it), and the return to user space delivers the OOM
    /// killer's SIGKILL (a victim that is still alive dies now, exit_to_user_mode_loop()),
    /// then the stepping task's TIF_NOTIFY_RESUME work if it is not asleep in the kernel.
    /// The scenario runner calls it after every step.
    pub fn finish_step(&mut self) {
        self.oom_reap_victims();
        if self
            .tasks
            .get(self.current)
            .is_some_and(|t| t.wait.is_none())
        {
            self.resume_user_mode_work();
        }
        while matches!(self.kswapd.state, KswapdState::Runnable { .. }) {
            self.kthread_run_once(Kthread::Kswapd);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;

    #[test]
    fn kswapd_is_woken_below_low_only_and_naps_after_balancing() {
        let mut k = Kernel::new(Config {
            memory_bytes: 64 << 20,
            ..Config::default()
        });
        k.wakeup_kswapd(Gfp::KERNEL, 0);
        assert_eq!(k.kswapd.state, KswapdState::Sleeping, "balanced: no wakeup");
        k.kswapd.state = KswapdState::Nap { until: 1 };
        k.kswapd_run();
        assert_eq!(
            k.kswapd.state,
            KswapdState::Sleeping,
            "a nap that ends balanced becomes a sleep"
        );
        assert_eq!(k.vmstat.pageoutrun, 0);
    }
}
