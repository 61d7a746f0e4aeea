//! Property: hugetlb data follows fork semantics. One process with a private MAP_HUGETLB
//! mapping and a shared mapping of an MFD_HUGETLB memfd (HN huge pages each), then stores,
//! memsets, loads, MADV_DONTNEED, hole punches, forks and exits; sampled bytes of every huge
//! page are shadowed per process (private) and per file (shared). A child reads everything as
//! of the fork; later private writes never leak between processes, shared ones always do. As
//! in 5.18/5.19, MADV_DONTNEED on the shared mapping clears its VM_MAYSHARE, after which a
//! fault on a file hole there gives an anonymous page (shared with later children) that never
//! reaches the file. At the end the pool is whole again (no page in use, no reservation).

use mmlab::mm::memfd::MFD_HUGETLB;
use mmlab::mm::shmem::{FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE};
use mmlab::uapi::*;
use mmlab::{Config, Kernel, Profile, Tid};
use proptest::prelude::*;

mod common;
use common::{check_pool_idle, exit_each, expect, HOFFS, HPAGE, PAGE};

/// Huge pages in each mapping.
const HN: u64 = 2;
/// Processes at most.
const HPROCS: usize = 3;
/// The pool: enough that no fault ever fails (each process's private copies
/// and anonymous pages in its shared mapping once MADV_DONTNEED demoted it, the file's pages
/// and the first process's reservations: at most 2 * HPROCS * HN + HN + HN).
const HPOOL: u64 = (2 * HPROCS as u64 + 2) * HN;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HVia {
    /// The private MAP_HUGETLB mapping (anonymous).
    Private,
    /// The shared mapping of the MFD_HUGETLB memfd.
    Shared,
}

#[derive(Clone, Debug)]
enum HOp {
    Store {
        p: usize,
        via: HVia,
        hp: u64,
        off: usize,
        val: u8,
    },
    Load {
        p: usize,
        via: HVia,
        hp: u64,
        off: usize,
    },
    /// memset of `pages` base pages from sampled offset `off` (within the mapping).
    Memset {
        p: usize,
        via: HVia,
        hp: u64,
        off: usize,
        pages: u64,
        val: u8,
    },
    /// MADV_DONTNEED of one huge page: a private page is gone (zero again), a shared one stays
    /// in the file.
    Dontneed {
        p: usize,
        via: HVia,
        hp: u64,
    },
    /// PUNCH_HOLE|KEEP_SIZE of the memfd: whole huge pages removed, partial ones zeroed.
    Punch {
        off: u64,
        len: u64,
    },
    Fork {
        p: usize,
    },
    /// Exit of a process other than the first.
    Exit {
        p: usize,
    },
}

fn hvia_s() -> impl Strategy<Value = HVia> {
    prop_oneof![Just(HVia::Private), Just(HVia::Shared)]
}

fn hop_s() -> impl Strategy<Value = HOp> {
    let hoffs = 0..HOFFS.len();
    prop_oneof![
        8 => (0usize..4, hvia_s(), 0..HN, hoffs.clone(), any::<u8>())
            .prop_map(|(p, via, hp, off, val)| HOp::Store { p, via, hp, off, val }),
        6 => (0usize..4, hvia_s(), 0..HN, hoffs.clone())
            .prop_map(|(p, via, hp, off)| HOp::Load { p, via, hp, off }),
        2 => (0usize..4, hvia_s(), 0..HN, hoffs, 1u64..=3, any::<u8>())
            .prop_map(|(p, via, hp, off, pages, val)| HOp::Memset { p, via, hp, off, pages, val }),
        2 => (0usize..4, hvia_s(), 0..HN).prop_map(|(p, via, hp)| HOp::Dontneed { p, via, hp }),
        2 => (
            prop_oneof![
                2 => (0..HN).prop_map(|h| h * HPAGE),
                2 => (0..HN, 0..HOFFS.len()).prop_map(|(h, o)| h * HPAGE + HOFFS[o]),
                1 => 0..HN * HPAGE,
            ],
            prop_oneof![2 => Just(HPAGE), 1 => 1..=2 * HPAGE, 1 => 1u64..=2 * PAGE],
        )
            .prop_map(|(off, len)| HOp::Punch { off, len }),
        3 => (0usize..4).prop_map(|p| HOp::Fork { p }),
        1 => (0usize..4).prop_map(|p| HOp::Exit { p }),
    ]
}

/// Sampled bytes of one mapping: [huge page][HOFFS index].
type HBytes = [[u8; HOFFS.len()]; HN as usize];

/// What backs one huge page of a process's shared mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HShared {
    /// Not mapped: the next access faults.
    Unmapped,
    /// The file's page.
    File,
    /// An anonymous page (index into `HugeWorld::anon`): what a fault on a file hole gives
    /// once MADV_DONTNEED cleared VM_MAYSHARE (5.19), shared with forked children.
    Anon(usize),
}

