//! mm/vmscan.c above the per-folio decisions (those are mm/vmscan.rs): how much of each LRU
//! list a reclaim pass looks at (get_scan_count), taking folios off a list's tail
//! (isolate_lru_pages), aging the active lists (shrink_active_list), passing inactive folios
//! to shrink_folio_list() and putting back what it keeps (shrink_inactive_list,
//! move_pages_to_lru), one lruvec and the node (shrink_lruvec, shrink_node), and direct
//! reclaim (try_to_free_pages), with the walk over the memory cgroups under the reclaim
//! target (shrink_node_memcgs in mm/memcontrol.rs). The model has one node and one zone, so
//! no zone is ever skipped; each memcg has its own lruvec (`MemcgLruvecs`), while the anon and
//! file costs and the refault snapshot are kept once for the node, not per target lruvec.

use crate::kernel::Kernel;
use crate::mm::vma::vm::VM_EXEC;
use crate::mm::vmscan::ScanControl;
use crate::page::lru::LruList;
use crate::page::{Folio, Gfp, PageFlags};

/// SWAP_CLUSTER_MAX: the batch reclaim works in.
pub const SWAP_CLUSTER_MAX: u64 = 32;
/// DEF_PRIORITY: a pass at priority p looks at 1/2^p of each list.
pub const DEF_PRIORITY: i32 = 12;
/// DEACTIVATE_ANON / DEACTIVATE_FILE of scan_control's may_deactivate.
const DEACTIVATE_ANON: u8 = 1;
const DEACTIVATE_FILE: u8 = 2;

/// The reclaim state of the one node (pglist_data) and its lruvec.
#[derive(Clone, Debug)]
pub struct Pgdat {
    /// vm_swappiness (/proc/sys/vm/swappiness).
    pub swappiness: u64,
    /// lruvec->anon_cost and file_cost: pages reclaim wrote or that refaulted, per type.
    anon_cost: u64,
    file_cost: u64,
    /// lruvec->refaults[]: WORKINGSET_ACTIVATE_ANON/FILE at the last snapshot_refaults().
    refaults: [u64; 2],
    /// pgdat->kswapd_failures: kswapd runs in a row that reclaimed nothing.
    pub kswapd_failures: u32,
    /// reclaim_wait[] and the state reclaim_throttle() keeps beside it.
    pub(crate) throttle: crate::mm::vmscan_throttle::ReclaimWait,
}

impl Default for Pgdat {
    fn default() -> Self {
        Pgdat {
            swappiness: 60,
            anon_cost: 0,
            file_cost: 0,
            refaults: [0; 2],
            kswapd_failures: 0,
            throttle: Default::default(),
        }
    }
}

/// struct scan_control beyond what the per-folio code reads (`sc`): the target, the order,
/// and the balance shrink_node() decides for each pass.
pub(crate) struct Reclaim {
    pub sc: ScanControl,
    /// DEF_PRIORITY (12) down to 0: a pass looks at list size >> priority.
    pub priority: i32,
    /// May anon pages be swapped out (get_scan_count's first test).
    pub may_swap: bool,
    /// Stop once this many pages were reclaimed.
    pub nr_to_reclaim: u64,
    /// The order of the allocation reclaim serves.
    pub order: u32,
    /// DEACTIVATE_ANON | DEACTIVATE_FILE: which active lists may shrink.
    may_deactivate: u8,
    /// Shrink both active lists regardless (the retry of do_try_to_free_pages()).
    force_deactivate: bool,
    /// sc->target_mem_cgroup: the memcg whose subtree is reclaimed (ROOT_MEMCG: global).
    pub target: usize,
    /// memory.low is breached in this pass (the retry after memcg_low_skipped).
    pub memcg_low_reclaim: bool,
    /// A memcg was passed over for its memory.low protection.
    pub memcg_low_skipped: bool,
    /// An active list was left alone this pass.
    skipped_deactivate: bool,
    /// Enough inactive file pages to reclaim only those.
    cache_trim_mode: bool,
    /// Too little file memory left to be worth scanning: anon only.
    file_is_tiny: bool,
    /// The lruvec's costs when the pass began.
    anon_cost: u64,
    file_cost: u64,
}

