//! The invariant checker: properties that must hold after every step, as executable code.
//!
//! Each property is a [`Rule`] with one function here that checks it on one entry, VMA, mm,
//! frame or counter. `check_invariants()` walks the page tables and the frames once, hands
//! each piece to the rules about it, and reports the first rule broken.

use std::collections::HashMap;
use std::ops::ControlFlow;

use crate::fs::inode::Ino;
use crate::kernel::Kernel;
use crate::mm::hugetlb::{HPAGE_NR, HPAGE_SIZE};
use crate::mm::pagewalk::{walk_page_range, MmWalk, PmdAction};
use crate::mm::vma::{vm::*, Backing};
use crate::mm::{Mm, MmId, Vma};
use crate::page::alloc::ZERO_PFN;
use crate::page::lru::{folio_lru_list, LruList};
use crate::page::{Folio, Page, PageFlags, Pfn};
use crate::pgtable::pmd::PmdKind;
use crate::pgtable::pte::PteKind;
use crate::pgtable::swp::SwpEntry;
use crate::pgtable::swp::SwpKind;
use crate::pgtable::table::{self, PmdSlot, PteSlot};
use crate::pgtable::Pte;

/// The invariants the checker proves, one per variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rule {
    /// A PTE table deposited at an address has a huge PMD there: the split or zap of that PMD
    /// withdraws it (pgtable_trans_huge_withdraw()), and nothing else ever frees it.
    DepositedUnderHugePmd,
    /// A non-present PTE is none, a uffd-wp marker in a file VMA, a swap entry of a live
    /// device (or a swap-in error entry swapoff left) in a private VMA, or a migration entry
    /// of the folio under migration: a migration entry never outlives its migration (inside a
    /// split, or between `model.migrate_begin` and `model.migrate_end`), anonymous memory
    /// keeps uffd-wp in present or swap entries, and shmem keeps swap entries in its cache.
    NonPresentIsNoneOrMarker,
    /// Every slot's swap_map count is the number of swap PTEs naming it (SWAP_MAP_SHMEM for a
    /// shmem page-cache entry), SWAP_HAS_CACHE is set exactly for the slots a swap-cache
    /// page or a slot cache holds, each device's in-use count is its non-free slots, and a
    /// swap PTE with the exclusive bit is the slot's only reference: else a page is lost,
    /// freed twice, or written over by another one.
    SwapMapCountsReferences,
    /// A page is in the swap cache exactly when it has PG_swapcache, its private names the
    /// slot it sits in, it is swap-backed, and one a swap PTE still names is not
    /// PG_anon_exclusive: else a fault finds a stale page or two owners write one page.
    SwapCacheMatchesPages,
    /// No swap write is in flight between steps: the model completes a pass's writes when
    /// the pass ends (page_io.rs), so a page left under writeback could never be freed.
    SwapWritesCompleteWithTheirPass,
    /// Every slot of a SWP_FS_OPS swap file that something still refers to (a swap PTE or a
    /// shmem entry) has its content in a swap-cache page or in the host file (a write that
    /// completed): else a failed or unfinished write let the only copy go.
    SwapFsContentKept,
    /// A special PTE maps the zero page read-only: it is the only page mapped without a
    /// struct-page reference, and a write to it must fault and COW.
    SpecialMapsZeroPage,
    /// A present PTE maps an allocated data frame, never a free frame or a page table: else a
    /// process reads or corrupts memory it does not own.
    PresentMapsDataFrame,
    /// A writable entry is in a VM_WRITE VMA: no fault or mprotect() grants more than the
    /// VMA allows.
    WritableOnlyInWritableVma,
    /// A writable entry of a private VMA maps an anonymous page it owns (PG_anon_exclusive
    /// where the profile has it): else a write reaches a page another mm or the file sees.
    WritablePrivateIsExclusive,
    /// Without PG_anon_exclusive (5.18), a writable private PTE maps a page mapped once: the
    /// page count is what decides reuse there, and a shared page must be copied first.
    WritablePrivateMappedOnce,
    /// A PG_anon_exclusive page is mapped exactly once: the flag lets a write fault reuse the
    /// page without copying, which is safe only if nobody else maps it.
    AnonExclusiveMappedOnce,
    /// A huge PMD lies wholly inside its VMA: a split or partial unmap of the VMA splits the
    /// PMD first (split_huge_pmd_address() in vma_adjust_trans_huge()).
    HugePmdInsideVma,
    /// Anonymous huge PMDs, and only they, have a deposited PTE table: splitting one must never
    /// need memory, and x86 deposits none for file PMDs.
    DepositedIffAnonPmd,
    /// A file huge PMD is in a shmem VMA: only shmem maps file THPs with a PMD.
    FilePmdInFileVma,
    /// A file huge PMD maps the THP the page cache holds at that index: else the mapping and
    /// the file disagree on the data.
    FilePmdMapsCachedThp,
    /// A writable file huge PMD is in a shared writable VMA: a private mapping must COW before
    /// a write reaches the file's page.
    WritableFilePmdShared,
    /// The huge zero page is mapped read-only: a write must fault and COW away from it.
    HugeZeroPmdReadOnly,
    /// A huge PMD of an anonymous VMA maps the head of a THP: rmap and the counters count
    /// folios by their head.
    AnonPmdMapsThpHead,
    /// A hugetlb entry maps the head of an aligned hugetlb page, in a hugetlb VMA: the hugetlb
    /// fault and zap paths handle whole huge pages only.
    HugetlbEntryMapsHead,
    /// A VMA has a userfaultfd context exactly when it has VM_UFFD_* flags, and the context
    /// serves its mm: 5.19 BUG()s otherwise (userfaultfd_release(), handle_userfault()).
    UffdCtxMatchesFlags,
    /// A shmem VMA's inode exists: each VMA holds a reference to its file (get_file() at mmap
    /// and split), so the inode outlives its mappings.
    ShmemVmaHoldsInode,
    /// No file release fput() deferred is pending between syscalls: task_work_run() runs on
    /// every way back to user space, else a file and what it holds would outlive the call.
    TaskWorkRunOnReturn,
    /// A VMA is linked where the reverse map looks: its location is recorded, a file VMA is in
    /// its inode's i_mmap, and each anon_vma of its chain lists it (its own among them); an
    /// anon_vma or i_mmap names only live VMAs that link back. rmap_walk() trusts all of it.
    RmapLinksVmas,
    /// An anonymous page (hugetlb's too) is mapped only by VMAs whose anon_vma chain holds the
    /// page's anon_vma: else rmap_walk() misses that mapping (reclaim, migration and splits
    /// would leave it behind).
    RmapFindsMapping,
    /// MM_ANONPAGES and MM_SHMEMPAGES count the pages the mm's tables map: /proc reports them,
    /// and a mismatch is check_mm()'s "Bad rss-counter state".
    RssMatchesTables,
    /// No TLB entry grants more than its PTE or maps a frame the PTE no longer maps: else a
    /// CPU keeps access the kernel revoked (a missing flush).
    TlbNotMorePermissive,
    /// A THP's compound mapcount equals the huge PMDs that map it: rmap, split and reclaim
    /// read it.
    CompoundMapcount,
    /// A page's mapcount equals the PTEs (or hugetlb entries) that map it: rmap, reclaim and
    /// the COW reuse test read it.
    Mapcount,
    /// A page's refcount equals its mappings plus its page-cache, per-CPU LRU batch and other
    /// held references, and is not zero: more is a leak, fewer a use after free.
    Refcount,
    /// An allocated data frame holds a reference: one at zero belongs to the buddy allocator.
    AllocatedHoldsReference,
    /// Each NUMA node's free lists hold only free frames of its own span, and its free count
    /// is its never-used frames plus those lists: page_to_nid() of a frame, and so the node
    /// a folio is reported on and freed to, is the node whose memory it is.
    FramesOnTheirNode,
    /// An unreferenced hugetlb page is in the free pool: else the pool loses it.
    FreeHugetlbPageInPool,
    /// page->private holds a swap entry only while the page is in the swap cache, and a free
    /// frame keeps neither a swap entry nor a memcg charge: else a swap slot or a charge
    /// outlives its page.
    PrivateAndChargeFollowThePage,
    /// nr_huge_pages counts the hugetlb pages and the surplus lies within the pool, and the
    /// per-node counts add up to them: HugePages_* in /proc/meminfo and the nodes' hugepages
    /// files report them. (Reservations may outnumber free pages: a
    /// page that gives its reservation back on an error path goes to the page allocator when
    /// surplus pages are counted, as 5.19's free_huge_page() does.)
    HugetlbPoolAddsUp,
    /// NR_ANON_MAPPED, NR_ANON_THPS, NR_SHMEM_THPS and NR_SHMEM_PMDMAPPED count the pages and
    /// folios they name: /proc/meminfo reports them.
    VmstatMatchesPages,
    /// The deferred split queue holds only THPs: the shrinker splits what it finds there.
    DeferredSplitHoldsThps,
    /// A folio is PG_lru exactly when it is on the LRU list its flags name, and each list's
    /// page count is what its folios hold: reclaim isolates from these lists and trusts both.
    LruListsMatchFlags,
    /// Every frame in use is a page table or a data page: anything else leaked.
    NoFrameLeak,
    /// Each memcg's memory counter is the pages of the folios charged to it, its per-CPU
    /// stock and its children's counters (and v2's swap counter the slots recorded for it
    /// and its children's): else a charge was lost or uncharged twice.
    MemcgChargesMatchPages,
    /// Every reference GUP holds has a live holder: a pipe buffer (vmsplice), a registered
    /// io_uring buffer (its pins) or a model.get_page probe, and each page's pin count is its
    /// holders' pins. A process's exit closes its files, so no pin outlives what held it.
    GupRefsHaveHolders,
    /// A pinned anonymous page is PG_anon_exclusive (a THP: the head or the pinned subpage):
    /// CONFIG_DEBUG_VM's sanity_check_pinned_pages() BUG()s when an unpin finds otherwise, as
    /// fork, swap-out or KSM would then have shared a page the pin still writes to.
    PinnedAnonIsExclusive,
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

