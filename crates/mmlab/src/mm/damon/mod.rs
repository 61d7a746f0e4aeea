//! DAMON (mm/damon/, include/linux/damon.h of 5.19): data access monitoring driven by the
//! model's clock and the accessed bits its MMU sets. A context (`Ctx`) watches targets (a
//! process's address space for `vaddr`/`fvaddr`, physical memory for `paddr`) as regions whose
//! access counts a kdamond kernel thread samples, merges and splits; DAMOS schemes act on the
//! regions that match a pattern. The sysfs tree (sysfs.rs) and DAMON_RECLAIM (reclaim.rs)
//! drive it as Linux's users do; tests use the API below directly.

pub mod core;
pub mod ops_common;
pub mod paddr;
pub mod reclaim;
pub mod schemes;
pub mod sysfs;
pub mod vaddr;

use slab::Slab;

use crate::errno::{Errno, SysResult};
use crate::kernel::Kernel;
use crate::kthread::Kthread;
use crate::mm::MmId;
use crate::sched::Pid;

pub use self::core::Region;
pub use self::schemes::{Damos, DamosAction, DamosQuota, DamosStat, DamosWmarks, WmarkMetric};

/// DAMON_MIN_REGION: the smallest region, one page (the KUnit tests make it 1; the region
/// functions take it as an argument for them).
pub const DAMON_MIN_REGION: u64 = crate::hw::PAGE_SIZE;

/// Identifies a context (the kernel's `struct damon_ctx *`).
pub type CtxId = usize;

/// enum damon_ops_id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpsId {
    Vaddr = 0,
    Fvaddr = 1,
    Paddr = 2,
}

impl OpsId {
    /// Every id, in the registry's order (avail_operations lists them so).
    pub const ALL: [OpsId; 3] = [OpsId::Vaddr, OpsId::Fvaddr, OpsId::Paddr];

    /// damon_sysfs_ops_strs[].
    pub fn name(self) -> &'static str {
        match self {
            OpsId::Vaddr => "vaddr",
            OpsId::Fvaddr => "fvaddr",
            OpsId::Paddr => "paddr",
        }
    }

    /// The id named `s` (the sysfs keyword).
    pub fn from_name(s: &str) -> Option<OpsId> {
        OpsId::ALL.into_iter().find(|o| o.name() == s)
    }
}

/// The monitoring attributes of damon_set_attrs() (all intervals in µs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attrs {
    pub sample_interval: u64,
    pub aggr_interval: u64,
    pub ops_update_interval: u64,
    pub min_nr_regions: u64,
    pub max_nr_regions: u64,
}

impl Default for Attrs {
    /// damon_new_ctx()'s defaults.
    fn default() -> Attrs {
        Attrs {
            sample_interval: 5_000,
            aggr_interval: 100_000,
            ops_update_interval: 60_000_000,
            min_nr_regions: 10,
            max_nr_regions: 1000,
        }
    }
}

/// A callback that may fail (non-zero return in Linux): Err ends the kdamond.
pub type Callback = fn(&mut Kernel, CtxId) -> Result<(), Errno>;

/// struct damon_callback.
#[derive(Clone, Copy, Debug, Default)]
pub struct Callbacks {
    pub before_start: Option<Callback>,
    /// New in 5.19: after each sleep of the watermark wait (only while every scheme is off).
    pub after_wmarks_check: Option<Callback>,
    pub after_sampling: Option<Callback>,
    pub after_aggregation: Option<Callback>,
    /// Returns nothing (void in Linux).
    pub before_terminate: Option<fn(&mut Kernel, CtxId)>,
}

/// struct damon_target: a pid for vaddr/fvaddr (none for paddr) and its regions in address
/// order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Target {
    pub pid: Option<Pid>,
    pub regions: Vec<Region>,
}

/// Where the kdamond is in kdamond_fn().
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KdamondState {
    /// Created: runs ops.init and before_start at once.
    Start,
    /// Asleep for the sampling interval after prepare_access_checks (kdamond_usleep()).
    Sampling,
    /// Asleep in kdamond_wait_activation(), with the smallest wait seen in this call.
    WmarkWait { min_wait: u64 },
}

/// The kdamond of a running context.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Kdamond {
    /// The thread's pid (the sysfs `pid` file, DAMON_RECLAIM's kdamond_pid).
    pub pid: u64,
    pub state: KdamondState,
    /// When it wakes (ns since boot).
    pub due: u64,
    /// kthread_should_stop() / the `done` of kdamond_fn().
    pub stop: bool,
    pub sz_limit: u64,
    pub max_nr_accesses: u32,
}

