//! mm/damon/core.c: regions and their adaptive adjustment (merge, split, set_regions), the
//! interval checks on the coarse clock, and kdamond_fn() as a kernel thread of the model.

use crate::kernel::Kernel;
use crate::kthread::Kthread;
use crate::mm::damon::{CtxId, KdamondState, OpsId, Prng, Target, DAMON_MIN_REGION};

/// struct damon_region: `[start, end)` with its access counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Region {
    pub start: u64,
    pub end: u64,
    pub sampling_addr: u64,
    pub nr_accesses: u32,
    pub age: u32,
    pub last_nr_accesses: u32,
}

impl Region {
    /// damon_new_region(): counts start at 0.
    pub fn new(start: u64, end: u64) -> Region {
        Region {
            start,
            end,
            ..Region::default()
        }
    }

    /// sz_damon_region().
    pub fn size(&self) -> u64 {
        self.end - self.start
    }
}

/// One `damon:damon_aggregated` trace record (kdamond_reset_aggregated()).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AggrRecord {
    /// When the aggregation ended, ns since boot.
    pub time_ns: u64,
    /// The target's index in the context (not a pid).
    pub target_id: u64,
    /// The target's region count at that moment.
    pub nr_regions: u32,
    pub start: u64,
    pub end: u64,
    pub nr_accesses: u32,
    pub age: u32,
}

fn align_down(x: u64, a: u64) -> u64 {
    x - x % a
}

fn align_up(x: u64, a: u64) -> u64 {
    x.div_ceil(a).saturating_mul(a)
}

/// damon_merge_two_regions(): size-weighted averages of the counts and ages into `l`.
pub fn merge_two_regions(l: &mut Region, r: &Region) {
    let (sl, sr) = (l.size() as u128, r.size() as u128);
    let total = (sl + sr).max(1);
    l.nr_accesses = ((l.nr_accesses as u128 * sl + r.nr_accesses as u128 * sr) / total) as u32;
    l.age = ((l.age as u128 * sl + r.age as u128 * sr) / total) as u32;
    l.end = r.end;
}

/// damon_merge_regions_of(): age each region (reset when its count moved by more than
/// `thres`), and merge adjacent neighbours whose counts differ by at most `thres` while the
/// sum stays within `sz_limit`.
pub fn merge_regions_of(regions: &mut Vec<Region>, thres: u32, sz_limit: u64) {
    let mut out: Vec<Region> = Vec::with_capacity(regions.len());
    for mut r in regions.drain(..) {
        if r.nr_accesses.abs_diff(r.last_nr_accesses) > thres {
            r.age = 0;
        } else {
            r.age = r.age.wrapping_add(1);
        }
        match out.last_mut() {
            Some(prev)
                if prev.end == r.start
                    && prev.nr_accesses.abs_diff(r.nr_accesses) <= thres
                    && prev.size() + r.size() <= sz_limit =>
            {
                merge_two_regions(prev, &r)
            }
            _ => out.push(r),
        }
    }
    *regions = out;
}

/// damon_split_region_at(): `regions[i]` keeps its first `sz` bytes; the rest becomes a new
/// region right after it, with the age and last count copied and nr_accesses 0 (5.19).
pub fn split_region_at(regions: &mut Vec<Region>, i: usize, sz: u64) {
    let r = &mut regions[i];
    let mut new = Region::new(r.start + sz, r.end);
    r.end = new.start;
    new.age = r.age;
    new.last_nr_accesses = r.last_nr_accesses;
    regions.insert(i + 1, new);
}

/// damon_split_regions_of(): each region present at the start is cut at random (10% to 90%)
/// up to `nr_subs - 1` times, the second cut falling in the left piece.
pub fn split_regions_of(regions: &mut Vec<Region>, nr_subs: u32, rng: &mut Prng, min: u64) {
    let mut i = 0;
    while i < regions.len() {
        let mut sz_region = regions[i].size();
        let mut pieces = 1;
        let mut n = 0;
        while n + 1 < nr_subs && sz_region > 2 * min {
            n += 1;
            let sz_sub = align_down(rng.rand(1, 10) * sz_region / 10, min);
            if sz_sub == 0 || sz_sub >= sz_region {
                continue;
            }
            split_region_at(regions, i, sz_sub);
            pieces += 1;
            sz_region = sz_sub;
        }
        i += pieces;
    }
}