impl Reclaim {
    /// A reclaim at DEF_PRIORITY that may unmap, write and swap.
    pub fn new(gfp: Gfp, order: u32, nr_to_reclaim: u64, kswapd: bool) -> Reclaim {
        Reclaim {
            sc: ScanControl {
                gfp,
                may_writepage: true,
                may_unmap: true,
                ignore_references: false,
                kswapd,
                nr_scanned: 0,
                nr_reclaimed: 0,
                nr: Default::default(),
            },
            priority: DEF_PRIORITY,
            may_swap: true,
            nr_to_reclaim,
            order,
            may_deactivate: 0,
            force_deactivate: false,
            target: crate::mm::memcontrol::ROOT_MEMCG,
            memcg_low_reclaim: false,
            memcg_low_skipped: false,
            skipped_deactivate: false,
            cache_trim_mode: false,
            file_is_tiny: false,
            anon_cost: 0,
            file_cost: 0,
        }
    }
}

/// is_file_lru().
fn is_file_lru(lru: LruList) -> bool {
    matches!(lru, LruList::InactiveFile | LruList::ActiveFile)
}

/// The inactive list of a type and its active partner.
fn active_of(inactive: LruList) -> LruList {
    match inactive {
        LruList::InactiveAnon => LruList::ActiveAnon,
        _ => LruList::ActiveFile,
    }
}

/// enum scan_balance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ScanBalance {
    Equal,
    /// Anon and file in proportion to these fractions.
    Fract([u64; 2]),
    Anon,
    File,
}

impl Kernel {
    /// can_reclaim_anon_pages(): swap space is left (the model has no demotion target).
    pub(crate) fn can_reclaim_anon_pages(&self) -> bool {
        self.nr_swap_pages() > 0
    }

    /// zone_reclaimable_pages(): the file lists, and the anon lists while swap is left.
    pub(crate) fn zone_reclaimable_pages(&self) -> u64 {
        let l = &self.lru.lruvec;
        let mut nr = l.nr_pages(LruList::InactiveFile) + l.nr_pages(LruList::ActiveFile);
        if self.can_reclaim_anon_pages() {
            nr += l.nr_pages(LruList::InactiveAnon) + l.nr_pages(LruList::ActiveAnon);
        }
        nr
    }

    /// inactive_is_low() of memcg `lruvec`'s lruvec: the inactive list is smaller than the
    /// active one divided by int_sqrt(10 × GiB of both) (1 below a GiB).
    pub(crate) fn inactive_is_low(&self, lruvec: usize, inactive_lru: LruList) -> bool {
        let l = self.lru.lruvec.memcg(lruvec);
        let inactive = l.nr_pages(inactive_lru);
        let active = l.nr_pages(active_of(inactive_lru));
        let gb = (inactive + active) >> (30 - 12);
        let ratio = if gb > 0 {
            crate::mm::page_alloc::int_sqrt(10 * gb)
        } else {
            1
        };
        inactive * ratio < active
    }

    /// lru_note_cost(): reclaim of `nr` pages of a type cost I/O; both costs halve once they
    /// outgrow a quarter of the LRU.
    pub(crate) fn lru_note_cost(&mut self, file: bool, nr: u64) {
        let l = &self.lru.lruvec;
        let lrusize = LruList::ALL[..4]
            .iter()
            .map(|&x| l.nr_pages(x))
            .sum::<u64>();
        let p = &mut self.pgdat;
        if file {
            p.file_cost += nr;
        } else {
            p.anon_cost += nr;
        }
        if p.anon_cost + p.file_cost > lrusize / 4 {
            p.anon_cost /= 2;
            p.file_cost /= 2;
        }
    }

    /// isolate_lru_pages(): take up to `nr_to_scan` pages' worth of folios from the tail of
    /// `lru`, each with a reference and PG_lru cleared; a mapped folio that may not be
    /// unmapped goes to the head instead. Returns the folios and the pages looked at.
    fn isolate_lru_pages(
        &mut self,
        lruvec: usize,
        nr_to_scan: u64,
        lru: LruList,
        sc: &ScanControl,
    ) -> (Vec<Folio>, u64) {
        let mut taken = Vec::new();
        let mut scan = 0;
        while scan < nr_to_scan {
            let Some(f) = self
                .lru
                .lruvec
                .memcg(lruvec)
                .oldest_first(&self.pages, lru)
                .next()
            else {
                break;
            };
            scan += self.pages.folio_nr_pages(f);
            if !sc.may_unmap && self.pages.folio_mapcount(f) > 0 {
                self.lru.lruvec.del(&mut self.pages, f);
                self.lru.lruvec.add(&mut self.pages, f);
                continue;
            }
            let isolated = self.isolate_lru_folio(f);
            debug_assert!(isolated, "a folio on a list has PG_lru");
            taken.push(f);
        }
        (taken, scan)
    }

