//! DAMOS of mm/damon/core.c (5.19): schemes that apply an action to the regions matching an
//! access pattern, within a size/time quota whose budget goes to the coldest regions first,
//! switched on and off by free-memory watermarks, with their stats.

use crate::hw::PAGE_SIZE;
use crate::kernel::Kernel;
use crate::mm::damon::core::{split_region_at, Region};
use crate::mm::damon::ops_common::{pageout_score, DAMOS_MAX_SCORE};
use crate::mm::damon::{CtxId, OpsId, DAMON_MIN_REGION};

/// enum damos_action (5.19's order, which the sysfs keywords follow).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DamosAction {
    Willneed,
    Cold,
    Pageout,
    Hugepage,
    Nohugepage,
    Stat,
}

impl DamosAction {
    pub const ALL: [DamosAction; 6] = [
        DamosAction::Willneed,
        DamosAction::Cold,
        DamosAction::Pageout,
        DamosAction::Hugepage,
        DamosAction::Nohugepage,
        DamosAction::Stat,
    ];

    /// damon_sysfs_damos_action_strs[].
    pub fn name(self) -> &'static str {
        match self {
            DamosAction::Willneed => "willneed",
            DamosAction::Cold => "cold",
            DamosAction::Pageout => "pageout",
            DamosAction::Hugepage => "hugepage",
            DamosAction::Nohugepage => "nohugepage",
            DamosAction::Stat => "stat",
        }
    }

    pub fn from_name(s: &str) -> Option<DamosAction> {
        DamosAction::ALL.into_iter().find(|a| a.name() == s)
    }
}

/// struct damos_quota: the user's limits and weights, then the charge state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DamosQuota {
    /// Time quota per window, ms (0: none).
    pub ms: u64,
    /// Size quota per window, bytes (0: none).
    pub sz: u64,
    /// The charge window, ms.
    pub reset_interval: u64,
    /// Accepted but unused by 5.19's scoring.
    pub weight_sz: u32,
    pub weight_nr_accesses: u32,
    pub weight_age: u32,
    pub(crate) total_charged_sz: u64,
    pub(crate) total_charged_ns: u64,
    /// The effective size quota of this window (0: unlimited).
    pub esz: u64,
    pub(crate) charged_sz: u64,
    /// The jiffy the window opened; None before the first (the model's jiffies start at 0,
    /// a kernel's far from it, where the first pass always opens a window).
    pub(crate) charged_from: Option<u64>,
    pub(crate) charge_target_from: Option<usize>,
    pub(crate) charge_addr_from: u64,
    pub(crate) min_score: i64,
}

/// enum damos_wmark_metric.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WmarkMetric {
    #[default]
    None,
    FreeMemRate,
}

/// struct damos_watermarks (free memory in per-mille; interval in µs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DamosWmarks {
    pub metric: WmarkMetric,
    pub interval: u64,
    pub high: u64,
    pub mid: u64,
    pub low: u64,
    pub activated: bool,
}

impl Default for DamosWmarks {
    fn default() -> Self {
        DamosWmarks {
            metric: WmarkMetric::None,
            interval: 0,
            high: 0,
            mid: 0,
            low: 0,
            activated: true,
        }
    }
}

/// struct damos_stat.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DamosStat {
    pub nr_tried: u64,
    pub sz_tried: u64,
    pub nr_applied: u64,
    pub sz_applied: u64,
    pub qt_exceeds: u64,
}

/// struct damos: the pattern (inclusive bounds), the action, quota, watermarks and stats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Damos {
    pub min_sz_region: u64,
    pub max_sz_region: u64,
    pub min_nr_accesses: u32,
    pub max_nr_accesses: u32,
    pub min_age_region: u32,
    pub max_age_region: u32,
    pub action: DamosAction,
    pub quota: DamosQuota,
    pub wmarks: DamosWmarks,
    pub stat: DamosStat,
}

impl Damos {
    /// damon_new_scheme(): zero stats and charge state, activated.
    pub fn new(action: DamosAction) -> Damos {
        Damos {
            min_sz_region: 0,
            max_sz_region: u64::MAX,
            min_nr_accesses: 0,
            max_nr_accesses: u32::MAX,
            min_age_region: 0,
            max_age_region: u32::MAX,
            action,
            quota: DamosQuota::default(),
            wmarks: DamosWmarks::default(),
            stat: DamosStat::default(),
        }
    }

