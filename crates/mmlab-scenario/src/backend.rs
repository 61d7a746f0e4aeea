//! What a scenario needs from a kernel: the `Backend` trait. The model implements it here; the
//! host kernel implements it in `mmlab-live`.

use mmlab::fs::proc::MapsEntry;
use mmlab::{Errno, Signal};

/// A task as the backend knows it.
pub type TaskId = usize;

pub use crate::syscalls::{ArgValue, Syscall};

/// A memory access a task makes; the one a task asleep in handle_userfault() will finish.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Load(u64),
    Store(u64, u8),
    Memset(u64, u8, u64),
    /// Read one byte of every page in the range.
    Touch(u64, u64),
    /// Store a pattern over the range (`fill`, `fill_pages`).
    Fill(u64, u64, Pattern),
}

/// A byte pattern over a range: the byte at offset `i` is `seed + (i >> shift)` (mod 256), so
/// shift 0 counts bytes (a selftest's `p[i] = (char)i`) and shift 12 counts pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pattern {
    pub seed: u8,
    pub shift: u32,
}

impl Pattern {
    /// The byte at offset `i`.
    pub fn byte_at(self, i: u64) -> u8 {
        self.seed.wrapping_add((i >> self.shift) as u8)
    }
}

/// A uffd_msg as read(2) returns it: the event and the three words of its argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UffdMsg {
    pub event: u64,
    pub arg: [u64; 3],
}

/// A model-only probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModelProbe {
    TlbFlushes(Option<u64>),
    Counter(String),
    Page(u64),
    Pte(u64),
    /// Take a page reference like GUP FOLL_GET; returns the PFN.
    GetPage(u64),
    /// Drop a reference GetPage took, by PFN.
    PutPage(u64),
    /// Store a byte into a frame through a reference GetPage holds (a DMA completing).
    DmaWrite {
        pfn: u64,
        off: u64,
        byte: u8,
    },
    /// khugepaged's scan of the PMD range holding the address; returns a SCAN_* result.
    KhugepagedScan(u64),
    /// khugepaged's collapse of the PMD range holding the address; returns a SCAN_* result.
    KhugepagedCollapse(u64),
    /// Completions of SWP_FS_OPS requests wait for SwapIoComplete (1) or come at the end
    /// of each pass and fault (0, the default).
    SwapIoDefer(bool),
    /// Complete the SWP_FS_OPS request in flight at this index (0: the oldest); returns the
    /// folios it carried.
    SwapIoComplete(u64),
    /// Complete every SWP_FS_OPS request in flight, oldest first; returns how many.
    SwapIoCompleteAll,
    /// The next this many SWP_FS_OPS requests fail with EIO.
    SwapIoFail(u64),
    /// The byte the swap file holds on the host for the swapped-out page at this address.
    SwapHostByte(u64),
    /// Arm the page allocator's fault injection: after `skip` more allocations, the next
    /// `times` fail (fail_page_alloc); returns the failures injected so far.
    FailPageAlloc {
        skip: u64,
        times: u64,
    },
    /// The regions of the context sysfs kdamond K built, over all its targets.
    DamonNrRegions(u64),
    /// The last aggregation's nr_accesses of the region of kdamond K's context holding the
    /// address.
    DamonNrAccesses(u64, u64),
    /// The aggregation intervals kdamond K's context completed.
    DamonAggregations(u64),
    /// Begin migrating the folio mapped at the address to a node, leaving its migration
    /// entries in place; returns 0 or the errno that stopped it.
    MigrateBegin {
        addr: u64,
        node: u64,
    },
    /// Finish the migration begun; returns 0 or the errno that undid it.
    MigrateEnd,
}

/// What a model probe returns: a number, or named fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProbeValue {
    Num(u64),
    Record(Vec<(&'static str, u64)>),
}

/// Why a scenario cannot run on a backend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skip(pub String);

/// Machine settings a scenario asks for.
#[derive(Clone, Debug, Default)]
pub struct Setup {
    pub profile: Option<String>,
    pub memory: Option<u64>,
    pub cpus: Option<usize>,
    /// `numa N`: NUMA nodes.
    pub numa: Option<usize>,
    pub fault_around_bytes: Option<u64>,
    /// The 2 MiB hugetlb pool size (nr_hugepages) to set up before the scenario runs.
    pub hugepages: Option<u64>,
    /// /sys/kernel/mm/transparent_hugepage/ knobs to set, in order (`thp NAME VALUE`).
    pub thp: Vec<(String, String)>,
    pub features: Vec<(String, bool)>,
    /// `arch NAME`: the swap-PTE layout `model.pte` shows (x86-64 if absent).
    pub arch: Option<String>,
    /// `files tmpfs|disk`: the filesystem the scenario's directory is made on.
    pub files: mmlab::fs::namei::FsType,
    pub model_only: Option<String>,
    /// The sysfs/procfs files the scenario's `sysfs_write` steps write, as written.
    pub sysfs_writes: Vec<String>,
    /// The swap areas the header asks for, in header order.
    pub swap: Vec<SwapSetup>,
    /// The absolute paths the body's swapon/swapoff steps and `swaps()` probes name: a host
    /// must not turn its own swap on or off for a scenario.
    pub swap_paths: Vec<String>,
}

/// What a `swapfile` header leaves in the file (the model's own kinds).
pub use mmlab::mm::swapfile::SwapFileKind;

/// The device behind a swap header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SwapDev {
    /// A regular file on the root filesystem (`swap SIZE`, `swapfile`).
    File(SwapFileKind),
    /// A zram block device (`swap zram SIZE`).
    Zram,
    /// A swap file on a network filesystem whose I/O the filesystem does (SWP_FS_OPS),
    /// backed by a host file (`swapfile_fs NAME SIZE [holes]`); the model's only.
    Nfs { holes: bool },
}

