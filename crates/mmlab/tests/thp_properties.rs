//! Property: anonymous THP memory keeps private-memory semantics through every split,
//! collapse and fork. Processes share an arena of two 2 MiB-aligned huge pages with
//! `enabled` at "always"; random stores, memsets, loads, MADV_DONTNEED/FREE/COLD/PAGEOUT,
//! mprotect, munmap, forks, exits and khugepaged scan+collapse land at 4 KiB granularity, often
//! on huge page boundaries. A per-process shadow of every page (protection and four sampled
//! bytes) predicts each access (value or SIGSEGV) and each syscall result; the invariant
//! checker runs after every step; at the end no frame is left but the huge zero page.

use std::collections::BTreeMap;

use mmlab::uapi::*;
use mmlab::{Config, Kernel, Profile, Signal, Tid};
use proptest::prelude::*;

mod common;
use common::{collapse_if_scan_succeeds, exit_all_leaves_nothing, expect, HPAGE, OFFS, PAGE};

/// Arena pages: two huge pages.
const NPAGES: u64 = 1024;

#[derive(Clone, Copy, Debug)]
enum TOp {
    Store {
        p: usize,
        page: u64,
        off: usize,
        val: u8,
    },
    Memset {
        p: usize,
        page: u64,
        pages: u64,
        val: u8,
    },
    Load {
        p: usize,
        page: u64,
        off: usize,
    },
    Madvise {
        p: usize,
        page: u64,
        pages: u64,
        advice: u64,
    },
    Mprotect {
        p: usize,
        page: u64,
        pages: u64,
        write: bool,
    },
    Munmap {
        p: usize,
        page: u64,
        pages: u64,
    },
    Fork {
        p: usize,
    },
    Exit {
        p: usize,
    },
    Khugepaged {
        p: usize,
        page: u64,
    },
}

/// A page index, often at or next to a huge page boundary.
fn tpage_s() -> impl Strategy<Value = u64> {
    prop_oneof![
        2 => prop::sample::select(vec![0u64, 1, 510, 511, 512, 513, 1022, 1023]),
        3 => 0..NPAGES,
    ]
}

/// A length in pages, often a whole huge page.
fn tpages_s() -> impl Strategy<Value = u64> {
    prop_oneof![
        2 => Just(512u64),
        1 => Just(1024u64),
        3 => 1u64..=16,
        2 => 1u64..=NPAGES,
    ]
}

fn top_s() -> impl Strategy<Value = TOp> {
    let p = 0usize..4;
    prop_oneof![
        6 => (p.clone(), tpage_s(), 0..OFFS.len(), any::<u8>())
            .prop_map(|(p, page, off, val)| TOp::Store { p, page, off, val }),
        3 => (p.clone(), tpage_s(), tpages_s(), any::<u8>())
            .prop_map(|(p, page, pages, val)| TOp::Memset { p, page, pages, val }),
        3 => (p.clone(), tpage_s(), 0..OFFS.len())
            .prop_map(|(p, page, off)| TOp::Load { p, page, off }),
        4 => (
            p.clone(),
            tpage_s(),
            tpages_s(),
            prop::sample::select(vec![
                MADV_DONTNEED,
                MADV_FREE,
                MADV_COLD,
                MADV_PAGEOUT,
                MADV_NOHUGEPAGE,
                MADV_HUGEPAGE,
            ])
        )
            .prop_map(|(p, page, pages, advice)| TOp::Madvise { p, page, pages, advice }),
        2 => (p.clone(), tpage_s(), tpages_s(), any::<bool>())
            .prop_map(|(p, page, pages, write)| TOp::Mprotect { p, page, pages, write }),
        1 => (p.clone(), tpage_s(), 1u64..=8)
            .prop_map(|(p, page, pages)| TOp::Munmap { p, page, pages }),
        2 => p.clone().prop_map(|p| TOp::Fork { p }),
        1 => p.clone().prop_map(|p| TOp::Exit { p }),
        3 => (p, tpage_s()).prop_map(|(p, page)| TOp::Khugepaged { p, page }),
    ]
}

/// A page of the shadow: writable or not, and its sampled bytes (None: unmapped).
type Shadow = BTreeMap<u64, Option<(bool, [u8; 4])>>;

struct World {
    k: Kernel,
    procs: Vec<Tid>,
    sh: Vec<Shadow>,
    /// Per process, the pages MADV_FREE made lazily freeable and nothing wrote since: reclaim
    /// may have discarded them, so they read as the shadow says or as zero, page-wise.
    lazy: Vec<std::collections::BTreeSet<u64>>,
    base: u64,
}

impl World {
    fn new(profile: Profile) -> World {
        let mut k = Kernel::new(Config::new(profile));
        k.thp_sysfs_write("enabled", "always").expect("knob");
        let t = k.spawn_process(0).expect("spawn");
        let raw = k
            .mmap(
                t,
                0,
                NPAGES * PAGE + HPAGE,
                PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS,
                -1,
                0,
            )
            .expect("arena");
        let base = raw.next_multiple_of(HPAGE);
        let sh = (0..NPAGES)
            .map(|i| (base + i * PAGE, Some((true, [0; 4]))))
            .collect();
        World {
            k,
            procs: vec![t],
            sh: vec![sh],
            lazy: vec![Default::default()],
            base,
        }
    }