/// struct damon_ctx.
#[derive(Clone, Debug)]
pub struct Ctx {
    pub attrs: Attrs,
    /// last_aggregation and last_ops_update, coarse ns; set when the context is created.
    pub(crate) last_aggregation: u64,
    pub(crate) last_ops_update: u64,
    pub ops: OpsId,
    pub targets: Vec<Target>,
    pub schemes: Vec<Damos>,
    pub callback: Callbacks,
    pub(crate) kdamond: Option<Kdamond>,
    /// damon_rand()'s source: a seeded xorshift so that a run is reproducible (Linux uses the
    /// global prandom state).
    pub(crate) rng: Prng,
    /// The `damon:damon_aggregated` records, kept while Some (`mmlab damon`, probes).
    pub records: Option<Vec<core::AggrRecord>>,
    /// Aggregation intervals completed.
    pub aggregations: u64,
}

/// A small seeded generator standing in for prandom_u32().
#[derive(Clone, Copy, Debug)]
pub struct Prng(u64);

impl Prng {
    pub fn new(seed: u64) -> Prng {
        Prng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    /// 64 random bits (xorshift64).
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// prandom_u32().
    pub fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    /// damon_rand(l, r): l + prandom_u32_max(r - l), the span taken as 32 bits as Linux
    /// passes it (a region of 4 GiB or more samples only its first `size mod 4 GiB` bytes).
    pub fn rand(&mut self, l: u64, r: u64) -> u64 {
        let span = r.wrapping_sub(l) as u32;
        l + ((self.next_u32() as u64 * span as u64) >> 32)
    }
}

/// The access-check result cache of __damon_va_check_access() or __damon_pa_check_access():
/// function-level statics in Linux, so shared by every context and kept across samples. vaddr
/// keys it on the mm too, paddr on the address alone.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AccessCache {
    pub mm: Option<MmId>,
    pub addr: u64,
    pub page_sz: u64,
    pub accessed: bool,
}

impl Default for AccessCache {
    fn default() -> Self {
        AccessCache {
            mm: None,
            addr: 0,
            page_sz: crate::hw::PAGE_SIZE,
            accessed: false,
        }
    }
}

impl AccessCache {
    /// The cached result if `addr` falls in the block of the last looked-up page of `mm`.
    pub(crate) fn hit(&self, mm: Option<MmId>, addr: u64) -> Option<bool> {
        (self.mm == mm && self.addr / self.page_sz == addr / self.page_sz).then_some(self.accessed)
    }

    /// Remember a lookup; the block size changes only when the lookup gave one.
    pub(crate) fn fill(
        &mut self,
        mm: Option<MmId>,
        addr: u64,
        accessed: bool,
        page_sz: Option<u64>,
    ) {
        if let Some(s) = page_sz {
            self.page_sz = s;
        }
        self.accessed = accessed;
        self.addr = addr;
        self.mm = mm;
    }
}

/// Both caches.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct CheckCache {
    pub va: AccessCache,
    pub pa: AccessCache,
}

/// DAMON's global state (mm/damon/core.c's statics and the contexts of its users).
#[derive(Debug, Default)]
pub struct Damon {
    pub(crate) ctxs: Slab<Ctx>,
    /// nr_running_ctxs and running_exclusive_ctxs (damon_lock).
    pub(crate) nr_running_ctxs: u32,
    pub(crate) running_exclusive_ctxs: bool,
    /// kdamond_split_regions()'s `last_nr_regions`, shared by every context.
    pub(crate) last_nr_regions: u64,
    pub(crate) cache: CheckCache,
    /// Kernel thread pids handed out to kdamonds.
    pub(crate) last_kthread_pid: u64,
    /// Contexts created so far (seeds their generators).
    pub(crate) created: u64,
    /// The sysfs tree under /sys/kernel/mm/damon/admin.
    pub(crate) sysfs: sysfs::DamonSysfs,
    /// DAMON_RECLAIM's parameters and context.
    pub(crate) reclaim: reclaim::DamonReclaim,
}

impl Kernel {
    /// task_tgid_nr(): the pid number of `tid`'s process, as getpid() and sysfs show it.
    pub fn task_tgid_nr(&self, tid: crate::sched::Tid) -> Option<u64> {
        self.tasks.get(tid).map(|t| self.procs[t.pid].nr)
    }

    /// find_get_pid(): the process with pid number `nr`, if it exists.
    pub fn find_vpid(&self, nr: u64) -> Option<Pid> {
        self.procs
            .iter()
            .find(|(_, p)| p.nr == nr)
            .map(|(pid, _)| pid)
    }

    /// The mm of a target's process (damon_get_mm()), None once the process is gone.
    pub(crate) fn damon_target_mm(&self, t: &Target) -> Option<MmId> {
        self.procs.get(t.pid?).map(|p| p.mm)
    }

    /// damon_new_ctx(): default attributes, vaddr, and the aggregation and ops-update
    /// baselines set to now (so a context created long before it starts aggregates at its
    /// first sample).
    pub fn damon_new_ctx(&mut self) -> CtxId {
        let now = self.coarse_now();
        self.damon.created += 1;
        let seed = self.damon.created;
        self.damon.ctxs.insert(Ctx {
            attrs: Attrs::default(),
            last_aggregation: now,
            last_ops_update: now,
            ops: OpsId::Vaddr,
            targets: Vec::new(),
            schemes: Vec::new(),
            callback: Callbacks::default(),
            kdamond: None,
            rng: Prng::new(seed),
            records: None,
            aggregations: 0,
        })
    }