    /// __damos_valid_target(): does the region match the pattern?
    pub fn matches(&self, r: &Region) -> bool {
        let sz = r.size();
        (self.min_sz_region..=self.max_sz_region).contains(&sz)
            && (self.min_nr_accesses..=self.max_nr_accesses).contains(&r.nr_accesses)
            && (self.min_age_region..=self.max_age_region).contains(&r.age)
    }
}

/// damos_set_effective_quota(): bytes for a size-only quota; for a time quota the measured
/// throughput (4 MiB/ms before anything was timed) times the ms, capped by the size quota.
fn set_effective_quota(q: &mut DamosQuota) {
    if q.ms == 0 {
        q.esz = q.sz;
        return;
    }
    let throughput = match q.total_charged_ns {
        0 => PAGE_SIZE * 1024,
        ns => q.total_charged_sz.saturating_mul(1_000_000) / ns,
    };
    let mut esz = throughput.saturating_mul(q.ms);
    if q.sz != 0 && q.sz < esz {
        esz = q.sz;
    }
    q.esz = esz;
}

impl Kernel {
    /// damos_wmark_metric_value(): free memory per mille of all memory (si_meminfo()).
    pub(crate) fn damos_free_mem_rate(&self) -> u64 {
        self.pages.nr_free() * 1000 / self.pages.nr_total().max(1)
    }

    /// damos_wmark_wait_us() for every scheme of `c`, activating and deactivating them; the
    /// smallest wait (0: run), never above `min_wait`, the smallest of this
    /// kdamond_wait_activation() call so far (5.19 does not reset it between rounds).
    pub(crate) fn damos_wmark_min_wait(&mut self, c: CtxId, min_wait: Option<u64>) -> u64 {
        let v = self.damos_free_mem_rate();
        let mut min = min_wait;
        for s in &mut self.damon.ctxs[c].schemes {
            let w = &mut s.wmarks;
            let wait = match w.metric {
                WmarkMetric::None => 0,
                _ if v > w.high || w.low > v => {
                    w.activated = false;
                    w.interval
                }
                _ if w.high >= v && v >= w.mid && !w.activated => w.interval,
                _ => {
                    w.activated = true;
                    0
                }
            };
            if min.is_none_or(|m| wait < m) {
                min = Some(wait);
            }
        }
        min.unwrap_or(0)
    }

    /// ops.get_scheme_score(): the cold score for pageout, DAMOS_MAX_SCORE otherwise (both
    /// vaddr and paddr in 5.19).
    fn damos_score(&self, c: CtxId, r: &Region, si: usize) -> i64 {
        let ctx = &self.damon.ctxs[c];
        let s = &ctx.schemes[si];
        match s.action {
            DamosAction::Pageout => pageout_score(ctx, r, s),
            _ => DAMOS_MAX_SCORE,
        }
    }

    /// ops.apply_scheme(): the bytes the action applied to.
    fn damos_apply(&mut self, c: CtxId, ti: usize, r: Region, a: DamosAction) -> u64 {
        match self.damon.ctxs[c].ops {
            OpsId::Vaddr | OpsId::Fvaddr => self.damon_va_apply_scheme(c, ti, r, a),
            OpsId::Paddr if a == DamosAction::Pageout => self.damon_pa_pageout(r.start, r.end),
            OpsId::Paddr => 0,
        }
    }

    /// kdamond_apply_schemes(): open quota windows and set each quota-ed scheme's minimum
    /// score from the histogram of matching regions, then visit every region (pieces split
    /// off during the pass are first seen at the next aggregation).
    pub(crate) fn kdamond_apply_schemes(&mut self, c: CtxId) {
        let jiffies = self.clock.jiffies();
        for si in 0..self.damon.ctxs[c].schemes.len() {
            let s = &mut self.damon.ctxs[c].schemes[si];
            if !s.wmarks.activated || (s.quota.ms == 0 && s.quota.sz == 0) {
                continue;
            }
            let q = &mut s.quota;
            let window = crate::time::msecs_to_jiffies(q.reset_interval);
            if q.charged_from.is_none_or(|from| jiffies >= from + window) {
                if q.esz != 0 && q.charged_sz >= q.esz {
                    s.stat.qt_exceeds += 1;
                }
                q.total_charged_sz += q.charged_sz;
                q.charged_from = Some(jiffies);
                q.charged_sz = 0;
                set_effective_quota(q);
            }
            let mut histogram = [0u64; DAMOS_MAX_SCORE as usize + 1];
            let mut max_score = 0;
            let ctx = &self.damon.ctxs[c];
            for t in &ctx.targets {
                for r in t.regions.iter().filter(|r| ctx.schemes[si].matches(r)) {
                    let score = self.damos_score(c, r, si).clamp(0, DAMOS_MAX_SCORE);
                    histogram[score as usize] += r.size();
                    max_score = max_score.max(score);
                }
            }
            let esz = self.damon.ctxs[c].schemes[si].quota.esz;
            let mut cumulated = 0;
            let mut score = max_score;
            loop {
                cumulated += histogram[score as usize];
                if cumulated >= esz || score == 0 {
                    break;
                }
                score -= 1;
            }
            self.damon.ctxs[c].schemes[si].quota.min_score = score;
        }
        for ti in 0..self.damon.ctxs[c].targets.len() {
            let mut ri = 0;
            while ri < self.damon.ctxs[c].targets[ti].regions.len() {
                let before = self.damon.ctxs[c].targets[ti].regions.len();
                self.damon_do_apply_schemes(c, ti, ri);
                let added = self.damon.ctxs[c].targets[ti].regions.len() - before;
                ri += 1 + added;
            }
        }
    }

