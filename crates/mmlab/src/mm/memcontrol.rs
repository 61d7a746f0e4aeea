//! mm/memcontrol.c: the memory controller. Every folio the folio layer hands out for user
//! memory or a page table is charged to the memcg of the allocating task's cgroup
//! (`mem_cgroup_charge_folio`, called by `alloc_folio`) and uncharged when its frames are
//! freed (`mem_cgroup_uncharge`, called by `free_frames`). A charge over memory.max reclaims
//! the memcg's own lruvecs (each memcg has one, `MemcgLruvecs`), then OOM-kills inside the
//! memcg; one over memory.high reclaims and counts throttling; memory.min/low protect a memcg
//! from reclaim aimed above it; the events are counted locally and up the tree.
//!
//! Model choices: one charge stock per CPU (consume_stock/refill_stock with
//! MEMCG_CHARGE_BATCH 32, as 5.19); the over-high work runs on the return to user space
//! (`resume_user_mode_work`, from a user fault and at the end of each step), or inside the
//! charge once a kernel entry has gathered more than a batch over high; its penalty is a sleep
//! in virtual time (`memcg_high_sleep`), counted in `high_throttle_jiffies` too (psi's
//! memstall accounting is not modelled); kernel memory other than page tables is not charged;
//! a swapped-in folio is charged to the faulting task's memcg.

use crate::cgroup::CgroupMode;
use crate::hw::PAGE_SIZE;
use crate::kernel::Kernel;
use crate::mm::page_alloc::{MAX_RECLAIM_RETRIES, PAGE_ALLOC_COSTLY_ORDER};
use crate::mm::page_counter::{self, PageCounter, PAGE_COUNTER_MAX};
use crate::mm::vmscan_lru::{Reclaim, DEF_PRIORITY, SWAP_CLUSTER_MAX};
use crate::page::lru::LruList;
use crate::page::{Folio, Gfp};
use crate::pgtable::swp::SwpEntry;
use crate::sched::{Pid, Tid, WaitReason};
use crate::time::{jiffies_to_ns, HZ};

/// root_mem_cgroup's number.
pub const ROOT_MEMCG: usize = 0;
/// MEMCG_CHARGE_BATCH: pages charged at once and kept in the per-CPU stock.
pub const MEMCG_CHARGE_BATCH: u64 = 32;
/// MEMCG_MAX_HIGH_DELAY_JIFFIES: the most one return to user space is throttled.
const MEMCG_MAX_HIGH_DELAY_JIFFIES: u64 = 2 * HZ;
/// MEMCG_DELAY_PRECISION_SHIFT and MEMCG_DELAY_SCALING_SHIFT.
const DELAY_PRECISION_SHIFT: u32 = 20;
const DELAY_SCALING_SHIFT: u32 = 14;

/// enum memcg_memory_event, in memory.events order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemcgEvent {
    Low = 0,
    High = 1,
    Max = 2,
    Oom = 3,
    OomKill = 4,
    OomGroupKill = 5,
}

/// The keys of memory.events, in enum order.
pub const EVENT_NAMES: [&str; 6] = ["low", "high", "max", "oom", "oom_kill", "oom_group_kill"];

/// The reclaim counters a memcg keeps of itself (memcg_vm_event_stat's pgscan, pgsteal,
/// pgrefill).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemcgStat {
    Pgscan = 0,
    Pgsteal = 1,
    Pgrefill = 2,
}

/// struct mem_cgroup, trimmed; its counters live in `MemcgState::counters`.
#[derive(Clone, Debug)]
pub struct MemCgroup {
    pub parent: Option<usize>,
    /// css online (false once its cgroup is removed: a dying memcg).
    pub online: bool,
    /// memory.oom.group.
    pub oom_group: bool,
    /// v1 memory.swappiness (v2 uses vm.swappiness).
    pub swappiness: u64,
    /// v1 memory.oom_control's oom_kill_disable.
    pub oom_kill_disable: bool,
    /// memory_events[] (hierarchical unless memory_localevents) and memory_events_local[].
    pub events: [u64; 6],
    pub events_local: [u64; 6],
    /// swap.events: high, max, fail.
    pub swap_events: [u64; 3],
    /// pgscan, pgsteal, pgrefill of this memcg's own lruvec.
    pub stat: [u64; 3],
    /// The over-high penalties its tasks were given, in jiffies (slept, or only counted
    /// where the model cannot suspend the caller).
    pub high_throttle_jiffies: u64,
}

/// Every memcg, their page counters and the per-CPU stocks.
#[derive(Clone, Debug)]
pub struct MemcgState {
    pub memcgs: Vec<MemCgroup>,
    /// memcg i's `memory` counter is 2i, its `swap` (v1: memsw) counter 2i + 1.
    pub counters: Vec<PageCounter>,
    /// memcg_stock_pcp per CPU: (memcg, pages) charged ahead.
    pub stock: Vec<(usize, u64)>,
    /// swap_cgroup: the memcg each swap slot (type, offset) is charged to.
    pub swap_cgroup: std::collections::HashMap<(u32, u64), usize>,
    /// The task in a syscall that restarts after a sleep (mlock()'s populate), whose
    /// over-high penalty inside a charge may sleep.
    pub(crate) may_sleep: Option<Tid>,
    /// Tasks asleep in the over-high penalty (WaitReason::MemcgHigh), in the order they slept.
    sleepers: Vec<Tid>,
}

impl Default for MemcgState {
    fn default() -> Self {
        MemcgState {
            memcgs: vec![MemCgroup::new(None, 60)],
            counters: vec![PageCounter::new(None), PageCounter::new(None)],
            stock: Vec::new(),
            swap_cgroup: Default::default(),
            may_sleep: None,
            sleepers: Vec::new(),
        }
    }
}

impl MemCgroup {
    fn new(parent: Option<usize>, swappiness: u64) -> MemCgroup {
        MemCgroup {
            parent,
            online: true,
            oom_group: false,
            swappiness,
            oom_kill_disable: false,
            events: [0; 6],
            events_local: [0; 6],
            swap_events: [0; 3],
            stat: [0; 3],
            high_throttle_jiffies: 0,
        }
    }
}

/// The counter index of memcg `m`'s memory counter.
#[inline]
pub fn mem(m: usize) -> usize {
    2 * m
}

/// The counter index of memcg `m`'s swap (v1: memsw) counter.
#[inline]
pub fn swap(m: usize) -> usize {
    2 * m + 1
}

impl MemcgState {
    /// parent_mem_cgroup().
    pub fn parent(&self, m: usize) -> Option<usize> {
        self.memcgs[m].parent
    }
    /// mem_cgroup_is_descendant().
    pub fn is_descendant(&self, mut m: usize, ancestor: usize) -> bool {
        loop {
            if m == ancestor {
                return true;
            }
            match self.memcgs[m].parent {
                Some(p) => m = p,
                None => return false,
            }
        }
    }
    /// page_counter_read(&memcg->memory).
    pub fn usage(&self, m: usize) -> u64 {
        self.counters[mem(m)].usage
    }
    /// mem_cgroup_margin(): pages left below memory.max (and v1's memsw limit).
    fn margin(&self, m: usize, v1: bool) -> u64 {
        let c = &self.counters[mem(m)];
        let mut margin = c.max.saturating_sub(c.usage);
        if v1 {
            let s = &self.counters[swap(m)];
            margin = margin.min(s.max.saturating_sub(s.usage));
        }
        margin
    }
}