    /// move_pages_to_lru(): each isolated folio back to the head of the list its flags now
    /// name, the isolation reference dropped (a folio whose last reference that was is
    /// freed); a folio placed on an active list ages the workingset. Returns the pages moved.
    fn move_pages_to_lru(&mut self, list: Vec<Folio>) -> u64 {
        let mut moved = 0;
        for f in list {
            if !self.folio_evictable(f) {
                // Mlocked meanwhile: through the add batch to the unevictable list.
                self.folio_putback_lru(f);
                continue;
            }
            if self.pages.folio_ref_count(f) == 1 {
                self.folio_put(f);
                continue;
            }
            self.pages.folio_set(f, PageFlags::LRU);
            self.lru.lruvec.add(&mut self.pages, f);
            self.folio_put(f);
            let nr = self.pages.folio_nr_pages(f);
            moved += nr;
            if self.pages.folio_test(f, PageFlags::ACTIVE) {
                self.workingset_age(nr);
            }
        }
        moved
    }

    /// shrink_active_list(): isolate from an active list; a referenced file folio mapped
    /// executable stays active, every other one is deactivated and marked PG_workingset
    /// (its young bits are cleared here and only count again at the inactive tail).
    fn shrink_active_list(
        &mut self,
        lruvec: usize,
        nr_to_scan: u64,
        lru: LruList,
        sc: &ScanControl,
    ) {
        self.lru_add_drain();
        let (list, nr_scanned) = self.isolate_lru_pages(lruvec, nr_to_scan, lru, sc);
        self.memcg_stat_add(
            lruvec,
            crate::mm::memcontrol::MemcgStat::Pgrefill,
            nr_scanned,
        );
        self.vmstat.pgrefill += nr_scanned;
        let (mut active, mut inactive) = (Vec::new(), Vec::new());
        for f in list {
            let r = self.folio_referenced(f);
            if r.referenced > 0 && r.vm_flags & VM_EXEC != 0 && is_file_lru(lru) {
                active.push(f);
                continue;
            }
            self.pages.folio_clear(f, PageFlags::ACTIVE);
            self.pages.folio_set(f, PageFlags::WORKINGSET);
            inactive.push(f);
        }
        self.move_pages_to_lru(active);
        self.vmstat.pgdeactivate += self.move_pages_to_lru(inactive);
    }

    /// shrink_inactive_list(): drain this CPU's batches, isolate from an inactive list, let
    /// shrink_folio_list() decide each folio, put the survivors back; counts pgscan_* and
    /// pgsteal_*, and notes the pages written as the type's cost. Returns the pages freed.
    fn shrink_inactive_list(
        &mut self,
        lruvec: usize,
        nr_to_scan: u64,
        lru: LruList,
        sc: &mut ScanControl,
    ) -> u64 {
        self.lru_add_drain();
        let file = is_file_lru(lru);
        let (list, nr_scanned) = self.isolate_lru_pages(lruvec, nr_to_scan, lru, sc);
        self.memcg_stat_add(lruvec, crate::mm::memcontrol::MemcgStat::Pgscan, nr_scanned);
        let v = &mut self.vmstat;
        *if sc.kswapd {
            &mut v.pgscan_kswapd
        } else {
            &mut v.pgscan_direct
        } += nr_scanned;
        *if file {
            &mut v.pgscan_file
        } else {
            &mut v.pgscan_anon
        } += nr_scanned;
        if list.is_empty() {
            return 0;
        }
        sc.nr.taken += list
            .iter()
            .map(|&f| self.pages.folio_nr_pages(f))
            .sum::<u64>();
        let written = self.vmstat.nr_vmscan_write;
        let (reclaimed, kept) = self.shrink_folio_list(list, sc);
        self.move_pages_to_lru(kept);
        // The swap-file writes this pass started complete now (see page_io.rs).
        self.swap_io_complete();
        let v = &mut self.vmstat;
        *if sc.kswapd {
            &mut v.pgsteal_kswapd
        } else {
            &mut v.pgsteal_direct
        } += reclaimed;
        *if file {
            &mut v.pgsteal_file
        } else {
            &mut v.pgsteal_anon
        } += reclaimed;
        self.memcg_stat_add(lruvec, crate::mm::memcontrol::MemcgStat::Pgsteal, reclaimed);
        let nr_pageout = self.vmstat.nr_vmscan_write - written;
        self.lru_note_cost(file, nr_pageout);
        reclaimed
    }

