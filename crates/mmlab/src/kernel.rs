//! The one `Kernel` value that owns the simulated machine: CPUs, memory, tasks, address spaces.
//! Syscalls are methods taking the calling task; user memory accesses go through the MMU path.

use slab::Slab;

use crate::config::Config;
use crate::errno::{Errno, SysResult};
use crate::hw::{mmu::Walk, PhysMem, Tlb, TlbEntry, PAGE_SIZE};
use crate::mm::shmem::ShmemInode;
use crate::mm::vm_fault::{FaultFlags, VmFault};
use crate::mm::vma::{vm::*, Vma};
use crate::mm::{Mm, MmId};
use crate::page::{PageAlloc, Pfn};
use crate::pgtable::table;
use crate::vmstat::VmStat;

/// A task (thread) handle.
pub type Tid = usize;
/// A process (thread group) handle.
pub type Pid = usize;

/// task_struct, trimmed: which process and which CPU.
#[derive(Clone, Debug)]
pub struct Task {
    pub pid: Pid,
    pub mm: MmId,
    pub cpu: usize,
    /// The userfaultfd context this task sleeps on in handle_userfault(), if any.
    pub uffd_wait: Option<usize>,
    /// Userfaultfd events this task caused that are not read yet; it sleeps until they are.
    pub uffd_events: u32,
    /// The syscall this task sleeps in (ERESTARTNOINTR), to carry on once it is woken.
    pub restart: Option<crate::fs::userfaultfd::Restart>,
}

/// A thread group: its address space, threads and fault counters.
#[derive(Clone, Debug)]
pub struct Process {
    pub mm: MmId,
    pub threads: Vec<Tid>,
    /// Sum of the threads' min_flt (getrusage(RUSAGE_SELF).ru_minflt).
    pub min_flt: u64,
    /// The descriptor table.
    pub fds: crate::fs::file::FdTable,
}

/// A signal a user access raised.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Signal {
    /// SIGSEGV: no VMA, or the VMA forbids the access.
    Segv,
    /// SIGBUS: e.g. beyond the end of a shmem object.
    Bus,
    /// Out of memory: the OOM killer would end the task.
    Kill,
    /// Not a signal: the task sleeps in handle_userfault() until a userfaultfd handler wakes
    /// it; the access is then retried.
    Userfault,
}

impl Signal {
    /// The signal's C name.
    pub fn name(self) -> &'static str {
        match self {
            Signal::Segv => "SIGSEGV",
            Signal::Bus => "SIGBUS",
            Signal::Kill => "SIGKILL",
            Signal::Userfault => "a userfaultfd sleep",
        }
    }
}

/// The simulated machine and kernel.
pub struct Kernel {
    pub cfg: Config,
    pub(crate) phys: PhysMem,
    pub(crate) pages: PageAlloc,
    /// The LRU lists and every CPU's batches feeding them.
    pub(crate) lru: crate::mm::swap::LruState,
    /// The allocation fault injector.
    pub(crate) fail_alloc: crate::mm::page_alloc::FailPageAlloc,
    /// The trace buffer (`mmlab run --trace`).
    pub(crate) tracer: crate::trace::Tracer,
    pub(crate) tlbs: Vec<Tlb>,
    pub(crate) mms: Slab<Mm>,
    pub(crate) tasks: Slab<Task>,
    pub(crate) procs: Slab<Process>,
    pub(crate) shmem: Slab<ShmemInode>,
    pub(crate) files: Slab<crate::fs::file::File>,
    pub vmstat: VmStat,
    /// The CPU of the task in a syscall (who is "local" for TLB flushes).
    pub(crate) current_cpu: usize,
    /// The task in a syscall or fault (whose min_flt a fault is charged to).
    pub(crate) current: Tid,
    /// The reverse map: anon_vmas and where each VMA is.
    pub(crate) rmap: crate::mm::rmap::Rmap,
    /// Page references held from outside the page tables (model.get_page, later GUP), by PFN.
    pub(crate) extra_refs: std::collections::HashMap<Pfn, i32>,
    /// The last inode number handed out (get_next_ino()).
    pub(crate) last_ino: u64,
    /// The 2 MiB hugetlb pool.
    pub(crate) hstate: crate::mm::hugetlb::Hstate,
    /// Transparent huge pages: knobs, folios, the huge zero page, the deferred split queue.
    pub(crate) thp: crate::mm::huge_memory::ThpState,
    /// khugepaged: its knobs' counters and the mms it scans.
    pub(crate) khugepaged: crate::mm::khugepaged::Khugepaged,
    /// userfaultfd contexts.
    pub(crate) uffd: Slab<crate::mm::userfaultfd::UserfaultfdCtx>,
}