/// One process: its first thread, the shadow of its private mapping and what backs each
/// huge page of its shared mapping.
struct HProc {
    t: Tid,
    private: HBytes,
    shared: [HShared; HN as usize],
    /// MADV_DONTNEED cleared the shared VMA's VM_MAYSHARE.
    demoted: bool,
}

struct HugeWorld {
    k: Kernel,
    procs: Vec<HProc>,
    fd: i64,
    /// Both mappings sit at the same addresses in every process (fork copies them).
    private_at: u64,
    shared_at: u64,
    /// The memfd's sampled bytes (every process sees the same file).
    file: HBytes,
    /// Which huge pages the memfd holds.
    file_present: [bool; HN as usize],
    /// Anonymous pages of demoted shared mappings.
    anon: Vec<[u8; HOFFS.len()]>,
}

impl HugeWorld {
    fn new(profile: Profile) -> Result<HugeWorld, String> {
        let mut k = Kernel::new(Config::new(profile));
        expect("nr_hugepages", k.set_nr_hugepages(HPOOL), HPOOL)?;
        let t = k.spawn_process(0).expect("spawn");
        let rw = PROT_READ | PROT_WRITE;
        let private_at = k
            .mmap(
                t,
                0,
                HN * HPAGE,
                rw,
                MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB,
                -1,
                0,
            )
            .map_err(|e| format!("private mmap: {e:?}"))?;
        let fd = k
            .memfd_create(t, "huge", MFD_HUGETLB)
            .map_err(|e| format!("memfd_create: {e:?}"))? as i64;
        k.ftruncate(t, fd, (HN * HPAGE) as i64)
            .map_err(|e| format!("ftruncate: {e:?}"))?;
        let shared_at = k
            .mmap(t, 0, HN * HPAGE, rw, MAP_SHARED, fd, 0)
            .map_err(|e| format!("shared mmap: {e:?}"))?;
        Ok(HugeWorld {
            k,
            procs: vec![HProc {
                t,
                private: [[0; HOFFS.len()]; HN as usize],
                shared: [HShared::Unmapped; HN as usize],
                demoted: false,
            }],
            fd,
            private_at,
            shared_at,
            file: [[0; HOFFS.len()]; HN as usize],
            file_present: [false; HN as usize],
            anon: Vec::new(),
        })
    }

    /// The sampled bytes an access to huge page `hp` of `via` in process `p` reaches,
    /// faulting it in as hugetlb_no_page() would: a file page if the file holds one, else a
    /// new page, which joins the file unless the VMA lost VM_MAYSHARE.
    fn page(&mut self, p: usize, via: HVia, hp: u64) -> &mut [u8; HOFFS.len()] {
        let h = hp as usize;
        if via == HVia::Private {
            return &mut self.procs[p].private[h];
        }
        if self.procs[p].shared[h] == HShared::Unmapped {
            self.procs[p].shared[h] = if self.file_present[h] {
                HShared::File
            } else if self.procs[p].demoted {
                self.anon.push([0; HOFFS.len()]);
                HShared::Anon(self.anon.len() - 1)
            } else {
                self.file_present[h] = true;
                HShared::File
            };
        }
        match self.procs[p].shared[h] {
            HShared::Anon(i) => &mut self.anon[i],
            _ => &mut self.file[h],
        }
    }

    fn at(&self, via: HVia) -> u64 {
        match via {
            HVia::Private => self.private_at,
            HVia::Shared => self.shared_at,
        }
    }

    /// Set the sampled bytes of `via` in `[lo, hi)` (offsets in the mapping) to `val`.
    fn fill(&mut self, p: usize, via: HVia, lo: u64, hi: u64, val: u8) {
        for hp in 0..HN {
            let base = hp * HPAGE;
            if hi <= base || lo >= base + HPAGE {
                continue;
            }
            for (i, b) in self.page(p, via, hp).iter_mut().enumerate() {
                if (lo..hi).contains(&(base + HOFFS[i])) {
                    *b = val;
                }
            }
        }
    }

    fn check_load(&mut self, p: usize, via: HVia, hp: u64, off: usize) -> Result<(), String> {
        let a = self.at(via) + hp * HPAGE + HOFFS[off];
        let want = self.page(p, via, hp)[off];
        expect(
            &format!(
                "process {p} {via:?} load of huge page {hp} +{:#x}",
                HOFFS[off]
            ),
            self.k.load(self.procs[p].t, a),
            Ok(want),
        )
    }

    /// Every sampled byte of both mappings in process `p`.
    fn check_proc(&mut self, p: usize) -> Result<(), String> {
        for via in [HVia::Private, HVia::Shared] {
            for hp in 0..HN {
                for off in 0..HOFFS.len() {
                    self.check_load(p, via, hp, off)?;
                }
            }
        }
        Ok(())
    }

