//! mm/khugepaged.c: the khugepaged kernel thread and the collapse of PTE-mapped ranges into
//! THPs, for anonymous memory and shmem files.
//!
//! Two ways in. The thread itself (khugepaged(), run by `Kernel::advance_time` when its sleep
//! ends): each pass (khugepaged_do_scan()) scans the registered mms from where the last pass
//! stopped, up to khugepaged/pages_to_scan, and collapses each range whose scan succeeds;
//! then it sleeps khugepaged/scan_sleep_millisecs. And explicit steps a scenario runs itself,
//! to replay races: the scan of one PMD range under the mmap read lock (khugepaged_scan_pmd),
//! then the collapse under the mmap write lock (collapse_huge_page), which revalidates
//! everything the scan saw; between the two a scenario may change the address space, as a
//! racing task could.

use crate::errno::SysResult;
use crate::fs::kernfs::Attr;
use crate::kernel::Kernel;
use crate::kthread::Kthread;
use crate::mm::hugetlb::{HPAGE_NR, HPAGE_SIZE};
use crate::mm::vma::{vm::*, Backing, Vma};
use crate::mm::MmId;
use std::collections::BTreeSet;
use std::ops::ControlFlow;

use crate::mm::pagewalk::{walk_page_range, MmWalk, PmdAction};
use crate::page::alloc::ZERO_PFN;
use crate::page::{Folio, Gfp, PageFlags, Pfn};
use crate::pgtable::pmd::{Pmd, PmdKind};
use crate::pgtable::pte::{Pte, PteKind};
use crate::pgtable::table::{self, PmdSlot, PteSlot};
use crate::time::{jiffies_to_ns, msecs_to_jiffies};
use crate::trace::Event;

/// enum scan_result (5.19), in the kernel's order: the value the scan and collapse report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ScanResult {
    Fail,
    Succeed,
    PmdNull,
    ExceedNonePte,
    ExceedSwapPte,
    ExceedSharedPte,
    PteNonPresent,
    PteUffdWp,
    PageRo,
    LackReferencedPage,
    PageNull,
    ScanAbort,
    PageCount,
    PageLru,
    PageLock,
    PageAnon,
    PageCompound,
    AnyProcess,
    VmaNull,
    VmaCheck,
    AddressRange,
    SwapCachePage,
    DelPageLru,
    AllocHugePageFail,
    CgroupChargeFail,
    Truncated,
    PageHasPrivate,
}

impl ScanResult {
    /// Every result with the name the mm_khugepaged_scan_pmd tracepoint prints.
    pub const ALL: &'static [(ScanResult, &'static str)] = &[
        (ScanResult::Fail, "SCAN_FAIL"),
        (ScanResult::Succeed, "SCAN_SUCCEED"),
        (ScanResult::PmdNull, "SCAN_PMD_NULL"),
        (ScanResult::ExceedNonePte, "SCAN_EXCEED_NONE_PTE"),
        (ScanResult::ExceedSwapPte, "SCAN_EXCEED_SWAP_PTE"),
        (ScanResult::ExceedSharedPte, "SCAN_EXCEED_SHARED_PTE"),
        (ScanResult::PteNonPresent, "SCAN_PTE_NON_PRESENT"),
        (ScanResult::PteUffdWp, "SCAN_PTE_UFFD_WP"),
        (ScanResult::PageRo, "SCAN_PAGE_RO"),
        (ScanResult::LackReferencedPage, "SCAN_LACK_REFERENCED_PAGE"),
        (ScanResult::PageNull, "SCAN_PAGE_NULL"),
        (ScanResult::ScanAbort, "SCAN_SCAN_ABORT"),
        (ScanResult::PageCount, "SCAN_PAGE_COUNT"),
        (ScanResult::PageLru, "SCAN_PAGE_LRU"),
        (ScanResult::PageLock, "SCAN_PAGE_LOCK"),
        (ScanResult::PageAnon, "SCAN_PAGE_ANON"),
        (ScanResult::PageCompound, "SCAN_PAGE_COMPOUND"),
        (ScanResult::AnyProcess, "SCAN_ANY_PROCESS"),
        (ScanResult::VmaNull, "SCAN_VMA_NULL"),
        (ScanResult::VmaCheck, "SCAN_VMA_CHECK"),
        (ScanResult::AddressRange, "SCAN_ADDRESS_RANGE"),
        (ScanResult::SwapCachePage, "SCAN_SWAP_CACHE_PAGE"),
        (ScanResult::DelPageLru, "SCAN_DEL_PAGE_LRU"),
        (ScanResult::AllocHugePageFail, "SCAN_ALLOC_HUGE_PAGE_FAIL"),
        (ScanResult::CgroupChargeFail, "SCAN_CGROUP_CHARGE_FAIL"),
        (ScanResult::Truncated, "SCAN_TRUNCATED"),
        (ScanResult::PageHasPrivate, "SCAN_PAGE_HAS_PRIVATE"),
    ];

    /// The tracepoint's name for this result.
    pub fn name(self) -> &'static str {
        Self::ALL[self as usize].1
    }
}

/// One registered address space (struct mm_slot).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct MmSlot {
    mm: MmId,
    /// The mm exited while this slot was the scan cursor (__khugepaged_exit() leaves that
    /// slot to khugepaged): khugepaged_test_exit() is true and collect_mm_slot() frees it.
    /// The MmId may already name a new mm.
    exited: bool,
}

/// khugepaged_scan and its list (khugepaged_mm_lock): the registered mms in the order they
/// were registered, where the scan stands, and whether __khugepaged_enter() woke the thread.
/// Invariants: `cursor` indexes `slots`; only the cursor's slot can be `exited`.
#[derive(Debug, Default)]
pub struct MmSlots {
    slots: Vec<MmSlot>,
    /// khugepaged_scan.mm_slot.
    cursor: Option<usize>,
    /// khugepaged_scan.address: the next address to scan in the cursor's mm.
    address: u64,
    /// __khugepaged_enter() found the list empty and called wake_up_interruptible(): the
    /// thread, if it waits for work, runs at the next chance (`Kernel::khugepaged_wakeups`).
    enter_woke: bool,
}