impl Kernel {
    fn memcg_v1(&self) -> bool {
        self.cgroup.mount.mode == CgroupMode::V1
    }

    /// mem_cgroup_css_alloc() + online: cgroup `cg` gets its own memcg, a child of its
    /// parent's; v1 inherits swappiness and oom_kill_disable.
    pub(crate) fn mem_cgroup_css_online(&mut self, cg: usize) {
        let parent = self
            .cgroup
            .memcg_of(self.cgroup.cgroups[cg].parent.expect("not root"));
        let p = &self.memcg.memcgs[parent];
        let mut m = MemCgroup::new(Some(parent), p.swappiness);
        m.oom_kill_disable = p.oom_kill_disable;
        let id = self.memcg.memcgs.len();
        self.memcg.memcgs.push(m);
        self.memcg
            .counters
            .push(PageCounter::new(Some(mem(parent))));
        self.memcg
            .counters
            .push(PageCounter::new(Some(swap(parent))));
        self.cgroup.cgroups[cg].memcg = Some(id);
    }

    /// mem_cgroup_css_offline(): the memcg dies; its protection goes, its stock is drained,
    /// and its charged pages stay charged (and reclaimable) until freed.
    pub(crate) fn mem_cgroup_css_offline(&mut self, m: usize) {
        self.memcg.memcgs[m].online = false;
        page_counter::set_protection(&mut self.memcg.counters, mem(m), Some(0), Some(0));
        self.drain_all_stock(m);
    }

    /// The memcg the current task charges to (get_mem_cgroup_from_mm(current->mm)).
    pub(crate) fn current_memcg(&self) -> usize {
        match self.tasks.get(self.current) {
            Some(t) => self.task_memcg(t.pid),
            None => ROOT_MEMCG,
        }
    }

    /// mem_cgroup_from_task().
    pub(crate) fn task_memcg(&self, pid: Pid) -> usize {
        self.cgroup.memcg_of(self.cgroup.of_task(pid))
    }

    /// memcg_memory_event(): count locally, then in each ancestor below the root unless on
    /// v1 or mounted with memory_localevents.
    pub(crate) fn memcg_memory_event(&mut self, m: usize, ev: MemcgEvent) {
        let local_only = self.memcg_v1() || self.cgroup.mount.localevents;
        self.memcg.memcgs[m].events_local[ev as usize] += 1;
        let mut at = Some(m);
        while let Some(c) = at.filter(|&c| c != ROOT_MEMCG) {
            self.memcg.memcgs[c].events[ev as usize] += 1;
            if local_only {
                break;
            }
            at = self.memcg.parent(c);
        }
    }

    /// Count one of the reclaim statistics of memcg `m`'s lruvec.
    pub(crate) fn memcg_stat_add(&mut self, m: usize, s: MemcgStat, n: u64) {
        self.memcg.memcgs[m].stat[s as usize] += n;
    }

    /// consume_stock(): take `nr` pages from this CPU's stock if it holds them for `m`.
    fn consume_stock(&mut self, m: usize, nr: u64) -> bool {
        if nr > MEMCG_CHARGE_BATCH {
            return false;
        }
        let cpu = self.current_cpu;
        if self.memcg.stock.len() <= cpu {
            self.memcg.stock.resize(cpu + 1, (ROOT_MEMCG, 0));
        }
        let s = &mut self.memcg.stock[cpu];
        if s.0 == m && s.1 >= nr {
            s.1 -= nr;
            return true;
        }
        false
    }

    /// drain_stock(): give a CPU's stock back to its memcg's counters.
    fn drain_stock(&mut self, cpu: usize) {
        let (m, nr) = std::mem::replace(&mut self.memcg.stock[cpu], (ROOT_MEMCG, 0));
        if nr > 0 {
            page_counter::uncharge(&mut self.memcg.counters, mem(m), nr);
            if self.memcg_v1() {
                page_counter::uncharge(&mut self.memcg.counters, swap(m), nr);
            }
        }
    }

    /// refill_stock(): keep `nr` pages charged ahead for `m` on this CPU (another memcg's
    /// stock is drained first; a stock above the batch is flushed).
    fn refill_stock(&mut self, m: usize, nr: u64) {
        let cpu = self.current_cpu;
        if self.memcg.stock[cpu].0 != m {
            self.drain_stock(cpu);
            self.memcg.stock[cpu].0 = m;
        }
        self.memcg.stock[cpu].1 += nr;
        if self.memcg.stock[cpu].1 > MEMCG_CHARGE_BATCH {
            self.drain_stock(cpu);
        }
    }

    /// drain_all_stock(): every CPU's stock held for a memcg under `root`.
    pub(crate) fn drain_all_stock(&mut self, root: usize) {
        for cpu in 0..self.memcg.stock.len() {
            let m = self.memcg.stock[cpu].0;
            if self.memcg.stock[cpu].1 > 0 && self.memcg.is_descendant(m, root) {
                self.drain_stock(cpu);
            }
        }
    }

    /// mem_cgroup_charge() / __mem_cgroup_charge() for a folio the folio layer just
    /// allocated: charge it to the current task's memcg and record the memcg in the folio.
    /// Err: the charge failed (the caller frees the folio; the allocation fails).
    pub(crate) fn mem_cgroup_charge_folio(&mut self, f: Folio, gfp: Gfp) -> Result<(), ()> {
        let m = self.current_memcg();
        let nr = self.pages.folio_nr_pages(f);
        self.try_charge_memcg(m, gfp, nr)?;
        self.pages.page_mut(f.pfn()).memcg = m as u32 + 1;
        Ok(())
    }

    /// mem_cgroup_uncharge(): the folio's frames are being freed.
    pub(crate) fn mem_cgroup_uncharge(&mut self, f: Folio) {
        let slot = std::mem::take(&mut self.pages.page_mut(f.pfn()).memcg);
        let Some(m) = (slot as usize).checked_sub(1) else {
            return;
        };
        if m == ROOT_MEMCG {
            return;
        }
        let nr = self.pages.folio_nr_pages(f);
        page_counter::uncharge(&mut self.memcg.counters, mem(m), nr);
        if self.memcg_v1() {
            page_counter::uncharge(&mut self.memcg.counters, swap(m), nr);
        }
    }

    /// mem_cgroup_migrate(): the new folio of a migration is charged, past any limit, to the
    /// old one's memcg; the old one keeps its charge until it is freed. A folio charged to
    /// nothing (hugetlb) passes nothing on.
    pub(crate) fn mem_cgroup_migrate(&mut self, old: Folio, new: Folio) {
        let Some(m) = self.folio_memcg(old) else {
            return;
        };
        if self.folio_memcg(new).is_some() {
            return;
        }
        if m != ROOT_MEMCG {
            let nr = self.pages.folio_nr_pages(new);
            self.force_charge(m, nr);
        }
        self.pages.page_mut(new.pfn()).memcg = m as u32 + 1;
    }