    /// shrink_list(): an active list is aged only if shrink_node() allowed its type.
    fn shrink_list(
        &mut self,
        lruvec: usize,
        lru: LruList,
        nr_to_scan: u64,
        r: &mut Reclaim,
    ) -> u64 {
        if matches!(lru, LruList::ActiveAnon | LruList::ActiveFile) {
            let bit = if is_file_lru(lru) {
                DEACTIVATE_FILE
            } else {
                DEACTIVATE_ANON
            };
            if r.may_deactivate & bit != 0 {
                self.shrink_active_list(lruvec, nr_to_scan, lru, &r.sc);
            } else {
                r.skipped_deactivate = true;
            }
            return 0;
        }
        self.shrink_inactive_list(lruvec, nr_to_scan, lru, &mut r.sc)
    }

    /// get_scan_count() of memcg `lruvec`'s lruvec: how many pages of each evictable list
    /// this pass looks at: the list (less the share memory.min/low protect) shifted right by
    /// the priority, split between anon and file by the first rule that applies (no swap for
    /// this memcg → file only; memcg reclaim with swappiness 0 → file only; priority 0 →
    /// equal; tiny file → anon only; enough inactive file → file only; else by swappiness
    /// against the recent costs).
    fn get_scan_count(&self, lruvec: usize, r: &mut Reclaim) -> [u64; 4] {
        let swappiness = self.mem_cgroup_swappiness(lruvec);
        let cgroup_reclaim = r.target != crate::mm::memcontrol::ROOT_MEMCG;
        let balance = if !r.may_swap
            || !self.mem_cgroup_can_reclaim_anon(lruvec)
            || (cgroup_reclaim && swappiness == 0)
        {
            ScanBalance::File
        } else if r.priority == 0 && swappiness != 0 {
            ScanBalance::Equal
        } else if r.file_is_tiny {
            ScanBalance::Anon
        } else if r.cache_trim_mode {
            ScanBalance::File
        } else {
            let total = r.anon_cost + r.file_cost;
            let anon_cost = total + r.anon_cost;
            let file_cost = total + r.file_cost;
            let total = anon_cost + file_cost;
            let ap = swappiness * (total + 1) / (anon_cost + 1);
            let fp = (200 - swappiness) * (total + 1) / (file_cost + 1);
            ScanBalance::Fract([ap, fp])
        };
        let (min, low) = self.mem_cgroup_protection(r.target, lruvec);
        let online = self.mem_cgroup_online(lruvec);
        let mut nr = [0; 4];
        for (i, &lru) in LruList::ALL[..4].iter().enumerate() {
            let file = is_file_lru(lru);
            let size = self.lru.lruvec.memcg(lruvec).nr_pages(lru);
            let mut scan = if min != 0 || low != 0 {
                let protection = if !r.memcg_low_reclaim && low > min {
                    r.memcg_low_skipped = true;
                    low
                } else {
                    min
                };
                let cgroup_size = self.mem_cgroup_size(lruvec).max(protection);
                (size - size * protection / (cgroup_size + 1)).max(SWAP_CLUSTER_MAX)
            } else {
                size
            };
            scan >>= r.priority;
            if scan == 0 && !online {
                scan = size.min(SWAP_CLUSTER_MAX);
            }
            nr[i] = match balance {
                ScanBalance::Equal => scan,
                ScanBalance::Fract(fraction) if online => {
                    scan * fraction[usize::from(file)] / (fraction[0] + fraction[1])
                }
                ScanBalance::Fract(fraction) => {
                    (scan * fraction[usize::from(file)]).div_ceil(fraction[0] + fraction[1])
                }
                ScanBalance::File if !file => 0,
                ScanBalance::Anon if file => 0,
                ScanBalance::File | ScanBalance::Anon => scan,
            };
        }
        nr
    }