impl MmSlots {
    /// MMF_VM_HUGEPAGE: is the live mm `mm` registered?
    pub(crate) fn contains(&self, mm: &MmId) -> bool {
        self.slots.iter().any(|s| s.mm == *mm && !s.exited)
    }

    /// __khugepaged_enter(): register `mm` at the tail of the list (behind the cursor, "to let
    /// the area settle down a little"), waking khugepaged if the list was empty. False if it
    /// was registered already.
    pub(crate) fn insert(&mut self, mm: MmId) -> bool {
        if self.contains(&mm) {
            return false;
        }
        self.enter_woke |= self.slots.is_empty();
        self.slots.push(MmSlot { mm, exited: false });
        true
    }

    /// __khugepaged_exit(): a slot khugepaged is not scanning goes at once; the cursor's slot
    /// stays for khugepaged to collect.
    fn exit(&mut self, mm: MmId) {
        let Some(i) = self.slots.iter().position(|s| s.mm == mm && !s.exited) else {
            return;
        };
        if self.cursor == Some(i) {
            self.slots[i].exited = true;
            return;
        }
        self.slots.remove(i);
        if let Some(c) = self.cursor.as_mut() {
            if *c > i {
                *c -= 1;
            }
        }
    }

    /// list_empty(&khugepaged_scan.mm_head).
    pub(crate) fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// collect_mm_slot() on the slot at `i` (no longer the cursor): freed if its mm exited.
    fn collect(&mut self, i: usize) {
        if self.slots[i].exited {
            self.slots.remove(i);
            if let Some(c) = self.cursor.as_mut() {
                if *c > i {
                    *c -= 1;
                }
            }
        }
    }
}

/// Where the khugepaged thread is, while it runs (kthreads::Kthreads says whether it does).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KhugepagedState {
    /// About to start khugepaged_do_scan(): just created (kthread_run()) or woken.
    Scan,
    /// khugepaged_wait_work() with work: asleep until jiffies reaches khugepaged_sleep_expire.
    ScanSleep,
    /// khugepaged_wait_work() without work: asleep until an mm registers.
    WaitWork,
    /// khugepaged_alloc_sleep() inside a pass after a failed allocation: the pass resumes when
    /// jiffies reaches `until` or someone wakes khugepaged_wait.
    AllocSleep { until: u64, pass: Pass },
}

/// The locals of one khugepaged_do_scan() pass, kept across its allocation sleep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Pass {
    /// khugepaged_pages_to_scan as the pass began.
    pages: u64,
    progress: u64,
    pass_through_head: u32,
    /// `wait`: the pass may still sleep once after a failed allocation.
    wait: bool,
    /// `hpage` is ERR_PTR(-ENOMEM): the last huge page allocation failed.
    alloc_failed: bool,
}

/// What the last scan of a shmem range saw of the file's mappings of it: the VMAs (by mm
/// and the address of the range in them) registered for uffd-wp at that moment. Only the
/// model's race replay reads it: with khugepaged_uffd_wp_check off, the VM_UFFD_WP test is
/// made where "mm/khugepaged: don't recycle vma pgtable if uffd-wp registered" says it would
/// race, before the mmap write lock (here, when the range is scanned), and
/// retract_page_tables() trusts that answer instead of looking again under the lock.
#[derive(Debug)]
struct FileScan {
    ino: usize,
    pgoff: u64,
    uffd_wp: Vec<(MmId, u64)>,
}

/// khugepaged's own state: the mms it scans (mm_slots), its thread and its sysfs counters.
#[derive(Debug)]
pub struct Khugepaged {
    /// Registered address spaces (MMF_VM_HUGEPAGE) and the scan cursor.
    pub mm_slots: MmSlots,
    /// The uffd-wp VMAs the last shmem scan saw, kept with khugepaged_uffd_wp_check off.
    file_scan: Option<FileScan>,
    /// khugepaged/pages_collapsed.
    pub pages_collapsed: u64,
    /// khugepaged/full_scans: passes over the whole list.
    pub full_scans: u64,
    /// khugepaged_sleep_expire, in jiffies.
    sleep_expire: u64,
    state: KhugepagedState,
}

impl Default for Khugepaged {
    /// As after boot: hugepage_init() started the thread, whose first pass found no mm.
    fn default() -> Self {
        Khugepaged {
            mm_slots: MmSlots::default(),
            file_scan: None,
            pages_collapsed: 0,
            full_scans: 0,
            sleep_expire: 0,
            state: KhugepagedState::WaitWork,
        }
    }
}

/// khugepaged_attr: the files of /sys/kernel/mm/transparent_hugepage/khugepaged/.
pub(crate) static KHUGEPAGED_ATTRS: &[Attr] = &[
    Attr::rw("defrag", show_knob, store_knob),
    Attr::rw("max_ptes_none", show_knob, store_knob),
    Attr::rw("max_ptes_swap", show_knob, store_knob),
    Attr::rw("max_ptes_shared", show_knob, store_knob),
    Attr::rw("pages_to_scan", show_knob, store_knob),
    Attr::ro("pages_collapsed", |k, _| {
        format!("{}\n", k.khugepaged.pages_collapsed)
    }),
    Attr::ro("full_scans", |k, _| {
        format!("{}\n", k.khugepaged.full_scans)
    }),
    Attr::rw("scan_sleep_millisecs", show_knob, store_sleep),
    Attr::rw("alloc_sleep_millisecs", show_knob, store_sleep),
];

/// The knob a file of this directory shows, as ThpKnobs names it.
fn knob(a: &Attr) -> String {
    format!("khugepaged/{}", a.name)
}

/// The show handler of a khugepaged knob.
fn show_knob(k: &Kernel, a: &Attr) -> String {
    let v = k.thp.knobs.read(&knob(a)).expect("a registered knob");
    format!("{v}\n")
}

/// The store handler of a knob whose store only sets it.
fn store_knob(k: &mut Kernel, a: &Attr, val: &str) -> SysResult<()> {
    k.thp.knobs.write(&knob(a), val)
}