    fn pick(&self, p: usize) -> usize {
        p % self.procs.len()
    }

    /// Pages `[page, page + pages)` clipped to the arena.
    fn range(&self, page: u64, pages: u64) -> (u64, u64) {
        let n = pages.min(NPAGES - page);
        (self.base + page * PAGE, n)
    }

    fn apply(&mut self, op: TOp) -> Result<(), String> {
        match op {
            TOp::Store { p, page, off, val } => {
                let i = self.pick(p);
                if matches!(self.sh[i][&(self.base + page * PAGE)], Some((true, _))) {
                    self.settle(i, self.base + page * PAGE, true)?;
                }
                let a = self.base + page * PAGE + OFFS[off];
                let r = self.k.store(self.procs[i], a, val);
                let slot = self.sh[i]
                    .get_mut(&(self.base + page * PAGE))
                    .expect("page");
                match slot {
                    Some((true, bytes)) => {
                        bytes[off] = val;
                        expect("store", r, Ok(()))
                    }
                    _ => expect("store", r, Err(Signal::Segv)),
                }
            }
            TOp::Memset {
                p,
                page,
                pages,
                val,
            } => {
                let i = self.pick(p);
                let (a, n) = self.range(page, pages);
                // The pages memset gets to write: up to the first one it cannot.
                let written = (0..n)
                    .take_while(|x| matches!(self.sh[i][&(a + x * PAGE)], Some((true, _))))
                    .count() as u64;
                for x in 0..written {
                    self.settle(i, a + x * PAGE, true)?;
                }
                let r = self.k.memset(self.procs[i], a, val, n * PAGE);
                let mut want = Ok(());
                for x in 0..n {
                    match self.sh[i].get_mut(&(a + x * PAGE)).expect("page") {
                        Some((true, bytes)) => *bytes = [val; 4],
                        _ => {
                            want = Err(Signal::Segv);
                            break;
                        }
                    }
                }
                expect("memset", r, want)
            }
            TOp::Load { p, page, off } => {
                let i = self.pick(p);
                self.settle(i, self.base + page * PAGE, false)?;
                let a = self.base + page * PAGE + OFFS[off];
                let r = self.k.load(self.procs[i], a);
                let want = match self.sh[i][&(self.base + page * PAGE)] {
                    Some((_, bytes)) => Ok(bytes[off]),
                    None => Err(Signal::Segv),
                };
                expect("load", r, want)
            }
            TOp::Madvise {
                p,
                page,
                pages,
                advice,
            } => {
                let i = self.pick(p);
                let (a, n) = self.range(page, pages);
                let r = self.k.madvise(self.procs[i], a, n * PAGE, advice);
                let mapped = (0..n).all(|x| self.sh[i][&(a + x * PAGE)].is_some());
                // Unmapped pages in the range give ENOMEM after the advice was applied to
                // the mapped ones.
                if advice == MADV_FREE {
                    for x in 0..n {
                        if let Some(Some(_)) = self.sh[i].get(&(a + x * PAGE)) {
                            self.lazy[i].insert(a + x * PAGE);
                        }
                    }
                }
                if advice == MADV_DONTNEED {
                    for x in 0..n {
                        self.lazy[i].remove(&(a + x * PAGE));
                        if let Some(Some((_, bytes))) = self.sh[i].get_mut(&(a + x * PAGE)) {
                            *bytes = [0; 4];
                        }
                    }
                }
                expect(
                    "madvise",
                    r,
                    if mapped {
                        Ok(())
                    } else {
                        Err(mmlab::Errno::ENOMEM)
                    },
                )
            }
            TOp::Mprotect {
                p,
                page,
                pages,
                write,
            } => {
                let i = self.pick(p);
                let (a, n) = self.range(page, pages);
                let prot = PROT_READ | if write { PROT_WRITE } else { 0 };
                let r = self.k.mprotect(self.procs[i], a, n * PAGE, prot);
                let mapped = (0..n).all(|x| self.sh[i][&(a + x * PAGE)].is_some());
                if mapped {
                    for x in 0..n {
                        if let Some(Some((w, _))) = self.sh[i].get_mut(&(a + x * PAGE)) {
                            *w = write;
                        }
                    }
                    expect("mprotect", r, Ok(()))
                } else {
                    // mprotect stops at the first hole with ENOMEM; the pages before it may
                    // have changed, so the shadow follows the kernel's maps from here.
                    self.resync_prot(i, a, n);
                    expect("mprotect", r, Err(mmlab::Errno::ENOMEM))
                }
            }
            TOp::Munmap { p, page, pages } => {
                let i = self.pick(p);
                let (a, n) = self.range(page, pages);
                let r = self.k.munmap(self.procs[i], a, n * PAGE);
                for x in 0..n {
                    *self.sh[i].get_mut(&(a + x * PAGE)).expect("page") = None;
                    self.lazy[i].remove(&(a + x * PAGE));
                }
                expect("munmap", r, Ok(()))
            }
            TOp::Fork { p } => {
                if self.procs.len() >= 4 {
                    return Ok(());
                }
                let i = self.pick(p);
                let c = self
                    .k
                    .fork(self.procs[i])
                    .map_err(|e| format!("fork: {e:?}"))?;
                self.procs.push(c);
                self.sh.push(self.sh[i].clone());
                self.lazy.push(self.lazy[i].clone());
                self.check_contents(self.procs.len() - 1)
            }
            TOp::Exit { p } => {
                if self.procs.len() < 2 {
                    return Ok(());
                }
                let i = self.pick(p);
                self.k
                    .exit(self.procs[i])
                    .map_err(|e| format!("exit: {e:?}"))?;
                self.procs.remove(i);
                self.sh.remove(i);
                self.lazy.remove(i);
                Ok(())
            }
            TOp::Khugepaged { p, page } => {
                let i = self.pick(p);
                collapse_if_scan_succeeds(&mut self.k, self.procs[i], self.base + page * PAGE)
            }
        }
    }