    fn apply(&mut self, op: &HOp) -> Result<(), String> {
        let n = self.procs.len();
        match *op {
            HOp::Store {
                p,
                via,
                hp,
                off,
                val,
            } => {
                let p = p % n;
                let a = self.at(via) + hp * HPAGE + HOFFS[off];
                expect(
                    &format!("process {p} {via:?} store"),
                    self.k.store(self.procs[p].t, a, val),
                    Ok(()),
                )?;
                self.page(p, via, hp)[off] = val;
                self.check_load(p, via, hp, off)?;
            }
            HOp::Load { p, via, hp, off } => self.check_load(p % n, via, hp, off)?,
            HOp::Memset {
                p,
                via,
                hp,
                off,
                pages,
                val,
            } => {
                let p = p % n;
                let lo = hp * HPAGE + HOFFS[off];
                let hi = (lo + pages * PAGE).min(HN * HPAGE);
                expect(
                    &format!("process {p} {via:?} memset {lo:#x}..{hi:#x}"),
                    self.k
                        .memset(self.procs[p].t, self.at(via) + lo, val, hi - lo),
                    Ok(()),
                )?;
                self.fill(p, via, lo, hi, val);
            }
            HOp::Dontneed { p, via, hp } => {
                let p = p % n;
                let a = self.at(via) + hp * HPAGE;
                expect(
                    &format!("process {p} {via:?} MADV_DONTNEED"),
                    self.k.madvise(self.procs[p].t, a, HPAGE, MADV_DONTNEED),
                    Ok(()),
                )?;
                match via {
                    HVia::Private => self.fill(p, via, hp * HPAGE, (hp + 1) * HPAGE, 0),
                    HVia::Shared => {
                        self.procs[p].shared[hp as usize] = HShared::Unmapped;
                        self.procs[p].demoted = true;
                    }
                }
            }
            HOp::Punch { off, len } => {
                let r = self.k.fallocate(
                    self.procs[0].t,
                    self.fd,
                    FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                    off as i64,
                    len as i64,
                );
                expect(&format!("punch {off:#x}+{len:#x}"), r, Ok(()))?;
                // Whole huge pages leave the file and every mapping of them (anonymous pages
                // of demoted mappings too: hugetlbfs punches with even_cows); the edges of
                // the range are zeroed in the file's pages.
                for hp in 0..HN as usize {
                    let (lo, hi) = (hp as u64 * HPAGE, (hp as u64 + 1) * HPAGE);
                    if off <= lo && hi <= off + len {
                        self.file_present[hp] = false;
                        self.file[hp] = [0; HOFFS.len()];
                        for pr in &mut self.procs {
                            pr.shared[hp] = HShared::Unmapped;
                        }
                    } else if off < hi && lo < off + len {
                        for (i, b) in self.file[hp].iter_mut().enumerate() {
                            if (off..off + len).contains(&(lo + HOFFS[i])) {
                                *b = 0;
                            }
                        }
                    }
                }
            }
            HOp::Fork { p } => {
                if n >= HPROCS {
                    return Ok(());
                }
                let p = p % n;
                let c = self
                    .k
                    .fork(self.procs[p].t)
                    .map_err(|e| format!("fork: {e:?}"))?;
                let parent = &self.procs[p];
                let child = HProc {
                    t: c,
                    private: parent.private,
                    shared: parent.shared,
                    demoted: parent.demoted,
                };
                self.procs.push(child);
                // The child sees everything as of the fork.
                self.check_proc(n)?;
            }
            HOp::Exit { p } => {
                if n < 2 {
                    return Ok(());
                }
                let i = 1 + p % (n - 1);
                let pr = self.procs.remove(i);
                expect("exit", self.k.exit(pr.t), Ok(()))?;
            }
        }
        Ok(())
    }
}

fn run_huge_shadow(profile: Profile, ops: &[HOp]) -> Result<(), TestCaseError> {
    let mut w = HugeWorld::new(profile).map_err(TestCaseError::fail)?;
    for (i, op) in ops.iter().enumerate() {
        let fail = |m: String| TestCaseError::fail(format!("{profile:?}: op {i} {op:?}: {m}"));
        w.apply(op).map_err(fail)?;
        w.k.check_invariants().map_err(|v| fail(v.to_string()))?;
    }
    for p in 0..w.procs.len() {
        w.check_proc(p)
            .map_err(|m| TestCaseError::fail(format!("{profile:?}: final sweep: {m}")))?;
    }
    let tids: Vec<Tid> = w.procs.drain(..).rev().map(|pr| pr.t).collect();
    exit_each(&mut w.k, tids).map_err(|m| TestCaseError::fail(format!("{profile:?}: {m}")))?;
    check_pool_idle(&w.k).map_err(|m| TestCaseError::fail(format!("{profile:?}: {m}")))
}

// Case counts keep the file to a few seconds in release mode on two cores.
proptest! {
    #![proptest_config(common::proptest_config(1024))]

    #[test]
    fn hugetlb_data_follows_fork_semantics(ops in prop::collection::vec(hop_s(), 1..60)) {
        run_huge_shadow(Profile::Linux519, &ops)?;
        run_huge_shadow(Profile::Linux518, &ops)?;
    }
}