impl Kernel {
    /// A machine built from `cfg`, with no tasks yet.
    pub fn new(cfg: Config) -> Kernel {
        let cpus = cfg.cpus.clamp(1, 64);
        Kernel {
            phys: PhysMem::new(cfg.content),
            pages: PageAlloc::new(cfg.memory_bytes),
            lru: crate::mm::swap::LruState {
                lruvec: Default::default(),
                pvecs: vec![Default::default(); cpus],
            },
            fail_alloc: Default::default(),
            tracer: Default::default(),
            tlbs: (0..cpus).map(|_| Tlb::default()).collect(),
            mms: Slab::new(),
            tasks: Slab::new(),
            procs: Slab::new(),
            shmem: Slab::new(),
            files: Slab::new(),
            vmstat: VmStat::default(),
            current_cpu: 0,
            current: 0,
            rmap: Default::default(),
            extra_refs: Default::default(),
            last_ino: 1000,
            hstate: Default::default(),
            thp: Default::default(),
            khugepaged: Default::default(),
            uffd: Slab::new(),
            cfg,
        }
    }

    fn check_cpu(&self, cpu: usize) -> SysResult<()> {
        if cpu < self.tlbs.len() {
            Ok(())
        } else {
            Err(Errno::EINVAL)
        }
    }

    /// A new process with an empty address space, its one thread on `cpu`.
    pub fn spawn_process(&mut self, cpu: usize) -> SysResult<Tid> {
        self.check_cpu(cpu)?;
        let mm = self.mm_alloc(cpu)?;
        let pid = self.procs.insert(Process {
            mm,
            threads: vec![],
            min_flt: 0,
            fds: Default::default(),
        });
        let tid = self.tasks.insert(Task {
            pid,
            mm,
            cpu,
            uffd_wait: None,
            uffd_events: 0,
            restart: None,
        });
        self.procs[pid].threads.push(tid);
        Ok(tid)
    }

    /// mm_alloc(): an empty address space with its PGD, first run on `cpu`.
    pub(crate) fn mm_alloc(&mut self, cpu: usize) -> SysResult<MmId> {
        let pgd = self.alloc_pgtable().ok_or(Errno::ENOMEM)?;
        let id = self.mms.vacant_key();
        self.mms.insert(Mm {
            id,
            pgd,
            vmas: Default::default(),
            cpumask: 1 << cpu,
            rss_anon: 0,
            rss_shmem: 0,
            total_vm: 0,
            committed: 0,
            deposited: Default::default(),
        });
        Ok(id)
    }

    /// clone(CLONE_VM|CLONE_THREAD): a new thread of `tid`'s process on `cpu`.
    pub fn spawn_thread(&mut self, tid: Tid, cpu: usize) -> SysResult<Tid> {
        self.check_cpu(cpu)?;
        let t = self.task(tid)?.clone();
        let new = self.tasks.insert(Task {
            cpu,
            uffd_wait: None,
            uffd_events: 0,
            restart: None,
            ..t
        });
        self.procs[t.pid].threads.push(new);
        self.mms[t.mm].cpumask |= 1 << cpu;
        Ok(new)
    }