/// scan_sleep_millisecs_store() / alloc_sleep_millisecs_store(): set the value, expire the
/// current sleep (khugepaged_sleep_expire = 0) and wake the thread, which so runs a pass at
/// once and then sleeps the new time.
fn store_sleep(k: &mut Kernel, a: &Attr, val: &str) -> SysResult<()> {
    k.thp.knobs.write(&knob(a), val)?;
    k.khugepaged.sleep_expire = 0;
    k.khugepaged_wake();
    Ok(())
}

impl Kernel {
    /// khugepaged_enabled(): THP `enabled` is always or madvise; the thread runs.
    pub(crate) fn khugepaged_enabled(&self) -> bool {
        let k = &self.thp.knobs;
        k.always() || k.madvise()
    }

    /// khugepaged_enter(): register the mm the first time one of its VMAs could use THP.
    pub(crate) fn khugepaged_enter(&mut self, mm: MmId) {
        if self.khugepaged_enabled() {
            self.khugepaged.mm_slots.insert(mm);
        }
    }

    /// khugepaged_fork(): the child of a registered mm is registered too (it inherits
    /// MMF_VM_HUGEPAGE), whether or not khugepaged runs.
    pub(crate) fn khugepaged_fork(&mut self, child: MmId, parent: MmId) {
        if self.khugepaged.mm_slots.contains(&parent) {
            self.khugepaged.mm_slots.insert(child);
        }
    }

    /// khugepaged_enter_vma() (mmap_region(), vma_merge(), stack expansion,
    /// hugepage_madvise()): register the mm if khugepaged runs, the VMA spans an aligned
    /// 2 MiB range and hugepage_vma_check() accepts it with `vm_flags` (madvise passes the
    /// flags the VMA is about to get).
    pub(crate) fn khugepaged_enter_vma(&mut self, mm: MmId, vma: &Vma, vm_flags: u64) {
        let spans_pmd = vma.start.next_multiple_of(HPAGE_SIZE) < vma.end & !(HPAGE_SIZE - 1);
        if self.khugepaged_enabled() && spans_pmd && self.khugepaged_vma_check(vma, vm_flags) {
            self.khugepaged.mm_slots.insert(mm);
        }
    }

    /// khugepaged_exit(): the mm is gone.
    pub(crate) fn khugepaged_exit(&mut self, mm: MmId) {
        self.khugepaged.mm_slots.exit(mm);
    }

    // ---- the thread ----

    /// The thread as `enabled` says it should be: a knob write that bypassed enabled_store()
    /// (a scenario header sets the knob directly) takes effect here, as that store would have.
    pub(crate) fn khugepaged_sync_thread(&mut self) {
        if self.kthreads.is_running(Kthread::Khugepaged) != self.khugepaged_enabled() {
            self.start_stop_khugepaged();
        }
    }

    /// start_stop_khugepaged() (enabled_store()): the thread runs while `enabled` is always
    /// or madvise. A new thread starts with a pass; a running one is woken when there are mms
    /// to scan. A stopped thread drops the scan cursor (the end of khugepaged()).
    pub(crate) fn start_stop_khugepaged(&mut self) {
        if self.khugepaged_enabled() {
            if self.kthreads.kthread_run(Kthread::Khugepaged) {
                self.khugepaged.state = KhugepagedState::Scan;
            }
            if !self.khugepaged.mm_slots.is_empty() {
                self.khugepaged_wake();
            }
        } else if self.kthreads.kthread_stop(Kthread::Khugepaged) {
            let slots = &mut self.khugepaged.mm_slots;
            if let Some(i) = slots.cursor.take() {
                slots.collect(i);
            }
        }
        self.set_recommended_min_free_kbytes();
    }

    /// wake_up_interruptible(&khugepaged_wait): each sleep ends if its condition now holds
    /// (wait_event re-checks it): the scan sleep once khugepaged_sleep_expire has passed, the
    /// wait for work once there is an mm; the allocation sleep ends regardless.
    fn khugepaged_wake(&mut self) {
        let k = &mut self.khugepaged;
        k.state = match k.state {
            KhugepagedState::ScanSleep if self.clock.jiffies() >= k.sleep_expire => {
                KhugepagedState::Scan
            }
            KhugepagedState::WaitWork if !k.mm_slots.is_empty() => KhugepagedState::Scan,
            KhugepagedState::AllocSleep { pass, .. } => KhugepagedState::AllocSleep {
                until: self.clock.jiffies(),
                pass,
            },
            s => s,
        };
    }

    /// Deliver the wake-up __khugepaged_enter() gave when it filled the empty list (the list
    /// cannot reach the thread itself): at that moment the wait for work's condition held.
    pub(crate) fn khugepaged_wakeups(&mut self) {
        if std::mem::take(&mut self.khugepaged.mm_slots.enter_woke)
            && self.kthreads.is_running(Kthread::Khugepaged)
        {
            let k = &mut self.khugepaged;
            k.state = match k.state {
                KhugepagedState::WaitWork => KhugepagedState::Scan,
                KhugepagedState::AllocSleep { pass, .. } => KhugepagedState::AllocSleep {
                    until: self.clock.jiffies(),
                    pass,
                },
                s => s,
            };
        }
    }

    /// When the thread next runs (ns since boot), or None while it waits for an event.
    pub(crate) fn khugepaged_due(&self) -> Option<u64> {
        let now = self.clock.now_ns();
        match self.khugepaged.state {
            KhugepagedState::Scan => Some(now),
            KhugepagedState::ScanSleep => Some(jiffies_to_ns(self.khugepaged.sleep_expire)),
            KhugepagedState::AllocSleep { until, .. } => Some(jiffies_to_ns(until)),
            KhugepagedState::WaitWork => None,
        }
        .map(|t| t.max(now))
    }