    /// page_counter_charge() of memory (and of v1's memsw): `nr` pages past any limit.
    fn force_charge(&mut self, m: usize, nr: u64) {
        page_counter::charge(&mut self.memcg.counters, mem(m), nr);
        if self.memcg_v1() {
            page_counter::charge(&mut self.memcg.counters, swap(m), nr);
        }
    }

    /// The memcg a folio is charged to (folio_memcg()), if any.
    pub fn folio_memcg(&self, f: Folio) -> Option<usize> {
        (self.pages.page(f.pfn()).memcg as usize).checked_sub(1)
    }

    /// try_charge_memcg(): charge `nr` pages to `m` (a batch of 32 when possible, the rest
    /// stocked); over a limit, reclaim the memcg that hit it, drain the stocks, retry up to
    /// MAX_RECLAIM_RETRIES times without progress, then invoke the memcg OOM killer; a
    /// __GFP_NOFAIL or __GFP_HIGH charge is forced past the limit in the end.
    fn try_charge_memcg(&mut self, m: usize, gfp: Gfp, nr: u64) -> Result<(), ()> {
        if m == ROOT_MEMCG {
            return Ok(());
        }
        let v1 = self.memcg_v1();
        let mut batch = MEMCG_CHARGE_BATCH.max(nr);
        let mut retries = MAX_RECLAIM_RETRIES;
        let mut passed_oom = false;
        let mut may_swap = true;
        let mut drained = false;
        loop {
            if self.consume_stock(m, nr) {
                return Ok(());
            }
            let cs = &mut self.memcg.counters;
            let over = if v1 {
                match page_counter::try_charge(cs, swap(m), batch) {
                    Ok(()) => match page_counter::try_charge(cs, mem(m), batch) {
                        Ok(()) => None,
                        Err(c) => {
                            page_counter::uncharge(cs, swap(m), batch);
                            Some(c / 2)
                        }
                    },
                    Err(c) => {
                        may_swap = false;
                        Some(c / 2)
                    }
                }
            } else {
                page_counter::try_charge(cs, mem(m), batch)
                    .err()
                    .map(|c| c / 2)
            };
            let Some(over) = over else {
                if batch > nr {
                    self.refill_stock(m, batch - nr);
                }
                self.mem_cgroup_note_over_high(m, batch, gfp);
                return Ok(());
            };
            if batch > nr {
                batch = nr;
                continue;
            }
            if self.current_is_oom_victim() && passed_oom || !gfp.contains(Gfp::DIRECT_RECLAIM) {
                return self.try_charge_nomem(m, gfp, nr);
            }
            self.memcg_memory_event(over, MemcgEvent::Max);
            let reclaimed = self.try_to_free_mem_cgroup_pages(over, nr, gfp, may_swap);
            if self.memcg.margin(over, v1) >= nr {
                continue;
            }
            if !drained {
                self.drain_all_stock(over);
                drained = true;
                continue;
            }
            if gfp.contains(Gfp::NORETRY) {
                return self.try_charge_nomem(m, gfp, nr);
            }
            if reclaimed > 0 && nr <= 1 << PAGE_ALLOC_COSTLY_ORDER {
                continue;
            }
            if retries > 0 {
                retries -= 1;
                continue;
            }
            if gfp.contains(Gfp::RETRY_MAYFAIL) || passed_oom && self.current_is_oom_victim() {
                return self.try_charge_nomem(m, gfp, nr);
            }
            let order = (nr * PAGE_SIZE).next_power_of_two().trailing_zeros() - 12;
            if self.mem_cgroup_oom(over, gfp, order) {
                passed_oom = true;
                retries = MAX_RECLAIM_RETRIES;
                continue;
            }
            return self.try_charge_nomem(m, gfp, nr);
        }
    }

    /// try_charge_memcg()'s nomem/force labels: fail, unless __GFP_NOFAIL or __GFP_HIGH
    /// forces the charge past the limit.
    fn try_charge_nomem(&mut self, m: usize, gfp: Gfp, nr: u64) -> Result<(), ()> {
        if !gfp.intersects(Gfp::NOFAIL | Gfp::HIGH) {
            return Err(());
        }
        self.force_charge(m, nr);
        Ok(())
    }

    /// The end of try_charge_memcg(): a level over its memory.high (or swap.high) adds the
    /// batch to the task's over-high pages (and sets TIF_NOTIFY_RESUME); the reclaim and
    /// throttling wait for the return to user space unless the task has gathered more than
    /// MEMCG_CHARGE_BATCH of them in this kernel entry and may block.
    fn mem_cgroup_note_over_high(&mut self, m: usize, batch: u64, gfp: Gfp) {
        let mut at = Some(m);
        while let Some(c) = at {
            let (mc, sc) = (&self.memcg.counters[mem(c)], &self.memcg.counters[swap(c)]);
            if mc.usage > mc.high || (!self.memcg_v1() && sc.usage > sc.high) {
                if let Some(t) = self.tasks.get_mut(self.current) {
                    t.memcg_nr_pages_over_high += batch;
                }
                break;
            }
            at = self.memcg.parent(c);
        }
        let pending = self
            .tasks
            .get(self.current)
            .map_or(0, |t| t.memcg_nr_pages_over_high);
        if pending > MEMCG_CHARGE_BATCH && gfp.contains(Gfp::DIRECT_RECLAIM) {
            self.mem_cgroup_handle_over_high(true);
        }
    }

    /// resume_user_mode_work() (TIF_NOTIFY_RESUME on the way back to user space from a
    /// syscall or a fault): the model's only such work is memcg's over-high reclaim.
    pub(crate) fn resume_user_mode_work(&mut self) {
        self.mem_cgroup_handle_over_high(false);
    }

    /// reclaim_high(): reclaim from `m` and each ancestor over its memory.high, counting a
    /// `high` event on each. Returns the pages reclaimed.
    fn reclaim_high(&mut self, m: usize, nr: u64, gfp: Gfp) -> u64 {
        let mut reclaimed = 0;
        let mut at = Some(m);
        while let Some(c) = at.filter(|&c| c != ROOT_MEMCG) {
            let mc = &self.memcg.counters[mem(c)];
            if mc.usage > mc.high {
                self.memcg_memory_event(c, MemcgEvent::High);
                reclaimed += self.try_to_free_mem_cgroup_pages(c, nr, gfp, true);
            }
            at = self.memcg.parent(c);
        }
        reclaimed
    }

    /// calculate_overage(): how far usage is above high, in 1/2^20.
    fn calculate_overage(usage: u64, high: u64) -> u64 {
        if usage <= high {
            return 0;
        }
        let high = high.max(1);
        ((usage - high) << DELAY_PRECISION_SHIFT) / high
    }