impl Rule {
    /// Ok if the rule `holds`, else the violation with `message` (built only then).
    fn check(self, holds: bool, message: impl FnOnce() -> String) -> Result<(), Violation> {
        if holds {
            Ok(())
        } else {
            Err(self.broken(message()))
        }
    }

    /// Ok unless `seen` names what breaks the rule.
    fn check_with(self, seen: Option<String>) -> Result<(), Violation> {
        seen.map_or(Ok(()), |m| Err(self.broken(m)))
    }

    /// Ok, or the violation with the message a check returned.
    fn check_result(self, r: Result<(), String>) -> Result<(), Violation> {
        r.map_err(|m| self.broken(m))
    }

    /// The violation of this rule, with what was seen.
    fn broken(self, message: String) -> Violation {
        Violation {
            rule: self,
            message,
        }
    }
}

/// A broken invariant: which rule, and what was seen.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invariant {rule} broken: {message}")]
pub struct Violation {
    pub rule: Rule,
    pub message: String,
}

/// What the walk of every page table counted, for the rules about frames.
#[derive(Default)]
struct Census {
    /// PTEs and hugetlb entries mapping each frame.
    maps: FrameRefs,
    /// Huge PMDs mapping each THP.
    pmd_maps: HashMap<Folio, i32>,
    /// Page tables: PGDs, the tables under them and the deposited ones.
    tables: u64,
    /// Swap PTEs naming each slot.
    swap: HashMap<SwpEntry, u64>,
    /// Slots named by a swap PTE with the exclusive bit.
    swap_exclusive: Vec<SwpEntry>,
}

/// A count per frame, indexed by PFN: the checker visits every frame handed out, so a dense
/// array is cheaper than hashing each one.
#[derive(Default)]
struct FrameRefs(Vec<i32>);

impl FrameRefs {
    fn add(&mut self, pfn: Pfn, n: i32) {
        let i = pfn.0 as usize;
        if i >= self.0.len() {
            self.0.resize(i + 1, 0);
        }
        self.0[i] += n;
    }

    fn get(&self, pfn: Pfn) -> i32 {
        self.0.get(pfn.0 as usize).copied().unwrap_or(0)
    }
}

/// What the pass over the frames counted, for the rules about totals.
#[derive(Default)]
struct FrameCounts {
    /// Frames holding data (neither free nor a page table).
    data: u64,
    /// hugetlb heads, free or in use.
    hugetlb: u64,
}

/// The one pass over every frame: the frame rules' verdict and the totals the rules that
/// compare counters need. Frames outnumber everything else the checker visits, so each is
/// read once; the rules still report in their own order.
struct FramePass {
    /// The rules about each frame: their counts, or the first one broken.
    frames: Result<FrameCounts, Violation>,
    vmstat: VmstatTally,
    /// Pages of the folios with PG_swapcache.
    swapcache_pages: u64,
    lru: LruTally,
}

/// The folio holding a frame, as the frame rules read it: looked up once per folio, not once
/// per page and rule (a THP's 512 pages share it).
#[derive(Clone, Copy)]
struct FolioView {
    folio: Folio,
    /// The head page's flags: the folio's.
    flags: PageFlags,
    /// The huge zero page.
    huge_zero: bool,
    /// A transparent huge page (thp_head()).
    thp: bool,
    /// Huge PMDs mapping it, for a large folio.
    compound_mapcount: i32,
}

/// The pages behind the vmstat counters [`Rule::VmstatMatchesPages`] compares.
#[derive(Default, Clone, Copy)]
struct VmstatTally {
    /// Anonymous pages mapped at all: NR_ANON_MAPPED.
    mapped: u64,
    /// PMD-mapped anonymous THPs: NR_ANON_THPS.
    thps: u64,
    /// shmem THPs in the page cache: NR_SHMEM_THPS.
    shmem_thps: u64,
    /// PMD-mapped shmem THPs: NR_SHMEM_PMDMAPPED.
    shmem_pmd: u64,
}

/// The PG_lru folios [`Rule::LruListsMatchFlags`] compares with the lists.
#[derive(Default)]
struct LruTally {
    /// Evictable folios with PG_lru.
    flagged: u64,
    /// Pages of the PG_lru | PG_unevictable folios.
    unevictable: u64,
    /// The first folio with both PG_unevictable and PG_active.
    unevictable_active: Option<Pfn>,
}

/// One mm's RSS as its page tables show it.
#[derive(Default)]
struct Rss {
    anon: i64,
    shmem: i64,
    swapents: i64,
}

impl Rss {
    fn add(&mut self, anon: bool, pages: i64) {
        if anon {
            self.anon += pages;
        } else {
            self.shmem += pages;
        }
    }
}

/// A leaf entry (PTE, huge PMD or hugetlb entry) as the rules about entries see it.
#[derive(Clone, Copy)]
struct Leaf {
    mm: MmId,
    addr: u64,
    /// The frame it maps (a huge page's head for a huge entry).
    pfn: Pfn,
    write: bool,
    /// In a private VMA.
    private: bool,
}

impl Leaf {
    fn new(mm: MmId, v: &Vma, addr: u64, e: Pte) -> Leaf {
        Leaf {
            mm,
            addr,
            pfn: e.pfn(),
            write: e.write(),
            private: v.flags & VM_SHARED == 0,
        }
    }
}

impl std::fmt::Display for Leaf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "mm {} {:#x} -> pfn {:#x}", self.mm, self.addr, self.pfn)
    }
}

/// [`Rule::PrivateAndChargeFollowThePage`] for one frame; `swapcache`: its folio is in the
/// swap cache (add_to_swap_cache() gives every page of a THP its own entry).
fn private_and_charge_follow_the_page(
    pfn: Pfn,
    page: &Page,
    swapcache: bool,
) -> Result<(), Violation> {
    let free = page.test(PageFlags::BUDDY);
    let holds =
        (page.private == 0 || swapcache) && !(free && (page.private != 0 || page.memcg != 0));
    Rule::PrivateAndChargeFollowThePage.check(holds, || {
        format!(
            "pfn {pfn:#x}: private {:#x}, memcg {}, flags {:?}",
            page.private, page.memcg, page.flags
        )
    })
}