/// damon_intersect().
fn intersects(r: &Region, (s, e): (u64, u64)) -> bool {
    !(r.end <= s || e <= r.start)
}

/// damon_set_regions() (moved to core in 5.19): drop the regions no range touches; for each
/// range, stretch the first and last regions it touches to its `min`-aligned bounds, or
/// insert a new region for it. Holes between kept regions stay (6.1 fills them); nothing
/// checks that the ranges are sorted or disjoint.
pub fn set_regions(regions: &mut Vec<Region>, ranges: &[(u64, u64)], min: u64) {
    regions.retain(|r| ranges.iter().any(|&a| intersects(r, a)));
    for &(s, e) in ranges {
        let mut first = None;
        let mut last = 0;
        let mut stop = regions.len();
        for (i, r) in regions.iter().enumerate() {
            if intersects(r, (s, e)) {
                first.get_or_insert(i);
                last = i;
            }
            if r.start >= e {
                stop = i;
                break;
            }
        }
        match first {
            None => regions.insert(stop, Region::new(align_down(s, min), align_up(e, min))),
            Some(f) => {
                regions[f].start = align_down(s, min);
                regions[last].end = align_up(e, min);
            }
        }
    }
}

/// damon_region_sz_limit(): the total size over min_nr_regions, at least one page.
pub fn region_sz_limit(targets: &[Target], min_nr_regions: u64) -> u64 {
    let sz: u64 = targets
        .iter()
        .flat_map(|t| &t.regions)
        .map(Region::size)
        .sum();
    sz.checked_div(min_nr_regions)
        .unwrap_or(sz)
        .max(DAMON_MIN_REGION)
}

/// kdamond_usleep(): a sleep over 20 ms is a timeout in whole jiffies (rounded up, ending on
/// a tick); a shorter one an hrtimer sleep of exactly `us`. The wake-up time, ns.
pub(crate) fn usleep_until(now: u64, us: u64) -> u64 {
    use crate::time::{jiffies_to_ns, NSEC_PER_JIFFY};
    if us > 20_000 {
        let j = (us * 1000).div_ceil(NSEC_PER_JIFFY);
        jiffies_to_ns(now / NSEC_PER_JIFFY + j)
    } else {
        now + us * 1000
    }
}

impl Kernel {
    /// damon_check_reset_time_interval() on the coarse clock: has `interval` µs passed since
    /// the baseline? If so the baseline becomes now (no catch-up).
    fn damon_interval_passed(&mut self, c: CtxId, ops_update: bool) -> bool {
        let now = self.coarse_now();
        let ctx = &mut self.damon.ctxs[c];
        let (base, interval) = if ops_update {
            (&mut ctx.last_ops_update, ctx.attrs.ops_update_interval)
        } else {
            (&mut ctx.last_aggregation, ctx.attrs.aggr_interval)
        };
        if now.saturating_sub(*base) < interval.saturating_mul(1000) {
            return false;
        }
        *base = now;
        true
    }

    /// When kdamond `c` next runs.
    pub(crate) fn kdamond_due(&self, c: CtxId) -> Option<u64> {
        let kd = self.damon.ctxs.get(c)?.kdamond?;
        Some(kd.due.max(self.now_ns()))
    }

    /// Run a callback; its error ends the kdamond (5.19: at once, the rest of the iteration
    /// skipped).
    fn damon_callback(
        &mut self,
        c: CtxId,
        pick: fn(&crate::mm::damon::Callbacks) -> Option<crate::mm::damon::Callback>,
    ) -> bool {
        let Some(cb) = self.damon.ctxs.get(c).and_then(|x| pick(&x.callback)) else {
            return true;
        };
        if cb(self, c).is_err() {
            if let Some(kd) = self.damon.ctxs.get_mut(c).and_then(|x| x.kdamond.as_mut()) {
                kd.stop = true;
            }
            return false;
        }
        // The callback may have stopped the context itself.
        self.damon_is_running(c)
    }

