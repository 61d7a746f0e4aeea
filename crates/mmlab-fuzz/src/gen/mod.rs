//! The case generator: a seeded walk that builds a scenario one step at a time and runs each
//! step on the model (through the shadow) as it goes. Every call it writes is one the model
//! answered, written the way the answer needs (`p = mmap(...)`, `expect munmap(...) fails
//! EINVAL`, `expect store(...) blocks`), and every expectation states what the model observed,
//! except memory contents and access outcomes the shadow predicts: those state the shadow's
//! prediction, so a disagreement is a failing line. Lines are written before their call runs
//! and rewritten after it, so when the model panics the text so far reproduces it.

mod files;
mod mem;
mod probes;
mod swap;
mod sysfs;
mod tasks;
pub mod text;
mod uffd;

use std::collections::{HashMap, VecDeque};

use mmlab::{Errno, Signal};
use mmlab_scenario::backend::{Access, Syscall, TaskId};
use mmlab_scenario::{Backend, ModelBackend};
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};

use crate::shadow::Shadow;

/// The first aligned slot (see `Gen::aligned_place`): 96 TiB, far above the program and its heap
/// (~85 TiB with ASLR) and the host agent's own region (16 TiB), far below the top-down mmap
/// area (~127 TiB; the model's starts at its TASK_SIZE).
pub(crate) const ALIGNED_SLOTS: u64 = 0x6000_0000_0000;
/// The slots' area, 1 TiB: nothing but a case's aligned mappings is ever there.
const ALIGNED_AREA_END: u64 = ALIGNED_SLOTS + (1 << 40);

/// How far a range starting at `a` may reach in an address space mapped as `maps`: within the
/// aligned slots' area, or up to the end of the highest mapping below the mmap area's top,
/// above which a real process has its program, libraries and stack and the model's has
/// nothing (0 when nothing is mapped there yet).
pub(crate) fn reach_limit(maps: &[mmlab::fs::proc::MapsEntry], a: u64) -> u64 {
    if (ALIGNED_SLOTS..ALIGNED_AREA_END).contains(&a) {
        return ALIGNED_AREA_END;
    }
    maps.iter()
        .filter(|m| !(ALIGNED_SLOTS..ALIGNED_AREA_END).contains(&m.start))
        .map(|m| m.end)
        .max()
        .unwrap_or(0)
}

/// A syscall of the language by name, all its arguments numbers.
fn nums(name: &str, args: &[u64]) -> Syscall {
    Syscall::nums(name, args).expect("a syscall of the language, with its arguments")
}

/// What the generator may use.
#[derive(Clone, Debug)]
pub struct GenConfig {
    /// Only what the host kernel can run and observe deterministically (for `--both`).
    pub host: bool,
    /// The most steps a case takes.
    pub steps: usize,
}

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig {
            host: false,
            steps: 60,
        }
    }
}

/// Generate the case of `seed` into `out`, one line per entry. Runs the model as it goes; may
/// panic if the model does (the caller catches it: `out` then ends with the line that did).
pub fn generate(seed: u64, cfg: &GenConfig, out: &mut Vec<String>) {
    let mut g = Gen {
        rng: ChaCha8Rng::seed_from_u64(seed),
        cfg: cfg.clone(),
        b: Shadow::new(ModelBackend::default()),
        out,
        tasks: vec![],
        procs: vec![],
        uffds: vec![],
        counters: HashMap::new(),
        pending_forks: VecDeque::new(),
        pending_regions: HashMap::new(),
        vmstat_vars: HashMap::new(),
        page_refs: vec![],
        slots: 0,
        cpus: 2,
        hugepages: 0,
        settled: vec![],
        swaps: vec![],
        steps: 0,
    };
    g.run(seed);
}

/// Why a task sleeps, so `wait()` is written the right way.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Sleep {
    /// In handle_userfault() on a load (its value matters) or another access.
    Access { load: bool },
    /// In a syscall; `bind` names the variable its return value goes to.
    Syscall { bind: Option<String> },
    /// In fork(), until the FORK event is read; the child's process.
    Fork { child: usize },
}

struct Task {
    name: String,
    id: TaskId,
    proc: usize,
    asleep: Option<Sleep>,
    /// Bound to a name (a blocked fork's child is not until `C = wait()`).
    born: bool,
}

/// What a mapping is, as far as choosing what to do with it goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Anon,
    SharedAnon,
    File { shared: bool },
}