impl Kernel {
    /// Check every invariant; the first broken one is reported.
    pub fn check_invariants(&self) -> Result<(), Violation> {
        Rule::TaskWorkRunOnReturn.check(self.task_work.is_empty(), || {
            format!("inodes {:?} still to release", self.task_work)
        })?;
        let mut census = Census::default();
        for (mm, m) in self.mms.iter() {
            census.tables += 1 + table::count_tables(&self.phys, m.pgd) + m.deposited.len() as u64;
            for &haddr in m.deposited.keys() {
                self.deposited_under_huge_pmd(mm, m, haddr)?;
            }
            let mut rss = Rss::default();
            for v in m.vmas.iter() {
                // The VMA first: its entries' rules read its inode.
                self.uffd_ctx_matches_flags(mm, v)?;
                self.shmem_vma_holds_inode(mm, v)?;
                self.rmap_links_vma(mm, v)?;
                self.check_entries(mm, v, &mut census, &mut rss)?;
            }
            self.rss_matches_tables(mm, m, &rss)?;
            self.tlb_not_more_permissive(mm, m)?;
        }
        Rule::SwapWritesCompleteWithTheirPass.check(self.swap_io_pending.is_empty(), || {
            format!(
                "{} folios still under swap writeback",
                self.swap_io_pending.len()
            )
        })?;
        let pass = self.frame_pass(&census, &self.outside_refs());
        self.swap_map_counts_references(&census, pass.swapcache_pages)?;
        self.swap_fs_content_kept()?;
        let frames = pass.frames?;
        self.hugetlb_pool_adds_up(frames.hugetlb)?;
        Rule::FramesOnTheirNode.check_with(self.pages.misplaced_free_frame())?;
        self.vmstat_matches_pages(&pass.vmstat)?;
        self.deferred_split_holds_thps()?;
        self.lru_lists_match_flags(&pass.lru)?;
        self.rmap_names_live_vmas()?;
        Rule::MemcgChargesMatchPages.check_result(self.check_memcg_charges())?;
        self.gup_refs_have_holders()?;
        self.pinned_anon_is_exclusive()?;
        self.no_frame_leak(census.tables, frames.data)
    }

    // ---- The walk: each entry handed to the rules about it. ----

    /// Every entry of one VMA, through the page-table walker.
    fn check_entries(
        &self,
        mm: MmId,
        v: &Vma,
        census: &mut Census,
        rss: &mut Rss,
    ) -> Result<(), Violation> {
        let mut w = CheckWalk {
            mm,
            v,
            census,
            rss,
            result: Ok(()),
        };
        let _ = walk_page_range(&mut &*self, mm, v.start, v.end, &mut w);
        w.result
    }

    /// One PTE of `v` at `addr`, counted in `census` and `rss` if it maps a page.
    fn check_pte(
        &self,
        mm: MmId,
        v: &Vma,
        addr: u64,
        pte: Pte,
        census: &mut Census,
        rss: &mut Rss,
    ) -> Result<(), Violation> {
        if !pte.is_present() {
            if let PteKind::Swp(SwpKind::Swap { typ, offset }, bits) = pte.kind() {
                *census.swap.entry(SwpEntry::new(typ, offset)).or_default() += 1;
                rss.swapents += 1;
                if bits.exclusive {
                    census.swap_exclusive.push(SwpEntry::new(typ, offset));
                }
            }
            if let PteKind::Swp(kind, _) = pte.kind() {
                // A migration entry stands for its page in the RSS, in the page's counter
                // (try_to_migrate_one() leaves mm_counter() alone).
                if let Some(pfn) = kind.migration_pfn() {
                    rss.add(self.folio_anon(Pfn(pfn)), 1);
                }
            }
            return self.non_present_is_none_or_marker(mm, v, addr, pte.kind());
        }
        if pte.special() {
            return self.special_maps_zero_page(mm, addr, pte);
        }
        let leaf = Leaf::new(mm, v, addr, pte);
        self.present_maps_data_frame(leaf)?;
        self.rmap_finds_mapping(v, leaf)?;
        census.maps.add(leaf.pfn, 1);
        rss.add(self.folio_anon(leaf.pfn), 1);
        self.writable_only_in_writable_vma(v, leaf)?;
        self.writable_private_is_exclusive(leaf)?;
        self.writable_private_mapped_once(leaf)?;
        self.anon_exclusive_mapped_once(leaf.pfn)
    }

    /// A huge PMD of a VMA that is not hugetlb: a THP of the page cache, an anonymous THP or
    /// the huge zero page.
    fn check_huge_pmd(
        &self,
        mm: MmId,
        v: &Vma,
        a: u64,
        e: crate::pgtable::Pmd,
        census: &mut Census,
        rss: &mut Rss,
    ) -> Result<(), Violation> {
        let leaf = Leaf::new(mm, v, a, e.as_pte());
        self.huge_pmd_inside_vma(v, leaf)?;
        let zero = self.is_huge_zero_pmd(e);
        let file = !zero && !self.folio_anon(leaf.pfn);
        self.deposited_iff_anon_pmd(leaf, file)?;
        if file {
            let ino = self.file_pmd_in_file_vma(v, leaf)?;
            self.file_pmd_maps_cached_thp(v, leaf, ino)?;
            *census.pmd_maps.entry(Folio(leaf.pfn)).or_default() += 1;
            self.writable_file_pmd_shared(v, leaf)?;
            rss.add(false, HPAGE_NR as i64);
            return Ok(());
        }
        if zero {
            return self.huge_zero_pmd_read_only(leaf);
        }
        self.anon_pmd_maps_thp_head(v, leaf)?;
        self.rmap_finds_mapping(v, leaf)?;
        *census.pmd_maps.entry(Folio(leaf.pfn)).or_default() += 1;
        self.writable_only_in_writable_vma(v, leaf)?;
        // An anonymous VMA is private: shared anonymous memory is shmem.
        self.writable_private_is_exclusive(Leaf {
            private: true,
            ..leaf
        })?;
        rss.add(true, HPAGE_NR as i64);
        Ok(())
    }

    /// One present hugetlb entry of a hugetlb VMA.
    fn check_hugetlb_entry(
        &self,
        mm: MmId,
        v: &Vma,
        a: u64,
        e: Pte,
        census: &mut Census,
    ) -> Result<(), Violation> {
        let leaf = Leaf::new(mm, v, a, e);
        self.hugetlb_entry_maps_head(v, leaf)?;
        self.rmap_finds_mapping(v, leaf)?;
        census.maps.add(leaf.pfn, 1);
        self.writable_private_is_exclusive(leaf)
    }

    /// References on each frame from outside the page tables: each inode's page cache and
    /// the swap cache hold one on each of their pages, a UFFDIO_COPY asleep on its source one
    /// on the page it copies into, the per-CPU LRU batches one per folio they hold (on its
    /// head), io_uring's and the GUP-fast probe's pins theirs, and GUP's other holders
    /// (`extra_refs`) theirs.
    fn outside_refs(&self) -> FrameRefs {
        let mut refs = FrameRefs::default();
        for (_, inode) in self.inodes.iter() {
            for (_, pfn) in inode.i_mapping.pages(..) {
                refs.add(pfn, 1);
            }
        }
        for (_, s) in self.swap_cache.iter() {
            if let crate::mm::swap_state::CacheSlot::Page(pfn) = s {
                refs.add(pfn, 1);
            }
        }
        for (_, t) in self.tasks.iter() {
            if let Some(crate::fs::userfaultfd::Restart::Copy(c)) = t.restart {
                if let Some(f) = c.page {
                    refs.add(f.pfn(), 1);
                }
            }
        }
        for f in self.lru.pvecs.iter().flat_map(|p| p.folios()) {
            refs.add(f.pfn(), 1);
        }
        for (pfn, n) in self.pin_refs() {
            refs.add(pfn, n);
        }
        for (&pfn, &n) in &self.extra_refs {
            refs.add(pfn, n);
        }
        refs
    }

    /// Every frame once: handed to the rules about frames (until one is broken) and counted
    /// for the totals.
    fn frame_pass(&self, census: &Census, outside: &FrameRefs) -> FramePass {
        let mut pass = FramePass {
            frames: Ok(FrameCounts::default()),
            vmstat: VmstatTally::default(),
            swapcache_pages: 0,
            lru: LruTally::default(),
        };
        let mut view: Option<FolioView> = None;
        for pfn in self.pages.pfns() {
            let page = self.pages.page(pfn);
            if pass.frames.is_ok() {
                if let Err(v) = self.check_frame_private(pfn, page) {
                    pass.frames = Err(v);
                }
            }
            if !page.test(PageFlags::BUDDY | PageFlags::TABLE) {
                let head = self.pages.compound_head(pfn);
                let folio = match view {
                    Some(v) if v.folio.pfn() == head => v,
                    _ => *view.insert(self.folio_view(Folio(head))),
                };
                if let Ok(counts) = &mut pass.frames {
                    if let Err(v) =
                        self.check_data_frame(pfn, page, folio, (census, outside), counts)
                    {
                        pass.frames = Err(v);
                    }
                }
                self.tally_vmstat(pfn, page, folio, &mut pass.vmstat);
            }
            // A folio's flags are on its first page.
            if page.test(PageFlags::TAIL | PageFlags::BUDDY) {
                continue;
            }
            if page.test(PageFlags::SWAPCACHE) {
                pass.swapcache_pages += self.pages.folio_nr_pages(Folio(pfn));
            }
            if !page.test(PageFlags::LRU) {
                continue;
            }
            let lru = &mut pass.lru;
            if page.test(PageFlags::UNEVICTABLE) {
                if page.test(PageFlags::ACTIVE) {
                    lru.unevictable_active.get_or_insert(pfn);
                }
                lru.unevictable += self.pages.folio_nr_pages(Folio(pfn));
            } else {
                lru.flagged += 1;
            }
        }
        pass
    }

