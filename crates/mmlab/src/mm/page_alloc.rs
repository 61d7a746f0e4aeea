//! mm/page_alloc.c: the one way frames are allocated (`alloc_pages` / `alloc_folio`) and
//! the one way they go back (`free_frames`), with fail_page_alloc-style fault injection; the
//! zone's watermarks and the allocator's slow path (waking kswapd, direct reclaim, the OOM
//! killer). The model has one node with one zone, ZONE_NORMAL, holding all of `memory`: no
//! lowmem_reserve, no highatomic or CMA reserves, no watermark boost (nothing fragments).

use crate::errno::SysResult;
use crate::fs::kernfs::Attr;
use crate::fs::sysfs_input::proc_dointvec_minmax;
use crate::hw::PAGE_SIZE;
use crate::page::alloc::HPAGE_ORDER;
use crate::page::{Folio, Gfp, PageFlags, Pfn};
use crate::trace::Event;
use crate::Kernel;

/// PAGE_ALLOC_COSTLY_ORDER: larger requests give up early and never invoke the OOM killer.
pub const PAGE_ALLOC_COSTLY_ORDER: u32 = 3;
/// MAX_RECLAIM_RETRIES: reclaim rounds without progress before the allocator (or kswapd)
/// gives up.
pub const MAX_RECLAIM_RETRIES: u32 = 16;
/// pageblock_nr_pages (pageblock_order 9 on x86-64).
const PAGEBLOCK_NR_PAGES: u64 = 1 << HPAGE_ORDER;
/// MIGRATE_PCPTYPES: unmovable, movable, reclaimable.
const MIGRATE_PCPTYPES: u64 = 3;

/// enum zone_watermarks (WMARK_PROMO serves only NUMA tiering and is left out).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wmark {
    Min = 0,
    Low = 1,
    High = 2,
}

bitflags::bitflags! {
    /// ALLOC_* (mm/internal.h, 5.19 values): how hard get_page_from_freelist() may dig. The
    /// low two bits name the watermark (ALLOC_WMARK_MIN is 0).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub(crate) struct AllocFlags: u32 {
        const WMARK_LOW = 0x01;
        const WMARK_HIGH = 0x02;
        /// An OOM victim may dip into half of what remains below min.
        const OOM = 0x08;
        /// Atomic callers: a quarter below min.
        const HARDER = 0x10;
        /// __GFP_HIGH: half below min.
        const HIGH = 0x20;
        /// __GFP_KSWAPD_RECLAIM: wake kswapd in the slow path.
        const KSWAPD = 0x800;
    }
}

impl AllocFlags {
    /// alloc_flags & ALLOC_WMARK_MASK: the watermark the request must stay above.
    fn wmark(self) -> Wmark {
        match self.bits() & 3 {
            0 => Wmark::Min,
            1 => Wmark::Low,
            _ => Wmark::High,
        }
    }
}

/// The model's one zone: its watermarks, in pages, and the sysctls that place them.
#[derive(Clone, Debug)]
pub struct Zone {
    /// zone->_watermark[].
    watermark: [u64; 3],
    /// vm.min_free_kbytes.
    pub min_free_kbytes: i32,
    /// user_min_free_kbytes: what was last written to the sysctl, -1 before any write.
    user_min_free_kbytes: i32,
    /// vm.watermark_scale_factor, in 1/10000 of the zone.
    pub watermark_scale_factor: i32,
}

impl Default for Zone {
    fn default() -> Self {
        Zone {
            watermark: [0; 3],
            min_free_kbytes: 1024,
            user_min_free_kbytes: -1,
            watermark_scale_factor: 10,
        }
    }
}

impl Zone {
    /// min_wmark_pages() / low_wmark_pages() / high_wmark_pages().
    pub fn wmark_pages(&self, w: Wmark) -> u64 {
        self.watermark[w as usize]
    }
}

/// int_sqrt(): the integer square root, rounded down.
pub fn int_sqrt(x: u64) -> u64 {
    let mut r = (x as f64).sqrt() as u64;
    while r * r > x {
        r -= 1;
    }
    while (r + 1) * (r + 1) <= x {
        r += 1;
    }
    r
}

