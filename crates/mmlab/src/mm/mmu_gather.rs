//! struct mmu_gather: collect the range whose TLB entries must go and the pages to free after
//! the flush, then flush_tlb_mm_range() with x86's accounting.

use crate::hw::PAGE_SIZE;
use crate::kernel::Kernel;
use crate::mm::MmId;

/// tlb_single_page_flush_ceiling: above this many pages a range flush becomes a full flush.
pub const TLB_SINGLE_PAGE_FLUSH_CEILING: u64 = 33;

/// The gather: one per mprotect/munmap/zap call.
#[derive(Debug)]
pub struct MmuGather {
    pub mm: MmId,
    /// Tearing down the whole address space (exit_mmap).
    pub fullmm: bool,
    start: u64,
    end: u64,
    freed_tables: bool,
    /// cleared_ptes / cleared_pmds: what the flush stride is (tlb_get_unmap_shift()).
    cleared_ptes: bool,
    cleared_pmds: bool,
    /// Pages whose last mapping went; their references drop after the flush.
    pages: Vec<crate::page::Pfn>,
}

impl MmuGather {
    /// tlb_gather_mmu() / tlb_gather_mmu_fullmm().
    pub fn new(mm: MmId, fullmm: bool) -> MmuGather {
        MmuGather {
            mm,
            fullmm,
            start: u64::MAX,
            end: 0,
            freed_tables: false,
            cleared_ptes: false,
            cleared_pmds: false,
            pages: Vec::new(),
        }
    }
    /// tlb_flush_pte_range() / tlb_remove_tlb_entry(): this range needs a flush.
    #[inline]
    pub fn add_range(&mut self, addr: u64, size: u64) {
        self.start = self.start.min(addr);
        self.end = self.end.max(addr + size);
        self.cleared_ptes = true;
    }
    /// tlb_remove_huge_tlb_entry() / tlb_flush_pmd_range(): a 2 MiB entry went.
    pub fn add_huge_range(&mut self, addr: u64, size: u64) {
        self.start = self.start.min(addr);
        self.end = self.end.max(addr + size);
        self.cleared_pmds = true;
    }
    /// A page table whose span starts at `base` was freed (tlb_flush_pmd_range(tlb, base,
    /// PAGE_SIZE) and friends).
    pub fn freed_table_at(&mut self, base: u64) {
        self.freed_tables = true;
        self.start = self.start.min(base);
        self.end = self.end.max(base + PAGE_SIZE);
        self.cleared_pmds = true;
    }
    /// tlb_remove_page(): drop this reference only after the flush.
    #[inline]
    pub fn remove_page(&mut self, pfn: crate::page::Pfn) {
        self.pages.push(pfn);
    }
}

impl Kernel {
    /// tlb_flush_mmu(): flush the gathered range (if any) and release the gathered pages.
    pub(crate) fn tlb_flush_mmu(&mut self, tlb: &mut MmuGather) {
        if tlb.fullmm {
            // exit_mmap(): the exiting CPU is already lazy (exit_mm() → enter_lazy_tlb()), so
            // flush_tlb_func() switches it to init_mm and returns before counting anything;
            // the mm's translations are gone everywhere once it is.
            for t in &mut self.tlbs {
                t.flush_mm(tlb.mm as u32);
            }
        } else if tlb.end > tlb.start {
            let stride = if tlb.cleared_ptes || !tlb.cleared_pmds {
                12
            } else {
                crate::mm::hugetlb::HPAGE_SHIFT
            };
            self.flush_tlb_range_stride(tlb.mm, tlb.start, tlb.end, stride);
        }
        tlb.start = u64::MAX;
        tlb.end = 0;
        tlb.freed_tables = false;
        tlb.cleared_ptes = false;
        tlb.cleared_pmds = false;
        // free_pages_and_swap_cache(): this CPU's batches drain first (munlocks queued by the
        // zap among them), then a page nothing maps any more leaves the swap cache.
        if !tlb.pages.is_empty() {
            self.lru_add_drain();
        }
        for pfn in std::mem::take(&mut tlb.pages) {
            self.free_page_and_swap_cache(pfn);
        }
    }

    /// tlb_end_vma(): a no-op on x86 before 6.1 (arch/x86/include/asm/tlb.h), so one gather
    /// flushes once for all the VMAs a call touched. Kept as a call so paths read like Linux.
    pub(crate) fn tlb_end_vma(&mut self, _tlb: &mut MmuGather) {}

    /// tlb_finish_mmu().
    pub(crate) fn tlb_finish_mmu(&mut self, mut tlb: MmuGather) {
        self.tlb_flush_mmu(&mut tlb);
    }

    /// flush_tlb_mm_range() on x86: every CPU in mm_cpumask drops the range (or everything of
    /// the mm past the single-page ceiling); counts the DEBUG_TLBFLUSH vmstat events.
    pub(crate) fn flush_tlb_mm_range(&mut self, mm: MmId, start: u64, end: u64) {
        self.flush_tlb_range_stride(mm, start, end, 12);
    }

    /// flush_tlb_mm_range() with its stride_shift: a 2 MiB stride counts one invlpg per huge
    /// page (each drops every 4 KiB piece the model's TLB holds of it).
    pub(crate) fn flush_tlb_range_stride(
        &mut self,
        mm: MmId,
        start: u64,
        end: u64,
        stride_shift: u32,
    ) {
        let nr = if end == u64::MAX {
            u64::MAX
        } else {
            (end - start).div_ceil(1 << stride_shift)
        };
        let full = nr > TLB_SINGLE_PAGE_FLUSH_CEILING;
        let mask = self.mms[mm].cpumask;
        let me = self.current_cpu;
        let mut remote = false;
        self.trace(crate::trace::Event::TlbFlush {
            mm,
            start,
            end,
            full,
            cpus: mask.count_ones(),
        });
        for cpu in 0..self.tlbs.len() {
            if mask & (1 << cpu) == 0 {
                continue;
            }
            let t = &mut self.tlbs[cpu];
            t.flushes += 1;
            if full {
                t.flush_mm(mm as u32);
            } else {
                let mut a = start;
                while a < end {
                    t.flush_one(mm as u32, a >> 12);
                    a += PAGE_SIZE;
                }
            }
            if cpu == me {
                if full {
                    self.vmstat.nr_tlb_local_flush_all += 1;
                } else {
                    self.vmstat.nr_tlb_local_flush_one += nr;
                }
            } else {
                remote = true;
                self.vmstat.nr_tlb_remote_flush_received += 1;
            }
        }
        if remote {
            self.vmstat.nr_tlb_remote_flush += 1;
        }
    }

    /// flush_tlb_page().
    pub(crate) fn flush_tlb_page(&mut self, mm: MmId, addr: u64) {
        self.flush_tlb_mm_range(mm, addr, addr + PAGE_SIZE);
    }
}