    /// The folio with head `f`, for the frame rules.
    fn folio_view(&self, f: Folio) -> FolioView {
        let large = self.pages.folio_test_large(f);
        FolioView {
            folio: f,
            flags: self.pages.page(f.pfn()).flags,
            huge_zero: Some(f) == self.thp.huge_zero,
            thp: self.thp_head(f.pfn()) == Some(f),
            compound_mapcount: if large {
                self.pages.compound_mapcount(f.pfn())
            } else {
                0
            },
        }
    }

    /// The rule about every frame's private and charge.
    fn check_frame_private(&self, pfn: Pfn, page: &Page) -> Result<(), Violation> {
        let swapcache = page.private != 0
            && !page.test(PageFlags::BUDDY)
            && self
                .pages
                .folio_test(self.pages.folio(pfn), PageFlags::SWAPCACHE);
        private_and_charge_follow_the_page(pfn, page, swapcache)
    }

    /// One data frame (neither free nor a page table) of `folio` handed to the rules about
    /// data frames; counts the data frames and hugetlb heads.
    fn check_data_frame(
        &self,
        pfn: Pfn,
        page: &Page,
        folio: FolioView,
        (census, outside): (&Census, &FrameRefs),
        counts: &mut FrameCounts,
    ) -> Result<(), Violation> {
        counts.data += 1;
        if folio.huge_zero {
            return Ok(());
        }
        if folio.thp {
            if pfn == folio.folio.pfn() {
                self.check_thp(folio.folio, census, outside)?;
            }
            return Ok(());
        }
        if page.test(PageFlags::TAIL) {
            return Ok(());
        }
        if page.test(PageFlags::HUGETLB) {
            counts.hugetlb += 1;
            if page.refcount() == 0 {
                return self.free_hugetlb_page_in_pool(pfn);
            }
        }
        self.allocated_holds_reference(pfn)?;
        let mapped = census.maps.get(pfn);
        self.mapcount(pfn, mapped)?;
        // A reference taken through any page of a hugetlb folio is on its head.
        let held = if page.test(PageFlags::HUGETLB) {
            pfn.range(HPAGE_NR)
                .map(|p| self.held_refs(p, outside))
                .sum()
        } else {
            self.held_refs(pfn, outside)
        };
        self.refcount(pfn, mapped + held)
    }

    /// One data frame's part of the vmstat counters [`Rule::VmstatMatchesPages`] compares.
    fn tally_vmstat(&self, pfn: Pfn, p: &Page, folio: FolioView, t: &mut VmstatTally) {
        let thp_mapped = folio.thp && folio.compound_mapcount > 0;
        if folio.thp && folio.folio.pfn() == pfn {
            let pmd_mapped = thp_mapped;
            if folio.flags.intersects(PageFlags::ANON) {
                t.thps += pmd_mapped as u64;
            } else {
                // NR_SHMEM_THPS leaves with the page cache (filemap_unaccount_folio()),
                // whoever still holds the folio.
                let cached = p
                    .mapping()
                    .and_then(|m| self.inodes.get(m as usize))
                    .is_some_and(|i| i.i_mapping.page(p.index()) == Some(pfn));
                t.shmem_thps += cached as u64;
                t.shmem_pmd += pmd_mapped as u64;
            }
        }
        if folio.flags.intersects(PageFlags::ANON)
            && !folio.flags.intersects(PageFlags::HUGETLB)
            && (p.mapcount() > 0 || thp_mapped)
        {
            t.mapped += 1;
        }
    }

    /// A THP's counts: each subpage's mapcount is its PTEs, the compound mapcount its PMDs,
    /// and the head's refcount all of them plus the references held on any subpage.
    fn check_thp(&self, f: Folio, census: &Census, outside: &FrameRefs) -> Result<(), Violation> {
        let pmds = census.pmd_maps.get(&f).copied().unwrap_or(0);
        self.compound_mapcount_matches(f, pmds)?;
        let mut refs = pmds;
        for pfn in f.pfn().range(HPAGE_NR) {
            let ptes = census.maps.get(pfn);
            self.mapcount(pfn, ptes)?;
            refs += ptes + self.held_refs(pfn, outside);
        }
        self.refcount(f.pfn(), refs)
    }

    /// References from outside the page tables: the caches', batches' and pins', and the
    /// other held ones.
    fn held_refs(&self, pfn: Pfn, outside: &FrameRefs) -> i32 {
        outside.get(pfn) + self.migration_refs(pfn)
    }

    /// PageAnon() of the folio holding `pfn`.
    fn folio_anon(&self, pfn: Pfn) -> bool {
        self.pages
            .folio_test(self.pages.folio(pfn), PageFlags::ANON)
    }

    /// A private VMA's writable entry must map an anonymous page it owns: one marked
    /// PG_anon_exclusive where the profile has the flag.
    fn owns_anon(&self, pfn: Pfn) -> bool {
        self.folio_anon(pfn)
            && (self.pages.page(pfn).anon_exclusive() || !self.cfg.features.anon_exclusive)
    }
}

/// The rules, one function each, in the order of [`Rule`].
impl Kernel {
    /// [`Rule::GupRefsHaveHolders`].
    fn gup_refs_have_holders(&self) -> Result<(), Violation> {
        let mut gets: HashMap<Pfn, i32> = self.gup_pins.probe_refs.clone();
        for p in self.pipe_page_refs() {
            *gets.entry(p).or_default() += 1;
        }
        Rule::GupRefsHaveHolders.check(gets == self.extra_refs, || {
            format!("references held {:?}, by holders {gets:?}", self.extra_refs)
        })?;
        for (_, f) in self.files.iter() {
            let (pipe, ring) = match f.kind {
                crate::fs::file::FileKind::Pipe(e) => (Some(e.pipe), None),
                crate::fs::file::FileKind::IoUring(r) => (None, Some(r)),
                _ => continue,
            };
            let open = pipe.is_none_or(|p| self.pipes.contains(p))
                && ring.is_none_or(|r| self.rings.contains(r));
            Rule::GupRefsHaveHolders
                .check(open, || format!("a file names a freed {:?}", f.kind))?;
        }
        let opened = |is: &dyn Fn(&crate::fs::file::FileKind) -> bool| {
            self.files.iter().any(|(_, f)| is(&f.kind))
        };
        for (i, _) in self.pipes.iter() {
            let held = opened(&|k| matches!(k, crate::fs::file::FileKind::Pipe(e) if e.pipe == i));
            Rule::GupRefsHaveHolders.check(held, || format!("pipe {i} is open in no file"))?;
        }
        for (i, _) in self.rings.iter() {
            let held = opened(&|k| matches!(k, crate::fs::file::FileKind::IoUring(r) if *r == i));
            Rule::GupRefsHaveHolders.check(held, || format!("io_uring {i} is open in no file"))?;
        }
        Ok(())
    }

    /// The references the io_uring rings' and the GUP-fast probe's pins add to each page's
    /// count (the bias on a small page, one on a large folio).
    fn pin_refs(&self) -> HashMap<Pfn, i32> {
        let mut refs = HashMap::new();
        for p in self.ring_pins().chain(self.probe_pins()) {
            let large = self.pages.folio_test_large(self.pages.folio(p));
            let bias = if large {
                1
            } else {
                crate::mm::gup::GUP_PIN_COUNTING_BIAS
            };
            *refs.entry(p).or_default() += bias;
        }
        refs
    }

    /// [`Rule::PinnedAnonIsExclusive`] alone, for the unit tests.
    #[cfg(test)]
    pub(crate) fn pinned_anon_is_exclusive_for_test(&self) -> Result<(), Violation> {
        self.pinned_anon_is_exclusive()
    }