    /// mem_find_max_overage() / swap_find_max_overage(): the worst level from `m` up.
    fn max_overage(&mut self, m: usize, swap_counter: bool) -> u64 {
        let mut worst = 0;
        let mut at = Some(m);
        while let Some(c) = at.filter(|&c| c != ROOT_MEMCG) {
            let pc = &self.memcg.counters[if swap_counter { swap(c) } else { mem(c) }];
            let o = Self::calculate_overage(pc.usage, pc.high);
            if swap_counter && o > 0 {
                // memcg_memory_event(MEMCG_SWAP_HIGH): up the tree, as every event.
                self.memcg_swap_event(c, 0);
            }
            worst = worst.max(o);
            at = self.memcg.parent(c);
        }
        worst
    }

    /// calculate_high_delay(): the penalty for an overage, scaled by the pages charged.
    fn calculate_high_delay(overage: u64, nr: u64) -> u64 {
        if overage == 0 {
            return 0;
        }
        let penalty = (overage * overage * HZ) >> DELAY_PRECISION_SHIFT >> DELAY_SCALING_SHIFT;
        penalty * nr / MEMCG_CHARGE_BATCH
    }

    /// mem_cgroup_handle_over_high(): reclaim the levels over memory.high, then sleep in
    /// proportion to the overage left (`in_charge`: called from try_charge_memcg()).
    pub(crate) fn mem_cgroup_handle_over_high(&mut self, in_charge: bool) {
        let Some(t) = self.tasks.get_mut(self.current) else {
            return;
        };
        let nr = std::mem::take(&mut t.memcg_nr_pages_over_high);
        if nr == 0 {
            return;
        }
        let m = self.current_memcg();
        let mut retries = MAX_RECLAIM_RETRIES;
        let mut in_retry = false;
        loop {
            let reclaimed =
                self.reclaim_high(m, if in_retry { SWAP_CLUSTER_MAX } else { nr }, Gfp::KERNEL);
            let mem_delay = Self::calculate_high_delay(self.max_overage(m, false), nr);
            let swap_delay = if self.memcg_v1() {
                0
            } else {
                Self::calculate_high_delay(self.max_overage(m, true), nr)
            };
            let penalty = (mem_delay + swap_delay).min(MEMCG_MAX_HIGH_DELAY_JIFFIES);
            if penalty <= HZ / 100 {
                return;
            }
            if reclaimed > 0 {
                in_retry = true;
                continue;
            }
            if retries > 0 {
                retries -= 1;
                in_retry = true;
                continue;
            }
            self.memcg.memcgs[m].high_throttle_jiffies += penalty;
            self.memcg_high_sleep(penalty, in_charge);
            return;
        }
    }

    /// schedule_timeout_killable(penalty) of mem_cgroup_handle_over_high(), in virtual time.
    /// On the way back to user space the task has nothing in flight: the clock moves on to
    /// the jiffy the sleep ends at (kernel threads run meanwhile), as the runner does for a
    /// step that sleeps. Inside a charge the task sleeps (WaitReason::MemcgHigh) where the
    /// model can suspend it, a user fault that retries or mlock()'s populate, which restarts
    /// once the clock wakes it; a charge elsewhere (a kernel thread, another syscall) is not
    /// suspended and only counts the penalty.
    fn memcg_high_sleep(&mut self, penalty: u64, in_charge: bool) {
        let now = self.now_ns();
        let until = jiffies_to_ns(self.clock.jiffies() + penalty);
        if !in_charge {
            self.advance_time(until - now);
            return;
        }
        let t = self.current;
        // A task already asleep (an allocation's reclaim_throttle() before this charge)
        // keeps that sleep; this penalty is only counted.
        if self.tasks[t].wait.is_some()
            || (self.memcg.may_sleep != Some(t) && !self.current_may_sleep_in_fault())
        {
            return;
        }
        self.tasks[t].wait = Some(WaitReason::MemcgHigh { since: now, until });
        self.memcg.sleepers.push(t);
    }

    /// When the first over-high sleep ends, if a task sleeps there.
    pub(crate) fn memcg_high_sleep_due(&self) -> Option<u64> {
        self.first_timeout(&self.memcg.sleepers)
    }

    /// The over-high sleeps that ended by now: their tasks wake (a fault retries, mlock()
    /// restarts).
    pub(crate) fn memcg_high_sleep_timeouts(&mut self) {
        let now = self.now_ns();
        let mut keep = Vec::new();
        for t in std::mem::take(&mut self.memcg.sleepers) {
            match self.tasks.get(t).and_then(|t| t.wait) {
                Some(WaitReason::MemcgHigh { until, .. }) if until <= now => {
                    self.tasks[t].wait = None;
                }
                Some(WaitReason::MemcgHigh { .. }) => keep.push(t),
                // Gone (killed in its sleep: the sleep is killable).
                _ => {}
            }
        }
        self.memcg.sleepers = keep;
    }

    /// try_to_free_mem_cgroup_pages(): reclaim at least `nr` (and SWAP_CLUSTER_MAX) pages
    /// from the memcgs under `m`.
    pub(crate) fn try_to_free_mem_cgroup_pages(
        &mut self,
        m: usize,
        nr: u64,
        gfp: Gfp,
        may_swap: bool,
    ) -> u64 {
        let mut r = Reclaim::new(
            gfp | Gfp::HIGHUSER_MOVABLE,
            0,
            nr.max(SWAP_CLUSTER_MAX),
            false,
        );
        r.target = m;
        r.may_swap = may_swap;
        r.priority = DEF_PRIORITY;
        self.do_try_to_free_pages(&mut r)
    }

    /// mem_cgroup_iter() over the subtree of `root`, pre-order, root first; dying memcgs too.
    pub(crate) fn mem_cgroup_iter(&self, root: usize) -> Vec<usize> {
        let mut out = vec![root];
        let mut i = 0;
        while i < out.len() {
            let at = out[i];
            out.extend(
                (0..self.memcg.memcgs.len()).filter(|&c| self.memcg.memcgs[c].parent == Some(at)),
            );
            i += 1;
        }
        out
    }

    /// shrink_node_memcgs(): every memcg under the reclaim target in turn: skip one below its
    /// effective memory.min; skip one below its effective memory.low unless this pass breaches
    /// low (then count a `low` event); shrink its lruvec.
    pub(crate) fn shrink_node_memcgs(&mut self, r: &mut Reclaim) {
        for m in self.mem_cgroup_iter(r.target) {
            self.mem_cgroup_calculate_protection(r.target, m);
            if self.mem_cgroup_below_min(m) {
                continue;
            }
            if self.mem_cgroup_below_low(m) {
                if !r.memcg_low_reclaim {
                    r.memcg_low_skipped = true;
                    continue;
                }
                self.memcg_memory_event(m, MemcgEvent::Low);
            }
            self.shrink_lruvec(m, r);
        }
    }

