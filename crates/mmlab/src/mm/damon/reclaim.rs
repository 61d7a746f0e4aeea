//! mm/damon/reclaim.c (5.19): DAMON_RECLAIM, a paddr context with one pageout scheme for
//! regions not accessed for `min_age`, under a quota, switched by free-memory watermarks. Its
//! module parameters live under /sys/module/damon_reclaim/parameters/; `enabled` is acted on
//! by a delayed work that re-checks it every second while enabled, and `commit_inputs`
//! re-reads the parameters from the kdamond's callbacks (5.19's online tuning).

use crate::errno::{Errno, SysResult};
use crate::fs::kernfs::Attr;
use crate::fs::sysfs_input::kstrtoull;
use crate::hw::PAGE_SIZE;
use crate::kernel::Kernel;
use crate::kthread::Kthread;
use crate::mm::damon::core::set_regions;
use crate::mm::damon::{
    Attrs, CtxId, Damos, DamosAction, OpsId, Target, WmarkMetric, DAMON_MIN_REGION,
};

/// The `ulong` parameters (0600) in declaration order, and their defaults.
const ULONGS: [(&str, u64); 14] = [
    ("min_age", 120_000_000),
    ("quota_ms", 10),
    ("quota_sz", 128 << 20),
    ("quota_reset_interval_ms", 1000),
    ("wmarks_interval", 5_000_000),
    ("wmarks_high", 500),
    ("wmarks_mid", 400),
    ("wmarks_low", 200),
    ("sample_interval", 5000),
    ("aggr_interval", 100_000),
    ("min_nr_regions", 10),
    ("max_nr_regions", 1000),
    ("monitor_region_start", 0),
    ("monitor_region_end", 0),
];

/// The read-only (0400) stats parameters, copied from the scheme at each aggregation.
const STATS: [&str; 5] = [
    "nr_reclaim_tried_regions",
    "bytes_reclaim_tried_regions",
    "nr_reclaimed_regions",
    "bytes_reclaimed_regions",
    "nr_quota_exceeds",
];

/// ENABLE_CHECK_INTERVAL_MS.
const ENABLE_CHECK_INTERVAL_MS: u64 = 1000;

/// DAMON_RECLAIM's parameters and context.
#[derive(Debug)]
pub(crate) struct DamonReclaim {
    enabled: bool,
    commit_inputs: bool,
    ulongs: [u64; 14],
    kdamond_pid: i64,
    stats: [u64; 5],
    /// The context damon_reclaim_init() made at boot (made at first use here, with the
    /// baselines of a boot-time context).
    ctx: Option<CtxId>,
    /// damon_reclaim_timer_fn()'s `last_enabled`.
    last_enabled: bool,
    /// When the delayed work runs next, if queued.
    timer_due: Option<u64>,
}

impl Default for DamonReclaim {
    fn default() -> Self {
        DamonReclaim {
            enabled: false,
            commit_inputs: false,
            ulongs: ULONGS.map(|(_, v)| v),
            kdamond_pid: -1,
            stats: [0; 5],
            ctx: None,
            last_enabled: false,
            timer_due: None,
        }
    }
}

/// A 0600 module parameter file.
const fn rw(
    name: &'static str,
    show: fn(&Kernel, &Attr) -> String,
    store: fn(&mut Kernel, &Attr, &str) -> SysResult<()>,
) -> Attr {
    Attr {
        name,
        mode: 0o600,
        show,
        store: Some(store),
    }
}

/// A 0400 module parameter file.
const fn ro(name: &'static str, show: fn(&Kernel, &Attr) -> String) -> Attr {
    Attr {
        name,
        mode: 0o400,
        show,
        store: None,
    }
}

/// /sys/module/damon_reclaim/parameters/.
pub(crate) static PARAMS: &[Attr] = &[
    rw("enabled", |k, _| yn(k.damon.reclaim.enabled), enabled_store),
    rw(
        "commit_inputs",
        |k, _| yn(k.damon.reclaim.commit_inputs),
        |k, _, v| {
            k.damon.reclaim.commit_inputs = kstrtobool(v)?;
            Ok(())
        },
    ),
    rw("min_age", show_ulong, store_ulong),
    rw("quota_ms", show_ulong, store_ulong),
    rw("quota_sz", show_ulong, store_ulong),
    rw("quota_reset_interval_ms", show_ulong, store_ulong),
    rw("wmarks_interval", show_ulong, store_ulong),
    rw("wmarks_high", show_ulong, store_ulong),
    rw("wmarks_mid", show_ulong, store_ulong),
    rw("wmarks_low", show_ulong, store_ulong),
    rw("sample_interval", show_ulong, store_ulong),
    rw("aggr_interval", show_ulong, store_ulong),
    rw("min_nr_regions", show_ulong, store_ulong),
    rw("max_nr_regions", show_ulong, store_ulong),
    rw("monitor_region_start", show_ulong, store_ulong),
    rw("monitor_region_end", show_ulong, store_ulong),
    ro("kdamond_pid", |k, _| {
        format!("{}\n", k.damon.reclaim.kdamond_pid)
    }),
    ro("nr_reclaim_tried_regions", show_stat),
    ro("bytes_reclaim_tried_regions", show_stat),
    ro("nr_reclaimed_regions", show_stat),
    ro("bytes_reclaimed_regions", show_stat),
    ro("nr_quota_exceeds", show_stat),
];