    /// sched_setaffinity() to one CPU: the task runs there from now on.
    pub fn set_cpu(&mut self, tid: Tid, cpu: usize) -> SysResult<()> {
        self.check_cpu(cpu)?;
        let mm = self.task(tid)?.mm;
        self.tasks[tid].cpu = cpu;
        self.mms[mm].cpumask |= 1 << cpu;
        Ok(())
    }

    /// The task, or ESRCH.
    pub fn task(&self, tid: Tid) -> SysResult<&Task> {
        self.tasks.get(tid).ok_or(Errno::ESRCH)
    }

    /// Enter the kernel on behalf of `tid`: returns its mm and records who is local.
    pub(crate) fn enter(&mut self, tid: Tid) -> SysResult<MmId> {
        let t = self.tasks.get(tid).ok_or(Errno::ESRCH)?;
        self.current_cpu = t.cpu;
        self.current = tid;
        Ok(t.mm)
    }

    /// mm_account_fault(): a completed fault counts as a minor fault of the current task.
    pub(crate) fn account_fault(&mut self) {
        if let Some(t) = self.tasks.get(self.current) {
            self.procs[t.pid].min_flt += 1;
        }
    }

    /// exit_group(): end every thread of the process and tear down its address space.
    pub fn exit(&mut self, tid: Tid) -> SysResult<()> {
        let mm = self.enter(tid)?;
        let pid = self.tasks[tid].pid;
        let proc = self.procs.remove(pid);
        for t in proc.threads {
            self.tasks.remove(t);
            self.uffd_forget_task(t);
        }
        // do_exit(): exit_mm() before exit_files().
        self.exit_mmap(mm);
        self.close_all(proc.fds);
        Ok(())
    }

    /// exit_mmap(): unmap everything with a full-mm gather, free every page table, drop the mm.
    pub(crate) fn exit_mmap(&mut self, mm: MmId) {
        self.lru_add_drain();
        let starts: Vec<u64> = self.mms[mm].vmas.iter().map(|v| v.start).collect();
        let mut tlb = crate::mm::mmu_gather::MmuGather::new(mm, true);
        for s in starts {
            let v = self.vma_unlink(mm, s).expect("vma");
            let range = (v.start, v.end);
            self.zap_page_range(&mut tlb, &v, range, crate::mm::memory::ZapDetails::UNMAP);
            self.vma_release(&v);
        }
        self.tlb_finish_mmu(tlb);
        self.free_all_pgtables(mm);
        self.khugepaged_exit(mm);
        // A userfaultfd still open elsewhere can no longer reach this mm.
        for (_, c) in self.uffd.iter_mut().filter(|(_, c)| c.mm == Some(mm)) {
            c.mm = None;
        }
        self.mms.remove(mm);
    }

    /// What a VMA holds besides its pages (a shmem reference) is released with it.
    pub(crate) fn vma_release(&mut self, v: &crate::mm::Vma) {
        // hugetlb_vm_op_close(): reservations the VMA never used go back.
        self.hugetlb_unreserve(v.hugetlb_resv.len() as u64);
        if let crate::mm::Backing::Shmem(ino) = v.backing {
            self.shmem_put(ino);
        }
    }

    // ---- user memory accesses ----

    /// Translate a user access through the TLB, the page walk and, if needed, the fault
    /// handler (do_user_addr_fault). Returns the frame.
    /// `flags` says who accesses: FAULT_FLAG_USER for a user load or store, none for a
    /// kernel copy_from_user(); FAULT_FLAG_WRITE for a write.
    #[inline]
    fn translate(&mut self, tid: Tid, addr: u64, flags: FaultFlags) -> Result<Pfn, Signal> {
        let Some(t) = self.tasks.get(tid) else {
            return Err(Signal::Kill);
        };
        let (cpu, mm) = (t.cpu, t.mm);
        let write = flags.contains(FaultFlags::WRITE);
        if let Some(e) = self.tlbs[cpu].lookup(mm as u32, addr >> 12) {
            if !write || (e.writable && e.dirty) {
                return Ok(e.pfn);
            }
        }
        self.translate_slow(tid, (cpu, mm), addr, flags)
    }