    /// khugepaged(): the thread runs once: a pass of khugepaged_do_scan() (or the rest of one
    /// after its allocation sleep), then khugepaged_wait_work().
    pub(crate) fn khugepaged_run(&mut self) {
        let suspended = match self.khugepaged.state {
            // The scan sleep ended (khugepaged_should_wakeup()) or the thread was woken.
            KhugepagedState::Scan | KhugepagedState::ScanSleep => {
                self.lru_add_drain_all();
                let pass = Pass {
                    pages: self.thp.knobs.pages_to_scan,
                    progress: 0,
                    pass_through_head: 0,
                    wait: true,
                    alloc_failed: false,
                };
                self.khugepaged_do_scan(pass, false)
            }
            KhugepagedState::AllocSleep { pass, .. } => self.khugepaged_do_scan(pass, true),
            KhugepagedState::WaitWork => unreachable!("a thread waiting for work is never due"),
        };
        self.khugepaged.state = match suspended {
            // khugepaged_alloc_sleep(): alloc_sleep_millisecs, or until woken.
            Some(pass) => KhugepagedState::AllocSleep {
                until: self.clock.jiffies()
                    + msecs_to_jiffies(self.thp.knobs.alloc_sleep_millisecs),
                pass,
            },
            None => self.khugepaged_wait_work(),
        };
    }

    /// khugepaged_do_scan(): scan mm slots until `pages` are accounted for, the list was
    /// passed through twice, or a second allocation failure; `resumed` when coming back from
    /// the allocation sleep, which returns into khugepaged_prealloc_page(). Returns the pass
    /// if it must sleep first (khugepaged_alloc_sleep()).
    fn khugepaged_do_scan(&mut self, mut pass: Pass, mut resumed: bool) -> Option<Pass> {
        while pass.progress < pass.pages {
            // khugepaged_prealloc_page(): after a failed allocation, sleep once, then give up.
            if !std::mem::take(&mut resumed) && std::mem::take(&mut pass.alloc_failed) {
                if !pass.wait {
                    break;
                }
                pass.wait = false;
                return Some(pass);
            }
            if self.khugepaged.mm_slots.cursor.is_none() {
                pass.pass_through_head += 1;
            }
            let has_work = !self.khugepaged.mm_slots.is_empty() && self.khugepaged_enabled();
            if has_work && pass.pass_through_head < 2 {
                pass.progress += self.khugepaged_scan_mm_slot(&mut pass);
            } else {
                pass.progress = pass.pages;
            }
        }
        None
    }

    /// khugepaged_wait_work(): with mms to scan, sleep scan_sleep_millisecs (a sleep of 0
    /// means the next pass at once, which the model, charging a pass no time, runs at the
    /// next tick); without, wait until one registers.
    fn khugepaged_wait_work(&mut self) -> KhugepagedState {
        let has_work = !self.khugepaged.mm_slots.is_empty() && self.khugepaged_enabled();
        if !has_work {
            return KhugepagedState::WaitWork;
        }
        let sleep = msecs_to_jiffies(self.thp.knobs.scan_sleep_millisecs).max(1);
        self.khugepaged.sleep_expire = self.clock.jiffies() + sleep;
        KhugepagedState::ScanSleep
    }

