//! Workloads that drive a model process's memory over virtual time at scale: masim
//! configurations (masim.rs) and recorded access traces (trace.rs), for DAMON experiments.
//!
//! The driver works in steps of virtual time (1 ms by default). The accesses of a step are
//! generated one by one (masim's pattern picks, strides and random offsets), but each page a
//! step touches is accessed through the simulated MMU once, in first-touch order: a second
//! access to the page in the same step would set no bit the first did not (nothing samples the
//! accessed bits between two accesses of a step). What can differ from a per-access replay is
//! only which translations the TLB holds at the end of a step.

pub mod masim;
pub mod trace;

use crate::kernel::Kernel;
use crate::sched::{Signal, Tid};

/// The pages one step touched, in first-touch order, with whether any access wrote.
#[derive(Debug, Default)]
pub struct StepPages {
    /// Page-aligned addresses.
    pub pages: Vec<u64>,
    pub write: Vec<bool>,
    seen: std::collections::HashMap<u64, usize>,
}

impl StepPages {
    /// Note one access.
    #[inline]
    pub fn touch(&mut self, addr: u64, write: bool) {
        let page = addr & !0xfff;
        match self.seen.get(&page) {
            Some(&i) => self.write[i] |= write,
            None => {
                self.seen.insert(page, self.pages.len());
                self.pages.push(page);
                self.write.push(write);
            }
        }
    }

    /// Make the step's accesses through `tid`'s MMU.
    pub fn apply(&self, k: &mut Kernel, tid: Tid) -> Result<(), Signal> {
        for (&p, &w) in self.pages.iter().zip(&self.write) {
            if w {
                k.store(tid, p, 1)?;
            } else {
                k.load(tid, p)?;
            }
        }
        Ok(())
    }

    pub fn clear(&mut self) {
        self.pages.clear();
        self.write.clear();
        self.seen.clear();
    }
}

/// A masim configuration running in a model process.
pub struct Masim {
    pub cfg: masim::Config,
    pub tid: Tid,
    /// Where each region was mapped.
    pub bases: Vec<u64>,
    /// Accesses per pattern pick (masim's nr_accesses_per_region, 128 Ki by default).
    pub batch: u64,
    /// Accesses per ms of virtual time.
    pub rate_per_ms: u64,
    /// masim's rndint().
    rng: crate::mm::damon::Prng,
    /// Each phase pattern's last sequential offset.
    offsets: Vec<Vec<u64>>,
    /// Accesses left of the current pick: (pattern index, count).
    pick: Option<(usize, u64)>,
    /// Logical accesses made.
    pub accesses: u64,
}

impl Masim {
    /// Spawn the process on CPU 0, map each region (anonymous, private, separately, with an
    /// unmapped page between them as malloc's mmaps leave) and write it once, as masim's
    /// initialisation does.
    pub fn setup(
        k: &mut Kernel,
        cfg: masim::Config,
        rate_per_ms: u64,
        seed: u64,
    ) -> Result<Masim, String> {
        use crate::uapi::*;
        let tid = k.spawn_process(0).map_err(|e| format!("spawn: {e:?}"))?;
        let mut bases = Vec::new();
        for r in &cfg.regions {
            let len = r.size.div_ceil(4096) * 4096;
            let guard = k
                .mmap(
                    tid,
                    0,
                    len + 4096,
                    PROT_NONE,
                    MAP_PRIVATE | MAP_ANONYMOUS,
                    -1,
                    0,
                )
                .map_err(|e| format!("mmap {}: {e:?}", r.name))?;
            let p = k
                .mmap(
                    tid,
                    guard,
                    len,
                    PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
                    -1,
                    0,
                )
                .map_err(|e| format!("mmap {}: {e:?}", r.name))?;
            k.munmap(tid, p + len, 4096)
                .map_err(|e| format!("munmap {}: {e:?}", r.name))?;
            k.memset(tid, p, 0, len)
                .map_err(|e| format!("populate {}: {e:?}", r.name))?;
            bases.push(p);
        }
        let offsets = cfg
            .phases
            .iter()
            .map(|p| vec![0; p.patterns.len()])
            .collect();
        Ok(Masim {
            cfg,
            tid,
            bases,
            batch: 128 * 1024,
            rate_per_ms,
            rng: crate::mm::damon::Prng::new(seed),
            offsets,
            pick: None,
            accesses: 0,
        })
    }

    /// The accesses of `n` of phase `pi` into `out` (exec_phase()'s loop: a pattern picked
    /// by probability runs `batch` accesses, sequentially by its stride or at random offsets;
    /// a pick not finished carries over to the next call within the phase).
    pub fn generate(&mut self, pi: usize, n: u64, out: &mut StepPages) {
        let phase = &self.cfg.phases[pi];
        let total = phase.total_probability();
        let mut left = n;
        while left > 0 {
            let (i, count) = match self.pick.take() {
                Some(p) => p,
                None if total == 0 => return,
                None => {
                    let randn = self.rng.next_u64() % total;
                    let mut start = 0;
                    let i = phase
                        .patterns
                        .iter()
                        .position(|p| {
                            start += p.probability;
                            randn < start
                        })
                        .expect("randn below the total");
                    (i, self.batch)
                }
            };
            let now = count.min(left);
            let p = &phase.patterns[i];
            let size = self.cfg.regions[p.region].size.max(1);
            let base = self.bases[p.region];
            let write = p.rw != masim::RwMode::ReadOnly;
            let off = &mut self.offsets[pi][i];
            if p.random {
                for _ in 0..now {
                    out.touch(base + self.rng.next_u64() % size, write);
                }
            } else if now >= size.div_ceil(p.stride) {
                // The sweep visits every offset of its cycle (0, stride, 2 stride, ... below
                // the size): touch those pages, and leave the offset where the per-access loop
                // would.
                let cycle = size.div_ceil(p.stride);
                let step = p.stride.max(4096);
                let mut a = 0;
                while a < size {
                    out.touch(base + a, write);
                    a = if p.stride >= 4096 {
                        a + step
                    } else {
                        (a & !4095) + 4096
                    };
                }
                *off = ((*off / p.stride + now) % cycle) * p.stride;
            } else {
                for _ in 0..now {
                    *off += p.stride;
                    if *off >= size {
                        *off = 0;
                    }
                    out.touch(base + *off, write);
                }
            }
            self.accesses += now;
            left -= now;
            if now < count {
                self.pick = Some((i, count - now));
            }
        }
    }

    /// Run phase `pi` for `ms` ms in steps of `step_ms`, letting time pass after each step
    /// (so kdamond and the other threads run); `each` sees every step's pages.
    pub fn run_phase(
        &mut self,
        k: &mut Kernel,
        pi: usize,
        ms: u64,
        step_ms: u64,
        mut each: impl FnMut(&Kernel, &StepPages),
    ) -> Result<(), Signal> {
        let mut pages = StepPages::default();
        let mut done = 0;
        // exec_phase(): a phase starts with a fresh pick.
        self.pick = None;
        while done < ms {
            let d = step_ms.min(ms - done).max(1);
            pages.clear();
            self.generate(pi, self.rate_per_ms * d, &mut pages);
            pages.apply(k, self.tid)?;
            each(k, &pages);
            k.advance_time(d * 1_000_000);
            done += d;
        }
        Ok(())
    }
}