    #[cold]
    fn translate_slow(
        &mut self,
        tid: Tid,
        (cpu, mm): (usize, MmId),
        addr: u64,
        flags: FaultFlags,
    ) -> Result<Pfn, Signal> {
        let write = flags.contains(FaultFlags::WRITE);
        let vpn = addr >> 12;
        let stale_ro = write
            && self.tlbs[cpu]
                .lookup(mm as u32, vpn)
                .is_some_and(|e| !e.writable);
        // A write through a read-only TLB entry faults without a walk; the CPU drops the entry.
        let mut need_fault = stale_ro;
        for _ in 0..4 {
            if need_fault {
                self.tlbs[cpu].flush_one(mm as u32, vpn);
                self.do_user_addr_fault(tid, addr, flags)?;
            }
            match self.mmu_walk(mm, addr, write) {
                Walk::Ok {
                    pfn,
                    writable,
                    dirty,
                    huge,
                } => {
                    self.tlbs[cpu].fill(TlbEntry {
                        vpn,
                        mm: mm as u32,
                        pfn,
                        writable,
                        dirty,
                        huge,
                    });
                    self.mms[mm].cpumask |= 1 << cpu;
                    return Ok(pfn);
                }
                Walk::Fault { .. } => need_fault = true,
            }
        }
        unreachable!("a resolved fault must let the walk succeed at {addr:#x}")
    }

    /// do_user_addr_fault(): find the VMA, check access_error(), call handle_mm_fault() with
    /// FAULT_FLAG_DEFAULT plus the access's own flags.
    fn do_user_addr_fault(&mut self, tid: Tid, addr: u64, flags: FaultFlags) -> Result<(), Signal> {
        let write = flags.contains(FaultFlags::WRITE);
        let mm = self.enter(tid).map_err(|_| Signal::Kill)?;
        let Some(mut vma) = self.mms[mm].vmas.find(addr).map(Vma::for_fault) else {
            return Err(Signal::Segv);
        };
        if vma.start > addr {
            if vma.flags & VM_GROWSDOWN == 0 {
                return Err(Signal::Segv);
            }
            vma = self
                .expand_downwards(mm, &vma, addr)
                .map_err(|_| Signal::Segv)?;
        }
        if (write && vma.flags & VM_WRITE == 0) || (!write && !vma.accessible()) {
            return Err(Signal::Segv);
        }
        match self.handle_mm_fault(mm, &vma, addr, flags | FaultFlags::DEFAULT) {
            Ok(_) => {
                self.account_fault();
                Ok(())
            }
            Err(e) if e.contains(VmFault::RETRY) => Err(Signal::Userfault),
            Err(e) if e.contains(VmFault::OOM) => Err(Signal::Kill),
            Err(e) if e.contains(VmFault::SIGSEGV) => Err(Signal::Segv),
            Err(_) => Err(Signal::Bus),
        }
    }

    /// The frame behind a user address for a read, faulting it in as needed (the walk a
    /// copy_from_user() makes: a kernel-mode fault, no FAULT_FLAG_USER).
    pub(crate) fn translate_user(&mut self, tid: Tid, addr: u64) -> Result<Pfn, Signal> {
        self.translate(tid, addr, FaultFlags::empty())
    }

    /// A one-byte user load.
    #[inline]
    pub fn load(&mut self, tid: Tid, addr: u64) -> Result<u8, Signal> {
        let pfn = self.translate(tid, addr, FaultFlags::USER)?;
        Ok(self.phys.load(pfn, (addr & (PAGE_SIZE - 1)) as usize))
    }

    /// A one-byte user store.
    #[inline]
    pub fn store(&mut self, tid: Tid, addr: u64, val: u8) -> Result<(), Signal> {
        let pfn = self.translate(tid, addr, FaultFlags::USER | FaultFlags::WRITE)?;
        self.phys.store(pfn, (addr & (PAGE_SIZE - 1)) as usize, val);
        Ok(())
    }