    /// effective_protection(): a memcg's share of its parent's effective protection.
    fn effective_protection(
        &self,
        usage: u64,
        parent_usage: u64,
        setting: u64,
        parent_effective: u64,
        siblings_protected: u64,
    ) -> u64 {
        let protected = usage.min(setting);
        if siblings_protected > parent_effective {
            return (protected as u128 * parent_effective as u128 / siblings_protected as u128)
                as u64;
        }
        let mut ep = protected;
        if !self.cgroup.mount.recursiveprot || self.memcg_v1() {
            return ep;
        }
        if parent_effective > siblings_protected
            && parent_usage > siblings_protected
            && usage > protected
        {
            let unclaimed = (parent_effective - siblings_protected) as u128
                * (usage - protected) as u128
                / (parent_usage - siblings_protected) as u128;
            ep += unclaimed as u64;
        }
        ep
    }

    /// mem_cgroup_calculate_protection(): emin/elow of `m` for a reclaim aimed at `root`
    /// (the target's own and an empty memcg's values are left as they were).
    pub(crate) fn mem_cgroup_calculate_protection(&mut self, root: usize, m: usize) {
        if m == root || m == ROOT_MEMCG {
            return;
        }
        let usage = self.memcg.usage(m);
        if usage == 0 {
            return;
        }
        let parent = self.memcg.parent(m).expect("not the root");
        let (min, low) = {
            let c = &self.memcg.counters[mem(m)];
            (c.min, c.low)
        };
        let (emin, elow) = if parent == root {
            (min, low)
        } else {
            let p = &self.memcg.counters[mem(parent)];
            (
                self.effective_protection(usage, p.usage, min, p.emin, p.children_min_usage),
                self.effective_protection(usage, p.usage, low, p.elow, p.children_low_usage),
            )
        };
        let c = &mut self.memcg.counters[mem(m)];
        c.emin = emin;
        c.elow = elow;
    }

    /// mem_cgroup_below_min().
    fn mem_cgroup_below_min(&self, m: usize) -> bool {
        m != ROOT_MEMCG && self.memcg.counters[mem(m)].emin >= self.memcg.usage(m)
    }

    /// mem_cgroup_below_low().
    fn mem_cgroup_below_low(&self, m: usize) -> bool {
        m != ROOT_MEMCG && self.memcg.counters[mem(m)].elow >= self.memcg.usage(m)
    }

    /// mem_cgroup_protection(): (emin, elow) of `m` for get_scan_count(), none for the
    /// reclaim target itself.
    pub(crate) fn mem_cgroup_protection(&self, root: usize, m: usize) -> (u64, u64) {
        if root == m || m == ROOT_MEMCG {
            return (0, 0);
        }
        let c = &self.memcg.counters[mem(m)];
        (c.emin, c.elow)
    }

    /// mem_cgroup_size().
    pub(crate) fn mem_cgroup_size(&self, m: usize) -> u64 {
        self.memcg.usage(m)
    }

    /// mem_cgroup_online().
    pub(crate) fn mem_cgroup_online(&self, m: usize) -> bool {
        self.memcg.memcgs[m].online
    }

    /// mem_cgroup_get_max(): the pages a memcg may hold, with the swap it may use when it may
    /// swap at all (v2: memory.max + swap.max; v1: the memsw headroom over the limit), swap
    /// capped at the machine's.
    pub(crate) fn mem_cgroup_get_max(&self, m: usize) -> u64 {
        let max = self.memcg.counters[2 * m].max;
        if self.mem_cgroup_swappiness(m) == 0 {
            return max;
        }
        let swap_max = self.memcg.counters[2 * m + 1].max;
        let swap = if self.memcg_v1() {
            swap_max.saturating_sub(max)
        } else {
            swap_max
        };
        max.saturating_add(swap.min(self.total_swap_pages().max(0) as u64))
    }

    /// mem_cgroup_swappiness(): vm.swappiness on v2 and for the root, else the memcg's own.
    pub(crate) fn mem_cgroup_swappiness(&self, m: usize) -> u64 {
        if m == ROOT_MEMCG || !self.memcg_v1() {
            self.pgdat.swappiness
        } else {
            self.memcg.memcgs[m].swappiness
        }
    }

    /// can_reclaim_anon_pages() for a memcg's lruvec: swap slots left, and on v2 room under
    /// swap.max at every level (mem_cgroup_get_nr_swap_pages()).
    pub(crate) fn mem_cgroup_can_reclaim_anon(&self, m: usize) -> bool {
        if !self.can_reclaim_anon_pages() {
            return false;
        }
        if self.memcg_v1() {
            return true;
        }
        let mut at = Some(m);
        while let Some(c) = at.filter(|&c| c != ROOT_MEMCG) {
            let s = &self.memcg.counters[swap(c)];
            if s.max <= s.usage {
                return false;
            }
            at = self.memcg.parent(c);
        }
        true
    }

    /// mem_cgroup_oom(): count `oom` on the memcg over its limit and run the OOM killer
    /// inside it (not for costly orders; v1's oom_kill_disable leaves the charge failing).
    fn mem_cgroup_oom(&mut self, m: usize, gfp: Gfp, order: u32) -> bool {
        if order > PAGE_ALLOC_COSTLY_ORDER {
            return false;
        }
        self.memcg_memory_event(m, MemcgEvent::Oom);
        if self.memcg.memcgs[m].oom_kill_disable {
            return false;
        }
        self.mem_cgroup_out_of_memory(m, gfp)
    }

    /// mem_cgroup_out_of_memory(): the OOM killer with its candidates limited to the memcg's
    /// subtree; enough room already (another task freed memory) counts as progress.
    pub(crate) fn mem_cgroup_out_of_memory(&mut self, m: usize, gfp: Gfp) -> bool {
        if self.memcg.margin(m, self.memcg_v1()) >= 1 {
            return true;
        }
        self.out_of_memory_in(gfp, Some(m))
    }

    /// mem_cgroup_get_oom_group(): the highest memcg with memory.oom.group from the victim's
    /// up to the OOMing one (v2 only).
    pub(crate) fn mem_cgroup_get_oom_group(
        &self,
        victim: Pid,
        domain: Option<usize>,
    ) -> Option<usize> {
        if self.memcg_v1() {
            return None;
        }
        let domain = domain.unwrap_or(ROOT_MEMCG);
        let m = self.task_memcg(victim);
        if m == ROOT_MEMCG || !self.memcg.is_descendant(m, domain) {
            return None;
        }
        let mut group = None;
        let mut at = Some(m);
        while let Some(c) = at {
            if self.memcg.memcgs[c].oom_group {
                group = Some(c);
            }
            if c == domain {
                break;
            }
            at = self.memcg.parent(c);
        }
        group
    }

    /// The processes charged to a memcg under `m` (the css task iterator of mem_cgroup_scan_tasks()).
    pub(crate) fn mem_cgroup_procs(&self, m: usize) -> Vec<Pid> {
        let mut v: Vec<Pid> = self
            .procs
            .iter()
            .map(|(p, _)| p)
            .filter(|&p| self.memcg.is_descendant(self.task_memcg(p), m))
            .collect();
        v.sort_unstable();
        v
    }

    /// Pages of one LRU list over a memcg's subtree (the memory.stat LRU counts).
    pub(crate) fn mem_cgroup_lru_pages(&self, m: usize, lru: LruList) -> u64 {
        self.mem_cgroup_iter(m)
            .into_iter()
            .map(|c| self.lru.lruvec.memcg(c).nr_pages(lru))
            .sum()
    }

