//! What a scenario can read besides what Linux shows user space: fault and flush counts,
//! counters by name, the raw entry and struct page behind an address, page references held
//! from outside (the model-only probes of the language).

use crate::errno::{Errno, SysResult};
use crate::kernel::Kernel;
use crate::page::Pfn;
use crate::pgtable::table;
use crate::sched::Tid;

impl Kernel {
    /// The process's minor faults (getrusage(RUSAGE_SELF).ru_minflt).
    pub fn minflt(&self, tid: Tid) -> SysResult<u64> {
        Ok(self.procs[self.task(tid)?.pid].min_flt)
    }

    /// A /proc/PID/status field of `tid`'s process in kB (task_mem()): VmSize (total_vm), VmLck
    /// (locked_vm), VmData (data_vm). EINVAL for another name.
    pub fn proc_status(&self, tid: Tid, name: &str) -> SysResult<u64> {
        let mm = &self.mms[self.task(tid)?.mm];
        let pages = match name {
            "VmSize" => mm.total_vm,
            "VmLck" => mm.locked_vm(),
            "VmData" => mm.data_vm(),
            _ => return Err(Errno::EINVAL),
        };
        Ok(pages << 2)
    }

    /// The /proc/PID/status fields `proc_status` serves.
    pub const STATUS_NAMES: &'static [&'static str] = &["VmSize", "VmLck", "VmData"];

    /// The process's major faults (getrusage(RUSAGE_SELF).ru_majflt): faults that waited for
    /// I/O (VM_FAULT_MAJOR) or completed on a retry.
    pub fn majflt(&self, tid: Tid) -> SysResult<u64> {
        Ok(self.procs[self.task(tid)?.pid].maj_flt)
    }

    /// Flush requests CPU `cpu` carried out.
    pub fn tlb_flushes(&self, cpu: usize) -> Option<u64> {
        self.tlbs.get(cpu).map(|t| t.flushes)
    }

    /// Flush requests carried out by all CPUs.
    pub fn tlb_flushes_total(&self) -> u64 {
        self.tlbs.iter().map(|t| t.flushes).sum()
    }

    /// A counter by name (vmstat names plus nr_free_pages and the LRU sizes).
    pub fn counter(&self, name: &str) -> Option<u64> {
        if name == "nr_free_pages" {
            return Some(self.pages.nr_free());
        }
        crate::page::lru::LruList::ALL
            .into_iter()
            .find(|l| l.vmstat_name() == name)
            .map(|l| self.lru.lruvec.nr_pages(l))
            .or_else(|| self.vmstat.get(name))
            .or_else(|| self.swap_fs_io.counter(name))
            .or_else(|| self.reclaim_throttle_counter(name))
    }

    /// Frames in use (including page tables and the PGDs of live processes).
    pub fn frames_in_use(&self) -> u64 {
        self.pages.nr_used()
    }

    /// The raw leaf entry mapping `addr` in `tid`'s address space: a PTE, or the PMD entry of
    /// a huge mapping (0 if none).
    pub fn pte_at(&self, tid: Tid, addr: u64) -> SysResult<crate::pgtable::Pte> {
        let mm = self.task(tid)?.mm;
        Ok(crate::pgtable::Pte(
            match table::walk_leaf(&self.phys, self.mms[mm].pgd, addr) {
                Some(table::Leaf::Pte(s)) => table::get(&self.phys, s).0,
                Some(table::Leaf::Pmd(s)) => table::get_pmd(&self.phys, s).0,
                None => 0,
            },
        ))
    }

    /// model.pte(): the leaf entry at `addr` as `cfg.arch` would store it. A swap-format PTE
    /// (swap, migration, marker, ...) is re-encoded in that architecture's layout for the
    /// profile's kernel; present PTEs and PMD entries are the model's x86-64 values.
    pub fn arch_pte_at(&self, tid: Tid, addr: u64) -> SysResult<u64> {
        let mm = self.task(tid)?.mm;
        Ok(match table::walk_leaf(&self.phys, self.mms[mm].pgd, addr) {
            Some(table::Leaf::Pte(s)) => {
                let raw = table::get(&self.phys, s).0;
                self.cfg.arch.swp_pte_from_x86(self.cfg.profile, raw)
            }
            Some(table::Leaf::Pmd(s)) => table::get_pmd(&self.phys, s).0,
            None => 0,
        })
    }

    /// The 4 KiB frame a present entry maps at `addr` (inside a huge page, its piece).
    fn frame_at(&self, tid: Tid, addr: u64) -> SysResult<Option<(Pfn, crate::pgtable::Pte)>> {
        let mm = self.task(tid)?.mm;
        Ok(table::leaf_frame(&self.phys, self.mms[mm].pgd, addr))
    }

    /// The struct page mapped at `addr`, if a present entry maps one.
    pub fn page_at(&self, tid: Tid, addr: u64) -> SysResult<Option<(Pfn, crate::page::Page)>> {
        Ok(self
            .frame_at(tid, addr)?
            .map(|(pfn, _)| (pfn, *self.pages.page(pfn))))
    }

    /// page_count() of a frame (its folio's references for a THP subpage).
    pub fn page_count_of(&self, pfn: Pfn) -> i32 {
        self.pages.folio_ref_count(self.pages.folio(pfn))
    }

    /// page_mapcount() of a frame (PTEs plus PMDs of its folio for a THP subpage).
    pub fn page_mapcount_of(&self, pfn: Pfn) -> i32 {
        self.pages.page_mapcount(pfn)
    }

    /// Is the frame part of a transparent huge page?
    pub fn is_thp_page(&self, pfn: Pfn) -> bool {
        self.thp_head(pfn).is_some()
    }

    /// page_folio(): the folio a frame belongs to.
    pub fn page_folio(&self, pfn: Pfn) -> crate::page::Folio {
        self.pages.folio(pfn)
    }

    /// A folio-wide flag of the folio holding a frame.
    pub fn folio_flag(&self, pfn: Pfn, flag: crate::page::PageFlags) -> bool {
        self.pages.folio_test(self.pages.folio(pfn), flag)
    }

    /// `model.get_page`: follow_page(FOLL_GET) of the page mapped at `addr` (no fault: EFAULT
    /// where nothing is mapped), the reference held for the probe until `put_page_ref`.
    pub fn get_page_ref(&mut self, tid: Tid, addr: u64) -> SysResult<Pfn> {
        let mm = self.task(tid)?.mm;
        let pfn = self
            .follow_page(mm, addr, crate::mm::gup::FollFlags::GET)
            .ok_or(Errno::EFAULT)?;
        *self.gup_pins.probe_refs.entry(pfn).or_default() += 1;
        Ok(pfn)
    }

    /// A transfer completing into frame `pfn` through a reference `get_page_ref` holds (an
    /// O_DIRECT read's DMA landing in the page it pinned at submission): stores `byte` at
    /// `off`. EINVAL if no such reference is held or `off` is outside the 4 KiB frame.
    pub fn dma_write_ref(&mut self, pfn: Pfn, off: u64, byte: u8) -> SysResult<()> {
        if self.gup_pins.probe_refs.get(&pfn).copied().unwrap_or(0) == 0 || off >= 4096 {
            return Err(Errno::EINVAL);
        }
        self.phys.store(pfn, off as usize, byte);
        Ok(())
    }

    /// Drop a reference `get_page_ref` took; EINVAL if none is held on `pfn`.
    pub fn put_page_ref(&mut self, pfn: Pfn) -> SysResult<()> {
        let held = self
            .gup_pins
            .probe_refs
            .get_mut(&pfn)
            .filter(|n| **n > 0)
            .ok_or(Errno::EINVAL)?;
        *held -= 1;
        if *held == 0 {
            self.gup_pins.probe_refs.remove(&pfn);
        }
        self.put_user_page(pfn);
        Ok(())
    }
}