    /// khugepaged_scan_mm_slot(): continue at the cursor (or the list head) with the VMAs of
    /// its mm from khugepaged_scan.address: each VMA hugepage_vma_check() refuses counts 1,
    /// each PMD range scanned HPAGE_PMD_NR; a range whose scan succeeds is collapsed and ends
    /// the call (the mmap lock was dropped), as does reaching the budget `pass.pages -
    /// pass.progress`, and every shmem range (khugepaged_scan_file() runs without the mmap
    /// lock). When the mm has no VMA left the cursor moves to the next mm, or past the end of
    /// the list: one more full scan. Returns the progress made.
    /// Locks: mmap_read_trylock() on the mm (the model's never fails: nothing holds the mmap
    /// lock between steps).
    fn khugepaged_scan_mm_slot(&mut self, pass: &mut Pass) -> u64 {
        let budget = pass.pages - pass.progress;
        let slots = &mut self.khugepaged.mm_slots;
        let i = *slots.cursor.get_or_insert_with(|| {
            slots.address = 0;
            0
        });
        let slot = slots.slots[i];
        // khugepaged_collapse_pte_mapped_thps() has nothing queued: the model's
        // retract_page_tables() always gets the mmap lock it tries for.
        let mut progress = 1;
        let mut stopped_in_vma = false;
        let mut vma = if slot.exited {
            None
        } else {
            self.mms[slot.mm]
                .vmas
                .find(self.khugepaged.mm_slots.address)
                .map(Vma::for_fault)
        };
        'vmas: while let Some(v) = vma {
            let next = self.mms[slot.mm].vmas.find(v.end).map(Vma::for_fault);
            let hstart = v.start.next_multiple_of(HPAGE_SIZE);
            let hend = v.end & !(HPAGE_SIZE - 1);
            let address = self.khugepaged.mm_slots.address;
            if !self.khugepaged_vma_check(&v, v.flags) || hstart >= hend || address > hend {
                progress += 1;
                vma = next;
                continue;
            }
            self.khugepaged.mm_slots.address = address.max(hstart);
            while self.khugepaged.mm_slots.address < hend {
                let haddr = self.khugepaged.mm_slots.address;
                let r = self.khugepaged_scan_range(slot.mm, &v, haddr);
                let collapse = r == ScanResult::Succeed;
                if collapse
                    && self.khugepaged_collapse_traced(slot.mm, haddr)
                        == ScanResult::AllocHugePageFail
                {
                    pass.alloc_failed = true;
                }
                self.khugepaged.mm_slots.address += HPAGE_SIZE;
                progress += HPAGE_NR;
                // A file range always drops the mmap lock, a collapse does too.
                if collapse || matches!(v.backing, Backing::File(_)) || progress >= budget {
                    stopped_in_vma = true;
                    break 'vmas;
                }
            }
            vma = next;
        }
        if slot.exited || !stopped_in_vma {
            let slots = &mut self.khugepaged.mm_slots;
            if i + 1 < slots.slots.len() {
                slots.cursor = Some(i + 1);
                slots.address = 0;
            } else {
                slots.cursor = None;
                self.khugepaged.full_scans += 1;
            }
            self.khugepaged.mm_slots.collect(i);
        }
        progress
    }

    /// hugepage_vma_check(vma, vm_flags): VM_NOHUGEPAGE and the special mappings are judged
    /// by `vm_flags`; a shmem VMA qualifies when its offset is huge-page aligned with its
    /// address and shmem_huge_enabled() says yes, which reads the VMA's own flags (so
    /// MADV_HUGEPAGE on a shmem VMA under `advise` does not register the mm: the VMA has no
    /// VM_HUGEPAGE yet when hugepage_madvise() asks); an anonymous one by `enabled` and
    /// `vm_flags`, once it has an anon_vma.
    fn khugepaged_vma_check(&self, vma: &Vma, vm_flags: u64) -> bool {
        let k = &self.thp.knobs;
        if vm_flags & (VM_NOHUGEPAGE | VM_SPECIAL | VM_HUGETLB) != 0 {
            return false;
        }
        if let Backing::File(ino) = vma.backing {
            return (vma.start >> 12)
                .wrapping_sub(vma.pgoff)
                .is_multiple_of(HPAGE_NR)
                && self.shmem_is_huge(ino, Some(vma), vma.pgoff);
        }
        if !(k.always() || (k.madvise() && vm_flags & VM_HUGEPAGE != 0)) {
            return false;
        }
        vma.anon_vma.is_some() && vma.is_anonymous()
    }

    /// hugepage_vma_revalidate(): the VMA at `haddr` still covers the whole huge range and
    /// may still collapse.
    fn hugepage_vma_revalidate(&self, mm: MmId, haddr: u64) -> Result<Vma, ScanResult> {
        let vma = self.mms[mm].vmas.find(haddr).ok_or(ScanResult::VmaNull)?;
        let hstart = vma.start.next_multiple_of(HPAGE_SIZE);
        let hend = vma.end & !(HPAGE_SIZE - 1);
        if haddr < hstart || haddr + HPAGE_SIZE > hend {
            return Err(ScanResult::AddressRange);
        }
        if !self.khugepaged_vma_check(vma, vma.flags) {
            return Err(ScanResult::VmaCheck);
        }
        Ok(vma.for_fault())
    }

    /// khugepaged_scan_file(): the 512 cache slots from `start`: no THP among them, every page
    /// referenced only by the cache and its mappings, at most max_ptes_swap pages out on swap
    /// and at most max_ptes_none holes.
    fn khugepaged_scan_file(&mut self, ino: usize, start: u64) -> ScanResult {
        let swapped = self.inodes[ino]
            .i_mapping
            .swap_entries(start..start + HPAGE_NR)
            .len() as u64;
        if swapped > self.thp.knobs.max_ptes_swap {
            self.vmstat.thp_scan_exceed_swap_pte += 1;
            return ScanResult::ExceedSwapPte;
        }
        let mut present = 0;
        for (_, pfn) in self.inodes[ino].i_mapping.pages(start..start + HPAGE_NR) {
            if self.thp_head(pfn).is_some() {
                return ScanResult::PageCompound;
            }
            if !self.pages.folio_test(Folio(pfn), PageFlags::LRU) {
                return ScanResult::PageLru;
            }
            let p = self.pages.page(pfn);
            if p.refcount() != 1 + p.mapcount() {
                return ScanResult::PageCount;
            }
            present += 1;
        }
        if present < HPAGE_NR - self.thp.knobs.max_ptes_none {
            self.vmstat.thp_scan_exceed_none_pte += 1;
            return ScanResult::ExceedNonePte;
        }
        ScanResult::Succeed
    }

    /// collapse_file() for shmem, then retract_page_tables(): the pages from `start` are
    /// unmapped everywhere one by one and must then be held by the cache alone; a new THP
    /// takes their place (holes become zeroed pages, charged to the file), and every VMA that
    /// could map it with a PMD loses its now empty PTE table so the next fault does.
    fn collapse_file(&mut self, ino: usize, start: u64, new: Folio) -> ScanResult {
        // A page out on swap is read back first (shmem_getpage(SGP_NOALLOC)).
        let swapped = self.inodes[ino]
            .i_mapping
            .swap_entries(start..start + HPAGE_NR);
        for (index, _) in swapped {
            if self.shmem_getpage_gfp(ino, index, None).is_err() {
                return ScanResult::Fail;
            }
        }
        let cached: Vec<(u64, Pfn)> = self.inodes[ino]
            .i_mapping
            .pages(start..start + HPAGE_NR)
            .collect();
        if cached.is_empty() {
            return ScanResult::Truncated;
        }
        for &(_, pfn) in &cached {
            if self.thp_head(pfn).is_some() {
                return ScanResult::PageCompound;
            }
            // isolate_lru_page() fails for a page still in a per-CPU LRU batch.
            if !self.pages.folio_test(Folio(pfn), PageFlags::LRU) {
                return ScanResult::DelPageLru;
            }
            self.try_to_unmap_file(Folio(pfn));
            // page_ref_freeze(page, 3): only the page cache (and the collapse's own two
            // references, which the model does not take) may hold it.
            if self.pages.page(pfn).refcount() != 1 {
                return ScanResult::PageCount;
            }
        }
        for &(index, pfn) in &cached {
            self.phys.copy(pfn, new.page(index - start));
            self.inodes[ino].i_mapping.remove(index);
            self.vmstat.nr_shmem -= 1;
            self.put_page(pfn);
        }
        self.shmem_add_thp(ino, start, new);
        self.pages
            .folio_set(new, PageFlags::UPTODATE | PageFlags::DIRTY);
        self.folio_add_lru(new);
        self.retract_page_tables(ino, start);
        self.khugepaged.pages_collapsed += 1;
        ScanResult::Succeed
    }

    /// retract_page_tables(): free the PTE table under every VMA of the file that maps
    /// `pgoff` at a 2 MiB-aligned address with the whole 2 MiB inside it, has no anonymous
    /// (COW) pages, and is not registered for uffd-wp (its table may hold markers), which
    /// 5.19 tests under the mmap write lock (userfaultfd_wp()). With the check off, only
    /// what the scan saw counts (FileScan): a registration since then goes unnoticed.
    fn retract_page_tables(&mut self, ino: usize, pgoff: u64) {
        let uffd_wp_check = self.cfg.features.khugepaged_uffd_wp_check;
        let scanned = self
            .khugepaged
            .file_scan
            .take()
            .filter(|s| s.ino == ino && s.pgoff == pgoff)
            .map_or_else(Vec::new, |s| s.uffd_wp);
        for f in self.i_mmap_overlaps(ino, pgoff, pgoff + 1) {
            let (mm, addr) = (f.mm, f.start);
            let uffd_wp = if uffd_wp_check {
                f.flags & VM_UFFD_WP != 0
            } else {
                scanned.contains(&(mm, addr))
            };
            if f.has_anon_vma || addr % HPAGE_SIZE != 0 || f.vma_end < addr + HPAGE_SIZE || uffd_wp
            {
                continue;
            }
            // mm_find_pmd(): only a PMD that points at a PTE table.
            let Some((pmd, pte_table)) = self.mm_find_pmd(mm, addr) else {
                continue;
            };
            // collapse_file() unmapped every page; only markers can be left (and go here when
            // the uffd-wp check is off).
            debug_assert!(
                self.phys
                    .table(pte_table)
                    .iter()
                    .all(|&e| !Pte(e).is_present()),
                "collapse_file() unmapped the range"
            );
            // collapse_and_free_pmd(): pmdp_collapse_flush(), then the table goes.
            table::set_pmd(&mut self.phys, pmd, Pmd::NONE);
            self.flush_tlb_range_stride(
                mm,
                addr,
                addr + HPAGE_SIZE,
                crate::mm::hugetlb::HPAGE_SHIFT,
            );
            self.free_pgtable(pte_table);
        }
    }

    /// The address space of `tid` and the 2 MiB range holding `addr` a step works on.
    fn khugepaged_target(
        &self,
        tid: crate::sched::Tid,
        addr: u64,
    ) -> crate::SysResult<(MmId, u64)> {
        Ok((self.task(tid)?.mm, addr & !(HPAGE_SIZE - 1)))
    }

    /// The scan step for the PMD range holding `addr` in `tid`'s address space:
    /// khugepaged_scan_mm_slot()'s checks (the mm registered, the VMA fit), then
    /// khugepaged_scan_pmd() or khugepaged_scan_file().
    pub fn khugepaged_scan(
        &mut self,
        tid: crate::sched::Tid,
        addr: u64,
    ) -> crate::SysResult<ScanResult> {
        let (mm, haddr) = self.khugepaged_target(tid, addr)?;
        // khugepaged_do_scan() starts each pass with lru_add_drain_all(): the pages faulted
        // before the pass are on the LRU by the time it looks at them.
        self.lru_add_drain_all();
        if !self.khugepaged_enabled() || !self.khugepaged.mm_slots.contains(&mm) {
            return Ok(ScanResult::AnyProcess);
        }
        Ok(match self.hugepage_vma_revalidate(mm, haddr) {
            Ok(vma) => self.khugepaged_scan_range(mm, &vma, haddr),
            Err(r) => r,
        })
    }

    /// The scan of the PMD range at `haddr` of `vma`: khugepaged_scan_file() for a shmem
    /// VMA, khugepaged_scan_pmd() for an anonymous one (mm_find_pmd() first).
    fn khugepaged_scan_range(&mut self, mm: MmId, vma: &Vma, haddr: u64) -> ScanResult {
        let r = if let Backing::File(ino) = vma.backing {
            let pgoff = vma.linear_page_index(haddr);
            self.khugepaged.file_scan = (!self.cfg.features.khugepaged_uffd_wp_check)
                .then(|| self.uffd_wp_mappings(ino, pgoff));
            self.khugepaged_scan_file(ino, pgoff)
        } else {
            match self.mm_find_pmd(mm, haddr) {
                Some(_) => {
                    let r = self.scan_ptes(mm, vma, haddr);
                    self.count_scan_result(r)
                }
                None => ScanResult::PmdNull,
            }
        };
        self.trace(Event::Khugepaged {
            step: "scan",
            mm,
            addr: haddr,
            result: r.name(),
        });
        r
    }

    /// The mappings of file page `pgoff` of `ino` registered for uffd-wp now (FileScan).
    fn uffd_wp_mappings(&self, ino: usize, pgoff: u64) -> FileScan {
        let uffd_wp = self
            .i_mmap_overlaps(ino, pgoff, pgoff + 1)
            .into_iter()
            .filter(|f| f.flags & VM_UFFD_WP != 0)
            .map(|f| (f.mm, f.start))
            .collect();
        FileScan {
            ino,
            pgoff,
            uffd_wp,
        }
    }

    /// mm_find_pmd(): the PMD slot of `addr` and the PTE table it points at, if it points at
    /// one.
    fn mm_find_pmd(&self, mm: MmId, addr: u64) -> Option<(PmdSlot, Pfn)> {
        let pmd = table::pmd_slot(&self.phys, self.mms[mm].pgd, addr)?;
        match table::get_pmd(&self.phys, pmd).kind() {
            PmdKind::Table(t) => Some((pmd, t)),
            PmdKind::None | PmdKind::Leaf(_) | PmdKind::Swp(..) => None,
        }
    }

    /// The collapse step: collapse_huge_page() for the PMD range holding `addr`, under the
    /// mmap write lock: revalidate, isolate the pages again, copy them into a new huge page
    /// and install it with the old PTE table deposited.
    pub fn khugepaged_collapse(
        &mut self,
        tid: crate::sched::Tid,
        addr: u64,
    ) -> crate::SysResult<ScanResult> {
        let (mm, haddr) = self.khugepaged_target(tid, addr)?;
        Ok(self.khugepaged_collapse_traced(mm, haddr))
    }

    /// The collapse of the range at `haddr`, with its trace event.
    fn khugepaged_collapse_traced(&mut self, mm: MmId, haddr: u64) -> ScanResult {
        let r = self.khugepaged_collapse_at(mm, haddr);
        self.trace(Event::Khugepaged {
            step: "collapse",
            mm,
            addr: haddr,
            result: r.name(),
        });
        r
    }

    /// khugepaged_alloc_page() then collapse_huge_page() or collapse_file() at `haddr`.
    fn khugepaged_collapse_at(&mut self, mm: MmId, haddr: u64) -> ScanResult {
        // alloc_hugepage_khugepaged_gfpmask() | __GFP_THISNODE; the model zeroes the page
        // so that the copy need only fill what is mapped.
        let gfp = if self.thp.knobs.khugepaged_defrag {
            Gfp::TRANSHUGE
        } else {
            Gfp::TRANSHUGE_LIGHT
        };
        let Some(new) = self.alloc_huge_folio(gfp | Gfp::THISNODE | Gfp::ZERO) else {
            self.vmstat.thp_collapse_alloc_failed += 1;
            return ScanResult::AllocHugePageFail;
        };
        self.vmstat.thp_collapse_alloc += 1;
        let result = match self.hugepage_vma_revalidate(mm, haddr) {
            Ok(vma) => match vma.backing {
                Backing::File(ino) => self.collapse_file(ino, vma.linear_page_index(haddr), new),
                Backing::Anon => self.collapse_huge_page(mm, &vma, haddr, new),
            },
            Err(r) => r,
        };
        if result != ScanResult::Succeed {
            // The preallocated page is freed (khugepaged keeps it for the next try; the
            // model does not carry it over).
            self.folio_put(new);
        }
        result
    }

    /// collapse_huge_page() once the VMA revalidated under the mmap write lock: flush the
    /// PMD, isolate the pages again, copy them into `new` and map it; the PTE table is
    /// deposited with it.
    fn collapse_huge_page(&mut self, mm: MmId, vma: &Vma, haddr: u64, new: Folio) -> ScanResult {
        // mm_find_pmd(): a PTE table must hang there (a huge or empty PMD has nothing to do).
        let Some((pmd, pgtable)) = self.mm_find_pmd(mm, haddr) else {
            return ScanResult::PmdNull;
        };
        if !self.collapse_huge_page_swapin(mm, vma, haddr, pmd) {
            return ScanResult::Fail;
        }
        // pmdp_collapse_flush(): no CPU may use the small entries while they are copied.
        let old_pmd = table::get_pmd(&self.phys, pmd);
        table::set_pmd(&mut self.phys, pmd, Pmd::NONE);
        self.flush_tlb_range_stride(
            mm,
            haddr,
            haddr + HPAGE_SIZE,
            crate::mm::hugetlb::HPAGE_SHIFT,
        );
        let isolated = self.collapse_huge_page_isolate(vma, pgtable);
        if self.count_scan_result(isolated) != ScanResult::Succeed {
            table::set_pmd(&mut self.phys, pmd, old_pmd);
            return ScanResult::Fail;
        }
        // __collapse_huge_page_copy(): each page's bytes move over, holes read as zeroes.
        for i in 0..HPAGE_NR {
            let slot = PteSlot {
                table: pgtable,
                idx: i as usize,
            };
            let pte = table::get(&self.phys, slot);
            table::set(&mut self.phys, slot, Pte::NONE);
            if pte.is_none() || pte.pfn() == ZERO_PFN {
                continue;
            }
            // The new huge entry counts all 512 pages in the RSS again.
            let src = pte.pfn();
            self.phys.copy(src, new.page(i));
            self.mms[mm].rss_anon -= 1;
            self.page_remove_rmap(src, vma.flags);
            self.free_page_and_swap_cache(src);
        }
        // The emptied PTE table is deposited with the new huge entry.
        self.thp_install_new_anon(mm, vma, haddr, new, pgtable);
        self.khugepaged.pages_collapsed += 1;
        ScanResult::Succeed
    }

    /// __collapse_huge_page_swapin(): each swap entry of the range is faulted back in
    /// (do_swap_page() with FAULT_FLAG_ALLOW_RETRY, a read: the page comes back read-only),
    /// then this CPU's LRU batch is drained so the pages hold no extra reference. False if
    /// a swap-in failed.
    fn collapse_huge_page_swapin(&mut self, mm: MmId, vma: &Vma, haddr: u64, pmd: PmdSlot) -> bool {
        let mut swapped_in = 0;
        for i in 0..HPAGE_NR {
            let address = haddr + i * crate::hw::PAGE_SIZE;
            let Some(slot) = table::pte_offset(&self.phys, pmd, address) else {
                continue;
            };
            let orig = table::get(&self.phys, slot);
            let PteKind::Swp(crate::pgtable::swp::SwpKind::Swap { typ, offset }, bits) =
                orig.kind()
            else {
                continue;
            };
            swapped_in += 1;
            let mut vmf = crate::mm::memory::Vmf::new(
                mm,
                vma.for_fault(),
                address,
                crate::mm::vm_fault::FaultFlags::ALLOW_RETRY,
            );
            (vmf.pmd, vmf.pte, vmf.orig_pte) = (Some(pmd), Some(slot), orig);
            let e = crate::pgtable::swp::SwpEntry::new(typ, offset);
            if self.do_swap_page(&mut vmf, e, bits).is_err() {
                return false;
            }
        }
        if swapped_in > 0 {
            self.lru_add_drain();
        }
        true
    }

    /// THP_SCAN_EXCEED_NONE_PTE / THP_SCAN_EXCEED_SHARED_PTE for a PTE scan that stopped there.
    fn count_scan_result(&mut self, r: ScanResult) -> ScanResult {
        match r {
            ScanResult::ExceedNonePte => self.vmstat.thp_scan_exceed_none_pte += 1,
            ScanResult::ExceedSwapPte => self.vmstat.thp_scan_exceed_swap_pte += 1,
            ScanResult::ExceedSharedPte => self.vmstat.thp_scan_exceed_share_pte += 1,
            _ => {}
        }
        r
    }

    /// khugepaged_scan_pmd(): walk the PTE table of the 2 MiB at `haddr`.
    fn scan_ptes(&mut self, mm: MmId, vma: &Vma, haddr: u64) -> ScanResult {
        let mut w = self.scan_state(vma, false);
        let _ = walk_page_range(self, mm, haddr, haddr + HPAGE_SIZE, &mut w);
        w.verdict()
    }

    /// __collapse_huge_page_isolate(): the same checks over the PTE table the collapse has
    /// detached from its PMD (pmdp_collapse_flush() came first, so this table is no longer
    /// reachable by a walk), except that uffd-wp bits are no longer looked at and each THP's
    /// references are checked once.
    fn collapse_huge_page_isolate(&self, vma: &Vma, pgtable: Pfn) -> ScanResult {
        let mut w = self.scan_state(vma, true);
        for idx in 0..HPAGE_NR as usize {
            let e = table::get(
                &self.phys,
                PteSlot {
                    table: pgtable,
                    idx,
                },
            )
            .kind();
            if let Err(r) = self.scan_pte(&mut w, e) {
                w.result = r;
                break;
            }
        }
        w.verdict()
    }

    /// A fresh scan of one PTE table.
    fn scan_state(&self, vma: &Vma, isolate: bool) -> ScanWalk {
        let k = &self.thp.knobs;
        ScanWalk {
            isolate,
            uffd_armed: vma.flags & (VM_UFFD_MISSING | VM_UFFD_WP) != 0,
            max_ptes_none: k.max_ptes_none,
            max_ptes_swap: k.max_ptes_swap,
            max_ptes_shared: k.max_ptes_shared,
            none_or_zero: 0,
            unmapped: 0,
            shared: 0,
            referenced: 0,
            writable: false,
            seen_compound: BTreeSet::new(),
            result: ScanResult::Succeed,
        }
    }

    /// One PTE of the scan, in the order khugepaged_scan_pmd() checks it, or with `isolate`
    /// in __collapse_huge_page_isolate()'s; Err ends it with that result.
    fn scan_pte(&self, w: &mut ScanWalk, e: PteKind) -> Result<(), ScanResult> {
        let pte = match e {
            PteKind::Swp(_, bits) if !w.isolate => {
                // Swapped-out entries are read back by the collapse, up to max_ptes_swap.
                w.unmapped += 1;
                if w.unmapped > w.max_ptes_swap {
                    return Err(ScanResult::ExceedSwapPte);
                }
                if bits.uffd_wp {
                    return Err(ScanResult::PteUffdWp);
                }
                return Ok(());
            }
            PteKind::None => None,
            PteKind::Present(p) if p.pfn() == ZERO_PFN => None,
            PteKind::Present(p) => Some(p),
            PteKind::Swp(..) => return Err(ScanResult::PteNonPresent),
        };
        let Some(pte) = pte else {
            w.none_or_zero += 1;
            if w.uffd_armed || w.none_or_zero > w.max_ptes_none {
                return Err(ScanResult::ExceedNonePte);
            }
            return Ok(());
        };
        if !w.isolate {
            if pte.uffd_wp() {
                return Err(ScanResult::PteUffdWp);
            }
            w.writable |= pte.write();
        }
        // vm_normal_page() is NULL for special entries.
        if pte.special() {
            return Err(ScanResult::PageNull);
        }
        let pfn = pte.pfn();
        if self.pages.page_mapcount(pfn) > 1 {
            w.shared += 1;
            if w.shared > w.max_ptes_shared {
                return Err(ScanResult::ExceedSharedPte);
            }
        }
        let f = self.pages.folio(pfn);
        let lru = self.pages.folio_test(f, PageFlags::LRU);
        let locked = self.pages.folio_test(f, PageFlags::LOCKED);
        // is_refcount_suitable(): no references beyond the mappings and the swap cache's
        // (no GUP pins).
        let cache_refs = if self.pages.folio_test(f, PageFlags::SWAPCACHE) {
            self.pages.folio_nr_pages(f) as i32
        } else {
            0
        };
        let refs_ok = self.pages.folio_ref_count(f) == self.pages.folio_mapcount(f) + cache_refs;
        if w.isolate {
            // A THP is checked and isolated once.
            let first_visit = !self.pages.folio_test_large(f) || w.seen_compound.insert(f);
            if first_visit {
                if locked {
                    return Err(ScanResult::PageLock);
                }
                if !refs_ok {
                    return Err(ScanResult::PageCount);
                }
                // isolate_lru_page() fails for a folio still in a per-CPU LRU batch.
                if !lru {
                    return Err(ScanResult::DelPageLru);
                }
            }
        } else {
            if !lru {
                return Err(ScanResult::PageLru);
            }
            if locked {
                return Err(ScanResult::PageLock);
            }
            if !self.pages.folio_test(f, PageFlags::ANON) {
                return Err(ScanResult::PageAnon);
            }
            if !refs_ok {
                return Err(ScanResult::PageCount);
            }
        }
        if pte.young()
            || self
                .pages
                .folio_test(f, PageFlags::YOUNG | PageFlags::REFERENCED)
        {
            w.referenced += 1;
        }
        if w.isolate {
            w.writable |= pte.write();
        }
        Ok(())
    }
}