/// One swap header: the name steps use for it (`"swap0"`, `"zram0"`, a `swapfile` NAME), its
/// size in bytes as written, what it is, and whether it is swapped on before the body
/// (`swap` lines are, `swapfile` lines are not).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SwapSetup {
    pub name: String,
    pub bytes: u64,
    pub kind: SwapDev,
    pub activate: bool,
    /// `FILE:LINE` of the header, for a backend's message when it cannot set the area up.
    pub at: String,
}

/// One line of /proc/swaps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SwapsLine {
    pub filename: String,
    pub size_kb: u64,
    pub used_kb: u64,
    pub priority: i64,
}

/// The lines of /proc/swaps text, its title line left out (swap_show() in mm/swapfile.c:
/// `Filename Type Size Used Priority`, whitespace-separated; a name's spaces are escaped).
pub fn parse_proc_swaps(text: &str) -> Vec<SwapsLine> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let [filename, _type, size, used, prio] = f.as_slice() else {
                return None;
            };
            Some(SwapsLine {
                filename: filename.to_string(),
                size_kb: size.parse().ok()?,
                used_kb: used.parse().ok()?,
                priority: prio.parse().ok()?,
            })
        })
        .collect()
}

/// A kernel a scenario runs on. Every call is made on behalf of a task.
pub trait Backend {
    /// A short name for reports (`model`, `host`).
    fn name(&self) -> &'static str;
    /// Start a fresh machine for one scenario, or say why it cannot run here.
    fn prepare(&mut self, setup: &Setup) -> Result<(), Skip>;
    /// A new process whose one thread runs on `cpu`.
    fn spawn_process(&mut self, cpu: usize) -> Result<TaskId, Errno>;
    fn fork(&mut self, t: TaskId) -> Result<TaskId, Errno>;
    fn thread(&mut self, t: TaskId, cpu: usize) -> Result<TaskId, Errno>;
    /// exit_group(); the process's memory is gone when this returns.
    fn exit(&mut self, t: TaskId) -> Result<(), Errno>;
    fn syscall(&mut self, t: TaskId, call: &Syscall) -> Result<u64, Errno>;
    /// A memory access: a load's byte, else 0. `Signal::Userfault` means the task now sleeps in
    /// handle_userfault(); `finish` collects the access once a handler has woken it.
    fn access(&mut self, t: TaskId, a: Access) -> Result<u64, Signal>;
    /// The result of the access task `t` sleeps in, once it has been woken and retried;
    /// `Signal::Userfault` while it still sleeps.
    fn finish(&mut self, t: TaskId) -> Result<u64, Signal>;
    /// The next accesses are `expect ACCESS blocks` (on) or not (off): the model shows a
    /// sleep in reclaim_throttle() as a block only then, and otherwise sleeps it out.
    fn expect_block(&mut self, _on: bool) {}
    /// read(2) of one uffd_msg; Ok(None) when nothing is pending on a blocking descriptor.
    fn uffd_read(&mut self, t: TaskId, fd: i64) -> Result<Option<UffdMsg>, Errno>;
    /// After a syscall or fork: does the task sleep until a userfaultfd event it caused is read?
    /// Its result then comes from `finish_syscall` (a fork's: the child's TaskId).
    fn sleeping(&mut self, t: TaskId) -> bool;
    /// The result of the syscall task `t` slept in, once its events were read; None while it
    /// still sleeps.
    fn finish_syscall(&mut self, t: TaskId) -> Option<Result<u64, Errno>>;
    /// The first byte of the range that is not `val`.
    fn mismatch(
        &mut self,
        t: TaskId,
        addr: u64,
        len: u64,
        val: u8,
    ) -> Result<Option<(u64, u8)>, Signal>;
    /// The first byte of the range that is not the pattern's: its address and the byte.
    fn mismatch_pattern(
        &mut self,
        t: TaskId,
        addr: u64,
        len: u64,
        pat: Pattern,
    ) -> Result<Option<(u64, u8)>, Signal>;
    /// Compare two ranges of `len` bytes (memcmp()): the first offset where they differ, with
    /// the byte of each.
    fn mem_cmp(
        &mut self,
        t: TaskId,
        a: u64,
        b: u64,
        len: u64,
    ) -> Result<Option<(u64, u8, u8)>, Signal>;
    fn pagemap(&mut self, t: TaskId, addr: u64) -> Result<u64, Errno>;
    fn zero_pfn(&mut self) -> u64;
    fn minflt(&mut self, t: TaskId) -> Result<u64, Errno>;
    /// A /proc/PID/status field of the task's process in kB (`VmLck`, `VmSize`, `VmData`).
    fn status(&mut self, t: TaskId, name: &str) -> Result<u64, String>;
    /// The process's major faults (getrusage()'s ru_majflt, /proc/PID/stat's majflt).
    fn majflt(&mut self, t: TaskId) -> Result<u64, Errno>;
    fn maps(&mut self, t: TaskId) -> Result<Vec<MapsEntry>, Errno>;
    /// A system-wide /proc/vmstat counter by its Linux name.
    fn vmstat(&mut self, name: &str) -> Result<u64, String>;
    /// A system-wide /proc/meminfo field in kB.
    fn meminfo(&mut self, name: &str) -> Result<u64, String>;
    /// The /proc/PID/smaps entry of the VMA holding `addr`: its fields in kB, by lower-case
    /// name (`rss`, `pss`, `private_dirty`, ...), or None if no VMA holds `addr`.
    fn smaps(&mut self, t: TaskId, addr: u64) -> Result<Option<Vec<(String, u64)>>, String>;
    /// The /proc/swaps line of the swap area a scenario names `name` (a header's name, or an
    /// absolute path), or None if it is not swapped on.
    fn swaps(&mut self, name: &str) -> Result<Option<SwapsLine>, String> {
        Err(format!(
            "swaps(\"{name}\"): the {} backend has no view of /proc/swaps",
            self.name()
        ))
    }
    /// fstat(2) of a descriptor: size, blocks, mode and link count.
    fn fstat(&mut self, t: TaskId, fd: i64) -> Result<mmlab::fs::stat::Kstat, Errno>;
    /// The si_code of the signal the task's last access raised (None if it raised none or
    /// the backend cannot tell).
    fn si_code(&mut self, t: TaskId) -> Option<u64>;
    /// Can it answer `model.*` probes? A host cannot: the steps that use them are skipped
    /// there, one by one.
    fn runs_model_probes(&self) -> bool {
        true
    }
    /// A model-only probe; a host backend answers Err.
    fn model_probe(&mut self, t: TaskId, probe: &ModelProbe) -> Result<ProbeValue, String>;
    /// A step is over: on the model, what other CPUs did meanwhile completes (kswapd) and the
    /// OOM killer's victims die. Returns the tasks that died so (none on a host, whose
    /// scenarios do not run out of memory).
    fn end_step(&mut self) -> Vec<TaskId> {
        Vec::new()
    }
    /// Check the backend's invariants after a step (the model's checker; a no-op on a host).
    fn check(&mut self) -> Result<(), String>;
    /// Let `ns` of time pass: the model advances its virtual clock, running the kernel threads
    /// that come due; a host sleeps.
    fn sleep(&mut self, ns: u64);
    /// The backend's clock in ns: the model's virtual time, a host's monotonic time.
    fn now_ns(&mut self) -> u64;
    /// Read a sysfs or procfs file as `cat` prints it, or the errno the read gives.
    fn sysfs_read(&mut self, path: &str) -> Result<String, Errno>;
    /// Write a sysfs or procfs file as `echo VALUE > PATH` does, or the errno the write gives.
    /// A host gives back what it wrote when the scenario ends (`teardown`).
    fn sysfs_write(&mut self, path: &str, value: &str) -> Result<(), Errno>;
    /// The trace events since the last call, if this backend traces (the model with tracing
    /// on); None if it does not.
    fn take_trace(&mut self) -> Option<Vec<mmlab::trace::Event>> {
        None
    }
    /// The scenario is over: give back what it changed that must not outlast it (a host's
    /// sysfs writes, its swap areas). Err says what could not be given back: the run is then
    /// an error, since the machine is no longer as it was.
    fn teardown(&mut self) -> Result<(), String> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_swaps_lines_parse_with_their_priority_sign() {
        let text = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n\
                    /var/tmp/mmlab-swap-1-0/swap0           file\t\t16380\t\t4\t\t-2\n\
                    /dev/zram1                              partition\t16380\t\t0\t\t100\n";
        assert_eq!(
            parse_proc_swaps(text),
            [
                SwapsLine {
                    filename: "/var/tmp/mmlab-swap-1-0/swap0".into(),
                    size_kb: 16380,
                    used_kb: 4,
                    priority: -2
                },
                SwapsLine {
                    filename: "/dev/zram1".into(),
                    size_kb: 16380,
                    used_kb: 0,
                    priority: 100
                },
            ]
        );
        assert!(parse_proc_swaps("Filename Type Size Used Priority\n").is_empty());
    }
}