    /// [`Rule::PinnedAnonIsExclusive`] (only where the profile has PG_anon_exclusive).
    fn pinned_anon_is_exclusive(&self) -> Result<(), Violation> {
        if !self.cfg.features.anon_exclusive {
            return Ok(());
        }
        // A GUP-fast walk's pins are checked only once its recheck kept them.
        for pfn in self
            .ring_pins()
            .chain(self.gup_pins.fast_pins.iter().copied())
        {
            let f = self.pages.folio(pfn);
            if !self.pages.folio_test(f, PageFlags::ANON) {
                continue;
            }
            let thp =
                self.pages.folio_test_large(f) && !self.pages.folio_test(f, PageFlags::HUGETLB);
            let ok = self.pages.page(f.pfn()).anon_exclusive()
                || (thp && self.pages.page(pfn).anon_exclusive());
            Rule::PinnedAnonIsExclusive
                .check(ok, || format!("pfn {pfn:#x} is pinned but not exclusive"))?;
        }
        Ok(())
    }

    /// [`Rule::DepositedUnderHugePmd`] for the table deposited at `haddr`.
    fn deposited_under_huge_pmd(&self, mm: MmId, m: &Mm, haddr: u64) -> Result<(), Violation> {
        // A PMD migration entry keeps the table of the huge PMD it stands for.
        let huge = table::pmd_slot(&self.phys, m.pgd, haddr).is_some_and(|s| {
            let e = table::get_pmd(&self.phys, s);
            e.is_leaf() || e.is_migration_entry()
        });
        Rule::DepositedUnderHugePmd.check(huge, || format!("mm {mm} {haddr:#x}"))
    }

    /// [`Rule::NonPresentIsNoneOrMarker`].
    fn non_present_is_none_or_marker(
        &self,
        mm: MmId,
        v: &Vma,
        addr: u64,
        e: PteKind,
    ) -> Result<(), Violation> {
        let holds = match e {
            PteKind::None => true,
            PteKind::Swp(SwpKind::Marker { bits }, _) => {
                bits & crate::pgtable::swp::PTE_MARKER_UFFD_WP != 0 && !v.is_anonymous()
            }
            PteKind::Swp(SwpKind::Swap { typ, offset }, _) => {
                v.is_cow() && self.swap.device_of(SwpEntry::new(typ, offset)).is_some()
            }
            PteKind::Swp(SwpKind::SwapinError { .. }, _) => v.is_cow(),
            PteKind::Swp(kind, _) if kind.is_migration() => {
                self.under_migration(kind.migration_pfn().map(crate::page::Pfn))
            }
            PteKind::Present(_) | PteKind::Swp(..) => false,
        };
        Rule::NonPresentIsNoneOrMarker.check(holds, || format!("mm {mm} {addr:#x}: {e:?}"))
    }

    /// [`Rule::SwapFsContentKept`] over every SWP_FS_OPS device.
    fn swap_fs_content_kept(&self) -> Result<(), Violation> {
        for (typ, si) in self.swap.devices.iter().enumerate() {
            let Some(si) = si.as_ref().filter(|si| si.swap_file.is_some()) else {
                continue;
            };
            for off in 1..si.max {
                let map = si.swap_map[off as usize] & !crate::mm::swapfile::SWAP_HAS_CACHE;
                if map == 0 || map == crate::mm::swapfile::SWAP_MAP_BAD {
                    continue;
                }
                let e = SwpEntry::new(typ as u32, off);
                let holds = si.written.get(off) != 0 || self.swap_cache_page(e).is_some();
                Rule::SwapFsContentKept.check(holds, || {
                    format!("slot {typ}:{off} is referenced but neither cached nor written")
                })?;
            }
        }
        Ok(())
    }

    /// [`Rule::SwapMapCountsReferences`] over every device.
    fn swap_map_counts_references(
        &self,
        census: &Census,
        swapcache_pages: u64,
    ) -> Result<(), Violation> {
        let mut shmem: HashMap<SwpEntry, u64> = HashMap::new();
        for (_, inode) in self.inodes.iter() {
            for (_, e) in inode.i_mapping.swap_entries(0..u64::MAX) {
                *shmem.entry(e).or_default() += 1;
            }
        }
        let slot_cached = self.swap_slot_cache_entries();
        for (typ, si) in self.swap.devices.iter().enumerate() {
            let Some(si) = si else { continue };
            // The slots a PTE, shmem or a cache names, or a count continuation covers: any
            // other free slot holds every part of the rule with nothing to look up (most of a
            // device, usually).
            let mut named = vec![false; si.max as usize];
            for off in si.continued_offsets().filter(|&o| o < si.max) {
                named[off as usize] = true;
            }
            let names = census.swap.keys().chain(shmem.keys()).chain(&slot_cached);
            let cached = self.swap_cache.iter().map(|(e, _)| e);
            for e in names.copied().chain(cached) {
                if e.typ as usize == typ && e.offset < si.max {
                    named[e.offset as usize] = true;
                }
            }
            let mut inuse = 0;
            for off in 1..si.max {
                if si.swap_map[off as usize] == 0 && !named[off as usize] {
                    continue;
                }
                let e = SwpEntry::new(typ as u32, off);
                let ptes = census.swap.get(&e).copied().unwrap_or(0);
                let want = if shmem.contains_key(&e) {
                    u64::from(crate::mm::swapfile::SWAP_MAP_SHMEM)
                } else {
                    ptes
                };
                let cache = self.swap_cache_page(e).is_some() || slot_cached.contains(&e);
                let holds = si.swap_count(off) == want
                    && si.has_cache(off) == cache
                    && shmem.get(&e).copied().unwrap_or(1) == 1
                    && (shmem.contains_key(&e) as u64 + u64::from(ptes > 0)) <= 1;
                Rule::SwapMapCountsReferences.check(holds, || {
                    format!(
                        "{e:?}: map {:#x} (count {}), {ptes} swap PTEs, shmem {:?}, cache {cache}",
                        si.swap_map[off as usize],
                        si.swap_count(off),
                        shmem.get(&e)
                    )
                })?;
                inuse += u64::from(si.swap_map[off as usize] != 0);
            }
            Rule::SwapMapCountsReferences.check(inuse == si.inuse_pages, || {
                format!(
                    "swap type {typ}: {inuse} slots in use, inuse_pages {}",
                    si.inuse_pages
                )
            })?;
        }
        self.swap_cache_matches_pages(census, swapcache_pages)?;
        for e in &census.swap_exclusive {
            Rule::SwapMapCountsReferences.check(census.swap[e] == 1, || {
                format!(
                    "{e:?}: exclusive swap PTE but {} PTEs name it",
                    census.swap[e]
                )
            })?;
        }
        Ok(())
    }

    /// [`Rule::SwapCacheMatchesPages`], `flagged` the pages of the folios with PG_swapcache.
    fn swap_cache_matches_pages(&self, census: &Census, flagged: u64) -> Result<(), Violation> {
        let mut cached = 0u64;
        for (e, s) in self.swap_cache.iter() {
            let crate::mm::swap_state::CacheSlot::Page(pfn) = s else {
                continue;
            };
            cached += 1;
            let page = self.pages.page(pfn);
            let f = self.pages.folio(pfn);
            let holds = self.pages.folio_test(f, PageFlags::SWAPCACHE)
                && self.pages.folio_test(f, PageFlags::SWAPBACKED)
                && self.page_swap_entry(pfn) == e
                && !(census.swap.contains_key(&e) && page.anon_exclusive());
            Rule::SwapCacheMatchesPages.check(holds, || {
                format!(
                    "{e:?} holds {pfn:?} with flags {:?}, private {:#x}",
                    page.flags, page.private
                )
            })?;
        }
        Rule::SwapCacheMatchesPages.check(
            flagged == cached && cached == self.vmstat.nr_swapcached,
            || {
                format!(
                "{flagged} pages have PG_swapcache, the swap cache holds {cached}, NR_SWAPCACHE {}",
                self.vmstat.nr_swapcached
            )
            },
        )
    }

    /// [`Rule::SpecialMapsZeroPage`].
    fn special_maps_zero_page(&self, mm: MmId, addr: u64, pte: Pte) -> Result<(), Violation> {
        Rule::SpecialMapsZeroPage.check(pte.pfn() == ZERO_PFN && !pte.write(), || {
            format!("mm {mm} {addr:#x}: {pte:?}")
        })
    }