    /// Take each page's writability from the kernel's maps (after a partial mprotect).
    fn resync_prot(&mut self, i: usize, a: u64, n: u64) {
        let maps = self.k.maps(self.procs[i]).expect("maps");
        for x in 0..n {
            let addr = a + x * PAGE;
            if let Some(Some((w, _))) = self.sh[i].get_mut(&addr) {
                if let Some(m) = maps.iter().find(|m| m.start <= addr && addr < m.end) {
                    *w = m.write;
                }
            }
        }
    }

    /// A lazily freed page of process `i` is looked at before it is used: it reads as the
    /// shadow says (still there) or as zero throughout (reclaim discarded it, MADV_FREE's
    /// contract; from then on it is an ordinary zero page). A write (`write`) ends its
    /// lazy state either way; a read does not.
    fn settle(&mut self, i: usize, a: u64, write: bool) -> Result<(), String> {
        if !self.lazy[i].contains(&a) {
            return Ok(());
        }
        if write {
            self.lazy[i].remove(&a);
        }
        let got: Vec<_> = OFFS
            .iter()
            .map(|off| self.k.load(self.procs[i], a + off))
            .collect();
        let Some(Some((_, bytes))) = self.sh[i].get_mut(&a) else {
            return Ok(());
        };
        if got.iter().zip(bytes.iter()).all(|(g, b)| *g == Ok(*b)) {
            return Ok(());
        }
        if got.iter().all(|g| *g == Ok(0)) {
            *bytes = [0; 4];
            self.lazy[i].remove(&a);
            return Ok(());
        }
        Err(format!(
            "proc {i} lazily freed page {a:#x}: {got:?}, shadow {bytes:?} or zero"
        ))
    }

    /// Every sampled byte of process `i` reads as the shadow says.
    fn check_contents(&mut self, i: usize) -> Result<(), String> {
        let lazy: Vec<u64> = self.lazy[i].iter().copied().collect();
        for a in lazy {
            self.settle(i, a, false)?;
        }
        for (&a, st) in &self.sh[i] {
            for (o, off) in OFFS.iter().enumerate() {
                let want = st.map(|(_, b)| b[o]).ok_or(Signal::Segv);
                let got = self.k.load(self.procs[i], a + off);
                if got != want {
                    return Err(format!(
                        "proc {i} byte {:#x}: {got:?}, shadow {want:?}",
                        a + off
                    ));
                }
            }
        }
        Ok(())
    }
}

fn run(profile: Profile, ops: &[TOp]) -> Result<(), TestCaseError> {
    let mut w = World::new(profile);
    for (n, op) in ops.iter().enumerate() {
        let fail = |m: String| TestCaseError::fail(format!("{profile:?}: op {n} {op:?}: {m}"));
        w.apply(*op).map_err(fail)?;
        w.k.check_invariants().map_err(|v| fail(v.to_string()))?;
    }
    for i in 0..w.procs.len() {
        w.check_contents(i)
            .map_err(|m| TestCaseError::fail(format!("{profile:?}: at the end: {m}")))?;
    }
    let tids: Vec<Tid> = w.procs.iter().rev().copied().collect();
    exit_all_leaves_nothing(&mut w.k, tids)
        .map_err(|m| TestCaseError::fail(format!("{profile:?}: {m}")))?;
    Ok(())
}

proptest! {
    #![proptest_config(common::proptest_config(512))]

    #[test]
    fn thp_memory_keeps_private_semantics(ops in prop::collection::vec(top_s(), 1..50)) {
        run(Profile::Linux519, &ops)?;
        run(Profile::Linux518, &ops)?;
    }
}