/// vm_table's entries (kernel/sysctl.c) for the watermarks and reclaim, under /proc/sys/vm.
pub(crate) static RECLAIM_SYSCTLS: &[Attr] = &[
    Attr::rw(
        "min_free_kbytes",
        |k, _| format!("{}\n", k.zone.min_free_kbytes),
        min_free_kbytes_sysctl_handler,
    ),
    Attr::rw(
        "watermark_scale_factor",
        |k, _| format!("{}\n", k.zone.watermark_scale_factor),
        watermark_scale_factor_sysctl_handler,
    ),
    Attr::rw(
        "swappiness",
        |k, _| format!("{}\n", k.pgdat.swappiness),
        swappiness_sysctl,
    ),
];

/// min_free_kbytes_sysctl_handler(): proc_dointvec_minmax() with a floor of 0, then the
/// value is the user's and the watermarks move.
fn min_free_kbytes_sysctl_handler(k: &mut Kernel, _: &Attr, val: &str) -> SysResult<()> {
    let v = proc_dointvec_minmax(val, 0, i32::MAX)?;
    k.zone.min_free_kbytes = v;
    k.zone.user_min_free_kbytes = v;
    k.setup_per_zone_wmarks();
    Ok(())
}

/// watermark_scale_factor_sysctl_handler(): 1 to 3000, then the watermarks move.
fn watermark_scale_factor_sysctl_handler(k: &mut Kernel, _: &Attr, val: &str) -> SysResult<()> {
    k.zone.watermark_scale_factor = proc_dointvec_minmax(val, 1, 3000)?;
    k.setup_per_zone_wmarks();
    Ok(())
}

/// vm.swappiness: proc_dointvec_minmax() over 0 to 200.
fn swappiness_sysctl(k: &mut Kernel, _: &Attr, val: &str) -> SysResult<()> {
    k.pgdat.swappiness = proc_dointvec_minmax(val, 0, 200)? as u64;
    Ok(())
}

/// Fault injection for the page allocator (mm/fail_page_alloc.c's `interval`/`times`, counted
/// in calls): after `skip` more allocations, the next `times` ones fail. __GFP_NOFAIL
/// allocations never fail.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FailPageAlloc {
    pub skip: u64,
    pub times: u64,
    /// Allocations that were made to fail so far.
    pub injected: u64,
}

impl FailPageAlloc {
    /// should_fail_alloc_page(): does this call fail?
    fn should_fail(&mut self, gfp: Gfp) -> bool {
        if self.times == 0 || gfp.contains(Gfp::NOFAIL) {
            return false;
        }
        if self.skip > 0 {
            self.skip -= 1;
            return false;
        }
        self.times -= 1;
        self.injected += 1;
        true
    }
}

impl Kernel {
    /// Arm the allocation fault injector: the allocation after the next `skip` ones fails, and
    /// `times - 1` more after it.
    pub fn fail_page_alloc(&mut self, skip: u64, times: u64) {
        self.fail_alloc = FailPageAlloc {
            skip,
            times,
            injected: self.fail_alloc.injected,
        };
    }

    /// Allocations the injector made fail since the kernel started.
    pub fn injected_alloc_failures(&self) -> u64 {
        self.fail_alloc.injected
    }

    /// __alloc_pages(): `1 << order` frames, zeroed with __GFP_ZERO, made one compound page
    /// with __GFP_COMP; the head has refcount 1. The fast path takes them while the zone
    /// stays above its low watermark, else the slow path wakes kswapd, reclaims and may kill.
    /// None is a failed allocation, which each caller turns into its own error (ENOMEM,
    /// VM_FAULT_OOM, a THP fallback). An injected failure fails before either path.
    /// Locks: zone->lock (the per-CPU lists' lock for order 0).
    pub(crate) fn alloc_pages(&mut self, gfp: Gfp, order: u32) -> Option<Pfn> {
        let pfn = if self.fail_alloc.should_fail(gfp) {
            None
        } else {
            self.numa.zonelist = self.alloc_nodes(order);
            self.get_page_from_freelist(order, AllocFlags::WMARK_LOW)
                .or_else(|| self.alloc_pages_slowpath(gfp, order))
        };
        self.trace(Event::FolioAlloc {
            pfn,
            order,
            gfp: gfp.bits(),
        });
        let pfn = pfn?;
        if gfp.contains(Gfp::ZERO) {
            self.phys.clear_range(pfn, 1 << order);
        }
        if order > 0 && gfp.contains(Gfp::COMP) {
            self.pages.prep_compound(pfn, order);
        }
        Some(pfn)
    }