    /// shrink_lruvec(): work through get_scan_count()'s targets SWAP_CLUSTER_MAX pages of
    /// each list at a time, in list order, while inactive anon or any file target is left.
    /// Once nr_to_reclaim is met (not at all for direct reclaim at DEF_PRIORITY), the type
    /// with less left stops and the other is cut to the share the first had reached. Then,
    /// with swap, the active anon list is aged if the inactive one is low.
    pub(crate) fn shrink_lruvec(&mut self, lruvec: usize, r: &mut Reclaim) {
        const IA: usize = LruList::InactiveAnon as usize;
        const AA: usize = LruList::ActiveAnon as usize;
        const IF: usize = LruList::InactiveFile as usize;
        const AF: usize = LruList::ActiveFile as usize;
        let mut nr = self.get_scan_count(lruvec, r);
        let targets = nr;
        let mut nr_reclaimed = 0;
        let cgroup_reclaim = r.target != crate::mm::memcontrol::ROOT_MEMCG;
        let mut scan_adjusted = !cgroup_reclaim && !r.sc.kswapd && r.priority == DEF_PRIORITY;
        while nr[IA] != 0 || nr[AF] != 0 || nr[IF] != 0 {
            for (i, &lru) in LruList::ALL[..4].iter().enumerate() {
                if nr[i] != 0 {
                    let n = nr[i].min(SWAP_CLUSTER_MAX);
                    nr[i] -= n;
                    nr_reclaimed += self.shrink_list(lruvec, lru, n, r);
                }
            }
            if nr_reclaimed < r.nr_to_reclaim || scan_adjusted {
                continue;
            }
            let nr_file = nr[IF] + nr[AF];
            let nr_anon = nr[IA] + nr[AA];
            if nr_file == 0 || nr_anon == 0 {
                break;
            }
            // Stop the type with less left; `other` keeps the share of its target the
            // stopped one had reached.
            let (stop, other, percentage) = if nr_file > nr_anon {
                (
                    [IA, AA],
                    [IF, AF],
                    nr_anon * 100 / (targets[IA] + targets[AA] + 1),
                )
            } else {
                (
                    [IF, AF],
                    [IA, AA],
                    nr_file * 100 / (targets[IF] + targets[AF] + 1),
                )
            };
            for i in stop {
                nr[i] = 0;
            }
            for i in other {
                let scanned = targets[i] - nr[i];
                nr[i] = (targets[i] * (100 - percentage) / 100).saturating_sub(scanned);
            }
            scan_adjusted = true;
        }
        // shrink_folio_list() added what it freed to sc.nr_reclaimed already.
        if self.total_swap_pages() > 0 && self.inactive_is_low(lruvec, LruList::InactiveAnon) {
            self.shrink_active_list(lruvec, SWAP_CLUSTER_MAX, LruList::ActiveAnon, &r.sc);
        }
    }

    /// shrink_node(): decide the pass's balance from the target's lruvec (which active lists
    /// may shrink: those whose workingset activations moved since the last snapshot or whose
    /// inactive list is low; cache_trim_mode; file_is_tiny for global reclaim), shrink the
    /// memcgs under the target, and clear kswapd_failures if anything was reclaimed.
    pub(crate) fn shrink_node(&mut self, r: &mut Reclaim) {
        let reclaimed_before = r.sc.nr_reclaimed;
        r.sc.nr = Default::default();
        r.anon_cost = self.pgdat.anon_cost;
        r.file_cost = self.pgdat.file_cost;
        if r.force_deactivate {
            r.may_deactivate = DEACTIVATE_ANON | DEACTIVATE_FILE;
        } else {
            let refaults = self.workingset_activations();
            for (i, (bit, lru)) in [
                (DEACTIVATE_ANON, LruList::InactiveAnon),
                (DEACTIVATE_FILE, LruList::InactiveFile),
            ]
            .into_iter()
            .enumerate()
            {
                if refaults[i] != self.pgdat.refaults[i] || self.inactive_is_low(r.target, lru) {
                    r.may_deactivate |= bit;
                } else {
                    r.may_deactivate &= !bit;
                }
            }
        }
        let target_file = self
            .lru
            .lruvec
            .memcg(r.target)
            .nr_pages(LruList::InactiveFile);
        r.cache_trim_mode =
            target_file >> r.priority != 0 && r.may_deactivate & DEACTIVATE_FILE == 0;
        if r.target == crate::mm::memcontrol::ROOT_MEMCG {
            let l = &self.lru.lruvec;
            let file = l.nr_pages(LruList::InactiveFile) + l.nr_pages(LruList::ActiveFile);
            let high = self.zone.wmark_pages(crate::mm::page_alloc::Wmark::High);
            r.file_is_tiny = file + self.pages.nr_free() <= high
                && r.may_deactivate & DEACTIVATE_ANON == 0
                && l.nr_pages(LruList::InactiveAnon) >> r.priority != 0;
        }
        self.shrink_node_memcgs(r);
        if r.sc.kswapd {
            self.kswapd_throttle_writeback(r);
        }
        if r.sc.nr_reclaimed > reclaimed_before {
            self.pgdat.kswapd_failures = 0;
        }
    }

