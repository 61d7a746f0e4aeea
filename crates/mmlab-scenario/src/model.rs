//! The `Backend` over mmlab's own `Kernel`.

use std::collections::BTreeMap;

use mmlab::fs::proc::MapsEntry;
use mmlab::hw::PAGE_SIZE;
use mmlab::page::alloc::ZERO_PFN;
use mmlab::page::PageFlags;
use mmlab::{Config, Errno, Kernel, Profile, Signal};

use crate::backend::*;

/// Where the `thp NAME VALUE` knobs live.
const THP_DIR: &str = "/sys/kernel/mm/transparent_hugepage";

/// The most CPUs the model simulates (Kernel::new keeps 1 to 64 TLBs).
pub const MAX_CPUS: usize = 64;

/// The most NUMA nodes a scenario may ask for.
pub const MAX_NODES: usize = 8;

/// A `numa N` header's node count, if the model can split `memory` into N nodes of at least
/// 4 MiB each.
pub fn check_numa(n: usize, memory: u64) -> Result<usize, String> {
    if !(1..=MAX_NODES).contains(&n) {
        return Err(format!(
            "numa {n}: a scenario has 1 to {MAX_NODES} NUMA nodes"
        ));
    }
    if memory / (n as u64) < 4 << 20 {
        return Err(format!(
            "numa {n}: {} MiB of memory gives each node less than 4 MiB (raise `memory`)",
            memory >> 20
        ));
    }
    Ok(n)
}

/// Runs scenarios on the model; a fresh `Kernel` per scenario.
pub struct ModelBackend {
    k: Option<Kernel>,
    /// Run the invariant checker after every step.
    pub check_invariants: bool,
    /// Record the kernel's trace events (`take_trace`), from the scenario's setup on.
    pub trace: bool,
    /// Accesses of tasks asleep in handle_userfault(), retried once they are woken (in task
    /// order, so a replay is deterministic; on Linux the scheduler picks).
    asleep: BTreeMap<TaskId, Access>,
    /// Accesses that finished after a wake, waiting for `finish`.
    finished: BTreeMap<TaskId, Result<u64, Signal>>,
    /// Syscalls whose task sleeps until its userfaultfd events are read, with their results,
    /// or in handle_userfault() inside the syscall (ERESTARTNOINTR: it goes on once woken).
    sys_asleep: BTreeMap<TaskId, Result<u64, Errno>>,
    /// Those whose events were all read.
    sys_finished: BTreeMap<TaskId, Result<u64, Errno>>,
    /// The access being run is `expect ACCESS blocks`: a sleep in reclaim_throttle() is
    /// shown as a block instead of being slept out.
    expect_block: bool,
}

impl Default for ModelBackend {
    fn default() -> Self {
        ModelBackend {
            k: None,
            check_invariants: true,
            trace: false,
            asleep: BTreeMap::new(),
            finished: BTreeMap::new(),
            sys_asleep: BTreeMap::new(),
            sys_finished: BTreeMap::new(),
            expect_block: false,
        }
    }
}

impl ModelBackend {
    fn k(&mut self) -> &mut Kernel {
        self.k.as_mut().expect("prepare() runs first")
    }

    /// The kernel of the last scenario, for tests and tools.
    pub fn kernel(&mut self) -> Option<&mut Kernel> {
        self.k.as_mut()
    }

    /// A syscall whose task now sleeps on its userfaultfd events keeps its result for later.
    fn note_sleep(&mut self, t: TaskId, r: Result<u64, Errno>) {
        if self.k.as_ref().is_some_and(|k| k.uffd_sleeping(t)) {
            self.sys_asleep.insert(t, r);
        }
    }