    /// memset() in user space, page by page.
    pub fn memset(&mut self, tid: Tid, addr: u64, val: u8, len: u64) -> Result<(), Signal> {
        let mut a = addr;
        let end = addr.checked_add(len).ok_or(Signal::Segv)?;
        while a < end {
            let n = (PAGE_SIZE - (a & (PAGE_SIZE - 1))).min(end - a);
            let pfn = self.translate(tid, a, FaultFlags::USER | FaultFlags::WRITE)?;
            self.phys
                .fill(pfn, (a & (PAGE_SIZE - 1)) as usize, n as usize, val);
            a += n;
        }
        Ok(())
    }

    /// Read every byte of a range (as user loads); the first that differs from `val`.
    pub fn find_mismatch(
        &mut self,
        tid: Tid,
        addr: u64,
        len: u64,
        val: u8,
    ) -> Result<Option<(u64, u8)>, Signal> {
        let mut a = addr;
        let end = addr.checked_add(len).ok_or(Signal::Segv)?;
        while a < end {
            let n = (PAGE_SIZE - (a & (PAGE_SIZE - 1))).min(end - a);
            let pfn = self.translate(tid, a, FaultFlags::USER)?;
            if let Some((off, b)) =
                self.phys
                    .find_mismatch(pfn, (a & (PAGE_SIZE - 1)) as usize, n as usize, val)
            {
                return Ok(Some(((a & !(PAGE_SIZE - 1)) + off as u64, b)));
            }
            a += n;
        }
        Ok(None)
    }

    // ---- introspection ----

    /// The process's minor faults (getrusage(RUSAGE_SELF).ru_minflt).
    pub fn minflt(&self, tid: Tid) -> SysResult<u64> {
        Ok(self.procs[self.task(tid)?.pid].min_flt)
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

    /// A folio-wide flag of the folio holding a frame.
    pub fn folio_flag(&self, pfn: Pfn, flag: crate::page::PageFlags) -> bool {
        self.pages.folio_test(self.pages.folio(pfn), flag)
    }

    /// Take a reference on the page mapped at `addr`, as get_user_pages(FOLL_GET) without
    /// FOLL_WRITE would for an already-present page (an O_DIRECT write in flight, vmsplice).
    /// EFAULT if no normal page is mapped there. Returns the PFN.
    pub fn get_page_ref(&mut self, tid: Tid, addr: u64) -> SysResult<Pfn> {
        let Some((pfn, pte)) = self.frame_at(tid, addr)? else {
            return Err(Errno::EFAULT);
        };
        if pte.special() || Some(self.pages.folio(pfn)) == self.thp.huge_zero {
            return Err(Errno::EFAULT);
        }
        self.get_page(pfn);
        *self.extra_refs.entry(pfn).or_default() += 1;
        Ok(pfn)
    }

    /// Drop a reference `get_page_ref` took; EINVAL if none is held on `pfn`.
    pub fn put_page_ref(&mut self, pfn: Pfn) -> SysResult<()> {
        let held = self
            .extra_refs
            .get_mut(&pfn)
            .filter(|n| **n > 0)
            .ok_or(Errno::EINVAL)?;
        *held -= 1;
        if *held == 0 {
            self.extra_refs.remove(&pfn);
        }
        self.put_page(pfn);
        Ok(())
    }

    /// Host bytes the model's memory structures take (frames, struct pages, tables).
    pub fn host_bytes(&self) -> usize {
        self.phys.host_bytes() + self.pages.host_bytes()
    }

    /// Start or stop recording trace events.
    pub fn set_tracing(&mut self, on: bool) {
        self.tracer.on = on;
    }

    /// The trace events recorded since the last call.
    pub fn take_trace(&mut self) -> Vec<crate::trace::Event> {
        self.tracer.take()
    }

    /// Record a trace event (kept only while tracing is on).
    #[inline]
    pub(crate) fn trace(&mut self, e: crate::trace::Event) {
        self.tracer.record(e);
    }

    /// The live tasks.
    pub fn tids(&self) -> Vec<Tid> {
        self.tasks.iter().map(|(t, _)| t).collect()
    }
}