/// khugepaged_scan_pmd() / __collapse_huge_page_isolate() as walker callbacks.
struct ScanWalk {
    isolate: bool,
    uffd_armed: bool,
    max_ptes_none: u64,
    max_ptes_swap: u64,
    max_ptes_shared: u64,
    none_or_zero: u64,
    unmapped: u64,
    shared: u64,
    referenced: u32,
    writable: bool,
    seen_compound: BTreeSet<Folio>,
    result: ScanResult,
}

impl ScanWalk {
    /// The scan's result once every entry passed: one writable entry needed, and one young
    /// one, or half of them young when swap entries would have to be read back.
    fn verdict(&self) -> ScanResult {
        if self.result != ScanResult::Succeed {
            self.result
        } else if !self.writable {
            ScanResult::PageRo
        } else if self.referenced == 0
            || (self.unmapped > 0 && self.referenced < HPAGE_NR as u32 / 2)
        {
            ScanResult::LackReferencedPage
        } else {
            ScanResult::Succeed
        }
    }
}

impl MmWalk for ScanWalk {
    fn pmd_entry(
        &mut self,
        _k: &mut Kernel,
        _addr: u64,
        _next: u64,
        _slot: PmdSlot,
        e: PmdKind,
    ) -> ControlFlow<(), PmdAction> {
        match e {
            PmdKind::Table(_) => ControlFlow::Continue(PmdAction::Descend),
            PmdKind::None | PmdKind::Leaf(_) | PmdKind::Swp(..) => {
                self.result = ScanResult::PmdNull;
                ControlFlow::Break(())
            }
        }
    }

    fn pte_entry(
        &mut self,
        k: &mut Kernel,
        _addr: u64,
        _slot: PteSlot,
        e: PteKind,
    ) -> ControlFlow<()> {
        match k.scan_pte(self, e) {
            Ok(()) => ControlFlow::Continue(()),
            Err(r) => {
                self.result = r;
                ControlFlow::Break(())
            }
        }
    }
}