    /// One run of kdamond `c`: the part of kdamond_fn() between two of its sleeps.
    pub(crate) fn kdamond_run(&mut self, c: CtxId) {
        let Some(kd) = self.damon.ctxs.get(c).and_then(|x| x.kdamond) else {
            return;
        };
        match kd.state {
            KdamondState::Start => {
                self.damon_ops_init(c);
                if !self.damon_callback(c, |cb| cb.before_start) {
                    return self.kdamond_terminate(c);
                }
                self.kdamond_update_sz_limit(c);
                self.kdamond_loop_top(c, None);
            }
            KdamondState::Sampling => {
                if self.kdamond_after_sample(c) {
                    self.kdamond_loop_top(c, None);
                }
            }
            KdamondState::WmarkWait { min_wait } => {
                if !self.damon_callback(c, |cb| cb.after_wmarks_check) {
                    return self.kdamond_terminate(c);
                }
                self.kdamond_loop_top(c, Some(min_wait));
            }
        }
    }

    fn kdamond_update_sz_limit(&mut self, c: CtxId) {
        let ctx = &mut self.damon.ctxs[c];
        let sz = region_sz_limit(&ctx.targets, ctx.attrs.min_nr_regions);
        if let Some(kd) = ctx.kdamond.as_mut() {
            kd.sz_limit = sz;
        }
    }

    /// kdamond_need_stop(): a stop was asked, or target_valid() fails for every target
    /// (vaddr/fvaddr: every process gone, or no target at all; paddr has no such hook).
    fn kdamond_need_stop(&self, c: CtxId) -> bool {
        let ctx = &self.damon.ctxs[c];
        if ctx.kdamond.is_none_or(|k| k.stop) {
            return true;
        }
        if ctx.ops == OpsId::Paddr {
            return false;
        }
        !ctx.targets
            .iter()
            .any(|t| self.damon_target_mm(t).is_some())
    }

    /// The top of kdamond_fn()'s loop: stop, or kdamond_wait_activation() (a watermark sleep
    /// keeps the smallest wait of this call, `min_wait`), then prepare_access_checks,
    /// after_sampling, and the sampling sleep.
    fn kdamond_loop_top(&mut self, c: CtxId, min_wait: Option<u64>) {
        if self.kdamond_need_stop(c) {
            return self.kdamond_terminate(c);
        }
        let wait = self.damos_wmark_min_wait(c, min_wait);
        let now = self.now_ns();
        if wait != 0 {
            let kd = self.damon.ctxs[c].kdamond.as_mut().expect("running");
            kd.state = KdamondState::WmarkWait { min_wait: wait };
            kd.due = usleep_until(now, wait);
            return;
        }
        self.damon_prepare_access_checks(c);
        if !self.damon_callback(c, |cb| cb.after_sampling) {
            return self.kdamond_terminate(c);
        }
        let sample = self.damon.ctxs[c].attrs.sample_interval;
        let kd = self.damon.ctxs[c].kdamond.as_mut().expect("running");
        kd.state = KdamondState::Sampling;
        kd.due = usleep_until(now, sample);
    }

    /// After the sampling sleep: check_accesses, then (when the aggregation interval passed)
    /// merge, after_aggregation, schemes, the trace records and reset, split; then the
    /// ops-update tick. False if the kdamond ended.
    fn kdamond_after_sample(&mut self, c: CtxId) -> bool {
        let max = self.damon_check_accesses(c);
        if let Some(kd) = self.damon.ctxs[c].kdamond.as_mut() {
            kd.max_nr_accesses = max;
        }
        if self.damon_interval_passed(c, false) {
            let ctx = &mut self.damon.ctxs[c];
            let kd = ctx.kdamond.expect("running");
            for t in &mut ctx.targets {
                merge_regions_of(&mut t.regions, kd.max_nr_accesses / 10, kd.sz_limit);
            }
            if !self.damon_callback(c, |cb| cb.after_aggregation) {
                self.kdamond_terminate(c);
                return false;
            }
            self.kdamond_apply_schemes(c);
            self.kdamond_reset_aggregated(c);
            self.kdamond_split_regions(c);
        }
        if self.damon_interval_passed(c, true) {
            if matches!(self.damon.ctxs[c].ops, OpsId::Vaddr) {
                self.damon_va_update(c);
            }
            self.kdamond_update_sz_limit(c);
        }
        true
    }

    /// kdamond_reset_aggregated(): a trace record per region, then last = nr, nr = 0.
    fn kdamond_reset_aggregated(&mut self, c: CtxId) {
        let now = self.now_ns();
        let ctx = &mut self.damon.ctxs[c];
        for (ti, t) in ctx.targets.iter_mut().enumerate() {
            let nr = t.regions.len() as u32;
            for r in &mut t.regions {
                if let Some(rec) = ctx.records.as_mut() {
                    rec.push(AggrRecord {
                        time_ns: now,
                        target_id: ti as u64,
                        nr_regions: nr,
                        start: r.start,
                        end: r.end,
                        nr_accesses: r.nr_accesses,
                        age: r.age,
                    });
                }
                r.last_nr_accesses = r.nr_accesses;
                r.nr_accesses = 0;
            }
        }
        ctx.aggregations += 1;
    }