/// param_get_bool().
fn yn(b: bool) -> String {
    (if b { "Y\n" } else { "N\n" }).into()
}

/// kstrtobool() (param_set_bool()): the first character decides (y/t/1, n/f/0, on/off).
fn kstrtobool(s: &str) -> SysResult<bool> {
    let b = s.as_bytes();
    match b.first().map(u8::to_ascii_lowercase) {
        Some(b'y' | b't' | b'1') => Ok(true),
        Some(b'n' | b'f' | b'0') => Ok(false),
        Some(b'o') => match b.get(1).map(u8::to_ascii_lowercase) {
            Some(b'n') => Ok(true),
            Some(b'f') => Ok(false),
            _ => Err(Errno::EINVAL),
        },
        _ => Err(Errno::EINVAL),
    }
}

fn ulong_index(name: &str) -> usize {
    ULONGS
        .iter()
        .position(|(n, _)| *n == name)
        .expect("a registered parameter")
}

fn show_ulong(k: &Kernel, a: &Attr) -> String {
    format!("{}\n", k.damon.reclaim.ulongs[ulong_index(a.name)])
}

/// param_set_ulong(): kstrtoul(val, 0)'s errno.
fn store_ulong(k: &mut Kernel, a: &Attr, v: &str) -> SysResult<()> {
    k.damon.reclaim.ulongs[ulong_index(a.name)] = kstrtoull(v, 0)?;
    Ok(())
}

fn show_stat(k: &Kernel, a: &Attr) -> String {
    let i = STATS.iter().position(|n| *n == a.name).expect("a stat");
    format!("{}\n", k.damon.reclaim.stats[i])
}

/// enabled_store(): set the flag; a Y queues the work at once (unless queued already).
fn enabled_store(k: &mut Kernel, _: &Attr, v: &str) -> SysResult<()> {
    k.damon.reclaim.enabled = kstrtobool(v)?;
    if k.damon.reclaim.enabled {
        let now = k.now_ns();
        let r = &mut k.damon.reclaim;
        r.timer_due = Some(r.timer_due.map_or(now, |d| d.min(now)));
        k.kthreads.kthread_run(Kthread::Kworker);
    }
    Ok(())
}

impl Kernel {
    /// damon_reclaim_init()'s context: paddr, one target, the two callbacks; its baselines
    /// are boot's.
    fn damon_reclaim_ctx(&mut self) -> CtxId {
        if let Some(c) = self.damon.reclaim.ctx {
            return c;
        }
        let c = self.damon_new_ctx();
        let ctx = &mut self.damon.ctxs[c];
        ctx.ops = OpsId::Paddr;
        ctx.last_aggregation = 0;
        ctx.last_ops_update = 0;
        ctx.targets.push(Target::default());
        ctx.callback.after_aggregation = Some(damon_reclaim_after_aggregation);
        ctx.callback.after_wmarks_check = Some(damon_reclaim_after_wmarks_check);
        self.damon.reclaim.ctx = Some(c);
        c
    }