    /// [`Rule::PresentMapsDataFrame`].
    fn present_maps_data_frame(&self, leaf: Leaf) -> Result<(), Violation> {
        let pfn = leaf.pfn;
        let data = self.pages.valid(pfn) && {
            let page = self.pages.page(pfn);
            !page.test(PageFlags::BUDDY) && !page.test(PageFlags::TABLE)
        };
        Rule::PresentMapsDataFrame.check(data, || {
            let flags = self.pages.valid(pfn).then(|| self.pages.page(pfn).flags);
            format!("{leaf} flags {flags:#x?}")
        })
    }

    /// [`Rule::WritableOnlyInWritableVma`] for an entry of `v`.
    fn writable_only_in_writable_vma(&self, v: &Vma, leaf: Leaf) -> Result<(), Violation> {
        Rule::WritableOnlyInWritableVma.check(!leaf.write || v.flags & VM_WRITE != 0, || {
            format!("{leaf} vma flags {:#x}", v.flags)
        })
    }

    /// [`Rule::WritablePrivateIsExclusive`].
    fn writable_private_is_exclusive(&self, leaf: Leaf) -> Result<(), Violation> {
        let holds = !leaf.write || !leaf.private || self.owns_anon(leaf.pfn);
        Rule::WritablePrivateIsExclusive.check(holds, || {
            format!("{leaf} flags {:?}", self.pages.page(leaf.pfn).flags)
        })
    }

    /// [`Rule::WritablePrivateMappedOnce`] for a PTE.
    fn writable_private_mapped_once(&self, leaf: Leaf) -> Result<(), Violation> {
        let mapcount = self.pages.page(leaf.pfn).mapcount();
        let exclusive_flag = self.cfg.features.anon_exclusive;
        let holds = !leaf.write || !leaf.private || exclusive_flag || mapcount == 1;
        Rule::WritablePrivateMappedOnce.check(holds, || format!("{leaf} mapcount {mapcount}"))
    }

    /// [`Rule::AnonExclusiveMappedOnce`] for a page a PTE maps.
    fn anon_exclusive_mapped_once(&self, pfn: Pfn) -> Result<(), Violation> {
        let mapcount = self.pages.page_mapcount(pfn);
        let holds = !self.pages.page(pfn).anon_exclusive() || mapcount == 1;
        Rule::AnonExclusiveMappedOnce.check(holds, || format!("{pfn:?} mapcount {mapcount}"))
    }

    /// [`Rule::HugePmdInsideVma`].
    fn huge_pmd_inside_vma(&self, v: &Vma, leaf: Leaf) -> Result<(), Violation> {
        let inside = leaf.addr >= v.start && leaf.addr + HPAGE_SIZE <= v.end;
        Rule::HugePmdInsideVma.check(inside, || format!("{leaf} vma {:#x}-{:#x}", v.start, v.end))
    }

    /// [`Rule::DepositedIffAnonPmd`] for a huge PMD, `file` if it maps a file THP.
    fn deposited_iff_anon_pmd(&self, leaf: Leaf, file: bool) -> Result<(), Violation> {
        let deposited = self.mms[leaf.mm].deposited.contains_key(&leaf.addr);
        Rule::DepositedIffAnonPmd.check(deposited != file, || {
            format!("{leaf} file {file} deposited {deposited}")
        })
    }

    /// [`Rule::FilePmdInFileVma`]; the VMA's inode.
    fn file_pmd_in_file_vma(&self, v: &Vma, leaf: Leaf) -> Result<usize, Violation> {
        match v.backing {
            Backing::File(ino) => Ok(ino),
            Backing::Anon => Err(Rule::FilePmdInFileVma.broken(leaf.to_string())),
        }
    }

    /// [`Rule::FilePmdMapsCachedThp`] for a huge PMD of `v`, whose inode is `ino`.
    fn file_pmd_maps_cached_thp(&self, v: &Vma, leaf: Leaf, ino: Ino) -> Result<(), Violation> {
        let head = leaf.pfn;
        let cached = self.inodes[ino]
            .i_mapping
            .page(v.linear_page_index(leaf.addr))
            == Some(head);
        Rule::FilePmdMapsCachedThp.check(self.thp_head(head) == Some(Folio(head)) && cached, || {
            leaf.to_string()
        })
    }

    /// [`Rule::WritableFilePmdShared`].
    fn writable_file_pmd_shared(&self, v: &Vma, leaf: Leaf) -> Result<(), Violation> {
        let shared_writable = v.flags & (VM_WRITE | VM_SHARED) == VM_WRITE | VM_SHARED;
        Rule::WritableFilePmdShared.check(!leaf.write || shared_writable, || {
            format!("{leaf} vma flags {:#x}", v.flags)
        })
    }

    /// [`Rule::HugeZeroPmdReadOnly`].
    fn huge_zero_pmd_read_only(&self, leaf: Leaf) -> Result<(), Violation> {
        Rule::HugeZeroPmdReadOnly.check(!leaf.write, || leaf.to_string())
    }

    /// [`Rule::AnonPmdMapsThpHead`].
    fn anon_pmd_maps_thp_head(&self, v: &Vma, leaf: Leaf) -> Result<(), Violation> {
        let holds = self.thp_head(leaf.pfn) == Some(Folio(leaf.pfn)) && v.is_anonymous();
        Rule::AnonPmdMapsThpHead.check(holds, || leaf.to_string())
    }

    /// [`Rule::HugetlbEntryMapsHead`].
    fn hugetlb_entry_maps_head(&self, v: &Vma, leaf: Leaf) -> Result<(), Violation> {
        let page = self.pages.page(leaf.pfn);
        let holds = page.test(PageFlags::HEAD)
            && page.test(PageFlags::HUGETLB)
            && leaf.pfn.0.is_multiple_of(HPAGE_NR)
            && v.is_hugetlb();
        Rule::HugetlbEntryMapsHead.check(holds, || format!("{leaf} flags {:?}", page.flags))
    }

    /// [`Rule::UffdCtxMatchesFlags`].
    fn uffd_ctx_matches_flags(&self, mm: MmId, v: &Vma) -> Result<(), Violation> {
        let serves_mm = v
            .uffd_ctx
            .is_none_or(|c| self.uffd.get(c).is_some_and(|ctx| ctx.mm == Some(mm)));
        let holds = v.uffd_ctx.is_some() == (v.flags & VM_UFFD_FLAGS != 0) && serves_mm;
        Rule::UffdCtxMatchesFlags.check(holds, || {
            format!(
                "mm {mm} vma {:#x}: flags {:#x} ctx {:?}",
                v.start, v.flags, v.uffd_ctx
            )
        })
    }

    /// [`Rule::ShmemVmaHoldsInode`].
    fn shmem_vma_holds_inode(&self, mm: MmId, v: &Vma) -> Result<(), Violation> {
        let holds = match v.backing {
            Backing::File(ino) => self.inodes.contains(ino),
            Backing::Anon => true,
        };
        Rule::ShmemVmaHoldsInode.check(holds, || format!("mm {mm} vma {:#x}", v.start))
    }

    /// [`Rule::RmapLinksVmas`] for one VMA.
    fn rmap_links_vma(&self, mm: MmId, v: &Vma) -> Result<(), Violation> {
        let located = self.rmap.vma_loc.get(&v.id) == Some(&(mm, v.start));
        let in_i_mmap = match v.backing {
            Backing::File(ino) => self
                .inodes
                .get(ino)
                .is_some_and(|i| i.i_mapping.i_mmap.contains(&v.id)),
            Backing::Anon => true,
        };
        let own_in_chain = v.anon_vma.is_none_or(|av| v.anon_vma_chain.contains(&av));
        let chain_links_back = v.anon_vma_chain.iter().all(|av| {
            self.rmap
                .anon_vmas
                .get(av)
                .is_some_and(|a| a.vmas.contains(&v.id))
        });
        Rule::RmapLinksVmas.check(
            located && in_i_mmap && own_in_chain && chain_links_back,
            || {
                format!(
                    "mm {mm} vma {:#x} id {}: located {located}, in i_mmap {in_i_mmap}, \
                     anon_vma {:?} chain {:?}",
                    v.start, v.id, v.anon_vma, v.anon_vma_chain
                )
            },
        )
    }

    /// [`Rule::RmapLinksVmas`] from the other side: every VMA an anon_vma or an i_mmap names
    /// is live and names it back.
    fn rmap_names_live_vmas(&self) -> Result<(), Violation> {
        for (&av, a) in &self.rmap.anon_vmas {
            for &id in &a.vmas {
                let holds = self
                    .vma_by_id(id)
                    .is_some_and(|(_, v)| v.anon_vma_chain.contains(&av));
                Rule::RmapLinksVmas.check(holds, || {
                    format!("anon_vma {av} lists vma {id}, which does not link it")
                })?;
            }
        }
        for (ino, i) in self.inodes.iter() {
            for &id in &i.i_mapping.i_mmap {
                let holds = self
                    .vma_by_id(id)
                    .is_some_and(|(_, v)| v.backing == Backing::File(ino));
                Rule::RmapLinksVmas.check(holds, || {
                    format!("inode {ino}'s i_mmap lists vma {id}, not its own")
                })?;
            }
        }
        Ok(())
    }