    /// folio_alloc() / vma_alloc_folio(): a folio of `order` (compound when large), charged
    /// to the current task's memory cgroup when it is user memory (movable) or accounted
    /// (__GFP_ACCOUNT): mem_cgroup_charge() right after the allocation, as its callers do. A
    /// refused charge frees the folio and fails the allocation.
    pub(crate) fn alloc_folio(&mut self, gfp: Gfp, order: u32) -> Option<Folio> {
        let f = self.alloc_folio_uncharged(gfp, order)?;
        if gfp.intersects(Gfp::MOVABLE | Gfp::ACCOUNT)
            && self.mem_cgroup_charge_folio(f, gfp).is_err()
        {
            self.pages.folio_ref_add(f, -1);
            self.free_frames(f);
            return None;
        }
        Some(f)
    }

    /// A folio no memory cgroup is charged for (hugetlb's pool: hugetlb_cgroup, not memcg).
    pub(crate) fn alloc_folio_uncharged(&mut self, gfp: Gfp, order: u32) -> Option<Folio> {
        let gfp = if order > 0 { gfp | Gfp::COMP } else { gfp };
        self.alloc_pages(gfp, order).map(Folio)
    }

    /// The one place frames return: free_pages_prepare() (the LRU, the contents) and
    /// __free_one_page(). The folio's references are all gone.
    /// Locks: lruvec->lru_lock if the folio is still on an LRU; zone->lock.
    pub(crate) fn free_frames(&mut self, f: Folio) {
        let order = self.pages.folio_order(f);
        debug_assert_eq!(
            self.pages.folio_ref_count(f),
            0,
            "freeing a referenced {f:?}"
        );
        if self.pages.folio_test(f, PageFlags::LRU) {
            // __page_cache_release(): off the LRU before the frames go.
            self.lru.lruvec.del(&mut self.pages, f);
        }
        self.mem_cgroup_uncharge(f);
        if self.pages.folio_test(f, PageFlags::MLOCKED) {
            // Still mlocked at the last reference (a munlock never came): cleared here.
            let nr = self.pages.folio_nr_pages(f);
            self.pages.folio_clear(f, PageFlags::MLOCKED);
            self.vmstat.nr_mlock -= nr;
            self.vmstat.unevictable_pgs_cleared += nr;
        }
        self.phys.clear_range(f.0, 1 << order);
        self.trace(Event::FolioFree { pfn: f.0, order });
        self.pages.free_block(f.0, order);
    }

    /// A THP-sized block straight from the allocator (alloc_fresh_huge_page() for the hugetlb
    /// pool, the huge zero page, a THP): a compound order-9 folio, or None.
    pub(crate) fn alloc_huge_folio(&mut self, gfp: Gfp) -> Option<Folio> {
        self.alloc_folio(gfp, HPAGE_ORDER)
    }
}

impl Kernel {
    /// __setup_per_zone_wmarks(): min is min_free_kbytes in pages (the one zone is all of
    /// lowmem), low and high each a further max(min/4, managed × scale factor / 10000).
    pub(crate) fn setup_per_zone_wmarks(&mut self) {
        let managed = self.pages.nr_total();
        let z = &mut self.zone;
        let min = z.min_free_kbytes as u64 / (PAGE_SIZE >> 10);
        let tmp = (min / 4).max(managed * z.watermark_scale_factor as u64 / 10000);
        z.watermark = [min, min + tmp, min + 2 * tmp];
    }

    /// nr_free_buffer_pages(): managed pages above the high watermark.
    fn nr_free_buffer_pages(&self) -> u64 {
        let high = self.zone.wmark_pages(Wmark::High);
        self.pages.nr_total().saturating_sub(high)
    }

    /// calculate_min_free_kbytes(): sqrt(lowmem_kbytes × 16) within [128, 262144], unless the
    /// user's value is at least that.
    fn calculate_min_free_kbytes(&mut self) {
        let lowmem_kbytes = self.nr_free_buffer_pages() * (PAGE_SIZE >> 10);
        let new = int_sqrt(lowmem_kbytes * 16) as i32;
        if new > self.zone.user_min_free_kbytes {
            self.zone.min_free_kbytes = new.clamp(128, 262144);
        }
    }