    /// memory.reclaim's loop (memory_reclaim()): reclaim `nr` pages from `m`, EAGAIN when
    /// MAX_RECLAIM_RETRIES + 1 attempts free nothing.
    pub(crate) fn memory_reclaim(&mut self, m: usize, nr: u64) -> crate::errno::SysResult<()> {
        let mut retries = MAX_RECLAIM_RETRIES;
        let mut reclaimed = 0;
        while reclaimed < nr {
            if retries == 0 {
                self.lru_add_drain_all();
            }
            let got = self.try_to_free_mem_cgroup_pages(m, nr - reclaimed, Gfp::KERNEL, true);
            if got == 0 {
                if retries == 0 {
                    return Err(crate::errno::Errno::EAGAIN);
                }
                retries -= 1;
            }
            reclaimed += got;
        }
        Ok(())
    }

    /// memory.max's write loop (memory_max_write()): reclaim down to the new limit, then OOM
    /// kill inside the memcg until it fits or nothing is left to kill.
    pub(crate) fn memory_max_enforce(&mut self, m: usize) {
        let mut retries = MAX_RECLAIM_RETRIES;
        let mut drained = false;
        loop {
            let (usage, max) = {
                let c = &self.memcg.counters[mem(m)];
                (c.usage, c.max)
            };
            if usage <= max {
                return;
            }
            if !drained {
                self.drain_all_stock(m);
                drained = true;
                continue;
            }
            if retries > 0 {
                if self.try_to_free_mem_cgroup_pages(m, usage - max, Gfp::KERNEL, true) == 0 {
                    retries -= 1;
                }
                continue;
            }
            self.memcg_memory_event(m, MemcgEvent::Oom);
            if !self.mem_cgroup_out_of_memory(m, Gfp::KERNEL) {
                return;
            }
        }
    }

    /// memory.high's write loop (memory_high_write()): reclaim down to the new high, never
    /// killing.
    pub(crate) fn memory_high_enforce(&mut self, m: usize) {
        let mut retries = MAX_RECLAIM_RETRIES;
        let mut drained = false;
        loop {
            let (usage, high) = {
                let c = &self.memcg.counters[mem(m)];
                (c.usage, c.high)
            };
            if usage <= high {
                return;
            }
            if !drained {
                self.drain_all_stock(m);
                drained = true;
                continue;
            }
            let got = self.try_to_free_mem_cgroup_pages(m, usage - high, Gfp::KERNEL, true);
            if got == 0 {
                if retries == 0 {
                    return;
                }
                retries -= 1;
            }
        }
    }

    /// memcg_memory_event() of a swap event (swap.events: 0 high, 1 max, 2 fail): counted in
    /// the memcg and, unless on v1 or with memory_localevents, its ancestors below the root.
    fn memcg_swap_event(&mut self, m: usize, ev: usize) {
        let local_only = self.memcg_v1() || self.cgroup.mount.localevents;
        let mut at = Some(m);
        while let Some(c) = at.filter(|&c| c != ROOT_MEMCG) {
            self.memcg.memcgs[c].swap_events[ev] += 1;
            if local_only {
                break;
            }
            at = self.memcg.parent(c);
        }
    }

    /// The nearest online memcg from the folio's up (mem_cgroup_id_get_online()).
    fn online_memcg(&self, mut m: usize) -> usize {
        while !self.memcg.memcgs[m].online {
            m = self.memcg.parent(m).expect("the root is online");
        }
        m
    }

    /// __mem_cgroup_try_charge_swap() when no slot could be had: a `fail` swap event.
    pub(crate) fn mem_cgroup_swap_fail(&mut self, f: Folio) {
        if let Some(m) = self.folio_memcg(f).filter(|_| !self.memcg_v1()) {
            self.memcg_swap_event(m, 2);
        }
    }

    /// __mem_cgroup_try_charge_swap(): charge the slots of a folio going to swap to its
    /// (nearest online) memcg's swap counter and record them in swap_cgroup; over swap.max
    /// the slot is refused (`max` and `fail` swap events). v1 charges memsw for the slot here
    /// (5.19 moves the folio's memsw charge to the slot at swap-out; the model keeps both
    /// until the folio is freed).
    pub(crate) fn mem_cgroup_try_charge_swap(&mut self, f: Folio, e: SwpEntry) -> bool {
        let Some(m) = self.folio_memcg(f) else {
            return true;
        };
        let m = self.online_memcg(m);
        let nr = self.pages.folio_nr_pages(f);
        if m != ROOT_MEMCG {
            if self.memcg_v1() {
                page_counter::charge(&mut self.memcg.counters, swap(m), nr);
            } else if page_counter::try_charge(&mut self.memcg.counters, swap(m), nr).is_err() {
                self.memcg_swap_event(m, 1);
                self.memcg_swap_event(m, 2);
                return false;
            }
        }
        for i in 0..nr {
            self.memcg.swap_cgroup.insert((e.typ, e.offset + i), m);
        }
        true
    }

    /// mem_cgroup_uncharge_swap(): a freed slot's charge goes from the memcg swap_cgroup
    /// recorded for it.
    pub(crate) fn mem_cgroup_uncharge_swap(&mut self, e: SwpEntry) {
        let Some(m) = self.memcg.swap_cgroup.remove(&(e.typ, e.offset)) else {
            return;
        };
        if m != ROOT_MEMCG {
            page_counter::uncharge(&mut self.memcg.counters, swap(m), 1);
        }
    }

    /// The charge invariant: every memcg's memory counter equals the pages of the folios
    /// charged to it, plus its stock, plus its children's counters. Err names the first memcg
    /// that disagrees.
    pub fn check_memcg_charges(&self) -> Result<(), String> {
        let n = self.memcg.memcgs.len();
        let mut own = vec![0u64; n];
        for pfn in self.pages.pfns() {
            let p = self.pages.page(pfn);
            if p.memcg != 0 && !self.pages.is_free(pfn) {
                own[p.memcg as usize - 1] += self.pages.folio_nr_pages(Folio(pfn));
            }
        }
        for &(m, nr) in &self.memcg.stock {
            own[m] += nr;
        }
        let mut slots = vec![0u64; n];
        for &m in self.memcg.swap_cgroup.values() {
            slots[m] += 1;
        }
        for m in (1..n).rev() {
            let children = (1..n).filter(|&c| self.memcg.memcgs[c].parent == Some(m));
            let (mut mem_want, mut swap_want) = (own[m], slots[m]);
            for c in children {
                mem_want += self.memcg.usage(c);
                swap_want += self.memcg.counters[swap(c)].usage;
            }
            if self.memcg.usage(m) != mem_want {
                return Err(format!(
                    "memcg {m}: memory counter {} but {mem_want} pages charged",
                    self.memcg.usage(m)
                ));
            }
            let sw = self.memcg.counters[swap(m)].usage;
            if !self.memcg_v1() && sw != swap_want {
                return Err(format!(
                    "memcg {m}: swap counter {sw} but {swap_want} slots recorded"
                ));
            }
        }
        Ok(())
    }
}