    /// One access on the model.
    fn run_access(&mut self, t: TaskId, a: Access) -> Result<u64, Signal> {
        let k = self.k();
        // A signal of an earlier access is not this one's.
        k.take_si_code(t);
        match a {
            Access::Load(addr) => k.load(t, addr).map(u64::from),
            Access::Store(addr, v) => k.store(t, addr, v).map(|_| 0),
            Access::Memset(addr, v, len) => k.memset(t, addr, v, len).map(|_| 0),
            Access::Fill(addr, len, pat) => {
                k.fill_with(t, addr, len, |i| pat.byte_at(i)).map(|_| 0)
            }
            Access::Touch(addr, len) => {
                let end = addr.checked_add(len).ok_or(Signal::Segv)?;
                let mut at = addr;
                while at < end {
                    k.load(t, at)?;
                    at = (at & !(PAGE_SIZE - 1)) + PAGE_SIZE;
                }
                Ok(0)
            }
        }
    }

    /// A task asleep in reclaim_throttle() (and only there) sleeps its timeout out: the
    /// clock moves to the timeout's tick, running what comes due meanwhile (a wake-up of
    /// the queue ends it the same way). False if the task does not sleep there.
    fn sleep_out_throttle(&mut self, t: TaskId) -> bool {
        let k = self.k();
        let Some(until) = k.reclaim_throttle_until(t) else {
            return false;
        };
        k.advance_time(until.saturating_sub(k.now_ns()));
        true
    }

    /// An observation of user memory (`mem(...)`) whose reads may sleep in
    /// reclaim_throttle(): as on Linux, the read takes the sleep's time and then goes on, so
    /// the observation is made again once the timeout has passed.
    fn observe_through_throttle<R>(
        &mut self,
        t: TaskId,
        mut f: impl FnMut(&mut Kernel) -> Result<R, Signal>,
    ) -> Result<R, Signal> {
        loop {
            let r = f(self.k());
            if r.is_ok() || !self.sleep_out_throttle(t) {
                return r;
            }
        }
    }

    /// What is left of a range access that sleeps in a fault: the CPU resumes at the
    /// faulting instruction, so the retry starts at the page whose fault returned
    /// VM_FAULT_RETRY (the pages before it are done and are not touched again).
    fn resume_point(&self, t: TaskId, a: Access) -> Access {
        let Some(at) = self.k.as_ref().and_then(|k| k.fault_retry_addr(t)) else {
            return a;
        };
        let skip =
            |addr: u64, len: u64| (at > addr && at < addr.saturating_add(len)).then_some(at - addr);
        match a {
            Access::Memset(addr, v, len) => match skip(addr, len) {
                Some(d) => Access::Memset(at, v, len - d),
                None => a,
            },
            Access::Touch(addr, len) => match skip(addr, len) {
                Some(d) => Access::Touch(at, len - d),
                None => a,
            },
            Access::Fill(addr, len, pat) => match skip(addr, len) {
                // The byte at `at + i` is the one at offset `d + i`: a `d` that is a
                // multiple of the pattern's step moves the seed by `d >> shift`.
                Some(d) if d & ((1 << pat.shift) - 1) == 0 => Access::Fill(
                    at,
                    len - d,
                    Pattern {
                        seed: pat.seed.wrapping_add((d >> pat.shift) as u8),
                        shift: pat.shift,
                    },
                ),
                _ => a,
            },
            Access::Load(_) | Access::Store(..) => a,
        }
    }