    /// damos_valid_target(): the pattern, and with a quota the score at or above the
    /// window's minimum.
    fn damos_valid_target(&self, c: CtxId, r: &Region, si: usize) -> bool {
        let s = &self.damon.ctxs[c].schemes[si];
        if !s.matches(r) || s.quota.esz == 0 {
            return s.matches(r);
        }
        self.damos_score(c, r, si) >= s.quota.min_score
    }

    /// damon_do_apply_schemes(): every scheme on region `ri` of target `ti`, with the
    /// resume-after-the-charged-part and quota splits of 5.19.
    fn damon_do_apply_schemes(&mut self, c: CtxId, ti: usize, mut ri: usize) {
        for si in 0..self.damon.ctxs[c].schemes.len() {
            let ctx = &mut self.damon.ctxs[c];
            let regions = &mut ctx.targets[ti].regions;
            let s = &mut ctx.schemes[si];
            let mut sz = regions[ri].size();
            if !s.wmarks.activated {
                continue;
            }
            let q = &mut s.quota;
            if q.esz != 0 && q.charged_sz >= q.esz {
                continue;
            }
            if let Some(from) = q.charge_target_from {
                if from != ti {
                    continue;
                }
                if ri == regions.len() - 1 {
                    q.charge_target_from = None;
                    q.charge_addr_from = 0;
                    continue;
                }
                let r = regions[ri];
                if q.charge_addr_from != 0 && r.end <= q.charge_addr_from {
                    continue;
                }
                if q.charge_addr_from != 0 && r.start < q.charge_addr_from {
                    sz = (q.charge_addr_from - r.start) / DAMON_MIN_REGION * DAMON_MIN_REGION;
                    if sz == 0 {
                        if r.size() <= DAMON_MIN_REGION {
                            continue;
                        }
                        sz = DAMON_MIN_REGION;
                    }
                    split_region_at(regions, ri, sz);
                    ri += 1;
                    sz = regions[ri].size();
                }
                q.charge_target_from = None;
                q.charge_addr_from = 0;
            }
            let r = self.damon.ctxs[c].targets[ti].regions[ri];
            if !self.damos_valid_target(c, &r, si) {
                continue;
            }
            let s = self.damon.ctxs[c].schemes[si];
            let mut applied = 0;
            let q = s.quota;
            let mut skipped = false;
            if q.esz != 0 && q.charged_sz + sz > q.esz {
                sz = (q.esz - q.charged_sz) / DAMON_MIN_REGION * DAMON_MIN_REGION;
                if sz == 0 {
                    skipped = true;
                } else {
                    split_region_at(&mut self.damon.ctxs[c].targets[ti].regions, ri, sz);
                }
            }
            if !skipped {
                let r = self.damon.ctxs[c].targets[ti].regions[ri];
                applied = self.damos_apply(c, ti, r, s.action);
                let ctx = &mut self.damon.ctxs[c];
                let q = &mut ctx.schemes[si].quota;
                q.charged_sz += sz;
                if q.esz != 0 && q.charged_sz >= q.esz {
                    q.charge_target_from = Some(ti);
                    q.charge_addr_from = ctx.targets[ti].regions[ri].end + 1;
                }
                if s.action != DamosAction::Stat {
                    ctx.targets[ti].regions[ri].age = 0;
                }
            }
            let st = &mut self.damon.ctxs[c].schemes[si].stat;
            st.nr_tried += 1;
            st.sz_tried += sz;
            if applied != 0 {
                st.nr_applied += 1;
            }
            st.sz_applied += applied;
        }
    }
}