    /// kdamond_split_regions(): no split above max_nr_regions / 2; three pieces when the
    /// count did not change since the last split pass (of any context) and is below max / 3.
    fn kdamond_split_regions(&mut self, c: CtxId) {
        let last = self.damon.last_nr_regions;
        let ctx = &mut self.damon.ctxs[c];
        let n: u64 = ctx.targets.iter().map(|t| t.regions.len() as u64).sum();
        if n > ctx.attrs.max_nr_regions / 2 {
            return;
        }
        let nr_subs = if last == n && n < ctx.attrs.max_nr_regions / 3 {
            3
        } else {
            2
        };
        for t in &mut ctx.targets {
            split_regions_of(&mut t.regions, nr_subs, &mut ctx.rng, DAMON_MIN_REGION);
        }
        self.damon.last_nr_regions = n;
    }

    /// The end of kdamond_fn(): every region destroyed, before_terminate, the context marked
    /// stopped and the running count dropped.
    pub(crate) fn kdamond_terminate(&mut self, c: CtxId) {
        let Some(ctx) = self.damon.ctxs.get_mut(c) else {
            return;
        };
        if ctx.kdamond.is_none() {
            return;
        }
        for t in &mut ctx.targets {
            t.regions.clear();
        }
        if let Some(cb) = ctx.callback.before_terminate {
            cb(self, c);
        }
        if let Some(ctx) = self.damon.ctxs.get_mut(c) {
            ctx.kdamond = None;
        }
        self.kthreads.kthread_stop(Kthread::Kdamond(c));
        let d = &mut self.damon;
        d.nr_running_ctxs = d.nr_running_ctxs.saturating_sub(1);
        if d.nr_running_ctxs == 0 {
            d.running_exclusive_ctxs = false;
        }
    }

    /// ops.init(): vaddr builds its three regions; fvaddr and paddr keep the user's.
    fn damon_ops_init(&mut self, c: CtxId) {
        if self.damon.ctxs[c].ops == OpsId::Vaddr {
            self.damon_va_init(c);
        }
    }

    /// ops.prepare_access_checks().
    fn damon_prepare_access_checks(&mut self, c: CtxId) {
        match self.damon.ctxs[c].ops {
            OpsId::Vaddr | OpsId::Fvaddr => self.damon_va_prepare_access_checks(c),
            OpsId::Paddr => self.damon_pa_prepare_access_checks(c),
        }
    }

    /// ops.check_accesses(): every region of every target (vaddr/fvaddr: whose process
    /// lives) gets one more access if its sampling address was accessed, the last lookup's
    /// result reused for an address in the same page block; the largest nr_accesses.
    fn damon_check_accesses(&mut self, c: CtxId) -> u32 {
        let paddr = self.damon.ctxs[c].ops == OpsId::Paddr;
        let mut max = 0;
        for ti in 0..self.damon.ctxs[c].targets.len() {
            let mm = self.damon_target_mm(&self.damon.ctxs[c].targets[ti]);
            if mm.is_none() && !paddr {
                continue;
            }
            for ri in 0..self.damon.ctxs[c].targets[ti].regions.len() {
                let addr = self.damon.ctxs[c].targets[ti].regions[ri].sampling_addr;
                let cache = if paddr {
                    self.damon.cache.pa
                } else {
                    self.damon.cache.va
                };
                let accessed = match (cache.hit(mm, addr), mm) {
                    (Some(a), _) => a,
                    (None, Some(mm)) if !paddr => {
                        let (young, sz) = self.damon_va_young(mm, addr);
                        self.damon.cache.va.fill(Some(mm), addr, young, sz);
                        young
                    }
                    (None, _) => {
                        let (young, sz) = self.damon_pa_young(addr);
                        self.damon.cache.pa.fill(None, addr, young, sz);
                        young
                    }
                };
                let r = &mut self.damon.ctxs[c].targets[ti].regions[ri];
                if accessed {
                    r.nr_accesses += 1;
                }
                max = max.max(r.nr_accesses);
            }
        }
        max
    }
}