    /// init_per_zone_wmark_min() at boot, followed by hugepage_init()'s
    /// start_stop_khugepaged(), which raises min_free_kbytes for THP.
    pub(crate) fn init_per_zone_wmark_min(&mut self) {
        self.calculate_min_free_kbytes();
        self.setup_per_zone_wmarks();
        self.set_recommended_min_free_kbytes();
    }

    /// set_recommended_min_free_kbytes() (khugepaged.c, at every start_stop_khugepaged()):
    /// with khugepaged enabled, at least 2 + 3×3 pageblocks per zone up to GFP_USER's (here
    /// one), capped at 5% of lowmem; with it disabled, the boot value again.
    pub(crate) fn set_recommended_min_free_kbytes(&mut self) {
        if self.khugepaged_enabled() {
            let nr_zones = 1;
            let pages = PAGEBLOCK_NR_PAGES * nr_zones * (2 + MIGRATE_PCPTYPES * MIGRATE_PCPTYPES);
            let kb = pages.min(self.nr_free_buffer_pages() / 20) * (PAGE_SIZE >> 10);
            if kb > self.zone.min_free_kbytes as u64 {
                self.zone.min_free_kbytes = kb as i32;
            }
        } else {
            self.calculate_min_free_kbytes();
        }
        self.setup_per_zone_wmarks();
    }

    /// The zone's watermarks, in pages (/proc/zoneinfo's min, low and high).
    pub fn watermarks(&self) -> [u64; 3] {
        self.zone.watermark
    }

    /// __zone_watermark_ok(): after the allocation, would more than `mark` pages (lowered
    /// for __GFP_HIGH, atomic and OOM-victim callers) stay free? For order > 0 a free block of
    /// that order must exist as well.
    pub(crate) fn zone_watermark_ok(
        &self,
        order: u32,
        mark: u64,
        flags: AllocFlags,
        free: u64,
    ) -> bool {
        let free = free as i64 - ((1i64 << order) - 1);
        let mut min = mark as i64;
        if flags.contains(AllocFlags::HIGH) {
            min -= min / 2;
        }
        if flags.contains(AllocFlags::OOM) {
            min -= min / 2;
        } else if flags.contains(AllocFlags::HARDER) {
            min -= min / 4;
        }
        free > min && (order == 0 || self.pages.has_free_area(order))
    }

    /// get_page_from_freelist() of the one zone: rmqueue() if the zone passes the watermark
    /// `flags` name.
    fn get_page_from_freelist(&mut self, order: u32, flags: AllocFlags) -> Option<Pfn> {
        let mark = self.zone.wmark_pages(flags.wmark());
        if !self.zone_watermark_ok(order, mark, flags, self.pages.nr_free()) {
            return None;
        }
        let nodes = std::mem::take(&mut self.numa.zonelist);
        let pfn = nodes.iter().find_map(|&nid| self.pages.rmqueue(order, nid));
        self.numa.zonelist = nodes;
        pfn
    }

    /// gfp_to_alloc_flags(): the min watermark, lowered for __GFP_HIGH and for atomic
    /// requests that may not sleep.
    fn gfp_to_alloc_flags(gfp: Gfp) -> AllocFlags {
        let mut f = AllocFlags::empty();
        if gfp.contains(Gfp::HIGH) {
            f |= AllocFlags::HIGH;
        }
        if gfp.contains(Gfp::KSWAPD_RECLAIM) {
            f |= AllocFlags::KSWAPD;
        }
        if gfp.contains(Gfp::ATOMIC) && !gfp.contains(Gfp::NOMEMALLOC) {
            f |= AllocFlags::HARDER;
        }
        f
    }