#[derive(Clone, Debug)]
struct Region {
    var: String,
    base: u64,
    len: u64,
    kind: Kind,
    /// hugetlbfs: sizes and offsets in 2 MiB.
    huge: bool,
    /// The handler's UFFDIO_COPY source.
    src: bool,
}

#[derive(Clone, Debug)]
struct Memfd {
    var: String,
    fd: u64,
    huge: bool,
    /// The size the generator last gave it (a guide, not a fact).
    size: u64,
}

#[derive(Clone, Debug, Default)]
struct Proc {
    alive: bool,
    regions: Vec<Region>,
    memfds: Vec<Memfd>,
    /// The variable holding a minflt() reading of this process, and the reading.
    minflt: Option<(String, u64)>,
    /// Addresses recently written: loads and advice go back there to see what stayed.
    hot: Vec<(Region, i64)>,
}

/// A userfaultfd context.
#[derive(Clone, Debug)]
struct Uffd {
    /// How the scenario names its descriptor (`u1`, or `m3.ufd` for a FORK event's).
    fd_text: String,
    fd: u64,
    /// The process whose mm it serves.
    owner: usize,
    /// Processes holding a descriptor for it.
    holders: Vec<usize>,
    features: u64,
    nonblock: bool,
    /// UFFDIO_API done.
    api: bool,
    /// Ranges registered on it (region, offset, length): accesses go there to fault.
    ranges: Vec<(Region, i64, u64)>,
}

/// How a syscall's success is written.
enum Ret {
    /// `T: CALL`
    Plain,
    /// `T: var = CALL`
    Bind(String),
    /// `T: expect CALL & MASK == v` (MASK: the bits 5.19 defines, where later kernels add more)
    Check(Option<&'static str>, u64),
}

/// What a call did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Res {
    Ok(u64),
    Err(Errno),
    Asleep,
}

/// One kind of step, tried for a task; false if it did not apply.
type Action<'a> = fn(&mut Gen<'a>, usize) -> bool;

pub(crate) struct Gen<'a> {
    rng: ChaCha8Rng,
    cfg: GenConfig,
    b: Shadow<ModelBackend>,
    out: &'a mut Vec<String>,
    tasks: Vec<Task>,
    procs: Vec<Proc>,
    uffds: Vec<Uffd>,
    counters: HashMap<&'static str, u32>,
    /// Children of forks asleep until their FORK event is read, oldest first.
    pending_forks: VecDeque<usize>,
    /// Regions of syscalls asleep that bind their address when they return.
    pending_regions: HashMap<String, Region>,
    /// vmstat readings: counter -> (variable, value).
    vmstat_vars: HashMap<String, (String, u64)>,
    /// model.get_page references not yet put: (variable, pfn).
    page_refs: Vec<(String, u64)>,
    /// Aligned slots used (see `aligned_place`).
    slots: u64,
    cpus: usize,
    hugepages: u64,
    /// sysfs files whose value the case fixed (its `thp` settings, its writes), which the
    /// host shows as the model does.
    settled: Vec<String>,
    /// The swap areas the header declares.
    swaps: Vec<swap::SwapArea>,
    steps: usize,
}