/// The value a tunable shows: bytes, or `max` for PAGE_COUNTER_MAX.
pub fn show_pages(v: u64) -> String {
    if v == PAGE_COUNTER_MAX {
        "max\n".to_string()
    } else {
        format!("{}\n", v * PAGE_SIZE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::uapi::*;
    use crate::Config;

    const CG: &str = "/sys/fs/cgroup";

    fn kernel(features: &[&str]) -> Kernel {
        let mut cfg = Config {
            memory_bytes: 512 << 20,
            ..Config::default()
        };
        for f in features {
            cfg.features.set(f, true).unwrap();
        }
        let mut k = Kernel::new(cfg);
        k.sysfs_write(&format!("{CG}/cgroup.subtree_control"), "+memory")
            .unwrap();
        k
    }

    /// A process in cgroup `path` with `len` bytes of private anonymous memory mapped, not
    /// touched: the task and the address.
    fn mapped_in(k: &mut Kernel, path: &str, len: u64) -> (crate::sched::Tid, u64) {
        let t = k.spawn_process(0).unwrap();
        let pid = k.tasks[t].pid;
        k.cgroup_attach(path, pid).unwrap();
        let rw = PROT_READ | PROT_WRITE;
        let a = k
            .mmap(t, 0, len, rw, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
            .unwrap();
        (t, a)
    }

    /// A process in cgroup `path` that has written `mib` MiB of anonymous memory.
    fn anon_in(k: &mut Kernel, path: &str, mib: u64) -> crate::sched::Tid {
        let (t, a) = mapped_in(k, path, mib << 20);
        k.memset(t, a, 1, mib << 20).unwrap();
        t
    }

    fn memcg(k: &Kernel, path: &str) -> usize {
        k.cgroup.memcg_of(k.cgroup.lookup(path).unwrap())
    }

    #[test]
    fn charges_follow_folios_and_the_stock_and_leave_with_them() {
        let mut k = kernel(&[]);
        k.cgroup_mkdir("/a").unwrap();
        k.sysfs_write(&format!("{CG}/a/cgroup.subtree_control"), "+memory")
            .unwrap();
        k.cgroup_mkdir("/a/b").unwrap();
        k.cgroup_mkdir("/a/b/c").unwrap();
        let t = anon_in(&mut k, "/a/b/c", 4);
        let (a, b, c) = (memcg(&k, "/a"), memcg(&k, "/a/b"), memcg(&k, "/a/b/c"));
        assert_ne!(a, b, "a enables memory for b");
        assert_eq!(c, b, "b does not for c: c's charges go to b");
        assert_eq!(k.memcg.usage(a), k.memcg.usage(b), "and count in a");
        // 1024 anon pages and the page tables, charged in batches of 32: a stock is left.
        let stock = k.memcg.stock.iter().map(|s| s.1).sum::<u64>();
        assert!(stock < MEMCG_CHARGE_BATCH);
        assert!(k.memcg.usage(a) >= 1024 + stock);
        k.check_memcg_charges().unwrap();
        k.exit(t).unwrap();
        assert_eq!(k.memcg.usage(a), stock, "only the stock is left");
        k.check_memcg_charges().unwrap();
        assert_eq!(k.cgroup_rmdir("/a"), Err(crate::errno::Errno::EBUSY));
    }

    #[test]
    fn effective_low_shares_the_parents_unclaimed_protection_only_with_recursiveprot() {
        for rec in [false, true] {
            let mut k = kernel(if rec { &["memory_recursiveprot"] } else { &[] });
            k.cgroup_mkdir("/a").unwrap();
            k.sysfs_write(&format!("{CG}/a/cgroup.subtree_control"), "+memory")
                .unwrap();
            k.cgroup_mkdir("/a/b").unwrap();
            k.sysfs_write(&format!("{CG}/a/b/cgroup.subtree_control"), "+memory")
                .unwrap();
            k.cgroup_mkdir("/a/b/c").unwrap();
            k.cgroup_mkdir("/a/b/d").unwrap();
            k.sysfs_write(&format!("{CG}/a/b/memory.low"), "50M")
                .unwrap();
            k.sysfs_write(&format!("{CG}/a/b/c/memory.low"), "10M")
                .unwrap();
            anon_in(&mut k, "/a/b/c", 20);
            anon_in(&mut k, "/a/b/d", 20);
            let (a, b, c, d) = (
                memcg(&k, "/a"),
                memcg(&k, "/a/b"),
                memcg(&k, "/a/b/c"),
                memcg(&k, "/a/b/d"),
            );
            k.drain_all_stock(ROOT_MEMCG);
            for m in [b, c, d] {
                k.mem_cgroup_calculate_protection(a, m);
            }
            let elow = |m: usize| k.memcg.counters[mem(m)].elow;
            assert_eq!(
                elow(b),
                50 << 8,
                "a child of the target gets its own setting"
            );
            let (uc, ud) = (k.memcg.usage(c), k.memcg.usage(d));
            if rec {
                // 40M of B's protection is unclaimed; it goes by unprotected usage.
                let unclaimed = (50 << 8) - (10 << 8);
                let pu = k.memcg.usage(b) - (10 << 8);
                assert_eq!(elow(c), (10 << 8) + unclaimed * (uc - (10 << 8)) / pu);
                assert_eq!(elow(d), unclaimed * ud / pu);
                assert!(elow(d) > 0);
            } else {
                assert_eq!((elow(c), elow(d)), (10 << 8, 0));
            }
        }
    }

    #[test]
    fn the_high_penalty_matches_the_kernels_table() {
        let high = 100 << 8;
        let delay = |usage| {
            Kernel::calculate_high_delay(Kernel::calculate_overage(usage, high), 32)
                .min(MEMCG_MAX_HIGH_DELAY_JIFFIES)
        };
        // At HZ=250: 1% over is a jiffy, 5% 39 jiffies, 18% the cap of 2 s.
        assert_eq!(delay(101 << 8), 1);
        assert_eq!(delay(105 << 8), 39);
        assert_eq!(delay(118 << 8), 2 * HZ);
        assert_eq!(delay(100 << 8), 0);
    }

    #[test]
    fn high_throttles_and_max_kills_inside_the_memcg_only() {
        let mut k = kernel(&[]);
        k.cgroup_mkdir("/h").unwrap();
        k.sysfs_write(&format!("{CG}/h/memory.high"), "30M")
            .unwrap();
        anon_in(&mut k, "/h", 40);
        let h = memcg(&k, "/h");
        assert!(k.memcg.memcgs[h].high_throttle_jiffies > 0);
        assert!(k.memcg.memcgs[h].events[MemcgEvent::High as usize] > 0);
        let outside = anon_in(&mut k, "/", 40);
        k.cgroup_mkdir("/m").unwrap();
        let t = anon_in(&mut k, "/m", 8);
        // Lowering max below the usage OOM-kills inside /m (not the bigger task outside it).
        k.sysfs_write(&format!("{CG}/m/memory.max"), "4M").unwrap();
        let m = memcg(&k, "/m");
        assert_eq!(k.memcg.memcgs[m].events[MemcgEvent::Oom as usize], 1);
        assert_eq!(k.memcg.memcgs[m].events[MemcgEvent::OomKill as usize], 1);
        k.finish_step();
        assert!(k.tasks.contains(outside));
        assert!(!k.tasks.contains(t));
        k.check_memcg_charges().unwrap();
    }

    /// A task in a memcg over memory.high: one kernel entry that charged `len` bytes with
    /// MAP_POPULATE, stopped before its return to user space. Returns the task and memcg.
    fn populate_over_high(len: u64) -> (Kernel, crate::sched::Tid, usize) {
        let mut k = kernel(&[]);
        k.cgroup_mkdir("/h").unwrap();
        k.sysfs_write(&format!("{CG}/h/memory.swap.max"), "0")
            .unwrap();
        k.sysfs_write(&format!("{CG}/h/memory.high"), "0").unwrap();
        let t = k.spawn_process(0).unwrap();
        let pid = k.tasks[t].pid;
        k.cgroup_attach("/h", pid).unwrap();
        let flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE;
        k.mmap(t, 0, len, PROT_READ | PROT_WRITE, flags, -1, 0)
            .unwrap();
        let h = memcg(&k, "/h");
        (k, t, h)
    }

    #[test]
    fn one_batch_over_high_waits_for_the_return_to_user_space() {
        // One page charges a batch of 32 over high: not more than MEMCG_CHARGE_BATCH, so
        // try_charge_memcg() only notes it and the syscall's return does the work.
        let (mut k, t, h) = populate_over_high(PAGE_SIZE);
        let high = |k: &Kernel| k.memcg.memcgs[h].events[MemcgEvent::High as usize];
        assert_eq!(k.tasks[t].memcg_nr_pages_over_high, MEMCG_CHARGE_BATCH);
        assert_eq!(high(&k), 0);
        assert_eq!(k.memcg.memcgs[h].high_throttle_jiffies, 0);
        let before = k.now_ns();
        k.finish_step();
        assert_eq!(k.tasks[t].memcg_nr_pages_over_high, 0);
        assert!(high(&k) > 0);
        let slept = k.memcg.memcgs[h].high_throttle_jiffies;
        assert!(slept > 0);
        // The return to user space sleeps the penalty out: the clock moved that far.
        assert!(k.now_ns() - before > crate::time::jiffies_to_ns(slept - 1));
        k.check_memcg_charges().unwrap();
    }

    #[test]
    fn more_than_a_batch_over_high_in_one_entry_is_handled_in_the_charge() {
        // 256 pages charge batch after batch: the second batch over high passes
        // MEMCG_CHARGE_BATCH and the charge itself reclaims and throttles.
        let (mut k, t, h) = populate_over_high(1 << 20);
        let events = k.memcg.memcgs[h].events[MemcgEvent::High as usize];
        assert!(events > 0);
        assert!(k.memcg.memcgs[h].high_throttle_jiffies > 0);
        assert!(k.tasks[t].memcg_nr_pages_over_high <= MEMCG_CHARGE_BATCH);
        k.finish_step();
        assert_eq!(k.tasks[t].memcg_nr_pages_over_high, 0);
        k.check_memcg_charges().unwrap();
    }

    #[test]
    fn mlock_over_high_sleeps_in_the_charge_and_restarts_when_the_clock_wakes_it() {
        let mut k = kernel(&[]);
        k.cgroup_mkdir("/h").unwrap();
        k.sysfs_write(&format!("{CG}/h/memory.swap.max"), "0")
            .unwrap();
        k.sysfs_write(&format!("{CG}/h/memory.high"), "4M").unwrap();
        let h = memcg(&k, "/h");
        let len = 16 << 20;
        let (t, a) = mapped_in(&mut k, "/h", len);
        // The mlock stops in its first penalty over high, the pages it charged so far in
        // place, and sleeps until the clock reaches the end of the penalty.
        assert_eq!(k.mlock(t, a, len), Err(crate::errno::Errno::ERESTARTNOINTR));
        let Some(WaitReason::MemcgHigh { since, until }) = k.tasks[t].wait else {
            panic!("asleep in the over-high penalty: {:?}", k.tasks[t].wait);
        };
        assert!(until > since);
        assert!(k.memcg.memcgs[h].events[MemcgEvent::High as usize] > 0);
        let usage = k.memcg.usage(h);
        assert!(usage > 4 << 8 && usage < len >> 12);
        assert_eq!(
            k.restart_syscall(t),
            Err(crate::errno::Errno::ERESTARTNOINTR)
        );
        k.advance_time(until - 1 - k.now_ns());
        assert!(k.tasks[t].wait.is_some(), "not woken before its jiffy");
        k.advance_time(1);
        assert_eq!(k.tasks[t].wait, None);
        // Restarted, it sleeps again further on, until the whole range is in.
        let mut sleeps = 1;
        while k.restart_syscall(t) == Err(crate::errno::Errno::ERESTARTNOINTR) {
            sleeps += 1;
            let until = k.reclaim_throttle_until(t).unwrap();
            k.advance_time(until - k.now_ns());
        }
        assert!(sleeps > 1);
        assert!(k.memcg.usage(h) >= len >> 12);
        assert_eq!(k.memcg.memcgs[h].events[MemcgEvent::Max as usize], 0);
        k.check_memcg_charges().unwrap();
    }

    #[test]
    fn tunables_refuse_what_linux_refuses() {
        use crate::errno::Errno::*;
        let mut k = kernel(&[]);
        k.cgroup_mkdir("/x").unwrap();
        let f = |n: &str| format!("{CG}/x/{n}");
        for (file, val, e) in [
            ("memory.max", "-1", EINVAL),
            ("memory.max", "abc", EINVAL),
            ("memory.high", "1Q", EINVAL),
            ("memory.low", "0x", EINVAL),
            ("memory.swap.max", "-5", EINVAL),
            ("memory.oom.group", "2", EINVAL),
            ("memory.oom.group", "abc", EINVAL),
            ("memory.oom.group", "4294967296", ERANGE),
            ("memory.current", "0", EINVAL),
            ("memory.events", "0", EINVAL),
        ] {
            assert_eq!(k.sysfs_write(&f(file), val), Err(e), "{file} {val}");
        }
        assert_eq!(k.sysfs_read(&f("memory.reclaim")), Err(EINVAL));
        k.sysfs_write(&f("memory.max"), "4097").unwrap();
        assert_eq!(k.sysfs_read(&f("memory.max")).unwrap(), "4096\n");
        k.sysfs_write(&f("memory.max"), "").unwrap();
        assert_eq!(k.sysfs_read(&f("memory.max")).unwrap(), "0\n");
        k.sysfs_write(&f("memory.max"), "9223372036854775807")
            .unwrap();
        assert_eq!(k.sysfs_read(&f("memory.max")).unwrap(), "max\n");
        assert_eq!(k.sysfs_read(&format!("{CG}/memory.max")), Err(ENOENT));
        assert!(k.sysfs_read(&format!("{CG}/memory.stat")).is_ok());
    }
}