    /// WORKINGSET_ACTIVATE_ANON and _FILE.
    fn workingset_activations(&self) -> [u64; 2] {
        [
            self.vmstat.workingset_activate_anon,
            self.vmstat.workingset_activate_file,
        ]
    }

    /// snapshot_refaults(): remember the activations, so the next pass sees which type's
    /// working set is refaulting.
    pub(crate) fn snapshot_refaults(&mut self) {
        self.pgdat.refaults = self.workingset_activations();
    }

    /// age_active_anon() (kswapd): with swap, deactivate a batch of active anon pages when
    /// the inactive anon list is low.
    pub(crate) fn age_active_anon(&mut self, sc: &ScanControl) {
        for m in self.mem_cgroup_iter(crate::mm::memcontrol::ROOT_MEMCG) {
            if self.total_swap_pages() > 0 && self.inactive_is_low(m, LruList::InactiveAnon) {
                self.shrink_active_list(m, SWAP_CLUSTER_MAX, LruList::ActiveAnon, sc);
            }
        }
    }

    /// try_to_free_pages(): direct reclaim for an allocation of `order`: a batch of
    /// SWAP_CLUSTER_MAX pages. Returns the pages reclaimed.
    pub(crate) fn try_to_free_pages(&mut self, gfp: Gfp, order: u32) -> u64 {
        let mut r = Reclaim::new(gfp, order, SWAP_CLUSTER_MAX, false);
        self.do_try_to_free_pages(&mut r)
    }

