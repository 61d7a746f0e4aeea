//! Property: private anonymous memory matches a shadow. Private anonymous memory only (no
//! DONTFORK/WIPEONFORK): a page-level shadow of every process's address space (which pages are
//! mapped, their protection and four sampled bytes) predicts every syscall result, every access
//! outcome (value or SIGSEGV) and the /proc/PID/maps layout. Checks COW isolation across forks
//! and TLB coherence (a second thread on CPU 1).

use std::collections::BTreeMap;

use mmlab::uapi::*;
use mmlab::{Errno, Kernel, Profile, Signal, Tid};
use proptest::prelude::*;

mod common;
use common::ops::{ops_s, At, Gen, Op, Place, ARENA_PAGES, MAX_PROCS};
use common::world::{apply, mmap_flags, mremap_flags, World};
use common::{exit_all_leaves_nothing, expect, OFFS, PAGE};

/// Private anonymous memory, forks, no memfd or hugetlb.
const G_PRIVATE: Gen = Gen {
    shared: false,
    fork: true,
    all_advice: false,
    zero_old: false,
    memfd: false,
    hugetlb: false,
    uffd: false,
};

/// An arena page, as the page-level shadow knows no huge page scale.
fn page(w: &World, at: At) -> Result<u64, String> {
    match at {
        At::Page(page) => Ok(w.addr(page)),
        At::Huge(_) => Err("this suite draws no hugetlb operations".into()),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct PState {
    prot: u64,
    bytes: [u8; 4],
}

impl PState {
    fn readable(&self) -> bool {
        self.prot & (PROT_READ | PROT_WRITE | PROT_EXEC) != 0
    }
    fn writable(&self) -> bool {
        self.prot & PROT_WRITE != 0
    }
}

type Shadow = BTreeMap<u64, PState>;

fn range_pages(start: u64, len: u64) -> impl Iterator<Item = u64> {
    let end = start + len.div_ceil(PAGE) * PAGE;
    (start..end).step_by(PAGE as usize)
}

/// The kernel's view (maps) as page -> prot.
fn kernel_layout(k: &Kernel, tid: Tid) -> BTreeMap<u64, u64> {
    let mut m = BTreeMap::new();
    for e in k.maps(tid).expect("maps") {
        let prot = (if e.read { PROT_READ } else { 0 })
            | (if e.write { PROT_WRITE } else { 0 })
            | (if e.exec { PROT_EXEC } else { 0 });
        assert!(!e.shared, "this suite maps no shared memory");
        for a in (e.start..e.end).step_by(PAGE as usize) {
            m.insert(a, prot);
        }
    }
    m
}

fn check_layout(w: &World, sh: &[Shadow]) -> Result<(), String> {
    for (i, th) in w.procs.iter().enumerate() {
        let km = kernel_layout(&w.k, th[0]);
        let sm: BTreeMap<u64, u64> = sh[i].iter().map(|(&a, s)| (a, s.prot)).collect();
        if km != sm {
            let diff: Vec<String> = km
                .keys()
                .chain(sm.keys())
                .filter(|a| km.get(a) != sm.get(a))
                .take(8)
                .map(|a| format!("{a:#x}: kernel {:?} shadow {:?}", km.get(a), sm.get(a)))
                .collect();
            return Err(format!("process {i}: layout differs: {diff:?}"));
        }
    }
    Ok(())
}

/// Apply one op to kernel and shadow, checking every result the shadow predicts.
fn apply_shadow(w: &mut World, sh: &mut Vec<Shadow>, op: &Op) -> Result<(), String> {
    match *op {
        Op::Mmap {
            p,
            t,
            page,
            pages,
            prot,
            fixed,
            populate,
            ..
        } => {
            let (pi, tid) = w.tid(p, t);
            let addr = if fixed == Place::No { 0 } else { w.addr(page) };
            let len = pages * PAGE;
            let r = w.k.mmap(
                tid,
                addr,
                len,
                prot,
                mmap_flags(false, fixed, populate),
                -1,
                0,
            );
            let s = &mut sh[pi];
            let occupied = range_pages(addr, len).any(|a| s.contains_key(&a));
            match fixed {
                Place::Fixed => expect("mmap FIXED", r, Ok(addr))?,
                Place::NoReplace if occupied => expect("mmap NOREPLACE", r, Err(Errno::EEXIST))?,
                Place::NoReplace => expect("mmap NOREPLACE", r, Ok(addr))?,
                Place::No | Place::Hint => {
                    let a = r.map_err(|e| format!("mmap failed: {e:?}"))?;
                    if range_pages(a, len).any(|x| s.contains_key(&x)) {
                        return Err(format!("mmap without FIXED at {a:#x} clobbered a mapping"));
                    }
                    if fixed == Place::Hint && !occupied {
                        expect("mmap free hint", a, addr)?;
                    }
                }
            }
            if let Ok(a) = r {
                for x in range_pages(a, len) {
                    s.insert(
                        x,
                        PState {
                            prot,
                            bytes: [0; 4],
                        },
                    );
                }
            }
        }
        Op::Munmap { p, t, at, len } => {
            let (pi, tid) = w.tid(p, t);
            let a = page(w, at)?;
            expect("munmap", w.k.munmap(tid, a, len), Ok(()))?;
            for x in range_pages(a, len) {
                sh[pi].remove(&x);
            }
        }
        Op::Mprotect {
            p,
            t,
            at,
            len,
            prot,
        } => {
            let (pi, tid) = w.tid(p, t);
            let a = page(w, at)?;
            let r = w.k.mprotect(tid, a, len, prot);
            let s = &mut sh[pi];
            let mut all = true;
            for x in range_pages(a, len) {
                match s.get_mut(&x) {
                    Some(st) => st.prot = prot,
                    None => {
                        all = false;
                        break;
                    }
                }
            }
            expect("mprotect", r, if all { Ok(()) } else { Err(Errno::ENOMEM) })?;
        }
        Op::Madvise {
            p,
            t,
            at,
            len,
            advice,
        } => {
            let (pi, tid) = w.tid(p, t);
            let a = page(w, at)?;
            let r = w.k.madvise(tid, a, len, advice);
            let s = &mut sh[pi];
            let mut all = true;
            for x in range_pages(a, len) {
                match s.get_mut(&x) {
                    // Without reclaim, MADV_FREE pages keep their contents in this model.
                    Some(st) if advice == MADV_DONTNEED => st.bytes = [0; 4],
                    Some(_) => {}
                    None => all = false,
                }
            }
            expect("madvise", r, if all { Ok(()) } else { Err(Errno::ENOMEM) })?;
        }
        Op::Mremap {
            p,
            t,
            at,
            old,
            new,
            mode,
            dst,
        } => {
            let (pi, tid) = w.tid(p, t);
            let a = page(w, at)?;
            let r =
                w.k.mremap(tid, a, old, new, mremap_flags(mode), page(w, dst)?);
            let s = &mut sh[pi];
            match r {
                Ok(to) => {
                    if !s.contains_key(&a) {
                        return Err(format!("mremap of unmapped {a:#x} succeeded"));
                    }
                    let snap: Vec<Option<PState>> =
                        range_pages(a, old).map(|x| s.get(&x).copied()).collect();
                    let prot = snap[0].expect("mapped").prot;
                    let dontunmap = mode >= 3;
                    for x in range_pages(a, old) {
                        if dontunmap {
                            if let Some(st) = s.get_mut(&x) {
                                st.bytes = [0; 4];
                            }
                        } else {
                            s.remove(&x);
                        }
                    }
                    if to != a && mode != 2 && mode != 4 {
                        // A kernel-chosen destination must have been free.
                        if range_pages(to, new).any(|x| s.contains_key(&x)) {
                            return Err(format!("mremap moved onto a mapping at {to:#x}"));
                        }
                    }
                    let keep = (old.min(new) / PAGE) as usize;
                    for (i, x) in range_pages(to, new).enumerate() {
                        let st = if i < keep {
                            snap[i]
                        } else {
                            Some(PState {
                                prot,
                                bytes: [0; 4],
                            })
                        };
                        match st {
                            Some(st) => s.insert(x, st),
                            None => s.remove(&x),
                        };
                    }
                }
                Err(_) => {
                    // Failed calls may have unmapped the destination (FIXED) or the shrunk tail
                    // before failing; take what the kernel unmapped, then the layout check
                    // verifies nothing else changed.
                    let km = kernel_layout(&w.k, tid);
                    s.retain(|x, _| km.contains_key(x));
                }
            }
        }
        Op::Fork { p, t } => {
            if w.procs.len() >= MAX_PROCS {
                return Ok(());
            }
            let (pi, tid) = w.tid(p, t);
            let c = w.k.fork(tid).map_err(|e| format!("fork: {e:?}"))?;
            w.procs.push(vec![c]);
            let copy = sh[pi].clone();
            sh.push(copy);
        }
        Op::Exit { p } => {
            if w.procs.len() < 2 {
                return Ok(());
            }
            let i = 1 + p % (w.procs.len() - 1);
            let th = w.procs.remove(i);
            sh.remove(i);
            expect("exit", w.k.exit(th[0]), Ok(()))?;
        }
        Op::Thread { .. } | Op::SetCpu { .. } => {
            apply(w, op);
        }
        Op::MemfdCreate { .. }
        | Op::Ftruncate { .. }
        | Op::Fallocate { .. }
        | Op::Close { .. }
        | Op::MmapFd { .. } => return Err("this suite draws no memfd operations".into()),
        Op::SetPool { .. }
        | Op::HMmap { .. }
        | Op::ThpEnabled { .. }
        | Op::Khugepaged { .. }
        | Op::Uffd { .. } => return Err("this suite draws no hugetlb operations".into()),
        Op::Store { p, t, at, off, val } => {
            let (pi, tid) = w.tid(p, t);
            let a = page(w, at)?;
            let r = w.k.store(tid, a + OFFS[off], val);
            match sh[pi].get_mut(&a) {
                Some(st) if st.writable() => {
                    expect(&format!("store {a:#x}"), r, Ok(()))?;
                    st.bytes[off] = val;
                }
                _ => expect(&format!("store {a:#x}"), r, Err(Signal::Segv))?,
            }
        }
        Op::Load { p, t, at, off } => {
            let (pi, tid) = w.tid(p, t);
            let a = page(w, at)?;
            let r = w.k.load(tid, a + OFFS[off]);
            let want = match sh[pi].get(&a) {
                Some(st) if st.readable() => Ok(st.bytes[off]),
                _ => Err(Signal::Segv),
            };
            expect(&format!("process {pi} load {:#x}", a + OFFS[off]), r, want)?;
        }
        Op::Memset {
            p,
            t,
            at,
            pages,
            val,
        } => {
            let (pi, tid) = w.tid(p, t);
            let a = page(w, at)?;
            let r = w.k.memset(tid, a, val, pages * PAGE);
            let mut want = Ok(());
            for x in range_pages(a, pages * PAGE) {
                match sh[pi].get_mut(&x) {
                    Some(st) if st.writable() => st.bytes = [val; 4],
                    _ => {
                        want = Err(Signal::Segv);
                        break;
                    }
                }
            }
            expect(&format!("memset {a:#x}"), r, want)?;
        }
    }
    Ok(())
}

/// Every sampled byte of every readable shadow page, read back through the first thread.
fn check_contents(w: &mut World, sh: &[Shadow]) -> Result<(), String> {
    for (i, s) in sh.iter().enumerate() {
        check_one(w, i, s)?;
    }
    Ok(())
}

fn check_one(w: &mut World, i: usize, s: &Shadow) -> Result<(), String> {
    let tid = w.procs[i][0];
    for (&a, st) in s {
        if !st.readable() {
            continue;
        }
        for (j, off) in OFFS.iter().enumerate() {
            expect(
                &format!("process {i} load {:#x}", a + off),
                w.k.load(tid, a + off),
                Ok(st.bytes[j]),
            )?;
        }
    }
    Ok(())
}

fn run_shadow(profile: Profile, ops: &[Op]) -> Result<(), TestCaseError> {
    let mut w = World::new(profile);
    let arena_prot = PROT_NONE;
    let mut sh: Vec<Shadow> = vec![range_pages(w.base, ARENA_PAGES * PAGE)
        .map(|a| {
            (
                a,
                PState {
                    prot: arena_prot,
                    bytes: [0; 4],
                },
            )
        })
        .collect()];
    for (i, op) in ops.iter().enumerate() {
        let fail = |m: String| TestCaseError::fail(format!("{profile:?}: op {i} {op:?}: {m}"));
        apply_shadow(&mut w, &mut sh, op).map_err(fail)?;
        if matches!(op, Op::Fork { .. }) && sh.len() == w.procs.len() {
            // Read every sampled byte the new child should have inherited.
            let c = w.procs.len() - 1;
            check_one(&mut w, c, &sh[c]).map_err(fail)?;
        }
        check_layout(&w, &sh).map_err(fail)?;
        w.k.check_invariants().map_err(|v| fail(v.to_string()))?;
    }
    check_contents(&mut w, &sh).map_err(|m| TestCaseError::fail(format!("{profile:?}: {m}")))?;
    w.k.check_invariants()
        .map_err(|v| TestCaseError::fail(format!("{profile:?}: {v}")))?;
    let tids: Vec<Tid> = w.procs.drain(..).rev().map(|th| th[0]).collect();
    exit_all_leaves_nothing(&mut w.k, tids).map_err(TestCaseError::fail)?;
    Ok(())
}

// Case counts keep the file to a few seconds in release mode on two cores.
proptest! {
    #![proptest_config(common::proptest_config(1024))]

    #[test]
    fn private_memory_matches_shadow(ops in ops_s(G_PRIVATE)) {
        run_shadow(Profile::Linux518, &ops)?;
        run_shadow(Profile::Linux519, &ops)?;
    }
}