    /// A woken task runs again at once, as on a real kernel: it retries its access, which
    /// may finish or sleep again (a wake without a fix, or another registered page).
    fn retry_woken(&mut self) {
        let k = self.k.as_ref();
        let done: Vec<TaskId> = self
            .sys_asleep
            .keys()
            .filter(|t| !k.is_some_and(|k| k.uffd_sleeping(**t)))
            .copied()
            .collect();
        for t in done {
            let mut r = self.sys_asleep.remove(&t).expect("listed");
            if r == Err(Errno::ERESTARTNOINTR) {
                // It slept in handle_userfault() inside the syscall: the syscall goes on, and
                // may sleep again on its next fault.
                r = self.k().restart_syscall(t);
                if r == Err(Errno::ERESTARTNOINTR) {
                    self.sys_asleep.insert(t, r);
                    continue;
                }
            }
            self.sys_finished.insert(t, r);
        }
        let woken: Vec<(TaskId, Access)> = self
            .asleep
            .iter()
            .filter(|(t, _)| !self.k.as_ref().is_some_and(|k| k.uffd_sleeping(**t)))
            .map(|(t, a)| (*t, *a))
            .collect();
        for (t, a) in woken {
            self.asleep.remove(&t);
            match self.run_access(t, a) {
                Err(Signal::Userfault) => {
                    let a = self.resume_point(t, a);
                    self.asleep.insert(t, a);
                }
                r => {
                    self.finished.insert(t, r);
                }
            }
        }
    }
}