impl Gen<'_> {
    fn run(&mut self, seed: u64) {
        self.header(seed);
        self.settled = self.settled_files();
        if !self.prepare() || !self.new_process() {
            return;
        }
        let n = self.rng.random_range(8..=self.cfg.steps.max(8));
        let mut idle = 0;
        while self.steps < n && !self.found() && idle < 50 {
            if self.step() {
                idle = 0;
            } else {
                idle += 1;
            }
        }
        if !self.found() {
            self.wind_down();
        }
    }

    /// The model panicked (the caller sees that), broke an invariant or read what the shadow
    /// says it cannot: the case ends here.
    fn found(&self) -> bool {
        self.b.violation.is_some() || !self.b.mismatches.is_empty()
    }

    fn fresh(&mut self, prefix: &'static str) -> String {
        let n = self.counters.entry(prefix).or_insert(0);
        *n += 1;
        format!("{prefix}{n}")
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p)
    }

    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.rng.random_range(0..xs.len())]
    }

    /// Settings: a hugetlb pool and THP knobs always (the host keeps what the last scenario
    /// set otherwise); model-only ones when the host is not asked.
    fn header(&mut self, seed: u64) {
        self.out.push(format!("title \"fuzz case {seed}\""));
        self.hugepages = self.pick(&[0, 0, 1, 2, 2, 4, 8]);
        self.out.push(format!("hugepages {}", self.hugepages));
        let enabled = self.pick(&["always", "madvise", "madvise", "never"]);
        self.out.push(format!("thp enabled {enabled}"));
        let shmem = self.pick(&[
            "never",
            "never",
            "always",
            "within_size",
            "advise",
            "deny",
            "force",
        ]);
        self.out.push(format!("thp shmem_enabled {shmem}"));
        if self.chance(0.3) {
            let d = self.pick(&["always", "defer", "defer+madvise", "madvise", "never"]);
            self.out.push(format!("thp defrag {d}"));
        }
        if self.chance(0.2) {
            self.out.push("thp use_zero_page 0".into());
        }
        self.swap_header();
        if self.cfg.host {
            return;
        }
        let mut model_only = vec![];
        if self.chance(0.1) {
            self.out.push("profile linux-5.18".into());
            model_only.push("profile");
        }
        if self.chance(0.08) {
            let f = self.pick(&[
                "anon_exclusive",
                "mprotect_flush_avoid",
                "mremap_efault_fix",
                "uffd_wp_shmem_hugetlb",
            ]);
            let on = self.pick(&["on", "off"]);
            self.out.push(format!("feature {f} {on}"));
            model_only.push("feature");
        }
        if self.chance(0.2) {
            self.cpus = self.rng.random_range(1..=4);
            self.out.push(format!("cpus {}", self.cpus));
        }
        if self.chance(0.05) {
            // Room for the hugetlb pool (up to 16 MiB) and a little more.
            let m = self.pick(&["48M", "64M", "256M"]);
            self.out.push(format!("memory {m}"));
        }
        if self.chance(0.08) {
            let f = self.pick(&[4096, 16384, 65536]);
            self.out.push(format!("fault-around-bytes {f}"));
            model_only.push("fault-around-bytes");
        }
        if self.chance(0.2) {
            let (k, v) = self.pick(&[
                ("khugepaged/max_ptes_none", "0"),
                ("khugepaged/max_ptes_none", "511"),
                ("khugepaged/max_ptes_none", "64"),
                ("khugepaged/max_ptes_shared", "0"),
                ("khugepaged/max_ptes_shared", "256"),
                ("khugepaged/max_ptes_swap", "0"),
                ("khugepaged/pages_to_scan", "8"),
            ]);
            self.out.push(format!("thp {k} {v}"));
        }
        if !model_only.is_empty() || self.chance(0.5) {
            self.out
                .push("model-only \"a fuzz case with model-only settings or probes\"".into());
        }
    }

    /// The THP files the header set, and the one no setting changes.
    fn settled_files(&self) -> Vec<String> {
        let mut files = vec![format!("{}/hpage_pmd_size", sysfs::THP_DIR)];
        for l in self.out.iter() {
            if let Some(knob) = l.strip_prefix("thp ").and_then(|k| k.split(' ').next()) {
                files.push(format!("{}/{knob}", sysfs::THP_DIR));
            }
        }
        files
    }

    /// Start the model with the header's settings, as the runner does.
    fn prepare(&mut self) -> bool {
        let text = self.out.join("\n");
        let Ok(sc) = mmlab_scenario::parse(&text, std::path::Path::new("header.mml")) else {
            return false;
        };
        self.b.prepare(&mmlab_scenario::run::setup_of(&sc)).is_ok()
    }

    /// May the case use model-only probes? (Only if it says so in its header.)
    fn model_probes(&self) -> bool {
        self.out.iter().any(|l| l.starts_with("model-only"))
    }

    /// Tasks of live processes that are awake (or, with `asleep`, that sleep).
    fn tasks_that(&self, asleep: bool) -> Vec<usize> {
        (0..self.tasks.len())
            .filter(|&t| {
                let k = &self.tasks[t];
                k.born && k.asleep.is_some() == asleep && self.procs[k.proc].alive
            })
            .collect()
    }

    fn awake(&self) -> Vec<usize> {
        self.tasks_that(false)
    }

    fn asleep(&self) -> Vec<usize> {
        self.tasks_that(true)
    }

    /// One random step; false if the chosen kind did not apply.
    fn step(&mut self) -> bool {
        let awake = self.awake();
        if awake.is_empty() {
            self.steps = usize::MAX;
            return false;
        }
        let t = self.pick(&awake);
        let sleepers = !self.asleep().is_empty();
        let choices: &[(u32, Action<'_>)] = &[
            (14, Self::map_something),
            (30, Self::access_something),
            (16, Self::observe_something),
            (4, Self::munmap_something),
            (5, Self::mremap_something),
            (6, Self::mprotect_something),
            (10, Self::madvise_something),
            (8, Self::file_something),
            (2, Self::fork_something),
            (2, Self::thread_something),
            (1, Self::exit_something),
            (1, Self::process_something),
            (1, Self::affinity_something),
            (12, Self::uffd_something),
            (2, Self::repeat_something),
            (3, Self::model_probe_something),
            (3, Self::time_something),
            (
                if self.swaps.is_empty() { 0 } else { 8 },
                Self::swap_something,
            ),
        ];
        if sleepers && self.chance(0.4) {
            return self.handle_something(t);
        }
        let total: u32 = choices.iter().map(|c| c.0).sum();
        let mut r = self.rng.random_range(0..total);
        for (w, f) in choices {
            if r < *w {
                return f(self, t);
            }
            r -= w;
        }
        false
    }

    // ---- writing lines and running their calls ----

    /// Write a line before its call runs (the line a panic leaves behind).
    fn begin(&mut self, line: String) -> usize {
        self.out.push(line);
        self.out.len() - 1
    }

    /// Rewrite the line with what the call did; the runner checks invariants after a step.
    fn end(&mut self, i: usize, line: String) {
        self.out[i] = line;
        let _ = self.b.check();
        self.steps += 1;
    }

    /// A line whose calls returned nothing the case can use: take it back (only for calls
    /// without effects: probes).
    fn undo(&mut self, i: usize) {
        self.out.truncate(i);
    }

    fn tname(&self, t: usize) -> String {
        self.tasks[t].name.clone()
    }

    /// Run a syscall for task `t` and write it as its outcome needs.
    fn sys(&mut self, t: usize, text: &str, call: Syscall, ret: Ret) -> Res {
        let tn = self.tname(t);
        let id = self.tasks[t].id;
        let i = self.begin(format!("{tn}: {text}"));
        let r = self.b.syscall(id, &call);
        if self.b.sleeping(id) {
            let bind = match ret {
                Ret::Bind(v) => Some(v),
                _ => None,
            };
            self.tasks[t].asleep = Some(Sleep::Syscall { bind });
            self.end(i, format!("{tn}: expect {text} blocks"));
            return Res::Asleep;
        }
        let line = match (r, &ret) {
            (Ok(_), Ret::Plain) => format!("{tn}: {text}"),
            (Ok(_), Ret::Bind(v)) => format!("{tn}: {v} = {text}"),
            (Ok(v), Ret::Check(None, _)) => format!("{tn}: expect {text} == {}", text::num(v)),
            (Ok(v), Ret::Check(Some(m), mv)) => {
                format!("{tn}: expect {text} & {m} == {}", text::num(v & mv))
            }
            (Err(e), _) => format!("{tn}: expect {text} fails {}", e.name()),
        };
        self.end(i, line);
        match r {
            Ok(v) => Res::Ok(v),
            Err(e) => Res::Err(e),
        }
    }

    /// Run an access for task `t` (`text` is the call, e.g. `store(p, 0x11)`).
    fn access(&mut self, t: usize, text: &str, a: Access) -> Result<u64, Signal> {
        let tn = self.tname(t);
        let id = self.tasks[t].id;
        let load = matches!(a, Access::Load(_));
        let e = match a {
            Access::Load(x) => self.b.predict(id, x, false),
            Access::Store(x, _) => self.b.predict(id, x, true),
            _ => Default::default(),
        };
        let i = self.begin(format!("{tn}: expect {text} == 0"));
        let seen = self.b.mismatches.len();
        let r = self.b.access(id, a);
        let contradicted = self.b.mismatches.len() > seen;
        let line = match r {
            Err(Signal::Userfault) => {
                self.tasks[t].asleep = Some(Sleep::Access { load });
                format!("{tn}: expect {text} blocks")
            }
            // The shadow's prediction, where the model contradicts it: the line fails.
            _ if contradicted => match (e.fault, e.byte) {
                (Some(Some(sig)), _) => text::faults(&tn, text, sig),
                (_, Some(b)) if load => format!("{tn}: expect {text} == {}", text::byte(b)),
                _ => format!("{tn}: expect {text} == 0"),
            },
            Err(sig) => text::faults(&tn, text, sig),
            Ok(v) if load => format!("{tn}: expect {text} == {}", text::byte(v as u8)),
            Ok(_) => format!("{tn}: {text}"),
        };
        self.end(i, line);
        r
    }
}