    /// damon_reclaim_apply_parameters(), in 5.19's order: attributes (ops update 0), the
    /// scheme replaced (its stats start again), then the region, whose start > end is EINVAL
    /// after the rest changed; both 0 means the largest System RAM range, written back.
    /// The kernel divides by aggr_interval building the scheme; 0 is EINVAL here.
    fn damon_reclaim_apply_parameters(&mut self, c: CtxId) -> SysResult<()> {
        let params = self.damon.reclaim.ulongs;
        let p = |n| params[ulong_index(n)];
        let attrs = Attrs {
            sample_interval: p("sample_interval"),
            aggr_interval: p("aggr_interval"),
            ops_update_interval: 0,
            min_nr_regions: p("min_nr_regions"),
            max_nr_regions: p("max_nr_regions"),
        };
        self.damon_set_attrs(c, attrs)?;
        let aggr = p("aggr_interval");
        if aggr == 0 {
            return Err(Errno::EINVAL);
        }
        let mut s = Damos::new(DamosAction::Pageout);
        s.min_sz_region = PAGE_SIZE;
        s.max_nr_accesses = 0;
        s.min_age_region = (p("min_age") / aggr) as u32;
        s.quota.ms = p("quota_ms");
        s.quota.sz = p("quota_sz");
        s.quota.reset_interval = p("quota_reset_interval_ms");
        s.quota.weight_age = 1;
        s.wmarks.metric = WmarkMetric::FreeMemRate;
        s.wmarks.interval = p("wmarks_interval");
        s.wmarks.high = p("wmarks_high");
        s.wmarks.mid = p("wmarks_mid");
        s.wmarks.low = p("wmarks_low");
        self.damon.ctxs[c].schemes = vec![s];
        let (mut start, mut end) = (p("monitor_region_start"), p("monitor_region_end"));
        if start > end {
            return Err(Errno::EINVAL);
        }
        if start == 0 && end == 0 {
            // walk_system_ram(): the model's one System RAM resource, its end inclusive.
            start = 0;
            end = self.cfg.memory_bytes - 1;
            let u = &mut self.damon.reclaim.ulongs;
            u[ulong_index("monitor_region_start")] = start;
            u[ulong_index("monitor_region_end")] = end;
        }
        let t = &mut self.damon.ctxs[c].targets[0];
        set_regions(&mut t.regions, &[(start, end)], DAMON_MIN_REGION);
        Ok(())
    }

    /// damon_reclaim_turn().
    fn damon_reclaim_turn(&mut self, on: bool) -> SysResult<()> {
        let c = self.damon_reclaim_ctx();
        if !on {
            self.damon_stop(c)?;
            self.damon.reclaim.kdamond_pid = -1;
            return Ok(());
        }
        self.damon_reclaim_apply_parameters(c)?;
        self.damon_start(&[c], true)?;
        self.damon.reclaim.kdamond_pid = self.damon_kdamond_pid(c).map_or(-1, |p| p as i64);
        Ok(())
    }

    /// When the delayed work runs next.
    pub(crate) fn damon_reclaim_timer_due(&self) -> Option<u64> {
        self.damon.reclaim.timer_due.map(|d| d.max(self.now_ns()))
    }

    /// damon_reclaim_timer_fn(): act on a change of `enabled` (rolled back if turning on or
    /// off fails), and look again in a second while enabled. Nothing resets `enabled` or
    /// `kdamond_pid` when the kdamond ends by itself (5.19).
    pub(crate) fn damon_reclaim_timer_fn(&mut self) {
        let r = &self.damon.reclaim;
        let (now_enabled, last) = (r.enabled, r.last_enabled);
        if last != now_enabled {
            if self.damon_reclaim_turn(now_enabled).is_ok() {
                self.damon.reclaim.last_enabled = now_enabled;
            } else {
                self.damon.reclaim.enabled = last;
            }
        }
        let next = crate::time::jiffies_to_ns(
            self.clock.jiffies() + crate::time::msecs_to_jiffies(ENABLE_CHECK_INTERVAL_MS),
        );
        self.damon.reclaim.timer_due = self.damon.reclaim.enabled.then_some(next);
    }

    /// commit_inputs: re-read the parameters, then clear the flag even if that failed.
    fn damon_reclaim_commit(&mut self, c: CtxId) -> Result<(), Errno> {
        if !self.damon.reclaim.commit_inputs {
            return Ok(());
        }
        let r = self.damon_reclaim_apply_parameters(c);
        self.damon.reclaim.commit_inputs = false;
        r
    }
}

/// damon_reclaim_after_aggregation(): the stats parameters from the scheme, then
/// commit_inputs.
fn damon_reclaim_after_aggregation(k: &mut Kernel, c: CtxId) -> Result<(), Errno> {
    if let Some(s) = k.damon.ctxs[c].schemes.last() {
        let st = s.stat;
        k.damon.reclaim.stats = [
            st.nr_tried,
            st.sz_tried,
            st.nr_applied,
            st.sz_applied,
            st.qt_exceeds,
        ];
    }
    k.damon_reclaim_commit(c)
}

/// damon_reclaim_after_wmarks_check(): commit_inputs while the scheme is off.
fn damon_reclaim_after_wmarks_check(k: &mut Kernel, c: CtxId) -> Result<(), Errno> {
    k.damon_reclaim_commit(c)
}
