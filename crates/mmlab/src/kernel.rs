//! The one `Kernel` value that owns the simulated machine: CPUs, memory, tasks, address spaces.
//! What it does lives in the modules named after the kernel files they model (task.rs for
//! processes, uaccess.rs for user loads and stores, mm/ for memory management, fs/ for files).
//! Syscalls are methods taking the calling task; user memory accesses go through the MMU path.

use slab::Slab;

use crate::config::Config;
use crate::fs::inode::Inode;
use crate::hw::{PhysMem, Tlb, PAGE_SIZE};
use crate::mm::Mm;
use crate::page::{PageAlloc, Pfn};
use crate::sched::{Process, Task, Tid};
use crate::vmstat::VmStat;

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
    /// Every inode, with its page cache.
    pub(crate) inodes: Slab<Inode>,
    pub(crate) files: Slab<crate::fs::file::File>,
    /// The scenario's directory (open(2) by path) and the disk filesystem's block device.
    pub(crate) dir: crate::fs::namei::ScenarioDir,
    pub(crate) bdev: crate::fs::diskfs::BlockDevice,
    /// The periodic writeback's clock (bdi_writeback's last_old_flush).
    pub(crate) wb: crate::mm::page_writeback::Writeback,
    /// The current task's task work: the inodes whose last file reference fput() dropped in
    /// this syscall; ____fput() releases them on the way back to user space.
    pub(crate) task_work: Vec<crate::fs::inode::Ino>,
    pub vmstat: VmStat,
    /// The CPU of the task in a syscall (who is "local" for TLB flushes).
    pub(crate) current_cpu: usize,
    /// The task in a syscall or fault (whose min_flt a fault is charged to).
    pub(crate) current: Tid,
    /// The reverse map: anon_vmas and where each VMA is.
    pub(crate) rmap: crate::mm::rmap::Rmap,
    /// Page references held from outside the page tables (model.get_page, later GUP), by PFN.
    pub(crate) extra_refs: std::collections::HashMap<Pfn, i32>,
    /// The FOLL_PIN pins GUP holds, per page.
    pub(crate) gup_pins: crate::mm::gup::GupPins,
    /// Pipes (fs/pipe.rs) and io_uring instances (fs/io_uring.rs).
    pub(crate) pipes: Slab<crate::fs::pipe::Pipe>,
    pub(crate) rings: Slab<crate::fs::io_uring::IoRing>,
    /// The last inode number handed out (get_next_ino()).
    pub(crate) last_ino: u64,
    /// The last pid number handed out (alloc_pid()) and the exited processes not yet reaped.
    pub(crate) last_pid: u64,
    pub(crate) zombies: Vec<crate::wait::Zombie>,
    /// The 2 MiB hugetlb pool.
    pub(crate) hstate: crate::mm::hugetlb::Hstate,
    /// Transparent huge pages: knobs, folios, the huge zero page, the deferred split queue.
    pub(crate) thp: crate::mm::huge_memory::ThpState,
    /// khugepaged: its knobs' counters and the mms it scans.
    pub(crate) khugepaged: crate::mm::khugepaged::Khugepaged,
    /// userfaultfd contexts.
    pub(crate) uffd: Slab<crate::fs::userfaultfd::UserfaultfdCtx>,
    /// The virtual clock (`advance_time`).
    pub(crate) clock: crate::time::Clock,
    /// The kernel threads that exist.
    pub(crate) kthreads: crate::kthread::Kthreads,
    /// The zone's watermarks and the sysctls behind them.
    pub(crate) zone: crate::mm::page_alloc::Zone,
    /// The node's reclaim state.
    pub(crate) pgdat: crate::mm::vmscan_lru::Pgdat,
    /// kswapd.
    pub(crate) kswapd: crate::mm::kswapd::Kswapd,
    /// The OOM killer's victims.
    pub(crate) oom: crate::mm::oom_kill::OomState,
    /// Swap devices and their slot caches.
    pub(crate) swap: crate::mm::swapfile::SwapState,
    /// The swap cache.
    pub(crate) swap_cache: crate::mm::swap_state::SwapCache,
    /// Swap-cache folios whose writes to a swap file are in flight.
    pub(crate) swap_io_pending: Vec<crate::page::Folio>,
    /// DAMON: its contexts, kdamonds, sysfs tree and DAMON_RECLAIM.
    pub(crate) damon: crate::mm::damon::Damon,
    /// SWP_FS_OPS requests in flight (->swap_rw()) and their counters.
    pub swap_fs_io: crate::mm::page_io::SwapFsIo,
    /// NUMA: the allocation in progress's node order, and the migration under way.
    pub(crate) numa: crate::mm::mempolicy::Numa,
    /// The cgroup hierarchy.
    pub(crate) cgroup: crate::cgroup::CgroupState,
    /// The memory controller.
    pub(crate) memcg: crate::mm::memcontrol::MemcgState,
}

impl Kernel {
    /// A machine built from `cfg`, with no tasks yet.
    pub fn new(cfg: Config) -> Kernel {
        let cpus = cfg.cpus.clamp(1, 64);
        let mut k = Kernel {
            phys: PhysMem::new(cfg.content, cfg.memory_bytes / PAGE_SIZE),
            pages: PageAlloc::with_nodes(cfg.memory_bytes, cfg.nr_nodes),
            lru: crate::mm::swap::LruState {
                lruvec: Default::default(),
                pvecs: vec![Default::default(); cpus],
                nonresident_age: 0,
            },
            fail_alloc: Default::default(),
            tracer: Default::default(),
            tlbs: (0..cpus).map(|_| Tlb::default()).collect(),
            mms: Slab::new(),
            tasks: Slab::new(),
            procs: Slab::new(),
            inodes: Slab::new(),
            files: Slab::new(),
            dir: Default::default(),
            bdev: Default::default(),
            wb: Default::default(),
            task_work: Vec::new(),
            vmstat: VmStat::default(),
            current_cpu: 0,
            current: 0,
            rmap: Default::default(),
            extra_refs: Default::default(),
            gup_pins: Default::default(),
            pipes: Slab::new(),
            rings: Slab::new(),
            last_ino: 1000,
            last_pid: 0,
            zombies: Vec::new(),
            hstate: Default::default(),
            thp: Default::default(),
            khugepaged: Default::default(),
            uffd: Slab::new(),
            clock: Default::default(),
            kthreads: crate::kthread::Kthreads::boot(),
            zone: Default::default(),
            pgdat: Default::default(),
            kswapd: Default::default(),
            oom: Default::default(),
            swap: Default::default(),
            swap_cache: Default::default(),
            swap_io_pending: Vec::new(),
            damon: Default::default(),
            swap_fs_io: Default::default(),
            numa: Default::default(),
            cgroup: Default::default(),
            memcg: Default::default(),
            cfg,
        };
        k.cgroup.mount = crate::cgroup::CgroupMount::of(&k.cfg.features);
        k.init_per_zone_wmark_min();
        k
    }

    /// Host bytes the model's memory structures take (frames, struct pages, tables, and the
    /// swap devices and swap cache, whose sizes are estimates from capacities).
    pub fn host_bytes(&self) -> usize {
        self.phys.host_bytes()
            + self.pages.host_bytes()
            + self.swap.host_bytes()
            + self.swap_cache.host_bytes()
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
}