    /// __alloc_pages_slowpath(), without compaction (the model's frames never fragment into
    /// something compaction could fix) and cpusets: wake kswapd, retry at min; an OOM victim
    /// may go lower; then direct reclaim and retry while should_reclaim_retry() says there is
    /// a chance; then the OOM killer, and after a kill everything again.
    fn alloc_pages_slowpath(&mut self, gfp: Gfp, order: u32) -> Option<Pfn> {
        let costly = order > PAGE_ALLOC_COSTLY_ORDER;
        let mut flags = Self::gfp_to_alloc_flags(gfp);
        let mut no_progress_loops = 0;
        if flags.contains(AllocFlags::KSWAPD) {
            self.wakeup_kswapd(gfp, order);
        }
        if let Some(p) = self.get_page_from_freelist(order, flags) {
            return Some(p);
        }
        loop {
            if flags.contains(AllocFlags::KSWAPD) {
                self.wakeup_kswapd(gfp, order);
            }
            // __gfp_pfmemalloc_flags(): oom_reserves_allowed() for a victim, whose flags
            // become ALLOC_OOM alone.
            if !gfp.contains(Gfp::NOMEMALLOC) && self.current_is_oom_victim() {
                flags = AllocFlags::OOM;
            }
            if let Some(p) = self.get_page_from_freelist(order, flags) {
                return Some(p);
            }
            if !gfp.contains(Gfp::DIRECT_RECLAIM) {
                return None;
            }
            let progress = self.try_to_free_pages(gfp, order);
            if self.current_reclaim_throttled() {
                // Asleep in reclaim_throttle(): the fault retries once the task is woken.
                return None;
            }
            if progress > 0 {
                // __alloc_pages_direct_reclaim()'s retry after reclaim.
                if let Some(p) = self.get_page_from_freelist(order, flags) {
                    return Some(p);
                }
            }
            if gfp.contains(Gfp::NORETRY) || (costly && !gfp.contains(Gfp::RETRY_MAYFAIL)) {
                return None;
            }
            if self.should_reclaim_retry(order, flags, progress > 0, &mut no_progress_loops) {
                continue;
            }
            let (page, killed) = self.alloc_pages_may_oom(gfp, order);
            if page.is_some() {
                return page;
            }
            if self.current_is_oom_victim()
                && (flags.contains(AllocFlags::OOM) || gfp.contains(Gfp::NOMEMALLOC))
            {
                return None;
            }
            if !killed {
                return None;
            }
            no_progress_loops = 0;
        }
    }

    /// should_reclaim_retry(): go on reclaiming while the last round made progress (an order
    /// above costly never counts as progress) or fewer than MAX_RECLAIM_RETRIES rounds made
    /// none, and only while free plus reclaimable pages would pass the min watermark.
    fn should_reclaim_retry(
        &mut self,
        order: u32,
        flags: AllocFlags,
        progress: bool,
        no_progress_loops: &mut u32,
    ) -> bool {
        if progress && order <= PAGE_ALLOC_COSTLY_ORDER {
            *no_progress_loops = 0;
        } else {
            *no_progress_loops += 1;
        }
        if *no_progress_loops > MAX_RECLAIM_RETRIES {
            return false;
        }
        let available = self.zone_reclaimable_pages() + self.pages.nr_free();
        let min = self.zone.wmark_pages(Wmark::Min);
        self.zone_watermark_ok(order, min, flags, available)
    }