impl Backend for ModelBackend {
    fn name(&self) -> &'static str {
        "model"
    }

    fn prepare(&mut self, setup: &Setup) -> Result<(), Skip> {
        let profile: Profile = match &setup.profile {
            Some(p) => p.parse().map_err(Skip)?,
            None => Profile::default(),
        };
        let mut cfg = Config::new(profile);
        if let Some(m) = setup.memory {
            cfg.memory_bytes = m;
        }
        if let Some(c) = setup.cpus {
            if !(1..=MAX_CPUS).contains(&c) {
                return Err(Skip(format!(
                    "cpus {c}: the model has 1 to {MAX_CPUS} CPUs"
                )));
            }
            cfg.cpus = c;
        }
        if let Some(n) = setup.numa {
            cfg.nr_nodes = check_numa(n, cfg.memory_bytes).map_err(Skip)?;
        }
        if let Some(b) = setup.fault_around_bytes {
            cfg.set_fault_around_bytes(b).map_err(Skip)?;
        }
        for (name, on) in &setup.features {
            cfg.features.set(name, *on).map_err(Skip)?;
        }
        if let Some(a) = &setup.arch {
            cfg.arch = a.parse().map_err(Skip)?;
        }
        let mut k = Kernel::new(cfg);
        k.set_files_fs(setup.files);
        k.set_tracing(self.trace);
        for (name, value) in &setup.thp {
            // Through the file's store handler, as the host's runner writes it.
            k.sysfs_write(&format!("{THP_DIR}/{name}"), value)
                .map_err(|e| {
                    Skip(format!(
                        "transparent_hugepage/{name} refuses `{value}`: {e}"
                    ))
                })?;
        }
        if let Some(n) = setup.hugepages {
            if k.set_nr_hugepages(n) < n {
                return Err(Skip(format!(
                    "hugepages {n}: the model's memory holds only {} huge pages",
                    k.meminfo("HugePages_Total").unwrap_or(0)
                )));
            }
        }
        for s in &setup.swap {
            let made = match s.kind {
                SwapDev::File(kind) => k.create_swap_file(&s.name, s.bytes, kind),
                SwapDev::Zram => k.create_zram(&s.name, s.bytes),
                SwapDev::Nfs { holes } => k.create_nfs_swap_file(&s.name, s.bytes, holes, None),
            };
            made.map_err(|e| Skip(format!("{}: {e}", s.at)))?;
            if s.activate {
                // Before the body no task exists: the header's swapon is made as the first
                // process's tid, which swapon(2) uses for nothing but its caller's checks.
                k.swapon(0, &s.name, 0)
                    .map_err(|e| Skip(format!("{}: swapon(\"{}\", 0) fails {e}", s.at, s.name)))?;
            }
        }
        self.k = Some(k);
        self.asleep.clear();
        self.finished.clear();
        self.sys_asleep.clear();
        self.sys_finished.clear();
        Ok(())
    }

    fn spawn_process(&mut self, cpu: usize) -> Result<TaskId, Errno> {
        self.k().spawn_process(cpu)
    }
    fn fork(&mut self, t: TaskId) -> Result<TaskId, Errno> {
        let r = self.k().fork(t);
        self.note_sleep(t, r.map(|c| c as u64));
        r
    }
    fn thread(&mut self, t: TaskId, cpu: usize) -> Result<TaskId, Errno> {
        self.k().spawn_thread(t, cpu)
    }
    fn exit(&mut self, t: TaskId, code: u32) -> Result<(), Errno> {
        let before = self.k().tids();
        self.k().do_group_exit(t, code)?;
        // exit_group() ends every thread, a sleeping one too: nothing of them may be retried
        // as whatever task reuses their ids.
        let after = self.k().tids();
        for gone in before.into_iter().filter(|x| !after.contains(x)) {
            self.asleep.remove(&gone);
            self.finished.remove(&gone);
            self.sys_asleep.remove(&gone);
            self.sys_finished.remove(&gone);
        }
        Ok(())
    }

    fn syscall(&mut self, t: TaskId, call: &Syscall) -> Result<u64, Errno> {
        let mut r = (call.def.model)(self.k(), t, &call.args);
        // A call a step does not expect to block takes the time of its timed sleeps (memcg's
        // over-high penalty in mlock()) and goes on.
        while !self.expect_block && r == Err(Errno::ERESTARTNOINTR) && self.sleep_out_throttle(t) {
            r = self.k().restart_syscall(t);
        }
        self.note_sleep(t, r);
        self.retry_woken();
        r
    }

    fn end_step(&mut self) -> Vec<TaskId> {
        let k = self.k();
        k.finish_step();
        let gone = k.take_oom_killed();
        for t in &gone {
            self.asleep.remove(t);
            self.finished.remove(t);
            self.sys_asleep.remove(t);
            self.sys_finished.remove(t);
        }
        gone
    }

    fn sleeping(&mut self, t: TaskId) -> bool {
        self.sys_asleep.contains_key(&t)
    }

    fn finish_syscall(&mut self, t: TaskId) -> Option<Result<u64, Errno>> {
        // wait() for a syscall asleep in a timed sleep lets its timeouts pass.
        while !self.sys_finished.contains_key(&t) && self.sleep_out_throttle(t) {
            self.retry_woken();
        }
        self.sys_finished.remove(&t)
    }

    fn access(&mut self, t: TaskId, a: Access) -> Result<u64, Signal> {
        let mut a = a;
        let mut r = self.run_access(t, a);
        while r == Err(Signal::Userfault) {
            a = self.resume_point(t, a);
            // An access a step does not expect to block takes the time of its throttle
            // sleeps and goes on.
            if self.expect_block || !self.sleep_out_throttle(t) {
                self.asleep.insert(t, a);
                break;
            }
            r = self.run_access(t, a);
        }
        // A reclaim with progress in this access wakes tasks throttled for the lack of it.
        self.retry_woken();
        r
    }

    fn finish(&mut self, t: TaskId) -> Result<u64, Signal> {
        // wait() for a task asleep in reclaim_throttle() lets its timeouts pass.
        while !self.finished.contains_key(&t) && self.sleep_out_throttle(t) {
            self.retry_woken();
        }
        self.finished.remove(&t).unwrap_or(Err(Signal::Userfault))
    }

    fn expect_block(&mut self, on: bool) {
        self.expect_block = on;
    }

    fn uffd_read(&mut self, t: TaskId, fd: i64) -> Result<Option<UffdMsg>, Errno> {
        let m = self.k().uffd_read(t, fd)?;
        self.retry_woken();
        Ok(m.map(|m| UffdMsg {
            event: m.event,
            arg: m.arg,
        }))
    }
    fn mismatch(
        &mut self,
        t: TaskId,
        addr: u64,
        len: u64,
        val: u8,
    ) -> Result<Option<(u64, u8)>, Signal> {
        self.observe_through_throttle(t, |k| k.find_mismatch(t, addr, len, val))
    }
    fn si_code(&mut self, t: TaskId) -> Option<u64> {
        self.k.as_mut()?.take_si_code(t)
    }
    fn mismatch_pattern(
        &mut self,
        t: TaskId,
        addr: u64,
        len: u64,
        pat: Pattern,
    ) -> Result<Option<(u64, u8)>, Signal> {
        addr.checked_add(len).ok_or(Signal::Segv)?;
        self.observe_through_throttle(t, |k| {
            k.find_mismatch_with(t, addr, len, |i| pat.byte_at(i))
        })
    }
    fn mem_cmp(
        &mut self,
        t: TaskId,
        a: u64,
        b: u64,
        len: u64,
    ) -> Result<Option<(u64, u8, u8)>, Signal> {
        self.observe_through_throttle(t, |k| k.find_difference(t, (a, b), len))
    }
    fn pagemap(&mut self, t: TaskId, addr: u64) -> Result<u64, Errno> {
        self.k().pagemap(t, addr)
    }
    fn zero_pfn(&mut self) -> u64 {
        ZERO_PFN.0
    }
    fn minflt(&mut self, t: TaskId) -> Result<u64, Errno> {
        self.k().minflt(t)
    }
    fn status(&mut self, t: TaskId, name: &str) -> Result<u64, String> {
        self.k().proc_status(t, name).map_err(|e| e.to_string())
    }
    fn majflt(&mut self, t: TaskId) -> Result<u64, Errno> {
        self.k().majflt(t)
    }
    fn maps(&mut self, t: TaskId) -> Result<Vec<MapsEntry>, Errno> {
        self.k().maps(t)
    }

    fn vmstat(&mut self, name: &str) -> Result<u64, String> {
        use mmlab::vmstat::VmStat;
        if !VmStat::LINUX_NAMES.contains(&name) {
            return Err(format!("vmstat({name}): the model keeps {} under their /proc/vmstat names (other counters: model.counter)", VmStat::LINUX_NAMES.join(", ")));
        }
        Ok(self
            .k()
            .counter(name)
            .expect("every Linux name is a model counter"))
    }

    fn meminfo(&mut self, name: &str) -> Result<u64, String> {
        self.k().meminfo(name).ok_or_else(|| {
            format!(
                "meminfo({name}): the model keeps {}",
                mmlab::fs::proc::MEMINFO_NAMES.join(", ")
            )
        })
    }

    fn smaps(&mut self, t: TaskId, addr: u64) -> Result<Option<Vec<(String, u64)>>, String> {
        let s = self.k().smaps(t, addr).map_err(|e| e.to_string())?;
        Ok(s.map(|(size_kb, s)| {
            let mut f: Vec<(String, u64)> = s
                .fields_kb()
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect();
            f[0].1 = size_kb;
            f
        }))
    }

    /// The model names a header's area NAME in /proc/swaps, or a path ending in `/NAME`.
    fn swaps(&mut self, name: &str) -> Result<Option<SwapsLine>, String> {
        let text = self.k().proc_swaps();
        let suffix = format!("/{name}");
        Ok(parse_proc_swaps(&text).into_iter().find(|l| {
            l.filename == name || (!name.starts_with('/') && l.filename.ends_with(&suffix))
        }))
    }

    fn fstat(&mut self, t: TaskId, fd: i64) -> Result<mmlab::fs::stat::Kstat, Errno> {
        self.k().fstat(t, fd)
    }
    fn wait4(&mut self, t: TaskId, pid: i32, options: u32) -> Reaping {
        self.k().wait4(t, pid, options)
    }
    fn getrusage(&mut self, t: TaskId, who: i32) -> Result<mmlab::sys::Rusage, Errno> {
        self.k().getrusage(t, who)
    }

    fn model_probe(&mut self, t: TaskId, probe: &ModelProbe) -> Result<ProbeValue, String> {
        if let ModelProbe::SwapIoCompleteAll = probe {
            let k = self.k();
            let mut n = 0;
            while k.complete_swap_rw(0).is_some() {
                n += 1;
            }
            self.retry_woken();
            return Ok(ProbeValue::Num(n));
        }
        if let ModelProbe::SwapIoComplete(i) = probe {
            // A completion wakes the faults waiting for its folios; they retry now.
            let k = self.k();
            let r = k
                .complete_swap_rw(*i as usize)
                .map(|n| ProbeValue::Num(n as u64))
                .ok_or_else(|| {
                    format!(
                        "no swap_rw request in flight at index {i} ({} in flight)",
                        k.swap_fs_io.inflight()
                    )
                });
            self.retry_woken();
            return r;
        }
        let k = self.k();
        match probe {
            ModelProbe::TlbFlushes(None) => Ok(ProbeValue::Num(k.tlb_flushes_total())),
            ModelProbe::TlbFlushes(Some(cpu)) => k
                .tlb_flushes(*cpu as usize)
                .map(ProbeValue::Num)
                .ok_or_else(|| format!("no CPU {cpu} (the model has {})", k.cfg.cpus)),
            ModelProbe::Counter(name) => k.counter(name).map(ProbeValue::Num).ok_or_else(|| {
                format!(
                    "unknown counter `{name}` (known: {})",
                    mmlab::vmstat::VmStat::names()
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }),
            ModelProbe::GetPage(addr) => k
                .get_page_ref(t, *addr)
                .map(|p| ProbeValue::Num(p.0))
                .map_err(|e| format!("no page to reference at {addr:#x}: {e}")),
            ModelProbe::PutPage(pfn) => k
                .put_page_ref(mmlab::page::Pfn(*pfn))
                .map(|_| ProbeValue::Num(0))
                .map_err(|e| format!("no reference held on pfn {pfn:#x}: {e}")),
            ModelProbe::DmaWrite { pfn, off, byte } => k
                .dma_write_ref(mmlab::page::Pfn(*pfn), *off, *byte)
                .map(|_| ProbeValue::Num(0))
                .map_err(|e| {
                    format!(
                        "no reference held on pfn {pfn:#x} (or offset {off:#x} past the page): {e}"
                    )
                }),
            ModelProbe::SwapIoComplete(_) | ModelProbe::SwapIoCompleteAll => {
                unreachable!("answered above")
            }
            ModelProbe::SwapIoDefer(on) => {
                k.swap_fs_io.deferred = *on;
                Ok(ProbeValue::Num(k.swap_fs_io.inflight() as u64))
            }
            ModelProbe::SwapIoFail(n) => {
                k.swap_fs_io.fail_next = *n;
                Ok(ProbeValue::Num(0))
            }
            ModelProbe::SwapHostByte(addr) => k
                .swap_host_byte(t, *addr)
                .map(|b| ProbeValue::Num(b.into())),
            ModelProbe::FailPageAlloc { skip, times } => {
                let injected = k.injected_alloc_failures();
                k.fail_page_alloc(*skip, *times);
                Ok(ProbeValue::Num(injected))
            }
            ModelProbe::DamonNrRegions(kd) => k
                .damon_sysfs_probe(*kd, |c| {
                    Some(c.targets.iter().map(|t| t.regions.len() as u64).sum())
                })
                .map(ProbeValue::Num),
            ModelProbe::DamonNrAccesses(kd, addr) => k
                .damon_sysfs_probe(*kd, |c| {
                    c.targets
                        .iter()
                        .flat_map(|t| &t.regions)
                        .find(|r| (r.start..r.end).contains(addr))
                        .map(|r| r.last_nr_accesses as u64)
                })
                .map(ProbeValue::Num),
            ModelProbe::DamonAggregations(kd) => k
                .damon_sysfs_probe(*kd, |c| Some(c.aggregations))
                .map(ProbeValue::Num),
            ModelProbe::KhugepagedScan(addr) => k
                .khugepaged_scan(t, *addr)
                .map(|r| ProbeValue::Num(r as u64))
                .map_err(|e| e.to_string()),
            ModelProbe::KhugepagedCollapse(addr) => k
                .khugepaged_collapse(t, *addr)
                .map(|r| ProbeValue::Num(r as u64))
                .map_err(|e| e.to_string()),
            ModelProbe::Pte(addr) => k
                .arch_pte_at(t, *addr)
                .map(ProbeValue::Num)
                .map_err(|e| e.to_string()),
            ModelProbe::Page(addr) => match k.page_at(t, *addr).map_err(|e| e.to_string())? {
                None => Err(format!("no page is mapped at {addr:#x}")),
                // In the order of crate::lang::MODEL_PAGE_FIELDS.
                Some((pfn, p)) => Ok(ProbeValue::Record(vec![
                    ("pfn", pfn.0),
                    ("anon", k.folio_flag(pfn, PageFlags::ANON) as u64),
                    ("anon_exclusive", p.anon_exclusive() as u64),
                    ("refcount", k.page_count_of(pfn) as u64),
                    ("mapcount", k.page_mapcount_of(pfn) as u64),
                    ("thp", k.is_thp_page(pfn) as u64),
                    ("zero", (pfn == ZERO_PFN) as u64),
                    ("dirty", k.folio_flag(pfn, PageFlags::DIRTY) as u64),
                    ("lru", k.folio_flag(pfn, PageFlags::LRU) as u64),
                    ("active", k.folio_flag(pfn, PageFlags::ACTIVE) as u64),
                    (
                        "referenced",
                        k.folio_flag(pfn, PageFlags::REFERENCED) as u64,
                    ),
                    (
                        "swapbacked",
                        k.folio_flag(pfn, PageFlags::SWAPBACKED) as u64,
                    ),
                    ("node", k.page_to_nid(pfn) as u64),
                    ("swapcache", k.folio_flag(pfn, PageFlags::SWAPCACHE) as u64),
                ])),
            },
            ModelProbe::MigrateBegin { addr, node } => k
                .migrate_begin(t, *addr, *node)
                .map(ProbeValue::Num)
                .map_err(|e| e.to_string()),
            ModelProbe::PinFastBegin { addr, nr, write } => k
                .pin_fast_begin(t, *addr, *nr, *write)
                .map(ProbeValue::Num)
                .map_err(|e| format!("pin_user_pages_fast() not begun: {e}")),
            ModelProbe::PinFastEnd => k
                .pin_fast_end()
                .map(ProbeValue::Num)
                .map_err(|e| format!("pin_user_pages_fast() failed: {e}")),
            ModelProbe::UnpinFast => Ok(ProbeValue::Num(k.unpin_fast())),
            ModelProbe::MigrateEnd => {
                let r = k.migrate_end();
                // The faults that waited on its entries retry now.
                self.retry_woken();
                Ok(ProbeValue::Num(r))
            }
        }
    }

    fn check(&mut self) -> Result<(), String> {
        if !self.check_invariants {
            return Ok(());
        }
        self.k().check_invariants().map_err(|v| v.to_string())
    }

    fn sleep(&mut self, ns: u64) {
        self.k().advance_time(ns);
        // Tasks whose reclaim_throttle() timeout expired meanwhile retry their access.
        self.retry_woken();
    }

    fn now_ns(&mut self) -> u64 {
        self.k().now_ns()
    }

    fn sysfs_read(&mut self, path: &str) -> Result<String, Errno> {
        self.k().sysfs_read(path)
    }

    fn sysfs_write(&mut self, path: &str, value: &str) -> Result<(), Errno> {
        self.k().sysfs_write(path, value)
    }

    fn take_trace(&mut self) -> Option<Vec<mmlab::trace::Event>> {
        let trace = self.trace;
        self.k.as_mut().filter(|_| trace).map(Kernel::take_trace)
    }
}