    /// damon_destroy_ctx(): the context must not be running.
    pub fn damon_destroy_ctx(&mut self, c: CtxId) {
        if self.damon.ctxs.get(c).is_some_and(|x| x.kdamond.is_none()) {
            self.damon.ctxs.remove(c);
        }
    }

    /// The context `c` (None if destroyed).
    pub fn damon_ctx(&self, c: CtxId) -> Option<&Ctx> {
        self.damon.ctxs.get(c)
    }

    /// The context `c`, to change (as a user may before starting it or from a callback).
    pub fn damon_ctx_mut(&mut self, c: CtxId) -> Option<&mut Ctx> {
        self.damon.ctxs.get_mut(c)
    }

    /// damon_select_ops(): every 5.19 ops set is registered in the model (CONFIG_DAMON_VADDR
    /// and CONFIG_DAMON_PADDR), so any id is accepted.
    pub fn damon_select_ops(&mut self, c: CtxId, id: OpsId) -> SysResult<()> {
        if !damon_is_registered_ops(id) {
            return Err(Errno::EINVAL);
        }
        self.damon.ctxs[c].ops = id;
        Ok(())
    }

    /// damon_set_attrs(): min_nr_regions below 3 or above max_nr_regions is EINVAL; nothing
    /// else is checked (intervals may be 0, sample may exceed aggr).
    pub fn damon_set_attrs(&mut self, c: CtxId, a: Attrs) -> SysResult<()> {
        if a.min_nr_regions < 3 || a.min_nr_regions > a.max_nr_regions {
            return Err(Errno::EINVAL);
        }
        self.damon.ctxs[c].attrs = a;
        Ok(())
    }

    /// damon_start(): start the kdamonds of `ctxs`; EBUSY if (exclusive and any context runs)
    /// or (not exclusive and an exclusive group runs), or if one of them runs already.
    pub fn damon_start(&mut self, ctxs: &[CtxId], exclusive: bool) -> SysResult<()> {
        let d = &self.damon;
        if (exclusive && d.nr_running_ctxs > 0) || (!exclusive && d.running_exclusive_ctxs) {
            return Err(Errno::EBUSY);
        }
        for &c in ctxs {
            if self.damon.ctxs[c].kdamond.is_some() {
                return Err(Errno::EBUSY);
            }
            self.damon.last_kthread_pid += 1;
            let now = self.now_ns();
            self.damon.ctxs[c].kdamond = Some(Kdamond {
                pid: KDAMOND_PID_BASE + self.damon.last_kthread_pid,
                state: KdamondState::Start,
                due: now,
                stop: false,
                sz_limit: 0,
                max_nr_accesses: 0,
            });
            self.kthreads.kthread_run(Kthread::Kdamond(c));
            self.damon.nr_running_ctxs += 1;
        }
        if exclusive && !ctxs.is_empty() {
            self.damon.running_exclusive_ctxs = true;
        }
        Ok(())
    }

    /// damon_stop() of one context: EPERM if it does not run; else kthread_stop(): the
    /// thread ends at once (the model does not finish the sample it sleeps in).
    pub fn damon_stop(&mut self, c: CtxId) -> SysResult<()> {
        match self.damon.ctxs.get_mut(c).and_then(|x| x.kdamond.as_mut()) {
            Some(kd) => kd.stop = true,
            None => return Err(Errno::EPERM),
        }
        self.kdamond_terminate(c);
        Ok(())
    }

    /// Is `c`'s kdamond running?
    pub fn damon_is_running(&self, c: CtxId) -> bool {
        self.damon.ctxs.get(c).is_some_and(|x| x.kdamond.is_some())
    }

    /// The contexts whose kdamond runs.
    pub fn damon_ctxs_running(&self) -> impl Iterator<Item = CtxId> + '_ {
        self.damon
            .ctxs
            .iter()
            .filter(|(_, c)| c.kdamond.is_some())
            .map(|(i, _)| i)
    }

    /// The pid of `c`'s kdamond while it runs.
    pub fn damon_kdamond_pid(&self, c: CtxId) -> Option<u64> {
        self.damon.ctxs.get(c)?.kdamond.map(|k| k.pid)
    }

    /// The coarse monotonic clock (ktime_get_coarse_ts64()): the time of the last tick.
    pub(crate) fn coarse_now(&self) -> u64 {
        crate::time::jiffies_to_ns(self.clock.jiffies())
    }
}

/// Where kdamond pids start (kernel threads' pids are beyond the model's processes).
const KDAMOND_PID_BASE: u64 = 1000;

/// damon_is_registered_ops(): the model registers vaddr, fvaddr and paddr at boot.
pub fn damon_is_registered_ops(_id: OpsId) -> bool {
    true
}