    /// [`Rule::RmapFindsMapping`] for a page an entry of `v` maps.
    fn rmap_finds_mapping(&self, v: &Vma, leaf: Leaf) -> Result<(), Violation> {
        let f = self.pages.folio(leaf.pfn);
        if !self.pages.folio_test(f, PageFlags::ANON) {
            return Ok(());
        }
        let av = self.pages.folio_mapping(f);
        Rule::RmapFindsMapping.check(av.is_some_and(|a| v.anon_vma_chain.contains(&a)), || {
            format!("{leaf}: anon_vma {av:?}, vma chain {:?}", v.anon_vma_chain)
        })
    }

    /// [`Rule::RssMatchesTables`], `rss` as the walk of the mm's tables counted it.
    fn rss_matches_tables(&self, mm: MmId, m: &Mm, rss: &Rss) -> Result<(), Violation> {
        let holds =
            m.rss_anon == rss.anon && m.rss_shmem == rss.shmem && m.rss_swapents == rss.swapents;
        Rule::RssMatchesTables.check(holds, || {
            format!(
                "mm {mm}: anon {} vs {}, shmem {} vs {}, swapents {} vs {}",
                m.rss_anon, rss.anon, m.rss_shmem, rss.shmem, m.rss_swapents, rss.swapents
            )
        })
    }

    /// [`Rule::TlbNotMorePermissive`] for every CPU's entries of one mm.
    fn tlb_not_more_permissive(&self, mm: MmId, m: &Mm) -> Result<(), Violation> {
        for (cpu, tlb) in self.tlbs.iter().enumerate() {
            for e in tlb.entries().filter(|e| e.mm == mm as u32) {
                let addr = e.vpn << 12;
                let pte = table::leaf_frame(&self.phys, m.pgd, addr);
                let holds = pte.is_some_and(|(pfn, p)| {
                    p.is_present() && !p.is_protnone() && pfn == e.pfn && (p.write() || !e.writable)
                });
                Rule::TlbNotMorePermissive.check(holds, || {
                    format!(
                        "cpu {cpu} mm {mm} {addr:#x}: tlb pfn {:#x} w={} vs {pte:?}",
                        e.pfn, e.writable
                    )
                })?;
            }
        }
        Ok(())
    }

    /// [`Rule::CompoundMapcount`] for a THP that `pmds` huge PMDs map.
    fn compound_mapcount_matches(&self, f: Folio, pmds: i32) -> Result<(), Violation> {
        let mapcount = self.pages.compound_mapcount(f.pfn());
        Rule::CompoundMapcount.check(mapcount == pmds, || {
            format!("THP {f:?}: compound mapcount {mapcount} vs {pmds}")
        })
    }

    /// [`Rule::Mapcount`] for a page that `entries` PTEs or hugetlb entries map.
    fn mapcount(&self, pfn: Pfn, entries: i32) -> Result<(), Violation> {
        let mapcount = self.pages.page(pfn).mapcount();
        Rule::Mapcount.check(mapcount == entries, || {
            format!("pfn {pfn:#x}: mapcount {mapcount} vs {entries}")
        })
    }

    /// [`Rule::Refcount`] for a page (a THP's head for the whole THP) that `refs` mappings and
    /// held references account for.
    fn refcount(&self, pfn: Pfn, refs: i32) -> Result<(), Violation> {
        let refcount = self.pages.page(pfn).refcount();
        Rule::Refcount.check(refcount == refs && refs != 0, || {
            format!("pfn {pfn:#x}: refcount {refcount} vs {refs}")
        })
    }

    /// [`Rule::AllocatedHoldsReference`] for a data frame outside the hugetlb pool's free list.
    fn allocated_holds_reference(&self, pfn: Pfn) -> Result<(), Violation> {
        let refcount = self.pages.page(pfn).refcount();
        Rule::AllocatedHoldsReference.check(refcount > 0, || {
            format!("pfn {pfn:#x}: refcount {refcount}")
        })
    }

    /// [`Rule::FreeHugetlbPageInPool`] for a hugetlb head at refcount 0.
    fn free_hugetlb_page_in_pool(&self, pfn: Pfn) -> Result<(), Violation> {
        Rule::FreeHugetlbPageInPool.check(self.hstate.free.contains(&Folio(pfn)), || {
            format!("{pfn:?}")
        })
    }

    /// [`Rule::HugetlbPoolAddsUp`], `heads` the hugetlb pages among the frames.
    fn hugetlb_pool_adds_up(&self, heads: u64) -> Result<(), Violation> {
        let h = &self.hstate;
        // The per-node counters add up to the global ones, node by node within the pool.
        let nodes = h
            .nr_huge_pages_node
            .len()
            .max(h.surplus_huge_pages_node.len());
        let per_node = h.nr_huge_pages_node.iter().sum::<u64>() == h.nr_huge_pages
            && h.surplus_huge_pages_node.iter().sum::<u64>() == h.surplus_huge_pages
            && (0..nodes).all(|n| h.surplus_node(n) <= h.nr_node(n));
        let holds = heads == h.nr_huge_pages && h.surplus_huge_pages <= h.nr_huge_pages && per_node;
        Rule::HugetlbPoolAddsUp.check(holds, || {
            format!(
                "{heads} hugetlb pages, nr_huge_pages {}, free {}, reserved {}, surplus {}",
                h.nr_huge_pages,
                h.free.len(),
                h.resv_huge_pages,
                h.surplus_huge_pages
            )
        })
    }

    /// [`Rule::VmstatMatchesPages`]: NR_ANON_MAPPED counts anonymous pages mapped at all (by
    /// a PTE, or by a PMD of their THP); NR_ANON_THPS the anonymous THPs a PMD maps;
    /// NR_SHMEM_THPS the shmem THPs, NR_SHMEM_PMDMAPPED those a PMD maps.
    fn vmstat_matches_pages(&self, t: &VmstatTally) -> Result<(), Violation> {
        let VmstatTally {
            mapped,
            thps,
            shmem_thps,
            shmem_pmd,
        } = *t;
        let v = &self.vmstat;
        let holds = mapped == v.nr_anon_pages
            && thps == v.nr_anon_transparent_hugepages
            && shmem_thps == v.nr_shmem_hugepages
            && shmem_pmd == v.nr_shmem_pmdmapped;
        Rule::VmstatMatchesPages.check(holds, || {
            format!(
                "nr_anon_pages {} vs {mapped}, nr_anon_transparent_hugepages {} vs {thps}, \
                 nr_shmem_hugepages {} vs {shmem_thps}, nr_shmem_pmdmapped {} vs {shmem_pmd}",
                v.nr_anon_pages,
                v.nr_anon_transparent_hugepages,
                v.nr_shmem_hugepages,
                v.nr_shmem_pmdmapped
            )
        })
    }

    /// [`Rule::DeferredSplitHoldsThps`].
    fn deferred_split_holds_thps(&self) -> Result<(), Violation> {
        let stray = self
            .thp
            .deferred
            .iter()
            .find(|f| self.thp_head(f.pfn()) != Some(**f));
        Rule::DeferredSplitHoldsThps.check(stray.is_none(), || format!("{stray:?}"))
    }

    /// [`Rule::LruListsMatchFlags`], `t` the PG_lru folios the pass over the frames found.
    fn lru_lists_match_flags(&self, t: &LruTally) -> Result<(), Violation> {
        let mut on_lists = 0u64;
        for &lru in &LruList::ALL[..LruList::Unevictable as usize] {
            let mut pages = 0;
            for f in self.lru.lruvec.oldest_first(&self.pages, lru) {
                let flagged = self.pages.folio_test(f, PageFlags::LRU);
                let list = folio_lru_list(&self.pages, f);
                Rule::LruListsMatchFlags.check(flagged && list == lru, || {
                    format!("{f:?} on {lru:?}: PG_lru {flagged}, flags name {list:?}")
                })?;
                pages += self.pages.folio_nr_pages(f);
                on_lists += 1;
            }
            let counted = self.lru.lruvec.nr_pages(lru);
            Rule::LruListsMatchFlags.check(pages == counted, || {
                format!("{lru:?}: {pages} pages on the list, {counted} counted")
            })?;
        }
        // Unevictable folios are PG_lru and counted but linked nowhere, never PG_active.
        if let Some(p) = t.unevictable_active {
            return Err(
                Rule::LruListsMatchFlags.broken(format!("{p:?} PG_unevictable and PG_active"))
            );
        }
        let (flagged, unevictable) = (t.flagged, t.unevictable);
        let counted = self.lru.lruvec.nr_pages(LruList::Unevictable);
        Rule::LruListsMatchFlags.check(unevictable == counted, || {
            format!("{unevictable} pages PG_lru|PG_unevictable, {counted} counted unevictable")
        })?;
        Rule::LruListsMatchFlags.check(flagged == on_lists, || {
            format!("{flagged} evictable folios PG_lru, {on_lists} on the lists")
        })
    }