    /// __alloc_pages_may_oom(): one last try at the high watermark (another task may have
    /// freed memory meanwhile), then out_of_memory() unless the request is costly or may
    /// fail anyway; the page, and whether the OOM killer made progress.
    fn alloc_pages_may_oom(&mut self, gfp: Gfp, order: u32) -> (Option<Pfn>, bool) {
        if let Some(p) = self.get_page_from_freelist(order, AllocFlags::WMARK_HIGH) {
            return (Some(p), false);
        }
        if order > PAGE_ALLOC_COSTLY_ORDER || gfp.intersects(Gfp::RETRY_MAYFAIL | Gfp::THISNODE) {
            return (None, false);
        }
        (None, self.out_of_memory(gfp))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;

    #[test]
    fn injected_failures_hit_the_chosen_calls_and_free_returns_frames() {
        let mut k = Kernel::new(Config::default());
        let free0 = k.pages.nr_free();
        k.fail_page_alloc(1, 2);
        let a = k.alloc_folio(Gfp::HIGHUSER_MOVABLE, 0);
        assert!(a.is_some(), "the first call is skipped");
        assert!(k.alloc_folio(Gfp::HIGHUSER_MOVABLE, 0).is_none());
        assert!(k
            .alloc_folio(Gfp::HIGHUSER_MOVABLE | Gfp::NOFAIL, 0)
            .is_some());
        assert!(k.alloc_folio(Gfp::HIGHUSER_MOVABLE, 0).is_none());
        assert!(
            k.alloc_folio(Gfp::HIGHUSER_MOVABLE, 0).is_some(),
            "times ran out"
        );
        assert_eq!(k.injected_alloc_failures(), 2);
        let thp = k.alloc_folio(Gfp::TRANSHUGE, HPAGE_ORDER).unwrap();
        assert_eq!(k.pages.folio_nr_pages(thp), 512);
        k.pages.folio_ref_add(thp, -1);
        k.free_frames(thp);
        assert_eq!(k.pages.nr_free(), free0 - 3);
    }

    fn kernel_64m() -> Kernel {
        Kernel::new(Config {
            memory_bytes: 64 << 20,
            ..Config::default()
        })
    }

    #[test]
    fn watermarks_follow_min_free_kbytes_khugepaged_and_the_sysctls() {
        let mut k = kernel_64m();
        // 16128 managed pages: sqrt(64512 kB × 16) = 1015 kB at boot, raised for khugepaged
        // to 5% of the 15749 pages above high: 787 pages.
        assert_eq!(k.zone.min_free_kbytes, 3148);
        assert_eq!(k.watermarks(), [787, 983, 1179]);
        let vm = "/proc/sys/vm";
        assert_eq!(
            k.sysfs_read(&format!("{vm}/min_free_kbytes")).unwrap(),
            "3148\n"
        );
        // khugepaged stopped: calculate_min_free_kbytes() again, now over the pages above high.
        k.sysfs_write("/sys/kernel/mm/transparent_hugepage/enabled", "never")
            .unwrap();
        assert_eq!(k.zone.min_free_kbytes, 978);
        k.sysfs_write(&format!("{vm}/min_free_kbytes"), "4096")
            .unwrap();
        assert_eq!(k.watermarks(), [1024, 1280, 1536]);
        k.sysfs_write(&format!("{vm}/watermark_scale_factor"), "1000")
            .unwrap();
        assert_eq!(
            k.watermarks(),
            [1024, 2636, 4248],
            "16128 × 1000/10000 apart"
        );
        for (file, bad) in [
            ("min_free_kbytes", "-1"),
            ("watermark_scale_factor", "0"),
            ("watermark_scale_factor", "3001"),
            ("swappiness", "201"),
            ("swappiness", "x"),
        ] {
            assert_eq!(
                k.sysfs_write(&format!("{vm}/{file}"), bad),
                Err(crate::errno::Errno::EINVAL),
                "{file} = {bad}"
            );
        }
        assert_eq!(k.sysfs_read(&format!("{vm}/swappiness")).unwrap(), "60\n");
        k.sysfs_write(&format!("{vm}/swappiness"), "200").unwrap();
        assert_eq!(k.pgdat.swappiness, 200);
        // The user's value stays when khugepaged starts again and recommends less.
        k.sysfs_write("/sys/kernel/mm/transparent_hugepage/enabled", "always")
            .unwrap();
        assert_eq!(k.zone.min_free_kbytes, 4096);
    }

    #[test]
    fn the_fast_path_keeps_low_free_and_atomic_callers_dig_deeper() {
        let mut k = kernel_64m();
        let [min, low, _] = k.watermarks();
        let kernel_only = Gfp::KERNEL & !Gfp::RECLAIM;
        while k.pages.nr_free() > low {
            k.alloc_pages(kernel_only, 0).unwrap();
        }
        assert!(k.get_page_from_freelist(0, AllocFlags::WMARK_LOW).is_none());
        // Without __GFP_KSWAPD_RECLAIM or direct reclaim the slow path only retries at min.
        while k.alloc_pages(kernel_only, 0).is_some() {}
        assert_eq!(k.pages.nr_free(), min, "free must stay above the mark");
        assert!(
            k.alloc_pages(kernel_only | Gfp::HIGH, 0).is_some(),
            "half of min"
        );
        assert_eq!(k.kswapd.state, crate::mm::kswapd::KswapdState::Sleeping);
        assert!(k
            .alloc_pages(Gfp::ATOMIC | Gfp::HIGH | Gfp::KSWAPD_RECLAIM, 0)
            .is_some());
        assert!(
            matches!(
                k.kswapd.state,
                crate::mm::kswapd::KswapdState::Runnable { .. }
            ),
            "below low, __GFP_KSWAPD_RECLAIM wakes kswapd"
        );
    }
}