    /// do_try_to_free_pages(): count the stall in the zone the gfp mask names (global
    /// reclaim only), then shrink the node at priorities 12 down to 0 until enough is
    /// reclaimed (writing dirty pages allowed below 10); if nothing was, once more with both
    /// active lists forced to shrink if one was skipped, and then once more breaching
    /// memory.low if a protected memcg was passed over.
    pub(crate) fn do_try_to_free_pages(&mut self, r: &mut Reclaim) -> u64 {
        // gfp_zone(): __GFP_HIGHMEM with __GFP_MOVABLE is ZONE_MOVABLE.
        if r.target != crate::mm::memcontrol::ROOT_MEMCG {
            // cgroup reclaim counts no allocation stall.
        } else if r.sc.gfp.contains(Gfp::HIGHMEM | Gfp::MOVABLE) {
            self.vmstat.allocstall_movable += 1;
        } else {
            self.vmstat.allocstall_normal += 1;
        }
        loop {
            loop {
                r.sc.nr_scanned = 0;
                self.shrink_node(r);
                // shrink_zones()' end: the task may now sleep, which ends its reclaim here.
                if self.consider_reclaim_throttle(r) {
                    return r.sc.nr_reclaimed;
                }
                if r.sc.nr_reclaimed >= r.nr_to_reclaim {
                    break;
                }
                if r.priority < DEF_PRIORITY - 2 {
                    r.sc.may_writepage = true;
                }
                r.priority -= 1;
                if r.priority < 0 {
                    break;
                }
            }
            self.snapshot_refaults();
            if r.sc.nr_reclaimed > 0 {
                return r.sc.nr_reclaimed;
            }
            r.priority = DEF_PRIORITY;
            if r.skipped_deactivate {
                r.force_deactivate = true;
                r.skipped_deactivate = false;
            } else if r.memcg_low_skipped {
                r.force_deactivate = false;
                r.memcg_low_reclaim = true;
                r.memcg_low_skipped = false;
            } else {
                return 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mm::memcontrol::ROOT_MEMCG;
    use crate::uapi::*;
    use crate::Config;

    /// A 64M machine with one process that has written `pages` anonymous pages, all on the
    /// inactive anon list.
    fn with_anon(pages: u64) -> Kernel {
        let mut k = Kernel::new(Config {
            memory_bytes: 64 << 20,
            ..Config::default()
        });
        let t = k.spawn_process(0).unwrap();
        let len = pages * 4096;
        let flags = MAP_PRIVATE | MAP_ANONYMOUS;
        let a = k
            .mmap(t, 0, len, PROT_READ | PROT_WRITE, flags, -1, 0)
            .unwrap();
        k.memset(t, a, 1, len).unwrap();
        k.lru_add_drain_all();
        k
    }

    #[test]
    fn without_swap_only_the_file_lists_are_scanned() {
        let k = with_anon(1024);
        let mut r = Reclaim::new(Gfp::KERNEL, 0, SWAP_CLUSTER_MAX, false);
        assert_eq!(k.lru.lruvec.nr_pages(LruList::InactiveAnon), 1024);
        assert_eq!(
            k.get_scan_count(ROOT_MEMCG, &mut r),
            [0; 4],
            "SCAN_FILE: anon targets are zero"
        );
        r.priority = 0;
        assert_eq!(
            k.get_scan_count(ROOT_MEMCG, &mut r),
            [0; 4],
            "even at priority 0"
        );
        assert_eq!(k.zone_reclaimable_pages(), 0);
    }

    #[test]
    fn with_swap_anon_is_scanned_by_swappiness_against_file() {
        let mut k = with_anon(1024);
        k.create_zram("zram0", 64 << 20).unwrap();
        k.swapon(0, "zram0", 0).unwrap();
        let mut r = Reclaim::new(Gfp::KERNEL, 0, SWAP_CLUSTER_MAX, false);
        r.priority = 2;
        // SCAN_FRACT with no costs yet: 60 against 140 of 256 pages.
        assert_eq!(k.get_scan_count(ROOT_MEMCG, &mut r), [76, 0, 0, 0]);
        // Anon pages written out cost: 100 pages tilt it further towards file.
        k.lru_note_cost(false, 100);
        r.anon_cost = k.pgdat.anon_cost;
        assert_eq!(k.get_scan_count(ROOT_MEMCG, &mut r), [45, 0, 0, 0]);
        k.lru_note_cost(false, 200);
        assert_eq!(
            k.pgdat.anon_cost, 150,
            "past a quarter of the LRU both halve"
        );
        r.anon_cost = 0;
        k.pgdat.swappiness = 200;
        assert_eq!(k.get_scan_count(ROOT_MEMCG, &mut r), [256, 0, 0, 0]);
        r.priority = 0;
        k.pgdat.swappiness = 1;
        assert_eq!(
            k.get_scan_count(ROOT_MEMCG, &mut r),
            [1024, 0, 0, 0],
            "SCAN_EQUAL at priority 0"
        );
        r.may_swap = false;
        assert_eq!(k.get_scan_count(ROOT_MEMCG, &mut r), [0; 4]);
        assert_eq!(k.zone_reclaimable_pages(), 1024);
    }

    #[test]
    fn shrink_active_list_deactivates_referenced_anon_pages_too() {
        let mut k = with_anon(64);
        let list: Vec<Folio> = k
            .lru
            .lruvec
            .oldest_first(&k.pages, LruList::InactiveAnon)
            .collect();
        for &f in &list {
            k.lru.lruvec.del(&mut k.pages, f);
            k.pages.folio_set(f, PageFlags::ACTIVE);
            k.lru.lruvec.add(&mut k.pages, f);
        }
        assert!(k.inactive_is_low(ROOT_MEMCG, LruList::InactiveAnon));
        let sc = Reclaim::new(Gfp::KERNEL, 0, SWAP_CLUSTER_MAX, true).sc;
        // The pages were just written: their PTEs are young, but anon is never kept active.
        k.shrink_active_list(ROOT_MEMCG, SWAP_CLUSTER_MAX, LruList::ActiveAnon, &sc);
        assert_eq!(k.vmstat.pgrefill, 32);
        assert_eq!(k.vmstat.pgdeactivate, 32);
        assert_eq!(k.lru.lruvec.nr_pages(LruList::ActiveAnon), 32);
        let inactive: Vec<Folio> = k
            .lru
            .lruvec
            .oldest_first(&k.pages, LruList::InactiveAnon)
            .collect();
        assert_eq!(inactive, list[..32], "the oldest 32, in their order");
        assert!(inactive.iter().all(|&f| {
            k.pages.folio_test(f, PageFlags::WORKINGSET) && k.pages.folio_test(f, PageFlags::LRU)
        }));
        assert!(
            !k.inactive_is_low(ROOT_MEMCG, LruList::InactiveAnon),
            "32 × 1 is not < 32"
        );
    }
}