    /// [`Rule::NoFrameLeak`], `tables` and `data` the page tables and data frames found.
    fn no_frame_leak(&self, tables: u64, data: u64) -> Result<(), Violation> {
        let used = self.pages.nr_used();
        Rule::NoFrameLeak.check(used == tables + data, || {
            format!(
                "{used} frames in use, {tables} page tables + {data} data pages account for them"
            )
        })
    }
}

/// The checker's walk of one VMA: each entry handed to the rules about it.
struct CheckWalk<'a> {
    mm: MmId,
    v: &'a Vma,
    census: &'a mut Census,
    rss: &'a mut Rss,
    result: Result<(), Violation>,
}

impl CheckWalk<'_> {
    /// Keep the first violation and stop the walk there.
    fn keep(&mut self, r: Result<(), Violation>) -> ControlFlow<()> {
        self.result = r;
        if self.result.is_err() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }
}

impl<'k> MmWalk<&'k Kernel> for CheckWalk<'_> {
    fn pmd_entry(
        &mut self,
        k: &mut &'k Kernel,
        addr: u64,
        _next: u64,
        _slot: PmdSlot,
        e: PmdKind,
    ) -> ControlFlow<(), PmdAction> {
        let haddr = addr & !(HPAGE_SIZE - 1);
        let r = match e {
            PmdKind::Leaf(p) if self.v.is_hugetlb() => {
                k.check_hugetlb_entry(self.mm, self.v, haddr, p.as_pte(), self.census)
            }
            PmdKind::Leaf(p) => k.check_huge_pmd(self.mm, self.v, haddr, p, self.census, self.rss),
            PmdKind::Swp(kind, _) if kind.is_migration() => {
                let pfn = kind.migration_pfn().map(crate::page::Pfn);
                // A hugetlb page is not in the RSS counters; a THP's migration entry is, in
                // its folio's counter.
                if !self.v.is_hugetlb() {
                    let anon =
                        pfn.is_some_and(|p| k.pages.folio_test(k.pages.folio(p), PageFlags::ANON));
                    self.rss.add(anon, HPAGE_NR as i64);
                }
                Rule::NonPresentIsNoneOrMarker.check(k.under_migration(pfn), || {
                    format!("mm {} {haddr:#x}: PMD {kind:?}", self.mm)
                })
            }
            PmdKind::None | PmdKind::Table(_) | PmdKind::Swp(..) => Ok(()),
        };
        self.keep(r)?;
        ControlFlow::Continue(match e {
            PmdKind::Table(_) if !self.v.is_hugetlb() => PmdAction::Descend,
            PmdKind::None | PmdKind::Table(_) | PmdKind::Leaf(_) | PmdKind::Swp(..) => {
                PmdAction::Done
            }
        })
    }

    fn pte_entry(
        &mut self,
        k: &mut &'k Kernel,
        addr: u64,
        slot: PteSlot,
        _e: PteKind,
    ) -> ControlFlow<()> {
        let pte = table::get(&k.phys, slot);
        let r = k.check_pte(self.mm, self.v, addr, pte, self.census, self.rss);
        self.keep(r)
    }
}

#[cfg(test)]
mod tests {
    use super::Rule;
    use crate::pgtable::table;
    use crate::uapi::*;
    use crate::{Config, Kernel, Tid};

    fn setup() -> (Kernel, Tid, u64) {
        let mut k = Kernel::new(Config::default());
        let t = k.spawn_process(0).unwrap();
        let p = k
            .mmap(
                t,
                0,
                2 * 4096,
                PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS,
                -1,
                0,
            )
            .unwrap();
        k.store(t, p, 1).unwrap();
        k.check_invariants().unwrap();
        (k, t, p)
    }

    fn slot(k: &Kernel, t: Tid, addr: u64) -> table::PteSlot {
        let mm = k.tasks[t].mm;
        table::walk(&k.phys, k.mms[mm].pgd, addr).unwrap()
    }

    #[test]
    fn a_missing_flush_leaves_a_too_permissive_tlb_entry() {
        let (mut k, t, p) = setup();
        let s = slot(&k, t, p);
        let pte = table::get(&k.phys, s);
        table::set(&mut k.phys, s, pte.wrprotect()); // write-protect without flushing
        let v = k.check_invariants().unwrap_err();
        assert_eq!(v.rule, Rule::TlbNotMorePermissive);
        assert!(v
            .to_string()
            .starts_with("invariant TlbNotMorePermissive broken: cpu "));
    }

    #[test]
    fn a_leaked_frame_is_found() {
        let (mut k, _, _) = setup();
        let pfn = k.alloc_folio(crate::page::Gfp::KERNEL, 0).unwrap().pfn(); // refcount 1, nothing refers to it
        let v = k.check_invariants().unwrap_err();
        assert_eq!(v.rule, Rule::Refcount);
        k.pages.page_mut(pfn).refcount = 0;
        assert_eq!(
            k.check_invariants().unwrap_err().rule,
            Rule::AllocatedHoldsReference
        );
        k.pages.page_mut(pfn).flags = crate::page::PageFlags::TABLE; // a table no tree holds
        assert_eq!(k.check_invariants().unwrap_err().rule, Rule::NoFrameLeak);
    }

    #[test]
    fn a_swap_entry_or_charge_outliving_its_page_is_found() {
        let (mut k, t, p) = setup();
        let (pfn, _) = k.page_at(t, p).unwrap().unwrap();
        k.pages.page_mut(pfn).private = 0x1234; // a swap entry but not in the swap cache
        let v = k.check_invariants().unwrap_err();
        assert_eq!(v.rule, Rule::PrivateAndChargeFollowThePage);
        k.pages.page_mut(pfn).private = 0;
        k.check_invariants().unwrap();
        let free = k.alloc_folio(crate::page::Gfp::KERNEL, 0).unwrap();
        k.pages.folio_ref_add(free, -1);
        k.free_frames(free);
        k.pages.page_mut(free.pfn()).memcg = 1; // a charge left on a free frame
        let v = k.check_invariants().unwrap_err();
        assert_eq!(v.rule, Rule::PrivateAndChargeFollowThePage);
    }

    #[test]
    fn a_writable_pte_on_a_shared_page_is_caught() {
        let (mut k, t, p) = setup();
        let c = k.fork(t).unwrap();
        let s = slot(&k, c, p);
        let pte = table::get(&k.phys, s);
        table::set(&mut k.phys, s, pte.mkwrite()); // as if fork forgot to write-protect
        assert_eq!(
            k.check_invariants().unwrap_err().rule,
            Rule::WritablePrivateIsExclusive
        );
    }

    #[test]
    fn counters_and_mapcounts_must_match_the_tables() {
        let (mut k, t, p) = setup();
        let pfn = k.pte_at(t, p).unwrap().pfn();
        k.pages.page_mut(pfn).mapcount += 1;
        assert_eq!(
            k.check_invariants().unwrap_err().rule,
            Rule::AnonExclusiveMappedOnce
        );
        k.pages.page_mut(pfn).mapcount -= 1;
        let mm = k.tasks[t].mm;
        k.mms[mm].rss_anon += 1;
        assert_eq!(
            k.check_invariants().unwrap_err().rule,
            Rule::RssMatchesTables
        );
    }

    #[test]
    fn exit_frees_every_frame() {
        let (mut k, t, p) = setup();
        let c = k.fork(t).unwrap();
        k.store(c, p + 4096, 2).unwrap();
        k.exit(c).unwrap();
        k.exit(t).unwrap();
        k.check_invariants().unwrap();
        k.lru_add_drain_all();
        assert_eq!(k.frames_in_use(), 0);
    }
}
